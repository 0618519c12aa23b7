//! Crowd-style SSO sessions through the public API, on the `MemoryStore`: authentication
//! through the sign-in path, validation factors (SECURITY 34), idle and absolute expiry
//! (SECURITY 35), reuse (SECURITY 36), tokens (SECURITY 37), ending sessions (SECURITY 30),
//! single sign-on into another application, the per-user limit, trusted applications, and the
//! audit events. `tests/sessions_stores.rs` runs the concurrency scenarios on every store.

mod support;

use std::collections::BTreeSet;

use idcore::audit::EventCode;
use idcore::risk::{RequestContext, RiskDecision};
use idcore::sessions::{
    Authenticate, FactorMatch, FactorPolicy, Session, SessionLimit, SessionSettings, SessionStep,
    ValidationFactor, ValidationFactors, WhenFull,
};
use idcore::signin::password::Password;
use idcore::signin::{Factor, FactorKind, UnregisterOutcome, UnregisterRequest};
use idcore::store::SessionStore;
use idcore::tokens::ClientAuth;
use idcore::{
    ApplicationScope, ApplicationType, Environment, Error, NewApplication, NewOrganization,
    Resource,
};
use support::*;
use time::Duration;

const ADDRESS: &str = "203.0.113.7";

fn factors(list: &[(&str, &str)]) -> ValidationFactors {
    ValidationFactors::parse(
        list.iter()
            .map(|(n, v)| ValidationFactor {
                name: (*n).to_owned(),
                value: (*v).to_owned(),
            })
            .collect(),
    )
    .expect("valid factors")
}

fn device(address: &str) -> ValidationFactors {
    factors(&[("remote_address", address), ("User-Agent", "Firefox/133")])
}

fn request(login: &str, password: &str, bound: ValidationFactors) -> Authenticate {
    Authenticate {
        login: login.to_owned(),
        password: Password::new(password),
        factors: bound,
        duration: None,
        context: RequestContext::new(),
    }
}

fn opened(step: Result<SessionStep, Error>) -> Session {
    match step {
        Ok(SessionStep::Opened(s)) => *s,
        other => panic!("expected an open session, got {other:?}"),
    }
}

async fn open<S: idcore::store::Store>(
    f: &Fx<S>,
    login: &str,
    bound: ValidationFactors,
) -> Session {
    opened(
        f.identity
            .sessions(&f.org)
            .authenticate(request(login, PASSWORD, bound))
            .await,
    )
}

#[track_caller]
fn assert_invalid_session<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(e @ Error::InvalidSession) => {
            assert_eq!(e.code(), "invalid_session");
            assert_eq!(e.http_status(), 404);
        }
        other => panic!("expected invalid_session, got {other:?}"),
    }
}

fn with_sessions(
    settings: SessionSettings,
) -> impl FnOnce(idcore::IdentityBuilder<idcore::NoStore>) -> idcore::IdentityBuilder<idcore::NoStore>
{
    move |b| b.session_settings(settings)
}

/// Another instance on the same store, clock and key, with other session settings.
fn reconfigured(f: &Fx, settings: SessionSettings) -> Fx {
    Fx {
        identity: idcore::Identity::builder()
            .issuer("https://auth.example.com")
            .clock(f.clock.clone())
            .mailer(f.outbox.clone())
            .key_encryption_key(idcore::tokens::keys::EncryptionKey::from_bytes(&[7; 32]).unwrap())
            .signin_settings(support::settings())
            .session_settings(settings)
            .store(f.store.clone())
            .build()
            .unwrap(),
        store: f.store.clone(),
        clock: f.clock.clone(),
        outbox: f.outbox.clone(),
        org: f.org.clone(),
        client: f.client,
    }
}

#[tokio::test]
async fn a_session_opens_with_the_password_and_validates_with_its_factors() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let s = open(&f, "janis@example.com", device(ADDRESS)).await;
    assert_eq!(s.user.id, user.id);
    assert_eq!(s.token.expose().len(), 43, "256 bits, base64url");
    assert!(!s.reused);
    assert_eq!(s.amr, ["pwd"]);
    assert_eq!(s.created_at, START);
    assert_eq!(
        s.expires_at,
        START + Duration::minutes(30),
        "the default timeout"
    );
    assert_eq!(s.absolute_expires_at, START + Duration::hours(10));
    assert_eq!(s.factors, device(ADDRESS));

    f.clock.advance(Duration::minutes(5));
    let sessions = f.identity.sessions(&f.org);
    let v = sessions
        .validate(s.token.expose(), &device(ADDRESS))
        .await
        .unwrap();
    assert_eq!((v.id, v.user.id), (s.id, user.id));
    assert_eq!(v.expires_at, f.now() + Duration::minutes(30), "slid");

    let created = f.events(EventCode::SESSION_CREATED).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].details["session_id"], s.id.to_string());
    assert_eq!(created[0].details["how"], "password");
    assert_eq!(created[0].details["factors"], "User-Agent,remote_address");
    assert_eq!(created[0].resource_owner_id, Some(user.id));
    let signed_in = f.events(EventCode::SIGN_IN_SUCCEEDED).await;
    assert_eq!(signed_in.len(), 1);
    assert_eq!(signed_in[0].details["flow"], "session");
}

