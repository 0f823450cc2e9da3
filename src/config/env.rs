//! [`AuthConfig::from_env`]: one issuer from `{PREFIX}_*` variables, read through the same
//! deserialization as a file, with errors that name the variable.

use std::ffi::OsString;

use serde_json::{Map, Value, json};

use super::AuthConfig;
use crate::error::{ConfigError, ConfigErrorKind};

/// How a variable's text becomes a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// Comma-separated; one item stays a string (`audience = "api"`).
    List,
    Number,
    Bool,
    /// The variable holds the secret: the configuration keeps the variable's name.
    SecretInVariable,
    SecretFile,
    Tenants,
    TokenSources,
    Json,
}

/// Where each variable goes: its name after the prefix, the field's path, how it is read.
const VARIABLES: &[(&str, &str, Kind)] = &[
    ("ISSUER", "issuers[0].issuer", Kind::Text),
    ("AUDIENCE", "issuers[0].audience", Kind::List),
    ("JWKS_URI", "issuers[0].jwks_uri", Kind::Text),
    ("TENANTS", "issuers[0].tenants", Kind::Tenants),
    (
        "HMAC_SECRET",
        "issuers[0].hmac_secret",
        Kind::SecretInVariable,
    ),
    (
        "HMAC_SECRET_FILE",
        "issuers[0].hmac_secret",
        Kind::SecretFile,
    ),
    (
        "ALLOW_INSECURE_HTTP",
        "issuers[0].allow_insecure_http",
        Kind::Bool,
    ),
    ("ROLES_CLAIM", "issuers[0].roles_claim", Kind::List),
    ("ALGORITHMS", "issuers[0].algorithms", Kind::List),
    ("TYP", "issuers[0].typ", Kind::Text),
    ("LEEWAY_SECONDS", "issuers[0].leeway_seconds", Kind::Number),
    (
        "TIMEOUT_SECONDS",
        "issuers[0].timeout_seconds",
        Kind::Number,
    ),
    (
        "MAX_TOKEN_BYTES",
        "issuers[0].max_token_bytes",
        Kind::Number,
    ),
    (
        "MAX_DOCUMENT_BYTES",
        "issuers[0].max_document_bytes",
        Kind::Number,
    ),
    (
        "REFRESH_INTERVAL_SECONDS",
        "issuers[0].refresh_interval_seconds",
        Kind::Number,
    ),
    (
        "MIN_REFETCH_INTERVAL_SECONDS",
        "issuers[0].min_refetch_interval_seconds",
        Kind::Number,
    ),
    (
        "RETRY_INTERVAL_SECONDS",
        "issuers[0].retry_interval_seconds",
        Kind::Number,
    ),
    (
        "MAX_STALE_SECONDS",
        "issuers[0].max_stale_seconds",
        Kind::Number,
    ),
    (
        "INTROSPECTION_ENDPOINT",
        "issuers[0].introspection.endpoint",
        Kind::Text,
    ),
    (
        "INTROSPECTION_CLIENT_AUTH",
        "issuers[0].introspection.client_auth",
        Kind::Text,
    ),
    (
        "INTROSPECTION_CLIENT_ID",
        "issuers[0].introspection.client_id",
        Kind::Text,
    ),
    (
        "INTROSPECTION_CLIENT_SECRET",
        "issuers[0].introspection.client_secret",
        Kind::SecretInVariable,
    ),
    (
        "INTROSPECTION_CLIENT_SECRET_FILE",
        "issuers[0].introspection.client_secret",
        Kind::SecretFile,
    ),
    (
        "INTROSPECTION_KEY_FILE",
        "issuers[0].introspection.key_file",
        Kind::Text,
    ),
    (
        "INTROSPECTION_PROVIDER_CHECKS_AUDIENCE",
        "issuers[0].introspection.provider_checks_audience",
        Kind::Bool,
    ),
    (
        "INTROSPECTION_MAX_CONCURRENT_CALLS",
        "issuers[0].introspection.max_concurrent_calls",
        Kind::Number,
    ),
    (
        "INTROSPECTION_SHARED_CACHE_URL",
        "issuers[0].introspection.shared_cache.url",
        Kind::SecretInVariable,
    ),
    (
        "INTROSPECTION_SHARED_CACHE_SECRET",
        "issuers[0].introspection.shared_cache.secret",
        Kind::SecretInVariable,
    ),
    (
        "INTROSPECTION_SHARED_CACHE_SECRET_FILE",
        "issuers[0].introspection.shared_cache.secret",
        Kind::SecretFile,
    ),
    (
        "INTROSPECTION_SHARED_CACHE_CA_FILE",
        "issuers[0].introspection.shared_cache.ca_file",
        Kind::Text,
    ),
    (
        "INTROSPECTION_SHARED_CACHE_CLIENT_CERT_FILE",
        "issuers[0].introspection.shared_cache.client_cert_file",
        Kind::Text,
    ),
    (
        "INTROSPECTION_SHARED_CACHE_CLIENT_KEY_FILE",
        "issuers[0].introspection.shared_cache.client_key_file",
        Kind::Text,
    ),
    (
        "INTROSPECTION_SHARED_CACHE_ALLOW_PLAINTEXT",
        "issuers[0].introspection.shared_cache.allow_plaintext",
        Kind::Bool,
    ),
    (
        "INTROSPECTION_SHARED_CACHE_PREFIX",
        "issuers[0].introspection.shared_cache.prefix",
        Kind::Text,
    ),
    (
        "INTROSPECTION_SHARED_CACHE_TIMEOUT_MILLISECONDS",
        "issuers[0].introspection.shared_cache.timeout_milliseconds",
        Kind::Number,
    ),
    (
        "INTROSPECTION_SHARED_CACHE_LOCK_TTL_MILLISECONDS",
        "issuers[0].introspection.shared_cache.lock_ttl_milliseconds",
        Kind::Number,
    ),
    (
        "INTROSPECTION_SHARED_CACHE_WAIT_FOR_HOLDER_MILLISECONDS",
        "issuers[0].introspection.shared_cache.wait_for_holder_milliseconds",
        Kind::Number,
    ),
    (
        "INTROSPECTION_SHARED_CACHE_POLL_INTERVAL_MILLISECONDS",
        "issuers[0].introspection.shared_cache.poll_interval_milliseconds",
        Kind::Number,
    ),
    (
        "INTROSPECTION_SHARED_CACHE_PAUSE_AFTER_FAILURE_MILLISECONDS",
        "issuers[0].introspection.shared_cache.pause_after_failure_milliseconds",
        Kind::Number,
    ),
    ("TOKEN_SOURCES", "token_sources", Kind::TokenSources),
    ("OPTIONAL", "optional", Kind::Bool),
    ("REALM", "realm", Kind::Text),
    ("POLICIES", "policies", Kind::Json),
    ("DPOP_MODE", "dpop.mode", Kind::Text),
    ("DPOP_ALGORITHMS", "dpop.algorithms", Kind::List),
    ("DPOP_MAX_AGE_SECONDS", "dpop.max_age_seconds", Kind::Number),
    ("DPOP_LEEWAY_SECONDS", "dpop.leeway_seconds", Kind::Number),
    ("DPOP_MAX_PROOF_BYTES", "dpop.max_proof_bytes", Kind::Number),
    ("DPOP_REPLAY_CAPACITY", "dpop.replay_capacity", Kind::Number),
    ("DPOP_PUBLIC_URL", "dpop.public_url", Kind::Text),
    (
        "DPOP_NONCE_SECRET",
        "dpop.nonce_secret",
        Kind::SecretInVariable,
    ),
    (
        "DPOP_NONCE_SECRET_FILE",
        "dpop.nonce_secret",
        Kind::SecretFile,
    ),
];

