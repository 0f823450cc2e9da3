//! `POST /oauth/v2/token`: the `client_credentials` grant (ZITADEL opaque or
//! JWT access tokens, Entra v2 app tokens) and the jwt-bearer grant of ZITADEL
//! service accounts (RFC 7523).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::clients::{DevClient, KeyUse};
use super::clock::unix_now;
use super::reply::{FormBody, OAuthError, Params, no_store, simulated_fault};
use super::state::Shared;
use super::store::{StoredToken, TokenKind};
use super::{DEV_ORG_DOMAIN, DEV_PROJECT_ID, assertion, client_auth};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of `client_credentials` tokens.
const CLIENT_TOKEN_LIFETIME: u64 = 3600;
/// ZITADEL's `expires_in` for jwt-bearer tokens (12 hours less a second).
const SERVICE_ACCOUNT_TOKEN_LIFETIME: u64 = 43_199;

pub(super) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: FormBody,
) -> Response {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let response = match simulated_fault(&shared).await {
        Some(refusal) => refusal,
        None => match Params::parse(body) {
            Ok(params) => grant(&shared, &headers, &params),
            Err(refusal) => refusal.into_response(),
        },
    };
    no_store(response)
}

fn grant(shared: &Shared, headers: &HeaderMap, params: &Params) -> Response {
    match params.get("grant_type") {
        Some("client_credentials") => match client_auth::token_client(shared, headers, params) {
            Ok(client) => client_credentials(shared, &client, params),
            Err(refusal) => refusal.into_response(),
        },
        Some(JWT_BEARER) => jwt_bearer(shared, params),
        Some(_) => {
            OAuthError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type").into_response()
        }
        None => OAuthError::INVALID_REQUEST.into_response(),
    }
}

fn client_credentials(shared: &Shared, client: &DevClient, params: &Params) -> Response {
    let scope = params.get("scope");
    let scopes = split_scope(scope);
    let now = unix_now();
    let entra_app = scopes.iter().find_map(|scope| entra_app_id(scope));
    let token = if let Some(app_id) = entra_app {
        shared.sign_rs256(&entra_claims(shared, client, app_id, now))
    } else {
        let mut audiences = vec![DEV_PROJECT_ID.to_owned(), client.client_id.clone()];
        if let Some(resource) = params.get("resource") {
            push_unique(&mut audiences, resource);
        }
        add_reserved_audiences(&mut audiences, &scopes);
        if client.jwt_access_tokens {
            let claims = json!({
                "iss": shared.issuer(),
                "sub": client.client_id,
                "aud": audiences,
                "client_id": client.client_id,
                "scope": scopes.join(" "),
                "iat": now,
                "exp": now + CLIENT_TOKEN_LIFETIME,
                "jti": shared.new_jti(),
            });
            shared.sign_rs256(&claims)
        } else {
            Ok(shared.store_token(StoredToken {
                kind: TokenKind::Access,
                subject: client.client_id.clone(),
                client_id: client.client_id.clone(),
                scopes,
                audiences,
                username: format!("{}@{DEV_ORG_DOMAIN}", client.client_id),
                roles: None,
                extra: Map::new(),
                issued_at: now,
                expires_at: now + CLIENT_TOKEN_LIFETIME,
                jti: shared.new_jti(),
            }))
        }
    };
    match token {
        Ok(token) => token_answer(&token, CLIENT_TOKEN_LIFETIME, scope),
        Err(error) => {
            tracing::warn!(%error, "dev issuer cannot sign an access token");
            OAuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error").into_response()
        }
    }
}

/// An Entra v2 app-only access token for the application `app_id`.
fn entra_claims(shared: &Shared, client: &DevClient, app_id: &str, now: u64) -> Value {
    let oid = client.object_id();
    let mut claims = json!({
        "aud": app_id,
        "iss": shared.issuer(),
        "iat": now,
        "nbf": now,
        "exp": now + CLIENT_TOKEN_LIFETIME,
        "azp": client.client_id,
        "azpacr": "1",
        "idtyp": "app",
        "oid": oid,
        "sub": oid,
        "tid": client.tenant_id,
        "uti": shared.new_jti(),
        "ver": "2.0",
    });
    if !client.app_roles.is_empty()
        && let Some(map) = claims.as_object_mut()
    {
        map.insert("roles".into(), json!(client.app_roles));
    }
    claims
}

/// The jwt-bearer grant: a service account's signed assertion for an opaque
/// token of that machine user.
fn jwt_bearer(shared: &Shared, params: &Params) -> Response {
    let Some(assertion) = params.get("assertion") else {
        return OAuthError::INVALID_REQUEST.into_response();
    };
    let Some(user_id) = assertion::verify(shared, assertion, KeyUse::ServiceAccount) else {
        return OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant").into_response();
    };
    let scope = params.get("scope");
    let scopes = split_scope(scope);
    let mut audiences = vec![user_id.clone()];
    add_reserved_audiences(&mut audiences, &scopes);
    let now = unix_now();
    let token = shared.store_token(StoredToken {
        kind: TokenKind::Access,
        subject: user_id.clone(),
        client_id: user_id.clone(),
        scopes,
        audiences,
        username: format!("{user_id}@{DEV_ORG_DOMAIN}"),
        roles: None,
        extra: Map::new(),
        issued_at: now,
        expires_at: now + SERVICE_ACCOUNT_TOKEN_LIFETIME,
        jti: shared.new_jti(),
    });
    token_answer(&token, SERVICE_ACCOUNT_TOKEN_LIFETIME, scope)
}

fn token_answer(token: &str, expires_in: u64, scope: Option<&str>) -> Response {
    let mut answer = json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in,
    });
    if let (Some(scope), Some(map)) = (scope, answer.as_object_mut()) {
        map.insert("scope".into(), scope.into());
    }
    Json(answer).into_response()
}

fn split_scope(scope: Option<&str>) -> Vec<String> {
    scope
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The application id of an Entra `api://{appId}/.default` scope.
fn entra_app_id(scope: &str) -> Option<&str> {
    scope
        .strip_prefix("api://")?
        .strip_suffix("/.default")
        .filter(|app_id| !app_id.is_empty())
}

/// Adds `X` for each ZITADEL reserved scope `urn:zitadel:iam:org:project:id:X:aud`
/// (`X` = `zitadel` adds `"zitadel"`).
fn add_reserved_audiences(audiences: &mut Vec<String>, scopes: &[String]) {
    for scope in scopes {
        let project = scope
            .strip_prefix("urn:zitadel:iam:org:project:id:")
            .and_then(|rest| rest.strip_suffix(":aud"))
            .filter(|project| !project.is_empty());
        if let Some(project) = project {
            push_unique(audiences, project);
        }
    }
}

fn push_unique(audiences: &mut Vec<String>, audience: &str) {
    if !audiences.iter().any(|aud| aud == audience) {
        audiences.push(audience.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parsing() {
        assert_eq!(entra_app_id("api://abc/.default"), Some("abc"));
        assert_eq!(entra_app_id("api:///.default"), None);
        assert_eq!(entra_app_id("abc/.default"), None);
        let scopes = split_scope(Some(
            "openid urn:zitadel:iam:org:project:id:123:aud urn:zitadel:iam:org:project:id:zitadel:aud urn:zitadel:iam:org:project:id::aud",
        ));
        let mut audiences = vec!["123".to_owned()];
        add_reserved_audiences(&mut audiences, &scopes);
        assert_eq!(audiences, ["123", "zitadel"]);
    }
}
