//! Organizations: slug domains, collisions, partial updates, deletion, newest-first lists.

mod common;

use std::collections::HashSet;

use common::{START, assert_invalid, assert_not_found, fixture, format, organization};
use idcore::directory::{OrganizationField, Retrieved};
use idcore::{MemoryStore, NewOrganization, OrgDomain, OrganizationUpdate, PageRequest, Resource};
use serde_json::json;
use time::Duration;

fn domain(s: &str) -> OrgDomain {
    OrgDomain::parse(s).expect("a valid domain")
}

async fn names_in_list(identity: &idcore::Identity<MemoryStore>) -> Vec<String> {
    identity
        .organizations()
        .list(PageRequest::new(1, 100).expect("valid page"))
        .await
        .expect("list")
        .data
        .into_iter()
        .map(|o| o.name.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn domain_is_the_slug_of_the_name() {
    let f = fixture();
    assert_eq!(
        organization(&f.identity, "Awesome company").await.as_str(),
        "awesome-company"
    );
}

#[tokio::test]
async fn unicode_names_are_transliterated_into_the_domain() {
    let f = fixture();
    for (name, expected) in [
        ("Crème Brûlée & Co", "creme-brulee-co"),
        ("Société Générale", "societe-generale"),
        ("Straße", "strasse"),
        ("東京", "dong-jing"),
    ] {
        assert_eq!(
            organization(&f.identity, name).await.as_str(),
            expected,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_long_name_gives_a_domain_of_at_most_63_characters() {
    let f = fixture();
    let name = "word ".repeat(40);
    let d = organization(&f.identity, &name).await;
    assert!(d.as_str().len() <= 63, "{d}");
    assert_eq!(OrgDomain::parse(d.as_str()).expect("a valid domain"), d);
    assert!(!d.as_str().ends_with('-'));
}

#[tokio::test]
async fn sequential_collisions_get_numbered_suffixes() {
    let f = fixture();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(organization(&f.identity, "Misapret").await.to_string());
    }
    assert_eq!(got, ["misapret", "misapret-2", "misapret-3"]);
}

#[tokio::test]
async fn after_twenty_numbered_domains_collisions_get_eight_random_hex_digits() {
    let f = fixture();
    let mut numbered = Vec::new();
    for _ in 0..20 {
        numbered.push(organization(&f.identity, "Acme").await.to_string());
    }
    let mut expected = vec!["acme".to_owned()];
    expected.extend((2..=20).map(|n| format!("acme-{n}")));
    assert_eq!(numbered, expected);

    let d = organization(&f.identity, "Acme").await;
    let suffix = d.as_str().strip_prefix("acme-").expect("acme- prefix");
    assert_eq!(suffix.len(), 8, "{d}");
    assert!(
        suffix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{d}"
    );
}

#[tokio::test]
async fn a_name_colliding_with_a_suffixed_domain_takes_the_next_free_number() {
    let f = fixture();
    assert_eq!(
        organization(&f.identity, "Misapret 2").await.as_str(),
        "misapret-2"
    );
    assert_eq!(
        organization(&f.identity, "Misapret").await.as_str(),
        "misapret"
    );
    assert_eq!(
        organization(&f.identity, "Misapret").await.as_str(),
        "misapret-3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_hundred_concurrent_creates_of_one_name_get_one_hundred_distinct_domains() {
    let f = fixture();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let identity = f.identity.clone();
            tokio::spawn(async move { organization(&identity, "Shark Academy").await })
        })
        .collect();
    let mut domains = HashSet::new();
    for task in tasks {
        domains.insert(task.await.expect("task").to_string());
    }
    assert_eq!(domains.len(), 100);
    // Every numbered domain is tried before any random one, so all twenty were taken.
    assert!(domains.contains("shark-academy"));
    for n in 2..=20 {
        assert!(
            domains.contains(&format!("shark-academy-{n}")),
            "shark-academy-{n}"
        );
    }
    let list = f
        .identity
        .organizations()
        .list(PageRequest::new(1, 100).expect("valid page"))
        .await
        .expect("list");
    assert_eq!(list.total, 100);
    let listed: HashSet<String> = list.data.iter().map(|o| o.domain.to_string()).collect();
    assert_eq!(listed, domains);
}

#[tokio::test]
async fn a_deleted_organizations_domain_stays_reserved() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    f.identity
        .organizations()
        .delete(&d)
        .await
        .expect("deleted");
    assert_eq!(
        organization(&f.identity, "Misapret").await.as_str(),
        "misapret-2"
    );
    assert!(matches!(
        f.identity.organizations().retrieve(&d).await,
        Ok(Retrieved::Deleted(_))
    ));
}

#[tokio::test]
async fn create_keeps_every_given_field() {
    let f = fixture();
    let org = f
        .identity
        .organizations()
        .create(
            NewOrganization::new("Misapret")
                .and_then(|n| n.locality("Lille"))
                .and_then(|n| n.state("Nord"))
                .and_then(|n| n.country_name("fr"))
                .and_then(|n| n.privacy_policy_url("https://misapret.com/policy"))
                .and_then(|n| n.terms_of_service_url("https://misapret.com/terms"))
                .expect("valid input"),
        )
        .await
        .expect("created");
    assert_eq!(org.name.as_str(), "Misapret");
    assert_eq!(org.locality.as_ref().map(|v| v.as_str()), Some("Lille"));
    assert_eq!(org.state.as_ref().map(|v| v.as_str()), Some("Nord"));
    assert_eq!(
        org.country_name.map(|c| c.to_string()).as_deref(),
        Some("FR")
    );
    assert_eq!(
        org.privacy_policy_url.as_ref().map(|v| v.as_str()),
        Some("https://misapret.com/policy")
    );
    assert_eq!(
        org.terms_of_service_url.as_ref().map(|v| v.as_str()),
        Some("https://misapret.com/terms")
    );
    assert_eq!(org.inserted_at, START);
    assert_eq!(org.updated_at, START);
    let retrieved = f
        .identity
        .organizations()
        .retrieve(&org.domain)
        .await
        .expect("retrieved");
    assert_eq!(retrieved, Retrieved::Active(org));
}

#[tokio::test]
async fn organization_json_has_the_seed_shape() {
    let f = fixture();
    let org = f
        .identity
        .organizations()
        .create(
            NewOrganization::new("Misapret")
                .and_then(|n| n.locality("Lille"))
                .and_then(|n| n.state("Nord"))
                .and_then(|n| n.country_name("FR"))
                .and_then(|n| n.privacy_policy_url("https://misapret.com/policy"))
                .expect("valid input"),
        )
        .await
        .expect("created");
    assert_eq!(
        serde_json::to_value(&org).expect("json"),
        json!({
            "__type__": "Organization",
            "__domain__": "misapret",
            "__environment__": "sandbox",
            "__managed_by__": "auth.example.com",
            "country_name": "FR",
            "domain": "misapret",
            "id": org.id.to_string(),
            "inserted_at": "2026-03-01T09:00:00Z",
            "locality": "Lille",
            "name": "Misapret",
            "privacy_policy_url": "https://misapret.com/policy",
            "state": "Nord",
            "terms_of_service_url": null,
            "updated_at": "2026-03-01T09:00:00Z",
        })
    );
}

#[tokio::test]
async fn organization_ids_are_uuids() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    let org = f
        .identity
        .organizations()
        .retrieve(&d)
        .await
        .expect("retrieved")
        .active()
        .expect("live");
    assert_eq!(org.id.as_uuid().get_version_num(), 7);
}

#[tokio::test]
async fn update_changes_only_the_given_fields() {
    let f = fixture();
    let before = f
        .identity
        .organizations()
        .create(
            NewOrganization::new("Misapret")
                .and_then(|n| n.locality("Lille"))
                .and_then(|n| n.state("Nord"))
                .and_then(|n| n.country_name("FR"))
                .and_then(|n| n.privacy_policy_url("https://misapret.com/policy"))
                .expect("valid input"),
        )
        .await
        .expect("created");
    f.clock.advance(Duration::hours(1));
    let after = f
        .identity
        .organizations()
        .update(
            &before.domain,
            OrganizationUpdate::new()
                .locality("San Francisco")
                .and_then(|u| u.country_name("US"))
                .expect("valid update"),
        )
        .await
        .expect("updated");
    let mut expected = before.clone();
    expected.locality = Some(idcore::directory::Name::parse("San Francisco").expect("name"));
    expected.country_name = Some(idcore::directory::CountryCode::parse("US").expect("code"));
    expected.updated_at = START + Duration::hours(1);
    expected.version = before.version + 1;
    assert_eq!(after, expected);
    let stored = f
        .identity
        .organizations()
        .retrieve(&before.domain)
        .await
        .expect("retrieved");
    assert_eq!(stored, Retrieved::Active(expected));
}

#[tokio::test]
async fn renaming_never_changes_the_domain() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    let renamed = f
        .identity
        .organizations()
        .update(
            &d,
            OrganizationUpdate::new()
                .name("Misapret Group")
                .expect("valid name"),
        )
        .await
        .expect("updated");
    assert_eq!(renamed.name.as_str(), "Misapret Group");
    assert_eq!(renamed.domain.as_str(), "misapret");
    assert_not_found(
        f.identity
            .organizations()
            .retrieve(&domain("misapret-group"))
            .await,
        Resource::Organization,
    );
}

