//! axum integration: extractors, role and scope layers, token sources, the response hook, fixed
//! keys and several issuers, over HTTP on 127.0.0.1.

mod common;

use aws_lc_rs::hmac;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{get_with, serve};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_authz::{
    AuthError, AuthErrorKind, AuthLayer, Claims, JwksVerifier, JwtVerifier, MultiIssuer,
    RequireRole, RequireScope, TokenSource, Verifier, require_any_role, require_role,
    require_scope, role, scope,
};
use tower_authz_dev::{DevAlgorithm, DevIssuer};

role!(Admin = "admin");
scope!(ReadTasks = "tasks:read");

fn hs256(claims: &Value, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn in_an_hour() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 3600
}

#[tokio::test]
async fn claims_extractor_without_the_layer_is_a_500_naming_the_mistake() {
    let app: Router = Router::new().route("/", get(|_: Claims| async { "unreachable" }));
    let response = app
        .oneshot(Request::get("/").body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let error = response
        .extensions()
        .get::<AuthError>()
        .expect("error in extensions");
    assert_eq!(error.kind(), AuthErrorKind::NotConfigured);
}

#[tokio::test]
async fn role_and_scope_extractors() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let app = Router::new()
        .route(
            "/admin",
            get(|admin: RequireRole<Admin>| async move {
                admin.subject().unwrap_or_default().to_owned()
            }),
        )
        .route(
            "/tasks",
            get(|reader: RequireScope<ReadTasks>| async move {
                format!("tasks of {}", reader.claims().subject().unwrap_or_default())
            }),
        )
        .layer(AuthLayer::new(verifier));
    let (base, _task) = serve(app).await;

    let admin = issuer
        .token()
        .subject("root")
        .roles(["admin"])
        .sign()
        .expect("token");
    let answer = get_with(&format!("{base}/admin"), Some(&admin)).await;
    assert_eq!(
        (answer.status.as_u16(), answer.body.as_str()),
        (200, "root")
    );
    get_with(&format!("{base}/tasks"), Some(&admin))
        .await
        .assert_refused(403, "insufficient_scope");

    let reader = issuer
        .token()
        .subject("reader")
        .scopes(["openid", "tasks:read"])
        .sign()
        .expect("token");
    let answer = get_with(&format!("{base}/tasks"), Some(&reader)).await;
    assert_eq!(
        (answer.status.as_u16(), answer.body.as_str()),
        (200, "tasks of reader")
    );
    let answer = get_with(&format!("{base}/admin"), Some(&reader)).await;
    answer.assert_refused(403, "insufficient_scope");
    assert!(
        answer
            .challenge
            .unwrap_or_default()
            .contains("scope=\"admin\"")
    );
}

#[tokio::test]
async fn role_and_scope_layers() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let app = Router::new()
        .route("/write", get(|| async { "written" }))
        .route_layer(require_scope("tasks:write"))
        .route("/staff", get(|| async { "staff" }))
        .route_layer(require_any_role(["admin", "editor"]))
        .layer(AuthLayer::new(verifier));
    let (base, _task) = serve(app).await;
    let editor = issuer.token().roles(["editor"]).sign().expect("token");
    assert_eq!(
        get_with(&format!("{base}/staff"), Some(&editor))
            .await
            .status,
        200
    );
    // `/staff` is layered with both checks (route_layer applies to the routes above it too).
    get_with(&format!("{base}/write"), Some(&editor))
        .await
        .assert_refused(403, "insufficient_scope");
    let writer = issuer
        .token()
        .roles(["admin"])
        .scopes(["tasks:write"])
        .sign()
        .expect("token");
    assert_eq!(
        get_with(&format!("{base}/write"), Some(&writer))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn cookie_source_takes_the_access_token_and_ignores_the_id_token() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let layer = AuthLayer::new(verifier)
        .with_token_sources([TokenSource::cookie("app.at"), TokenSource::bearer()]);
    let app = Router::new()
        .route(
            "/me",
            get(|c: Claims| async move { c.subject().unwrap_or_default().to_owned() }),
        )
        .layer(layer);
    let (base, _task) = serve(app).await;
    let token = issuer.token().subject("cookie-user").sign().expect("token");
    let client = common::client();

    let with_cookie = client
        .get(format!("{base}/me"))
        .header("cookie", format!("app.idt=whatever; app.at={token}"))
        .send()
        .await
        .expect("request");
    assert_eq!(with_cookie.status(), 200);
    assert_eq!(with_cookie.text().await.expect("body"), "cookie-user");

    let id_token_only = client
        .get(format!("{base}/me"))
        .header("cookie", format!("app.idt={token}"))
        .send()
        .await
        .expect("request");
    assert_eq!(id_token_only.status(), 401);
    assert_eq!(id_token_only.headers()["www-authenticate"], "Bearer");

    // The bearer header is the second source.
    assert_eq!(
        get_with(&format!("{base}/me"), Some(&token)).await.status,
        200
    );
}

