//! The Entra daemon sample's ToDoList API (`entra_todolist_api`) and daemon (`entra_daemon`),
//! built by `cargo test`, run as processes and driven over 127.0.0.1.

mod common;

use common::{Example, client};
use serde_json::{Value, json};
use tower_authz::ClientAuth;
use tower_authz::client::{ClientCredentials, TokenProvider};
use tower_authz_dev::{DevClient, DevIssuer};

/// The API's client id in these tests.
const API: &str = "c0ffee00-1234-4abc-8def-0123456789ab";

/// What the guide shows, `User ID` lines aside.
const GUIDE: &str = "\
Posting a to-do...
Retrieving to-do's from server...
To-do data:
ID: 1
User ID: <owner>
Message: Bake bread
Posting a second to-do...
Retrieving to-do's from server...
To-do data:
ID: 1
User ID: <owner>
Message: Bake bread
ID: 2
User ID: <owner>
Message: Butter bread
Deleting a to-do...
Retrieving to-do's from server...
To-do data:
ID: 2
User ID: <owner>
Message: Butter bread
Editing a to-do...
Retrieving to-do's from server...
To-do data:
ID: 2
User ID: <owner>
Message: Eat bread
Deleting remaining to-do...
Retrieving to-do's from server...
There are no to-do's in server";

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Runs the daemon with `args` to its end and checks its output is the guide's, with one GUID
/// as the owner of every item.
#[track_caller]
fn assert_daemon_reproduces_the_guide(args: &[&str]) {
    let (output, status) = Example::start("entra_daemon", args).finish();
    assert!(status.success(), "{status}: {output:#?}");
    let owners: Vec<&str> = output
        .iter()
        .filter_map(|line| line.strip_prefix("User ID: "))
        .collect();
    assert_eq!(owners.len(), 5, "{output:#?}");
    assert!(is_guid(owners[0]), "{output:#?}");
    assert!(owners.iter().all(|o| *o == owners[0]), "{output:#?}");
    let normalized: Vec<String> = output
        .iter()
        .map(|line| match line.strip_prefix("User ID: ") {
            Some(_) => "User ID: <owner>".to_owned(),
            None => line.clone(),
        })
        .collect();
    assert_eq!(normalized.join("\n"), GUIDE);
}

#[test]
fn daemon_reproduces_the_guide_with_no_flags() {
    assert_daemon_reproduces_the_guide(&[]);
}

/// Starts the API example pointed at `issuer`, with `extra` flags; returns it and its base URL.
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

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Runs the daemon with `args` on a blocking thread (the test's issuer keeps answering
/// meanwhile) and checks it reproduces the guide.
async fn daemon_reproduces_the_guide(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_daemon_reproduces_the_guide(&args);
    })
    .await
    .expect("the daemon's output is the guide's");
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_and_api_with_flags_against_an_external_issuer() {
    // An issuer the examples did not start stands in for Microsoft Entra.
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_client(
        DevClient::new("flag-daemon", "flag-secret").app_roles(["ToDoList.ReadWrite.All"]),
    );
    let scope = format!("api://{API}/.default");
    let token_endpoint = issuer.token_endpoint();
    let jwks_uri = issuer.jwks_uri();
    let daemon = |secret: &'static str, base: &str, provider: [&str; 2]| -> Vec<String> {
        [
            "--client-id",
            "flag-daemon",
            "--client-secret",
            secret,
            "--scope",
            &scope,
            "--api-url",
            base,
            provider[0],
            provider[1],
        ]
        .map(str::to_owned)
        .to_vec()
    };

    // The API by discovery, the daemon with --issuer (discovery too).
    let (_api, base) = start_api(&issuer, &[]);
    let args = daemon("flag-secret", &base, ["--issuer", issuer.issuer()]);
    daemon_reproduces_the_guide(&refs(&args)).await;

    // The API with a JWKS URL, the daemon with --token-endpoint.
    let (_api, base) = start_api(&issuer, &["--jwks-uri", &jwks_uri]);
    let args = daemon("flag-secret", &base, ["--token-endpoint", &token_endpoint]);
    daemon_reproduces_the_guide(&refs(&args)).await;

    // A wrong secret: no token, no output, a failure.
    let args = daemon("wrong", &base, ["--issuer", issuer.issuer()]);
    let (output, status) =
        tokio::task::spawn_blocking(move || Example::start("entra_daemon", &refs(&args)).finish())
            .await
            .expect("daemon");
    assert!(!status.success(), "{output:#?}");
    assert!(output.is_empty(), "{output:#?}");
}

/// What the API answered.
#[derive(Debug)]
struct Reply {
    status: u16,
    challenge: Option<String>,
    location: Option<String>,
    body: String,
}

