//! Conformance checks: organizations.

use super::*;

/// An inserted organization reads back field for field by its domain; an unknown domain
/// answers `None`.
pub async fn organization_round_trips<S: Store>(store: &S) {
    let domain = fresh_domain("org-rt");
    let org = organization(ENV, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &org, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization",
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(org),
        "organization() must return the inserted record, every field intact"
    );
    assert_eq!(
        ok(
            store.organization(ENV, &fresh_domain("org-none")).await,
            "organization"
        ),
        None,
        "an unknown domain must answer None"
    );
}

/// A domain is unique: a second organization with a live domain, or with the domain of a
/// deleted organization, answers `AlreadyExists { key: "domain" }` and changes nothing.
pub async fn organization_domain_stays_taken_after_deletion<S: Store>(store: &S) {
    let domain = fresh_domain("org-dom");
    let first = organization(ENV, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &first, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization",
    );
    let twin = organization(ENV, &domain, at(1));
    assert_eq!(
        Outcome::of(
            &store
                .insert_organization(ENV, &twin, &event("ORGANIZATION_CREATED", &domain, at(1)))
                .await
        ),
        Outcome::AlreadyExists("domain"),
        "inserting a second organization with a live domain"
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(first.clone()),
        "a refused insert must leave the first organization as it was"
    );
    let tombstone = ok(
        store
            .delete_organization(
                ENV,
                &domain,
                at(2),
                &event("ORGANIZATION_DELETED", &domain, at(2)),
            )
            .await,
        "delete_organization",
    );
    let again = organization(ENV, &domain, at(3));
    assert_eq!(
        Outcome::of(
            &store
                .insert_organization(ENV, &again, &event("ORGANIZATION_CREATED", &domain, at(3)))
                .await
        ),
        Outcome::AlreadyExists("domain"),
        "a deleted organization's domain must never be reused"
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(tombstone),
        "the tombstone must stay in place after a refused insert"
    );
}

/// An organization id is unique: inserting another domain with a taken id answers
/// `AlreadyExists { key: "id" }` and stores nothing.
pub async fn organization_id_is_unique<S: Store>(store: &S) {
    let first = organization(ENV, &fresh_domain("org-id"), T0);
    ok(
        store
            .insert_organization(
                ENV,
                &first,
                &event("ORGANIZATION_CREATED", &first.domain, T0),
            )
            .await,
        "insert_organization",
    );
    let other_domain = fresh_domain("org-id");
    let same_id = Organization {
        id: first.id,
        ..organization(ENV, &other_domain, T0)
    };
    assert_eq!(
        Outcome::of(
            &store
                .insert_organization(
                    ENV,
                    &same_id,
                    &event("ORGANIZATION_CREATED", &other_domain, T0)
                )
                .await
        ),
        Outcome::AlreadyExists("id"),
        "inserting an organization with a taken id"
    );
    assert_eq!(
        ok(store.organization(ENV, &other_domain).await, "organization"),
        None,
        "a refused insert must store nothing"
    );
}

