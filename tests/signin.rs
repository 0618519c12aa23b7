//! Sign-in through the public API: the whole flow, usernames, second factors, recovery codes,
//! pending sign-ins, password changes, audit events.

mod support;

use idcore::audit::EventCode;
use idcore::clock::Clock;
use idcore::risk::RequestContext;
use idcore::signin::password::Password;
use idcore::signin::{Factor, FactorKind, Reauthentication, SignUp};
use idcore::store::CredentialStore;
use idcore::tokens::ClientAuth;
use idcore::{Environment, Error, NewUser, Resource};
use support::*;
use time::Duration;

#[tokio::test]
async fn sign_up_totp_sign_in_and_code_exchange_issue_tokens() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (key, recovery) = f.enrol(&user).await;
    assert_eq!(recovery.len(), 10);
    let auth_time = f.now();
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(pending.factors, [FactorKind::Totp]);
    f.clock.advance(Duration::seconds(5));
    let done = expect_complete(
        f.complete(&pending, Factor::Totp(key.generate(f.unix())))
            .await,
    );
    assert_eq!(done.redirect_uri, REDIRECT);
    assert_eq!(done.state.as_deref(), Some("af0ifjsldkj"));
    assert_eq!(done.user_id, user.id);
    let set = f
        .identity
        .tokens()
        .exchange_code(
            &ClientAuth::public(f.client),
            done.code.expose(),
            REDIRECT,
            VERIFIER,
        )
        .await
        .expect("the code redeems");
    let verified = f
        .identity
        .tokens()
        .verify_live(&set.access_token)
        .await
        .unwrap();
    assert_eq!(verified.claims.sub, user.id);
    assert_eq!(verified.auth_time, auth_time.unix_timestamp());
    let success = f.events(EventCode::SIGN_IN_SUCCEEDED).await;
    assert_eq!(success.len(), 1);
    assert_eq!(success[0].details["amr"], "pwd otp mfa");
    assert_eq!(success[0].client_id, Some(f.client));
}

#[tokio::test]
async fn a_user_without_second_factor_signs_in_with_the_password_alone() {
    let f = fixture().await;
    f.active_user("janis@example.com").await;
    let done = expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    let set = f
        .identity
        .tokens()
        .exchange_code(
            &ClientAuth::public(f.client),
            done.code.expose(),
            REDIRECT,
            VERIFIER,
        )
        .await;
    assert!(set.is_ok());
    assert_eq!(
        f.events(EventCode::SIGN_IN_SUCCEEDED).await[0].details["amr"],
        "pwd"
    );
}

#[tokio::test]
async fn the_login_may_be_the_address_in_any_case_or_the_username() {
    let f = fixture().await;
    f.identity
        .signin(&f.org)
        .sign_up(
            SignUp::new(
                NewUser::new("janis@example.com").unwrap(),
                Password::new(PASSWORD),
            )
            .username("Janis_J")
            .unwrap(),
        )
        .await
        .unwrap();
    let code = f.last_code("janis@example.com");
    f.identity
        .signin(&f.org)
        .confirm_email("janis@example.com", &code, &RequestContext::new())
        .await
        .unwrap();
    expect_complete(f.sign_in("JANIS@Example.com", PASSWORD).await);
    expect_complete(f.sign_in("janis_j", PASSWORD).await);
    expect_complete(f.sign_in("JANIS_J", PASSWORD).await);
}

