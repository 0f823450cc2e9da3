//! DPoP, the resource-server side (RFC 9449): access tokens bound to a key the client holds,
//! each request signed with that key.
//!
//! The client sends `Authorization: DPoP <token>` and one `DPoP` header, a proof JWT made for
//! this request. With [`AuthLayer::with_dpop`](crate::AuthLayer::with_dpop), the layer checks the
//! proof (RFC 9449 §4.3), verifies the token with its verifier as for a bearer token, and then
//! checks that the token is bound to the proof's key: the token's `cnf.jkt` (in a JWT, or in the
//! introspection answer) must be the RFC 7638 thumbprint of the proof's `jwk`. Spring
//! Security's `DPoPAuthenticationProvider` works the same way: verifiers see only the token.
//!
//! The proof must be:
//! - a compact JWS of at most [`with_max_proof_len`](DpopPolicy::with_max_proof_len) bytes,
//!   with `typ` `dpop+jwt`, no `crit`, an `alg` of the policy (asymmetric only; never `none` or
//!   `HS*`) that the key's type allows, and a `jwk` that is a public key (no `d`, `p`, `q`,
//!   `dp`, `dq`, `qi`, `oth` or `k`), which its signature verifies with;
//! - for this request: `htm` its method, `htu` its URL without query and fragment (see
//!   [`with_public_url`](DpopPolicy::with_public_url)), `ath` the hash of its access token;
//! - recent: `iat` at most [`with_max_age`](DpopPolicy::with_max_age) old and not in the
//!   future, give or take the [`with_leeway`](DpopPolicy::with_leeway);
//! - new: its `jti` not seen before for that key while it could be accepted (a bounded replay
//!   cache, per layer: replicas do not share it; with server nonces, a proof is only good for a
//!   nonce's lifetime anyway);
//! - with a recent server nonce, when the policy has [`DpopNonces`].
//!
//! What each refusal answers (the `error_description` says which check failed):
//!
//! | refusal | status | `WWW-Authenticate` (policy `required`; `allowed` puts `Bearer, ` before it) |
//! |---|---|---|
//! | no token | 401 | `DPoP algs="..."` |
//! | proof missing, two `DPoP` headers, malformed, wrong `typ`/`alg`/`jwk`, bad signature, wrong `htm`/`htu`/`ath`, `iat` too old or in the future, replayed, signed by another key than `cnf.jkt` | 401 | `DPoP algs="...", error="invalid_dpop_proof"` |
//! | nonces on and the proof lacks the current one | 401, `DPoP-Nonce: <nonce>` | `DPoP algs="...", error="use_dpop_nonce"` |
//! | bad or expired token; `DPoP` scheme with a token that has no `cnf.jkt` | 401 | `DPoP algs="...", error="invalid_token"` |
//! | policy `required`, a bearer token | 401 | `DPoP algs="...", error="invalid_token"` |
//! | policy `allowed`, a DPoP-bound token (`cnf.jkt`) sent as `Bearer` | 401 | `Bearer error="invalid_token", ..., DPoP algs="..."` |
//! | two `Authorization` headers, no `Host` | 400 | `... error="invalid_request"` |
//!
//! gRPC requests get `UNAUTHENTICATED` (and the `dpop-nonce` header for a nonce). Refusals
//! made behind the layer (roles, scopes, policies) keep their `Bearer` challenges.

mod check;
mod htu;
mod nonce;
mod policy;
mod proof;
mod replay;
mod request;
mod thumbprint;

pub(crate) use check::DpopCheck;
pub use nonce::DpopNonces;
pub use policy::{DpopMode, DpopPolicy};
pub(crate) use request::dpop_credentials;
#[cfg(feature = "client")]
pub(crate) use thumbprint::access_token_hash;
pub use thumbprint::jwk_thumbprint;

#[cfg(any(test, fuzzing))]
pub(crate) use proof::{ProofRequest, ProofRules, check_proof};