#[tokio::test]
async fn clear_empties_each_optional_field() {
    let f = fixture();
    let org = f
        .identity
        .organizations()
        .create(
            NewOrganization::new("Misapret")
                .and_then(|n| n.locality("Lille"))
                .and_then(|n| n.state("Nord"))
                .and_then(|n| n.country_name("FR"))
                .and_then(|n| n.privacy_policy_url("https://misapret.com/policy"))
                .and_then(|n| n.terms_of_service_url("https://misapret.com/terms"))
                .expect("valid input"),
        )
        .await
        .expect("created");
    let cleared = f
        .identity
        .organizations()
        .update(
            &org.domain,
            OrganizationUpdate::new()
                .clear(OrganizationField::Locality)
                .clear(OrganizationField::State)
                .clear(OrganizationField::CountryName)
                .clear(OrganizationField::PrivacyPolicyUrl)
                .clear(OrganizationField::TermsOfServiceUrl),
        )
        .await
        .expect("updated");
    assert_eq!(cleared.locality, None);
    assert_eq!(cleared.state, None);
    assert_eq!(cleared.country_name, None);
    assert_eq!(cleared.privacy_policy_url, None);
    assert_eq!(cleared.terms_of_service_url, None);
    assert_eq!(cleared.name, org.name);
}

