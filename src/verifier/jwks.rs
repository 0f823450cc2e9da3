//! [`JwksVerifier`]: JWTs signed with keys the identity provider publishes.
//!
//! How keys are kept:
//! - Keys are parsed once per fetched JWKS and read lock-free ([`ArcSwapOption`]) by requests.
//! - Nothing is fetched until the first token arrives (or [`JwksVerifier::fetch_keys`] is called,
//!   or a [readiness check](JwksVerifier::readiness) asks).
//! - An unknown `kid` starts a refetch. At most one fetch is in flight, whatever the number of
//!   waiting requests; fetches start at most once per minimum interval (default 30 s), however
//!   many unknown `kid`s arrive, so random `kid`s cannot be turned into a flood of fetches.
//! - Keys are refreshed in the background once their lifetime (`Cache-Control: max-age`, within
//!   bounds, else the refresh interval) has passed; requests keep using the keys held meanwhile.
//! - A failed refresh keeps the keys held, but not forever: once they are older than their
//!   lifetime plus the stale limit (default one day), with the provider still failing, requests
//!   get a 503 ([`Upstream`](crate::AuthErrorKind::Upstream)) until a fetch succeeds. Before the
//!   first successful fetch, requests get a 503 too.
//! - Tokens verified with a key that leaves the JWKS are refused from then on, even those whose
//!   verification was still running when the new key set arrived.
//! - No lock is held across network I/O: the fetch runs in its own task and requests that need
//!   it await a shared handle to it.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::time::Instant;

use super::jwt::key_error;
use super::jwt_core::{OwnedJwt, ParsedJwt, TENANT_PLACEHOLDER, Validation, check_token_len};
use super::keys::{KeyError, KeySet};
use super::tenants::Tenants;
use super::verified::{self, CacheLookup, Miss, VerifiedCache};
use super::{Verification, Verifier, validation_setters};
use crate::claims::Claims;
use crate::error::{AuthError, ConfigError};
use crate::provider::discovery::Endpoint;
use crate::provider::fetch::{self, HttpFetcher};
use crate::provider::single_flight::{Flight, SingleFlight};
use crate::provider::url::ProviderUrl;
use crate::readiness::{FetchLog, Probe, ReadinessCheck, VerifierStatus, wall_clock};

const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(30);
const DEFAULT_RETRY: Duration = Duration::from_secs(5);
const DEFAULT_REFRESH: Duration = Duration::from_secs(10 * 60);
const MAX_REFRESH: Duration = Duration::from_secs(24 * 60 * 60);
const DEFAULT_MAX_STALE: Duration = Duration::from_secs(24 * 60 * 60);

/// Verifies JWTs with keys from a JWKS, found directly or by discovery of the issuer (RFC 8414 or
/// OpenID Connect metadata).
///
/// ```
/// use tower_authz::JwksVerifier;
///
/// // ZITADEL, Keycloak, Auth0, Entra: discovery of the issuer's metadata (RFC 8414, OIDC).
/// let verifier = JwksVerifier::discover("https://my-instance.zitadel.cloud", "my-api-client-id")
///     .unwrap()
///     .with_audience("my-project-id");
///
/// // Or with a known JWKS URL (no discovery request).
/// let verifier = JwksVerifier::new(
///     "http://localhost:9011",
///     "http://localhost:9011/.well-known/jwks.json",
///     "e9fdb985-9173-4e01-9d73-ac2d60d1dc8e",
/// )
/// .unwrap();
/// ```
///
/// Construction does no I/O; the keys are fetched when the first token arrives, or when
/// [`fetch_keys`](Self::fetch_keys) is called (to fail fast at startup).
///
/// **ID tokens.** An ID token from the same issuer whose `aud` equals the API's audience passes
/// as an access token unless [`with_typ("at+jwt")`](Self::with_typ) is set (RFC 9068 §2.1,
/// RFC 8725 §3.11). node-oidc-provider and Auth0 (RFC 9068 token profile) send `typ: at+jwt`;
/// ZITADEL, Entra, FusionAuth and Keycloak send `typ: JWT`, so with them keep the API's audience
/// distinct from the id of every client that logs users in (an ID token's `aud` is that client).
pub struct JwksVerifier {
    shared: Arc<SharedState>,
}

/// Settings that the fetch task needs.
#[derive(Clone)]
struct Config {
    issuer: String,
    jwks_uri: Endpoint,
    http: HttpFetcher,
    min_refetch: Duration,
    retry: Duration,
    refresh: Duration,
    max_stale: Duration,
    verified: Option<VerifiedCache>,
}

