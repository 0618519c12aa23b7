//! Applications: public and confidential clients, secrets shown once, allowed URLs and their
//! defaults, scope isolation, deletion.

mod common;

use common::{START, assert_invalid, assert_not_found, fixture, format, organization};
use idcore::directory::{Application, ClientId, CreatedApplication, Retrieved};
use idcore::secret::Secret;
use idcore::{
    ApplicationScope, ApplicationType, ApplicationUpdate, FieldProblem, Identity, MemoryStore,
    NewApplication, OrgDomain, PageRequest, Resource,
};
use serde_json::json;
use time::Duration;

const PUBLIC: [ApplicationType; 3] = [
    ApplicationType::React,
    ApplicationType::Vue,
    ApplicationType::Angular,
];
const CONFIDENTIAL: [ApplicationType; 2] = [ApplicationType::RegularWeb, ApplicationType::Service];

fn scoped(org: &OrgDomain) -> ApplicationScope {
    ApplicationScope::Organization(org.clone())
}

async fn create(
    identity: &Identity<MemoryStore>,
    scope: ApplicationScope,
    kind: ApplicationType,
) -> CreatedApplication {
    identity
        .applications(scope)
        .create(NewApplication::new("App of Misapret", kind).expect("valid name"))
        .await
        .expect("application created")
}

async fn live(
    identity: &Identity<MemoryStore>,
    scope: ApplicationScope,
    id: ClientId,
) -> Application {
    identity
        .applications(scope)
        .retrieve(id)
        .await
        .expect("retrieved")
        .active()
        .expect("live")
}

fn spa() -> NewApplication {
    NewApplication::new("App of Misapret", ApplicationType::React)
        .and_then(|n| {
            n.with(|a| {
                a.description("Everything to deal with bank")?
                    .allowed_redirect_urls(&["http://localhost:3000/callback"])?
                    .allowed_logout_urls(&["http://localhost:3000/bye"])?
                    .allowed_origins_cors(&["http://localhost:3000"])?
                    .allowed_web_origins(&["http://localhost:3000"])?
                    .default_redirect_uri_after_login("http://localhost:3000/callback")?
                    .default_redirect_uri_after_logout("http://localhost:3000/bye")?
                    .default_origin_cors("http://localhost:3000")?
                    .default_web_origin("http://localhost:3000")
            })
        })
        .expect("valid application")
}

#[tokio::test]
async fn public_types_get_no_secret() {
    let f = fixture();
    for kind in PUBLIC {
        let created = create(&f.identity, ApplicationScope::Global, kind).await;
        assert!(created.client_secret.is_none(), "{kind:?}");
        assert!(
            created.application.client_secret_digest.is_none(),
            "{kind:?}"
        );
        assert!(!kind.is_confidential());
    }
}

#[tokio::test]
async fn confidential_types_get_a_secret_whose_digest_verifies() {
    let f = fixture();
    for kind in CONFIDENTIAL {
        let created = create(&f.identity, ApplicationScope::Global, kind).await;
        let secret = created.client_secret.expect("a secret, shown once");
        assert_eq!(secret.expose().len(), 43, "256 bits in base64url");
        let stored = live(
            &f.identity,
            ApplicationScope::Global,
            created.application.client_id,
        )
        .await;
        assert!(stored.verify_secret(&secret), "{kind:?}");
        assert!(kind.is_confidential());
    }
}

#[tokio::test]
async fn a_wrong_secret_does_not_verify() {
    let f = fixture();
    let created = create(
        &f.identity,
        ApplicationScope::Global,
        ApplicationType::Service,
    )
    .await;
    let app = created.application;
    assert!(!app.verify_secret(&Secret::from_presented("not the secret")));
    assert!(!app.verify_secret(&Secret::from_presented("")));
}

#[tokio::test]
async fn a_public_client_verifies_no_secret() {
    let f = fixture();
    let created = create(
        &f.identity,
        ApplicationScope::Global,
        ApplicationType::React,
    )
    .await;
    assert!(
        !created
            .application
            .verify_secret(&Secret::from_presented(""))
    );
}

