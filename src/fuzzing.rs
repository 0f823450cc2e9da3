//! Entry points into every parser that a request or an identity provider can reach, for the
//! fuzz targets under `fuzz/` (compiled with `--cfg fuzzing`, which cargo-fuzz sets, and in the
//! unit tests). Not a public API.
//!
//! Each function takes raw bytes and must return (an `Ok` or a typed error) for any input:
//! never panic, never hang.

use std::sync::OnceLock;

use http::request::Parts;

use crate::claims::Claims;
use crate::error::{AuthError, ConfigError};
use crate::token::TokenSource;
use crate::verifier::{JwtVerifier, Verifier};

/// The `Authorization` header value through the bearer token source.
pub fn bearer_header(value: &[u8]) -> Result<Option<String>, AuthError> {
    crate::token::parse_bearer(value, crate::verifier::jwt_core::DEFAULT_MAX_TOKEN_LEN)
        .map(|token| token.map(str::to_owned))
}

/// A `Cookie` header through the cookie token source for `app.at`.
pub fn cookie_header(value: &[u8]) -> Result<Option<String>, AuthError> {
    let Ok(value) = http::HeaderValue::from_bytes(value) else {
        return Ok(None);
    };
    let parts = request_with(http::header::COOKIE, value);
    TokenSource::cookie("app.at")
        .extract(&parts, usize::MAX)
        .map(|token| token.map(str::to_owned))
}

fn request_with(name: http::HeaderName, value: http::HeaderValue) -> Parts {
    let mut parts = http::Request::new(()).into_parts().0;
    parts.headers.insert(name, value);
    parts
}

/// A token through a fixed-key JWT verifier (an HMAC secret and an Ed25519 key), with the
/// verified-token cache off so that every input takes the whole path.
pub fn jwt(token: &[u8]) -> Result<Claims, AuthError> {
    static VERIFIER: OnceLock<Option<JwtVerifier>> = OnceLock::new();
    let verifier = VERIFIER.get_or_init(|| {
        JwtVerifier::new("https://issuer.example", "api")
            .with_hmac_secret(b"fuzzing-secret-fuzzing-secret-32")
            .and_then(|v| {
                v.with_jwk(
                    r#"{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
                )
            })
            .map(JwtVerifier::without_verified_cache)
            .ok()
    });
    let token = std::str::from_utf8(token)
        .map_err(|_| AuthError::invalid_token("the token is not UTF-8"))?;
    match verifier {
        // Fixed keys always answer at once.
        Some(verifier) => verifier
            .verify(token)
            .into_ready()
            .unwrap_or_else(|| Err(AuthError::upstream("fixed keys never wait"))),
        None => Err(AuthError::invalid_token("no verifier")),
    }
}

/// A `DPoP` proof header value, checked for `GET https://api.example.com/tasks` with the
/// access token `the.access.token` at the fixed time 1 800 000 000 (so that a seed made for that
/// request reaches every check): the proof key's thumbprint, or why it is refused.
pub fn dpop_proof(proof: &[u8]) -> Result<String, AuthError> {
    use std::time::Duration;

    use crate::dpop::{ProofRequest, ProofRules, check_proof};
    use crate::verifier::Algorithm;

    static URL: OnceLock<Option<reqwest::Url>> = OnceLock::new();
    let Some(url) = URL.get_or_init(|| reqwest::Url::parse("https://api.example.com/tasks").ok())
    else {
        return Err(AuthError::invalid_request("no URL"));
    };
    let proof = std::str::from_utf8(proof)
        .map_err(|_| AuthError::invalid_dpop_proof("the DPoP proof is not UTF-8"))?;
    let rules = ProofRules {
        algorithms: &[
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::EdDSA,
        ],
        max_len: 4096,
        max_age: Duration::from_secs(300),
        leeway: Duration::from_secs(60),
        nonces: None,
    };
    let request = ProofRequest {
        method: "GET",
        url,
        access_token: "the.access.token",
        now: 1_800_000_000,
    };
    check_proof(proof, &rules, &request).map(|checked| checked.jkt)
}

/// A JWKS document: the number of usable keys, or why the document is refused.
pub fn jwks_document(document: &[u8]) -> Result<usize, ConfigError> {
    let value = serde_json::from_slice(document).map_err(|e| {
        ConfigError::new(crate::ConfigErrorKind::InvalidKey, "not JSON").with_source(e)
    })?;
    crate::verifier::keys::KeySet::from_jwks(&value).map(|(keys, _)| keys.len())
}

/// An introspection answer, judged as `IntrospectionVerifier` does.
#[cfg(feature = "introspection")]
pub fn introspection_answer(answer: &[u8]) -> Result<Claims, AuthError> {
    crate::verifier::judge_introspection_answer(answer)
}

/// A ZITADEL key file, application and service-account forms.
#[cfg(any(feature = "client", feature = "introspection"))]
pub fn key_file(contents: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(contents) else {
        return false;
    };
    crate::ApplicationKey::from_json(text).is_ok()
        | crate::ServiceAccountKey::from_json(text).is_ok()
}

/// A back-channel logout request's form body (`logout_token=...`), verified with the fixed keys
/// of [`jwt`] as the client `api`: what it revoked, or why it was refused. Fixed keys answer at
/// once, so the endpoint's future completes without waiting.
pub fn logout_form(form: &[u8]) -> Result<crate::Revocation, crate::LogoutError> {
    static ENDPOINT: OnceLock<Option<(crate::BackChannelLogout, tokio::runtime::Runtime)>> =
        OnceLock::new();
    let endpoint = ENDPOINT.get_or_init(|| {
        let keys = JwtVerifier::new("https://issuer.example", "api")
            .with_hmac_secret(b"fuzzing-secret-fuzzing-secret-32")
            .ok()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .ok()?;
        Some((
            crate::BackChannelLogout::new(keys, crate::Revocations::new()),
            runtime,
        ))
    });
    match endpoint {
        Some((endpoint, runtime)) => runtime.block_on(endpoint.receive_form(form)),
        None => Err(crate::LogoutError::new(
            crate::LogoutErrorKind::InvalidRequest,
            "no endpoint",
        )),
    }
}
