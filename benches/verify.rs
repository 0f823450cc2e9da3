//! Verification cost: each verifier alone, and the layer end to end through an axum `Router`.
//!
//! `cargo bench --bench verify`

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use tower::ServiceExt;
use tower_authz::{AuthLayer, DevAlgorithm, DevIssuer, JwksVerifier, Verifier};

fn verifiers(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let issuer = runtime.block_on(DevIssuer::start()).expect("issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    runtime.block_on(verifier.fetch_keys()).expect("keys");

    let mut group = c.benchmark_group("verifier");
    for alg in DevAlgorithm::ALL {
        let token = issuer.token().algorithm(alg).sign().expect("token");
        group.bench_function(format!("jwks/{alg}"), |b| {
            b.iter(|| {
                runtime
                    .block_on(verifier.verify(black_box(&token)))
                    .expect("valid")
            })
        });
    }
    group.finish();

    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(AuthLayer::new(verifier));
    let token = issuer.token().sign().expect("token");
    let bearer = format!("Bearer {token}");
    let mut group = c.benchmark_group("layer");
    group.bench_function("rs256", |b| {
        b.iter(|| {
            let request = Request::get("/")
                .header("authorization", &bearer)
                .body(Body::empty())
                .expect("request");
            let response = runtime
                .block_on(app.clone().oneshot(request))
                .expect("response");
            assert_eq!(response.status(), 200);
        })
    });
    group.finish();
}

criterion_group!(benches, verifiers);
criterion_main!(benches);
