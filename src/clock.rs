//! Time, injected. Nothing else in idcore reads the wall clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// A source of the current time, in UTC.
///
/// [`Identity`](crate::Identity) asks its clock for every timestamp it writes and every expiry it
/// checks, so tests can move time with a [`ManualClock`].
pub trait Clock: Send + Sync + 'static {
    /// The current time, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to; clones share the same time.
///
/// ```
/// use idcore::clock::{Clock, ManualClock};
/// use time::{Duration, macros::datetime};
///
/// let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
/// clock.advance(Duration::minutes(10));
/// assert_eq!(clock.now(), datetime!(2026-01-01 0:10 UTC));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    unix_nanos: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock stopped at `start` (converted to UTC).
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            unix_nanos: Arc::new(AtomicI64::new(to_nanos(start))),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: OffsetDateTime) {
        self.unix_nanos.store(to_nanos(now), Ordering::SeqCst);
    }

    /// Moves the time by `by` (which may be negative).
    pub fn advance(&self, by: Duration) {
        let delta = i64::try_from(by.whole_nanoseconds()).unwrap_or(i64::MAX);
        self.unix_nanos.fetch_add(delta, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        let nanos = self.unix_nanos.load(Ordering::SeqCst);
        // Invariant: the value was produced by `to_nanos` from a valid OffsetDateTime, possibly
        // moved by `advance`; an advance out of range falls back to the unix epoch rather than panic.
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

fn to_nanos(at: OffsetDateTime) -> i64 {
    // i64 nanoseconds cover the years 1677–2262, which is every date idcore deals in.
    i64::try_from(at.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}
