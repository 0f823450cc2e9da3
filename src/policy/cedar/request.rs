//! From a request to a Cedar question: the principal, action, resource and context that the
//! module docs describe, built from the claims and the request's head, then answered.

use std::collections::{HashMap, HashSet};

use cedar_policy::{
    Context, Decision, Entities, Entity, EntityId, EntityUid, Request, RestrictedExpression,
};
use serde_json::{Map, Value};

use super::{CedarPolicy, Inner, NOT_ALLOWED};
use crate::error::AuthError;
use crate::policy::Access;
use crate::response::is_grpc;

/// Why no Cedar request could be built: the request is refused (403), and this is logged at
/// debug (Cedar's own reasons may quote the subject or a value; the client never sees them).
#[derive(Debug)]
pub(super) struct Unjudgeable(pub(super) String);

/// What Cedar is asked about one request, before the resource's loaded attributes are added.
pub(super) struct Question {
    principal: Entity,
    principal_uid: EntityUid,
    /// The index of the action in [`Inner::actions`].
    action: usize,
    resource_uid: EntityUid,
    /// The path parameters, decoded.
    params: Vec<(String, RestrictedExpression)>,
    context: Context,
}

impl Question {
    /// The question for the request in `access`, or why there is none.
    pub(super) fn new(inner: &Inner, access: &Access<'_>) -> Result<Self, Unjudgeable> {
        let claims = access.claims();
        let subject = claims
            .subject()
            .ok_or_else(|| Unjudgeable("the token has no `sub` to name the principal".into()))?;

        // The action: `METHOD route` for HTTP, the path for gRPC.
        let grpc = is_grpc(access.headers());
        let route = match access.route() {
            Some(route) if !grpc => route,
            _ => access.path(),
        };
        let name = if grpc {
            route.to_owned()
        } else {
            format!("{} {route}", access.method())
        };
        let action = *inner.action_index.get(&name).ok_or_else(|| {
            Unjudgeable(format!(
                "the schema declares no action {}::{name:?}",
                inner.action_type
            ))
        })?;

        let mut attributes = HashMap::with_capacity(2 + inner.principal_claims.len());
        attributes.insert("roles".to_owned(), strings(claims.roles()));
        attributes.insert("scopes".to_owned(), strings(claims.scopes()));
        add_claims(&mut attributes, &inner.principal_claims, access)?;
        let principal_uid =
            EntityUid::from_type_name_and_id(inner.principal_type.clone(), EntityId::new(subject));
        let principal = Entity::new(principal_uid.clone(), attributes, HashSet::new())
            .map_err(|e| Unjudgeable(format!("the principal cannot be built: {e}")))?;

        let params = access
            .path_params()
            .map(|(param, value)| {
                let value = percent_encoding::percent_decode_str(value)
                    .decode_utf8()
                    .map_err(|_| {
                        Unjudgeable(format!("the path parameter {param:?} is not UTF-8"))
                    })?;
                Ok((
                    param.to_owned(),
                    RestrictedExpression::new_string(value.into_owned()),
                ))
            })
            .collect::<Result<_, Unjudgeable>>()?;

        let mut context = HashMap::with_capacity(1 + inner.context_claims.len());
        context.insert(
            "method".to_owned(),
            RestrictedExpression::new_string(access.method().as_str().to_owned()),
        );
        add_claims(&mut context, &inner.context_claims, access)?;
        let context = Context::from_pairs(context)
            .map_err(|e| Unjudgeable(format!("the context cannot be built: {e}")))?;

        Ok(Self {
            principal,
            principal_uid,
            action,
            resource_uid: EntityUid::from_type_name_and_id(
                inner.resource_type.clone(),
                EntityId::new(route),
            ),
            params,
            context,
        })
    }
}

impl Inner {
    /// Cedar's answer to `question`, with `loaded` (the resource loader's attributes, which
    /// replace path parameters of the same name) on the resource.
    pub(super) fn decide(
        &self,
        question: Question,
        loaded: Map<String, Value>,
    ) -> Result<(), AuthError> {
        let action = &self.actions[question.action];
        match self.ask(question, loaded) {
            Ok(response) => {
                for error in response.diagnostics().errors() {
                    tracing::debug!(action = %action.uid, %error, "a Cedar policy failed to evaluate");
                }
                if response.decision() == Decision::Allow {
                    Ok(())
                } else if response.diagnostics().reason().next().is_some() {
                    // A `forbid` decided: no scope would lift it.
                    Err(AuthError::forbidden(NOT_ALLOWED))
                } else {
                    Err(match &action.required {
                        Some(required) => AuthError::insufficient_scope(required.to_string()),
                        None => AuthError::forbidden(NOT_ALLOWED),
                    })
                }
            }
            Err(Unjudgeable(why)) => {
                tracing::debug!(action = %action.uid, reason = %why, "Cedar cannot judge the request: refused");
                Err(AuthError::forbidden(NOT_ALLOWED))
            }
        }
    }

