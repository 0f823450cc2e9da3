//! [`AuthLayer`]: finds the token, verifies it, and puts the [`Claims`](crate::Claims) into the
//! request extensions, or answers 400/401/403/503 (gRPC status codes for gRPC requests).

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::Settings;
use super::service::Auth;
use crate::response::{BearerChallenges, Rfc6750};
use crate::token::TokenSource;
use crate::verifier::Verifier;

/// Protects a service with access tokens.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_authz::{AuthLayer, Claims, JwksVerifier};
///
/// let verifier = JwksVerifier::discover("https://my-instance.zitadel.cloud", "my-api").unwrap();
/// let app: Router = Router::new()
///     .route("/whoami", get(|claims: Claims| async move { format!("{:?}", claims.subject()) }))
///     .layer(AuthLayer::new(verifier));
/// ```
///
/// By default the token is read from the `Authorization: Bearer` header and is required. See
/// [`with_token_sources`](Self::with_token_sources) for cookies and your own sources,
/// [`optional`](Self::optional) for routes that also serve anonymous callers, and
/// [`with_response`](Self::with_response) to answer refusals your own way.
pub struct AuthLayer<R = Rfc6750> {
    // Behind one `Arc`: applying the layer (which axum may do per request) and cloning the
    // service cost one reference count, not one per setting.
    settings: Arc<Settings<R>>,
}

impl<R> Clone for AuthLayer<R> {
    fn clone(&self) -> Self {
        Self {
            settings: Arc::clone(&self.settings),
        }
    }
}

impl<R> AuthLayer<R> {
    /// The settings, to change while building (copied if an `Auth` already shares them).
    fn settings_mut(&mut self) -> &mut Settings<R> {
        Arc::make_mut(&mut self.settings)
    }
}

impl<R: fmt::Debug> fmt::Debug for AuthLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.settings.fmt(f)
    }
}

impl AuthLayer {
    /// Requires a bearer token that `verifier` accepts.
    pub fn new(verifier: impl Verifier) -> Self {
        Self::from_arc(Arc::new(verifier))
    }

    /// Like [`new`](Self::new), sharing a verifier that is already behind an `Arc`.
    pub fn from_arc(verifier: Arc<dyn Verifier>) -> Self {
        Self {
            settings: Arc::new(Settings {
                max_token_len: verifier.max_token_len().unwrap_or(usize::MAX),
                verifier,
                sources: Arc::from([TokenSource::bearer()]),
                optional: false,
                dpop: None,
                responder: Arc::new(Rfc6750::default()),
            }),
        }
    }
}

impl<R: BearerChallenges + Clone> AuthLayer<R> {
    /// Adds `realm="..."` to the challenges of the layer's responder ([`Rfc6750`], the default,
    /// or [`ProblemDetails`](crate::ProblemDetails)), for its own refusals and those made
    /// behind it.
    ///
    /// ```
    /// use tower_authz::{AuthLayer, JwtVerifier};
    ///
    /// # let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
    /// // A 401 says `WWW-Authenticate: Bearer realm="tasks"`.
    /// let layer = AuthLayer::new(verifier).with_realm("tasks");
    /// ```
    pub fn with_realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        let challenges = self.responder_mut().challenges_mut();
        *challenges = std::mem::take(challenges).with_realm(realm);
        self
    }

    /// Adds `resource_metadata="..."` (RFC 9728) to the challenges of the layer's responder.
    pub fn with_resource_metadata(mut self, url: impl Into<Arc<str>>) -> Self {
        let challenges = self.responder_mut().challenges_mut();
        *challenges = std::mem::take(challenges).with_resource_metadata(url);
        self
    }

    /// Points the challenges at `metadata`'s document (RFC 9728 §5.1); serve the document with
    /// [`ProtectedResourceMetadata::layer`](crate::ProtectedResourceMetadata::layer).
    pub fn with_protected_resource(self, metadata: &crate::ProtectedResourceMetadata) -> Self {
        self.with_resource_metadata(metadata.metadata_url())
    }

    /// The responder, to change while building (copied if a built `Auth` shares it).
    fn responder_mut(&mut self) -> &mut R {
        Arc::make_mut(&mut self.settings_mut().responder)
    }
}

