//! Storage faults at every step of sign-up, e-mail confirmation, password sign-in (right and
//! wrong password), TOTP and recovery-code completion and password change (SECURITY.md 52–55):
//! on failure no code is returned, nothing is half-written (no user without credentials, no
//! leaked lockout reservation, no new password with live old tokens, no factor accepted twice),
//! a failed guess stays a refusal, counted and audited, and a retry works.
//!
//! Each test runs its flow once per store call `n`, on a fresh fixture, with the `n`-th call
//! failing; the loop ends when the flow makes fewer than `n` calls. Where the outcome depends on
//! whether a given write happened, the index of that write is found by failing the method by
//! name ([`FaultPlan::Method`]): the failing call is counted, so `calls()` is its index.

mod support;

use idcore::audit::{EventCode, EventQuery};
use idcore::clock::{Clock, ManualClock};
use idcore::directory::{ClientId, Email, OrgDomain, User, UserId};
use idcore::mail::MemoryOutbox;
use idcore::risk::{RequestContext, RiskDecision};
use idcore::signin::password::Password;
use idcore::signin::totp::TotpKey;
use idcore::signin::{
    Authorization, Authorized, Factor, PendingSignIn, SignInRequest, SignInStep, SignUp,
};
use idcore::store::fault::{FaultPlan, FaultyStore, InjectedFault};
use idcore::store::{AccountStatus, CounterStore, CredentialStore, Key, MemoryStore, UserStore};
use idcore::tokens::keys::EncryptionKey;
use idcore::tokens::{ClientAuth, TokenSet};
use idcore::{
    ApplicationScope, ApplicationType, Error, Identity, NewApplication, NewOrganization, NewUser,
    PageRequest, TokenProblem,
};
use support::{Fixed, PASSWORD, REDIRECT, START, VERIFIER, code_in, ip, key_of, settings};
use time::Duration;

const EMAIL: &str = "janis@example.com";
const NEW_PASSWORD: &str = "a brand new passphrase, unbreached";
const CLIENT_IP: &str = "203.0.113.7";

type Faulty = FaultyStore<MemoryStore>;

struct Fx {
    identity: Identity<Faulty>,
    store: Faulty,
    clock: ManualClock,
    outbox: MemoryOutbox,
    org: OrgDomain,
    client: ClientId,
}

