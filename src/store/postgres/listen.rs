//! LISTEN/NOTIFY for the revocation feed: an instance hears of another instance's revocation
//! as it commits, instead of at its next poll.
//!
//! [`PostgresStore::record_revocation`](crate::store::RevocationStore::record_revocation)
//! sends `NOTIFY idcore_revocations, '<schema>'` in the transaction that appends, so the
//! notice is delivered when (and only if) the append commits.
//! [`PostgresStore::listen_for_revocations`] opens one dedicated connection (pooled
//! connections cannot receive notices: the pool drives them and drops what arrives), runs
//! `LISTEN idcore_revocations` on it and counts the notices of this store's schema. Live
//! verification reads that count ([`RevocationStore::revocation_notices`]) and catches up at
//! once when it changed.
//!
//! The poll stays the fallback: while the connection is down the store answers `None`, so
//! verification polls as before, and the listener reconnects (after 100 ms, doubling up to
//! 5 s). Coming back up counts as a notice, so whatever was appended meanwhile is read at
//! once. The fail-closed bound (`revocation_max_staleness`) is unchanged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Config, Socket};

use super::PostgresStore;

/// The channel every idcore schema notifies on; the payload is the schema's name.
pub(super) const CHANNEL: &str = "idcore_revocations";

/// What the listener tells the store.
#[derive(Debug, Default)]
pub(super) struct Notices {
    /// Notices of this schema seen, plus one per (re)connection.
    count: AtomicU64,
    /// Whether the listening connection is up.
    listening: AtomicBool,
}

impl Notices {
    pub(super) fn current(&self) -> Option<u64> {
        self.listening
            .load(Ordering::Acquire)
            .then(|| self.count.load(Ordering::Acquire))
    }
}

/// The running listener; dropping it stops it (and the store polls again).
#[derive(Debug)]
#[must_use = "the listener stops when this handle is dropped"]
pub struct RevocationListener {
    task: tokio::task::JoinHandle<()>,
    notices: Arc<Notices>,
}

impl RevocationListener {
    /// Whether the listening connection is up right now.
    pub fn is_listening(&self) -> bool {
        self.notices.listening.load(Ordering::Acquire)
    }
}

impl Drop for RevocationListener {
    fn drop(&mut self) {
        self.task.abort();
        self.notices.listening.store(false, Ordering::Release);
    }
}

impl PostgresStore {
    /// Starts listening for revocations committed by other instances (PostgreSQL's
    /// LISTEN/NOTIFY) on a dedicated connection made from `config` with `tls`, in the
    /// background of the current tokio runtime. Live verification through this store then
    /// sees another instance's revocation within milliseconds instead of the poll interval.
    /// Keep the returned handle for as long as the store is used; dropping it stops the
    /// listener. It does not wait for the connection: until it is up (and whenever it is
    /// down) verification polls as before.
    ///
    /// Call it once per store: a second listener on the same store would only duplicate the
    /// first.
    ///
    /// # Panics
    /// Outside a tokio runtime (it spawns the listening task).
    pub fn listen_for_revocations<T>(&self, config: Config, tls: T) -> RevocationListener
    where
        T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
        T::Stream: Send,
        T::TlsConnect: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let notices = Arc::clone(&self.notices);
        let schema = self.schema().to_owned();
        let task = tokio::spawn(listen(config, tls, schema, Arc::clone(&notices)));
        RevocationListener { task, notices }
    }
}

async fn listen<T>(config: Config, tls: T, schema: String, notices: Arc<Notices>)
where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        if let Ok((client, mut connection)) = config.connect(tls.clone()).await {
            let (tx, mut up) = tokio::sync::oneshot::channel::<()>();
            let listen = async {
                let listening = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
                if listening.is_ok() {
                    // Anything appended while nobody listened is read at the next verification.
                    notices.count.fetch_add(1, Ordering::AcqRel);
                    notices.listening.store(true, Ordering::Release);
                    let _ = tx.send(());
                }
                listening
            };
            // Drive the connection (which delivers the notices) while LISTEN runs, then on.
            let driven = async {
                loop {
                    match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        Some(Ok(AsyncMessage::Notification(n))) if n.payload() == schema => {
                            notices.count.fetch_add(1, Ordering::AcqRel);
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => return,
                    }
                }
            };
            let (listened, ()) = tokio::join!(listen, driven);
            notices.listening.store(false, Ordering::Release);
            if listened.is_ok() && up.try_recv().is_ok() {
                // It was up: start the next attempt quickly.
                backoff = Duration::from_millis(100);
            }
            drop(client);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
