//! Risk decisions at sign-in and unregistering (SECURITY.md 50–51, 55): Decline issues nothing,
//! a challenge issues nothing until it passes, an engine error fails closed; unregister maps to
//! the seed's statuses, erases the account and revokes every token. The failure counts the
//! engine sees are attempts that really failed — never other sign-ins still in flight.

mod sqlite_file;
mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use idcore::audit::EventCode;
use idcore::directory::User;
use idcore::protocol::unregister::{answer, parse_body};
use idcore::risk::{
    DefaultRiskEngine, DeviceData, DeviceKind, RequestContext, RiskAction, RiskAssessment,
    RiskContext, RiskDecision, RiskEngine, RiskFuture, RiskReason,
};
use idcore::signin::password::Password;
use idcore::signin::{
    Factor, FactorKind, LockoutPolicy, SignInStep, SigninSettings, UnregisterOutcome,
    UnregisterRequest,
};
use idcore::store::AccountRole;
use idcore::store::Store;
use idcore::store::fault::{FaultPlan, FaultyStore};
use idcore::tokens::{ClientAuth, TokenSet};
use idcore::{Error, Resource};
use serde_json::json;
use sqlite_file::TempDb;
use support::*;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

fn device(hash: &str) -> DeviceData {
    DeviceData::new(DeviceKind::Browser, "{browser:{}}", hash).unwrap()
}

const PHONE: &str = "e96dadc9651f5fe8f071110eb174fe8e7a17a9d7a96b3b1980c13e5b4af3a4d7";
const LAPTOP: &str = "0000000000000000000000000000000000000000000000000000000000000001";

fn request(context: RequestContext) -> UnregisterRequest {
    UnregisterRequest::new(context, "self", "closing my account").unwrap()
}

async fn tokens_of(f: &Fx, code: &str) -> TokenSet {
    f.identity
        .tokens()
        .exchange_code(&ClientAuth::public(f.client), code, REDIRECT, VERIFIER)
        .await
        .unwrap()
}

