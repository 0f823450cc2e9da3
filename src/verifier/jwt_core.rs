//! The JWT checks shared by [`JwtVerifier`](super::JwtVerifier) and
//! [`JwksVerifier`](super::JwksVerifier): parsing a compact JWS, and validating its claims per
//! RFC 8725 and RFC 9068.
//!
//! The order is fixed: size cap, shape (three base64url parts, no JWE), header (known `alg`, no
//! `none`, no `crit`), key lookup, signature, and only then the claims.
//!
//! # Why JWS verification is our own code
//!
//! jsonwebtoken is in the tree, but only for its JWK types (`Jwk`, `JwkSet`); the compact JWS is
//! parsed and verified here, with aws-lc-rs, because:
//! - **`crit` is refused** (RFC 7515 §4.1.11): a token with critical header parameters we do not
//!   understand must be rejected, and a general-purpose decoder ignores the field;
//! - **the `alg` is bound to the key type**: a key is parsed once per JWKS fetch into one
//!   verifying key per algorithm it allows, and a header's `alg` only selects among those, so an
//!   RSA or EC key can never be used as an HMAC secret (algorithm confusion);
//! - **the header is parsed without allocating**: borrowed fields (`Cow<str>`), the signature
//!   decoded into a stack buffer, the claims read once into borrowed fields (no JSON tree:
//!   `claims::Payload`);
//! - **measured**: BENCHMARKS.md puts the uncached layer within 4 % of a hand-written floor that
//!   deserializes the claims into a typed struct of borrowed fields, for RS256, ES256, EdDSA and
//!   HS256 alike (and below one that parses them into a `serde_json::Value`); jsonwebtoken's
//!   `decode` rebuilds the key and parses the token twice per call, which is the gap the
//!   project's issue measured in existing middlewares built on it.

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::keys::{Algorithm, Key, KeyError, KeySet};
use super::tenants::Tenants;
use crate::claims::{Claims, Date, Payload, RoleSource, Strings};
use crate::clock::now;
use crate::error::AuthError;

/// The default cap on the size of a token, checked before anything else.
pub(crate) const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
/// The default clock skew allowed on `exp` and `nbf`.
const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// What a JWT's claims are checked against. Built by the verifiers' `with_*` methods.
#[derive(Debug, Clone)]
pub(crate) struct Validation {
    /// The exact `iss`, or with `tenants` a template with `{tenantid}` (Entra multi-tenant
    /// metadata).
    pub(crate) issuer: String,
    /// `Some`: `issuer` is a `{tenantid}` template and these tenants are accepted.
    pub(crate) tenants: Option<Tenants>,
    pub(crate) audiences: Vec<String>,
    pub(crate) any_audience: bool,
    pub(crate) leeway: u64,
    pub(crate) require_exp: bool,
    pub(crate) typ: Option<String>,
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) max_token_len: usize,
    pub(crate) roles: RoleSource,
    /// What the tokens are for: an access token is never a logout token, and back.
    pub(crate) purpose: Purpose,
}

/// What a JWT verifier accepts tokens for (RFC 8725 §3.11: explicit typing keeps one kind of
/// token from being taken for another).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Purpose {
    /// Access tokens: a token typed `logout+jwt` is refused, unless the verifier was told to
    /// want exactly that type (`with_typ("logout+jwt")`).
    #[default]
    Access,
    /// OpenID Connect Back-Channel Logout tokens: typed `logout+jwt`, or untyped / `JWT` as
    /// providers sent them before the type was registered.
    Logout,
}

/// Whether `typ` is the logout token type (OpenID Connect Back-Channel Logout 1.0 §2.4).
fn is_logout_typ(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("logout+jwt") || typ.eq_ignore_ascii_case("application/logout+jwt")
}

impl Validation {
    pub(crate) fn new(issuer: String, audience: String) -> Self {
        Self {
            issuer,
            tenants: None,
            audiences: vec![audience],
            any_audience: false,
            leeway: DEFAULT_LEEWAY.as_secs(),
            require_exp: true,
            typ: None,
            algorithms: None,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            roles: RoleSource::default(),
            purpose: Purpose::Access,
        }
    }
}

/// The JOSE header fields we read. Anything else (`jku`, `x5u`, `jwk`, `x5c`, ...) is ignored:
/// keys come only from the configured key set.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
    #[serde(default)]
    enc: Option<IgnoredAny>,
}

/// A compact JWS split and its header checked, before any key is looked up.
pub(crate) struct ParsedJwt<'a> {
    alg: Algorithm,
    kid: Option<Cow<'a, str>>,
    typ: Option<Cow<'a, str>>,
    signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
}

