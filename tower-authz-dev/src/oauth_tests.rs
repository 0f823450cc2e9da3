//! Tests of the token, introspection and revocation endpoints over real HTTP
//! on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{Value, json};

use super::{
    DEV_ORG_DOMAIN, DEV_ORG_ID, DEV_PROJECT_ID, DEV_TENANT_ID, DevAlgorithm, DevApiApp, DevClient,
    DevIssuer, DevKey, DevServiceAccount, OpaqueTokenBuilder,
};
use tower_authz::{JwtVerifier, Verifier};

type TestResult = Result<(), Box<dyn std::error::Error>>;

pub(super) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const GENERIC_ROLES: &str = "urn:zitadel:iam:org:project:roles";

fn project_roles_claim() -> String {
    format!("urn:zitadel:iam:org:project:{DEV_PROJECT_ID}:roles")
}

pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", urlencode(name), urlencode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `Authorization: Basic` value per RFC 6749 §2.3.1 (form-urlencoded, then base64).
fn basic(id: &str, secret: &str) -> String {
    let credentials = format!("{}:{}", urlencode(id), urlencode(secret));
    format!("Basic {}", STANDARD.encode(credentials))
}

/// POSTs a form, with an `Authorization` header if given.
pub(super) async fn post(
    url: &str,
    authorization: Option<&str>,
    pairs: &[(&str, &str)],
) -> reqwest::Response {
    post_body(url, authorization, form(pairs)).await
}

async fn post_body(url: &str, authorization: Option<&str>, body: String) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    if let Some(authorization) = authorization {
        request = request.header(AUTHORIZATION, authorization);
    }
    request.send().await.expect("HTTP request failed")
}

async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// Asserts the status and returns the JSON body.
pub(super) async fn expect(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    json_of(response).await
}

