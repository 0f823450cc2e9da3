//! [`LogoutError`]: why a back-channel logout was not done.

use std::fmt;

/// What kind of failure a [`LogoutError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogoutErrorKind {
    /// The request is not a logout request: not a `POST`, not a form, no `logout_token`, or a
    /// body too large. HTTP 400 (405 for another method).
    InvalidRequest,
    /// The logout token is forged, for another client or issuer, expired, not a logout token
    /// (no back-channel logout event, a `nonce`, no `sub` nor `sid`, no `jti`), too old, or
    /// replayed. HTTP 400 `invalid_request`, as the specification asks.
    InvalidToken,
    /// The logout could not be done now: the provider's keys could not be fetched, or the
    /// revocation could not be shared with the other replicas (it holds on this one). HTTP 503:
    /// the provider may send the token again.
    Unavailable,
}

impl LogoutErrorKind {
    /// The HTTP status this kind is answered with.
    pub fn status(self) -> http::StatusCode {
        match self {
            Self::InvalidRequest | Self::InvalidToken => http::StatusCode::BAD_REQUEST,
            Self::Unavailable => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Why a back-channel logout was refused or not done, with a fixed description that is safe
/// to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutError {
    kind: LogoutErrorKind,
    description: &'static str,
}

impl LogoutError {
    pub(crate) const fn new(kind: LogoutErrorKind, description: &'static str) -> Self {
        Self { kind, description }
    }

    /// The kind of failure.
    pub fn kind(&self) -> LogoutErrorKind {
        self.kind
    }

    /// A fixed sentence saying why (no token content in it).
    pub fn description(&self) -> &'static str {
        self.description
    }
}

impl fmt::Display for LogoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description)
    }
}

impl std::error::Error for LogoutError {}