#[tokio::test]
async fn an_empty_update_changes_no_field() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    let before = f
        .identity
        .organizations()
        .retrieve(&d)
        .await
        .expect("retrieved")
        .active()
        .expect("live");
    let after = f
        .identity
        .organizations()
        .update(&d, OrganizationUpdate::new())
        .await
        .expect("updated");
    assert_eq!(after.name, before.name);
    assert_eq!(after.domain, before.domain);
    assert_eq!(after.locality, before.locality);
    assert_eq!(after.inserted_at, before.inserted_at);
}

#[tokio::test]
async fn delete_answers_the_tombstone() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    let id = f
        .identity
        .organizations()
        .retrieve(&d)
        .await
        .expect("retrieved")
        .active()
        .expect("live")
        .id;
    f.clock.advance(Duration::minutes(5));
    let tombstone = f
        .identity
        .organizations()
        .delete(&d)
        .await
        .expect("deleted");
    assert_eq!(tombstone.resource_type, "Organization");
    assert_eq!(tombstone.id, id.to_string());
    assert_eq!(tombstone.domain, Some(d));
    assert!(tombstone.deleted);
    assert_eq!(tombstone.deleted_at, START + Duration::minutes(5));
}

#[tokio::test]
async fn retrieving_a_deleted_organization_answers_the_subset_with_deleted_true() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    let id = f
        .identity
        .organizations()
        .retrieve(&d)
        .await
        .expect("retrieved")
        .active()
        .expect("live")
        .id;
    f.clock.advance(Duration::minutes(5));
    let tombstone = f
        .identity
        .organizations()
        .delete(&d)
        .await
        .expect("deleted");
    let retrieved = f
        .identity
        .organizations()
        .retrieve(&d)
        .await
        .expect("retrieved");
    assert_eq!(retrieved, Retrieved::Deleted(tombstone));
    assert_eq!(
        serde_json::to_value(&retrieved).expect("json"),
        json!({
            "__type__": "Organization",
            "id": id.to_string(),
            "domain": "misapret",
            "deleted": true,
            "deleted_at": "2026-03-01T09:05:00Z",
        })
    );
}

#[tokio::test]
async fn updating_a_deleted_organization_is_not_found() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    f.identity
        .organizations()
        .delete(&d)
        .await
        .expect("deleted");
    assert_not_found(
        f.identity
            .organizations()
            .update(
                &d,
                OrganizationUpdate::new().locality("Lille").expect("valid"),
            )
            .await,
        Resource::Organization,
    );
}

#[tokio::test]
async fn deleting_a_deleted_organization_is_not_found() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    f.identity
        .organizations()
        .delete(&d)
        .await
        .expect("deleted");
    assert_not_found(
        f.identity.organizations().delete(&d).await,
        Resource::Organization,
    );
}

