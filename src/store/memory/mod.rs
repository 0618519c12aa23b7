//! [`MemoryStore`]: the embedded store, exact under multi-threaded contention.
//!
//! Each aggregate sits behind its own mutex (per environment); every check-then-act happens
//! inside one critical section, and no lock is held across an `.await`. Where a write also
//! records an audit event, the aggregate's lock is taken first and the audit lock second — the
//! only lock order in this file — so the record and its event appear together.
//!
//! Nothing survives the process: use the SQLite or PostgreSQL adapters for durability.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Advance, ApplicationStore, AuditStore, Counted, CounterStore, FamilyId, Key, Mark,
    OneTimeEntry, OneTimeStore, OrganizationStore, RefreshState, RefreshTokenRecord,
    RefreshTokenStore, ReplayStore, Rotation, StoreError, Take, UserStore, event_after,
    newest_after,
};
use crate::model::application::{Application, ApplicationScope};
use crate::model::event::{Event, EventQuery, NewEvent};
use crate::model::fields::Email;
use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};
use crate::model::organization::Organization;
use crate::model::user::User;
use crate::page::PageRequest;
use crate::secret::Digest;

mod tokens;

mod api_keys;
mod claims;
mod credentials;
mod sessions;
mod sets;
mod sso;

/// Newest-first ordering key: `inserted_at` descending, then id descending.
type Newest = Reverse<(OffsetDateTime, Uuid)>;

fn newest(at: OffsetDateTime, id: Uuid) -> Newest {
    Reverse((at, id))
}

/// One page of index entries, and the index's length.
type IndexPage<'a, T> = (Vec<&'a (Newest, T)>, u64);

/// The page `page` of an ordered index (by number, or by keyset after the page's cursor), and
/// the index's length.
fn page_of<'a, T: 'a, I>(
    index: I,
    len: usize,
    page: PageRequest,
) -> Result<IndexPage<'a, T>, StoreError>
where
    I: Iterator<Item = &'a (Newest, T)>,
{
    let per_page = page.per_page() as usize;
    let items = match newest_after(&page)? {
        // Keyset: everything up to and including the cursor's key sorts before it.
        Some((at, id)) => {
            let cursor = newest(at, id);
            index
                .skip_while(|(key, _)| *key <= cursor)
                .take(per_page)
                .collect()
        }
        None => {
            let offset = usize::try_from(page.offset()).unwrap_or(usize::MAX);
            index.skip(offset).take(per_page).collect()
        }
    };
    Ok((items, len as u64))
}

/// Drops the entries `keep` rejects once the map has doubled since the last sweep, so expired
/// entries cannot pile up while each insert stays amortized O(1).
fn sweep<V>(map: &mut HashMap<Key, V>, keep: impl FnMut(&V) -> bool) {
    let mut keep = keep;
    if map.len() >= 1024 && map.len().is_power_of_two() {
        map.retain(|_, v| keep(v));
    }
}

/// Locks a mutex; a panic in another thread while holding it cannot leave our maps half-updated
/// (every critical section validates before it mutates), so a poisoned lock is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The embedded in-memory store. Clones share the same data.
///
/// ```
/// let store = idcore::MemoryStore::new();
/// let shared = store.clone(); // same data
/// # drop(shared);
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

#[derive(Default)]
struct Inner {
    sandbox: Env,
    production: Env,
    next_event_id: AtomicI64,
    tokens: tokens::TokenState,
}

#[derive(Default)]
struct Env {
    orgs: Mutex<Orgs>,
    users: Mutex<Users>,
    apps: Mutex<Apps>,
    events: Mutex<Vec<Event>>,
    one_time: Mutex<HashMap<Key, OneTimeSlot>>,
    refresh: Mutex<Refresh>,
    counters: Mutex<HashMap<Key, (u64, OffsetDateTime)>>,
    marks: Mutex<HashMap<Key, OffsetDateTime>>,
    steps: Mutex<HashMap<Key, u64>>,
    credentials: Mutex<credentials::Credentials>,
    sets: Mutex<HashMap<Key, sets::Set>>,
    sessions: Mutex<sessions::Sessions>,
    api_keys: Mutex<api_keys::ApiKeys>,
    claims: Mutex<claims::Schemas>,
    sso: Mutex<sso::Connections>,
}

