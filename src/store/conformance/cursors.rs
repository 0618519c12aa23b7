//! Conformance checks: keyset cursors and maintained totals.

use super::*;

/// The cursor after a user, as `List::next_cursor` gives it.
pub(super) fn user_cursor(u: &User) -> Cursor {
    Cursor::newest(ListKind::Users, u.inserted_at, u.id.as_uuid())
        .expect("a stored user's instant fits a cursor")
}

/// Every page of `org`'s users by page number, then by cursor (each next page read after the
/// last user of the previous one, with the next page number): both walks must read the same
/// users in the same order, with the same exact total on every page. Answers the users.
pub(super) async fn walk_users_both_ways<S: Store>(
    store: &S,
    org: &OrgDomain,
    per: u32,
) -> (Vec<User>, u64) {
    let (mut by_number, total) = ok(store.list_users(ENV, org, page(1, per)).await, "list_users");
    let mut n = 1;
    loop {
        n += 1;
        let (items, t) = ok(store.list_users(ENV, org, page(n, per)).await, "list_users");
        assert_eq!(t, total, "the total of page {n} by number");
        if items.is_empty() {
            break;
        }
        by_number.extend(items);
    }
    let (mut by_cursor, _) = ok(store.list_users(ENV, org, page(1, per)).await, "list_users");
    let mut last = by_cursor.last().map(user_cursor);
    let mut n = 1;
    while let Some(cursor) = last {
        n += 1;
        let request = page(n, per).after(cursor);
        let (items, t) = ok(store.list_users(ENV, org, request).await, "list_users");
        assert_eq!(t, total, "the total of page {n} by cursor");
        assert!(items.len() <= per as usize, "at most per_page users");
        last = items.last().map(user_cursor);
        by_cursor.extend(items);
    }
    assert_eq!(
        by_cursor, by_number,
        "walking by cursors reads the users, in the order, that walking by page numbers reads"
    );
    (by_number, total)
}

/// `list_users` with a cursor returns the users strictly after it (`inserted_at` descending,
/// ties by id descending), without `OFFSET`: walking the list by cursors reads exactly what
/// walking it by page numbers reads, including users inserted at the same instant, at every
/// page size.
pub async fn users_cursor_walk_matches_page_number_walk<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "user-cursor").await;
    // Ties: several users share each instant, so the id decides their order.
    let offsets = [0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4];
    let mut users: Vec<User> = offsets
        .iter()
        .map(|s| user(ENV, &org, &fresh_email("user-cursor"), at(*s)))
        .collect();
    for u in users.iter().rev() {
        ok(
            store
                .insert_user(ENV, u, &event("USER_CREATED", &org, T0))
                .await,
            "insert_user",
        );
    }
    sort_newest_first(&mut users, |u| (u.inserted_at, u.id.as_uuid()));
    for per in [1, 2, 3, 4, 11, 12] {
        let (walked, total) = walk_users_both_ways(store, &org, per).await;
        assert_eq!(
            walked, users,
            "{per} per page: every user once, newest first"
        );
        assert_eq!(total, users.len() as u64, "the exact total");
    }
    let after_last = page(5, 3).after(user_cursor(&users[users.len() - 1]));
    assert_eq!(
        ok(store.list_users(ENV, &org, after_last).await, "list_users"),
        (Vec::new(), users.len() as u64),
        "nothing after the last user, and still the total"
    );
}

