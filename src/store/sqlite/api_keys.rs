//! [`SqliteStore`]'s API keys. Every write is one `BEGIN IMMEDIATE` transaction: the conditional
//! `UPDATE … RETURNING` (or the `INSERT`) and its audit event commit together or not at all.

use rusqlite::Row;
use rusqlite::types::Value;
use time::OffsetDateTime;

use super::directory::{event_values, insert_event};
use super::rows::{self, at, blob, opt_at, text, uuid};
use super::{SqliteStore, db_error, env_str, execute, query_all, query_opt};
use crate::model::api_key::{ApiKeyId, ApiKeyRole};
use crate::model::event::NewEvent;
use crate::model::fields::{Name, Text};
use crate::model::ids::{Environment, OrgDomain};
use crate::page::PageRequest;
use crate::store::api_keys::{ApiKeyRecord, ApiKeyStore, KeyRotation};
use crate::store::{StoreError, newest_after};

const COLUMNS: &str = "id, org, role, name, description, sealed_secret, previous_sealed_secret, \
                       previous_expires_at, generation, created_at, expires_at, revoked_at, \
                       last_used_at, rotated_at";

fn api_key(row: &Row<'_>) -> Result<ApiKeyRecord, StoreError> {
    let description: Option<String> = rows::get(row, "description")?;
    let generation = rows::integer(row, "generation")?;
    Ok(ApiKeyRecord {
        id: ApiKeyId::from_uuid(rows::uuid_of(row, "id")?),
        org: OrgDomain::parse(rows::str(row, "org")?).map_err(|p| rows::bad("org", p))?,
        role: ApiKeyRole::parse(rows::str(row, "role")?).map_err(|p| rows::bad("role", p))?,
        name: Name::parse(rows::str(row, "name")?).map_err(|p| rows::bad("name", p))?,
        description: description
            .map(|d| Text::parse(&d).map_err(|p| rows::bad("description", p)))
            .transpose()?,
        sealed_secret: rows::bytes(row, "sealed_secret")?.to_vec(),
        previous_sealed_secret: rows::get(row, "previous_sealed_secret")?,
        previous_expires_at: rows::opt_instant(row, "previous_expires_at")?,
        generation: u32::try_from(generation).map_err(|e| rows::bad("generation", e))?,
        created_at: rows::instant(row, "created_at")?,
        expires_at: rows::opt_instant(row, "expires_at")?,
        revoked_at: rows::opt_instant(row, "revoked_at")?,
        last_used_at: rows::opt_instant(row, "last_used_at")?,
        rotated_at: rows::opt_instant(row, "rotated_at")?,
    })
}

fn values(env: Environment, r: &ApiKeyRecord) -> Result<Vec<Value>, StoreError> {
    Ok(vec![
        text(env_str(env)),
        uuid(r.id.as_uuid()),
        text(r.org.as_str()),
        text(r.role.as_str()),
        text(r.name.as_str()),
        rows::opt_text(r.description.as_ref().map(|d| d.as_str())),
        blob(&r.sealed_secret),
        r.previous_sealed_secret
            .as_deref()
            .map_or(Value::Null, blob),
        opt_at(r.previous_expires_at)?,
        Value::Integer(i64::from(r.generation)),
        at(r.created_at)?,
        opt_at(r.expires_at)?,
        opt_at(r.revoked_at)?,
        opt_at(r.last_used_at)?,
        opt_at(r.rotated_at)?,
    ])
}

