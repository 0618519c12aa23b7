//! A ring-backed [`CryptoProvider`] for jsonwebtoken, for hosts that want one.
//!
//! idcore depends on jsonwebtoken with its backend features (`rust_crypto`, `aws_lc_rs`) off,
//! and uses only its JWK types ([`Jwk`](jsonwebtoken::jwk::Jwk),
//! [`JwkSet`](jsonwebtoken::jwk::JwkSet)). Tokens are signed and verified by
//! [`jws`](super::jws) with ring, through keys parsed once ([`keys`](super::keys)).
//!
//! # What idcore does with jsonwebtoken's process-wide provider
//!
//! **Nothing.** idcore never calls jsonwebtoken's global `encode`, `decode`, `decode_header`,
//! `crypto::sign`, `crypto::verify`, `jws::encode`/`jws::decode`, nor the JWK helpers that
//! reach the process default (`Jwk::from_encoding_key`, `Jwk::from_decoding_key` for RSA DER,
//! `Jwk::thumbprint`), and it never calls [`CryptoProvider::install_default`]. So:
//!
//! - a host whose jsonwebtoken has another backend (`rust_crypto`, `aws_lc_rs`), or that
//!   installed its own provider, or none, keeps exactly the behaviour it chose — idcore neither
//!   overrides it nor depends on it;
//! - idcore never hits jsonwebtoken's "no provider" panic, whatever the host's features.
//!
//! A host that wants jsonwebtoken's own `encode`/`decode` to run on ring, with no second crypto
//! stack, may install [`RING_PROVIDER`] itself, once, early in `main`:
//!
//! ```
//! // Err means another provider was installed first; idcore works either way.
//! let _ = idcore::tokens::provider::RING_PROVIDER.install_default();
//! ```
//!
//! or call its factories directly without touching the global ([`RingSigner::new`],
//! [`RingVerifier::new`]).
//!
//! Supported: HS256/384/512, ES256, ES384, EdDSA (Ed25519), RS256/384/512 and PS256/384/512
//! (RSA signing keys of 2048–4096 bits, verification keys of 2048–8192 bits). ECDSA signatures
//! are the fixed `r‖s` form. Nothing here panics on any key or input: unsupported algorithms
//! and bad keys are errors.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result, new_error};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::digest;
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{self as ring_sig, KeyPair as _};

use super::keys::parse_rsa_public_der;

/// jsonwebtoken's crypto, backed by ring. See the module docs for when to install it.
pub static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key,
        rsa_pub_components_from_public_key,
        ec_pub_components_from_private_key,
        ed_pub_components_from_private_key,
        compute_digest,
    },
};

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Ok(Box::new(RingSigner::new(*alg, key)?))
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    Ok(Box::new(RingVerifier::new(*alg, key)?))
}

/// A jsonwebtoken [`JwtSigner`] whose key ring parsed once, in [`new`](Self::new).
pub struct RingSigner {
    alg: Algorithm,
    key: SigningKey,
}

enum SigningKey {
    Hmac(hmac::Key),
    Ecdsa(ring_sig::EcdsaKeyPair),
    Ed25519(ring_sig::Ed25519KeyPair),
    Rsa(ring_sig::RsaKeyPair, &'static dyn ring_sig::RsaEncoding),
}

impl RingSigner {
    /// Parses `key` for `alg`: an HMAC secret; a PKCS#8 EC key (ES256: P-256, ES384: P-384); a
    /// PKCS#8 Ed25519 key (v1 or v2); an RSA key as PKCS#1 `RSAPrivateKey` or PKCS#8.
    ///
    /// # Errors
    /// `InvalidAlgorithm` when the key's family is not `alg`'s; `InvalidKeyFormat`,
    /// `InvalidEcdsaKey`, `InvalidEddsaKey` or `InvalidRsaKey` when ring rejects the key (an
    /// empty HMAC secret included); `UnsupportedAlgorithm` for algorithms added to jsonwebtoken
    /// later.
    pub fn new(alg: Algorithm, key: &EncodingKey) -> Result<Self> {
        if key.family() != alg.family() {
            return Err(new_error(ErrorKind::InvalidAlgorithm));
        }
        let bytes = key.as_bytes();
        let ecdsa = |signing: &'static ring_sig::EcdsaSigningAlgorithm| {
            ring_sig::EcdsaKeyPair::from_pkcs8(signing, bytes, &SystemRandom::new())
                .map(SigningKey::Ecdsa)
                .map_err(|_| new_error(ErrorKind::InvalidEcdsaKey))
        };
        let rsa = |encoding: &'static dyn ring_sig::RsaEncoding| {
            rsa_key_pair(bytes).map(|pair| SigningKey::Rsa(pair, encoding))
        };
        let key = match alg {
            Algorithm::HS256 => hmac_key(hmac::HMAC_SHA256, bytes)?,
            Algorithm::HS384 => hmac_key(hmac::HMAC_SHA384, bytes)?,
            Algorithm::HS512 => hmac_key(hmac::HMAC_SHA512, bytes)?,
            Algorithm::ES256 => ecdsa(&ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING)?,
            Algorithm::ES384 => ecdsa(&ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING)?,
            Algorithm::RS256 => rsa(&ring_sig::RSA_PKCS1_SHA256)?,
            Algorithm::RS384 => rsa(&ring_sig::RSA_PKCS1_SHA384)?,
            Algorithm::RS512 => rsa(&ring_sig::RSA_PKCS1_SHA512)?,
            Algorithm::PS256 => rsa(&ring_sig::RSA_PSS_SHA256)?,
            Algorithm::PS384 => rsa(&ring_sig::RSA_PSS_SHA384)?,
            Algorithm::PS512 => rsa(&ring_sig::RSA_PSS_SHA512)?,
            Algorithm::EdDSA => ring_sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes)
                .map(SigningKey::Ed25519)
                .map_err(|_| new_error(ErrorKind::InvalidEddsaKey))?,
            _ => return Err(new_error(ErrorKind::UnsupportedAlgorithm)),
        };
        Ok(Self { alg, key })
    }
}

