use serde_json::{Value, json};

use super::*;
use crate::claims::{Claims, RoleSource};
use crate::error::{AuthError, AuthErrorKind, ConfigErrorKind};

const SCHEMA: &str = r#"
entity Principal = { roles: Set<String>, scopes: Set<String>, oid?: String, level?: Long };
entity Route = { id?: String, owner?: String };
action read, write;
action "GET /items", "GET /items/{id}" in [read] appliesTo {
    principal: Principal, resource: Route, context: { method: String, tenant?: String },
};
action "PUT /items/{id}" in [write] appliesTo {
    principal: Principal, resource: Route, context: { method: String, tenant?: String },
};
action "/tasks.v1.Tasks/Add" appliesTo {
    principal: Principal, resource: Route, context: { method: String, tenant?: String },
};
"#;

const POLICIES: &str = r#"
@id("readers")
@required("items.read")
permit (principal, action in Action::"read", resource)
when { principal.scopes.contains("items.read") };

@id("writers")
@required("items.write")
permit (principal, action in [Action::"write"], resource)
when { principal.scopes.contains("items.write") };

@id("owners only")
forbid (principal, action in Action::"write", resource)
unless { resource has owner && principal has oid && resource.owner == principal.oid };

@id("tenant adders")
permit (principal, action == Action::"/tasks.v1.Tasks/Add", resource)
when { context has tenant && context.tenant == "t1" };
"#;

fn policy() -> CedarPolicy {
    CedarPolicy::builder(POLICIES, SCHEMA)
        .with_principal_claim("oid", "oid")
        .with_principal_claim("level", "level")
        .with_context_claim("tid", "tenant")
        .build()
        .expect("the policies type-check")
}

fn claims(value: Value) -> Claims {
    Claims::from_value(value, &RoleSource::default()).expect("claims")
}

/// The verdict of `policy` on `method path` with `claims`, answered at once.
fn ask(policy: &CedarPolicy, claims: &Claims, method: &str, path: &str) -> Result<(), AuthError> {
    let (parts, ()) = http::Request::builder()
        .method(method)
        .uri(path)
        .body(())
        .expect("request")
        .into_parts();
    policy
        .evaluate(&Access::new(claims, &parts))
        .into_ready()
        .expect("no loader: answered at once")
}

fn grpc(policy: &CedarPolicy, claims: &Claims, path: &str) -> Result<(), AuthError> {
    let (parts, ()) = http::Request::post(path)
        .header("content-type", "application/grpc")
        .body(())
        .expect("request")
        .into_parts();
    policy
        .evaluate(&Access::new(claims, &parts))
        .into_ready()
        .expect("answered at once")
}

#[test]
fn a_permit_allows_and_no_permit_names_what_is_required() {
    let policy = policy();
    let reader = claims(json!({"sub": "u1", "scope": "items.read"}));
    assert!(ask(&policy, &reader, "GET", "/items").is_ok());
    let nobody = claims(json!({"sub": "u2", "scope": "profile"}));
    let refused = ask(&policy, &nobody, "GET", "/items").unwrap_err();
    assert_eq!(refused.kind(), AuthErrorKind::InsufficientScope);
    assert_eq!(refused.required(), Some("items.read"));
}

#[test]
fn a_forbid_names_no_scope() {
    // Without axum's MatchedPath the action is the path itself: "PUT /items/{id}" is declared
    // so that this test can reach it (the integration tests use real routes).
    let policy = policy();
    let writer = claims(json!({"sub": "u1", "scope": "items.write", "oid": "o1"}));
    // No owner attribute (no loader): the forbid applies.
    let refused = ask(&policy, &writer, "PUT", "/items/{id}").unwrap_err();
    assert_eq!(refused.kind(), AuthErrorKind::InsufficientScope);
    assert_eq!(refused.required(), None);
    assert_eq!(refused.description(), NOT_ALLOWED);
}

#[test]
fn requests_cedar_cannot_judge_are_refused() {
    let policy = policy();
    let reader = json!({"sub": "u1", "scope": "items.read"});
    // A route the schema does not declare, a token without `sub`, a claim of the wrong type,
    // a claim that is no Cedar value: 403, never a panic or a 500.
    assert!(ask(&policy, &claims(reader.clone()), "DELETE", "/items").is_err());
    let mut no_sub = reader.clone();
    no_sub.as_object_mut().map(|o| o.remove("sub"));
    for token in [
        no_sub,
        json!({"sub": "u1", "scope": "items.read", "oid": 7}),
        json!({"sub": "u1", "scope": "items.read", "level": 1.5}),
        json!({"sub": "u1", "scope": "items.read", "tid": {"nested": [null]}}),
    ] {
        let refused = ask(&policy, &claims(token.clone()), "GET", "/items").unwrap_err();
        assert_eq!(refused.status(), 403, "{token}");
        assert_eq!(refused.required(), None, "{token}");
    }
    // A claim that is there and fits the schema is fine; odd characters in `sub` too.
    let odd = json!({"sub": "a\"b\\c::\u{0}", "scope": "items.read", "oid": "x", "level": 3});
    assert!(ask(&policy, &claims(odd), "GET", "/items").is_ok());
}

#[test]
fn grpc_requests_are_named_by_their_path_and_claims_reach_the_context() {
    let policy = policy();
    assert!(
        grpc(
            &policy,
            &claims(json!({"sub": "s", "tid": "t1"})),
            "/tasks.v1.Tasks/Add"
        )
        .is_ok()
    );
    assert!(
        grpc(
            &policy,
            &claims(json!({"sub": "s", "tid": "t2"})),
            "/tasks.v1.Tasks/Add"
        )
        .is_err()
    );
    assert!(grpc(&policy, &claims(json!({"sub": "s"})), "/tasks.v1.Tasks/Add").is_err());
    // The same path over plain HTTP is the action "POST /tasks.v1.Tasks/Add": not declared.
    let tenant = claims(json!({"sub": "s", "tid": "t1"}));
    assert!(ask(&policy, &tenant, "POST", "/tasks.v1.Tasks/Add").is_err());
}

