//! [`PostgresStore`]: the durable store on PostgreSQL (feature `postgres`), through a
//! [`deadpool_postgres`] pool of [`tokio_postgres`] connections.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use idcore::store::postgres::deadpool_postgres::{Config, Runtime};
//! use idcore::store::postgres::tokio_postgres::NoTls;
//! use idcore::store::postgres::PostgresStore;
//!
//! let mut config = Config::new();
//! config.url = Some("postgres://idcore@db.internal/idcore".into());
//! let pool = config.create_pool(Some(Runtime::Tokio1), NoTls)?;
//! let store = PostgresStore::new(pool).with_schema("identity")?; // default schema: `idcore`
//! store.migrate().await?; // explicit, idempotent, safe from several processes at once
//! let identity = idcore::Identity::builder()
//!     .issuer("https://auth.example.com")
//!     .store(store)
//!     .build()?;
//! # drop(identity); Ok(()) }
//! ```
//!
//! # How the contract holds in SQL
//! Every method is one statement, or one transaction at `READ COMMITTED`; a directory write and
//! its audit event commit together. Each check-then-act is a conditional write whose `WHERE`
//! clause is the check:
//!
//! | primitive | SQL |
//! |---|---|
//! | unique keys | named constraints; a unique violation maps by constraint name to [`StoreError::AlreadyExists`] |
//! | conditional update | `UPDATE … WHERE version = $expected AND deleted_at IS NULL`, then a read to tell `NotFound` from `Precondition` |
//! | take-once | `UPDATE one_time SET taken_at = $now WHERE taken_at IS NULL AND expires_at > $now RETURNING payload` |
//! | rotation | one statement: lock the family row (`SELECT … FOR UPDATE` in a CTE), `UPDATE … SET state = 'rotated' WHERE state = 'active' AND expires_at > $now RETURNING …`, `INSERT` the successor only if that returned a row |
//! | revocation | lock the family rows (in a fixed order), then revoke their tokens, one transaction |
//! | counter | `INSERT … ON CONFLICT DO UPDATE SET value = value + 1 WHERE value < $limit OR expired` |
//! | mark / step | `INSERT … ON CONFLICT DO UPDATE … WHERE expired` / `WHERE stored < new` |
//! | account | user row, credentials row and event in one transaction; the credentials row references the user row (`ON DELETE CASCADE`), so erasing the user erases them in the same statement; adding credentials locks the user row (`FOR KEY SHARE`) first |
//!
//! A concurrent update waits for the row lock and re-checks its `WHERE` on the committed row, so
//! of N racing writers exactly one wins and the others see the winner's row. Rotation and
//! revocation also lock the family's row in `refresh_families`: a revocation that waited for a
//! rotation runs its `UPDATE` after the rotation committed, so it revokes the successor too.
//!
//! Serialization failures (`40001`) and deadlocks (`40P01`) — which PostgreSQL at `READ
//! COMMITTED` does not produce on these paths, but serializable databases do — are retried
//! twice (every method is one transaction, so nothing was written), then answered as
//! [`StoreError::Retryable`]. Everything else is [`StoreError::Backend`].
//!
//! # Schema
//! Every table lives in one schema (default `idcore`, see [`PostgresStore::with_schema`]) and
//! every statement names it, so the pool may be shared with the host's own queries: the store
//! never changes a connection's `search_path` or session settings. [`PostgresStore::migrate`]
//! applies the versioned migrations in `migrations/`, recording each in
//! `idcore_migrations` with a checksum.
//!
//! Every table has `env` in every key and index (first, except the refresh-token, user and
//! credentials indexes that lead with their selective column: migrations 7 and 8), and every
//! query filters on it. Every lookup
//! and every page is served by an index (see the migrations).
//!
//! # Plans made without statistics
//! Each connection plans a prepared statement once and may keep a generic plan until the table
//! is analyzed — on a new database, a plan made while the tables were empty. With no
//! statistics, every index whose leading columns a query constrains looks as cheap as the
//! primary key. The refresh-token, user and credentials lookups are laid out so that only their
//! key fits (migrations 7 and 8: the secondary indexes lead with their selective column, and
//! the lookups compare `family` or `org` with `IS NOT DISTINCT FROM`, not an index operator;
//! the columns are `NOT NULL`, so it means `=`); `tests/conformance_postgres.rs` checks their
//! generic plans on tables never analyzed. Organizations (few) are not: a lookup by domain may
//! take `organizations_id_key` until autovacuum first analyzes the table. After a bulk load,
//! run `ANALYZE`.
//!
//! # Time
//! Timestamps are stored as `timestamptz`, which keeps microseconds: records read back carry
//! the instants given, truncated to the microsecond. Comparisons with `now` happen on the
//! truncated values, so two instants within the same microsecond compare equal.
//!
//! # Revocations across instances
//! Each instance polls the revocation feed (`revocation_poll_interval`, 500 ms by default).
//! With [`PostgresStore::listen_for_revocations`] it also hears of each append as it commits
//! (LISTEN/NOTIFY on a dedicated connection) and catches up at once: another instance's
//! revocation is seen within milliseconds. See [`RevocationListener`].
//!
//! # Other databases
//! The SQL sticks to what CockroachDB and YugabyteDB also run: plain types, named constraints,
//! `ON CONFLICT`, `RETURNING`, `SELECT … FOR UPDATE`, partial indexes, one sequence
//! (and `pg_notify`, which [`PostgresStore::notify_revocations`] turns off). It avoids
//! advisory locks (migrations lock a row instead), `LOCK TABLE`, `jsonb`, triggers, stored
//! functions, extensions, and collation-dependent expressions. Only PostgreSQL 15 is tested.
//! Known differences elsewhere: on YugabyteDB, event ids are strictly increasing only with a
//! sequence cache of 1 (`ysql_sequence_cache_minval`); on CockroachDB, `READ COMMITTED` may run
//! as `SERIALIZABLE` (conflicts then surface as retries) and DDL in the migration transaction is
//! not atomic.

