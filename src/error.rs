//! Errors: [`AuthError`] for everything a request can be refused for, and [`ConfigError`] for a
//! configuration that cannot work.
//!
//! Both are opaque structs with a `kind()`; match on the kind, never on the text.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why a request was refused. See [`AuthError::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// No token was sent. HTTP 401 with a bare `WWW-Authenticate: Bearer` challenge; gRPC
    /// `UNAUTHENTICATED`.
    MissingCredentials,
    /// The request itself is malformed, e.g. two `Authorization` headers (a malformed *token* is
    /// [`InvalidToken`](Self::InvalidToken), RFC 6750 §3.1). HTTP 400 `invalid_request`; gRPC
    /// `UNAUTHENTICATED`.
    InvalidRequest,
    /// The token is malformed (including a `Bearer` credential outside RFC 6750's `b64token`
    /// syntax), forged, for another audience or issuer, or revoked. HTTP 401
    /// `invalid_token`; gRPC `UNAUTHENTICATED`.
    InvalidToken,
    /// The token was valid once but its `exp` has passed (or its `nbf` has not come yet). HTTP 401
    /// `invalid_token`; gRPC `UNAUTHENTICATED`.
    Expired,
    /// The token is valid but lacks a required scope or role. HTTP 403 `insufficient_scope`; gRPC
    /// `PERMISSION_DENIED`.
    InsufficientScope,
    /// The token is valid but its user authentication is not strong enough or too old for this
    /// resource (RFC 9470 step-up): HTTP 401 `insufficient_user_authentication` with
    /// `acr_values` and/or `max_age` in the challenge, so that the client asks the authorization
    /// server for a new token; gRPC `UNAUTHENTICATED`.
    InsufficientUserAuthentication,
    /// The identity provider could not be reached or answered nonsense, and the token could not be
    /// verified without it. HTTP 503 with `Retry-After`; gRPC `UNAVAILABLE`.
    Upstream,
    /// The route reads claims but no [`AuthLayer`](crate::AuthLayer) runs in front of it: a bug
    /// in the service, not in the request. HTTP 500; gRPC `INTERNAL`.
    NotConfigured,
    /// The DPoP proof (RFC 9449 §4.3) is malformed, signed with a key or an algorithm that is
    /// not accepted, made for another method or URL, too old, replayed, or for another access
    /// token or key than the one sent. HTTP 401 `invalid_dpop_proof` in a `DPoP` challenge;
    /// gRPC `UNAUTHENTICATED`.
    InvalidDpopProof,
    /// The DPoP proof lacks the server nonce (or has an old one) that this resource requires
    /// (RFC 9449 §9): HTTP 401 `use_dpop_nonce` in a `DPoP` challenge with a fresh `DPoP-Nonce`
    /// header (see [`AuthError::dpop_nonce`]), which the client puts into its next proof; gRPC
    /// `UNAUTHENTICATED`.
    UseDpopNonce,
}

