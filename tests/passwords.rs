//! Passwords (SECURITY.md 43–44): NIST rules by code point, no truncation, breached and
//! context checks, argon2id and PBKDF2 PHC verification, rehash on sign-in, the offload hook,
//! and unknown user vs wrong password (same answer, same cost).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration as StdDuration, Instant};

use idcore::audit::EventCode;
use idcore::risk::RequestContext;
use idcore::signin::password::{
    Argon2Params, BreachCheckError, BreachFuture, BreachedList, BreachedPasswords, Inline, Job,
    Offload, OffloadFuture, Password, PasswordPolicy, TokioOffload, Verification, hash_password,
    verify_password,
};
use idcore::signin::{LockoutPolicy, SignUp, SigninSettings};
use idcore::store::CredentialStore;
use idcore::{Environment, Error, FieldProblem, NewUser};
use support::*;

async fn try_sign_up(
    f: &Fx,
    email: &str,
    password: &str,
) -> Result<idcore::directory::User, Error> {
    f.identity
        .signin(&f.org)
        .sign_up(SignUp::new(
            NewUser::new(email).unwrap(),
            Password::new(password),
        ))
        .await
}

#[track_caller]
fn assert_password_problem<T: std::fmt::Debug>(result: Result<T, Error>, problem: FieldProblem) {
    match result {
        Err(Error::InvalidField {
            field: "password",
            problem: p,
        }) => assert_eq!(p, problem),
        other => panic!("expected invalid password ({problem}), got {other:?}"),
    }
}

async fn stored_hash(f: &Fx, user: &idcore::directory::User) -> String {
    f.store
        .credentials(Environment::Sandbox, &f.org, user.id)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap()
}

#[tokio::test]
async fn a_long_unicode_password_is_accepted_and_verified_whole() {
    let f = fixture().await;
    // 80 code points, 200+ bytes: well past bcrypt's 72-byte and any 64-character cut.
    let password: String = "ünïcødé 🔐 passphrase — "
        .repeat(4)
        .chars()
        .take(80)
        .collect();
    assert_eq!(password.chars().count(), 80);
    assert!(password.len() > 100);
    f.sign_up("janis@example.com", &password).await;
    let code = f.last_code("janis@example.com");
    f.identity
        .signin(&f.org)
        .confirm_email("janis@example.com", &code, &Default::default())
        .await
        .unwrap();
    expect_complete(f.sign_in("janis@example.com", &password).await);
    // Changing only the last character, or dropping it, fails: nothing was truncated.
    let mut changed: Vec<char> = password.chars().collect();
    changed[79] = 'X';
    let changed: String = changed.into_iter().collect();
    assert_sign_in_failed(f.sign_in("janis@example.com", &changed).await);
    let shorter: String = password.chars().take(79).collect();
    assert_sign_in_failed(f.sign_in("janis@example.com", &shorter).await);
    let first_64: String = password.chars().take(64).collect();
    assert_sign_in_failed(f.sign_in("janis@example.com", &first_64).await);
}

#[tokio::test]
async fn length_is_counted_in_code_points_not_bytes() {
    let f = fixture().await;
    // 8 code points of 4 bytes each: long enough.
    try_sign_up(&f, "a@example.com", "🔐🔑🗝🔒🔓🛡🧷🪪")
        .await
        .unwrap();
    // 7 code points (28 bytes): too short.
    assert_password_problem(
        try_sign_up(&f, "b@example.com", "🔐🔑🗝🔒🔓🛡🧷").await,
        FieldProblem::TooShort { min: 8 },
    );
    // 128 accepted, 129 refused (the default maximum).
    try_sign_up(&f, "c@example.com", &"é".repeat(128))
        .await
        .unwrap();
    assert_password_problem(
        try_sign_up(&f, "d@example.com", &"é".repeat(129)).await,
        FieldProblem::TooLong { max: 128 },
    );
    assert_password_problem(
        try_sign_up(&f, "e@example.com", "").await,
        FieldProblem::Empty,
    );
}

#[tokio::test]
async fn no_composition_rules_apply() {
    let f = fixture().await;
    for (i, pw) in [
        "all lowercase words",
        "ALLUPPERCASE",
        "12345678901",
        "        spaces  ",
    ]
    .iter()
    .enumerate()
    {
        try_sign_up(&f, &format!("u{i}@example.com"), pw)
            .await
            .unwrap_or_else(|e| panic!("{pw:?}: {e}"));
    }
}

