//! [`MemoryStore`](super::MemoryStore)'s signing keys and revocation feed.

use std::collections::BTreeMap;
use std::sync::Mutex;

use time::OffsetDateTime;

use super::{MemoryStore, lock};
use crate::model::ids::{Environment, OrgDomain};
use crate::store::StoreError;
use crate::store::tokens::{Revocation, RevocationStore, SigningKeyRecord, SigningKeyStore};

#[derive(Default)]
pub(super) struct TokenState {
    sandbox: EnvTokens,
    production: EnvTokens,
}

#[derive(Default)]
struct EnvTokens {
    keys: Mutex<Vec<SigningKeyRecord>>,
    revocations: Mutex<Feed>,
}

#[derive(Default)]
struct Feed {
    last: u64,
    entries: BTreeMap<u64, Revocation>,
}

impl MemoryStore {
    fn tokens(&self, env: Environment) -> &EnvTokens {
        match env {
            Environment::Sandbox => &self.inner.tokens.sandbox,
            Environment::Production => &self.inner.tokens.production,
        }
    }
}

impl SigningKeyStore for MemoryStore {
    async fn insert_signing_key(
        &self,
        env: Environment,
        key: &SigningKeyRecord,
    ) -> Result<(), StoreError> {
        let mut keys = lock(&self.tokens(env).keys);
        if keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::AlreadyExists { key: "kid" });
        }
        keys.push(key.clone());
        Ok(())
    }

    async fn signing_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        now: OffsetDateTime,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let keys = lock(&self.tokens(env).keys);
        let mut live: Vec<SigningKeyRecord> = keys
            .iter()
            .filter(|k| &k.org == org && k.retires_at.is_none_or(|at| now < at))
            .cloned()
            .collect();
        live.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.kid.cmp(&a.kid))
        });
        Ok(live)
    }

    async fn retire_signing_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        keep: &str,
        retires_at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut keys = lock(&self.tokens(env).keys);
        let mut changed = 0;
        for k in keys
            .iter_mut()
            .filter(|k| &k.org == org && k.kid != keep && k.retires_at.is_none())
        {
            k.retires_at = Some(retires_at);
            changed += 1;
        }
        Ok(changed)
    }
}

impl RevocationStore for MemoryStore {
    async fn record_revocation(
        &self,
        env: Environment,
        revocation: &Revocation,
    ) -> Result<u64, StoreError> {
        let mut feed = lock(&self.tokens(env).revocations);
        feed.last += 1;
        let seq = feed.last;
        feed.entries.insert(seq, revocation.clone());
        Ok(seq)
    }

    async fn revocations_since(
        &self,
        env: Environment,
        after: u64,
        now: OffsetDateTime,
    ) -> Result<Vec<(u64, Revocation)>, StoreError> {
        let mut feed = lock(&self.tokens(env).revocations);
        // Lapsed entries can never matter again: forget them while we hold the lock anyway.
        feed.entries.retain(|_, r| now < r.expires_at());
        Ok(feed
            .entries
            .range(after.saturating_add(1)..)
            .map(|(seq, r)| (*seq, r.clone()))
            .collect())
    }
}