#[tokio::test]
async fn decline_issues_nothing() {
    let engine = Fixed::new(RiskDecision::Decline);
    let f = fixture_with({
        let e = engine.clone();
        move |b| b.risk_engine(e)
    })
    .await;
    f.active_user("janis@example.com").await;
    assert_sign_in_failed(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(engine.calls(), 1);
    assert_eq!(
        f.reasons(EventCode::SIGN_IN_FAILED).await,
        ["risk decision: decline"]
    );
    assert!(f.events(EventCode::SIGN_IN_SUCCEEDED).await.is_empty());
    assert!(f.events(EventCode::MFA_CHALLENGED).await.is_empty());
    let decisions = f.events(EventCode::RISK_DECISION).await;
    assert_eq!(decisions[0].details["risk_response_code"], "1");
}

#[tokio::test]
async fn the_engine_is_consulted_only_once_the_password_is_right() {
    let engine = Fixed::new(RiskDecision::Accept);
    let f = fixture_with({
        let e = engine.clone();
        move |b| b.risk_engine(e)
    })
    .await;
    f.active_user("janis@example.com").await;
    assert_sign_in_failed(f.sign_in("janis@example.com", "not it").await);
    assert_sign_in_failed(f.sign_in("nobody@example.com", PASSWORD).await);
    assert_eq!(engine.calls(), 0);
}

#[tokio::test]
async fn a_challenge_issues_nothing_until_the_e_mail_code_passes() {
    let f = fixture_with(|b| b.risk_engine(Fixed::new(RiskDecision::ChallengeEmail))).await;
    f.active_user("janis@example.com").await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(pending.factors, [FactorKind::EmailCode]);
    assert_eq!(pending.decision, RiskDecision::ChallengeEmail);
    let code = f.last_code("janis@example.com");
    assert!(f.events(EventCode::SIGN_IN_SUCCEEDED).await.is_empty());
    assert_sign_in_failed(
        f.complete(&pending, Factor::EmailCode("000000".into()))
            .await,
    );
    let done = expect_complete(f.complete(&pending, Factor::EmailCode(code)).await);
    tokens_of(&f, done.code.expose()).await;
    let success = f.events(EventCode::SIGN_IN_SUCCEEDED).await;
    assert_eq!(success[0].details["amr"], "pwd otp mfa");
    assert_eq!(success[0].details["risk_decision"], "ChallengeEmail");
}

#[tokio::test]
async fn an_e_mail_challenge_code_works_only_for_its_own_sign_in() {
    let f = fixture_with(|b| b.risk_engine(Fixed::new(RiskDecision::ChallengeEmail))).await;
    f.active_user("janis@example.com").await;
    let first = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    let first_code = f.last_code("janis@example.com");
    let second = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_sign_in_failed(
        f.complete(&second, Factor::EmailCode(first_code.clone()))
            .await,
    );
    expect_complete(f.complete(&first, Factor::EmailCode(first_code)).await);
}

#[tokio::test]
async fn a_challenge_with_an_authenticator_asks_for_it_alone() {
    let f = fixture_with(|b| b.risk_engine(Fixed::new(RiskDecision::Challenge))).await;
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(pending.factors, [FactorKind::Totp]);
    expect_complete(
        f.complete(&pending, Factor::Totp(key.generate(f.unix())))
            .await,
    );
}

#[tokio::test]
async fn an_e_mail_challenge_on_top_of_an_authenticator_needs_both() {
    let f = fixture_with(|b| b.risk_engine(Fixed::new(RiskDecision::ChallengeEmail))).await;
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(pending.factors, [FactorKind::Totp, FactorKind::EmailCode]);
    let code = f.last_code("janis@example.com");
    let next = expect_pending(f.complete(&pending, Factor::EmailCode(code)).await);
    assert_eq!(next.factors, [FactorKind::Totp]);
    // The first token is spent; the next one carries on.
    assert_sign_in_failed(
        f.complete(&pending, Factor::Totp(key.generate(f.unix())))
            .await,
    );
    expect_complete(
        f.complete(&next, Factor::Totp(key.generate(f.unix())))
            .await,
    );
}

#[tokio::test]
async fn host_verified_challenges_complete_with_the_hosts_word() {
    let f = fixture_with(|b| b.risk_engine(Fixed::new(RiskDecision::ChallengeFingerprint))).await;
    f.active_user("janis@example.com").await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(
        pending.factors,
        [FactorKind::Host(RiskDecision::ChallengeFingerprint)]
    );
    assert_sign_in_failed(f.complete(&pending, Factor::Totp("123456".into())).await);
    expect_complete(f.complete(&pending, Factor::HostVerified).await);
    assert_eq!(
        f.events(EventCode::SIGN_IN_SUCCEEDED).await[0].details["amr"],
        "pwd fpt mfa"
    );
}

#[tokio::test]
async fn a_risk_engine_error_fails_closed() {
    let f = fixture_with(|b| b.risk_engine(Broken)).await;
    f.active_user("janis@example.com").await;
    assert_sign_in_failed(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(
        f.reasons(EventCode::SIGN_IN_FAILED).await,
        ["risk engine error"]
    );
    assert!(f.events(EventCode::SIGN_IN_SUCCEEDED).await.is_empty());
    // An engine failure is not a wrong guess: it does not lock the account.
    let decisions = f.events(EventCode::RISK_DECISION).await;
    assert_eq!(decisions[0].details["error"], "the risk engine failed");
}

#[tokio::test]
async fn the_default_engine_trusts_the_first_device_and_challenges_a_new_one() {
    let f = fixture().await;
    f.active_user("janis@example.com").await;
    let from = |hash: &str| {
        f.request_from(
            "janis@example.com",
            PASSWORD,
            RequestContext::new()
                .client_ip(ip("192.0.2.1"))
                .device(device(hash)),
        )
    };
    let signin = f.identity.signin(&f.org);
    // First use: accepted and remembered.
    expect_complete(signin.sign_in(from(PHONE)).await);
    // The same device again: accepted.
    expect_complete(signin.sign_in(from(PHONE)).await);
    // Another device: challenged (no authenticator, so by e-mail).
    let pending = expect_pending(signin.sign_in(from(LAPTOP)).await);
    assert_eq!(pending.decision, RiskDecision::Challenge);
    assert_eq!(pending.factors, [FactorKind::EmailCode]);
    let decisions = f.events(EventCode::RISK_DECISION).await;
    let reasons: Vec<&str> = decisions
        .iter()
        .map(|e| e.details["reasons"].as_str())
        .collect();
    assert_eq!(reasons, ["first_use", "known_device", "unknown_device"]);
    // Passing the challenge remembers the new device.
    let code = f.last_code("janis@example.com");
    let context = RequestContext::new().device(device(LAPTOP));
    let step = signin
        .complete(pending.token.expose(), Factor::EmailCode(code), &context)
        .await;
    assert!(matches!(step, Ok(SignInStep::Complete(_))));
    expect_complete(signin.sign_in(from(LAPTOP)).await);
}

#[test]
fn the_default_engine_declines_on_failure_velocity_from_an_address() {
    let engine = DefaultRiskEngine::default();
    let context = idcore::risk::RiskContext {
        action: idcore::risk::RiskAction::SignIn,
        org: idcore::OrgDomain::parse("misapret").unwrap(),
        user_id: idcore::directory::UserId::parse("0190f5a0-0000-7000-8000-000000000000").unwrap(),
        request: RequestContext::new(),
        device: idcore::risk::Familiarity::Known,
        ip: idcore::risk::Familiarity::Known,
        has_history: true,
        recent_user_failures: 0,
        recent_ip_failures: 20,
    };
    let decided = engine.decide(&context);
    assert_eq!(decided.decision, RiskDecision::Decline);
    assert_eq!(decided.reasons, [RiskReason::IpFailureVelocity]);
    let calmer = idcore::risk::RiskContext {
        recent_ip_failures: 19,
        ..context.clone()
    };
    assert_eq!(engine.decide(&calmer).decision, RiskDecision::Accept);
    let user_failures = idcore::risk::RiskContext {
        recent_ip_failures: 0,
        recent_user_failures: 3,
        ..context
    };
    assert_eq!(
        engine.decide(&user_failures).decision,
        RiskDecision::Challenge
    );
}

#[tokio::test]
async fn the_default_engine_declines_a_right_password_after_many_failures_from_its_address() {
    let f = fixture_with(|b| {
        b.signin_settings(idcore::signin::SigninSettings {
            lockout: idcore::signin::LockoutPolicy {
                ip_threshold: 1000,
                ..Default::default()
            },
            ..settings()
        })
    })
    .await;
    f.active_user("janis@example.com").await;
    let from_ip = |login: &str, pw: &str| {
        f.request_from(
            login,
            pw,
            RequestContext::new().client_ip(ip("203.0.113.7")),
        )
    };
    let signin = f.identity.signin(&f.org);
    for i in 0..20 {
        let _ = signin
            .sign_in(from_ip(&format!("victim{i}@example.com"), "guess"))
            .await;
    }
    assert_sign_in_failed(signin.sign_in(from_ip("janis@example.com", PASSWORD)).await);
    assert_eq!(
        f.reasons(EventCode::SIGN_IN_FAILED).await.last().unwrap(),
        "risk decision: decline"
    );
}

// ---------------------------------------------------------------------------- failure counts

/// A risk engine that accepts and keeps every context it is asked about.
#[derive(Clone, Default)]
struct Recording(Arc<Mutex<Vec<RiskContext>>>);

impl Recording {
    /// The action and the (user, client address) failure counts of every assessment, oldest
    /// first.
    fn seen(&self) -> Vec<(RiskAction, u64, u64)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|c| (c.action, c.recent_user_failures, c.recent_ip_failures))
            .collect()
    }
}

