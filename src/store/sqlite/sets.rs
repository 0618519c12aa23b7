//! [`SqliteStore`]'s counted sets. Every write runs in one `BEGIN IMMEDIATE` transaction on
//! the one writer connection, so a join's count, eviction and insert see and leave one state.

use rusqlite::types::Value;
use time::OffsetDateTime;

use super::rows::{self, at, key, text};
use super::{SqliteStore, env_str, execute, query_all, query_opt};
use crate::model::ids::Environment;
use crate::store::sets::{Joined, LimitedSetStore, SetMember, WhenFull};
use crate::store::{Key, StoreError};

/// A key as the set stored it (the bytes of its string).
fn stored_key(row: &rusqlite::Row<'_>, column: &'static str) -> Result<Key, StoreError> {
    let bytes = rows::bytes(row, column)?;
    std::str::from_utf8(bytes)
        .map(|s| Key::from_stored(s.to_owned()))
        .map_err(|e| rows::bad(column, e))
}

impl LimitedSetStore for SqliteStore {
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
        let params = vec![
            text(env_str(env)),
            key(set),
            key(member),
            at(now)?,
            at(expires_at)?,
        ];
        self.write(move |tx| {
            let (set_params, now_param) = (&params[..2], &params[3]);
            execute(
                tx,
                "DELETE FROM limited_set_members \
                 WHERE env = ?1 AND set_key = ?2 AND expires_at <= ?3",
                &[
                    set_params[0].clone(),
                    set_params[1].clone(),
                    now_param.clone(),
                ],
            )?;
            let refreshed = execute(
                tx,
                "UPDATE limited_set_members SET expires_at = max(expires_at, ?4) \
                 WHERE env = ?1 AND set_key = ?2 AND member = ?3",
                &[
                    params[0].clone(),
                    params[1].clone(),
                    params[2].clone(),
                    params[4].clone(),
                ],
            )?;
            if refreshed == 1 {
                return Ok(Joined::Refreshed);
            }
            let live = query_opt(
                tx,
                "SELECT count(*) AS n FROM limited_set_members WHERE env = ?1 AND set_key = ?2",
                set_params,
                |row| rows::count(row, "n"),
            )?
            .unwrap_or(0);
            if limit == 0 || (live >= limit && when_full == WhenFull::Refuse) {
                return Ok(Joined::Full);
            }
            let excess = (live + 1).saturating_sub(limit);
            let evicted = if excess > 0 {
                let oldest = query_all(
                    tx,
                    "SELECT member FROM limited_set_members WHERE env = ?1 AND set_key = ?2 \
                     ORDER BY joined_at, member LIMIT ?3",
                    &[
                        set_params[0].clone(),
                        set_params[1].clone(),
                        Value::Integer(i64::try_from(excess).unwrap_or(i64::MAX)),
                    ],
                    |row| stored_key(row, "member"),
                )?;
                for gone in &oldest {
                    execute(
                        tx,
                        "DELETE FROM limited_set_members \
                         WHERE env = ?1 AND set_key = ?2 AND member = ?3",
                        &[set_params[0].clone(), set_params[1].clone(), key(gone)],
                    )?;
                }
                oldest
            } else {
                Vec::new()
            };
            execute(
                tx,
                "INSERT INTO limited_set_members (env, set_key, member, joined_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                &params,
            )?;
            Ok(Joined::Added { evicted })
        })
        .await
    }

    async fn leave(
        &self,
        env: Environment,
        set: &Key,
        member: &Key,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let params = vec![text(env_str(env)), key(set), key(member)];
        self.write(move |tx| {
            let gone = query_opt(
                tx,
                "DELETE FROM limited_set_members \
                 WHERE env = ?1 AND set_key = ?2 AND member = ?3 RETURNING expires_at",
                &params,
                |row| rows::instant(row, "expires_at"),
            )?;
            Ok(gone.is_some_and(|expires_at| now < expires_at))
        })
        .await
    }

    async fn members(
        &self,
        env: Environment,
        set: &Key,
        now: OffsetDateTime,
    ) -> Result<Vec<SetMember>, StoreError> {
        let params = vec![text(env_str(env)), key(set), at(now)?];
        self.read(move |conn| {
            query_all(
                conn,
                "SELECT member, joined_at, expires_at FROM limited_set_members \
                 WHERE env = ?1 AND set_key = ?2 AND expires_at > ?3 ORDER BY joined_at, member",
                &params,
                |row| {
                    Ok(SetMember {
                        member: stored_key(row, "member")?,
                        joined_at: rows::instant(row, "joined_at")?,
                        expires_at: rows::instant(row, "expires_at")?,
                    })
                },
            )
        })
        .await
    }

    async fn clear(
        &self,
        env: Environment,
        set: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let params = vec![text(env_str(env)), key(set), at(now)?];
        self.write(move |tx| {
            let live = query_opt(
                tx,
                "SELECT count(*) AS n FROM limited_set_members \
                 WHERE env = ?1 AND set_key = ?2 AND expires_at > ?3",
                &params,
                |row| rows::count(row, "n"),
            )?
            .unwrap_or(0);
            execute(
                tx,
                "DELETE FROM limited_set_members WHERE env = ?1 AND set_key = ?2",
                &params[..2],
            )?;
            Ok(live)
        })
        .await
    }
}
