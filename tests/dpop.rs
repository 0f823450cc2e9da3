//! DPoP (RFC 9449) at the resource server, over HTTP on 127.0.0.1: the development issuer mints
//! tokens bound to a proof key (`cnf.jkt`), the tests make the proofs, and every refusal is
//! checked for its status and challenge.

mod common;

use common::TestApp;
use common::dpop::{ProofKey, Reply, send};
use http::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tower_authz::{
    AuthLayer, ClientAuth, DpopNonces, DpopPolicy, IntrospectionVerifier, JwksVerifier,
    ProblemDetails,
};
use tower_authz_dev::{DevClient, DevIssuer};

const ALGS: &str = common::dpop::DEFAULT_ALGS;

struct Setup {
    issuer: DevIssuer,
    app: TestApp,
    key: ProofKey,
}

impl Setup {
    async fn start(policy: DpopPolicy) -> Setup {
        let issuer = DevIssuer::start().await.expect("issuer");
        let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
        let app = TestApp::start(AuthLayer::new(verifier).with_dpop(policy)).await;
        Setup {
            issuer,
            app,
            key: ProofKey::es256(),
        }
    }

    /// A token bound to `key`.
    fn bound_token(&self, key: &ProofKey) -> String {
        self.issuer
            .token()
            .subject("alice")
            .claim("cnf", json!({"jkt": key.jkt()}))
            .sign()
            .expect("token")
    }

    fn plain_token(&self) -> String {
        self.issuer.token().subject("alice").sign().expect("token")
    }

    fn url(&self) -> String {
        format!("{}/whoami", self.app.base)
    }

    /// `GET /whoami` with `Authorization: DPoP <token>` and the given `DPoP` headers.
    async fn dpop(&self, token: &str, proofs: &[&str]) -> Reply {
        send("DPoP", &self.url(), token, proofs, &[]).await
    }
}

#[tokio::test]
async fn a_bound_token_with_a_good_proof_passes_once() {
    let s = Setup::start(DpopPolicy::required()).await;
    let token = s.bound_token(&s.key);
    let proof = s.key.proof("GET", &s.url(), &token);
    let ok = s.dpop(&token, &[&proof]).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let claims: Value = serde_json::from_str(&ok.body).expect("claims");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["cnf"]["jkt"], s.key.jkt());

    // The same proof again: a replay.
    s.dpop(&token, &[&proof])
        .await
        .assert_dpop_refusal("invalid_dpop_proof", "used before");
    // A fresh proof passes.
    let fresh = s.key.proof("GET", &s.url(), &token);
    assert_eq!(s.dpop(&token, &[&fresh]).await.status, 200);
    assert_eq!(s.app.hits(), 2);
}

#[tokio::test]
async fn each_bad_proof_is_invalid_dpop_proof() {
    let s = Setup::start(DpopPolicy::required()).await;
    let token = s.bound_token(&s.key);
    let url = s.url();
    let other_path = format!("{}/admin", s.app.base);
    let mut private = s.key.jwk();
    private["d"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let with_header = |name: &str, value: Value| {
        s.key.proof_with("GET", &url, &token, |h, _| {
            h.insert(name.into(), value);
        })
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "htm",
            s.key.proof("POST", &url, &token),
            "another method (htm)",
        ),
        (
            "htu",
            s.key.proof("GET", &other_path, &token),
            "another URL (htu)",
        ),
        (
            "stale iat",
            s.key.proof_with("GET", &url, &token, |_, c| {
                c.insert("iat".into(), json!(common::dpop::now() - 600));
            }),
            "too old (iat)",
        ),
        (
            "future iat",
            s.key.proof_with("GET", &url, &token, |_, c| {
                c.insert("iat".into(), json!(common::dpop::now() + 600));
            }),
            "in the future (iat)",
        ),
        (
            "no ath",
            s.key.proof_with("GET", &url, &token, |_, c| {
                c.remove("ath");
            }),
            "lacks the access token hash (ath)",
        ),
        (
            "wrong ath",
            s.key.proof("GET", &url, "another-token"),
            "another access token (ath)",
        ),
        (
            "typ",
            with_header("typ", json!("JWT")),
            "typ is not dpop+jwt",
        ),
        (
            "alg none",
            with_header("alg", json!("none")),
            "alg is not accepted",
        ),
        (
            "alg HS256",
            with_header("alg", json!("HS256")),
            "alg is not accepted",
        ),
        (
            "private jwk",
            with_header("jwk", private.clone()),
            "jwk is not a public key",
        ),
        ("not a JWS", "not-a-proof".to_owned(), "not a compact JWS"),
    ];
    for (case, proof, why) in cases {
        let reply = s.dpop(&token, &[&proof]).await;
        assert_eq!(reply.status, 401, "{case}: {reply:?}");
        reply.assert_dpop_refusal("invalid_dpop_proof", why);
    }
    assert_eq!(s.app.hits(), 0);
}