/// SECURITY 34.
#[tokio::test]
async fn other_factors_are_refused_and_audited() {
    let f = fixture().await;
    f.active_user("janis@example.com").await;
    let s = open(&f, "janis@example.com", device(ADDRESS)).await;
    let sessions = f.identity.sessions(&f.org);
    let token = s.token.expose();

    assert_invalid_session(sessions.validate(token, &device("203.0.113.8")).await);
    assert_invalid_session(sessions.get(token, &device("203.0.113.8")).await);
    assert_invalid_session(
        sessions
            .validate(token, &factors(&[("remote_address", ADDRESS)]))
            .await,
    );
    assert_invalid_session(
        sessions
            .validate(
                token,
                &factors(&[("remote_address", ADDRESS), ("User-Agent", "curl/8")]),
            )
            .await,
    );
    // Presented factors that were not bound are ignored.
    let extra = factors(&[
        ("remote_address", ADDRESS),
        ("User-Agent", "Firefox/133"),
        ("X-Forwarded-For", "198.51.100.1"),
    ]);
    assert!(sessions.validate(token, &extra).await.is_ok());

    let mismatches = f.events(EventCode::SESSION_FACTORS_MISMATCH).await;
    let seen: Vec<(&str, &str)> = mismatches
        .iter()
        .map(|e| (e.details["reason"].as_str(), e.details["factor"].as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("factor different", "remote_address"),
            ("factor different", "remote_address"),
            ("factor missing", "User-Agent"),
            ("factor different", "User-Agent"),
        ]
    );
    assert!(
        mismatches
            .iter()
            .all(|e| e.details["session_id"] == s.id.to_string())
    );
}

#[tokio::test]
async fn an_ipv6_address_matches_by_its_64_prefix_and_ipv4_exactly() {
    let f = fixture().await;
    f.active_user("janis@example.com").await;
    let s = open(
        &f,
        "janis@example.com",
        factors(&[("remote_address", "2001:db8:1:2::1")]),
    )
    .await;
    let sessions = f.identity.sessions(&f.org);
    let token = s.token.expose();
    let at = |a: &str| factors(&[("remote_address", a)]);
    assert!(
        sessions
            .validate(token, &at("2001:db8:1:2:ffff::9"))
            .await
            .is_ok()
    );
    assert_invalid_session(sessions.validate(token, &at("2001:db8:1:3::1")).await);
    assert_invalid_session(sessions.validate(token, &at("not an address")).await);

    let v4 = open(&f, "janis@example.com", at("192.0.2.10")).await;
    assert!(
        sessions
            .validate(v4.token.expose(), &at("192.0.2.10"))
            .await
            .is_ok()
    );
    assert!(
        sessions
            .validate(v4.token.expose(), &at("::ffff:192.0.2.10"))
            .await
            .is_ok(),
        "an IPv4-mapped address is that IPv4 address"
    );
    assert_invalid_session(
        sessions
            .validate(v4.token.expose(), &at("192.0.2.11"))
            .await,
    );
}

#[tokio::test]
async fn an_application_policy_decides_which_factors_must_match() {
    let f = fixture().await;
    f.active_user("janis@example.com").await;
    let mut settings = SessionSettings::default();
    settings.application_policies.insert(
        f.client,
        FactorPolicy {
            required: Some(vec!["remote_address".to_owned()]),
            rules: [(
                "remote_address".to_owned(),
                FactorMatch::IpPrefix { v4: 24, v6: 48 },
            )]
            .into(),
        },
    );
    let g = reconfigured(&f, settings);
    let app = g.identity.sessions(&g.org).application(g.client);
    let s = opened(
        app.authenticate(request("janis@example.com", PASSWORD, device("192.0.2.10")))
            .await,
    );
    // For this application only the address is checked, by /24.
    let other_agent = factors(&[("remote_address", "192.0.2.99"), ("User-Agent", "curl/8")]);
    assert!(app.validate(s.token.expose(), &other_agent).await.is_ok());
    assert_invalid_session(
        app.validate(
            s.token.expose(),
            &factors(&[("remote_address", "192.0.3.10")]),
        )
        .await,
    );
    // Without the application, the default policy checks every bound factor.
    assert_invalid_session(
        g.identity
            .sessions(&g.org)
            .validate(s.token.expose(), &other_agent)
            .await,
    );
    // An application of another organization is refused at authentication.
    let other_org = g
        .identity
        .organizations()
        .create(NewOrganization::new("Elsewhere").unwrap())
        .await
        .unwrap()
        .domain;
    assert!(matches!(
        g.identity
            .sessions(&other_org)
            .application(g.client)
            .authenticate(request("janis@example.com", PASSWORD, device(ADDRESS)))
            .await,
        Err(Error::InvalidClient)
    ));
}