impl<'a> ParsedJwt<'a> {
    /// Checks size and shape and parses the header. No cryptography happens here.
    pub(crate) fn parse(token: &'a str, validation: &Validation) -> Result<Self, AuthError> {
        check_token_len(token, validation.max_token_len)?;
        // The dots found with SIMD (memchr): a signature is hundreds of bytes, scanned whole.
        let bytes = token.as_bytes();
        let not_a_jwt = || AuthError::invalid_token("the token is not a JWT");
        let first = memchr::memchr(b'.', bytes).ok_or_else(not_a_jwt)?;
        let second = bytes
            .get(first + 1..)
            .and_then(|rest| memchr::memchr(b'.', rest))
            .map(|at| first + 1 + at)
            .ok_or_else(not_a_jwt)?;
        let (header, payload, signature) = (
            &token[..first],
            &token[first + 1..second],
            &token[second + 1..],
        );
        match memchr::memchr_iter(b'.', signature.as_bytes()).count() {
            0 => {}
            2 => {
                return Err(AuthError::invalid_token(
                    "encrypted tokens (JWE) are not accepted",
                ));
            }
            _ => return Err(not_a_jwt()),
        }
        if header.is_empty() || payload.is_empty() || signature.is_empty() {
            return Err(AuthError::invalid_token("the token is not a JWT"));
        }
        let signing_input = &token[..header.len() + 1 + payload.len()];

        let mut buf = [0u8; 1024];
        let header_bytes = decode_into(header, &mut buf)
            .ok_or(AuthError::invalid_token("the token header is malformed"))?;
        // serde would also read a struct from a JSON array; a JOSE header is an object.
        if header_bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(AuthError::invalid_token("the token header is malformed"));
        }
        // RFC 7515 §5.2 step 3: the header must be UTF-8 throughout. serde_json checks UTF-8
        // only in the strings it reads, not in the members it skips, so check it all first.
        let header_text = std::str::from_utf8(header_bytes)
            .map_err(|_| AuthError::invalid_token("the token header is malformed"))?;
        let parsed: Header<'_> = serde_json::from_str(header_text)
            .map_err(|_| AuthError::invalid_token("the token header is malformed"))?;
        if parsed.enc.is_some() {
            return Err(AuthError::invalid_token(
                "encrypted tokens (JWE) are not accepted",
            ));
        }
        if parsed.crit.is_some() {
            return Err(AuthError::invalid_token(
                "the token has critical header parameters this service does not understand",
            ));
        }
        let alg: Algorithm = parsed
            .alg
            .parse()
            .map_err(|()| AuthError::invalid_token("the token's algorithm is not accepted"))?;
        if let Some(allowed) = &validation.algorithms
            && !allowed.contains(&alg)
        {
            return Err(AuthError::invalid_token(
                "the token's algorithm is not accepted",
            ));
        }
        let typed_logout = parsed.typ.as_deref().is_some_and(is_logout_typ);
        let accepted_type = match validation.purpose {
            // Unless the verifier was told to want exactly that type (`with_typ`).
            Purpose::Access => {
                !typed_logout || validation.typ.as_deref().is_some_and(is_logout_typ)
            }
            Purpose::Logout => {
                typed_logout
                    || parsed
                        .typ
                        .as_deref()
                        .is_none_or(|typ| typ.eq_ignore_ascii_case("JWT"))
            }
        };
        if !accepted_type {
            return Err(AuthError::invalid_token("the token type is not accepted"));
        }
        // The header borrows from `buf`; keep only what outlives it, as owned strings where
        // needed (kid and typ are short; almost always this is one small allocation for kid).
        Ok(Self {
            alg,
            kid: parsed.kid.map(|k| Cow::Owned(k.into_owned())),
            // `typ` is read only when a type is required: copied only then.
            typ: parsed
                .typ
                .filter(|_| validation.typ.is_some())
                .map(|t| Cow::Owned(t.into_owned())),
            signing_input,
            payload,
            signature,
        })
    }

    /// The `kid` header, if any.
    pub(crate) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Finds the key and verifies the signature.
    pub(crate) fn verify_signature<'k>(&self, keys: &'k KeySet) -> Result<&'k Key, KeyError> {
        let key = keys.find(self.kid(), self.alg)?;
        let mut buf = [0u8; 1024];
        let signature = decode_into(self.signature, &mut buf).ok_or(KeyError::BadSignature)?;
        key.verify(self.alg, self.signing_input.as_bytes(), signature)?;
        Ok(key)
    }

    /// Decodes and checks the claims. Call only after [`verify_signature`](Self::verify_signature).
    pub(crate) fn claims(&self, validation: &Validation) -> Result<Claims, AuthError> {
        if let Some(expected) = &validation.typ {
            let matches = self.typ.as_deref().is_some_and(|typ| {
                typ.eq_ignore_ascii_case(expected)
                    || typ
                        .strip_prefix("application/")
                        .is_some_and(|t| t.eq_ignore_ascii_case(expected))
            });
            if !matches {
                return Err(AuthError::invalid_token("the token type is not accepted"));
            }
        }
        let payload = URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| AuthError::invalid_token("the token payload is malformed"))?;
        // RFC 7519 §7.2 step 9: the claims must be UTF-8 throughout (see the header above).
        let json = String::from_utf8(payload)
            .map_err(|_| AuthError::invalid_token("the token payload is malformed"))?;
        // One pass over the text for what is checked and kept; no JSON tree is built.
        Claims::from_payload(json, &validation.roles, |payload| {
            check_claims(payload, validation, now())
        })
    }
}

/// A [`ParsedJwt`] that owns its token: what a verification waiting for keys carries, so that
/// the token is not split and its header not parsed a second time once the keys are there.
pub(crate) struct OwnedJwt {
    token: String,
    alg: Algorithm,
    kid: Option<String>,
    typ: Option<String>,
    /// `header.payload`: where the signing input ends.
    signing_input_len: usize,
    payload_len: usize,
}

