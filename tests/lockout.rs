//! Lockout (SECURITY.md 42): failed attempts counted atomically per user and per client
//! address, the threshold never exceeded under concurrency, the same lockout on every path.

mod support;

use std::sync::Arc;

use idcore::Error;
use idcore::audit::EventCode;
use idcore::risk::{RequestContext, RiskDecision};
use idcore::signin::{Factor, FactorKind, LockoutPolicy, SigninSettings};
use support::*;
use time::Duration;

fn lockout(user_threshold: u64, ip_threshold: u64) -> SigninSettings {
    SigninSettings {
        lockout: LockoutPolicy {
            user_threshold,
            ip_threshold,
            cool_down: Duration::minutes(15),
        },
        ..settings()
    }
}

fn count(reasons: &[String], reason: &str) -> usize {
    reasons.iter().filter(|r| *r == reason).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_parallel_wrong_passwords_are_counted_exactly_and_never_exceed_the_threshold() {
    let f = Arc::new(fixture_with(|b| b.signin_settings(lockout(5, 1000))).await);
    f.active_user("janis@example.com").await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            f.sign_in("janis@example.com", &format!("wrong password {i}"))
                .await
        }));
    }
    for t in tasks {
        assert_sign_in_failed(t.await.unwrap());
    }
    let reasons = f.reasons(EventCode::SIGN_IN_FAILED).await;
    assert_eq!(reasons.len(), 200);
    // Exactly `threshold` guesses were evaluated; every other one was refused unchecked.
    assert_eq!(count(&reasons, "wrong password"), 5);
    assert_eq!(count(&reasons, "account locked"), 195);
    assert_eq!(f.events(EventCode::ACCOUNT_LOCKED).await.len(), 1);
    // Locked: even the right password is refused, and unchecked.
    assert_sign_in_failed(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(
        f.reasons(EventCode::SIGN_IN_FAILED).await.last().unwrap(),
        "account locked"
    );
    // The window ends after the cool-down.
    f.clock.advance(Duration::minutes(15));
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_parallel_wrong_totp_codes_are_counted_exactly() {
    let f = Arc::new(fixture_with(|b| b.signin_settings(lockout(5, 1000))).await);
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let pending = Arc::new(expect_pending(
        f.sign_in("janis@example.com", PASSWORD).await,
    ));
    let right = key.generate(f.unix());
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let (f, pending) = (f.clone(), pending.clone());
        let mut wrong = format!("{:06}", (i * 7919) % 1_000_000);
        if wrong == right {
            wrong = "999999".to_owned();
        }
        tasks.push(tokio::spawn(async move {
            f.complete(&pending, Factor::Totp(wrong)).await
        }));
    }
    for t in tasks {
        assert_sign_in_failed(t.await.unwrap());
    }
    let reasons = f.reasons(EventCode::MFA_FAILED).await;
    assert_eq!(reasons.len(), 200);
    assert_eq!(count(&reasons, "wrong TOTP code"), 5);
    assert_eq!(count(&reasons, "account locked"), 195);
    // The right code is refused too while locked.
    assert_sign_in_failed(f.complete(&pending, Factor::Totp(right)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_failures_from_one_address_are_counted_across_users() {
    let f = Arc::new(
        fixture_with(|b| {
            b.signin_settings(lockout(100, 20))
                .risk_engine(Fixed::new(RiskDecision::Accept))
        })
        .await,
    );
    for n in 0..4 {
        f.active_user(&format!("user{n}@example.com")).await;
    }
    let mut tasks = Vec::new();
    for i in 0..200 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            // Known and unknown logins alike, all from one address.
            let login = format!("user{}@example.com", i % 8);
            let request = f.request_from(
                &login,
                "wrong password",
                RequestContext::new().client_ip(ip("203.0.113.9")),
            );
            f.identity.signin(&f.org).sign_in(request).await
        }));
    }
    for t in tasks {
        assert_sign_in_failed(t.await.unwrap());
    }
    let reasons = f.reasons(EventCode::SIGN_IN_FAILED).await;
    let evaluated = count(&reasons, "wrong password") + count(&reasons, "unknown login");
    assert_eq!(evaluated, 20);
    assert_eq!(count(&reasons, "client address locked"), 180);
    // Another address is not affected.
    let request = f.request_from(
        "user0@example.com",
        PASSWORD,
        RequestContext::new().client_ip(ip("198.51.100.1")),
    );
    expect_complete(f.identity.signin(&f.org).sign_in(request).await);
}

#[tokio::test]
async fn unknown_logins_lock_like_known_users() {
    let f = fixture_with(|b| b.signin_settings(lockout(3, 1000))).await;
    f.active_user("janis@example.com").await;
    for login in ["nobody@example.com", "janis@example.com"] {
        for _ in 0..4 {
            assert_sign_in_failed(f.sign_in(login, "wrong password").await);
        }
    }
    assert_eq!(
        f.reasons(EventCode::SIGN_IN_FAILED).await,
        [
            "unknown login",
            "unknown login",
            "unknown login",
            "account locked",
            "wrong password",
            "wrong password",
            "wrong password",
            "account locked",
        ]
    );
}

