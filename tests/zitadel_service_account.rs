//! ZITADEL's .NET client guide (`zitadel_service_account`): GetMyUser with a personal access
//! token and with a service-account key file, built by `cargo test` and run as a process.

mod common;

use common::Example;
use serde_json::Value;
use tower_authz_dev::DevIssuer;

/// The `User: ` lines of a finished run, as JSON; asserts the run succeeded.
fn users(example: Example) -> Vec<Value> {
    let (output, status) = example.finish();
    assert!(status.success(), "{status}: {output:#?}");
    output
        .iter()
        .map(|line| {
            let json = line
                .strip_prefix("User: ")
                .unwrap_or_else(|| panic!("not a User line: {line:?} in {output:#?}"));
            serde_json::from_str(json).expect("a JSON user")
        })
        .collect()
}

#[track_caller]
fn assert_machine_user(user: &Value, id: &str, name: &str) {
    assert_eq!(user["id"], id, "{user}");
    assert_eq!(user["userName"], id, "{user}");
    assert_eq!(user["machine"]["name"], name, "{user}");
    assert!(user["machine"].is_object(), "{user}");
    assert!(user.get("human").is_none(), "{user}");
}

#[test]
fn service_account_with_no_flags_calls_get_my_user_twice() {
    let users = users(Example::start("zitadel_service_account", &[]));
    assert_eq!(users.len(), 2, "{users:#?}");
    for user in &users {
        // The example's machine user (the guide's userId).
        assert_machine_user(user, "170079991923474689", "guide-service-account");
    }
}

/// Runs the example with `args` on a blocking thread, so that the test's issuer keeps
/// answering, and returns its users.
async fn run(args: Vec<String>) -> Vec<Value> {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        users(Example::start("zitadel_service_account", &args))
    })
    .await
    .expect("the example succeeds")
}

#[tokio::test(flavor = "multi_thread")]
async fn service_account_with_flags_against_an_external_issuer() {
    // An issuer the example did not start stands in for a ZITADEL instance.
    let issuer = DevIssuer::start().await.expect("issuer");
    let user_id = "280000000000000001";
    issuer.add_machine_user(user_id, "flags-service-account");
    let pat = issuer.personal_access_token(user_id);
    let dir = std::env::temp_dir().join(format!(
        "tower-authz-service-account-flags-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let key = dir.join("sa.json");
    issuer
        .write_service_account_key_file(&key, user_id)
        .expect("key file");
    let key = key.display().to_string();
    // `--pat=<token>`, not `--pat <token>`: a token may start with `-`, which would read as a flag.
    let pat_arg = format!("--pat={pat}");
    let args = |extra: &[&str]| -> Vec<String> {
        ["--domain", issuer.issuer()]
            .iter()
            .chain(extra)
            .map(|a| (*a).to_owned())
            .collect()
    };

    let both = run(args(&[&pat_arg, "--key", &key])).await;
    assert_eq!(both.len(), 2, "{both:#?}");
    for user in &both {
        assert_machine_user(user, user_id, "flags-service-account");
    }
    let pat_only = run(args(&[&pat_arg])).await;
    assert_eq!(pat_only.len(), 1, "{pat_only:#?}");
    // The key file with the project's id instead of the reserved `zitadel`.
    let key_only = run(args(&[
        "--key",
        &key,
        "--project-id",
        tower_authz_dev::DEV_PROJECT_ID,
    ]))
    .await;
    assert_eq!(key_only.len(), 1, "{key_only:#?}");
    assert_machine_user(&key_only[0], user_id, "flags-service-account");

    // Refusals end the program with an error: a revoked PAT, a project ZITADEL's API does not
    // accept, and no credentials at all.
    issuer.revoke(&pat);
    for extra in [
        vec![pat_arg.as_str()],
        vec!["--key", key.as_str(), "--project-id", "123"],
        vec![],
    ] {
        let args = args(&extra);
        let (output, status) = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Example::start("zitadel_service_account", &args).finish()
        })
        .await
        .expect("example");
        assert!(!status.success(), "{extra:?}: {output:#?}");
        assert!(output.is_empty(), "{extra:?}: {output:#?}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
