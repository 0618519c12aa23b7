//! SECURITY.md lines whose behaviour rests on storage, run through the public API on every
//! store adapter: `MemoryStore`, SQLite (a file of the test's own) and PostgreSQL (a fresh
//! schema; with `--features postgres` and `IDCORE_TEST_POSTGRES_URL`, otherwise skipped).
//!
//! Each scenario is one generic function over the store; [`on_every_store!`] expands it into
//! `memory::<name>`, `sqlite::<name>` and `postgres::<name>`. Outcomes are asserted exactly: the
//! winner count, the error variant, the token problem. Under concurrency a durable store may
//! answer a retryable conflict (SECURITY 53); the scenarios accept that answer, and only it,
//! besides the documented one, and never more winners.

#[cfg(feature = "postgres")]
mod pg_schema;
mod sqlite_file;
mod support;

use std::fmt::Debug;
use std::sync::Arc;

use idcore::audit::EventCode;
use idcore::directory::UserId;
use idcore::protocol::{self, Request};
use idcore::risk::RequestContext;
use idcore::signin::password::Password;
use idcore::signin::{Factor, LockoutPolicy, SignInStep, SigninSettings, UnregisterRequest};
use idcore::store::Store;
use idcore::tokens::pkce::CodeChallenge;
use idcore::tokens::{ClientAuth, CodeRequest, TokenSet};
use idcore::{
    ApplicationScope, ApplicationType, Environment, Error, Identity, NewApplication, NewUser,
    TokenProblem, TokenSettings,
};
use serde_json::json;
use support::*;
use time::Duration;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

on_every_store!(
    "security", "sec", 8;
    fifty_concurrent_redemptions_of_one_code_have_exactly_one_winner,
    a_code_of_another_client_or_past_its_lifetime_is_invalid_grant,
    a_replay_after_the_grace_window_revokes_the_family_and_its_access_tokens,
    concurrent_refreshes_of_one_token_have_exactly_one_winner,
    a_hundred_concurrent_refreshes_within_the_reuse_interval_get_one_successor,
    refresh_by_another_client_or_for_a_broader_scope_is_refused_and_consumes_nothing,
    the_absolute_refresh_lifetime_holds_whatever_the_renewals,
    reuse_through_one_instance_revokes_the_family_on_another,
    a_password_change_kills_every_token_family_of_the_user,
    a_password_set_by_an_administrator_kills_every_token_family_of_the_user,
    disabling_a_user_kills_every_token_family,
    deleting_a_user_kills_every_token_family,
    a_global_sign_out_kills_every_earlier_access_and_id_token,
    revoking_a_refresh_token_kills_its_access_and_id_tokens_only,
    revoking_another_clients_refresh_token_is_refused_and_it_stays_active,
    introspection_of_expired_revoked_unknown_or_foreign_tokens_is_exactly_inactive,
    a_totp_code_is_accepted_once,
    two_concurrent_submissions_of_one_totp_code_accept_exactly_one,
    two_hundred_parallel_wrong_passwords_are_counted_exactly,
    an_e_mail_code_is_single_use_and_its_attempts_are_limited,
    an_e_mail_change_takes_effect_only_after_the_new_address_is_verified,
    sandbox_tokens_codes_and_refresh_tokens_never_cross_into_production,
);

// ---------------------------------------------------------------------------------- helpers

/// Whether `e` is the retryable conflict a store may answer under contention (SECURITY 53).
fn retryable(e: &Error) -> bool {
    e.is_retryable() && e.code() == "conflict" && e.http_status() == 409
}

#[track_caller]
fn problem<T: Debug>(result: Result<T, Error>) -> TokenProblem {
    match result {
        Err(Error::InvalidToken(p)) => p,
        other => panic!("expected invalid_token, got {other:?}"),
    }
}

