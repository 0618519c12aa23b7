//! API keys and signed requests (seed 003: the default and the simple signature).
//!
//! An organization's owner creates API keys ([`Identity::api_keys`]): each has a public id
//! (`ak_…`), a role ([`ApiKeyRole::Owner`] or [`ApiKeyRole::Read`]) and a secret of 256 random
//! bits, shown once at creation and at each rotation. A client signs each request with the
//! secret (HMAC-SHA256 over the request's canonical form, see [`signature`]); the host hands
//! the request to [`Identity::signatures`] (or to [`ApiKeys::verify`], when the request names
//! its organization), which answers who signed it or refuses it.
//!
//! **Owner requests must be signed.** A token authenticates users only (seed 003); anything
//! an owner does (deleting other users' tokens with `DeleteToken`'s `userList` …) is accepted
//! only from a verified signature of an owner key ([`Verified::role`]), which
//! [`protocol::delete_token::caller_of`](crate::protocol::delete_token::caller_of) maps to
//! the wire's caller.
//!
//! ```
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use idcore::signing::{ApiKeyRole, NewApiKey, Scheme, SignedRequest, signature};
//! use idcore::{Identity, MemoryStore, NewOrganization};
//!
//! let identity = Identity::builder()
//!     .issuer("https://auth.example.com")
//!     .key_encryption_key(idcore::tokens::keys::EncryptionKey::generate()?)
//!     .store(MemoryStore::new())
//!     .build()?;
//! let org = identity.organizations().create(NewOrganization::new("Misapret")?).await?.domain;
//! let created = identity.api_keys(&org).create(NewApiKey::new("backend", ApiKeyRole::Owner)?).await?;
//!
//! // The client's side: sign, then send the four apsws.* parameters along.
//! let key_id = created.key.id.to_string();
//! let time = identity.now().unix_timestamp().to_string();
//! let mut params = vec![("userList".to_owned(), "john".to_owned())];
//! let unsigned = SignedRequest::new("POST", "/apsdb/rest/DeleteToken", &params);
//! let sig = unsigned
//!     .sign(Scheme::Default, &time, &key_id, created.secret.expose().as_bytes())
//!     .expect("the default scheme needs no action");
//! params.extend(signature::wire_params(Scheme::Default, &key_id, &time, &sig));
//!
//! // The host's side.
//! let request = SignedRequest::new("POST", "/apsdb/rest/DeleteToken", &params);
//! let verified = identity.signatures().verify(&request).await?;
//! assert_eq!((verified.org, verified.role), (org, ApiKeyRole::Owner));
//! // The same request again is a replay.
//! assert!(matches!(
//!     identity.signatures().verify(&request).await,
//!     Err(idcore::Error::SignatureRejected)
//! ));
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
//! ```
//!
//! # What an attacker learns
//! Nothing about why a request was refused: malformed or missing signature parameters, an
//! unknown, revoked or expired key, a key of another organization or environment, a deleted
//! organization, a timestamp outside the skew, a refused scheme, a wrong signature and a replay
//! are all [`Error::SignatureRejected`](crate::Error::SignatureRejected) (`invalid_signature`,
//! 401). The audit log keeps the reason (`SIGNATURE_REJECTED` with `reason`, or
//! `SIGNATURE_REPLAYED`). Likewise another organization's key is [`Error::NotFound`](crate::Error::NotFound) through
//! [`ApiKeys`], exactly as a key that does not exist.
//!
//! # Replays
//! A signature is accepted once: after its HMAC verified, a set-once marker keyed by the key id
//! and the SHA-256 of the signature is written atomically in the store
//! ([`ReplayStore::mark_once`](crate::store::ReplayStore::mark_once)), kept for as long as the
//! timestamp is within the skew (±5 minutes by default, [`SigningSettings::skew`]) and
//! forgotten after. Every instance sharing the store sees it: of concurrent submissions of one
//! signed request exactly one is accepted. A store failure before the marker is written leaves
//! the signature unused, so the client's retry of the same request verifies.
//!
//! # Rotation
//! [`ApiKeys::rotate`] gives a key a new secret in one atomic store step, conditional on the
//! key's generation (two racing rotations: one wins, the other is a conflict). The secret it
//! replaces keeps verifying until the overlap given ends, then only the new one does.
//!
//! # Secrets at rest
//! HMAC verification needs the secret itself, so it cannot be stored as a digest: it is sealed
//! (AES-256-GCM under a key derived from the host's key-encryption key for this purpose only,
//! bound to the environment, organization and key id) and opened only to verify. API keys
//! therefore need [`IdentityBuilder::key_encryption_key`](crate::IdentityBuilder::key_encryption_key).
//! `Debug` of every type here redacts secrets.

mod keys;
mod verify;

pub use crate::config::{SigningSettings, SimpleSignatures};
pub use crate::crypto::signature;
pub use crate::crypto::signature::{Scheme, SignedRequest};
pub use crate::model::api_key::{ApiKey, ApiKeyId, ApiKeyRole, NewApiKey};
pub use keys::{ApiKeys, CreatedApiKey, ROTATION_OVERLAP_MAX};
pub use verify::{LAST_USED_INTERVAL, Signatures, Verified};

use crate::identity::Identity;
use crate::model::ids::OrgDomain;
use crate::store::Store;

impl<S: Store> Identity<S> {
    /// The API keys of one organization: create, read, list, revoke, rotate, and verify requests
    /// signed with them.
    pub fn api_keys<'a>(&'a self, org: &'a OrgDomain) -> ApiKeys<'a, S> {
        ApiKeys::new(self, org)
    }

    /// Verification of signed requests, whatever the key's organization.
    pub fn signatures(&self) -> Signatures<'_, S> {
        Signatures::new(self)
    }
}
