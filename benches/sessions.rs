//! Crowd-style sessions on the memory store (issue 12 targets): a session validation costs at
//! most 2 µs median and writes at most once per session per touch interval; opening a session
//! adds at most 5 % to the password hash.
//!
//! - `sessions/validate`: validating a live session whose last write is recent (the common
//!   case: no write), one that writes every time (`touch_interval` 0, for comparison), and a
//!   `get`; beside them the raw SHA-256 of a token (the lookup digest) as the primitive.
//! - `sessions/open-default`: the raw argon2id verification at the default parameters (m = 19
//!   MiB, t = 2) and opening a session at those parameters (each from a new device, so each
//!   opens a session rather than reusing one).
//! - `sessions/open-minimal-hash`: the same with the cheapest argon2id, so the rest stands out.
//!
//! Run with `cargo bench --bench sessions`. Futures are driven by a minimal poll loop (the
//! memory store and the inline offload never wait), so no executor overhead is measured.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration as StdDuration;

use criterion::{Criterion, criterion_group, criterion_main};
use idcore::clock::ManualClock;
use idcore::directory::OrgDomain;
use idcore::risk::RequestContext;
use idcore::secret::Digest;
use idcore::sessions::{
    Authenticate, SessionSettings, SessionStep, ValidationFactor, ValidationFactors,
};
use idcore::signin::password::{Argon2Params, Password, hash_password, verify_password};
use idcore::signin::{SignUp, SigninSettings};
use idcore::tokens::keys::EncryptionKey;
use idcore::{Identity, MemoryStore, NewOrganization, NewUser};
use time::Duration;
use time::macros::datetime;

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
    org: OrgDomain,
}

fn setup(argon2: Argon2Params, sessions: SessionSettings) -> Setup {
    let clock = ManualClock::new(datetime!(2026-06-01 12:00 UTC));
    let outbox = idcore::mail::MemoryOutbox::new();
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .clock(clock)
        .mailer(outbox.clone())
        .key_encryption_key(EncryptionKey::from_bytes(&[1; 32]).expect("a 32-byte key"))
        .signin_settings(SigninSettings {
            argon2,
            ..SigninSettings::default()
        })
        .session_settings(sessions)
        .store(MemoryStore::new())
        .build()
        .expect("identity");
    let org = run(identity
        .organizations()
        .create(NewOrganization::new("Bench").expect("name")))
    .expect("org")
    .domain;
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
    Setup { identity, org }
}

fn device(n: u32) -> ValidationFactors {
    ValidationFactors::parse(vec![
        ValidationFactor {
            name: "remote_address".to_owned(),
            value: format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
        },
        ValidationFactor {
            name: "User-Agent".to_owned(),
            value: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
                .to_owned(),
        },
    ])
    .expect("factors")
}

/// Opens a session from device `n`.
fn open(s: &Setup, n: u32) -> String {
    let step = run(s.identity.sessions(&s.org).authenticate(Authenticate {
        login: "bench@example.com".to_owned(),
        password: Password::new(PASSWORD),
        factors: device(n),
        duration: None,
        context: RequestContext::new(),
    }));
    match step {
        Ok(SessionStep::Opened(session)) => session.token.expose().to_owned(),
        other => panic!("a session opens: {other:?}"),
    }
}

fn validate(c: &mut Criterion) {
    let quiet = setup(MINIMAL, SessionSettings::default());
    let token = open(&quiet, 0);
    let factors = device(0);
    let every = setup(
        MINIMAL,
        SessionSettings {
            touch_interval: Duration::ZERO,
            ..SessionSettings::default()
        },
    );
    let every_token = open(&every, 0);
    let mut g = c.benchmark_group("sessions/validate");
    g.bench_function("sha-256 of a token (the primitive)", |b| {
        b.iter(|| Digest::of(black_box(token.as_bytes())))
    });
    g.bench_function("validate (written within the interval: no write)", |b| {
        let sessions = quiet.identity.sessions(&quiet.org);
        b.iter(|| run(sessions.validate(black_box(&token), &factors)).expect("valid"))
    });
    g.bench_function("validate (a write every time)", |b| {
        let sessions = every.identity.sessions(&every.org);
        b.iter(|| run(sessions.validate(black_box(&every_token), &factors)).expect("valid"))
    });
    g.bench_function("get", |b| {
        let sessions = quiet.identity.sessions(&quiet.org);
        b.iter(|| run(sessions.get(black_box(&token), &factors)).expect("valid"))
    });
    g.finish();
}

fn open_against_the_hash(c: &mut Criterion, name: &str, params: Argon2Params, samples: usize) {
    let phc = hash_password(&Password::new(PASSWORD), &params).expect("hash");
    let s = setup(params, SessionSettings::default());
    let next = AtomicU32::new(1);
    let mut g = c.benchmark_group(name);
    g.sample_size(samples)
        .measurement_time(StdDuration::from_secs(8))
        .warm_up_time(StdDuration::from_secs(1));
    g.bench_function("argon2id verify (the hash)", |b| {
        b.iter(|| verify_password(black_box(&phc), &Password::new(PASSWORD), &params))
    });
    g.bench_function("open a session", |b| {
        b.iter(|| open(&s, next.fetch_add(1, Ordering::Relaxed)))
    });
    g.finish();
}

fn open_default(c: &mut Criterion) {
    open_against_the_hash(c, "sessions/open-default", Argon2Params::default(), 20);
}

fn open_minimal(c: &mut Criterion) {
    open_against_the_hash(c, "sessions/open-minimal-hash", MINIMAL, 50);
}

criterion_group!(benches, validate, open_minimal, open_default);
criterion_main!(benches);
