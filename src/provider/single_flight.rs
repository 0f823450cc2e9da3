//! Single flight: one piece of provider I/O (discovery, a JWKS fetch, a token request, the
//! introspection of one token) run once for every concurrent caller.
//!
//! The slot lives in the caller's own state, behind the caller's own lock, so the caller keeps
//! its gating (a known answer, a retry interval, a held token) consistent with it. The work runs
//! in its own Tokio task, spawned on the flight's first poll (outside the caller's lock), so a
//! cancelled request does not cancel it. When the task ends, however it ends (finished,
//! panicked, or dropped with its runtime), the caller's `land` runs once: it must clear the slot,
//! or a dead flight would stay the one every later caller awaits.

use std::future::Future;
// For `FlightsByKey` (introspection only).
#[cfg(feature = "introspection")]
use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::runtime::Handle;
use tokio::task::JoinError;
use tracing::Instrument as _;

/// The handle every caller of one flight awaits: clones share one answer.
pub(crate) type Flight<T> = Shared<BoxFuture<'static, T>>;

/// The flight in progress, if any.
pub(crate) struct SingleFlight<T: Clone>(Option<Flight<T>>);

impl<T: Clone> Default for SingleFlight<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T> SingleFlight<T>
where
    T: Clone + Send + Sync + 'static,
{
    /// The flight in progress, to join it.
    pub(crate) fn joined(&self) -> Option<Flight<T>> {
        self.0.clone()
    }

    /// Forgets the flight; `land` calls this under the caller's lock.
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }

    /// Starts `work` as the flight in progress and hands out its handle. On its first poll the
    /// handle spawns `work` on `runtime`; `land` then runs when the task ends, with its answer,
    /// or `None` if it panicked or was dropped (and callers get `lost`'s answer).
    pub(crate) fn start<W, L, E>(&mut self, runtime: Handle, work: W, land: L, lost: E) -> Flight<T>
    where
        W: Future<Output = T> + Send + 'static,
        L: FnOnce(Option<&T>) + Send + 'static,
        E: FnOnce(JoinError) -> T + Send + 'static,
    {
        let flight = launch(runtime, work, land, lost);
        self.0 = Some(flight.clone());
        flight
    }
}

/// One flight per key: the same piece of I/O asked for by concurrent callers (introspection of
/// one token) runs once, different keys run side by side. The map holds only the flights in
/// progress: each removes itself when it lands, and is spawned at once, so that a flight whose
/// first caller went away still lands.
#[cfg(feature = "introspection")]
pub(crate) struct FlightsByKey<K, T> {
    flights: Arc<Mutex<HashMap<K, Flight<T>>>>,
}

#[cfg(feature = "introspection")]
impl<K, T> Default for FlightsByKey<K, T> {
    fn default() -> Self {
        Self {
            flights: Arc::default(),
        }
    }
}

#[cfg(feature = "introspection")]
impl<K, T> FlightsByKey<K, T>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// Joins the flight in progress for `key`, or starts `work()` as it on `runtime`.
    pub(crate) fn join_or_start<W, E>(
        &self,
        key: K,
        runtime: &Handle,
        work: impl FnOnce() -> W,
        lost: E,
    ) -> Flight<T>
    where
        W: Future<Output = T> + Send + 'static,
        E: FnOnce(JoinError) -> T + Send + 'static,
    {
        let mut flights = lock(&self.flights);
        if let Some(flight) = flights.get(&key) {
            return flight.clone();
        }
        let (landed, landed_key) = (Arc::clone(&self.flights), key.clone());
        let land = move |_: Option<&T>| {
            lock(&landed).remove(&landed_key);
        };
        let flight = launch(runtime.clone(), work(), land, lost);
        flights.insert(key, flight.clone());
        drop(flights);
        // Outside the lock, which `land` takes.
        runtime.spawn(flight.clone());
        flight
    }

    /// How many flights are in progress.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.flights).len()
    }
}

/// The map stays consistent even if a holder panicked: every change is one insert or remove.
#[cfg(feature = "introspection")]
fn lock<K, T>(flights: &Mutex<HashMap<K, Flight<T>>>) -> MutexGuard<'_, HashMap<K, Flight<T>>> {
    flights.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The handle of `work`, spawned on `runtime` on its first poll, with `land` run once when the