/// `update_organization` writes only when the stored version is `expected_version`
/// (`Precondition` otherwise, nothing written) and answers `NotFound` for a missing domain.
pub async fn organization_update_is_conditional_on_version<S: Store>(store: &S) {
    let domain = fresh_domain("org-upd");
    let org = organization(ENV, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &org, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization",
    );
    let next = Organization {
        name: name("Renamed"),
        locality: None,
        updated_at: at(1),
        version: 2,
        ..org.clone()
    };
    ok(
        store
            .update_organization(
                ENV,
                &next,
                1,
                &event("ORGANIZATION_UPDATED", &domain, at(1)),
            )
            .await,
        "update_organization with the stored version",
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(next.clone()),
        "an update must store the given record"
    );
    let stale = Organization {
        name: name("Stale"),
        updated_at: at(2),
        version: 2,
        ..org.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_organization(
                    ENV,
                    &stale,
                    1,
                    &event("ORGANIZATION_UPDATED", &domain, at(2))
                )
                .await
        ),
        Outcome::Precondition,
        "update_organization with a stale expected_version"
    );
    let ahead = Organization {
        version: 4,
        ..stale.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_organization(
                    ENV,
                    &ahead,
                    3,
                    &event("ORGANIZATION_UPDATED", &domain, at(2))
                )
                .await
        ),
        Outcome::Precondition,
        "update_organization with an expected_version ahead of the stored one"
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(next),
        "a refused update must write nothing"
    );
    let missing = organization(ENV, &fresh_domain("org-upd-none"), T0);
    assert_eq!(
        Outcome::of(
            &store
                .update_organization(
                    ENV,
                    &missing,
                    1,
                    &event("ORGANIZATION_UPDATED", &missing.domain, at(3))
                )
                .await
        ),
        Outcome::NotFound,
        "update_organization of a domain that does not exist"
    );
    assert_eq!(
        ok(
            store.organization(ENV, &missing.domain).await,
            "organization"
        ),
        None,
        "updating a missing organization must not create it"
    );
}

/// The domain never changes: an update whose record carries another domain (free, or another
/// organization's) answers `NotFound` and changes neither organization.
pub async fn organization_update_never_changes_the_domain<S: Store>(store: &S) {
    let a = organization(ENV, &fresh_domain("org-mv"), T0);
    let b = organization(ENV, &fresh_domain("org-mv"), T0);
    for org in [&a, &b] {
        ok(
            store
                .insert_organization(ENV, org, &event("ORGANIZATION_CREATED", &org.domain, T0))
                .await,
            "insert_organization",
        );
    }
    let free = fresh_domain("org-mv");
    for target in [&free, &b.domain] {
        let moved = Organization {
            domain: target.clone(),
            name: name("Moved"),
            version: 2,
            ..a.clone()
        };
        assert_eq!(
            Outcome::of(
                &store
                    .update_organization(
                        ENV,
                        &moved,
                        1,
                        &event("ORGANIZATION_UPDATED", target, at(1))
                    )
                    .await
            ),
            Outcome::NotFound,
            "an update carrying organization {}'s id under domain {target} must be refused",
            a.domain
        );
    }
    assert_eq!(
        ok(store.organization(ENV, &a.domain).await, "organization"),
        Some(a),
        "a refused domain change must leave the organization as it was"
    );
    assert_eq!(
        ok(store.organization(ENV, &b.domain).await, "organization"),
        Some(b),
        "a refused domain change must not touch the organization owning the target domain"
    );
    assert_eq!(
        ok(store.organization(ENV, &free).await, "organization"),
        None,
        "a refused domain change must not create the target domain"
    );
}

/// Updating a deleted organization answers `Precondition`, even with its current version, and
/// leaves the tombstone as it is.
pub async fn organization_update_of_a_deleted_organization_is_refused<S: Store>(store: &S) {
    let domain = fresh_domain("org-upd-del");
    let org = organization(ENV, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &org, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization",
    );
    let tombstone = ok(
        store
            .delete_organization(
                ENV,
                &domain,
                at(1),
                &event("ORGANIZATION_DELETED", &domain, at(1)),
            )
            .await,
        "delete_organization",
    );
    let revived = Organization {
        name: name("Revived"),
        deleted_at: None,
        updated_at: at(2),
        version: tombstone.version + 1,
        ..tombstone.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_organization(
                    ENV,
                    &revived,
                    tombstone.version,
                    &event("ORGANIZATION_UPDATED", &domain, at(2))
                )
                .await
        ),
        Outcome::Precondition,
        "updating a deleted organization with its current version"
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(tombstone),
        "a refused update must leave the tombstone as it was"
    );
}