/// The configuration the variables `{prefix}_*` among `vars` give.
pub(super) fn from_vars(
    prefix: &str,
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<AuthConfig, ConfigError> {
    let prefix = prefix.trim_end_matches('_');
    if prefix.is_empty() {
        return Err(ConfigError::new(
            ConfigErrorKind::InvalidValue,
            "the prefix of the configuration's environment variables is empty",
        ));
    }
    let mut issuer = Map::new();
    let mut introspection = Map::new();
    let mut shared_cache = Map::new();
    let mut dpop = Map::new();
    let mut top = Map::new();
    for (name, value) in vars {
        let Some(suffix) = name
            .to_str()
            .and_then(|name| name.strip_prefix(prefix))
            .and_then(|rest| rest.strip_prefix('_'))
        else {
            continue;
        };
        let variable = format!("{prefix}_{suffix}");
        let Some(&(_, path, kind)) = VARIABLES.iter().find(|(name, ..)| *name == suffix) else {
            return Err(named(
                &variable,
                "is not a configuration variable (misspelt?)",
            ));
        };
        let text = value
            .into_string()
            .map_err(|_| named(&variable, "is not UTF-8"))?;
        let value = read(&variable, &text, kind)?;
        let (table, key) = match path.rsplit_once('.') {
            Some(("issuers[0]", key)) => (&mut issuer, key),
            Some(("issuers[0].introspection", key)) => (&mut introspection, key),
            Some(("issuers[0].introspection.shared_cache", key)) => (&mut shared_cache, key),
            Some(("dpop", key)) => (&mut dpop, key),
            _ => (&mut top, path),
        };
        if table.insert(key.to_owned(), value).is_some() {
            return Err(named(
                &variable,
                "gives a secret that another variable gives too (the value or the _FILE form)",
            ));
        }
    }
    if !shared_cache.is_empty() {
        introspection.insert("shared_cache".to_owned(), Value::Object(shared_cache));
    }
    if !introspection.is_empty() {
        issuer.insert("introspection".to_owned(), Value::Object(introspection));
    }
    if !issuer.is_empty() {
        top.insert("issuers".to_owned(), json!([issuer]));
    }
    if !dpop.is_empty() {
        top.insert("dpop".to_owned(), Value::Object(dpop));
    }
    let mut config: AuthConfig =
        serde_path_to_error::deserialize(Value::Object(top)).map_err(|error| {
            let field = error.path().to_string();
            ConfigError::new(ConfigErrorKind::InvalidConfig, error.inner().to_string())
                .with_field(variable_of(prefix, &field).unwrap_or(field))
        })?;
    config.env_prefix = Some(prefix.to_owned());
    Ok(config)
}

/// A variable's value for a field of kind `kind`.
fn read(variable: &str, text: &str, kind: Kind) -> Result<Value, ConfigError> {
    let list = || -> Vec<Value> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| Value::String(item.to_owned()))
            .collect()
    };
    Ok(match kind {
        Kind::Text => Value::String(text.to_owned()),
        Kind::List => match &list()[..] {
            [one] => one.clone(),
            _ => Value::Array(list()),
        },
        Kind::Number => Value::from(
            text.trim()
                .parse::<u64>()
                .map_err(|_| named(variable, "is not a whole number"))?,
        ),
        Kind::Bool => match text.trim() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(named(variable, "is not true, false, 1 or 0")),
        },
        Kind::SecretInVariable => json!({ "env": variable }),
        Kind::SecretFile => json!({ "file": text }),
        Kind::Tenants if text.trim() == "any" => Value::String("any".to_owned()),
        Kind::Tenants => Value::Array(list()),
        Kind::TokenSources => Value::Array(
            text.split(',')
                .map(str::trim)
                .map(|item| match item.strip_prefix("cookie:") {
                    Some(name) => json!({ "cookie": name }),
                    None => Value::String(item.to_owned()),
                })
                .collect(),
        ),
        Kind::Json => serde_json::from_str(text)
            .map_err(|error| named(variable, format!("is not JSON: {error}")))?,
    })
}

