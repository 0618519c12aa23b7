//! Shared setup for the sign-in tests: an `Identity` with a manual clock, a key-encryption key,
//! an in-memory outbox, cheap argon2 parameters, one organization and one application — on the
//! `MemoryStore`, or on a store of the test's choice ([`fixture_on`]).
#![allow(dead_code)] // each test binary uses its own subset

use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use idcore::audit::{Event, EventCode, EventQuery};
use idcore::clock::{Clock, ManualClock};
use idcore::directory::{ClientId, Email, OrgDomain, User};
use idcore::mail::MemoryOutbox;
use idcore::risk::{
    RequestContext, RiskAssessment, RiskContext, RiskDecision, RiskEngine, RiskError, RiskFuture,
    RiskReason,
};
use idcore::signin::password::{Argon2Params, Password};
use idcore::signin::totp::{DIGITS, TotpAlgorithm, TotpKey};
use idcore::signin::{
    Authorization, Factor, PendingSignIn, SignInRequest, SignInStep, SignUp, SigninSettings,
};
use idcore::store::Store;
use idcore::tokens::keys::EncryptionKey;
use idcore::tokens::pkce::CodeChallenge;
use idcore::{
    ApplicationScope, ApplicationType, Error, Identity, IdentityBuilder, MemoryStore,
    NewApplication, NewOrganization, NewUser, NoStore, PageRequest,
};
use time::OffsetDateTime;
use time::macros::datetime;

pub const START: OffsetDateTime = datetime!(2026-06-01 12:00:00 UTC);
pub const REDIRECT: &str = "https://app.example.com/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const PASSWORD: &str = "correct horse battery staple";

