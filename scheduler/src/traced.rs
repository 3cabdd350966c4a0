//! The scheduler's spans of an execution's trace (issue 19; the agent's side is
//! `crony-agent`'s `runner/traced.rs`): `crony.push` around a trigger sent to an agent (its
//! `traceparent` travels in the request's gRPC metadata, so the agent's `crony.fire` is its
//! child), `crony.record` when an agent's final report is stored, and `crony.result` when a
//! service posts an async result. Also the dashboard's link to a trace UI.

use crony_common::traces::{ExecSpan, Parent, SpanKind, TRACEPARENT, Tracer};
use crony_proto::v1::{TriggerKind, TriggerRequest};

use crate::domain::execution::ExecutionRecord;

/// `crony.push`: the trigger as a gRPC request carrying the span's `traceparent`.
pub fn push(
    tracer: &Tracer,
    message: TriggerRequest,
    agent_id: &str,
) -> (tonic::Request<TriggerRequest>, ExecSpan) {
    if !tracer.is_on() {
        return (tonic::Request::new(message), ExecSpan::none());
    }
    let mut span = tracer.start("crony.push", SpanKind::Client, None);
    span.set("crony.job_id", message.job_id.clone());
    span.set("crony.agent_id", agent_id.to_owned());
    let trigger = match TriggerKind::try_from(message.kind) {
        Ok(TriggerKind::Retry) => "retry",
        _ => "manual",
    };
    span.set("crony.trigger", trigger);
    if !message.retry_of.is_empty() {
        span.set("crony.retry_of", message.retry_of.clone());
    }
    let mut request = tonic::Request::new(message);
    if let Some(value) = span.traceparent().and_then(|v| v.parse().ok()) {
        request.metadata_mut().insert(TRACEPARENT, value);
    }
    (request, span)
}

/// `crony.record` spans of the settled executions in a batch about to be written, children
/// of their agents' `crony.fire`; they end when dropped (after the write).
pub fn records(tracer: &Tracer, records: &[ExecutionRecord]) -> Vec<ExecSpan> {
    if !tracer.is_on() {
        return Vec::new();
    }
    records
        .iter()
        .filter(|r| r.status.is_final())
        .filter_map(|r| {
            let parent = Parent::parse(r.traceparent.as_deref()?)?;
            let mut span = tracer.start("crony.record", SpanKind::Server, Some(&parent));
            span.set("crony.execution_id", r.id.to_string());
            span.set("crony.job_id", r.job_id.to_string());
            span.set("crony.status", r.status.as_str());
            Some(span)
        })
        .collect()
}

/// `crony.result`: a posted async result, a child of the `traceparent` the service sent
/// (the SDK sends the attempt's), else of the execution's `crony.fire`.
pub fn result(
    tracer: &Tracer,
    sent: Option<&str>,
    stored: Option<&str>,
    execution_id: &str,
) -> ExecSpan {
    if !tracer.is_on() {
        return ExecSpan::none();
    }
    let parent = sent
        .and_then(Parent::parse)
        .or_else(|| stored.and_then(Parent::parse));
    let mut span = tracer.start("crony.result", SpanKind::Server, parent.as_ref());
    span.set("crony.execution_id", execution_id.to_owned());
    span
}

/// `CRONY_OTEL_TRACE_URL`: a trace UI's page of one trace, `{trace_id}` standing for the id
/// (e.g. `http://jaeger:16686/trace/{trace_id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceUrl(String);

impl TraceUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if !(raw.starts_with("http://") || raw.starts_with("https://")) {
            return Err(format!("{raw:?} must start with http:// or https://"));
        }
        if !raw.contains("{trace_id}") {
            return Err(format!("{raw:?} must contain {{trace_id}}"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn link(&self, trace_id: &str) -> String {
        self.0.replace("{trace_id}", trace_id)
    }
}

/// The trace id of a stored `traceparent`.
pub fn trace_id(traceparent: Option<&str>) -> Option<String> {
    traceparent.and_then(Parent::parse).map(|p| p.trace_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_urls_name_the_trace() {
        let url = TraceUrl::parse("http://127.0.0.1:16686/trace/{trace_id}").unwrap();
        assert_eq!(url.link("abc"), "http://127.0.0.1:16686/trace/abc");
        assert!(
            TraceUrl::parse("http://x/trace")
                .unwrap_err()
                .contains("{trace_id}")
        );
        assert!(
            TraceUrl::parse("jaeger/{trace_id}")
                .unwrap_err()
                .contains("http://")
        );
    }

    #[test]
    fn nothing_is_traced_when_off() {
        let (request, span) = push(&Tracer::off(), TriggerRequest::default(), "a");
        assert!(request.metadata().get(TRACEPARENT).is_none());
        assert_eq!(span.traceparent(), None);
        assert!(
            result(&Tracer::off(), None, None, "e")
                .traceparent()
                .is_none()
        );
    }

    #[test]
    fn a_stored_traceparent_gives_its_trace_id() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id(Some(tp)).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id(Some("junk")), None);
    }
}
