//! Users of an organization: the OpenID Connect profile, unique e-mails, partial updates, and
//! organization isolation.

mod common;

use common::{START, assert_not_found, fixture, organization};
use idcore::directory::{Address, Email, ProfileField, User, UserId};
use idcore::{
    Error, Identity, MemoryStore, NewUser, OrgDomain, PageRequest, ProfileChanges, Resource,
};
use serde_json::json;
use time::Duration;

fn janis() -> NewUser {
    NewUser::new("janis.joplin@example.com").expect("valid email")
}

fn email(s: &str) -> Email {
    Email::parse(s).expect("valid email")
}

fn full_profile() -> ProfileChanges {
    ProfileChanges::new()
        .name("Janis Joplin")
        .and_then(|p| p.given_name("Janis"))
        .and_then(|p| p.family_name("Joplin"))
        .and_then(|p| p.middle_name("Lyn"))
        .and_then(|p| p.nickname("Jany"))
        .and_then(|p| p.preferred_username("pearl"))
        .and_then(|p| p.profile("https://janis.example.com/about"))
        .and_then(|p| p.picture("https://janis.example.com/me.png"))
        .and_then(|p| p.website("https://janis.example.com"))
        .and_then(|p| p.gender("female"))
        .and_then(|p| p.birthdate("1943-01-19"))
        .and_then(|p| p.zoneinfo("America/Los_Angeles"))
        .and_then(|p| p.locale("fr"))
        .and_then(|p| p.phone_number("+1-555-415-1337"))
        .expect("valid profile")
        .email_verified(true)
        .phone_number_verified(true)
        .address(
            Address::new()
                .formatted("165 avenue de Bretagne\n59000 Lille, France")
                .and_then(|a| a.street_address("165 avenue de Bretagne"))
                .and_then(|a| a.locality("Lille"))
                .and_then(|a| a.region("Nord"))
                .and_then(|a| a.postal_code("59000"))
                .and_then(|a| a.country("FR"))
                .expect("valid address"),
        )
}

async fn create(identity: &Identity<MemoryStore>, org: &OrgDomain, new: NewUser) -> User {
    identity.users(org).create(new).await.expect("user created")
}

/// Two organizations, and Janis in the first.
async fn two_organizations() -> (common::Fixture, OrgDomain, OrgDomain, User) {
    let f = fixture();
    let a = organization(&f.identity, "Alpha").await;
    let b = organization(&f.identity, "Beta").await;
    let user = create(&f.identity, &a, janis()).await;
    (f, a, b, user)
}

#[tokio::test]
async fn create_keeps_the_full_profile() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let user = create(&f.identity, &org, janis().profile(full_profile())).await;
    let p = &user.profile;
    assert_eq!(p.email.as_str(), "janis.joplin@example.com");
    assert!(p.email_verified);
    assert_eq!(p.name.as_ref().map(|v| v.as_str()), Some("Janis Joplin"));
    assert_eq!(p.given_name.as_ref().map(|v| v.as_str()), Some("Janis"));
    assert_eq!(p.family_name.as_ref().map(|v| v.as_str()), Some("Joplin"));
    assert_eq!(p.middle_name.as_ref().map(|v| v.as_str()), Some("Lyn"));
    assert_eq!(p.nickname.as_ref().map(|v| v.as_str()), Some("Jany"));
    assert_eq!(
        p.preferred_username.as_ref().map(|v| v.as_str()),
        Some("pearl")
    );
    assert_eq!(
        p.profile.as_ref().map(|v| v.as_str()),
        Some("https://janis.example.com/about")
    );
    assert_eq!(
        p.picture.as_ref().map(|v| v.as_str()),
        Some("https://janis.example.com/me.png")
    );
    assert_eq!(
        p.website.as_ref().map(|v| v.as_str()),
        Some("https://janis.example.com")
    );
    assert_eq!(p.gender.as_ref().map(|v| v.as_str()), Some("female"));
    assert_eq!(
        p.birthdate.map(|v| v.to_string()).as_deref(),
        Some("1943-01-19")
    );
    assert_eq!(
        p.zoneinfo.as_ref().map(|v| v.as_str()),
        Some("America/Los_Angeles")
    );
    assert_eq!(p.locale.as_ref().map(|v| v.as_str()), Some("fr"));
    assert_eq!(
        p.phone_number.as_ref().map(|v| v.as_str()),
        Some("+15554151337")
    );
    assert!(p.phone_number_verified);
    let address = p.address.as_ref().expect("address");
    assert_eq!(address.locality.as_ref().map(|v| v.as_str()), Some("Lille"));
    assert_eq!(
        address.postal_code.as_ref().map(|v| v.as_str()),
        Some("59000")
    );
    assert_eq!(user.org, org);
    assert!(user.metadata.is_empty());
    assert_eq!(user.inserted_at, START);
    assert_eq!(user.updated_at, START);
    let stored = f
        .identity
        .users(&org)
        .retrieve(user.id)
        .await
        .expect("retrieved");
    assert_eq!(stored, user);
}

