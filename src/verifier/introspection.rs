//! [`IntrospectionVerifier`]: opaque (or any) tokens checked by the provider, RFC 7662.
//!
//! Results are cached (moka), keyed by a SHA-256 of the token, never the token itself:
//! - an active result until `min(exp, max TTL)` (default max 60 s);
//! - an inactive or refused result briefly (default 5 s), so that a flood of bad tokens cannot be
//!   amplified onto the provider;
//! - a provider failure (error status, timeout, unreachable, malformed answer) is never cached,
//!   and answers 503.
//!
//! Concurrent requests with the same uncached token share one introspection call.

use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::future::Cache;
use serde_json::Value;

use super::Verifier;
use super::jwt_core::{DEFAULT_MAX_TOKEN_LEN, check_times, now};
use super::verified::token_hash;
use crate::claims::{Claims, RoleSource};
use crate::credentials::ClientAuth;
use crate::discovery::Endpoint;
use crate::error::{AuthError, ConfigError};
use crate::fetch::{self, HttpFetcher};
use crate::provider_url::ProviderUrl;

const DEFAULT_MAX_TTL: Duration = Duration::from_secs(60);
const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
const DEFAULT_CAPACITY: u64 = 10_000;
const DEFAULT_RETRY: Duration = Duration::from_secs(5);

/// Verifies tokens by asking the provider's introspection endpoint (RFC 7662).
///
/// ```
/// use tower_authz::{ApplicationKey, ClientAuth, IntrospectionVerifier, RoleSource};
///
/// // ZITADEL: the endpoint is found by discovery; the API authenticates with its key file.
/// # fn key() -> Result<ApplicationKey, tower_authz::ConfigError> { ApplicationKey::from_file("api.json") }
/// # fn main() -> Result<(), tower_authz::ConfigError> {
/// # if false {
/// let verifier = IntrospectionVerifier::discover(
///     "https://my-instance.zitadel.cloud",
///     ClientAuth::private_key_jwt(key()?),
/// )?
/// .with_role_source(RoleSource::zitadel());
/// # }
/// // Any RFC 7662 endpoint, with a client secret.
/// let verifier = IntrospectionVerifier::new(
///     "https://id.example.com",
///     "https://id.example.com/oauth2/introspect",
///     ClientAuth::basic("my-api", "secret"),
/// )?
/// .with_audience("my-api");
/// # Ok(()) }
/// ```
///
/// An active answer is still checked here: an `exp` in the past is refused, an `iss` other than
/// the configured issuer is refused, and a configured audience must be in `aud` (the provider's
/// `active: true` does not replace the API's own checks, RFC 7662 §4).
pub struct IntrospectionVerifier {
    config: Config,
    cache: Option<Cache<[u8; 32], Verdict>>,
    max_ttl: Duration,
}

struct Config {
    issuer: String,
    endpoint: Endpoint,
    auth: ClientAuth,
    http: HttpFetcher,
    audiences: Vec<String>,
    roles: RoleSource,
    leeway: u64,
    max_token_len: usize,
    retry: Duration,
}

/// A cached answer: claims (and when they stop being valid), or a refusal.
#[derive(Clone)]
enum Verdict {
    Active { claims: Claims, ttl: Duration },
    Refused(AuthError),
}

/// Per-entry lifetimes: active until `min(exp, max)`, refused for the negative TTL.
struct VerdictExpiry {
    negative: Duration,
}

impl Expiry<[u8; 32], Verdict> for VerdictExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        verdict: &Verdict,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(match verdict {
            Verdict::Active { ttl, .. } => *ttl,
            Verdict::Refused(_) => self.negative,
        })
    }
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("issuer", &self.config.issuer)
            .field("endpoint", &self.config.endpoint)
            .field("auth", &self.config.auth)
            .field("audiences", &self.config.audiences)
            .field("cached", &self.cache.as_ref().map(Cache::entry_count))
            .finish_non_exhaustive()
    }
}

impl IntrospectionVerifier {
    /// The introspection endpoint of `issuer`, found by OIDC discovery.
    ///
    /// `issuer` must be `https://` (or `http://` to a loopback host), and so must the
    /// discovered endpoint of an `https://` issuer; see [`ProviderUrl`] for the opt-out.
    pub fn discover(issuer: impl Into<ProviderUrl>, auth: ClientAuth) -> Result<Self, ConfigError> {
        let issuer = issuer.into();
        let endpoint = Endpoint::discovered(&issuer, "introspection_endpoint")?;
        Self::build(issuer.as_str().to_owned(), endpoint, auth)
    }

    /// A known introspection endpoint of `issuer`. `endpoint` must be `https://` (or `http://`
    /// to a loopback host); see [`ProviderUrl`] for the opt-out.
    pub fn new(
        issuer: impl Into<String>,
        endpoint: impl Into<ProviderUrl>,
        auth: ClientAuth,
    ) -> Result<Self, ConfigError> {
        let endpoint = Endpoint::fixed(&endpoint.into(), "introspection endpoint")?;
        Self::build(issuer.into(), endpoint, auth)
    }

