//! `POST /api/login`: FusionAuth's Login API.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::clock::unix_now;
use super::super::reply::no_store;
use super::super::state::Shared;
use super::FUSIONAUTH_TENANT_ID;
use super::app::{FusionAuthApp, FusionAuthUser};
use super::hosted::server_error;
use super::tokens::{GrantType, issue, new_grant};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LoginRequest {
    login_id: Option<String>,
    password: Option<String>,
    application_id: Option<String>,
}

/// `200 {"token", "tokenExpirationInstant", "user"}`; `404` (empty) for an
/// unknown login id or a wrong password; `400` with FusionAuth's
/// `fieldErrors` for a missing field or an unknown application, with
/// `generalErrors` for a body that is not JSON. The `Authorization` (API key)
/// header is ignored.
pub(super) async fn login(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Response {
    let Ok(Json(request)) = body else {
        return bad_request(json!({
            "generalErrors": [{
                "code": "[invalidJSON]",
                "message": "The request body is not a JSON object with loginId, password and applicationId.",
            }],
        }));
    };
    let field = |value: Option<String>| value.filter(|v| !v.is_empty());
    let (login_id, password, application_id) = match (
        field(request.login_id),
        field(request.password),
        field(request.application_id),
    ) {
        (Some(login_id), Some(password), Some(application_id)) => {
            (login_id, password, application_id)
        }
        (login_id, password, _) => {
            let missing = if login_id.is_none() {
                "loginId"
            } else if password.is_none() {
                "password"
            } else {
                "applicationId"
            };
            return field_error(missing, "blank", "You must specify the [{}] property.");
        }
    };
    let Some(app) = shared.fusionauth.app(&application_id) else {
        return field_error(
            "applicationId",
            "invalid",
            "The [{}] property does not name an application of this server.",
        );
    };
    let Some(user) = app.authenticate(&login_id, &password) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match answer(&shared, &app, user) {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(error) => server_error(&error),
    }
}

fn answer(
    shared: &Arc<Shared>,
    app: &FusionAuthApp,
    user: &FusionAuthUser,
) -> std::io::Result<Value> {
    let grant = new_grant(app, user, Vec::new(), unix_now())?;
    let issued = issue(shared, app, user, &grant, GrantType::Password)?;
    let mut user_json = json!({
        "id": user.id,
        "username": user.username,
        "active": true,
        "verified": true,
        "tenantId": FUSIONAUTH_TENANT_ID,
        "registrations": [{
            "applicationId": app.application_id,
            "roles": user.roles,
            "username": user.username,
            "verified": true,
        }],
    });
    if let (Some(email), Some(map)) = (&user.email, user_json.as_object_mut()) {
        map.insert("email".into(), email.clone().into());
    }
    Ok(json!({
        "token": issued.access_token,
        "tokenExpirationInstant": issued.expires_at.saturating_mul(1000),
        "user": user_json,
    }))
}

/// `400 {"fieldErrors": {field: [{"code": "[kind]field", "message"}]}}`;
/// `{}` in `message` stands for the field's name.
fn field_error(field: &str, kind: &str, message: &str) -> Response {
    bad_request(json!({
        "fieldErrors": {
            field: [{
                "code": format!("[{kind}]{field}"),
                "message": message.replace("{}", field),
            }],
        },
    }))
}

fn bad_request(body: Value) -> Response {
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}