/// `delete_organization` returns the tombstoned record (`deleted_at` set, identity unchanged),
/// which `organization` keeps returning; deleting it again, or a missing domain, answers
/// `NotFound`.
pub async fn organization_delete_leaves_a_tombstone<S: Store>(store: &S) {
    let domain = fresh_domain("org-del");
    let org = organization(ENV, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &org, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization",
    );
    let tombstone = ok(
        store
            .delete_organization(
                ENV,
                &domain,
                at(5),
                &event("ORGANIZATION_DELETED", &domain, at(5)),
            )
            .await,
        "delete_organization",
    );
    assert_eq!(
        tombstone.deleted_at,
        Some(at(5)),
        "the tombstone's deleted_at"
    );
    assert_eq!(
        (
            &tombstone.id,
            &tombstone.domain,
            &tombstone.name,
            tombstone.inserted_at
        ),
        (&org.id, &org.domain, &org.name, org.inserted_at),
        "deleting must keep the organization's identity"
    );
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(tombstone),
        "organization() must return the tombstone delete_organization returned"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_organization(
                    ENV,
                    &domain,
                    at(6),
                    &event("ORGANIZATION_DELETED", &domain, at(6))
                )
                .await
        ),
        Outcome::NotFound,
        "deleting an already deleted organization"
    );
    let missing = fresh_domain("org-del-none");
    assert_eq!(
        Outcome::of(
            &store
                .delete_organization(
                    ENV,
                    &missing,
                    at(6),
                    &event("ORGANIZATION_DELETED", &missing, at(6))
                )
                .await
        ),
        Outcome::NotFound,
        "deleting an organization that never existed"
    );
    assert_eq!(
        ok(store.organization(ENV, &missing).await, "organization"),
        None,
        "deleting a missing organization must not create a tombstone"
    );
}

/// `list_organizations` lists live organizations newest first (`inserted_at` descending, ties
/// by id descending), pages by `page`/`per_page`, skips deleted ones and counts live ones.
///
/// The check's organizations are made the newest of the environment, so with
/// [`Isolation::Shared`] it checks the head of the list and a lower bound of the total; with
/// [`Isolation::Exclusive`] the whole list, the empty page past the end and the exact total.
pub async fn organizations_list_newest_first_with_totals<S: Store>(
    store: &S,
    isolation: Isolation,
) {
    let (head, _) = ok(
        store.list_organizations(ENV, page(1, 1)).await,
        "list_organizations",
    );
    let base = newest_base(head.first().map(|o| o.inserted_at));
    let offsets = [0, 1, 1, 2, 3, 4];
    let mut orgs: Vec<Organization> = offsets
        .iter()
        .map(|s| organization(ENV, &fresh_domain("org-list"), base + Duration::seconds(*s)))
        .collect();
    // Insert out of time order, so that insertion order cannot pass for newest first.
    for i in [2, 5, 0, 3, 1, 4] {
        let org = &orgs[i];
        ok(
            store
                .insert_organization(
                    ENV,
                    org,
                    &event("ORGANIZATION_CREATED", &org.domain, org.inserted_at),
                )
                .await,
            "insert_organization",
        );
    }
    // The newest one is deleted: it must vanish from the list and the total.
    let deleted = orgs.remove(5);
    ok(
        store
            .delete_organization(
                ENV,
                &deleted.domain,
                base + Duration::seconds(10),
                &event("ORGANIZATION_DELETED", &deleted.domain, base),
            )
            .await,
        "delete_organization",
    );
    sort_newest_first(&mut orgs, |o| (o.inserted_at, o.id.as_uuid()));
    let live = orgs.len() as u64;
    for n in 1..=4 {
        let (data, total) = ok(
            store.list_organizations(ENV, page(n, 2)).await,
            "list_organizations",
        );
        let want = chunk(&orgs, 2, n as usize);
        match isolation {
            Isolation::Exclusive => {
                assert_eq!(data, want, "page {n} of 2 organizations, newest first");
                assert_eq!(total, live, "total of live organizations on page {n}");
            }
            Isolation::Shared => {
                assert!(
                    data.len() <= 2 && data.starts_with(want),
                    "page {n} of 2 organizations must start with {want:?}, got {data:?}"
                );
                assert!(
                    total >= live,
                    "total of live organizations on page {n}: at least {live}, got {total}"
                );
            }
        }
    }
    let (all, _) = ok(
        store.list_organizations(ENV, page(1, 100)).await,
        "list_organizations",
    );
    assert!(
        all.iter().all(|o| o.domain != deleted.domain),
        "a deleted organization must not be listed"
    );
}

