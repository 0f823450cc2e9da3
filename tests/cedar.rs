//! Cedar policies (feature `cedar`) over HTTP: the `entra_todolist_api` example run twice
//! against one development issuer, once with its Rust rules and once with the Cedar policies of
//! examples/todolist.cedar, must answer every call of one table alike (status, challenge,
//! body, `Location`).

mod common;

use std::collections::BTreeSet;

use common::{Example, client};
use serde_json::{Value, json};
use tower_authz_dev::DevIssuer;

/// The API's client id in these tests.
const API: &str = "c0ffee00-1234-4abc-8def-0123456789ab";
const ALICE: &str = "a11ce000-0000-4000-8000-000000000001";
const BOB: &str = "b0b00000-0000-4000-8000-000000000002";
const CAROL: &str = "ca401000-0000-4000-8000-000000000003";

/// What an API answered, all of it that the two must agree on.
#[derive(Debug, PartialEq, Eq)]
struct Reply {
    status: u16,
    challenge: Option<String>,
    location: Option<String>,
    body: String,
}

/// One call of the table: method, path, the token (named, for the message) and the body.
type Call<'a> = (
    &'a str,
    String,
    Option<(&'a str, &'a String)>,
    Option<&'a Value>,
);

async fn call(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
    let mut request = client().request(method.parse().expect("method"), url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let header = |name: http::HeaderName| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    let challenge = header(http::header::WWW_AUTHENTICATE);
    let location = header(http::header::LOCATION);
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Reply {
        status,
        challenge,
        location,
        body,
    }
}

/// Starts the API on `issuer` with `extra` flags; returns it and its base URL.
fn start_api(issuer: &DevIssuer, extra: &[&str]) -> (Example, String) {
    let mut args = vec![
        "--port",
        "0",
        "--issuer",
        issuer.issuer(),
        "--audience",
        API,
    ];
    args.extend_from_slice(extra);
    let mut api = Example::start("entra_todolist_api", &args);
    let base = api.wait_for("entra_todolist_api listening on ");
    (api, base)
}

#[tokio::test(flavor = "multi_thread")]
async fn cedar_policies_answer_as_the_rust_rules_do() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let policies = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/todolist.cedar");
    let (_rust, rust) = start_api(&issuer, &[]);
    let (mut cedar_api, cedar) = start_api(&issuer, &["--policies", policies]);
    assert!(
        cedar_api
            .wait_for("rules: the Cedar policies of ")
            .ends_with("todolist.cedar")
    );

    let daemon = |roles: &[&str]| {
        issuer
            .token()
            .audience(API)
            .claim("idtyp", "app")
            .roles(roles.iter().copied())
            .sign()
            .expect("token")
    };
    let user = |oid: Option<&str>, scp: &str| {
        let token = issuer
            .token()
            .audience(API)
            .claim("idtyp", "user")
            .claim("scp", scp);
        match oid {
            Some(oid) => token.claim("oid", oid),
            None => token,
        }
        .sign()
        .expect("token")
    };
    let daemon_none = daemon(&[]);
    let daemon_reader = daemon(&["ToDoList.Read.All"]);
    let daemon_writer = daemon(&["ToDoList.ReadWrite.All"]);
    // No `idtyp`: app roles and no scopes make an app token.
    let daemon_no_idtyp = issuer
        .token()
        .audience(API)
        .roles(["ToDoList.Read.All"])
        .sign()
        .expect("token");
    let alice = user(Some(ALICE), "ToDoList.ReadWrite");
    let alice_reader = user(Some(ALICE), "ToDoList.Read");
    let bob = user(Some(BOB), "ToDoList.ReadWrite");
    let no_oid = user(None, "ToDoList.ReadWrite");
    let no_scope = user(Some(ALICE), "User.Read");
    // A user's token that also carries a daemon's app role: still a user's.
    let user_with_role = issuer
        .token()
        .audience(API)
        .roles(["ToDoList.ReadWrite.All"])
        .claim("scp", "ToDoList.ReadWrite")
        .claim("oid", CAROL)
        .sign()
        .expect("token");

    let new_item = json!({"owner": CAROL, "description": "Bake bread"});
    let edit = json!({"description": "Eat bread"});
    let list = "/api/todolist";
    let item = |id: &str| format!("/api/todolist/{id}");
    let tokens = [
        ("daemon without roles", &daemon_none),
        ("daemon reader", &daemon_reader),
        ("daemon writer", &daemon_writer),
        ("daemon without idtyp", &daemon_no_idtyp),
        ("alice", &alice),
        ("alice reading", &alice_reader),
        ("bob", &bob),
        ("user without oid", &no_oid),
        ("user without scope", &no_scope),
        ("user with an app role", &user_with_role),
    ];

    // The table: (method, path, token, body), in order (the calls change the items).
    let bad = "not.a.token".to_owned();
    let mut table: Vec<Call<'_>> = vec![
        ("GET", list.into(), None, None),
        ("GET", list.into(), Some(("bad", &bad)), None),
    ];
    for token in tokens {
        table.push(("GET", list.into(), Some(token), None));
    }
    // Items 1 (the daemon's, for carol), 2 (alice's), 3 (bob's); the others are refused.
    for token in tokens {
        table.push(("POST", list.into(), Some(token), Some(&new_item)));
    }
    for token in tokens {
        table.push(("GET", list.into(), Some(token), None));
        for id in ["1", "2", "3", "99", "abc"] {
            table.push(("GET", item(id), Some(token), None));
        }
    }
    for token in tokens {
        for id in ["1", "2", "99"] {
            table.push(("PUT", item(id), Some(token), Some(&edit)));
        }
    }
    table.push(("PATCH", list.into(), Some(("alice", &alice)), Some(&edit)));
    table.push((
        "GET",
        "/api/elsewhere".into(),
        Some(("alice", &alice)),
        None,
    ));
    for token in tokens {
        table.push(("DELETE", item("3"), Some(token), None));
    }
    for token in tokens {
        table.push(("DELETE", item("2"), Some(token), None));
        table.push(("GET", list.into(), Some(token), None));
    }

    let mut seen = BTreeSet::new();
    for (method, path, token, body) in &table {
        let token_value = token.map(|(_, t)| t.as_str());
        let expected = call(method, &format!("{rust}{path}"), token_value, *body).await;
        let answered = call(method, &format!("{cedar}{path}"), token_value, *body).await;
        let who = token.map_or("anonymous", |(name, _)| name);
        assert_eq!(answered, expected, "{method} {path} as {who}");
        let scope_named = expected
            .challenge
            .as_deref()
            .is_some_and(|c| c.contains("scope="));
        seen.insert((expected.status, scope_named));
    }
    // The table reaches every kind of answer: allowed (200, 201), the handler's 400 and 404,
    // 401, 403 naming the permissions (no permit) and 403 naming none (owner-only), 405.
    let expected: BTreeSet<(u16, bool)> = [
        (200, false),
        (201, false),
        (400, false),
        (401, false),
        (403, false),
        (403, true),
        (404, false),
        (405, false),
    ]
    .into();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn cedar_files_that_do_not_type_check_stop_the_start() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let dir = std::env::temp_dir().join(format!("tower-authz-cedar-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let policies = dir.join("typo.cedar");
    // `principal.scope` is not in the schema (it is `scopes`).
    std::fs::write(
        &policies,
        "@id(\"typo\")\npermit (principal, action, resource)\nwhen { principal.scope.contains(\"x\") };\n",
    )
    .expect("write");
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/todolist.cedarschema");
    let output = std::process::Command::new(common::example_binary("entra_todolist_api"))
        .args([
            "--port",
            "0",
            "--issuer",
            issuer.issuer(),
            "--audience",
            API,
            "--policies",
            policies.to_str().expect("a UTF-8 path"),
            "--schema",
            schema,
        ])
        .output()
        .expect("run the example");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("InvalidPolicy"), "{said}");
    assert!(said.contains("policy \\\"typo\\\" at line 3"), "{said}");
}