/// Introspects `token` as a client authenticated with `client_secret_basic`.
pub(super) async fn introspect(issuer: &DevIssuer, client: (&str, &str), token: &str) -> Value {
    let authorization = basic(client.0, client.1);
    let response = post(
        &issuer.introspection_endpoint(),
        Some(&authorization),
        &[("token", token)],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    json_of(response).await
}

/// Introspects `token` with `private_key_jwt`.
async fn introspect_with_assertion(
    issuer: &DevIssuer,
    assertion: &str,
    token: &str,
) -> reqwest::Response {
    post(
        &issuer.introspection_endpoint(),
        None,
        &[
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
            ("token", token),
        ],
    )
    .await
}

fn b64_json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The (header, claims) of a compact JWS.
fn decode(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS has three parts: {token}");
    (b64_json(parts[0]), b64_json(parts[1]))
}

/// A ZITADEL key file: its JSON and the PKCS#1 DER of its key.
pub(super) fn read_key_file(path: &Path) -> (Value, Vec<u8>) {
    let file: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let pem = file["key"].as_str().unwrap();
    let body = pem
        .strip_prefix("-----BEGIN RSA PRIVATE KEY-----\n")
        .and_then(|rest| rest.strip_suffix("-----END RSA PRIVATE KEY-----\n"))
        .expect("a PKCS#1 PEM");
    let der = STANDARD.decode(body.replace('\n', "")).unwrap();
    (file, der)
}

/// Signs an RS256 JWT with a PKCS#1 DER key, the way a ZITADEL client does.
pub(super) fn sign_rs256(pkcs1_der: &[u8], kid: &str, claims: &Value) -> String {
    let pair = RsaKeyPair::from_der(pkcs1_der).unwrap();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Assertion claims: iss = sub = `owner`, aud = the issuer, valid for an hour.
pub(super) fn assertion_claims(issuer: &DevIssuer, owner: &str) -> Value {
    let now = now();
    json!({"iss": owner, "sub": owner, "aud": issuer.issuer(), "iat": now, "exp": now + 3600})
}

/// A fresh temporary directory, removed on drop.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new() -> TempDir {
        let name = format!(
            "tower-authz-dev-{}-{}",
            std::process::id(),
            super::key::random_token().unwrap()
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    pub(super) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(unix)]
fn assert_owner_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", path.display());
}

#[cfg(not(unix))]
fn assert_owner_only(_: &Path) {}

/// An issuer with the confidential client `rs:secret`, an introspecting resource server.
pub(super) async fn issuer_with_resource_server() -> DevIssuer {
    let issuer = DevIssuer::start().await.unwrap();
    issuer.add_client(DevClient::new("rs", "secret"));
    issuer
}

pub(super) const RS: (&str, &str) = ("rs", "secret");

#[tokio::test]
async fn opaque_token_introspects_like_zitadel() -> TestResult {
    let issuer = issuer_with_resource_server().await;
    let token = issuer
        .opaque_token()
        .subject("alice")
        .scopes(["openid", "read"])
        .roles(["admin", "viewer"])
        .claim("email", "alice@example.com")
        .issue();
    assert_eq!(token.len(), 43);
    assert!(!token.contains('.'));
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );

    let answer = introspect(&issuer, RS, &token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["scope"], "openid read");
    assert_eq!(answer["client_id"], "dev-client");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["sub"], "alice");
    assert_eq!(answer["aud"], json!([DEV_PROJECT_ID, "dev-api"]));
    assert_eq!(answer["iss"], issuer.issuer());
    assert_eq!(answer["username"], "alice@dev.localhost");
    assert_eq!(answer["email"], "alice@example.com");
    assert!(answer["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
    let iat = answer["iat"].as_u64().unwrap();
    assert_eq!(answer["exp"].as_u64().unwrap(), iat + 3600);
    assert_eq!(answer["nbf"].as_u64().unwrap(), iat);
    assert!(iat.abs_diff(now()) <= 5);
    let roles = json!({
        "admin": {DEV_ORG_ID: DEV_ORG_DOMAIN},
        "viewer": {DEV_ORG_ID: DEV_ORG_DOMAIN},
    });
    assert_eq!(answer[GENERIC_ROLES], roles);
    assert_eq!(answer[project_roles_claim()], roles);
    assert_eq!(answer["urn:zitadel:iam:user:resourceowner:id"], DEV_ORG_ID);
    assert_eq!(answer["urn:zitadel:iam:user:resourceowner:name"], "dev");
    assert_eq!(
        answer["urn:zitadel:iam:user:resourceowner:primary_domain"],
        DEV_ORG_DOMAIN
    );

    // The crate's ZITADEL role source reads the answer.
    let claims =
        tower_authz::Claims::from_value(answer, &tower_authz::RoleSource::zitadel()).unwrap();
    assert!(claims.has_role("admin") && claims.has_role("viewer"));

    // Defaults, and roles from set_user_roles when none were given.
    issuer.set_user_roles("dev-user", ["reader"]);
    let answer = introspect(&issuer, RS, &issuer.opaque_token().issue()).await;
    assert_eq!(answer["sub"], "dev-user");
    assert_eq!(answer["scope"], "openid");
    assert_eq!(answer["username"], "dev-user@dev.localhost");
    assert_eq!(
        answer[GENERIC_ROLES],
        json!({"reader": {DEV_ORG_ID: DEV_ORG_DOMAIN}})
    );
    // Explicitly no roles: no role claims at all.
    let token = issuer.opaque_token().roles(Vec::<String>::new()).issue();
    let answer = introspect(&issuer, RS, &token).await;
    assert_eq!(answer["active"], true);
    assert!(answer.get(GENERIC_ROLES).is_none());
    assert!(answer.get(project_roles_claim()).is_none());

    // Builder options.
    let token = issuer
        .opaque_token()
        .client_id("my-app")
        .username("Alice Example")
        .audiences(["rs"])
        .lifetime(Duration::from_secs(60))
        .claim("active", true)
        .issue();
    let answer = introspect(&issuer, RS, &token).await;
    assert_eq!(answer["client_id"], "my-app");
    assert_eq!(answer["username"], "Alice Example");
    assert_eq!(answer["aud"], json!(["rs"]));
    assert_eq!(
        answer["exp"].as_u64().unwrap(),
        answer["iat"].as_u64().unwrap() + 60
    );
    assert_eq!(issuer.introspection_requests(), 4);
    Ok(())
}

#[tokio::test]
async fn inactive_tokens_answer_active_false() -> TestResult {
    let issuer = issuer_with_resource_server().await;
    let inactive = json!({"active": false});

    let expired = issuer.opaque_token().expired().issue();
    assert_eq!(introspect(&issuer, RS, &expired).await, inactive);

    let revoked = issuer.opaque_token().issue();
    assert_eq!(introspect(&issuer, RS, &revoked).await["active"], true);
    assert!(issuer.revoke(&revoked));
    assert!(!issuer.revoke(&revoked));
    assert_eq!(introspect(&issuer, RS, &revoked).await, inactive);

    let other_audience = issuer.opaque_token().audiences(["other-api"]).issue();
    assert_eq!(introspect(&issuer, RS, &other_audience).await, inactive);
    // The introspecting client itself in the audience is enough.
    let own_audience = issuer.opaque_token().audiences(["rs"]).issue();
    assert_eq!(introspect(&issuer, RS, &own_audience).await["active"], true);

    for unknown in ["unknown", "a.b.c", "%%%", &"x".repeat(10_000), "..", "é"] {
        assert_eq!(
            introspect(&issuer, RS, unknown).await,
            inactive,
            "{unknown}"
        );
    }

    // JWTs: this issuer's are active (for the project audience), others not.
    let jwt = issuer.token().audiences([DEV_PROJECT_ID]).sign()?;
    assert_eq!(introspect(&issuer, RS, &jwt).await["active"], true);
    let wrong_audience = issuer.token().sign()?; // aud "dev-api"
    assert_eq!(introspect(&issuer, RS, &wrong_audience).await, inactive);
    let expired_jwt = issuer
        .token()
        .audiences([DEV_PROJECT_ID])
        .expired()
        .sign()?;
    assert_eq!(introspect(&issuer, RS, &expired_jwt).await, inactive);
    let foreign = DevKey::generate(DevAlgorithm::RS256)?;
    let forged = issuer
        .token()
        .audiences([DEV_PROJECT_ID])
        .signed_with(&foreign)
        .kid(issuer.current_key(DevAlgorithm::RS256).kid())
        .sign()?;
    assert_eq!(introspect(&issuer, RS, &forged).await, inactive);
    let other_issuer = issuer
        .token()
        .audiences([DEV_PROJECT_ID])
        .issuer("https://elsewhere.example")
        .sign()?;
    assert_eq!(introspect(&issuer, RS, &other_issuer).await, inactive);
    // A retired key no longer verifies.
    let es = issuer
        .token()
        .audiences([DEV_PROJECT_ID])
        .algorithm(DevAlgorithm::ES256)
        .sign()?;
    assert_eq!(introspect(&issuer, RS, &es).await["active"], true);
    assert!(issuer.retire(issuer.current_key(DevAlgorithm::ES256).kid()));
    assert_eq!(introspect(&issuer, RS, &es).await, inactive);
    // Revoking a JWT remembers its jti.
    assert!(issuer.revoke(&jwt));
    assert_eq!(introspect(&issuer, RS, &jwt).await, inactive);
    assert!(!issuer.revoke(&forged));
    Ok(())
}

#[tokio::test]
async fn introspected_jwt_carries_its_claims() -> TestResult {
    let issuer = issuer_with_resource_server().await;
    let jwt = issuer
        .token()
        .subject("carol")
        .audiences([DEV_PROJECT_ID, "dev-api"])
        .scopes(["openid", "tasks"])
        .roles(["editor"])
        .claim("azp", "carol-app")
        .claim("preferred_username", "carol@example.com")
        .claim("tenant", "t1")
        .sign()?;
    let claims = decode(&jwt).1;
    let answer = introspect(&issuer, RS, &jwt).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["sub"], "carol");
    assert_eq!(answer["client_id"], "carol-app");
    assert_eq!(answer["scope"], "openid tasks");
    assert_eq!(answer["aud"], json!([DEV_PROJECT_ID, "dev-api"]));
    assert_eq!(answer["username"], "carol@example.com");
    assert_eq!(answer["jti"], claims["jti"]);
    assert_eq!(answer["exp"], claims["exp"]);
    assert_eq!(answer["nbf"], claims["iat"]);
    assert_eq!(answer["tenant"], "t1");
    assert_eq!(
        answer[GENERIC_ROLES],
        json!({"editor": {DEV_ORG_ID: DEV_ORG_DOMAIN}})
    );
    // A single-string audience comes back as an array.
    let jwt = issuer.token().audience(DEV_PROJECT_ID).sign()?;
    assert_eq!(
        introspect(&issuer, RS, &jwt).await["aud"],
        json!([DEV_PROJECT_ID])
    );
    Ok(())
}

