//! Conformance checks: applications.

use super::*;

/// Inserted applications, global or scoped to an organization, read back field for field by
/// `client_id`; an unknown `client_id` answers `None`.
pub async fn application_round_trips<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "app-rt").await;
    let scoped = application(ENV, ApplicationScope::Organization(org.clone()), T0);
    let global = application(ENV, ApplicationScope::Global, T0);
    for app in [&scoped, &global] {
        ok(
            store
                .insert_application(
                    ENV,
                    app,
                    &event("APPLICATION_CREATED", &org, T0).client(app.client_id),
                )
                .await,
            "insert_application",
        );
        assert_eq!(
            ok(store.application(ENV, app.client_id).await, "application"),
            Some(app.clone()),
            "application() must return the inserted record, every field intact"
        );
    }
    assert_eq!(
        ok(
            store
                .application(ENV, ClientId::from_uuid(fresh_uuid()))
                .await,
            "application"
        ),
        None,
        "an unknown client_id must answer None"
    );
}

/// A `client_id` is unique, even after its application is deleted: a second insert answers
/// `AlreadyExists { key: "client_id" }` and changes nothing.
pub async fn application_client_id_stays_taken_after_deletion<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "app-id").await;
    let first = application(ENV, ApplicationScope::Organization(org.clone()), T0);
    let ev = |at| event("APPLICATION_CREATED", &org, at).client(first.client_id);
    ok(
        store.insert_application(ENV, &first, &ev(T0)).await,
        "insert_application",
    );
    let twin = Application {
        client_id: first.client_id,
        ..application(ENV, ApplicationScope::Global, at(1))
    };
    assert_eq!(
        Outcome::of(&store.insert_application(ENV, &twin, &ev(at(1))).await),
        Outcome::AlreadyExists("client_id"),
        "inserting an application with a taken client_id"
    );
    assert_eq!(
        ok(store.application(ENV, first.client_id).await, "application"),
        Some(first.clone()),
        "a refused insert must leave the first application as it was"
    );
    let tombstone = ok(
        store
            .delete_application(
                ENV,
                first.client_id,
                at(2),
                &event("APPLICATION_DELETED", &org, at(2)).client(first.client_id),
            )
            .await,
        "delete_application",
    );
    assert_eq!(
        Outcome::of(&store.insert_application(ENV, &twin, &ev(at(3))).await),
        Outcome::AlreadyExists("client_id"),
        "a deleted application's client_id must never be reused"
    );
    assert_eq!(
        ok(store.application(ENV, first.client_id).await, "application"),
        Some(tombstone),
        "the tombstone must stay in place after a refused insert"
    );
}

/// `update_application` writes only when the stored version is `expected_version` and the
/// application is live (`Precondition` otherwise, nothing written) and answers `NotFound` for a
/// missing `client_id`.
pub async fn application_update_is_conditional_on_version<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "app-upd").await;
    let app = application(ENV, ApplicationScope::Organization(org.clone()), T0);
    let ev = |at| event("APPLICATION_UPDATED", &org, at).client(app.client_id);
    ok(
        store
            .insert_application(ENV, &app, &event("APPLICATION_CREATED", &org, T0))
            .await,
        "insert_application",
    );
    let next = Application {
        name: name("Renamed app"),
        description: None,
        allowed_web_origins: Vec::new(),
        default_web_origin: None,
        updated_at: at(1),
        version: 2,
        ..app.clone()
    };
    ok(
        store.update_application(ENV, &next, 1, &ev(at(1))).await,
        "update_application with the stored version",
    );
    assert_eq!(
        ok(store.application(ENV, app.client_id).await, "application"),
        Some(next.clone()),
        "an update must store the given record"
    );
    let stale = Application {
        name: name("Stale app"),
        version: 2,
        ..app.clone()
    };
    assert_eq!(
        Outcome::of(&store.update_application(ENV, &stale, 1, &ev(at(2))).await),
        Outcome::Precondition,
        "update_application with a stale expected_version"
    );
    assert_eq!(
        ok(store.application(ENV, app.client_id).await, "application"),
        Some(next.clone()),
        "a refused update must write nothing"
    );
    let missing = application(ENV, ApplicationScope::Organization(org.clone()), T0);
    assert_eq!(
        Outcome::of(&store.update_application(ENV, &missing, 1, &ev(at(3))).await),
        Outcome::NotFound,
        "update_application of a client_id that does not exist"
    );
    assert_eq!(
        ok(
            store.application(ENV, missing.client_id).await,
            "application"
        ),
        None,
        "updating a missing application must not create it"
    );
    let tombstone = ok(
        store
            .delete_application(
                ENV,
                app.client_id,
                at(4),
                &event("APPLICATION_DELETED", &org, at(4)),
            )
            .await,
        "delete_application",
    );
    let revived = Application {
        name: name("Revived app"),
        deleted_at: None,
        version: tombstone.version + 1,
        ..tombstone.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_application(ENV, &revived, tombstone.version, &ev(at(5)))
                .await
        ),
        Outcome::Precondition,
        "updating a deleted application with its current version"
    );
    assert_eq!(
        ok(store.application(ENV, app.client_id).await, "application"),
        Some(tombstone),
        "a refused update must leave the tombstone as it was"
    );
}

