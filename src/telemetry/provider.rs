//! The span (and metrics) of one call to the identity provider.

use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Instant;

use tracing::field::Empty;
use tracing::{Level, Span};

use super::{CallResult, PROVIDER_SPAN, ProviderEndpoint, TARGET};

/// One call to the provider: its span, when it began, and the HTTP status once one came.
pub(crate) struct ProviderCall {
    endpoint: ProviderEndpoint,
    span: Span,
    started: Instant,
    /// The last HTTP status answered (0: none yet).
    status: AtomicU16,
}

impl ProviderCall {
    /// Starts a call to `endpoint`.
    pub(crate) fn start(endpoint: ProviderEndpoint) -> Self {
        Self {
            endpoint,
            span: tracing::span!(
                target: TARGET,
                Level::INFO,
                PROVIDER_SPAN,
                endpoint = endpoint.as_str(),
                status = Empty,
                result = Empty,
                duration_ms = Empty,
            ),
            started: Instant::now(),
            status: AtomicU16::new(0),
        }
    }

    /// The span, to instrument the call with.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Notes the HTTP status of an answer (the last one counts, after redirects).
    pub(crate) fn answered(&self, status: http::StatusCode) {
        self.status.store(status.as_u16(), Ordering::Relaxed);
        self.span.record("status", status.as_u16());
    }

    /// The HTTP status of the last answer, if one came.
    pub(crate) fn status(&self) -> Option<http::StatusCode> {
        http::StatusCode::from_u16(self.status.load(Ordering::Relaxed)).ok()
    }

    /// Records how the call ended.
    pub(crate) fn finish(&self, result: CallResult) {
        let elapsed = self.started.elapsed();
        if !self.span.is_disabled() {
            let ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
            self.span.record("result", result.as_str());
            self.span.record("duration_ms", ms);
        }
        #[cfg(feature = "metrics")]
        super::metrics::provider_call(self.endpoint, result, elapsed);
        #[cfg(not(feature = "metrics"))]
        let _ = self.endpoint;
    }
}
