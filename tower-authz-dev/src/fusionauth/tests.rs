//! Tests of the FusionAuth face over real HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, SameSite};
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, CONTENT_TYPE,
    COOKIE, LOCATION, ORIGIN, SET_COOKIE, VARY,
};
use serde_json::{Value, json};

use super::{
    FUSIONAUTH_APP_ID, FUSIONAUTH_DEV_USER, FUSIONAUTH_HMAC_KEY_ID, FUSIONAUTH_TENANT_ID,
    FusionAuthApp,
};
use crate::{DevAlgorithm, DevIssuer};
use tower_authz::{AuthErrorKind, JwksVerifier, JwtVerifier, Verifier};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const PAGES: &str = "http://127.0.0.1:3000";
const PROFILE: &str = "http://127.0.0.1:3000/profile.html";
const SECRET: &str = "a-development-hmac-secret-of-32+-bytes";
const HOUR: i64 = 3600;

/// A client that neither follows redirects nor keeps cookies.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn issuer_with(app: FusionAuthApp) -> DevIssuer {
    let issuer = DevIssuer::start().await.unwrap();
    issuer.add_fusionauth_app(app);
    issuer
}

fn b64_json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The (header, claims) of a compact JWS, unverified.
fn decode(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    (b64_json(parts[0]), b64_json(parts[1]))
}

fn now() -> i64 {
    i64::try_from(super::unix_now()).unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// The `Set-Cookie`s of a response, by name.
fn set_cookies(response: &reqwest::Response) -> Vec<Cookie<'static>> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| Cookie::parse(value.to_str().unwrap().to_owned()).unwrap())
        .collect()
}

fn find<'a>(cookies: &'a [Cookie<'static>], name: &str) -> Option<&'a Cookie<'static>> {
    cookies.iter().find(|cookie| cookie.name() == name)
}