/// task ends (see [`SingleFlight::start`]).
fn launch<T, W, L, E>(runtime: Handle, work: W, land: L, lost: E) -> Flight<T>
where
    T: Clone + Send + Sync + 'static,
    W: Future<Output = T> + Send + 'static,
    L: FnOnce(Option<&T>) + Send + 'static,
    E: FnOnce(JoinError) -> T + Send + 'static,
{
    // In the span current now, the verification span of the request that starts the flight:
    // the provider calls' spans are its children (the flight's first poll may come later, in
    // another task).
    let work = work.in_current_span();
    async move {
        // Made before the task, not in it: if the task is dropped before it first runs (as
        // on a runtime that is shutting down), the guard still lands the flight. The first
        // poll happens outside the caller's lock, which `land` takes.
        let guard = Landing(Some(Box::new(land)));
        let task = runtime.spawn(async move {
            let answer = work.await;
            guard.land(Some(&answer));
            answer
        });
        task.await.unwrap_or_else(lost)
    }
    .boxed()
    .shared()
}

type Land<T> = Box<dyn FnOnce(Option<&T>) + Send>;

/// Runs `land` once when the task ends: from [`Landing::land`] with the answer, or from `drop`
/// with none.
struct Landing<T>(Option<Land<T>>);

impl<T> Landing<T> {
    fn land(mut self, answer: Option<&T>) {
        if let Some(land) = self.0.take() {
            land(answer);
        }
    }
}

impl<T> Drop for Landing<T> {
    fn drop(&mut self) {
        if let Some(land) = self.0.take() {
            land(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};

    use super::*;

    type Slot = Arc<Mutex<SingleFlight<u32>>>;

    fn start(slot: &Slot, runs: &Arc<AtomicUsize>, work: BoxFuture<'static, u32>) -> Flight<u32> {
        let runs = Arc::clone(runs);
        let cleared = Arc::clone(slot);
        let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = guard.joined() {
            return flight;
        }
        guard.start(
            Handle::current(),
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                work.await
            },
            move |_| {
                cleared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear()
            },
            |_| 0,
        )
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_run_and_the_slot_clears() {
        let (slot, runs) = (Slot::default(), Arc::new(AtomicUsize::new(0)));
        let (gate, opened) = tokio::sync::oneshot::channel::<()>();
        let first = start(
            &slot,
            &runs,
            async { opened.await.map_or(0, |()| 7) }.boxed(),
        );
        let second = start(&slot, &runs, async { 8 }.boxed());
        let _ = gate.send(());
        assert_eq!((first.await, second.await), (7, 7));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(
            slot.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .joined()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_cancelled_caller_does_not_cancel_the_work_and_a_panic_clears_the_slot() {
        let (slot, runs) = (Slot::default(), Arc::new(AtomicUsize::new(0)));
        let (gate, opened) = tokio::sync::oneshot::channel::<()>();
        let first = start(
            &slot,
            &runs,
            async { opened.await.map_or(0, |()| 7) }.boxed(),
        );
        // Polled once (so spawned), then given up.
        assert!(futures_util::poll!(first.clone()).is_pending());
        drop(first);
        let _ = gate.send(());
        let joined = start(&slot, &runs, async { 8 }.boxed());
        assert_eq!(joined.await, 7);
        let panics = start(&slot, &runs, async { panic!("the work panicked") }.boxed());
        assert_eq!(panics.await, 0);
        assert!(
            slot.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .joined()
                .is_none()
        );
    }

    #[cfg(feature = "introspection")]
    #[tokio::test]
    async fn flights_by_key_share_a_run_per_key_and_forget_it_when_it_lands() {
        let flights = FlightsByKey::<u8, u32>::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (gate, opened) = tokio::sync::oneshot::channel::<()>();
        let runtime = Handle::current();
        let counted = |value: u32, wait: Option<tokio::sync::oneshot::Receiver<()>>| {
            let runs = Arc::clone(&runs);
            move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                if let Some(wait) = wait {
                    let _ = wait.await;
                }
                value
            }
        };
        let lost = |_| 0;
        let first = flights.join_or_start(1, &runtime, counted(7, Some(opened)), lost);
        let joined = flights.join_or_start(1, &runtime, counted(8, None), lost);
        let other = flights.join_or_start(2, &runtime, counted(9, None), lost);
        assert_eq!(other.await, 9);
        let _ = gate.send(());
        assert_eq!((first.await, joined.await), (7, 7));
        assert_eq!(runs.load(Ordering::SeqCst), 2, "one run per key");
        // Landed flights leave the map (the land runs in the task, just before the answer).
        for _ in 0..100 {
            if flights.len() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(flights.len(), 0);
        let again = flights.join_or_start(1, &runtime, counted(10, None), lost);
        assert_eq!(again.await, 10, "a landed key starts afresh");
    }
}
