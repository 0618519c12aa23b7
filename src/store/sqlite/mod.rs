//! [`SqliteStore`]: the durable embedded store on SQLite (feature `sqlite`), through
//! [`rusqlite`] with SQLite bundled — the choice for a single-node deployment.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use idcore::store::sqlite::SqliteStore;
//!
//! let store = SqliteStore::open("/var/lib/myapp/identity.sqlite3").await?;
//! store.migrate().await?; // explicit, idempotent, safe from several processes at once
//! let identity = idcore::Identity::builder()
//!     .issuer("https://auth.example.com")
//!     .store(store)
//!     .build()?;
//! # drop(identity); Ok(()) }
//! ```
//!
//! # How the contract holds in SQL
//! SQLite has one writer per database file. Every write runs in a `BEGIN IMMEDIATE`
//! transaction, which takes the database's write lock before its first statement and holds it
//! until it commits: a check-then-act inside it cannot interleave with any other write, from
//! this process or another one. A directory write and its audit event commit together.
//!
//! | primitive | SQL (inside one `BEGIN IMMEDIATE` transaction) |
//! |---|---|
//! | unique keys | `PRIMARY KEY` / `UNIQUE` constraints; a violation maps by its table and columns to [`StoreError::AlreadyExists`] (a row colliding on two keys answers its primary key, looked up after the violation) |
//! | conditional update | `UPDATE … WHERE version = ?expected AND deleted_at IS NULL`, then a read to tell `NotFound` from `Precondition` |
//! | take-once | `UPDATE one_time SET taken_at = ?now WHERE taken_at IS NULL AND expires_at > ?now … RETURNING payload`, then a read telling why not |
//! | rotation | read the old token; `UPDATE … SET state = 'rotated' WHERE state = 'active' AND expires_at > ?now`; `INSERT` the successor (a taken digest rolls both back) |
//! | revocation | one `UPDATE … SET state = 'revoked' WHERE family IN (…) AND state <> 'revoked'` |
//! | counter | `INSERT … ON CONFLICT DO UPDATE SET value = value + 1 WHERE value < ?limit OR expired RETURNING value` |
//! | mark / step | `INSERT … ON CONFLICT DO UPDATE … WHERE expired` / `WHERE stored < new` |
//! | account | user row, credentials row and event in one transaction; the credentials row references the user row (`ON DELETE CASCADE`, `foreign_keys` on for every connection), so erasing the user erases them in the same statement |
//!
//! Because writes never overlap, a revocation either commits before a rotation (which then
//! finds its token revoked) or after it (and revokes the successor too): no family lock table
//! is needed, unlike on PostgreSQL.
//!
//! # Connections and the executor
//! One writer connection behind a mutex serializes this process's writes, so they never wait
//! for each other inside SQLite. Reads go to a small pool of read-only connections (WAL lets
//! them read while the writer writes), opened on demand; at most
//! [`SqliteOptions::readers`] idle ones are kept. Every call runs on tokio's blocking pool
//! ([`tokio::task::spawn_blocking`]), never on an async worker thread, so a tokio runtime must
//! be running. A call whose future is dropped still runs its transaction to the end (commit or
//! rollback) on the blocking pool: it happened entirely or not at all, like any call whose
//! answer was lost. A call whose blocking task panicked or was cancelled answers
//! [`StoreError::Backend`]; a mutex poisoned by such a panic is taken over (the connection is
//! rolled back first if a transaction was left open), never a panic.
//!
//! Several processes may open one file: each `BEGIN IMMEDIATE` then waits for the others'
//! write lock for up to [`SqliteOptions::busy_timeout`] (5 s by default). A write that still
//! finds the database locked answers [`StoreError::Retryable`] (nothing was written); every
//! other failure is [`StoreError::Backend`]. The store does not retry on its own: the busy
//! timeout is the wait.
//!
//! # Durability
//! `journal_mode=WAL` (checked at open: a database SQLite will not switch to WAL is refused;
//! WAL needs every process on one machine, so network file systems are not supported) and,
//! by default,
//! `synchronous=FULL`: a call that returned `Ok` is on disk, so a used code, a rotated refresh
//! token, a TOTP step or a nonce stays used even across a power loss. [`Durability::Normal`]
//! (`synchronous=NORMAL`) trades that for fewer `fsync`s: still safe against a crash of the
//! process, but an operating-system crash or power loss may roll back the last commits —
//! which could make a used code usable again.
//!
//! # Schema
//! The database file belongs to idcore (tables have plain names: `users`, `events` …). Every
//! table has `env` as the first column of every key and index, and every query filters on it.
//! Every lookup and every page is served by an index (see the migrations; a unit test runs the
//! whole conformance suite and checks that no statement the store prepared scans a table).
//! [`SqliteStore::migrate`]
//! applies the versioned migrations in `migrations/`, recording each in `idcore_migrations`
//! with a checksum; they mirror the PostgreSQL adapter's, version for version.
//!
//! # Time
//! Instants are stored as INTEGER microseconds since the Unix epoch, like PostgreSQL's
//! `timestamptz`: records read back carry the instants given, truncated (towards the past) to
//! the microsecond, and comparisons with `now` happen on truncated values.
//!
//! # Tested
//! The public conformance suite (every check, concurrency checks included, plus the restart
//! checks across a reopened file) runs in `tests/conformance_sqlite.rs`, with this adapter's
//! own checks: migrations racing from two stores on one file, two stores on one file racing
//! take-once and rotation, busy timeouts held by another connection, WAL on, corrupted rows,
//! an upgrade from an older schema. `tests/tokens_sqlite.rs` runs the token service on one file
//! shared by two `Identity` instances, and across reopening it.
//! Not tested: power loss (the durability above is SQLite's documented behaviour), network file
//! systems, and files shared by processes on different machines (unsupported by SQLite's WAL).