#[tokio::test]
async fn a_proof_of_another_key_than_cnf_jkt_is_refused() {
    let s = Setup::start(DpopPolicy::required()).await;
    let token = s.bound_token(&s.key);
    let thief = ProofKey::es256();
    let proof = thief.proof("GET", &s.url(), &token);
    s.dpop(&token, &[&proof]).await.assert_dpop_refusal(
        "invalid_dpop_proof",
        "another key than the token is bound to",
    );
}

#[tokio::test]
async fn the_dpop_header_must_be_there_once() {
    let s = Setup::start(DpopPolicy::required()).await;
    let token = s.bound_token(&s.key);
    s.dpop(&token, &[])
        .await
        .assert_dpop_refusal("invalid_dpop_proof", "no DPoP proof");
    let one = s.key.proof("GET", &s.url(), &token);
    let two = s.key.proof("GET", &s.url(), &token);
    s.dpop(&token, &[&one, &two])
        .await
        .assert_dpop_refusal("invalid_dpop_proof", "more than one DPoP header");
}

#[tokio::test]
async fn tokens_that_do_not_fit_the_scheme() {
    let s = Setup::start(DpopPolicy::required()).await;
    // A token without cnf.jkt, with a good proof.
    let plain = s.plain_token();
    let proof = s.key.proof("GET", &s.url(), &plain);
    s.dpop(&plain, &[&proof])
        .await
        .assert_dpop_refusal("invalid_token", "not DPoP-bound");
    // A forged token with a good proof: the token is checked as a bearer token would be.
    let forged = format!("{}x", s.bound_token(&s.key));
    let proof = s.key.proof("GET", &s.url(), &forged);
    s.dpop(&forged, &[&proof])
        .await
        .assert_dpop_refusal("invalid_token", "");
    // Required: a bearer token, bound or not, is refused in the DPoP challenge.
    for token in [s.bound_token(&s.key), plain] {
        send("Bearer", &s.url(), &token, &[], &[])
            .await
            .assert_dpop_refusal("invalid_token", "requires a DPoP-bound token");
    }
    // No token at all.
    let none = common::get_with(&s.url(), None).await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.challenge.as_deref(),
        Some(format!("DPoP {ALGS}").as_str())
    );
}

#[tokio::test]
async fn allowed_takes_unbound_bearer_tokens_but_not_bound_ones() {
    let s = Setup::start(DpopPolicy::allowed()).await;
    let plain = s.plain_token();
    assert_eq!(send("Bearer", &s.url(), &plain, &[], &[]).await.status, 200);
    let bound = s.bound_token(&s.key);
    // RFC 9449 §7.1: a DPoP-bound token sent as a bearer token.
    send("Bearer", &s.url(), &bound, &[], &[]).await.assert(
        401,
        &format!(
            r#"Bearer error="invalid_token", error_description="the token is DPoP-bound: send it with Authorization: DPoP and a proof", DPoP {ALGS}"#
        ),
    );
    let proof = s.key.proof("GET", &s.url(), &bound);
    assert_eq!(s.dpop(&bound, &[&proof]).await.status, 200);
    // A DPoP refusal goes in the DPoP challenge, after a bare Bearer one (RFC 9449 §7.2).
    let reply = s.dpop(&bound, &[&proof]).await;
    assert_eq!(reply.status, 401);
    assert!(
        reply.challenge.starts_with(&format!(
            r#"Bearer, DPoP {ALGS}, error="invalid_dpop_proof""#
        )),
        "{reply:?}"
    );
    let none = common::get_with(&s.url(), None).await;
    assert_eq!(none.challenge, Some(format!("Bearer, DPoP {ALGS}")));
}

#[tokio::test]
async fn a_server_nonce_is_asked_for_then_accepted() {
    let nonces = DpopNonces::random().expect("nonces");
    let s = Setup::start(DpopPolicy::required().with_nonces(nonces)).await;
    let token = s.bound_token(&s.key);
    let first = s.key.proof("GET", &s.url(), &token);
    let reply = s.dpop(&token, &[&first]).await;
    reply.assert(
        401,
        &format!(
            r#"DPoP {ALGS}, error="use_dpop_nonce", error_description="the DPoP proof must carry the nonce in the DPoP-Nonce header""#
        ),
    );
    let nonce = reply.nonce.expect("a DPoP-Nonce header");
    let again = s.key.proof_with("GET", &s.url(), &token, |_, c| {
        c.insert("nonce".into(), json!(nonce));
    });
    assert_eq!(s.dpop(&token, &[&again]).await.status, 200);
    let wrong = s.key.proof_with("GET", &s.url(), &token, |_, c| {
        c.insert("nonce".into(), json!("AAAAAAAAAAAAAAAAAAAAAAAA"));
    });
    let reply = s.dpop(&token, &[&wrong]).await;
    reply.assert_dpop_refusal("use_dpop_nonce", "nonce");
    assert!(reply.nonce.is_some());
}

