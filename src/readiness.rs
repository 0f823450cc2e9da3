//! Readiness: whether the verifiers can verify tokens now, for a `/readyz` probe.
//!
//! The verifiers move into the [`AuthLayer`](crate::AuthLayer), so take a [`ReadinessCheck`]
//! from each before: [`JwksVerifier::readiness`](crate::JwksVerifier::readiness),
//! `IntrospectionVerifier::readiness` (feature `introspection`),
//! [`MultiIssuer::readiness`](crate::MultiIssuer::readiness), combined with
//! [`ReadinessCheck::and`]. The check is a cheap clone (an `Arc` of the verifier's state) and a
//! tower service answering `200` when every verifier is ready and `503` otherwise, with a short
//! JSON body (no token, no secret, no URL but the issuer) and `Cache-Control: no-store`; route it
//! outside the `AuthLayer`:
//!
//! ```
//! use axum::{Router, routing::{get, get_service}};
//! use tower_authz::{AuthLayer, JwksVerifier};
//!
//! let verifier = JwksVerifier::discover("https://id.example.com", "my-api").unwrap();
//! let readiness = verifier.readiness();
//! let app: Router = Router::new()
//!     .route("/orders", get(|| async { "orders" }))
//!     .layer(AuthLayer::new(verifier))
//!     // Added after the layer: not behind it, no token needed.
//!     .route("/readyz", get_service(readiness));
//! ```
//!
//! **Startup: fail fast or lazy.** A service can load the keys before it listens, and not start
//! at all if the provider cannot be reached:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = tower_authz::JwksVerifier::discover("https://id.example.com", "my-api")?;
//! verifier.fetch_keys().await?; // fail fast: no keys, no service
//! # Ok(()) }
//! ```
//!
//! or start at once (lazy, the default): requests answer `503` and the readiness check says
//! `503` until the keys are held, so an orchestrator sends no traffic meanwhile, and the service
//! comes up by itself when the provider does. Either way, the check answers `503` again once the
//! keys are past their stale limit ([`JwksVerifier::with_max_stale`](crate::JwksVerifier::with_max_stale)),
//! and `200` as soon as a fetch succeeds.
//!
//! **No fetch storm.** A check never fetches anything itself: when the keys are missing or
//! stale it starts the verifier's own fetch, exactly as a request would (one fetch in flight,
//! at most one per retry or refetch interval), and answers from what is held now without
//! waiting. A probe every second costs the provider nothing more than the verifier's
//! configured intervals allow.

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;
use tower_service::Service;

use crate::error::AuthError;

/// The state of one verifier that depends on a provider, as a readiness probe sees it.
///
/// Times are wall-clock ([`SystemTime`]) or durations, so they can be printed. Nothing in it
/// is secret: the issuer, counts, times and a fixed description of the last failure (never a
/// token, a URL with credentials or a provider's answer).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierStatus {
    /// What kind of verifier: `"jwks"` or `"introspection"`.
    pub verifier: &'static str,
    /// The issuer it verifies tokens of.
    pub issuer: String,
    /// Why it cannot verify tokens now; `None` when it can (see [`is_ready`](Self::is_ready)).
    pub not_ready: Option<&'static str>,
    /// How many signing keys are held (0 before the first load, and for introspection).
    pub keys: usize,
    /// How long ago the held keys were fetched.
    pub keys_age: Option<Duration>,
    /// The last fetch from the provider that ended (keys, discovery, or an introspection call).
    pub last_fetch: Option<FetchResult>,
    /// Whether a fetch is in flight now.
    pub fetching: bool,
    /// When the next fetch may start, if that is later than now (the verifier's retry or
    /// refetch interval); `None` when one may start now or one is in flight.
    pub next_attempt: Option<SystemTime>,
}

impl VerifierStatus {
    /// Whether the verifier can verify tokens now: for JWKS, keys are held and within their
    /// stale limit; for introspection, the endpoint is known.
    pub fn is_ready(&self) -> bool {
        self.not_ready.is_none()
    }

    fn to_json(&self) -> Value {
        let now = SystemTime::now();
        json!({
            "verifier": self.verifier,
            "issuer": self.issuer,
            "ready": self.is_ready(),
            "reason": self.not_ready,
            "keys": self.keys,
            "keys_age_secs": self.keys_age.map(|age| age.as_secs()),
            "last_fetch": self.last_fetch.as_ref().map(|fetch| json!({
                "at": unix_secs(fetch.at),
                "ok": fetch.is_ok(),
                "error": fetch.error,
            })),
            "fetching": self.fetching,
            "next_attempt_in_secs": self.next_attempt.map(|at| {
                at.duration_since(now).unwrap_or_default().as_secs()
            }),
        })
    }
}

/// How a fetch from the provider ended.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchResult {
    /// When it ended.
    pub at: SystemTime,
    /// `None` if it succeeded; else the failure's fixed description
    /// ([`AuthError::description`]), e.g. "the identity provider is unreachable".
    pub error: Option<&'static str>,
}

impl FetchResult {
    /// Whether the fetch succeeded.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

/// What a [`ReadinessCheck`] found: every verifier's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadinessReport {
    statuses: Vec<VerifierStatus>,
}

impl ReadinessReport {
    /// Whether every verifier is ready (true with none: nothing to wait for).
    pub fn is_ready(&self) -> bool {
        self.statuses.iter().all(VerifierStatus::is_ready)
    }

    /// Each verifier's status.
    pub fn statuses(&self) -> &[VerifierStatus] {
        &self.statuses
    }

    /// `200 OK` when ready, else `503 Service Unavailable`.
    pub fn status_code(&self) -> StatusCode {
        if self.is_ready() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }

