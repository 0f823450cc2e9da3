//! Rate-limited warnings: the same warning at most once per interval, with the number suppressed
//! meanwhile told in the next one.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::WARNING_INTERVAL;

/// The limiter of the warnings logged when a request is refused because of the provider.
pub(crate) static PROVIDER_WARNINGS: WarnLimiter = WarnLimiter::new(WARNING_INTERVAL);

/// Admits one warning per key and interval. Keys are fixed sentences (`&'static str`), so the
/// set of keys is bounded by the program's text.
pub(crate) struct WarnLimiter {
    interval: Duration,
    windows: Mutex<Vec<Window>>,
}

struct Window {
    key: &'static str,
    logged_at: Instant,
    suppressed: u64,
}

impl WarnLimiter {
    pub(crate) const fn new(interval: Duration) -> Self {
        Self {
            interval,
            windows: Mutex::new(Vec::new()),
        }
    }

    /// Whether the warning `key` may be logged `now`: `Some(n)` with the number of identical
    /// warnings suppressed since the last one logged, or `None` to suppress this one.
    pub(crate) fn admit(&self, key: &'static str, now: Instant) -> Option<u64> {
        // Every write below leaves the list consistent, even if a holder panicked.
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(window) = windows.iter_mut().find(|window| window.key == key) else {
            windows.push(Window {
                key,
                logged_at: now,
                suppressed: 0,
            });
            return Some(0);
        };
        if now.saturating_duration_since(window.logged_at) < self.interval {
            window.suppressed += 1;
            return None;
        }
        window.logged_at = now;
        Some(std::mem::take(&mut window.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_key_and_interval_then_the_count_of_the_suppressed() {
        let limiter = WarnLimiter::new(Duration::from_secs(10));
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let (down, late) = ("the provider is unreachable", "the provider is late");

        assert_eq!(limiter.admit(down, at(0)), Some(0));
        assert_eq!(limiter.admit(down, at(1)), None);
        assert_eq!(limiter.admit(down, at(9)), None);
        // Another reason has its own window.
        assert_eq!(limiter.admit(late, at(9)), Some(0));
        // The interval has passed: logged, saying how many were left out.
        assert_eq!(limiter.admit(down, at(10)), Some(2));
        assert_eq!(limiter.admit(down, at(15)), None);
        assert_eq!(limiter.admit(down, at(30)), Some(1));
        assert_eq!(limiter.admit(down, at(45)), Some(0));
        // A clock that goes backwards (it cannot, but) suppresses rather than floods.
        assert_eq!(limiter.admit(late, at(0)), None);
    }
}