#[tokio::test]
async fn introspection_requires_client_authentication() -> TestResult {
    let issuer = issuer_with_resource_server().await;
    let token = issuer.opaque_token().issue();
    let url = issuer.introspection_endpoint();
    let refusal = json!({"error": "unauthorized_client"});
    let pairs = [("token", token.as_str())];

    let no_auth = post(&url, None, &pairs).await;
    assert_eq!(expect(no_auth, 401).await, refusal);
    for authorization in [
        basic("rs", "wrong"),
        basic("nobody", "secret"),
        "Basic !!!not-base64".to_owned(),
        format!("Basic {}", STANDARD.encode("no-colon")),
        format!("Basic {}", STANDARD.encode([0xff, b':', 0xfe])),
    ] {
        let response = post(&url, Some(&authorization), &pairs).await;
        assert_eq!(expect(response, 401).await, refusal, "{authorization}");
    }
    // client_secret_post is accepted too, but not with a wrong secret.
    let post_auth = post(
        &url,
        None,
        &[
            ("client_id", "rs"),
            ("client_secret", "wrong"),
            ("token", &token),
        ],
    )
    .await;
    assert_eq!(expect(post_auth, 401).await, refusal);
    // Authenticated, but no token: a bad request.
    let no_token = post(&url, Some(&basic("rs", "secret")), &[]).await;
    assert_eq!(
        expect(no_token, 400).await,
        json!({"error": "invalid_request"})
    );
    assert_eq!(issuer.introspection_requests(), 8);
    Ok(())
}

