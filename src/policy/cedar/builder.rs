//! [`CedarPolicyBuilder`]: the policy set and the schema, checked once, at startup.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    ActionConstraint, Authorizer, Effect, EntityTypeName, EntityUid, PolicyId, PolicySet, Schema,
    ValidationMode, Validator,
};
use miette::Diagnostic;
use serde_json::{Map, Value};

use super::{Action, CedarPolicy, Inner, Loader};
use crate::answer::Answer;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::policy::Access;

/// The attributes of the principal that come from the verified claims' roles and scopes, not
/// from [`with_principal_claim`](CedarPolicyBuilder::with_principal_claim).
const PRINCIPAL_RESERVED: [&str; 2] = ["roles", "scopes"];
/// The attribute of the context that is the request method.
const CONTEXT_RESERVED: [&str; 1] = ["method"];

/// A Cedar policy set and its schema (text, with where it came from for messages).
struct Source {
    text: String,
    origin: Cow<'static, str>,
}

/// Builds a [`CedarPolicy`]: the policy set, its schema, the entity types, which claims become
/// attributes, and an optional loader of the resource's attributes. Nothing is parsed before
/// [`build`](Self::build), which checks everything at once and returns the policy, or a
/// [`ConfigError`] of kind [`InvalidPolicy`](ConfigErrorKind::InvalidPolicy) naming the policy
/// (its `@id`, else Cedar's `policy0`, `policy1`, ... in the order of the text) and the line.
///
/// ```
/// use tower_authz::policy::CedarPolicy;
///
/// let schema = r#"
///     namespace Shop {
///         entity User = { roles: Set<String>, scopes: Set<String>, tid?: String };
///         entity Route = { id?: String };
///         action "GET /orders/{id}" appliesTo {
///             principal: User, resource: Route, context: { method: String },
///         };
///     }
/// "#;
/// let policies = r#"
///     @id("readers")
///     permit (principal, action == Shop::Action::"GET /orders/{id}", resource)
///     when { principal.roles.contains("orders.read") };
/// "#;
/// let policy = CedarPolicy::builder(policies, schema)
///     .with_principal_type("Shop::User")
///     .with_resource_type("Shop::Route")
///     .with_action_type("Shop::Action")
///     .with_principal_claim("tid", "tid")
///     .build()
///     .unwrap();
/// ```
pub struct CedarPolicyBuilder {
    policies: Source,
    schema: Source,
    principal_type: String,
    resource_type: String,
    action_type: String,
    principal_claims: Vec<(Box<str>, Box<str>)>,
    context_claims: Vec<(Box<str>, Box<str>)>,
    loader: Option<Loader>,
}

impl fmt::Debug for CedarPolicyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CedarPolicyBuilder")
            .field("policies", &self.policies.origin)
            .field("schema", &self.schema.origin)
            .field("principal_type", &self.principal_type)
            .field("resource_type", &self.resource_type)
            .field("action_type", &self.action_type)
            .field("principal_claims", &self.principal_claims)
            .field("context_claims", &self.context_claims)
            .field("loader", &self.loader.is_some())
            .finish()
    }
}

impl CedarPolicy {
    /// A builder for the policy set `policies` (Cedar's policy syntax) with the schema `schema`
    /// (Cedar's schema syntax, or its JSON form if it starts with `{`). Nothing is parsed yet.
    pub fn builder(policies: impl Into<String>, schema: impl Into<String>) -> CedarPolicyBuilder {
        CedarPolicyBuilder {
            policies: Source {
                text: policies.into(),
                origin: "the Cedar policies".into(),
            },
            schema: Source {
                text: schema.into(),
                origin: "the Cedar schema".into(),
            },
            principal_type: "Principal".into(),
            resource_type: "Route".into(),
            action_type: "Action".into(),
            principal_claims: Vec::new(),
            context_claims: Vec::new(),
            loader: None,
        }
    }

