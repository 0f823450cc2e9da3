//! Step-up (RFC 9470): policies on how, and how recently, the user authenticated.
//!
//! Their refusal is 401 `insufficient_user_authentication` with `acr_values` or `max_age` in
//! the challenge, which tells the client to send the user back to the authorization server with
//! those parameters and retry with the new token.

use std::borrow::Cow;
use std::time::Duration;

use super::{Access, Policy, Rule, Verdict};
use crate::clock::now;
use crate::error::AuthError;

/// Requires the token's `acr` (authentication context class reference) to be one of
/// `acr_values`, compared exactly.
///
/// ```
/// use tower_authz::policy;
///
/// // Phishing-resistant hardware-protected authentication (RFC 8176's `phrh` as an acr value).
/// let strong = policy::acr_one_of(["phrh"]);
/// ```
pub fn acr_one_of<I>(acr_values: I) -> Rule
where
    I: IntoIterator,
    I::Item: Into<Box<str>>,
{
    let values: Box<[Box<str>]> = acr_values.into_iter().map(Into::into).collect();
    let joined: Box<str> = values.join(" ").into();
    let name = format!("acr one of {joined:?}");
    Rule::new(name, AcrOneOf { values, joined })
}

struct AcrOneOf {
    values: Box<[Box<str>]>,
    joined: Box<str>,
}

impl Policy for AcrOneOf {
    fn evaluate(&self, access: &Access<'_>) -> Verdict {
        let acr = access.claims().get("acr").and_then(|acr| acr.as_str());
        Verdict::Ready(
            if acr.is_some_and(|acr| self.values.iter().any(|v| **v == *acr)) {
                Ok(())
            } else {
                Err(AuthError::insufficient_user_authentication(
                    Some(Cow::Owned(String::from(&*self.joined))),
                    None,
                ))
            },
        )
    }
}

/// Requires the user to have authenticated at most `max_age` ago (the token's `auth_time`; a
/// token without it is refused). The clock skew allowed is the same 60 seconds as for `exp`.
///
/// ```
/// use std::time::Duration;
/// use tower_authz::policy;
///
/// // Changing the password needs a login in the last five minutes.
/// let recent = policy::authenticated_within(Duration::from_secs(300));
/// ```
pub fn authenticated_within(max_age: Duration) -> Rule {
    Rule::new(
        format!("authenticated within {max_age:?}"),
        AuthenticatedWithin(max_age),
    )
}

/// The clock skew allowed on `auth_time`.
const LEEWAY: u64 = 60;

struct AuthenticatedWithin(Duration);

impl Policy for AuthenticatedWithin {
    fn evaluate(&self, access: &Access<'_>) -> Verdict {
        let auth_time = access
            .claims()
            .get("auth_time")
            .and_then(crate::claims::numeric_date);
        let recent = auth_time.is_some_and(|at| {
            at.saturating_add(self.0.as_secs()).saturating_add(LEEWAY) >= now()
                && at <= now().saturating_add(LEEWAY)
        });
        Verdict::Ready(if recent {
            Ok(())
        } else {
            Err(AuthError::insufficient_user_authentication(
                None,
                Some(self.0),
            ))
        })
    }
}
