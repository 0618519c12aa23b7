//! Conformance checks: counted sets with a limit.

use super::*;
use crate::store::{Joined, SetMember, WhenFull};

fn added(evicted: &[&Key]) -> Joined {
    Joined::Added {
        evicted: evicted.iter().map(|k| (*k).clone()).collect(),
    }
}

/// Joins `member` at `at(t)` with an expiry of `at(600)`.
async fn join_at<S: Store>(
    store: &S,
    set: &Key,
    member: &Key,
    limit: u64,
    when_full: WhenFull,
    t: i64,
) -> Joined {
    ok(
        store
            .join(ENV, set, member, limit, when_full, at(600), at(t))
            .await,
        "join",
    )
}

fn member_keys(members: &[SetMember]) -> Vec<Key> {
    members.iter().map(|m| m.member.clone()).collect()
}

/// A join below the limit adds; at the limit with [`WhenFull::Refuse`] it answers `Full` and
/// changes nothing; `members` lists the live members oldest first, with when each joined.
pub async fn set_join_refuses_past_the_limit<S: Store>(store: &S) {
    let set = fresh_key("set-refuse");
    let (a, b, c) = (fresh_key("a"), fresh_key("b"), fresh_key("c"));
    let refuse = WhenFull::Refuse;
    let joined = join_at(store, &set, &a, 2, refuse, 1).await;
    assert_eq!(joined, added(&[]), "a joins an empty set");
    let joined = join_at(store, &set, &b, 2, refuse, 2).await;
    assert_eq!(joined, added(&[]), "b joins below the limit");
    let joined = join_at(store, &set, &c, 2, refuse, 3).await;
    assert_eq!(joined, Joined::Full, "c finds the set full");
    let members = ok(store.members(ENV, &set, at(4)).await, "members");
    assert_eq!(
        members,
        vec![
            SetMember {
                member: a,
                joined_at: at(1),
                expires_at: at(600)
            },
            SetMember {
                member: b,
                joined_at: at(2),
                expires_at: at(600)
            },
        ],
        "the members, oldest first"
    );
}

/// At the limit with [`WhenFull::EvictOldest`] the oldest member leaves and is named; ties of
/// `joined_at` are broken by the smaller key; a lowered limit evicts as many as needed.
pub async fn set_join_evicts_the_oldest<S: Store>(store: &S) {
    let set = fresh_key("set-evict");
    let mut keys: Vec<Key> = (0..4).map(|i| fresh_key(&format!("m{i}"))).collect();
    // The first two join at the same instant: the smaller key is the older.
    keys[..2].sort_by(|x, y| x.as_str().cmp(y.as_str()));
    let evict = WhenFull::EvictOldest;
    assert_eq!(
        join_at(store, &set, &keys[1], 3, evict, 1).await,
        added(&[])
    );
    assert_eq!(
        join_at(store, &set, &keys[0], 3, evict, 1).await,
        added(&[])
    );
    assert_eq!(
        join_at(store, &set, &keys[2], 3, evict, 2).await,
        added(&[])
    );
    assert_eq!(
        join_at(store, &set, &keys[3], 3, evict, 3).await,
        added(&[&keys[0]]),
        "the oldest (smaller key of a tie) makes room"
    );
    let newcomer = fresh_key("m4");
    assert_eq!(
        join_at(store, &set, &newcomer, 1, evict, 4).await,
        added(&[&keys[1], &keys[2], &keys[3]]),
        "a lowered limit evicts every member past it, oldest first"
    );
    assert_eq!(
        member_keys(&ok(store.members(ENV, &set, at(5)).await, "members")),
        vec![newcomer],
        "the members after the evictions"
    );
}

/// Joining a live member again refreshes it: the later expiry wins, `joined_at` stays, and the
/// limit is not consulted.
pub async fn set_rejoin_refreshes_without_counting<S: Store>(store: &S) {
    let set = fresh_key("set-rejoin");
    let a = fresh_key("a");
    let refuse = WhenFull::Refuse;
    let joined = store.join(ENV, &set, &a, 1, refuse, at(100), at(1)).await;
    assert_eq!(ok(joined, "join"), added(&[]));
    let joined = store.join(ENV, &set, &a, 1, refuse, at(200), at(2)).await;
    assert_eq!(ok(joined, "rejoin later"), Joined::Refreshed);
    let joined = store.join(ENV, &set, &a, 1, refuse, at(50), at(3)).await;
    assert_eq!(ok(joined, "rejoin earlier"), Joined::Refreshed);
    assert_eq!(
        ok(store.members(ENV, &set, at(4)).await, "members"),
        vec![SetMember {
            member: a,
            joined_at: at(1),
            expires_at: at(200)
        }],
        "the later expiry kept, joined_at unchanged"
    );
}

/// A member is gone at its `expires_at`: not listed, not counted against the limit, not named
/// as evicted, and leaving it answers `false`.
pub async fn set_members_expire_at_expires_at<S: Store>(store: &S) {
    let set = fresh_key("set-expiry");
    let (a, b) = (fresh_key("a"), fresh_key("b"));
    ok(
        store
            .join(ENV, &set, &a, 1, WhenFull::Refuse, at(10), at(1))
            .await,
        "join a",
    );
    assert_eq!(
        member_keys(&ok(store.members(ENV, &set, at(9)).await, "members")),
        vec![a.clone()],
        "live before expires_at"
    );
    assert_eq!(
        ok(store.members(ENV, &set, at(10)).await, "members"),
        Vec::new(),
        "gone at expires_at"
    );
    assert_eq!(
        ok(
            store
                .join(ENV, &set, &b, 1, WhenFull::EvictOldest, at(600), at(10))
                .await,
            "join b"
        ),
        added(&[]),
        "an expired member takes no room and is not evicted"
    );
    assert!(
        !ok(store.leave(ENV, &set, &a, at(11)).await, "leave a"),
        "leaving an expired member answers false"
    );
}