/// A fresh identity over a faulty in-memory store. The risk engine always accepts, so the
/// failures these tests cause never turn into challenges.
async fn fixture() -> Fx {
    let clock = ManualClock::new(START);
    let outbox = MemoryOutbox::new();
    let store = FaultyStore::new(MemoryStore::new());
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .clock(clock.clone())
        .mailer(outbox.clone())
        .key_encryption_key(EncryptionKey::from_bytes(&[7; 32]).unwrap())
        .signin_settings(settings())
        .risk_engine(Fixed::new(RiskDecision::Accept))
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

fn context() -> RequestContext {
    let mut c = RequestContext::new();
    c.client_ip = Some(ip(CLIENT_IP));
    c
}

impl Fx {
    fn unix(&self) -> u64 {
        u64::try_from(self.clock.now().unix_timestamp()).unwrap()
    }

    async fn sign_up(&self) -> Result<User, Error> {
        self.identity
            .signin(&self.org)
            .sign_up(SignUp::new(
                NewUser::new(EMAIL).unwrap(),
                Password::new(PASSWORD),
            ))
            .await
    }

    async fn confirm(&self, code: &str) -> Result<User, Error> {
        self.identity
            .signin(&self.org)
            .confirm_email(EMAIL, code, &context())
            .await
    }

    /// The newest e-mail code, if any mail was sent.
    fn last_code(&self) -> Option<String> {
        self.outbox
            .last_to(&Email::parse(EMAIL).unwrap())
            .map(|m| code_in(&m.body))
    }

    async fn active_user(&self) -> User {
        self.sign_up().await.unwrap();
        self.confirm(&self.last_code().unwrap()).await.unwrap()
    }

    async fn enrol(&self, user: &User) -> (TotpKey, Vec<String>) {
        let signin = self.identity.signin(&self.org);
        let enrolment = signin.begin_totp_enrolment(user.id).await.unwrap();
        let key = key_of(enrolment.secret_base32().expose());
        let codes = signin
            .confirm_totp_enrolment(user.id, &key.generate(self.unix()), &context())
            .await
            .unwrap();
        self.clock.advance(Duration::seconds(30));
        let codes = codes
            .codes()
            .iter()
            .map(|c| c.expose().to_owned())
            .collect();
        (key, codes)
    }

    async fn sign_in(&self, password: &str) -> Result<SignInStep, Error> {
        let request = SignInRequest {
            login: EMAIL.to_owned(),
            password: Password::new(password),
            authorization: self.authorization(),
            context: context(),
        };
        self.identity.signin(&self.org).sign_in(request).await
    }

    fn authorization(&self) -> Authorization {
        Authorization {
            client_id: self.client,
            redirect_uri: REDIRECT.to_owned(),
            code_challenge: idcore::tokens::pkce::CodeChallenge::s256(VERIFIER).unwrap(),
            nonce: None,
            state: Some("af0ifjsldkj".to_owned()),
            scope: vec!["openid".to_owned()],
        }
    }

    async fn complete(&self, pending: &PendingSignIn, factor: Factor) -> Result<SignInStep, Error> {
        self.identity
            .signin(&self.org)
            .complete(pending.token.expose(), factor, &context())
            .await
    }

    async fn exchange(&self, done: &Authorized) -> Result<TokenSet, Error> {
        self.identity
            .tokens()
            .exchange_code(
                &ClientAuth::public(self.client),
                done.code.expose(),
                REDIRECT,
                VERIFIER,
            )
            .await
    }

    /// Asserts the code redeems for tokens that verify live.
    async fn redeem(&self, done: &Authorized) -> TokenSet {
        let set = self.exchange(done).await.expect("the code redeems");
        self.identity
            .tokens()
            .verify_live(&set.access_token)
            .await
            .expect("the access token verifies");
        set
    }

    /// Failed-attempt reservations held on the user (read past the fault wrapper).
    async fn user_failures(&self, user: UserId) -> u64 {
        let key = Key::new("lockout:user", &[self.org.as_str(), &user.to_string()]);
        self.store
            .inner()
            .count(self.identity.environment(), &key, self.clock.now())
            .await
            .unwrap()
    }

    /// Failed-attempt reservations held on the client address.
    async fn ip_failures(&self) -> u64 {
        self.counter(Key::new("lockout:ip", &[self.org.as_str(), CLIENT_IP]))
            .await
    }

    /// The user's failed guesses the risk engine sees (reservations in flight excluded).
    async fn user_failed(&self, user: UserId) -> u64 {
        self.counter(Key::new(
            "failures:user",
            &[self.org.as_str(), &user.to_string()],
        ))
        .await
    }

    /// The client address's failed guesses the risk engine sees.
    async fn ip_failed(&self) -> u64 {
        self.counter(Key::new("failures:ip", &[self.org.as_str(), CLIENT_IP]))
            .await
    }

    /// A counter's value, read past the fault wrapper.
    async fn counter(&self, key: Key) -> u64 {
        self.store
            .inner()
            .count(self.identity.environment(), &key, self.clock.now())
            .await
            .unwrap()
    }

    async fn users(&self) -> Vec<User> {
        let (users, total) = self
            .store
            .inner()
            .list_users(
                self.identity.environment(),
                &self.org,
                PageRequest::new(1, 100).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(total, users.len() as u64);
        users
    }

    async fn status(&self, user: UserId) -> Option<AccountStatus> {
        self.store
            .inner()
            .credentials(self.identity.environment(), &self.org, user)
            .await
            .unwrap()
            .map(|c| c.status)
    }

    async fn count_events(&self, code: EventCode) -> u64 {
        self.identity
            .events()
            .list(
                &EventQuery::tenant(&self.org).code(code),
                PageRequest::new(1, 100).unwrap(),
            )
            .await
            .unwrap()
            .total
    }
}

/// The method an injected fault failed, if `e` is one.
fn injected(e: &Error) -> Option<&'static str> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(f) = s.downcast_ref::<InjectedFault>() {
            return Some(f.0);
        }
        source = s.source();
    }
    None
}

