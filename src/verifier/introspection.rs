//! [`IntrospectionVerifier`]: opaque (or any) tokens checked by the provider, RFC 7662.
//!
//! Results are cached, never keyed by the token itself:
//! - an active result until `min(exp, max TTL)` (default max 60 s, at most 10 000 entries), in
//!   the verified-token cache the JWT verifiers use: a keyed 128-bit SipHash of the token (a
//!   PRF with a random key) in a shared moka cache, and in front of it each thread's own copy,
//!   compared with the token byte for byte; `exp` is checked again on every hit. A hit costs
//!   what a cached JWT's does (BENCHMARKS.md);
//! - an inactive or refused result briefly (default 5 s), keyed by a SHA-256 of the token, in a
//!   separate negative cache (default at most 10 000 entries), so that a flood of bad tokens
//!   cannot be amplified onto the provider and cannot evict the active results;
//! - a provider failure (error status, timeout, unreachable, malformed answer) is never cached,
//!   and answers 503.
//!
//! Concurrent requests with the same uncached token share one introspection call, and at most
//! 32 calls (by default) are in flight at once: beyond that, a request is answered 503 with
//! `Retry-After` at once, without waiting.
//!
//! With a [`SharedCache`] behind the local caches (`with_shared_cache`, e.g. Redis), a local
//! miss asks it first, and the replicas of a service share one call per token (see
//! [`shared_cache`](super::shared_cache)).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::jwt_core::{DEFAULT_MAX_TOKEN_LEN, check_times, check_times_parsed, check_token_len};
use super::shared_cache::{
    self, SharedCache, SharedCacheTiming, SharedLevel, SharedLookup, SharedVerdict,
};
use super::verified::{CacheLookup, Miss, VerifiedCache, token_hash};
use super::{Verification, Verifier};
use crate::claims::{Claims, Date, RoleSource};
use crate::clock::now;
use crate::credentials::ClientAuth;
use crate::error::{AuthError, ConfigError, ConfigErrorKind};
use crate::provider::discovery::Endpoint;
use crate::provider::fetch::{self, FormAnswer, HttpFetcher};
use crate::provider::single_flight::FlightsByKey;
use crate::provider::url::ProviderUrl;
use crate::readiness::{FetchLog, Probe, ReadinessCheck, VerifierStatus, wall_clock};
use crate::telemetry::CacheName;

const DEFAULT_MAX_TTL: Duration = Duration::from_secs(60);
const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
const DEFAULT_CAPACITY: u64 = 10_000;
const DEFAULT_RETRY: Duration = Duration::from_secs(5);
const DEFAULT_MAX_CONCURRENT_CALLS: usize = 32;
/// The `Retry-After` of a request refused because the bound on concurrent calls is reached.
const BUSY_RETRY: Duration = Duration::from_secs(1);
/// The `token_type` values of an access token (compared ignoring ASCII case). RFC 7662 §2.2
/// takes `token_type` from RFC 6749 §5.1/§7.1, whose access token types are `Bearer` (RFC 6750)
/// and `DPoP` (RFC 9449); some providers send a token type hint (`access_token`, RFC 7009 §2.1)
/// or an RFC 8693 §3 token type URI instead.
const ACCESS_TOKEN_TYPES: [&str; 4] = [
    "bearer",
    "dpop",
    "access_token",
    "urn:ietf:params:oauth:token-type:access_token",
];

/// Whose job the audience check of an introspected token is: a choice every
/// [`IntrospectionVerifier`] constructor requires.
///
/// An introspection endpoint's `active: true` says that the provider issued the token and still
/// honours it, not always that it was issued for this API: Keycloak, for one, answers
/// `active: true` for any token of the realm, whichever client it was issued to. So by default
/// the API checks `aud` itself:
///
/// ```
/// use tower_authz::AudienceCheck;
///
/// // `aud` must contain "my-api".
/// let one: AudienceCheck = "my-api".into();
/// // `aud` must contain one of these.
/// let several = AudienceCheck::any_of(["my-api", "api://my-api"]);
/// // The provider checks it (ZITADEL: see `left_to_provider`).
/// let zitadel = AudienceCheck::left_to_provider();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudienceCheck(Audiences);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Audiences {
    AnyOf(Vec<String>),
    LeftToProvider,
}

impl AudienceCheck {
    /// `aud` of the answer must contain at least one of `audiences` (an empty list is a
    /// [`ConfigError`] when the verifier is built).
    ///
    /// ```
    /// use tower_authz::{AudienceCheck, ClientAuth, IntrospectionVerifier};
    ///
    /// let verifier = IntrospectionVerifier::new(
    ///     "https://id.example.com/realms/main",
    ///     "https://id.example.com/realms/main/protocol/openid-connect/token/introspect",
    ///     ClientAuth::basic("orders-api", "secret"),
    ///     AudienceCheck::any_of(["orders-api", "account"]),
    /// )?;
    /// # Ok::<(), tower_authz::ConfigError>(())
    /// ```
    pub fn any_of(audiences: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self(Audiences::AnyOf(
            audiences.into_iter().map(Into::into).collect(),
        ))
    }

