//! Signing keys: one algorithm per key, parsed once, `kid` = RFC 7638 thumbprint, sealed at rest.
//!
//! - [`KeyPair`] holds a private key already parsed by ring (parsing happens once, in
//!   [`KeyPair::generate`], [`KeyPair::from_pkcs8`] or [`open`], never per signature) together with
//!   its PKCS#8 bytes for storage. ES256 and EdDSA keys are generated with ring; RS256 and PS256
//!   keys (2048–4096 bits) are imported, since ring cannot generate RSA keys.
//! - [`PublicKey`] is what verifies: its algorithm, its `kid`, its public bytes in ring's form,
//!   and its JWK. [`Jwks`] is a set of them, published as the JWKS document and searched by
//!   exact `kid`.
//! - [`seal`] / [`open`] encrypt a private key at rest with AES-256-GCM under an
//!   [`EncryptionKey`] the host supplies.
//! - [`half_hash`] computes OpenID Connect `at_hash` / `c_hash` / `s_hash` values.
//!
//! Everything here uses ring directly. Nothing calls into jsonwebtoken's process-wide
//! `CryptoProvider`: jsonwebtoken is used only for its JWK types ([`Jwk`], [`JwkSet`]).

use std::fmt;

use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, OctetKeyPairParameters, OctetKeyPairType,
    PublicKeyUse, RSAKeyParameters, RSAKeyType,
};
use ring::aead;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, KeyPair as _};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::encoding::{base64url_decode, base64url_encode};

/// Longest signature any [`KeyPair`] produces: RSA with a 4096-bit modulus.
pub(crate) const MAX_SIGNATURE_LEN: usize = 512;

