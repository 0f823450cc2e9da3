//! [`GrpcMethods`]: a rule per gRPC method, for tonic services without an axum `Router`.

use std::collections::HashMap;
use std::fmt;

use super::{Access, Policy, Rule, Verdict};
use crate::error::AuthError;

/// Picks the rule for a gRPC request by its path, `/package.Service/Method`: the method's own
/// rule, else its service's, else the fallback, which by default refuses (a method added to the
/// service later is closed until it is given a rule). Use it with [`require`](crate::require)
/// around a tonic service:
///
/// ```
/// use tower_authz::policy::{self, GrpcMethods};
/// use tower_authz::require;
///
/// let rules = GrpcMethods::new()
///     .service("tasks.v1.TaskService", policy::authenticated())
///     .method("/tasks.v1.TaskService/AddTask", policy::has_role("admin"));
/// // tower::ServiceBuilder::new()
/// //     .layer(AuthLayer::new(verifier))
/// //     .layer(require(rules))
/// //     .service(TaskServiceServer::new(api));
/// let layer = require(rules);
/// ```
#[derive(Clone)]
pub struct GrpcMethods {
    methods: HashMap<Box<str>, Rule>,
    services: HashMap<Box<str>, Rule>,
    fallback: Option<Rule>,
}

impl Default for GrpcMethods {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcMethods {
    /// No rules yet: every method is refused.
    pub fn new() -> Self {
        Self {
            methods: HashMap::new(),
            services: HashMap::new(),
            fallback: None,
        }
    }

    /// `rule` for the method at `path`, `/package.Service/Method` (the leading `/` may be left
    /// out).
    pub fn method(mut self, path: &str, rule: Rule) -> Self {
        let path = format!("/{}", path.trim_start_matches('/'));
        self.methods.insert(path.into(), rule);
        self
    }

    /// `rule` for every method of `service` (`package.Service`) that has no rule of its own.
    pub fn service(mut self, service: &str, rule: Rule) -> Self {
        self.services.insert(service.trim_matches('/').into(), rule);
        self
    }

    /// `rule` for every other request (default: refused, 403 / `PERMISSION_DENIED`).
    pub fn otherwise(mut self, rule: Rule) -> Self {
        self.fallback = Some(rule);
        self
    }

    fn rule_for(&self, access: &Access<'_>) -> Option<&Rule> {
        if let Some(rule) = self.methods.get(access.path()) {
            return Some(rule);
        }
        access
            .grpc_method()
            .and_then(|(service, _)| self.services.get(service))
            .or(self.fallback.as_ref())
    }
}

impl Policy for GrpcMethods {
    fn evaluate(&self, access: &Access<'_>) -> Verdict {
        match self.rule_for(access) {
            Some(rule) => rule.evaluate(access),
            None => Verdict::Ready(Err(AuthError::forbidden("no rule allows this method"))),
        }
    }
}

impl From<GrpcMethods> for Rule {
    fn from(methods: GrpcMethods) -> Self {
        Rule::new("grpc methods", methods)
    }
}

impl fmt::Debug for GrpcMethods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcMethods")
            .field("methods", &self.methods)
            .field("services", &self.services)
            .field("fallback", &self.fallback)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Claims, RoleSource};

    fn verdict(rules: &GrpcMethods, path: &str, roles: &[&str]) -> Option<crate::AuthErrorKind> {
        let claims = Claims::from_value(
            serde_json::json!({"sub": "s", "roles": roles}),
            &RoleSource::default(),
        )
        .expect("claims");
        let (parts, ()) = http::Request::post(path)
            .body(())
            .expect("request")
            .into_parts();
        match rules.evaluate(&Access::new(&claims, &parts)) {
            Verdict::Ready(answer) => answer.err().map(|e| e.kind()),
            Verdict::Pending(_) => panic!("these rules answer at once"),
        }
    }

    #[test]
    fn the_methods_rule_then_the_services_then_the_fallback() {
        let refused = Some(crate::AuthErrorKind::InsufficientScope);
        let rules = GrpcMethods::new()
            .service("tasks.v1.TaskService", crate::policy::authenticated())
            .method(
                "tasks.v1.TaskService/AddTask",
                crate::policy::has_role("admin"),
            );
        assert_eq!(
            verdict(&rules, "/tasks.v1.TaskService/ListTasks", &[]),
            None
        );
        assert_eq!(
            verdict(&rules, "/tasks.v1.TaskService/AddTask", &[]),
            refused
        );
        assert_eq!(
            verdict(&rules, "/tasks.v1.TaskService/AddTask", &["admin"]),
            None
        );
        // Closed by default: another service, a non-gRPC path, a path with extra segments.
        for other in [
            "/other.v1.Other/Get",
            "/",
            "/tasks.v1.TaskService",
            "/tasks.v1.TaskService/A/B",
        ] {
            assert_eq!(verdict(&rules, other, &["admin"]), refused, "{other}");
        }
        let open = rules.otherwise(crate::policy::authenticated());
        assert_eq!(verdict(&open, "/other.v1.Other/Get", &[]), None);
    }
}
