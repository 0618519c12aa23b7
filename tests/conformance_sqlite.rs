//! The SQLite store against the store contract.
//!
//! Needs no server: each test opens its own database file under
//! `std::env::temp_dir()/idcore-sqlite-tests/` (`<pid>-<n>-<what>.sqlite3`), so the public
//! conformance suite runs with `Isolation::Exclusive`, plus its restart checks across a
//! reopened file, and this adapter's own checks: migrations racing from two stores on one
//! file, two stores (two "processes") on one file racing take-once and rotation, the busy
//! timeout against a lock held by a raw connection, WAL on, corrupted rows, precision, purge.
//!
//! The adapter's own tests remove their files at their end; the suite's tests cannot (the
//! macro owns them), so the next run removes every file of a process that has ended (and any
//! older than an hour).

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use idcore::audit::{EventCode, EventQuery};
use idcore::directory::{ApplicationScope, Environment};
use idcore::page::PageRequest;
use idcore::store::conformance::{self, T0, at};
use idcore::store::sqlite::rusqlite::Connection;
use idcore::store::sqlite::{Durability, SqliteOptions, SqliteStore};
use idcore::store::{
    ApplicationStore, AuditStore, CounterStore, CredentialStore, Mark, OneTimeStore,
    OrganizationStore, RefreshTokenStore, ReplayStore, Rotation, StoreError, Take, UserStore,
};
use time::Duration;
use tokio::sync::Barrier;

mod sqlite_file;

use sqlite_file::TempDb;

const ENV: Environment = Environment::Production;

fn page(n: u32, per: u32) -> PageRequest {
    PageRequest::new(n, per).expect("a valid page")
}

// ---- the public conformance suite ----

/// The store of one conformance check: a fresh file of its own, so the suite runs with
/// `Isolation::Exclusive` (environment-wide totals checked exactly). The file stays behind
/// until a later run removes it (see `tests/sqlite_file`).
async fn make() -> SqliteStore {
    let db = TempDb::new("suite");
    let store = db.store().await;
    // The file must outlive this function: the suite's test owns the store, not the file.
    std::mem::forget(db);
    store
}

idcore::conformance_tests!(make, conformance::Isolation::Exclusive);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_restart_checks_hold_across_a_reopened_store() {
    let db = TempDb::new("restart");
    let store = db.store().await;
    let state = conformance::restart_prepare(&store).await;
    // The first process goes away: its only handle, and with it every connection, is closed.
    drop(store);
    let reopened = SqliteStore::open(&db.path)
        .await
        .expect("the file opens again");
    reopened
        .migrate()
        .await
        .expect("migrate on start-up is idempotent");
    conformance::restart_verify(&reopened, state).await;
}

/// `restart_verify` fails on a fresh file: the restart check really reads the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[should_panic(expected = "a code used before the restart must stay used")]
async fn restart_verify_fails_on_another_file() {
    let first = TempDb::new("restart-a");
    let second = TempDb::new("restart-b");
    let state = conformance::restart_prepare(&first.store().await).await;
    conformance::restart_verify(&second.store().await, state).await;
}

/// The in-memory database (reads on the writer connection) keeps the contract too, under
/// contention.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_in_memory_store_keeps_the_atomic_primitives() {
    let store = SqliteStore::open_in_memory().await.expect("in memory");
    store.migrate().await.expect("migrations apply");
    assert_eq!(store.path(), None);
    conformance::take_once_has_exactly_one_winner_under_contention(&store).await;
    conformance::rotation_has_exactly_one_winner_under_contention(&store).await;
    conformance::counter_has_exactly_limit_winners_under_contention(&store).await;
    conformance::account_round_trips(&store).await;
    conformance::users_list_newest_first_with_totals(&store).await;
}

// ---- opening and migrations ----