#[tokio::test]
async fn user_json_has_the_seed_shape() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let user = create(&f.identity, &org, janis().profile(full_profile())).await;
    let meta = json!({
        "__domain__": "misapret",
        "__environment__": "sandbox",
        "__managed_by__": "auth.example.com",
    });
    let with_meta = |type_name: &str, mut value: serde_json::Value| {
        let object = value.as_object_mut().expect("object");
        object.insert("__type__".into(), json!(type_name));
        for (k, v) in meta.as_object().expect("object") {
            object.insert(k.clone(), v.clone());
        }
        value
    };
    let address = with_meta(
        "Address",
        json!({
            "country": "FR",
            "formatted": "165 avenue de Bretagne\n59000 Lille, France",
            "locality": "Lille",
            "postal_code": "59000",
            "region": "Nord",
            "street_address": "165 avenue de Bretagne",
        }),
    );
    let profile = with_meta(
        "Profile",
        json!({
            "address": address,
            "birthdate": "1943-01-19",
            "email": "janis.joplin@example.com",
            "email_verified": true,
            "family_name": "Joplin",
            "gender": "female",
            "given_name": "Janis",
            "locale": "fr",
            "middle_name": "Lyn",
            "name": "Janis Joplin",
            "nickname": "Jany",
            "phone_number": "+15554151337",
            "phone_number_verified": true,
            "picture": "https://janis.example.com/me.png",
            "preferred_username": "pearl",
            "profile": "https://janis.example.com/about",
            "website": "https://janis.example.com",
            "zoneinfo": "America/Los_Angeles",
        }),
    );
    let expected = with_meta(
        "User",
        json!({
            "active": true,
            "avatar_hexa_color": user.avatar_hexa_color.as_str(),
            "id": user.id.to_string(),
            "inserted_at": "2026-03-01T09:00:00Z",
            "metadata": [],
            "profile": profile,
            "updated_at": "2026-03-01T09:00:00Z",
        }),
    );
    assert_eq!(serde_json::to_value(&user).expect("json"), expected);
}

#[tokio::test]
async fn absent_profile_claims_are_omitted_from_json() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let user = create(&f.identity, &org, janis()).await;
    assert_eq!(
        serde_json::to_value(&user).expect("json")["profile"],
        json!({
            "__type__": "Profile",
            "__domain__": "misapret",
            "__environment__": "sandbox",
            "__managed_by__": "auth.example.com",
            "email": "janis.joplin@example.com",
            "email_verified": false,
        })
    );
}

