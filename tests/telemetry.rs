//! The spans and warnings an operator sees, captured by a tracing layer while requests go through
//! `AuthLayer` (over HTTP on 127.0.0.1, against the development issuer): the verification span's
//! fields, the provider calls as its children, no token or subject anywhere, and one warning for
//! a burst of identical provider failures.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::TestApp;
use tower_authz::{AuthLayer, ClientAuth, IntrospectionVerifier, JwksVerifier, MultiIssuer};
use tower_authz_dev::{DevClient, DevIssuer};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

/// A closed span: its name, its parent's name, and every field recorded on it.
#[derive(Debug, Clone)]
struct Closed {
    name: &'static str,
    parent: Option<&'static str>,
    fields: BTreeMap<&'static str, String>,
}

/// An event: its level and fields (the message included).
#[derive(Debug, Clone)]
struct Logged {
    level: Level,
    fields: BTreeMap<&'static str, String>,
}

#[derive(Default)]
struct Captured {
    spans: Vec<Closed>,
    events: Vec<Logged>,
}

#[derive(Default)]
struct Fields(BTreeMap<&'static str, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

/// Keeps every span of the `tower_authz` target when it closes, and every event.
struct Capture(Arc<Mutex<Captured>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.0.lock().expect("lock").events.push(Logged {
            level: *event.metadata().level(),
            fields: fields.0,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if span.metadata().target() != "tower_authz" {
            return;
        }
        let fields = span
            .extensions()
            .get::<Fields>()
            .map(|f| f.0.clone())
            .unwrap_or_default();
        self.0.lock().expect("lock").spans.push(Closed {
            name: span.name(),
            parent: span.parent().map(|parent| parent.name()),
            fields,
        });
    }
}

impl Captured {
    /// The spans closed since the last call: the verifications and the provider calls.
    fn take(&mut self, seen: &mut Vec<Closed>) -> (Vec<Closed>, Vec<Closed>) {
        let spans = std::mem::take(&mut self.spans);
        seen.extend(spans.iter().cloned());
        spans
            .into_iter()
            .partition(|span| span.name == "tower_authz.verify")
    }
}

fn field<'a>(span: &'a Closed, name: &str) -> Option<&'a str> {
    span.fields.get(name).map(String::as_str)
}

#[tokio::test]
async fn spans_tell_what_was_verified_and_warnings_are_rate_limited() {
    let captured = Arc::new(Mutex::new(Captured::default()));
    // Every task of this test runs on its (current-thread) runtime, so on this thread.
    let _default = tracing::subscriber::set_default(
        Registry::default()
            .with(Capture(Arc::clone(&captured)))
            .with(tracing_subscriber::filter::LevelFilter::DEBUG),
    );

    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_client(DevClient::new("api-basic", "basic-secret"));
    let other = DevIssuer::start().await.expect("another issuer");
    let opaque = |token: &str| !token.contains('.');
    let verifier = MultiIssuer::new()
        .with_issuer(
            issuer.issuer(),
            JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier"),
        )
        .with_fallback_for(
            IntrospectionVerifier::discover(
                issuer.issuer(),
                ClientAuth::basic("api-basic", "basic-secret"),
                "dev-api",
            )
            .expect("verifier"),
            opaque,
        );
    let app = TestApp::start(AuthLayer::new(verifier)).await;

    let jwt = issuer.token().subject("alice").sign().expect("token");
    let opaque_token = issuer.opaque_token().subject("alice").issue();
    assert!(opaque(&opaque_token));
    let stranger = other.token().subject("alice").sign().expect("token");
    for token in [&jwt, &jwt, &opaque_token, &opaque_token] {
        assert_eq!(app.get("/whoami", Some(token)).await.status, 200);
    }
    assert_eq!(app.get("/whoami", Some(&stranger)).await.status, 401);

    let mut seen = Vec::new();
    let (verifications, provider_calls) = captured.lock().expect("lock").take(&mut seen);
    let summary: Vec<_> = verifications
        .iter()
        .map(|span| {
            (
                field(span, "verifier"),
                field(span, "issuer"),
                field(span, "cache"),
                field(span, "outcome"),
                span.fields.contains_key("provider_wait_ms"),
            )
        })
        .collect();
    let iss = Some(issuer.issuer());
    assert_eq!(
        summary,
        [
            // The keys are fetched (discovery, then the JWKS) while the request waits.
            (Some("jwks"), iss, Some("miss"), Some("ok"), true),
            (Some("jwks"), iss, Some("hit"), Some("ok"), false),
            (Some("introspection"), iss, Some("miss"), Some("ok"), true),
            (Some("introspection"), iss, Some("hit"), Some("ok"), false),
            // Refused by MultiIssuer itself: the token's own `iss` is not reported.
            (
                Some("multi_issuer"),
                None,
                Some("none"),
                Some("refused:invalid_token"),
                false
            ),
        ],
        "{verifications:#?}"
    );
    let calls: Vec<_> = provider_calls
        .iter()
        .map(|span| {
            (
                span.parent,
                field(span, "endpoint"),
                field(span, "status"),
                field(span, "result"),
                span.fields.contains_key("duration_ms"),
            )
        })
        .collect();
    let verify = Some("tower_authz.verify");
    assert_eq!(
        calls,
        [
            (verify, Some("discovery"), Some("200"), Some("ok"), true),
            (verify, Some("jwks"), Some("200"), Some("ok"), true),
            (verify, Some("discovery"), Some("200"), Some("ok"), true),
            (verify, Some("introspection"), Some("200"), Some("ok"), true),
        ],
        "{provider_calls:#?}"
    );

    // The provider goes down: each new opaque token is a failed introspection call (503), but
    // the burst is one warning.
    issuer.set_available(false);
    for _ in 0..3 {
        let token = issuer.opaque_token().issue();
        assert_eq!(app.get("/whoami", Some(&token)).await.status, 503);
    }
    let (verifications, provider_calls) = captured.lock().expect("lock").take(&mut seen);
    assert!(
        verifications
            .iter()
            .all(|span| field(span, "outcome") == Some("upstream")),
        "{verifications:#?}"
    );
    assert!(
        provider_calls.len() == 3
            && provider_calls.iter().all(|span| {
                field(span, "endpoint") == Some("introspection")
                    && field(span, "status") == Some("503")
                    && field(span, "result") == Some("http_error")
            }),
        "{provider_calls:#?}"
    );
    let captured = captured.lock().expect("lock");
    let warnings: Vec<_> = captured
        .events
        .iter()
        .filter(|event| {
            event.level == Level::WARN
                && event.fields.get("message").map(String::as_str)
                    == Some("request refused: the identity provider is unavailable")
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(
        warnings[0].fields.get("suppressed").map(String::as_str),
        Some("0")
    );

    // No token, no subject, no other issuer in any span field.
    for span in &seen {
        for value in span.fields.values() {
            for secret in [
                jwt.as_str(),
                opaque_token.as_str(),
                stranger.as_str(),
                "alice",
                "basic-secret",
                other.issuer(),
            ] {
                assert!(!value.contains(secret), "{span:?}");
            }
        }
    }
}