#[tokio::test]
async fn the_response_hook_replaces_the_answer_and_the_error_stays_in_extensions() {
    let verifier = JwtVerifier::new("iss", "aud")
        .with_hmac_secret([9u8; 32])
        .expect("secret");
    let layer =
        AuthLayer::new(verifier).with_response(|error: &AuthError, _: &http::request::Parts| {
            let body = match error.kind() {
                AuthErrorKind::MissingCredentials => {
                    "unauthorized: authorization header is empty\n"
                }
                _ => "unauthorized\n",
            };
            let mut response = http::Response::new(Body::from(body));
            *response.status_mut() = error.status();
            response
        });
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer);
    let response = app
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(response.status(), 401);
    let kind = response
        .extensions()
        .get::<AuthError>()
        .map(AuthError::kind);
    assert_eq!(kind, Some(AuthErrorKind::MissingCredentials));
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .expect("body");
    assert_eq!(&body[..], b"unauthorized: authorization header is empty\n");
}

#[tokio::test]
async fn fixed_keys_hmac_pem_and_jwk() {
    // FusionAuth's default: HS256 with the tenant's secret.
    let secret = b"fusionauth-default-signing-secret-32b";
    let claims = json!({"iss": "http://localhost:9011", "aud": "app-id", "sub": "u1", "exp": in_an_hour(), "roles": ["admin"]});
    let verifier = JwtVerifier::new("http://localhost:9011", "app-id")
        .with_hmac_secret(secret)
        .expect("secret");
    let token = hs256(&claims, secret);
    let verified = verifier.verify(&token).await.expect("valid HS256");
    assert!(verified.has_role("admin"));
    assert!(
        verifier
            .verify(&hs256(&claims, b"another-secret-another-secret-32b"))
            .await
            .is_err()
    );

    // Public keys given as PEM or JWK.
    let issuer = DevIssuer::start().await.expect("issuer");
    for alg in [
        DevAlgorithm::RS256,
        DevAlgorithm::ES256,
        DevAlgorithm::EdDSA,
    ] {
        let key = issuer.current_key(alg);
        let token = issuer.token().algorithm(alg).sign().expect("token");
        let by_pem = JwtVerifier::new(issuer.issuer(), "dev-api")
            .with_public_key_pem(&key.public_key_pem(), Some(key.kid()))
            .expect("pem");
        assert!(by_pem.verify(&token).await.is_ok(), "{alg:?} by PEM");
        let by_jwk = JwtVerifier::new(issuer.issuer(), "dev-api")
            .with_jwk(&key.public_jwk().to_string())
            .expect("jwk");
        assert!(by_jwk.verify(&token).await.is_ok(), "{alg:?} by JWK");
        // A public key never verifies an HMAC token keyed with itself.
        let confused = hs256(&issuer.token().claims(), key.public_key_pem().as_bytes());
        assert!(by_pem.verify(&confused).await.is_err());
    }
}

#[tokio::test]
async fn several_issuers_dispatch_on_iss() {
    let a = DevIssuer::start().await.expect("issuer a");
    let b = DevIssuer::start().await.expect("issuer b");
    let verifier = MultiIssuer::new()
        .with_issuer(
            a.issuer(),
            JwksVerifier::discover(a.issuer(), "dev-api").expect("a"),
        )
        .with_issuer(
            b.issuer(),
            JwksVerifier::discover(b.issuer(), "dev-api").expect("b"),
        );
    let app = Router::new()
        .route(
            "/",
            get(|c: Claims| async move { c.issuer().unwrap_or_default().to_owned() }),
        )
        .layer(AuthLayer::new(verifier));
    let (base, _task) = serve(app).await;

    let from_a = a.token().sign().expect("token");
    let answer = get_with(&base, Some(&from_a)).await;
    assert_eq!(
        (answer.status.as_u16(), answer.body.as_str()),
        (200, a.issuer())
    );
    assert_eq!(
        b.jwks_requests(),
        0,
        "no trial over the other issuer's keys"
    );
    let from_b = b.token().sign().expect("token");
    assert_eq!(get_with(&base, Some(&from_b)).await.status, 200);

    // Claiming issuer b but signed by a: b's verifier refuses it.
    let forged = b
        .token()
        .signed_with(&a.current_key(DevAlgorithm::RS256))
        .sign()
        .expect("token");
    get_with(&base, Some(&forged))
        .await
        .assert_refused(401, "invalid_token");
    let stranger = a
        .token()
        .issuer("https://elsewhere.example")
        .sign()
        .expect("token");
    get_with(&base, Some(&stranger))
        .await
        .assert_refused(401, "invalid_token");
}