    /// No audience check here: the provider's `active: true` is taken to mean "for this API".
    ///
    /// **Risk**: with a provider that does not check the audience, any token it issued to any
    /// client (another API's, a single-page app's) is accepted by this API. Right only for a
    /// provider that answers `active: false` for tokens of other audiences: ZITADEL does when
    /// the API authenticates as the project's API application (its introspection answers
    /// `{"active":false}` when the token's `aud` contains neither this application's
    /// `client_id` nor its project id). Keycloak does not: state the audience there.
    ///
    /// ```
    /// use tower_authz::{AudienceCheck, ClientAuth, IntrospectionVerifier};
    ///
    /// // ZITADEL checks the audience against the introspecting API application's project.
    /// let verifier = IntrospectionVerifier::discover(
    ///     "https://my-instance.zitadel.cloud",
    ///     ClientAuth::basic("my-api", "secret"),
    ///     AudienceCheck::left_to_provider(),
    /// )?;
    /// # Ok::<(), tower_authz::ConfigError>(())
    /// ```
    pub fn left_to_provider() -> Self {
        Self(Audiences::LeftToProvider)
    }

    /// The audiences to check here; `None` for [`left_to_provider`](Self::left_to_provider).
    fn into_audiences(self) -> Result<Option<Vec<String>>, ConfigError> {
        match self.0 {
            Audiences::LeftToProvider => Ok(None),
            Audiences::AnyOf(audiences) if audiences.is_empty() => Err(ConfigError::new(
                ConfigErrorKind::InvalidValue,
                "the audience check names no audience (use AudienceCheck::left_to_provider() \
                 to leave it to the provider)",
            )),
            Audiences::AnyOf(audiences) if audiences.iter().any(String::is_empty) => Err(
                ConfigError::new(ConfigErrorKind::InvalidValue, "an audience is empty"),
            ),
            Audiences::AnyOf(audiences) => Ok(Some(audiences)),
        }
    }
}

impl From<&str> for AudienceCheck {
    fn from(audience: &str) -> Self {
        Self::any_of([audience])
    }
}

impl From<String> for AudienceCheck {
    fn from(audience: String) -> Self {
        Self::any_of([audience])
    }
}

impl From<&String> for AudienceCheck {
    fn from(audience: &String) -> Self {
        Self::any_of([audience.as_str()])
    }
}

/// Verifies tokens by asking the provider's introspection endpoint (RFC 7662).
///
/// Every constructor takes an [`AudienceCheck`]: the audience the API checks itself, or an
/// explicit [`AudienceCheck::left_to_provider`] for a provider that checks it (ZITADEL).
///
/// ```
/// use tower_authz::{ApplicationKey, AudienceCheck, ClientAuth, IntrospectionVerifier, RoleSource};
///
/// // ZITADEL: the endpoint is found by discovery; the API authenticates with its key file, and
/// // ZITADEL answers `active: false` for tokens of other projects.
/// # fn key() -> Result<ApplicationKey, tower_authz::ConfigError> { ApplicationKey::from_file("api.json") }
/// # fn main() -> Result<(), tower_authz::ConfigError> {
/// # if false {
/// let verifier = IntrospectionVerifier::discover(
///     "https://my-instance.zitadel.cloud",
///     ClientAuth::private_key_jwt(key()?),
///     AudienceCheck::left_to_provider(),
/// )?
/// .with_role_source(RoleSource::zitadel());
/// # }
/// // Any RFC 7662 endpoint, with a client secret; `aud` must contain "my-api".
/// let verifier = IntrospectionVerifier::new(
///     "https://id.example.com",
///     "https://id.example.com/oauth2/introspect",
///     ClientAuth::basic("my-api", "secret"),
///     "my-api",
/// )?;
/// # Ok(()) }
/// ```
///
/// An active answer is still checked here (the provider's `active: true` does not replace the
/// API's own checks, RFC 7662 §4):
/// - an `exp` in the past or an `nbf` in the future is refused;
/// - an `iss` other than the configured issuer is refused;
/// - `aud` must contain one of the configured audiences (unless the check is
///   [left to the provider](AudienceCheck::left_to_provider));
/// - a `token_type`, when present, must be that of an access token: `Bearer`, `DPoP`,
///   `access_token` or `urn:ietf:params:oauth:token-type:access_token`, ignoring ASCII case
///   (RFC 7662 §2.2, RFC 6749 §5.1/§7.1, RFC 8693 §3); anything else (Keycloak's `Refresh`,
///   `refresh_token`, `id_token`, ...) is refused as `invalid_token`.
///
/// Defaults, each with its setter:
///
/// | what | default | setter |
/// |---|---|---|
/// | active results cached | until `min(exp, 60 s)`, at most 10 000 | [`with_cache`](Self::with_cache) |
/// | refusals cached (inactive, refused by the provider) | 5 s, at most 10 000, apart from the active ones | [`with_negative_cache`](Self::with_negative_cache) |
/// | calls to the provider in flight at once | 32; beyond it 503 with `Retry-After: 1` at once | [`with_max_concurrent_calls`](Self::with_max_concurrent_calls) |
/// | timeout of each call | 5 s | [`with_timeout`](Self::with_timeout) |
/// | largest token sent | 8 KiB | [`with_max_token_len`](Self::with_max_token_len) |
/// | largest answer read | 256 KiB | [`with_max_document_size`](Self::with_max_document_size) |
pub struct IntrospectionVerifier {
    // Shared with the verifications that wait for the provider.
    inner: Arc<Introspector>,
}

