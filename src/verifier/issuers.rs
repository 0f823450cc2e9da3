//! [`MultiIssuer`]: several issuers behind one layer.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::Verifier;
use super::jwt_core::{DEFAULT_MAX_TOKEN_LEN, peek_issuer};
use crate::claims::Claims;
use crate::error::AuthError;

/// Dispatches each JWT to the verifier configured for its `iss`; other tokens go to a fallback.
///
/// The `iss` claim is read without verification only to choose the verifier; that verifier then
/// checks everything, the issuer included. No verifier is ever tried after another one failed.
/// Tokens that are not JWTs, or are JWTs of no configured issuer, go to the
/// [fallback](Self::with_fallback) if there is one (e.g. introspection for ZITADEL's opaque
/// tokens), else are refused without trying any key.
///
/// ```
/// use tower_authz::{JwksVerifier, MultiIssuer};
///
/// let verifier = MultiIssuer::new()
///     .with_issuer(
///         "https://login.example.com",
///         JwksVerifier::discover("https://login.example.com", "api").unwrap(),
///     )
///     .with_issuer(
///         "https://partner.example.org",
///         JwksVerifier::discover("https://partner.example.org", "api").unwrap(),
///     );
/// ```
#[derive(Default, Clone)]
pub struct MultiIssuer {
    by_issuer: HashMap<String, Arc<dyn Verifier>>,
    fallback: Option<Arc<dyn Verifier>>,
}

impl fmt::Debug for MultiIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiIssuer")
            .field("issuers", &self.by_issuer.keys().collect::<Vec<_>>())
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

impl MultiIssuer {
    /// No issuers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends tokens whose `iss` is exactly `issuer` to `verifier`.
    pub fn with_issuer(mut self, issuer: impl Into<String>, verifier: impl Verifier) -> Self {
        self.by_issuer.insert(issuer.into(), Arc::new(verifier));
        self
    }

    /// Sends every other token (opaque tokens, JWTs of other issuers) to `verifier`.
    ///
    /// ```
    /// use tower_authz::{ClientAuth, IntrospectionVerifier, JwksVerifier, MultiIssuer, RoleSource};
    ///
    /// // ZITADEL issues both JWT and opaque access tokens: verify JWTs locally, introspect the rest.
    /// let issuer = "https://my-instance.zitadel.cloud";
    /// let verifier = MultiIssuer::new()
    ///     .with_issuer(issuer, JwksVerifier::discover(issuer, "my-project-id").unwrap())
    ///     .with_fallback(
    ///         IntrospectionVerifier::discover(issuer, ClientAuth::basic("my-api", "secret")).unwrap(),
    ///     );
    /// ```
    pub fn with_fallback(mut self, verifier: impl Verifier) -> Self {
        self.fallback = Some(Arc::new(verifier));
        self
    }
}

#[async_trait]
impl Verifier for MultiIssuer {
    fn verify_now(&self, token: &str) -> Option<Result<Claims, AuthError>> {
        let issuer = peek_issuer(token, DEFAULT_MAX_TOKEN_LEN)?;
        self.by_issuer.get(&issuer)?.verify_now(token)
    }

    async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let issuer = peek_issuer(token, DEFAULT_MAX_TOKEN_LEN);
        let chosen = issuer.as_deref().and_then(|iss| self.by_issuer.get(iss));
        match (chosen, &self.fallback) {
            (Some(verifier), _) | (None, Some(verifier)) => verifier.verify(token).await,
            (None, None) if issuer.is_none() => Err(AuthError::invalid_token(
                "the token is not a JWT with an issuer",
            )),
            (None, None) => Err(AuthError::invalid_token(
                "the token is from an unknown issuer",
            )),
        }
    }
}
