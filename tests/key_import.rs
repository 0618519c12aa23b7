//! Importing signing keys: the same key again is a no-op or a conflict the caller can act on
//! (409), never a storage failure (503).

use idcore::clock::ManualClock;
use idcore::directory::OrgDomain;
use idcore::tokens::keys::{Algorithm, EncryptionKey, KeyPair};
use idcore::{Environment, Error, Identity, MemoryStore, NewOrganization, Resource};
use time::macros::datetime;

const RSA_2048_PKCS8: &[u8] = include_bytes!("data/rsa2048.pk8.der");

async fn identity_with(orgs: &[&str]) -> (Identity<MemoryStore>, Vec<OrgDomain>) {
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .environment(Environment::Sandbox)
        .clock(ManualClock::new(datetime!(2026-06-01 12:00 UTC)))
        .key_encryption_key(EncryptionKey::from_bytes(&[9; 32]).unwrap())
        .store(MemoryStore::new())
        .build()
        .unwrap();
    let mut domains = Vec::new();
    for name in orgs {
        let org = identity
            .organizations()
            .create(NewOrganization::new(name).unwrap())
            .await
            .unwrap();
        domains.push(org.domain);
    }
    (identity, domains)
}

fn kid_conflict(result: Result<String, Error>) {
    match result {
        Err(
            e @ Error::AlreadyExists {
                resource: Resource::SigningKey,
                key: "kid",
            },
        ) => {
            assert_eq!(e.http_status(), 409);
            assert_eq!(e.code(), "already_exists");
        }
        other => panic!("expected a kid conflict, got {other:?}"),
    }
}

async fn jwks_kids(identity: &Identity<MemoryStore>, org: &OrgDomain) -> Vec<String> {
    let jwks = identity.tokens().jwks(org).await.unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn importing_the_current_signing_key_again_changes_nothing() {
    let (identity, orgs) = identity_with(&["Misapret"]).await;
    let key = KeyPair::generate(Algorithm::Es256).unwrap();
    let kid = identity.tokens().import_key(&orgs[0], &key).await.unwrap();
    let again = identity.tokens().import_key(&orgs[0], &key).await.unwrap();
    assert_eq!(again, kid);
    assert_eq!(jwks_kids(&identity, &orgs[0]).await, vec![kid]);
}

#[tokio::test]
async fn one_rsa_key_under_a_second_algorithm_is_a_conflict() {
    let (identity, orgs) = identity_with(&["Misapret"]).await;
    let rs = KeyPair::from_pkcs8(Algorithm::Rs256, RSA_2048_PKCS8).unwrap();
    let ps = KeyPair::from_pkcs8(Algorithm::Ps256, RSA_2048_PKCS8).unwrap();
    let kid = identity.tokens().import_key(&orgs[0], &rs).await.unwrap();
    kid_conflict(identity.tokens().import_key(&orgs[0], &ps).await);
    assert_eq!(
        jwks_kids(&identity, &orgs[0]).await,
        vec![kid],
        "the RS256 key still signs, alone"
    );
}

#[tokio::test]
async fn a_key_of_another_organization_is_a_conflict() {
    let (identity, orgs) = identity_with(&["Misapret", "Other"]).await;
    let key = KeyPair::generate(Algorithm::EdDsa).unwrap();
    identity.tokens().import_key(&orgs[0], &key).await.unwrap();
    kid_conflict(identity.tokens().import_key(&orgs[1], &key).await);
}

#[tokio::test]
async fn a_rotated_out_key_cannot_come_back_by_import() {
    let (identity, orgs) = identity_with(&["Misapret"]).await;
    let key = KeyPair::generate(Algorithm::Es256).unwrap();
    let kid = identity.tokens().import_key(&orgs[0], &key).await.unwrap();
    let newer = identity.tokens().rotate_keys(&orgs[0]).await.unwrap();
    kid_conflict(identity.tokens().import_key(&orgs[0], &key).await);
    let mut kids = jwks_kids(&identity, &orgs[0]).await;
    kids.sort();
    let mut expected = vec![kid, newer];
    expected.sort();
    assert_eq!(
        kids, expected,
        "both verify during the overlap; the newer signs"
    );
}
