//! The audit log: one event per directory mutation, host events, filters, newest-first pages.

mod common;

use std::collections::BTreeMap;

use common::{Fixture, START, fixture, organization};
use idcore::audit::{Event, EventCode, EventQuery, NewEvent};
use idcore::directory::{ClientId, Email, UserId};
use idcore::{
    ApplicationScope, ApplicationType, ApplicationUpdate, Environment, Identity, MemoryStore,
    NewApplication, NewUser, OrgDomain, OrganizationUpdate, PageRequest, ProfileChanges,
};
use serde_json::json;
use time::Duration;

async fn all_events(identity: &Identity<MemoryStore>) -> Vec<Event> {
    identity
        .events()
        .list(
            &EventQuery::default(),
            PageRequest::new(1, 100).expect("valid page"),
        )
        .await
        .expect("events")
        .data
}

/// Runs `mutation` and answers the events it recorded, oldest first.
async fn recorded_by<F, Fut, T>(f: &Fixture, mutation: F) -> Vec<Event>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let before = all_events(&f.identity).await.len();
    f.clock.advance(Duration::minutes(1));
    mutation().await;
    let mut events = all_events(&f.identity).await;
    events.truncate(events.len() - before);
    events.reverse();
    events
}

/// The one event `events` should hold, with everything but `id` and `details` as expected.
#[track_caller]
fn assert_one(
    events: &[Event],
    code: &EventCode,
    tenant: Option<&OrgDomain>,
    client_id: Option<ClientId>,
    user: Option<(UserId, &str)>,
) -> Event {
    assert_eq!(events.len(), 1, "exactly one event: {events:?}");
    let e = events[0].clone();
    assert_eq!(&e.event_code, code);
    assert_eq!(e.tenant_domain.as_ref(), tenant);
    assert_eq!(e.client_id, client_id);
    assert_eq!(e.resource_owner_id, user.map(|(id, _)| id));
    assert_eq!(
        e.email.as_ref().map(Email::as_str),
        user.map(|(_, email)| email)
    );
    assert_eq!(e.saml_identity_provider_id, None);
    assert_eq!(e.database, Environment::Sandbox);
    e
}

fn details(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn creating_an_organization_records_one_event() {
    let f = fixture();
    let mut domain = None;
    let events = recorded_by(&f, || async {
        domain = Some(organization(&f.identity, "Misapret").await);
    })
    .await;
    let e = assert_one(
        &events,
        &EventCode::ORGANIZATION_CREATED,
        domain.as_ref(),
        None,
        None,
    );
    assert_eq!(e.inserted_at, START + Duration::minutes(1));
    assert!(e.details.is_empty());
}

#[tokio::test]
async fn a_create_that_collided_records_one_event_for_the_domain_it_got() {
    let f = fixture();
    organization(&f.identity, "Misapret").await;
    let mut domain = None;
    let events = recorded_by(&f, || async {
        domain = Some(organization(&f.identity, "Misapret").await);
    })
    .await;
    assert_eq!(domain.as_ref().map(OrgDomain::as_str), Some("misapret-2"));
    assert_one(
        &events,
        &EventCode::ORGANIZATION_CREATED,
        domain.as_ref(),
        None,
        None,
    );
}

#[tokio::test]
async fn updating_an_organization_records_one_event_naming_the_fields() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    let events = recorded_by(&f, || async {
        f.identity
            .organizations()
            .update(
                &d,
                OrganizationUpdate::new()
                    .country_name("FR")
                    .and_then(|u| u.locality("Lille"))
                    .expect("valid"),
            )
            .await
    })
    .await;
    let e = assert_one(
        &events,
        &EventCode::ORGANIZATION_UPDATED,
        Some(&d),
        None,
        None,
    );
    assert_eq!(e.details, details(&[("fields", "locality,country_name")]));
}

#[tokio::test]
async fn deleting_an_organization_records_one_event() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    let events = recorded_by(&f, || async { f.identity.organizations().delete(&d).await }).await;
    assert_one(
        &events,
        &EventCode::ORGANIZATION_DELETED,
        Some(&d),
        None,
        None,
    );
}

