//! [`Revocation`]: one record of what was revoked and from when, as kept by each replica and
//! sent between them.

use serde::{Deserialize, Serialize};

#[cfg(feature = "introspection")]
use crate::claims::Claims;

/// What was revoked: a subject's or a session's tokens issued up to a time, or one token.
///
/// Records are what [`Revocations`](crate::Revocations) keeps and what replicas send each other
/// through a [`RevocationStore`](crate::RevocationStore). Times are seconds since the Unix
/// epoch, on the identity provider's clock when they come from a logout token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Revocation {
    /// Every token of `subject` issued at or before `at` (a token without `iat` too).
    Subject {
        /// The issuer whose subject this is; `None`: the subject of any issuer.
        issuer: Option<String>,
        /// The `sub`.
        subject: String,
        /// The time of the logout.
        at: u64,
    },
    /// Every token of the provider's session `session` issued at or before `at`.
    Session {
        /// The issuer whose session this is; `None`: the session id of any issuer.
        issuer: Option<String>,
        /// The `sid`.
        session: String,
        /// The time of the logout.
        at: u64,
    },
    /// One token, until it expires.
    Token {
        /// Its `jti`, or a keyed hash of the token when it has none.
        id: TokenId,
        /// Its `exp` (or, without one, when the record may go).
        until: u64,
    },
}

/// How a revoked token is recognised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenId {
    /// Its `jti` claim.
    Jti(String),
    /// A keyed hash (HMAC-SHA-256, base64url) of a token without `jti`: never the token itself.
    Hash(String),
}

impl Revocation {
    /// When no token it refuses can still be valid, for tokens living at most `max_lifetime`
    /// seconds: past this, the record can go.
    pub(crate) fn expires_at(&self, max_lifetime: u64) -> u64 {
        match self {
            Self::Subject { at, .. } | Self::Session { at, .. } => at.saturating_add(max_lifetime),
            Self::Token { until, .. } => *until,
        }
    }

    /// Whether the token with `claims` is one this record revokes. A token revoked by its hash
    /// is not recognised here (its text is not at hand): the table does that.
    #[cfg(feature = "introspection")]
    pub(crate) fn covers(&self, claims: &Claims) -> bool {
        let (issuer, iat) = (claims.issuer(), claims.issued_at());
        match self {
            Self::Subject {
                issuer: of,
                subject,
                at,
            } => claims.subject() == Some(subject) && refuses(of.as_deref(), *at, issuer, iat),
            Self::Session {
                issuer: of,
                session,
                at,
            } => claims.session_id() == Some(session) && refuses(of.as_deref(), *at, issuer, iat),
            Self::Token {
                id: TokenId::Jti(jti),
                ..
            } => claims.token_id() == Some(jti),
            Self::Token {
                id: TokenId::Hash(_),
                ..
            } => false,
        }
    }
}

/// Whether a logout of `of`'s subject or session at `at` refuses a token of `issuer` issued at
/// `iat`: the same issuer (or the record names none), issued at or before the logout. A token
/// without `iat` cannot show it was issued after: refused.
pub(crate) fn refuses(of: Option<&str>, at: u64, issuer: Option<&str>, iat: Option<u64>) -> bool {
    of.is_none_or(|of| issuer == Some(of)) && iat.is_none_or(|iat| iat <= at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_travel_as_tagged_json() {
        let record = Revocation::Session {
            issuer: Some("https://id.example.com".into()),
            session: "s1".into(),
            at: 10,
        };
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"session","issuer":"https://id.example.com","session":"s1","at":10}"#
        );
        assert_eq!(serde_json::from_str::<Revocation>(&text).unwrap(), record);
        assert!(serde_json::from_str::<Revocation>(r#"{"kind":"other"}"#).is_err());
    }

    #[test]
    fn a_record_lasts_as_long_as_a_token_it_refuses() {
        let subject = Revocation::Subject {
            issuer: None,
            subject: "a".into(),
            at: 100,
        };
        assert_eq!(subject.expires_at(3600), 3700);
        let token = Revocation::Token {
            id: TokenId::Jti("1".into()),
            until: 150,
        };
        assert_eq!(token.expires_at(3600), 150);
        assert_eq!(
            serde_json::to_string(&token).unwrap(),
            r#"{"kind":"token","id":{"jti":"1"},"until":150}"#
        );
    }

    #[cfg(feature = "introspection")]
    #[test]
    fn covers_matches_what_a_record_revokes() {
        use crate::claims::RoleSource;
        let alice = Claims::from_value(
            serde_json::json!({"iss": "i", "sub": "alice", "sid": "s", "jti": "j", "iat": 100}),
            &RoleSource::default(),
        )
        .unwrap();
        let subject = |sub: &str, at| Revocation::Subject {
            issuer: Some("i".into()),
            subject: sub.into(),
            at,
        };
        assert!(subject("alice", 100).covers(&alice));
        assert!(!subject("alice", 99).covers(&alice));
        assert!(!subject("bob", 100).covers(&alice));
        let session = Revocation::Session {
            issuer: None,
            session: "s".into(),
            at: 200,
        };
        assert!(session.covers(&alice));
        assert!(
            Revocation::Token {
                id: TokenId::Jti("j".into()),
                until: 1
            }
            .covers(&alice)
        );
        assert!(
            !Revocation::Token {
                id: TokenId::Hash("h".into()),
                until: 1
            }
            .covers(&alice)
        );
    }
}