/// The scope never changes: an update whose record carries another scope answers `NotFound`
/// and changes nothing.
pub async fn application_update_never_changes_the_scope<S: Store>(store: &S) {
    let a = fresh_org(store, ENV, "app-scope").await;
    let b = fresh_org(store, ENV, "app-scope").await;
    let scoped = application(ENV, ApplicationScope::Organization(a.clone()), T0);
    let global = application(ENV, ApplicationScope::Global, T0);
    for app in [&scoped, &global] {
        ok(
            store
                .insert_application(ENV, app, &event("APPLICATION_CREATED", &a, T0))
                .await,
            "insert_application",
        );
    }
    let moves = [
        (&scoped, ApplicationScope::Global),
        (&scoped, ApplicationScope::Organization(b.clone())),
        (&global, ApplicationScope::Organization(a.clone())),
    ];
    for (app, scope) in moves {
        let moved = Application {
            scope: scope.clone(),
            name: name("Moved app"),
            version: 2,
            ..app.clone()
        };
        assert_eq!(
            Outcome::of(
                &store
                    .update_application(ENV, &moved, 1, &event("APPLICATION_UPDATED", &a, at(1)))
                    .await
            ),
            Outcome::NotFound,
            "update_application moving {:?} to {scope:?}",
            app.scope
        );
        assert_eq!(
            ok(store.application(ENV, app.client_id).await, "application"),
            Some(app.clone()),
            "a refused scope change must write nothing"
        );
    }
}

/// `delete_application` returns the tombstoned record (`deleted_at` set, identity unchanged),
/// which `application` keeps returning; deleting it again, or a missing `client_id`, answers
/// `NotFound`.
pub async fn application_delete_leaves_a_tombstone<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "app-del").await;
    let app = application(ENV, ApplicationScope::Organization(org.clone()), T0);
    let ev = |code: &str, at| event(code, &org, at).client(app.client_id);
    ok(
        store
            .insert_application(ENV, &app, &ev("APPLICATION_CREATED", T0))
            .await,
        "insert_application",
    );
    let tombstone = ok(
        store
            .delete_application(ENV, app.client_id, at(5), &ev("APPLICATION_DELETED", at(5)))
            .await,
        "delete_application",
    );
    assert_eq!(
        tombstone.deleted_at,
        Some(at(5)),
        "the tombstone's deleted_at"
    );
    assert_eq!(
        (
            &tombstone.client_id,
            &tombstone.scope,
            &tombstone.name,
            tombstone.inserted_at
        ),
        (&app.client_id, &app.scope, &app.name, app.inserted_at),
        "deleting must keep the application's identity"
    );
    assert_eq!(
        ok(store.application(ENV, app.client_id).await, "application"),
        Some(tombstone),
        "application() must return the tombstone delete_application returned"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_application(ENV, app.client_id, at(6), &ev("APPLICATION_DELETED", at(6)))
                .await
        ),
        Outcome::NotFound,
        "deleting an already deleted application"
    );
    let missing = ClientId::from_uuid(fresh_uuid());
    assert_eq!(
        Outcome::of(
            &store
                .delete_application(ENV, missing, at(6), &ev("APPLICATION_DELETED", at(6)))
                .await
        ),
        Outcome::NotFound,
        "deleting an application that never existed"
    );
    assert_eq!(
        ok(store.application(ENV, missing).await, "application"),
        None,
        "deleting a missing application must not create a tombstone"
    );
}

