//! [`SqliteStore`]'s sessions. Opening one is one `BEGIN IMMEDIATE` transaction on the writer:
//! the expired session with the same reuse key goes, then the live one is read or the new one
//! inserted — no other write comes between.

use rusqlite::Row;
use rusqlite::types::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::{self, at, blob, text, uuid};
use super::{SqliteStore, env_str, execute, query_all, query_opt};
use crate::model::ids::{Environment, OrgDomain, UserId};
use crate::model::session::ValidationFactor;
use crate::secret::Digest;
use crate::store::StoreError;
use crate::store::sessions::{Opened, SessionRecord, SessionStore};

const COLUMNS: &str = "id, org, user_id, token_digest, token_nonce, reuse_key, factors, amr, \
                       created_at, validated_at, idle_expires_at, absolute_expires_at";

fn session(row: &Row<'_>) -> Result<SessionRecord, StoreError> {
    let factors: Vec<ValidationFactor> =
        serde_json::from_str(rows::str(row, "factors")?).map_err(|e| rows::bad("factors", e))?;
    Ok(SessionRecord {
        id: rows::uuid_of(row, "id")?,
        org: OrgDomain::parse(rows::str(row, "org")?).map_err(|p| rows::bad("org", p))?,
        user_id: UserId::from_uuid(rows::uuid_of(row, "user_id")?),
        token_digest: rows::digest(row, "token_digest")?,
        token_nonce: rows::bytes(row, "token_nonce")?.to_vec(),
        reuse_key: rows::digest(row, "reuse_key")?,
        factors,
        amr: serde_json::from_str(rows::str(row, "amr")?).map_err(|e| rows::bad("amr", e))?,
        created_at: rows::instant(row, "created_at")?,
        validated_at: rows::instant(row, "validated_at")?,
        idle_expires_at: rows::instant(row, "idle_expires_at")?,
        absolute_expires_at: rows::instant(row, "absolute_expires_at")?,
    })
}

fn values(env: Environment, r: &SessionRecord) -> Result<Vec<Value>, StoreError> {
    let factors = serde_json::to_string(&r.factors).map_err(StoreError::backend)?;
    let amr = serde_json::to_string(&r.amr).map_err(StoreError::backend)?;
    Ok(vec![
        text(env_str(env)),
        uuid(r.id),
        text(r.org.as_str()),
        uuid(r.user_id.as_uuid()),
        blob(r.token_digest.as_bytes()),
        blob(&r.token_nonce),
        blob(r.reuse_key.as_bytes()),
        Value::Text(factors),
        Value::Text(amr),
        at(r.created_at)?,
        at(r.validated_at)?,
        at(r.idle_expires_at)?,
        at(r.absolute_expires_at)?,
    ])
}

impl SessionStore for SqliteStore {
    async fn open_session(
        &self,
        env: Environment,
        record: &SessionRecord,
        now: OffsetDateTime,
    ) -> Result<Opened, StoreError> {
        let params = values(env, record)?;
        let now = at(now)?;
        self.write(move |tx| {
            let reuse = [params[0].clone(), params[6].clone(), now];
            let live = query_opt(
                tx,
                &format!(
                    "SELECT {COLUMNS} FROM sessions WHERE env = ?1 AND reuse_key = ?2 \
                     AND idle_expires_at > ?3 AND absolute_expires_at > ?3"
                ),
                &reuse,
                session,
            )?;
            if let Some(live) = live {
                return Ok(Opened::Reused(Box::new(live)));
            }
            execute(
                tx,
                "DELETE FROM sessions WHERE env = ?1 AND reuse_key = ?2",
                &reuse[..2],
            )?;
            execute(
                tx,
                &format!(
                    "INSERT INTO sessions (env, {COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
                &params,
            )?;
            Ok(Opened::Created)
        })
        .await
    }

    async fn session_by_token(
        &self,
        env: Environment,
        token_digest: &Digest,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let params = vec![text(env_str(env)), blob(token_digest.as_bytes()), at(now)?];
        self.read(move |conn| {
            query_opt(
                conn,
                &format!(
                    "SELECT {COLUMNS} FROM sessions WHERE env = ?1 AND token_digest = ?2 \
                     AND idle_expires_at > ?3 AND absolute_expires_at > ?3"
                ),
                &params,
                session,
            )
        })
        .await
    }

    async fn touch_session(
        &self,
        env: Environment,
        id: Uuid,
        idle_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let params = vec![text(env_str(env)), uuid(id), at(idle_expires_at)?, at(now)?];
        self.write(move |tx| {
            execute(
                tx,
                "UPDATE sessions SET validated_at = ?4, \
                 idle_expires_at = min(?3, absolute_expires_at) \
                 WHERE env = ?1 AND id = ?2 AND idle_expires_at > ?4 AND absolute_expires_at > ?4",
                &params,
            )
            .map(|changed| changed == 1)
        })
        .await
    }

    async fn end_session(&self, env: Environment, id: Uuid) -> Result<bool, StoreError> {
        let params = vec![text(env_str(env)), uuid(id)];
        self.write(move |tx| {
            execute(
                tx,
                "DELETE FROM sessions WHERE env = ?1 AND id = ?2",
                &params,
            )
            .map(|changed| changed == 1)
        })
        .await
    }

    async fn end_user_sessions(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        except: Option<Uuid>,
    ) -> Result<u64, StoreError> {
        let params = vec![
            text(env_str(env)),
            text(org.as_str()),
            uuid(user_id.as_uuid()),
            rows::opt_uuid(except),
        ];
        self.write(move |tx| {
            execute(
                tx,
                "DELETE FROM sessions WHERE env = ?1 AND org = ?2 AND user_id = ?3 \
                 AND (?4 IS NULL OR id <> ?4)",
                &params,
            )
        })
        .await
    }

    async fn user_sessions(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let params = vec![
            text(env_str(env)),
            text(org.as_str()),
            uuid(user_id.as_uuid()),
            at(now)?,
        ];
        self.read(move |conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {COLUMNS} FROM sessions WHERE env = ?1 AND org = ?2 AND user_id = ?3 \
                     AND idle_expires_at > ?4 AND absolute_expires_at > ?4 \
                     ORDER BY created_at DESC, id DESC"
                ),
                &params,
                session,
            )
        })
        .await
    }
}