#[track_caller]
fn assert_invalid_grant<T: Debug>(result: Result<T, Error>) {
    match result {
        Err(e @ Error::InvalidGrant) => {
            assert_eq!(e.code(), "invalid_grant");
            assert_eq!(e.http_status(), 400);
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

fn auth<S>(f: &Fx<S>) -> ClientAuth {
    ClientAuth::public(f.client)
}

/// A user created through the directory (no credentials): enough for the token service.
async fn directory_user<S: Store>(f: &Fx<S>, email: &str) -> UserId {
    f.identity
        .users(&f.org)
        .create(NewUser::new(email).unwrap())
        .await
        .unwrap()
        .id
}

fn code_request<S: Store>(f: &Fx<S>, user: UserId) -> CodeRequest {
    CodeRequest {
        org: f.org.clone(),
        user_id: user,
        client_id: f.client,
        redirect_uri: REDIRECT.to_owned(),
        code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        state: None,
        scope: vec!["openid".to_owned(), "email".to_owned()],
        auth_time: f.now(),
        amr: vec!["pwd".to_owned()],
    }
}

async fn code<S: Store>(f: &Fx<S>, user: UserId) -> String {
    f.identity
        .tokens()
        .mint_code(code_request(f, user))
        .await
        .unwrap()
        .expose()
        .to_owned()
}

async fn exchange<S: Store>(f: &Fx<S>, code: &str) -> Result<TokenSet, Error> {
    f.identity
        .tokens()
        .exchange_code(&auth(f), code, REDIRECT, VERIFIER)
        .await
}

async fn token_set<S: Store>(f: &Fx<S>, user: UserId) -> TokenSet {
    exchange(f, &code(f, user).await).await.unwrap()
}

async fn refresh<S: Store>(f: &Fx<S>, set: &TokenSet) -> Result<TokenSet, Error> {
    f.identity
        .tokens()
        .refresh(&auth(f), set.refresh_token.expose(), None)
        .await
}

/// Asserts every token of `set` is dead: access and ID tokens revoked for live verification,
/// the refresh token `invalid_grant`.
async fn assert_dead<S: Store>(f: &Fx<S>, set: &TokenSet) {
    let tokens = f.identity.tokens();
    assert_eq!(
        problem(tokens.verify_live(&set.access_token).await),
        TokenProblem::Revoked
    );
    assert_eq!(
        problem(tokens.verify_id_token_live(&set.id_token, f.client).await),
        TokenProblem::Revoked
    );
    assert_invalid_grant(refresh(f, set).await);
}

/// An identity on `store` with `settings`.
async fn with_tokens<S: Store + Clone>(store: S, settings: TokenSettings) -> Fx<S> {
    fixture_on(store, |b| b.token_settings(settings)).await
}

fn grace(seconds: i64) -> TokenSettings {
    TokenSettings {
        refresh_grace: Duration::seconds(seconds),
        ..TokenSettings::default()
    }
}

// ------------------------------------------------------------ authorization codes (18–20)

/// SECURITY 19 (and 53): 50 concurrent redemptions of one code, exactly one token set; every
/// other answer is `invalid_grant` (or a retryable conflict), and since the code was redeemed
/// more than once, the winner's grant is dead too (SECURITY 18).
async fn fifty_concurrent_redemptions_of_one_code_have_exactly_one_winner<S: Store + Clone>(
    store: S,
) {
    let f = Arc::new(fixture_on(store, |b| b).await);
    let user = directory_user(&f, "janis@example.com").await;
    let code = Arc::new(code(&f, user).await);
    let barrier = Arc::new(Barrier::new(50));
    let mut tasks = JoinSet::new();
    for _ in 0..50 {
        let (f, code, barrier) = (f.clone(), code.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            exchange(&f, &code).await
        });
    }
    let (mut winners, mut refused, mut conflicts) = (Vec::new(), 0, 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Ok(set) => winners.push(set),
            Err(Error::InvalidGrant) => refused += 1,
            Err(e) if retryable(&e) => conflicts += 1,
            Err(e) => panic!("unexpected answer: {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one token set");
    assert_eq!(refused + conflicts, 49);
    assert!(refused >= 1, "at least one loser saw the used code");
    assert_eq!(f.events(EventCode::TOKENS_ISSUED).await.len(), 1);
    assert_dead(&f, &winners[0]).await;
}

/// SECURITY 20: another client's code, or a code past its lifetime, is `invalid_grant`.
async fn a_code_of_another_client_or_past_its_lifetime_is_invalid_grant<S: Store + Clone>(
    store: S,
) {
    let f = fixture_on(store, |b| b).await;
    let user = directory_user(&f, "janis@example.com").await;
    let other = f
        .identity
        .applications(ApplicationScope::Organization(f.org.clone()))
        .create(
            NewApplication::new("Other", ApplicationType::Vue)
                .unwrap()
                .with(|a| a.allowed_redirect_urls(&[REDIRECT]))
                .unwrap(),
        )
        .await
        .unwrap()
        .application
        .client_id;
    let stolen = code(&f, user).await;
    assert_invalid_grant(
        f.identity
            .tokens()
            .exchange_code(&ClientAuth::public(other), &stolen, REDIRECT, VERIFIER)
            .await,
    );
    // The lifetime: one second before it ends the code works, at its end it does not.
    let lifetime = f
        .identity
        .config()
        .lifetimes()
        .authorization_code
        .whole_seconds();
    assert!(lifetime <= 600, "codes live at most 10 minutes");
    let fresh = code(&f, user).await;
    f.clock.advance(Duration::seconds(lifetime - 1));
    exchange(&f, &fresh).await.unwrap();
    let late = code(&f, user).await;
    f.clock.advance(Duration::seconds(lifetime));
    assert_invalid_grant(exchange(&f, &late).await);
}

// ------------------------------------------------------------------ refresh tokens (25–29)

/// SECURITY 25: replaying a rotated token after the grace window is `invalid_grant` and kills
/// the family: every access, ID and refresh token issued from it.
async fn a_replay_after_the_grace_window_revokes_the_family_and_its_access_tokens<
    S: Store + Clone,
>(
    store: S,
) {
    let f = with_tokens(store, grace(10)).await;
    let user = directory_user(&f, "janis@example.com").await;
    let first = token_set(&f, user).await;
    let second = refresh(&f, &first).await.unwrap();
    // Another family of the same user must survive.
    let bystander = token_set(&f, user).await;
    f.clock.advance(Duration::seconds(10));
    assert_invalid_grant(refresh(&f, &first).await);
    assert_dead(&f, &second).await;
    assert_eq!(
        problem(f.identity.tokens().verify_live(&first.access_token).await),
        TokenProblem::Revoked
    );
    f.identity
        .tokens()
        .verify_live(&bystander.access_token)
        .await
        .unwrap();
    refresh(&f, &bystander).await.unwrap();
    let reuse = f.events(EventCode::TOKEN_REUSE_DETECTED).await;
    assert_eq!(reuse.len(), 1);
    assert_eq!(reuse[0].details["reason"], "refresh token reused");
}

/// Refreshes `set` from `n` tasks at once; the successes, the `invalid_grant` count, and the
/// retryable conflicts.
async fn concurrent_refreshes<S: Store + Clone>(
    f: &Arc<Fx<S>>,
    set: &TokenSet,
    n: usize,
) -> (Vec<TokenSet>, usize, usize) {
    let token = Arc::new(set.refresh_token.expose().to_owned());
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let (f, token, barrier) = (f.clone(), token.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            f.identity.tokens().refresh(&auth(&f), &token, None).await
        });
    }
    let (mut winners, mut refused, mut conflicts) = (Vec::new(), 0, 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Ok(set) => winners.push(set),
            Err(Error::InvalidGrant) => refused += 1,
            Err(e) if retryable(&e) => conflicts += 1,
            Err(e) => panic!("unexpected answer: {e:?}"),
        }
    }
    (winners, refused, conflicts)
}

