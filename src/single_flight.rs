//! Single flight: one piece of provider I/O (discovery, a JWKS fetch, a token request) run once
//! for every concurrent caller.
//!
//! The slot lives in the caller's own state, behind the caller's own lock, so the caller keeps
//! its gating (a known answer, a retry interval, a held token) consistent with it. The work runs
//! in its own Tokio task, spawned on the flight's first poll (outside the caller's lock), so a
//! cancelled request does not cancel it. When the task ends, however it ends (finished,
//! panicked, or dropped with its runtime), the caller's `land` runs once: it must clear the slot,
//! or a dead flight would stay the one every later caller awaits.

use std::future::Future;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::runtime::Handle;
use tokio::task::JoinError;

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
        let flight = async move {
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
        .shared();
        self.0 = Some(flight.clone());
        flight
    }
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
}