#[tokio::test]
async fn an_email_taken_in_the_organization_is_refused_whatever_its_case() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    create(&f.identity, &org, janis()).await;
    let err = f
        .identity
        .users(&org)
        .create(NewUser::new("Janis.JOPLIN@Example.COM").expect("valid email"))
        .await
        .expect_err("duplicate e-mail");
    assert!(
        matches!(
            err,
            Error::AlreadyExists {
                resource: Resource::User,
                key: "email"
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "already_exists");
    assert_eq!(err.http_status(), 409);
    let list = f
        .identity
        .users(&org)
        .list(PageRequest::default())
        .await
        .expect("list");
    assert_eq!(list.total, 1);
}

#[tokio::test]
async fn the_same_email_is_allowed_in_another_organization() {
    let f = fixture();
    let a = organization(&f.identity, "Alpha").await;
    let b = organization(&f.identity, "Beta").await;
    let in_a = create(&f.identity, &a, janis()).await;
    let in_b = create(&f.identity, &b, janis()).await;
    assert_ne!(in_a.id, in_b.id);
    assert_eq!(in_b.org, b);
}

#[tokio::test]
async fn retrieve_by_id_answers_the_user() {
    let (f, a, _, user) = two_organizations().await;
    assert_eq!(
        f.identity
            .users(&a)
            .retrieve(user.id)
            .await
            .expect("retrieved"),
        user
    );
}

#[tokio::test]
async fn retrieve_by_email_ignores_case() {
    let (f, a, _, user) = two_organizations().await;
    let found = f
        .identity
        .users(&a)
        .retrieve_by_email(&email("JANIS.Joplin@EXAMPLE.com"))
        .await
        .expect("retrieved");
    assert_eq!(found, user);
    assert_eq!(found.profile.email.as_str(), "janis.joplin@example.com");
}

#[tokio::test]
async fn an_unknown_user_is_not_found() {
    let (f, a, _, _) = two_organizations().await;
    let users = f.identity.users(&a);
    let unknown = UserId::parse("0190a6c1-7f3e-7b2a-9c4d-1e2f3a4b5c6d").expect("uuid");
    assert_not_found(users.retrieve(unknown).await, Resource::User);
    assert_not_found(
        users.retrieve_by_email(&email("nobody@example.com")).await,
        Resource::User,
    );
    assert_not_found(
        users.update(unknown, ProfileChanges::new()).await,
        Resource::User,
    );
}

#[tokio::test]
async fn update_changes_only_the_given_fields() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let before = create(&f.identity, &org, janis().profile(full_profile())).await;
    f.clock.advance(Duration::hours(2));
    let after = f
        .identity
        .users(&org)
        .update(
            before.id,
            ProfileChanges::new()
                .nickname("Pearl")
                .and_then(|p| p.locale("en-US"))
                .expect("valid changes"),
        )
        .await
        .expect("updated");
    let mut expected = before.clone();
    expected.profile.nickname = Some(idcore::directory::Name::parse("Pearl").expect("name"));
    expected.profile.locale = Some(idcore::directory::Locale::parse("en-US").expect("locale"));
    expected.updated_at = START + Duration::hours(2);
    expected.version = before.version + 1;
    assert_eq!(after, expected);
    assert_eq!(
        f.identity
            .users(&org)
            .retrieve(before.id)
            .await
            .expect("retrieved"),
        expected
    );
}

#[tokio::test]
async fn clear_empties_a_field_and_leaves_the_others() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let before = create(&f.identity, &org, janis().profile(full_profile())).await;
    let after = f
        .identity
        .users(&org)
        .update(
            before.id,
            ProfileChanges::new()
                .clear(ProfileField::Nickname)
                .clear(ProfileField::Address)
                .clear(ProfileField::Birthdate),
        )
        .await
        .expect("updated");
    assert_eq!(after.profile.nickname, None);
    assert_eq!(after.profile.address, None);
    assert_eq!(after.profile.birthdate, None);
    assert_eq!(after.profile.given_name, before.profile.given_name);
    assert_eq!(after.profile.phone_number, before.profile.phone_number);
}

#[tokio::test]
async fn clearing_the_phone_number_clears_its_verification() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let before = create(&f.identity, &org, janis().profile(full_profile())).await;
    assert!(before.profile.phone_number_verified);
    let after = f
        .identity
        .users(&org)
        .update(
            before.id,
            ProfileChanges::new().clear(ProfileField::PhoneNumber),
        )
        .await
        .expect("updated");
    assert_eq!(after.profile.phone_number, None);
    assert!(!after.profile.phone_number_verified);
}