/// SECURITY 26 (and 53), no grace window: exactly one success; the others are reuse, so the
/// family (the winner's new tokens included) dies.
async fn concurrent_refreshes_of_one_token_have_exactly_one_winner<S: Store + Clone>(store: S) {
    let f = Arc::new(fixture_on(store, |b| b).await);
    let user = directory_user(&f, "janis@example.com").await;
    let set = token_set(&f, user).await;
    let (winners, refused, conflicts) = concurrent_refreshes(&f, &set, 20).await;
    assert_eq!(winners.len(), 1, "exactly one rotation");
    assert_eq!(refused + conflicts, 19);
    assert_eq!(f.events(EventCode::TOKENS_REFRESHED).await.len(), 1);
    if refused > 0 {
        assert_dead(&f, &winners[0]).await;
    }
}

/// SECURITY 26, the documented reuse interval (`Tokens::refresh`): 100 concurrent refreshes
/// of one token all get the same successor pair — one rotation stored and audited, 99
/// repetitions — and the family lives on; after the interval the old token is reuse.
async fn a_hundred_concurrent_refreshes_within_the_reuse_interval_get_one_successor<
    S: Store + Clone,
>(
    store: S,
) {
    let f = Arc::new(with_tokens(store, grace(60)).await);
    let user = directory_user(&f, "janis@example.com").await;
    let set = token_set(&f, user).await;
    let (winners, refused, conflicts) = concurrent_refreshes(&f, &set, 100).await;
    assert_eq!((winners.len(), refused, conflicts), (100, 0, 0));
    let tokens = f.identity.tokens();
    let first = tokens
        .verify(&winners[0].access_token)
        .await
        .unwrap()
        .claims;
    for w in &winners {
        assert_eq!(w.refresh_token, winners[0].refresh_token);
        let claims = tokens.verify(&w.access_token).await.unwrap().claims;
        assert_eq!(
            (claims.jti, claims.iat, claims.exp),
            (first.jti, first.iat, first.exp)
        );
    }
    assert_eq!(f.events(EventCode::TOKENS_REFRESHED).await.len(), 1);
    assert_eq!(f.events(EventCode::TOKENS_REFRESH_REPEATED).await.len(), 99);
    assert!(f.events(EventCode::TOKEN_REUSE_DETECTED).await.is_empty());
    tokens.verify_live(&winners[0].access_token).await.unwrap();
    // The one successor is current and rotates.
    let next = refresh(&f, &winners[0]).await.unwrap();
    // Past the interval the first token is plain reuse: the family dies.
    f.clock.advance(Duration::seconds(61));
    assert_invalid_grant(refresh(&f, &set).await);
    assert_dead(&f, &next).await;
}

/// SECURITY 27: another client's refresh token is refused, a broader scope is
/// `invalid_scope`; neither consumes the token.
async fn refresh_by_another_client_or_for_a_broader_scope_is_refused_and_consumes_nothing<
    S: Store + Clone,
>(
    store: S,
) {
    let f = fixture_on(store, |b| b).await;
    let user = directory_user(&f, "janis@example.com").await;
    let set = token_set(&f, user).await;
    let other = f
        .identity
        .applications(ApplicationScope::Organization(f.org.clone()))
        .create(NewApplication::new("Other", ApplicationType::Vue).unwrap())
        .await
        .unwrap()
        .application
        .client_id;
    let tokens = f.identity.tokens();
    assert_invalid_grant(
        tokens
            .refresh(&ClientAuth::public(other), set.refresh_token.expose(), None)
            .await,
    );
    let broader = vec!["openid".to_owned(), "admin".to_owned()];
    let r = tokens
        .refresh(&auth(&f), set.refresh_token.expose(), Some(&broader))
        .await;
    match r {
        Err(e @ Error::InvalidScope) => assert_eq!(e.code(), "invalid_scope"),
        other => panic!("expected invalid_scope, got {other:?}"),
    }
    tokens.verify_live(&set.access_token).await.unwrap();
    let narrower = vec!["openid".to_owned()];
    let next = tokens
        .refresh(&auth(&f), set.refresh_token.expose(), Some(&narrower))
        .await
        .unwrap();
    assert_eq!(next.scope, "openid");
}

