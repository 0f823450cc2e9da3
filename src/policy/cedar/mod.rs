//! [`CedarPolicy`]: the rules in a [Cedar](https://www.cedarpolicy.com) policy set (the
//! language of AWS Verified Permissions), checked against a Cedar schema at startup and
//! evaluated per request by the `cedar-policy` crate. Feature `cedar`, which needs Rust 1.89
//! (`cedar-policy` 4.14's MSRV; the rest of the crate needs 1.88).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use cedar_policy::{Authorizer, Entity, EntityTypeName, EntityUid, PolicySet, Schema};
use serde_json::{Map, Value};

use super::{Access, Policy, Rule, Verdict};
use crate::answer::Answer;

mod builder;
mod request;

pub use builder::CedarPolicyBuilder;

/// The refusal's description when a Cedar policy denies (the same as a refused
/// [`from_fn`](crate::policy::from_fn)).
const NOT_ALLOWED: &str = "the request is not allowed by policy";

/// What loads the resource's attributes.
type Loader = Box<dyn Fn(&Access<'_>) -> Answer<Map<String, Value>> + Send + Sync>;

/// A Cedar policy set with its schema, as a [`Policy`]. Built once at startup with
/// [`CedarPolicy::from_str`], [`CedarPolicy::from_files`] or [`CedarPolicy::builder`]; the
/// policies are parsed and validated then, never per request. Cloning it costs one reference
/// count. Feature `cedar`, which needs Rust 1.89 (`cedar-policy` 4.14's MSRV; the rest of the
/// crate needs 1.88).
///
/// # The request, as Cedar sees it
///
/// Each request becomes one Cedar authorization request:
///
/// | | what | attributes |
/// |---|---|---|
/// | principal | `Principal::"<sub>"` (type: [`with_principal_type`](CedarPolicyBuilder::with_principal_type)) | `roles: Set<String>` and `scopes: Set<String>` of the verified [`Claims`](crate::Claims), and the claims chosen with [`with_principal_claim`](CedarPolicyBuilder::with_principal_claim) |
/// | action | `Action::"<METHOD> <route>"` for HTTP, with the route as axum matched it (`PUT /api/todolist/{id}`; the path itself without axum's `MatchedPath`); `Action::"<path>"` for gRPC (`/tasks.v1.TaskService/AddTask`) | the action groups of the schema |
/// | resource | `Route::"<route>"` (the route or gRPC path; type: [`with_resource_type`](CedarPolicyBuilder::with_resource_type)) | the route's path parameters (strings, percent-decoded), then what the [resource loader](CedarPolicyBuilder::with_resource_loader) returns |
/// | context | | `method: String`, and the claims chosen with [`with_context_claim`](CedarPolicyBuilder::with_context_claim) |
///
/// A worked example: the route `/api/todolist/{id}`, a request `PUT /api/todolist/7` with an
/// Entra user token `{"sub": "Ab3…", "oid": "2f9c…", "scp": "ToDoList.ReadWrite", "tid":
/// "72f9…"}`, a policy built with `.with_principal_claim("oid", "oid")`,
/// `.with_context_claim("tid", "tenant")` and a loader that finds item 7's owner:
///
/// ```text
/// principal = Principal::"Ab3…"  { roles: [], scopes: ["ToDoList.ReadWrite"], oid: "2f9c…" }
/// action    = Action::"PUT /api/todolist/{id}"
/// resource  = Route::"/api/todolist/{id}"  { id: "7", owner: "2f9c…" }
/// context   = { method: "PUT", tenant: "72f9…" }
/// ```
///
/// and the schema that admits it (every action needs one such `appliesTo`; a claim that some
/// tokens lack is declared optional with `?`):
///
/// ```text
/// entity Principal = { roles: Set<String>, scopes: Set<String>, oid?: String };
/// entity Route = { id?: String, owner?: String };
/// action "PUT /api/todolist/{id}" appliesTo {
///     principal: Principal, resource: Route, context: { method: String, tenant?: String },
/// };
/// ```
///
/// The principal, the resource and the context are checked against the schema on every
/// request, so that a policy that type-checked at startup cannot fail on a token's odd claim
/// (Cedar skips a policy that fails to evaluate, and a skipped `forbid` would allow).
///
/// # Answers
///
/// - Cedar allows: the request goes on.
/// - Cedar denies because a `forbid` policy applies: 403 `insufficient_scope`, naming no scope
///   (no scope would lift it).
/// - Cedar denies because no `permit` applies: 403 `insufficient_scope`, naming in `scope`
///   what the `permit` policies for that action say they need in a `@required("...")`
///   annotation (space-separated roles or scopes, like the refusals of
///   [`has_role`](crate::policy::has_role) and [`has_scope`](crate::policy::has_scope)); with
///   no such annotation, none.
/// - No Cedar request can be built (no `sub`; an action, a path parameter or a claim that the
///   schema does not declare; a claim that is not a Cedar value, such as a fraction): 403,
///   logged at debug with the reason (Cedar's, which may quote the subject and the offending
///   value; never sent to the client). A route without an action in the schema is closed.
/// - The resource loader fails: its error (a database that is down: 503).
///
/// ```
/// use tower_authz::policy::{Access, CedarPolicy, Policy};
/// use tower_authz::{Claims, RoleSource};
/// use serde_json::json;
///
/// let schema = r#"
///     entity Principal = { roles: Set<String>, scopes: Set<String> };
///     entity Route;
///     action "GET /reports" appliesTo {
///         principal: Principal, resource: Route, context: { method: String },
///     };
/// "#;
/// let policies = r#"
///     @id("auditors read reports")
///     @required("reports.read")
///     permit (principal, action == Action::"GET /reports", resource)
///     when { principal.scopes.contains("reports.read") };
/// "#;
/// let policy = CedarPolicy::from_str(policies, schema).unwrap();
///
/// let request = |scope: &str| {
///     let claims = json!({"sub": "alice", "scope": scope});
///     let claims = Claims::from_value(claims, &RoleSource::default()).unwrap();
///     let (parts, ()) = http::Request::get("/reports").body(()).unwrap().into_parts();
///     policy.evaluate(&Access::new(&claims, &parts)).into_ready().unwrap()
/// };
/// assert!(request("reports.read").is_ok());
/// let refused = request("profile").unwrap_err();
/// assert_eq!(refused.status(), 403);
/// assert_eq!(refused.required(), Some("reports.read"));
/// ```
///
/// A whole service: the `entra_todolist_api` example with `--policies examples/todolist.cedar`
/// (schema `examples/todolist.cedarschema`), whose answers are those of its Rust rules.
///
/// How this compares: AWS Verified Permissions takes the same policies and schema and answers
/// the same question per request over the network; here it is answered in process, and the
/// entities are built from the token and the route instead of being sent by the caller.
/// Entities (groups, parents of the principal) beyond the action groups are not built: a
/// principal's roles are a set attribute (`principal.roles.contains("admin")`), not parents.
///
/// # With axum
///
/// One rule for every route (the policies tell the routes apart by their action). Put it on
/// each route's methods (`get(..).merge(post(..)).route_layer(..)`): with `Router::route_layer`
/// a method that the route lacks reaches the policy too, and since the schema has no action
/// for it, every caller gets 403 instead of axum's 405.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_authz::policy::CedarPolicy;
/// use tower_authz::require;
///
/// # let dir = std::env::temp_dir().join(format!("cedar-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # std::fs::write(dir.join("api.cedar"), r#"permit (principal, action, resource) when { principal.roles.contains("reader") };"#).unwrap();
/// # std::fs::write(dir.join("api.cedarschema"), r#"entity Principal = { roles: Set<String>, scopes: Set<String> }; entity Route; action "GET /items" appliesTo { principal: Principal, resource: Route, context: { method: String } };"#).unwrap();
/// # let (policies, schema) = (dir.join("api.cedar"), dir.join("api.cedarschema"));
/// let rules = CedarPolicy::from_files(policies, schema).unwrap();
/// let app: Router = Router::new().route(
///     "/items",
///     get(|| async { "[]" })
///         .post(|| async { "created" })
///         .route_layer(require(rules)),
/// );
/// ```
#[derive(Clone)]
pub struct CedarPolicy {
    inner: Arc<Inner>,
}

struct Inner {
    policies: PolicySet,
    schema: Schema,
    authorizer: Authorizer,
    principal_type: EntityTypeName,
    resource_type: EntityTypeName,
    action_type: EntityTypeName,
    actions: Vec<Action>,
    /// The index in `actions` of each action, by its name (`GET /items`).
    action_index: HashMap<String, usize>,
    /// (claim, attribute) of the principal.
    principal_claims: Box<[(Box<str>, Box<str>)]>,
    /// (claim, attribute) of the context.
    context_claims: Box<[(Box<str>, Box<str>)]>,
    loader: Option<Loader>,
}

/// An action of the schema, ready for requests.
struct Action {
    uid: EntityUid,
    /// Its entity, with its action groups as ancestors.
    entity: Entity,
    /// What its `permit` policies name as `@required`.
    required: Option<Arc<str>>,
}

impl CedarPolicy {
    /// How many policies the set has.
    pub fn len(&self) -> usize {
        self.inner.policies.num_of_policies()
    }

    /// Whether the set has no policy (then every request is refused).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Policy for CedarPolicy {
    fn evaluate(&self, access: &Access<'_>) -> Verdict {
        let question = match self.question(access) {
            Ok(question) => question,
            Err(why) => {
                tracing::debug!(reason = %why.0, "Cedar cannot judge the request: refused");
                return Verdict::Ready(Err(crate::AuthError::forbidden(NOT_ALLOWED)));
            }
        };
        let Some(load) = &self.inner.loader else {
            return Verdict::Ready(self.inner.decide(question, Map::new()));
        };
        match load(access) {
            Answer::Ready(Ok(loaded)) => Verdict::Ready(self.inner.decide(question, loaded)),
            Answer::Ready(Err(error)) => Verdict::Ready(Err(error)),
            Answer::Pending(loading) => {
                let inner = Arc::clone(&self.inner);
                Verdict::pending(async move { inner.decide(question, loading.await?) })
            }
        }
    }
}

impl From<CedarPolicy> for Rule {
    fn from(policy: CedarPolicy) -> Rule {
        let name = format!("cedar ({} policies)", policy.len());
        Rule::new(name, policy)
    }
}

impl fmt::Debug for CedarPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CedarPolicy")
            .field("policies", &self.len())
            .field("actions", &self.inner.actions.len())
            .field("principal_type", &self.inner.principal_type)
            .field("resource_type", &self.inner.resource_type)
            .field("loader", &self.inner.loader.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests;