/// Everything a verification needs, shared with the fetch task and with the verifications
/// that wait for keys.
struct SharedState {
    validation: Validation,
    config: Config,
    keys: ArcSwapOption<Loaded>,
    refresh: Mutex<Refresh>,
    /// What the refresh lock holds, readable without it, so that a flood of unknown `kid`s
    /// between two allowed fetches is refused without taking the lock: whether a fetch is in
    /// flight (to be joined, under the lock), and when the last attempt started.
    refetch_gate: RefetchGate,
    /// Whether the held keys were found too old (logged once per change).
    too_old: AtomicBool,
    /// How the last fetch ended, for readiness.
    fetches: FetchLog,
}

impl Clone for SharedState {
    /// The same settings with fresh state: used only while the verifier is still being
    /// configured and something already holds the old state.
    fn clone(&self) -> Self {
        Self::new(self.validation.clone(), self.config.clone())
    }
}

struct Loaded {
    keys: KeySet,
    fetched_at: Instant,
    refresh_at: Instant,
    /// Past this, with no successful refresh, the keys are no longer used.
    trusted_until: Instant,
}

/// How usable the held keys are now.
#[derive(PartialEq, Eq)]
enum Age {
    /// Within their lifetime, or none held yet.
    Fresh,
    /// Past their lifetime: still used while a refresh runs.
    Stale,
    /// Past the stale limit: not used until a fetch succeeds.
    TooOld,
}

type Fetch = Flight<Result<(), AuthError>>;

#[derive(Default)]
struct Refresh {
    last_attempt: Option<Instant>,
    in_flight: SingleFlight<Result<(), AuthError>>,
}

impl fmt::Debug for JwksVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksVerifier")
            .field("issuer", &self.shared.validation.issuer)
            .field("audiences", &self.shared.validation.audiences)
            .field("jwks_uri", &self.shared.config.jwks_uri)
            .field(
                "keys_held",
                &self.shared.keys.load().as_ref().map(|l| l.keys.len()),
            )
            .finish_non_exhaustive()
    }
}

/// What checking a token against the held keys found (no waiting).
enum KeyCheck {
    /// Verified with the key of this fingerprint.
    Verified(Claims, [u8; 32]),
    Refused(AuthError),
    NoKeysYet,
    UnknownKid,
}

impl JwksVerifier {
    /// Keys found by discovery of `issuer`: its metadata document, whose `issuer` must equal
    /// `issuer` exactly and whose `jwks_uri` is then used. Tokens must have `iss` equal to
    /// `issuer` and `aud` containing `audience`.
    ///
    /// The document is looked for where RFC 8414 (OAuth 2.0 authorization server metadata)
    /// and OpenID Connect Discovery put it, in the order RFC 8414 §5 gives (the order of the MCP
    /// authorization specification):
    ///
    /// | issuer | tried, in order |
    /// |---|---|
    /// | `https://id.example.com` | `/.well-known/oauth-authorization-server`, `/.well-known/openid-configuration` |
    /// | `https://id.example.com/realms/main` | `/.well-known/oauth-authorization-server/realms/main`, `/.well-known/openid-configuration/realms/main`, `/realms/main/.well-known/openid-configuration` |
    ///
    /// The next location is tried only when one answers that it has no document: a 4xx status,
    /// or an answer that is not a JSON object (a web site's catch-all page). A document whose
    /// `issuer` differs is a failure (503), not a reason to look further: RFC 8414 §3.3 says it
    /// must not be used, and a provider publishing metadata for another issuer at this
    /// issuer's location is misconfigured or under attack. A provider that is down (5xx,
    /// timeout, unreachable) is a failure too, so that an outage costs one request per attempt.
    /// Discovery runs once for all concurrent requests, and after a failure not again before
    /// the retry interval.
    ///
    /// Where others differ: ASP.NET Core's JwtBearer reads `{issuer}/.well-known/openid-configuration`
    /// only; Spring Security (`JwtDecoders.fromIssuerLocation`) tries the same three locations
    /// with OIDC's appended form first; like this verifier, it moves on only after a 4xx and
    /// fails on a document for another issuer. For an OIDC provider (ZITADEL, Keycloak, Entra)
    /// the RFC's order costs one or two 404s, once.
    ///
    /// `issuer` must be `https://` (or `http://` to a loopback host), and so must the
    /// discovered `jwks_uri` of an `https://` issuer; see [`ProviderUrl`] for the opt-out.
    pub fn discover(
        issuer: impl Into<ProviderUrl>,
        audience: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let issuer = issuer.into();
        if issuer.as_str().contains(TENANT_PLACEHOLDER) {
            return Err(ConfigError::new(
                crate::ConfigErrorKind::InvalidUrl,
                "an issuer template with {tenantid} cannot be discovered: use JwksVerifier::multi_tenant with the JWKS URL",
            ));
        }
        let jwks_uri = Endpoint::discovered(&issuer, "jwks_uri")?;
        Self::build(issuer.as_str().to_owned(), audience.into(), jwks_uri)
    }

