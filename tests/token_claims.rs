//! Claim checks of access-token verification (SECURITY.md 8–14, 17), with tokens signed by the
//! organization's own imported key, so only the claim under test is wrong.

use idcore::clock::{Clock, ManualClock};
use idcore::directory::OrgDomain;
use idcore::tokens::jws;
use idcore::tokens::keys::{Algorithm, EncryptionKey, KeyPair};
use idcore::{Environment, Error, Identity, MemoryStore, NewOrganization, TokenProblem};
use serde_json::{Value, json};
use time::macros::datetime;

const NOW: i64 = 1_780_315_200; // 2026-06-01 12:00 UTC

struct Fixture {
    identity: Identity<MemoryStore>,
    org: OrgDomain,
    key: KeyPair,
}

async fn fixture() -> Fixture {
    let clock = ManualClock::new(datetime!(2026-06-01 12:00 UTC));
    assert_eq!(clock.now().unix_timestamp(), NOW);
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .environment(Environment::Sandbox)
        .clock(clock)
        .key_encryption_key(EncryptionKey::from_bytes(&[5; 32]).unwrap())
        .store(MemoryStore::new())
        .build()
        .unwrap();
    let org = identity
        .organizations()
        .create(NewOrganization::new("Misapret").unwrap())
        .await
        .unwrap()
        .domain;
    let key = KeyPair::generate(Algorithm::Es256).unwrap();
    identity.tokens().import_key(&org, &key).await.unwrap();
    Fixture { identity, org, key }
}

fn valid_claims() -> Value {
    let user = "01a21064-d1f4-726a-a889-e59ed7ea544f";
    json!({
        "iss": "https://auth.example.com/t/misapret",
        "sub": user,
        "aud": "https://auth.example.com",
        "cid": "01a21064-d1f4-726a-a889-e59c1fe2ca62",
        "dbs": "sandbox",
        "exp": NOW + 3600,
        "iat": NOW,
        "nbf": NOW,
        "jti": "01a21064-d1f4-726a-a889-e59ed7ea5450",
        "jtt": "access",
        "scp": ["openid"],
        "tnt": "misapret",
        "ver": 1,
        "uid": user,
        "auth_time": NOW,
        "gid": "01a21064-d1f4-726a-a889-e59ed7ea5451",
    })
}

impl Fixture {
    fn sign(&self, claims: &Value) -> String {
        jws::encode(
            &jws::Header::for_key(&self.key).with_typ("at+jwt"),
            claims.to_string().as_bytes(),
            &self.key,
        )
        .unwrap()
    }

    fn sign_raw(&self, claims: &str) -> String {
        jws::encode(
            &jws::Header::for_key(&self.key).with_typ("at+jwt"),
            claims.as_bytes(),
            &self.key,
        )
        .unwrap()
    }

    async fn problem(&self, token: &str) -> TokenProblem {
        match self.identity.tokens().verify(token).await {
            Err(Error::InvalidToken(p)) => p,
            other => panic!("expected invalid_token, got {other:?}"),
        }
    }
}

fn with(key: &str, value: Value) -> Value {
    let mut c = valid_claims();
    c[key] = value;
    c
}

fn without(key: &str) -> Value {
    let mut c = valid_claims();
    c.as_object_mut().unwrap().remove(key);
    c
}

#[tokio::test]
async fn the_valid_baseline_verifies() {
    let f = fixture().await;
    let v = f
        .identity
        .tokens()
        .verify(&f.sign(&valid_claims()))
        .await
        .unwrap();
    assert_eq!(v.claims.tnt, f.org);
}

#[tokio::test]
async fn exp_is_checked_with_a_small_leeway() {
    let f = fixture().await;
    // 29 s past exp: within the 30 s leeway; 30 s past: expired.
    assert!(
        f.identity
            .tokens()
            .verify(&f.sign(&with("exp", json!(NOW - 29))))
            .await
            .is_ok()
    );
    assert_eq!(
        f.problem(&f.sign(&with("exp", json!(NOW - 30)))).await,
        TokenProblem::Expired
    );
}

#[tokio::test]
async fn nbf_in_the_future_is_refused() {
    let f = fixture().await;
    assert!(
        f.identity
            .tokens()
            .verify(&f.sign(&with("nbf", json!(NOW + 30))))
            .await
            .is_ok()
    );
    assert_eq!(
        f.problem(&f.sign(&with("nbf", json!(NOW + 31)))).await,
        TokenProblem::NotYetValid
    );
    assert_eq!(
        f.problem(&f.sign(&with("iat", json!(NOW + 3600)))).await,
        TokenProblem::NotYetValid
    );
}

