//! Tests of the development issuer over real HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use super::{DevAlgorithm, DevIssuer, DevKey};

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("HTTP request failed")
}

async fn get_json(url: &str) -> Value {
    let response = get(url).await;
    assert_eq!(response.status(), 200, "GET {url}");
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

fn b64_json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Splits a compact JWS into (header, claims, signing input, signature).
fn decode(token: &str) -> (Value, Value, String, Vec<u8>) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS has three parts");
    (
        b64_json(parts[0]),
        b64_json(parts[1]),
        format!("{}.{}", parts[0], parts[1]),
        URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
    )
}

fn b64_member(jwk: &Value, name: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(
            jwk[name]
                .as_str()
                .unwrap_or_else(|| panic!("JWK has no {name}")),
        )
        .unwrap()
}

/// Verifies a signature with a public JWK, the way a relying party would.
fn verify_with_jwk(jwk: &Value, message: &[u8], signature: &[u8]) -> bool {
    match jwk["kty"].as_str().unwrap() {
        "RSA" => RsaPublicKeyComponents {
            n: b64_member(jwk, "n"),
            e: b64_member(jwk, "e"),
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
        .is_ok(),
        "EC" => {
            assert_eq!(jwk["crv"], "P-256");
            let mut point = vec![0x04];
            point.extend(b64_member(jwk, "x"));
            point.extend(b64_member(jwk, "y"));
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .is_ok()
        }
        "OKP" => {
            assert_eq!(jwk["crv"], "Ed25519");
            UnparsedPublicKey::new(&ED25519, b64_member(jwk, "x"))
                .verify(message, signature)
                .is_ok()
        }
        other => panic!("unexpected kty {other}"),
    }
}

fn find_jwk<'a>(jwks: &'a Value, kid: &str) -> Option<&'a Value> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|jwk| jwk["kid"] == kid)
}

fn published_kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|jwk| jwk["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn pem_der(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----\n");
    let end = format!("-----END {label}-----\n");
    let body = pem
        .strip_prefix(&begin)
        .and_then(|rest| rest.strip_suffix(&end))
        .unwrap_or_else(|| panic!("not a {label} PEM: {pem}"));
    assert!(body.lines().all(|line| line.len() <= 64));
    STANDARD.decode(body.replace('\n', "")).unwrap()
}

#[tokio::test]
async fn serves_discovery_document() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let port = issuer.addr().port();
    assert_eq!(issuer.issuer(), format!("http://127.0.0.1:{port}"));
    assert_eq!(
        issuer.discovery_url(),
        format!("http://127.0.0.1:{port}/.well-known/openid-configuration")
    );
    assert_eq!(
        issuer.jwks_uri(),
        format!("http://127.0.0.1:{port}/oauth/v2/keys")
    );

    let doc = get_json(&issuer.discovery_url()).await;
    let base = issuer.issuer();
    assert_eq!(doc["issuer"], base);
    assert_eq!(doc["jwks_uri"], issuer.jwks_uri());
    assert_eq!(doc["token_endpoint"], format!("{base}/oauth/v2/token"));
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{base}/oauth/v2/authorize")
    );
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{base}/oauth/v2/introspect")
    );
    assert_eq!(
        doc["revocation_endpoint"],
        format!("{base}/oauth/v2/revoke")
    );
    assert_eq!(doc["userinfo_endpoint"], format!("{base}/oidc/v1/userinfo"));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256", "EdDSA"])
    );
    assert_eq!(
        doc["grant_types_supported"],
        json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(issuer.discovery_requests(), 1);
    assert_eq!(issuer.jwks_requests(), 0);
    Ok(())
}