impl RiskEngine for Recording {
    fn assess<'a>(&'a self, context: &'a RiskContext) -> RiskFuture<'a> {
        self.0.lock().unwrap().push(context.clone());
        Box::pin(async {
            Ok(RiskAssessment::new(
                RiskDecision::Accept,
                RiskReason::Other("recorded".to_owned()),
            ))
        })
    }
}

const ADDRESS: &str = "203.0.113.7";

fn from_address() -> RequestContext {
    RequestContext::new().client_ip(ip(ADDRESS))
}

/// A code as long as `right` that differs from it in every digit.
fn wrong_code(right: &str) -> String {
    right
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect()
}

#[tokio::test]
async fn the_engine_sees_every_earlier_failure_and_nothing_else() {
    let engine = Recording::default();
    let f = fixture_with({
        let e = engine.clone();
        move |b| b.risk_engine(e)
    })
    .await;
    f.active_user("janis@example.com").await;
    let signin = f.identity.signin(&f.org);
    let from = |pw: &str| f.request_from("janis@example.com", pw, from_address());
    // k wrong passwords in sequence: the next sign-in sees exactly k, on the user and on the
    // address; a success in between gives back only its own reservation.
    for _ in 0..4 {
        expect_complete(signin.sign_in(from(PASSWORD)).await);
        assert_sign_in_failed(signin.sign_in(from("wrong password")).await);
    }
    expect_complete(signin.sign_in(from(PASSWORD)).await);
    let sign_in = RiskAction::SignIn;
    assert_eq!(
        engine.seen(),
        [
            (sign_in, 0, 0),
            (sign_in, 1, 1),
            (sign_in, 2, 2),
            (sign_in, 3, 3),
            (sign_in, 4, 4)
        ]
    );
    // Still counted after the last success, until the window ends.
    f.clock.advance(time::Duration::minutes(14));
    expect_complete(signin.sign_in(from(PASSWORD)).await);
    assert_eq!(engine.seen().last(), Some(&(sign_in, 4, 4)));
    f.clock.advance(time::Duration::minutes(1));
    expect_complete(signin.sign_in(from(PASSWORD)).await);
    assert_eq!(engine.seen().last(), Some(&(sign_in, 0, 0)));
}

