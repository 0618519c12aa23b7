//! Baselines for the store primitives on the hot paths, on [`MemoryStore`], and a take-once on
//! [`SqliteStore`] at both durability levels (a file under the system's temporary directory).
//!
//! Run with `cargo bench --bench store`. Later issues compare verify/refresh against these.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use idcore::store::sqlite::{Durability, SqliteOptions, SqliteStore};
use idcore::store::{CounterStore, Key, OneTimeEntry, OneTimeStore, ReplayStore};
use idcore::{Environment, MemoryStore};
use time::{Duration, OffsetDateTime};

fn primitives(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let store = MemoryStore::new();
    let env = Environment::Sandbox;
    let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
    let later = now + Duration::minutes(10);

    let mut n = 0u64;
    c.bench_function("memory/put_once+take", |b| {
        b.iter(|| {
            n += 1;
            let key = Key::new("bench:code", &[&n.to_string()]);
            let entry = OneTimeEntry {
                payload: vec![0; 64],
                expires_at: later,
                retain_until: later,
            };
            rt.block_on(async {
                store.put_once(env, &key, &entry, now).await.expect("put");
                black_box(store.take(env, &key, now).await.expect("take"));
            });
        });
    });

    let key = Key::new("bench:counter", &["one"]);
    c.bench_function("memory/increment", |b| {
        b.iter(|| {
            rt.block_on(async {
                black_box(
                    store
                        .increment(env, &key, u64::MAX, later, now)
                        .await
                        .expect("increment"),
                );
            });
        });
    });

    let mut step = 0u64;
    let key = Key::new("bench:totp", &["one"]);
    c.bench_function("memory/advance", |b| {
        b.iter(|| {
            step += 1;
            rt.block_on(async {
                black_box(store.advance(env, &key, step).await.expect("advance"));
            });
        });
    });
}

/// `put_once` + `take` on SQLite: two write transactions, each one commit (and, at
/// `Durability::Full`, one `fsync` of the WAL).
fn sqlite(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("runtime");
    let env = Environment::Sandbox;
    let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
    let later = now + Duration::minutes(10);
    for (name, durability) in [("full", Durability::Full), ("normal", Durability::Normal)] {
        let path = std::env::temp_dir().join(format!(
            "idcore-bench-{}-{name}.sqlite3",
            std::process::id()
        ));
        let store = rt.block_on(async {
            let store =
                SqliteStore::open_with(&path, SqliteOptions::default().durability(durability))
                    .await
                    .expect("the database opens");
            store.migrate().await.expect("migrated");
            store
        });
        let mut n = 0u64;
        c.bench_function(&format!("sqlite-{name}/put_once+take"), |b| {
            b.iter(|| {
                n += 1;
                let key = Key::new("bench:code", &[&n.to_string()]);
                let entry = OneTimeEntry {
                    payload: vec![0; 64],
                    expires_at: later,
                    retain_until: later,
                };
                rt.block_on(async {
                    store.put_once(env, &key, &entry, now).await.expect("put");
                    black_box(store.take(env, &key, now).await.expect("take"));
                });
            });
        });
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            let _ = std::fs::remove_file(std::path::PathBuf::from(file));
        }
    }
}

criterion_group!(benches, primitives, sqlite);
criterion_main!(benches);
