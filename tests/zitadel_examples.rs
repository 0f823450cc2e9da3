//! The ZITADEL Go guide's API (`zitadel_api`) and its gRPC twin (`zitadel_grpc`), built by
//! `cargo test`, run as processes and driven over 127.0.0.1.

mod common;
#[path = "../examples/common/zitadel_guide.rs"]
mod zitadel_guide;

use axum::Router;
use axum::routing::any;
use common::{Example, client, serve};
use tower_authz::{AuthLayer, Claims, JwksVerifier, RequireRole, require_role, role};
use tower_authz_dev::DevIssuer;

role!(Admin = "admin");

struct Reply {
    status: u16,
    content_type: String,
    nosniff: bool,
    body: String,
}

async fn call(method: &str, url: &str, token: Option<&str>, form: Option<&str>) -> Reply {
    let mut request = client().request(method.parse().expect("method"), url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(form) = form {
        // What `curl --data` sends.
        request = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
    }
    let response = request.send().await.expect("request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (content_type, nosniff) = (
        header("content-type"),
        header("x-content-type-options") == "nosniff",
    );
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    Reply {
        status,
        content_type,
        nosniff,
        body,
    }
}

#[track_caller]
fn json(reply: &Reply, status: u16, body: &str) {
    assert_eq!((reply.status, reply.body.as_str()), (status, body));
    assert_eq!(reply.content_type, "application/json");
}

#[track_caller]
fn text(reply: &Reply, status: u16, body: &str) {
    assert_eq!((reply.status, reply.body.as_str()), (status, body));
    assert_eq!(reply.content_type, "text/plain; charset=utf-8");
    assert!(reply.nosniff);
}

/// The guide's whole curl sequence, byte for byte on status and body.
async fn guide_sequence(base: &str, user: &str, admin: &str) {
    json(
        &call("GET", &format!("{base}/api/healthz"), None, None).await,
        200,
        "\"OK\"",
    );
    text(
        &call("GET", &format!("{base}/api/tasks"), None, None).await,
        401,
        "unauthorized: authorization header is empty\n",
    );
    json(
        &call("GET", &format!("{base}/api/tasks"), Some(user), None).await,
        200,
        "{}",
    );
    text(
        &call("GET", &format!("{base}/api/add-task"), Some(user), None).await,
        403,
        "permission denied: missing required role: `admin`\n",
    );
    json(
        &call(
            "POST",
            &format!("{base}/api/add-task"),
            Some(admin),
            Some("task=My new task"),
        )
        .await,
        200,
        "\"task `My new task` added\"",
    );
    json(
        &call("GET", &format!("{base}/api/tasks"), Some(admin), None).await,
        200,
        r#"{"tasks":["My new task","create a new task on /api/add-task"]}"#,
    );
    // Beyond the guide: an empty task, a bad token, the public endpoint with any method.
    json(
        &call(
            "POST",
            &format!("{base}/api/add-task"),
            Some(admin),
            Some("task=+"),
        )
        .await,
        400,
        "\"task must not be empty\"",
    );
    let bad = call(
        "GET",
        &format!("{base}/api/tasks"),
        Some("not-a-real-token"),
        None,
    )
    .await;
    assert_eq!(bad.status, 401);
    assert!(bad.body.starts_with("unauthorized: "));
    json(
        &call("POST", &format!("{base}/api/healthz"), None, None).await,
        200,
        "\"OK\"",
    );
}

#[tokio::test]
async fn zitadel_api_reproduces_the_guide_on_the_development_issuer() {
    let mut example = Example::start("zitadel_api", &["--port", "0"]);
    let base = example.wait_for("zitadel_api listening on ");
    let user = example.wait_for("export token=");
    let admin = example.wait_for("export admin_token=");
    guide_sequence(&base, &user, &admin).await;
}

#[tokio::test]
async fn zitadel_api_with_domain_and_key_flags() {
    // An issuer started by the test stands in for a real ZITADEL instance.
    let issuer = DevIssuer::start().await.expect("issuer");
    let dir =
        std::env::temp_dir().join(format!("tower-authz-zitadel-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let key = dir.join("api.json");
    issuer.write_api_key_file(&key).expect("key file");
    issuer.set_user_roles("flag-admin", ["admin"]);
    let user = issuer.personal_access_token("flag-user");
    let admin = issuer.personal_access_token("flag-admin");

    let key_arg = key.display().to_string();
    let mut example = Example::start(
        "zitadel_api",
        &[
            "--port",
            "0",
            "--domain",
            issuer.issuer(),
            "--key",
            &key_arg,
        ],
    );
    let base = example.wait_for("zitadel_api listening on ");
    guide_sequence(&base, &user, &admin).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// `zitadel_api` gives the guide's responder to its `AuthLayer` only; its role check answers in
/// the guide's format (the 403 of `guide_sequence`), and so do the extractors behind such a
/// layer, which the example's required layer never lets refuse.
#[tokio::test]
async fn the_guides_answers_reach_the_role_check_and_the_extractors() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let app = Router::new()
        .route("/layer", any(|| async { "ok" }))
        .route_layer(require_role("admin"))
        .route("/claims", any(|_: Claims| async { "ok" }))
        .route("/extractor", any(|_: RequireRole<Admin>| async { "ok" }))
        .layer(
            AuthLayer::new(verifier)
                .optional()
                .with_response(zitadel_guide::guide_error),
        );
    let (base, _task) = serve(app).await;
    let user = issuer.token().roles(["user"]).sign().expect("token");
    let empty = "unauthorized: authorization header is empty\n";
    let denied = "permission denied: missing required role: `admin`\n";
    let cases = [
        ("/claims", None, 401, empty),
        ("/extractor", None, 401, empty),
        ("/layer", None, 401, empty),
        ("/extractor", Some(user.as_str()), 403, denied),
        ("/layer", Some(user.as_str()), 403, denied),
    ];
    for (path, token, status, body) in cases {
        text(
            &call("GET", &format!("{base}{path}"), token, None).await,
            status,
            body,
        );
    }
    let admin = issuer.token().roles(["admin"]).sign().expect("token");
    let passed = call("GET", &format!("{base}/extractor"), Some(&admin), None).await;
    assert_eq!((passed.status, passed.body.as_str()), (200, "ok"));
}

#[test]
fn zitadel_grpc_answers_with_grpc_status_codes() {
    let mut server = Example::start("zitadel_grpc", &["--port", "0"]);
    let addr = server.wait_for("zitadel_grpc listening on ");
    let user = server.wait_for("export token=");
    let admin = server.wait_for("export admin_token=");
    let run = |extra: &[&str]| {
        let mut args = vec!["--addr", addr.as_str()];
        args.extend_from_slice(extra);
        let (output, status) = Example::start("zitadel_grpc", &args).finish();
        assert!(status.success(), "{output:?}");
        output.join("\n")
    };
    assert!(run(&["--call", "list"]).starts_with("Unauthenticated"));
    // `--token=<token>`, not `--token <token>`: a token may start with `-`, which would read as
    // a flag.
    let (user, admin) = (format!("--token={user}"), format!("--token={admin}"));
    assert_eq!(run(&["--call", "list", &user]), "OK []");
    assert!(
        run(&["--call", "add", &user, "--task", "My new task"]).starts_with("PermissionDenied")
    );
    assert_eq!(
        run(&["--call", "add", &admin, "--task", "My new task"]),
        "OK task `My new task` added"
    );
    assert_eq!(
        run(&["--call", "list", &admin]),
        r#"OK ["My new task", "create a new task on AddTask"]"#
    );
    assert!(run(&["--call", "list", "--token", "garbage"]).starts_with("Unauthenticated"));
}