#[derive(Default)]
struct Orgs {
    by_domain: HashMap<OrgDomain, Organization>,
    ids: HashSet<Uuid>,
    live: BTreeSet<(Newest, OrgDomain)>,
}

#[derive(Default)]
struct Users {
    by_id: HashMap<(OrgDomain, UserId), User>,
    by_email: HashMap<(OrgDomain, String), UserId>,
    ids: HashSet<UserId>,
    order: HashMap<OrgDomain, BTreeSet<(Newest, UserId)>>,
}

#[derive(Default)]
struct Apps {
    by_id: HashMap<ClientId, Application>,
    live: HashMap<ApplicationScope, BTreeSet<(Newest, ClientId)>>,
}

struct OneTimeSlot {
    entry: OneTimeEntry,
    taken_at: Option<OffsetDateTime>,
}

#[derive(Default)]
struct Refresh {
    by_digest: HashMap<[u8; 32], RefreshTokenRecord>,
    families: HashMap<FamilyId, Vec<[u8; 32]>>,
    by_user: HashMap<(OrgDomain, UserId), HashSet<FamilyId>>,
    by_client: HashMap<ClientId, HashSet<FamilyId>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn env(&self, env: Environment) -> &Env {
        match env {
            Environment::Sandbox => &self.inner.sandbox,
            Environment::Production => &self.inner.production,
        }
    }

    fn append_event(&self, env: Environment, event: &NewEvent) -> Event {
        let id = self.inner.next_event_id.fetch_add(1, Ordering::SeqCst) + 1;
        let event = Event::from_new(id, env, event);
        // Ids are taken under the events lock's protection only for ordering within the vector:
        // take the lock, then push, so the vector stays sorted by id.
        let mut events = lock(&self.env(env).events);
        let at = events.partition_point(|e| e.id < id);
        events.insert(at, event.clone());
        event
    }
}

impl OrganizationStore for MemoryStore {
    async fn insert_organization(
        &self,
        env: Environment,
        org: &Organization,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut orgs = lock(&self.env(env).orgs);
        if orgs.by_domain.contains_key(&org.domain) {
            return Err(StoreError::AlreadyExists { key: "domain" });
        }
        if orgs.ids.contains(&org.id.as_uuid()) {
            return Err(StoreError::AlreadyExists { key: "id" });
        }
        orgs.ids.insert(org.id.as_uuid());
        if org.deleted_at.is_none() {
            orgs.live.insert((
                newest(org.inserted_at, org.id.as_uuid()),
                org.domain.clone(),
            ));
        }
        orgs.by_domain.insert(org.domain.clone(), org.clone());
        self.append_event(env, event);
        Ok(())
    }

    async fn organization(
        &self,
        env: Environment,
        domain: &OrgDomain,
    ) -> Result<Option<Organization>, StoreError> {
        Ok(lock(&self.env(env).orgs).by_domain.get(domain).cloned())
    }

    async fn update_organization(
        &self,
        env: Environment,
        org: &Organization,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut orgs = lock(&self.env(env).orgs);
        let stored = orgs
            .by_domain
            .get_mut(&org.domain)
            .ok_or(StoreError::NotFound)?;
        if stored.id != org.id {
            return Err(StoreError::NotFound);
        }
        if stored.version != expected_version || stored.deleted_at.is_some() {
            return Err(StoreError::Precondition);
        }
        // The ordering key (inserted_at, id) never changes, so the index stays valid.
        let mut next = org.clone();
        next.inserted_at = stored.inserted_at;
        *stored = next;
        self.append_event(env, event);
        Ok(())
    }