    fn ask(
        &self,
        question: Question,
        loaded: Map<String, Value>,
    ) -> Result<cedar_policy::Response, Unjudgeable> {
        let action = &self.actions[question.action];
        let mut attributes: HashMap<String, RestrictedExpression> =
            question.params.into_iter().collect();
        for (name, value) in loaded {
            if let Some(value) = to_cedar(&value, &name)? {
                attributes.insert(name, value);
            }
        }
        let resource = Entity::new(question.resource_uid.clone(), attributes, HashSet::new())
            .map_err(|e| Unjudgeable(format!("the resource cannot be built: {e}")))?;
        let request = Request::new(
            question.principal_uid,
            action.uid.clone(),
            question.resource_uid,
            question.context,
            Some(&self.schema),
        )
        .map_err(|e| Unjudgeable(format!("the request does not fit the schema: {e}")))?;
        // The action's entity (with its groups) rather than every action of the schema: the
        // store holds what this request can reach, so building it costs the same with 5 or 500
        // actions. The principal and the resource are checked against the schema here.
        let entities = Entities::empty()
            .add_entities(
                [question.principal, resource, action.entity.clone()],
                Some(&self.schema),
            )
            .map_err(|e| Unjudgeable(format!("the entities do not fit the schema: {e}")))?;
        Ok(self
            .authorizer
            .is_authorized(&request, &self.policies, &entities))
    }
}

impl CedarPolicy {
    pub(super) fn question(&self, access: &Access<'_>) -> Result<Question, Unjudgeable> {
        Question::new(&self.inner, access)
    }
}

/// A `Set<String>`.
fn strings<'a>(items: impl Iterator<Item = &'a str>) -> RestrictedExpression {
    RestrictedExpression::new_set(items.map(|s| RestrictedExpression::new_string(s.to_owned())))
}

/// Adds the claims of `mapping` (claim, attribute) present in the token to `attributes`; where
/// several claims map to one attribute, the first one present wins.
fn add_claims(
    attributes: &mut HashMap<String, RestrictedExpression>,
    mapping: &[(Box<str>, Box<str>)],
    access: &Access<'_>,
) -> Result<(), Unjudgeable> {
    for (claim, attribute) in mapping {
        if attributes.contains_key(&**attribute) {
            continue;
        }
        if let Some(value) = access.claims().get(claim)
            && let Some(value) = to_cedar(value, claim)?
        {
            attributes.insert(attribute.to_string(), value);
        }
    }
    Ok(())
}

/// A JSON value as a Cedar value: strings, booleans, integers, arrays (sets) and objects
/// (records) of those. `None` for `null` (the attribute is left out); anything else (a
/// fraction, a `null` inside) cannot be judged.
fn to_cedar(value: &Value, name: &str) -> Result<Option<RestrictedExpression>, Unjudgeable> {
    fn convert(value: &Value) -> Option<RestrictedExpression> {
        Some(match value {
            Value::String(s) => RestrictedExpression::new_string(s.clone()),
            Value::Bool(b) => RestrictedExpression::new_bool(*b),
            Value::Number(n) => RestrictedExpression::new_long(n.as_i64()?),
            Value::Array(items) => RestrictedExpression::new_set(
                items.iter().map(convert).collect::<Option<Vec<_>>>()?,
            ),
            Value::Object(members) => RestrictedExpression::new_record(
                members
                    .iter()
                    .map(|(k, v)| Some((k.clone(), convert(v)?)))
                    .collect::<Option<Vec<_>>>()?,
            )
            .ok()?,
            Value::Null => return None,
        })
    }
    if value.is_null() {
        return Ok(None);
    }
    convert(value).map(Some).ok_or_else(|| {
        Unjudgeable(format!(
            "{name:?} is not a Cedar value (strings, booleans, integers, sets, records)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_values_become_cedar_values() {
        for (value, cedar) in [
            (json!("a"), r#""a""#),
            (json!(true), "true"),
            (json!(-3), "-3"),
            (json!(["a", "b"]), r#"["a", "b"]"#),
            (json!({"k": [1]}), "{\"k\": [1]}"),
        ] {
            // Compared as evaluated values, in a context.
            let value_of = |e: RestrictedExpression| {
                Context::from_pairs([("v".to_owned(), e)])
                    .ok()
                    .and_then(|c| c.get("v"))
            };
            let converted = to_cedar(&value, "x").ok().flatten().and_then(value_of);
            let expected: RestrictedExpression = cedar.parse().expect("a Cedar literal");
            assert_eq!(converted, value_of(expected), "{value}");
            assert!(converted.is_some(), "{value}");
        }
        assert!(matches!(to_cedar(&json!(null), "x"), Ok(None)));
        for unjudgeable in [json!(1.5), json!([1, null]), json!(u64::MAX)] {
            assert!(to_cedar(&unjudgeable, "x").is_err(), "{unjudgeable}");
        }
    }
}