mod api_keys;
mod claims;
mod credentials;
mod directory;
mod events;
mod listen;
mod primitives;
mod rows;
mod sessions;
mod sets;
mod sso;
mod tokens;

use std::fmt;

use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, Row};

use super::StoreError;
use crate::model::ids::Environment;

/// The PostgreSQL client crates, re-exported so a host builds its pool with the same versions.
pub use listen::RevocationListener;
pub use {deadpool_postgres, tokio_postgres};

/// How many times one store call runs when it keeps failing with a serialization failure or a
/// deadlock.
const ATTEMPTS: u32 = 3;

/// Runs one store call (one statement or one transaction, so a failed run wrote nothing) again
/// while it answers [`StoreError::Retryable`], at most [`ATTEMPTS`] times in all.
macro_rules! retrying {
    ($call:expr) => {{
        let mut attempt = 1;
        loop {
            match $call.await {
                Err($crate::store::StoreError::Retryable { .. })
                    if attempt < $crate::store::postgres::ATTEMPTS =>
                {
                    attempt += 1
                }
                result => break result,
            }
        }
    }};
}
pub(crate) use retrying;

/// The versioned migrations, in order. Applied ones are never edited: add a new file instead.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "tokens",
        sql: include_str!("migrations/0002_tokens.sql"),
    },
    Migration {
        version: 3,
        name: "credentials",
        sql: include_str!("migrations/0003_credentials.sql"),
    },
    Migration {
        version: 4,
        name: "user_active",
        sql: include_str!("migrations/0004_user_active.sql"),
    },
    Migration {
        version: 5,
        name: "counts",
        sql: include_str!("migrations/0005_counts.sql"),
    },
    Migration {
        version: 6,
        name: "organization_revocations",
        sql: include_str!("migrations/0006_organization_revocations.sql"),
    },
    Migration {
        version: 7,
        name: "refresh_token_indexes",
        sql: include_str!("migrations/0007_refresh_token_indexes.sql"),
    },
    Migration {
        version: 8,
        name: "lookup_indexes",
        sql: include_str!("migrations/0008_lookup_indexes.sql"),
    },
    Migration {
        version: 9,
        name: "limited_sets",
        sql: include_str!("migrations/0009_limited_sets.sql"),
    },
    Migration {
        version: 10,
        name: "sessions",
        sql: include_str!("migrations/0010_sessions.sql"),
    },
    Migration {
        version: 11,
        name: "session_amr",
        sql: include_str!("migrations/0011_session_amr.sql"),
    },
    Migration {
        version: 12,
        name: "api_keys",
        sql: include_str!("migrations/0012_api_keys.sql"),
    },
    Migration {
        version: 13,
        name: "claims",
        sql: include_str!("migrations/0013_claims.sql"),
    },
    Migration {
        version: 14,
        name: "sso_connections",
        sql: include_str!("migrations/0014_sso_connections.sql"),
    },
    Migration {
        version: 15,
        name: "user_federation",
        sql: include_str!("migrations/0015_user_federation.sql"),
    },
];