impl AuthErrorKind {
    /// A stable snake_case name for this kind, the `kind` label of the metrics and the
    /// `refused:<kind>` outcome of the verification span (see [`telemetry`](crate::telemetry)):
    /// `missing_credentials`, `invalid_request`, `invalid_token`, `expired`,
    /// `insufficient_scope`, `insufficient_user_authentication`, `upstream`, `not_configured`,
    /// `invalid_dpop_proof`, `use_dpop_nonce`.
    /// A name never changes once released; a new kind gets a new name.
    ///
    /// ```
    /// use tower_authz::AuthErrorKind;
    ///
    /// assert_eq!(AuthErrorKind::Expired.as_str(), "expired");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::Expired => "expired",
            Self::InsufficientScope => "insufficient_scope",
            Self::InsufficientUserAuthentication => "insufficient_user_authentication",
            Self::Upstream => "upstream",
            Self::NotConfigured => "not_configured",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }

    /// The HTTP status this kind answers with.
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::MissingCredentials
            | Self::InvalidToken
            | Self::Expired
            | Self::InsufficientUserAuthentication
            | Self::InvalidDpopProof
            | Self::UseDpopNonce => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::InsufficientScope => StatusCode::FORBIDDEN,
            Self::Upstream => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error` code of the challenge (RFC 6750 §3.1, RFC 9470, RFC 9449 §7.1), if this kind
    /// has one.
    pub fn rfc6750_code(self) -> Option<&'static str> {
        match self {
            Self::InvalidRequest => Some("invalid_request"),
            Self::InvalidToken | Self::Expired => Some("invalid_token"),
            Self::InsufficientScope => Some("insufficient_scope"),
            Self::InsufficientUserAuthentication => Some("insufficient_user_authentication"),
            Self::InvalidDpopProof => Some("invalid_dpop_proof"),
            Self::UseDpopNonce => Some("use_dpop_nonce"),
            Self::MissingCredentials | Self::Upstream | Self::NotConfigured => None,
        }
    }

    /// The gRPC status code (`grpc-status`) this kind answers with.
    pub fn grpc_code(self) -> u8 {
        match self {
            Self::MissingCredentials
            | Self::InvalidRequest
            | Self::InvalidToken
            | Self::Expired
            | Self::InsufficientUserAuthentication
            | Self::InvalidDpopProof
            | Self::UseDpopNonce => 16,
            Self::InsufficientScope => 7,
            Self::Upstream => 14,
            Self::NotConfigured => 13,
        }
    }
}

/// A request was refused: no token, a bad token, a missing role or scope, or an unreachable
/// identity provider.
///
/// The error is cheap to clone and is put into the extensions of the rejection response, so an
/// outer layer or a test can read it. Its [`description`](Self::description) is a fixed,
/// client-safe sentence (it becomes the RFC 6750 `error_description`); the underlying cause, if
/// any, is reachable through [`std::error::Error::source`] and is only ever logged, never sent.
#[derive(Clone)]
pub struct AuthError {
    kind: AuthErrorKind,
    description: &'static str,
    required: Option<Cow<'static, str>>,
    step_up: Option<Box<StepUp>>,
    retry_after: Option<Duration>,
    /// The `DPoP` challenge of a layer that accepts DPoP (RFC 9449 §7), and a server nonce.
    dpop: Option<Box<DpopChallenge>>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

/// How the refusal of a layer that accepts DPoP challenges the client (RFC 9449 §7.1, §7.2).
#[derive(Debug, Clone, Default)]
struct DpopChallenge {
    /// The `algs` parameter (space-separated), when the layer set the challenge.
    algs: Option<Arc<str>>,
    /// A `Bearer` challenge goes before the `DPoP` one (bearer tokens are accepted too).
    bearer_too: bool,
    /// The `error` goes into the `Bearer` challenge (the request used a bearer token).
    error_in_bearer: bool,
    /// A fresh server nonce, for the `DPoP-Nonce` header.
    nonce: Option<Box<str>>,
}

impl AuthError {
    /// Creates an error of `kind` with a fixed, client-safe description.
    ///
    /// The description must be printable ASCII without `"` or `\` (RFC 6750 §3); other characters
    /// are dropped when the challenge is written.
    pub fn new(kind: AuthErrorKind, description: &'static str) -> Self {
        Self {
            kind,
            description,
            required: None,
            step_up: None,
            retry_after: None,
            dpop: None,
            source: None,
        }
    }

    /// No token was sent.
    pub fn missing_credentials() -> Self {
        Self::new(AuthErrorKind::MissingCredentials, "no access token")
    }

    /// The token is not acceptable; `description` says why in a fixed sentence.
    pub fn invalid_token(description: &'static str) -> Self {
        Self::new(AuthErrorKind::InvalidToken, description)
    }

    /// The request is malformed; `description` says why in a fixed sentence.
    pub fn invalid_request(description: &'static str) -> Self {
        Self::new(AuthErrorKind::InvalidRequest, description)
    }

    /// The token lacks the role or scope `required`.
    pub fn insufficient_scope(required: impl Into<Cow<'static, str>>) -> Self {
        let mut error = Self::new(
            AuthErrorKind::InsufficientScope,
            "the token lacks a required role or scope",
        );
        error.required = Some(required.into());
        error
    }

    /// The caller may not do this (a policy refused): 403 `insufficient_scope`, with
    /// `description` saying why in a fixed sentence and no scope named.
    pub fn forbidden(description: &'static str) -> Self {
        Self::new(AuthErrorKind::InsufficientScope, description)
    }

    /// The user's authentication is not enough for this resource (RFC 9470): the client should
    /// get a new token whose `acr` is one of `acr_values` (space-separated, if given) and whose
    /// `auth_time` is at most `max_age` old (if given).
    pub fn insufficient_user_authentication(
        acr_values: Option<Cow<'static, str>>,
        max_age: Option<Duration>,
    ) -> Self {
        let mut error = Self::new(
            AuthErrorKind::InsufficientUserAuthentication,
            "a different authentication level is required",
        );
        error.step_up = Some(Box::new(StepUp {
            acr_values,
            max_age: max_age.map(|d| d.as_secs()),
        }));
        error
    }

    /// Names the scope(s) that would have been enough, space-separated (the challenge's `scope`,
    /// RFC 6750 §3): for a 401 to an anonymous caller of a route that requires a scope.
    pub fn with_required(mut self, required: impl Into<Cow<'static, str>>) -> Self {
        self.required = Some(required.into());
        self
    }

    /// The DPoP proof is not acceptable; `description` says why in a fixed sentence.
    pub fn invalid_dpop_proof(description: &'static str) -> Self {
        Self::new(AuthErrorKind::InvalidDpopProof, description)
    }

    /// The DPoP proof must carry the server nonce `nonce` (sent in the `DPoP-Nonce` header).
    pub fn use_dpop_nonce(nonce: impl Into<Box<str>>) -> Self {
        let mut error = Self::new(
            AuthErrorKind::UseDpopNonce,
            "the DPoP proof must carry the nonce in the DPoP-Nonce header",
        );
        error.dpop_mut().nonce = Some(nonce.into());
        error
    }

    /// Makes the challenge a `DPoP` one with `algs` (the accepted proof algorithms,
    /// space-separated), after a bare `Bearer` one when `bearer_too`; the `error` goes into the
    /// `Bearer` challenge when `error_in_bearer` (and `bearer_too`), into the `DPoP` one
    /// otherwise (RFC 9449 §7.2). Set by [`AuthLayer`](crate::AuthLayer) on its refusals when
    /// it accepts DPoP.
    pub(crate) fn with_dpop_challenge(
        mut self,
        algs: &Arc<str>,
        bearer_too: bool,
        error_in_bearer: bool,
    ) -> Self {
        let dpop_kind = matches!(
            self.kind,
            AuthErrorKind::InvalidDpopProof | AuthErrorKind::UseDpopNonce
        );
        let dpop = self.dpop_mut();
        dpop.algs = Some(Arc::clone(algs));
        dpop.bearer_too = bearer_too;
        dpop.error_in_bearer = bearer_too && error_in_bearer && !dpop_kind;
        self
    }

    fn dpop_mut(&mut self) -> &mut DpopChallenge {
        self.dpop.get_or_insert_with(Box::default)
    }

    /// The `algs` of the `DPoP` challenge (RFC 9449 §7.1), when the layer that refused
    /// accepts DPoP.
    pub fn dpop_algs(&self) -> Option<&str> {
        self.dpop.as_ref()?.algs.as_deref()
    }

    /// Whether the challenge offers `Bearer` before `DPoP` (a layer that allows both), and
    /// whether the `error` goes into the `Bearer` challenge.
    pub(crate) fn dpop_bearer(&self) -> (bool, bool) {
        self.dpop
            .as_ref()
            .map_or((false, false), |d| (d.bearer_too, d.error_in_bearer))
    }

    /// The server nonce for the `DPoP-Nonce` header, for
    /// [`UseDpopNonce`](AuthErrorKind::UseDpopNonce).
    pub fn dpop_nonce(&self) -> Option<&str> {
        self.dpop.as_ref()?.nonce.as_deref()
    }

    /// The identity provider could not be used; `description` says what failed.
    pub fn upstream(description: &'static str) -> Self {
        Self::new(AuthErrorKind::Upstream, description)
    }

    /// Attaches the underlying cause (logged, never sent to the client).
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// Sets the `Retry-After` hint of an [`Upstream`](AuthErrorKind::Upstream) error.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// What kind of refusal this is.
    pub fn kind(&self) -> AuthErrorKind {
        self.kind
    }

    /// The fixed, client-safe sentence describing the error.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// The role or scope that was required, for [`InsufficientScope`](AuthErrorKind::InsufficientScope).
    pub fn required(&self) -> Option<&str> {
        self.required.as_deref()
    }

    /// The acceptable `acr` values (space-separated), for
    /// [`InsufficientUserAuthentication`](AuthErrorKind::InsufficientUserAuthentication).
    pub fn acr_values(&self) -> Option<&str> {
        self.step_up.as_ref()?.acr_values.as_deref()
    }

    /// The largest accepted age of the user's authentication in seconds, for
    /// [`InsufficientUserAuthentication`](AuthErrorKind::InsufficientUserAuthentication).
    pub fn max_age(&self) -> Option<u64> {
        self.step_up.as_ref()?.max_age
    }

    /// How long a client should wait before retrying, for [`Upstream`](AuthErrorKind::Upstream).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> http::StatusCode {
        self.kind.status()
    }
}