/// The settings, the caches and the calls in flight of one verifier.
struct Introspector {
    config: Config,
    /// Active answers: the verified-token cache of the JWT verifiers (a keyed hash, and a
    /// per-thread table that compares the whole token), so that a hit costs what a JWT's does.
    cache: Option<VerifiedCache>,
    negative: Option<Cache<[u8; 32], AuthError>>,
    max_calls: usize,
    calls: Semaphore,
    /// One call per token, however many requests carry it at once (with the cache on).
    in_flight: FlightsByKey<[u8; 32], Result<Active, AuthError>>,
    /// How the last call to the provider ended, for readiness.
    calls_log: FetchLog,
    /// The cache shared with other replicas, asked on a local miss.
    shared: Option<SharedLevel>,
    /// The durations of the shared level (kept for a cache set after them).
    shared_timing: SharedCacheTiming,
}

impl Clone for Introspector {
    /// The same settings with empty caches and no calls: used only while the verifier is still
    /// being configured and a verification still holds the old state.
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            cache: self
                .cache
                .as_ref()
                .and_then(|cache| active_cache(cache.max_ttl(), cache.capacity())),
            negative: self.negative.as_ref().map(|cache| {
                let policy = cache.policy();
                negative_cache(
                    policy.time_to_live().unwrap_or(DEFAULT_NEGATIVE_TTL),
                    policy.max_capacity(),
                )
            }),
            max_calls: self.max_calls,
            calls: Semaphore::new(self.max_calls),
            in_flight: FlightsByKey::default(),
            calls_log: FetchLog::default(),
            shared: self.shared.clone(),
            shared_timing: self.shared_timing,
        }
    }
}

/// The cache of active answers: `None` (every token asked of the provider) if there is no
/// randomness for its hash key.
fn active_cache(max_ttl: Duration, capacity: u64) -> Option<VerifiedCache> {
    VerifiedCache::new(max_ttl, capacity).map(|cache| cache.counted_as(CacheName::Introspection))
}

/// What an active answer's entry in the verified-token cache gives as its signing key: there
/// is none, and no key removal ever drops these entries.
const NO_SIGNING_KEY: [u8; 32] = [0; 32];

fn negative_cache(ttl: Duration, capacity: Option<u64>) -> Cache<[u8; 32], AuthError> {
    Cache::builder()
        .max_capacity(capacity.unwrap_or(DEFAULT_CAPACITY))
        .time_to_live(ttl)
        .build()
}

#[derive(Clone)]
struct Config {
    issuer: String,
    endpoint: Endpoint,
    auth: ClientAuth,
    http: HttpFetcher,
    /// `None`: left to the provider.
    audiences: Option<Vec<String>>,
    roles: RoleSource,
    leeway: u64,
    max_token_len: usize,
    retry: Duration,
}

/// An answer: claims (and when they stop being valid), or a refusal.
enum Verdict {
    Active(Active),
    Refused(AuthError),
}

/// The provider's verdict, and its answer as it came (kept only to share it).
struct Answered {
    verdict: Verdict,
    shared: Option<SharedVerdict>,
}

/// An active answer: its claims (cached until `min(exp, max)`).
#[derive(Clone)]
struct Active {
    claims: Claims,
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("IntrospectionVerifier")
            .field("issuer", &inner.config.issuer)
            .field("endpoint", &inner.config.endpoint)
            .field("auth", &inner.config.auth)
            .field("audiences", &inner.config.audiences)
            .field(
                "cached",
                &inner.cache.as_ref().map(VerifiedCache::entry_count),
            )
            .field(
                "cached_refusals",
                &inner.negative.as_ref().map(Cache::entry_count),
            )
            .field("calls_available", &inner.calls.available_permits())
            .field("shared", &inner.shared)
            .finish_non_exhaustive()
    }
}

impl IntrospectionVerifier {
    /// The introspection endpoint of `issuer`, found by discovery (no I/O here: on the first
    /// request, or [readiness](Self::readiness) check), with the stated `audience` policy (see
    /// [`AudienceCheck`]).
    ///
    /// The metadata is looked for as [`JwksVerifier::discover`](crate::JwksVerifier::discover)
    /// does: RFC 8414's `/.well-known/oauth-authorization-server` (inserted before the
    /// issuer's path), then OpenID Connect's `/.well-known/openid-configuration` (inserted,
    /// then appended), moving on only when a location has no document (a 4xx); its `issuer`
    /// must equal `issuer` exactly, and a document for another issuer is a failure.
    ///
    /// `issuer` must be `https://` (or `http://` to a loopback host), and so must the
    /// discovered endpoint of an `https://` issuer; see [`ProviderUrl`] for the opt-out.
    pub fn discover(
        issuer: impl Into<ProviderUrl>,
        auth: ClientAuth,
        audience: impl Into<AudienceCheck>,
    ) -> Result<Self, ConfigError> {
        let issuer = issuer.into();
        let endpoint = Endpoint::discovered(&issuer, "introspection_endpoint")?;
        Self::build(issuer.as_str().to_owned(), endpoint, auth, audience.into())
    }

