//! SECURITY.md lines that had no test, or a test that asserted less than the line promises,
//! through the public API on the `MemoryStore` (storage-bound lines run on every adapter in
//! `security_stores.rs`). Each test names the line it covers.

mod sqlite_file;
mod support;

use std::sync::Arc;

use idcore::audit::EventCode;
use idcore::directory::UserId;
use idcore::risk::{RequestContext, RiskDecision};
use idcore::signin::password::Password;
use idcore::signin::{Factor, Reauthentication, SignInStep, UnregisterRequest};
use idcore::store::fault::{FaultPlan, FaultyStore};
use idcore::store::{AccountRole, Store};
use idcore::tokens::jws::{self, Header};
use idcore::tokens::keys::{Algorithm, EncryptionKey, KeyPair};
use idcore::tokens::pkce::CodeChallenge;
use idcore::tokens::{ClientAuth, CodeRequest, TokenSet};
use idcore::{
    ApplicationScope, ApplicationType, ConfigError, Error, Identity, MemoryStore, NewApplication,
    NewOrganization, NewUser, TokenProblem, TokenSettings,
};
use serde_json::{Value, json};
use support::*;
use time::Duration;
use tokio::task::JoinSet;

// ---------------------------------------------------------------------------------- helpers

fn auth<S>(f: &Fx<S>) -> ClientAuth {
    ClientAuth::public(f.client)
}

async fn directory_user<S: Store>(f: &Fx<S>, email: &str) -> UserId {
    f.identity
        .users(&f.org)
        .create(NewUser::new(email).unwrap())
        .await
        .unwrap()
        .id
}

fn code_request<S: Store>(f: &Fx<S>, user: UserId, redirect_uri: &str) -> CodeRequest {
    CodeRequest {
        org: f.org.clone(),
        user_id: user,
        client_id: f.client,
        redirect_uri: redirect_uri.to_owned(),
        code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        state: Some("af0ifjsldkj".to_owned()),
        scope: vec!["openid".to_owned()],
        auth_time: f.now(),
        amr: vec!["pwd".to_owned()],
    }
}

async fn code<S: Store>(f: &Fx<S>, user: UserId) -> String {
    f.identity
        .tokens()
        .mint_code(code_request(f, user, REDIRECT))
        .await
        .unwrap()
        .expose()
        .to_owned()
}

async fn token_set<S: Store>(f: &Fx<S>, user: UserId) -> TokenSet {
    let code = code(f, user).await;
    f.identity
        .tokens()
        .exchange_code(&auth(f), &code, REDIRECT, VERIFIER)
        .await
        .unwrap()
}

#[track_caller]
fn problem<T: std::fmt::Debug>(result: Result<T, Error>) -> TokenProblem {
    match result {
        Err(Error::InvalidToken(p)) => p,
        other => panic!("expected invalid_token, got {other:?}"),
    }
}

#[track_caller]
fn assert_invalid_grant<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(e @ Error::InvalidGrant) => assert_eq!(e.code(), "invalid_grant"),
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

/// The access-token claims of the sign-in fixture's organization (`misapret`) at `now`.
fn access_claims(now: i64, tnt: &str) -> Value {
    let user = "01a21064-d1f4-726a-a889-e59ed7ea544f";
    json!({
        "iss": format!("https://auth.example.com/t/{tnt}"),
        "sub": user,
        "aud": "https://auth.example.com",
        "cid": "01a21064-d1f4-726a-a889-e59c1fe2ca62",
        "dbs": "sandbox",
        "exp": now + 3600,
        "iat": now,
        "nbf": now,
        "jti": "01a21064-d1f4-726a-a889-e59ed7ea5450",
        "jtt": "access",
        "scp": ["openid"],
        "tnt": tnt,
        "ver": 1,
        "uid": user,
        "auth_time": now,
        "gid": "01a21064-d1f4-726a-a889-e59ed7ea5451",
    })
}

fn sign(key: &KeyPair, claims: &Value) -> String {
    jws::encode(
        &Header::for_key(key).with_typ("at+jwt"),
        claims.to_string().as_bytes(),
        key,
    )
    .unwrap()
}

// ------------------------------------------------------------------------------ 5: unknown kid

/// A fixture on a call-counting store whose organization has its keys loaded (one token
/// issued and verified).
async fn counting() -> Fx<FaultyStore<MemoryStore>> {
    counting_on(MemoryStore::new()).await
}

