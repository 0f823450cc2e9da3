//! [`Access`]: what a policy sees of a request.

use http::request::Parts;
use http::{HeaderMap, Method, Uri};

use crate::claims::Claims;

/// A request under judgment: the verified claims and the request's head.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    claims: &'a Claims,
    parts: &'a Parts,
}

impl<'a> Access<'a> {
    /// The request with head `parts`, whose token gave `claims`.
    pub fn new(claims: &'a Claims, parts: &'a Parts) -> Self {
        Self { claims, parts }
    }

    /// The verified claims.
    pub fn claims(&self) -> &'a Claims {
        self.claims
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        &self.parts.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        &self.parts.uri
    }

    /// The request path (for gRPC: `/package.Service/Method`).
    pub fn path(&self) -> &'a str {
        self.parts.uri.path()
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        &self.parts.headers
    }

    /// The request extensions (what earlier layers put there).
    pub fn extensions(&self) -> &'a http::Extensions {
        &self.parts.extensions
    }

    /// The whole request head.
    pub fn parts(&self) -> &'a Parts {
        self.parts
    }

    /// For a gRPC request: the service (`package.Service`) and the method of its path.
    pub fn grpc_method(&self) -> Option<(&'a str, &'a str)> {
        let (service, method) = self.path().strip_prefix('/')?.split_once('/')?;
        (!service.is_empty() && !method.is_empty() && !method.contains('/'))
            .then_some((service, method))
    }

    /// The template of the axum route that matched (`/users/{owner}/todos`), from axum's
    /// `MatchedPath`; `None` without it (a layer applied with `Router::layer` runs before
    /// routing: use `route_layer`), or without the `axum` feature.
    pub fn route(&self) -> Option<&'a str> {
        #[cfg(feature = "axum")]
        {
            let matched = self.parts.extensions.get::<axum::extract::MatchedPath>()?;
            Some(matched.as_str())
        }
        #[cfg(not(feature = "axum"))]
        {
            None
        }
    }

    /// The path parameter `name` of the axum route that matched (`{name}` in the route's path,
    /// or `{*name}` for the rest of it), as it appears in the path (percent-encoded); `None`
    /// without axum's `MatchedPath` (see [`route`](Self::route)) or if the route has no such
    /// parameter.
    pub fn path_param(&self, name: &str) -> Option<&'a str> {
        self.path_params()
            .find(|(param, _)| *param == name)
            .map(|(_, value)| value)
    }

    /// Every path parameter of the axum route that matched, in the order of the route's path:
    /// `(name, value)`, the value as it appears in the path (percent-encoded). Nothing without
    /// axum's `MatchedPath` (see [`route`](Self::route)).
    pub fn path_params(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        params_in(self.route().unwrap_or_default(), self.path())
    }
}

/// The parameters (`{name}`, `{*name}`) of `template` and their values in `path`, as long as
/// `path` matches it.
fn params_in<'a>(
    template: &'a str,
    path: &'a str,
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    let mut segments = template.strip_prefix('/').map(|t| t.split('/'));
    let mut rest = path.strip_prefix('/').unwrap_or_default();
    if path.strip_prefix('/').is_none() {
        segments = None;
    }
    std::iter::from_fn(move || {
        loop {
            let segment = segments.as_mut()?.next()?;
            if let Some(wildcard) = segment.strip_prefix("{*").and_then(|s| s.strip_suffix('}')) {
                segments = None;
                return Some((wildcard, rest));
            }
            let (value, after) = rest.split_once('/').unwrap_or((rest, ""));
            rest = after;
            if let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                return Some((param, value));
            } else if segment != value {
                segments = None;
                return None;
            }
        }
    })
}

/// The value of `{name}` (or `{*name}`) of `template` in `path`, if `path` matches it.
#[cfg(test)]
fn param_in<'p>(template: &'p str, path: &'p str, name: &str) -> Option<&'p str> {
    params_in(template, path)
        .find(|(param, _)| *param == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::param_in;

    #[test]
    fn path_parameters_are_read_from_the_matched_route() {
        let t = "/users/{owner}/todos/{id}";
        assert_eq!(param_in(t, "/users/alice/todos/42", "owner"), Some("alice"));
        assert_eq!(param_in(t, "/users/alice/todos/42", "id"), Some("42"));
        assert_eq!(param_in(t, "/users/alice/todos/42", "other"), None);
        assert_eq!(param_in(t, "/people/alice/todos/42", "id"), None);
        assert_eq!(
            param_in("/files/{*path}", "/files/a/b/c", "path"),
            Some("a/b/c")
        );
        assert_eq!(param_in("/x/{id}", "/x/", "id"), Some(""));
        assert_eq!(param_in("/x/{id}", "x/1", "id"), None);
    }
}