/// SECURITY 28: renewing every day keeps a family alive until 30 days after the grant, and
/// not one second longer.
async fn the_absolute_refresh_lifetime_holds_whatever_the_renewals<S: Store + Clone>(store: S) {
    let f = fixture_on(store, |b| b).await;
    let user = directory_user(&f, "janis@example.com").await;
    let mut set = token_set(&f, user).await;
    for _ in 0..29 {
        f.clock.advance(Duration::days(1));
        set = refresh(&f, &set).await.unwrap();
    }
    f.clock.advance(Duration::days(1) - Duration::seconds(1));
    set = refresh(&f, &set).await.unwrap();
    f.clock.advance(Duration::seconds(1));
    assert_invalid_grant(refresh(&f, &set).await);
}

/// SECURITY 29: two `Identity` instances on one store; a token rotated through one and
/// replayed through the other is reuse, and the first instance sees the family dead.
async fn reuse_through_one_instance_revokes_the_family_on_another<S: Store + Clone>(store: S) {
    let f = fixture_on(store.clone(), |b| b).await;
    let b = Identity::builder()
        .issuer("https://auth.example.com")
        .clock(f.clock.clone())
        .key_encryption_key(idcore::tokens::keys::EncryptionKey::from_bytes(&[7; 32]).unwrap())
        .store(store)
        .build()
        .unwrap();
    let user = directory_user(&f, "janis@example.com").await;
    let first = token_set(&f, user).await;
    let second = refresh(&f, &first).await.unwrap();
    f.identity
        .tokens()
        .verify_live(&second.access_token)
        .await
        .unwrap();
    assert_invalid_grant(
        b.tokens()
            .refresh(&auth(&f), first.refresh_token.expose(), None)
            .await,
    );
    // Within one revocation poll interval the first instance knows.
    f.clock.advance(Duration::seconds(1));
    assert_dead(&f, &second).await;
}

// ------------------------------------------------------------ who loses every token (30)

/// Two families of one signed-up user, and a third of another user that must survive.
async fn two_families<S: Store>(f: &Fx<S>) -> (idcore::directory::User, [TokenSet; 2], TokenSet) {
    let user = f.active_user("janis@example.com").await;
    let a = token_set(f, user.id).await;
    let b = token_set(f, user.id).await;
    let other = directory_user(f, "pearl@example.com").await;
    let bystander = token_set(f, other).await;
    (user, [a, b], bystander)
}

async fn assert_alive<S: Store>(f: &Fx<S>, set: &TokenSet) {
    f.identity
        .tokens()
        .verify_live(&set.access_token)
        .await
        .unwrap();
    refresh(f, set).await.unwrap();
}

/// SECURITY 30: a password change kills every family of the user, and no other user's.
async fn a_password_change_kills_every_token_family_of_the_user<S: Store + Clone>(store: S) {
    let f = fixture_on(store, |b| b).await;
    let (user, families, bystander) = two_families(&f).await;
    f.identity
        .signin(&f.org)
        .change_password(
            user.id,
            &Password::new(PASSWORD),
            &Password::new("a completely new passphrase"),
            &RequestContext::new(),
        )
        .await
        .unwrap();
    for set in &families {
        assert_dead(&f, set).await;
    }
    assert_alive(&f, &bystander).await;
}

/// SECURITY 30: a password set without the current one (administrator, reset) too.
async fn a_password_set_by_an_administrator_kills_every_token_family_of_the_user<
    S: Store + Clone,
>(
    store: S,
) {
    let f = fixture_on(store, |b| b).await;
    let (user, families, bystander) = two_families(&f).await;
    f.identity
        .signin(&f.org)
        .set_password(user.id, &Password::new("a completely new passphrase"))
        .await
        .unwrap();
    for set in &families {
        assert_dead(&f, set).await;
    }
    assert_alive(&f, &bystander).await;
}

/// SECURITY 30: disabling a user.
async fn disabling_a_user_kills_every_token_family<S: Store + Clone>(store: S) {
    let f = fixture_on(store, |b| b).await;
    let (user, families, bystander) = two_families(&f).await;
    f.identity.users(&f.org).disable(user.id).await.unwrap();
    for set in &families {
        assert_dead(&f, set).await;
    }
    assert_alive(&f, &bystander).await;
}

/// SECURITY 30: deleting a user (an accepted unregister).
async fn deleting_a_user_kills_every_token_family<S: Store + Clone>(store: S) {
    let f = fixture_on(store, |b| {
        b.risk_engine(Fixed::new(idcore::risk::RiskDecision::Accept))
    })
    .await;
    let (user, families, bystander) = two_families(&f).await;
    f.identity
        .signin(&f.org)
        .unregister(
            user.id,
            UnregisterRequest::new(RequestContext::new(), "self", "closing my account").unwrap(),
        )
        .await
        .unwrap();
    for set in &families {
        assert_dead(&f, set).await;
    }
    assert_alive(&f, &bystander).await;
    assert_eq!(f.events(EventCode::USER_DELETED).await.len(), 1);
}

// ------------------------------------------------- revocation, introspection, sign-out (31–33)

/// SECURITY 33: after a global sign-out every earlier access and ID token fails live
/// verification, and the refresh tokens are `invalid_grant`.
async fn a_global_sign_out_kills_every_earlier_access_and_id_token<S: Store + Clone>(store: S) {
    let f = fixture_on(store, |b| b).await;
    let (user, families, bystander) = two_families(&f).await;
    f.identity
        .tokens()
        .global_sign_out(&f.org, user.id)
        .await
        .unwrap();
    for set in &families {
        assert_dead(&f, set).await;
    }
    assert_alive(&f, &bystander).await;
}