#[tokio::test]
async fn protected_resource_metadata_is_served_and_announced_in_challenges() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let metadata = tower_authz::ProtectedResourceMetadata::new("http://127.0.0.1/api")
        .expect("resource")
        .with_authorization_server(issuer.issuer())
        .with_scopes(["tasks:read"]);
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let app = Router::new()
        .route("/api/tasks", get(|| async { "[]" }))
        .layer(AuthLayer::new(verifier).with_protected_resource(&metadata))
        .layer(metadata.layer());
    let (base, _task) = serve(app).await;

    let document = get_with(
        &format!("{base}/.well-known/oauth-protected-resource/api"),
        None,
    )
    .await;
    assert_eq!(document.status, 200, "{document:?}");
    let json: Value = serde_json::from_str(&document.body).expect("json");
    assert_eq!(json["resource"], "http://127.0.0.1/api");
    assert_eq!(json["authorization_servers"], json!([issuer.issuer()]));
    assert_eq!(json["bearer_methods_supported"], json!(["header"]));

    let refused = get_with(&format!("{base}/api/tasks"), None).await;
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.challenge.as_deref(),
        Some(
            "Bearer resource_metadata=\"http://127.0.0.1/.well-known/oauth-protected-resource/api\""
        )
    );
    let bad = get_with(&format!("{base}/api/tasks"), Some("x.y.z")).await;
    assert!(
        bad.challenge
            .unwrap_or_default()
            .contains("resource_metadata=")
    );
    let token = issuer.token().sign().expect("token");
    assert_eq!(
        get_with(&format!("{base}/api/tasks"), Some(&token))
            .await
            .status,
        200
    );
}

/// A route guarded by `require_role`, and two by extractors, for the refusal tests.
fn guarded_routes() -> Router {
    Router::new()
        .route("/layer", get(|| async { "ok" }))
        .route_layer(require_role("admin"))
        .route("/extractor", get(|_: Claims| async { "ok" }))
        .route(
            "/role-extractor",
            get(|_: RequireRole<Admin>| async { "ok" }),
        )
}

fn user_token(secret: &[u8]) -> String {
    let claims =
        json!({"iss": "iss", "aud": "aud", "sub": "u1", "exp": in_an_hour(), "roles": ["user"]});
    hs256(&claims, secret)
}

#[tokio::test]
async fn require_layer_and_extractors_refuse_alike_without_claims() {
    // No AuthLayer in front: a configuration mistake, 500 from all three (the require layer
    // used to answer 401 here).
    let (base, _task) = serve(guarded_routes()).await;
    for path in ["/layer", "/extractor", "/role-extractor"] {
        let answer = get_with(&format!("{base}{path}"), None).await;
        assert_eq!(
            answer.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}: {answer:?}"
        );
        assert_eq!(answer.challenge, None, "{path}");
    }

    // An optional AuthLayer let the request through anonymously: 401 from all three, with the
    // layer's challenge settings.
    let verifier = JwtVerifier::new("iss", "aud")
        .with_hmac_secret([9u8; 32])
        .expect("secret");
    let app = guarded_routes().layer(AuthLayer::new(verifier).optional().with_realm("api"));
    let (base, _task) = serve(app).await;
    for path in ["/layer", "/extractor", "/role-extractor"] {
        let answer = get_with(&format!("{base}{path}"), None).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{path}: {answer:?}"
        );
        assert_eq!(
            answer.challenge.as_deref(),
            Some("Bearer realm=\"api\""),
            "{path}"
        );
    }
    // A token without the role: 403 from the require layer and the role extractor.
    let token = user_token(&[9u8; 32]);
    for path in ["/layer", "/role-extractor"] {
        get_with(&format!("{base}{path}"), Some(&token))
            .await
            .assert_refused(403, "insufficient_scope");
    }
}

