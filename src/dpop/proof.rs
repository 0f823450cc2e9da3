//! The check of one DPoP proof JWT against the request it came with (RFC 9449 §4.3).

use std::str::FromStr;
use std::time::Duration;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, KeyAlgorithm};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::htu::same_resource;
use super::nonce::DpopNonces;
use super::thumbprint::{access_token_hash, thumbprint};
use crate::error::AuthError;
use crate::verifier::Algorithm;
use crate::verifier::keys::Key;

/// JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What a proof is checked against.
pub(crate) struct ProofRules<'a> {
    pub(crate) algorithms: &'a [Algorithm],
    pub(crate) max_len: usize,
    pub(crate) max_age: Duration,
    pub(crate) leeway: Duration,
    pub(crate) nonces: Option<&'a DpopNonces>,
}

/// The request a proof must have been made for.
pub(crate) struct ProofRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) url: &'a Url,
    pub(crate) access_token: &'a str,
    pub(crate) now: u64,
}

/// A proof that passed every check that does not need the token's claims.
#[derive(Debug)]
pub(crate) struct CheckedProof {
    /// The RFC 7638 thumbprint of the proof's key, for the token's `cnf.jkt`.
    pub(crate) jkt: String,
    /// The proof's `jti`, for the replay cache.
    pub(crate) jti: String,
}

#[derive(Deserialize)]
struct Header {
    typ: Option<String>,
    alg: Option<String>,
    jwk: Option<Map<String, Value>>,
    crit: Option<Value>,
}

#[derive(Deserialize)]
struct Claims {
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<u64>,
    jti: Option<String>,
    ath: Option<String>,
    nonce: Option<String>,
}

fn refuse(description: &'static str) -> AuthError {
    AuthError::invalid_dpop_proof(description)
}

/// Checks `proof` for `request`: its form, key and signature, then its claims.
pub(crate) fn check_proof(
    proof: &str,
    rules: &ProofRules<'_>,
    request: &ProofRequest<'_>,
) -> Result<CheckedProof, AuthError> {
    if proof.len() > rules.max_len {
        return Err(refuse("the DPoP proof is too large"));
    }
    let mut segments = proof.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(refuse("the DPoP proof is not a compact JWS"));
    };
    let header: Header = decode_json(header_b64)
        .ok_or_else(|| refuse("the DPoP proof's header is not base64url JSON"))?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|typ| typ.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err(refuse("the DPoP proof's typ is not dpop+jwt"));
    }
    if header.crit.is_some() {
        return Err(refuse("the DPoP proof has critical header parameters"));
    }
    let alg = header
        .alg
        .as_deref()
        .and_then(|alg| Algorithm::from_str(alg).ok())
        .filter(|alg| rules.algorithms.contains(alg))
        .ok_or_else(|| refuse("the DPoP proof's alg is not accepted"))?;
    let jwk = header
        .jwk
        .ok_or_else(|| refuse("the DPoP proof has no jwk header"))?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(refuse("the DPoP proof's jwk is not a public key"));
    }
    let mut jwk: Jwk = serde_json::from_value(Value::Object(jwk))
        .map_err(|_| refuse("the DPoP proof's jwk is not a valid key"))?;
    // The key may verify the header's `alg` only (and a key that names another is refused).
    if jwk.common.key_algorithm.is_none() {
        jwk.common.key_algorithm = KeyAlgorithm::from_str(alg.as_str()).ok();
    }
    let key = Key::from_jwk(&jwk, false)
        .map_err(|_| refuse("the DPoP proof's jwk is not a valid key for its alg"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| refuse("the DPoP proof's signature is not base64url"))?;
    let signed = &proof[..header_b64.len() + 1 + payload_b64.len()];
    key.verify(alg, signed.as_bytes(), &signature)
        .map_err(|_| refuse("the DPoP proof's signature does not verify"))?;

    let claims: Claims =
        decode_json(payload_b64).ok_or_else(|| refuse("the DPoP proof's claims are malformed"))?;
    let (Some(htm), Some(htu), Some(iat), Some(jti)) =
        (claims.htm, claims.htu, claims.iat, claims.jti)
    else {
        return Err(refuse("the DPoP proof lacks htm, htu, iat or jti"));
    };
    if jti.is_empty() {
        return Err(refuse("the DPoP proof lacks htm, htu, iat or jti"));
    }
    if htm != request.method {
        return Err(refuse("the DPoP proof is for another method (htm)"));
    }
    if !same_resource(&htu, request.url) {
        return Err(refuse("the DPoP proof is for another URL (htu)"));
    }
    let (now, leeway) = (request.now, rules.leeway.as_secs());
    if iat > now.saturating_add(leeway) {
        return Err(refuse("the DPoP proof is issued in the future (iat)"));
    }
    if now.saturating_sub(iat) > rules.max_age.as_secs().saturating_add(leeway) {
        return Err(refuse("the DPoP proof is too old (iat)"));
    }
    let Some(ath) = claims.ath else {
        return Err(refuse("the DPoP proof lacks the access token hash (ath)"));
    };
    let expected = access_token_hash(request.access_token);
    if verify_slices_are_equal(ath.as_bytes(), expected.as_bytes()).is_err() {
        return Err(refuse("the DPoP proof is for another access token (ath)"));
    }
    if let Some(nonces) = rules.nonces
        && !claims
            .nonce
            .is_some_and(|nonce| nonces.accepts(&nonce, now))
    {
        return Err(AuthError::use_dpop_nonce(nonces.current(now)));
    }
    let jkt = thumbprint(&jwk).ok_or_else(|| refuse("the DPoP proof's jwk has no thumbprint"))?;
    Ok(CheckedProof { jkt, jti })
}

