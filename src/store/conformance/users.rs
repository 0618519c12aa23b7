//! Conformance checks: users.

use super::*;

/// An inserted user reads back field for field by id and by e-mail in any letter case; an
/// unknown id or e-mail answers `None`.
pub async fn user_round_trips<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "user-rt").await;
    let u = fresh_user(store, ENV, &org).await;
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        Some(u.clone()),
        "user() must return the inserted record, every field intact"
    );
    assert_eq!(
        ok(
            store
                .user_by_email(ENV, &org, &shouted(&u.profile.email))
                .await,
            "user_by_email"
        ),
        Some(u.clone()),
        "user_by_email() must find the user whatever the letter case"
    );
    assert_eq!(
        ok(
            store.user(ENV, &org, UserId::from_uuid(fresh_uuid())).await,
            "user"
        ),
        None,
        "an unknown user id must answer None"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &fresh_email("nobody")).await,
            "user_by_email"
        ),
        None,
        "an unknown e-mail must answer None"
    );
}

/// E-mails are unique per organization, compared case-insensitively: the same address in
/// another letter case answers `AlreadyExists { key: "email" }`; in another organization it is
/// accepted.
pub async fn user_email_is_unique_per_organization_case_insensitively<S: Store>(store: &S) {
    let a = fresh_org(store, ENV, "user-mail").await;
    let b = fresh_org(store, ENV, "user-mail").await;
    let email = fresh_email("Ada.Lovelace");
    let first = user(ENV, &a, &email, T0);
    ok(
        store
            .insert_user(ENV, &first, &event("USER_CREATED", &a, T0))
            .await,
        "insert_user",
    );
    let shouting = user(ENV, &a, &shouted(&email), at(1));
    assert_eq!(
        Outcome::of(
            &store
                .insert_user(ENV, &shouting, &event("USER_CREATED", &a, at(1)))
                .await
        ),
        Outcome::AlreadyExists("email"),
        "inserting {} where {email} exists in the same organization",
        shouting.profile.email
    );
    assert_eq!(
        ok(store.user(ENV, &a, shouting.id).await, "user"),
        None,
        "a refused insert must store nothing"
    );
    let elsewhere = user(ENV, &b, &whispered(&email), at(2));
    ok(
        store
            .insert_user(ENV, &elsewhere, &event("USER_CREATED", &b, at(2)))
            .await,
        "insert_user: the same address in another organization must be accepted",
    );
    assert_eq!(
        ok(store.user_by_email(ENV, &a, &email).await, "user_by_email"),
        Some(first),
        "each organization finds its own user by the shared address"
    );
    assert_eq!(
        ok(store.user_by_email(ENV, &b, &email).await, "user_by_email"),
        Some(elsewhere),
        "each organization finds its own user by the shared address"
    );
}

/// A user id is unique: inserting another user with a taken id answers
/// `AlreadyExists { key: "id" }` and stores nothing.
pub async fn user_id_is_unique<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "user-id").await;
    let first = fresh_user(store, ENV, &org).await;
    let other_email = fresh_email("user-id");
    let same_id = User {
        id: first.id,
        ..user(ENV, &org, &other_email, at(1))
    };
    assert_eq!(
        Outcome::of(
            &store
                .insert_user(ENV, &same_id, &event("USER_CREATED", &org, at(1)))
                .await
        ),
        Outcome::AlreadyExists("id"),
        "inserting a user with a taken id"
    );
    assert_eq!(
        ok(store.user(ENV, &org, first.id).await, "user"),
        Some(first),
        "a refused insert must leave the first user as it was"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &other_email).await,
            "user_by_email"
        ),
        None,
        "a refused insert must not reserve its e-mail"
    );
}

/// No call reaches a user of another organization, even with the right id: lookups answer
/// `None`, an update answers `NotFound`, lists and totals do not include it.
pub async fn users_are_scoped_by_organization<S: Store>(store: &S) {
    let a = fresh_org(store, ENV, "user-scope").await;
    let b = fresh_org(store, ENV, "user-scope").await;
    let u = fresh_user(store, ENV, &a).await;
    let v = fresh_user(store, ENV, &b).await;
    assert_eq!(
        ok(store.user(ENV, &b, u.id).await, "user"),
        None,
        "user() with another organization's user id"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &b, &u.profile.email).await,
            "user_by_email"
        ),
        None,
        "user_by_email() with another organization's user e-mail"
    );
    let moved = User {
        org: b.clone(),
        profile: Profile {
            given_name: Some(name("Moved")),
            ..u.profile.clone()
        },
        version: 2,
        ..u.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_user(ENV, &moved, 1, &event("USER_UPDATED", &b, at(1)))
                .await
        ),
        Outcome::NotFound,
        "update_user through another organization"
    );
    assert_eq!(
        ok(store.user(ENV, &a, u.id).await, "user"),
        Some(u.clone()),
        "a refused cross-organization update must change nothing"
    );
    assert_eq!(
        ok(store.user(ENV, &b, u.id).await, "user"),
        None,
        "a refused cross-organization update must not copy the user"
    );
    assert_eq!(
        ok(store.list_users(ENV, &b, page(1, 10)).await, "list_users"),
        (vec![v], 1),
        "list_users of one organization lists its users only"
    );
    assert_eq!(
        ok(store.list_users(ENV, &a, page(1, 10)).await, "list_users"),
        (vec![u], 1),
        "list_users of one organization lists its users only"
    );
}

