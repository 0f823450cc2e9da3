//! [`Payload`]: the claims of a JWT that the verifier checks and [`Claims`](super::Claims)
//! answers for at once, read in one pass over the payload's JSON text.
//!
//! The strings are borrowed from the text (unless they hold escapes) and every other member is
//! skipped without being built, so that a verification costs no `serde_json::Value` tree: the
//! full object is parsed only if a handler asks for a claim by name. What this reads agrees
//! with what `Claims::from_value` reads from the same object, member for member (a proptest
//! below holds the two together): a duplicated member counts with its last value, as in a
//! `serde_json` object, and a member of the wrong type counts as absent.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::RoleSource;

/// A NumericDate member: a non-negative number of seconds, or something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Date {
    /// Seconds since the epoch (fractions truncated).
    Seconds(u64),
    /// Present, but not a non-negative number.
    Invalid,
}

impl Date {
    /// The date a JSON value states.
    pub(crate) fn from_value(value: &Value) -> Self {
        super::numeric_date(value).map_or(Self::Invalid, Self::Seconds)
    }

    /// The seconds, if valid.
    pub(crate) fn seconds(self) -> Option<u64> {
        match self {
            Self::Seconds(seconds) => Some(seconds),
            Self::Invalid => None,
        }
    }
}

/// A member that is a string or an array of strings (`aud`, `scope`, `scp`, a role claim).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Strings<'a> {
    /// A string.
    One(Cow<'a, str>),
    /// The strings of an array (its other elements skipped).
    Many(Vec<Cow<'a, str>>),
    /// Anything else.
    #[default]
    Other,
}

impl<'a> Strings<'a> {
    /// Each string (the one, or those of the array).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            Self::One(s) => (Some(&**s), &[][..]),
            Self::Many(items) => (None, &items[..]),
            Self::Other => (None, &[][..]),
        };
        one.into_iter().chain(many.iter().map(|s| &**s))
    }

    fn from_value(value: &Value) -> Self {
        match value {
            Value::String(s) => Self::One(Cow::Owned(s.clone())),
            Value::Array(items) => Self::Many(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|s| Cow::Owned(s.to_owned()))
                    .collect(),
            ),
            _ => Self::Other,
        }
    }
}

/// Where the role source's claims went.
#[derive(Debug, Default)]
pub(crate) enum RoleClaims<'a> {
    /// [`RoleSource::Claim`]: the claim itself, if present.
    #[default]
    None,
    /// [`RoleSource::Claim`]: the claim, read like `aud`.
    Claim(Strings<'a>),
    /// Any other source: the top-level members it reads, as JSON, to be read by
    /// [`RoleSource::collect`].
    Members(Map<String, Value>),
}

/// The members of a JWT payload that are checked or answered for at once.
#[derive(Debug, Default)]
pub(crate) struct Payload<'a> {
    pub(crate) iss: Option<Cow<'a, str>>,
    pub(crate) sub: Option<Cow<'a, str>>,
    /// Entra's tenant id, for `{tenantid}` issuer templates.
    pub(crate) tid: Option<Cow<'a, str>>,
    pub(crate) client_id: Option<Cow<'a, str>>,
    pub(crate) azp: Option<Cow<'a, str>>,
    pub(crate) application_id: Option<Cow<'a, str>>,
    /// `cnf.jkt`: the thumbprint of the key a DPoP-bound token is bound to (RFC 9449 §6).
    pub(crate) cnf_jkt: Option<Cow<'a, str>>,
    /// The session id (`sid`, OpenID Connect Back-Channel Logout §2.1), for revocations.
    pub(crate) sid: Option<Cow<'a, str>>,
    /// The token id (`jti`), for revocations.
    pub(crate) jti: Option<Cow<'a, str>>,
    pub(crate) exp: Option<Date>,
    pub(crate) nbf: Option<Date>,
    pub(crate) iat: Option<Date>,
    /// `None` when absent (which differs from a present member of the wrong type for `scope`).
    pub(crate) aud: Option<Strings<'a>>,
    pub(crate) scope: Option<Strings<'a>>,
    pub(crate) scp: Option<Strings<'a>>,
    pub(crate) roles: RoleClaims<'a>,
}

impl<'a> Payload<'a> {
    /// Reads the members of the JSON object `json`, and the claims `roles` reads. `None` if
    /// `json` is not one JSON object.
    pub(crate) fn read(json: &'a str, roles: &RoleSource) -> Option<Self> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let payload = PayloadSeed { roles }.deserialize(&mut deserializer).ok()?;
        deserializer.end().ok()?;
        Some(payload)
    }

