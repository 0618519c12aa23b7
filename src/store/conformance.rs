//! The store conformance suite: public async checks that prove a [`Store`] keeps every clause
//! of the *Contract* sections in [`crate::store`] — for [`MemoryStore`](crate::MemoryStore) and
//! for any adapter, in-tree or third-party.
//!
//! Each check exercises one behaviour and is named after it. It panics (through `assert_eq!`
//! with the exact expected value, and a message naming the clause) when the store breaks the
//! contract, and returns normally otherwise. Capability differences are arguments
//! ([`Isolation`]), never forks of the suite.
//!
//! Every check draws fresh random organization domains, e-mails, client ids, digests and keys,
//! so the checks can run in parallel against **one shared database**. The concurrency checks
//! start their tasks together behind a [`tokio::sync::Barrier`] and need a multi-threaded tokio
//! runtime; a call that answers [`StoreError::Retryable`] (nothing written, by contract) is
//! retried there, as a caller would.
//!
//! # Running the suite against an adapter
//! In the adapter crate's `Cargo.toml`, idcore with this feature and tokio (the generated tests
//! are `#[tokio::test]`s, which name the `tokio` crate directly):
//!
//! ```toml
//! [dev-dependencies]
//! idcore = { version = "0.1", features = ["conformance"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! Then, in `tests/conformance.rs`, an async function that returns a ready store (a fresh one,
//! or a handle on a shared test database) and the macro, which expands every check into its own
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]`:
//!
//! ```
//! use idcore::MemoryStore;
//!
//! async fn make() -> MemoryStore {
//!     MemoryStore::new() // your adapter: connect, migrate, return it
//! }
//!
//! // Every test gets its own fresh store here, so global list totals can be checked exactly:
//! idcore::conformance_tests!(make, idcore::store::conformance::Isolation::Exclusive);
//! // With a shared database, `idcore::conformance_tests!(make);` checks them as lower bounds.
//! # fn main() {}
//! ```
//!
//! A check can also be called on its own, for instance from a test with its own setup:
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! use idcore::store::conformance;
//!
//! let store = idcore::MemoryStore::new();
//! conformance::take_once_has_exactly_one_winner_under_contention(&store).await;
//! conformance::counter_has_exactly_limit_winners_under_contention(&store).await;
//! # }
//! ```
//!
//! # Durable stores: restart checks
//! [`restart_prepare`] and [`restart_verify`] check that used codes stay used, rotated refresh
//! tokens stay not-current, and TOTP steps, nonces and accounts with their credentials survive
//! a restart. They are not part of
//! the macro (only the adapter knows how to close and reopen its storage):
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! use idcore::store::conformance;
//!
//! let store = idcore::MemoryStore::new(); // a durable adapter: open it on its storage
//! let state = conformance::restart_prepare(&store).await;
//! // A durable adapter's test closes the store here and opens it again on the same storage
//! // (`drop(store); let reopened = MyStore::open(&path).await;`). MemoryStore cannot reopen.
//! let reopened = store;
//! conformance::restart_verify(&reopened, state).await;
//! # }
//! ```
//!
//! [`MemoryStore`](crate::MemoryStore) forgets everything with the process, so it cannot pass
//! them across a real restart; its own tests only run the pair on one live store.
//!
//! # Fixtures
//! [`organization`], [`user`], [`application`], [`refresh_token`], [`successor`],
//! [`one_time_entry`], [`credential_record`] and [`event`] build valid records with every
//! field set (so a store that drops a column fails the round-trip checks) at a given clock
//! time, for adapter authors' own tests. Times are whole seconds from [`T0`], so stores that keep microseconds round-trip
//! them exactly. They panic only on an invalid prefix or when the operating system's random
//! generator fails.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;
use uuid::Uuid;

use super::tokens::{Revocation, SigningKeyRecord};
use super::{
    AccountRole, AccountStatus, Advance, Counted, CredentialRecord, FamilyId, Key, Mark,
    OneTimeEntry, RefreshState, RefreshTokenRecord, Rotation, SealedTotp, Store, StoreError, Take,
};
use crate::model::event::{Event, EventCode, EventQuery, NewEvent};
use crate::model::application::{Application, ApplicationScope, ApplicationType, TokenValidity};
use crate::model::fields::{Birthdate, CountryCode, Email, Gender, HexColor, HttpUrl, Locale, Name, Origin, PhoneNumber, RedirectUri, Text, ZoneInfo};
use crate::model::ids::{ClientId, Environment, OrgDomain, OrganizationId, UserId};
use crate::model::organization::Organization;
use crate::model::user::{Address, MetadataEntry, Profile, User};
use crate::page::{Cursor, ListKind, PageRequest};
use crate::secret::{Digest, hex, random_array};
use crate::crypto::keys::Algorithm;

/// The clock time the checks start from: 2030-01-01T00:00:00Z.
pub const T0: OffsetDateTime = datetime!(2030-01-01 00:00 UTC);

/// Where the global-list checks start when the store holds nothing newer: far after every
/// other check's records, so theirs are the newest of the environment.
const LIST_BASE: OffsetDateTime = datetime!(2900-01-01 00:00 UTC);

/// The environment of every check that is not about environments.
const ENV: Environment = Environment::Production;

/// How often a concurrency check retries a call answered with [`StoreError::Retryable`].
const RETRIES: usize = 50;

/// What a check may assume about other writers of the store while it runs. Only the totals of
/// lists that span the whole environment (organizations, global applications) depend on it;
/// every other list is scoped to a fresh organization and always checked exactly.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Isolation {
    /// Each check gets a fresh, empty store that nothing else writes to: environment-wide totals
    /// and the end of environment-wide lists are checked exactly.
    Exclusive,
    /// Other checks may write to the same database concurrently: environment-wide lists are
    /// checked on their newest entries (which the check makes its own) and totals as lower bounds.
    Shared,
}

/// A store answer reduced to what the contract specifies, so that it compares with `assert_eq!`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// `Ok(_)`.
    Ok,
    /// [`StoreError::NotFound`].
    NotFound,
    /// [`StoreError::AlreadyExists`] naming this key.
    AlreadyExists(&'static str),
    /// [`StoreError::Precondition`].
    Precondition,
    /// [`StoreError::Retryable`].
    Retryable,
    /// [`StoreError::Backend`].
    Backend,
}

impl Outcome {
    /// The outcome of a store call.
    pub fn of<T>(result: &Result<T, StoreError>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(StoreError::NotFound) => Self::NotFound,
            Err(StoreError::AlreadyExists { key }) => Self::AlreadyExists(key),
            Err(StoreError::Precondition) => Self::Precondition,
            Err(StoreError::Retryable { .. }) => Self::Retryable,
            Err(StoreError::Backend { .. }) => Self::Backend,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// `T0` plus `seconds`.
pub fn at(seconds: i64) -> OffsetDateTime {
    T0 + Duration::seconds(seconds)
}

/// `prefix-` and 16 random lowercase hex digits.
///
/// # Panics
/// If the operating system's random generator fails.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", hex(&random::<8>()))
}

/// A fresh random uuid (version 4 layout).
///
/// # Panics
/// If the operating system's random generator fails.
pub fn fresh_uuid() -> Uuid {
    uuid::Builder::from_random_bytes(random()).into_uuid()
}

/// A fresh organization domain, `prefix-` and 16 random hex digits.
///
/// # Panics
/// If `prefix` is not a slug of at most 46 characters (`org`, `my-check`).
pub fn fresh_domain(prefix: &str) -> OrgDomain {
    OrgDomain::parse(&unique(prefix)).expect("prefix is a short slug")
}

/// A fresh e-mail address, `prefix-<16 hex digits>@example.com`.
///
/// # Panics
/// If `prefix` is not a valid local part of at most 47 bytes.
pub fn fresh_email(prefix: &str) -> Email {
    Email::parse(&format!("{}@example.com", unique(prefix))).expect("prefix is a short local part")
}

/// A fresh primitive-store key in the `conformance` namespace.
pub fn fresh_key(what: &str) -> Key {
    Key::new("conformance", &[what, &hex(&random::<8>())])
}

/// A fresh digest (of 32 random bytes), as a refresh token's.
pub fn fresh_digest() -> Digest {
    Digest::of(&random::<32>())
}

/// A valid organization with every optional field set, inserted and updated at `at`,
/// version 1, with a fresh id.
pub fn organization(env: Environment, domain: &OrgDomain, at: OffsetDateTime) -> Organization {
    Organization {
        id: OrganizationId::from_uuid(fresh_uuid()),
        domain: domain.clone(),
        environment: env,
        managed_by: name("conformance"),
        name: name(&format!("Conformance {domain}")),
        locality: Some(name("Lille")),
        state: Some(name("Hauts-de-France")),
        country_name: Some(CountryCode::parse("FR").expect("FR is a country code")),
        privacy_policy_url: Some(http_url("https://example.com/privacy")),
        terms_of_service_url: Some(http_url("https://example.com/terms?v=2")),
        inserted_at: at,
        updated_at: at,
        deleted_at: None,
        version: 1,
    }
}

/// A valid user of `org` with every profile field set, inserted and updated at `at`,
/// version 1, with a fresh id.
pub fn user(env: Environment, org: &OrgDomain, email: &Email, at: OffsetDateTime) -> User {
    let text = |s: &str| Text::parse(s).expect("constant is a valid text");
    User {
        id: UserId::from_uuid(fresh_uuid()),
        org: org.clone(),
        environment: env,
        managed_by: name("conformance"),
        profile: Profile {
            email: email.clone(),
            email_verified: true,
            name: Some(name("Ada Lovelace")),
            given_name: Some(name("Ada")),
            family_name: Some(name("Lovelace")),
            middle_name: Some(name("Augusta")),
            nickname: Some(name("Ada")),
            preferred_username: Some(name("ada")),
            profile: Some(http_url("https://example.com/ada")),
            picture: Some(http_url("https://example.com/ada.png")),
            website: Some(http_url("https://ada.example.com")),
            gender: Some(Gender::parse("female").expect("constant is a valid gender")),
            birthdate: Some(Birthdate::parse("1815-12-10").expect("constant is a valid date")),
            zoneinfo: Some(ZoneInfo::parse("Europe/London").expect("constant is a valid zone")),
            locale: Some(Locale::parse("en-GB").expect("constant is a valid locale")),
            phone_number: Some(
                PhoneNumber::parse("+442079460000").expect("constant is a valid number"),
            ),
            phone_number_verified: false,
            address: Some(Address {
                formatted: Some(text("12 St James's Square\nLondon SW1Y 4JH")),
                street_address: Some(text("12 St James's Square")),
                locality: Some(name("London")),
                region: Some(name("Greater London")),
                postal_code: Some(name("SW1Y 4JH")),
                country: Some(name("United Kingdom")),
            }),
        },
        metadata: vec![MetadataEntry {
            key: "plan".to_owned(),
            value: "analytical-engine".to_owned(),
        }],
        active: true,
        avatar_hexa_color: HexColor::parse("#1a2b3c").expect("constant is a valid color"),
        inserted_at: at,
        updated_at: at,
        version: 1,
    }
}

/// A valid confidential application of `scope` with every field set, inserted and updated at
/// `at`, version 1, with a fresh `client_id`.
pub fn application(env: Environment, scope: ApplicationScope, at: OffsetDateTime) -> Application {
    let redirect = |s: &str| RedirectUri::parse(s).expect("constant is a valid redirect URI");
    let origin = |s: &str| Origin::parse(s).expect("constant is a valid origin");
    Application {
        client_id: ClientId::from_uuid(fresh_uuid()),
        scope,
        environment: env,
        managed_by: name("conformance"),
        name: name("Conformance app"),
        description: Some(Text::parse("Checks a store.").expect("constant is a valid text")),
        application_type: ApplicationType::RegularWeb,
        client_secret_digest: Some(fresh_digest()),
        allowed_redirect_urls: vec![
            redirect("https://app.example.com/callback"),
            redirect("http://127.0.0.1:8080/callback"),
        ],
        allowed_logout_urls: vec![http_url("https://app.example.com/bye")],
        allowed_origins_cors: vec![origin("https://app.example.com")],
        allowed_web_origins: vec![origin("https://www.example.com")],
        default_redirect_uri_after_login: Some(redirect("https://app.example.com/callback")),
        default_redirect_uri_after_logout: Some(http_url("https://app.example.com/bye")),
        default_origin_cors: Some(origin("https://app.example.com")),
        default_web_origin: Some(origin("https://www.example.com")),
        token_validity: TokenValidity {
            access_token: Some(Duration::minutes(15)),
            id_token: None,
            refresh_token: Some(Duration::days(7)),
        },
        inserted_at: at,
        updated_at: at,
        deleted_at: None,
        version: 1,
    }
}

/// The first, `Active` token of a new family, issued at `at`: a fresh digest and family,
/// generation 0, expiring one day after `at`, the family thirty days after.
pub fn refresh_token(
    org: &OrgDomain,
    user_id: UserId,
    client_id: ClientId,
    at: OffsetDateTime,
) -> RefreshTokenRecord {
    RefreshTokenRecord {
        digest: fresh_digest(),
        family: FamilyId(fresh_uuid()),
        generation: 0,
        org: org.clone(),
        user_id,
        client_id,
        scope: "openid email offline_access".to_owned(),
        auth_time: at,
        issued_at: at,
        expires_at: at + Duration::days(1),
        family_expires_at: at + Duration::days(30),
        state: RefreshState::Active,
    }
}

/// The `Active` token that replaces `of` when it is rotated at `at`: a fresh digest, the same
/// family and grant, the next generation, expiring one day after `at` (never after the family).
pub fn successor(of: &RefreshTokenRecord, at: OffsetDateTime) -> RefreshTokenRecord {
    RefreshTokenRecord {
        digest: fresh_digest(),
        generation: of.generation + 1,
        issued_at: at,
        expires_at: (at + Duration::days(1)).min(of.family_expires_at),
        state: RefreshState::Active,
        ..of.clone()
    }
}

/// A one-time entry put at `at`: takeable for 10 minutes, remembered for one hour.
pub fn one_time_entry(payload: &[u8], at: OffsetDateTime) -> OneTimeEntry {
    OneTimeEntry {
        payload: payload.to_vec(),
        expires_at: at + Duration::minutes(10),
        retain_until: at + Duration::hours(1),
    }
}

/// An event of `tenant` with code `code` at `at`, carrying one detail.
///
/// # Panics
/// If `code` is not an UPPER_SNAKE_CASE event code.
pub fn event(code: &str, tenant: &OrgDomain, at: OffsetDateTime) -> NewEvent {
    NewEvent::new(EventCode::parse(code).expect("an event code"), at)
        .tenant(tenant)
        .detail("suite", "conformance")
}

fn random<const N: usize>() -> [u8; N] {
    random_array().expect("the operating system's random generator works")
}

fn name(s: &str) -> Name {
    Name::parse(s).expect("constant is a valid name")
}

fn http_url(s: &str) -> HttpUrl {
    HttpUrl::parse(s).expect("constant is a valid URL")
}

fn page(page: u32, per_page: u32) -> PageRequest {
    PageRequest::new(page, per_page).expect("page and per_page are at least 1")
}

/// `email` with every letter upper-cased.
fn shouted(email: &Email) -> Email {
    Email::parse(&email.as_str().to_uppercase()).expect("an upper-cased address stays valid")
}

/// `email` with every letter lower-cased.
fn whispered(email: &Email) -> Email {
    Email::parse(&email.as_str().to_lowercase()).expect("a lower-cased address stays valid")
}

/// Sorts newest first: `at` descending, ties by `id` descending.
fn sort_newest_first<T>(items: &mut [T], key: impl Fn(&T) -> (OffsetDateTime, Uuid)) {
    items.sort_by_key(|item| std::cmp::Reverse(key(item)));
}

/// Page `n` (from 1) of `per` items of `all`.
fn chunk<T>(all: &[T], per: usize, n: usize) -> &[T] {
    all.chunks(per).nth(n - 1).unwrap_or(&[])
}

#[track_caller]
fn ok<T>(result: Result<T, StoreError>, call: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{call}: expected success, the store answered {e:?}"),
    }
}

/// Calls `call` again while it answers [`StoreError::Retryable`].
async fn retried<T, F, Fut>(mut call: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    for _ in 0..RETRIES {
        match call().await {
            Err(StoreError::Retryable { .. }) => tokio::task::yield_now().await,
            other => return other,
        }
    }
    call().await
}

/// Spawns `n` tasks built by `task`, releases them together, and returns their outputs in task
/// order.
async fn race<T, Fut>(n: usize, mut task: impl FnMut(usize) -> Fut) -> Vec<T>
where
    T: Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let barrier = Arc::clone(&barrier);
        let fut = task(i);
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut out = Vec::with_capacity(n);
    for handle in handles {
        out.push(handle.await.expect("a conformance task panicked"));
    }
    out
}

/// How many of `items` satisfy `pred`.
fn count<T>(items: &[T], pred: impl Fn(&T) -> bool) -> usize {
    items.iter().filter(|item| pred(item)).count()
}

/// Inserts a fresh organization of `env` and answers its domain.
async fn fresh_org<S: Store>(store: &S, env: Environment, prefix: &str) -> OrgDomain {
    let domain = fresh_domain(prefix);
    let org = organization(env, &domain, T0);
    ok(
        store
            .insert_organization(env, &org, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization (setup)",
    );
    domain
}

/// Inserts a fresh user of `org` and answers it.
async fn fresh_user<S: Store>(store: &S, env: Environment, org: &OrgDomain) -> User {
    let u = user(env, org, &fresh_email("user"), T0);
    let ev = event("USER_CREATED", org, T0).user(u.id, &u.profile.email);
    ok(store.insert_user(env, &u, &ev).await, "insert_user (setup)");
    u
}

/// Inserts a fresh application scoped to `org` and answers its client id.
async fn fresh_app<S: Store>(store: &S, env: Environment, org: &OrgDomain) -> ClientId {
    let app = application(env, ApplicationScope::Organization(org.clone()), T0);
    let ev = event("APPLICATION_CREATED", org, T0).client(app.client_id);
    ok(
        store.insert_application(env, &app, &ev).await,
        "insert_application (setup)",
    );
    app.client_id
}

/// Who a refresh token is issued to.
struct Grant {
    org: OrgDomain,
    user_id: UserId,
    client_id: ClientId,
}

impl Grant {
    /// Inserts an organization, one of its users and one of its applications.
    async fn fresh<S: Store>(store: &S, env: Environment) -> Self {
        let org = fresh_org(store, env, "grant").await;
        let user_id = fresh_user(store, env, &org).await.id;
        let client_id = fresh_app(store, env, &org).await;
        Self {
            org,
            user_id,
            client_id,
        }
    }

    fn token(&self, at: OffsetDateTime) -> RefreshTokenRecord {
        refresh_token(&self.org, self.user_id, self.client_id, at)
    }
}

/// Inserts `record` (setup).
async fn insert_token<S: Store>(store: &S, env: Environment, record: &RefreshTokenRecord) {
    ok(
        store.insert_refresh_token(env, record).await,
        "insert_refresh_token",
    );
}

/// The stored token with this digest.
async fn token_of<S: Store>(
    store: &S,
    env: Environment,
    digest: &Digest,
) -> Option<RefreshTokenRecord> {
    ok(store.refresh_token(env, digest).await, "refresh_token")
}

/// Rotates `old` into a fresh successor at `now`; answers the successor (setup).
async fn rotate_ok<S: Store>(
    store: &S,
    env: Environment,
    old: &RefreshTokenRecord,
    now: OffsetDateTime,
) -> RefreshTokenRecord {
    let next = successor(old, now);
    let rotation = ok(
        store
            .rotate_refresh_token(env, &old.digest, &next, now)
            .await,
        "rotate_refresh_token",
    );
    assert!(
        matches!(rotation, Rotation::Rotated(_)),
        "rotating an active, unexpired token must answer Rotated, got {rotation:?}"
    );
    next
}

/// `record` as it must read after being revoked at `at`.
fn revoked(record: &RefreshTokenRecord, at: OffsetDateTime) -> RefreshTokenRecord {
    RefreshTokenRecord {
        state: RefreshState::Revoked { at },
        ..record.clone()
    }
}

/// The events of one tenant, newest first, all of them.
async fn tenant_events<S: Store>(
    store: &S,
    env: Environment,
    tenant: &OrgDomain,
) -> (Vec<Event>, u64) {
    ok(
        store
            .events(env, &EventQuery::tenant(tenant), page(1, 100))
            .await,
        "events",
    )
}

/// The codes of `events`, in order.
fn codes(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.event_code.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Organizations
// ---------------------------------------------------------------------------------------------

/// An inserted organization reads back field for field by its domain; an unknown domain
/// answers `None`.
pub async fn organization_round_trips<S: Store>(store: &S) {
    let domain = fresh_domain("org-rt");
    let org = organization(ENV, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &org, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization",
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(org),
        "organization() must return the inserted record, every field intact"
    );
    assert_eq!(
        ok(
            store.organization(ENV, &fresh_domain("org-none")).await,
            "organization"
        ),
        None,
        "an unknown domain must answer None"
    );
}

/// A domain is unique: a second organization with a live domain, or with the domain of a
/// deleted organization, answers `AlreadyExists { key: "domain" }` and changes nothing.
pub async fn organization_domain_stays_taken_after_deletion<S: Store>(store: &S) {
    let domain = fresh_domain("org-dom");
    let first = organization(ENV, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &first, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization",
    );
    let twin = organization(ENV, &domain, at(1));
    assert_eq!(
        Outcome::of(
            &store
                .insert_organization(ENV, &twin, &event("ORGANIZATION_CREATED", &domain, at(1)))
                .await
        ),
        Outcome::AlreadyExists("domain"),
        "inserting a second organization with a live domain"
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(first.clone()),
        "a refused insert must leave the first organization as it was"
    );
    let tombstone = ok(
        store
            .delete_organization(
                ENV,
                &domain,
                at(2),
                &event("ORGANIZATION_DELETED", &domain, at(2)),
            )
            .await,
        "delete_organization",
    );
    let again = organization(ENV, &domain, at(3));
    assert_eq!(
        Outcome::of(
            &store
                .insert_organization(ENV, &again, &event("ORGANIZATION_CREATED", &domain, at(3)))
                .await
        ),
        Outcome::AlreadyExists("domain"),
        "a deleted organization's domain must never be reused"
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(tombstone),
        "the tombstone must stay in place after a refused insert"
    );
}

/// An organization id is unique: inserting another domain with a taken id answers
/// `AlreadyExists { key: "id" }` and stores nothing.
pub async fn organization_id_is_unique<S: Store>(store: &S) {
    let first = organization(ENV, &fresh_domain("org-id"), T0);
    ok(
        store
            .insert_organization(
                ENV,
                &first,
                &event("ORGANIZATION_CREATED", &first.domain, T0),
            )
            .await,
        "insert_organization",
    );
    let other_domain = fresh_domain("org-id");
    let same_id = Organization {
        id: first.id,
        ..organization(ENV, &other_domain, T0)
    };
    assert_eq!(
        Outcome::of(
            &store
                .insert_organization(
                    ENV,
                    &same_id,
                    &event("ORGANIZATION_CREATED", &other_domain, T0)
                )
                .await
        ),
        Outcome::AlreadyExists("id"),
        "inserting an organization with a taken id"
    );
    assert_eq!(
        ok(store.organization(ENV, &other_domain).await, "organization"),
        None,
        "a refused insert must store nothing"
    );
}

/// `update_organization` writes only when the stored version is `expected_version`
/// (`Precondition` otherwise, nothing written) and answers `NotFound` for a missing domain.
pub async fn organization_update_is_conditional_on_version<S: Store>(store: &S) {
    let domain = fresh_domain("org-upd");
    let org = organization(ENV, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &org, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization",
    );
    let next = Organization {
        name: name("Renamed"),
        locality: None,
        updated_at: at(1),
        version: 2,
        ..org.clone()
    };
    ok(
        store
            .update_organization(
                ENV,
                &next,
                1,
                &event("ORGANIZATION_UPDATED", &domain, at(1)),
            )
            .await,
        "update_organization with the stored version",
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(next.clone()),
        "an update must store the given record"
    );
    let stale = Organization {
        name: name("Stale"),
        updated_at: at(2),
        version: 2,
        ..org.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_organization(
                    ENV,
                    &stale,
                    1,
                    &event("ORGANIZATION_UPDATED", &domain, at(2))
                )
                .await
        ),
        Outcome::Precondition,
        "update_organization with a stale expected_version"
    );
    let ahead = Organization {
        version: 4,
        ..stale.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_organization(
                    ENV,
                    &ahead,
                    3,
                    &event("ORGANIZATION_UPDATED", &domain, at(2))
                )
                .await
        ),
        Outcome::Precondition,
        "update_organization with an expected_version ahead of the stored one"
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(next),
        "a refused update must write nothing"
    );
    let missing = organization(ENV, &fresh_domain("org-upd-none"), T0);
    assert_eq!(
        Outcome::of(
            &store
                .update_organization(
                    ENV,
                    &missing,
                    1,
                    &event("ORGANIZATION_UPDATED", &missing.domain, at(3))
                )
                .await
        ),
        Outcome::NotFound,
        "update_organization of a domain that does not exist"
    );
    assert_eq!(
        ok(
            store.organization(ENV, &missing.domain).await,
            "organization"
        ),
        None,
        "updating a missing organization must not create it"
    );
}

