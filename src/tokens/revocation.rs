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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::Error;
use crate::directory::{ClientId, Environment, OrgDomain, UserId};
use crate::store::FamilyId;
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
    syncing: AtomicBool,
    poll_interval: Duration,
    max_staleness: Duration,
}

impl RevocationView {
    pub(crate) fn new(poll_interval: Duration, max_staleness: Duration) -> Self {
        Self {
            state: RwLock::new(State::default()),
            syncing: AtomicBool::new(false),
            poll_interval,
            max_staleness,
        }
    }

    /// Whether the token is revoked, catching up with the store first when the view is stale.
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
        let synced_at = self.read().synced_at;
        let fresh = synced_at.is_some_and(|at| now - at < self.poll_interval);
        if !fresh
            && let Err(e) = self.sync(store, env, now).await
            && synced_at.is_none_or(|at| now - at >= self.max_staleness)
        {
            return Err(e);
        }
        Ok(self.read().revoked(subject))
    }

    /// Catches up with the store's feed (one caller at a time; others keep using the view).
    async fn sync<S: RevocationStore>(
        &self,
        store: &S,
        env: Environment,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        if self.syncing.swap(true, Ordering::AcqRel) {
            // Another task is catching up right now; the view it leaves is at most this old.
            let synced_at = self.read().synced_at;
            return match synced_at {
                Some(at) if now - at < self.max_staleness => Ok(()),
                _ => Err(Error::Store(crate::store::StoreError::Retryable {
                    source: "the revocation view is catching up".into(),
                })),
            };
        }
        let cursor = self.read().cursor;
        let result = store.revocations_since(env, cursor, now).await;
        let outcome = match result {
            Ok(entries) => {
                let mut state = self.write();
                for (seq, r) in &entries {
                    state.apply(r);
                    state.cursor = state.cursor.max(*seq);
                }
                state.forget_lapsed(now);
                state.synced_at = Some(now);
                Ok(())
            }
            Err(e) => Err(Error::Store(e)),
        };
        self.syncing.store(false, Ordering::Release);
        outcome
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