mod api_keys;
mod claims;
mod credentials;
mod directory;
mod primitives;
mod rows;
mod sessions;
mod sets;
mod sso;
mod tokens;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, Row, Transaction, TransactionBehavior, params_from_iter};

use super::StoreError;
use crate::model::ids::Environment;

/// The SQLite crate, re-exported so a host (or a test) opens raw connections with the same
/// version.
pub use rusqlite;

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
        name: "limited_sets",
        sql: include_str!("migrations/0007_limited_sets.sql"),
    },
    Migration {
        version: 8,
        name: "sessions",
        sql: include_str!("migrations/0008_sessions.sql"),
    },
    Migration {
        version: 9,
        name: "session_amr",
        sql: include_str!("migrations/0009_session_amr.sql"),
    },
    Migration {
        version: 10,
        name: "api_keys",
        sql: include_str!("migrations/0010_api_keys.sql"),
    },
    Migration {
        version: 11,
        name: "claims",
        sql: include_str!("migrations/0011_claims.sql"),
    },
    Migration {
        version: 12,
        name: "sso_connections",
        sql: include_str!("migrations/0012_sso_connections.sql"),
    },
    Migration {
        version: 13,
        name: "user_federation",
        sql: include_str!("migrations/0013_user_federation.sql"),
    },
];

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// How long a write waits for another connection's write lock unless
/// [`SqliteOptions::busy_timeout`] says otherwise.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many idle read connections are kept unless [`SqliteOptions::readers`] says otherwise.
pub const DEFAULT_READERS: usize = 4;

/// What a commit waits for before the call returns (SQLite's `synchronous` setting).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Durability {
    /// `synchronous=FULL`: every commit is flushed to disk before the call returns; nothing a
    /// call reported written is lost, even to a power loss. The default.
    Full,
    /// `synchronous=NORMAL`: flushed at checkpoints only. Survives a crash of the process; a
    /// power loss or operating-system crash may roll back the last commits (a used code could
    /// become usable again). Faster writes.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// How [`SqliteStore::open_with`] opens the database.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    busy_timeout: Duration,
    readers: usize,
    durability: Durability,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            readers: DEFAULT_READERS,
            durability: Durability::Full,
        }
    }
}

impl SqliteOptions {
    /// How long a write waits for another connection (another process) to release the
    /// database's write lock before answering [`StoreError::Retryable`]. Defaults to
    /// [`DEFAULT_BUSY_TIMEOUT`] (5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How many idle read-only connections are kept open; `0` sends reads to the writer
    /// connection. Defaults to [`DEFAULT_READERS`] (4).
    pub fn readers(mut self, readers: usize) -> Self {
        self.readers = readers;
        self
    }

