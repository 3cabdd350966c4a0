//! W3C trace context (`traceparent`): how an execution's trace crosses processes — gRPC
//! metadata to the agent and to gRPC targets, an HTTP header to HTTP targets and back with a
//! posted result, `TRACEPARENT` to shell jobs, and a field of the execution report.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// The header / metadata key (lower case, as gRPC metadata requires).
pub const TRACEPARENT: &str = "traceparent";

/// A span of another process (or of this one, later) to continue the trace from.
#[derive(Debug, Clone, PartialEq)]
pub struct Parent(SpanContext);

impl Parent {
    /// Reads a `traceparent` value; `None` when it is not a valid, non-zero one.
    pub fn parse(traceparent: &str) -> Option<Self> {
        // The propagator takes ids shorter than the spec's; the spec's shape is checked first.
        if !well_formed(traceparent.trim()) {
            return None;
        }
        let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.trim().to_owned())]);
        let cx = TraceContextPropagator::new().extract(&carrier);
        let span = cx.span().span_context().clone();
        span.is_valid().then_some(Self(span))
    }

    /// The `traceparent` value naming this span.
    pub fn traceparent(&self) -> String {
        let mut carrier: HashMap<String, String> = HashMap::new();
        let cx = Context::new().with_remote_span_context(self.0.clone());
        TraceContextPropagator::new().inject_context(&cx, &mut carrier);
        carrier.remove(TRACEPARENT).unwrap_or_default()
    }

    /// The trace's id, 32 lower-case hex digits (what trace UIs search by).
    pub fn trace_id(&self) -> String {
        self.0.trace_id().to_string()
    }

    pub(super) fn from_span(span: SpanContext) -> Option<Self> {
        span.is_valid().then_some(Self(span))
    }

    pub(super) fn context(&self) -> Context {
        Context::new().with_remote_span_context(self.0.clone())
    }
}

/// `version-traceid-spanid-flags`: 2, 32, 16 and 2 lower-case hex digits (W3C Trace Context).
fn well_formed(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() == 4
        && parts.iter().zip([2, 32, 16, 2]).all(|(part, len)| {
            part.len() == len && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_round_trips() {
        let parent = Parent::parse(GOOD).unwrap();
        assert_eq!(parent.traceparent(), GOOD);
        assert_eq!(parent.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn bad_traceparents_are_none() {
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(Parent::parse(bad), None, "{bad:?}");
        }
    }
}
