//! Where a secret is read from (an environment variable or a file, never the configuration
//! itself), and the [`Secret`] read, which never shows in `Debug`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::field::{Field, invalid};
use crate::error::ConfigError;

/// Where a secret is: `{ env = "VAR" }` or `{ file = "/path" }`.
///
/// A secret written into the configuration itself (`client_secret = "..."`) is refused: the
/// file is meant to be committed and shared, the secret is not. The refusal does not repeat the
/// value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields, remote = "Self")]
pub(crate) enum SecretRef {
    /// The value of this environment variable.
    Env(String),
    /// The contents of this file, without a trailing line break (relative to the configuration
    /// file's folder when loaded with `AuthConfig::from_file`).
    File(PathBuf),
}

/// The refusal of a secret given inline.
const INLINE: &str =
    "a secret is given as { env = \"VARIABLE\" } or { file = \"/path\" }, never inline";

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SecretRef;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{ env = \"VARIABLE\" } or { file = \"/path\" }")
            }

            // The inline forms: refused without repeating the value.
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<SecretRef, E> {
                Err(E::custom(INLINE))
            }

            fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<SecretRef, E> {
                Err(E::custom(INLINE))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<SecretRef, A::Error> {
                SecretRef::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

/// A secret read from where a [`SecretRef`] points: its `Debug` is `[redacted]`.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Secret {
    /// The secret's text.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

/// Where environment variables are read from: the process's, or a test's map.
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process's environment.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl SecretRef {
    /// Reads the secret; `field` is where the reference is in the configuration, and relative
    /// file paths are taken from `base`.
    pub(crate) fn read(
        &self,
        field: &Field,
        base: Option<&Path>,
        env: EnvLookup<'_>,
    ) -> Result<Secret, ConfigError> {
        let secret = match self {
            Self::Env(name) => {
                let field = field.join("env");
                let value = env(name).ok_or_else(|| {
                    invalid(
                        &field,
                        format!("the environment variable {name} is not set (or not UTF-8)"),
                    )
                })?;
                if value.is_empty() {
                    return Err(invalid(
                        &field,
                        format!("the environment variable {name} is empty"),
                    ));
                }
                value
            }
            Self::File(path) => {
                let field = field.join("file");
                let path = resolve(base, path);
                let text = std::fs::read_to_string(&path).map_err(|error| {
                    invalid(&field, format!("cannot read {}", path.display())).with_source(error)
                })?;
                let value = text.trim_end_matches(['\r', '\n']).to_owned();
                if value.is_empty() {
                    return Err(invalid(&field, format!("{} is empty", path.display())));
                }
                value
            }
        };
        Ok(Secret(secret))
    }
}

/// `path`, taken from `base` if it is relative and a base is known.
pub(crate) fn resolve(base: Option<&Path>, path: &Path) -> PathBuf {
    match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field() -> Field {
        Field::root().join("client_secret")
    }

    #[test]
    fn reads_an_environment_variable() {
        let env = |name: &str| (name == "API_SECRET").then(|| "hunter2".to_owned());
        let secret = SecretRef::Env("API_SECRET".into())
            .read(&field(), None, &env)
            .expect("set");
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(format!("{secret:?}"), "[redacted]");
    }

    #[test]
    fn a_missing_variable_names_the_field_and_the_variable() {
        let error = SecretRef::Env("NOT_SET_ANYWHERE".into())
            .read(&field(), None, &|_| None)
            .expect_err("unset");
        assert_eq!(error.field(), Some("client_secret.env"));
        assert!(error.to_string().contains("NOT_SET_ANYWHERE"), "{error}");
        let empty = SecretRef::Env("EMPTY".into())
            .read(&field(), None, &|_| Some(String::new()))
            .expect_err("empty");
        assert_eq!(empty.field(), Some("client_secret.env"));
    }

    #[test]
    fn reads_a_file_relative_to_the_base_without_its_line_break() {
        let dir = std::env::temp_dir().join(format!("tower-authz-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("secret.txt"), "s3cret\n").expect("write");
        let secret = SecretRef::File("secret.txt".into())
            .read(&field(), Some(&dir), &|_| None)
            .expect("file");
        assert_eq!(secret.expose(), "s3cret");

        let error = SecretRef::File("missing.txt".into())
            .read(&field(), Some(&dir), &|_| None)
            .expect_err("missing");
        assert_eq!(error.field(), Some("client_secret.file"));
        assert_eq!(error.kind(), crate::ConfigErrorKind::InvalidConfig);
        std::fs::remove_dir_all(&dir).ok();
    }
}
