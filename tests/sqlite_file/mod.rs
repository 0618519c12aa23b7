//! A SQLite database file of a test's own, under `std::env::temp_dir()/idcore-sqlite-tests/`
//! (`<pid>-<n>-<what>.sqlite3`), removed with its `-wal`, `-shm` and `-journal` files when
//! dropped. Files an earlier run left behind (a failed test, or the conformance suite's, which
//! must outlive their test) are removed by the first `TempDb` of a later run.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use idcore::store::sqlite::rusqlite::Connection;
use idcore::store::sqlite::{SqliteOptions, SqliteStore};

/// A database file of its own.
pub struct TempDb {
    pub path: PathBuf,
}

impl TempDb {
    /// A path no other test uses, with no file there yet.
    pub fn new(what: &str) -> Self {
        remove_stale_files();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = dir().join(format!("{}-{n}-{what}.sqlite3", std::process::id()));
        remove_files(&path);
        Self { path }
    }

    /// A new file, migrated once; [`TempDb::open`] gives stores on it.
    pub async fn fresh(what: &str) -> Self {
        let db = Self::new(what);
        db.store().await;
        db
    }

    /// A new store on this file (with connections of its own: another process, or a
    /// restarted one), not migrated.
    pub async fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.path)
            .await
            .expect("the database opens")
    }

    /// A store on this file, opened and migrated.
    pub async fn store(&self) -> SqliteStore {
        self.store_with(SqliteOptions::default()).await
    }

    pub async fn store_with(&self, options: SqliteOptions) -> SqliteStore {
        let store = SqliteStore::open_with(&self.path, options)
            .await
            .expect("the database opens");
        store.migrate().await.expect("migrations apply");
        store
    }

    /// A raw connection, for what the store API cannot do (holding a lock, corrupting a row).
    pub fn raw(&self) -> Connection {
        Connection::open(&self.path).expect("a raw connection")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        remove_files(&self.path);
    }
}

/// Where the test databases live.
pub fn dir() -> PathBuf {
    let dir = std::env::temp_dir().join("idcore-sqlite-tests");
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    dir
}

fn remove_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// Removes, once per test binary, the files earlier runs left behind: those of a process that
/// has ended (on Linux), and any older than an hour. Files of live runs are left alone.
fn remove_stale_files() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir()) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let ended = cfg!(target_os = "linux") && !Path::new(&format!("/proc/{pid}")).exists();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if pid != me && (ended || old) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
