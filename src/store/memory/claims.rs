//! [`MemoryStore`](super::MemoryStore)'s claim schemas: one mutex over the schemas of an
//! environment; a write's event is appended while it is held.

use std::collections::HashMap;

use super::{MemoryStore, lock};
use crate::model::claims::ClaimSchema;
use crate::model::event::NewEvent;
use crate::model::ids::{Environment, OrgDomain};
use crate::store::StoreError;
use crate::store::claims::ClaimStore;

pub(super) type Schemas = HashMap<OrgDomain, ClaimSchema>;

impl ClaimStore for MemoryStore {
    async fn claim_schema(
        &self,
        env: Environment,
        org: &OrgDomain,
    ) -> Result<ClaimSchema, StoreError> {
        Ok(lock(&self.env(env).claims)
            .get(org)
            .cloned()
            .unwrap_or_default())
    }

    async fn put_claim_schema(
        &self,
        env: Environment,
        org: &OrgDomain,
        schema: &ClaimSchema,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut schemas = lock(&self.env(env).claims);
        let stored = schemas.get(org).map_or(0, |s| s.version);
        if stored != expected_version {
            return Err(StoreError::Precondition);
        }
        schemas.insert(org.clone(), schema.clone());
        self.append_event(env, event);
        Ok(())
    }
}
