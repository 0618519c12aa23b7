//! Token hot paths against the raw ring primitive, in one run (issue 3 targets):
//! - stateless verify ≤ 1.05× raw ring verification of the same signature;
//! - live verify ≤ 1.05× stateless verify (MemoryStore);
//! - issuing an access + ID token pair ≤ 1.10× two raw ring signatures.
//!
//! Run with `cargo bench --bench tokens`. The futures are driven by a minimal poll loop (the
//! memory store never waits), so no executor overhead is measured.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use idcore::clock::{Clock, SystemClock};
use idcore::directory::OrgDomain;
use idcore::tokens::keys::{Algorithm, EncryptionKey, KeyPair};
use idcore::tokens::pkce::CodeChallenge;
use idcore::tokens::{ClientAuth, CodeRequest};
use idcore::{
    ApplicationScope, ApplicationType, Identity, MemoryStore, NewApplication, NewOrganization,
    NewUser, TokenSettings,
};
use ring::signature::{self, KeyPair as _};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "https://app.example.com/callback";

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

struct Setup {
    identity: Identity<MemoryStore>,
    org: OrgDomain,
    token: String,
}

fn setup(alg: Algorithm) -> Setup {
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .key_encryption_key(EncryptionKey::from_bytes(&[1; 32]).unwrap())
        .token_settings(TokenSettings {
            signing_algorithm: alg,
            ..TokenSettings::default()
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
    let user = run(identity
        .users(&org)
        .create(NewUser::new("bench@example.com").expect("email")))
    .expect("user");
    let client = app.application.client_id;
    let code = run(identity.tokens().mint_code(CodeRequest {
        org: org.clone(),
        user_id: user.id,
        client_id: client,
        redirect_uri: REDIRECT.to_owned(),
        code_challenge: CodeChallenge::s256(VERIFIER).expect("challenge"),
        nonce: Some("nonce".to_owned()),
        state: None,
        scope: vec!["openid".to_owned(), "email".to_owned()],
        auth_time: SystemClock.now(),
        amr: vec!["pwd".to_owned()],
    }))
    .expect("code");
    let set = run(identity.tokens().exchange_code(
        &ClientAuth::public(client),
        code.expose(),
        REDIRECT,
        VERIFIER,
    ))
    .expect("tokens");
    Setup {
        identity,
        org,
        token: set.access_token,
    }
}

fn verify(c: &mut Criterion) {
    for (alg, name, ring_alg) in [
        (
            Algorithm::Es256,
            "ES256",
            &signature::ECDSA_P256_SHA256_FIXED as &dyn signature::VerificationAlgorithm,
        ),
        (Algorithm::EdDsa, "EdDSA", &signature::ED25519),
    ] {
        let s = setup(alg);
        let (signing_input, sig) = s.token.rsplit_once('.').expect("token");
        let sig = b64(sig);
        let public = public_key_bytes(&run(s.identity.tokens().jwks(&s.org)).expect("jwks"));
        let key = signature::UnparsedPublicKey::new(ring_alg, public);
        key.verify(signing_input.as_bytes(), &sig)
            .expect("raw verify");
        let mut g = c.benchmark_group(format!("verify/{name}"));
        g.bench_function("raw ring", |b| {
            b.iter(|| {
                key.verify(black_box(signing_input.as_bytes()), black_box(&sig))
                    .is_ok()
            })
        });
        let tokens = s.identity.tokens();
        g.bench_function("stateless", |b| {
            b.iter(|| run(tokens.verify(black_box(&s.token))).is_ok())
        });
        g.bench_function("live", |b| {
            b.iter(|| run(tokens.verify_live(black_box(&s.token))).is_ok())
        });
        g.finish();
    }
}

fn issue(c: &mut Criterion) {
    use idcore::tokens::claims::{AccessClaims, IdClaims, ProfileClaims};
    use std::borrow::Cow;
    for (alg, name) in [(Algorithm::Es256, "ES256"), (Algorithm::EdDsa, "EdDSA")] {
        let pair = KeyPair::generate(alg).expect("key");
        let rng = ring::rand::SystemRandom::new();
        let raw_es = signature::EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pair.pkcs8(),
            &rng,
        );
        let raw_ed = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pair.pkcs8());
        let s = setup(alg);
        let v = run(s.identity.tokens().verify(&s.token)).expect("verify");
        let access: AccessClaims<'_> = v.claims.clone();
        let id = IdClaims {
            iss: access.iss.clone(),
            sub: access.sub,
            aud: access.cid,
            azp: access.cid,
            cid: access.cid,
            dbs: access.dbs,
            exp: access.exp,
            iat: access.iat,
            nbf: access.nbf,
            jti: access.jti,
            jtt: Cow::Borrowed("openid"),
            tnt: access.tnt.clone(),
            ver: 1,
            auth_time: access.auth_time,
            gid: access.gid,
            nonce: Some(Cow::Borrowed("nonce")),
            at_hash: None,
            c_hash: None,
            s_hash: None,
            amr: vec!["pwd".to_owned()],
            profile: ProfileClaims {
                email: Some("bench@example.com".to_owned()),
                email_verified: Some(false),
                ..ProfileClaims::default()
            },
        };
        let msg = s
            .token
            .rsplit_once('.')
            .expect("token")
            .0
            .as_bytes()
            .to_vec();
        let mut g = c.benchmark_group(format!("issue/{name}"));
        g.bench_function("raw ring x2", |b| {
            b.iter(|| match (&raw_es, &raw_ed) {
                (Ok(k), _) if alg == Algorithm::Es256 => {
                    (k.sign(&rng, &msg).is_ok(), k.sign(&rng, &msg).is_ok())
                }
                (_, Ok(k)) => (
                    !k.sign(&msg).as_ref().is_empty(),
                    !k.sign(&msg).as_ref().is_empty(),
                ),
                _ => (false, false),
            })
        });
        g.bench_function("sign_pair", |b| {
            b.iter(|| {
                idcore::tokens::sign_pair(&pair, &access, id.clone(), Some("code"), None).is_ok()
            })
        });
        g.finish();
        let _ = raw_es.as_ref().map(|k| k.public_key());
    }
}

fn public_key_bytes(jwks: &serde_json::Value) -> Vec<u8> {
    let k = &jwks["keys"][0];
    match k["kty"].as_str() {
        Some("EC") => {
            let mut v = vec![4u8];
            v.extend(b64(k["x"].as_str().expect("x")));
            v.extend(b64(k["y"].as_str().expect("y")));
            v
        }
        _ => b64(k["x"].as_str().expect("x")),
    }
}

fn b64(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            _ => 63,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

criterion_group!(benches, verify, issue);
criterion_main!(benches);