/// `live_user` answers the user while its organization is live, and `None` for another
/// organization, an unknown id, or once the organization is deleted.
pub async fn live_user_needs_a_live_organization<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "live-user").await;
    let other = fresh_org(store, ENV, "live-other").await;
    let u = fresh_user(store, ENV, &org).await;
    assert_eq!(
        ok(store.live_user(ENV, &org, u.id).await, "live_user"),
        Some(u.clone()),
        "live_user must answer the user of a live organization"
    );
    assert_eq!(
        ok(store.live_user(ENV, &other, u.id).await, "live_user"),
        None,
        "live_user must not answer another organization's user"
    );
    ok(
        store
            .delete_organization(
                ENV,
                &org,
                at(1),
                &event("ORGANIZATION_DELETED", &org, at(1)),
            )
            .await,
        "delete_organization",
    );
    assert_eq!(
        ok(store.live_user(ENV, &org, u.id).await, "live_user"),
        None,
        "live_user must answer None once the organization is deleted"
    );
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        Some(u),
        "user still answers the user of a deleted organization"
    );
}

/// `update_user` writes only when the stored version is `expected_version` (`Precondition`
/// otherwise, nothing written) and answers `NotFound` for a missing user. Every field is
/// stored, `active` included.
pub async fn user_update_is_conditional_on_version<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "user-upd").await;
    let u = fresh_user(store, ENV, &org).await;
    let next = User {
        profile: Profile {
            given_name: Some(name("Augusta")),
            address: None,
            ..u.profile.clone()
        },
        metadata: Vec::new(),
        rbac: Default::default(),
        active: false,
        updated_at: at(1),
        version: 2,
        ..u.clone()
    };
    ok(
        store
            .update_user(ENV, &next, 1, &event("USER_UPDATED", &org, at(1)))
            .await,
        "update_user with the stored version",
    );
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        Some(next.clone()),
        "an update must store the given record"
    );
    let stale = User {
        profile: Profile {
            given_name: Some(name("Stale")),
            ..u.profile.clone()
        },
        version: 2,
        ..u.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_user(ENV, &stale, 1, &event("USER_UPDATED", &org, at(2)))
                .await
        ),
        Outcome::Precondition,
        "update_user with a stale expected_version"
    );
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        Some(next),
        "a refused update must write nothing"
    );
    let missing = user(ENV, &org, &fresh_email("user-upd-none"), T0);
    assert_eq!(
        Outcome::of(
            &store
                .update_user(ENV, &missing, 1, &event("USER_UPDATED", &org, at(3)))
                .await
        ),
        Outcome::NotFound,
        "update_user of a user that does not exist"
    );
    assert_eq!(
        ok(store.user(ENV, &org, missing.id).await, "user"),
        None,
        "updating a missing user must not create it"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &missing.profile.email).await,
            "user_by_email"
        ),
        None,
        "updating a missing user must not reserve its e-mail"
    );
}

/// Changing a user's e-mail releases the old address in the same step; a new address taken by
/// another user (in any letter case) answers `AlreadyExists { key: "email" }` and changes
/// nothing; changing only the letter case of one's own address is not a conflict.
pub async fn user_email_change_releases_the_old_address<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "user-chg").await;
    let first = fresh_user(store, ENV, &org).await;
    let second = fresh_user(store, ENV, &org).await;
    let old = first.profile.email.clone();
    let new = fresh_email("user-chg");
    let moved = User {
        profile: Profile {
            email: new.clone(),
            ..first.profile.clone()
        },
        updated_at: at(1),
        version: 2,
        ..first.clone()
    };
    ok(
        store
            .update_user(ENV, &moved, 1, &event("USER_UPDATED", &org, at(1)))
            .await,
        "update_user to a free address",
    );
    assert_eq!(
        ok(store.user_by_email(ENV, &org, &old).await, "user_by_email"),
        None,
        "the old address must be released"
    );
    assert_eq!(
        ok(store.user_by_email(ENV, &org, &new).await, "user_by_email"),
        Some(moved.clone()),
        "the new address must find the user"
    );
    let newcomer = user(ENV, &org, &shouted(&old), at(2));
    ok(
        store
            .insert_user(ENV, &newcomer, &event("USER_CREATED", &org, at(2)))
            .await,
        "insert_user with a released address",
    );
    let grab = User {
        profile: Profile {
            email: shouted(&new),
            ..second.profile.clone()
        },
        updated_at: at(3),
        version: 2,
        ..second.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_user(ENV, &grab, 1, &event("USER_UPDATED", &org, at(3)))
                .await
        ),
        Outcome::AlreadyExists("email"),
        "update_user to another user's address in another letter case"
    );
    assert_eq!(
        ok(store.user(ENV, &org, second.id).await, "user"),
        Some(second.clone()),
        "a refused e-mail change must write nothing"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &second.profile.email).await,
            "user_by_email"
        ),
        Some(second),
        "a refused e-mail change must keep the old address"
    );
    assert_eq!(
        ok(store.user_by_email(ENV, &org, &new).await, "user_by_email"),
        Some(moved.clone()),
        "a refused e-mail change must not take the address from its owner"
    );
    let recased = User {
        profile: Profile {
            email: shouted(&new),
            ..moved.profile.clone()
        },
        updated_at: at(4),
        version: 3,
        ..moved.clone()
    };
    ok(
        store
            .update_user(ENV, &recased, 2, &event("USER_UPDATED", &org, at(4)))
            .await,
        "update_user changing only the letter case of the user's own address",
    );
    assert_eq!(
        ok(store.user_by_email(ENV, &org, &new).await, "user_by_email"),
        Some(recased),
        "the re-cased address must still find the user"
    );
}