impl ParsedJwt<'_> {
    /// This JWT with its own copy of the token.
    pub(crate) fn to_owned_jwt(&self) -> OwnedJwt {
        let mut token = String::with_capacity(self.signing_input.len() + 1 + self.signature.len());
        token.push_str(self.signing_input);
        token.push('.');
        token.push_str(self.signature);
        OwnedJwt {
            token,
            alg: self.alg,
            kid: self.kid.as_deref().map(str::to_owned),
            typ: self.typ.as_deref().map(str::to_owned),
            signing_input_len: self.signing_input.len(),
            payload_len: self.payload.len(),
        }
    }
}

impl OwnedJwt {
    /// The parsed view again (slicing only: no parsing).
    pub(crate) fn parsed(&self) -> ParsedJwt<'_> {
        let end = self.signing_input_len;
        let part = |range: std::ops::Range<usize>| self.token.get(range).unwrap_or_default();
        ParsedJwt {
            alg: self.alg,
            kid: self.kid.as_deref().map(Cow::Borrowed),
            typ: self.typ.as_deref().map(Cow::Borrowed),
            signing_input: part(0..end),
            payload: part(end.saturating_sub(self.payload_len)..end),
            signature: part(end.saturating_add(1)..self.token.len()),
        }
    }
}

/// Checks `exp`, `nbf`, `iss` and `aud` of a JWT's claims.
fn check_claims(claims: &Payload<'_>, v: &Validation, now: u64) -> Result<(), AuthError> {
    check_times(claims.exp, claims.nbf, v.require_exp, v.leeway, now)?;
    check_issuer(claims.iss.as_deref(), claims.tid.as_deref(), v)?;
    let for_us = |aud: &Strings<'_>| aud.iter().any(|aud| v.audiences.iter().any(|a| a == aud));
    if !v.any_audience && !claims.aud.as_ref().is_some_and(for_us) {
        return Err(AuthError::invalid_token(
            "the token is for another audience",
        ));
    }
    Ok(())
}

/// The placeholder of Entra's multi-tenant metadata.
pub(crate) const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Checks `iss`: equal to the configured issuer, or for a `{tenantid}` template, equal to the
/// template with the token's `tid` substituted (and `tid` among the accepted tenants).
fn check_issuer(iss: Option<&str>, tid: Option<&str>, v: &Validation) -> Result<(), AuthError> {
    let other = || AuthError::invalid_token("the token is from another issuer");
    let iss = iss.ok_or_else(other)?;
    let Some(tenants) = &v.tenants else {
        return if iss == v.issuer {
            Ok(())
        } else {
            Err(other())
        };
    };
    let tid = tid
        .filter(|tid| {
            !tid.is_empty() && tid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .ok_or_else(other)?;
    if !tenants.accepts(tid) {
        return Err(AuthError::invalid_token(
            "the token is from a tenant not accepted here",
        ));
    }
    // Compare piecewise instead of building the substituted string.
    let (before, after) = v
        .issuer
        .split_once(TENANT_PLACEHOLDER)
        .unwrap_or((&v.issuer, ""));
    let matches = iss
        .strip_prefix(before)
        .and_then(|rest| rest.strip_prefix(tid))
        .is_some_and(|rest| rest == after);
    if matches { Ok(()) } else { Err(other()) }
}

/// Checks already-parsed `exp` and `nbf` (a cached token's), with `leeway` seconds of skew.
pub(crate) fn check_times_parsed(
    exp: Option<u64>,
    nbf: Option<u64>,
    leeway: u64,
    now: u64,
) -> Result<(), AuthError> {
    if exp.is_some_and(|exp| now >= exp.saturating_add(leeway)) {
        return Err(AuthError::new(
            crate::AuthErrorKind::Expired,
            "the token has expired",
        ));
    }
    if nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
        return Err(AuthError::new(
            crate::AuthErrorKind::Expired,
            "the token is not valid yet",
        ));
    }
    Ok(())
}

/// Checks `exp` (and requires it when `require_exp`) and `nbf`, with `leeway` seconds of skew.
pub(crate) fn check_times(
    exp: Option<Date>,
    nbf: Option<Date>,
    require_exp: bool,
    leeway: u64,
    now: u64,
) -> Result<(), AuthError> {
    let exp = match exp {
        Some(Date::Seconds(exp)) => Some(exp),
        Some(Date::Invalid) => {
            return Err(AuthError::invalid_token("the token's exp is not a number"));
        }
        None if require_exp => return Err(AuthError::invalid_token("the token has no exp")),
        None => None,
    };
    let nbf = match nbf {
        Some(Date::Seconds(nbf)) => Some(nbf),
        Some(Date::Invalid) => {
            return Err(AuthError::invalid_token("the token's nbf is not a number"));
        }
        None => None,
    };
    check_times_parsed(exp, nbf, leeway, now)
}

/// Refuses a token longer than `max_len` bytes before anything else reads it.
pub(crate) fn check_token_len(token: &str, max_len: usize) -> Result<(), AuthError> {
    if token.len() > max_len {
        return Err(AuthError::invalid_token("the token is too large"));
    }
    Ok(())
}

/// Decodes base64url (no padding) into `buf`; `None` if malformed or too long for `buf`.
fn decode_into<'b>(input: &str, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let n = URL_SAFE_NO_PAD.decode_slice(input, buf).ok()?;
    buf.get(..n)
}

