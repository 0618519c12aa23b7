//! Conformance checks: counters.

use super::*;

/// `increment` counts 1, 2 … up to `limit`, then answers `AtLimit(limit)` without changing the
/// value; `count` reads it.
pub async fn counter_increments_up_to_its_limit_and_no_further<S: Store>(store: &S) {
    let key = fresh_key("counter-limit");
    let until = at(600);
    let mut got = Vec::new();
    for i in 0..5 {
        got.push(ok(
            store.increment(ENV, &key, 3, until, at(i)).await,
            "increment",
        ));
    }
    assert_eq!(
        got,
        [
            Counted::Incremented(1),
            Counted::Incremented(2),
            Counted::Incremented(3),
            Counted::AtLimit(3),
            Counted::AtLimit(3)
        ],
        "five increments against a limit of 3"
    );
    assert_eq!(
        ok(store.count(ENV, &key, at(10)).await, "count"),
        3,
        "the value after reaching the limit"
    );
    assert_eq!(
        ok(
            store.count(ENV, &fresh_key("counter-none"), T0).await,
            "count"
        ),
        0,
        "the value of a counter never incremented"
    );
}

/// A counter's window is fixed by its first increment and ends at exactly its `expires_at`: the
/// counter then counts 0, and the next increment restarts it with the new `expires_at`.
pub async fn counter_window_is_fixed_and_ends_at_expires_at<S: Store>(store: &S) {
    let key = fresh_key("counter-window");
    assert_eq!(
        ok(store.increment(ENV, &key, 5, at(60), T0).await, "increment"),
        Counted::Incremented(1),
        "the first increment"
    );
    assert_eq!(
        ok(
            store.increment(ENV, &key, 5, at(1000), at(10)).await,
            "increment"
        ),
        Counted::Incremented(2),
        "a second increment in the window"
    );
    assert_eq!(
        ok(store.count(ENV, &key, at(59)).await, "count"),
        2,
        "the value one second before the first expires_at (a later expires_at must not extend \
         a live window)"
    );
    assert_eq!(
        ok(store.count(ENV, &key, at(60)).await, "count"),
        0,
        "the value at exactly expires_at"
    );
    assert_eq!(
        ok(
            store.increment(ENV, &key, 5, at(120), at(60)).await,
            "increment"
        ),
        Counted::Incremented(1),
        "an increment at exactly expires_at starts a new window"
    );
    assert_eq!(
        ok(store.count(ENV, &key, at(119)).await, "count"),
        1,
        "the value in the new window"
    );
    assert_eq!(
        ok(store.count(ENV, &key, at(120)).await, "count"),
        0,
        "the value at exactly the new window's expires_at"
    );
    let full = fresh_key("counter-window");
    for i in 0..2 {
        ok(
            store.increment(ENV, &full, 2, at(60), at(i)).await,
            "increment",
        );
    }
    assert_eq!(
        ok(
            store.increment(ENV, &full, 2, at(120), at(60)).await,
            "increment"
        ),
        Counted::Incremented(1),
        "a counter at its limit counts again once its window has ended"
    );
}

/// `decrement` subtracts one and returns the new value, never going below 0 (0 for a missing or
/// expired counter).
pub async fn counter_decrement_stops_at_zero<S: Store>(store: &S) {
    let key = fresh_key("counter-dec");
    assert_eq!(
        ok(store.decrement(ENV, &key, T0).await, "decrement"),
        0,
        "decrementing a missing counter"
    );
    for i in 0..2 {
        ok(
            store.increment(ENV, &key, 10, at(600), at(i)).await,
            "increment",
        );
    }
    let mut got = Vec::new();
    for i in 0..3 {
        got.push(ok(
            store.decrement(ENV, &key, at(10 + i)).await,
            "decrement",
        ));
    }
    assert_eq!(got, [1, 0, 0], "three decrements from 2");
    assert_eq!(
        ok(store.count(ENV, &key, at(20)).await, "count"),
        0,
        "the value after decrementing to 0"
    );
    assert_eq!(
        ok(
            store.increment(ENV, &key, 10, at(600), at(21)).await,
            "increment"
        ),
        Counted::Incremented(1),
        "an increment after decrementing to 0 (the value never went below 0)"
    );
    assert_eq!(
        ok(
            store.increment(ENV, &key, 10, at(600), at(22)).await,
            "increment"
        ),
        Counted::Incremented(2),
        "a second increment in the window"
    );
    assert_eq!(
        ok(store.decrement(ENV, &key, at(600)).await, "decrement"),
        0,
        "decrementing an expired counter"
    );
}