/// The domain never changes: an update whose record carries another domain (free, or another
/// organization's) answers `NotFound` and changes neither organization.
pub async fn organization_update_never_changes_the_domain<S: Store>(store: &S) {
    let a = organization(ENV, &fresh_domain("org-mv"), T0);
    let b = organization(ENV, &fresh_domain("org-mv"), T0);
    for org in [&a, &b] {
        ok(
            store
                .insert_organization(ENV, org, &event("ORGANIZATION_CREATED", &org.domain, T0))
                .await,
            "insert_organization",
        );
    }
    let free = fresh_domain("org-mv");
    for target in [&free, &b.domain] {
        let moved = Organization {
            domain: target.clone(),
            name: name("Moved"),
            version: 2,
            ..a.clone()
        };
        assert_eq!(
            Outcome::of(
                &store
                    .update_organization(
                        ENV,
                        &moved,
                        1,
                        &event("ORGANIZATION_UPDATED", target, at(1))
                    )
                    .await
            ),
            Outcome::NotFound,
            "an update carrying organization {}'s id under domain {target} must be refused",
            a.domain
        );
    }
    assert_eq!(
        ok(store.organization(ENV, &a.domain).await, "organization"),
        Some(a),
        "a refused domain change must leave the organization as it was"
    );
    assert_eq!(
        ok(store.organization(ENV, &b.domain).await, "organization"),
        Some(b),
        "a refused domain change must not touch the organization owning the target domain"
    );
    assert_eq!(
        ok(store.organization(ENV, &free).await, "organization"),
        None,
        "a refused domain change must not create the target domain"
    );
}

/// Updating a deleted organization answers `Precondition`, even with its current version, and
/// leaves the tombstone as it is.
pub async fn organization_update_of_a_deleted_organization_is_refused<S: Store>(store: &S) {
    let domain = fresh_domain("org-upd-del");
    let org = organization(ENV, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &org, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization",
    );
    let tombstone = ok(
        store
            .delete_organization(
                ENV,
                &domain,
                at(1),
                &event("ORGANIZATION_DELETED", &domain, at(1)),
            )
            .await,
        "delete_organization",
    );
    let revived = Organization {
        name: name("Revived"),
        deleted_at: None,
        updated_at: at(2),
        version: tombstone.version + 1,
        ..tombstone.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_organization(
                    ENV,
                    &revived,
                    tombstone.version,
                    &event("ORGANIZATION_UPDATED", &domain, at(2))
                )
                .await
        ),
        Outcome::Precondition,
        "updating a deleted organization with its current version"
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(tombstone),
        "a refused update must leave the tombstone as it was"
    );
}

/// `delete_organization` returns the tombstoned record (`deleted_at` set, identity unchanged),
/// which `organization` keeps returning; deleting it again, or a missing domain, answers
/// `NotFound`.
pub async fn organization_delete_leaves_a_tombstone<S: Store>(store: &S) {
    let domain = fresh_domain("org-del");
    let org = organization(ENV, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &org, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization",
    );
    let tombstone = ok(
        store
            .delete_organization(
                ENV,
                &domain,
                at(5),
                &event("ORGANIZATION_DELETED", &domain, at(5)),
            )
            .await,
        "delete_organization",
    );
    assert_eq!(
        tombstone.deleted_at,
        Some(at(5)),
        "the tombstone's deleted_at"
    );
    assert_eq!(
        (
            &tombstone.id,
            &tombstone.domain,
            &tombstone.name,
            tombstone.inserted_at
        ),
        (&org.id, &org.domain, &org.name, org.inserted_at),
        "deleting must keep the organization's identity"
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(tombstone),
        "organization() must return the tombstone delete_organization returned"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_organization(
                    ENV,
                    &domain,
                    at(6),
                    &event("ORGANIZATION_DELETED", &domain, at(6))
                )
                .await
        ),
        Outcome::NotFound,
        "deleting an already deleted organization"
    );
    let missing = fresh_domain("org-del-none");
    assert_eq!(
        Outcome::of(
            &store
                .delete_organization(
                    ENV,
                    &missing,
                    at(6),
                    &event("ORGANIZATION_DELETED", &missing, at(6))
                )
                .await
        ),
        Outcome::NotFound,
        "deleting an organization that never existed"
    );
    assert_eq!(
        ok(store.organization(ENV, &missing).await, "organization"),
        None,
        "deleting a missing organization must not create a tombstone"
    );
}

/// `list_organizations` lists live organizations newest first (`inserted_at` descending, ties
/// by id descending), pages by `page`/`per_page`, skips deleted ones and counts live ones.
///
/// The check's organizations are made the newest of the environment, so with
/// [`Isolation::Shared`] it checks the head of the list and a lower bound of the total; with
/// [`Isolation::Exclusive`] the whole list, the empty page past the end and the exact total.
pub async fn organizations_list_newest_first_with_totals<S: Store>(
    store: &S,
    isolation: Isolation,
) {
    let (head, _) = ok(
        store.list_organizations(ENV, page(1, 1)).await,
        "list_organizations",
    );
    let base = newest_base(head.first().map(|o| o.inserted_at));
    let offsets = [0, 1, 1, 2, 3, 4];
    let mut orgs: Vec<Organization> = offsets
        .iter()
        .map(|s| organization(ENV, &fresh_domain("org-list"), base + Duration::seconds(*s)))
        .collect();
    // Insert out of time order, so that insertion order cannot pass for newest first.
    for i in [2, 5, 0, 3, 1, 4] {
        let org = &orgs[i];
        ok(
            store
                .insert_organization(
                    ENV,
                    org,
                    &event("ORGANIZATION_CREATED", &org.domain, org.inserted_at),
                )
                .await,
            "insert_organization",
        );
    }
    // The newest one is deleted: it must vanish from the list and the total.
    let deleted = orgs.remove(5);
    ok(
        store
            .delete_organization(
                ENV,
                &deleted.domain,
                base + Duration::seconds(10),
                &event("ORGANIZATION_DELETED", &deleted.domain, base),
            )
            .await,
        "delete_organization",
    );
    sort_newest_first(&mut orgs, |o| (o.inserted_at, o.id.as_uuid()));
    let live = orgs.len() as u64;
    for n in 1..=4 {
        let (data, total) = ok(
            store.list_organizations(ENV, page(n, 2)).await,
            "list_organizations",
        );
        let want = chunk(&orgs, 2, n as usize);
        match isolation {
            Isolation::Exclusive => {
                assert_eq!(data, want, "page {n} of 2 organizations, newest first");
                assert_eq!(total, live, "total of live organizations on page {n}");
            }
            Isolation::Shared => {
                assert!(
                    data.len() <= 2 && data.starts_with(want),
                    "page {n} of 2 organizations must start with {want:?}, got {data:?}"
                );
                assert!(
                    total >= live,
                    "total of live organizations on page {n}: at least {live}, got {total}"
                );
            }
        }
    }
    let (all, _) = ok(
        store.list_organizations(ENV, page(1, 100)).await,
        "list_organizations",
    );
    assert!(
        all.iter().all(|o| o.domain != deleted.domain),
        "a deleted organization must not be listed"
    );
}

/// 100 concurrent inserts of organizations sharing one domain: exactly one succeeds, the 99
/// others answer `AlreadyExists { key: "domain" }`, and only the winner and its one event are
/// stored.
pub async fn organization_domain_has_exactly_one_winner_under_contention<S: Store + Clone>(
    store: &S,
) {
    let domain = fresh_domain("org-race");
    let orgs: Vec<Organization> = (0..100).map(|_| organization(ENV, &domain, T0)).collect();
    let results = race(orgs.len(), |i| {
        let store = store.clone();
        let org = orgs[i].clone();
        let ev = event("ORGANIZATION_CREATED", &org.domain, T0).detail("task", i.to_string());
        async move { Outcome::of(&retried(|| store.insert_organization(ENV, &org, &ev)).await) }
    })
    .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent inserts of one domain that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::AlreadyExists("domain")),
        99,
        "concurrent inserts of one domain refused with AlreadyExists {{ key: \"domain\" }}"
    );
    let winner = results
        .iter()
        .position(|r| *r == Outcome::Ok)
        .expect("one insert succeeded (asserted above)");
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(orgs[winner].clone()),
        "the stored organization must be the winner's"
    );
    let (events, total) = tenant_events(store, ENV, &domain).await;
    assert_eq!(
        total, 1,
        "events written by 100 racing inserts: only the winner's"
    );
    assert_eq!(
        events[0].details.get("task"),
        Some(&winner.to_string()),
        "the one event must be the winner's"
    );
}

/// 20 concurrent updates of one organization, all expecting its current version: exactly one
/// succeeds and is stored, the 19 others answer `Precondition`, and one event is written.
pub async fn organization_update_has_exactly_one_winner_under_contention<S: Store + Clone>(
    store: &S,
) {
    let domain = fresh_domain("org-upd-race");
    let org = organization(ENV, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &org, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization",
    );
    let updates: Vec<Organization> = (0..20)
        .map(|i| Organization {
            name: name(&format!("Winner {i}")),
            updated_at: at(1),
            version: 2,
            ..org.clone()
        })
        .collect();
    let results = race(updates.len(), |i| {
        let store = store.clone();
        let next = updates[i].clone();
        let ev = event("ORGANIZATION_UPDATED", &domain, at(1));
        async move { Outcome::of(&retried(|| store.update_organization(ENV, &next, 1, &ev)).await) }
    })
    .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent updates with one expected_version that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::Precondition),
        19,
        "concurrent updates with one expected_version refused with Precondition"
    );
    let winner = results
        .iter()
        .position(|r| *r == Outcome::Ok)
        .expect("one update succeeded (asserted above)");
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(updates[winner].clone()),
        "the stored organization must be the winner's update"
    );
    let (events, _) = tenant_events(store, ENV, &domain).await;
    assert_eq!(
        codes(&events),
        ["ORGANIZATION_UPDATED", "ORGANIZATION_CREATED"],
        "20 racing updates must write exactly the winner's event"
    );
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

/// An inserted user reads back field for field by id and by e-mail in any letter case; an
/// unknown id or e-mail answers `None`.
pub async fn user_round_trips<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "user-rt").await;
    let u = fresh_user(store, ENV, &org).await;
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        Some(u.clone()),
        "user() must return the inserted record, every field intact"
    );
    assert_eq!(
        ok(
            store
                .user_by_email(ENV, &org, &shouted(&u.profile.email))
                .await,
            "user_by_email"
        ),
        Some(u.clone()),
        "user_by_email() must find the user whatever the letter case"
    );
    assert_eq!(
        ok(
            store.user(ENV, &org, UserId::from_uuid(fresh_uuid())).await,
            "user"
        ),
        None,
        "an unknown user id must answer None"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &fresh_email("nobody")).await,
            "user_by_email"
        ),
        None,
        "an unknown e-mail must answer None"
    );
}

/// E-mails are unique per organization, compared case-insensitively: the same address in
/// another letter case answers `AlreadyExists { key: "email" }`; in another organization it is
/// accepted.
pub async fn user_email_is_unique_per_organization_case_insensitively<S: Store>(store: &S) {
    let a = fresh_org(store, ENV, "user-mail").await;
    let b = fresh_org(store, ENV, "user-mail").await;
    let email = fresh_email("Ada.Lovelace");
    let first = user(ENV, &a, &email, T0);
    ok(
        store
            .insert_user(ENV, &first, &event("USER_CREATED", &a, T0))
            .await,
        "insert_user",
    );
    let shouting = user(ENV, &a, &shouted(&email), at(1));
    assert_eq!(
        Outcome::of(
            &store
                .insert_user(ENV, &shouting, &event("USER_CREATED", &a, at(1)))
                .await
        ),
        Outcome::AlreadyExists("email"),
        "inserting {} where {email} exists in the same organization",
        shouting.profile.email
    );
    assert_eq!(
        ok(store.user(ENV, &a, shouting.id).await, "user"),
        None,
        "a refused insert must store nothing"
    );
    let elsewhere = user(ENV, &b, &whispered(&email), at(2));
    ok(
        store
            .insert_user(ENV, &elsewhere, &event("USER_CREATED", &b, at(2)))
            .await,
        "insert_user: the same address in another organization must be accepted",
    );
    assert_eq!(
        ok(store.user_by_email(ENV, &a, &email).await, "user_by_email"),
        Some(first),
        "each organization finds its own user by the shared address"
    );
    assert_eq!(
        ok(store.user_by_email(ENV, &b, &email).await, "user_by_email"),
        Some(elsewhere),
        "each organization finds its own user by the shared address"
    );
}

/// A user id is unique: inserting another user with a taken id answers
/// `AlreadyExists { key: "id" }` and stores nothing.
pub async fn user_id_is_unique<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "user-id").await;
    let first = fresh_user(store, ENV, &org).await;
    let other_email = fresh_email("user-id");
    let same_id = User {
        id: first.id,
        ..user(ENV, &org, &other_email, at(1))
    };
    assert_eq!(
        Outcome::of(
            &store
                .insert_user(ENV, &same_id, &event("USER_CREATED", &org, at(1)))
                .await
        ),
        Outcome::AlreadyExists("id"),
        "inserting a user with a taken id"
    );
    assert_eq!(
        ok(store.user(ENV, &org, first.id).await, "user"),
        Some(first),
        "a refused insert must leave the first user as it was"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &other_email).await,
            "user_by_email"
        ),
        None,
        "a refused insert must not reserve its e-mail"
    );
}

/// No call reaches a user of another organization, even with the right id: lookups answer
/// `None`, an update answers `NotFound`, lists and totals do not include it.
pub async fn users_are_scoped_by_organization<S: Store>(store: &S) {
    let a = fresh_org(store, ENV, "user-scope").await;
    let b = fresh_org(store, ENV, "user-scope").await;
    let u = fresh_user(store, ENV, &a).await;
    let v = fresh_user(store, ENV, &b).await;
    assert_eq!(
        ok(store.user(ENV, &b, u.id).await, "user"),
        None,
        "user() with another organization's user id"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &b, &u.profile.email).await,
            "user_by_email"
        ),
        None,
        "user_by_email() with another organization's user e-mail"
    );
    let moved = User {
        org: b.clone(),
        profile: Profile {
            given_name: Some(name("Moved")),
            ..u.profile.clone()
        },
        version: 2,
        ..u.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_user(ENV, &moved, 1, &event("USER_UPDATED", &b, at(1)))
                .await
        ),
        Outcome::NotFound,
        "update_user through another organization"
    );
    assert_eq!(
        ok(store.user(ENV, &a, u.id).await, "user"),
        Some(u.clone()),
        "a refused cross-organization update must change nothing"
    );
    assert_eq!(
        ok(store.user(ENV, &b, u.id).await, "user"),
        None,
        "a refused cross-organization update must not copy the user"
    );
    assert_eq!(
        ok(store.list_users(ENV, &b, page(1, 10)).await, "list_users"),
        (vec![v], 1),
        "list_users of one organization lists its users only"
    );
    assert_eq!(
        ok(store.list_users(ENV, &a, page(1, 10)).await, "list_users"),
        (vec![u], 1),
        "list_users of one organization lists its users only"
    );
}

/// `live_user` answers the user while its organization is live, and `None` for another
/// organization, an unknown id, or once the organization is deleted.
pub async fn live_user_needs_a_live_organization<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "live-user").await;
    let other = fresh_org(store, ENV, "live-other").await;
    let u = fresh_user(store, ENV, &org).await;
    assert_eq!(
        ok(store.live_user(ENV, &org, u.id).await, "live_user"),
        Some(u.clone()),
        "live_user must answer the user of a live organization"
    );
    assert_eq!(
        ok(store.live_user(ENV, &other, u.id).await, "live_user"),
        None,
        "live_user must not answer another organization's user"
    );
    ok(
        store
            .delete_organization(
                ENV,
                &org,
                at(1),
                &event("ORGANIZATION_DELETED", &org, at(1)),
            )
            .await,
        "delete_organization",
    );
    assert_eq!(
        ok(store.live_user(ENV, &org, u.id).await, "live_user"),
        None,
        "live_user must answer None once the organization is deleted"
    );
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        Some(u),
        "user still answers the user of a deleted organization"
    );
}

/// `update_user` writes only when the stored version is `expected_version` (`Precondition`
/// otherwise, nothing written) and answers `NotFound` for a missing user. Every field is
/// stored, `active` included.
pub async fn user_update_is_conditional_on_version<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "user-upd").await;
    let u = fresh_user(store, ENV, &org).await;
    let next = User {
        profile: Profile {
            given_name: Some(name("Augusta")),
            address: None,
            ..u.profile.clone()
        },
        metadata: Vec::new(),
        active: false,
        updated_at: at(1),
        version: 2,
        ..u.clone()
    };
    ok(
        store
            .update_user(ENV, &next, 1, &event("USER_UPDATED", &org, at(1)))
            .await,
        "update_user with the stored version",
    );
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        Some(next.clone()),
        "an update must store the given record"
    );
    let stale = User {
        profile: Profile {
            given_name: Some(name("Stale")),
            ..u.profile.clone()
        },
        version: 2,
        ..u.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_user(ENV, &stale, 1, &event("USER_UPDATED", &org, at(2)))
                .await
        ),
        Outcome::Precondition,
        "update_user with a stale expected_version"
    );
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        Some(next),
        "a refused update must write nothing"
    );
    let missing = user(ENV, &org, &fresh_email("user-upd-none"), T0);
    assert_eq!(
        Outcome::of(
            &store
                .update_user(ENV, &missing, 1, &event("USER_UPDATED", &org, at(3)))
                .await
        ),
        Outcome::NotFound,
        "update_user of a user that does not exist"
    );
    assert_eq!(
        ok(store.user(ENV, &org, missing.id).await, "user"),
        None,
        "updating a missing user must not create it"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &missing.profile.email).await,
            "user_by_email"
        ),
        None,
        "updating a missing user must not reserve its e-mail"
    );
}

/// Changing a user's e-mail releases the old address in the same step; a new address taken by
/// another user (in any letter case) answers `AlreadyExists { key: "email" }` and changes
/// nothing; changing only the letter case of one's own address is not a conflict.
pub async fn user_email_change_releases_the_old_address<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "user-chg").await;
    let first = fresh_user(store, ENV, &org).await;
    let second = fresh_user(store, ENV, &org).await;
    let old = first.profile.email.clone();
    let new = fresh_email("user-chg");
    let moved = User {
        profile: Profile {
            email: new.clone(),
            ..first.profile.clone()
        },
        updated_at: at(1),
        version: 2,
        ..first.clone()
    };
    ok(
        store
            .update_user(ENV, &moved, 1, &event("USER_UPDATED", &org, at(1)))
            .await,
        "update_user to a free address",
    );
    assert_eq!(
        ok(store.user_by_email(ENV, &org, &old).await, "user_by_email"),
        None,
        "the old address must be released"
    );
    assert_eq!(
        ok(store.user_by_email(ENV, &org, &new).await, "user_by_email"),
        Some(moved.clone()),
        "the new address must find the user"
    );
    let newcomer = user(ENV, &org, &shouted(&old), at(2));
    ok(
        store
            .insert_user(ENV, &newcomer, &event("USER_CREATED", &org, at(2)))
            .await,
        "insert_user with a released address",
    );
    let grab = User {
        profile: Profile {
            email: shouted(&new),
            ..second.profile.clone()
        },
        updated_at: at(3),
        version: 2,
        ..second.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_user(ENV, &grab, 1, &event("USER_UPDATED", &org, at(3)))
                .await
        ),
        Outcome::AlreadyExists("email"),
        "update_user to another user's address in another letter case"
    );
    assert_eq!(
        ok(store.user(ENV, &org, second.id).await, "user"),
        Some(second.clone()),
        "a refused e-mail change must write nothing"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &second.profile.email).await,
            "user_by_email"
        ),
        Some(second),
        "a refused e-mail change must keep the old address"
    );
    assert_eq!(
        ok(store.user_by_email(ENV, &org, &new).await, "user_by_email"),
        Some(moved.clone()),
        "a refused e-mail change must not take the address from its owner"
    );
    let recased = User {
        profile: Profile {
            email: shouted(&new),
            ..moved.profile.clone()
        },
        updated_at: at(4),
        version: 3,
        ..moved.clone()
    };
    ok(
        store
            .update_user(ENV, &recased, 2, &event("USER_UPDATED", &org, at(4)))
            .await,
        "update_user changing only the letter case of the user's own address",
    );
    assert_eq!(
        ok(store.user_by_email(ENV, &org, &new).await, "user_by_email"),
        Some(recased),
        "the re-cased address must still find the user"
    );
}

