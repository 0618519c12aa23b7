//! [`PostgresStore`]'s API keys. Revocation and rotation are one conditional
//! `UPDATE … RETURNING` each (the `WHERE` is the check: a concurrent writer waits for the row
//! lock and re-checks it on the committed row), in one `READ COMMITTED` transaction with the
//! event.

use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::rows;
use super::{PostgresStore, begin, db_error, env_str, execute, query, query_opt, retrying};
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

fn api_key(row: &Row) -> Result<ApiKeyRecord, StoreError> {
    let org: &str = rows::get(row, "org")?;
    let role: &str = rows::get(row, "role")?;
    let name: &str = rows::get(row, "name")?;
    let description: Option<&str> = rows::get(row, "description")?;
    let generation: i32 = rows::get(row, "generation")?;
    Ok(ApiKeyRecord {
        id: ApiKeyId::from_uuid(rows::get(row, "id")?),
        org: OrgDomain::parse(org).map_err(|p| rows::bad("org", p))?,
        role: ApiKeyRole::parse(role).map_err(|p| rows::bad("role", p))?,
        name: Name::parse(name).map_err(|p| rows::bad("name", p))?,
        description: description
            .map(|d| Text::parse(d).map_err(|p| rows::bad("description", p)))
            .transpose()?,
        sealed_secret: rows::get(row, "sealed_secret")?,
        previous_sealed_secret: rows::get(row, "previous_sealed_secret")?,
        previous_expires_at: rows::get(row, "previous_expires_at")?,
        generation: u32::try_from(generation).map_err(|e| rows::bad("generation", e))?,
        created_at: rows::get(row, "created_at")?,
        expires_at: rows::get(row, "expires_at")?,
        revoked_at: rows::get(row, "revoked_at")?,
        last_used_at: rows::get(row, "last_used_at")?,
        rotated_at: rows::get(row, "rotated_at")?,
    })
}

fn generation(value: u32) -> Result<i32, StoreError> {
    i32::try_from(value).map_err(|e| rows::bad("generation", e))
}

impl PostgresStore {
    async fn insert_api_key_once(
        &self,
        env: Environment,
        r: &ApiKeyRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let sql = self.sql(&format!(
            "INSERT INTO {{schema}}.api_keys (env, {COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ));
        let generation = generation(r.generation)?;
        let description = r.description.as_ref().map(|d| d.as_str());
        let params: [&(dyn ToSql + Sync); 15] = [
            &env_str(env),
            &r.id.as_uuid(),
            &r.org.as_str(),
            &r.role.as_str(),
            &r.name.as_str(),
            &description,
            &r.sealed_secret,
            &r.previous_sealed_secret,
            &r.previous_expires_at,
            &generation,
            &r.created_at,
            &r.expires_at,
            &r.revoked_at,
            &r.last_used_at,
            &r.rotated_at,
        ];
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        execute(&tx, &sql, &params).await?;
        self.insert_event(&tx, env, event).await?;
        tx.commit().await.map_err(db_error)
    }

    /// One conditional `UPDATE … RETURNING` and, when it returned a row, the event — in one
    /// transaction.
    async fn update_api_key_once(
        &self,
        env: Environment,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        event: &NewEvent,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let Some(row) = query_opt(&tx, sql, params).await? else {
            return Ok(None);
        };
        // Decoded before the commit: a record that cannot be read back is not written either.
        let record = api_key(&row)?;
        self.insert_event(&tx, env, event).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(record))
    }
}

impl ApiKeyStore for PostgresStore {
    async fn insert_api_key(
        &self,
        env: Environment,
        record: &ApiKeyRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        retrying!(self.insert_api_key_once(env, record, event))
    }

    async fn api_key(
        &self,
        env: Environment,
        id: ApiKeyId,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let sql = self.sql(&format!(
            "SELECT {COLUMNS} FROM {{schema}}.api_keys WHERE env = $1 AND id = $2"
        ));
        let (env, id) = (env_str(env), id.as_uuid());
        let client = self.client().await?;
        retrying!(query_opt(&client, &sql, &[&env, &id]))?
            .map(|row| api_key(&row))
            .transpose()
    }