struct Migration {
    version: i64,
    name: &'static str,
    /// SQL with `{schema}` where the quoted schema goes.
    sql: &'static str,
}

/// The schema used unless [`PostgresStore::with_schema`] says otherwise.
pub const DEFAULT_SCHEMA: &str = "idcore";

/// The durable store on PostgreSQL. Clones share the pool.
///
/// Create it with [`PostgresStore::new`], choose its schema with [`PostgresStore::with_schema`],
/// and call [`PostgresStore::migrate`] once at start-up before using it. Several processes may
/// share one schema: every primitive is atomic in the database, not in the process.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// The schema, quoted (`"idcore"`), ready to prefix table names.
    schema: String,
    /// Whether appends to the revocation feed send a notice (see [`listen`]).
    notify: bool,
    /// What this store's revocation listener heard, if one runs.
    notices: std::sync::Arc<listen::Notices>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// A schema name [`PostgresStore::with_schema`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid schema name {0:?}: use 1 to 63 lowercase ASCII letters, digits and underscores, \
     starting with a letter or underscore, not starting with pg_"
)]
pub struct InvalidSchemaName(pub String);

impl PostgresStore {
    /// A store on `pool`, in the schema [`DEFAULT_SCHEMA`] (`idcore`).
    ///
    /// Nothing is checked or created until [`PostgresStore::migrate`] runs.
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            schema: quote(DEFAULT_SCHEMA),
            notify: true,
            notices: std::sync::Arc::default(),
        }
    }

    /// Whether appending to the revocation feed sends a notice (`NOTIFY`) to the instances
    /// that listen ([`PostgresStore::listen_for_revocations`]). On by default; turn it off on
    /// databases without `pg_notify` (CockroachDB), where instances poll.
    pub fn notify_revocations(mut self, notify: bool) -> Self {
        self.notify = notify;
        self
    }

    /// The same store in schema `name`: 1 to 63 characters of lowercase ASCII letters, digits
    /// and `_`, not starting with a digit nor with `pg_` (so it needs no escaping and no
    /// case folding can change it).
    ///
    /// # Errors
    /// [`InvalidSchemaName`] for any other name.
    pub fn with_schema(mut self, name: &str) -> Result<Self, InvalidSchemaName> {
        let valid = (1..=63).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !name.starts_with("pg_");
        if !valid {
            return Err(InvalidSchemaName(name.to_owned()));
        }
        self.schema = quote(name);
        Ok(self)
    }

    /// The schema, unquoted.
    pub fn schema(&self) -> &str {
        self.schema.trim_matches('"')
    }

    /// The pool the store draws its connections from.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Creates the schema if needed and applies every migration not applied yet, in one
    /// transaction. Idempotent; several processes may call it at once (they queue on a row lock
    /// in `idcore_migrations` and later ones find nothing to do).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database refuses (missing privileges, say), or when a
    /// migration recorded as applied no longer has the checksum it was applied with.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let bootstrap = self.sql(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.idcore_migrations (
                 version    BIGINT      NOT NULL,
                 name       TEXT        NOT NULL,
                 checksum   TEXT        NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL,
                 CONSTRAINT idcore_migrations_pkey PRIMARY KEY (version));
             INSERT INTO {schema}.idcore_migrations (version, name, checksum, applied_at)
                 VALUES (0, 'lock', '', CURRENT_TIMESTAMP)
                 ON CONFLICT (version) DO NOTHING;",
        );
        // Two processes creating the same schema or table at once can collide on the catalog's
        // own unique indexes even with IF NOT EXISTS; the loser finds everything there next time.
        let mut attempt = 1;
        loop {
            match client.batch_execute(&bootstrap).await {
                Ok(()) => break,
                Err(e) if attempt < ATTEMPTS && is_duplicate_object(&e) => attempt += 1,
                Err(e) => return Err(db_error(e)),
            }
        }

        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await
            .map_err(db_error)?;
        // The row lock that queues concurrent migrators (portable, unlike advisory locks).
        let lock =
            self.sql("SELECT version FROM {schema}.idcore_migrations WHERE version = 0 FOR UPDATE");
        tx.query(&lock, &[]).await.map_err(db_error)?;
        let applied = tx
            .query(
                &self.sql(
                    "SELECT version, checksum FROM {schema}.idcore_migrations WHERE version > 0",
                ),
                &[],
            )
            .await
            .map_err(db_error)?;
        let applied = applied
            .iter()
            .map(|row| {
                Ok((
                    rows::get::<i64>(row, "version")?,
                    rows::get::<String>(row, "checksum")?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        for migration in MIGRATIONS {
            let checksum = checksum(migration.sql);
            let recorded = applied.iter().find(|(v, _)| *v == migration.version);
            match recorded {
                Some((_, stored)) if *stored == checksum => {}
                Some(_) => {
                    return Err(StoreError::backend(MigrationChanged(migration.version)));
                }
                None => {
                    tx.batch_execute(&self.sql(migration.sql))
                        .await
                        .map_err(db_error)?;
                    tx.execute(
                        &self.sql(
                            "INSERT INTO {schema}.idcore_migrations (version, name, checksum, applied_at)
                             VALUES ($1, $2, $3, CURRENT_TIMESTAMP)",
                        ),
                        &[&migration.version, &migration.name, &checksum],
                    )
                    .await
                    .map_err(db_error)?;
                }
            }
        }
        tx.commit().await.map_err(db_error)
    }

    /// Deletes what the contract lets the store forget as of `now`: one-time entries past their
    /// `retain_until`, expired markers and counters, and refresh tokens (and their families)
    /// past `family_expires_at`. Returns how many rows went. Monotonic steps are never deleted.
    ///
    /// Nothing calls this on its own: run it from a periodic task. Each table is purged by one
    /// `DELETE` using its expiry index.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    pub async fn purge_expired(&self, now: time::OffsetDateTime) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let mut deleted = 0;
        for sql in [
            "DELETE FROM {schema}.one_time WHERE retain_until <= $1",
            "DELETE FROM {schema}.marks WHERE expires_at <= $1",
            "DELETE FROM {schema}.counters WHERE expires_at <= $1",
            "DELETE FROM {schema}.refresh_tokens WHERE family_expires_at <= $1",
            "DELETE FROM {schema}.refresh_families WHERE family_expires_at <= $1",
            // `env IN (…)` lets the (env, expires_at) index serve the range.
            "DELETE FROM {schema}.revocations \
             WHERE env IN ('sandbox', 'production') AND expires_at <= $1",
            "DELETE FROM {schema}.signing_keys WHERE retires_at <= $1",
        ] {
            deleted += execute(&client, &self.sql(sql), &[&now]).await?;
        }
        Ok(deleted)
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(StoreError::backend)
    }

    /// `template` with every `{schema}` replaced by the quoted schema.
    fn sql(&self, template: &str) -> String {
        template.replace("{schema}", &self.schema)
    }
}

/// A migration recorded as applied whose SQL has changed since.
#[derive(Debug, thiserror::Error)]
#[error("migration {0} was changed after it was applied")]
struct MigrationChanged(i64);

/// SHA-256 of a migration's template, hex.
fn checksum(sql: &str) -> String {
    crate::secret::Digest::of(sql.as_bytes()).to_hex()
}

/// A validated schema name, quoted.
fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

/// The wire name of an environment, as stored in every `env` column.
fn env_str(env: Environment) -> &'static str {
    env.as_str()
}

