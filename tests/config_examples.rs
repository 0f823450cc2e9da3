//! The examples started with `--config FILE` (feature `config`) against a development issuer
//! the test starts: the file's issuer, audience, roles, secrets and policies are the ones in
//! force, a valid token passes and a bad one is refused.

mod common;

use std::path::PathBuf;

use common::{Example, client, get_with};
use serde_json::json;
use tower_authz_dev::{DevAlgorithm, DevIssuer, DevKey, FUSIONAUTH_APP_ID, FusionAuthApp};

/// A folder of its own for one test's files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tower-authz-config-examples-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    /// Writes `text` to `name` in the folder; its path.
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs example `name` until it exits (it should fail at startup); its status and stderr.
fn run_to_failure(name: &str, args: &[&str]) -> (std::process::ExitStatus, String) {
    let output = std::process::Command::new(common::example_binary(name))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run example");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn jwt_api_config(issuer: &str) -> String {
    format!(
        r#"
        [[issuers]]
        issuer = "{issuer}"
        audience = "my-api"
        roles_claim = "/app/roles"

        [policies]
        admin = {{ any_role = ["admin", "owner"] }}
        "#
    )
}

#[tokio::test]
async fn jwt_api_with_a_config_file() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let dir = TempDir::new("jwt-api");
    let config = dir.write("jwt_api.toml", &jwt_api_config(issuer.issuer()));
    let mut example = Example::start("jwt_api", &["--port", "0", "--config", &config]);
    let base = example.wait_for("jwt_api listening on ");

    let token = |roles: &[&str]| {
        issuer
            .token()
            .subject("alice")
            .audience("my-api")
            .claim("app", json!({ "roles": roles }))
            .sign()
            .expect("token")
    };
    let whoami = get_with(&format!("{base}/whoami"), Some(&token(&["viewer"]))).await;
    assert_eq!(whoami.status, 200, "{whoami:?}");
    // The file's `admin` policy: `owner` is enough (the flags' rule needs `admin`).
    let owner = get_with(&format!("{base}/admin"), Some(&token(&["owner"]))).await;
    assert_eq!(owner.status, 200, "{owner:?}");
    get_with(&format!("{base}/admin"), Some(&token(&["viewer"])))
        .await
        .assert_refused(403, "insufficient_scope");

    // The file's audience, and the issuer's keys only.
    let other_audience = issuer
        .token()
        .audience("another-api")
        .sign()
        .expect("token");
    get_with(&format!("{base}/whoami"), Some(&other_audience))
        .await
        .assert_refused(401, "invalid_token");
    let forged = issuer
        .token()
        .audience("my-api")
        .signed_with(&DevKey::generate(DevAlgorithm::RS256).expect("key"))
        .kid(issuer.current_key(DevAlgorithm::RS256).kid())
        .sign()
        .expect("token");
    get_with(&format!("{base}/whoami"), Some(&forged))
        .await
        .assert_refused(401, "invalid_token");

    // The keys are held: the readiness check says so.
    assert_eq!(get_with(&format!("{base}/readyz"), None).await.status, 200);

    // The metadata names the file's issuer.
    let metadata = get_with(
        &format!("{base}/.well-known/oauth-protected-resource"),
        None,
    )
    .await;
    let metadata: serde_json::Value = serde_json::from_str(&metadata.body).expect("json");
    assert_eq!(metadata["authorization_servers"], json!([issuer.issuer()]));
}

