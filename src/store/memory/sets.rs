//! [`MemoryStore`](super::MemoryStore)'s counted sets: one mutex over every set of an
//! environment, so a join's count, eviction and insert are one critical section.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::{MemoryStore, lock};
use crate::model::ids::Environment;
use crate::store::sets::{Joined, LimitedSetStore, SetMember, WhenFull};
use crate::store::{Key, StoreError};

/// The members of one set: key → (joined_at, expires_at).
#[derive(Default)]
pub(super) struct Set(HashMap<Key, (OffsetDateTime, OffsetDateTime)>);

impl Set {
    fn drop_expired(&mut self, now: OffsetDateTime) {
        self.0.retain(|_, (_, expires_at)| now < *expires_at);
    }

    /// The live members, oldest first (`joined_at`, then key).
    fn oldest_first(&self) -> Vec<SetMember> {
        let mut members: Vec<SetMember> = self
            .0
            .iter()
            .map(|(member, (joined_at, expires_at))| SetMember {
                member: member.clone(),
                joined_at: *joined_at,
                expires_at: *expires_at,
            })
            .collect();
        members.sort_by(|a, b| {
            (a.joined_at, a.member.as_str()).cmp(&(b.joined_at, b.member.as_str()))
        });
        members
    }
}

impl LimitedSetStore for MemoryStore {
    async fn join(
        &self,
        env: Environment,
        set: &Key,
        member: &Key,
        limit: u64,
        when_full: WhenFull,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Joined, StoreError> {
        let mut sets = lock(&self.env(env).sets);
        let members = sets.entry(set.clone()).or_default();
        members.drop_expired(now);
        if let Some((_, stored)) = members.0.get_mut(member) {
            *stored = (*stored).max(expires_at);
            return Ok(Joined::Refreshed);
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        if limit == 0 || (members.0.len() >= limit && when_full == WhenFull::Refuse) {
            if members.0.is_empty() {
                sets.remove(set);
            }
            return Ok(Joined::Full);
        }
        let excess = (members.0.len() + 1).saturating_sub(limit);
        let evicted: Vec<Key> = members
            .oldest_first()
            .into_iter()
            .take(excess)
            .map(|m| m.member)
            .collect();
        for gone in &evicted {
            members.0.remove(gone);
        }
        members.0.insert(member.clone(), (now, expires_at));
        Ok(Joined::Added { evicted })
    }

    async fn leave(
        &self,
        env: Environment,
        set: &Key,
        member: &Key,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut sets = lock(&self.env(env).sets);
        let Some(members) = sets.get_mut(set) else {
            return Ok(false);
        };
        let was_live = members
            .0
            .remove(member)
            .is_some_and(|(_, expires_at)| now < expires_at);
        members.drop_expired(now);
        if members.0.is_empty() {
            sets.remove(set);
        }
        Ok(was_live)
    }

    async fn members(
        &self,
        env: Environment,
        set: &Key,
        now: OffsetDateTime,
    ) -> Result<Vec<SetMember>, StoreError> {
        let sets = lock(&self.env(env).sets);
        Ok(sets.get(set).map_or_else(Vec::new, |members| {
            let mut live = members.oldest_first();
            live.retain(|m| now < m.expires_at);
            live
        }))
    }

    async fn clear(
        &self,
        env: Environment,
        set: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let removed = lock(&self.env(env).sets).remove(set);
        Ok(removed.map_or(0, |members| {
            members.0.values().filter(|(_, e)| now < *e).count() as u64
        }))
    }
}