    /// A known introspection endpoint of `issuer`, with the stated `audience` policy (see
    /// [`AudienceCheck`]). `endpoint` must be `https://` (or `http://` to a loopback host); see
    /// [`ProviderUrl`] for the opt-out.
    pub fn new(
        issuer: impl Into<String>,
        endpoint: impl Into<ProviderUrl>,
        auth: ClientAuth,
        audience: impl Into<AudienceCheck>,
    ) -> Result<Self, ConfigError> {
        let endpoint = Endpoint::fixed(&endpoint.into(), "introspection endpoint")?;
        Self::build(issuer.into(), endpoint, auth, audience.into())
    }

    fn build(
        issuer: String,
        endpoint: Endpoint,
        auth: ClientAuth,
        audience: AudienceCheck,
    ) -> Result<Self, ConfigError> {
        let config = Config {
            issuer,
            endpoint,
            auth,
            http: HttpFetcher::new(fetch::DEFAULT_TIMEOUT)?,
            audiences: audience.into_audiences()?,
            roles: RoleSource::default(),
            leeway: 0,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            retry: DEFAULT_RETRY,
        };
        let inner = Introspector {
            config,
            cache: active_cache(DEFAULT_MAX_TTL, DEFAULT_CAPACITY),
            negative: Some(negative_cache(DEFAULT_NEGATIVE_TTL, Some(DEFAULT_CAPACITY))),
            max_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            calls: Semaphore::new(DEFAULT_MAX_CONCURRENT_CALLS),
            in_flight: FlightsByKey::default(),
            calls_log: FetchLog::default(),
            shared: None,
            shared_timing: SharedCacheTiming::default(),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The state, to change while building (copied if a verification still holds it).
    fn inner_mut(&mut self) -> &mut Introspector {
        Arc::make_mut(&mut self.inner)
    }

    fn config_mut(&mut self) -> &mut Config {
        &mut self.inner_mut().config
    }

    /// Where the roles are in the introspection answer. Default: a `roles` array; use
    /// [`RoleSource::zitadel`] for ZITADEL.
    pub fn with_role_source(mut self, roles: RoleSource) -> Self {
        self.config_mut().roles = roles;
        self
    }

    /// The clock skew allowed on `exp` and `nbf` of the answer. Default: none (the provider has
    /// just said the token is active).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.config_mut().leeway = leeway.as_secs();
        self
    }

    /// The timeout of each introspection (and discovery) request, also with a client given to
    /// [`with_http_client`](Self::with_http_client) (in either order). Default: 5 seconds.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        self.config_mut().http.set_timeout(timeout)?;
        Ok(self)
    }

