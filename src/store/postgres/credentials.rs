//! Sign-in credentials on PostgreSQL: one `credentials` row per user, keyed like the user
//! (`env`, `user_id`), its username unique per (`env`, `org`) by `credentials_username_key`, and
//! tied to the user row by a foreign key that deletes it with the user.
//!
//! Account writes touch the user row, the credentials row and the audit log in one `READ
//! COMMITTED` transaction; lookups are one statement on an index (the primary key, or the
//! username constraint's index).

use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::directory::{UserValues, delete_user_sql, insert_user_sql, placeholders};
use super::rows::{self, to_i64};
use super::{PostgresStore, begin, db_error, env_str, execute, query_opt, retrying};
use crate::model::event::NewEvent;
use crate::model::ids::{Environment, OrgDomain, UserId};
use crate::model::user::User;
use crate::store::StoreError;
use crate::store::credentials::{CredentialRecord, CredentialStore};

/// The columns of `credentials`, in [`CredValues::params`] order.
const CRED_COLUMNS: &str = "env, user_id, org, username, password_hash, status, role, \
     totp_secret, totp_at, pending_totp_secret, pending_totp_at, recovery_generation, \
     known_devices, known_ips, updated_at, version";

/// The column values of a credentials row, in [`CRED_COLUMNS`] order.
struct CredValues<'a> {
    env: &'static str,
    user_id: Uuid,
    org: &'a str,
    username: Option<&'a str>,
    password_hash: Option<&'a str>,
    status: &'static str,
    role: &'static str,
    totp_secret: Option<&'a [u8]>,
    totp_at: Option<OffsetDateTime>,
    pending_totp_secret: Option<&'a [u8]>,
    pending_totp_at: Option<OffsetDateTime>,
    recovery_generation: i64,
    known_devices: Vec<&'a [u8]>,
    known_ips: Vec<&'a [u8]>,
    updated_at: OffsetDateTime,
    version: i64,
}

impl<'a> CredValues<'a> {
    fn new(env: Environment, c: &'a CredentialRecord) -> Result<Self, StoreError> {
        Ok(Self {
            env: env_str(env),
            user_id: c.user_id.as_uuid(),
            org: c.org.as_str(),
            username: c.username.as_deref(),
            password_hash: c.password_hash.as_deref(),
            status: rows::status_str(c.status),
            role: rows::role_str(c.role),
            totp_secret: c.totp.as_ref().map(|t| &t.sealed_secret[..]),
            totp_at: c.totp.as_ref().map(|t| t.at),
            pending_totp_secret: c.pending_totp.as_ref().map(|t| &t.sealed_secret[..]),
            pending_totp_at: c.pending_totp.as_ref().map(|t| t.at),
            recovery_generation: i64::from(c.recovery_generation),
            known_devices: c.known_devices.iter().map(|d| &d.as_bytes()[..]).collect(),
            known_ips: c.known_ips.iter().map(|d| &d.as_bytes()[..]).collect(),
            updated_at: c.updated_at,
            version: to_i64("version", c.version)?,
        })
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 16] {
        [
            &self.env,
            &self.user_id,
            &self.org,
            &self.username,
            &self.password_hash,
            &self.status,
            &self.role,
            &self.totp_secret,
            &self.totp_at,
            &self.pending_totp_secret,
            &self.pending_totp_at,
            &self.recovery_generation,
            &self.known_devices,
            &self.known_ips,
            &self.updated_at,
            &self.version,
        ]
    }
}

impl PostgresStore {
    fn insert_credentials_sql(&self) -> String {
        self.sql(&format!(
            "INSERT INTO {{schema}}.credentials ({CRED_COLUMNS}) VALUES ({})",
            placeholders(16)
        ))
    }

    /// One run of `insert_account`: user, credentials, event — one transaction.
    async fn insert_account_once(
        &self,
        env: Environment,
        user: &UserValues<'_>,
        credentials: &CredValues<'_>,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        // The user and its organization's count in one statement.
        let user_sql = insert_user_sql(self);
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // users_pkey → "id", users_email_key → "email", credentials_username_key → "username":
        // the failed statement aborts the transaction, so nothing of the account is written.
        execute(&tx, &user_sql, &user.params()).await?;
        execute(&tx, &self.insert_credentials_sql(), &credentials.params()).await?;
        self.insert_event(&tx, env, event).await?;
        tx.commit().await.map_err(db_error)
    }

    /// One run of `insert_credentials`: lock the user row (so it cannot be erased meanwhile),
    /// insert, append the event — one transaction.
    async fn insert_credentials_once(
        &self,
        env: Environment,
        credentials: &CredValues<'_>,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let lock = self.sql(
            "SELECT id FROM {schema}.users WHERE env = $1 AND id = $2 \
             AND org IS NOT DISTINCT FROM $3 FOR KEY SHARE",
        );
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        query_opt(
            &tx,
            &lock,
            &[&credentials.env, &credentials.user_id, &credentials.org],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
        // credentials_pkey → "user", credentials_username_key → "username".
        execute(&tx, &self.insert_credentials_sql(), &credentials.params()).await?;
        self.insert_event(&tx, env, event).await?;
        tx.commit().await.map_err(db_error)
    }

