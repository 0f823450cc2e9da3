//! The metrics, sent through the `metrics` facade (feature `metrics`).
//!
//! The keys of the per-request metrics are statics (name, labels and hash computed at compile
//! time): a request with a recorder installed allocates nothing for them. Provider calls, which
//! are rare, build theirs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use metrics::{Key, KeyName, Label, Level, Metadata, Recorder, SharedString, Unit, with_recorder};

use super::{
    CACHE_LOOKUPS, CacheName, CallResult, Outcome, PROVIDER_DURATION, PROVIDER_REQUESTS,
    ProviderEndpoint, REQUESTS, TARGET, VERIFICATION_DURATION,
};
use crate::error::AuthErrorKind;

const OUTCOME: &str = "outcome";
const KIND: &str = "kind";
const CACHE: &str = "cache";
const RESULT: &str = "result";
const ENDPOINT: &str = "endpoint";

static METADATA: Metadata<'static> = Metadata::new(TARGET, Level::INFO, Some(module_path!()));

/// A `&'static Key` with constant labels, built at compile time.
macro_rules! static_key {
    ($name:expr; $($label:expr => $value:expr),+ $(,)?) => {{
        static LABELS: [Label; [$($label),+].len()] =
            [$(Label::from_static_parts($label, $value)),+];
        static KEY: Key = Key::from_static_parts($name, &LABELS);
        &KEY
    }};
}

/// Runs `f` with the recorder in force (the facade's no-op one when none is installed). The
/// metric descriptions are sent once to each recorder seen, told apart by address (a recorder
/// installed later gets them too).
#[inline]
fn with_real_recorder(f: impl FnOnce(&dyn Recorder)) {
    with_recorder(|recorder| {
        static DESCRIBED: AtomicUsize = AtomicUsize::new(0);
        let address = std::ptr::from_ref(recorder).cast::<()>().addr();
        if DESCRIBED.swap(address, Ordering::Relaxed) != address {
            describe(recorder);
        }
        f(recorder);
    });
}

