//! The atomic primitives on SQLite: take-once entries, refresh token rotation and revocation,
//! counters, markers and steps. Every write is one `BEGIN IMMEDIATE` transaction: it holds the
//! database's write lock from its first statement to its commit, so a read inside it and the
//! write that depends on it cannot interleave with any other write.

use rusqlite::types::Value;
use time::OffsetDateTime;

use super::directory::{event_values, insert_event};
use super::rows::{self, at, key, text, uuid};
use super::{SqliteStore, env_str, execute, query_opt};
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
fn refresh_values(env: Environment, r: &RefreshTokenRecord) -> Result<Vec<Value>, StoreError> {
    let (state_at, successor) = match &r.state {
        RefreshState::Active => (Value::Null, Value::Null),
        RefreshState::Rotated {
            at: when,
            successor,
        } => (at(*when)?, rows::blob(successor.as_bytes())),
        RefreshState::Revoked { at: when } => (at(*when)?, Value::Null),
    };
    Ok(vec![
        text(env_str(env)),
        rows::blob(r.digest.as_bytes()),
        uuid(r.family.0),
        Value::Integer(i64::from(r.generation)),
        text(r.org.as_str()),
        uuid(r.user_id.as_uuid()),
        uuid(r.client_id.as_uuid()),
        text(&r.scope),
        at(r.auth_time)?,
        at(r.issued_at)?,
        at(r.expires_at)?,
        at(r.family_expires_at)?,
        text(rows::state_str(&r.state)),
        state_at,
        successor,
    ])
}

