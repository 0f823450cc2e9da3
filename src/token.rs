//! Where the token is found in a request: the `Authorization: Bearer` header, a cookie, or a
//! source of your own.

use std::fmt;
use std::sync::Arc;

use http::header::{AUTHORIZATION, COOKIE};
use http::request::Parts;

use crate::error::AuthError;

/// Finds the access token in a request.
///
/// Return `Ok(None)` when this source has no token (the next source is tried), `Ok(Some(token))`
/// when it found one, and `Err` when the request is malformed (e.g. two `Authorization`
/// headers).
pub trait ExtractToken: Send + Sync + 'static {
    /// Finds the token in the request head.
    fn extract<'a>(&self, request: &'a Parts) -> Result<Option<&'a str>, AuthError>;
}

impl<F> ExtractToken for F
where
    F: for<'a> Fn(&'a Parts) -> Result<Option<&'a str>, AuthError> + Send + Sync + 'static,
{
    fn extract<'a>(&self, request: &'a Parts) -> Result<Option<&'a str>, AuthError> {
        self(request)
    }
}

/// One place to look for the token. [`AuthLayer`](crate::AuthLayer) tries its sources in order
/// and uses the first that has a token.
#[derive(Clone)]
pub struct TokenSource(Source);

#[derive(Clone)]
enum Source {
    Bearer,
    Cookie(Arc<str>),
    Custom(Arc<dyn ExtractToken>),
}

impl TokenSource {
    /// The `Authorization: Bearer <token>` header (RFC 6750 §2.1).
    ///
    /// The scheme is matched case-insensitively and the token must be RFC 6750 `b64token`
    /// syntax. Another scheme (such as `Basic`) counts as no token.
    ///
    /// - A `Bearer` header whose token is empty or malformed (a space or a `!` inside, a JWS in
    ///   JSON serialization, `=` anywhere but at the end) is an
    ///   [`InvalidToken`](crate::AuthErrorKind::InvalidToken): 401 `invalid_token`, as RFC 6750
    ///   §3.1 gives it to a "malformed" token and as Spring Security's
    ///   `DefaultBearerTokenResolver` and ASP.NET's JwtBearer answer. Clients refresh their token
    ///   on a 401 and give up on a 400, so this matters.
    /// - More than one `Authorization` header is a malformed *request*: an
    ///   [`InvalidRequest`](crate::AuthErrorKind::InvalidRequest), 400 `invalid_request`.
    pub fn bearer() -> Self {
        Self(Source::Bearer)
    }

    /// The cookie named `name`, e.g. FusionAuth's `app.at`.
    ///
    /// Two cookies of that name in one request (for example one set by a sibling subdomain, a
    /// cookie-tossing attack) are refused as an
    /// [`InvalidToken`](crate::AuthErrorKind::InvalidToken) (401) rather than taking either.
    ///
    /// **CSRF.** A browser sends cookies with requests that other sites make it send, so a cookie
    /// token authenticates requests its user never meant. Defend against it as for any cookie
    /// session: set the cookie `HttpOnly`, `Secure` and `SameSite=Lax` (or `Strict`), and refuse
    /// unsafe methods (`POST`, `PUT`, `PATCH`, `DELETE`) whose `Origin` header is present and not
    /// your own origin; the `fusionauth_api` example does both. A `Bearer` header needs none of
    /// this: a browser never adds it by itself.
    pub fn cookie(name: impl Into<Arc<str>>) -> Self {
        Self(Source::Cookie(name.into()))
    }

    /// A source of your own.
    ///
    /// ```
    /// use http::request::Parts;
    /// use tower_authz::{AuthError, TokenSource};
    ///
    /// /// A token in an `X-Api-Token` header.
    /// fn api_token(parts: &Parts) -> Result<Option<&str>, AuthError> {
    ///     Ok(parts.headers.get("x-api-token").and_then(|v| v.to_str().ok()))
    /// }
    ///
    /// let source = TokenSource::custom(api_token);
    /// ```
    pub fn custom(extract: impl ExtractToken) -> Self {
        Self(Source::Custom(Arc::new(extract)))
    }

