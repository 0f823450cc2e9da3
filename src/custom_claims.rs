//! [`CustomClaims<T>`]: the token's claims deserialized into a type of yours, once per request.
//!
//! The [`AuthLayer`](crate::AuthLayer) puts [`Claims`] into the request extensions. A
//! `CustomClaims<T>` is those claims as a `T: Deserialize`, made the first time a request asks
//! for it and kept in the request's extensions beside them: a second `CustomClaims<T>` in the
//! same request (another extractor, a middleware in front of the handler, a tonic handler after
//! an interceptor) gets the same value without deserializing again.
//!
//! Claims that do not fit `T` (a required field missing, a field of the wrong type) refuse the
//! request with 401 `invalid_token`, "the token's claims do not have the expected shape": the
//! token was verified, but it is not a token this route can serve. The description names no
//! claim and no value; the [`serde_json::Error`] is the [`AuthError`]'s
//! [`source`](std::error::Error::source), for the service's own logs.
//!
//! With the `axum` feature `CustomClaims<T>` is an extractor, refusing as [`Claims`] does
//! (through the `AuthLayer`'s responder, as an [`AuthRejection`](crate::AuthRejection)): 401
//! behind an [`optional`](crate::AuthLayer::optional) layer that let the request through without
//! a token, 500 when no `AuthLayer` runs in front of the route. Elsewhere (tonic handlers, your
//! own tower services) [`CustomClaims::from_extensions`] does the same with the request's
//! [`http::Extensions`].
//!
//! Where other crates differ: jwt-authorizer's `JwtClaims<T>` and axum-jwt-auth's `Claims<T>`
//! make the layer itself generic over the claims type and deserialize every token into it; here
//! the layer stays non-generic (one [`Claims`] for every verifier) and each route asks for the
//! type it needs. ASP.NET Core has no typed claims (`User.FindFirst("tid")`); Microsoft.Identity.Web
//! adds one accessor per claim (`GetTenantId()`, `GetObjectId()`).

use std::any::type_name;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::claims::{Claims, claims_in};
use crate::error::AuthError;

/// The request's [`Claims`] deserialized into `T`, once per request; derefs to `T`.
///
/// An Entra ID access token's tenant and object id, and the organization of a ZITADEL user:
///
/// ```
/// use axum::{Router, routing::get};
/// use serde::Deserialize;
/// use tower_authz::{AuthLayer, CustomClaims, JwtVerifier};
///
/// /// The Entra ID claims this API reads.
/// #[derive(Deserialize)]
/// struct Entra {
///     /// The tenant the caller belongs to.
///     tid: String,
///     /// The caller's object id in that tenant (a user, or an application's service principal).
///     oid: String,
/// }
///
/// /// The ZITADEL claims this API reads (introspection answers and JWTs both carry it).
/// #[derive(Deserialize)]
/// struct Zitadel {
///     /// The organization the user belongs to.
///     #[serde(rename = "urn:zitadel:iam:user:resourceowner:id")]
///     organization: String,
/// }
///
/// async fn todos(caller: CustomClaims<Entra>) -> String {
///     format!("to-dos of {} in tenant {}", caller.oid, caller.tid)
/// }
///
/// async fn projects(user: CustomClaims<Zitadel>) -> String {
///     format!("projects of organization {}", user.organization)
/// }
///
/// # let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
/// let app: Router = Router::new()
///     .route("/todos", get(todos))
///     .route("/projects", get(projects))
///     .layer(AuthLayer::new(verifier));
/// ```
///
/// A token whose claims lack `tid` or `oid`, or have them as something other than strings, is
/// refused on `/todos` with 401 `invalid_token` before `todos` runs. Make a field an `Option` for a
/// claim that may be absent; unknown claims are ignored unless `T` says
/// `#[serde(deny_unknown_fields)]`.
///
/// `Option<CustomClaims<T>>` is `None` for a request that an optional `AuthLayer` let through
/// without a token; claims that do not fit are still refused, and no `AuthLayer` is still a 500.
pub struct CustomClaims<T>(Arc<T>);