/// Asserts `r` failed with the injected store error; answers the method that failed.
#[track_caller]
fn store_fault<T: std::fmt::Debug>(n: u64, r: Result<T, Error>) -> &'static str {
    let e = r.expect_err("a failed call");
    assert!(matches!(e, Error::Store(_)), "step {n}: {e:?}");
    injected(&e).unwrap_or_else(|| panic!("step {n}: not the injected fault: {e:?}"))
}

#[track_caller]
fn complete_of(n: u64, step: Result<SignInStep, Error>) -> Authorized {
    match step {
        Ok(SignInStep::Complete(a)) => a,
        other => panic!("step {n}: expected a completed sign-in, got {other:?}"),
    }
}

#[track_caller]
fn pending_of(n: u64, step: Result<SignInStep, Error>) -> PendingSignIn {
    match step {
        Ok(SignInStep::FactorRequired(p)) => p,
        other => panic!("step {n}: expected a pending sign-in, got {other:?}"),
    }
}

#[track_caller]
fn refused<T: std::fmt::Debug>(n: u64, r: Result<T, Error>) {
    match r {
        Err(Error::SignInFailed) => {}
        other => panic!("step {n}: expected SignInFailed, got {other:?}"),
    }
}

/// The method of each of the flow's store calls, by index from 1 (`calls[n - 1]`), found by
/// failing each in turn; `None` for a call whose failure the flow tolerates (an informative
/// audit event, a best-effort update).
async fn calls_of<T>(
    setup: impl AsyncFn() -> (Fx, T),
    run: impl AsyncFn(&Fx, &T) -> Result<(), Error>,
) -> Vec<Option<&'static str>> {
    let mut methods = Vec::new();
    for n in 1.. {
        let (f, state) = setup().await;
        f.store.arm(FaultPlan::NthCall(n));
        let r = run(&f, &state).await;
        let calls = f.store.calls();
        f.store.disarm();
        if calls < n {
            return methods;
        }
        methods.push(r.err().as_ref().and_then(injected));
    }
    unreachable!()
}

