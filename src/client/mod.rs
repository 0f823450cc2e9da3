//! The client side, for daemons and service accounts calling protected APIs (feature `client`).
//!
//! A [`TokenProvider`] gives an access token:
//!
//! | provider | for |
//! |---|---|
//! | [`StaticToken`] | a fixed token, e.g. a ZITADEL personal access token |
//! | [`ClientCredentials`] | OAuth 2.0 client credentials with a secret (Entra daemons: scope `api://<app>/.default`) |
//! | [`JwtBearer`] | RFC 7523 JWT-bearer grant with a ZITADEL service-account key file |
//!
//! The OAuth providers cache their token and refresh it ahead of expiry; concurrent callers share
//! one refresh; a failed refresh is a [`TokenError`], never an expired token.
//!
//! The token endpoint's `expires_in` is read as whole or fractional seconds, as a number or a
//! string, and clamped: a token is held for at least 10 seconds (so an answer of `0`, `-5` or
//! `1` costs one token request every 5 seconds, not one per call; a token that really expires
//! sooner is sent past its expiry for at most that long) and at most 24 hours (so
//! `18446744073709551615` is one day). Without `expires_in` a token is held for 5 minutes. A
//! refresh that panics or is dropped (its runtime shut down) fails only the calls waiting for
//! it: the next call starts a new one.
//!
//! To send the token: [`BearerLayer`] on any tower HTTP client (a tonic `Channel` included), or
//! [`RequestBuilderExt::bearer_from`] / [`send_with`](RequestBuilderExt::send_with) on a reqwest
//! request.
//!
//! **DPoP** (RFC 9449): with [`ClientCredentials::with_dpop`] or [`JwtBearer::with_dpop`] and a
//! [`DpopKey`], the token requests carry a proof (retried once with the server's nonce when it
//! answers `use_dpop_nonce`), the answer must be a `DPoP` token (a `Bearer` one is
//! [`TokenErrorKind::NotDpopBound`]), and the tokens handed out carry the key
//! ([`AccessToken::dpop_key`]): the layer and the reqwest helpers then send
//! `Authorization: DPoP <token>` with a fresh proof for each request, and retry a
//! `use_dpop_nonce` refusal once where the request can be replayed.
//!
//! ```no_run
//! use tower_authz::client::{ClientCredentials, RequestBuilderExt};
//! use tower_authz::ClientAuth;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tokens = ClientCredentials::discover(
//!     "https://login.microsoftonline.com/<tenant>/v2.0",
//!     ClientAuth::post("<daemon client id>", "<secret>"),
//! )?
//! .with_scope("api://<api app id>/.default");
//!
//! let todos = reqwest::Client::new()
//!     .get("https://localhost:44351/api/todolist")
//!     .bearer_from(&tokens)
//!     .await?
//!     .send()
//!     .await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

mod dpop;
mod error;
mod grant;
mod layer;
mod refresh;
mod reqwest_ext;

pub use dpop::DpopKey;
pub use error::{TokenError, TokenErrorKind};
pub use layer::{AddBearer, BearerLayer};
pub use reqwest_ext::RequestBuilderExt;

use crate::credentials::{ClientAuth, ServiceAccountKey};
use crate::error::ConfigError;
use crate::provider::url::ProviderUrl;
use grant::{ClientCredentialsGrant, JwtBearerGrant, TokenEndpoint};
use refresh::Refreshing;

/// An access token. Its value is never shown by `Debug`.
#[derive(Clone)]
pub struct AccessToken {
    value: Arc<str>,
    expires_at: Option<Instant>,
    lifetime: Duration,
    dpop: Option<DpopKey>,
}

impl AccessToken {
    /// A token that expires at `expires_at` (`None`: never, as for a static token).
    pub(crate) fn new(
        value: impl Into<Arc<str>>,
        expires_at: Option<Instant>,
        lifetime: Duration,
    ) -> Self {
        Self {
            value: value.into(),
            expires_at,
            lifetime,
            dpop: None,
        }
    }

    /// The same token, bound to `key` (RFC 9449) if `Some`.
    pub(crate) fn bound_to(mut self, key: Option<DpopKey>) -> Self {
        self.dpop = key;
        self
    }

