//! axum extractors: [`Claims`], `Option<Claims>`, [`RequireRole`] and [`RequireScope`].
//!
//! They refuse like the require layers do: 401 when an optional [`AuthLayer`](crate::AuthLayer)
//! let the request through anonymously (`Option<Claims>` gives `None` then), 403 for a missing
//! role or scope, 500 (`NotConfigured`, logged at error) when no `AuthLayer` runs in front of
//! the route (`Option<Claims>` too), each answered by the `AuthLayer`'s responder
//! ([`with_response`](crate::AuthLayer::with_response)) and with the [`AuthError`] in the
//! response's extensions; the rejection is an [`AuthRejection`].
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_authz::{AuthLayer, Claims, JwtVerifier, RequireRole, role};
//!
//! role!(
//!     /// Administrators.
//!     Admin = "admin"
//! );
//!
//! async fn whoami(claims: Claims) -> String {
//!     claims.subject().unwrap_or_default().to_owned()
//! }
//!
//! async fn admin(admin: RequireRole<Admin>) -> String {
//!     format!("welcome, {}", admin.subject().unwrap_or_default())
//! }
//!
//! # let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
//! let app: Router = Router::new()
//!     .route("/whoami", get(whoami))
//!     .route("/admin", get(admin))
//!     .layer(AuthLayer::new(verifier));
//! ```

use std::fmt;
use std::marker::PhantomData;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::claims::{Claims, claims_in};
use crate::error::{AuthError, AuthErrorKind};
use crate::response::{Rfc6750, refusal, refusal_behind_layer};

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match claims_in(&parts.extensions) {
            Ok(claims) => Ok(claims.clone()),
            Err(error) => Err(AuthRejection::new(error, parts)),
        }
    }
}

/// `Some` with claims, `None` for a request an optional [`AuthLayer`](crate::AuthLayer) let
/// through without a token, and the 500 refusal (`NotConfigured`) when no `AuthLayer` runs in
/// front: a missing layer is a mistake to see, not an anonymous caller.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Claims {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match claims_in(&parts.extensions) {
            Ok(claims) => Ok(Some(claims.clone())),
            Err(error) if error.kind() == AuthErrorKind::MissingCredentials => Ok(None),
            Err(error) => Err(AuthRejection::new(error, parts)),
        }
    }
}

/// The claims if they have `wanted` (a role or a scope, as `has` checks), the refusal otherwise.
fn claims_with(
    parts: &Parts,
    has: impl Fn(&Claims) -> bool,
    wanted: &'static str,
) -> Result<Claims, AuthRejection> {
    match claims_in(&parts.extensions) {
        Ok(claims) if has(claims) => Ok(claims.clone()),
        Ok(_) => Err(AuthRejection::new(
            AuthError::insufficient_scope(wanted),
            parts,
        )),
        Err(error) => Err(AuthRejection::new(error, parts)),
    }
}

/// Why [`Claims`], [`CustomClaims`](crate::CustomClaims), [`RequireRole`] or [`RequireScope`]
/// could not be extracted: the [`AuthError`] and the response already built for it by the
/// `AuthLayer`'s responder (the RFC 6750 answers by default), logged, with the error in its
/// extensions.
///
/// ```
/// use axum::response::IntoResponse;
/// use tower_authz::{AuthErrorKind, AuthRejection, Claims};
///
/// // A handler that answers anonymous callers itself.
/// async fn hello(claims: Result<Claims, AuthRejection>) -> axum::response::Response {
///     match claims {
///         Ok(claims) => format!("hello {:?}", claims.subject()).into_response(),
///         Err(refusal) if refusal.error().kind() == AuthErrorKind::MissingCredentials => {
///             "hello, stranger".into_response()
///         }
///         Err(refusal) => refusal.into_response(),
///     }
/// }
/// let app: axum::Router = axum::Router::new().route("/hello", axum::routing::get(hello));
/// ```
pub struct AuthRejection {
    // Boxed: a `Result<Claims, AuthRejection>` stays small on the way that succeeds.
    inner: Box<Rejected>,
}

struct Rejected {
    error: AuthError,
    response: Response,
}