#[tokio::test]
async fn every_path_that_counts_a_failed_guess_counts_it_for_the_engine() {
    let engine = Recording::default();
    let f = fixture_with({
        let e = engine.clone();
        move |b| {
            b.risk_engine(e).signin_settings(SigninSettings {
                lockout: LockoutPolicy {
                    user_threshold: 10,
                    ..LockoutPolicy::default()
                },
                ..settings()
            })
        }
    })
    .await;
    let signin = f.identity.signin(&f.org);
    let email = "janis@example.com";
    // A wrong verification code (1).
    f.sign_up(email, PASSWORD).await;
    let code = f.last_code(email);
    let r = signin
        .confirm_email(email, &wrong_code(&code), &from_address())
        .await;
    assert!(matches!(r, Err(Error::InvalidCode)), "{r:?}");
    let user = signin
        .confirm_email(email, &code, &from_address())
        .await
        .unwrap();
    // A wrong code confirming an authenticator (2).
    let enrolment = signin.begin_totp_enrolment(user.id).await.unwrap();
    let key = key_of(enrolment.secret_base32().expose());
    let right = key.generate(f.unix());
    let r = signin
        .confirm_totp_enrolment(user.id, &wrong_code(&right), &from_address())
        .await;
    assert!(matches!(r, Err(Error::InvalidCode)), "{r:?}");
    signin
        .confirm_totp_enrolment(user.id, &right, &from_address())
        .await
        .unwrap();
    f.clock.advance(time::Duration::seconds(30));
    // A wrong password (3); the right one sees three.
    assert_sign_in_failed(
        signin
            .sign_in(f.request_from(email, "wrong password", from_address()))
            .await,
    );
    let pending = expect_pending(
        signin
            .sign_in(f.request_from(email, PASSWORD, from_address()))
            .await,
    );
    // A wrong TOTP code (4) and a wrong recovery code (5).
    let totp = wrong_code(&key.generate(f.unix()));
    for factor in [
        Factor::Totp(totp),
        Factor::RecoveryCode("aaaaa-aaaaa".to_owned()),
    ] {
        assert_sign_in_failed(
            signin
                .complete(pending.token.expose(), factor, &from_address())
                .await,
        );
    }
    // A wrong current password (6).
    let r = signin
        .change_password(
            user.id,
            &Password::new("wrong password"),
            &Password::new("a brand new passphrase, unbreached"),
            &from_address(),
        )
        .await;
    assert!(matches!(r, Err(Error::SignInFailed)), "{r:?}");
    // A wrong code confirming a new address (7).
    signin
        .request_email_change(user.id, "janis.new@example.com")
        .await
        .unwrap();
    let code = f.last_code("janis.new@example.com");
    let r = signin
        .confirm_email_change(
            user.id,
            "janis.new@example.com",
            &wrong_code(&code),
            &from_address(),
        )
        .await;
    assert!(matches!(r, Err(Error::InvalidCode)), "{r:?}");
    // An unknown login (8) and another user's wrong password (9) count on the address only.
    f.active_user("other@example.com").await;
    for login in ["nobody@example.com", "other@example.com"] {
        assert_sign_in_failed(
            signin
                .sign_in(f.request_from(login, "wrong password", from_address()))
                .await,
        );
    }
    expect_pending(
        signin
            .sign_in(f.request_from(email, PASSWORD, from_address()))
            .await,
    );
    let outcome = signin
        .unregister(user.id, request(from_address()))
        .await
        .unwrap();
    assert!(matches!(outcome, UnregisterOutcome::Unregistered));
    assert_eq!(
        engine.seen(),
        [
            (RiskAction::SignIn, 3, 3),
            (RiskAction::SignIn, 7, 9),
            (RiskAction::Unregister, 7, 9),
        ]
    );
}

