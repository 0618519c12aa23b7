//! The token service through the public API: code exchange, refresh rotation, verification,
//! revocation, global sign-out.

use idcore::audit::EventCode;
use idcore::clock::ManualClock;
use idcore::directory::{ClientId, OrgDomain, User};
use idcore::tokens::keys::EncryptionKey;
use idcore::tokens::pkce::CodeChallenge;
use idcore::tokens::{ClientAuth, CodeRequest, TokenSet};
use idcore::{
    ApplicationScope, ApplicationType, Environment, Error, Identity, MemoryStore, NewApplication,
    NewOrganization, NewUser, ProfileChanges, TokenProblem, TokenSettings,
};
use time::{Duration, macros::datetime};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "https://app.example.com/callback";

struct Fixture {
    identity: Identity<MemoryStore>,
    clock: ManualClock,
    org: OrgDomain,
    client: ClientId,
    user: User,
}

async fn fixture_with(settings: TokenSettings, store: MemoryStore) -> Fixture {
    let clock = ManualClock::new(datetime!(2026-06-01 12:00 UTC));
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .environment(Environment::Sandbox)
        .clock(clock.clone())
        .key_encryption_key(EncryptionKey::from_bytes(&[7; 32]).unwrap())
        .token_settings(settings)
        .store(store)
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
    let user = identity
        .users(&org)
        .create(
            NewUser::new("janis.joplin@example.com")
                .unwrap()
                .profile(ProfileChanges::new().given_name("Janis").unwrap()),
        )
        .await
        .unwrap();
    Fixture {
        identity,
        clock,
        org,
        client: app.application.client_id,
        user,
    }
}

async fn fixture() -> Fixture {
    fixture_with(TokenSettings::default(), MemoryStore::new()).await
}

impl Fixture {
    fn request(&self) -> CodeRequest {
        CodeRequest {
            org: self.org.clone(),
            user_id: self.user.id,
            client_id: self.client,
            redirect_uri: REDIRECT.to_owned(),
            code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
            nonce: Some("n-0S6_WzA2Mj".to_owned()),
            state: Some("af0ifjsldkj".to_owned()),
            scope: vec!["openid".to_owned(), "email".to_owned()],
            auth_time: self.clock_now(),
            amr: vec!["pwd".to_owned()],
        }
    }

    fn clock_now(&self) -> time::OffsetDateTime {
        use idcore::clock::Clock;
        self.clock.now()
    }

    fn auth(&self) -> ClientAuth {
        ClientAuth::public(self.client)
    }

    async fn code(&self) -> String {
        let code = self
            .identity
            .tokens()
            .mint_code(self.request())
            .await
            .unwrap();
        code.expose().to_owned()
    }

    async fn tokens(&self) -> TokenSet {
        let code = self.code().await;
        self.identity
            .tokens()
            .exchange_code(&self.auth(), &code, REDIRECT, VERIFIER)
            .await
            .unwrap()
    }
}

fn invalid_token(result: Result<impl std::fmt::Debug, Error>) -> TokenProblem {
    match result {
        Err(Error::InvalidToken(p)) => p,
        other => panic!("expected invalid_token, got {other:?}"),
    }
}

#[tokio::test]
async fn code_exchange_issues_tokens_that_verify() {
    let f = fixture().await;
    let set = f.tokens().await;
    let verified = f
        .identity
        .tokens()
        .verify_live(&set.access_token)
        .await
        .unwrap();
    assert!(verified.signature_verified);
    assert!(!verified.access_token_expired);
    let c = &verified.claims;
    assert_eq!(c.iss, "https://auth.example.com/t/misapret");
    assert_eq!(c.aud, "https://auth.example.com");
    assert_eq!(c.sub, f.user.id);
    assert_eq!(c.uid, f.user.id);
    assert_eq!(c.cid, f.client);
    assert_eq!(c.tnt, f.org);
    assert_eq!(c.jtt, "access");
    assert_eq!(c.dbs, Environment::Sandbox);
    assert_eq!(c.scp, vec!["openid", "email"]);
    assert_eq!(c.exp - c.iat, 3600);
    assert_eq!(set.expires_in, 3600);
    assert_eq!(set.scope, "openid email");
    assert_eq!(set.refresh_token.expose().len(), 43);
}

