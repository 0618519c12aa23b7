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
//! [`one_time_entry`], [`credential_record`], [`api_key_record`], [`claim_schema_record`] and
//! [`event`] build valid records with every
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
use crate::crypto::keys::Algorithm;
use crate::model::application::{Application, ApplicationScope, ApplicationType, TokenValidity};
use crate::model::claims::{Label, MetaValue, Rbac};
use crate::model::event::{Event, EventCode, EventQuery, NewEvent};
use crate::model::fields::{
    Birthdate, CountryCode, Email, Gender, HexColor, HttpUrl, Locale, Name, Origin, PhoneNumber,
    RedirectUri, Text, ZoneInfo,
};
use crate::model::ids::{ClientId, Environment, MetaKeyId, OrgDomain, OrganizationId, UserId};
use crate::model::organization::Organization;
use crate::model::user::{Address, MetadataEntry, Profile, User};
use crate::page::{Cursor, ListKind, PageRequest};
use crate::secret::{Digest, hex, random_array};

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

mod api_keys;
mod applications;
mod audit;
mod claims;
mod counters;
mod credentials;
mod credentials_updates;
mod cursors;
mod environments;
mod fixtures;
mod keys_and_revocations;
mod organizations;
mod refresh_tokens;
mod replay;
mod restart;
mod sessions;
mod sets;
mod sso;
mod take_once;
mod users;

pub use api_keys::*;
pub use applications::*;
pub use audit::*;
pub use claims::*;
pub use counters::*;
pub use credentials::*;
pub use credentials_updates::*;
pub use cursors::*;
pub use environments::*;
pub use fixtures::*;
pub use keys_and_revocations::*;
pub use organizations::*;
pub use refresh_tokens::*;
pub use replay::*;
pub use restart::*;
pub use sessions::*;
pub use sets::*;
pub use sso::*;
pub use take_once::*;
pub use users::*;

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
                credentials_are_isolated_by_environment,
                set_join_refuses_past_the_limit,
                set_join_evicts_the_oldest,
                set_rejoin_refreshes_without_counting,
                set_members_expire_at_expires_at,
                set_leave_and_clear,
                set_join_has_exactly_limit_winners_under_contention,
                set_evicting_joins_keep_the_limit_under_contention,
                sets_are_isolated_by_environment,
                session_round_trips,
                live_session_answers_the_session_with_its_live_user,
                session_reuse_returns_the_live_session_only,
                session_id_and_token_are_unique,
                session_touch_slides_idle_expiry_within_the_absolute_one,
                an_ended_session_stays_ended,
                ending_a_users_sessions_spares_except_and_others,
                concurrent_opens_with_one_reuse_key_make_one_session,
                validation_racing_invalidation_never_revives_a_session,
                sessions_are_isolated_by_environment,
                api_key_round_trips,
                api_key_id_is_unique_and_a_refused_insert_writes_nothing,
                api_keys_list_newest_first_and_cursor_walk_matches_page_walk,
                api_key_revocation_happens_once_in_its_organization,
                api_key_rotation_is_conditional_on_the_generation,
                api_key_touch_writes_at_most_once_per_interval,
                api_key_rotation_has_exactly_one_winner_under_contention,
                api_key_revocation_has_exactly_one_winner_under_contention,
                api_keys_are_isolated_by_environment,
                claim_schema_is_empty_at_version_0_until_written,
                claim_schema_round_trips_with_its_version,
                claim_schema_write_is_conditional_on_version,
                claim_schema_writes_record_their_event_atomically,
                claim_schema_write_has_exactly_one_winner_under_contention,
                claim_schemas_are_scoped_by_organization,
                claim_schemas_are_isolated_by_environment,
                live_user_claims_answers_the_live_user_with_its_schema,
                user_metadata_and_rbac_round_trip_through_updates,
                user_metadata_update_has_exactly_one_winner_under_contention,
                sso_connection_round_trips,
                sso_connection_identifiers_are_unique,
                sso_connections_list_newest_first_and_cursor_walk_matches_page_walk,
                sso_connection_update_is_conditional_and_keeps_the_identifiers,
                sso_connection_update_has_exactly_one_winner_under_contention,
                sso_connections_are_isolated_by_environment;
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
