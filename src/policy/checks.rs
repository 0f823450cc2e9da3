//! The policies most routes need: roles, scopes, "scope or app role", and predicates.

use std::future::Future;

use super::{Access, Policy, Rule, Verdict};
use crate::error::AuthError;

/// What the claims must have: one of these roles or scopes.
#[derive(Debug)]
struct AnyOf {
    roles: Box<[Box<str>]>,
    scopes: Box<[Box<str>]>,
    /// The roles and scopes, space-separated: what the refusal names as required.
    wanted: Box<str>,
}

impl AnyOf {
    fn rule(roles: Box<[Box<str>]>, scopes: Box<[Box<str>]>) -> Rule {
        let wanted = scopes
            .iter()
            .chain(roles.iter())
            .map(|s| &**s)
            .collect::<Vec<_>>()
            .join(" ");
        let name = format!("any of {wanted:?}");
        let hint = scopes.join(" ");
        Rule::new(
            name,
            Self {
                roles,
                scopes,
                wanted: wanted.into(),
            },
        )
        .with_scopes(Some(hint.into()))
    }
}

impl Policy for AnyOf {
    fn evaluate(&self, access: &Access<'_>) -> Verdict {
        let claims = access.claims();
        let ok = self.roles.iter().any(|r| claims.has_role(r))
            || self.scopes.iter().any(|s| claims.has_scope(s));
        Verdict::Ready(if ok {
            Ok(())
        } else {
            Err(AuthError::insufficient_scope(String::from(&*self.wanted)))
        })
    }
}

fn names<I>(names: I) -> Box<[Box<str>]>
where
    I: IntoIterator,
    I::Item: Into<Box<str>>,
{
    names.into_iter().map(Into::into).collect()
}

/// Requires the role `role` (in the claims' roles, as the verifier's
/// [`RoleSource`](crate::RoleSource) reads them).
pub fn has_role(role: impl Into<Box<str>>) -> Rule {
    AnyOf::rule(Box::new([role.into()]), Box::new([]))
}

/// Requires at least one of `roles`.
pub fn has_any_role<I>(roles: I) -> Rule
where
    I: IntoIterator,
    I::Item: Into<Box<str>>,
{
    AnyOf::rule(names(roles), Box::new([]))
}

/// Requires the scope `scope` (`scope` or `scp` claim).
pub fn has_scope(scope: impl Into<Box<str>>) -> Rule {
    AnyOf::rule(Box::new([]), Box::new([scope.into()]))
}

/// Requires at least one of `scopes`.
pub fn has_any_scope<I>(scopes: I) -> Rule
where
    I: IntoIterator,
    I::Item: Into<Box<str>>,
{
    AnyOf::rule(Box::new([]), names(scopes))
}

/// Requires one of `scopes` (a user's delegated token) or one of `roles` (an application's
/// token with app permissions): Microsoft.Identity.Web's `RequiredScopeOrAppPermission`, for
/// an Entra API called by users and daemons alike.
///
/// ```
/// use tower_authz::policy;
///
/// let read = policy::scope_or_role(["ToDoList.Read"], ["ToDoList.Read.All"]);
/// ```
pub fn scope_or_role<S, R>(scopes: S, roles: R) -> Rule
where
    S: IntoIterator,
    S::Item: Into<Box<str>>,
    R: IntoIterator,
    R::Item: Into<Box<str>>,
{
    AnyOf::rule(names(roles), names(scopes))
}

/// Any verified caller: the claims are there (the `AuthLayer` admitted the token).
pub fn authenticated() -> Rule {
    struct Authenticated;
    impl Policy for Authenticated {
        fn evaluate(&self, _: &Access<'_>) -> Verdict {
            Verdict::Ready(Ok(()))
        }
    }
    Rule::new("authenticated", Authenticated)
}

/// The refusal of a predicate that said no.
fn refused() -> AuthError {
    AuthError::forbidden("the request is not allowed by policy")
}

/// A policy from a predicate on the request: refused (403) when it answers `false`.
///
/// ```
/// use tower_authz::policy::{self, Access};
///
/// // Entra: only app-only tokens (a daemon's, not a user's).
/// let app_only = policy::from_fn(|access: &Access<'_>| {
///     access.claims().get("idtyp").and_then(|t| t.as_str()) == Some("app")
/// });
/// ```
pub fn from_fn<F>(predicate: F) -> Rule
where
    F: Fn(&Access<'_>) -> bool + Send + Sync + 'static,
{
    struct Predicate<F>(F);
    impl<F: Fn(&Access<'_>) -> bool + Send + Sync + 'static> Policy for Predicate<F> {
        fn evaluate(&self, access: &Access<'_>) -> Verdict {
            Verdict::Ready(if (self.0)(access) {
                Ok(())
            } else {
                Err(refused())
            })
        }
    }
    Rule::new("from_fn", Predicate(predicate))
}

/// A policy that looks something up: `check` reads what it needs from the request at once and
/// returns a future (owning it) that answers whether the request may go on.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use tower_authz::policy::{self, Access};
///
/// // Owner-only edits: the to-do `{id}` must belong to the caller.
/// let owners: Arc<Mutex<HashMap<String, String>>> = Arc::default();
/// let owner_only = policy::from_async_fn(move |access: &Access<'_>| {
///     let (owners, id) = (Arc::clone(&owners), access.path_param("id").map(str::to_owned));
///     let caller = access.claims().subject().map(str::to_owned);
///     async move {
///         // A database look-up in a real service.
///         let owner = id.and_then(|id| owners.lock().ok()?.get(&id).cloned());
///         owner.is_some() && owner == caller
///     }
/// });
/// ```
pub fn from_async_fn<F, Fut>(check: F) -> Rule
where
    F: Fn(&Access<'_>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    struct Lookup<F>(F);
    impl<F, Fut> Policy for Lookup<F>
    where
        F: Fn(&Access<'_>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        fn evaluate(&self, access: &Access<'_>) -> Verdict {
            let allowed = (self.0)(access);
            Verdict::pending(async move {
                if allowed.await {
                    Ok(())
                } else {
                    Err(refused())
                }
            })
        }
    }
    Rule::new("from_async_fn", Lookup(check))
}
