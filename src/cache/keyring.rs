//! The key ring: each organization's signing keys, loaded from the store once, kept parsed.
//!
//! - The newest key that is not retiring signs; every key whose `retires_at` has not passed
//!   verifies. [`Tokens::rotate_keys`](super::Tokens::rotate_keys) adds a key that signs at once
//!   and schedules the others to retire after the configured overlap.
//! - An organization's first token creates its first key (the configured algorithm, ES256 by
//!   default).
//! - Private keys are stored sealed under the host's key-encryption key and opened once per load.
//! - A token naming an unknown `kid` never triggers a fetch by itself: the ring reloads an
//!   organization's keys at most once per `reload_interval`, whatever arrives; concurrent
//!   tokens that need a load share one (one load at a time per stripe of organizations).
//! - An organization found without keys (a token naming a made-up `tnt`) is remembered as such
//!   for [`ABSENT_TTL`]: forged tokens cannot turn into one store read each, and an
//!   organization whose first key another instance just created verifies within that time.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use time::{Duration, OffsetDateTime};

use crate::Error;
use crate::crypto::keys::{self, Algorithm, EncryptionKey, KeyPair, PublicKey};
use crate::error::Resource;
use crate::gate::{Gate, Left};
use crate::model::ids::{Environment, OrgDomain};
use crate::store::StoreError;
use crate::store::tokens::{SigningKeyRecord, SigningKeyStore};

/// One organization's keys, parsed.
pub(crate) struct OrgKeys {
    pub(crate) signing: Arc<KeyPair>,
    /// `(kid, key, retires_at)`, in the store's order. A list, not a map: an organization has
    /// a handful of keys, and comparing a few `kid`s (most differ in their first byte) costs
    /// less than hashing the one presented.
    verifying: Vec<(String, PublicKey, Option<OffsetDateTime>)>,
    loaded_at: OffsetDateTime,
}

impl OrgKeys {
    /// The key with this `kid`, if it still verifies at `now`.
    pub(crate) fn verifying(&self, kid: &str, now: OffsetDateTime) -> Option<&PublicKey> {
        self.verifying
            .iter()
            .find(|(k, _, _)| k == kid)
            .filter(|(_, _, retires)| retires.is_none_or(|at| now < at))
            .map(|(_, key, _)| key)
    }

    /// Every key that verifies at `now` (for the JWKS).
    pub(crate) fn published(&self, now: OffsetDateTime) -> impl Iterator<Item = &PublicKey> {
        self.verifying
            .iter()
            .filter(move |(_, _, retires)| retires.is_none_or(|at| now < at))
            .map(|(_, key, _)| key)
    }
}

/// How long an organization found without keys is remembered as such.
pub(crate) const ABSENT_TTL: Duration = Duration::seconds(1);
/// At most this many organizations are remembered as without keys (forged `tnt`s vary).
const ABSENT_MAX: usize = 4096;
/// Loads run one at a time per stripe; organizations are spread over the stripes by hash.
const LOAD_STRIPES: usize = 16;

pub(crate) struct KeyRing {
    encryption: Option<EncryptionKey>,
    algorithm: Algorithm,
    overlap: Duration,
    reload_interval: Duration,
    orgs: RwLock<HashMap<OrgDomain, Arc<OrgKeys>>>,
    /// Organizations found without keys, and when.
    absent: Mutex<HashMap<OrgDomain, OffsetDateTime>>,
    loading: [Gate; LOAD_STRIPES],
    stripes: RandomState,
}

impl KeyRing {
    pub(crate) fn new(
        encryption: Option<EncryptionKey>,
        algorithm: Algorithm,
        overlap: Duration,
        reload_interval: Duration,
    ) -> Self {
        Self {
            encryption,
            algorithm,
            overlap,
            reload_interval,
            orgs: RwLock::new(HashMap::new()),
            absent: Mutex::new(HashMap::new()),
            loading: std::array::from_fn(|_| Gate::default()),
            stripes: RandomState::new(),
        }
    }

    /// The cached keys of `org`, if loaded.
    pub(crate) fn cached(&self, org: &OrgDomain) -> Option<Arc<OrgKeys>> {
        self.orgs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(org)
            .cloned()
    }

