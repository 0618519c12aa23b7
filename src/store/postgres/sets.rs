//! [`PostgresStore`]'s counted sets. A join is one `READ COMMITTED` transaction that first
//! upserts its set's row in `limited_sets`, which locks it: joins of one set queue on that row,
//! so the count they read is the count they act on; joins of different sets never wait for
//! each other. At `SERIALIZABLE` a lost race is a serialization failure, retried.

use time::OffsetDateTime;

use super::rows;
use super::{PostgresStore, begin, db_error, env_str, execute, query, query_opt, retrying};
use crate::model::ids::Environment;
use crate::store::sets::{Joined, LimitedSetStore, SetMember, WhenFull};
use crate::store::{Key, StoreError};

impl PostgresStore {
    /// One run of `join`, in one transaction.
    #[allow(clippy::too_many_arguments)] // the arguments of `LimitedSetStore::join`
    async fn join_once(
        &self,
        env: &str,
        set: &[u8],
        member: &[u8],
        limit: i64,
        when_full: WhenFull,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Joined, StoreError> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let lock = self.sql(
            "INSERT INTO {schema}.limited_sets (env, set_key) VALUES ($1, $2) \
             ON CONFLICT (env, set_key) DO UPDATE SET set_key = EXCLUDED.set_key",
        );
        execute(&tx, &lock, &[&env, &set]).await?;
        let expired = self.sql(
            "DELETE FROM {schema}.limited_set_members \
             WHERE env = $1 AND set_key = $2 AND expires_at <= $3",
        );
        execute(&tx, &expired, &[&env, &set, &now]).await?;
        let refresh = self.sql(
            "UPDATE {schema}.limited_set_members SET expires_at = GREATEST(expires_at, $4) \
             WHERE env = $1 AND set_key = $2 AND member = $3",
        );
        if execute(&tx, &refresh, &[&env, &set, &member, &expires_at]).await? == 1 {
            tx.commit().await.map_err(db_error)?;
            return Ok(Joined::Refreshed);
        }
        let count = self.sql(
            "SELECT count(*) AS n FROM {schema}.limited_set_members \
             WHERE env = $1 AND set_key = $2",
        );
        let row = query_opt(&tx, &count, &[&env, &set])
            .await?
            .ok_or(StoreError::Precondition)?;
        let live: i64 = rows::get(&row, "n")?;
        if limit == 0 || (live >= limit && when_full == WhenFull::Refuse) {
            tx.commit().await.map_err(db_error)?;
            return Ok(Joined::Full);
        }
        let excess = (live + 1 - limit).max(0);
        let mut evicted = Vec::new();
        if excess > 0 {
            let evict = self.sql(
                "DELETE FROM {schema}.limited_set_members m USING ( \
                   SELECT member FROM {schema}.limited_set_members \
                   WHERE env = $1 AND set_key = $2 ORDER BY joined_at, member LIMIT $3 \
                 ) oldest \
                 WHERE m.env = $1 AND m.set_key = $2 AND m.member = oldest.member \
                 RETURNING m.member, m.joined_at",
            );
            let mut gone: Vec<(OffsetDateTime, Vec<u8>)> = Vec::new();
            for row in query(&tx, &evict, &[&env, &set, &excess]).await? {
                gone.push((rows::get(&row, "joined_at")?, rows::get(&row, "member")?));
            }
            gone.sort();
            for (_, key) in gone {
                evicted.push(stored_key(key)?);
            }
        }
        let insert = self.sql(
            "INSERT INTO {schema}.limited_set_members (env, set_key, member, joined_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        );
        execute(&tx, &insert, &[&env, &set, &member, &now, &expires_at]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Joined::Added { evicted })
    }
}

/// A key as the set stored it (the bytes of its string).
fn stored_key(bytes: Vec<u8>) -> Result<Key, StoreError> {
    String::from_utf8(bytes)
        .map(Key::from_stored)
        .map_err(StoreError::backend)
}

impl LimitedSetStore for PostgresStore {
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
        // A set never holds more than BIGINT members, so a larger limit is never reached.
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (env, set, member) = (
            env_str(env),
            set.as_str().as_bytes(),
            member.as_str().as_bytes(),
        );
        retrying!(self.join_once(env, set, member, limit, when_full, expires_at, now))
    }

    async fn leave(
        &self,
        env: Environment,
        set: &Key,
        member: &Key,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let sql = self.sql(
            "DELETE FROM {schema}.limited_set_members \
             WHERE env = $1 AND set_key = $2 AND member = $3 RETURNING expires_at",
        );
        let (env, set, member) = (
            env_str(env),
            set.as_str().as_bytes(),
            member.as_str().as_bytes(),
        );
        let client = self.client().await?;
        let row = retrying!(query_opt(&client, &sql, &[&env, &set, &member]))?;
        match row {
            Some(row) => Ok(now < rows::get::<OffsetDateTime>(&row, "expires_at")?),
            None => Ok(false),
        }
    }

    async fn members(
        &self,
        env: Environment,
        set: &Key,
        now: OffsetDateTime,
    ) -> Result<Vec<SetMember>, StoreError> {
        let sql = self.sql(
            "SELECT member, joined_at, expires_at FROM {schema}.limited_set_members \
             WHERE env = $1 AND set_key = $2 AND expires_at > $3 ORDER BY joined_at, member",
        );
        let (env, set) = (env_str(env), set.as_str().as_bytes());
        let client = self.client().await?;
        let found = retrying!(query(&client, &sql, &[&env, &set, &now]))?;
        found
            .iter()
            .map(|row| {
                Ok(SetMember {
                    member: stored_key(rows::get(row, "member")?)?,
                    joined_at: rows::get(row, "joined_at")?,
                    expires_at: rows::get(row, "expires_at")?,
                })
            })
            .collect()
    }

    async fn clear(
        &self,
        env: Environment,
        set: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        // Deleting the set's row cascades to its members, in one statement.
        let sql = self.sql(
            "WITH gone AS (DELETE FROM {schema}.limited_set_members \
               WHERE env = $1 AND set_key = $2 RETURNING expires_at), \
             dropped AS (DELETE FROM {schema}.limited_sets WHERE env = $1 AND set_key = $2) \
             SELECT count(*) FILTER (WHERE expires_at > $3) AS n FROM gone",
        );
        let (env, set) = (env_str(env), set.as_str().as_bytes());
        let client = self.client().await?;
        let row = retrying!(query_opt(&client, &sql, &[&env, &set, &now]))?
            .ok_or(StoreError::Precondition)?;
        rows::count(&row, "n")
    }
}
