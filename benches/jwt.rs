//! The JWS layer against the raw ring primitive, in one run (issue 3's performance targets):
//!
//! - `verify/<alg>`: `ring_raw` verifies a fixed signature with `UnparsedPublicKey` — the
//!   floor; `idcore_decode_verify` is `jws::decode` + `jws::verify` of the token carrying that
//!   same signature (target ≤ 1.05×); `idcore_decode_verify_parse` adds
//!   `parse_object_strict` of the claims, for scale.
//! - `issue/<alg>`: `ring_raw_sign_x2` signs an access-token and an ID-token signing input with
//!   key pairs ring parsed once — the floor; `idcore_encode_access_and_id` encodes both tokens
//!   from their claims JSON (target ≤ 1.10×).
//!
//! Run `cargo bench --bench jwt`; ratios are the `idcore_*` time over the `ring_raw*` time of
//! the same group. After criterion's groups, an interleaved report measures the same pairs by
//! alternating short batches and keeping each side's fastest, which stays meaningful on a
//! machine shared with other work (criterion's means do not).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use idcore::tokens::jws::{self, Header, base64url_decode, parse_object_strict};
use idcore::tokens::keys::{Algorithm, KeyPair, half_hash};
use ring::rand::SystemRandom;
use ring::signature::{self, UnparsedPublicKey};
use serde_json::json;

const RSA_2048_PKCS8: &[u8] = include_bytes!("../tests/data/rsa2048.pk8.der");

/// The seed's access-token claim set (Cryptr), at a realistic size.
fn access_claims() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "iss": "https://auth.example.com/t/blue-shark-enterprise",
        "sub": "0a8e6a1c-7f2c-4ad4-8a0c-93d1c1b2e6f0",
        "aud": "https://api.blue-shark.example.com",
        "cid": "6f4a4e0c-2a36-4a5b-9b5e-2c0c1b1f8f3a",
        "dbs": "production",
        "exp": 1_767_225_600u64,
        "iat": 1_767_222_000u64,
        "nbf": 1_767_222_000u64,
        "jti": "01937d2c-5d1e-7c7a-9f3e-6a1b2c3d4e5f",
        "jtt": "access",
        "scp": ["openid", "email", "profile", "read:invoices"],
        "tnt": "blue-shark-enterprise",
        "ver": 1,
        "uid": "0a8e6a1c-7f2c-4ad4-8a0c-93d1c1b2e6f0",
        "auth_time": 1_767_221_990u64,
    }))
    .expect("static claims serialize")
}

/// The seed's ID-token claim set with profile claims.
fn id_claims(alg: Algorithm) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "iss": "https://auth.example.com/t/blue-shark-enterprise",
        "sub": "0a8e6a1c-7f2c-4ad4-8a0c-93d1c1b2e6f0",
        "aud": "6f4a4e0c-2a36-4a5b-9b5e-2c0c1b1f8f3a",
        "cid": "6f4a4e0c-2a36-4a5b-9b5e-2c0c1b1f8f3a",
        "dbs": "production",
        "exp": 1_767_225_600u64,
        "iat": 1_767_222_000u64,
        "nbf": 1_767_222_000u64,
        "jti": "01937d2c-5d1e-7c7a-9f3e-6a1b2c3d4e60",
        "jtt": "openid",
        "tnt": "blue-shark-enterprise",
        "ver": 1,
        "auth_time": 1_767_221_990u64,
        "nonce": "n-0S6_WzA2Mj",
        "at_hash": half_hash(alg, b"access-token"),
        "c_hash": half_hash(alg, b"authorization-code"),
        "email": "jane.doe@blue-shark.example.com",
        "email_verified": true,
        "given_name": "Jane",
        "family_name": "Doe",
        "name": "Jane Doe",
        "locale": "en-GB",
        "zoneinfo": "Europe/London",
    }))
    .expect("static claims serialize")
}

enum RawSigner {
    Ecdsa(signature::EcdsaKeyPair),
    Ed25519(signature::Ed25519KeyPair),
    Rsa(signature::RsaKeyPair),
}