    /// Keys at `jwks_uri`, with no discovery. Tokens must have `iss` equal to `issuer` and `aud`
    /// containing `audience`.
    ///
    /// An issuer containing `{tenantid}` is refused here: use
    /// [`multi_tenant`](Self::multi_tenant), which makes you say which tenants to accept.
    ///
    /// `jwks_uri` must be `https://` (or `http://` to a loopback host); see [`ProviderUrl`] for
    /// the opt-out.
    pub fn new(
        issuer: impl Into<String>,
        jwks_uri: impl Into<ProviderUrl>,
        audience: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let issuer = issuer.into();
        if issuer.contains(TENANT_PLACEHOLDER) {
            return Err(ConfigError::new(
                crate::ConfigErrorKind::InvalidValue,
                "an issuer template with {tenantid} accepts tokens of other tenants: use JwksVerifier::multi_tenant with Tenants::only(..) or Tenants::any_tenant()",
            ));
        }
        let jwks_uri = Endpoint::fixed(&jwks_uri.into(), "JWKS URL")?;
        Self::build(issuer, audience.into(), jwks_uri)
    }

    /// A multi-tenant Entra application: `issuer_template` contains `{tenantid}`, as Entra's
    /// multi-tenant metadata (`/common`, `/organizations`) does; the token's `tid` is substituted
    /// and the result must then equal `iss` exactly, and `tid` must be accepted by `tenants`.
    ///
    /// There is no default for `tenants`: any organisation can add a multi-tenant application to
    /// its tenant and obtain tokens for it, so say whether only your customers' tenants get in
    /// ([`Tenants::only`]) or every tenant ([`Tenants::any_tenant`], for an API that checks `tid`
    /// itself).
    ///
    /// ```
    /// use tower_authz::{JwksVerifier, Tenants};
    ///
    /// let verifier = JwksVerifier::multi_tenant(
    ///     "https://login.microsoftonline.com/{tenantid}/v2.0",
    ///     "https://login.microsoftonline.com/common/discovery/v2.0/keys",
    ///     "api://my-api-client-id",
    ///     Tenants::only(["72f988bf-86f1-41af-91ab-2d7cd011db47"]),
    /// )
    /// .unwrap();
    /// ```
    pub fn multi_tenant(
        issuer_template: impl Into<String>,
        jwks_uri: impl Into<ProviderUrl>,
        audience: impl Into<String>,
        tenants: Tenants,
    ) -> Result<Self, ConfigError> {
        let issuer = issuer_template.into();
        if issuer.matches(TENANT_PLACEHOLDER).count() != 1 {
            return Err(ConfigError::new(
                crate::ConfigErrorKind::InvalidValue,
                "a multi-tenant issuer template must contain {tenantid} exactly once",
            ));
        }
        let jwks_uri = Endpoint::fixed(&jwks_uri.into(), "JWKS URL")?;
        let mut verifier = Self::build(issuer, audience.into(), jwks_uri)?;
        verifier.validation_mut().tenants = Some(tenants);
        Ok(verifier)
    }

    fn build(issuer: String, audience: String, jwks_uri: Endpoint) -> Result<Self, ConfigError> {
        let config = Config {
            issuer: issuer.clone(),
            jwks_uri,
            http: HttpFetcher::new(fetch::DEFAULT_TIMEOUT)?,
            min_refetch: DEFAULT_MIN_REFETCH,
            retry: DEFAULT_RETRY,
            refresh: DEFAULT_REFRESH,
            max_stale: DEFAULT_MAX_STALE,
            verified: VerifiedCache::new(verified::DEFAULT_MAX_TTL, verified::DEFAULT_CAPACITY),
        };
        Ok(Self {
            shared: Arc::new(SharedState::new(Validation::new(issuer, audience), config)),
        })
    }

    validation_setters!(validation_mut);

    fn validation_mut(&mut self) -> &mut Validation {
        &mut Arc::make_mut(&mut self.shared).validation
    }

