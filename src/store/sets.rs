//! Counted sets with a limit: the members of one set never exceed its limit, under any
//! concurrency. A user's concurrent sessions and an SSO connection's seats are such sets.

use std::future::Future;

use time::OffsetDateTime;

use super::Key;
use crate::error::StoreError;
use crate::model::ids::Environment;

/// What a [`LimitedSetStore::join`] at the limit does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WhenFull {
    /// The new member is refused; the set is unchanged ([`Joined::Full`]).
    Refuse,
    /// The oldest members leave to make room for the new one ([`Joined::Added`] names them).
    EvictOldest,
}

/// The outcome of [`LimitedSetStore::join`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Joined {
    /// The member joined. `evicted` are the members that left to make room, oldest first
    /// (empty unless [`WhenFull::EvictOldest`] found the set full).
    Added {
        /// The members that left, oldest first.
        evicted: Vec<Key>,
    },
    /// The member was already in the set; its expiry is now the later of the two.
    Refreshed,
    /// The set is full and [`WhenFull::Refuse`] was asked for (or the limit is 0): nothing
    /// changed.
    Full,
}

/// One live member of a set.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SetMember {
    /// The member's key.
    pub member: Key,
    /// When it joined (the `now` of its join; a refresh keeps it).
    pub joined_at: OffsetDateTime,
    /// When it leaves by itself.
    pub expires_at: OffsetDateTime,
}

/// Sets of members with a limit: a user's sessions, a connection's seats.
///
/// # Contract
/// - A member is live until its `expires_at` (exclusive: at `expires_at` it is gone); expired
///   members count for nothing and are never returned.
/// - `join` is atomic per set: it never lets the number of live members exceed `limit`, so of
///   many concurrent joins of distinct members to a set with room for `n`, exactly `n` answer
///   [`Joined::Added`] with [`WhenFull::Refuse`]. With [`WhenFull::EvictOldest`] every join
///   succeeds, each evicted member is named by exactly one join, and afterwards the set holds
///   at most `limit` members. The oldest member is the one with the earliest `joined_at`, ties
///   broken by the smaller key. A limit of 0 answers [`Joined::Full`] whatever `when_full`
///   says. If the set holds more live members than `limit` (the limit was lowered), an
///   evicting join removes as many as needed.
/// - Joining a live member again answers [`Joined::Refreshed`]: its `expires_at` becomes the
///   later of the stored and the given one, its `joined_at` stays, and the limit is not
///   consulted.
/// - `leave` removes a member and answers whether it was live; `members` lists the live
///   members, oldest first; `clear` removes every member and answers how many were live.
/// - Sets of the two environments are apart.
pub trait LimitedSetStore: Send + Sync {
    /// Adds `member` to `set` if the limit allows (or evicting the oldest to make room).
    #[allow(clippy::too_many_arguments)] // the set, the member, the limit, the policy, two times
    fn join(
        &self,
        env: Environment,
        set: &Key,
        member: &Key,
        limit: u64,
        when_full: WhenFull,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Joined, StoreError>> + Send;

    /// Removes `member` from `set`; `true` if it was a live member.
    fn leave(
        &self,
        env: Environment,
        set: &Key,
        member: &Key,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The live members of `set`, oldest first.
    fn members(
        &self,
        env: Environment,
        set: &Key,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<SetMember>, StoreError>> + Send;

    /// Removes every member of `set`; answers how many were live.
    fn clear(
        &self,
        env: Environment,
        set: &Key,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
