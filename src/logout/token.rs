//! The checks of a Logout Token's claims (OpenID Connect Back-Channel Logout 1.0 §2.4, §2.6)
//! after its signature, `iss`, `aud` and `exp` were checked by the verifier, and what it
//! revokes.

use serde_json::Value;

use super::error::{LogoutError, LogoutErrorKind};
use crate::claims::Claims;
use crate::revocation::Revocation;

/// The member of `events` that makes a JWT a logout token.
pub(crate) const BACKCHANNEL_LOGOUT_EVENT: &str =
    "http://schemas.openid.net/event/backchannel-logout";

/// What a logout token's claims say once checked.
#[derive(Debug)]
pub(crate) struct LogoutClaims<'a> {
    pub(crate) jti: &'a str,
    pub(crate) issued_at: u64,
    pub(crate) revocation: Revocation,
}

/// The settings the claims are judged with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// How old a logout token may be (seconds).
    pub(crate) max_age: u64,
    /// How far in the future its `iat` may be (clock skew, seconds).
    pub(crate) leeway: u64,
    /// Whether a logout of a session (with `sid` and `sub`) revokes the whole subject.
    pub(crate) session_revokes_subject: bool,
}

/// Checks what the verifier does not: `events`, no `nonce`, `sub` or `sid`, `jti`, `iat` in
/// the window. `now` is the time in seconds.
pub(crate) fn judge<'a>(
    claims: &'a Claims,
    window: Window,
    now: u64,
) -> Result<LogoutClaims<'a>, LogoutError> {
    let refuse = |description| Err(LogoutError::new(LogoutErrorKind::InvalidToken, description));
    let event_is_object = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !event_is_object {
        return refuse("the token has no back-channel logout event");
    }
    if claims.get("nonce").is_some() {
        return refuse("a logout token must not carry a nonce");
    }
    let Some(jti) = claims.token_id() else {
        return refuse("the logout token has no jti");
    };
    let Some(issued_at) = claims.issued_at() else {
        return refuse("the logout token has no iat");
    };
    if issued_at > now.saturating_add(window.leeway) {
        return refuse("the logout token is issued in the future");
    }
    if issued_at.saturating_add(window.max_age) < now {
        return refuse("the logout token is too old");
    }
    let issuer = claims.issuer().map(str::to_owned);
    let revocation = match (claims.session_id(), claims.subject()) {
        (Some(session), Some(subject)) if window.session_revokes_subject => {
            let _ = session;
            Revocation::Subject {
                issuer,
                subject: subject.to_owned(),
                at: issued_at,
            }
        }
        (Some(session), _) => Revocation::Session {
            issuer,
            session: session.to_owned(),
            at: issued_at,
        },
        (None, Some(subject)) => Revocation::Subject {
            issuer,
            subject: subject.to_owned(),
            at: issued_at,
        },
        (None, None) => return refuse("the logout token has neither sub nor sid"),
    };
    Ok(LogoutClaims {
        jti,
        issued_at,
        revocation,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::claims::RoleSource;

    const WINDOW: Window = Window {
        max_age: 300,
        leeway: 60,
        session_revokes_subject: false,
    };
    const NOW: u64 = 1_000_000;

    fn logout(extra: serde_json::Value) -> Claims {
        let mut value = json!({
            "iss": "https://op", "aud": "rp", "iat": NOW - 1, "exp": NOW + 120, "jti": "j1",
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}}, "sub": "alice", "sid": "s1"
        });
        for (name, member) in extra.as_object().unwrap() {
            if member.is_null() {
                value.as_object_mut().unwrap().remove(name);
            } else {
                value[name] = member.clone();
            }
        }
        Claims::from_value(value, &RoleSource::default()).unwrap()
    }

    fn description(extra: serde_json::Value) -> &'static str {
        judge(&logout(extra), WINDOW, NOW)
            .unwrap_err()
            .description()
    }

    #[test]
    fn a_session_logout_revokes_the_session_a_subject_logout_the_subject() {
        let claims = logout(json!({}));
        let judged = judge(&claims, WINDOW, NOW).unwrap();
        assert_eq!(judged.jti, "j1");
        assert_eq!(
            judged.revocation,
            Revocation::Session {
                issuer: Some("https://op".into()),
                session: "s1".into(),
                at: NOW - 1
            }
        );
        let claims = logout(json!({"sid": null}));
        assert_eq!(
            judge(&claims, WINDOW, NOW).unwrap().revocation,
            Revocation::Subject {
                issuer: Some("https://op".into()),
                subject: "alice".into(),
                at: NOW - 1
            }
        );
        let claims = logout(json!({"sub": null}));
        assert!(matches!(
            judge(&claims, WINDOW, NOW).unwrap().revocation,
            Revocation::Session { .. }
        ));
        let wide = Window {
            session_revokes_subject: true,
            ..WINDOW
        };
        let claims = logout(json!({}));
        assert!(matches!(
            judge(&claims, wide, NOW).unwrap().revocation,
            Revocation::Subject { .. }
        ));
    }

    #[test]
    fn every_rule_of_the_spec_refuses() {
        assert_eq!(
            description(json!({"events": null})),
            "the token has no back-channel logout event"
        );
        assert_eq!(
            description(json!({"events": {"other": {}}})),
            "the token has no back-channel logout event"
        );
        assert_eq!(
            description(json!({"events": {BACKCHANNEL_LOGOUT_EVENT: "yes"}})),
            "the token has no back-channel logout event"
        );
        assert_eq!(
            description(json!({"events": []})),
            "the token has no back-channel logout event"
        );
        assert_eq!(
            description(json!({"nonce": "n"})),
            "a logout token must not carry a nonce"
        );
        assert_eq!(
            description(json!({"jti": null})),
            "the logout token has no jti"
        );
        assert_eq!(
            description(json!({"iat": null})),
            "the logout token has no iat"
        );
        assert_eq!(
            description(json!({"iat": NOW + 61})),
            "the logout token is issued in the future"
        );
        assert_eq!(
            description(json!({"iat": NOW - 301})),
            "the logout token is too old"
        );
        assert_eq!(
            description(json!({"sub": null, "sid": null})),
            "the logout token has neither sub nor sid"
        );
        assert!(judge(&logout(json!({"iat": NOW + 60})), WINDOW, NOW).is_ok());
    }
}
