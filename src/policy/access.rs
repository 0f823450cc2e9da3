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

    /// The path parameter `name` of the axum route that matched (`{name}` in the route's path,
    /// or `{*name}` for the rest of it), as it appears in the path (percent-encoded); `None`
    /// without axum's `MatchedPath` (a layer applied with `Router::layer` runs before routing:
    /// use `route_layer`) or if the route has no such parameter.
    pub fn path_param(&self, name: &str) -> Option<&'a str> {
        #[cfg(feature = "axum")]
        {
            let matched = self.parts.extensions.get::<axum::extract::MatchedPath>()?;
            param_in(matched.as_str(), self.path(), name)
        }
        #[cfg(not(feature = "axum"))]
        {
            let _ = name;
            None
        }
    }
}

/// The value of `{name}` (or `{*name}`) of `template` in `path`, if `path` matches it.
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
fn param_in<'p>(template: &str, path: &'p str, name: &str) -> Option<&'p str> {
    let mut rest = path.strip_prefix('/')?;
    for segment in template.strip_prefix('/')?.split('/') {
        if let Some(wildcard) = segment.strip_prefix("{*").and_then(|s| s.strip_suffix('}')) {
            return (wildcard == name).then_some(rest);
        }
        let (value, after) = rest.split_once('/').unwrap_or((rest, ""));
        if let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if param == name {
                return Some(value);
            }
        } else if segment != value {
            return None;
        }
        rest = after;
    }
    None
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
