//! SSO connections under concurrency, through the public API, on every store adapter:
//! `MemoryStore`, SQLite (a file of the test's own) and PostgreSQL (a fresh schema; with
//! `--features postgres` and `IDCORE_TEST_POSTGRES_URL`, otherwise skipped). The tasks are
//! released together by a barrier on a four-worker runtime; outcomes are exact: the number of
//! seats taken, of users provisioned, of magic links redeemed.

#[cfg(feature = "postgres")]
mod pg_schema;
mod sqlite_file;
mod support;

use std::sync::Arc;

use idcore::audit::EventCode;
use idcore::directory::Email;
use idcore::sessions::{ValidationFactor, ValidationFactors};
use idcore::sso::{
    NewSsoConnection, SsoConnectionUpdate, SsoSignIn, SsoSignInRequest, UserSecurityType,
    VerifiedIdentity,
};
use idcore::store::Store;
use idcore::tokens::pkce::CodeChallenge;
use idcore::{Error, PageRequest};
use support::*;

on_every_store!(
    "sso", "sso", 16;
    two_hundred_concurrent_sso_sign_ins_against_ten_seats_open_exactly_ten_sessions,
    concurrent_first_sign_ins_of_one_person_provision_one_user,
    a_magic_link_is_redeemed_once_under_fifty_concurrent_redemptions,
);

fn request(idp_id: &str, email: &str, address: &str) -> SsoSignInRequest {
    SsoSignInRequest {
        idp_id: idp_id.to_owned(),
        identity: VerifiedIdentity {
            subject: format!("idp|{email}"),
            email: email.to_owned(),
            email_verified: true,
            name: Some("Someone".to_owned()),
            ..VerifiedIdentity::default()
        },
        factors: ValidationFactors::parse(vec![ValidationFactor {
            name: "remote_address".to_owned(),
            value: address.to_owned(),
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

async fn seats_connection<S: Store + Clone>(f: &Fx<S>, seats: u64) -> String {
    let sso = f.identity.sso(&f.org);
    let c = sso.create(NewSsoConnection::new(f.client)).await.unwrap();
    sso.update(
        c.idp_id.as_str(),
        &SsoConnectionUpdate {
            user_security_type: Some(UserSecurityType::SeatsLimited),
            seats_limit: Some(seats),
            ..SsoConnectionUpdate::default()
        },
    )
    .await
    .unwrap();
    c.idp_id.to_string()
}

fn tally(results: &[Result<SsoSignIn, Error>]) -> (usize, usize) {
    let mut counts = (0, 0);
    for r in results {
        match r {
            Ok(_) => counts.0 += 1,
            Err(Error::SeatsLimitReached) => counts.1 += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    counts
}

/// 200 people sign in at once through a connection with 10 seats: exactly 10 sessions open
/// and 190 are refused with `seats_limit_reached`. One session ends; of 20 more people at
/// once exactly one takes the freed seat.
async fn two_hundred_concurrent_sso_sign_ins_against_ten_seats_open_exactly_ten_sessions<
    S: Store + Clone + 'static,
>(
    store: S,
) {
    let f = Arc::new(fixture_on(store, |b| b).await);
    let idp = Arc::new(seats_connection(&f, 10).await);
    let results = together(&f, 200, |f, i| {
        let idp = idp.clone();
        async move {
            f.identity
                .complete_sso(request(&idp, &format!("p{i}@corp.example"), "192.0.2.1"))
                .await
        }
    })
    .await;
    assert_eq!(tally(&results), (10, 190));
    let refused = f.events(EventCode::SSO_SIGN_IN_REFUSED).await;
    assert_eq!(refused.len(), 190);
    let winner = results
        .iter()
        .find_map(|r| r.as_ref().ok())
        .expect("ten winners");
    assert!(
        f.identity
            .sessions(&f.org)
            .invalidate(winner.session.token.expose())
            .await
            .unwrap()
    );
    let results = together(&f, 20, |f, i| {
        let idp = idp.clone();
        async move {
            f.identity
                .complete_sso(request(&idp, &format!("q{i}@corp.example"), "192.0.2.2"))
                .await
        }
    })
    .await;
    assert_eq!(tally(&results), (1, 19), "exactly the freed seat");
    assert_eq!(f.events(EventCode::SSO_SIGN_IN).await.len(), 11);
}

/// 20 concurrent first sign-ins of one person from 20 devices: one user is provisioned, every
/// sign-in succeeds for that user, and exactly one says it provisioned.
async fn concurrent_first_sign_ins_of_one_person_provision_one_user<S: Store + Clone + 'static>(
    store: S,
) {
    let f = Arc::new(fixture_on(store, |b| b).await);
    let sso = f.identity.sso(&f.org);
    let c = sso.create(NewSsoConnection::new(f.client)).await.unwrap();
    let idp = Arc::new(c.idp_id.to_string());
    let results = together(&f, 20, |f, i| {
        let idp = idp.clone();
        async move {
            f.identity
                .complete_sso(request(&idp, "one@corp.example", &format!("192.0.2.{i}")))
                .await
        }
    })
    .await;
    let done: Vec<&SsoSignIn> = results
        .iter()
        .map(|r| r.as_ref().expect("every sign-in succeeds"))
        .collect();
    let user = f
        .identity
        .users(&f.org)
        .retrieve_by_email(&Email::parse("one@corp.example").unwrap())
        .await
        .unwrap();
    assert!(done.iter().all(|d| d.user.id == user.id));
    assert_eq!(done.iter().filter(|d| d.provisioned).count(), 1);
    let users = f
        .identity
        .users(&f.org)
        .list(PageRequest::new(1, 100).unwrap())
        .await
        .unwrap();
    assert_eq!(users.total, 1);
}

/// One invitation's link, redeemed by 50 tasks at once: exactly one is granted.
async fn a_magic_link_is_redeemed_once_under_fifty_concurrent_redemptions<
    S: Store + Clone + 'static,
>(
    store: S,
) {
    let f = Arc::new(fixture_on(store, |b| b).await);
    let admin = "it_sso_person@sso.client.com";
    f.identity
        .sso(&f.org)
        .create(NewSsoConnection {
            sso_admin_email: Some(admin.to_owned()),
            send_email: true,
            ..NewSsoConnection::new(f.client)
        })
        .await
        .unwrap();
    let mail = f
        .outbox
        .last_to(&Email::parse(admin).unwrap())
        .expect("the invitation");
    let token = Arc::new(
        mail.body
            .split_once("token=")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .expect("a token")
            .to_owned(),
    );
    let results = together(&f, 50, |f, _| {
        let token = token.clone();
        async move { f.identity.redeem_sso_admin_link(&token).await }
    })
    .await;
    let granted = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(Error::InvalidGrant)))
        .count();
    assert_eq!((granted, refused), (1, 49), "{results:?}");
}