    /// The timeout of each request to the provider, also with a client given to
    /// [`with_http_client`](Self::with_http_client) (in either order). Default: 5 seconds.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        self.config_mut().http.set_timeout(timeout)?;
        Ok(self)
    }

    /// Uses your own HTTP client (proxies, private roots, pinning).
    ///
    /// Each request still gets this verifier's timeout ([`with_timeout`](Self::with_timeout),
    /// default 5 s) in place of the client's own. Build the client with
    /// `.redirect(reqwest::redirect::Policy::none())`: this verifier follows same-origin
    /// redirects itself, and refuses (503) an answer that came from another origin.
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.config_mut().http.set_client(client);
        self
    }

    /// The largest discovery or JWKS document accepted. Default: 256 KiB.
    pub fn with_max_document_size(mut self, bytes: usize) -> Self {
        self.config_mut().http.set_max_body(bytes);
        self
    }

    /// The least time between two fetches while keys are held, whatever asks for them (unknown
    /// `kid`s, refreshes). Default: 30 seconds; at least 1 second (a shorter one is raised to it),
    /// so that tokens with made-up `kid`s cannot be turned into a flood of fetches.
    pub fn with_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.config_mut().min_refetch = interval.max(fetch::MIN_RETRY_INTERVAL);
        self
    }

    /// The least time between two fetch attempts while no keys were ever loaded; also the
    /// `Retry-After` of the 503 answered meanwhile. Default: 5 seconds; at least 1 second.
    pub fn with_retry_interval(mut self, interval: Duration) -> Self {
        self.config_mut().retry = interval.max(fetch::MIN_RETRY_INTERVAL);
        self
    }

    /// How long past their lifetime (see
    /// [`with_refresh_interval`](Self::with_refresh_interval)) keys are still used while every
    /// refresh fails. Past it, requests are answered 503 until a fetch succeeds, rather than
    /// trusting keys the provider may have revoked long ago; the change is logged once at warn,
    /// and the recovery once at info. Default: one day.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_authz::JwksVerifier;
    ///
    /// let verifier = JwksVerifier::discover("https://id.example.com", "api")
    ///     .unwrap()
    ///     .with_max_stale(Duration::from_secs(6 * 60 * 60));
    /// ```
    pub fn with_max_stale(mut self, max_stale: Duration) -> Self {
        self.config_mut().max_stale = max_stale;
        self
    }

    /// How long fetched keys are used before a background refresh when the JWKS answer has no
    /// `Cache-Control: max-age`. A `max-age` is honoured between the minimum refetch interval
    /// and one day. Default: 10 minutes.
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.config_mut().refresh = interval;
        self
    }

    /// Caches verified tokens (recognised by a keyed SipHash-2-4 128-bit hash of their bytes,
    /// the whole token compared on a hit) so that a token seen before skips the signature check; `exp`/`nbf` are checked on every hit, an entry lives at
    /// most until `exp` and `max_ttl`, and tokens of a key that leaves the JWKS are dropped.
    /// Default: on, 60 s, 10 000 entries.
    pub fn with_verified_cache(mut self, max_ttl: Duration, capacity: u64) -> Self {
        self.config_mut().verified = VerifiedCache::new(max_ttl, capacity);
        self
    }

    /// Checks every token's signature, even one seen a moment ago.
    pub fn without_verified_cache(mut self) -> Self {
        self.config_mut().verified = None;
        self
    }

    /// The same verifier for OpenID Connect Back-Channel Logout tokens instead of access tokens
    /// (typed `logout+jwt`, or untyped), checking each signature (a logout token is used once).
    pub(crate) fn for_logout_tokens(mut self) -> Self {
        self.validation_mut().purpose = super::jwt_core::Purpose::Logout;
        self.without_verified_cache()
    }

    fn config_mut(&mut self) -> &mut Config {
        &mut Arc::make_mut(&mut self.shared).config
    }

    /// Fetches the keys now, joining a fetch already in flight; for startup checks. Not subject
    /// to the minimum refetch interval.
    ///
    /// **Fail fast or lazy.** Call it before serving to refuse to start without keys (the
    /// provider is down or misconfigured: the error says why):
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let verifier = tower_authz::JwksVerifier::discover("https://id.example.com", "my-api")?;
    /// verifier.fetch_keys().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// Or do not (lazy, the default): the service starts at once, requests are answered 503
    /// until the keys are loaded, and a [`readiness`](Self::readiness) check answers 503
    /// meanwhile, so that an orchestrator holds traffic back until the provider is reachable.
    pub async fn fetch_keys(&self) -> Result<(), AuthError> {
        match self.shared.start_fetch(Duration::ZERO) {
            Ok(fetch) => fetch.await,
            Err(_) => Err(no_runtime()),
        }
    }

    /// A readiness check of this verifier, for a `/readyz` route (see [`ReadinessCheck`]):
    /// ready while keys are held and within the stale limit
    /// ([`with_max_stale`](Self::with_max_stale)); not ready before the first load and past
    /// that limit. Its [`VerifierStatus`] has the number of keys held, their age, how the last
    /// fetch ended and when the next may start.
    ///
    /// Asking starts no fetch of its own: when the keys are missing or stale it starts this
    /// verifier's fetch as a request would (one in flight, within the retry and refetch
    /// intervals), and answers at once from what is held. Take it after the last `with_*`
    /// call, before the verifier moves into the [`AuthLayer`](crate::AuthLayer).
    ///
    /// ```
    /// use axum::{Router, routing::{get, get_service}};
    /// use tower_authz::{AuthLayer, JwksVerifier};
    ///
    /// let verifier = JwksVerifier::discover("https://id.example.com", "my-api").unwrap();
    /// let readiness = verifier.readiness();
    /// let app: Router = Router::new()
    ///     .route("/orders", get(|| async { "orders" }))
    ///     .layer(AuthLayer::new(verifier))
    ///     .route("/readyz", get_service(readiness));
    /// ```
    pub fn readiness(&self) -> ReadinessCheck {
        ReadinessCheck::of(Arc::new(Readiness(Arc::clone(&self.shared))))
    }
}

