//! The public store conformance suite, run against [`MemoryStore`].

use idcore::MemoryStore;
use idcore::store::conformance;

/// A fresh store per test: nothing else writes to it, so environment-wide totals are exact.
async fn make() -> MemoryStore {
    MemoryStore::new()
}

idcore::conformance_tests!(make, conformance::Isolation::Exclusive);

/// The restart checks are for durable stores; on one live MemoryStore (no restart in between)
/// the pair must agree with itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_checks_hold_on_a_live_store() {
    let store = MemoryStore::new();
    let state = conformance::restart_prepare(&store).await;
    conformance::restart_verify(&store, state).await;
}

/// MemoryStore forgets everything when it is dropped, and `restart_verify` catches that.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[should_panic(expected = "a code used before the restart must stay used")]
async fn restart_verify_catches_a_store_that_forgets() {
    let state = conformance::restart_prepare(&MemoryStore::new()).await;
    conformance::restart_verify(&MemoryStore::new(), state).await;
}
