//! [`MultiIssuer`]: several issuers behind one layer.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::jwt_core::{DEFAULT_MAX_TOKEN_LEN, peek_issuer};
use super::{Verification, Verifier};
use crate::error::AuthError;
use crate::readiness::ReadinessCheck;
use crate::telemetry::{CacheUse, VerifierKind, verifier_report};

/// Dispatches each JWT to the verifier configured for its `iss`; other tokens go to a fallback.
///
/// The `iss` claim is read without verification only to choose the verifier; that verifier then
/// checks everything, the issuer included. No verifier is ever tried after another one failed.
/// Tokens that are not JWTs, or are JWTs of no configured issuer, go to the
/// [fallback](Self::with_fallback) if there is one (e.g. introspection for ZITADEL's opaque
/// tokens), else are refused without trying any key. A fallback that costs a call to the
/// provider per unknown token is best given the shape of the tokens it can accept
/// ([`with_fallback_for`](Self::with_fallback_for)), so that made-up tokens of other shapes are
/// refused here.
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
    /// Which tokens the fallback is asked about; `None`: all of them.
    fallback_shape: Option<Arc<Shape>>,
}

/// A predicate on tokens: whether the fallback is asked about one.
type Shape = dyn Fn(&str) -> bool + Send + Sync;

impl fmt::Debug for MultiIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiIssuer")
            .field("issuers", &self.by_issuer.keys().collect::<Vec<_>>())
            .field("fallback", &self.fallback.is_some())
            .field("fallback_shape", &self.fallback_shape.is_some())
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

    /// Sends every other token (opaque tokens, JWTs of other issuers) to `verifier`. For a
    /// fallback that calls the provider, prefer [`with_fallback_for`](Self::with_fallback_for).
    ///
    /// ```
    /// use tower_authz::{AudienceCheck, ClientAuth, IntrospectionVerifier, JwksVerifier, MultiIssuer};
    ///
    /// // ZITADEL issues both JWT and opaque access tokens: verify JWTs locally, introspect the rest
    /// // (ZITADEL checks the audience of what it introspects).
    /// let issuer = "https://my-instance.zitadel.cloud";
    /// let verifier = MultiIssuer::new()
    ///     .with_issuer(issuer, JwksVerifier::discover(issuer, "my-project-id").unwrap())
    ///     .with_fallback(
    ///         IntrospectionVerifier::discover(
    ///             issuer,
    ///             ClientAuth::basic("my-api", "secret"),
    ///             AudienceCheck::left_to_provider(),
    ///         )
    ///         .unwrap(),
    ///     );
    /// ```
    pub fn with_fallback(mut self, verifier: impl Verifier) -> Self {
        self.fallback = Some(Arc::new(verifier));
        self.fallback_shape = None;
        self
    }

    /// Sends the other tokens for which `shape` is true to `verifier`; the rest are refused
    /// here (401 `invalid_token`) without calling it. Use it for a fallback that costs a call to
    /// the provider (introspection), with the shape of the tokens that provider issues, so that a
    /// flood of made-up tokens (too short, too long, the wrong characters, JWT-shaped) costs
    /// nothing upstream.
    ///
    /// ```
    /// use tower_authz::{AudienceCheck, ClientAuth, IntrospectionVerifier, JwksVerifier, MultiIssuer};
    ///
    /// let issuer = "https://id.example.com";
    /// // This provider's opaque tokens: 32 to 128 base64url characters, no dots.
    /// let opaque = |token: &str| {
    ///     (32..=128).contains(&token.len())
    ///         && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    /// };
    /// let verifier = MultiIssuer::new()
    ///     .with_issuer(issuer, JwksVerifier::discover(issuer, "my-api").unwrap())
    ///     .with_fallback_for(
    ///         IntrospectionVerifier::new(
    ///             issuer,
    ///             "https://id.example.com/introspect",
    ///             ClientAuth::basic("my-api", "secret"),
    ///             "my-api",
    ///         )
    ///         .unwrap(),
    ///         opaque,
    ///     );
    /// ```
    pub fn with_fallback_for(
        mut self,
        verifier: impl Verifier,
        shape: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.fallback = Some(Arc::new(verifier));
        self.fallback_shape = Some(Arc::new(shape));
        self
    }
}