/// Reads the `iss` claim of a JWT without verifying it, to pick the verifier for that issuer,
/// and hands it to `choose`: `None` if the token is not a JWT with a string `iss`. The payload is
/// decoded on the stack when it fits in 1 KiB (else on the heap) and `iss` borrowed from it
/// unless it has escapes.
pub(crate) fn peek_issuer<T>(
    token: &str,
    max_len: usize,
    choose: impl FnOnce(Option<&str>) -> T,
) -> T {
    #[derive(Deserialize)]
    struct Iss<'a> {
        #[serde(borrow)]
        iss: Option<Cow<'a, str>>,
    }
    fn read(payload: &[u8]) -> Option<Iss<'_>> {
        serde_json::from_slice(payload).ok()
    }
    let Some(payload) = check_token_len(token, max_len)
        .ok()
        .and_then(|()| token.split('.').nth(1))
    else {
        return choose(None);
    };
    // Most payloads fit in 1 KiB; a larger buffer would cost more to zero than it saves.
    let mut on_stack = [0u8; 1024];
    if let Some(bytes) = decode_into(payload, &mut on_stack) {
        return choose(read(bytes).and_then(|iss| iss.iss).as_deref());
    }
    match URL_SAFE_NO_PAD.decode(payload) {
        Ok(bytes) => choose(read(&bytes).and_then(|iss| iss.iss).as_deref()),
        Err(_) => choose(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthErrorKind;
    use serde_json::{Value, json};

    fn validation() -> Validation {
        Validation::new("https://iss".into(), "api".into())
    }

    /// `check_claims` over the claims of a JSON object, read as a token's payload is.
    fn check_claims(claims: &Value, v: &Validation, now: u64) -> Result<(), AuthError> {
        let json = claims.to_string();
        let payload = Payload::read(&json, &v.roles)
            .ok_or(AuthError::invalid_token("the token payload is malformed"))?;
        super::check_claims(&payload, v, now)
    }

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn parse_err(token: &str) -> AuthErrorKind {
        match ParsedJwt::parse(token, &validation()) {
            Ok(_) => panic!("{token} parsed"),
            Err(e) => e.kind(),
        }
    }

    #[test]
    fn shape_is_checked_before_crypto() {
        let h = b64(&json!({"alg": "RS256"}));
        assert_eq!(parse_err("abc"), AuthErrorKind::InvalidToken);
        assert_eq!(parse_err(&format!("{h}.e30")), AuthErrorKind::InvalidToken);
        assert_eq!(parse_err(&format!("{h}.e30.")), AuthErrorKind::InvalidToken);
        assert_eq!(
            parse_err(&format!("{h}.a.b.c.d")),
            AuthErrorKind::InvalidToken
        );
        assert_eq!(
            parse_err(&format!("{h}.a.b.c")),
            AuthErrorKind::InvalidToken
        );
        assert_eq!(parse_err(&"a".repeat(9000)), AuthErrorKind::InvalidToken);
        assert!(ParsedJwt::parse(&format!("{h}.e30.c2ln"), &validation()).is_ok());
    }

    #[test]
    fn header_rules() {
        for header in [
            json!({"alg": "none"}),
            json!({"alg": "RS256", "crit": ["exp"]}),
            json!({"alg": "RS256", "crit": []}),
            json!({"alg": "RSA-OAEP", "enc": "A256GCM"}),
            json!({"alg": "RS256", "enc": "A256GCM"}),
            json!({"alg": 5}),
            json!({"kid": "x"}),
            json!(["RS256"]),
        ] {
            assert_eq!(
                parse_err(&format!("{}.e30.c2ln", b64(&header))),
                AuthErrorKind::InvalidToken,
                "{header}"
            );
        }
        let dup = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","alg":"none"}"#);
        assert_eq!(
            parse_err(&format!("{dup}.e30.c2ln")),
            AuthErrorKind::InvalidToken
        );
    }

    #[test]
    fn a_logout_token_is_never_an_access_token_nor_the_reverse() {
        let token = |typ: Option<&str>| {
            let mut header = json!({"alg": "RS256"});
            if let Some(typ) = typ {
                header["typ"] = json!(typ);
            }
            format!("{}.e30.c2ln", b64(&header))
        };
        let mut logout = validation();
        logout.purpose = Purpose::Logout;
        for typ in ["logout+jwt", "application/logout+jwt", "Logout+JWT"] {
            assert_eq!(
                parse_err(&token(Some(typ))),
                AuthErrorKind::InvalidToken,
                "{typ}"
            );
            assert!(
                ParsedJwt::parse(&token(Some(typ)), &logout).is_ok(),
                "{typ}"
            );
        }
        // Untyped and `JWT` logout tokens (providers before the type was registered) pass;
        // an access token's type does not.
        for typ in [None, Some("JWT")] {
            assert!(ParsedJwt::parse(&token(typ), &logout).is_ok(), "{typ:?}");
        }
        for typ in ["at+jwt", "id_token+jwt", "secevent+jwt"] {
            assert!(
                ParsedJwt::parse(&token(Some(typ)), &logout).is_err(),
                "{typ}"
            );
        }
        // A verifier told to want exactly that type (`with_typ("logout+jwt")`) takes it.
        let mut wanted = validation();
        wanted.typ = Some("logout+jwt".into());
        assert!(ParsedJwt::parse(&token(Some("logout+jwt")), &wanted).is_ok());
    }

    #[test]
    fn invalid_utf8_anywhere_in_the_header_is_refused() {
        // An unknown member whose value holds a byte that is not UTF-8 (serde_json alone skips it).
        let mut header = br#"{"alg":"RS256","x":""#.to_vec();
        header.extend_from_slice(&[0xff, 0xfe]);
        header.extend_from_slice(br#""}"#);
        assert!(serde_json::from_slice::<Header<'_>>(&header).is_ok());
        let token = format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(&header));
        assert_eq!(parse_err(&token), AuthErrorKind::InvalidToken);
    }

    #[test]
    fn ignored_headers_do_not_matter() {
        let header = json!({"alg": "ES256", "kid": "k", "jku": "https://evil", "x5u": "https://evil", "jwk": {"kty": "EC"}, "x5c": ["AAAA"]});
        let token = format!("{}.e30.c2ln", b64(&header));
        let parsed = ParsedJwt::parse(&token, &validation()).expect("parses");
        assert_eq!(parsed.kid(), Some("k"));
    }

    #[test]
    fn claims_rules() {
        let v = validation();
        let now = 1_000_000;
        let ok = json!({"iss": "https://iss", "aud": ["x", "api"], "exp": now + 10});
        assert!(check_claims(&ok, &v, now).is_ok());
        let cases = [
            (
                json!({"iss": "https://iss", "aud": "api"}),
                AuthErrorKind::InvalidToken,
            ),
            (
                json!({"iss": "https://iss", "aud": "api", "exp": "soon"}),
                AuthErrorKind::InvalidToken,
            ),
            (
                json!({"iss": "https://iss", "aud": "api", "exp": now - 61}),
                AuthErrorKind::Expired,
            ),
            (
                json!({"iss": "https://iss", "aud": "api", "exp": now + 9, "nbf": now + 61}),
                AuthErrorKind::Expired,
            ),
            (
                json!({"iss": "https://iss/", "aud": "api", "exp": now + 9}),
                AuthErrorKind::InvalidToken,
            ),
            (
                json!({"iss": "https://iss", "aud": "apix", "exp": now + 9}),
                AuthErrorKind::InvalidToken,
            ),
            (
                json!({"iss": "https://iss", "aud": [1], "exp": now + 9}),
                AuthErrorKind::InvalidToken,
            ),
            (
                json!({"iss": "https://iss", "exp": now + 9}),
                AuthErrorKind::InvalidToken,
            ),
        ];
        for (claims, kind) in cases {
            assert_eq!(
                check_claims(&claims, &v, now).map_err(|e| e.kind()),
                Err(kind),
                "{claims}"
            );
        }
        // Within the leeway.
        let skewed = json!({"iss": "https://iss", "aud": "api", "exp": now - 59, "nbf": now + 59});
        assert!(check_claims(&skewed, &v, now).is_ok());
    }

    #[test]
    fn tenant_templates() {
        let mut v = Validation::new("https://login.example/{tenantid}/v2.0".into(), "api".into());
        // Without a stated tenant policy the template is an ordinary (unmatchable) issuer.
        assert!(
            check_claims(
                &json!({"iss": "https://login.example/t1/v2.0", "tid": "t1", "aud": "api", "exp": 2_000_000}),
                &v,
                1
            )
            .is_err()
        );
        v.tenants = Some(Tenants::any_tenant());
        let claims =
            |iss: &str, tid: &str| json!({"iss": iss, "tid": tid, "aud": "api", "exp": 2_000_000});
        assert!(check_claims(&claims("https://login.example/t1/v2.0", "t1"), &v, 1).is_ok());
        for (iss, tid) in [
            ("https://login.example/t2/v2.0", "t1"),
            ("https://login.example/t1/v2.0", ""),
            ("https://login.example/{tenantid}/v2.0", "{tenantid}"),
            ("https://login.example/a/b/v2.0", "a/b"),
            ("https://login.example/t1/v2.0x", "t1"),
        ] {
            assert!(
                check_claims(&claims(iss, tid), &v, 1).is_err(),
                "{iss} {tid}"
            );
        }
        v.tenants = Some(Tenants::only(["t2"]));
        assert!(check_claims(&claims("https://login.example/t1/v2.0", "t1"), &v, 1).is_err());
        assert!(check_claims(&claims("https://login.example/t2/v2.0", "t2"), &v, 1).is_ok());
    }

    #[test]
    fn an_owned_jwt_gives_back_the_same_parsed_view() {
        let header = b64(&json!({"alg": "HS256", "kid": "k1", "typ": "at+jwt"}));
        let payload = b64(&json!({"iss": "https://iss"}));
        let token = format!("{header}.{payload}.c2lnbmF0dXJl");
        // Without a required type, `typ` is not even kept.
        let untyped = ParsedJwt::parse(&token, &validation()).expect("parses");
        assert_eq!(untyped.typ, None);
        let mut typed = validation();
        typed.typ = Some("at+jwt".into());
        let parsed = ParsedJwt::parse(&token, &typed).expect("parses");
        let owned = parsed.to_owned_jwt();
        let again = owned.parsed();
        assert_eq!(again.alg, parsed.alg);
        assert_eq!(
            (again.kid(), again.typ.as_deref()),
            (Some("k1"), Some("at+jwt"))
        );
        assert_eq!(again.signing_input, format!("{header}.{payload}"));
        assert_eq!(again.payload, payload);
        assert_eq!(again.signature, "c2lnbmF0dXJl");
    }

    #[test]
    fn peek_issuer_reads_only_iss() {
        let token = format!("e30.{}.sig", b64(&json!({"iss": "https://a"})));
        let owned = |iss: Option<&str>| iss.map(str::to_owned);
        assert_eq!(
            peek_issuer(&token, 8192, owned).as_deref(),
            Some("https://a")
        );
        // JSON text with escapes: `iss` is unescaped into its own string.
        let escaped = URL_SAFE_NO_PAD.encode(r#"{"iss":"https:\/\/a"}"#);
        let escaped = format!("e30.{escaped}.sig");
        assert_eq!(
            peek_issuer(&escaped, 8192, owned).as_deref(),
            Some("https://a")
        );
        let large = format!(
            "e30.{}.sig",
            b64(&json!({"iss": "https://a", "pad": "x".repeat(9000)}))
        );
        assert_eq!(
            peek_issuer(&large, 8192, owned),
            None,
            "over the size limit"
        );
        assert_eq!(
            peek_issuer(&large, 32 * 1024, owned).as_deref(),
            Some("https://a")
        );
        assert_eq!(peek_issuer("opaque-token", 8192, owned), None);
    }

    // Property tests: any token gives claims or a typed error, never a panic; and what is
    // accepted is exactly what the rules accept.
    mod properties {
        use super::*;
        use crate::test_support::{json_with_names, member_name};
        use crate::{JwtVerifier, Verifier};
        use aws_lc_rs::hmac;
        use proptest::prelude::*;
        use proptest::sample::select;

        /// 64 bytes: enough for HS256, HS384 and HS512.
        const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        const KNOWN_ALGS: &[&str] = &[
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
            "Ed25519", "HS256", "HS384", "HS512",
        ];
        const ODD_ALGS: &[&str] = &[
            "none", "None", "NONE", "nOnE", " none", "none ", "hs256", "HS256 ", "RSA-OAEP", "dir",
            "ES512", "",
        ];
        const HEADER_KEYS: &[&str] = &[
            "alg", "kid", "typ", "crit", "enc", "jku", "x5u", "jwk", "x5c", "cty", "b64", "zip",
        ];
        const CLAIM_KEYS: &[&str] = &[
            "iss", "aud", "exp", "nbf", "iat", "sub", "tid", "scope", "scp", "roles",
        ];

        /// `none` in any case, with whitespace (or a NUL) around it.
        fn none_alg() -> impl Strategy<Value = String> {
            let space = "[ \t\r\n\u{0}\u{a0}]{0,2}";
            (space, prop::collection::vec(any::<bool>(), 4), space).prop_map(
                |(pre, upper, post)| {
                    let core: String = "none"
                        .chars()
                        .zip(upper)
                        .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                        .collect();
                    format!("{pre}{core}{post}")
                },
            )
        }

        fn alg() -> impl Strategy<Value = Value> {
            prop_oneof![
                4 => select(KNOWN_ALGS).prop_map(Value::from),
                2 => select(ODD_ALGS).prop_map(Value::from),
                1 => none_alg().prop_map(Value::from),
                1 => json_with_names(KNOWN_ALGS),
            ]
        }

        /// A JOSE header: mostly an object with the fields we read, of any type, among others.
        fn header() -> impl Strategy<Value = Value> {
            let object = (
                prop::collection::vec(
                    (member_name(HEADER_KEYS), json_with_names(HEADER_KEYS)),
                    0..3,
                ),
                prop::option::weighted(0.9, alg()),
                prop::option::of(prop_oneof![
                    ".{0,8}".prop_map(Value::from),
                    json_with_names(HEADER_KEYS)
                ]),
                prop::option::of(prop_oneof![
                    select(&["JWT", "at+jwt", "application/at+jwt"][..]).prop_map(Value::from),
                    json_with_names(HEADER_KEYS)
                ]),
                prop::option::weighted(0.1, json_with_names(HEADER_KEYS)),
                prop::option::weighted(0.1, json_with_names(HEADER_KEYS)),
            )
                .prop_map(|(extra, alg, kid, typ, crit, enc)| {
                    let mut map: serde_json::Map<String, Value> = extra.into_iter().collect();
                    for (name, value) in [
                        ("alg", alg),
                        ("kid", kid),
                        ("typ", typ),
                        ("crit", crit),
                        ("enc", enc),
                    ] {
                        if let Some(value) = value {
                            map.insert(name.into(), value);
                        }
                    }
                    Value::Object(map)
                });
            prop_oneof![9 => object, 1 => json_with_names(HEADER_KEYS)]
        }

        /// A time relative to `base`, never within 5 s of the 60 s leeway's edges.
        fn offset() -> impl Strategy<Value = i64> {
            prop_oneof![-200_000i64..-65, -55i64..55, 65i64..200_000]
        }

        /// Claims: mostly an object with `iss`, `aud`, `exp`, `nbf` of the right or wrong kind.
        /// Times are offsets from `now`.
        fn claims(now: u64) -> impl Strategy<Value = Value> {
            let time = move || {
                prop_oneof![
                    4 => offset().prop_map(move |d| Value::from(now as i64 + d)),
                    1 => offset().prop_map(move |d| Value::from(now as f64 + d as f64 + 0.5)),
                    1 => json_with_names(CLAIM_KEYS),
                ]
            };
            let object = (
                prop::collection::vec((member_name(CLAIM_KEYS), json_with_names(CLAIM_KEYS)), 0..3),
                prop::option::weighted(0.9, prop_oneof![
                    4 => select(&["https://iss", "https://iss/", "https://other", ""][..]).prop_map(Value::from),
                    1 => json_with_names(CLAIM_KEYS),
                ]),
                prop::option::weighted(0.9, prop_oneof![
                    2 => select(&["api", "apix", "other"][..]).prop_map(Value::from),
                    2 => prop::collection::vec(prop_oneof![select(&["api", "other"][..]).prop_map(Value::from), json_with_names(CLAIM_KEYS)], 0..3).prop_map(Value::Array),
                    1 => json_with_names(CLAIM_KEYS),
                ]),
                prop::option::weighted(0.9, time()),
                prop::option::weighted(0.3, time()),
            )
                .prop_map(|(extra, iss, aud, exp, nbf)| {
                    let mut map: serde_json::Map<String, Value> = extra.into_iter().collect();
                    for (name, value) in [("iss", iss), ("aud", aud), ("exp", exp), ("nbf", nbf)] {
                        if let Some(value) = value {
                            map.insert(name.into(), value);
                        }
                    }
                    Value::Object(map)
                });
            prop_oneof![9 => object, 1 => json_with_names(CLAIM_KEYS)]
        }

        /// An HS* header with other fields of any type: mostly accepted.
        fn good_header() -> impl Strategy<Value = Value> {
            (
                select(&["HS256", "HS384", "HS512"][..]),
                prop::collection::vec(
                    (member_name(HEADER_KEYS), json_with_names(HEADER_KEYS)),
                    0..3,
                ),
            )
                .prop_map(|(alg, extra)| {
                    let mut map: serde_json::Map<String, Value> = extra.into_iter().collect();
                    map.insert("alg".into(), Value::from(alg));
                    Value::Object(map)
                })
        }

        /// Right `iss`, `aud` and times, with other claims of any type.
        fn good_claims(now: u64) -> impl Strategy<Value = Value> {
            (
                prop::collection::vec((member_name(CLAIM_KEYS), json_with_names(CLAIM_KEYS)), 0..4),
                60i64..100_000,
            )
                .prop_map(move |(extra, ttl)| {
                    let mut map: serde_json::Map<String, Value> = extra.into_iter().collect();
                    map.insert("iss".into(), Value::from("https://iss"));
                    map.insert("aud".into(), serde_json::json!(["other", "api"]));
                    map.insert("exp".into(), Value::from(now as i64 + ttl));
                    map.remove("nbf");
                    Value::Object(map)
                })
        }

        fn hmac_alg(alg: &Value) -> Option<hmac::Algorithm> {
            match alg.as_str()? {
                "HS256" => Some(hmac::HMAC_SHA256),
                "HS384" => Some(hmac::HMAC_SHA384),
                "HS512" => Some(hmac::HMAC_SHA512),
                _ => None,
            }
        }

        /// `header.payload.signature`; the signature is HMAC (with the header's HS* algorithm,
        /// else HS256) when `signature` is `None`.
        fn token(header: &[u8], payload: &[u8], signature: Option<&[u8]>) -> String {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(payload)
            );
            let alg = serde_json::from_slice::<Value>(header)
                .ok()
                .and_then(|h| h.get("alg").and_then(hmac_alg))
                .unwrap_or(hmac::HMAC_SHA256);
            let signature = match signature {
                Some(s) => s.to_vec(),
                None => hmac::sign(&hmac::Key::new(alg, SECRET), input.as_bytes())
                    .as_ref()
                    .to_vec(),
            };
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
        }

        fn verifier() -> JwtVerifier {
            JwtVerifier::new("https://iss", "api")
                .with_hmac_secret(SECRET)
                .expect("64-byte secret")
                .without_verified_cache()
        }

        /// The answer of [`verifier`] (fixed keys: always at once).
        fn verify(token: &str) -> Result<Claims, AuthError> {
            verifier()
                .verify(token)
                .into_ready()
                .unwrap_or_else(|| Err(AuthError::upstream("fixed keys never wait")))
        }

        fn date(value: &Value) -> Option<u64> {
            let n = value.as_number()?;
            n.as_u64().or_else(|| {
                let f = n.as_f64()?;
                (f >= 0.0 && f.is_finite()).then_some(f as u64)
            })
        }

        /// What the header rules accept, for an HMAC-only key set.
        fn header_ok(header: &Value) -> bool {
            let Some(map) = header.as_object() else {
                return false;
            };
            let absent_or = |name: &str, ok: fn(&Value) -> bool| {
                map.get(name).is_none_or(|v| v.is_null() || ok(v))
            };
            hmac_alg(map.get("alg").unwrap_or(&Value::Null)).is_some()
                && absent_or("kid", Value::is_string)
                && absent_or("typ", Value::is_string)
                && absent_or("crit", |_| false)
                && absent_or("enc", |_| false)
        }

        /// What the claim rules accept at `now` (issuer `https://iss`, audience `api`).
        fn claims_ok(claims: &Value, now: u64) -> bool {
            let Some(map) = claims.as_object() else {
                return false;
            };
            let exp = map
                .get("exp")
                .and_then(date)
                .is_some_and(|exp| now < exp.saturating_add(60));
            let nbf = map
                .get("nbf")
                .is_none_or(|nbf| date(nbf).is_some_and(|nbf| now + 60 >= nbf));
            let iss = map.get("iss") == Some(&Value::from("https://iss"));
            let aud = match map.get("aud") {
                Some(Value::String(aud)) => aud == "api",
                Some(Value::Array(auds)) => auds.iter().any(|a| a == "api"),
                _ => false,
            };
            exp && nbf && iss && aud
        }

        fn typed(error: &AuthError) -> bool {
            matches!(
                error.kind(),
                AuthErrorKind::InvalidToken | AuthErrorKind::Expired
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_string_gives_ok_or_a_typed_error(token in ".{0,200}") {
                if let Err(e) = ParsedJwt::parse(&token, &validation()) {
                    prop_assert_eq!(e.kind(), AuthErrorKind::InvalidToken);
                }
                if let Err(e) = verify(&token) {
                    prop_assert!(typed(&e), "{e:?}");
                }
                peek_issuer(&token, DEFAULT_MAX_TOKEN_LEN, |_| ());
            }

            #[test]
            fn any_three_base64url_parts_give_ok_or_a_typed_error(
                parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 3..=5),
            ) {
                let token = parts.iter().map(|p| URL_SAFE_NO_PAD.encode(p)).collect::<Vec<_>>().join(".");
                match verify(&token) {
                    Ok(_) => prop_assert!(false, "random bytes verified: {token}"),
                    Err(e) => prop_assert!(typed(&e), "{e:?}"),
                }
            }

            #[test]
            fn accepted_exactly_when_header_signature_and_claims_are_right(
                header in prop_oneof![1 => header(), 1 => good_header()],
                claims in prop_oneof![1 => claims(now()), 1 => good_claims(now())],
                forged in prop::option::weighted(0.2, prop::collection::vec(any::<u8>(), 1..80)),
            ) {
                let header_bytes = serde_json::to_vec(&header).expect("json");
                let payload = serde_json::to_vec(&claims).expect("json");
                let token = token(&header_bytes, &payload, forged.as_deref());
                let result = verify(&token);
                if let Err(e) = &result {
                    prop_assert!(typed(e), "{e:?}");
                }
                let expected = header_ok(&header)
                    && header_bytes.len() <= 1024
                    && token.len() <= DEFAULT_MAX_TOKEN_LEN
                    && forged.is_none()
                    && claims_ok(&claims, now());
                prop_assert_eq!(result.is_ok(), expected, "{} {} {:?}", header, claims, result.err());
            }

            #[test]
            fn alg_none_in_any_spelling_is_never_accepted(
                alg in none_alg(),
                claims in claims(now()),
                signature in prop::option::of(prop::collection::vec(any::<u8>(), 1..64)),
            ) {
                let header = serde_json::json!({"alg": alg, "typ": "JWT"});
                let header_bytes = serde_json::to_vec(&header).expect("json");
                let payload = serde_json::to_vec(&claims).expect("json");
                let token = token(&header_bytes, &payload, signature.as_deref());
                prop_assert!(ParsedJwt::parse(&token, &validation()).is_err());
                prop_assert!(verify(&token).is_err());
                // And with an empty signature, the usual shape of an unsecured JWT.
                let unsigned = format!("{}.", &token[..token.rfind('.').expect("dot")]);
                prop_assert!(verify(&unsigned).is_err());
            }

            #[test]
            fn a_changed_token_is_never_accepted(
                edits in prop::collection::vec(
                    (any::<prop::sample::Index>(), 0u8..3, select(&b"AZaz09-_.=+/ "[..])),
                    1..4,
                ),
            ) {
                let now = now();
                let claims = serde_json::json!({"iss": "https://iss", "aud": "api", "exp": now + 3600, "sub": "alice"});
                let original = token(br#"{"alg":"HS256","typ":"JWT"}"#, claims.to_string().as_bytes(), None);
                prop_assert!(verify(&original).is_ok());
                let mut bytes = original.clone().into_bytes();
                for (at, op, byte) in edits {
                    match op {
                        0 if !bytes.is_empty() => { let i = at.index(bytes.len()); bytes[i] = byte; }
                        1 => { let i = at.index(bytes.len() + 1); bytes.insert(i, byte); }
                        _ if !bytes.is_empty() => { let i = at.index(bytes.len()); bytes.remove(i); }
                        _ => {}
                    }
                }
                let changed = String::from_utf8(bytes).expect("ascii");
                match verify(&changed) {
                    Ok(_) => prop_assert_eq!(&changed, &original),
                    Err(e) => prop_assert!(typed(&e), "{e:?}"),
                }
            }

            #[test]
            fn claim_rules_at_a_fixed_time(
                claims in prop_oneof![claims(1_000_000), good_claims(1_000_000)],
                near in prop::option::of((-70i64..70, -70i64..70)),
            ) {
                let now = 1_000_000u64;
                let mut claims = claims;
                // Exactly around the leeway's edges too.
                if let (Some((exp, nbf)), Some(map)) = (near, claims.as_object_mut()) {
                    map.insert("exp".into(), Value::from(now as i64 + exp));
                    map.insert("nbf".into(), Value::from(now as i64 + nbf));
                }
                let result = check_claims(&claims, &validation(), now);
                if let Err(e) = &result {
                    prop_assert!(typed(e), "{e:?}");
                }
                prop_assert_eq!(result.is_ok(), claims_ok(&claims, now), "{}", claims);
            }
        }
    }
}