#[tokio::test]
async fn a_success_gives_its_reservation_back_but_failures_stay_counted() {
    let f = fixture_with(|b| b.signin_settings(lockout(3, 1000))).await;
    f.active_user("janis@example.com").await;
    for _ in 0..2 {
        assert_sign_in_failed(f.sign_in("janis@example.com", "wrong").await);
    }
    // Two failures of three: the right password still works, as often as needed.
    for _ in 0..3 {
        expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    }
    // The third failure in the window locks.
    assert_sign_in_failed(f.sign_in("janis@example.com", "wrong").await);
    assert_sign_in_failed(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(
        f.reasons(EventCode::SIGN_IN_FAILED).await,
        [
            "wrong password",
            "wrong password",
            "wrong password",
            "account locked"
        ]
    );
}

#[tokio::test]
async fn the_window_starts_at_the_first_failure_not_at_an_earlier_success() {
    let f = fixture_with(|b| b.signin_settings(lockout(3, 1000))).await;
    f.active_user("janis@example.com").await;
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    // Late in the 15 minutes after that success, three failures lock the account …
    f.clock.advance(Duration::minutes(14));
    for _ in 0..3 {
        assert_sign_in_failed(f.sign_in("janis@example.com", "wrong").await);
    }
    // … for 15 minutes from the first of them, not until 15 minutes after the success.
    f.clock.advance(Duration::minutes(2));
    assert_sign_in_failed(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(
        f.reasons(EventCode::SIGN_IN_FAILED).await.last().unwrap(),
        "account locked"
    );
    f.clock.advance(Duration::minutes(13));
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
}

#[tokio::test]
async fn failed_passwords_lock_the_totp_and_recovery_code_paths() {
    let f = fixture_with(|b| b.signin_settings(lockout(3, 1000))).await;
    let user = f.active_user("janis@example.com").await;
    let (key, codes) = f.enrol(&user).await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    for _ in 0..3 {
        assert_sign_in_failed(f.sign_in("janis@example.com", "wrong").await);
    }
    assert_sign_in_failed(
        f.complete(&pending, Factor::Totp(key.generate(f.unix())))
            .await,
    );
    assert_sign_in_failed(
        f.complete(&pending, Factor::RecoveryCode(codes[0].clone()))
            .await,
    );
    assert_eq!(
        f.reasons(EventCode::MFA_FAILED).await,
        ["account locked", "account locked"]
    );
}

#[tokio::test]
async fn failed_totp_codes_lock_the_password_path() {
    let f = fixture_with(|b| b.signin_settings(lockout(3, 1000))).await;
    let user = f.active_user("janis@example.com").await;
    f.enrol(&user).await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    for _ in 0..3 {
        assert_sign_in_failed(f.complete(&pending, Factor::Totp("000000".into())).await);
    }
    assert_sign_in_failed(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(
        f.reasons(EventCode::SIGN_IN_FAILED).await,
        ["account locked"]
    );
}

#[tokio::test]
async fn failed_recovery_codes_count_toward_the_lockout() {
    let f = fixture_with(|b| b.signin_settings(lockout(3, 1000))).await;
    let user = f.active_user("janis@example.com").await;
    let (_, codes) = f.enrol(&user).await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    for _ in 0..3 {
        assert_sign_in_failed(
            f.complete(&pending, Factor::RecoveryCode("aaaaa-aaaaa".into()))
                .await,
        );
    }
    assert_sign_in_failed(
        f.complete(&pending, Factor::RecoveryCode(codes[0].clone()))
            .await,
    );
    assert_eq!(
        f.reasons(EventCode::MFA_FAILED).await,
        [
            "wrong recovery code",
            "wrong recovery code",
            "wrong recovery code",
            "account locked"
        ]
    );
}

#[tokio::test]
async fn e_mail_code_failures_and_password_failures_share_one_lockout() {
    let f = fixture_with(|b| {
        b.signin_settings(lockout(3, 1000))
            .risk_engine(Fixed::new(RiskDecision::ChallengeEmail))
    })
    .await;
    f.active_user("janis@example.com").await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(pending.factors, [FactorKind::EmailCode]);
    let code = f.last_code("janis@example.com");
    for _ in 0..2 {
        assert_sign_in_failed(
            f.complete(&pending, Factor::EmailCode("000000".into()))
                .await,
        );
    }
    assert_sign_in_failed(f.sign_in("janis@example.com", "wrong").await);
    // Locked: the right e-mail code is refused unchecked.
    assert_sign_in_failed(f.complete(&pending, Factor::EmailCode(code)).await);
    assert_eq!(
        f.reasons(EventCode::MFA_FAILED).await,
        ["wrong e-mail code", "wrong e-mail code", "account locked"]
    );
}

#[tokio::test]
async fn the_verification_code_path_is_locked_too() {
    let f = fixture_with(|b| b.signin_settings(lockout(3, 1000))).await;
    f.sign_up("janis@example.com", PASSWORD).await;
    let code = f.last_code("janis@example.com");
    let signin = f.identity.signin(&f.org);
    for _ in 0..3 {
        let err = signin
            .confirm_email("janis@example.com", "000000", &RequestContext::new())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidCode));
    }
    let err = signin
        .confirm_email("janis@example.com", &code, &RequestContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidCode));
    assert_eq!(
        f.reasons(EventCode::EMAIL_CODE_FAILED)
            .await
            .last()
            .unwrap(),
        "account locked"
    );
}
