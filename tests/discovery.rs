//! Discovery per RFC 8414 as well as OpenID Connect, over HTTP on 127.0.0.1 (issue 15, item 4):
//! the metadata locations are tried in the order RFC 8414 §5 gives, the next only when one has
//! no document (a 4xx, or not a JSON object), never when one names another issuer or the
//! provider is failing; the exact-issuer check holds wherever the document was found.
//!
//! The providers are the development issuer (serving one document or the other) and small
//! axum routers that record the paths asked for.

mod common;

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::{jwks_of, serve};
use serde_json::{Value, json};
use tower_authz::{
    AudienceCheck, AuthErrorKind, ClientAuth, IntrospectionVerifier, JwksVerifier, Verifier,
};
use tower_authz_dev::{DevIssuer, MetadataDocuments};

const AUDIENCE: &str = "discovery-api";

/// A provider whose answers are decided per path; it records every path asked for, in order.
#[derive(Clone)]
struct Recorder {
    paths: Arc<Mutex<Vec<String>>>,
    answer: Arc<dyn Fn(&str) -> Response + Send + Sync>,
}

impl Recorder {
    async fn start(
        answer: impl Fn(&str, &str) -> Response + Send + Sync + 'static,
    ) -> (String, Recorder) {
        // The base URL is known only once bound: answers get it from a shared slot.
        let base = Arc::new(Mutex::new(String::new()));
        let slot = Arc::clone(&base);
        let recorder = Recorder {
            paths: Arc::default(),
            answer: Arc::new(move |path: &str| {
                let base = slot.lock().unwrap_or_else(PoisonError::into_inner).clone();
                answer(&base, path)
            }),
        };
        let router = Router::new().fallback(record).with_state(recorder.clone());
        let (url, _task) = serve(router).await;
        *base.lock().unwrap_or_else(PoisonError::into_inner) = url.clone();
        (url, recorder)
    }