impl<R> AuthLayer<R> {
    /// Where to look for the token, in order; the first source that has one wins.
    ///
    /// ```
    /// use tower_authz::{AuthLayer, JwtVerifier, TokenSource};
    ///
    /// # let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
    /// // FusionAuth's hosted backend: the access token is in the `app.at` cookie.
    /// let layer = AuthLayer::new(verifier)
    ///     .with_token_sources([TokenSource::cookie("app.at"), TokenSource::bearer()]);
    /// ```
    pub fn with_token_sources(mut self, sources: impl IntoIterator<Item = TokenSource>) -> Self {
        self.settings_mut().sources = sources.into_iter().collect();
        self
    }

    /// Lets requests without any token through, without claims (a `Claims` extractor or a
    /// require layer then answers 401, an `Option<Claims>` extractor gives `None`). A token that
    /// is present but bad is still refused.
    pub fn optional(mut self) -> Self {
        self.settings_mut().optional = true;
        self
    }

    /// Accepts DPoP-bound tokens (RFC 9449) as `policy` says: required, or allowed beside
    /// bearer tokens; see [`dpop`](crate::dpop) for the checks and the answers. Off by default,
    /// and then the bearer path is exactly as without DPoP. The replay cache is the layer's:
    /// clones of the layer share it, a second `with_dpop` starts a new one.
    ///
    /// The token sources other than the `Authorization` header (cookies, your own) give bearer
    /// tokens: refused when DPoP is required, accepted if not DPoP-bound when it is allowed.
    ///
    /// ```
    /// use tower_authz::{AuthLayer, DpopPolicy, JwtVerifier};
    ///
    /// # let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
    /// let layer = AuthLayer::new(verifier).with_dpop(DpopPolicy::allowed());
    /// ```
    pub fn with_dpop(mut self, policy: crate::DpopPolicy) -> Self {
        self.settings_mut().dpop = Some(Arc::new(crate::dpop::DpopCheck::new(policy)));
        self
    }

    /// Answers refusals with `responder` instead of the RFC 6750 defaults: the layer's own, and
    /// those made behind it by the require layers ([`require_role`](crate::require_role), ...)
    /// and the axum extractors (unless a require layer has its own `with_response`), e.g.
    /// [`ProblemDetails`](crate::ProblemDetails) or a closure. The
    /// [`AuthError`](crate::AuthError) is put into the response's extensions either way.
    ///
    /// The new responder replaces the old one with its settings: call
    /// [`with_realm`](Self::with_realm) and [`with_protected_resource`](Self::with_protected_resource)
    /// after this, not before.
    ///
    /// ```
    /// use tower_authz::{AuthLayer, JwtVerifier, ProblemDetails};
    ///
    /// # let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
    /// let layer = AuthLayer::new(verifier).with_response(ProblemDetails::default());
    /// ```
    pub fn with_response<R2>(self, responder: R2) -> AuthLayer<R2> {
        let Settings {
            verifier,
            sources,
            max_token_len,
            optional,
            dpop,
            ..
        } = Arc::unwrap_or_clone(self.settings);
        AuthLayer {
            settings: Arc::new(Settings {
                verifier,
                sources,
                max_token_len,
                optional,
                dpop,
                responder: Arc::new(responder),
            }),
        }
    }
}

impl<S, R> Layer<S> for AuthLayer<R> {
    type Service = Auth<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth::new(inner, self.clone())
    }
}

impl<S, R> Auth<S, R> {
    /// Wraps `inner` with the settings of `layer`.
    pub fn new(inner: S, layer: AuthLayer<R>) -> Self {
        Self::with_settings(inner, layer.settings)
    }
}
