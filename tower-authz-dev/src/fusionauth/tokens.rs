//! The tokens of a FusionAuth login: access token, ID token, refresh token;
//! and the verifier of `GET /app/me`.

use std::io;
use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::super::key::{random_b64, random_uuid};
use super::super::state::Shared;
use super::super::token::TokenBuilder;
use super::app::{FusionAuthApp, FusionAuthUser};
use super::store::Grant;
use super::{FUSIONAUTH_HMAC_KEY_ID, FUSIONAUTH_TENANT_ID};
use tower_authz::{AuthError, JwtVerifier, Verification, Verifier};

/// FusionAuth's default refresh token lifetime (43 200 minutes).
pub(super) const REFRESH_TOKEN_LIFETIME: u64 = 30 * 24 * 3600;

/// How a login was granted: the `gty` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GrantType {
    /// `POST /api/login`.
    Password,
    /// The hosted backend's login.
    AuthorizationCode,
    /// `POST /app/refresh/{clientId}` after the hosted backend's login.
    Refresh,
}

impl GrantType {
    fn gty(self) -> &'static [&'static str] {
        match self {
            GrantType::Password => &["password"],
            GrantType::AuthorizationCode => &["authorization_code"],
            GrantType::Refresh => &["authorization_code", "refresh_token"],
        }
    }
}

/// A new login of `user` at `app` with these scopes, now.
pub(super) fn new_grant(
    app: &FusionAuthApp,
    user: &FusionAuthUser,
    scopes: Vec<String>,
    now: u64,
) -> io::Result<Grant> {
    Ok(Grant {
        application_id: app.application_id.clone(),
        login_id: user.login_id.clone(),
        scopes,
        session_id: random_uuid()?,
        auth_time: now,
    })
}

/// The signed tokens of a login.
#[derive(Debug)]
pub(super) struct Issued {
    pub(super) access_token: String,
    /// The access token's `exp` (Unix seconds).
    pub(super) expires_at: u64,
    /// With scope `openid`.
    pub(super) id_token: Option<String>,
}

/// Signs the access token of `grant` and, with scope `openid`, its ID token.
pub(super) fn issue(
    shared: &Arc<Shared>,
    app: &FusionAuthApp,
    user: &FusionAuthUser,
    grant: &Grant,
    grant_type: GrantType,
) -> io::Result<Issued> {
    let builder = access_token(shared, app, user, grant, grant_type);
    let expires_at = builder.claims()["exp"].as_u64().unwrap_or_default();
    let access_token = builder.sign()?;
    let id_token = if grant.has_scope("openid") {
        Some(id_token(shared, app, user, grant, &access_token)?)
    } else {
        None
    };
    Ok(Issued {
        access_token,
        expires_at,
        id_token,
    })
}

/// A [`TokenBuilder`] with the access token claims FusionAuth gives `user`
/// for `grant`, signed as `app` is configured.
pub(super) fn access_token(
    shared: &Arc<Shared>,
    app: &FusionAuthApp,
    user: &FusionAuthUser,
    grant: &Grant,
    grant_type: GrantType,
) -> TokenBuilder {
    let builder = TokenBuilder::new(Arc::clone(shared));
    let now = builder.now();
    let mut claims = common_claims(shared, app, user, grant, now);
    claims.insert("jti".into(), shared.new_jti().into());
    claims.insert("applicationId".into(), app.application_id.clone().into());
    if !grant.scopes.is_empty() {
        claims.insert("scope".into(), grant.scopes.join(" ").into());
    }
    claims.insert("roles".into(), json!(user.roles));
    claims.insert("gty".into(), json!(grant_type.gty()));
    signed(builder.with_claims(claims), app)
}

