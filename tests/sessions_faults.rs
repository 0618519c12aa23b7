//! Storage faults at every store call of opening, validating and invalidating a session,
//! invalidating a user's sessions and deleting a user list's tokens (apstrata `DeleteToken`):
//! on failure no session token is handed out, no session is left behind by a failed open, a
//! failed end never leaves more alive than before (fail closed), and a retry completes it.
//!
//! Each test runs its flow once per store call `n`, on a fresh fixture, with the `n`-th call
//! failing; the loop ends when the flow makes fewer than `n` calls.

mod support;

use idcore::protocol::delete_token::{DeleteToken, DeleteTokenError};
use idcore::risk::RequestContext;
use idcore::sessions::{
    Authenticate, Session, SessionLimit, SessionSettings, SessionStep, ValidationFactor,
    ValidationFactors, WhenFull,
};
use idcore::signin::password::Password;
use idcore::store::MemoryStore;
use idcore::store::SessionStore;
use idcore::store::fault::{FaultPlan, FaultyStore};
use idcore::{Environment, Error};
use support::*;
use time::Duration;

type Faulty = FaultyStore<MemoryStore>;

const EMAIL: &str = "janis@example.com";

fn at(address: &str) -> ValidationFactors {
    ValidationFactors::parse(vec![ValidationFactor {
        name: "remote_address".to_owned(),
        value: address.to_owned(),
    }])
    .unwrap()
}

fn request(address: &str) -> Authenticate {
    Authenticate {
        login: EMAIL.to_owned(),
        password: Password::new(PASSWORD),
        factors: at(address),
        duration: None,
        context: RequestContext::new(),
    }
}

/// A fixture on a faulty store with a session limit (so opening also joins the counted set),
/// one active user, and `sessions` sessions already open (from 192.0.2.1, .2 …).
async fn setup(sessions: usize) -> (Fx<Faulty>, Vec<Session>) {
    let settings = SessionSettings {
        limit: Some(SessionLimit {
            max: 5,
            when_full: WhenFull::Refuse,
        }),
        touch_interval: Duration::ZERO,
        ..SessionSettings::default()
    };
    let f = fixture_on(FaultyStore::new(MemoryStore::new()), move |b| {
        b.session_settings(settings)
    })
    .await;
    f.active_user(EMAIL).await;
    let mut open = Vec::new();
    for i in 1..=sessions {
        open.push(open_ok(&f, &format!("192.0.2.{i}")).await);
    }
    (f, open)
}

async fn open_ok(f: &Fx<Faulty>, address: &str) -> Session {
    match f
        .identity
        .sessions(&f.org)
        .authenticate(request(address))
        .await
    {
        Ok(SessionStep::Opened(s)) => *s,
        other => panic!("expected a session, got {other:?}"),
    }
}

async fn stored(f: &Fx<Faulty>) -> usize {
    let user = f
        .identity
        .users(&f.org)
        .retrieve_by_email(&idcore::directory::Email::parse(EMAIL).unwrap())
        .await
        .unwrap();
    f.store
        .inner()
        .user_sessions(Environment::Sandbox, &f.org, user.id, f.now())
        .await
        .unwrap()
        .len()
}