    /// The token, to send as `Authorization: Bearer <token>` (or `DPoP <token>` with a proof
    /// when it is [DPoP-bound](Self::dpop_key)).
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The key the token is bound to, if the token endpoint issued it as a DPoP token
    /// (`token_type` `DPoP`, RFC 9449 §5): every request that sends it needs a fresh proof
    /// signed with this key ([`DpopKey::proof`]). [`BearerLayer`] and
    /// [`RequestBuilderExt::bearer_from`] do that.
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop.as_ref()
    }

    /// The `Authorization` scheme to send the token with: `DPoP` or `Bearer`.
    pub fn scheme(&self) -> &'static str {
        if self.dpop.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }

    /// `Authorization: <scheme> <token>`, marked sensitive.
    pub(crate) fn authorization(&self) -> Result<http::HeaderValue, TokenError> {
        let mut value = http::HeaderValue::from_str(&format!("{} {}", self.scheme(), self.value))
            .map_err(|_| {
            TokenError::new(
                TokenErrorKind::InvalidResponse,
                "the access token cannot be sent in a header",
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// A fresh `DPoP` header for a `method` request to `url` if the token is DPoP-bound, with
    /// the nonce last remembered for that server.
    pub(crate) fn proof_header(
        &self,
        method: &str,
        url: &str,
    ) -> Result<Option<http::HeaderValue>, TokenError> {
        let Some(key) = &self.dpop else {
            return Ok(None);
        };
        let proof = key.proof_for(method, url, Some(&self.value))?;
        http::HeaderValue::try_from(proof)
            .map(Some)
            .map_err(|_| TokenError::new(TokenErrorKind::Internal, "cannot send the DPoP proof"))
    }

    /// When the token expires, if known.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at
    }

    /// Whether the token has expired.
    pub fn is_expired(&self) -> bool {
        self.expires_at.is_some_and(|at| Instant::now() >= at)
    }

    /// Whether less than `min(ahead, lifetime / 2)` is left: time to get a new one. The half
    /// keeps a short-lived token (10 s, the shortest the cache holds) from needing a refresh on
    /// every call when the refresh-ahead margin (60 s by default) is longer than it.
    pub(crate) fn needs_refresh(&self, ahead: Duration) -> bool {
        let margin = ahead.min(self.lifetime / 2);
        self.expires_at.is_some_and(|at| {
            Instant::now()
                .checked_add(margin)
                .is_none_or(|refresh_at| refresh_at >= at)
        })
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"<redacted>")
            .field("scheme", &self.scheme())
            .field(
                "expires_in",
                &self
                    .expires_at
                    .map(|at| at.saturating_duration_since(Instant::now())),
            )
            .finish()
    }
}

/// Gives an access token for outgoing requests.
///
/// Dyn-compatible: store it as `Arc<dyn TokenProvider>`.
#[async_trait]
pub trait TokenProvider: Send + Sync + 'static {
    /// A token valid for now, obtaining or refreshing it if needed.
    async fn token(&self) -> Result<AccessToken, TokenError>;
}

#[async_trait]
impl<P: TokenProvider + ?Sized> TokenProvider for Arc<P> {
    async fn token(&self) -> Result<AccessToken, TokenError> {
        (**self).token().await
    }
}

/// A fixed token, such as a ZITADEL personal access token (PAT).
#[derive(Clone)]
pub struct StaticToken(AccessToken);

impl StaticToken {
    /// Always gives `token`.
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self(AccessToken::new(token, None, Duration::MAX))
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken(<redacted>)")
    }
}

#[async_trait]
impl TokenProvider for StaticToken {
    async fn token(&self) -> Result<AccessToken, TokenError> {
        Ok(self.0.clone())
    }
}

/// The ZITADEL scope that puts project `project_id` into the token's audience:
/// `urn:zitadel:iam:org:project:id:{project_id}:aud` (`zitadel` for ZITADEL's own APIs).
///
/// ```
/// assert_eq!(
///     tower_authz::client::zitadel_audience_scope("170078979166961921"),
///     "urn:zitadel:iam:org:project:id:170078979166961921:aud"
/// );
/// ```
pub fn zitadel_audience_scope(project_id: &str) -> String {
    format!("urn:zitadel:iam:org:project:id:{project_id}:aud")
}