/// What a readiness check reads: the shared state of one verifier.
struct Readiness(Arc<SharedState>);

impl Probe for Readiness {
    fn status(&self) -> VerifierStatus {
        let shared = &self.0;
        // The request path's own fetch starts, with the same intervals: a background refresh
        // once the keys are stale, and the fetch a request without usable keys would start.
        if shared.refresh_if_stale() == Age::TooOld || shared.keys.load().is_none() {
            let _ = shared.start_fetch(shared.fetch_interval());
        }
        let now = Instant::now();
        let loaded = shared.keys.load();
        let not_ready = match &*loaded {
            None => Some("the signing keys have not been loaded yet"),
            Some(loaded) if now >= loaded.trusted_until => {
                Some("the signing keys are past their stale limit and cannot be refreshed")
            }
            Some(_) => None,
        };
        let (fetching, last_attempt) = {
            let refresh = shared.lock();
            (refresh.in_flight.joined().is_some(), refresh.last_attempt)
        };
        let next_attempt = last_attempt
            .and_then(|last| last.checked_add(shared.fetch_interval()))
            .filter(|at| !fetching && *at > now)
            .map(wall_clock);
        VerifierStatus {
            verifier: "jwks",
            issuer: shared.config.issuer.clone(),
            not_ready,
            keys: loaded.as_ref().map_or(0, |loaded| loaded.keys.len()),
            keys_age: loaded
                .as_ref()
                .map(|loaded| now.saturating_duration_since(loaded.fetched_at)),
            last_fetch: shared.fetches.last(),
            fetching,
            next_attempt,
        }
    }
}

/// The lock-free reading of the refresh state: see `SharedState::refetch_gate`. Written only
/// under the refresh lock; a stale read only sends a request to the lock.
struct RefetchGate {
    /// What the attempts' times are measured from.
    origin: Instant,
    /// Nanoseconds from `origin` to the last attempt's start, plus one (0: never).
    last_attempt: AtomicU64,
    fetching: AtomicBool,
}

impl Default for RefetchGate {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            last_attempt: AtomicU64::new(0),
            fetching: AtomicBool::new(false),
        }
    }
}

impl RefetchGate {
    /// How long until a new attempt is allowed, if none is in flight and the last one started
    /// less than `interval` ago; `None`: ask under the lock.
    fn closed_for(&self, interval: Duration) -> Option<Duration> {
        if self.fetching.load(Ordering::Acquire) {
            return None;
        }
        let last = self.last_attempt.load(Ordering::Acquire).checked_sub(1)?;
        let since = self
            .origin
            .elapsed()
            .saturating_sub(Duration::from_nanos(last));
        interval.checked_sub(since).filter(|wait| !wait.is_zero())
    }

    /// A fetch started at `at` (under the lock).
    fn opened(&self, at: Instant) {
        let nanos = at.saturating_duration_since(self.origin).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1);
        self.fetching.store(true, Ordering::Release);
        self.last_attempt.store(nanos + 1, Ordering::Release);
    }

    /// The fetch in flight ended (under the lock).
    fn landed(&self) {
        self.fetching.store(false, Ordering::Release);
    }
}

