//! The atomic primitives on PostgreSQL: take-once entries, refresh token rotation and
//! revocation, counters, markers and steps.

use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::events::{EventValues, event_ctes};
use super::rows;
use super::{PostgresStore, begin, db_error, env_str, execute, query, query_opt, retrying};
use crate::model::event::NewEvent;
use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};
use crate::secret::Digest;
use crate::store::{
    Advance, Counted, CounterStore, FamilyId, Key, Mark, OneTimeEntry, OneTimeStore, RefreshState,
    RefreshTokenRecord, RefreshTokenStore, ReplayStore, Rotation, StoreError, Take,
};

const REFRESH_COLUMNS: &str = "env, digest, family, generation, org, user_id, client_id, scope, \
     auth_time, issued_at, expires_at, family_expires_at, state, state_at, successor";

/// The column values of a refresh token row, in [`REFRESH_COLUMNS`] order.
struct RefreshValues<'a> {
    env: &'static str,
    digest: &'a [u8],
    family: Uuid,
    generation: i64,
    org: &'a str,
    user_id: Uuid,
    client_id: Uuid,
    scope: &'a str,
    auth_time: OffsetDateTime,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    family_expires_at: OffsetDateTime,
    state: &'static str,
    state_at: Option<OffsetDateTime>,
    successor: Option<&'a [u8]>,
}

