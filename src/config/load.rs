//! Parsing a document into an [`AuthConfig`], with errors that name the field at fault (the
//! path `serde_path_to_error` tracks) and never quote the document.

use std::path::Path;

use super::AuthConfig;
use crate::error::{ConfigError, ConfigErrorKind};

/// A TOML document.
pub(super) fn toml(text: &str) -> Result<AuthConfig, ConfigError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|error| toml_error(text, &error))?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let line = error.inner().span().map(|span| line_of(text, span.start));
        located(Some(error.path()), error.inner().message(), line)
    })
}

/// A JSON document.
pub(super) fn json(text: &str) -> Result<AuthConfig, ConfigError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let config: AuthConfig =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let line = error.inner().line();
            let message = json_message(error.inner());
            located(Some(error.path()), &message, (line > 0).then_some(line))
        })?;
    deserializer
        .end()
        .map_err(|error| located(None, &json_message(&error), Some(error.line())))?;
    Ok(config)
}

/// The message of a JSON error without its position (given apart).
fn json_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// A TOML syntax error: its line, and the parser's message (never the offending text).
fn toml_error(text: &str, error: &toml::de::Error) -> ConfigError {
    let line = error.span().map(|span| line_of(text, span.start));
    located(None, error.message(), line)
}

/// The 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn located(
    path: Option<&serde_path_to_error::Path>,
    message: &str,
    line: Option<usize>,
) -> ConfigError {
    let message = match line {
        Some(line) => format!("{message} (line {line})"),
        None => message.to_owned(),
    };
    let error = ConfigError::new(ConfigErrorKind::InvalidConfig, message);
    // The document itself (a syntax error, a missing top-level field): no field to name.
    match path.map(ToString::to_string) {
        Some(path) if path != "." => error.with_field(path),
        _ => error,
    }
}

/// `error`, saying which file it is in.
pub(super) fn in_file(error: ConfigError, path: &Path) -> ConfigError {
    let located = ConfigError::new(
        error.kind(),
        format!("{} (in {})", message_of(&error), path.display()),
    );
    match error.field() {
        Some(field) => located.with_field(field),
        None => located,
    }
}

/// The message of `error` without its field (Display puts the field first).
fn message_of(error: &ConfigError) -> String {
    let text = error.to_string();
    match error.field() {
        Some(field) => text
            .strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(&text)
            .to_owned(),
        None => text,
    }
}