#[tokio::test]
async fn application_json_never_contains_the_secret_or_its_digest() {
    let f = fixture();
    let created = create(
        &f.identity,
        ApplicationScope::Global,
        ApplicationType::RegularWeb,
    )
    .await;
    let secret = created.client_secret.as_ref().expect("a secret");
    let digest = secret.digest();
    let text = serde_json::to_string(&created.application).expect("json");
    assert!(!text.contains(secret.expose()));
    assert!(!text.contains(&digest.to_hex()));
    assert!(!text.contains("secret"), "{text}");
    assert!(!format!("{:?}", created.client_secret).contains(secret.expose()));
}

#[tokio::test]
async fn application_json_has_the_seed_shape() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let app = f
        .identity
        .applications(scoped(&org))
        .create(spa())
        .await
        .expect("created")
        .application;
    assert_eq!(
        serde_json::to_value(&app).expect("json"),
        json!({
            "__type__": "Application",
            "access_token_validity": null,
            "id_token_validity": null,
            "refresh_token_validity": null,
            "__domain__": "misapret",
            "__environment__": "sandbox",
            "__managed_by__": "auth.example.com",
            "allowed_logout_urls": ["http://localhost:3000/bye"],
            "allowed_origins_cors": ["http://localhost:3000"],
            "allowed_redirect_urls": ["http://localhost:3000/callback"],
            "allowed_web_origins": ["http://localhost:3000"],
            "application_type": "react",
            "client_id": app.client_id.to_string(),
            "default_origin_cors": "http://localhost:3000",
            "default_redirect_uri_after_login": "http://localhost:3000/callback",
            "default_redirect_uri_after_logout": "http://localhost:3000/bye",
            "default_web_origin": "http://localhost:3000",
            "description": "Everything to deal with bank",
            "id": app.client_id.to_string(),
            "inserted_at": "2026-03-01T09:00:00Z",
            "name": "App of Misapret",
            "organization_domain_scope": "misapret",
            "updated_at": "2026-03-01T09:00:00Z",
        })
    );
}

#[tokio::test]
async fn a_global_application_has_no_domain_in_json() {
    let f = fixture();
    let app = create(&f.identity, ApplicationScope::Global, ApplicationType::Vue)
        .await
        .application;
    let value = serde_json::to_value(&app).expect("json");
    assert_eq!(value["__domain__"], json!(null));
    assert_eq!(value["organization_domain_scope"], json!(null));
    assert_eq!(value["application_type"], json!("vue"));
}

#[tokio::test]
async fn client_ids_are_uuids() {
    let f = fixture();
    let app = create(
        &f.identity,
        ApplicationScope::Global,
        ApplicationType::React,
    )
    .await
    .application;
    assert_eq!(app.client_id.as_uuid().get_version_num(), 7);
    assert_eq!(
        ClientId::parse(&app.client_id.to_string()),
        Ok(app.client_id)
    );
}

#[tokio::test]
async fn rotate_secret_invalidates_the_old_one() {
    let f = fixture();
    let created = create(
        &f.identity,
        ApplicationScope::Global,
        ApplicationType::Service,
    )
    .await;
    let old = created.client_secret.expect("a secret");
    let id = created.application.client_id;
    let new = f
        .identity
        .applications(ApplicationScope::Global)
        .rotate_secret(id)
        .await
        .expect("rotated");
    assert_ne!(new, old);
    let stored = live(&f.identity, ApplicationScope::Global, id).await;
    assert!(stored.verify_secret(&new));
    assert!(!stored.verify_secret(&old));
}

#[tokio::test]
async fn rotate_secret_on_a_public_client_is_refused() {
    let f = fixture();
    let app = create(
        &f.identity,
        ApplicationScope::Global,
        ApplicationType::Angular,
    )
    .await
    .application;
    assert_invalid(
        f.identity
            .applications(ApplicationScope::Global)
            .rotate_secret(app.client_id)
            .await,
        "application_type",
        format("public clients have no secret"),
    );
    assert_eq!(
        live(&f.identity, ApplicationScope::Global, app.client_id).await,
        app
    );
}

#[tokio::test]
async fn switching_a_public_client_to_a_confidential_type_is_refused() {
    let f = fixture();
    let app = create(
        &f.identity,
        ApplicationScope::Global,
        ApplicationType::React,
    )
    .await
    .application;
    assert_invalid(
        f.identity
            .applications(ApplicationScope::Global)
            .update(
                app.client_id,
                ApplicationUpdate::new().application_type(ApplicationType::RegularWeb),
            )
            .await,
        "application_type",
        format("cannot switch between public and confidential types"),
    );
    assert_eq!(
        live(&f.identity, ApplicationScope::Global, app.client_id).await,
        app
    );
}

