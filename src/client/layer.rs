//! [`BearerLayer`]: adds `Authorization: Bearer <token>` to outgoing requests, or
//! `Authorization: DPoP <token>` and a fresh `DPoP` proof for DPoP-bound tokens.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;

use super::dpop::{DPOP, DPOP_NONCE, asks_for_nonce};
use super::error::TokenError;
use super::{AccessToken, TokenProvider};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Adds `Authorization: Bearer <token>` from a [`TokenProvider`] to every request of a tower
/// HTTP client, such as a tonic `Channel`.
///
/// ```no_run
/// # async fn run(channel: tonic::transport::Channel) {
/// use tower_authz::client::{BearerLayer, StaticToken};
///
/// let authed = tower::ServiceBuilder::new()
///     .layer(BearerLayer::new(StaticToken::new("my-personal-access-token")))
///     .service(channel);
/// // let mut client = MyServiceClient::new(authed);
/// # }
/// ```
///
/// If no token can be obtained, the request is not sent and the call fails with the
/// [`TokenError`] (boxed).
///
/// A [DPoP-bound](super::AccessToken::dpop_key) token (from a provider configured
/// [`with_dpop`](super::ClientCredentials::with_dpop)) is sent as `Authorization: DPoP <token>`
/// with a fresh `DPoP` proof for the request's method and URL (which must then be absolute, as
/// a hyper or reqwest-style client's are; a tonic `Channel` adds its origin below this layer,
/// so DPoP over a channel needs the origin in the request URI). A `DPoP-Nonce` in any answer
/// is remembered for that server and sent in the next proofs; a `401` with
/// `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a new nonce is retried once with it when
/// the request has an empty body (one that can be replayed), as RFC 9449 §9 expects; the
/// replay carries the method, URI, version and headers, not the request's extensions.
pub struct BearerLayer {
    provider: Arc<dyn TokenProvider>,
}

impl BearerLayer {
    /// Adds tokens from `provider`.
    pub fn new(provider: impl TokenProvider) -> Self {
        Self {
            provider: Arc::new(provider),
        }
    }

    /// Like [`new`](Self::new), sharing a provider that is already behind an `Arc`.
    pub fn from_arc(provider: Arc<dyn TokenProvider>) -> Self {
        Self { provider }
    }
}

impl Clone for BearerLayer {
    fn clone(&self) -> Self {
        Self {
            provider: Arc::clone(&self.provider),
        }
    }
}

impl fmt::Debug for BearerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = AddBearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AddBearer {
            inner,
            provider: Arc::clone(&self.provider),
        }
    }
}

/// The service built by [`BearerLayer`].
pub struct AddBearer<S> {
    inner: S,
    provider: Arc<dyn TokenProvider>,
}

impl<S: Clone> Clone for AddBearer<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            provider: Arc::clone(&self.provider),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for AddBearer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddBearer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B, RB> Service<Request<B>> for AddBearer<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Default + Send + 'static,
    RB: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let provider = Arc::clone(&self.provider);
        Box::pin(async move {
            let token = provider.token().await?;
            request
                .headers_mut()
                .insert(AUTHORIZATION, token.authorization()?);
            if token.dpop_key().is_none() {
                return inner.call(request).await.map_err(Into::into);
            }
            let url = request.uri().to_string();
            add_proof(&mut request, &token, &url)?;
            // Only an empty body can be sent again.
            let replay = request.body().is_end_stream().then(|| {
                let mut again = Request::new(B::default());
                *again.method_mut() = request.method().clone();
                *again.uri_mut() = request.uri().clone();
                *again.version_mut() = request.version();
                *again.headers_mut() = request.headers().clone();
                again
            });
            let response = inner.call(request).await.map_err(Into::into)?;
            match replay {
                Some(mut again) if asked_for_new_nonce(&response, &token, &url) => {
                    add_proof(&mut again, &token, &url)?;
                    std::future::poll_fn(|cx| inner.poll_ready(cx))
                        .await
                        .map_err(Into::into)?;
                    let response = inner.call(again).await.map_err(Into::into)?;
                    remember_nonce(&response, &token, &url);
                    Ok(response)
                }
                _ => Ok(response),
            }
        })
    }
}

/// Sets the `DPoP` header: a fresh proof of `token`'s key for this request.
fn add_proof<B>(
    request: &mut Request<B>,
    token: &AccessToken,
    url: &str,
) -> Result<(), TokenError> {
    if let Some(proof) = token.proof_header(request.method().as_str(), url)? {
        request.headers_mut().insert(DPOP, proof);
    }
    Ok(())
}