#[tokio::test]
async fn phone_number_verified_is_ignored_without_a_phone_number() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let user = create(
        &f.identity,
        &org,
        janis().profile(ProfileChanges::new().phone_number_verified(true)),
    )
    .await;
    assert!(!user.profile.phone_number_verified);
}

#[tokio::test]
async fn a_new_user_is_not_email_verified_by_default() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let user = create(&f.identity, &org, janis()).await;
    assert!(!user.profile.email_verified);
}

#[tokio::test]
async fn phone_numbers_are_stored_in_e164() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    for (i, (input, stored)) in [
        ("+1-555-415-1337", "+15554151337"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+44 (20) 7946.0958", "+442079460958"),
    ]
    .into_iter()
    .enumerate()
    {
        let user = create(
            &f.identity,
            &org,
            NewUser::new(&format!("u{i}@example.com"))
                .expect("valid email")
                .profile(
                    ProfileChanges::new()
                        .phone_number(input)
                        .expect("valid phone"),
                ),
        )
        .await;
        assert_eq!(
            user.profile.phone_number.as_ref().map(|p| p.as_str()),
            Some(stored)
        );
    }
}

#[tokio::test]
async fn avatar_hexa_color_is_a_hash_and_six_lowercase_hex_digits() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    for i in 0..20 {
        let user = create(
            &f.identity,
            &org,
            NewUser::new(&format!("u{i}@example.com")).expect("valid email"),
        )
        .await;
        let color = user.avatar_hexa_color.as_str();
        let hex = color.strip_prefix('#').expect("starts with #");
        assert_eq!(hex.len(), 6, "{color}");
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{color}"
        );
    }
}

#[tokio::test]
async fn user_ids_are_uuid_v7() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let user = create(&f.identity, &org, janis()).await;
    assert_eq!(user.id.as_uuid().get_version_num(), 7);
}

#[tokio::test]
async fn list_is_newest_first_and_per_organization() {
    let f = fixture();
    let a = organization(&f.identity, "Alpha").await;
    let b = organization(&f.identity, "Beta").await;
    for e in ["one@example.com", "two@example.com", "three@example.com"] {
        create(&f.identity, &a, NewUser::new(e).expect("valid email")).await;
        f.clock.advance(Duration::seconds(1));
    }
    create(
        &f.identity,
        &b,
        NewUser::new("other@example.com").expect("valid email"),
    )
    .await;
    let list = f
        .identity
        .users(&a)
        .list(PageRequest::default())
        .await
        .expect("list");
    let emails: Vec<&str> = list.data.iter().map(|u| u.profile.email.as_str()).collect();
    assert_eq!(
        emails,
        ["three@example.com", "two@example.com", "one@example.com"]
    );
    assert_eq!(list.total, 3);
}

#[tokio::test]
async fn retrieve_through_another_organization_is_not_found() {
    let (f, _, b, user) = two_organizations().await;
    assert_not_found(f.identity.users(&b).retrieve(user.id).await, Resource::User);
}

#[tokio::test]
async fn retrieve_by_email_through_another_organization_is_not_found() {
    let (f, _, b, user) = two_organizations().await;
    assert_not_found(
        f.identity
            .users(&b)
            .retrieve_by_email(&user.profile.email)
            .await,
        Resource::User,
    );
}

#[tokio::test]
async fn update_through_another_organization_is_not_found_and_changes_nothing() {
    let (f, a, b, user) = two_organizations().await;
    assert_not_found(
        f.identity
            .users(&b)
            .update(
                user.id,
                ProfileChanges::new().nickname("Hijacked").expect("valid"),
            )
            .await,
        Resource::User,
    );
    assert_eq!(
        f.identity
            .users(&a)
            .retrieve(user.id)
            .await
            .expect("retrieved"),
        user
    );
}

