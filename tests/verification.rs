//! Each verifier answers once: at once (`Verification::Ready`) when nothing has to be waited for
//! (a cache hit, held or fixed keys, a refusal), pending only while a key fetch or an
//! introspection call is needed, against the development issuer on 127.0.0.1. The layer takes a
//! ready answer without boxing a future (see BENCHMARKS.md for what that is worth).

use std::time::Duration;

use tower_authz::{
    AudienceCheck, AuthErrorKind, ClientAuth, IntrospectionVerifier, JwksVerifier, JwtVerifier,
    MultiIssuer, Verification, Verifier,
};
use tower_authz_dev::{DevClient, DevIssuer};

const AUDIENCE: &str = "dev-api";

fn introspection(issuer: &DevIssuer) -> IntrospectionVerifier {
    issuer.add_client(DevClient::new("api-basic", "basic-secret"));
    IntrospectionVerifier::discover(
        issuer.issuer(),
        ClientAuth::basic("api-basic", "basic-secret"),
        AudienceCheck::left_to_provider(),
    )
    .expect("verifier")
}

fn kind(verification: Verification) -> String {
    match verification {
        Verification::Ready(Ok(_)) => "ready: ok".into(),
        Verification::Ready(Err(error)) => format!("ready: {:?}", error.kind()),
        Verification::Pending(_) => "pending".into(),
    }
}

#[tokio::test]
async fn a_jwks_verifier_waits_only_for_keys_it_does_not_hold() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let token = issuer.token().sign().expect("token");
    for verifier in [
        JwksVerifier::discover(issuer.issuer(), AUDIENCE).expect("verifier"),
        JwksVerifier::discover(issuer.issuer(), AUDIENCE)
            .expect("verifier")
            .without_verified_cache(),
    ] {
        // No keys yet: the answer waits for the fetch, and then is the right one.
        let first = verifier.verify(&token);
        assert!(!first.is_ready(), "{first:?}");
        assert!(first.await.is_ok());
        // Keys held: verified during the call, whether or not the token was seen before.
        let other = issuer.token().subject("bob").sign().expect("token");
        assert_eq!(kind(verifier.verify(&other)), "ready: ok");
        assert_eq!(kind(verifier.verify(&token)), "ready: ok");
        // Refusals are ready too: a forged signature, an expired token, a malformed one.
        let forged = format!("{}x", &token[..token.len() - 1]);
        let expired = issuer.token().expired().sign().expect("token");
        for refused in [forged.as_str(), "not-a-jwt"] {
            assert_eq!(kind(verifier.verify(refused)), "ready: InvalidToken");
        }
        assert_eq!(kind(verifier.verify(&expired)), "ready: Expired");
    }
}

#[tokio::test]
async fn a_token_of_an_unknown_kid_waits_for_one_refetch_then_is_ready() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), AUDIENCE)
        .expect("verifier")
        .with_min_refetch_interval(Duration::from_secs(1));
    verifier.fetch_keys().await.expect("keys");
    issuer
        .rotate(tower_authz_dev::DevAlgorithm::RS256)
        .expect("rotated");
    let rotated = issuer.token().sign().expect("token");
    // Within the minimum refetch interval an unknown kid is refused at once, unfetched.
    assert_eq!(kind(verifier.verify(&rotated)), "ready: InvalidToken");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let waiting = verifier.verify(&rotated);
    assert!(!waiting.is_ready(), "{waiting:?}");
    assert!(waiting.await.is_ok());
    assert_eq!(kind(verifier.verify(&rotated)), "ready: ok");
}

#[tokio::test]
async fn introspection_hits_and_cached_refusals_are_answered_at_once() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let verifier = introspection(&issuer);
    let token = issuer.opaque_token().issue();
    let first = verifier.verify(&token);
    assert!(
        !first.is_ready(),
        "the first sight of a token asks the provider"
    );
    assert!(first.await.is_ok());
    let calls = issuer.introspection_requests();
    assert_eq!(kind(verifier.verify(&token)), "ready: ok");
    let unknown = "an-opaque-token-nobody-issued";
    assert_eq!(
        verifier.verify(unknown).await.map_err(|e| e.kind()).err(),
        Some(AuthErrorKind::InvalidToken)
    );
    assert_eq!(kind(verifier.verify(unknown)), "ready: InvalidToken");
    assert_eq!(issuer.introspection_requests(), calls + 1);
    // A token over the size limit is refused before anything is computed.
    let huge = "a".repeat(16 * 1024);
    assert_eq!(kind(verifier.verify(&huge)), "ready: InvalidToken");
}

#[tokio::test]
async fn multi_issuer_passes_the_chosen_verifiers_answer_through() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let jwks = JwksVerifier::discover(issuer.issuer(), AUDIENCE).expect("verifier");
    jwks.fetch_keys().await.expect("keys");
    let multi = MultiIssuer::new()
        .with_issuer(
            "https://partner.example",
            JwtVerifier::new("https://partner.example", AUDIENCE)
                .with_hmac_secret([7u8; 32])
                .expect("secret"),
        )
        .with_issuer(issuer.issuer(), jwks)
        .with_fallback(introspection(&issuer));
    let jwt = issuer.token().sign().expect("token");
    assert_eq!(kind(multi.verify(&jwt)), "ready: ok");
    let opaque = issuer.opaque_token().issue();
    let first = multi.verify(&opaque);
    assert!(!first.is_ready(), "the fallback asks the provider");
    assert!(first.await.is_ok());
    assert_eq!(kind(multi.verify(&opaque)), "ready: ok");
    let stranger = MultiIssuer::new().with_issuer(issuer.issuer(), JwtVerifier::new("x", "y"));
    assert_eq!(kind(stranger.verify(&opaque)), "ready: InvalidToken");
}

#[test]
fn fixed_keys_always_answer_at_once_even_outside_a_runtime() {
    let verifier = JwtVerifier::new("https://issuer.example", AUDIENCE)
        .with_hmac_secret([7u8; 32])
        .expect("secret");
    assert_eq!(kind(verifier.verify("a.b.c")), "ready: InvalidToken");
    assert!(verifier.verify("a.b.c").into_ready().is_some());
}