#[tokio::test]
async fn private_key_jwt_with_an_api_key_file() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let dir = TempDir::new();
    let path = dir.join("api-key.json");
    let app: DevApiApp = issuer.write_api_key_file(&path)?;
    assert_eq!(app.path, path);
    assert_owner_only(&path);

    let (file, der) = read_key_file(&path);
    assert_eq!(file["type"], "application");
    assert_eq!(file["keyId"], app.key_id);
    assert_eq!(file["appId"], app.app_id);
    assert_eq!(file["clientId"], app.client_id);
    assert_eq!(app.client_id, format!("{}@dev-project", app.app_id));
    assert!(app.app_id.len() >= 18 && app.app_id.bytes().all(|b| b.is_ascii_digit()));
    assert!(app.key_id.bytes().all(|b| b.is_ascii_digit()));
    let debug = format!("{app:?}");
    assert!(
        debug.contains(&app.client_id) && !debug.contains("BEGIN"),
        "{debug}"
    );

    issuer.set_user_roles("dev-user", ["admin"]);
    let token = issuer.opaque_token().issue();
    let assertion = sign_rs256(
        &der,
        &app.key_id,
        &assertion_claims(&issuer, &app.client_id),
    );
    let answer = expect(
        introspect_with_assertion(&issuer, &assertion, &token).await,
        200,
    )
    .await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["sub"], "dev-user");
    assert_eq!(
        answer[GENERIC_ROLES],
        json!({"admin": {DEV_ORG_ID: DEV_ORG_DOMAIN}})
    );
    // The audience may be an array containing the issuer; the assertion may be reused.
    let mut claims = assertion_claims(&issuer, &app.client_id);
    claims["aud"] = json!([issuer.issuer(), "other"]);
    let assertion = sign_rs256(&der, &app.key_id, &claims);
    let answer = expect(
        introspect_with_assertion(&issuer, &assertion, &token).await,
        200,
    )
    .await;
    assert_eq!(answer["active"], true);

    // Bad assertions: 401.
    let refusal = json!({"error": "unauthorized_client"});
    let other_key = DevKey::generate(DevAlgorithm::RS256)?;
    let other_der = pem_body(&other_key.rsa_private_key_pkcs1_pem().unwrap());
    let good = assertion_claims(&issuer, &app.client_id);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut claims = good.clone();
        edit(&mut claims);
        sign_rs256(&der, &app.key_id, &claims)
    };
    let now = now();
    let bad = [
        ("foreign key", sign_rs256(&other_der, &app.key_id, &good)),
        ("unknown kid", sign_rs256(&der, "123", &good)),
        ("wrong iss", with(&|c| c["iss"] = json!("someone-else"))),
        ("sub != iss", with(&|c| c["sub"] = json!("someone-else"))),
        (
            "wrong aud",
            with(&|c| c["aud"] = json!("https://elsewhere.example")),
        ),
        ("expired", with(&|c| c["exp"] = json!(now - 10))),
        (
            "no exp",
            with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        (
            "no iat",
            with(&|c| drop(c.as_object_mut().unwrap().remove("iat"))),
        ),
        ("old iat", with(&|c| c["iat"] = json!(now - 3700))),
        ("future iat", with(&|c| c["iat"] = json!(now + 600))),
        ("exp too far", with(&|c| c["exp"] = json!(now + 7200))),
        ("garbage", "a.b.c".to_owned()),
        ("not a JWT", "not-a-jwt".to_owned()),
    ];
    for (case, assertion) in bad {
        let response = introspect_with_assertion(&issuer, &assertion, &token).await;
        assert_eq!(expect(response, 401).await, refusal, "{case}");
    }
    // A wrong client_assertion_type is no authentication at all.
    let assertion = sign_rs256(&der, &app.key_id, &good);
    let response = post(
        &issuer.introspection_endpoint(),
        None,
        &[
            ("client_assertion_type", "urn:example:other"),
            ("client_assertion", &assertion),
            ("token", &token),
        ],
    )
    .await;
    assert_eq!(expect(response, 401).await, refusal);
    // An API app key is no service account key.
    let grant = post(
        &issuer.token_endpoint(),
        None,
        &[("grant_type", JWT_BEARER), ("assertion", &assertion)],
    )
    .await;
    assert_eq!(expect(grant, 400).await, json!({"error": "invalid_grant"}));
    Ok(())
}

fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    STANDARD.decode(body).unwrap()
}

#[tokio::test]
async fn personal_access_token_is_active_with_roles() -> TestResult {
    let issuer = issuer_with_resource_server().await;
    let pat = issuer.personal_access_token("machine-1");
    assert!(!pat.contains('.'));
    issuer.set_user_roles("machine-1", ["admin", "ops"]);
    assert_eq!(
        issuer.machine_user_name("machine-1").as_deref(),
        Some("machine-1")
    );
    issuer.add_machine_user("machine-1", "Build Robot");
    assert_eq!(
        issuer.machine_user_name("machine-1").as_deref(),
        Some("Build Robot")
    );
    assert_eq!(issuer.machine_user_name("nobody"), None);

    let answer = introspect(&issuer, RS, &pat).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["sub"], "machine-1");
    assert_eq!(answer["client_id"], "machine-1");
    assert_eq!(answer["username"], "machine-1@dev.localhost");
    let aud: Vec<&str> = answer["aud"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        aud.contains(&"rs") && aud.contains(&DEV_PROJECT_ID),
        "{aud:?}"
    );
    let roles = json!({
        "admin": {DEV_ORG_ID: DEV_ORG_DOMAIN},
        "ops": {DEV_ORG_ID: DEV_ORG_DOMAIN},
    });
    assert_eq!(answer[GENERIC_ROLES], roles);
    assert_eq!(answer[project_roles_claim()], roles);

    // Active for any authenticated client, with that client in the audience.
    issuer.add_client(DevClient::new("other-rs", "pw"));
    let answer = introspect(&issuer, ("other-rs", "pw"), &pat).await;
    assert_eq!(answer["active"], true);
    assert!(
        answer["aud"]
            .as_array()
            .unwrap()
            .contains(&json!("other-rs"))
    );

    // Revoked through the endpoint.
    let response = post(
        &issuer.revocation_endpoint(),
        Some(&basic("rs", "secret")),
        &[("token", &pat)],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        introspect(&issuer, RS, &pat).await,
        json!({"active": false})
    );
    Ok(())
}