/// SECURITY 31: revoking a refresh token kills the access and ID tokens of its grant — and
/// only those; an unknown token answers success.
async fn revoking_a_refresh_token_kills_its_access_and_id_tokens_only<S: Store + Clone>(store: S) {
    let f = fixture_on(store, |b| b).await;
    let user = directory_user(&f, "janis@example.com").await;
    let set = token_set(&f, user).await;
    let sibling = token_set(&f, user).await;
    let tokens = f.identity.tokens();
    tokens
        .revoke_refresh_token(&auth(&f), set.refresh_token.expose())
        .await
        .unwrap();
    assert_dead(&f, &set).await;
    assert_alive(&f, &sibling).await;
    tokens
        .revoke_refresh_token(&auth(&f), "an-unknown-refresh-token-of-43-characters-x")
        .await
        .unwrap();
}

/// SECURITY 31: another client's revocation is refused (`invalid_client`) and the token stays
/// active.
async fn revoking_another_clients_refresh_token_is_refused_and_it_stays_active<S: Store + Clone>(
    store: S,
) {
    let f = fixture_on(store, |b| b).await;
    let user = directory_user(&f, "janis@example.com").await;
    let set = token_set(&f, user).await;
    let other = f
        .identity
        .applications(ApplicationScope::Organization(f.org.clone()))
        .create(NewApplication::new("Other", ApplicationType::Vue).unwrap())
        .await
        .unwrap()
        .application
        .client_id;
    let tokens = f.identity.tokens();
    let r = tokens
        .revoke_refresh_token(&ClientAuth::public(other), set.refresh_token.expose())
        .await;
    match r {
        Err(e @ Error::InvalidClient) => assert_eq!(e.code(), "invalid_client"),
        other => panic!("expected invalid_client, got {other:?}"),
    }
    let r = tokens
        .revoke_access_token(&ClientAuth::public(other), &set.access_token)
        .await;
    assert!(matches!(r, Err(Error::InvalidClient)), "{r:?}");
    assert_alive(&f, &set).await;
}

/// SECURITY 32: expired, revoked, unknown and other-tenant tokens introspect as exactly
/// `{"active":false}`.
async fn introspection_of_expired_revoked_unknown_or_foreign_tokens_is_exactly_inactive<
    S: Store + Clone,
>(
    store: S,
) {
    let f = fixture_on(store, |b| b).await;
    let backend = f
        .identity
        .applications(ApplicationScope::Organization(f.org.clone()))
        .create(NewApplication::new("Backend", ApplicationType::Service).unwrap())
        .await
        .unwrap();
    let basic = format!(
        "Basic {}",
        b64_std(
            format!(
                "{}:{}",
                backend.application.client_id,
                backend.client_secret.unwrap().expose()
            )
            .as_bytes()
        )
    );
    let introspect = |token: String| {
        let req = Request::form([("token", token)]).authorization(basic.clone());
        let identity = f.identity.clone();
        async move { protocol::introspection(&identity, &req).await }
    };
    let inactive = json!({ "active": false });
    let user = directory_user(&f, "janis@example.com").await;
    let revoked = token_set(&f, user).await;
    let expiring = token_set(&f, user).await;
    assert_eq!(
        introspect(revoked.access_token.clone()).await.body["active"],
        true
    );
    // Another organization's client: its tokens are inactive to it (and audited).
    let other_org = f
        .identity
        .organizations()
        .create(idcore::NewOrganization::new("Other").unwrap())
        .await
        .unwrap()
        .domain;
    let foreign = f
        .identity
        .applications(ApplicationScope::Organization(other_org))
        .create(NewApplication::new("Other backend", ApplicationType::Service).unwrap())
        .await
        .unwrap();
    let foreign_basic = format!(
        "Basic {}",
        b64_std(
            format!(
                "{}:{}",
                foreign.application.client_id,
                foreign.client_secret.unwrap().expose()
            )
            .as_bytes()
        )
    );
    for token in [
        expiring.access_token.clone(),
        expiring.refresh_token.expose().to_owned(),
    ] {
        let req = Request::form([("token", token)]).authorization(foreign_basic.clone());
        assert_eq!(
            protocol::introspection(&f.identity, &req).await.body,
            inactive
        );
    }
    assert_eq!(f.events(EventCode::CROSS_TENANT_DENIED).await.len(), 2);
    f.identity
        .tokens()
        .revoke_refresh_token(&auth(&f), revoked.refresh_token.expose())
        .await
        .unwrap();
    assert_eq!(
        introspect(revoked.access_token.clone()).await.body,
        inactive
    );
    assert_eq!(
        introspect(revoked.refresh_token.expose().to_owned())
            .await
            .body,
        inactive
    );
    for unknown in ["an-unknown-refresh-token-of-43-characters-x", "a.b.c"] {
        assert_eq!(introspect(unknown.to_owned()).await.body, inactive);
    }
    // Past the access token's expiry (and the leeway): inactive, while its refresh token is not.
    f.clock.advance(Duration::seconds(3600 + 30));
    assert_eq!(
        introspect(expiring.access_token.clone()).await.body,
        inactive
    );
    assert_eq!(
        introspect(expiring.refresh_token.expose().to_owned())
            .await
            .body["active"],
        true
    );
    // Past the refresh token's absolute lifetime: inactive too.
    f.clock.advance(Duration::days(30));
    assert_eq!(
        introspect(expiring.refresh_token.expose().to_owned())
            .await
            .body,
        inactive
    );
}