fn insert_refresh_sql() -> String {
    format!(
        "INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    )
}

fn select_refresh_sql() -> String {
    format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE env = ?1 AND digest = ?2")
}

/// Which tokens a revocation reaches: the `WHERE` clause choosing their families, after `?1`
/// (env) and `?2` (now).
fn revoke_families(which: &str) -> String {
    format!(
        "UPDATE refresh_tokens SET state = 'revoked', state_at = ?2, successor = NULL \
         WHERE env = ?1 AND state <> 'revoked' AND family IN (\
             SELECT family FROM refresh_tokens WHERE env = ?1 AND {which})"
    )
}

impl SqliteStore {
    /// One revocation: a single `UPDATE` in its own write transaction.
    async fn revoke(&self, sql: String, params: Vec<Value>) -> Result<u64, StoreError> {
        self.write(move |tx| execute(tx, &sql, &params)).await
    }
}

impl OneTimeStore for SqliteStore {
    async fn put_once(
        &self,
        env: Environment,
        key_: &Key,
        entry: &OneTimeEntry,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // A forgotten entry (past retain_until) is replaced in place; a live one is kept.
        let params = vec![
            text(env_str(env)),
            key(key_),
            Value::Blob(entry.payload.clone()),
            at(entry.expires_at)?,
            at(entry.retain_until)?,
            at(now)?,
        ];
        let written = self
            .write(move |tx| {
                execute(
                    tx,
                    "INSERT INTO one_time (env, key, payload, expires_at, retain_until) \
                     VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (env, key) DO UPDATE SET payload = excluded.payload, \
                     expires_at = excluded.expires_at, retain_until = excluded.retain_until, \
                     taken_at = NULL \
                     WHERE one_time.retain_until <= ?6",
                    &params,
                )
            })
            .await?;
        if written == 0 {
            return Err(StoreError::AlreadyExists { key: "key" });
        }
        Ok(())
    }

    async fn peek_once(
        &self,
        env: Environment,
        key_: &Key,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let params = vec![text(env_str(env)), key(key_), at(now)?];
        self.read(move |conn| {
            query_opt(
                conn,
                "SELECT payload FROM one_time WHERE env = ?1 AND key = ?2 \
                 AND taken_at IS NULL AND expires_at > ?3 AND retain_until > ?3",
                &params,
                |row| Ok(rows::bytes(row, "payload")?.to_vec()),
            )
        })
        .await
    }

    async fn take(
        &self,
        env: Environment,
        key_: &Key,
        now: OffsetDateTime,
    ) -> Result<Take, StoreError> {
        let params = vec![text(env_str(env)), key(key_), at(now)?];
        let now = rows::micros(now)?;
        self.write(move |tx| {
            // The take itself: one conditional UPDATE.
            let taken = query_opt(
                tx,
                "UPDATE one_time SET taken_at = ?3 \
                 WHERE env = ?1 AND key = ?2 AND taken_at IS NULL \
                 AND expires_at > ?3 AND retain_until > ?3 RETURNING payload",
                &params,
                |row| Ok(rows::bytes(row, "payload")?.to_vec()),
            )?;
            if let Some(payload) = taken {
                return Ok(Take::Taken(payload));
            }
            // Not taken: a read in the same transaction tells why.
            let stored = query_opt(
                tx,
                "SELECT payload, expires_at, retain_until, taken_at FROM one_time \
                 WHERE env = ?1 AND key = ?2",
                &params[..2],
                |row| {
                    Ok((
                        rows::bytes(row, "payload")?.to_vec(),
                        rows::integer(row, "expires_at")?,
                        rows::integer(row, "retain_until")?,
                        rows::opt_instant(row, "taken_at")?,
                    ))
                },
            )?;
            Ok(match stored {
                None => Take::Missing,
                Some((_, _, retain_until, _)) if now >= retain_until => Take::Missing,
                Some((payload, _, _, Some(taken_at))) => Take::AlreadyTaken { payload, taken_at },
                Some((_, expires_at, _, None)) if now >= expires_at => Take::Expired,
                // Untaken and live, yet the UPDATE did not take it: not what SQLite does.
                Some(_) => return Err(StoreError::backend(TakeInconsistent)),
            })
        })
        .await
    }
}

/// The take-once UPDATE and the read after it disagree (impossible inside one write
/// transaction).
#[derive(Debug, thiserror::Error)]
#[error("a takeable one-time entry was not taken")]
struct TakeInconsistent;

impl SqliteStore {
    /// One rotation in one transaction; with `event`, the event is appended in it too, only
    /// when the rotation happens.
    async fn rotate(
        &self,
        env: Environment,
        old: &Digest,
        successor: &RefreshTokenRecord,
        now: OffsetDateTime,
        event: Option<&NewEvent>,
    ) -> Result<Rotation, StoreError> {
        let values = refresh_values(env, successor)?;
        let event = event.map(|e| event_values(env, e)).transpose()?;
        let family = successor.family;
        let active = successor.state == RefreshState::Active;
        let key = vec![text(env_str(env)), rows::blob(old.as_bytes())];
        let rotate = vec![
            key[0].clone(),
            key[1].clone(),
            at(now)?,
            rows::blob(successor.digest.as_bytes()),
        ];
        let now = rows::micros(now)?;
        self.write(move |tx| {
            let Some(stored) = query_opt(tx, &select_refresh_sql(), &key, rows::refresh_token)?
            else {
                return Ok(Rotation::Missing);
            };
            if stored.state != RefreshState::Active {
                return Ok(Rotation::NotCurrent(stored));
            }
            if now >= rows::micros(stored.expires_at)? {
                return Ok(Rotation::Expired(stored));
            }
            if !active || family != stored.family {
                // The successor must be active and of the same family.
                return Err(StoreError::Precondition);
            }
            let changed = execute(
                tx,
                "UPDATE refresh_tokens SET state = 'rotated', state_at = ?3, successor = ?4 \
                 WHERE env = ?1 AND digest = ?2 AND state = 'active' AND expires_at > ?3",
                &rotate,
            )?;
            if changed != 1 {
                return Err(StoreError::backend(RotationInconsistent));
            }
            // A taken successor digest fails here (AlreadyExists "digest") and the whole
            // transaction, the UPDATE above included, rolls back.
            execute(tx, &insert_refresh_sql(), &values)?;
            if let Some(event) = &event {
                insert_event(tx, event)?;
            }
            Ok(Rotation::Rotated(stored))
        })
        .await
    }
}

impl RefreshTokenStore for SqliteStore {
    async fn insert_refresh_token(
        &self,
        env: Environment,
        record: &RefreshTokenRecord,
    ) -> Result<(), StoreError> {
        let values = refresh_values(env, record)?;
        self.write(move |tx| execute(tx, &insert_refresh_sql(), &values).map(drop))
            .await
    }

    async fn refresh_token(
        &self,
        env: Environment,
        digest: &Digest,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let params = vec![text(env_str(env)), rows::blob(digest.as_bytes())];
        self.read(move |conn| query_opt(conn, &select_refresh_sql(), &params, rows::refresh_token))
            .await
    }

    async fn rotate_refresh_token(
        &self,
        env: Environment,
        old: &Digest,
        successor: &RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        self.rotate(env, old, successor, now, None).await
    }

    async fn rotate_refresh_token_audited(
        &self,
        env: Environment,
        old: &Digest,
        successor: &RefreshTokenRecord,
        now: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Rotation, StoreError> {
        self.rotate(env, old, successor, now, Some(event)).await
    }

    async fn revoke_family(
        &self,
        env: Environment,
        family: FamilyId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.revoke(
            revoke_families("family = ?3"),
            vec![text(env_str(env)), at(now)?, uuid(family.0)],
        )
        .await
    }

    async fn revoke_user_refresh_tokens(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.revoke(
            revoke_families("org = ?3 AND user_id = ?4"),
            vec![
                text(env_str(env)),
                at(now)?,
                text(org.as_str()),
                uuid(user_id.as_uuid()),
            ],
        )
        .await
    }

    async fn revoke_client_refresh_tokens(
        &self,
        env: Environment,
        client_id: ClientId,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.revoke(
            revoke_families("client_id = ?3"),
            vec![text(env_str(env)), at(now)?, uuid(client_id.as_uuid())],
        )
        .await
    }
}

/// The rotation's UPDATE changed no row right after the same transaction read the token as
/// active (impossible inside one write transaction).
#[derive(Debug, thiserror::Error)]
#[error("an active refresh token could not be rotated")]
struct RotationInconsistent;

impl CounterStore for SqliteStore {
    async fn increment(
        &self,
        env: Environment,
        key_: &Key,
        limit: u64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Counted, StoreError> {
        if limit == 0 {
            return Ok(Counted::AtLimit(self.count(env, key_, now).await?));
        }
        // Values never exceed the limit, so a limit beyond INTEGER is never reached.
        let bound = i64::try_from(limit).unwrap_or(i64::MAX);
        let params = vec![
            text(env_str(env)),
            key(key_),
            at(expires_at)?,
            at(now)?,
            Value::Integer(bound),
        ];
        self.write(move |tx| {
            // One upsert: a missing, expired or zero counter restarts at 1 with the new window;
            // a live one below the limit gains 1; a live one at the limit is left alone (no row
            // back).
            let incremented = query_opt(
                tx,
                "INSERT INTO counters (env, key, value, expires_at) VALUES (?1, ?2, 1, ?3) \
                 ON CONFLICT (env, key) DO UPDATE SET \
                 value = CASE WHEN counters.expires_at <= ?4 OR counters.value = 0 THEN 1 \
                         ELSE counters.value + 1 END, \
                 expires_at = CASE WHEN counters.expires_at <= ?4 OR counters.value = 0 \
                              THEN excluded.expires_at ELSE counters.expires_at END \
                 WHERE counters.expires_at <= ?4 OR counters.value < ?5 \
                 RETURNING value",
                &params,
                |row| rows::count(row, "value"),
            )?;
            if let Some(value) = incremented {
                return Ok(Counted::Incremented(value));
            }
            // At the limit, read in the same transaction.
            let value = query_opt(
                tx,
                "SELECT value FROM counters WHERE env = ?1 AND key = ?2 AND expires_at > ?3",
                &[params[0].clone(), params[1].clone(), params[3].clone()],
                |row| rows::count(row, "value"),
            )?
            .unwrap_or(0);
            Ok(Counted::AtLimit(value.max(limit)))
        })
        .await
    }

    async fn decrement(
        &self,
        env: Environment,
        key_: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let params = vec![text(env_str(env)), key(key_), at(now)?];
        self.write(move |tx| {
            query_opt(
                tx,
                "UPDATE counters SET value = CASE WHEN value > 0 THEN value - 1 ELSE 0 END \
                 WHERE env = ?1 AND key = ?2 AND expires_at > ?3 RETURNING value",
                &params,
                |row| rows::count(row, "value"),
            )
            .map(|value| value.unwrap_or(0))
        })
        .await
    }

    async fn count(
        &self,
        env: Environment,
        key_: &Key,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let params = vec![text(env_str(env)), key(key_), at(now)?];
        self.read(move |conn| {
            query_opt(
                conn,
                "SELECT value FROM counters WHERE env = ?1 AND key = ?2 AND expires_at > ?3",
                &params,
                |row| rows::count(row, "value"),
            )
            .map(|value| value.unwrap_or(0))
        })
        .await
    }

    async fn reset(&self, env: Environment, key_: &Key) -> Result<(), StoreError> {
        let params = vec![text(env_str(env)), key(key_)];
        self.write(move |tx| {
            execute(
                tx,
                "DELETE FROM counters WHERE env = ?1 AND key = ?2",
                &params,
            )
            .map(drop)
        })
        .await
    }
}

impl ReplayStore for SqliteStore {
    async fn mark_once(
        &self,
        env: Environment,
        key_: &Key,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Mark, StoreError> {
        let params = vec![text(env_str(env)), key(key_), at(expires_at)?, at(now)?];
        // One upsert: a new key, or one whose marker expired, is (re)marked; a live one is not.
        let written = self
            .write(move |tx| {
                execute(
                    tx,
                    "INSERT INTO marks (env, key, expires_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (env, key) DO UPDATE SET expires_at = excluded.expires_at \
                     WHERE marks.expires_at <= ?4",
                    &params,
                )
            })
            .await?;
        Ok(if written == 0 {
            Mark::Replay
        } else {
            Mark::First
        })
    }

    async fn advance(
        &self,
        env: Environment,
        key_: &Key,
        value: u64,
    ) -> Result<Advance, StoreError> {
        let params = vec![text(env_str(env)), key(key_), rows::step(value)];
        self.write(move |tx| {
            // Fixed-width digits: text order is numeric order.
            let written = execute(
                tx,
                "INSERT INTO steps (env, key, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (env, key) DO UPDATE SET value = excluded.value \
                 WHERE steps.value < excluded.value",
                &params,
            )?;
            if written == 1 {
                return Ok(Advance::Advanced);
            }
            let stored = query_opt(
                tx,
                "SELECT value FROM steps WHERE env = ?1 AND key = ?2",
                &params[..2],
                |row| rows::step_of(row, "value"),
            )?;
            // Not written, yet not there: impossible inside one write transaction; report the
            // value as the stored one.
            Ok(Advance::Stale(stored.unwrap_or(value)))
        })
        .await
    }
}