/// SECURITY 35.
#[tokio::test]
async fn the_idle_expiry_slides_and_the_absolute_one_never_moves() {
    let settings = SessionSettings {
        touch_interval: Duration::ZERO,
        ..SessionSettings::default()
    };
    let f = fixture_with(with_sessions(settings)).await;
    f.active_user("janis@example.com").await;
    let s = open(&f, "janis@example.com", device(ADDRESS)).await;
    let sessions = f.identity.sessions(&f.org);
    let token = s.token.expose();
    // Validated every 20 minutes, it lives until its absolute expiry, and not a second more.
    for _ in 0..29 {
        f.clock.advance(Duration::minutes(20));
        let v = sessions.validate(token, &device(ADDRESS)).await.unwrap();
        assert_eq!(v.absolute_expires_at, START + Duration::hours(10));
        assert_eq!(
            v.expires_at,
            (f.now() + Duration::minutes(30)).min(START + Duration::hours(10))
        );
    }
    f.clock.advance(Duration::minutes(20)); // 10 h exactly
    assert_invalid_session(sessions.validate(token, &device(ADDRESS)).await);

    // Not validated, it ends after its timeout.
    let t = open(&f, "janis@example.com", device("198.51.100.4")).await;
    f.clock.advance(Duration::minutes(29));
    assert!(
        sessions
            .get(t.token.expose(), &device("198.51.100.4"))
            .await
            .is_ok()
    );
    f.clock.advance(Duration::minutes(1));
    assert_invalid_session(
        sessions
            .get(t.token.expose(), &device("198.51.100.4"))
            .await,
    );
}

/// SECURITY 35: a requested duration above the default timeout is capped.
#[tokio::test]
async fn the_requested_duration_is_capped_by_the_default_timeout() {
    let f = fixture().await;
    f.active_user("janis@example.com").await;
    let sessions = f.identity.sessions(&f.org);
    let with = |d: Option<Duration>, address: &str| Authenticate {
        duration: d,
        ..request("janis@example.com", PASSWORD, device(address))
    };
    let long = opened(
        sessions
            .authenticate(with(Some(Duration::hours(2)), "192.0.2.1"))
            .await,
    );
    assert_eq!(long.expires_at, START + Duration::minutes(30));
    let short = opened(
        sessions
            .authenticate(with(Some(Duration::seconds(90)), "192.0.2.2"))
            .await,
    );
    assert_eq!(short.expires_at, START + Duration::seconds(90));
    // A short session slides by its own duration.
    f.clock.advance(Duration::seconds(60));
    let v = sessions
        .validate(short.token.expose(), &device("192.0.2.2"))
        .await
        .unwrap();
    assert_eq!(v.expires_at, f.now() + Duration::seconds(90));
    match sessions
        .authenticate(with(Some(Duration::ZERO), "192.0.2.3"))
        .await
    {
        Err(Error::InvalidField { field, .. }) => assert_eq!(field, "duration"),
        other => panic!("expected invalid duration, got {other:?}"),
    }
}

#[tokio::test]
async fn a_validation_writes_at_most_once_per_touch_interval() {
    let f = fixture().await; // touch_interval: 60 s
    f.active_user("janis@example.com").await;
    let s = open(&f, "janis@example.com", device(ADDRESS)).await;
    let sessions = f.identity.sessions(&f.org);
    let token = s.token.expose();
    f.clock.advance(Duration::seconds(30));
    let v = sessions.validate(token, &device(ADDRESS)).await.unwrap();
    assert_eq!(
        v.validated_at, START,
        "not written: the last write is 30 s old"
    );
    assert_eq!(v.expires_at, START + Duration::minutes(30));
    f.clock.advance(Duration::seconds(30));
    let v = sessions.validate(token, &device(ADDRESS)).await.unwrap();
    assert_eq!(v.validated_at, f.now(), "written: 60 s");
    assert_eq!(v.expires_at, f.now() + Duration::minutes(30));
    let stored = f
        .store
        .user_sessions(Environment::Sandbox, &f.org, s.user.id, f.now())
        .await
        .unwrap();
    assert_eq!(stored[0].validated_at, f.now());
    // `get` never writes.
    f.clock.advance(Duration::minutes(5));
    let g = sessions.get(token, &device(ADDRESS)).await.unwrap();
    assert_eq!(g.validated_at, START + Duration::seconds(60));
}