impl SharedState {
    fn new(validation: Validation, config: Config) -> Self {
        Self {
            validation,
            config,
            keys: ArcSwapOption::empty(),
            refresh: Mutex::new(Refresh::default()),
            refetch_gate: RefetchGate::default(),
            too_old: AtomicBool::new(false),
            fetches: FetchLog::default(),
        }
    }

    /// Checks `jwt` against the keys held now (no waiting).
    fn check_keys(&self, jwt: &ParsedJwt<'_>) -> KeyCheck {
        let guard = self.keys.load();
        let Some(loaded) = guard
            .as_ref()
            .filter(|loaded| Instant::now() < loaded.trusted_until)
        else {
            return KeyCheck::NoKeysYet;
        };
        match jwt.verify_signature(&loaded.keys) {
            Ok(key) => match jwt.claims(&self.validation) {
                Ok(claims) => KeyCheck::Verified(claims, key.fingerprint()),
                Err(error) => KeyCheck::Refused(error),
            },
            Err(KeyError::UnknownKid) => KeyCheck::UnknownKid,
            Err(error) => KeyCheck::Refused(key_error(error)),
        }
    }

    /// A verified token's claims, remembered in the verified cache if the look-up missed.
    fn remember(&self, miss: Option<Miss>, claims: Claims, key: [u8; 32]) -> Claims {
        if let (Some(cache), Some(miss)) = (&self.config.verified, miss) {
            cache.insert(miss, &claims, key);
        }
        claims
    }

    /// After the fetch that `missing` waited for: the held keys' answer.
    fn verify_fetched(
        &self,
        jwt: &ParsedJwt<'_>,
        miss: Option<Miss>,
        fetched: Result<(), AuthError>,
        missing: &KeyCheck,
    ) -> Result<Claims, AuthError> {
        if let Err(error) = fetched
            && matches!(missing, KeyCheck::NoKeysYet)
        {
            return Err(error.with_retry_after(self.config.retry));
        }
        match self.check_keys(jwt) {
            KeyCheck::Verified(claims, key) => Ok(self.remember(miss, claims, key)),
            KeyCheck::Refused(error) => Err(error),
            KeyCheck::UnknownKid => Err(key_error(KeyError::UnknownKid)),
            KeyCheck::NoKeysYet => Err(AuthError::upstream("the signing keys are not available")
                .with_retry_after(self.config.retry)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Refresh> {
        // The guarded state stays consistent even if a holder panicked: every write is a
        // single assignment.
        self.refresh.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The least time between fetch attempts now: short while no usable keys are held, else the
    /// minimum.
    fn fetch_interval(&self) -> Duration {
        let now = Instant::now();
        if self
            .keys
            .load()
            .as_ref()
            .is_some_and(|loaded| now < loaded.trusted_until)
        {
            self.config.min_refetch
        } else {
            self.config.retry
        }
    }

    /// Joins the fetch in flight, or starts one if the last attempt is at least `interval` ago.
    /// `Err` carries how long until the next attempt is allowed (zero: there is no Tokio runtime
    /// to run the fetch on).
    fn start_fetch(self: &Arc<Self>, interval: Duration) -> Result<Fetch, Duration> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(Duration::ZERO);
        };
        if let Some(wait) = self.refetch_gate.closed_for(interval) {
            return Err(wait);
        }
        let mut refresh = self.lock();
        if let Some(fetch) = refresh.in_flight.joined() {
            return Ok(fetch);
        }
        let now = Instant::now();
        if let Some(last) = refresh.last_attempt {
            let since = now.saturating_duration_since(last);
            if since < interval {
                return Err(interval - since);
            }
        }
        refresh.last_attempt = Some(now);
        self.refetch_gate.opened(now);
        let (state, landed) = (Arc::clone(self), Arc::clone(self));
        let fetch = refresh.in_flight.start(
            runtime.clone(),
            async move { state.fetch().await },
            move |_| {
                let mut refresh = landed.lock();
                refresh.in_flight.clear();
                landed.refetch_gate.landed();
            },
            |e| Err(AuthError::upstream("the key fetch did not complete").with_source(e)),
        );
        drop(refresh);
        // Started now, outside the lock, whether or not a caller awaits it (a background
        // refresh does not).
        runtime.spawn(fetch.clone());
        Ok(fetch)
    }

    /// How old the held keys are; starts a background refresh once their lifetime has passed
    /// (requests go on with the keys held meanwhile, unless they are too old).
    fn refresh_if_stale(self: &Arc<Self>) -> Age {
        let now = Instant::now();
        let age = match &*self.keys.load() {
            Some(loaded) if now >= loaded.trusted_until => Age::TooOld,
            Some(loaded) if now >= loaded.refresh_at => Age::Stale,
            _ => Age::Fresh,
        };
        if age == Age::TooOld && !self.too_old.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                issuer = %self.config.issuer,
                max_stale = ?self.config.max_stale,
                "the JWKS could not be refreshed for longer than the stale limit; requests are refused (503) until it can"
            );
        }
        if age != Age::Fresh {
            // Dropping the handle does not cancel the spawned fetch. Too-old keys are waited for
            // on the request's slow path.
            let _ = self.start_fetch(self.config.min_refetch);
        }
        age
    }

