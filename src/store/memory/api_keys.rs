//! [`MemoryStore`](super::MemoryStore)'s API keys: one mutex over the keys of an environment
//! and their per-organization newest-first index; a write's event is appended while it is held.

use std::collections::{BTreeSet, HashMap};

use time::OffsetDateTime;

use super::{MemoryStore, Newest, lock, newest, page_of};
use crate::model::api_key::ApiKeyId;
use crate::model::event::NewEvent;
use crate::model::ids::{Environment, OrgDomain};
use crate::page::PageRequest;
use crate::store::StoreError;
use crate::store::api_keys::{ApiKeyRecord, ApiKeyStore, KeyRotation};

#[derive(Default)]
pub(super) struct ApiKeys {
    by_id: HashMap<ApiKeyId, ApiKeyRecord>,
    order: HashMap<OrgDomain, BTreeSet<(Newest, ApiKeyId)>>,
}

impl ApiKeys {
    /// The key `id` if it belongs to `org`.
    fn of_org(&mut self, org: &OrgDomain, id: ApiKeyId) -> Option<&mut ApiKeyRecord> {
        self.by_id.get_mut(&id).filter(|r| r.org == *org)
    }
}

impl ApiKeyStore for MemoryStore {
    async fn insert_api_key(
        &self,
        env: Environment,
        record: &ApiKeyRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut keys = lock(&self.env(env).api_keys);
        if keys.by_id.contains_key(&record.id) {
            return Err(StoreError::AlreadyExists { key: "key_id" });
        }
        keys.by_id.insert(record.id, record.clone());
        keys.order
            .entry(record.org.clone())
            .or_default()
            .insert((newest(record.created_at, record.id.as_uuid()), record.id));
        self.append_event(env, event);
        Ok(())
    }

    async fn api_key(
        &self,
        env: Environment,
        id: ApiKeyId,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(lock(&self.env(env).api_keys).by_id.get(&id).cloned())
    }

    async fn list_api_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<ApiKeyRecord>, u64), StoreError> {
        let keys = lock(&self.env(env).api_keys);
        let Some(index) = keys.order.get(org) else {
            return Ok((Vec::new(), 0));
        };
        let (items, total) = page_of(index.iter(), index.len(), page)?;
        let records = items
            .into_iter()
            .filter_map(|(_, id)| keys.by_id.get(id).cloned())
            .collect();
        Ok((records, total))
    }

    async fn revoke_api_key(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: ApiKeyId,
        revoked_at: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let mut keys = lock(&self.env(env).api_keys);
        let Some(record) = keys.of_org(org, id).filter(|r| r.revoked_at.is_none()) else {
            return Ok(None);
        };
        record.revoked_at = Some(revoked_at);
        let revoked = record.clone();
        self.append_event(env, event);
        Ok(Some(revoked))
    }

    async fn rotate_api_key(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: ApiKeyId,
        expected_generation: u32,
        rotation: &KeyRotation,
        event: &NewEvent,
    ) -> Result<ApiKeyRecord, StoreError> {
        let mut keys = lock(&self.env(env).api_keys);
        let record = keys.of_org(org, id).ok_or(StoreError::NotFound)?;
        if record.revoked_at.is_some() || record.generation != expected_generation {
            return Err(StoreError::Precondition);
        }
        let replaced = std::mem::replace(&mut record.sealed_secret, rotation.sealed_secret.clone());
        let overlap = rotation.previous_expires_at > rotation.rotated_at;
        record.previous_sealed_secret = overlap.then_some(replaced);
        record.previous_expires_at = overlap.then_some(rotation.previous_expires_at);
        record.rotated_at = Some(rotation.rotated_at);
        record.generation += 1;
        let rotated = record.clone();
        self.append_event(env, event);
        Ok(rotated)
    }

    async fn touch_api_key(
        &self,
        env: Environment,
        id: ApiKeyId,
        used_at: OffsetDateTime,
        if_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut keys = lock(&self.env(env).api_keys);
        match keys.by_id.get_mut(&id) {
            Some(record) if record.last_used_at.is_none_or(|t| t < if_before) => {
                record.last_used_at = Some(used_at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
