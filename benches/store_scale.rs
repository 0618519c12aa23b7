//! Lists at scale on PostgreSQL (issue: 1,000,000 users and 1,000,000 events; user by e-mail,
//! first and 10,000th page of users, events filtered by code — each ≤ 5 ms median, and the
//! cost must not grow with the table).
//!
//! Two schemas hold the same data at two sizes — `idcore_bench_scale_100k` (100,000 users of
//! one organization, 100,000 events over 10 codes) and `idcore_bench_scale_1m` (1,000,000 of
//! each) — so each size is a table of its own size. They are filled with `INSERT … SELECT …
//! FROM generate_series` of valid rows (the store decodes every one), the count tables are
//! re-derived from the rows, then `VACUUM ANALYZE`. A schema that already holds the right row
//! counts is reused: only the first run pays for the fill (about a minute for 1M on 2 cores).
//! `IDCORE_BENCH_REFILL=1` drops and refills them.
//!
//! Every query goes through the `PostgresStore` trait methods, as idcore calls them:
//! - `user_by_email`;
//! - `list_users`, page 1 of 8 (with its exact total, from `user_counts`);
//! - `list_users`, page 10,000 of 8 **by cursor** (after item 79,992), and for contrast by
//!   page number (`OFFSET 79,992`, which grows with the page number);
//! - `events` filtered by code, page 1 of 8 with its total (the sum of ≤ 16 `event_counts`
//!   shards), and page 1,000 of it by cursor (the deepest page a code has at 100k).
//!
//! At the end it prints the medians of both sizes side by side.
//!
//! Needs `--features postgres` and `IDCORE_TEST_POSTGRES_URL`
//! (`postgres://postgres@127.0.0.1:5432/test`); without the variable it says so and exits 0.
//!
//! ```text
//! IDCORE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench --features postgres --bench store_scale
//! ```

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use idcore::audit::{EventCode, EventQuery};
use idcore::directory::{Email, Environment, OrgDomain};
use idcore::page::{Cursor, ListKind, PageRequest};
use idcore::store::postgres::PostgresStore;
use idcore::store::postgres::deadpool_postgres::{Client, Config, PoolConfig, Runtime};
use idcore::store::postgres::tokio_postgres::NoTls;
use idcore::store::{AuditStore, UserStore};
use time::OffsetDateTime;
use uuid::Uuid;

const URL_VAR: &str = "IDCORE_TEST_POSTGRES_URL";
const ENV: Environment = Environment::Production;
const ORG: &str = "scale-bench";
const PER_PAGE: u32 = 8;
/// The deep page the issue names.
const DEEP_PAGE: u32 = 10_000;
/// A deep page of one code's events that exists at both sizes (a code holds 10,000 events of
/// the 100k set).
const EVENTS_DEEP_PAGE: u32 = 1_000;
/// Distinct event codes; each holds a tenth of the events.
const CODES: u64 = 10;

/// One size of the data set, in its own schema.
struct Scale {
    label: &'static str,
    schema: &'static str,
    rows: u64,
}

const SCALES: [Scale; 2] = [
    Scale {
        label: "100k",
        schema: "idcore_bench_scale_100k",
        rows: 100_000,
    },
    Scale {
        label: "1M",
        schema: "idcore_bench_scale_1m",
        rows: 1_000_000,
    },
];

/// A filled schema and the inputs of each query.
struct Fixture {
    label: &'static str,
    rows: u64,
    store: PostgresStore,
    org: OrgDomain,
    email: Email,
    /// The cursor after item 79,992 of the users list: page 10,000 starts after it.
    users_deep: Cursor,
    code: EventQuery,
    /// The cursor after item 7,992 of the events of `code`: page 1,000 starts after it.
    events_deep: Cursor,
}