    /// The scopes: `scope` split on spaces, or Entra's `scp` (string or array).
    pub(crate) fn scopes(&self) -> impl Iterator<Item = &str> {
        let (split, listed) = match self.scope.as_ref().or(self.scp.as_ref()) {
            Some(Strings::One(s)) => (Some(s.split_ascii_whitespace()), None),
            Some(other) => (None, Some(other.iter())),
            None => (None, None),
        };
        split
            .into_iter()
            .flatten()
            .chain(listed.into_iter().flatten())
    }

    /// The roles as `roles` reads them, each once.
    pub(crate) fn roles(&self, roles: &RoleSource, out: &mut Vec<Box<str>>) {
        match &self.roles {
            RoleClaims::None => {}
            RoleClaims::Claim(strings) => {
                for role in strings.iter() {
                    super::push_unique(role, out);
                }
            }
            RoleClaims::Members(members) => {
                // Only the members the source reads: the same roles as from the whole object.
                let object = Value::Object(members.clone());
                roles.collect(&object, out);
            }
        }
    }

    /// Sets the standard member `name` from `value` (a member the role source also reads).
    fn set_from_value(&mut self, name: &str, value: &Value) {
        let string = || value.as_str().map(|s| Cow::Owned(s.to_owned()));
        match name {
            "iss" => self.iss = string(),
            "sub" => self.sub = string(),
            "tid" => self.tid = string(),
            "client_id" => self.client_id = string(),
            "azp" => self.azp = string(),
            "applicationId" => self.application_id = string(),
            "cnf" => self.cnf_jkt = jkt_of(value).map(|jkt| Cow::Owned(jkt.to_owned())),
            "sid" => self.sid = string(),
            "jti" => self.jti = string(),
            "exp" => self.exp = Some(Date::from_value(value)),
            "nbf" => self.nbf = Some(Date::from_value(value)),
            "iat" => self.iat = Some(Date::from_value(value)),
            "aud" => self.aud = Some(Strings::from_value(value)),
            "scope" => self.scope = Some(Strings::from_value(value)),
            "scp" => self.scp = Some(Strings::from_value(value)),
            _ => {}
        }
    }
}

/// The `jkt` string of a `cnf` claim, as `Claims::from_value` reads it.
pub(crate) fn jkt_of(cnf: &Value) -> Option<&str> {
    cnf.get("jkt")?.as_str()
}

/// Whether `name` is one of the members [`Payload`] reads.
fn is_standard(name: &str) -> bool {
    matches!(
        name,
        "iss"
            | "sub"
            | "tid"
            | "client_id"
            | "azp"
            | "applicationId"
            | "cnf"
            | "sid"
            | "jti"
            | "exp"
            | "nbf"
            | "iat"
            | "aud"
            | "scope"
            | "scp"
    )
}

struct PayloadSeed<'r> {
    roles: &'r RoleSource,
}

impl<'de> DeserializeSeed<'de> for PayloadSeed<'_> {
    type Value = Payload<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PayloadSeed<'_> {
    type Value = Payload<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut payload = Payload::default();
        let single_claim = match self.roles {
            RoleSource::Claim(name) => Some(name.as_str()),
            _ => None,
        };
        while let Some(Key(name)) = map.next_key()? {
            if single_claim == Some(&*name) && !is_standard(&name) {
                payload.roles = RoleClaims::Claim(map.next_value::<StringsOrOther<'de>>()?.0);
                continue;
            }
            if single_claim == Some(&*name) || self.roles.reads_member(&name) {
                // A member the role source reads as JSON (and perhaps a standard one too).
                let value: Value = map.next_value()?;
                payload.set_from_value(&name, &value);
                match &mut payload.roles {
                    RoleClaims::Members(members) => {
                        members.insert(name.into_owned(), value);
                    }
                    roles if single_claim.is_some() => {
                        *roles = RoleClaims::Claim(Strings::from_value(&value));
                    }
                    roles => {
                        let mut members = Map::new();
                        members.insert(name.into_owned(), value);
                        *roles = RoleClaims::Members(members);
                    }
                }
                continue;
            }
            match &*name {
                "iss" => payload.iss = map.next_value::<MaybeStr<'de>>()?.0,
                "sub" => payload.sub = map.next_value::<MaybeStr<'de>>()?.0,
                "tid" => payload.tid = map.next_value::<MaybeStr<'de>>()?.0,
                "client_id" => payload.client_id = map.next_value::<MaybeStr<'de>>()?.0,
                "azp" => payload.azp = map.next_value::<MaybeStr<'de>>()?.0,
                "applicationId" => payload.application_id = map.next_value::<MaybeStr<'de>>()?.0,
                "cnf" => payload.cnf_jkt = map.next_value::<Confirmation<'de>>()?.0,
                "sid" => payload.sid = map.next_value::<MaybeStr<'de>>()?.0,
                "jti" => payload.jti = map.next_value::<MaybeStr<'de>>()?.0,
                "exp" => payload.exp = Some(map.next_value::<DateOrOther>()?.0),
                "nbf" => payload.nbf = Some(map.next_value::<DateOrOther>()?.0),
                "iat" => payload.iat = Some(map.next_value::<DateOrOther>()?.0),
                "aud" => payload.aud = Some(map.next_value::<StringsOrOther<'de>>()?.0),
                "scope" => payload.scope = Some(map.next_value::<StringsOrOther<'de>>()?.0),
                "scp" => payload.scp = Some(map.next_value::<StringsOrOther<'de>>()?.0),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(payload)
    }
}

/// A member name, borrowed unless it holds escapes (`"\u0065xp"` is `exp`, as in a
/// `serde_json` object).
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Implements the visitor methods of booleans, `null` and objects as "something else"
/// (`$other`), skipping what an object contains.
macro_rules! other_json_types {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($other)
        }
    };
}

/// Implements the visitor methods of numbers as "something else" (`$other`).
macro_rules! other_numbers {
    ($other:expr) => {
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

/// Skips the elements of an array.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// A string member, or `None` for any other JSON value.
struct MaybeStr<'de>(Option<Cow<'de, str>>);

impl<'de> de::Deserialize<'de> for MaybeStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MaybeStrVisitor)
    }
}