#[tokio::test]
async fn serves_jwks_with_one_key_per_algorithm() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let response = get(&issuer.jwks_uri()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().get("cache-control").is_none());
    let jwks: Value = serde_json::from_slice(&response.bytes().await?)?;

    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    for alg in DevAlgorithm::ALL {
        let key = issuer.current_key(alg);
        let jwk = find_jwk(&jwks, key.kid()).unwrap();
        assert_eq!(jwk, &key.public_jwk());
        assert_eq!(jwk["alg"], alg.as_str());
        assert_eq!(jwk["use"], "sig");
        assert!(jwk.get("d").is_none(), "no private members");
    }
    let rsa = find_jwk(&jwks, issuer.current_key(DevAlgorithm::RS256).kid()).unwrap();
    assert_eq!(rsa["kty"], "RSA");
    assert_eq!(rsa["e"], "AQAB");
    let n = b64_member(rsa, "n");
    assert_eq!(n.len(), 256);
    assert_ne!(n[0], 0, "no leading zero in n");
    let ec = find_jwk(&jwks, issuer.current_key(DevAlgorithm::ES256).kid()).unwrap();
    assert_eq!(
        (ec["kty"].as_str(), ec["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    assert_eq!(
        (b64_member(ec, "x").len(), b64_member(ec, "y").len()),
        (32, 32)
    );
    let ed = find_jwk(&jwks, issuer.current_key(DevAlgorithm::EdDSA).kid()).unwrap();
    assert_eq!(
        (ed["kty"].as_str(), ed["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert_eq!(b64_member(ed, "x").len(), 32);

    assert_eq!(issuer.jwks_requests(), 1);
    get(&issuer.jwks_uri()).await;
    assert_eq!(issuer.jwks_requests(), 2);
    assert_eq!(issuer.discovery_requests(), 0);
    Ok(())
}

#[tokio::test]
async fn tokens_of_every_algorithm_verify_against_the_jwks() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let jwks = get_json(&issuer.jwks_uri()).await;
    for alg in DevAlgorithm::ALL {
        let token = issuer.token().algorithm(alg).sign()?;
        let (header, claims, message, signature) = decode(&token);
        let kid = issuer.current_key(alg).kid().to_owned();
        assert_eq!(
            header,
            json!({"alg": alg.as_str(), "typ": "JWT", "kid": kid})
        );
        let jwk = find_jwk(&jwks, &kid).unwrap();
        assert!(
            verify_with_jwk(jwk, message.as_bytes(), &signature),
            "{alg}"
        );

        let mut tampered = message.clone().into_bytes();
        tampered.push(b'x');
        assert!(
            !verify_with_jwk(jwk, &tampered, &signature),
            "{alg} tampered"
        );

        assert_eq!(claims["iss"], issuer.issuer());
        assert_eq!(claims["sub"], "dev-user");
        assert_eq!(claims["aud"], "dev-api");
        let iat = claims["iat"].as_u64().unwrap();
        assert_eq!(claims["exp"].as_u64().unwrap(), iat + 3600);
        assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 16));
    }
    let first = decode(&issuer.token().sign()?).1;
    let second = decode(&issuer.token().sign()?).1;
    assert_ne!(first["jti"], second["jti"]);
    Ok(())
}

#[tokio::test]
async fn builder_sets_claims_and_headers() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let builder = issuer
        .token()
        .subject("alice")
        .audiences(["api-1", "api-2"])
        .issuer("https://elsewhere.example")
        .roles(["admin", "viewer"])
        .scopes(["read", "write"])
        .claim("email", "alice@example.com")
        .claim("nested", json!({"a": 1}))
        .remove_claim("jti")
        .header("jku", "https://attacker.example/keys")
        .kid("other-kid")
        .lifetime(Duration::from_secs(60));
    let expected = builder.claims();
    let (header, claims, _, _) = decode(&builder.sign()?);
    assert_eq!(claims, expected);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], json!(["api-1", "api-2"]));
    assert_eq!(claims["iss"], "https://elsewhere.example");
    assert_eq!(claims["roles"], json!(["admin", "viewer"]));
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["nested"]["a"], 1);
    assert!(claims.get("jti").is_none());
    assert_eq!(
        claims["exp"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap() + 60
    );
    assert_eq!(header["kid"], "other-kid");
    assert_eq!(header["jku"], "https://attacker.example/keys");

    let (header, _, _, _) = decode(
        &issuer
            .token()
            .audience("single")
            .header("alg", "none")
            .header("typ", "at+jwt")
            .remove_header("kid")
            .sign()?,
    );
    assert_eq!(header, json!({"alg": "none", "typ": "at+jwt"}));

    let claims = decode(&issuer.token().expired().sign()?).1;
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp + 3600, iat + 7200);
    let now = decode(&issuer.token().sign()?).1["iat"].as_u64().unwrap();
    assert!(exp <= now - 3600 + 1);

    let claims = decode(&issuer.token().not_yet_valid().sign()?).1;
    assert_eq!(
        claims["nbf"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap() + 3600
    );
    Ok(())
}