#[tokio::test]
async fn the_address_or_username_as_password_is_refused() {
    let f = fixture().await;
    let problem = FieldProblem::Format("must not be the e-mail address or the username");
    assert_password_problem(
        try_sign_up(&f, "janis.joplin@example.com", "Janis.Joplin@example.com").await,
        problem.clone(),
    );
    assert_password_problem(
        try_sign_up(&f, "janis.joplin@example.com", "janis.joplin").await,
        problem.clone(),
    );
    let result = f
        .identity
        .signin(&f.org)
        .sign_up(
            SignUp::new(
                NewUser::new("x@example.com").unwrap(),
                Password::new("pearlofthesixties"),
            )
            .username("PearlOfTheSixties")
            .unwrap(),
        )
        .await;
    assert_password_problem(result, problem);
}

#[tokio::test]
async fn a_breached_password_is_refused() {
    let f = fixture_with(|b| b.breached_passwords(BreachedList::new(["password123"]))).await;
    assert_password_problem(
        try_sign_up(&f, "a@example.com", "password123").await,
        FieldProblem::Format("appears in a list of breached passwords"),
    );
    try_sign_up(&f, "a@example.com", "password1234")
        .await
        .unwrap();
}

struct Unreachable;

#[derive(Debug, thiserror::Error)]
#[error("breach service unreachable")]
struct Timeout;

impl BreachedPasswords for Unreachable {
    fn check<'a>(&'a self, _password: &'a Password) -> BreachFuture<'a> {
        Box::pin(async { Err(BreachCheckError::new(Timeout)) })
    }
}

#[tokio::test]
async fn a_failing_breach_check_refuses_the_password() {
    let f = fixture_with(|b| b.breached_passwords(Unreachable)).await;
    let err = try_sign_up(&f, "a@example.com", PASSWORD)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable("breached-password check")));
    assert_eq!(err.http_status(), 503);
    // Nothing was created.
    assert!(
        f.identity
            .users(&f.org)
            .list(Default::default())
            .await
            .unwrap()
            .data
            .is_empty()
    );
}

#[tokio::test]
async fn new_hashes_are_argon2id_phc_strings_with_the_configured_parameters() {
    let f = fixture().await;
    let user = f.sign_up("janis@example.com", PASSWORD).await;
    let phc = stored_hash(&f, &user).await;
    assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
    let parts: Vec<&str> = phc.split('$').collect();
    assert_eq!(parts.len(), 6);
    assert_eq!(parts[4].len(), 22, "a 128-bit salt");
    assert_eq!(parts[5].len(), 43, "a 256-bit hash");
    assert!(!phc.contains(PASSWORD));
}

#[test]
fn the_default_argon2_parameters_are_owasps() {
    assert_eq!(
        Argon2Params::default(),
        Argon2Params {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1
        }
    );
    assert_eq!(
        PasswordPolicy::default(),
        PasswordPolicy {
            min_length: 8,
            max_length: 128
        }
    );
}

#[test]
fn a_reference_argon2id_phc_string_verifies() {
    // From the argon2 reference implementation's test vectors.
    let phc =
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
    assert_eq!(
        verify_password(phc, &Password::new("password"), &SMALL).unwrap(),
        Verification::MatchNeedsRehash
    );
    assert_eq!(
        verify_password(phc, &Password::new("passwore"), &SMALL).unwrap(),
        Verification::Mismatch
    );
    let current = Argon2Params {
        memory_kib: 256,
        iterations: 2,
        parallelism: 1,
    };
    assert_eq!(
        verify_password(phc, &Password::new("password"), &current).unwrap(),
        Verification::Match
    );
}

#[test]
fn pbkdf2_sha256_imports_verify_in_phc_and_passlib_forms() {
    // Made with Python's hashlib.pbkdf2_hmac.
    let phc = "$pbkdf2-sha256$i=1000,l=32$AAECAwQFBgcICQoLDA0ODw$ppsXnjrdPB4KryJ6DrOqKqhkWrhv7PbKAMF1Eml8cZ4";
    assert_eq!(
        verify_password(phc, &Password::new(PASSWORD), &SMALL).unwrap(),
        Verification::MatchNeedsRehash
    );
    assert_eq!(
        verify_password(phc, &Password::new("wrong"), &SMALL).unwrap(),
        Verification::Mismatch
    );
    let passlib =
        "$pbkdf2-sha256$1200$c2FsdHlzYWx0eXNhbHR5IQ$B6bpo/BkHIGChoPwiir3j164m0DZ1v0XqFQJbLT4oSU";
    assert_eq!(
        verify_password(passlib, &Password::new("pässwörd ünïcode ✓"), &SMALL).unwrap(),
        Verification::MatchNeedsRehash
    );
}