struct MaybeStrVisitor;

impl<'de> Visitor<'de> for MaybeStrVisitor {
    type Value = MaybeStr<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(MaybeStr(Some(Cow::Borrowed(s))))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(MaybeStr(Some(Cow::Owned(s.to_owned()))))
    }
    other_numbers!(MaybeStr(None));
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)?;
        Ok(MaybeStr(None))
    }
    other_json_types!(MaybeStr(None));
}

/// A NumericDate member, or [`Date::Invalid`] for any other JSON value.
struct DateOrOther(Date);

impl<'de> de::Deserialize<'de> for DateOrOther {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DateVisitor)
    }
}

struct DateVisitor;

impl<'de> Visitor<'de> for DateVisitor {
    type Value = DateOrOther;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Self::Value, E> {
        Ok(DateOrOther(Date::Seconds(seconds)))
    }
    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Self::Value, E> {
        // serde_json hands non-negative integers to `visit_u64`; this is for the others.
        Ok(DateOrOther(
            u64::try_from(seconds).map_or(Date::Invalid, Date::Seconds),
        ))
    }
    fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Self::Value, E> {
        // As `numeric_date`: fractions truncated, negative or non-finite refused.
        Ok(DateOrOther(if seconds >= 0.0 && seconds.is_finite() {
            Date::Seconds(seconds as u64)
        } else {
            Date::Invalid
        }))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(DateOrOther(Date::Invalid))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)?;
        Ok(DateOrOther(Date::Invalid))
    }
    other_json_types!(DateOrOther(Date::Invalid));
}

/// A string or an array (of which the strings are kept), or [`Strings::Other`].
struct StringsOrOther<'de>(Strings<'de>);

impl<'de> de::Deserialize<'de> for StringsOrOther<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StringsVisitor)
    }
}

struct StringsVisitor;

impl<'de> Visitor<'de> for StringsVisitor {
    type Value = StringsOrOther<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(StringsOrOther(Strings::One(Cow::Borrowed(s))))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(StringsOrOther(Strings::One(Cow::Owned(s.to_owned()))))
    }
    other_numbers!(StringsOrOther(Strings::Other));
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(MaybeStr(item)) = seq.next_element()? {
            items.extend(item);
        }
        Ok(StringsOrOther(Strings::Many(items)))
    }
    other_json_types!(StringsOrOther(Strings::Other));
}

/// The `jkt` member of a `cnf` object when it is a string (the last one if repeated), else
/// `None`.
struct Confirmation<'de>(Option<Cow<'de, str>>);

impl<'de> de::Deserialize<'de> for Confirmation<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ConfirmationVisitor)
    }
}

struct ConfirmationVisitor;

impl<'de> Visitor<'de> for ConfirmationVisitor {
    type Value = Confirmation<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut jkt = None;
        while let Some(Key(name)) = map.next_key()? {
            if name == "jkt" {
                jkt = map.next_value::<MaybeStr<'de>>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Confirmation(jkt))
    }
    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
        Ok(Confirmation(None))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Confirmation(None))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Confirmation(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Confirmation(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)?;
        Ok(Confirmation(None))
    }
    other_numbers!(Confirmation(None));
}