/// Runs a statement (prepared once per connection) and returns its rows.
async fn query<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(db_error)?;
    client.query(&statement, params).await.map_err(db_error)
}

/// Runs a statement (prepared once per connection) and returns at most one row.
async fn query_opt<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(db_error)?;
    client.query_opt(&statement, params).await.map_err(db_error)
}

/// Runs a statement (prepared once per connection) and returns how many rows it changed.
async fn execute<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(db_error)?;
    client.execute(&statement, params).await.map_err(db_error)
}

/// Starts a `READ COMMITTED` transaction (stated, whatever the database's default).
async fn begin(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(db_error)
}

/// The store error for a database error: unique violations by constraint name, serialization
/// failures and deadlocks as retryable, everything else as a backend failure.
fn db_error(err: tokio_postgres::Error) -> StoreError {
    match err.code() {
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StoreError::Retryable {
                source: Box::new(err),
            }
        }
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
            match err
                .as_db_error()
                .and_then(|db| db.constraint())
                .and_then(unique_key)
            {
                Some(key) => StoreError::AlreadyExists { key },
                None => StoreError::backend(err),
            }
        }
        _ => StoreError::backend(err),
    }
}

/// The contract's key name for each unique constraint of the schema.
fn unique_key(constraint: &str) -> Option<&'static str> {
    Some(match constraint {
        "organizations_pkey" => "domain",
        "organizations_id_key" => "id",
        "users_pkey" => "id",
        "users_email_key" => "email",
        "applications_pkey" => "client_id",
        "one_time_pkey" => "key",
        "refresh_tokens_pkey" => "digest",
        "signing_keys_pkey" => "kid",
        "credentials_pkey" => "user",
        "credentials_username_key" => "username",
        "sessions_pkey" => "id",
        "sessions_token_key" => "token",
        "sessions_reuse_key" => "reuse_key",
        "api_keys_pkey" => "key_id",
        "sso_connections_pkey" => "idp_id",
        "sso_connections_sp_id_key" => "sp_id",
        _ => return None,
    })
}

