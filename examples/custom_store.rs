//! How a third party writes a store adapter for idcore, and proves it with the public
//! conformance suite.
//!
//! The adapter here is [`LoggingStore`]: it wraps any store (here [`MemoryStore`]), implements
//! every store trait by delegating to it, and counts — and, when asked, prints — each call. A
//! real adapter (a database, a cache in front of a durable store) has the same shape: one
//! `impl` block per trait of [`idcore::store`], each method keeping that trait's *Contract*
//! section. Once every trait is implemented, the blanket impl makes the type a
//! [`Store`](idcore::store::Store) (and, with [`CredentialStore`], a
//! [`SigninStore`](idcore::store::SigninStore)), and `Identity::builder().store(…)` takes it.
//!
//! Run it with `cargo run --example custom_store`. It runs a short token flow through an
//! [`Identity`] on the wrapper, printing the store calls each step makes, then runs conformance
//! checks on the wrapper — including the concurrency checks, which need a multi-threaded tokio
//! runtime.
//!
//! # The conformance suite in your adapter's tests
//! In the adapter crate's `Cargo.toml`:
//!
//! ```toml
//! [dev-dependencies]
//! idcore = { version = "0.1", features = ["conformance"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! and in `tests/conformance.rs`, one line turns every check into its own `#[tokio::test]`:
//!
//! ```ignore
//! use idcore::store::conformance::Isolation;
//! use my_adapter::LoggingStore;
//!
//! /// A fresh store per test (a database adapter: connect, migrate, return a handle).
//! async fn make() -> LoggingStore<idcore::MemoryStore> {
//!     LoggingStore::new(idcore::MemoryStore::new())
//! }
//!
//! // `Isolation::Exclusive`: each test has the store to itself, so global totals are exact.
//! // A shared test database uses `idcore::conformance_tests!(make);` instead.
//! idcore::conformance_tests!(make, Isolation::Exclusive);
//! ```
//!
//! A durable adapter also runs the restart checks, which the macro cannot (only the adapter
//! knows how to close and reopen its storage): `conformance::restart_prepare(&store)`, drop the
//! store, open a new one on the same storage, `conformance::restart_verify(&reopened, state)`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use idcore::audit::{Event, EventQuery, NewEvent};
use idcore::directory::{
    Application, ApplicationScope, ClientId, Email, Environment, OrgDomain, Organization, User,
    UserId,
};
use idcore::model::api_key::ApiKeyId;
use idcore::model::claims::ClaimSchema;
use idcore::model::sso::{IdpId, SsoConnection};
use idcore::page::PageRequest;
use idcore::secret::Digest;
use idcore::store::conformance;
use idcore::store::{
    Advance, ApiKeyRecord, ApiKeyStore, ApplicationStore, AuditStore, ClaimStore, Counted,
    CounterStore, CredentialRecord, CredentialStore, FamilyId, Joined, Key, KeyRotation,
    LimitedSetStore, Mark, OneTimeEntry, OneTimeStore, Opened, OrganizationStore,
    RefreshTokenRecord, RefreshTokenStore, ReplayStore, Revocation, RevocationStore, Rotation,
    SessionRecord, SessionStore, SetMember, SigningKeyRecord, SigningKeyStore, SsoStore,
    StoreError, Take, UserStore, WhenFull,
};
use idcore::tokens::keys::EncryptionKey;
use idcore::tokens::pkce::CodeChallenge;
use idcore::tokens::{ClientAuth, CodeRequest};
use idcore::{ApplicationType, Identity, MemoryStore, NewApplication, NewOrganization, NewUser};
use time::OffsetDateTime;
use uuid::Uuid;