fn main() {
    let Ok(url) = std::env::var(URL_VAR) else {
        println!("store_scale skipped: set {URL_VAR} and build with --features postgres");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let refill = std::env::var("IDCORE_BENCH_REFILL").is_ok_and(|v| v == "1");
    let fixtures: Vec<Fixture> = SCALES
        .iter()
        .map(|scale| runtime.block_on(fixture(&url, scale, refill)))
        .collect();

    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(100)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for query in Query::ALL {
        let mut group = criterion.benchmark_group(format!("store_scale/{}", query.name()));
        for f in &fixtures {
            group.bench_with_input(BenchmarkId::from_parameter(f.label), f, |b, f| {
                b.to_async(&runtime).iter(|| query.run(f));
            });
        }
        group.finish();
    }
    criterion.final_summary();

    // The medians side by side, from a plain sample of each query (criterion's own estimates
    // are above, per query and size).
    println!();
    println!("median of 201 runs, PostgreSQL, per_page {PER_PAGE}:");
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "query", SCALES[0].label, SCALES[1].label, "ratio"
    );
    for query in Query::ALL {
        let medians: Vec<Duration> = fixtures
            .iter()
            .map(|f| runtime.block_on(median(|| query.run(f))))
            .collect();
        println!(
            "{:<44} {:>12} {:>12} {:>8.2}",
            query.name(),
            format!("{:.3} ms", ms(medians[0])),
            format!("{:.3} ms", ms(medians[1])),
            medians[1].as_secs_f64() / medians[0].as_secs_f64()
        );
    }
}

/// The measured queries, each through the store's trait methods.
#[derive(Clone, Copy)]
enum Query {
    UserByEmail,
    UsersFirstPage,
    UsersDeepPageByCursor,
    EventsByCodeFirstPage,
    EventsByCodeDeepPageByCursor,
    UsersDeepPageByOffset,
}

impl Query {
    const ALL: [Self; 6] = [
        Self::UserByEmail,
        Self::UsersFirstPage,
        Self::UsersDeepPageByCursor,
        Self::EventsByCodeFirstPage,
        Self::EventsByCodeDeepPageByCursor,
        Self::UsersDeepPageByOffset,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::UserByEmail => "user_by_email",
            Self::UsersFirstPage => "list_users page 1 (+ total)",
            Self::UsersDeepPageByCursor => "list_users page 10,000 by cursor (+ total)",
            Self::EventsByCodeFirstPage => "events by code page 1 (+ total)",
            Self::EventsByCodeDeepPageByCursor => "events by code page 1,000 by cursor (+ total)",
            Self::UsersDeepPageByOffset => "contrast: list_users page 10,000 by OFFSET",
        }
    }

    /// Runs the query once; checks it found what it should.
    async fn run(self, f: &Fixture) {
        let full = PER_PAGE as usize;
        match self {
            Self::UserByEmail => {
                let found = f.store.user_by_email(ENV, &f.org, &f.email).await;
                assert!(found.expect("user_by_email").is_some(), "the user exists");
            }
            Self::UsersFirstPage => {
                let (items, total) = f
                    .store
                    .list_users(ENV, &f.org, page(1))
                    .await
                    .expect("list");
                assert_eq!((items.len(), total), (full, f.rows));
            }
            Self::UsersDeepPageByCursor => {
                let request = page(DEEP_PAGE).after(f.users_deep);
                let (items, total) = f
                    .store
                    .list_users(ENV, &f.org, request)
                    .await
                    .expect("list");
                assert_eq!((items.len(), total), (full, f.rows));
            }
            Self::EventsByCodeFirstPage => {
                let (items, total) = f.store.events(ENV, &f.code, page(1)).await.expect("events");
                assert_eq!((items.len(), total), (full, f.rows / CODES));
            }
            Self::EventsByCodeDeepPageByCursor => {
                let request = page(EVENTS_DEEP_PAGE).after(f.events_deep);
                let (items, total) = f.store.events(ENV, &f.code, request).await.expect("events");
                assert_eq!((items.len(), total), (full, f.rows / CODES));
            }
            Self::UsersDeepPageByOffset => {
                let request = page(DEEP_PAGE);
                let (items, total) = f
                    .store
                    .list_users(ENV, &f.org, request)
                    .await
                    .expect("list");
                assert_eq!((items.len(), total), (full, f.rows));
            }
        }
    }
}