    /// The JSON body the check answers:
    /// `{"ready": bool, "verifiers": [{"verifier", "issuer", "ready", "reason", "keys",
    /// "keys_age_secs", "last_fetch": {"at" (Unix seconds), "ok", "error"}, "fetching",
    /// "next_attempt_in_secs"}]}`.
    pub fn to_json(&self) -> String {
        json!({
            "ready": self.is_ready(),
            "verifiers": self.statuses.iter().map(VerifierStatus::to_json).collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// The HTTP answer: [`status_code`](Self::status_code), the JSON body,
    /// `Cache-Control: no-store`.
    pub fn into_response(self) -> Response<String> {
        let mut response = Response::new(self.to_json());
        *response.status_mut() = self.status_code();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Something whose state a readiness check reads. Asking may start the verifier's own
/// rate-limited fetch (as a request would), never a fetch of its own.
pub(crate) trait Probe: Send + Sync + 'static {
    fn status(&self) -> VerifierStatus;
}

/// A readiness check over one or more verifiers; also a tower service (any request, e.g. an
/// axum route with `get_service`) answering `200` when all are ready, else `503`, with a JSON
/// body. See the [module documentation](self).
///
/// Take it from a verifier once the verifier is configured (its last `with_*` call): a
/// `with_*` call afterwards configures a copy the check does not see.
///
/// ```
/// use tower::ServiceExt; // oneshot
/// use tower_authz::{JwksVerifier, ReadinessCheck};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let keys = JwksVerifier::new("https://id.example.com", "http://127.0.0.1:9/keys", "api").unwrap();
/// let check = ReadinessCheck::new().and(keys.readiness());
/// // No keys loaded yet: not ready.
/// let report = check.check();
/// assert!(!report.is_ready());
/// assert_eq!(report.statuses()[0].keys, 0);
/// let response = check.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// # });
/// ```
#[derive(Clone, Default)]
pub struct ReadinessCheck {
    probes: Vec<Arc<dyn Probe>>,
}

impl fmt::Debug for ReadinessCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadinessCheck")
            .field("verifiers", &self.probes.len())
            .finish()
    }
}

impl ReadinessCheck {
    /// A check over no verifier: always ready. Add verifiers' checks with [`and`](Self::and).
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn of(probe: Arc<dyn Probe>) -> Self {
        Self {
            probes: vec![probe],
        }
    }

    /// Also checks what `other` checks: ready only when both are.
    pub fn and(mut self, other: ReadinessCheck) -> Self {
        self.probes.extend(other.probes);
        self
    }

    /// Every verifier's status now (without waiting for any fetch).
    pub fn check(&self) -> ReadinessReport {
        ReadinessReport {
            statuses: self.probes.iter().map(|probe| probe.status()).collect(),
        }
    }
}

/// Answers any request with [`ReadinessReport::into_response`].
impl<B> Service<Request<B>> for ReadinessCheck {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        ready(Ok(self.check().into_response()))
    }
}

/// The last fetch that ended, kept for readiness.
#[derive(Default)]
pub(crate) struct FetchLog(Mutex<Option<(Instant, Option<&'static str>)>>);

impl FetchLog {
    /// Records how a fetch just ended.
    pub(crate) fn record<T>(&self, result: &Result<T, AuthError>) {
        let error = result.as_ref().err().map(AuthError::description);
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), error));
    }

    /// The last fetch that ended.
    pub(crate) fn last(&self) -> Option<FetchResult> {
        let last = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        last.map(|(at, error)| FetchResult {
            at: wall_clock(at),
            error,
        })
    }
}

/// The wall-clock time of a monotonic instant.
pub(crate) fn wall_clock(at: Instant) -> SystemTime {
    let (now, wall) = (Instant::now(), SystemTime::now());
    if at <= now {
        wall.checked_sub(now - at).unwrap_or(wall)
    } else {
        wall.checked_add(at - now).unwrap_or(wall)
    }
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Option<&'static str>);

    impl Probe for Fixed {
        fn status(&self) -> VerifierStatus {
            VerifierStatus {
                verifier: "jwks",
                issuer: "https://id.example.com".into(),
                not_ready: self.0,
                keys: usize::from(self.0.is_none()),
                keys_age: None,
                last_fetch: None,
                fetching: false,
                next_attempt: None,
            }
        }
    }

    #[test]
    fn ready_only_when_every_verifier_is() {
        let ready = || ReadinessCheck::of(Arc::new(Fixed(None)));
        let not_ready = || ReadinessCheck::of(Arc::new(Fixed(Some("no keys yet"))));
        assert!(ReadinessCheck::new().check().is_ready());
        assert!(ready().and(ready()).check().is_ready());
        let report = ready().and(not_ready()).check();
        assert!(!report.is_ready());
        assert_eq!(report.statuses().len(), 2);
        let response = report.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = serde_json::from_str(response.body()).expect("json");
        assert_eq!(body["ready"], false);
        assert_eq!(body["verifiers"][1]["reason"], "no keys yet");
        assert_eq!(body["verifiers"][0]["ready"], true);
    }

    #[test]
    fn fetch_log_keeps_the_description_only() {
        let log = FetchLog::default();
        assert_eq!(log.last(), None);
        log.record(&Err::<(), _>(
            AuthError::upstream("the identity provider is unreachable")
                .with_source("https://user:secret@id.example.com/keys"),
        ));
        let last = log.last().expect("recorded");
        assert_eq!(last.error, Some("the identity provider is unreachable"));
        log.record(&Ok::<(), AuthError>(()));
        assert!(log.last().expect("recorded").is_ok());
    }
}