    async fn list_api_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<ApiKeyRecord>, u64), StoreError> {
        let (env, org) = (env_str(env), org.as_str());
        let limit = i64::from(page.per_page());
        let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
        let after = newest_after(&page)?;
        let total_sql = "(SELECT count(*) FROM {schema}.api_keys WHERE org = $2 AND env = $1)";
        let mut client = self.client().await?;
        // One snapshot: the page and the total agree.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db_error)?;
        let rows = match after {
            Some((created_at, id)) => {
                let sql = self.sql(&format!(
                    "SELECT {COLUMNS}, {total_sql} AS total FROM {{schema}}.api_keys \
                     WHERE org = $2 AND env = $1 AND (created_at, id) < ($3, $4) \
                     ORDER BY created_at DESC, id DESC LIMIT $5"
                ));
                query(&tx, &sql, &[&env, &org, &created_at, &id, &limit]).await?
            }
            None => {
                let sql = self.sql(&format!(
                    "SELECT {COLUMNS}, {total_sql} AS total FROM {{schema}}.api_keys \
                     WHERE org = $2 AND env = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
                ));
                query(&tx, &sql, &[&env, &org, &limit, &offset]).await?
            }
        };
        let total = match rows.first() {
            Some(row) => rows::count(row, "total")?,
            None => {
                let sql = self.sql(&format!("SELECT {total_sql} AS total"));
                let row = query(&tx, &sql, &[&env, &org]).await?;
                row.first().map_or(Ok(0), |r| rows::count(r, "total"))?
            }
        };
        tx.commit().await.map_err(db_error)?;
        let items = rows.iter().map(api_key).collect::<Result<_, _>>()?;
        Ok((items, total))
    }

    async fn revoke_api_key(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: ApiKeyId,
        revoked_at: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let sql = self.sql(&format!(
            "UPDATE {{schema}}.api_keys SET revoked_at = $4 \
             WHERE env = $1 AND id = $2 AND org = $3 AND revoked_at IS NULL RETURNING {COLUMNS}"
        ));
        let (env_s, id, org) = (env_str(env), id.as_uuid(), org.as_str());
        let params: [&(dyn ToSql + Sync); 4] = [&env_s, &id, &org, &revoked_at];
        retrying!(self.update_api_key_once(env, &sql, &params, event))
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
        // SET expressions read the row as it was: the replaced secret becomes the previous one.
        let sql = self.sql(&format!(
            "UPDATE {{schema}}.api_keys SET sealed_secret = $5, \
             previous_sealed_secret = CASE WHEN CAST($6 AS TIMESTAMPTZ) > CAST($7 AS TIMESTAMPTZ) \
             THEN sealed_secret END, \
             previous_expires_at = CASE WHEN CAST($6 AS TIMESTAMPTZ) > CAST($7 AS TIMESTAMPTZ) \
             THEN CAST($6 AS TIMESTAMPTZ) END, \
             rotated_at = $7, generation = generation + 1 \
             WHERE env = $1 AND id = $2 AND org = $3 AND revoked_at IS NULL \
             AND generation = $4 RETURNING {COLUMNS}"
        ));
        let (env_s, uuid, org_s) = (env_str(env), id.as_uuid(), org.as_str());
        let expected = generation(expected_generation)?;
        let params: [&(dyn ToSql + Sync); 7] = [
            &env_s,
            &uuid,
            &org_s,
            &expected,
            &rotation.sealed_secret,
            &rotation.previous_expires_at,
            &rotation.rotated_at,
        ];
        if let Some(rotated) = retrying!(self.update_api_key_once(env, &sql, &params, event))? {
            return Ok(rotated);
        }
        // Nothing written: the key is missing here, or it changed (revoked, rotated).
        match self.api_key(env, id).await? {
            Some(stored) if stored.org == *org => Err(StoreError::Precondition),
            _ => Err(StoreError::NotFound),
        }
    }

    async fn touch_api_key(
        &self,
        env: Environment,
        id: ApiKeyId,
        used_at: OffsetDateTime,
        if_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let sql = self.sql(
            "UPDATE {schema}.api_keys SET last_used_at = $3 WHERE env = $1 AND id = $2 \
             AND (last_used_at IS NULL OR last_used_at < $4)",
        );
        let (env, id) = (env_str(env), id.as_uuid());
        let client = self.client().await?;
        let changed = retrying!(execute(&client, &sql, &[&env, &id, &used_at, &if_before]))?;
        Ok(changed == 1)
    }
}