/// Signs in concurrently on a SQLite file (whose calls run on tokio's blocking pool, so the
/// sign-ins interleave at every store call), each `(login, address)` with the right password,
/// all released at once by a barrier; answers each outcome.
async fn at_once<S: Store + Clone>(
    f: &Arc<Fx<S>>,
    logins: Vec<(String, IpAddr)>,
) -> Vec<Result<SignInStep, Error>> {
    let barrier = Arc::new(Barrier::new(logins.len()));
    let mut tasks = JoinSet::new();
    for (login, address) in logins {
        let (f, barrier) = (Arc::clone(f), Arc::clone(&barrier));
        tasks.spawn(async move {
            let request =
                f.request_from(&login, PASSWORD, RequestContext::new().client_ip(address));
            barrier.wait().await;
            f.identity.signin(&f.org).sign_in(request).await
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined.expect("no sign-in task panics"));
    }
    outcomes
}

/// Asserts every outcome completed, and that the log holds no challenge, no failure and no
/// decision other than Accept.
async fn all_accepted<S: Store>(f: &Fx<S>, outcomes: &[Result<SignInStep, Error>]) {
    let refused: Vec<String> = outcomes
        .iter()
        .filter(|o| !matches!(o, Ok(SignInStep::Complete(_))))
        .map(|o| match o {
            Ok(SignInStep::FactorRequired(p)) => format!("challenged: {:?}", p.decision),
            other => format!("{other:?}"),
        })
        .collect();
    let reasons: Vec<String> = f
        .events(EventCode::RISK_DECISION)
        .await
        .into_iter()
        .filter(|e| e.details["decision"] != "Accept")
        .map(|e| e.details["reasons"].clone())
        .collect();
    assert!(
        refused.is_empty(),
        "{} of {} concurrent right passwords not completed, e.g. {:?}; risk reasons {:?}",
        refused.len(),
        outcomes.len(),
        &refused[..refused.len().min(5)],
        &reasons[..reasons.len().min(5)],
    );
    assert!(reasons.is_empty(), "{reasons:?}");
    assert!(f.events(EventCode::MFA_CHALLENGED).await.is_empty());
    assert!(f.events(EventCode::SIGN_IN_FAILED).await.is_empty());
    assert_eq!(
        f.events(EventCode::SIGN_IN_SUCCEEDED).await.len(),
        outcomes.len()
    );
}

/// Users signing in at once, each [`AT_ONCE`] times (several users, so that many sign-ins
/// overlap).
const USERS: u8 = 10;
/// Sign-ins of each user at once (tabs, devices, a service account): more than the default
/// engine's challenge threshold (3), fewer than the lockout threshold (5).
const AT_ONCE: usize = 4;

/// Each user signs in [`AT_ONCE`] times at once with the right password from its own address:
/// every sign-in completes, none is challenged — the sign-ins still in flight hold lockout
/// reservations, but they are not failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sign_ins_of_one_user_are_not_failures() {
    let db = TempDb::fresh("risk-in-flight").await;
    let f = Arc::new(fixture_on(db.open().await, |b| b).await);
    let login = |u: u8| format!("user{u}@example.com");
    for u in 0..USERS {
        f.active_user(&login(u)).await;
    }
    let logins = (0..USERS)
        .flat_map(|u| {
            let address = IpAddr::V4(Ipv4Addr::new(10, 0, 0, u));
            std::iter::repeat_n((login(u), address), AT_ONCE)
        })
        .collect();
    let outcomes = at_once(&f, logins).await;
    all_accepted(&f, &outcomes).await;
}