    fn paths(&self) -> Vec<String> {
        self.paths
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn record(State(recorder): State<Recorder>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    recorder
        .paths
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(path.clone());
    (recorder.answer)(&path)
}

fn json_answer(value: Value) -> Response {
    axum::Json(value).into_response()
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// The metadata of `issuer`, with its JWKS at `{base}/keys`.
fn metadata(issuer: &str, base: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{base}/keys"),
        "introspection_endpoint": format!("{base}/introspect"),
    })
}

fn token_for(dev: &DevIssuer, issuer: &str) -> String {
    common::token_for(dev, issuer, AUDIENCE)
}

const OAUTH: &str = "/.well-known/oauth-authorization-server";
const OIDC: &str = "/.well-known/openid-configuration";

#[tokio::test]
async fn the_development_issuer_is_found_by_either_document() {
    for (served, requests) in [
        // RFC 8414 first: found at once.
        (MetadataDocuments::OAuthAuthorizationServerOnly, 1),
        (MetadataDocuments::Both, 1),
        // The RFC 8414 location answers 404, then OpenID Connect's has it.
        (MetadataDocuments::OpenIdConfigurationOnly, 2),
    ] {
        let issuer = DevIssuer::start().await.expect("issuer");
        issuer.serve_metadata(served);
        let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
        verifier.fetch_keys().await.expect("keys found");
        assert_eq!(issuer.discovery_requests(), requests, "{served:?}");
        let token = issuer.token().subject("alice").sign().expect("token");
        let claims = verifier.verify(&token).await.expect("verified");
        assert_eq!(claims.subject(), Some("alice"));

        // The introspection endpoint is found the same way.
        let introspection = IntrospectionVerifier::discover(
            issuer.issuer(),
            ClientAuth::basic("api", "secret"),
            AudienceCheck::left_to_provider(),
        )
        .expect("verifier");
        let before = issuer.discovery_requests();
        // Readiness starts discovery as a request would; wait for it to land.
        let readiness = introspection.readiness();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while !readiness.check().is_ready() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{served:?}: not discovered"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(issuer.discovery_requests() - before, requests, "{served:?}");
    }
}

#[tokio::test]
async fn an_issuer_with_a_path_is_looked_for_in_the_rfc_order() {
    let dev = DevIssuer::start().await.expect("issuer");
    let keys = jwks_of(&dev);
    // Only the OpenID Connect form that appends the well-known suffix has the document.
    let (base, provider) = Recorder::start(move |base, path| {
        let issuer = format!("{base}/tenant/a");
        match path {
            "/tenant/a/.well-known/openid-configuration" => json_answer(metadata(&issuer, base)),
            "/keys" => json_answer(keys.clone()),
            _ => not_found(),
        }
    })
    .await;
    let issuer = format!("{base}/tenant/a");
    // A terminating slash is removed before the suffix goes in (RFC 8414 §3); the issuer
    // check compares the configured string, so configure it as the provider states it.
    let verifier = JwksVerifier::discover(issuer.as_str(), AUDIENCE).expect("verifier");
    verifier.fetch_keys().await.expect("keys");
    assert_eq!(
        provider.paths(),
        [
            format!("{OAUTH}/tenant/a"),
            format!("{OIDC}/tenant/a"),
            format!("/tenant/a{OIDC}"),
            "/keys".to_owned(),
        ]
    );
    verifier
        .verify(&token_for(&dev, &issuer))
        .await
        .expect("verified");
}

#[tokio::test]
async fn a_document_for_another_issuer_stops_the_search() {
    let dev = DevIssuer::start().await.expect("issuer");
    let keys = jwks_of(&dev);
    // RFC 8414's location names another issuer; OpenID Connect's has the right one.
    let (base, provider) = Recorder::start(move |base, path| match path {
        OAUTH => json_answer(metadata("https://attacker.example", base)),
        OIDC => json_answer(metadata(base, base)),
        "/keys" => json_answer(keys.clone()),
        _ => not_found(),
    })
    .await;
    let verifier = JwksVerifier::discover(base.as_str(), AUDIENCE).expect("verifier");
    let error = verifier.fetch_keys().await.expect_err("refused");
    assert_eq!(error.kind(), AuthErrorKind::Upstream);
    assert_eq!(
        error.description(),
        "the discovery document is for another issuer"
    );
    assert_eq!(provider.paths(), [OAUTH]);
    let refused = verifier.verify(&token_for(&dev, &base)).await;
    assert_eq!(
        refused.expect_err("no keys").kind(),
        AuthErrorKind::Upstream
    );
}

#[tokio::test]
async fn only_an_absent_document_moves_the_search_on() {
    let dev = DevIssuer::start().await.expect("issuer");
    /// What RFC 8414's location answers, and whether OpenID Connect's is then asked.
    type Case = (&'static str, fn() -> Response, bool);
    let cases: [Case; 5] = [
        ("410", || StatusCode::GONE.into_response(), true),
        ("403", || StatusCode::FORBIDDEN.into_response(), true),
        (
            "a web page",
            || ([("content-type", "text/html")], "<html>welcome</html>").into_response(),
            true,
        ),
        (
            "a JSON array",
            || json_answer(json!(["not", "metadata"])),
            true,
        ),
        (
            "503",
            || StatusCode::SERVICE_UNAVAILABLE.into_response(),
            false,
        ),
    ];
    for (what, oauth_answer, falls_back) in cases {
        let keys = jwks_of(&dev);
        let (base, provider) = Recorder::start(move |base, path| match path {
            OAUTH => oauth_answer(),
            OIDC => json_answer(metadata(base, base)),
            "/keys" => json_answer(keys.clone()),
            _ => not_found(),
        })
        .await;
        let verifier = JwksVerifier::discover(base.as_str(), AUDIENCE).expect("verifier");
        let fetched = verifier.fetch_keys().await;
        if falls_back {
            fetched.unwrap_or_else(|e| panic!("{what}: {e:?}"));
            assert_eq!(provider.paths(), [OAUTH, OIDC, "/keys"], "{what}");
        } else {
            let error = fetched.expect_err(what);
            assert_eq!(error.kind(), AuthErrorKind::Upstream, "{what}");
            assert_eq!(provider.paths(), [OAUTH], "{what}");
        }
    }
}

#[tokio::test]
async fn no_document_anywhere_is_a_503_after_each_location_once() {
    let (base, provider) = Recorder::start(|_, _| not_found()).await;
    let verifier = JwksVerifier::discover(base.as_str(), AUDIENCE).expect("verifier");
    let error = verifier.fetch_keys().await.expect_err("nothing published");
    assert_eq!(error.kind(), AuthErrorKind::Upstream);
    assert_eq!(
        error.description(),
        "the identity provider publishes no discovery document"
    );
    assert_eq!(provider.paths(), [OAUTH, OIDC]);
}