fn page(n: u32) -> PageRequest {
    PageRequest::new(n, PER_PAGE).expect("page and per_page are at least 1")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median wall time of 201 sequential runs (after 20 unmeasured ones).
async fn median<F, Fut>(run: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..20 {
        run().await;
    }
    let mut times = Vec::with_capacity(201);
    for _ in 0..201 {
        let start = Instant::now();
        run().await;
        times.push(start.elapsed());
    }
    times.sort_unstable();
    times[times.len() / 2]
}

/// Opens (and, unless it already holds `scale.rows` users and events, fills) one schema.
async fn fixture(url: &str, scale: &Scale, refill: bool) -> Fixture {
    let mut config = Config::new();
    config.url = Some(url.to_owned());
    config.pool = Some(PoolConfig::new(4));
    let pool = config
        .create_pool(Some(Runtime::Tokio1), NoTls)
        .expect("a valid database url");
    let schema = scale.schema;
    let n = i64::try_from(scale.rows).expect("a small row count");
    let client = pool.get().await.expect("a connection");
    if refill {
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await
            .expect("drop the schema");
    }
    let store = PostgresStore::new(pool.clone())
        .with_schema(schema)
        .expect("a valid schema name");
    store.migrate().await.expect("migrations apply");
    let counts = client
        .query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {schema}.users WHERE org = $1) AS users, \
                 (SELECT count(*) FROM {schema}.events WHERE tenant_domain = $1) AS events"
            ),
            &[&ORG],
        )
        .await
        .expect("row counts");
    let (users, events): (i64, i64) = (counts.get("users"), counts.get("events"));
    if (users, events) == (n, n) {
        println!("store_scale: {schema} already holds {n} users and {n} events; reused");
    } else {
        let started = Instant::now();
        fill(&client, schema, n).await;
        println!(
            "store_scale: filled {schema} with {n} users and {n} events in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    let org = OrgDomain::parse(ORG).expect("a valid domain");
    let email = Email::parse(&format!("user{}@bench.example.com", n / 2)).expect("an e-mail");
    // The key of item 79,992 (the last of page 9,999), read once with SQL.
    let skip = i64::from((DEEP_PAGE - 1) * PER_PAGE - 1);
    let row = client
        .query_one(
            &format!(
                "SELECT inserted_at, id FROM {schema}.users WHERE env = 'production' AND org = $1 \
                 ORDER BY inserted_at DESC, id DESC OFFSET $2 LIMIT 1"
            ),
            &[&ORG, &skip],
        )
        .await
        .expect("item 79,992");
    let (at, id): (OffsetDateTime, Uuid) = (row.get("inserted_at"), row.get("id"));
    let users_deep = Cursor::newest(ListKind::Users, at, id).expect("a stored instant fits");
    let events_skip = i64::from((EVENTS_DEEP_PAGE - 1) * PER_PAGE - 1);
    let code = EventQuery {
        code: Some(EventCode::parse("SCALE_EVENT_3").expect("an event code")),
        ..EventQuery::default()
    };
    let row = client
        .query_one(
            &format!(
                "SELECT id FROM {schema}.events WHERE env = 'production' AND event_code = $1 \
                 ORDER BY id DESC OFFSET $2 LIMIT 1"
            ),
            &[&"SCALE_EVENT_3", &events_skip],
        )
        .await
        .expect("event 7,992");
    let events_deep = Cursor::event(row.get("id"));
    let f = Fixture {
        label: scale.label,
        rows: scale.rows,
        store,
        org,
        email,
        users_deep,
        code,
        events_deep,
    };
    check(&f).await;
    f
}

/// The cursor reads the same page 10,000 as the page number, and the totals are exact.
async fn check(f: &Fixture) {
    let rows = f.rows;
    let by_cursor = f
        .store
        .list_users(ENV, &f.org, page(DEEP_PAGE).after(f.users_deep))
        .await
        .expect("list_users");
    let by_number = f
        .store
        .list_users(ENV, &f.org, page(DEEP_PAGE))
        .await
        .expect("list_users");
    assert_eq!(by_cursor, by_number, "page 10,000 by cursor and by number");
    assert_eq!(by_cursor.1, rows, "the users total");
    let by_cursor = f
        .store
        .events(ENV, &f.code, page(EVENTS_DEEP_PAGE).after(f.events_deep))
        .await
        .expect("events");
    let by_number = f
        .store
        .events(ENV, &f.code, page(EVENTS_DEEP_PAGE))
        .await
        .expect("events");
    assert_eq!(
        by_cursor, by_number,
        "events page 1,000 by cursor and by number"
    );
    assert_eq!(by_cursor.1, rows / CODES, "the events total of one code");
}

/// Fills `schema` with `n` users of one organization (two per millisecond, so `inserted_at`
/// ties are ordered by id) and `n` events over [`CODES`] codes, re-derives the count tables
/// from the rows, and analyzes.
async fn fill(client: &Client, schema: &str, n: i64) {
    let sql = format!(
        "BEGIN;
         TRUNCATE {schema}.users, {schema}.events, {schema}.user_counts, {schema}.event_counts
             CASCADE;
         INSERT INTO {schema}.users (env, id, org, email, email_key, managed_by, email_verified,
             name, given_name, family_name, middle_name, nickname, preferred_username, profile,
             picture, website, gender, birthdate, zoneinfo, locale, phone_number,
             phone_number_verified, address, metadata, avatar_hexa_color, updated_at, version,
             inserted_at, active)
         SELECT 'production', md5('user' || g)::uuid, '{ORG}',
             'user' || g || '@bench.example.com', 'user' || g || '@bench.example.com',
             'Bench', true, 'User ' || g, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL, NULL, false, NULL, '[]', '#336699',
             TIMESTAMPTZ '2026-01-01 00:00:00+00' + (g / 2) * INTERVAL '1 millisecond', 1,
             TIMESTAMPTZ '2026-01-01 00:00:00+00' + (g / 2) * INTERVAL '1 millisecond', true
         FROM generate_series(1, {n}) AS g;
         INSERT INTO {schema}.events (env, event_code, tenant_domain, client_id, email,
             resource_owner_id, saml_identity_provider_id, inserted_at, details)
         SELECT 'production', 'SCALE_EVENT_' || (g % {CODES}), '{ORG}', NULL, NULL, NULL, NULL,
             TIMESTAMPTZ '2026-01-01 00:00:00+00' + g * INTERVAL '1 millisecond', '{{}}'
         FROM generate_series(1, {n}) AS g;
         INSERT INTO {schema}.user_counts (env, org, n)
             SELECT env, org, count(*) FROM {schema}.users GROUP BY env, org;
         INSERT INTO {schema}.event_counts (env, tenant_domain, event_code, shard, n)
             SELECT e.env, k.t, k.c, (e.id % 16)::INTEGER, count(*)
             FROM {schema}.events e
             CROSS JOIN LATERAL (VALUES ('', ''), (e.tenant_domain, ''), ('', e.event_code),
                 (e.tenant_domain, e.event_code)) AS k (t, c)
             WHERE k.t IS NOT NULL
             GROUP BY e.env, k.t, k.c, (e.id % 16)::INTEGER;
         COMMIT;"
    );
    client.batch_execute(&sql).await.expect("fill");
    // VACUUM cannot run inside a transaction block: one statement per call.
    for table in ["users", "events", "user_counts", "event_counts"] {
        client
            .batch_execute(&format!("VACUUM ANALYZE {schema}.{table}"))
            .await
            .expect("vacuum analyze");
    }
}
