//! The PostgreSQL store against the store contract.
//!
//! Runs when built with `--features postgres` and `IDCORE_TEST_POSTGRES_URL` names a database
//! (`postgres://postgres@127.0.0.1:5432/test`); otherwise every test passes without doing
//! anything and the binary says once, for itself and `tests/tokens_postgres.rs`, that the
//! PostgreSQL tests were skipped.
//!
//! Each test works in its own fresh, migrated schema (`idcore_test_<time>_<pid>_<n>`): the
//! public conformance suite (every check, `Isolation::Exclusive`, plus its restart checks
//! across a reopened store) and this adapter's own checks (migrations racing, concurrency,
//! revocation racing rotation, purge, precision, corrupted rows). The adapter's own tests drop
//! their schema at their end; the suite's tests cannot, so the next run drops every schema of a
//! process that has ended (and any older than an hour).

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_tests_skipped_without_the_feature() {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "PostgreSQL tests (conformance_postgres, tokens_postgres) skipped: build with --features postgres and set IDCORE_TEST_POSTGRES_URL"
    );
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::sync::Once;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    use idcore::audit::{EventCode, EventQuery, NewEvent};
    use idcore::directory::{
        Address, Application, ApplicationScope, ApplicationType, Birthdate, ClientId, CountryCode,
        Email, Environment, Gender, HexColor, HttpUrl, Locale, MetadataEntry, Name, OrgDomain,
        Organization, OrganizationId, Origin, PhoneNumber, Profile, RedirectUri, Text, User,
        UserId, ZoneInfo,
    };
    use idcore::page::PageRequest;
    use idcore::secret::Digest;
    use idcore::store::postgres::PostgresStore;
    use idcore::store::postgres::deadpool_postgres::{Config, Pool, Runtime};
    use idcore::store::postgres::tokio_postgres::NoTls;
    use idcore::store::{
        Advance, ApplicationStore, AuditStore, Counted, CounterStore, FamilyId, Key, Mark,
        OneTimeEntry, OneTimeStore, OrganizationStore, RefreshState, RefreshTokenRecord,
        RefreshTokenStore, ReplayStore, Rotation, StoreError, Take, UserStore,
    };
    use time::macros::datetime;
    use time::{Duration, OffsetDateTime};
    use uuid::Uuid;

    const URL_VAR: &str = "IDCORE_TEST_POSTGRES_URL";
    const NOW: OffsetDateTime = datetime!(2026-03-01 09:00 UTC);
    const SANDBOX: Environment = Environment::Sandbox;
    const PRODUCTION: Environment = Environment::Production;

    /// A store in a fresh, migrated schema of its own.
    struct Fresh {
        store: PostgresStore,
        url: String,
    }

    impl Fresh {
        /// `None` (after saying so once) when no database is configured.
        async fn new() -> Option<Self> {
            let Ok(url) = std::env::var(URL_VAR) else {
                static SKIPPED: Once = Once::new();
                SKIPPED.call_once(|| {
                    // Straight to the process's stderr: the test harness captures `eprintln!`.
                    let _ = writeln!(std::io::stderr(), "PostgreSQL tests skipped: set {URL_VAR}");
                });
                return None;
            };
            drop_stale_schemas(&url).await;
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let schema = schema_name(&NEXT.fetch_add(1, Ordering::SeqCst).to_string());
            let store = open(&url, &schema);
            store.migrate().await.expect("migrations apply");
            Some(Self { store, url })
        }

        /// A second store on the same schema, with its own pool: a restarted process.
        fn reopen(&self) -> PostgresStore {
            open(&self.url, self.store.schema())
        }

        /// A raw connection, for what the store API cannot do (corrupting a row).
        async fn sql(&self, statement: &str) {
            let client = self.store.pool().get().await.expect("a connection");
            let statement = statement.replace("{schema}", self.store.schema());
            client
                .batch_execute(&statement)
                .await
                .expect("raw statement runs");
        }

        async fn drop_schema(self) {
            let schema = self.store.schema().to_owned();
            self.sql(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
        }
    }

    fn pool(url: &str) -> Pool {
        let mut config = Config::new();
        config.url = Some(url.to_owned());
        config
            .create_pool(Some(Runtime::Tokio1), NoTls)
            .expect("a valid database url")
    }

    fn open(url: &str, schema: &str) -> PostgresStore {
        PostgresStore::new(pool(url))
            .with_schema(schema)
            .expect("a valid schema name")
    }

    /// The current unix time, in seconds.
    fn unix_seconds() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs()
    }

    /// A schema name for this process: `idcore_test_<unix seconds>_<pid>_<suffix>`.
    fn schema_name(suffix: &str) -> String {
        format!(
            "idcore_test_{}_{}_{suffix}",
            unix_seconds(),
            std::process::id()
        )
    }

    /// Drops, once per test binary, the test schemas that earlier runs left behind: those of a
    /// process that has ended (on Linux), and any older than an hour. Schemas of this process,
    /// and of other live runs, are left alone.
    async fn drop_stale_schemas(url: &str) {
        static DONE: AtomicBool = AtomicBool::new(false);
        if DONE.swap(true, Ordering::SeqCst) {
            return;
        }
        let pool = pool(url);
        let client = pool.get().await.expect("a connection");
        let rows = client
            .query(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'idcore\\_test\\_%'",
                &[],
            )
            .await
            .expect("schemas listed");
        let hour_ago = unix_seconds().saturating_sub(3600);
        let me = std::process::id();
        for row in rows {
            let name: String = row.get(0);
            let mut parts = name.split('_').skip(2);
            let created = parts.next().and_then(|s| s.parse::<u64>().ok());
            let pid = parts.next().and_then(|s| s.parse::<u32>().ok());
            let (Some(created), Some(pid)) = (created, pid) else {
                continue;
            };
            let ended = cfg!(target_os = "linux")
                && !std::path::Path::new(&format!("/proc/{pid}")).exists();
            if pid != me && (ended || created < hour_ago) {
                let _ = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .await;
            }
        }
    }

    fn name(s: &str) -> Name {
        Name::parse(s).expect("a valid name")
    }

    fn domain(s: &str) -> OrgDomain {
        OrgDomain::parse(s).expect("a valid domain")
    }

    fn organization(slug: &str, at: OffsetDateTime) -> Organization {
        Organization {
            id: OrganizationId::from_uuid(Uuid::now_v7()),
            domain: domain(slug),
            environment: SANDBOX,
            managed_by: name("idcore"),
            name: name(&format!("Org {slug}")),
            locality: Some(name("Lille")),
            state: None,
            country_name: Some(CountryCode::parse("FR").expect("a country")),
            privacy_policy_url: Some(HttpUrl::parse("https://example.com/p").expect("a url")),
            terms_of_service_url: None,
            inserted_at: at,
            updated_at: at,
            deleted_at: None,
            version: 1,
        }
    }

    fn user(org: &str, email: &str, at: OffsetDateTime) -> User {
        User {
            id: UserId::from_uuid(Uuid::now_v7()),
            org: domain(org),
            environment: SANDBOX,
            managed_by: name("idcore"),
            profile: Profile {
                email: Email::parse(email).expect("an address"),
                email_verified: true,
                name: Some(name("Jane Doe")),
                given_name: Some(name("Jane")),
                family_name: Some(name("Doe")),
                middle_name: None,
                nickname: Some(name("jd")),
                preferred_username: None,
                profile: Some(HttpUrl::parse("https://example.com/jane").expect("a url")),
                picture: None,
                website: Some(HttpUrl::parse("http://[::1]:8080/x?y=%20").expect("a url")),
                gender: Some(Gender::parse("female").expect("a gender")),
                birthdate: Some(Birthdate::parse("1990-02-28").expect("a date")),
                zoneinfo: Some(ZoneInfo::parse("Europe/Paris").expect("a zone")),
                locale: Some(Locale::parse("fr-FR").expect("a locale")),
                phone_number: Some(PhoneNumber::parse("+33 1 23 45 67 89").expect("a number")),
                phone_number_verified: false,
                address: Some(
                    Address::new()
                        .formatted("1 rue X\n59000 Lille")
                        .and_then(|a| a.locality("Lille"))
                        .and_then(|a| a.country("France"))
                        .expect("an address"),
                ),
            },
            metadata: vec![MetadataEntry {
                id: uuid::Uuid::from_u128(1),
                key_id: idcore::directory::MetaKeyId::from_uuid(uuid::Uuid::from_u128(2)),
                value: idcore::claims::MetaValue::Text("gold \u{0}\"quoted\"".into()),
            }],
            rbac: Default::default(),
            federation: None,
            active: true,
            avatar_hexa_color: HexColor::parse("#1a2b3c").expect("a color"),
            inserted_at: at,
            updated_at: at,
            version: 1,
        }
    }

    fn application(scope: ApplicationScope, at: OffsetDateTime) -> Application {
        Application {
            client_id: ClientId::from_uuid(Uuid::now_v7()),
            scope,
            environment: SANDBOX,
            managed_by: name("idcore"),
            name: name("Portal"),
            description: Some(Text::parse("line one\nline two").expect("text")),
            application_type: ApplicationType::RegularWeb,
            client_secret_digest: Some(Digest::of(b"secret")),
            allowed_redirect_urls: vec![
                RedirectUri::parse("https://app.example.com/cb").expect("a uri"),
                RedirectUri::parse("http://127.0.0.1:8080/cb").expect("a uri"),
            ],
            allowed_logout_urls: vec![],
            allowed_origins_cors: vec![
                Origin::parse("https://app.example.com").expect("an origin"),
            ],
            allowed_web_origins: vec![],
            default_redirect_uri_after_login: Some(
                RedirectUri::parse("https://app.example.com/cb").expect("a uri"),
            ),
            default_redirect_uri_after_logout: None,
            default_origin_cors: None,
            default_web_origin: None,
            token_validity: idcore::directory::TokenValidity {
                access_token: Some(time::Duration::minutes(10)),
                id_token: Some(time::Duration::hours(2)),
                refresh_token: None,
            },
            inserted_at: at,
            updated_at: at,
            deleted_at: None,
            version: 1,
        }
    }

    fn event(code: &EventCode, tenant: Option<&str>) -> NewEvent {
        let mut e = NewEvent::new(code.clone(), NOW).detail("why", "because \u{0}");
        if let Some(t) = tenant {
            e = e.tenant(&domain(t));
        }
        e
    }

    fn created() -> NewEvent {
        event(&EventCode::ORGANIZATION_CREATED, None)
    }

    fn page(n: u32, per: u32) -> PageRequest {
        PageRequest::new(n, per).expect("a valid page")
    }

    fn token(family: FamilyId, generation: u32, tag: &str) -> RefreshTokenRecord {
        RefreshTokenRecord {
            digest: Digest::of(tag.as_bytes()),
            family,
            generation,
            org: domain("acme"),
            user_id: UserId::from_uuid(Uuid::from_u128(7)),
            client_id: ClientId::from_uuid(Uuid::from_u128(9)),
            scope: "openid email".into(),
            auth_time: NOW,
            issued_at: NOW,
            expires_at: NOW + Duration::hours(1),
            family_expires_at: NOW + Duration::days(30),
            state: RefreshState::Active,
        }
    }

    fn new_family() -> FamilyId {
        FamilyId(Uuid::now_v7())
    }

    fn key(s: &str) -> Key {
        Key::new("test", &[s])
    }

    fn assert_exists<T: std::fmt::Debug>(r: Result<T, StoreError>, expected: &str) {
        match r {
            Err(StoreError::AlreadyExists { key }) => assert_eq!(key, expected),
            other => panic!("expected AlreadyExists {{ key: {expected} }}, got {other:?}"),
        }
    }

    macro_rules! fresh {
        () => {
            match Fresh::new().await {
                Some(fresh) => fresh,
                None => return,
            }
        };
    }

    // ---- the public conformance suite ----

    /// The store of one conformance check: a fresh schema of its own, so the suite runs with
    /// `Isolation::Exclusive` (environment-wide totals checked exactly). `None` without a
    /// database. The macro's tests cannot clean up after themselves: their schemas are dropped
    /// by a later run (see [`drop_stale_schemas`]).
    async fn make() -> Option<PostgresStore> {
        Fresh::new().await.map(|fresh| fresh.store)
    }

    /// One `#[tokio::test]` per check of `idcore::store::conformance`, from the suite's own list
    /// (the callback form of `conformance_tests!`, so that each test can skip without a
    /// database).
    macro_rules! postgres_conformance {
        (plain: $($check:ident),+; isolated: $($isolated:ident),+;) => {
            mod suite {
                use idcore::store::conformance::{self, Isolation};

                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $check() {
                        let Some(store) = super::make().await else { return };
                        conformance::$check(&store).await;
                    }
                )+
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $isolated() {
                        let Some(store) = super::make().await else { return };
                        conformance::$isolated(&store, Isolation::Exclusive).await;
                    }
                )+

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn every_check_at_once() {
                    let Some(store) = super::make().await else { return };
                    conformance::every_check_at_once(&store).await;
                }
            }
        };
    }
    idcore::__conformance_checks!([postgres_conformance][]);

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conformance_restart_checks_hold_across_a_reopened_store() {
        let fresh = fresh!();
        let state = idcore::store::conformance::restart_prepare(&fresh.store).await;
        // The first process goes away: every connection of its pool is closed.
        fresh.store.pool().close();
        let reopened = fresh.reopen();
        reopened
            .migrate()
            .await
            .expect("migrate on start-up is idempotent");
        idcore::store::conformance::restart_verify(&reopened, state).await;
        Fresh {
            store: reopened,
            url: fresh.url,
        }
        .drop_schema()
        .await;
    }

    // ---- migrations ----

    /// The hot lookups of one row — a refresh token (by digest, and rotation's update), a user
    /// (alone, and joined to its live organization as the refresh grant reads it), its
    /// credentials, an application, a user by e-mail — as the store writes
    /// them, planned the way a connection plans a prepared statement it runs often (a generic
    /// plan) on tables never analyzed (a new database), empty and then holding 5,000 tokens:
    /// each probes its key, never a secondary index of the token, user or credentials tables by
    /// a prefix such as `env` or `(env, org)` (migrations 7 and 8).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hot_lookups_probe_their_key_without_statistics() {
        let fresh = fresh!();
        let client = fresh.store.pool().get().await.expect("a connection");
        let schema = format!("\"{}\"", fresh.store.schema());
        const ANY_UUID: &str = "'00000000-0000-0000-0000-000000000000'";
        // (statement, its arguments, the index it must probe)
        let lookups = [
            (
                format!("SELECT * FROM {schema}.refresh_tokens WHERE env = $1 AND digest = $2"),
                "'production', '\\x00'".to_owned(),
                "refresh_tokens_pkey",
            ),
            (
                format!(
                    "UPDATE {schema}.refresh_tokens SET state = 'rotated', state_at = $4, \
                     successor = $2 WHERE env = $1 AND digest = $2 \
                     AND family IS NOT DISTINCT FROM $3 AND state = 'active' \
                     AND expires_at > $4"
                ),
                format!("'production', '\\x00', {ANY_UUID}, now()"),
                "refresh_tokens_pkey",
            ),
            (
                format!(
                    "SELECT * FROM {schema}.users WHERE env = $1 AND id = $2 \
                     AND org IS NOT DISTINCT FROM $3"
                ),
                format!("'production', {ANY_UUID}, 'acme'"),
                "users_pkey",
            ),
            (
                format!(
                    "SELECT u.* FROM {schema}.users u JOIN {schema}.organizations o \
                     ON o.env = u.env AND o.domain = u.org AND o.deleted_at IS NULL \
                     WHERE u.env = $1 AND u.id = $2 AND u.org IS NOT DISTINCT FROM $3"
                ),
                format!("'production', {ANY_UUID}, 'acme'"),
                "users_pkey",
            ),
            (
                format!(
                    "SELECT * FROM {schema}.credentials WHERE env = $1 AND user_id = $2 \
                     AND org IS NOT DISTINCT FROM $3"
                ),
                format!("'production', {ANY_UUID}, 'acme'"),
                "credentials_pkey",
            ),
            (
                format!("SELECT * FROM {schema}.applications WHERE env = $1 AND client_id = $2"),
                format!("'production', {ANY_UUID}"),
                "applications_pkey",
            ),
            (
                format!(
                    "SELECT * FROM {schema}.users WHERE env = $1 AND org = $2 AND email_key = $3"
                ),
                "'production', 'acme', 'a@example.com'".to_owned(),
                "users_email_key",
            ),
        ];
        let plan = |sql: &str, args: &str| {
            let client = &client;
            let (sql, args) = (sql.to_owned(), args.to_owned());
            async move {
                client
                    .batch_execute(&format!(
                        "SET plan_cache_mode = force_generic_plan; \
                         PREPARE lookup AS {sql}"
                    ))
                    .await
                    .expect("prepare");
                let rows = client
                    .query(&format!("EXPLAIN EXECUTE lookup({args})"), &[])
                    .await
                    .expect("explain");
                client
                    .batch_execute("DEALLOCATE lookup")
                    .await
                    .expect("deallocate");
                rows.iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        };
        // The secondary indexes a lookup must never probe. (Organizations are not laid out for
        // it yet: a lookup by domain, and the organization side of the join, may take
        // `organizations_id_key` or `organizations_live_newest` until the table is analyzed.
        // Organizations are few, users many.)
        let secondary = [
            "refresh_tokens_by_",
            "users_newest",
            "users_email_key",
            "credentials_username_key",
        ];
        for filled in [false, true] {
            if filled {
                client
                    .batch_execute(&format!(
                        "INSERT INTO {schema}.refresh_tokens SELECT 'production', \
                         sha256(i::text::bytea), gen_random_uuid(), 0, 'acme', \
                         gen_random_uuid(), '01900000-0000-7000-8000-000000000000', 'openid', \
                         now(), now(), now() + interval '1 hour', now() + interval '30 days', \
                         'active', NULL, NULL FROM generate_series(1, 5000) AS i"
                    ))
                    .await
                    .expect("fill");
            }
            for (sql, args, index) in &lookups {
                let plan = plan(sql, args).await;
                assert!(
                    plan.contains(&format!("using {index} "))
                        && !secondary.iter().any(|s| *s != *index && plan.contains(s)),
                    "{sql}\n{plan}"
                );
            }
        }
        drop(client);
        fresh.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migrate_is_idempotent_and_safe_when_processes_race() {
        let fresh = fresh!();
        let stores: Vec<_> = (0..4).map(|_| fresh.reopen()).collect();
        let results = migrate_all(&stores).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        fresh.store.migrate().await.expect("again");
        let client = fresh.store.pool().get().await.expect("a connection");
        let sql = format!(
            "SELECT count(*) FROM \"{}\".idcore_migrations WHERE version > 0",
            fresh.store.schema()
        );
        let n: i64 = client.query_one(&sql, &[]).await.expect("count").get(0);
        assert_eq!(
            n, 15,
            "one row per migration (0001 initial, 0002 tokens, 0003 credentials, 0004 user \
             active, 0005 counts, 0006 organization revocations, 0007 refresh token indexes, \
             0008 lookup indexes, 0009 limited sets, 0010 sessions, 0011 session amr, 0012 api \
             keys, 0013 claims, 0014 sso connections, 0015 user federation), each once"
        );
        drop(client);
        fresh.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_schema_from_before_migration_5_gets_its_totals_back_filled() {
        use idcore::store::conformance as suite;
        let fresh = fresh!();
        let org = suite::fresh_domain("counts");
        for _ in 0..3 {
            let user = suite::user(PRODUCTION, &org, &suite::fresh_email("counts"), suite::T0);
            fresh
                .store
                .insert_user(
                    PRODUCTION,
                    &user,
                    &suite::event("USER_CREATED", &org, suite::T0),
                )
                .await
                .expect("inserted");
        }
        // Back to schema version 4: no count tables.
        let client = fresh.store.pool().get().await.expect("a connection");
        let schema = fresh.store.schema();
        client
            .batch_execute(&format!(
                "DROP TABLE \"{schema}\".user_counts; DROP TABLE \"{schema}\".event_counts; \
                 DELETE FROM \"{schema}\".idcore_migrations WHERE version = 5;"
            ))
            .await
            .expect("downgraded");
        drop(client);
        fresh.store.migrate().await.expect("migration 5 applies");
        let (users, total) = fresh
            .store
            .list_users(PRODUCTION, &org, page(1, 2))
            .await
            .expect("listed");
        assert_eq!(
            (users.len(), total),
            (2, 3),
            "the users counted from the rows"
        );
        let tenant = EventQuery::tenant(&org);
        let (_, events) = fresh
            .store
            .events(PRODUCTION, &tenant, page(1, 1))
            .await
            .expect("events");
        assert_eq!(events, 3, "the events counted from the rows");
        let code = tenant.code(EventCode::USER_CREATED);
        let (_, events) = fresh
            .store
            .events(PRODUCTION, &code, page(1, 1))
            .await
            .expect("events");
        assert_eq!(events, 3, "the events of the code counted from the rows");
        fresh.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migrating_a_brand_new_schema_from_several_processes_at_once_works() {
        let Ok(url) = std::env::var(URL_VAR) else {
            return;
        };
        drop_stale_schemas(&url).await;
        let schema = schema_name("race");
        let stores: Vec<_> = (0..4).map(|_| open(&url, &schema)).collect();
        let results = migrate_all(&stores).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let client = stores[0].pool().get().await.expect("a connection");
        client
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await
            .expect("dropped");
    }

    /// Migrates every store at once, each on its own task.
    async fn migrate_all(stores: &[PostgresStore]) -> Vec<Result<(), StoreError>> {
        let tasks: Vec<_> = stores
            .iter()
            .cloned()
            .map(|s| tokio::spawn(async move { s.migrate().await }))
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.expect("joined"));
        }
        results
    }

    // ---- organizations ----

    #[tokio::test]
    async fn organizations_round_trip_and_keep_their_domain_forever() {
        let fresh = fresh!();
        let s = &fresh.store;
        let org = organization("acme", NOW);
        s.insert_organization(SANDBOX, &org, &created())
            .await
            .expect("inserted");
        assert_eq!(
            s.organization(SANDBOX, &org.domain).await.expect("read"),
            Some(org.clone())
        );
        assert_eq!(
            s.organization(PRODUCTION, &org.domain).await.expect("read"),
            None
        );

        let mut same_domain = organization("acme", NOW);
        assert_exists(
            s.insert_organization(SANDBOX, &same_domain, &created())
                .await,
            "domain",
        );
        same_domain.domain = domain("other");
        same_domain.id = org.id;
        assert_exists(
            s.insert_organization(SANDBOX, &same_domain, &created())
                .await,
            "id",
        );
        // The other environment is another world.
        s.insert_organization(PRODUCTION, &org, &created())
            .await
            .expect("production");

        let tombstone = s
            .delete_organization(SANDBOX, &org.domain, NOW + Duration::hours(1), &created())
            .await
            .expect("deleted");
        assert_eq!(tombstone.deleted_at, Some(NOW + Duration::hours(1)));
        assert_eq!(tombstone.version, 2);
        assert_eq!(
            s.organization(SANDBOX, &org.domain).await.expect("read"),
            Some(tombstone)
        );
        assert!(matches!(
            s.delete_organization(SANDBOX, &org.domain, NOW, &created())
                .await,
            Err(StoreError::NotFound)
        ));
        assert_exists(
            s.insert_organization(SANDBOX, &organization("acme", NOW), &created())
                .await,
            "domain",
        );
        let (events, total) = s
            .events(SANDBOX, &EventQuery::default(), page(1, 100))
            .await
            .expect("events");
        assert_eq!(
            (events.len(), total),
            (2, 2),
            "failed inserts record no event"
        );
        fresh.drop_schema().await;
    }

    #[tokio::test]
    async fn organization_updates_are_conditional_on_version_id_and_liveness() {
        let fresh = fresh!();
        let s = &fresh.store;
        let org = organization("acme", NOW);
        s.insert_organization(SANDBOX, &org, &created())
            .await
            .expect("inserted");
        let mut next = org.clone();
        next.name = name("Renamed");
        next.state = Some(name("Nord"));
        next.locality = None;
        next.version = 2;
        next.updated_at = NOW + Duration::minutes(1);
        next.inserted_at = NOW + Duration::days(9); // ignored: inserted_at never changes
        assert!(matches!(
            s.update_organization(SANDBOX, &next, 7, &created()).await,
            Err(StoreError::Precondition)
        ));
        s.update_organization(SANDBOX, &next, 1, &created())
            .await
            .expect("updated");
        let stored = s
            .organization(SANDBOX, &org.domain)
            .await
            .expect("read")
            .expect("there");
        assert_eq!(stored.inserted_at, NOW);
        assert_eq!(stored.name, next.name);
        assert_eq!(stored.locality, None);
        assert_eq!(stored.version, 2);
        assert!(matches!(
            s.update_organization(SANDBOX, &next, 1, &created()).await,
            Err(StoreError::Precondition)
        ));
        let mut impostor = next.clone();
        impostor.id = OrganizationId::from_uuid(Uuid::now_v7());
        assert!(matches!(
            s.update_organization(SANDBOX, &impostor, 2, &created())
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.update_organization(PRODUCTION, &next, 1, &created())
                .await,
            Err(StoreError::NotFound)
        ));
        s.delete_organization(SANDBOX, &org.domain, NOW, &created())
            .await
            .expect("deleted");
        let mut late = next.clone();
        late.version = 4;
        assert!(matches!(
            s.update_organization(SANDBOX, &late, 3, &created()).await,
            Err(StoreError::Precondition)
        ));
        fresh.drop_schema().await;
    }

    #[tokio::test]
    async fn organization_lists_are_live_newest_first_with_ties_by_id_and_totals() {
        let fresh = fresh!();
        let s = &fresh.store;
        let mut orgs = Vec::new();
        for i in 0..7 {
            // Pairs share an inserted_at: ties go by id, descending.
            let org = organization(&format!("org-{i}"), NOW + Duration::seconds(i / 2));
            s.insert_organization(SANDBOX, &org, &created())
                .await
                .expect("inserted");
            orgs.push(org);
        }
        s.delete_organization(SANDBOX, &orgs[3].domain, NOW, &created())
            .await
            .expect("deleted");
        let mut live: Vec<_> = orgs.iter().filter(|o| o.domain != orgs[3].domain).collect();
        live.sort_by_key(|o| std::cmp::Reverse((o.inserted_at, o.id.as_uuid())));
        let (first, total) = s
            .list_organizations(SANDBOX, page(1, 4))
            .await
            .expect("page 1");
        let (second, _) = s
            .list_organizations(SANDBOX, page(2, 4))
            .await
            .expect("page 2");
        let (past, past_total) = s
            .list_organizations(SANDBOX, page(9, 4))
            .await
            .expect("page 9");
        assert_eq!(total, 6);
        let got: Vec<_> = first
            .iter()
            .chain(&second)
            .map(|o| o.domain.clone())
            .collect();
        let want: Vec<_> = live.iter().map(|o| o.domain.clone()).collect();
        assert_eq!(got, want);
        assert!(past.is_empty());
        assert_eq!(past_total, 6);
        let (none, zero) = s
            .list_organizations(PRODUCTION, page(1, 4))
            .await
            .expect("empty");
        assert!(none.is_empty());
        assert_eq!(zero, 0);
        fresh.drop_schema().await;
    }

    // ---- users ----

    #[tokio::test]
    async fn users_round_trip_every_profile_field() {
        let fresh = fresh!();
        let s = &fresh.store;
        let u = user("acme", "Jane.Doe@Example.com", NOW);
        s.insert_user(SANDBOX, &u, &created())
            .await
            .expect("inserted");
        let org = domain("acme");
        assert_eq!(
            s.user(SANDBOX, &org, u.id).await.expect("read"),
            Some(u.clone())
        );
        let by_email = Email::parse("jane.doe@EXAMPLE.COM").expect("an address");
        assert_eq!(
            s.user_by_email(SANDBOX, &org, &by_email)
                .await
                .expect("read"),
            Some(u.clone())
        );
        assert_eq!(
            s.user(SANDBOX, &domain("other"), u.id).await.expect("read"),
            None
        );
        assert_eq!(s.user(PRODUCTION, &org, u.id).await.expect("read"), None);
        fresh.drop_schema().await;
    }

    #[tokio::test]
    async fn user_emails_are_unique_per_organization_case_insensitively() {
        let fresh = fresh!();
        let s = &fresh.store;
        let first = user("acme", "ÉLODIE@example.com", NOW);
        s.insert_user(SANDBOX, &first, &created())
            .await
            .expect("inserted");
        assert_exists(
            s.insert_user(
                SANDBOX,
                &user("acme", "élodie@EXAMPLE.com", NOW),
                &created(),
            )
            .await,
            "email",
        );
        let mut same_id = user("beta", "x@example.com", NOW);
        same_id.id = first.id;
        assert_exists(s.insert_user(SANDBOX, &same_id, &created()).await, "id");
        s.insert_user(
            SANDBOX,
            &user("beta", "elodie@example.com", NOW),
            &created(),
        )
        .await
        .expect("another organization");
        s.insert_user(
            SANDBOX,
            &user("beta", "élodie@example.com", NOW),
            &created(),
        )
        .await
        .expect("another address");
        s.insert_user(PRODUCTION, &first, &created())
            .await
            .expect("another environment");
        fresh.drop_schema().await;
    }

    #[tokio::test]
    async fn changing_a_user_email_releases_the_old_one_atomically() {
        let fresh = fresh!();
        let s = &fresh.store;
        let a = user("acme", "a@example.com", NOW);
        let b = user("acme", "b@example.com", NOW);
        s.insert_user(SANDBOX, &a, &created()).await.expect("a");
        s.insert_user(SANDBOX, &b, &created()).await.expect("b");
        let mut moved = a.clone();
        moved.profile.email = Email::parse("B@example.com").expect("an address");
        moved.version = 2;
        assert_exists(s.update_user(SANDBOX, &moved, 1, &created()).await, "email");
        moved.profile.email = Email::parse("c@example.com").expect("an address");
        moved.profile.address = None;
        moved.metadata.clear();
        s.update_user(SANDBOX, &moved, 1, &created())
            .await
            .expect("moved");
        assert_eq!(
            s.user(SANDBOX, &a.org, a.id).await.expect("read"),
            Some(moved.clone())
        );
        s.insert_user(SANDBOX, &user("acme", "A@example.com", NOW), &created())
            .await
            .expect("the old address is free");
        assert!(matches!(
            s.update_user(SANDBOX, &moved, 1, &created()).await,
            Err(StoreError::Precondition)
        ));
        let mut elsewhere = moved.clone();
        elsewhere.org = domain("beta");
        assert!(matches!(
            s.update_user(SANDBOX, &elsewhere, 2, &created()).await,
            Err(StoreError::NotFound)
        ));
        fresh.drop_schema().await;
    }

    #[tokio::test]
    async fn user_lists_page_one_organization_newest_first() {
        let fresh = fresh!();
        let s = &fresh.store;
        let mut ids = Vec::new();
        for i in 0..5 {
            let u = user(
                "acme",
                &format!("u{i}@example.com"),
                NOW + Duration::seconds(i),
            );
            s.insert_user(SANDBOX, &u, &created())
                .await
                .expect("inserted");
            ids.push(u.id);
        }
        s.insert_user(SANDBOX, &user("beta", "x@example.com", NOW), &created())
            .await
            .expect("other org");
        let (p1, total) = s
            .list_users(SANDBOX, &domain("acme"), page(1, 2))
            .await
            .expect("p1");
        let (p3, _) = s
            .list_users(SANDBOX, &domain("acme"), page(3, 2))
            .await
            .expect("p3");
        assert_eq!(total, 5);
        assert_eq!(
            p1.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![ids[4], ids[3]]
        );
        assert_eq!(p3.iter().map(|u| u.id).collect::<Vec<_>>(), vec![ids[0]]);
        fresh.drop_schema().await;
    }

    // ---- applications ----

    #[tokio::test]
    async fn applications_round_trip_and_keep_their_scope() {
        let fresh = fresh!();
        let s = &fresh.store;
        let global = application(ApplicationScope::Global, NOW);
        let scoped = application(ApplicationScope::Organization(domain("acme")), NOW);
        s.insert_application(SANDBOX, &global, &created())
            .await
            .expect("global");
        s.insert_application(SANDBOX, &scoped, &created())
            .await
            .expect("scoped");
        assert_exists(
            s.insert_application(SANDBOX, &global, &created()).await,
            "client_id",
        );
        assert_eq!(
            s.application(SANDBOX, global.client_id)
                .await
                .expect("read"),
            Some(global.clone())
        );
        assert_eq!(
            s.application(SANDBOX, scoped.client_id)
                .await
                .expect("read"),
            Some(scoped.clone())
        );
        assert_eq!(
            s.application(PRODUCTION, scoped.client_id)
                .await
                .expect("read"),
            None
        );

        let mut moved = scoped.clone();
        moved.scope = ApplicationScope::Global;
        moved.version = 2;
        assert!(matches!(
            s.update_application(SANDBOX, &moved, 1, &created()).await,
            Err(StoreError::NotFound)
        ));
        let mut renamed = scoped.clone();
        renamed.name = name("Renamed");
        renamed.client_secret_digest = None;
        renamed.allowed_redirect_urls.clear();
        renamed.version = 2;
        s.update_application(SANDBOX, &renamed, 1, &created())
            .await
            .expect("updated");
        assert!(matches!(
            s.update_application(SANDBOX, &renamed, 1, &created()).await,
            Err(StoreError::Precondition)
        ));
        assert_eq!(
            s.application(SANDBOX, scoped.client_id)
                .await
                .expect("read"),
            Some(renamed.clone())
        );

        let acme = ApplicationScope::Organization(domain("acme"));
        let (live, total) = s
            .list_applications(SANDBOX, &acme, page(1, 10))
            .await
            .expect("list");
        assert_eq!((live.len(), total), (1, 1));
        let tombstone = s
            .delete_application(SANDBOX, scoped.client_id, NOW, &created())
            .await
            .expect("deleted");
        assert_eq!(tombstone.version, 3);
        assert!(matches!(
            s.delete_application(SANDBOX, scoped.client_id, NOW, &created())
                .await,
            Err(StoreError::NotFound)
        ));
        let (live, total) = s
            .list_applications(SANDBOX, &acme, page(1, 10))
            .await
            .expect("list");
        assert_eq!((live.len(), total), (0, 0));
        let (globals, total) = s
            .list_applications(SANDBOX, &ApplicationScope::Global, page(1, 10))
            .await
            .expect("list");
        assert_eq!(globals, vec![global]);
        assert_eq!(total, 1);
        fresh.drop_schema().await;
    }

    // ---- audit ----

    #[tokio::test]
    async fn event_ids_increase_and_filters_use_every_field() {
        let fresh = fresh!();
        let s = &fresh.store;
        let client = ClientId::from_uuid(Uuid::now_v7());
        let mut ids = Vec::new();
        for i in 0..6 {
            let code = if i % 2 == 0 {
                EventCode::USER_CREATED
            } else {
                EventCode::SSO_END_USER_SAML_STARTED
            };
            let mut e = event(&code, Some(if i < 3 { "acme" } else { "beta" }));
            if i == 5 {
                e = e.client(client);
                e.saml_identity_provider_id = Some("idp-1".into());
            }
            let env = if i == 4 { PRODUCTION } else { SANDBOX };
            let stored = s.record_event(env, &e).await.expect("recorded");
            assert_eq!(stored.database, env);
            assert_eq!(
                stored.details,
                BTreeMap::from([("why".into(), "because \u{0}".into())])
            );
            ids.push(stored.id);
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let all = s
            .events(SANDBOX, &EventQuery::default(), page(1, 2))
            .await
            .expect("all");
        assert_eq!(all.1, 5);
        assert_eq!(
            all.0.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![ids[5], ids[3]]
        );
        let acme = EventQuery::tenant(&domain("acme"));
        assert_eq!(
            s.events(SANDBOX, &acme, page(1, 10)).await.expect("acme").1,
            3
        );
        let acme_created = acme.clone().code(EventCode::USER_CREATED);
        let (found, n) = s
            .events(SANDBOX, &acme_created, page(1, 10))
            .await
            .expect("acme");
        assert_eq!(n, 2);
        assert_eq!(
            found.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![ids[2], ids[0]]
        );
        let by_client = EventQuery::default().client_id(client);
        assert_eq!(
            s.events(SANDBOX, &by_client, page(1, 10))
                .await
                .expect("client")
                .1,
            1
        );
        let by_idp = EventQuery::default().saml_identity_provider_id("idp-1");
        let (found, n) = s.events(SANDBOX, &by_idp, page(1, 10)).await.expect("idp");
        assert_eq!(n, 1);
        assert_eq!(found[0].client_id, Some(client));
        let production = s
            .events(PRODUCTION, &EventQuery::default(), page(1, 10))
            .await;
        assert_eq!(production.expect("production").1, 1);
        fresh.drop_schema().await;
    }

    // ---- one-time entries ----

    fn entry(payload: &[u8]) -> OneTimeEntry {
        OneTimeEntry {
            payload: payload.to_vec(),
            expires_at: NOW + Duration::minutes(10),
            retain_until: NOW + Duration::hours(1),
        }
    }

    #[tokio::test]
    async fn one_time_entries_are_taken_once_then_answer_already_taken() {
        let fresh = fresh!();
        let s = &fresh.store;
        let k = key("code\u{0}é");
        s.put_once(SANDBOX, &k, &entry(b"grant"), NOW)
            .await
            .expect("put");
        assert_exists(s.put_once(SANDBOX, &k, &entry(b"other"), NOW).await, "key");
        assert_eq!(
            s.take(PRODUCTION, &k, NOW).await.expect("take"),
            Take::Missing
        );
        assert_eq!(
            s.take(SANDBOX, &k, NOW).await.expect("take"),
            Take::Taken(b"grant".to_vec())
        );
        assert_eq!(
            s.take(SANDBOX, &k, NOW + Duration::minutes(30))
                .await
                .expect("take"),
            Take::AlreadyTaken {
                payload: b"grant".to_vec(),
                taken_at: NOW
            }
        );
        // Forgotten after retain_until, and then the key may be put again.
        assert_eq!(
            s.take(SANDBOX, &k, NOW + Duration::hours(1))
                .await
                .expect("take"),
            Take::Missing
        );
        s.put_once(SANDBOX, &k, &entry(b"again"), NOW + Duration::hours(1))
            .await
            .expect("put again");

        let late = key("late");
        s.put_once(SANDBOX, &late, &entry(b"x"), NOW)
            .await
            .expect("put");
        let expiry = NOW + Duration::minutes(10);
        assert_eq!(
            s.take(SANDBOX, &late, expiry).await.expect("take"),
            Take::Expired
        );
        assert_eq!(
            s.take(SANDBOX, &late, NOW).await.expect("take"),
            Take::Taken(b"x".to_vec())
        );
        assert_eq!(
            s.take(SANDBOX, &key("never"), NOW).await.expect("take"),
            Take::Missing
        );
        fresh.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_concurrent_takes_make_exactly_one_winner() {
        let fresh = fresh!();
        let k = key("raced");
        fresh
            .store
            .put_once(SANDBOX, &k, &entry(b"p"), NOW)
            .await
            .expect("put");
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let s = fresh.store.clone();
                let k = k.clone();
                tokio::spawn(async move { s.take(SANDBOX, &k, NOW).await })
            })
            .collect();
        let mut taken = 0;
        for t in tasks {
            match t.await.expect("joined").expect("no store error") {
                Take::Taken(_) => taken += 1,
                Take::AlreadyTaken { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(taken, 1);
        fresh.drop_schema().await;
    }

    // ---- refresh tokens ----

    #[tokio::test]
    async fn rotation_is_a_compare_and_swap_with_every_outcome() {
        let fresh = fresh!();
        let s = &fresh.store;
        let family = new_family();
        let first = token(family, 0, "t0");
        s.insert_refresh_token(SANDBOX, &first)
            .await
            .expect("inserted");
        assert_exists(s.insert_refresh_token(SANDBOX, &first).await, "digest");
        assert_eq!(
            s.refresh_token(SANDBOX, &first.digest).await.expect("read"),
            Some(first.clone())
        );
        assert_eq!(
            s.refresh_token(PRODUCTION, &first.digest)
                .await
                .expect("read"),
            None
        );

        let second = token(family, 1, "t1");
        let later = NOW + Duration::minutes(5);
        assert_eq!(
            s.rotate_refresh_token(SANDBOX, &first.digest, &second, later)
                .await
                .expect("rotate"),
            Rotation::Rotated(first.clone())
        );
        let rotated = s
            .refresh_token(SANDBOX, &first.digest)
            .await
            .expect("read")
            .expect("there");
        assert_eq!(
            rotated.state,
            RefreshState::Rotated {
                at: later,
                successor: second.digest
            }
        );
        let third = token(family, 2, "t2");
        assert_eq!(
            s.rotate_refresh_token(SANDBOX, &first.digest, &third, later)
                .await
                .expect("rotate"),
            Rotation::NotCurrent(rotated)
        );
        assert_eq!(
            s.rotate_refresh_token(PRODUCTION, &second.digest, &third, later)
                .await
                .expect("r"),
            Rotation::Missing
        );
        assert!(matches!(
            s.rotate_refresh_token(SANDBOX, &second.digest, &token(new_family(), 2, "x"), later)
                .await,
            Err(StoreError::Precondition)
        ));
        assert_exists(
            s.rotate_refresh_token(SANDBOX, &second.digest, &first, later)
                .await,
            "digest",
        );
        assert_eq!(
            s.refresh_token(SANDBOX, &second.digest)
                .await
                .expect("read")
                .expect("there")
                .state,
            RefreshState::Active,
            "a failed rotation writes nothing"
        );
        let expired_at = NOW + Duration::hours(1);
        assert_eq!(
            s.rotate_refresh_token(SANDBOX, &second.digest, &third, expired_at)
                .await
                .expect("r"),
            Rotation::Expired(second.clone())
        );
        fresh.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_rotations_of_one_token_make_exactly_one_winner() {
        let fresh = fresh!();
        let family = new_family();
        let first = token(family, 0, "c0");
        fresh
            .store
            .insert_refresh_token(SANDBOX, &first)
            .await
            .expect("inserted");
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let s = fresh.store.clone();
                let old = first.digest;
                tokio::spawn(async move {
                    let next = token(family, 1, &format!("c1-{i}"));
                    s.rotate_refresh_token(SANDBOX, &old, &next, NOW).await
                })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            match t.await.expect("joined").expect("no store error") {
                Rotation::Rotated(_) => winners += 1,
                Rotation::NotCurrent(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners, 1);
        fresh.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rotation_racing_a_revocation_never_leaves_a_live_successor() {
        let fresh = fresh!();
        for round in 0..30 {
            let family = new_family();
            let first = token(family, 0, &format!("r{round}-0"));
            fresh
                .store
                .insert_refresh_token(SANDBOX, &first)
                .await
                .expect("inserted");
            let rotate = {
                let s = fresh.store.clone();
                let next = token(family, 1, &format!("r{round}-1"));
                tokio::spawn(async move {
                    s.rotate_refresh_token(SANDBOX, &first.digest, &next, NOW)
                        .await
                })
            };
            let revoke = {
                let s = fresh.store.clone();
                tokio::spawn(async move { s.revoke_family(SANDBOX, family, NOW).await })
            };
            let rotation = rotate.await.expect("joined").expect("rotation ran");
            let revoked = revoke.await.expect("joined").expect("revocation ran");
            let successor = fresh
                .store
                .refresh_token(SANDBOX, &Digest::of(format!("r{round}-1").as_bytes()))
                .await
                .expect("read");
            match rotation {
                Rotation::Rotated(_) => {
                    assert_eq!(revoked, 2, "round {round}: both tokens revoked");
                    let successor = successor.expect("stored");
                    assert!(matches!(successor.state, RefreshState::Revoked { .. }));
                }
                Rotation::NotCurrent(_) => {
                    assert_eq!(revoked, 1);
                    assert_eq!(successor, None);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        fresh.drop_schema().await;
    }

    #[tokio::test]
    async fn revocations_reach_a_family_a_user_or_a_client_and_count_changes() {
        let fresh = fresh!();
        let s = &fresh.store;
        let f1 = new_family();
        let f2 = new_family();
        let mut other_user = token(new_family(), 0, "u2");
        other_user.user_id = UserId::from_uuid(Uuid::from_u128(8));
        other_user.client_id = ClientId::from_uuid(Uuid::from_u128(10));
        s.insert_refresh_token(SANDBOX, &token(f1, 0, "a0"))
            .await
            .expect("a0");
        s.rotate_refresh_token(SANDBOX, &Digest::of(b"a0"), &token(f1, 1, "a1"), NOW)
            .await
            .expect("a1");
        s.insert_refresh_token(SANDBOX, &token(f2, 0, "b0"))
            .await
            .expect("b0");
        s.insert_refresh_token(SANDBOX, &other_user)
            .await
            .expect("u2");
        s.insert_refresh_token(PRODUCTION, &token(f2, 0, "p0"))
            .await
            .expect("p0");

        assert_eq!(s.revoke_family(SANDBOX, f1, NOW).await.expect("family"), 2);
        assert_eq!(s.revoke_family(SANDBOX, f1, NOW).await.expect("again"), 0);
        let acme = domain("acme");
        let user = UserId::from_uuid(Uuid::from_u128(7));
        assert_eq!(
            s.revoke_user_refresh_tokens(SANDBOX, &acme, user, NOW)
                .await
                .expect("user"),
            1
        );
        let client = ClientId::from_uuid(Uuid::from_u128(10));
        assert_eq!(
            s.revoke_client_refresh_tokens(SANDBOX, client, NOW)
                .await
                .expect("client"),
            1
        );
        assert_eq!(
            s.refresh_token(PRODUCTION, &Digest::of(b"p0"))
                .await
                .expect("read")
                .expect("p0")
                .state,
            RefreshState::Active
        );
        let a1 = s
            .refresh_token(SANDBOX, &Digest::of(b"a1"))
            .await
            .expect("read")
            .expect("a1");
        assert_eq!(a1.state, RefreshState::Revoked { at: NOW });
        fresh.drop_schema().await;
    }

    // ---- counters, markers, steps ----

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hundred_concurrent_increments_never_pass_the_limit() {
        let fresh = fresh!();
        let k = key("lockout");
        let until = NOW + Duration::minutes(15);
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let s = fresh.store.clone();
                let k = k.clone();
                tokio::spawn(async move { s.increment(SANDBOX, &k, 5, until, NOW).await })
            })
            .collect();
        let mut incremented = Vec::new();
        for t in tasks {
            match t.await.expect("joined").expect("no store error") {
                Counted::Incremented(v) => incremented.push(v),
                Counted::AtLimit(v) => assert_eq!(v, 5),
            }
        }
        incremented.sort_unstable();
        assert_eq!(incremented, vec![1, 2, 3, 4, 5]);
        assert_eq!(fresh.store.count(SANDBOX, &k, NOW).await.expect("count"), 5);
        assert_eq!(
            fresh.store.count(PRODUCTION, &k, NOW).await.expect("count"),
            0
        );
        fresh.drop_schema().await;
    }

    #[tokio::test]
    async fn counters_expire_as_a_fixed_window_and_never_go_below_zero() {
        let fresh = fresh!();
        let s = &fresh.store;
        let k = key("seats");
        let until = NOW + Duration::minutes(15);
        assert_eq!(
            s.increment(SANDBOX, &k, 0, until, NOW).await.expect("i"),
            Counted::AtLimit(0)
        );
        assert_eq!(
            s.increment(SANDBOX, &k, 2, until, NOW).await.expect("i"),
            Counted::Incremented(1)
        );
        // A live counter keeps its window.
        let later = NOW + Duration::minutes(10);
        let far = NOW + Duration::days(1);
        assert_eq!(
            s.increment(SANDBOX, &k, 2, far, later).await.expect("i"),
            Counted::Incremented(2)
        );
        assert_eq!(
            s.increment(SANDBOX, &k, 2, far, later).await.expect("i"),
            Counted::AtLimit(2)
        );
        assert_eq!(
            s.count(SANDBOX, &k, until).await.expect("count"),
            0,
            "expired at 15 min"
        );
        assert_eq!(
            s.increment(SANDBOX, &k, 2, far, until).await.expect("i"),
            Counted::Incremented(1)
        );
        assert_eq!(s.decrement(SANDBOX, &k, until).await.expect("d"), 0);
        assert_eq!(s.decrement(SANDBOX, &k, until).await.expect("d"), 0);
        assert_eq!(s.decrement(SANDBOX, &key("none"), NOW).await.expect("d"), 0);
        s.increment(SANDBOX, &k, 2, far, until).await.expect("i");
        s.reset(SANDBOX, &k).await.expect("reset");
        assert_eq!(s.count(SANDBOX, &k, until).await.expect("count"), 0);
        fresh.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn markers_are_set_once_until_they_expire() {
        let fresh = fresh!();
        let k = key("nonce");
        let until = NOW + Duration::minutes(5);
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let s = fresh.store.clone();
                let k = k.clone();
                tokio::spawn(async move { s.mark_once(SANDBOX, &k, until, NOW).await })
            })
            .collect();
        let mut first = 0;
        for t in tasks {
            if t.await.expect("joined").expect("no store error") == Mark::First {
                first += 1;
            }
        }
        assert_eq!(first, 1);
        let s = &fresh.store;
        assert_eq!(
            s.mark_once(PRODUCTION, &k, until, NOW).await.expect("m"),
            Mark::First
        );
        let again = NOW + Duration::minutes(5);
        assert_eq!(
            s.mark_once(SANDBOX, &k, again + Duration::minutes(5), again)
                .await
                .expect("m"),
            Mark::First
        );
        assert_eq!(
            s.mark_once(SANDBOX, &k, again, again).await.expect("m"),
            Mark::Replay
        );
        fresh.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn steps_only_move_forward_over_the_whole_u64_range() {
        let fresh = fresh!();
        let k = key("totp");
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let s = fresh.store.clone();
                let k = k.clone();
                tokio::spawn(async move { s.advance(SANDBOX, &k, 57_000_000).await })
            })
            .collect();
        let mut advanced = 0;
        for t in tasks {
            match t.await.expect("joined").expect("no store error") {
                Advance::Advanced => advanced += 1,
                Advance::Stale(v) => assert_eq!(v, 57_000_000),
            }
        }
        assert_eq!(advanced, 1);
        let s = &fresh.store;
        assert_eq!(
            s.advance(SANDBOX, &k, 56_999_999).await.expect("a"),
            Advance::Stale(57_000_000)
        );
        assert_eq!(
            s.advance(SANDBOX, &k, u64::MAX - 1).await.expect("a"),
            Advance::Advanced
        );
        assert_eq!(
            s.advance(SANDBOX, &k, u64::MAX).await.expect("a"),
            Advance::Advanced
        );
        assert_eq!(
            s.advance(SANDBOX, &k, u64::MAX).await.expect("a"),
            Advance::Stale(u64::MAX)
        );
        assert_eq!(
            s.advance(PRODUCTION, &k, 0).await.expect("a"),
            Advance::Advanced
        );
        fresh.drop_schema().await;
    }

    // ---- durability ----

    #[tokio::test]
    async fn used_codes_rotations_markers_and_steps_survive_a_restart() {
        let fresh = fresh!();
        let s = &fresh.store;
        let code = key("code");
        s.put_once(SANDBOX, &code, &entry(b"grant"), NOW)
            .await
            .expect("put");
        s.take(SANDBOX, &code, NOW).await.expect("taken");
        let family = new_family();
        let first = token(family, 0, "k0");
        s.insert_refresh_token(SANDBOX, &first)
            .await
            .expect("inserted");
        s.rotate_refresh_token(SANDBOX, &first.digest, &token(family, 1, "k1"), NOW)
            .await
            .expect("rotated");
        s.mark_once(SANDBOX, &key("n"), NOW + Duration::hours(1), NOW)
            .await
            .expect("marked");
        s.advance(SANDBOX, &key("t"), 42).await.expect("advanced");
        s.increment(SANDBOX, &key("c"), 3, NOW + Duration::hours(1), NOW)
            .await
            .expect("counted");

        let restarted = fresh.reopen();
        restarted.migrate().await.expect("idempotent");
        assert!(matches!(
            restarted.take(SANDBOX, &code, NOW).await.expect("take"),
            Take::AlreadyTaken { .. }
        ));
        assert!(matches!(
            restarted
                .rotate_refresh_token(SANDBOX, &first.digest, &token(family, 1, "k1b"), NOW)
                .await
                .expect("rotate"),
            Rotation::NotCurrent(_)
        ));
        assert_eq!(
            restarted
                .mark_once(SANDBOX, &key("n"), NOW + Duration::hours(1), NOW)
                .await
                .expect("m"),
            Mark::Replay
        );
        assert_eq!(
            restarted.advance(SANDBOX, &key("t"), 42).await.expect("a"),
            Advance::Stale(42)
        );
        assert_eq!(
            restarted.count(SANDBOX, &key("c"), NOW).await.expect("c"),
            1
        );
        fresh.drop_schema().await;
    }

    #[tokio::test]
    async fn purge_forgets_only_what_the_contract_lets_it_forget() {
        let fresh = fresh!();
        let s = &fresh.store;
        s.put_once(SANDBOX, &key("old"), &entry(b"x"), NOW)
            .await
            .expect("put");
        s.mark_once(SANDBOX, &key("m"), NOW + Duration::minutes(1), NOW)
            .await
            .expect("mark");
        s.advance(SANDBOX, &key("t"), 1).await.expect("step");
        s.insert_refresh_token(SANDBOX, &token(new_family(), 0, "z"))
            .await
            .expect("token");
        let purged = s
            .purge_expired(NOW + Duration::hours(1))
            .await
            .expect("purged");
        assert_eq!(purged, 2, "the forgotten entry and the expired marker");
        assert_eq!(
            s.take(SANDBOX, &key("old"), NOW).await.expect("take"),
            Take::Missing
        );
        assert_eq!(
            s.advance(SANDBOX, &key("t"), 1).await.expect("a"),
            Advance::Stale(1)
        );
        assert!(
            s.refresh_token(SANDBOX, &Digest::of(b"z"))
                .await
                .expect("read")
                .is_some()
        );
        assert_eq!(
            s.purge_expired(NOW + Duration::days(30))
                .await
                .expect("purged"),
            2
        );
        assert!(
            s.refresh_token(SANDBOX, &Digest::of(b"z"))
                .await
                .expect("read")
                .is_none()
        );
        fresh.drop_schema().await;
    }

    // ---- what comes back from storage ----

    #[tokio::test]
    async fn timestamps_come_back_truncated_to_the_microsecond() {
        let fresh = fresh!();
        let s = &fresh.store;
        let precise = NOW + Duration::nanoseconds(123_456_789);
        let org = organization("precise", precise);
        s.insert_organization(SANDBOX, &org, &created())
            .await
            .expect("inserted");
        let stored = s
            .organization(SANDBOX, &org.domain)
            .await
            .expect("read")
            .expect("there");
        assert_eq!(stored.inserted_at, NOW + Duration::microseconds(123_456));
        fresh.drop_schema().await;
    }

    /// The services on PostgreSQL, with a clock that has nanoseconds (as `SystemClock` does):
    /// what `create` answers carries the clock's instant, what is read back carries it cut to
    /// the microsecond. The two differ by less than a microsecond, never more — and differ at
    /// all until the services take their instants at microsecond precision.
    #[tokio::test]
    async fn identity_on_postgres_reads_back_what_it_created_to_the_microsecond() {
        use idcore::directory::Retrieved;
        use idcore::{Identity, NewOrganization, clock::ManualClock};

        let fresh = fresh!();
        let clock = ManualClock::new(NOW + Duration::nanoseconds(987_654_321));
        let identity = Identity::builder()
            .issuer("https://auth.example.com")
            .environment(SANDBOX)
            .clock(clock)
            .store(fresh.store.clone())
            .build()
            .expect("a valid configuration");
        let new = NewOrganization::new("Misapret")
            .and_then(|o| o.locality("Lille"))
            .expect("valid input");
        let created = identity.organizations().create(new).await.expect("created");
        let Retrieved::Active(read) = identity
            .organizations()
            .retrieve(&created.domain)
            .await
            .expect("retrieved")
        else {
            panic!("the organization is live");
        };
        let lost = created.inserted_at - read.inserted_at;
        assert!(
            lost >= Duration::ZERO && lost < Duration::microseconds(1),
            "{lost}"
        );
        assert_eq!(read.inserted_at, NOW + Duration::microseconds(987_654));
        let without_time = |mut o: Organization| {
            o.inserted_at = NOW;
            o.updated_at = NOW;
            o
        };
        assert_eq!(without_time(read), without_time(created));
        fresh.drop_schema().await;
    }

    // ---- sign-in on PostgreSQL ----

    /// A risk engine that accepts everything (so the flow below is deterministic).
    struct AcceptAll;

    impl idcore::risk::RiskEngine for AcceptAll {
        fn assess<'a>(
            &'a self,
            _context: &'a idcore::risk::RiskContext,
        ) -> idcore::risk::RiskFuture<'a> {
            Box::pin(async {
                Ok(idcore::risk::RiskAssessment::new(
                    idcore::risk::RiskDecision::Accept,
                    idcore::risk::RiskReason::Other("test".to_owned()),
                ))
            })
        }
    }

    /// The digits after "code is " in the newest mail to `email`.
    fn mailed_code(outbox: &idcore::mail::MemoryOutbox, email: &str) -> String {
        let mail = outbox
            .last_to(&Email::parse(email).expect("an address"))
            .expect("a mail to this address");
        let rest = mail
            .body
            .split("code is ")
            .nth(1)
            .expect("a code in the mail");
        rest.chars().take_while(char::is_ascii_digit).collect()
    }

    /// The whole sign-in flow on PostgresStore, through the public API: sign-up (user and
    /// credentials in one transaction), e-mail confirmation, sign-in by address and by username
    /// with the password alone, the code exchanged for tokens, TOTP enrolment (sealed secret,
    /// recovery codes), sign-in with the second factor, then unregistering (user and credentials
    /// erased together, the address and username free again).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_whole_sign_in_runs_on_postgres() {
        use idcore::clock::{Clock, ManualClock};
        use idcore::mail::MemoryOutbox;
        use idcore::risk::RequestContext;
        use idcore::signin::password::{Argon2Params, Password};
        use idcore::signin::totp::{DIGITS, TotpAlgorithm, TotpKey};
        use idcore::signin::{
            Authorization, Factor, FactorKind, SignInRequest, SignInStep, SignUp, SigninSettings,
            UnregisterOutcome, UnregisterRequest,
        };
        use idcore::store::CredentialStore;
        use idcore::tokens::keys::EncryptionKey;
        use idcore::tokens::pkce::CodeChallenge;
        use idcore::tokens::{ClientAuth, Tokens};
        use idcore::{Identity, NewApplication, NewOrganization, NewUser};

        const REDIRECT: &str = "https://app.example.com/callback";
        const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        const PASSWORD: &str = "correct horse battery staple";
        const EMAIL: &str = "janis@example.com";

        let fresh = fresh!();
        let clock = ManualClock::new(NOW);
        let outbox = MemoryOutbox::new();
        let identity = Identity::builder()
            .issuer("https://auth.example.com")
            .environment(SANDBOX)
            .clock(clock.clone())
            .mailer(outbox.clone())
            .risk_engine(AcceptAll)
            .key_encryption_key(EncryptionKey::from_bytes(&[7; 32]).expect("a 32-byte key"))
            .signin_settings(SigninSettings {
                argon2: Argon2Params {
                    memory_kib: 64,
                    iterations: 1,
                    parallelism: 1,
                },
                ..SigninSettings::default()
            })
            .store(fresh.store.clone())
            .build()
            .expect("a valid configuration");
        let org = identity
            .organizations()
            .create(NewOrganization::new("Misapret").expect("a name"))
            .await
            .expect("organization created")
            .domain;
        let client = identity
            .applications(ApplicationScope::Organization(org.clone()))
            .create(
                NewApplication::new("Bank", ApplicationType::React)
                    .and_then(|a| a.with(|a| a.allowed_redirect_urls(&[REDIRECT])))
                    .expect("a valid application"),
            )
            .await
            .expect("application created")
            .application
            .client_id;
        let signin = identity.signin(&org);
        let unix = || u64::try_from(clock.now().unix_timestamp()).expect("after 1970");
        let request = |login: &str| SignInRequest {
            login: login.to_owned(),
            password: Password::new(PASSWORD),
            authorization: Authorization {
                client_id: client,
                redirect_uri: REDIRECT.to_owned(),
                code_challenge: CodeChallenge::s256(VERIFIER).expect("a verifier"),
                nonce: Some("n-0S6_WzA2Mj".to_owned()),
                state: Some("af0ifjsldkj".to_owned()),
                scope: vec!["openid".to_owned(), "email".to_owned()],
            },
            context: RequestContext::new(),
        };

        // Sign-up: the user and its credentials, one transaction; unverified until confirmed.
        let user = signin
            .sign_up(
                SignUp::new(
                    NewUser::new(EMAIL).expect("an address"),
                    Password::new(PASSWORD),
                )
                .username("Janis_J")
                .expect("a username"),
            )
            .await
            .expect("signed up");
        let stored = fresh
            .store
            .credentials(SANDBOX, &org, user.id)
            .await
            .expect("read")
            .expect("credentials stored with the user");
        assert_eq!(stored.username.as_deref(), Some("janis_j"));
        let refused = signin.sign_in(request(EMAIL)).await;
        assert!(
            matches!(refused, Err(idcore::Error::EmailNotVerified)),
            "an unverified account cannot sign in: {refused:?}"
        );

        // Confirm the address with the mailed code.
        let code = mailed_code(&outbox, EMAIL);
        let confirmed = signin
            .confirm_email(EMAIL, &code, &RequestContext::new())
            .await
            .expect("e-mail confirmed");
        assert!(confirmed.profile.email_verified);

        // Sign in with the password alone, by address and by username; exchange the code.
        let done = match signin.sign_in(request("JANIS@example.com")).await {
            Ok(SignInStep::Complete(done)) => done,
            other => panic!("expected a completed sign-in, got {other:?}"),
        };
        assert_eq!(done.user_id, user.id);
        assert_eq!(done.redirect_uri, REDIRECT);
        let tokens: Tokens<'_, PostgresStore> = identity.tokens();
        let set = tokens
            .exchange_code(
                &ClientAuth::public(client),
                done.code.expose(),
                REDIRECT,
                VERIFIER,
            )
            .await
            .expect("the code redeems");
        let verified = tokens
            .verify_live(&set.access_token)
            .await
            .expect("a live access token");
        assert_eq!(verified.claims.sub, user.id);
        assert!(matches!(
            signin.sign_in(request("janis_j")).await,
            Ok(SignInStep::Complete(_))
        ));

        // Enrol an authenticator: the sealed secret and recovery generation are stored.
        let enrolment = signin
            .begin_totp_enrolment(user.id)
            .await
            .expect("enrolment begins");
        let secret = totp_rs::Secret::try_from_base32(enrolment.secret_base32().expose())
            .expect("base32")
            .as_bytes()
            .to_vec();
        let key = TotpKey::new(&secret, TotpAlgorithm::Sha1, DIGITS).expect("a TOTP key");
        let recovery = signin
            .confirm_totp_enrolment(user.id, &key.generate(unix()), &RequestContext::new())
            .await
            .expect("enrolment confirmed");
        assert_eq!(recovery.codes().len(), 10);
        let stored = fresh
            .store
            .credentials(SANDBOX, &org, user.id)
            .await
            .expect("read")
            .expect("credentials");
        assert!(stored.totp.is_some() && stored.pending_totp.is_none());
        assert!(stored.recovery_generation >= 1);
        clock.advance(Duration::seconds(30));

        // Sign in again: the second factor is now required.
        let pending = match signin.sign_in(request(EMAIL)).await {
            Ok(SignInStep::FactorRequired(pending)) => pending,
            other => panic!("expected a pending sign-in, got {other:?}"),
        };
        assert_eq!(pending.factors, [FactorKind::Totp]);
        let done = match signin
            .complete(
                pending.token.expose(),
                Factor::Totp(key.generate(unix())),
                &RequestContext::new(),
            )
            .await
        {
            Ok(SignInStep::Complete(done)) => done,
            other => panic!("expected a completed sign-in, got {other:?}"),
        };
        tokens
            .exchange_code(
                &ClientAuth::public(client),
                done.code.expose(),
                REDIRECT,
                VERIFIER,
            )
            .await
            .expect("the second code redeems");

        // Unregister: user and credentials erased together; address and username free again.
        let outcome = signin
            .unregister(
                user.id,
                UnregisterRequest::new(RequestContext::new(), "self", "closing my account")
                    .expect("a request"),
            )
            .await
            .expect("unregistered");
        assert!(
            matches!(outcome, UnregisterOutcome::Unregistered),
            "{outcome:?}"
        );
        assert_eq!(
            fresh
                .store
                .user(SANDBOX, &org, user.id)
                .await
                .expect("read"),
            None
        );
        assert_eq!(
            fresh
                .store
                .credentials(SANDBOX, &org, user.id)
                .await
                .expect("read"),
            None
        );
        assert_eq!(
            fresh
                .store
                .credentials_by_username(SANDBOX, &org, "janis_j")
                .await
                .expect("read"),
            None
        );
        let deleted = fresh
            .store
            .events(
                SANDBOX,
                &EventQuery::tenant(&org).code(EventCode::USER_DELETED),
                page(1, 10),
            )
            .await
            .expect("events");
        assert_eq!(deleted.1, 1, "one USER_DELETED event");
        signin
            .sign_up(
                SignUp::new(
                    NewUser::new(EMAIL).expect("an address"),
                    Password::new(PASSWORD),
                )
                .username("janis_j")
                .expect("a username"),
            )
            .await
            .expect("the address and username are free again");
        drop(identity);
        fresh.drop_schema().await;
    }

    #[tokio::test]
    async fn a_corrupted_row_is_a_backend_error_not_a_panic() {
        let fresh = fresh!();
        let s = &fresh.store;
        let org = organization("acme", NOW);
        s.insert_organization(SANDBOX, &org, &created())
            .await
            .expect("inserted");
        s.insert_user(SANDBOX, &user("acme", "a@example.com", NOW), &created())
            .await
            .expect("inserted");
        fresh
            .sql(
                "UPDATE \"{schema}\".organizations SET name = E'bad\\x01name'; \
                 UPDATE \"{schema}\".users SET metadata = '{not json', address = NULL",
            )
            .await;
        let err = s
            .organization(SANDBOX, &org.domain)
            .await
            .expect_err("corrupt");
        assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
        assert!(
            std::error::Error::source(&err).is_some_and(|e| e.to_string().contains("name")),
            "names the column: {err:?}"
        );
        let listed = s.list_users(SANDBOX, &org.domain, page(1, 10)).await;
        assert!(
            matches!(listed, Err(StoreError::Backend { .. })),
            "{listed:?}"
        );
        fresh.drop_schema().await;
    }

    #[tokio::test]
    async fn a_corrupted_credentials_row_is_a_backend_error_naming_the_column() {
        use idcore::store::CredentialStore;
        use idcore::store::conformance::credential_record;

        let fresh = fresh!();
        let s = &fresh.store;
        let org = organization("acme", NOW);
        s.insert_organization(SANDBOX, &org, &created())
            .await
            .expect("inserted");
        // Let rows the schema would refuse in: what a bad restore or a manual edit leaves.
        fresh
            .sql(
                "ALTER TABLE \"{schema}\".credentials \
                 DROP CONSTRAINT credentials_totp_whole, \
                 DROP CONSTRAINT credentials_status_check",
            )
            .await;
        for (corruption, column) in [
            ("username = 'Not_Folded'", "username"),
            ("password_hash = '$md5$nope'", "password_hash"),
            ("known_devices = ARRAY['\\x0102'::bytea]", "known_devices"),
            ("totp_at = NULL", "totp_secret"),
            ("status = 'banned'", "status"),
        ] {
            let u = user("acme", &format!("{column}@example.com"), NOW);
            let c = credential_record(&org.domain, u.id, NOW);
            s.insert_account(SANDBOX, &u, &c, &created())
                .await
                .expect("inserted");
            assert_eq!(
                s.credentials(SANDBOX, &org.domain, u.id)
                    .await
                    .expect("read"),
                Some(c.clone())
            );
            fresh
                .sql(&format!(
                    "UPDATE \"{{schema}}\".credentials SET {corruption} WHERE user_id = '{}'",
                    u.id.as_uuid()
                ))
                .await;
            let err = s
                .credentials(SANDBOX, &org.domain, u.id)
                .await
                .expect_err("corrupt");
            assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
            assert!(
                std::error::Error::source(&err).is_some_and(|e| e.to_string().contains(column)),
                "names the column {column}: {err:?}"
            );
        }
        fresh.drop_schema().await;
    }

    #[tokio::test]
    async fn an_unmigrated_schema_is_a_backend_error() {
        let Ok(url) = std::env::var(URL_VAR) else {
            return;
        };
        let store = open(&url, "idcore_test_never_migrated");
        let result = store.organization(SANDBOX, &domain("acme")).await;
        assert!(
            matches!(result, Err(StoreError::Backend { .. })),
            "{result:?}"
        );
    }
}