/// `list_users` lists one organization's users newest first (`inserted_at` descending, ties by
/// id descending), pages by `page`/`per_page` (a page past the end is empty) and counts them
/// exactly; an organization without users lists nothing.
pub async fn users_list_newest_first_with_totals<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "user-list").await;
    let offsets = [0, 1, 1, 2, 3];
    let mut users: Vec<User> = offsets
        .iter()
        .map(|s| user(ENV, &org, &fresh_email("user-list"), at(*s)))
        .collect();
    for i in [2, 4, 0, 3, 1] {
        ok(
            store
                .insert_user(ENV, &users[i], &event("USER_CREATED", &org, T0))
                .await,
            "insert_user",
        );
    }
    sort_newest_first(&mut users, |u| (u.inserted_at, u.id.as_uuid()));
    for n in 1..=4 {
        let want = chunk(&users, 2, n as usize).to_vec();
        assert_eq!(
            ok(store.list_users(ENV, &org, page(n, 2)).await, "list_users"),
            (want, 5),
            "page {n} of 2 users, newest first, and the total"
        );
    }
    assert_eq!(
        ok(
            store.list_users(ENV, &org, page(1, 100)).await,
            "list_users"
        ),
        (users, 5),
        "all users on one page, newest first"
    );
    let empty = fresh_org(store, ENV, "user-list").await;
    assert_eq!(
        ok(
            store.list_users(ENV, &empty, page(1, 10)).await,
            "list_users"
        ),
        (Vec::new(), 0),
        "an organization without users"
    );
}

/// 50 concurrent inserts of users of one organization whose e-mails differ only in letter case:
/// exactly one succeeds, the 49 others answer `AlreadyExists { key: "email" }`, and only the
/// winner and its one event are stored.
pub async fn user_email_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let org = fresh_org(store, ENV, "user-race").await;
    let suffix = hex(&random::<8>());
    let users: Vec<User> = (0..50)
        .map(|i: u32| {
            // Task i upper-cases the letters of "abcdefgh" where i has a 1 bit.
            let local: String = "abcdefgh"
                .chars()
                .enumerate()
                .map(|(bit, c)| {
                    if i & (1 << bit) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            let email =
                Email::parse(&format!("{local}-{suffix}@Example.com")).expect("a valid address");
            user(ENV, &org, &email, T0)
        })
        .collect();
    let results = race(users.len(), |i| {
        let store = store.clone();
        let u = users[i].clone();
        let ev = event("USER_CREATED", &org, T0).user(u.id, &u.profile.email);
        async move { Outcome::of(&retried(|| store.insert_user(ENV, &u, &ev)).await) }
    })
    .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent inserts of one address in 50 letter cases that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::AlreadyExists("email")),
        49,
        "concurrent inserts of one address refused with AlreadyExists {{ key: \"email\" }}"
    );
    let winner = &users[results
        .iter()
        .position(|r| *r == Outcome::Ok)
        .expect("one insert succeeded (asserted above)")];
    assert_eq!(
        ok(
            store.list_users(ENV, &org, page(1, 100)).await,
            "list_users"
        ),
        (vec![winner.clone()], 1),
        "only the winner may be stored"
    );
    let query = EventQuery::tenant(&org).code(EventCode::USER_CREATED);
    let (events, total) = ok(store.events(ENV, &query, page(1, 100)).await, "events");
    assert_eq!(
        total, 1,
        "events written by 50 racing inserts: only the winner's"
    );
    assert_eq!(
        events[0].resource_owner_id,
        Some(winner.id),
        "the one event must be the winner's"
    );
}

// ---------------------------------------------------------------------------------------------
// Applications
// ---------------------------------------------------------------------------------------------

/// Inserted applications, global or scoped to an organization, read back field for field by
/// `client_id`; an unknown `client_id` answers `None`.
pub async fn application_round_trips<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "app-rt").await;
    let scoped = application(ENV, ApplicationScope::Organization(org.clone()), T0);
    let global = application(ENV, ApplicationScope::Global, T0);
    for app in [&scoped, &global] {
        ok(
            store
                .insert_application(
                    ENV,
                    app,
                    &event("APPLICATION_CREATED", &org, T0).client(app.client_id),
                )
                .await,
            "insert_application",
        );
        assert_eq!(
            ok(store.application(ENV, app.client_id).await, "application"),
            Some(app.clone()),
            "application() must return the inserted record, every field intact"
        );
    }
    assert_eq!(
        ok(
            store
                .application(ENV, ClientId::from_uuid(fresh_uuid()))
                .await,
            "application"
        ),
        None,
        "an unknown client_id must answer None"
    );
}

/// A `client_id` is unique, even after its application is deleted: a second insert answers
/// `AlreadyExists { key: "client_id" }` and changes nothing.
pub async fn application_client_id_stays_taken_after_deletion<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "app-id").await;
    let first = application(ENV, ApplicationScope::Organization(org.clone()), T0);
    let ev = |at| event("APPLICATION_CREATED", &org, at).client(first.client_id);
    ok(
        store.insert_application(ENV, &first, &ev(T0)).await,
        "insert_application",
    );
    let twin = Application {
        client_id: first.client_id,
        ..application(ENV, ApplicationScope::Global, at(1))
    };
    assert_eq!(
        Outcome::of(&store.insert_application(ENV, &twin, &ev(at(1))).await),
        Outcome::AlreadyExists("client_id"),
        "inserting an application with a taken client_id"
    );
    assert_eq!(
        ok(store.application(ENV, first.client_id).await, "application"),
        Some(first.clone()),
        "a refused insert must leave the first application as it was"
    );
    let tombstone = ok(
        store
            .delete_application(
                ENV,
                first.client_id,
                at(2),
                &event("APPLICATION_DELETED", &org, at(2)).client(first.client_id),
            )
            .await,
        "delete_application",
    );
    assert_eq!(
        Outcome::of(&store.insert_application(ENV, &twin, &ev(at(3))).await),
        Outcome::AlreadyExists("client_id"),
        "a deleted application's client_id must never be reused"
    );
    assert_eq!(
        ok(store.application(ENV, first.client_id).await, "application"),
        Some(tombstone),
        "the tombstone must stay in place after a refused insert"
    );
}

/// `update_application` writes only when the stored version is `expected_version` and the
/// application is live (`Precondition` otherwise, nothing written) and answers `NotFound` for a
/// missing `client_id`.
pub async fn application_update_is_conditional_on_version<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "app-upd").await;
    let app = application(ENV, ApplicationScope::Organization(org.clone()), T0);
    let ev = |at| event("APPLICATION_UPDATED", &org, at).client(app.client_id);
    ok(
        store
            .insert_application(ENV, &app, &event("APPLICATION_CREATED", &org, T0))
            .await,
        "insert_application",
    );
    let next = Application {
        name: name("Renamed app"),
        description: None,
        allowed_web_origins: Vec::new(),
        default_web_origin: None,
        updated_at: at(1),
        version: 2,
        ..app.clone()
    };
    ok(
        store.update_application(ENV, &next, 1, &ev(at(1))).await,
        "update_application with the stored version",
    );
    assert_eq!(
        ok(store.application(ENV, app.client_id).await, "application"),
        Some(next.clone()),
        "an update must store the given record"
    );
    let stale = Application {
        name: name("Stale app"),
        version: 2,
        ..app.clone()
    };
    assert_eq!(
        Outcome::of(&store.update_application(ENV, &stale, 1, &ev(at(2))).await),
        Outcome::Precondition,
        "update_application with a stale expected_version"
    );
    assert_eq!(
        ok(store.application(ENV, app.client_id).await, "application"),
        Some(next.clone()),
        "a refused update must write nothing"
    );
    let missing = application(ENV, ApplicationScope::Organization(org.clone()), T0);
    assert_eq!(
        Outcome::of(&store.update_application(ENV, &missing, 1, &ev(at(3))).await),
        Outcome::NotFound,
        "update_application of a client_id that does not exist"
    );
    assert_eq!(
        ok(
            store.application(ENV, missing.client_id).await,
            "application"
        ),
        None,
        "updating a missing application must not create it"
    );
    let tombstone = ok(
        store
            .delete_application(
                ENV,
                app.client_id,
                at(4),
                &event("APPLICATION_DELETED", &org, at(4)),
            )
            .await,
        "delete_application",
    );
    let revived = Application {
        name: name("Revived app"),
        deleted_at: None,
        version: tombstone.version + 1,
        ..tombstone.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_application(ENV, &revived, tombstone.version, &ev(at(5)))
                .await
        ),
        Outcome::Precondition,
        "updating a deleted application with its current version"
    );
    assert_eq!(
        ok(store.application(ENV, app.client_id).await, "application"),
        Some(tombstone),
        "a refused update must leave the tombstone as it was"
    );
}

/// The scope never changes: an update whose record carries another scope answers `NotFound`
/// and changes nothing.
pub async fn application_update_never_changes_the_scope<S: Store>(store: &S) {
    let a = fresh_org(store, ENV, "app-scope").await;
    let b = fresh_org(store, ENV, "app-scope").await;
    let scoped = application(ENV, ApplicationScope::Organization(a.clone()), T0);
    let global = application(ENV, ApplicationScope::Global, T0);
    for app in [&scoped, &global] {
        ok(
            store
                .insert_application(ENV, app, &event("APPLICATION_CREATED", &a, T0))
                .await,
            "insert_application",
        );
    }
    let moves = [
        (&scoped, ApplicationScope::Global),
        (&scoped, ApplicationScope::Organization(b.clone())),
        (&global, ApplicationScope::Organization(a.clone())),
    ];
    for (app, scope) in moves {
        let moved = Application {
            scope: scope.clone(),
            name: name("Moved app"),
            version: 2,
            ..app.clone()
        };
        assert_eq!(
            Outcome::of(
                &store
                    .update_application(ENV, &moved, 1, &event("APPLICATION_UPDATED", &a, at(1)))
                    .await
            ),
            Outcome::NotFound,
            "update_application moving {:?} to {scope:?}",
            app.scope
        );
        assert_eq!(
            ok(store.application(ENV, app.client_id).await, "application"),
            Some(app.clone()),
            "a refused scope change must write nothing"
        );
    }
}

/// `delete_application` returns the tombstoned record (`deleted_at` set, identity unchanged),
/// which `application` keeps returning; deleting it again, or a missing `client_id`, answers
/// `NotFound`.
pub async fn application_delete_leaves_a_tombstone<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "app-del").await;
    let app = application(ENV, ApplicationScope::Organization(org.clone()), T0);
    let ev = |code: &str, at| event(code, &org, at).client(app.client_id);
    ok(
        store
            .insert_application(ENV, &app, &ev("APPLICATION_CREATED", T0))
            .await,
        "insert_application",
    );
    let tombstone = ok(
        store
            .delete_application(ENV, app.client_id, at(5), &ev("APPLICATION_DELETED", at(5)))
            .await,
        "delete_application",
    );
    assert_eq!(
        tombstone.deleted_at,
        Some(at(5)),
        "the tombstone's deleted_at"
    );
    assert_eq!(
        (
            &tombstone.client_id,
            &tombstone.scope,
            &tombstone.name,
            tombstone.inserted_at
        ),
        (&app.client_id, &app.scope, &app.name, app.inserted_at),
        "deleting must keep the application's identity"
    );
    assert_eq!(
        ok(store.application(ENV, app.client_id).await, "application"),
        Some(tombstone),
        "application() must return the tombstone delete_application returned"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_application(ENV, app.client_id, at(6), &ev("APPLICATION_DELETED", at(6)))
                .await
        ),
        Outcome::NotFound,
        "deleting an already deleted application"
    );
    let missing = ClientId::from_uuid(fresh_uuid());
    assert_eq!(
        Outcome::of(
            &store
                .delete_application(ENV, missing, at(6), &ev("APPLICATION_DELETED", at(6)))
                .await
        ),
        Outcome::NotFound,
        "deleting an application that never existed"
    );
    assert_eq!(
        ok(store.application(ENV, missing).await, "application"),
        None,
        "deleting a missing application must not create a tombstone"
    );
}

/// `list_applications` lists the live applications of exactly one scope, newest first
/// (`inserted_at` descending, ties by `client_id` descending), paged, with their total.
///
/// Organization scopes are fresh and checked exactly. The global list spans the environment:
/// the check's global application is made its newest, and with [`Isolation::Shared`] the
/// global total is checked as a lower bound.
pub async fn applications_list_only_their_scope_newest_first<S: Store>(
    store: &S,
    isolation: Isolation,
) {
    let a = fresh_org(store, ENV, "app-list").await;
    let b = fresh_org(store, ENV, "app-list").await;
    let scope_a = ApplicationScope::Organization(a.clone());
    let scope_b = ApplicationScope::Organization(b.clone());
    let offsets = [0, 1, 1, 2, 3, 4];
    let mut apps: Vec<Application> = offsets
        .iter()
        .map(|s| application(ENV, scope_a.clone(), at(*s)))
        .collect();
    for i in [2, 5, 0, 3, 1, 4] {
        ok(
            store
                .insert_application(ENV, &apps[i], &event("APPLICATION_CREATED", &a, T0))
                .await,
            "insert_application",
        );
    }
    let deleted = apps.remove(5);
    ok(
        store
            .delete_application(
                ENV,
                deleted.client_id,
                at(10),
                &event("APPLICATION_DELETED", &a, at(10)),
            )
            .await,
        "delete_application",
    );
    let other = application(ENV, scope_b.clone(), at(20));
    ok(
        store
            .insert_application(ENV, &other, &event("APPLICATION_CREATED", &b, T0))
            .await,
        "insert_application",
    );
    let (head, _) = ok(
        store
            .list_applications(ENV, &ApplicationScope::Global, page(1, 1))
            .await,
        "list_applications",
    );
    let global = application(
        ENV,
        ApplicationScope::Global,
        newest_base(head.first().map(|g| g.inserted_at)),
    );
    ok(
        store
            .insert_application(ENV, &global, &event("APPLICATION_CREATED", &a, T0))
            .await,
        "insert_application",
    );
    sort_newest_first(&mut apps, |app| (app.inserted_at, app.client_id.as_uuid()));
    for n in 1..=4 {
        let want = chunk(&apps, 2, n as usize).to_vec();
        assert_eq!(
            ok(
                store.list_applications(ENV, &scope_a, page(n, 2)).await,
                "list_applications"
            ),
            (want, 5),
            "page {n} of 2 applications of one organization, newest first, and the total"
        );
    }
    assert_eq!(
        ok(
            store.list_applications(ENV, &scope_b, page(1, 10)).await,
            "list_applications"
        ),
        (vec![other.clone()], 1),
        "another organization's applications"
    );
    let (globals, total) = ok(
        store
            .list_applications(ENV, &ApplicationScope::Global, page(1, 100))
            .await,
        "list_applications",
    );
    match isolation {
        Isolation::Exclusive => assert_eq!(
            (globals, total),
            (vec![global], 1),
            "the global applications, and only them"
        ),
        Isolation::Shared => {
            assert_eq!(
                globals.first(),
                Some(&global),
                "the newest global application heads the global list"
            );
            assert!(total >= 1, "the global total counts the global application");
            let ours: Vec<ClientId> = apps
                .iter()
                .chain([&deleted, &other])
                .map(|app| app.client_id)
                .collect();
            assert!(
                globals.iter().all(|g| !ours.contains(&g.client_id)),
                "organization-scoped applications must not be listed as global"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

/// `record_event` stores every field of the event and returns it with its id and environment;
/// `events` returns the same event.
pub async fn record_event_returns_the_stored_event<S: Store>(store: &S) {
    let tenant = fresh_domain("audit-rt");
    let user_id = UserId::from_uuid(fresh_uuid());
    let mut new = event("SSO_END_USER_SAML_SUCCESS", &tenant, at(7))
        .client(ClientId::from_uuid(fresh_uuid()))
        .user(user_id, &fresh_email("audit"))
        .detail("reason", "all fields set");
    new.saml_identity_provider_id = Some(unique("idp"));
    let recorded = ok(store.record_event(ENV, &new).await, "record_event");
    assert_eq!(
        recorded,
        Event::from_new(recorded.id, ENV, &new),
        "record_event must return the event as given, with its id and environment"
    );
    assert_eq!(
        tenant_events(store, ENV, &tenant).await,
        (vec![recorded], 1),
        "events() must return the recorded event, every field intact"
    );
}

/// Event ids strictly increase with every recorded event, in either environment.
pub async fn event_ids_strictly_increase_across_environments<S: Store>(store: &S) {
    let tenant = fresh_domain("audit-ids");
    let mut last = None;
    for (i, env) in [
        Environment::Sandbox,
        Environment::Production,
        Environment::Production,
        Environment::Sandbox,
        Environment::Sandbox,
        Environment::Production,
    ]
    .into_iter()
    .enumerate()
    {
        let e = ok(
            store
                .record_event(env, &event("CONFORMANCE_TICK", &tenant, at(i as i64)))
                .await,
            "record_event",
        );
        if let Some(previous) = last {
            assert!(
                e.id > previous,
                "event ids must strictly increase: {} after {previous} (in {env})",
                e.id
            );
        }
        last = Some(e.id);
    }
}

/// `events` returns exactly the events matching every filter set (tenant, code, `client_id`,
/// SAML identity provider), newest first, with the number of matches.
pub async fn events_match_every_filter_set<S: Store>(store: &S) {
    let t = fresh_domain("audit-filter");
    let t2 = fresh_domain("audit-filter");
    let c1 = ClientId::from_uuid(fresh_uuid());
    let c2 = ClientId::from_uuid(fresh_uuid());
    let s1 = unique("idp");
    let s2 = unique("idp");
    let specs: [(&OrgDomain, &str, Option<ClientId>, Option<&String>); 5] = [
        (&t, "CONFORMANCE_A", Some(c1), Some(&s1)),
        (&t, "CONFORMANCE_B", Some(c1), None),
        (&t, "CONFORMANCE_A", Some(c2), Some(&s2)),
        (&t, "CONFORMANCE_B", None, Some(&s1)),
        (&t2, "CONFORMANCE_A", Some(c1), Some(&s1)),
    ];
    let mut e = Vec::new();
    for (i, (tenant, code, client, saml)) in specs.into_iter().enumerate() {
        let mut new = event(code, tenant, at(i as i64));
        new.client_id = client;
        new.saml_identity_provider_id = saml.cloned();
        e.push(ok(store.record_event(ENV, &new).await, "record_event"));
    }
    let a = || EventCode::parse("CONFORMANCE_A").expect("an event code");
    let b = || EventCode::parse("CONFORMANCE_B").expect("an event code");
    let saml = |s: &String| EventQuery::default().saml_identity_provider_id(s.clone());
    let cases: Vec<(&str, EventQuery, Vec<&Event>)> = vec![
        (
            "tenant",
            EventQuery::tenant(&t),
            vec![&e[3], &e[2], &e[1], &e[0]],
        ),
        (
            "tenant + code A",
            EventQuery::tenant(&t).code(a()),
            vec![&e[2], &e[0]],
        ),
        (
            "tenant + code B",
            EventQuery::tenant(&t).code(b()),
            vec![&e[3], &e[1]],
        ),
        (
            "client_id",
            EventQuery::default().client_id(c1),
            vec![&e[4], &e[1], &e[0]],
        ),
        (
            "tenant + client_id",
            EventQuery::tenant(&t).client_id(c1),
            vec![&e[1], &e[0]],
        ),
        ("saml id", saml(&s1), vec![&e[4], &e[3], &e[0]]),
        ("saml id + code", saml(&s1).code(a()), vec![&e[4], &e[0]]),
        (
            "tenant + code + client_id + saml id",
            EventQuery::tenant(&t)
                .code(a())
                .client_id(c1)
                .saml_identity_provider_id(s1.clone()),
            vec![&e[0]],
        ),
        (
            "filters no event matches together",
            EventQuery::tenant(&t)
                .code(a())
                .client_id(c1)
                .saml_identity_provider_id(s2.clone()),
            vec![],
        ),
        ("another tenant", EventQuery::tenant(&t2), vec![&e[4]]),
    ];
    for (what, query, want) in cases {
        let want: Vec<Event> = want.into_iter().cloned().collect();
        let total = want.len() as u64;
        assert_eq!(
            ok(store.events(ENV, &query, page(1, 100)).await, "events"),
            (want, total),
            "events matching {what}, newest first, and their number"
        );
    }
}

/// `events` is newest first by id (not by `inserted_at`), pages by `page`/`per_page` (a page past
/// the end is empty) and counts every match.
pub async fn events_list_newest_first_with_totals<S: Store>(store: &S) {
    let tenant = fresh_domain("audit-list");
    let mut recorded = Vec::new();
    for i in 0..5 {
        // Later events carry earlier times: the order must follow the id.
        let new = event("CONFORMANCE_TICK", &tenant, at(100 - i));
        recorded.push(ok(store.record_event(ENV, &new).await, "record_event"));
    }
    recorded.reverse();
    for n in 1..=4 {
        let want = chunk(&recorded, 2, n as usize).to_vec();
        assert_eq!(
            ok(
                store
                    .events(ENV, &EventQuery::tenant(&tenant), page(n, 2))
                    .await,
                "events"
            ),
            (want, 5),
            "page {n} of 2 events, newest (highest id) first, and the total"
        );
    }
}

/// Organization inserts, updates and deletes write their event in the same atomic step: each
/// success writes exactly its event, each refusal writes none.
pub async fn organization_writes_record_their_event_atomically<S: Store>(store: &S) {
    let domain = fresh_domain("audit-org");
    let org = organization(ENV, &domain, T0);
    let ev = |code: &str| event(code, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &org, &ev("CONFORMANCE_INSERTED"))
            .await,
        "insert_organization",
    );
    let twin = organization(ENV, &domain, T0);
    let refused = store
        .insert_organization(ENV, &twin, &ev("CONFORMANCE_INSERT_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::AlreadyExists("domain"),
        "the refused write"
    );
    let next = Organization {
        name: name("Audited"),
        version: 2,
        ..org.clone()
    };
    ok(
        store
            .update_organization(ENV, &next, 1, &ev("CONFORMANCE_UPDATED"))
            .await,
        "update_organization",
    );
    let refused = store
        .update_organization(ENV, &next, 1, &ev("CONFORMANCE_UPDATE_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::Precondition,
        "the refused write"
    );
    ok(
        store
            .delete_organization(ENV, &domain, at(1), &ev("CONFORMANCE_DELETED"))
            .await,
        "delete_organization",
    );
    let refused = store
        .delete_organization(ENV, &domain, at(2), &ev("CONFORMANCE_DELETE_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::NotFound,
        "the refused write"
    );
    let (events, _) = tenant_events(store, ENV, &domain).await;
    assert_eq!(
        codes(&events),
        [
            "CONFORMANCE_DELETED",
            "CONFORMANCE_UPDATED",
            "CONFORMANCE_INSERTED"
        ],
        "the events of an organization's writes: one per success, none per refusal"
    );
    for e in &events {
        assert_eq!(
            *e,
            Event::from_new(e.id, ENV, &ev(e.event_code.as_str())),
            "a write's event must be stored as given"
        );
    }
}

/// User inserts and updates write their event in the same atomic step: each success writes
/// exactly its event, each refusal writes none.
pub async fn user_writes_record_their_event_atomically<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "audit-user").await;
    let u = user(ENV, &org, &fresh_email("audit-user"), T0);
    let ev = |code: &str| event(code, &org, T0).user(u.id, &u.profile.email);
    ok(
        store
            .insert_user(ENV, &u, &ev("CONFORMANCE_INSERTED"))
            .await,
        "insert_user",
    );
    let twin = user(ENV, &org, &shouted(&u.profile.email), T0);
    let refused = store
        .insert_user(ENV, &twin, &ev("CONFORMANCE_INSERT_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::AlreadyExists("email"),
        "the refused write"
    );
    let next = User {
        version: 2,
        ..u.clone()
    };
    ok(
        store
            .update_user(ENV, &next, 1, &ev("CONFORMANCE_UPDATED"))
            .await,
        "update_user",
    );
    let refused = store
        .update_user(ENV, &next, 1, &ev("CONFORMANCE_UPDATE_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::Precondition,
        "the refused write"
    );
    let (events, _) = tenant_events(store, ENV, &org).await;
    assert_eq!(
        codes(&events),
        [
            "CONFORMANCE_UPDATED",
            "CONFORMANCE_INSERTED",
            "ORGANIZATION_CREATED"
        ],
        "the events of a user's writes: one per success, none per refusal"
    );
    for e in &events[..2] {
        assert_eq!(
            *e,
            Event::from_new(e.id, ENV, &ev(e.event_code.as_str())),
            "a write's event must be stored as given"
        );
    }
}

/// Application inserts, updates and deletes write their event in the same atomic step: each
/// success writes exactly its event, each refusal writes none.
pub async fn application_writes_record_their_event_atomically<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "audit-app").await;
    let app = application(ENV, ApplicationScope::Organization(org.clone()), T0);
    let ev = |code: &str| event(code, &org, T0).client(app.client_id);
    ok(
        store
            .insert_application(ENV, &app, &ev("CONFORMANCE_INSERTED"))
            .await,
        "insert_application",
    );
    let refused = store
        .insert_application(ENV, &app, &ev("CONFORMANCE_INSERT_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::AlreadyExists("client_id"),
        "the refused write"
    );
    let next = Application {
        name: name("Audited app"),
        version: 2,
        ..app.clone()
    };
    ok(
        store
            .update_application(ENV, &next, 1, &ev("CONFORMANCE_UPDATED"))
            .await,
        "update_application",
    );
    let refused = store
        .update_application(ENV, &next, 1, &ev("CONFORMANCE_UPDATE_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::Precondition,
        "the refused write"
    );
    ok(
        store
            .delete_application(ENV, app.client_id, at(1), &ev("CONFORMANCE_DELETED"))
            .await,
        "delete_application",
    );
    let refused = store
        .delete_application(ENV, app.client_id, at(2), &ev("CONFORMANCE_DELETE_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::NotFound,
        "the refused write"
    );
    let query = EventQuery::default().client_id(app.client_id);
    let (events, total) = ok(store.events(ENV, &query, page(1, 100)).await, "events");
    assert_eq!(
        (codes(&events), total),
        (
            vec![
                "CONFORMANCE_DELETED",
                "CONFORMANCE_UPDATED",
                "CONFORMANCE_INSERTED"
            ],
            3
        ),
        "the events of an application's writes: one per success, none per refusal"
    );
    for e in &events {
        assert_eq!(
            *e,
            Event::from_new(e.id, ENV, &ev(e.event_code.as_str())),
            "a write's event must be stored as given"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Take-once
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Refresh tokens
// ---------------------------------------------------------------------------------------------

/// An inserted refresh token reads back field for field by digest; an unknown digest answers
/// `None`; a taken digest answers `AlreadyExists { key: "digest" }` and changes nothing.
pub async fn refresh_token_round_trips_and_its_digest_is_unique<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    insert_token(store, ENV, &token).await;
    assert_eq!(
        token_of(store, ENV, &token.digest).await,
        Some(token.clone()),
        "refresh_token() must return the inserted record, every field intact"
    );
    assert_eq!(
        token_of(store, ENV, &fresh_digest()).await,
        None,
        "an unknown digest must answer None"
    );
    let twin = RefreshTokenRecord {
        digest: token.digest,
        ..grant.token(at(1))
    };
    assert_eq!(
        Outcome::of(&store.insert_refresh_token(ENV, &twin).await),
        Outcome::AlreadyExists("digest"),
        "inserting a refresh token with a taken digest"
    );
    assert_eq!(
        token_of(store, ENV, &token.digest).await,
        Some(token),
        "a refused insert must leave the first token as it was"
    );
}

/// Rotating a current token answers `Rotated` with the record as it was; the old token becomes
/// `Rotated { at: now, successor }` (nothing else changes) and the successor is stored as given.
pub async fn rotation_returns_the_old_record_and_stores_the_successor<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    insert_token(store, ENV, &token).await;
    let next = successor(&token, at(60));
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &token.digest, &next, at(60))
                .await,
            "rotate_refresh_token"
        ),
        Rotation::Rotated(token.clone()),
        "rotating a current token must answer Rotated with the record before rotation"
    );
    assert_eq!(
        token_of(store, ENV, &token.digest).await,
        Some(RefreshTokenRecord {
            state: RefreshState::Rotated {
                at: at(60),
                successor: next.digest
            },
            ..token
        }),
        "the rotated token must be Rotated {{ at: now, successor }}, its other fields intact"
    );
    assert_eq!(
        token_of(store, ENV, &next.digest).await,
        Some(next.clone()),
        "the successor must be stored as given"
    );
    let third = successor(&next, at(120));
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &next.digest, &third, at(120))
                .await,
            "rotate_refresh_token"
        ),
        Rotation::Rotated(next),
        "the successor must be current, and rotate in turn"
    );
}

/// Rotating a token that is no longer current — rotated, or revoked — answers `NotCurrent` with
/// the stored record and writes nothing (the would-be successor is not stored).
pub async fn rotation_of_a_rotated_or_revoked_token_is_not_current<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    insert_token(store, ENV, &token).await;
    let next = rotate_ok(store, ENV, &token, at(60)).await;
    let rotated = token_of(store, ENV, &token.digest)
        .await
        .expect("the rotated token is stored");
    let replay = successor(&token, at(90));
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &token.digest, &replay, at(90))
                .await,
            "rotate_refresh_token"
        ),
        Rotation::NotCurrent(rotated.clone()),
        "rotating an already rotated token"
    );
    assert_eq!(
        token_of(store, ENV, &replay.digest).await,
        None,
        "a refused rotation must not store its successor"
    );
    assert_eq!(
        token_of(store, ENV, &token.digest).await,
        Some(rotated),
        "a refused rotation must leave the token as it was"
    );
    assert_eq!(
        ok(
            store.revoke_family(ENV, next.family, at(100)).await,
            "revoke_family"
        ),
        2,
        "tokens revoked in a family of one rotated and one active token"
    );
    let revoked_next = revoked(&next, at(100));
    let after_revoke = successor(&next, at(110));
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &next.digest, &after_revoke, at(110))
                .await,
            "rotate_refresh_token"
        ),
        Rotation::NotCurrent(revoked_next.clone()),
        "rotating a revoked token"
    );
    assert_eq!(
        token_of(store, ENV, &after_revoke.digest).await,
        None,
        "a refused rotation must not store its successor"
    );
    assert_eq!(
        token_of(store, ENV, &next.digest).await,
        Some(revoked_next),
        "a refused rotation must leave the token as it was"
    );
}