const REDIRECT: &str = "https://app.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. An Identity on the adapter. The store is cloned into the Identity; clones of a
    //    LoggingStore share the wrapped store and the call counts.
    let store = LoggingStore::new(MemoryStore::new());
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .environment(Environment::Sandbox)
        // Signing keys are stored encrypted under this key; a real host loads it from a secret.
        .key_encryption_key(EncryptionKey::from_bytes(&[42; 32])?)
        .store(store.clone())
        .build()?;

    let org = identity
        .organizations()
        .create(NewOrganization::new("Misapret")?)
        .await?
        .domain;
    let app = identity
        .applications(ApplicationScope::Organization(org.clone()))
        .create(
            NewApplication::new("Bank", ApplicationType::React)?
                .with(|a| a.allowed_redirect_urls(&[REDIRECT]))?,
        )
        .await?;
    let client = app.application.client_id;
    let user = identity
        .users(&org)
        .create(NewUser::new("janis.joplin@example.com")?)
        .await?;
    println!(
        "set up organization `{org}`, client {client}, user {}",
        user.id
    );
    println!("store calls so far: {}\n", store.summary());

    // 2. The token flow, printing each store call it makes.
    store.echo(true);
    let tokens = identity.tokens();
    let auth = ClientAuth::public(client);
    println!("mint an authorization code:");
    let code = tokens
        .mint_code(CodeRequest {
            org: org.clone(),
            user_id: user.id,
            client_id: client,
            redirect_uri: REDIRECT.to_owned(),
            code_challenge: CodeChallenge::s256(VERIFIER)?,
            nonce: None,
            state: None,
            scope: vec!["openid".to_owned(), "email".to_owned()],
            auth_time: OffsetDateTime::now_utc(),
            amr: vec!["pwd".to_owned()],
        })
        .await?;
    println!("exchange it (PKCE):");
    let first = tokens
        .exchange_code(&auth, code.expose(), REDIRECT, VERIFIER)
        .await?;
    println!("refresh (rotation is one compare-and-swap call):");
    let second = tokens
        .refresh(&auth, first.refresh_token.expose(), None)
        .await?;
    println!("verify the access token live:");
    tokens.verify_live(&second.access_token).await?;
    println!("sign the user out everywhere:");
    tokens.global_sign_out(&org, user.id).await?;
    let after = tokens.verify_live(&second.access_token).await;
    println!("the access token after sign-out: {}", describe(&after));
    store.echo(false);
    println!("\nstore calls in all: {}\n", store.summary());

    // 3. The conformance suite, on fresh wrappers: a few checks one by one (the
    //    `*_under_contention` ones race tasks on the multi-threaded runtime), then the restart
    //    pair (on one live store: a MemoryStore cannot reopen), then every check of the
    //    `conformance_tests!` macro at once on one store.
    let store = LoggingStore::new(MemoryStore::new());
    conformance::organization_round_trips(&store).await;
    conformance::user_email_is_unique_per_organization_case_insensitively(&store).await;
    conformance::take_once_has_exactly_one_winner_under_contention(&store).await;
    conformance::rotation_has_exactly_one_winner_under_contention(&store).await;
    conformance::rotation_racing_revocation_never_leaves_a_live_successor(&store).await;
    conformance::revocation_feed_misses_nothing_under_contention(&store).await;
    let state = conformance::restart_prepare(&store).await;
    conformance::restart_verify(&store, state).await;
    println!("conformance: the checks one by one passed");
    let store = LoggingStore::new(MemoryStore::new());
    conformance::every_check_at_once(&store).await;
    println!(
        "conformance: every check at once passed ({} store calls)",
        store.total()
    );
    Ok(())
}

/// A live-verification answer in a few words.
fn describe<T>(result: &Result<T, idcore::Error>) -> String {
    match result {
        Ok(_) => "valid".to_owned(),
        Err(e) => format!("refused ({e})"),
    }
}

/// Wraps a store, counting each call by method name and optionally printing it. Clones share
/// the wrapped store and the counts (a store handed to an `Identity` is cloned into it).
#[derive(Clone)]
pub struct LoggingStore<S> {
    inner: S,
    calls: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    echo: Arc<AtomicBool>,
}

impl<S> LoggingStore<S> {
    /// Wraps `inner`, silent.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            calls: Arc::default(),
            echo: Arc::default(),
        }
    }

    /// Prints every call from now on (`true`) or stops printing (`false`).
    pub fn echo(&self, on: bool) {
        self.echo.store(on, Ordering::Relaxed);
    }

    /// How many calls were made, in all.
    pub fn total(&self) -> u64 {
        self.counts().values().sum()
    }

    /// The calls per method, as `method×count`.
    pub fn summary(&self) -> String {
        let counts = self.counts();
        let parts: Vec<String> = counts.iter().map(|(m, n)| format!("{m}×{n}")).collect();
        parts.join(", ")
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, u64>> {
        // A panic elsewhere while the lock was held leaves the counts usable.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log(&self, method: &'static str) {
        *self.counts().entry(method).or_default() += 1;
        if self.echo.load(Ordering::Relaxed) {
            println!("  store ← {method}");
        }
    }
}

