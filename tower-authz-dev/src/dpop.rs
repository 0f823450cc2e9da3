//! DPoP proofs at the token endpoint (RFC 9449 §4.3, §5): the checks, the replay cache of
//! `jti`s, and the optional server nonce (§8).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use tower_authz::dpop::jwk_thumbprint;

use super::clock::unix_now;
use super::key::random_b64;

/// The proof algorithms accepted, as advertised in `dpop_signing_alg_values_supported`.
pub(super) const ALGORITHMS: [&str; 3] = ["ES256", "EdDSA", "RS256"];
/// How far a proof's `iat` may be from now, either way (seconds).
const IAT_WINDOW: u64 = 60;
/// The most `jti`s remembered; past it the cache is emptied (a dev issuer, not a fortress).
const MAX_JTIS: usize = 10_000;

/// Why a proof is refused: `invalid_dpop_proof`, or `use_dpop_nonce` with the nonce to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    Invalid(&'static str),
    UseNonce(String),
}

/// The seen `jti`s and the nonce mode.
#[derive(Debug, Default)]
pub(super) struct DpopState {
    /// `jti` → its proof's `iat`.
    seen: Mutex<HashMap<String, u64>>,
    /// With `Some`, proofs must carry this nonce.
    nonce: Mutex<Option<String>>,
}

impl DpopState {
    /// Turns the nonce mode on (a new nonce) or off.
    pub(super) fn require_nonce(&self, on: bool) {
        let nonce = on.then(|| random_b64::<16>().unwrap_or_else(|_| "dev-nonce".to_owned()));
        *self.nonce.lock().unwrap_or_else(PoisonError::into_inner) = nonce;
    }

    /// The nonce proofs must carry, if the mode is on.
    pub(super) fn nonce(&self) -> Option<String> {
        self.nonce
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Checks the request's `DPoP` header, if any, for a `POST` to `htu`: `Ok(None)` without
    /// one, `Ok(Some(jkt))` (the thumbprint of the proof key) for a good one.
    pub(super) fn check(&self, headers: &HeaderMap, htu: &str) -> Result<Option<String>, Refusal> {
        let mut proofs = headers.get_all("dpop").iter();
        let Some(proof) = proofs.next() else {
            return Ok(None);
        };
        if proofs.next().is_some() {
            return Err(Refusal::Invalid("more than one DPoP header"));
        }
        let proof = proof.to_str().map_err(|_| Refusal::Invalid("not a JWT"))?;
        let (header, claims, jkt) = verify(proof)?;
        let _ = header;
        if claims.get("htm").and_then(Value::as_str) != Some("POST") {
            return Err(Refusal::Invalid("htm is not POST"));
        }
        let claimed_htu = claims
            .get("htu")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if without_query(claimed_htu) != without_query(htu) {
            return Err(Refusal::Invalid("htu is not the token endpoint"));
        }
        let now = unix_now();
        let iat = claims
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or(Refusal::Invalid("no iat"))?;
        if iat.abs_diff(now) > IAT_WINDOW {
            return Err(Refusal::Invalid("iat is outside the window"));
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|jti| !jti.is_empty() && jti.len() <= 256)
            .ok_or(Refusal::Invalid("no jti"))?;
        if let Some(nonce) = self.nonce()
            && claims.get("nonce").and_then(Value::as_str) != Some(nonce.as_str())
        {
            return Err(Refusal::UseNonce(nonce));
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.retain(|_, iat| iat.abs_diff(now) <= IAT_WINDOW);
        if seen.len() >= MAX_JTIS {
            seen.clear();
        }
        if seen.insert(jti.to_owned(), iat).is_some() {
            return Err(Refusal::Invalid("the proof was used before"));
        }
        Ok(Some(jkt))
    }

    /// The `DPoP-Nonce` header to send with every token answer, in nonce mode.
    pub(super) fn nonce_header(&self) -> Option<HeaderValue> {
        self.nonce()
            .and_then(|nonce| HeaderValue::try_from(nonce).ok())
    }
}

fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

/// The proof's header and claims, and the thumbprint of its key, if it is a `dpop+jwt` signed
/// with an accepted algorithm by the public key in its `jwk` header.
fn verify(proof: &str) -> Result<(Value, Value, String), Refusal> {
    let invalid = Refusal::Invalid;
    let mut parts = proof.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a JWT"));
    };
    let json = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let (Some(head), Some(body)) = (json(header), json(claims)) else {
        return Err(invalid("not a JWT"));
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| invalid("not a JWT"))?;
    if head.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(invalid("typ is not dpop+jwt"));
    }
    let alg = head.get("alg").and_then(Value::as_str).unwrap_or_default();
    if !ALGORITHMS.contains(&alg) {
        return Err(invalid("alg is not an accepted asymmetric algorithm"));
    }
    let jwk = head.get("jwk").ok_or(invalid("no jwk"))?;
    let key = public_key(jwk, alg).ok_or(invalid("the jwk is not a public key for alg"))?;
    let input = format!("{header}.{claims}");
    let verified = match alg {
        "ES256" => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key.point)
            .verify(input.as_bytes(), &signature),
        "EdDSA" => {
            UnparsedPublicKey::new(&ED25519, &key.point).verify(input.as_bytes(), &signature)
        }
        _ => RsaPublicKeyComponents {
            n: &key.n,
            e: &key.e,
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &signature),
    };
    verified.map_err(|_| invalid("bad signature"))?;
    let jkt = jwk_thumbprint(jwk).ok_or(invalid("the jwk has no RFC 7638 thumbprint"))?;
    Ok((head, body, jkt))
}

