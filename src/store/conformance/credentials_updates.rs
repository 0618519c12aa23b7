//! Conformance checks: credential updates, account deletion, and their contention.

use super::*;

/// `update_credentials` writes only when the stored version is `expected_version`: a stale
/// version answers `Precondition` and changes nothing, the right one stores the record as
/// given; credentials that do not exist answer `NotFound`.
pub async fn credentials_update_is_conditional_on_version<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "cred-upd").await;
    let (u, c) = fresh_account(store, ENV, &org).await;
    let next = CredentialRecord {
        password_hash: None,
        status: AccountStatus::Unverified,
        role: AccountRole::Member,
        totp: None,
        pending_totp: Some(SealedTotp {
            sealed_secret: random::<48>().to_vec(),
            at: at(1),
        }),
        recovery_generation: 4,
        known_devices: vec![fresh_digest()],
        known_ips: vec![fresh_digest(), fresh_digest()],
        ..next_version(&c, at(1))
    };
    assert_eq!(
        Outcome::of(&store.update_credentials(ENV, &next, 7, None).await),
        Outcome::Precondition,
        "update_credentials with a version that is not the stored one"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(c.clone()),
        "a refused update must change nothing"
    );
    ok(
        store.update_credentials(ENV, &next, 1, None).await,
        "update_credentials with the stored version",
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(next.clone()),
        "an update must store the record as given, every field"
    );
    let late = next_version(&c, at(2));
    assert_eq!(
        Outcome::of(&store.update_credentials(ENV, &late, 1, None).await),
        Outcome::Precondition,
        "a second update from the same version"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(next),
        "a refused update must change nothing"
    );
    let directory_only = fresh_user(store, ENV, &org).await;
    let missing = credential_record(&org, directory_only.id, at(3));
    assert_eq!(
        Outcome::of(&store.update_credentials(ENV, &missing, 1, None).await),
        Outcome::NotFound,
        "update_credentials of a user without credentials"
    );
    let unknown = credential_record(&org, UserId::from_uuid(fresh_uuid()), at(3));
    assert_eq!(
        Outcome::of(&store.update_credentials(ENV, &unknown, 1, None).await),
        Outcome::NotFound,
        "update_credentials of an unknown user"
    );
}

/// A username change releases the old username in the same step (another account may take
/// it), a new username taken by another account answers `AlreadyExists { key: "username" }`
/// and changes nothing, and dropping the username releases it.
pub async fn credentials_update_moves_the_username<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "cred-move").await;
    let (u, c) = fresh_account(store, ENV, &org).await;
    let (_, other) = fresh_account(store, ENV, &org).await;
    let old = c.username.clone().expect("a username");
    let new = fresh_username("moved");
    let moved = CredentialRecord {
        username: Some(new.clone()),
        ..next_version(&c, at(1))
    };
    ok(
        store.update_credentials(ENV, &moved, 1, None).await,
        "update_credentials to a free username",
    );
    assert_eq!(
        creds_named(store, ENV, &org, &old).await,
        None,
        "the old username must be released"
    );
    assert_eq!(
        creds_named(store, ENV, &org, &new).await,
        Some(moved.clone()),
        "the new username must find the account"
    );
    let (newcomer, mut newcomer_creds) = account(ENV, &org);
    newcomer_creds.username = Some(old.clone());
    ok(
        store
            .insert_account(
                ENV,
                &newcomer,
                &newcomer_creds,
                &account_event("ACCOUNT_CREATED", &newcomer),
            )
            .await,
        "insert_account with a released username",
    );
    let grab = CredentialRecord {
        username: other.username.clone(),
        ..next_version(&moved, at(2))
    };
    assert_eq!(
        Outcome::of(&store.update_credentials(ENV, &grab, 2, None).await),
        Outcome::AlreadyExists("username"),
        "update_credentials to another account's username"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(moved.clone()),
        "a refused username change must write nothing"
    );
    let other_name = other.username.clone().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, &other_name).await,
        Some(other),
        "a refused username change must not take the username from its owner"
    );
    let nameless = CredentialRecord {
        username: None,
        ..next_version(&moved, at(3))
    };
    ok(
        store.update_credentials(ENV, &nameless, 2, None).await,
        "update_credentials dropping the username",
    );
    assert_eq!(
        creds_named(store, ENV, &org, &new).await,
        None,
        "a dropped username must be released"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(nameless),
        "credentials without a username read back by id"
    );
}