    /// Uses your own HTTP client (proxies, private roots, pinning).
    ///
    /// Each request still gets this verifier's timeout ([`with_timeout`](Self::with_timeout),
    /// default 5 s) in place of the client's own. Build the client with
    /// `.redirect(reqwest::redirect::Policy::none())`: an introspection request is never
    /// redirected (the token would go elsewhere), and an answer that came from another URL
    /// than the endpoint is refused (503).
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.config_mut().http.set_client(client);
        self
    }

    /// The largest token sent for introspection; larger ones are refused unsent. Default: 8 KiB.
    pub fn with_max_token_len(mut self, bytes: usize) -> Self {
        self.config_mut().max_token_len = bytes;
        self
    }

    /// The largest discovery document or introspection answer accepted. Default: 256 KiB.
    pub fn with_max_document_size(mut self, bytes: usize) -> Self {
        self.config_mut().http.set_max_body(bytes);
        self
    }

    /// After a failed discovery of the introspection endpoint, how long requests are answered
    /// 503 at once (with this `Retry-After`) before discovery is tried again. Default: 5 seconds;
    /// at least 1 second.
    pub fn with_retry_interval(mut self, interval: Duration) -> Self {
        self.config_mut().retry = interval.max(fetch::MIN_RETRY_INTERVAL);
        self
    }

    /// Caches active answers for at most `max_ttl` (and never past `exp`), at most `capacity`
    /// of them. Default: 60 s, 10 000. Refusals have their own cache
    /// ([`with_negative_cache`](Self::with_negative_cache)), so they never evict these.
    ///
    /// ```
    /// # use tower_authz::{AudienceCheck, ClientAuth, IntrospectionVerifier};
    /// # use std::time::Duration;
    /// let verifier = IntrospectionVerifier::discover(
    ///     "https://my-instance.zitadel.cloud",
    ///     ClientAuth::basic("my-api", "secret"),
    ///     AudienceCheck::left_to_provider(),
    /// )?
    /// .with_cache(Duration::from_secs(30), 50_000);
    /// # Ok::<(), tower_authz::ConfigError>(())
    /// ```
    pub fn with_cache(mut self, max_ttl: Duration, capacity: u64) -> Self {
        self.inner_mut().cache = active_cache(max_ttl, capacity);
        self
    }

    /// Caches refusals (inactive tokens, tokens the provider refused) for `ttl`, at most
    /// `capacity` of them, apart from the active answers: a flood of made-up tokens costs one
    /// call per distinct token per `ttl`, and cannot evict active answers. Default: 5 s, 10 000.
    ///
    /// ```
    /// # use tower_authz::{AudienceCheck, ClientAuth, IntrospectionVerifier};
    /// # use std::time::Duration;
    /// let verifier = IntrospectionVerifier::discover(
    ///     "https://my-instance.zitadel.cloud",
    ///     ClientAuth::basic("my-api", "secret"),
    ///     AudienceCheck::left_to_provider(),
    /// )?
    /// .with_negative_cache(Duration::from_secs(30), 100_000);
    /// # Ok::<(), tower_authz::ConfigError>(())
    /// ```
    pub fn with_negative_cache(mut self, ttl: Duration, capacity: u64) -> Self {
        self.inner_mut().negative = Some(negative_cache(ttl, Some(capacity)));
        self
    }

    /// Introspects every request (no cache of active answers or of refusals). Every request
    /// then costs a round trip to the provider; use only where revocation must take effect at
    /// once. The bound on concurrent calls still applies.
    pub fn without_cache(mut self) -> Self {
        let inner = self.inner_mut();
        inner.cache = None;
        inner.negative = None;
        inner.shared = None;
        self
    }

    /// Shares answers with the other replicas of this service through `cache` (e.g.
    /// [`RedisCache`](crate::RedisCache), feature `redis`), asked only when this replica's own
    /// caches miss: a local hit costs what it costs without it.
    ///
    /// On a local miss the shared cache is asked; an active answer found there is checked again
    /// here (`exp`, `nbf`, `iss`, audience, token type) and kept in the local cache. Otherwise
    /// one replica takes a short lock and asks the provider, and the others wait for its answer
    /// (at most 1 s, then they ask the provider themselves). Active answers are shared until
    /// `min(exp, max TTL)` ([`with_cache`](Self::with_cache)), refusals for the negative TTL
    /// ([`with_negative_cache`](Self::with_negative_cache)). A shared cache that fails or is slow
    /// is left alone for 1 s: the provider is asked, a warning logged (rate-limited). These
    /// durations are set with [`with_shared_cache_timing`](Self::with_shared_cache_timing). Has
    /// no effect with [`without_cache`](Self::without_cache) (call it after, or not at all).
    ///
    /// ```
    /// # #[cfg(feature = "redis")] {
    /// use tower_authz::{AudienceCheck, ClientAuth, IntrospectionVerifier, RedisCache};
    ///
    /// // The same secret on every replica (from a secret store, not the source).
    /// let secret = "a shared secret of at least 32 bytes, from the env";
    /// let verifier = IntrospectionVerifier::discover(
    ///     "https://my-instance.zitadel.cloud",
    ///     ClientAuth::basic("my-api", "secret"),
    ///     AudienceCheck::left_to_provider(),
    /// )?
    /// .with_shared_cache(RedisCache::new("redis://127.0.0.1:6379", secret)?);
    /// # }
    /// # Ok::<(), tower_authz::ConfigError>(())
    /// ```
    pub fn with_shared_cache(mut self, cache: impl SharedCache + 'static) -> Self {
        let inner = self.inner_mut();
        if inner.cache.is_some() {
            inner.shared = Some(SharedLevel::new(Arc::new(cache), inner.shared_timing));
        }
        self
    }

    /// The durations of the shared cache's level: its lock's lifetime, how long a replica waits
    /// for the lock holder's answer and how often it looks, how long a failed shared cache is
    /// left alone (see [`SharedCacheTiming`] for the defaults). Before or after
    /// [`with_shared_cache`](Self::with_shared_cache). A zero duration, one over an hour, or a
    /// polling interval not shorter than the wait is a [`ConfigError`].
    ///
    /// ```
    /// # use tower_authz::{AudienceCheck, ClientAuth, IntrospectionVerifier, SharedCacheTiming};
    /// # use std::time::Duration;
    /// let verifier = IntrospectionVerifier::discover(
    ///     "https://my-instance.zitadel.cloud",
    ///     ClientAuth::basic("my-api", "secret"),
    ///     AudienceCheck::left_to_provider(),
    /// )?
    /// .with_shared_cache_timing(
    ///     SharedCacheTiming::default()
    ///         .with_lock_ttl(Duration::from_secs(5))
    ///         .with_wait_for_holder(Duration::from_secs(3)),
    /// )?;
    /// # Ok::<(), tower_authz::ConfigError>(())
    /// ```
    pub fn with_shared_cache_timing(
        mut self,
        timing: SharedCacheTiming,
    ) -> Result<Self, ConfigError> {
        timing.check()?;
        let inner = self.inner_mut();
        inner.shared_timing = timing;
        inner.shared = inner.shared.take().map(|level| level.with_timing(timing));
        Ok(self)
    }

    /// At most `calls` introspection requests in flight to the provider at once. A request
    /// that needs one more is answered at once with 503 and `Retry-After: 1`, never queued, and
    /// that answer is not cached. This keeps a flood of made-up tokens from getting this
    /// service rate-limited by the provider (and legitimate users answered 503 for longer);
    /// cached answers are served meanwhile. Default: 32. `0` (or more than
    /// [`Semaphore::MAX_PERMITS`]) is a [`ConfigError`].
    ///
    /// ```
    /// # use tower_authz::{AudienceCheck, ClientAuth, IntrospectionVerifier};
    /// let verifier = IntrospectionVerifier::discover(
    ///     "https://my-instance.zitadel.cloud",
    ///     ClientAuth::basic("my-api", "secret"),
    ///     AudienceCheck::left_to_provider(),
    /// )?
    /// .with_max_concurrent_calls(8)?;
    /// # Ok::<(), tower_authz::ConfigError>(())
    /// ```
    pub fn with_max_concurrent_calls(mut self, calls: usize) -> Result<Self, ConfigError> {
        if calls == 0 || calls > Semaphore::MAX_PERMITS {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidValue,
                "the bound on concurrent introspection calls must be at least 1 and at most Semaphore::MAX_PERMITS",
            ));
        }
        let inner = self.inner_mut();
        inner.max_calls = calls;
        inner.calls = Semaphore::new(calls);
        Ok(self)
    }

    /// A readiness check of this verifier, for a `/readyz` route (see [`ReadinessCheck`]):
    /// ready once the introspection endpoint is known (configured, or discovered); not ready
    /// while discovery has not succeeded. Asking starts the verifier's own discovery as a
    /// request would (one in flight, not again before the retry interval), never a call of its
    /// own.
    ///
    /// Its status also has how the last call to the provider ended (discovery or
    /// introspection), for the operator, but a failed call does not make it unready: with no
    /// token to introspect, a check could not see the provider come back, and a service that
    /// is taken out of rotation gets no requests to find out either. Take it after the last
    /// `with_*` call, before the verifier moves into the [`AuthLayer`](crate::AuthLayer).
    pub fn readiness(&self) -> ReadinessCheck {
        ReadinessCheck::of(Arc::new(Readiness(Arc::clone(&self.inner))))
    }
}