#[tokio::test]
async fn behind_a_proxy_htu_names_the_public_url() {
    let policy = DpopPolicy::required()
        .with_public_url("https://api.example.com")
        .expect("url");
    let s = Setup::start(policy).await;
    let token = s.bound_token(&s.key);
    let public = s
        .key
        .proof("GET", "https://api.example.com/whoami?x=1", &token);
    assert_eq!(s.dpop(&token, &[&public]).await.status, 200);
    let local = s.key.proof("GET", &s.url(), &token);
    s.dpop(&token, &[&local])
        .await
        .assert_dpop_refusal("invalid_dpop_proof", "another URL (htu)");
}

#[tokio::test]
async fn problem_details_and_grpc_answers() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let layer = AuthLayer::new(verifier)
        .with_dpop(DpopPolicy::required())
        .with_response(ProblemDetails::default());
    let app = TestApp::start(layer).await;
    let key = ProofKey::es256();
    let token = issuer
        .token()
        .claim("cnf", json!({"jkt": key.jkt()}))
        .sign()
        .expect("token");
    let url = format!("{}/whoami", app.base);
    let proof = key.proof("POST", &url, &token);
    let reply = send("DPoP", &url, &token, &[&proof], &[]).await;
    assert_eq!(reply.status, 401);
    assert!(
        reply
            .challenge
            .starts_with(&format!(r#"DPoP {ALGS}, error="invalid_dpop_proof""#))
    );
    assert_eq!(reply.headers[CONTENT_TYPE], "application/problem+json");
    let problem: Value = serde_json::from_str(&reply.body).expect("problem");
    assert_eq!(problem["error"], "invalid_dpop_proof");
    assert_eq!(
        problem["detail"],
        "the DPoP proof is for another method (htm)"
    );

    let grpc = send(
        "DPoP",
        &url,
        &token,
        &[&proof],
        &[("content-type", "application/grpc")],
    )
    .await;
    assert_eq!(grpc.status, 200);
    assert_eq!(grpc.headers["grpc-status"], "16");
}

#[tokio::test]
async fn an_introspected_token_is_bound_through_cnf_in_the_answer() {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_client(DevClient::new("api-basic", "basic-secret"));
    let verifier = IntrospectionVerifier::discover(
        issuer.issuer(),
        ClientAuth::basic("api-basic", "basic-secret"),
        "dev-api",
    )
    .expect("verifier");
    let app = TestApp::start(AuthLayer::new(verifier).with_dpop(DpopPolicy::required())).await;
    let key = ProofKey::es256();
    // An opaque token: only the introspection answer says what it is bound to.
    let token = issuer
        .opaque_token()
        .subject("alice")
        .claim("cnf", json!({"jkt": key.jkt()}))
        .issue();
    let url = format!("{}/whoami", app.base);
    let proof = key.proof("GET", &url, &token);
    let reply = send("DPoP", &url, &token, &[&proof], &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let claims: Value = serde_json::from_str(&reply.body).expect("claims");
    assert_eq!(claims["cnf"]["jkt"], key.jkt());
    let thief = ProofKey::es256().proof("GET", &url, &token);
    send("DPoP", &url, &token, &[&thief], &[])
        .await
        .assert_dpop_refusal("invalid_dpop_proof", "another key");
}

/// The client side of this crate against its resource side: a DPoP-bound token from the
/// development issuer's client credentials grant, a fresh proof per call, and the retry with
/// the server's nonce, through a layer that allows bearer tokens too (so that the nonce's
/// challenge comes after a `Bearer` one).
#[tokio::test]
async fn the_client_side_calls_a_dpop_layer_that_asks_for_nonces() {
    use tower_authz::client::{ClientCredentials, DpopKey, RequestBuilderExt};

    let nonces = DpopNonces::random().expect("nonces");
    let s = Setup::start(DpopPolicy::allowed().with_nonces(nonces)).await;
    s.issuer
        .add_client(DevClient::new("daemon", "daemon-secret").jwt_access_tokens());
    let key = DpopKey::generate().expect("key");
    let tokens = ClientCredentials::discover(
        s.issuer.issuer(),
        ClientAuth::basic("daemon", "daemon-secret"),
    )
    .expect("provider")
    // RFC 8707: the token's audience is this API's.
    .with_resource("dev-api")
    .with_dpop(key.clone());
    let http = common::client();
    for call in 0..3 {
        let response = http.get(s.url()).send_with(&tokens).await.expect("call");
        assert_eq!(response.status(), 200, "call {call}: {response:?}");
        let claims: Value = response.json().await.expect("claims");
        assert_eq!(claims["cnf"]["jkt"], key.thumbprint());
    }
    assert_eq!(s.app.hits(), 3);
}