#[tokio::test]
async fn creating_a_user_records_one_event_with_the_user() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    let mut id = None;
    let events = recorded_by(&f, || async {
        let user = f
            .identity
            .users(&d)
            .create(NewUser::new("janis.joplin@example.com").expect("valid email"))
            .await
            .expect("created");
        id = Some(user.id);
    })
    .await;
    assert_one(
        &events,
        &EventCode::USER_CREATED,
        Some(&d),
        None,
        Some((id.expect("created"), "janis.joplin@example.com")),
    );
}

#[tokio::test]
async fn updating_a_user_records_one_event_with_the_user_and_fields() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    let user = f
        .identity
        .users(&d)
        .create(NewUser::new("janis.joplin@example.com").expect("valid email"))
        .await
        .expect("created");
    let events = recorded_by(&f, || async {
        f.identity
            .users(&d)
            .update(
                user.id,
                ProfileChanges::new()
                    .given_name("Janis")
                    .expect("valid")
                    .email_verified(true),
            )
            .await
    })
    .await;
    let e = assert_one(
        &events,
        &EventCode::USER_UPDATED,
        Some(&d),
        None,
        Some((user.id, "janis.joplin@example.com")),
    );
    assert_eq!(
        e.details,
        details(&[("fields", "given_name,email_verified")])
    );
}

#[tokio::test]
async fn application_mutations_each_record_one_event_with_the_client_id() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    let apps = f
        .identity
        .applications(ApplicationScope::Organization(d.clone()));
    let mut id = None;
    let created = recorded_by(&f, || async {
        let app = apps
            .create(NewApplication::new("Backend", ApplicationType::Service).expect("valid"))
            .await
            .expect("created");
        id = Some(app.application.client_id);
    })
    .await;
    let id = id.expect("created");
    assert_one(
        &created,
        &EventCode::APPLICATION_CREATED,
        Some(&d),
        Some(id),
        None,
    );

    let updated = recorded_by(&f, || {
        apps.update(id, ApplicationUpdate::new().name("Renamed").expect("valid"))
    })
    .await;
    assert_one(
        &updated,
        &EventCode::APPLICATION_UPDATED,
        Some(&d),
        Some(id),
        None,
    );

    let rotated = recorded_by(&f, || apps.rotate_secret(id)).await;
    assert_one(
        &rotated,
        &EventCode::APPLICATION_SECRET_ROTATED,
        Some(&d),
        Some(id),
        None,
    );

    let deleted = recorded_by(&f, || apps.delete(id)).await;
    assert_one(
        &deleted,
        &EventCode::APPLICATION_DELETED,
        Some(&d),
        Some(id),
        None,
    );
}

#[tokio::test]
async fn a_global_applications_events_have_no_tenant() {
    let f = fixture();
    let apps = f.identity.applications(ApplicationScope::Global);
    let mut id = None;
    let events = recorded_by(&f, || async {
        let app = apps
            .create(NewApplication::new("App", ApplicationType::React).expect("valid"))
            .await
            .expect("created");
        id = Some(app.application.client_id);
    })
    .await;
    assert_one(&events, &EventCode::APPLICATION_CREATED, None, id, None);
}

#[tokio::test]
async fn refused_mutations_record_no_event() {
    let f = fixture();
    let a = organization(&f.identity, "Alpha").await;
    let b = organization(&f.identity, "Beta").await;
    let user = f
        .identity
        .users(&a)
        .create(NewUser::new("janis@example.com").expect("valid email"))
        .await
        .expect("created");
    let public = f
        .identity
        .applications(ApplicationScope::Global)
        .create(NewApplication::new("SPA", ApplicationType::React).expect("valid"))
        .await
        .expect("created")
        .application;
    let gone = organization(&f.identity, "Gone").await;
    f.identity
        .organizations()
        .delete(&gone)
        .await
        .expect("deleted");
    let before = all_events(&f.identity).await;

    let duplicate = f
        .identity
        .users(&a)
        .create(NewUser::new("JANIS@example.com").expect("valid email"))
        .await;
    assert!(duplicate.is_err());
    let cross_org = f
        .identity
        .users(&b)
        .update(user.id, ProfileChanges::new().nickname("X").expect("valid"))
        .await;
    assert!(cross_org.is_err());
    let bad_default = f
        .identity
        .applications(ApplicationScope::Global)
        .create(
            NewApplication::new("App", ApplicationType::React)
                .and_then(|n| n.with(|a| a.default_web_origin("https://app.example.com")))
                .expect("parses"),
        )
        .await;
    assert!(bad_default.is_err());
    let rotate_public = f
        .identity
        .applications(ApplicationScope::Global)
        .rotate_secret(public.client_id)
        .await;
    assert!(rotate_public.is_err());
    let update_deleted = f
        .identity
        .organizations()
        .update(
            &gone,
            OrganizationUpdate::new().locality("Lille").expect("valid"),
        )
        .await;
    assert!(update_deleted.is_err());
    let delete_deleted = f.identity.organizations().delete(&gone).await;
    assert!(delete_deleted.is_err());

    assert_eq!(all_events(&f.identity).await, before);
}

