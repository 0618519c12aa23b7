//! Conformance checks: replay markers and monotonic steps.

use super::*;

/// `mark_once` answers `First` once, then `Replay` until `expires_at`; at exactly `expires_at`
/// the key may be marked again, with the new expiry.
pub async fn mark_once_is_first_once_until_expires_at<S: Store>(store: &S) {
    let key = fresh_key("mark");
    let mut got = Vec::new();
    for (expires_at, now) in [
        (at(60), T0),
        (at(60), at(1)),
        (at(500), at(59)),
        (at(120), at(60)),
        (at(120), at(61)),
        (at(120), at(119)),
        (at(180), at(120)),
    ] {
        got.push(ok(
            store.mark_once(ENV, &key, expires_at, now).await,
            "mark_once",
        ));
    }
    assert_eq!(
        got,
        [
            Mark::First,
            Mark::Replay,
            Mark::Replay,
            Mark::First,
            Mark::Replay,
            Mark::Replay,
            Mark::First
        ],
        "marks at 0, 1, 59 (window ends at 60), 60, 61, 119 (window ends at 120), 120 seconds"
    );
}

/// `advance` stores a value only if it is strictly greater than the stored one (or nothing is
/// stored, even for 0); otherwise it answers `Stale` with the stored value.
pub async fn advance_accepts_only_strictly_greater_values<S: Store>(store: &S) {
    let key = fresh_key("step");
    let mut got = Vec::new();
    for value in [5, 5, 4, 0, 6, 6, 100] {
        got.push(ok(store.advance(ENV, &key, value).await, "advance"));
    }
    assert_eq!(
        got,
        [
            Advance::Advanced,
            Advance::Stale(5),
            Advance::Stale(5),
            Advance::Stale(5),
            Advance::Advanced,
            Advance::Stale(6),
            Advance::Advanced
        ],
        "advancing to 5, 5, 4, 0, 6, 6, 100"
    );
    assert_eq!(
        ok(store.advance(ENV, &fresh_key("step"), 0).await, "advance"),
        Advance::Advanced,
        "advancing a fresh key to 0"
    );
}

/// `advance` handles the whole `u64` range (values above `i64::MAX` included).
pub async fn advance_keeps_the_full_u64_range<S: Store>(store: &S) {
    let key = fresh_key("step-wide");
    let big = u64::MAX - 1;
    assert_eq!(
        ok(store.advance(ENV, &key, 1 << 63).await, "advance"),
        Advance::Advanced,
        "advancing to 2^63"
    );
    assert_eq!(
        ok(store.advance(ENV, &key, big).await, "advance"),
        Advance::Advanced,
        "advancing to u64::MAX - 1"
    );
    assert_eq!(
        ok(store.advance(ENV, &key, i64::MAX as u64).await, "advance"),
        Advance::Stale(big),
        "a value below the stored one above i64::MAX"
    );
    assert_eq!(
        ok(store.advance(ENV, &key, u64::MAX).await, "advance"),
        Advance::Advanced,
        "advancing to u64::MAX"
    );
    assert_eq!(
        ok(store.advance(ENV, &key, u64::MAX).await, "advance"),
        Advance::Stale(u64::MAX),
        "advancing to u64::MAX again"
    );
}

/// 100 concurrent `mark_once` calls for one key: exactly one `First`, 99 `Replay`.
pub async fn mark_once_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let key = fresh_key("mark-race");
    let results = race(100, |_| {
        let store = store.clone();
        let key = key.clone();
        async move { retried(|| store.mark_once(ENV, &key, at(600), T0)).await }
    })
    .await;
    let results: Vec<Mark> = results.into_iter().map(|r| ok(r, "mark_once")).collect();
    assert_eq!(
        (
            count(&results, |m| *m == Mark::First),
            count(&results, |m| *m == Mark::Replay)
        ),
        (1, 99),
        "concurrent marks of one key: (First, Replay)"
    );
}

/// 100 concurrent `advance` calls with the same value: exactly one `Advanced`, 99 `Stale` with
/// that value.
pub async fn advance_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let key = fresh_key("step-race");
    ok(store.advance(ENV, &key, 6).await, "advance");
    let results = race(100, |_| {
        let store = store.clone();
        let key = key.clone();
        async move { retried(|| store.advance(ENV, &key, 7)).await }
    })
    .await;
    let results: Vec<Advance> = results.into_iter().map(|r| ok(r, "advance")).collect();
    assert_eq!(
        (
            count(&results, |a| *a == Advance::Advanced),
            count(&results, |a| *a == Advance::Stale(7))
        ),
        (1, 99),
        "concurrent advances to 7 from 6: (Advanced, Stale(7))"
    );
}
