//! [`Table`]: the revocations one replica knows, looked up on every verified token.
//!
//! Three concurrent maps (moka): subjects and sessions to the times they were logged out (per
//! issuer), and revoked token ids. Each entry expires when no token it refuses can still be
//! valid. Until the first record arrives a look-up is two atomic loads; after it, a Bloom
//! filter ([`Prefilter`]) clears the claims of anyone never revoked (one SipHash and two
//! atomic loads per claim present: `sub`, `sid`, `jti`), and only a claim it may contain is
//! looked up in its map; no allocation unless a token without `jti` has to be hashed.
//!
//! The maps are bounded by time, not by count: every record comes from a signed logout token
//! or from the application itself, and dropping one to make room would let a revoked token in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::ops::compute::Op;
use moka::sync::Cache;

use super::prefilter::{Kind, Prefilter};
use super::record::{self, Revocation, TokenId};
use crate::claims::Claims;
use crate::clock::now;

/// When one issuer's subject or session was logged out.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mark {
    /// `None`: any issuer.
    issuer: Option<Box<str>>,
    at: u64,
    expires_at: u64,
}

impl Mark {
    /// Whether a token of `issuer` issued at `iat` is refused by this mark.
    fn refuses(&self, issuer: Option<&str>, iat: Option<u64>) -> bool {
        record::refuses(self.issuer.as_deref(), self.at, issuer, iat)
    }
}

/// The marks of one subject or session (almost always one).
#[derive(Debug, Clone)]
struct Marks(Arc<[Mark]>);

/// A table value that knows when it may go.
trait Deadline {
    fn expires_at(&self) -> u64;
}

impl Deadline for Marks {
    fn expires_at(&self) -> u64 {
        self.0.iter().map(|m| m.expires_at).max().unwrap_or(0)
    }
}

impl Deadline for u64 {
    fn expires_at(&self) -> u64 {
        *self
    }
}

/// Entries expire at their own deadline (seconds since the epoch).
struct ByDeadline;

impl ByDeadline {
    fn left(value: &impl Deadline) -> Option<Duration> {
        Some(Duration::from_secs(
            value.expires_at().saturating_sub(now()),
        ))
    }
}

impl<K, V: Deadline> Expiry<K, V> for ByDeadline {
    fn expire_after_create(&self, _: &K, value: &V, _: Instant) -> Option<Duration> {
        Self::left(value)
    }

    fn expire_after_update(
        &self,
        _: &K,
        value: &V,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Self::left(value)
    }
}

fn table<V: Deadline + Clone + Send + Sync + 'static>() -> Cache<String, V> {
    Cache::builder().expire_after(ByDeadline).build()
}

/// The revocations a replica knows.
pub(crate) struct Table {
    /// Whether a subject or session was ever marked (the fast path until then).
    any_marks: AtomicBool,
    /// Whether a token was ever revoked.
    any_tokens: AtomicBool,
    subjects: Cache<String, Marks>,
    sessions: Cache<String, Marks>,
    /// `jti` → `until`.
    jtis: Cache<String, u64>,
    /// keyed hash → `until`.
    hashes: Cache<String, u64>,
    /// How long a subject or session record lasts: the longest token lifetime, in seconds.
    max_lifetime: u64,
    /// What was ever recorded: a token of nobody revoked is cleared without a map look-up.
    filter: Prefilter,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("subjects", &self.subjects.entry_count())
            .field("sessions", &self.sessions.entry_count())
            .field(
                "tokens",
                &(self.jtis.entry_count() + self.hashes.entry_count()),
            )
            .field("max_lifetime", &self.max_lifetime)
            .finish()
    }
}

impl Table {
    pub(crate) fn new(max_lifetime: Duration) -> Self {
        Self {
            any_marks: AtomicBool::new(false),
            any_tokens: AtomicBool::new(false),
            subjects: table(),
            sessions: table(),
            jtis: table(),
            hashes: table(),
            max_lifetime: max_lifetime.as_secs(),
            filter: Prefilter::new(),
        }
    }