#[tokio::test]
async fn switching_a_confidential_client_to_a_public_type_is_refused() {
    let f = fixture();
    let app = create(
        &f.identity,
        ApplicationScope::Global,
        ApplicationType::Service,
    )
    .await
    .application;
    assert_invalid(
        f.identity
            .applications(ApplicationScope::Global)
            .update(
                app.client_id,
                ApplicationUpdate::new().application_type(ApplicationType::Vue),
            )
            .await,
        "application_type",
        format("cannot switch between public and confidential types"),
    );
}

#[tokio::test]
async fn switching_between_public_types_is_allowed() {
    let f = fixture();
    let app = create(
        &f.identity,
        ApplicationScope::Global,
        ApplicationType::React,
    )
    .await
    .application;
    let updated = f
        .identity
        .applications(ApplicationScope::Global)
        .update(
            app.client_id,
            ApplicationUpdate::new().application_type(ApplicationType::Vue),
        )
        .await
        .expect("updated");
    assert_eq!(updated.application_type, ApplicationType::Vue);
}

#[tokio::test]
async fn a_default_outside_its_allowed_list_is_refused_at_create() {
    let f = fixture();
    let apps = f.identity.applications(ApplicationScope::Global);
    type Setter = fn(ApplicationUpdate) -> Result<ApplicationUpdate, idcore::Error>;
    let cases: [(&str, Setter); 4] = [
        ("default_redirect_uri_after_login", |a| {
            a.allowed_redirect_urls(&["https://app.example.com/cb"])?
                .default_redirect_uri_after_login("https://app.example.com/other")
        }),
        ("default_redirect_uri_after_logout", |a| {
            a.allowed_logout_urls(&["https://app.example.com/bye"])?
                .default_redirect_uri_after_logout("https://evil.example.com/bye")
        }),
        ("default_origin_cors", |a| {
            a.allowed_origins_cors(&["https://app.example.com"])?
                .default_origin_cors("https://evil.example.com")
        }),
        ("default_web_origin", |a| {
            a.default_web_origin("https://app.example.com")
        }),
    ];
    for (field, setter) in cases {
        let new = NewApplication::new("App", ApplicationType::React)
            .and_then(|n| n.with(setter))
            .expect("each value parses");
        assert_invalid(
            apps.create(new).await,
            field,
            format("must be one of the allowed urls of the application"),
        );
    }
    let list = apps.list(PageRequest::default()).await.expect("list");
    assert_eq!(list.total, 0, "nothing was created");
}

#[tokio::test]
async fn an_update_that_leaves_a_default_outside_its_list_is_refused() {
    let f = fixture();
    let apps = f.identity.applications(ApplicationScope::Global);
    let app = apps.create(spa()).await.expect("created").application;
    assert_invalid(
        apps.update(
            app.client_id,
            ApplicationUpdate::new()
                .allowed_redirect_urls(&["http://localhost:4000/callback"])
                .expect("valid urls"),
        )
        .await,
        "default_redirect_uri_after_login",
        format("must be one of the allowed urls of the application"),
    );
    assert_eq!(
        live(&f.identity, ApplicationScope::Global, app.client_id).await,
        app
    );
}

#[tokio::test]
async fn duplicates_in_allowed_lists_are_dropped_keeping_the_first_order() {
    let f = fixture();
    let new = NewApplication::new("App", ApplicationType::React)
        .and_then(|n| {
            n.with(|a| {
                a.allowed_redirect_urls(&[
                    "https://b.example.com/cb",
                    "https://a.example.com/cb",
                    "https://b.example.com/cb",
                ])?
                .allowed_origins_cors(&["https://a.example.com", "https://a.example.com"])
            })
        })
        .expect("valid");
    let app = f
        .identity
        .applications(ApplicationScope::Global)
        .create(new)
        .await
        .expect("created")
        .application;
    let redirects: Vec<&str> = app
        .allowed_redirect_urls
        .iter()
        .map(|u| u.as_str())
        .collect();
    assert_eq!(
        redirects,
        ["https://b.example.com/cb", "https://a.example.com/cb"]
    );
    let origins: Vec<&str> = app
        .allowed_origins_cors
        .iter()
        .map(|u| u.as_str())
        .collect();
    assert_eq!(origins, ["https://a.example.com"]);
}

