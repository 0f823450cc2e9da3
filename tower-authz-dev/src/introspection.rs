//! `POST /oauth/v2/introspect` (RFC 7662) the way ZITADEL answers it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde_json::{Map, Value, json};

use super::client_auth::{self, UNAUTHORIZED_CLIENT};
use super::clock::unix_now;
use super::reply::{FormBody, OAuthError, Params, no_store, simulated_fault};
use super::state::Shared;
use super::store::{StoredToken, TokenKind};
use super::{DEV_ORG_DOMAIN, DEV_ORG_ID, DEV_PROJECT_ID};
use tower_authz::{Claims, JwtVerifier, Verifier};

/// The members of an active answer that are not copied from a JWT's claims.
const ANSWER_MEMBERS: [&str; 12] = [
    "active",
    "scope",
    "client_id",
    "token_type",
    "exp",
    "iat",
    "nbf",
    "sub",
    "aud",
    "iss",
    "jti",
    "username",
];

pub(super) async fn introspect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: FormBody,
) -> Response {
    shared.introspection_requests.fetch_add(1, Ordering::SeqCst);
    if let Some(refusal) = simulated_fault(&shared).await {
        return refusal;
    }
    let params = match Params::parse(body) {
        Ok(params) => params,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(client_id) = client_auth::resource_server(&shared, &headers, &params) else {
        return UNAUTHORIZED_CLIENT.into_response();
    };
    let Some(token) = params.get("token") else {
        return OAuthError::INVALID_REQUEST.into_response();
    };
    let answer = active_answer(&shared, token, Audience::Client(&client_id))
        .unwrap_or_else(|| json!({ "active": false }));
    no_store(Json(answer).into_response())
}

/// The reserved audience of ZITADEL's own APIs, added to a token by the scope
/// `urn:zitadel:iam:org:project:id:zitadel:aud`.
pub(super) const ZITADEL_AUDIENCE: &str = "zitadel";

/// Who a token is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Audience<'a> {
    /// The introspecting client with this id: the token's audience must
    /// contain it or [`DEV_PROJECT_ID`].
    Client(&'a str),
    /// ZITADEL's own APIs (`/auth/v1/...`): the audience must contain
    /// [`ZITADEL_AUDIENCE`] or [`DEV_PROJECT_ID`]; personal access tokens are
    /// always accepted.
    ZitadelApi,
}

/// The introspection answer for `token` if it is active for `audience`
/// (known, unexpired, unrevoked and meant for it); `None` if inactive.
///
/// This is the introspection endpoint without HTTP and client
/// authentication; the answer is the JSON object the endpoint would send.
pub(super) fn active_answer(shared: &Shared, token: &str, audience: Audience<'_>) -> Option<Value> {
    // Who joins a personal access token's audience (see `from_stored`).
    let pat_audience = match audience {
        Audience::Client(client_id) => client_id,
        Audience::ZitadelApi => ZITADEL_AUDIENCE,
    };
    introspected(shared, token, pat_audience)
        .filter(|token| token.admits(audience))
        .map(|token| token.answer(shared))
}

/// A token that is known, unexpired and not revoked, as introspection
/// describes it.
struct Introspected {
    subject: String,
    client_id: String,
    scope: String,
    audiences: Vec<String>,
    issued_at: u64,
    not_before: u64,
    expires_at: u64,
    jti: String,
    username: String,
    roles: Vec<String>,
    /// Whether it is a personal access token.
    personal: bool,
    /// Members added after (and overriding) the standard ones.
    extra: Map<String, Value>,
}

fn introspected(shared: &Shared, token: &str, client_id: &str) -> Option<Introspected> {
    if let Some(stored) = shared.tokens.active(token, unix_now()) {
        return Some(from_stored(shared, stored, client_id));
    }
    let claims = verify_own_jwt(shared, token)?;
    let revoked = claims
        .get("jti")
        .and_then(Value::as_str)
        .is_some_and(|jti| shared.tokens.is_revoked(jti));
    (!revoked).then(|| from_jwt(shared, &claims))
}

/// The claims of a JWT this issuer signed with a published key, if it is
/// unexpired (no leeway); any audience.
pub(super) fn verify_own_jwt(shared: &Shared, token: &str) -> Option<Claims> {
    if !token.contains('.') {
        return None;
    }
    JwtVerifier::new(shared.issuer(), "")
        .with_any_audience()
        .with_leeway(Duration::ZERO)
        .with_jwks(&shared.jwks().to_string())
        .ok()?
        .verify(token)
        .into_ready()?
        .ok()
}

fn from_stored(shared: &Shared, stored: StoredToken, client_id: &str) -> Introspected {
    let roles = stored
        .roles
        .unwrap_or_else(|| shared.registry.user_roles(&stored.subject));
    let mut audiences = stored.audiences;
    let personal = stored.kind == TokenKind::Personal;
    if personal {
        // ZITADEL puts the introspecting application and its project into
        // the audience of a personal access token.
        for audience in [client_id, DEV_PROJECT_ID] {
            if !audiences.iter().any(|aud| aud == audience) {
                audiences.push(audience.to_owned());
            }
        }
    }
    Introspected {
        client_id: stored.client_id,
        scope: stored.scopes.join(" "),
        audiences,
        issued_at: stored.issued_at,
        not_before: stored.issued_at,
        expires_at: stored.expires_at,
        jti: stored.jti,
        username: stored.username,
        roles,
        personal,
        extra: stored.extra,
        subject: stored.subject,
    }
}

fn from_jwt(shared: &Shared, claims: &Claims) -> Introspected {
    let subject = claims.subject().unwrap_or_default().to_owned();
    let map = claims.as_map();
    let roles = match map.get("roles") {
        Some(Value::Array(roles)) => roles
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => shared.registry.user_roles(&subject),
    };
    let issued_at = claims.issued_at().unwrap_or_default();
    Introspected {
        client_id: claims.client_id().unwrap_or(&subject).to_owned(),
        scope: claims.scopes().collect::<Vec<_>>().join(" "),
        audiences: claims.audiences().map(str::to_owned).collect(),
        issued_at,
        not_before: claims.not_before().unwrap_or(issued_at),
        expires_at: claims.expires_at().unwrap_or_default(),
        jti: claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        username: map
            .get("preferred_username")
            .and_then(Value::as_str)
            .map_or_else(|| format!("{subject}@{DEV_ORG_DOMAIN}"), str::to_owned),
        roles,
        personal: false,
        extra: map
            .iter()
            .filter(|(name, _)| !ANSWER_MEMBERS.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
        subject,
    }
}

impl Introspected {
    /// Whether the token is active for `audience`: for a client, it or the
    /// project is in the token's audience; for ZITADEL's APIs, the reserved
    /// audience `zitadel` or the project is, or it is a personal access token.
    fn admits(&self, audience: Audience<'_>) -> bool {
        let wanted = match audience {
            Audience::Client(client_id) => client_id,
            Audience::ZitadelApi if self.personal => return true,
            Audience::ZitadelApi => ZITADEL_AUDIENCE,
        };
        self.audiences
            .iter()
            .any(|aud| aud == wanted || aud == DEV_PROJECT_ID)
    }

    fn answer(self, shared: &Shared) -> Value {
        let mut answer = json!({
            "active": true,
            "scope": self.scope,
            "client_id": self.client_id,
            "token_type": "Bearer",
            "exp": self.expires_at,
            "iat": self.issued_at,
            "nbf": self.not_before,
            "sub": self.subject,
            "aud": self.audiences,
            "iss": shared.issuer(),
            "jti": self.jti,
            "username": self.username,
            "urn:zitadel:iam:user:resourceowner:id": DEV_ORG_ID,
            "urn:zitadel:iam:user:resourceowner:name": "dev",
            "urn:zitadel:iam:user:resourceowner:primary_domain": DEV_ORG_DOMAIN,
        });
        let Some(map) = answer.as_object_mut() else {
            return answer;
        };
        if !self.roles.is_empty() {
            let roles: Map<String, Value> = self
                .roles
                .into_iter()
                .map(|role| (role, json!({ DEV_ORG_ID: DEV_ORG_DOMAIN })))
                .collect();
            map.insert(
                format!("urn:zitadel:iam:org:project:{DEV_PROJECT_ID}:roles"),
                Value::Object(roles.clone()),
            );
            map.insert(
                "urn:zitadel:iam:org:project:roles".into(),
                Value::Object(roles),
            );
        }
        map.extend(self.extra);
        answer
    }
}
