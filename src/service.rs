//! [`Auth`]: the service that [`AuthLayer`] wraps around yours.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{Request, Response};
use tower_service::Service;

use crate::claims::Claims;
use crate::error::{AuthError, AuthErrorKind};
use crate::layer::AuthLayer;
use crate::response::ResponseForAuthError;

/// Marks a request that [`AuthLayer`] let through without a token (optional mode), so that a
/// `Claims` extractor can tell "anonymous" (401) from "no layer installed" (500).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anonymous;

/// Verifies the token of each request before passing it on. Built by [`AuthLayer`].
pub struct Auth<S, R> {
    inner: S,
    // One reference count per request, not one per setting.
    layer: Arc<AuthLayer<R>>,
}

impl<S: Clone, R> Clone for Auth<S, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: Arc::clone(&self.layer),
        }
    }
}

impl<S: fmt::Debug, R: fmt::Debug> fmt::Debug for Auth<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, R> Auth<S, R> {
    /// Wraps `inner` with the settings of `layer`.
    pub fn new(inner: S, layer: AuthLayer<R>) -> Self {
        Self {
            inner,
            layer: Arc::new(layer),
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The response future of [`Auth`].
pub struct ResponseFuture<ResBody, E> {
    inner: Pin<Box<dyn Future<Output = Result<Response<ResBody>, E>> + Send>>,
}

impl<ResBody, E> fmt::Debug for ResponseFuture<ResBody, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<ResBody, E> Future for ResponseFuture<ResBody, E> {
    type Output = Result<Response<ResBody>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for Auth<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: ResponseForAuthError<ResBody>,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone is not ready; keep the one that is (tower's "cloning inner services" note).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = Arc::clone(&self.layer);
        ResponseFuture {
            inner: Box::pin(async move {
                let (mut parts, body) = request.into_parts();
                match authenticate(&layer, &parts).await {
                    Ok(Some(claims)) => {
                        parts.extensions.insert(claims);
                    }
                    Ok(None) => {
                        parts.extensions.insert(Anonymous);
                    }
                    Err(error) => {
                        log_refusal(&error);
                        let mut response = layer.responder.response_for(&error, &parts);
                        response.extensions_mut().insert(error);
                        return Ok(response);
                    }
                }
                inner.call(Request::from_parts(parts, body)).await
            }),
        }
    }
}

/// Finds the token and verifies it. `Ok(None)`: no token, and the layer is optional.
async fn authenticate<R>(layer: &AuthLayer<R>, parts: &Parts) -> Result<Option<Claims>, AuthError> {
    for source in layer.sources.iter() {
        if let Some(token) = source.extract(parts)? {
            return layer.verifier.verify(token).await.map(Some);
        }
    }
    if layer.optional {
        Ok(None)
    } else {
        Err(AuthError::missing_credentials())
    }
}

/// Logs a refusal without the token: the reason at debug, trouble with the provider at warn.
pub(crate) fn log_refusal(error: &AuthError) {
    match error.kind() {
        AuthErrorKind::Upstream => tracing::warn!(
            reason = error.description(),
            cause = ?std::error::Error::source(error).map(ToString::to_string),
            "request refused: the identity provider is unavailable"
        ),
        AuthErrorKind::NotConfigured => {
            tracing::error!(reason = error.description(), "request refused")
        }
        kind => {
            tracing::debug!(?kind, reason = error.description(), required = ?error.required(), "request refused")
        }
    }
}