// Every store trait, by delegation: log, then call the wrapped store. A database adapter runs its
// SQL here instead. A caching adapter could answer plain reads from its cache and write through
// to `inner` (invalidating on every write), but must leave the atomic primitives — `take`,
// `rotate_refresh_token`, `increment`, `mark_once`, `advance` — to the durable store. Each method
// keeps its trait's Contract: what is atomic, and what is answered on conflict.

impl<S: OrganizationStore> OrganizationStore for LoggingStore<S> {
    async fn insert_organization(
        &self,
        env: Environment,
        org: &Organization,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.log("insert_organization");
        self.inner.insert_organization(env, org, event).await
    }

    async fn organization(
        &self,
        env: Environment,
        domain: &OrgDomain,
    ) -> Result<Option<Organization>, StoreError> {
        self.log("organization");
        self.inner.organization(env, domain).await
    }

    async fn update_organization(
        &self,
        env: Environment,
        org: &Organization,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.log("update_organization");
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
        self.log("delete_organization");
        self.inner
            .delete_organization(env, domain, deleted_at, event)
            .await
    }

    async fn list_organizations(
        &self,
        env: Environment,
        page: PageRequest,
    ) -> Result<(Vec<Organization>, u64), StoreError> {
        self.log("list_organizations");
        self.inner.list_organizations(env, page).await
    }
}

impl<S: UserStore> UserStore for LoggingStore<S> {
    async fn insert_user(
        &self,
        env: Environment,
        user: &User,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.log("insert_user");
        self.inner.insert_user(env, user, event).await
    }

    async fn user(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: UserId,
    ) -> Result<Option<User>, StoreError> {
        self.log("user");
        self.inner.user(env, org, id).await
    }

    async fn user_by_email(
        &self,
        env: Environment,
        org: &OrgDomain,
        email: &Email,
    ) -> Result<Option<User>, StoreError> {
        self.log("user_by_email");
        self.inner.user_by_email(env, org, email).await
    }

    async fn update_user(
        &self,
        env: Environment,
        user: &User,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.log("update_user");
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
        self.log("list_users");
        self.inner.list_users(env, org, page).await
    }
}

impl<S: ApplicationStore> ApplicationStore for LoggingStore<S> {
    async fn insert_application(
        &self,
        env: Environment,
        app: &Application,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.log("insert_application");
        self.inner.insert_application(env, app, event).await
    }

    async fn application(
        &self,
        env: Environment,
        client_id: ClientId,
    ) -> Result<Option<Application>, StoreError> {
        self.log("application");
        self.inner.application(env, client_id).await
    }

    async fn update_application(
        &self,
        env: Environment,
        app: &Application,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.log("update_application");
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
        self.log("delete_application");
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
        self.log("list_applications");
        self.inner.list_applications(env, scope, page).await
    }
}

impl<S: AuditStore> AuditStore for LoggingStore<S> {
    async fn record_event(&self, env: Environment, event: &NewEvent) -> Result<Event, StoreError> {
        self.log("record_event");
        self.inner.record_event(env, event).await
    }

    async fn events(
        &self,
        env: Environment,
        query: &EventQuery,
        page: PageRequest,
    ) -> Result<(Vec<Event>, u64), StoreError> {
        self.log("events");
        self.inner.events(env, query, page).await
    }
}

impl<S: OneTimeStore> OneTimeStore for LoggingStore<S> {
    async fn put_once(
        &self,
        env: Environment,
        key: &Key,
        entry: &OneTimeEntry,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.log("put_once");
        self.inner.put_once(env, key, entry, now).await
    }

    async fn peek_once(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.log("peek_once");
        self.inner.peek_once(env, key, now).await
    }

