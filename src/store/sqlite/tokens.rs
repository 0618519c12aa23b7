//! The tokens module's tables on SQLite: signing keys and the revocation feed.

use rusqlite::Row;
use rusqlite::types::Value;
use time::OffsetDateTime;

use super::rows::{self, at, opt_at, text, uuid};
use super::{SqliteStore, env_str, execute, query_all, query_opt};
use crate::crypto::keys::Algorithm;
use crate::error::FieldProblem;
use crate::model::ids::{ClientId, Environment, OrgDomain, OrganizationId, UserId};
use crate::store::tokens::{Revocation, RevocationStore, SigningKeyRecord, SigningKeyStore};
use crate::store::{FamilyId, StoreError};

impl SigningKeyStore for SqliteStore {
    async fn insert_signing_key(
        &self,
        env: Environment,
        key: &SigningKeyRecord,
    ) -> Result<(), StoreError> {
        let params = vec![
            text(env_str(env)),
            text(&key.kid),
            text(key.org.as_str()),
            Value::Text(key.algorithm.to_string()),
            Value::Blob(key.sealed_private_key.clone()),
            at(key.created_at)?,
            opt_at(key.retires_at)?,
        ];
        self.write(move |tx| {
            execute(
                tx,
                "INSERT INTO signing_keys \
                 (env, kid, org, algorithm, sealed_private_key, created_at, retires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &params,
            )
            .map(drop)
        })
        .await
    }

    async fn signing_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        now: OffsetDateTime,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let params = vec![text(env_str(env)), text(org.as_str()), at(now)?];
        self.read(move |conn| {
            query_all(
                conn,
                "SELECT kid, org, algorithm, sealed_private_key, created_at, retires_at \
                 FROM signing_keys \
                 WHERE env = ?1 AND org = ?2 AND (retires_at IS NULL OR retires_at > ?3) \
                 ORDER BY created_at DESC, kid DESC",
                &params,
                signing_key,
            )
        })
        .await
    }

    async fn retire_signing_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        keep: &str,
        retires_at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let params = vec![
            text(env_str(env)),
            text(org.as_str()),
            text(keep),
            at(retires_at)?,
        ];
        self.write(move |tx| {
            execute(
                tx,
                "UPDATE signing_keys SET retires_at = ?4 \
                 WHERE env = ?1 AND org = ?2 AND kid <> ?3 AND retires_at IS NULL",
                &params,
            )
        })
        .await
    }
}

/// Decodes a row of `signing_keys`.
fn signing_key(row: &Row<'_>) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        kid: rows::str(row, "kid")?.to_owned(),
        org: rows::parse(row, "org", OrgDomain::parse)?,
        algorithm: rows::parse(row, "algorithm", |s| {
            Algorithm::from_name(s).ok_or(FieldProblem::Format("unknown algorithm"))
        })?,
        sealed_private_key: rows::bytes(row, "sealed_private_key")?.to_vec(),
        created_at: rows::instant(row, "created_at")?,
        retires_at: rows::opt_instant(row, "retires_at")?,
    })
}

/// A revocation's row values: kind, subject, org, not_before, expires_at.
fn revocation_values(r: &Revocation) -> Result<[Value; 5], StoreError> {
    Ok(match r {
        Revocation::Token { jti, expires_at } => [
            text("token"),
            uuid(*jti),
            Value::Null,
            Value::Null,
            at(*expires_at)?,
        ],
        Revocation::Grant {
            family: FamilyId(id),
            expires_at,
        } => [
            text("grant"),
            uuid(*id),
            Value::Null,
            Value::Null,
            at(*expires_at)?,
        ],
        Revocation::User {
            org,
            user_id,
            not_before,
            expires_at,
        } => [
            text("user"),
            uuid(user_id.as_uuid()),
            text(org.as_str()),
            at(*not_before)?,
            at(*expires_at)?,
        ],
        Revocation::Organization {
            id,
            org,
            not_before,
            expires_at,
        } => [
            text("organization"),
            uuid(id.as_uuid()),
            text(org.as_str()),
            at(*not_before)?,
            at(*expires_at)?,
        ],
        Revocation::Client {
            client_id,
            not_before,
            expires_at,
        } => [
            text("client"),
            uuid(client_id.as_uuid()),
            Value::Null,
            at(*not_before)?,
            at(*expires_at)?,
        ],
    })
}

/// Decodes a row of `revocations`.
fn revocation(row: &Row<'_>) -> Result<(u64, Revocation), StoreError> {
    let seq = rows::count(row, "seq")?;
    let subject = rows::uuid_of(row, "subject")?;
    let expires_at = rows::instant(row, "expires_at")?;
    let not_before = || {
        rows::opt_instant(row, "not_before")?.ok_or_else(|| {
            rows::bad(
                "not_before",
                "NULL in a user, organization or client revocation",
            )
        })
    };
    let revocation = match rows::str(row, "kind")? {
        "token" => Revocation::Token {
            jti: subject,
            expires_at,
        },
        "grant" => Revocation::Grant {
            family: FamilyId(subject),
            expires_at,
        },
        "user" => Revocation::User {
            org: rows::parse(row, "org", OrgDomain::parse)?,
            user_id: UserId::from_uuid(subject),
            not_before: not_before()?,
            expires_at,
        },
        "organization" => Revocation::Organization {
            id: OrganizationId::from_uuid(subject),
            org: rows::parse(row, "org", OrgDomain::parse)?,
            not_before: not_before()?,
            expires_at,
        },
        "client" => Revocation::Client {
            client_id: ClientId::from_uuid(subject),
            not_before: not_before()?,
            expires_at,
        },
        other => return Err(rows::bad("kind", format!("{other:?}"))),
    };
    Ok((seq, revocation))
}

impl RevocationStore for SqliteStore {
    async fn record_revocation(
        &self,
        env: Environment,
        revocation: &Revocation,
    ) -> Result<u64, StoreError> {
        let env = text(env_str(env));
        let [kind, subject, org, not_before, expires_at] = revocation_values(revocation)?;
        // The head row hands out the sequence inside the write transaction: appends commit one
        // at a time, in sequence order.
        self.write(move |tx| {
            let seq = query_opt(
                tx,
                "INSERT INTO revocation_heads (env, last) VALUES (?1, 1) \
                 ON CONFLICT (env) DO UPDATE SET last = revocation_heads.last + 1 \
                 RETURNING last",
                std::slice::from_ref(&env),
                |row| rows::count(row, "last"),
            )?
            .ok_or_else(|| rows::bad("last", "no head row after the upsert"))?;
            execute(
                tx,
                "INSERT INTO revocations (env, seq, kind, subject, org, not_before, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &[
                    env,
                    rows::int("seq", seq)?,
                    kind,
                    subject,
                    org,
                    not_before,
                    expires_at,
                ],
            )?;
            Ok(seq)
        })
        .await
    }

    async fn revocations_since(
        &self,
        env: Environment,
        after: u64,
        now: OffsetDateTime,
    ) -> Result<Vec<(u64, Revocation)>, StoreError> {
        let params = vec![text(env_str(env)), rows::int("seq", after)?, at(now)?];
        self.read(move |conn| {
            query_all(
                conn,
                "SELECT seq, kind, subject, org, not_before, expires_at FROM revocations \
                 WHERE env = ?1 AND seq > ?2 AND expires_at > ?3 ORDER BY seq",
                &params,
                revocation,
            )
        })
        .await
    }
}
