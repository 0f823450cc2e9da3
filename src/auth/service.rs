//! [`Auth`]: the service that [`AuthLayer`](super::AuthLayer) wraps around yours.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{Request, Response};
use tower_service::Service;

use super::Settings;
use super::dpop;
use super::future::ResponseFuture;
use crate::answer::Pending;
use crate::claims::Anonymous;
use crate::claims::Claims;
use crate::error::AuthError;
use crate::response::{LayerResponder, ResponseForAuthError, refusal};
use crate::telemetry::{Outcome, VerifySpan};
use crate::verifier::Verification;

/// Verifies the token of each request before passing it on. Built by
/// [`AuthLayer`](super::AuthLayer).
pub struct Auth<S, R> {
    inner: S,
    settings: Arc<Settings<R>>,
}

impl<S: Clone, R> Clone for Auth<S, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            settings: Arc::clone(&self.settings),
        }
    }
}

impl<S: fmt::Debug, R: fmt::Debug> fmt::Debug for Auth<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("inner", &self.inner)
            .field("settings", &self.settings)
            .finish()
    }
}

impl<S, R> Auth<S, R> {
    /// Wraps `inner` with `settings` (the public door is `Auth::new`, next to the layer).
    pub(super) fn with_settings(inner: S, settings: Arc<Settings<R>>) -> Self {
        Self { inner, settings }
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

/// What the layer decided about a request, with one look for the token and one question to
/// the verifier.
enum Decision {
    /// Pass the request on (claims or the anonymous marker are in its extensions).
    Pass,
    Refuse(AuthError),
    /// The verifier has to wait for something (a key fetch, an introspection call).
    Wait(Pending<Claims>),
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
        // hit, fixed keys, an introspection cache hit) costs no allocation, no reference count
        // and no lock here with the default responder; your own responder adds one reference
        // count and its extension. Without a tracing subscriber or metrics recorder, the
        // verification span is a disabled one and no clock is read.
        let observed = VerifySpan::start();
        match decide(&self.settings, &mut parts, &observed) {
            Decision::Pass => {
                insert_responder::<R, ResBody>(&self.settings, &mut parts);
                ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)))
            }
            Decision::Refuse(error) => {
                let responder = &*self.settings.responder;
                let response = observed
                    .span()
                    .in_scope(|| refusal(responder, error, &parts));
                ResponseFuture::refused(Ok(response))
            }
            Decision::Wait(verification) => {
                // The clone is not ready; keep the one that is (tower's "cloning inner
                // services" note).
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let settings = Arc::clone(&self.settings);
                ResponseFuture::waiting(Box::pin(async move {
                    match observed.wait(verification).await {
                        Ok(claims) => {
                            observed.finish(Outcome::Ok);
                            parts.extensions.insert(claims);
                            insert_responder::<R, ResBody>(&settings, &mut parts);
                        }
                        Err(error) => {
                            observed.finish(Outcome::Refused(error.kind()));
                            let responder = &*settings.responder;
                            let response = observed
                                .span()
                                .in_scope(|| refusal(responder, error, &parts));
                            return Ok(response);
                        }
                    }
                    drop(observed);
                    inner.call(Request::from_parts(parts, body)).await
                }))
            }
        }
    }
}

/// Hands the layer's responder to the refusals made behind it (require layers, extractors).
/// With the plain default there is nothing to hand on, but an outer layer's responder must not
/// stand in for it: the refusals behind a layer answer in that layer's format.
fn insert_responder<R, B>(settings: &Settings<R>, parts: &mut Parts)
where
    R: ResponseForAuthError<B>,
    B: 'static,
{
    match LayerResponder::<B>::for_layer(&settings.responder) {
        Some(responder) => {
            parts.extensions.insert(responder);
        }
        None => {
            parts.extensions.remove::<LayerResponder<B>>();
        }
    }
}