/// What a readiness check reads: the state of one verifier.
struct Readiness(Arc<Introspector>);

impl Probe for Readiness {
    fn status(&self) -> VerifierStatus {
        let config = &self.0.config;
        let endpoint = config.endpoint.readiness(&config.http, config.retry);
        VerifierStatus {
            verifier: "introspection",
            issuer: config.issuer.clone(),
            not_ready: (!endpoint.known)
                .then_some("the introspection endpoint has not been discovered yet"),
            keys: 0,
            keys_age: None,
            last_fetch: self.0.calls_log.last(),
            fetching: endpoint.discovering,
            next_attempt: endpoint.next_attempt.map(wall_clock),
        }
    }
}

impl Introspector {
    /// Asks the provider about `token` and turns the answer into a verdict. `Err` only for a
    /// provider that could not be used (never cached).
    async fn introspect(&self, token: &str) -> Result<Answered, AuthError> {
        let config = &self.config;
        let endpoint = config.endpoint.get(&config.http, config.retry).await?;
        // Held until the answer is read; `try_acquire`, so that a request beyond the bound is
        // answered at once rather than queued behind a slow provider.
        // (The layer logs the 503 with this description.)
        let Ok(_permit) = self.calls.try_acquire() else {
            return Err(AuthError::upstream(
                "too many introspection calls are in flight to the identity provider",
            )
            .with_retry_after(BUSY_RETRY));
        };
        let form = vec![
            ("token", token.to_owned()),
            ("token_type_hint", "access_token".to_owned()),
        ];
        match config
            .http
            .post_authenticated(
                endpoint,
                form,
                Some(&config.auth),
                &config.issuer,
                crate::telemetry::ProviderEndpoint::Introspection,
            )
            .await?
        {
            FormAnswer::Json(answer) => {
                let raw = match (&self.shared, &answer) {
                    (Some(_), Value::Object(answer)) => Some(answer.clone()),
                    _ => None,
                };
                let verdict = self.judge(answer);
                let shared = self.shared.as_ref().map(|_| match (&verdict, raw) {
                    (Verdict::Active(_), Some(raw)) => SharedVerdict::Active(raw),
                    (Verdict::Refused(error), _) => SharedVerdict::refused(error),
                    // `judge` makes an active verdict only of an object.
                    (Verdict::Active(_), None) => SharedVerdict::refused(&AuthError::upstream(
                        "the introspection answer is not an object",
                    )),
                });
                Ok(Answered { verdict, shared })
            }
            FormAnswer::ClientError(status, body) => {
                let verdict = self.refusal(status, &body)?;
                let shared = match (&self.shared, &verdict) {
                    (Some(_), Verdict::Refused(error)) => Some(SharedVerdict::refused(error)),
                    _ => None,
                };
                Ok(Answered { verdict, shared })
            }
        }
    }