fn b64_std(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------- TOTP, lockout (40, 42)

/// SECURITY 40: a TOTP code is accepted once; the same code again is refused.
async fn a_totp_code_is_accepted_once<S: Store + Clone>(store: S) {
    let f = fixture_on(store, |b| b).await;
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let code = key.generate(f.unix());
    let first = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    expect_complete(f.complete(&first, Factor::Totp(code.clone())).await);
    let second = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_sign_in_failed(f.complete(&second, Factor::Totp(code)).await);
    // An older step than the last accepted one is refused as well.
    assert_sign_in_failed(
        f.complete(&second, Factor::Totp(key.generate(f.unix() - 30)))
            .await,
    );
    assert_eq!(
        f.reasons(EventCode::MFA_FAILED).await,
        [
            "TOTP code replayed or older than the last accepted one",
            "TOTP code replayed or older than the last accepted one"
        ]
    );
}

/// SECURITY 40: two concurrent submissions of one code (two pending sign-ins): exactly one is
/// accepted, the other is the sign-in failure.
async fn two_concurrent_submissions_of_one_totp_code_accept_exactly_one<S: Store + Clone>(
    store: S,
) {
    let f = fixture_on(store, |b| b).await;
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let code = key.generate(f.unix());
    let a = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    let b = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    let (ra, rb) = tokio::join!(
        f.complete(&a, Factor::Totp(code.clone())),
        f.complete(&b, Factor::Totp(code.clone()))
    );
    let accepted = [&ra, &rb]
        .iter()
        .filter(|r| matches!(r, Ok(SignInStep::Complete(_))))
        .count();
    assert_eq!(accepted, 1, "{ra:?} / {rb:?}");
    let loser = if ra.is_ok() { rb } else { ra };
    match loser {
        Err(e) if retryable(&e) => {}
        other => assert_sign_in_failed(other),
    }
    assert_eq!(f.events(EventCode::SIGN_IN_SUCCEEDED).await.len(), 1);
}

/// SECURITY 42: 200 parallel wrong passwords: exactly `threshold` guesses evaluated, every
/// other one refused unchecked, one lockout.
async fn two_hundred_parallel_wrong_passwords_are_counted_exactly<S: Store + Clone>(store: S) {
    let f = Arc::new(
        fixture_on(store, |b| {
            b.signin_settings(SigninSettings {
                lockout: LockoutPolicy {
                    user_threshold: 5,
                    ip_threshold: 1000,
                    cool_down: Duration::minutes(15),
                },
                ..settings()
            })
        })
        .await,
    );
    f.active_user("janis@example.com").await;
    let barrier = Arc::new(Barrier::new(200));
    let mut tasks = JoinSet::new();
    for i in 0..200 {
        let (f, barrier) = (f.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            f.sign_in("janis@example.com", &format!("wrong password {i}"))
                .await
        });
    }
    let mut conflicts = 0;
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Err(e) if retryable(&e) => conflicts += 1,
            other => assert_sign_in_failed(other),
        }
    }
    let reasons = f.reasons(EventCode::SIGN_IN_FAILED).await;
    let wrong = reasons.iter().filter(|r| *r == "wrong password").count();
    let locked = reasons.iter().filter(|r| *r == "account locked").count();
    if conflicts == 0 {
        assert_eq!(reasons.len(), 200);
        assert_eq!(wrong, 5);
        assert_eq!(locked, 195);
    } else {
        // A conflict is answered 409 (it may come after its failure was recorded); the
        // threshold holds whatever the conflicts.
        assert!(
            wrong <= 5,
            "{wrong} guesses evaluated past a threshold of 5"
        );
        let recorded = wrong + locked;
        assert!(
            (200 - conflicts..=200).contains(&recorded),
            "{recorded} failures recorded, {conflicts} conflicts"
        );
        assert_eq!(reasons.len(), recorded);
    }
    assert!(f.events(EventCode::ACCOUNT_LOCKED).await.len() <= 1);
    if wrong == 5 {
        assert_sign_in_failed(f.sign_in("janis@example.com", PASSWORD).await);
        assert_eq!(
            f.reasons(EventCode::SIGN_IN_FAILED).await.last().unwrap(),
            "account locked"
        );
    }
}

// --------------------------------------------------------------------- e-mail codes (45, 46)

#[track_caller]
fn assert_invalid_code<T: Debug>(result: Result<T, Error>) {
    match result {
        Err(e @ Error::InvalidCode) => {
            assert_eq!(e.code(), "invalid_code");
            assert_eq!(e.http_status(), 400);
        }
        other => panic!("expected invalid_code, got {other:?}"),
    }
}

