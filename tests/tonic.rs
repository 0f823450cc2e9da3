//! The same `AuthLayer` in front of a tonic server answers with gRPC status codes.
#![cfg(feature = "tonic")]

mod common;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower_authz::{AuthLayer, JwksVerifier, require_role};
use tower_authz_dev::DevIssuer;

async fn grpc_server(verifier: JwksVerifier) -> String {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = Server::builder()
            .layer(AuthLayer::new(verifier))
            .layer(require_role("admin"))
            .add_service(health)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await;
    });
    format!("http://{addr}")
}

async fn check(url: &str, token: Option<&str>) -> Result<(), tonic::Status> {
    let channel = Channel::from_shared(url.to_owned())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut client = HealthClient::new(channel);
    let mut request = Request::new(HealthCheckRequest {
        service: String::new(),
    });
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("metadata"),
        );
    }
    client.check(request).await.map(|_| ())
}

#[tokio::test]
async fn grpc_status_codes() {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let url = grpc_server(verifier).await;

    let admin = issuer.token().roles(["admin"]).sign().expect("token");
    check(&url, Some(&admin)).await.expect("admin passes");

    let missing = check(&url, None).await.expect_err("no token");
    assert_eq!(missing.code(), Code::Unauthenticated);

    let expired = issuer
        .token()
        .roles(["admin"])
        .expired()
        .sign()
        .expect("token");
    let refused = check(&url, Some(&expired)).await.expect_err("expired");
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.message(), "the token has expired");

    // A malformed bearer token keeps the gRPC mapping: UNAUTHENTICATED (HTTP would say 401).
    let malformed = check(&url, Some("not!b64token"))
        .await
        .expect_err("malformed");
    assert_eq!(malformed.code(), Code::Unauthenticated);
    assert_eq!(malformed.message(), "the bearer token is malformed");

    let user = issuer.token().roles(["viewer"]).sign().expect("token");
    let denied = check(&url, Some(&user)).await.expect_err("no role");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable() {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    let token = issuer.token().roles(["admin"]).sign().expect("token");
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    issuer.stop().await;
    let url = grpc_server(verifier).await;
    let unavailable = check(&url, Some(&token)).await.expect_err("provider down");
    assert_eq!(unavailable.code(), Code::Unavailable);
}