#[tokio::test]
async fn a_username_is_unique_per_organization_case_insensitively() {
    let f = fixture().await;
    let sign_up = |email: &str, name: &str| {
        SignUp::new(NewUser::new(email).unwrap(), Password::new(PASSWORD))
            .username(name)
            .unwrap()
    };
    let signin = f.identity.signin(&f.org);
    signin
        .sign_up(sign_up("a@example.com", "janis"))
        .await
        .unwrap();
    let err = signin
        .sign_up(sign_up("b@example.com", "JANIS"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::AlreadyExists {
            resource: Resource::User,
            key: "username"
        }
    ));
    // Nothing of the refused sign-up was written.
    assert!(
        f.identity
            .users(&f.org)
            .retrieve_by_email(&idcore::directory::Email::parse("b@example.com").unwrap())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_unregistered_redirect_uri_is_refused_before_any_attempt_is_counted() {
    let f = fixture().await;
    f.active_user("janis@example.com").await;
    let mut request = f.request("janis@example.com", "wrong password");
    request.authorization.redirect_uri = "https://app.example.com/callback/".to_owned();
    let err = f
        .identity
        .signin(&f.org)
        .sign_in(request)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert!(f.events(EventCode::SIGN_IN_FAILED).await.is_empty());
}

#[tokio::test]
async fn another_organizations_client_is_refused() {
    let f = fixture().await;
    f.active_user("janis@example.com").await;
    let other = f
        .identity
        .organizations()
        .create(idcore::NewOrganization::new("Other").unwrap())
        .await
        .unwrap()
        .domain;
    let err = f
        .identity
        .signin(&other)
        .sign_in(f.request("janis@example.com", PASSWORD))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidClient), "{err:?}");
}

#[tokio::test]
async fn a_totp_enrolled_user_gets_no_code_without_the_second_factor() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_sign_in_failed(f.complete(&pending, Factor::Totp("000000".into())).await);
    // A wrong code does not end the pending sign-in.
    expect_complete(
        f.complete(&pending, Factor::Totp(key.generate(f.unix())))
            .await,
    );
    // Once completed, the pending token is spent.
    f.clock.advance(Duration::seconds(30));
    assert_sign_in_failed(
        f.complete(&pending, Factor::Totp(key.generate(f.unix())))
            .await,
    );
}

#[tokio::test]
async fn a_factor_the_pending_sign_in_did_not_ask_for_is_refused() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    f.enrol(&user).await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_sign_in_failed(f.complete(&pending, Factor::HostVerified).await);
    assert_sign_in_failed(
        f.complete(&pending, Factor::EmailCode("123456".into()))
            .await,
    );
    assert_eq!(
        f.reasons(EventCode::MFA_FAILED).await,
        ["factor not asked for", "factor not asked for"]
    );
}

#[tokio::test]
async fn a_pending_sign_in_expires() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(pending.expires_at, f.now() + Duration::minutes(5));
    f.clock.advance(Duration::minutes(5));
    assert_sign_in_failed(
        f.complete(&pending, Factor::Totp(key.generate(f.unix())))
            .await,
    );
    assert_eq!(
        f.reasons(EventCode::MFA_FAILED).await,
        ["pending sign-in unknown, expired or used"]
    );
}

#[tokio::test]
async fn a_pending_sign_in_belongs_to_its_organization() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    let other = f
        .identity
        .organizations()
        .create(idcore::NewOrganization::new("Other").unwrap())
        .await
        .unwrap()
        .domain;
    let result = f
        .identity
        .signin(&other)
        .complete(
            pending.token.expose(),
            Factor::Totp(key.generate(f.unix())),
            &RequestContext::new(),
        )
        .await;
    assert_sign_in_failed(result);
}

#[tokio::test]
async fn a_recovery_code_replaces_the_totp_code_once() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (_, codes) = f.enrol(&user).await;
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
    );
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    // Case and dashes do not matter.
    let typed = codes[3].replace('-', "").to_uppercase();
    expect_complete(f.complete(&pending, Factor::RecoveryCode(typed)).await);
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_sign_in_failed(
        f.complete(&pending, Factor::RecoveryCode(codes[3].clone()))
            .await,
    );
    expect_complete(
        f.complete(&pending, Factor::RecoveryCode(codes[4].clone()))
            .await,
    );
    assert_eq!(
        f.reasons(EventCode::MFA_FAILED).await,
        ["recovery code already used"]
    );
    assert_eq!(f.events(EventCode::RECOVERY_CODE_USED).await.len(), 2);
}