/// A counter decremented back to 0 holds nothing: the next increment starts a new window with
/// its own `expires_at`, as for a missing counter (so a lockout window starts at its first
/// failure, not at an earlier attempt that was given back).
pub async fn counter_back_at_zero_starts_a_new_window<S: Store>(store: &S) {
    let key = fresh_key("counter-zero");
    ok(store.increment(ENV, &key, 5, at(60), T0).await, "increment");
    assert_eq!(
        ok(store.decrement(ENV, &key, at(10)).await, "decrement"),
        0,
        "the attempt given back"
    );
    assert_eq!(
        ok(
            store.increment(ENV, &key, 5, at(100), at(50)).await,
            "increment"
        ),
        Counted::Incremented(1),
        "the next increment"
    );
    assert_eq!(
        ok(store.count(ENV, &key, at(70)).await, "count"),
        1,
        "past the first window's expires_at, within the window the increment at 0 started"
    );
    assert_eq!(
        ok(store.count(ENV, &key, at(100)).await, "count"),
        0,
        "at exactly the new window's expires_at"
    );
}

/// `reset` deletes the counter: it counts 0 and the next increment starts a new window with
/// the new `expires_at`. Resetting a missing counter succeeds.
pub async fn counter_reset_deletes_the_counter<S: Store>(store: &S) {
    let key = fresh_key("counter-reset");
    for i in 0..3 {
        ok(
            store.increment(ENV, &key, 3, at(60), at(i)).await,
            "increment",
        );
    }
    ok(store.reset(ENV, &key).await, "reset");
    assert_eq!(
        ok(store.count(ENV, &key, at(10)).await, "count"),
        0,
        "the value after a reset"
    );
    assert_eq!(
        ok(
            store.increment(ENV, &key, 3, at(600), at(11)).await,
            "increment"
        ),
        Counted::Incremented(1),
        "the first increment after a reset"
    );
    assert_eq!(
        ok(store.count(ENV, &key, at(100)).await, "count"),
        1,
        "after a reset the new expires_at applies, not the old one"
    );
    ok(
        store.reset(ENV, &fresh_key("counter-none")).await,
        "reset of a missing counter",
    );
}

/// 200 concurrent increments against a limit of 50: exactly 50 `Incremented` (with the values
/// 1 to 50, once each), 150 `AtLimit(50)`, and a final value of 50.
pub async fn counter_has_exactly_limit_winners_under_contention<S: Store + Clone>(store: &S) {
    let key = fresh_key("counter-race");
    let results = race(200, |_| {
        let store = store.clone();
        let key = key.clone();
        async move { retried(|| store.increment(ENV, &key, 50, at(600), T0)).await }
    })
    .await;
    let results: Vec<Counted> = results.into_iter().map(|r| ok(r, "increment")).collect();
    let mut values: Vec<u64> = results
        .iter()
        .filter_map(|c| match c {
            Counted::Incremented(v) => Some(*v),
            Counted::AtLimit(_) => None,
        })
        .collect();
    values.sort_unstable();
    assert_eq!(
        values,
        (1..=50).collect::<Vec<u64>>(),
        "the values of the concurrent increments that got Incremented"
    );
    assert_eq!(
        count(&results, |c| *c == Counted::AtLimit(50)),
        150,
        "concurrent increments that got AtLimit(50)"
    );
    assert_eq!(
        ok(store.count(ENV, &key, at(1)).await, "count"),
        50,
        "the final value"
    );
}