    pub(crate) fn max_lifetime(&self) -> u64 {
        self.max_lifetime
    }

    /// Keeps `record` (nothing if it has already expired).
    pub(crate) fn insert(&self, record: &Revocation) {
        let expires_at = record.expires_at(self.max_lifetime);
        if expires_at <= now() {
            return;
        }
        match record {
            Revocation::Subject {
                issuer,
                subject,
                at,
            } => {
                self.filter.insert(Kind::Subject, subject);
                self.mark(&self.subjects, subject, issuer.as_deref(), *at, expires_at);
            }
            Revocation::Session {
                issuer,
                session,
                at,
            } => {
                self.filter.insert(Kind::Session, session);
                self.mark(&self.sessions, session, issuer.as_deref(), *at, expires_at);
            }
            Revocation::Token { id, until } => {
                let (table, kind, id) = match id {
                    TokenId::Jti(jti) => (&self.jtis, Kind::Jti, jti),
                    TokenId::Hash(hash) => (&self.hashes, Kind::Hash, hash),
                };
                self.filter.insert(kind, id);
                table.insert(id.clone(), *until);
                self.any_tokens.store(true, Ordering::Release);
            }
        }
    }

    fn mark(
        &self,
        table: &Cache<String, Marks>,
        key: &str,
        issuer: Option<&str>,
        at: u64,
        expires_at: u64,
    ) {
        let time = now();
        table.entry(key.to_owned()).and_compute_with(|existing| {
            let mut marks: Vec<Mark> = existing.map_or_else(Vec::new, |entry| {
                entry
                    .into_value()
                    .0
                    .iter()
                    .filter(|mark| mark.expires_at > time)
                    .cloned()
                    .collect()
            });
            match marks
                .iter_mut()
                .find(|mark| mark.issuer.as_deref() == issuer)
            {
                Some(mark) => {
                    mark.at = mark.at.max(at);
                    mark.expires_at = mark.expires_at.max(expires_at);
                }
                None => marks.push(Mark {
                    issuer: issuer.map(Box::from),
                    at,
                    expires_at,
                }),
            }
            Op::Put(Marks(marks.into()))
        });
        self.any_marks.store(true, Ordering::Release);
    }

