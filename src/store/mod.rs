//! The storage contract: one async trait per aggregate, plus the atomic primitives the whole
//! library is built on.
//!
//! idcore never reads-then-writes across two store calls where an attacker could race it. Every
//! check-then-act is one store call that the adapter makes atomic:
//!
//! | primitive | trait method | used for |
//! |---|---|---|
//! | unique keys | `insert_*` → [`StoreError::AlreadyExists`] | organization domain, user e-mail per organization (case-insensitive), `client_id`, username per organization |
//! | conditional update | `update_*(…, expected_version)` → [`StoreError::Precondition`] | directory records, credentials, read-modify-write without lost updates |
//! | take-once | [`OneTimeStore::take`] | authorization codes, e-mail codes |
//! | compare-and-swap rotation | [`RefreshTokenStore::rotate_refresh_token`] | refresh tokens |
//! | counter with a limit | [`CounterStore::increment`] | failed attempts |
//! | counted set with a limit | [`LimitedSetStore::join`] (refuse or evict the oldest) | concurrent sessions per user, seats of an SSO connection |
//! | set-once marker / monotonic step | [`ReplayStore::mark_once`], [`ReplayStore::advance`] | request nonces, TOTP steps, signed-request signatures |
//! | conditional schema write | [`ClaimStore::put_claim_schema`] (on the version) | metakeys and role definitions of an organization |
//! | conditional key rotation | [`ApiKeyStore::rotate_api_key`] (on the generation), [`ApiKeyStore::revoke_api_key`] | API key secrets |
//!
//! Each trait's docs carry a **Contract** section; [`conformance`] (feature `conformance`) checks
//! it for any adapter, including concurrency. [`MemoryStore`] is the embedded implementation.
//!
//! Every method names an [`Environment`]: one store may hold `sandbox` and `production`, and
//! no call reads or writes the other environment's data.
//!
//! # Writing an adapter
//! Implement every trait below for your type; the blanket impl then makes it a [`Store`]. Methods
//! return `impl Future + Send`, so `async fn` in the impl block works:
//!
//! ```
//! use idcore::store::{CounterStore, Counted, Key, StoreError};
//! use idcore::Environment;
//! use time::OffsetDateTime;
//!
//! /// Delegates to another counter store, logging each call.
//! struct Logged<S>(S);
//!
//! impl<S: CounterStore> CounterStore for Logged<S> {
//!     async fn increment(&self, env: Environment, key: &Key, limit: u64,
//!                        expires_at: OffsetDateTime, now: OffsetDateTime)
//!         -> Result<Counted, StoreError> {
//!         let counted = self.0.increment(env, key, limit, expires_at, now).await?;
//!         eprintln!("{key}: {counted:?}");
//!         Ok(counted)
//!     }
//!     async fn decrement(&self, env: Environment, key: &Key, now: OffsetDateTime) -> Result<u64, StoreError> {
//!         self.0.decrement(env, key, now).await
//!     }
//!     async fn count(&self, env: Environment, key: &Key, now: OffsetDateTime) -> Result<u64, StoreError> {
//!         self.0.count(env, key, now).await
//!     }
//!     async fn reset(&self, env: Environment, key: &Key) -> Result<(), StoreError> {
//!         self.0.reset(env, key).await
//!     }
//! }
//! ```

use std::fmt;
use std::future::Future;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::application::{Application, ApplicationScope};
use crate::model::event::{Event, EventQuery, NewEvent};
use crate::model::fields::Email;
use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};
use crate::model::organization::Organization;
use crate::model::user::User;
use crate::page::{CursorKey, PageRequest};
use crate::secret::Digest;

pub mod api_keys;
pub mod claims;
pub mod credentials;
#[cfg(feature = "conformance")]
pub mod fault;
pub mod memory;
pub mod sessions;
pub mod sets;
pub mod sso;
pub mod tokens;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use api_keys::{ApiKeyRecord, ApiKeyStore, KeyRotation};
pub use claims::ClaimStore;
pub use credentials::{AccountRole, AccountStatus, CredentialRecord, CredentialStore, SealedTotp};
pub use memory::MemoryStore;
pub use sessions::{Opened, SessionRecord, SessionStore};
pub use sets::{Joined, LimitedSetStore, SetMember, WhenFull};
pub use sso::SsoStore;
pub use tokens::{Revocation, RevocationStore, SigningKeyRecord, SigningKeyStore};

