//! Sandbox and production on one store: two worlds that never see each other.

mod common;

use common::{Fixture, assert_not_found, fixture_on, organization};
use idcore::audit::{EventCode, EventQuery};
use idcore::{
    ApplicationScope, ApplicationType, Environment, Identity, MemoryStore, NewApplication, NewUser,
    PageRequest, Resource,
};
use serde_json::json;

/// A sandbox and a production identity on clones of one store.
fn both() -> (Fixture, Fixture) {
    let store = MemoryStore::new();
    (
        fixture_on(Environment::Sandbox, store.clone()),
        fixture_on(Environment::Production, store),
    )
}

async fn event_codes(identity: &Identity<MemoryStore>) -> Vec<String> {
    identity
        .events()
        .list(
            &EventQuery::default(),
            PageRequest::new(1, 100).expect("valid page"),
        )
        .await
        .expect("events")
        .data
        .into_iter()
        .map(|e| e.event_code.to_string())
        .collect()
}

#[tokio::test]
async fn an_organization_of_one_environment_is_invisible_in_the_other() {
    let (sandbox, production) = both();
    let d = organization(&sandbox.identity, "Misapret").await;
    assert_not_found(
        production.identity.organizations().retrieve(&d).await,
        Resource::Organization,
    );
    let list = production
        .identity
        .organizations()
        .list(PageRequest::default())
        .await
        .expect("list");
    assert_eq!(list.total, 0);
    assert!(list.data.is_empty());
}

#[tokio::test]
async fn the_same_name_gives_the_same_domain_in_both_environments() {
    let (sandbox, production) = both();
    let in_sandbox = organization(&sandbox.identity, "Misapret").await;
    let in_production = organization(&production.identity, "Misapret").await;
    assert_eq!(in_sandbox.as_str(), "misapret");
    assert_eq!(in_production, in_sandbox);
}

#[tokio::test]
async fn records_carry_their_environment() {
    let (_, production) = both();
    let d = organization(&production.identity, "Misapret").await;
    let org = production
        .identity
        .organizations()
        .retrieve(&d)
        .await
        .expect("retrieved")
        .active()
        .expect("live");
    assert_eq!(org.environment, Environment::Production);
    assert_eq!(
        serde_json::to_value(&org).expect("json")["__environment__"],
        json!("production")
    );
    let user = production
        .identity
        .users(&d)
        .create(NewUser::new("janis@example.com").expect("valid email"))
        .await
        .expect("created");
    let json = serde_json::to_value(&user).expect("json");
    assert_eq!(json["__environment__"], json!("production"));
    assert_eq!(json["profile"]["__environment__"], json!("production"));
}

#[tokio::test]
async fn users_of_one_environment_are_invisible_in_the_other() {
    let (sandbox, production) = both();
    let d = organization(&sandbox.identity, "Misapret").await;
    organization(&production.identity, "Misapret").await;
    let user = sandbox
        .identity
        .users(&d)
        .create(NewUser::new("janis@example.com").expect("valid email"))
        .await
        .expect("created");
    let prod_users = production.identity.users(&d);
    assert_not_found(prod_users.retrieve(user.id).await, Resource::User);
    assert_not_found(
        prod_users.retrieve_by_email(&user.profile.email).await,
        Resource::User,
    );
    assert_eq!(
        prod_users
            .list(PageRequest::default())
            .await
            .expect("list")
            .total,
        0
    );
    prod_users
        .create(NewUser::new("janis@example.com").expect("valid email"))
        .await
        .expect("the same e-mail is free in production");
}

#[tokio::test]
async fn applications_of_one_environment_are_invisible_in_the_other() {
    let (sandbox, production) = both();
    let app = sandbox
        .identity
        .applications(ApplicationScope::Global)
        .create(NewApplication::new("App", ApplicationType::React).expect("valid name"))
        .await
        .expect("created")
        .application;
    let prod_apps = production.identity.applications(ApplicationScope::Global);
    assert_not_found(
        prod_apps.retrieve(app.client_id).await,
        Resource::Application,
    );
    assert_not_found(prod_apps.delete(app.client_id).await, Resource::Application);
    assert_eq!(
        prod_apps
            .list(PageRequest::default())
            .await
            .expect("list")
            .total,
        0
    );
}

#[tokio::test]
async fn deleting_in_one_environment_leaves_the_other_untouched() {
    let (sandbox, production) = both();
    let d = organization(&sandbox.identity, "Misapret").await;
    organization(&production.identity, "Misapret").await;
    sandbox
        .identity
        .organizations()
        .delete(&d)
        .await
        .expect("deleted");
    assert!(
        production
            .identity
            .organizations()
            .retrieve(&d)
            .await
            .expect("retrieved")
            .active()
            .is_some()
    );
}

#[tokio::test]
async fn events_are_kept_per_environment() {
    let (sandbox, production) = both();
    let d = organization(&sandbox.identity, "Misapret").await;
    sandbox
        .identity
        .users(&d)
        .create(NewUser::new("janis@example.com").expect("valid email"))
        .await
        .expect("created");
    organization(&production.identity, "Other").await;
    assert_eq!(
        event_codes(&sandbox.identity).await,
        ["USER_CREATED", "ORGANIZATION_CREATED"]
    );
    assert_eq!(
        event_codes(&production.identity).await,
        ["ORGANIZATION_CREATED"]
    );
}

#[tokio::test]
async fn events_name_their_database() {
    let (sandbox, production) = both();
    organization(&sandbox.identity, "Misapret").await;
    organization(&production.identity, "Misapret").await;
    let query = EventQuery::default().code(EventCode::ORGANIZATION_CREATED);
    for (identity, env, name) in [
        (&sandbox.identity, Environment::Sandbox, "sandbox"),
        (&production.identity, Environment::Production, "production"),
    ] {
        let events = identity
            .events()
            .list(&query, PageRequest::default())
            .await
            .expect("events");
        assert_eq!(events.total, 1);
        assert_eq!(events.data[0].database, env);
        assert_eq!(
            serde_json::to_value(&events.data[0]).expect("json")["database"],
            json!(name)
        );
    }
}

#[test]
fn environment_defaults_to_sandbox() {
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .store(MemoryStore::new())
        .build()
        .expect("valid configuration");
    assert_eq!(identity.environment(), Environment::Sandbox);
}

#[test]
fn environment_wire_names_are_sandbox_and_production() {
    assert_eq!(Environment::Sandbox.as_str(), "sandbox");
    assert_eq!(Environment::Production.as_str(), "production");
    assert_eq!(
        Environment::parse("production"),
        Ok(Environment::Production)
    );
    assert_eq!(Environment::parse("sandbox"), Ok(Environment::Sandbox));
    assert_eq!(
        Environment::parse("Production"),
        Err(idcore::FieldProblem::Format(
            "must be sandbox or production"
        ))
    );
}