/// A current token is `Expired` at exactly its `expires_at` (nothing written, the token stays
/// active); one second earlier it rotates.
pub async fn rotation_at_expires_at_is_expired<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let late = grant.token(T0);
    let early = grant.token(T0);
    insert_token(store, ENV, &late).await;
    insert_token(store, ENV, &early).await;
    let next = successor(&late, late.expires_at);
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &late.digest, &next, late.expires_at)
                .await,
            "rotate_refresh_token"
        ),
        Rotation::Expired(late.clone()),
        "rotating a token at exactly its expires_at"
    );
    assert_eq!(
        token_of(store, ENV, &late.digest).await,
        Some(late.clone()),
        "an expired rotation must leave the token as it was"
    );
    assert_eq!(
        token_of(store, ENV, &next.digest).await,
        None,
        "an expired rotation must not store its successor"
    );
    let just_before = early.expires_at - Duration::seconds(1);
    let next = successor(&early, just_before);
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &early.digest, &next, just_before)
                .await,
            "rotate_refresh_token"
        ),
        Rotation::Rotated(early),
        "rotating a token one second before its expires_at"
    );
}

/// Rotating a digest that was never stored answers `Missing` and stores nothing.
pub async fn rotation_of_an_unknown_token_is_missing<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let ghost = grant.token(T0);
    let next = successor(&ghost, at(1));
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &ghost.digest, &next, at(1))
                .await,
            "rotate_refresh_token"
        ),
        Rotation::Missing,
        "rotating a digest never stored"
    );
    assert_eq!(
        token_of(store, ENV, &next.digest).await,
        None,
        "a missing rotation must not store its successor"
    );
}

/// A rotation whose successor is of another family, not `Active`, or has a taken digest is
/// refused (not `Rotated`) and writes nothing.
pub async fn rotation_refuses_an_invalid_successor<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    let bystander = grant.token(T0);
    insert_token(store, ENV, &token).await;
    insert_token(store, ENV, &bystander).await;
    let invalid = [
        (
            "a successor of another family",
            RefreshTokenRecord {
                family: FamilyId(fresh_uuid()),
                ..successor(&token, at(1))
            },
        ),
        (
            "a successor that is not Active",
            RefreshTokenRecord {
                state: RefreshState::Revoked { at: at(1) },
                ..successor(&token, at(1))
            },
        ),
        (
            "a successor whose digest is taken",
            RefreshTokenRecord {
                digest: bystander.digest,
                ..successor(&token, at(1))
            },
        ),
    ];
    for (what, next) in invalid {
        let result = store
            .rotate_refresh_token(ENV, &token.digest, &next, at(1))
            .await;
        assert!(
            !matches!(result, Ok(Rotation::Rotated(_))),
            "a rotation into {what} must be refused, got {result:?}"
        );
        assert_eq!(
            token_of(store, ENV, &token.digest).await,
            Some(token.clone()),
            "a rotation into {what} must leave the token current"
        );
    }
    assert_eq!(
        token_of(store, ENV, &bystander.digest).await,
        Some(bystander),
        "a rotation into a taken digest must not overwrite its owner"
    );
}

/// `revoke_family` marks every `Active` or `Rotated` token of one family `Revoked { at: now }`,
/// returns exactly how many changed (0 when repeated), and touches no other family.
pub async fn revoke_family_revokes_exactly_that_family<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let first = grant.token(T0);
    let other = grant.token(T0);
    insert_token(store, ENV, &first).await;
    insert_token(store, ENV, &other).await;
    let second = rotate_ok(store, ENV, &first, at(10)).await;
    let third = rotate_ok(store, ENV, &second, at(20)).await;
    let family = [&first, &second, &third];
    let mut before = Vec::new();
    for t in family {
        before.push(token_of(store, ENV, &t.digest).await.expect("stored"));
    }
    assert_eq!(
        ok(
            store.revoke_family(ENV, first.family, at(30)).await,
            "revoke_family"
        ),
        3,
        "tokens revoked in a family of two rotated tokens and one active token"
    );
    for t in &before {
        assert_eq!(
            token_of(store, ENV, &t.digest).await,
            Some(revoked(t, at(30))),
            "every token of the family must be Revoked {{ at: now }}, its other fields intact"
        );
    }
    assert_eq!(
        token_of(store, ENV, &other.digest).await,
        Some(other),
        "another family of the same grant must stay untouched"
    );
    assert_eq!(
        ok(
            store.revoke_family(ENV, first.family, at(40)).await,
            "revoke_family"
        ),
        0,
        "revoking an already revoked family changes nothing"
    );
    assert_eq!(
        token_of(store, ENV, &third.digest).await,
        Some(revoked(&third, at(30))),
        "a repeated revocation must keep the first revocation time"
    );
    assert_eq!(
        ok(
            store
                .revoke_family(ENV, FamilyId(fresh_uuid()), at(40))
                .await,
            "revoke_family"
        ),
        0,
        "revoking an unknown family"
    );
}

/// `revoke_user_refresh_tokens` revokes every token of every family of one user of one
/// organization, returns exactly how many changed, and touches no other user — not even
/// through another organization's domain.
pub async fn revoke_user_refresh_tokens_revokes_exactly_that_user<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let neighbour = fresh_user(store, ENV, &grant.org).await;
    let a = grant.token(T0);
    let b = grant.token(T0);
    let theirs = refresh_token(&grant.org, neighbour.id, grant.client_id, T0);
    for t in [&a, &b, &theirs] {
        insert_token(store, ENV, t).await;
    }
    let a2 = rotate_ok(store, ENV, &a, at(10)).await;
    let other_org = fresh_org(store, ENV, "revoke-user").await;
    assert_eq!(
        ok(
            store
                .revoke_user_refresh_tokens(ENV, &other_org, grant.user_id, at(20))
                .await,
            "revoke_user_refresh_tokens"
        ),
        0,
        "revoking the user's tokens through another organization's domain"
    );
    assert_eq!(
        token_of(store, ENV, &a2.digest).await,
        Some(a2.clone()),
        "a revocation through another organization must change nothing"
    );
    let rotated_a = token_of(store, ENV, &a.digest).await.expect("stored");
    assert_eq!(
        ok(
            store
                .revoke_user_refresh_tokens(ENV, &grant.org, grant.user_id, at(30))
                .await,
            "revoke_user_refresh_tokens"
        ),
        3,
        "tokens revoked for a user with two families (one rotated once)"
    );
    for t in [&rotated_a, &a2, &b] {
        assert_eq!(
            token_of(store, ENV, &t.digest).await,
            Some(revoked(t, at(30))),
            "every token of the user must be Revoked {{ at: now }}"
        );
    }
    assert_eq!(
        token_of(store, ENV, &theirs.digest).await,
        Some(theirs),
        "another user's token must stay untouched"
    );
    assert_eq!(
        ok(
            store
                .revoke_user_refresh_tokens(ENV, &grant.org, grant.user_id, at(40))
                .await,
            "revoke_user_refresh_tokens"
        ),
        0,
        "revoking an already revoked user's tokens changes nothing"
    );
}

/// `revoke_client_refresh_tokens` revokes every token issued to one client, whoever the user,
/// returns exactly how many changed, and touches no other client.
pub async fn revoke_client_refresh_tokens_revokes_exactly_that_client<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let other_user = fresh_user(store, ENV, &grant.org).await;
    let other_client = fresh_app(store, ENV, &grant.org).await;
    let a = grant.token(T0);
    let b = refresh_token(&grant.org, other_user.id, grant.client_id, T0);
    let theirs = refresh_token(&grant.org, grant.user_id, other_client, T0);
    for t in [&a, &b, &theirs] {
        insert_token(store, ENV, t).await;
    }
    let b2 = rotate_ok(store, ENV, &b, at(10)).await;
    let rotated_b = token_of(store, ENV, &b.digest).await.expect("stored");
    assert_eq!(
        ok(
            store
                .revoke_client_refresh_tokens(ENV, grant.client_id, at(20))
                .await,
            "revoke_client_refresh_tokens"
        ),
        3,
        "tokens revoked for a client with two users' families (one rotated once)"
    );
    for t in [&a, &rotated_b, &b2] {
        assert_eq!(
            token_of(store, ENV, &t.digest).await,
            Some(revoked(t, at(20))),
            "every token of the client must be Revoked {{ at: now }}"
        );
    }
    assert_eq!(
        token_of(store, ENV, &theirs.digest).await,
        Some(theirs),
        "another client's token must stay untouched"
    );
    assert_eq!(
        ok(
            store
                .revoke_client_refresh_tokens(ENV, grant.client_id, at(30))
                .await,
            "revoke_client_refresh_tokens"
        ),
        0,
        "revoking an already revoked client's tokens changes nothing"
    );
}

/// 100 concurrent rotations of one token, each with its own successor: exactly one `Rotated`,
/// 99 `NotCurrent` carrying the token rotated into the winner's successor, and only that
/// successor is stored.
pub async fn rotation_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    insert_token(store, ENV, &token).await;
    let successors: Vec<RefreshTokenRecord> = (0..100).map(|_| successor(&token, at(60))).collect();
    let results = race(successors.len(), |i| {
        let store = store.clone();
        let old = token.digest;
        let next = successors[i].clone();
        async move { retried(|| store.rotate_refresh_token(ENV, &old, &next, at(60))).await }
    })
    .await;
    let results: Vec<Rotation> = results
        .into_iter()
        .map(|r| ok(r, "rotate_refresh_token"))
        .collect();
    assert_eq!(
        count(&results, |r| *r == Rotation::Rotated(token.clone())),
        1,
        "concurrent rotations of one token that got Rotated: {results:?}"
    );
    let winner = results
        .iter()
        .position(|r| matches!(r, Rotation::Rotated(_)))
        .expect("one rotation succeeded (asserted above)");
    let rotated = RefreshTokenRecord {
        state: RefreshState::Rotated {
            at: at(60),
            successor: successors[winner].digest,
        },
        ..token.clone()
    };
    assert_eq!(
        count(&results, |r| *r == Rotation::NotCurrent(rotated.clone())),
        99,
        "concurrent rotations of one token that got NotCurrent with the winner's rotation"
    );
    assert_eq!(
        token_of(store, ENV, &token.digest).await,
        Some(rotated),
        "the token must be rotated into the winner's successor"
    );
    for (i, next) in successors.iter().enumerate() {
        let stored = token_of(store, ENV, &next.digest).await;
        if i == winner {
            assert_eq!(
                stored,
                Some(next.clone()),
                "the winner's successor is stored"
            );
        } else {
            assert_eq!(
                stored, None,
                "a losing rotation's successor must not be stored"
            );
        }
    }
}

/// `rotate_refresh_token_audited` rotates exactly like `rotate_refresh_token` and appends its
/// event exactly when it answers `Rotated`: not for a rotated, unknown or expired token. The
/// event reads back with its fields and counts in the tenant's and the code's totals.
pub async fn audited_rotation_records_its_event_only_when_it_rotates<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    insert_token(store, ENV, &token).await;
    let (_, before) = tenant_events(store, ENV, &grant.org).await;
    let refreshed = event("TOKENS_REFRESHED", &grant.org, at(60)).client(grant.client_id);
    let next = successor(&token, at(60));
    let rotation = ok(
        store
            .rotate_refresh_token_audited(ENV, &token.digest, &next, at(60), &refreshed)
            .await,
        "rotate_refresh_token_audited",
    );
    assert_eq!(
        rotation,
        Rotation::Rotated(token.clone()),
        "an audited rotation of the current token must answer Rotated with the old record"
    );
    assert_eq!(
        token_of(store, ENV, &next.digest).await,
        Some(next.clone()),
        "an audited rotation stores the successor"
    );
    let (events, total) = tenant_events(store, ENV, &grant.org).await;
    assert_eq!(total, before + 1, "a rotation appends exactly one event");
    let newest = &events[0];
    assert_eq!(
        (
            newest.event_code.as_str(),
            newest.client_id,
            newest.inserted_at,
            newest.details.get("suite").map(String::as_str),
        ),
        (
            "TOKENS_REFRESHED",
            Some(grant.client_id),
            at(60),
            Some("conformance")
        ),
        "the rotation's event must read back as given"
    );
    let by_code = EventQuery::tenant(&grant.org).code(refreshed.event_code.clone());
    let (_, coded) = ok(store.events(ENV, &by_code, page(1, 100)).await, "events");
    assert_eq!(coded, 1, "the rotation's event counts under its code");

    // Not current, unknown, expired: no event.
    let again = successor(&token, at(61));
    let stale = ok(
        store
            .rotate_refresh_token_audited(ENV, &token.digest, &again, at(61), &refreshed)
            .await,
        "rotate_refresh_token_audited",
    );
    assert!(
        matches!(stale, Rotation::NotCurrent(_)),
        "an audited rotation of a rotated token must answer NotCurrent, got {stale:?}"
    );
    let unknown = grant.token(at(61));
    let missing = ok(
        store
            .rotate_refresh_token_audited(
                ENV,
                &unknown.digest,
                &successor(&unknown, at(61)),
                at(61),
                &refreshed,
            )
            .await,
        "rotate_refresh_token_audited",
    );
    assert_eq!(missing, Rotation::Missing, "an unknown token is Missing");
    let late = next.expires_at;
    let expired = ok(
        store
            .rotate_refresh_token_audited(
                ENV,
                &next.digest,
                &successor(&next, late),
                late,
                &refreshed,
            )
            .await,
        "rotate_refresh_token_audited",
    );
    assert!(
        matches!(expired, Rotation::Expired(_)),
        "an audited rotation at expires_at must answer Expired, got {expired:?}"
    );
    let (_, after) = tenant_events(store, ENV, &grant.org).await;
    assert_eq!(
        after,
        before + 1,
        "rotations that did not happen must append no event"
    );
}

/// 50 concurrent audited rotations of one token: exactly one rotates, and exactly one event
/// is appended.
pub async fn audited_rotation_has_exactly_one_event_under_contention<S: Store + Clone>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    insert_token(store, ENV, &token).await;
    let (_, before) = tenant_events(store, ENV, &grant.org).await;
    let refreshed = event("TOKENS_REFRESHED", &grant.org, at(60));
    let successors: Vec<RefreshTokenRecord> = (0..50).map(|_| successor(&token, at(60))).collect();
    let results = race(successors.len(), |i| {
        let store = store.clone();
        let old = token.digest;
        let next = successors[i].clone();
        let refreshed = refreshed.clone();
        async move {
            retried(|| store.rotate_refresh_token_audited(ENV, &old, &next, at(60), &refreshed))
                .await
        }
    })
    .await;
    let results: Vec<Rotation> = results
        .into_iter()
        .map(|r| ok(r, "rotate_refresh_token_audited"))
        .collect();
    assert_eq!(
        count(&results, |r| matches!(r, Rotation::Rotated(_))),
        1,
        "concurrent audited rotations of one token that got Rotated: {results:?}"
    );
    let (_, after) = tenant_events(store, ENV, &grant.org).await;
    assert_eq!(
        after,
        before + 1,
        "concurrent audited rotations must append exactly one event"
    );
}