#[test]
fn more_than_fifty_allowed_urls_are_refused() {
    let urls: Vec<String> = (0..51)
        .map(|i| format!("https://app{i}.example.com"))
        .collect();
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    assert_invalid(
        ApplicationUpdate::new().allowed_web_origins(&refs),
        "allowed_web_origins",
        FieldProblem::OutOfRange { min: 0, max: 50 },
    );
    assert!(
        ApplicationUpdate::new()
            .allowed_web_origins(&refs[..50])
            .is_ok()
    );
}

#[tokio::test]
async fn update_changes_only_the_given_fields() {
    let f = fixture();
    let apps = f.identity.applications(ApplicationScope::Global);
    let before = apps.create(spa()).await.expect("created").application;
    f.clock.advance(Duration::minutes(3));
    let after = apps
        .update(
            before.client_id,
            ApplicationUpdate::new()
                .name("Renamed")
                .expect("valid name"),
        )
        .await
        .expect("updated");
    let mut expected = before.clone();
    expected.name = idcore::directory::Name::parse("Renamed").expect("name");
    expected.updated_at = START + Duration::minutes(3);
    expected.version = before.version + 1;
    assert_eq!(after, expected);
}

#[tokio::test]
async fn an_organizations_application_is_not_found_through_another_organization() {
    let f = fixture();
    let a = organization(&f.identity, "Alpha").await;
    let b = organization(&f.identity, "Beta").await;
    let app = create(&f.identity, scoped(&a), ApplicationType::Service)
        .await
        .application;
    let other = f.identity.applications(scoped(&b));
    assert_not_found(other.retrieve(app.client_id).await, Resource::Application);
    assert_not_found(
        other
            .update(
                app.client_id,
                ApplicationUpdate::new().name("X").expect("valid"),
            )
            .await,
        Resource::Application,
    );
    assert_not_found(
        other.rotate_secret(app.client_id).await,
        Resource::Application,
    );
    assert_not_found(other.delete(app.client_id).await, Resource::Application);
    assert_eq!(live(&f.identity, scoped(&a), app.client_id).await, app);
}

#[tokio::test]
async fn an_organizations_application_is_not_found_through_the_global_scope() {
    let f = fixture();
    let a = organization(&f.identity, "Alpha").await;
    let app = create(&f.identity, scoped(&a), ApplicationType::React)
        .await
        .application;
    let global = f.identity.applications(ApplicationScope::Global);
    assert_not_found(global.retrieve(app.client_id).await, Resource::Application);
    assert_not_found(
        global
            .update(
                app.client_id,
                ApplicationUpdate::new().name("X").expect("valid"),
            )
            .await,
        Resource::Application,
    );
    assert_not_found(global.delete(app.client_id).await, Resource::Application);
}

#[tokio::test]
async fn a_global_application_is_not_found_through_an_organization_scope() {
    let f = fixture();
    let a = organization(&f.identity, "Alpha").await;
    let app = create(
        &f.identity,
        ApplicationScope::Global,
        ApplicationType::React,
    )
    .await
    .application;
    assert_not_found(
        f.identity
            .applications(scoped(&a))
            .retrieve(app.client_id)
            .await,
        Resource::Application,
    );
}

#[tokio::test]
async fn delete_answers_a_tombstone_and_retrieve_answers_it_again() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let apps = f.identity.applications(scoped(&org));
    let app = apps.create(spa()).await.expect("created").application;
    f.clock.advance(Duration::minutes(1));
    let tombstone = apps.delete(app.client_id).await.expect("deleted");
    let retrieved = apps.retrieve(app.client_id).await.expect("retrieved");
    assert_eq!(retrieved, Retrieved::Deleted(tombstone));
    assert_eq!(
        serde_json::to_value(&retrieved).expect("json"),
        json!({
            "__type__": "Application",
            "id": app.client_id.to_string(),
            "domain": "misapret",
            "deleted": true,
            "deleted_at": "2026-03-01T09:01:00Z",
        })
    );
}

#[tokio::test]
async fn a_deleted_global_applications_tombstone_has_no_domain() {
    let f = fixture();
    let apps = f.identity.applications(ApplicationScope::Global);
    let app = create(
        &f.identity,
        ApplicationScope::Global,
        ApplicationType::React,
    )
    .await
    .application;
    let tombstone = apps.delete(app.client_id).await.expect("deleted");
    assert_eq!(tombstone.domain, None);
    assert!(
        serde_json::to_value(&tombstone)
            .expect("json")
            .get("domain")
            .is_none()
    );
}

