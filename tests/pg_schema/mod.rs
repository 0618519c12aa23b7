//! A fresh, migrated PostgreSQL schema of a test's own (`idcore_test_<unix>_<pid>_<what><n>`),
//! on the database `IDCORE_TEST_POSTGRES_URL` names; without the variable, `None`, after saying
//! once on stderr that the PostgreSQL tests were skipped. A schema a failed run leaves behind
//! is dropped by a later run of `tests/conformance_postgres.rs`.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::Write;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use idcore::store::postgres::PostgresStore;
use idcore::store::postgres::deadpool_postgres::{Config, PoolConfig, Runtime};
use idcore::store::postgres::tokio_postgres::NoTls;

pub const URL_VAR: &str = "IDCORE_TEST_POSTGRES_URL";

pub struct PgSchema {
    url: String,
    name: String,
}

impl PgSchema {
    /// A new schema, migrated once; `None` (after saying so once) without a database.
    pub async fn fresh(what: &str) -> Option<Self> {
        Self::fresh_with(what, "").await
    }

    /// As [`PgSchema::fresh`], every connection opened with `options` appended to the URL's
    /// query (e.g. `options=-c%20default_transaction_isolation%3Dserializable`).
    pub async fn fresh_with(what: &str, options: &str) -> Option<Self> {
        let Ok(url) = std::env::var(URL_VAR) else {
            static SKIPPED: Once = Once::new();
            SKIPPED.call_once(|| {
                // Straight to the process's stderr: the test harness captures `eprintln!`.
                let _ = writeln!(std::io::stderr(), "PostgreSQL tests skipped: set {URL_VAR}");
            });
            return None;
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs();
        let name = format!(
            "idcore_test_{unix}_{}_{what}{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let url = match (options.is_empty(), url.contains('?')) {
            (true, _) => url,
            (false, true) => format!("{url}&{options}"),
            (false, false) => format!("{url}?{options}"),
        };
        let schema = Self { url, name };
        schema.open().migrate().await.expect("migrations apply");
        Some(schema)
    }

    /// A new store on this schema, with a pool of its own (another instance, or a restarted
    /// process) of deadpool's default size.
    pub fn open(&self) -> PostgresStore {
        self.open_with(Config::new())
    }

    /// As [`PgSchema::open`], with a pool of `size` connections.
    pub fn open_with_pool(&self, size: usize) -> PostgresStore {
        let mut config = Config::new();
        config.pool = Some(PoolConfig::new(size));
        self.open_with(config)
    }

    /// The connection settings of this schema's database, for a dedicated connection.
    pub fn pg_config(&self) -> idcore::store::postgres::tokio_postgres::Config {
        self.url.parse().expect("a valid database url")
    }

    fn open_with(&self, mut config: Config) -> PostgresStore {
        config.url = Some(self.url.clone());
        let pool = config
            .create_pool(Some(Runtime::Tokio1), NoTls)
            .expect("a valid database url");
        PostgresStore::new(pool)
            .with_schema(&self.name)
            .expect("a valid schema name")
    }

    pub async fn drop_schema(self) {
        let store = self.open();
        let client = store.pool().get().await.expect("a connection");
        client
            .batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", self.name))
            .await
            .expect("the schema drops");
    }
}