/// The versions recorded in `idcore_migrations`.
fn recorded_migrations(conn: &Connection) -> Vec<i64> {
    let mut statement = conn
        .prepare("SELECT version FROM idcore_migrations ORDER BY version")
        .expect("the migrations table exists");
    statement
        .query_map([], |row| row.get(0))
        .expect("versions")
        .collect::<Result<_, _>>()
        .expect("versions")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrate_is_idempotent_and_safe_when_two_stores_race_on_one_file() {
    let db = TempDb::new("migrate");
    // Two "processes" open the brand-new file and migrate it at the same moment.
    let (a, b) = tokio::join!(SqliteStore::open(&db.path), SqliteStore::open(&db.path));
    let (a, b) = (a.expect("a opens"), b.expect("b opens"));
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    assert!(ra.is_ok() && rb.is_ok(), "{ra:?} {rb:?}");
    a.migrate().await.expect("a second run does nothing");
    b.migrate().await.expect("and neither does a third");
    assert_eq!(
        recorded_migrations(&db.raw()),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    );
    // Both work on the one schema.
    conformance::organization_round_trips(&a).await;
    conformance::organization_round_trips(&b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_migration_changed_after_it_was_applied_is_refused() {
    let db = TempDb::new("checksum");
    let store = db.store().await;
    db.raw()
        .execute(
            "UPDATE idcore_migrations SET checksum = 'edited' WHERE version = 2",
            [],
        )
        .expect("edited");
    let err = store.migrate().await.expect_err("a changed migration");
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(
        std::error::Error::source(&err).is_some_and(|e| e.to_string().contains("migration 2")),
        "names the migration: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_from_before_migration_4_is_upgraded_and_its_users_stay_active() {
    let db = TempDb::new("upgrade");
    let store = db.store().await;
    let org = conformance::fresh_domain("upgrade");
    let user = conformance::user(ENV, &org, &conformance::fresh_email("upgrade"), T0);
    store
        .insert_user(ENV, &user, &conformance::event("USER_CREATED", &org, T0))
        .await
        .expect("inserted");
    // Back to schema version 3: the user row without its `active` column.
    db.raw()
        .execute_batch(
            "ALTER TABLE users DROP COLUMN active; \
             DELETE FROM idcore_migrations WHERE version = 4;",
        )
        .expect("downgraded");
    store.migrate().await.expect("migration 4 applies");
    assert_eq!(
        recorded_migrations(&db.raw()),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    );
    let read = store.user(ENV, &org, user.id).await.expect("read");
    assert_eq!(read, Some(user), "an existing user stays active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_from_before_migration_5_gets_its_totals_back_filled() {
    let db = TempDb::new("counts");
    let store = db.store().await;
    let org = conformance::fresh_domain("counts");
    for _ in 0..3 {
        let user = conformance::user(ENV, &org, &conformance::fresh_email("counts"), T0);
        store
            .insert_user(ENV, &user, &conformance::event("USER_CREATED", &org, T0))
            .await
            .expect("inserted");
    }
    // Back to schema version 4: no count tables, no triggers.
    db.raw()
        .execute_batch(
            "DROP TRIGGER users_counted; DROP TRIGGER users_uncounted; \
             DROP TRIGGER events_counted; DROP TABLE user_counts; DROP TABLE event_counts; \
             DELETE FROM idcore_migrations WHERE version = 5;",
        )
        .expect("downgraded");
    store.migrate().await.expect("migration 5 applies");
    assert_eq!(
        recorded_migrations(&db.raw()),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    );
    let (users, total) = store
        .list_users(ENV, &org, page(1, 2))
        .await
        .expect("listed");
    assert_eq!(
        (users.len(), total),
        (2, 3),
        "the users counted from the rows"
    );
    let tenant = EventQuery::tenant(&org);
    let (_, events) = store
        .events(ENV, &tenant, page(1, 1))
        .await
        .expect("events");
    assert_eq!(events, 3, "the events counted from the rows");
    let code = tenant.code(EventCode::USER_CREATED);
    let (_, events) = store.events(ENV, &code, page(1, 1)).await.expect("events");
    assert_eq!(events, 3, "the events of the code counted from the rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unmigrated_file_is_a_backend_error() {
    let db = TempDb::new("unmigrated");
    let store = SqliteStore::open(&db.path).await.expect("opens");
    let result = store
        .organization(ENV, &conformance::fresh_domain("none"))
        .await;
    assert!(
        matches!(result, Err(StoreError::Backend { .. })),
        "{result:?}"
    );
}

/// SQLite checks the last declared unique index first; the store still names the primary key
/// of a row that collides on two keys, as PostgreSQL and MemoryStore do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_taken_on_two_keys_answers_its_primary_key() {
    let db = TempDb::new("two-keys");
    let store = db.store().await;
    let org = conformance::fresh_domain("two-keys");
    let record = conformance::organization(ENV, &org, T0);
    let created = conformance::event("ORGANIZATION_CREATED", &org, T0);
    store
        .insert_organization(ENV, &record, &created)
        .await
        .expect("inserted");
    let again = store.insert_organization(ENV, &record, &created).await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists { key: "domain" })),
        "{again:?}"
    );
    let user = conformance::user(ENV, &org, &conformance::fresh_email("two-keys"), T0);
    let event = conformance::event("USER_CREATED", &org, T0);
    store
        .insert_user(ENV, &user, &event)
        .await
        .expect("inserted");
    let again = store.insert_user(ENV, &user, &event).await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists { key: "id" })),
        "{again:?}"
    );
    let creds = conformance::credential_record(&org, user.id, T0);
    let again = store.insert_account(ENV, &user, &creds, &event).await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists { key: "id" })),
        "{again:?}"
    );
    // One key alone still answers that key.
    let twin = idcore::directory::User {
        id: idcore::directory::UserId::from_uuid(conformance::fresh_uuid()),
        ..user
    };
    let taken_email = store.insert_user(ENV, &twin, &event).await;
    assert!(
        matches!(taken_email, Err(StoreError::AlreadyExists { key: "email" })),
        "{taken_email:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_is_in_wal_mode_with_foreign_keys_enforced() {
    let db = TempDb::new("wal");
    let store = db.store().await;
    let raw = db.raw();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
    // Foreign keys are on for the store's connections: erasing a user erases its credentials.
    let org = conformance::fresh_domain("fk");
    store
        .insert_organization(
            ENV,
            &conformance::organization(ENV, &org, T0),
            &conformance::event("ORGANIZATION_CREATED", &org, T0),
        )
        .await
        .expect("organization");
    let user = conformance::user(ENV, &org, &conformance::fresh_email("fk"), T0);
    let creds = conformance::credential_record(&org, user.id, T0);
    store
        .insert_account(
            ENV,
            &user,
            &creds,
            &conformance::event("USER_CREATED", &org, T0),
        )
        .await
        .expect("account");
    store
        .delete_account(
            ENV,
            &org,
            user.id,
            &conformance::event("USER_DELETED", &org, T0),
        )
        .await
        .expect("deleted");
    let left: i64 = raw
        .query_row("SELECT count(*) FROM credentials", [], |row| row.get(0))
        .expect("count");
    assert_eq!(left, 0, "the credentials row went with its user");
}