/// `list_applications` lists the live applications of exactly one scope, newest first
/// (`inserted_at` descending, ties by `client_id` descending), paged, with their total.
///
/// Organization scopes are fresh and checked exactly. The global list spans the environment:
/// the check's global application is made its newest, and with [`Isolation::Shared`] the
/// global total is checked as a lower bound.
pub async fn applications_list_only_their_scope_newest_first<S: Store>(
    store: &S,
    isolation: Isolation,
) {
    let a = fresh_org(store, ENV, "app-list").await;
    let b = fresh_org(store, ENV, "app-list").await;
    let scope_a = ApplicationScope::Organization(a.clone());
    let scope_b = ApplicationScope::Organization(b.clone());
    let offsets = [0, 1, 1, 2, 3, 4];
    let mut apps: Vec<Application> = offsets
        .iter()
        .map(|s| application(ENV, scope_a.clone(), at(*s)))
        .collect();
    for i in [2, 5, 0, 3, 1, 4] {
        ok(
            store
                .insert_application(ENV, &apps[i], &event("APPLICATION_CREATED", &a, T0))
                .await,
            "insert_application",
        );
    }
    let deleted = apps.remove(5);
    ok(
        store
            .delete_application(
                ENV,
                deleted.client_id,
                at(10),
                &event("APPLICATION_DELETED", &a, at(10)),
            )
            .await,
        "delete_application",
    );
    let other = application(ENV, scope_b.clone(), at(20));
    ok(
        store
            .insert_application(ENV, &other, &event("APPLICATION_CREATED", &b, T0))
            .await,
        "insert_application",
    );
    let (head, _) = ok(
        store
            .list_applications(ENV, &ApplicationScope::Global, page(1, 1))
            .await,
        "list_applications",
    );
    let global = application(
        ENV,
        ApplicationScope::Global,
        newest_base(head.first().map(|g| g.inserted_at)),
    );
    ok(
        store
            .insert_application(ENV, &global, &event("APPLICATION_CREATED", &a, T0))
            .await,
        "insert_application",
    );
    sort_newest_first(&mut apps, |app| (app.inserted_at, app.client_id.as_uuid()));
    for n in 1..=4 {
        let want = chunk(&apps, 2, n as usize).to_vec();
        assert_eq!(
            ok(
                store.list_applications(ENV, &scope_a, page(n, 2)).await,
                "list_applications"
            ),
            (want, 5),
            "page {n} of 2 applications of one organization, newest first, and the total"
        );
    }
    assert_eq!(
        ok(
            store.list_applications(ENV, &scope_b, page(1, 10)).await,
            "list_applications"
        ),
        (vec![other.clone()], 1),
        "another organization's applications"
    );
    let (globals, total) = ok(
        store
            .list_applications(ENV, &ApplicationScope::Global, page(1, 100))
            .await,
        "list_applications",
    );
    match isolation {
        Isolation::Exclusive => assert_eq!(
            (globals, total),
            (vec![global], 1),
            "the global applications, and only them"
        ),
        Isolation::Shared => {
            assert_eq!(
                globals.first(),
                Some(&global),
                "the newest global application heads the global list"
            );
            assert!(total >= 1, "the global total counts the global application");
            let ours: Vec<ClientId> = apps
                .iter()
                .chain([&deleted, &other])
                .map(|app| app.client_id)
                .collect();
            assert!(
                globals.iter().all(|g| !ours.contains(&g.client_id)),
                "organization-scoped applications must not be listed as global"
            );
        }
    }
}