    /// A builder for the policy set in the file `policies` (`.cedar`) with the schema in the
    /// file `schema` (`.cedarschema`, or `.cedarschema.json`): reads both files (an error of
    /// kind [`Io`](ConfigErrorKind::Io) if one cannot be read) and parses nothing yet.
    pub fn builder_from_files(
        policies: impl AsRef<Path>,
        schema: impl AsRef<Path>,
    ) -> Result<CedarPolicyBuilder, ConfigError> {
        let read = |path: &Path| -> Result<Source, ConfigError> {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(
                    ConfigErrorKind::Io,
                    format!("cannot read {}", path.display()),
                )
                .with_source(e)
            })?;
            Ok(Source {
                text,
                origin: PathBuf::from(path).display().to_string().into(),
            })
        };
        let mut builder = Self::builder(String::new(), String::new());
        builder.policies = read(policies.as_ref())?;
        builder.schema = read(schema.as_ref())?;
        Ok(builder)
    }

    /// The policy set `policies` with the schema `schema`, with the default entity types
    /// (`Principal`, `Route`, `Action`) and no claims mapped: `CedarPolicy::builder(policies,
    /// schema).build()`.
    pub fn from_str(policies: &str, schema: &str) -> Result<Self, ConfigError> {
        Self::builder(policies, schema).build()
    }

    /// The policy set in the file `policies` with the schema in the file `schema`, with the
    /// defaults of [`from_str`](Self::from_str).
    pub fn from_files(
        policies: impl AsRef<Path>,
        schema: impl AsRef<Path>,
    ) -> Result<Self, ConfigError> {
        Self::builder_from_files(policies, schema)?.build()
    }
}

impl CedarPolicyBuilder {
    /// The entity type of the principal, with its namespace (`MyApp::User`). Default:
    /// `Principal`.
    pub fn with_principal_type(mut self, name: impl Into<String>) -> Self {
        self.principal_type = name.into();
        self
    }

    /// The entity type of the resource, with its namespace. Default: `Route`.
    pub fn with_resource_type(mut self, name: impl Into<String>) -> Self {
        self.resource_type = name.into();
        self
    }

    /// The entity type of the actions, with its namespace (`MyApp::Action` for a schema with
    /// `namespace MyApp`). Default: `Action`.
    pub fn with_action_type(mut self, name: impl Into<String>) -> Self {
        self.action_type = name.into();
        self
    }

    /// The claim `claim`, when the token has it, becomes the principal's attribute
    /// `attribute` (a string, integer, boolean, or a set or record of those; declare it
    /// optional, `attribute?: String`, unless every token has it). Several claims may map to
    /// one attribute: the first one present (in the order of the calls) wins, e.g. Entra's
    /// `azp` (v2) and `appid` (v1). `roles` and `scopes` are taken.
    pub fn with_principal_claim(
        mut self,
        claim: impl Into<Box<str>>,
        attribute: impl Into<Box<str>>,
    ) -> Self {
        self.principal_claims.push((claim.into(), attribute.into()));
        self
    }

    /// The claim `claim`, when the token has it, becomes the context's attribute `attribute`
    /// (as for [`with_principal_claim`](Self::with_principal_claim)): `acr`, `tid`, the client
    /// id `azp` / `client_id`, ... `method` is taken.
    pub fn with_context_claim(
        mut self,
        claim: impl Into<Box<str>>,
        attribute: impl Into<Box<str>>,
    ) -> Self {
        self.context_claims.push((claim.into(), attribute.into()));
        self
    }

