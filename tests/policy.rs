//! Policies behind `AuthLayer`, over HTTP on 127.0.0.1 with tokens of the development issuer:
//! `require(rule)` with the built-in checks and combinators, path parameters, a policy that looks
//! something up, the `Authorized<P>` extractor, and one answer format for all their refusals.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use common::{get_with, serve};
use tower_authz::policy::{self, Access, Authorized, Policy, Verdict};
use tower_authz::{AuthError, AuthLayer, JwksVerifier, require};
use tower_authz_dev::DevIssuer;

const AUDIENCE: &str = "dev-api";

/// Counts the requests that reached a handler.
#[derive(Clone, Default)]
struct Hits(Arc<AtomicUsize>);

impl Hits {
    fn handler(&self) -> impl Fn() -> std::future::Ready<&'static str> + Clone + Send + 'static {
        let hits = Arc::clone(&self.0);
        move || {
            hits.fetch_add(1, Ordering::SeqCst);
            std::future::ready("ok")
        }
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

async fn start(routes: Router, issuer: &DevIssuer) -> String {
    let verifier = JwksVerifier::discover(issuer.issuer(), AUDIENCE).expect("verifier");
    let app = routes.layer(AuthLayer::new(verifier).with_realm("todo"));
    serve(app).await.0
}

#[tokio::test]
async fn scope_or_role_admits_a_users_scope_or_a_daemons_role() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let hits = Hits::default();
    let read = policy::scope_or_role(["ToDoList.Read"], ["ToDoList.Read.All"]);
    let routes = Router::new().route("/todos", get(hits.handler()).route_layer(require(read)));
    let base = start(routes, &issuer).await;
    let url = format!("{base}/todos");

    let user = issuer
        .token()
        .scopes(["ToDoList.Read"])
        .sign()
        .expect("token");
    let daemon = issuer
        .token()
        .roles(["ToDoList.Read.All"])
        .sign()
        .expect("token");
    for token in [&user, &daemon] {
        assert_eq!(get_with(&url, Some(token)).await.status, 200);
    }
    let neither = issuer
        .token()
        .scopes(["ToDoList.Write"])
        .roles(["ToDoList.Write.All"])
        .sign()
        .expect("token");
    let refused = get_with(&url, Some(&neither)).await;
    refused.assert_refused(403, "insufficient_scope");
    let challenge = refused.challenge.unwrap_or_default();
    assert!(challenge.contains("realm=\"todo\""), "{challenge}");
    assert!(
        challenge.contains("scope=\"ToDoList.Read ToDoList.Read.All\""),
        "{challenge}"
    );
    assert_eq!(get_with(&url, None).await.status, 401);
    assert_eq!(hits.count(), 2);
}

#[tokio::test]
async fn combinators_all_any_not() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let hits = Hits::default();
    let editors = policy::all([
        policy::has_role("editor"),
        policy::not(policy::has_role("suspended")),
    ]);
    let reviewers = policy::any([policy::has_role("reviewer"), policy::has_scope("review")]);
    let routes = Router::new()
        .route("/edit", get(hits.handler()).route_layer(require(editors)))
        .route(
            "/review",
            get(hits.handler()).route_layer(require(reviewers)),
        )
        .route(
            "/nobody",
            get(hits.handler()).route_layer(require(policy::any([]))),
        );
    let base = start(routes, &issuer).await;
    let token = |roles: &[&str], scopes: &[&str]| {
        issuer
            .token()
            .roles(roles.iter().copied())
            .scopes(scopes.iter().copied())
            .sign()
            .expect("token")
    };
    let cases = [
        ("/edit", token(&["editor"], &[]), 200),
        ("/edit", token(&["editor", "suspended"], &[]), 403),
        ("/edit", token(&["suspended"], &[]), 403),
        ("/review", token(&["reviewer"], &[]), 200),
        ("/review", token(&[], &["review"]), 200),
        ("/review", token(&["editor"], &["edit"]), 403),
        ("/nobody", token(&["editor", "reviewer"], &["review"]), 403),
    ];
    let mut allowed = 0;
    for (path, token, status) in &cases {
        let answer = get_with(&format!("{base}{path}"), Some(token)).await;
        assert_eq!(answer.status.as_u16(), *status, "{path}: {answer:?}");
        if *status == 403 {
            answer.assert_refused(403, "insufficient_scope");
        } else {
            allowed += 1;
        }
    }
    assert_eq!(hits.count(), allowed);
}