#[tokio::test]
async fn client_credentials_with_basic_and_post() -> TestResult {
    let issuer = DevIssuer::start().await?;
    // Characters that must be form-urlencoded inside the Basic credentials.
    let (id, secret) = ("svc:1", "s3cret:+/ %é");
    issuer.add_client(DevClient::new(id, secret));
    let url = issuer.token_endpoint();

    let response = post(
        &url,
        Some(&basic(id, secret)),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "openid tasks"),
            ("resource", "https://api.example"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let answer = json_of(response).await;
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 3600);
    assert_eq!(answer["scope"], "openid tasks");
    let token = answer["access_token"].as_str().unwrap();
    assert!(!token.contains('.'), "opaque by default");

    // The client introspects its own token (it is in the audience).
    let answer = introspect(&issuer, (id, secret), token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["sub"], id);
    assert_eq!(answer["client_id"], id);
    assert_eq!(answer["scope"], "openid tasks");
    assert_eq!(
        answer["aud"],
        json!([DEV_PROJECT_ID, id, "https://api.example"])
    );

    // client_secret_post, no scope.
    let response = post(
        &url,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
    )
    .await;
    let answer = expect(response, 200).await;
    assert!(answer.get("scope").is_none());
    let token = answer["access_token"].as_str().unwrap();
    let answer = introspect(&issuer, (id, secret), token).await;
    assert_eq!(answer["aud"], json!([DEV_PROJECT_ID, id]));
    assert_eq!(answer["scope"], "");

    // Failures.
    let invalid_client = json!({"error": "invalid_client"});
    let cc = ("grant_type", "client_credentials");
    let response = post(&url, Some(&basic(id, "wrong")), &[cc]).await;
    assert_eq!(response.headers()[WWW_AUTHENTICATE], "Basic realm=\"dev\"");
    assert_eq!(expect(response, 401).await, invalid_client);
    let response = post(&url, Some("Basic %%%"), &[cc]).await;
    assert_eq!(response.headers()[WWW_AUTHENTICATE], "Basic realm=\"dev\"");
    assert_eq!(expect(response, 401).await, invalid_client);
    let response = post(
        &url,
        None,
        &[cc, ("client_id", id), ("client_secret", "wrong")],
    )
    .await;
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    assert_eq!(expect(response, 401).await, invalid_client);
    let response = post(&url, None, &[cc, ("client_id", id)]).await;
    assert_eq!(expect(response, 401).await, invalid_client);
    let response = post(&url, None, &[cc]).await;
    assert_eq!(expect(response, 401).await, invalid_client);
    let response = post(
        &url,
        Some(&basic(id, secret)),
        &[cc, ("client_secret", secret)],
    )
    .await;
    assert_eq!(
        expect(response, 400).await,
        json!({"error": "invalid_request"})
    );
    assert_eq!(issuer.token_requests(), 8);
    Ok(())
}

#[tokio::test]
async fn client_credentials_jwt_access_tokens() -> TestResult {
    let issuer = issuer_with_resource_server().await;
    issuer.add_client(DevClient::new("jwt-client", "pw").jwt_access_tokens());
    let response = post(
        &issuer.token_endpoint(),
        Some(&basic("jwt-client", "pw")),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "openid urn:zitadel:iam:org:project:id:zitadel:aud"),
            ("resource", "https://api.example"),
        ],
    )
    .await;
    let answer = expect(response, 200).await;
    let token = answer["access_token"].as_str().unwrap();
    let (header, claims) = decode(token);
    let key = issuer.current_key(DevAlgorithm::RS256);
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": key.kid()})
    );
    assert_eq!(claims["iss"], issuer.issuer());
    assert_eq!(claims["sub"], "jwt-client");
    assert_eq!(claims["client_id"], "jwt-client");
    assert_eq!(
        claims["aud"],
        json!([
            DEV_PROJECT_ID,
            "jwt-client",
            "https://api.example",
            "zitadel"
        ])
    );
    assert_eq!(
        claims["scope"],
        "openid urn:zitadel:iam:org:project:id:zitadel:aud"
    );
    assert_eq!(
        claims["exp"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap() + 3600
    );
    assert!(claims["jti"].as_str().is_some());
    // It verifies with the published keys.
    let verifier = JwtVerifier::new(issuer.issuer(), DEV_PROJECT_ID)
        .with_jwk(&key.public_jwk().to_string())?;
    assert_eq!(verifier.verify(token).await?.subject(), Some("jwt-client"));

    // Introspection and revocation through the endpoints.
    assert_eq!(introspect(&issuer, RS, token).await["active"], true);
    let response = post(
        &issuer.revocation_endpoint(),
        Some(&basic("rs", "secret")),
        &[("token", token)],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await?.is_empty());
    assert_eq!(
        introspect(&issuer, RS, token).await,
        json!({"active": false})
    );
    Ok(())
}

