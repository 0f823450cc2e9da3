//! RFC 9457 refusals over HTTP on 127.0.0.1: `ProblemDetails`, given once to the `AuthLayer`,
//! answers the layer's refusals, the require layer's and the extractors' with
//! `application/problem+json` and the RFC 6750 challenge; the same router answers gRPC requests
//! with gRPC status codes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use common::{client, serve};
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower_authz::{
    AuthLayer, Claims, JwksVerifier, ProblemDetails, ProtectedResourceMetadata, RequireRole,
    require_role, role,
};
use tower_authz_dev::DevIssuer;

role!(Admin = "admin");

/// Where the challenges point (RFC 9728), from `ProtectedResourceMetadata::new(RESOURCE)`.
const RESOURCE: &str = "http://127.0.0.1/api";
const METADATA: &str = "http://127.0.0.1/.well-known/oauth-protected-resource/api";

/// The router under test, served on 127.0.0.1, counting how often its handlers ran.
struct App {
    base: String,
    hits: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl App {
    /// `/layer` (behind `require_role("admin")`), the gRPC health service (behind the same
    /// check), `/extractor` (`RequireRole<Admin>`) and `/whoami` (`Claims`), all behind one
    /// `AuthLayer` answering with `ProblemDetails`, realm `api` and the resource's metadata.
    async fn start(verifier: JwksVerifier) -> App {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = |hits: &Arc<AtomicUsize>| {
            let hits = Arc::clone(hits);
            move || {
                hits.fetch_add(1, Ordering::SeqCst);
            }
        };
        let (layer_hit, extractor_hit, whoami_hit) =
            (counted(&hits), counted(&hits), counted(&hits));
        let (_reporter, health) = tonic_health::server::health_reporter();
        let grpc = tonic::service::Routes::new(health).into_axum_router();
        let metadata = ProtectedResourceMetadata::new(RESOURCE).expect("resource");
        let router = Router::new()
            .route(
                "/layer",
                get(move || async move {
                    layer_hit();
                    "ok"
                }),
            )
            .merge(grpc)
            .route_layer(require_role("admin"))
            .route(
                "/extractor",
                get(move |_: RequireRole<Admin>| async move {
                    extractor_hit();
                    "ok"
                }),
            )
            .route(
                "/whoami",
                get(move |claims: Claims| async move {
                    whoami_hit();
                    claims.subject().unwrap_or_default().to_owned()
                }),
            )
            .layer(
                AuthLayer::new(verifier)
                    .with_response(ProblemDetails::default())
                    .with_realm("api")
                    .with_protected_resource(&metadata),
            );
        let (base, task) = serve(router).await;
        App {
            base,
            hits,
            _task: task,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// A plain HTTP GET of `path`.
    async fn get(&self, path: &str, token: Option<&str>) -> Problem {
        self.send(path, token, None).await
    }

    async fn send(&self, path: &str, token: Option<&str>, content_type: Option<&str>) -> Problem {
        let mut request = client().get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("request");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or_default().to_owned())
        };
        let (content_type, challenge, retry_after, grpc_status) = (
            header("content-type"),
            header("www-authenticate"),
            header("retry-after"),
            header("grpc-status"),
        );
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        Problem {
            status,
            content_type,
            challenge,
            retry_after,
            grpc_status,
            body,
        }
    }

    /// The gRPC health check through the same router, with `token` in the metadata.
    async fn grpc_check(&self, token: Option<&str>) -> Result<(), tonic::Status> {
        let channel = Channel::from_shared(self.base.clone())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let mut request = Request::new(HealthCheckRequest {
            service: String::new(),
        });
        if let Some(token) = token {
            request.metadata_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("metadata"),
            );
        }
        HealthClient::new(channel).check(request).await.map(|_| ())
    }
}

/// What came back.
#[derive(Debug)]
struct Problem {
    status: u16,
    content_type: Option<String>,
    challenge: Option<String>,
    retry_after: Option<String>,
    grpc_status: Option<String>,
    body: String,
}

impl Problem {
    /// Asserts a problem+json answer of `status` with the challenge `challenge` and the body
    /// `members`.
    #[track_caller]
    fn assert(&self, status: u16, challenge: Option<&str>, members: Value) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/problem+json"),
            "{self:?}"
        );
        assert_eq!(self.challenge.as_deref(), challenge, "{self:?}");
        let body: Value = serde_json::from_str(&self.body).expect("a JSON body");
        assert_eq!(body, members, "{self:?}");
    }
}

