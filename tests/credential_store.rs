//! The `CredentialStore` contract on `MemoryStore`: accounts written and erased atomically with
//! their user records, usernames unique per organization, conditional updates.

use idcore::audit::{EventCode, NewEvent};
use idcore::directory::{OrgDomain, User, UserId};
use idcore::store::{
    AccountRole, AccountStatus, CredentialRecord, CredentialStore, StoreError, UserStore,
};
use idcore::{Environment, Identity, MemoryStore, NewOrganization, NewUser};
use time::OffsetDateTime;
use time::macros::datetime;

const ENV: Environment = Environment::Sandbox;
const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

struct Fx {
    identity: Identity<MemoryStore>,
    store: MemoryStore,
    org: OrgDomain,
}

async fn fixture() -> Fx {
    let store = MemoryStore::new();
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .store(store.clone())
        .build()
        .unwrap();
    let org = identity
        .organizations()
        .create(NewOrganization::new("Misapret").unwrap())
        .await
        .unwrap()
        .domain;
    Fx {
        identity,
        store,
        org,
    }
}

impl Fx {
    /// A user record (not stored) with a fresh id, by way of a throwaway directory insert on
    /// another store, so the test builds records only through the public API.
    async fn record(&self, email: &str) -> User {
        let scratch = fixture().await;
        let mut user = scratch
            .identity
            .users(&scratch.org)
            .create(NewUser::new(email).unwrap())
            .await
            .unwrap();
        user.org = self.org.clone();
        user
    }

    fn event(&self) -> NewEvent {
        NewEvent::new(EventCode::USER_CREATED, NOW).tenant(&self.org)
    }
}

fn creds(user: &User, username: Option<&str>) -> CredentialRecord {
    CredentialRecord {
        org: user.org.clone(),
        user_id: user.id,
        username: username.map(str::to_owned),
        password_hash: Some(
            "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
                .into(),
        ),
        status: AccountStatus::Unverified,
        role: AccountRole::Member,
        totp: None,
        pending_totp: None,
        recovery_generation: 0,
        known_devices: Vec::new(),
        known_ips: Vec::new(),
        updated_at: NOW,
        version: 1,
    }
}

#[tokio::test]
async fn an_account_is_inserted_whole_or_not_at_all() {
    let f = fixture().await;
    let a = f.record("a@example.com").await;
    f.store
        .insert_account(ENV, &a, &creds(&a, Some("janis")), &f.event())
        .await
        .unwrap();
    // A taken username: neither the user nor its credentials are written.
    let b = f.record("b@example.com").await;
    let err = f
        .store
        .insert_account(ENV, &b, &creds(&b, Some("janis")), &f.event())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { key: "username" }));
    assert!(f.store.user(ENV, &f.org, b.id).await.unwrap().is_none());
    assert!(
        f.store
            .credentials(ENV, &f.org, b.id)
            .await
            .unwrap()
            .is_none()
    );
    // A taken e-mail (case-insensitively): likewise.
    let c = f.record("A@example.com").await;
    let err = f
        .store
        .insert_account(ENV, &c, &creds(&c, Some("other")), &f.event())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { key: "email" }));
    assert!(
        f.store
            .credentials_by_username(ENV, &f.org, "other")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn credentials_are_scoped_by_organization() {
    let f = fixture().await;
    let a = f.record("a@example.com").await;
    f.store
        .insert_account(ENV, &a, &creds(&a, Some("janis")), &f.event())
        .await
        .unwrap();
    let other = OrgDomain::parse("other").unwrap();
    assert!(
        f.store
            .credentials(ENV, &other, a.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.store
            .credentials_by_username(ENV, &other, "janis")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.store
            .credentials(Environment::Production, &f.org, a.id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn updates_are_conditional_and_move_the_username() {
    let f = fixture().await;
    let a = f.record("a@example.com").await;
    let b = f.record("b@example.com").await;
    f.store
        .insert_account(ENV, &a, &creds(&a, Some("janis")), &f.event())
        .await
        .unwrap();
    f.store
        .insert_account(ENV, &b, &creds(&b, Some("pearl")), &f.event())
        .await
        .unwrap();
    let mut next = creds(&a, Some("joplin"));
    next.version = 2;
    assert!(matches!(
        f.store.update_credentials(ENV, &next, 7, None).await,
        Err(StoreError::Precondition)
    ));
    let mut taken = next.clone();
    taken.username = Some("pearl".into());
    assert!(matches!(
        f.store.update_credentials(ENV, &taken, 1, None).await,
        Err(StoreError::AlreadyExists { key: "username" })
    ));
    f.store
        .update_credentials(ENV, &next, 1, None)
        .await
        .unwrap();
    assert!(
        f.store
            .credentials_by_username(ENV, &f.org, "janis")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        f.store
            .credentials_by_username(ENV, &f.org, "joplin")
            .await
            .unwrap()
            .unwrap()
            .user_id,
        a.id
    );
}

#[tokio::test]
async fn deleting_an_account_frees_its_address_and_username() {
    let f = fixture().await;
    let a = f.record("a@example.com").await;
    f.store
        .insert_account(ENV, &a, &creds(&a, Some("janis")), &f.event())
        .await
        .unwrap();
    f.store
        .delete_account(ENV, &f.org, a.id, &f.event())
        .await
        .unwrap();
    assert!(f.store.user(ENV, &f.org, a.id).await.unwrap().is_none());
    assert!(
        f.store
            .credentials(ENV, &f.org, a.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        f.store.delete_account(ENV, &f.org, a.id, &f.event()).await,
        Err(StoreError::NotFound)
    ));
    let again = f.record("a@example.com").await;
    f.store
        .insert_account(ENV, &again, &creds(&again, Some("janis")), &f.event())
        .await
        .unwrap();
    // The erased id is never reused.
    let mut reuse = f.record("c@example.com").await;
    reuse.id = a.id;
    assert!(matches!(
        f.store
            .insert_account(ENV, &reuse, &creds(&reuse, None), &f.event())
            .await,
        Err(StoreError::AlreadyExists { key: "id" })
    ));
}

#[tokio::test]
async fn credentials_attach_only_to_an_existing_user_once() {
    let f = fixture().await;
    let user = f
        .identity
        .users(&f.org)
        .create(NewUser::new("dir@example.com").unwrap())
        .await
        .unwrap();
    let ghost = UserId::parse("0190f5a0-0000-7000-8000-000000000000").unwrap();
    let mut orphan = creds(&user, None);
    orphan.user_id = ghost;
    assert!(matches!(
        f.store.insert_credentials(ENV, &orphan, &f.event()).await,
        Err(StoreError::NotFound)
    ));
    f.store
        .insert_credentials(ENV, &creds(&user, None), &f.event())
        .await
        .unwrap();
    assert!(matches!(
        f.store
            .insert_credentials(ENV, &creds(&user, None), &f.event())
            .await,
        Err(StoreError::AlreadyExists { key: "user" })
    ));
}
