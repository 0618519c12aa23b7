//! Disabling a user (SECURITY 30): every token and every way to get a new one is refused until
//! the user is enabled again; tokens revoked by the disable stay revoked.

mod support;

use idcore::audit::EventCode;
use idcore::directory::UserId;
use idcore::tokens::pkce::CodeChallenge;
use idcore::tokens::{ClientAuth, CodeRequest, TokenSet};
use idcore::{Error, Resource, TokenProblem};
use support::*;
use time::Duration;

impl Fx {
    async fn code_for(&self, user: UserId) -> Result<String, Error> {
        let code = self
            .identity
            .tokens()
            .mint_code(CodeRequest {
                org: self.org.clone(),
                user_id: user,
                client_id: self.client,
                redirect_uri: REDIRECT.to_owned(),
                code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
                nonce: None,
                state: None,
                scope: vec!["openid".to_owned()],
                auth_time: self.now(),
                amr: vec!["pwd".to_owned()],
            })
            .await?;
        Ok(code.expose().to_owned())
    }

    async fn exchange(&self, code: &str) -> Result<TokenSet, Error> {
        self.identity
            .tokens()
            .exchange_code(&ClientAuth::public(self.client), code, REDIRECT, VERIFIER)
            .await
    }
}

fn revoked(result: Result<impl std::fmt::Debug, Error>) {
    match result {
        Err(Error::InvalidToken(TokenProblem::Revoked)) => {}
        other => panic!("expected invalid_token (revoked), got {other:?}"),
    }
}

#[tokio::test]
async fn a_disabled_user_loses_every_token_and_gets_no_new_one() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let tokens = f.identity.tokens();
    let set = f
        .exchange(&f.code_for(user.id).await.unwrap())
        .await
        .unwrap();
    let pending_code = f.code_for(user.id).await.unwrap();

    let disabled = f.identity.users(&f.org).disable(user.id).await.unwrap();
    assert!(!disabled.active);
    assert_eq!(disabled.version, user.version + 1);
    assert!(
        !f.identity
            .users(&f.org)
            .retrieve(user.id)
            .await
            .unwrap()
            .active
    );

    revoked(tokens.verify_live(&set.access_token).await);
    tokens
        .verify_id_token(&set.id_token, f.client)
        .await
        .unwrap();
    revoked(tokens.verify_id_token_live(&set.id_token, f.client).await);
    revoked(tokens.userinfo(&set.access_token).await);
    let refresh = tokens
        .refresh(
            &ClientAuth::public(f.client),
            set.refresh_token.expose(),
            None,
        )
        .await;
    assert!(matches!(refresh, Err(Error::InvalidGrant)), "{refresh:?}");
    // A code minted before the disable cannot be redeemed.
    let exchange = f.exchange(&pending_code).await;
    assert!(matches!(exchange, Err(Error::InvalidGrant)), "{exchange:?}");
    // No new code, by any path.
    f.clock.advance(Duration::seconds(2));
    let minted = f.code_for(user.id).await;
    assert!(
        matches!(minted, Err(Error::Forbidden("the user is disabled"))),
        "{minted:?}"
    );
    let sign_in = f.sign_in("janis@example.com", PASSWORD).await;
    assert!(
        matches!(sign_in, Err(Error::Forbidden("the user is disabled"))),
        "{sign_in:?}"
    );
    // Without the password it is the ordinary indistinguishable failure.
    assert_sign_in_failed(f.sign_in("janis@example.com", "wrong password here").await);

    assert_eq!(f.events(EventCode::USER_DISABLED).await.len(), 1);
    assert_eq!(
        f.reasons(EventCode::SIGN_IN_FAILED).await,
        vec!["user disabled", "wrong password"], // newest first
    );
}

#[tokio::test]
async fn an_enabled_user_signs_in_again_but_old_tokens_stay_revoked() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let tokens = f.identity.tokens();
    let old = f
        .exchange(&f.code_for(user.id).await.unwrap())
        .await
        .unwrap();
    f.identity.users(&f.org).disable(user.id).await.unwrap();
    f.clock.advance(Duration::seconds(2));
    let enabled = f.identity.users(&f.org).enable(user.id).await.unwrap();
    assert!(enabled.active);
    assert_eq!(f.events(EventCode::USER_ENABLED).await.len(), 1);

    revoked(tokens.verify_live(&old.access_token).await);
    let refresh = tokens
        .refresh(
            &ClientAuth::public(f.client),
            old.refresh_token.expose(),
            None,
        )
        .await;
    assert!(matches!(refresh, Err(Error::InvalidGrant)), "{refresh:?}");

    let done = expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    let new = f.exchange(done.code.expose()).await.unwrap();
    tokens.verify_live(&new.access_token).await.unwrap();
}

#[tokio::test]
async fn disabling_twice_records_one_event_and_revokes_again() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let users = f.identity.users(&f.org);
    let first = users.disable(user.id).await.unwrap();
    let second = users.disable(user.id).await.unwrap();
    assert_eq!(first, second, "a second disable changes nothing stored");
    assert_eq!(f.events(EventCode::USER_DISABLED).await.len(), 1);
    // Enabling an active user is as quiet.
    users.enable(user.id).await.unwrap();
    users.enable(user.id).await.unwrap();
    assert_eq!(f.events(EventCode::USER_ENABLED).await.len(), 1);
}

#[tokio::test]
async fn disable_of_an_unknown_or_foreign_user_is_not_found() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let other = f
        .identity
        .organizations()
        .create(idcore::NewOrganization::new("Other").unwrap())
        .await
        .unwrap()
        .domain;
    let foreign = f.identity.users(&other).disable(user.id).await;
    assert!(
        matches!(foreign, Err(Error::NotFound(Resource::User))),
        "{foreign:?}"
    );
    assert!(
        f.identity
            .users(&f.org)
            .retrieve(user.id)
            .await
            .unwrap()
            .active
    );
}

#[tokio::test]
async fn the_user_document_says_whether_it_is_active() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    assert_eq!(serde_json::to_value(&user).unwrap()["active"], true);
    let disabled = f.identity.users(&f.org).disable(user.id).await.unwrap();
    assert_eq!(serde_json::to_value(&disabled).unwrap()["active"], false);
}
