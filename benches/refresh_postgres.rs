//! The refresh grant through the token service on PostgreSQL (issue 5 target: ≥ 2,000 grants/s,
//! p99 ≤ 20 ms on 2 cores).
//!
//! Each grant is what a client's refresh costs in production: the client's application, the
//! presented token by digest, the user (and its organization), the atomic rotation, two
//! signatures (ES256) and the `TOKEN_REFRESHED` audit event. Every task holds its own grant
//! (token family) and refreshes it in a loop, each time with the token the previous refresh
//! returned. Levels: 1, 4, 8, 16 and 32 tasks, 8 s each.
//!
//! `IDCORE_BENCH_REFRESH_INTERVAL=seconds` turns the refresh reuse interval on
//! (`TokenSettings::refresh_grace`): each rotation then derives its successor with one more HMAC
//! and stores its digest.
//!
//! Needs `--features postgres` and `IDCORE_TEST_POSTGRES_URL`
//! (`postgres://postgres@127.0.0.1:5432/test`); without the variable it says so and exits. It
//! works in its own schema (`idcore_bench_refresh`), created afresh each run.
//!
//! ```text
//! IDCORE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench --features postgres --bench refresh_postgres
//! ```

use std::time::{Duration, Instant};

use criterion::Criterion;
use idcore::TokenSettings;
use idcore::clock::{Clock, SystemClock};
use idcore::directory::ClientId;
use idcore::secret::Secret;
use idcore::store::postgres::PostgresStore;
use idcore::store::postgres::deadpool_postgres::{Config, PoolConfig, Runtime};
use idcore::store::postgres::tokio_postgres::NoTls;
use idcore::tokens::keys::EncryptionKey;
use idcore::tokens::pkce::CodeChallenge;
use idcore::tokens::{ClientAuth, CodeRequest};
use idcore::{
    ApplicationScope, ApplicationType, Environment, Identity, NewApplication, NewOrganization,
    NewUser,
};

const URL_VAR: &str = "IDCORE_TEST_POSTGRES_URL";
const SCHEMA: &str = "idcore_bench_refresh";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "https://app.example.com/callback";
/// How long each concurrency level runs.
const RUN: Duration = Duration::from_secs(8);

struct Setup {
    identity: Identity<PostgresStore>,
    client: ClientId,
    /// One current refresh token per grant: each refresh replaces it.
    grants: Vec<std::sync::Mutex<Secret>>,
}

async fn setup(url: &str, grants: usize) -> Setup {
    let mut config = Config::new();
    config.url = Some(url.to_owned());
    config.pool = Some(PoolConfig::new(64));
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
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .environment(Environment::Production)
        .clock(SystemClock)
        .key_encryption_key(EncryptionKey::from_bytes(&[7; 32]).expect("32 bytes"))
        .token_settings(TokenSettings {
            refresh_grace: reuse_interval(),
            ..TokenSettings::default()
        })
        .store(store)
        .build()
        .expect("a valid configuration");
    let org = identity
        .organizations()
        .create(NewOrganization::new("Bench").expect("a name"))
        .await
        .expect("organization")
        .domain;
    let app = identity
        .applications(ApplicationScope::Organization(org.clone()))
        .create(
            NewApplication::new("App", ApplicationType::React)
                .expect("a name")
                .with(|a| a.allowed_redirect_urls(&[REDIRECT]))
                .expect("urls"),
        )
        .await
        .expect("application");
    let client = app.application.client_id;
    let mut tokens = Vec::with_capacity(grants);
    for i in 0..grants {
        let user = identity
            .users(&org)
            .create(NewUser::new(&format!("user{i}@example.com")).expect("an address"))
            .await
            .expect("user");
        let code = identity
            .tokens()
            .mint_code(CodeRequest {
                org: org.clone(),
                user_id: user.id,
                client_id: client,
                redirect_uri: REDIRECT.to_owned(),
                code_challenge: CodeChallenge::s256(VERIFIER).expect("a challenge"),
                nonce: None,
                state: None,
                scope: vec!["openid".to_owned(), "email".to_owned()],
                auth_time: SystemClock.now(),
                amr: vec!["pwd".to_owned()],
            })
            .await
            .expect("code");
        let set = identity
            .tokens()
            .exchange_code(
                &ClientAuth::public(client),
                code.expose(),
                REDIRECT,
                VERIFIER,
            )
            .await
            .expect("tokens");
        tokens.push(std::sync::Mutex::new(set.refresh_token));
    }
    Setup {
        identity,
        client,
        grants: tokens,
    }
}

/// The reuse interval `IDCORE_BENCH_REFRESH_INTERVAL` asks for (seconds), 0 without it.
fn reuse_interval() -> time::Duration {
    let seconds = std::env::var("IDCORE_BENCH_REFRESH_INTERVAL")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    time::Duration::seconds(seconds)
}

/// Runs `tasks` concurrent refresh loops for [`RUN`]; prints throughput and latency
/// percentiles.
async fn throughput(setup: &'static Setup, tasks: usize) {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            tokio::spawn(async move {
                let slot = &setup.grants[t];
                let mut current = Secret::from_presented(lock(slot).expose());
                let auth = ClientAuth::public(setup.client);
                let mut latencies = Vec::new();
                while start.elapsed() < RUN {
                    let begun = Instant::now();
                    let set = setup
                        .identity
                        .tokens()
                        .refresh(&auth, current.expose(), None)
                        .await
                        .expect("refresh");
                    latencies.push(begun.elapsed());
                    current = set.refresh_token;
                }
                *lock(slot) = current;
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("a refresh task"));
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    println!(
        "refresh grant on PostgreSQL (reuse interval {} s), {tasks:>2} tasks: {:>6.0} grants/s, p50 {:>6.2} ms, p99 {:>6.2} ms, max {:>7.2} ms ({} grants)",
        reuse_interval().whole_seconds(),
        all.len() as f64 / elapsed.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        all[all.len() - 1].as_secs_f64() * 1e3,
        all.len()
    );
}

fn lock(slot: &std::sync::Mutex<Secret>) -> std::sync::MutexGuard<'_, Secret> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn main() {
    let Ok(url) = std::env::var(URL_VAR) else {
        println!("refresh_postgres skipped: set {URL_VAR} and build with --features postgres");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    const MAX_TASKS: usize = 32;
    let setup: &'static Setup = Box::leak(Box::new(runtime.block_on(setup(&url, MAX_TASKS))));

    // `IDCORE_BENCH_TASKS=n`: only that concurrency level (for measuring CPU per grant).
    if let Some(tasks) = std::env::var("IDCORE_BENCH_TASKS")
        .ok()
        .and_then(|t| t.parse().ok())
    {
        runtime.block_on(throughput(setup, tasks));
        return;
    }
    // One grant at a time, as criterion measures it.
    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(50)
        .measurement_time(Duration::from_secs(5));
    let auth = ClientAuth::public(setup.client);
    let slot = &setup.grants[0];
    criterion.bench_function("refresh grant on PostgreSQL (1 task)", |b| {
        b.iter(|| {
            let mut current = lock(slot);
            let set = runtime
                .block_on(
                    setup
                        .identity
                        .tokens()
                        .refresh(&auth, current.expose(), None),
                )
                .expect("refresh");
            *current = set.refresh_token;
        })
    });

    for tasks in [1, 4, 8, 16, 32] {
        runtime.block_on(throughput(setup, tasks));
    }
    criterion.final_summary();
}
