//! Storage faults at every step of code exchange, refresh rotation and revocation
//! (SECURITY.md 52–54): on failure no token is returned and nothing is half-written; a retry
//! works; live verification fails closed when revocations cannot be read.

use idcore::clock::{Clock, ManualClock};
use idcore::directory::{ClientId, OrgDomain, UserId};
use idcore::store::MemoryStore;
use idcore::store::fault::{FaultPlan, FaultyStore};
use idcore::tokens::keys::EncryptionKey;
use idcore::tokens::pkce::CodeChallenge;
use idcore::tokens::{ClientAuth, CodeRequest, TokenSet};
use idcore::{
    ApplicationScope, ApplicationType, Error, Identity, NewApplication, NewOrganization, NewUser,
    TokenProblem,
};
use time::{Duration, macros::datetime};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "https://app.example.com/callback";

struct Fixture {
    identity: Identity<FaultyStore<MemoryStore>>,
    store: FaultyStore<MemoryStore>,
    clock: ManualClock,
    org: OrgDomain,
    user: UserId,
    client: ClientId,
}

async fn fixture() -> Fixture {
    let clock = ManualClock::new(datetime!(2026-06-01 12:00 UTC));
    let store = FaultyStore::new(MemoryStore::new());
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .clock(clock.clone())
        .key_encryption_key(EncryptionKey::from_bytes(&[3; 32]).unwrap())
        .store(store.clone())
        .build()
        .unwrap();
    let org = identity
        .organizations()
        .create(NewOrganization::new("Misapret").unwrap())
        .await
        .unwrap()
        .domain;
    let app = identity
        .applications(ApplicationScope::Organization(org.clone()))
        .create(
            NewApplication::new("App", ApplicationType::React)
                .unwrap()
                .with(|a| a.allowed_redirect_urls(&[REDIRECT]))
                .unwrap(),
        )
        .await
        .unwrap();
    let user = identity
        .users(&org)
        .create(NewUser::new("janis@example.com").unwrap())
        .await
        .unwrap();
    Fixture {
        identity,
        store,
        clock,
        org,
        user: user.id,
        client: app.application.client_id,
    }
}

impl Fixture {
    async fn code(&self) -> String {
        let request = CodeRequest {
            org: self.org.clone(),
            user_id: self.user,
            client_id: self.client,
            redirect_uri: REDIRECT.to_owned(),
            code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
            nonce: None,
            state: None,
            scope: vec!["openid".to_owned()],
            auth_time: self.clock.now(),
            amr: vec![],
        };
        self.identity
            .tokens()
            .mint_code(request)
            .await
            .unwrap()
            .expose()
            .to_owned()
    }

    async fn exchange(&self, code: &str) -> Result<TokenSet, Error> {
        self.identity
            .tokens()
            .exchange_code(&ClientAuth::public(self.client), code, REDIRECT, VERIFIER)
            .await
    }
}

fn is_store_error(e: &Error) -> bool {
    matches!(e, Error::Store(_))
}

#[tokio::test]
async fn code_exchange_survives_a_fault_at_every_step() {
    let mut faulted = 0;
    for n in 1.. {
        let f = fixture().await;
        let code = f.code().await;
        f.store.arm(FaultPlan::NthCall(n));
        let first = f.exchange(&code).await;
        let calls = f.store.calls();
        f.store.disarm();
        match first {
            Err(e) => {
                assert!(is_store_error(&e), "step {n}: {e:?}");
                faulted += 1;
                let retry = f
                    .exchange(&code)
                    .await
                    .unwrap_or_else(|e| panic!("retry after fault at step {n}: {e:?}"));
                f.identity
                    .tokens()
                    .verify_live(&retry.access_token)
                    .await
                    .unwrap();
            }
            Ok(set) => {
                // Either the fault hit an informative audit write, or the flow made fewer calls.
                f.identity
                    .tokens()
                    .verify_live(&set.access_token)
                    .await
                    .unwrap();
                if calls < n {
                    break;
                }
            }
        }
    }
    assert!(
        faulted >= 5,
        "the exchange touches the store at several steps ({faulted})"
    );
}

#[tokio::test]
async fn refresh_rotation_survives_a_fault_at_every_step() {
    for n in 1.. {
        let f = fixture().await;
        let set = f.exchange(&f.code().await).await.unwrap();
        let client = ClientAuth::public(f.client);
        f.store.arm(FaultPlan::NthCall(n));
        let first = f
            .identity
            .tokens()
            .refresh(&client, set.refresh_token.expose(), None)
            .await;
        let calls = f.store.calls();
        f.store.disarm();
        match first {
            Err(e) => {
                assert!(is_store_error(&e), "step {n}: {e:?}");
                // Nothing was rotated: the same token works, and only once.
                let retry = f
                    .identity
                    .tokens()
                    .refresh(&client, set.refresh_token.expose(), None)
                    .await
                    .unwrap();
                f.identity
                    .tokens()
                    .verify_live(&retry.access_token)
                    .await
                    .unwrap();
            }
            Ok(next) => {
                f.identity
                    .tokens()
                    .verify_live(&next.access_token)
                    .await
                    .unwrap();
                if calls < n {
                    break;
                }
            }
        }
    }
}

