//! The metrics (feature `metrics`) as an operator sees them: `jwt_api --metrics-port 0` serves
//! the Prometheus text format, and after a known mix of requests every counter has exactly the
//! expected value, with no subject, token or `kid` anywhere in the labels.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Example, get_with};
use tower_authz_dev::{DevAlgorithm, DevIssuer, DevKey};

/// The series of a scrape: `name` and its labels (sorted) to the value.
type Series = BTreeMap<(String, BTreeMap<String, String>), f64>;

fn parse(scrape: &str) -> Series {
    let mut series = Series::new();
    for line in scrape
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name_and_labels, value) = line.rsplit_once(' ').expect("a sample line");
        let (name, labels) = match name_and_labels.split_once('{') {
            Some((name, labels)) => (name, labels.trim_end_matches('}')),
            None => (name_and_labels, ""),
        };
        let labels = labels
            .split(',')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').expect("label=value");
                (key.to_owned(), value.trim_matches('"').to_owned())
            })
            .collect();
        series.insert((name.to_owned(), labels), value.parse().expect("a number"));
    }
    series
}

/// Every series named `name`, as (labels as `k=v` strings, value).
fn all_of(series: &Series, name: &str) -> BTreeMap<Vec<String>, f64> {
    series
        .iter()
        .filter(|((n, _), _)| n == name)
        .map(|((_, labels), value)| {
            let labels = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (labels, *value)
        })
        .collect()
}

/// Asserts that the series named `name` are exactly `rows` (labels as `k=v`, in any order).
#[track_caller]
fn assert_series(series: &Series, name: &str, rows: &[(&[&str], f64)], scrape: &str) {
    let expected: BTreeMap<Vec<String>, f64> = rows
        .iter()
        .map(|(labels, value)| {
            let mut labels: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
            labels.sort();
            (labels, *value)
        })
        .collect();
    assert_eq!(all_of(series, name), expected, "{name} in\n{scrape}");
}

#[tokio::test]
async fn jwt_api_counts_a_known_mix_of_requests() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let jwks_uri = issuer.jwks_uri();
    let mut example = Example::start(
        "jwt_api",
        &[
            "--port",
            "0",
            "--issuer",
            issuer.issuer(),
            "--jwks-uri",
            &jwks_uri,
            "--audience",
            "my-api",
            "--metrics-port",
            "0",
        ],
    );
    let base = example.wait_for("jwt_api listening on ");
    let metrics_url = example.wait_for("metrics: ");
    let whoami = format!("{base}/whoami");

    let valid = issuer
        .token()
        .audience("my-api")
        .subject("user-4711")
        .sign()
        .expect("token");
    let expired = issuer
        .token()
        .audience("my-api")
        .subject("user-4711")
        .expired()
        .sign()
        .expect("token");
    let rsa_kid = issuer.current_key(DevAlgorithm::RS256).kid().to_owned();
    let forged = issuer
        .token()
        .audience("my-api")
        .signed_with(&DevKey::generate(DevAlgorithm::RS256).expect("key"))
        .kid(&rsa_kid)
        .sign()
        .expect("token");
    let stranger = DevKey::generate(DevAlgorithm::RS256).expect("key");
    let unknown_kid = issuer
        .token()
        .audience("my-api")
        .signed_with(&stranger)
        .sign()
        .expect("token");

    // The provider is down before any key was fetched: 503.
    issuer.set_available(false);
    let down = get_with(&whoami, Some(&valid)).await;
    assert_eq!(down.status, 503, "{down:?}");
    issuer.set_available(true);
    // The verifier fetches again only once its retry interval (5 s by default) has passed since
    // the failed attempt; waiting for it here is not a measurement.
    tokio::time::sleep(Duration::from_millis(5_500)).await;

    for _ in 0..3 {
        let ok = get_with(&whoami, Some(&valid)).await;
        assert_eq!(ok.status, 200, "{ok:?}");
    }
    for _ in 0..2 {
        get_with(&whoami, Some(&expired))
            .await
            .assert_refused(401, "invalid_token");
        get_with(&whoami, Some(&forged))
            .await
            .assert_refused(401, "invalid_token");
    }
    // Within the minimum refetch interval: refused without another fetch.
    get_with(&whoami, Some(&unknown_kid))
        .await
        .assert_refused(401, "invalid_token");
    assert_eq!(get_with(&whoami, None).await.status, 401);

    let scrape = get_with(&metrics_url, None).await;
    assert_eq!(scrape.status, 200, "{scrape:?}");
    let series = parse(&scrape.body);

    assert_series(
        &series,
        "tower_authz_requests_total",
        &[
            (&["outcome=ok"], 3.0),
            (&["outcome=refused", "kind=expired"], 2.0),
            (&["outcome=refused", "kind=invalid_token"], 3.0),
            (&["outcome=refused", "kind=missing_credentials"], 1.0),
            (&["outcome=upstream"], 1.0),
        ],
        &scrape.body,
    );
    assert_series(
        &series,
        "tower_authz_verification_duration_seconds_count",
        &[
            (&["outcome=ok"], 3.0),
            (&["outcome=refused"], 6.0),
            (&["outcome=upstream"], 1.0),
        ],
        &scrape.body,
    );
    // One failed JWKS fetch (the provider answered 503), one that loaded the keys.
    assert_series(
        &series,
        "tower_authz_provider_requests_total",
        &[
            (&["endpoint=jwks", "result=http_error"], 1.0),
            (&["endpoint=jwks", "result=ok"], 1.0),
        ],
        &scrape.body,
    );
    assert_series(
        &series,
        "tower_authz_provider_request_duration_seconds_count",
        &[(&["endpoint=jwks"], 2.0)],
        &scrape.body,
    );
    // The valid token is verified once and then found in the cache; refused tokens never are.
    assert_series(
        &series,
        "tower_authz_cache_lookups_total",
        &[
            (&["cache=verified", "result=hit"], 2.0),
            (&["cache=verified", "result=miss"], 7.0),
        ],
        &scrape.body,
    );

    // Bounded labels: no subject, no token, no kid.
    for secret in [
        "user-4711",
        valid.as_str(),
        expired.as_str(),
        forged.as_str(),
        unknown_kid.as_str(),
        rsa_kid.as_str(),
        stranger.kid(),
        "sub",
    ] {
        assert!(
            !scrape.body.contains(secret),
            "{secret:?} in\n{}",
            scrape.body
        );
    }
    let label_names: std::collections::BTreeSet<&str> = series
        .keys()
        .filter(|(name, _)| name.starts_with("tower_authz_"))
        .flat_map(|(_, labels)| labels.keys().map(String::as_str))
        .collect();
    assert_eq!(
        label_names,
        ["cache", "endpoint", "kind", "le", "outcome", "result"].into(),
        "{}",
        scrape.body
    );
}