#[test]
fn malformed_or_unbounded_stored_hashes_are_refused_naming_the_field() {
    for bad in [
        "",
        "plaintext",
        "$md5$abc",
        "$argon2id$v=19$m=64,t=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=64,t=1,p=1,x=2$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=20$m=64,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=99999999,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=64,t=1,p=1$c29t$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$!!!",
        "$pbkdf2-sha256$i=0$AAECAwQFBgcICQoLDA0ODw$ppsXnjrdPB4KryJ6DrOqKqhkWrhv7PbKAMF1Eml8cZ4",
        "$pbkdf2-sha256$i=100000000$AAECAwQFBgcICQoLDA0ODw$ppsXnjrdPB4KryJ6DrOqKqhkWrhv7PbKAMF1Eml8cZ4",
        "$pbkdf2-sha256$i=1000,l=16$AAECAwQFBgcICQoLDA0ODw$ppsXnjrdPB4KryJ6DrOqKqhkWrhv7PbKAMF1Eml8cZ4",
    ] {
        match verify_password(bad, &Password::new("x"), &SMALL) {
            Err(Error::InvalidField {
                field: "password_hash",
                ..
            }) => {}
            other => panic!("{bad:?}: expected invalid password_hash, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_imported_pbkdf2_hash_is_replaced_by_argon2id_at_sign_in() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let signin = f.identity.signin(&f.org);
    signin
        .import_password_hash(
            user.id,
            "$pbkdf2-sha256$i=1000,l=32$AAECAwQFBgcICQoLDA0ODw$ppsXnjrdPB4KryJ6DrOqKqhkWrhv7PbKAMF1Eml8cZ4",
        )
        .await
        .unwrap();
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    let phc = stored_hash(&f, &user).await;
    assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
    assert_eq!(f.events(EventCode::PASSWORD_REHASHED).await.len(), 1);
    // Still the same password, now under argon2id.
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    assert_eq!(f.events(EventCode::PASSWORD_REHASHED).await.len(), 1);
}

#[tokio::test]
async fn weak_stored_argon2_parameters_are_rehashed_on_sign_in() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let weak = Argon2Params {
        memory_kib: 32,
        iterations: 1,
        parallelism: 1,
    };
    let old = hash_password(&Password::new(PASSWORD), &weak).unwrap();
    f.identity
        .signin(&f.org)
        .import_password_hash(user.id, &old)
        .await
        .unwrap();
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    let phc = stored_hash(&f, &user).await;
    assert_ne!(phc, old);
    assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
}

#[tokio::test]
async fn a_malformed_import_is_refused() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let err = f
        .identity
        .signin(&f.org)
        .import_password_hash(user.id, "$sha1$deadbeef")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidField {
            field: "password_hash",
            ..
        }
    ));
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let f = fixture().await;
    f.active_user("janis@example.com").await;
    let unknown = f.sign_in("nobody@example.com", PASSWORD).await.unwrap_err();
    let wrong = f.sign_in("janis@example.com", "not it").await.unwrap_err();
    let no_username = f.sign_in("nobody", PASSWORD).await.unwrap_err();
    for err in [&unknown, &wrong, &no_username] {
        assert!(matches!(err, Error::SignInFailed));
        assert_eq!(err.code(), "access_denied");
        assert_eq!(err.http_status(), 401);
        assert_eq!(err.to_string(), "sign-in failed");
    }
    assert_eq!(
        f.reasons(EventCode::SIGN_IN_FAILED).await,
        ["unknown login", "wrong password", "unknown login"]
    );
}

fn median(mut v: Vec<StdDuration>) -> StdDuration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test]
async fn unknown_user_costs_a_password_hash_like_a_wrong_password() {
    // Parameters heavy enough that the hash dominates (a few ms optimized); lockout out of the
    // way. Medians of interleaved samples, a generous tolerance: without the dummy hash an
    // unknown user would answer 10–100× faster.
    let f = fixture_with(|b| {
        b.signin_settings(SigninSettings {
            argon2: Argon2Params {
                memory_kib: 4096,
                iterations: 1,
                parallelism: 1,
            },
            lockout: LockoutPolicy {
                user_threshold: 100,
                ip_threshold: 1000,
                ..LockoutPolicy::default()
            },
            ..settings()
        })
    })
    .await;
    f.active_user("janis@example.com").await;
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for i in 0..31 {
        let t = Instant::now();
        let _ = f.sign_in(&format!("nobody{i}@example.com"), "not it").await;
        unknown.push(t.elapsed());
        let t = Instant::now();
        let _ = f.sign_in("janis@example.com", "not it").await;
        wrong.push(t.elapsed());
    }
    let (u, w) = (median(unknown), median(wrong));
    let ratio = u.as_secs_f64() / w.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "unknown user median {u:?} vs wrong password median {w:?} (ratio {ratio:.2})"
    );
}