    fn build(issuer: String, endpoint: Endpoint, auth: ClientAuth) -> Result<Self, ConfigError> {
        let config = Config {
            issuer,
            endpoint,
            auth,
            http: HttpFetcher::new(fetch::DEFAULT_TIMEOUT)?,
            audiences: Vec::new(),
            roles: RoleSource::default(),
            leeway: 0,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            retry: DEFAULT_RETRY,
        };
        Ok(Self {
            config,
            cache: None,
            max_ttl: DEFAULT_MAX_TTL,
        }
        .with_cache(DEFAULT_MAX_TTL, DEFAULT_NEGATIVE_TTL, DEFAULT_CAPACITY))
    }

    fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Requires `aud` of the introspection answer to contain `audience` (may be called several
    /// times; one match suffices). Default: the audience is left to the provider, which for
    /// ZITADEL already requires the API's client or project id.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.config_mut().audiences.push(audience.into());
        self
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
    /// 503 at once (with this `Retry-After`) before discovery is tried again. Default: 5 seconds.
    pub fn with_retry_interval(mut self, interval: Duration) -> Self {
        self.config_mut().retry = interval;
        self
    }

    /// Caches answers: active ones for at most `max_ttl` (and never past `exp`), inactive ones
    /// for `negative_ttl`, at most `capacity` entries. Default: 60 s, 5 s, 10 000.
    pub fn with_cache(mut self, max_ttl: Duration, negative_ttl: Duration, capacity: u64) -> Self {
        self.cache = Some(
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(VerdictExpiry {
                    negative: negative_ttl,
                })
                .build(),
        );
        self.max_ttl = max_ttl;
        self
    }

    /// Introspects every request (no cache). Every request then costs a round trip to the
    /// provider; use only where revocation must take effect at once.
    pub fn without_cache(mut self) -> Self {
        self.cache = None;
        self
    }
}

impl IntrospectionVerifier {
    /// Asks the provider about `token` and turns the answer into a verdict. `Err` only for a
    /// provider that could not be used (never cached).
    async fn introspect(&self, token: &str) -> Result<Verdict, AuthError> {
        let config = &self.config;
        let endpoint = config.endpoint.get(&config.http, config.retry).await?;
        let auth = config.auth.apply(&config.issuer)?;
        let mut form = auth.form;
        form.push(("token", token.to_owned()));
        form.push(("token_type_hint", "access_token".to_owned()));
        let response = config
            .http
            .post_form(endpoint, &form, auth.authorization)
            .await?;
        let status = response.status();
        if status.is_client_error() {
            return self.refusal(status, response).await;
        }
        let answer = config.http.read_json(response).await?.value;
        Ok(self.judge(answer))
    }

    /// A 4xx from the introspection endpoint. Our own credentials refused (401, 403, or
    /// `invalid_client`/`unauthorized_client`) is trouble with the provider: 503, logged as an
    /// error. Anything else is about the token (e.g. oidc-provider's `unsupported_token_type`
    /// for a JWT it will not introspect): the token is refused, like an inactive one.
    async fn refusal(
        &self,
        status: http::StatusCode,
        response: reqwest::Response,
    ) -> Result<Verdict, AuthError> {
        let body = self
            .config
            .http
            .read_body(response)
            .await
            .unwrap_or_default();
        let error = serde_json::from_slice::<Value>(&body)
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
        let now = now();
        if let Err(error) = check_times(
            answer.get("exp"),
            answer.get("nbf"),
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
        if !self.config.audiences.is_empty()
            && !self.config.audiences.iter().any(|a| claims.has_audience(a))
        {
            return refused(AuthError::invalid_token(
                "the token is for another audience",
            ));
        }
        let until_exp = claims.expires_at().map_or(self.max_ttl, |exp| {
            Duration::from_secs(exp.saturating_sub(now))
        });
        Verdict::Active {
            ttl: until_exp.min(self.max_ttl),
            claims,
        }
    }
}

#[async_trait]
impl Verifier for IntrospectionVerifier {
    async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.len() > self.config.max_token_len {
            return Err(AuthError::invalid_token("the token is too large"));
        }
        let verdict = match &self.cache {
            None => self.introspect(token).await?,
            Some(cache) => {
                let key = token_hash(token);
                cache
                    .try_get_with(key, self.introspect(token))
                    .await
                    .map_err(|shared| (*shared).clone())?
            }
        };
        match verdict {
            Verdict::Active { claims, .. } => {
                // The entry may outlive `exp` by the cache's timer granularity: check again.
                check_times(claims.get("exp"), None, false, self.config.leeway, now())?;
                Ok(claims)
            }
            Verdict::Refused(error) => Err(error),
        }
    }
}

/// Judges a raw introspection answer with a default verifier (for the fuzz targets).
#[cfg(feature = "fuzzing")]
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
        )
        .ok()
        .map(|verifier| verifier.with_audience("api").without_cache())
    });
    let Some(verifier) = verifier else {
        return Err(AuthError::upstream("no verifier"));
    };
    match verifier.judge(value) {
        Verdict::Active { claims, .. } => Ok(claims),
        Verdict::Refused(error) => Err(error),
    }
}
