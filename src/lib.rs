//! # tower-authz
//!
//! Protects [axum](https://docs.rs/axum) and [tonic](https://docs.rs/tonic) services (any
//! `tower` service over `http` requests) with OAuth 2.0 / OpenID Connect access tokens from
//! ZITADEL, Microsoft Entra, FusionAuth, Keycloak, Auth0 or any OIDC issuer.
//!
//! A request flows one way: a [`TokenSource`] finds the token (the `Authorization: Bearer`
//! header or a cookie), a [`Verifier`] checks it ([`JwksVerifier`], [`JwtVerifier`],
//! [`MultiIssuer`] or your own), the [`Claims`] go into the request extensions (with roles read
//! through a [`RoleSource`]), and the [`AuthLayer`] either passes the request on or answers
//! 400/401/403/503 per RFC 6750 (gRPC status codes for gRPC requests). Authorization then runs
//! in the router: [`policy`] rules (roles, scopes, "scope or app role", predicates on the request,
//! look-ups, step-up, a rule per gRPC method) applied with the [`require`] layer or the
//! [`policy::Authorized`] extractor, and the shorthands [`require_role`], [`RequireRole`], ...
//!
//! Every refusal, the layer's, the require layers' and the extractors', is answered by the
//! responder the `AuthLayer` was given: [`Rfc6750`] (empty bodies, the default),
//! [`ProblemDetails`] (an RFC 9457 `application/problem+json` body beside the same challenge),
//! or your own ([`ResponseForAuthError`]), with the [`AuthError`] in the response's extensions.
//!
//! DPoP-bound tokens (RFC 9449, sender-constrained: `Authorization: DPoP` with a proof signed by
//! the key in the token's `cnf.jkt`) are accepted, required or allowed beside bearer tokens,
//! with [`AuthLayer::with_dpop`] and a [`DpopPolicy`]; see [`dpop`] for the checks and answers.
//!
//! Tokens stop working before their `exp` when a user logs out or a session ends: wrap the
//! verifier in [`Revocable`] with the service's [`Revocations`], mount [`BackChannelLogout`]
//! where the provider sends its OpenID Connect back-channel logout tokens, and call
//! [`Revocations::revoke_subject`] (or `revoke_session`, `revoke_token`) from your own logout
//! endpoint; with a [`RevocationStore`] (Redis, feature `redis`) every replica refuses them
//! within milliseconds.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_authz::{AuthLayer, JwksVerifier, ProblemDetails, require_role};
//!
//! let verifier = JwksVerifier::discover("https://my-instance.zitadel.cloud", "my-api").unwrap();
//! let app: Router = Router::new()
//!     .route("/admin", get(|| async { "hello, admin" }))
//!     .route_layer(require_role("admin"))
//!     // A 403 from `require_role` is problem+json too, with `realm="api"` in its challenge.
//!     .layer(AuthLayer::new(verifier).with_response(ProblemDetails::default()).with_realm("api"));
//! ```
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_authz::{AuthLayer, Claims, JwksVerifier, require_role};
//!
//! let verifier = JwksVerifier::discover("https://my-instance.zitadel.cloud", "my-api").unwrap();
//! let app: Router = Router::new()
//!     .route("/admin", get(|| async { "hello, admin" }))
//!     .route_layer(require_role("admin"))
//!     .route("/whoami", get(|claims: Claims| async move { format!("{:?}", claims.subject()) }))
//!     .layer(AuthLayer::new(verifier));
//! ```
//!
//! Security defaults follow RFC 8725: the algorithm must suit the key's type (`none` and HMAC
//! with a public key are impossible), `kid` is resolved only in the configured key set (`jku`,
//! `x5u`, `jwk` and `x5c` headers are ignored), unknown `crit` is refused, `exp` is required,
//! `iss` and `aud` are checked with 60 s of leeway on times, and tokens over 8 KiB are refused
//! before anything else.
//!
//! The provider is reached over `https://` only (like ASP.NET Core's `RequireHttpsMetadata`):
//! a plain `http://` issuer, JWKS, introspection or token endpoint is refused at construction
//! unless its host is a loopback address or it is given as [`ProviderUrl::allow_insecure_http`],
//! and an `https://` issuer's discovery document cannot name an `http://` endpoint. A POST to
//! the provider follows no redirect; a GET follows at most 3, within its origin.
//!
//! Nothing is fetched at construction: keys and discovery load on the first request, or before
//! serving with [`JwksVerifier::fetch_keys`] (fail fast). A [`ReadinessCheck`] taken from a
//! verifier answers a `/readyz` probe (200 while keys are held within their stale limit, 503
//! before the first load and past it); see [`readiness`]. Discovery reads RFC 8414 or OpenID
//! Connect metadata, in RFC 8414's order, with the exact-issuer check
//! ([`JwksVerifier::discover`]).
//!
//! To test a service protected this way without an account at any provider, add the crate
//! [`tower-authz-dev`](https://docs.rs/tower-authz-dev) as a dev-dependency: its `DevIssuer` is
//! an OpenID Connect issuer on 127.0.0.1 (discovery, JWKS, a token builder, introspection, ZITADEL,
//! Entra and FusionAuth shapes) to point a verifier at.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `axum` | yes | extractors [`Claims`], `Option<Claims>`, [`CustomClaims<T>`], [`RequireRole`], [`RequireScope`] (rejection [`AuthRejection`]); `IntoResponse` for [`AuthError`] |
//! | `tonic` | no | `From<AuthError> for tonic::Status`, [`grpc::claims`] and [`grpc::custom_claims`] |
//! | `client` | no | [`client`]: token providers (static PAT, client credentials, JWT-bearer with a ZITADEL key file), DPoP-bound tokens (RFC 9449, [`client::DpopKey`]), a tower layer and a reqwest helper that send them; [`ClientAuth`], [`ApplicationKey`], [`ServiceAccountKey`] |
//! | `introspection` | no | [`IntrospectionVerifier`]: RFC 7662 introspection with a stated [`AudienceCheck`], bounded calls to the provider and a moka cache; [`ClientAuth`], [`ApplicationKey`], [`ServiceAccountKey`] |
//! | `config` | no | [`config::AuthConfig`]: the layer, its verifiers (issuers, audiences, JWKS or introspection, client secrets from environment variables or files), policies by name and DPoP (`[dpop]`), from a TOML or JSON file or `PREFIX_*` environment variables; errors name the field |
//! | `redis` | no | [`RedisCache`]: introspection answers shared by the replicas of a service through Redis or Valkey ([`IntrospectionVerifier::with_shared_cache`], a [`SharedCache`] behind the local caches: one provider call per token across replicas; `rediss://` with a private CA or a client certificate through [`RedisCache::builder`]), and their revocations ([`Revocations::with_store`], a [`RevocationStore`]); turns on `introspection` |
//! | `metrics` | no | metrics through the [`metrics`](https://docs.rs/metrics) facade: requests by outcome and refusal kind, provider calls by endpoint and result, cache hits and misses, verification time and provider latency (the list: [`telemetry`]) |
//! | `cedar` | no | [`policy::CedarPolicy`]: rules from a Cedar policy set and schema (AWS Verified Permissions' language), validated at startup; needs Rust 1.89 (`cedar-policy`'s MSRV; the rest of the crate 1.88) |
#![forbid(unsafe_code)]
// Library code never unwraps what a request or a configuration can influence.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
// docs.rs (`--cfg docsrs`, see `[package.metadata.docs.rs]`) marks each item with the features
// it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod answer;
mod auth;
mod claims;
mod clock;
#[cfg(any(feature = "client", feature = "introspection"))]
mod credentials;
mod custom_claims;
pub mod dpop;
mod error;
mod logout;
pub mod policy;
mod problem;
mod provider;
pub mod readiness;
mod require;
mod resource_metadata;
pub mod response;
mod revocation;
pub mod telemetry;
#[cfg(test)]
mod test_support;
mod token;
pub mod verifier;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "config")]
pub mod config;
#[cfg(feature = "axum")]
mod extract;
// Entry points for the fuzz targets under `fuzz/` (cargo-fuzz sets `--cfg fuzzing`), compiled
// in the unit tests too, which use them. Not a feature: nothing a user can turn on.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "tonic")]
pub mod grpc;