/// Whether a DDL statement lost a race to create the same object.
fn is_duplicate_object(err: &tokio_postgres::Error) -> bool {
    err.code().is_some_and(|code| {
        *code == SqlState::UNIQUE_VIOLATION
            || *code == SqlState::DUPLICATE_SCHEMA
            || *code == SqlState::DUPLICATE_TABLE
            || *code == SqlState::DUPLICATE_OBJECT
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unique_constraint_of_the_schema_maps_to_a_contract_key() {
        let sql = MIGRATIONS.iter().map(|m| m.sql).collect::<String>();
        for (constraint, key) in [
            ("organizations_pkey", "domain"),
            ("organizations_id_key", "id"),
            ("users_pkey", "id"),
            ("users_email_key", "email"),
            ("applications_pkey", "client_id"),
            ("one_time_pkey", "key"),
            ("refresh_tokens_pkey", "digest"),
            ("signing_keys_pkey", "kid"),
            ("credentials_pkey", "user"),
            ("credentials_username_key", "username"),
            ("api_keys_pkey", "key_id"),
            ("sso_connections_pkey", "idp_id"),
            ("sso_connections_sp_id_key", "sp_id"),
        ] {
            assert!(
                sql.contains(&format!("CONSTRAINT {constraint} ")),
                "{constraint}"
            );
            assert_eq!(unique_key(constraint), Some(key));
        }
        assert_eq!(unique_key("counters_pkey"), None);
    }

    #[test]
    fn schema_names_are_plain_lowercase_identifiers() {
        let pool = || {
            let mut config = deadpool_postgres::Config::new();
            config.url = Some("postgres://nobody@127.0.0.1:1/none".into());
            config
                .create_pool(None, tokio_postgres::NoTls)
                .expect("a pool is created lazily")
        };
        for ok in ["idcore", "_x", "tenant_1", &"a".repeat(63)] {
            let store = PostgresStore::new(pool()).with_schema(ok).expect(ok);
            assert_eq!(store.schema(), ok);
        }
        for bad in [
            "",
            "Idcore",
            "1abc",
            "pg_catalog",
            "a-b",
            "a\"b",
            "a;drop",
            "é",
            &"a".repeat(64),
        ] {
            assert!(
                PostgresStore::new(pool()).with_schema(bad).is_err(),
                "{bad}"
            );
        }
        assert_eq!(PostgresStore::new(pool()).schema(), DEFAULT_SCHEMA);
    }

    /// Two raw connections to the test database and a scratch schema with a two-row table, when
    /// `IDCORE_TEST_POSTGRES_URL` is set.
    async fn scratch() -> Option<(tokio_postgres::Client, tokio_postgres::Client, String)> {
        let url = std::env::var("IDCORE_TEST_POSTGRES_URL").ok()?;
        let mut clients = Vec::new();
        for _ in 0..2 {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("the test database answers");
            tokio::spawn(connection);
            clients.push(client);
        }
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs();
        let schema = format!("idcore_test_{seconds}_{}_errors", std::process::id());
        clients[0]
            .batch_execute(&format!(
                "CREATE SCHEMA \"{schema}\";
                 CREATE TABLE \"{schema}\".t (id INT PRIMARY KEY, v INT NOT NULL);
                 CREATE TABLE \"{schema}\".u (k INT CONSTRAINT users_email_key UNIQUE);
                 INSERT INTO \"{schema}\".t VALUES (1, 0), (2, 0);"
            ))
            .await
            .expect("scratch schema");
        let second = clients.pop()?;
        let first = clients.pop()?;
        Some((first, second, schema))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn database_errors_map_to_the_store_errors_of_the_contract() {
        let Some((a, b, schema)) = scratch().await else {
            return;
        };
        let t = format!("\"{schema}\".t");

        // A serialization failure (40001): a repeatable-read writer loses to a committed update.
        a.batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT v FROM {t} WHERE id = 1"
        ))
        .await
        .expect("snapshot taken");
        b.execute(&format!("UPDATE {t} SET v = 1 WHERE id = 1"), &[])
            .await
            .expect("concurrent update");
        let lost = a
            .execute(&format!("UPDATE {t} SET v = 2 WHERE id = 1"), &[])
            .await
            .expect_err("could not serialize");
        assert!(matches!(db_error(lost), StoreError::Retryable { .. }));
        a.batch_execute("ROLLBACK").await.expect("rolled back");

        // A deadlock (40P01): each transaction waits for the other's row.
        for (client, id) in [(&a, 1), (&b, 2)] {
            // Detect it quickly where allowed (a superuser setting); the default 1 s works too.
            let _ = client.batch_execute("SET deadlock_timeout = '50ms'").await;
            client
                .batch_execute(&format!("BEGIN; UPDATE {t} SET v = v + 1 WHERE id = {id}"))
                .await
                .expect("first row locked");
        }
        let (second_a, second_b) = (
            format!("UPDATE {t} SET v = v + 1 WHERE id = 2"),
            format!("UPDATE {t} SET v = v + 1 WHERE id = 1"),
        );
        let (ra, rb) = tokio::join!(a.execute(&second_a, &[]), b.execute(&second_b, &[]));
        let victim = match (ra, rb) {
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => e,
            other => panic!("expected exactly one deadlock victim, got {other:?}"),
        };
        assert!(matches!(db_error(victim), StoreError::Retryable { .. }));
        for client in [&a, &b] {
            client.batch_execute("ROLLBACK").await.expect("rolled back");
        }

        // Unique violations: by constraint name, and a foreign constraint is a backend failure.
        let dup = a
            .execute(&format!("INSERT INTO {t} VALUES (1, 0)"), &[])
            .await
            .expect_err("duplicate key");
        assert!(matches!(db_error(dup), StoreError::Backend { .. }));
        a.execute(&format!("INSERT INTO \"{schema}\".u VALUES (1)"), &[])
            .await
            .expect("first");
        let taken = a
            .execute(&format!("INSERT INTO \"{schema}\".u VALUES (1)"), &[])
            .await
            .expect_err("taken");
        assert!(matches!(
            db_error(taken),
            StoreError::AlreadyExists { key: "email" }
        ));
        let other = a
            .execute("SELECT 1 / 0", &[])
            .await
            .expect_err("division by zero");
        assert!(matches!(db_error(other), StoreError::Backend { .. }));
        a.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await
            .expect("dropped");
    }
}
