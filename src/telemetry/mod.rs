//! What the crate tells an operator: one span per verification, one span per call to the
//! identity provider, metrics (feature `metrics`), and rate-limited warnings. The names below are
//! the whole list; none is written anywhere else.
//!
//! Nothing here carries a token, a secret, a subject or a raw `kid`: every field and label takes
//! its values from a fixed set, or (the issuer) from the configuration.
//!
//! # Spans
//!
//! | span | level | fields |
//! |---|---|---|
//! | [`VERIFY_SPAN`] `tower_authz.verify` | DEBUG | `verifier` (`jwks`, `jwt`, `introspection`, `multi_issuer`; empty for your own verifier), `issuer` (the verifier's configured issuer, never one read from an unverified token), `cache` (`hit`, `miss`, `none`), `outcome` (`ok`, `anonymous`, `refused:<kind>`, `upstream`), `provider_wait_ms` (only when the verification had to wait: a key fetch, an introspection call) |
//! | [`PROVIDER_SPAN`] `tower_authz.provider` | INFO | `endpoint` (`discovery`, `jwks`, `introspection`, `token`), `status` (the HTTP status, if one came), `result` (`ok`, `absent`, `http_error`, `timeout`, `unreachable`, `invalid`), `duration_ms` |
//!
//! The [`AuthLayer`](crate::AuthLayer) makes the verification span around each request's
//! verification and records its outcome; the verifier records what only it knows. A provider
//! span is a child of the verification that started the call (a key fetch started by one request
//! serves the others waiting with it). `<kind>` is [`AuthErrorKind::as_str`](crate::AuthErrorKind::as_str).
//!
//! ```
//! // A subscriber that prints each verification when it closes, with its fields.
//! tracing_subscriber::fmt()
//!     .with_env_filter("info,tower_authz=debug")
//!     .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
//!     .try_init()
//!     .ok();
//! ```
//!
//! # Metrics (feature `metrics`)
//!
//! Sent through the [`metrics`](https://docs.rs/metrics) facade: install any recorder (e.g.
//! `metrics-exporter-prometheus`) to collect them, before or after the layer is built. The
//! feature is the switch: with it, each request reads the clock twice and hands its metrics to
//! the facade's recorder in force (the no-op one until you install yours); without it, nothing
//! of this compiles in.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | [`REQUESTS`] `tower_authz_requests_total` | counter | `outcome` (`ok`, `anonymous`, `refused`, `upstream`), `kind` (with `refused` only: the refusal's [`AuthErrorKind::as_str`](crate::AuthErrorKind::as_str)) |
//! | [`VERIFICATION_DURATION`] `tower_authz_verification_duration_seconds` | histogram | `outcome` |
//! | [`PROVIDER_REQUESTS`] `tower_authz_provider_requests_total` | counter | `endpoint` (`discovery`, `jwks`, `introspection`, `token`), `result` (`ok`, `absent`, `http_error`, `timeout`, `unreachable`, `invalid`) |
//! | [`PROVIDER_DURATION`] `tower_authz_provider_request_duration_seconds` | histogram | `endpoint` |
//! | [`CACHE_LOOKUPS`] `tower_authz_cache_lookups_total` | counter | `cache` (`verified`: the JWT verifiers' verified-token cache; `introspection`: active answers; `introspection_refusals`: the negative cache; `introspection_shared`: the shared cache behind them, `SharedCache`), `result` (`hit`, `miss`; `unavailable` for a shared cache that failed or timed out) |
//!
//! `tower_authz_requests_total` counts the [`AuthLayer`](crate::AuthLayer)'s decisions (one per
//! request); refusals made behind it by policies are not in it.
//!
//! # Warnings
//!
//! A refusal that is the provider's fault (503) is logged at WARN, at most once per
//! [`WARNING_INTERVAL`] for each distinct reason; the next one says how many were suppressed
//! meanwhile (`suppressed = N`).

use std::time::Duration;

use crate::error::AuthErrorKind;

#[cfg(feature = "metrics")]
mod metrics;
mod provider;
mod verify;
mod warn_limit;