/// What a step-up refusal asks for (RFC 9470 §3).
#[derive(Debug, Clone)]
struct StepUp {
    acr_values: Option<Cow<'static, str>>,
    max_age: Option<u64>,
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("AuthError");
        s.field("kind", &self.kind)
            .field("description", &self.description);
        if let Some(required) = &self.required {
            s.field("required", required);
        }
        if let Some(step_up) = &self.step_up {
            s.field("step_up", step_up);
        }
        if let Some(dpop) = &self.dpop {
            s.field("dpop", dpop);
        }
        if let Some(source) = &self.source {
            s.field("source", &format_args!("{source}"));
        }
        s.finish()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description)?;
        if let Some(required) = &self.required {
            write!(f, " (requires `{required}`)")?;
        }
        Ok(())
    }
}

impl StdError for AuthError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

/// What is wrong with a configuration. See [`ConfigError::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// A URL does not parse or has a scheme other than `http`/`https`.
    InvalidUrl,
    /// A URL of the identity provider is plain `http://` to a host that is not a loopback
    /// address: use `https://`, or [`ProviderUrl::allow_insecure_http`](crate::ProviderUrl::allow_insecure_http)
    /// on a trusted network.
    InsecureUrl,
    /// A key (PEM, JWK, secret, key file) cannot be used.
    InvalidKey,
    /// A key file or document is missing a field or has one of the wrong type.
    InvalidKeyFile,
    /// A value is out of its allowed range or contradicts another setting.
    InvalidValue,
    /// A file could not be read.
    Io,
    /// A policy does not parse or does not type-check against its schema, or the schema does
    /// not parse (feature `cedar`); the message names the policy and the line.
    InvalidPolicy,
    /// A configuration file or environment variable does not parse, has an unknown or missing
    /// field, names a policy that is not there, or a secret that cannot be read (feature
    /// `config`); [`ConfigError::field`] says where.
    InvalidConfig,
}