#[tokio::test]
async fn a_revocation_that_could_not_be_stored_is_reported_and_a_retry_works() {
    for n in 1.. {
        let f = fixture().await;
        let set = f.exchange(&f.code().await).await.unwrap();
        f.store.arm(FaultPlan::NthCall(n));
        let first = f.identity.tokens().global_sign_out(&f.org, f.user).await;
        let calls = f.store.calls();
        f.store.disarm();
        if let Err(e) = first {
            assert!(is_store_error(&e), "step {n}: {e:?}");
            f.identity
                .tokens()
                .global_sign_out(&f.org, f.user)
                .await
                .unwrap();
        } else if calls < n {
            break;
        }
        let r = f.identity.tokens().verify_live(&set.access_token).await;
        assert!(
            matches!(r, Err(Error::InvalidToken(TokenProblem::Revoked))),
            "step {n}: {r:?}"
        );
    }
}

#[tokio::test]
async fn live_verification_fails_closed_when_revocations_cannot_be_read() {
    let f = fixture().await;
    let set = f.exchange(&f.code().await).await.unwrap();
    f.identity
        .tokens()
        .verify_live(&set.access_token)
        .await
        .unwrap();
    f.store.arm(FaultPlan::Method("revocations_since"));
    // Within the staleness bound the last view still answers …
    f.clock.advance(Duration::seconds(2));
    f.identity
        .tokens()
        .verify_live(&set.access_token)
        .await
        .unwrap();
    // … beyond it, verification fails closed.
    f.clock.advance(Duration::seconds(5));
    let r = f.identity.tokens().verify_live(&set.access_token).await;
    assert!(matches!(r, Err(Error::Store(_))), "{r:?}");
    // Stateless verification does not depend on the revocation store.
    f.identity.tokens().verify(&set.access_token).await.unwrap();
    f.store.disarm();
    f.identity
        .tokens()
        .verify_live(&set.access_token)
        .await
        .unwrap();
}

/// Deleting an organization or an application at every fault step: a failed deletion leaves
/// the record live, and its tokens are either untouched (the revocation failed) or revoked
/// (the deletion failed after it: fail closed); a retry deletes and revokes.
#[tokio::test]
async fn deletions_revoke_first_and_survive_a_fault_at_every_step() {
    for app_only in [false, true] {
        let mut faulted = 0;
        for n in 1.. {
            let f = fixture().await;
            let set = f.exchange(&f.code().await).await.unwrap();
            let applications = f
                .identity
                .applications(ApplicationScope::Organization(f.org.clone()));
            f.store.arm(FaultPlan::NthCall(n));
            let first = if app_only {
                applications.delete(f.client).await.map(drop)
            } else {
                f.identity.organizations().delete(&f.org).await.map(drop)
            };
            f.store.disarm();
            let live = f.identity.tokens().verify_live(&set.access_token).await;
            match first {
                Err(e) => {
                    assert!(is_store_error(&e), "step {n}: {e:?}");
                    faulted += 1;
                    let still_there = if app_only {
                        applications
                            .retrieve(f.client)
                            .await
                            .unwrap()
                            .active()
                            .is_some()
                    } else {
                        let organizations = f.identity.organizations();
                        organizations
                            .retrieve(&f.org)
                            .await
                            .unwrap()
                            .active()
                            .is_some()
                    };
                    assert!(still_there, "step {n}: a failed deletion deletes nothing");
                    assert!(
                        matches!(
                            live,
                            Ok(_) | Err(Error::InvalidToken(TokenProblem::Revoked))
                        ),
                        "step {n}: {live:?}"
                    );
                    if app_only {
                        applications.delete(f.client).await.unwrap();
                    } else {
                        f.identity.organizations().delete(&f.org).await.unwrap();
                    }
                    let r = f.identity.tokens().verify_live(&set.access_token).await;
                    assert!(
                        matches!(r, Err(Error::InvalidToken(TokenProblem::Revoked))),
                        "step {n}, after the retry: {r:?}"
                    );
                }
                Ok(()) => {
                    assert!(
                        matches!(live, Err(Error::InvalidToken(TokenProblem::Revoked))),
                        "step {n}: {live:?}"
                    );
                    break;
                }
            }
        }
        assert!(faulted >= 2, "the deletion made {faulted} store calls");
    }
}

/// SECURITY 55: the `CROSS_TENANT_DENIED` event is required. When it cannot be written, the
/// refusal is answered as the store error — never as a success — and the owner's grant stays
/// untouched.
#[tokio::test]
async fn a_cross_tenant_denial_that_cannot_be_audited_is_still_refused() {
    let f = fixture().await;
    let set = f.exchange(&f.code().await).await.unwrap();
    let other = f
        .identity
        .applications(ApplicationScope::Organization(f.org.clone()))
        .create(NewApplication::new("Other", ApplicationType::Vue).unwrap())
        .await
        .unwrap()
        .application
        .client_id;
    let thief = ClientAuth::public(other);
    f.store.arm(FaultPlan::Method("record_event"));
    let tokens = f.identity.tokens();
    let r = tokens
        .refresh(&thief, set.refresh_token.expose(), None)
        .await;
    assert!(matches!(r, Err(Error::Store(_))), "{r:?}");
    let r = tokens
        .revoke_refresh_token(&thief, set.refresh_token.expose())
        .await;
    assert!(matches!(r, Err(Error::Store(_))), "{r:?}");
    f.store.disarm();
    tokens.verify_live(&set.access_token).await.unwrap();
    tokens
        .refresh(
            &ClientAuth::public(f.client),
            set.refresh_token.expose(),
            None,
        )
        .await
        .unwrap();
}