    /// What a commit waits for. Defaults to [`Durability::Full`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }
}

/// The durable embedded store on SQLite. Clones share the connections.
///
/// Open it with [`SqliteStore::open`] (or [`SqliteStore::open_with`]) and call
/// [`SqliteStore::migrate`] once at start-up before using it. Several stores, in one process
/// or several, may share one file: every primitive is atomic in the database, not in the store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// The database file; `None` for a private in-memory database.
    path: Option<PathBuf>,
    options: SqliteOptions,
    writer: Mutex<Connection>,
    /// Idle read-only connections (never more than `options.readers`).
    readers: Mutex<Vec<Connection>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// The database is not in WAL mode after asking for it.
#[derive(Debug, thiserror::Error)]
#[error("the database refused WAL mode (journal_mode is {0:?})")]
struct NoWal(String);

/// A migration recorded as applied whose SQL has changed since.
#[derive(Debug, thiserror::Error)]
#[error("migration {0} was changed after it was applied")]
struct MigrationChanged(i64);

/// The blocking task of a store call did not finish.
#[derive(Debug, thiserror::Error)]
#[error("the store call's blocking task {0}")]
struct BlockingCallFailed(&'static str);

impl SqliteStore {
    /// Opens (creating it if needed) the database file at `path` with the default
    /// [`SqliteOptions`]. Nothing is created in it until [`SqliteStore::migrate`] runs.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be opened or refuses WAL mode;
    /// [`StoreError::Retryable`] when another connection held it locked for longer than the
    /// busy timeout. Also `Backend` when called outside a tokio runtime.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// Opens (creating it if needed) the database file at `path` with `options`.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        blocking(move || {
            let writer = connect(Some(&path), &options, Role::Writer)?;
            // WAL is a property of the file: the first opener switches it, later ones find it.
            let mode: String = writer
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
                .map_err(db_error)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::backend(NoWal(mode)));
            }
            Ok(Self::from_writer(Some(path), options, writer))
        })
        .await
    }

    /// A private in-memory database: gone when the last clone is dropped, so only for tests
    /// and throwaway tools. Reads share the writer connection (there is no file for read
    /// connections to open).
    ///
    /// # Errors
    /// [`StoreError::Backend`] if SQLite cannot allocate it, or outside a tokio runtime.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        blocking(|| {
            let options = SqliteOptions::default().readers(0);
            let writer = connect(None, &options, Role::Writer)?;
            Ok(Self::from_writer(None, options, writer))
        })
        .await
    }

    fn from_writer(path: Option<PathBuf>, options: SqliteOptions, writer: Connection) -> Self {
        Self {
            inner: Arc::new(Inner {
                path,
                options,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The database file (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Applies every migration not applied yet, in one `BEGIN IMMEDIATE` transaction.
    /// Idempotent; several stores (or processes) may call it at once on one file: they queue on
    /// the write lock and later ones find nothing to do.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when SQLite refuses, or when a migration recorded as applied no
    /// longer has the checksum it was applied with; [`StoreError::Retryable`] when another
    /// connection held the write lock for longer than the busy timeout.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS idcore_migrations (
                     version    INTEGER NOT NULL PRIMARY KEY,
                     name       TEXT    NOT NULL,
                     checksum   TEXT    NOT NULL,
                     applied_at TEXT    NOT NULL)",
            )
            .map_err(db_error)?;
            let applied = query_all(
                tx,
                "SELECT version, checksum FROM idcore_migrations",
                &[],
                |row| {
                    Ok((
                        rows::get::<i64>(row, "version")?,
                        rows::get::<String>(row, "checksum")?,
                    ))
                },
            )?;
            for migration in MIGRATIONS {
                let checksum = checksum(migration.sql);
                match applied.iter().find(|(v, _)| *v == migration.version) {
                    Some((_, stored)) if *stored == checksum => {}
                    Some(_) => {
                        return Err(StoreError::backend(MigrationChanged(migration.version)));
                    }
                    None => {
                        tx.execute_batch(migration.sql).map_err(db_error)?;
                        execute(
                            tx,
                            "INSERT INTO idcore_migrations (version, name, checksum, applied_at) \
                             VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                            &[
                                Value::Integer(migration.version),
                                rows::text(migration.name),
                                Value::Text(checksum),
                            ],
                        )?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    /// Deletes what the contract lets the store forget as of `now`: one-time entries past their
    /// `retain_until`, expired markers and counters, refresh tokens past `family_expires_at`,
    /// lapsed revocations and retired signing keys. Returns how many rows went. Monotonic
    /// steps are never deleted.
    ///
    /// Nothing calls this on its own: run it from a periodic task. One transaction; each table
    /// is purged by one `DELETE` using its expiry index.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when SQLite fails; [`StoreError::Retryable`] when the database
    /// stayed locked for longer than the busy timeout.
    pub async fn purge_expired(&self, now: time::OffsetDateTime) -> Result<u64, StoreError> {
        let now = rows::at(now)?;
        self.write(move |tx| {
            let mut deleted = 0;
            for sql in [
                "DELETE FROM one_time WHERE retain_until <= ?1",
                "DELETE FROM marks WHERE expires_at <= ?1",
                "DELETE FROM counters WHERE expires_at <= ?1",
                "DELETE FROM refresh_tokens WHERE family_expires_at <= ?1",
                // Both environments named, so the (env, expires_at) index serves it.
                "DELETE FROM revocations WHERE env IN ('sandbox', 'production') \
                 AND expires_at <= ?1",
                "DELETE FROM signing_keys WHERE retires_at <= ?1",
            ] {
                deleted += execute(tx, sql, std::slice::from_ref(&now))?;
            }
            Ok(deleted)
        })
        .await
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the writer connection, on the blocking
    /// pool; commits if it answers `Ok`, rolls back otherwise.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let mut conn = inner.writer();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_error)?;
            // On an error (or a panic) `tx` is dropped, which rolls back.
            let value = f(&tx)?;
            tx.commit().map_err(db_error)?;
            Ok(value)
        })
        .await
    }

    /// Runs `f` on a read connection (the writer's when there are none), on the blocking pool.
    /// Each statement reads one snapshot; `f` opens a transaction when it needs several
    /// statements to agree.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            if inner.path.is_none() || inner.options.readers == 0 {
                return f(&inner.writer());
            }
            let idle = inner
                .readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let conn = match idle {
                Some(conn) => conn,
                None => connect(inner.path.as_deref(), &inner.options, Role::Reader)?,
            };
            let result = f(&conn);
            // Kept only if clean (no transaction left open) and the pool has room.
            if conn.is_autocommit() {
                let mut idle = inner.readers.lock().unwrap_or_else(PoisonError::into_inner);
                if idle.len() < inner.options.readers {
                    idle.push(conn);
                }
            }
            result
        })
        .await
    }
}