#[tokio::test]
async fn an_unknown_domain_is_not_found_for_retrieve_update_and_delete() {
    let f = fixture();
    let unknown = domain("nobody");
    assert_not_found(
        f.identity.organizations().retrieve(&unknown).await,
        Resource::Organization,
    );
    assert_not_found(
        f.identity
            .organizations()
            .update(&unknown, OrganizationUpdate::new())
            .await,
        Resource::Organization,
    );
    assert_not_found(
        f.identity.organizations().delete(&unknown).await,
        Resource::Organization,
    );
}

#[tokio::test]
async fn list_is_newest_first() {
    let f = fixture();
    for name in ["First", "Second", "Third"] {
        organization(&f.identity, name).await;
        f.clock.advance(Duration::seconds(1));
    }
    assert_eq!(
        names_in_list(&f.identity).await,
        ["Third", "Second", "First"]
    );
}

#[tokio::test]
async fn same_instant_creates_list_newest_first_in_creation_order() {
    let f = fixture();
    let names: Vec<String> = (1..=12).map(|n| format!("Org {n}")).collect();
    for name in &names {
        organization(&f.identity, name).await;
    }
    let expected: Vec<String> = names.iter().rev().cloned().collect();
    assert_eq!(names_in_list(&f.identity).await, expected);
}

#[tokio::test]
async fn an_earlier_clock_lists_an_organization_as_older() {
    let f = fixture();
    organization(&f.identity, "Later").await;
    f.clock.advance(Duration::days(-1));
    organization(&f.identity, "Earlier").await;
    assert_eq!(names_in_list(&f.identity).await, ["Later", "Earlier"]);
}

#[tokio::test]
async fn deleted_organizations_leave_the_list() {
    let f = fixture();
    organization(&f.identity, "Kept").await;
    f.clock.advance(Duration::seconds(1));
    let gone = organization(&f.identity, "Gone").await;
    f.identity
        .organizations()
        .delete(&gone)
        .await
        .expect("deleted");
    let list = f
        .identity
        .organizations()
        .list(PageRequest::default())
        .await
        .expect("list");
    assert_eq!(list.total, 1);
    assert_eq!(list.data.len(), 1);
    assert_eq!(list.data[0].name.as_str(), "Kept");
}

#[tokio::test]
async fn list_json_has_the_seed_shape() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    let list = f
        .identity
        .organizations()
        .list(PageRequest::default())
        .await
        .expect("list");
    let org = f
        .identity
        .organizations()
        .retrieve(&d)
        .await
        .expect("retrieved")
        .active()
        .expect("live");
    assert_eq!(
        serde_json::to_value(&list).expect("json"),
        json!({
            "__type__": "List",
            "data": [serde_json::to_value(&org).expect("json")],
            "pagination": {
                "current_page": 1,
                "next_page": 0,
                "per_page": 8,
                "prev_page": 0,
                "total_pages": 1,
            },
            "total": 1,
        })
    );
}

#[tokio::test]
async fn a_name_without_letters_or_digits_is_refused() {
    assert_invalid(
        NewOrganization::new("!!! ???"),
        "name",
        format("must contain letters or digits to make a domain from"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_different_fields_all_land() {
    let f = fixture();
    let d = organization(&f.identity, "Misapret").await;
    let updates = [
        OrganizationUpdate::new().name("Misapret Group"),
        OrganizationUpdate::new().locality("Lille"),
        OrganizationUpdate::new().state("Nord"),
        OrganizationUpdate::new().country_name("FR"),
        OrganizationUpdate::new().privacy_policy_url("https://misapret.com/policy"),
    ];
    let tasks: Vec<_> = updates
        .into_iter()
        .map(|update| {
            let identity = f.identity.clone();
            let d = d.clone();
            let update = update.expect("valid update");
            tokio::spawn(async move { identity.organizations().update(&d, update).await })
        })
        .collect();
    for task in tasks {
        // With five writers, each one loses at most four races: five attempts always suffice.
        task.await.expect("task").expect("updated");
    }
    let org = f
        .identity
        .organizations()
        .retrieve(&d)
        .await
        .expect("retrieved")
        .active()
        .expect("live");
    assert_eq!(org.name.as_str(), "Misapret Group");
    assert_eq!(org.locality.as_ref().map(|v| v.as_str()), Some("Lille"));
    assert_eq!(org.state.as_ref().map(|v| v.as_str()), Some("Nord"));
    assert_eq!(
        org.country_name.map(|c| c.to_string()).as_deref(),
        Some("FR")
    );
    assert_eq!(
        org.privacy_policy_url.as_ref().map(|v| v.as_str()),
        Some("https://misapret.com/policy")
    );
    assert_eq!(org.version, 6);
}
