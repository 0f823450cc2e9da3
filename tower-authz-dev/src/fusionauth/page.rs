//! The hosted login form.

use axum::response::{Html, IntoResponse, Response};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::super::reply::no_store;

/// What the login form shows and carries.
#[derive(Debug)]
pub(super) struct LoginPage<'a> {
    pub(super) client_id: &'a str,
    pub(super) redirect_uri: &'a str,
    pub(super) state: &'a str,
    pub(super) scope: &'a str,
    /// The login id typed before (after a failed attempt).
    pub(super) login_id: &'a str,
    /// Shown in `<p id="error">`.
    pub(super) error: Option<&'a str>,
}

impl LoginPage<'_> {
    /// `200` with the HTML form: fields `loginId` and `password` (ids alike),
    /// hidden `redirect_uri`, `state` and `scope`, button `submit`; it posts
    /// to `/app/login/{clientId}`.
    pub(super) fn render(&self) -> Response {
        let action = format!(
            "/app/login/{}",
            utf8_percent_encode(self.client_id, NON_ALPHANUMERIC)
        );
        let error = self
            .error
            .map(|error| format!("\n  <p id=\"error\" role=\"alert\">{}</p>", escape(error)))
            .unwrap_or_default();
        let html = format!(
            r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Login</title>
</head>
<body>
  <h1>Login</h1>
  <p>Development FusionAuth, application <code>{client_id}</code></p>{error}
  <form method="post" action="{action}">
    <input type="hidden" name="redirect_uri" value="{redirect_uri}">
    <input type="hidden" name="state" value="{state}">
    <input type="hidden" name="scope" value="{scope}">
    <p><label for="loginId">Email</label>
      <input id="loginId" name="loginId" type="text" autocomplete="username" value="{login_id}" autofocus></p>
    <p><label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password"></p>
    <button id="submit" type="submit">Submit</button>
  </form>
</body>
</html>
"#,
            client_id = escape(self.client_id),
            action = escape(&action),
            redirect_uri = escape(self.redirect_uri),
            state = escape(self.state),
            scope = escape(self.scope),
            login_id = escape(self.login_id),
        );
        no_store(Html(html).into_response())
    }
}

/// Escapes text for HTML content and double- or single-quoted attributes.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain"), "plain");
    }
}
