//! Verifiers: a token in, [`Claims`] or an [`AuthError`](crate::AuthError) out.
//!
//! | verifier | for |
//! |---|---|
//! | [`JwksVerifier`] | JWTs signed with keys from a JWKS URL or discovery (RFC 8414, OIDC) (ZITADEL, Entra, Keycloak, Auth0, FusionAuth with RS256) |
//! | [`JwtVerifier`] | JWTs signed with fixed keys: an HMAC secret (FusionAuth's default HS256) or PEM/JWK public keys |
//! | `IntrospectionVerifier` | any token, asked of the provider's RFC 7662 introspection endpoint (ZITADEL's opaque tokens and PATs), with a cache (feature `introspection`) |
//! | [`MultiIssuer`] | several issuers behind one layer, chosen by the token's `iss`; other tokens to a fallback (e.g. introspection) |
//!
//! Write your own by implementing [`Verifier`]. A verifier knows nothing of HTTP frameworks: where
//! the token came from is the [`TokenSource`](crate::TokenSource)'s job.

use std::sync::Arc;

use crate::claims::Claims;
use crate::readiness::ReadinessCheck;
use crate::revocation::Revocation;

#[cfg(feature = "introspection")]
mod introspection;
mod issuers;
mod jwks;
mod jwt;
pub(crate) mod jwt_core;
pub(crate) mod keys;
#[cfg(feature = "redis")]
mod redis_builder;
#[cfg(feature = "redis")]
mod redis_cache;
#[cfg(feature = "redis")]
mod redis_revocations;
mod revocable;
#[cfg(feature = "introspection")]
mod shared_cache;
mod tenants;
mod verified;

#[cfg(feature = "introspection")]
pub use introspection::AudienceCheck;
#[cfg(feature = "introspection")]
pub use introspection::IntrospectionVerifier;
#[cfg(all(any(test, fuzzing), feature = "introspection"))]
pub(crate) use introspection::judge_raw as judge_introspection_answer;
pub use issuers::MultiIssuer;
pub use jwks::JwksVerifier;
pub use jwt::JwtVerifier;
pub use keys::Algorithm;
#[cfg(feature = "redis")]
pub use redis_builder::RedisCacheBuilder;
#[cfg(feature = "redis")]
pub use redis_cache::RedisCache;
pub use revocable::Revocable;
#[cfg(feature = "introspection")]
pub use shared_cache::{
    SharedCache, SharedCacheError, SharedCacheTiming, SharedKey, SharedVerdict,
};
pub use tenants::Tenants;

/// What a [`Verifier`] answers about a token: its claims, or why it is refused, now or later.
pub type Verification = crate::answer::Answer<Claims>;

/// Checks a token and returns its claims.
///
/// One method, answered once: [`Verification::Ready`] when nothing has to be waited for (a
/// cache hit, fixed keys, a refusal), so that the layer's hot path allocates nothing, or
/// [`Verification::pending`] with a future that owns what the look-up already computed and
/// waits for the rest.
///
/// Implementations must not panic on any input and must not block: anything that needs the
/// network goes in the pending future, with a timeout. An unreachable provider is an
/// [`Upstream`](crate::AuthErrorKind::Upstream) error (503), never an invalid token.
///
/// ```
/// use tower_authz::{AuthError, Claims, RoleSource, Verification, Verifier};
///
/// /// Accepts one fixed API key (for a health checker, say).
/// struct ApiKey(&'static str);
///
/// impl Verifier for ApiKey {
///     fn verify(&self, token: &str) -> Verification {
///         Verification::Ready(if token == self.0 {
///             Claims::from_value(serde_json::json!({"sub": "health-checker"}), &RoleSource::default())
///                 .ok_or(AuthError::invalid_token("bad claims"))
///         } else {
///             Err(AuthError::invalid_token("unknown API key"))
///         })
///     }
/// }
/// ```
///
/// A verifier that waits keeps its state behind an `Arc` and moves a clone into the future:
///
/// ```
/// use std::collections::HashSet;
/// use std::sync::{Arc, RwLock};
/// use tower_authz::{AuthError, Claims, RoleSource, Verification, Verifier};
///
/// /// API keys kept by another service, looked up per request.
/// struct RemoteKeys(Arc<RwLock<HashSet<String>>>);
///
/// async fn ask_key_service(keys: &RwLock<HashSet<String>>, key: &str) -> bool {
///     keys.read().is_ok_and(|keys| keys.contains(key))
/// }
///
/// impl Verifier for RemoteKeys {
///     fn verify(&self, token: &str) -> Verification {
///         let (keys, token) = (Arc::clone(&self.0), token.to_owned());
///         Verification::pending(async move {
///             if ask_key_service(&keys, &token).await {
///                 Claims::from_value(serde_json::json!({"sub": "key-holder"}), &RoleSource::default())
///                     .ok_or(AuthError::invalid_token("bad claims"))
///             } else {
///                 Err(AuthError::invalid_token("unknown API key"))
///             }
///         })
///     }
/// }
/// ```
pub trait Verifier: Send + Sync + 'static {
    /// Verifies `token`: its claims, or why it is refused, now or after waiting.
    fn verify(&self, token: &str) -> Verification;

    /// A readiness check of what this verifier depends on (the provider's keys or endpoint),
    /// for a `/readyz` probe; `None` (the default) when it depends on nothing that can be
    /// missing. [`MultiIssuer`] combines those of its verifiers with it.
    fn readiness(&self) -> Option<ReadinessCheck> {
        None
    }

    /// The longest token (in bytes) this verifier accepts, if it caps the size: the layer then
    /// refuses a longer token as soon as it finds it, before reading it, so that oversized
    /// tokens cost little. `None` (the default): no cap, every token found is handed over.
    fn max_token_len(&self) -> Option<usize> {
        None
    }

    /// Told that `revocation` was made (on this replica or another), so that a verifier with a
    /// cache drops the answers it revokes: the [`IntrospectionVerifier`] forgets them and asks
    /// the provider again. [`Revocable`] tells the verifier it wraps; the default does nothing
    /// (the revoked tokens are refused by [`Revocable`] either way).
    fn revoked(&self, revocation: &Revocation) {
        let _ = revocation;
    }
}