    async fn fetch(&self) -> Result<(), AuthError> {
        let result = self.fetch_once().await;
        self.fetches.record(&result);
        match &result {
            Ok(count) => tracing::debug!(issuer = %self.config.issuer, keys = count, "JWKS loaded"),
            Err(error) if self.keys.load().is_some() => tracing::warn!(
                issuer = %self.config.issuer, %error, cause = ?std::error::Error::source(error),
                "JWKS refresh failed; keeping the keys held"
            ),
            Err(error) => tracing::warn!(
                issuer = %self.config.issuer, %error, cause = ?std::error::Error::source(error),
                "cannot load the JWKS"
            ),
        }
        result.map(|_| ())
    }

    async fn fetch_once(&self) -> Result<usize, AuthError> {
        let jwks_uri = self
            .config
            .jwks_uri
            .get(
                &self.config.http,
                self.config.retry.min(self.config.min_refetch),
            )
            .await?;
        let fetched = self
            .config
            .http
            .get_json(&jwks_uri, crate::telemetry::ProviderEndpoint::Jwks)
            .await?;
        let (keys, skipped) = KeySet::from_jwks(&fetched.value).map_err(|e| {
            AuthError::upstream("the identity provider's JWKS is malformed").with_source(e)
        })?;
        if keys.is_empty() {
            return Err(AuthError::upstream(
                "the identity provider's JWKS has no usable signing key",
            ));
        }
        if skipped > 0 {
            tracing::debug!(
                skipped,
                "JWKS keys skipped (encryption, unsupported or malformed)"
            );
        }
        let lifetime = fetched.max_age.unwrap_or(self.config.refresh).clamp(
            self.config.min_refetch,
            MAX_REFRESH.max(self.config.min_refetch),
        );
        let count = keys.len();
        let now = Instant::now();
        let refresh_at = now.checked_add(lifetime).unwrap_or(now);
        let loaded = Arc::new(Loaded {
            keys,
            fetched_at: now,
            refresh_at,
            trusted_until: refresh_at
                .checked_add(self.config.max_stale)
                .unwrap_or(refresh_at),
        });
        // The new keys first, then the cache forgets the removed ones: a verification that read
        // the old keys and inserts its result afterwards is then voided too.
        let old = self.keys.swap(Some(Arc::clone(&loaded)));
        if let (Some(verified), Some(old)) = (&self.config.verified, old) {
            let held: Vec<[u8; 32]> = loaded.keys.fingerprints().collect();
            let removed = old
                .keys
                .fingerprints()
                .filter(|k| !held.contains(k))
                .collect();
            verified.forget_keys(removed, held);
        }
        if self.too_old.swap(false, Ordering::Relaxed) {
            tracing::info!(issuer = %self.config.issuer, "the JWKS was fetched again; requests are verified again");
        }
        Ok(count)
    }
}

fn no_runtime() -> AuthError {
    AuthError::upstream("the signing keys are not available")
        .with_source("fetching keys needs a Tokio runtime")
}

/// Answers at once for a cache hit, a refusal, or a token whose key is held (the signature is
/// checked during the call); pending only when the keys must be fetched first. The pending
/// answer carries the parsed token and the cache miss, so nothing is looked up twice.
impl Verifier for JwksVerifier {
    fn readiness(&self) -> Option<ReadinessCheck> {
        Some(JwksVerifier::readiness(self))
    }

    fn max_token_len(&self) -> Option<usize> {
        Some(self.shared.validation.max_token_len)
    }