#[tokio::test]
async fn entra_shaped_app_tokens() -> TestResult {
    let issuer = DevIssuer::start().await?;
    issuer
        .add_client(DevClient::new("entra-client", "pw").app_roles(["Tasks.Read", "Tasks.Write"]));
    issuer.add_client(
        DevClient::new("plain", "pw").tenant_id("11111111-2222-3333-4444-555555555555"),
    );
    let get = |client: &'static str| {
        let url = issuer.token_endpoint();
        async move {
            let response = post(
                &url,
                Some(&basic(client, "pw")),
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "api://my-app-id/.default"),
                ],
            )
            .await;
            let answer = expect(response, 200).await;
            assert_eq!(answer["expires_in"], 3600);
            assert_eq!(answer["scope"], "api://my-app-id/.default");
            answer["access_token"].as_str().unwrap().to_owned()
        }
    };
    let token = get("entra-client").await;
    let (header, claims) = decode(&token);
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], issuer.current_key(DevAlgorithm::RS256).kid());
    assert_eq!(claims["iss"], issuer.issuer());
    assert_eq!(claims["aud"], "my-app-id");
    assert_eq!(claims["tid"], DEV_TENANT_ID);
    assert_eq!(claims["azp"], "entra-client");
    assert_eq!(claims["azpacr"], "1");
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["roles"], json!(["Tasks.Read", "Tasks.Write"]));
    let oid = claims["oid"].as_str().unwrap();
    assert_eq!(claims["sub"], oid);
    assert_eq!(oid.len(), 36);
    for (index, c) in oid.char_indices() {
        if [8, 13, 18, 23].contains(&index) {
            assert_eq!(c, '-');
        } else {
            assert!(c.is_ascii_hexdigit(), "{oid}");
        }
    }
    assert_eq!(oid, DevClient::new("entra-client", "x").object_id());
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["nbf"].as_u64().unwrap(), iat);
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 3600);
    assert!(claims["uti"].as_str().is_some_and(|uti| !uti.is_empty()));
    assert!(claims.get("scope").is_none() && claims.get("client_id").is_none());
    // Verifies like an Entra token would, with the Entra role source.
    let verifier =
        JwtVerifier::new(issuer.issuer(), "my-app-id").with_jwks(&issuer_jwks(&issuer))?;
    let verified = verifier.verify(&token).await?;
    assert!(verified.has_role("Tasks.Write"));
    assert_eq!(verified.client_id(), Some("entra-client"));

    // Stable oid per client; no roles claim without app roles; custom tenant.
    assert_eq!(decode(&get("entra-client").await).1["oid"], oid);
    let plain = decode(&get("plain").await).1;
    assert_ne!(plain["oid"], oid);
    assert!(plain.get("roles").is_none());
    assert_eq!(plain["tid"], "11111111-2222-3333-4444-555555555555");
    Ok(())
}

fn issuer_jwks(issuer: &DevIssuer) -> String {
    let keys: Vec<Value> = issuer
        .published_keys()
        .iter()
        .map(|k| k.public_jwk())
        .collect();
    json!({ "keys": keys }).to_string()
}

#[tokio::test]
async fn jwt_bearer_grant_with_a_service_account_key_file() -> TestResult {
    let issuer = issuer_with_resource_server().await;
    let dir = TempDir::new();
    let path = dir.join("sa.json");
    let account: DevServiceAccount =
        issuer.write_service_account_key_file(&path, "287364512398712345")?;
    let user = account.user_id.as_str();
    assert_eq!(account.path, path);
    assert_owner_only(&path);
    let (file, der) = read_key_file(&path);
    assert_eq!(file["type"], "serviceaccount");
    assert_eq!(file["keyId"], account.key_id);
    assert_eq!(file["userId"], user);
    assert!(!format!("{account:?}").contains("BEGIN"));
    assert_eq!(issuer.machine_user_name(user).as_deref(), Some(user));
    issuer.set_user_roles(user, ["reader"]);

    let scope = format!(
        "openid urn:zitadel:iam:org:project:id:{DEV_PROJECT_ID}:aud urn:zitadel:iam:org:project:id:zitadel:aud"
    );
    let assertion = sign_rs256(&der, &account.key_id, &assertion_claims(&issuer, user));
    let response = post(
        &issuer.token_endpoint(),
        None,
        &[
            ("grant_type", JWT_BEARER),
            ("assertion", &assertion),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let answer = expect(response, 200).await;
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 43199);
    let token = answer["access_token"].as_str().unwrap();
    assert!(!token.contains('.'));

    let answer = introspect(&issuer, RS, token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["sub"], user);
    assert_eq!(answer["client_id"], user);
    assert_eq!(answer["username"], format!("{user}@dev.localhost"));
    assert_eq!(answer["scope"], scope);
    assert_eq!(answer["aud"], json!([user, DEV_PROJECT_ID, "zitadel"]));
    assert_eq!(
        answer["exp"].as_u64().unwrap(),
        answer["iat"].as_u64().unwrap() + 43199
    );
    assert_eq!(
        answer[project_roles_claim()],
        json!({"reader": {DEV_ORG_ID: DEV_ORG_DOMAIN}})
    );

    // Without the project's :aud scope, the token is not for the resource server.
    let response = post(
        &issuer.token_endpoint(),
        None,
        &[
            ("grant_type", JWT_BEARER),
            ("assertion", &assertion),
            ("scope", "openid"),
        ],
    )
    .await;
    let token = expect(response, 200).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        introspect(&issuer, RS, &token).await,
        json!({"active": false})
    );

    // Bad assertions.
    let invalid_grant = json!({"error": "invalid_grant"});
    let good = assertion_claims(&issuer, user);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut claims = good.clone();
        edit(&mut claims);
        sign_rs256(&der, &account.key_id, &claims)
    };
    let other = DevKey::generate(DevAlgorithm::RS256)?;
    let now = now();
    let bad = [
        (
            "foreign key",
            sign_rs256(
                &pem_body(&other.rsa_private_key_pkcs1_pem().unwrap()),
                &account.key_id,
                &good,
            ),
        ),
        ("unknown kid", sign_rs256(&der, "999", &good)),
        ("sub != iss", with(&|c| c["sub"] = json!("other-user"))),
        (
            "wrong aud",
            with(&|c| c["aud"] = json!(["https://elsewhere.example"])),
        ),
        (
            "no exp",
            with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        ("expired", with(&|c| c["exp"] = json!(now - 5))),
        ("exp too far", with(&|c| c["exp"] = json!(now + 2 * 3600))),
        ("garbage", "x.y.z".to_owned()),
    ];
    for (case, assertion) in bad {
        let response = post(
            &issuer.token_endpoint(),
            None,
            &[("grant_type", JWT_BEARER), ("assertion", &assertion)],
        )
        .await;
        assert_eq!(expect(response, 400).await, invalid_grant, "{case}");
    }
    let response = post(
        &issuer.token_endpoint(),
        None,
        &[("grant_type", JWT_BEARER)],
    )
    .await;
    assert_eq!(
        expect(response, 400).await,
        json!({"error": "invalid_request"})
    );
    // A service account key is no API app key.
    let response = introspect_with_assertion(&issuer, &assertion, &token).await;
    assert_eq!(response.status(), 401);
    Ok(())
}