/// SECURITY 36.
#[tokio::test]
async fn authenticating_again_reuses_the_session_of_the_same_user_and_factors_only() {
    let f = fixture().await;
    f.active_user("janis@example.com").await;
    f.active_user("ada@example.com").await;
    let first = open(&f, "janis@example.com", device(ADDRESS)).await;
    f.clock.advance(Duration::minutes(1));
    let again = open(&f, "janis@example.com", device(ADDRESS)).await;
    assert!(again.reused);
    assert_eq!(again.id, first.id);
    assert_eq!(again.token.expose(), first.token.expose());
    assert_eq!(again.created_at, START);
    // The same factors as the policy compares them: the same IPv6 /64 is the same device.
    let other_device = open(&f, "janis@example.com", device("198.51.100.4")).await;
    assert!(!other_device.reused);
    assert_ne!(other_device.token.expose(), first.token.expose());
    let other_user = open(&f, "ada@example.com", device(ADDRESS)).await;
    assert!(!other_user.reused);
    assert_ne!(other_user.id, first.id);
    let reused = f.events(EventCode::SESSION_REUSED).await;
    assert_eq!(reused.len(), 1);
    assert_eq!(reused[0].details["session_id"], first.id.to_string());

    // Once it ended, authenticating opens a new one.
    f.identity
        .sessions(&f.org)
        .invalidate(first.token.expose())
        .await
        .unwrap();
    let fresh = open(&f, "janis@example.com", device(ADDRESS)).await;
    assert!(!fresh.reused);
    assert_ne!(fresh.token.expose(), first.token.expose());
}

/// SECURITY 37.
#[tokio::test]
async fn tokens_are_random_and_only_their_digest_is_stored() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let mut tokens = BTreeSet::new();
    for i in 0..20 {
        let s = open(&f, "janis@example.com", device(&format!("192.0.2.{i}"))).await;
        assert!(
            s.token
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        tokens.insert(s.token.expose().to_owned());
    }
    assert_eq!(tokens.len(), 20);
    let stored = f
        .store
        .user_sessions(Environment::Sandbox, &f.org, user.id, f.now())
        .await
        .unwrap();
    assert_eq!(stored.len(), 20);
    for record in &stored {
        let debug = format!("{record:?}");
        assert!(tokens.iter().all(|t| !debug.contains(t.as_str())));
        assert!(
            tokens.iter().any(
                |t| idcore::secret::Secret::from_presented(t.as_str()).digest()
                    == record.token_digest
            ),
            "each stored digest is the SHA-256 of one handed-out token"
        );
        assert!(record.token_nonce.len() >= 16, "128 bits or more");
    }
    // A token one character off is unknown.
    let t = tokens.iter().next().unwrap();
    let mut chars: Vec<char> = t.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    let altered: String = chars.into_iter().collect();
    assert_invalid_session(
        f.identity
            .sessions(&f.org)
            .get(&altered, &device("192.0.2.0"))
            .await,
    );
}

#[tokio::test]
async fn invalidating_ends_one_session_and_invalidating_a_user_ends_all_but_one() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let sessions = f.identity.sessions(&f.org);
    let a = open(&f, "janis@example.com", device("192.0.2.1")).await;
    let b = open(&f, "janis@example.com", device("192.0.2.2")).await;
    let c = open(&f, "janis@example.com", device("192.0.2.3")).await;
    assert!(sessions.invalidate(a.token.expose()).await.unwrap());
    assert!(
        !sessions.invalidate(a.token.expose()).await.unwrap(),
        "already ended"
    );
    assert_invalid_session(
        sessions
            .validate(a.token.expose(), &device("192.0.2.1"))
            .await,
    );

    let d = open(&f, "janis@example.com", device("192.0.2.4")).await;
    assert_eq!(
        sessions
            .invalidate_user("janis@example.com", Some(c.token.expose()))
            .await
            .unwrap(),
        2
    );
    assert_invalid_session(
        sessions
            .validate(b.token.expose(), &device("192.0.2.2"))
            .await,
    );
    assert_invalid_session(
        sessions
            .validate(d.token.expose(), &device("192.0.2.4"))
            .await,
    );
    assert!(
        sessions
            .validate(c.token.expose(), &device("192.0.2.3"))
            .await
            .is_ok()
    );
    let ended = f.events(EventCode::SESSIONS_ENDED).await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].details["count"], "2");
    assert_eq!(ended[0].details["except"], c.id.to_string());
    assert_eq!(ended[0].resource_owner_id, Some(user.id));
    assert_eq!(f.events(EventCode::SESSION_INVALIDATED).await.len(), 1);

    // Without `exclude`, every one ends; an unknown login is USER_NOT_FOUND.
    assert_eq!(
        sessions
            .invalidate_user("janis@example.com", None)
            .await
            .unwrap(),
        1
    );
    assert_invalid_session(
        sessions
            .validate(c.token.expose(), &device("192.0.2.3"))
            .await,
    );
    match sessions.invalidate_user("nobody@example.com", None).await {
        Err(Error::NotFound(Resource::User)) => {}
        other => panic!("expected user not found, got {other:?}"),
    }
    // An unknown token invalidates nothing and is no error (the seed answers success).
    assert!(!sessions.invalidate("no-such-token").await.unwrap());
}