/// A signing algorithm. Each key has exactly one, fixed when the key is created or imported.
///
/// Serialized with its JOSE name: `"ES256"`, `"EdDSA"`, `"RS256"`, `"PS256"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256, fixed-length 64-byte `r‖s` signatures. The default.
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (imported keys of 2048–4096 bits).
    #[serde(rename = "RS256")]
    Rs256,
    /// RSASSA-PSS with SHA-256 (imported keys of 2048–4096 bits).
    #[serde(rename = "PS256")]
    Ps256,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Self; 4] = [Self::Es256, Self::EdDsa, Self::Rs256, Self::Ps256];

    /// The JOSE name (`alg` header value): `"ES256"`, `"EdDSA"`, `"RS256"`, `"PS256"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }

    /// The algorithm with exactly this JOSE name (case-sensitive), if supported.
    ///
    /// `none`, HMAC and every other name give `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            "RS256" => Some(Self::Rs256),
            "PS256" => Some(Self::Ps256),
            _ => None,
        }
    }

    /// The same algorithm as jsonwebtoken names it.
    pub const fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
            Self::Ps256 => jsonwebtoken::Algorithm::PS256,
        }
    }

    /// Whether [`KeyPair::generate`] can create keys of this algorithm (ES256 and EdDSA).
    pub const fn can_generate(self) -> bool {
        matches!(self, Self::Es256 | Self::EdDsa)
    }

    /// ring's verification algorithm for this JOSE algorithm.
    pub(crate) fn verification(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            Self::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            Self::EdDsa => &signature::ED25519,
            Self::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        }
    }

    const fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            Self::Es256 => KeyAlgorithm::ES256,
            Self::EdDsa => KeyAlgorithm::EdDSA,
            Self::Rs256 => KeyAlgorithm::RS256,
            Self::Ps256 => KeyAlgorithm::PS256,
        }
    }

    /// The byte naming this algorithm inside a sealed blob.
    const fn code(self) -> u8 {
        match self {
            Self::Es256 => 1,
            Self::EdDsa => 2,
            Self::Rs256 => 3,
            Self::Ps256 => 4,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a key could not be created, imported, used, sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// ring cannot generate keys of this algorithm (RSA): import a PKCS#8 key instead.
    #[error("{0} keys cannot be generated: import a PKCS#8 key")]
    CannotGenerate(Algorithm),
    /// An RSA key smaller than 2048 bits.
    #[error("{0} keys must have at least 2048 bits")]
    TooSmall(Algorithm),
    /// ring rejected the private key (wrong algorithm, bad encoding, inconsistent, too large …).
    #[error("{alg} private key rejected: {reason}")]
    Rejected {
        /// The algorithm the key was imported for.
        alg: Algorithm,
        /// ring's reason (`InvalidEncoding`, `WrongAlgorithm`, `TooLarge` …).
        reason: String,
    },
    /// Public key bytes or a JWK that are not a valid public key for the algorithm.
    #[error("invalid {alg} public key: {reason}")]
    InvalidPublicKey {
        /// The algorithm the key was given for.
        alg: Algorithm,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A JWK that idcore cannot use (no supported `alg`, wrong `kty` or curve …).
    #[error("unsupported JWK: {0}")]
    UnsupportedJwk(&'static str),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// ring failed to produce a signature.
    #[error("signing failed")]
    Signing,
    /// An encryption key that is not exactly 32 bytes (43 base64url characters).
    #[error("the key encryption key must be 32 bytes (43 base64url characters without padding)")]
    InvalidEncryptionKey,
    /// A sealed blob that is truncated or not in idcore's format.
    #[error("the sealed key is truncated or malformed")]
    MalformedSealedKey,
    /// A sealed blob written by an unknown format version.
    #[error("the sealed key has unsupported format version {0}")]
    UnsupportedSealVersion(u8),
    /// The sealed blob holds a key of another algorithm than the one asked for.
    #[error("the sealed key is not an {expected} key")]
    SealedAlgorithmMismatch {
        /// The algorithm the caller asked [`open`] for.
        expected: Algorithm,
    },
    /// Authenticated decryption failed: the encryption key is wrong or the blob was altered.
    #[error("the sealed key cannot be opened: wrong encryption key or tampered blob")]
    Unseal,
}

/// A private signing key, parsed once by ring, with its one [`Algorithm`] and its public half.
///
/// `Debug` prints the algorithm and `kid` but never the private key. The PKCS#8 copy kept for
/// [`pkcs8`](Self::pkcs8) is zeroized on drop (ring's parsed form is ring's to manage).
/// A key pair is `Send + Sync`; share it with `Arc` rather than cloning.
pub struct KeyPair {
    signer: Signer,
    pkcs8: Zeroizing<Vec<u8>>,
    public: PublicKey,
}

enum Signer {
    Ecdsa(signature::EcdsaKeyPair),
    Ed25519(signature::Ed25519KeyPair),
    Rsa {
        pair: signature::RsaKeyPair,
        padding: &'static dyn signature::RsaEncoding,
    },
}

impl KeyPair {
    /// Generates a new key with ring's CSPRNG: ES256 (P-256) or EdDSA (Ed25519).
    ///
    /// # Errors
    /// [`KeyError::CannotGenerate`] for RS256/PS256 (ring cannot generate RSA keys: use
    /// [`from_pkcs8`](Self::from_pkcs8)); [`KeyError::Random`] if the OS generator fails.
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let document = match alg {
            Algorithm::Es256 => signature::EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .map_err(|_| KeyError::Random)?,
            Algorithm::EdDsa => {
                signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Random)?
            }
            Algorithm::Rs256 | Algorithm::Ps256 => return Err(KeyError::CannotGenerate(alg)),
        };
        Self::from_pkcs8(alg, document.as_ref())
    }

    /// Imports an unencrypted PKCS#8 (DER) private key for `alg`.
    ///
    /// ES256: a P-256 `id-ecPublicKey` key with its public key. EdDSA: Ed25519, PKCS#8 v1 or v2
    /// (when v2 carries the public key, it must match). RS256/PS256: an `rsaEncryption` key of
    /// 2048 to 4096 bits.
    ///
    /// # Errors
    /// [`KeyError::TooSmall`] for an RSA key under 2048 bits; [`KeyError::Rejected`] when ring
    /// rejects the key (not PKCS#8, another algorithm or curve, inconsistent, too large).
    pub fn from_pkcs8(alg: Algorithm, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let rejected = |e: ring::error::KeyRejected| {
            let reason = e.to_string();
            if reason == "TooSmall" {
                KeyError::TooSmall(alg)
            } else {
                KeyError::Rejected { alg, reason }
            }
        };
        let (signer, public) = match alg {
            Algorithm::Es256 => {
                let pair = signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8,
                    &SystemRandom::new(),
                )
                .map_err(rejected)?;
                let public = PublicKey::from_bytes(alg, pair.public_key().as_ref())?;
                (Signer::Ecdsa(pair), public)
            }
            Algorithm::EdDsa => {
                let pair = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                    .map_err(rejected)?;
                let public = PublicKey::from_bytes(alg, pair.public_key().as_ref())?;
                (Signer::Ed25519(pair), public)
            }
            Algorithm::Rs256 | Algorithm::Ps256 => {
                let pair = signature::RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
                if pair.public().modulus_len() < 256 {
                    return Err(KeyError::TooSmall(alg));
                }
                let padding: &'static dyn signature::RsaEncoding = if alg == Algorithm::Rs256 {
                    &signature::RSA_PKCS1_SHA256
                } else {
                    &signature::RSA_PSS_SHA256
                };
                let public = PublicKey::from_bytes(alg, pair.public().as_ref())?;
                (Signer::Rsa { pair, padding }, public)
            }
        };
        Ok(Self {
            signer,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            public,
        })
    }

    /// Signs `msg`. ES256 signatures are the fixed 64-byte `r‖s` form JWS requires.
    ///
    /// # Errors
    /// [`KeyError::Signing`] if ring fails (the random generator, for ES256 and PS256).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut buf = [0u8; MAX_SIGNATURE_LEN];
        Ok(self.sign_into(msg, &mut buf)?.to_vec())
    }

    /// Signs `msg` into `buf` without allocating; returns the signature's part of `buf`.
    pub(crate) fn sign_into<'b>(
        &self,
        msg: &[u8],
        buf: &'b mut [u8; MAX_SIGNATURE_LEN],
    ) -> Result<&'b [u8], KeyError> {
        let written = match &self.signer {
            Signer::Ecdsa(pair) => {
                let sig = pair
                    .sign(&SystemRandom::new(), msg)
                    .map_err(|_| KeyError::Signing)?;
                copy_into(buf, sig.as_ref())?
            }
            Signer::Ed25519(pair) => copy_into(buf, pair.sign(msg).as_ref())?,
            Signer::Rsa { pair, padding } => {
                let len = pair.public().modulus_len();
                let out = buf.get_mut(..len).ok_or(KeyError::Signing)?;
                pair.sign(*padding, &SystemRandom::new(), msg, out)
                    .map_err(|_| KeyError::Signing)?;
                len
            }
        };
        // `copy_into` and the RSA branch both checked `written <= buf.len()`.
        Ok(&buf[..written])
    }

    /// The PKCS#8 (DER) encoding of the private key, for [`seal`]ing and storage.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key's one algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.public.alg
    }

    /// The key id: the RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key.
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// The public half (clone it to keep it beyond the key pair).
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }
}