#[tokio::test]
async fn the_layers_responder_answers_the_refusals_behind_it() {
    let verifier = JwtVerifier::new("iss", "aud")
        .with_hmac_secret([9u8; 32])
        .expect("secret");
    let layer = AuthLayer::new(verifier).optional().with_response(
        |error: &AuthError, _: &http::request::Parts| {
            let mut response = http::Response::new(Body::from(format!(
                "{{\"refused\":\"{:?}\"}}",
                error.kind()
            )));
            *response.status_mut() = error.status();
            response
        },
    );
    let app = Router::new()
        .route("/own", get(|| async { "ok" }))
        .route_layer(require_role("admin").with_response(
            |_: &AuthError, _: &http::request::Parts| {
                let mut response = http::Response::new(Body::from("own"));
                *response.status_mut() = StatusCode::IM_A_TEAPOT;
                response
            },
        ))
        .merge(guarded_routes())
        .layer(layer);
    let (base, _task) = serve(app).await;
    let token = user_token(&[9u8; 32]);
    let cases = [
        // The layer's own refusal.
        ("/extractor", Some("not-a-jwt"), 401, "InvalidToken"),
        // The require layer's.
        ("/layer", Some(token.as_str()), 403, "InsufficientScope"),
        ("/layer", None, 401, "MissingCredentials"),
        // The extractors'.
        (
            "/role-extractor",
            Some(token.as_str()),
            403,
            "InsufficientScope",
        ),
        ("/extractor", None, 401, "MissingCredentials"),
    ];
    for (path, token, status, kind) in cases {
        let answer = get_with(&format!("{base}{path}"), token).await;
        assert_eq!(answer.status.as_u16(), status, "{path}: {answer:?}");
        assert_eq!(answer.body, format!("{{\"refused\":\"{kind}\"}}"), "{path}");
        assert_eq!(answer.challenge, None, "{path}");
    }
    // A require layer given its own responder keeps it.
    let answer = get_with(&format!("{base}/own"), Some(&token)).await;
    assert_eq!(answer.status, StatusCode::IM_A_TEAPOT, "{answer:?}");
    assert_eq!(answer.body, "own");
}

/// `Option<Claims>`: the claims, `None` for an anonymous caller an optional layer let through,
/// and a 500 when no `AuthLayer` runs in front (it used to give `None`, hiding the mistake).
#[tokio::test]
async fn optional_claims_are_none_only_behind_an_optional_layer() {
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let routes = Router::new().route(
        "/maybe",
        get(move |claims: Option<Claims>| async move {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            claims.map_or("anonymous".to_owned(), |c| {
                c.subject().unwrap_or_default().to_owned()
            })
        }),
    );

    let (base, _task) = serve(routes.clone()).await;
    let answer = get_with(&format!("{base}/maybe"), None).await;
    assert_eq!(
        answer.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{answer:?}"
    );
    assert_eq!(answer.challenge, None);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    let response = routes
        .clone()
        .oneshot(Request::get("/maybe").body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let kind = response
        .extensions()
        .get::<AuthError>()
        .map(AuthError::kind);
    assert_eq!(kind, Some(AuthErrorKind::NotConfigured));

    let verifier = JwtVerifier::new("iss", "aud")
        .with_hmac_secret([9u8; 32])
        .expect("secret");
    let (base, _task) = serve(routes.layer(AuthLayer::new(verifier).optional())).await;
    let anonymous = get_with(&format!("{base}/maybe"), None).await;
    assert_eq!(
        (anonymous.status.as_u16(), anonymous.body.as_str()),
        (200, "anonymous")
    );
    let user = get_with(&format!("{base}/maybe"), Some(&user_token(&[9u8; 32]))).await;
    assert_eq!((user.status.as_u16(), user.body.as_str()), (200, "u1"));
}

/// Behind two layers, the inner one's format holds for the refusals behind it, also when the
/// inner one is the plain default and the outer one has its own responder.
#[tokio::test]
async fn the_innermost_layers_responder_answers_behind_it() {
    let verifier = || {
        JwtVerifier::new("iss", "aud")
            .with_hmac_secret([9u8; 32])
            .expect("secret")
    };
    let outer = AuthLayer::new(verifier()).optional().with_response(
        |error: &AuthError, _: &http::request::Parts| {
            let mut response = http::Response::new(Body::from("outer"));
            *response.status_mut() = error.status();
            response
        },
    );
    let inner = Router::new()
        .route("/inner", get(|| async { "ok" }))
        .route_layer(require_role("admin"))
        .route_layer(AuthLayer::new(verifier()));
    let app = Router::new()
        .route("/outer", get(|| async { "ok" }))
        .route_layer(require_role("admin"))
        .merge(inner)
        .layer(outer);
    let (base, _task) = serve(app).await;
    let token = user_token(&[9u8; 32]);

    let inner = get_with(&format!("{base}/inner"), Some(&token)).await;
    // The plain RFC 6750 answer of the inner layer, not the outer layer's.
    inner.assert_refused(403, "insufficient_scope");
    assert_eq!(inner.body, "");
    let outer = get_with(&format!("{base}/outer"), Some(&token)).await;
    assert_eq!((outer.status.as_u16(), outer.body.as_str()), (403, "outer"));
}