impl MultiIssuer {
    /// A readiness check of every configured issuer's verifier and of the fallback (those that
    /// depend on a provider, see [`Verifier::readiness`]): ready only when **all** of them are,
    /// since a token of any configured issuer could otherwise be answered 503. An issuer that
    /// may be down without the service being unready belongs behind its own layer. Take it
    /// after the last `with_*` call.
    ///
    /// ```
    /// use tower_authz::{JwksVerifier, MultiIssuer};
    ///
    /// let verifier = MultiIssuer::new()
    ///     .with_issuer("https://a.example.com", JwksVerifier::discover("https://a.example.com", "api").unwrap())
    ///     .with_issuer("https://b.example.com", JwksVerifier::discover("https://b.example.com", "api").unwrap());
    /// let readiness = verifier.readiness();
    /// // Nothing loaded yet: two statuses, in the issuers' order, neither ready.
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let report = readiness.check();
    /// assert_eq!(report.statuses().len(), 2);
    /// assert_eq!(report.statuses()[0].issuer, "https://a.example.com");
    /// assert!(!report.is_ready());
    /// # });
    /// ```
    pub fn readiness(&self) -> ReadinessCheck {
        let mut issuers: Vec<_> = self.by_issuer.iter().collect();
        issuers.sort_by(|a, b| a.0.cmp(b.0));
        issuers
            .into_iter()
            .map(|(_, verifier)| verifier)
            .chain(&self.fallback)
            .filter_map(|verifier| verifier.readiness())
            .fold(ReadinessCheck::new(), ReadinessCheck::and)
    }
}

/// `iss` is peeked once; the chosen verifier's answer (at once or pending) is the answer.
impl Verifier for MultiIssuer {
    fn readiness(&self) -> Option<ReadinessCheck> {
        Some(MultiIssuer::readiness(self))
    }

    /// Every verifier is told (a subject's record may name no issuer).
    fn revoked(&self, revocation: &crate::revocation::Revocation) {
        for verifier in self.by_issuer.values().chain(&self.fallback) {
            verifier.revoked(revocation);
        }
    }

    /// The largest cap of its verifiers (a token any of them could accept is read), `None` if
    /// one of them has none.
    fn max_token_len(&self) -> Option<usize> {
        self.by_issuer
            .values()
            .chain(&self.fallback)
            .map(|verifier| verifier.max_token_len())
            .try_fold(0, |largest, cap| cap.map(|cap| largest.max(cap)))
    }

    fn verify(&self, token: &str) -> Verification {
        peek_issuer(token, DEFAULT_MAX_TOKEN_LEN, |issuer| {
            let chosen = issuer.and_then(|iss| self.by_issuer.get(iss));
            // The chosen verifier reports its own (configured) issuer; a token of no configured
            // issuer is refused here, and its `iss` is not reported.
            let refused = |why| {
                verifier_report(VerifierKind::MultiIssuer, None, CacheUse::None);
                Verification::Ready(Err(AuthError::invalid_token(why)))
            };
            match (chosen, &self.fallback) {
                (Some(verifier), _) => verifier.verify(token),
                (None, Some(_))
                    if self
                        .fallback_shape
                        .as_ref()
                        .is_some_and(|shape| !shape(token)) =>
                {
                    refused("the token is of no configured issuer and not of the fallback's shape")
                }
                (None, Some(verifier)) => verifier.verify(token),
                (None, None) if issuer.is_none() => {
                    refused("the token is not a JWT with an issuer")
                }
                (None, None) => refused("the token is from an unknown issuer"),
            }
        })
    }
}