/// A users cursor carries no organization: read in another organization, it only positions
/// the read there. The page holds that organization's users strictly after the key, never a
/// user of the organization the cursor came from.
pub async fn users_cursor_never_reaches_another_organization<S: Store>(store: &S) {
    let ours = fresh_org(store, ENV, "cursor-ours").await;
    let theirs = fresh_org(store, ENV, "cursor-theirs").await;
    let mut mine = Vec::new();
    let mut other = Vec::new();
    for s in 0..6 {
        let u = user(ENV, &ours, &fresh_email("cursor-ours"), at(s));
        ok(
            store
                .insert_user(ENV, &u, &event("USER_CREATED", &ours, T0))
                .await,
            "insert_user",
        );
        mine.push(u);
        let t = user(ENV, &theirs, &fresh_email("cursor-theirs"), at(s));
        ok(
            store
                .insert_user(ENV, &t, &event("USER_CREATED", &theirs, T0))
                .await,
            "insert_user",
        );
        other.push(t);
    }
    sort_newest_first(&mut mine, |u| (u.inserted_at, u.id.as_uuid()));
    sort_newest_first(&mut other, |u| (u.inserted_at, u.id.as_uuid()));
    for from in &other {
        let request = page(2, 100).after(user_cursor(from));
        let (items, total) = ok(store.list_users(ENV, &ours, request).await, "list_users");
        assert_eq!(total, 6, "our organization's total");
        let key = (from.inserted_at, from.id.as_uuid());
        let want: Vec<User> = mine
            .iter()
            .filter(|u| (u.inserted_at, u.id.as_uuid()) < key)
            .cloned()
            .collect();
        assert_eq!(
            items, want,
            "only our users, strictly after the other organization's key"
        );
    }
}

/// The users total is exact after every insert (`insert_user`, `insert_account`) and delete
/// (`delete_account`), unchanged by refused writes, and agrees with the users listed.
pub async fn users_total_stays_exact_across_inserts_and_deletes<S: Store>(store: &S) {
    let org = &fresh_org(store, ENV, "user-total").await;
    let total = |n: u64| async move {
        let (items, t) = ok(store.list_users(ENV, org, page(1, 100)).await, "list_users");
        assert_eq!(t, n, "the total");
        assert_eq!(items.len() as u64, n, "the total counts the users listed");
    };
    total(0).await;
    let a = fresh_user(store, ENV, org).await;
    total(1).await;
    let (b, _) = fresh_account(store, ENV, org).await;
    let (c, _) = fresh_account(store, ENV, org).await;
    total(3).await;
    // A refused insert counts nothing.
    let twin = user(ENV, org, &a.profile.email, T0);
    let refused = store
        .insert_user(ENV, &twin, &event("USER_CREATED", org, T0))
        .await;
    assert_eq!(Outcome::of(&refused), Outcome::AlreadyExists("email"));
    let (twin, creds) = account(ENV, org);
    let twin = User {
        profile: crate::model::user::Profile {
            email: b.profile.email.clone(),
            ..twin.profile
        },
        ..twin
    };
    let refused = store
        .insert_account(ENV, &twin, &creds, &account_event("ACCOUNT_CREATED", &twin))
        .await;
    assert_eq!(Outcome::of(&refused), Outcome::AlreadyExists("email"));
    total(3).await;
    ok(
        store
            .delete_account(ENV, org, b.id, &account_event("ACCOUNT_DELETED", &b))
            .await,
        "delete_account",
    );
    total(2).await;
    // A user without credentials is deleted (and uncounted) the same way.
    ok(
        store
            .delete_account(ENV, org, a.id, &account_event("ACCOUNT_DELETED", &a))
            .await,
        "delete_account",
    );
    let missing = store
        .delete_account(ENV, org, a.id, &account_event("ACCOUNT_DELETED", &a))
        .await;
    assert_eq!(Outcome::of(&missing), Outcome::NotFound, "deleted twice");
    total(1).await;
    ok(
        store
            .delete_account(ENV, org, c.id, &account_event("ACCOUNT_DELETED", &c))
            .await,
        "delete_account",
    );
    total(0).await;
    fresh_user(store, ENV, org).await;
    total(1).await;
}