/// SECURITY 45: single use; wrong attempts limited (the right code is refused after them).
async fn an_e_mail_code_is_single_use_and_its_attempts_are_limited<S: Store + Clone>(store: S) {
    let f = fixture_on(store, |b| {
        b.signin_settings(SigninSettings {
            lockout: LockoutPolicy {
                user_threshold: 100,
                ..LockoutPolicy::default()
            },
            email_code_attempts: 3,
            ..settings()
        })
    })
    .await;
    let signin = f.identity.signin(&f.org);
    let ctx = RequestContext::new();
    f.sign_up("janis@example.com", PASSWORD).await;
    let code = f.last_code("janis@example.com");
    signin
        .confirm_email("janis@example.com", &code, &ctx)
        .await
        .unwrap();
    assert_invalid_code(signin.confirm_email("janis@example.com", &code, &ctx).await);

    f.sign_up("pearl@example.com", PASSWORD).await;
    let code = f.last_code("pearl@example.com");
    for wrong in ["000000", "111111", "222222"] {
        let wrong = if wrong == code { "333333" } else { wrong };
        assert_invalid_code(signin.confirm_email("pearl@example.com", wrong, &ctx).await);
    }
    assert_invalid_code(signin.confirm_email("pearl@example.com", &code, &ctx).await);
}

/// SECURITY 46: the address changes only once the code sent to the new one comes back.
async fn an_e_mail_change_takes_effect_only_after_the_new_address_is_verified<S: Store + Clone>(
    store: S,
) {
    let f = fixture_on(store, |b| b).await;
    let user = f.active_user("janis@example.com").await;
    let signin = f.identity.signin(&f.org);
    signin
        .request_email_change(user.id, "pearl@example.com")
        .await
        .unwrap();
    let now = f.identity.users(&f.org).retrieve(user.id).await.unwrap();
    assert_eq!(now.profile.email.as_str(), "janis@example.com");
    assert_sign_in_failed(f.sign_in("pearl@example.com", PASSWORD).await);
    let code = f.last_code("pearl@example.com");
    assert_invalid_code(
        signin
            .confirm_email_change(user.id, "other@example.com", &code, &RequestContext::new())
            .await,
    );
    let changed = signin
        .confirm_email_change(user.id, "pearl@example.com", &code, &RequestContext::new())
        .await
        .unwrap();
    assert_eq!(changed.profile.email.as_str(), "pearl@example.com");
    assert!(changed.profile.email_verified);
    expect_complete(f.sign_in("pearl@example.com", PASSWORD).await);
}

// ------------------------------------------------------------------- environments (49)

/// SECURITY 49: sandbox and production share the store, never their tokens: a sandbox access
/// token fails verification in production (and the reverse), a sandbox code or refresh token
/// is `invalid_grant` there.
async fn sandbox_tokens_codes_and_refresh_tokens_never_cross_into_production<S: Store + Clone>(
    store: S,
) {
    let sandbox = fixture_on(store.clone(), |b| b.environment(Environment::Sandbox)).await;
    let production = fixture_on(store, |b| b.environment(Environment::Production)).await;
    assert_eq!(sandbox.org, production.org, "the same name in both");
    let s_user = directory_user(&sandbox, "janis@example.com").await;
    let p_user = directory_user(&production, "janis@example.com").await;
    let s_set = token_set(&sandbox, s_user).await;
    let p_set = token_set(&production, p_user).await;
    let s_code = code(&sandbox, s_user).await;

    for (set, other) in [(&s_set, &production), (&p_set, &sandbox)] {
        let tokens = other.identity.tokens();
        let p = problem(tokens.verify(&set.access_token).await);
        assert!(
            matches!(p, TokenProblem::Issuer | TokenProblem::UnknownKey),
            "{p:?}"
        );
        assert!(tokens.verify_live(&set.access_token).await.is_err());
        assert!(
            tokens
                .verify_id_token(&set.id_token, other.client)
                .await
                .is_err()
        );
    }
    // The sandbox refresh token and code, presented to production by production's client.
    assert_invalid_grant(
        production
            .identity
            .tokens()
            .refresh(&auth(&production), s_set.refresh_token.expose(), None)
            .await,
    );
    assert_invalid_grant(
        production
            .identity
            .tokens()
            .exchange_code(&auth(&production), &s_code, REDIRECT, VERIFIER)
            .await,
    );
    // And by the sandbox client id, unknown in production.
    let r = production
        .identity
        .tokens()
        .refresh(&auth(&sandbox), s_set.refresh_token.expose(), None)
        .await;
    assert!(matches!(r, Err(Error::InvalidClient)), "{r:?}");
    // Both still work at home.
    assert_alive(&sandbox, &s_set).await;
    exchange(&sandbox, &s_code).await.unwrap();
}

// ------------------------------------------------------- 53: conflicts are retryable, never two

/// A fixture on a SQLite file whose writes give up after 100 ms behind another writer, with
/// the organization's signing key already created.
async fn locked_sqlite(
    db: &sqlite_file::TempDb,
) -> (Fx<idcore::store::sqlite::SqliteStore>, UserId) {
    let store = db
        .store_with(
            idcore::store::sqlite::SqliteOptions::default()
                .busy_timeout(std::time::Duration::from_millis(100)),
        )
        .await;
    let f = fixture_on(store, |b| b).await;
    let user = directory_user(&f, "janis@example.com").await;
    token_set(&f, user).await; // the signing key exists from here on
    (f, user)
}