#[tokio::test]
async fn token_endpoint_refuses_bad_requests() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let url = issuer.token_endpoint();
    let response = post(&url, None, &[("grant_type", "password")]).await;
    assert_eq!(
        expect(response, 400).await,
        json!({"error": "unsupported_grant_type"})
    );
    let response = post(&url, None, &[("scope", "openid")]).await;
    assert_eq!(
        expect(response, 400).await,
        json!({"error": "invalid_request"})
    );
    let response = post(&url, None, &[("grant_type", "")]).await;
    assert_eq!(
        expect(response, 400).await,
        json!({"error": "invalid_request"})
    );
    let duplicated = "grant_type=client_credentials&grant_type=client_credentials".to_owned();
    let response = post_body(&url, None, duplicated).await;
    assert_eq!(
        expect(response, 400).await,
        json!({"error": "invalid_request"})
    );
    // A JSON body instead of a form.
    let response = reqwest::Client::new()
        .post(&url)
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await?;
    assert_eq!(
        expect(response, 400).await,
        json!({"error": "invalid_request"})
    );
    // No body at all.
    let response = reqwest::Client::new().post(&url).send().await?;
    assert_eq!(
        expect(response, 400).await,
        json!({"error": "invalid_request"})
    );
    // GET is not a token request.
    assert_eq!(reqwest::get(&url).await?.status(), 405);
    assert_eq!(issuer.token_requests(), 6);
    Ok(())
}

