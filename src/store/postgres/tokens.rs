//! The tokens module's tables on PostgreSQL: signing keys and the revocation feed.

use time::OffsetDateTime;
use uuid::Uuid;

use super::rows;
use super::{PostgresStore, begin, env_str, execute, query, retrying};
use crate::crypto::keys::Algorithm;
use crate::error::FieldProblem;
use crate::model::ids::{ClientId, Environment, OrgDomain, OrganizationId, UserId};
use crate::store::tokens::{Revocation, RevocationStore, SigningKeyRecord, SigningKeyStore};
use crate::store::{FamilyId, StoreError};

impl SigningKeyStore for PostgresStore {
    async fn insert_signing_key(
        &self,
        env: Environment,
        key: &SigningKeyRecord,
    ) -> Result<(), StoreError> {
        let sql = self.sql(
            "INSERT INTO {schema}.signing_keys \
             (env, kid, org, algorithm, sealed_private_key, created_at, retires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        );
        let client = self.client().await?;
        let algorithm = key.algorithm.to_string();
        retrying!(execute(
            &client,
            &sql,
            &[
                &env_str(env),
                &key.kid,
                &key.org.as_str(),
                &algorithm,
                &key.sealed_private_key,
                &key.created_at,
                &key.retires_at,
            ]
        ))?;
        Ok(())
    }

    async fn signing_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        now: OffsetDateTime,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let sql = self.sql(
            "SELECT kid, org, algorithm, sealed_private_key, created_at, retires_at \
             FROM {schema}.signing_keys \
             WHERE env = $1 AND org = $2 AND (retires_at IS NULL OR retires_at > $3) \
             ORDER BY created_at DESC, kid DESC",
        );
        let client = self.client().await?;
        let rows = retrying!(query(&client, &sql, &[&env_str(env), &org.as_str(), &now]))?;
        rows.iter()
            .map(|row| {
                Ok(SigningKeyRecord {
                    kid: rows::get::<String>(row, "kid")?,
                    org: rows::parse(row, "org", OrgDomain::parse)?,
                    algorithm: rows::parse(row, "algorithm", |s| {
                        Algorithm::from_name(s).ok_or(FieldProblem::Format("unknown algorithm"))
                    })?,
                    sealed_private_key: rows::get(row, "sealed_private_key")?,
                    created_at: rows::get(row, "created_at")?,
                    retires_at: rows::get(row, "retires_at")?,
                })
            })
            .collect()
    }

    async fn retire_signing_keys(
        &self,
        env: Environment,
        org: &OrgDomain,
        keep: &str,
        retires_at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let sql = self.sql(
            "UPDATE {schema}.signing_keys SET retires_at = $4 \
             WHERE env = $1 AND org = $2 AND kid <> $3 AND retires_at IS NULL",
        );
        let client = self.client().await?;
        retrying!(execute(
            &client,
            &sql,
            &[&env_str(env), &org.as_str(), &keep, &retires_at]
        ))
    }
}

/// A revocation's row values: kind, subject, org, not_before, expires_at.
fn columns(
    r: &Revocation,
) -> (
    &'static str,
    Uuid,
    Option<&str>,
    Option<OffsetDateTime>,
    OffsetDateTime,
) {
    match r {
        Revocation::Token { jti, expires_at } => ("token", *jti, None, None, *expires_at),
        Revocation::Grant {
            family: FamilyId(id),
            expires_at,
        } => ("grant", *id, None, None, *expires_at),
        Revocation::User {
            org,
            user_id,
            not_before,
            expires_at,
        } => (
            "user",
            user_id.as_uuid(),
            Some(org.as_str()),
            Some(*not_before),
            *expires_at,
        ),
        Revocation::Organization {
            id,
            org,
            not_before,
            expires_at,
        } => (
            "organization",
            id.as_uuid(),
            Some(org.as_str()),
            Some(*not_before),
            *expires_at,
        ),
        Revocation::Client {
            client_id,
            not_before,
            expires_at,
        } => (
            "client",
            client_id.as_uuid(),
            None,
            Some(*not_before),
            *expires_at,
        ),
    }
}

impl RevocationStore for PostgresStore {
    async fn record_revocation(
        &self,
        env: Environment,
        revocation: &Revocation,
    ) -> Result<u64, StoreError> {
        let head = self.sql(
            "INSERT INTO {schema}.revocation_heads AS h (env, last) VALUES ($1, 1) \
             ON CONFLICT (env) DO UPDATE SET last = h.last + 1 RETURNING last",
        );
        let insert = self.sql(
            "INSERT INTO {schema}.revocations \
             (env, seq, kind, subject, org, not_before, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        );
        let notify = "SELECT pg_notify($1, $2)";
        let schema = self.schema();
        let (kind, subject, org, not_before, expires_at) = columns(revocation);
        let env = env_str(env);
        let mut client = self.client().await?;
        retrying!(async {
            // The head row's lock is held until commit: appends commit in sequence order.
            let tx = begin(&mut client).await?;
            let row = super::query_opt(&tx, &head, &[&env]).await?;
            let seq: i64 = match &row {
                Some(row) => rows::get(row, "last")?,
                None => return Err(StoreError::backend(MissingHead)),
            };
            execute(
                &tx,
                &insert,
                &[&env, &seq, &kind, &subject, &org, &not_before, &expires_at],
            )
            .await?;
            if self.notify {
                // Delivered to the listeners when (and only if) the append commits.
                execute(&tx, notify, &[&super::listen::CHANNEL, &schema]).await?;
            }
            tx.commit().await.map_err(super::db_error)?;
            u64::try_from(seq).map_err(|_| StoreError::backend(MissingHead))
        })
    }

    fn revocation_notices(&self) -> Option<u64> {
        self.notices.current()
    }

    async fn revocations_since(
        &self,
        env: Environment,
        after: u64,
        now: OffsetDateTime,
    ) -> Result<Vec<(u64, Revocation)>, StoreError> {
        let sql = self.sql(
            "SELECT seq, kind, subject, org, not_before, expires_at FROM {schema}.revocations \
             WHERE env = $1 AND seq > $2 AND expires_at > $3 ORDER BY seq",
        );
        let after = rows::to_i64("seq", after)?;
        let client = self.client().await?;
        let rows = retrying!(query(&client, &sql, &[&env_str(env), &after, &now]))?;
        rows.iter()
            .map(|row| {
                let seq: i64 = rows::get(row, "seq")?;
                let seq = u64::try_from(seq).map_err(|_| StoreError::backend(MissingHead))?;
                let kind: &str = rows::get(row, "kind")?;
                let subject: Uuid = rows::get(row, "subject")?;
                let expires_at: OffsetDateTime = rows::get(row, "expires_at")?;
                let not_before = || -> Result<OffsetDateTime, StoreError> {
                    rows::get::<Option<OffsetDateTime>>(row, "not_before")?
                        .ok_or_else(|| StoreError::backend(MissingHead))
                };
                let revocation = match kind {
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
                    _ => return Err(StoreError::backend(UnknownRevocationKind)),
                };
                Ok((seq, revocation))
            })
            .collect()
    }
}

/// A revocation row whose `kind` this version does not know (the schema's CHECK allows only
/// the five kinds: the row was written by something else).
#[derive(Debug, thiserror::Error)]
#[error("the revocation feed holds a row of an unknown kind")]
struct UnknownRevocationKind;

/// The revocation feed's rows are inconsistent (no head row after an upsert, a negative
/// sequence, a user or client revocation without `not_before`).
#[derive(Debug, thiserror::Error)]
#[error("the revocation feed is inconsistent")]
struct MissingHead;