/// Every page of `query`'s events by number, then by cursor: the same events in the same
/// order, the same exact total on every page. Answers the events and the total.
pub(super) async fn walk_events_both_ways<S: Store>(
    store: &S,
    query: &EventQuery,
    per: u32,
) -> (Vec<Event>, u64) {
    let (mut by_number, total) = ok(store.events(ENV, query, page(1, per)).await, "events");
    let mut n = 1;
    loop {
        n += 1;
        let (items, t) = ok(store.events(ENV, query, page(n, per)).await, "events");
        assert_eq!(t, total, "the total of page {n} by number");
        if items.is_empty() {
            break;
        }
        by_number.extend(items);
    }
    let (mut by_cursor, _) = ok(store.events(ENV, query, page(1, per)).await, "events");
    let mut last = by_cursor.last().map(|e| Cursor::event(e.id));
    let mut n = 1;
    while let Some(cursor) = last {
        n += 1;
        let request = page(n, per).after(cursor);
        let (items, t) = ok(store.events(ENV, query, request).await, "events");
        assert_eq!(t, total, "the total of page {n} by cursor");
        assert!(items.len() <= per as usize, "at most per_page events");
        last = items.last().map(|e| Cursor::event(e.id));
        by_cursor.extend(items);
    }
    assert_eq!(
        by_cursor, by_number,
        "walking by cursors reads the events, in the order, that walking by page numbers reads"
    );
    (by_number, total)
}

/// `events` with a cursor returns the matching events with smaller ids, newest first, under
/// every filter combination (tenant, code, tenant and code, client): walking by cursors reads
/// what walking by page numbers reads, and each total is exact, including the events that
/// directory writes record.
pub async fn events_cursor_walk_matches_page_number_walk_under_filters<S: Store>(store: &S) {
    let tenant = fresh_org(store, ENV, "audit-cursor").await;
    let other = fresh_domain("audit-cursor-other");
    let client = fresh_app(store, ENV, &tenant).await;
    let a = EventCode::parse("CONFORMANCE_CURSOR_A").expect("an event code");
    let b = EventCode::parse("CONFORMANCE_CURSOR_B").expect("an event code");
    let mut recorded = Vec::new();
    for i in 0..9 {
        let code = if i % 3 == 0 { &b } else { &a };
        let domain = if i % 4 == 3 { &other } else { &tenant };
        let mut new = event(code.as_str(), domain, at(i));
        if i % 2 == 0 {
            new = new.client(client);
        }
        recorded.push(ok(store.record_event(ENV, &new).await, "record_event"));
    }
    // A directory write records its event through the same path.
    fresh_user(store, ENV, &tenant).await;
    let queries = [
        EventQuery::tenant(&tenant),
        EventQuery::tenant(&tenant).code(a.clone()),
        EventQuery::tenant(&other).code(b.clone()),
        EventQuery::tenant(&tenant).client_id(client),
        EventQuery::tenant(&tenant)
            .code(a.clone())
            .client_id(client),
    ];
    for query in &queries {
        let (all, total) = ok(store.events(ENV, query, page(1, 100)).await, "events");
        assert_eq!(total, all.len() as u64, "{query:?}: the exact total");
        assert!(
            all.iter().all(|e| query.matches(e)),
            "{query:?}: only matching events"
        );
        for per in [1, 2, 4] {
            let (walked, t) = walk_events_both_ways(store, query, per).await;
            assert_eq!(walked, all, "{query:?}, {per} per page: every match once");
            assert_eq!(t, total, "{query:?}: the same total");
        }
    }
    let by_code = EventQuery {
        tenant_domain: None,
        code: Some(a.clone()),
        client_id: None,
        saml_identity_provider_id: None,
    };
    let top = page(2, 2).after(Cursor::event(recorded[5].id));
    let (items, _) = ok(store.events(ENV, &by_code, top).await, "events");
    let want: Vec<Event> = recorded[..5]
        .iter()
        .rev()
        .filter(|e| by_code.matches(e))
        .take(2)
        .cloned()
        .collect();
    assert_eq!(
        items, want,
        "code only: the two newest matches below the cursor"
    );
}