/// `leave` answers whether the member was live; `clear` empties the set and answers how many
/// were live; a limit of 0 admits no one.
pub async fn set_leave_and_clear<S: Store>(store: &S) {
    let set = fresh_key("set-leave");
    let (a, b, c) = (fresh_key("a"), fresh_key("b"), fresh_key("c"));
    for m in [&a, &b, &c] {
        ok(
            store
                .join(ENV, &set, m, 3, WhenFull::Refuse, at(600), at(1))
                .await,
            "join",
        );
    }
    assert!(ok(store.leave(ENV, &set, &a, at(2)).await, "leave a"));
    assert!(!ok(
        store.leave(ENV, &set, &a, at(2)).await,
        "leave a twice"
    ));
    assert_eq!(
        ok(
            store
                .join(ENV, &set, &a, 3, WhenFull::Refuse, at(600), at(3))
                .await,
            "rejoin a"
        ),
        added(&[]),
        "leaving made room"
    );
    assert_eq!(ok(store.clear(ENV, &set, at(4)).await, "clear"), 3);
    assert_eq!(
        ok(store.members(ENV, &set, at(4)).await, "members"),
        Vec::new()
    );
    assert_eq!(ok(store.clear(ENV, &set, at(4)).await, "clear again"), 0);
    for when_full in [WhenFull::Refuse, WhenFull::EvictOldest] {
        assert_eq!(
            ok(
                store
                    .join(ENV, &set, &b, 0, when_full, at(600), at(5))
                    .await,
                "join with limit 0"
            ),
            Joined::Full,
            "a limit of 0 admits no one ({when_full:?})"
        );
    }
}

/// 200 concurrent joins of distinct members to a set with room for 7: exactly 7 are added.
pub async fn set_join_has_exactly_limit_winners_under_contention<S: Store + Clone>(store: &S) {
    let set = fresh_key("set-race");
    let results =
        race(200, |i| {
            let store = store.clone();
            let set = set.clone();
            let member = fresh_key(&format!("racer{i}"));
            async move {
                retried(|| store.join(ENV, &set, &member, 7, WhenFull::Refuse, at(600), T0)).await
            }
        })
        .await;
    let results: Vec<Joined> = results.into_iter().map(|r| ok(r, "join")).collect();
    assert_eq!(count(&results, |j| *j == added(&[])), 7, "joins added");
    assert_eq!(
        count(&results, |j| *j == Joined::Full),
        193,
        "joins refused"
    );
    assert_eq!(
        ok(store.members(ENV, &set, at(1)).await, "members").len(),
        7,
        "members after the race"
    );
}

/// 100 concurrent evicting joins to a set with room for 5: every join is added, each evicted
/// member is named exactly once, and the 5 members left plus the evicted are all 100.
pub async fn set_evicting_joins_keep_the_limit_under_contention<S: Store + Clone>(store: &S) {
    let set = fresh_key("set-evict-race");
    let racers: Vec<Key> = (0..100).map(|i| fresh_key(&format!("racer{i}"))).collect();
    let results = race(100, |i| {
        let store = store.clone();
        let set = set.clone();
        let member = racers[i].clone();
        async move {
            retried(|| store.join(ENV, &set, &member, 5, WhenFull::EvictOldest, at(600), at(1)))
                .await
        }
    })
    .await;
    let mut seen: Vec<Key> = Vec::new();
    for result in results {
        match ok(result, "join") {
            Joined::Added { evicted } => seen.extend(evicted),
            other => panic!("an evicting join answered {other:?}"),
        }
    }
    assert_eq!(seen.len(), 95, "members evicted");
    let members = member_keys(&ok(store.members(ENV, &set, at(2)).await, "members"));
    assert_eq!(members.len(), 5, "members left");
    seen.extend(members);
    let mut all: Vec<&str> = seen.iter().map(Key::as_str).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        all.len(),
        100,
        "every racer is a member or evicted exactly once"
    );
}

/// A set of one environment is invisible from the other.
pub async fn sets_are_isolated_by_environment<S: Store>(store: &S) {
    let set = fresh_key("set-env");
    let (a, b) = (fresh_key("a"), fresh_key("b"));
    let other = Environment::Sandbox;
    ok(
        store
            .join(ENV, &set, &a, 1, WhenFull::Refuse, at(600), at(1))
            .await,
        "join",
    );
    assert_eq!(
        ok(store.members(other, &set, at(2)).await, "members"),
        Vec::new()
    );
    assert_eq!(
        ok(
            store
                .join(other, &set, &b, 1, WhenFull::Refuse, at(600), at(2))
                .await,
            "join the other environment's set"
        ),
        added(&[]),
        "the other environment's set has its own room"
    );
    assert!(!ok(store.leave(other, &set, &a, at(3)).await, "leave"));
    assert_eq!(ok(store.clear(other, &set, at(3)).await, "clear"), 1);
    assert_eq!(
        member_keys(&ok(store.members(ENV, &set, at(3)).await, "members")),
        vec![a],
        "untouched by the other environment"
    );
}
