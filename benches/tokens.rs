//! Token hot paths against the raw ring primitive, in one run (issue 3 targets):
//! - stateless verify ≤ 1.05× raw ring verification of the same signature;
//! - live verify ≤ 1.05× stateless verify (MemoryStore);
//! - issuing an access + ID token pair ≤ 1.10× two raw ring signatures;
//! - with custom claims (10 metadata values, 10 actions; issue 13): issuing ≤ 1.15× two raw
//!   signatures, verifying still ≤ 1.05× raw, and `has_action` over 50 actions ≤ 100 ns.
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
use idcore::tokens::claims::AccessClaims;
use idcore::tokens::keys::{Algorithm, EncryptionKey, KeyPair};
use idcore::tokens::pkce::CodeChallenge;
use idcore::tokens::{ClientAuth, CodeRequest};
use idcore::{
    ApplicationScope, ApplicationType, Identity, MemoryStore, NewApplication, NewOrganization,
    NewUser, TokenSettings,
};
use ring::signature;

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

fn rsa_key() -> KeyPair {
    let der = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rsa2048.pk8.der"
    ))
    .expect("test RSA key");
    KeyPair::from_pkcs8(Algorithm::Rs256, &der).expect("RSA key")
}

/// The custom claims of the `+claims` variants: 10 metadata values, 10 actions.
fn add_claims(identity: &Identity<MemoryStore>, org: &OrgDomain, user: idcore::directory::UserId) {
    use idcore::claims::{AttributeUpdate, MetaKeyType};
    let claims = identity.claims(org);
    for i in 0..10 {
        let name = format!("key_{i}");
        run(claims.create_metakey(&name, MetaKeyType::String, false)).expect("metakey");
        run(claims.set_metadata(user, &name, &format!("value-number-{i}"))).expect("value");
    }
    let update = AttributeUpdate {
        actions: Some((0..10).map(|i| format!("App01:Action{i}")).collect()),
        roles: Some(vec!["App01AdministrationRole".to_owned()]),
        ..AttributeUpdate::default()
    };
    run(claims.update_attributes_of(user, &update)).expect("attributes");
}

