//! Client authentication: `client_secret_basic` and `client_secret_post` at the
//! token endpoint; those two and `private_key_jwt` at the introspection and
//! revocation endpoints.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::{HeaderMap, StatusCode};

use super::assertion;
use super::clients::{DevClient, KeyUse};
use super::reply::{OAuthError, Params};
use super::state::Shared;

/// `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2).
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Authenticates a confidential client at the token endpoint.
///
/// Basic credentials win; a Basic header together with a `client_secret`
/// field is `400 invalid_request` (one method only, RFC 6749 §2.3). Failure
/// is `401 invalid_client`, with `WWW-Authenticate: Basic` when Basic was tried.
pub(super) fn token_client(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<DevClient, OAuthError> {
    match basic_credentials(headers) {
        Some(_) if params.get("client_secret").is_some() => Err(OAuthError::INVALID_REQUEST),
        Some(credentials) => credentials
            .and_then(|(id, secret)| shared.registry.authenticate(&id, &secret))
            .ok_or(INVALID_CLIENT.with_basic_challenge()),
        None => params
            .get("client_id")
            .zip(params.get("client_secret"))
            .and_then(|(id, secret)| shared.registry.authenticate(id, secret))
            .ok_or(INVALID_CLIENT),
    }
}

/// Authenticates the caller of the introspection or revocation endpoint and
/// returns its client id: `client_secret_basic` or `client_secret_post` of a
/// client added with [`DevIssuer::add_client`](super::DevIssuer::add_client),
/// or `private_key_jwt` of an API application.
pub(super) fn resource_server(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Option<String> {
    if let Some(credentials) = basic_credentials(headers) {
        let (id, secret) = credentials?;
        return shared
            .registry
            .authenticate(&id, &secret)
            .map(|client| client.client_id);
    }
    if let (Some(id), Some(secret)) = (params.get("client_id"), params.get("client_secret")) {
        return shared
            .registry
            .authenticate(id, secret)
            .map(|client| client.client_id);
    }
    if params.get("client_assertion_type") != Some(ASSERTION_TYPE) {
        return None;
    }
    let assertion = params.get("client_assertion")?;
    assertion::verify(shared, assertion, KeyUse::Application)
}

/// The introspection and revocation answer to missing or bad client
/// authentication.
pub(super) const UNAUTHORIZED_CLIENT: OAuthError =
    OAuthError::new(StatusCode::UNAUTHORIZED, "unauthorized_client");

/// The token endpoint's answer to missing or bad client authentication.
const INVALID_CLIENT: OAuthError = OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client");

/// The `Authorization: Basic` credentials: `None` without such a header,
/// `Some(None)` if it is malformed. Id and secret are form-urlencoded before
/// base64 (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    Some(decode_basic(encoded.trim()))
}

fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a
/// byte. `None` on invalid UTF-8.
fn form_decode(input: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&input.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode("a+b%3Ac%25").as_deref(), Some("a b:c%"));
        assert_eq!(form_decode("%e2%82%ac").as_deref(), Some("€"));
        assert_eq!(form_decode("%ff"), None);
    }

    #[test]
    fn basic_header_parsing() {
        let header = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            basic_credentials(&headers)
        };
        let encoded = STANDARD.encode("my%3Aid:s%20cret");
        assert_eq!(
            header(&format!("basic {encoded}")),
            Some(Some(("my:id".into(), "s cret".into())))
        );
        assert_eq!(header("Bearer abc"), None);
        assert_eq!(header("Basic !!!"), Some(None));
        assert_eq!(
            header(&format!("Basic {}", STANDARD.encode("no-colon"))),
            Some(None)
        );
        assert_eq!(basic_credentials(&HeaderMap::new()), None);
    }
}
