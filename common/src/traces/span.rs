//! One span of an execution's trace, or nothing when tracing is off.

use opentelemetry::trace::{Span as _, Status, Tracer as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{SdkTracer, Span};

use super::Parent;

pub use opentelemetry::trace::SpanKind;

/// A started span; ends when dropped (or at [`ExecSpan::end`]). Empty when tracing is off.
#[derive(Debug, Default)]
pub struct ExecSpan(Option<Span>);

impl ExecSpan {
    pub fn none() -> Self {
        Self(None)
    }

    pub(super) fn start(
        tracer: &SdkTracer,
        name: &'static str,
        kind: SpanKind,
        parent: Option<&Parent>,
    ) -> Self {
        let cx = parent.map(Parent::context).unwrap_or_default();
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .start_with_context(tracer, &cx);
        Self(Some(span))
    }

    /// Adds an attribute (nothing when off).
    pub fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        if let Some(span) = &mut self.0 {
            span.set_attribute(KeyValue::new(key, value));
        }
    }

    /// Marks the span failed with `why`.
    pub fn fail(&mut self, why: impl Into<String>) {
        if let Some(span) = &mut self.0 {
            span.set_status(Status::error(why.into()));
        }
    }

    /// Marks the span succeeded.
    pub fn ok(&mut self) {
        if let Some(span) = &mut self.0 {
            span.set_status(Status::Ok);
        }
    }

    /// This span as the parent of others; `None` when off.
    pub fn parent(&self) -> Option<Parent> {
        let span = self.0.as_ref()?;
        Parent::from_span(span.span_context().clone())
    }

    /// This span's `traceparent`, to hand to the next process; `None` when off.
    pub fn traceparent(&self) -> Option<String> {
        self.parent().map(|p| p.traceparent())
    }

    pub fn end(self) {
        drop(self);
    }
}
