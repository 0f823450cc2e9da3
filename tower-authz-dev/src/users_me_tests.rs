//! Tests of `GET /auth/v1/users/me` (ZITADEL's `GetMyUser`) over real HTTP on
//! 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::{Value, json};

use super::oauth_tests::{
    JWT_BEARER, RS, TempDir, assertion_claims, expect, introspect, issuer_with_resource_server,
    now, post, read_key_file, sign_rs256,
};
use super::users_me::SelfVerifier;
use super::{DEV_ORG_ID, DEV_PROJECT_ID, DevAlgorithm, DevIssuer, DevKey};
use tower_authz::Verifier;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const ZITADEL_AUD_SCOPE: &str = "urn:zitadel:iam:org:project:id:zitadel:aud";

/// `GET /auth/v1/users/me`, with `Authorization: Bearer token` if given.
async fn users_me(issuer: &DevIssuer, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(issuer.users_me_url());
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    request.send().await.expect("HTTP request failed")
}

/// Asserts a `401` with an RFC 6750 `invalid_token` challenge.
async fn assert_invalid_token(issuer: &DevIssuer, token: &str, case: &str) {
    let response = users_me(issuer, Some(token)).await;
    assert_eq!(response.status(), 401, "{case}");
    let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{case}: {challenge}"
    );
}

/// Asserts that `date` is an RFC 3339 UTC timestamp `YYYY-MM-DDTHH:MM:SSZ`
/// within `from..=to` (Unix seconds).
fn assert_date_within(date: &Value, from: u64, to: u64) {
    let date = date.as_str().unwrap();
    assert!(
        (from..=to).any(|t| super::users_me::rfc3339(t) == date),
        "{date} not within {from}..={to}"
    );
    let bytes = date.as_bytes();
    assert_eq!(bytes.len(), 20, "{date}");
    for (index, byte) in bytes.iter().enumerate() {
        match index {
            4 | 7 => assert_eq!(*byte, b'-', "{date}"),
            10 => assert_eq!(*byte, b'T', "{date}"),
            13 | 16 => assert_eq!(*byte, b':', "{date}"),
            19 => assert_eq!(*byte, b'Z', "{date}"),
            _ => assert!(byte.is_ascii_digit(), "{date}"),
        }
    }
}

