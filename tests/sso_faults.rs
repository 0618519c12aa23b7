//! Storage faults at every step of the SSO flows (SECURITY.md 52–54): creating and updating a
//! connection, creating an onboarding, the invitation, redeeming a magic link and the
//! federated sign-in. A faulted call answers a typed store error and leaves nothing usable
//! half-written; the retry works.

mod support;

use idcore::audit::EventCode;
use idcore::directory::Email;
use idcore::sessions::{ValidationFactor, ValidationFactors};
use idcore::sso::{
    NewSsoConnection, SsoConnectionUpdate, SsoSignInRequest, UserSecurityType, VerifiedIdentity,
};
use idcore::store::fault::{FaultPlan, FaultyStore};
use idcore::tokens::ClientAuth;
use idcore::tokens::pkce::CodeChallenge;
use idcore::{Error, MemoryStore, PageRequest};
use support::*;

type Fault = Fx<FaultyStore<MemoryStore>>;

const ADMIN: &str = "it_sso_person@sso.client.com";

/// A fixture with one seat-limited connection (one seat) with an onboarding, faults off.
async fn fixture() -> (Fault, String) {
    let f = fixture_on(FaultyStore::new(MemoryStore::new()), |b| b).await;
    let sso = f.identity.sso(&f.org);
    let c = sso
        .create(NewSsoConnection {
            sso_admin_email: Some(ADMIN.to_owned()),
            ..NewSsoConnection::new(f.client)
        })
        .await
        .unwrap();
    sso.update(
        c.idp_id.as_str(),
        &SsoConnectionUpdate {
            user_security_type: Some(UserSecurityType::SeatsLimited),
            seats_limit: Some(1),
            ..SsoConnectionUpdate::default()
        },
    )
    .await
    .unwrap();
    (f, c.idp_id.to_string())
}

fn request(idp_id: &str, email: &str) -> SsoSignInRequest {
    SsoSignInRequest {
        idp_id: idp_id.to_owned(),
        identity: VerifiedIdentity {
            subject: email.to_owned(),
            email: email.to_owned(),
            email_verified: true,
            ..VerifiedIdentity::default()
        },
        factors: ValidationFactors::parse(vec![ValidationFactor {
            name: "remote_address".to_owned(),
            value: "192.0.2.7".to_owned(),
        }])
        .unwrap(),
        redirect_uri: None,
        code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
        nonce: None,
        state: None,
        scope: vec!["openid".to_owned()],
        context: idcore::risk::RequestContext::new(),
    }
}

/// What an SSO write may change.
async fn snapshot(f: &Fault) -> (Vec<serde_json::Value>, usize) {
    let list = f
        .identity
        .sso(&f.org)
        .connections(PageRequest::new(1, 100).unwrap())
        .await
        .unwrap();
    let mut events = 0;
    for code in [
        EventCode::SSO_CONNECTION_CREATED,
        EventCode::SSO_CONNECTION_UPDATED,
        EventCode::SSO_ONBOARDING_UPDATED,
    ] {
        events += f.events(code).await.len();
    }
    (list.data.iter().map(|c| c.wire(true)).collect(), events)
}

