//! The verification span: made by the layer for each request, filled in by the verifier.

use std::future::Future;
use std::time::Instant;

use tracing::field::{Empty, display};
use tracing::{Instrument as _, Level, Span};

use super::{CacheName, CacheUse, Outcome, TARGET, VERIFY_SPAN, VerifierKind};
use crate::error::AuthErrorKind;

/// One request's verification: its span and, with the `metrics` feature, when it began.
///
/// Without a tracing subscriber that wants the span and without the `metrics` feature, making
/// and finishing it reads no clock, allocates nothing and records nothing.
pub(crate) struct VerifySpan {
    span: Span,
    #[cfg(feature = "metrics")]
    started: Instant,
}

impl VerifySpan {
    /// Starts the verification of a request.
    #[inline]
    pub(crate) fn start() -> Self {
        Self {
            span: tracing::span!(
                target: TARGET,
                Level::DEBUG,
                VERIFY_SPAN,
                verifier = Empty,
                issuer = Empty,
                cache = Empty,
                outcome = Empty,
                provider_wait_ms = Empty,
            ),
            #[cfg(feature = "metrics")]
            started: Instant::now(),
        }
    }

    /// The span, to enter around the verifier's call and the refusal's log.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Awaits a verification that has to wait, inside the span, and records how long it waited.
    pub(crate) async fn wait<F: Future>(&self, pending: F) -> F::Output {
        let waited = Instant::now();
        let output = pending.instrument(self.span.clone()).await;
        if !self.span.is_disabled() {
            let ms = waited.elapsed().as_secs_f64() * 1000.0;
            self.span
                .record("provider_wait_ms", (ms * 1000.0).round() / 1000.0);
        }
        output
    }

    /// Records what the layer decided.
    #[inline]
    pub(crate) fn finish(&self, outcome: Outcome) {
        if !self.span.is_disabled() {
            match outcome {
                Outcome::Refused(kind) if kind != AuthErrorKind::Upstream => {
                    self.span.record(
                        "outcome",
                        display(format_args!("refused:{}", kind.as_str())),
                    );
                }
                outcome => {
                    self.span.record("outcome", outcome.as_str());
                }
            }
        }
        #[cfg(feature = "metrics")]
        super::metrics::verification(outcome, self.started.elapsed());
    }
}

/// What a verifier tells the verification span it runs in: its kind, its configured issuer
/// (`None` when it has none to tell) and whether its cache answered. Nothing when the span is not
/// wanted.
#[inline]
pub(crate) fn verifier_report(kind: VerifierKind, issuer: Option<&str>, cache: CacheUse) {
    if !tracing::enabled!(target: TARGET, Level::DEBUG) {
        return;
    }
    let span = Span::current();
    // Only our span: a verifier called outside the layer runs in whatever span its caller has.
    if span
        .metadata()
        .is_some_and(|meta| meta.name() == VERIFY_SPAN)
    {
        span.record("verifier", kind.as_str());
        if let Some(issuer) = issuer {
            span.record("issuer", issuer);
        }
        span.record("cache", cache.as_str());
    }
}

/// Counts a lookup in one of the verifiers' caches (feature `metrics`; nothing without it).
#[inline]
pub(crate) fn cache_lookup(cache: CacheName, hit: bool) {
    #[cfg(feature = "metrics")]
    super::metrics::cache_lookup(cache, hit);
    #[cfg(not(feature = "metrics"))]
    let _ = (cache, hit);
}

/// A shared cache could not be used: logged at warn (at most once per interval, without the
/// token or key) and counted as the lookup result `unavailable` (feature `metrics`).
#[cfg(feature = "introspection")]
pub(crate) fn shared_cache_unavailable(error: &crate::verifier::SharedCacheError) {
    const WARNING: &str = "the shared introspection cache is unavailable";
    if let Some(suppressed) = super::PROVIDER_WARNINGS.admit(WARNING, std::time::Instant::now()) {
        tracing::warn!(
            reason = %error,
            cause = ?std::error::Error::source(error).map(ToString::to_string),
            suppressed,
            "{WARNING}; asking the identity provider"
        );
    }
    #[cfg(feature = "metrics")]
    super::metrics::shared_cache_unavailable();
}
