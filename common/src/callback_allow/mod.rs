//! `CRONY_CALLBACK_ALLOW`: the hosts Crony may call on someone's behalf (job targets over HTTP
//! and gRPC, alert webhooks), so that whoever may create jobs or alerts cannot make Crony call
//! the cloud metadata service, the database or anything else inside the network (server-side
//! request forgery).
//!
//! Entries are exact host names (`billing.internal`), name suffixes (`*.svc.cluster.local`,
//! which does not match `svc.cluster.local` itself), IP addresses (`10.0.0.5`, `::1`) and CIDR
//! networks (`10.0.0.0/8`, `fd00::/8`). A host is allowed when its name matches a name entry,
//! or when it is an address, or a name whose every resolved address is, inside a network entry.
//!
//! Two moments check it. Validation (the API) decides names by name — the answer of DNS may
//! differ later and elsewhere — and leaves "not matched by name, but the list has networks" to
//! the caller. Connecting ([`resolve`], [`AllowResolver`], [`AllowConnector`]) checks the very
//! addresses the connection then uses, so a name that resolves somewhere allowed when checked
//! and to a forbidden network when connecting (DNS rebinding) is refused.

mod connector;
mod list;
mod refusal;
mod resolve;

pub use connector::AllowConnector;
pub use list::{AllowError, CALLBACK_ALLOW, CallbackAllow, Verdict};
pub use refusal::{Refusal, ResolveError};
pub use resolve::{
    AllowResolver, guard_client, redirect_policy, refuse_url, refuse_url_str, resolve,
};
