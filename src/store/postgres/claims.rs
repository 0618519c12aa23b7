//! [`PostgresStore`]'s claim schemas: one row per organization in `claim_schemas`, the schema's
//! JSON and its version. A write is one `READ COMMITTED` transaction with its audit event: the
//! first schema an `INSERT … ON CONFLICT DO NOTHING` (a concurrent first insert waits for the
//! winner's commit, then inserts nothing), a later one an `UPDATE … WHERE version = $expected`
//! (a concurrent writer waits for the row lock and re-checks the version on the committed row).
//! Issuing a token reads the live user and the schema in one statement.

use tokio_postgres::types::ToSql;

use super::directory::USER_COLUMNS;
use super::rows::{self, to_i64};
use super::{PostgresStore, begin, db_error, env_str, execute, query_opt, retrying};
use crate::model::claims::ClaimSchema;
use crate::model::event::NewEvent;
use crate::model::ids::{Environment, OrgDomain, UserId};
use crate::model::user::User;
use crate::store::StoreError;
use crate::store::claims::ClaimStore;

/// A stored schema from its two columns (both NULL: none stored, the empty schema at
/// version 0).
fn claim_schema(
    json: Option<&str>,
    version: Option<i64>,
    columns: (&'static str, &'static str),
) -> Result<ClaimSchema, StoreError> {
    match (json, version) {
        (Some(json), Some(version)) => {
            let mut schema: ClaimSchema =
                serde_json::from_str(json).map_err(|e| rows::bad(columns.0, e))?;
            // Not in the JSON (`#[serde(skip)]`): the version is its own column.
            schema.version = u64::try_from(version).map_err(|e| rows::bad(columns.1, e))?;
            Ok(schema)
        }
        (None, None) => Ok(ClaimSchema::default()),
        _ => Err(rows::bad(
            columns.0,
            "set without its version, or the reverse",
        )),
    }
}

impl PostgresStore {
    async fn put_claim_schema_once(
        &self,
        env: Environment,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // No row changed: another version is stored (or none, when one was expected).
        if execute(&tx, sql, params).await? == 0 {
            return Err(StoreError::Precondition);
        }
        self.insert_event(&tx, env, event).await?;
        tx.commit().await.map_err(db_error)
    }
}

impl ClaimStore for PostgresStore {
    async fn claim_schema(
        &self,
        env: Environment,
        org: &OrgDomain,
    ) -> Result<ClaimSchema, StoreError> {
        let sql = self
            .sql("SELECT schema, version FROM {schema}.claim_schemas WHERE env = $1 AND org = $2");
        let client = self.client().await?;
        match query_opt(&client, &sql, &[&env_str(env), &org.as_str()]).await? {
            Some(row) => claim_schema(
                Some(rows::get(&row, "schema")?),
                Some(rows::get(&row, "version")?),
                ("schema", "version"),
            ),
            None => Ok(ClaimSchema::default()),
        }
    }

    async fn put_claim_schema(
        &self,
        env: Environment,
        org: &OrgDomain,
        schema: &ClaimSchema,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(schema).map_err(StoreError::backend)?;
        let version = to_i64("version", schema.version)?;
        let expected = to_i64("version", expected_version)?;
        let (env_name, org) = (env_str(env), org.as_str());
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&env_name, &org, &json, &version];
        // Version 0 is "none stored yet": only an insert can find it so.
        let sql = if expected_version == 0 {
            self.sql(
                "INSERT INTO {schema}.claim_schemas (env, org, schema, version) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (env, org) DO NOTHING",
            )
        } else {
            params.push(&expected);
            self.sql(
                "UPDATE {schema}.claim_schemas SET schema = $3, version = $4 \
                 WHERE env = $1 AND org = $2 AND version = $5",
            )
        };
        retrying!(self.put_claim_schema_once(env, &sql, &params, event))
    }

    async fn live_user_claims(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: UserId,
    ) -> Result<Option<(User, ClaimSchema)>, StoreError> {
        // One statement: the user, joined to its organization's live row and to its
        // organization's schema if it has one.
        let columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = self.sql(&format!(
            "SELECT {columns}, c.schema AS claim_schema, c.version AS claim_schema_version \
             FROM {{schema}}.users u JOIN {{schema}}.organizations o \
             ON o.env = u.env AND o.domain = u.org AND o.deleted_at IS NULL \
             LEFT JOIN {{schema}}.claim_schemas c ON c.env = u.env AND c.org = u.org \
             WHERE u.env = $1 AND u.id = $2 AND u.org IS NOT DISTINCT FROM $3"
        ));
        let client = self.client().await?;
        let Some(row) = query_opt(
            &client,
            &sql,
            &[&env_str(env), &id.as_uuid(), &org.as_str()],
        )
        .await?
        else {
            return Ok(None);
        };
        let schema = claim_schema(
            rows::get(&row, "claim_schema")?,
            rows::get(&row, "claim_schema_version")?,
            ("claim_schema", "claim_schema_version"),
        )?;
        Ok(Some((rows::user(&row)?, schema)))
    }
}