    /// The token of this source, refused as too large when longer than `max_len` bytes: the
    /// bearer header is measured before its syntax is scanned, so that an oversized header
    /// costs no more than a small one.
    pub(crate) fn extract<'a>(
        &self,
        request: &'a Parts,
        max_len: usize,
    ) -> Result<Option<&'a str>, AuthError> {
        let token = match &self.0 {
            Source::Bearer => return bearer(request, max_len),
            Source::Cookie(name) => cookie(request, name)?,
            Source::Custom(extract) => extract.extract(request)?,
        };
        match token {
            Some(token) if token.len() > max_len => Err(too_large()),
            token => Ok(token),
        }
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::Bearer => f.write_str("Bearer"),
            Source::Cookie(name) => write!(f, "Cookie({name:?})"),
            Source::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// The refusal of a token over the layer's size cap: the verifiers' own, word for word.
fn too_large() -> AuthError {
    AuthError::invalid_token("the token is too large")
}

fn bearer(request: &Parts, max_len: usize) -> Result<Option<&str>, AuthError> {
    match authorization(request)? {
        Some(value) => parse_bearer(value, max_len),
        None => Ok(None),
    }
}

/// The request's one `Authorization` header; more than one is a malformed request.
pub(crate) fn authorization(request: &Parts) -> Result<Option<&[u8]>, AuthError> {
    let mut values = request.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::invalid_request(
            "more than one Authorization header",
        ));
    }
    Ok(Some(value.as_bytes()))
}

/// An `Authorization` scheme whose credentials are a token, and the refusals of a bad one.
pub(crate) struct TokenScheme {
    /// The scheme's name in lower case.
    name: &'static [u8],
    empty: &'static str,
    malformed: &'static str,
}

/// `Bearer` (RFC 6750 §2.1).
pub(crate) const BEARER: TokenScheme = TokenScheme {
    name: b"bearer",
    empty: "the bearer token is empty",
    malformed: "the bearer token is malformed",
};

/// `DPoP` (RFC 9449 §7.1), whose token has the same `token68` syntax.
pub(crate) const DPOP: TokenScheme = TokenScheme {
    name: b"dpop",
    empty: "the DPoP access token is empty",
    malformed: "the DPoP access token is malformed",
};

/// Parses an `Authorization` header value: `Ok(None)` for another scheme, the token for
/// `Bearer <b64token>`, an error for a `Bearer` header whose token is malformed or longer than
/// `max_len` bytes (measured before the syntax is scanned).
pub(crate) fn parse_bearer(value: &[u8], max_len: usize) -> Result<Option<&str>, AuthError> {
    parse_token(value, &BEARER, max_len)
}

/// Parses an `Authorization` header value of `scheme` as [`parse_bearer`] does `Bearer`.
pub(crate) fn parse_token<'a>(
    value: &'a [u8],
    scheme: &TokenScheme,
    max_len: usize,
) -> Result<Option<&'a str>, AuthError> {
    let Some(name) = value.get(..scheme.name.len()) else {
        return Ok(None);
    };
    if !name.eq_ignore_ascii_case(scheme.name) {
        return Ok(None);
    }
    let rest = &value[scheme.name.len()..];
    match rest.first() {
        // "Bearer" alone: the scheme with no credentials.
        None => return Err(AuthError::invalid_token(scheme.empty)),
        Some(b' ') => {}
        // "Bearerx...": another scheme that happens to start with "bearer".
        Some(_) => return Ok(None),
    }
    let token = trim_spaces(rest);
    if token.is_empty() {
        return Err(AuthError::invalid_token(scheme.empty));
    }
    if token.len() > max_len {
        return Err(too_large());
    }
    // A malformed token is `invalid_token` (RFC 6750 §3.1), not a malformed request.
    if !is_b64token(token) {
        return Err(AuthError::invalid_token(scheme.malformed));
    }
    // b64token is ASCII, so this cannot fail; map rather than unwrap all the same.
    std::str::from_utf8(token)
        .map(Some)
        .map_err(|_| AuthError::invalid_token(scheme.malformed))
}

fn trim_spaces(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != b' ').unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| *b != b' ')
        .map_or(start, |i| i + 1);
    &bytes[start..end.max(start)]
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
///
/// Every request pays this over the whole token, so it is one branch-free pass that the
/// compiler vectorises, rather than an early-exit search (callgrind: 2.1 instructions a byte,
/// against 2.7 in 64-byte chunks).
fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|b| **b == b'=').count();
    let mut bad = 0u8;
    for &b in &token[..body_len] {
        bad |= u8::from(!is_b64token_char(b));
    }
    body_len > 0 && bad == 0
}