impl Reply {
    /// Asserts a refusal with an RFC 6750 `error` code in the challenge.
    #[track_caller]
    fn assert_refused(&self, status: u16, error: &str) {
        assert_eq!(self.status, status, "{self:?}");
        let challenge = self.challenge.as_deref().unwrap_or_default();
        assert!(challenge.starts_with("Bearer "), "{self:?}");
        assert!(
            challenge.contains(&format!("error=\"{error}\"")),
            "{self:?}"
        );
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A request with an optional token and JSON body.
async fn call(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> Reply {
    let mut request = client().request(method.parse().expect("method"), url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
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

/// A client-credentials token of a new client with `roles`, as the daemon would get it.
async fn app_token(issuer: &DevIssuer, client_id: &str, roles: &[&str]) -> String {
    issuer.add_client(DevClient::new(client_id, "secret").app_roles(roles.iter().copied()));
    let tokens = ClientCredentials::new(
        issuer.token_endpoint(),
        ClientAuth::post(client_id, "secret"),
    )
    .expect("provider")
    .with_scope(format!("api://{API}/.default"));
    tokens.token().await.expect("token").as_str().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn api_answers_per_rfc_6750_and_the_sample() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let (_api, base) = start_api(&issuer, &[]);
    let list = format!("{base}/api/todolist");
    let item = |id: u64| format!("{base}/api/todolist/{id}");
    let new_item =
        json!({"owner": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee", "description": "Bake bread"});

    // No token: 401 with a bare challenge.
    let anonymous = call("GET", &list, None, None).await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    assert_eq!(anonymous.challenge.as_deref(), Some("Bearer"));
    call("POST", &list, Some("not.a.token"), Some(new_item.clone()))
        .await
        .assert_refused(401, "invalid_token");

    // An app token without roles: 403 everywhere.
    let no_roles = app_token(&issuer, "no-roles", &[]).await;
    call("GET", &list, Some(&no_roles), None)
        .await
        .assert_refused(403, "insufficient_scope");
    call("POST", &list, Some(&no_roles), Some(new_item.clone()))
        .await
        .assert_refused(403, "insufficient_scope");

    // Read-only: reads pass, writes are refused.
    let reader = app_token(&issuer, "reader", &["ToDoList.Read.All"]).await;
    let read = call("GET", &list, Some(&reader), None).await;
    assert_eq!((read.status, read.body.as_str()), (200, "[]"));
    for (method, url) in [
        ("POST", list.clone()),
        ("PUT", item(1)),
        ("DELETE", item(1)),
    ] {
        let refused = call(method, &url, Some(&reader), Some(new_item.clone())).await;
        refused.assert_refused(403, "insufficient_scope");
        let challenge = refused.challenge.unwrap_or_default();
        // The permissions that would do: the user's scope or the daemon's app role.
        assert!(
            challenge.contains("scope=\"ToDoList.ReadWrite ToDoList.ReadWrite.All\""),
            "{challenge}"
        );
    }

    // Read-write: the sample's answers.
    let writer = app_token(&issuer, "writer", &["ToDoList.ReadWrite.All"]).await;
    let created = call("POST", &list, Some(&writer), Some(new_item.clone())).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.location.as_deref(), Some("/todolist/1"));
    let expected = json!({"id": 1, "owner": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee", "description": "Bake bread"});
    assert_eq!(created.json(), expected);
    let fetched = call("GET", &item(1), Some(&reader), None).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json(), expected);
    let edited = call(
        "PUT",
        &item(1),
        Some(&writer),
        Some(json!({"id": 1, "description": "Eat bread"})),
    )
    .await;
    assert_eq!(edited.status, 200, "{edited:?}");
    assert_eq!(edited.json()["description"], "Eat bread");
    let deleted = call("DELETE", &item(1), Some(&writer), None).await;
    assert_eq!((deleted.status, deleted.body.as_str()), (200, ""));
    for (method, body) in [
        ("GET", None),
        ("PUT", Some(json!({"description": "x"}))),
        ("DELETE", None),
    ] {
        let missing = call(method, &item(1), Some(&writer), body).await;
        assert_eq!(missing.status, 404, "{method}: {missing:?}");
    }
    let again = call("POST", &list, Some(&writer), Some(new_item.clone())).await;
    assert_eq!(again.location.as_deref(), Some("/todolist/2"));

    // Delegated (user) tokens: their own items only (item 2 is the daemon's, for another owner).
    let user = |oid: &str, scp: &str| {
        issuer
            .token()
            .audience(API)
            .claim("scp", scp)
            .claim("oid", oid)
            .claim("idtyp", "user")
            .sign()
            .expect("token")
    };
    let alice = user("a11ce000-0000-4000-8000-000000000001", "ToDoList.ReadWrite");
    let reading_alice = user("a11ce000-0000-4000-8000-000000000001", "ToDoList.Read");
    let mine = call("POST", &list, Some(&alice), Some(new_item.clone())).await;
    assert_eq!(mine.status, 201, "{mine:?}");
    assert_eq!(mine.json()["owner"], "a11ce000-0000-4000-8000-000000000001");
    let listed = call("GET", &list, Some(&reading_alice), None).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(
        listed.json().as_array().map(Vec::len),
        Some(1),
        "{listed:?}"
    );
    assert_eq!(
        call("GET", &item(3), Some(&reading_alice), None)
            .await
            .status,
        200
    );
    for (method, body) in [
        ("GET", None),
        ("PUT", Some(json!({"description": "x"}))),
        ("DELETE", None),
    ] {
        let refused = call(method, &item(2), Some(&alice), body).await;
        refused.assert_refused(403, "insufficient_scope");
        assert!(!refused.challenge.unwrap_or_default().contains("scope="));
    }
    call(
        "PUT",
        &item(3),
        Some(&reading_alice),
        Some(json!({"description": "x"})),
    )
    .await
    .assert_refused(403, "insufficient_scope");
    assert_eq!(
        call("DELETE", &item(3), Some(&alice), None).await.status,
        200
    );
    // A user's token with a daemon's app role is still a user's: only its own items.
    let user_with_role = issuer
        .token()
        .audience(API)
        .roles(["ToDoList.ReadWrite.All"])
        .claim("scp", "ToDoList.ReadWrite")
        .sign()
        .expect("token");
    let listed = call("GET", &list, Some(&user_with_role), None).await;
    assert_eq!((listed.status, listed.body.as_str()), (200, "[]"));
    call("DELETE", &item(2), Some(&user_with_role), None)
        .await
        .assert_refused(403, "insufficient_scope");

    // Without `idtyp`, `roles` and no `scp` make an app token.
    let app_without_idtyp = issuer
        .token()
        .audience(API)
        .roles(["ToDoList.Read.All"])
        .sign()
        .expect("token");
    assert_eq!(
        call("GET", &list, Some(&app_without_idtyp), None)
            .await
            .status,
        200
    );

    // Audience: the client id or `api://{client id}`, nothing else.
    let app_id_uri = issuer
        .token()
        .audience(format!("api://{API}"))
        .roles(["ToDoList.Read.All"])
        .claim("idtyp", "app")
        .sign()
        .expect("token");
    assert_eq!(
        call("GET", &list, Some(&app_id_uri), None).await.status,
        200
    );
    let other_audience = issuer
        .token()
        .audience("api://some-other-api")
        .roles(["ToDoList.ReadWrite.All"])
        .claim("idtyp", "app")
        .sign()
        .expect("token");
    call("GET", &list, Some(&other_audience), None)
        .await
        .assert_refused(401, "invalid_token");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_with_an_entra_issuer_template() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let template = format!("{}/{{tenantid}}/v2.0", issuer.issuer());
    let jwks_uri = issuer.jwks_uri();
    let tenant = "11111111-2222-4333-8444-555555555555";
    let token_of = |tid: &str| {
        issuer
            .token()
            .issuer(format!("{}/{tid}/v2.0", issuer.issuer()))
            .audience(API)
            .claim("tid", tid)
            .claim("idtyp", "app")
            .roles(["ToDoList.Read.All"])
            .sign()
            .expect("token")
    };

    let mut api = Example::start(
        "entra_todolist_api",
        &[
            "--port",
            "0",
            "--issuer",
            &template,
            "--jwks-uri",
            &jwks_uri,
            "--audience",
            API,
            "--tenant",
            tenant,
        ],
    );
    let base = api.wait_for("entra_todolist_api listening on ");
    let list = format!("{base}/api/todolist");
    assert_eq!(
        call("GET", &list, Some(&token_of(tenant)), None)
            .await
            .status,
        200
    );
    call(
        "GET",
        &list,
        Some(&token_of("99999999-2222-4333-8444-555555555555")),
        None,
    )
    .await
    .assert_refused(401, "invalid_token");

    // A template cannot be discovered: the API refuses to start without --jwks-uri.
    let (_, status) = Example::start(
        "entra_todolist_api",
        &["--port", "0", "--issuer", &template, "--audience", API],
    )
    .finish();
    assert!(!status.success());

    // Nor without a stated choice of tenants (issue 12 item 8): no silent "any tenant".
    let (output, status) = Example::start(
        "entra_todolist_api",
        &[
            "--port",
            "0",
            "--issuer",
            &template,
            "--jwks-uri",
            &jwks_uri,
            "--audience",
            API,
        ],
    )
    .finish();
    assert!(!status.success(), "{output:?}");

    // `--any-tenant` states it: then another tenant's token is accepted.
    let mut any = Example::start(
        "entra_todolist_api",
        &[
            "--port",
            "0",
            "--issuer",
            &template,
            "--jwks-uri",
            &jwks_uri,
            "--audience",
            API,
            "--any-tenant",
        ],
    );
    let base = any.wait_for("entra_todolist_api listening on ");
    let other = token_of("99999999-2222-4333-8444-555555555555");
    assert_eq!(
        call("GET", &format!("{base}/api/todolist"), Some(&other), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn api_with_no_flags_prints_a_working_token() {
    let mut api = Example::start("entra_todolist_api", &["--port", "0"]);
    let base = api.wait_for("entra_todolist_api listening on ");
    let token = api.wait_for("export TOKEN=");
    let list = format!("{base}/api/todolist");
    let created = call(
        "POST",
        &list,
        Some(&token),
        Some(json!({"owner": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee", "description": "Bake bread"})),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let listed = call("GET", &list, Some(&token), None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()[0]["description"], "Bake bread");
}
