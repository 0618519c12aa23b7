//! Crowd-style sessions under concurrency, through the public API, on every store adapter:
//! `MemoryStore`, SQLite (a file of the test's own) and PostgreSQL (a fresh schema; with
//! `--features postgres` and `IDCORE_TEST_POSTGRES_URL`, otherwise skipped). Each scenario is a
//! generic function over the store; [`on_every_store!`] expands it into `memory::<name>`,
//! `sqlite::<name>` and `postgres::<name>`. The tasks are released together by a barrier on a
//! four-worker runtime, and outcomes are exact: the number of sessions, of winners, of
//! refusals.

#[cfg(feature = "postgres")]
mod pg_schema;
mod sqlite_file;
mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use idcore::sessions::{
    SessionLimit, SessionSettings, TrustedApplication, ValidationFactor, ValidationFactors,
    WhenFull,
};
use idcore::store::Store;
use idcore::tokens::keys::EncryptionKey;
use idcore::{Environment, Error, Identity};
use support::*;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

on_every_store!(
    "sessions", "sess", 16;
    a_hundred_concurrent_opens_for_one_user_and_factors_give_one_session,
    a_validation_after_an_invalidation_returned_is_never_valid,
    a_limit_of_ten_under_two_hundred_concurrent_opens_admits_exactly_ten,
    an_evicting_limit_under_two_hundred_concurrent_opens_keeps_exactly_ten,
    a_session_opened_on_one_instance_validates_on_another,
);

fn at(address: &str) -> ValidationFactors {
    ValidationFactors::parse(vec![ValidationFactor {
        name: "remote_address".to_owned(),
        value: address.to_owned(),
    }])
    .unwrap()
}

/// A fixture whose application is trusted to open sessions, with `configure`d settings.
async fn trusted_fixture<S: Store + Clone>(
    store: S,
    configure: impl FnOnce(&mut SessionSettings),
) -> (Fx<S>, TrustedApplication) {
    let f = fixture_on(store, |b| b).await;
    let mut settings = SessionSettings::default();
    settings.trusted_applications.insert(f.client);
    configure(&mut settings);
    let identity = instance(&f, settings);
    let f = Fx { identity, ..f };
    f.active_user("janis@example.com").await;
    let trusted = f.identity.sessions(&f.org).trusted(f.client).await.unwrap();
    (f, trusted)
}

/// Another instance on the fixture's store, clock and key.
fn instance<S: Store + Clone>(f: &Fx<S>, settings: SessionSettings) -> Identity<S> {
    Identity::builder()
        .issuer("https://auth.example.com")
        .clock(f.clock.clone())
        .mailer(f.outbox.clone())
        .key_encryption_key(EncryptionKey::from_bytes(&[7; 32]).unwrap())
        .signin_settings(settings_for_tests())
        .session_settings(settings)
        .store(f.store.clone())
        .build()
        .unwrap()
}

fn settings_for_tests() -> idcore::SigninSettings {
    support::settings()
}

/// `n` concurrent trusted opens for one user, the `i`-th from `address(i)`, each answer with
/// its factors (in the order they finished).
async fn open_concurrently<S: Store + Clone + 'static>(
    f: &Fx<S>,
    trusted: &TrustedApplication,
    n: usize,
    address: impl Fn(usize) -> String,
) -> Vec<(ValidationFactors, Result<idcore::sessions::Session, Error>)> {
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let (identity, org, trusted, barrier) = (
            f.identity.clone(),
            f.org.clone(),
            trusted.clone(),
            barrier.clone(),
        );
        let factors = at(&address(i));
        tasks.spawn(async move {
            barrier.wait().await;
            let opened = identity
                .sessions(&org)
                .open_trusted(&trusted, "janis@example.com", factors.clone(), None)
                .await;
            (factors, opened)
        });
    }
    tasks.join_all().await
}

async fn live_sessions<S: Store>(f: &Fx<S>) -> usize {
    let user = f
        .identity
        .users(&f.org)
        .retrieve_by_email(&idcore::directory::Email::parse("janis@example.com").unwrap())
        .await
        .unwrap();
    f.store
        .user_sessions(Environment::Sandbox, &f.org, user.id, f.now())
        .await
        .unwrap()
        .len()
}

async fn a_hundred_concurrent_opens_for_one_user_and_factors_give_one_session<
    S: Store + Clone + 'static,
>(
    store: S,
) {
    let (f, trusted) = trusted_fixture(store, |_| {}).await;
    let results = open_concurrently(&f, &trusted, 100, |_| "203.0.113.7".to_owned()).await;
    let sessions: Vec<_> = results
        .into_iter()
        .map(|(_, r)| r.expect("every open succeeds"))
        .collect();
    let ids: HashSet<_> = sessions.iter().map(|s| s.id).collect();
    let tokens: HashSet<_> = sessions
        .iter()
        .map(|s| s.token.expose().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "one session");
    assert_eq!(tokens.len(), 1, "one token");
    assert_eq!(
        sessions.iter().filter(|s| !s.reused).count(),
        1,
        "one creation"
    );
    assert_eq!(live_sessions(&f).await, 1);
}