fn describe(recorder: &dyn Recorder) {
    const COUNTERS: [(&str, &str); 3] = [
        (
            REQUESTS,
            "Requests decided by the tower-authz layer, by outcome and refusal kind.",
        ),
        (
            PROVIDER_REQUESTS,
            "Calls to the identity provider, by endpoint and result.",
        ),
        (
            CACHE_LOOKUPS,
            "Lookups in the verifiers' caches, by cache and result.",
        ),
    ];
    const HISTOGRAMS: [(&str, &str); 2] = [
        (
            VERIFICATION_DURATION,
            "Time the tower-authz layer took to verify a request, by outcome.",
        ),
        (
            PROVIDER_DURATION,
            "Time a call to the identity provider took, by endpoint.",
        ),
    ];
    for (name, help) in COUNTERS {
        let (name, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
        recorder.describe_counter(name, Some(Unit::Count), help);
    }
    for (name, help) in HISTOGRAMS {
        let (name, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
        recorder.describe_histogram(name, Some(Unit::Seconds), help);
    }
}

/// Counts a request's outcome and records how long its verification took.
pub(super) fn verification(outcome: Outcome, took: Duration) {
    with_real_recorder(|recorder| {
        recorder
            .register_counter(requests_key(outcome), &METADATA)
            .increment(1);
        recorder
            .register_histogram(duration_key(outcome), &METADATA)
            .record(took.as_secs_f64());
    });
}

/// Counts a cache lookup.
#[inline]
pub(super) fn cache_lookup(cache: CacheName, hit: bool) {
    with_real_recorder(|recorder| {
        recorder
            .register_counter(cache_key(cache, hit), &METADATA)
            .increment(1);
    });
}

/// Counts a shared cache that could not be used.
#[cfg(feature = "introspection")]
pub(super) fn shared_cache_unavailable() {
    with_real_recorder(|recorder| {
        let key = static_key!(
            CACHE_LOOKUPS;
            CACHE => CacheName::IntrospectionShared.as_str(),
            RESULT => "unavailable"
        );
        recorder.register_counter(key, &METADATA).increment(1);
    });
}

/// Counts a call to the provider and records how long it took.
pub(super) fn provider_call(endpoint: ProviderEndpoint, result: CallResult, took: Duration) {
    with_real_recorder(|recorder| {
        let endpoint = Label::from_static_parts(ENDPOINT, endpoint.as_str());
        let calls = Key::from_parts(
            PROVIDER_REQUESTS,
            vec![
                endpoint.clone(),
                Label::from_static_parts(RESULT, result.as_str()),
            ],
        );
        recorder.register_counter(&calls, &METADATA).increment(1);
        let duration = Key::from_parts(PROVIDER_DURATION, vec![endpoint]);
        recorder
            .register_histogram(&duration, &METADATA)
            .record(took.as_secs_f64());
    });
}

fn requests_key(outcome: Outcome) -> &'static Key {
    use AuthErrorKind as K;
    macro_rules! refused {
        ($kind:expr) => {
            static_key!(REQUESTS; OUTCOME => Outcome::Refused($kind).as_str(), KIND => $kind.as_str())
        };
    }
    match outcome {
        Outcome::Ok => static_key!(REQUESTS; OUTCOME => Outcome::Ok.as_str()),
        Outcome::Anonymous => static_key!(REQUESTS; OUTCOME => Outcome::Anonymous.as_str()),
        Outcome::Refused(K::Upstream) => {
            static_key!(REQUESTS; OUTCOME => Outcome::Refused(K::Upstream).as_str())
        }
        Outcome::Refused(K::MissingCredentials) => refused!(K::MissingCredentials),
        Outcome::Refused(K::InvalidRequest) => refused!(K::InvalidRequest),
        Outcome::Refused(K::InvalidToken) => refused!(K::InvalidToken),
        Outcome::Refused(K::Expired) => refused!(K::Expired),
        Outcome::Refused(K::InsufficientScope) => refused!(K::InsufficientScope),
        Outcome::Refused(K::InsufficientUserAuthentication) => {
            refused!(K::InsufficientUserAuthentication)
        }
        Outcome::Refused(K::NotConfigured) => refused!(K::NotConfigured),
        Outcome::Refused(K::InvalidDpopProof) => refused!(K::InvalidDpopProof),
        Outcome::Refused(K::UseDpopNonce) => refused!(K::UseDpopNonce),
    }
}

fn duration_key(outcome: Outcome) -> &'static Key {
    macro_rules! key {
        ($outcome:expr) => {
            static_key!(VERIFICATION_DURATION; OUTCOME => $outcome.as_str())
        };
    }
    match outcome {
        Outcome::Ok => key!(Outcome::Ok),
        Outcome::Anonymous => key!(Outcome::Anonymous),
        Outcome::Refused(AuthErrorKind::Upstream) => {
            key!(Outcome::Refused(AuthErrorKind::Upstream))
        }
        Outcome::Refused(_) => key!(Outcome::Refused(AuthErrorKind::InvalidToken)),
    }
}

fn cache_key(cache: CacheName, hit: bool) -> &'static Key {
    macro_rules! key {
        ($cache:expr, $result:literal) => {
            static_key!(CACHE_LOOKUPS; CACHE => $cache.as_str(), RESULT => $result)
        };
    }
    match (cache, hit) {
        (CacheName::Verified, true) => key!(CacheName::Verified, "hit"),
        (CacheName::Verified, false) => key!(CacheName::Verified, "miss"),
        (CacheName::Introspection, true) => key!(CacheName::Introspection, "hit"),
        (CacheName::Introspection, false) => key!(CacheName::Introspection, "miss"),
        (CacheName::IntrospectionRefusals, true) => key!(CacheName::IntrospectionRefusals, "hit"),
        (CacheName::IntrospectionRefusals, false) => {
            key!(CacheName::IntrospectionRefusals, "miss")
        }
        (CacheName::IntrospectionShared, true) => key!(CacheName::IntrospectionShared, "hit"),
        (CacheName::IntrospectionShared, false) => key!(CacheName::IntrospectionShared, "miss"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_name_their_labels() {
        let labels = |key: &Key| {
            key.labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect::<Vec<_>>()
        };
        let expired = requests_key(Outcome::Refused(AuthErrorKind::Expired));
        assert_eq!(expired.name(), REQUESTS);
        assert_eq!(labels(expired), ["outcome=refused", "kind=expired"]);
        let upstream = requests_key(Outcome::Refused(AuthErrorKind::Upstream));
        assert_eq!(labels(upstream), ["outcome=upstream"]);
        assert_eq!(labels(requests_key(Outcome::Ok)), ["outcome=ok"]);
        assert_eq!(
            labels(duration_key(Outcome::Refused(AuthErrorKind::Expired))),
            ["outcome=refused"]
        );
        assert_eq!(
            labels(cache_key(CacheName::IntrospectionRefusals, false)),
            ["cache=introspection_refusals", "result=miss"]
        );
    }
}
