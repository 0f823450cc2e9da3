//! [`all`], [`any`], [`not`]: rules made of rules.

use super::{Access, Policy, Rule, Verdict};
use crate::answer::Pending;
use crate::error::{AuthError, AuthErrorKind};

/// Every rule in order; the first refusal is the answer (later rules are not evaluated). Rules
/// that answer at once are evaluated first, so a refusal never waits for a look-up. No rules:
/// allowed.
pub fn all(rules: impl IntoIterator<Item = Rule>) -> Rule {
    let rules: Box<[Rule]> = rules.into_iter().collect();
    let name = format!("all({})", list(&rules));
    let scopes = scopes(&rules);
    Rule::new(name, All(rules)).with_scopes(scopes)
}

/// The first rule that allows; if none does, the refusal of the last one. Rules that answer at
/// once are evaluated first, so an allowed request never waits for a look-up it does not need.
/// No rules: refused.
pub fn any(rules: impl IntoIterator<Item = Rule>) -> Rule {
    let rules: Box<[Rule]> = rules.into_iter().collect();
    let name = format!("any({})", list(&rules));
    let scopes = scopes(&rules);
    Rule::new(name, Any(rules)).with_scopes(scopes)
}

/// Allowed exactly when `rule` refuses (403); a refusal of `not` is 403 `insufficient_scope`.
/// Any other failure of `rule` (the provider down, 503) stays a failure: `not` never turns an
/// outage into an allowed request.
pub fn not(rule: Rule) -> Rule {
    let name = format!("not({})", rule.name());
    Rule::new(name, Not(rule))
}

/// The scopes the rules name, space-separated.
fn scopes(rules: &[Rule]) -> Option<std::sync::Arc<str>> {
    let named: Vec<&str> = rules
        .iter()
        .filter_map(|r| r.scopes())
        .map(|s| &**s)
        .collect();
    (!named.is_empty()).then(|| named.join(" ").into())
}

fn list(rules: &[Rule]) -> String {
    rules.iter().map(Rule::name).collect::<Vec<_>>().join(", ")
}

struct All(Box<[Rule]>);

impl Policy for All {
    fn evaluate(&self, access: &Access<'_>) -> Verdict {
        let mut waiting: Vec<Pending<()>> = Vec::new();
        for rule in self.0.iter() {
            match rule.evaluate(access) {
                Verdict::Ready(Ok(())) => {}
                Verdict::Ready(Err(refusal)) => return Verdict::Ready(Err(refusal)),
                Verdict::Pending(pending) => waiting.push(pending),
            }
        }
        if waiting.is_empty() {
            return Verdict::Ready(Ok(()));
        }
        Verdict::pending(async move {
            for pending in waiting {
                pending.await?;
            }
            Ok(())
        })
    }
}

struct Any(Box<[Rule]>);

impl Policy for Any {
    fn evaluate(&self, access: &Access<'_>) -> Verdict {
        let mut waiting: Vec<Pending<()>> = Vec::new();
        let mut last = AuthError::forbidden("no rule allows the request");
        for rule in self.0.iter() {
            match rule.evaluate(access) {
                Verdict::Ready(Ok(())) => return Verdict::Ready(Ok(())),
                Verdict::Ready(Err(refusal)) => last = refusal,
                Verdict::Pending(pending) => waiting.push(pending),
            }
        }
        if waiting.is_empty() {
            return Verdict::Ready(Err(last));
        }
        Verdict::pending(async move {
            for pending in waiting {
                match pending.await {
                    Ok(()) => return Ok(()),
                    Err(refusal) => last = refusal,
                }
            }
            Err(last)
        })
    }
}

struct Not(Rule);

/// `not` of one answer: a refusal (403) becomes allowed; anything else that is not an
/// allowance (the provider down, no claims, a bad token) stays what it is.
fn negate(answer: Result<(), AuthError>) -> Result<(), AuthError> {
    match answer {
        Ok(()) => Err(AuthError::forbidden("the request is excluded by policy")),
        Err(refusal) if refusal.kind() == AuthErrorKind::InsufficientScope => Ok(()),
        Err(failure) => Err(failure),
    }
}

impl Policy for Not {
    fn evaluate(&self, access: &Access<'_>) -> Verdict {
        match self.0.evaluate(access) {
            Verdict::Ready(answer) => Verdict::Ready(negate(answer)),
            Verdict::Pending(pending) => Verdict::pending(async move { negate(pending.await) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_turns_only_a_refusal_into_an_allowance() {
        assert!(negate(Ok(())).is_err());
        assert_eq!(negate(Err(AuthError::forbidden("no"))).ok(), Some(()));
        for failure in [
            AuthError::upstream("the provider is down"),
            AuthError::missing_credentials(),
            AuthError::invalid_token("bad"),
        ] {
            let kind = failure.kind();
            assert_eq!(negate(Err(failure)).map_err(|e| e.kind()), Err(kind));
        }
    }
}