/// Many users behind one address (an office, a carrier NAT) sign in at once, more than the
/// default engine's decline threshold (20): none is declined as credential stuffing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sign_ins_from_one_address_are_not_failures() {
    let db = TempDb::fresh("risk-in-flight-address").await;
    let f = Arc::new(fixture_on(db.open().await, |b| b).await);
    let login = |u: u8| format!("colleague{u}@example.com");
    for u in 0..30 {
        f.active_user(&login(u)).await;
    }
    let logins = (0..30).map(|u| (login(u), ip(ADDRESS))).collect();
    let outcomes = at_once(&f, logins).await;
    all_accepted(&f, &outcomes).await;
}

// ---------------------------------------------------------------------------- unregister

fn seed_body() -> serde_json::Value {
    json!({
        "objectType": "AdaptiveUnregisterUserInput",
        "cddc": {
            "browserCDDC": {
                "fingerprintRaw": "{browser:{\"userAgent\":Mozilla/5.0}}",
                "fingerprintHash": PHONE
            }
        },
        "clientIP": "192.168.0.1",
        "relationshipRef": "userid33",
        "sessionID": "4ED23EA44F23"
    })
}

async fn signed_in_user(f: &Fx) -> (User, TokenSet) {
    let user = f.active_user("janis@example.com").await;
    let done = expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    let set = tokens_of(f, done.code.expose()).await;
    (user, set)
}

#[tokio::test]
async fn an_accepted_unregister_erases_the_account_and_revokes_every_token() {
    let f = fixture_with(|b| b.risk_engine(Fixed::new(RiskDecision::Accept))).await;
    let (user, set) = signed_in_user(&f).await;
    let context = parse_body(&seed_body()).unwrap();
    let result = f
        .identity
        .signin(&f.org)
        .unregister(user.id, request(context))
        .await;
    let a = answer(&result);
    assert_eq!(a.status, 200);
    assert_eq!(a.body, json!({ "riskResponseCode": 0 }));
    // Every token is dead, the user is gone, the address is free, sign-in fails.
    let tokens = f.identity.tokens();
    assert!(tokens.verify_live(&set.access_token).await.is_err());
    assert!(
        tokens
            .refresh(
                &ClientAuth::public(f.client),
                set.refresh_token.expose(),
                None
            )
            .await
            .is_err()
    );
    assert!(matches!(
        f.identity.users(&f.org).retrieve(user.id).await,
        Err(Error::NotFound(Resource::User))
    ));
    assert_sign_in_failed(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(
        f.reasons(EventCode::SIGN_IN_FAILED).await.last().unwrap(),
        "unknown login"
    );
    // Who, when and why.
    let deleted = f.events(EventCode::USER_DELETED).await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].resource_owner_id, Some(user.id));
    assert_eq!(deleted[0].details["requested_by"], "self");
    assert_eq!(deleted[0].details["reason"], "closing my account");
    assert_eq!(deleted[0].inserted_at, f.now());
    // The same address can sign up again: a new account, nothing of the old one.
    let again = f.sign_up("janis@example.com", PASSWORD).await;
    assert_ne!(again.id, user.id);
}

#[tokio::test]
async fn unregistering_the_organization_admin_is_prohibited() {
    let f = fixture_with(|b| b.risk_engine(Fixed::new(RiskDecision::Accept))).await;
    let user = f.active_user("janis@example.com").await;
    let signin = f.identity.signin(&f.org);
    signin
        .set_role(user.id, AccountRole::OrganizationAdmin)
        .await
        .unwrap();
    let result = signin
        .unregister(user.id, request(RequestContext::new()))
        .await;
    assert!(matches!(result, Err(Error::Forbidden(_))));
    assert_eq!(answer(&result).status, 403);
    assert!(f.identity.users(&f.org).retrieve(user.id).await.is_ok());
}

#[tokio::test]
async fn unregistering_an_unknown_user_is_not_found() {
    let f = fixture().await;
    let other = f.active_user("janis@example.com").await;
    let org_b = f
        .identity
        .organizations()
        .create(idcore::NewOrganization::new("Other").unwrap())
        .await
        .unwrap()
        .domain;
    // Another organization's user is unknown here.
    let result = f
        .identity
        .signin(&org_b)
        .unregister(other.id, request(RequestContext::new()))
        .await;
    assert!(matches!(result, Err(Error::NotFound(Resource::User))));
    assert_eq!(answer(&result).status, 404);
}

