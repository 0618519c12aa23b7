//! Store traits for the tokens module: signing keys (encrypted at rest) and the revocation feed.

use std::future::Future;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{FamilyId, StoreError};
use crate::crypto::keys::Algorithm;
use crate::model::ids::{ClientId, Environment, OrgDomain, OrganizationId, UserId};

/// A signing key of one organization, as stored: the private key only sealed (AES-256-GCM under
/// the host's key-encryption key).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SigningKeyRecord {
    /// The key id: the RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// The organization whose tokens it signs.
    pub org: OrgDomain,
    /// Its one algorithm.
    pub algorithm: Algorithm,
    /// The sealed PKCS#8 private key.
    pub sealed_private_key: Vec<u8>,
    /// When it was created; the newest key that is not retiring signs.
    pub created_at: OffsetDateTime,
    /// When it stops verifying (`None`: it has not been rotated out).
    pub retires_at: Option<OffsetDateTime>,
}

/// Signing keys per organization.
///
/// # Contract
/// - `insert_signing_key`: a `kid` that exists in the environment answers
///   [`StoreError::AlreadyExists`]` { key: "kid" }`.
/// - `signing_keys` returns every key of the organization whose `retires_at` is unset or in the
///   future relative to `now`, newest first.
/// - `retire_signing_keys` sets `retires_at` on every key of the organization that has none,
///   except `keep`, and returns how many it changed — one atomic step.
pub trait SigningKeyStore: Send + Sync {
    /// Stores a new key.
    fn insert_signing_key(
        &self,
        env: Environment,
        key: &SigningKeyRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The organization's keys that still verify at `now`, newest first.
    fn signing_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<SigningKeyRecord>, StoreError>> + Send;

    /// Schedules the retirement of every key but `keep`.
    fn retire_signing_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        keep: &str,
        retires_at: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// What a revocation applies to. Every revocation lapses at `expires_at`, after which nothing it
/// covers can still be valid (the longest token lifetime has passed).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Revocation {
    /// One token, by its `jti`.
    Token {
        /// The token's `jti`.
        jti: Uuid,
        /// When the token would have expired anyway.
        expires_at: OffsetDateTime,
    },
    /// Every token of a grant (a refresh token family and the access tokens issued from it).
    Grant {
        /// The family.
        family: FamilyId,
        /// When the last token of the grant would have expired anyway.
        expires_at: OffsetDateTime,
    },
    /// Every token of a user issued before `not_before` (global sign-out, password change,
    /// deletion).
    User {
        /// The organization.
        org: OrgDomain,
        /// The user.
        user_id: UserId,
        /// Tokens issued before this instant are dead.
        not_before: OffsetDateTime,
        /// `not_before` plus the longest token lifetime.
        expires_at: OffsetDateTime,
    },
    /// Every token of an organization issued before `not_before` (its deletion).
    Organization {
        /// The organization.
        id: OrganizationId,
        /// Its domain: the tokens' `tnt`.
        org: OrgDomain,
        /// Tokens issued before this instant are dead.
        not_before: OffsetDateTime,
        /// `not_before` plus the longest token lifetime.
        expires_at: OffsetDateTime,
    },
    /// Every token of a client issued before `not_before`.
    Client {
        /// The client.
        client_id: ClientId,
        /// Tokens issued before this instant are dead.
        not_before: OffsetDateTime,
        /// `not_before` plus the longest token lifetime.
        expires_at: OffsetDateTime,
    },
}

impl Revocation {
    /// When this revocation lapses.
    pub fn expires_at(&self) -> OffsetDateTime {
        match self {
            Self::Token { expires_at, .. }
            | Self::Grant { expires_at, .. }
            | Self::User { expires_at, .. }
            | Self::Organization { expires_at, .. }
            | Self::Client { expires_at, .. } => *expires_at,
        }
    }
}

/// The revocation feed each instance's in-process revocation view follows.
///
/// # Contract
/// - `record_revocation` appends and returns the entry's sequence number, greater than every
///   sequence returned before. It returns only once the entry is durable.
/// - `revocations_since(after, now)` returns, in sequence order, every entry with a sequence
///   greater than `after` whose `expires_at` is after `now`. An entry must never become visible
///   after an entry with a greater sequence was visible (readers poll with the last sequence
///   they saw and must not miss one): serialize appends, or otherwise guarantee it.
/// - Entries may be forgotten after their `expires_at`.
pub trait RevocationStore: Send + Sync {
    /// Appends a revocation.
    fn record_revocation(
        &self,
        env: Environment,
        revocation: &Revocation,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The live revocations appended after sequence `after`.
    fn revocations_since(
        &self,
        env: Environment,
        after: u64,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<(u64, Revocation)>, StoreError>> + Send;

    /// A number that changes whenever an append to the feed may have committed, for a store
    /// that hears of appends as they commit (PostgreSQL's LISTEN/NOTIFY, see
    /// `PostgresStore::listen_for_revocations`); `None` when it does not (the default), or
    /// while it cannot (its listening connection is down). Live verification reads it on
    /// every call and catches up with the feed at once when it changed, instead of waiting
    /// for the poll interval; the poll and the fail-closed bound stay as they are. Must be
    /// cheap (an atomic load) and never block.
    fn revocation_notices(&self) -> Option<u64> {
        None
    }
}