    /// Loads attributes of the resource that the request does not carry (the owner of the
    /// item being edited, from a database): `load` answers, for a request, a JSON object
    /// whose members become attributes of the resource, after the path parameters (a member
    /// with a parameter's name replaces it; a `null` member is left out). It answers at once
    /// ([`Answer::Ready`]) or after a look-up ([`Answer::pending`]); an error (a database
    /// that is down: [`AuthError::upstream`](crate::AuthError::upstream), 503) is the answer
    /// to the request. An empty object for the routes it knows nothing about.
    ///
    /// ```
    /// use serde_json::{Map, json};
    /// use tower_authz::Answer;
    /// use tower_authz::policy::{Access, CedarPolicy};
    ///
    /// # let (policies, schema) = ("", "entity Principal; entity Route; action x appliesTo { principal: Principal, resource: Route, context: { method: String } };");
    /// let policy = CedarPolicy::builder(policies, schema)
    ///     .with_resource_loader(|access: &Access<'_>| {
    ///         let id = access.path_param("id").map(str::to_owned);
    ///         Answer::pending(async move {
    ///             let mut attributes = Map::new();
    ///             if let Some(id) = id {
    ///                 // A database look-up in a real service.
    ///                 attributes.insert("owner".into(), json!(format!("owner-of-{id}")));
    ///             }
    ///             Ok(attributes)
    ///         })
    ///     })
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn with_resource_loader<F>(mut self, load: F) -> Self
    where
        F: Fn(&Access<'_>) -> Answer<Map<String, Value>> + Send + Sync + 'static,
    {
        self.loader = Some(Box::new(load));
        self
    }

    /// Parses and checks the schema, the policy set against it (Cedar's strict validation),
    /// the entity types and the claim mappings; builds the table of actions once.
    pub fn build(self) -> Result<CedarPolicy, ConfigError> {
        let schema = parse_schema(&self.schema)?;
        let policies = parse_policies(&self.policies)?;
        let validation = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        let errors: Vec<_> = validation.validation_errors().collect();
        if let Some(first) = errors.first() {
            let more = match errors.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            return Err(invalid(format!(
                "{}: policy \"{}\"{} does not type-check against the schema{more}",
                self.policies.origin,
                first.policy_id(),
                at_line(*first, &self.policies.text),
            ))
            .with_source(error_text(*first)));
        }

        let principal_type = entity_type(&schema, &self.principal_type, "principal")?;
        let resource_type = entity_type(&schema, &self.resource_type, "resource")?;
        let action_type = EntityTypeName::from_str(&self.action_type).map_err(|_| {
            ConfigError::new(
                ConfigErrorKind::InvalidValue,
                format!("{:?} is not a Cedar entity type name", self.action_type),
            )
        })?;
        reserved(&self.principal_claims, &PRINCIPAL_RESERVED, "principal")?;
        reserved(&self.context_claims, &CONTEXT_RESERVED, "context")?;

        let action_entities = schema.action_entities().map_err(|e| {
            invalid(format!(
                "{}: its actions cannot be built",
                self.schema.origin
            ))
            .with_source(e)
        })?;
        let mut actions = Vec::new();
        let mut action_index = HashMap::new();
        for uid in schema.actions().filter(|a| a.type_name() == &action_type) {
            let Some(entity) = action_entities.get(uid) else {
                continue;
            };
            let groups: Vec<&EntityUid> = action_entities
                .ancestors(uid)
                .map(Iterator::collect)
                .unwrap_or_default();
            action_index.insert(uid.id().unescaped().to_owned(), actions.len());
            actions.push(Action {
                uid: uid.clone(),
                entity: entity.clone(),
                required: required_for(&policies, uid, &groups),
            });
        }
        if actions.is_empty() {
            return Err(invalid(format!(
                "{}: declares no action of type {action_type}",
                self.schema.origin
            )));
        }

        Ok(CedarPolicy {
            inner: Arc::new(Inner {
                policies,
                schema,
                authorizer: Authorizer::new(),
                principal_type,
                resource_type,
                action_type,
                actions,
                action_index,
                principal_claims: self.principal_claims.into(),
                context_claims: self.context_claims.into(),
                loader: self.loader,
            }),
        })
    }
}

fn invalid(message: String) -> ConfigError {
    ConfigError::new(ConfigErrorKind::InvalidPolicy, message)
}

/// A Cedar error as the source of a [`ConfigError`].
fn error_text(error: &dyn std::error::Error) -> String {
    error.to_string()
}

/// ` at line N` for the first place `diagnostic` points at in `text`, or nothing.
fn at_line(diagnostic: &dyn Diagnostic, text: &str) -> String {
    let offset = diagnostic
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| label.offset());
    match offset {
        Some(offset) => {
            let before = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            format!(" at line {line}")
        }
        None => String::new(),
    }
}