/// Counts the jobs it runs inline.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl Offload for Counting {
    fn run(&self, job: Job) -> OffloadFuture {
        self.0.fetch_add(1, Ordering::SeqCst);
        Inline.run(job)
    }
}

#[tokio::test]
async fn every_hash_goes_through_the_offload_hook() {
    let counting = Counting::default();
    let jobs = counting.0.clone();
    let f = fixture_with(move |b| b.password_offload(counting)).await;
    f.active_user("janis@example.com").await; // one hash
    assert_eq!(jobs.load(Ordering::SeqCst), 1);
    let _ = f.sign_in("janis@example.com", PASSWORD).await; // one verification
    let _ = f.sign_in("nobody@example.com", PASSWORD).await; // one dummy
    assert_eq!(jobs.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tokio_offload_hashes_on_the_blocking_pool() {
    let f = fixture_with(|b| b.password_offload(TokioOffload)).await;
    f.active_user("janis@example.com").await;
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
    assert_sign_in_failed(f.sign_in("janis@example.com", "not it").await);
}

/// An offload whose pool is gone.
struct Gone;

impl Offload for Gone {
    fn run(&self, _job: Job) -> OffloadFuture {
        Box::pin(async { Err(idcore::signin::password::OffloadError::new("pool closed")) })
    }
}

#[tokio::test]
async fn a_failing_offload_fails_closed() {
    let f = fixture_with(|b| b.password_offload(Gone)).await;
    let err = try_sign_up(&f, "a@example.com", PASSWORD)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)));
    let events = f.events(EventCode::PASSWORD_HASHING_UNAVAILABLE).await;
    assert_eq!(events.len(), 1, "the failed hash is audited once");
    assert_eq!(events[0].tenant_domain.as_ref(), Some(&f.org));
    assert_eq!(
        events[0].details.get("operation").map(String::as_str),
        Some("hash")
    );
}

/// An offload that fails while `failing` is set, and runs jobs inline otherwise.
#[derive(Clone, Default)]
struct Flaky(Arc<std::sync::atomic::AtomicBool>);

impl Offload for Flaky {
    fn run(&self, job: Job) -> OffloadFuture {
        if self.0.load(Ordering::SeqCst) {
            Box::pin(async { Err(idcore::signin::password::OffloadError::new("pool closed")) })
        } else {
            Inline.run(job)
        }
    }
}

#[tokio::test]
async fn sign_ins_the_offload_could_not_check_do_not_count_toward_lockout() {
    let flaky = Flaky::default();
    let failing = flaky.0.clone();
    let f = fixture_with(move |b| b.password_offload(flaky)).await;
    let user = f.active_user("janis@example.com").await;
    let signin = f.identity.signin(&f.org);
    failing.store(true, Ordering::SeqCst);
    // Twice the lockout threshold (5), on both a known and an unknown login: nothing was
    // checked, so nothing may be counted against the account or the address.
    for _ in 0..10 {
        let known = f.sign_in("janis@example.com", "not it").await;
        assert!(matches!(known, Err(Error::Unavailable(_))), "{known:?}");
        let unknown = f.sign_in("nobody@example.com", "not it").await;
        assert!(matches!(unknown, Err(Error::Unavailable(_))), "{unknown:?}");
        let change = signin
            .change_password(
                user.id,
                &Password::new("not it"),
                &Password::new("a completely new passphrase"),
                &RequestContext::new(),
            )
            .await;
        assert!(matches!(change, Err(Error::Unavailable(_))), "{change:?}");
    }
    // Each refused check is audited: 10 × (known sign-in, unknown sign-in, password change).
    let events = f.events(EventCode::PASSWORD_HASHING_UNAVAILABLE).await;
    assert_eq!(events.len(), 30);
    assert!(
        events
            .iter()
            .all(|e| e.details.get("operation").map(String::as_str) == Some("verify")),
        "a known and an unknown login leave the same event"
    );
    failing.store(false, Ordering::SeqCst);
    expect_complete(f.sign_in("janis@example.com", PASSWORD).await);
}