#[tokio::test]
async fn id_token_carries_nonce_and_hashes() {
    let f = fixture().await;
    let code = f.code().await;
    let set = f
        .identity
        .tokens()
        .exchange_code(&f.auth(), &code, REDIRECT, VERIFIER)
        .await
        .unwrap();
    let payload = set.id_token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&b64(payload)).unwrap();
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["jtt"], "openid");
    assert_eq!(claims["aud"], f.client.to_string());
    assert_eq!(claims["email"], "janis.joplin@example.com");
    assert_eq!(claims["given_name"], "Janis");
    let half = |v: &str| {
        let d = ring::digest::digest(&ring::digest::SHA256, v.as_bytes());
        b64_encode(&d.as_ref()[..16])
    };
    assert_eq!(claims["at_hash"], half(&set.access_token));
    assert_eq!(claims["c_hash"], half(&code));
    assert_eq!(claims["s_hash"], half("af0ifjsldkj"));
}

#[tokio::test]
async fn second_redemption_fails_and_revokes_the_first_tokens() {
    let f = fixture().await;
    let code = f.code().await;
    let tokens = f.identity.tokens();
    let first = tokens
        .exchange_code(&f.auth(), &code, REDIRECT, VERIFIER)
        .await
        .unwrap();
    let second = tokens
        .exchange_code(&f.auth(), &code, REDIRECT, VERIFIER)
        .await;
    assert!(matches!(second, Err(Error::InvalidGrant)), "{second:?}");
    assert_eq!(
        invalid_token(tokens.verify_live(&first.access_token).await),
        TokenProblem::Revoked
    );
    let refresh = tokens
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await;
    assert!(matches!(refresh, Err(Error::InvalidGrant)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_redemptions_have_exactly_one_winner() {
    let f = std::sync::Arc::new(fixture().await);
    let code = f.code().await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let f = f.clone();
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            f.identity
                .tokens()
                .exchange_code(&f.auth(), &code, REDIRECT, VERIFIER)
                .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(Error::InvalidGrant) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn code_bound_to_client_redirect_and_verifier() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    for (redirect, verifier) in [
        ("https://app.example.com/callback/", VERIFIER),
        (REDIRECT, "wrong-verifier-wrong-verifier-wrong-verifier-x"),
        (REDIRECT, &VERIFIER[..42]),
    ] {
        let code = f.code().await;
        let r = tokens
            .exchange_code(&f.auth(), &code, redirect, verifier)
            .await;
        assert!(
            matches!(r, Err(Error::InvalidGrant)),
            "{redirect} {verifier}: {r:?}"
        );
    }
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
        .unwrap();
    let code = f.code().await;
    let r = tokens
        .exchange_code(
            &ClientAuth::public(other.application.client_id),
            &code,
            REDIRECT,
            VERIFIER,
        )
        .await;
    assert!(matches!(r, Err(Error::InvalidGrant)));
}

#[tokio::test]
async fn code_expires_after_its_lifetime() {
    let f = fixture().await;
    let code = f.code().await;
    f.clock.advance(Duration::seconds(60));
    let r = f
        .identity
        .tokens()
        .exchange_code(&f.auth(), &code, REDIRECT, VERIFIER)
        .await;
    assert!(matches!(r, Err(Error::InvalidGrant)));
}

#[tokio::test]
async fn unregistered_redirect_uri_cannot_get_a_code() {
    let f = fixture().await;
    let mut request = f.request();
    request.redirect_uri = "https://evil.example.com/callback".to_owned();
    let r = f.identity.tokens().mint_code(request).await;
    assert!(matches!(r, Err(Error::InvalidRequest(_))), "{r:?}");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    let first = f.tokens().await;
    let second = tokens
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await
        .unwrap();
    tokens.verify_live(&second.access_token).await.unwrap();
    // The rotated token again: reuse. The whole family dies, access tokens included.
    let reuse = tokens
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await;
    assert!(matches!(reuse, Err(Error::InvalidGrant)));
    assert_eq!(
        invalid_token(tokens.verify_live(&second.access_token).await),
        TokenProblem::Revoked
    );
    assert_eq!(
        invalid_token(tokens.verify_live(&first.access_token).await),
        TokenProblem::Revoked
    );
    let after = tokens
        .refresh(&f.auth(), second.refresh_token.expose(), None)
        .await;
    assert!(matches!(after, Err(Error::InvalidGrant)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_have_exactly_one_success() {
    let f = std::sync::Arc::new(fixture().await);
    let set = f.tokens().await;
    let token = set.refresh_token.expose().to_owned();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let f = f.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            f.identity.tokens().refresh(&f.auth(), &token, None).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn within_the_reuse_interval_a_repeated_refresh_gets_the_same_successor() {
    let settings = TokenSettings {
        refresh_grace: Duration::seconds(10),
        ..TokenSettings::default()
    };
    let f = fixture_with(settings, MemoryStore::new()).await;
    let tokens = f.identity.tokens();
    let first = f.tokens().await;
    let original = tokens
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await
        .unwrap();
    f.clock.advance(Duration::seconds(5));
    let repeated = tokens
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await
        .unwrap();
    // The same pair: one refresh token, access and ID tokens with the same claims.
    assert_eq!(repeated.refresh_token, original.refresh_token);
    let (a, b) = (
        tokens
            .verify_live(&original.access_token)
            .await
            .unwrap()
            .claims,
        tokens
            .verify_live(&repeated.access_token)
            .await
            .unwrap()
            .claims,
    );
    assert_eq!((a.jti, a.iat, a.exp, a.gid), (b.jti, b.iat, b.exp, b.gid));
    assert_eq!(a.iat, datetime!(2026-06-01 12:00 UTC).unix_timestamp());
    let (a, b) = (
        tokens
            .verify_id_token(&original.id_token, f.client)
            .await
            .unwrap(),
        tokens
            .verify_id_token(&repeated.id_token, f.client)
            .await
            .unwrap(),
    );
    assert_eq!((a.jti, a.iat, a.exp), (b.jti, b.iat, b.exp));
    assert_eq!(repeated.expires_in, original.expires_in);
    assert_eq!(events(&f, EventCode::TOKENS_REFRESHED).await.len(), 1);
    assert_eq!(
        events(&f, EventCode::TOKENS_REFRESH_REPEATED).await.len(),
        1
    );
    // The successor is the family's one current token and rotates as usual.
    let next = tokens
        .refresh(&f.auth(), repeated.refresh_token.expose(), None)
        .await
        .unwrap();
    assert_ne!(next.refresh_token, original.refresh_token);
    // Its predecessor's successor is no longer current: presenting the first token again,
    // still within its interval, is reuse and the family dies.
    let r = tokens
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await;
    assert!(matches!(r, Err(Error::InvalidGrant)), "{r:?}");
    assert_eq!(
        invalid_token(tokens.verify_live(&next.access_token).await),
        TokenProblem::Revoked
    );
    assert_eq!(events(&f, EventCode::TOKEN_REUSE_DETECTED).await.len(), 1);
}

#[tokio::test]
async fn a_repetition_gets_the_scope_the_first_rotation_granted() {
    let settings = TokenSettings {
        refresh_grace: Duration::seconds(10),
        ..TokenSettings::default()
    };
    let f = fixture_with(settings, MemoryStore::new()).await;
    let tokens = f.identity.tokens();
    let first = f.tokens().await;
    let narrower = vec!["openid".to_owned()];
    let original = tokens
        .refresh(&f.auth(), first.refresh_token.expose(), Some(&narrower))
        .await
        .unwrap();
    let repeated = tokens
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await
        .unwrap();
    assert_eq!(original.scope, "openid");
    assert_eq!(repeated.scope, "openid");
    assert_eq!(repeated.refresh_token, original.refresh_token);
}

#[tokio::test]
async fn without_a_reuse_interval_a_repeated_refresh_is_reuse() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    let first = f.tokens().await;
    let second = tokens
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await
        .unwrap();
    let r = tokens
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await;
    assert!(matches!(r, Err(Error::InvalidGrant)), "{r:?}");
    assert_eq!(
        invalid_token(tokens.verify_live(&second.access_token).await),
        TokenProblem::Revoked
    );
    assert!(
        events(&f, EventCode::TOKENS_REFRESH_REPEATED)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn after_the_grace_window_the_rotated_token_is_reuse() {
    let settings = TokenSettings {
        refresh_grace: Duration::seconds(10),
        ..TokenSettings::default()
    };
    let f = fixture_with(settings, MemoryStore::new()).await;
    let tokens = f.identity.tokens();
    let first = f.tokens().await;
    let second = tokens
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await
        .unwrap();
    f.clock.advance(Duration::seconds(11));
    let r = tokens
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await;
    assert!(matches!(r, Err(Error::InvalidGrant)));
    let r = tokens
        .refresh(&f.auth(), second.refresh_token.expose(), None)
        .await;
    assert!(matches!(r, Err(Error::InvalidGrant)));
}

#[tokio::test]
async fn refresh_by_another_client_or_with_broader_scope_is_refused() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    let set = f.tokens().await;
    let other =
        ClientAuth::public(ClientId::parse("01a21064-d1f4-726a-a889-e59c1fe2ca62").unwrap());
    let r = tokens
        .refresh(&other, set.refresh_token.expose(), None)
        .await;
    assert!(matches!(r, Err(Error::InvalidClient)), "{r:?}");
    let broader = vec!["openid".to_owned(), "admin".to_owned()];
    let r = tokens
        .refresh(&f.auth(), set.refresh_token.expose(), Some(&broader))
        .await;
    assert!(matches!(r, Err(Error::InvalidScope)), "{r:?}");
    // Neither attempt consumed the token.
    let narrower = vec!["openid".to_owned()];
    let ok = tokens
        .refresh(&f.auth(), set.refresh_token.expose(), Some(&narrower))
        .await
        .unwrap();
    assert_eq!(ok.scope, "openid");
}

#[tokio::test]
async fn refresh_lifetime_is_absolute() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    let mut set = f.tokens().await;
    for _ in 0..29 {
        f.clock.advance(Duration::days(1));
        set = tokens
            .refresh(&f.auth(), set.refresh_token.expose(), None)
            .await
            .unwrap();
    }
    f.clock.advance(Duration::days(1));
    let r = tokens
        .refresh(&f.auth(), set.refresh_token.expose(), None)
        .await;
    assert!(matches!(r, Err(Error::InvalidGrant)));
}

#[tokio::test]
async fn global_sign_out_kills_every_earlier_token() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    let a = f.tokens().await;
    let b = f.tokens().await;
    for set in [&a, &b] {
        tokens
            .verify_id_token_live(&set.id_token, f.client)
            .await
            .unwrap();
    }
    tokens.global_sign_out(&f.org, f.user.id).await.unwrap();
    for set in [&a, &b] {
        assert_eq!(
            invalid_token(tokens.verify_live(&set.access_token).await),
            TokenProblem::Revoked
        );
        assert_eq!(
            invalid_token(tokens.verify_id_token_live(&set.id_token, f.client).await),
            TokenProblem::Revoked
        );
        let r = tokens
            .refresh(&f.auth(), set.refresh_token.expose(), None)
            .await;
        assert!(matches!(r, Err(Error::InvalidGrant)));
        // Stateless verification does not know about revocations.
        tokens.verify(&set.access_token).await.unwrap();
    }
    // A later sign-in works again.
    f.clock.advance(Duration::seconds(2));
    let c = f.tokens().await;
    tokens.verify_live(&c.access_token).await.unwrap();
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_its_access_tokens() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    let set = f.tokens().await;
    let other = f.tokens().await;
    tokens
        .revoke_refresh_token(&f.auth(), set.refresh_token.expose())
        .await
        .unwrap();
    assert_eq!(
        invalid_token(tokens.verify_live(&set.access_token).await),
        TokenProblem::Revoked
    );
    tokens.verify_live(&other.access_token).await.unwrap();
    // Unknown tokens: success.
    tokens
        .revoke_refresh_token(&f.auth(), "no-such-token")
        .await
        .unwrap();
}

#[tokio::test]
async fn expired_tokens_fail_verify_but_report_expiry() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    let set = f.tokens().await;
    f.clock.advance(Duration::seconds(3600 + 29));
    tokens.verify(&set.access_token).await.unwrap();
    f.clock.advance(Duration::seconds(1));
    assert_eq!(
        invalid_token(tokens.verify(&set.access_token).await),
        TokenProblem::Expired
    );
    let report = tokens.verify_report(&set.access_token).await.unwrap();
    assert!(report.signature_verified && report.access_token_expired);
}

#[tokio::test]
async fn an_id_token_is_not_an_access_token() {
    let f = fixture().await;
    let set = f.tokens().await;
    assert_eq!(
        invalid_token(f.identity.tokens().verify(&set.id_token).await),
        TokenProblem::Type
    );
    let r = f.identity.tokens().verify(set.refresh_token.expose()).await;
    assert_eq!(invalid_token(r), TokenProblem::Malformed);
}

#[tokio::test]
async fn sandbox_tokens_are_refused_by_production() {
    let store = MemoryStore::new();
    let f = fixture_with(TokenSettings::default(), store.clone()).await;
    let set = f.tokens().await;
    let production = Identity::builder()
        .issuer("https://auth.example.com")
        .environment(Environment::Production)
        .key_encryption_key(EncryptionKey::from_bytes(&[7; 32]).unwrap())
        .store(store)
        .build()
        .unwrap();
    let r = production.tokens().verify(&set.access_token).await;
    assert!(matches!(r, Err(Error::InvalidToken(_))), "{r:?}");
}

#[tokio::test]
async fn rotated_keys_verify_until_their_overlap_ends() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    let old = f.tokens().await;
    tokens.rotate_keys(&f.org).await.unwrap();
    let new = f.tokens().await;
    tokens.verify(&old.access_token).await.unwrap();
    tokens.verify(&new.access_token).await.unwrap();
    let jwks = tokens.jwks(&f.org).await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    f.clock.advance(Duration::days(2));
    let r = tokens.verify_report(&old.access_token).await;
    assert_eq!(invalid_token(r), TokenProblem::UnknownKey);
    tokens.verify_report(&new.access_token).await.unwrap();
}

#[tokio::test]
async fn userinfo_reads_the_current_profile() {
    let f = fixture().await;
    let set = f.tokens().await;
    f.identity
        .users(&f.org)
        .update(f.user.id, ProfileChanges::new().nickname("Jany").unwrap())
        .await
        .unwrap();
    let info = f
        .identity
        .tokens()
        .userinfo(&set.access_token)
        .await
        .unwrap();
    assert_eq!(info.sub, f.user.id);
    assert_eq!(info.username, "janis.joplin@example.com");
    assert_eq!(info.profile.nickname.as_deref(), Some("Jany"));
    assert_eq!(
        info.profile.email.as_deref(),
        Some("janis.joplin@example.com")
    );
}

#[tokio::test]
async fn missing_key_encryption_key_is_a_clear_error() {
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .store(MemoryStore::new())
        .build()
        .unwrap();
    let org = OrgDomain::parse("misapret").unwrap();
    let r = identity.tokens().jwks(&org).await;
    assert!(matches!(r, Err(Error::Keys(_))), "{r:?}");
}

fn second_instance(f: &Fixture, store: MemoryStore) -> Identity<MemoryStore> {
    Identity::builder()
        .issuer("https://auth.example.com")
        .environment(Environment::Sandbox)
        .clock(f.clock.clone())
        .key_encryption_key(EncryptionKey::from_bytes(&[7; 32]).unwrap())
        .store(store)
        .build()
        .unwrap()
}

#[tokio::test]
async fn another_instance_sees_a_revocation_within_the_poll_interval() {
    let store = MemoryStore::new();
    let f = fixture_with(TokenSettings::default(), store.clone()).await;
    let b = second_instance(&f, store);
    let set = f.tokens().await;
    b.tokens().verify_live(&set.access_token).await.unwrap();
    f.identity
        .tokens()
        .global_sign_out(&f.org, f.user.id)
        .await
        .unwrap();
    // Instance A knows at once; instance B's view is at most one poll interval (500 ms) stale.
    let a = f.identity.tokens().verify_live(&set.access_token).await;
    assert_eq!(invalid_token(a), TokenProblem::Revoked);
    b.tokens().verify_live(&set.access_token).await.unwrap();
    f.clock.advance(Duration::seconds(1));
    assert_eq!(
        invalid_token(b.tokens().verify_live(&set.access_token).await),
        TokenProblem::Revoked
    );
}

#[tokio::test]
async fn reuse_detection_holds_across_instances() {
    let store = MemoryStore::new();
    let f = fixture_with(TokenSettings::default(), store.clone()).await;
    let b = second_instance(&f, store);
    let first = f.tokens().await;
    let second = b
        .tokens()
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await
        .unwrap();
    let replay = f
        .identity
        .tokens()
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await;
    assert!(matches!(replay, Err(Error::InvalidGrant)));
    f.clock.advance(Duration::seconds(1));
    assert_eq!(
        invalid_token(b.tokens().verify_live(&second.access_token).await),
        TokenProblem::Revoked
    );
    let r = b
        .tokens()
        .refresh(&f.auth(), second.refresh_token.expose(), None)
        .await;
    assert!(matches!(r, Err(Error::InvalidGrant)));
}

#[tokio::test]
async fn validity_periods_per_application_are_bounded_and_used() {
    use idcore::directory::TokenValidity;
    let f = fixture().await;
    let apps = f
        .identity
        .applications(ApplicationScope::Organization(f.org.clone()));
    let cases = [
        (
            TokenValidity {
                access_token: Some(Duration::minutes(4)),
                ..Default::default()
            },
            "access_token_validity",
        ),
        (
            TokenValidity {
                access_token: Some(Duration::days(1) + Duration::seconds(1)),
                ..Default::default()
            },
            "access_token_validity",
        ),
        (
            TokenValidity {
                id_token: Some(Duration::seconds(299)),
                ..Default::default()
            },
            "id_token_validity",
        ),
        (
            TokenValidity {
                refresh_token: Some(Duration::minutes(59)),
                ..Default::default()
            },
            "refresh_token_validity",
        ),
        (
            TokenValidity {
                refresh_token: Some(Duration::days(3654)),
                ..Default::default()
            },
            "refresh_token_validity",
        ),
    ];
    for (validity, field) in cases {
        match apps.set_token_validity(f.client, validity).await {
            Err(Error::InvalidField { field: named, .. }) => assert_eq!(named, field),
            other => panic!("{validity:?}: {other:?}"),
        }
    }
    let validity = TokenValidity {
        access_token: Some(Duration::minutes(5)),
        id_token: Some(Duration::days(1)),
        refresh_token: Some(Duration::hours(1)),
    };
    let app = apps.set_token_validity(f.client, validity).await.unwrap();
    assert_eq!(app.token_validity, validity);
    let set = f.tokens().await;
    assert_eq!(set.expires_in, 300);
    let v = f.identity.tokens().verify(&set.access_token).await.unwrap();
    assert_eq!(v.claims.exp - v.claims.iat, 300);
    let id: serde_json::Value =
        serde_json::from_slice(&b64(set.id_token.split('.').nth(1).unwrap())).unwrap();
    assert_eq!(
        id["exp"].as_i64().unwrap() - id["iat"].as_i64().unwrap(),
        86_400
    );
    // The refresh family ends one hour after the grant, whatever the rotations.
    f.clock.advance(Duration::minutes(59));
    let next = f
        .identity
        .tokens()
        .refresh(&f.auth(), set.refresh_token.expose(), None)
        .await
        .unwrap();
    f.clock.advance(Duration::minutes(1));
    let r = f
        .identity
        .tokens()
        .refresh(&f.auth(), next.refresh_token.expose(), None)
        .await;
    assert!(matches!(r, Err(Error::InvalidGrant)), "{r:?}");
}

#[tokio::test]
async fn revoking_another_clients_token_is_refused_and_it_stays_active() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    let set = f.tokens().await;
    let other = f
        .identity
        .applications(ApplicationScope::Organization(f.org.clone()))
        .create(NewApplication::new("Other", ApplicationType::Vue).unwrap())
        .await
        .unwrap();
    let r = tokens
        .revoke_refresh_token(
            &ClientAuth::public(other.application.client_id),
            set.refresh_token.expose(),
        )
        .await;
    assert!(matches!(r, Err(Error::InvalidClient)), "{r:?}");
    tokens.verify_live(&set.access_token).await.unwrap();
    tokens
        .refresh(&f.auth(), set.refresh_token.expose(), None)
        .await
        .unwrap();
}

/// SECURITY 55: reaching for another client's code, grant or tokens is refused as before, and
/// each attempt is one `CROSS_TENANT_DENIED` event naming the caller, the token's client and
/// organization, and the action; the owner's tokens are untouched.
#[tokio::test]
async fn reaching_for_another_clients_tokens_is_refused_and_audited() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    let other = f
        .identity
        .applications(ApplicationScope::Organization(f.org.clone()))
        .create(NewApplication::new("Other", ApplicationType::Vue).unwrap())
        .await
        .unwrap()
        .application
        .client_id;
    let thief = ClientAuth::public(other);
    let code = f.code().await;
    let r = tokens
        .exchange_code(&thief, &code, REDIRECT, VERIFIER)
        .await;
    assert!(matches!(r, Err(Error::InvalidGrant)), "{r:?}");
    let set = tokens
        .exchange_code(&f.auth(), &code, REDIRECT, VERIFIER)
        .await
        .unwrap();
    let r = tokens
        .refresh(&thief, set.refresh_token.expose(), None)
        .await;
    assert!(matches!(r, Err(Error::InvalidGrant)), "{r:?}");
    let r = tokens
        .revoke_refresh_token(&thief, set.refresh_token.expose())
        .await;
    assert!(matches!(r, Err(Error::InvalidClient)), "{r:?}");
    let r = tokens.revoke_access_token(&thief, &set.access_token).await;
    assert!(matches!(r, Err(Error::InvalidClient)), "{r:?}");
    let denied = events(&f, EventCode::CROSS_TENANT_DENIED).await;
    let actions: Vec<_> = denied
        .iter()
        .rev() // newest first
        .map(|e| e.details["action"].as_str())
        .collect();
    assert_eq!(actions, ["exchange_code", "refresh", "revoke", "revoke"]);
    for e in &denied {
        assert_eq!(e.client_id, Some(other));
        assert_eq!(e.details["token_client_id"], f.client.to_string());
        assert_eq!(e.tenant_domain.as_ref(), Some(&f.org));
    }
    // The owner's grant is untouched.
    tokens.verify_live(&set.access_token).await.unwrap();
    tokens
        .refresh(&f.auth(), set.refresh_token.expose(), None)
        .await
        .unwrap();
}

fn b64(s: &str) -> Vec<u8> {
    idcore::tokens::jws::base64url_decode(s).expect("base64url")
}

fn b64_encode(bytes: &[u8]) -> String {
    idcore::tokens::jws::base64url_encode(bytes)
}

#[tokio::test]
async fn token_events_are_recorded_with_their_reason() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    let first = f.tokens().await;
    tokens
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await
        .unwrap();
    let _ = tokens
        .refresh(&f.auth(), first.refresh_token.expose(), None)
        .await;
    let other = f.tokens().await;
    tokens
        .revoke_refresh_token(&f.auth(), other.refresh_token.expose())
        .await
        .unwrap();
    tokens.global_sign_out(&f.org, f.user.id).await.unwrap();
    assert_eq!(events(&f, EventCode::TOKENS_ISSUED).await.len(), 2);
    assert_eq!(events(&f, EventCode::TOKENS_REFRESHED).await.len(), 1);
    let reuse = events(&f, EventCode::TOKEN_REUSE_DETECTED).await;
    assert_eq!(reuse.len(), 1);
    assert_eq!(reuse[0].details["reason"], "refresh token reused");
    let revoked = events(&f, EventCode::TOKEN_REVOKED).await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].details["reason"], "revoked by its client");
    let sign_out = events(&f, EventCode::GLOBAL_SIGN_OUT).await;
    assert_eq!(sign_out.len(), 1);
    assert_eq!(sign_out[0].resource_owner_id, Some(f.user.id));
}

