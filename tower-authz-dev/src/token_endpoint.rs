//! `POST /oauth/v2/token`: the `client_credentials` grant (ZITADEL opaque or
//! JWT access tokens, Entra v2 app tokens) and the jwt-bearer grant of ZITADEL
//! service accounts (RFC 7523); with a `DPoP` proof (RFC 9449), DPoP-bound
//! tokens (`cnf.jkt`, `token_type: "DPoP"`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::clients::{DevClient, KeyUse};
use super::clock::unix_now;
use super::dpop::Refusal;
use super::reply::{FormBody, OAuthError, Params, no_store, simulated_fault};
use super::state::{Shared, TOKEN_PATH};
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
            Ok(params) => match shared.dpop.check(&headers, &shared.url(TOKEN_PATH)) {
                Ok(jkt) => grant(&shared, &headers, &params, jkt.as_deref()),
                Err(refusal) => dpop_refusal(refusal),
            },
            Err(refusal) => refusal.into_response(),
        },
    };
    let mut response = no_store(response);
    if let Some(nonce) = shared.dpop.nonce_header() {
        response.headers_mut().insert("dpop-nonce", nonce);
    }
    response
}

/// `400 {"error": "invalid_dpop_proof"}`, or `use_dpop_nonce` (RFC 9449 §8), whose nonce
/// goes in the `DPoP-Nonce` header.
fn dpop_refusal(refusal: Refusal) -> Response {
    let (error, description) = match &refusal {
        Refusal::Invalid(why) => ("invalid_dpop_proof", *why),
        Refusal::UseNonce(_) => ("use_dpop_nonce", "a DPoP nonce is required"),
    };
    let answer = json!({"error": error, "error_description": description});
    (StatusCode::BAD_REQUEST, Json(answer)).into_response()
}

/// `jkt`: the thumbprint of the request's DPoP proof key, which the token is bound to.
fn grant(shared: &Shared, headers: &HeaderMap, params: &Params, jkt: Option<&str>) -> Response {
    match params.get("grant_type") {
        Some("client_credentials") => match client_auth::token_client(shared, headers, params) {
            Ok(client) => client_credentials(shared, &client, params, jkt),
            Err(refusal) => refusal.into_response(),
        },
        Some(JWT_BEARER) => jwt_bearer(shared, params, jkt),
        Some(_) => {
            OAuthError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type").into_response()
        }
        None => OAuthError::INVALID_REQUEST.into_response(),
    }
}

fn client_credentials(
    shared: &Shared,
    client: &DevClient,
    params: &Params,
    jkt: Option<&str>,
) -> Response {
    let scope = params.get("scope");
    let scopes = split_scope(scope);
    let now = unix_now();
    let entra_app = scopes.iter().find_map(|scope| entra_app_id(scope));
    let token = if let Some(app_id) = entra_app {
        let mut claims = entra_claims(shared, client, app_id, now);
        bind(&mut claims, jkt);
        shared.sign_rs256(&claims)
    } else {
        let mut audiences = vec![DEV_PROJECT_ID.to_owned(), client.client_id.clone()];
        if let Some(resource) = params.get("resource") {
            push_unique(&mut audiences, resource);
        }
        add_reserved_audiences(&mut audiences, &scopes);
        if client.jwt_access_tokens {
            let mut claims = json!({
                "iss": shared.issuer(),
                "sub": client.client_id,
                "aud": audiences,
                "client_id": client.client_id,
                "scope": scopes.join(" "),
                "iat": now,
                "exp": now + CLIENT_TOKEN_LIFETIME,
                "jti": shared.new_jti(),
            });
            bind(&mut claims, jkt);
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
                extra: confirmation(jkt),
                issued_at: now,
                expires_at: now + CLIENT_TOKEN_LIFETIME,
                jti: shared.new_jti(),
            }))
        }
    };
    match token {
        Ok(token) => token_answer(&token, CLIENT_TOKEN_LIFETIME, scope, jkt.is_some()),
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
fn jwt_bearer(shared: &Shared, params: &Params, jkt: Option<&str>) -> Response {
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
        extra: confirmation(jkt),
        issued_at: now,
        expires_at: now + SERVICE_ACCOUNT_TOKEN_LIFETIME,
        jti: shared.new_jti(),
    });
    token_answer(&token, SERVICE_ACCOUNT_TOKEN_LIFETIME, scope, jkt.is_some())
}

/// `{"cnf": {"jkt": jkt}}` (RFC 9449 §6.1), or nothing for a Bearer token.
fn confirmation(jkt: Option<&str>) -> Map<String, Value> {
    let mut extra = Map::new();
    if let Some(jkt) = jkt {
        extra.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    extra
}

/// Adds `cnf.jkt` to a JWT's claims when the token is DPoP-bound.
fn bind(claims: &mut Value, jkt: Option<&str>) {
    if let Some(map) = claims.as_object_mut() {
        map.extend(confirmation(jkt));
    }
}

fn token_answer(token: &str, expires_in: u64, scope: Option<&str>, dpop: bool) -> Response {
    let mut answer = json!({
        "access_token": token,
        "token_type": if dpop { "DPoP" } else { "Bearer" },
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