#[tokio::test]
async fn the_host_records_its_own_events() {
    let f = fixture();
    let d = organization(&f.identity, "Shark Academy").await;
    let client_id = ClientId::parse("81a81b21-93b9-441b-a861-a33dc8c06fea").expect("uuid");
    let owner = UserId::parse("75da33e9-2260-4e9e-89cc-528544b4a9a3").expect("uuid");
    let email = Email::parse("janis.joplin@example.com").expect("valid email");
    let mut new = NewEvent::new(EventCode::SSO_END_USER_SAML_STARTED, f.identity.now())
        .tenant(&d)
        .client(client_id)
        .user(owner, &email);
    new.saml_identity_provider_id = Some("shark_academy_GvApidtT9SDEcRoLebjKr9".to_owned());
    let recorded = f.identity.events().record(new).await.expect("recorded");
    assert_eq!(
        serde_json::to_value(&recorded).expect("json"),
        json!({
            "__type__": "Event",
            "client_id": "81a81b21-93b9-441b-a861-a33dc8c06fea",
            "database": "sandbox",
            "email": "janis.joplin@example.com",
            "event_code": "SSO_END_USER_SAML_STARTED",
            "id": recorded.id,
            "inserted_at": "2026-03-01T09:00:00Z",
            "resource_owner_id": "75da33e9-2260-4e9e-89cc-528544b4a9a3",
            "saml_identity_provider_id": "shark_academy_GvApidtT9SDEcRoLebjKr9",
            "tenant_domain": "shark-academy",
        })
    );
    assert_eq!(all_events(&f.identity).await.first(), Some(&recorded));
}

#[tokio::test]
async fn a_host_event_code_of_its_own_is_recorded_as_given() {
    let f = fixture();
    let code = EventCode::parse("INVOICE_SENT").expect("valid code");
    let recorded = f
        .identity
        .events()
        .record(NewEvent::new(code.clone(), f.identity.now()).detail("invoice", "42"))
        .await
        .expect("recorded");
    assert_eq!(recorded.event_code, code);
    assert_eq!(recorded.details, details(&[("invoice", "42")]));
    assert_eq!(recorded.tenant_domain, None);
}

#[tokio::test]
async fn event_ids_increase() {
    let f = fixture();
    let mut last = 0;
    for _ in 0..5 {
        let e = f
            .identity
            .events()
            .record(NewEvent::new(EventCode::USER_UPDATED, f.identity.now()))
            .await
            .expect("recorded");
        assert!(e.id > last, "{} after {last}", e.id);
        last = e.id;
    }
}

/// A store with, newest last: two SAML events for two providers and two clients in
/// `shark-academy`, and the directory's own events.
async fn sso_log() -> (Fixture, OrgDomain, ClientId, ClientId) {
    let f = fixture();
    let d = organization(&f.identity, "Shark Academy").await;
    let c1 = ClientId::parse("81a81b21-93b9-441b-a861-a33dc8c06fea").expect("uuid");
    let c2 = ClientId::parse("fd4006f2-1d80-445e-9b38-b11de549cc4f").expect("uuid");
    for (code, client, idp) in [
        (EventCode::SSO_END_USER_SAML_STARTED, c1, "idp_one"),
        (EventCode::SSO_END_USER_SAML_SUCCESS, c1, "idp_one"),
        (EventCode::SSO_END_USER_SAML_STARTED, c2, "idp_two"),
        (EventCode::SSO_END_USER_SAML_SUCCESS, c2, "idp_two"),
    ] {
        f.clock.advance(Duration::seconds(1));
        let mut e = NewEvent::new(code, f.identity.now())
            .tenant(&d)
            .client(client);
        e.saml_identity_provider_id = Some(idp.to_owned());
        f.identity.events().record(e).await.expect("recorded");
    }
    (f, d, c1, c2)
}

