//! OpenTelemetry traces (`durable serve --otlp-endpoint`): a span per orchestration
//! execution, per turn, per activity attempt and per entity batch, exported over OTLP/HTTP.
//!
//! An execution outlives any one process: its turns run on whichever host holds its lease,
//! before and after restarts. So its span's ids are derived, never kept: the span id from
//! (instance id, execution id), the trace id from the caller's W3C `traceparent` that its
//! `ExecutionStarted` records (an HTTP start request's, or the parent orchestration's) or,
//! when it has none, from the same pair. Turns and activities name that span as their
//! parent when they run, on any host; the span itself is exported once, by the turn that
//! ends the execution, starting when its `ExecutionStarted` was recorded. A sub-orchestration
//! records its parent's span as its caller, so the whole tree is one trace.
//!
//! Turns, activities and entity batches are `tracing` spans with the target [`TARGET`],
//! turned into OpenTelemetry spans by `tracing-opentelemetry`; the log output never shows
//! them. With no endpoint nothing is installed and those spans are disabled at their call
//! sites.

use crate::types::{Failure, Timestamp};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer, SdkTracerProvider};
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

/// The `tracing` target of the spans exported as traces; the log output leaves it out.
pub const TARGET: &str = "durable::trace";

/// The HTTP header a W3C trace context travels in.
pub const TRACEPARENT: &str = "traceparent";

/// The tracer, once [`install`] has run: the execution spans are built with it directly.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// True when traces are exported.
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

/// Keeps the exporter running; dropping it sends what is still buffered.
#[derive(Debug)]
pub struct Guard(SdkTracerProvider);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = self.0.shutdown() {
            eprintln!("warning: traces not sent at exit: {e}");
        }
    }
}

/// Starts exporting traces to the OTLP/HTTP collector at `endpoint` (its base URL, as in
/// `OTEL_EXPORTER_OTLP_ENDPOINT`: spans go to `<endpoint>/v1/traces`). Returns the layer
/// that turns the engine's spans into OpenTelemetry spans, and the guard that flushes them.
/// The service is named by `OTEL_SERVICE_NAME`, `durable` by default.
pub fn install<S>(endpoint: &str) -> anyhow::Result<(Guard, impl Layer<S>)>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    use opentelemetry_otlp::WithExportConfig as _;
    let url = traces_url(endpoint)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .build()?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("durable");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_id_generator(DerivedIds)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("durable");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer.clone())
        // A turn learns its parent only once its history is loaded: the span is built when
        // it closes, not when it is first entered.
        .with_context_activation(false)
        .with_tracked_inactivity(false)
        .with_filter(
            Targets::new()
                .with_target(TARGET, tracing::Level::INFO)
                .with_target("durable_host", tracing::Level::INFO),
        );
    if TRACER.set(tracer).is_err() {
        anyhow::bail!("traces are already being exported");
    }
    Ok((Guard(provider), layer))
}

/// `<endpoint>/v1/traces`, unless `endpoint` already names that path.
fn traces_url(endpoint: &str) -> anyhow::Result<String> {
    let endpoint = endpoint.trim_end_matches('/');
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        anyhow::bail!(
            "the OTLP endpoint `{endpoint}` is not an http:// or https:// URL (traces are sent \
             over OTLP/HTTP, usually port 4318)"
        );
    }
    Ok(match endpoint.ends_with("/v1/traces") {
        true => endpoint.to_owned(),
        false => format!("{endpoint}/v1/traces"),
    })
}

/// `traceparent` when it is a valid W3C trace context (an invalid one is ignored, as the
/// specification asks: the execution starts a trace of its own).
pub fn valid_traceparent(traceparent: Option<String>) -> Option<String> {
    traceparent.filter(|t| parse_traceparent(t).is_some())
}

fn parse_traceparent(traceparent: &str) -> Option<SpanContext> {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.trim().to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    let span = cx.span().span_context().clone();
    span.is_valid().then_some(span)
}

fn format_traceparent(span: &SpanContext) -> String {
    let cx = Context::new().with_remote_span_context(span.clone());
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove(TRACEPARENT).unwrap_or_default()
}

/// The trace an execution belongs to, and its place in it.
#[derive(Debug, Clone, Copy)]
pub struct ExecutionTrace<'a> {
    /// The instance's id.
    pub instance_id: &'a str,
    /// The execution's id (each continue-as-new starts a new span).
    pub execution_id: &'a str,
    /// The caller's `traceparent`, from the execution's `ExecutionStarted`.
    pub caller: Option<&'a str>,
}

