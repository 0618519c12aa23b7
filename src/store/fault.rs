//! A store that fails on purpose: every call of a [`FaultPlan`] fails with
//! [`StoreError::Backend`] before reaching the wrapped store, so nothing of it is written.
//!
//! For tests of what idcore does when storage fails mid-flow (no token returned, nothing
//! half-written, a retry works) — and for adapter authors who want the same tests.
//!
//! ```
//! use idcore::store::fault::{FaultPlan, FaultyStore};
//! use idcore::MemoryStore;
//!
//! let store = FaultyStore::new(MemoryStore::new());
//! store.arm(FaultPlan::NthCall(3)); // the third call from now fails
//! store.arm(FaultPlan::Method("take")); // every `take` fails
//! store.disarm();
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use time::OffsetDateTime;
use uuid::Uuid;

use super::api_keys::{ApiKeyRecord, ApiKeyStore, KeyRotation};
use super::claims::ClaimStore;
use super::credentials::{CredentialRecord, CredentialStore};
use super::sessions::{Opened, SessionRecord, SessionStore};
use super::sets::{Joined, LimitedSetStore, SetMember, WhenFull};
use super::sso::SsoStore;
use super::tokens::{Revocation, RevocationStore, SigningKeyRecord, SigningKeyStore};
use super::{
    Advance, ApplicationStore, AuditStore, Counted, CounterStore, FamilyId, Key, Mark,
    OneTimeEntry, OneTimeStore, OrganizationStore, RefreshTokenRecord, RefreshTokenStore,
    ReplayStore, Rotation, StoreError, Take, UserStore,
};
use crate::model::api_key::ApiKeyId;
use crate::model::application::{Application, ApplicationScope};
use crate::model::claims::ClaimSchema;
use crate::model::event::{Event, EventQuery, NewEvent};
use crate::model::fields::Email;
use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};
use crate::model::organization::Organization;
use crate::model::sso::{IdpId, SsoConnection};
use crate::model::user::User;
use crate::page::PageRequest;
use crate::secret::Digest;

/// Which calls fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultPlan {
    /// Nothing fails.
    Off,
    /// The n-th call after arming fails (counting from 1), once.
    NthCall(u64),
    /// Every call of the named method fails (e.g. `"take"`, `"rotate_refresh_token"`).
    Method(&'static str),
}

/// The injected failure.
#[derive(Debug, thiserror::Error)]
#[error("injected fault in {0}")]
pub struct InjectedFault(pub &'static str);

/// Wraps a store and fails the calls its plan names. Clones share the plan and the store.
#[derive(Clone)]
pub struct FaultyStore<S> {
    inner: S,
    plan: Arc<Mutex<FaultPlan>>,
    calls: Arc<AtomicU64>,
}

impl<S> FaultyStore<S> {
    /// Wraps `inner`, with no fault armed.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            plan: Arc::new(Mutex::new(FaultPlan::Off)),
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Arms a plan and restarts the call count.
    pub fn arm(&self, plan: FaultPlan) {
        *self.plan.lock().unwrap_or_else(PoisonError::into_inner) = plan;
        self.calls.store(0, Ordering::SeqCst);
    }

    /// Disarms.
    pub fn disarm(&self) {
        self.arm(FaultPlan::Off);
    }

    /// How many calls were made since the last `arm`.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn fault(&self, method: &'static str) -> Result<(), StoreError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let fail = match &*self.plan.lock().unwrap_or_else(PoisonError::into_inner) {
            FaultPlan::Off => false,
            FaultPlan::NthCall(k) => *k == n,
            FaultPlan::Method(m) => *m == method,
        };
        if fail {
            Err(StoreError::backend(InjectedFault(method)))
        } else {
            Ok(())
        }
    }
}

impl<S: OrganizationStore> OrganizationStore for FaultyStore<S> {
    async fn insert_organization(
        &self,
        env: Environment,
        org: &Organization,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.fault("insert_organization")?;
        self.inner.insert_organization(env, org, event).await
    }

    async fn organization(
        &self,
        env: Environment,
        domain: &OrgDomain,
    ) -> Result<Option<Organization>, StoreError> {
        self.fault("organization")?;
        self.inner.organization(env, domain).await
    }

    async fn update_organization(
        &self,
        env: Environment,
        org: &Organization,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.fault("update_organization")?;
        self.inner
            .update_organization(env, org, expected_version, event)
            .await
    }