fn hmac_key(alg: hmac::Algorithm, secret: &[u8]) -> Result<SigningKey> {
    if secret.is_empty() {
        return Err(new_error(ErrorKind::InvalidKeyFormat));
    }
    Ok(SigningKey::Hmac(hmac::Key::new(alg, secret)))
}

/// An RSA private key as PKCS#1 `RSAPrivateKey` (what jsonwebtoken's `from_rsa_der`/`pem`
/// hold) or, failing that, PKCS#8.
fn rsa_key_pair(der: &[u8]) -> Result<ring_sig::RsaKeyPair> {
    ring_sig::RsaKeyPair::from_der(der)
        .or_else(|_| ring_sig::RsaKeyPair::from_pkcs8(der))
        .map_err(|e| new_error(ErrorKind::InvalidRsaKey(e.to_string())))
}

impl signature::Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        match &self.key {
            SigningKey::Hmac(key) => Ok(hmac::sign(key, msg).as_ref().to_vec()),
            SigningKey::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), msg)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| signature::Error::new()),
            SigningKey::Ed25519(pair) => Ok(pair.sign(msg).as_ref().to_vec()),
            SigningKey::Rsa(pair, encoding) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(*encoding, &SystemRandom::new(), msg, &mut sig)
                    .map_err(|_| signature::Error::new())?;
                Ok(sig)
            }
        }
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// A jsonwebtoken [`JwtVerifier`] backed by ring.
pub struct RingVerifier {
    alg: Algorithm,
    key: VerifyingKey,
}

