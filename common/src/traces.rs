//! OpenTelemetry traces of executions (issue 19): off unless `CRONY_OTEL_ENDPOINT` is set, then
//! exported over OTLP/gRPC by a batch processor on its own thread.
//!
//! Spans are made with the OpenTelemetry API directly, not through `tracing` spans: an
//! execution's spans must carry exact parent links across processes (scheduler → agent →
//! the user's service → back), their start and end are known instants, and when tracing is off
//! nothing at all may be done per fire. A [`Tracer`] that is off makes [`ExecSpan`]s that are
//! `None` inside, so the hot path pays one branch.
//!
//! An unreachable or frozen collector never slows firing: ending a span only puts it in the
//! processor's bounded queue (2,048 spans, `OTEL_BSP_MAX_QUEUE_SIZE`), which drops spans when
//! full; exports run on the processor's thread with a timeout. The standard `OTEL_*` variables
//! (sampler, batch delay, exporter headers, resource attributes) apply.

mod parent;
mod span;

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

pub use parent::{Parent, TRACEPARENT};
pub use span::{ExecSpan, SpanKind};

/// How long one export may take before the processor gives up on it.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    #[error("CRONY_OTEL_ENDPOINT {endpoint:?}: {why}")]
    Endpoint { endpoint: String, why: String },
    #[error("cannot build the OTLP exporter for {endpoint}")]
    Exporter {
        endpoint: String,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
}

/// `CRONY_OTEL_ENDPOINT`: where OTLP/gRPC spans go (a collector, e.g. `http://127.0.0.1:4317`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtelEndpoint(String);

impl OtelEndpoint {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let rest = raw
            .strip_prefix("http://")
            .or_else(|| raw.strip_prefix("https://"))
            .ok_or_else(|| {
                format!("{raw:?} must start with http:// or https:// (OTLP over gRPC)")
            })?;
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() || authority.contains(char::is_whitespace) {
            return Err(format!("{raw:?} has no host"));
        }
        Ok(Self(raw.trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Makes the spans of one binary; cheap to clone. [`Tracer::off`] makes none.
#[derive(Debug, Clone, Default)]
pub struct Tracer(Option<SdkTracer>);

impl Tracer {
    pub fn off() -> Self {
        Self(None)
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Starts a span now, a child of `parent` (a new trace without one).
    pub fn start(&self, name: &'static str, kind: SpanKind, parent: Option<&Parent>) -> ExecSpan {
        match &self.0 {
            Some(tracer) => ExecSpan::start(tracer, name, kind, parent),
            None => ExecSpan::none(),
        }
    }
}

/// The exporter of a running binary: flushes what is queued when shut down.
#[derive(Debug, Default)]
pub struct Traces {
    provider: Option<SdkTracerProvider>,
    tracer: Tracer,
}

impl Traces {
    /// Off: no exporter, no spans.
    pub fn off() -> Self {
        Self::default()
    }

    /// Exports to `endpoint` as `service` (`crony-scheduler`, `crony-agent`), this process
    /// being `instance`. Must run inside the tokio runtime (the gRPC channel lives there).
    pub fn start(
        endpoint: &OtelEndpoint,
        service: &'static str,
        instance: &str,
    ) -> Result<Self, TracesError> {
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.as_str())
            .with_timeout(EXPORT_TIMEOUT);
        if endpoint.as_str().starts_with("https://") {
            let tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
            builder = builder.with_tls_config(tls);
        }
        let exporter = builder.build().map_err(|source| TracesError::Exporter {
            endpoint: endpoint.as_str().to_owned(),
            source,
        })?;
        let resource = Resource::builder()
            .with_service_name(service)
            .with_attributes([
                KeyValue::new("service.instance.id", instance.to_owned()),
                KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            ])
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = Tracer(Some(provider.tracer(service)));
        tracing::info!(
            endpoint = endpoint.as_str(),
            "exporting execution traces over OTLP"
        );
        Ok(Self {
            provider: Some(provider),
            tracer,
        })
    }

    /// `Some(endpoint)`: [`Traces::start`]; `None`: [`Traces::off`].
    pub fn from_setting(
        endpoint: Option<&OtelEndpoint>,
        service: &'static str,
        instance: &str,
    ) -> Result<Self, TracesError> {
        match endpoint {
            Some(endpoint) => Self::start(endpoint, service, instance),
            None => Ok(Self::off()),
        }
    }

    pub fn tracer(&self) -> Tracer {
        self.tracer.clone()
    }

    /// Exports what is queued, waiting at most `within` (a dead collector must not hold up a
    /// shutdown). Blocking, so it runs off the runtime's threads.
    pub async fn shutdown(self, within: Duration) {
        let Some(provider) = self.provider else {
            return;
        };
        let done = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(within));
        match done.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "traces not all exported at shutdown"),
            Err(e) => tracing::warn!(error = %e, "the trace exporter's shutdown failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_urls_of_a_collector() {
        assert_eq!(
            OtelEndpoint::parse("http://127.0.0.1:4317/")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:4317"
        );
        assert!(OtelEndpoint::parse("https://otel.example:4317").is_ok());
        assert!(
            OtelEndpoint::parse("127.0.0.1:4317")
                .unwrap_err()
                .contains("http://")
        );
        assert!(
            OtelEndpoint::parse("http://")
                .unwrap_err()
                .contains("no host")
        );
    }

    #[test]
    fn a_tracer_that_is_off_makes_empty_spans() {
        let tracer = Tracer::off();
        let span = tracer.start("crony.fire", SpanKind::Internal, None);
        assert!(!tracer.is_on());
        assert_eq!(span.traceparent(), None);
    }
}