#[test]
fn password_debug_is_redacted() {
    assert_eq!(
        format!("{:?}", Password::new("hunter22")),
        "Password([redacted])"
    );
}

/// "Café au lait, s’il vous plaît" with the é decomposed (NFD, as macOS keyboards may send it).
const DECOMPOSED: &str = "Cafe\u{301} au lait, s\u{2019}il vous plai\u{302}t";
/// The same password composed (NFC, as most keyboards send it).
const COMPOSED: &str = "Caf\u{e9} au lait, s\u{2019}il vous pla\u{ee}t";
/// The same again with a no-break space, which NFKC maps to U+0020.
const NO_BREAK: &str = "Caf\u{e9}\u{a0}au lait, s\u{2019}il vous pla\u{ee}t";

#[tokio::test]
async fn a_password_is_the_same_password_in_any_unicode_form() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let signin = f.identity.signin(&f.org);
    signin
        .set_password(user.id, &Password::new(DECOMPOSED))
        .await
        .unwrap();
    // The hash is of the normalized form (NFKC).
    let phc = stored_hash(&f, &user).await;
    assert_eq!(
        verify_password(&phc, &Password::new(COMPOSED), &SMALL).unwrap(),
        Verification::Match
    );
    assert_eq!(Password::new(DECOMPOSED).normalized(), COMPOSED);
    assert_eq!(
        Password::new(NO_BREAK).normalized(),
        COMPOSED.replace('\u{a0}', " ")
    );
    for typed in [
        COMPOSED,
        DECOMPOSED,
        NO_BREAK,
        "Ｃａｆé au lait, s’il vous plaît",
    ] {
        expect_complete(f.sign_in("janis@example.com", typed).await);
    }
    assert_sign_in_failed(
        f.sign_in("janis@example.com", "Cafe au lait, s’il vous plaît")
            .await,
    );
    assert!(f.events(EventCode::PASSWORD_REHASHED).await.is_empty());
}

#[tokio::test]
async fn the_length_rules_count_the_normalized_password() {
    let f = fixture().await;
    // 8 code points as typed, 7 once "e" and the combining accent compose into "é".
    assert_password_problem(
        try_sign_up(&f, "a@example.com", "e\u{301}abcdef").await,
        FieldProblem::TooShort { min: 8 },
    );
    // 129 code points as typed, 128 normalized: accepted, and it signs in.
    let long = format!("{}e\u{301}", "é".repeat(127));
    assert_eq!(long.chars().count(), 129);
    let user = try_sign_up(&f, "b@example.com", &long).await.unwrap();
    let code = f.last_code("b@example.com");
    f.identity
        .signin(&f.org)
        .confirm_email("b@example.com", &code, &RequestContext::new())
        .await
        .unwrap();
    expect_complete(f.sign_in("b@example.com", &long).await);
    assert_eq!(user.profile.email.as_str(), "b@example.com");
}

#[tokio::test]
async fn a_hash_of_the_password_as_typed_still_verifies_once_and_is_replaced() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    // Made with Python's hashlib.pbkdf2_hmac over the NFD bytes, as a system that did not
    // normalize would have stored it.
    f.identity
        .signin(&f.org)
        .import_password_hash(
            user.id,
            "$pbkdf2-sha256$i=1000,l=32$AAECAwQFBgcICQoLDA0ODw$tRTAd3HuYW7P56MB5s2oLtRCs1bkbtrw44677y3CR7k",
        )
        .await
        .unwrap();
    let old = stored_hash(&f, &user).await;
    assert_eq!(
        verify_password(&old, &Password::new(DECOMPOSED), &SMALL).unwrap(),
        Verification::MatchNeedsRehash
    );
    // Typed in another form than the one hashed then: not the same bytes, refused.
    assert_sign_in_failed(f.sign_in("janis@example.com", COMPOSED).await);
    // Typed as then: the fallback matches, and the hash is replaced by the normalized one.
    expect_complete(f.sign_in("janis@example.com", DECOMPOSED).await);
    assert_eq!(f.events(EventCode::PASSWORD_REHASHED).await.len(), 1);
    let new = stored_hash(&f, &user).await;
    assert!(new.starts_with("$argon2id$"), "{new}");
    // Now every form signs in, and nothing is rehashed again.
    expect_complete(f.sign_in("janis@example.com", COMPOSED).await);
    expect_complete(f.sign_in("janis@example.com", DECOMPOSED).await);
    assert_eq!(f.events(EventCode::PASSWORD_REHASHED).await.len(), 1);
}
