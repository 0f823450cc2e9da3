//! `GET /auth/v1/users/me`: ZITADEL's `GetMyUser` (REST mapping of
//! `zitadel.auth.v1.AuthService/GetMyUser`) for machine users, protected by
//! tower-authz's [`AuthLayer`](tower_authz::AuthLayer) with a [`SelfVerifier`].

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::clock::unix_now;
use super::introspection::{Audience, active_answer};
use super::state::{Shared, USERS_ME_PATH};
use super::{DEV_ORG_DOMAIN, DEV_ORG_ID, DevIssuer};
use tower_authz::{AuthError, Claims, RoleSource, Verification, Verifier};

impl DevIssuer {
    /// ZITADEL's `GetMyUser`: issuer + `/auth/v1/users/me`.
    ///
    /// It accepts (as `Authorization: Bearer`) what ZITADEL's own APIs accept:
    /// personal access tokens, and opaque tokens or JWTs of this issuer whose
    /// audience contains `zitadel` (scope
    /// `urn:zitadel:iam:org:project:id:zitadel:aud`) or
    /// [`DEV_PROJECT_ID`](super::DEV_PROJECT_ID). It answers the token's
    /// subject as a machine user, named as by
    /// [`add_machine_user`](Self::add_machine_user).
    pub fn users_me_url(&self) -> String {
        self.shared.url(USERS_ME_PATH)
    }
}

/// Verifies the issuer's own tokens for ZITADEL's APIs: what the
/// introspection endpoint calls active for [`Audience::ZitadelApi`].
#[derive(Debug)]
pub(super) struct SelfVerifier {
    pub(super) shared: Arc<Shared>,
}

impl Verifier for SelfVerifier {
    fn verify(&self, token: &str) -> Verification {
        let claims = active_answer(&self.shared, token, Audience::ZitadelApi)
            .ok_or(AuthError::invalid_token(
                "the token is not active for ZITADEL's APIs",
            ))
            .and_then(|answer| {
                Claims::from_value(answer, &RoleSource::zitadel())
                    .ok_or(AuthError::invalid_token("the token has no claims"))
            });
        Verification::Ready(claims)
    }
}

/// `GET /auth/v1/users/me`: the token's subject as a ZITADEL machine user.
pub(super) async fn users_me(State(shared): State<Arc<Shared>>, claims: Claims) -> Response {
    let Some(subject) = claims.subject() else {
        return AuthError::invalid_token("the token has no subject").into_response();
    };
    let last_login = claims.issued_at().unwrap_or_else(unix_now);
    Json(my_user(&shared, subject, last_login)).into_response()
}

/// ZITADEL's `GetMyUserResponse` for the machine user `user_id`.
fn my_user(shared: &Shared, user_id: &str, last_login: u64) -> Value {
    let (name, created_at, changed_at) = match shared.registry.machine_user(user_id) {
        Some(user) => (user.name, user.created_at, user.changed_at),
        None => (user_id.to_owned(), shared.started_at(), shared.started_at()),
    };
    let login_name = format!("{user_id}@{DEV_ORG_DOMAIN}");
    json!({
        "user": {
            "id": user_id,
            "details": {
                "sequence": "42",
                "creationDate": rfc3339(created_at),
                "changeDate": rfc3339(changed_at),
                "resourceOwner": DEV_ORG_ID,
            },
            "state": "USER_STATE_ACTIVE",
            "userName": user_id,
            "loginNames": [login_name],
            "preferredLoginName": login_name,
            "machine": {
                "name": name,
                "description": "development machine user",
                "accessTokenType": "ACCESS_TOKEN_TYPE_BEARER",
            },
        },
        "lastLogin": rfc3339(last_login),
    })
}

/// The latest time RFC 3339 can write with a four-digit year:
/// 9999-12-31T23:59:59Z.
const MAX_RFC3339: u64 = 253_402_300_799;

/// Formats Unix seconds as RFC 3339 in UTC (`YYYY-MM-DDTHH:MM:SSZ`); times
/// after year 9999 are written as 9999-12-31T23:59:59Z.
pub(super) fn rfc3339(unix: u64) -> String {
    let unix = unix.min(MAX_RFC3339);
    i64::try_from(unix)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        // Unreachable: every clamped time has a four-digit year.
        .unwrap_or_else(|| String::from("9999-12-31T23:59:59Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(rfc3339(951_955_199), "2000-03-01T23:59:59Z");
        assert_eq!(rfc3339(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_599), "2024-12-31T23:59:59Z");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(rfc3339(4_107_456_000), "2100-02-28T00:00:00Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(rfc3339(MAX_RFC3339), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59Z");
    }
}
