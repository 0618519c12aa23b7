//! An organization's API keys: create, read, list, revoke, rotate with an overlap.

use time::Duration;

use super::verify::{Signatures, Verified};
use crate::crypto::signature::SignedRequest;
use crate::directory::Organizations;
use crate::error::{Error, FieldProblem, Resource};
use crate::identity::Identity;
use crate::model::api_key::{ApiKey, ApiKeyId, NewApiKey};
use crate::model::event::{EventCode, NewEvent};
use crate::model::ids::OrgDomain;
use crate::page::{List, ListKind, PageRequest};
use crate::secret::Secret;
use crate::store::{ApiKeyRecord, KeyRotation, Store, StoreError};

/// The longest overlap a rotation may give the secret it replaces.
pub const ROTATION_OVERLAP_MAX: Duration = Duration::days(30);

/// A key just created or rotated, with its secret — shown this once, never stored in the clear
/// and never readable again. `Debug` redacts the secret.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CreatedApiKey {
    /// The key.
    pub key: ApiKey,
    /// The secret (256 random bits, base64url): the HMAC key of the key's signatures.
    pub secret: Secret,
}

/// The API keys of one organization; see [`Identity::api_keys`]. A key of another organization
/// answers [`Error::NotFound`], exactly as a key that does not exist.
pub struct ApiKeys<'a, S> {
    identity: &'a Identity<S>,
    org: &'a OrgDomain,
}

impl<'a, S: Store> ApiKeys<'a, S> {
    pub(crate) fn new(identity: &'a Identity<S>, org: &'a OrgDomain) -> Self {
        Self { identity, org }
    }

