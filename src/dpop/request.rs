//! The DPoP credentials of a request: `Authorization: DPoP <token>` and its one `DPoP` header
//! (RFC 9449 §7.1, §4.1).

use http::request::Parts;

use crate::error::AuthError;
use crate::token::{DPOP as DPOP_SCHEME, authorization, parse_token};

/// The `DPoP` request header.
const DPOP: http::HeaderName = http::HeaderName::from_static("dpop");

/// The access token and the proof of a request that uses the `DPoP` scheme.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DpopCredentials<'a> {
    pub(crate) token: &'a str,
    pub(crate) proof: &'a str,
}

/// The DPoP credentials, `None` when the request does not use the `DPoP` scheme; a token over
/// `max_token_len` bytes is refused before its syntax is scanned.
pub(crate) fn dpop_credentials(
    parts: &Parts,
    max_token_len: usize,
) -> Result<Option<DpopCredentials<'_>>, AuthError> {
    let Some(value) = authorization(parts)? else {
        return Ok(None);
    };
    let Some(token) = parse_token(value, &DPOP_SCHEME, max_token_len)? else {
        return Ok(None);
    };
    let mut proofs = parts.headers.get_all(DPOP).iter();
    let proof = match (proofs.next(), proofs.next()) {
        (None, _) => {
            return Err(AuthError::invalid_dpop_proof(
                "the request has no DPoP proof",
            ));
        }
        // RFC 9449 §4.3 item 1: a request with two proofs fails the check.
        (Some(_), Some(_)) => {
            return Err(AuthError::invalid_dpop_proof(
                "the request has more than one DPoP header",
            ));
        }
        (Some(proof), None) => proof
            .to_str()
            .map_err(|_| AuthError::invalid_dpop_proof("the DPoP proof is not a compact JWS"))?,
    };
    Ok(Some(DpopCredentials { token, proof }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AuthErrorKind;
    use crate::test_support::parts;

    fn kind(headers: &[(&str, &str)]) -> Result<Option<(String, String)>, AuthErrorKind> {
        dpop_credentials(&parts(headers), 64)
            .map(|c| c.map(|c| (c.token.to_owned(), c.proof.to_owned())))
            .map_err(|e| e.kind())
    }

    #[test]
    fn reads_the_scheme_and_one_proof() {
        let ok = Ok(Some(("tok.en".to_owned(), "a.b.c".to_owned())));
        assert_eq!(
            kind(&[("authorization", "DPoP tok.en"), ("dpop", "a.b.c")]),
            ok
        );
        assert_eq!(
            kind(&[("authorization", "dpop  tok.en "), ("dpop", "a.b.c")]),
            ok
        );
        assert_eq!(
            kind(&[("authorization", "Bearer tok.en"), ("dpop", "a.b.c")]),
            Ok(None)
        );
        assert_eq!(kind(&[("authorization", "DPoPx tok")]), Ok(None));
        assert_eq!(kind(&[]), Ok(None));
    }

    #[test]
    fn refusals() {
        use AuthErrorKind::*;
        let long = format!("DPoP {}", "a".repeat(65));
        let cases: [(&[(&str, &str)], AuthErrorKind); 6] = [
            (&[("authorization", "DPoP tok")], InvalidDpopProof),
            (
                &[("authorization", "DPoP tok"), ("dpop", "a"), ("dpop", "b")],
                InvalidDpopProof,
            ),
            (&[("authorization", "DPoP"), ("dpop", "a")], InvalidToken),
            (
                &[("authorization", "DPoP t!k"), ("dpop", "a")],
                InvalidToken,
            ),
            (
                &[("authorization", "DPoP a"), ("authorization", "DPoP b")],
                InvalidRequest,
            ),
            // Over the cap: refused before the proof is looked at.
            (&[("authorization", long.as_str())], InvalidToken),
        ];
        for (headers, expected) in cases {
            assert_eq!(kind(headers), Err(expected), "{headers:?}");
        }
    }
}
