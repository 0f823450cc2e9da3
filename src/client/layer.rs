//! [`BearerLayer`]: adds `Authorization: Bearer <token>` to outgoing requests.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use tower_layer::Layer;
use tower_service::Service;

use super::TokenProvider;
use super::error::{TokenError, TokenErrorKind};

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

impl<S, B> Service<Request<B>> for AddBearer<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
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
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.as_str())).map_err(|_| {
                    TokenError::new(
                        TokenErrorKind::InvalidResponse,
                        "the access token cannot be sent in a header",
                    )
                })?;
            value.set_sensitive(true);
            request.headers_mut().insert(AUTHORIZATION, value);
            inner.call(request).await.map_err(Into::into)
        })
    }
}