/// A rotation racing a revocation of its family (20 rounds) either happens before it — and its
/// successor is revoked too — or fails: no live successor ever survives.
pub async fn rotation_racing_revocation_never_leaves_a_live_successor<S: Store + Clone>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    for round in 0..20 {
        let token = grant.token(T0);
        insert_token(store, ENV, &token).await;
        let next = successor(&token, at(60));
        let barrier = Arc::new(Barrier::new(2));
        let rotation = tokio::spawn({
            let (store, barrier, old, next) = (
                store.clone(),
                Arc::clone(&barrier),
                token.digest,
                next.clone(),
            );
            async move {
                barrier.wait().await;
                retried(|| store.rotate_refresh_token(ENV, &old, &next, at(60))).await
            }
        });
        let revocation = tokio::spawn({
            let (store, barrier, family) = (store.clone(), Arc::clone(&barrier), token.family);
            async move {
                barrier.wait().await;
                retried(|| store.revoke_family(ENV, family, at(60))).await
            }
        });
        let rotation = ok(rotation.await.expect("task"), "rotate_refresh_token");
        let revoked_count = ok(revocation.await.expect("task"), "revoke_family");
        match rotation {
            Rotation::Rotated(_) => {
                assert_eq!(
                    revoked_count, 2,
                    "round {round}: the rotation came first, so the revocation must revoke the \
                     rotated token and its successor"
                );
                assert_eq!(
                    token_of(store, ENV, &next.digest).await,
                    Some(revoked(&next, at(60))),
                    "round {round}: a successor rotated before the revocation must be revoked"
                );
            }
            Rotation::NotCurrent(_) => {
                assert_eq!(
                    revoked_count, 1,
                    "round {round}: the revocation came first and revoked the one token"
                );
                assert_eq!(
                    token_of(store, ENV, &next.digest).await,
                    None,
                    "round {round}: a rotation after the revocation must not store a successor"
                );
            }
            other => panic!("round {round}: a rotation racing a revocation answered {other:?}"),
        }
        let old = token_of(store, ENV, &token.digest).await;
        assert!(
            matches!(
                old,
                Some(RefreshTokenRecord {
                    state: RefreshState::Revoked { .. },
                    ..
                })
            ),
            "round {round}: the raced token must end revoked, got {old:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Replay markers and monotonic steps
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Environments
// ---------------------------------------------------------------------------------------------

/// Where the isolation checks write their sandbox records: after every other check's, so that
/// a store leaking them into production would list them first.
const PROBE: OffsetDateTime = datetime!(9000-01-01 00:00 UTC);

/// An organization written in sandbox is invisible in production (lookup, list, update,
/// delete), its domain is free there, and production writes leave the sandbox one untouched.
pub async fn organizations_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let domain = fresh_domain("env-org");
    let org = organization(sandbox, &domain, PROBE);
    ok(
        store
            .insert_organization(
                sandbox,
                &org,
                &event("ORGANIZATION_CREATED", &domain, PROBE),
            )
            .await,
        "insert_organization",
    );
    assert_eq!(
        ok(
            store.organization(production, &domain).await,
            "organization"
        ),
        None,
        "a sandbox organization looked up in production"
    );
    let (listed, _) = ok(
        store.list_organizations(production, page(1, 100)).await,
        "list_organizations",
    );
    assert!(
        listed.iter().all(|o| o.domain != domain),
        "a sandbox organization must not be listed in production"
    );
    let next = Organization {
        version: 2,
        ..org.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_organization(
                    production,
                    &next,
                    1,
                    &event("ORGANIZATION_UPDATED", &domain, PROBE)
                )
                .await
        ),
        Outcome::NotFound,
        "updating a sandbox organization in production"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_organization(
                    production,
                    &domain,
                    PROBE,
                    &event("ORGANIZATION_DELETED", &domain, PROBE)
                )
                .await
        ),
        Outcome::NotFound,
        "deleting a sandbox organization in production"
    );
    let twin = organization(production, &domain, T0);
    ok(
        store
            .insert_organization(
                production,
                &twin,
                &event("ORGANIZATION_CREATED", &domain, T0),
            )
            .await,
        "insert_organization: a sandbox domain must be free in production",
    );
    ok(
        store
            .delete_organization(
                production,
                &domain,
                at(1),
                &event("ORGANIZATION_DELETED", &domain, at(1)),
            )
            .await,
        "delete_organization",
    );
    assert_eq!(
        ok(store.organization(sandbox, &domain).await, "organization"),
        Some(org),
        "production writes must leave the sandbox organization untouched"
    );
}

/// A user written in sandbox is invisible in production (by id, by e-mail, in lists, to
/// updates), its id and e-mail are free there, and production writes leave it untouched.
pub async fn users_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let domain = fresh_domain("env-user");
    for env in [sandbox, production] {
        let org = organization(env, &domain, T0);
        ok(
            store
                .insert_organization(env, &org, &event("ORGANIZATION_CREATED", &domain, T0))
                .await,
            "insert_organization",
        );
    }
    let u = user(sandbox, &domain, &fresh_email("env-user"), T0);
    ok(
        store
            .insert_user(sandbox, &u, &event("USER_CREATED", &domain, T0))
            .await,
        "insert_user",
    );
    assert_eq!(
        ok(store.user(production, &domain, u.id).await, "user"),
        None,
        "a sandbox user looked up by id in production"
    );
    assert_eq!(
        ok(
            store
                .user_by_email(production, &domain, &u.profile.email)
                .await,
            "user_by_email"
        ),
        None,
        "a sandbox user looked up by e-mail in production"
    );
    assert_eq!(
        ok(
            store.list_users(production, &domain, page(1, 10)).await,
            "list_users"
        ),
        (Vec::new(), 0),
        "a sandbox user must not be listed in production"
    );
    let next = User {
        version: 2,
        ..u.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_user(production, &next, 1, &event("USER_UPDATED", &domain, T0))
                .await
        ),
        Outcome::NotFound,
        "updating a sandbox user in production"
    );
    let twin = User {
        environment: production,
        ..u.clone()
    };
    ok(
        store
            .insert_user(production, &twin, &event("USER_CREATED", &domain, T0))
            .await,
        "insert_user: a sandbox user's id and e-mail must be free in production",
    );
    let renamed = User {
        profile: Profile {
            email: fresh_email("env-user"),
            ..twin.profile.clone()
        },
        version: 2,
        ..twin.clone()
    };
    ok(
        store
            .update_user(production, &renamed, 1, &event("USER_UPDATED", &domain, T0))
            .await,
        "update_user",
    );
    assert_eq!(
        ok(store.user(sandbox, &domain, u.id).await, "user"),
        Some(u.clone()),
        "production writes must leave the sandbox user untouched"
    );
    assert_eq!(
        ok(
            store
                .user_by_email(sandbox, &domain, &u.profile.email)
                .await,
            "user_by_email"
        ),
        Some(u),
        "a production e-mail change must not release the sandbox address"
    );
}

/// An application written in sandbox is invisible in production (lookup, lists, update,
/// delete), its `client_id` is free there, and production writes leave it untouched.
pub async fn applications_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let domain = fresh_domain("env-app");
    for env in [sandbox, production] {
        let org = organization(env, &domain, T0);
        ok(
            store
                .insert_organization(env, &org, &event("ORGANIZATION_CREATED", &domain, T0))
                .await,
            "insert_organization",
        );
    }
    let scope = ApplicationScope::Organization(domain.clone());
    let app = application(sandbox, scope.clone(), T0);
    let ev = |code: &str| event(code, &domain, T0).client(app.client_id);
    ok(
        store
            .insert_application(sandbox, &app, &ev("APPLICATION_CREATED"))
            .await,
        "insert_application",
    );
    assert_eq!(
        ok(
            store.application(production, app.client_id).await,
            "application"
        ),
        None,
        "a sandbox application looked up in production"
    );
    assert_eq!(
        ok(
            store
                .list_applications(production, &scope, page(1, 10))
                .await,
            "list_applications"
        ),
        (Vec::new(), 0),
        "a sandbox application must not be listed in production"
    );
    let next = Application {
        version: 2,
        ..app.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_application(production, &next, 1, &ev("APPLICATION_UPDATED"))
                .await
        ),
        Outcome::NotFound,
        "updating a sandbox application in production"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_application(production, app.client_id, T0, &ev("APPLICATION_DELETED"))
                .await
        ),
        Outcome::NotFound,
        "deleting a sandbox application in production"
    );
    let twin = Application {
        environment: production,
        ..app.clone()
    };
    ok(
        store
            .insert_application(production, &twin, &ev("APPLICATION_CREATED"))
            .await,
        "insert_application: a sandbox client_id must be free in production",
    );
    ok(
        store
            .delete_application(production, app.client_id, at(1), &ev("APPLICATION_DELETED"))
            .await,
        "delete_application",
    );
    assert_eq!(
        ok(
            store.application(sandbox, app.client_id).await,
            "application"
        ),
        Some(app.clone()),
        "production writes must leave the sandbox application untouched"
    );
    assert_eq!(
        ok(
            store.list_applications(sandbox, &scope, page(1, 10)).await,
            "list_applications"
        ),
        (vec![app], 1),
        "a production delete must not unlist the sandbox application"
    );
}

/// Events recorded in one environment are never returned in the other, and carry their own
/// environment as `database`.
pub async fn events_are_isolated_by_environment<S: Store>(store: &S) {
    let tenant = fresh_domain("env-audit");
    let client = ClientId::from_uuid(fresh_uuid());
    let saml = unique("idp");
    let mut new = event("CONFORMANCE_TICK", &tenant, T0).client(client);
    new.saml_identity_provider_id = Some(saml.clone());
    let recorded = ok(
        store.record_event(Environment::Sandbox, &new).await,
        "record_event",
    );
    assert_eq!(
        recorded.database,
        Environment::Sandbox,
        "the event's database"
    );
    for query in [
        EventQuery::tenant(&tenant),
        EventQuery::default().client_id(client),
        EventQuery::default().saml_identity_provider_id(saml.clone()),
    ] {
        assert_eq!(
            ok(
                store
                    .events(Environment::Production, &query, page(1, 10))
                    .await,
                "events"
            ),
            (Vec::new(), 0),
            "production events matching a sandbox event ({query:?})"
        );
    }
    let in_production = ok(
        store.record_event(Environment::Production, &new).await,
        "record_event",
    );
    assert_eq!(
        in_production.database,
        Environment::Production,
        "the event's database"
    );
    assert_eq!(
        tenant_events(store, Environment::Sandbox, &tenant).await,
        (vec![recorded], 1),
        "sandbox events after a production event of the same tenant"
    );
    assert_eq!(
        tenant_events(store, Environment::Production, &tenant).await,
        (vec![in_production], 1),
        "production events after a sandbox event of the same tenant"
    );
}

/// A one-time entry put in sandbox is `Missing` in production, the key is free there, and
/// taking it in production does not take the sandbox entry.
pub async fn one_time_entries_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let key = fresh_key("env-take");
    ok(
        store
            .put_once(sandbox, &key, &one_time_entry(b"sandbox", T0), T0)
            .await,
        "put_once",
    );
    assert_eq!(
        ok(store.take(production, &key, at(1)).await, "take"),
        Take::Missing,
        "taking a sandbox entry in production"
    );
    ok(
        store
            .put_once(production, &key, &one_time_entry(b"production", T0), T0)
            .await,
        "put_once: a sandbox key must be free in production",
    );
    assert_eq!(
        ok(store.take(production, &key, at(2)).await, "take"),
        Take::Taken(b"production".to_vec()),
        "taking the production entry"
    );
    assert_eq!(
        ok(store.take(sandbox, &key, at(3)).await, "take"),
        Take::Taken(b"sandbox".to_vec()),
        "taking the production entry must not take the sandbox one"
    );
}

/// A refresh token written in sandbox is invisible in production (lookup, rotation), no
/// production revocation touches it, and its digest is free there.
pub async fn refresh_tokens_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let grant = Grant::fresh(store, sandbox).await;
    let token = grant.token(T0);
    insert_token(store, sandbox, &token).await;
    assert_eq!(
        token_of(store, production, &token.digest).await,
        None,
        "a sandbox token looked up in production"
    );
    let next = successor(&token, at(1));
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(production, &token.digest, &next, at(1))
                .await,
            "rotate_refresh_token"
        ),
        Rotation::Missing,
        "rotating a sandbox token in production"
    );
    let revocations = [
        ok(
            store.revoke_family(production, token.family, at(2)).await,
            "revoke_family",
        ),
        ok(
            store
                .revoke_user_refresh_tokens(production, &grant.org, grant.user_id, at(2))
                .await,
            "revoke_user_refresh_tokens",
        ),
        ok(
            store
                .revoke_client_refresh_tokens(production, grant.client_id, at(2))
                .await,
            "revoke_client_refresh_tokens",
        ),
    ];
    assert_eq!(
        revocations,
        [0, 0, 0],
        "production revocations (family, user, client) of sandbox tokens"
    );
    assert_eq!(
        token_of(store, sandbox, &token.digest).await,
        Some(token.clone()),
        "production calls must leave the sandbox token current"
    );
    assert_eq!(
        token_of(store, production, &next.digest).await,
        None,
        "a missing rotation in production must not store a successor"
    );
    let production_grant = Grant::fresh(store, production).await;
    let twin = RefreshTokenRecord {
        digest: token.digest,
        ..production_grant.token(T0)
    };
    insert_token(store, production, &twin).await;
    assert_eq!(
        ok(
            store.revoke_family(production, twin.family, at(3)).await,
            "revoke_family"
        ),
        1,
        "revoking the production family"
    );
    assert_eq!(
        token_of(store, sandbox, &token.digest).await,
        Some(token),
        "a production revocation must leave the sandbox token with the same digest current"
    );
}

/// A counter incremented in sandbox counts 0 in production, and production increments,
/// decrements and resets leave it untouched.
pub async fn counters_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let key = fresh_key("env-counter");
    for i in 0..2 {
        ok(
            store.increment(sandbox, &key, 2, at(600), at(i)).await,
            "increment",
        );
    }
    assert_eq!(
        ok(store.count(production, &key, at(2)).await, "count"),
        0,
        "a sandbox counter read in production"
    );
    assert_eq!(
        ok(
            store.increment(production, &key, 2, at(600), at(3)).await,
            "increment"
        ),
        Counted::Incremented(1),
        "a production increment of a key at its limit in sandbox"
    );
    assert_eq!(
        ok(store.decrement(production, &key, at(4)).await, "decrement"),
        0,
        "a production decrement of a key incremented only in sandbox"
    );
    ok(store.reset(production, &key).await, "reset");
    assert_eq!(
        ok(store.count(sandbox, &key, at(5)).await, "count"),
        2,
        "production writes must leave the sandbox counter untouched"
    );
}

/// Replay markers and steps set in sandbox do not exist in production, and production calls
/// leave them untouched.
pub async fn replay_markers_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let nonce = fresh_key("env-mark");
    let step = fresh_key("env-step");
    assert_eq!(
        ok(
            store.mark_once(sandbox, &nonce, at(600), T0).await,
            "mark_once"
        ),
        Mark::First,
        "the first mark of a nonce in sandbox"
    );
    assert_eq!(
        ok(
            store.mark_once(production, &nonce, at(600), at(1)).await,
            "mark_once"
        ),
        Mark::First,
        "a nonce marked in sandbox, marked in production"
    );
    assert_eq!(
        ok(
            store.mark_once(sandbox, &nonce, at(600), at(2)).await,
            "mark_once"
        ),
        Mark::Replay,
        "the sandbox nonce stays marked"
    );
    assert_eq!(
        ok(store.advance(sandbox, &step, 10).await, "advance"),
        Advance::Advanced,
        "the first step in sandbox"
    );
    assert_eq!(
        ok(store.advance(production, &step, 5).await, "advance"),
        Advance::Advanced,
        "a step advanced to 10 in sandbox, advanced to 5 in production"
    );
    assert_eq!(
        ok(store.advance(sandbox, &step, 10).await, "advance"),
        Advance::Stale(10),
        "the sandbox step stays at 10"
    );
}

// ---------------------------------------------------------------------------------------------
// Restart (durable stores)
// ---------------------------------------------------------------------------------------------

/// What [`restart_prepare`] wrote, for [`restart_verify`] to check after the store reopened.
#[derive(Clone, Debug)]
pub struct RestartState {
    used_code: Key,
    used_at: OffsetDateTime,
    unused_code: Key,
    rotated: RefreshTokenRecord,
    successor: RefreshTokenRecord,
    step: Key,
    nonce: Key,
    account: User,
    credentials: CredentialRecord,
}

/// The payload of the restart checks' one-time entries.
const RESTART_PAYLOAD: &[u8] = b"restart";

/// Writes the state a durable store must keep across a restart: a used code and an unused one,
/// a rotated refresh token and its successor, a TOTP step, a nonce, and an account whose
/// credentials were updated once. Close and reopen the
/// store, then call [`restart_verify`] with the answer.
///
/// For durable adapters only: a store that lives in memory forgets everything with the process.
pub async fn restart_prepare<S: Store>(store: &S) -> RestartState {
    let now = T0;
    let used_code = fresh_key("restart-code");
    let unused_code = fresh_key("restart-code");
    for key in [&used_code, &unused_code] {
        ok(
            store
                .put_once(ENV, key, &one_time_entry(RESTART_PAYLOAD, now), now)
                .await,
            "put_once",
        );
    }
    let used_at = now + Duration::seconds(1);
    assert_eq!(
        ok(store.take(ENV, &used_code, used_at).await, "take"),
        Take::Taken(RESTART_PAYLOAD.to_vec()),
        "the first take (setup)"
    );
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(now);
    insert_token(store, ENV, &token).await;
    let successor = rotate_ok(store, ENV, &token, now + Duration::seconds(2)).await;
    let rotated = token_of(store, ENV, &token.digest)
        .await
        .expect("the rotated token is stored");
    let step = fresh_key("restart-step");
    assert_eq!(
        ok(store.advance(ENV, &step, 42).await, "advance"),
        Advance::Advanced,
        "the first step (setup)"
    );
    let nonce = fresh_key("restart-nonce");
    assert_eq!(
        ok(
            store
                .mark_once(ENV, &nonce, now + Duration::minutes(5), now)
                .await,
            "mark_once"
        ),
        Mark::First,
        "the first mark of a nonce (setup)"
    );
    let org = fresh_org(store, ENV, "restart").await;
    let (account, first) = fresh_account(store, ENV, &org).await;
    let credentials = next_version(&first, now + Duration::seconds(3));
    ok(
        store.update_credentials(ENV, &credentials, 1, None).await,
        "update_credentials (setup)",
    );
    RestartState {
        used_code,
        used_at,
        unused_code,
        rotated,
        successor,
        step,
        nonce,
        account,
        credentials,
    }
}

/// Checks, on the reopened store, what [`restart_prepare`] wrote: the used code is still
/// `AlreadyTaken` and the unused one takeable; the rotated refresh token is still `NotCurrent`
/// and its successor stored; the step still refuses its value and the nonce is still a replay;
/// the account and its credentials read back, by id and by username, as last written.
pub async fn restart_verify<S: Store>(store: &S, state: RestartState) {
    let now = state.used_at + Duration::seconds(10);
    assert_eq!(
        ok(store.take(ENV, &state.used_code, now).await, "take"),
        Take::AlreadyTaken {
            payload: RESTART_PAYLOAD.to_vec(),
            taken_at: state.used_at
        },
        "a code used before the restart must stay used"
    );
    assert_eq!(
        ok(store.take(ENV, &state.unused_code, now).await, "take"),
        Take::Taken(RESTART_PAYLOAD.to_vec()),
        "a code put before the restart must survive it"
    );
    let replay = successor(&state.rotated, now);
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &state.rotated.digest, &replay, now)
                .await,
            "rotate_refresh_token"
        ),
        Rotation::NotCurrent(state.rotated.clone()),
        "a token rotated before the restart must stay not current (reuse detection)"
    );
    assert_eq!(
        token_of(store, ENV, &state.successor.digest).await,
        Some(state.successor),
        "a successor stored before the restart must survive it"
    );
    assert_eq!(
        ok(store.advance(ENV, &state.step, 42).await, "advance"),
        Advance::Stale(42),
        "a TOTP step accepted before the restart must stay used"
    );
    assert_eq!(
        ok(
            store
                .mark_once(ENV, &state.nonce, now + Duration::minutes(5), now)
                .await,
            "mark_once"
        ),
        Mark::Replay,
        "a nonce seen before the restart must stay seen"
    );
    let org = state.account.org.clone();
    assert_eq!(
        ok(store.user(ENV, &org, state.account.id).await, "user"),
        Some(state.account.clone()),
        "an account's user written before the restart must survive it"
    );
    assert_eq!(
        creds_of(store, ENV, &org, state.account.id).await,
        Some(state.credentials.clone()),
        "credentials updated before the restart must survive it, as updated"
    );
    let name = state.credentials.username.as_deref().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, name).await,
        Some(state.credentials.clone()),
        "a username written before the restart must still find its account"
    );
}

/// A whole-second time a day after `newest`, and never before [`LIST_BASE`].
fn newest_base(newest: Option<OffsetDateTime>) -> OffsetDateTime {
    newest
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t.unix_timestamp() + 86_400).ok())
        .map_or(LIST_BASE, |t| t.max(LIST_BASE))
}

// ---------------------------------------------------------------------------------------------
// Keyset cursors and maintained totals
// ---------------------------------------------------------------------------------------------

/// The cursor after a user, as `List::next_cursor` gives it.
fn user_cursor(u: &User) -> Cursor {
    Cursor::newest(ListKind::Users, u.inserted_at, u.id.as_uuid())
        .expect("a stored user's instant fits a cursor")
}

/// Every page of `org`'s users by page number, then by cursor (each next page read after the
/// last user of the previous one, with the next page number): both walks must read the same
/// users in the same order, with the same exact total on every page. Answers the users.
async fn walk_users_both_ways<S: Store>(store: &S, org: &OrgDomain, per: u32) -> (Vec<User>, u64) {
    let (mut by_number, total) = ok(store.list_users(ENV, org, page(1, per)).await, "list_users");
    let mut n = 1;
    loop {
        n += 1;
        let (items, t) = ok(store.list_users(ENV, org, page(n, per)).await, "list_users");
        assert_eq!(t, total, "the total of page {n} by number");
        if items.is_empty() {
            break;
        }
        by_number.extend(items);
    }
    let (mut by_cursor, _) = ok(store.list_users(ENV, org, page(1, per)).await, "list_users");
    let mut last = by_cursor.last().map(user_cursor);
    let mut n = 1;
    while let Some(cursor) = last {
        n += 1;
        let request = page(n, per).after(cursor);
        let (items, t) = ok(store.list_users(ENV, org, request).await, "list_users");
        assert_eq!(t, total, "the total of page {n} by cursor");
        assert!(items.len() <= per as usize, "at most per_page users");
        last = items.last().map(user_cursor);
        by_cursor.extend(items);
    }
    assert_eq!(
        by_cursor, by_number,
        "walking by cursors reads the users, in the order, that walking by page numbers reads"
    );
    (by_number, total)
}

/// `list_users` with a cursor returns the users strictly after it (`inserted_at` descending,
/// ties by id descending), without `OFFSET`: walking the list by cursors reads exactly what
/// walking it by page numbers reads, including users inserted at the same instant, at every
/// page size.
pub async fn users_cursor_walk_matches_page_number_walk<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "user-cursor").await;
    // Ties: several users share each instant, so the id decides their order.
    let offsets = [0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4];
    let mut users: Vec<User> = offsets
        .iter()
        .map(|s| user(ENV, &org, &fresh_email("user-cursor"), at(*s)))
        .collect();
    for u in users.iter().rev() {
        ok(
            store
                .insert_user(ENV, u, &event("USER_CREATED", &org, T0))
                .await,
            "insert_user",
        );
    }
    sort_newest_first(&mut users, |u| (u.inserted_at, u.id.as_uuid()));
    for per in [1, 2, 3, 4, 11, 12] {
        let (walked, total) = walk_users_both_ways(store, &org, per).await;
        assert_eq!(
            walked, users,
            "{per} per page: every user once, newest first"
        );
        assert_eq!(total, users.len() as u64, "the exact total");
    }
    let after_last = page(5, 3).after(user_cursor(&users[users.len() - 1]));
    assert_eq!(
        ok(store.list_users(ENV, &org, after_last).await, "list_users"),
        (Vec::new(), users.len() as u64),
        "nothing after the last user, and still the total"
    );
}