fn decode_json<T: for<'de> Deserialize<'de>>(segment: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AuthErrorKind;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;
    const TOKEN: &str = "the.access.token";

    struct ProofKey(EcdsaKeyPair);

    impl ProofKey {
        fn new() -> Self {
            Self(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
        }

        fn jwk(&self) -> Value {
            let point = self.0.public_key().as_ref();
            json!({
                "kty": "EC",
                "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            })
        }

        fn sign(&self, header: &Value, claims: &Value) -> String {
            let signed = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let signature = self
                .0
                .sign(&SystemRandom::new(), signed.as_bytes())
                .unwrap();
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
        }

        fn header(&self) -> Value {
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk()})
        }
    }

    fn claims() -> Value {
        json!({
            "htm": "GET",
            "htu": "https://api.example.com/tasks",
            "iat": NOW,
            "jti": "j-1",
            "ath": access_token_hash(TOKEN),
        })
    }

    fn check(proof: &str, nonces: Option<&DpopNonces>) -> Result<CheckedProof, AuthError> {
        let rules = ProofRules {
            algorithms: &[Algorithm::ES256, Algorithm::RS256],
            max_len: 4096,
            max_age: Duration::from_secs(300),
            leeway: Duration::from_secs(60),
            nonces,
        };
        let url = Url::parse("https://api.example.com/tasks").unwrap();
        let request = ProofRequest {
            method: "GET",
            url: &url,
            access_token: TOKEN,
            now: NOW,
        };
        check_proof(proof, &rules, &request)
    }

    fn refused(proof: &str) -> &'static str {
        match check(proof, None) {
            Ok(_) => "accepted",
            Err(e) => {
                assert_eq!(e.kind(), AuthErrorKind::InvalidDpopProof, "{e:?}");
                e.description()
            }
        }
    }

    fn with(mut value: Value, edits: &[(&str, Value)]) -> Value {
        for (name, v) in edits {
            if v.is_null() {
                value.as_object_mut().unwrap().remove(*name);
            } else {
                value[*name] = v.clone();
            }
        }
        value
    }

    #[test]
    fn a_good_proof_gives_its_key_thumbprint_and_jti() {
        let key = ProofKey::new();
        let checked = check(&key.sign(&key.header(), &claims()), None).unwrap();
        let jwk: Jwk = serde_json::from_value(key.jwk()).unwrap();
        assert_eq!(Some(checked.jkt), thumbprint(&jwk));
        assert_eq!(checked.jti, "j-1");
    }

    #[test]
    fn the_fuzzing_entry_takes_the_same_request() {
        let key = ProofKey::new();
        let proof = key.sign(&key.header(), &claims());
        assert!(crate::fuzzing::dpop_proof(proof.as_bytes()).is_ok());
        assert!(crate::fuzzing::dpop_proof(&[0xff, b'.', b'.']).is_err());
    }

    #[test]
    fn each_header_check_refuses() {
        let key = ProofKey::new();
        let good = claims();
        let sign = |header: Value| key.sign(&header, &good);
        let mut private = key.jwk();
        private["d"] = json!("AAAA");
        let cases = [
            (
                sign(with(key.header(), &[("typ", json!("JWT"))])),
                "typ is not dpop+jwt",
            ),
            (
                sign(with(key.header(), &[("typ", Value::Null)])),
                "typ is not dpop+jwt",
            ),
            (
                sign(with(key.header(), &[("alg", json!("none"))])),
                "alg is not accepted",
            ),
            (
                sign(with(key.header(), &[("alg", json!("HS256"))])),
                "alg is not accepted",
            ),
            (
                sign(with(key.header(), &[("alg", json!("ES384"))])),
                "alg is not accepted",
            ),
            (
                sign(with(key.header(), &[("alg", json!("RS256"))])),
                "not a valid key for its alg",
            ),
            (
                sign(with(key.header(), &[("jwk", Value::Null)])),
                "no jwk header",
            ),
            (
                sign(with(key.header(), &[("jwk", private)])),
                "not a public key",
            ),
            (
                sign(with(
                    key.header(),
                    &[("jwk", json!({"kty": "oct", "k": "AAAA"}))],
                )),
                "not a public key",
            ),
            (
                sign(with(key.header(), &[("crit", json!(["x"]))])),
                "critical",
            ),
            (
                sign(with(key.header(), &[("jwk", ProofKey::new().jwk())])),
                "signature does not verify",
            ),
        ];
        for (proof, expected) in cases {
            let got = refused(&proof);
            assert!(got.contains(expected), "{expected:?}: {got:?}");
        }
    }

    #[test]
    fn each_claim_check_refuses() {
        let key = ProofKey::new();
        let cases = [
            (with(claims(), &[("htm", json!("POST"))]), "another method"),
            (
                with(claims(), &[("htu", json!("https://api.example.com/other"))]),
                "another URL",
            ),
            (with(claims(), &[("iat", json!(NOW - 361))]), "too old"),
            (with(claims(), &[("iat", json!(NOW + 61))]), "in the future"),
            (with(claims(), &[("iat", json!(1.5))]), "malformed"),
            (
                with(claims(), &[("ath", Value::Null)]),
                "lacks the access token hash",
            ),
            (
                with(claims(), &[("ath", json!(access_token_hash("other")))]),
                "another access token",
            ),
            (
                with(claims(), &[("jti", Value::Null)]),
                "lacks htm, htu, iat or jti",
            ),
            (
                with(claims(), &[("jti", json!(""))]),
                "lacks htm, htu, iat or jti",
            ),
        ];
        for (claims, expected) in cases {
            let got = refused(&key.sign(&key.header(), &claims));
            assert!(got.contains(expected), "{expected:?}: {got:?}");
        }
        // Within the window and the leeway.
        for iat in [NOW - 360, NOW + 60] {
            let proof = key.sign(&key.header(), &with(claims(), &[("iat", json!(iat))]));
            assert!(check(&proof, None).is_ok(), "{iat}");
        }
        let query = with(
            claims(),
            &[("htu", json!("https://API.example.com/tasks?x#y"))],
        );
        assert!(check(&key.sign(&key.header(), &query), None).is_ok());
    }

    #[test]
    fn form_and_size() {
        let key = ProofKey::new();
        let good = key.sign(&key.header(), &claims());
        assert!(refused(&format!("{good}.x")).contains("compact"));
        assert!(refused("a.b").contains("compact"));
        assert!(refused("!.b.c").contains("header"));
        assert!(refused(&"a".repeat(4097)).contains("too large"));
        let (signed, _) = good.rsplit_once('.').unwrap();
        assert!(refused(&format!("{signed}.!!")).contains("signature is not base64url"));
    }

    #[test]
    fn nonces_are_asked_for_and_accepted() {
        let key = ProofKey::new();
        let nonces = DpopNonces::new(&[1; 32]).unwrap();
        let without = key.sign(&key.header(), &claims());
        let error = check(&without, Some(&nonces)).unwrap_err();
        assert_eq!(error.kind(), AuthErrorKind::UseDpopNonce);
        let nonce = error.dpop_nonce().unwrap().to_owned();
        let with_nonce = key.sign(&key.header(), &with(claims(), &[("nonce", json!(nonce))]));
        assert!(check(&with_nonce, Some(&nonces)).is_ok());
        let stale = key.sign(&key.header(), &with(claims(), &[("nonce", json!("AAAA"))]));
        assert_eq!(
            check(&stale, Some(&nonces)).unwrap_err().kind(),
            AuthErrorKind::UseDpopNonce
        );
    }
}