#[test]
fn unregister_input_errors_map_to_402() {
    let cases = [
        ("cddc", {
            let mut b = seed_body();
            b.as_object_mut().unwrap().remove("cddc");
            b
        }),
        ("cddc", {
            let mut b = seed_body();
            b["cddc"]["mobileCDDC"] = b["cddc"]["browserCDDC"].clone();
            b
        }),
        ("cddc.fingerprintHash", {
            let mut b = seed_body();
            b["cddc"]["browserCDDC"]["fingerprintHash"] = json!("not hex");
            b
        }),
        ("sessionID", {
            let mut b = seed_body();
            b["sessionID"] = json!("XYZ");
            b
        }),
        ("sessionID", {
            let mut b = seed_body();
            b["sessionID"] = json!("a".repeat(101));
            b
        }),
        ("relationshipRef", {
            let mut b = seed_body();
            b["relationshipRef"] = json!("");
            b
        }),
        ("relationshipRef", {
            let mut b = seed_body();
            b["relationshipRef"] = json!("r".repeat(151));
            b
        }),
        ("clientIP", {
            let mut b = seed_body();
            b["clientIP"] = json!("192.168.0.256");
            b
        }),
        ("objectType", {
            let mut b = seed_body();
            b["objectType"] = json!("AdaptiveRegisterUserInput");
            b
        }),
    ];
    for (field, body) in cases {
        let result = parse_body(&body);
        match &result {
            Err(Error::InvalidField { field: f, .. }) => assert_eq!(*f, field),
            other => panic!("{field}: expected invalid field, got {other:?}"),
        }
        let mapped = answer(&result.map(|_| UnregisterOutcome::Unregistered));
        assert_eq!(mapped.status, 402, "{field}");
    }
    assert!(parse_body(&seed_body()).is_ok());
}

#[tokio::test]
async fn a_declined_unregister_changes_nothing_and_maps_to_409() {
    let f = fixture_with(|b| b.risk_engine(Fixed::new(RiskDecision::Decline))).await;
    let user = f.active_user("janis@example.com").await;
    let result = f
        .identity
        .signin(&f.org)
        .unregister(user.id, request(RequestContext::new()))
        .await;
    let a = answer(&result);
    assert_eq!(a.status, 409);
    assert_eq!(a.body, json!({ "riskResponseCode": 1 }));
    assert!(f.identity.users(&f.org).retrieve(user.id).await.is_ok());
    assert!(f.events(EventCode::USER_DELETED).await.is_empty());
}

#[tokio::test]
async fn a_challenged_unregister_deletes_only_once_the_challenge_passes() {
    let f = fixture_with(|b| b.risk_engine(Fixed::new(RiskDecision::ChallengeEmail))).await;
    let user = f.active_user("janis@example.com").await;
    let signin = f.identity.signin(&f.org);
    let result = signin
        .unregister(user.id, request(RequestContext::new()))
        .await;
    let a = answer(&result);
    assert_eq!(a.status, 200);
    assert_eq!(a.body, json!({ "riskResponseCode": 8 }));
    let Ok(UnregisterOutcome::Challenged(pending)) = result else {
        panic!("expected a challenge");
    };
    assert!(f.identity.users(&f.org).retrieve(user.id).await.is_ok());
    let wrong = signin
        .complete_unregister(
            pending.token.expose(),
            Factor::EmailCode("000000".into()),
            &RequestContext::new(),
        )
        .await;
    assert!(matches!(wrong, Err(Error::InvalidCode)));
    assert_eq!(answer(&wrong).status, 409);
    assert!(f.identity.users(&f.org).retrieve(user.id).await.is_ok());
    // A pending unregister is not a sign-in: refused before the factor is even looked at,
    // so the right code presented there does not spend the challenge.
    let code = f.last_code("janis@example.com");
    assert_sign_in_failed(
        signin
            .complete(
                pending.token.expose(),
                Factor::EmailCode(code.clone()),
                &RequestContext::new(),
            )
            .await,
    );
    assert_eq!(
        f.reasons(EventCode::MFA_FAILED).await.last().unwrap(),
        "pending entry of another flow"
    );
    let done = signin
        .complete_unregister(
            pending.token.expose(),
            Factor::EmailCode(code),
            &RequestContext::new(),
        )
        .await;
    assert_eq!(answer(&done), answer(&Ok(UnregisterOutcome::Unregistered)));
    assert!(f.identity.users(&f.org).retrieve(user.id).await.is_err());
}