async fn a_validation_after_an_invalidation_returned_is_never_valid<S: Store + Clone + 'static>(
    store: S,
) {
    let (f, trusted) = trusted_fixture(store, |s| s.touch_interval = time::Duration::ZERO).await;
    let session = f
        .identity
        .sessions(&f.org)
        .open_trusted(&trusted, "janis@example.com", at("203.0.113.7"), None)
        .await
        .unwrap();
    let token = session.token.expose().to_owned();
    let returned = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(17));
    let mut tasks = JoinSet::new();
    for _ in 0..16 {
        let (identity, org, token, returned, barrier) = (
            f.identity.clone(),
            f.org.clone(),
            token.clone(),
            returned.clone(),
            barrier.clone(),
        );
        tasks.spawn(async move {
            barrier.wait().await;
            let (mut valid_before, mut refused_after) = (0u32, 0u32);
            for _ in 0..40 {
                let after = returned.load(Ordering::SeqCst);
                let result = identity
                    .sessions(&org)
                    .validate(&token, &at("203.0.113.7"))
                    .await;
                match (after, result) {
                    (true, Err(Error::InvalidSession)) => refused_after += 1,
                    (true, other) => panic!("valid after the invalidation returned: {other:?}"),
                    (false, Ok(_)) => valid_before += 1,
                    (false, Err(Error::InvalidSession)) => {}
                    (false, Err(e)) => panic!("unexpected error {e:?}"),
                }
                tokio::task::yield_now().await;
            }
            (valid_before, refused_after)
        });
    }
    barrier.wait().await;
    tokio::task::yield_now().await;
    assert!(
        f.identity
            .sessions(&f.org)
            .invalidate(&token)
            .await
            .unwrap()
    );
    returned.store(true, Ordering::SeqCst);
    let outcomes = tasks.join_all().await;
    let refused: u32 = outcomes.iter().map(|o| o.1).sum();
    assert!(refused > 0, "some validations ran after the invalidation");
    assert!(matches!(
        f.identity
            .sessions(&f.org)
            .validate(&token, &at("203.0.113.7"))
            .await,
        Err(Error::InvalidSession)
    ));
}

async fn a_limit_of_ten_under_two_hundred_concurrent_opens_admits_exactly_ten<
    S: Store + Clone + 'static,
>(
    store: S,
) {
    let (f, trusted) = trusted_fixture(store, |s| {
        s.limit = Some(SessionLimit {
            max: 10,
            when_full: WhenFull::Refuse,
        })
    })
    .await;
    let results = open_concurrently(&f, &trusted, 200, |i| {
        format!("10.0.{}.{}", i / 250, i % 250)
    })
    .await;
    let admitted = results.iter().filter(|(_, r)| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|(_, r)| matches!(r, Err(Error::SessionLimitReached)))
        .count();
    assert_eq!((admitted, refused), (10, 190));
    assert_eq!(live_sessions(&f).await, 10);
    // An ended session frees its seat, exactly one.
    let first = results.into_iter().find_map(|(_, r)| r.ok()).unwrap();
    f.identity
        .sessions(&f.org)
        .invalidate(first.token.expose())
        .await
        .unwrap();
    let again = open_concurrently(&f, &trusted, 20, |i| format!("10.1.0.{i}")).await;
    assert_eq!(again.iter().filter(|(_, r)| r.is_ok()).count(), 1);
    assert_eq!(live_sessions(&f).await, 10);
}

async fn an_evicting_limit_under_two_hundred_concurrent_opens_keeps_exactly_ten<
    S: Store + Clone + 'static,
>(
    store: S,
) {
    let (f, trusted) = trusted_fixture(store, |s| {
        s.limit = Some(SessionLimit {
            max: 10,
            when_full: WhenFull::EvictOldest,
        })
    })
    .await;
    let results = open_concurrently(&f, &trusted, 200, |i| {
        format!("10.0.{}.{}", i / 250, i % 250)
    })
    .await;
    assert!(
        results.iter().all(|(_, r)| r.is_ok()),
        "every open succeeds"
    );
    assert_eq!(live_sessions(&f).await, 10);
    let valid = {
        let mut n = 0;
        for (factors, r) in &results {
            let s = r.as_ref().unwrap();
            if f.identity
                .sessions(&f.org)
                .get(s.token.expose(), factors)
                .await
                .is_ok()
            {
                n += 1;
            }
        }
        n
    };
    assert_eq!(valid, 10, "the evicted sessions are ended");
}

async fn a_session_opened_on_one_instance_validates_on_another<S: Store + Clone + 'static>(
    store: S,
) {
    let (f, trusted) = trusted_fixture(store, |_| {}).await;
    let s = f
        .identity
        .sessions(&f.org)
        .open_trusted(&trusted, "janis@example.com", at("203.0.113.7"), None)
        .await
        .unwrap();
    let other = instance(&f, SessionSettings::default());
    let v = other
        .sessions(&f.org)
        .validate(s.token.expose(), &at("203.0.113.7"))
        .await
        .unwrap();
    assert_eq!(v.id, s.id);
    // Reuse across instances: the other instance derives the same token.
    let again = other
        .sessions(&f.org)
        .authenticate(idcore::sessions::Authenticate {
            login: "janis@example.com".to_owned(),
            password: idcore::signin::password::Password::new(PASSWORD),
            factors: at("203.0.113.7"),
            duration: None,
            context: idcore::risk::RequestContext::new(),
        })
        .await
        .unwrap();
    match again {
        idcore::sessions::SessionStep::Opened(a) => {
            assert!(a.reused);
            assert_eq!(a.token.expose(), s.token.expose());
        }
        other => panic!("expected the session, got {other:?}"),
    }
    assert!(
        other
            .sessions(&f.org)
            .invalidate(s.token.expose())
            .await
            .unwrap()
    );
    assert!(matches!(
        f.identity
            .sessions(&f.org)
            .validate(s.token.expose(), &at("203.0.113.7"))
            .await,
        Err(Error::InvalidSession)
    ));
}