/// argon2id parameters small enough for tests (the defaults are exercised by the bench).
pub const SMALL: Argon2Params = Argon2Params {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

pub fn settings() -> SigninSettings {
    SigninSettings {
        argon2: SMALL,
        ..SigninSettings::default()
    }
}

pub struct Fx<S = MemoryStore> {
    pub identity: Identity<S>,
    pub store: S,
    pub clock: ManualClock,
    pub outbox: MemoryOutbox,
    pub org: OrgDomain,
    pub client: ClientId,
}

/// A fixture with the default risk engine and [`settings`].
pub async fn fixture() -> Fx {
    fixture_with(|b| b).await
}

/// A fixture whose builder `configure` may change (settings, risk engine …).
pub async fn fixture_with(
    configure: impl FnOnce(IdentityBuilder<NoStore>) -> IdentityBuilder<NoStore>,
) -> Fx {
    fixture_on(MemoryStore::new(), configure).await
}

/// As [`fixture_with`], on `store` (a SQLite file, a faulty store …).
pub async fn fixture_on<S: Store + Clone>(
    store: S,
    configure: impl FnOnce(IdentityBuilder<NoStore>) -> IdentityBuilder<NoStore>,
) -> Fx<S> {
    let clock = ManualClock::new(START);
    let outbox = MemoryOutbox::new();
    let builder = Identity::builder()
        .issuer("https://auth.example.com")
        .clock(clock.clone())
        .mailer(outbox.clone())
        .key_encryption_key(EncryptionKey::from_bytes(&[7; 32]).expect("a 32-byte key"))
        .signin_settings(settings());
    let identity = configure(builder)
        .store(store.clone())
        .build()
        .expect("a valid configuration");
    let org = identity
        .organizations()
        .create(NewOrganization::new("Misapret").unwrap())
        .await
        .unwrap()
        .domain;
    let app = identity
        .applications(ApplicationScope::Organization(org.clone()))
        .create(
            NewApplication::new("Bank", ApplicationType::React)
                .unwrap()
                .with(|a| a.allowed_redirect_urls(&[REDIRECT]))
                .unwrap(),
        )
        .await
        .unwrap();
    Fx {
        identity,
        store,
        clock,
        outbox,
        org,
        client: app.application.client_id,
    }
}

impl<S: Store> Fx<S> {
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn unix(&self) -> u64 {
        u64::try_from(self.now().unix_timestamp()).unwrap()
    }

    /// Signs `email` up with `password` (unverified).
    pub async fn sign_up(&self, email: &str, password: &str) -> User {
        self.identity
            .signin(&self.org)
            .sign_up(SignUp::new(
                NewUser::new(email).unwrap(),
                Password::new(password),
            ))
            .await
            .expect("sign-up")
    }

    /// The digits of the newest e-mail code sent to `email`.
    pub fn last_code(&self, email: &str) -> String {
        let mail = self
            .outbox
            .last_to(&Email::parse(email).unwrap())
            .expect("a mail to this address");
        code_in(&mail.body)
    }

    /// Signs `email` up with [`PASSWORD`] and verifies the address.
    pub async fn active_user(&self, email: &str) -> User {
        self.sign_up(email, PASSWORD).await;
        let code = self.last_code(email);
        self.identity
            .signin(&self.org)
            .confirm_email(email, &code, &RequestContext::new())
            .await
            .expect("confirm e-mail")
    }

    /// Enrols an authenticator for `user` and returns its key and the recovery codes.
    pub async fn enrol(&self, user: &User) -> (TotpKey, Vec<String>) {
        let signin = self.identity.signin(&self.org);
        let enrolment = signin.begin_totp_enrolment(user.id).await.unwrap();
        let key = key_of(enrolment.secret_base32().expose());
        let codes = signin
            .confirm_totp_enrolment(user.id, &key.generate(self.unix()), &RequestContext::new())
            .await
            .expect("confirm enrolment");
        // The enrolment used this step: move on so the next code is a fresh step.
        self.clock.advance(time::Duration::seconds(30));
        let codes = codes
            .codes()
            .iter()
            .map(|c| c.expose().to_owned())
            .collect();
        (key, codes)
    }

    pub fn authorization(&self) -> Authorization {
        Authorization {
            client_id: self.client,
            redirect_uri: REDIRECT.to_owned(),
            code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
            nonce: Some("n-0S6_WzA2Mj".to_owned()),
            state: Some("af0ifjsldkj".to_owned()),
            scope: vec!["openid".to_owned(), "email".to_owned()],
        }
    }

    pub fn request(&self, login: &str, password: &str) -> SignInRequest {
        self.request_from(login, password, RequestContext::new())
    }

    pub fn request_from(
        &self,
        login: &str,
        password: &str,
        context: RequestContext,
    ) -> SignInRequest {
        SignInRequest {
            login: login.to_owned(),
            password: Password::new(password),
            authorization: self.authorization(),
            context,
        }
    }

    pub async fn sign_in(&self, login: &str, password: &str) -> Result<SignInStep, Error> {
        self.identity
            .signin(&self.org)
            .sign_in(self.request(login, password))
            .await
    }

    pub async fn complete(
        &self,
        pending: &PendingSignIn,
        factor: Factor,
    ) -> Result<SignInStep, Error> {
        self.identity
            .signin(&self.org)
            .complete(pending.token.expose(), factor, &RequestContext::new())
            .await
    }

    /// Every event with `code`, oldest first.
    pub async fn events(&self, code: EventCode) -> Vec<Event> {
        let query = EventQuery::tenant(&self.org).code(code);
        let mut list = Vec::new();
        for page in 1.. {
            let data = self
                .identity
                .events()
                .list(&query, PageRequest::new(page, 100).unwrap())
                .await
                .unwrap()
                .data;
            if data.is_empty() {
                break;
            }
            list.extend(data);
        }
        list.reverse();
        list
    }

    /// The `reason` details of every event with `code`, oldest first.
    pub async fn reasons(&self, code: EventCode) -> Vec<String> {
        self.events(code)
            .await
            .into_iter()
            .map(|e| e.details.get("reason").cloned().unwrap_or_default())
            .collect()
    }
}

/// A TOTP key from the base32 secret an enrolment shows.
pub fn key_of(base32: &str) -> TotpKey {
    let bytes = totp_rs::Secret::try_from_base32(base32)
        .expect("base32")
        .as_bytes()
        .to_vec();
    TotpKey::new(&bytes, TotpAlgorithm::Sha1, DIGITS).unwrap()
}

/// The first run of digits after "code is " in a mail body.
pub fn code_in(body: &str) -> String {
    let rest = body.split("code is ").nth(1).expect("a code in the mail");
    rest.chars().take_while(char::is_ascii_digit).collect()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[track_caller]
pub fn expect_complete(step: Result<SignInStep, Error>) -> idcore::signin::Authorized {
    match step {
        Ok(SignInStep::Complete(a)) => a,
        other => panic!("expected a completed sign-in, got {other:?}"),
    }
}

#[track_caller]
pub fn expect_pending(step: Result<SignInStep, Error>) -> PendingSignIn {
    match step {
        Ok(SignInStep::FactorRequired(p)) => p,
        other => panic!("expected a pending sign-in, got {other:?}"),
    }
}

/// Asserts the one sign-in failure: `access_denied`, 401.
#[track_caller]
pub fn assert_sign_in_failed<T: Debug>(result: Result<T, Error>) {
    let err = result.expect_err("expected sign-in to fail");
    assert!(matches!(err, Error::SignInFailed), "got {err:?}");
    assert_eq!(err.code(), "access_denied");
    assert_eq!(err.http_status(), 401);
}

/// A risk engine answering one fixed decision, counting its calls.
#[derive(Clone)]
pub struct Fixed {
    pub decision: RiskDecision,
    pub calls: Arc<AtomicUsize>,
}

impl Fixed {
    pub fn new(decision: RiskDecision) -> Self {
        Self {
            decision,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl RiskEngine for Fixed {
    fn assess<'a>(&'a self, _context: &'a RiskContext) -> RiskFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let decision = self.decision;
        Box::pin(async move {
            Ok(RiskAssessment::new(
                decision,
                RiskReason::Other("fixed".to_owned()),
            ))
        })
    }
}

/// Runs `n` copies of `task` (the `i`-th given `i`) on the fixture, released together by a
/// barrier, and answers their results in the order of `i`.
pub async fn together<S, T, F, Fut>(f: &Arc<Fx<S>>, n: usize, task: F) -> Vec<T>
where
    S: Store + Clone + 'static,
    T: Send + 'static,
    F: Fn(Arc<Fx<S>>, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let (barrier, work) = (barrier.clone(), task(f.clone(), i));
        set.spawn(async move {
            barrier.wait().await;
            (i, work.await)
        });
    }
    let mut results: Vec<(usize, T)> = set.join_all().await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// A risk engine that always fails.
pub struct Broken;

#[derive(Debug, thiserror::Error)]
#[error("risk backend down")]
pub struct Down;

impl RiskEngine for Broken {
    fn assess<'a>(&'a self, _context: &'a RiskContext) -> RiskFuture<'a> {
        Box::pin(async { Err(RiskError::new(Down)) })
    }
}

/// Expands each scenario (a generic `async fn name<S: Store …>(store: S)` of the calling test
/// file) into a test per store adapter: `memory::<name>`, `sqlite::<name>` (a fresh file named
/// after `$file`) and `postgres::<name>` (a fresh schema named after `$schema`, through a pool
/// of `$pool` connections; skipped without `IDCORE_TEST_POSTGRES_URL`). The calling file
/// declares `mod sqlite_file;` and, with the `postgres` feature, `mod pg_schema;`.
#[allow(unused_macros)]
macro_rules! on_every_store {
    ($file:literal, $schema:literal, $pool:literal; $($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(idcore::MemoryStore::new()).await;
                }
            )*
        }

        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = crate::sqlite_file::TempDb::fresh($file).await;
                    super::$name(db.open().await).await;
                }
            )*
        }

        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(schema) = crate::pg_schema::PgSchema::fresh($schema).await else {
                        return;
                    };
                    super::$name(schema.open_with_pool($pool)).await;
                    schema.drop_schema().await;
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_every_store;
