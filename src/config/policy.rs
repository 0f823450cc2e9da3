//! Policies by name: a rule written as data (`{ role = "admin" }`), built into a
//! [`Rule`](crate::policy::Rule).

use std::time::Duration;

use serde::Deserialize;

use super::field::{Field, invalid};
use crate::error::ConfigError;
use crate::policy::{self, Rule};

/// One rule, as the `[policies]` table writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum PolicyConfig {
    /// `"authenticated"`: any verified caller.
    Authenticated,
    /// `{ role = "admin" }`.
    Role(String),
    /// `{ any_role = ["admin", "owner"] }`.
    AnyRole(Vec<String>),
    /// `{ scope = "read" }`.
    Scope(String),
    /// `{ any_scope = ["read", "write"] }`.
    AnyScope(Vec<String>),
    /// `{ scope_or_role = { scopes = [...], roles = [...] } }`: a user's scope or an
    /// application's role (Microsoft.Identity.Web's `RequiredScopeOrAppPermission`).
    ScopeOrRole {
        /// Delegated permissions, any of which is enough.
        #[serde(default)]
        scopes: Vec<String>,
        /// App roles, any of which is enough.
        #[serde(default)]
        roles: Vec<String>,
    },
    /// `{ acr_one_of = ["phr", "phrh"] }`: RFC 9470 step-up to one of these `acr` values.
    AcrOneOf(Vec<String>),
    /// `{ authenticated_within_seconds = 300 }`: RFC 9470 step-up on `auth_time`.
    AuthenticatedWithinSeconds(u64),
    /// `{ all = [ ... ] }`: every rule.
    All(Vec<PolicyConfig>),
    /// `{ any = [ ... ] }`: at least one rule.
    Any(Vec<PolicyConfig>),
    /// `{ not = { ... } }`: the rule refuses.
    Not(Box<PolicyConfig>),
}

impl PolicyConfig {
    /// The rule; `field` is where this one is, for the errors.
    pub(crate) fn build(&self, field: &Field) -> Result<Rule, ConfigError> {
        Ok(match self {
            Self::Authenticated => policy::authenticated(),
            Self::Role(role) => policy::has_role(name(role, &field.join("role"))?),
            Self::AnyRole(roles) => policy::has_any_role(names(roles, &field.join("any_role"))?),
            Self::Scope(scope) => policy::has_scope(name(scope, &field.join("scope"))?),
            Self::AnyScope(scopes) => {
                policy::has_any_scope(names(scopes, &field.join("any_scope"))?)
            }
            Self::ScopeOrRole { scopes, roles } => {
                let field = field.join("scope_or_role");
                if scopes.is_empty() && roles.is_empty() {
                    return Err(invalid(&field, "names no scope and no role"));
                }
                policy::scope_or_role(
                    names_or_none(scopes, &field.join("scopes"))?,
                    names_or_none(roles, &field.join("roles"))?,
                )
            }
            Self::AcrOneOf(values) => policy::acr_one_of(names(values, &field.join("acr_one_of"))?),
            Self::AuthenticatedWithinSeconds(seconds) => {
                policy::authenticated_within(Duration::from_secs(*seconds))
            }
            Self::All(rules) => policy::all(rules_of(rules, &field.join("all"))?),
            Self::Any(rules) => policy::any(rules_of(rules, &field.join("any"))?),
            Self::Not(rule) => policy::not(rule.build(&field.join("not"))?),
        })
    }
}

fn name(value: &str, field: &Field) -> Result<String, ConfigError> {
    if value.is_empty() {
        Err(invalid(field, "is empty"))
    } else {
        Ok(value.to_owned())
    }
}

/// The names of a non-empty list, none of them empty.
fn names(values: &[String], field: &Field) -> Result<Vec<String>, ConfigError> {
    if values.is_empty() {
        return Err(invalid(field, "is an empty list: nothing would be allowed"));
    }
    names_or_none(values, field)
}

/// The names of a list (possibly empty), none of them empty.
fn names_or_none(values: &[String], field: &Field) -> Result<Vec<String>, ConfigError> {
    values
        .iter()
        .enumerate()
        .map(|(i, value)| name(value, &field.index(i)))
        .collect()
}

fn rules_of(rules: &[PolicyConfig], field: &Field) -> Result<Vec<Rule>, ConfigError> {
    if rules.is_empty() {
        return Err(invalid(field, "is an empty list of rules"));
    }
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| rule.build(&field.index(i)))
        .collect()
}