    /// A 4xx from the introspection endpoint. Our own credentials refused (401, 403, or
    /// `invalid_client`/`unauthorized_client`) is trouble with the provider: 503, logged as an
    /// error. Anything else is about the token (e.g. oidc-provider's `unsupported_token_type`
    /// for a JWT it will not introspect): the token is refused, like an inactive one.
    fn refusal(&self, status: http::StatusCode, body: &[u8]) -> Result<Verdict, AuthError> {
        let error = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned));
        let ours = matches!(status.as_u16(), 401 | 403)
            || matches!(
                error.as_deref(),
                Some("invalid_client" | "unauthorized_client") | None
            );
        if ours {
            tracing::error!(
                %status,
                error = error.as_deref(),
                client_id = self.config.auth.client_id(),
                "the introspection endpoint refused this service's request"
            );
            return Err(AuthError::upstream(
                "the identity provider refused this service's introspection request",
            ));
        }
        tracing::debug!(%status, error = error.as_deref(), "the introspection endpoint refused the token");
        Ok(Verdict::Refused(AuthError::invalid_token(
            "the identity provider does not accept this token",
        )))
    }

    /// Checks an introspection answer.
    fn judge(&self, answer: Value) -> Verdict {
        let refused = |error: AuthError| Verdict::Refused(error);
        if answer.get("active") != Some(&Value::Bool(true)) {
            return refused(AuthError::invalid_token("the token is not active"));
        }
        if let Some(token_type) = answer.get("token_type") {
            let access = token_type.as_str().is_some_and(|token_type| {
                ACCESS_TOKEN_TYPES
                    .iter()
                    .any(|access| access.eq_ignore_ascii_case(token_type))
            });
            if !access {
                return refused(AuthError::invalid_token("the token is not an access token"));
            }
        }
        let now = now();
        if let Err(error) = check_times(
            answer.get("exp").map(Date::from_value),
            answer.get("nbf").map(Date::from_value),
            false,
            self.config.leeway,
            now,
        ) {
            return refused(error);
        }
        if let Some(iss) = answer.get("iss")
            && iss.as_str() != Some(self.config.issuer.as_str())
        {
            return refused(AuthError::invalid_token("the token is from another issuer"));
        }
        let Some(claims) = Claims::from_value(answer, &self.config.roles) else {
            return refused(AuthError::upstream(
                "the introspection answer is not an object",
            ));
        };
        if let Some(audiences) = &self.config.audiences
            && !audiences.iter().any(|a| claims.has_audience(a))
        {
            return refused(AuthError::invalid_token(
                "the token is for another audience",
            ));
        }
        Verdict::Active(Active { claims })
    }

    /// Introspects `token`: an active answer, put into the cache, or `Err`. A refusal goes to the
    /// negative cache on the way; a provider failure, or no permit for a call, to no cache.
    /// With a shared cache (and a local miss), its verdict is taken if it has one, and the
    /// provider's is written to it.
    async fn active(
        &self,
        token: &str,
        key: [u8; 32],
        miss: Option<Miss>,
    ) -> Result<Active, AuthError> {
        let shared_key = match (&self.shared, miss) {
            (Some(shared), Some(_)) => match shared.find(token).await {
                SharedLookup::Found(verdict) => {
                    return self.keep(self.judge_shared(verdict), key, miss);
                }
                SharedLookup::Call(shared_key) => Some(shared_key),
                SharedLookup::Unavailable => None,
            },
            _ => None,
        };
        let answered = self.introspect(token).await;
        self.calls_log.record(&answered);
        let answered = answered?;
        if let (Some(shared), Some(shared_key), Some(verdict)) =
            (&self.shared, &shared_key, &answered.shared)
        {
            shared
                .store(shared_key, verdict, self.shared_ttl(&answered.verdict))
                .await;
        }
        self.keep(answered.verdict, key, miss)
    }

    /// A verdict read from the shared cache: an active answer is judged again here.
    fn judge_shared(&self, verdict: SharedVerdict) -> Verdict {
        match verdict {
            SharedVerdict::Active(answer) => self.judge(Value::Object(answer)),
            SharedVerdict::Refused { kind, description } => {
                Verdict::Refused(shared_cache::refusal(&kind, &description))
            }
        }
    }

    /// How long a verdict is shared: an active one until `min(exp, max TTL)`, a refusal for the
    /// negative TTL (zero: not shared).
    fn shared_ttl(&self, verdict: &Verdict) -> Duration {
        match verdict {
            Verdict::Active(active) => {
                let max = self
                    .cache
                    .as_ref()
                    .map_or(DEFAULT_MAX_TTL, VerifiedCache::max_ttl);
                match active.claims.expires_at() {
                    Some(exp) => max.min(Duration::from_secs(exp.saturating_sub(now()))),
                    None => max,
                }
            }
            Verdict::Refused(_) => self
                .negative
                .as_ref()
                .and_then(|negative| negative.policy().time_to_live())
                .unwrap_or(Duration::ZERO),
        }
    }

    /// Keeps a verdict in the local caches: an active answer in the cache, a refusal in the
    /// negative cache.
    fn keep(
        &self,
        verdict: Verdict,
        key: [u8; 32],
        miss: Option<Miss>,
    ) -> Result<Active, AuthError> {
        match verdict {
            Verdict::Active(active) => {
                if let (Some(cache), Some(miss)) = (&self.cache, miss) {
                    cache.insert(miss, &active.claims, NO_SIGNING_KEY);
                }
                Ok(active)
            }
            Verdict::Refused(error) => {
                if let Some(negative) = &self.negative {
                    negative.insert(key, error.clone());
                }
                Err(error)
            }
        }
    }

    /// The claims of an active answer, if `exp` has not passed since (a cached entry may outlive
    /// `exp` by the cache's timer granularity).
    fn unexpired(&self, active: Active) -> Result<Claims, AuthError> {
        // `judge` let in only a valid `exp` or none: the one kept in the claims is that one.
        check_times_parsed(active.claims.expires_at(), None, self.config.leeway, now())?;
        Ok(active.claims)
    }
}