/// A users cursor carries no organization: read in another organization, it only positions
/// the read there. The page holds that organization's users strictly after the key, never a
/// user of the organization the cursor came from.
pub async fn users_cursor_never_reaches_another_organization<S: Store>(store: &S) {
    let ours = fresh_org(store, ENV, "cursor-ours").await;
    let theirs = fresh_org(store, ENV, "cursor-theirs").await;
    let mut mine = Vec::new();
    let mut other = Vec::new();
    for s in 0..6 {
        let u = user(ENV, &ours, &fresh_email("cursor-ours"), at(s));
        ok(
            store
                .insert_user(ENV, &u, &event("USER_CREATED", &ours, T0))
                .await,
            "insert_user",
        );
        mine.push(u);
        let t = user(ENV, &theirs, &fresh_email("cursor-theirs"), at(s));
        ok(
            store
                .insert_user(ENV, &t, &event("USER_CREATED", &theirs, T0))
                .await,
            "insert_user",
        );
        other.push(t);
    }
    sort_newest_first(&mut mine, |u| (u.inserted_at, u.id.as_uuid()));
    sort_newest_first(&mut other, |u| (u.inserted_at, u.id.as_uuid()));
    for from in &other {
        let request = page(2, 100).after(user_cursor(from));
        let (items, total) = ok(store.list_users(ENV, &ours, request).await, "list_users");
        assert_eq!(total, 6, "our organization's total");
        let key = (from.inserted_at, from.id.as_uuid());
        let want: Vec<User> = mine
            .iter()
            .filter(|u| (u.inserted_at, u.id.as_uuid()) < key)
            .cloned()
            .collect();
        assert_eq!(
            items, want,
            "only our users, strictly after the other organization's key"
        );
    }
}

/// The users total is exact after every insert (`insert_user`, `insert_account`) and delete
/// (`delete_account`), unchanged by refused writes, and agrees with the users listed.
pub async fn users_total_stays_exact_across_inserts_and_deletes<S: Store>(store: &S) {
    let org = &fresh_org(store, ENV, "user-total").await;
    let total = |n: u64| async move {
        let (items, t) = ok(store.list_users(ENV, org, page(1, 100)).await, "list_users");
        assert_eq!(t, n, "the total");
        assert_eq!(items.len() as u64, n, "the total counts the users listed");
    };
    total(0).await;
    let a = fresh_user(store, ENV, org).await;
    total(1).await;
    let (b, _) = fresh_account(store, ENV, org).await;
    let (c, _) = fresh_account(store, ENV, org).await;
    total(3).await;
    // A refused insert counts nothing.
    let twin = user(ENV, org, &a.profile.email, T0);
    let refused = store
        .insert_user(ENV, &twin, &event("USER_CREATED", org, T0))
        .await;
    assert_eq!(Outcome::of(&refused), Outcome::AlreadyExists("email"));
    let (twin, creds) = account(ENV, org);
    let twin = User {
        profile: crate::model::user::Profile {
            email: b.profile.email.clone(),
            ..twin.profile
        },
        ..twin
    };
    let refused = store
        .insert_account(ENV, &twin, &creds, &account_event("ACCOUNT_CREATED", &twin))
        .await;
    assert_eq!(Outcome::of(&refused), Outcome::AlreadyExists("email"));
    total(3).await;
    ok(
        store
            .delete_account(ENV, org, b.id, &account_event("ACCOUNT_DELETED", &b))
            .await,
        "delete_account",
    );
    total(2).await;
    // A user without credentials is deleted (and uncounted) the same way.
    ok(
        store
            .delete_account(ENV, org, a.id, &account_event("ACCOUNT_DELETED", &a))
            .await,
        "delete_account",
    );
    let missing = store
        .delete_account(ENV, org, a.id, &account_event("ACCOUNT_DELETED", &a))
        .await;
    assert_eq!(Outcome::of(&missing), Outcome::NotFound, "deleted twice");
    total(1).await;
    ok(
        store
            .delete_account(ENV, org, c.id, &account_event("ACCOUNT_DELETED", &c))
            .await,
        "delete_account",
    );
    total(0).await;
    fresh_user(store, ENV, org).await;
    total(1).await;
}

/// Every page of `query`'s events by number, then by cursor: the same events in the same
/// order, the same exact total on every page. Answers the events and the total.
async fn walk_events_both_ways<S: Store>(
    store: &S,
    query: &EventQuery,
    per: u32,
) -> (Vec<Event>, u64) {
    let (mut by_number, total) = ok(store.events(ENV, query, page(1, per)).await, "events");
    let mut n = 1;
    loop {
        n += 1;
        let (items, t) = ok(store.events(ENV, query, page(n, per)).await, "events");
        assert_eq!(t, total, "the total of page {n} by number");
        if items.is_empty() {
            break;
        }
        by_number.extend(items);
    }
    let (mut by_cursor, _) = ok(store.events(ENV, query, page(1, per)).await, "events");
    let mut last = by_cursor.last().map(|e| Cursor::event(e.id));
    let mut n = 1;
    while let Some(cursor) = last {
        n += 1;
        let request = page(n, per).after(cursor);
        let (items, t) = ok(store.events(ENV, query, request).await, "events");
        assert_eq!(t, total, "the total of page {n} by cursor");
        assert!(items.len() <= per as usize, "at most per_page events");
        last = items.last().map(|e| Cursor::event(e.id));
        by_cursor.extend(items);
    }
    assert_eq!(
        by_cursor, by_number,
        "walking by cursors reads the events, in the order, that walking by page numbers reads"
    );
    (by_number, total)
}

/// `events` with a cursor returns the matching events with smaller ids, newest first, under
/// every filter combination (tenant, code, tenant and code, client): walking by cursors reads
/// what walking by page numbers reads, and each total is exact, including the events that
/// directory writes record.
pub async fn events_cursor_walk_matches_page_number_walk_under_filters<S: Store>(store: &S) {
    let tenant = fresh_org(store, ENV, "audit-cursor").await;
    let other = fresh_domain("audit-cursor-other");
    let client = fresh_app(store, ENV, &tenant).await;
    let a = EventCode::parse("CONFORMANCE_CURSOR_A").expect("an event code");
    let b = EventCode::parse("CONFORMANCE_CURSOR_B").expect("an event code");
    let mut recorded = Vec::new();
    for i in 0..9 {
        let code = if i % 3 == 0 { &b } else { &a };
        let domain = if i % 4 == 3 { &other } else { &tenant };
        let mut new = event(code.as_str(), domain, at(i));
        if i % 2 == 0 {
            new = new.client(client);
        }
        recorded.push(ok(store.record_event(ENV, &new).await, "record_event"));
    }
    // A directory write records its event through the same path.
    fresh_user(store, ENV, &tenant).await;
    let queries = [
        EventQuery::tenant(&tenant),
        EventQuery::tenant(&tenant).code(a.clone()),
        EventQuery::tenant(&other).code(b.clone()),
        EventQuery::tenant(&tenant).client_id(client),
        EventQuery::tenant(&tenant)
            .code(a.clone())
            .client_id(client),
    ];
    for query in &queries {
        let (all, total) = ok(store.events(ENV, query, page(1, 100)).await, "events");
        assert_eq!(total, all.len() as u64, "{query:?}: the exact total");
        assert!(
            all.iter().all(|e| query.matches(e)),
            "{query:?}: only matching events"
        );
        for per in [1, 2, 4] {
            let (walked, t) = walk_events_both_ways(store, query, per).await;
            assert_eq!(walked, all, "{query:?}, {per} per page: every match once");
            assert_eq!(t, total, "{query:?}: the same total");
        }
    }
    let by_code = EventQuery {
        tenant_domain: None,
        code: Some(a.clone()),
        client_id: None,
        saml_identity_provider_id: None,
    };
    let top = page(2, 2).after(Cursor::event(recorded[5].id));
    let (items, _) = ok(store.events(ENV, &by_code, top).await, "events");
    let want: Vec<Event> = recorded[..5]
        .iter()
        .rev()
        .filter(|e| by_code.matches(e))
        .take(2)
        .cloned()
        .collect();
    assert_eq!(
        items, want,
        "code only: the two newest matches below the cursor"
    );
}

/// The events total under tenant and code filters grows by exactly one per recorded event of
/// that tenant and code (and by none for other tenants and codes).
pub async fn events_totals_stay_exact_as_events_are_recorded<S: Store>(store: &S) {
    let tenant = fresh_domain("audit-total");
    let code = EventCode::parse("CONFORMANCE_TOTAL").expect("an event code");
    let other_code = EventCode::parse("CONFORMANCE_TOTAL_OTHER").expect("an event code");
    let both = EventQuery::tenant(&tenant).code(code.clone());
    let tenant_only = EventQuery::tenant(&tenant);
    let totals = |q: &EventQuery| {
        let q = q.clone();
        async move { ok(store.events(ENV, &q, page(1, 1)).await, "events").1 }
    };
    for n in 1..=20u64 {
        let c = if n % 5 == 0 { &other_code } else { &code };
        ok(
            store
                .record_event(ENV, &event(c.as_str(), &tenant, T0))
                .await,
            "record_event",
        );
        assert_eq!(totals(&tenant_only).await, n, "every event of the tenant");
        assert_eq!(
            totals(&both).await,
            n - n / 5,
            "the tenant's events of the code"
        );
    }
}

/// `list_applications` with a cursor returns the scope's live applications strictly after it
/// (`inserted_at` descending, ties by `client_id` descending): walking by cursors reads what
/// walking by page numbers reads, deleted applications left out.
pub async fn applications_cursor_walk_matches_page_number_walk<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "app-cursor").await;
    let scope = ApplicationScope::Organization(org.clone());
    let mut apps: Vec<Application> = [0, 0, 1, 1, 1, 2, 3]
        .iter()
        .map(|s| application(ENV, scope.clone(), at(*s)))
        .collect();
    for app in &apps {
        let ev = event("APPLICATION_CREATED", &org, T0).client(app.client_id);
        ok(
            store.insert_application(ENV, app, &ev).await,
            "insert_application",
        );
    }
    let deleted = apps.remove(3);
    let ev = event("APPLICATION_DELETED", &org, T0).client(deleted.client_id);
    ok(
        store
            .delete_application(ENV, deleted.client_id, at(10), &ev)
            .await,
        "delete_application",
    );
    sort_newest_first(&mut apps, |a| (a.inserted_at, a.client_id.as_uuid()));
    let ids =
        |items: &[Application]| -> Vec<ClientId> { items.iter().map(|a| a.client_id).collect() };
    let cursor = |a: &Application| {
        Cursor::newest(ListKind::Applications, a.inserted_at, a.client_id.as_uuid())
            .expect("a stored instant fits a cursor")
    };
    for per in [1, 2, 4] {
        let mut by_number = Vec::new();
        for n in 1.. {
            let (items, total) = ok(
                store.list_applications(ENV, &scope, page(n, per)).await,
                "list_applications",
            );
            assert_eq!(total, apps.len() as u64, "the live total");
            if items.is_empty() {
                break;
            }
            by_number.extend(items);
        }
        let (mut by_cursor, _) = ok(
            store.list_applications(ENV, &scope, page(1, per)).await,
            "list_applications",
        );
        let mut last = by_cursor.last().map(cursor);
        let mut n = 1;
        while let Some(c) = last {
            n += 1;
            let (items, total) = ok(
                store
                    .list_applications(ENV, &scope, page(n, per).after(c))
                    .await,
                "list_applications",
            );
            assert_eq!(total, apps.len() as u64, "the live total by cursor");
            last = items.last().map(cursor);
            by_cursor.extend(items);
        }
        assert_eq!(ids(&by_number), ids(&apps), "{per} per page by number");
        assert_eq!(ids(&by_cursor), ids(&apps), "{per} per page by cursor");
    }
}

/// `list_organizations` with a cursor. This check's organizations (with `inserted_at` ties, one
/// deleted) are ten years older than [`T0`], so they never sit at the head of the list other
/// checks read. Walking the whole list by cursors reads every live organization once, in
/// strictly newest-first order, ours among them in order and the deleted one left out; with
/// [`Isolation::Exclusive`] the walk equals the walk by page numbers.
pub async fn organizations_cursor_walk_matches_page_number_walk<S: Store>(
    store: &S,
    isolation: Isolation,
) {
    let base = T0 - Duration::days(3650);
    let mut orgs: Vec<Organization> = [0, 0, 1, 1, 1, 2]
        .iter()
        .map(|s| {
            organization(
                ENV,
                &fresh_domain("org-cursor"),
                base + Duration::seconds(*s),
            )
        })
        .collect();
    for org in &orgs {
        let ev = event("ORGANIZATION_CREATED", &org.domain, org.inserted_at);
        ok(
            store.insert_organization(ENV, org, &ev).await,
            "insert_organization",
        );
    }
    let deleted = orgs.remove(2);
    let ev = event("ORGANIZATION_DELETED", &deleted.domain, base);
    ok(
        store
            .delete_organization(ENV, &deleted.domain, base, &ev)
            .await,
        "delete_organization",
    );
    sort_newest_first(&mut orgs, |o| (o.inserted_at, o.id.as_uuid()));
    let key = |o: &Organization| (o.inserted_at, o.id.as_uuid());
    let cursor = |o: &Organization| {
        Cursor::newest(ListKind::Organizations, o.inserted_at, o.id.as_uuid())
            .expect("a stored instant fits a cursor")
    };
    let (mut walked, _) = ok(
        store.list_organizations(ENV, page(1, 50)).await,
        "list_organizations",
    );
    let mut n = 1;
    while let Some(c) = walked.last().map(cursor) {
        n += 1;
        let (items, _) = ok(
            store.list_organizations(ENV, page(n, 50).after(c)).await,
            "list_organizations",
        );
        if items.is_empty() {
            break;
        }
        walked.extend(items);
    }
    assert!(
        walked.windows(2).all(|w| key(&w[0]) > key(&w[1])),
        "strictly newest first, nothing twice"
    );
    let ours: Vec<&OrgDomain> = walked
        .iter()
        .map(|o| &o.domain)
        .filter(|d| orgs.iter().any(|o| o.domain == **d) || **d == deleted.domain)
        .collect();
    let want: Vec<&OrgDomain> = orgs.iter().map(|o| &o.domain).collect();
    assert_eq!(ours, want, "ours in order, the deleted one left out");
    if isolation == Isolation::Exclusive {
        let (all, total) = ok(
            store.list_organizations(ENV, page(1, 100)).await,
            "list_organizations",
        );
        assert_eq!(walked, all, "the whole list, by cursors and by number");
        assert_eq!(total, all.len() as u64, "the live total");
    }
}

/// 64 concurrent `record_event` calls of one tenant and code, and 32 concurrent user inserts of
/// one organization: every write succeeds (retrying transient conflicts) and every total counts
/// each of them exactly once.
pub async fn totals_stay_exact_under_concurrent_writers<S: Store + Clone>(store: &S) {
    let tenant = fresh_org(store, ENV, "total-race").await;
    let code = EventCode::parse("CONFORMANCE_TOTAL_RACE").expect("an event code");
    let results = race(64, |_| {
        let store = store.clone();
        let ev = event(code.as_str(), &tenant, T0);
        async move { Outcome::of(&retried(|| store.record_event(ENV, &ev)).await) }
    })
    .await;
    assert_eq!(count(&results, |r| *r == Outcome::Ok), 64, "{results:?}");
    let results = race(32, |_| {
        let store = store.clone();
        let u = user(ENV, &tenant, &fresh_email("total-race"), T0);
        let ev = event("USER_CREATED", &tenant, T0).user(u.id, &u.profile.email);
        async move { Outcome::of(&retried(|| store.insert_user(ENV, &u, &ev)).await) }
    })
    .await;
    assert_eq!(count(&results, |r| *r == Outcome::Ok), 32, "{results:?}");
    let by_code = EventQuery::tenant(&tenant).code(code.clone());
    let (_, total) = ok(store.events(ENV, &by_code, page(1, 1)).await, "events");
    assert_eq!(total, 64, "every event of the code once");
    // The organization's creation, 64 events and 32 user creations.
    let (_, total) = ok(
        store
            .events(ENV, &EventQuery::tenant(&tenant), page(1, 1))
            .await,
        "events",
    );
    assert_eq!(total, 1 + 64 + 32, "every event of the tenant once");
    let (_, total) = ok(
        store.list_users(ENV, &tenant, page(1, 1)).await,
        "list_users",
    );
    assert_eq!(total, 32, "every user once");
}

// ---------------------------------------------------------------------------------------------
// Everything at once
// ---------------------------------------------------------------------------------------------

