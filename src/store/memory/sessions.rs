//! [`MemoryStore`](super::MemoryStore)'s sessions: one mutex over the sessions of an
//! environment and their two unique indexes (token digest, reuse key).

use std::collections::HashMap;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{MemoryStore, lock};
use crate::model::ids::{Environment, OrgDomain, UserId};
use crate::secret::Digest;
use crate::store::StoreError;
use crate::store::sessions::{Opened, SessionRecord, SessionStore};

#[derive(Default)]
pub(super) struct Sessions {
    by_id: HashMap<Uuid, SessionRecord>,
    by_token: HashMap<[u8; 32], Uuid>,
    by_reuse: HashMap<[u8; 32], Uuid>,
}

impl Sessions {
    fn remove(&mut self, id: Uuid) -> Option<SessionRecord> {
        let record = self.by_id.remove(&id)?;
        self.by_token.remove(record.token_digest.as_bytes());
        if self.by_reuse.get(record.reuse_key.as_bytes()) == Some(&id) {
            self.by_reuse.remove(record.reuse_key.as_bytes());
        }
        Some(record)
    }

    fn live(&self, id: Uuid, now: OffsetDateTime) -> Option<&SessionRecord> {
        self.by_id.get(&id).filter(|r| r.is_live(now))
    }
}

fn owned_by(record: &SessionRecord, org: &OrgDomain, user_id: UserId) -> bool {
    record.org == *org && record.user_id == user_id
}

impl SessionStore for MemoryStore {
    async fn open_session(
        &self,
        env: Environment,
        record: &SessionRecord,
        now: OffsetDateTime,
    ) -> Result<Opened, StoreError> {
        let mut sessions = lock(&self.env(env).sessions);
        if let Some(&existing) = sessions.by_reuse.get(record.reuse_key.as_bytes()) {
            if let Some(live) = sessions.live(existing, now) {
                return Ok(Opened::Reused(Box::new(live.clone())));
            }
            sessions.remove(existing);
        }
        if sessions.by_id.contains_key(&record.id) {
            return Err(StoreError::AlreadyExists { key: "id" });
        }
        if sessions
            .by_token
            .contains_key(record.token_digest.as_bytes())
        {
            return Err(StoreError::AlreadyExists { key: "token" });
        }
        sessions
            .by_token
            .insert(*record.token_digest.as_bytes(), record.id);
        sessions
            .by_reuse
            .insert(*record.reuse_key.as_bytes(), record.id);
        sessions.by_id.insert(record.id, record.clone());
        Ok(Opened::Created)
    }

    async fn session_by_token(
        &self,
        env: Environment,
        token_digest: &Digest,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let sessions = lock(&self.env(env).sessions);
        Ok(sessions
            .by_token
            .get(token_digest.as_bytes())
            .and_then(|id| sessions.live(*id, now))
            .cloned())
    }

    async fn touch_session(
        &self,
        env: Environment,
        id: Uuid,
        idle_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut sessions = lock(&self.env(env).sessions);
        match sessions.by_id.get_mut(&id) {
            Some(record) if record.is_live(now) => {
                record.validated_at = now;
                record.idle_expires_at = idle_expires_at.min(record.absolute_expires_at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn end_session(&self, env: Environment, id: Uuid) -> Result<bool, StoreError> {
        Ok(lock(&self.env(env).sessions).remove(id).is_some())
    }

    async fn end_user_sessions(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        except: Option<Uuid>,
    ) -> Result<u64, StoreError> {
        let mut sessions = lock(&self.env(env).sessions);
        let ids: Vec<Uuid> = sessions
            .by_id
            .values()
            .filter(|r| owned_by(r, org, user_id) && Some(r.id) != except)
            .map(|r| r.id)
            .collect();
        for id in &ids {
            sessions.remove(*id);
        }
        Ok(ids.len() as u64)
    }

    async fn user_sessions(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let sessions = lock(&self.env(env).sessions);
        let mut live: Vec<SessionRecord> = sessions
            .by_id
            .values()
            .filter(|r| owned_by(r, org, user_id) && r.is_live(now))
            .cloned()
            .collect();
        live.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        Ok(live)
    }
}