async fn query(f: &Fixture, q: &EventQuery) -> Vec<(String, Option<ClientId>, Option<String>)> {
    f.identity
        .events()
        .list(q, PageRequest::new(1, 100).expect("valid page"))
        .await
        .expect("events")
        .data
        .into_iter()
        .map(|e| {
            (
                e.event_code.to_string(),
                e.client_id,
                e.saml_identity_provider_id,
            )
        })
        .collect()
}

#[tokio::test]
async fn events_filter_by_code() {
    let (f, _, c1, c2) = sso_log().await;
    let got = query(
        &f,
        &EventQuery::default().code(EventCode::SSO_END_USER_SAML_SUCCESS),
    )
    .await;
    assert_eq!(
        got,
        [
            (
                "SSO_END_USER_SAML_SUCCESS".to_owned(),
                Some(c2),
                Some("idp_two".to_owned())
            ),
            (
                "SSO_END_USER_SAML_SUCCESS".to_owned(),
                Some(c1),
                Some("idp_one".to_owned())
            ),
        ]
    );
}

#[tokio::test]
async fn events_filter_by_client_id() {
    let (f, _, c1, _) = sso_log().await;
    let got = query(&f, &EventQuery::default().client_id(c1)).await;
    assert_eq!(
        got,
        [
            (
                "SSO_END_USER_SAML_SUCCESS".to_owned(),
                Some(c1),
                Some("idp_one".to_owned())
            ),
            (
                "SSO_END_USER_SAML_STARTED".to_owned(),
                Some(c1),
                Some("idp_one".to_owned())
            ),
        ]
    );
}

#[tokio::test]
async fn events_filter_by_saml_identity_provider_id() {
    let (f, _, _, c2) = sso_log().await;
    let got = query(
        &f,
        &EventQuery::default().saml_identity_provider_id("idp_two"),
    )
    .await;
    assert_eq!(
        got,
        [
            (
                "SSO_END_USER_SAML_SUCCESS".to_owned(),
                Some(c2),
                Some("idp_two".to_owned())
            ),
            (
                "SSO_END_USER_SAML_STARTED".to_owned(),
                Some(c2),
                Some("idp_two".to_owned())
            ),
        ]
    );
}

#[tokio::test]
async fn events_filters_combine() {
    let (f, d, c1, _) = sso_log().await;
    let got = query(
        &f,
        &EventQuery::tenant(&d)
            .code(EventCode::SSO_END_USER_SAML_STARTED)
            .client_id(c1)
            .saml_identity_provider_id("idp_one"),
    )
    .await;
    assert_eq!(
        got,
        [(
            "SSO_END_USER_SAML_STARTED".to_owned(),
            Some(c1),
            Some("idp_one".to_owned())
        )]
    );
    let none = query(
        &f,
        &EventQuery::default()
            .client_id(c1)
            .saml_identity_provider_id("idp_two"),
    )
    .await;
    assert!(none.is_empty());
}

#[tokio::test]
async fn events_filter_by_tenant() {
    let (f, d, _, _) = sso_log().await;
    let other = organization(&f.identity, "Other").await;
    let got = query(&f, &EventQuery::tenant(&other)).await;
    assert_eq!(got, [("ORGANIZATION_CREATED".to_owned(), None, None)]);
    assert_eq!(query(&f, &EventQuery::tenant(&d)).await.len(), 5);
}

#[tokio::test]
async fn events_page_newest_first() {
    let (f, _, _, _) = sso_log().await;
    let page = |n| PageRequest::new(n, 2).expect("valid page");
    let all = all_events(&f.identity).await;
    let ids: Vec<i64> = all.iter().map(|e| e.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");

    let second = f
        .identity
        .events()
        .list(&EventQuery::default(), page(2))
        .await
        .expect("events");
    assert_eq!(second.total, 5);
    assert_eq!(
        second.data.iter().map(|e| e.id).collect::<Vec<_>>(),
        ids[2..4]
    );
    assert_eq!(second.pagination.current_page, 2);
    assert_eq!(second.pagination.next_page, 3);
    assert_eq!(second.pagination.prev_page, 1);
    assert_eq!(second.pagination.total_pages, 3);
    let past = f
        .identity
        .events()
        .list(&EventQuery::default(), page(4))
        .await
        .expect("events");
    assert!(past.data.is_empty());
    assert_eq!(past.pagination.prev_page, 3);
}