/// The ID token that goes with `access_token` (`at_hash`): identity claims
/// only, no `applicationId`, `roles`, `scope` or `gty`.
fn id_token(
    shared: &Arc<Shared>,
    app: &FusionAuthApp,
    user: &FusionAuthUser,
    grant: &Grant,
    access_token: &str,
) -> io::Result<String> {
    let builder = TokenBuilder::new(Arc::clone(shared));
    let now = builder.now();
    let mut claims = common_claims(shared, app, user, grant, now);
    claims.insert("jti".into(), shared.new_jti().into());
    claims.insert("at_hash".into(), at_hash(access_token).into());
    signed(builder.with_claims(claims), app).sign()
}

/// The claims access and ID tokens share.
fn common_claims(
    shared: &Shared,
    app: &FusionAuthApp,
    user: &FusionAuthUser,
    grant: &Grant,
    now: u64,
) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("aud".into(), app.application_id.clone().into());
    claims.insert("exp".into(), now.saturating_add(app.lifetime_secs()).into());
    claims.insert("iat".into(), now.into());
    claims.insert("iss".into(), shared.issuer().into());
    claims.insert("sub".into(), user.id.clone().into());
    claims.insert("authenticationType".into(), "PASSWORD".into());
    if let Some(email) = &user.email {
        claims.insert("email".into(), email.clone().into());
        claims.insert("email_verified".into(), true.into());
    }
    claims.insert("preferred_username".into(), user.username.clone().into());
    claims.insert("auth_time".into(), grant.auth_time.into());
    claims.insert("sid".into(), grant.session_id.clone().into());
    claims.insert("tid".into(), FUSIONAUTH_TENANT_ID.into());
    claims
}

/// HS256 with the app's secret and kid [`FUSIONAUTH_HMAC_KEY_ID`], or the
/// builder's default (the issuer's current RS256 key).
fn signed(builder: TokenBuilder, app: &FusionAuthApp) -> TokenBuilder {
    match &app.hmac_secret {
        Some(secret) => builder
            .hmac_secret(secret.as_str())
            .kid(FUSIONAUTH_HMAC_KEY_ID),
        None => builder,
    }
}

/// OpenID Connect `at_hash`: the left half of the access token's SHA-256,
/// base64url.
fn at_hash(access_token: &str) -> String {
    let hash = digest(&SHA256, access_token.as_bytes());
    let left = hash.as_ref().get(..16).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(left)
}

/// A new refresh token: 32 random bytes, base64url.
pub(super) fn new_refresh_token() -> io::Result<String> {
    random_b64::<32>()
}

/// Verifies the access tokens of this issuer's FusionAuth applications, each
/// with its application's key (its HMAC secret, or the JWKS) and audience.
/// A token without `applicationId` (an ID token) is refused.
#[derive(Debug)]
pub(super) struct AccessTokenVerifier {
    pub(super) shared: Arc<Shared>,
}

impl AccessTokenVerifier {
    /// A verifier of `app`'s tokens; `None` if its HMAC secret is too short
    /// for HS256 (under 32 bytes).
    fn for_app(&self, app: &FusionAuthApp) -> Option<JwtVerifier> {
        let verifier = JwtVerifier::new(self.shared.issuer(), app.application_id.clone());
        let verifier = match &app.hmac_secret {
            Some(secret) => verifier.with_jwk(
                &json!({
                    "kty": "oct",
                    "alg": "HS256",
                    "kid": FUSIONAUTH_HMAC_KEY_ID,
                    "k": URL_SAFE_NO_PAD.encode(secret),
                })
                .to_string(),
            ),
            None => verifier.with_jwks(&self.shared.jwks().to_string()),
        };
        verifier
            .inspect_err(|error| {
                tracing::warn!(%error, app = app.application_id, "cannot verify a FusionAuth app's tokens");
            })
            .ok()
    }
}

impl Verifier for AccessTokenVerifier {
    fn verify(&self, token: &str) -> Verification {
        let claims = self
            .shared
            .fusionauth
            .apps()
            .iter()
            .filter_map(|app| self.for_app(app)?.verify(token).into_ready()?.ok())
            .find(|claims| claims.get("applicationId").is_some());
        Verification::Ready(claims.ok_or(AuthError::invalid_token(
            "not an access token of a FusionAuth application of this issuer",
        )))
    }
}
