//! The hosted backend's cookies: `app.at`, `app.at_exp`, `app.idt`, `app.rt`.

use cookie::time::Duration;
use cookie::{Cookie, SameSite};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};

/// The access token (HttpOnly).
pub(super) const ACCESS_TOKEN: &str = "app.at";
/// The access token's expiry, Unix seconds (readable by scripts).
pub(super) const ACCESS_TOKEN_EXPIRY: &str = "app.at_exp";
/// The ID token (readable by scripts), with scope `openid`.
pub(super) const ID_TOKEN: &str = "app.idt";
/// The refresh token (HttpOnly), with scope `offline_access`.
pub(super) const REFRESH_TOKEN: &str = "app.rt";

/// Every cookie the hosted backend sets, and whether it is HttpOnly.
const ALL: [(&str, bool); 4] = [
    (ACCESS_TOKEN, true),
    (ACCESS_TOKEN_EXPIRY, false),
    (ID_TOKEN, false),
    (REFRESH_TOKEN, true),
];

/// How the cookies are set: `Secure` only when the issuer is on https.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cookies {
    pub(super) secure: bool,
}

impl Cookies {
    /// Appends `Set-Cookie: name=value; HttpOnly?; SameSite=Lax; Secure?;
    /// Path=/; Max-Age=max_age` (no `Domain`: a host-only cookie).
    pub(super) fn set(
        &self,
        headers: &mut HeaderMap,
        name: &'static str,
        value: String,
        max_age: u64,
    ) {
        let max_age = Duration::seconds(i64::try_from(max_age).unwrap_or(i64::MAX));
        let cookie = self.build(name, value).max_age(max_age).build();
        append(headers, &cookie);
    }

    /// Appends a `Set-Cookie` that deletes each of the four cookies
    /// (`Max-Age=0`, an `Expires` in the past).
    pub(super) fn clear_all(&self, headers: &mut HeaderMap) {
        for (name, _) in ALL {
            let mut cookie = self.build(name, String::new()).build();
            cookie.make_removal();
            append(headers, &cookie);
        }
    }

    fn build(&self, name: &'static str, value: String) -> cookie::CookieBuilder<'static> {
        let http_only = ALL.iter().any(|(n, http_only)| *n == name && *http_only);
        Cookie::build((name, value))
            .http_only(http_only)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .path("/")
    }
}

fn append(headers: &mut HeaderMap, cookie: &Cookie<'_>) {
    match HeaderValue::try_from(cookie.to_string()) {
        Ok(value) => {
            headers.append(SET_COOKIE, value);
        }
        Err(error) => tracing::warn!(%error, name = cookie.name(), "cannot set a cookie"),
    }
}

/// The value of the request cookie `name`, if present and not empty.
pub(super) fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    // HTTP/2 may split cookies over several headers; look through all of them.
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
        .filter(|value| !value.is_empty())
}