    async fn delete_organization(
        &self,
        env: Environment,
        domain: &OrgDomain,
        deleted_at: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Organization, StoreError> {
        let mut guard = lock(&self.env(env).orgs);
        let orgs = &mut *guard;
        let stored = orgs.by_domain.get_mut(domain).ok_or(StoreError::NotFound)?;
        if stored.deleted_at.is_some() {
            return Err(StoreError::NotFound);
        }
        stored.deleted_at = Some(deleted_at);
        stored.updated_at = deleted_at;
        stored.version += 1;
        let key = (
            newest(stored.inserted_at, stored.id.as_uuid()),
            domain.clone(),
        );
        let tombstone = stored.clone();
        orgs.live.remove(&key);
        self.append_event(env, event);
        Ok(tombstone)
    }

    async fn list_organizations(
        &self,
        env: Environment,
        page: PageRequest,
    ) -> Result<(Vec<Organization>, u64), StoreError> {
        let orgs = lock(&self.env(env).orgs);
        let (keys, total) = page_of(orgs.live.iter(), orgs.live.len(), page)?;
        let data = keys
            .into_iter()
            .filter_map(|(_, d)| orgs.by_domain.get(d).cloned())
            .collect();
        Ok((data, total))
    }
}

impl UserStore for MemoryStore {
    async fn insert_user(
        &self,
        env: Environment,
        user: &User,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut users = lock(&self.env(env).users);
        if users.ids.contains(&user.id) {
            return Err(StoreError::AlreadyExists { key: "id" });
        }
        let email_key = (user.org.clone(), user.profile.email.key());
        if users.by_email.contains_key(&email_key) {
            return Err(StoreError::AlreadyExists { key: "email" });
        }
        users.ids.insert(user.id);
        users.by_email.insert(email_key, user.id);
        users
            .order
            .entry(user.org.clone())
            .or_default()
            .insert((newest(user.inserted_at, user.id.as_uuid()), user.id));
        users
            .by_id
            .insert((user.org.clone(), user.id), user.clone());
        self.append_event(env, event);
        Ok(())
    }

    async fn user(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: UserId,
    ) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.env(env).users)
            .by_id
            .get(&(org.clone(), id))
            .cloned())
    }

    async fn live_user(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: UserId,
    ) -> Result<Option<User>, StoreError> {
        // The organization's liveness under its lock, without copying it; then the user.
        let live = lock(&self.env(env).orgs)
            .by_domain
            .get(org)
            .is_some_and(|o| o.deleted_at.is_none());
        if !live {
            return Ok(None);
        }
        self.user(env, org, id).await
    }

    async fn user_by_email(
        &self,
        env: Environment,
        org: &OrgDomain,
        email: &Email,
    ) -> Result<Option<User>, StoreError> {
        let users = lock(&self.env(env).users);
        let found = users
            .by_email
            .get(&(org.clone(), email.key()))
            .and_then(|id| users.by_id.get(&(org.clone(), *id)))
            .cloned();
        Ok(found)
    }

    async fn update_user(
        &self,
        env: Environment,
        user: &User,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut guard = lock(&self.env(env).users);
        let users = &mut *guard;
        let key = (user.org.clone(), user.id);
        let stored = users.by_id.get(&key).ok_or(StoreError::NotFound)?;
        if stored.version != expected_version {
            return Err(StoreError::Precondition);
        }
        let old_email = (user.org.clone(), stored.profile.email.key());
        let new_email = (user.org.clone(), user.profile.email.key());
        if old_email != new_email {
            if users.by_email.contains_key(&new_email) {
                return Err(StoreError::AlreadyExists { key: "email" });
            }
            users.by_email.remove(&old_email);
            users.by_email.insert(new_email, user.id);
        }
        let mut next = user.clone();
        next.inserted_at = stored.inserted_at;
        users.by_id.insert(key, next);
        self.append_event(env, event);
        Ok(())
    }

    async fn list_users(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<User>, u64), StoreError> {
        let users = lock(&self.env(env).users);
        let Some(order) = users.order.get(org) else {
            return Ok((Vec::new(), 0));
        };
        let (keys, total) = page_of(order.iter(), order.len(), page)?;
        let data = keys
            .into_iter()
            .filter_map(|(_, id)| users.by_id.get(&(org.clone(), *id)).cloned())
            .collect();
        Ok((data, total))
    }
}