pub use crate::error::StoreError;

/// Where a keyset page of a newest-first list (users, organizations, applications) resumes:
/// the `(inserted_at, id)` its items must be strictly below, or `None` for a page-number read.
///
/// # Errors
/// [`StoreError::Backend`] when the request carries an event cursor (idcore refuses a cursor
/// of another list before it reaches the store).
pub fn newest_after(page: &PageRequest) -> Result<Option<(OffsetDateTime, Uuid)>, StoreError> {
    match page.cursor().map(|c| c.key()) {
        None => Ok(None),
        Some(CursorKey::Newest { inserted_at, id }) => Ok(Some((inserted_at, id))),
        Some(_) => Err(StoreError::backend(CursorOfAnotherList)),
    }
}

/// Where a keyset page of events resumes: the id its events must be strictly below, or `None`
/// for a page-number read.
///
/// # Errors
/// [`StoreError::Backend`] when the request carries a cursor of a newest-first list.
pub fn event_after(page: &PageRequest) -> Result<Option<i64>, StoreError> {
    match page.cursor().map(|c| c.key()) {
        None => Ok(None),
        Some(CursorKey::Event { id }) => Ok(Some(id)),
        Some(_) => Err(StoreError::backend(CursorOfAnotherList)),
    }
}

/// A store was handed a cursor of another kind of list (a caller bug: idcore checks the kind).
#[derive(Debug, thiserror::Error)]
#[error("the page request carries a cursor of another list")]
struct CursorOfAnotherList;

/// A key for the primitive stores: a namespaced string built by idcore (`lockout:user:…`),
/// 1 to 512 bytes. Keys never contain secrets in the clear (codes appear as digests).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Key(String);

impl Key {
    /// Joins a namespace and parts with `:`, cut to at most 512 bytes (on a character boundary).
    pub fn new(namespace: &str, parts: &[&str]) -> Self {
        let mut s = String::from(namespace);
        for p in parts {
            s.push(':');
            s.push_str(p);
        }
        let mut end = s.len().min(512);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        Self(s)
    }

    /// The key of a secret's digest within a namespace.
    pub fn digest(namespace: &str, digest: &Digest) -> Self {
        Self::new(namespace, &[&digest.to_hex()])
    }

