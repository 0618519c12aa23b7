//! Sign-in against its password hash (issue 4 target): everything in a sign-in except the
//! password hash costs at most 5 % of the hash.
//!
//! - `signin/default`: the raw argon2id verification at the default parameters (m = 19 MiB,
//!   t = 2, p = 1) — the hash — and a whole sign-in at those parameters.
//! - `signin/minimal-hash`: the same with the cheapest argon2id (m = 8 KiB, t = 1), so the
//!   rest of the sign-in stands out: `sign_in − verify` is the overhead, to compare with the
//!   default hash; and a sign-in with a TOTP second factor.
//!
//! The sign-ins carry a client address and device data (known after the first one), so the
//! default risk engine, the lockout reservations, the device memory, the authorization code
//! and the audit events are all in the path. Run with `cargo bench --bench signin`. Futures are
//! driven by a minimal poll loop (the memory store and the inline offload never wait), so no
//! executor overhead is measured.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration as StdDuration;

use criterion::{Criterion, criterion_group, criterion_main};
use idcore::clock::{Clock, ManualClock};
use idcore::directory::OrgDomain;
use idcore::risk::{DeviceData, DeviceKind, RequestContext};
use idcore::signin::password::{Argon2Params, Password, hash_password, verify_password};
use idcore::signin::totp::{DIGITS, TotpAlgorithm, TotpKey};
use idcore::signin::{Authorization, Factor, SignInRequest, SignInStep, SignUp, SigninSettings};
use idcore::tokens::keys::EncryptionKey;
use idcore::tokens::pkce::CodeChallenge;
use idcore::{
    ApplicationScope, ApplicationType, Identity, MemoryStore, NewApplication, NewOrganization,
    NewUser,
};
use time::Duration;
use time::macros::datetime;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "https://app.example.com/callback";
const PASSWORD: &str = "correct horse battery staple";
const MINIMAL: Argon2Params = Argon2Params {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

/// Polls a future that never waits to completion.
fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

struct Setup {
    identity: Identity<MemoryStore>,
    clock: ManualClock,
    org: OrgDomain,
    request: SignInRequest,
}

fn setup(argon2: Argon2Params, with_totp: bool) -> (Setup, Option<TotpKey>) {
    let clock = ManualClock::new(datetime!(2026-06-01 12:00 UTC));
    let outbox = idcore::mail::MemoryOutbox::new();
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .clock(clock.clone())
        .mailer(outbox.clone())
        .key_encryption_key(EncryptionKey::from_bytes(&[1; 32]).expect("a 32-byte key"))
        .signin_settings(SigninSettings {
            argon2,
            ..SigninSettings::default()
        })
        .store(MemoryStore::new())
        .build()
        .expect("identity");
    let org = run(identity
        .organizations()
        .create(NewOrganization::new("Bench").expect("name")))
    .expect("org")
    .domain;
    let app = run(identity
        .applications(ApplicationScope::Organization(org.clone()))
        .create(
            NewApplication::new("App", ApplicationType::React)
                .expect("app")
                .with(|a| a.allowed_redirect_urls(&[REDIRECT]))
                .expect("urls"),
        ))
    .expect("app");
    let signin = identity.signin(&org);
    let user = run(signin.sign_up(SignUp::new(
        NewUser::new("bench@example.com").expect("email"),
        Password::new(PASSWORD),
    )))
    .expect("sign-up");
    let mail = outbox.last_to(&user.profile.email).expect("mail");
    let code: String = mail
        .body
        .split("code is ")
        .nth(1)
        .expect("code")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    run(signin.confirm_email("bench@example.com", &code, &RequestContext::new())).expect("confirm");
    let key = with_totp.then(|| {
        let enrolment = run(signin.begin_totp_enrolment(user.id)).expect("enrol");
        let secret =
            totp_rs::Secret::try_from_base32(enrolment.secret_base32().expose()).expect("base32");
        let key = TotpKey::new(secret.as_bytes(), TotpAlgorithm::Sha1, DIGITS).expect("key");
        run(signin.confirm_totp_enrolment(
            user.id,
            &key.generate(unix(&clock)),
            &RequestContext::new(),
        ))
        .expect("confirm enrolment");
        key
    });
    let device = DeviceData::new(
        DeviceKind::Browser,
        "{browser:{\"userAgent\":\"bench\"}}",
        "e96dadc9651f5fe8f071110eb174fe8e7a17a9d7a96b3b1980c13e5b4af3a4d7",
    )
    .expect("device");
    let request = SignInRequest {
        login: "bench@example.com".to_owned(),
        password: Password::new(PASSWORD),
        authorization: Authorization {
            client_id: app.application.client_id,
            redirect_uri: REDIRECT.to_owned(),
            code_challenge: CodeChallenge::s256(VERIFIER).expect("challenge"),
            nonce: Some("nonce".to_owned()),
            state: Some("state".to_owned()),
            scope: vec!["openid".to_owned(), "email".to_owned()],
        },
        context: RequestContext::new()
            .client_ip("192.0.2.10".parse().expect("ip"))
            .device(device),
    };
    (
        Setup {
            identity,
            clock,
            org,
            request,
        },
        key,
    )
}

fn unix(clock: &ManualClock) -> u64 {
    u64::try_from(clock.now().unix_timestamp()).unwrap_or_default()
}

fn sign_in_once(s: &Setup) -> bool {
    matches!(
        run(s.identity.signin(&s.org).sign_in(s.request.clone())),
        Ok(SignInStep::Complete(_))
    )
}

fn sign_in_with_totp(s: &Setup, key: &TotpKey) -> bool {
    // Each step is accepted once: move to the next one.
    s.clock.advance(Duration::seconds(30));
    let signin = s.identity.signin(&s.org);
    let Ok(SignInStep::FactorRequired(pending)) = run(signin.sign_in(s.request.clone())) else {
        return false;
    };
    matches!(
        run(signin.complete(
            pending.token.expose(),
            Factor::Totp(key.generate(unix(&s.clock))),
            &s.request.context,
        )),
        Ok(SignInStep::Complete(_))
    )
}

fn default_params(c: &mut Criterion) {
    let params = Argon2Params::default();
    let phc = hash_password(&Password::new(PASSWORD), &params).expect("hash");
    let (s, _) = setup(params, false);
    assert!(
        sign_in_once(&s),
        "the first sign-in succeeds (and remembers the device)"
    );
    let mut g = c.benchmark_group("signin/default");
    g.sample_size(20)
        .measurement_time(StdDuration::from_secs(8))
        .warm_up_time(StdDuration::from_secs(1));
    g.bench_function("argon2id verify (the hash)", |b| {
        b.iter(|| verify_password(black_box(&phc), &Password::new(PASSWORD), &params))
    });
    g.bench_function("sign_in", |b| b.iter(|| sign_in_once(&s)));
    g.finish();
}

fn minimal_hash(c: &mut Criterion) {
    let phc = hash_password(&Password::new(PASSWORD), &MINIMAL).expect("hash");
    let (s, _) = setup(MINIMAL, false);
    assert!(sign_in_once(&s));
    let (t, key) = setup(MINIMAL, true);
    let key = key.expect("totp key");
    assert!(sign_in_with_totp(&t, &key));
    let mut g = c.benchmark_group("signin/minimal-hash");
    g.bench_function("argon2id verify (m=8KiB,t=1)", |b| {
        b.iter(|| verify_password(black_box(&phc), &Password::new(PASSWORD), &MINIMAL))
    });
    g.bench_function("sign_in", |b| b.iter(|| sign_in_once(&s)));
    g.bench_function("sign_in + TOTP", |b| b.iter(|| sign_in_with_totp(&t, &key)));
    g.finish();
}

criterion_group!(benches, default_params, minimal_hash);
criterion_main!(benches);