impl RawSigner {
    fn new(alg: Algorithm, pkcs8: &[u8]) -> Self {
        match alg {
            Algorithm::Es256 => Self::Ecdsa(
                signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8,
                    &SystemRandom::new(),
                )
                .expect("valid key"),
            ),
            Algorithm::EdDsa => Self::Ed25519(
                signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).expect("valid key"),
            ),
            Algorithm::Rs256 | Algorithm::Ps256 => {
                Self::Rsa(signature::RsaKeyPair::from_pkcs8(pkcs8).expect("valid key"))
            }
        }
    }

    fn sign(&self, rng: &SystemRandom, msg: &[u8], rsa_buf: &mut [u8]) -> usize {
        match self {
            Self::Ecdsa(pair) => pair.sign(rng, msg).expect("signs").as_ref().len(),
            Self::Ed25519(pair) => pair.sign(msg).as_ref().len(),
            Self::Rsa(pair) => {
                pair.sign(&signature::RSA_PKCS1_SHA256, rng, msg, rsa_buf)
                    .expect("signs");
                rsa_buf.len()
            }
        }
    }
}

fn jwt(c: &mut Criterion) {
    for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
        let key = match alg {
            Algorithm::Rs256 => KeyPair::from_pkcs8(alg, RSA_2048_PKCS8).expect("test key"),
            _ => KeyPair::generate(alg).expect("generated"),
        };
        let public = key.public_key().clone();
        let access = access_claims();
        let id = id_claims(alg);
        let access_header = Header::for_key(&key).with_typ("at+jwt");
        let id_header = Header::for_key(&key).with_typ("JWT");

        let token = jws::encode(&access_header, &access, &key).expect("encodes");
        let (signing_input, sig) = token.rsplit_once('.').expect("three segments");
        let sig = base64url_decode(sig).expect("base64url");
        let id_token = jws::encode(&id_header, &id, &key).expect("encodes");
        let (id_input, _) = id_token.rsplit_once('.').expect("three segments");

        let mut group = c.benchmark_group(format!("verify/{alg}"));
        group.bench_function("ring_raw", |b| {
            b.iter(|| {
                UnparsedPublicKey::new(public_verification(alg), black_box(public.bytes()))
                    .verify(black_box(signing_input.as_bytes()), black_box(&sig))
                    .expect("verifies")
            })
        });
        group.bench_function("idcore_decode_verify", |b| {
            b.iter(|| {
                let decoded = jws::decode(black_box(&token)).expect("decodes");
                jws::verify(&decoded, &public).expect("verifies");
                decoded
            })
        });
        group.bench_function("idcore_decode_verify_parse", |b| {
            b.iter(|| {
                let decoded = jws::decode(black_box(&token)).expect("decodes");
                jws::verify(&decoded, &public).expect("verifies");
                parse_object_strict(decoded.payload()).expect("claims")
            })
        });
        group.finish();

        let raw = RawSigner::new(alg, key.pkcs8());
        let rng = SystemRandom::new();
        let mut rsa_buf = vec![0u8; 256];
        let mut group = c.benchmark_group(format!("issue/{alg}"));
        group.bench_function("ring_raw_sign_x2", |b| {
            b.iter(|| {
                raw.sign(&rng, black_box(signing_input.as_bytes()), &mut rsa_buf)
                    + raw.sign(&rng, black_box(id_input.as_bytes()), &mut rsa_buf)
            })
        });
        group.bench_function("idcore_encode_access_and_id", |b| {
            b.iter(|| {
                (
                    jws::encode(&access_header, black_box(&access), &key).expect("encodes"),
                    jws::encode(&id_header, black_box(&id), &key).expect("encodes"),
                )
            })
        });
        group.finish();
    }
}

fn public_verification(alg: Algorithm) -> &'static dyn signature::VerificationAlgorithm {
    match alg {
        Algorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::EdDsa => &signature::ED25519,
        Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4));
    targets = jwt
}

/// Criterion's groups, then the interleaved ratio report.
fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let listing = std::env::args().any(|a| a == "--list" || a == "--test");
    if !listing {
        interleaved_report();
    }
}