/// The variable of the field at `field` (a path such as `issuers[0].audience[1]`), if one gives
/// it.
pub(super) fn variable_of(prefix: &str, field: &str) -> Option<String> {
    if field == "issuers" || field == "issuers[0]" {
        return Some(format!("{prefix}_ISSUER"));
    }
    if field == "dpop" {
        // The section without its mode: the variable that is missing.
        return Some(format!("{prefix}_DPOP_MODE"));
    }
    VARIABLES
        .iter()
        .filter(|(_, path, kind)| {
            *kind != Kind::SecretFile
                && (field == *path
                    || field
                        .strip_prefix(path)
                        .is_some_and(|rest| rest.starts_with(['.', '['])))
        })
        .max_by_key(|(_, path, _)| path.len())
        .map(|(name, _, kind)| {
            // A secret's `env` or `file` is the variable that gives the secret or its file.
            if *kind == Kind::SecretInVariable && field.ends_with(".file") {
                format!("{prefix}_{name}_FILE")
            } else {
                format!("{prefix}_{name}")
            }
        })
}

fn named(variable: &str, message: impl Into<std::borrow::Cow<'static, str>>) -> ConfigError {
    ConfigError::new(ConfigErrorKind::InvalidConfig, message).with_field(variable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_is_in_the_module_documentation() {
        let docs = include_str!("mod.rs");
        for (name, ..) in VARIABLES {
            assert!(docs.contains(&format!("_{name}`")), "{name}");
        }
    }

    #[test]
    fn a_field_is_named_by_its_variable() {
        assert_eq!(
            variable_of("P", "issuers[0].audience[1]").as_deref(),
            Some("P_AUDIENCE")
        );
        assert_eq!(
            variable_of("P", "issuers[0].introspection.client_secret.env").as_deref(),
            Some("P_INTROSPECTION_CLIENT_SECRET")
        );
        assert_eq!(
            variable_of("P", "issuers[0].introspection.client_secret.file").as_deref(),
            Some("P_INTROSPECTION_CLIENT_SECRET_FILE")
        );
        assert_eq!(
            variable_of("P", "policies.admin.role").as_deref(),
            Some("P_POLICIES")
        );
        assert_eq!(variable_of("P", "issuers[1].audience"), None);
        assert_eq!(
            variable_of("P", "dpop.nonce_secret.file").as_deref(),
            Some("P_DPOP_NONCE_SECRET_FILE")
        );
        assert_eq!(
            variable_of("P", "dpop.algorithms[1]").as_deref(),
            Some("P_DPOP_ALGORITHMS")
        );
        assert_eq!(
            variable_of("P", "issuers[0].introspection.shared_cache.secret.file").as_deref(),
            Some("P_INTROSPECTION_SHARED_CACHE_SECRET_FILE")
        );
        assert_eq!(
            variable_of("P", "issuers[0].introspection.shared_cache.url.env").as_deref(),
            Some("P_INTROSPECTION_SHARED_CACHE_URL")
        );
    }
}
