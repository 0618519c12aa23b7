//! [`MemoryStore`](super::MemoryStore)'s SSO connections: one mutex over the connections of an
//! environment and their per-organization newest-first index; a write's event is appended
//! while it is held.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{MemoryStore, Newest, lock, newest, page_of};
use crate::model::event::NewEvent;
use crate::model::ids::{Environment, OrgDomain};
use crate::model::sso::{IdpId, SpId, SsoConnection};
use crate::page::PageRequest;
use crate::store::StoreError;
use crate::store::sso::SsoStore;

#[derive(Default)]
pub(super) struct Connections {
    by_idp: HashMap<IdpId, SsoConnection>,
    sp_ids: HashSet<SpId>,
    order: HashMap<OrgDomain, BTreeSet<(Newest, IdpId)>>,
}

impl SsoStore for MemoryStore {
    async fn insert_sso_connection(
        &self,
        env: Environment,
        connection: &SsoConnection,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut all = lock(&self.env(env).sso);
        if all.by_idp.contains_key(&connection.idp_id) {
            return Err(StoreError::AlreadyExists { key: "idp_id" });
        }
        if all.sp_ids.contains(&connection.sp_id) {
            return Err(StoreError::AlreadyExists { key: "sp_id" });
        }
        all.sp_ids.insert(connection.sp_id.clone());
        all.order
            .entry(connection.org.clone())
            .or_default()
            .insert((
                newest(connection.inserted_at, connection.key),
                connection.idp_id.clone(),
            ));
        all.by_idp
            .insert(connection.idp_id.clone(), connection.clone());
        self.append_event(env, event);
        Ok(())
    }

    async fn sso_connection(
        &self,
        env: Environment,
        idp_id: &IdpId,
    ) -> Result<Option<SsoConnection>, StoreError> {
        Ok(lock(&self.env(env).sso).by_idp.get(idp_id).cloned())
    }

    async fn list_sso_connections(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<SsoConnection>, u64), StoreError> {
        let all = lock(&self.env(env).sso);
        let Some(index) = all.order.get(org) else {
            return Ok((Vec::new(), 0));
        };
        let (items, total) = page_of(index.iter(), index.len(), page)?;
        let connections = items
            .into_iter()
            .filter_map(|(_, id)| all.by_idp.get(id).cloned())
            .collect();
        Ok((connections, total))
    }

    async fn update_sso_connection(
        &self,
        env: Environment,
        connection: &SsoConnection,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut all = lock(&self.env(env).sso);
        let Some(stored) = all
            .by_idp
            .get_mut(&connection.idp_id)
            .filter(|c| c.org == connection.org)
        else {
            return Err(StoreError::NotFound);
        };
        if stored.version != expected_version {
            return Err(StoreError::Precondition);
        }
        *stored = SsoConnection {
            idp_id: stored.idp_id.clone(),
            key: stored.key,
            sp_id: stored.sp_id.clone(),
            org: stored.org.clone(),
            inserted_at: stored.inserted_at,
            ..connection.clone()
        };
        self.append_event(env, event);
        Ok(())
    }
}