async fn valid(f: &Fx<Faulty>, s: &Session, address: &str) -> bool {
    match f
        .identity
        .sessions(&f.org)
        .get(s.token.expose(), &at(address))
        .await
    {
        Ok(_) => true,
        Err(Error::InvalidSession) => false,
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

/// Runs `run` with the `n`-th store call failing, for every `n` the flow reaches; hands each
/// outcome and its fixture to `check`. Answers how many runs failed.
async fn every_fault<T, R>(
    before: usize,
    run: impl AsyncFn(&Fx<Faulty>, &[Session]) -> Result<R, T>,
    check: impl AsyncFn(u64, &Fx<Faulty>, &[Session], Result<R, T>),
) -> u64 {
    let mut failed = 0;
    for n in 1.. {
        let (f, open) = setup(before).await;
        f.store.arm(FaultPlan::NthCall(n));
        let r = run(&f, &open).await;
        let calls = f.store.calls();
        f.store.disarm();
        if calls < n {
            assert!(n > 3, "the flow makes store calls");
            return failed;
        }
        if r.is_err() {
            failed += 1;
        }
        check(n, &f, &open, r).await;
    }
    unreachable!()
}

#[tokio::test]
async fn opening_a_session_survives_a_fault_at_every_step() {
    let failed = every_fault(
        0,
        async |f, _| {
            f.identity
                .sessions(&f.org)
                .authenticate(request("203.0.113.7"))
                .await
        },
        async |n, f, _, r| match r {
            // A fault the flow tolerates (a best-effort write): the session is open.
            Ok(SessionStep::Opened(s)) => {
                assert_eq!(stored(f).await, 1, "step {n}");
                assert!(valid(f, &s, "203.0.113.7").await, "step {n}");
            }
            Ok(other) => panic!("step {n}: {other:?}"),
            Err(e) => {
                assert!(
                    matches!(e, Error::Store(_) | Error::SignInFailed),
                    "step {n}: {e:?}"
                );
                assert_eq!(stored(f).await, 0, "step {n}: no session left behind");
                // A retry opens exactly one session.
                let s = open_ok(f, "203.0.113.7").await;
                assert!(!s.reused, "step {n}");
                assert_eq!(stored(f).await, 1, "step {n}");
            }
        },
    )
    .await;
    assert!(failed >= 5, "most steps fail the open: {failed}");
}

#[tokio::test]
async fn validating_a_session_survives_a_fault_at_every_step() {
    let failed = every_fault(
        1,
        async |f, open| {
            f.clock.advance(Duration::minutes(10));
            f.identity
                .sessions(&f.org)
                .validate(open[0].token.expose(), &at("192.0.2.1"))
                .await
        },
        async |n, f, open, r| {
            match r {
                Ok(s) => assert_eq!(s.expires_at, f.now() + Duration::minutes(30), "step {n}"),
                Err(e) => assert!(matches!(e, Error::Store(_)), "step {n}: {e:?}"),
            }
            // Whatever failed, the session is alive and a retry slides it.
            let again = f
                .identity
                .sessions(&f.org)
                .validate(open[0].token.expose(), &at("192.0.2.1"))
                .await
                .unwrap();
            assert_eq!(
                again.expires_at,
                f.now() + Duration::minutes(30),
                "step {n}"
            );
        },
    )
    .await;
    assert!(failed >= 3, "{failed}");
}

#[tokio::test]
async fn invalidating_a_session_survives_a_fault_at_every_step() {
    let failed = every_fault(
        2,
        async |f, open| {
            f.identity
                .sessions(&f.org)
                .invalidate(open[0].token.expose())
                .await
        },
        async |n, f, open, r| {
            if let Err(e) = &r {
                assert!(matches!(e, Error::Store(_)), "step {n}: {e:?}");
                // The retry completes it.
                f.identity
                    .sessions(&f.org)
                    .invalidate(open[0].token.expose())
                    .await
                    .unwrap();
            } else {
                assert!(r.unwrap(), "step {n}");
            }
            assert!(!valid(f, &open[0], "192.0.2.1").await, "step {n}");
            assert!(
                valid(f, &open[1], "192.0.2.2").await,
                "step {n}: the other lives"
            );
            // Its seat is free: four more fit under the limit of five.
            for i in 10..14 {
                open_ok(f, &format!("192.0.2.{i}")).await;
            }
        },
    )
    .await;
    assert!(failed >= 2, "{failed}");
}

#[tokio::test]
async fn invalidating_a_users_sessions_survives_a_fault_at_every_step() {
    let failed = every_fault(
        3,
        async |f, open| {
            f.identity
                .sessions(&f.org)
                .invalidate_user(EMAIL, Some(open[2].token.expose()))
                .await
        },
        async |n, f, open, r| {
            if let Err(e) = &r {
                assert!(matches!(e, Error::Store(_)), "step {n}: {e:?}");
                f.identity
                    .sessions(&f.org)
                    .invalidate_user(EMAIL, Some(open[2].token.expose()))
                    .await
                    .unwrap();
            }
            assert!(!valid(f, &open[0], "192.0.2.1").await, "step {n}");
            assert!(!valid(f, &open[1], "192.0.2.2").await, "step {n}");
            assert!(valid(f, &open[2], "192.0.2.3").await, "step {n}: excluded");
            assert_eq!(stored(f).await, 1, "step {n}");
        },
    )
    .await;
    assert!(failed >= 3, "{failed}");
}

#[tokio::test]
async fn deleting_a_user_lists_tokens_survives_a_fault_at_every_step() {
    let failed = every_fault(
        2,
        async |f, _| {
            DeleteToken::ForUsers(vec![EMAIL.to_owned(), "nobody@example.com".to_owned()])
                .execute(&f.identity, &f.org, "owner-key")
                .await
        },
        async |n, f, open, r| {
            if let Err(e) = &r {
                // The user whose deletion failed is named: janis (its tokens are as they
                // were) or, once janis is done, the lookup of nobody.
                let named = match e {
                    DeleteTokenError::Internal(user) => user.as_str(),
                    other => panic!("step {n}: {other:?}"),
                };
                assert!([EMAIL, "nobody@example.com"].contains(&named), "step {n}");
                assert_eq!(e.code(), "INTERNAL_ERROR");
                assert_eq!(e.http_status(), 500);
                if named != EMAIL {
                    assert_eq!(stored(f).await, 0, "step {n}: janis is done");
                }
                // Sending the request again completes it.
                DeleteToken::ForUsers(vec![EMAIL.to_owned(), "nobody@example.com".to_owned()])
                    .execute(&f.identity, &f.org, "owner-key")
                    .await
                    .unwrap();
            }
            for (i, s) in open.iter().enumerate() {
                assert!(
                    !valid(f, s, &format!("192.0.2.{}", i + 1)).await,
                    "step {n}"
                );
            }
        },
    )
    .await;
    assert!(failed >= 3, "{failed}");
}