/// A public key's bytes: an EC point or Ed25519 key, or an RSA modulus and exponent.
#[derive(Default)]
struct PublicKey {
    point: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
}

/// The key of `jwk`, if it is a public key of `alg`'s type (no private member).
fn public_key(jwk: &Value, alg: &str) -> Option<PublicKey> {
    let jwk = jwk.as_object()?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|private| jwk.contains_key(*private))
    {
        return None;
    }
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    let bytes = |name: &str| URL_SAFE_NO_PAD.decode(member(name)?).ok();
    match (alg, member("kty")?) {
        ("ES256", "EC") if member("crv")? == "P-256" => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            Some(PublicKey {
                point: [&[4u8][..], &x, &y].concat(),
                ..Default::default()
            })
        }
        ("EdDSA", "OKP") if member("crv")? == "Ed25519" => Some(PublicKey {
            point: bytes("x")?,
            ..Default::default()
        }),
        ("RS256", "RSA") => Some(PublicKey {
            n: bytes("n")?,
            e: bytes("e")?,
            ..Default::default()
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tower_authz::client::DpopKey;

    use super::*;

    fn headers(proof: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("dpop", HeaderValue::from_str(proof).expect("header"));
        headers
    }

    const HTU: &str = "http://127.0.0.1:1/oauth/v2/token";

    #[test]
    fn good_proofs_give_the_key_thumbprint_and_bad_ones_are_refused() {
        let state = DpopState::default();
        let key = DpopKey::generate().expect("key");
        let proof = key.proof("POST", HTU, None, None).expect("proof");
        assert_eq!(
            state.check(&headers(&proof), HTU),
            Ok(Some(key.thumbprint().to_owned()))
        );
        assert_eq!(
            state.check(&headers(&proof), HTU),
            Err(Refusal::Invalid("the proof was used before"))
        );
        assert_eq!(state.check(&HeaderMap::new(), HTU), Ok(None));
        let wrong_htm = key.proof("GET", HTU, None, None).expect("proof");
        assert!(state.check(&headers(&wrong_htm), HTU).is_err());
        let wrong_htu = key
            .proof("POST", "http://127.0.0.1:1/other", None, None)
            .expect("proof");
        assert!(state.check(&headers(&wrong_htu), HTU).is_err());
        let tampered = format!("{}x", key.proof("POST", HTU, None, None).expect("proof"));
        assert!(state.check(&headers(&tampered), HTU).is_err());
        for garbage in ["", "a.b", "a.b.c", "..."] {
            assert!(state.check(&headers(garbage), HTU).is_err(), "{garbage}");
        }
        let mut private = json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"});
        assert!(public_key(&private, "ES256").is_none());
        private.as_object_mut().expect("object").remove("d");
        assert!(
            public_key(&private, "RS256").is_none(),
            "kty must match alg"
        );
    }

    #[test]
    fn the_nonce_mode_asks_for_the_nonce() {
        let state = DpopState::default();
        state.require_nonce(true);
        let nonce = state.nonce().expect("a nonce");
        let key = DpopKey::generate().expect("key");
        let without = key.proof("POST", HTU, None, None).expect("proof");
        assert_eq!(
            state.check(&headers(&without), HTU),
            Err(Refusal::UseNonce(nonce.clone()))
        );
        let with = key.proof("POST", HTU, None, Some(&nonce)).expect("proof");
        assert!(state.check(&headers(&with), HTU).is_ok());
    }
}
