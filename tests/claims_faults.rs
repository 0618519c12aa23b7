//! Storage faults at every step of the claim writes (SECURITY.md 52–54): creating, removing a
//! metakey, defining a role, setting a value, updating attributes. On a fault the call answers
//! a typed store error and nothing is written: the schema, the user and the audit log are as
//! before; a retry then works. Token issuance that cannot read the schema fails closed (the
//! exchange tests in `tests/token_faults.rs` fault every call of it, the schema read included).

mod support;

use idcore::audit::EventCode;
use idcore::claims::{AttributeUpdate, ClaimSchema, MetaKeyType};
use idcore::directory::{User, UserId};
use idcore::store::fault::{FaultPlan, FaultyStore};
use idcore::tokens::ClientAuth;
use idcore::{Error, MemoryStore};
use support::*;

const EMAIL: &str = "ada@example.com";

type Fault = Fx<FaultyStore<MemoryStore>>;

/// What a claim write may change: the schema, the user, the audit log.
#[derive(Debug, PartialEq)]
struct Snapshot {
    schema: ClaimSchema,
    version: u64,
    user: User,
    events: usize,
}

async fn snapshot(f: &Fault, user: UserId) -> Snapshot {
    let schema = f.identity.claims(&f.org).schema().await.unwrap();
    let mut events = 0;
    for code in [
        EventCode::METAKEY_CREATED,
        EventCode::METAKEY_REMOVED,
        EventCode::ROLE_DEFINED,
        EventCode::METADATA_SET,
        EventCode::USER_ATTRIBUTES_UPDATED,
    ] {
        events += f.events(code).await.len();
    }
    Snapshot {
        version: schema.version,
        schema,
        user: f.identity.users(&f.org).retrieve(user).await.unwrap(),
        events,
    }
}

/// A fixture with a user, a `plan` metakey, and the store's faults off.
async fn fixture() -> (Fault, UserId) {
    let f = fixture_on(FaultyStore::new(MemoryStore::new()), |b| b).await;
    let user = f.active_user(EMAIL).await.id;
    f.identity
        .claims(&f.org)
        .create_metakey("plan", MetaKeyType::String, false)
        .await
        .unwrap();
    (f, user)
}

/// Runs `write` on a fresh fixture with a fault at its n-th store call, for every n until the
/// write makes fewer calls: every faulted call answers `Error::Store` and leaves the snapshot
/// as it was, and the retry succeeds and changes it. Answers how many steps faulted.
async fn survives_a_fault_at_every_step<W, Fut>(what: &str, write: W) -> usize
where
    W: Fn(Fault, UserId) -> Fut,
    Fut: std::future::Future<Output = (Fault, Result<(), Error>)>,
{
    let mut faulted = 0;
    for n in 1.. {
        let (f, user) = fixture().await;
        let before = snapshot(&f, user).await;
        f.store.arm(FaultPlan::NthCall(n));
        let (f, first) = write(f, user).await;
        let calls = f.store.calls();
        f.store.disarm();
        match first {
            Err(e) => {
                assert!(matches!(e, Error::Store(_)), "{what}, step {n}: {e:?}");
                assert_eq!(
                    snapshot(&f, user).await,
                    before,
                    "{what}, step {n}: nothing written"
                );
                faulted += 1;
                let (f, retry) = write(f, user).await;
                retry.unwrap_or_else(|e| panic!("{what}, retry after step {n}: {e:?}"));
                assert_ne!(snapshot(&f, user).await, before, "{what}: the retry writes");
            }
            Ok(()) => {
                assert!(calls < n, "{what}, step {n}: a fault was ignored");
                break;
            }
        }
    }
    faulted
}

#[tokio::test]
async fn metakey_creation_survives_a_fault_at_every_step() {
    let faulted = survives_a_fault_at_every_step("create_metakey", |f, _| async move {
        let r = f
            .identity
            .claims(&f.org)
            .create_metakey("seats", MetaKeyType::Integer, true)
            .await
            .map(drop);
        (f, r)
    })
    .await;
    assert_eq!(faulted, 3, "organization, schema read, schema write");
}

#[tokio::test]
async fn metakey_removal_survives_a_fault_at_every_step() {
    let faulted = survives_a_fault_at_every_step("remove_metakey", |f, _| async move {
        let r = f
            .identity
            .claims(&f.org)
            .remove_metakey("plan")
            .await
            .map(drop);
        (f, r)
    })
    .await;
    assert_eq!(faulted, 3, "organization, schema read, schema write");
}

#[tokio::test]
async fn role_definition_survives_a_fault_at_every_step() {
    let faulted = survives_a_fault_at_every_step("define_role", |f, _| async move {
        let r = f
            .identity
            .claims(&f.org)
            .define_role("Reader", &["App01:Read"])
            .await
            .map(drop);
        (f, r)
    })
    .await;
    assert_eq!(faulted, 3, "organization, schema read, schema write");
}

#[tokio::test]
async fn setting_a_value_survives_a_fault_at_every_step() {
    let faulted = survives_a_fault_at_every_step("set_metadata", |f, user| async move {
        let r = f
            .identity
            .claims(&f.org)
            .set_metadata(user, "plan", "gold")
            .await
            .map(drop);
        (f, r)
    })
    .await;
    assert!(
        faulted >= 3,
        "schema read, user read, user write ({faulted})"
    );
}

#[tokio::test]
async fn an_attribute_update_survives_a_fault_at_every_step() {
    let faulted = survives_a_fault_at_every_step("update_attributes_of", |f, user| async move {
        let update = AttributeUpdate {
            roles: Some(vec!["Reader".to_owned()]),
            actions: Some(vec!["App01:Read".to_owned()]),
            ..AttributeUpdate::default()
        };
        let r = f
            .identity
            .claims(&f.org)
            .update_attributes_of(user, &update)
            .await
            .map(drop);
        (f, r)
    })
    .await;
    assert!(faulted >= 2, "user read, user write ({faulted})");
}

/// A sign-in whose exchange cannot read the claim schema answers a store error, not tokens
/// without the organization's claims.
#[tokio::test]
async fn tokens_are_not_issued_when_the_schema_cannot_be_read() {
    let (f, _) = fixture().await;
    let authorized = expect_complete(f.sign_in(EMAIL, PASSWORD).await);
    f.store.arm(FaultPlan::Method("claim_schema"));
    let result = f
        .identity
        .tokens()
        .exchange_code(
            &ClientAuth::public(f.client),
            authorized.code.expose(),
            REDIRECT,
            VERIFIER,
        )
        .await;
    assert!(matches!(result, Err(Error::Store(_))), "{result:?}");
}
