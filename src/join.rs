//! Two futures at once: independent store reads on a hot path are issued together, so their
//! round trips overlap instead of adding up.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

/// Runs `a` and `b` concurrently on the current task and returns both outputs.
pub(crate) async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let mut out_a = None;
    let mut out_b = None;
    poll_fn(|cx| {
        if out_a.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            out_a = Some(v);
        }
        if out_b.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            out_b = Some(v);
        }
        match (out_a.take(), out_b.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                (out_a, out_b) = (a, b);
                Poll::Pending
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A future that is pending `n` times (waking itself) before it answers `v`.
    async fn after(n: usize, v: u32) -> u32 {
        let mut left = n;
        poll_fn(|cx| {
            if left == 0 {
                Poll::Ready(v)
            } else {
                left -= 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await
    }

    #[tokio::test]
    async fn both_outputs_whichever_finishes_first() {
        assert_eq!(join2(after(0, 1), after(3, 2)).await, (1, 2));
        assert_eq!(join2(after(5, 1), after(0, 2)).await, (1, 2));
        assert_eq!(join2(after(2, 1), after(2, 2)).await, (1, 2));
    }
}
