//! Where in a configuration a value is (`issuers[1].introspection.client_secret`), for the
//! errors that name it.

use std::borrow::Cow;
use std::fmt;

use crate::error::{ConfigError, ConfigErrorKind};

/// The path of a field, as `serde_path_to_error` writes it: names joined with `.`, list
/// positions in brackets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Field(String);

impl Field {
    /// The configuration itself.
    pub(crate) fn root() -> Self {
        Self::default()
    }

    /// The field `name` of this one.
    pub(crate) fn join(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// The element at `index` of this list.
    pub(crate) fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A configuration mistake at `field`.
pub(crate) fn invalid(field: &Field, message: impl Into<Cow<'static, str>>) -> ConfigError {
    ConfigError::new(ConfigErrorKind::InvalidConfig, message).with_field(field.as_str())
}

/// `error` (from a constructor the configuration called) placed at `field`, its kind kept; an
/// `http://` URL refused is told how the configuration allows it.
pub(crate) fn at(field: &Field) -> impl FnOnce(ConfigError) -> ConfigError + '_ {
    move |error| {
        let error = if error.kind() == ConfigErrorKind::InsecureUrl {
            ConfigError::new(
                ConfigErrorKind::InsecureUrl,
                "plain http:// to a host that is not a loopback address: tokens, secrets and \
                 keys could be read and changed on the network; use https://, or set \
                 `allow_insecure_http = true` on this issuer if the network path is private and \
                 trusted (docker-compose, a service mesh)",
            )
        } else {
            error
        };
        error.with_field(field.as_str())
    }
}