fn copy_into(buf: &mut [u8; MAX_SIGNATURE_LEN], sig: &[u8]) -> Result<usize, KeyError> {
    buf.get_mut(..sig.len())
        .ok_or(KeyError::Signing)?
        .copy_from_slice(sig);
    Ok(sig.len())
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("alg", &self.public.alg)
            .field("kid", &self.public.kid)
            .field("private", &"[redacted]")
            .finish()
    }
}

/// A public verification key: its one algorithm, its `kid`, and its bytes in ring's form
/// (ES256: the 65-byte uncompressed point; EdDSA: the 32-byte key; RSA: DER `RSAPublicKey`).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    alg: Algorithm,
    kid: String,
    material: Material,
}

#[derive(Clone, PartialEq, Eq)]
enum Material {
    /// Uncompressed SEC1 point `04‖x‖y` (65 bytes).
    Ec(Box<[u8]>),
    /// The Ed25519 public key (32 bytes).
    Ed(Box<[u8]>),
    /// DER `RSAPublicKey` as ring uses it, and its components without leading zeros.
    Rsa {
        der: Box<[u8]>,
        n: Box<[u8]>,
        e: Box<[u8]>,
    },
}

impl PublicKey {
    /// A public key from its bytes in ring's form for `alg` (see the type's docs).
    ///
    /// Lengths and encodings are checked here; whether an EC point lies on the curve is checked
    /// by ring at each verification (a bad point verifies nothing).
    ///
    /// # Errors
    /// [`KeyError::InvalidPublicKey`] when the bytes have the wrong length or encoding, or an
    /// RSA modulus is outside 2048–8192 bits.
    pub fn from_bytes(alg: Algorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        let invalid = |reason| KeyError::InvalidPublicKey { alg, reason };
        let material = match alg {
            Algorithm::Es256 => {
                if bytes.len() != 65 || bytes[0] != 0x04 {
                    return Err(invalid("expected a 65-byte uncompressed P-256 point"));
                }
                Material::Ec(bytes.into())
            }
            Algorithm::EdDsa => {
                if bytes.len() != 32 {
                    return Err(invalid("expected a 32-byte Ed25519 key"));
                }
                Material::Ed(bytes.into())
            }
            Algorithm::Rs256 | Algorithm::Ps256 => {
                let (n, e) =
                    parse_rsa_public_der(bytes).ok_or(invalid("not a DER RSAPublicKey"))?;
                check_rsa_components(alg, n, e)?;
                Material::Rsa {
                    der: bytes.into(),
                    n: n.into(),
                    e: e.into(),
                }
            }
        };
        Ok(Self::with_material(alg, material))
    }

