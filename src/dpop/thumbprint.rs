//! Hashes that bind a proof to a key and a token: the RFC 7638 JWK SHA-256 thumbprint (the
//! token's `cnf.jkt`) and the proof's `ath` (RFC 9449 §4.2).

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use serde::Deserialize as _;

/// The RFC 7638 SHA-256 thumbprint of a public `jwk`, base64url without padding; `None` for a
/// key type without one here (`oct`, other curves) or members that are not plain base64url (the
/// thumbprint is over the members as sent, so padding would give another one).
pub(crate) fn thumbprint(jwk: &Jwk) -> Option<String> {
    // The required members only, in lexicographic order, without whitespace (RFC 7638 §3).
    let canonical = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) => {
            let crv = match ec.curve {
                EllipticCurve::P256 => "P-256",
                EllipticCurve::P384 => "P-384",
                EllipticCurve::P521 => "P-521",
                _ => return None,
            };
            check(&[&ec.x, &ec.y])?;
            format!(
                r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                ec.x, ec.y
            )
        }
        AlgorithmParameters::RSA(rsa) => {
            check(&[&rsa.e, &rsa.n])?;
            format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, rsa.e, rsa.n)
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            check(&[&okp.x])?;
            format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, okp.x)
        }
        _ => return None,
    };
    Some(sha256_base64url(canonical.as_bytes()))
}

/// The RFC 7638 SHA-256 thumbprint of a JWK given as JSON (public or private: only the
/// public members count), base64url without padding: what a DPoP-bound token carries as
/// `cnf.jkt`. The one implementation of the crate: the layer's proof checks, the client's
/// `client::DpopKey::thumbprint` (feature `client`) and the development issuer use
/// it. `None` for a key that is not RSA, EC (P-256, P-384, P-521) or Ed25519, or whose
/// members are malformed.
///
/// ```
/// use serde_json::json;
/// use tower_authz::dpop::jwk_thumbprint;
///
/// // The proof key of RFC 9449 §4.1 and its `jkt` in §6.1.
/// let jwk = json!({
///     "kty": "EC",
///     "crv": "P-256",
///     "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
///     "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
/// });
/// assert_eq!(
///     jwk_thumbprint(&jwk).as_deref(),
///     Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
/// );
/// ```
pub fn jwk_thumbprint(jwk: &serde_json::Value) -> Option<String> {
    thumbprint(&Jwk::deserialize(jwk).ok()?)
}

/// The `ath` a proof must carry for `access_token`: base64url(SHA-256(token)).
pub(crate) fn access_token_hash(access_token: &str) -> String {
    sha256_base64url(access_token.as_bytes())
}

fn sha256_base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, bytes))
}

/// `Some` if every member is non-empty base64url without padding.
fn check(members: &[&String]) -> Option<()> {
    members
        .iter()
        .all(|m| {
            !m.is_empty()
                && m.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(value: serde_json::Value) -> Jwk {
        serde_json::from_value(value).expect("a JWK")
    }

    #[test]
    fn rfc7638_example() {
        // RFC 7638 §3.1, through the public function (the JSON a client or issuer has).
        let key = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(&key).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn rfc9449_example_key() {
        // The proof key of RFC 9449 §4.1 and its `jkt` in §6.1.
        let key = jwk(serde_json::json!({
            "kty": "EC",
            "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
            "crv": "P-256"
        }));
        assert_eq!(
            thumbprint(&key).as_deref(),
            Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
        );
    }

    #[test]
    fn padded_members_and_symmetric_keys_have_none() {
        let padded = jwk(serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AA=="}));
        assert_eq!(thumbprint(&padded), None);
        let oct = jwk(serde_json::json!({"kty": "oct", "k": "AAAA"}));
        assert_eq!(thumbprint(&oct), None);
    }

    #[test]
    fn ath_of_the_rfc9449_example_token() {
        // RFC 9449 §7.1: the access token `Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU`.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