/// `delete_account` erases the user and its credentials: `user`, `user_by_email`,
/// `credentials` and `credentials_by_username` answer `None`, the user is no longer listed, its
/// e-mail and username are free for a new account; a second erasure, or erasing an unknown
/// user, answers `NotFound`.
pub async fn account_delete_erases_the_user_and_frees_its_keys<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "acct-del").await;
    let (u, c) = fresh_account(store, ENV, &org).await;
    let (kept, _) = fresh_account(store, ENV, &org).await;
    let name = c.username.clone().expect("a username");
    ok(
        store
            .delete_account(ENV, &org, u.id, &account_event("ACCOUNT_DELETED", &u))
            .await,
        "delete_account",
    );
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        None,
        "an erased user must be gone"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &u.profile.email).await,
            "user_by_email"
        ),
        None,
        "an erased user must not be found by e-mail"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        None,
        "an erased user's credentials must be gone"
    );
    assert_eq!(
        creds_named(store, ENV, &org, &name).await,
        None,
        "an erased user's username must be gone"
    );
    assert_eq!(
        ok(store.list_users(ENV, &org, page(1, 10)).await, "list_users"),
        (vec![kept], 1),
        "an erased user must not be listed nor counted"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_account(ENV, &org, u.id, &account_event("ACCOUNT_DELETED", &u))
                .await
        ),
        Outcome::NotFound,
        "erasing an erased account"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_account(
                    ENV,
                    &org,
                    UserId::from_uuid(fresh_uuid()),
                    &event("ACCOUNT_DELETED", &org, T0)
                )
                .await
        ),
        Outcome::NotFound,
        "erasing an unknown account"
    );
    let again = user(ENV, &org, &shouted(&u.profile.email), at(1));
    let again_creds = CredentialRecord {
        username: Some(name.clone()),
        ..credential_record(&org, again.id, at(1))
    };
    ok(
        store
            .insert_account(
                ENV,
                &again,
                &again_creds,
                &account_event("ACCOUNT_CREATED", &again),
            )
            .await,
        "insert_account with an erased account's e-mail and username",
    );
    assert_eq!(
        creds_named(store, ENV, &org, &name).await,
        Some(again_creds),
        "the username must now find the new account"
    );
}

/// `delete_account` also erases a user created through the directory, without credentials.
pub async fn account_delete_erases_a_user_without_credentials<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "acct-del-dir").await;
    let u = fresh_user(store, ENV, &org).await;
    ok(
        store
            .delete_account(ENV, &org, u.id, &account_event("ACCOUNT_DELETED", &u))
            .await,
        "delete_account of a directory user",
    );
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        None,
        "an erased user must be gone"
    );
    let again = user(ENV, &org, &u.profile.email, at(1));
    ok(
        store
            .insert_user(ENV, &again, &event("USER_CREATED", &org, at(1)))
            .await,
        "insert_user with an erased user's e-mail",
    );
}

