//! `GET|POST /oidc/v1/end_session`: RP-Initiated Logout 1.0 (ZITADEL's path),
//! which ends the session named by the `id_token_hint` and sends its Logout
//! Tokens.

use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::header::LOCATION;
use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tower_authz::{Claims, JwtVerifier, Verifier};

use super::super::loopback::loopback_url;
use super::super::reply::no_store;
use super::super::state::Shared;
use super::delivery::EndedSession;

/// How long after its `exp` an ID token is still taken as a hint: RP-Initiated
/// Logout 1.0 §2 asks OPs to accept expired ID tokens here.
const EXPIRED_HINT_GRACE: Duration = Duration::from_secs(24 * 3600);

/// The parameters, from the query (`GET`) or the form body (`POST`); others
/// (`client_id`, `ui_locales`, ...) are ignored.
#[derive(Debug, Default, Deserialize)]
pub(super) struct EndSessionParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

pub(super) async fn end_session_get(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<EndSessionParams>, QueryRejection>,
) -> Response {
    match query {
        Ok(Query(params)) => end_session(&shared, params).await,
        Err(_) => bad_request("The parameters do not parse (a repeated one?)."),
    }
}

pub(super) async fn end_session_post(
    State(shared): State<Arc<Shared>>,
    form: Result<Form<EndSessionParams>, FormRejection>,
) -> Response {
    match form {
        Ok(Form(params)) => end_session(&shared, params).await,
        Err(_) => bad_request("The form body does not parse (a repeated parameter?)."),
    }
}

/// Checks the parameters, sends the Logout Tokens of the hinted session to
/// every receiver, then `302` to `post_logout_redirect_uri` (with `state`) or
/// `200 logged out`.
async fn end_session(shared: &Arc<Shared>, params: EndSessionParams) -> Response {
    let redirect = match non_empty(params.post_logout_redirect_uri) {
        Some(uri) => match loopback_url(Some(&uri)) {
            Some(url) => Some(url),
            None => {
                return bad_request(
                    "post_logout_redirect_uri must be an absolute http(s) URL on a loopback host (localhost, 127.0.0.1, [::1]).",
                );
            }
        },
        None => None,
    };
    let Some(hint) = non_empty(params.id_token_hint) else {
        return bad_request("id_token_hint is required (the dev issuer keeps no browser session).");
    };
    let Some(ended) = verify_hint(shared, &hint).and_then(|claims| ended_session(&claims)) else {
        return bad_request("id_token_hint is not a valid token of this issuer with a sub.");
    };
    super::send(shared, &ended, None).await;
    let Some(mut target) = redirect else {
        return no_store((StatusCode::OK, "logged out\n").into_response());
    };
    if let Some(state) = non_empty(params.state) {
        target.query_pairs_mut().append_pair("state", &state);
    }
    match HeaderValue::try_from(target.as_str()) {
        Ok(location) => no_store((StatusCode::FOUND, [(LOCATION, location)]).into_response()),
        Err(_) => bad_request("post_logout_redirect_uri cannot be a Location header."),
    }
}

/// The claims of `hint` if it is a JWT signed by one of the issuer's
/// published keys, with this issuer, any audience, and expired less than a
/// day ago.
fn verify_hint(shared: &Shared, hint: &str) -> Option<Claims> {
    JwtVerifier::new(shared.issuer(), "")
        .with_any_audience()
        .with_leeway(EXPIRED_HINT_GRACE)
        .with_jwks(&shared.jwks().to_string())
        .ok()?
        .verify(hint)
        .into_ready()?
        .ok()
}

/// The `sub` and `sid` of an ID token; `None` without a `sub`.
fn ended_session(claims: &Claims) -> Option<EndedSession> {
    let text = |name| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    Some(EndedSession {
        subject: Some(text("sub")?),
        session: text("sid"),
    })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.is_empty())
}

fn bad_request(message: &str) -> Response {
    no_store((StatusCode::BAD_REQUEST, format!("{message}\n")).into_response())
}