    /// Creates a key; its secret is in the answer, and nowhere else ever again.
    ///
    /// # Errors
    /// [`Error::Keys`] without a key-encryption key; [`Error::NotFound`] (organization) if the
    /// organization does not exist or was deleted; [`Error::InvalidField`] naming `expires_at`
    /// when it is not in the future; [`Error::Store`] when the store fails (nothing was
    /// written).
    pub async fn create(&self, new: NewApiKey) -> Result<CreatedApiKey, Error> {
        let sealer = self.identity.api_key_sealer()?;
        self.require_org().await?;
        let env = self.identity.environment();
        let now = self.identity.now();
        if new.expires_at.is_some_and(|e| e <= now) {
            return Err(Error::field(
                "expires_at",
                FieldProblem::Format("must be in the future"),
            ));
        }
        let secret = Secret::generate()?;
        // A v7 id collision is practically impossible; one retry with a fresh id settles it.
        for _ in 0..2 {
            let id = ApiKeyId::generate(now);
            let sealed = sealer.seal(
                secret.expose().as_bytes(),
                env.as_str(),
                self.org.as_str(),
                &id.to_string(),
            )?;
            let record = ApiKeyRecord {
                id,
                org: self.org.clone(),
                role: new.role,
                name: new.name.clone(),
                description: new.description.clone(),
                sealed_secret: sealed,
                previous_sealed_secret: None,
                previous_expires_at: None,
                generation: 1,
                created_at: now,
                expires_at: new.expires_at,
                revoked_at: None,
                last_used_at: None,
                rotated_at: None,
            };
            let event = NewEvent::new(EventCode::API_KEY_CREATED, now)
                .tenant(self.org)
                .detail("key_id", id.to_string())
                .detail("role", new.role.as_str());
            match self
                .identity
                .store()
                .insert_api_key(env, &record, &event)
                .await
            {
                Ok(()) => {
                    return Ok(CreatedApiKey {
                        key: record.view(),
                        secret,
                    });
                }
                Err(StoreError::AlreadyExists { key: "key_id" }) => continue,
                Err(StoreError::AlreadyExists { key }) => {
                    return Err(Error::AlreadyExists {
                        resource: Resource::ApiKey,
                        key,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::ApiKey))
    }

    /// The key with this id.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such key in this organization (or the organization is
    /// gone); [`Error::Store`] when the store fails.
    pub async fn retrieve(&self, id: ApiKeyId) -> Result<ApiKey, Error> {
        self.require_org().await?;
        Ok(self.record(id).await?.view())
    }

    /// One page of the organization's keys (revoked and expired ones included), newest first.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `cursor` for a cursor of another list;
    /// [`Error::NotFound`] (organization); [`Error::Store`] when the store fails.
    pub async fn list(&self, page: PageRequest) -> Result<List<ApiKey>, Error> {
        page.check_cursor(ListKind::ApiKeys)?;
        self.require_org().await?;
        let (records, total) = self
            .identity
            .store()
            .list_api_keys(self.identity.environment(), self.org, page)
            .await?;
        let data = records.iter().map(ApiKeyRecord::view).collect();
        Ok(List::new(data, page, total))
    }

    /// Revokes a key: from now on nothing it signs verifies. Revoking a revoked key answers it
    /// as it is (and records nothing).
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such key in this organization; [`Error::Store`] when
    /// the store fails (the key is then not revoked).
    pub async fn revoke(&self, id: ApiKeyId) -> Result<ApiKey, Error> {
        self.require_org().await?;
        let now = self.identity.now();
        let event = NewEvent::new(EventCode::API_KEY_REVOKED, now)
            .tenant(self.org)
            .detail("key_id", id.to_string());
        let revoked = self
            .identity
            .store()
            .revoke_api_key(self.identity.environment(), self.org, id, now, &event)
            .await?;
        match revoked {
            Some(record) => Ok(record.view()),
            // Missing, another organization's (NotFound), or revoked before (answered as is).
            None => self.record(id).await.map(|r| r.view()),
        }
    }

    /// Gives a key a new secret. The secret it had keeps verifying until `overlap` from now
    /// (0: it stops at once), then only the new one does; a secret kept from an earlier
    /// rotation stops at once. The key's id, role and expiry do not change.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `overlap` outside 0 to [`ROTATION_OVERLAP_MAX`];
    /// [`Error::NotFound`] if there is no such key in this organization; [`Error::Forbidden`]
    /// for a revoked or expired key; [`Error::Conflict`] when another rotation or a revocation
    /// of the key won the race (nothing was written); [`Error::Keys`] without a key-encryption
    /// key; [`Error::Store`] when the store fails (the old secret alone stays current).
    pub async fn rotate(&self, id: ApiKeyId, overlap: Duration) -> Result<CreatedApiKey, Error> {
        if overlap.is_negative() || overlap > ROTATION_OVERLAP_MAX {
            return Err(Error::field(
                "overlap",
                FieldProblem::OutOfRange {
                    min: 0,
                    max: ROTATION_OVERLAP_MAX.whole_seconds(),
                },
            ));
        }
        let sealer = self.identity.api_key_sealer()?;
        self.require_org().await?;
        let env = self.identity.environment();
        let now = self.identity.now();
        let current = self.record(id).await?;
        if !current.view().is_live(now) {
            return Err(Error::Forbidden(
                "a revoked or expired api key cannot be rotated",
            ));
        }
        let secret = Secret::generate()?;
        let rotation = KeyRotation {
            sealed_secret: sealer.seal(
                secret.expose().as_bytes(),
                env.as_str(),
                self.org.as_str(),
                &id.to_string(),
            )?,
            previous_expires_at: now + overlap,
            rotated_at: now,
        };
        let event = NewEvent::new(EventCode::API_KEY_ROTATED, now)
            .tenant(self.org)
            .detail("key_id", id.to_string())
            .detail(
                "previous_expires_at",
                (now + overlap).unix_timestamp().to_string(),
            );
        let rotated = self
            .identity
            .store()
            .rotate_api_key(env, self.org, id, current.generation, &rotation, &event)
            .await;
        match rotated {
            Ok(record) => Ok(CreatedApiKey {
                key: record.view(),
                secret,
            }),
            Err(StoreError::NotFound) => Err(Error::NotFound(Resource::ApiKey)),
            Err(StoreError::Precondition) => Err(Error::Conflict(Resource::ApiKey)),
            Err(e) => Err(e.into()),
        }
    }

    /// Verifies a signed request made with a key of this organization (see
    /// [`Signatures::verify`]); a key of another organization is refused like an unknown one.
    ///
    /// # Errors
    /// As [`Signatures::verify`].
    pub async fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, Error> {
        Signatures::new(self.identity)
            .check(Some(self.org), request)
            .await
    }

    /// The stored key `id` of this organization.
    async fn record(&self, id: ApiKeyId) -> Result<ApiKeyRecord, Error> {
        self.identity
            .store()
            .api_key(self.identity.environment(), id)
            .await?
            .filter(|r| r.org == *self.org)
            .ok_or(Error::NotFound(Resource::ApiKey))
    }

    async fn require_org(&self) -> Result<(), Error> {
        Organizations::new(self.identity)
            .require_live(self.org)
            .await
            .map(drop)
    }
}
