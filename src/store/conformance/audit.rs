//! Conformance checks: audit.

use super::*;

/// `record_event` stores every field of the event and returns it with its id and environment;
/// `events` returns the same event.
pub async fn record_event_returns_the_stored_event<S: Store>(store: &S) {
    let tenant = fresh_domain("audit-rt");
    let user_id = UserId::from_uuid(fresh_uuid());
    let mut new = event("SSO_END_USER_SAML_SUCCESS", &tenant, at(7))
        .client(ClientId::from_uuid(fresh_uuid()))
        .user(user_id, &fresh_email("audit"))
        .detail("reason", "all fields set");
    new.saml_identity_provider_id = Some(unique("idp"));
    let recorded = ok(store.record_event(ENV, &new).await, "record_event");
    assert_eq!(
        recorded,
        Event::from_new(recorded.id, ENV, &new),
        "record_event must return the event as given, with its id and environment"
    );
    assert_eq!(
        tenant_events(store, ENV, &tenant).await,
        (vec![recorded], 1),
        "events() must return the recorded event, every field intact"
    );
}

/// Event ids strictly increase with every recorded event, in either environment.
pub async fn event_ids_strictly_increase_across_environments<S: Store>(store: &S) {
    let tenant = fresh_domain("audit-ids");
    let mut last = None;
    for (i, env) in [
        Environment::Sandbox,
        Environment::Production,
        Environment::Production,
        Environment::Sandbox,
        Environment::Sandbox,
        Environment::Production,
    ]
    .into_iter()
    .enumerate()
    {
        let e = ok(
            store
                .record_event(env, &event("CONFORMANCE_TICK", &tenant, at(i as i64)))
                .await,
            "record_event",
        );
        if let Some(previous) = last {
            assert!(
                e.id > previous,
                "event ids must strictly increase: {} after {previous} (in {env})",
                e.id
            );
        }
        last = Some(e.id);
    }
}

/// `events` returns exactly the events matching every filter set (tenant, code, `client_id`,
/// SAML identity provider), newest first, with the number of matches.
pub async fn events_match_every_filter_set<S: Store>(store: &S) {
    let t = fresh_domain("audit-filter");
    let t2 = fresh_domain("audit-filter");
    let c1 = ClientId::from_uuid(fresh_uuid());
    let c2 = ClientId::from_uuid(fresh_uuid());
    let s1 = unique("idp");
    let s2 = unique("idp");
    let specs: [(&OrgDomain, &str, Option<ClientId>, Option<&String>); 5] = [
        (&t, "CONFORMANCE_A", Some(c1), Some(&s1)),
        (&t, "CONFORMANCE_B", Some(c1), None),
        (&t, "CONFORMANCE_A", Some(c2), Some(&s2)),
        (&t, "CONFORMANCE_B", None, Some(&s1)),
        (&t2, "CONFORMANCE_A", Some(c1), Some(&s1)),
    ];
    let mut e = Vec::new();
    for (i, (tenant, code, client, saml)) in specs.into_iter().enumerate() {
        let mut new = event(code, tenant, at(i as i64));
        new.client_id = client;
        new.saml_identity_provider_id = saml.cloned();
        e.push(ok(store.record_event(ENV, &new).await, "record_event"));
    }
    let a = || EventCode::parse("CONFORMANCE_A").expect("an event code");
    let b = || EventCode::parse("CONFORMANCE_B").expect("an event code");
    let saml = |s: &String| EventQuery::default().saml_identity_provider_id(s.clone());
    let cases: Vec<(&str, EventQuery, Vec<&Event>)> = vec![
        (
            "tenant",
            EventQuery::tenant(&t),
            vec![&e[3], &e[2], &e[1], &e[0]],
        ),
        (
            "tenant + code A",
            EventQuery::tenant(&t).code(a()),
            vec![&e[2], &e[0]],
        ),
        (
            "tenant + code B",
            EventQuery::tenant(&t).code(b()),
            vec![&e[3], &e[1]],
        ),
        (
            "client_id",
            EventQuery::default().client_id(c1),
            vec![&e[4], &e[1], &e[0]],
        ),
        (
            "tenant + client_id",
            EventQuery::tenant(&t).client_id(c1),
            vec![&e[1], &e[0]],
        ),
        ("saml id", saml(&s1), vec![&e[4], &e[3], &e[0]]),
        ("saml id + code", saml(&s1).code(a()), vec![&e[4], &e[0]]),
        (
            "tenant + code + client_id + saml id",
            EventQuery::tenant(&t)
                .code(a())
                .client_id(c1)
                .saml_identity_provider_id(s1.clone()),
            vec![&e[0]],
        ),
        (
            "filters no event matches together",
            EventQuery::tenant(&t)
                .code(a())
                .client_id(c1)
                .saml_identity_provider_id(s2.clone()),
            vec![],
        ),
        ("another tenant", EventQuery::tenant(&t2), vec![&e[4]]),
    ];
    for (what, query, want) in cases {
        let want: Vec<Event> = want.into_iter().cloned().collect();
        let total = want.len() as u64;
        assert_eq!(
            ok(store.events(ENV, &query, page(1, 100)).await, "events"),
            (want, total),
            "events matching {what}, newest first, and their number"
        );
    }
}