/// The events total under tenant and code filters grows by exactly one per recorded event of
/// that tenant and code (and by none for other tenants and codes).
pub async fn events_totals_stay_exact_as_events_are_recorded<S: Store>(store: &S) {
    let tenant = fresh_domain("audit-total");
    let code = EventCode::parse("CONFORMANCE_TOTAL").expect("an event code");
    let other_code = EventCode::parse("CONFORMANCE_TOTAL_OTHER").expect("an event code");
    let both = EventQuery::tenant(&tenant).code(code.clone());
    let tenant_only = EventQuery::tenant(&tenant);
    let totals = |q: &EventQuery| {
        let q = q.clone();
        async move { ok(store.events(ENV, &q, page(1, 1)).await, "events").1 }
    };
    for n in 1..=20u64 {
        let c = if n % 5 == 0 { &other_code } else { &code };
        ok(
            store
                .record_event(ENV, &event(c.as_str(), &tenant, T0))
                .await,
            "record_event",
        );
        assert_eq!(totals(&tenant_only).await, n, "every event of the tenant");
        assert_eq!(
            totals(&both).await,
            n - n / 5,
            "the tenant's events of the code"
        );
    }
}

/// `list_applications` with a cursor returns the scope's live applications strictly after it
/// (`inserted_at` descending, ties by `client_id` descending): walking by cursors reads what
/// walking by page numbers reads, deleted applications left out.
pub async fn applications_cursor_walk_matches_page_number_walk<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "app-cursor").await;
    let scope = ApplicationScope::Organization(org.clone());
    let mut apps: Vec<Application> = [0, 0, 1, 1, 1, 2, 3]
        .iter()
        .map(|s| application(ENV, scope.clone(), at(*s)))
        .collect();
    for app in &apps {
        let ev = event("APPLICATION_CREATED", &org, T0).client(app.client_id);
        ok(
            store.insert_application(ENV, app, &ev).await,
            "insert_application",
        );
    }
    let deleted = apps.remove(3);
    let ev = event("APPLICATION_DELETED", &org, T0).client(deleted.client_id);
    ok(
        store
            .delete_application(ENV, deleted.client_id, at(10), &ev)
            .await,
        "delete_application",
    );
    sort_newest_first(&mut apps, |a| (a.inserted_at, a.client_id.as_uuid()));
    let ids =
        |items: &[Application]| -> Vec<ClientId> { items.iter().map(|a| a.client_id).collect() };
    let cursor = |a: &Application| {
        Cursor::newest(ListKind::Applications, a.inserted_at, a.client_id.as_uuid())
            .expect("a stored instant fits a cursor")
    };
    for per in [1, 2, 4] {
        let mut by_number = Vec::new();
        for n in 1.. {
            let (items, total) = ok(
                store.list_applications(ENV, &scope, page(n, per)).await,
                "list_applications",
            );
            assert_eq!(total, apps.len() as u64, "the live total");
            if items.is_empty() {
                break;
            }
            by_number.extend(items);
        }
        let (mut by_cursor, _) = ok(
            store.list_applications(ENV, &scope, page(1, per)).await,
            "list_applications",
        );
        let mut last = by_cursor.last().map(cursor);
        let mut n = 1;
        while let Some(c) = last {
            n += 1;
            let (items, total) = ok(
                store
                    .list_applications(ENV, &scope, page(n, per).after(c))
                    .await,
                "list_applications",
            );
            assert_eq!(total, apps.len() as u64, "the live total by cursor");
            last = items.last().map(cursor);
            by_cursor.extend(items);
        }
        assert_eq!(ids(&by_number), ids(&apps), "{per} per page by number");
        assert_eq!(ids(&by_cursor), ids(&apps), "{per} per page by cursor");
    }
}