/// Runs `write` with a fault at its n-th store call, for every n until it makes fewer calls:
/// each faulted call answers `Error::Store` with the connections and their events as before,
/// and the retry works. Answers how many steps faulted.
async fn survives<W, Fut>(what: &str, write: W) -> usize
where
    W: Fn(Fault, String) -> Fut,
    Fut: std::future::Future<Output = (Fault, Result<(), Error>)>,
{
    let mut faulted = 0;
    for n in 1.. {
        let (f, idp) = fixture().await;
        let before = snapshot(&f).await;
        f.store.arm(FaultPlan::NthCall(n));
        let (f, first) = write(f, idp.clone()).await;
        let calls = f.store.calls();
        f.store.disarm();
        match first {
            Err(e) => {
                assert!(matches!(e, Error::Store(_)), "{what}, step {n}: {e:?}");
                assert_eq!(
                    snapshot(&f).await,
                    before,
                    "{what}, step {n}: nothing written"
                );
                faulted += 1;
                let (_, retry) = write(f, idp).await;
                retry.unwrap_or_else(|e| panic!("{what}, retry after step {n}: {e:?}"));
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
async fn connection_writes_survive_a_fault_at_every_step() {
    let created = survives("create", |f, _| async move {
        let r = f
            .identity
            .sso(&f.org)
            .create(NewSsoConnection::new(f.client))
            .await
            .map(drop);
        (f, r)
    })
    .await;
    assert_eq!(created, 3, "organization, application, insert");
    let updated = survives("update", |f, idp| async move {
        let r = f
            .identity
            .sso(&f.org)
            .update(
                &idp,
                &SsoConnectionUpdate {
                    seats_limit: Some(5),
                    ..SsoConnectionUpdate::default()
                },
            )
            .await
            .map(drop);
        (f, r)
    })
    .await;
    assert_eq!(updated, 3, "organization, read, write");
    let onboarding = survives("create_onboarding", |f, idp| async move {
        let r = f
            .identity
            .sso(&f.org)
            .create_onboarding(&idp, "new_it_guy@sample.co", None, false)
            .await
            .map(drop);
        (f, r)
    })
    .await;
    assert_eq!(onboarding, 3, "organization, read, write");
}

#[tokio::test]
async fn an_invitation_that_failed_answers_a_store_error_and_a_retry_sends_a_working_link() {
    for n in 1..=4 {
        let (f, idp) = fixture().await;
        f.store.arm(FaultPlan::NthCall(n));
        let first = f.identity.sso(&f.org).invite_admin(&idp).await;
        f.store.disarm();
        assert!(matches!(first, Err(Error::Store(_))), "step {n}: {first:?}");
        f.identity.sso(&f.org).invite_admin(&idp).await.unwrap();
        let mail = f.outbox.last_to(&Email::parse(ADMIN).unwrap()).unwrap();
        let token = mail.body.split_once("token=").unwrap().1;
        let token = token.split_whitespace().next().unwrap();
        f.identity.redeem_sso_admin_link(token).await.unwrap();
    }
}

#[tokio::test]
async fn a_federated_sign_in_survives_a_fault_at_every_step_and_leaves_no_seat_taken() {
    let (mut faulted, mut informative) = (0, 0);
    for n in 1.. {
        let (f, idp) = fixture().await;
        f.store.arm(FaultPlan::NthCall(n));
        let first = f
            .identity
            .complete_sso(request(&idp, "a@corp.example"))
            .await;
        let calls = f.store.calls();
        f.store.disarm();
        match first {
            Err(e) => {
                assert!(matches!(e, Error::Store(_)), "step {n}: {e:?}");
                faulted += 1;
                // The retry gets the one seat: the faulted attempt left none taken.
                let done = f
                    .identity
                    .complete_sso(request(&idp, "a@corp.example"))
                    .await
                    .unwrap_or_else(|e| panic!("retry after step {n}: {e:?}"));
                f.identity
                    .tokens()
                    .exchange_code(
                        &ClientAuth::public(f.client),
                        done.code.expose(),
                        REDIRECT,
                        VERIFIER,
                    )
                    .await
                    .unwrap();
                match f
                    .identity
                    .complete_sso(request(&idp, "b@corp.example"))
                    .await
                {
                    Err(Error::SeatsLimitReached) => {}
                    other => panic!("step {n}: one seat, taken by the retry: {other:?}"),
                }
            }
            Ok(_) if calls < n => break,
            Ok(_) => {
                // Only the risk decision's audit record is best effort (as on every sign-in
                // path): a fault there must leave the sign-in whole.
                informative += 1;
            }
        }
    }
    assert_eq!(informative, 1, "one best-effort audit write");
    assert!(
        faulted >= 8,
        "a federated sign-in has many steps ({faulted})"
    );
}
