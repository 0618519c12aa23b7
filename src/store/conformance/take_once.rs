//! Conformance checks: take-once.

use super::*;

/// `put_once` on a key that exists — untaken, or taken and still remembered — answers
/// `AlreadyExists { key: "key" }` and keeps the first entry.
pub async fn put_once_refuses_an_existing_key<S: Store>(store: &S) {
    let key = fresh_key("put-dup");
    let first = one_time_entry(b"first", T0);
    ok(store.put_once(ENV, &key, &first, T0).await, "put_once");
    let second = one_time_entry(b"second", at(1));
    assert_eq!(
        Outcome::of(&store.put_once(ENV, &key, &second, at(1)).await),
        Outcome::AlreadyExists("key"),
        "put_once on an untaken key"
    );
    assert_eq!(
        ok(store.take(ENV, &key, at(2)).await, "take"),
        Take::Taken(b"first".to_vec()),
        "a refused put_once must keep the first entry"
    );
    assert_eq!(
        Outcome::of(&store.put_once(ENV, &key, &second, at(3)).await),
        Outcome::AlreadyExists("key"),
        "put_once on a taken key before its retain_until (reuse detection depends on it)"
    );
    assert_eq!(
        ok(store.take(ENV, &key, at(4)).await, "take"),
        Take::AlreadyTaken {
            payload: b"first".to_vec(),
            taken_at: at(2)
        },
        "a refused put_once must not revive a taken entry"
    );
}

/// The first `take` answers `Taken(payload)`; every later one until `retain_until` answers
/// `AlreadyTaken` with the payload and the time of the first.
pub async fn take_once_then_already_taken_with_payload_and_time<S: Store>(store: &S) {
    let key = fresh_key("take");
    let entry = one_time_entry(b"payload", T0);
    ok(store.put_once(ENV, &key, &entry, T0).await, "put_once");
    assert_eq!(
        ok(store.take(ENV, &key, at(30)).await, "take"),
        Take::Taken(b"payload".to_vec()),
        "the first take"
    );
    let taken = Take::AlreadyTaken {
        payload: b"payload".to_vec(),
        taken_at: at(30),
    };
    for now in [
        at(30),
        at(31),
        entry.expires_at,
        entry.retain_until - Duration::seconds(1),
    ] {
        assert_eq!(
            ok(store.take(ENV, &key, now).await, "take"),
            taken,
            "a later take at {now}"
        );
    }
}

/// An untaken entry is `Expired` at exactly its `expires_at` and after, and is never taken;
/// one second earlier it is taken.
pub async fn take_at_expires_at_is_expired_and_never_taken<S: Store>(store: &S) {
    let early = fresh_key("take-exp");
    let late = fresh_key("take-exp");
    let entry = one_time_entry(b"code", T0);
    ok(store.put_once(ENV, &early, &entry, T0).await, "put_once");
    ok(store.put_once(ENV, &late, &entry, T0).await, "put_once");
    assert_eq!(
        ok(
            store
                .take(ENV, &early, entry.expires_at - Duration::seconds(1))
                .await,
            "take"
        ),
        Take::Taken(b"code".to_vec()),
        "a take one second before expires_at"
    );
    for now in [entry.expires_at, entry.expires_at + Duration::seconds(1)] {
        assert_eq!(
            ok(store.take(ENV, &late, now).await, "take"),
            Take::Expired,
            "a take of an untaken entry at {now}, expires_at being {}",
            entry.expires_at
        );
    }
}

/// After `retain_until`, an entry — taken or not — is forgotten: `take` answers `Missing`.
pub async fn take_after_retain_until_is_missing<S: Store>(store: &S) {
    let taken = fresh_key("take-ret");
    let untaken = fresh_key("take-ret");
    let entry = one_time_entry(b"code", T0);
    ok(store.put_once(ENV, &taken, &entry, T0).await, "put_once");
    ok(store.put_once(ENV, &untaken, &entry, T0).await, "put_once");
    assert_eq!(
        ok(store.take(ENV, &taken, at(1)).await, "take"),
        Take::Taken(b"code".to_vec()),
        "the first take"
    );
    let after = entry.retain_until + Duration::seconds(1);
    assert_eq!(
        ok(store.take(ENV, &taken, after).await, "take"),
        Take::Missing,
        "a taken entry after its retain_until"
    );
    assert_eq!(
        ok(store.take(ENV, &untaken, after).await, "take"),
        Take::Missing,
        "an untaken entry after its retain_until"
    );
}

/// Once `retain_until` has passed, an entry is forgotten for `put_once` too: its key takes a
/// new entry, which is then taken afresh.
pub async fn put_once_accepts_a_key_forgotten_after_retain_until<S: Store>(store: &S) {
    let key = fresh_key("put-forgot");
    let old = one_time_entry(b"old", T0);
    ok(store.put_once(ENV, &key, &old, T0).await, "put_once");
    assert_eq!(
        ok(store.take(ENV, &key, at(1)).await, "take"),
        Take::Taken(b"old".to_vec()),
        "the first take"
    );
    let later = old.retain_until + Duration::seconds(1);
    ok(
        store
            .put_once(ENV, &key, &one_time_entry(b"new", later), later)
            .await,
        "put_once on a key whose entry was forgotten after its retain_until",
    );
    assert_eq!(
        ok(store.take(ENV, &key, later).await, "take"),
        Take::Taken(b"new".to_vec()),
        "the new entry must be taken afresh"
    );
}

/// `take` of a key never put answers `Missing`.
pub async fn take_of_an_unknown_key_is_missing<S: Store>(store: &S) {
    assert_eq!(
        ok(store.take(ENV, &fresh_key("take-none"), T0).await, "take"),
        Take::Missing,
        "a take of a key never put"
    );
}

/// 50 concurrent takes of one entry: exactly one `Taken`, 49 `AlreadyTaken` carrying the
/// payload and the winner's time.
pub async fn take_once_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let key = fresh_key("take-race");
    ok(
        store
            .put_once(ENV, &key, &one_time_entry(b"code", T0), T0)
            .await,
        "put_once",
    );
    let results = race(50, |_| {
        let store = store.clone();
        let key = key.clone();
        async move { retried(|| store.take(ENV, &key, at(1))).await }
    })
    .await;
    let results: Vec<Take> = results.into_iter().map(|r| ok(r, "take")).collect();
    assert_eq!(
        count(&results, |t| *t == Take::Taken(b"code".to_vec())),
        1,
        "concurrent takes of one entry that got Taken: {results:?}"
    );
    let already = Take::AlreadyTaken {
        payload: b"code".to_vec(),
        taken_at: at(1),
    };
    assert_eq!(
        count(&results, |t| *t == already),
        49,
        "concurrent takes of one entry that got AlreadyTaken with the payload"
    );
}