/// Account inserts, credential inserts and updates, and erasures write their event in the same
/// atomic step: each success writes exactly its event (an update only when given one), each
/// refusal writes none.
pub async fn credential_writes_record_their_event_atomically<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "audit-cred").await;
    let (u, c) = account(ENV, &org);
    let ev = |code: &str| account_event(code, &u);
    ok(
        store
            .insert_account(ENV, &u, &c, &ev("CONFORMANCE_ACCOUNT_INSERTED"))
            .await,
        "insert_account",
    );
    let (twin, _) = account(ENV, &org);
    let twin = User {
        profile: Profile {
            email: u.profile.email.clone(),
            ..twin.profile
        },
        ..twin
    };
    let twin_creds = credential_record(&org, twin.id, T0);
    assert_eq!(
        Outcome::of(
            &store
                .insert_account(ENV, &twin, &twin_creds, &ev("CONFORMANCE_ACCOUNT_REFUSED"))
                .await
        ),
        Outcome::AlreadyExists("email"),
        "the refused account"
    );
    let dir = fresh_user(store, ENV, &org).await;
    let dir_creds = credential_record(&org, dir.id, T0);
    ok(
        store
            .insert_credentials(ENV, &dir_creds, &ev("CONFORMANCE_CREDENTIALS_INSERTED"))
            .await,
        "insert_credentials",
    );
    assert_eq!(
        Outcome::of(
            &store
                .insert_credentials(ENV, &dir_creds, &ev("CONFORMANCE_CREDENTIALS_REFUSED"))
                .await
        ),
        Outcome::AlreadyExists("user"),
        "the refused credentials"
    );
    let v2 = next_version(&c, at(1));
    ok(
        store
            .update_credentials(ENV, &v2, 1, Some(&ev("CONFORMANCE_UPDATED")))
            .await,
        "update_credentials with an event",
    );
    let v3 = next_version(&v2, at(2));
    ok(
        store.update_credentials(ENV, &v3, 2, None).await,
        "update_credentials without an event",
    );
    assert_eq!(
        Outcome::of(
            &store
                .update_credentials(ENV, &v3, 2, Some(&ev("CONFORMANCE_UPDATE_REFUSED")))
                .await
        ),
        Outcome::Precondition,
        "the refused update"
    );
    ok(
        store
            .delete_account(ENV, &org, u.id, &ev("CONFORMANCE_DELETED"))
            .await,
        "delete_account",
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_account(ENV, &org, u.id, &ev("CONFORMANCE_DELETE_REFUSED"))
                .await
        ),
        Outcome::NotFound,
        "the refused erasure"
    );
    let (events, _) = tenant_events(store, ENV, &org).await;
    assert_eq!(
        codes(&events),
        [
            "CONFORMANCE_DELETED",
            "CONFORMANCE_UPDATED",
            "CONFORMANCE_CREDENTIALS_INSERTED",
            "USER_CREATED",
            "CONFORMANCE_ACCOUNT_INSERTED",
            "ORGANIZATION_CREATED"
        ],
        "the events of credential writes: one per success with an event, none per refusal"
    );
    for e in [&events[0], &events[1], &events[2], &events[4]] {
        assert_eq!(
            *e,
            Event::from_new(e.id, ENV, &ev(e.event_code.as_str())),
            "a write's event must be stored as given"
        );
    }
}

/// Of 50 concurrent `insert_account`s with one username (and distinct e-mails) exactly one
/// succeeds; the others answer `AlreadyExists { key: "username" }` and write nothing — no user,
/// no event.
pub async fn username_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let org = fresh_org(store, ENV, "uname-race").await;
    let name = fresh_username("race");
    let accounts: Vec<(User, CredentialRecord)> = (0..50)
        .map(|_| {
            let (u, mut c) = account(ENV, &org);
            c.username = Some(name.clone());
            (u, c)
        })
        .collect();
    let results = race(accounts.len(), |i| {
        let store = store.clone();
        let (u, c) = accounts[i].clone();
        let ev = account_event("ACCOUNT_CREATED", &u);
        async move { Outcome::of(&retried(|| store.insert_account(ENV, &u, &c, &ev)).await) }
    })
    .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent accounts with one username that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::AlreadyExists("username")),
        49,
        "concurrent accounts refused with AlreadyExists {{ key: \"username\" }}"
    );
    let (winner, winner_creds) = &accounts[results
        .iter()
        .position(|r| *r == Outcome::Ok)
        .expect("one insert succeeded (asserted above)")];
    assert_eq!(
        creds_named(store, ENV, &org, &name).await.as_ref(),
        Some(winner_creds),
        "the username must belong to the winner"
    );
    assert_eq!(
        ok(
            store.list_users(ENV, &org, page(1, 100)).await,
            "list_users"
        ),
        (vec![winner.clone()], 1),
        "only the winner's user may be stored"
    );
    let query = EventQuery::tenant(&org).code(EventCode::parse("ACCOUNT_CREATED").expect("a code"));
    let (events, total) = ok(store.events(ENV, &query, page(1, 100)).await, "events");
    assert_eq!(
        total, 1,
        "events written by 50 racing accounts: only the winner's"
    );
    assert_eq!(
        events[0].resource_owner_id,
        Some(winner.id),
        "the one event must be the winner's"
    );
}