/// The settings every OAuth provider shares, forwarded to its token endpoint.
macro_rules! endpoint_setters {
    () => {
        /// How long before expiry the token is refreshed (at most half its lifetime, so a
        /// 10 s token is refreshed after 5 s whatever this says). Default: 60 seconds.
        pub fn with_refresh_ahead(mut self, ahead: Duration) -> Self {
            self.inner.refresh_ahead = ahead;
            self
        }

        /// The timeout of each request to the token endpoint (and of its discovery), also with
        /// a client given to [`with_http_client`](Self::with_http_client) (in either order).
        /// Default: 5 seconds.
        pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
            self.inner.grant_mut().endpoint.http.set_timeout(timeout)?;
            Ok(self)
        }

        /// Uses your own HTTP client (proxies, private roots, pinning).
        ///
        /// Each request still gets this provider's timeout
        /// ([`with_timeout`](Self::with_timeout), default 5 s) in place of the client's own.
        /// Build the client with `.redirect(reqwest::redirect::Policy::none())`: a token
        /// request is never redirected (the credentials would go elsewhere), and an answer that
        /// came from another URL than the token endpoint is refused.
        pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
            self.inner.grant_mut().endpoint.http.set_client(client);
            self
        }

        /// Asks for DPoP-bound tokens (RFC 9449): each token request carries a proof signed
        /// with `key` (retried once with the server's nonce when it answers `use_dpop_nonce`),
        /// the answer must be `token_type` `DPoP` (a `Bearer` answer is a
        /// [`TokenErrorKind::NotDpopBound`] error), and the tokens handed out carry the key
        /// ([`AccessToken::dpop_key`]), so that [`BearerLayer`] and
        /// [`RequestBuilderExt::bearer_from`] send them as `Authorization: DPoP` with a fresh
        /// proof per request.
        pub fn with_dpop(mut self, key: DpopKey) -> Self {
            self.inner.grant_mut().endpoint.dpop = Some(key);
            self
        }

        /// After a failed discovery of the token endpoint, how long calls fail at once before
        /// discovery is tried again. Default: 5 seconds; at least 1 second.
        pub fn with_retry_interval(mut self, interval: Duration) -> Self {
            self.inner.grant_mut().endpoint.retry =
                interval.max(crate::provider::fetch::MIN_RETRY_INTERVAL);
            self
        }
    };
}

/// OAuth 2.0 client credentials (RFC 6749 §4.4) with a client secret or key.
///
/// ```
/// use tower_authz::ClientAuth;
/// use tower_authz::client::ClientCredentials;
///
/// let tokens = ClientCredentials::new(
///     "https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token",
///     ClientAuth::post("<client id>", "<secret>"),
/// )
/// .unwrap()
/// .with_scope("api://<api app id>/.default");
/// ```
#[derive(Debug)]
pub struct ClientCredentials {
    inner: Refreshing<ClientCredentialsGrant>,
}

impl ClientCredentials {
    /// The token endpoint of `issuer`, found by discovery (RFC 8414 or OIDC metadata, as
    /// [`JwksVerifier::discover`](crate::JwksVerifier::discover) looks for it). Assertions (for
    /// `private_key_jwt` client authentication) get `aud` = `issuer`.
    ///
    /// `issuer` must be `https://` (or `http://` to a loopback host), and so must the
    /// discovered token endpoint of an `https://` issuer; see [`ProviderUrl`] for the opt-out.
    pub fn discover(issuer: impl Into<ProviderUrl>, auth: ClientAuth) -> Result<Self, ConfigError> {
        Ok(Self::with_endpoint(
            TokenEndpoint::discover(&issuer.into())?,
            auth,
        ))
    }

    /// A known token endpoint. Assertions get `aud` = the token endpoint. `token_endpoint`
    /// must be `https://` (or `http://` to a loopback host); see [`ProviderUrl`] for the
    /// opt-out.
    pub fn new(
        token_endpoint: impl Into<ProviderUrl>,
        auth: ClientAuth,
    ) -> Result<Self, ConfigError> {
        Ok(Self::with_endpoint(
            TokenEndpoint::fixed(&token_endpoint.into())?,
            auth,
        ))
    }

    fn with_endpoint(endpoint: TokenEndpoint, auth: ClientAuth) -> Self {
        Self {
            inner: Refreshing::new(ClientCredentialsGrant {
                endpoint,
                auth,
                scopes: Vec::new(),
                resources: Vec::new(),
            }),
        }
    }

    /// Asks for `scope` (space-separated values allowed; may be called several times), e.g.
    /// Entra's `api://<app id>/.default`.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.inner.grant_mut().scopes.push(scope.into());
        self
    }

    /// Asks for a token for `resource` (RFC 8707 resource indicator). May be repeated, but
    /// some servers (oidc-provider among them) accept only one resource per client-credentials
    /// request and answer `invalid_target` to several.
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.inner.grant_mut().resources.push(resource.into());
        self
    }

    endpoint_setters!();
}

