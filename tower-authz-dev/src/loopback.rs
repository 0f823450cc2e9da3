//! The one rule for every URL the development issuer sends a browser or a
//! request to: an absolute `http(s)` URL on a loopback host.

use std::net::IpAddr;

use reqwest::Url;

/// `raw` if it is an absolute `http(s)` URL on a loopback host (`localhost`,
/// `127.0.0.0/8`, `[::1]`): the dev issuer redirects and posts nowhere else.
pub(crate) fn loopback_url(raw: Option<&str>) -> Option<Url> {
    let url = Url::parse(raw?).ok()?;
    let host = url.host_str()?;
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    (matches!(url.scheme(), "http" | "https") && loopback).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls() {
        for ok in [
            "http://127.0.0.1:3000/profile.html",
            "https://localhost/x?y=1",
            "http://LOCALHOST:1/",
            "http://[::1]:8080/",
            "http://127.1.2.3/",
        ] {
            assert!(loopback_url(Some(ok)).is_some(), "{ok}");
        }
        for refused in [
            "https://evil.example/",
            "http://127.0.0.1.evil.example/",
            "http://localhost.evil.example/",
            "http://evil.example@/",
            "javascript:alert(1)",
            "ftp://127.0.0.1/",
            "/relative",
            "",
        ] {
            assert!(loopback_url(Some(refused)).is_none(), "{refused}");
        }
        assert!(loopback_url(None).is_none());
    }
}
