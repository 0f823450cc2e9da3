//! [`Claims`]: what a verifier learned about the caller, and [`RoleSource`]: where its roles are.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{AuthError, AuthErrorKind};

mod payload;

pub(crate) use payload::{Date, Payload, Strings};

/// The verified claims of an access token.
///
/// Every verifier produces this one type, whatever the token format (JWT or introspection
/// answer) and whatever the provider. It is cheap to clone (one reference count) and is put into
/// the request extensions by [`AuthLayer`](crate::AuthLayer).
///
/// ```
/// use tower_authz::{Claims, RoleSource};
///
/// let claims = Claims::from_value(
///     serde_json::json!({
///         "sub": "alice", "iss": "https://id.example.com", "aud": ["api", "other"],
///         "exp": 4102444800_u64, "scope": "read write", "roles": ["admin"]
///     }),
///     &RoleSource::default(),
/// )
/// .unwrap();
/// assert_eq!(claims.subject(), Some("alice"));
/// assert!(claims.has_audience("api"));
/// assert!(claims.has_scope("write"));
/// assert!(claims.has_role("admin"));
/// ```
#[derive(Clone)]
pub struct Claims {
    inner: Arc<Inner>,
}

struct Inner {
    /// The claims as the verified JSON text of a JWT payload, parsed into `raw` only when a
    /// claim is asked for by name; `None` when the claims came as a JSON value.
    json: Option<String>,
    /// The claims as a JSON object (set at once when they came as a value).
    raw: OnceLock<Value>,
    subject: Option<Box<str>>,
    issuer: Option<Box<str>>,
    client_id: Option<Box<str>>,
    /// `cnf.jkt`, for the DPoP binding check.
    cnf_jkt: Option<Box<str>>,
    /// `sid` and `jti`, for revocations.
    session_id: Option<Box<str>>,
    token_id: Option<Box<str>>,
    expires_at: Option<u64>,
    not_before: Option<u64>,
    issued_at: Option<u64>,
    audiences: Vec<Box<str>>,
    scopes: Vec<Box<str>>,
    roles: Vec<Box<str>>,
}

impl Claims {
    /// Builds claims from a JSON object, reading roles through `roles`.
    ///
    /// Returns `None` if `value` is not a JSON object. Claims of the wrong type are treated as
    /// absent (a `roles` claim that is a number gives no roles; it is not an error).
    pub fn from_value(value: Value, roles: &RoleSource) -> Option<Self> {
        let map = value.as_object()?;
        let string = |name: &str| map.get(name).and_then(Value::as_str).map(Box::from);
        let date = |name: &str| map.get(name).and_then(numeric_date);
        let audiences = strings(map.get("aud"));
        let scopes = match map.get("scope").or_else(|| map.get("scp")) {
            Some(Value::String(s)) => s.split_ascii_whitespace().map(Box::from).collect(),
            other => strings(other),
        };
        let mut role_list = Vec::new();
        roles.collect(&value, &mut role_list);
        Some(Self {
            inner: Arc::new(Inner {
                json: None,
                subject: string("sub"),
                issuer: string("iss"),
                client_id: string("client_id")
                    .or_else(|| string("azp"))
                    .or_else(|| string("applicationId")),
                cnf_jkt: map.get("cnf").and_then(payload::jkt_of).map(Box::from),
                session_id: string("sid"),
                token_id: string("jti"),
                expires_at: date("exp"),
                not_before: date("nbf"),
                issued_at: date("iat"),
                audiences,
                scopes,
                roles: role_list,
                raw: OnceLock::from(value),
            }),
        })
    }