/// `list_organizations` with a cursor. This check's organizations (with `inserted_at` ties, one
/// deleted) are ten years older than [`T0`], so they never sit at the head of the list other
/// checks read. Walking the whole list by cursors reads every live organization once, in
/// strictly newest-first order, ours among them in order and the deleted one left out; with
/// [`Isolation::Exclusive`] the walk equals the walk by page numbers.
pub async fn organizations_cursor_walk_matches_page_number_walk<S: Store>(
    store: &S,
    isolation: Isolation,
) {
    let base = T0 - Duration::days(3650);
    let mut orgs: Vec<Organization> = [0, 0, 1, 1, 1, 2]
        .iter()
        .map(|s| {
            organization(
                ENV,
                &fresh_domain("org-cursor"),
                base + Duration::seconds(*s),
            )
        })
        .collect();
    for org in &orgs {
        let ev = event("ORGANIZATION_CREATED", &org.domain, org.inserted_at);
        ok(
            store.insert_organization(ENV, org, &ev).await,
            "insert_organization",
        );
    }
    let deleted = orgs.remove(2);
    let ev = event("ORGANIZATION_DELETED", &deleted.domain, base);
    ok(
        store
            .delete_organization(ENV, &deleted.domain, base, &ev)
            .await,
        "delete_organization",
    );
    sort_newest_first(&mut orgs, |o| (o.inserted_at, o.id.as_uuid()));
    let key = |o: &Organization| (o.inserted_at, o.id.as_uuid());
    let cursor = |o: &Organization| {
        Cursor::newest(ListKind::Organizations, o.inserted_at, o.id.as_uuid())
            .expect("a stored instant fits a cursor")
    };
    let (mut walked, _) = ok(
        store.list_organizations(ENV, page(1, 50)).await,
        "list_organizations",
    );
    let mut n = 1;
    while let Some(c) = walked.last().map(cursor) {
        n += 1;
        let (items, _) = ok(
            store.list_organizations(ENV, page(n, 50).after(c)).await,
            "list_organizations",
        );
        if items.is_empty() {
            break;
        }
        walked.extend(items);
    }
    assert!(
        walked.windows(2).all(|w| key(&w[0]) > key(&w[1])),
        "strictly newest first, nothing twice"
    );
    let ours: Vec<&OrgDomain> = walked
        .iter()
        .map(|o| &o.domain)
        .filter(|d| orgs.iter().any(|o| o.domain == **d) || **d == deleted.domain)
        .collect();
    let want: Vec<&OrgDomain> = orgs.iter().map(|o| &o.domain).collect();
    assert_eq!(ours, want, "ours in order, the deleted one left out");
    if isolation == Isolation::Exclusive {
        let (all, total) = ok(
            store.list_organizations(ENV, page(1, 100)).await,
            "list_organizations",
        );
        assert_eq!(walked, all, "the whole list, by cursors and by number");
        assert_eq!(total, all.len() as u64, "the live total");
    }
}

/// 64 concurrent `record_event` calls of one tenant and code, and 32 concurrent user inserts of
/// one organization: every write succeeds (retrying transient conflicts) and every total counts
/// each of them exactly once.
pub async fn totals_stay_exact_under_concurrent_writers<S: Store + Clone>(store: &S) {
    let tenant = fresh_org(store, ENV, "total-race").await;
    let code = EventCode::parse("CONFORMANCE_TOTAL_RACE").expect("an event code");
    let results = race(64, |_| {
        let store = store.clone();
        let ev = event(code.as_str(), &tenant, T0);
        async move { Outcome::of(&retried(|| store.record_event(ENV, &ev)).await) }
    })
    .await;
    assert_eq!(count(&results, |r| *r == Outcome::Ok), 64, "{results:?}");
    let results = race(32, |_| {
        let store = store.clone();
        let u = user(ENV, &tenant, &fresh_email("total-race"), T0);
        let ev = event("USER_CREATED", &tenant, T0).user(u.id, &u.profile.email);
        async move { Outcome::of(&retried(|| store.insert_user(ENV, &u, &ev)).await) }
    })
    .await;
    assert_eq!(count(&results, |r| *r == Outcome::Ok), 32, "{results:?}");
    let by_code = EventQuery::tenant(&tenant).code(code.clone());
    let (_, total) = ok(store.events(ENV, &by_code, page(1, 1)).await, "events");
    assert_eq!(total, 64, "every event of the code once");
    // The organization's creation, 64 events and 32 user creations.
    let (_, total) = ok(
        store
            .events(ENV, &EventQuery::tenant(&tenant), page(1, 1))
            .await,
        "events",
    );
    assert_eq!(total, 1 + 64 + 32, "every event of the tenant once");
    let (_, total) = ok(
        store.list_users(ENV, &tenant, page(1, 1)).await,
        "list_users",
    );
    assert_eq!(total, 32, "every user once");
}
