//! The test of the README's "Testing your service" section, exactly as printed there: a service
//! behind an `AuthLayer` tested with the development issuer.

use axum::{Router, body::Body, http::Request, http::StatusCode, routing::get};
use tower::ServiceExt; // oneshot
use tower_authz::{AuthLayer, Claims, JwksVerifier};
use tower_authz_dev::DevIssuer;

#[tokio::test]
async fn whoami_needs_a_valid_token() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = DevIssuer::start().await?;
    // Your service, its verifier pointed at the issuer; the tokens' audience is "dev-api".
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api")?;
    let app = Router::new()
        .route(
            "/whoami",
            get(|claims: Claims| async move { claims.subject().unwrap_or_default().to_owned() }),
        )
        .layer(AuthLayer::new(verifier));

    let token = issuer.token().subject("alice").roles(["admin"]).sign()?;
    let request = Request::get("/whoami")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())?;
    assert_eq!(app.clone().oneshot(request).await?.status(), StatusCode::OK);

    let expired = issuer.token().expired().sign()?;
    let request = Request::get("/whoami")
        .header("authorization", format!("Bearer {expired}"))
        .body(Body::empty())?;
    assert_eq!(
        app.oneshot(request).await?.status(),
        StatusCode::UNAUTHORIZED
    );
    Ok(())
}