#[tokio::test]
async fn the_loader_adds_resource_attributes_now_or_later() {
    let loader = |pending: bool| {
        move |_: &Access<'_>| {
            let mut attributes = Map::new();
            attributes.insert("owner".into(), json!("o1"));
            if pending {
                Answer::pending(async move { Ok(attributes) })
            } else {
                Answer::Ready(Ok(attributes))
            }
        }
    };
    let owner = claims(json!({"sub": "u1", "scope": "items.write", "oid": "o1"}));
    let other = claims(json!({"sub": "u2", "scope": "items.write", "oid": "o2"}));
    for pending in [false, true] {
        let policy = CedarPolicy::builder(POLICIES, SCHEMA)
            .with_principal_claim("oid", "oid")
            .with_resource_loader(loader(pending))
            .build()
            .expect("policy");
        let verdict = |claims: &Claims| {
            let (parts, ()) = http::Request::put("/items/{id}")
                .body(())
                .expect("request")
                .into_parts();
            policy.evaluate(&Access::new(claims, &parts))
        };
        assert_eq!(verdict(&owner).is_ready(), !pending);
        assert!(verdict(&owner).await.is_ok());
        assert!(verdict(&other).await.is_err());
    }

    // The loader's failure is the answer.
    let policy = CedarPolicy::builder(POLICIES, SCHEMA)
        .with_resource_loader(|_: &Access<'_>| Answer::Ready(Err(AuthError::upstream("db down"))))
        .build()
        .expect("policy");
    let (parts, ()) = http::Request::put("/items/{id}")
        .body(())
        .expect("request")
        .into_parts();
    let failure = policy
        .evaluate(&Access::new(&owner, &parts))
        .await
        .unwrap_err();
    assert_eq!(failure.kind(), AuthErrorKind::Upstream);
}

#[test]
fn config_errors_name_the_policy_and_the_line() {
    let bad_type = format!(
        "{POLICIES}\n@id(\"typo\")\npermit (principal, action, resource)\nwhen {{ principal.roles == \"admin\" }};\n"
    );
    let error = CedarPolicy::from_str(&bad_type, SCHEMA).unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidPolicy);
    let message = error.to_string();
    let line = bad_type
        .lines()
        .position(|l| l.contains("when { principal.roles =="))
        .map(|i| i + 1);
    assert!(message.contains("policy \"typo\""), "{message}");
    assert!(
        message.contains(&format!("line {}", line.unwrap_or(0))),
        "{message}"
    );

    let unparsable = "permit (principal, action, resource);\n\npermit (principal action);\n";
    let error = CedarPolicy::from_str(unparsable, SCHEMA).unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidPolicy);
    assert!(error.to_string().contains("line 3"), "{error}");

    let unknown_attribute =
        "@id(\"p\")\npermit (principal, action, resource) when { principal.department == \"x\" };";
    let error = CedarPolicy::from_str(unknown_attribute, SCHEMA).unwrap_err();
    assert!(
        error.to_string().contains("policy \"p\" at line"),
        "{error}"
    );

    let error = CedarPolicy::from_str(POLICIES, "entity Principal = {").unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidPolicy);
    assert!(
        error
            .to_string()
            .contains("schema does not parse at line 1"),
        "{error}"
    );

    let twice = "@id(\"a\") permit (principal, action, resource);\n@id(\"a\") forbid (principal, action, resource);";
    assert_eq!(
        CedarPolicy::from_str(twice, SCHEMA).unwrap_err().kind(),
        ConfigErrorKind::InvalidPolicy
    );
    let template = "permit (principal == ?principal, action, resource);";
    assert_eq!(
        CedarPolicy::from_str(template, SCHEMA).unwrap_err().kind(),
        ConfigErrorKind::InvalidPolicy
    );

    let builder = || CedarPolicy::builder(POLICIES, SCHEMA);
    for (error, kind) in [
        (
            builder().with_principal_type("User").build(),
            ConfigErrorKind::InvalidPolicy,
        ),
        (
            builder().with_resource_type("not a name").build(),
            ConfigErrorKind::InvalidValue,
        ),
        (
            builder().with_action_type("Other::Action").build(),
            ConfigErrorKind::InvalidPolicy,
        ),
        (
            builder().with_principal_claim("groups", "roles").build(),
            ConfigErrorKind::InvalidValue,
        ),
        (
            builder().with_context_claim("m", "method").build(),
            ConfigErrorKind::InvalidValue,
        ),
    ] {
        assert_eq!(error.map(|_| ()).map_err(|e| e.kind()), Err(kind));
    }
    let missing = CedarPolicy::from_files("/nonexistent/a.cedar", "/nonexistent/a.cedarschema");
    assert_eq!(missing.unwrap_err().kind(), ConfigErrorKind::Io);
}

#[test]
fn required_names_the_permits_of_the_action_and_its_groups() {
    let policy = policy();
    let required = |name: &str| {
        let index = policy.inner.action_index[name];
        policy.inner.actions[index]
            .required
            .as_deref()
            .map(str::to_owned)
    };
    assert_eq!(required("GET /items").as_deref(), Some("items.read"));
    assert_eq!(required("PUT /items/{id}").as_deref(), Some("items.write"));
    assert_eq!(required("/tasks.v1.Tasks/Add"), None);
    assert_eq!(policy.len(), 4);
    assert_eq!(Rule::from(policy).name(), "cedar (4 policies)");
}