/// The indices (from 1) of the calls of `method`.
fn indices(calls: &[Option<&'static str>], method: &str) -> Vec<u64> {
    (1..)
        .zip(calls)
        .filter(|(_, m)| **m == Some(method))
        .map(|(n, _)| n)
        .collect()
}

/// The index of the only call of `method`.
#[track_caller]
fn index(calls: &[Option<&'static str>], method: &str) -> u64 {
    match indices(calls, method)[..] {
        [n] => n,
        ref other => panic!("{method} at {other:?} in {calls:?}"),
    }
}

/// Whether the access token is refused as revoked by live verification (after the staleness
/// bound of the revocation view, so the answer reflects the store).
async fn access_revoked(f: &Fx, set: &TokenSet) -> bool {
    f.clock.advance(Duration::seconds(10));
    match f.identity.tokens().verify_live(&set.access_token).await {
        Ok(_) => false,
        Err(Error::InvalidToken(TokenProblem::Revoked)) => true,
        Err(e) => panic!("unexpected verification error: {e:?}"),
    }
}

// ------------------------------------------------------------------------------- sign-up

#[tokio::test]
async fn sign_up_survives_a_fault_at_every_step() {
    let setup = async || (fixture().await, ());
    let run = async |f: &Fx, _: &()| f.sign_up().await.map(drop);
    let steps = calls_of(setup, run).await;
    let insert = index(&steps, "insert_account");
    let (mut faulted, mut ran) = (0, 0);
    for n in 1.. {
        ran += 1;
        let (f, ()) = setup().await;
        f.store.arm(FaultPlan::NthCall(n));
        let first = f.sign_up().await;
        let calls = f.store.calls();
        f.store.disarm();
        match first {
            Ok(_) => assert!(f.last_code().is_some(), "step {n}: the code was sent"),
            Err(e) => {
                faulted += 1;
                let method = store_fault(n, Err::<(), _>(e));
                let users = f.users().await;
                if n <= insert {
                    // Nothing written: signing up again works.
                    assert!(users.is_empty(), "step {n} ({method}): {users:?}");
                    assert_eq!(f.last_code(), None, "step {n}");
                    f.sign_up()
                        .await
                        .unwrap_or_else(|e| panic!("step {n}: sign-up again: {e:?}"));
                } else {
                    // The account exists whole (user and credentials, unverified); only the
                    // code was lost. Signing up again is refused; a re-sent code finishes it.
                    assert_eq!(method, "put_once", "step {n}");
                    assert_eq!(users.len(), 1, "step {n}");
                    assert_eq!(
                        f.status(users[0].id).await,
                        Some(AccountStatus::Unverified),
                        "step {n}"
                    );
                    assert_eq!(f.last_code(), None, "step {n}");
                    let again = f.sign_up().await;
                    assert!(
                        matches!(again, Err(Error::AlreadyExists { key: "email", .. })),
                        "step {n}: {again:?}"
                    );
                    f.identity
                        .signin(&f.org)
                        .resend_email_code(EMAIL)
                        .await
                        .unwrap();
                }
            }
        }
        // Whatever failed, the user finishes signing up, once, and signs in.
        let user = f
            .confirm(&f.last_code().expect("a code"))
            .await
            .unwrap_or_else(|e| panic!("step {n}: confirm: {e:?}"));
        assert!(user.profile.email_verified, "step {n}");
        let users = f.users().await;
        assert_eq!(users.len(), 1, "step {n}: one user");
        assert_eq!(users[0].id, user.id, "step {n}");
        assert_eq!(f.status(user.id).await, Some(AccountStatus::Active));
        assert_eq!(f.count_events(EventCode::USER_CREATED).await, 1, "step {n}");
        let done = complete_of(n, f.sign_in(PASSWORD).await);
        f.redeem(&done).await;
        if calls < n {
            break;
        }
    }
    // The organization check, the account insert, the code's put (the code-sent event is
    // informative: a fault there still answers `Ok`).
    assert_eq!(faulted, 3, "sign-up's failing steps");
    assert!(ran > 3, "every step ran ({ran})");
}

#[tokio::test]
async fn email_confirmation_survives_a_fault_at_every_step() {
    let setup = async || {
        let f = fixture().await;
        let user = f.sign_up().await.unwrap();
        let code = f.last_code().unwrap();
        (f, (user, code))
    };
    let run = async |f: &Fx, s: &(User, String)| f.confirm(&s.1).await.map(drop);
    let steps = calls_of(setup, run).await;
    let take = index(&steps, "take");
    let decrement = indices(&steps, "decrement")[0];
    let profile = index(&steps, "update_user");
    assert!(take < decrement && decrement < profile, "{steps:?}");
    let mut faulted = 0;
    for n in 1.. {
        let (f, (user, code)) = setup().await;
        f.store.arm(FaultPlan::NthCall(n));
        let first = f.confirm(&code).await;
        let calls = f.store.calls();
        f.store.disarm();
        match first {
            Ok(u) => assert!(u.profile.email_verified, "step {n}"),
            Err(e) => {
                faulted += 1;
                let method = store_fault(n, Err::<(), _>(e));
                // The account is not active: sign-in is refused as unverified.
                assert_eq!(
                    f.status(user.id).await,
                    Some(AccountStatus::Unverified),
                    "step {n} ({method})"
                );
                let r = f.sign_in(PASSWORD).await;
                assert!(matches!(r, Err(Error::EmailNotVerified)), "step {n}: {r:?}");
                // The profile flag is written before the credentials: it may be ahead of them
                // (harmless: sign-in follows the credentials, and confirming again fixes it).
                let stored = f.identity.users(&f.org).retrieve(user.id).await.unwrap();
                assert_eq!(stored.profile.email_verified, n > profile, "step {n}");
                // No reservation leaked, but one whose give-back was the failed call.
                assert_eq!(
                    f.user_failures(user.id).await,
                    u64::from(n == decrement),
                    "step {n} ({method})"
                );
                assert_eq!(
                    f.ip_failures().await,
                    u64::from(n == decrement + 1),
                    "step {n} ({method})"
                );
                if n <= take {
                    // The code was not spent: it still works.
                    f.confirm(&code)
                        .await
                        .unwrap_or_else(|e| panic!("step {n}: same code: {e:?}"));
                } else {
                    // The code was spent: it is refused; a re-sent code works.
                    let r = f.confirm(&code).await;
                    assert!(matches!(r, Err(Error::InvalidCode)), "step {n}: {r:?}");
                    f.identity
                        .signin(&f.org)
                        .resend_email_code(EMAIL)
                        .await
                        .unwrap();
                    let fresh = f.last_code().unwrap();
                    assert_ne!(fresh, code);
                    f.confirm(&fresh)
                        .await
                        .unwrap_or_else(|e| panic!("step {n}: re-sent code: {e:?}"));
                }
            }
        }
        assert_eq!(f.status(user.id).await, Some(AccountStatus::Active));
        assert_eq!(f.users().await.len(), 1, "step {n}");
        let done = complete_of(n, f.sign_in(PASSWORD).await);
        f.redeem(&done).await;
        if calls < n {
            break;
        }
    }
    assert!(
        faulted > 3,
        "confirmation touches the store at several steps ({faulted})"
    );
}

// ------------------------------------------------------------------------------- sign-in

#[tokio::test]
async fn password_sign_in_survives_a_fault_at_every_step() {
    let setup = async || {
        let f = fixture().await;
        let user = f.active_user().await;
        (f, user)
    };
    let run = async |f: &Fx, _: &User| f.sign_in(PASSWORD).await.map(drop);
    let steps = calls_of(setup, run).await;
    let decrement = indices(&steps, "decrement")[0];
    let mut faulted = 0;
    for n in 1.. {
        let (f, user) = setup().await;
        f.store.arm(FaultPlan::NthCall(n));
        let first = f.sign_in(PASSWORD).await;
        let calls = f.store.calls();
        f.store.disarm();
        let done = match first {
            Ok(step) => complete_of(n, Ok(step)),
            Err(e) => {
                faulted += 1;
                let method = store_fault(n, Err::<(), _>(e));
                assert_eq!(f.count_events(EventCode::SIGN_IN_SUCCEEDED).await, 0);
                // The correct password's reservation was given back — unless giving it back
                // was the failed call: then exactly one is held, far from the threshold.
                assert_eq!(
                    f.user_failures(user.id).await,
                    u64::from(n == decrement),
                    "step {n} ({method})"
                );
                assert_eq!(
                    f.ip_failures().await,
                    u64::from(n == decrement + 1),
                    "step {n} ({method})"
                );
                complete_of(n, f.sign_in(PASSWORD).await)
            }
        };
        assert_eq!(done.user_id, user.id);
        f.redeem(&done).await;
        assert_eq!(
            f.count_events(EventCode::SIGN_IN_SUCCEEDED).await,
            1,
            "step {n}"
        );
        if calls < n {
            break;
        }
    }
    assert!(
        faulted > 3,
        "sign-in touches the store at several steps ({faulted})"
    );
}

/// A wrong password with a fault at each store call is refused — with the store error or
/// [`Error::SignInFailed`], never a success; its lockout reservations are kept unless taking
/// them was the failed call; its failure is counted for the risk engine unless counting was the
/// failed call, and audited unless the audit write was — a fault in one never skips another.
#[tokio::test]
async fn wrong_password_survives_a_fault_at_every_step() {
    let setup = async || {
        let f = fixture().await;
        let user = f.active_user().await;
        (f, user)
    };
    let run = async |f: &Fx, _: &User| f.sign_in("wrong password").await.map(drop);
    let steps = calls_of(setup, run).await;
    // The reservations on the user and the address, then the failure counts of the user and
    // the address, then the failure event.
    let [reserve_user, reserve_ip, failed_user, failed_ip] = indices(&steps, "increment")[..]
    else {
        panic!("four increments: {steps:?}");
    };
    let audit = index(&steps, "record_event");
    assert!(
        reserve_user < reserve_ip
            && reserve_ip < failed_user
            && failed_user < failed_ip
            && failed_ip < audit,
        "{steps:?}"
    );
    for n in 1.. {
        let (f, user) = setup().await;
        f.store.arm(FaultPlan::NthCall(n));
        let first = f.sign_in("wrong password").await;
        let calls = f.store.calls();
        f.store.disarm();
        if n <= calls && steps[usize::try_from(n - 1).unwrap()].is_some() {
            let method = store_fault(n, first);
            assert_eq!(Some(method), steps[usize::try_from(n - 1).unwrap()]);
        } else {
            refused(n, first);
        }
        // The guess was evaluated once both reservations were taken; from then on it is a
        // failure whatever else fails.
        let evaluated = n > reserve_ip;
        assert_eq!(
            f.user_failures(user.id).await,
            u64::from(evaluated),
            "step {n}"
        );
        assert_eq!(f.ip_failures().await, u64::from(evaluated), "step {n}");
        assert_eq!(
            f.user_failed(user.id).await,
            u64::from(evaluated && n != failed_user),
            "step {n}"
        );
        assert_eq!(
            f.ip_failed().await,
            u64::from(evaluated && n != failed_ip),
            "step {n}"
        );
        assert_eq!(
            f.count_events(EventCode::SIGN_IN_FAILED).await,
            u64::from(evaluated && n != audit),
            "step {n}"
        );
        assert_eq!(f.count_events(EventCode::SIGN_IN_SUCCEEDED).await, 0);
        // The right password still works, and gives only its own reservation back.
        let done = complete_of(n, f.sign_in(PASSWORD).await);
        f.redeem(&done).await;
        assert_eq!(
            f.user_failures(user.id).await,
            u64::from(evaluated),
            "step {n}"
        );
        if calls < n {
            break;
        }
    }
}

struct Enrolled {
    user: User,
    key: TotpKey,
    recovery: Vec<String>,
    pending: PendingSignIn,
    code: String,
}

async fn enrolled() -> (Fx, Enrolled) {
    let f = fixture().await;
    let user = f.active_user().await;
    let (key, recovery) = f.enrol(&user).await;
    let pending = pending_of(0, f.sign_in(PASSWORD).await);
    let code = key.generate(f.unix());
    (
        f,
        Enrolled {
            user,
            key,
            recovery,
            pending,
            code,
        },
    )
}

/// A TOTP step is spent by the `advance` call; the pending sign-in by the `take` after the
/// reservations are given back. A fault before the step is spent changes nothing (the same
/// code works on the same pending sign-in); after it, the same code is refused and the next
/// step works — on the same pending sign-in until it was taken, on a new sign-in after.
#[tokio::test]
async fn totp_completion_survives_a_fault_at_every_step() {
    let run = async |f: &Fx, s: &Enrolled| {
        f.complete(&s.pending, Factor::Totp(s.code.clone()))
            .await
            .map(drop)
    };
    let steps = calls_of(enrolled, run).await;
    let advance = index(&steps, "advance");
    let decrement = indices(&steps, "decrement")[0];
    let take = index(&steps, "take");
    assert!(advance < decrement && decrement < take, "{steps:?}");
    let mut faulted = 0;
    for n in 1.. {
        let (f, s) = enrolled().await;
        f.store.arm(FaultPlan::NthCall(n));
        let first = f.complete(&s.pending, Factor::Totp(s.code.clone())).await;
        let calls = f.store.calls();
        f.store.disarm();
        let (done, accepted) = match first {
            Ok(step) => (complete_of(n, Ok(step)), s.code.clone()),
            Err(e) => {
                faulted += 1;
                let method = store_fault(n, Err::<(), _>(e));
                assert_eq!(f.count_events(EventCode::SIGN_IN_SUCCEEDED).await, 0);
                assert_eq!(
                    f.user_failures(s.user.id).await,
                    u64::from(n == decrement),
                    "step {n} ({method})"
                );
                assert_eq!(
                    f.ip_failures().await,
                    u64::from(n == decrement + 1),
                    "step {n} ({method})"
                );
                if n <= advance {
                    let same = f.complete(&s.pending, Factor::Totp(s.code.clone())).await;
                    (complete_of(n, same), s.code.clone())
                } else {
                    let pending = if n <= take {
                        s.pending
                    } else {
                        // The pending sign-in was used up: a new sign-in is needed.
                        refused(
                            n,
                            f.complete(&s.pending, Factor::Totp(s.code.clone())).await,
                        );
                        pending_of(n, f.sign_in(PASSWORD).await)
                    };
                    // The spent step is never accepted again; the next one is.
                    refused(n, f.complete(&pending, Factor::Totp(s.code.clone())).await);
                    f.clock.advance(Duration::seconds(30));
                    let next = s.key.generate(f.unix());
                    assert_ne!(next, s.code);
                    let done =
                        complete_of(n, f.complete(&pending, Factor::Totp(next.clone())).await);
                    (done, next)
                }
            }
        };
        f.redeem(&done).await;
        assert_eq!(
            f.count_events(EventCode::SIGN_IN_SUCCEEDED).await,
            1,
            "step {n}"
        );
        // The accepted step is spent.
        let again = pending_of(n, f.sign_in(PASSWORD).await);
        refused(n, f.complete(&again, Factor::Totp(accepted)).await);
        if calls < n {
            break;
        }
    }
    assert!(
        faulted > 3,
        "completion touches the store at several steps ({faulted})"
    );
}

/// A recovery code is spent by its `take`; a fault after it never gives it back, and a spent
/// code is never accepted again.
#[tokio::test]
async fn recovery_code_is_never_used_twice_whatever_fails() {
    let run = async |f: &Fx, s: &Enrolled| {
        f.complete(&s.pending, Factor::RecoveryCode(s.recovery[0].clone()))
            .await
            .map(drop)
    };
    let steps = calls_of(enrolled, run).await;
    let [spend, taken] = indices(&steps, "take")[..] else {
        panic!("two takes (the recovery code, the pending sign-in): {steps:?}");
    };
    let decrement = indices(&steps, "decrement")[0];
    assert!(spend < decrement && decrement < taken, "{steps:?}");
    let mut faulted = 0;
    for n in 1.. {
        let (f, s) = enrolled().await;
        let (first_code, second_code) = (s.recovery[0].clone(), s.recovery[1].clone());
        f.store.arm(FaultPlan::NthCall(n));
        let first = f
            .complete(&s.pending, Factor::RecoveryCode(first_code.clone()))
            .await;
        let calls = f.store.calls();
        f.store.disarm();
        let (done, used) = match first {
            Ok(step) => (complete_of(n, Ok(step)), vec![first_code.clone()]),
            Err(e) => {
                faulted += 1;
                let method = store_fault(n, Err::<(), _>(e));
                assert_eq!(f.count_events(EventCode::SIGN_IN_SUCCEEDED).await, 0);
                assert_eq!(
                    f.user_failures(s.user.id).await,
                    u64::from(n == decrement),
                    "step {n} ({method})"
                );
                if n <= spend {
                    // Not spent: it still works, once.
                    let same = f
                        .complete(&s.pending, Factor::RecoveryCode(first_code.clone()))
                        .await;
                    (complete_of(n, same), vec![first_code.clone()])
                } else {
                    let pending = if n <= taken {
                        s.pending
                    } else {
                        refused(
                            n,
                            f.complete(&s.pending, Factor::RecoveryCode(first_code.clone()))
                                .await,
                        );
                        pending_of(n, f.sign_in(PASSWORD).await)
                    };
                    refused(
                        n,
                        f.complete(&pending, Factor::RecoveryCode(first_code.clone()))
                            .await,
                    );
                    let done = complete_of(
                        n,
                        f.complete(&pending, Factor::RecoveryCode(second_code.clone()))
                            .await,
                    );
                    (done, vec![first_code.clone(), second_code.clone()])
                }
            }
        };
        f.redeem(&done).await;
        for code in used {
            let again = pending_of(n, f.sign_in(PASSWORD).await);
            refused(n, f.complete(&again, Factor::RecoveryCode(code)).await);
        }
        if calls < n {
            break;
        }
    }
    assert!(
        faulted > 3,
        "completion touches the store at several steps ({faulted})"
    );
}

// ------------------------------------------------------------------------------- password change

/// On a fault the old password still works and the new one does not (the earlier tokens may
/// already be revoked: revocation comes first); the retry changes it. Never the new password
/// with the earlier tokens alive.
#[tokio::test]
async fn password_change_survives_a_fault_at_every_step() {
    let setup = async || {
        let f = fixture().await;
        let user = f.active_user().await;
        let done = complete_of(0, f.sign_in(PASSWORD).await);
        let set = f.exchange(&done).await.unwrap();
        (f, (user, set))
    };
    let change = async |f: &Fx, user: UserId| {
        f.identity
            .signin(&f.org)
            .change_password(
                user,
                &Password::new(PASSWORD),
                &Password::new(NEW_PASSWORD),
                &context(),
            )
            .await
    };
    let run = async |f: &Fx, s: &(User, TokenSet)| change(f, s.0.id).await;
    let steps = calls_of(setup, run).await;
    let write = index(&steps, "update_credentials");
    let revoke_refresh = index(&steps, "revoke_user_refresh_tokens");
    let revoke_access = index(&steps, "record_revocation");
    let mut faulted = 0;
    for n in 1.. {
        let (f, (user, set)) = setup().await;
        f.store.arm(FaultPlan::NthCall(n));
        let first = change(&f, user.id).await;
        let calls = f.store.calls();
        f.store.disarm();
        let mut latest = set.refresh_token.expose().to_owned();
        if let Err(e) = first {
            faulted += 1;
            let method = store_fault(n, Err::<(), _>(e));
            let new_works = n > write;
            let old = f.sign_in(PASSWORD).await;
            let new = f.sign_in(NEW_PASSWORD).await;
            if new_works {
                complete_of(n, new);
                refused(n, old);
            } else {
                complete_of(n, old);
                refused(n, new);
            }
            // Which earlier tokens are revoked is exactly what was written before the fault …
            let refresh_revoked = n > revoke_refresh;
            assert_eq!(
                access_revoked(&f, &set).await,
                n > revoke_access,
                "step {n}"
            );
            let refreshed = f
                .identity
                .tokens()
                .refresh(&ClientAuth::public(f.client), &latest, None)
                .await;
            if refresh_revoked {
                assert!(
                    matches!(refreshed, Err(Error::InvalidGrant)),
                    "step {n} ({method}): {refreshed:?}"
                );
            } else {
                latest = refreshed
                    .unwrap_or_else(|e| panic!("step {n}: {e:?}"))
                    .refresh_token
                    .expose()
                    .to_owned();
            }
            // … and never the new password with earlier tokens alive.
            if new_works {
                assert!(refresh_revoked && n > revoke_access, "step {n} ({method})");
            } else {
                change(&f, user.id)
                    .await
                    .unwrap_or_else(|e| panic!("step {n}: retry: {e:?}"));
            }
        }
        // Past the revocation's `not_before` (the next second), so new tokens are live.
        f.clock.advance(Duration::seconds(2));
        refused(n, f.sign_in(PASSWORD).await);
        let done = complete_of(n, f.sign_in(NEW_PASSWORD).await);
        f.redeem(&done).await;
        assert!(access_revoked(&f, &set).await, "step {n}");
        let r = f
            .identity
            .tokens()
            .refresh(&ClientAuth::public(f.client), &latest, None)
            .await;
        assert!(matches!(r, Err(Error::InvalidGrant)), "step {n}: {r:?}");
        assert_eq!(
            f.count_events(EventCode::PASSWORD_CHANGED).await,
            1,
            "step {n}"
        );
        if calls < n {
            break;
        }
    }
    assert!(
        faulted > 3,
        "a password change touches the store at several steps ({faulted})"
    );
}