#[tokio::test]
async fn a_user_lists_its_sessions_per_device_and_ends_one() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let other = f.active_user("ada@example.com").await;
    let sessions = f.identity.sessions(&f.org);
    let laptop = open(&f, "janis@example.com", device("192.0.2.1")).await;
    f.clock.advance(Duration::minutes(2));
    let phone = open(&f, "janis@example.com", device("192.0.2.2")).await;
    let listed = sessions.list(user.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [phone.id, laptop.id],
        "newest first"
    );
    assert_eq!(listed[1].factors, device("192.0.2.1"));
    assert_eq!(listed[1].created_at, START);
    assert_eq!(listed[1].validated_at, START);
    assert!(sessions.list(other.id).await.unwrap().is_empty());
    // Another user cannot end it.
    match sessions.end(other.id, laptop.id).await {
        Err(Error::NotFound(Resource::User)) => {}
        other => panic!("expected not found, got {other:?}"),
    }
    sessions.end(user.id, laptop.id).await.unwrap();
    assert_invalid_session(
        sessions
            .validate(laptop.token.expose(), &device("192.0.2.1"))
            .await,
    );
    assert_eq!(sessions.list(user.id).await.unwrap().len(), 1);
    let ended = f.events(EventCode::SESSION_INVALIDATED).await;
    assert_eq!(ended[0].details["how"], "by_user");
}

/// SECURITY 30: global sign-out, disabling, deleting and a password change end every session.
#[tokio::test]
async fn every_end_of_a_users_tokens_ends_its_sessions() {
    let f = fixture().await;
    let sessions = f.identity.sessions(&f.org);

    let user = f.active_user("a@example.com").await;
    let s = open(&f, "a@example.com", device(ADDRESS)).await;
    f.identity
        .tokens()
        .global_sign_out(&f.org, user.id)
        .await
        .unwrap();
    assert_invalid_session(sessions.validate(s.token.expose(), &device(ADDRESS)).await);
    assert!(sessions.list(user.id).await.unwrap().is_empty());

    let user = f.active_user("b@example.com").await;
    let s = open(&f, "b@example.com", device(ADDRESS)).await;
    f.identity.users(&f.org).disable(user.id).await.unwrap();
    f.identity.users(&f.org).enable(user.id).await.unwrap();
    assert_invalid_session(sessions.validate(s.token.expose(), &device(ADDRESS)).await);

    let user = f.active_user("c@example.com").await;
    let s = open(&f, "c@example.com", device(ADDRESS)).await;
    f.identity
        .signin(&f.org)
        .change_password(
            user.id,
            &Password::new(PASSWORD),
            &Password::new("another long enough passphrase"),
            &RequestContext::new(),
        )
        .await
        .unwrap();
    assert_invalid_session(sessions.validate(s.token.expose(), &device(ADDRESS)).await);

    let user = f.active_user("d@example.com").await;
    let s = open(&f, "d@example.com", device(ADDRESS)).await;
    let outcome = f
        .identity
        .signin(&f.org)
        .unregister(
            user.id,
            UnregisterRequest::new(RequestContext::new(), "support", "asked by the user").unwrap(),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, UnregisterOutcome::Unregistered));
    assert_invalid_session(sessions.validate(s.token.expose(), &device(ADDRESS)).await);
}

