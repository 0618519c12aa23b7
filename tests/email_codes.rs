//! Sign-up and e-mail codes (SECURITY.md 45–46): single use, ≤ 10 minutes, bound to the
//! address and purpose, attempts limited; an e-mail change only after the new address is
//! verified.

mod support;

use idcore::audit::EventCode;
use idcore::directory::Email;
use idcore::risk::RequestContext;
use idcore::signin::{LockoutPolicy, SigninSettings};
use idcore::{Error, Resource};
use support::*;
use time::Duration;

fn ctx() -> RequestContext {
    RequestContext::new()
}

#[track_caller]
fn assert_invalid_code<T: std::fmt::Debug>(result: Result<T, Error>) {
    let err = result.expect_err("expected the code to be refused");
    assert!(matches!(err, Error::InvalidCode), "got {err:?}");
    assert_eq!(err.code(), "invalid_code");
    assert_eq!(err.http_status(), 400);
}

#[tokio::test]
async fn sign_up_mails_a_six_digit_code_and_the_account_waits_for_it() {
    let f = fixture().await;
    let user = f.sign_up("janis@example.com", PASSWORD).await;
    assert!(!user.profile.email_verified);
    let mail = f.outbox.sent().pop().unwrap();
    assert_eq!(mail.to.as_str(), "janis@example.com");
    let code = code_in(&mail.body);
    assert_eq!(code.len(), 6);
    assert!(mail.body.contains("expires in 10 minutes"));
    // The right password of an unverified account: a distinct answer, nothing issued.
    let err = f.sign_in("janis@example.com", PASSWORD).await.unwrap_err();
    assert!(matches!(err, Error::EmailNotVerified));
    assert_eq!(err.http_status(), 403);
    // A wrong password of an unverified account is the ordinary failure.
    assert_sign_in_failed(f.sign_in("janis@example.com", "not it").await);
    let user = f
        .identity
        .signin(&f.org)
        .confirm_email("janis@example.com", &code, &ctx())
        .await
        .unwrap();
    assert!(user.profile.email_verified);
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(f.events(EventCode::EMAIL_VERIFIED).await.len(), 1);
}

#[tokio::test]
async fn an_e_mail_code_works_once() {
    let f = fixture().await;
    f.sign_up("janis@example.com", PASSWORD).await;
    let code = f.last_code("janis@example.com");
    let signin = f.identity.signin(&f.org);
    signin
        .confirm_email("janis@example.com", &code, &ctx())
        .await
        .unwrap();
    assert_invalid_code(
        signin
            .confirm_email("janis@example.com", &code, &ctx())
            .await,
    );
}

#[tokio::test]
async fn an_e_mail_code_expires_after_ten_minutes() {
    let f = fixture().await;
    f.sign_up("janis@example.com", PASSWORD).await;
    let code = f.last_code("janis@example.com");
    f.clock.advance(Duration::minutes(10));
    assert_invalid_code(
        f.identity
            .signin(&f.org)
            .confirm_email("janis@example.com", &code, &ctx())
            .await,
    );
    assert_eq!(
        f.reasons(EventCode::EMAIL_CODE_FAILED).await,
        ["e-mail code expired"]
    );
}