async fn counting_on<S: Store + Clone>(store: S) -> Fx<FaultyStore<S>> {
    let f = fixture_on(FaultyStore::new(store), |b| b).await;
    let user = directory_user(&f, "janis@example.com").await;
    let set = token_set(&f, user).await;
    f.identity.tokens().verify(&set.access_token).await.unwrap();
    f
}

/// SECURITY 5: tokens naming an unknown `kid` of a known organization are rejected without a
/// store read while the keys are fresh, and reload them at most once per reload interval.
#[tokio::test]
async fn unknown_kids_of_a_known_organization_reload_its_keys_at_most_once_per_interval() {
    let f = counting().await;
    let now = f.now().unix_timestamp();
    f.store.arm(FaultPlan::Off);
    for _ in 0..50 {
        let attacker = KeyPair::generate(Algorithm::Es256).unwrap();
        let token = sign(&attacker, &access_claims(now, f.org.as_str()));
        assert_eq!(
            problem(f.identity.tokens().verify(&token).await),
            TokenProblem::UnknownKey
        );
    }
    assert_eq!(f.store.calls(), 0, "fresh keys: no store read");
    f.clock.advance(Duration::seconds(31));
    let now = f.now().unix_timestamp();
    for _ in 0..50 {
        let attacker = KeyPair::generate(Algorithm::Es256).unwrap();
        let token = sign(&attacker, &access_claims(now, f.org.as_str()));
        assert_eq!(
            problem(f.identity.tokens().verify(&token).await),
            TokenProblem::UnknownKey
        );
    }
    assert_eq!(f.store.calls(), 1, "one reload per interval");
}

/// SECURITY 5 ("no reload storm"): 100 concurrent tokens with unknown `kid`s arriving once the
/// keys are due for a reload read the store once, not once each. On SQLite, whose reads take
/// real time, so concurrent loads overlap (on the `MemoryStore` a load finishes before the
/// next task looks, which would hide a storm).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_unknown_kids_after_the_interval_reload_the_keys_once_sqlite() {
    let db = sqlite_file::TempDb::fresh("reload").await;
    concurrent_unknown_kids_after_the_interval_reload_the_keys_once(db.open().await).await;
}