#[tokio::test]
async fn a_disabled_user_or_a_deleted_organization_validates_no_session() {
    let f = fixture().await;
    let sessions = f.identity.sessions(&f.org);
    let user = f.active_user("janis@example.com").await;
    let s = open(&f, "janis@example.com", device(ADDRESS)).await;
    f.identity.users(&f.org).disable(user.id).await.unwrap();
    assert_invalid_session(sessions.validate(s.token.expose(), &device(ADDRESS)).await);
    match sessions
        .authenticate(request("janis@example.com", PASSWORD, device(ADDRESS)))
        .await
    {
        Err(Error::Forbidden(_)) => {}
        other => panic!("expected forbidden, got {other:?}"),
    }

    f.active_user("ada@example.com").await;
    let s = open(&f, "ada@example.com", device(ADDRESS)).await;
    f.identity.organizations().delete(&f.org).await.unwrap();
    assert_invalid_session(sessions.validate(s.token.expose(), &device(ADDRESS)).await);
}

#[tokio::test]
async fn a_session_is_never_weaker_than_a_sign_in() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let sessions = f.identity.sessions(&f.org);
    // Wrong password, unknown login: the one sign-in error.
    assert_sign_in_failed(
        sessions
            .authenticate(request(
                "janis@example.com",
                "wrong password!!",
                device(ADDRESS),
            ))
            .await,
    );
    assert_sign_in_failed(
        sessions
            .authenticate(request("nobody@example.com", PASSWORD, device(ADDRESS)))
            .await,
    );
    // An enrolled authenticator is asked for; the session opens after it.
    let (key, _) = f.enrol(&user).await;
    let pending = match sessions
        .authenticate(request("janis@example.com", PASSWORD, device(ADDRESS)))
        .await
    {
        Ok(SessionStep::FactorRequired(p)) => p,
        other => panic!("expected a factor, got {other:?}"),
    };
    assert_eq!(pending.factors, [FactorKind::Totp]);
    assert!(
        sessions.list(user.id).await.unwrap().is_empty(),
        "nothing yet"
    );
    // A pending session sign-in is not a pending sign-in for a code, and the reverse.
    assert_sign_in_failed(
        f.identity
            .signin(&f.org)
            .complete(
                pending.token.expose(),
                Factor::Totp(key.generate(f.unix())),
                &RequestContext::new(),
            )
            .await,
    );
    let pending = match sessions
        .authenticate(request("janis@example.com", PASSWORD, device(ADDRESS)))
        .await
    {
        Ok(SessionStep::FactorRequired(p)) => p,
        other => panic!("expected a factor, got {other:?}"),
    };
    f.clock.advance(Duration::seconds(30));
    let s = opened(
        sessions
            .complete(
                pending.token.expose(),
                Factor::Totp(key.generate(f.unix())),
                &RequestContext::new(),
            )
            .await,
    );
    assert_eq!(s.amr, ["pwd", "otp", "mfa"]);
    assert_eq!(s.factors, device(ADDRESS));
    let sign_in_pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_sign_in_failed(
        sessions
            .complete(
                sign_in_pending.token.expose(),
                Factor::Totp(key.generate(f.unix() + 30)),
                &RequestContext::new(),
            )
            .await,
    );
}