#[tokio::test]
async fn a_code_just_before_its_expiry_still_works() {
    let f = fixture().await;
    f.sign_up("janis@example.com", PASSWORD).await;
    let code = f.last_code("janis@example.com");
    f.clock
        .advance(Duration::minutes(10) - Duration::seconds(1));
    f.identity
        .signin(&f.org)
        .confirm_email("janis@example.com", &code, &ctx())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_e_mail_code_is_bound_to_its_address() {
    let f = fixture().await;
    f.sign_up("a@example.com", PASSWORD).await;
    f.sign_up("b@example.com", PASSWORD).await;
    let code_a = f.last_code("a@example.com");
    let signin = f.identity.signin(&f.org);
    assert_invalid_code(signin.confirm_email("b@example.com", &code_a, &ctx()).await);
    signin
        .confirm_email("a@example.com", &code_a, &ctx())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_e_mail_code_is_bound_to_its_purpose() {
    let f = fixture().await;
    let user = f.sign_up("janis@example.com", PASSWORD).await;
    let verify_code = f.last_code("janis@example.com");
    // The verification code of this very address does not confirm an address change to it.
    assert_invalid_code(
        f.identity
            .signin(&f.org)
            .confirm_email_change(user.id, "janis@example.com", &verify_code, &ctx())
            .await,
    );
    // Nor does a change code verify a sign-up.
    let signin = f.identity.signin(&f.org);
    signin
        .request_email_change(user.id, "new@example.com")
        .await
        .unwrap();
    let change_code = f.last_code("new@example.com");
    assert_invalid_code(
        signin
            .confirm_email("janis@example.com", &change_code, &ctx())
            .await,
    );
}

#[tokio::test]
async fn e_mail_code_attempts_are_limited() {
    let f = fixture_with(|b| {
        b.signin_settings(SigninSettings {
            // Lockout out of the way, to see the code's own limit.
            lockout: LockoutPolicy {
                user_threshold: 100,
                ..LockoutPolicy::default()
            },
            email_code_attempts: 3,
            ..settings()
        })
    })
    .await;
    f.sign_up("janis@example.com", PASSWORD).await;
    let code = f.last_code("janis@example.com");
    let signin = f.identity.signin(&f.org);
    for wrong in ["000000", "111111", "222222"] {
        assert_invalid_code(
            signin
                .confirm_email("janis@example.com", wrong, &ctx())
                .await,
        );
    }
    assert_invalid_code(
        signin
            .confirm_email("janis@example.com", &code, &ctx())
            .await,
    );
    assert_eq!(
        f.reasons(EventCode::EMAIL_CODE_FAILED).await,
        [
            "wrong e-mail code",
            "wrong e-mail code",
            "wrong e-mail code",
            "e-mail code attempts exhausted"
        ]
    );
}

#[tokio::test]
async fn an_unknown_address_gets_the_same_answer_as_a_wrong_code() {
    let f = fixture().await;
    f.sign_up("janis@example.com", PASSWORD).await;
    let signin = f.identity.signin(&f.org);
    assert_invalid_code(
        signin
            .confirm_email("nobody@example.com", "123456", &ctx())
            .await,
    );
    assert_invalid_code(
        signin
            .confirm_email("janis@example.com", "123456", &ctx())
            .await,
    );
}

#[tokio::test]
async fn resending_is_silent_for_unknown_addresses_and_rate_limited_for_all() {
    let f = fixture().await;
    f.sign_up("janis@example.com", PASSWORD).await; // the sign-up's code is not counted
    let signin = f.identity.signin(&f.org);
    for _ in 0..5 {
        signin.resend_email_code("janis@example.com").await.unwrap();
        signin
            .resend_email_code("nobody@example.com")
            .await
            .unwrap();
    }
    let err = signin
        .resend_email_code("janis@example.com")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimited));
    assert_eq!(err.http_status(), 429);
    // An unknown address is limited alike, so the limit tells nothing either.
    assert!(matches!(
        signin.resend_email_code("nobody@example.com").await,
        Err(Error::RateLimited)
    ));
    assert_eq!(f.outbox.sent().len(), 6);
    assert!(
        f.outbox
            .last_to(&Email::parse("nobody@example.com").unwrap())
            .is_none()
    );
    // Every code sent is valid until used or expired; the newest works.
    let code = f.last_code("janis@example.com");
    signin
        .confirm_email("janis@example.com", &code, &ctx())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_e_mail_change_takes_effect_only_after_the_new_address_is_verified() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let signin = f.identity.signin(&f.org);
    signin
        .request_email_change(user.id, "pearl@example.com")
        .await
        .unwrap();
    // Requested, not verified: nothing changed.
    let now = f.identity.users(&f.org).retrieve(user.id).await.unwrap();
    assert_eq!(now.profile.email.as_str(), "janis@example.com");
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    assert_sign_in_failed(f.sign_in("pearl@example.com", PASSWORD).await);
    // A wrong code changes nothing either.
    assert_invalid_code(
        signin
            .confirm_email_change(user.id, "pearl@example.com", "000000", &ctx())
            .await,
    );
    let code = f.last_code("pearl@example.com");
    // The code was sent to the new address, and only works for it.
    assert_invalid_code(
        signin
            .confirm_email_change(user.id, "other@example.com", &code, &ctx())
            .await,
    );
    let changed = signin
        .confirm_email_change(user.id, "pearl@example.com", &code, &ctx())
        .await
        .unwrap();
    assert_eq!(changed.profile.email.as_str(), "pearl@example.com");
    assert!(changed.profile.email_verified);
    expect_complete(f.sign_in("pearl@example.com", PASSWORD).await);
    assert_sign_in_failed(f.sign_in("janis@example.com", PASSWORD).await);
    // The old address was told.
    let notice = f
        .outbox
        .last_to(&Email::parse("janis@example.com").unwrap())
        .unwrap();
    assert!(notice.body.contains("pearl@example.com"));
    let events = f.events(EventCode::EMAIL_CHANGED).await;
    assert_eq!(events[0].details["old_email"], "janis@example.com");
}

#[tokio::test]
async fn a_send_limit_exhausted_before_sign_up_does_not_withhold_the_first_code() {
    let f = fixture().await;
    let signin = f.identity.signin(&f.org);
    for _ in 0..5 {
        signin.resend_email_code("janis@example.com").await.unwrap();
    }
    f.sign_up("janis@example.com", PASSWORD).await;
    assert_eq!(f.last_code("janis@example.com").len(), 6);
}

#[tokio::test]
async fn an_address_of_another_user_cannot_be_requested() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    f.active_user("pearl@example.com").await;
    let err = f
        .identity
        .signin(&f.org)
        .request_email_change(user.id, "PEARL@example.com")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::AlreadyExists {
            resource: Resource::User,
            key: "email"
        }
    ));
}

#[tokio::test]
async fn a_malformed_address_is_an_error_naming_the_field() {
    let f = fixture().await;
    let err = f
        .identity
        .signin(&f.org)
        .confirm_email("not an address", "123456", &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidField { field: "email", .. }));
}

#[tokio::test]
async fn a_taken_address_refuses_the_sign_up_whole() {
    let f = fixture().await;
    f.sign_up("janis@example.com", PASSWORD).await;
    let err = f
        .identity
        .signin(&f.org)
        .sign_up(idcore::signin::SignUp::new(
            idcore::NewUser::new("JANIS@example.com").unwrap(),
            idcore::signin::password::Password::new(PASSWORD),
        ))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::AlreadyExists {
            resource: Resource::User,
            key: "email"
        }
    ));
    assert_eq!(f.outbox.sent().len(), 1);
}