    async fn delete_organization(
        &self,
        env: Environment,
        domain: &OrgDomain,
        deleted_at: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Organization, StoreError> {
        self.fault("delete_organization")?;
        self.inner
            .delete_organization(env, domain, deleted_at, event)
            .await
    }

    async fn list_organizations(
        &self,
        env: Environment,
        page: PageRequest,
    ) -> Result<(Vec<Organization>, u64), StoreError> {
        self.fault("list_organizations")?;
        self.inner.list_organizations(env, page).await
    }
}

impl<S: UserStore> UserStore for FaultyStore<S> {
    async fn insert_user(
        &self,
        env: Environment,
        user: &User,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.fault("insert_user")?;
        self.inner.insert_user(env, user, event).await
    }

    async fn user(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: UserId,
    ) -> Result<Option<User>, StoreError> {
        self.fault("user")?;
        self.inner.user(env, org, id).await
    }

    async fn user_by_email(
        &self,
        env: Environment,
        org: &OrgDomain,
        email: &Email,
    ) -> Result<Option<User>, StoreError> {
        self.fault("user_by_email")?;
        self.inner.user_by_email(env, org, email).await
    }

    async fn update_user(
        &self,
        env: Environment,
        user: &User,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.fault("update_user")?;
        self.inner
            .update_user(env, user, expected_version, event)
            .await
    }

    async fn list_users(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<User>, u64), StoreError> {
        self.fault("list_users")?;
        self.inner.list_users(env, org, page).await
    }
}

impl<S: ApplicationStore> ApplicationStore for FaultyStore<S> {
    async fn insert_application(
        &self,
        env: Environment,
        app: &Application,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.fault("insert_application")?;
        self.inner.insert_application(env, app, event).await
    }

    async fn application(
        &self,
        env: Environment,
        client_id: ClientId,
    ) -> Result<Option<Application>, StoreError> {
        self.fault("application")?;
        self.inner.application(env, client_id).await
    }

    async fn update_application(
        &self,
        env: Environment,
        app: &Application,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.fault("update_application")?;
        self.inner
            .update_application(env, app, expected_version, event)
            .await
    }

    async fn delete_application(
        &self,
        env: Environment,
        client_id: ClientId,
        deleted_at: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Application, StoreError> {
        self.fault("delete_application")?;
        self.inner
            .delete_application(env, client_id, deleted_at, event)
            .await
    }

    async fn list_applications(
        &self,
        env: Environment,
        scope: &ApplicationScope,
        page: PageRequest,
    ) -> Result<(Vec<Application>, u64), StoreError> {
        self.fault("list_applications")?;
        self.inner.list_applications(env, scope, page).await
    }
}

impl<S: AuditStore> AuditStore for FaultyStore<S> {
    async fn record_event(&self, env: Environment, event: &NewEvent) -> Result<Event, StoreError> {
        self.fault("record_event")?;
        self.inner.record_event(env, event).await
    }

    async fn events(
        &self,
        env: Environment,
        query: &EventQuery,
        page: PageRequest,
    ) -> Result<(Vec<Event>, u64), StoreError> {
        self.fault("events")?;
        self.inner.events(env, query, page).await
    }
}

impl<S: OneTimeStore> OneTimeStore for FaultyStore<S> {
    async fn put_once(
        &self,
        env: Environment,
        key: &Key,
        entry: &OneTimeEntry,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.fault("put_once")?;
        self.inner.put_once(env, key, entry, now).await
    }

    async fn peek_once(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.fault("peek_once")?;
        self.inner.peek_once(env, key, now).await
    }

    async fn take(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<Take, StoreError> {
        self.fault("take")?;
        self.inner.take(env, key, now).await
    }
}

impl<S: RefreshTokenStore> RefreshTokenStore for FaultyStore<S> {
    async fn insert_refresh_token(
        &self,
        env: Environment,
        record: &RefreshTokenRecord,
    ) -> Result<(), StoreError> {
        self.fault("insert_refresh_token")?;
        self.inner.insert_refresh_token(env, record).await
    }

    async fn refresh_token(
        &self,
        env: Environment,
        digest: &Digest,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        self.fault("refresh_token")?;
        self.inner.refresh_token(env, digest).await
    }

    async fn rotate_refresh_token(
        &self,
        env: Environment,
        old: &Digest,
        successor: &RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        self.fault("rotate_refresh_token")?;
        self.inner
            .rotate_refresh_token(env, old, successor, now)
            .await
    }

    async fn revoke_family(
        &self,
        env: Environment,
        family: FamilyId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.fault("revoke_family")?;
        self.inner.revoke_family(env, family, now).await
    }

    async fn revoke_user_refresh_tokens(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.fault("revoke_user_refresh_tokens")?;
        self.inner
            .revoke_user_refresh_tokens(env, org, user_id, now)
            .await
    }