    async fn take(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<Take, StoreError> {
        self.log("take");
        self.inner.take(env, key, now).await
    }
}

impl<S: RefreshTokenStore> RefreshTokenStore for LoggingStore<S> {
    async fn insert_refresh_token(
        &self,
        env: Environment,
        record: &RefreshTokenRecord,
    ) -> Result<(), StoreError> {
        self.log("insert_refresh_token");
        self.inner.insert_refresh_token(env, record).await
    }

    async fn refresh_token(
        &self,
        env: Environment,
        digest: &Digest,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        self.log("refresh_token");
        self.inner.refresh_token(env, digest).await
    }

    async fn rotate_refresh_token(
        &self,
        env: Environment,
        old: &Digest,
        successor: &RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        self.log("rotate_refresh_token");
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
        self.log("revoke_family");
        self.inner.revoke_family(env, family, now).await
    }

    async fn revoke_user_refresh_tokens(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.log("revoke_user_refresh_tokens");
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
        self.log("revoke_client_refresh_tokens");
        self.inner
            .revoke_client_refresh_tokens(env, client_id, now)
            .await
    }
}

impl<S: CounterStore> CounterStore for LoggingStore<S> {
    async fn increment(
        &self,
        env: Environment,
        key: &Key,
        limit: u64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Counted, StoreError> {
        self.log("increment");
        self.inner.increment(env, key, limit, expires_at, now).await
    }

    async fn decrement(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.log("decrement");
        self.inner.decrement(env, key, now).await
    }

    async fn count(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.log("count");
        self.inner.count(env, key, now).await
    }

    async fn reset(&self, env: Environment, key: &Key) -> Result<(), StoreError> {
        self.log("reset");
        self.inner.reset(env, key).await
    }
}

impl<S: LimitedSetStore> LimitedSetStore for LoggingStore<S> {
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
        self.log("join");
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
        self.log("leave");
        self.inner.leave(env, set, member, now).await
    }

    async fn members(
        &self,
        env: Environment,
        set: &Key,
        now: OffsetDateTime,
    ) -> Result<Vec<SetMember>, StoreError> {
        self.log("members");
        self.inner.members(env, set, now).await
    }

    async fn clear(
        &self,
        env: Environment,
        set: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.log("clear");
        self.inner.clear(env, set, now).await
    }
}

impl<S: SessionStore> SessionStore for LoggingStore<S> {
    async fn open_session(
        &self,
        env: Environment,
        record: &SessionRecord,
        now: OffsetDateTime,
    ) -> Result<Opened, StoreError> {
        self.log("open_session");
        self.inner.open_session(env, record, now).await
    }

    async fn session_by_token(
        &self,
        env: Environment,
        token_digest: &Digest,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.log("session_by_token");
        self.inner.session_by_token(env, token_digest, now).await
    }

    async fn touch_session(
        &self,
        env: Environment,
        id: Uuid,
        idle_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.log("touch_session");
        self.inner
            .touch_session(env, id, idle_expires_at, now)
            .await
    }

    async fn end_session(&self, env: Environment, id: Uuid) -> Result<bool, StoreError> {
        self.log("end_session");
        self.inner.end_session(env, id).await
    }

    async fn end_user_sessions(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        except: Option<Uuid>,
    ) -> Result<u64, StoreError> {
        self.log("end_user_sessions");
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
        self.log("user_sessions");
        self.inner.user_sessions(env, org, user_id, now).await
    }
}

impl<S: ReplayStore> ReplayStore for LoggingStore<S> {
    async fn mark_once(
        &self,
        env: Environment,
        key: &Key,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Mark, StoreError> {
        self.log("mark_once");
        self.inner.mark_once(env, key, expires_at, now).await
    }

    async fn advance(
        &self,
        env: Environment,
        key: &Key,
        value: u64,
    ) -> Result<Advance, StoreError> {
        self.log("advance");
        self.inner.advance(env, key, value).await
    }
}

impl<S: SigningKeyStore> SigningKeyStore for LoggingStore<S> {
    async fn insert_signing_key(
        &self,
        env: Environment,
        key: &SigningKeyRecord,
    ) -> Result<(), StoreError> {
        self.log("insert_signing_key");
        self.inner.insert_signing_key(env, key).await
    }

