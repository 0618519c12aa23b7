//! STUB (lead's placeholder until the crypto core lands): ES256/EdDSA keys with ring.
#![allow(missing_docs)]

use ring::aead;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};

use crate::secret::base64url;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Algorithm {
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "PS256")]
    Ps256,
}

impl Algorithm {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }
}

#[derive(Debug)]
pub struct KeyError;

enum Inner {
    Es(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

pub struct KeyPair {
    alg: Algorithm,
    inner: Inner,
    pkcs8: Vec<u8>,
    kid: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPair([redacted])")
    }
}

impl KeyPair {
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let doc = match alg {
            Algorithm::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            }
            Algorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng),
            _ => return Err(KeyError),
        }
        .map_err(|_| KeyError)?;
        Self::from_pkcs8(alg, doc.as_ref())
    }

    pub fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let inner = match alg {
            Algorithm::Es256 => Inner::Es(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
                    .map_err(|_| KeyError)?,
            ),
            Algorithm::EdDsa => {
                Inner::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| KeyError)?)
            }
            _ => return Err(KeyError),
        };
        let public = match &inner {
            Inner::Es(k) => k.public_key().as_ref().to_vec(),
            Inner::Ed(k) => k.public_key().as_ref().to_vec(),
        };
        let kid = base64url(ring::digest::digest(&ring::digest::SHA256, &public).as_ref());
        Ok(Self {
            alg,
            inner,
            pkcs8: der.to_vec(),
            kid,
        })
    }

    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            Inner::Es(k) => k
                .sign(&SystemRandom::new(), msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError),
            Inner::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn public_key(&self) -> PublicKey {
        let bytes = match &self.inner {
            Inner::Es(k) => k.public_key().as_ref().to_vec(),
            Inner::Ed(k) => k.public_key().as_ref().to_vec(),
        };
        PublicKey {
            alg: self.alg,
            kid: self.kid.clone(),
            bytes,
        }
    }
}

#[derive(Clone, Debug)]
pub struct PublicKey {
    alg: Algorithm,
    kid: String,
    bytes: Vec<u8>,
}

impl PublicKey {
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }
    pub fn kid(&self) -> &str {
        &self.kid
    }
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match self.alg {
            Algorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::EdDsa => &signature::ED25519,
            _ => return false,
        };
        signature::UnparsedPublicKey::new(alg, &self.bytes)
            .verify(msg, sig)
            .is_ok()
    }
    pub fn to_jwk(&self) -> serde_json::Value {
        match self.alg {
            Algorithm::Es256 => {
                serde_json::json!({"kty":"EC","crv":"P-256","x":base64url(&self.bytes[1..33]),"y":base64url(&self.bytes[33..]),"kid":self.kid,"alg":"ES256","use":"sig"})
            }
            _ => {
                serde_json::json!({"kty":"OKP","crv":"Ed25519","x":base64url(&self.bytes),"kid":self.kid,"alg":"EdDSA","use":"sig"})
            }
        }
    }
}

#[derive(Clone)]
pub struct EncryptionKey([u8; 32]);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey([redacted])")
    }
}

impl EncryptionKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A 256-bit subkey for one purpose (HKDF-SHA256, the purpose as `info`), so the one key the
    /// host supplies never serves two purposes directly.
    pub(crate) fn derive(&self, purpose: &'static [u8]) -> [u8; 32] {
        struct Len;
        impl ring::hkdf::KeyType for Len {
            fn len(&self) -> usize {
                32
            }
        }
        let mut out = [0u8; 32];
        let ikm: &[u8] = self.0.as_ref();
        let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"idcore subkey").extract(ikm);
        // Invariant: 32 bytes is far below HKDF-SHA256's 255 × 32 byte limit, so expand and fill
        // cannot fail; should they, the zero key is never returned: we fall back to a SHA-256
        // of the purpose-tagged key, still a one-way function of the secret.
        let filled = prk
            .expand(&[purpose], Len)
            .and_then(|okm| okm.fill(&mut out))
            .is_ok();
        if !filled {
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            ctx.update(purpose);
            ctx.update(ikm);
            out.copy_from_slice(ctx.finish().as_ref());
        }
        out
    }
}

pub fn seal(pair: &KeyPair, key: &EncryptionKey) -> Result<Vec<u8>, KeyError> {
    let mut nonce = [0u8; 12];
    SystemRandom::new().fill(&mut nonce).map_err(|_| KeyError)?;
    let k = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, &key.0).map_err(|_| KeyError)?,
    );
    let mut data = pair.pkcs8().to_vec();
    k.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::from(pair.alg.as_str()),
        &mut data,
    )
    .map_err(|_| KeyError)?;
    let mut out = nonce.to_vec();
    out.extend(data);
    Ok(out)
}

pub fn open(alg: Algorithm, sealed: &[u8], key: &EncryptionKey) -> Result<KeyPair, KeyError> {
    if sealed.len() < 12 + 16 {
        return Err(KeyError);
    }
    let (nonce, rest) = sealed.split_at(12);
    let k = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, &key.0).map_err(|_| KeyError)?,
    );
    let mut data = rest.to_vec();
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError)?;
    let plain = k
        .open_in_place(nonce, aead::Aad::from(alg.as_str()), &mut data)
        .map_err(|_| KeyError)?;
    KeyPair::from_pkcs8(alg, plain)
}

pub fn half_hash(alg: Algorithm, bytes: &[u8]) -> String {
    let d = match alg {
        Algorithm::EdDsa => ring::digest::digest(&ring::digest::SHA512, bytes),
        _ => ring::digest::digest(&ring::digest::SHA256, bytes),
    };
    let h = d.as_ref();
    base64url(&h[..h.len() / 2])
}