/// `[dpop]` in jwt_api's file: DPoP required with the file's algorithms and server nonces whose
/// secret is in the environment. A bearer token gets the `DPoP` challenge; a bound token with a
/// good proof gets `use_dpop_nonce` and a nonce, then 200 with it.
#[tokio::test]
async fn jwt_api_with_dpop_from_its_config_file() {
    use common::dpop::{ProofKey, send};

    let issuer = DevIssuer::start().await.expect("issuer");
    let dir = TempDir::new("jwt-api-dpop");
    let config = dir.write(
        "jwt_api.toml",
        &format!(
            r#"{}
            [dpop]
            mode = "required"
            algorithms = ["ES256"]
            nonce_secret = {{ env = "JWT_API_DPOP_NONCE_SECRET" }}
            "#,
            jwt_api_config(issuer.issuer())
        ),
    );
    let mut example = Example::start_with_env(
        "jwt_api",
        &["--port", "0", "--config", &config],
        &[(
            "JWT_API_DPOP_NONCE_SECRET",
            "0123456789abcdef0123456789abcdef",
        )],
    );
    let url = format!("{}/whoami", example.wait_for("jwt_api listening on "));
    let key = ProofKey::es256();
    let token = issuer
        .token()
        .subject("alice")
        .audience("my-api")
        .claim("cnf", json!({"jkt": key.jkt()}))
        .sign()
        .expect("token");

    // A 401 with the DPoP challenge of the file's algorithms and `error`.
    let assert_refused = |reply: &common::dpop::Reply, error: &str| {
        assert_eq!(reply.status, 401, "{reply:?}");
        let prefix = format!(r#"DPoP algs="ES256", error="{error}""#);
        assert!(reply.challenge.starts_with(&prefix), "{reply:?}");
    };
    assert_refused(
        &send("Bearer", &url, &token, &[], &[]).await,
        "invalid_token",
    );
    let first = send(
        "DPoP",
        &url,
        &token,
        &[&key.proof("GET", &url, &token)],
        &[],
    )
    .await;
    assert_refused(&first, "use_dpop_nonce");
    let nonce = first.nonce.clone().expect("a DPoP-Nonce");
    let proof = key.proof_with("GET", &url, &token, |_, claims| {
        claims.insert("nonce".into(), json!(nonce));
    });
    let reply = send("DPoP", &url, &token, &[&proof], &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[test]
fn jwt_api_refuses_a_config_file_with_flags_it_replaces() {
    for flag in [
        ["--issuer", "https://id.example.com"],
        ["--audience", "api"],
        ["--roles-claim", "realm_access"],
        ["--max-stale", "60"],
    ] {
        let mut args = vec!["--port", "0", "--config", "examples/config/jwt_api.toml"];
        args.extend(flag);
        let (status, stderr) = run_to_failure("jwt_api", &args);
        // A clap usage error, before anything is read.
        assert_eq!(status.code(), Some(2), "{flag:?}: {stderr}");
        assert!(stderr.contains("cannot be used with"), "{stderr}");
    }
}

#[test]
fn jwt_api_names_the_field_of_a_mistake_in_its_config_file() {
    let dir = TempDir::new("jwt-api-mistakes");
    for (text, field) in [
        (
            "[[issuers]]\nissuer = \"http://127.0.0.1:1\"\naudiance = \"api\"\n",
            "issuers[0].audiance",
        ),
        (
            "[[issuers]]\nissuer = \"http://idp.example.com\"\naudience = \"api\"\n[policies]\nadmin = \"authenticated\"\n",
            "issuers[0].issuer",
        ),
        (
            "[[issuers]]\nissuer = \"http://127.0.0.1:1\"\naudience = \"api\"\n",
            "policies.admin",
        ),
    ] {
        let config = dir.write("bad.toml", text);
        let (status, stderr) = run_to_failure("jwt_api", &["--port", "0", "--config", &config]);
        assert!(!status.success(), "{text}");
        assert!(
            stderr.contains(&format!("field: \"{field}\"")),
            "{text}\n{stderr}"
        );
    }
}

#[tokio::test]
async fn zitadel_api_with_a_config_file_and_a_key_file_beside_it() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let dir = TempDir::new("zitadel-api");
    issuer
        .write_api_key_file(&dir.0.join("api.json"))
        .expect("key file");
    issuer.set_user_roles("config-admin", ["admin"]);
    let user = issuer.personal_access_token("config-user");
    let admin = issuer.personal_access_token("config-admin");
    let config = dir.write(
        "zitadel_api.toml",
        &format!(
            r#"
            [[issuers]]
            issuer = "{}"
            roles_claim = "urn:zitadel:iam:org:project:roles"
            [issuers.introspection]
            key_file = "api.json"
            provider_checks_audience = true
            [policies]
            admin = {{ role = "admin" }}
            "#,
            issuer.issuer()
        ),
    );
    let mut example = Example::start("zitadel_api", &["--port", "0", "--config", &config]);
    let base = example.wait_for("zitadel_api listening on ");

    let tasks = get_with(&format!("{base}/api/tasks"), Some(&user)).await;
    assert_eq!(tasks.status, 200, "{tasks:?}");
    let add = format!("{base}/api/add-task?task=from-config");
    assert_eq!(get_with(&add, Some(&user)).await.status, 403);
    let added = get_with(&add, Some(&admin)).await;
    assert_eq!(added.status, 200, "{added:?}");
    assert_eq!(
        get_with(
            &format!("{base}/api/tasks"),
            Some("not-a-token-of-this-issuer")
        )
        .await
        .status,
        401
    );
}

#[tokio::test]
async fn fusionauth_api_with_a_config_file_and_its_secret_in_the_environment() {
    let secret = "fusionauth-default-signing-key-for-tests-0123456789";
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_fusionauth_app(FusionAuthApp::new(FUSIONAUTH_APP_ID).hmac_secret(secret));
    let dir = TempDir::new("fusionauth-api");
    let config = dir.write(
        "fusionauth_api.toml",
        &format!(
            r#"
            token_sources = [{{ cookie = "app.at" }}]
            [[issuers]]
            issuer = "{}"
            audience = "{FUSIONAUTH_APP_ID}"
            hmac_secret = {{ env = "FUSIONAUTH_SIGNING_SECRET" }}
            "#,
            issuer.issuer()
        ),
    );
    let args = ["--port", "0", "--page-port", "0", "--config", &config];
    let mut example = Example::start_with_env(
        "fusionauth_api",
        &args,
        &[("FUSIONAUTH_SIGNING_SECRET", secret)],
    );
    let api = example.wait_for("fusionauth_api listening on ");

    let (login_id, _) = tower_authz_dev::FUSIONAUTH_DEV_USER;
    let valid = issuer
        .fusionauth_token(FUSIONAUTH_APP_ID, login_id)
        .expect("token builder")
        .sign()
        .expect("token");
    let messages = format!("{api}/messages");
    let with_cookie = |token: &str| {
        client()
            .get(&messages)
            .header("cookie", format!("app.at={token}"))
            .send()
    };
    assert_eq!(with_cookie(&valid).await.expect("get").status(), 200);
    // The file's token sources: the cookie only, not the header.
    let header = get_with(&messages, Some(&valid)).await;
    assert_eq!(header.status, 401, "{header:?}");
    assert_eq!(header.challenge.as_deref(), Some("Bearer"));
    // An RS256 token of the same issuer: no key of that type.
    let rs256 = issuer
        .token()
        .audience(FUSIONAUTH_APP_ID)
        .sign()
        .expect("token");
    assert_eq!(with_cookie(&rs256).await.expect("get").status(), 401);

    // Without the variable, the example stops at startup and names the field.
    let (status, stderr) = run_to_failure("fusionauth_api", &args);
    assert!(!status.success());
    assert!(
        stderr.contains("issuers[0].hmac_secret.env")
            && stderr.contains("FUSIONAUTH_SIGNING_SECRET"),
        "{stderr}"
    );
    assert!(!stderr.contains(secret));
}

#[tokio::test]
async fn entra_todolist_api_with_a_config_file() {
    const API: &str = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b";
    let issuer = DevIssuer::start().await.expect("issuer");
    let dir = TempDir::new("entra-todolist-api");
    let config = dir.write(
        "entra.json",
        &json!({
            "issuers": [{
                "issuer": issuer.issuer(),
                "audience": [API, format!("api://{API}")],
                "jwks_uri": issuer.jwks_uri(),
            }]
        })
        .to_string(),
    );
    let mut example = Example::start("entra_todolist_api", &["--port", "0", "--config", &config]);
    let base = example.wait_for("entra_todolist_api listening on ");

    let daemon = |audience: &str| {
        issuer
            .token()
            .audience(audience)
            .claim("idtyp", "app")
            .roles(["ToDoList.Read.All"])
            .sign()
            .expect("token")
    };
    let list = format!("{base}/api/todolist");
    for audience in [API.to_owned(), format!("api://{API}")] {
        let answer = get_with(&list, Some(&daemon(&audience))).await;
        assert_eq!(answer.status, 200, "{audience}: {answer:?}");
    }
    get_with(&list, Some(&daemon("another-api")))
        .await
        .assert_refused(401, "invalid_token");
}