    /// A public key from a JWK with `alg` ES256, EdDSA, RS256 or PS256 and matching key type.
    ///
    /// The JWK's own `kid` is ignored: the key's `kid` is always its RFC 7638 thumbprint.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedJwk`] for a missing or unsupported `alg`, or a key type or curve
    /// that does not fit it; [`KeyError::InvalidPublicKey`] for bad base64url or key values.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let alg = match jwk.common.key_algorithm {
            Some(KeyAlgorithm::ES256) => Algorithm::Es256,
            Some(KeyAlgorithm::EdDSA) => Algorithm::EdDsa,
            Some(KeyAlgorithm::RS256) => Algorithm::Rs256,
            Some(KeyAlgorithm::PS256) => Algorithm::Ps256,
            _ => {
                return Err(KeyError::UnsupportedJwk(
                    "alg must be ES256, EdDSA, RS256 or PS256",
                ));
            }
        };
        let b64 = |s: &str| {
            base64url_decode(s).map_err(|_| KeyError::InvalidPublicKey {
                alg,
                reason: "a member is not base64url",
            })
        };
        match (&jwk.algorithm, alg) {
            (AlgorithmParameters::EllipticCurve(p), Algorithm::Es256)
                if p.curve == EllipticCurve::P256 =>
            {
                let (x, y) = (b64(&p.x)?, b64(&p.y)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(KeyError::InvalidPublicKey {
                        alg,
                        reason: "P-256 coordinates must be 32 bytes",
                    });
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Self::from_bytes(alg, &point)
            }
            (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDsa)
                if p.curve == EllipticCurve::Ed25519 =>
            {
                Self::from_bytes(alg, &b64(&p.x)?)
            }
            (AlgorithmParameters::RSA(p), Algorithm::Rs256 | Algorithm::Ps256) => {
                let (n, e) = (b64(&p.n)?, b64(&p.e)?);
                check_rsa_components(alg, &n, &e)?;
                let der = write_rsa_public_der(&n, &e);
                Ok(Self::with_material(
                    alg,
                    Material::Rsa {
                        der: der.into(),
                        n: n.into(),
                        e: e.into(),
                    },
                ))
            }
            _ => Err(KeyError::UnsupportedJwk(
                "key type or curve does not fit alg",
            )),
        }
    }

    fn with_material(alg: Algorithm, material: Material) -> Self {
        let kid = thumbprint(&material);
        Self { alg, kid, material }
    }

    /// The key's one algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id: the RFC 7638 JWK thumbprint (SHA-256, base64url) of the required members.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The length of this key's signatures.
    pub(crate) fn signature_len(&self) -> usize {
        match &self.material {
            Material::Ec(_) | Material::Ed(_) => 64,
            Material::Rsa { n, .. } => n.len(),
        }
    }

    /// The public key in ring's form (see the type's docs).
    pub fn bytes(&self) -> &[u8] {
        match &self.material {
            Material::Ec(b) | Material::Ed(b) => b,
            Material::Rsa { der, .. } => der,
        }
    }

    /// Whether `sig` is a valid signature of `msg` by this key, under the key's algorithm.
    ///
    /// ES256 accepts only the fixed 64-byte `r‖s` form: DER-encoded and all-zero signatures
    /// fail, as do signatures of the wrong length for any algorithm.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(self.alg.verification(), self.bytes())
            .verify(msg, sig)
            .is_ok()
    }

    /// The key as a JWK with `kid`, `alg` and `use` = `sig`.
    pub fn to_jwk(&self) -> Jwk {
        let algorithm = match &self.material {
            Material::Ec(point) => {
                let (x, y) = point[1..].split_at(32);
                AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                    key_type: EllipticCurveKeyType::EC,
                    curve: EllipticCurve::P256,
                    x: base64url_encode(x),
                    y: base64url_encode(y),
                })
            }
            Material::Ed(x) => AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: base64url_encode(x),
            }),
            Material::Rsa { n, e, .. } => AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: base64url_encode(n),
                e: base64url_encode(e),
            }),
        };
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(self.alg.key_algorithm()),
                key_id: Some(self.kid.clone()),
                ..CommonParameters::default()
            },
            algorithm,
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
fn thumbprint(material: &Material) -> String {
    let json = match material {
        Material::Ec(point) => {
            let (x, y) = point[1..].split_at(32);
            format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                base64url_encode(x),
                base64url_encode(y)
            )
        }
        Material::Ed(x) => format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            base64url_encode(x)
        ),
        Material::Rsa { n, e, .. } => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            base64url_encode(e),
            base64url_encode(n)
        ),
    };
    base64url_encode(digest::digest(&digest::SHA256, json.as_bytes()).as_ref())
}

