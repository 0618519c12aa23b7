//! Sign-in credentials on SQLite: one `credentials` row per user, keyed like the user (`env`,
//! `user_id`), its username unique per (`env`, `org`) by `credentials_username_key`, and tied
//! to the user row by a foreign key that deletes it with the user.
//!
//! Account writes touch the user row, the credentials row and the audit log in one
//! `BEGIN IMMEDIATE` transaction; lookups are one statement on an index (the primary key, or
//! the username constraint's index).

use rusqlite::types::Value;

use super::directory::{
    USER_COLUMNS, USER_ID, event_values, insert_event, insert_row, placeholders, user_values,
};
use super::rows::{self, at, int, opt_at, opt_text, text, uuid};
use super::{SqliteStore, env_str, execute, query_opt};
use crate::model::event::NewEvent;
use crate::model::ids::{Environment, OrgDomain, UserId};
use crate::model::user::User;
use crate::store::StoreError;
use crate::store::credentials::{CredentialRecord, CredentialStore};

/// The columns of `credentials`, in [`cred_values`] order.
const CRED_COLUMNS: &str = "env, user_id, org, username, password_hash, status, role, \
     totp_secret, totp_at, pending_totp_secret, pending_totp_at, recovery_generation, \
     known_devices, known_ips, updated_at, version";

/// The column values of a credentials row, in [`CRED_COLUMNS`] order.
fn cred_values(env: Environment, c: &CredentialRecord) -> Result<Vec<Value>, StoreError> {
    let sealed = |t: &Option<crate::store::SealedTotp>| {
        t.as_ref()
            .map_or(Value::Null, |t| Value::Blob(t.sealed_secret.clone()))
    };
    Ok(vec![
        text(env_str(env)),
        uuid(c.user_id.as_uuid()),
        text(c.org.as_str()),
        opt_text(c.username.as_deref()),
        opt_text(c.password_hash.as_deref()),
        text(rows::status_str(c.status)),
        text(rows::role_str(c.role)),
        sealed(&c.totp),
        opt_at(c.totp.as_ref().map(|t| t.at))?,
        sealed(&c.pending_totp),
        opt_at(c.pending_totp.as_ref().map(|t| t.at))?,
        Value::Integer(i64::from(c.recovery_generation)),
        rows::digest_list(&c.known_devices),
        rows::digest_list(&c.known_ips),
        at(c.updated_at)?,
        int("version", c.version)?,
    ])
}

fn insert_credentials_sql() -> String {
    format!(
        "INSERT INTO credentials ({CRED_COLUMNS}) VALUES ({})",
        placeholders(16)
    )
}

impl SqliteStore {
    /// The one credentials row matching `filter` (`?1` env, `?2`, `?3`).
    async fn credentials_where(
        &self,
        filter: &'static str,
        params: Vec<Value>,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        let sql = format!("SELECT {CRED_COLUMNS} FROM credentials WHERE {filter}");
        self.read(move |conn| query_opt(conn, &sql, &params, rows::credentials))
            .await
    }
}

impl CredentialStore for SqliteStore {
    async fn insert_account(
        &self,
        env: Environment,
        user: &User,
        credentials: &CredentialRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let user = user_values(env, user)?;
        let credentials = cred_values(env, credentials)?;
        let event = event_values(env, event)?;
        let user_sql = format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES ({})",
            placeholders(31)
        );
        self.write(move |tx| {
            // users_pkey → "id", users_email_key → "email", credentials_username_key →
            // "username": the failed statement rolls the transaction back, so nothing of the
            // account is written.
            insert_row(tx, &user_sql, &user, Some(&USER_ID))?;
            execute(tx, &insert_credentials_sql(), &credentials)?;
            insert_event(tx, &event).map(drop)
        })
        .await
    }

    async fn insert_credentials(
        &self,
        env: Environment,
        credentials: &CredentialRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let credentials = cred_values(env, credentials)?;
        let event = event_values(env, event)?;
        self.write(move |tx| {
            // The user must exist in this organization; the write lock keeps it there until
            // the commit.
            query_opt(
                tx,
                "SELECT 1 AS found FROM users WHERE env = ?1 AND id = ?2 AND org = ?3",
                &credentials[..3],
                |_| Ok(()),
            )?
            .ok_or(StoreError::NotFound)?;
            // Credentials already there answer "user" whatever their username: SQLite reports
            // whichever unique index it checks first, so this one is asked first.
            let existing = query_opt(
                tx,
                "SELECT 1 AS found FROM credentials WHERE env = ?1 AND user_id = ?2",
                &credentials[..2],
                |_| Ok(()),
            )?;
            if existing.is_some() {
                return Err(StoreError::AlreadyExists { key: "user" });
            }
            // credentials_username_key → "username".
            execute(tx, &insert_credentials_sql(), &credentials)?;
            insert_event(tx, &event).map(drop)
        })
        .await
    }

    async fn credentials(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        // credentials_pkey (env, user_id).
        self.credentials_where(
            "env = ?1 AND user_id = ?2 AND org = ?3",
            vec![
                text(env_str(env)),
                uuid(user_id.as_uuid()),
                text(org.as_str()),
            ],
        )
        .await
    }

    async fn credentials_by_username(
        &self,
        env: Environment,
        org: &OrgDomain,
        username: &str,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        // credentials_username_key (env, org, username).
        self.credentials_where(
            "env = ?1 AND org = ?2 AND username = ?3",
            vec![text(env_str(env)), text(org.as_str()), text(username)],
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
        let mut params = cred_values(env, credentials)?;
        params.push(int("version", expected_version)?);
        let event = event.map(|e| event_values(env, e)).transpose()?;
        self.write(move |tx| {
            // The username changes in the same row: the old one is released in the same step,
            // and a taken new one violates credentials_username_key.
            let changed = execute(
                tx,
                "UPDATE credentials SET username = ?4, password_hash = ?5, status = ?6, \
                 role = ?7, totp_secret = ?8, totp_at = ?9, pending_totp_secret = ?10, \
                 pending_totp_at = ?11, recovery_generation = ?12, known_devices = ?13, \
                 known_ips = ?14, updated_at = ?15, version = ?16 \
                 WHERE env = ?1 AND user_id = ?2 AND org = ?3 AND version = ?17",
                &params,
            )?;
            if changed == 0 {
                let stored = query_opt(
                    tx,
                    "SELECT 1 AS found FROM credentials \
                     WHERE env = ?1 AND user_id = ?2 AND org = ?3",
                    &params[..3],
                    |_| Ok(()),
                )?;
                return Err(match stored {
                    Some(()) => StoreError::Precondition,
                    None => StoreError::NotFound,
                });
            }
            if let Some(event) = &event {
                insert_event(tx, event)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_account(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let params = vec![
            text(env_str(env)),
            uuid(user_id.as_uuid()),
            text(org.as_str()),
        ];
        let event = event_values(env, event)?;
        self.write(move |tx| {
            // The credentials go with the user row, by the foreign key's cascade, in the same
            // statement.
            let deleted = execute(
                tx,
                "DELETE FROM users WHERE env = ?1 AND id = ?2 AND org = ?3",
                &params,
            )?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            insert_event(tx, &event).map(drop)
        })
        .await
    }
}