impl ApplicationStore for MemoryStore {
    async fn insert_application(
        &self,
        env: Environment,
        app: &Application,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut apps = lock(&self.env(env).apps);
        if apps.by_id.contains_key(&app.client_id) {
            return Err(StoreError::AlreadyExists { key: "client_id" });
        }
        if app.deleted_at.is_none() {
            apps.live.entry(app.scope.clone()).or_default().insert((
                newest(app.inserted_at, app.client_id.as_uuid()),
                app.client_id,
            ));
        }
        apps.by_id.insert(app.client_id, app.clone());
        self.append_event(env, event);
        Ok(())
    }

    async fn application(
        &self,
        env: Environment,
        client_id: ClientId,
    ) -> Result<Option<Application>, StoreError> {
        Ok(lock(&self.env(env).apps).by_id.get(&client_id).cloned())
    }

    async fn update_application(
        &self,
        env: Environment,
        app: &Application,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut apps = lock(&self.env(env).apps);
        let stored = apps
            .by_id
            .get_mut(&app.client_id)
            .ok_or(StoreError::NotFound)?;
        if stored.scope != app.scope {
            return Err(StoreError::NotFound);
        }
        if stored.version != expected_version || stored.deleted_at.is_some() {
            return Err(StoreError::Precondition);
        }
        let mut next = app.clone();
        next.inserted_at = stored.inserted_at;
        *stored = next;
        self.append_event(env, event);
        Ok(())
    }

    async fn delete_application(
        &self,
        env: Environment,
        client_id: ClientId,
        deleted_at: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Application, StoreError> {
        let mut guard = lock(&self.env(env).apps);
        let apps = &mut *guard;
        let stored = apps.by_id.get_mut(&client_id).ok_or(StoreError::NotFound)?;
        if stored.deleted_at.is_some() {
            return Err(StoreError::NotFound);
        }
        stored.deleted_at = Some(deleted_at);
        stored.updated_at = deleted_at;
        stored.version += 1;
        let tombstone = stored.clone();
        if let Some(live) = apps.live.get_mut(&tombstone.scope) {
            live.remove(&(
                newest(tombstone.inserted_at, client_id.as_uuid()),
                client_id,
            ));
        }
        self.append_event(env, event);
        Ok(tombstone)
    }

    async fn list_applications(
        &self,
        env: Environment,
        scope: &ApplicationScope,
        page: PageRequest,
    ) -> Result<(Vec<Application>, u64), StoreError> {
        let apps = lock(&self.env(env).apps);
        let Some(live) = apps.live.get(scope) else {
            return Ok((Vec::new(), 0));
        };
        let (keys, total) = page_of(live.iter(), live.len(), page)?;
        let data = keys
            .into_iter()
            .filter_map(|(_, id)| apps.by_id.get(id).cloned())
            .collect();
        Ok((data, total))
    }
}

impl AuditStore for MemoryStore {
    async fn record_event(&self, env: Environment, event: &NewEvent) -> Result<Event, StoreError> {
        Ok(self.append_event(env, event))
    }