#[tokio::test]
async fn a_policy_reads_the_routes_path_parameters() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let hits = Hits::default();
    let owner = policy::from_fn(|access: &Access<'_>| {
        access.path_param("owner").is_some()
            && access.path_param("owner") == access.claims().subject()
    });
    let routes = Router::new().route(
        "/users/{owner}/todos",
        get(hits.handler()).route_layer(require(owner)),
    );
    let base = start(routes, &issuer).await;
    let alice = issuer.token().subject("alice").sign().expect("token");
    assert_eq!(
        get_with(&format!("{base}/users/alice/todos"), Some(&alice))
            .await
            .status,
        200
    );
    get_with(&format!("{base}/users/bob/todos"), Some(&alice))
        .await
        .assert_refused(403, "insufficient_scope");
    assert_eq!(hits.count(), 1);
}

#[tokio::test]
async fn a_policy_that_looks_something_up_answers_after_it() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let hits = Hits::default();
    // Who owns which to-do, as a database would say.
    let owners: Arc<Mutex<HashMap<String, String>>> = Arc::new(Mutex::new(HashMap::from([
        ("1".to_owned(), "alice".to_owned()),
        ("2".to_owned(), "bob".to_owned()),
    ])));
    let lookups = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&lookups);
    let owner_only = policy::from_async_fn(move |access: &Access<'_>| {
        let owners = Arc::clone(&owners);
        let counted = Arc::clone(&counted);
        let id = access.path_param("id").map(str::to_owned);
        let caller = access.claims().subject().map(str::to_owned);
        async move {
            tokio::task::yield_now().await;
            counted.fetch_add(1, Ordering::SeqCst);
            let owner = id.and_then(|id| owners.lock().ok()?.get(&id).cloned());
            owner.is_some() && owner == caller
        }
    });
    // The role check answers at once and comes first: a caller without it costs no look-up.
    let rule = policy::has_role("member").and(owner_only);
    let routes = Router::new().route(
        "/todos/{id}",
        get(hits.handler()).route_layer(require(rule)),
    );
    let base = start(routes, &issuer).await;
    let alice = issuer
        .token()
        .subject("alice")
        .roles(["member"])
        .sign()
        .expect("token");
    let stranger = issuer.token().subject("alice").sign().expect("token");
    assert_eq!(
        get_with(&format!("{base}/todos/1"), Some(&alice))
            .await
            .status,
        200
    );
    get_with(&format!("{base}/todos/2"), Some(&alice))
        .await
        .assert_refused(403, "insufficient_scope");
    get_with(&format!("{base}/todos/1"), Some(&stranger))
        .await
        .assert_refused(403, "insufficient_scope");
    assert_eq!(hits.count(), 1);
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        2,
        "no look-up for the caller without the role"
    );
}

/// Only tokens of a daemon (Entra `idtyp: app`).
#[derive(Default)]
struct AppOnly;

impl Policy for AppOnly {
    fn evaluate(&self, access: &Access<'_>) -> Verdict {
        let app = access.claims().get("idtyp").and_then(|t| t.as_str()) == Some("app");
        Verdict::Ready(if app {
            Ok(())
        } else {
            Err(AuthError::forbidden("only applications may call this"))
        })
    }
}

async fn daemon_only(caller: Authorized<AppOnly>) -> String {
    format!("hello {}", caller.subject().unwrap_or_default())
}

#[tokio::test]
async fn the_authorized_extractor_admits_what_its_policy_allows() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let routes = Router::new().route("/daemon", get(daemon_only));
    let base = start(routes.clone(), &issuer).await;
    let url = format!("{base}/daemon");
    let daemon = issuer
        .token()
        .subject("daemon-1")
        .claim("idtyp", "app")
        .sign()
        .expect("token");
    let user = issuer
        .token()
        .subject("alice")
        .claim("idtyp", "user")
        .sign()
        .expect("token");
    let allowed = get_with(&url, Some(&daemon)).await;
    assert_eq!(
        (allowed.status.as_u16(), allowed.body.as_str()),
        (200, "hello daemon-1")
    );
    let refused = get_with(&url, Some(&user)).await;
    refused.assert_refused(403, "insufficient_scope");
    assert!(
        refused
            .challenge
            .unwrap_or_default()
            .contains("realm=\"todo\""),
        "the AuthLayer's responder answers the extractor's refusal too"
    );
    assert_eq!(get_with(&url, None).await.status, 401);

    // Behind no AuthLayer at all: a configuration error, not a silent pass.
    let (bare, _task) = serve(routes).await;
    let answer = get_with(&format!("{bare}/daemon"), Some(&daemon)).await;
    assert_eq!(answer.status, 500);
}

