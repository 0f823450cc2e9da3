//! [`TokenError`]: why no access token could be obtained.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::error::{AuthError, AuthErrorKind};

/// What went wrong while obtaining a token. See [`TokenError::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenErrorKind {
    /// The token endpoint refused the request (HTTP 4xx, e.g. `invalid_client` for a wrong
    /// secret or `invalid_grant` for a bad assertion). Retrying will not help.
    Rejected,
    /// The token endpoint could not be reached, timed out or answered 5xx. Retrying may help.
    Unavailable,
    /// The token endpoint answered 2xx with something that is not a token response.
    InvalidResponse,
    /// The request could not be built (e.g. the key could not sign the assertion).
    Internal,
    /// A DPoP-bound token was asked for (`with_dpop`) but the token endpoint issued a `Bearer`
    /// token (RFC 9449 §5): the server does not bind tokens for this client. The token is not
    /// used.
    NotDpopBound,
}

/// No access token could be obtained. Never carries a secret or a token.
#[derive(Clone)]
pub struct TokenError {
    kind: TokenErrorKind,
    message: &'static str,
    oauth_error: Option<String>,
    oauth_description: Option<String>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl TokenError {
    pub(crate) fn new(kind: TokenErrorKind, message: &'static str) -> Self {
        Self {
            kind,
            message,
            oauth_error: None,
            oauth_description: None,
            source: None,
        }
    }

    pub(crate) fn rejected(error: Option<String>, description: Option<String>) -> Self {
        Self {
            oauth_error: error,
            oauth_description: description,
            ..Self::new(
                TokenErrorKind::Rejected,
                "the token endpoint refused the request",
            )
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TokenErrorKind {
        self.kind
    }

    /// The OAuth `error` code the token endpoint answered with, e.g. `invalid_client`.
    pub fn oauth_error(&self) -> Option<&str> {
        self.oauth_error.as_deref()
    }

    /// The token endpoint's `error_description`, if it sent one.
    pub fn oauth_description(&self) -> Option<&str> {
        self.oauth_description.as_deref()
    }
}

impl From<AuthError> for TokenError {
    /// Discovery and transport failures, which are reported as [`AuthError`]s internally.
    fn from(error: AuthError) -> Self {
        let kind = match error.kind() {
            AuthErrorKind::Upstream => TokenErrorKind::Unavailable,
            _ => TokenErrorKind::Internal,
        };
        Self::new(kind, error.description()).with_source(error)
    }
}

impl fmt::Debug for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("TokenError");
        s.field("kind", &self.kind).field("message", &self.message);
        if let Some(error) = &self.oauth_error {
            s.field("oauth_error", error);
        }
        if let Some(description) = &self.oauth_description {
            s.field("oauth_description", description);
        }
        if let Some(source) = &self.source {
            s.field("source", &format_args!("{source}"));
        }
        s.finish()
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)?;
        if let Some(error) = &self.oauth_error {
            write!(f, ": {error}")?;
        }
        if let Some(description) = &self.oauth_description {
            write!(f, " ({description})")?;
        }
        Ok(())
    }
}

impl StdError for TokenError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}