fn setup(alg: Algorithm, with_claims: bool) -> Setup {
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .key_encryption_key(EncryptionKey::from_bytes(&[1; 32]).unwrap())
        .token_settings(TokenSettings {
            signing_algorithm: if alg == Algorithm::Rs256 {
                Algorithm::Es256
            } else {
                alg
            },
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
    if alg == Algorithm::Rs256 {
        run(identity.tokens().import_key(&org, &rsa_key())).expect("import");
    }
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
    if with_claims {
        add_claims(&identity, &org, user.id);
    }
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
    for (alg, name, ring_alg, with_claims) in [
        (
            Algorithm::Es256,
            "ES256",
            &signature::ECDSA_P256_SHA256_FIXED as &dyn signature::VerificationAlgorithm,
            false,
        ),
        (
            Algorithm::Es256,
            "ES256+claims",
            &signature::ECDSA_P256_SHA256_FIXED,
            true,
        ),
        (Algorithm::EdDsa, "EdDSA", &signature::ED25519, false),
        (Algorithm::EdDsa, "EdDSA+claims", &signature::ED25519, true),
        (
            Algorithm::Rs256,
            "RS256",
            &signature::RSA_PKCS1_2048_8192_SHA256,
            false,
        ),
    ] {
        let s = setup(alg, with_claims);
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
        // Criterion's means suffer when other work shares the cores; batches of the three
        // alternate here and each keeps its fastest batch, so the ratios stay comparable.
        let [raw, stateless, live] = interleaved(
            200,
            [
                &mut || {
                    assert!(
                        key.verify(black_box(signing_input.as_bytes()), black_box(&sig))
                            .is_ok()
                    )
                },
                &mut || assert!(run(tokens.verify(black_box(&s.token))).is_ok()),
                &mut || assert!(run(tokens.verify_live(black_box(&s.token))).is_ok()),
            ],
        );
        let decoded = idcore::tokens::jws::decode(&s.token).expect("decodes");
        let payload = decoded.payload().to_vec();
        let [decode, parse] = interleaved(
            200,
            [
                &mut || assert!(idcore::tokens::jws::decode(black_box(&s.token)).is_ok()),
                &mut || {
                    assert!(
                        idcore::tokens::claims::AccessClaims::from_json(black_box(&payload))
                            .is_some()
                    )
                },
            ],
        );
        println!(
            "  of which: jws decode {decode:.0} ns, claims parse {parse:.0} ns ({} byte payload)",
            payload.len()
        );
        println!(
            "interleaved verify/{name}: raw {raw:.0} ns, stateless {stateless:.0} ns ({:.3}x raw), live {live:.0} ns ({:.3}x stateless)",
            stateless / raw,
            live / stateless
        );
    }
}

fn issue(c: &mut Criterion) {
    use idcore::tokens::claims::{AccessClaims, IdClaims, ProfileClaims};
    use std::borrow::Cow;
    for (alg, name, with_claims) in [
        (Algorithm::Es256, "ES256", false),
        (Algorithm::Es256, "ES256+claims", true),
        (Algorithm::EdDsa, "EdDSA", false),
        (Algorithm::EdDsa, "EdDSA+claims", true),
    ] {
        let pair = KeyPair::generate(alg).expect("key");
        let rng = ring::rand::SystemRandom::new();
        let raw_es = signature::EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pair.pkcs8(),
            &rng,
        );
        let raw_ed = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pair.pkcs8());
        let s = setup(alg, with_claims);
        let v = run(s.identity.tokens().verify(&s.token)).expect("verify");
        let access: AccessClaims<'_> = v.claims.clone();
        let mut id = IdClaims {
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
            metadata: access.metadata.clone(),
            roles: access.roles.clone(),
            actions: access.actions.clone(),
            attributes: access.attributes.clone(),
            groups: access.groups.clone(),
        };
        assert_eq!(access.metadata.0.len(), if with_claims { 10 } else { 0 });
        // The raw baseline signs exactly what sign_pair signs: the signing inputs of the access
        // and ID tokens it issues (the ID token is the longer, and Ed25519 hashes the whole
        // message twice).
        let (access_token, id_token) =
            idcore::tokens::sign_pair(&pair, &access, &mut id, Some("code"), None).expect("pair");
        let input = |t: &str| t.rsplit_once('.').expect("token").0.as_bytes().to_vec();
        let (msg, msg2) = (input(&access_token), input(&id_token));
        let mut g = c.benchmark_group(format!("issue/{name}"));
        g.bench_function("raw ring x2", |b| {
            b.iter(|| match (&raw_es, &raw_ed) {
                (Ok(k), _) if alg == Algorithm::Es256 => {
                    (k.sign(&rng, &msg).is_ok(), k.sign(&rng, &msg2).is_ok())
                }
                (_, Ok(k)) => (
                    !k.sign(&msg).as_ref().is_empty(),
                    !k.sign(&msg2).as_ref().is_empty(),
                ),
                _ => (false, false),
            })
        });
        g.bench_function("sign_pair", |b| {
            b.iter(|| {
                idcore::tokens::sign_pair(&pair, &access, &mut id, Some("code"), None).is_ok()
            })
        });
        g.finish();
        let [raw, ours] = interleaved(
            200,
            [
                &mut || match (&raw_es, &raw_ed) {
                    (Ok(k), _) if alg == Algorithm::Es256 => {
                        assert!(k.sign(&rng, &msg).is_ok() && k.sign(&rng, &msg2).is_ok())
                    }
                    (_, Ok(k)) => assert!(
                        !k.sign(&msg).as_ref().is_empty() && !k.sign(&msg2).as_ref().is_empty()
                    ),
                    _ => unreachable!("a raw key of the benchmarked algorithm exists"),
                },
                &mut || {
                    assert!(
                        idcore::tokens::sign_pair(&pair, &access, &mut id, Some("code"), None)
                            .is_ok()
                    )
                },
            ],
        );
        println!(
            "interleaved issue/{name}: raw x2 {raw:.0} ns, sign_pair {ours:.0} ns ({:.3}x)",
            ours / raw
        );
    }
}