/// A configuration that cannot work: a bad URL, a key that does not parse, a malformed key file.
///
/// Returned by constructors and `with_*` methods that validate their input, never at request time.
#[derive(Clone)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    message: Cow<'static, str>,
    field: Option<Box<str>>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl ConfigError {
    /// Creates a configuration error. The message must not contain secrets.
    pub fn new(kind: ConfigErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            field: None,
            source: None,
        }
    }

    /// Names the configuration field the error is about, as a path such as
    /// `issuers[1].introspection.client_secret.env` (or an environment variable's name); it is
    /// put before the message in `Display`.
    ///
    /// ```
    /// use tower_authz::{ConfigError, ConfigErrorKind};
    ///
    /// let error = ConfigError::new(ConfigErrorKind::InvalidValue, "must not be empty")
    ///     .with_field("issuers[0].audience");
    /// assert_eq!(error.field(), Some("issuers[0].audience"));
    /// assert_eq!(error.to_string(), "issuers[0].audience: must not be empty");
    /// ```
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into().into_boxed_str());
        self
    }

    /// The configuration field the error is about, if known (see
    /// [`with_field`](Self::with_field)).
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// What kind of configuration problem this is.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ConfigError");
        s.field("kind", &self.kind);
        if let Some(field) = &self.field {
            s.field("field", field);
        }
        s.field("message", &self.message).finish()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for ConfigError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_rfc6750_and_grpc() {
        assert_eq!(AuthErrorKind::MissingCredentials.status(), 401);
        assert_eq!(AuthErrorKind::MissingCredentials.rfc6750_code(), None);
        assert_eq!(AuthErrorKind::Expired.rfc6750_code(), Some("invalid_token"));
        assert_eq!(AuthErrorKind::InsufficientScope.status(), 403);
        assert_eq!(AuthErrorKind::InsufficientScope.grpc_code(), 7);
        assert_eq!(AuthErrorKind::Upstream.status(), 503);
        assert_eq!(AuthErrorKind::Upstream.grpc_code(), 14);
        assert_eq!(AuthErrorKind::InvalidRequest.status(), 400);
        for kind in [AuthErrorKind::InvalidDpopProof, AuthErrorKind::UseDpopNonce] {
            assert_eq!(kind.status(), 401);
            assert_eq!(kind.grpc_code(), 16);
            assert_eq!(kind.rfc6750_code(), Some(kind.as_str()));
        }
    }

    #[test]
    fn a_dpop_error_stays_in_the_dpop_challenge() {
        let algs: Arc<str> = Arc::from("ES256");
        let proof = AuthError::invalid_dpop_proof("bad").with_dpop_challenge(&algs, true, true);
        assert_eq!(proof.dpop_bearer(), (true, false));
        let token = AuthError::invalid_token("bad").with_dpop_challenge(&algs, true, true);
        assert_eq!(token.dpop_bearer(), (true, true));
        let nonce = AuthError::use_dpop_nonce("n").with_dpop_challenge(&algs, false, false);
        assert_eq!(nonce.dpop_nonce(), Some("n"));
        assert_eq!(nonce.dpop_algs(), Some("ES256"));
    }

    #[test]
    fn source_is_kept_out_of_display() {
        let error = AuthError::upstream("the identity provider is unreachable")
            .with_source("connection refused to secret-host");
        assert_eq!(error.to_string(), "the identity provider is unreachable");
        assert!(StdError::source(&error).is_some());
    }
}