pub(crate) use provider::ProviderCall;
#[cfg(feature = "introspection")]
pub(crate) use verify::shared_cache_unavailable;
pub(crate) use verify::{VerifySpan, cache_lookup, verifier_report};
pub(crate) use warn_limit::PROVIDER_WARNINGS;

/// The span around one request's verification.
pub const VERIFY_SPAN: &str = "tower_authz.verify";
/// The span around one call to the identity provider.
pub const PROVIDER_SPAN: &str = "tower_authz.provider";
/// The target of both spans (so that `RUST_LOG=tower_authz=debug` shows them).
const TARGET: &str = "tower_authz";

/// Requests decided by the layer, by `outcome` and `kind`.
pub const REQUESTS: &str = "tower_authz_requests_total";
/// How long the layer's verification of a request took, by `outcome`.
pub const VERIFICATION_DURATION: &str = "tower_authz_verification_duration_seconds";
/// Calls to the identity provider, by `endpoint` and `result`.
pub const PROVIDER_REQUESTS: &str = "tower_authz_provider_requests_total";
/// How long a call to the identity provider took, by `endpoint`.
pub const PROVIDER_DURATION: &str = "tower_authz_provider_request_duration_seconds";
/// Lookups in the verifiers' caches, by `cache` and `result`.
pub const CACHE_LOOKUPS: &str = "tower_authz_cache_lookups_total";

/// The least time between two identical provider-fault warnings.
pub const WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// What kind of verifier answered (the `verifier` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VerifierKind {
    Jwks,
    Jwt,
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    Introspection,
    MultiIssuer,
}

impl VerifierKind {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Jwks => "jwks",
            Self::Jwt => "jwt",
            Self::Introspection => "introspection",
            Self::MultiIssuer => "multi_issuer",
        }
    }
}

/// Whether a verifier's cache answered (the `cache` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheUse {
    Hit,
    Miss,
    /// No cache was asked (none configured, or the token was refused before).
    None,
}

impl CacheUse {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::None => "none",
        }
    }
}

/// Which cache was looked in (the `cache` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheName {
    Verified,
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    Introspection,
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    IntrospectionRefusals,
    /// The shared cache behind an introspection verifier's own (`SharedCache`).
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    IntrospectionShared,
}

impl CacheName {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    const fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Introspection => "introspection",
            Self::IntrospectionRefusals => "introspection_refusals",
            Self::IntrospectionShared => "introspection_shared",
        }
    }
}

/// Which endpoint of the provider a call went to (the `endpoint` field and label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProviderEndpoint {
    Discovery,
    Jwks,
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    Introspection,
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    Token,
}

impl ProviderEndpoint {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Jwks => "jwks",
            Self::Introspection => "introspection",
            Self::Token => "token",
        }
    }
}

/// How a call to the provider ended (the `result` field and label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallResult {
    /// A 2xx answer that was read.
    Ok,
    /// An answer with another status (4xx, 5xx).
    HttpError,
    /// A metadata document that the provider does not publish at this location (a 4xx, or no
    /// JSON object): discovery goes on to the next location (RFC 8414, then OpenID Connect).
    Absent,
    /// No answer in time.
    Timeout,
    /// No connection, or it broke before an answer.
    Unreachable,
    /// An answer that was refused: malformed, too large, or redirected elsewhere.
    Invalid,
}

impl CallResult {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::HttpError => "http_error",
            Self::Absent => "absent",
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::Invalid => "invalid",
        }
    }
}

/// What the layer decided about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Verified: the request goes on with its claims.
    Ok,
    /// No token, and the layer is optional: the request goes on without claims.
    Anonymous,
    /// Refused (an [`Upstream`](AuthErrorKind::Upstream) refusal is the outcome `upstream`).
    Refused(AuthErrorKind),
}

impl Outcome {
    /// The `outcome` label.
    const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Anonymous => "anonymous",
            Self::Refused(AuthErrorKind::Upstream) => "upstream",
            Self::Refused(_) => "refused",
        }
    }
}