/// 100 concurrent inserts of organizations sharing one domain: exactly one succeeds, the 99
/// others answer `AlreadyExists { key: "domain" }`, and only the winner and its one event are
/// stored.
pub async fn organization_domain_has_exactly_one_winner_under_contention<S: Store + Clone>(
    store: &S,
) {
    let domain = fresh_domain("org-race");
    let orgs: Vec<Organization> = (0..100).map(|_| organization(ENV, &domain, T0)).collect();
    let results = race(orgs.len(), |i| {
        let store = store.clone();
        let org = orgs[i].clone();
        let ev = event("ORGANIZATION_CREATED", &org.domain, T0).detail("task", i.to_string());
        async move { Outcome::of(&retried(|| store.insert_organization(ENV, &org, &ev)).await) }
    })
    .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent inserts of one domain that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::AlreadyExists("domain")),
        99,
        "concurrent inserts of one domain refused with AlreadyExists {{ key: \"domain\" }}"
    );
    let winner = results
        .iter()
        .position(|r| *r == Outcome::Ok)
        .expect("one insert succeeded (asserted above)");
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(orgs[winner].clone()),
        "the stored organization must be the winner's"
    );
    let (events, total) = tenant_events(store, ENV, &domain).await;
    assert_eq!(
        total, 1,
        "events written by 100 racing inserts: only the winner's"
    );
    assert_eq!(
        events[0].details.get("task"),
        Some(&winner.to_string()),
        "the one event must be the winner's"
    );
}

/// 20 concurrent updates of one organization, all expecting its current version: exactly one
/// succeeds and is stored, the 19 others answer `Precondition`, and one event is written.
pub async fn organization_update_has_exactly_one_winner_under_contention<S: Store + Clone>(
    store: &S,
) {
    let domain = fresh_domain("org-upd-race");
    let org = organization(ENV, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &org, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization",
    );
    let updates: Vec<Organization> = (0..20)
        .map(|i| Organization {
            name: name(&format!("Winner {i}")),
            updated_at: at(1),
            version: 2,
            ..org.clone()
        })
        .collect();
    let results = race(updates.len(), |i| {
        let store = store.clone();
        let next = updates[i].clone();
        let ev = event("ORGANIZATION_UPDATED", &domain, at(1));
        async move { Outcome::of(&retried(|| store.update_organization(ENV, &next, 1, &ev)).await) }
    })
    .await;
    assert_eq!(
        count(&results, |r| *r == Outcome::Ok),
        1,
        "concurrent updates with one expected_version that succeeded: {results:?}"
    );
    assert_eq!(
        count(&results, |r| *r == Outcome::Precondition),
        19,
        "concurrent updates with one expected_version refused with Precondition"
    );
    let winner = results
        .iter()
        .position(|r| *r == Outcome::Ok)
        .expect("one update succeeded (asserted above)");
    assert_eq!(
        ok(store.organization(ENV, &domain).await, "organization"),
        Some(updates[winner].clone()),
        "the stored organization must be the winner's update"
    );
    let (events, _) = tenant_events(store, ENV, &domain).await;
    assert_eq!(
        codes(&events),
        ["ORGANIZATION_UPDATED", "ORGANIZATION_CREATED"],
        "20 racing updates must write exactly the winner's event"
    );
}