async fn events(f: &Fixture, code: idcore::audit::EventCode) -> Vec<idcore::audit::Event> {
    let query = idcore::audit::EventQuery::tenant(&f.org).code(code);
    f.identity
        .events()
        .list(&query, idcore::PageRequest::default())
        .await
        .unwrap()
        .data
}

#[tokio::test]
async fn id_tokens_verify_for_their_client_only() {
    let f = fixture().await;
    let set = f.tokens().await;
    let tokens = f.identity.tokens();
    let claims = tokens
        .verify_id_token(&set.id_token, f.client)
        .await
        .unwrap();
    assert_eq!(claims.sub, f.user.id);
    assert_eq!(claims.aud, f.client);
    assert_eq!(claims.jtt, "openid");
    assert_eq!(claims.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
    assert_eq!(claims.profile.given_name.as_deref(), Some("Janis"));
    let other = ClientId::from_uuid(uuid::Uuid::now_v7());
    assert_eq!(
        invalid_token(tokens.verify_id_token(&set.id_token, other).await),
        TokenProblem::Audience
    );
    // An access token is not an ID token, and the other way round.
    assert_eq!(
        invalid_token(tokens.verify_id_token(&set.access_token, f.client).await),
        TokenProblem::Type
    );
    // Expiry: one hour plus the 30 s leeway.
    f.clock.advance(Duration::seconds(3600 + 30));
    assert_eq!(
        invalid_token(tokens.verify_id_token(&set.id_token, f.client).await),
        TokenProblem::Expired
    );
}

#[tokio::test]
async fn a_revoked_grant_kills_its_id_tokens() {
    let f = fixture().await;
    let set = f.tokens().await;
    let tokens = f.identity.tokens();
    tokens
        .revoke_refresh_token(&f.auth(), set.refresh_token.expose())
        .await
        .unwrap();
    assert_eq!(
        invalid_token(tokens.verify_id_token_live(&set.id_token, f.client).await),
        TokenProblem::Revoked
    );
}

#[tokio::test]
async fn a_code_minted_before_a_global_sign_out_cannot_be_redeemed() {
    let f = fixture().await;
    let code = f.code().await;
    f.clock.advance(Duration::seconds(1));
    f.identity
        .tokens()
        .global_sign_out(&f.org, f.user.id)
        .await
        .unwrap();
    f.clock.advance(Duration::seconds(2));
    let exchange = f
        .identity
        .tokens()
        .exchange_code(&f.auth(), &code, REDIRECT, VERIFIER)
        .await;
    assert!(matches!(exchange, Err(Error::InvalidGrant)), "{exchange:?}");
    // A sign-in after the sign-out gets a code that works.
    let set = f.tokens().await;
    f.identity
        .tokens()
        .verify_live(&set.access_token)
        .await
        .unwrap();
}

#[tokio::test]
async fn deleting_an_organization_revokes_its_tokens_and_no_others() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    let set = f.tokens().await;
    // Another organization, with its own application, user and tokens.
    let other = f
        .identity
        .organizations()
        .create(NewOrganization::new("Other").unwrap())
        .await
        .unwrap()
        .domain;
    let other_app = f
        .identity
        .applications(ApplicationScope::Organization(other.clone()))
        .create(
            NewApplication::new("Other app", ApplicationType::React)
                .unwrap()
                .with(|a| a.allowed_redirect_urls(&[REDIRECT]))
                .unwrap(),
        )
        .await
        .unwrap()
        .application
        .client_id;
    let other_user = f
        .identity
        .users(&other)
        .create(NewUser::new("other@example.com").unwrap())
        .await
        .unwrap();
    let code = tokens
        .mint_code(CodeRequest {
            org: other.clone(),
            user_id: other_user.id,
            client_id: other_app,
            ..f.request()
        })
        .await
        .unwrap();
    let kept = tokens
        .exchange_code(
            &ClientAuth::public(other_app),
            code.expose(),
            REDIRECT,
            VERIFIER,
        )
        .await
        .unwrap();

    f.identity.organizations().delete(&f.org).await.unwrap();
    assert_eq!(
        invalid_token(tokens.verify_live(&set.access_token).await),
        TokenProblem::Revoked
    );
    assert_eq!(
        invalid_token(tokens.verify_id_token_live(&set.id_token, f.client).await),
        TokenProblem::Revoked
    );
    let r = tokens
        .refresh(&f.auth(), set.refresh_token.expose(), None)
        .await;
    assert!(matches!(r, Err(Error::InvalidGrant)), "{r:?}");
    assert!(tokens.userinfo(&set.access_token).await.is_err());
    // Stateless verification does not know about revocations.
    tokens.verify(&set.access_token).await.unwrap();
    // The other organization's tokens live on.
    tokens.verify_live(&kept.access_token).await.unwrap();
    tokens
        .verify_id_token_live(&kept.id_token, other_app)
        .await
        .unwrap();
    tokens
        .refresh(
            &ClientAuth::public(other_app),
            kept.refresh_token.expose(),
            None,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn deleting_an_application_revokes_its_tokens() {
    let f = fixture().await;
    let tokens = f.identity.tokens();
    let set = f.tokens().await;
    tokens.verify_live(&set.access_token).await.unwrap();
    f.identity
        .applications(ApplicationScope::Organization(f.org.clone()))
        .delete(f.client)
        .await
        .unwrap();
    assert_eq!(
        invalid_token(tokens.verify_live(&set.access_token).await),
        TokenProblem::Revoked
    );
    assert_eq!(
        invalid_token(tokens.verify_id_token_live(&set.id_token, f.client).await),
        TokenProblem::Revoked
    );
    let r = tokens
        .refresh(&f.auth(), set.refresh_token.expose(), None)
        .await;
    assert!(matches!(r, Err(Error::InvalidClient)), "{r:?}");
}