/// SECURITY 53 on SQLite: a code exchange behind another process's write lock answers a
/// retryable conflict (409 `conflict`) and issues nothing; the retry redeems the code, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_code_exchange_behind_a_held_write_lock_is_retryable_and_a_retry_redeems_once() {
    let db = sqlite_file::TempDb::new("locked-exchange");
    let (f, user) = locked_sqlite(&db).await;
    let code = code(&f, user).await;
    let raw = db.raw();
    raw.execute_batch("BEGIN IMMEDIATE").unwrap();
    let r = exchange(&f, &code).await;
    raw.execute_batch("ROLLBACK").unwrap();
    match r {
        Err(e) if retryable(&e) => {}
        other => panic!("expected a retryable conflict, got {other:?}"),
    }
    let set = exchange(&f, &code).await.unwrap();
    f.identity
        .tokens()
        .verify_live(&set.access_token)
        .await
        .unwrap();
    assert_invalid_grant(exchange(&f, &code).await);
    assert_eq!(f.events(EventCode::TOKENS_ISSUED).await.len(), 2);
}

/// SECURITY 53 on SQLite: a refresh behind another process's write lock answers a retryable
/// conflict and rotates nothing; the retry rotates, and the token is then spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_refresh_behind_a_held_write_lock_is_retryable_and_a_retry_rotates_once() {
    let db = sqlite_file::TempDb::new("locked-refresh");
    let (f, user) = locked_sqlite(&db).await;
    let set = token_set(&f, user).await;
    let raw = db.raw();
    raw.execute_batch("BEGIN IMMEDIATE").unwrap();
    let r = refresh(&f, &set).await;
    raw.execute_batch("ROLLBACK").unwrap();
    match r {
        Err(e) if retryable(&e) => {}
        other => panic!("expected a retryable conflict, got {other:?}"),
    }
    let next = refresh(&f, &set).await.unwrap();
    f.identity
        .tokens()
        .verify_live(&next.access_token)
        .await
        .unwrap();
    assert_eq!(f.events(EventCode::TOKENS_REFRESHED).await.len(), 1);
    assert_invalid_grant(refresh(&f, &set).await);
}

/// SECURITY 19 on SQLite across processes: two `Identity` instances, each on its own
/// `SqliteStore` (its own connections) over one file, race 25 redemptions each of one code:
/// exactly one token set.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_processes_racing_one_code_have_exactly_one_winner() {
    let db = sqlite_file::TempDb::fresh("two-processes").await;
    let a = Arc::new(fixture_on(db.open().await, |b| b).await);
    let b = Identity::builder()
        .issuer("https://auth.example.com")
        .clock(a.clock.clone())
        .key_encryption_key(idcore::tokens::keys::EncryptionKey::from_bytes(&[7; 32]).unwrap())
        .store(db.open().await)
        .build()
        .unwrap();
    let user = directory_user(&a, "janis@example.com").await;
    let code = Arc::new(code(&a, user).await);
    let barrier = Arc::new(Barrier::new(50));
    let mut tasks = JoinSet::new();
    for i in 0..50 {
        let identity = if i % 2 == 0 {
            a.identity.clone()
        } else {
            b.clone()
        };
        let (client, code, barrier) = (a.client, code.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            identity
                .tokens()
                .exchange_code(&ClientAuth::public(client), &code, REDIRECT, VERIFIER)
                .await
        });
    }
    let (mut winners, mut refused) = (0, 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Ok(_) => winners += 1,
            Err(Error::InvalidGrant) => refused += 1,
            Err(e) if retryable(&e) => {}
            Err(e) => panic!("unexpected answer: {e:?}"),
        }
    }
    assert_eq!(winners, 1);
    assert!(refused >= 1);
    assert_eq!(a.events(EventCode::TOKENS_ISSUED).await.len(), 1);
}

// -------------------------------------------------------------------------------- PostgreSQL

/// SECURITY 53 on PostgreSQL at SERIALIZABLE isolation (as CockroachDB runs, and as a
/// deployment may configure): concurrent redemptions and refreshes meet serialization
/// failures, which must surface as retryable conflicts or be retried — never as two token sets.
#[cfg(feature = "postgres")]
mod postgres_serializable {
    use crate::pg_schema::PgSchema;

    const SERIALIZABLE: &str = "options=-c%20default_transaction_isolation%3Dserializable";

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn fifty_concurrent_redemptions_of_one_code_have_exactly_one_winner() {
        let Some(schema) = PgSchema::fresh_with("sec", SERIALIZABLE).await else {
            return;
        };
        super::fifty_concurrent_redemptions_of_one_code_have_exactly_one_winner(
            schema.open_with_pool(8),
        )
        .await;
        schema.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_refreshes_of_one_token_have_exactly_one_winner() {
        let Some(schema) = PgSchema::fresh_with("sec", SERIALIZABLE).await else {
            return;
        };
        super::concurrent_refreshes_of_one_token_have_exactly_one_winner(schema.open_with_pool(8))
            .await;
        schema.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_concurrent_submissions_of_one_totp_code_accept_exactly_one() {
        let Some(schema) = PgSchema::fresh_with("sec", SERIALIZABLE).await else {
            return;
        };
        super::two_concurrent_submissions_of_one_totp_code_accept_exactly_one(
            schema.open_with_pool(8),
        )
        .await;
        schema.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_hundred_parallel_wrong_passwords_are_counted_exactly() {
        let Some(schema) = PgSchema::fresh_with("sec", SERIALIZABLE).await else {
            return;
        };
        super::two_hundred_parallel_wrong_passwords_are_counted_exactly(schema.open_with_pool(8))
            .await;
        schema.drop_schema().await;
    }
}