#[tokio::test]
async fn another_organizations_list_does_not_show_the_user() {
    let (f, _, b, _) = two_organizations().await;
    let list = f
        .identity
        .users(&b)
        .list(PageRequest::default())
        .await
        .expect("list");
    assert!(list.data.is_empty());
    assert_eq!(list.total, 0);
}

#[tokio::test]
async fn user_calls_on_an_unknown_organization_are_organization_not_found() {
    let (f, _, _, user) = two_organizations().await;
    let nowhere = OrgDomain::parse("nowhere").expect("valid domain");
    let users = f.identity.users(&nowhere);
    assert_not_found(users.create(janis()).await, Resource::Organization);
    assert_not_found(users.retrieve(user.id).await, Resource::Organization);
    assert_not_found(
        users.retrieve_by_email(&user.profile.email).await,
        Resource::Organization,
    );
    assert_not_found(
        users.update(user.id, ProfileChanges::new()).await,
        Resource::Organization,
    );
    assert_not_found(
        users.list(PageRequest::default()).await,
        Resource::Organization,
    );
}

#[tokio::test]
async fn user_calls_on_a_deleted_organization_are_organization_not_found() {
    let (f, a, _, user) = two_organizations().await;
    f.identity
        .organizations()
        .delete(&a)
        .await
        .expect("deleted");
    let users = f.identity.users(&a);
    assert_not_found(
        users
            .create(NewUser::new("new@example.com").expect("valid email"))
            .await,
        Resource::Organization,
    );
    assert_not_found(users.retrieve(user.id).await, Resource::Organization);
    assert_not_found(
        users.retrieve_by_email(&user.profile.email).await,
        Resource::Organization,
    );
    assert_not_found(
        users.update(user.id, ProfileChanges::new()).await,
        Resource::Organization,
    );
    assert_not_found(
        users.list(PageRequest::default()).await,
        Resource::Organization,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_creates_of_one_email_let_exactly_one_win() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let identity = f.identity.clone();
            let org = org.clone();
            let address = if i % 2 == 0 {
                "janis@example.com"
            } else {
                "JANIS@example.com"
            };
            tokio::spawn(async move {
                identity
                    .users(&org)
                    .create(NewUser::new(address).expect("valid email"))
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => created += 1,
            Err(Error::AlreadyExists {
                resource: Resource::User,
                key: "email",
            }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 1);
    let list = f
        .identity
        .users(&org)
        .list(PageRequest::default())
        .await
        .expect("list");
    assert_eq!(list.total, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_different_fields_all_land() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let user = create(&f.identity, &org, janis()).await;
    let changes = [
        ProfileChanges::new().given_name("Janis"),
        ProfileChanges::new().family_name("Joplin"),
        ProfileChanges::new().nickname("Pearl"),
        ProfileChanges::new().locale("en-US"),
        ProfileChanges::new().zoneinfo("America/Chicago"),
    ];
    let tasks: Vec<_> = changes
        .into_iter()
        .map(|change| {
            let identity = f.identity.clone();
            let org = org.clone();
            let change = change.expect("valid change");
            tokio::spawn(async move { identity.users(&org).update(user.id, change).await })
        })
        .collect();
    for task in tasks {
        // With five writers, each one loses at most four races: five attempts always suffice.
        task.await.expect("task").expect("updated");
    }
    let p = f
        .identity
        .users(&org)
        .retrieve(user.id)
        .await
        .expect("retrieved")
        .profile;
    assert_eq!(p.given_name.as_ref().map(|v| v.as_str()), Some("Janis"));
    assert_eq!(p.family_name.as_ref().map(|v| v.as_str()), Some("Joplin"));
    assert_eq!(p.nickname.as_ref().map(|v| v.as_str()), Some("Pearl"));
    assert_eq!(p.locale.as_ref().map(|v| v.as_str()), Some("en-US"));
    assert_eq!(
        p.zoneinfo.as_ref().map(|v| v.as_str()),
        Some("America/Chicago")
    );
}