pub use answer::{Answer, AnswerFuture, Pending};
pub use auth::{Auth, AuthLayer, ResponseFuture};
pub use claims::{Claims, RoleSource};
#[cfg(any(feature = "client", feature = "introspection"))]
pub use credentials::{ApplicationKey, ClientAuth, ServiceAccountKey};
pub use custom_claims::CustomClaims;
pub use dpop::{DpopMode, DpopNonces, DpopPolicy};
pub use error::{AuthError, AuthErrorKind, ConfigError, ConfigErrorKind};
pub use logout::{BackChannelLogout, LogoutError, LogoutErrorKind, LogoutTokenKeys};
pub use problem::ProblemDetails;
pub use provider::ProviderUrl;
pub use readiness::ReadinessCheck;
pub use require::{
    Require, RequireLayer, require, require_any_role, require_any_scope, require_role,
    require_scope,
};
pub use resource_metadata::{
    ProtectedResourceLayer, ProtectedResourceMetadata, ServeProtectedResource,
};
pub use response::{BearerChallenges, ResponseForAuthError, Rfc6750};
pub use revocation::{RecordSink, Revocation, RevocationStore, Revocations, StoreError, TokenId};
pub use token::{ExtractToken, TokenSource};
#[cfg(feature = "introspection")]
pub use verifier::AudienceCheck;
#[cfg(feature = "introspection")]
pub use verifier::IntrospectionVerifier;
pub use verifier::{
    Algorithm, JwksVerifier, JwtVerifier, MultiIssuer, Revocable, Tenants, Verification, Verifier,
};
#[cfg(feature = "redis")]
pub use verifier::{RedisCache, RedisCacheBuilder};
#[cfg(feature = "introspection")]
pub use verifier::{SharedCache, SharedCacheError, SharedCacheTiming, SharedKey, SharedVerdict};

#[cfg(feature = "axum")]
pub use extract::{AuthRejection, RequireRole, RequireScope, Role, Scope};
