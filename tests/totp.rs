//! TOTP (RFC 6238): the Appendix B vectors, the ±1 step window, replay protection and
//! concurrent submissions (SECURITY.md 39–41).

mod support;

use idcore::audit::EventCode;
use idcore::signin::totp::{TotpAlgorithm, TotpKey, step_of};
use idcore::signin::{Factor, SignInStep};
use support::*;
use time::Duration;

const SHA1_SECRET: &[u8] = b"12345678901234567890";
const SHA256_SECRET: &[u8] = b"12345678901234567890123456789012";
const SHA512_SECRET: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

/// RFC 6238 Appendix B: (time, code, algorithm).
const VECTORS: [(u64, &str, TotpAlgorithm); 18] = [
    (59, "94287082", TotpAlgorithm::Sha1),
    (59, "46119246", TotpAlgorithm::Sha256),
    (59, "90693936", TotpAlgorithm::Sha512),
    (1111111109, "07081804", TotpAlgorithm::Sha1),
    (1111111109, "68084774", TotpAlgorithm::Sha256),
    (1111111109, "25091201", TotpAlgorithm::Sha512),
    (1111111111, "14050471", TotpAlgorithm::Sha1),
    (1111111111, "67062674", TotpAlgorithm::Sha256),
    (1111111111, "99943326", TotpAlgorithm::Sha512),
    (1234567890, "89005924", TotpAlgorithm::Sha1),
    (1234567890, "91819424", TotpAlgorithm::Sha256),
    (1234567890, "93441116", TotpAlgorithm::Sha512),
    (2000000000, "69279037", TotpAlgorithm::Sha1),
    (2000000000, "90698825", TotpAlgorithm::Sha256),
    (2000000000, "38618901", TotpAlgorithm::Sha512),
    (20000000000, "65353130", TotpAlgorithm::Sha1),
    (20000000000, "77737706", TotpAlgorithm::Sha256),
    (20000000000, "47863826", TotpAlgorithm::Sha512),
];

fn rfc_key(alg: TotpAlgorithm) -> TotpKey {
    let secret = match alg {
        TotpAlgorithm::Sha1 => SHA1_SECRET,
        TotpAlgorithm::Sha256 => SHA256_SECRET,
        TotpAlgorithm::Sha512 => SHA512_SECRET,
    };
    TotpKey::new(secret, alg, 8).unwrap()
}

#[test]
fn all_18_rfc6238_appendix_b_vectors_reproduce() {
    for (time, code, alg) in VECTORS {
        let key = rfc_key(alg);
        assert_eq!(key.generate(time), code, "{alg:?} at T = {time}");
        assert_eq!(
            key.matching_step(code, time),
            Some(step_of(time)),
            "{alg:?} at T = {time} is accepted in its own step"
        );
    }
}

#[test]
fn the_leading_zero_vector_and_times_beyond_2_pow_32_seconds_reproduce() {
    let sha1 = rfc_key(TotpAlgorithm::Sha1);
    assert_eq!(sha1.generate(1111111109), "07081804");
    let beyond = 20_000_000_000u64;
    assert!(beyond > u64::from(u32::MAX));
    assert_eq!(sha1.generate(beyond), "65353130");
    assert_eq!(step_of(beyond), 0x27BC86AA);
}

#[test]
fn one_step_either_side_is_accepted_two_are_not() {
    let key = rfc_key(TotpAlgorithm::Sha1);
    let now = 1_234_567_890u64;
    let step = step_of(now);
    assert_eq!(
        key.matching_step(&key.generate(now - 30), now),
        Some(step - 1)
    );
    assert_eq!(
        key.matching_step(&key.generate(now + 30), now),
        Some(step + 1)
    );
    assert_eq!(key.matching_step(&key.generate(now - 60), now), None);
    assert_eq!(key.matching_step(&key.generate(now + 60), now), None);
}