impl<V: Verifier + ?Sized> Verifier for Arc<V> {
    fn verify(&self, token: &str) -> Verification {
        (**self).verify(token)
    }

    fn revoked(&self, revocation: &Revocation) {
        (**self).revoked(revocation);
    }

    fn readiness(&self) -> Option<ReadinessCheck> {
        (**self).readiness()
    }

    fn max_token_len(&self) -> Option<usize> {
        (**self).max_token_len()
    }
}

impl<V: Verifier + ?Sized> Verifier for Box<V> {
    fn verify(&self, token: &str) -> Verification {
        (**self).verify(token)
    }

    fn revoked(&self, revocation: &Revocation) {
        (**self).revoked(revocation);
    }

    fn readiness(&self) -> Option<ReadinessCheck> {
        (**self).readiness()
    }

    fn max_token_len(&self) -> Option<usize> {
        (**self).max_token_len()
    }
}

/// The `with_*` settings every JWT verifier shares, forwarded to the `Validation` that the
/// verifier's method `$validation` hands out mutably.
macro_rules! validation_setters {
    ($validation:ident) => {
        /// Accepts tokens whose `aud` contains `audience`, in addition to those configured.
        pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
            self.$validation().audiences.push(audience.into());
            self
        }

        /// Accepts any `aud`. Only for a provider whose tokens carry no meaningful audience;
        /// RFC 8725 §3.9 asks for the audience check.
        pub fn with_any_audience(mut self) -> Self {
            self.$validation().any_audience = true;
            self
        }

        /// The clock skew allowed on `exp` and `nbf`. Default: 60 seconds.
        pub fn with_leeway(mut self, leeway: std::time::Duration) -> Self {
            self.$validation().leeway = leeway.as_secs();
            self
        }

        /// Whether a token without `exp` is refused. Default: `true`.
        pub fn with_required_exp(mut self, required: bool) -> Self {
            self.$validation().require_exp = required;
            self
        }

        /// Requires the `typ` header to be `typ` (case-insensitive, with or without
        /// `application/`), e.g. `at+jwt` for RFC 9068 tokens. Default: not checked, because
        /// ZITADEL, Entra and FusionAuth send `typ: JWT`.
        pub fn with_typ(mut self, typ: impl Into<String>) -> Self {
            self.$validation().typ = Some(typ.into());
            self
        }

        /// Accepts only these algorithms (each key still allows only those of its type).
        /// Default: every algorithm the key type allows.
        pub fn with_algorithms(
            mut self,
            algorithms: impl IntoIterator<Item = crate::Algorithm>,
        ) -> Self {
            self.$validation().algorithms = Some(algorithms.into_iter().collect());
            self
        }

        /// The largest token accepted, checked before anything else. Default: 8 KiB.
        pub fn with_max_token_len(mut self, bytes: usize) -> Self {
            self.$validation().max_token_len = bytes;
            self
        }

        /// Where the roles are in the token. Default: a `roles` array claim.
        pub fn with_role_source(mut self, roles: crate::RoleSource) -> Self {
            self.$validation().roles = roles;
            self
        }
    };
}
pub(crate) use validation_setters;