    /// Rebuilds a key read back from storage.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything idcore needs from storage. Implemented automatically for any type that implements
/// every aggregate trait.
pub trait Store:
    OrganizationStore
    + UserStore
    + ApplicationStore
    + AuditStore
    + OneTimeStore
    + RefreshTokenStore
    + CounterStore
    + ReplayStore
    + SigningKeyStore
    + RevocationStore
    + CredentialStore
    + LimitedSetStore
    + SessionStore
    + ApiKeyStore
    + ClaimStore
    + SsoStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: OrganizationStore
        + UserStore
        + ApplicationStore
        + AuditStore
        + OneTimeStore
        + RefreshTokenStore
        + CounterStore
        + ReplayStore
        + SigningKeyStore
        + RevocationStore
        + CredentialStore
        + LimitedSetStore
        + SessionStore
        + ApiKeyStore
        + ClaimStore
        + SsoStore
        + Send
        + Sync
        + 'static
{
}

/// Organizations, keyed by their immutable domain.
///
/// # Contract
/// - `insert_organization` is atomic with its audit event: both are written or neither. A domain
///   that exists — live *or deleted* — answers [`StoreError::AlreadyExists`]` { key: "domain" }`,
///   so a deleted organization's domain is never reused. An existing id answers `key: "id"`.
/// - `update_organization` writes only if the stored `version` equals `expected_version` and the
///   organization is not deleted, storing the given record (whose `version` the caller already
///   incremented); else [`StoreError::Precondition`]. Missing → [`StoreError::NotFound`].
///   The domain never changes: a record whose domain differs from the stored one is refused
///   with `NotFound`.
/// - `delete_organization` marks the organization deleted at `deleted_at` (a tombstone that
///   `organization` still returns) and writes the event; missing or already deleted → `NotFound`.
/// - `list_organizations` returns live organizations only, newest first (`inserted_at`
///   descending, ties by `id` descending), and the total count of live organizations. Keyset
///   reads work as for `list_users` (with the organization's id); the total may be a
///   `count(*)`, which grows with the number of organizations.
pub trait OrganizationStore: Send + Sync {
    /// Inserts a new organization and its audit event.
    fn insert_organization(
        &self,
        env: Environment,
        org: &Organization,
        event: &NewEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The organization with this domain, deleted or not.
    fn organization(
        &self,
        env: Environment,
        domain: &OrgDomain,
    ) -> impl Future<Output = Result<Option<Organization>, StoreError>> + Send;

    /// Replaces an organization if its version is still `expected_version`.
    fn update_organization(
        &self,
        env: Environment,
        org: &Organization,
        expected_version: u64,
        event: &NewEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks an organization deleted and returns the tombstoned record.
    fn delete_organization(
        &self,
        env: Environment,
        domain: &OrgDomain,
        deleted_at: OffsetDateTime,
        event: &NewEvent,
    ) -> impl Future<Output = Result<Organization, StoreError>> + Send;

    /// One page of live organizations, newest first, and the total.
    fn list_organizations(
        &self,
        env: Environment,
        page: PageRequest,
    ) -> impl Future<Output = Result<(Vec<Organization>, u64), StoreError>> + Send;
}

/// Users, each inside one organization.
///
/// # Contract
/// - Every read and write is scoped by the organization domain: no call reaches a user of
///   another organization, even with the right id (it answers `None` / `NotFound`).
/// - `insert_user` is atomic with its event. The e-mail is unique per organization and
///   environment, compared by [`Email::key`] (lowercase): a taken address answers
///   [`StoreError::AlreadyExists`]` { key: "email" }`, a taken id `key: "id"`.
/// - `update_user` writes only if the stored version equals `expected_version`
///   ([`StoreError::Precondition`] otherwise, `NotFound` if missing); if the e-mail changes, the
///   new one must be free in the organization (`AlreadyExists { key: "email" }`), and the old
///   one is released in the same atomic step.
/// - `live_user` is `user`, except that it answers `None` when the organization does not
///   exist or is deleted.
/// - `list_users` is newest first (`inserted_at` descending, ties by `id` descending) with the
///   organization's total.
/// - Pages: without a cursor, `page` is read by number (skip `offset()` items, take
///   `per_page()`). With a cursor ([`PageRequest::cursor`], its position from [`newest_after`]),
///   the page is the first `per_page()` users whose `(inserted_at, id)` is strictly smaller than
///   the cursor's, in the same order, skipping nothing by number: walking a list by cursors
///   returns exactly the items, in the order, that walking it by page numbers returns (ties in
///   `inserted_at` included). A cursor never reaches another organization's users: the page
///   is still scoped by `org`.
/// - The total is exact, and the same whether the page is read by number or cursor. It must
///   not cost a scan of the organization's users: PostgreSQL and SQLite keep a per-organization
///   count, written in the same transaction as every insert and delete of a user.
pub trait UserStore: Send + Sync {
    /// Inserts a new user and its audit event.
    fn insert_user(
        &self,
        env: Environment,
        user: &User,
        event: &NewEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user with this id in this organization.
    fn user(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: UserId,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// The user with this e-mail (case-insensitively) in this organization.
    fn user_by_email(
        &self,
        env: Environment,
        org: &OrgDomain,
        email: &Email,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// Replaces a user if its version is still `expected_version`.
    fn update_user(
        &self,
        env: Environment,
        user: &User,
        expected_version: u64,
        event: &NewEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user with this id in this organization, only if the organization is live (exists
    /// and is not deleted): `None` otherwise. The token service reads a user this way on every
    /// code exchange, refresh and user info.
    ///
    /// The default reads the organization and the user together; an adapter may answer with
    /// one statement (the PostgreSQL store joins them).
    fn live_user(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: UserId,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send
    where
        Self: OrganizationStore,
    {
        async move {
            let (organization, user) =
                crate::join::join2(self.organization(env, org), self.user(env, org, id)).await;
            let live = organization?.is_some_and(|o| o.deleted_at.is_none());
            Ok(user?.filter(|_| live))
        }
    }

    /// One page of an organization's users, newest first, and their total.
    fn list_users(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> impl Future<Output = Result<(Vec<User>, u64), StoreError>> + Send;
}

/// Applications (OAuth clients), global or scoped to one organization.
///
/// # Contract
/// - `client_id` is unique per environment: a taken one answers
///   [`StoreError::AlreadyExists`]` { key: "client_id" }`. Inserts are atomic with their event.
/// - `application` returns the record (deleted or not) whatever its scope; idcore checks the
///   scope. `update_application` is conditional on `expected_version` and on the record not
///   being deleted (`Precondition`), `NotFound` if missing; the scope never changes (a record
///   whose scope differs from the stored one answers `NotFound`).
/// - `delete_application` tombstones it (missing or already deleted → `NotFound`).
/// - `list_applications` lists live applications of exactly one scope, newest first
///   (`inserted_at` descending, ties by `client_id` descending). Keyset reads work as for
///   `list_users`, with `client_id` as the id; the total may be a `count(*)` of the scope's
///   live applications.
pub trait ApplicationStore: Send + Sync {
    /// Inserts a new application and its audit event.
    fn insert_application(
        &self,
        env: Environment,
        app: &Application,
        event: &NewEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The application with this client id, deleted or not.
    fn application(
        &self,
        env: Environment,
        client_id: ClientId,
    ) -> impl Future<Output = Result<Option<Application>, StoreError>> + Send;

    /// Replaces an application if its version is still `expected_version`.
    fn update_application(
        &self,
        env: Environment,
        app: &Application,
        expected_version: u64,
        event: &NewEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks an application deleted and returns the tombstoned record.
    fn delete_application(
        &self,
        env: Environment,
        client_id: ClientId,
        deleted_at: OffsetDateTime,
        event: &NewEvent,
    ) -> impl Future<Output = Result<Application, StoreError>> + Send;

    /// One page of the live applications of one scope, newest first, and their total.
    fn list_applications(
        &self,
        env: Environment,
        scope: &ApplicationScope,
        page: PageRequest,
    ) -> impl Future<Output = Result<(Vec<Application>, u64), StoreError>> + Send;
}

/// The audit log.
///
/// # Contract
/// - `record_event` assigns the next integer id, strictly greater than every id it assigned
///   before (in any environment), and returns the stored event.
/// - `events` returns the events of the query's environment that match every filter set in the
///   query, newest first (id descending), and the total number of matches.
/// - Pages: without a cursor, by number. With a cursor (its id from [`event_after`]), the first
///   `per_page()` matching events whose id is strictly smaller than the cursor's, newest first:
///   the same items, in the same order, as walking by page numbers.
/// - The total is exact. For queries filtering only by tenant and/or code (or nothing) it must
///   not cost a scan of the matches: PostgreSQL and SQLite keep event counts for those four
///   filter combinations, split into 16 shards by `id % 16` (so concurrent writers rarely
///   touch the same counter row), written in the same transaction as every event; the total is
///   the sum of at most 16 rows. Queries filtering by `client_id` or
///   `saml_identity_provider_id` count their matches (`count(*)`), which grows with the
///   number of matches.
pub trait AuditStore: Send + Sync {
    /// Appends an event.
    fn record_event(
        &self,
        env: Environment,
        event: &NewEvent,
    ) -> impl Future<Output = Result<Event, StoreError>> + Send;

    /// One page of matching events, newest first, and the total number of matches.
    fn events(
        &self,
        env: Environment,
        query: &EventQuery,
        page: PageRequest,
    ) -> impl Future<Output = Result<(Vec<Event>, u64), StoreError>> + Send;
}

/// A one-time entry: an opaque payload that can be taken exactly once before `expires_at`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OneTimeEntry {
    /// What the taker receives (serialized by idcore).
    pub payload: Vec<u8>,
    /// The entry cannot be taken at or after this instant.
    pub expires_at: OffsetDateTime,
    /// The store may forget the entry (taken or not) after this instant. Until then a second
    /// `take` answers [`Take::AlreadyTaken`] — which is how reuse is detected. Never before
    /// `expires_at`.
    pub retain_until: OffsetDateTime,
}

/// The outcome of [`OneTimeStore::take`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Take {
    /// This call took the entry; nobody else ever will.
    Taken(Vec<u8>),
    /// Someone took it before (at `taken_at`); the payload tells what they took.
    AlreadyTaken {
        /// The payload of the entry.
        payload: Vec<u8>,
        /// When it was taken.
        taken_at: OffsetDateTime,
    },
    /// The entry exists, untaken, but expired.
    Expired,
    /// No such entry (never put, or forgotten after `retain_until`).
    Missing,
}

/// Take-once entries: authorization codes and e-mail codes.
///
/// # Contract
/// - `put_once` inserts; an existing key (not yet forgotten) answers
///   [`StoreError::AlreadyExists`]` { key: "key" }`. `now` lets the store forget old entries.
/// - `take` is atomic: of any number of concurrent calls for one key, exactly one gets
///   [`Take::Taken`]; all others, and every later call until `retain_until`, get
///   [`Take::AlreadyTaken`]. An untaken entry at or after its `expires_at` is [`Take::Expired`]
///   and is never taken.
/// - `peek_once` returns the payload only of an entry that `take` would take at `now`; it
///   changes nothing.
/// - Entries survive a restart of a durable store.
pub trait OneTimeStore: Send + Sync {
    /// Stores a new entry.
    fn put_once(
        &self,
        env: Environment,
        key: &Key,
        entry: &OneTimeEntry,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The payload of an entry that can still be taken at `now` (put, not taken, not expired),
    /// without taking it. Lets a caller prepare everything before the atomic `take`.
    fn peek_once(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Takes an entry, once.
    fn take(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Take, StoreError>> + Send;
}

/// A refresh token's family: every token rotated from one grant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct FamilyId(pub uuid::Uuid);

/// Where a refresh token stands.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RefreshState {
    /// Current: the one token of its family that may be rotated.
    Active,
    /// Rotated at `at` into the token whose digest is `successor`.
    Rotated {
        /// When it was rotated.
        at: OffsetDateTime,
        /// The digest of the token that replaced it.
        successor: Digest,
    },
    /// Revoked at `at` (alone or with its family).
    Revoked {
        /// When it was revoked.
        at: OffsetDateTime,
    },
}

/// A stored refresh token. The token itself is never stored, only its SHA-256 `digest`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token.
    pub digest: Digest,
    /// The family (grant) it belongs to.
    pub family: FamilyId,
    /// 0 for the token issued with the grant, +1 per rotation.
    pub generation: u32,
    /// The organization of the user.
    pub org: OrgDomain,
    /// The user it was issued to.
    pub user_id: UserId,
    /// The client it is bound to.
    pub client_id: ClientId,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// When the user authenticated for the grant.
    pub auth_time: OffsetDateTime,
    /// When this token was issued.
    pub issued_at: OffsetDateTime,
    /// When this token expires; never after `family_expires_at`.
    pub expires_at: OffsetDateTime,
    /// The absolute end of the family, whatever the rotations.
    pub family_expires_at: OffsetDateTime,
    /// Where it stands.
    pub state: RefreshState,
}

/// The outcome of [`RefreshTokenStore::rotate_refresh_token`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Rotation {
    /// This call rotated the token: it is now `Rotated` and the successor is stored. Carries the
    /// record as it was before rotation.
    Rotated(RefreshTokenRecord),
    /// The token was not current (already rotated or revoked); nothing was written. Carries the
    /// stored record so the caller can apply reuse detection to its family.
    NotCurrent(RefreshTokenRecord),
    /// The token is past its `expires_at`; nothing was written.
    Expired(RefreshTokenRecord),
    /// No such token.
    Missing,
}

/// Refresh tokens, with compare-and-swap rotation.
///
/// # Contract
/// - `insert_refresh_token`: an existing digest answers `AlreadyExists { key: "digest" }`.
/// - `rotate_refresh_token` is atomic: it succeeds only if the stored token is `Active` and
///   `now < expires_at`; then, in one step, the old token becomes `Rotated { at: now, successor }`
///   and `successor` (which must be `Active`, same family) is inserted. Of N concurrent
///   rotations of one token exactly one gets [`Rotation::Rotated`]; the others get
///   [`Rotation::NotCurrent`].
/// - `revoke_*` mark every matching `Active` or `Rotated` token `Revoked { at: now }` and return
///   how many tokens changed state. Revoking a family, a user's tokens or a client's tokens is
///   one atomic step; a rotation racing a revocation either happens before it (and its
///   successor is revoked too) or fails.
/// - Records, including `Rotated` ones, survive a restart of a durable store until
///   `family_expires_at`, so reuse is detected after a restart.
pub trait RefreshTokenStore: Send + Sync {
    /// Stores the first token of a new family.
    fn insert_refresh_token(
        &self,
        env: Environment,
        record: &RefreshTokenRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The token with this digest.
    fn refresh_token(
        &self,
        env: Environment,
        digest: &Digest,
    ) -> impl Future<Output = Result<Option<RefreshTokenRecord>, StoreError>> + Send;

    /// Rotates `old` into `successor`, if `old` is still current.
    fn rotate_refresh_token(
        &self,
        env: Environment,
        old: &Digest,
        successor: &RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;

    /// [`rotate_refresh_token`](Self::rotate_refresh_token), and when it answers
    /// [`Rotation::Rotated`], `event` is appended to the audit log.
    ///
    /// The default rotates, then records the event; a failure to record it is ignored (the
    /// rotation stands, and its answer must reach the caller: a client that never receives its
    /// successor token would present the old one again and be taken for a thief). An adapter
    /// that can write both in one transaction should (the PostgreSQL and SQLite stores do): one
    /// commit per refresh instead of two, and the event is never missing. Any other answer
    /// than `Rotated` writes no event.
    fn rotate_refresh_token_audited(
        &self,
        env: Environment,
        old: &Digest,
        successor: &RefreshTokenRecord,
        now: OffsetDateTime,
        event: &NewEvent,
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send
    where
        Self: AuditStore,
    {
        async move {
            let rotation = self.rotate_refresh_token(env, old, successor, now).await?;
            if matches!(rotation, Rotation::Rotated(_)) {
                let _ = self.record_event(env, event).await;
            }
            Ok(rotation)
        }
    }

    /// Revokes every token of a family.
    fn revoke_family(
        &self,
        env: Environment,
        family: FamilyId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Revokes every token of a user.
    fn revoke_user_refresh_tokens(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Revokes every token of a client.
    fn revoke_client_refresh_tokens(
        &self,
        env: Environment,
        client_id: ClientId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// The outcome of [`CounterStore::increment`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Counted {
    /// The counter was below the limit and is now this value.
    Incremented(u64),
    /// The counter is at (or above) the limit; it was not changed.
    AtLimit(u64),
}

/// Counters with a limit and an expiry: failed attempts, seats.
///
/// # Contract
/// - `increment` is atomic: it adds one only if the current value is below `limit`, so under any
///   concurrency the value never exceeds `limit`, and exactly `limit` of many concurrent
///   increments from 0 get [`Counted::Incremented`]. A counter whose `expires_at` has passed,
///   or whose value is back at 0, restarts with the new `expires_at`; a live counter above 0
///   keeps its expiry (a fixed window, from the increment that found it at 0).
/// - `decrement` subtracts one, never below 0, and returns the new value (0 for a missing or
///   expired counter).
/// - `count` is the live value (0 when missing or expired); `reset` deletes the counter.
pub trait CounterStore: Send + Sync {
    /// Adds one if below `limit`.
    fn increment(
        &self,
        env: Environment,
        key: &Key,
        limit: u64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Counted, StoreError>> + Send;

    /// Subtracts one, not below zero.
    fn decrement(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The current value.
    fn count(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Deletes the counter.
    fn reset(
        &self,
        env: Environment,
        key: &Key,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The outcome of [`ReplayStore::mark_once`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mark {
    /// First time this key was seen (until its expiry): accept.
    First,
    /// Seen before: a replay, reject.
    Replay,
}

/// The outcome of [`ReplayStore::advance`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Advance {
    /// The value was greater than the stored one and is now stored.
    Advanced,
    /// The value was not greater than the stored one (carried); nothing changed.
    Stale(u64),
}

/// Replay protection: set-once markers (request nonces) and monotonic steps (TOTP).
///
/// # Contract
/// - `mark_once` is atomic: of concurrent calls for one key, exactly one gets [`Mark::First`];
///   later calls get [`Mark::Replay`] until `expires_at`, after which the key may be marked again.
/// - `advance` stores `value` only if it is strictly greater than the stored value (or nothing is
///   stored): of concurrent calls with the same value exactly one gets [`Advance::Advanced`].
///   Steps never expire on their own.
/// - Both survive a restart of a durable store.
pub trait ReplayStore: Send + Sync {
    /// Marks a key as seen.
    fn mark_once(
        &self,
        env: Environment,
        key: &Key,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Mark, StoreError>> + Send;

    /// Moves a monotonic value forward.
    fn advance(
        &self,
        env: Environment,
        key: &Key,
        value: u64,
    ) -> impl Future<Output = Result<Advance, StoreError>> + Send;
}
