//! [`SqliteStore`]'s SSO connections: one row per connection in `sso_connections`, the
//! connection's JSON with its identifiers, list order and version as columns. Every write is
//! one `BEGIN IMMEDIATE` transaction — the `INSERT`, or the `UPDATE … WHERE version =
//! ?expected` — and its audit event commits with it or not at all.

use rusqlite::Row;
use rusqlite::types::Value;

use super::directory::{event_values, insert_event};
use super::rows::{self, at, int, text, uuid};
use super::{SqliteStore, db_error, env_str, execute, query_all, query_opt};
use crate::model::event::NewEvent;
use crate::model::ids::{Environment, OrgDomain};
use crate::model::sso::{IdpId, SsoConnection};
use crate::page::PageRequest;
use crate::store::sso::SsoStore;
use crate::store::{StoreError, newest_after};

/// Decodes a row of `sso_connections` (columns `record` and `version`).
fn connection(row: &Row<'_>) -> Result<SsoConnection, StoreError> {
    let mut c: SsoConnection =
        serde_json::from_str(rows::str(row, "record")?).map_err(|e| rows::bad("record", e))?;
    c.version = rows::count(row, "version")?;
    Ok(c)
}

fn record_json(c: &SsoConnection) -> Result<Value, StoreError> {
    serde_json::to_string(c)
        .map(Value::Text)
        .map_err(StoreError::backend)
}

impl SsoStore for SqliteStore {
    async fn insert_sso_connection(
        &self,
        env: Environment,
        c: &SsoConnection,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let params = vec![
            text(env_str(env)),
            text(c.idp_id.as_str()),
            text(c.sp_id.as_str()),
            text(c.org.as_str()),
            uuid(c.key),
            at(c.inserted_at)?,
            record_json(c)?,
            int("version", c.version)?,
        ];
        let event = event_values(env, event)?;
        self.write(move |tx| {
            execute(
                tx,
                "INSERT INTO sso_connections \
                 (env, idp_id, sp_id, org, key, inserted_at, record, version) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                &params,
            )?;
            insert_event(tx, &event).map(drop)
        })
        .await
    }

    async fn sso_connection(
        &self,
        env: Environment,
        idp_id: &IdpId,
    ) -> Result<Option<SsoConnection>, StoreError> {
        let params = vec![text(env_str(env)), text(idp_id.as_str())];
        self.read(move |conn| {
            query_opt(
                conn,
                "SELECT record, version FROM sso_connections WHERE env = ?1 AND idp_id = ?2",
                &params,
                connection,
            )
        })
        .await
    }

    async fn list_sso_connections(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<SsoConnection>, u64), StoreError> {
        let mut params = vec![text(env_str(env)), text(org.as_str())];
        let limit = Value::Integer(i64::from(page.per_page()));
        let select = match newest_after(&page)? {
            Some((inserted_at, key)) => {
                params.extend([at(inserted_at)?, uuid(key), limit]);
                "SELECT record, version FROM sso_connections WHERE env = ?1 AND org = ?2 \
                 AND (inserted_at, key) < (?3, ?4) ORDER BY inserted_at DESC, key DESC LIMIT ?5"
            }
            None => {
                let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
                params.extend([limit, Value::Integer(offset)]);
                "SELECT record, version FROM sso_connections WHERE env = ?1 AND org = ?2 \
                 ORDER BY inserted_at DESC, key DESC LIMIT ?3 OFFSET ?4"
            }
        };
        self.read(move |conn| {
            // One snapshot: the page and the total agree.
            let tx = conn.unchecked_transaction().map_err(db_error)?;
            let total = query_opt(
                &tx,
                "SELECT count(*) AS total FROM sso_connections WHERE env = ?1 AND org = ?2",
                &params[..2],
                |row| rows::count(row, "total"),
            )?
            .unwrap_or(0);
            let items = query_all(&tx, select, &params, connection)?;
            tx.commit().map_err(db_error)?;
            Ok((items, total))
        })
        .await
    }

    async fn update_sso_connection(
        &self,
        env: Environment,
        c: &SsoConnection,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let env_name = text(env_str(env));
        let (idp_id, org) = (text(c.idp_id.as_str()), text(c.org.as_str()));
        let version = int("version", c.version)?;
        let expected = int("version", expected_version)?;
        let event = event_values(env, event)?;
        let mut next = c.clone();
        self.write(move |tx| {
            // The immutable fields are the stored ones, whatever the caller sent.
            let Some(stored) = query_opt(
                tx,
                "SELECT record, version FROM sso_connections \
                 WHERE env = ?1 AND idp_id = ?2 AND org = ?3",
                &[env_name.clone(), idp_id.clone(), org.clone()],
                connection,
            )?
            else {
                return Err(StoreError::NotFound);
            };
            next.key = stored.key;
            next.sp_id = stored.sp_id;
            next.inserted_at = stored.inserted_at;
            let params = vec![
                env_name,
                idp_id,
                org,
                record_json(&next)?,
                version,
                expected,
            ];
            if execute(
                tx,
                "UPDATE sso_connections SET record = ?4, version = ?5 \
                 WHERE env = ?1 AND idp_id = ?2 AND org = ?3 AND version = ?6",
                &params,
            )? == 0
            {
                return Err(StoreError::Precondition);
            }
            insert_event(tx, &event).map(drop)
        })
        .await
    }
}
