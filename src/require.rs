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

use futures_util::future::{Either, Ready, ready};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::{Claims, claims_in};
use crate::error::AuthError;
use crate::response::{ResponseForAuthError, Rfc6750, refusal, refusal_behind_layer};

/// What the claims must have.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    AnyRole(Box<[Box<str>]>),
    AnyScope(Box<[Box<str>]>),
}

impl Requirement {
    fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        let (ok, wanted) = match self {
            Self::AnyRole(roles) => (roles.iter().any(|r| claims.has_role(r)), roles),
            Self::AnyScope(scopes) => (scopes.iter().any(|s| claims.has_scope(s)), scopes),
        };
        if ok {
            Ok(())
        } else {
            Err(AuthError::insufficient_scope(wanted.join(" ")))
        }
    }
}

/// Requires the role `role`.
pub fn require_role(role: impl Into<Box<str>>) -> RequireLayer {
    RequireLayer::new(Requirement::AnyRole(Box::new([role.into()])))
}

/// Requires at least one of `roles`.
pub fn require_any_role<I>(roles: I) -> RequireLayer
where
    I: IntoIterator,
    I::Item: Into<Box<str>>,
{
    RequireLayer::new(Requirement::AnyRole(
        roles.into_iter().map(Into::into).collect(),
    ))
}

/// Requires the scope `scope`.
pub fn require_scope(scope: impl Into<Box<str>>) -> RequireLayer {
    RequireLayer::new(Requirement::AnyScope(Box::new([scope.into()])))
}

/// Requires at least one of `scopes`.
pub fn require_any_scope<I>(scopes: I) -> RequireLayer
where
    I: IntoIterator,
    I::Item: Into<Box<str>>,
{
    RequireLayer::new(Requirement::AnyScope(
        scopes.into_iter().map(Into::into).collect(),
    ))
}

/// A layer that checks the verified claims for a role or scope. Built by [`require_role`] and
/// its siblings.
pub struct RequireLayer<R = Rfc6750> {
    // One `Arc`: applying the layer (which axum may do per request) costs one reference count.
    settings: Arc<RequireSettings<R>>,
}

struct RequireSettings<R> {
    requirement: Requirement,
    responder: R,
    /// Whether `responder` was given with `with_response`; if not, it is the default
    /// `Rfc6750` and the `AuthLayer`'s responder takes precedence.
    own_responder: bool,
}

impl RequireLayer {
    fn new(requirement: Requirement) -> Self {
        Self {
            settings: Arc::new(RequireSettings {
                requirement,
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
                requirement: self.settings.requirement.clone(),
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
            .field("requirement", &self.settings.requirement)
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

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for Require<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: ResponseForAuthError<ResBody>,
    ResBody: 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<ResBody>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let settings = &self.layer.settings;
        let verdict =
            claims_in(request.extensions()).and_then(|claims| settings.requirement.check(claims));
        match verdict {
            Ok(()) => Either::Left(self.inner.call(request)),
            Err(error) => {
                let (parts, _body) = request.into_parts();
                let response = if settings.own_responder {
                    refusal(&settings.responder, error, &parts)
                } else {
                    refusal_behind_layer(&settings.responder, error, &parts)
                };
                Either::Right(ready(Ok(response)))
            }
        }
    }
}
