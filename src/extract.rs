//! axum extractors: [`Claims`], `Option<Claims>`, [`RequireRole`] and [`RequireScope`].
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
//! async fn admin(RequireRole(claims, ..): RequireRole<Admin>) -> &'static str {
//!     "welcome, admin"
//! }
//!
//! # let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
//! let app: Router = Router::new()
//!     .route("/whoami", get(whoami))
//!     .route("/admin", get(admin))
//!     .layer(AuthLayer::new(verifier));
//! ```

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::claims::{Anonymous, Claims};
use crate::error::{AuthError, AuthErrorKind};
use crate::response::{Rfc6750, refusal};

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        claims_of(parts)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Claims {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Claims>().cloned())
    }
}

fn claims_of(parts: &Parts) -> Result<Claims, AuthError> {
    if let Some(claims) = parts.extensions.get::<Claims>() {
        return Ok(claims.clone());
    }
    if parts.extensions.get::<Anonymous>().is_some() {
        return Err(AuthError::missing_credentials());
    }
    Err(AuthError::new(
        AuthErrorKind::NotConfigured,
        "claims were asked for but no AuthLayer runs in front of this route",
    ))
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
#[derive(Debug, Clone)]
pub struct RequireRole<R: Role>(pub Claims, pub PhantomData<R>);

impl<S: Send + Sync, R: Role> FromRequestParts<S> for RequireRole<R> {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let claims = claims_of(parts)?;
        if claims.has_role(R::NAME) {
            Ok(Self(claims, PhantomData))
        } else {
            Err(AuthError::insufficient_scope(R::NAME))
        }
    }
}

/// Extracts the claims if the token has the scope `S`; otherwise answers 403
/// (`insufficient_scope`).
#[derive(Debug, Clone)]
pub struct RequireScope<S: Scope>(pub Claims, pub PhantomData<S>);

impl<St: Send + Sync, S: Scope> FromRequestParts<St> for RequireScope<S> {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        let claims = claims_of(parts)?;
        if claims.has_scope(S::NAME) {
            Ok(Self(claims, PhantomData))
        } else {
            Err(AuthError::insufficient_scope(S::NAME))
        }
    }
}
