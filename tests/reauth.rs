//! Removing an authenticator and replacing recovery codes, each behind a fresh authentication
//! (the password or a current TOTP code) that counts as a sign-in guess: a wrong proof is
//! audited, counts toward the lockout and changes nothing.

mod support;

use idcore::audit::EventCode;
use idcore::risk::RequestContext;
use idcore::signin::password::Password;
use idcore::signin::{Factor, Reauthentication};
use idcore::{Error, MemoryStore};
use support::*;

fn password(p: &str) -> Reauthentication {
    Reauthentication::Password(Password::new(p))
}

async fn remove(
    f: &Fx,
    user: &idcore::directory::User,
    proof: Reauthentication,
) -> Result<(), Error> {
    f.identity
        .signin(&f.org)
        .remove_authenticator(user.id, &proof, &RequestContext::new())
        .await
}

#[tokio::test]
async fn the_right_password_removes_the_authenticator_and_its_recovery_codes() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (_, old_codes) = f.enrol(&user).await;
    expect_pending(f.sign_in("janis@example.com", PASSWORD).await);

    remove(&f, &user, password(PASSWORD)).await.unwrap();

    // No second factor is asked any more.
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    let removed = f.events(EventCode::AUTHENTICATOR_REMOVED).await;
    assert_eq!(removed.len(), 1);
    assert_eq!(
        removed[0].email.as_ref().map(|e| e.as_str()),
        Some("janis@example.com")
    );
    // Removing again: nothing is enrolled.
    let again = remove(&f, &user, password(PASSWORD)).await.unwrap_err();
    assert!(
        matches!(again, Error::InvalidRequest("no authenticator is enrolled")),
        "{again:?}"
    );
    // A new enrolment: the codes of the removed one stay dead.
    let (_, new_codes) = f.enrol(&user).await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_sign_in_failed(
        f.complete(&pending, Factor::RecoveryCode(old_codes[0].clone()))
            .await,
    );
    expect_complete(
        f.complete(&pending, Factor::RecoveryCode(new_codes[0].clone()))
            .await,
    );
}

#[tokio::test]
async fn a_current_totp_code_removes_the_authenticator_and_a_wrong_one_does_not() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let code = key.generate(f.unix());
    assert_sign_in_failed(remove(&f, &user, Reauthentication::Totp("000000".into())).await);
    expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    remove(&f, &user, Reauthentication::Totp(code))
        .await
        .unwrap();
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(
        f.reasons(EventCode::REAUTHENTICATION_FAILED).await,
        ["wrong TOTP code"]
    );
}

#[tokio::test]
async fn a_wrong_proof_changes_nothing_is_audited_and_counts_toward_the_lockout() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (_, codes) = f.enrol(&user).await;
    // The default lockout lets 5 guesses fail in a window.
    for _ in 0..5 {
        assert_sign_in_failed(remove(&f, &user, password("not my password")).await);
    }
    // Locked: even the right password is refused unchecked, and so is sign-in.
    assert_sign_in_failed(remove(&f, &user, password(PASSWORD)).await);
    assert_sign_in_failed(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(
        f.reasons(EventCode::REAUTHENTICATION_FAILED).await,
        [
            "wrong password",
            "wrong password",
            "wrong password",
            "wrong password",
            "wrong password",
            "account locked"
        ]
    );
    assert_eq!(f.events(EventCode::ACCOUNT_LOCKED).await.len(), 1);
    assert!(f.events(EventCode::AUTHENTICATOR_REMOVED).await.is_empty());
    // After the cool-down the authenticator is still there and its codes still work.
    f.clock.advance(time::Duration::minutes(16));
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    expect_complete(
        f.complete(&pending, Factor::RecoveryCode(codes[0].clone()))
            .await,
    );
}

#[tokio::test]
async fn recovery_codes_are_replaced_only_after_a_fresh_authentication() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (key, old) = f.enrol(&user).await;
    let signin = f.identity.signin(&f.org);
    let ctx = RequestContext::new();
    assert_sign_in_failed(
        signin
            .regenerate_recovery_codes(user.id, &password("guess"), &ctx)
            .await,
    );
    assert!(
        f.events(EventCode::RECOVERY_CODES_GENERATED)
            .await
            .is_empty()
    );
    let new = signin
        .regenerate_recovery_codes(
            user.id,
            &Reauthentication::Totp(key.generate(f.unix())),
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!(new.codes().len(), 10);
    assert_eq!(f.events(EventCode::RECOVERY_CODES_GENERATED).await.len(), 1);
    assert_eq!(
        f.reasons(EventCode::REAUTHENTICATION_FAILED).await,
        ["wrong password"]
    );
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_sign_in_failed(
        f.complete(&pending, Factor::RecoveryCode(old[1].clone()))
            .await,
    );
    expect_complete(
        f.complete(
            &pending,
            Factor::RecoveryCode(new.codes()[0].expose().to_owned()),
        )
        .await,
    );
}

#[tokio::test]
async fn a_user_without_an_authenticator_or_credentials_gets_a_clear_error() {
    let f: Fx<MemoryStore> = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let err = remove(&f, &user, password(PASSWORD)).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidRequest("no authenticator is enrolled")),
        "{err:?}"
    );
    // Checked before any proof: nothing was reserved or audited.
    assert!(
        f.events(EventCode::REAUTHENTICATION_FAILED)
            .await
            .is_empty()
    );
    let directory_only = f
        .identity
        .users(&f.org)
        .create(idcore::NewUser::new("nopass@example.com").unwrap())
        .await
        .unwrap();
    let err = remove(&f, &directory_only, password(PASSWORD))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
}
