//! Session validation on PostgreSQL (issue 12 target: ≥ 10,000 validations/s, p99 ≤ 10 ms on 2
//! cores with 16 tasks).
//!
//! Each validation is what a Crowd application's `POST /session/{token}` costs: the session by
//! its token digest, the factor check, the user and its organization (one statement), and —
//! once per session per touch interval (60 s, the default) — the write that slides its idle
//! expiry. Every task validates its own session in a loop. Levels: 1, 4, 8, 16 and 32 tasks,
//! 8 s each.
//!
//! Needs `--features postgres` and `IDCORE_TEST_POSTGRES_URL`
//! (`postgres://postgres@127.0.0.1:5432/test`); without the variable it says so and exits. It
//! works in its own schema (`idcore_bench_sessions`), created afresh each run.
//!
//! ```text
//! IDCORE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench --features postgres --bench sessions_postgres
//! ```

use std::time::{Duration, Instant};

use idcore::clock::SystemClock;
use idcore::directory::OrgDomain;
use idcore::sessions::{SessionSettings, ValidationFactor, ValidationFactors};
use idcore::store::postgres::PostgresStore;
use idcore::store::postgres::deadpool_postgres::{Config, PoolConfig, Runtime};
use idcore::store::postgres::tokio_postgres::NoTls;
use idcore::tokens::keys::EncryptionKey;
use idcore::{
    ApplicationScope, ApplicationType, Environment, Identity, NewApplication, NewOrganization,
    NewUser,
};

const URL_VAR: &str = "IDCORE_TEST_POSTGRES_URL";
const SCHEMA: &str = "idcore_bench_sessions";
/// How long each concurrency level runs.
const RUN: Duration = Duration::from_secs(8);

struct Setup {
    identity: Identity<PostgresStore>,
    org: OrgDomain,
    /// One session (token, factors) per task.
    sessions: Vec<(String, ValidationFactors)>,
}

fn device(i: usize) -> ValidationFactors {
    ValidationFactors::parse(vec![
        ValidationFactor {
            name: "remote_address".to_owned(),
            value: format!("10.0.{}.{}", i / 250, i % 250),
        },
        ValidationFactor {
            name: "User-Agent".to_owned(),
            value: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
                .to_owned(),
        },
    ])
    .expect("factors")
}

async fn setup(url: &str, sessions: usize) -> Setup {
    let mut config = Config::new();
    config.url = Some(url.to_owned());
    config.pool = Some(PoolConfig::new(32));
    let pool = config
        .create_pool(Some(Runtime::Tokio1), NoTls)
        .expect("a valid database url");
    {
        let client = pool.get().await.expect("a connection");
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            .await
            .expect("drop the previous run's schema");
    }
    let store = PostgresStore::new(pool)
        .with_schema(SCHEMA)
        .expect("a valid schema name");
    store.migrate().await.expect("migrations apply");
    let build = |settings: SessionSettings| {
        Identity::builder()
            .issuer("https://auth.example.com")
            .environment(Environment::Production)
            .clock(SystemClock)
            .key_encryption_key(EncryptionKey::from_bytes(&[7; 32]).expect("32 bytes"))
            .session_settings(settings)
            .store(store.clone())
            .build()
            .expect("a valid configuration")
    };
    let identity = build(SessionSettings::default());
    let org = identity
        .organizations()
        .create(NewOrganization::new("Bench").expect("a name"))
        .await
        .expect("organization")
        .domain;
    let app = identity
        .applications(ApplicationScope::Organization(org.clone()))
        .create(NewApplication::new("App", ApplicationType::Service).expect("a name"))
        .await
        .expect("application");
    // The sessions are opened by a trusted application (no password hash in the setup).
    let mut trusting = SessionSettings::default();
    trusting
        .trusted_applications
        .insert(app.application.client_id);
    let opener = build(trusting);
    let trusted = opener
        .sessions(&org)
        .trusted(app.application.client_id)
        .await
        .expect("trusted");
    let mut open = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let email = format!("user{i}@example.com");
        identity
            .users(&org)
            .create(NewUser::new(&email).expect("an address"))
            .await
            .expect("user");
        let session = opener
            .sessions(&org)
            .open_trusted(&trusted, &email, device(i), None)
            .await
            .expect("session");
        open.push((session.token.expose().to_owned(), device(i)));
    }
    Setup {
        identity,
        org,
        sessions: open,
    }
}

/// Runs `tasks` concurrent validation loops for [`RUN`]; prints throughput and latency
/// percentiles.
async fn throughput(setup: &'static Setup, tasks: usize) {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            tokio::spawn(async move {
                let (token, factors) = &setup.sessions[t];
                let sessions = setup.identity.sessions(&setup.org);
                let mut latencies = Vec::new();
                while start.elapsed() < RUN {
                    let begun = Instant::now();
                    sessions.validate(token, factors).await.expect("valid");
                    latencies.push(begun.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("a validation task"));
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    println!(
        "session validate on PostgreSQL, {tasks:>2} tasks: {:>6.0} validations/s, p50 {:>5.2} ms, p99 {:>5.2} ms, max {:>6.2} ms ({} validations)",
        all.len() as f64 / elapsed.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        all[all.len() - 1].as_secs_f64() * 1e3,
        all.len()
    );
}

fn main() {
    let Ok(url) = std::env::var(URL_VAR) else {
        println!("sessions_postgres skipped: set {URL_VAR} and build with --features postgres");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    const MAX_TASKS: usize = 32;
    let setup: &'static Setup = Box::leak(Box::new(runtime.block_on(setup(&url, MAX_TASKS))));
    let levels: Vec<usize> = match std::env::var("IDCORE_BENCH_TASKS")
        .ok()
        .and_then(|t| t.parse().ok())
    {
        Some(tasks) => vec![tasks],
        None => vec![1, 4, 8, 16, 32],
    };
    for tasks in levels {
        runtime.block_on(throughput(setup, tasks));
    }
}