    /// The keys of `org` for signing, creating the first key if it has none.
    pub(crate) async fn for_signing<S: SigningKeyStore>(
        &self,
        store: &S,
        env: Environment,
        org: &OrgDomain,
        now: OffsetDateTime,
    ) -> Result<Arc<OrgKeys>, Error> {
        if let Some(keys) = self.cached(org) {
            return Ok(keys);
        }
        // Cold: boxed, so the hot path's future stays small (it is moved on every call).
        match Box::pin(self.load(store, env, org, now)).await? {
            Some(keys) => Ok(keys),
            None => {
                Box::pin(self.add_key(store, env, org, now)).await?;
                self.load(store, env, org, now)
                    .await?
                    .ok_or(Error::Keys("the new signing key could not be read back"))
            }
        }
    }

    /// The keys of `org` for verifying a token whose `kid` is `kid`: from the cache, reloading
    /// at most once per interval when the `kid` is unknown.
    pub(crate) async fn for_verifying<S: SigningKeyStore>(
        &self,
        store: &S,
        env: Environment,
        org: &OrgDomain,
        kid: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Arc<OrgKeys>>, Error> {
        match self.fresh(org, kid, now) {
            Some(keys) => Ok(Some(keys)),
            None if self.known_absent(org, now) => Ok(None),
            // Cold: boxed, so the hot path's future stays small (it is moved on every call).
            None => Box::pin(self.load_shared(store, env, org, kid, now)).await,
        }
    }

    /// Loads `org`'s keys, or waits for the load of its stripe under way and uses what it left.
    async fn load_shared<S: SigningKeyStore>(
        &self,
        store: &S,
        env: Environment,
        org: &OrgDomain,
        kid: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Arc<OrgKeys>>, Error> {
        let gate = &self.loading[self.stripes.hash_one(org) as usize % LOAD_STRIPES];
        loop {
            let loading = gate.enter();
            // Loaded (or found without keys) by the task this one waited for, or just before?
            if let Some(keys) = self.fresh(org, kid, now) {
                return Ok(Some(keys));
            }
            if self.known_absent(org, now) {
                return Ok(None);
            }
            let Some(loading) = loading else {
                // Another task is loading (this organization, or another of the stripe): look
                // again once it is done. A load that failed or was dropped lets the next try.
                gate.wait().await;
                continue;
            };
            let result = self.load(store, env, org, now).await;
            loading.leave(if result.is_ok() {
                Left::Read
            } else {
                Left::Failed
            });
            return result;
        }
    }

    /// Whether `org` was found without keys less than [`ABSENT_TTL`] ago.
    fn known_absent(&self, org: &OrgDomain, now: OffsetDateTime) -> bool {
        self.absent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(org)
            .is_some_and(|at| now - *at < ABSENT_TTL)
    }

    /// The cached keys of `org` for verifying a token whose `kid` is `kid`, unless they must
    /// be (re)loaded first: not loaded yet, or `kid` unknown and the last load older than the
    /// reload interval.
    pub(crate) fn fresh(
        &self,
        org: &OrgDomain,
        kid: &str,
        now: OffsetDateTime,
    ) -> Option<Arc<OrgKeys>> {
        self.cached(org).filter(|keys| {
            now - keys.loaded_at < self.reload_interval
                || keys.verifying.iter().any(|(k, _, _)| k == kid)
        })
    }

    /// Adds a new key that signs at once; the others retire after the overlap.
    pub(crate) async fn rotate<S: SigningKeyStore>(
        &self,
        store: &S,
        env: Environment,
        org: &OrgDomain,
        now: OffsetDateTime,
    ) -> Result<String, Error> {
        let kid = self.add_key(store, env, org, now).await?;
        store
            .retire_signing_keys(env, org, &kid, now + self.overlap)
            .await?;
        self.load(store, env, org, now).await?;
        Ok(kid)
    }

    async fn add_key<S: SigningKeyStore>(
        &self,
        store: &S,
        env: Environment,
        org: &OrgDomain,
        now: OffsetDateTime,
    ) -> Result<String, Error> {
        let encryption = self.encryption()?;
        let pair = KeyPair::generate(self.algorithm).map_err(|_| {
            Error::Keys("the configured algorithm cannot generate keys (import RSA keys)")
        })?;
        let record = SigningKeyRecord {
            kid: pair.kid().to_owned(),
            org: org.clone(),
            algorithm: self.algorithm,
            sealed_private_key: keys::seal(&pair, encryption)
                .map_err(|_| Error::Keys("sealing the new key failed"))?,
            created_at: now,
            retires_at: None,
        };
        match store.insert_signing_key(env, &record).await {
            Ok(()) | Err(StoreError::AlreadyExists { .. }) => Ok(record.kid),
            Err(e) => Err(e.into()),
        }
    }

    /// Imports a key (RS256/PS256 keys can only be imported) that signs at once. Importing the
    /// current signing key again changes nothing; the same key retired, under another
    /// algorithm, or in another organization answers [`Error::AlreadyExists`].
    pub(crate) async fn import<S: SigningKeyStore>(
        &self,
        store: &S,
        env: Environment,
        org: &OrgDomain,
        pair: &KeyPair,
        now: OffsetDateTime,
    ) -> Result<String, Error> {
        let encryption = self.encryption()?;
        let record = SigningKeyRecord {
            kid: pair.kid().to_owned(),
            org: org.clone(),
            algorithm: pair.algorithm(),
            sealed_private_key: keys::seal(pair, encryption)
                .map_err(|_| Error::Keys("sealing the imported key failed"))?,
            created_at: now,
            retires_at: None,
        };
        match store.insert_signing_key(env, &record).await {
            Ok(()) => {}
            // The kid is the key's thumbprint: the same key is stored already. Importing the
            // organization's current signing key again is a no-op; the key retired, under
            // another algorithm or in another organization is the caller's conflict.
            Err(StoreError::AlreadyExists { .. }) => {
                let current = store
                    .signing_keys(env, org, now)
                    .await?
                    .into_iter()
                    .find(|k| {
                        k.kid == record.kid
                            && k.algorithm == record.algorithm
                            && k.retires_at.is_none()
                    });
                return match current {
                    Some(_) => Ok(record.kid),
                    None => Err(Error::AlreadyExists {
                        resource: Resource::SigningKey,
                        key: "kid",
                    }),
                };
            }
            Err(e) => return Err(e.into()),
        }
        store
            .retire_signing_keys(env, org, &record.kid, now + self.overlap)
            .await?;
        self.load(store, env, org, now).await?;
        Ok(record.kid)
    }

    async fn load<S: SigningKeyStore>(
        &self,
        store: &S,
        env: Environment,
        org: &OrgDomain,
        now: OffsetDateTime,
    ) -> Result<Option<Arc<OrgKeys>>, Error> {
        let records = store.signing_keys(env, org, now).await?;
        let Some(newest) = records
            .iter()
            .find(|r| r.retires_at.is_none())
            .or(records.first())
        else {
            let mut absent = self.absent.lock().unwrap_or_else(PoisonError::into_inner);
            if absent.len() >= ABSENT_MAX {
                absent.retain(|_, at| now - *at < ABSENT_TTL);
                if absent.len() >= ABSENT_MAX {
                    absent.clear();
                }
            }
            absent.insert(org.clone(), now);
            return Ok(None);
        };
        self.absent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(org);
        let encryption = self.encryption()?;
        // Keys parsed by the previous load are reused (a `kid` is the thumbprint of its public
        // key, so the same `kid` is the same key): a reload that finds no new key costs one
        // store read, not one decryption and parse per key.
        let previous = self.cached(org);
        let known = |kid: &str| {
            previous
                .as_ref()
                .and_then(|p| p.verifying.iter().find(|(k, _, _)| k == kid))
                .map(|(_, public, _)| public.clone())
        };
        let signing = match previous.as_ref().filter(|p| p.signing.kid() == newest.kid) {
            Some(p) => Arc::clone(&p.signing),
            None => Arc::new(
                keys::open(newest.algorithm, &newest.sealed_private_key, encryption)
                    .map_err(|_| Error::Keys("the key-encryption key cannot open the stored signing key (wrong key or tampered data)"))?,
            ),
        };
        let mut verifying = Vec::with_capacity(records.len());
        for r in &records {
            let public = if r.kid == newest.kid {
                signing.public_key().clone()
            } else if let Some(public) = known(&r.kid) {
                public
            } else {
                keys::open(r.algorithm, &r.sealed_private_key, encryption)
                    .map_err(|_| Error::Keys("the key-encryption key cannot open a stored signing key (wrong key or tampered data)"))?
                    .public_key()
                    .clone()
            };
            verifying.push((r.kid.clone(), public, r.retires_at));
        }
        let keys = Arc::new(OrgKeys {
            signing,
            verifying,
            loaded_at: now,
        });
        self.orgs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(org.clone(), Arc::clone(&keys));
        Ok(Some(keys))
    }

    fn encryption(&self) -> Result<&EncryptionKey, Error> {
        self.encryption.as_ref().ok_or(Error::Keys(
            "no key-encryption key configured (IdentityBuilder::key_encryption_key)",
        ))
    }
}