#[tokio::test]
async fn junk_input_never_breaks_the_server() -> TestResult {
    let issuer = issuer_with_resource_server().await;
    let endpoints = [
        issuer.token_endpoint(),
        issuer.introspection_endpoint(),
        issuer.revocation_endpoint(),
    ];
    let bodies = [
        "%ff%fe=%00".to_owned(),
        "=&&==&a".to_owned(),
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=%00.%00.%00"
            .to_owned(),
        format!(
            "client_assertion_type={}&client_assertion=eyJ.eyJ.sig&token=x",
            urlencode(ASSERTION_TYPE)
        ),
        format!(
            "client_assertion_type={}&client_assertion={}.e30.e30&token=x",
            urlencode(ASSERTION_TYPE),
            URL_SAFE_NO_PAD.encode(r#"{"kid":["not","a","string"]}"#)
        ),
        format!("token={}", "A".repeat(100_000)),
        "grant_type=client_credentials&scope=api%3A%2F%2F%2F.default".to_owned(),
    ];
    for url in &endpoints {
        for body in &bodies {
            for authorization in [None, Some("Basic"), Some("Basic Og=="), Some("Bearer x")] {
                let response = post_body(url, authorization, body.clone()).await;
                let status = response.status().as_u16();
                assert!(
                    [200, 400, 401].contains(&status),
                    "{url} {body:.60} → {status}"
                );
            }
        }
    }
    // Still serving.
    let token = issuer.opaque_token().issue();
    assert_eq!(introspect(&issuer, RS, &token).await["active"], true);
    Ok(())
}

#[tokio::test]
async fn revocation_endpoint() -> TestResult {
    let issuer = issuer_with_resource_server().await;
    let url = issuer.revocation_endpoint();
    let token = issuer.opaque_token().issue();

    let response = post(&url, None, &[("token", &token)]).await;
    assert_eq!(
        expect(response, 401).await,
        json!({"error": "unauthorized_client"})
    );
    let response = post(&url, Some(&basic("rs", "nope")), &[("token", &token)]).await;
    assert_eq!(response.status(), 401);
    assert_eq!(introspect(&issuer, RS, &token).await["active"], true);

    let response = post(
        &url,
        Some(&basic("rs", "secret")),
        &[("token", &token), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await?.is_empty());
    assert_eq!(
        introspect(&issuer, RS, &token).await,
        json!({"active": false})
    );
    // Unknown tokens are fine too (RFC 7009 §2.2).
    let response = post(&url, Some(&basic("rs", "secret")), &[("token", "unknown")]).await;
    assert_eq!(response.status(), 200);
    let response = post(&url, Some(&basic("rs", "secret")), &[]).await;
    assert_eq!(
        expect(response, 400).await,
        json!({"error": "invalid_request"})
    );

    // With private_key_jwt.
    let dir = TempDir::new();
    let app = issuer.write_api_key_file(&dir.join("app.json"))?;
    let (_, der) = read_key_file(&app.path);
    let assertion = sign_rs256(
        &der,
        &app.key_id,
        &assertion_claims(&issuer, &app.client_id),
    );
    let token = issuer.opaque_token().issue();
    let response = post(
        &url,
        None,
        &[
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
            ("token", &token),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        introspect(&issuer, RS, &token).await,
        json!({"active": false})
    );
    assert_eq!(issuer.revocation_requests(), 6);
    Ok(())
}

#[tokio::test]
async fn unavailable_issuer_answers_503_everywhere() -> TestResult {
    let issuer = issuer_with_resource_server().await;
    let token = issuer.opaque_token().issue();
    let auth = basic("rs", "secret");
    issuer.set_available(false);
    let unavailable = json!({"error": "temporarily_unavailable"});
    let response = post(
        &issuer.token_endpoint(),
        Some(&auth),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(expect(response, 503).await, unavailable);
    let response = post(
        &issuer.introspection_endpoint(),
        Some(&auth),
        &[("token", &token)],
    )
    .await;
    assert_eq!(expect(response, 503).await, unavailable);
    let response = post(
        &issuer.revocation_endpoint(),
        Some(&auth),
        &[("token", &token)],
    )
    .await;
    assert_eq!(expect(response, 503).await, unavailable);
    assert_eq!(reqwest::get(issuer.discovery_url()).await?.status(), 503);
    assert_eq!(
        (
            issuer.token_requests(),
            issuer.introspection_requests(),
            issuer.revocation_requests()
        ),
        (1, 1, 1)
    );

    issuer.set_available(true);
    assert_eq!(introspect(&issuer, RS, &token).await["active"], true);
    let response = post(
        &issuer.token_endpoint(),
        Some(&auth),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(response.status(), 200);
    Ok(())
}

#[tokio::test]
async fn response_delay_slows_every_endpoint() -> TestResult {
    let issuer = issuer_with_resource_server().await;
    let token = issuer.opaque_token().issue();
    let delay = Duration::from_millis(300);
    issuer.set_response_delay(Some(delay));

    let started = Instant::now();
    assert_eq!(introspect(&issuer, RS, &token).await["active"], true);
    assert!(started.elapsed() >= delay);
    let started = Instant::now();
    assert_eq!(reqwest::get(issuer.jwks_uri()).await?.status(), 200);
    assert!(started.elapsed() >= delay);
    let started = Instant::now();
    let response = post(
        &issuer.token_endpoint(),
        Some(&basic("rs", "secret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= delay);

    // A client with a shorter timeout gives up; the request was counted.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()?;
    let error = client
        .post(issuer.introspection_endpoint())
        .header(AUTHORIZATION, basic("rs", "secret"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("token", &token)]))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(issuer.introspection_requests(), 2);

    issuer.set_response_delay(None);
    let started = Instant::now();
    assert_eq!(introspect(&issuer, RS, &token).await["active"], true);
    assert!(started.elapsed() < delay);
    Ok(())
}

#[tokio::test]
async fn discovery_advertises_the_oauth_endpoints() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let doc: Value = reqwest::get(issuer.discovery_url()).await?.json().await?;
    assert_eq!(doc["token_endpoint"], issuer.token_endpoint());
    assert_eq!(
        doc["introspection_endpoint"],
        issuer.introspection_endpoint()
    );
    assert_eq!(doc["revocation_endpoint"], issuer.revocation_endpoint());
    Ok(())
}

#[tokio::test]
async fn debug_output_hides_secrets() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let client = DevClient::new("visible-id", "hidden-secret").app_roles(["r"]);
    let debug = format!("{client:?}");
    assert!(
        debug.contains("visible-id") && !debug.contains("hidden-secret"),
        "{debug}"
    );
    issuer.add_client(client);
    let debug = format!("{issuer:?}");
    assert!(!debug.contains("hidden-secret"), "{debug}");
    let builder: OpaqueTokenBuilder = issuer.opaque_token().subject("zed");
    let debug = format!("{builder:?}");
    assert!(debug.contains("zed"), "{debug}");
    Ok(())
}

#[test]
fn new_public_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DevClient>();
    assert_send_sync::<DevApiApp>();
    assert_send_sync::<DevServiceAccount>();
    assert_send_sync::<OpaqueTokenBuilder>();
}