fn value(cookies: &[Cookie<'static>], name: &str) -> String {
    find(cookies, name)
        .unwrap_or_else(|| panic!("no cookie {name}"))
        .value()
        .to_owned()
}

/// Asserts FusionAuth's attributes over plain http: `Path=/`, `SameSite=Lax`,
/// no `Domain`, no `Secure`.
fn assert_attributes(cookie: &Cookie<'_>, http_only: bool, max_age: i64) {
    let name = cookie.name();
    assert_eq!(cookie.path(), Some("/"), "{name}");
    assert_eq!(cookie.same_site(), Some(SameSite::Lax), "{name}");
    assert_eq!(cookie.domain(), None, "{name}");
    assert_ne!(cookie.secure(), Some(true), "{name}");
    assert_eq!(cookie.http_only() == Some(true), http_only, "{name}");
    assert_eq!(
        cookie.max_age().map(|age| age.whole_seconds()),
        Some(max_age),
        "{name}"
    );
}

async fn api_login(issuer: &DevIssuer, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/api/login", issuer.issuer()))
        .header(AUTHORIZATION, "an-api-key-that-is-ignored")
        .json(body)
        .send()
        .await
        .unwrap()
}

fn login_body(login_id: &str, password: &str, application_id: &str) -> Value {
    json!({"loginId": login_id, "password": password, "applicationId": application_id})
}

fn login_page_url(issuer: &DevIssuer, client_id: &str, query: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    format!("{}/app/login/{client_id}?{query}", issuer.issuer())
}

/// Posts the login form; returns the response (`302` to the callback on success).
async fn submit_login(
    issuer: &DevIssuer,
    client_id: &str,
    (login_id, password): (&str, &str),
    hidden: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("loginId", login_id), ("password", password)];
    form.extend_from_slice(hidden);
    client()
        .post(format!("{}/app/login/{client_id}", issuer.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Logs the development user in through the hosted backend with `scope`
/// and follows the callback; returns the callback's response.
async fn hosted_login(issuer: &DevIssuer, client_id: &str, scope: &str) -> reqwest::Response {
    let hidden = [
        ("redirect_uri", PROFILE),
        ("state", "demo"),
        ("scope", scope),
    ];
    let response = submit_login(issuer, client_id, FUSIONAUTH_DEV_USER, &hidden).await;
    assert_eq!(response.status(), 302);
    client().get(location(&response)).send().await.unwrap()
}

async fn with_cookies(
    request: reqwest::RequestBuilder,
    cookies: &[(&str, &str)],
) -> reqwest::Response {
    let header: Vec<String> = cookies
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    request
        .header(COOKIE, header.join("; "))
        .send()
        .await
        .unwrap()
}

async fn refresh(
    issuer: &DevIssuer,
    client_id: &str,
    cookies: &[(&str, &str)],
) -> reqwest::Response {
    let url = format!("{}/app/refresh/{client_id}", issuer.issuer());
    with_cookies(client().post(url), cookies).await
}

async fn me(issuer: &DevIssuer, cookies: &[(&str, &str)]) -> reqwest::Response {
    with_cookies(client().get(format!("{}/app/me", issuer.issuer())), cookies).await
}

/// A verifier of the app's RS256 tokens through `/.well-known/jwks.json`.
fn jwks_verifier(issuer: &DevIssuer, app_id: &str) -> JwksVerifier {
    let jwks_uri = format!("{}/.well-known/jwks.json", issuer.issuer());
    JwksVerifier::new(issuer.issuer(), &jwks_uri, app_id).unwrap()
}

/// A verifier of HS256 tokens: the secret as an `oct` JWK with the `kid`
/// the tokens carry.
fn hmac_jwk_verifier(issuer: &DevIssuer, app_id: &str, secret: &str) -> JwtVerifier {
    let jwk = json!({
        "kty": "oct",
        "kid": FUSIONAUTH_HMAC_KEY_ID,
        "k": URL_SAFE_NO_PAD.encode(secret),
    });
    JwtVerifier::new(issuer.issuer(), app_id)
        .with_jwk(&jwk.to_string())
        .unwrap()
}

#[tokio::test]
async fn api_login_answers_a_fusionauth_token() -> TestResult {
    let issuer = issuer_with(FusionAuthApp::new(FUSIONAUTH_APP_ID)).await;
    let (login_id, password) = FUSIONAUTH_DEV_USER;
    let response = api_login(&issuer, &login_body(login_id, password, FUSIONAUTH_APP_ID)).await;
    assert_eq!(response.status(), 200);
    let answer = json_of(response).await;
    let token = answer["token"].as_str().unwrap();
    let (header, claims) = decode(token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], issuer.current_key(DevAlgorithm::RS256).kid());

    let user_id = answer["user"]["id"].as_str().unwrap();
    assert_eq!(user_id.len(), 36, "a UUID: {user_id}");
    assert_eq!(claims["aud"], FUSIONAUTH_APP_ID);
    assert_eq!(claims["applicationId"], FUSIONAUTH_APP_ID);
    assert_eq!(claims["iss"], issuer.issuer());
    assert_eq!(claims["sub"], user_id);
    assert_eq!(claims["roles"], json!(["user"]));
    assert_eq!(claims["tid"], FUSIONAUTH_TENANT_ID);
    assert_eq!(claims["gty"], json!(["password"]));
    assert_eq!(claims["authenticationType"], "PASSWORD");
    assert_eq!(claims["email"], login_id);
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["preferred_username"], "richard");
    assert_eq!(claims["sid"].as_str().unwrap().len(), 36);
    assert!(claims["jti"].is_string());
    assert_eq!(claims["auth_time"], claims["iat"]);
    let exp = claims["exp"].as_i64().unwrap();
    assert!((exp - now() - HOUR).abs() <= 2, "exp {exp}");
    assert_eq!(answer["tokenExpirationInstant"], json!(exp * 1000));
    assert_eq!(
        answer["user"],
        json!({
            "id": user_id,
            "email": login_id,
            "username": "richard",
            "active": true,
            "verified": true,
            "tenantId": FUSIONAUTH_TENANT_ID,
            "registrations": [{
                "applicationId": FUSIONAUTH_APP_ID,
                "roles": ["user"],
                "username": "richard",
                "verified": true,
            }],
        })
    );

    // The JWKS under FusionAuth's path verifies it; the user id is stable.
    let verified = jwks_verifier(&issuer, FUSIONAUTH_APP_ID)
        .verify(token)
        .await?;
    assert_eq!(verified.subject(), Some(user_id));
    let again = DevIssuer::start().await?;
    again.add_fusionauth_app(FusionAuthApp::new("another-app"));
    let other = api_login(
        &again,
        &login_body(&login_id.to_uppercase(), password, "another-app"),
    )
    .await;
    assert_eq!(json_of(other).await["user"]["id"], user_id);
    Ok(())
}

#[tokio::test]
async fn api_login_refusals() -> TestResult {
    let app = FusionAuthApp::new(FUSIONAUTH_APP_ID).user("admin@example.com", "s3cret", ["admin"]);
    let issuer = issuer_with(app).await;
    let (login_id, password) = FUSIONAUTH_DEV_USER;

    for (login_id, password) in [
        (login_id, "wrong"),
        ("nobody@example.com", password),
        ("admin@example.com", password),
    ] {
        let response = api_login(&issuer, &login_body(login_id, password, FUSIONAUTH_APP_ID)).await;
        assert_eq!(response.status(), 404, "{login_id}/{password}");
        assert!(response.bytes().await?.is_empty());
    }
    let admin = api_login(
        &issuer,
        &login_body("admin@example.com", "s3cret", FUSIONAUTH_APP_ID),
    )
    .await;
    let (_, claims) = decode(json_of(admin).await["token"].as_str().unwrap());
    assert_eq!(claims["roles"], json!(["admin"]));

    let unknown = api_login(&issuer, &login_body(login_id, password, "no-such-app")).await;
    assert_eq!(unknown.status(), 400);
    assert_eq!(
        json_of(unknown).await["fieldErrors"]["applicationId"][0]["code"],
        "[invalid]applicationId"
    );
    let missing = api_login(&issuer, &json!({"loginId": login_id, "password": password})).await;
    assert_eq!(missing.status(), 400);
    assert_eq!(
        json_of(missing).await["fieldErrors"]["applicationId"][0]["code"],
        "[blank]applicationId"
    );
    let malformed = client()
        .post(format!("{}/api/login", issuer.issuer()))
        .header(CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        json_of(malformed).await["generalErrors"][0]["code"],
        "[invalidJSON]"
    );

    issuer.set_available(false);
    let down = api_login(&issuer, &login_body(login_id, password, FUSIONAUTH_APP_ID)).await;
    assert_eq!(down.status(), 503);
    Ok(())
}

#[tokio::test]
async fn hosted_backend_login_refresh_and_logout() -> TestResult {
    let app = FusionAuthApp::new(FUSIONAUTH_APP_ID).allowed_origin(PAGES);
    let issuer = issuer_with(app).await;
    let (login_id, password) = FUSIONAUTH_DEV_USER;

    // The login form keeps redirect_uri, state and scope.
    let url = login_page_url(
        &issuer,
        FUSIONAUTH_APP_ID,
        &[
            ("redirect_uri", PROFILE),
            ("state", "demo\"<x>"),
            ("scope", "openid offline_access"),
        ],
    );
    let page = client().get(url).send().await?;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()[CONTENT_TYPE]
            .to_str()?
            .starts_with("text/html")
    );
    let html = page.text().await?;
    for needle in [
        r#"id="loginId" name="loginId""#,
        r#"id="password" name="password""#,
        r#"id="submit""#,
        &format!(
            r#"action="/app/login/{}""#,
            FUSIONAUTH_APP_ID.replace('-', "%2D")
        ),
        &format!(r#"name="redirect_uri" value="{PROFILE}""#),
        r#"name="state" value="demo&quot;&lt;x&gt;""#,
        r#"name="scope" value="openid offline_access""#,
    ] {
        assert!(html.contains(needle), "{needle} not in {html}");
    }
    assert!(!html.contains(r#"id="error""#));

    // A wrong password shows the form again, with an error.
    let hidden = [("redirect_uri", PROFILE), ("state", "demo"), ("scope", "")];
    let wrong = submit_login(&issuer, FUSIONAUTH_APP_ID, (login_id, "wrong"), &hidden).await;
    assert_eq!(wrong.status(), 200);
    let html = wrong.text().await?;
    assert!(html.contains(r#"id="error""#), "{html}");
    assert!(html.contains(&format!(r#"value="{login_id}""#)), "{html}");

    // The right one goes to the callback with a code and the state.
    let ok = submit_login(&issuer, FUSIONAUTH_APP_ID, (login_id, password), &hidden).await;
    assert_eq!(ok.status(), 302);
    let callback_url = location(&ok);
    let prefix = format!("{}/app/callback?code=", issuer.issuer());
    assert!(callback_url.starts_with(&prefix), "{callback_url}");
    assert!(callback_url.ends_with("&state=demo"), "{callback_url}");

    // The callback sets the four cookies and goes back to redirect_uri.
    let callback = client().get(&callback_url).send().await?;
    assert_eq!(callback.status(), 302);
    assert_eq!(location(&callback), format!("{PROFILE}?state=demo"));
    let cookies = set_cookies(&callback);
    assert_eq!(cookies.len(), 4, "{cookies:?}");
    assert_attributes(find(&cookies, "app.at").unwrap(), true, HOUR);
    assert_attributes(find(&cookies, "app.at_exp").unwrap(), false, HOUR);
    assert_attributes(find(&cookies, "app.idt").unwrap(), false, HOUR);
    assert_attributes(find(&cookies, "app.rt").unwrap(), true, 30 * 24 * HOUR);

    let access_token = value(&cookies, "app.at");
    let (_, access) = decode(&access_token);
    assert_eq!(access["gty"], json!(["authorization_code"]));
    assert_eq!(access["scope"], "openid offline_access");
    assert_eq!(access["roles"], json!(["user"]));
    assert_eq!(value(&cookies, "app.at_exp"), access["exp"].to_string());
    let (_, id) = decode(&value(&cookies, "app.idt"));
    for name in ["aud", "iss", "sub", "sid", "auth_time", "email"] {
        assert_eq!(id[name], access[name], "{name}");
    }
    assert_eq!(id["email_verified"], true);
    assert!(id["at_hash"].is_string());
    assert!(id.get("applicationId").is_none() && id.get("roles").is_none());
    jwks_verifier(&issuer, FUSIONAUTH_APP_ID)
        .verify(&access_token)
        .await?;

    // /app/me reads app.at, and refuses the ID token in its place.
    let info = me(&issuer, &[("app.at", &access_token)]).await;
    assert_eq!(info.status(), 200);
    let info = json_of(info).await;
    assert_eq!(info["sub"], access["sub"]);
    assert_eq!(info["email"], login_id);
    assert_eq!(info["roles"], json!(["user"]));
    assert_eq!(me(&issuer, &[]).await.status(), 401);
    assert_eq!(
        me(&issuer, &[("app.at", &value(&cookies, "app.idt"))])
            .await
            .status(),
        401
    );

    // The refresh token gives new access and ID tokens of the same session.
    let rt = value(&cookies, "app.rt");
    let refreshed = refresh(&issuer, FUSIONAUTH_APP_ID, &[("app.rt", &rt)]).await;
    assert_eq!(refreshed.status(), 200);
    let new_cookies = set_cookies(&refreshed);
    assert_eq!(json_of(refreshed).await, json!({}));
    assert_attributes(find(&new_cookies, "app.at").unwrap(), true, HOUR);
    assert_attributes(find(&new_cookies, "app.at_exp").unwrap(), false, HOUR);
    assert_attributes(find(&new_cookies, "app.idt").unwrap(), false, HOUR);
    let (_, renewed) = decode(&value(&new_cookies, "app.at"));
    assert_ne!(renewed["jti"], access["jti"]);
    assert_eq!(renewed["sid"], access["sid"]);
    assert_eq!(renewed["auth_time"], access["auth_time"]);
    assert_eq!(
        renewed["gty"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        me(&issuer, &[("app.at", &value(&new_cookies, "app.at"))])
            .await
            .status(),
        200
    );

    // Refresh refusals: no cookie, a made-up token, an unknown client.
    assert_eq!(refresh(&issuer, FUSIONAUTH_APP_ID, &[]).await.status(), 400);
    assert_eq!(
        refresh(&issuer, FUSIONAUTH_APP_ID, &[("app.rt", "made-up")])
            .await
            .status(),
        400
    );
    assert_eq!(
        refresh(&issuer, "no-such-app", &[("app.rt", &rt)])
            .await
            .status(),
        404
    );

    // Logout revokes the refresh token and deletes the cookies.
    let logout_url = format!(
        "{}/app/logout/{FUSIONAUTH_APP_ID}?post_logout_redirect_uri={}",
        issuer.issuer(),
        form_urlencoded::byte_serialize(format!("{PAGES}/index.html").as_bytes())
            .collect::<String>()
    );
    let logout = with_cookies(
        client().get(logout_url),
        &[("app.rt", &rt), ("app.at", &access_token)],
    )
    .await;
    assert_eq!(logout.status(), 302);
    assert_eq!(location(&logout), format!("{PAGES}/index.html"));
    let cleared = set_cookies(&logout);
    assert_eq!(cleared.len(), 4, "{cleared:?}");
    for (name, http_only) in [
        ("app.at", true),
        ("app.at_exp", false),
        ("app.idt", false),
        ("app.rt", true),
    ] {
        let cookie = find(&cleared, name).unwrap();
        assert_eq!(cookie.value(), "", "{name}");
        assert_attributes(cookie, http_only, 0);
    }
    assert_eq!(
        refresh(&issuer, FUSIONAUTH_APP_ID, &[("app.rt", &rt)])
            .await
            .status(),
        400
    );

    // Without post_logout_redirect_uri: the first allowed origin.
    let logout = client()
        .get(format!(
            "{}/app/logout/{FUSIONAUTH_APP_ID}",
            issuer.issuer()
        ))
        .send()
        .await?;
    assert_eq!(logout.status(), 302);
    assert_eq!(location(&logout), PAGES);
    Ok(())
}

#[tokio::test]
async fn scopes_decide_the_id_and_refresh_tokens() -> TestResult {
    let issuer = issuer_with(FusionAuthApp::new(FUSIONAUTH_APP_ID)).await;
    let only_openid = set_cookies(&hosted_login(&issuer, FUSIONAUTH_APP_ID, "openid").await);
    assert!(find(&only_openid, "app.idt").is_some());
    assert!(find(&only_openid, "app.rt").is_none());
    let only_offline =
        set_cookies(&hosted_login(&issuer, FUSIONAUTH_APP_ID, "offline_access").await);
    assert!(find(&only_offline, "app.idt").is_none());
    assert!(find(&only_offline, "app.rt").is_some());
    let (_, claims) = decode(&value(&only_offline, "app.at"));
    assert_eq!(claims["scope"], "offline_access");

    // A refresh without openid sets no ID token either.
    let rt = value(&only_offline, "app.rt");
    let refreshed = set_cookies(&refresh(&issuer, FUSIONAUTH_APP_ID, &[("app.rt", &rt)]).await);
    assert!(find(&refreshed, "app.at").is_some());
    assert!(find(&refreshed, "app.idt").is_none());
    // A refresh token is bound to its application.
    issuer.add_fusionauth_app(FusionAuthApp::new("other-app"));
    assert_eq!(
        refresh(&issuer, "other-app", &[("app.rt", &rt)])
            .await
            .status(),
        400
    );
    Ok(())
}

#[tokio::test]
async fn codes_are_single_use_and_bound_to_the_state() -> TestResult {
    let issuer = issuer_with(FusionAuthApp::new(FUSIONAUTH_APP_ID)).await;
    let hidden = [("redirect_uri", PROFILE), ("state", "s1"), ("scope", "")];
    let login = submit_login(&issuer, FUSIONAUTH_APP_ID, FUSIONAUTH_DEV_USER, &hidden).await;
    let callback_url = location(&login);
    let first = client().get(&callback_url).send().await?;
    assert_eq!(first.status(), 302);
    assert_eq!(set_cookies(&first).len(), 4);
    let second = client().get(&callback_url).send().await?;
    assert_eq!(second.status(), 400);
    assert!(set_cookies(&second).is_empty());

    // Another state than the login's: refused (and the code is spent).
    let login = submit_login(&issuer, FUSIONAUTH_APP_ID, FUSIONAUTH_DEV_USER, &hidden).await;
    let forged = location(&login).replace("state=s1", "state=s2");
    assert_eq!(client().get(&forged).send().await?.status(), 400);
    let genuine = location(&login);
    assert_eq!(client().get(&genuine).send().await?.status(), 400);

    // No code, a made-up code.
    let callback = format!("{}/app/callback", issuer.issuer());
    assert_eq!(client().get(&callback).send().await?.status(), 400);
    let made_up = format!("{callback}?code=made-up&state=s1");
    assert_eq!(client().get(&made_up).send().await?.status(), 400);
    Ok(())
}

#[tokio::test]
async fn redirects_only_to_loopback() -> TestResult {
    let issuer = issuer_with(FusionAuthApp::new(FUSIONAUTH_APP_ID)).await;
    for redirect_uri in [
        "https://evil.example/profile.html",
        "http://127.0.0.1.evil.example/",
        "/profile.html",
    ] {
        let url = login_page_url(
            &issuer,
            FUSIONAUTH_APP_ID,
            &[("redirect_uri", redirect_uri)],
        );
        assert_eq!(
            client().get(url).send().await?.status(),
            400,
            "{redirect_uri}"
        );
        let hidden = [("redirect_uri", redirect_uri)];
        let login = submit_login(&issuer, FUSIONAUTH_APP_ID, FUSIONAUTH_DEV_USER, &hidden).await;
        assert_eq!(login.status(), 400, "{redirect_uri}");
        let logout_url = format!(
            "{}/app/logout/{FUSIONAUTH_APP_ID}?post_logout_redirect_uri={}",
            issuer.issuer(),
            form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect::<String>()
        );
        let logout = client().get(logout_url).send().await?;
        assert_eq!(logout.status(), 400, "{redirect_uri}");
        assert!(set_cookies(&logout).is_empty());
    }
    let url = login_page_url(&issuer, FUSIONAUTH_APP_ID, &[]);
    assert_eq!(
        client().get(url).send().await?.status(),
        400,
        "no redirect_uri"
    );
    let url = login_page_url(&issuer, "no-such-app", &[("redirect_uri", PROFILE)]);
    assert_eq!(client().get(url).send().await?.status(), 404);
    let url = format!("{}/app/logout/no-such-app", issuer.issuer());
    assert_eq!(client().get(url).send().await?.status(), 404);
    // Without an allowed origin, logout goes to "/".
    let url = format!("{}/app/logout/{FUSIONAUTH_APP_ID}", issuer.issuer());
    assert_eq!(location(&client().get(url).send().await?), "/");
    Ok(())
}

#[tokio::test]
async fn hs256_tokens_are_not_in_the_jwks() -> TestResult {
    let app = FusionAuthApp::new(FUSIONAUTH_APP_ID).hmac_secret(SECRET);
    let issuer = issuer_with(app).await;
    let (login_id, password) = FUSIONAUTH_DEV_USER;
    let answer =
        json_of(api_login(&issuer, &login_body(login_id, password, FUSIONAUTH_APP_ID)).await).await;
    let token = answer["token"].as_str().unwrap();
    let (header, _) = decode(token);
    assert_eq!(
        header,
        json!({"alg": "HS256", "typ": "JWT", "kid": FUSIONAUTH_HMAC_KEY_ID})
    );

    // The JWKS (both paths) publishes no HMAC key.
    for path in ["/.well-known/jwks.json", "/oauth/v2/keys"] {
        let jwks: Value = reqwest::get(format!("{}{path}", issuer.issuer()))
            .await?
            .json()
            .await?;
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 3);
        assert!(
            keys.iter()
                .all(|key| key["kty"] != "oct" && key["kid"] != FUSIONAUTH_HMAC_KEY_ID)
        );
    }
    let claims = hmac_jwk_verifier(&issuer, FUSIONAUTH_APP_ID, SECRET)
        .verify(token)
        .await?;
    assert_eq!(claims.get("applicationId"), Some(&json!(FUSIONAUTH_APP_ID)));
    let refused = jwks_verifier(&issuer, FUSIONAUTH_APP_ID)
        .verify(token)
        .await;
    assert!(refused.is_err());
    let wrong_secret = hmac_jwk_verifier(
        &issuer,
        FUSIONAUTH_APP_ID,
        "another-secret-of-at-least-32-bytes!",
    );
    assert!(wrong_secret.verify(token).await.is_err());

    // The hosted backend signs its cookies' tokens the same way, and /app/me
    // verifies them with the secret.
    let cookies =
        set_cookies(&hosted_login(&issuer, FUSIONAUTH_APP_ID, "openid offline_access").await);
    for name in ["app.at", "app.idt"] {
        let (header, _) = decode(&value(&cookies, name));
        assert_eq!(header["alg"], "HS256", "{name}");
        assert_eq!(header["kid"], FUSIONAUTH_HMAC_KEY_ID, "{name}");
    }
    let access_token = value(&cookies, "app.at");
    hmac_jwk_verifier(&issuer, FUSIONAUTH_APP_ID, SECRET)
        .verify(&access_token)
        .await?;
    assert_eq!(
        me(&issuer, &[("app.at", &access_token)]).await.status(),
        200
    );
    Ok(())
}

/// The `fusionauth_api` example verifies HS256 tokens with
/// `JwtVerifier::with_hmac_secret`, a key without `kid`, while FusionAuth
/// (and this issuer) name their HMAC keys in the header.
#[tokio::test]
async fn hs256_tokens_verify_with_a_plain_hmac_secret() -> TestResult {
    let app = FusionAuthApp::new(FUSIONAUTH_APP_ID).hmac_secret(SECRET);
    let issuer = issuer_with(app).await;
    let token = issuer
        .fusionauth_token(FUSIONAUTH_APP_ID, FUSIONAUTH_DEV_USER.0)?
        .sign()?;
    JwtVerifier::new(issuer.issuer(), FUSIONAUTH_APP_ID)
        .with_hmac_secret(SECRET)?
        .verify(&token)
        .await?;
    Ok(())
}

#[tokio::test]
async fn rs256_tokens_verify_with_the_published_key() -> TestResult {
    let issuer = issuer_with(FusionAuthApp::new(FUSIONAUTH_APP_ID)).await;
    let token = issuer
        .fusionauth_token(FUSIONAUTH_APP_ID, FUSIONAUTH_DEV_USER.0)?
        .sign()?;
    let key = issuer.current_key(DevAlgorithm::RS256);
    assert_eq!(decode(&token).0["kid"], key.kid());
    let verifier = JwtVerifier::new(issuer.issuer(), FUSIONAUTH_APP_ID)
        .with_jwk(&key.public_jwk().to_string())?;
    let claims = verifier.verify(&token).await?;
    assert_eq!(claims.get("gty"), Some(&json!(["authorization_code"])));
    assert_eq!(claims.get("scope"), Some(&json!("openid offline_access")));
    jwks_verifier(&issuer, FUSIONAUTH_APP_ID)
        .verify(&token)
        .await?;
    // Another application's verifier refuses it (audience).
    let other =
        JwtVerifier::new(issuer.issuer(), "other-app").with_jwk(&key.public_jwk().to_string())?;
    assert_eq!(
        other.verify(&token).await.unwrap_err().kind(),
        AuthErrorKind::InvalidToken
    );
    Ok(())
}

#[tokio::test]
async fn fusionauth_token_presets_claims_for_tests() -> TestResult {
    let app = FusionAuthApp::new(FUSIONAUTH_APP_ID)
        .user("admin@example.com", "x", ["admin", "user"])
        .hmac_secret(SECRET)
        .access_token_lifetime(Duration::from_secs(120));
    let issuer = issuer_with(app).await;
    let verifier = hmac_jwk_verifier(&issuer, FUSIONAUTH_APP_ID, SECRET);

    let builder = issuer.fusionauth_token(FUSIONAUTH_APP_ID, "Admin@Example.com")?;
    let claims = builder.claims();
    assert_eq!(claims["roles"], json!(["admin", "user"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    let token = builder.sign()?;
    assert_eq!(decode(&token).0["alg"], "HS256");
    verifier.verify(&token).await?;

    let expired = issuer
        .fusionauth_token(FUSIONAUTH_APP_ID, "admin@example.com")?
        .expired()
        .sign()?;
    assert_eq!(
        verifier.verify(&expired).await.unwrap_err().kind(),
        AuthErrorKind::Expired
    );
    let elsewhere = issuer
        .fusionauth_token(FUSIONAUTH_APP_ID, "admin@example.com")?
        .audience("other-app")
        .sign()?;
    assert_eq!(
        verifier.verify(&elsewhere).await.unwrap_err().kind(),
        AuthErrorKind::InvalidToken
    );

    let unknown_app = issuer
        .fusionauth_token("no-such-app", "admin@example.com")
        .unwrap_err();
    assert_eq!(unknown_app.kind(), std::io::ErrorKind::NotFound);
    let unknown_user = issuer
        .fusionauth_token(FUSIONAUTH_APP_ID, "nobody")
        .unwrap_err();
    assert_eq!(unknown_user.kind(), std::io::ErrorKind::NotFound);
    Ok(())
}

/// Whether `Vary` names `Origin` (the answer depends on it, so caches must key on it).
fn vary_origin(headers: &reqwest::header::HeaderMap) -> bool {
    headers.get_all(VARY).iter().any(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|name| name.trim().eq_ignore_ascii_case("origin"))
        })
    })
}

#[tokio::test]
async fn cors_with_credentials_for_allowed_origins_only() -> TestResult {
    let app = FusionAuthApp::new(FUSIONAUTH_APP_ID)
        .allowed_origin("http://127.0.0.1:3000/")
        .allowed_origin("http://localhost:3000");
    let issuer = issuer_with(app).await;
    let refresh_url = format!("{}/app/refresh/{FUSIONAUTH_APP_ID}", issuer.issuer());

    for origin in ["http://127.0.0.1:3000", "http://localhost:3000"] {
        let preflight = client()
            .request(reqwest::Method::OPTIONS, &refresh_url)
            .header(ORIGIN, origin)
            .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .send()
            .await?;
        // tower-http's CorsLayer answers preflights itself, with 200.
        assert_eq!(preflight.status(), 200, "{origin}");
        let headers = preflight.headers();
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], origin);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_METHODS], "GET,POST,OPTIONS");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_HEADERS], "content-type");
        assert!(vary_origin(headers), "{headers:?}");

        // Actual answers (here a 400: no refresh token) carry them too.
        let actual = client()
            .post(&refresh_url)
            .header(ORIGIN, origin)
            .send()
            .await?;
        assert_eq!(actual.status(), 400);
        assert_eq!(actual.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], origin);
        assert_eq!(actual.headers()[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert!(vary_origin(actual.headers()));
    }

    let login_url = format!("{}/api/login", issuer.issuer());
    for url in [&refresh_url, &login_url] {
        let preflight = client()
            .request(reqwest::Method::OPTIONS, url)
            .header(ORIGIN, "http://127.0.0.1:4000")
            .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .send()
            .await?;
        assert_eq!(preflight.status(), 200);
        // (The allowed methods are listed to any origin; without the two headers below a
        // browser lets the page read nothing.)
        for name in [
            ACCESS_CONTROL_ALLOW_ORIGIN,
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
        ] {
            assert!(!preflight.headers().contains_key(&name), "{name}");
        }
        let actual = client()
            .post(url)
            .header(ORIGIN, "http://127.0.0.1:4000")
            .send()
            .await?;
        assert!(!actual.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
        assert!(
            !actual
                .headers()
                .contains_key(ACCESS_CONTROL_ALLOW_CREDENTIALS)
        );
    }
    Ok(())
}

#[test]
fn user_replaces_the_user_with_the_same_login_id() {
    let (login_id, password) = FUSIONAUTH_DEV_USER;
    let app = FusionAuthApp::new("a").user(login_id.to_uppercase(), "changed", ["editor"]);
    assert_eq!(app.users.len(), 1);
    assert!(app.authenticate(login_id, password).is_none());
    let user = app.authenticate(login_id, "changed").unwrap();
    assert_eq!(user.roles, ["editor"]);
    let original = FusionAuthApp::new("b");
    assert_eq!(user.id, original.find_user(login_id).unwrap().id);
    let bob = FusionAuthApp::new("c").user("bob", "x", ["user"]);
    let bob = bob.find_user("bob").unwrap();
    assert_eq!((bob.email.as_deref(), bob.username.as_str()), (None, "bob"));
    assert_ne!(bob.id, user.id);
}

#[test]
fn debug_output_hides_secrets() {
    let app = FusionAuthApp::new(FUSIONAUTH_APP_ID)
        .user("bob", "bobs-password", ["admin"])
        .hmac_secret(SECRET);
    let debug = format!("{app:?}");
    assert!(debug.contains("bob") && debug.contains("HS256"), "{debug}");
    for secret in [SECRET, "bobs-password", FUSIONAUTH_DEV_USER.1] {
        assert!(!debug.contains(secret), "{debug}");
    }
}
