//! Parsing, building, and every error naming its field.

use std::collections::HashMap;
use std::ffi::OsString;

use serde_json::json;

use super::*;
use crate::answer::Answer;
use crate::claims::{Claims, RoleSource};
use crate::error::ConfigErrorKind;
use crate::policy::{Access, Policy};

/// An environment with these variables only.
fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.get(name).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(toml: &str) -> AuthConfig {
    AuthConfig::from_toml_str(toml).expect("parses")
}

fn parse_error(toml: &str) -> ConfigError {
    AuthConfig::from_toml_str(toml).expect_err("refused")
}

fn build_error(toml: &str) -> ConfigError {
    parse(toml).build_layer_with(&no_env).expect_err("refused")
}

/// A temporary folder, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tower-authz-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

#[test]
fn a_single_jwks_issuer_builds() {
    let config = parse(
        r#"
        realm = "tasks"
        token_sources = [{ cookie = "app.at" }, "bearer"]

        [[issuers]]
        issuer = "https://id.example.com"
        audience = ["api", "api://api"]
        roles_claim = ["realm_access", "/resource_access/api/roles"]
        algorithms = ["RS256", "ES256"]
        typ = "at+jwt"
        leeway_seconds = 30
        timeout_seconds = 2
        cache = { max_ttl_seconds = 10, capacity = 100 }
        max_stale_seconds = 3600
        "#,
    );
    assert_eq!(
        config.issuers().collect::<Vec<_>>(),
        ["https://id.example.com"]
    );
    let layer = config.build_layer_with(&no_env).expect("builds");
    let debug = format!("{layer:?}");
    assert!(debug.contains("app.at"), "{debug}");
    assert!(debug.contains("tasks"), "{debug}");
}

#[tokio::test]
async fn several_issuers_with_one_introspecting_build_a_multi_issuer() {
    let config = parse(
        r#"
        [[issuers]]
        issuer = "https://login.example.com"
        audience = "api"

        [[issuers]]
        issuer = "https://my-instance.zitadel.cloud"
        roles_claim = "urn:zitadel:iam:org:project:roles"
        [issuers.introspection]
        client_id = "api"
        client_secret = { env = "ZITADEL_SECRET" }
        client_auth = "client_secret_post"
        provider_checks_audience = true
        "#,
    );
    let verifier = config
        .build_verifier_with(&env_of(&[("ZITADEL_SECRET", "hunter2")]))
        .expect("builds");
    // A token of no configured issuer (an opaque one) goes to the introspecting issuer, which
    // has to ask the provider; without it, it is refused at once.
    assert!(matches!(
        verifier.verify("an-opaque-token-of-zitadel"),
        Answer::Pending(_)
    ));
    let jwt_only = parse("[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"\n[[issuers]]\nissuer = \"https://b\"\naudience = \"api\"")
        .build_verifier_with(&no_env)
        .expect("builds");
    assert!(matches!(
        jwt_only.verify("an-opaque-token-of-zitadel"),
        Answer::Ready(Err(_))
    ));
}

#[test]
fn unknown_and_mistyped_fields_are_named() {
    let error = parse_error("[[issuers]]\nissuer = \"https://a\"\naudiance = \"api\"");
    assert_eq!(error.kind(), ConfigErrorKind::InvalidConfig);
    assert_eq!(error.field(), Some("issuers[0].audiance"));
    assert!(
        error
            .to_string()
            .starts_with("issuers[0].audiance: unknown field"),
        "{error}"
    );

    let error = parse_error("[[issuers]]\nissuer = \"https://a\"\nleeway_seconds = \"soon\"");
    assert_eq!(error.field(), Some("issuers[0].leeway_seconds"));
    assert!(error.to_string().contains("line 3"), "{error}");

    let error = parse_error("[[issuers]]\naudience = \"api\"");
    assert_eq!(error.field(), Some("issuers[0]"));
    assert!(error.to_string().contains("issuer"), "{error}");

    let error = parse_error(
        "[[issuers]]\nissuer = \"https://a\"\n[issuers.introspection]\nclient_auth = \"tls\"",
    );
    assert_eq!(error.field(), Some("issuers[0].introspection.client_auth"));

    let error = parse_error("token_sources = [{ header = \"x\" }]");
    assert_eq!(error.field(), Some("token_sources[0]"));

    let error = parse_error("[policies]\nadmin = { rol = \"admin\" }");
    assert_eq!(error.field(), Some("policies.admin"));
}