impl ApiKeyStore for SqliteStore {
    async fn insert_api_key(
        &self,
        env: Environment,
        record: &ApiKeyRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let params = values(env, record)?;
        let event = event_values(env, event)?;
        self.write(move |tx| {
            execute(
                tx,
                &format!(
                    "INSERT INTO api_keys (env, {COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                ),
                &params,
            )?;
            insert_event(tx, &event).map(drop)
        })
        .await
    }

    async fn api_key(
        &self,
        env: Environment,
        id: ApiKeyId,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let params = vec![text(env_str(env)), uuid(id.as_uuid())];
        self.read(move |conn| {
            query_opt(
                conn,
                &format!("SELECT {COLUMNS} FROM api_keys WHERE env = ?1 AND id = ?2"),
                &params,
                api_key,
            )
        })
        .await
    }

    async fn list_api_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<ApiKeyRecord>, u64), StoreError> {
        let mut params = vec![text(env_str(env)), text(org.as_str())];
        let limit = Value::Integer(i64::from(page.per_page()));
        let select = match newest_after(&page)? {
            Some((created_at, id)) => {
                params.extend([at(created_at)?, uuid(id), limit]);
                format!(
                    "SELECT {COLUMNS} FROM api_keys WHERE env = ?1 AND org = ?2 \
                     AND (created_at, id) < (?3, ?4) ORDER BY created_at DESC, id DESC LIMIT ?5"
                )
            }
            None => {
                let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
                params.extend([limit, Value::Integer(offset)]);
                format!(
                    "SELECT {COLUMNS} FROM api_keys WHERE env = ?1 AND org = ?2 \
                     ORDER BY created_at DESC, id DESC LIMIT ?3 OFFSET ?4"
                )
            }
        };
        self.read(move |conn| {
            // One snapshot: the page and the total agree.
            let tx = conn.unchecked_transaction().map_err(db_error)?;
            let total = query_opt(
                &tx,
                "SELECT count(*) AS total FROM api_keys WHERE env = ?1 AND org = ?2",
                &params[..2],
                |row| rows::count(row, "total"),
            )?
            .unwrap_or(0);
            let items = query_all(&tx, &select, &params, api_key)?;
            tx.commit().map_err(db_error)?;
            Ok((items, total))
        })
        .await
    }

    async fn revoke_api_key(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: ApiKeyId,
        revoked_at: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let params = vec![
            text(env_str(env)),
            uuid(id.as_uuid()),
            text(org.as_str()),
            at(revoked_at)?,
        ];
        let event = event_values(env, event)?;
        self.write(move |tx| {
            let revoked = query_opt(
                tx,
                &format!(
                    "UPDATE api_keys SET revoked_at = ?4 \
                     WHERE env = ?1 AND id = ?2 AND org = ?3 AND revoked_at IS NULL \
                     RETURNING {COLUMNS}"
                ),
                &params,
                api_key,
            )?;
            if revoked.is_some() {
                insert_event(tx, &event)?;
            }
            Ok(revoked)
        })
        .await
    }

    async fn rotate_api_key(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: ApiKeyId,
        expected_generation: u32,
        rotation: &KeyRotation,
        event: &NewEvent,
    ) -> Result<ApiKeyRecord, StoreError> {
        let params = vec![
            text(env_str(env)),
            uuid(id.as_uuid()),
            text(org.as_str()),
            Value::Integer(i64::from(expected_generation)),
            blob(&rotation.sealed_secret),
            at(rotation.previous_expires_at)?,
            at(rotation.rotated_at)?,
        ];
        let event = event_values(env, event)?;
        self.write(move |tx| {
            // SET expressions read the row as it was: the replaced secret becomes the previous.
            let rotated = query_opt(
                tx,
                &format!(
                    "UPDATE api_keys SET sealed_secret = ?5, \
                     previous_sealed_secret = CASE WHEN ?6 > ?7 THEN sealed_secret END, \
                     previous_expires_at = CASE WHEN ?6 > ?7 THEN ?6 END, \
                     rotated_at = ?7, generation = generation + 1 \
                     WHERE env = ?1 AND id = ?2 AND org = ?3 AND revoked_at IS NULL \
                     AND generation = ?4 RETURNING {COLUMNS}"
                ),
                &params,
                api_key,
            )?;
            let Some(rotated) = rotated else {
                let exists = query_opt(
                    tx,
                    "SELECT 1 AS found FROM api_keys WHERE env = ?1 AND id = ?2 AND org = ?3",
                    &params[..3],
                    |_| Ok(()),
                )?;
                return Err(match exists {
                    Some(()) => StoreError::Precondition,
                    None => StoreError::NotFound,
                });
            };
            insert_event(tx, &event)?;
            Ok(rotated)
        })
        .await
    }

    async fn touch_api_key(
        &self,
        env: Environment,
        id: ApiKeyId,
        used_at: OffsetDateTime,
        if_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let params = vec![
            text(env_str(env)),
            uuid(id.as_uuid()),
            at(used_at)?,
            at(if_before)?,
        ];
        self.write(move |tx| {
            execute(
                tx,
                "UPDATE api_keys SET last_used_at = ?3 WHERE env = ?1 AND id = ?2 \
                 AND (last_used_at IS NULL OR last_used_at < ?4)",
                &params,
            )
            .map(|changed| changed == 1)
        })
        .await
    }
}