/// Obtains a jwt-bearer token for the service account of a new key file.
async fn jwt_bearer_token(issuer: &DevIssuer, dir: &TempDir, user: &str, scope: &str) -> String {
    let path = dir.join(&format!("{user}.json"));
    let account = issuer.write_service_account_key_file(&path, user).unwrap();
    let (_, der) = read_key_file(&path);
    let assertion = sign_rs256(&der, &account.key_id, &assertion_claims(issuer, user));
    let response = post(
        &issuer.token_endpoint(),
        None,
        &[
            ("grant_type", JWT_BEARER),
            ("assertion", &assertion),
            ("scope", scope),
        ],
    )
    .await;
    expect(response, 200).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn personal_access_token_gets_my_user() -> TestResult {
    let issuer = DevIssuer::start().await?;
    assert_eq!(
        issuer.users_me_url(),
        format!("{}/auth/v1/users/me", issuer.issuer())
    );
    let before = now();
    issuer.add_machine_user("machine-1", "Build Robot");
    let pat = issuer.personal_access_token("machine-1");
    let after = now();

    let response = users_me(&issuer, Some(&pat)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()[http::header::CONTENT_TYPE],
        "application/json"
    );
    let answer: Value = response.json().await?;
    let user = &answer["user"];
    assert_eq!(user["id"], "machine-1");
    let details = &user["details"];
    assert_eq!(details["sequence"], "42");
    assert_date_within(&details["creationDate"], before, after);
    assert_date_within(&details["changeDate"], before, after);
    assert_eq!(details["resourceOwner"], DEV_ORG_ID);
    assert_eq!(details.as_object().unwrap().len(), 4);
    assert_eq!(user["state"], "USER_STATE_ACTIVE");
    assert_eq!(user["userName"], "machine-1");
    assert_eq!(user["loginNames"], json!(["machine-1@dev.localhost"]));
    assert_eq!(user["preferredLoginName"], "machine-1@dev.localhost");
    assert_eq!(
        user["machine"],
        json!({
            "name": "Build Robot",
            "description": "development machine user",
            "accessTokenType": "ACCESS_TOKEN_TYPE_BEARER",
        })
    );
    assert_eq!(user.as_object().unwrap().len(), 7);
    // The PAT was issued within the window: its `iat` is the last login.
    assert_date_within(&answer["lastLogin"], before, after);
    assert_eq!(answer.as_object().unwrap().len(), 2);

    // Renaming changes the name, not the creation date.
    issuer.add_machine_user("machine-1", "Deploy Robot");
    let answer: Value = users_me(&issuer, Some(&pat)).await.json().await?;
    assert_eq!(answer["user"]["machine"]["name"], "Deploy Robot");
    assert_eq!(answer["user"]["userName"], "machine-1");
    assert_date_within(&answer["user"]["details"]["creationDate"], before, after);
    assert_date_within(&answer["user"]["details"]["changeDate"], before, now());

    // A PAT of a machine user named after its id.
    let pat = issuer.personal_access_token("4711");
    let answer: Value = users_me(&issuer, Some(&pat)).await.json().await?;
    assert_eq!(answer["user"]["id"], "4711");
    assert_eq!(answer["user"]["machine"]["name"], "4711");
    Ok(())
}

#[tokio::test]
async fn jwt_bearer_token_needs_the_zitadel_audience() -> TestResult {
    let issuer = issuer_with_resource_server().await;
    let dir = TempDir::new();
    let user = "287364512398712345";
    let token = jwt_bearer_token(&issuer, &dir, user, &format!("openid {ZITADEL_AUD_SCOPE}")).await;
    // Registered as a machine user when the key file was written.
    assert_eq!(issuer.machine_user_name(user).as_deref(), Some(user));

    let answer = expect(users_me(&issuer, Some(&token)).await, 200).await;
    assert_eq!(answer["user"]["id"], user);
    assert_eq!(answer["user"]["userName"], user);
    assert_eq!(answer["user"]["machine"]["name"], user);
    assert_eq!(
        answer["user"]["preferredLoginName"],
        format!("{user}@dev.localhost")
    );
    // Only the ZITADEL API accepts it: it is not for the project's apps.
    assert_eq!(
        introspect(&issuer, RS, &token).await,
        json!({"active": false})
    );

    // Without the `zitadel` audience the token is not for ZITADEL's API.
    let token = jwt_bearer_token(&issuer, &dir, user, "openid").await;
    assert_invalid_token(&issuer, &token, "jwt-bearer without :aud").await;
    // The project's audience is accepted, as by the project's apps.
    let token = jwt_bearer_token(
        &issuer,
        &dir,
        user,
        &format!("openid urn:zitadel:iam:org:project:id:{DEV_PROJECT_ID}:aud"),
    )
    .await;
    assert_eq!(users_me(&issuer, Some(&token)).await.status(), 200);
    Ok(())
}

#[tokio::test]
async fn missing_bad_and_revoked_tokens_are_refused() -> TestResult {
    let issuer = DevIssuer::start().await?;

    let response = users_me(&issuer, None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");

    let pat = issuer.personal_access_token("machine-2");
    assert_eq!(users_me(&issuer, Some(&pat)).await.status(), 200);
    assert!(issuer.revoke(&pat));
    assert_invalid_token(&issuer, &pat, "revoked PAT").await;

    // JWTs of this issuer: by audience; revoked and foreign ones are refused.
    let zitadel_jwt = issuer.token().subject("machine-2").audience("zitadel");
    assert_eq!(
        users_me(&issuer, Some(&zitadel_jwt.sign()?)).await.status(),
        200
    );
    let project_jwt = issuer.token().audiences(["dev-api", DEV_PROJECT_ID]);
    let answer = expect(users_me(&issuer, Some(&project_jwt.sign()?)).await, 200).await;
    assert_eq!(answer["user"]["id"], "dev-user");
    let revoked = issuer.token().audience("zitadel").sign()?;
    assert!(issuer.revoke(&revoked));
    let foreign_key = DevKey::generate(DevAlgorithm::RS256)?;
    let cases = [
        ("revoked JWT", revoked),
        ("JWT for dev-api", issuer.token().sign()?),
        (
            "expired JWT",
            issuer.token().audience("zitadel").expired().sign()?,
        ),
        (
            "foreign JWT",
            issuer
                .token()
                .audience("zitadel")
                .signed_with(&foreign_key)
                .sign()?,
        ),
        (
            "opaque token for dev-api only",
            issuer.opaque_token().audiences(["dev-api"]).issue(),
        ),
        (
            "expired opaque token",
            issuer.opaque_token().expired().issue(),
        ),
        ("unknown token", "no-such-token".to_owned()),
        ("garbage JWT", "a.b.c".to_owned()),
    ];
    for (case, token) in cases {
        assert_invalid_token(&issuer, &token, case).await;
    }
    // The default opaque token carries the project's audience.
    let opaque = issuer.opaque_token().subject("machine-3").issue();
    assert_eq!(users_me(&issuer, Some(&opaque)).await.status(), 200);
    Ok(())
}

#[tokio::test]
async fn unavailable_issuer_answers_503() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let pat = issuer.personal_access_token("machine-4");
    issuer.set_available(false);
    let unavailable = json!({"error": "temporarily_unavailable"});
    assert_eq!(
        expect(users_me(&issuer, Some(&pat)).await, 503).await,
        unavailable
    );
    // Before the token is looked at.
    assert_eq!(
        expect(users_me(&issuer, None).await, 503).await,
        unavailable
    );
    issuer.set_available(true);
    assert_eq!(users_me(&issuer, Some(&pat)).await.status(), 200);
    Ok(())
}

#[tokio::test]
async fn self_verifier_never_panics() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let verifier = SelfVerifier {
        shared: Arc::clone(&issuer.shared),
    };
    let pat = issuer.personal_access_token("machine-5");
    issuer.set_user_roles("machine-5", ["reader"]);
    let claims = verifier.verify(&pat).await?;
    assert_eq!(claims.subject(), Some("machine-5"));
    assert!(claims.has_role("reader"));
    assert!(claims.has_audience("zitadel"));
    assert!(claims.has_audience(DEV_PROJECT_ID));
    let long = "x".repeat(100_000);
    for junk in [
        "",
        ".",
        "..",
        "a.b.c",
        "\u{0}\u{ffff}",
        "eyJhbGciOiJub25lIn0.e30.",
        &long,
    ] {
        let error = verifier.verify(junk).await.unwrap_err();
        assert_eq!(
            error.kind(),
            tower_authz::AuthErrorKind::InvalidToken,
            "{junk:?}"
        );
    }
    Ok(())
}