#[tokio::test]
async fn regenerated_recovery_codes_replace_every_older_one() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (_, old) = f.enrol(&user).await;
    let new = f
        .identity
        .signin(&f.org)
        .regenerate_recovery_codes(
            user.id,
            &Reauthentication::Password(Password::new(PASSWORD)),
            &RequestContext::new(),
        )
        .await
        .unwrap();
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_sign_in_failed(
        f.complete(&pending, Factor::RecoveryCode(old[0].clone()))
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
async fn an_enrolment_is_confirmed_only_by_a_valid_code() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let signin = f.identity.signin(&f.org);
    let enrolment = signin.begin_totp_enrolment(user.id).await.unwrap();
    assert!(
        enrolment
            .otpauth_uri()
            .expose()
            .starts_with("otpauth://totp/")
    );
    assert!(
        enrolment
            .otpauth_uri()
            .expose()
            .contains("janis%40example.com")
    );
    assert_eq!(&enrolment.qr_png()[..8], b"\x89PNG\r\n\x1a\n");
    // 160 bits: 32 base32 characters.
    assert_eq!(enrolment.secret_base32().expose().len(), 32);
    assert!(format!("{enrolment:?}").contains("[redacted]"));
    let err = signin
        .confirm_totp_enrolment(user.id, "000000", &RequestContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidCode));
    // Not enrolled yet: sign-in needs no second factor.
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    let key = key_of(enrolment.secret_base32().expose());
    signin
        .confirm_totp_enrolment(user.id, &key.generate(f.unix()), &RequestContext::new())
        .await
        .unwrap();
    expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(f.events(EventCode::TOTP_ENROLLED).await.len(), 1);
}

#[tokio::test]
async fn the_totp_secret_is_stored_sealed() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let signin = f.identity.signin(&f.org);
    let enrolment = signin.begin_totp_enrolment(user.id).await.unwrap();
    let raw = totp_rs::Secret::try_from_base32(enrolment.secret_base32().expose())
        .unwrap()
        .as_bytes()
        .to_vec();
    let creds = f
        .store
        .credentials(Environment::Sandbox, &f.org, user.id)
        .await
        .unwrap()
        .unwrap();
    let sealed = creds.pending_totp.unwrap().sealed_secret;
    assert_eq!(sealed.len(), 12 + raw.len() + 16);
    assert!(!sealed.windows(raw.len()).any(|w| w == raw.as_slice()));
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_revokes_every_token() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let done = expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    let set = f
        .identity
        .tokens()
        .exchange_code(
            &ClientAuth::public(f.client),
            done.code.expose(),
            REDIRECT,
            VERIFIER,
        )
        .await
        .unwrap();
    let signin = f.identity.signin(&f.org);
    let new = Password::new("a completely new passphrase");
    let err = signin
        .change_password(
            user.id,
            &Password::new("not it"),
            &new,
            &RequestContext::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SignInFailed));
    signin
        .change_password(
            user.id,
            &Password::new(PASSWORD),
            &new,
            &RequestContext::new(),
        )
        .await
        .unwrap();
    assert!(
        f.identity
            .tokens()
            .verify_live(&set.access_token)
            .await
            .is_err()
    );
    assert!(
        f.identity
            .tokens()
            .refresh(
                &ClientAuth::public(f.client),
                set.refresh_token.expose(),
                None
            )
            .await
            .is_err()
    );
    f.clock.advance(Duration::seconds(1));
    assert_sign_in_failed(f.sign_in("janis@example.com", PASSWORD).await);
    expect_complete(
        f.sign_in("janis@example.com", "a completely new passphrase")
            .await,
    );
    assert_eq!(f.events(EventCode::PASSWORD_CHANGED).await.len(), 1);
}

#[tokio::test]
async fn sign_in_needs_a_key_encryption_key() {
    let store = idcore::MemoryStore::new();
    let identity = idcore::Identity::builder()
        .issuer("https://auth.example.com")
        .store(store)
        .build()
        .unwrap();
    let org = identity
        .organizations()
        .create(idcore::NewOrganization::new("Misapret").unwrap())
        .await
        .unwrap()
        .domain;
    let err = identity
        .signin(&org)
        .sign_up(SignUp::new(
            NewUser::new("janis@example.com").unwrap(),
            Password::new(PASSWORD),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Keys(_)), "{err:?}");
    let _ = identity.now();
    let _ = support::START;
    let _ = idcore::clock::SystemClock.now();
}