#[tokio::test]
async fn signed_with_uses_a_foreign_key() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let foreign = DevKey::generate(DevAlgorithm::ES256)?.with_kid("foreign");
    let jwk = foreign.public_jwk();
    let token = issuer.token().signed_with(&foreign).sign()?;
    let (header, claims, message, signature) = decode(&token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], "foreign");
    assert_eq!(claims["iss"], issuer.issuer());
    assert!(verify_with_jwk(&jwk, message.as_bytes(), &signature));

    // Same kid as the issuer's key, different key: must not verify.
    let rs_kid = issuer.current_key(DevAlgorithm::RS256).kid().to_owned();
    let impostor = std::sync::Arc::new(DevKey::generate(DevAlgorithm::RS256)?);
    // `&Arc<DevKey>` coerces to `&DevKey`.
    let token = issuer.token().signed_with(&impostor).kid(&rs_kid).sign()?;
    let (header, _, message, signature) = decode(&token);
    assert_eq!(header["kid"], rs_kid);
    let jwks = get_json(&issuer.jwks_uri()).await;
    let published = find_jwk(&jwks, &rs_kid).unwrap();
    assert!(!verify_with_jwk(published, message.as_bytes(), &signature));
    Ok(())
}

#[tokio::test]
async fn hmac_secret_signs_hs256() -> TestResult {
    use aws_lc_rs::hmac;

    let issuer = DevIssuer::start().await?;
    let secret = "0123456789abcdef0123456789abcdef";
    let builder = issuer.token().subject("alice").hmac_secret(secret);
    assert!(!format!("{builder:?}").contains(secret));
    let token = builder.sign()?;
    let (header, claims, message, signature) = decode(&token);
    assert_eq!(header, json!({"alg": "HS256", "typ": "JWT"}));
    assert_eq!(claims["sub"], "alice");
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    assert!(hmac::verify(&key, message.as_bytes(), &signature).is_ok());
    let verifier =
        tower_authz::JwtVerifier::new(issuer.issuer(), "dev-api").with_hmac_secret(secret)?;
    assert_eq!(
        tower_authz::Verifier::verify(&verifier, &token)
            .await?
            .subject(),
        Some("alice")
    );

    // A kid only when asked for; the last of signed_with / hmac_secret wins.
    let token = issuer.token().hmac_secret(secret).kid("hmac-key").sign()?;
    assert_eq!(decode(&token).0["kid"], "hmac-key");
    let foreign = DevKey::generate(DevAlgorithm::EdDSA)?;
    let token = issuer
        .token()
        .hmac_secret(secret)
        .signed_with(&foreign)
        .sign()?;
    assert_eq!(decode(&token).0["alg"], "EdDSA");
    let token = issuer
        .token()
        .signed_with(&foreign)
        .hmac_secret(secret)
        .sign()?;
    assert_eq!(decode(&token).0["alg"], "HS256");
    Ok(())
}

#[tokio::test]
async fn fusionauth_jwks_path_serves_the_same_keys() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let zitadel = get_json(&issuer.jwks_uri()).await;
    let fusionauth = get_json(&format!("{}/.well-known/jwks.json", issuer.issuer())).await;
    assert_eq!(zitadel, fusionauth);
    assert_eq!(issuer.jwks_requests(), 2);
    Ok(())
}

#[tokio::test]
async fn rotate_and_retire_change_the_published_set() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let old = issuer.current_key(DevAlgorithm::RS256);
    let new_kid = issuer.rotate(DevAlgorithm::RS256)?;
    assert_ne!(new_kid, old.kid());
    assert_eq!(issuer.current_key(DevAlgorithm::RS256).kid(), new_kid);

    let jwks = get_json(&issuer.jwks_uri()).await;
    let kids = published_kids(&jwks);
    assert_eq!(kids.len(), 4);
    assert!(kids.contains(&new_kid) && kids.contains(&old.kid().to_owned()));
    let (header, _, message, signature) = decode(&issuer.token().sign()?);
    assert_eq!(header["kid"], new_kid);
    assert!(verify_with_jwk(
        find_jwk(&jwks, &new_kid).unwrap(),
        message.as_bytes(),
        &signature
    ));

    // Retiring the current key falls back to the most recent remaining one.
    assert!(issuer.retire(&new_kid));
    assert!(!issuer.retire(&new_kid));
    assert!(!issuer.retire("no-such-kid"));
    assert_eq!(issuer.current_key(DevAlgorithm::RS256).kid(), old.kid());
    let kids = published_kids(&get_json(&issuer.jwks_uri()).await);
    assert_eq!(kids.len(), 3);
    assert!(!kids.contains(&new_kid));

    // Retiring a non-current key keeps the current one.
    let newest = issuer.rotate(DevAlgorithm::RS256)?;
    assert!(issuer.retire(old.kid()));
    assert_eq!(issuer.current_key(DevAlgorithm::RS256).kid(), newest);

    // No key left for an algorithm: signing with it fails, others still work.
    assert!(issuer.retire(&newest));
    // current_key still names the retired key, which is no longer published.
    assert_eq!(issuer.current_key(DevAlgorithm::RS256).kid(), newest);
    assert!(issuer.published_keys().iter().all(|k| k.kid() != newest));
    let err = issuer.token().sign().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    issuer.token().algorithm(DevAlgorithm::EdDSA).sign()?;
    let jwks = get_json(&issuer.jwks_uri()).await;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kty"] != "RSA")
    );
    assert_eq!(issuer.published_keys().len(), 2);

    // Rotating brings the algorithm back.
    let kid = issuer.rotate(DevAlgorithm::RS256)?;
    assert_eq!(decode(&issuer.token().sign()?).0["kid"], kid);
    Ok(())
}