/// `list_users` lists one organization's users newest first (`inserted_at` descending, ties by
/// id descending), pages by `page`/`per_page` (a page past the end is empty) and counts them
/// exactly; an organization without users lists nothing.
pub async fn users_list_newest_first_with_totals<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "user-list").await;
    let offsets = [0, 1, 1, 2, 3];
    let mut users: Vec<User> = offsets
        .iter()
        .map(|s| user(ENV, &org, &fresh_email("user-list"), at(*s)))
        .collect();
    for i in [2, 4, 0, 3, 1] {
        ok(
            store
                .insert_user(ENV, &users[i], &event("USER_CREATED", &org, T0))
                .await,
            "insert_user",
        );
    }
    sort_newest_first(&mut users, |u| (u.inserted_at, u.id.as_uuid()));
    for n in 1..=4 {
        let want = chunk(&users, 2, n as usize).to_vec();
        assert_eq!(
            ok(store.list_users(ENV, &org, page(n, 2)).await, "list_users"),
            (want, 5),
            "page {n} of 2 users, newest first, and the total"
        );
    }
    assert_eq!(
        ok(
            store.list_users(ENV, &org, page(1, 100)).await,
            "list_users"
        ),
        (users, 5),
        "all users on one page, newest first"
    );
    let empty = fresh_org(store, ENV, "user-list").await;
    assert_eq!(
        ok(
            store.list_users(ENV, &empty, page(1, 10)).await,
            "list_users"
        ),
        (Vec::new(), 0),
        "an organization without users"
    );
}

/// 50 concurrent inserts of users of one organization whose e-mails differ only in letter case:
/// exactly one succeeds, the 49 others answer `AlreadyExists { key: "email" }`, and only the
/// winner and its one event are stored.
pub async fn user_email_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let org = fresh_org(store, ENV, "user-race").await;
    let suffix = hex(&random::<8>());
    let users: Vec<User> = (0..50)
        .map(|i: u32| {
            // Task i upper-cases the letters of "abcdefgh" where i has a 1 bit.
            let local: String = "abcdefgh"
                .chars()
                .enumerate()
                .map(|(bit, c)| {
                    if i & (1 << bit) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            let email =
                Email::parse(&format!("{local}-{suffix}@Example.com")).expect("a valid address");
            user(ENV, &org, &email, T0)
        })
        .collect();
    let results = race(users.len(), |i| {
        let store = store.clone();
        let u = users[i].clone();
        let ev = event("USER_CREATED", &org, T0).user(u.id, &u.profile.email);
        async move { Outcome::of(&retried(|| store.insert_user(ENV, &u, &ev)).await) }
    })
    .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent inserts of one address in 50 letter cases that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::AlreadyExists("email")),
        49,
        "concurrent inserts of one address refused with AlreadyExists {{ key: \"email\" }}"
    );
    let winner = &users[results
        .iter()
        .position(|r| *r == Outcome::Ok)
        .expect("one insert succeeded (asserted above)")];
    assert_eq!(
        ok(
            store.list_users(ENV, &org, page(1, 100)).await,
            "list_users"
        ),
        (vec![winner.clone()], 1),
        "only the winner may be stored"
    );
    let query = EventQuery::tenant(&org).code(EventCode::USER_CREATED);
    let (events, total) = ok(store.events(ENV, &query, page(1, 100)).await, "events");
    assert_eq!(
        total, 1,
        "events written by 50 racing inserts: only the winner's"
    );
    assert_eq!(
        events[0].resource_owner_id,
        Some(winner.id),
        "the one event must be the winner's"
    );
}