impl ExecutionTrace<'_> {
    /// The execution's own span: its derived ids, in the caller's trace when it has one.
    pub fn span_context(&self) -> SpanContext {
        let caller = self.caller.and_then(parse_traceparent);
        let trace_id = caller.as_ref().map_or_else(
            || TraceId::from_bytes(self.derived::<16>("trace")),
            SpanContext::trace_id,
        );
        let flags = caller
            .as_ref()
            .map_or(TraceFlags::SAMPLED, SpanContext::trace_flags);
        let span_id = match SpanId::from_bytes(self.derived::<8>("span")) {
            SpanId::INVALID => SpanId::from_bytes([0, 0, 0, 0, 0, 0, 0, 1]),
            id => id,
        };
        SpanContext::new(trace_id, span_id, flags, true, TraceState::default())
    }

    /// The `traceparent` a child (a sub-orchestration) records: this execution's span.
    pub fn child_traceparent(&self) -> String {
        format_traceparent(&self.span_context())
    }

    /// Makes `span` (a turn, an activity attempt) a child of the execution's span.
    pub fn adopt(&self, span: &tracing::Span) {
        if enabled() {
            let parent = Context::new().with_remote_span_context(self.span_context());
            let _ = span.set_parent(parent);
        }
    }

    /// Exports the execution's span, from `started_at` to `ended_at`: called once, by the
    /// turn that ended it. `failure` marks it failed.
    pub fn end(
        &self,
        name: &str,
        status: &str,
        failure: Option<&Failure>,
        started_at: Timestamp,
        ended_at: Timestamp,
    ) {
        let Some(tracer) = TRACER.get() else {
            return;
        };
        let own = self.span_context();
        let parent = match self.caller.and_then(parse_traceparent) {
            Some(caller) => Context::new().with_remote_span_context(caller),
            None => Context::new(),
        };
        let builder = tracer
            .span_builder(format!("orchestration {name}"))
            .with_kind(SpanKind::Internal)
            .with_start_time(time(started_at))
            .with_attributes([
                KeyValue::new("durable.instance_id", self.instance_id.to_owned()),
                KeyValue::new("durable.execution_id", self.execution_id.to_owned()),
                KeyValue::new("durable.orchestrator", name.to_owned()),
                KeyValue::new("durable.status", status.to_owned()),
            ]);
        NEXT_IDS.set(Some((own.trace_id(), own.span_id())));
        let mut span = tracer.build_with_context(builder, &parent);
        NEXT_IDS.set(None);
        if let Some(failure) = failure {
            span.set_attribute(KeyValue::new(
                "durable.failure_type",
                failure.error_type.clone(),
            ));
            span.set_status(Status::error(failure.message.clone()));
        }
        span.end_with_timestamp(time(ended_at));
    }

    fn derived<const N: usize>(&self, what: &str) -> [u8; N] {
        let digest = Sha256::new()
            .chain_update(what)
            .chain_update([0])
            .chain_update(self.instance_id)
            .chain_update([0])
            .chain_update(self.execution_id)
            .finalize();
        let mut bytes = [0; N];
        bytes.copy_from_slice(&digest[..N]);
        bytes
    }
}

fn time(at: Timestamp) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(at)
}

thread_local! {
    /// The ids the next span built on this thread takes (an execution's derived ids).
    static NEXT_IDS: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// Random ids, except for an execution's span, whose ids [`ExecutionTrace::end`] derives
/// and hands over through [`NEXT_IDS`] for the one span it builds.
#[derive(Debug)]
struct DerivedIds;

impl IdGenerator for DerivedIds {
    fn new_trace_id(&self) -> TraceId {
        match NEXT_IDS.get() {
            Some((trace_id, _)) => trace_id,
            None => RandomIdGenerator::default().new_trace_id(),
        }
    }

    fn new_span_id(&self) -> SpanId {
        match NEXT_IDS.get() {
            Some((_, span_id)) => span_id,
            None => RandomIdGenerator::default().new_span_id(),
        }
    }
}

/// Records how the work a span covers ended: `durable.outcome`, and an error status when it
/// `failed`.
pub fn record_outcome(span: &tracing::Span, outcome: &str, failed: bool) {
    span.record("durable.outcome", outcome);
    if failed {
        span.record("otel.status_code", "error");
    }
}

/// The `traceparent` header for a request made inside `span` (`call_http`), when traces
/// are exported.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    if !enabled() {
        return None;
    }
    let cx = span.context();
    let span = cx.span().span_context().clone();
    span.is_valid().then(|| format_traceparent(&span))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn an_execution_span_is_the_same_on_every_host() {
        let a = ExecutionTrace {
            instance_id: "i",
            execution_id: "e",
            caller: None,
        };
        assert_eq!(a.span_context(), a.span_context());
        let other = ExecutionTrace {
            execution_id: "e2",
            ..a
        };
        assert_ne!(a.span_context().span_id(), other.span_context().span_id());
        assert_ne!(a.span_context().trace_id(), other.span_context().trace_id());
        assert!(a.span_context().is_sampled());
    }

    #[test]
    fn a_caller_gives_its_trace_and_sampling() {
        let traced = ExecutionTrace {
            instance_id: "i",
            execution_id: "e",
            caller: Some(CALLER),
        };
        let span = traced.span_context();
        assert_eq!(
            span.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(span.is_sampled());
        let child = traced.child_traceparent();
        assert_eq!(
            child,
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", span.span_id())
        );
        let unsampled = CALLER.replace("-01", "-00");
        let quiet = ExecutionTrace {
            caller: Some(&unsampled),
            ..traced
        };
        assert!(!quiet.span_context().is_sampled());
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        assert_eq!(
            valid_traceparent(Some(CALLER.into())).as_deref(),
            Some(CALLER)
        );
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(valid_traceparent(Some(bad.into())), None, "{bad}");
        }
        assert!(traces_url("localhost:4318").is_err());
        assert_eq!(
            traces_url("http://c:4318/").unwrap(),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/v1/traces").unwrap(),
            "http://c:4318/v1/traces"
        );
    }
}
