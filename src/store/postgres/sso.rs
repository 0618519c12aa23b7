//! [`PostgresStore`]'s SSO connections: one row per connection in `sso_connections`, the
//! connection's JSON with its identifiers, list order and version as columns. A write is one
//! `READ COMMITTED` transaction with its audit event: the `INSERT` (a taken `idp_id` or `sp_id`
//! is a unique violation), or an `UPDATE … WHERE version = $expected` that keeps the stored
//! immutable fields (a concurrent writer waits for the row lock and re-checks the version on
//! the committed row).

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::rows::{self, to_i64};
use super::{PostgresStore, begin, db_error, env_str, execute, query, query_opt, retrying};
use crate::model::event::NewEvent;
use crate::model::ids::{Environment, OrgDomain};
use crate::model::sso::{IdpId, SsoConnection};
use crate::page::PageRequest;
use crate::store::sso::SsoStore;
use crate::store::{StoreError, newest_after};

fn connection(row: &Row) -> Result<SsoConnection, StoreError> {
    let json: &str = rows::get(row, "record")?;
    let mut c: SsoConnection = serde_json::from_str(json).map_err(|e| rows::bad("record", e))?;
    c.version = rows::count(row, "version")?;
    Ok(c)
}

impl PostgresStore {
    async fn insert_sso_connection_once(
        &self,
        env: Environment,
        c: &SsoConnection,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let sql = self.sql(
            "INSERT INTO {schema}.sso_connections \
             (env, idp_id, sp_id, org, key, inserted_at, record, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        );
        let json = serde_json::to_string(c).map_err(StoreError::backend)?;
        let version = to_i64("version", c.version)?;
        let params: [&(dyn ToSql + Sync); 8] = [
            &env_str(env),
            &c.idp_id.as_str(),
            &c.sp_id.as_str(),
            &c.org.as_str(),
            &c.key,
            &c.inserted_at,
            &json,
            &version,
        ];
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        execute(&tx, &sql, &params).await?;
        self.insert_event(&tx, env, event).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn update_sso_connection_once(
        &self,
        env: Environment,
        c: &SsoConnection,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let (env_name, idp_id, org) = (env_str(env), c.idp_id.as_str(), c.org.as_str());
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // The row lock: a concurrent update waits here, then reads the committed version.
        let select = self.sql(
            "SELECT record, version FROM {schema}.sso_connections \
             WHERE env = $1 AND idp_id = $2 AND org = $3 FOR UPDATE",
        );
        let Some(row) = query_opt(&tx, &select, &[&env_name, &idp_id, &org]).await? else {
            return Err(StoreError::NotFound);
        };
        let stored = connection(&row)?;
        if stored.version != expected_version {
            return Err(StoreError::Precondition);
        }
        // The immutable fields are the stored ones, whatever the caller sent.
        let next = SsoConnection {
            key: stored.key,
            sp_id: stored.sp_id,
            inserted_at: stored.inserted_at,
            ..c.clone()
        };
        let json = serde_json::to_string(&next).map_err(StoreError::backend)?;
        let version = to_i64("version", c.version)?;
        let update = self.sql(
            "UPDATE {schema}.sso_connections SET record = $4, version = $5 \
             WHERE env = $1 AND idp_id = $2 AND org = $3",
        );
        execute(&tx, &update, &[&env_name, &idp_id, &org, &json, &version]).await?;
        self.insert_event(&tx, env, event).await?;
        tx.commit().await.map_err(db_error)
    }
}

impl SsoStore for PostgresStore {
    async fn insert_sso_connection(
        &self,
        env: Environment,
        connection: &SsoConnection,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        retrying!(self.insert_sso_connection_once(env, connection, event))
    }

    async fn sso_connection(
        &self,
        env: Environment,
        idp_id: &IdpId,
    ) -> Result<Option<SsoConnection>, StoreError> {
        let sql = self.sql(
            "SELECT record, version FROM {schema}.sso_connections WHERE env = $1 AND idp_id = $2",
        );
        let (env, idp_id) = (env_str(env), idp_id.as_str());
        let client = self.client().await?;
        retrying!(query_opt(&client, &sql, &[&env, &idp_id]))?
            .map(|row| connection(&row))
            .transpose()
    }

    async fn list_sso_connections(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<SsoConnection>, u64), StoreError> {
        let (env, org) = (env_str(env), org.as_str());
        let limit = i64::from(page.per_page());
        let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
        let after = newest_after(&page)?;
        let total_sql =
            "(SELECT count(*) FROM {schema}.sso_connections WHERE org = $2 AND env = $1)";
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
            Some((inserted_at, key)) => {
                let sql = self.sql(&format!(
                    "SELECT record, version, {total_sql} AS total FROM {{schema}}.sso_connections \
                     WHERE org = $2 AND env = $1 AND (inserted_at, key) < ($3, $4) \
                     ORDER BY inserted_at DESC, key DESC LIMIT $5"
                ));
                query(&tx, &sql, &[&env, &org, &inserted_at, &key, &limit]).await?
            }
            None => {
                let sql = self.sql(&format!(
                    "SELECT record, version, {total_sql} AS total FROM {{schema}}.sso_connections \
                     WHERE org = $2 AND env = $1 \
                     ORDER BY inserted_at DESC, key DESC LIMIT $3 OFFSET $4"
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
        let items = rows.iter().map(connection).collect::<Result<_, _>>()?;
        Ok((items, total))
    }

    async fn update_sso_connection(
        &self,
        env: Environment,
        connection: &SsoConnection,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        retrying!(self.update_sso_connection_once(env, connection, expected_version, event))
    }
}