#[async_trait]
impl TokenProvider for ClientCredentials {
    async fn token(&self) -> Result<AccessToken, TokenError> {
        self.inner.token().await
    }
}

/// The JWT-bearer grant (RFC 7523 §2.1) with a ZITADEL service-account key file: an RS256
/// assertion with `iss` = `sub` = the user id, `aud` = the issuer, `kid` = the key id.
///
/// ```no_run
/// use tower_authz::ServiceAccountKey;
/// use tower_authz::client::{JwtBearer, zitadel_audience_scope};
///
/// let key = ServiceAccountKey::from_file("service-account.json").unwrap();
/// let tokens = JwtBearer::discover("https://my-instance.zitadel.cloud", key)
///     .unwrap()
///     .with_scope(zitadel_audience_scope("170078979166961921"));
/// ```
#[derive(Debug)]
pub struct JwtBearer {
    inner: Refreshing<JwtBearerGrant>,
}

impl JwtBearer {
    /// The token endpoint of `issuer`, found by discovery (RFC 8414 or OIDC metadata, as
    /// [`JwksVerifier::discover`](crate::JwksVerifier::discover) looks for it); assertions get
    /// `aud` = `issuer`.
    /// The scope starts as `openid`.
    ///
    /// `issuer` must be `https://` (or `http://` to a loopback host), and so must the
    /// discovered token endpoint of an `https://` issuer; see [`ProviderUrl`] for the opt-out.
    pub fn discover(
        issuer: impl Into<ProviderUrl>,
        key: ServiceAccountKey,
    ) -> Result<Self, ConfigError> {
        Ok(Self::with_endpoint(
            TokenEndpoint::discover(&issuer.into())?,
            key,
        ))
    }

    /// A known token endpoint of `issuer`; assertions get `aud` = `issuer`. `token_endpoint`
    /// must be `https://` (or `http://` to a loopback host); see [`ProviderUrl`] for the
    /// opt-out.
    pub fn new(
        issuer: &str,
        token_endpoint: impl Into<ProviderUrl>,
        key: ServiceAccountKey,
    ) -> Result<Self, ConfigError> {
        let mut endpoint = TokenEndpoint::fixed(&token_endpoint.into())?;
        endpoint.audience = issuer.to_owned();
        Ok(Self::with_endpoint(endpoint, key))
    }

    fn with_endpoint(endpoint: TokenEndpoint, key: ServiceAccountKey) -> Self {
        Self {
            inner: Refreshing::new(JwtBearerGrant {
                endpoint,
                key,
                scopes: vec!["openid".to_owned()],
            }),
        }
    }

    /// Adds `scope`, e.g. [`zitadel_audience_scope`]`(project_id)`.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.inner.grant_mut().scopes.push(scope.into());
        self
    }

    endpoint_setters!();
}

#[async_trait]
impl TokenProvider for JwtBearer {
    async fn token(&self) -> Result<AccessToken, TokenError> {
        self.inner.token().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_margin_is_at_most_half_the_lifetime() {
        let lifetime = Duration::from_secs(60);
        let token = AccessToken::new("t", Some(Instant::now() + lifetime), lifetime);
        // With a 60 s margin on a 60 s token we would refresh on every call; half it is.
        assert!(!token.needs_refresh(Duration::from_secs(60)));
        assert!(!token.needs_refresh(Duration::from_secs(3600)));
        let short = AccessToken::new("t", Some(Instant::now() + Duration::from_secs(1)), lifetime);
        assert!(short.needs_refresh(Duration::from_secs(60)));
        // The shortest lifetime the cache gives a token, with the default margin: fresh for
        // half of it.
        let lifetime = refresh::MIN_LIFETIME;
        let shortest = AccessToken::new("t", Some(Instant::now() + lifetime), lifetime);
        assert!(!shortest.needs_refresh(refresh::DEFAULT_REFRESH_AHEAD));
        assert!(!shortest.needs_refresh(Duration::MAX));
        // A margin too large for the clock is "refresh now", not an overflow.
        let huge = AccessToken::new("t", Some(Instant::now()), Duration::MAX);
        assert!(huge.needs_refresh(Duration::MAX));
    }

    #[test]
    fn debug_redacts() {
        assert_eq!(
            format!("{:?}", StaticToken::new("secret-pat")),
            "StaticToken(<redacted>)"
        );
        let token = AccessToken::new("secret", None, Duration::MAX);
        assert!(!format!("{token:?}").contains("secret"));
    }
}
