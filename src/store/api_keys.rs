//! API keys as stored (part of [`Store`](super::Store)): the public metadata, and the secret
//! sealed — never in the clear.
//!
//! The secret of a key is sealed by idcore (AES-256-GCM under a subkey of the host's
//! key-encryption key, bound to the environment, organization and key id) before it reaches the
//! store; a store only moves opaque bytes. During a rotation's overlap, the secret the key had
//! before is kept (sealed too) with the instant it stops verifying.

use std::future::Future;

use time::OffsetDateTime;

use super::StoreError;
use crate::model::api_key::{ApiKey, ApiKeyId, ApiKeyRole};
use crate::model::event::NewEvent;
use crate::model::fields::{Name, Text};
use crate::model::ids::{Environment, OrgDomain};
use crate::page::PageRequest;

/// One API key, as stored. `Debug` shows the sealed bytes' length only.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The public key id; unique per environment.
    pub id: ApiKeyId,
    /// The organization the key belongs to.
    pub org: OrgDomain,
    /// What it may do.
    pub role: ApiKeyRole,
    /// A name for people.
    pub name: Name,
    /// A description for people.
    pub description: Option<Text>,
    /// The current secret, sealed: nonce ‖ ciphertext ‖ tag.
    pub sealed_secret: Vec<u8>,
    /// The secret before the last rotation, sealed, while its overlap lasts (`None` once a
    /// rotation ended it, or before any rotation).
    pub previous_sealed_secret: Option<Vec<u8>>,
    /// Until when (exclusive) the previous secret verifies.
    pub previous_expires_at: Option<OffsetDateTime>,
    /// 1 at creation, +1 per rotation.
    pub generation: u32,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it stops verifying by itself.
    pub expires_at: Option<OffsetDateTime>,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// When it last verified a request (written at most once a minute).
    pub last_used_at: Option<OffsetDateTime>,
    /// When its secret was last rotated.
    pub rotated_at: Option<OffsetDateTime>,
}

impl ApiKeyRecord {
    /// What the owner sees: everything but the secrets.
    pub fn view(&self) -> ApiKey {
        ApiKey {
            id: self.id,
            org: self.org.clone(),
            role: self.role,
            name: self.name.clone(),
            description: self.description.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
            rotated_at: self.rotated_at,
            previous_secret_expires_at: self.previous_expires_at,
        }
    }
}

impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("org", &self.org)
            .field("role", &self.role)
            .field("name", &self.name)
            .field("generation", &self.generation)
            .field("sealed_secret", &"[sealed]")
            .field(
                "previous_sealed_secret",
                &self.previous_sealed_secret.as_ref().map(|_| "[sealed]"),
            )
            .field("previous_expires_at", &self.previous_expires_at)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("last_used_at", &self.last_used_at)
            .field("rotated_at", &self.rotated_at)
            .finish()
    }
}

/// A rotation to apply: the new sealed secret, and until when the current one keeps verifying.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRotation {
    /// The new current secret, sealed.
    pub sealed_secret: Vec<u8>,
    /// Until when (exclusive) the secret being replaced still verifies; at or before
    /// `rotated_at` it stops at once (and is not kept).
    pub previous_expires_at: OffsetDateTime,
    /// When the rotation happens.
    pub rotated_at: OffsetDateTime,
}

impl std::fmt::Debug for KeyRotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRotation")
            .field("sealed_secret", &"[sealed]")
            .field("previous_expires_at", &self.previous_expires_at)
            .field("rotated_at", &self.rotated_at)
            .finish()
    }
}

/// API keys of organizations.
///
/// # Contract
/// - `insert_api_key` writes the record and its event in one atomic step, or nothing. The key
///   id is unique per environment: a taken one answers
///   [`StoreError::AlreadyExists`]` { key: "key_id" }`.
/// - `api_key` finds a key by its id alone, whatever its organization (verification learns the
///   organization from the key); idcore checks the organization where the caller names one.
///   Revoked and expired keys are returned too.
/// - `list_api_keys` lists one organization's keys (revoked and expired included), newest first
///   (`created_at` descending, ties by id descending), with the organization's total. Pages
///   work as for [`UserStore::list_users`](super::UserStore::list_users) (by number, or by
///   keyset after the cursor's `(created_at, id)`, from [`newest_after`](super::newest_after)).
///   The total may be a `count(*)` over the organization's keys.
/// - `revoke_api_key` is one atomic step: if the key exists in this organization and is not
///   revoked, it sets `revoked_at`, writes the event, and answers the record as now stored;
///   otherwise (missing, another organization's, already revoked) it writes nothing and answers
///   `None`. Of concurrent revocations of one key exactly one answers `Some`.
/// - `rotate_api_key` is one atomic step, conditional on the key existing in this organization
///   ([`StoreError::NotFound`] otherwise — another organization's key included), not being
///   revoked, and its `generation` being `expected_generation` (else
///   [`StoreError::Precondition`], nothing written). It then stores, with the event: the new
///   secret as current, the replaced current secret as previous until `previous_expires_at`
///   (or no previous secret when that is not after `rotated_at`; an older previous secret is
///   dropped), `rotated_at`, and `generation + 1`; and answers the record as now stored. Of
///   concurrent rotations of one generation exactly one succeeds.
/// - `touch_api_key` sets `last_used_at = used_at` only if it is unset or before `if_before`
///   (one conditional write, so concurrent verifications of one key write it at most once per
///   interval), and answers whether it wrote. A missing key answers `false`.
/// - Keys of the two environments are apart; everything survives a restart of a durable store.
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key and its audit event.
    fn insert_api_key(
        &self,
        env: Environment,
        record: &ApiKeyRecord,
        event: &NewEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The key with this id, in any organization.
    fn api_key(
        &self,
        env: Environment,
        id: ApiKeyId,
    ) -> impl Future<Output = Result<Option<ApiKeyRecord>, StoreError>> + Send;

    /// One page of an organization's keys, newest first, and their total.
    fn list_api_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> impl Future<Output = Result<(Vec<ApiKeyRecord>, u64), StoreError>> + Send;

    /// Revokes a live key of this organization, with its event.
    fn revoke_api_key(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: ApiKeyId,
        revoked_at: OffsetDateTime,
        event: &NewEvent,
    ) -> impl Future<Output = Result<Option<ApiKeyRecord>, StoreError>> + Send;

    /// Replaces a key's secret if its generation is still `expected_generation`, with its event.
    fn rotate_api_key(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: ApiKeyId,
        expected_generation: u32,
        rotation: &KeyRotation,
        event: &NewEvent,
    ) -> impl Future<Output = Result<ApiKeyRecord, StoreError>> + Send;

    /// Records a use, unless one was recorded at or after `if_before`.
    fn touch_api_key(
        &self,
        env: Environment,
        id: ApiKeyId,
        used_at: OffsetDateTime,
        if_before: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