    async fn revoke_client_refresh_tokens(
        &self,
        env: Environment,
        client_id: ClientId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.fault("revoke_client_refresh_tokens")?;
        self.inner
            .revoke_client_refresh_tokens(env, client_id, now)
            .await
    }
}

impl<S: CounterStore> CounterStore for FaultyStore<S> {
    async fn increment(
        &self,
        env: Environment,
        key: &Key,
        limit: u64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Counted, StoreError> {
        self.fault("increment")?;
        self.inner.increment(env, key, limit, expires_at, now).await
    }

    async fn decrement(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.fault("decrement")?;
        self.inner.decrement(env, key, now).await
    }

    async fn count(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.fault("count")?;
        self.inner.count(env, key, now).await
    }

    async fn reset(&self, env: Environment, key: &Key) -> Result<(), StoreError> {
        self.fault("reset")?;
        self.inner.reset(env, key).await
    }
}

impl<S: ReplayStore> ReplayStore for FaultyStore<S> {
    async fn mark_once(
        &self,
        env: Environment,
        key: &Key,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Mark, StoreError> {
        self.fault("mark_once")?;
        self.inner.mark_once(env, key, expires_at, now).await
    }

    async fn advance(
        &self,
        env: Environment,
        key: &Key,
        value: u64,
    ) -> Result<Advance, StoreError> {
        self.fault("advance")?;
        self.inner.advance(env, key, value).await
    }
}

impl<S: SigningKeyStore> SigningKeyStore for FaultyStore<S> {
    async fn insert_signing_key(
        &self,
        env: Environment,
        key: &SigningKeyRecord,
    ) -> Result<(), StoreError> {
        self.fault("insert_signing_key")?;
        self.inner.insert_signing_key(env, key).await
    }

    async fn signing_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        now: OffsetDateTime,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        self.fault("signing_keys")?;
        self.inner.signing_keys(env, org, now).await
    }

    async fn retire_signing_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        keep: &str,
        retires_at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.fault("retire_signing_keys")?;
        self.inner
            .retire_signing_keys(env, org, keep, retires_at)
            .await
    }
}

impl<S: RevocationStore> RevocationStore for FaultyStore<S> {
    async fn record_revocation(
        &self,
        env: Environment,
        revocation: &Revocation,
    ) -> Result<u64, StoreError> {
        self.fault("record_revocation")?;
        self.inner.record_revocation(env, revocation).await
    }

    async fn revocations_since(
        &self,
        env: Environment,
        after: u64,
        now: OffsetDateTime,
    ) -> Result<Vec<(u64, Revocation)>, StoreError> {
        self.fault("revocations_since")?;
        self.inner.revocations_since(env, after, now).await
    }

    fn revocation_notices(&self) -> Option<u64> {
        self.inner.revocation_notices()
    }
}

impl<S: CredentialStore> CredentialStore for FaultyStore<S> {
    async fn insert_account(
        &self,
        env: Environment,
        user: &User,
        credentials: &CredentialRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.fault("insert_account")?;
        self.inner
            .insert_account(env, user, credentials, event)
            .await
    }

    async fn insert_credentials(
        &self,
        env: Environment,
        credentials: &CredentialRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.fault("insert_credentials")?;
        self.inner.insert_credentials(env, credentials, event).await
    }

    async fn credentials(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        self.fault("credentials")?;
        self.inner.credentials(env, org, user_id).await
    }

    async fn credentials_by_username(
        &self,
        env: Environment,
        org: &OrgDomain,
        username: &str,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        self.fault("credentials_by_username")?;
        self.inner.credentials_by_username(env, org, username).await
    }

    async fn update_credentials(
        &self,
        env: Environment,
        credentials: &CredentialRecord,
        expected_version: u64,
        event: Option<&NewEvent>,
    ) -> Result<(), StoreError> {
        self.fault("update_credentials")?;
        self.inner
            .update_credentials(env, credentials, expected_version, event)
            .await
    }

    async fn delete_account(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.fault("delete_account")?;
        self.inner.delete_account(env, org, user_id, event).await
    }
}

impl<S: LimitedSetStore> LimitedSetStore for FaultyStore<S> {
    async fn join(
        &self,
        env: Environment,
        set: &Key,
        member: &Key,
        limit: u64,
        when_full: WhenFull,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Joined, StoreError> {
        self.fault("join")?;
        self.inner
            .join(env, set, member, limit, when_full, expires_at, now)
            .await
    }

    async fn leave(
        &self,
        env: Environment,
        set: &Key,
        member: &Key,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.fault("leave")?;
        self.inner.leave(env, set, member, now).await
    }

    async fn members(
        &self,
        env: Environment,
        set: &Key,
        now: OffsetDateTime,
    ) -> Result<Vec<SetMember>, StoreError> {
        self.fault("members")?;
        self.inner.members(env, set, now).await
    }

    async fn clear(
        &self,
        env: Environment,
        set: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.fault("clear")?;
        self.inner.clear(env, set, now).await
    }
}

impl<S: SessionStore> SessionStore for FaultyStore<S> {
    async fn open_session(
        &self,
        env: Environment,
        record: &SessionRecord,
        now: OffsetDateTime,
    ) -> Result<Opened, StoreError> {
        self.fault("open_session")?;
        self.inner.open_session(env, record, now).await
    }