async fn concurrent_unknown_kids_after_the_interval_reload_the_keys_once<S: Store + Clone>(
    store: S,
) {
    let f = Arc::new(counting_on(store).await);
    f.clock.advance(Duration::seconds(31));
    let now = f.now().unix_timestamp();
    let tokens: Vec<String> = (0..100)
        .map(|_| {
            let attacker = KeyPair::generate(Algorithm::Es256).unwrap();
            sign(&attacker, &access_claims(now, f.org.as_str()))
        })
        .collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    f.store.arm(FaultPlan::Off);
    let mut tasks = JoinSet::new();
    for token in tokens {
        let (f, barrier) = (f.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            f.identity.tokens().verify(&token).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(problem(r.unwrap()), TokenProblem::UnknownKey);
    }
    assert_eq!(f.store.calls(), 1, "one reload, however many tokens arrive");
}

/// SECURITY 5 ("no fetch"): tokens naming organizations that have no keys (made-up `tnt`s)
/// are rejected with at most one store read per organization and interval — an attacker must
/// not turn each forged token into a store query.
#[tokio::test]
async fn tokens_naming_an_organization_without_keys_read_the_store_at_most_once_per_interval() {
    let f = counting().await;
    let now = f.now().unix_timestamp();
    let attacker = KeyPair::generate(Algorithm::Es256).unwrap();
    let token = sign(&attacker, &access_claims(now, "no-such-organization"));
    f.store.arm(FaultPlan::Off);
    for _ in 0..100 {
        assert_eq!(
            problem(f.identity.tokens().verify(&token).await),
            TokenProblem::UnknownKey
        );
    }
    assert!(
        f.store.calls() <= 1,
        "{} store reads for 100 copies of one forged token",
        f.store.calls()
    );
}

// --------------------------------------------------------------------------- 8: the leeway

/// SECURITY 8: the leeway is configurable (5 s here instead of 30 s) and bounded (≤ 5 min).
#[tokio::test]
async fn a_configured_leeway_replaces_the_default_and_is_bounded() {
    let f = fixture_on(MemoryStore::new(), |b| {
        b.token_settings(TokenSettings {
            leeway: Duration::seconds(5),
            ..TokenSettings::default()
        })
    })
    .await;
    let key = KeyPair::generate(Algorithm::Es256).unwrap();
    f.identity.tokens().import_key(&f.org, &key).await.unwrap();
    let now = f.now().unix_timestamp();
    let with = |claim: &str, value: i64| {
        let mut c = access_claims(now, f.org.as_str());
        c[claim] = json!(value);
        sign(&key, &c)
    };
    let tokens = f.identity.tokens();
    tokens.verify(&with("exp", now - 4)).await.unwrap();
    assert_eq!(
        problem(tokens.verify(&with("exp", now - 5)).await),
        TokenProblem::Expired
    );
    tokens.verify(&with("nbf", now + 5)).await.unwrap();
    assert_eq!(
        problem(tokens.verify(&with("nbf", now + 6)).await),
        TokenProblem::NotYetValid
    );
    let too_long = Identity::builder()
        .issuer("https://auth.example.com")
        .token_settings(TokenSettings {
            leeway: Duration::minutes(5) + Duration::seconds(1),
            ..TokenSettings::default()
        })
        .store(MemoryStore::new())
        .build();
    match too_long {
        Err(Error::Config(ConfigError::Lifetime {
            name: "leeway",
            min_seconds: 0,
            max_seconds: 300,
        })) => {}
        other => panic!("expected the leeway bound, got {:?}", other.err()),
    }
}

// ------------------------------------------------------------------ 14: the reverse direction

/// SECURITY 14, the reverse: an access token or an ID token presented as a refresh token is
/// `invalid_grant` (and is not a revocable refresh token either).
#[tokio::test]
async fn access_and_id_tokens_presented_as_refresh_tokens_are_invalid_grant() {
    let f = fixture().await;
    let user = directory_user(&f, "janis@example.com").await;
    let set = token_set(&f, user).await;
    let tokens = f.identity.tokens();
    for token in [&set.access_token, &set.id_token] {
        assert_invalid_grant(tokens.refresh(&auth(&f), token, None).await);
        assert!(tokens.refresh_token_info(token).await.unwrap().is_none());
    }
    // An ID token is no access token at userinfo, nor an access token an ID token.
    assert_eq!(
        problem(tokens.userinfo(&set.id_token).await),
        TokenProblem::Type
    );
    assert_eq!(
        problem(
            tokens
                .verify_id_token_live(&set.access_token, f.client)
                .await
        ),
        TokenProblem::Type
    );
    // The family is untouched.
    tokens
        .refresh(&auth(&f), set.refresh_token.expose(), None)
        .await
        .unwrap();
}

// ------------------------------------------------------------------------ 16: key rotation

/// SECURITY 16: a key rotated in through one instance verifies at once on another instance
/// sharing the store.
#[tokio::test]
async fn a_key_rotated_in_on_one_instance_verifies_at_once_on_another() {
    let store = MemoryStore::new();
    let f = fixture_on(store.clone(), |b| b).await;
    let b = Identity::builder()
        .issuer("https://auth.example.com")
        .clock(f.clock.clone())
        .key_encryption_key(EncryptionKey::from_bytes(&[7; 32]).unwrap())
        .store(store)
        .build()
        .unwrap();
    let user = directory_user(&f, "janis@example.com").await;
    let old = token_set(&f, user).await;
    b.tokens().verify(&old.access_token).await.unwrap();
    f.clock.advance(Duration::seconds(1));
    f.identity.tokens().rotate_keys(&f.org).await.unwrap();
    let new = token_set(&f, user).await;
    f.identity.tokens().verify(&new.access_token).await.unwrap();
    b.tokens().verify(&new.access_token).await.unwrap();
}

/// SECURITY 16: a retired key verifies up to the last second of its overlap window and not at
/// its end; the new key verifies at once.
#[tokio::test]
async fn a_retired_key_verifies_until_the_end_of_its_overlap_exactly() {
    let f = fixture().await;
    let user = directory_user(&f, "janis@example.com").await;
    let old = token_set(&f, user).await;
    f.identity.tokens().rotate_keys(&f.org).await.unwrap();
    let new = token_set(&f, user).await;
    let tokens = f.identity.tokens();
    tokens.verify(&new.access_token).await.unwrap();
    let overlap = TokenSettings::default().key_overlap;
    f.clock.advance(overlap - Duration::seconds(1));
    let report = tokens.verify_report(&old.access_token).await.unwrap();
    assert!(report.signature_verified);
    f.clock.advance(Duration::seconds(1));
    assert_eq!(
        problem(tokens.verify_report(&old.access_token).await),
        TokenProblem::UnknownKey
    );
    assert!(
        tokens
            .verify_report(&new.access_token)
            .await
            .unwrap()
            .signature_verified
    );
}

// ------------------------------------------------------------------ 17: EdDSA half hashes

/// SECURITY 17: an ID token signed with EdDSA carries `at_hash`, `c_hash` and `s_hash` as the
/// left half of SHA-512 (OpenID Connect Core §3.1.3.6 for Ed25519), and echoes the nonce.
#[tokio::test]
async fn an_eddsa_id_token_half_hashes_use_sha512() {
    let f = fixture().await;
    let key = KeyPair::generate(Algorithm::EdDsa).unwrap();
    f.identity.tokens().import_key(&f.org, &key).await.unwrap();
    let user = directory_user(&f, "janis@example.com").await;
    let code = code(&f, user).await;
    let set = f
        .identity
        .tokens()
        .exchange_code(&auth(&f), &code, REDIRECT, VERIFIER)
        .await
        .unwrap();
    let (header, claims) = {
        let mut parts = set.id_token.split('.');
        let h = jws::base64url_decode(parts.next().unwrap()).unwrap();
        let c = jws::base64url_decode(parts.next().unwrap()).unwrap();
        (
            serde_json::from_slice::<Value>(&h).unwrap(),
            serde_json::from_slice::<Value>(&c).unwrap(),
        )
    };
    assert_eq!(header["alg"], "EdDSA");
    let half = |v: &str| {
        let d = ring::digest::digest(&ring::digest::SHA512, v.as_bytes());
        jws::base64url_encode(&d.as_ref()[..32])
    };
    assert_eq!(claims["at_hash"], half(&set.access_token));
    assert_eq!(claims["c_hash"], half(&code));
    assert_eq!(claims["s_hash"], half("af0ifjsldkj"));
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
}

// ----------------------------------------------------------------------- 21: redirect URIs

/// Every way a presented redirect URI may differ from the registered
/// `https://app.example.com/callback`.
const REDIRECT_VARIANTS: [&str; 11] = [
    "https://app.example.com/callback/",
    "https://APP.example.com/callback",
    "https://app.example.com/Callback",
    "https://app.example.com/callback?x=1",
    "https://app.example.com/callback?",
    "https://app.example.com/callback#f",
    "https://app.example.com/%63allback",
    "https://app.example.com:443/callback",
    "https://app.example.com:8443/callback",
    "https://evil@app.example.com/callback",
    "http://app.example.com/callback",
];

/// SECURITY 21: an unregistered redirect URI never gets a code.
#[tokio::test]
async fn redirect_uri_variants_get_no_code() {
    let f = fixture().await;
    let user = directory_user(&f, "janis@example.com").await;
    for uri in REDIRECT_VARIANTS {
        let r = f
            .identity
            .tokens()
            .mint_code(code_request(&f, user, uri))
            .await;
        match r {
            Err(e @ Error::InvalidRequest(_)) => assert_eq!(e.code(), "invalid_request"),
            other => panic!("{uri}: expected invalid_request, got {other:?}"),
        }
    }
}

/// SECURITY 21: a code minted for the registered URI is `invalid_grant` with any variant of it
/// at the exchange, and stays redeemable with the exact URI.
#[tokio::test]
async fn redirect_uri_variants_at_the_exchange_are_invalid_grant() {
    let f = fixture().await;
    let user = directory_user(&f, "janis@example.com").await;
    let code = code(&f, user).await;
    for uri in REDIRECT_VARIANTS {
        assert_invalid_grant(
            f.identity
                .tokens()
                .exchange_code(&auth(&f), &code, uri, VERIFIER)
                .await,
        );
    }
    f.identity
        .tokens()
        .exchange_code(&auth(&f), &code, REDIRECT, VERIFIER)
        .await
        .unwrap();
}

/// SECURITY 21: only a loopback redirect may vary its port — its path, host and scheme stay
/// exact, and the exchange needs the URI the code was minted for.
#[tokio::test]
async fn a_loopback_redirect_may_vary_its_port_and_nothing_else() {
    let f = fixture().await;
    let app = f
        .identity
        .applications(ApplicationScope::Organization(f.org.clone()))
        .create(
            NewApplication::new("Desktop", ApplicationType::React)
                .unwrap()
                .with(|a| a.allowed_redirect_urls(&["http://127.0.0.1/cb"]))
                .unwrap(),
        )
        .await
        .unwrap()
        .application
        .client_id;
    let user = directory_user(&f, "janis@example.com").await;
    let mint = |uri: &str| {
        let request = CodeRequest {
            client_id: app,
            ..code_request(&f, user, uri)
        };
        let identity = f.identity.clone();
        async move { identity.tokens().mint_code(request).await }
    };
    let code = mint("http://127.0.0.1:51234/cb").await.unwrap();
    for uri in [
        "http://127.0.0.1:51234/cb/",
        "http://127.0.0.1:51234/other",
        "http://localhost:51234/cb",
        "https://127.0.0.1:51234/cb",
        "http://127.0.0.1:51234@evil.example/cb",
        "http://127.0.0.1.evil.example/cb",
    ] {
        assert!(
            matches!(mint(uri).await, Err(Error::InvalidRequest(_))),
            "{uri}"
        );
    }
    let client = ClientAuth::public(app);
    assert_invalid_grant(
        f.identity
            .tokens()
            .exchange_code(
                &client,
                code.expose(),
                "http://127.0.0.1:40000/cb",
                VERIFIER,
            )
            .await,
    );
    f.identity
        .tokens()
        .exchange_code(
            &client,
            code.expose(),
            "http://127.0.0.1:51234/cb",
            VERIFIER,
        )
        .await
        .unwrap();
}

// ---------------------------------------------------------------------- 22: PKCE verifiers

/// SECURITY 22: a verifier whose SHA-256 *is* the stored challenge but which breaks RFC 7636's
/// syntax (42 or 129 characters, a character outside the unreserved set) is refused, as are a
/// missing and a wrong one; each refusal leaves the code redeemable by the right verifier.
#[tokio::test]
async fn verifiers_outside_the_rfc7636_syntax_are_refused_even_when_they_hash_to_the_challenge() {
    let f = fixture().await;
    let user = directory_user(&f, "janis@example.com").await;
    let s256 = |v: &str| {
        jws::base64url_encode(ring::digest::digest(&ring::digest::SHA256, v.as_bytes()).as_ref())
    };
    let bad = [
        "a".repeat(42),
        "a".repeat(129),
        format!("{}+", "a".repeat(42)),
        format!("{}/", "a".repeat(42)),
        format!("{} ", "a".repeat(42)),
        format!("{}é", "a".repeat(41)),
        String::new(),
    ];
    for verifier in &bad {
        let challenge = CodeChallenge::parse(&s256(verifier), Some("S256")).unwrap();
        let code = f
            .identity
            .tokens()
            .mint_code(CodeRequest {
                code_challenge: challenge,
                ..code_request(&f, user, REDIRECT)
            })
            .await
            .unwrap();
        assert_invalid_grant(
            f.identity
                .tokens()
                .exchange_code(&auth(&f), code.expose(), REDIRECT, verifier)
                .await,
        );
    }
    // The well-formed boundaries hash-match and pass: 43 and 128 characters.
    for verifier in ["a".repeat(43), "~._-".repeat(32)] {
        let challenge = CodeChallenge::parse(&s256(&verifier), Some("S256")).unwrap();
        let code = f
            .identity
            .tokens()
            .mint_code(CodeRequest {
                code_challenge: challenge,
                ..code_request(&f, user, REDIRECT)
            })
            .await
            .unwrap();
        f.identity
            .tokens()
            .exchange_code(&auth(&f), code.expose(), REDIRECT, &verifier)
            .await
            .unwrap();
    }
    // Missing and wrong verifiers leave the code for the right one.
    let code = code(&f, user).await;
    for verifier in ["", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"] {
        assert_invalid_grant(
            f.identity
                .tokens()
                .exchange_code(&auth(&f), &code, REDIRECT, verifier)
                .await,
        );
    }
    f.identity
        .tokens()
        .exchange_code(&auth(&f), &code, REDIRECT, VERIFIER)
        .await
        .unwrap();
}

// ------------------------------------------------------------------ 48: other organizations

/// One answer, for comparison: the error's debug form, code, status and message.
fn answer<T: std::fmt::Debug>(r: Result<T, Error>) -> (String, &'static str, u16, String) {
    let e = r.expect_err("refused");
    (format!("{e:?}"), e.code(), e.http_status(), e.to_string())
}

/// SECURITY 48: every call that acts on a user, made through organization B on organization
/// A's user, answers exactly what it answers for a user that does not exist (not found, 404),
/// and changes nothing of A's user.
#[tokio::test]
async fn acting_through_another_organization_is_indistinguishable_from_an_unknown_user() {
    let f = fixture_with(|b| b.risk_engine(Fixed::new(RiskDecision::Accept))).await;
    let victim = f.active_user("janis@example.com").await;
    let set = token_set(&f, victim.id).await;
    let b = f
        .identity
        .organizations()
        .create(NewOrganization::new("Other").unwrap())
        .await
        .unwrap()
        .domain;
    let b_client = f
        .identity
        .applications(ApplicationScope::Organization(b.clone()))
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
    let nobody = UserId::from_uuid(uuid::Uuid::now_v7());
    let ctx = RequestContext::new();
    let new_password = Password::new("a completely new passphrase");
    for id in [victim.id, nobody] {
        // Each call through organization B; the two ids must get the same answers.
        let users = f.identity.users(&b);
        let signin = f.identity.signin(&b);
        let tokens = f.identity.tokens();
        let answers = vec![
            ("retrieve", answer(users.retrieve(id).await)),
            (
                "update",
                answer(
                    users
                        .update(id, idcore::ProfileChanges::new().nickname("x").unwrap())
                        .await,
                ),
            ),
            ("disable", answer(users.disable(id).await)),
            ("enable", answer(users.enable(id).await)),
            (
                "set_role",
                answer(signin.set_role(id, AccountRole::OrganizationAdmin).await),
            ),
            (
                "set_password",
                answer(signin.set_password(id, &new_password).await),
            ),
            (
                "change_password",
                answer(
                    signin
                        .change_password(id, &Password::new(PASSWORD), &new_password, &ctx)
                        .await,
                ),
            ),
            (
                "begin_totp_enrolment",
                answer(signin.begin_totp_enrolment(id).await),
            ),
            (
                "regenerate_recovery_codes",
                answer(
                    signin
                        .regenerate_recovery_codes(
                            id,
                            &Reauthentication::Password(Password::new(PASSWORD)),
                            &ctx,
                        )
                        .await,
                ),
            ),
            (
                "remove_authenticator",
                answer(
                    signin
                        .remove_authenticator(
                            id,
                            &Reauthentication::Password(Password::new(PASSWORD)),
                            &ctx,
                        )
                        .await,
                ),
            ),
            (
                "request_email_change",
                answer(signin.request_email_change(id, "new@example.com").await),
            ),
            (
                "unregister",
                answer(
                    signin
                        .unregister(
                            id,
                            UnregisterRequest::new(ctx.clone(), "admin", "cleanup").unwrap(),
                        )
                        .await,
                ),
            ),
            (
                "global_sign_out",
                answer(tokens.global_sign_out(&b, id).await),
            ),
            (
                "mint_code",
                answer(
                    tokens
                        .mint_code(CodeRequest {
                            org: b.clone(),
                            client_id: b_client,
                            ..code_request(&f, id, REDIRECT)
                        })
                        .await,
                ),
            ),
        ];
        for (call, (debug, code, status, _)) in &answers {
            assert_eq!(debug, "NotFound(User)", "{call}");
            assert_eq!(*code, "not_found", "{call}");
            assert_eq!(*status, 404, "{call}");
        }
    }
    // Nothing of the victim changed: same record, same password, tokens alive.
    let now = f.identity.users(&f.org).retrieve(victim.id).await.unwrap();
    assert_eq!(now, victim);
    f.identity
        .tokens()
        .verify_live(&set.access_token)
        .await
        .unwrap();
    f.clock.advance(Duration::seconds(1));
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
}

// ----------------------------------------------------------------------- 55: audit failures

/// SECURITY 55: a revocation is a required event. Revoking an access token while the audit
/// log cannot be written answers the store error, never a silent success.
#[tokio::test]
async fn revoking_an_access_token_whose_event_cannot_be_recorded_is_not_a_silent_success() {
    let f = fixture_on(FaultyStore::new(MemoryStore::new()), |b| b).await;
    let user = directory_user(&f, "janis@example.com").await;
    let set = token_set(&f, user).await;
    f.store.arm(FaultPlan::Method("record_event"));
    let r = f
        .identity
        .tokens()
        .revoke_access_token(&auth(&f), &set.access_token)
        .await;
    f.store.disarm();
    assert!(matches!(r, Err(Error::Store(_))), "{r:?}");
}

/// SECURITY 55: every revocation path answers success only with its `TOKEN_REVOKED` (or
/// sign-out) event recorded.
#[tokio::test]
async fn every_revocation_that_answers_success_is_in_the_audit_log() {
    let f = fixture().await;
    let user = directory_user(&f, "janis@example.com").await;
    let tokens = f.identity.tokens();
    let a = token_set(&f, user).await;
    let b = token_set(&f, user).await;
    tokens
        .revoke_refresh_token(&auth(&f), a.refresh_token.expose())
        .await
        .unwrap();
    tokens
        .revoke_access_token(&auth(&f), &b.access_token)
        .await
        .unwrap();
    assert_eq!(
        problem(tokens.verify_live(&b.access_token).await),
        TokenProblem::Revoked
    );
    assert_eq!(f.events(EventCode::TOKEN_REVOKED).await.len(), 2);
    tokens.revoke_client(f.client).await.unwrap();
    // A client-wide revocation names the client and the application's organization, so both
    // the client's and the organization's log find it.
    for query in [
        idcore::audit::EventQuery::default()
            .code(EventCode::CLIENT_TOKENS_REVOKED)
            .client_id(f.client),
        idcore::audit::EventQuery::tenant(&f.org).code(EventCode::CLIENT_TOKENS_REVOKED),
    ] {
        let events = f
            .identity
            .events()
            .list(&query, idcore::PageRequest::default())
            .await
            .unwrap();
        assert_eq!(events.data.len(), 1, "{query:?}");
        assert_eq!(events.data[0].tenant_domain.as_ref(), Some(&f.org));
    }
}

/// SECURITY 55: while the audit log cannot be written, a TOTP second factor completes
/// nothing — neither a wrong code nor the right one yields an authorization code — and once
/// the log works again the sign-in can finish.
#[tokio::test]
async fn an_audit_write_failure_never_completes_a_second_factor() {
    let f = fixture_on(FaultyStore::new(MemoryStore::new()), |b| b).await;
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    f.store.arm(FaultPlan::Method("record_event"));
    let wrong = f.complete(&pending, Factor::Totp("000000".into())).await;
    assert!(matches!(wrong, Err(Error::Store(_))), "{wrong:?}");
    let right = f
        .complete(&pending, Factor::Totp(key.generate(f.unix())))
        .await;
    assert!(matches!(right, Err(Error::Store(_))), "{right:?}");
    f.store.disarm();
    f.clock.advance(Duration::seconds(30));
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    let done = f
        .complete(&pending, Factor::Totp(key.generate(f.unix())))
        .await;
    assert!(matches!(done, Ok(SignInStep::Complete(_))), "{done:?}");
    assert_eq!(f.events(EventCode::MFA_SUCCEEDED).await.len(), 1);
    assert_eq!(f.events(EventCode::SIGN_IN_SUCCEEDED).await.len(), 1);
}

// ------------------------------------------------------------ 42, 45: the remaining paths

fn lockout(user_threshold: u64) -> idcore::signin::SigninSettings {
    idcore::signin::SigninSettings {
        lockout: idcore::signin::LockoutPolicy {
            user_threshold,
            ip_threshold: 1000,
            cool_down: Duration::minutes(15),
        },
        ..settings()
    }
}

/// SECURITY 42 ("the same lockout applies on every sign-in path"): wrong current passwords
/// given to a password change count toward the user's lockout — the password change is a
/// password check an attacker holding a session could otherwise brute-force — and a locked
/// account refuses the change even with the right current password.
#[tokio::test]
async fn wrong_current_passwords_in_a_password_change_count_toward_the_lockout() {
    let f = fixture_with(|b| b.signin_settings(lockout(3))).await;
    let user = f.active_user("janis@example.com").await;
    let signin = f.identity.signin(&f.org);
    let new = Password::new("a completely new passphrase");
    let ctx = RequestContext::new();
    for _ in 0..3 {
        assert_sign_in_failed(
            signin
                .change_password(user.id, &Password::new("not it"), &new, &ctx)
                .await,
        );
    }
    assert_sign_in_failed(
        signin
            .change_password(user.id, &Password::new(PASSWORD), &new, &ctx)
            .await,
    );
    assert_sign_in_failed(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(
        f.reasons(EventCode::PASSWORD_CHANGE_FAILED).await,
        [
            "wrong current password",
            "wrong current password",
            "wrong current password",
            "account locked"
        ]
    );
    assert_eq!(
        f.reasons(EventCode::SIGN_IN_FAILED).await,
        ["account locked"]
    );
    // The old password is still the password once the window ends.
    f.clock.advance(Duration::minutes(15));
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
}

/// SECURITY 45: the code confirming an e-mail change has limited attempts too: after them the
/// right code is refused and the address stays.
#[tokio::test]
async fn e_mail_change_code_attempts_are_limited() {
    let f = fixture_with(|b| {
        b.signin_settings(idcore::signin::SigninSettings {
            email_code_attempts: 3,
            ..lockout(100)
        })
    })
    .await;
    let user = f.active_user("janis@example.com").await;
    let signin = f.identity.signin(&f.org);
    let ctx = RequestContext::new();
    signin
        .request_email_change(user.id, "pearl@example.com")
        .await
        .unwrap();
    let code = f.last_code("pearl@example.com");
    for wrong in ["000000", "111111", "222222"] {
        let wrong = if wrong == code { "333333" } else { wrong };
        let r = signin
            .confirm_email_change(user.id, "pearl@example.com", wrong, &ctx)
            .await;
        assert!(matches!(r, Err(Error::InvalidCode)), "{r:?}");
    }
    let r = signin
        .confirm_email_change(user.id, "pearl@example.com", &code, &ctx)
        .await;
    assert!(matches!(r, Err(Error::InvalidCode)), "{r:?}");
    let now = f.identity.users(&f.org).retrieve(user.id).await.unwrap();
    assert_eq!(now.profile.email.as_str(), "janis@example.com");
}

// ------------------------------------------------------- 54: revocations that cannot be stored

/// SECURITY 54: a refresh-token revocation (RFC 7009) with the store failing at any one of its
/// calls either answers the store error — and a retry then revokes — or answers success with
/// the grant really dead; never success with a live access token.
#[tokio::test]
async fn a_refresh_token_revocation_failing_at_any_step_is_reported_or_done() {
    let mut faulted = 0;
    for n in 1.. {
        let f = fixture_on(FaultyStore::new(MemoryStore::new()), |b| b).await;
        let user = directory_user(&f, "janis@example.com").await;
        let set = token_set(&f, user).await;
        f.store.arm(FaultPlan::NthCall(n));
        let first = f
            .identity
            .tokens()
            .revoke_refresh_token(&auth(&f), set.refresh_token.expose())
            .await;
        let calls = f.store.calls();
        f.store.disarm();
        match first {
            Err(Error::Store(_)) => {
                faulted += 1;
                f.identity
                    .tokens()
                    .revoke_refresh_token(&auth(&f), set.refresh_token.expose())
                    .await
                    .unwrap_or_else(|e| panic!("retry after a fault at call {n}: {e:?}"));
            }
            Ok(()) => {}
            Err(e) => panic!("call {n}: {e:?}"),
        }
        assert_eq!(
            problem(f.identity.tokens().verify_live(&set.access_token).await),
            TokenProblem::Revoked,
            "fault at call {n}"
        );
        assert_invalid_grant(
            f.identity
                .tokens()
                .refresh(&auth(&f), set.refresh_token.expose(), None)
                .await,
        );
        if calls < n {
            break;
        }
    }
    assert!(
        faulted >= 3,
        "the revocation touches the store {faulted} times"
    );
}

/// SECURITY 54: an access-token revocation whose revocation record cannot be stored answers
/// the store error, and the token stays verifiable until a retry revokes it.
#[tokio::test]
async fn an_access_token_revocation_that_could_not_be_stored_is_reported_and_a_retry_works() {
    let f = fixture_on(FaultyStore::new(MemoryStore::new()), |b| b).await;
    let user = directory_user(&f, "janis@example.com").await;
    let set = token_set(&f, user).await;
    f.store.arm(FaultPlan::Method("record_revocation"));
    let r = f
        .identity
        .tokens()
        .revoke_access_token(&auth(&f), &set.access_token)
        .await;
    f.store.disarm();
    assert!(matches!(r, Err(Error::Store(_))), "{r:?}");
    f.identity
        .tokens()
        .verify_live(&set.access_token)
        .await
        .unwrap();
    f.identity
        .tokens()
        .revoke_access_token(&auth(&f), &set.access_token)
        .await
        .unwrap();
    assert_eq!(
        problem(f.identity.tokens().verify_live(&set.access_token).await),
        TokenProblem::Revoked
    );
}
