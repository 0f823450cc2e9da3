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
use crate::layer::{AuthLayer, Settings};
use crate::response::ResponseForAuthError;

/// Marks a request that [`AuthLayer`] let through without a token (optional mode), so that a
/// `Claims` extractor can tell "anonymous" (401) from "no layer installed" (500).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anonymous;

/// Verifies the token of each request before passing it on. Built by [`AuthLayer`].
pub struct Auth<S, R> {
    inner: S,
    layer: Arc<Settings<R>>,
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
            layer: layer.settings,
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

pin_project_lite::pin_project! {
    /// The response future of [`Auth`].
    pub struct ResponseFuture<F: Future> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F: Future> {
        // Verified without waiting: the inner service's future.
        Inner { #[pin] future: F },
        // Refused without waiting.
        Refused { response: Option<F::Output> },
        // The verifier had to wait (a key fetch, an introspection call).
        Waiting { future: Pin<Box<dyn Future<Output = F::Output> + Send>> },
    }
}

impl<F: Future> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F: Future> Future for ResponseFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(response),
                // Polled again after completion: a caller bug; stay pending rather than panic.
                None => Poll::Pending,
            },
            KindProj::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}

/// What the layer can tell without waiting.
enum Now {
    /// Pass the request on (claims or the anonymous marker are in its extensions).
    Pass,
    Refuse(AuthError),
    /// The verifier must wait for something.
    Wait,
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
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        // The hot path: a token the verifier can answer for at once (a verified-token cache
        // hit, fixed keys) costs no allocation, no reference count and no lock here.
        match decide_now(&self.layer, &mut parts) {
            Now::Pass => {
                let future = self.inner.call(Request::from_parts(parts, body));
                ResponseFuture {
                    kind: Kind::Inner { future },
                }
            }
            Now::Refuse(error) => ResponseFuture {
                kind: Kind::Refused {
                    response: Some(Ok(refusal(&self.layer, error, &parts))),
                },
            },
            Now::Wait => {
                // The clone is not ready; keep the one that is (tower's "cloning inner
                // services" note).
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let layer = Arc::clone(&self.layer);
                ResponseFuture {
                    kind: Kind::Waiting {
                        future: Box::pin(async move {
                            match authenticate(&layer, &parts).await {
                                Ok(claims) => {
                                    parts.extensions.insert(claims);
                                }
                                Err(error) => return Ok(refusal(&layer, error, &parts)),
                            }
                            inner.call(Request::from_parts(parts, body)).await
                        }),
                    },
                }
            }
        }
    }
}

/// Finds the token and, if the verifier can answer at once, decides.
fn decide_now<R>(layer: &Settings<R>, parts: &mut Parts) -> Now {
    let claims = match find_token(layer, parts) {
        Err(error) => return Now::Refuse(error),
        Ok(None) if layer.optional => {
            parts.extensions.insert(Anonymous);
            return Now::Pass;
        }
        Ok(None) => return Now::Refuse(AuthError::missing_credentials()),
        Ok(Some(token)) => match layer.verifier.verify_now(token) {
            None => return Now::Wait,
            Some(Err(error)) => return Now::Refuse(error),
            Some(Ok(claims)) => claims,
        },
    };
    parts.extensions.insert(claims);
    Now::Pass
}

/// The token of the first source that has one.
fn find_token<'a, R>(layer: &Settings<R>, parts: &'a Parts) -> Result<Option<&'a str>, AuthError> {
    for source in layer.sources.iter() {
        if let Some(token) = source.extract(parts)? {
            return Ok(Some(token));
        }
    }
    Ok(None)
}

/// Verifies the token, waiting as needed (only reached when a token was found).
async fn authenticate<R>(layer: &Settings<R>, parts: &Parts) -> Result<Claims, AuthError> {
    match find_token(layer, parts)? {
        Some(token) => layer.verifier.verify(token).await,
        None => Err(AuthError::missing_credentials()),
    }
}

/// The refusal response, with the error logged and put in its extensions.
fn refusal<R, B>(layer: &Settings<R>, error: AuthError, parts: &Parts) -> Response<B>
where
    R: ResponseForAuthError<B>,
{
    log_refusal(&error);
    let mut response = layer.responder.response_for(&error, parts);
    response.extensions_mut().insert(error);
    response
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
