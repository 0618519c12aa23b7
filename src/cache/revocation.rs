//! The in-process revocation view that makes live verification cost almost nothing.
//!
//! Each [`Identity`](crate::Identity) keeps a view of the store's revocation feed
//! ([`RevocationStore`]): denied token ids, denied grants, and per-user, per-organization and
//! per-client "not before" instants. Live verification checks the view with a read lock and a few hash
//! lookups; it never waits on the store, except to catch up with the feed when the view is older
//! than the poll interval.
//!
//! **Staleness.** Revocations made through this instance apply to its view at once (before the
//! revoking call returns). Revocations made by *another* instance sharing the store are seen
//! within `revocation_poll_interval` (default 500 ms) plus one store round trip: the first live
//! verification after the interval catches up with the feed. If catching up fails and the view
//! is older than `revocation_max_staleness` (default 5 s), live verification fails closed with
//! [`Error::Store`](crate::Error::Store).
//!
//! **Notices.** A store that hears of appends as they commit (PostgreSQL with
//! `PostgresStore::listen_for_revocations`: LISTEN/NOTIFY) says so through
//! [`RevocationStore::revocation_notices`]; when that number changed since the last catch-up,
//! the next live verification catches up at once, so another instance's revocation is seen
//! within milliseconds. The poll and the fail-closed bound above stay as they are, for when
//! the notices stop (the listening connection is down: the store answers `None`).
//!
//! **Catching up.** One task at a time reads the feed. While it does, other live verifications
//! answer from the view if it is younger than the maximum staleness; if it is older (a new
//! instance, or one idle for longer), they wait for that read and answer from what it leaves —
//! or fail closed if it failed. A read whose caller is dropped midway (a request timed out)
//! lets the next task read; it never leaves the view stuck.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::Error;
use crate::gate::{Gate, Left};
use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};
use crate::store::FamilyId;
use crate::store::StoreError;
use crate::store::tokens::{Revocation, RevocationStore};

/// What live verification asks of the view about one token.
/// User ids are unique across organizations (uuid v7), so the view keys users by id alone.
pub(crate) struct Subject<'a> {
    pub tenant: &'a OrgDomain,
    pub jti: Uuid,
    pub grant: Uuid,
    pub user_id: UserId,
    pub client_id: ClientId,
    pub issued_at: OffsetDateTime,
}

#[derive(Default)]
struct State {
    cursor: u64,
    synced_at: Option<OffsetDateTime>,
    /// The store's [`RevocationStore::revocation_notices`] when the last catch-up began.
    notices: Option<u64>,
    tokens: HashMap<Uuid, OffsetDateTime>,
    grants: HashMap<Uuid, OffsetDateTime>,
    users: HashMap<UserId, (OffsetDateTime, OffsetDateTime)>,
    organizations: HashMap<OrgDomain, (OffsetDateTime, OffsetDateTime)>,
    clients: HashMap<ClientId, (OffsetDateTime, OffsetDateTime)>,
}

impl State {
    fn apply(&mut self, r: &Revocation) {
        match r {
            Revocation::Token { jti, expires_at } => {
                self.tokens.insert(*jti, *expires_at);
            }
            Revocation::Grant {
                family: FamilyId(id),
                expires_at,
            } => {
                self.grants.insert(*id, *expires_at);
            }
            Revocation::User {
                user_id,
                not_before,
                expires_at,
                ..
            } => {
                let slot = self
                    .users
                    .entry(*user_id)
                    .or_insert((*not_before, *expires_at));
                if *not_before >= slot.0 {
                    *slot = (*not_before, *expires_at);
                }
            }
            Revocation::Organization {
                org,
                not_before,
                expires_at,
                ..
            } => {
                let slot = self
                    .organizations
                    .entry(org.clone())
                    .or_insert((*not_before, *expires_at));
                if *not_before >= slot.0 {
                    *slot = (*not_before, *expires_at);
                }
            }
            Revocation::Client {
                client_id,
                not_before,
                expires_at,
            } => {
                let slot = self
                    .clients
                    .entry(*client_id)
                    .or_insert((*not_before, *expires_at));
                if *not_before >= slot.0 {
                    *slot = (*not_before, *expires_at);
                }
            }
        }
    }

