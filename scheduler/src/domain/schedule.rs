//! Job schedules: parsed and evaluated in `crony_common::schedule`, which the agent shares so
//! that previews and real fires agree (daylight-saving rules included).

pub use crony_common::schedule::*;