/// Runs every check of the macro at once, concurrently, on one store, as a database shared by
/// parallel test runs would see them (the environment-wide lists in [`Isolation::Shared`] mode).
/// Panics naming the checks that failed.
pub async fn every_check_at_once<S: Store + Clone>(store: &S) {
    let mut tasks = tokio::task::JoinSet::new();
    let mut names = std::collections::HashMap::new();
    macro_rules! spawn_checks {
        (plain: $($check:ident),+; isolated: $($isolated:ident),+;) => {
            $(
                let s = store.clone();
                let handle = tasks.spawn(async move { $check(&s).await });
                names.insert(handle.id(), stringify!($check));
            )+
            $(
                let s = store.clone();
                let handle = tasks.spawn(async move { $isolated(&s, Isolation::Shared).await });
                names.insert(handle.id(), stringify!($isolated));
            )+
        };
    }
    crate::__conformance_checks!([spawn_checks][]);
    let mut failed = Vec::new();
    while let Some(done) = tasks.join_next_with_id().await {
        if let Err(e) = done {
            failed.push(names.get(&e.id()).copied().unwrap_or("(unknown)"));
        }
    }
    failed.sort_unstable();
    assert!(
        failed.is_empty(),
        "checks that failed when run at once on one store: {failed:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The test macro
// ---------------------------------------------------------------------------------------------

/// Expands every check of [`idcore::store::conformance`](crate::store::conformance) into a
/// `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` that gets its store from
/// `$make().await` (`async fn make() -> YourStore`), plus one test running
/// [`every_check_at_once`](crate::store::conformance::every_check_at_once) on one store.
///
/// `conformance_tests!(make)` assumes the store may be shared with concurrent writers
/// ([`Isolation::Shared`](crate::store::conformance::Isolation::Shared));
/// `conformance_tests!(make, Isolation::Exclusive)` (any expression of type
/// [`Isolation`](crate::store::conformance::Isolation)) states that `make` returns a fresh store
/// per test, so environment-wide totals are checked exactly.
///
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread` features (as a
/// dev-dependency). Invoke it once per module: the tests are named after the checks. The
/// restart checks are not included; see the module docs.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!($make, $crate::store::conformance::Isolation::Shared);
    };
    ($make:path, $isolation:expr) => {
        $crate::__conformance_checks!([$crate::__conformance_each][$make, $isolation;]);

        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn every_check_at_once() {
            let store = $make().await;
            $crate::store::conformance::every_check_at_once(&store).await;
        }
    };
}

/// Implementation detail of [`conformance_tests!`]: the one list of checks, handed to
/// `callback` after `args` (`plain:` checks take the store, `isolated:` ones also an
/// [`Isolation`](crate::store::conformance::Isolation)).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_checks {
    ([$($callback:tt)+][$($args:tt)*]) => {
        $($callback)+! {
            $($args)*
            plain:
                organization_round_trips,
                organization_domain_stays_taken_after_deletion,
                organization_id_is_unique,
                organization_update_is_conditional_on_version,
                organization_update_never_changes_the_domain,
                organization_update_of_a_deleted_organization_is_refused,
                organization_delete_leaves_a_tombstone,
                organization_domain_has_exactly_one_winner_under_contention,
                organization_update_has_exactly_one_winner_under_contention,
                user_round_trips,
                user_email_is_unique_per_organization_case_insensitively,
                user_id_is_unique,
                users_are_scoped_by_organization,
                user_update_is_conditional_on_version,
                live_user_needs_a_live_organization,
                user_email_change_releases_the_old_address,
                users_list_newest_first_with_totals,
                users_cursor_walk_matches_page_number_walk,
                users_cursor_never_reaches_another_organization,
                users_total_stays_exact_across_inserts_and_deletes,
                user_email_has_exactly_one_winner_under_contention,
                application_round_trips,
                application_client_id_stays_taken_after_deletion,
                application_update_is_conditional_on_version,
                application_update_never_changes_the_scope,
                application_delete_leaves_a_tombstone,
                record_event_returns_the_stored_event,
                event_ids_strictly_increase_across_environments,
                events_match_every_filter_set,
                events_list_newest_first_with_totals,
                events_cursor_walk_matches_page_number_walk_under_filters,
                events_totals_stay_exact_as_events_are_recorded,
                totals_stay_exact_under_concurrent_writers,
                applications_cursor_walk_matches_page_number_walk,
                organization_writes_record_their_event_atomically,
                user_writes_record_their_event_atomically,
                application_writes_record_their_event_atomically,
                put_once_refuses_an_existing_key,
                take_once_then_already_taken_with_payload_and_time,
                take_at_expires_at_is_expired_and_never_taken,
                take_after_retain_until_is_missing,
                put_once_accepts_a_key_forgotten_after_retain_until,
                take_of_an_unknown_key_is_missing,
                take_once_has_exactly_one_winner_under_contention,
                refresh_token_round_trips_and_its_digest_is_unique,
                rotation_returns_the_old_record_and_stores_the_successor,
                rotation_of_a_rotated_or_revoked_token_is_not_current,
                rotation_at_expires_at_is_expired,
                rotation_of_an_unknown_token_is_missing,
                rotation_refuses_an_invalid_successor,
                revoke_family_revokes_exactly_that_family,
                revoke_user_refresh_tokens_revokes_exactly_that_user,
                revoke_client_refresh_tokens_revokes_exactly_that_client,
                rotation_has_exactly_one_winner_under_contention,
                rotation_racing_revocation_never_leaves_a_live_successor,
                audited_rotation_records_its_event_only_when_it_rotates,
                audited_rotation_has_exactly_one_event_under_contention,
                counter_increments_up_to_its_limit_and_no_further,
                counter_window_is_fixed_and_ends_at_expires_at,
                counter_decrement_stops_at_zero,
                counter_back_at_zero_starts_a_new_window,
                counter_reset_deletes_the_counter,
                counter_has_exactly_limit_winners_under_contention,
                mark_once_is_first_once_until_expires_at,
                advance_accepts_only_strictly_greater_values,
                advance_keeps_the_full_u64_range,
                mark_once_has_exactly_one_winner_under_contention,
                advance_has_exactly_one_winner_under_contention,
                organizations_are_isolated_by_environment,
                users_are_isolated_by_environment,
                applications_are_isolated_by_environment,
                events_are_isolated_by_environment,
                one_time_entries_are_isolated_by_environment,
                refresh_tokens_are_isolated_by_environment,
                counters_are_isolated_by_environment,
                replay_markers_are_isolated_by_environment,
                peek_once_shows_only_a_takeable_entry,
                signing_keys_round_trip_newest_first_and_retire,
                revocations_round_trip_in_sequence_order,
                revocation_feed_misses_nothing_under_contention,
                account_round_trips,
                account_insert_refuses_a_taken_email_and_writes_nothing,
                account_insert_refuses_a_taken_username_and_writes_nothing,
                account_insert_refuses_a_taken_id_and_writes_nothing,
                username_is_unique_per_organization,
                credentials_attach_to_an_existing_user_once,
                credentials_attach_only_to_an_existing_user,
                credentials_attach_only_with_a_free_username,
                credentials_are_scoped_by_organization,
                credentials_update_is_conditional_on_version,
                credentials_update_moves_the_username,
                account_delete_erases_the_user_and_frees_its_keys,
                account_delete_erases_a_user_without_credentials,
                credential_writes_record_their_event_atomically,
                username_has_exactly_one_winner_under_contention,
                account_email_has_exactly_one_winner_under_contention,
                credentials_update_has_exactly_one_winner_under_contention,
                account_delete_has_exactly_one_winner_under_contention,
                credentials_are_isolated_by_environment;
            isolated:
                organizations_list_newest_first_with_totals,
                applications_list_only_their_scope_newest_first,
                organizations_cursor_walk_matches_page_number_walk;
        }
    };
}

/// Implementation detail of [`conformance_tests!`]: one test per check.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_each {
    (
        $make:path, $isolation:expr;
        plain: $($check:ident),+;
        isolated: $($isolated:ident),+;
    ) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let store = $make().await;
                $crate::store::conformance::$check(&store).await;
            }
        )+
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $isolated() {
                let store = $make().await;
                $crate::store::conformance::$isolated(&store, $isolation).await;
            }
        )+
    };
}

// ---------------------------------------------------------------------------------------------
// Peek, signing keys, revocation feed
// ---------------------------------------------------------------------------------------------

/// `peek_once` shows the payload of an entry `take` would take, and changes nothing.
pub async fn peek_once_shows_only_a_takeable_entry<S: Store>(store: &S) {
    let key = fresh_key("peek");
    assert_eq!(
        ok(store.peek_once(ENV, &key, T0).await, "peek_once"),
        None,
        "unknown key"
    );
    ok(
        store
            .put_once(ENV, &key, &one_time_entry(b"p", T0), T0)
            .await,
        "put_once",
    );
    for _ in 0..2 {
        assert_eq!(
            ok(store.peek_once(ENV, &key, at(1)).await, "peek_once"),
            Some(b"p".to_vec()),
            "an untaken, unexpired entry"
        );
    }
    assert_eq!(
        ok(store.take(ENV, &key, at(2)).await, "take"),
        Take::Taken(b"p".to_vec()),
        "peeking must not take"
    );
    assert_eq!(
        ok(store.peek_once(ENV, &key, at(3)).await, "peek_once"),
        None,
        "a taken entry"
    );
    let expiring = fresh_key("peek-expiry");
    ok(
        store
            .put_once(ENV, &expiring, &one_time_entry(b"e", T0), T0)
            .await,
        "put_once",
    );
    assert_eq!(
        ok(
            store
                .peek_once(ENV, &expiring, T0 + Duration::minutes(10))
                .await,
            "peek_once"
        ),
        None,
        "an entry at its expires_at"
    );
}

fn signing_key(org: &OrgDomain, created_at: OffsetDateTime) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: unique("kid"),
        org: org.clone(),
        algorithm: Algorithm::Es256,
        sealed_private_key: random::<64>().to_vec(),
        created_at,
        retires_at: None,
    }
}

/// Keys round-trip, list newest first per organization, have unique kids, and retire exactly.
pub async fn signing_keys_round_trip_newest_first_and_retire<S: Store>(store: &S) {
    let org = fresh_domain("keys");
    let other = fresh_domain("keys-other");
    let old = signing_key(&org, T0);
    let new = signing_key(&org, at(10));
    let foreign = signing_key(&other, at(5));
    for k in [&old, &new, &foreign] {
        ok(store.insert_signing_key(ENV, k).await, "insert_signing_key");
    }
    assert_eq!(
        Outcome::of(
            &store
                .insert_signing_key(
                    ENV,
                    &SigningKeyRecord {
                        org: other.clone(),
                        ..new.clone()
                    }
                )
                .await
        ),
        Outcome::AlreadyExists("kid"),
        "a kid is unique in the environment"
    );
    assert_eq!(
        ok(store.signing_keys(ENV, &org, at(20)).await, "signing_keys"),
        vec![new.clone(), old.clone()],
        "the organization's keys, newest first"
    );
    assert_eq!(
        ok(
            store
                .retire_signing_keys(ENV, &org, &new.kid, at(100))
                .await,
            "retire_signing_keys"
        ),
        1,
        "every key but the kept one, of this organization only"
    );
    let retiring = SigningKeyRecord {
        retires_at: Some(at(100)),
        ..old.clone()
    };
    assert_eq!(
        ok(store.signing_keys(ENV, &org, at(99)).await, "signing_keys"),
        vec![new.clone(), retiring],
        "a retiring key verifies until retires_at"
    );
    assert_eq!(
        ok(store.signing_keys(ENV, &org, at(100)).await, "signing_keys"),
        vec![new.clone()],
        "a key at its retires_at is gone"
    );
    assert_eq!(
        ok(
            store
                .retire_signing_keys(ENV, &org, &new.kid, at(200))
                .await,
            "retire_signing_keys"
        ),
        0,
        "a key already retiring keeps its instant"
    );
    assert_eq!(
        ok(
            store.signing_keys(ENV, &other, at(20)).await,
            "signing_keys"
        ),
        vec![foreign],
        "another organization's keys are untouched"
    );
    assert_eq!(
        ok(
            store.signing_keys(Environment::Sandbox, &org, at(20)).await,
            "signing_keys"
        ),
        Vec::new(),
        "keys are isolated by environment"
    );
}

fn ours(entries: Vec<(u64, Revocation)>, subjects: &[Uuid]) -> Vec<(u64, Revocation)> {
    entries
        .into_iter()
        .filter(|(_, r)| subjects.contains(&revocation_subject(r)))
        .collect()
}

fn revocation_subject(r: &Revocation) -> Uuid {
    match r {
        Revocation::Token { jti, .. } => *jti,
        Revocation::Grant { family, .. } => family.0,
        Revocation::User { user_id, .. } => user_id.as_uuid(),
        Revocation::Organization { id, .. } => id.as_uuid(),
        Revocation::Client { client_id, .. } => client_id.as_uuid(),
    }
}

/// Every kind of revocation round-trips through the feed, in sequence order; lapsed ones are
/// not returned; the feed is isolated by environment.
pub async fn revocations_round_trip_in_sequence_order<S: Store>(store: &S) {
    let org = fresh_domain("revoke");
    let entries = [
        Revocation::Token {
            jti: fresh_uuid(),
            expires_at: at(3600),
        },
        Revocation::Grant {
            family: FamilyId(fresh_uuid()),
            expires_at: at(3600),
        },
        Revocation::User {
            org: org.clone(),
            user_id: UserId::from_uuid(fresh_uuid()),
            not_before: at(1),
            expires_at: at(3600),
        },
        Revocation::Client {
            client_id: ClientId::from_uuid(fresh_uuid()),
            not_before: at(2),
            expires_at: at(3600),
        },
        Revocation::Organization {
            id: OrganizationId::from_uuid(fresh_uuid()),
            org: org.clone(),
            not_before: at(3),
            expires_at: at(3600),
        },
        Revocation::Token {
            jti: fresh_uuid(),
            expires_at: at(60),
        },
    ];
    let subjects: Vec<Uuid> = entries.iter().map(revocation_subject).collect();
    let mut seqs = Vec::new();
    for r in &entries {
        seqs.push(ok(
            store.record_revocation(ENV, r).await,
            "record_revocation",
        ));
    }
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequences increase: {seqs:?}"
    );
    let all = ours(
        ok(
            store.revocations_since(ENV, 0, T0).await,
            "revocations_since",
        ),
        &subjects,
    );
    let expected: Vec<(u64, Revocation)> =
        seqs.iter().copied().zip(entries.iter().cloned()).collect();
    assert_eq!(
        all, expected,
        "every entry, in sequence order, exactly as recorded"
    );
    let after_second = ours(
        ok(
            store.revocations_since(ENV, seqs[1], T0).await,
            "revocations_since",
        ),
        &subjects,
    );
    assert_eq!(
        after_second,
        expected[2..].to_vec(),
        "only entries after the given sequence"
    );
    let later = ours(
        ok(
            store.revocations_since(ENV, 0, at(60)).await,
            "revocations_since",
        ),
        &subjects,
    );
    assert_eq!(
        later,
        expected[..5].to_vec(),
        "an entry at its expires_at has lapsed"
    );
    let sandbox = ours(
        ok(
            store.revocations_since(Environment::Sandbox, 0, T0).await,
            "revocations_since",
        ),
        &subjects,
    );
    assert_eq!(sandbox, Vec::new(), "the feed is isolated by environment");
}

/// A reader polling "after the last sequence I saw" while 8 writers append 200 revocations
/// misses none of them.
pub async fn revocation_feed_misses_nothing_under_contention<S: Store + Clone>(store: &S) {
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let subjects: Arc<Vec<Uuid>> = Arc::new((0..WRITERS * EACH).map(|_| fresh_uuid()).collect());
    let barrier = Arc::new(Barrier::new(WRITERS + 1));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (store, subjects, barrier) =
            (store.clone(), Arc::clone(&subjects), Arc::clone(&barrier));
        writers.push(tokio::spawn(async move {
            barrier.wait().await;
            for i in 0..EACH {
                let r = Revocation::Token {
                    jti: subjects[w * EACH + i],
                    expires_at: at(3600),
                };
                loop {
                    match store.record_revocation(ENV, &r).await {
                        Err(StoreError::Retryable { .. }) => continue,
                        result => {
                            ok(result, "record_revocation");
                            break;
                        }
                    }
                }
            }
        }));
    }
    barrier.wait().await;
    let mut cursor = 0u64;
    let mut seen: Vec<Uuid> = Vec::new();
    let poll = async |cursor: &mut u64, seen: &mut Vec<Uuid>| {
        let batch = ok(
            store.revocations_since(ENV, *cursor, T0).await,
            "revocations_since",
        );
        for (seq, r) in batch {
            assert!(seq > *cursor, "entries come after the cursor, in order");
            *cursor = seq;
            let subject = revocation_subject(&r);
            if subjects.contains(&subject) {
                seen.push(subject);
            }
        }
    };
    while !writers.iter().all(|w| w.is_finished()) {
        poll(&mut cursor, &mut seen).await;
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.expect("writer task");
    }
    poll(&mut cursor, &mut seen).await;
    seen.sort();
    let mut all = subjects.to_vec();
    all.sort();
    assert_eq!(
        seen.len(),
        all.len(),
        "a polling reader must not miss an entry"
    );
    assert_eq!(seen, all);
}

// ---------------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------------

/// A valid argon2id PHC string (of no password anyone uses).
const PASSWORD_HASH: &str =
    "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";

/// A fresh username, case-folded as idcore stores it: `prefix-` and 16 random hex digits.
///
/// # Panics
/// If `prefix` has capitals, spaces or `@`, or is longer than 47 characters.
pub fn fresh_username(prefix: &str) -> String {
    let name = unique(prefix);
    assert!(
        crate::model::username::Username::parse(&name).is_ok_and(|u| u.as_str() == name),
        "prefix is a short, lowercase username"
    );
    name
}

/// Valid credentials of `user_id` in `org` with every field set (a fresh username, a password
/// hash, an active TOTP secret and a pending one, recovery generation 3, two known devices and
/// one known IP), updated at `at`, version 1.
pub fn credential_record(org: &OrgDomain, user_id: UserId, at: OffsetDateTime) -> CredentialRecord {
    CredentialRecord {
        org: org.clone(),
        user_id,
        username: Some(fresh_username("name")),
        password_hash: Some(PASSWORD_HASH.to_owned()),
        status: AccountStatus::Active,
        role: AccountRole::OrganizationAdmin,
        totp: Some(SealedTotp {
            sealed_secret: random::<48>().to_vec(),
            at,
        }),
        pending_totp: Some(SealedTotp {
            sealed_secret: random::<48>().to_vec(),
            at: at + Duration::seconds(1),
        }),
        recovery_generation: 3,
        known_devices: vec![fresh_digest(), fresh_digest()],
        known_ips: vec![fresh_digest()],
        updated_at: at,
        version: 1,
    }
}

/// Credentials with nothing optional set: no username, no password, no TOTP, no recovery codes,
/// no known device or IP; unverified member, version 1.
fn bare_credentials(org: &OrgDomain, user_id: UserId, at: OffsetDateTime) -> CredentialRecord {
    CredentialRecord {
        org: org.clone(),
        user_id,
        username: None,
        password_hash: None,
        status: AccountStatus::Unverified,
        role: AccountRole::Member,
        totp: None,
        pending_totp: None,
        recovery_generation: 0,
        known_devices: Vec::new(),
        known_ips: Vec::new(),
        updated_at: at,
        version: 1,
    }
}

/// A new user of `org` (not stored) and its credentials.
fn account(env: Environment, org: &OrgDomain) -> (User, CredentialRecord) {
    let u = user(env, org, &fresh_email("account"), T0);
    let c = credential_record(org, u.id, T0);
    (u, c)
}

/// The event of an account write.
fn account_event(code: &str, u: &User) -> NewEvent {
    event(code, &u.org, T0).user(u.id, &u.profile.email)
}

/// Inserts a fresh account of `org` (setup) and answers it.
async fn fresh_account<S: Store>(
    store: &S,
    env: Environment,
    org: &OrgDomain,
) -> (User, CredentialRecord) {
    let (u, c) = account(env, org);
    ok(
        store
            .insert_account(env, &u, &c, &account_event("ACCOUNT_CREATED", &u))
            .await,
        "insert_account (setup)",
    );
    (u, c)
}

/// The stored credentials of `user_id`.
async fn creds_of<S: Store>(
    store: &S,
    env: Environment,
    org: &OrgDomain,
    user_id: UserId,
) -> Option<CredentialRecord> {
    ok(store.credentials(env, org, user_id).await, "credentials")
}

/// The stored credentials with `username`.
async fn creds_named<S: Store>(
    store: &S,
    env: Environment,
    org: &OrgDomain,
    username: &str,
) -> Option<CredentialRecord> {
    ok(
        store.credentials_by_username(env, org, username).await,
        "credentials_by_username",
    )
}

/// `c` as its next version: updated at `at`, version + 1.
fn next_version(c: &CredentialRecord, at: OffsetDateTime) -> CredentialRecord {
    CredentialRecord {
        updated_at: at,
        version: c.version + 1,
        ..c.clone()
    }
}

/// An account inserted with `insert_account` reads back field for field: the user through
/// `user` and `user_by_email`, the credentials through `credentials` and
/// `credentials_by_username`; credentials with nothing optional set round-trip too; unknown ids
/// and usernames answer `None`.
pub async fn account_round_trips<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "acct-rt").await;
    let (u, c) = fresh_account(store, ENV, &org).await;
    let name = c.username.clone().expect("the fixture sets a username");
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        Some(u.clone()),
        "insert_account must write the user as insert_user would"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &u.profile.email).await,
            "user_by_email"
        ),
        Some(u.clone()),
        "insert_account must index the user's e-mail"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(c.clone()),
        "credentials() must return the inserted record, every field intact"
    );
    assert_eq!(
        creds_named(store, ENV, &org, &name).await,
        Some(c.clone()),
        "credentials_by_username() must find the record by its username"
    );
    let bare_user = user(ENV, &org, &fresh_email("acct-rt"), at(1));
    let bare = bare_credentials(&org, bare_user.id, at(1));
    ok(
        store
            .insert_account(
                ENV,
                &bare_user,
                &bare,
                &account_event("ACCOUNT_CREATED", &bare_user),
            )
            .await,
        "insert_account with bare credentials",
    );
    assert_eq!(
        creds_of(store, ENV, &org, bare_user.id).await,
        Some(bare),
        "credentials with nothing optional set must read back as written"
    );
    assert_eq!(
        creds_of(store, ENV, &org, UserId::from_uuid(fresh_uuid())).await,
        None,
        "an unknown user id must answer None"
    );
    assert_eq!(
        creds_named(store, ENV, &org, &fresh_username("nobody")).await,
        None,
        "an unknown username must answer None"
    );
}

/// `insert_account` with an e-mail taken in the organization (in another letter case) answers
/// `AlreadyExists { key: "email" }` and writes nothing: no user, no credentials, no username.
pub async fn account_insert_refuses_a_taken_email_and_writes_nothing<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "acct-mail").await;
    let (first, first_creds) = fresh_account(store, ENV, &org).await;
    let twin = user(ENV, &org, &shouted(&first.profile.email), at(1));
    let twin_creds = credential_record(&org, twin.id, at(1));
    assert_eq!(
        Outcome::of(
            &store
                .insert_account(
                    ENV,
                    &twin,
                    &twin_creds,
                    &account_event("ACCOUNT_CREATED", &twin)
                )
                .await
        ),
        Outcome::AlreadyExists("email"),
        "insert_account with a taken e-mail in another letter case"
    );
    assert_eq!(
        ok(store.user(ENV, &org, twin.id).await, "user"),
        None,
        "a refused account must not write its user"
    );
    assert_eq!(
        creds_of(store, ENV, &org, twin.id).await,
        None,
        "a refused account must not write its credentials"
    );
    let twin_name = twin_creds.username.as_deref().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, twin_name).await,
        None,
        "a refused account must not reserve its username"
    );
    assert_eq!(
        creds_of(store, ENV, &org, first.id).await,
        Some(first_creds),
        "a refused account must leave the first one as it was"
    );
}

/// `insert_account` with a username taken in the organization answers
/// `AlreadyExists { key: "username" }` and writes nothing: no user (its e-mail stays free), no
/// credentials.
pub async fn account_insert_refuses_a_taken_username_and_writes_nothing<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "acct-name").await;
    let (first, first_creds) = fresh_account(store, ENV, &org).await;
    let (second, mut second_creds) = account(ENV, &org);
    second_creds.username = first_creds.username.clone();
    assert_eq!(
        Outcome::of(
            &store
                .insert_account(
                    ENV,
                    &second,
                    &second_creds,
                    &account_event("ACCOUNT_CREATED", &second)
                )
                .await
        ),
        Outcome::AlreadyExists("username"),
        "insert_account with a taken username"
    );
    assert_eq!(
        ok(store.user(ENV, &org, second.id).await, "user"),
        None,
        "a refused account must not write its user"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &second.profile.email).await,
            "user_by_email"
        ),
        None,
        "a refused account must not reserve its e-mail"
    );
    assert_eq!(
        creds_of(store, ENV, &org, second.id).await,
        None,
        "a refused account must not write its credentials"
    );
    let name = first_creds.username.clone().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, &name).await,
        Some(first_creds),
        "a refused account must leave the username to its owner"
    );
    assert_eq!(
        ok(store.user(ENV, &org, first.id).await, "user"),
        Some(first),
        "a refused account must leave the first user as it was"
    );
}

/// `insert_account` with a taken user id answers `AlreadyExists { key: "id" }` and writes
/// nothing: its e-mail and username stay free, the first user and credentials unchanged.
pub async fn account_insert_refuses_a_taken_id_and_writes_nothing<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "acct-id").await;
    let (first, first_creds) = fresh_account(store, ENV, &org).await;
    let (other, _) = account(ENV, &org);
    let same_id = User {
        id: first.id,
        ..other
    };
    let same_id_creds = credential_record(&org, first.id, at(1));
    assert_eq!(
        Outcome::of(
            &store
                .insert_account(
                    ENV,
                    &same_id,
                    &same_id_creds,
                    &account_event("ACCOUNT_CREATED", &same_id)
                )
                .await
        ),
        Outcome::AlreadyExists("id"),
        "insert_account with a taken user id"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &same_id.profile.email).await,
            "user_by_email"
        ),
        None,
        "a refused account must not reserve its e-mail"
    );
    let name = same_id_creds.username.as_deref().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, name).await,
        None,
        "a refused account must not reserve its username"
    );
    assert_eq!(
        ok(store.user(ENV, &org, first.id).await, "user"),
        Some(first.clone()),
        "a refused account must leave the first user as it was"
    );
    assert_eq!(
        creds_of(store, ENV, &org, first.id).await,
        Some(first_creds),
        "a refused account must leave the first credentials as they were"
    );
}

/// A username is unique per organization only: another organization may use the same one, and
/// each organization's lookup finds its own account.
pub async fn username_is_unique_per_organization<S: Store>(store: &S) {
    let a = fresh_org(store, ENV, "acct-uname").await;
    let b = fresh_org(store, ENV, "acct-uname").await;
    let (_, in_a) = fresh_account(store, ENV, &a).await;
    let name = in_a.username.clone().expect("a username");
    let (u, mut in_b) = account(ENV, &b);
    in_b.username = Some(name.clone());
    ok(
        store
            .insert_account(ENV, &u, &in_b, &account_event("ACCOUNT_CREATED", &u))
            .await,
        "insert_account: a username of another organization must be free",
    );
    assert_eq!(
        creds_named(store, ENV, &a, &name).await,
        Some(in_a),
        "each organization finds its own account by the shared username"
    );
    assert_eq!(
        creds_named(store, ENV, &b, &name).await,
        Some(in_b),
        "each organization finds its own account by the shared username"
    );
}

/// `insert_credentials` adds credentials to a user created through the directory, once: they
/// read back as written; a second insert answers `AlreadyExists { key: "user" }` and changes
/// nothing.
pub async fn credentials_attach_to_an_existing_user_once<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "cred-attach").await;
    let u = fresh_user(store, ENV, &org).await;
    let c = credential_record(&org, u.id, at(1));
    ok(
        store
            .insert_credentials(ENV, &c, &account_event("CREDENTIALS_ADDED", &u))
            .await,
        "insert_credentials for a directory user",
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(c.clone()),
        "credentials added to a directory user must read back as written"
    );
    let again = credential_record(&org, u.id, at(2));
    assert_eq!(
        Outcome::of(
            &store
                .insert_credentials(ENV, &again, &account_event("CREDENTIALS_ADDED", &u))
                .await
        ),
        Outcome::AlreadyExists("user"),
        "insert_credentials for a user that has credentials"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(c),
        "a refused insert must leave the credentials as they were"
    );
    let again_name = again.username.as_deref().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, again_name).await,
        None,
        "a refused insert must not reserve its username"
    );
}

/// `insert_credentials` for a user that does not exist — an unknown id, or another
/// organization's user — answers `NotFound` and writes nothing.
pub async fn credentials_attach_only_to_an_existing_user<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "cred-ghost").await;
    let other = fresh_org(store, ENV, "cred-ghost").await;
    let ghost = credential_record(&org, UserId::from_uuid(fresh_uuid()), T0);
    assert_eq!(
        Outcome::of(
            &store
                .insert_credentials(ENV, &ghost, &event("CREDENTIALS_ADDED", &org, T0))
                .await
        ),
        Outcome::NotFound,
        "insert_credentials for an unknown user"
    );
    let foreign = fresh_user(store, ENV, &other).await;
    let misplaced = credential_record(&org, foreign.id, T0);
    assert_eq!(
        Outcome::of(
            &store
                .insert_credentials(ENV, &misplaced, &event("CREDENTIALS_ADDED", &org, T0))
                .await
        ),
        Outcome::NotFound,
        "insert_credentials naming another organization's user"
    );
    assert_eq!(
        creds_of(store, ENV, &org, ghost.user_id).await,
        None,
        "a refused insert must write nothing"
    );
    assert_eq!(
        creds_of(store, ENV, &org, foreign.id).await,
        None,
        "a refused insert must write nothing"
    );
    assert_eq!(
        creds_of(store, ENV, &other, foreign.id).await,
        None,
        "a refused insert must write nothing for the other organization's user either"
    );
    for name in [&ghost.username, &misplaced.username] {
        let name = name.as_deref().expect("a username");
        assert_eq!(
            creds_named(store, ENV, &org, name).await,
            None,
            "a refused insert must not reserve its username"
        );
    }
}

/// `insert_credentials` with a username another user of the organization has answers
/// `AlreadyExists { key: "username" }` and writes nothing.
pub async fn credentials_attach_only_with_a_free_username<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "cred-uname").await;
    let (_, owner) = fresh_account(store, ENV, &org).await;
    let u = fresh_user(store, ENV, &org).await;
    let c = CredentialRecord {
        username: owner.username.clone(),
        ..credential_record(&org, u.id, at(1))
    };
    assert_eq!(
        Outcome::of(
            &store
                .insert_credentials(ENV, &c, &account_event("CREDENTIALS_ADDED", &u))
                .await
        ),
        Outcome::AlreadyExists("username"),
        "insert_credentials with a taken username"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        None,
        "a refused insert must write nothing"
    );
    let name = owner.username.clone().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, &name).await,
        Some(owner),
        "a refused insert must leave the username to its owner"
    );
}

/// No call reaches the credentials of another organization's user, even with the right id or
/// username: lookups answer `None`, an update and an erasure answer `NotFound` and change
/// nothing.
pub async fn credentials_are_scoped_by_organization<S: Store>(store: &S) {
    let a = fresh_org(store, ENV, "cred-scope").await;
    let b = fresh_org(store, ENV, "cred-scope").await;
    let (u, c) = fresh_account(store, ENV, &a).await;
    let name = c.username.clone().expect("a username");
    assert_eq!(
        creds_of(store, ENV, &b, u.id).await,
        None,
        "credentials() with another organization's user id"
    );
    assert_eq!(
        creds_named(store, ENV, &b, &name).await,
        None,
        "credentials_by_username() with another organization's username"
    );
    let moved = CredentialRecord {
        org: b.clone(),
        ..next_version(&c, at(1))
    };
    assert_eq!(
        Outcome::of(&store.update_credentials(ENV, &moved, 1, None).await),
        Outcome::NotFound,
        "update_credentials naming another organization"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_account(ENV, &b, u.id, &event("ACCOUNT_DELETED", &b, T0))
                .await
        ),
        Outcome::NotFound,
        "delete_account naming another organization"
    );
    assert_eq!(
        ok(store.user(ENV, &a, u.id).await, "user"),
        Some(u.clone()),
        "calls naming another organization must leave the user untouched"
    );
    assert_eq!(
        creds_of(store, ENV, &a, u.id).await,
        Some(c),
        "calls naming another organization must leave the credentials untouched"
    );
}

/// `update_credentials` writes only when the stored version is `expected_version`: a stale
/// version answers `Precondition` and changes nothing, the right one stores the record as
/// given; credentials that do not exist answer `NotFound`.
pub async fn credentials_update_is_conditional_on_version<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "cred-upd").await;
    let (u, c) = fresh_account(store, ENV, &org).await;
    let next = CredentialRecord {
        password_hash: None,
        status: AccountStatus::Unverified,
        role: AccountRole::Member,
        totp: None,
        pending_totp: Some(SealedTotp {
            sealed_secret: random::<48>().to_vec(),
            at: at(1),
        }),
        recovery_generation: 4,
        known_devices: vec![fresh_digest()],
        known_ips: vec![fresh_digest(), fresh_digest()],
        ..next_version(&c, at(1))
    };
    assert_eq!(
        Outcome::of(&store.update_credentials(ENV, &next, 7, None).await),
        Outcome::Precondition,
        "update_credentials with a version that is not the stored one"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(c.clone()),
        "a refused update must change nothing"
    );
    ok(
        store.update_credentials(ENV, &next, 1, None).await,
        "update_credentials with the stored version",
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(next.clone()),
        "an update must store the record as given, every field"
    );
    let late = next_version(&c, at(2));
    assert_eq!(
        Outcome::of(&store.update_credentials(ENV, &late, 1, None).await),
        Outcome::Precondition,
        "a second update from the same version"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(next),
        "a refused update must change nothing"
    );
    let directory_only = fresh_user(store, ENV, &org).await;
    let missing = credential_record(&org, directory_only.id, at(3));
    assert_eq!(
        Outcome::of(&store.update_credentials(ENV, &missing, 1, None).await),
        Outcome::NotFound,
        "update_credentials of a user without credentials"
    );
    let unknown = credential_record(&org, UserId::from_uuid(fresh_uuid()), at(3));
    assert_eq!(
        Outcome::of(&store.update_credentials(ENV, &unknown, 1, None).await),
        Outcome::NotFound,
        "update_credentials of an unknown user"
    );
}

/// A username change releases the old username in the same step (another account may take
/// it), a new username taken by another account answers `AlreadyExists { key: "username" }`
/// and changes nothing, and dropping the username releases it.
pub async fn credentials_update_moves_the_username<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "cred-move").await;
    let (u, c) = fresh_account(store, ENV, &org).await;
    let (_, other) = fresh_account(store, ENV, &org).await;
    let old = c.username.clone().expect("a username");
    let new = fresh_username("moved");
    let moved = CredentialRecord {
        username: Some(new.clone()),
        ..next_version(&c, at(1))
    };
    ok(
        store.update_credentials(ENV, &moved, 1, None).await,
        "update_credentials to a free username",
    );
    assert_eq!(
        creds_named(store, ENV, &org, &old).await,
        None,
        "the old username must be released"
    );
    assert_eq!(
        creds_named(store, ENV, &org, &new).await,
        Some(moved.clone()),
        "the new username must find the account"
    );
    let (newcomer, mut newcomer_creds) = account(ENV, &org);
    newcomer_creds.username = Some(old.clone());
    ok(
        store
            .insert_account(
                ENV,
                &newcomer,
                &newcomer_creds,
                &account_event("ACCOUNT_CREATED", &newcomer),
            )
            .await,
        "insert_account with a released username",
    );
    let grab = CredentialRecord {
        username: other.username.clone(),
        ..next_version(&moved, at(2))
    };
    assert_eq!(
        Outcome::of(&store.update_credentials(ENV, &grab, 2, None).await),
        Outcome::AlreadyExists("username"),
        "update_credentials to another account's username"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(moved.clone()),
        "a refused username change must write nothing"
    );
    let other_name = other.username.clone().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, &other_name).await,
        Some(other),
        "a refused username change must not take the username from its owner"
    );
    let nameless = CredentialRecord {
        username: None,
        ..next_version(&moved, at(3))
    };
    ok(
        store.update_credentials(ENV, &nameless, 2, None).await,
        "update_credentials dropping the username",
    );
    assert_eq!(
        creds_named(store, ENV, &org, &new).await,
        None,
        "a dropped username must be released"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(nameless),
        "credentials without a username read back by id"
    );
}

/// `delete_account` erases the user and its credentials: `user`, `user_by_email`,
/// `credentials` and `credentials_by_username` answer `None`, the user is no longer listed, its
/// e-mail and username are free for a new account; a second erasure, or erasing an unknown
/// user, answers `NotFound`.
pub async fn account_delete_erases_the_user_and_frees_its_keys<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "acct-del").await;
    let (u, c) = fresh_account(store, ENV, &org).await;
    let (kept, _) = fresh_account(store, ENV, &org).await;
    let name = c.username.clone().expect("a username");
    ok(
        store
            .delete_account(ENV, &org, u.id, &account_event("ACCOUNT_DELETED", &u))
            .await,
        "delete_account",
    );
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        None,
        "an erased user must be gone"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &u.profile.email).await,
            "user_by_email"
        ),
        None,
        "an erased user must not be found by e-mail"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        None,
        "an erased user's credentials must be gone"
    );
    assert_eq!(
        creds_named(store, ENV, &org, &name).await,
        None,
        "an erased user's username must be gone"
    );
    assert_eq!(
        ok(store.list_users(ENV, &org, page(1, 10)).await, "list_users"),
        (vec![kept], 1),
        "an erased user must not be listed nor counted"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_account(ENV, &org, u.id, &account_event("ACCOUNT_DELETED", &u))
                .await
        ),
        Outcome::NotFound,
        "erasing an erased account"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_account(
                    ENV,
                    &org,
                    UserId::from_uuid(fresh_uuid()),
                    &event("ACCOUNT_DELETED", &org, T0)
                )
                .await
        ),
        Outcome::NotFound,
        "erasing an unknown account"
    );
    let again = user(ENV, &org, &shouted(&u.profile.email), at(1));
    let again_creds = CredentialRecord {
        username: Some(name.clone()),
        ..credential_record(&org, again.id, at(1))
    };
    ok(
        store
            .insert_account(
                ENV,
                &again,
                &again_creds,
                &account_event("ACCOUNT_CREATED", &again),
            )
            .await,
        "insert_account with an erased account's e-mail and username",
    );
    assert_eq!(
        creds_named(store, ENV, &org, &name).await,
        Some(again_creds),
        "the username must now find the new account"
    );
}

/// `delete_account` also erases a user created through the directory, without credentials.
pub async fn account_delete_erases_a_user_without_credentials<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "acct-del-dir").await;
    let u = fresh_user(store, ENV, &org).await;
    ok(
        store
            .delete_account(ENV, &org, u.id, &account_event("ACCOUNT_DELETED", &u))
            .await,
        "delete_account of a directory user",
    );
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        None,
        "an erased user must be gone"
    );
    let again = user(ENV, &org, &u.profile.email, at(1));
    ok(
        store
            .insert_user(ENV, &again, &event("USER_CREATED", &org, at(1)))
            .await,
        "insert_user with an erased user's e-mail",
    );
}

/// Account inserts, credential inserts and updates, and erasures write their event in the same
/// atomic step: each success writes exactly its event (an update only when given one), each
/// refusal writes none.
pub async fn credential_writes_record_their_event_atomically<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "audit-cred").await;
    let (u, c) = account(ENV, &org);
    let ev = |code: &str| account_event(code, &u);
    ok(
        store
            .insert_account(ENV, &u, &c, &ev("CONFORMANCE_ACCOUNT_INSERTED"))
            .await,
        "insert_account",
    );
    let (twin, _) = account(ENV, &org);
    let twin = User {
        profile: Profile {
            email: u.profile.email.clone(),
            ..twin.profile
        },
        ..twin
    };
    let twin_creds = credential_record(&org, twin.id, T0);
    assert_eq!(
        Outcome::of(
            &store
                .insert_account(ENV, &twin, &twin_creds, &ev("CONFORMANCE_ACCOUNT_REFUSED"))
                .await
        ),
        Outcome::AlreadyExists("email"),
        "the refused account"
    );
    let dir = fresh_user(store, ENV, &org).await;
    let dir_creds = credential_record(&org, dir.id, T0);
    ok(
        store
            .insert_credentials(ENV, &dir_creds, &ev("CONFORMANCE_CREDENTIALS_INSERTED"))
            .await,
        "insert_credentials",
    );
    assert_eq!(
        Outcome::of(
            &store
                .insert_credentials(ENV, &dir_creds, &ev("CONFORMANCE_CREDENTIALS_REFUSED"))
                .await
        ),
        Outcome::AlreadyExists("user"),
        "the refused credentials"
    );
    let v2 = next_version(&c, at(1));
    ok(
        store
            .update_credentials(ENV, &v2, 1, Some(&ev("CONFORMANCE_UPDATED")))
            .await,
        "update_credentials with an event",
    );
    let v3 = next_version(&v2, at(2));
    ok(
        store.update_credentials(ENV, &v3, 2, None).await,
        "update_credentials without an event",
    );
    assert_eq!(
        Outcome::of(
            &store
                .update_credentials(ENV, &v3, 2, Some(&ev("CONFORMANCE_UPDATE_REFUSED")))
                .await
        ),
        Outcome::Precondition,
        "the refused update"
    );
    ok(
        store
            .delete_account(ENV, &org, u.id, &ev("CONFORMANCE_DELETED"))
            .await,
        "delete_account",
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_account(ENV, &org, u.id, &ev("CONFORMANCE_DELETE_REFUSED"))
                .await
        ),
        Outcome::NotFound,
        "the refused erasure"
    );
    let (events, _) = tenant_events(store, ENV, &org).await;
    assert_eq!(
        codes(&events),
        [
            "CONFORMANCE_DELETED",
            "CONFORMANCE_UPDATED",
            "CONFORMANCE_CREDENTIALS_INSERTED",
            "USER_CREATED",
            "CONFORMANCE_ACCOUNT_INSERTED",
            "ORGANIZATION_CREATED"
        ],
        "the events of credential writes: one per success with an event, none per refusal"
    );
    for e in [&events[0], &events[1], &events[2], &events[4]] {
        assert_eq!(
            *e,
            Event::from_new(e.id, ENV, &ev(e.event_code.as_str())),
            "a write's event must be stored as given"
        );
    }
}

/// Of 50 concurrent `insert_account`s with one username (and distinct e-mails) exactly one
/// succeeds; the others answer `AlreadyExists { key: "username" }` and write nothing — no user,
/// no event.
pub async fn username_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let org = fresh_org(store, ENV, "uname-race").await;
    let name = fresh_username("race");
    let accounts: Vec<(User, CredentialRecord)> = (0..50)
        .map(|_| {
            let (u, mut c) = account(ENV, &org);
            c.username = Some(name.clone());
            (u, c)
        })
        .collect();
    let results = race(accounts.len(), |i| {
        let store = store.clone();
        let (u, c) = accounts[i].clone();
        let ev = account_event("ACCOUNT_CREATED", &u);
        async move { Outcome::of(&retried(|| store.insert_account(ENV, &u, &c, &ev)).await) }
    })
    .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent accounts with one username that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::AlreadyExists("username")),
        49,
        "concurrent accounts refused with AlreadyExists {{ key: \"username\" }}"
    );
    let (winner, winner_creds) = &accounts[results
        .iter()
        .position(|r| *r == Outcome::Ok)
        .expect("one insert succeeded (asserted above)")];
    assert_eq!(
        creds_named(store, ENV, &org, &name).await.as_ref(),
        Some(winner_creds),
        "the username must belong to the winner"
    );
    assert_eq!(
        ok(
            store.list_users(ENV, &org, page(1, 100)).await,
            "list_users"
        ),
        (vec![winner.clone()], 1),
        "only the winner's user may be stored"
    );
    let query = EventQuery::tenant(&org).code(EventCode::parse("ACCOUNT_CREATED").expect("a code"));
    let (events, total) = ok(store.events(ENV, &query, page(1, 100)).await, "events");
    assert_eq!(
        total, 1,
        "events written by 50 racing accounts: only the winner's"
    );
    assert_eq!(
        events[0].resource_owner_id,
        Some(winner.id),
        "the one event must be the winner's"
    );
}

/// Of 50 concurrent `insert_account`s with one e-mail (in 50 letter cases, distinct usernames)
/// exactly one succeeds; the others answer `AlreadyExists { key: "email" }` and reserve no
/// username.
pub async fn account_email_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let org = fresh_org(store, ENV, "acct-race").await;
    let suffix = hex(&random::<8>());
    let accounts: Vec<(User, CredentialRecord)> = (0..50)
        .map(|i: u32| {
            let local: String = "abcdefgh"
                .chars()
                .enumerate()
                .map(|(bit, ch)| {
                    if i & (1 << bit) != 0 {
                        ch.to_ascii_uppercase()
                    } else {
                        ch
                    }
                })
                .collect();
            let email =
                Email::parse(&format!("{local}-{suffix}@example.com")).expect("a valid address");
            let u = user(ENV, &org, &email, T0);
            let c = credential_record(&org, u.id, T0);
            (u, c)
        })
        .collect();
    let results = race(accounts.len(), |i| {
        let store = store.clone();
        let (u, c) = accounts[i].clone();
        let ev = account_event("ACCOUNT_CREATED", &u);
        async move { Outcome::of(&retried(|| store.insert_account(ENV, &u, &c, &ev)).await) }
    })
    .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent accounts with one e-mail that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::AlreadyExists("email")),
        49,
        "concurrent accounts refused with AlreadyExists {{ key: \"email\" }}"
    );
    for ((u, c), result) in accounts.iter().zip(&results) {
        let name = c.username.as_deref().expect("a username");
        let expected = (*result == Outcome::Ok).then(|| c.clone());
        assert_eq!(
            creds_named(store, ENV, &org, name).await,
            expected,
            "only the winner's username may be reserved"
        );
        assert_eq!(
            creds_of(store, ENV, &org, u.id).await,
            expected,
            "only the winner's credentials may be stored"
        );
    }
}

/// Of 50 concurrent `update_credentials` from one version (each to its own username) exactly
/// one succeeds and the others answer `Precondition`; the stored record, its username and the
/// events are the winner's alone.
pub async fn credentials_update_has_exactly_one_winner_under_contention<S: Store + Clone>(
    store: &S,
) {
    let org = fresh_org(store, ENV, "cred-race").await;
    let (u, c) = fresh_account(store, ENV, &org).await;
    let updates: Vec<CredentialRecord> = (0..50)
        .map(|i| CredentialRecord {
            username: Some(fresh_username("upd")),
            recovery_generation: i,
            ..next_version(&c, at(1))
        })
        .collect();
    let results =
        race(updates.len(), |i| {
            let store = store.clone();
            let next = updates[i].clone();
            let ev = account_event("CREDENTIALS_UPDATED", &u);
            async move {
                Outcome::of(&retried(|| store.update_credentials(ENV, &next, 1, Some(&ev))).await)
            }
        })
        .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent updates from one version that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::Precondition),
        49,
        "concurrent updates refused with Precondition"
    );
    let winner = &updates[results
        .iter()
        .position(|r| *r == Outcome::Ok)
        .expect("one update succeeded (asserted above)")];
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await.as_ref(),
        Some(winner),
        "the stored credentials must be the winner's"
    );
    for update in &updates {
        let name = update.username.as_deref().expect("a username");
        let expected = (update == winner).then(|| winner.clone());
        assert_eq!(
            creds_named(store, ENV, &org, name).await,
            expected,
            "only the winner's username may be reserved"
        );
    }
    let query =
        EventQuery::tenant(&org).code(EventCode::parse("CREDENTIALS_UPDATED").expect("a code"));
    let (_, total) = ok(store.events(ENV, &query, page(1, 100)).await, "events");
    assert_eq!(
        total, 1,
        "events written by 50 racing updates: only the winner's"
    );
}

/// Of 20 concurrent `delete_account`s of one account exactly one succeeds and the others answer
/// `NotFound`; exactly one event is written.
pub async fn account_delete_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let org = fresh_org(store, ENV, "del-race").await;
    let (u, _) = fresh_account(store, ENV, &org).await;
    let results = race(20, |_| {
        let store = store.clone();
        let org = org.clone();
        let ev = account_event("ACCOUNT_DELETED", &u);
        let id = u.id;
        async move { Outcome::of(&retried(|| store.delete_account(ENV, &org, id, &ev)).await) }
    })
    .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent erasures of one account that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::NotFound),
        19,
        "concurrent erasures refused with NotFound"
    );
    let query = EventQuery::tenant(&org).code(EventCode::parse("ACCOUNT_DELETED").expect("a code"));
    let (_, total) = ok(store.events(ENV, &query, page(1, 100)).await, "events");
    assert_eq!(
        total, 1,
        "events written by 20 racing erasures: only the winner's"
    );
}

/// An account written in sandbox is invisible in production (lookups by id and username,
/// `insert_credentials`, update, erasure), its id, e-mail and username are free there, and
/// production writes — a username change, an erasure — leave the sandbox account untouched.
pub async fn credentials_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let domain = fresh_domain("env-cred");
    for env in [sandbox, production] {
        let org = organization(env, &domain, T0);
        ok(
            store
                .insert_organization(env, &org, &event("ORGANIZATION_CREATED", &domain, T0))
                .await,
            "insert_organization",
        );
    }
    let (u, c) = fresh_account(store, sandbox, &domain).await;
    let name = c.username.clone().expect("a username");
    assert_eq!(
        creds_of(store, production, &domain, u.id).await,
        None,
        "sandbox credentials looked up by id in production"
    );
    assert_eq!(
        creds_named(store, production, &domain, &name).await,
        None,
        "sandbox credentials looked up by username in production"
    );
    assert_eq!(
        Outcome::of(
            &store
                .update_credentials(production, &next_version(&c, at(1)), 1, None)
                .await
        ),
        Outcome::NotFound,
        "updating sandbox credentials in production"
    );
    assert_eq!(
        Outcome::of(
            &store
                .insert_credentials(production, &c, &event("CREDENTIALS_ADDED", &domain, T0))
                .await
        ),
        Outcome::NotFound,
        "adding credentials in production to a sandbox user"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_account(
                    production,
                    &domain,
                    u.id,
                    &event("ACCOUNT_DELETED", &domain, T0)
                )
                .await
        ),
        Outcome::NotFound,
        "erasing a sandbox account in production"
    );
    let twin = User {
        environment: production,
        ..u.clone()
    };
    ok(
        store
            .insert_account(
                production,
                &twin,
                &c,
                &account_event("ACCOUNT_CREATED", &twin),
            )
            .await,
        "insert_account: a sandbox account's id, e-mail and username must be free in production",
    );
    let renamed = CredentialRecord {
        username: Some(fresh_username("env-cred")),
        ..next_version(&c, at(1))
    };
    ok(
        store
            .update_credentials(production, &renamed, 1, None)
            .await,
        "update_credentials in production",
    );
    assert_eq!(
        creds_named(store, sandbox, &domain, &name).await,
        Some(c.clone()),
        "a production username change must not release the sandbox username"
    );
    ok(
        store
            .delete_account(
                production,
                &domain,
                u.id,
                &account_event("ACCOUNT_DELETED", &twin),
            )
            .await,
        "delete_account in production",
    );
    assert_eq!(
        ok(store.user(sandbox, &domain, u.id).await, "user"),
        Some(u),
        "a production erasure must leave the sandbox user untouched"
    );
    assert_eq!(
        creds_of(store, sandbox, &domain, c.user_id).await,
        Some(c),
        "a production erasure must leave the sandbox credentials untouched"
    );
}