enum VerifyingKey {
    Hmac(hmac::Key),
    Public {
        alg: &'static dyn ring_sig::VerificationAlgorithm,
        bytes: Vec<u8>,
    },
    RsaComponents {
        params: &'static ring_sig::RsaParameters,
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

impl RingVerifier {
    /// Prepares `key` for `alg`: an HMAC secret; an EC uncompressed point (`from_ec_components`
    /// / `from_ec_der`); a 32-byte Ed25519 key; an RSA key as DER `RSAPublicKey` or `(n, e)`.
    /// Keys are checked when a signature is verified (a bad key fails every signature).
    ///
    /// # Errors
    /// `InvalidAlgorithm` when the key's family is not `alg`'s (so an RSA or EC public key can
    /// never become an HMAC secret); `InvalidKeyFormat` for an empty HMAC secret or RSA
    /// components given for a non-RSA algorithm; `UnsupportedAlgorithm` for algorithms added to
    /// jsonwebtoken later.
    pub fn new(alg: Algorithm, key: &DecodingKey) -> Result<Self> {
        if key.family() != alg.family() {
            return Err(new_error(ErrorKind::InvalidAlgorithm));
        }
        let public = |verification: &'static dyn ring_sig::VerificationAlgorithm| {
            key.try_get_as_bytes().map(|bytes| VerifyingKey::Public {
                alg: verification,
                bytes: bytes.to_vec(),
            })
        };
        let rsa = |params: &'static ring_sig::RsaParameters| -> Result<VerifyingKey> {
            Ok(match key.kind() {
                DecodingKeyKind::SecretOrDer(der) => VerifyingKey::Public {
                    alg: params,
                    bytes: der.clone(),
                },
                DecodingKeyKind::RsaModulusExponent { n, e } => VerifyingKey::RsaComponents {
                    params,
                    n: n.clone(),
                    e: e.clone(),
                },
            })
        };
        let hmac = |alg: hmac::Algorithm| match key.try_get_as_bytes()? {
            [] => Err(new_error(ErrorKind::InvalidKeyFormat)),
            secret => Ok(VerifyingKey::Hmac(hmac::Key::new(alg, secret))),
        };
        let key = match alg {
            Algorithm::HS256 => hmac(hmac::HMAC_SHA256)?,
            Algorithm::HS384 => hmac(hmac::HMAC_SHA384)?,
            Algorithm::HS512 => hmac(hmac::HMAC_SHA512)?,
            Algorithm::ES256 => public(&ring_sig::ECDSA_P256_SHA256_FIXED)?,
            Algorithm::ES384 => public(&ring_sig::ECDSA_P384_SHA384_FIXED)?,
            Algorithm::EdDSA => public(&ring_sig::ED25519)?,
            Algorithm::RS256 => rsa(&ring_sig::RSA_PKCS1_2048_8192_SHA256)?,
            Algorithm::RS384 => rsa(&ring_sig::RSA_PKCS1_2048_8192_SHA384)?,
            Algorithm::RS512 => rsa(&ring_sig::RSA_PKCS1_2048_8192_SHA512)?,
            Algorithm::PS256 => rsa(&ring_sig::RSA_PSS_2048_8192_SHA256)?,
            Algorithm::PS384 => rsa(&ring_sig::RSA_PSS_2048_8192_SHA384)?,
            Algorithm::PS512 => rsa(&ring_sig::RSA_PSS_2048_8192_SHA512)?,
            _ => return Err(new_error(ErrorKind::UnsupportedAlgorithm)),
        };
        Ok(Self { alg, key })
    }
}

impl signature::Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let verified = match &self.key {
            VerifyingKey::Hmac(key) => hmac::verify(key, msg, sig),
            VerifyingKey::Public { alg, bytes } => {
                ring_sig::UnparsedPublicKey::new(*alg, bytes).verify(msg, sig)
            }
            VerifyingKey::RsaComponents { params, n, e } => {
                ring_sig::RsaPublicKeyComponents { n, e }.verify(params, msg, sig)
            }
        };
        verified.map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn rsa_pub_components_from_private_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let pair = rsa_key_pair(der)?;
    let components = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((components.n, components.e))
}

fn rsa_pub_components_from_public_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let (n, e) = parse_rsa_public_der(der).ok_or_else(|| {
        new_error(ErrorKind::InvalidRsaKey(
            "not a DER RSAPublicKey".to_owned(),
        ))
    })?;
    Ok((n.to_vec(), e.to_vec()))
}

fn ec_pub_components_from_private_key(
    pkcs8: &[u8],
    alg: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    let (signing, curve, coordinate_len) = match alg {
        Algorithm::ES256 => (
            &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            EllipticCurve::P256,
            32,
        ),
        Algorithm::ES384 => (
            &ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            EllipticCurve::P384,
            48,
        ),
        _ => return Err(new_error(ErrorKind::InvalidEcdsaKey)),
    };
    let pair = ring_sig::EcdsaKeyPair::from_pkcs8(signing, pkcs8, &SystemRandom::new())
        .map_err(|_| new_error(ErrorKind::InvalidEcdsaKey))?;
    match pair.public_key().as_ref() {
        [0x04, xy @ ..] if xy.len() == 2 * coordinate_len => {
            let (x, y) = xy.split_at(coordinate_len);
            Ok((curve, x.to_vec(), y.to_vec()))
        }
        _ => Err(new_error(ErrorKind::InvalidEcdsaKey)),
    }
}

fn ed_pub_components_from_private_key(pkcs8: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>> {
    if *curve != EllipticCurve::Ed25519 {
        return Err(new_error(ErrorKind::InvalidAlgorithm));
    }
    let pair = ring_sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .map_err(|_| new_error(ErrorKind::InvalidEddsaKey))?;
    Ok(pair.public_key().as_ref().to_vec())
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
        _ => return Err(new_error(ErrorKind::UnsupportedAlgorithm)),
    };
    Ok(digest::digest(alg, data).as_ref().to_vec())
}