#[tokio::test]
async fn an_unregister_risk_error_deletes_nothing_and_maps_to_500() {
    let f = fixture_with(|b| b.risk_engine(Broken)).await;
    let user = f.active_user("janis@example.com").await;
    let result = f
        .identity
        .signin(&f.org)
        .unregister(user.id, request(RequestContext::new()))
        .await;
    assert!(matches!(result, Err(Error::Unavailable("risk engine"))));
    assert_eq!(answer(&result).status, 500);
    assert!(f.identity.users(&f.org).retrieve(user.id).await.is_ok());
}

#[test]
fn who_and_why_are_required_for_an_unregister() {
    assert!(matches!(
        UnregisterRequest::new(RequestContext::new(), "", "why"),
        Err(Error::InvalidField {
            field: "requested_by",
            ..
        })
    ));
    assert!(matches!(
        UnregisterRequest::new(RequestContext::new(), "admin", &"x".repeat(1001)),
        Err(Error::InvalidField {
            field: "reason",
            ..
        })
    ));
}

// ---------------------------------------------------------------------------- audit failures

#[tokio::test]
async fn an_audit_write_failure_never_grants_a_sign_in() {
    let store = FaultyStore::new(idcore::MemoryStore::new());
    let clock = idcore::clock::ManualClock::new(START);
    let outbox = idcore::mail::MemoryOutbox::new();
    let identity = idcore::Identity::builder()
        .issuer("https://auth.example.com")
        .clock(clock)
        .mailer(outbox.clone())
        .key_encryption_key(
            idcore::tokens::keys::EncryptionKey::from_bytes(&[7; 32]).expect("a 32-byte key"),
        )
        .signin_settings(settings())
        .store(store.clone())
        .build()
        .unwrap();
    let org = identity
        .organizations()
        .create(idcore::NewOrganization::new("Misapret").unwrap())
        .await
        .unwrap()
        .domain;
    let app = identity
        .applications(idcore::ApplicationScope::Organization(org.clone()))
        .create(
            idcore::NewApplication::new("Bank", idcore::ApplicationType::React)
                .unwrap()
                .with(|a| a.allowed_redirect_urls(&[REDIRECT]))
                .unwrap(),
        )
        .await
        .unwrap();
    let signin = identity.signin(&org);
    signin
        .sign_up(idcore::signin::SignUp::new(
            idcore::NewUser::new("janis@example.com").unwrap(),
            idcore::signin::password::Password::new(PASSWORD),
        ))
        .await
        .unwrap();
    let mail = outbox.sent().pop().unwrap();
    signin
        .confirm_email(
            "janis@example.com",
            &code_in(&mail.body),
            &RequestContext::new(),
        )
        .await
        .unwrap();
    let request = |pw: &str| idcore::signin::SignInRequest {
        login: "janis@example.com".into(),
        password: idcore::signin::password::Password::new(pw),
        authorization: idcore::signin::Authorization {
            client_id: app.application.client_id,
            redirect_uri: REDIRECT.into(),
            code_challenge: idcore::tokens::pkce::CodeChallenge::s256(VERIFIER).unwrap(),
            nonce: None,
            state: None,
            scope: vec!["openid".into()],
        },
        context: RequestContext::new(),
    };
    store.arm(FaultPlan::Method("record_event"));
    // A wrong password is still refused (with the storage error, never a success)…
    let wrong = signin.sign_in(request("not it")).await;
    assert!(matches!(wrong, Err(Error::Store(_))), "{wrong:?}");
    // …and the right one gets no code while its success cannot be recorded.
    let right = signin.sign_in(request(PASSWORD)).await;
    assert!(matches!(right, Err(Error::Store(_))), "{right:?}");
    store.disarm();
    let step = signin.sign_in(request(PASSWORD)).await;
    assert!(matches!(step, Ok(SignInStep::Complete(_))), "{step:?}");
}