    fn forget_lapsed(&mut self, now: OffsetDateTime) {
        self.tokens.retain(|_, until| now < *until);
        self.grants.retain(|_, until| now < *until);
        self.users.retain(|_, (_, until)| now < *until);
        self.organizations.retain(|_, (_, until)| now < *until);
        self.clients.retain(|_, (_, until)| now < *until);
    }

    fn revoked(&self, s: &Subject<'_>) -> bool {
        self.tokens.contains_key(&s.jti)
            || self.grants.contains_key(&s.grant)
            || self
                .users
                .get(&s.user_id)
                .is_some_and(|(nbf, _)| s.issued_at < *nbf)
            || self
                .clients
                .get(&s.client_id)
                .is_some_and(|(nbf, _)| s.issued_at < *nbf)
            // Deleted organizations are rare: no hashing of the tenant while there are none.
            || (!self.organizations.is_empty()
                && self
                    .organizations
                    .get(s.tenant)
                    .is_some_and(|(nbf, _)| s.issued_at < *nbf))
    }
}

/// The view; one per [`Identity`](crate::Identity).
pub(crate) struct RevocationView {
    state: RwLock<State>,
    catch_up: Gate,
    poll_interval: Duration,
    max_staleness: Duration,
}

impl RevocationView {
    pub(crate) fn new(poll_interval: Duration, max_staleness: Duration) -> Self {
        Self {
            state: RwLock::new(State::default()),
            catch_up: Gate::default(),
            poll_interval,
            max_staleness,
        }
    }

    /// Whether the token is revoked, catching up with the store first when the view is stale.
    ///
    /// One task at a time reads the feed. While it does, the others answer from the view if it
    /// is younger than the maximum staleness, and otherwise (a new instance, or one idle for
    /// longer) wait for that read and answer from what it leaves.
    ///
    /// # Errors
    /// [`Error::Store`] when the view is older than the maximum staleness and cannot catch up.
    pub(crate) async fn is_revoked<S: RevocationStore>(
        &self,
        store: &S,
        env: Environment,
        subject: &Subject<'_>,
        now: OffsetDateTime,
    ) -> Result<bool, Error> {
        let notices = store.revocation_notices();
        {
            // One read lock on the hot path (readers of one lock share its cache line).
            let state = self.read();
            if state.notices == notices
                && state
                    .synced_at
                    .is_some_and(|at| now - at < self.poll_interval)
            {
                return Ok(state.revoked(subject));
            }
        }
        // Cold: boxed, so the hot path's future stays small.
        Box::pin(self.catch_up(store, env, now)).await?;
        Ok(self.read().revoked(subject))
    }

    /// Brings the view up to date, or confirms that it is young enough to answer from.
    async fn catch_up<S: RevocationStore>(
        &self,
        store: &S,
        env: Environment,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let usable = || {
            self.read()
                .synced_at
                .is_some_and(|at| now - at < self.max_staleness)
        };
        loop {
            let Some(reading) = self.catch_up.enter() else {
                // Another task is reading the feed right now.
                if usable() {
                    return Ok(());
                }
                match self.catch_up.wait().await {
                    _ if usable() => return Ok(()),
                    Left::Failed => {
                        return Err(Error::Store(StoreError::Backend {
                            source: "the revocation feed could not be read".into(),
                        }));
                    }
                    // The reader gave up midway (its caller dropped it): read here.
                    Left::Read | Left::Abandoned => continue,
                }
            };
            let cursor = self.read().cursor;
            // Read before the feed: a notice arriving during the read makes the next call
            // catch up again.
            let notices = store.revocation_notices();
            // Dropping this future mid-read drops `reading`, which reopens the gate.
            let result = store.revocations_since(env, cursor, now).await;
            return match result {
                Ok(entries) => {
                    let mut state = self.write();
                    for (seq, r) in &entries {
                        state.apply(r);
                        state.cursor = state.cursor.max(*seq);
                    }
                    state.forget_lapsed(now);
                    state.synced_at = Some(now);
                    state.notices = notices;
                    drop(state);
                    reading.leave(Left::Read);
                    Ok(())
                }
                Err(e) => {
                    reading.leave(Left::Failed);
                    if usable() {
                        Ok(())
                    } else {
                        Err(Error::Store(e))
                    }
                }
            };
        }
    }