fn challenge(params: &str) -> String {
    format!("Bearer realm=\"api\"{params}, resource_metadata=\"{METADATA}\"")
}

#[tokio::test]
async fn every_refusal_is_problem_json_with_the_challenge_and_no_handler_runs() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let app = App::start(verifier).await;

    // No token, from the layer.
    app.get("/whoami", None).await.assert(
        401,
        Some(&format!("Bearer realm=\"api\", resource_metadata=\"{METADATA}\"")),
        json!({"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "no access token"}),
    );
    // A bad token, from the layer.
    let invalid = ", error=\"invalid_token\", error_description=\"the token is not a JWT\"";
    app.get("/whoami", Some("not-a-jwt")).await.assert(
        401,
        Some(&challenge(invalid)),
        json!({
            "type": "about:blank", "title": "Unauthorized", "status": 401,
            "detail": "the token is not a JWT", "error": "invalid_token"
        }),
    );
    // A missing role, from the require layer and from the extractor.
    let user = issuer
        .token()
        .subject("u1")
        .roles(["user"])
        .sign()
        .expect("token");
    let insufficient = ", error=\"insufficient_scope\", error_description=\"the token lacks a required role or scope\", scope=\"admin\"";
    for path in ["/layer", "/extractor"] {
        app.get(path, Some(&user)).await.assert(
            403,
            Some(&challenge(insufficient)),
            json!({
                "type": "about:blank", "title": "Forbidden", "status": 403,
                "detail": "the token lacks a required role or scope",
                "error": "insufficient_scope", "scope": "admin"
            }),
        );
    }
    assert_eq!(app.hits(), 0, "no handler ran for a refusal");

    // Let through: the handlers run and answer as they do.
    let whoami = app.get("/whoami", Some(&user)).await;
    assert_eq!((whoami.status, whoami.body.as_str()), (200, "u1"));
    let admin = issuer.token().roles(["admin"]).sign().expect("token");
    for path in ["/layer", "/extractor"] {
        assert_eq!(app.get(path, Some(&admin)).await.status, 200, "{path}");
    }
    assert_eq!(app.hits(), 3);
}

#[tokio::test]
async fn an_unreachable_provider_is_a_503_problem_with_retry_after() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let token = issuer.token().roles(["admin"]).sign().expect("token");
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let host = issuer
        .issuer()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    issuer.stop().await;
    let app = App::start(verifier).await;

    let answer = app.get("/whoami", Some(&token)).await;
    let body: Value = serde_json::from_str(&answer.body).expect("a JSON body");
    answer.assert(
        503,
        None,
        json!({"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": body["detail"]}),
    );
    assert!(
        answer
            .retry_after
            .as_deref()
            .is_some_and(|s| s.parse::<u64>().is_ok()),
        "{answer:?}"
    );
    // The fixed description of what failed.
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{answer:?}"
    );
    // The cause (the provider's address) is logged, never sent.
    assert!(!answer.body.contains(&host), "{answer:?}");
    assert_eq!(app.hits(), 0);

    // And over gRPC.
    let unavailable = app
        .grpc_check(Some(&token))
        .await
        .expect_err("provider down");
    assert_eq!(unavailable.code(), Code::Unavailable);
}

#[tokio::test]
async fn the_same_router_answers_grpc_requests_with_grpc_status_codes() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let app = App::start(verifier).await;

    let admin = issuer.token().roles(["admin"]).sign().expect("token");
    app.grpc_check(Some(&admin)).await.expect("admin passes");

    let missing = app.grpc_check(None).await.expect_err("no token");
    assert_eq!(missing.code(), Code::Unauthenticated);
    let bad = app
        .grpc_check(Some("not-a-jwt"))
        .await
        .expect_err("bad token");
    assert_eq!(bad.code(), Code::Unauthenticated);
    assert_eq!(bad.message(), "the token is not a JWT");
    // The require layer's refusal.
    let user = issuer.token().roles(["user"]).sign().expect("token");
    let denied = app.grpc_check(Some(&user)).await.expect_err("no role");
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The extractor's refusal of a gRPC request: a gRPC status, no problem document.
    let answer = app
        .send("/extractor", Some(&user), Some("application/grpc"))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.grpc_status.as_deref(), Some("7"), "{answer:?}");
    assert_eq!(answer.content_type.as_deref(), Some("application/grpc"));
    assert_eq!(answer.body, "");
    assert_eq!(app.hits(), 0);
}
