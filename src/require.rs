//! Role and scope checks as a layer: [`require_role`], [`require_any_role`], [`require_scope`],
//! [`require_any_scope`]. They work on any `http` service, axum routers and tonic services alike,
//! and go inside (after) an [`AuthLayer`](crate::AuthLayer).
//!
//! A request whose claims lack the role or scope is answered 403 `insufficient_scope` (gRPC
//! `PERMISSION_DENIED`); a request with no claims at all is answered 401 if an optional
//! `AuthLayer` let it through anonymously, and 500 (`NotConfigured`, logged at error) if no
//! `AuthLayer` runs in front, the same answers as the axum extractors give. Refusals come out in
//! the format of the `AuthLayer`'s responder (its
//! [`with_response`](crate::AuthLayer::with_response)) unless the require layer has its own.
//!
//! ```
//! use axum::{Router, routing::post};
//! use tower_authz::{AuthLayer, JwtVerifier, require_role};
//!
//! # let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
//! let app: Router = Router::new()
//!     .route("/api/add-task", post(|| async { "added" }))
//!     .route_layer(require_role("admin"))
//!     .layer(AuthLayer::new(verifier));
//! ```

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::auth::ResponseFuture;
use crate::claims::claims_in;
use crate::error::{AuthError, AuthErrorKind};
use crate::policy::{self, Rule, Verdict, evaluate_policy};
use crate::response::{ResponseForAuthError, Rfc6750, refusal, refusal_behind_layer};

/// Requires what `rule` says (a [`policy`](crate::policy) or a combination of them); the role
/// and scope layers below are shorthands for it.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_authz::{AuthLayer, JwtVerifier, policy, require};
///
/// # let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
/// let app: Router = Router::new()
///     .route("/reports", get(|| async { "reports" }))
///     .route_layer(require(policy::has_role("auditor").or(policy::has_scope("reports:read"))))
///     .layer(AuthLayer::new(verifier));
/// ```
pub fn require(rule: impl Into<Rule>) -> RequireLayer {
    RequireLayer::new(rule.into())
}

/// Requires the role `role`: [`require`]`(`[`policy::has_role`]`(role))`.
pub fn require_role(role: impl Into<Box<str>>) -> RequireLayer {
    require(policy::has_role(role))
}

/// Requires at least one of `roles`.
pub fn require_any_role<I>(roles: I) -> RequireLayer
where
    I: IntoIterator,
    I::Item: Into<Box<str>>,
{
    require(policy::has_any_role(roles))
}

/// Requires the scope `scope`.
pub fn require_scope(scope: impl Into<Box<str>>) -> RequireLayer {
    require(policy::has_scope(scope))
}

/// Requires at least one of `scopes`.
pub fn require_any_scope<I>(scopes: I) -> RequireLayer
where
    I: IntoIterator,
    I::Item: Into<Box<str>>,
{
    require(policy::has_any_scope(scopes))
}

/// A layer that checks each request's verified claims (and head) against a rule. Built by
/// [`require`], [`require_role`] and their siblings.
pub struct RequireLayer<R = Rfc6750> {
    // One `Arc`: applying the layer (which axum may do per request) costs one reference count.
    settings: Arc<RequireSettings<R>>,
}

struct RequireSettings<R> {
    rule: Rule,
    responder: R,
    /// Whether `responder` was given with `with_response`; if not, it is the default
    /// `Rfc6750` and the `AuthLayer`'s responder takes precedence.
    own_responder: bool,
}

impl RequireLayer {
    fn new(rule: Rule) -> Self {
        Self {
            settings: Arc::new(RequireSettings {
                rule,
                responder: Rfc6750::default(),
                own_responder: false,
            }),
        }
    }
}

impl<R> RequireLayer<R> {
    /// Answers refusals with `responder` instead of the `AuthLayer`'s responder (by default,
    /// the RFC 6750 answers).
    pub fn with_response<R2>(self, responder: R2) -> RequireLayer<R2> {
        RequireLayer {
            settings: Arc::new(RequireSettings {
                rule: self.settings.rule.clone(),
                responder,
                own_responder: true,
            }),
        }
    }
}

impl<R> Clone for RequireLayer<R> {
    fn clone(&self) -> Self {
        Self {
            settings: Arc::clone(&self.settings),
        }
    }
}

impl<R> fmt::Debug for RequireLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireLayer")
            .field("rule", &self.settings.rule)
            .finish_non_exhaustive()
    }
}

impl<S, R> Layer<S> for RequireLayer<R> {
    type Service = Require<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Require {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service built by [`RequireLayer`].
pub struct Require<S, R = Rfc6750> {
    inner: S,
    layer: RequireLayer<R>,
}

impl<S: Clone, R> Clone for Require<S, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, R> fmt::Debug for Require<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Require")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, R> Require<S, R> {
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

impl<R> RequireSettings<R> {
    /// The refusal of `error`: by this layer's own responder if it was given one, else by the
    /// `AuthLayer`'s.
    fn refusal<B: 'static>(&self, error: AuthError, parts: &Parts) -> Response<B>
    where
        R: ResponseForAuthError<B>,
    {
        if self.own_responder {
            refusal(&self.responder, error, parts)
        } else {
            refusal_behind_layer(&self.responder, error, parts)
        }
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for Require<S, R>
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
        let (parts, body) = request.into_parts();
        let settings = &self.layer.settings;
        let verdict = match claims_in(&parts.extensions) {
            Ok(claims) => evaluate_policy(&settings.rule, claims, &parts),
            // An anonymous caller is told which scopes would do (RFC 6750 §3, RFC 9728).
            Err(error) => Verdict::Ready(Err(match settings.rule.scopes() {
                Some(scopes) if error.kind() == AuthErrorKind::MissingCredentials => {
                    error.with_required(String::from(&**scopes))
                }
                _ => error,
            })),
        };
        match verdict {
            Verdict::Ready(Ok(())) => {
                ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)))
            }
            Verdict::Ready(Err(error)) => {
                ResponseFuture::refused(Ok(settings.refusal(error, &parts)))
            }
            Verdict::Pending(pending) => {
                // The clone is not ready; keep the one that is (tower's "cloning inner
                // services" note).
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let settings = Arc::clone(settings);
                ResponseFuture::waiting(Box::pin(async move {
                    match pending.await {
                        Ok(()) => inner.call(Request::from_parts(parts, body)).await,
                        Err(error) => Ok(settings.refusal(error, &parts)),
                    }
                }))
            }
        }
    }
}