/// SECURITY 50: a risk decision of Decline opens no session.
#[tokio::test]
async fn a_declined_risk_decision_opens_no_session() {
    let f = fixture_with(|b| b.risk_engine(Fixed::new(RiskDecision::Decline))).await;
    let user = f.active_user("janis@example.com").await;
    assert_sign_in_failed(
        f.identity
            .sessions(&f.org)
            .authenticate(request("janis@example.com", PASSWORD, device(ADDRESS)))
            .await,
    );
    assert!(
        f.identity
            .sessions(&f.org)
            .list(user.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(f.events(EventCode::SESSION_CREATED).await.is_empty());
}

#[tokio::test]
async fn the_lockout_applies_to_session_authentication() {
    let f = fixture().await;
    f.active_user("janis@example.com").await;
    let sessions = f.identity.sessions(&f.org);
    for _ in 0..5 {
        assert_sign_in_failed(
            sessions
                .authenticate(request(
                    "janis@example.com",
                    "wrong password!!",
                    device(ADDRESS),
                ))
                .await,
        );
    }
    assert_sign_in_failed(
        sessions
            .authenticate(request("janis@example.com", PASSWORD, device(ADDRESS)))
            .await,
    );
    assert_eq!(f.events(EventCode::ACCOUNT_LOCKED).await.len(), 1);
}

#[tokio::test]
async fn only_a_listed_application_opens_sessions_without_a_password() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    match f.identity.sessions(&f.org).trusted(f.client).await {
        Err(Error::Forbidden(_)) => {}
        other => panic!("expected forbidden, got {other:?}"),
    }
    let mut settings = SessionSettings::default();
    settings.trusted_applications.insert(f.client);
    let g = reconfigured(&f, settings);
    let sessions = g.identity.sessions(&g.org);
    let trusted = sessions.trusted(g.client).await.unwrap();
    assert_eq!(trusted.client_id(), g.client);
    let s = sessions
        .open_trusted(&trusted, "janis@example.com", device(ADDRESS), None)
        .await
        .unwrap();
    assert_eq!(s.user.id, user.id);
    assert!(s.amr.is_empty(), "no authentication by idcore");
    let created = g.events(EventCode::SESSION_CREATED).await;
    assert_eq!(created[0].details["how"], "trusted");
    assert_eq!(created[0].client_id, Some(g.client));
    // A password session with the same factors reuses it.
    let again = open(&g, "janis@example.com", device(ADDRESS)).await;
    assert!(again.reused);
    assert_eq!(again.id, s.id);
    // A user the directory created (no password yet) is found too.
    let directory_user = g
        .identity
        .users(&g.org)
        .create(idcore::NewUser::new("Dir@Example.com").unwrap())
        .await
        .unwrap();
    let d = sessions
        .open_trusted(&trusted, "dir@example.com", device(ADDRESS), None)
        .await
        .unwrap();
    assert_eq!(d.user.id, directory_user.id);
    match sessions
        .open_trusted(&trusted, "nobody@example.com", device(ADDRESS), None)
        .await
    {
        Err(Error::NotFound(Resource::User)) => {}
        other => panic!("expected user not found, got {other:?}"),
    }
    // Another organization's application is not trusted here, even if listed.
    let other_org = g
        .identity
        .organizations()
        .create(NewOrganization::new("Elsewhere").unwrap())
        .await
        .unwrap()
        .domain;
    match g.identity.sessions(&other_org).trusted(g.client).await {
        Err(Error::Forbidden(_)) => {}
        other => panic!("expected forbidden, got {other:?}"),
    }
}

/// Single sign-on: a session trades for a code of another application of the organization.
#[tokio::test]
async fn a_session_obtains_a_code_for_another_application_without_the_password() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let s = open(&f, "janis@example.com", device(ADDRESS)).await;
    let second = f
        .identity
        .applications(ApplicationScope::Organization(f.org.clone()))
        .create(
            NewApplication::new("Wiki", ApplicationType::React)
                .unwrap()
                .with(|a| a.allowed_redirect_urls(&["https://wiki.example.com/cb"]))
                .unwrap(),
        )
        .await
        .unwrap()
        .application
        .client_id;
    let sessions = f.identity.sessions(&f.org);
    let mut authorization = f.authorization();
    authorization.client_id = second;
    authorization.redirect_uri = "https://wiki.example.com/cb".to_owned();
    f.clock.advance(Duration::minutes(3));
    let done = sessions
        .authorize(s.token.expose(), &device(ADDRESS), authorization.clone())
        .await
        .unwrap();
    assert_eq!(done.user_id, user.id);
    assert_eq!(done.state.as_deref(), Some("af0ifjsldkj"));
    let set = f
        .identity
        .tokens()
        .exchange_code(
            &ClientAuth::public(second),
            done.code.expose(),
            "https://wiki.example.com/cb",
            VERIFIER,
        )
        .await
        .unwrap();
    let verified = f
        .identity
        .tokens()
        .verify_live(&set.access_token)
        .await
        .unwrap();
    assert_eq!(verified.claims.sub, user.id);
    assert_eq!(
        verified.auth_time,
        START.unix_timestamp(),
        "the session's authentication"
    );

    // The same checks as a sign-in: the exact redirect URI, the client of this organization,
    // the session's factors.
    let mut wrong_redirect = authorization.clone();
    wrong_redirect.redirect_uri = "https://wiki.example.com/cb/".to_owned();
    assert!(matches!(
        sessions
            .authorize(s.token.expose(), &device(ADDRESS), wrong_redirect)
            .await,
        Err(Error::InvalidRequest(_))
    ));
    assert_invalid_session(
        sessions
            .authorize(
                s.token.expose(),
                &device("192.0.2.200"),
                authorization.clone(),
            )
            .await,
    );
    let other_org = f
        .identity
        .organizations()
        .create(NewOrganization::new("Elsewhere").unwrap())
        .await
        .unwrap()
        .domain;
    let foreign = f
        .identity
        .applications(ApplicationScope::Organization(other_org.clone()))
        .create(
            NewApplication::new("Theirs", ApplicationType::React)
                .unwrap()
                .with(|a| a.allowed_redirect_urls(&["https://theirs.example.com/cb"]))
                .unwrap(),
        )
        .await
        .unwrap()
        .application
        .client_id;
    let mut cross = authorization.clone();
    cross.client_id = foreign;
    cross.redirect_uri = "https://theirs.example.com/cb".to_owned();
    assert!(matches!(
        sessions
            .authorize(s.token.expose(), &device(ADDRESS), cross.clone())
            .await,
        Err(Error::InvalidClient)
    ));
    // The session of one organization is unknown in another.
    assert_invalid_session(
        f.identity
            .sessions(&other_org)
            .authorize(s.token.expose(), &device(ADDRESS), cross)
            .await,
    );
    sessions.invalidate(s.token.expose()).await.unwrap();
    assert_invalid_session(
        sessions
            .authorize(s.token.expose(), &device(ADDRESS), authorization)
            .await,
    );
}