#[tokio::test]
async fn a_require_layer_behind_no_auth_layer_is_a_configuration_error() {
    let hits = Hits::default();
    let routes = Router::new().route(
        "/x",
        get(hits.handler()).route_layer(require(policy::authenticated())),
    );
    let (base, _task) = serve(routes).await;
    assert_eq!(get_with(&format!("{base}/x"), None).await.status, 500);
    assert_eq!(hits.count(), 0);
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[tokio::test]
async fn step_up_refusals_ask_for_a_stronger_or_fresher_login() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let hits = Hits::default();
    let routes = Router::new()
        .route(
            "/transfer",
            get(hits.handler()).route_layer(require(policy::acr_one_of(["phrh", "phr"]))),
        )
        .route(
            "/password",
            get(hits.handler()).route_layer(require(policy::authenticated_within(
                std::time::Duration::from_secs(300),
            ))),
        );
    let base = start(routes, &issuer).await;
    let with = |name: &str, value: serde_json::Value| {
        issuer.token().claim(name, value).sign().expect("token")
    };

    let strong = with("acr", "phrh".into());
    assert_eq!(
        get_with(&format!("{base}/transfer"), Some(&strong))
            .await
            .status,
        200
    );
    for weak in [
        with("acr", "pwd".into()),
        issuer.token().sign().expect("token"),
    ] {
        let refused = get_with(&format!("{base}/transfer"), Some(&weak)).await;
        refused.assert_refused(401, "insufficient_user_authentication");
        let challenge = refused.challenge.unwrap_or_default();
        assert!(challenge.contains("acr_values=\"phrh phr\""), "{challenge}");
        assert!(!challenge.contains("max_age"), "{challenge}");
    }

    let fresh = with("auth_time", (unix_now() - 10).into());
    assert_eq!(
        get_with(&format!("{base}/password"), Some(&fresh))
            .await
            .status,
        200
    );
    for stale in [
        with("auth_time", (unix_now() - 1000).into()),
        issuer.token().sign().expect("token"),
    ] {
        let refused = get_with(&format!("{base}/password"), Some(&stale)).await;
        refused.assert_refused(401, "insufficient_user_authentication");
        let challenge = refused.challenge.unwrap_or_default();
        assert!(challenge.contains("max_age=\"300\""), "{challenge}");
    }
    assert_eq!(hits.count(), 2);
}

#[tokio::test]
async fn an_anonymous_callers_401_names_the_scopes_that_would_do() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let hits = Hits::default();
    let verifier = JwksVerifier::discover(issuer.issuer(), AUDIENCE).expect("verifier");
    let routes = Router::new()
        .route(
            "/todos",
            get(hits.handler()).route_layer(require(policy::scope_or_role(
                ["todo:read"],
                ["Todo.Read.All"],
            ))),
        )
        .route(
            "/admin",
            get(hits.handler()).route_layer(require(policy::has_role("admin"))),
        )
        .layer(
            AuthLayer::new(verifier)
                .optional()
                .with_resource_metadata("http://127.0.0.1/.well-known/oauth-protected-resource"),
        );
    let (base, _task) = serve(routes).await;
    let anonymous = get_with(&format!("{base}/todos"), None).await;
    assert_eq!(anonymous.status, 401);
    let challenge = anonymous.challenge.unwrap_or_default();
    assert!(challenge.contains("scope=\"todo:read\""), "{challenge}");
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    assert!(
        !challenge.contains("error="),
        "no token is not an error: {challenge}"
    );
    // A rule about roles names no scope.
    let admin = get_with(&format!("{base}/admin"), None).await;
    assert_eq!(admin.status, 401);
    assert!(!admin.challenge.unwrap_or_default().contains("scope="));
    assert_eq!(hits.count(), 0);
}
