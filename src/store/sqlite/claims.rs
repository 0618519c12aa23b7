//! [`SqliteStore`]'s claim schemas: one row per organization in `claim_schemas`, the schema's
//! JSON and its version. A write is one `BEGIN IMMEDIATE` transaction — the first schema an
//! `INSERT … ON CONFLICT DO NOTHING`, a later one an `UPDATE … WHERE version = ?expected` — and
//! its audit event commits with it or not at all.

use rusqlite::Row;
use rusqlite::types::Value;

use super::directory::{event_values, insert_event};
use super::rows::{self, int, text};
use super::{SqliteStore, env_str, execute, query_opt};
use crate::model::claims::ClaimSchema;
use crate::model::event::NewEvent;
use crate::model::ids::{Environment, OrgDomain};
use crate::store::StoreError;
use crate::store::claims::ClaimStore;

/// Decodes a row of `claim_schemas` (columns `schema` and `version`).
fn claim_schema(row: &Row<'_>) -> Result<ClaimSchema, StoreError> {
    let mut schema: ClaimSchema =
        serde_json::from_str(rows::str(row, "schema")?).map_err(|e| rows::bad("schema", e))?;
    // Not in the JSON (`#[serde(skip)]`): the version is its own column.
    schema.version = rows::count(row, "version")?;
    Ok(schema)
}

impl ClaimStore for SqliteStore {
    async fn claim_schema(
        &self,
        env: Environment,
        org: &OrgDomain,
    ) -> Result<ClaimSchema, StoreError> {
        let params = vec![text(env_str(env)), text(org.as_str())];
        let stored = self
            .read(move |conn| {
                query_opt(
                    conn,
                    "SELECT schema, version FROM claim_schemas WHERE env = ?1 AND org = ?2",
                    &params,
                    claim_schema,
                )
            })
            .await?;
        Ok(stored.unwrap_or_default())
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
        let mut params = vec![
            text(env_str(env)),
            text(org.as_str()),
            Value::Text(json),
            int("version", schema.version)?,
        ];
        // Version 0 is "none stored yet": only an insert can find it so.
        let sql = if expected_version == 0 {
            "INSERT INTO claim_schemas (env, org, schema, version) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (env, org) DO NOTHING"
        } else {
            params.push(int("version", expected_version)?);
            "UPDATE claim_schemas SET schema = ?3, version = ?4 \
             WHERE env = ?1 AND org = ?2 AND version = ?5"
        };
        let event = event_values(env, event)?;
        self.write(move |tx| {
            // No row changed: another version is stored (or none, when one was expected).
            if execute(tx, sql, &params)? == 0 {
                return Err(StoreError::Precondition);
            }
            insert_event(tx, &event).map(drop)
        })
        .await
    }
}
