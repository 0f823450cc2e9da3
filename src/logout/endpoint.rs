//! [`BackChannelLogout`]: the endpoint where the identity provider's logouts arrive.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt as _, Limited};
use moka::sync::Cache;
use tower_service::Service;

use super::error::{LogoutError, LogoutErrorKind};
use super::token::{Window, judge};
use crate::clock::now;
use crate::error::{AuthErrorKind, ConfigError};
use crate::revocation::{Revocation, Revocations};
use crate::verifier::{JwksVerifier, JwtVerifier, Verifier};

/// How old a logout token may be by default.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(5 * 60);
/// The clock skew allowed on a logout token's `iat` by default.
const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// The largest form accepted (a logout token is a few hundred bytes).
const MAX_BODY: usize = 16 * 1024;

/// The keys a logout token is verified with: a [`JwksVerifier`] (the provider's JWKS, the
/// usual case) or a [`JwtVerifier`] (fixed keys). Its issuer is the provider's, its audience
/// is your client id at the provider (a logout token is addressed to the client registered
/// with the back-channel logout URI).
pub trait LogoutTokenKeys: sealed::Sealed {
    /// The verifier, turned to logout tokens.
    #[doc(hidden)]
    fn into_logout_verifier(self) -> Box<dyn Verifier>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::JwksVerifier {}
    impl Sealed for crate::JwtVerifier {}
}

impl LogoutTokenKeys for JwksVerifier {
    fn into_logout_verifier(self) -> Box<dyn Verifier> {
        Box::new(self.for_logout_tokens())
    }
}

impl LogoutTokenKeys for JwtVerifier {
    fn into_logout_verifier(self) -> Box<dyn Verifier> {
        Box::new(self.for_logout_tokens())
    }
}

/// OpenID Connect Back-Channel Logout 1.0: receives the provider's logout tokens and revokes
/// what they name in [`Revocations`], on every replica.
///
/// A tower [`Service`] for `POST` requests with a form body `logout_token=...` (mount it at
/// the URI registered with the provider, e.g. axum's `Router::route_service`). Each token:
///
/// 1. is verified like an ID token (§2.6): signature with the provider's keys (typed
///    `logout+jwt` or untyped; an access token cannot pass, nor a logout token as an access
///    token), `iss`, `aud` (your client id), `exp`;
/// 2. must carry the back-channel logout event in `events`, no `nonce`, a `jti`, `sub` or
///    `sid`, and an `iat` at most 5 minutes old ([`with_max_age`](Self::with_max_age));
/// 3. revokes its session (`sid`), or without one its subject (`sub`), from its `iat` on the
///    provider's clock: that session's or subject's tokens issued until then are refused;
/// 4. is refused if its `jti` was used before, on any replica (with a store).
///
/// Answers (§2.8): `200` with `Cache-Control: no-store` when done; `400` with
/// `{"error":"invalid_request","error_description":...}` for a bad request or token; `503`
/// when the keys could not be fetched or the revocation could not be shared (it holds on this
/// replica; the provider may retry); `405` for another method. Once the body is read, the
/// logout runs in a task of its own: a provider that hangs up early does not cancel it.
///
/// Access tokens without `sid` (oidc-provider's, by default) are not refused by a session's
/// logout: [`with_session_logout_revoking_subject`](Self::with_session_logout_revoking_subject)
/// makes it revoke the user's tokens. Logout tokens are addressed to one client id: with
/// several, mount one endpoint per client id, all with the same [`Revocations`].
///
/// ```
/// use axum::Router;
/// use tower_authz::{AuthLayer, BackChannelLogout, JwksVerifier, Revocable, Revocations};
///
/// let issuer = "https://id.example.com";
/// let revocations = Revocations::new();
/// let api = AuthLayer::new(Revocable::new(
///     JwksVerifier::discover(issuer, "api")?,
///     revocations.clone(),
/// ));
/// // The provider sends logout tokens for the client "my-app" to /backchannel-logout.
/// let logout = BackChannelLogout::new(JwksVerifier::discover(issuer, "my-app")?, revocations);
/// let app: Router = Router::new()
///     .route("/orders", axum::routing::get(|| async { "orders" }))
///     .layer(api)
///     .route_service("/backchannel-logout", logout);
/// # Ok::<(), tower_authz::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct BackChannelLogout {
    inner: Arc<Inner>,
}

struct Inner {
    verifier: Arc<dyn Verifier>,
    revocations: Revocations,
    window: Window,
    /// The `jti`s seen by this process (used without a store, or when it fails).
    seen: Cache<String, ()>,
}