    async fn signing_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        now: OffsetDateTime,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        self.log("signing_keys");
        self.inner.signing_keys(env, org, now).await
    }

    async fn retire_signing_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        keep: &str,
        retires_at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.log("retire_signing_keys");
        self.inner
            .retire_signing_keys(env, org, keep, retires_at)
            .await
    }
}

impl<S: RevocationStore> RevocationStore for LoggingStore<S> {
    async fn record_revocation(
        &self,
        env: Environment,
        revocation: &Revocation,
    ) -> Result<u64, StoreError> {
        self.log("record_revocation");
        self.inner.record_revocation(env, revocation).await
    }

    async fn revocations_since(
        &self,
        env: Environment,
        after: u64,
        now: OffsetDateTime,
    ) -> Result<Vec<(u64, Revocation)>, StoreError> {
        self.log("revocations_since");
        self.inner.revocations_since(env, after, now).await
    }
}

impl<S: CredentialStore> CredentialStore for LoggingStore<S> {
    async fn insert_account(
        &self,
        env: Environment,
        user: &User,
        credentials: &CredentialRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.log("insert_account");
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
        self.log("insert_credentials");
        self.inner.insert_credentials(env, credentials, event).await
    }

    async fn credentials(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        self.log("credentials");
        self.inner.credentials(env, org, user_id).await
    }

    async fn credentials_by_username(
        &self,
        env: Environment,
        org: &OrgDomain,
        username: &str,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        self.log("credentials_by_username");
        self.inner.credentials_by_username(env, org, username).await
    }

    async fn update_credentials(
        &self,
        env: Environment,
        credentials: &CredentialRecord,
        expected_version: u64,
        event: Option<&NewEvent>,
    ) -> Result<(), StoreError> {
        self.log("update_credentials");
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
        self.log("delete_account");
        self.inner.delete_account(env, org, user_id, event).await
    }
}

// `live_user_claims` keeps the trait's default (the user and the schema read at once, each
// logged); a database adapter may answer it with one statement.
impl<S: ClaimStore> ClaimStore for LoggingStore<S> {
    async fn claim_schema(
        &self,
        env: Environment,
        org: &OrgDomain,
    ) -> Result<ClaimSchema, StoreError> {
        self.log("claim_schema");
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
        self.log("put_claim_schema");
        self.inner
            .put_claim_schema(env, org, schema, expected_version, event)
            .await
    }
}

impl<S: SsoStore> SsoStore for LoggingStore<S> {
    async fn insert_sso_connection(
        &self,
        env: Environment,
        connection: &SsoConnection,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.log("insert_sso_connection");
        self.inner
            .insert_sso_connection(env, connection, event)
            .await
    }

    async fn sso_connection(
        &self,
        env: Environment,
        idp_id: &IdpId,
    ) -> Result<Option<SsoConnection>, StoreError> {
        self.log("sso_connection");
        self.inner.sso_connection(env, idp_id).await
    }

    async fn list_sso_connections(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<SsoConnection>, u64), StoreError> {
        self.log("list_sso_connections");
        self.inner.list_sso_connections(env, org, page).await
    }

    async fn update_sso_connection(
        &self,
        env: Environment,
        connection: &SsoConnection,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.log("update_sso_connection");
        self.inner
            .update_sso_connection(env, connection, expected_version, event)
            .await
    }
}

impl<S: ApiKeyStore> ApiKeyStore for LoggingStore<S> {
    async fn insert_api_key(
        &self,
        env: Environment,
        record: &ApiKeyRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        self.log("insert_api_key");
        self.inner.insert_api_key(env, record, event).await
    }

    async fn api_key(
        &self,
        env: Environment,
        id: ApiKeyId,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.log("api_key");
        self.inner.api_key(env, id).await
    }

    async fn list_api_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<ApiKeyRecord>, u64), StoreError> {
        self.log("list_api_keys");
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
        self.log("revoke_api_key");
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
        self.log("rotate_api_key");
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
        self.log("touch_api_key");
        self.inner.touch_api_key(env, id, used_at, if_before).await
    }
}