/// Of 50 concurrent `insert_account`s with one e-mail (in 50 letter cases, distinct usernames)
/// exactly one succeeds; the others answer `AlreadyExists { key: "email" }` and reserve no
/// username.
pub async fn account_email_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let org = fresh_org(store, ENV, "acct-race").await;
    let suffix = hex(&random::<8>());
    let accounts: Vec<(User, CredentialRecord)> = (0..50)
        .map(|i: u32| {
            let local: String = "abcdefgh"
                .chars()
                .enumerate()
                .map(|(bit, ch)| {
                    if i & (1 << bit) != 0 {
                        ch.to_ascii_uppercase()
                    } else {
                        ch
                    }
                })
                .collect();
            let email =
                Email::parse(&format!("{local}-{suffix}@example.com")).expect("a valid address");
            let u = user(ENV, &org, &email, T0);
            let c = credential_record(&org, u.id, T0);
            (u, c)
        })
        .collect();
    let results = race(accounts.len(), |i| {
        let store = store.clone();
        let (u, c) = accounts[i].clone();
        let ev = account_event("ACCOUNT_CREATED", &u);
        async move { Outcome::of(&retried(|| store.insert_account(ENV, &u, &c, &ev)).await) }
    })
    .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent accounts with one e-mail that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::AlreadyExists("email")),
        49,
        "concurrent accounts refused with AlreadyExists {{ key: \"email\" }}"
    );
    for ((u, c), result) in accounts.iter().zip(&results) {
        let name = c.username.as_deref().expect("a username");
        let expected = (*result == Outcome::Ok).then(|| c.clone());
        assert_eq!(
            creds_named(store, ENV, &org, name).await,
            expected,
            "only the winner's username may be reserved"
        );
        assert_eq!(
            creds_of(store, ENV, &org, u.id).await,
            expected,
            "only the winner's credentials may be stored"
        );
    }
}

/// Of 50 concurrent `update_credentials` from one version (each to its own username) exactly
/// one succeeds and the others answer `Precondition`; the stored record, its username and the
/// events are the winner's alone.
pub async fn credentials_update_has_exactly_one_winner_under_contention<S: Store + Clone>(
    store: &S,
) {
    let org = fresh_org(store, ENV, "cred-race").await;
    let (u, c) = fresh_account(store, ENV, &org).await;
    let updates: Vec<CredentialRecord> = (0..50)
        .map(|i| CredentialRecord {
            username: Some(fresh_username("upd")),
            recovery_generation: i,
            ..next_version(&c, at(1))
        })
        .collect();
    let results =
        race(updates.len(), |i| {
            let store = store.clone();
            let next = updates[i].clone();
            let ev = account_event("CREDENTIALS_UPDATED", &u);
            async move {
                Outcome::of(&retried(|| store.update_credentials(ENV, &next, 1, Some(&ev))).await)
            }
        })
        .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent updates from one version that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::Precondition),
        49,
        "concurrent updates refused with Precondition"
    );
    let winner = &updates[results
        .iter()
        .position(|r| *r == Outcome::Ok)
        .expect("one update succeeded (asserted above)")];
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await.as_ref(),
        Some(winner),
        "the stored credentials must be the winner's"
    );
    for update in &updates {
        let name = update.username.as_deref().expect("a username");
        let expected = (update == winner).then(|| winner.clone());
        assert_eq!(
            creds_named(store, ENV, &org, name).await,
            expected,
            "only the winner's username may be reserved"
        );
    }
    let query =
        EventQuery::tenant(&org).code(EventCode::parse("CREDENTIALS_UPDATED").expect("a code"));
    let (_, total) = ok(store.events(ENV, &query, page(1, 100)).await, "events");
    assert_eq!(
        total, 1,
        "events written by 50 racing updates: only the winner's"
    );
}

