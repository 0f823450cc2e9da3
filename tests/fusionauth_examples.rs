//! `fusionauth_api`'s cookie API, built by `cargo test` and driven over 127.0.0.1: the access
//! token only from `app.at`, never `app.idt`; RS256 keys from the JWKS (the issuer's, or
//! `--jwks-uri`) or FusionAuth's HS256; unsafe requests from a foreign `Origin` refused (CSRF).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Example, client};
use serde_json::{Value, json};
use tower_authz_dev::{DevIssuer, FUSIONAUTH_APP_ID, FUSIONAUTH_DEV_USER, FusionAuthApp};

async fn get(url: &str, cookie: Option<&str>) -> (u16, String, Option<String>) {
    let mut request = client().get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, response.text().await.expect("body"), challenge)
}

/// Runs the example against `issuer` (a stand-in for a real FusionAuth) with extra flags.
fn start(issuer: &DevIssuer, extra: &[&str]) -> (Example, String) {
    let mut args = vec![
        "--port",
        "0",
        "--page-port",
        "0",
        "--issuer",
        issuer.issuer(),
    ];
    args.extend_from_slice(extra);
    let mut example = Example::start("fusionauth_api", &args);
    let api = example.wait_for("fusionauth_api listening on ");
    (example, api)
}

async fn cookie_api_cases(issuer: &DevIssuer, api: &str) {
    let (login_id, _) = FUSIONAUTH_DEV_USER;
    let token = |f: fn(tower_authz_dev::TokenBuilder) -> tower_authz_dev::TokenBuilder| {
        f(issuer
            .fusionauth_token(FUSIONAUTH_APP_ID, login_id)
            .expect("token builder"))
        .sign()
        .expect("token")
    };
    let valid = token(|t| t);

    for path in ["/identity", "/messages"] {
        let (status, _, challenge) = get(&format!("{api}{path}"), None).await;
        assert_eq!(
            (status, challenge.as_deref()),
            (401, Some("Bearer")),
            "{path}"
        );
        let (status, body, _) =
            get(&format!("{api}{path}"), Some(&format!("app.at={valid}"))).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (_, body, _) = get(&format!("{api}/messages"), Some(&format!("app.at={valid}"))).await;
    assert_eq!(body, r#"{"messages":["Hello"]}"#);
    let (_, body, _) = get(&format!("{api}/identity"), Some(&format!("app.at={valid}"))).await;
    let identity: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(identity["email"], login_id);
    assert_eq!(identity["applicationId"], FUSIONAUTH_APP_ID);

    // The ID token in app.idt is never taken as an access token, nor is a bearer header.
    let (status, _, challenge) = get(
        &format!("{api}/identity"),
        Some(&format!("app.idt={valid}")),
    )
    .await;
    assert_eq!((status, challenge.as_deref()), (401, Some("Bearer")));
    let bearer = client()
        .get(format!("{api}/identity"))
        .bearer_auth(&valid)
        .send()
        .await
        .expect("request");
    assert_eq!(bearer.status(), 401);

    let tampered = {
        let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
        parts[1] = parts[1].chars().rev().collect();
        parts.join(".")
    };
    for (name, bad) in [
        ("expired", token(|t| t.expired())),
        (
            "wrong audience",
            token(|t| t.audience("another-application")),
        ),
        ("tampered", tampered),
    ] {
        let (status, _, challenge) =
            get(&format!("{api}/identity"), Some(&format!("app.at={bad}"))).await;
        assert_eq!(status, 401, "{name}");
        assert!(
            challenge.is_some_and(|c| c.contains("invalid_token")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn rs256_keys_from_the_jwks() {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_fusionauth_app(FusionAuthApp::new(FUSIONAUTH_APP_ID));
    let (_example, api) = start(&issuer, &[]);
    cookie_api_cases(&issuer, &api).await;
    // By default the keys come from {issuer}/.well-known/jwks.json.
    assert!(issuer.jwks_requests() > 0);
}

#[tokio::test]
async fn rs256_keys_from_another_jwks_uri() {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_fusionauth_app(FusionAuthApp::new(FUSIONAUTH_APP_ID));
    // A proxy in front of FusionAuth's JWKS, at a path of its own, counting its requests.
    let hits = Arc::new(AtomicUsize::new(0));
    let (upstream, counter) = (issuer.jwks_uri(), hits.clone());
    let proxy = axum::Router::new().route(
        "/proxy/keys",
        axum::routing::get(move || {
            let (upstream, counter) = (upstream.clone(), counter.clone());
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let keys = client().get(upstream).send().await.expect("upstream");
                (
                    [("content-type", "application/json")],
                    keys.text().await.expect("keys"),
                )
            }
        }),
    );
    let (proxy_base, _proxy) = common::serve(proxy).await;
    let jwks_uri = format!("{proxy_base}/proxy/keys");
    let (_example, api) = start(&issuer, &["--jwks-uri", &jwks_uri]);
    cookie_api_cases(&issuer, &api).await;
    // Every key fetch went through the proxy: none straight to the issuer's default URL.
    let through_proxy = hits.load(Ordering::SeqCst);
    assert!(through_proxy > 0);
    assert_eq!(issuer.jwks_requests(), through_proxy);

    // Another JWKS (another issuer's keys): the issuer's valid token is refused.
    let other = DevIssuer::start().await.expect("another issuer");
    let (_example, api) = start(&issuer, &["--jwks-uri", &other.jwks_uri()]);
    let (login_id, _) = FUSIONAUTH_DEV_USER;
    let valid = issuer
        .fusionauth_token(FUSIONAUTH_APP_ID, login_id)
        .expect("token builder")
        .sign()
        .expect("token");
    let (status, _, _) = get(&format!("{api}/messages"), Some(&format!("app.at={valid}"))).await;
    assert_eq!(status, 401);
    assert!(other.jwks_requests() > 0);
}

/// POSTs `{"message": ...}` to `/messages` with the cookie and these headers; (status, body).
async fn post_message(
    api: &str,
    method: reqwest::Method,
    cookie: Option<&str>,
    origin: Option<&str>,
    message: &str,
) -> (u16, String) {
    let mut request = client()
        .request(method, format!("{api}/messages"))
        .json(&json!({ "message": message }));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn unsafe_requests_from_a_foreign_origin_are_refused_before_the_handler() {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_fusionauth_app(FusionAuthApp::new(FUSIONAUTH_APP_ID));
    let (mut example, api) = start(&issuer, &[]);
    let pages = example.wait_for("login page: ");
    let pages = pages.trim_end_matches("/index.html").to_owned();
    let (login_id, _) = FUSIONAUTH_DEV_USER;
    let valid = issuer
        .fusionauth_token(FUSIONAUTH_APP_ID, login_id)
        .expect("token builder")
        .sign()
        .expect("token");
    let cookie = format!("app.at={valid}");
    let messages = || async {
        let (status, body, _) = get(&format!("{api}/messages"), Some(&cookie)).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).expect("json")["messages"].clone()
    };

    // Another origin, even one of the same site (127.0.0.1, another port), with a valid cookie:
    // 403, and the message was not added.
    for foreign in ["http://127.0.0.1:1", "https://evil.example", "null"] {
        for method in [
            reqwest::Method::POST,
            reqwest::Method::PUT,
            reqwest::Method::PATCH,
            reqwest::Method::DELETE,
        ] {
            let (status, body) =
                post_message(&api, method.clone(), Some(&cookie), Some(foreign), "forged").await;
            assert_eq!(status, 403, "{method} from {foreign}: {body}");
        }
        // Refused before the auth layer: no cookie is 403 too, not 401.
        let (status, _) =
            post_message(&api, reqwest::Method::POST, None, Some(foreign), "forged").await;
        assert_eq!(status, 403, "{foreign}");
    }
    assert_eq!(messages().await, json!(["Hello"]));

    // The login pages' origin and the API's own may POST; so may a client without Origin.
    for (origin, message) in [
        (Some(pages.as_str()), "from the pages"),
        (Some(api.as_str()), "from the api"),
        (None, "from curl"),
    ] {
        let (status, body) =
            post_message(&api, reqwest::Method::POST, Some(&cookie), origin, message).await;
        assert_eq!(status, 200, "{origin:?}: {body}");
    }
    assert_eq!(
        messages().await,
        json!(["Hello", "from the pages", "from the api", "from curl"])
    );
    // Same origin without a token is still the auth layer's 401.
    let (status, _) =
        post_message(&api, reqwest::Method::POST, None, Some(&pages), "anonymous").await;
    assert_eq!(status, 401);

    // A safe method passes whatever its Origin.
    let response = client()
        .get(format!("{api}/messages"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn allowed_origins_can_be_configured() {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_fusionauth_app(FusionAuthApp::new(FUSIONAUTH_APP_ID));
    let (mut example, api) = start(&issuer, &["--allowed-origin", "https://app.example.com/"]);
    let pages = example.wait_for("login page: ");
    let pages = pages.trim_end_matches("/index.html").to_owned();
    let (login_id, _) = FUSIONAUTH_DEV_USER;
    let cookie = format!(
        "app.at={}",
        issuer
            .fusionauth_token(FUSIONAUTH_APP_ID, login_id)
            .expect("token builder")
            .sign()
            .expect("token")
    );
    let (status, _) = post_message(
        &api,
        reqwest::Method::POST,
        Some(&cookie),
        Some("https://app.example.com"),
        "m",
    )
    .await;
    assert_eq!(status, 200);
    // The flag replaces the defaults.
    let (status, _) = post_message(
        &api,
        reqwest::Method::POST,
        Some(&cookie),
        Some(&pages),
        "m",
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn hs256_with_fusionauths_default_key() {
    let secret = "fusionauth-default-signing-key-for-tests-0123456789";
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_fusionauth_app(FusionAuthApp::new(FUSIONAUTH_APP_ID).hmac_secret(secret));
    let (_example, api) = start(&issuer, &["--hmac-secret", secret]);
    cookie_api_cases(&issuer, &api).await;
    // An RS256 token from the same issuer is refused in HMAC mode (no key of that type).
    let rs = issuer
        .token()
        .audience(FUSIONAUTH_APP_ID)
        .sign()
        .expect("token");
    let (status, _, _) = get(&format!("{api}/messages"), Some(&format!("app.at={rs}"))).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn no_flags_prints_a_working_curl_line() {
    let mut example = Example::start("fusionauth_api", &["--port", "0", "--page-port", "0"]);
    let api = example.wait_for("fusionauth_api listening on ");
    let page = example.wait_for("login page: ");
    let token = example.wait_for("export APP_AT=");
    let (status, body, _) = get(&format!("{api}/messages"), Some(&format!("app.at={token}"))).await;
    assert_eq!((status, body.as_str()), (200, r#"{"messages":["Hello"]}"#));
    let (status, html, _) = get(&page, None).await;
    assert_eq!(status, 200);
    assert!(html.contains("/app/login/"), "{html}");

    // CORS: the login page's origin may call the API with credentials.
    let origin = page.trim_end_matches("/index.html");
    let preflight = client()
        .request(reqwest::Method::OPTIONS, format!("{api}/identity"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("preflight");
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(origin)
    );
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-credentials")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
}