#[test]
fn times_past_the_year_9999_match_nothing_and_do_not_overflow() {
    // Found by the TOTP fuzz target: totp-rs overflowed multiplying steps near u64::MAX.
    let key = rfc_key(TotpAlgorithm::Sha1);
    let last = 253_402_300_799u64; // 9999-12-31T23:59:59Z
    assert_eq!(
        key.matching_step(&key.generate(last), last),
        Some(step_of(last))
    );
    for time in [last + 1, u64::MAX / 30 * 30, u64::MAX - 1, u64::MAX] {
        let code = key.generate(time);
        assert_eq!(key.matching_step(&code, time), None, "T = {time}");
    }
}

#[test]
fn malformed_codes_match_nothing() {
    let key = rfc_key(TotpAlgorithm::Sha1);
    let now = 59;
    for bad in [
        "",
        "9428708",
        "942870822",
        "+4287082",
        "9428708a",
        "９４２８７０８２",
    ] {
        assert_eq!(key.matching_step(bad, now), None, "{bad:?}");
    }
}

#[test]
fn secrets_shorter_than_128_bits_are_refused() {
    let err = TotpKey::new(&[0; 15], TotpAlgorithm::Sha1, 6).unwrap_err();
    assert!(matches!(
        err,
        idcore::Error::InvalidField {
            field: "totp.secret",
            ..
        }
    ));
}

#[tokio::test]
async fn a_totp_code_is_accepted_once() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let code = key.generate(f.unix());
    let first = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    expect_complete(f.complete(&first, Factor::Totp(code.clone())).await);
    let second = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_sign_in_failed(f.complete(&second, Factor::Totp(code)).await);
    assert_eq!(
        f.reasons(EventCode::MFA_FAILED).await,
        ["TOTP code replayed or older than the last accepted one"]
    );
}

#[tokio::test]
async fn a_code_of_an_older_step_than_the_last_accepted_is_refused() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let now = f.unix();
    // The app's clock runs 30 s ahead: its code of the next step is accepted…
    let first = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    expect_complete(
        f.complete(&first, Factor::Totp(key.generate(now + 30)))
            .await,
    );
    // …after which the current step's (still in the window) is older, and refused.
    let second = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    assert_sign_in_failed(f.complete(&second, Factor::Totp(key.generate(now))).await);
    // The step after the accepted one is fine.
    f.clock.advance(Duration::seconds(30));
    expect_complete(
        f.complete(&second, Factor::Totp(key.generate(f.unix() + 30)))
            .await,
    );
}

#[tokio::test]
async fn codes_one_step_away_pass_sign_in_and_two_steps_away_do_not() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    // Well past the enrolment's step, so the step before now was never accepted.
    f.clock.advance(Duration::minutes(2));
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    let now = f.unix();
    assert_sign_in_failed(
        f.complete(&pending, Factor::Totp(key.generate(now - 60)))
            .await,
    );
    assert_sign_in_failed(
        f.complete(&pending, Factor::Totp(key.generate(now + 60)))
            .await,
    );
    expect_complete(
        f.complete(&pending, Factor::Totp(key.generate(now - 30)))
            .await,
    );
    let pending = expect_pending(f.sign_in("janis@example.com", PASSWORD).await);
    expect_complete(
        f.complete(&pending, Factor::Totp(key.generate(now + 30)))
            .await,
    );
    assert_eq!(
        f.reasons(EventCode::MFA_FAILED).await,
        ["wrong TOTP code", "wrong TOTP code"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_submissions_of_one_code_one_is_accepted() {
    let f = fixture().await;
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let code = key.generate(f.unix());
    // Two pending sign-ins (two browsers), the same code submitted to both at once.
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_submissions_to_one_pending_sign_in_complete_it_once() {
    let f = std::sync::Arc::new(fixture().await);
    let user = f.active_user("janis@example.com").await;
    let (key, _) = f.enrol(&user).await;
    let pending = std::sync::Arc::new(expect_pending(
        f.sign_in("janis@example.com", PASSWORD).await,
    ));
    let code = key.generate(f.unix());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (f, pending, code) = (f.clone(), pending.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            f.complete(&pending, Factor::Totp(code)).await
        }));
    }
    let mut completed = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Ok(SignInStep::Complete(_))) {
            completed += 1;
        }
    }
    assert_eq!(completed, 1);
    assert_eq!(f.events(EventCode::SIGN_IN_SUCCEEDED).await.len(), 1);
}
