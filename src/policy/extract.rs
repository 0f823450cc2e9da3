//! [`Authorized`]: a policy as an axum extractor.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use http::request::Parts;

use super::{Policy, Verdict, evaluate_policy};
use crate::claims::{Claims, claims_in};
use crate::extract::AuthRejection;

/// Extracts the claims if the policy `P` allows the request; otherwise the refusal (403 by
/// default), answered by the `AuthLayer`'s responder like every other refusal. `P` is built
/// with `Default` per request: a unit struct costs nothing.
///
/// ```
/// use axum::{Router, routing::put};
/// use tower_authz::policy::{Access, Authorized, Policy, Verdict};
/// use tower_authz::AuthError;
///
/// /// Only a daemon's token (Entra `idtyp: app`).
/// #[derive(Default)]
/// struct AppOnly;
///
/// impl Policy for AppOnly {
///     fn evaluate(&self, access: &Access<'_>) -> Verdict {
///         let app = access.claims().get("idtyp").and_then(|t| t.as_str()) == Some("app");
///         Verdict::Ready(if app { Ok(()) } else { Err(AuthError::forbidden("apps only")) })
///     }
/// }
///
/// async fn update(caller: Authorized<AppOnly>) -> String {
///     format!("updated by {:?}", caller.client_id())
/// }
///
/// let app: Router = Router::new().route("/todo/{id}", put(update));
/// ```
pub struct Authorized<P> {
    claims: Claims,
    policy: PhantomData<fn() -> P>,
}

impl<P> Authorized<P> {
    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The verified claims, owned.
    pub fn into_claims(self) -> Claims {
        self.claims
    }
}

impl<P> Deref for Authorized<P> {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.claims
    }
}

impl<P> Clone for Authorized<P> {
    fn clone(&self) -> Self {
        Self {
            claims: self.claims.clone(),
            policy: PhantomData,
        }
    }
}

impl<P> fmt::Debug for Authorized<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorized")
            .field("policy", &std::any::type_name::<P>())
            .field("claims", &self.claims)
            .finish()
    }
}

impl<S, P> FromRequestParts<S> for Authorized<P>
where
    S: Send + Sync,
    P: Policy + Default,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let claims = match claims_in(&parts.extensions) {
            Ok(claims) => claims.clone(),
            Err(error) => return Err(AuthRejection::new(error, parts)),
        };
        let verdict = match evaluate_policy(&P::default(), &claims, parts) {
            Verdict::Ready(answer) => answer,
            Verdict::Pending(pending) => pending.await,
        };
        match verdict {
            Ok(()) => Ok(Self {
                claims,
                policy: PhantomData,
            }),
            Err(error) => Err(AuthRejection::new(error, parts)),
        }
    }
}