    /// Claims from the JSON text of a JWT payload, read in one pass by [`Payload::read`] with
    /// `roles`, after `check` has judged what was read: the standard claims are kept at once,
    /// the others parsed only if asked for. A text that is not one JSON object is refused as a
    /// malformed payload.
    pub(crate) fn from_payload(
        json: String,
        roles: &RoleSource,
        check: impl FnOnce(&Payload<'_>) -> Result<(), AuthError>,
    ) -> Result<Self, AuthError> {
        let mut inner = {
            let payload = Payload::read(&json, roles)
                .ok_or(AuthError::invalid_token("the token payload is malformed"))?;
            check(&payload)?;
            Inner::from_payload(&payload, roles)
        };
        inner.json = Some(json);
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// A copy that shares nothing with `self` (not even a reference count).
    pub(crate) fn deep_clone(&self) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                json: inner.json.clone(),
                raw: inner.raw.clone(),
                subject: inner.subject.clone(),
                issuer: inner.issuer.clone(),
                client_id: inner.client_id.clone(),
                cnf_jkt: inner.cnf_jkt.clone(),
                session_id: inner.session_id.clone(),
                token_id: inner.token_id.clone(),
                expires_at: inner.expires_at,
                not_before: inner.not_before,
                issued_at: inner.issued_at,
                audiences: inner.audiences.clone(),
                scopes: inner.scopes.clone(),
                roles: inner.roles.clone(),
            }),
        }
    }

    /// Whether `self` and `other` are the same claims (clones of one value), not merely equal.
    pub(crate) fn same_as(&self, other: &Claims) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The `sub` claim.
    pub fn subject(&self) -> Option<&str> {
        self.inner.subject.as_deref()
    }

    /// The `iss` claim.
    pub fn issuer(&self) -> Option<&str> {
        self.inner.issuer.as_deref()
    }

    /// The `aud` claim, whether it was a string or an array.
    pub fn audiences(&self) -> impl ExactSizeIterator<Item = &str> {
        self.inner.audiences.iter().map(|a| &**a)
    }

    /// Whether `aud` contains `audience`.
    pub fn has_audience(&self, audience: &str) -> bool {
        self.inner.audiences.iter().any(|a| &**a == audience)
    }

    /// The `exp` claim (seconds since the Unix epoch).
    pub fn expires_at(&self) -> Option<u64> {
        self.inner.expires_at
    }

    /// The `nbf` claim (seconds since the Unix epoch).
    pub fn not_before(&self) -> Option<u64> {
        self.inner.not_before
    }

    /// The `iat` claim (seconds since the Unix epoch).
    pub fn issued_at(&self) -> Option<u64> {
        self.inner.issued_at
    }

    /// The scopes: `scope` split on spaces, or Entra's `scp` (string or array).
    pub fn scopes(&self) -> impl ExactSizeIterator<Item = &str> {
        self.inner.scopes.iter().map(|s| &**s)
    }

    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.inner.scopes.iter().any(|s| &**s == scope)
    }

    /// The roles, as read by the verifier's [`RoleSource`].
    pub fn roles(&self) -> impl ExactSizeIterator<Item = &str> {
        self.inner.roles.iter().map(|r| &**r)
    }

    /// Whether the caller has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.inner.roles.iter().any(|r| &**r == role)
    }

    /// The OAuth client the token was issued to: `client_id` (RFC 9068, RFC 7662), else `azp`
    /// (OIDC, Entra), else `applicationId` (FusionAuth).
    pub fn client_id(&self) -> Option<&str> {
        self.inner.client_id.as_deref()
    }

    /// The `sid` claim: the provider's session the token belongs to (OpenID Connect; Keycloak,
    /// FusionAuth and ZITADEL put it in access tokens). A back-channel logout for a session
    /// refuses its tokens ([`Revocations`](crate::Revocations)).
    pub fn session_id(&self) -> Option<&str> {
        self.inner.session_id.as_deref()
    }

    /// The `jti` claim: the token's unique identifier (RFC 7519 §4.1.7).
    pub fn token_id(&self) -> Option<&str> {
        self.inner.token_id.as_deref()
    }

    /// `cnf.jkt`: the RFC 7638 thumbprint of the key a DPoP-bound token is bound to (RFC 9449
    /// §6), read without parsing the other claims.
    pub(crate) fn cnf_jkt(&self) -> Option<&str> {
        self.inner.cnf_jkt.as_deref()
    }

    /// One claim by name.
    ///
    /// The claims of a JWT are kept as the token's JSON text until a claim is asked for by
    /// name (or as a map, value or typed view): the first such call parses them, once for all
    /// clones of these claims (a cached token's included). The accessors above need no parse.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.as_map().get(name)
    }

    /// All claims as the JSON object they came in.
    pub fn as_map(&self) -> &Map<String, Value> {
        match self.as_value() {
            Value::Object(map) => map,
            // Both constructors only accept objects.
            _ => empty_map(),
        }
    }

    /// All claims as a JSON value (always an object).
    pub fn as_value(&self) -> &Value {
        self.inner.raw.get_or_init(|| {
            // The text was read as one JSON object before these claims were built, so this
            // cannot fail; an empty object stands in all the same.
            self.inner
                .json
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok())
                .unwrap_or_else(|| Value::Object(Map::new()))
        })
    }

    /// A typed view of the claims, for custom claims.
    ///
    /// ```
    /// # use tower_authz::{Claims, RoleSource};
    /// #[derive(serde::Deserialize)]
    /// struct Mine { tid: String }
    /// let claims = Claims::from_value(serde_json::json!({"tid": "t1"}), &RoleSource::default()).unwrap();
    /// assert_eq!(claims.deserialize::<Mine>().unwrap().tid, "t1");
    /// ```
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(self.as_value())
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Claims are not secret (they are signed, not encrypted), but keep Debug short.
        f.debug_struct("Claims")
            .field("sub", &self.subject())
            .field("iss", &self.issuer())
            .field("aud", &self.inner.audiences)
            .field("scopes", &self.inner.scopes)
            .field("roles", &self.inner.roles)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// The claims `payload` read, without its text.
    fn from_payload(payload: &Payload<'_>, roles: &RoleSource) -> Self {
        let boxed = |s: Option<&Cow<'_, str>>| s.map(|s| Box::from(&**s));
        let mut role_list = Vec::new();
        payload.roles(roles, &mut role_list);
        Self {
            subject: boxed(payload.sub.as_ref()),
            issuer: boxed(payload.iss.as_ref()),
            client_id: boxed(
                payload
                    .client_id
                    .as_ref()
                    .or(payload.azp.as_ref())
                    .or(payload.application_id.as_ref()),
            ),
            cnf_jkt: boxed(payload.cnf_jkt.as_ref()),
            session_id: boxed(payload.sid.as_ref()),
            token_id: boxed(payload.jti.as_ref()),
            expires_at: payload.exp.and_then(Date::seconds),
            not_before: payload.nbf.and_then(Date::seconds),
            issued_at: payload.iat.and_then(Date::seconds),
            audiences: payload
                .aud
                .as_ref()
                .map(|aud| aud.iter().map(Box::from).collect())
                .unwrap_or_default(),
            scopes: payload.scopes().map(Box::from).collect(),
            roles: role_list,
            json: None,
            raw: OnceLock::new(),
        }
    }
}

fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

/// Marks a request that [`AuthLayer`](crate::AuthLayer) let through without a token (optional
/// mode), so that a `Claims` extractor can tell "anonymous" (401) from "no layer installed" (500).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anonymous;

/// The claims the [`AuthLayer`](crate::AuthLayer) in front put into `extensions`, or why there
/// are none: `MissingCredentials` (401) for a request an optional layer let through
/// anonymously, `NotConfigured` (500) when no layer runs in front of the route.
pub(crate) fn claims_in(extensions: &http::Extensions) -> Result<&Claims, AuthError> {
    if let Some(claims) = extensions.get::<Claims>() {
        return Ok(claims);
    }
    if extensions.get::<Anonymous>().is_some() {
        return Err(AuthError::missing_credentials());
    }
    Err(AuthError::new(
        AuthErrorKind::NotConfigured,
        "claims were asked for but no AuthLayer runs in front of this route",
    ))
}

/// A JSON NumericDate: a non-negative number of seconds (fractions are truncated).
pub(crate) fn numeric_date(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.is_finite())
                .map(|f| f as u64)
        }),
        _ => None,
    }
}

/// A string, or the strings of an array (other elements are skipped).
fn strings(value: Option<&Value>) -> Vec<Box<str>> {
    match value {
        Some(Value::String(s)) => vec![Box::from(s.as_str())],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(Box::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// Where a provider puts the caller's roles.
///
/// The default is a `roles` claim holding an array of strings (Microsoft Entra, FusionAuth,
/// Auth0 with a rule). Use one of the constructors for other providers, and
/// [`RoleSource::merge`] when roles come from more than one place.
///
/// ```
/// use tower_authz::{Claims, RoleSource};
///
/// let token = serde_json::json!({
///     "urn:zitadel:iam:org:project:roles": {
///         "admin": {"252429467263516883": "acme.zitadel.cloud"}
///     }
/// });
/// let claims = Claims::from_value(token, &RoleSource::zitadel()).unwrap();
/// assert!(claims.has_role("admin"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoleSource {
    /// A top-level claim holding an array of strings (a lone string counts as one role).
    Claim(String),
    /// ZITADEL's role map `{"<role>": {"<orgId>": "<orgDomain>"}}` in
    /// `urn:zitadel:iam:org:project:roles`, or with `Some(project_id)` in
    /// `urn:zitadel:iam:org:project:{project_id}:roles`. A role counts when its org map is
    /// non-empty, as in zitadel-go's `IsGrantedRole`.
    Zitadel {
        /// The project whose per-project claim to read; `None` reads the generic claim.
        project_id: Option<String>,
    },
    /// Keycloak realm roles, `realm_access.roles`.
    KeycloakRealm,
    /// Keycloak client roles, `resource_access.<client>.roles`.
    KeycloakClient(String),
    /// An array of strings (or one string) at a JSON pointer (RFC 6901), e.g. `/app/roles`.
    Pointer(String),
    /// The union of several sources.
    Merge(Vec<RoleSource>),
}

impl Default for RoleSource {
    fn default() -> Self {
        Self::Claim("roles".to_owned())
    }
}

impl RoleSource {
    /// A top-level claim holding an array of role names.
    pub fn claim(name: impl Into<String>) -> Self {
        Self::Claim(name.into())
    }

    /// ZITADEL's generic role claim `urn:zitadel:iam:org:project:roles`.
    pub fn zitadel() -> Self {
        Self::Zitadel { project_id: None }
    }

    /// ZITADEL's per-project role claim `urn:zitadel:iam:org:project:{project_id}:roles`.
    pub fn zitadel_project(project_id: impl Into<String>) -> Self {
        Self::Zitadel {
            project_id: Some(project_id.into()),
        }
    }

    /// Keycloak's realm roles.
    pub fn keycloak_realm() -> Self {
        Self::KeycloakRealm
    }

    /// Keycloak's roles of one client.
    pub fn keycloak_client(client_id: impl Into<String>) -> Self {
        Self::KeycloakClient(client_id.into())
    }

    /// An array of role names at a JSON pointer.
    pub fn pointer(pointer: impl Into<String>) -> Self {
        Self::Pointer(pointer.into())
    }

    /// The union of several sources.
    pub fn merge(sources: impl IntoIterator<Item = RoleSource>) -> Self {
        Self::Merge(sources.into_iter().collect())
    }

    /// The source a claim name stands for, as a command-line flag or a configuration file gives
    /// it: a JSON pointer (`/resource_access/my-client/roles`), Keycloak's `realm_access`,
    /// ZITADEL's `urn:zitadel:iam:org:project:roles` or `urn:zitadel:iam:org:project:{id}:roles`,
    /// else a top-level claim of that name.
    ///
    /// ```
    /// use tower_authz::RoleSource;
    ///
    /// assert_eq!(RoleSource::from_name("roles"), RoleSource::default());
    /// assert_eq!(RoleSource::from_name("realm_access"), RoleSource::keycloak_realm());
    /// assert_eq!(
    ///     RoleSource::from_name("urn:zitadel:iam:org:project:42:roles"),
    ///     RoleSource::zitadel_project("42"),
    /// );
    /// assert_eq!(RoleSource::from_name("/app/roles"), RoleSource::pointer("/app/roles"));
    /// ```
    pub fn from_name(name: &str) -> Self {
        const ZITADEL: &str = "urn:zitadel:iam:org:project:";
        if name.starts_with('/') {
            Self::pointer(name)
        } else if name == "realm_access" {
            Self::keycloak_realm()
        } else if name == "urn:zitadel:iam:org:project:roles" {
            Self::zitadel()
        } else if let Some(project) = name
            .strip_prefix(ZITADEL)
            .and_then(|rest| rest.strip_suffix(":roles"))
        {
            Self::zitadel_project(project)
        } else {
            Self::claim(name)
        }
    }

    /// Whether this source reads the top-level claim `name` (so that [`Payload::read`] keeps
    /// it for [`collect`](Self::collect)).
    fn reads_member(&self, name: &str) -> bool {
        const ZITADEL: &str = "urn:zitadel:iam:org:project:";
        match self {
            Self::Claim(claim) => claim == name,
            Self::Zitadel { project_id: None } => name == "urn:zitadel:iam:org:project:roles",
            Self::Zitadel {
                project_id: Some(id),
            } => {
                name.strip_prefix(ZITADEL)
                    .and_then(|rest| rest.strip_suffix(":roles"))
                    == Some(id.as_str())
            }
            Self::KeycloakRealm => name == "realm_access",
            Self::KeycloakClient(_) => name == "resource_access",
            // The pointer's first reference token, unescaped as RFC 6901 §4 says. The empty
            // pointer (the whole object) and one without a leading `/` give no roles.
            Self::Pointer(pointer) => pointer
                .strip_prefix('/')
                .and_then(|tokens| tokens.split('/').next())
                .is_some_and(|first| first.replace("~1", "/").replace("~0", "~") == name),
            Self::Merge(sources) => sources.iter().any(|source| source.reads_member(name)),
        }
    }

    fn collect(&self, claims: &Value, out: &mut Vec<Box<str>>) {
        match self {
            Self::Claim(name) => push_strings(claims.get(name), out),
            Self::Zitadel { project_id } => {
                let value = match project_id {
                    None => claims.get("urn:zitadel:iam:org:project:roles"),
                    Some(id) => claims.get(format!("urn:zitadel:iam:org:project:{id}:roles")),
                };
                if let Some(Value::Object(map)) = value {
                    for (role, orgs) in map {
                        if orgs.as_object().is_some_and(|orgs| !orgs.is_empty()) {
                            push_unique(role, out);
                        }
                    }
                }
            }
            Self::KeycloakRealm => push_strings(
                claims
                    .get("realm_access")
                    .and_then(|realm| realm.get("roles")),
                out,
            ),
            Self::KeycloakClient(client) => push_strings(
                claims
                    .get("resource_access")
                    .and_then(|access| access.get(client))
                    .and_then(|client| client.get("roles")),
                out,
            ),
            Self::Pointer(pointer) => push_strings(claims.pointer(pointer), out),
            Self::Merge(sources) => {
                for source in sources {
                    source.collect(claims, out);
                }
            }
        }
    }
}

fn push_strings(value: Option<&Value>, out: &mut Vec<Box<str>>) {
    match value {
        Some(Value::String(s)) => push_unique(s, out),
        Some(Value::Array(items)) => {
            for item in items.iter().filter_map(Value::as_str) {
                push_unique(item, out);
            }
        }
        _ => {}
    }
}

fn push_unique(role: &str, out: &mut Vec<Box<str>>) {
    if !out.iter().any(|r| &**r == role) {
        out.push(Box::from(role));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value, source: RoleSource) -> Claims {
        Claims::from_value(value, &source).expect("object")
    }

    #[test]
    fn audience_string_or_array() {
        let one = claims(json!({"aud": "a"}), RoleSource::default());
        assert!(one.has_audience("a"));
        let many = claims(json!({"aud": ["a", 7, "b"]}), RoleSource::default());
        assert_eq!(many.audiences().collect::<Vec<_>>(), ["a", "b"]);
        let none = claims(json!({"aud": 5}), RoleSource::default());
        assert_eq!(none.audiences().len(), 0);
    }

    #[test]
    fn scopes_from_scope_or_scp() {
        let c = claims(json!({"scope": "a  b"}), RoleSource::default());
        assert_eq!(c.scopes().collect::<Vec<_>>(), ["a", "b"]);
        let c = claims(json!({"scp": "x y"}), RoleSource::default());
        assert!(c.has_scope("y"));
        let c = claims(json!({"scp": ["x", "z"]}), RoleSource::default());
        assert!(c.has_scope("z"));
    }

    #[test]
    fn wrong_typed_roles_give_no_roles() {
        let c = claims(json!({"roles": {"admin": true}}), RoleSource::default());
        assert_eq!(c.roles().len(), 0);
        let c = claims(json!({"roles": 42}), RoleSource::default());
        assert!(!c.has_role("admin"));
    }

    #[test]
    fn zitadel_generic_and_project_maps() {
        let token = json!({
            "urn:zitadel:iam:org:project:roles": {"admin": {"1": "a.example"}, "empty": {}},
            "urn:zitadel:iam:org:project:42:roles": {"viewer": {"1": "a.example"}},
        });
        let c = claims(token.clone(), RoleSource::zitadel());
        assert_eq!(c.roles().collect::<Vec<_>>(), ["admin"]);
        let c = claims(token, RoleSource::zitadel_project("42"));
        assert_eq!(c.roles().collect::<Vec<_>>(), ["viewer"]);
    }

    #[test]
    fn keycloak_and_pointer_and_merge() {
        let token = json!({
            "realm_access": {"roles": ["r1"]},
            "resource_access": {"api": {"roles": ["c1", "r1"]}},
            "app": {"nested": {"roles": ["p1"]}},
        });
        let merged = RoleSource::merge([
            RoleSource::keycloak_realm(),
            RoleSource::keycloak_client("api"),
            RoleSource::pointer("/app/nested/roles"),
        ]);
        let c = claims(token, merged);
        assert_eq!(c.roles().collect::<Vec<_>>(), ["r1", "c1", "p1"]);
    }

    #[test]
    fn client_id_fallbacks() {
        let c = claims(json!({"azp": "x"}), RoleSource::default());
        assert_eq!(c.client_id(), Some("x"));
        let c = claims(json!({"applicationId": "f"}), RoleSource::default());
        assert_eq!(c.client_id(), Some("f"));
    }

    #[test]
    fn not_an_object() {
        assert!(Claims::from_value(json!([1]), &RoleSource::default()).is_none());
    }

    #[test]
    fn typed_view() {
        #[derive(serde::Deserialize)]
        struct Entra {
            tid: String,
        }
        let c = claims(json!({"tid": "t"}), RoleSource::default());
        assert_eq!(c.deserialize::<Entra>().expect("tid").tid, "t");
    }

    // Property tests: any JSON value and any role source give claims or `None`, never a panic.

    const CLAIM_KEYS: &[&str] = &[
        "aud",
        "scope",
        "scp",
        "roles",
        "realm_access",
        "resource_access",
        "api",
        "app",
        "urn:zitadel:iam:org:project:roles",
        "urn:zitadel:iam:org:project:42:roles",
        "active",
        "exp",
        "nbf",
        "iss",
        "sub",
        "client_id",
        "azp",
        "applicationId",
        "iat",
        "tid",
        "cnf",
        "jkt",
        "sid",
        "jti",
    ];

    /// A JSON object's text with these members in this order, duplicates and all, each name
    /// written with its first character as a `\u` escape when asked.
    fn object_text(members: &[(String, bool, Value)]) -> String {
        let members: Vec<String> = members
            .iter()
            .map(|(name, escaped, value)| {
                let name = match name.chars().next() {
                    Some(first) if *escaped && first.is_ascii() => {
                        format!("\"\\u{:04x}{}\"", u32::from(first), &name[1..])
                    }
                    _ => Value::from(name.as_str()).to_string(),
                };
                format!("{name}:{value}")
            })
            .collect();
        format!("{{{}}}", members.join(","))
    }

    /// Every accessor of `claims`, for comparing two ways of building them.
    fn everything(claims: &Claims) -> impl PartialEq + fmt::Debug + '_ {
        (
            (
                claims.subject(),
                claims.issuer(),
                claims.client_id(),
                claims.cnf_jkt(),
                claims.session_id(),
                claims.token_id(),
            ),
            (claims.expires_at(), claims.not_before(), claims.issued_at()),
            claims.audiences().collect::<Vec<_>>(),
            claims.scopes().collect::<Vec<_>>(),
            claims.roles().collect::<Vec<_>>(),
            claims.as_value(),
        )
    }

    fn any_role_source() -> impl proptest::strategy::Strategy<Value = RoleSource> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(RoleSource::default()),
            proptest::sample::select(CLAIM_KEYS).prop_map(RoleSource::claim),
            Just(RoleSource::zitadel()),
            ".{0,4}".prop_map(RoleSource::zitadel_project),
            Just(RoleSource::keycloak_realm()),
            "(api|.{0,4})".prop_map(RoleSource::keycloak_client),
            "(/app/roles|/roles/0|/~1|~0|/|.{0,6})".prop_map(RoleSource::pointer),
        ];
        leaf.prop_recursive(2, 6, 3, |inner| {
            proptest::collection::vec(inner, 0..3).prop_map(RoleSource::merge)
        })
    }

    /// A string, or the strings of an array: an independent model of `aud` and `scp`.
    fn model_strings(value: Option<&Value>) -> Vec<&str> {
        match value {
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn any_value_and_role_source_give_claims_or_none(
            value in crate::test_support::json_with_names(CLAIM_KEYS),
            source in any_role_source(),
        ) {
            let claims = Claims::from_value(value.clone(), &source);
            proptest::prop_assert_eq!(claims.is_some(), value.is_object());
            let Some(claims) = claims else { return Ok(()) };
            proptest::prop_assert_eq!(claims.as_value(), &value);
            proptest::prop_assert_eq!(claims.audiences().collect::<Vec<_>>(), model_strings(value.get("aud")));
            let scopes: Vec<&str> = match value.get("scope").or_else(|| value.get("scp")) {
                Some(Value::String(s)) => s.split_ascii_whitespace().collect(),
                other => model_strings(other),
            };
            proptest::prop_assert_eq!(claims.scopes().collect::<Vec<_>>(), scopes);
            let roles: Vec<&str> = claims.roles().collect();
            for (i, role) in roles.iter().enumerate() {
                proptest::prop_assert!(!roles[..i].contains(role), "duplicate role {role}");
                proptest::prop_assert!(claims.has_role(role));
            }
            let _ = (claims.expires_at(), claims.not_before(), claims.issued_at());
            let _ = (claims.subject(), claims.issuer(), claims.client_id(), format!("{claims:?}"));
            let copy = claims.deep_clone();
            proptest::prop_assert_eq!(copy.as_value(), claims.as_value());
        }

        /// The one-pass reading of a token's payload agrees with the claims of the JSON object
        /// parsed whole, whatever the members, their types, order, duplicates and escapes.
        #[test]
        fn a_payload_read_in_one_pass_gives_the_claims_of_its_json_object(
            members in proptest::collection::vec(
                (crate::test_support::member_name(CLAIM_KEYS), proptest::prelude::any::<bool>(), crate::test_support::json_with_names(CLAIM_KEYS)),
                0..8,
            ),
            source in any_role_source(),
        ) {
            let text = object_text(&members);
            let value: Value = serde_json::from_str(&text).expect("valid JSON");
            let whole = Claims::from_value(value, &source).expect("an object");
            let read = Claims::from_payload(text.clone(), &source, |_| Ok(())).expect("an object");
            proptest::prop_assert_eq!(everything(&read), everything(&whole), "{}", text);
        }

        #[test]
        fn a_payload_that_is_not_one_object_is_refused(value in crate::test_support::json_with_names(CLAIM_KEYS), tail in "(| |x|\\}|,1)") {
            let text = format!("{value}{tail}");
            let read = Claims::from_payload(text, &RoleSource::default(), |_| Ok(()));
            proptest::prop_assert_eq!(read.is_ok(), value.is_object() && tail.trim().is_empty());
        }

        #[test]
        fn numeric_dates_are_non_negative_numbers(value in crate::test_support::json_with_names(CLAIM_KEYS)) {
            let date = numeric_date(&value);
            match &value {
                Value::Number(n) => {
                    let non_negative = n.as_u64().is_some() || n.as_f64().is_some_and(|f| f >= 0.0);
                    proptest::prop_assert_eq!(date.is_some(), non_negative);
                    if let Some(u) = n.as_u64() {
                        proptest::prop_assert_eq!(date, Some(u));
                    }
                }
                _ => proptest::prop_assert_eq!(date, None),
            }
        }
    }

    /// An introspection answer, judged as `IntrospectionVerifier` does (issuer
    /// `https://issuer.example`, audience `api`, no leeway): claims or a typed error.
    #[cfg(feature = "introspection")]
    mod introspection_answers {
        use super::*;
        use crate::AuthErrorKind;
        use proptest::prelude::*;
        use proptest::sample::select;

        fn now() -> i64 {
            crate::clock::now() as i64
        }

        /// A time away from `now` by at least 5 s either way.
        fn time() -> impl Strategy<Value = Value> {
            prop_oneof![
                4 => prop_oneof![-100_000i64..-5, 5i64..100_000].prop_map(|d| Value::from(now() + d)),
                1 => crate::test_support::json_with_names(CLAIM_KEYS),
            ]
        }

        fn answer() -> impl Strategy<Value = Value> {
            let object = (
                proptest::collection::vec((select(CLAIM_KEYS).prop_map(String::from), crate::test_support::json_with_names(CLAIM_KEYS)), 0..3),
                proptest::option::weighted(0.95, prop_oneof![4 => Just(Value::Bool(true)), 1 => crate::test_support::json_with_names(CLAIM_KEYS)]),
                proptest::option::of(prop_oneof![
                    3 => select(&["https://issuer.example", "https://other"][..]).prop_map(Value::from),
                    1 => crate::test_support::json_with_names(CLAIM_KEYS),
                ]),
                proptest::option::weighted(0.8, prop_oneof![
                    2 => select(&["api", "other"][..]).prop_map(Value::from),
                    2 => proptest::collection::vec(select(&["api", "other"][..]).prop_map(Value::from), 0..3).prop_map(Value::Array),
                    1 => crate::test_support::json_with_names(CLAIM_KEYS),
                ]),
                proptest::option::of(time()),
                proptest::option::weighted(0.3, time()),
                proptest::option::weighted(0.5, prop_oneof![
                    3 => select(&["Bearer", "bearer", "DPoP", "access_token", "Refresh", "refresh_token", "id_token", "N_A"][..]).prop_map(Value::from),
                    1 => crate::test_support::json_with_names(CLAIM_KEYS),
                ]),
            )
                .prop_map(|(extra, active, iss, aud, exp, nbf, token_type)| {
                    let mut map: serde_json::Map<String, Value> = extra.into_iter().collect();
                    for (name, value) in [("active", active), ("iss", iss), ("aud", aud), ("exp", exp), ("nbf", nbf), ("token_type", token_type)] {
                        match value {
                            Some(value) => map.insert(name.into(), value),
                            None => map.remove(name),
                        };
                    }
                    Value::Object(map)
                });
            prop_oneof![9 => object, 1 => crate::test_support::json_with_names(CLAIM_KEYS)]
        }

        fn accepted(answer: &Value, now: u64) -> bool {
            let Some(map) = answer.as_object() else {
                return false;
            };
            let time_ok = |name: &str, ok: &dyn Fn(u64) -> bool| {
                map.get(name)
                    .is_none_or(|v| numeric_date(v).is_some_and(ok))
            };
            map.get("active") == Some(&Value::Bool(true))
                && time_ok("exp", &|exp| now < exp)
                && time_ok("nbf", &|nbf| now >= nbf)
                && map
                    .get("iss")
                    .is_none_or(|iss| iss == "https://issuer.example")
                && model_strings(map.get("aud")).contains(&"api")
                && map.get("token_type").is_none_or(|t| {
                    t.as_str().is_some_and(|t| {
                        [
                            "bearer",
                            "dpop",
                            "access_token",
                            "urn:ietf:params:oauth:token-type:access_token",
                        ]
                        .contains(&t.to_ascii_lowercase().as_str())
                    })
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn any_bytes_give_claims_or_a_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
                if let Err(e) = crate::fuzzing::introspection_answer(&bytes) {
                    prop_assert!(matches!(e.kind(), AuthErrorKind::InvalidToken | AuthErrorKind::Expired | AuthErrorKind::Upstream), "{e:?}");
                }
            }

            #[test]
            fn accepted_exactly_when_active_current_and_for_us(answer in answer()) {
                let result = crate::fuzzing::introspection_answer(answer.to_string().as_bytes());
                if let Err(e) = &result {
                    prop_assert!(matches!(e.kind(), AuthErrorKind::InvalidToken | AuthErrorKind::Expired | AuthErrorKind::Upstream), "{e:?}");
                }
                prop_assert_eq!(result.is_ok(), accepted(&answer, crate::clock::now()), "{}", answer);
            }
        }
    }
}