    /// Applies a revocation this instance just stored (the feed will bring it again; applying is
    /// idempotent).
    pub(crate) fn apply_local(&self, revocation: &Revocation) {
        self.write().apply(revocation);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    use super::*;

    /// A feed whose reads wait until it is opened, then answer (an error if `fails`).
    struct Feed {
        open: AtomicBool,
        fails: bool,
        reads: AtomicUsize,
        /// What `revocation_notices` answers (`u64::MAX`: `None`).
        notices: std::sync::atomic::AtomicU64,
    }

    impl Feed {
        fn new(fails: bool) -> Self {
            Self {
                open: AtomicBool::new(false),
                fails,
                reads: AtomicUsize::new(0),
                notices: std::sync::atomic::AtomicU64::new(u64::MAX),
            }
        }
    }

    impl RevocationStore for Feed {
        async fn record_revocation(
            &self,
            _env: Environment,
            _revocation: &Revocation,
        ) -> Result<u64, StoreError> {
            Ok(1)
        }

        fn revocations_since(
            &self,
            _env: Environment,
            _after: u64,
            _now: OffsetDateTime,
        ) -> impl Future<Output = Result<Vec<(u64, Revocation)>, StoreError>> + Send {
            self.reads.fetch_add(1, Ordering::SeqCst);
            std::future::poll_fn(move |_| {
                if !self.open.load(Ordering::SeqCst) {
                    Poll::Pending
                } else if self.fails {
                    Poll::Ready(Err(StoreError::Backend {
                        source: "down".into(),
                    }))
                } else {
                    Poll::Ready(Ok(Vec::new()))
                }
            })
        }

        fn revocation_notices(&self) -> Option<u64> {
            Some(self.notices.load(Ordering::SeqCst)).filter(|n| *n != u64::MAX)
        }
    }

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn subject(tenant: &OrgDomain) -> Subject<'_> {
        Subject {
            tenant,
            jti: Uuid::nil(),
            grant: Uuid::nil(),
            user_id: UserId::from_uuid(Uuid::nil()),
            client_id: ClientId::from_uuid(Uuid::nil()),
            issued_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn view() -> RevocationView {
        RevocationView::new(Duration::milliseconds(500), Duration::seconds(5))
    }

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    #[test]
    fn a_task_finding_the_view_cold_waits_for_the_read_in_flight() {
        let (view, feed, tenant) = (view(), Feed::new(false), OrgDomain::parse("acme").unwrap());
        let s = subject(&tenant);
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut reader = pin!(view.is_revoked(&feed, Environment::Production, &s, NOW));
        let mut waiter = pin!(view.is_revoked(&feed, Environment::Production, &s, NOW));
        assert!(reader.as_mut().poll(&mut cx).is_pending());
        assert!(waiter.as_mut().poll(&mut cx).is_pending());
        feed.open.store(true, Ordering::SeqCst);
        assert!(matches!(
            reader.as_mut().poll(&mut cx),
            Poll::Ready(Ok(false))
        ));
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            1,
            "the waiter is woken once"
        );
        assert!(matches!(
            waiter.as_mut().poll(&mut cx),
            Poll::Ready(Ok(false))
        ));
        assert_eq!(feed.reads.load(Ordering::SeqCst), 1, "one read served both");
    }

    #[test]
    fn a_waiting_task_fails_closed_when_the_read_fails() {
        let (view, feed, tenant) = (view(), Feed::new(true), OrgDomain::parse("acme").unwrap());
        let s = subject(&tenant);
        let mut cx = Context::from_waker(Waker::noop());
        let mut reader = pin!(view.is_revoked(&feed, Environment::Production, &s, NOW));
        let mut waiter = pin!(view.is_revoked(&feed, Environment::Production, &s, NOW));
        assert!(reader.as_mut().poll(&mut cx).is_pending());
        assert!(waiter.as_mut().poll(&mut cx).is_pending());
        feed.open.store(true, Ordering::SeqCst);
        assert!(matches!(
            reader.as_mut().poll(&mut cx),
            Poll::Ready(Err(Error::Store(StoreError::Backend { .. })))
        ));
        assert!(matches!(
            waiter.as_mut().poll(&mut cx),
            Poll::Ready(Err(Error::Store(StoreError::Backend { .. })))
        ));
    }

    #[test]
    fn a_read_dropped_midway_lets_the_waiting_task_read() {
        let (view, feed, tenant) = (view(), Feed::new(false), OrgDomain::parse("acme").unwrap());
        let s = subject(&tenant);
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut reader = Box::pin(view.is_revoked(&feed, Environment::Production, &s, NOW));
        let mut waiter = pin!(view.is_revoked(&feed, Environment::Production, &s, NOW));
        assert!(reader.as_mut().poll(&mut cx).is_pending());
        assert!(waiter.as_mut().poll(&mut cx).is_pending());
        drop(reader); // its caller gave up (a request timeout)
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "the waiter is woken");
        assert!(
            waiter.as_mut().poll(&mut cx).is_pending(),
            "it reads itself"
        );
        assert_eq!(feed.reads.load(Ordering::SeqCst), 2);
        feed.open.store(true, Ordering::SeqCst);
        assert!(matches!(
            waiter.as_mut().poll(&mut cx),
            Poll::Ready(Ok(false))
        ));
        // And later callers find the view fresh, without a read.
        let later = pin!(view.is_revoked(&feed, Environment::Production, &s, NOW));
        assert!(matches!(later.poll(&mut cx), Poll::Ready(Ok(false))));
        assert_eq!(feed.reads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_view_young_enough_answers_while_another_task_reads() {
        let (view, feed, tenant) = (view(), Feed::new(false), OrgDomain::parse("acme").unwrap());
        let s = subject(&tenant);
        view.write().synced_at = Some(NOW);
        let later = NOW + Duration::seconds(1); // past the poll interval, within the staleness
        let mut cx = Context::from_waker(Waker::noop());
        let mut reader = pin!(view.is_revoked(&feed, Environment::Production, &s, later));
        assert!(reader.as_mut().poll(&mut cx).is_pending());
        let other = pin!(view.is_revoked(&feed, Environment::Production, &s, later));
        assert!(matches!(other.poll(&mut cx), Poll::Ready(Ok(false))));
        assert_eq!(feed.reads.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_changed_notice_catches_up_at_once_and_an_unchanged_one_waits_for_the_poll() {
        let (view, feed, tenant) = (view(), Feed::new(false), OrgDomain::parse("acme").unwrap());
        feed.open.store(true, Ordering::SeqCst);
        let s = subject(&tenant);
        let mut cx = Context::from_waker(Waker::noop());
        let mut check = |at| {
            let answer =
                pin!(view.is_revoked(&feed, Environment::Production, &s, at)).poll(&mut cx);
            assert!(matches!(answer, Poll::Ready(Ok(false))));
            feed.reads.load(Ordering::SeqCst)
        };
        let soon = NOW + Duration::milliseconds(10);
        assert_eq!(check(NOW), 1, "cold: read");
        assert_eq!(
            check(soon),
            1,
            "within the poll interval, no notice: no read"
        );
        feed.notices.store(7, Ordering::SeqCst);
        assert_eq!(check(soon), 2, "notices appeared: read at once");
        assert_eq!(check(soon), 2, "the same notices: no read");
        feed.notices.store(8, Ordering::SeqCst);
        assert_eq!(check(soon), 3, "a new notice: read at once");
        feed.notices.store(u64::MAX, Ordering::SeqCst);
        assert_eq!(check(soon), 4, "the listener went away: read once more");
        assert_eq!(check(soon), 4, "then poll as before");
        assert_eq!(
            check(NOW + Duration::milliseconds(600)),
            5,
            "the poll still runs"
        );
    }
}