/// Finds the token and asks the verifier once (inside the verification span), and records the
/// outcome of an answer that came at once.
fn decide<R>(settings: &Settings<R>, parts: &mut Parts, observed: &VerifySpan) -> Decision {
    let refuse = |error: AuthError| {
        observed.finish(Outcome::Refused(error.kind()));
        Decision::Refuse(error)
    };
    if let Some(check) = &settings.dpop {
        let verification = match observed
            .span()
            .in_scope(|| dpop::verify(settings, check, parts))
        {
            Err(error) => return refuse(error),
            Ok(Some(verification)) => verification,
            Ok(None) if settings.optional => {
                observed.finish(Outcome::Anonymous);
                parts.extensions.insert(Anonymous);
                return Decision::Pass;
            }
            Ok(None) => return refuse(check.challenge(AuthError::missing_credentials(), false)),
        };
        return answered(verification, parts, observed);
    }
    let verification = match find_token(settings, parts) {
        Err(error) => return refuse(error),
        Ok(None) if settings.optional => {
            observed.finish(Outcome::Anonymous);
            parts.extensions.insert(Anonymous);
            return Decision::Pass;
        }
        Ok(None) => return refuse(AuthError::missing_credentials()),
        Ok(Some(token)) => observed.span().in_scope(|| settings.verifier.verify(token)),
    };
    answered(verification, parts, observed)
}

/// The decision for the verifier's answer.
fn answered(verification: Verification, parts: &mut Parts, observed: &VerifySpan) -> Decision {
    match verification {
        Verification::Ready(Ok(claims)) => {
            observed.finish(Outcome::Ok);
            parts.extensions.insert(claims);
            Decision::Pass
        }
        Verification::Ready(Err(error)) => {
            observed.finish(Outcome::Refused(error.kind()));
            Decision::Refuse(error)
        }
        Verification::Pending(pending) => Decision::Wait(pending),
    }
}

/// The token of the first source that has one.
pub(super) fn find_token<'a, R>(
    settings: &Settings<R>,
    parts: &'a Parts,
) -> Result<Option<&'a str>, AuthError> {
    for source in settings.sources.iter() {
        if let Some(token) = source.extract(parts, settings.max_token_len)? {
            return Ok(Some(token));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::header::{AUTHORIZATION, COOKIE};
    use tower::ServiceExt as _;

    use super::*;
    use crate::auth::AuthLayer;
    use crate::token::TokenSource;
    use crate::verifier::Verifier;

    /// Counts the tokens it is asked about and refuses them all.
    struct Counting {
        asked: Arc<AtomicUsize>,
        cap: Option<usize>,
    }

    impl Verifier for Counting {
        fn verify(&self, _: &str) -> Verification {
            self.asked.fetch_add(1, Ordering::Relaxed);
            Verification::Ready(Err(AuthError::invalid_token("asked")))
        }

        fn max_token_len(&self) -> Option<usize> {
            self.cap
        }
    }

    /// The refusal's description for a request with `header: value`, and whether the verifier
    /// was asked.
    async fn refusal_for(
        cap: Option<usize>,
        header: http::HeaderName,
        value: &str,
    ) -> (String, usize) {
        let asked = Arc::new(AtomicUsize::new(0));
        let layer = AuthLayer::new(Counting {
            asked: Arc::clone(&asked),
            cap,
        })
        .with_token_sources([TokenSource::bearer(), TokenSource::cookie("at")]);
        let service = tower_layer::Layer::layer(
            &layer,
            tower::service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) }),
        );
        let request = Request::builder()
            .header(header, value)
            .body(())
            .expect("request");
        let response = service.oneshot(request).await.expect("infallible");
        let error = response.extensions().get::<AuthError>().expect("refused");
        (
            error.description().to_owned(),
            asked.load(Ordering::Relaxed),
        )
    }

    #[tokio::test]
    async fn tokens_over_the_verifiers_cap_are_refused_before_it_is_asked() {
        let too_large = ("the token is too large".to_owned(), 0);
        // Measured before the syntax is scanned: the `!` past the cap is never looked at.
        let long = format!("{}!", "a".repeat(16));
        assert_eq!(
            refusal_for(Some(16), AUTHORIZATION, &format!("Bearer {long}")).await,
            too_large
        );
        assert_eq!(
            refusal_for(Some(16), COOKIE, &format!("at={}", "a".repeat(17))).await,
            too_large
        );
        // At the cap, and with no cap, the verifier decides.
        let asked = ("asked".to_owned(), 1);
        let at_cap = format!("Bearer {}", "a".repeat(16));
        assert_eq!(refusal_for(Some(16), AUTHORIZATION, &at_cap).await, asked);
        let huge = format!("Bearer {}", "a".repeat(64 * 1024));
        assert_eq!(refusal_for(None, AUTHORIZATION, &huge).await, asked);
        assert_eq!(
            refusal_for(None, AUTHORIZATION, &format!("Bearer {long}")).await,
            ("the bearer token is malformed".to_owned(), 0)
        );
    }
}
