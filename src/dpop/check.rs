//! [`DpopCheck`]: a layer's [`DpopPolicy`] made ready for requests (its replay cache and the
//! `algs` of its challenges), and the checks that tie a proof, a token and the request.

use std::sync::Arc;

use http::request::Parts;

use super::htu::request_url;
use super::policy::{DpopMode, DpopPolicy};
use super::proof::{CheckedProof, ProofRequest, ProofRules, check_proof};
use super::replay::ReplayCache;
use super::request::DpopCredentials;
use crate::claims::Claims;
use crate::error::AuthError;

/// The DPoP side of a layer: the policy, the replay cache and the challenge's `algs`.
#[derive(Clone)]
pub(crate) struct DpopCheck {
    policy: DpopPolicy,
    algs: Arc<str>,
    replay: ReplayCache,
}

impl std::fmt::Debug for DpopCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.policy.fmt(f)
    }
}

impl DpopCheck {
    pub(crate) fn new(policy: DpopPolicy) -> Self {
        // A `jti` is remembered as long as its proof could be accepted: `iat` up to the
        // leeway ahead and up to max age plus leeway behind.
        let lifetime = policy.max_age + policy.leeway * 2;
        Self {
            algs: policy.algs_param().into(),
            replay: ReplayCache::new(policy.replay_capacity, lifetime),
            policy,
        }
    }

    pub(crate) fn mode(&self) -> DpopMode {
        self.policy.mode
    }

    /// Checks the proof of `credentials` against the request (everything but the token's
    /// binding and the replay, which wait for the token's claims).
    pub(crate) fn check_proof(
        &self,
        parts: &Parts,
        credentials: DpopCredentials<'_>,
    ) -> Result<CheckedProof, AuthError> {
        let policy = &self.policy;
        let url = request_url(parts, policy.public_url.as_ref()).ok_or_else(|| {
            AuthError::invalid_request("the request's URL cannot be told (no valid Host)")
        })?;
        let rules = ProofRules {
            algorithms: &policy.algorithms,
            max_len: policy.max_proof_len,
            max_age: policy.max_age,
            leeway: policy.leeway,
            nonces: policy.nonces.as_ref(),
        };
        let request = ProofRequest {
            method: parts.method.as_str(),
            url: &url,
            access_token: credentials.token,
            now: crate::clock::now(),
        };
        check_proof(credentials.proof, &rules, &request)
    }

    /// The claims of a token sent with `proof`, if the token is bound to the proof's key
    /// (`cnf.jkt`) and the proof was not used before.
    pub(crate) fn bind(&self, claims: Claims, proof: &CheckedProof) -> Result<Claims, AuthError> {
        match bound_key(&claims) {
            None => Err(AuthError::invalid_token(
                "the token is not DPoP-bound (no cnf.jkt)",
            )),
            Some(jkt) if jkt != proof.jkt => Err(AuthError::invalid_dpop_proof(
                "the DPoP proof is signed by another key than the token is bound to",
            )),
            // Last, so that a proof is spent only by a request that passes everything else.
            Some(_) if !self.replay.first_use(&proof.jkt, &proof.jti) => Err(
                AuthError::invalid_dpop_proof("the DPoP proof was used before (jti)"),
            ),
            Some(_) => Ok(claims),
        }
    }

    /// The claims of a token sent as a bearer token, if it is not DPoP-bound (RFC 9449 §7.1).
    pub(crate) fn unbound(&self, claims: Claims) -> Result<Claims, AuthError> {
        match bound_key(&claims) {
            Some(_) => Err(AuthError::invalid_token(
                "the token is DPoP-bound: send it with Authorization: DPoP and a proof",
            )),
            None => Ok(claims),
        }
    }

    /// `error` with this layer's challenge: `DPoP algs=...`, after `Bearer` when bearer tokens
    /// are allowed; the error in the `Bearer` one when the request `used_bearer`.
    pub(crate) fn challenge(&self, error: AuthError, used_bearer: bool) -> AuthError {
        let allowed = self.policy.mode == DpopMode::Allowed;
        error.with_dpop_challenge(&self.algs, allowed, used_bearer)
    }
}

/// The `cnf.jkt` of a token's claims (a JWT's, or an introspection answer's, RFC 9449 §6).
fn bound_key(claims: &Claims) -> Option<&str> {
    claims.cnf_jkt()
}