#[test]
fn a_syntax_error_gives_its_line_and_no_text() {
    let error = parse_error("[[issuers]]\nissuer = \"https://a\"\naudience = = \"hunter2\"");
    assert_eq!(error.kind(), ConfigErrorKind::InvalidConfig);
    assert_eq!(error.field(), None);
    let text = error.to_string();
    assert!(text.contains("line 3"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn a_secret_given_inline_is_refused_without_repeating_it() {
    let error = parse_error(
        r#"
        [[issuers]]
        issuer = "https://id.example.com"
        audience = "api"
        [issuers.introspection]
        client_id = "api"
        client_secret = "hunter2"
        "#,
    );
    assert_eq!(
        error.field(),
        Some("issuers[0].introspection.client_secret")
    );
    let text = format!("{error} {error:?}");
    assert!(text.contains("never inline"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");

    let error =
        parse_error("[[issuers]]\nissuer = \"https://a\"\nhmac_secret = { value = \"hunter2\" }");
    assert_eq!(error.field(), Some("issuers[0].hmac_secret.value"));
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

const INTROSPECTION: &str = r#"
    [[issuers]]
    issuer = "https://id.example.com"
    audience = "api"
    [issuers.introspection]
    endpoint = "https://id.example.com/oauth2/introspect"
    client_id = "api"
    client_secret = { env = "API_CLIENT_SECRET" }
    "#;

#[test]
fn a_missing_secret_variable_is_named() {
    let error = build_error(INTROSPECTION);
    assert_eq!(error.kind(), ConfigErrorKind::InvalidConfig);
    assert_eq!(
        error.field(),
        Some("issuers[0].introspection.client_secret.env")
    );
    assert!(
        error.to_string().contains("API_CLIENT_SECRET is not set"),
        "{error}"
    );

    let env = env_of(&[("API_CLIENT_SECRET", "hunter2")]);
    let layer = parse(INTROSPECTION).build_layer_with(&env).expect("builds");
    assert!(!format!("{layer:?}").contains("hunter2"));
}

#[test]
fn a_secret_file_is_read_relative_to_the_configuration_file() {
    let dir = TempDir::new("secret-file");
    std::fs::write(dir.0.join("secret"), "hunter2\n").expect("secret");
    let config =
        INTROSPECTION.replace(r#"{ env = "API_CLIENT_SECRET" }"#, r#"{ file = "secret" }"#);
    std::fs::write(dir.0.join("auth.toml"), &config).expect("config");
    let config = AuthConfig::from_file(dir.0.join("auth.toml")).expect("loads");
    config.build_layer_with(&no_env).expect("builds");

    std::fs::remove_file(dir.0.join("secret")).expect("remove");
    let error = config.build_layer_with(&no_env).expect_err("no file");
    assert_eq!(
        error.field(),
        Some("issuers[0].introspection.client_secret.file")
    );
}

#[test]
fn json_files_are_read_by_their_extension() {
    let dir = TempDir::new("json");
    let path = dir.0.join("auth.json");
    let document = json!({
        "issuers": [{"issuer": "https://id.example.com", "audience": "api"}],
        "policies": {"admin": {"role": "admin"}},
    });
    std::fs::write(&path, document.to_string()).expect("write");
    let config = AuthConfig::from_file(&path).expect("loads");
    config.build_layer_with(&no_env).expect("builds");
    assert_eq!(config.policy_names().collect::<Vec<_>>(), ["admin"]);

    std::fs::write(&path, r#"{"issuers": [{"issuer": 5}]}"#).expect("write");
    let error = AuthConfig::from_file(&path).expect_err("bad type");
    assert_eq!(error.field(), Some("issuers[0].issuer"));
    assert!(error.to_string().contains("auth.json"), "{error}");

    let error = AuthConfig::from_file(dir.0.join("missing.toml")).expect_err("missing");
    assert_eq!(error.kind(), ConfigErrorKind::Io);
}

#[test]
fn a_plain_http_issuer_is_refused_unless_loopback_or_allowed() {
    let toml = |issuer: &str, extra: &str| {
        format!("[[issuers]]\nissuer = \"{issuer}\"\naudience = \"api\"\n{extra}")
    };
    let error = build_error(&toml("http://idp.example.com", ""));
    assert_eq!(error.kind(), ConfigErrorKind::InsecureUrl);
    assert_eq!(error.field(), Some("issuers[0].issuer"));
    assert!(
        error.to_string().contains("allow_insecure_http = true"),
        "{error}"
    );

    let error = build_error(&toml(
        "https://idp.example.com",
        "jwks_uri = \"http://idp.example.com/keys\"",
    ));
    assert_eq!(error.kind(), ConfigErrorKind::InsecureUrl);
    assert_eq!(error.field(), Some("issuers[0].jwks_uri"));

    for (issuer, extra) in [
        ("http://127.0.0.1:8080", ""),
        ("http://idp.example.com", "allow_insecure_http = true"),
    ] {
        parse(&toml(issuer, extra))
            .build_layer_with(&no_env)
            .expect("accepted");
    }
}

#[test]
fn semantic_mistakes_name_their_field() {
    let cases: &[(&str, &str)] = &[
        ("[[issuers]]\nissuer = \"https://a\"", "issuers[0].audience"),
        ("", "issuers"),
        (
            "[[issuers]]\nissuer = \"\"\naudience = \"api\"",
            "issuers[0].issuer",
        ),
        (
            "[[issuers]]\nissuer = \"https://a\"\naudience = [\"api\", \"\"]",
            "issuers[0].audience[1]",
        ),
        (
            "[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"\nalgorithms = [\"RS256\", \"none\"]",
            "issuers[0].algorithms[1]",
        ),
        (
            "[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"\ntenants = \"any\"",
            "issuers[0].jwks_uri",
        ),
        (
            "[[issuers]]\nissuer = \"https://a/{tenantid}\"\naudience = \"api\"\njwks_uri = \"https://a/keys\"",
            "issuers[0].issuer",
        ),
        (
            "[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"\n[issuers.introspection]\nkey_file = \"k.json\"\nclient_id = \"x\"",
            "issuers[0].introspection.client_id",
        ),
        (
            "[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"\n[issuers.introspection]\nclient_id = \"x\"",
            "issuers[0].introspection.client_secret",
        ),
        (
            "[[issuers]]\nissuer = \"https://a\"\n[issuers.introspection]\nclient_id = \"x\"\nclient_secret = { env = \"S\" }",
            "issuers[0].audience",
        ),
        (
            "[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"\njwks_uri = \"https://a/k\"\n[issuers.introspection]\nclient_id = \"x\"\nclient_secret = { env = \"S\" }",
            "issuers[0].jwks_uri",
        ),
        (
            "[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"\n[issuers.introspection]\nkey_file = \"/nonexistent/key.json\"\nprovider_checks_audience = true",
            "issuers[0].introspection.provider_checks_audience",
        ),
        (
            "[[issuers]]\nissuer = \"https://a\"\n[issuers.introspection]\nkey_file = \"/nonexistent/key.json\"\nprovider_checks_audience = true",
            "issuers[0].introspection.key_file",
        ),
        (
            "[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"\njwks_uri = \"https://a/k\"\nhmac_secret = { env = \"S\" }",
            "issuers[0].jwks_uri",
        ),
        (
            "token_sources = []\n[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"",
            "token_sources",
        ),
        (
            "realm = \"a\\\"b\"\n[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"",
            "realm",
        ),
        (
            "[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"\n[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"",
            "issuers[1].issuer",
        ),
        (
            "[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"\n[policies]\nnobody = { any_role = [] }",
            "policies.nobody.any_role",
        ),
    ];
    for (toml, field) in cases {
        let error = build_error(toml);
        assert_eq!(error.field(), Some(*field), "{toml}\n{error}");
        assert!(
            error.to_string().starts_with(&format!("{field}: ")),
            "{error}"
        );
    }
}

#[test]
fn two_introspecting_issuers_are_refused() {
    let one = |issuer: &str| {
        format!(
            "[[issuers]]\nissuer = \"{issuer}\"\n[issuers.introspection]\nclient_id = \"x\"\n\
             client_secret = {{ env = \"S\" }}\nprovider_checks_audience = true\n"
        )
    };
    let config = parse(&(one("https://a") + &one("https://b")));
    let error = config
        .build_layer_with(&env_of(&[("S", "s")]))
        .expect_err("two fallbacks");
    assert_eq!(error.field(), Some("issuers[1].introspection"));
}

fn claims(value: serde_json::Value) -> Claims {
    Claims::from_value(value, &RoleSource::default()).expect("claims")
}

fn allows(rule: &Rule, claims: &Claims) -> bool {
    let (parts, ()) = http::Request::new(()).into_parts();
    match rule.evaluate(&Access::new(claims, &parts)) {
        Answer::Ready(result) => result.is_ok(),
        Answer::Pending(_) => panic!("these rules answer at once"),
    }
}

#[test]
fn policies_by_name() {
    let config = parse(
        r#"
        [[issuers]]
        issuer = "https://id.example.com"
        audience = "api"

        [policies]
        signed_in = "authenticated"
        admin = { role = "admin" }
        reader = { any_scope = ["read", "write"] }
        todo = { scope_or_role = { scopes = ["ToDoList.Read"], roles = ["ToDoList.Read.All"] } }
        editor = { all = [{ role = "editor" }, { not = { role = "suspended" } }] }
        either = { any = [{ scope = "admin" }, { any_role = ["owner", "admin"] }] }
        "#,
    );
    let admin = claims(json!({"sub": "a", "roles": ["admin"]}));
    let reader = claims(json!({"sub": "r", "scope": "read"}));
    let editor = claims(json!({"sub": "e", "roles": ["editor"]}));
    let suspended = claims(json!({"sub": "s", "roles": ["editor", "suspended"]}));
    let daemon = claims(json!({"sub": "d", "roles": ["ToDoList.Read.All"]}));

    let rule = |name| config.policy(name).expect(name);
    assert!(allows(&rule("signed_in"), &reader));
    assert!(allows(&rule("admin"), &admin));
    assert!(!allows(&rule("admin"), &reader));
    assert!(allows(&rule("reader"), &reader));
    assert!(!allows(&rule("reader"), &admin));
    assert!(allows(&rule("todo"), &daemon));
    assert!(!allows(&rule("todo"), &reader));
    assert!(allows(&rule("editor"), &editor));
    assert!(!allows(&rule("editor"), &suspended));
    assert!(allows(&rule("either"), &admin));
    assert!(!allows(&rule("either"), &editor));

    let missing = config.policy("owner").expect_err("not configured");
    assert_eq!(missing.kind(), ConfigErrorKind::InvalidConfig);
    assert_eq!(missing.field(), Some("policies.owner"));
    assert_eq!(
        config.policy_names().collect::<Vec<_>>(),
        ["admin", "editor", "either", "reader", "signed_in", "todo"]
    );
}

fn vars(vars: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    vars.iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

#[test]
fn from_env_reads_one_issuer_and_keeps_secrets_in_the_environment() {
    let environment = [
        ("PATH", "/usr/bin"),
        ("APP_AUTH_ISSUER", "https://id.example.com"),
        ("APP_AUTH_AUDIENCE", "api, api://api"),
        ("APP_AUTH_ROLES_CLAIM", "realm_access"),
        ("APP_AUTH_LEEWAY_SECONDS", "10"),
        ("APP_AUTH_INTROSPECTION_CLIENT_ID", "api"),
        ("APP_AUTH_INTROSPECTION_CLIENT_SECRET", "hunter2"),
        ("APP_AUTH_TOKEN_SOURCES", "cookie:app.at,bearer"),
        ("APP_AUTH_OPTIONAL", "true"),
        ("APP_AUTH_POLICIES", r#"{"admin": {"role": "admin"}}"#),
    ];
    let config = env::from_vars("APP_AUTH_", vars(&environment)).expect("reads");
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(
        debug.contains("APP_AUTH_INTROSPECTION_CLIENT_SECRET"),
        "{debug}"
    );
    let layer = config
        .build_layer_with(&env_of(&environment))
        .expect("builds");
    assert!(!format!("{layer:?}").contains("hunter2"));
    config.policy("admin").expect("policy");

    // Errors name the variable.
    let error = config.build_layer_with(&no_env).expect_err("secret unset");
    assert_eq!(
        config.name_variable(error).field(),
        Some("APP_AUTH_INTROSPECTION_CLIENT_SECRET")
    );
}

#[test]
fn from_env_errors_name_the_variable() {
    let error = env::from_vars("APP", vars(&[("APP_AUDIENCES", "api")])).expect_err("misspelt");
    assert_eq!(error.field(), Some("APP_AUDIENCES"));

    let error = env::from_vars(
        "APP",
        vars(&[("APP_ISSUER", "https://a"), ("APP_TIMEOUT_SECONDS", "5s")]),
    )
    .expect_err("not a number");
    assert_eq!(error.field(), Some("APP_TIMEOUT_SECONDS"));

    let error = env::from_vars("APP", vars(&[("APP_AUDIENCE", "api")])).expect_err("no issuer");
    assert_eq!(error.field(), Some("APP_ISSUER"));

    let error = env::from_vars(
        "APP",
        vars(&[("APP_ISSUER", "https://a"), ("APP_TOKEN_SOURCES", "header")]),
    )
    .expect_err("unknown source");
    assert_eq!(error.field(), Some("APP_TOKEN_SOURCES"));

    let config = env::from_vars(
        "APP",
        vars(&[("APP_ISSUER", "https://a"), ("APP_ALGORITHMS", "RS256,XX1")]),
    )
    .expect("reads");
    let error = config
        .build_layer_with(&no_env)
        .map_err(|error| config.name_variable(error))
        .expect_err("no audience");
    assert_eq!(error.field(), Some("APP_AUDIENCE"));

    let config = env::from_vars(
        "APP",
        vars(&[
            ("APP_ISSUER", "https://a"),
            ("APP_HMAC_SECRET_FILE", "/nonexistent/secret"),
            ("APP_AUDIENCE", "api"),
        ]),
    )
    .expect("reads");
    let error = config
        .build_layer_with(&no_env)
        .map_err(|error| config.name_variable(error))
        .expect_err("no file");
    assert_eq!(error.field(), Some("APP_HMAC_SECRET_FILE"));

    let error = env::from_vars(
        "APP",
        vars(&[("APP_HMAC_SECRET", "a"), ("APP_HMAC_SECRET_FILE", "/b")]),
    )
    .expect_err("both");
    assert_eq!(error.field(), Some("APP_HMAC_SECRET_FILE"));
}

/// An HS256 JWT of `claims` signed with `secret`.
fn hs256(secret: &[u8], claims: &serde_json::Value) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

#[test]
fn an_hmac_issuer_verifies_with_the_secret_from_the_environment() {
    const SECRET: &str = "a-32-byte-or-longer-shared-secret!";
    let config = parse(
        r#"
        [[issuers]]
        issuer = "http://localhost:9011"
        audience = "app"
        hmac_secret = { env = "FUSIONAUTH_KEY" }
        roles_claim = "roles"
        "#,
    );
    let verifier = config
        .build_verifier_with(&env_of(&[("FUSIONAUTH_KEY", SECRET)]))
        .expect("builds");
    let exp = crate::clock::now() + 600;
    let good = hs256(
        SECRET.as_bytes(),
        &json!({"iss": "http://localhost:9011", "aud": "app", "sub": "u", "exp": exp, "roles": ["admin"]}),
    );
    let claims = match verifier.verify(&good) {
        Answer::Ready(result) => result.expect("verified"),
        Answer::Pending(_) => panic!("fixed keys answer at once"),
    };
    assert!(claims.has_role("admin"));
    let forged = hs256(
        b"another-32-byte-or-longer-secret!!",
        &json!({"iss": "http://localhost:9011", "aud": "app", "sub": "u", "exp": exp}),
    );
    assert!(matches!(verifier.verify(&forged), Answer::Ready(Err(_))));
}

#[test]
fn the_shipped_example_configurations_parse() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/config");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("examples/config") {
        let path = entry.expect("entry").path();
        AuthConfig::from_file(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        seen += 1;
    }
    assert!(seen >= 2, "{seen} example configurations");
}

const DPOP_ISSUER: &str = "[[issuers]]\nissuer = \"https://a\"\naudience = \"api\"\n";

fn dpop_policy(config: &AuthConfig, env: EnvLookup<'_>) -> Result<crate::DpopPolicy, ConfigError> {
    config
        .dpop
        .as_ref()
        .expect("a [dpop] section")
        .policy(&Field::root().join("dpop"), None, env)
}

#[test]
fn the_dpop_section_builds_the_layer_s_dpop_policy() {
    let config = parse(&format!(
        r#"{DPOP_ISSUER}
        [dpop]
        mode = "allowed"
        algorithms = ["ES256", "EdDSA"]
        max_age_seconds = 120
        leeway_seconds = 5
        max_proof_bytes = 2048
        replay_capacity = 500
        public_url = "https://api.example.com"
        nonce_secret = {{ env = "DPOP_NONCE_SECRET" }}
        "#
    ));
    let secret = "0123456789abcdef0123456789abcdef";
    let vars = [("DPOP_NONCE_SECRET", secret)];
    let env = env_of(&vars);
    let policy = dpop_policy(&config, &env).expect("builds");
    assert_eq!(policy.mode(), crate::DpopMode::Allowed);
    assert_eq!(policy.algs_param(), "ES256 EdDSA");
    assert_eq!(policy.max_age, std::time::Duration::from_secs(120));
    assert_eq!(policy.leeway, std::time::Duration::from_secs(5));
    assert_eq!(policy.max_proof_len, 2048);
    assert_eq!(policy.replay_capacity, 500);
    assert!(policy.nonces.is_some() && policy.public_url.is_some());
    let layer = config.build_layer_with(&env).expect("builds");
    let debug = format!("{layer:?}");
    assert!(
        debug.contains("Allowed") && !debug.contains(secret),
        "{debug}"
    );

    // Without the section, no DPoP; with only a mode, the defaults.
    assert!(parse(DPOP_ISSUER).dpop.is_none());
    let config = parse(&format!("{DPOP_ISSUER}[dpop]\nmode = \"required\"\n"));
    let policy = dpop_policy(&config, &no_env).expect("builds");
    assert_eq!(policy.mode(), crate::DpopMode::Required);
    assert_eq!(policy.algs_param(), "ES256 ES384 RS256 PS256 EdDSA");
    assert!(policy.nonces.is_none());
}

#[test]
fn dpop_mistakes_name_their_field() {
    for (section, field) in [
        ("mode = \"sometimes\"", "dpop.mode"),
        ("mode = \"required\"\nnonces = true", "dpop.nonces"),
        (
            "mode = \"required\"\nnonce_secret = \"inline\"",
            "dpop.nonce_secret",
        ),
        ("algorithms = [\"ES256\"]", "dpop"),
    ] {
        let error = parse_error(&format!("{DPOP_ISSUER}[dpop]\n{section}\n"));
        assert_eq!(error.field(), Some(field), "{section}: {error}");
    }
    for (section, field, kind) in [
        (
            "algorithms = [\"ES256\", \"XX1\"]",
            "dpop.algorithms[1]",
            ConfigErrorKind::InvalidConfig,
        ),
        (
            "algorithms = [\"HS256\"]",
            "dpop.algorithms",
            ConfigErrorKind::InvalidValue,
        ),
        (
            "algorithms = []",
            "dpop.algorithms",
            ConfigErrorKind::InvalidConfig,
        ),
        (
            "max_age_seconds = 0",
            "dpop.max_age_seconds",
            ConfigErrorKind::InvalidConfig,
        ),
        (
            "max_proof_bytes = 0",
            "dpop.max_proof_bytes",
            ConfigErrorKind::InvalidConfig,
        ),
        (
            "replay_capacity = 0",
            "dpop.replay_capacity",
            ConfigErrorKind::InvalidValue,
        ),
        (
            "public_url = \"ftp://api\"",
            "dpop.public_url",
            ConfigErrorKind::InvalidUrl,
        ),
        (
            "nonce_secret = { env = \"UNSET\" }",
            "dpop.nonce_secret.env",
            ConfigErrorKind::InvalidConfig,
        ),
    ] {
        let error = build_error(&format!(
            "{DPOP_ISSUER}[dpop]\nmode = \"required\"\n{section}\n"
        ));
        assert_eq!(error.field(), Some(field), "{section}: {error}");
        assert_eq!(error.kind(), kind, "{section}: {error}");
    }
    // A nonce secret shorter than 32 bytes, and never in the error.
    let config = parse(&format!(
        "{DPOP_ISSUER}[dpop]\nmode = \"required\"\nnonce_secret = {{ env = \"SHORT\" }}\n"
    ));
    let error = config
        .build_layer_with(&env_of(&[("SHORT", "hunter2")]))
        .expect_err("short");
    assert_eq!(error.field(), Some("dpop.nonce_secret"));
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

#[test]
fn dpop_from_the_environment() {
    let secret = "0123456789abcdef0123456789abcdef";
    let environment = [
        ("APP_ISSUER", "https://a"),
        ("APP_AUDIENCE", "api"),
        ("APP_DPOP_MODE", "required"),
        ("APP_DPOP_ALGORITHMS", "ES256"),
        ("APP_DPOP_MAX_AGE_SECONDS", "60"),
        ("APP_DPOP_PUBLIC_URL", "https://api.example.com"),
        ("APP_DPOP_NONCE_SECRET", secret),
    ];
    let config = env::from_vars("APP", vars(&environment)).expect("reads");
    assert!(!format!("{config:?}").contains(secret));
    let policy = dpop_policy(&config, &env_of(&environment)).expect("builds");
    assert_eq!(policy.algs_param(), "ES256");
    assert_eq!(policy.max_age, std::time::Duration::from_secs(60));
    assert!(policy.nonces.is_some());
    config
        .build_layer_with(&env_of(&environment))
        .expect("builds");

    // A DPoP variable without the mode names the mode's variable.
    let error = env::from_vars(
        "APP",
        vars(&[
            ("APP_ISSUER", "https://a"),
            ("APP_DPOP_LEEWAY_SECONDS", "5"),
        ]),
    )
    .expect_err("no mode");
    assert_eq!(error.field(), Some("APP_DPOP_MODE"));
    let config = env::from_vars(
        "APP",
        vars(&[
            ("APP_ISSUER", "https://a"),
            ("APP_AUDIENCE", "api"),
            ("APP_DPOP_MODE", "required"),
            ("APP_DPOP_REPLAY_CAPACITY", "0"),
        ]),
    )
    .expect("reads");
    let error = config
        .build_layer_with(&no_env)
        .map_err(|error| config.name_variable(error))
        .expect_err("no room");
    assert_eq!(error.field(), Some("APP_DPOP_REPLAY_CAPACITY"));
}

/// An introspecting issuer with `shared_cache` (a TOML table body) as its shared cache.
#[cfg(feature = "introspection")]
fn with_shared_cache(shared_cache: &str) -> String {
    format!(
        "[[issuers]]\nissuer = \"https://id.example.com\"\naudience = \"api\"\n\
         [issuers.introspection]\nclient_id = \"api\"\nclient_secret = {{ env = \"API_SECRET\" }}\n\
         [issuers.introspection.shared_cache]\n{shared_cache}"
    )
}

#[cfg(feature = "introspection")]
const CACHE_SECRET: &str = "a shared cache secret of 32 bytes or more";

#[cfg(feature = "introspection")]
fn shared_cache_env() -> impl Fn(&str) -> Option<String> {
    env_of(&[
        ("API_SECRET", "hunter2"),
        ("CACHE_SECRET", CACHE_SECRET),
        (
            "REDIS_URL",
            "rediss://default:r3dis-pass@cache.internal:6380",
        ),
    ])
}

#[cfg(feature = "redis")]
#[test]
fn a_shared_cache_section_gives_the_verifier_a_redis_cache_with_its_settings() {
    use super::shared_cache::SharedCacheConfig;

    let dir = TempDir::new("shared-cache");
    std::fs::write(
        dir.0.join("ca.pem"),
        include_str!("../../tests/fixtures/loopback-tls-cert.pem"),
    )
    .expect("write");
    let section: SharedCacheConfig = toml::from_str(
        r#"
        url = "rediss://cache.internal:6380"
        secret = { env = "CACHE_SECRET" }
        ca_file = "ca.pem"
        prefix = "orders-api:"
        timeout_milliseconds = 40
        lock_ttl_milliseconds = 5000
        wait_for_holder_milliseconds = 3000
        poll_interval_milliseconds = 25
        pause_after_failure_milliseconds = 2500
        "#,
    )
    .expect("parses");
    let env = shared_cache_env();
    let context = Context {
        base: Some(&dir.0),
        env: &env,
    };
    let verifier = crate::IntrospectionVerifier::new(
        "https://id.example.com",
        "https://id.example.com/introspect",
        crate::ClientAuth::basic("api", "hunter2"),
        "api",
    )
    .expect("verifier");
    let field = Field::root().join("shared_cache");
    let debug = format!("{:?}", verifier);
    assert!(debug.contains("shared: None"), "{debug}");
    let verifier = section.apply(verifier, &field, &context).expect("applies");
    let debug = format!("{verifier:?}");
    for expected in [
        "RedisCache",
        "cache.internal:6380",
        "orders-api:",
        "timeout: 40ms",
        "lock_ttl: 5s",
        "wait_for_holder: 3s",
        "poll_interval: 25ms",
        "pause_after_failure: 2.5s",
    ] {
        assert!(debug.contains(expected), "{expected} in {debug}");
    }
    assert!(!debug.contains(CACHE_SECRET), "{debug}");

    // Through the whole configuration, with the URL (and its password) from a variable.
    let config = parse(&with_shared_cache(
        "url = { env = \"REDIS_URL\" }\nsecret = { env = \"CACHE_SECRET\" }\n",
    ));
    config.build_verifier_with(&env).expect("builds");
    assert!(!format!("{config:?}").contains("r3dis-pass"));
}

#[cfg(feature = "redis")]
#[test]
fn shared_cache_mistakes_name_their_field() {
    let env = shared_cache_env();
    let error_of = |section: &str| {
        parse(&with_shared_cache(section))
            .build_verifier_with(&env)
            .map(drop)
            .expect_err("refused")
    };
    let at = "issuers[0].introspection.shared_cache";
    let secret = "secret = { env = \"CACHE_SECRET\" }\n";
    let cases: &[(String, String, ConfigErrorKind)] = &[
        (
            format!("url = \"rediss://user:r3dis-pass@cache.internal\"\n{secret}"),
            format!("{at}.url"),
            ConfigErrorKind::InvalidConfig,
        ),
        (
            format!("url = \"redis://cache.internal:6379\"\n{secret}"),
            format!("{at}.url"),
            ConfigErrorKind::InsecureUrl,
        ),
        (
            format!("url = \"not a url\"\n{secret}"),
            format!("{at}.url"),
            ConfigErrorKind::InvalidUrl,
        ),
        (
            "url = \"rediss://cache.internal\"\nsecret = { env = \"API_SECRET\" }\n".to_owned(),
            format!("{at}.secret"),
            ConfigErrorKind::InvalidConfig,
        ),
        (
            format!(
                "url = \"rediss://cache.internal\"\n{secret}ca_file = \"/nonexistent/ca.pem\"\n"
            ),
            format!("{at}.ca_file"),
            ConfigErrorKind::InvalidConfig,
        ),
        (
            format!("url = \"rediss://cache.internal\"\n{secret}client_cert_file = \"c.pem\"\n"),
            format!("{at}.client_key_file"),
            ConfigErrorKind::InvalidConfig,
        ),
        (
            format!(
                "url = \"rediss://cache.internal\"\n{secret}poll_interval_milliseconds = 1000\n"
            ),
            at.to_owned(),
            ConfigErrorKind::InvalidValue,
        ),
        (
            format!("url = \"rediss://cache.internal\"\n{secret}timeout_milliseconds = 0\n"),
            format!("{at}.timeout_milliseconds"),
            ConfigErrorKind::InvalidConfig,
        ),
    ];
    for (section, field, kind) in cases {
        let error = error_of(section);
        assert_eq!(error.field(), Some(field.as_str()), "{section}: {error}");
        assert_eq!(error.kind(), *kind, "{section}: {error}");
        assert!(!error.to_string().contains("r3dis-pass"), "{error}");
    }
    // The InsecureUrl refusal says how the configuration allows it, and it does.
    let plain = format!("url = \"redis://cache.internal:6379\"\n{secret}");
    assert!(
        error_of(&plain)
            .to_string()
            .contains("allow_plaintext = true")
    );
    parse(&with_shared_cache(&format!(
        "{plain}allow_plaintext = true\n"
    )))
    .build_verifier_with(&env)
    .expect("allowed");
    // The shared cache needs the local one.
    let error = parse(&format!(
        "{}\n[issuers.cache]\nenabled = false\n",
        with_shared_cache(&format!("url = \"rediss://cache.internal\"\n{secret}"))
    ))
    .build_verifier_with(&env)
    .map(drop)
    .expect_err("no local cache");
    assert_eq!(error.field(), Some(at));
    // Unknown fields and a missing secret are named when the file is read.
    let error = parse_error(&with_shared_cache(&format!(
        "url = \"rediss://cache.internal\"\n{secret}ca_flie = \"ca.pem\"\n"
    )));
    assert_eq!(error.field(), Some(format!("{at}.ca_flie").as_str()));
    let error = parse_error(&with_shared_cache("url = \"rediss://cache.internal\"\n"));
    assert_eq!(error.kind(), ConfigErrorKind::InvalidConfig);
    let error = parse_error(&with_shared_cache(
        "url = \"rediss://cache.internal\"\nsecret = \"inline\"\n",
    ));
    assert_eq!(error.field(), Some(format!("{at}.secret").as_str()));
}

#[cfg(all(feature = "introspection", not(feature = "redis")))]
#[test]
fn a_shared_cache_section_without_the_redis_feature_is_an_error() {
    let error = parse(&with_shared_cache(
        "url = \"rediss://cache.internal\"\nsecret = { env = \"CACHE_SECRET\" }\n",
    ))
    .build_verifier_with(&shared_cache_env())
    .map(drop)
    .expect_err("refused");
    assert_eq!(error.field(), Some("issuers[0].introspection.shared_cache"));
    assert!(error.to_string().contains("`redis`"), "{error}");
}

#[cfg(feature = "redis")]
#[test]
fn the_shared_cache_from_the_environment() {
    let environment = [
        ("APP_ISSUER", "https://id.example.com"),
        ("APP_AUDIENCE", "api"),
        ("APP_INTROSPECTION_CLIENT_ID", "api"),
        ("APP_INTROSPECTION_CLIENT_SECRET", "hunter2"),
        (
            "APP_INTROSPECTION_SHARED_CACHE_URL",
            "rediss://default:r3dis-pass@cache.internal:6380",
        ),
        ("APP_INTROSPECTION_SHARED_CACHE_SECRET", CACHE_SECRET),
        ("APP_INTROSPECTION_SHARED_CACHE_PREFIX", "orders-api:"),
        ("APP_INTROSPECTION_SHARED_CACHE_TIMEOUT_MILLISECONDS", "50"),
        (
            "APP_INTROSPECTION_SHARED_CACHE_LOCK_TTL_MILLISECONDS",
            "3000",
        ),
    ];
    let config = env::from_vars("APP", vars(&environment)).expect("reads");
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("r3dis-pass") && !debug.contains(CACHE_SECRET),
        "{debug}"
    );
    config
        .build_verifier_with(&env_of(&environment))
        .expect("builds");

    // Errors name the variable.
    let mut short = environment.to_vec();
    short[5] = ("APP_INTROSPECTION_SHARED_CACHE_SECRET", "short");
    let config = env::from_vars("APP", vars(&short)).expect("reads");
    let error = config
        .build_verifier_with(&env_of(&short))
        .map(drop)
        .map_err(|error| config.name_variable(error))
        .expect_err("short secret");
    assert_eq!(error.field(), Some("APP_INTROSPECTION_SHARED_CACHE_SECRET"));
    let mut plain = environment.to_vec();
    plain[4] = (
        "APP_INTROSPECTION_SHARED_CACHE_URL",
        "redis://cache.internal",
    );
    let config = env::from_vars("APP", vars(&plain)).expect("reads");
    let error = config
        .build_verifier_with(&env_of(&plain))
        .map(drop)
        .map_err(|error| config.name_variable(error))
        .expect_err("plaintext");
    assert_eq!(error.field(), Some("APP_INTROSPECTION_SHARED_CACHE_URL"));
    assert_eq!(error.kind(), ConfigErrorKind::InsecureUrl);
    let error = env::from_vars(
        "APP",
        vars(&[(
            "APP_INTROSPECTION_SHARED_CACHE_POLL_INTERVAL_MILLISECONDS",
            "soon",
        )]),
    )
    .expect_err("not a number");
    assert_eq!(
        error.field(),
        Some("APP_INTROSPECTION_SHARED_CACHE_POLL_INTERVAL_MILLISECONDS")
    );
}