    async fn session_by_token(
        &self,
        env: Environment,
        token_digest: &Digest,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.fault("session_by_token")?;
        self.inner.session_by_token(env, token_digest, now).await
    }

    async fn touch_session(
        &self,
        env: Environment,
        id: Uuid,
        idle_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.fault("touch_session")?;
        self.inner
            .touch_session(env, id, idle_expires_at, now)
            .await
    }

    async fn end_session(&self, env: Environment, id: Uuid) -> Result<bool, StoreError> {
        self.fault("end_session")?;
        self.inner.end_session(env, id).await
    }

    async fn end_user_sessions(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        except: Option<Uuid>,
    ) -> Result<u64, StoreError> {
        self.fault("end_user_sessions")?;
        self.inner
            .end_user_sessions(env, org, user_id, except)
            .await
    }

    async fn user_sessions(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.fault("user_sessions")?;
        self.inner.user_sessions(env, org, user_id, now).await
    }
}

impl<S: ApiKeyStore> ApiKeyStore for FaultyStore<S> {
    async fn insert_api_key(
        &self,
        env: Environment,
        record: &ApiKeyRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.fault("insert_api_key")?;
        self.inner.insert_api_key(env, record, event).await
    }

    async fn api_key(
        &self,
        env: Environment,
        id: ApiKeyId,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.fault("api_key")?;
        self.inner.api_key(env, id).await
    }

    async fn list_api_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<ApiKeyRecord>, u64), StoreError> {
        self.fault("list_api_keys")?;
        self.inner.list_api_keys(env, org, page).await
    }

    async fn revoke_api_key(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: ApiKeyId,
        revoked_at: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.fault("revoke_api_key")?;
        self.inner
            .revoke_api_key(env, org, id, revoked_at, event)
            .await
    }

    async fn rotate_api_key(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: ApiKeyId,
        expected_generation: u32,
        rotation: &KeyRotation,
        event: &NewEvent,
    ) -> Result<ApiKeyRecord, StoreError> {
        self.fault("rotate_api_key")?;
        self.inner
            .rotate_api_key(env, org, id, expected_generation, rotation, event)
            .await
    }

    async fn touch_api_key(
        &self,
        env: Environment,
        id: ApiKeyId,
        used_at: OffsetDateTime,
        if_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.fault("touch_api_key")?;
        self.inner.touch_api_key(env, id, used_at, if_before).await
    }
}

// `live_user_claims` keeps the trait's default: its `live_user` and `claim_schema` reads go
// through the fault points above, like `live_user` and `live_session`.
impl<S: ClaimStore> ClaimStore for FaultyStore<S> {
    async fn claim_schema(
        &self,
        env: Environment,
        org: &OrgDomain,
    ) -> Result<ClaimSchema, StoreError> {
        self.fault("claim_schema")?;
        self.inner.claim_schema(env, org).await
    }

    async fn put_claim_schema(
        &self,
        env: Environment,
        org: &OrgDomain,
        schema: &ClaimSchema,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.fault("put_claim_schema")?;
        self.inner
            .put_claim_schema(env, org, schema, expected_version, event)
            .await
    }
}

impl<S: SsoStore> SsoStore for FaultyStore<S> {
    async fn insert_sso_connection(
        &self,
        env: Environment,
        connection: &SsoConnection,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.fault("insert_sso_connection")?;
        self.inner
            .insert_sso_connection(env, connection, event)
            .await
    }

    async fn sso_connection(
        &self,
        env: Environment,
        idp_id: &IdpId,
    ) -> Result<Option<SsoConnection>, StoreError> {
        self.fault("sso_connection")?;
        self.inner.sso_connection(env, idp_id).await
    }

    async fn list_sso_connections(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<SsoConnection>, u64), StoreError> {
        self.fault("list_sso_connections")?;
        self.inner.list_sso_connections(env, org, page).await
    }

    async fn update_sso_connection(
        &self,
        env: Environment,
        connection: &SsoConnection,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.fault("update_sso_connection")?;
        self.inner
            .update_sso_connection(env, connection, expected_version, event)
            .await
    }
}