#[tokio::test]
async fn unavailable_answers_503_and_counts() -> TestResult {
    let issuer = DevIssuer::start().await?;
    issuer.set_available(false);
    assert_eq!(get(&issuer.jwks_uri()).await.status(), 503);
    assert_eq!(get(&issuer.discovery_url()).await.status(), 503);
    assert_eq!(
        (issuer.jwks_requests(), issuer.discovery_requests()),
        (1, 1)
    );
    issuer.set_available(true);
    get_json(&issuer.jwks_uri()).await;
    get_json(&issuer.discovery_url()).await;
    assert_eq!(
        (issuer.jwks_requests(), issuer.discovery_requests()),
        (2, 2)
    );
    assert_eq!(
        get(&format!("{}/nope", issuer.issuer())).await.status(),
        404
    );
    Ok(())
}

#[tokio::test]
async fn jwks_max_age_sets_cache_control() -> TestResult {
    let issuer = DevIssuer::start().await?;
    issuer.set_jwks_max_age(Some(Duration::from_secs(300)));
    let response = get(&issuer.jwks_uri()).await;
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    issuer.set_jwks_max_age(None);
    let response = get(&issuer.jwks_uri()).await;
    assert!(response.headers().get("cache-control").is_none());
    Ok(())
}

#[tokio::test]
async fn stop_closes_the_port() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let addr = issuer.addr();
    // Keep a pooled keep-alive connection open across the stop.
    let client = reqwest::Client::new();
    assert_eq!(client.get(issuer.jwks_uri()).send().await?.status(), 200);
    tokio::time::timeout(Duration::from_secs(3), issuer.stop()).await?;
    let err = tokio::net::TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(client.get(issuer.jwks_uri()).send().await.is_err());
    issuer.stop().await; // idempotent
    issuer.token().sign()?; // minting still works
    Ok(())
}

#[tokio::test]
async fn drop_closes_the_port() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let addr = issuer.addr();
    drop(issuer);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("port still open after drop");
}

#[tokio::test]
async fn refuses_non_loopback_addresses() {
    for addr in ["0.0.0.0:0", "192.0.2.1:0", "[::]:0"] {
        let addr: SocketAddr = addr.parse().unwrap();
        let err = DevIssuer::start_on(addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{addr}");
    }
}

#[tokio::test]
async fn start_on_a_loopback_address() -> TestResult {
    let issuer = DevIssuer::start_on("127.0.0.1:0".parse()?).await?;
    assert!(issuer.addr().ip().is_loopback());
    assert_ne!(issuer.addr().port(), 0);
    let doc = get_json(&issuer.discovery_url()).await;
    assert_eq!(doc["issuer"], issuer.issuer());
    // IPv6 loopback, if the machine has it.
    if let Ok(v6) = DevIssuer::start_on("[::1]:0".parse()?).await {
        assert!(v6.issuer().starts_with("http://[::1]:"));
        let doc = get_json(&v6.discovery_url()).await;
        assert_eq!(doc["issuer"], v6.issuer());
    }
    Ok(())
}

#[test]
fn public_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DevIssuer>();
    assert_send_sync::<DevKey>();
    assert_send_sync::<super::TokenBuilder>();
    assert_send_sync::<super::FusionAuthApp>();
}

#[test]
fn algorithm_names() {
    assert_eq!(DevAlgorithm::RS256.as_str(), "RS256");
    assert_eq!(DevAlgorithm::ES256.as_str(), "ES256");
    assert_eq!(DevAlgorithm::EdDSA.as_str(), "EdDSA");
    assert_eq!(DevAlgorithm::EdDSA.to_string(), "EdDSA");
}