impl fmt::Debug for BackChannelLogout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackChannelLogout")
            .field("revocations", &self.inner.revocations)
            .field("window", &self.inner.window)
            .finish_non_exhaustive()
    }
}

impl BackChannelLogout {
    /// An endpoint verifying logout tokens with `keys` (issuer: the provider; audience: your
    /// client id) and recording their logouts in `revocations`. No I/O here.
    pub fn new(keys: impl LogoutTokenKeys, revocations: Revocations) -> Self {
        Self::build(
            Arc::from(keys.into_logout_verifier()),
            revocations,
            Window {
                max_age: DEFAULT_MAX_AGE.as_secs(),
                leeway: DEFAULT_LEEWAY.as_secs(),
                session_revokes_subject: false,
            },
        )
    }

    /// An endpoint for the provider `issuer` (its keys found by discovery) and your client
    /// `client_id`. A URL that is not https (loopback excepted) is a [`ConfigError`].
    pub fn discover(
        issuer: &str,
        client_id: &str,
        revocations: Revocations,
    ) -> Result<Self, ConfigError> {
        Ok(Self::new(
            JwksVerifier::discover(issuer, client_id)?,
            revocations,
        ))
    }

    fn build(verifier: Arc<dyn Verifier>, revocations: Revocations, window: Window) -> Self {
        let seen = Cache::builder()
            .time_to_live(Duration::from_secs(window.max_age + window.leeway))
            .build();
        Self {
            inner: Arc::new(Inner {
                verifier,
                revocations,
                window,
                seen,
            }),
        }
    }

    /// The same endpoint with `window` (and a fresh replay cache): a setting made while
    /// building.
    fn rebuild(self, window: Window) -> Self {
        let inner = &self.inner;
        Self::build(
            Arc::clone(&inner.verifier),
            inner.revocations.clone(),
            window,
        )
    }

    /// How old a logout token may be (from its `iat`). Default: 5 minutes.
    pub fn with_max_age(self, max_age: Duration) -> Self {
        let window = Window {
            max_age: max_age.as_secs(),
            ..self.inner.window
        };
        self.rebuild(window)
    }

    /// The clock skew allowed on `iat` in the future. Default: 60 seconds.
    pub fn with_leeway(self, leeway: Duration) -> Self {
        let window = Window {
            leeway: leeway.as_secs(),
            ..self.inner.window
        };
        self.rebuild(window)
    }

    /// Makes a session's logout (a token with `sid` and `sub`) revoke every token of its
    /// subject, not only the session's: for access tokens that carry no `sid` (the logout of
    /// one session then ends the user's other sessions here too). Default: only the session,
    /// as the specification says.
    pub fn with_session_logout_revoking_subject(self) -> Self {
        let window = Window {
            session_revokes_subject: true,
            ..self.inner.window
        };
        self.rebuild(window)
    }

    /// Handles one logout token: verifies it, then revokes what it names. Returns what was
    /// revoked. For use outside tower; the [`Service`] calls this with the form's token.
    pub async fn receive(&self, logout_token: &str) -> Result<Revocation, LogoutError> {
        let inner = &self.inner;
        let claims = inner.verifier.verify(logout_token).await.map_err(|error| {
            if error.kind() == AuthErrorKind::Upstream {
                LogoutError::new(
                    LogoutErrorKind::Unavailable,
                    "the provider's keys could not be fetched",
                )
            } else {
                LogoutError::new(LogoutErrorKind::InvalidToken, error.description())
            }
        })?;
        let judged = judge(&claims, inner.window, now())?;
        // The revocation is idempotent (its time is the token's `iat`), so it is made before
        // the replay check: a provider that retries after a 503 gets it done.
        inner
            .revocations
            .revoke(judged.revocation.clone())
            .await
            .map_err(|_| {
                LogoutError::new(
                    LogoutErrorKind::Unavailable,
                    "the logout holds here but could not be shared with the other replicas",
                )
            })?;
        let key = format!("{}\n{}", claims.issuer().unwrap_or_default(), judged.jti);
        let ttl = Duration::from_secs(
            (judged.issued_at + inner.window.max_age + inner.window.leeway)
                .saturating_sub(now())
                .max(1),
        );
        let local = || {
            inner
                .seen
                .entry(key.clone())
                .or_insert_with(|| ())
                .is_fresh()
        };
        let first = match inner.revocations.first_use(&key, ttl, local).await {
            Ok(first) => first,
            Err(_) => local(),
        };
        if !first {
            return Err(LogoutError::new(
                LogoutErrorKind::InvalidToken,
                "the logout token was used before",
            ));
        }
        Ok(judged.revocation)
    }