impl Inner {
    /// The writer connection. A mutex poisoned by a panicking call is taken over: the
    /// connection is rolled back if that call left a transaction open.
    fn writer(&self) -> MutexGuard<'_, Connection> {
        let conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if !conn.is_autocommit() {
            // Nothing of the unfinished call may commit with the next one. If the rollback
            // fails, the next BEGIN fails too and reports it.
            let _ = conn.execute_batch("ROLLBACK");
        }
        conn
    }
}

/// What a connection is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer,
    Reader,
}

/// Opens a connection (to `path`, or to a private in-memory database) and applies the
/// per-connection settings.
fn connect(
    path: Option<&Path>,
    options: &SqliteOptions,
    role: Role,
) -> Result<Connection, StoreError> {
    let conn = match path {
        Some(path) => Connection::open(path),
        None => Connection::open_in_memory(),
    }
    .map_err(db_error)?;
    conn.busy_timeout(options.busy_timeout).map_err(db_error)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(db_error)?;
    conn.pragma_update(None, "synchronous", options.durability.pragma())
        .map_err(db_error)?;
    if role == Role::Reader {
        conn.pragma_update(None, "query_only", "ON")
            .map_err(db_error)?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Runs `f` on tokio's blocking pool. A panicked or cancelled task, or no runtime, is a
/// backend failure.
async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| StoreError::backend(BlockingCallFailed("found no tokio runtime")))?;
    match runtime.spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(StoreError::backend(BlockingCallFailed("panicked"))),
        Err(_) => Err(StoreError::backend(BlockingCallFailed("was cancelled"))),
    }
}

