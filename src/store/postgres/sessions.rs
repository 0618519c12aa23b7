//! [`PostgresStore`]'s sessions. Opening one is one `READ COMMITTED` transaction: delete the
//! expired session with the same reuse key, insert with `ON CONFLICT … DO NOTHING` on the
//! reuse key (a concurrent open waits for the other's commit), and read the live winner when
//! the insert did nothing.

use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::directory::USER_COLUMNS;
use super::rows;
use super::{PostgresStore, begin, db_error, env_str, execute, query, query_opt, retrying};
use crate::model::ids::{Environment, OrgDomain, UserId};
use crate::model::session::ValidationFactor;
use crate::model::user::User;
use crate::secret::Digest;
use crate::store::StoreError;
use crate::store::sessions::{Opened, SessionRecord, SessionStore};

const COLUMNS: &str = "id, org, user_id, token_digest, token_nonce, reuse_key, factors, amr, \
                       created_at, validated_at, idle_expires_at, absolute_expires_at";

const LIVE: &str = "idle_expires_at > $3 AND absolute_expires_at > $3";

/// The names of a session's columns in a row: as they are, or prefixed `s_` in a join.
struct Names([&'static str; 12]);

const PLAIN: Names = Names([
    "id",
    "org",
    "user_id",
    "token_digest",
    "token_nonce",
    "reuse_key",
    "factors",
    "amr",
    "created_at",
    "validated_at",
    "idle_expires_at",
    "absolute_expires_at",
]);
const PREFIXED: Names = Names([
    "s_id",
    "s_org",
    "s_user_id",
    "s_token_digest",
    "s_token_nonce",
    "s_reuse_key",
    "s_factors",
    "s_amr",
    "s_created_at",
    "s_validated_at",
    "s_idle_expires_at",
    "s_absolute_expires_at",
]);

fn session(row: &Row) -> Result<SessionRecord, StoreError> {
    session_with(row, &PLAIN)
}

/// A session from a row whose session columns are named `n`.
fn session_with(row: &Row, n: &Names) -> Result<SessionRecord, StoreError> {
    let [
        id,
        org,
        user_id,
        token_digest,
        token_nonce,
        reuse_key,
        factors,
        amr,
        created_at,
        validated_at,
        idle_expires_at,
        absolute_expires_at,
    ] = n.0;
    let factors_text: &str = rows::get(row, factors)?;
    let factors_list: Vec<ValidationFactor> =
        serde_json::from_str(factors_text).map_err(|e| rows::bad("factors", e))?;
    let amr_text: &str = rows::get(row, amr)?;
    let amr_list: Vec<String> = serde_json::from_str(amr_text).map_err(|e| rows::bad("amr", e))?;
    let org_text: &str = rows::get(row, org)?;
    Ok(SessionRecord {
        id: rows::get(row, id)?,
        org: OrgDomain::parse(org_text).map_err(|p| rows::bad("org", p))?,
        user_id: UserId::from_uuid(rows::get(row, user_id)?),
        token_digest: rows::digest(row, token_digest)?,
        token_nonce: rows::get(row, token_nonce)?,
        reuse_key: rows::digest(row, reuse_key)?,
        factors: factors_list,
        amr: amr_list,
        created_at: rows::get(row, created_at)?,
        validated_at: rows::get(row, validated_at)?,
        idle_expires_at: rows::get(row, idle_expires_at)?,
        absolute_expires_at: rows::get(row, absolute_expires_at)?,
    })
}

impl PostgresStore {
    /// One run of `open_session`, in one transaction.
    async fn open_session_once(
        &self,
        env: &str,
        r: &SessionRecord,
        factors: &str,
        now: OffsetDateTime,
    ) -> Result<Opened, StoreError> {
        let amr = serde_json::to_string(&r.amr).map_err(StoreError::backend)?;
        let (reuse, digest) = (&r.reuse_key.as_bytes()[..], &r.token_digest.as_bytes()[..]);
        let user = r.user_id.as_uuid();
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let expired = self.sql(
            "DELETE FROM {schema}.sessions WHERE env = $1 AND reuse_key = $2 \
             AND NOT (idle_expires_at > $3 AND absolute_expires_at > $3)",
        );
        execute(&tx, &expired, &[&env, &reuse, &now]).await?;
        let insert = self.sql(&format!(
            "INSERT INTO {{schema}}.sessions (env, {COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT ON CONSTRAINT sessions_reuse_key DO NOTHING"
        ));
        let params: [&(dyn ToSql + Sync); 13] = [
            &env,
            &r.id,
            &r.org.as_str(),
            &user,
            &digest,
            &r.token_nonce,
            &reuse,
            &factors,
            &amr,
            &r.created_at,
            &r.validated_at,
            &r.idle_expires_at,
            &r.absolute_expires_at,
        ];
        if execute(&tx, &insert, &params).await? == 1 {
            tx.commit().await.map_err(db_error)?;
            return Ok(Opened::Created);
        }
        let live = self.sql(&format!(
            "SELECT {COLUMNS} FROM {{schema}}.sessions WHERE env = $1 AND reuse_key = $2 AND {LIVE}"
        ));
        let found = query_opt(&tx, &live, &[&env, &reuse, &now]).await?;
        tx.commit().await.map_err(db_error)?;
        match found {
            Some(row) => Ok(Opened::Reused(Box::new(session(&row)?))),
            // The session that held the reuse key ended meanwhile: open again.
            None => Err(StoreError::Retryable {
                source: "the session holding the reuse key ended meanwhile".into(),
            }),
        }
    }
}

impl SessionStore for PostgresStore {
    async fn open_session(
        &self,
        env: Environment,
        record: &SessionRecord,
        now: OffsetDateTime,
    ) -> Result<Opened, StoreError> {
        let factors = serde_json::to_string(&record.factors).map_err(StoreError::backend)?;
        let env = env_str(env);
        retrying!(self.open_session_once(env, record, &factors, now))
    }

    async fn session_by_token(
        &self,
        env: Environment,
        token_digest: &Digest,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let sql = self.sql(&format!(
            "SELECT {COLUMNS} FROM {{schema}}.sessions WHERE env = $1 AND token_digest = $2 \
             AND {LIVE}"
        ));
        let (env, digest) = (env_str(env), &token_digest.as_bytes()[..]);
        let client = self.client().await?;
        retrying!(query_opt(&client, &sql, &[&env, &digest, &now]))?
            .map(|row| session(&row))
            .transpose()
    }

    async fn live_session(
        &self,
        env: Environment,
        token_digest: &Digest,
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, User)>, StoreError> {
        // One statement: the live session, its user, and its organization's live row.
        let session_columns = COLUMNS
            .split(", ")
            .map(|c| format!("s.{c} AS s_{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let user_columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = self.sql(&format!(
            "SELECT {session_columns}, {user_columns} FROM {{schema}}.sessions s \
             JOIN {{schema}}.users u ON u.env = s.env AND u.org = s.org AND u.id = s.user_id \
             JOIN {{schema}}.organizations o \
             ON o.env = s.env AND o.domain = s.org AND o.deleted_at IS NULL \
             WHERE s.env = $1 AND s.token_digest = $2 \
             AND s.idle_expires_at > $3 AND s.absolute_expires_at > $3"
        ));
        let (env, digest) = (env_str(env), &token_digest.as_bytes()[..]);
        let client = self.client().await?;
        retrying!(query_opt(&client, &sql, &[&env, &digest, &now]))?
            .map(|row| Ok((session_with(&row, &PREFIXED)?, rows::user(&row)?)))
            .transpose()
    }

    async fn touch_session(
        &self,
        env: Environment,
        id: Uuid,
        idle_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let sql = self.sql(&format!(
            "UPDATE {{schema}}.sessions SET validated_at = $3, \
             idle_expires_at = LEAST($4, absolute_expires_at) \
             WHERE env = $1 AND id = $2 AND {LIVE}"
        ));
        let env = env_str(env);
        let client = self.client().await?;
        let changed = retrying!(execute(&client, &sql, &[&env, &id, &now, &idle_expires_at]))?;
        Ok(changed == 1)
    }

    async fn end_session(&self, env: Environment, id: Uuid) -> Result<bool, StoreError> {
        let sql = self.sql("DELETE FROM {schema}.sessions WHERE env = $1 AND id = $2");
        let env = env_str(env);
        let client = self.client().await?;
        Ok(retrying!(execute(&client, &sql, &[&env, &id]))? == 1)
    }

    async fn end_user_sessions(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        except: Option<Uuid>,
    ) -> Result<u64, StoreError> {
        let sql = self.sql(
            "DELETE FROM {schema}.sessions WHERE org = $2 AND user_id = $3 AND env = $1 \
             AND ($4::uuid IS NULL OR id <> $4)",
        );
        let (env, org, user) = (env_str(env), org.as_str(), user_id.as_uuid());
        let client = self.client().await?;
        retrying!(execute(&client, &sql, &[&env, &org, &user, &except]))
    }

    async fn user_sessions(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = self.sql(&format!(
            "SELECT {COLUMNS} FROM {{schema}}.sessions \
             WHERE org = $2 AND user_id = $4 AND env = $1 AND {LIVE} \
             ORDER BY created_at DESC, id DESC"
        ));
        let (env, org, user) = (env_str(env), org.as_str(), user_id.as_uuid());
        let client = self.client().await?;
        retrying!(query(&client, &sql, &[&env, &org, &now, &user]))?
            .iter()
            .map(session)
            .collect()
    }
}