/// Modulus of 2048–8192 bits and an odd exponent ≥ 3 of at most 33 bits, both minimal.
fn check_rsa_components(alg: Algorithm, n: &[u8], e: &[u8]) -> Result<(), KeyError> {
    let invalid = |reason| Err(KeyError::InvalidPublicKey { alg, reason });
    if n.first().is_none_or(|b| *b == 0) || e.first().is_none_or(|b| *b == 0) {
        return invalid("RSA components must be non-empty without leading zeros");
    }
    if n.len() < 256 || n.len() > 1024 {
        return invalid("RSA modulus must have 2048 to 8192 bits");
    }
    let odd = e.last().is_some_and(|b| b & 1 == 1);
    if e.len() > 5 || !odd || (e.len() == 1 && e[0] < 3) {
        return invalid("RSA exponent must be odd, at least 3 and at most 33 bits");
    }
    Ok(())
}

/// Splits a DER `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`) into minimal `n` and `e`.
pub(crate) fn parse_rsa_public_der(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (body, rest) = der_element(der, 0x30)?;
    if !rest.is_empty() {
        return None;
    }
    let (n, body) = der_element(body, 0x02)?;
    let (e, body) = der_element(body, 0x02)?;
    if !body.is_empty() {
        return None;
    }
    Some((der_unsigned(n)?, der_unsigned(e)?))
}

