//! SSO connections as stored (part of [`Store`](super::Store)): one versioned record per
//! connection, its admin onboarding and default redirection inside it.
//!
//! What is not here: the admin's magic link is a one-time entry
//! ([`OneTimeStore`](super::OneTimeStore), keyed by its digest, taken once), and a connection's
//! seats are a counted set ([`LimitedSetStore`](super::LimitedSetStore)).

use std::future::Future;

use super::StoreError;
use crate::model::event::NewEvent;
use crate::model::ids::{Environment, OrgDomain};
use crate::model::sso::{IdpId, SsoConnection};
use crate::page::PageRequest;

/// SSO connections.
///
/// # Contract
/// - `insert_sso_connection` writes the connection (at version 1) and its audit event in one
///   atomic step, or nothing. The `idp_id` is unique per environment: a taken one answers
///   [`StoreError::AlreadyExists`]` { key: "idp_id" }`; so is `sp_id` (`{ key: "sp_id" }`).
/// - `sso_connection` finds a connection by its `idp_id` alone, whatever its organization (a
///   federated sign-in learns the organization from the connection); idcore checks the
///   organization where the caller names one.
/// - `list_sso_connections` lists one organization's connections, newest first
///   (`inserted_at` descending, ties by `key` descending), with the organization's total.
///   Pages work as for [`UserStore::list_users`](super::UserStore::list_users) (by number, or
///   by keyset after the cursor's `(inserted_at, key)`, from
///   [`newest_after`](super::newest_after)).
/// - `update_sso_connection` replaces the stored connection with `connection` (whose
///   `version` the caller set to `expected_version + 1`) only if one with its `idp_id` exists
///   in its organization ([`StoreError::NotFound`] otherwise, another organization's included)
///   and its version is still `expected_version` ([`StoreError::Precondition`] otherwise), with
///   its event, atomically. `idp_id`, `key`, `sp_id`, `org` and `inserted_at` never change:
///   the stored ones are kept whatever `connection` says. Of N concurrent updates of one
///   version exactly one wins.
/// - Connections of the two environments are apart; everything survives a restart of a
///   durable store.
pub trait SsoStore: Send + Sync {
    /// Stores a new connection and its audit event.
    fn insert_sso_connection(
        &self,
        env: Environment,
        connection: &SsoConnection,
        event: &NewEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The connection with this `idp_id`, in any organization.
    fn sso_connection(
        &self,
        env: Environment,
        idp_id: &IdpId,
    ) -> impl Future<Output = Result<Option<SsoConnection>, StoreError>> + Send;

    /// One page of an organization's connections, newest first, and their total.
    fn list_sso_connections(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> impl Future<Output = Result<(Vec<SsoConnection>, u64), StoreError>> + Send;

    /// Replaces a connection if its version is still `expected_version`, with its event.
    fn update_sso_connection(
        &self,
        env: Environment,
        connection: &SsoConnection,
        expected_version: u64,
        event: &NewEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
