//! Provider I/O: everything that talks to the identity provider, and nothing else does.
//!
//! | module | job |
//! |---|---|
//! | `url` | [`ProviderUrl`]: the URLs we fetch or post to, `https://` unless loopback or opted out |
//! | `fetch` | `HttpFetcher`: JSON over HTTP with a timeout, a size cap, same-origin redirects for a GET and none for a POST; the one authenticated form POST |
//! | `discovery` | discovery (RFC 8414 and OpenID Connect metadata) and the endpoints found in it (`Endpoint`) |
//! | `single_flight` | one fetch in flight for every concurrent caller (`SingleFlight`), or one per key (`FlightsByKey`) |

pub(crate) mod discovery;
pub(crate) mod fetch;
pub(crate) mod single_flight;
pub(crate) mod url;

pub use url::ProviderUrl;