#[tokio::test]
async fn a_deleted_application_cannot_be_updated_rotated_or_deleted_again() {
    let f = fixture();
    let apps = f.identity.applications(ApplicationScope::Global);
    let app = create(
        &f.identity,
        ApplicationScope::Global,
        ApplicationType::Service,
    )
    .await
    .application;
    apps.delete(app.client_id).await.expect("deleted");
    assert_not_found(
        apps.update(
            app.client_id,
            ApplicationUpdate::new().name("X").expect("valid"),
        )
        .await,
        Resource::Application,
    );
    assert_not_found(
        apps.rotate_secret(app.client_id).await,
        Resource::Application,
    );
    assert_not_found(apps.delete(app.client_id).await, Resource::Application);
}

#[tokio::test]
async fn an_unknown_client_id_is_not_found() {
    let f = fixture();
    let unknown = ClientId::parse("d6fce3c1-5d21-4643-ac1e-8bc991c08c49").expect("uuid");
    assert_not_found(
        f.identity
            .applications(ApplicationScope::Global)
            .retrieve(unknown)
            .await,
        Resource::Application,
    );
}

#[tokio::test]
async fn list_shows_only_the_scopes_live_applications_newest_first() {
    let f = fixture();
    let a = organization(&f.identity, "Alpha").await;
    let b = organization(&f.identity, "Beta").await;
    let first = create(&f.identity, scoped(&a), ApplicationType::React)
        .await
        .application;
    f.clock.advance(Duration::seconds(1));
    let second = create(&f.identity, scoped(&a), ApplicationType::Service)
        .await
        .application;
    f.clock.advance(Duration::seconds(1));
    let deleted = create(&f.identity, scoped(&a), ApplicationType::Vue)
        .await
        .application;
    f.identity
        .applications(scoped(&a))
        .delete(deleted.client_id)
        .await
        .expect("deleted");
    let in_b = create(&f.identity, scoped(&b), ApplicationType::React)
        .await
        .application;
    let global = create(
        &f.identity,
        ApplicationScope::Global,
        ApplicationType::React,
    )
    .await
    .application;

    let ids = |list: idcore::List<Application>| -> Vec<ClientId> {
        list.data.iter().map(|app| app.client_id).collect()
    };
    let page = PageRequest::default();
    let list_a = f
        .identity
        .applications(scoped(&a))
        .list(page)
        .await
        .expect("list");
    assert_eq!(list_a.total, 2);
    assert_eq!(ids(list_a), [second.client_id, first.client_id]);
    let list_b = f
        .identity
        .applications(scoped(&b))
        .list(page)
        .await
        .expect("list");
    assert_eq!(ids(list_b), [in_b.client_id]);
    let list_global = f
        .identity
        .applications(ApplicationScope::Global)
        .list(page)
        .await
        .expect("list");
    assert_eq!(ids(list_global), [global.client_id]);
}

#[tokio::test]
async fn applications_of_an_unknown_organization_are_organization_not_found() {
    let f = fixture();
    let nowhere = OrgDomain::parse("nowhere").expect("valid domain");
    let apps = f.identity.applications(scoped(&nowhere));
    assert_not_found(apps.create(spa()).await, Resource::Organization);
    assert_not_found(
        apps.list(PageRequest::default()).await,
        Resource::Organization,
    );
}

#[tokio::test]
async fn applications_of_a_deleted_organization_are_organization_not_found() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let app = create(&f.identity, scoped(&org), ApplicationType::Service)
        .await
        .application;
    f.identity
        .organizations()
        .delete(&org)
        .await
        .expect("deleted");
    let apps = f.identity.applications(scoped(&org));
    assert_not_found(apps.retrieve(app.client_id).await, Resource::Organization);
    assert_not_found(
        apps.rotate_secret(app.client_id).await,
        Resource::Organization,
    );
    assert_not_found(apps.delete(app.client_id).await, Resource::Organization);
    assert_not_found(apps.create(spa()).await, Resource::Organization);
    assert_not_found(
        apps.list(PageRequest::default()).await,
        Resource::Organization,
    );
}