/// One DER element with tag `tag`: its contents and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, input) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, input) = input.split_first()?;
    let (len, input) = match first {
        0..=0x7f => (usize::from(first), input),
        0x81 => {
            let (&l, input) = input.split_first()?;
            if l < 0x80 {
                return None;
            }
            (usize::from(l), input)
        }
        0x82 => {
            let (l, input) = input.split_at_checked(2)?;
            let len = usize::from(l[0]) << 8 | usize::from(l[1]);
            if len < 0x100 {
                return None;
            }
            (len, input)
        }
        _ => return None,
    };
    input.split_at_checked(len)
}

/// A DER INTEGER's contents as an unsigned big-endian number without leading zeros, if it is
/// positive and minimally encoded.
fn der_unsigned(int: &[u8]) -> Option<&[u8]> {
    match int {
        [] => None,
        [0, rest @ ..] => match rest.first() {
            Some(b) if b & 0x80 != 0 => Some(rest),
            _ => None,
        },
        [b, ..] if b & 0x80 != 0 => None,
        _ => Some(int),
    }
}

/// DER `RSAPublicKey` from minimal big-endian `n` and `e` (each at most 1024 bytes).
fn write_rsa_public_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend_from_slice(&[0x81, len as u8]);
        } else {
            out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
    }
    fn push_int(out: &mut Vec<u8>, v: &[u8]) {
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        out.push(0x02);
        push_len(out, v.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 10);
    push_int(&mut body, n);
    push_int(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// A set of public keys: the JWKS document, and lookup by exact `kid`.
///
/// Serializes as the JWKS JSON (`{"keys":[…]}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    keys: Vec<PublicKey>,
}

impl Jwks {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key unless one with the same `kid` is already there; returns whether it was added.
    ///
    /// The thumbprint covers the key, not its algorithm: one RSA key imported both as RS256
    /// and as PS256 would have one `kid` for two algorithms. A key ring must refuse that (one
    /// algorithm per key); this set keeps the first and answers `false`.
    pub fn push(&mut self, key: PublicKey) -> bool {
        if self.find(key.kid()).is_some() {
            return false;
        }
        self.keys.push(key);
        true
    }

    /// The key whose `kid` is exactly `kid` (byte for byte), if any. Never fetches anything.
    pub fn find(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The keys, in insertion order.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// The set as jsonwebtoken's [`JwkSet`].
    pub fn to_jwk_set(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().map(PublicKey::to_jwk).collect(),
        }
    }

    /// The JWKS document as JSON.
    pub fn to_json(&self) -> String {
        // Invariant: a JwkSet holds only strings and unit enums, which always serialize.
        serde_json::to_string(&self.to_jwk_set()).expect("a JwkSet always serializes")
    }
}

impl FromIterator<PublicKey> for Jwks {
    fn from_iter<I: IntoIterator<Item = PublicKey>>(iter: I) -> Self {
        let mut set = Self::new();
        for key in iter {
            set.push(key);
        }
        set
    }
}

impl Serialize for Jwks {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_jwk_set().serialize(serializer)
    }
}

/// The host's 256-bit key encryption key for private signing keys at rest. `Debug` redacts it;
/// it is zeroized on drop.
#[derive(Clone)]
pub struct EncryptionKey(Zeroizing<[u8; 32]>);