fn parse_schema(source: &Source) -> Result<Schema, ConfigError> {
    if source.text.trim_start().starts_with('{') {
        return Schema::from_json_str(&source.text).map_err(|e| {
            invalid(format!(
                "{}: the schema does not parse{}",
                source.origin,
                at_line(&e, &source.text)
            ))
            .with_source(error_text(&e))
        });
    }
    match Schema::from_cedarschema_str(&source.text) {
        Ok((schema, _warnings)) => Ok(schema),
        Err(e) => Err(invalid(format!(
            "{}: the schema does not parse{}",
            source.origin,
            at_line(&e, &source.text)
        ))
        .with_source(error_text(&e))),
    }
}

/// The policy set, each policy named by its `@id` annotation where it has one.
fn parse_policies(source: &Source) -> Result<PolicySet, ConfigError> {
    let parsed = PolicySet::from_str(&source.text).map_err(|e| {
        invalid(format!(
            "{}: a policy does not parse{}",
            source.origin,
            at_line(&e, &source.text)
        ))
        .with_source(error_text(&e))
    })?;
    if let Some(template) = parsed.templates().next() {
        return Err(invalid(format!(
            "{}: policy \"{}\" is a template (with `?principal` or `?resource`): link it into \
             static policies first",
            source.origin,
            template.id()
        )));
    }
    let renamed = parsed
        .policies()
        .map(|policy| match policy.annotation("id") {
            Some(id) => policy.new_id(PolicyId::new(id)),
            None => policy.clone(),
        });
    PolicySet::from_policies(renamed).map_err(|e| {
        invalid(format!("{}: two policies have the same @id", source.origin))
            .with_source(error_text(&e))
    })
}

/// The entity type `name`, declared in `schema`.
fn entity_type(schema: &Schema, name: &str, role: &str) -> Result<EntityTypeName, ConfigError> {
    let parsed = EntityTypeName::from_str(name).map_err(|_| {
        ConfigError::new(
            ConfigErrorKind::InvalidValue,
            format!("{name:?} (the {role} type) is not a Cedar entity type name"),
        )
    })?;
    if !schema.entity_types().any(|t| *t == parsed) {
        return Err(invalid(format!(
            "the schema declares no entity type {name} (the {role} type)"
        )));
    }
    Ok(parsed)
}

/// Refuses a claim mapped onto one of the attributes this module fills itself.
fn reserved(mapping: &[(Box<str>, Box<str>)], taken: &[&str], of: &str) -> Result<(), ConfigError> {
    match mapping.iter().find(|(_, a)| taken.contains(&&**a)) {
        Some((claim, attribute)) => Err(ConfigError::new(
            ConfigErrorKind::InvalidValue,
            format!("the claim {claim:?} cannot become the {of}'s {attribute:?}: it is taken"),
        )),
        None => Ok(()),
    }
}

/// What the `permit` policies that can apply to `action` (in `groups`) name as `@required`,
/// space-separated and each once, in the order of the policy set; `None` if none names any.
fn required_for(
    policies: &PolicySet,
    action: &EntityUid,
    groups: &[&EntityUid],
) -> Option<Arc<str>> {
    let mut named: Vec<&str> = Vec::new();
    for policy in policies.policies() {
        if policy.effect() != Effect::Permit {
            continue;
        }
        let applies = match policy.action_constraint() {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(uid) => uid == *action,
            ActionConstraint::In(uids) => uids
                .iter()
                .any(|uid| uid == action || groups.contains(&uid)),
        };
        let Some(required) = policy.annotation("required").filter(|_| applies) else {
            continue;
        };
        for item in required.split_whitespace() {
            if !named.contains(&item) {
                named.push(item);
            }
        }
    }
    (!named.is_empty()).then(|| named.join(" ").into())
}