impl<'a> RefreshValues<'a> {
    fn new(env: Environment, r: &'a RefreshTokenRecord) -> Self {
        let (state_at, successor) = match &r.state {
            RefreshState::Active => (None, None),
            RefreshState::Rotated { at, successor } => (Some(*at), Some(&successor.as_bytes()[..])),
            RefreshState::Revoked { at } => (Some(*at), None),
        };
        Self {
            env: env_str(env),
            digest: &r.digest.as_bytes()[..],
            family: r.family.0,
            generation: i64::from(r.generation),
            org: r.org.as_str(),
            user_id: r.user_id.as_uuid(),
            client_id: r.client_id.as_uuid(),
            scope: &r.scope,
            auth_time: r.auth_time,
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            family_expires_at: r.family_expires_at,
            state: rows::state_str(&r.state),
            state_at,
            successor,
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 15] {
        [
            &self.env,
            &self.digest,
            &self.family,
            &self.generation,
            &self.org,
            &self.user_id,
            &self.client_id,
            &self.scope,
            &self.auth_time,
            &self.issued_at,
            &self.expires_at,
            &self.family_expires_at,
            &self.state,
            &self.state_at,
            &self.successor,
        ]
    }
}

/// Which tokens a revocation reaches.
enum Revoke<'a> {
    Family(FamilyId),
    User(&'a OrgDomain, UserId),
    Client(ClientId),
}

impl PostgresStore {
    /// Inserts a token and, if new, its family's lock row: one statement, so both or neither.
    async fn insert_refresh_token_once(
        &self,
        env: Environment,
        record: &RefreshTokenRecord,
    ) -> Result<(), StoreError> {
        let values = RefreshValues::new(env, record);
        let sql = self.sql(&format!(
            "WITH family AS (\
                 INSERT INTO {{schema}}.refresh_families (env, family, family_expires_at) \
                 VALUES ($1, $3, $12) ON CONFLICT (env, family) DO NOTHING) \
             INSERT INTO {{schema}}.refresh_tokens ({REFRESH_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ));
        let client = self.client().await?;
        execute(&client, &sql, &values.params()).await.map(drop)
    }

    /// The stored token, read with `client`.
    async fn token<C: deadpool_postgres::GenericClient>(
        &self,
        client: &C,
        env: Environment,
        digest: &Digest,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let sql = self.sql(&format!(
            "SELECT {REFRESH_COLUMNS} FROM {{schema}}.refresh_tokens \
             WHERE env = $1 AND digest = $2"
        ));
        query_opt(client, &sql, &[&env_str(env), &&digest.as_bytes()[..]])
            .await?
            .as_ref()
            .map(rows::refresh_token)
            .transpose()
    }

    /// One statement, so one round trip and its own transaction: lock the family row, rotate
    /// the old token if it is still active and unexpired, insert the successor only if it did.
    /// A rotation that waits for the family lock (held by a revocation or another rotation)
    /// re-checks the old token's row as committed by the holder, and finds it no longer active.
    /// One rotation attempt; with `event`, the event and its counts are written by the same
    /// statement, only when the rotation happens.
    async fn rotate_once(
        &self,
        env: Environment,
        old: &Digest,
        successor: &RefreshTokenRecord,
        now: OffsetDateTime,
        event: Option<&NewEvent>,
    ) -> Result<Rotation, StoreError> {
        let values = RefreshValues::new(env, successor);
        let old_digest = &old.as_bytes()[..];
        let event = event.map(EventValues::new).transpose()?;
        let client = self.client().await?;
        if successor.state == RefreshState::Active {
            let audit = match event {
                Some(_) => format!(", {}", event_ctes(18, "EXISTS (SELECT 1 FROM new)")),
                None => String::new(),
            };
            // The old token is found by its primary key only: `IS NOT DISTINCT FROM` keeps the
            // family out of the index choice (an index scan by family would read every token
            // the family ever had), and the uncorrelated `EXISTS` takes the family lock first.
            let sql = self.sql(&format!(
                "WITH lock AS (\
                     SELECT family FROM {{schema}}.refresh_families \
                     WHERE env = $1 AND family = $3 FOR UPDATE), \
                 old AS (\
                     UPDATE {{schema}}.refresh_tokens \
                     SET state = 'rotated', state_at = $16, successor = $2 \
                     WHERE env = $1 AND digest = $17 AND EXISTS (SELECT 1 FROM lock) \
                     AND family IS NOT DISTINCT FROM $3 \
                     AND state = 'active' AND expires_at > $16 \
                     RETURNING {REFRESH_COLUMNS}), \
                 new AS (\
                     INSERT INTO {{schema}}.refresh_tokens ({REFRESH_COLUMNS}) \
                     SELECT CAST($1 AS TEXT), CAST($2 AS BYTEA), CAST($3 AS UUID), \
                     CAST($4 AS BIGINT), CAST($5 AS TEXT), CAST($6 AS UUID), CAST($7 AS UUID), \
                     CAST($8 AS TEXT), CAST($9 AS TIMESTAMPTZ), CAST($10 AS TIMESTAMPTZ), \
                     CAST($11 AS TIMESTAMPTZ), CAST($12 AS TIMESTAMPTZ), CAST($13 AS TEXT), \
                     CAST($14 AS TIMESTAMPTZ), CAST($15 AS BYTEA) \
                     WHERE EXISTS (SELECT 1 FROM old) RETURNING 1){audit} \
                 SELECT {REFRESH_COLUMNS} FROM old"
            ));
            let p = values.params();
            let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(25);
            params.extend_from_slice(&p);
            params.push(&now);
            params.push(&old_digest);
            if let Some(event) = &event {
                params.extend_from_slice(&event.params());
            }
            // A taken successor digest fails the whole statement: AlreadyExists "digest".
            if let Some(row) = query_opt(&client, &sql, &params).await? {
                let mut before = rows::refresh_token(&row)?;
                before.state = RefreshState::Active;
                return Ok(Rotation::Rotated(before));
            }
        }
        // Nothing written; the stored token says why.
        Ok(match self.token(&client, env, old).await? {
            None => Rotation::Missing,
            Some(r) if r.state != RefreshState::Active => Rotation::NotCurrent(r),
            Some(r) if now >= r.expires_at => Rotation::Expired(r),
            // Active and unexpired, yet not rotated: the successor is not active, or claims
            // another family.
            Some(_) => return Err(StoreError::Precondition),
        })
    }

    async fn revoke_once(
        &self,
        env: Environment,
        which: &Revoke<'_>,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let env = env_str(env);
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // 1. Lock every family concerned, in one fixed order (no deadlock between two
        //    revocations). Rotations in flight finish first; later ones wait for the commit.
        let lock = |families_of: &str| {
            self.sql(&format!(
                "SELECT f.family FROM {{schema}}.refresh_families f \
                 WHERE f.env = $1 AND {families_of} ORDER BY f.family FOR UPDATE"
            ))
        };
        let locked = match which {
            Revoke::Family(family) => {
                query(&tx, &lock("f.family = $2"), &[&env, &family.0]).await?
            }
            Revoke::User(org, user) => {
                let sql = lock(
                    "f.family IN (SELECT t.family FROM {schema}.refresh_tokens t \
                     WHERE t.env = $1 AND t.org = $2 AND t.user_id = $3)",
                );
                query(&tx, &sql, &[&env, &org.as_str(), &user.as_uuid()]).await?
            }
            Revoke::Client(client_id) => {
                let sql = lock(
                    "f.family IN (SELECT t.family FROM {schema}.refresh_tokens t \
                     WHERE t.env = $1 AND t.client_id = $2)",
                );
                query(&tx, &sql, &[&env, &client_id.as_uuid()]).await?
            }
        };
        let families = locked
            .iter()
            .map(|row| rows::get::<Uuid>(row, "family"))
            .collect::<Result<Vec<_>, _>>()?;
        if families.is_empty() {
            return Ok(0);
        }
        // 2. A new statement, so it sees every successor committed before the locks were ours.
        let sql = self.sql(
            "UPDATE {schema}.refresh_tokens SET state = 'revoked', state_at = $3, successor = NULL \
             WHERE env = $1 AND family = ANY($2) AND state <> 'revoked'",
        );
        let changed = execute(&tx, &sql, &[&env, &families, &now]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(changed)
    }
}

impl OneTimeStore for PostgresStore {
    async fn put_once(
        &self,
        env: Environment,
        key: &Key,
        entry: &OneTimeEntry,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // A forgotten entry (past retain_until) is replaced in place; a live one is kept.
        let sql = self.sql(
            "INSERT INTO {schema}.one_time AS o (env, key, payload, expires_at, retain_until) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (env, key) DO UPDATE SET payload = EXCLUDED.payload, \
             expires_at = EXCLUDED.expires_at, retain_until = EXCLUDED.retain_until, \
             taken_at = NULL \
             WHERE o.retain_until <= $6",
        );
        let client = self.client().await?;
        let written = retrying!(execute(
            &client,
            &sql,
            &[
                &env_str(env),
                &key.as_str().as_bytes(),
                &entry.payload,
                &entry.expires_at,
                &entry.retain_until,
                &now,
            ],
        ))?;
        if written == 0 {
            return Err(StoreError::AlreadyExists { key: "key" });
        }
        Ok(())
    }

    async fn peek_once(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let env = env_str(env);
        let key = key.as_str().as_bytes();
        let client = self.client().await?;
        let read = self.sql(
            "SELECT payload FROM {schema}.one_time WHERE env = $1 AND key = $2 \
             AND taken_at IS NULL AND expires_at > $3 AND retain_until > $3",
        );
        match query_opt(&client, &read, &[&env, &key, &now]).await? {
            Some(row) => Ok(Some(rows::get(&row, "payload")?)),
            None => Ok(None),
        }
    }

    async fn take(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<Take, StoreError> {
        let env = env_str(env);
        let key = key.as_str().as_bytes();
        let client = self.client().await?;
        // The take itself: one conditional UPDATE. Concurrent takers queue on the row lock and
        // re-check `taken_at IS NULL` on the winner's committed row.
        let take = self.sql(
            "UPDATE {schema}.one_time SET taken_at = $3 \
             WHERE env = $1 AND key = $2 AND taken_at IS NULL \
             AND expires_at > $3 AND retain_until > $3 RETURNING payload",
        );
        let taken = retrying!(query_opt(&client, &take, &[&env, &key, &now]))?;
        if let Some(row) = taken {
            return Ok(Take::Taken(rows::get(&row, "payload")?));
        }
        // Not taken by this call: a read tells why.
        let read = self.sql(
            "SELECT payload, expires_at, retain_until, taken_at FROM {schema}.one_time \
             WHERE env = $1 AND key = $2",
        );
        let Some(row) = query_opt(&client, &read, &[&env, &key]).await? else {
            return Ok(Take::Missing);
        };
        let retain_until: OffsetDateTime = rows::get(&row, "retain_until")?;
        let expires_at: OffsetDateTime = rows::get(&row, "expires_at")?;
        let taken_at: Option<OffsetDateTime> = rows::get(&row, "taken_at")?;
        Ok(match taken_at {
            _ if now >= retain_until => Take::Missing,
            Some(taken_at) => Take::AlreadyTaken {
                payload: rows::get(&row, "payload")?,
                taken_at,
            },
            None if now >= expires_at => Take::Expired,
            // Put after the UPDATE looked: it was missing when this call ran.
            None => Take::Missing,
        })
    }
}

impl RefreshTokenStore for PostgresStore {
    async fn insert_refresh_token(
        &self,
        env: Environment,
        record: &RefreshTokenRecord,
    ) -> Result<(), StoreError> {
        retrying!(self.insert_refresh_token_once(env, record))
    }

    async fn refresh_token(
        &self,
        env: Environment,
        digest: &Digest,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let client = self.client().await?;
        self.token(&client, env, digest).await
    }

    async fn rotate_refresh_token(
        &self,
        env: Environment,
        old: &Digest,
        successor: &RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        retrying!(self.rotate_once(env, old, successor, now, None))
    }

    async fn rotate_refresh_token_audited(
        &self,
        env: Environment,
        old: &Digest,
        successor: &RefreshTokenRecord,
        now: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Rotation, StoreError> {
        retrying!(self.rotate_once(env, old, successor, now, Some(event)))
    }

    async fn revoke_family(
        &self,
        env: Environment,
        family: FamilyId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        retrying!(self.revoke_once(env, &Revoke::Family(family), now))
    }

    async fn revoke_user_refresh_tokens(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        retrying!(self.revoke_once(env, &Revoke::User(org, user_id), now))
    }

    async fn revoke_client_refresh_tokens(
        &self,
        env: Environment,
        client_id: ClientId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        retrying!(self.revoke_once(env, &Revoke::Client(client_id), now))
    }
}

impl CounterStore for PostgresStore {
    async fn increment(
        &self,
        env: Environment,
        key: &Key,
        limit: u64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Counted, StoreError> {
        if limit == 0 {
            return Ok(Counted::AtLimit(self.count(env, key, now).await?));
        }
        // Values never exceed the limit, so a limit beyond BIGINT is never reached.
        let bound = i64::try_from(limit).unwrap_or(i64::MAX);
        let env = env_str(env);
        let key = key.as_str().as_bytes();
        // One upsert: a missing, expired or zero counter restarts at 1 with the new window; a
        // live one below the limit gains 1; a live one at the limit is left alone (no row back).
        let sql = self.sql(
            "INSERT INTO {schema}.counters AS c (env, key, value, expires_at) \
             VALUES ($1, $2, 1, $3) \
             ON CONFLICT (env, key) DO UPDATE SET \
             value = CASE WHEN c.expires_at <= $4 OR c.value = 0 THEN 1 ELSE c.value + 1 END, \
             expires_at = CASE WHEN c.expires_at <= $4 OR c.value = 0 THEN EXCLUDED.expires_at \
                          ELSE c.expires_at END \
             WHERE c.expires_at <= $4 OR c.value < $5 \
             RETURNING c.value",
        );
        let client = self.client().await?;
        let row = retrying!(query_opt(
            &client,
            &sql,
            &[&env, &key, &expires_at, &now, &bound]
        ))?;
        if let Some(row) = row {
            return Ok(Counted::Incremented(rows::count(&row, "value")?));
        }
        // At the limit. The value read may have moved since (a decrement, a reset): the answer
        // stays "at the limit", with the limit as the floor of what it reports.
        let read = self.sql(
            "SELECT value FROM {schema}.counters WHERE env = $1 AND key = $2 AND expires_at > $3",
        );
        let value = match query_opt(&client, &read, &[&env, &key, &now]).await? {
            Some(row) => rows::count(&row, "value")?,
            None => 0,
        };
        Ok(Counted::AtLimit(value.max(limit)))
    }

    async fn decrement(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let sql = self.sql(
            "UPDATE {schema}.counters \
             SET value = CASE WHEN value > 0 THEN value - 1 ELSE 0 END \
             WHERE env = $1 AND key = $2 AND expires_at > $3 RETURNING value",
        );
        let client = self.client().await?;
        let row = retrying!(query_opt(
            &client,
            &sql,
            &[&env_str(env), &key.as_str().as_bytes(), &now]
        ))?;
        row.map_or(Ok(0), |row| rows::count(&row, "value"))
    }

    async fn count(
        &self,
        env: Environment,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let sql = self.sql(
            "SELECT value FROM {schema}.counters WHERE env = $1 AND key = $2 AND expires_at > $3",
        );
        let client = self.client().await?;
        let row = query_opt(
            &client,
            &sql,
            &[&env_str(env), &key.as_str().as_bytes(), &now],
        )
        .await?;
        row.map_or(Ok(0), |row| rows::count(&row, "value"))
    }

    async fn reset(&self, env: Environment, key: &Key) -> Result<(), StoreError> {
        let sql = self.sql("DELETE FROM {schema}.counters WHERE env = $1 AND key = $2");
        let client = self.client().await?;
        retrying!(execute(
            &client,
            &sql,
            &[&env_str(env), &key.as_str().as_bytes()]
        ))
        .map(drop)
    }
}

impl ReplayStore for PostgresStore {
    async fn mark_once(
        &self,
        env: Environment,
        key: &Key,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Mark, StoreError> {
        // One upsert: a new key, or one whose marker expired, is (re)marked; a live one is not.
        let sql = self.sql(
            "INSERT INTO {schema}.marks AS m (env, key, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (env, key) DO UPDATE SET expires_at = EXCLUDED.expires_at \
             WHERE m.expires_at <= $4",
        );
        let client = self.client().await?;
        let written = retrying!(execute(
            &client,
            &sql,
            &[&env_str(env), &key.as_str().as_bytes(), &expires_at, &now]
        ))?;
        Ok(if written == 0 {
            Mark::Replay
        } else {
            Mark::First
        })
    }

    async fn advance(
        &self,
        env: Environment,
        key: &Key,
        value: u64,
    ) -> Result<Advance, StoreError> {
        let env = env_str(env);
        let key = key.as_str().as_bytes();
        // NUMERIC holds every u64; it travels as text to stay exact.
        let text = value.to_string();
        let sql = self.sql(
            "INSERT INTO {schema}.steps AS s (env, key, value) \
             VALUES ($1, $2, CAST(CAST($3 AS TEXT) AS NUMERIC)) \
             ON CONFLICT (env, key) DO UPDATE SET value = EXCLUDED.value \
             WHERE s.value < EXCLUDED.value",
        );
        let client = self.client().await?;
        let written = retrying!(execute(&client, &sql, &[&env, &key, &text]))?;
        if written == 1 {
            return Ok(Advance::Advanced);
        }
        let read = self.sql(
            "SELECT CAST(value AS TEXT) AS value FROM {schema}.steps WHERE env = $1 AND key = $2",
        );
        let stored = match query_opt(&client, &read, &[&env, &key]).await? {
            Some(row) => rows::numeric_u64(&row, "value")?,
            // Not written, yet not there: impossible short of a concurrent purge of steps
            // (which nothing does); report the value as the stored one.
            None => value,
        };
        Ok(Advance::Stale(stored))
    }
}