/// SHA-256 of a migration's SQL, hex.
fn checksum(sql: &str) -> String {
    crate::secret::Digest::of(sql.as_bytes()).to_hex()
}

/// The wire name of an environment, as stored in every `env` column.
fn env_str(env: Environment) -> &'static str {
    env.as_str()
}

/// The statement for `sql`, prepared once per connection.
fn prepare<'c>(
    conn: &'c Connection,
    sql: &str,
) -> Result<rusqlite::CachedStatement<'c>, StoreError> {
    #[cfg(test)]
    tests::record(sql);
    conn.prepare_cached(sql).map_err(db_error)
}

/// Runs a statement (prepared once per connection) and returns how many rows it changed.
fn execute(conn: &Connection, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
    let mut statement = prepare(conn, sql)?;
    let changed = statement
        .execute(params_from_iter(params))
        .map_err(db_error)?;
    Ok(changed as u64)
}

/// Runs a statement (prepared once per connection) and decodes its first row, if any.
fn query_opt<T>(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    decode: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut statement = prepare(conn, sql)?;
    let mut rows = statement
        .query(params_from_iter(params))
        .map_err(db_error)?;
    match rows.next().map_err(db_error)? {
        Some(row) => decode(row).map(Some),
        None => Ok(None),
    }
}

/// Runs a statement (prepared once per connection) and decodes every row.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    mut decode: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = prepare(conn, sql)?;
    let mut rows = statement
        .query(params_from_iter(params))
        .map_err(db_error)?;
    let mut all = Vec::new();
    while let Some(row) = rows.next().map_err(db_error)? {
        all.push(decode(row)?);
    }
    Ok(all)
}

/// The store error for an SQLite error: unique violations by table and columns, a database
/// still locked after the busy timeout as retryable, everything else as a backend failure.
fn db_error(err: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(e, message) = &err {
        match e.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return StoreError::Retryable {
                    source: Box::new(err),
                };
            }
            ErrorCode::ConstraintViolation => {
                let key = message
                    .as_deref()
                    .and_then(|m| m.strip_prefix("UNIQUE constraint failed: "))
                    .and_then(unique_key);
                if let Some(key) = key {
                    return StoreError::AlreadyExists { key };
                }
            }
            _ => {}
        }
    }
    StoreError::backend(err)
}

/// The contract's key name for each unique constraint of the schema, by the columns SQLite
/// names in its message (`UNIQUE constraint failed: users.env, users.org, users.email_key`).
fn unique_key(columns: &str) -> Option<&'static str> {
    UNIQUE_KEYS
        .iter()
        .find(|(_, cols, _)| *cols == columns)
        .map(|(_, _, key)| *key)
}