    /// Whether the token with `claims` is revoked. `hash` makes the keyed hash of the token,
    /// asked for only when a token without `jti` has to be looked up.
    pub(crate) fn refuses(&self, claims: &Claims, hash: impl FnOnce() -> String) -> bool {
        if self.any_marks.load(Ordering::Acquire) {
            let (issuer, iat) = (claims.issuer(), claims.issued_at());
            let marked = |table: &Cache<String, Marks>, kind, key: Option<&str>| {
                key.filter(|key| self.filter.may_contain(kind, key))
                    .and_then(|key| table.get(key))
                    .is_some_and(|marks| marks.0.iter().any(|mark| mark.refuses(issuer, iat)))
            };
            if marked(&self.subjects, Kind::Subject, claims.subject())
                || marked(&self.sessions, Kind::Session, claims.session_id())
            {
                return true;
            }
        }
        if self.any_tokens.load(Ordering::Acquire) {
            return match claims.token_id() {
                Some(jti) => self.filter.may_contain(Kind::Jti, jti) && self.jtis.contains_key(jti),
                None => {
                    let hash = hash();
                    self.filter.may_contain(Kind::Hash, &hash) && self.hashes.contains_key(&hash)
                }
            };
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::claims::RoleSource;

    fn claims(value: serde_json::Value) -> Claims {
        Claims::from_value(value, &RoleSource::default()).unwrap()
    }

    const ISS: &str = "https://id.example.com";

    fn subject(issuer: Option<&str>, subject: &str, at: u64) -> Revocation {
        Revocation::Subject {
            issuer: issuer.map(str::to_owned),
            subject: subject.into(),
            at,
        }
    }

    #[test]
    fn a_subject_is_refused_for_tokens_issued_up_to_the_logout() {
        let table = Table::new(Duration::from_secs(3600));
        let t = now();
        let before = claims(json!({"iss": ISS, "sub": "alice", "iat": t - 10}));
        let same_second = claims(json!({"iss": ISS, "sub": "alice", "iat": t}));
        let after = claims(json!({"iss": ISS, "sub": "alice", "iat": t + 1}));
        let no_iat = claims(json!({"iss": ISS, "sub": "alice"}));
        let other_issuer = claims(json!({"iss": "https://other", "sub": "alice", "iat": t - 10}));
        let bob = claims(json!({"iss": ISS, "sub": "bob", "iat": t - 10}));
        let never = || unreachable!("no token was revoked: nothing is hashed");
        assert!(!table.refuses(&before, never));

        table.insert(&subject(Some(ISS), "alice", t));
        assert!(table.refuses(&before, never));
        assert!(table.refuses(&same_second, never));
        assert!(table.refuses(&no_iat, never));
        assert!(!table.refuses(&after, never));
        assert!(!table.refuses(&other_issuer, never));
        assert!(!table.refuses(&bob, never));

        // A later logout moves the time; an earlier one (a late message) does not.
        table.insert(&subject(Some(ISS), "alice", t + 5));
        assert!(table.refuses(&after, never));
        table.insert(&subject(Some(ISS), "alice", t - 100));
        assert!(table.refuses(&after, never));
        // Without an issuer, every issuer's subject.
        table.insert(&subject(None, "alice", t));
        assert!(table.refuses(&other_issuer, never));
    }

    #[test]
    fn a_session_is_refused_by_its_sid_only() {
        let table = Table::new(Duration::from_secs(3600));
        let t = now();
        table.insert(&Revocation::Session {
            issuer: Some(ISS.into()),
            session: "s1".into(),
            at: t,
        });
        let never = || unreachable!();
        assert!(table.refuses(
            &claims(json!({"iss": ISS, "sub": "a", "sid": "s1", "iat": t})),
            never
        ));
        assert!(!table.refuses(
            &claims(json!({"iss": ISS, "sub": "a", "sid": "s2", "iat": t})),
            never
        ));
        assert!(!table.refuses(&claims(json!({"iss": ISS, "sub": "a", "iat": t})), never));
    }

    #[test]
    fn a_token_is_refused_by_jti_or_by_hash_until_it_expires() {
        let table = Table::new(Duration::from_secs(3600));
        let until = now() + 60;
        table.insert(&Revocation::Token {
            id: TokenId::Jti("j1".into()),
            until,
        });
        table.insert(&Revocation::Token {
            id: TokenId::Hash("h1".into()),
            until,
        });
        let with_jti = claims(json!({"sub": "a", "jti": "j1"}));
        let other_jti = claims(json!({"sub": "a", "jti": "j2"}));
        let without = claims(json!({"sub": "a"}));
        assert!(table.refuses(&with_jti, || unreachable!("a jti is looked up as is")));
        assert!(!table.refuses(&other_jti, || unreachable!()));
        assert!(table.refuses(&without, || "h1".into()));
        assert!(!table.refuses(&without, || "h2".into()));
    }

    #[test]
    fn expired_records_are_not_kept() {
        let table = Table::new(Duration::from_secs(60));
        let t = now();
        table.insert(&subject(Some(ISS), "alice", t - 120));
        table.insert(&Revocation::Token {
            id: TokenId::Jti("j".into()),
            until: t - 1,
        });
        let old = claims(json!({"iss": ISS, "sub": "alice", "jti": "j", "iat": t - 200}));
        assert!(!table.refuses(&old, || unreachable!()));
    }
}