/// `events` is newest first by id (not by `inserted_at`), pages by `page`/`per_page` (a page past
/// the end is empty) and counts every match.
pub async fn events_list_newest_first_with_totals<S: Store>(store: &S) {
    let tenant = fresh_domain("audit-list");
    let mut recorded = Vec::new();
    for i in 0..5 {
        // Later events carry earlier times: the order must follow the id.
        let new = event("CONFORMANCE_TICK", &tenant, at(100 - i));
        recorded.push(ok(store.record_event(ENV, &new).await, "record_event"));
    }
    recorded.reverse();
    for n in 1..=4 {
        let want = chunk(&recorded, 2, n as usize).to_vec();
        assert_eq!(
            ok(
                store
                    .events(ENV, &EventQuery::tenant(&tenant), page(n, 2))
                    .await,
                "events"
            ),
            (want, 5),
            "page {n} of 2 events, newest (highest id) first, and the total"
        );
    }
}

/// Organization inserts, updates and deletes write their event in the same atomic step: each
/// success writes exactly its event, each refusal writes none.
pub async fn organization_writes_record_their_event_atomically<S: Store>(store: &S) {
    let domain = fresh_domain("audit-org");
    let org = organization(ENV, &domain, T0);
    let ev = |code: &str| event(code, &domain, T0);
    ok(
        store
            .insert_organization(ENV, &org, &ev("CONFORMANCE_INSERTED"))
            .await,
        "insert_organization",
    );
    let twin = organization(ENV, &domain, T0);
    let refused = store
        .insert_organization(ENV, &twin, &ev("CONFORMANCE_INSERT_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::AlreadyExists("domain"),
        "the refused write"
    );
    let next = Organization {
        name: name("Audited"),
        version: 2,
        ..org.clone()
    };
    ok(
        store
            .update_organization(ENV, &next, 1, &ev("CONFORMANCE_UPDATED"))
            .await,
        "update_organization",
    );
    let refused = store
        .update_organization(ENV, &next, 1, &ev("CONFORMANCE_UPDATE_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::Precondition,
        "the refused write"
    );
    ok(
        store
            .delete_organization(ENV, &domain, at(1), &ev("CONFORMANCE_DELETED"))
            .await,
        "delete_organization",
    );
    let refused = store
        .delete_organization(ENV, &domain, at(2), &ev("CONFORMANCE_DELETE_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::NotFound,
        "the refused write"
    );
    let (events, _) = tenant_events(store, ENV, &domain).await;
    assert_eq!(
        codes(&events),
        [
            "CONFORMANCE_DELETED",
            "CONFORMANCE_UPDATED",
            "CONFORMANCE_INSERTED"
        ],
        "the events of an organization's writes: one per success, none per refusal"
    );
    for e in &events {
        assert_eq!(
            *e,
            Event::from_new(e.id, ENV, &ev(e.event_code.as_str())),
            "a write's event must be stored as given"
        );
    }
}

/// User inserts and updates write their event in the same atomic step: each success writes
/// exactly its event, each refusal writes none.
pub async fn user_writes_record_their_event_atomically<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "audit-user").await;
    let u = user(ENV, &org, &fresh_email("audit-user"), T0);
    let ev = |code: &str| event(code, &org, T0).user(u.id, &u.profile.email);
    ok(
        store
            .insert_user(ENV, &u, &ev("CONFORMANCE_INSERTED"))
            .await,
        "insert_user",
    );
    let twin = user(ENV, &org, &shouted(&u.profile.email), T0);
    let refused = store
        .insert_user(ENV, &twin, &ev("CONFORMANCE_INSERT_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::AlreadyExists("email"),
        "the refused write"
    );
    let next = User {
        version: 2,
        ..u.clone()
    };
    ok(
        store
            .update_user(ENV, &next, 1, &ev("CONFORMANCE_UPDATED"))
            .await,
        "update_user",
    );
    let refused = store
        .update_user(ENV, &next, 1, &ev("CONFORMANCE_UPDATE_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::Precondition,
        "the refused write"
    );
    let (events, _) = tenant_events(store, ENV, &org).await;
    assert_eq!(
        codes(&events),
        [
            "CONFORMANCE_UPDATED",
            "CONFORMANCE_INSERTED",
            "ORGANIZATION_CREATED"
        ],
        "the events of a user's writes: one per success, none per refusal"
    );
    for e in &events[..2] {
        assert_eq!(
            *e,
            Event::from_new(e.id, ENV, &ev(e.event_code.as_str())),
            "a write's event must be stored as given"
        );
    }
}

/// Application inserts, updates and deletes write their event in the same atomic step: each
/// success writes exactly its event, each refusal writes none.
pub async fn application_writes_record_their_event_atomically<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "audit-app").await;
    let app = application(ENV, ApplicationScope::Organization(org.clone()), T0);
    let ev = |code: &str| event(code, &org, T0).client(app.client_id);
    ok(
        store
            .insert_application(ENV, &app, &ev("CONFORMANCE_INSERTED"))
            .await,
        "insert_application",
    );
    let refused = store
        .insert_application(ENV, &app, &ev("CONFORMANCE_INSERT_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::AlreadyExists("client_id"),
        "the refused write"
    );
    let next = Application {
        name: name("Audited app"),
        version: 2,
        ..app.clone()
    };
    ok(
        store
            .update_application(ENV, &next, 1, &ev("CONFORMANCE_UPDATED"))
            .await,
        "update_application",
    );
    let refused = store
        .update_application(ENV, &next, 1, &ev("CONFORMANCE_UPDATE_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::Precondition,
        "the refused write"
    );
    ok(
        store
            .delete_application(ENV, app.client_id, at(1), &ev("CONFORMANCE_DELETED"))
            .await,
        "delete_application",
    );
    let refused = store
        .delete_application(ENV, app.client_id, at(2), &ev("CONFORMANCE_DELETE_REFUSED"))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::NotFound,
        "the refused write"
    );
    let query = EventQuery::default().client_id(app.client_id);
    let (events, total) = ok(store.events(ENV, &query, page(1, 100)).await, "events");
    assert_eq!(
        (codes(&events), total),
        (
            vec![
                "CONFORMANCE_DELETED",
                "CONFORMANCE_UPDATED",
                "CONFORMANCE_INSERTED"
            ],
            3
        ),
        "the events of an application's writes: one per success, none per refusal"
    );
    for e in &events {
        assert_eq!(
            *e,
            Event::from_new(e.id, ENV, &ev(e.event_code.as_str())),
            "a write's event must be stored as given"
        );
    }
}
