//! Policies: who may do what, decided per request from the verified [`Claims`] and the request's
//! head (method, path, path parameters, headers), after the [`AuthLayer`](crate::AuthLayer).
//!
//! A [`Policy`] answers a [`Verdict`]: at once (`Verdict::Ready`, the common case: role, scope
//! and claim checks), or pending for a policy that looks something up (`Verdict::pending`).
//! Policies combine ([`all`], [`any`], [`not`], [`Rule::and`], [`Rule::or`]) into a [`Rule`],
//! and apply
//!
//! - as a tower layer, for axum routes and tonic services alike: [`require`](crate::require)
//!   (the role and scope layers [`require_role`](crate::require_role), ... are shorthands for it);
//! - per gRPC method, without axum: [`GrpcMethods`];
//! - as an axum extractor: [`Authorized`] (feature `axum`).
//!
//! The rules can also come from a Cedar policy set and schema: [`CedarPolicy`] (feature
//! `cedar`).
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_authz::policy::{self, Access};
//! use tower_authz::{AuthLayer, JwtVerifier, require};
//!
//! // Microsoft.Identity.Web's RequiredScopeOrAppPermission: a user token with the scope, or a
//! // daemon's token with the app role.
//! let read = policy::scope_or_role(["ToDoList.Read"], ["ToDoList.Read.All"]);
//! // Only the owner edits: the `{owner}` path parameter must be the caller's `sub`.
//! let owner = policy::from_fn(|access: &Access<'_>| {
//!     access.path_param("owner") == access.claims().subject()
//! });
//!
//! # let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
//! let app: Router = Router::new()
//!     .route("/todos", get(|| async { "[]" }).route_layer(require(read)))
//!     .route("/users/{owner}/todos", get(|| async { "[]" }).route_layer(require(owner)))
//!     .layer(AuthLayer::new(verifier));
//! ```
//!
//! A refused request is answered 403 `insufficient_scope` (gRPC `PERMISSION_DENIED`) by the
//! `AuthLayer`'s responder, like every other refusal; a request without claims 401 (behind an
//! optional `AuthLayer`) or 500 (no `AuthLayer` at all). Policies see the request's head only:
//! a policy that needs the body (a field of the JSON being posted) is out of scope; check that in
//! the handler, after the policy has admitted the caller.
//!
//! How this compares: ASP.NET Core's policies are requirements with handlers, evaluated all (a
//! policy fails if any requirement fails) — here [`all`]; Spring Security's
//! `AuthorizationManager` answers a decision per request — here [`Policy::evaluate`]. Both answer
//! a refused authenticated caller 403; Spring adds RFC 6750's `insufficient_scope` challenge, as
//! we do, where ASP.NET sends none.

use std::fmt;
use std::sync::Arc;

use crate::answer::Answer;
use crate::claims::Claims;

mod access;
#[cfg(feature = "cedar")]
mod cedar;
mod checks;
mod combinators;
#[cfg(feature = "axum")]
mod extract;
mod grpc_methods;
mod step_up;

pub use access::Access;
#[cfg(feature = "cedar")]
pub use cedar::{CedarPolicy, CedarPolicyBuilder};
pub use checks::{
    authenticated, from_async_fn, from_fn, has_any_role, has_any_scope, has_role, has_scope,
    scope_or_role,
};
pub use combinators::{all, any, not};
#[cfg(feature = "axum")]
pub use extract::Authorized;
pub use grpc_methods::GrpcMethods;
pub use step_up::{acr_one_of, authenticated_within};

/// What a [`Policy`] answers about a request: allowed (`Ok(())`), refused (the [`AuthError`]
/// to answer with, e.g. [`AuthError::forbidden`]), now or after waiting.
///
/// [`AuthError`]: crate::AuthError
/// [`AuthError::forbidden`]: crate::AuthError::forbidden
pub type Verdict = Answer<()>;

/// A rule about who may do what, answered per request.
///
/// Most policies are built from the functions of this module; implement the trait for a policy
/// with state of its own:
///
/// ```
/// use std::collections::HashSet;
/// use tower_authz::AuthError;
/// use tower_authz::policy::{Access, Policy, Verdict};
///
/// /// Only tenants that have paid (Entra's `tid`).
/// struct PayingTenants(HashSet<String>);
///
/// impl Policy for PayingTenants {
///     fn evaluate(&self, access: &Access<'_>) -> Verdict {
///         let tid = access.claims().get("tid").and_then(|t| t.as_str());
///         if tid.is_some_and(|tid| self.0.contains(tid)) {
///             Verdict::Ready(Ok(()))
///         } else {
///             Verdict::Ready(Err(AuthError::forbidden("the tenant has no subscription")))
///         }
///     }
/// }
/// ```
pub trait Policy: Send + Sync + 'static {
    /// Whether the request in `access` may go on. A pending verdict must own what it needs
    /// (clone the [`Claims`], which is one reference count, and the parts of the request it reads).
    fn evaluate(&self, access: &Access<'_>) -> Verdict;
}

/// A policy, shared and combinable: what the functions of this module build, and what the
/// layers and [`GrpcMethods`] take. Cloning it costs one reference count.
#[derive(Clone)]
pub struct Rule {
    policy: Arc<dyn Policy>,
    /// What the rule is, for `Debug` and logs (never a claim value).
    name: Arc<str>,
    /// The scopes that would satisfy it, space-separated, if it is about scopes: named in the
    /// 401 challenge to an anonymous caller (RFC 6750 §3 `scope`), so that a client (an MCP
    /// client reading RFC 9728 metadata, say) knows what to ask for.
    scopes: Option<Arc<str>>,
}

impl Rule {
    /// A rule from your own [`Policy`], named `name` in `Debug` output.
    pub fn new(name: impl Into<Arc<str>>, policy: impl Policy) -> Self {
        Self {
            policy: Arc::new(policy),
            name: name.into(),
            scopes: None,
        }
    }

    /// This rule, naming `scopes` (space-separated) as what satisfies it.
    pub(crate) fn with_scopes(mut self, scopes: Option<Arc<str>>) -> Self {
        self.scopes = scopes.filter(|s| !s.is_empty());
        self
    }

    /// The scopes that satisfy this rule, space-separated, if it says.
    pub(crate) fn scopes(&self) -> Option<&Arc<str>> {
        self.scopes.as_ref()
    }

    /// Both this rule and `other` (`other` is not evaluated if this one refuses).
    pub fn and(self, other: Rule) -> Rule {
        all([self, other])
    }

    /// This rule or `other` (`other` is evaluated only if this one refuses).
    pub fn or(self, other: Rule) -> Rule {
        any([self, other])
    }

    /// What the rule is, as given to [`Rule::new`] or built by the combinators.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Policy for Rule {
    fn evaluate(&self, access: &Access<'_>) -> Verdict {
        self.policy.evaluate(access)
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Rule").field(&self.name).finish()
    }
}

/// `policy` evaluated on `claims` and the request head `parts`, for the layer and the extractor.
pub(crate) fn evaluate_policy<P: Policy + ?Sized>(
    policy: &P,
    claims: &Claims,
    parts: &http::request::Parts,
) -> Verdict {
    policy.evaluate(&Access::new(claims, parts))
}