/// Ratios measured by alternating short batches of the floor and of idcore, keeping each side's
/// fastest batch: on a shared machine, other processes slow batches down but never speed them
/// up, so the minima compare the two sides under the same (least) interference.
fn interleaved_report() {
    println!("\ninterleaved minimum-of-batches (ns per operation; ratio = idcore / ring floor)");
    for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
        let key = match alg {
            Algorithm::Rs256 => KeyPair::from_pkcs8(alg, RSA_2048_PKCS8).expect("test key"),
            _ => KeyPair::generate(alg).expect("generated"),
        };
        let public = key.public_key().clone();
        let access = access_claims();
        let id = id_claims(alg);
        let access_header = Header::for_key(&key).with_typ("at+jwt");
        let id_header = Header::for_key(&key).with_typ("JWT");
        let token = jws::encode(&access_header, &access, &key).expect("encodes");
        let (signing_input, sig) = token.rsplit_once('.').expect("three segments");
        let sig = base64url_decode(sig).expect("base64url");
        let id_token = jws::encode(&id_header, &id, &key).expect("encodes");
        let (id_input, _) = id_token.rsplit_once('.').expect("three segments");

        let (raw, ours) = interleaved(
            200,
            || {
                UnparsedPublicKey::new(public_verification(alg), black_box(public.bytes()))
                    .verify(black_box(signing_input.as_bytes()), black_box(&sig))
                    .expect("verifies");
            },
            || {
                let decoded = jws::decode(black_box(&token)).expect("decodes");
                jws::verify(&decoded, &public).expect("verifies");
            },
        );
        let decode_only = fastest(2000, 200, || {
            black_box(jws::decode(black_box(&token)).expect("decodes"));
        });
        println!(
            "verify/{alg}: ring {raw:.0}  idcore decode+verify {ours:.0}  ratio {:.3}  \
             (decode alone {decode_only:.0}, token {} bytes)",
            ours / raw,
            token.len()
        );

        let raw_signer = RawSigner::new(alg, key.pkcs8());
        let rng = SystemRandom::new();
        let mut rsa_buf = vec![0u8; 256];
        let rounds = if alg == Algorithm::Rs256 { 60 } else { 200 };
        let (raw, ours) = interleaved(
            rounds,
            || {
                black_box(
                    raw_signer.sign(&rng, black_box(signing_input.as_bytes()), &mut rsa_buf)
                        + raw_signer.sign(&rng, black_box(id_input.as_bytes()), &mut rsa_buf),
                );
            },
            || {
                black_box((
                    jws::encode(&access_header, black_box(&access), &key).expect("encodes"),
                    jws::encode(&id_header, black_box(&id), &key).expect("encodes"),
                ));
            },
        );
        println!(
            "issue/{alg}: ring sign x2 {raw:.0}  idcore access+ID {ours:.0}  ratio {:.3}",
            ours / raw
        );
    }
}

/// Alternates `rounds` batches of `floor` and `ours`; returns each side's fastest batch, in ns
/// per call. Batches last roughly 100 µs–1 ms.
fn interleaved(rounds: u32, mut floor: impl FnMut(), mut ours: impl FnMut()) -> (f64, f64) {
    let probe = Instant::now();
    floor();
    let per_call = probe.elapsed().as_nanos().max(1);
    let batch = u32::try_from((200_000 / per_call).clamp(1, 1000)).unwrap_or(1);
    let (mut best_floor, mut best_ours) = (f64::MAX, f64::MAX);
    for _ in 0..rounds {
        best_floor = best_floor.min(batch_ns(batch, &mut floor));
        best_ours = best_ours.min(batch_ns(batch, &mut ours));
    }
    (best_floor, best_ours)
}

fn fastest(rounds: u32, batch: u32, mut f: impl FnMut()) -> f64 {
    (0..rounds).fold(f64::MAX, |best, _| best.min(batch_ns(batch, &mut f)))
}

fn batch_ns(batch: u32, f: &mut impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..batch {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(batch)
}