/// Answers at once for a cached answer (active or refused) or a refusal before any call; pending
/// while the provider is asked, joining the call already in flight for the same token. The
/// pending answer carries the token's cache key, computed once.
impl Verifier for IntrospectionVerifier {
    fn readiness(&self) -> Option<ReadinessCheck> {
        Some(IntrospectionVerifier::readiness(self))
    }

    fn max_token_len(&self) -> Option<usize> {
        Some(self.inner.config.max_token_len)
    }

    /// Drops the cached active answers `revocation` revokes, so that their tokens are asked of
    /// the provider again (the shared cache's entries are left to expire: every replica's
    /// [`Revocable`](crate::Revocable) refuses them).
    fn revoked(&self, revocation: &crate::revocation::Revocation) {
        if let Some(cache) = &self.inner.cache {
            let revocation = revocation.clone();
            cache.forget_revoked(move |claims| revocation.covers(claims));
        }
    }

    fn verify(&self, token: &str) -> Verification {
        use crate::telemetry::{CacheUse, VerifierKind, cache_lookup, verifier_report};
        let inner = &self.inner;
        let report = |cache| {
            verifier_report(
                VerifierKind::Introspection,
                Some(&inner.config.issuer),
                cache,
            )
        };
        if let Err(refusal) = check_token_len(token, inner.config.max_token_len) {
            report(CacheUse::None);
            return Verification::Ready(Err(refusal));
        }
        // A hit costs what a JWT's does: this thread's copy, compared byte for byte, or the
        // keyed hash; `exp` checked again.
        let miss = match &inner.cache {
            Some(cache) => match cache.get(token, inner.config.leeway) {
                CacheLookup::Hit(claims) => {
                    report(CacheUse::Hit);
                    return Verification::Ready(claims);
                }
                CacheLookup::Miss(miss) => Some(miss),
            },
            None => None,
        };
        let key = token_hash(token);
        if let Some(negative) = &inner.negative {
            let refused = negative.get(&key);
            cache_lookup(CacheName::IntrospectionRefusals, refused.is_some());
            if let Some(refusal) = refused {
                report(CacheUse::Hit);
                return Verification::Ready(Err(refusal));
            }
        }
        if miss.is_none() {
            report(match inner.negative {
                Some(_) => CacheUse::Miss,
                None => CacheUse::None,
            });
            let (inner, token) = (Arc::clone(inner), token.to_owned());
            return Verification::pending(async move {
                let active = inner.active(&token, key, None).await?;
                inner.unexpired(active)
            });
        }
        report(CacheUse::Miss);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Verification::Ready(Err(AuthError::upstream(
                "the identity provider cannot be asked",
            )
            .with_source("introspection needs a Tokio runtime")));
        };
        let call = Arc::clone(inner);
        let token = token.to_owned();
        let flight = inner.in_flight.join_or_start(
            key,
            &runtime,
            move || async move { call.active(&token, key, miss).await },
            |error| {
                Err(
                    AuthError::upstream("the introspection call did not complete")
                        .with_source(error),
                )
            },
        );
        let inner = Arc::clone(inner);
        Verification::pending(async move {
            let active = flight.await?;
            inner.unexpired(active)
        })
    }
}

/// Judges a raw introspection answer with a default verifier (for the fuzz targets).
#[cfg(any(test, fuzzing))]
pub(crate) fn judge_raw(answer: &[u8]) -> Result<Claims, AuthError> {
    static VERIFIER: std::sync::OnceLock<Option<IntrospectionVerifier>> =
        std::sync::OnceLock::new();
    let value: Value = serde_json::from_slice(answer)
        .map_err(|_| AuthError::upstream("the introspection answer is not JSON"))?;
    let verifier = VERIFIER.get_or_init(|| {
        IntrospectionVerifier::new(
            "https://issuer.example",
            "https://issuer.example/introspect",
            ClientAuth::basic("api", "secret"),
            "api",
        )
        .ok()
        .map(IntrospectionVerifier::without_cache)
    });
    let Some(verifier) = verifier else {
        return Err(AuthError::upstream("no verifier"));
    };
    match verifier.inner.judge(value) {
        Verdict::Active(Active { claims, .. }) => Ok(claims),
        Verdict::Refused(error) => Err(error),
    }
}