impl EncryptionKey {
    /// Wraps 32 bytes from the host (its secret manager, KMS data key …).
    ///
    /// # Errors
    /// [`KeyError::InvalidEncryptionKey`] unless `bytes` is exactly 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::InvalidEncryptionKey)?;
        Ok(Self(Zeroizing::new(array)))
    }

    /// Decodes 32 bytes written as base64url without padding (43 characters).
    ///
    /// # Errors
    /// [`KeyError::InvalidEncryptionKey`] for anything else.
    pub fn from_base64url(text: &str) -> Result<Self, KeyError> {
        let bytes =
            Zeroizing::new(base64url_decode(text).map_err(|_| KeyError::InvalidEncryptionKey)?);
        Self::from_bytes(&bytes)
    }

    /// A new random key, e.g. for tests or to provision a host's secret store.
    ///
    /// # Errors
    /// [`KeyError::Random`] if the OS generator fails.
    pub fn generate() -> Result<Self, KeyError> {
        let mut key = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(key.as_mut())
            .map_err(|_| KeyError::Random)?;
        Ok(Self(key))
    }

    fn aead_key(&self) -> aead::LessSafeKey {
        // Invariant: AES-256-GCM keys are exactly 32 bytes, which the array guarantees.
        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, self.0.as_ref())
            .expect("a 32-byte key is valid for AES-256-GCM");
        aead::LessSafeKey::new(unbound)
    }
}

impl EncryptionKey {
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

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey([redacted])")
    }
}

const SEAL_VERSION: u8 = 1;
const SEAL_DOMAIN: &[u8] = b"idcore signing key\0";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Encrypts `key`'s PKCS#8 with AES-256-GCM under `kek`, for storage.
///
/// Layout: `version (1) ‖ alg (1) ‖ kid length (1) ‖ kid ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.
/// The nonce is 96 random bits from `SystemRandom`; the version, algorithm and `kid` are
/// authenticated as associated data, so a blob cannot be relabelled as another key or algorithm.
///
/// # Errors
/// [`KeyError::Random`] if the OS generator fails.
pub fn seal(key: &KeyPair, kek: &EncryptionKey) -> Result<Vec<u8>, KeyError> {
    let kid = key.kid().as_bytes();
    // Invariant: a kid is a base64url SHA-256 digest, 43 bytes.
    let kid_len = u8::try_from(kid.len()).map_err(|_| KeyError::MalformedSealedKey)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| KeyError::Random)?;

    let mut blob = Vec::with_capacity(3 + kid.len() + NONCE_LEN + key.pkcs8().len() + TAG_LEN);
    blob.extend_from_slice(&[SEAL_VERSION, key.algorithm().code(), kid_len]);
    blob.extend_from_slice(kid);
    let header_len = blob.len();
    blob.extend_from_slice(&nonce);
    let body_start = blob.len();
    blob.extend_from_slice(key.pkcs8());

    let aad = seal_aad(&blob[..header_len]);
    let tag = kek
        .aead_key()
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(&aad),
            &mut blob[body_start..],
        )
        .map_err(|_| KeyError::MalformedSealedKey)?;
    blob.extend_from_slice(tag.as_ref());
    Ok(blob)
}

