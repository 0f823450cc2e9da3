//! The layer's DPoP path (RFC 9449 §7), taken only when the layer has a
//! [`DpopPolicy`](crate::DpopPolicy): the proof is checked, the token verified by the verifier as a
//! bearer token would be, and then tied to the proof's key (or, for a bearer token, checked not
//! to be bound). Every refusal carries the layer's `DPoP` challenge.

use std::sync::Arc;

use http::request::Parts;

use super::Settings;
use super::service::find_token;
use crate::claims::Claims;
use crate::dpop::{DpopCheck, DpopMode, dpop_credentials};
use crate::error::AuthError;
use crate::verifier::Verification;

/// The verification of the request's token under `check`: `Ok(None)` when it has no token.
pub(super) fn verify<R>(
    settings: &Settings<R>,
    check: &Arc<DpopCheck>,
    parts: &Parts,
) -> Result<Option<Verification>, AuthError> {
    if let Some(credentials) =
        dpop_credentials(parts, settings.max_token_len).map_err(|e| check.challenge(e, false))?
    {
        let proof = check
            .check_proof(parts, credentials)
            .map_err(|e| check.challenge(e, false))?;
        let verification = settings.verifier.verify(credentials.token);
        return Ok(Some(then(
            verification,
            check,
            false,
            move |check, claims| check.bind(claims, &proof),
        )));
    }
    let Some(token) = find_token(settings, parts).map_err(|e| check.challenge(e, true))? else {
        return Ok(None);
    };
    if check.mode() == DpopMode::Required {
        return Err(check.challenge(
            AuthError::invalid_token("this resource requires a DPoP-bound token and a DPoP proof"),
            false,
        ));
    }
    let verification = settings.verifier.verify(token);
    Ok(Some(then(verification, check, true, DpopCheck::unbound)))
}

/// `verification` followed by `next`, its refusals with the challenge.
fn then(
    verification: Verification,
    check: &Arc<DpopCheck>,
    used_bearer: bool,
    next: impl FnOnce(&DpopCheck, Claims) -> Result<Claims, AuthError> + Send + 'static,
) -> Verification {
    match verification {
        Verification::Ready(result) => Verification::Ready(
            result
                .and_then(|claims| next(check, claims))
                .map_err(|e| check.challenge(e, used_bearer)),
        ),
        Verification::Pending(pending) => {
            let check = Arc::clone(check);
            Verification::pending(async move {
                pending
                    .await
                    .and_then(|claims| next(&check, claims))
                    .map_err(|e| check.challenge(e, used_bearer))
            })
        }
    }
}
