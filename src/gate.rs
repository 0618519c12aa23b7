//! A gate that lets one task at a time do a piece of work (read the revocation feed, load an
//! organization's keys) while the others wait for it, without depending on an executor.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

/// Lets one task at a time through; the others may wait for it to leave. Runtime-agnostic (the
/// core depends on no executor): waiters park their `Waker`s here.
#[derive(Default)]
pub(crate) struct Gate {
    inner: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    busy: bool,
    /// How many tasks have left the gate so far, and how the last one left.
    left: u64,
    last: Left,
    waiters: Vec<Waker>,
}

/// How a task left the gate.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) enum Left {
    /// It read the feed into the view.
    Read,
    /// Its read failed.
    Failed,
    /// It was dropped midway.
    #[default]
    Abandoned,
}

impl Gate {
    /// Enters the gate if no task is in it.
    pub(crate) fn enter(&self) -> Option<GateGuard<'_>> {
        let mut state = self.lock();
        if state.busy {
            return None;
        }
        state.busy = true;
        Some(GateGuard {
            gate: self,
            left: Left::Abandoned,
        })
    }

    /// Resolves once the task in the gate now has left it, with how it left (at once if the
    /// gate is empty, with how the last task left).
    pub(crate) fn wait(&self) -> impl Future<Output = Left> + '_ {
        let start = self.lock().left;
        std::future::poll_fn(move |cx| {
            let mut state = self.lock();
            if !state.busy || state.left != start {
                return Poll::Ready(state.last);
            }
            if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                state.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The task in the gate; dropping it (also by cancellation) opens the gate and wakes the waiters.
pub(crate) struct GateGuard<'a> {
    gate: &'a Gate,
    left: Left,
}

impl GateGuard<'_> {
    pub(crate) fn leave(mut self, how: Left) {
        self.left = how;
    }
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        let waiters = {
            let mut state = self.gate.lock();
            state.busy = false;
            state.left += 1;
            state.last = self.left;
            std::mem::take(&mut state.waiters)
        };
        for waker in waiters {
            waker.wake();
        }
    }
}
