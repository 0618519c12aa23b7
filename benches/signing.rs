//! Signed-request verification against the raw ring primitive (issue 12 target):
//! - the signature check (canonical form of a request with a 1 KiB body, then the constant-time
//!   HMAC verification) ≤ 1.3× raw ring HMAC verification of the same canonical bytes;
//! - for reference, the same against raw ring doing the irreducible work too (SHA-256 of the
//!   body, then the HMAC), and the full verification on MemoryStore (key lookup, organization,
//!   opening the sealed secret, HMAC, the replay marker).
//!
//! Run with `cargo bench --bench signing`. The futures are driven by a minimal poll loop (the
//! memory store never waits), so no executor overhead is measured.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use idcore::signing::signature::{self, SignatureParams};
use idcore::signing::{ApiKeyRole, NewApiKey, Scheme, SignedRequest};
use idcore::tokens::keys::EncryptionKey;
use idcore::{Identity, MemoryStore, NewOrganization};
use ring::hmac;

const PATH: &str = "/apsdb/rest/SaveDocument";

/// Polls a future that never waits (the memory store) to completion.
fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn params() -> Vec<(String, String)> {
    vec![
        ("apsdb.store".to_owned(), "DefaultStore".to_owned()),
        (
            "apsdb.documentKey".to_owned(),
            "invoice-2030-0001".to_owned(),
        ),
        ("title".to_owned(), "Quarterly report".to_owned()),
        ("tags".to_owned(), "finance".to_owned()),
        ("tags".to_owned(), "q1".to_owned()),
    ]
}

fn signed(
    body: &[u8],
    key_id: &str,
    secret: &[u8],
    time: &str,
    extra: Option<String>,
) -> Vec<(String, String)> {
    let mut p = params();
    if let Some(n) = extra {
        p.push(("nonce".to_owned(), n));
    }
    let sig = SignedRequest::new("POST", PATH, &p)
        .body(body)
        .sign(Scheme::Default, time, key_id, secret)
        .expect("default scheme");
    p.extend(signature::wire_params(Scheme::Default, key_id, time, &sig));
    p
}

fn check(c: &mut Criterion) {
    let body = vec![b'x'; 1024];
    let secret = b"pD1mM3ovkKqRzY8T4uUe0Hl0vJ4aQx6cWn2bS9fGk7E";
    let (key_id, time) = ("ak_0190f5a0c3e87b3a9d41e2b7c6a5f4e1", "1767225600");
    let wire = signed(&body, key_id, secret, time, None);
    let request = SignedRequest::new("POST", PATH, &wire).body(&body);
    let parsed = SignatureParams::parse(&wire).expect("parameters");
    let canonical = request
        .canonical(Scheme::Default, time, key_id)
        .expect("canonical");

    let raw = || {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        hmac::verify(&key, black_box(&canonical), black_box(&parsed.tag)).is_ok()
    };
    let raw_with_digest = || {
        let digest = ring::digest::digest(&ring::digest::SHA256, black_box(&body));
        black_box(digest);
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        hmac::verify(&key, black_box(&canonical), black_box(&parsed.tag)).is_ok()
    };
    let checked = || {
        let bytes = black_box(&request)
            .canonical(Scheme::Default, time, key_id)
            .expect("canonical");
        signature::verify(secret, &bytes, black_box(&parsed.tag))
    };
    assert!(raw() && raw_with_digest() && checked());

    let mut g = c.benchmark_group("signature/1KiB body");
    g.bench_function("raw ring hmac verify", |b| b.iter(raw));
    g.bench_function("raw ring sha256(body) + hmac verify", |b| {
        b.iter(raw_with_digest)
    });
    g.bench_function("canonicalize + verify", |b| b.iter(checked));
    g.finish();

    let [r, rd, ch] = interleaved(
        200,
        [
            &mut || assert!(raw()),
            &mut || assert!(raw_with_digest()),
            &mut || assert!(checked()),
        ],
    );
    println!(
        "interleaved signature/1KiB body ({} canonical bytes): raw hmac {r:.0} ns, raw sha256+hmac {rd:.0} ns, canonicalize+verify {ch:.0} ns ({:.3}x raw hmac, {:.3}x raw sha256+hmac)",
        canonical.len(),
        ch / r,
        ch / rd
    );
}

fn full(c: &mut Criterion) {
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .key_encryption_key(EncryptionKey::from_bytes(&[1; 32]).expect("key"))
        .store(MemoryStore::new())
        .build()
        .expect("identity");
    let org = run(identity
        .organizations()
        .create(NewOrganization::new("Bench").expect("name")))
    .expect("org")
    .domain;
    let created = run(identity
        .api_keys(&org)
        .create(NewApiKey::new("bench", ApiKeyRole::Owner).expect("name")))
    .expect("key");
    let key_id = created.key.id.to_string();
    let secret = created.secret.expose().as_bytes().to_vec();
    let body = vec![b'x'; 1024];
    let signatures = identity.signatures();
    let mut n = 0u64;
    let mut fresh = || {
        n += 1;
        let time = identity.now().unix_timestamp().to_string();
        signed(&body, &key_id, &secret, &time, Some(n.to_string()))
    };

    let mut g = c.benchmark_group("signature/1KiB body");
    g.bench_function("full verify (MemoryStore)", |b| {
        b.iter_batched(
            &mut fresh,
            |wire| {
                let request = SignedRequest::new("POST", PATH, &wire).body(&body);
                assert!(run(signatures.verify(&request)).is_ok());
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // The same, timed by hand over requests signed beforehand (each one new: no replay).
    let requests: Vec<_> = (0..20_000).map(|_| fresh()).collect();
    let start = Instant::now();
    for wire in &requests {
        let request = SignedRequest::new("POST", PATH, wire).body(&body);
        assert!(run(signatures.verify(black_box(&request))).is_ok());
    }
    let per = start.elapsed().as_nanos() as f64 / requests.len() as f64;
    println!("full verify on MemoryStore (1 KiB body, fresh signatures): {per:.0} ns");
}

/// Runs batches of each function in turn, `rounds` times, and keeps each one's fastest batch
/// (ns per call): ratios stay comparable when other work shares the cores.
fn interleaved<const N: usize>(rounds: u32, fs: [&mut dyn FnMut(); N]) -> [f64; N] {
    let mut fs = fs;
    let probe = Instant::now();
    (fs[0])();
    let batch =
        u32::try_from((200_000 / probe.elapsed().as_nanos().max(1)).clamp(1, 1000)).unwrap_or(1);
    let mut best = [f64::MAX; N];
    for _ in 0..rounds {
        for (i, f) in fs.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..batch {
                f();
            }
            best[i] = best[i].min(start.elapsed().as_nanos() as f64 / f64::from(batch));
        }
    }
    best
}

criterion_group!(benches, check, full);
criterion_main!(benches);