    fn verify(&self, token: &str) -> Verification {
        use crate::telemetry::{CacheUse, VerifierKind, verifier_report};
        let shared = &self.shared;
        let report =
            |cache| verifier_report(VerifierKind::Jwks, Some(&shared.validation.issuer), cache);
        if let Err(refusal) = check_token_len(token, shared.validation.max_token_len) {
            report(CacheUse::None);
            return Verification::Ready(Err(refusal));
        }
        let age = shared.refresh_if_stale();
        let mut miss = None;
        if let Some(cache) = shared
            .config
            .verified
            .as_ref()
            .filter(|_| age != Age::TooOld)
        {
            match cache.get(token, shared.validation.leeway) {
                CacheLookup::Hit(result) => {
                    report(CacheUse::Hit);
                    return Verification::Ready(result);
                }
                CacheLookup::Miss(missed) => miss = Some(missed),
            }
        }
        report(match miss {
            Some(_) => CacheUse::Miss,
            None => CacheUse::None,
        });
        let jwt = match ParsedJwt::parse(token, &shared.validation) {
            Ok(jwt) => jwt,
            Err(refusal) => return Verification::Ready(Err(refusal)),
        };
        let missing = match shared.check_keys(&jwt) {
            KeyCheck::Verified(claims, key) => {
                return Verification::Ready(Ok(shared.remember(miss, claims, key)));
            }
            KeyCheck::Refused(error) => return Verification::Ready(Err(error)),
            missing => missing,
        };
        let fetch = match shared.start_fetch(shared.fetch_interval()) {
            Ok(fetch) => fetch,
            Err(wait) if wait.is_zero() => return Verification::Ready(Err(no_runtime())),
            Err(wait) => {
                return Verification::Ready(Err(match missing {
                    KeyCheck::NoKeysYet => {
                        AuthError::upstream("the signing keys are not available")
                            .with_retry_after(wait)
                    }
                    _ => key_error(KeyError::UnknownKid),
                }));
            }
        };
        let (shared, jwt): (_, OwnedJwt) = (Arc::clone(shared), jwt.to_owned_jwt());
        Verification::pending(async move {
            let fetched = fetch.await;
            shared.verify_fetched(&jwt.parsed(), miss, fetched, &missing)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refetch_gate_refuses_without_the_lock_only_between_attempts() {
        let gate = RefetchGate::default();
        let minute = Duration::from_secs(60);
        // No attempt yet: ask under the lock.
        assert_eq!(gate.closed_for(minute), None);
        gate.opened(Instant::now());
        // A fetch in flight is joined under the lock.
        assert_eq!(gate.closed_for(minute), None);
        gate.landed();
        let wait = gate.closed_for(minute).expect("closed");
        assert!(wait <= minute && wait > Duration::from_secs(50), "{wait:?}");
        // An interval that has passed: ask under the lock.
        assert_eq!(gate.closed_for(Duration::ZERO), None);
    }

    #[test]
    fn construction_does_no_io_and_checks_urls() {
        assert!(JwksVerifier::discover("not a url", "aud").is_err());
        assert!(JwksVerifier::new("iss", "ftp://x/keys", "aud").is_err());
        let v = JwksVerifier::discover("https://id.example.com", "aud")
            .expect("valid")
            .with_min_refetch_interval(Duration::from_secs(1));
        assert!(format!("{v:?}").contains("id.example.com"));
    }

    #[test]
    fn a_tenant_template_needs_a_stated_choice_of_tenants() {
        let template = "https://login.example/{tenantid}/v2.0";
        let keys = "https://login.example/common/keys";
        for refused in [
            JwksVerifier::new(template, keys, "api").map(drop),
            JwksVerifier::discover(template, "api").map(drop),
            JwksVerifier::multi_tenant(
                "https://login.example/v2.0",
                keys,
                "api",
                Tenants::any_tenant(),
            )
            .map(drop),
        ] {
            let kind = refused.expect_err("refused").kind();
            assert!(
                matches!(
                    kind,
                    crate::ConfigErrorKind::InvalidValue | crate::ConfigErrorKind::InvalidUrl
                ),
                "{kind:?}"
            );
        }
        assert!(JwksVerifier::multi_tenant(template, keys, "api", Tenants::only(["t"])).is_ok());
    }

    #[tokio::test]
    async fn unreachable_provider_is_upstream_with_retry_after() {
        // Port 9 on loopback (discard) is closed on test machines.
        let v = JwksVerifier::new("iss", "http://127.0.0.1:9/keys", "aud")
            .expect("valid")
            .with_timeout(Duration::from_secs(2))
            .expect("client");
        let token = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln";
        let error = v.verify(token).await.expect_err("no keys");
        assert_eq!(error.kind(), crate::AuthErrorKind::Upstream);
        assert!(error.retry_after().is_some());
        // The next request inside the retry interval does not fetch again and is answered at once.
        let error = v.verify(token).await.expect_err("no keys");
        assert_eq!(error.kind(), crate::AuthErrorKind::Upstream);
    }
}
