//! `CustomClaims<T>`: the token's claims as the service's own type, over HTTP on 127.0.0.1 with
//! tokens of the development issuer.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use common::{get_with, serve};
use serde::{Deserialize, Deserializer};
use tower_authz::{AuthLayer, CustomClaims, JwksVerifier};
use tower_authz_dev::DevIssuer;

/// What the routes under test read from an Entra token.
#[derive(Debug, Deserialize)]
struct Entra {
    tid: String,
    oid: String,
}

/// Routes that count their runs in `hits`: `/entra` answers `oid@tid`, `/maybe` answers the
/// same or `anonymous` (with `Option<CustomClaims<_>>`).
fn routes(hits: &Arc<AtomicUsize>) -> Router {
    let (h1, h2) = (hits.clone(), hits.clone());
    Router::new()
        .route(
            "/entra",
            get(move |caller: CustomClaims<Entra>| async move {
                h1.fetch_add(1, Ordering::SeqCst);
                format!("{}@{}", caller.oid, caller.tid)
            }),
        )
        .route(
            "/maybe",
            get(move |caller: Option<CustomClaims<Entra>>| async move {
                h2.fetch_add(1, Ordering::SeqCst);
                caller.map_or("anonymous".to_owned(), |c| format!("{}@{}", c.oid, c.tid))
            }),
        )
}

fn verifier(issuer: &DevIssuer) -> JwksVerifier {
    JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier")
}

#[tokio::test]
async fn the_typed_claims_reach_the_handler() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let hits = Arc::new(AtomicUsize::new(0));
    let (base, _task) = serve(routes(&hits).layer(AuthLayer::new(verifier(&issuer)))).await;
    let token = issuer
        .token()
        .claim("tid", "tenant-1")
        .claim("oid", "object-1")
        .sign()
        .expect("token");
    for path in ["/entra", "/maybe"] {
        let answer = get_with(&format!("{base}{path}"), Some(&token)).await;
        assert_eq!(
            (answer.status.as_u16(), answer.body.as_str()),
            (200, "object-1@tenant-1"),
            "{path}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn claims_that_do_not_fit_are_refused_401_before_the_handler() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let hits = Arc::new(AtomicUsize::new(0));
    // With a realm: the refusal comes from the layer's responder, as the layer's own do.
    let layer = AuthLayer::new(verifier(&issuer)).with_realm("todo");
    let (base, _task) = serve(routes(&hits).layer(layer)).await;

    let no_oid = issuer
        .token()
        .claim("tid", "tenant-1")
        .sign()
        .expect("token");
    let oid_a_number = issuer
        .token()
        .claim("tid", "tenant-1")
        .claim("oid", 4242424242_u64)
        .sign()
        .expect("token");
    for token in [no_oid, oid_a_number] {
        // `Option<CustomClaims<_>>` refuses too: claims that do not fit are not "no claims".
        for path in ["/entra", "/maybe"] {
            let answer = get_with(&format!("{base}{path}"), Some(&token)).await;
            answer.assert_refused(401, "invalid_token");
            let challenge = answer.challenge.unwrap_or_default();
            assert!(
                challenge.starts_with("Bearer realm=\"todo\""),
                "{challenge}"
            );
            assert!(
                challenge.contains(
                    "error_description=\"the token's claims do not have the expected shape\""
                ),
                "{challenge}"
            );
            // No claim name or value is echoed.
            assert!(!challenge.contains("4242424242"), "{challenge}");
            assert!(!challenge.contains("oid"), "{challenge}");
        }
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a handler ran");
}

/// Deserializes like `Entra` and counts how often it was deserialized.
struct Counted(Entra);

static DESERIALIZED: AtomicUsize = AtomicUsize::new(0);

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DESERIALIZED.fetch_add(1, Ordering::SeqCst);
        Entra::deserialize(deserializer).map(Counted)
    }
}

/// A middleware in front of the handler that reads the same typed claims.
async fn tenant_header(caller: CustomClaims<Counted>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Ok(tenant) = caller.0.tid.parse() {
        response.headers_mut().insert("x-tenant", tenant);
    }
    response
}

#[tokio::test]
async fn one_deserialization_per_request_for_every_extractor_and_layer() {
    // The only test of this binary that deserializes `Counted`.
    let issuer = DevIssuer::start().await.expect("issuer");
    let app = Router::new()
        .route(
            "/twice",
            get(
                |first: CustomClaims<Counted>, second: CustomClaims<Counted>| async move {
                    format!("{} {}", first.0.oid, second.0.oid)
                },
            ),
        )
        .layer(middleware::from_fn(tenant_header))
        .layer(AuthLayer::new(verifier(&issuer)));
    let (base, _task) = serve(app).await;
    let token = issuer
        .token()
        .claim("tid", "tenant-1")
        .claim("oid", "object-1")
        .sign()
        .expect("token");

    let response = common::client()
        .get(format!("{base}/twice"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-tenant"], "tenant-1");
    assert_eq!(response.text().await.expect("body"), "object-1 object-1");
    // The middleware and both extractors: one deserialization.
    assert_eq!(DESERIALIZED.load(Ordering::SeqCst), 1);

    // The next request deserializes its own claims, once.
    let answer = get_with(&format!("{base}/twice"), Some(&token)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(DESERIALIZED.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn without_an_auth_layer_it_is_a_500() {
    let hits = Arc::new(AtomicUsize::new(0));
    let (base, _task) = serve(routes(&hits)).await;
    for path in ["/entra", "/maybe"] {
        let answer = get_with(&format!("{base}{path}"), None).await;
        assert_eq!(answer.status.as_u16(), 500, "{path}: {answer:?}");
        assert_eq!(answer.challenge, None, "{path}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a handler ran");
}

#[tokio::test]
async fn behind_an_optional_layer_without_a_token_it_is_a_401() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let hits = Arc::new(AtomicUsize::new(0));
    let layer = AuthLayer::new(verifier(&issuer)).optional();
    let (base, _task) = serve(routes(&hits).layer(layer)).await;

    let answer = get_with(&format!("{base}/entra"), None).await;
    assert_eq!(answer.status.as_u16(), 401, "{answer:?}");
    assert_eq!(answer.challenge.as_deref(), Some("Bearer"));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the handler ran");

    // `Option<CustomClaims<_>>` is `None` there.
    let answer = get_with(&format!("{base}/maybe"), None).await;
    assert_eq!(
        (answer.status.as_u16(), answer.body.as_str()),
        (200, "anonymous")
    );
}