    /// One run of `update_credentials`: the conditional `UPDATE`, then (nothing written) one
    /// read telling `NotFound` from `Precondition`, or the event — one transaction.
    async fn update_credentials_once(
        &self,
        env: Environment,
        values: &CredValues<'_>,
        expected: i64,
        event: Option<&NewEvent>,
    ) -> Result<(), StoreError> {
        // The username changes in the same row: the old one is released in the same step, and
        // a taken new one violates credentials_username_key.
        let sql = self.sql(
            "UPDATE {schema}.credentials SET username = $4, password_hash = $5, status = $6, \
             role = $7, totp_secret = $8, totp_at = $9, pending_totp_secret = $10, \
             pending_totp_at = $11, recovery_generation = $12, known_devices = $13, \
             known_ips = $14, updated_at = $15, version = $16 \
             WHERE env = $1 AND user_id = $2 AND org IS NOT DISTINCT FROM $3 \
             AND version = $17",
        );
        let check = self.sql(
            "SELECT version FROM {schema}.credentials \
             WHERE env = $1 AND user_id = $2 AND org IS NOT DISTINCT FROM $3",
        );
        let p = values.params();
        let mut params: Vec<&(dyn ToSql + Sync)> = p.to_vec();
        params.push(&expected);
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        if execute(&tx, &sql, &params).await? == 0 {
            let stored = query_opt(&tx, &check, &p[..3]).await?;
            return Err(match stored {
                Some(_) => StoreError::Precondition,
                None => StoreError::NotFound,
            });
        }
        if let Some(event) = event {
            self.insert_event(&tx, env, event).await?;
        }
        tx.commit().await.map_err(db_error)
    }

    /// One run of `delete_account`: delete the user row (its credentials go with it, by the
    /// foreign key's cascade, in the same statement), append the event — one transaction.
    async fn delete_account_once(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        // The user and its organization's count in one statement (one row changed, or none).
        let sql = delete_user_sql(self);
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let deleted = execute(
            &tx,
            &sql,
            &[&env_str(env), &user_id.as_uuid(), &org.as_str()],
        )
        .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        self.insert_event(&tx, env, event).await?;
        tx.commit().await.map_err(db_error)
    }

    /// The one credentials row matching `filter` (`$1` env, `$2`, `$3`).
    async fn credentials_where(
        &self,
        filter: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<CredentialRecord>, StoreError> {
        let sql = self.sql(&format!(
            "SELECT {CRED_COLUMNS} FROM {{schema}}.credentials WHERE {filter}"
        ));
        let client = self.client().await?;
        retrying!(query_opt(&client, &sql, params))?
            .as_ref()
            .map(rows::credentials)
            .transpose()
    }
}

impl CredentialStore for PostgresStore {
    async fn insert_account(
        &self,
        env: Environment,
        user: &User,
        credentials: &CredentialRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let user = UserValues::new(env, user)?;
        let credentials = CredValues::new(env, credentials)?;
        retrying!(self.insert_account_once(env, &user, &credentials, event))
    }

    async fn insert_credentials(
        &self,
        env: Environment,
        credentials: &CredentialRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let credentials = CredValues::new(env, credentials)?;
        retrying!(self.insert_credentials_once(env, &credentials, event))
    }

    async fn credentials(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        // credentials_pkey (env, user_id); the organization compared, not indexed (see the
        // module docs of `postgres`, "Plans made without statistics").
        self.credentials_where(
            "env = $1 AND user_id = $2 AND org IS NOT DISTINCT FROM $3",
            &[&env_str(env), &user_id.as_uuid(), &org.as_str()],
        )
        .await
    }

    async fn credentials_by_username(
        &self,
        env: Environment,
        org: &OrgDomain,
        username: &str,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        // credentials_username_key (org, env, username).
        self.credentials_where(
            "env = $1 AND org = $2 AND username = $3",
            &[&env_str(env), &org.as_str(), &username],
        )
        .await
    }

    async fn update_credentials(
        &self,
        env: Environment,
        credentials: &CredentialRecord,
        expected_version: u64,
        event: Option<&NewEvent>,
    ) -> Result<(), StoreError> {
        let values = CredValues::new(env, credentials)?;
        let expected = to_i64("version", expected_version)?;
        retrying!(self.update_credentials_once(env, &values, expected, event))
    }

    async fn delete_account(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        retrying!(self.delete_account_once(env, org, user_id, event))
    }
}
