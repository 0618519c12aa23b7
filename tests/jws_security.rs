//! The cryptographic layer of tokens, against SECURITY.md "JWT verification" lines 1–7, 15
//! and 17, plus key handling (RFC 7638 kid, sealing at rest) and interoperability with a host
//! whose jsonwebtoken uses another backend (RustCrypto) or idcore's ring provider.

use idcore::tokens::jws::{
    self, Header, JwsError, MAX_KID_LEN, MAX_TOKEN_LEN, base64url_decode, base64url_encode,
    parse_object_strict,
};
use idcore::tokens::keys::{
    Algorithm, EncryptionKey, Jwks, KeyError, KeyPair, PublicKey, half_hash, open, seal,
};
use idcore::tokens::provider::{RING_PROVIDER, RingSigner, RingVerifier};
use jsonwebtoken::jwk::{EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::signature::{Signer as _, Verifier as _};
use jsonwebtoken::{DecodingKey, EncodingKey, Validation};
use proptest::prelude::*;
use ring::signature::KeyPair as _;
use serde_json::{Value, json};

const RSA_2048_PKCS8: &[u8] = include_bytes!("data/rsa2048.pk8.der");
const RSA_2048_PKCS1: &[u8] = include_bytes!("data/rsa2048.pkcs1.der");
const RSA_1024_PKCS8: &[u8] = include_bytes!("data/rsa1024.pk8.der");
/// `openssl genpkey -algorithm ED25519`: PKCS#8 v1, without the public key.
const ED25519_V1_PKCS8: &[u8] = include_bytes!("data/ed25519.v1.pk8.der");

fn key(alg: Algorithm) -> KeyPair {
    match alg {
        Algorithm::Es256 | Algorithm::EdDsa => KeyPair::generate(alg).unwrap(),
        Algorithm::Rs256 | Algorithm::Ps256 => KeyPair::from_pkcs8(alg, RSA_2048_PKCS8).unwrap(),
    }
}

fn claims() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "iss": "https://id.example.com/t/acme",
        "sub": "user-1",
        "exp": 4_102_444_800u64,
        "iat": 1_700_000_000u64,
        "jtt": "access",
    }))
    .unwrap()
}

fn token(key: &KeyPair) -> String {
    jws::encode(&Header::for_key(key).with_typ("JWT"), &claims(), key).unwrap()
}

/// A token with exactly these header bytes, payload bytes and signature bytes.
fn forge(header: &[u8], payload: &[u8], sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        base64url_encode(header),
        base64url_encode(payload),
        base64url_encode(sig)
    )
}

/// A token with this header, signed for real by `key` over the forged signing input.
fn forge_signed(header: &[u8], payload: &[u8], key: &KeyPair) -> String {
    let input = format!("{}.{}", base64url_encode(header), base64url_encode(payload));
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", base64url_encode(&sig))
}

fn decode_err(token: &str) -> JwsError {
    jws::decode(token).expect_err("token must be rejected")
}