/// Decrypts a blob written by [`seal`] and parses the key in it for `alg`.
///
/// # Errors
/// [`KeyError::MalformedSealedKey`] for a truncated or foreign blob;
/// [`KeyError::UnsupportedSealVersion`]; [`KeyError::SealedAlgorithmMismatch`] when the blob
/// holds another algorithm's key; [`KeyError::Unseal`] when `kek` is wrong or any byte was
/// altered.
pub fn open(alg: Algorithm, blob: &[u8], kek: &EncryptionKey) -> Result<KeyPair, KeyError> {
    let [version, code, kid_len, rest @ ..] = blob else {
        return Err(KeyError::MalformedSealedKey);
    };
    if *version != SEAL_VERSION {
        return Err(KeyError::UnsupportedSealVersion(*version));
    }
    if *code != alg.code() {
        return Err(KeyError::SealedAlgorithmMismatch { expected: alg });
    }
    let (kid, rest) = rest
        .split_at_checked(usize::from(*kid_len))
        .ok_or(KeyError::MalformedSealedKey)?;
    let (nonce, sealed) = rest
        .split_at_checked(NONCE_LEN)
        .ok_or(KeyError::MalformedSealedKey)?;
    if sealed.len() <= TAG_LEN {
        return Err(KeyError::MalformedSealedKey);
    }
    let nonce =
        aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::MalformedSealedKey)?;
    let aad = seal_aad(&blob[..3 + kid.len()]);
    let mut plain = Zeroizing::new(sealed.to_vec());
    let pkcs8 = kek
        .aead_key()
        .open_in_place(nonce, aead::Aad::from(&aad), plain.as_mut_slice())
        .map_err(|_| KeyError::Unseal)?;
    let key = KeyPair::from_pkcs8(alg, pkcs8)?;
    if key.kid().as_bytes() != kid {
        // Authenticated but inconsistent: written by something other than `seal`.
        return Err(KeyError::MalformedSealedKey);
    }
    Ok(key)
}

fn seal_aad(header: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(SEAL_DOMAIN.len() + header.len());
    aad.extend_from_slice(SEAL_DOMAIN);
    aad.extend_from_slice(header);
    aad
}

/// The OpenID Connect hash of `value` for an ID token signed with `alg`: the left half of its
/// digest, base64url without padding — for `at_hash` (the access token), `c_hash` (the code)
/// and `s_hash` (the state).
///
/// SHA-256 for ES256, RS256 and PS256; SHA-512 for EdDSA (Ed25519), as OpenID Connect specifies
/// for that algorithm.
pub fn half_hash(alg: Algorithm, value: &[u8]) -> String {
    let digest_alg = match alg {
        Algorithm::EdDsa => &digest::SHA512,
        Algorithm::Es256 | Algorithm::Rs256 | Algorithm::Ps256 => &digest::SHA256,
    };
    let digest = digest::digest(digest_alg, value);
    let bytes = digest.as_ref();
    base64url_encode(&bytes[..bytes.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_der_round_trips_and_rejects_non_minimal_integers() {
        let n = [0xc0u8; 256];
        let der = write_rsa_public_der(&n, &[1, 0, 1]);
        assert_eq!(parse_rsa_public_der(&der), Some((&n[..], &[1u8, 0, 1][..])));
        let mut bad = der.clone();
        bad.push(0);
        assert_eq!(parse_rsa_public_der(&bad), None);
        assert_eq!(parse_rsa_public_der(&[0x30, 0x03, 0x02, 0x01, 0x80]), None);
        assert_eq!(
            parse_rsa_public_der(&[0x30, 0x06, 0x02, 0x02, 0x00, 0x01, 0x02, 0x00]),
            None
        );
        for len in 0..der.len() {
            assert_eq!(parse_rsa_public_der(&der[..len]), None);
        }
    }

    #[test]
    fn algorithm_names_round_trip_exactly() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
            assert_eq!(
                serde_json::to_string(&alg).unwrap(),
                format!("\"{}\"", alg.name())
            );
        }
        for name in ["none", "None", "es256", "HS256", "ES384", ""] {
            assert_eq!(Algorithm::from_name(name), None);
        }
    }

    #[test]
    fn half_hash_uses_sha512_for_eddsa() {
        // OpenID Connect Core §A.3 example: at_hash of this access token with RS256.
        assert_eq!(
            half_hash(
                Algorithm::Rs256,
                b"jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        let h = half_hash(Algorithm::EdDsa, b"x");
        let full = digest::digest(&digest::SHA512, b"x");
        assert_eq!(h, base64url_encode(&full.as_ref()[..32]));
    }
}
