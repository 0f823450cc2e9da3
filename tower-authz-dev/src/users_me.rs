//! `GET /auth/v1/users/me`: ZITADEL's `GetMyUser` (REST mapping of
//! `zitadel.auth.v1.AuthService/GetMyUser`) for machine users, protected by
//! tower-authz's [`AuthLayer`](tower_authz::AuthLayer) with a [`SelfVerifier`].

use std::sync::Arc;

use async_trait::async_trait;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::introspection::{Audience, active_answer};
use super::state::{Shared, USERS_ME_PATH};
use super::token::unix_now;
use super::{DEV_ORG_DOMAIN, DEV_ORG_ID, DevIssuer};
use tower_authz::{AuthError, Claims, RoleSource, Verifier};

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

#[async_trait]
impl Verifier for SelfVerifier {
    async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let answer = active_answer(&self.shared, token, Audience::ZitadelApi).ok_or(
            AuthError::invalid_token("the token is not active for ZITADEL's APIs"),
        )?;
        Claims::from_value(answer, &RoleSource::zitadel())
            .ok_or(AuthError::invalid_token("the token has no claims"))
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
    let (days, secs) = (unix / 86_400, unix % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The proleptic Gregorian (year, month, day) of a day count since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so that leap days end a year.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
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

    #[test]
    fn civil_dates_match_a_day_by_day_count() {
        let (mut year, mut month, mut day) = (1970, 1, 1);
        for days in 0..200_000 {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
            let month_len = match month {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            day += 1;
            if day > month_len {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }
}