#[inline(always)]
fn is_b64token_char(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter
        | digit
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// The value of the cookie `name`; an error if the request carries two cookies of that name.
fn cookie<'a>(request: &'a Parts, name: &str) -> Result<Option<&'a str>, AuthError> {
    // HTTP/2 may split cookies over several headers; look through all of them.
    let mut found = request
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name_raw() == Some(name))
        .filter_map(|c| c.value_raw());
    let Some(value) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(AuthError::invalid_token(
            "the request carries more than one token cookie",
        ));
    }
    Ok(Some(value).filter(|value| !value.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthErrorKind;
    use crate::test_support::parts;

    fn bearer_of(headers: &[(&str, &str)]) -> Result<Option<String>, AuthErrorKind> {
        let parts = parts(headers);
        TokenSource::bearer()
            .extract(&parts, usize::MAX)
            .map(|t| t.map(str::to_owned))
            .map_err(|e| e.kind())
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(
            bearer_of(&[("authorization", "bEaReR abc.def-_~+/==")]),
            Ok(Some("abc.def-_~+/==".into()))
        );
        assert_eq!(
            bearer_of(&[("authorization", "Bearer   padded  ")]),
            Ok(Some("padded".into()))
        );
    }

    #[test]
    fn other_schemes_are_no_token() {
        assert_eq!(bearer_of(&[("authorization", "Basic dXNlcg==")]), Ok(None));
        assert_eq!(bearer_of(&[("authorization", "Bearerish x")]), Ok(None));
        assert_eq!(bearer_of(&[]), Ok(None));
    }

    #[test]
    fn malformed_bearer_is_an_invalid_token() {
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a=b",
            "Bearer ===",
            "Bearer ä",
        ] {
            assert_eq!(
                bearer_of(&[("authorization", value)]),
                Err(AuthErrorKind::InvalidToken),
                "{value}"
            );
        }
    }

    #[test]
    fn two_authorization_headers_are_a_bad_request() {
        assert_eq!(
            bearer_of(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]),
            Err(AuthErrorKind::InvalidRequest)
        );
    }

    #[test]
    fn cookie_is_found_among_others_and_across_headers() {
        let p = parts(&[("cookie", "a=1; b=2"), ("cookie", "app.idt=x; app.at=tok")]);
        assert_eq!(
            TokenSource::cookie("app.at")
                .extract(&p, usize::MAX)
                .ok()
                .flatten(),
            Some("tok")
        );
        assert_eq!(
            TokenSource::cookie("missing")
                .extract(&p, usize::MAX)
                .ok()
                .flatten(),
            None
        );
        let empty = parts(&[("cookie", "app.at=")]);
        assert_eq!(
            TokenSource::cookie("app.at")
                .extract(&empty, usize::MAX)
                .ok()
                .flatten(),
            None
        );
    }

    #[test]
    fn two_cookies_of_the_token_name_are_refused() {
        for headers in [
            &[("cookie", "app.at=one; app.at=two")][..],
            &[("cookie", "app.at=one"), ("cookie", "x=1; app.at=two")][..],
            &[("cookie", "app.at=; app.at=two")][..],
        ] {
            assert_eq!(
                TokenSource::cookie("app.at")
                    .extract(&parts(headers), usize::MAX)
                    .map_err(|e| e.kind()),
                Err(AuthErrorKind::InvalidToken),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn the_branch_free_b64token_check_matches_the_grammar_for_every_byte() {
        for b in 0..=u8::MAX {
            let grammar =
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
            assert_eq!(is_b64token_char(b), grammar, "byte {b:#04x}");
            // In a long token too (the vectorised chunks), at the start, middle and end (where
            // `=` is padding).
            for at in [0, 70, 199] {
                let mut token = vec![b'a'; 200];
                token[at] = b;
                let padding = at == 199 && b == b'=';
                assert_eq!(
                    is_b64token(&token),
                    grammar || padding,
                    "byte {b:#04x} at {at}"
                );
            }
        }
    }

    // Property tests: any header value gives `Ok` or a typed error, never a panic.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        const B64TOKEN: &str = "[A-Za-z0-9._~+/-]{1,40}={0,3}";

        /// The b64token alphabet with its `=` padding (the model the properties check against).
        fn in_b64token_alphabet(b: u8) -> bool {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
        }

        /// `bearer` in random case.
        fn scheme() -> impl Strategy<Value = String> {
            prop::collection::vec(any::<bool>(), 6).prop_map(|upper| {
                "bearer"
                    .chars()
                    .zip(upper)
                    .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                    .collect()
            })
        }

        fn cookie_parts(value: &[u8]) -> Option<Parts> {
            let value = http::HeaderValue::from_bytes(value).ok()?;
            let mut parts = http::Request::new(()).into_parts().0;
            parts.headers.insert(COOKIE, value);
            Some(parts)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_bytes_give_ok_or_invalid_request(value in prop::collection::vec(any::<u8>(), 0..64)) {
                match parse_bearer(&value, usize::MAX) {
                    Ok(None) => {}
                    Ok(Some(token)) => {
                        // Only b64token, never empty, `=` only at the end, and taken from the value.
                        prop_assert!(!token.is_empty());
                        prop_assert!(token.bytes().all(in_b64token_alphabet), "{token:?}");
                        let body = token.trim_end_matches('=');
                        prop_assert!(!body.is_empty() && !body.contains('='), "{token:?}");
                        prop_assert!(value.len() > 7 && value[..6].eq_ignore_ascii_case(b"bearer"));
                        prop_assert!(value.windows(token.len()).any(|w| w == token.as_bytes()));
                    }
                    Err(e) => prop_assert_eq!(e.kind(), AuthErrorKind::InvalidToken),
                }
            }

            #[test]
            fn bearer_prefixed_bytes(
                scheme in scheme(),
                rest in prop::collection::vec(
                    prop_oneof![Just(b' '), Just(b'='), Just(b'\t'), 0x20u8..0x7f, any::<u8>()],
                    0..40,
                ),
            ) {
                let mut value = scheme.into_bytes();
                value.extend_from_slice(&rest);
                match parse_bearer(&value, usize::MAX) {
                    Ok(Some(token)) => {
                        prop_assert!(token.bytes().all(in_b64token_alphabet), "{token:?}");
                        prop_assert_eq!(rest.first(), Some(&b' '));
                    }
                    // Another scheme that starts with "bearer".
                    Ok(None) => prop_assert!(rest.first().is_some_and(|b| *b != b' ')),
                    Err(e) => prop_assert_eq!(e.kind(), AuthErrorKind::InvalidToken),
                }
            }

            #[test]
            fn well_formed_bearer_is_found(
                scheme in scheme(),
                before in 1usize..4,
                after in 0usize..4,
                token in B64TOKEN,
            ) {
                let value = format!("{scheme}{}{token}{}", " ".repeat(before), " ".repeat(after));
                prop_assert_eq!(parse_bearer(value.as_bytes(), usize::MAX).ok().flatten(), Some(token.as_str()));
            }

            #[test]
            fn a_bad_character_in_the_token_is_an_invalid_token(
                token in B64TOKEN,
                at in any::<prop::sample::Index>(),
                bad in any::<u8>().prop_filter("not b64token", |b| !in_b64token_alphabet(*b) && *b != b' '),
            ) {
                let mut bytes = token.into_bytes();
                let at = at.index(bytes.len() + 1);
                bytes.insert(at, bad);
                let mut value = b"Bearer ".to_vec();
                value.extend_from_slice(&bytes);
                prop_assert_eq!(
                    parse_bearer(&value, usize::MAX).map_err(|e| e.kind()).err(),
                    Some(AuthErrorKind::InvalidToken)
                );
            }

            #[test]
            fn any_cookie_header_gives_a_value_or_none(value in prop::collection::vec(any::<u8>(), 0..80)) {
                if let Some(parts) = cookie_parts(&value) {
                    let found = TokenSource::cookie("app.at").extract(&parts, usize::MAX);
                    match found {
                        Ok(Some(token)) => {
                            prop_assert!(!token.is_empty());
                            prop_assert!(value.windows(token.len()).any(|w| w == token.as_bytes()));
                        }
                        Ok(None) => {}
                        // Two cookies of the token's name.
                        Err(e) => prop_assert_eq!(e.kind(), AuthErrorKind::InvalidToken),
                    }
                }
            }

            #[test]
            fn the_named_cookie_is_found_among_others(
                others in prop::collection::vec(("[a-z]{1,8}", "[A-Za-z0-9._~+/=-]{0,12}"), 0..5),
                at in any::<prop::sample::Index>(),
                token in "[A-Za-z0-9._~+/=-]{1,40}",
                spaces in "[ ]{0,2}",
            ) {
                let mut pairs: Vec<String> =
                    others.iter().map(|(n, v)| format!("{n}={v}")).collect();
                pairs.insert(at.index(pairs.len() + 1), format!("app.at={token}"));
                let header = pairs.join(&format!(";{spaces}"));
                let parts = cookie_parts(header.as_bytes()).expect("valid header");
                prop_assert_eq!(
                    TokenSource::cookie("app.at").extract(&parts, usize::MAX).ok().flatten(),
                    Some(token.as_str()),
                    "{}", header
                );
            }
        }
    }
}
