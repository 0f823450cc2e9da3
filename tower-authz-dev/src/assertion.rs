//! RS256 JWT assertions signed with registered keys (RFC 7523): the
//! `private_key_jwt` client authentication of API applications and the
//! jwt-bearer grant of service accounts.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::clients::KeyUse;
use super::clock::unix_now;
use super::state::Shared;
use tower_authz::{Algorithm, JwtVerifier, Verifier};

/// The clock skew allowed on `iat` and `exp`, in seconds.
const SKEW: u64 = 1;
/// The oldest `iat` and the furthest `exp` accepted, in seconds from now.
const MAX_SPAN: u64 = 3600;
/// The largest assertion looked at.
const MAX_LEN: usize = 8 * 1024;

/// Verifies `assertion` and returns its owner (the client id or user id).
///
/// The `kid` header must name a key registered for `key_use`; the signature
/// must verify with it (RS256); `iss` and `sub` must both be the key's owner;
/// `aud` must be or contain the issuer URL; `exp` must be in the future and at
/// most an hour ahead; `iat` must be present and at most an hour old.
pub(super) fn verify(shared: &Shared, assertion: &str, key_use: KeyUse) -> Option<String> {
    let kid = header_kid(assertion)?;
    let registered = shared.registry.key(&kid, key_use)?;
    let verifier = JwtVerifier::new(registered.owner.clone(), shared.issuer())
        .with_algorithms([Algorithm::RS256])
        .with_leeway(Duration::from_secs(SKEW))
        .with_public_key_pem(&registered.key.public_key_pem(), Some(&kid))
        .ok()?;
    // Fixed keys: always answered at once.
    let claims = verifier.verify(assertion).into_ready()?.ok()?;
    if claims.subject() != Some(registered.owner.as_str()) {
        return None;
    }
    let now = unix_now();
    let (exp, iat) = (claims.expires_at()?, claims.issued_at()?);
    let fresh = exp <= now + MAX_SPAN + SKEW && iat + MAX_SPAN + SKEW >= now && iat <= now + SKEW;
    fresh.then_some(registered.owner)
}

/// The `kid` header of a compact JWS, read without verifying anything.
fn header_kid(token: &str) -> Option<String> {
    if token.len() > MAX_LEN {
        return None;
    }
    let (header, _) = token.split_once('.')?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}