impl<T: DeserializeOwned + Send + Sync + 'static> CustomClaims<T> {
    /// The claims in `extensions` as a `T`: deserialized on the first call for a request and
    /// kept in `extensions`, the kept value on every later call.
    ///
    /// Fails like the extractor: [`InvalidToken`](crate::AuthErrorKind::InvalidToken) when the
    /// claims do not fit `T`, [`MissingCredentials`](crate::AuthErrorKind::MissingCredentials)
    /// for a request an optional `AuthLayer` let through without a token,
    /// [`NotConfigured`](crate::AuthErrorKind::NotConfigured) when no `AuthLayer` put claims
    /// there. In a tonic handler, `?` turns the error into the matching
    /// [`tonic::Status`](https://docs.rs/tonic/latest/tonic/struct.Status.html) (feature `tonic`):
    /// `CustomClaims::<Zitadel>::from_extensions(request.extensions_mut())?`.
    ///
    /// ```
    /// use serde::Deserialize;
    /// use tower_authz::{AuthErrorKind, Claims, CustomClaims, RoleSource};
    ///
    /// #[derive(Debug, Deserialize)]
    /// struct Zitadel {
    ///     #[serde(rename = "urn:zitadel:iam:user:resourceowner:id")]
    ///     organization: String,
    /// }
    ///
    /// // What the AuthLayer does for a request with a valid token.
    /// let token = serde_json::json!({"sub": "alice", "urn:zitadel:iam:user:resourceowner:id": "acme"});
    /// let mut request = http::Request::new(());
    /// request.extensions_mut().insert(Claims::from_value(token, &RoleSource::zitadel()).unwrap());
    ///
    /// let user = CustomClaims::<Zitadel>::from_extensions(request.extensions_mut()).unwrap();
    /// assert_eq!(user.organization, "acme");
    ///
    /// // Claims without the organization do not fit.
    /// let token = serde_json::json!({"sub": "bob"});
    /// let mut request = http::Request::new(());
    /// request.extensions_mut().insert(Claims::from_value(token, &RoleSource::zitadel()).unwrap());
    /// let error = CustomClaims::<Zitadel>::from_extensions(request.extensions_mut()).unwrap_err();
    /// assert_eq!(error.kind(), AuthErrorKind::InvalidToken);
    /// ```
    pub fn from_extensions(extensions: &mut http::Extensions) -> Result<Self, AuthError> {
        let claims = claims_in(extensions)?;
        if let Some(kept) = extensions.get::<Kept<T>>()
            && kept.from.same_as(claims)
        {
            return kept.outcome.clone().map(Self);
        }
        let claims = claims.clone();
        let outcome = claims.deserialize::<T>().map(Arc::new).map_err(|error| {
            tracing::debug!(
                claims_type = type_name::<T>(),
                "the token's claims do not fit the type asked for"
            );
            AuthError::invalid_token(MISFIT).with_source(error)
        });
        extensions.insert(Kept {
            from: claims,
            outcome: outcome.clone(),
        });
        outcome.map(Self)
    }
}

impl<T> CustomClaims<T> {
    /// The value, shared with the request's extensions (and any other `CustomClaims<T>` of the
    /// request); `Arc::unwrap_or_clone` makes it an owned `T`.
    pub fn into_arc(self) -> Arc<T> {
        self.0
    }
}

/// The description of claims that do not fit: names no claim and no value.
const MISFIT: &str = "the token's claims do not have the expected shape";

/// What the request's extensions keep for `CustomClaims<T>`: the claims it was made from (so
/// that claims replaced later in the request are deserialized anew) and the outcome, a refusal
/// included.
struct Kept<T> {
    from: Claims,
    outcome: Result<Arc<T>, AuthError>,
}

// Not derived: `T` need not be `Clone`.
impl<T> Clone for Kept<T> {
    fn clone(&self) -> Self {
        Self {
            from: self.from.clone(),
            outcome: self.outcome.clone(),
        }
    }
}

impl<T> Clone for CustomClaims<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Deref for CustomClaims<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> AsRef<T> for CustomClaims<T> {
    fn as_ref(&self) -> &T {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for CustomClaims<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CustomClaims").field(&self.0).finish()
    }
}

#[cfg(feature = "axum")]
mod axum_impl {
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use http::request::Parts;
    use serde::de::DeserializeOwned;

    use super::CustomClaims;
    use crate::error::AuthErrorKind;
    use crate::extract::AuthRejection;