    /// Scans the environment's events newest first: O(events) per query. The durable adapters
    /// answer from indexes.
    async fn events(
        &self,
        env: Environment,
        query: &EventQuery,
        page: PageRequest,
    ) -> Result<(Vec<Event>, u64), StoreError> {
        let after = event_after(&page)?;
        let events = lock(&self.env(env).events);
        // By number: skip `offset` matches. By keyset: skip the matches at or above the cursor.
        let offset = match after {
            Some(_) => 0,
            None => usize::try_from(page.offset()).unwrap_or(usize::MAX),
        };
        let mut total = 0u64;
        let mut skipped = 0usize;
        let mut data = Vec::new();
        for e in events.iter().rev().filter(|e| query.matches(e)) {
            total += 1;
            if after.is_some_and(|id| e.id >= id) {
                continue;
            }
            if skipped < offset {
                skipped += 1;
            } else if data.len() < page.per_page() as usize {
                data.push(e.clone());
            }
        }
        Ok((data, total))
    }
}

impl OneTimeStore for MemoryStore {
    async fn put_once(
        &self,
        env: Environment,
        key: &Key,
        entry: &OneTimeEntry,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut slots = lock(&self.env(env).one_time);
        sweep(&mut slots, |s| now < s.entry.retain_until);
        // An entry past its retain_until is forgotten (`take` answers Missing): its key is free.
        if slots.get(key).is_some_and(|s| now < s.entry.retain_until) {
            return Err(StoreError::AlreadyExists { key: "key" });
        }
        slots.insert(
            key.clone(),
            OneTimeSlot {
                entry: entry.clone(),
                taken_at: None,
            },
        );
        Ok(())
    }

    async fn peek_once(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let slots = lock(&self.env(env).one_time);
        Ok(slots
            .get(key)
            .filter(|s| s.taken_at.is_none() && now < s.entry.expires_at)
            .map(|s| s.entry.payload.clone()))
    }

    async fn take(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<Take, StoreError> {
        let mut slots = lock(&self.env(env).one_time);
        let Some(slot) = slots.get_mut(key) else {
            return Ok(Take::Missing);
        };
        if now >= slot.entry.retain_until {
            slots.remove(key);
            return Ok(Take::Missing);
        }
        Ok(match slot.taken_at {
            Some(taken_at) => Take::AlreadyTaken {
                payload: slot.entry.payload.clone(),
                taken_at,
            },
            None if now >= slot.entry.expires_at => Take::Expired,
            None => {
                slot.taken_at = Some(now);
                Take::Taken(slot.entry.payload.clone())
            }
        })
    }
}

impl Refresh {
    /// Revokes every live token of the given families; returns how many changed.
    fn revoke_families<'a>(
        &mut self,
        families: impl IntoIterator<Item = &'a FamilyId>,
        now: OffsetDateTime,
    ) -> u64 {
        let mut changed = 0;
        for family in families {
            for digest in self.families.get(family).into_iter().flatten() {
                if let Some(record) = self.by_digest.get_mut(digest)
                    && !matches!(record.state, RefreshState::Revoked { .. })
                {
                    record.state = RefreshState::Revoked { at: now };
                    changed += 1;
                }
            }
        }
        changed
    }
}

impl RefreshTokenStore for MemoryStore {
    async fn insert_refresh_token(
        &self,
        env: Environment,
        record: &RefreshTokenRecord,
    ) -> Result<(), StoreError> {
        let mut guard = lock(&self.env(env).refresh);
        let refresh = &mut *guard;
        let digest = *record.digest.as_bytes();
        if refresh.by_digest.contains_key(&digest) {
            return Err(StoreError::AlreadyExists { key: "digest" });
        }
        refresh.by_digest.insert(digest, record.clone());
        refresh
            .families
            .entry(record.family)
            .or_default()
            .push(digest);
        refresh
            .by_user
            .entry((record.org.clone(), record.user_id))
            .or_default()
            .insert(record.family);
        refresh
            .by_client
            .entry(record.client_id)
            .or_default()
            .insert(record.family);
        Ok(())
    }

    async fn refresh_token(
        &self,
        env: Environment,
        digest: &Digest,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        Ok(lock(&self.env(env).refresh)
            .by_digest
            .get(digest.as_bytes())
            .cloned())
    }