/// Of 20 concurrent `delete_account`s of one account exactly one succeeds and the others answer
/// `NotFound`; exactly one event is written.
pub async fn account_delete_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let org = fresh_org(store, ENV, "del-race").await;
    let (u, _) = fresh_account(store, ENV, &org).await;
    let results = race(20, |_| {
        let store = store.clone();
        let org = org.clone();
        let ev = account_event("ACCOUNT_DELETED", &u);
        let id = u.id;
        async move { Outcome::of(&retried(|| store.delete_account(ENV, &org, id, &ev)).await) }
    })
    .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent erasures of one account that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::NotFound),
        19,
        "concurrent erasures refused with NotFound"
    );
    let query = EventQuery::tenant(&org).code(EventCode::parse("ACCOUNT_DELETED").expect("a code"));
    let (_, total) = ok(store.events(ENV, &query, page(1, 100)).await, "events");
    assert_eq!(
        total, 1,
        "events written by 20 racing erasures: only the winner's"
    );
}

/// An account written in sandbox is invisible in production (lookups by id and username,
/// `insert_credentials`, update, erasure), its id, e-mail and username are free there, and
/// production writes — a username change, an erasure — leave the sandbox account untouched.
pub async fn credentials_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let domain = fresh_domain("env-cred");
    for env in [sandbox, production] {
        let org = organization(env, &domain, T0);
        ok(
            store
                .insert_organization(env, &org, &event("ORGANIZATION_CREATED", &domain, T0))
                .await,
            "insert_organization",
        );
    }
    let (u, c) = fresh_account(store, sandbox, &domain).await;
    let name = c.username.clone().expect("a username");
    assert_eq!(
        creds_of(store, production, &domain, u.id).await,
        None,
        "sandbox credentials looked up by id in production"
    );
    assert_eq!(
        creds_named(store, production, &domain, &name).await,
        None,
        "sandbox credentials looked up by username in production"
    );
    assert_eq!(
        Outcome::of(
            &store
                .update_credentials(production, &next_version(&c, at(1)), 1, None)
                .await
        ),
        Outcome::NotFound,
        "updating sandbox credentials in production"
    );
    assert_eq!(
        Outcome::of(
            &store
                .insert_credentials(production, &c, &event("CREDENTIALS_ADDED", &domain, T0))
                .await
        ),
        Outcome::NotFound,
        "adding credentials in production to a sandbox user"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_account(
                    production,
                    &domain,
                    u.id,
                    &event("ACCOUNT_DELETED", &domain, T0)
                )
                .await
        ),
        Outcome::NotFound,
        "erasing a sandbox account in production"
    );
    let twin = User {
        environment: production,
        ..u.clone()
    };
    ok(
        store
            .insert_account(
                production,
                &twin,
                &c,
                &account_event("ACCOUNT_CREATED", &twin),
            )
            .await,
        "insert_account: a sandbox account's id, e-mail and username must be free in production",
    );
    let renamed = CredentialRecord {
        username: Some(fresh_username("env-cred")),
        ..next_version(&c, at(1))
    };
    ok(
        store
            .update_credentials(production, &renamed, 1, None)
            .await,
        "update_credentials in production",
    );
    assert_eq!(
        creds_named(store, sandbox, &domain, &name).await,
        Some(c.clone()),
        "a production username change must not release the sandbox username"
    );
    ok(
        store
            .delete_account(
                production,
                &domain,
                u.id,
                &account_event("ACCOUNT_DELETED", &twin),
            )
            .await,
        "delete_account in production",
    );
    assert_eq!(
        ok(store.user(sandbox, &domain, u.id).await, "user"),
        Some(u),
        "a production erasure must leave the sandbox user untouched"
    );
    assert_eq!(
        creds_of(store, sandbox, &domain, c.user_id).await,
        Some(c),
        "a production erasure must leave the sandbox credentials untouched"
    );
}
