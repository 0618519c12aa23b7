//! Store trait for sign-in (part of [`Store`](super::Store)): each user's credentials (password hash, TOTP, recovery-code
//! generation, known devices), the username index, and account creation and erasure that keep
//! the user record and its credentials together.
//!
//! Everything else sign-in stores goes through the primitives of [`Store`](super::Store): e-mail
//! codes, pending sign-ins and recovery codes are [`OneTimeStore`](super::OneTimeStore) entries
//! (take-once), failed attempts are [`CounterStore`](super::CounterStore) counters, TOTP steps
//! are [`ReplayStore::advance`](super::ReplayStore::advance) values.

use std::future::Future;

use time::OffsetDateTime;

use super::StoreError;
use crate::model::event::NewEvent;
use crate::model::ids::{Environment, OrgDomain, UserId};
use crate::model::user::User;
use crate::secret::Digest;

/// Where an account stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AccountStatus {
    /// Signed up; the e-mail address is not verified yet. Sign-in is refused.
    Unverified,
    /// The e-mail address is verified; the account can sign in.
    Active,
}

/// What an account may do to itself.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AccountRole {
    /// An ordinary account.
    Member,
    /// The organization's admin account: it cannot be unregistered (seed 004, 403).
    OrganizationAdmin,
}

/// A TOTP secret as stored: sealed (AES-256-GCM under a key derived from the host's
/// key-encryption key, bound to the environment, organization and user).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SealedTotp {
    /// Nonce ‖ ciphertext ‖ tag.
    pub sealed_secret: Vec<u8>,
    /// When the enrolment started (pending) or was confirmed (active).
    pub at: OffsetDateTime,
}

/// One user's credentials. Secrets appear only hashed (the password as a PHC string) or sealed
/// (the TOTP secret); recovery codes are not here at all (see [`Self::recovery_generation`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CredentialRecord {
    /// The organization of the user.
    pub org: OrgDomain,
    /// The user.
    pub user_id: UserId,
    /// The username, in its case-folded form; unique per organization. `None`: e-mail only.
    pub username: Option<String>,
    /// The password hash as a PHC string (`$argon2id$…`, or an imported `$pbkdf2-sha256$…`).
    /// `None`: no password set.
    pub password_hash: Option<String>,
    /// Verified or not.
    pub status: AccountStatus,
    /// Member or organization admin.
    pub role: AccountRole,
    /// The confirmed TOTP secret, if the user enrolled an authenticator.
    pub totp: Option<SealedTotp>,
    /// A TOTP secret whose enrolment is not confirmed yet.
    pub pending_totp: Option<SealedTotp>,
    /// The generation of the current recovery codes (0: none issued). Recovery codes live in the
    /// one-time store under keys that include the generation; issuing new codes bumps it, which
    /// makes every older code unreachable.
    pub recovery_generation: u32,
    /// Keyed digests of the devices (CDDC fingerprint hashes) this user signed in from, oldest
    /// first, bounded.
    pub known_devices: Vec<Digest>,
    /// Keyed digests of the client IP addresses (IPv6: their /64) this user signed in from,
    /// oldest first, bounded.
    pub known_ips: Vec<Digest>,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version, +1 per update.
    pub version: u64,
}

/// Credentials, stored beside the users of [`UserStore`](super::UserStore).
///
/// # Contract
/// - `insert_account` writes the user (as [`UserStore::insert_user`](super::UserStore::insert_user)
///   would), its credentials and the event in one atomic step, or nothing: a taken e-mail answers
///   [`StoreError::AlreadyExists`]` { key: "email" }`, a taken username (per organization and
///   environment, compared exactly — idcore stores it case-folded) `key: "username"`, a taken id
///   `key: "id"`.
/// - `insert_credentials` adds credentials to an existing user (one created through the
///   directory): no such user → [`StoreError::NotFound`]; credentials already there →
///   `AlreadyExists { key: "user" }`; a taken username → `AlreadyExists { key: "username" }`.
/// - `credentials` and `credentials_by_username` are scoped by organization: another
///   organization's user is never returned.
/// - `update_credentials` writes only if the stored version equals `expected_version`
///   ([`StoreError::Precondition`] otherwise, `NotFound` if missing); a changed username must be
///   free (`AlreadyExists { key: "username" }`) and the old one is released in the same step. The
///   event, when given, is written in the same atomic step.
/// - `delete_account` removes the user record, its credentials and its username in one atomic
///   step with the event: afterwards [`UserStore::user`](super::UserStore::user) answers `None`,
///   the e-mail and username are free. Missing user → `NotFound`.
/// - Everything survives a restart of a durable store.
pub trait CredentialStore: Send + Sync {
    /// Creates a user and its credentials together.
    fn insert_account(
        &self,
        env: Environment,
        user: &User,
        credentials: &CredentialRecord,
        event: &NewEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Adds credentials to an existing user.
    fn insert_credentials(
        &self,
        env: Environment,
        credentials: &CredentialRecord,
        event: &NewEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The credentials of a user of this organization.
    fn credentials(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
    ) -> impl Future<Output = Result<Option<CredentialRecord>, StoreError>> + Send;

    /// The credentials with this (case-folded) username in this organization.
    fn credentials_by_username(
        &self,
        env: Environment,
        org: &OrgDomain,
        username: &str,
    ) -> impl Future<Output = Result<Option<CredentialRecord>, StoreError>> + Send;

    /// Replaces credentials if their version is still `expected_version`.
    fn update_credentials(
        &self,
        env: Environment,
        credentials: &CredentialRecord,
        expected_version: u64,
        event: Option<&NewEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Erases a user and its credentials.
    fn delete_account(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        event: &NewEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