    impl<S, T> FromRequestParts<S> for CustomClaims<T>
    where
        S: Send + Sync,
        T: DeserializeOwned + Send + Sync + 'static,
    {
        type Rejection = AuthRejection;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            Self::from_extensions(&mut parts.extensions)
                .map_err(|error| AuthRejection::new(error, parts))
        }
    }

    impl<S, T> OptionalFromRequestParts<S> for CustomClaims<T>
    where
        S: Send + Sync,
        T: DeserializeOwned + Send + Sync + 'static,
    {
        type Rejection = AuthRejection;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            match Self::from_extensions(&mut parts.extensions) {
                Ok(claims) => Ok(Some(claims)),
                Err(error) if error.kind() == AuthErrorKind::MissingCredentials => Ok(None),
                Err(error) => Err(AuthRejection::new(error, parts)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde::{Deserialize, Deserializer};
    use serde_json::json;

    use super::*;
    use crate::claims::{Anonymous, RoleSource};
    use crate::error::AuthErrorKind;

    #[derive(Debug, Deserialize)]
    struct Tenant {
        tid: String,
    }

    /// Counts its deserializations in `CALLS`.
    struct Counted;

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    impl<'de> Deserialize<'de> for Counted {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            CALLS.fetch_add(1, Ordering::SeqCst);
            serde::de::IgnoredAny::deserialize(deserializer).map(|_| Counted)
        }
    }

    fn with_claims(value: serde_json::Value) -> http::Extensions {
        let mut extensions = http::Extensions::new();
        extensions.insert(Claims::from_value(value, &RoleSource::default()).expect("object"));
        extensions
    }

    #[test]
    fn deserializes_once_per_request_and_shares_the_value() {
        // Only this test deserializes `Counted`.
        let mut extensions = with_claims(json!({"sub": "alice"}));
        let first = CustomClaims::<Counted>::from_extensions(&mut extensions).expect("fits");
        let second = CustomClaims::<Counted>::from_extensions(&mut extensions).expect("fits");
        let third = CustomClaims::<Counted>::from_extensions(&mut extensions).expect("fits");
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        assert!(Arc::ptr_eq(&first.into_arc(), &second.into_arc()));
        let kept = extensions.get::<Kept<Counted>>().expect("kept");
        assert!(matches!(&kept.outcome, Ok(value) if Arc::ptr_eq(value, &third.0)));

        // Another request (other extensions) deserializes its own.
        let mut other = with_claims(json!({"sub": "bob"}));
        CustomClaims::<Counted>::from_extensions(&mut other).expect("fits");
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_misfit_is_kept_too_and_names_no_value() {
        let mut extensions = with_claims(json!({"tid": 42, "secretish": "s3cr3t"}));
        let error =
            CustomClaims::<Tenant>::from_extensions(&mut extensions).expect_err("does not fit");
        assert_eq!(error.kind(), AuthErrorKind::InvalidToken);
        assert_eq!(error.description(), MISFIT);
        assert!(!error.to_string().contains("42"));
        assert!(std::error::Error::source(&error).is_some());
        // The refusal is kept: the second call answers it from the extensions.
        let kept = extensions.get::<Kept<Tenant>>().expect("kept");
        assert!(kept.outcome.is_err());
        let again = CustomClaims::<Tenant>::from_extensions(&mut extensions)
            .expect_err("still does not fit");
        assert_eq!(again.kind(), AuthErrorKind::InvalidToken);
    }

    #[test]
    fn claims_replaced_later_are_deserialized_anew() {
        let mut extensions = with_claims(json!({"tid": "t1"}));
        let first = CustomClaims::<Tenant>::from_extensions(&mut extensions).expect("fits");
        assert_eq!(first.tid, "t1");
        extensions.insert(
            Claims::from_value(json!({"tid": "t2"}), &RoleSource::default()).expect("object"),
        );
        let second = CustomClaims::<Tenant>::from_extensions(&mut extensions).expect("fits");
        assert_eq!(second.tid, "t2");
    }

    #[test]
    fn each_type_has_its_own_entry() {
        #[derive(Deserialize)]
        struct Subject {
            sub: String,
        }
        let mut extensions = with_claims(json!({"tid": "t1", "sub": "alice"}));
        assert_eq!(
            CustomClaims::<Tenant>::from_extensions(&mut extensions)
                .expect("fits")
                .tid,
            "t1"
        );
        assert_eq!(
            CustomClaims::<Subject>::from_extensions(&mut extensions)
                .expect("fits")
                .sub,
            "alice"
        );
    }

    #[test]
    fn no_claims_is_anonymous_or_not_configured() {
        let mut none = http::Extensions::new();
        let error = CustomClaims::<Tenant>::from_extensions(&mut none).expect_err("no claims");
        assert_eq!(error.kind(), AuthErrorKind::NotConfigured);

        let mut anonymous = http::Extensions::new();
        anonymous.insert(Anonymous);
        let error = CustomClaims::<Tenant>::from_extensions(&mut anonymous).expect_err("no claims");
        assert_eq!(error.kind(), AuthErrorKind::MissingCredentials);
        // Nothing is kept for a request without claims.
        assert!(anonymous.get::<Kept<Tenant>>().is_none());
    }
}