    async fn rotate_refresh_token(
        &self,
        env: Environment,
        old: &Digest,
        successor: &RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        let mut guard = lock(&self.env(env).refresh);
        let refresh = &mut *guard;
        let Some(stored) = refresh.by_digest.get(old.as_bytes()) else {
            return Ok(Rotation::Missing);
        };
        if stored.state != RefreshState::Active {
            return Ok(Rotation::NotCurrent(stored.clone()));
        }
        if now >= stored.expires_at {
            return Ok(Rotation::Expired(stored.clone()));
        }
        let new_digest = *successor.digest.as_bytes();
        if refresh.by_digest.contains_key(&new_digest) {
            return Err(StoreError::AlreadyExists { key: "digest" });
        }
        if successor.family != stored.family || successor.state != RefreshState::Active {
            return Err(StoreError::Precondition);
        }
        let before = stored.clone();
        if let Some(stored) = refresh.by_digest.get_mut(old.as_bytes()) {
            stored.state = RefreshState::Rotated {
                at: now,
                successor: successor.digest,
            };
        }
        refresh.by_digest.insert(new_digest, successor.clone());
        refresh
            .families
            .entry(successor.family)
            .or_default()
            .push(new_digest);
        Ok(Rotation::Rotated(before))
    }

    async fn revoke_family(
        &self,
        env: Environment,
        family: FamilyId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        Ok(lock(&self.env(env).refresh).revoke_families([&family], now))
    }

    async fn revoke_user_refresh_tokens(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut guard = lock(&self.env(env).refresh);
        let families: Vec<FamilyId> = guard
            .by_user
            .get(&(org.clone(), user_id))
            .map(|f| f.iter().copied().collect())
            .unwrap_or_default();
        Ok(guard.revoke_families(&families, now))
    }

    async fn revoke_client_refresh_tokens(
        &self,
        env: Environment,
        client_id: ClientId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut guard = lock(&self.env(env).refresh);
        let families: Vec<FamilyId> = guard
            .by_client
            .get(&client_id)
            .map(|f| f.iter().copied().collect())
            .unwrap_or_default();
        Ok(guard.revoke_families(&families, now))
    }
}

impl CounterStore for MemoryStore {
    async fn increment(
        &self,
        env: Environment,
        key: &Key,
        limit: u64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Counted, StoreError> {
        let mut counters = lock(&self.env(env).counters);
        sweep(&mut counters, |slot| now < slot.1);
        let slot = counters.entry(key.clone()).or_insert((0, expires_at));
        if now >= slot.1 || slot.0 == 0 {
            *slot = (0, expires_at);
        }
        if slot.0 >= limit {
            return Ok(Counted::AtLimit(slot.0));
        }
        slot.0 += 1;
        Ok(Counted::Incremented(slot.0))
    }

    async fn decrement(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut counters = lock(&self.env(env).counters);
        match counters.get_mut(key) {
            Some(slot) if now < slot.1 => {
                slot.0 = slot.0.saturating_sub(1);
                Ok(slot.0)
            }
            _ => Ok(0),
        }
    }

    async fn count(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let counters = lock(&self.env(env).counters);
        Ok(counters
            .get(key)
            .filter(|slot| now < slot.1)
            .map_or(0, |slot| slot.0))
    }

    async fn reset(&self, env: Environment, key: &Key) -> Result<(), StoreError> {
        lock(&self.env(env).counters).remove(key);
        Ok(())
    }
}

impl ReplayStore for MemoryStore {
    async fn mark_once(
        &self,
        env: Environment,
        key: &Key,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Mark, StoreError> {
        let mut marks = lock(&self.env(env).marks);
        sweep(&mut marks, |until| now < *until);
        match marks.get(key) {
            Some(until) if now < *until => Ok(Mark::Replay),
            _ => {
                marks.insert(key.clone(), expires_at);
                Ok(Mark::First)
            }
        }
    }

    async fn advance(
        &self,
        env: Environment,
        key: &Key,
        value: u64,
    ) -> Result<Advance, StoreError> {
        let mut steps = lock(&self.env(env).steps);
        match steps.get(key) {
            Some(stored) if value <= *stored => Ok(Advance::Stale(*stored)),
            _ => {
                steps.insert(key.clone(), value);
                Ok(Advance::Advanced)
            }
        }
    }
}