/// Alternates batches of each function `rounds` times; the fastest batch of each, in ns per call.
fn interleaved<const N: usize>(rounds: u32, fs: [&mut dyn FnMut(); N]) -> [f64; N] {
    let mut fs = fs;
    let probe = std::time::Instant::now();
    (fs[0])();
    let batch =
        u32::try_from((200_000 / probe.elapsed().as_nanos().max(1)).clamp(1, 1000)).unwrap_or(1);
    let mut best = [f64::MAX; N];
    for _ in 0..rounds {
        for (i, f) in fs.iter_mut().enumerate() {
            let start = std::time::Instant::now();
            for _ in 0..batch {
                f();
            }
            best[i] = best[i].min(start.elapsed().as_nanos() as f64 / f64::from(batch));
        }
    }
    best
}

fn public_key_bytes(jwks: &serde_json::Value) -> Vec<u8> {
    let k = &jwks["keys"][0];
    match k["kty"].as_str() {
        Some("RSA") => rsa_der(
            &b64(k["n"].as_str().expect("n")),
            &b64(k["e"].as_str().expect("e")),
        ),
        Some("EC") => {
            let mut v = vec![4u8];
            v.extend(b64(k["x"].as_str().expect("x")));
            v.extend(b64(k["y"].as_str().expect("y")));
            v
        }
        _ => b64(k["x"].as_str().expect("x")),
    }
}

/// DER `RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER }`, ring's RSA public key form.
fn rsa_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn int(bytes: &[u8]) -> Vec<u8> {
        let mut v = bytes.to_vec();
        if v.first().is_some_and(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        tlv(0x02, &v)
    }
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = body.len();
        if len < 128 {
            out.push(len as u8);
        } else if len < 256 {
            out.extend([0x81, len as u8]);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(body);
        out
    }
    let mut body = int(n);
    body.extend(int(e));
    tlv(0x30, &body)
}

/// `has_action` over 50 actions, a hit and a miss.
fn checks(c: &mut Criterion) {
    let s = setup(Algorithm::Es256, false);
    let mut claims = run(s.identity.tokens().verify(&s.token))
        .expect("verify")
        .claims;
    claims.actions = (0..50).map(|i| format!("App{i:02}:Update")).collect();
    claims.actions.sort();
    let mut g = c.benchmark_group("checks");
    g.bench_function("has_action hit (50 actions)", |b| {
        b.iter(|| claims.has_action(black_box("App37:Update")))
    });
    g.bench_function("has_action miss (50 actions)", |b| {
        b.iter(|| claims.has_action(black_box("App37:Delete")))
    });
    g.finish();
    let [hit, miss] = interleaved(
        200,
        [
            &mut || assert!(claims.has_action(black_box("App37:Update"))),
            &mut || assert!(!claims.has_action(black_box("App37:Delete"))),
        ],
    );
    println!("interleaved has_action over 50 actions: hit {hit:.1} ns, miss {miss:.1} ns");
}

/// Parsing the claims of a verified token, bare and with custom claims: the part of `verify`
/// that grows with the claims.
fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for (name, with_claims) in [("bare", false), ("claims", true)] {
        let s = setup(Algorithm::Es256, with_claims);
        let payload = b64(s.token.split('.').nth(1).expect("a payload"));
        assert!(AccessClaims::from_json(&payload).is_some());
        g.bench_function(
            format!("access claims ({name}, {} bytes)", payload.len()),
            |b| b.iter(|| AccessClaims::from_json(black_box(&payload))),
        );
    }
    g.finish();
}

criterion_group!(benches, verify, issue, checks, parse);
criterion_main!(benches);

fn b64(s: &str) -> Vec<u8> {
    idcore::tokens::jws::base64url_decode(s).expect("base64url")
}
