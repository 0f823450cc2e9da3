//! FusionAuth's hosted backend (1.45+): `/app/login`, `/app/callback`,
//! `/app/refresh`, `/app/me` and `/app/logout`.

use std::io;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use http::header::LOCATION;
use http::{HeaderMap, HeaderValue, StatusCode};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::clock::unix_now;
use super::super::key::random_b64;
use super::super::logout::{self, EndedSession};
use super::super::loopback::loopback_url;
use super::super::reply::no_store;
use super::super::state::Shared;
use super::DEFAULT_SCOPE;
use super::app::{FusionAuthApp, FusionAuthUser};
use super::cookies::{self, Cookies};
use super::page::LoginPage;
use super::store::{Grant, PendingCode};
use super::tokens::{
    AccessTokenVerifier, GrantType, REFRESH_TOKEN_LIFETIME, issue, new_grant, new_refresh_token,
};
use tower_authz::{Claims, Verifier};

/// How long an authorization code of the login form stays valid.
const CODE_LIFETIME: u64 = 60;

/// The message of a failed login, FusionAuth's.
const INVALID_CREDENTIALS: &str = "Invalid login credentials.";

#[derive(Debug, Deserialize)]
pub(super) struct LoginQuery {
    redirect_uri: Option<String>,
    state: Option<String>,
    scope: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    #[serde(rename = "loginId")]
    login_id: Option<String>,
    password: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    scope: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct LogoutQuery {
    post_logout_redirect_uri: Option<String>,
}

/// `GET /app/login/{clientId}?redirect_uri&state&scope`: the login form.
pub(super) async fn login_form(
    State(shared): State<Arc<Shared>>,
    Path(client_id): Path<String>,
    Query(query): Query<LoginQuery>,
) -> Response {
    if shared.fusionauth.app(&client_id).is_none() {
        return unknown_client();
    }
    let Some(redirect_uri) = loopback_url(query.redirect_uri.as_deref()) else {
        return bad_redirect("redirect_uri");
    };
    LoginPage {
        client_id: &client_id,
        redirect_uri: redirect_uri.as_str(),
        state: query.state.as_deref().unwrap_or_default(),
        scope: query.scope.as_deref().unwrap_or_default(),
        login_id: "",
        error: None,
    }
    .render()
}

/// `POST /app/login/{clientId}`: checks the credentials; the form again with
/// an error, or `302` to `/app/callback?code&state`.
pub(super) async fn login_submit(
    State(shared): State<Arc<Shared>>,
    Path(client_id): Path<String>,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(app) = shared.fusionauth.app(&client_id) else {
        return unknown_client();
    };
    let Some(redirect_uri) = loopback_url(form.redirect_uri.as_deref()) else {
        return bad_redirect("redirect_uri");
    };
    let login_id = form.login_id.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let state = form.state.filter(|state| !state.is_empty());
    let scope = form.scope.unwrap_or_default();
    let Some(user) = app.authenticate(&login_id, &password) else {
        return LoginPage {
            client_id: &client_id,
            redirect_uri: redirect_uri.as_str(),
            state: state.as_deref().unwrap_or_default(),
            scope: &scope,
            login_id: &login_id,
            error: Some(INVALID_CREDENTIALS),
        }
        .render();
    };
    let now = unix_now();
    let code = new_grant(&app, user, scopes(&scope), now).and_then(|grant| {
        let code = random_b64::<32>()?;
        let pending = PendingCode {
            grant,
            redirect_uri: redirect_uri.into(),
            state: state.clone(),
            expires_at: now + CODE_LIFETIME,
        };
        shared.fusionauth.insert_code(code.clone(), pending, now);
        Ok(code)
    });
    let code = match code {
        Ok(code) => code,
        Err(error) => return server_error(&error),
    };
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("code", &code);
    if let Some(state) = &state {
        query.append_pair("state", state);
    }
    found(&format!(
        "{}/app/callback?{}",
        shared.issuer(),
        query.finish()
    ))
}

/// `GET /app/callback?code&state`: redeems the code, sets the cookies and
/// sends the browser to the login's `redirect_uri` (with `state`).
pub(super) async fn callback(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let now = unix_now();
    let pending = query
        .code
        .as_deref()
        .and_then(|code| shared.fusionauth.take_code(code, now));
    let Some(pending) = pending else {
        return bad_request("The code is unknown, expired or already used.");
    };
    if query.state.filter(|state| !state.is_empty()) != pending.state {
        return bad_request("The state does not match the login's.");
    }
    let Some(app) = shared.fusionauth.app(&pending.grant.application_id) else {
        return bad_request("The application is gone.");
    };
    let Some(user) = app.find_user(&pending.grant.login_id) else {
        return bad_request("The user is gone.");
    };
    let mut headers = HeaderMap::new();
    let grant_type = GrantType::AuthorizationCode;
    if let Err(error) = set_token_cookies(
        &shared,
        &app,
        user,
        &pending.grant,
        grant_type,
        &mut headers,
    ) {
        return server_error(&error);
    }
    if pending.grant.has_scope("offline_access") {
        let refresh_token = match new_refresh_token() {
            Ok(token) => token,
            Err(error) => return server_error(&error),
        };
        shared.fusionauth.insert_refresh_token(
            refresh_token.clone(),
            pending.grant.clone(),
            now + REFRESH_TOKEN_LIFETIME,
            now,
        );
        cookies(&shared).set(
            &mut headers,
            cookies::REFRESH_TOKEN,
            refresh_token,
            REFRESH_TOKEN_LIFETIME,
        );
    }
    let mut target = match Url::parse(&pending.redirect_uri) {
        Ok(url) => url,
        Err(error) => return server_error(&io::Error::other(error)),
    };
    if let Some(state) = &pending.state {
        target.query_pairs_mut().append_pair("state", state);
    }
    let mut response = found(target.as_str());
    response.headers_mut().extend(headers);
    response
}

/// `POST /app/refresh/{clientId}`: a new access token (and ID token) for the
/// `app.rt` cookie: `200 {}` with new cookies, or `400` (log in again).
pub(super) async fn refresh(
    State(shared): State<Arc<Shared>>,
    Path(client_id): Path<String>,
    request_headers: HeaderMap,
) -> Response {
    let Some(app) = shared.fusionauth.app(&client_id) else {
        return unknown_client();
    };
    // No, unknown, expired, revoked or another app's refresh token, or a
    // user who is gone: log in again.
    let grant = cookies::read(&request_headers, cookies::REFRESH_TOKEN)
        .and_then(|token| shared.fusionauth.refresh_token(&token, unix_now()))
        .filter(|grant| grant.application_id == client_id);
    let Some(grant) = grant else {
        return no_store(StatusCode::BAD_REQUEST.into_response());
    };
    let Some(user) = app.find_user(&grant.login_id) else {
        return no_store(StatusCode::BAD_REQUEST.into_response());
    };
    let mut headers = HeaderMap::new();
    if let Err(error) = set_token_cookies(
        &shared,
        &app,
        user,
        &grant,
        GrantType::Refresh,
        &mut headers,
    ) {
        return server_error(&error);
    }
    let mut response = no_store(Json(json!({})).into_response());
    response.headers_mut().extend(headers);
    response
}

/// `GET /app/me`: the user's information from the verified `app.at` (the
/// route's [`AuthLayer`](tower_authz::AuthLayer) answers `401` without one).
pub(super) async fn me(claims: Claims) -> Response {
    const MEMBERS: [&str; 7] = [
        "sub",
        "email",
        "email_verified",
        "preferred_username",
        "applicationId",
        "roles",
        "tid",
    ];
    let info: Map<String, Value> = MEMBERS
        .iter()
        .filter_map(|&name| Some((name.to_owned(), claims.get(name)?.clone())))
        .collect();
    no_store(Json(info).into_response())
}

/// `GET /app/logout/{clientId}?post_logout_redirect_uri`: revokes the
/// refresh token, sends the session's Logout Tokens to the app's back-channel
/// logout receivers, deletes the cookies and sends the browser to
/// `post_logout_redirect_uri` (default: the app's first allowed origin, else
/// `/`).
pub(super) async fn logout(
    State(shared): State<Arc<Shared>>,
    Path(client_id): Path<String>,
    Query(query): Query<LogoutQuery>,
    request_headers: HeaderMap,
) -> Response {
    let Some(app) = shared.fusionauth.app(&client_id) else {
        return unknown_client();
    };
    let target = match query.post_logout_redirect_uri.filter(|uri| !uri.is_empty()) {
        Some(uri) => match loopback_url(Some(&uri)) {
            Some(url) => String::from(url),
            None => return bad_redirect("post_logout_redirect_uri"),
        },
        None => app
            .allowed_origins
            .first()
            .cloned()
            .unwrap_or_else(|| "/".to_owned()),
    };
    let ended = ended_session(&shared, &app, &request_headers);
    if let Some(token) = cookies::read(&request_headers, cookies::REFRESH_TOKEN) {
        shared.fusionauth.revoke_refresh_token(&token);
    }
    if let Some(ended) = ended {
        logout::send(&shared, &ended, Some(&client_id)).await;
    }
    let mut response = found(&target);
    cookies(&shared).clear_all(response.headers_mut());
    response
}

/// The session a logout ends: the `sub` and `sid` of the `app.rt` login, or
/// else of the verified `app.at`, if either belongs to `app`.
fn ended_session(
    shared: &Arc<Shared>,
    app: &FusionAuthApp,
    request_headers: &HeaderMap,
) -> Option<EndedSession> {
    let from_refresh_token = || {
        let token = cookies::read(request_headers, cookies::REFRESH_TOKEN)?;
        let grant = shared.fusionauth.refresh_token(&token, unix_now())?;
        let user = app.find_user(&grant.login_id)?;
        (grant.application_id == app.application_id).then(|| EndedSession {
            subject: Some(user.id.clone()),
            session: Some(grant.session_id),
        })
    };
    let from_access_token = || {
        let token = cookies::read(request_headers, cookies::ACCESS_TOKEN)?;
        let verifier = AccessTokenVerifier {
            shared: Arc::clone(shared),
        };
        let claims = verifier.verify(&token).into_ready()?.ok()?;
        let text = |name| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        (text("applicationId")? == app.application_id).then(|| EndedSession {
            subject: text("sub"),
            session: text("sid"),
        })
    };
    from_refresh_token().or_else(from_access_token)
}

/// Issues the access token (and the ID token with scope `openid`) of `grant`
/// and sets `app.at`, `app.at_exp` (and `app.idt`).
fn set_token_cookies(
    shared: &Arc<Shared>,
    app: &FusionAuthApp,
    user: &FusionAuthUser,
    grant: &Grant,
    grant_type: GrantType,
    headers: &mut HeaderMap,
) -> io::Result<()> {
    let issued = issue(shared, app, user, grant, grant_type)?;
    let cookies = cookies(shared);
    let max_age = app.lifetime_secs();
    cookies.set(headers, cookies::ACCESS_TOKEN, issued.access_token, max_age);
    cookies.set(
        headers,
        cookies::ACCESS_TOKEN_EXPIRY,
        issued.expires_at.to_string(),
        max_age,
    );
    if let Some(id_token) = issued.id_token {
        cookies.set(headers, cookies::ID_TOKEN, id_token, max_age);
    }
    Ok(())
}

/// `Secure` cookies only when the issuer is on https: browsers may drop
/// `Secure` cookies set over plain http.
fn cookies(shared: &Shared) -> Cookies {
    Cookies {
        secure: shared.issuer().starts_with("https://"),
    }
}

/// The scopes of a `scope` parameter; `openid offline_access` if empty.
pub(super) fn scopes(scope: &str) -> Vec<String> {
    let scope = if scope.trim().is_empty() {
        DEFAULT_SCOPE
    } else {
        scope
    };
    scope.split_ascii_whitespace().map(str::to_owned).collect()
}

/// `302 Found` to `location`.
fn found(location: &str) -> Response {
    match HeaderValue::try_from(location) {
        Ok(location) => no_store((StatusCode::FOUND, [(LOCATION, location)]).into_response()),
        Err(error) => server_error(&io::Error::other(error)),
    }
}

fn unknown_client() -> Response {
    (StatusCode::NOT_FOUND, "unknown client id\n").into_response()
}

fn bad_redirect(parameter: &str) -> Response {
    bad_request(&format!(
        "{parameter} must be an absolute http(s) URL on a loopback host (localhost, 127.0.0.1, [::1])."
    ))
}

fn bad_request(message: &str) -> Response {
    no_store((StatusCode::BAD_REQUEST, format!("{message}\n")).into_response())
}

/// `500` for a failure of randomness or signing, logged.
pub(super) fn server_error(error: &io::Error) -> Response {
    tracing::warn!(%error, "the dev issuer's FusionAuth face failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "server error\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scope() {
        assert_eq!(scopes(" "), ["openid", "offline_access"]);
        assert_eq!(scopes("openid  email"), ["openid", "email"]);
    }
}