// ---- two stores on one file ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_racing_take_once_make_exactly_one_winner() {
    let db = TempDb::new("two-take");
    let stores = [db.store().await, db.store().await];
    let key = conformance::fresh_key("race");
    stores[0]
        .put_once(ENV, &key, &conformance::one_time_entry(b"code", T0), T0)
        .await
        .expect("put");
    let barrier = Arc::new(Barrier::new(20));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (store, key, barrier) = (stores[i % 2].clone(), key.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            store.take(ENV, &key, at(1)).await
        });
    }
    let (mut taken, mut already) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        match done.expect("no panic") {
            Ok(Take::Taken(payload)) => {
                assert_eq!(payload, b"code");
                taken += 1;
            }
            Ok(Take::AlreadyTaken { payload, taken_at }) => {
                assert_eq!((payload.as_slice(), taken_at), (&b"code"[..], at(1)));
                already += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((taken, already), (1, 19));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_racing_rotation_make_exactly_one_winner() {
    let db = TempDb::new("two-rotate");
    let stores = [db.store().await, db.store().await];
    let org = conformance::fresh_domain("rotate");
    let token = conformance::refresh_token(
        &org,
        idcore::directory::UserId::from_uuid(conformance::fresh_uuid()),
        idcore::directory::ClientId::from_uuid(conformance::fresh_uuid()),
        T0,
    );
    stores[1]
        .insert_refresh_token(ENV, &token)
        .await
        .expect("inserted");
    let barrier = Arc::new(Barrier::new(20));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (store, token, barrier) = (stores[i % 2].clone(), token.clone(), barrier.clone());
        tasks.spawn(async move {
            let next = conformance::successor(&token, at(1));
            barrier.wait().await;
            let rotation = store
                .rotate_refresh_token(ENV, &token.digest, &next, at(1))
                .await;
            (rotation, next)
        });
    }
    let mut winners = Vec::new();
    let mut not_current = 0;
    while let Some(done) = tasks.join_next().await {
        match done.expect("no panic") {
            (Ok(Rotation::Rotated(before)), next) => {
                assert_eq!(before, token);
                winners.push(next);
            }
            (Ok(Rotation::NotCurrent(_)), _) => not_current += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((winners.len(), not_current), (1, 19));
    // The one successor stored is the winner's, as seen from the other store too.
    for store in &stores {
        assert_eq!(
            store
                .refresh_token(ENV, &winners[0].digest)
                .await
                .expect("read"),
            Some(winners[0].clone())
        );
    }
}

// ---- the busy timeout ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_waits_for_a_lock_released_within_the_busy_timeout() {
    let db = TempDb::new("busy-short");
    let store = db
        .store_with(SqliteOptions::default().busy_timeout(StdDuration::from_secs(5)))
        .await;
    let raw = db.raw();
    raw.execute_batch("BEGIN IMMEDIATE").expect("locked");
    // Another process holds the write lock for 300 ms.
    let holder = std::thread::spawn(move || {
        std::thread::sleep(StdDuration::from_millis(300));
        raw.execute_batch("COMMIT").expect("released");
    });
    let started = Instant::now();
    let key = conformance::fresh_key("busy");
    let marked = store
        .mark_once(ENV, &key, at(60), T0)
        .await
        .expect("the write waited for the lock");
    assert_eq!(marked, Mark::First);
    assert!(
        started.elapsed() >= StdDuration::from_millis(250),
        "it waited: {:?}",
        started.elapsed()
    );
    holder.join().expect("the holder finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_behind_a_lock_held_past_the_busy_timeout_is_retryable_and_writes_nothing() {
    let db = TempDb::new("busy-long");
    let store = db
        .store_with(SqliteOptions::default().busy_timeout(StdDuration::from_millis(100)))
        .await;
    let key = conformance::fresh_key("busy");
    let raw = db.raw();
    raw.execute_batch("BEGIN IMMEDIATE").expect("locked");
    let started = Instant::now();
    let result = store.mark_once(ENV, &key, at(60), T0).await;
    assert!(
        matches!(result, Err(StoreError::Retryable { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() >= StdDuration::from_millis(90));
    // Reads are not blocked by the writer (WAL).
    assert_eq!(store.count(ENV, &key, T0).await.expect("a read"), 0);
    raw.execute_batch("ROLLBACK").expect("released");
    // Nothing was written: the retry is the first mark.
    assert_eq!(
        store.mark_once(ENV, &key, at(60), T0).await.expect("retry"),
        Mark::First
    );
}

// ---- what comes back from storage ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timestamps_come_back_truncated_to_the_microsecond() {
    let db = TempDb::new("precision");
    let store = db.store().await;
    let cases = [
        (
            T0 + Duration::nanoseconds(123_456_789),
            T0 + Duration::nanoseconds(123_456_000),
        ),
        // Before 1970: truncated towards the past, like every other instant.
        (
            time::macros::datetime!(1969-12-31 23:59:59.999_999_5 UTC),
            time::macros::datetime!(1969-12-31 23:59:59.999_999 UTC),
        ),
    ];
    for (given, stored) in cases {
        let org = conformance::fresh_domain("precision");
        let mut record = conformance::organization(ENV, &org, given);
        store
            .insert_organization(
                ENV,
                &record,
                &conformance::event("ORGANIZATION_CREATED", &org, T0),
            )
            .await
            .expect("inserted");
        record.inserted_at = stored;
        record.updated_at = stored;
        assert_eq!(
            store.organization(ENV, &org).await.expect("read"),
            Some(record)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purge_forgets_only_what_the_contract_lets_it_forget() {
    let db = TempDb::new("purge");
    let store = db.store().await;
    let (gone, kept) = (
        conformance::fresh_key("gone"),
        conformance::fresh_key("kept"),
    );
    let entry = conformance::one_time_entry(b"x", T0); // retained for one hour
    store.put_once(ENV, &gone, &entry, T0).await.expect("put");
    store
        .put_once(ENV, &kept, &conformance::one_time_entry(b"x", at(7200)), T0)
        .await
        .expect("put");
    let (mark, step) = (
        conformance::fresh_key("mark"),
        conformance::fresh_key("step"),
    );
    store.mark_once(ENV, &mark, at(60), T0).await.expect("mark");
    store.advance(ENV, &step, 7).await.expect("step");
    let deleted = store.purge_expired(at(3600)).await.expect("purged");
    assert_eq!(deleted, 2, "the forgotten entry and the expired marker");
    assert_eq!(
        store.take(ENV, &gone, at(3600)).await.expect("take"),
        Take::Missing
    );
    assert_eq!(
        store.take(ENV, &kept, at(3600)).await.expect("take"),
        Take::Taken(b"x".to_vec())
    );
    assert_eq!(
        store.advance(ENV, &step, 7).await.expect("advance"),
        idcore::store::Advance::Stale(7),
        "steps are never purged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn normal_durability_and_no_idle_readers_keep_the_contract() {
    let db = TempDb::new("normal");
    let store = db
        .store_with(
            SqliteOptions::default()
                .durability(Durability::Normal)
                .readers(0),
        )
        .await;
    conformance::take_once_has_exactly_one_winner_under_contention(&store).await;
    conformance::applications_list_only_their_scope_newest_first(
        &store,
        conformance::Isolation::Exclusive,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupted_row_is_a_backend_error_naming_the_column_not_a_panic() {
    let db = TempDb::new("corrupt");
    let store = db.store().await;
    let org = conformance::fresh_domain("corrupt");
    store
        .insert_organization(
            ENV,
            &conformance::organization(ENV, &org, T0),
            &conformance::event("ORGANIZATION_CREATED", &org, T0),
        )
        .await
        .expect("inserted");
    let app = conformance::application(ENV, ApplicationScope::Organization(org.clone()), T0);
    store
        .insert_application(
            ENV,
            &app,
            &conformance::event("APPLICATION_CREATED", &org, T0),
        )
        .await
        .expect("inserted");
    let raw = db.raw();
    // Let in rows the schema's CHECKs would refuse: what a bad restore or a manual edit leaves.
    raw.execute_batch("PRAGMA ignore_check_constraints = ON")
        .expect("checks off");

    // Directory rows.
    raw.execute(
        "UPDATE organizations SET name = 'bad' || char(1) || 'name'",
        [],
    )
    .expect("corrupted");
    expect_bad_column(store.organization(ENV, &org).await, "name");
    raw.execute(
        "UPDATE applications SET allowed_redirect_urls = '[\"not a url\"]'",
        [],
    )
    .expect("corrupted");
    expect_bad_column(
        store.application(ENV, app.client_id).await,
        "allowed_redirect_urls",
    );
    expect_bad_column(
        store
            .list_applications(
                ENV,
                &ApplicationScope::Organization(org.clone()),
                page(1, 10),
            )
            .await,
        "allowed_redirect_urls",
    );

    // Users: wrong JSON, a wrong type, an out-of-range boolean.
    for (corruption, column) in [
        ("metadata = '{not json'", "metadata"),
        ("inserted_at = 'yesterday'", "inserted_at"),
        ("email_verified = 2", "email_verified"),
        ("id = x'0102'", "id"),
        ("birthdate = '1990-02-30'", "birthdate"),
        ("active = 7", "active"),
    ] {
        let user = conformance::user(ENV, &org, &conformance::fresh_email("corrupt"), T0);
        store
            .insert_user(ENV, &user, &conformance::event("USER_CREATED", &org, T0))
            .await
            .expect("inserted");
        let key = user.profile.email.key();
        raw.execute(
            &format!("UPDATE users SET {corruption} WHERE email_key = ?1"),
            [&key],
        )
        .expect("corrupted");
        expect_bad_column(
            store.user_by_email(ENV, &org, &user.profile.email).await,
            column,
        );
        expect_bad_column(store.list_users(ENV, &org, page(1, 100)).await, column);
        raw.execute("DELETE FROM users WHERE email_key = ?1", [&key])
            .expect("removed");
    }

    // Credentials.
    for (corruption, column) in [
        ("username = 'Not_Folded'", "username"),
        ("password_hash = '$md5$nope'", "password_hash"),
        ("known_devices = x'0102'", "known_devices"),
        ("totp_at = NULL", "totp_secret"),
        ("status = 'banned'", "status"),
    ] {
        let user = conformance::user(ENV, &org, &conformance::fresh_email("creds"), T0);
        let creds = conformance::credential_record(&org, user.id, T0);
        store
            .insert_account(
                ENV,
                &user,
                &creds,
                &conformance::event("USER_CREATED", &org, T0),
            )
            .await
            .expect("inserted");
        assert_eq!(
            store.credentials(ENV, &org, user.id).await.expect("read"),
            Some(creds.clone())
        );
        raw.execute(
            &format!("UPDATE credentials SET {corruption} WHERE user_id = ?1"),
            [&user.id.as_uuid().as_bytes()[..]],
        )
        .expect("corrupted");
        expect_bad_column(store.credentials(ENV, &org, user.id).await, column);
    }

    // Refresh tokens and one-time entries.
    let token = conformance::refresh_token(
        &org,
        idcore::directory::UserId::from_uuid(conformance::fresh_uuid()),
        app.client_id,
        T0,
    );
    store
        .insert_refresh_token(ENV, &token)
        .await
        .expect("inserted");
    raw.execute("UPDATE refresh_tokens SET state = 'rotated'", [])
        .expect("corrupted");
    expect_bad_column(store.refresh_token(ENV, &token.digest).await, "state");
    let rotation = store
        .rotate_refresh_token(
            ENV,
            &token.digest,
            &conformance::successor(&token, at(1)),
            at(1),
        )
        .await;
    expect_bad_column(rotation, "state");
    let key = conformance::fresh_key("corrupt");
    store
        .put_once(ENV, &key, &conformance::one_time_entry(b"x", T0), T0)
        .await
        .expect("put");
    raw.execute("UPDATE one_time SET taken_at = 'then'", [])
        .expect("corrupted");
    expect_bad_column(store.take(ENV, &key, at(1)).await, "taken_at");
}

/// `result` is a backend error whose source names `column`.
fn expect_bad_column<T: std::fmt::Debug>(result: Result<T, StoreError>, column: &str) {
    match result {
        Err(err @ StoreError::Backend { .. }) => assert!(
            std::error::Error::source(&err).is_some_and(|e| e.to_string().contains(column)),
            "names the column {column}: {err:?}"
        ),
        other => panic!("expected a backend error naming {column}, got {other:?}"),
    }
}