    /// Handles a request's form body (`application/x-www-form-urlencoded`).
    pub async fn receive_form(&self, form: &[u8]) -> Result<Revocation, LogoutError> {
        let mut tokens = form_urlencoded::parse(form)
            .filter(|(name, _)| name == "logout_token")
            .map(|(_, value)| value);
        let (Some(token), None) = (tokens.next(), tokens.next()) else {
            return Err(LogoutError::new(
                LogoutErrorKind::InvalidRequest,
                "the request must carry one logout_token",
            ));
        };
        self.receive(&token).await
    }

    /// Handles `form` in a task of its own, so that the logout completes even if the provider
    /// hangs up first (oidc-provider gives up after 2.5 s and never sends it again, while the
    /// first logout token may wait for discovery and the JWKS).
    async fn receive_detached(&self, form: Vec<u8>) -> Result<Revocation, LogoutError> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.receive_form(&form).await;
        };
        let endpoint = self.clone();
        runtime
            .spawn(async move { endpoint.receive_form(&form).await })
            .await
            .unwrap_or_else(|_| {
                Err(LogoutError::new(
                    LogoutErrorKind::Unavailable,
                    "the logout did not complete",
                ))
            })
    }

    async fn answer<B>(self, request: Request<B>) -> Response<String>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if request.method() != Method::POST {
            let mut response = reply(StatusCode::METHOD_NOT_ALLOWED, String::new());
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| {
                media
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        let outcome = if is_form {
            match Limited::new(request.into_body(), MAX_BODY).collect().await {
                Ok(body) => self.receive_detached(body.to_bytes().to_vec()).await,
                Err(_) => Err(LogoutError::new(
                    LogoutErrorKind::InvalidRequest,
                    "the request body could not be read or is too large",
                )),
            }
        } else {
            Err(LogoutError::new(
                LogoutErrorKind::InvalidRequest,
                "the request must be an application/x-www-form-urlencoded form",
            ))
        };
        match outcome {
            Ok(revocation) => {
                tracing::info!(?revocation, "back-channel logout");
                reply(StatusCode::OK, String::new())
            }
            Err(error) => {
                tracing::info!(reason = error.description(), "back-channel logout refused");
                let body = serde_json::json!({
                    "error": "invalid_request",
                    "error_description": error.description(),
                });
                let mut response = reply(error.kind().status(), body.to_string());
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                if error.kind() == LogoutErrorKind::Unavailable {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                }
                response
            }
        }
    }
}

/// A response that no cache keeps (§2.8).
fn reply(status: StatusCode, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl<B> Service<Request<B>> for BackChannelLogout
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.answer(request).await) })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"fuzzing-secret-fuzzing-secret-32";

    fn sign(header: serde_json::Value, claims: serde_json::Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    fn logout_token(jti: &str) -> String {
        let now = now();
        sign(
            json!({"alg": "HS256", "typ": "logout+jwt"}),
            json!({
                "iss": "https://issuer.example", "aud": "api", "iat": now, "exp": now + 120,
                "jti": jti, "sid": "s1", "sub": "alice",
                "events": {super::super::token::BACKCHANNEL_LOGOUT_EVENT: {}}
            }),
        )
    }

    #[tokio::test]
    async fn a_form_with_a_good_token_revokes_its_session_once() {
        let revocations = Revocations::new();
        let keys = JwtVerifier::new("https://issuer.example", "api")
            .with_hmac_secret(SECRET)
            .unwrap();
        let endpoint = BackChannelLogout::new(keys, revocations);
        let form = format!("logout_token={}", logout_token("j1"));
        let revocation = endpoint.receive_form(form.as_bytes()).await.unwrap();
        assert!(matches!(revocation, Revocation::Session { ref session, .. } if session == "s1"));
        let replay = endpoint.receive_form(form.as_bytes()).await.unwrap_err();
        assert_eq!(replay.description(), "the logout token was used before");
        // A clone with other settings keeps the keys and the revocations.
        let older = endpoint.clone().with_max_age(Duration::from_secs(1));
        let form = format!("logout_token={}", logout_token("j2"));
        assert!(older.receive_form(form.as_bytes()).await.is_ok());
    }

    #[test]
    fn the_fuzz_targets_endpoint_takes_the_whole_path() {
        let form = format!("logout_token={}", logout_token("j3"));
        assert!(crate::fuzzing::logout_form(form.as_bytes()).is_ok());
        assert!(crate::fuzzing::logout_form(b"logout_token=%ff%fe").is_err());
        assert!(crate::fuzzing::logout_form(b"").is_err());
    }
}