#[tokio::test]
async fn the_session_limit_refuses_or_ends_the_oldest() {
    let refuse = SessionSettings {
        limit: Some(SessionLimit {
            max: 2,
            when_full: WhenFull::Refuse,
        }),
        ..SessionSettings::default()
    };
    let f = fixture_with(with_sessions(refuse)).await;
    f.active_user("janis@example.com").await;
    let sessions = f.identity.sessions(&f.org);
    let a = open(&f, "janis@example.com", device("192.0.2.1")).await;
    let _b = open(&f, "janis@example.com", device("192.0.2.2")).await;
    match sessions
        .authenticate(request("janis@example.com", PASSWORD, device("192.0.2.3")))
        .await
    {
        Err(e @ Error::SessionLimitReached) => assert_eq!(e.http_status(), 403),
        other => panic!("expected the limit, got {other:?}"),
    }
    assert_eq!(f.events(EventCode::SESSION_LIMIT_REACHED).await.len(), 1);
    // Reuse needs no seat.
    assert!(
        open(&f, "janis@example.com", device("192.0.2.1"))
            .await
            .reused
    );
    // An ended session frees its seat, and so does one that expired idle.
    sessions.invalidate(a.token.expose()).await.unwrap();
    let _c = open(&f, "janis@example.com", device("192.0.2.3")).await;
    f.clock.advance(Duration::minutes(31));
    let d = open(&f, "janis@example.com", device("192.0.2.4")).await;
    let _e = open(&f, "janis@example.com", device("192.0.2.5")).await;
    assert!(!d.reused);

    let evict = SessionSettings {
        limit: Some(SessionLimit {
            max: 2,
            when_full: WhenFull::EvictOldest,
        }),
        ..SessionSettings::default()
    };
    let g = fixture_with(with_sessions(evict)).await;
    g.active_user("janis@example.com").await;
    let sessions = g.identity.sessions(&g.org);
    let first = open(&g, "janis@example.com", device("192.0.2.1")).await;
    g.clock.advance(Duration::seconds(1));
    let second = open(&g, "janis@example.com", device("192.0.2.2")).await;
    g.clock.advance(Duration::seconds(1));
    let third = open(&g, "janis@example.com", device("192.0.2.3")).await;
    assert_invalid_session(
        sessions
            .validate(first.token.expose(), &device("192.0.2.1"))
            .await,
    );
    assert!(
        sessions
            .validate(second.token.expose(), &device("192.0.2.2"))
            .await
            .is_ok()
    );
    assert!(
        sessions
            .validate(third.token.expose(), &device("192.0.2.3"))
            .await
            .is_ok()
    );
    let evicted = g.events(EventCode::SESSION_EVICTED).await;
    assert_eq!(evicted.len(), 1);
    assert_eq!(evicted[0].details["session_id"], first.id.to_string());
}

#[tokio::test]
async fn settings_out_of_bounds_are_refused_at_build() {
    let bad = [
        SessionSettings {
            default_timeout: Duration::seconds(30),
            ..SessionSettings::default()
        },
        SessionSettings {
            max_lifetime: Duration::minutes(10),
            ..SessionSettings::default()
        },
        SessionSettings {
            touch_interval: Duration::minutes(8),
            ..SessionSettings::default()
        },
        SessionSettings {
            limit: Some(SessionLimit {
                max: 0,
                when_full: WhenFull::Refuse,
            }),
            ..SessionSettings::default()
        },
        SessionSettings {
            factor_policy: FactorPolicy {
                required: None,
                rules: [(
                    "remote_address".to_owned(),
                    FactorMatch::IpPrefix { v4: 33, v6: 64 },
                )]
                .into(),
            },
            ..SessionSettings::default()
        },
    ];
    for settings in bad {
        let built = idcore::Identity::builder()
            .issuer("https://auth.example.com")
            .session_settings(settings.clone())
            .store(idcore::MemoryStore::new())
            .build();
        assert!(
            matches!(built, Err(Error::Config(_))),
            "{settings:?} must be refused"
        );
    }
}