impl AuthRejection {
    /// Builds, logs and annotates the refusal of `error` for the request `parts`.
    pub(crate) fn new(error: AuthError, parts: &Parts) -> Self {
        let response = refusal_behind_layer(&Rfc6750::default(), error.clone(), parts);
        Self {
            inner: Box::new(Rejected { error, response }),
        }
    }

    /// Why the request was refused.
    pub fn error(&self) -> &AuthError {
        &self.inner.error
    }

    /// The error, without the response.
    pub fn into_error(self) -> AuthError {
        self.inner.error
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        self.inner.response
    }
}

impl fmt::Debug for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRejection")
            .field("error", &self.inner.error)
            .field("status", &self.inner.response.status())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.error.fmt(f)
    }
}

impl std::error::Error for AuthRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.inner.error)
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        // No request to look at: answered as for a plain HTTP request.
        let (parts, ()) = http::Request::new(()).into_parts();
        refusal(&Rfc6750::default(), self, &parts)
    }
}

/// A role name, for [`RequireRole`]. Declare one with [`role!`](crate::role).
pub trait Role: Send + Sync + 'static {
    /// The role's name as it appears in the token.
    const NAME: &'static str;
}

/// A scope name, for [`RequireScope`]. Declare one with [`scope!`](crate::scope).
pub trait Scope: Send + Sync + 'static {
    /// The scope's name as it appears in the token.
    const NAME: &'static str;
}

/// Declares a [`Role`]: `role!(Admin = "admin");` makes `pub struct Admin`.
#[macro_export]
macro_rules! role {
    ($(#[$meta:meta])* $name:ident = $role:literal) => {
        $(#[$meta])*
        #[doc = concat!("The role `", $role, "`.")]
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl $crate::Role for $name {
            const NAME: &'static str = $role;
        }
    };
}

/// Declares a [`Scope`]: `scope!(ReadTasks = "tasks:read");` makes `pub struct ReadTasks`.
#[macro_export]
macro_rules! scope {
    ($(#[$meta:meta])* $name:ident = $scope:literal) => {
        $(#[$meta])*
        #[doc = concat!("The scope `", $scope, "`.")]
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl $crate::Scope for $name {
            const NAME: &'static str = $scope;
        }
    };
}

/// Extracts the claims if the caller has the role `R`; otherwise answers 403
/// (`insufficient_scope`). Also usable as a layer with `axum::middleware::from_extractor`.
///
/// Derefs to [`Claims`]: `admin.subject()`, or `admin.claims()`, `admin.into_claims()`.
#[derive(Debug, Clone)]
pub struct RequireRole<R: Role>(Claims, PhantomData<R>);

impl<R: Role> RequireRole<R> {
    /// The caller's claims.
    pub fn claims(&self) -> &Claims {
        &self.0
    }

    /// The caller's claims, without the proof of the role.
    pub fn into_claims(self) -> Claims {
        self.0
    }
}

impl<R: Role> std::ops::Deref for RequireRole<R> {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.0
    }
}

impl<S: Send + Sync, R: Role> FromRequestParts<S> for RequireRole<R> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let claims = claims_with(parts, |claims| claims.has_role(R::NAME), R::NAME)?;
        Ok(Self(claims, PhantomData))
    }
}

/// Extracts the claims if the token has the scope `S`; otherwise answers 403
/// (`insufficient_scope`).
///
/// Derefs to [`Claims`]: `reader.subject()`, or `reader.claims()`, `reader.into_claims()`.
#[derive(Debug, Clone)]
pub struct RequireScope<S: Scope>(Claims, PhantomData<S>);

impl<S: Scope> RequireScope<S> {
    /// The caller's claims.
    pub fn claims(&self) -> &Claims {
        &self.0
    }

    /// The caller's claims, without the proof of the scope.
    pub fn into_claims(self) -> Claims {
        self.0
    }
}

impl<S: Scope> std::ops::Deref for RequireScope<S> {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.0
    }
}

impl<St: Send + Sync, S: Scope> FromRequestParts<St> for RequireScope<S> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        let claims = claims_with(parts, |claims| claims.has_scope(S::NAME), S::NAME)?;
        Ok(Self(claims, PhantomData))
    }
}