/// Every unique constraint of the schema: its name in the migrations, the columns SQLite
/// reports, and the contract's key name.
const UNIQUE_KEYS: &[(&str, &str, &str)] = &[
    (
        "organizations_pkey",
        "organizations.env, organizations.domain",
        "domain",
    ),
    (
        "organizations_id_key",
        "organizations.env, organizations.id",
        "id",
    ),
    ("users_pkey", "users.env, users.id", "id"),
    (
        "users_email_key",
        "users.env, users.org, users.email_key",
        "email",
    ),
    (
        "applications_pkey",
        "applications.env, applications.client_id",
        "client_id",
    ),
    ("one_time_pkey", "one_time.env, one_time.key", "key"),
    (
        "refresh_tokens_pkey",
        "refresh_tokens.env, refresh_tokens.digest",
        "digest",
    ),
    (
        "signing_keys_pkey",
        "signing_keys.env, signing_keys.kid",
        "kid",
    ),
    (
        "credentials_pkey",
        "credentials.env, credentials.user_id",
        "user",
    ),
    (
        "credentials_username_key",
        "credentials.env, credentials.org, credentials.username",
        "username",
    ),
    ("sessions_pkey", "sessions.env, sessions.id", "id"),
    (
        "sessions_token_key",
        "sessions.env, sessions.token_digest",
        "token",
    ),
    (
        "sessions_reuse_key",
        "sessions.env, sessions.reuse_key",
        "reuse_key",
    ),
    ("api_keys_pkey", "api_keys.env, api_keys.id", "key_id"),
    (
        "sso_connections_pkey",
        "sso_connections.env, sso_connections.idp_id",
        "idp_id",
    ),
    (
        "sso_connections_sp_id_key",
        "sso_connections.env, sso_connections.sp_id",
        "sp_id",
    ),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every statement the store prepared in this test process.
    static PREPARED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

    pub(super) fn record(sql: &str) {
        PREPARED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sql.to_owned());
    }

    /// Every statement the store runs while the whole conformance suite runs is served by an
    /// index: no query plan scans a table (the migrations bookkeeping aside).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn every_statement_of_the_store_is_served_by_an_index() {
        let store = SqliteStore::open_in_memory().await.expect("in memory");
        store.migrate().await.expect("migrated");
        crate::store::conformance::every_check_at_once(&store).await;
        store
            .purge_expired(crate::store::conformance::T0)
            .await
            .expect("purged");
        let statements = PREPARED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        assert!(statements.len() > 40, "{} statements", statements.len());
        let conn = migrated();
        let mut scans = Vec::new();
        for sql in statements
            .iter()
            .filter(|s| !s.contains("idcore_migrations"))
        {
            let mut explain = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("a plan");
            let nulls = vec![Value::Null; explain.parameter_count()];
            let plan = explain
                .query_map(params_from_iter(nulls), |row| {
                    row.get::<_, String>("detail")
                })
                .expect("plan rows")
                .collect::<Result<Vec<_>, _>>()
                .expect("plan rows");
            if plan.iter().any(|step| step.starts_with("SCAN ")) {
                scans.push(format!("{sql}\n    {plan:?}"));
            }
        }
        assert!(
            scans.is_empty(),
            "statements that scan:\n{}",
            scans.join("\n")
        );
    }

    /// The migrated schema of a fresh in-memory database.
    fn migrated() -> Connection {
        let conn = Connection::open_in_memory().expect("an in-memory database");
        for m in MIGRATIONS {
            conn.execute_batch(m.sql).expect("the migration applies");
        }
        conn
    }

    #[test]
    fn migration_6_keeps_the_revocation_feed_and_admits_organization_revocations() {
        let conn = Connection::open_in_memory().expect("an in-memory database");
        let (before, after) = MIGRATIONS.split_at(5);
        for m in before {
            conn.execute_batch(m.sql).expect("the migration applies");
        }
        let insert = "INSERT INTO revocations (env, seq, kind, subject, org, not_before, \
                      expires_at) VALUES ('sandbox', ?1, ?2, zeroblob(16), 'acme', 5, 10)";
        conn.execute(insert, rusqlite::params![1, "user"])
            .expect("a user revocation");
        assert!(
            conn.execute(insert, rusqlite::params![2, "organization"])
                .is_err(),
            "before migration 6 the kind is refused"
        );
        for m in after {
            conn.execute_batch(m.sql).expect("the migration applies");
        }
        conn.execute(insert, rusqlite::params![2, "organization"])
            .expect("an organization revocation");
        assert!(
            conn.execute(insert, rusqlite::params![3, "tenant"])
                .is_err()
        );
        let kinds: Vec<(i64, String)> = conn
            .prepare("SELECT seq, kind FROM revocations ORDER BY seq")
            .expect("a statement")
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            kinds,
            [(1, "user".to_owned()), (2, "organization".to_owned())]
        );
    }

    #[test]
    fn every_unique_constraint_of_the_schema_maps_to_a_contract_key() {
        let conn = migrated();
        let sql = MIGRATIONS.iter().map(|m| m.sql).collect::<String>();
        for (constraint, columns, key) in UNIQUE_KEYS {
            assert!(
                sql.contains(&format!("CONSTRAINT {constraint} ")),
                "{constraint}"
            );
            assert_eq!(unique_key(columns), Some(*key));
            // The schema has a unique index on exactly those columns.
            let (table, _) = columns.split_once('.').expect("table.column");
            let mut unique_sets = Vec::new();
            let mut list = conn
                .prepare(&format!("PRAGMA index_list({table})"))
                .expect("index list");
            let indexes = list
                .query_map([], |row| {
                    Ok((row.get::<_, String>("name")?, row.get::<_, i64>("unique")?))
                })
                .expect("indexes")
                .collect::<Result<Vec<_>, _>>()
                .expect("indexes");
            for (index, unique) in indexes {
                if unique == 0 {
                    continue;
                }
                let mut info = conn
                    .prepare(&format!("PRAGMA index_info({index})"))
                    .expect("index info");
                let names = info
                    .query_map([], |row| row.get::<_, String>("name"))
                    .expect("columns")
                    .collect::<Result<Vec<_>, _>>()
                    .expect("columns");
                unique_sets.push(
                    names
                        .iter()
                        .map(|c| format!("{table}.{c}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
            assert!(
                unique_sets.iter().any(|s| s == columns),
                "{constraint}: no unique index on {columns} (found {unique_sets:?})"
            );
        }
        assert_eq!(unique_key("counters.env, counters.key"), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_that_panicked_holding_the_writer_leaves_nothing_behind() {
        use crate::store::{Key, Mark, ReplayStore};
        use time::macros::datetime;

        let store = SqliteStore::open_in_memory().await.expect("in memory");
        store.migrate().await.expect("migrated");
        let inner = Arc::clone(&store.inner);
        let panicked = std::thread::spawn(move || {
            let conn = inner.writer.lock().expect("not poisoned yet");
            conn.execute_batch(
                "BEGIN IMMEDIATE; INSERT INTO marks (env, key, expires_at) \
                 VALUES ('production', CAST('k' AS BLOB), 9000000000000000)",
            )
            .expect("half a write");
            panic!("a call panics mid-transaction");
        })
        .join();
        assert!(panicked.is_err());
        assert!(store.inner.writer.is_poisoned());
        // The next call takes the connection over, rolled back: the half-written mark is gone.
        let key = Key::from_stored("k".into());
        let now = datetime!(2030-01-01 00:00 UTC);
        let mark = store
            .mark_once(
                Environment::Production,
                &key,
                now + time::Duration::minutes(5),
                now,
            )
            .await;
        assert_eq!(mark.expect("the store still works"), Mark::First);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_blocking_call_is_a_backend_error() {
        let store = SqliteStore::open_in_memory().await.expect("in memory");
        let result: Result<(), StoreError> =
            store.write(|_| panic!("a bug inside a store call")).await;
        assert!(
            matches!(result, Err(StoreError::Backend { .. })),
            "{result:?}"
        );
        let read: Result<i64, StoreError> = store
            .read(|conn| {
                conn.query_row("SELECT 1", [], |r| r.get(0))
                    .map_err(db_error)
            })
            .await;
        assert_eq!(read.expect("the writer is usable again"), 1);
    }

    #[test]
    fn busy_and_locked_databases_are_retryable_and_constraints_map_by_columns() {
        let conn = migrated();
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        );
        assert!(matches!(db_error(busy), StoreError::Retryable { .. }));
        let locked = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_LOCKED),
            None,
        );
        assert!(matches!(db_error(locked), StoreError::Retryable { .. }));
        let insert = "INSERT INTO marks (env, key, expires_at) VALUES ('sandbox', x'01', 0)";
        conn.execute(insert, []).expect("first");
        // A unique key the contract does not name (marks are upserted) is a backend failure.
        let dup = conn.execute(insert, []).expect_err("duplicate");
        assert!(matches!(db_error(dup), StoreError::Backend { .. }));
        let bad_env = conn
            .execute(
                "INSERT INTO marks (env, key, expires_at) VALUES ('staging', x'02', 0)",
                [],
            )
            .expect_err("check constraint");
        assert!(matches!(db_error(bad_env), StoreError::Backend { .. }));
        let other = conn
            .execute("SELECT * FROM no_such_table", [])
            .expect_err("no table");
        assert!(matches!(db_error(other), StoreError::Backend { .. }));
    }
}