/// Decodes, verifies with `key`, returns the error.
fn verify_err(token: &str, key: &PublicKey) -> JwsError {
    match jws::decode(token) {
        Ok(decoded) => jws::verify(&decoded, key).expect_err("token must be rejected"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips and keys

#[test]
fn every_algorithm_round_trips_and_binds_header_payload_and_key() {
    for alg in Algorithm::ALL {
        let key = key(alg);
        let token = token(&key);
        let decoded = jws::decode(&token).unwrap();
        assert_eq!(decoded.alg(), alg);
        assert_eq!(decoded.kid(), Some(key.kid()));
        assert_eq!(decoded.typ(), Some("JWT"));
        assert!(!decoded.has_extra_header_members());
        assert_eq!(decoded.payload(), claims());
        jws::verify(&decoded, key.public_key()).unwrap();
        assert_eq!(
            parse_object_strict(decoded.payload()).unwrap()["sub"],
            "user-1"
        );

        // Another key of the same algorithm does not verify it.
        let other = match alg {
            Algorithm::Es256 | Algorithm::EdDsa => KeyPair::generate(alg).unwrap(),
            _ => continue,
        };
        assert_eq!(
            verify_err(&token, other.public_key()),
            JwsError::BadSignature
        );
    }
}

#[test]
fn tampered_header_payload_or_signature_fails_verification() {
    for alg in Algorithm::ALL {
        let key = key(alg);
        let token = token(&key);
        let (input, sig) = token.rsplit_once('.').unwrap();
        let (_, payload) = input.split_once('.').unwrap();

        let other_claims = br#"{"sub":"admin","exp":4102444800}"#;
        let swapped = format!(
            "{}.{}.{sig}",
            base64url_encode(br#"{"alg":"ES256"}"#),
            payload
        );
        let forged_payload = format!(
            "{}.{}.{sig}",
            input.split_once('.').unwrap().0,
            base64url_encode(other_claims)
        );
        let mut sig_bytes = base64url_decode(sig).unwrap();
        sig_bytes[10] ^= 1;
        let flipped = format!("{input}.{}", base64url_encode(&sig_bytes));
        for bad in [swapped, forged_payload, flipped] {
            assert!(matches!(
                verify_err(&bad, key.public_key()),
                JwsError::BadSignature | JwsError::AlgorithmMismatch
            ));
        }
    }
}

#[test]
fn kid_is_the_rfc7638_thumbprint() {
    // RFC 7638 §3.1.
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS\
              oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2\
              QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f\
              M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    }))
    .unwrap();
    let rfc = PublicKey::from_jwk(&jwk).unwrap();
    assert_eq!(rfc.kid(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_eq!(rfc.algorithm(), Algorithm::Rs256);

    // And for every key type, the kid equals the host's jsonwebtoken thumbprint of our JWK.
    for alg in Algorithm::ALL {
        let key = key(alg);
        let jwk = key.public_key().to_jwk();
        assert_eq!(
            jwk.thumbprint(ThumbprintHash::SHA256).unwrap(),
            key.kid(),
            "{alg}"
        );
        assert_eq!(key.kid().len(), 43);
    }
}

#[test]
fn jwk_has_kid_alg_use_and_round_trips() {
    let mut jwks = Jwks::new();
    for alg in Algorithm::ALL {
        let key = key(alg);
        let jwk = key.public_key().to_jwk();
        let json = serde_json::to_value(&jwk).unwrap();
        assert_eq!(json["kid"], key.kid());
        assert_eq!(json["alg"], alg.name());
        assert_eq!(json["use"], "sig");
        assert!(json.get("d").is_none(), "no private member");
        let back = PublicKey::from_jwk(&jwk).unwrap();
        assert_eq!(&back, key.public_key());
        assert_eq!(
            PublicKey::from_bytes(alg, key.public_key().bytes()).unwrap(),
            back
        );
        assert_eq!(jwks.push(back), alg != Algorithm::Ps256);
    }
    // RS256 and PS256 share the RSA modulus but not the algorithm; the thumbprint covers the
    // key only, so the set holds the first of the two.
    assert_eq!(jwks.keys().len(), 3);
    let doc: Value = serde_json::from_str(&jwks.to_json()).unwrap();
    assert_eq!(doc["keys"].as_array().unwrap().len(), 3);
    assert_eq!(serde_json::to_value(&jwks).unwrap(), doc);
}

#[test]
fn es256_and_eddsa_are_generated_rsa_is_imported_only() {
    assert_eq!(
        KeyPair::generate(Algorithm::Rs256).unwrap_err(),
        KeyError::CannotGenerate(Algorithm::Rs256)
    );
    assert_eq!(
        KeyPair::generate(Algorithm::Ps256).unwrap_err(),
        KeyError::CannotGenerate(Algorithm::Ps256)
    );
    assert_eq!(
        KeyPair::from_pkcs8(Algorithm::Rs256, RSA_1024_PKCS8).unwrap_err(),
        KeyError::TooSmall(Algorithm::Rs256)
    );
    let es = KeyPair::generate(Algorithm::Es256).unwrap();
    assert_eq!(es.sign(b"m").unwrap().len(), 64, "ES256 signs r||s");
    // A P-256 key is not an Ed25519 or RSA key.
    for alg in [Algorithm::EdDsa, Algorithm::Rs256] {
        assert!(matches!(
            KeyPair::from_pkcs8(alg, es.pkcs8()).unwrap_err(),
            KeyError::Rejected { .. }
        ));
    }
    assert!(KeyPair::from_pkcs8(Algorithm::Es256, b"garbage").is_err());
    // openssl's PKCS#8 v1 Ed25519 keys import; PKCS#8 round trips keep the kid.
    let ed = KeyPair::from_pkcs8(Algorithm::EdDsa, ED25519_V1_PKCS8).unwrap();
    let again = KeyPair::from_pkcs8(Algorithm::EdDsa, ed.pkcs8()).unwrap();
    assert_eq!(again.kid(), ed.kid());
}

#[test]
fn private_keys_never_show_in_debug() {
    let key = key(Algorithm::Es256);
    let debug = format!("{key:?}");
    assert!(debug.contains("[redacted]"));
    assert!(!debug.contains(&base64url_encode(key.pkcs8())));
    assert!(!debug.contains(&format!("{:?}", key.pkcs8())));
    let kek = EncryptionKey::from_bytes(&[7; 32]).unwrap();
    assert_eq!(format!("{kek:?}"), "EncryptionKey([redacted])");
}

#[test]
fn key_pairs_are_shareable_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<KeyPair>();
    shareable::<PublicKey>();
    shareable::<Jwks>();
}

// ---------------------------------------------------------------------------------------------
// Sealing at rest

#[test]
fn sealed_keys_open_to_the_same_key() {
    let kek = EncryptionKey::generate().unwrap();
    for alg in Algorithm::ALL {
        let key = key(alg);
        let blob = seal(&key, &kek).unwrap();
        assert!(
            !blob.windows(key.pkcs8().len()).any(|w| w == key.pkcs8()),
            "ciphertext, not the key"
        );
        assert_ne!(blob, seal(&key, &kek).unwrap(), "fresh nonce per seal");
        let opened = open(alg, &blob, &kek).unwrap();
        assert_eq!(opened.kid(), key.kid());
        assert_eq!(opened.pkcs8(), key.pkcs8());
        let token = token(&opened);
        jws::verify(&jws::decode(&token).unwrap(), key.public_key()).unwrap();
    }
}

#[test]
fn opening_with_the_wrong_key_fails_clearly() {
    let key = key(Algorithm::Es256);
    let blob = seal(&key, &EncryptionKey::generate().unwrap()).unwrap();
    let wrong = EncryptionKey::generate().unwrap();
    assert_eq!(
        open(Algorithm::Es256, &blob, &wrong).unwrap_err(),
        KeyError::Unseal
    );
    assert!(
        KeyError::Unseal
            .to_string()
            .contains("wrong encryption key or tampered")
    );
}

#[test]
fn tampered_truncated_or_relabelled_blobs_never_open() {
    let kek = EncryptionKey::generate().unwrap();
    let key = key(Algorithm::EdDsa);
    let blob = seal(&key, &kek).unwrap();
    for i in 0..blob.len() {
        for bit in [0x01, 0x80] {
            let mut bad = blob.clone();
            bad[i] ^= bit;
            assert!(open(Algorithm::EdDsa, &bad, &kek).is_err(), "byte {i}");
        }
    }
    for len in 0..blob.len() {
        let err = open(Algorithm::EdDsa, &blob[..len], &kek).unwrap_err();
        assert!(
            matches!(err, KeyError::MalformedSealedKey | KeyError::Unseal),
            "len {len}: {err:?}"
        );
    }
    let mut longer = blob.clone();
    longer.push(0);
    assert_eq!(
        open(Algorithm::EdDsa, &longer, &kek).unwrap_err(),
        KeyError::Unseal
    );
    assert_eq!(
        open(Algorithm::Es256, &blob, &kek).unwrap_err(),
        KeyError::SealedAlgorithmMismatch {
            expected: Algorithm::Es256
        }
    );
    let mut future = blob.clone();
    future[0] = 9;
    assert_eq!(
        open(Algorithm::EdDsa, &future, &kek).unwrap_err(),
        KeyError::UnsupportedSealVersion(9)
    );
}

#[test]
fn encryption_keys_are_exactly_32_bytes() {
    assert!(EncryptionKey::from_bytes(&[1; 32]).is_ok());
    for len in [0, 16, 31, 33, 64] {
        assert_eq!(
            EncryptionKey::from_bytes(&vec![1; len]).unwrap_err(),
            KeyError::InvalidEncryptionKey
        );
    }
    let text = base64url_encode(&[9; 32]);
    assert_eq!(text.len(), 43);
    let kek = EncryptionKey::from_base64url(&text).unwrap();
    let same = EncryptionKey::from_bytes(&[9; 32]).unwrap();
    let key = key(Algorithm::Es256);
    open(Algorithm::Es256, &seal(&key, &kek).unwrap(), &same).unwrap();
    for bad in [
        "",
        &base64url_encode(&[9; 31]),
        &format!("{text}="),
        &text.replace('J', "+"),
    ] {
        assert_eq!(
            EncryptionKey::from_base64url(bad).unwrap_err(),
            KeyError::InvalidEncryptionKey
        );
    }
}

// ---------------------------------------------------------------------------------------------
// SECURITY.md 1: alg none, empty signatures

#[test]
fn alg_none_in_any_case_is_rejected() {
    let payload = claims();
    for none in ["none", "None", "NONE", "nOnE"] {
        let header = format!(r#"{{"alg":"{none}"}}"#);
        for sig in [&b""[..], b"x", &[0u8; 64]] {
            let token = forge(header.as_bytes(), &payload, sig);
            let err = decode_err(&token);
            assert!(
                matches!(
                    err,
                    JwsError::UnsupportedAlgorithm | JwsError::EmptySignature
                ),
                "{none}: {err:?}"
            );
        }
        // The classic form: header.payload. with nothing after the last dot.
        let token = format!(
            "{}.{}.",
            base64url_encode(header.as_bytes()),
            base64url_encode(&payload)
        );
        assert!(jws::decode(&token).is_err());
    }
}

#[test]
fn known_alg_with_an_empty_signature_is_rejected() {
    for alg in Algorithm::ALL {
        let key = key(alg);
        let token = token(&key);
        let stripped = &token[..=token.rfind('.').unwrap()];
        assert_eq!(decode_err(stripped), JwsError::EmptySignature);
    }
}

// ---------------------------------------------------------------------------------------------
// SECURITY.md 2: algorithm confusion

#[test]
fn hs256_signed_with_the_public_key_is_rejected() {
    for alg in Algorithm::ALL {
        let key = key(alg);
        let public = key.public_key();
        let jwk_json = serde_json::to_vec(&public.to_jwk()).unwrap();
        for secret in [public.bytes(), &jwk_json[..]] {
            for hs in ["HS256", "HS384", "HS512"] {
                let header = format!(r#"{{"alg":"{hs}","kid":"{}"}}"#, key.kid());
                let input = format!(
                    "{}.{}",
                    base64url_encode(header.as_bytes()),
                    base64url_encode(&claims())
                );
                let mac_alg = match hs {
                    "HS256" => ring::hmac::HMAC_SHA256,
                    "HS384" => ring::hmac::HMAC_SHA384,
                    _ => ring::hmac::HMAC_SHA512,
                };
                let mac =
                    ring::hmac::sign(&ring::hmac::Key::new(mac_alg, secret), input.as_bytes());
                let token = format!("{input}.{}", base64url_encode(mac.as_ref()));
                assert_eq!(decode_err(&token), JwsError::UnsupportedAlgorithm);
            }
        }
        // jsonwebtoken with idcore's provider: a public key never becomes an HMAC secret.
        let decoding = DecodingKey::from_jwk(&public.to_jwk()).unwrap();
        for hs in [
            jsonwebtoken::Algorithm::HS256,
            jsonwebtoken::Algorithm::HS384,
            jsonwebtoken::Algorithm::HS512,
        ] {
            assert!((RING_PROVIDER.verifier_factory)(&hs, &decoding).is_err());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SECURITY.md 3: one algorithm per key

#[test]
fn rs256_and_ps256_never_verify_each_other() {
    let rs = KeyPair::from_pkcs8(Algorithm::Rs256, RSA_2048_PKCS8).unwrap();
    let ps = KeyPair::from_pkcs8(Algorithm::Ps256, RSA_2048_PKCS8).unwrap();
    assert_eq!(
        verify_err(&token(&rs), ps.public_key()),
        JwsError::AlgorithmMismatch
    );
    assert_eq!(
        verify_err(&token(&ps), rs.public_key()),
        JwsError::AlgorithmMismatch
    );
    // A PKCS#1 v1.5 signature relabelled PS256 (and the reverse) fails under either key.
    let relabel = |signer: &KeyPair, claimed: &str| {
        forge_signed(
            format!(r#"{{"alg":"{claimed}","kid":"{}"}}"#, signer.kid()).as_bytes(),
            &claims(),
            signer,
        )
    };
    for (signer, claimed) in [(&rs, "PS256"), (&ps, "RS256")] {
        let token = relabel(signer, claimed);
        assert_eq!(
            verify_err(&token, signer.public_key()),
            JwsError::AlgorithmMismatch
        );
        let other = if std::ptr::eq(signer, &rs) { &ps } else { &rs };
        assert_eq!(
            verify_err(&token, other.public_key()),
            JwsError::BadSignature
        );
    }
    // Encoding refuses a header whose alg is not the key's.
    let header = Header {
        alg: Algorithm::Ps256,
        ..Header::for_key(&rs)
    };
    assert_eq!(
        jws::encode(&header, &claims(), &rs).unwrap_err(),
        JwsError::AlgorithmMismatch
    );
}

#[test]
fn es256_and_es384_never_verify_each_other() {
    let es = key(Algorithm::Es256);
    // ES384 is not an idcore algorithm at all: rejected before any key is chosen.
    let token = forge_signed(
        format!(r#"{{"alg":"ES384","kid":"{}"}}"#, es.kid()).as_bytes(),
        &claims(),
        &es,
    );
    assert_eq!(decode_err(&token), JwsError::UnsupportedAlgorithm);
    // And an ES256 token never verifies with a key of another algorithm.
    let ed = key(Algorithm::EdDsa);
    assert_eq!(
        verify_err(&self::token(&es), ed.public_key()),
        JwsError::AlgorithmMismatch
    );
    assert_eq!(
        verify_err(&self::token(&ed), es.public_key()),
        JwsError::AlgorithmMismatch
    );
    // Through the ring provider, an ES256 key cannot verify ES384 signatures.
    let decoding = DecodingKey::from_jwk(&es.public_key().to_jwk()).unwrap();
    let verifier =
        (RING_PROVIDER.verifier_factory)(&jsonwebtoken::Algorithm::ES384, &decoding).unwrap();
    let sig = es.sign(b"msg").unwrap();
    assert!(verifier.verify(b"msg", &sig).is_err());
}

// ---------------------------------------------------------------------------------------------
// SECURITY.md 4: ES256 signature forms

#[test]
fn es256_all_zero_signature_is_rejected() {
    let key = key(Algorithm::Es256);
    let token = token(&key);
    let input = &token[..token.rfind('.').unwrap()];
    let zero = format!("{input}.{}", base64url_encode(&[0; 64]));
    assert_eq!(verify_err(&zero, key.public_key()), JwsError::BadSignature);
    assert!(!key.public_key().verify(input.as_bytes(), &[0; 64]));
}

#[test]
fn es256_der_signature_is_rejected() {
    let key = key(Algorithm::Es256);
    let token = token(&key);
    let input = &token[..token.rfind('.').unwrap()];
    // A genuine DER (ASN.1) signature by the same key over the same input.
    let asn1 = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        key.pkcs8(),
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let der = asn1
        .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
        .unwrap();
    assert!(
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_ASN1,
            key.public_key().bytes()
        )
        .verify(input.as_bytes(), der.as_ref())
        .is_ok(),
        "the DER signature itself is valid"
    );
    let token = format!("{input}.{}", base64url_encode(der.as_ref()));
    assert_eq!(verify_err(&token, key.public_key()), JwsError::BadSignature);
    // Truncated or extended fixed signatures too.
    let sig = key.sign(input.as_bytes()).unwrap();
    for bad in [&sig[..63], &[&sig[..], &[0]].concat()[..]] {
        assert!(!key.public_key().verify(input.as_bytes(), bad));
    }
}

// ---------------------------------------------------------------------------------------------
// SECURITY.md 5: kid is opaque

#[test]
fn hostile_kids_are_opaque_exact_and_not_found() {
    let key = key(Algorithm::Es256);
    let mut jwks = Jwks::new();
    jwks.push(key.public_key().clone());
    let hostile = [
        "../../../../etc/passwd",
        "..\\..\\keys",
        "\"quoted\"",
        "'; DROP TABLE keys; --",
        "nul\u{0}byte",
        "line\nbreak",
        "\u{202e}rtl",
        "https://attacker.example/jwks.json",
        &key.kid().to_uppercase(),
        &format!("{} ", key.kid()),
        &key.kid()[..42],
    ];
    for kid in hostile {
        let header = Header {
            kid: Some(kid),
            ..Header::for_key(&key)
        };
        let token = jws::encode(&header, &claims(), &key).unwrap();
        let decoded = jws::decode(&token).unwrap();
        assert_eq!(decoded.kid(), Some(kid), "returned exactly as sent");
        assert!(jwks.find(decoded.kid().unwrap()).is_none(), "{kid:?}");
    }
    assert!(jwks.find(key.kid()).is_some());
}

#[test]
fn oversized_kids_are_rejected_without_panicking() {
    let key = key(Algorithm::Es256);
    let long = "k".repeat(10 * 1024);
    let header = Header {
        kid: Some(&long),
        ..Header::for_key(&key)
    };
    assert_eq!(
        jws::encode(&header, &claims(), &key).unwrap_err(),
        JwsError::KidTooLong
    );
    let forged = forge_signed(
        format!(r#"{{"alg":"ES256","kid":"{long}"}}"#).as_bytes(),
        &claims(),
        &key,
    );
    assert_eq!(decode_err(&forged), JwsError::KidTooLong);

    let at_limit = "k".repeat(MAX_KID_LEN);
    let forged = forge_signed(
        format!(r#"{{"alg":"ES256","kid":"{at_limit}"}}"#).as_bytes(),
        &claims(),
        &key,
    );
    assert_eq!(jws::decode(&forged).unwrap().kid(), Some(&at_limit[..]));
    let over = format!("{at_limit}k");
    let forged = forge_signed(
        format!(r#"{{"alg":"ES256","kid":"{over}"}}"#).as_bytes(),
        &claims(),
        &key,
    );
    assert_eq!(decode_err(&forged), JwsError::KidTooLong);
    // Escapes count after unescaping: 256 NULs written as \u0000 are accepted, 257 are not.
    let nuls = "\\u0000".repeat(MAX_KID_LEN);
    let forged = forge_signed(
        format!(r#"{{"alg":"ES256","kid":"{nuls}"}}"#).as_bytes(),
        &claims(),
        &key,
    );
    assert_eq!(jws::decode(&forged).unwrap().kid().unwrap().len(), 256);
}

#[test]
fn kid_must_be_a_string() {
    for kid in ["1", "null", "[\"a\"]", "{\"a\":1}", "true"] {
        let header = format!(r#"{{"alg":"ES256","kid":{kid}}}"#);
        assert_eq!(
            decode_err(&forge(header.as_bytes(), &claims(), &[1; 64])),
            JwsError::InvalidHeader,
            "{kid}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// SECURITY.md 6: keys named by the token

#[test]
fn headers_naming_a_key_are_rejected() {
    let attacker = key(Algorithm::Es256);
    let attacker_jwk = serde_json::to_string(&attacker.public_key().to_jwk()).unwrap();
    let members = [
        format!(r#""jwk":{attacker_jwk}"#),
        r#""jku":"https://attacker.example/jwks.json""#.to_owned(),
        r#""x5c":["MIIB"]"#.to_owned(),
        r#""x5u":"https://attacker.example/cert.pem""#.to_owned(),
        r#""\u006a\u0077\u006b":{}"#.to_owned(),
        r#""jku":null"#.to_owned(),
    ];
    for member in members {
        let header = format!(r#"{{"alg":"ES256","kid":"{}",{member}}}"#, attacker.kid());
        // Validly signed by the key it names: still rejected.
        let token = forge_signed(header.as_bytes(), &claims(), &attacker);
        assert_eq!(decode_err(&token), JwsError::EmbeddedKey, "{member}");
    }
}

// ---------------------------------------------------------------------------------------------
// SECURITY.md 7: crit

#[test]
fn crit_is_rejected() {
    let key = key(Algorithm::Es256);
    for crit in [
        r#""crit":["exp"],"exp":1"#,
        r#""crit":["b64"],"b64":false"#,
        r#""crit":[]"#,
        r#""crit":"x""#,
    ] {
        let header = format!(r#"{{"alg":"ES256",{crit}}}"#);
        let token = forge_signed(header.as_bytes(), &claims(), &key);
        assert_eq!(decode_err(&token), JwsError::CriticalHeader, "{crit}");
    }
}

#[test]
fn other_header_members_are_reported_not_trusted() {
    let key = key(Algorithm::Es256);
    let header = br#"{"alg":"ES256","cty":"JWT","x5t":"abc","custom":{"a":[1,2]}}"#;
    let token = forge_signed(header, &claims(), &key);
    let decoded = jws::decode(&token).unwrap();
    assert!(decoded.has_extra_header_members());
    assert_eq!(decoded.kid(), None);
    assert_eq!(decoded.typ(), None);
    assert_eq!(decoded.header_json(), header);
    jws::verify(&decoded, key.public_key()).unwrap();
}

// ---------------------------------------------------------------------------------------------
// SECURITY.md 15: malformed input

#[test]
fn two_four_or_five_segments_are_rejected() {
    let key = key(Algorithm::Es256);
    let token = token(&key);
    let (input, _) = token.rsplit_once('.').unwrap();
    for bad in [
        input.to_owned(),
        format!("{token}.x"),
        format!("{token}."),
        format!("{token}.{token}"),
        format!("{input}..sig"),
        format!(".{token}"),
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "abc".into(),
    ] {
        let err = decode_err(&bad);
        assert!(
            matches!(err, JwsError::Malformed | JwsError::EmptySignature),
            "{bad:?}: {err:?}"
        );
    }
}

#[test]
fn bad_base64url_is_rejected_in_every_segment() {
    let key = key(Algorithm::Es256);
    let token = token(&key);
    let parts: Vec<&str> = token.split('.').collect();
    for segment in 0..3 {
        let corruptions: [fn(&str) -> String; 9] = [
            |s: &str| format!("{s}="),
            |s: &str| format!("{s}=="),
            |s: &str| format!("+{}", &s[1..]),
            |s: &str| format!("/{}", &s[1..]),
            |s: &str| format!(" {s}"),
            |s: &str| format!("{s}\n"),
            |s: &str| format!("{}%{}", &s[..1], &s[2..]),
            |s: &str| format!("{s}A"),
            |s: &str| format!("é{}", &s[2..]),
        ];
        for corrupt in corruptions {
            let mut bad = parts.clone();
            let replaced = corrupt(parts[segment]);
            bad[segment] = &replaced;
            let bad = bad.join(".");
            if let Ok(decoded) = jws::decode(&bad) {
                let verified = jws::verify(&decoded, key.public_key());
                assert!(verified.is_err(), "segment {segment}: {bad}");
            }
        }
    }
    // Specific errors for the plain cases.
    let padded = format!("{}=.{}.{}", parts[0], parts[1], parts[2]);
    assert_eq!(decode_err(&padded), JwsError::Base64);
    let std_alphabet = format!("{}.{}.+{}", parts[0], parts[1], &parts[2][1..]);
    assert_eq!(decode_err(&std_alphabet), JwsError::Base64);
}

#[test]
fn padding_and_noncanonical_trailing_bits_are_rejected() {
    // 1- and 2-byte tails, padded: the unpadded form decodes, the padded one does not.
    for payload in [&b"{}"[..], b"{ }", b"{  }"] {
        let header = br#"{"alg":"ES256"}"#;
        let text = base64url_encode(payload);
        let token = format!("{}.{text}.AAAA", base64url_encode(header));
        assert!(jws::decode(&token).is_ok());
        let pad = "=".repeat((4 - text.len() % 4) % 4);
        if !pad.is_empty() {
            let padded = format!("{}.{text}{pad}.AAAA", base64url_encode(header));
            assert_eq!(decode_err(&padded), JwsError::Base64);
        }
    }
    // ES256 signatures are 64 bytes: 86 characters whose last one carries 4 unused bits.
    let key = key(Algorithm::Es256);
    let token = token(&key);
    let (input, sig) = token.rsplit_once('.').unwrap();
    assert_eq!(sig.len(), 86);
    let last = sig.as_bytes()[85];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value = alphabet.iter().position(|&c| c == last).unwrap();
    for low in 1..16 {
        let alias = alphabet[(value & !0x0f) | low] as char;
        let bad = format!("{input}.{}{alias}", &sig[..85]);
        assert_eq!(decode_err(&bad), JwsError::Base64);
    }
}

#[test]
fn duplicate_header_members_are_rejected() {
    let key = key(Algorithm::Es256);
    for header in [
        r#"{"alg":"ES256","alg":"none"}"#,
        r#"{"alg":"none","alg":"ES256"}"#,
        r#"{"alg":"ES256","alg":"ES256"}"#,
        r#"{"alg":"ES256","\u0061lg":"ES256"}"#,
        r#"{"alg":"ES256","kid":"a","kid":"b"}"#,
        r#"{"alg":"ES256","typ":"JWT","typ":"at+jwt"}"#,
        r#"{"alg":"ES256","cty":"a","cty":"b"}"#,
        r#"{"alg":"ES256","ext":{"a":1,"a":2}}"#,
        r#"{"alg":"ES256","ext":[{"a":1,"a":2}]}"#,
    ] {
        let token = forge_signed(header.as_bytes(), &claims(), &key);
        assert_eq!(decode_err(&token), JwsError::DuplicateMember, "{header}");
    }
}

#[test]
fn duplicate_payload_members_are_rejected_by_the_strict_parser() {
    let key = key(Algorithm::Es256);
    for payload in [
        &br#"{"sub":"user-1","sub":"admin"}"#[..],
        br#"{"sub":"user-1","s\u0075b":"admin"}"#,
        br#"{"aud":"a","exp":1,"exp":99999999999}"#,
        br#"{"ctx":{"roles":["a"],"roles":["admin"]}}"#,
        br#"{"list":[{"x":1},{"y":1,"y":2}]}"#,
    ] {
        let token = forge_signed(br#"{"alg":"ES256"}"#, payload, &key);
        // The signature is genuine: only the strict parse catches it.
        let decoded = jws::decode(&token).unwrap();
        jws::verify(&decoded, key.public_key()).unwrap();
        assert_eq!(
            parse_object_strict(decoded.payload()).unwrap_err(),
            JwsError::DuplicateMember
        );
    }
}

#[test]
fn non_utf8_is_rejected_in_header_and_payload() {
    let key = key(Algorithm::Es256);
    for header in [
        &b"{\"alg\":\"ES256\",\"kid\":\"\xff\"}"[..],
        b"{\"alg\":\"ES256\",\"x\":\"\xc3\x28\"}",
        b"{\"alg\":\"ES256\",\"\xed\xa0\x80\":1}",
        b"\xef\xbb\xbf{\"alg\":\"ES256\"}",
        b"{\"alg\":\"ES256\",\"kid\":\"\\ud800\"}",
        b"{\"alg\":\"ES256\"}\xff",
    ] {
        let token = forge_signed(header, &claims(), &key);
        assert_eq!(decode_err(&token), JwsError::InvalidHeader, "{header:?}");
    }
    for payload in [
        &b"{\"sub\":\"\xff\"}"[..],
        b"{\"sub\":\"\\udc00\"}",
        b"{\"\xc0\xaf\":1}",
    ] {
        let token = forge_signed(br#"{"alg":"ES256"}"#, payload, &key);
        let decoded = jws::decode(&token).unwrap();
        assert_eq!(
            parse_object_strict(decoded.payload()).unwrap_err(),
            JwsError::InvalidJson
        );
    }
    // Non-ASCII anywhere in the compact form is not base64url.
    let token = token(&key).replacen('e', "é", 1);
    assert!(jws::decode(&token).is_err());
}

#[test]
fn headers_that_are_not_objects_or_lack_alg_are_rejected() {
    for header in [
        &b"[]"[..],
        b"\"ES256\"",
        b"null",
        b"1",
        b"{",
        b"{\"alg\":\"ES256\"",
        b"{\"alg\":\"ES256\"} {}",
        b"{\"alg\":1}",
        b"{\"alg\":null}",
        b"{\"alg\":[\"ES256\"]}",
        b"{\"alg\":\"ES256\",\"typ\":1}",
        b"{'alg':'ES256'}",
    ] {
        let token = forge(header, &claims(), &[1; 64]);
        assert_eq!(decode_err(&token), JwsError::InvalidHeader, "{header:?}");
    }
    let token = forge(b"{}", &claims(), &[1; 64]);
    assert_eq!(decode_err(&token), JwsError::MissingAlgorithm);
    let token = forge(br#"{"kid":"k"}"#, &claims(), &[1; 64]);
    assert_eq!(decode_err(&token), JwsError::MissingAlgorithm);
    for alg in [
        "HS256",
        "RS384",
        "ES512",
        "EdDSA25519",
        "es256",
        "ES256 ",
        "",
        "RSA-OAEP",
    ] {
        let header = format!(r#"{{"alg":"{alg}"}}"#);
        let token = forge(header.as_bytes(), &claims(), &[1; 64]);
        assert_eq!(decode_err(&token), JwsError::UnsupportedAlgorithm, "{alg}");
    }
    // Deep nesting is an error, not a stack overflow.
    let deep = format!(
        r#"{{"alg":"ES256","x":{}1{}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let token = forge(deep.as_bytes(), b"{}", &[1; 64]);
    assert!(jws::decode(&token).is_err());
    let deep_payload = format!(r#"{{"x":{}1{}}}"#, "[".repeat(5000), "]".repeat(5000));
    assert!(parse_object_strict(deep_payload.as_bytes()).is_err());
}

#[test]
fn one_megabyte_inputs_are_rejected_before_parsing() {
    let key = key(Algorithm::Es256);
    let token = token(&key);
    let huge_payload = format!("{}.{}.sig", "e".repeat(8), "A".repeat(1 << 20));
    for big in [
        "a".repeat(1 << 20),
        ".".repeat(1 << 20),
        huge_payload,
        format!("{token}{}", "A".repeat(1 << 20)),
        "A".repeat(MAX_TOKEN_LEN + 1),
    ] {
        assert_eq!(decode_err(&big), JwsError::TooLarge);
    }
    // And encode never produces what decode would refuse.
    let claims = serde_json::to_vec(&json!({ "pad": "x".repeat(MAX_TOKEN_LEN) })).unwrap();
    assert_eq!(
        jws::encode(&Header::for_key(&key), &claims, &key).unwrap_err(),
        JwsError::TooLarge
    );
}

#[test]
fn encode_refuses_claims_that_are_not_an_object() {
    let key = key(Algorithm::EdDsa);
    for bad in [&b""[..], b"[]", b"\"x\"", b"1", b"  "] {
        assert_eq!(
            jws::encode(&Header::for_key(&key), bad, &key).unwrap_err(),
            JwsError::ClaimsNotObject
        );
    }
}

#[test]
fn every_mutation_of_a_token_is_rejected_without_panicking() {
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let key = key(alg);
        let token = token(&key);
        let public = key.public_key();
        for len in 0..token.len() {
            let truncated = &token[..len];
            if let Ok(d) = jws::decode(truncated) {
                assert!(jws::verify(&d, public).is_err(), "{truncated}");
            }
        }
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            for replacement in [b'A', b'_', b'.', b'=', 0u8] {
                if bytes[i] == replacement {
                    continue;
                }
                let mut mutated = bytes.to_vec();
                mutated[i] = replacement;
                let Ok(mutated) = String::from_utf8(mutated) else {
                    continue;
                };
                if let Ok(d) = jws::decode(&mutated) {
                    assert!(jws::verify(&d, public).is_err(), "{i} → {replacement}");
                }
            }
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(input in "\\PC{0,600}") {
        let _ = jws::decode(&input);
        let _ = parse_object_strict(input.as_bytes());
        let _ = base64url_decode(&input);
    }

    #[test]
    fn arbitrary_three_segment_tokens_never_panic(
        header in "[A-Za-z0-9_=+/-]{0,80}",
        payload in "[A-Za-z0-9_=-]{0,120}",
        sig in "[A-Za-z0-9_=-]{0,90}",
    ) {
        let token = format!("{header}.{payload}.{sig}");
        if let Ok(decoded) = jws::decode(&token) {
            let key = KeyPair::generate(Algorithm::EdDsa).unwrap();
            prop_assert!(jws::verify(&decoded, key.public_key()).is_err());
        }
    }

    #[test]
    fn arbitrary_json_headers_never_panic(body in "\\PC{0,200}") {
        let token = forge(body.as_bytes(), b"{}", &[1; 64]);
        let _ = jws::decode(&token);
    }
}

// ---------------------------------------------------------------------------------------------
// SECURITY.md 17: at_hash / c_hash / s_hash

#[test]
fn half_hashes_follow_openid_connect() {
    // OpenID Connect Core 1.0 §A.3 (at_hash) and §A.4 (c_hash), RS256.
    assert_eq!(
        half_hash(
            Algorithm::Rs256,
            b"jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        ),
        "77QmUPtjPfzWtF2AnpK9RQ"
    );
    assert_eq!(
        half_hash(
            Algorithm::Rs256,
            b"Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
        ),
        "LDktKdoQak3Pk0cnXxCltA"
    );
    let token = b"an access token";
    let sha256 = ring::digest::digest(&ring::digest::SHA256, token);
    let sha512 = ring::digest::digest(&ring::digest::SHA512, token);
    for alg in [Algorithm::Es256, Algorithm::Rs256, Algorithm::Ps256] {
        assert_eq!(
            half_hash(alg, token),
            base64url_encode(&sha256.as_ref()[..16])
        );
    }
    // EdDSA (Ed25519): SHA-512, left 32 bytes.
    assert_eq!(
        half_hash(Algorithm::EdDsa, token),
        base64url_encode(&sha512.as_ref()[..32])
    );
    assert_eq!(half_hash(Algorithm::EdDsa, token).len(), 43);
    assert_eq!(half_hash(Algorithm::Es256, token).len(), 22);
}

// ---------------------------------------------------------------------------------------------
// Interop: a host whose jsonwebtoken uses the RustCrypto backend (this test binary enables it)

fn host_validation(alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg.to_jsonwebtoken());
    validation.set_issuer(&["https://id.example.com/t/acme"]);
    validation
}

#[test]
fn idcore_tokens_verify_with_the_hosts_jsonwebtoken() {
    for alg in Algorithm::ALL {
        let key = key(alg);
        let token = token(&key);
        let decoding = DecodingKey::from_jwk(&key.public_key().to_jwk()).unwrap();
        let data = jsonwebtoken::decode::<Value>(&token, &decoding, &host_validation(alg))
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(data.claims["sub"], "user-1");
        assert_eq!(data.header.kid.as_deref(), Some(key.kid()));

        // A tampered idcore token fails there too, without panicking.
        let (input, _) = token.rsplit_once('.').unwrap();
        let sig_len = key.sign(b"x").unwrap().len();
        let zero = format!("{input}.{}", base64url_encode(&vec![0; sig_len]));
        assert!(jsonwebtoken::decode::<Value>(&zero, &decoding, &host_validation(alg)).is_err());
    }
}

#[test]
fn the_hosts_jsonwebtoken_tokens_verify_with_idcore() {
    for alg in Algorithm::ALL {
        let key = key(alg);
        let encoding = match alg {
            Algorithm::Es256 => EncodingKey::from_ec_der(key.pkcs8()),
            Algorithm::EdDsa => EncodingKey::from_ed_der(key.pkcs8()),
            Algorithm::Rs256 | Algorithm::Ps256 => EncodingKey::from_rsa_der(RSA_2048_PKCS1),
        };
        let mut header = jsonwebtoken::Header::new(alg.to_jsonwebtoken());
        header.kid = Some(key.kid().to_owned());
        let claims: Value = serde_json::from_slice(&claims()).unwrap();
        let token = jsonwebtoken::encode(&header, &claims, &encoding)
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        let decoded = jws::decode(&token).unwrap();
        assert_eq!(decoded.kid(), Some(key.kid()));
        jws::verify(&decoded, key.public_key()).unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(
            Value::Object(parse_object_strict(decoded.payload()).unwrap()),
            claims
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Interop: jsonwebtoken through idcore's RING_PROVIDER, passed explicitly (never installed)

fn jsonwebtoken_style_token(
    alg: jsonwebtoken::Algorithm,
    kid: Option<&str>,
    encoding: &EncodingKey,
) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let input = format!(
        "{}.{}",
        base64url_encode(&serde_json::to_vec(&header).unwrap()),
        base64url_encode(&claims())
    );
    let signer = (RING_PROVIDER.signer_factory)(&alg, encoding).unwrap();
    assert_eq!(signer.algorithm(), alg);
    let sig = signer.try_sign(input.as_bytes()).unwrap();
    format!("{input}.{}", base64url_encode(&sig))
}

#[test]
fn ring_provider_tokens_verify_with_idcore_and_the_reverse() {
    for alg in Algorithm::ALL {
        let key = key(alg);
        let encoding = match alg {
            Algorithm::Es256 => EncodingKey::from_ec_der(key.pkcs8()),
            Algorithm::EdDsa => EncodingKey::from_ed_der(key.pkcs8()),
            Algorithm::Rs256 | Algorithm::Ps256 => EncodingKey::from_rsa_der(RSA_2048_PKCS1),
        };
        let jwt_alg = alg.to_jsonwebtoken();
        let token = jsonwebtoken_style_token(jwt_alg, Some(key.kid()), &encoding);
        let decoded = jws::decode(&token).unwrap();
        jws::verify(&decoded, key.public_key()).unwrap_or_else(|e| panic!("{alg}: {e:?}"));

        // idcore's token, verified by the provider's verifier from idcore's JWK.
        let token = self::token(&key);
        let (input, sig) = token.rsplit_once('.').unwrap();
        let decoding = DecodingKey::from_jwk(&key.public_key().to_jwk()).unwrap();
        let verifier = (RING_PROVIDER.verifier_factory)(&jwt_alg, &decoding).unwrap();
        assert_eq!(verifier.algorithm(), jwt_alg);
        let sig = base64url_decode(sig).unwrap();
        verifier.verify(input.as_bytes(), &sig).unwrap();
        assert!(verifier.verify(b"other input", &sig).is_err());
        // DER public keys work as well as JWK components.
        let der = match alg {
            Algorithm::Es256 => DecodingKey::from_ec_der(key.public_key().bytes()),
            Algorithm::EdDsa => DecodingKey::from_ed_der(key.public_key().bytes()),
            _ => DecodingKey::from_rsa_der(key.public_key().bytes()),
        };
        RingVerifier::new(jwt_alg, &der)
            .unwrap()
            .verify(input.as_bytes(), &sig)
            .unwrap();
    }
}

#[test]
fn ring_provider_signs_and_verifies_every_algorithm_ring_has() {
    use jsonwebtoken::Algorithm as J;
    let rng = ring::rand::SystemRandom::new();
    let p384 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let p384_public = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        p384.as_ref(),
        &rng,
    )
    .unwrap()
    .public_key()
    .as_ref()
    .to_vec();
    let es256 = key(Algorithm::Es256);
    let ed = key(Algorithm::EdDsa);
    let rsa_public = key(Algorithm::Rs256).public_key().bytes().to_vec();

    let cases: Vec<(J, EncodingKey, DecodingKey)> = vec![
        (
            J::HS256,
            EncodingKey::from_secret(b"s3cret"),
            DecodingKey::from_secret(b"s3cret"),
        ),
        (
            J::HS384,
            EncodingKey::from_secret(b"s3cret"),
            DecodingKey::from_secret(b"s3cret"),
        ),
        (
            J::HS512,
            EncodingKey::from_secret(b"s3cret"),
            DecodingKey::from_secret(b"s3cret"),
        ),
        (
            J::ES256,
            EncodingKey::from_ec_der(es256.pkcs8()),
            DecodingKey::from_ec_der(es256.public_key().bytes()),
        ),
        (
            J::ES384,
            EncodingKey::from_ec_der(p384.as_ref()),
            DecodingKey::from_ec_der(&p384_public),
        ),
        (
            J::EdDSA,
            EncodingKey::from_ed_der(ed.pkcs8()),
            DecodingKey::from_ed_der(ed.public_key().bytes()),
        ),
    ]
    .into_iter()
    .chain(
        [J::RS256, J::RS384, J::RS512, J::PS256, J::PS384, J::PS512].map(|alg| {
            (
                alg,
                EncodingKey::from_rsa_der(RSA_2048_PKCS1),
                DecodingKey::from_rsa_der(&rsa_public),
            )
        }),
    )
    .collect();

    for (alg, encoding, decoding) in cases {
        let signer = RingSigner::new(alg, &encoding).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        let verifier = RingVerifier::new(alg, &decoding).unwrap();
        let sig = signer.try_sign(b"message").unwrap();
        verifier
            .verify(b"message", &sig)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert!(verifier.verify(b"messagE", &sig).is_err());
        // The factories give the same.
        let signer = (RING_PROVIDER.signer_factory)(&alg, &encoding).unwrap();
        let verifier = (RING_PROVIDER.verifier_factory)(&alg, &decoding).unwrap();
        verifier
            .verify(b"message", &signer.try_sign(b"message").unwrap())
            .unwrap();
    }
}

#[test]
fn ring_provider_rejects_bad_keys_and_confusion_without_panicking() {
    use jsonwebtoken::Algorithm as J;
    let es = key(Algorithm::Es256);
    let ec_public = DecodingKey::from_ec_der(es.public_key().bytes());
    // Family mismatches: public keys are never HMAC secrets, secrets never sign as EC …
    assert!(RingVerifier::new(J::HS256, &ec_public).is_err());
    assert!(RingVerifier::new(J::RS256, &ec_public).is_err());
    assert!(RingSigner::new(J::ES256, &EncodingKey::from_secret(b"k")).is_err());
    assert!(RingSigner::new(J::HS256, &EncodingKey::from_ec_der(es.pkcs8())).is_err());
    // Garbage keys are errors, not panics.
    assert!(RingSigner::new(J::ES256, &EncodingKey::from_ec_der(b"junk")).is_err());
    assert!(RingSigner::new(J::ES384, &EncodingKey::from_ec_der(es.pkcs8())).is_err());
    assert!(RingSigner::new(J::EdDSA, &EncodingKey::from_ed_der(b"junk")).is_err());
    assert!(RingSigner::new(J::RS256, &EncodingKey::from_rsa_der(b"junk")).is_err());
    assert!(RingSigner::new(J::RS256, &EncodingKey::from_rsa_der(RSA_1024_PKCS8)).is_err());
    assert!(RingSigner::new(J::HS256, &EncodingKey::from_secret(b"")).is_err());
    assert!(RingVerifier::new(J::HS256, &DecodingKey::from_secret(b"")).is_err());
    for (alg, bad) in [
        (J::ES256, DecodingKey::from_ec_der(b"junk")),
        (J::EdDSA, DecodingKey::from_ed_der(b"")),
        (J::RS256, DecodingKey::from_rsa_der(b"junk")),
        (J::RS256, DecodingKey::from_rsa_raw_components(&[0], &[])),
    ] {
        let verifier = RingVerifier::new(alg, &bad).unwrap();
        assert!(verifier.verify(b"m", &vec![0; 64]).is_err());
        assert!(verifier.verify(b"m", &Vec::new()).is_err());
    }
}

#[test]
fn ring_provider_key_utils_match_idcore_keys() {
    let utils = &RING_PROVIDER.key_utils;
    let rsa = key(Algorithm::Rs256);
    let jwk = serde_json::to_value(rsa.public_key().to_jwk()).unwrap();
    let n = base64url_decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = base64url_decode(jwk["e"].as_str().unwrap()).unwrap();
    assert_eq!(
        (utils.rsa_pub_components_from_private_key)(RSA_2048_PKCS1).unwrap(),
        (n.clone(), e.clone())
    );
    assert_eq!(
        (utils.rsa_pub_components_from_public_key)(rsa.public_key().bytes()).unwrap(),
        (n, e)
    );
    let es = key(Algorithm::Es256);
    let (curve, x, y) =
        (utils.ec_pub_components_from_private_key)(es.pkcs8(), jsonwebtoken::Algorithm::ES256)
            .unwrap();
    assert_eq!(curve, EllipticCurve::P256);
    assert_eq!([&[4u8][..], &x, &y].concat(), es.public_key().bytes());
    let ed = key(Algorithm::EdDsa);
    assert_eq!(
        (utils.ed_pub_components_from_private_key)(ed.pkcs8(), &EllipticCurve::Ed25519).unwrap(),
        ed.public_key().bytes()
    );
    assert_eq!(
        (utils.compute_digest)(b"abc", ThumbprintHash::SHA256).unwrap(),
        ring::digest::digest(&ring::digest::SHA256, b"abc").as_ref()
    );
    // Bad input: errors, never the "no provider" panic.
    assert!((utils.rsa_pub_components_from_private_key)(b"junk").is_err());
    assert!((utils.rsa_pub_components_from_public_key)(b"junk").is_err());
    assert!(
        (utils.ec_pub_components_from_private_key)(b"junk", jsonwebtoken::Algorithm::ES256)
            .is_err()
    );
    assert!(
        (utils.ec_pub_components_from_private_key)(es.pkcs8(), jsonwebtoken::Algorithm::RS256)
            .is_err()
    );
    assert!((utils.ed_pub_components_from_private_key)(ed.pkcs8(), &EllipticCurve::P256).is_err());
}

/// idcore must work whatever provider the host installed, or none: so its token code never
/// reaches jsonwebtoken's process-wide default. A guard against regressions.
#[test]
fn idcore_never_touches_jsonwebtokens_process_default() {
    let sources = [
        include_str!("../src/crypto/keys.rs"),
        include_str!("../src/crypto/jws.rs"),
        include_str!("../src/crypto/provider.rs"),
    ];
    let forbidden = [
        "install_default(",
        "get_default(",
        "jsonwebtoken::encode",
        "jsonwebtoken::decode",
        "jsonwebtoken::crypto::sign",
        "jsonwebtoken::crypto::verify",
        "decode_header",
        ".thumbprint(",
        "from_encoding_key",
        "from_decoding_key",
    ];
    for source in sources {
        for line in source.lines() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for call in forbidden {
                assert!(!code.contains(call), "{call} in: {line}");
            }
        }
    }
}