#[tokio::test]
async fn times_of_the_wrong_type_are_never_treated_as_absent() {
    let f = fixture().await;
    for claim in ["exp", "nbf", "iat", "auth_time"] {
        for bad in [
            json!("1780318800"),
            json!(1780318800.5),
            json!(-1),
            json!(1e30),
            json!(null),
            json!(true),
        ] {
            let p = f.problem(&f.sign(&with(claim, bad.clone()))).await;
            assert_eq!(p, TokenProblem::Claims, "{claim} = {bad}");
        }
    }
}

#[tokio::test]
async fn required_claims_must_be_present() {
    let f = fixture().await;
    for claim in [
        "exp", "iat", "nbf", "iss", "aud", "sub", "tnt", "jti", "jtt", "cid", "dbs",
    ] {
        assert_eq!(
            f.problem(&f.sign(&without(claim))).await,
            TokenProblem::Claims,
            "{claim}"
        );
    }
}

#[tokio::test]
async fn issuer_must_match_exactly() {
    let f = fixture().await;
    for iss in [
        "https://auth.example.com/t/misapret/",
        "https://AUTH.example.com/t/misapret",
        "https://auth.example.com/t/other",
        "https://auth.example.com",
        "https://auth.example.com/t/misapret/t/misapret",
    ] {
        assert_eq!(
            f.problem(&f.sign(&with("iss", json!(iss)))).await,
            TokenProblem::Issuer,
            "{iss}"
        );
    }
    // Another environment's token.
    assert_eq!(
        f.problem(&f.sign(&with("dbs", json!("production")))).await,
        TokenProblem::Issuer
    );
}

#[tokio::test]
async fn audience_must_be_exactly_ours() {
    let f = fixture().await;
    assert_eq!(
        f.problem(&f.sign(&with("aud", json!("https://other.example.com"))))
            .await,
        TokenProblem::Audience
    );
    for aud in [
        json!(["https://auth.example.com", "https://evil.example.com"]),
        json!(["https://auth.example.com"]),
        json!(null),
        json!(7),
    ] {
        assert_eq!(
            f.problem(&f.sign(&with("aud", aud.clone()))).await,
            TokenProblem::Claims,
            "{aud}"
        );
    }
}

#[tokio::test]
async fn other_token_types_are_refused() {
    let f = fixture().await;
    assert_eq!(
        f.problem(&f.sign(&with("jtt", json!("openid")))).await,
        TokenProblem::Type
    );
    assert_eq!(
        f.problem(&f.sign(&with("jtt", json!("refresh")))).await,
        TokenProblem::Type
    );
    let id_typed = jws::encode(
        &jws::Header::for_key(&f.key).with_typ("JWT"),
        valid_claims().to_string().as_bytes(),
        &f.key,
    )
    .unwrap();
    assert_eq!(f.problem(&id_typed).await, TokenProblem::Type);
}

#[tokio::test]
async fn duplicate_claims_are_refused() {
    let f = fixture().await;
    let body = valid_claims().to_string();
    let dup = body.replacen("{", &format!("{{\"exp\":{},", NOW + 999_999), 1);
    assert_eq!(f.problem(&f.sign_raw(&dup)).await, TokenProblem::Claims);
}

#[tokio::test]
async fn another_organizations_key_does_not_verify() {
    let f = fixture().await;
    let other = f
        .identity
        .organizations()
        .create(NewOrganization::new("Other").unwrap())
        .await
        .unwrap()
        .domain;
    let key = KeyPair::generate(Algorithm::Es256).unwrap();
    f.identity.tokens().import_key(&other, &key).await.unwrap();
    // Signed by org B's key, claiming to be org A's token.
    let token = jws::encode(
        &jws::Header::for_key(&key).with_typ("at+jwt"),
        valid_claims().to_string().as_bytes(),
        &key,
    )
    .unwrap();
    assert_eq!(f.problem(&token).await, TokenProblem::UnknownKey);
}

#[test]
fn id_token_hashes_use_the_algorithms_hash() {
    let sha512 = ring::digest::digest(&ring::digest::SHA512, b"token");
    let sha256 = ring::digest::digest(&ring::digest::SHA256, b"token");
    let half = idcore::tokens::keys::half_hash;
    assert_eq!(
        half(Algorithm::EdDsa, b"token"),
        idcore::tokens::jws::base64url_encode(&sha512.as_ref()[..32])
    );
    for alg in [Algorithm::Es256, Algorithm::Rs256, Algorithm::Ps256] {
        assert_eq!(
            half(alg, b"token"),
            idcore::tokens::jws::base64url_encode(&sha256.as_ref()[..16]),
            "{alg:?}"
        );
    }
}