#[test]
fn key_exports_round_trip() -> TestResult {
    let message = b"signed message";
    for alg in DevAlgorithm::ALL {
        let key = DevKey::generate(alg)?;
        assert_eq!(key.algorithm(), alg);
        let token = key.sign_jws(&Map::new(), &json!({}))?;
        let (_, _, signing_input, signature) = decode(&token);

        // The SPKI public key verifies the key's signatures.
        let spki = pem_der(&key.public_key_pem(), "PUBLIC KEY");
        let verify = |msg: &[u8], sig: &[u8]| match alg {
            DevAlgorithm::RS256 => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &spki)
                .verify(msg, sig)
                .is_ok(),
            DevAlgorithm::ES256 => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &spki)
                .verify(msg, sig)
                .is_ok(),
            DevAlgorithm::EdDSA => UnparsedPublicKey::new(&ED25519, &spki)
                .verify(msg, sig)
                .is_ok(),
        };
        assert!(verify(signing_input.as_bytes(), &signature), "{alg} SPKI");

        // The PKCS#8 private key loads and signs verifiably.
        let pkcs8 = pem_der(&key.private_key_pkcs8_pem(), "PRIVATE KEY");
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = match alg {
            DevAlgorithm::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(&pkcs8)?;
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &rng,
                    message,
                    &mut sig,
                )?;
                sig
            }
            DevAlgorithm::ES256 => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)?
                    .sign(&rng, message)?
                    .as_ref()
                    .to_vec()
            }
            DevAlgorithm::EdDSA => Ed25519KeyPair::from_pkcs8(&pkcs8)?
                .sign(message)
                .as_ref()
                .to_vec(),
        };
        assert!(verify(message, &sig), "{alg} PKCS#8");

        // PKCS#1 only for RSA, and it is the same key.
        match (alg, key.rsa_private_key_pkcs1_pem()) {
            (DevAlgorithm::RS256, Some(pem)) => {
                let pkcs1 = pem_der(&pem, "RSA PRIVATE KEY");
                let pair = RsaKeyPair::from_der(&pkcs1)?;
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &rng,
                    message,
                    &mut sig,
                )?;
                assert!(verify(message, &sig), "PKCS#1");
                assert_ne!(pkcs1, pkcs8);
            }
            (DevAlgorithm::RS256, None) => panic!("RSA key without PKCS#1"),
            (_, pem) => assert!(pem.is_none()),
        }
    }
    Ok(())
}

#[test]
fn sign_jws_uses_the_header_as_given() -> TestResult {
    let key = DevKey::generate(DevAlgorithm::EdDSA)?;
    let mut header = Map::new();
    header.insert("alg".into(), "HS256".into());
    header.insert("crit".into(), json!(["exp"]));
    let token = key.sign_jws(&header, &json!({"sub": "x"}))?;
    let (decoded_header, claims, message, signature) = decode(&token);
    assert_eq!(decoded_header, Value::Object(header));
    assert_eq!(claims, json!({"sub": "x"}));
    assert!(verify_with_jwk(
        &key.public_jwk(),
        message.as_bytes(),
        &signature
    ));
    Ok(())
}

#[test]
fn kids_are_random_and_overridable() -> TestResult {
    let a = DevKey::generate(DevAlgorithm::ES256)?;
    let b = DevKey::generate(DevAlgorithm::ES256)?;
    assert_ne!(a.kid(), b.kid());
    assert_eq!(a.kid().len(), 22);
    assert!(
        a.kid()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    let a = a.with_kid("fixed");
    assert_eq!(a.kid(), "fixed");
    assert_eq!(a.public_jwk()["kid"], "fixed");
    Ok(())
}

#[tokio::test]
async fn debug_output_has_no_key_material() -> TestResult {
    let key = DevKey::generate(DevAlgorithm::RS256)?;
    let debug = format!("{key:?}");
    assert!(
        debug.contains(key.kid()) && debug.contains("RS256"),
        "{debug}"
    );
    let n = key.public_jwk()["n"].as_str().unwrap().to_owned();
    assert!(!debug.contains(&n[..16]));
    let pkcs8 = key.private_key_pkcs8_pem();
    let body_line = pkcs8.lines().nth(3).unwrap();
    assert!(!debug.contains(body_line));

    let issuer = DevIssuer::start().await?;
    let debug = format!("{issuer:?}");
    assert!(debug.contains(issuer.issuer()), "{debug}");
    assert!(!debug.contains("BEGIN"));
    let builder = format!("{:?}", issuer.token());
    assert!(builder.contains("dev-user"), "{builder}");
    Ok(())
}