/// Remembers the answer's `DPoP-Nonce` for the server; true if it is new.
fn remember_nonce<RB>(response: &Response<RB>, token: &AccessToken, url: &str) -> bool {
    match (response.headers().get(DPOP_NONCE), token.dpop_key()) {
        (Some(nonce), Some(key)) => key.remember_nonce(url, nonce),
        _ => false,
    }
}

/// Whether the answer is a `401` asking for a nonce (RFC 9449 §9) that it gave and that is new.
fn asked_for_new_nonce<RB>(response: &Response<RB>, token: &AccessToken, url: &str) -> bool {
    let new_nonce = remember_nonce(response, token, url);
    new_nonce
        && response.status() == StatusCode::UNAUTHORIZED
        && response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .any(asks_for_nonce)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use http::HeaderValue;

    use super::*;
    use crate::client::{DpopKey, StaticToken};

    /// A provider of one DPoP-bound token.
    struct Bound(AccessToken);

    #[async_trait::async_trait]
    impl TokenProvider for Bound {
        async fn token(&self) -> Result<AccessToken, TokenError> {
            Ok(self.0.clone())
        }
    }

    /// A server that answers `use_dpop_nonce` to a proof without its nonce, and records the
    /// requests' headers.
    #[derive(Clone, Default)]
    struct NonceServer {
        seen: Arc<Mutex<Vec<http::HeaderMap>>>,
    }

    impl Service<Request<String>> for NonceServer {
        type Response = Response<String>;
        type Error = BoxError;
        type Future = std::future::Ready<Result<Response<String>, BoxError>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<String>) -> Self::Future {
            let proof = request.headers().get(DPOP).and_then(|p| p.to_str().ok());
            let claims: serde_json::Value = proof
                .and_then(|p| p.split('.').nth(1))
                .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
                .and_then(|c| serde_json::from_slice(&c).ok())
                .unwrap_or_default();
            self.seen
                .lock()
                .expect("lock")
                .push(request.headers().clone());
            let mut response = Response::new(String::new());
            if claims["nonce"] != "server-nonce" {
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"DPoP error="use_dpop_nonce""#),
                );
                response
                    .headers_mut()
                    .insert(DPOP_NONCE, HeaderValue::from_static("server-nonce"));
            }
            std::future::ready(Ok(response))
        }
    }

    async fn call(layer: &BearerLayer, server: &NonceServer, body: &str) -> Response<String> {
        let mut service = layer.layer(server.clone());
        let request = Request::post("http://api.example/todos?page=1")
            .body(body.to_owned())
            .expect("request");
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .expect("ready");
        service.call(request).await.expect("answer")
    }

    #[tokio::test]
    async fn a_dpop_bound_token_goes_with_a_fresh_proof_and_the_nonce_is_retried_once() {
        let key = DpopKey::generate().expect("key");
        let token = AccessToken::new("tok", None, Duration::MAX).bound_to(Some(key.clone()));
        let layer = BearerLayer::new(Bound(token));
        let server = NonceServer::default();
        let response = call(&layer, &server, "").await;
        assert_eq!(response.status(), StatusCode::OK, "retried with the nonce");
        let seen = server.seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0]["authorization"], "DPoP tok");
        assert_ne!(seen[0][DPOP], seen[1][DPOP], "a fresh proof each time");
        // The nonce is remembered: the next call needs no retry.
        call(&layer, &server, "").await;
        assert_eq!(server.seen.lock().expect("lock").len(), 3);
        assert_eq!(
            key.nonce("http://api.example/").as_deref(),
            Some("server-nonce")
        );

        // A body that cannot be replayed is not sent twice: the 401 is the answer.
        let fresh = DpopKey::generate().expect("key");
        let token = AccessToken::new("tok", None, Duration::MAX).bound_to(Some(fresh));
        let server = NonceServer::default();
        let response = call(&BearerLayer::new(Bound(token)), &server, "{\"a\":1}").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(server.seen.lock().expect("lock").len(), 1);
    }

    #[tokio::test]
    async fn a_bearer_token_has_no_proof() {
        let server = NonceServer::default();
        let response = call(&BearerLayer::new(StaticToken::new("tok")), &server, "").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "no retry for Bearer"
        );
        let seen = server.seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0]["authorization"], "Bearer tok");
        assert!(seen[0].get(DPOP).is_none());
    }
}
