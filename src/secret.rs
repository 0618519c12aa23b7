//! Secrets: drawn from the OS CSPRNG, kept as SHA-256 digests, compared in constant time.
//!
//! Every secret idcore hands out (client secrets, codes, refresh and session tokens) carries at
//! least 128 bits from [`ring::rand::SystemRandom`], is shown once as a [`Secret`], and is stored
//! only as its [`Digest`]. High-entropy secrets need no slow hash: a SHA-256 preimage of a
//! 128-bit random value cannot be searched.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Fills a fixed-size array from the operating system's CSPRNG.
///
/// # Errors
/// [`Error::Random`] if the OS generator fails; callers fail closed.
pub fn random_array<const N: usize>() -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| Error::Random)?;
    Ok(out)
}

/// A secret value shown to its owner once. `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A new secret of 256 random bits, base64url-encoded without padding (43 characters).
    ///
    /// # Errors
    /// [`Error::Random`] if the OS generator fails.
    pub fn generate() -> Result<Self, Error> {
        Ok(Self(base64url(&random_array::<32>()?)))
    }

    /// Wraps a secret presented by a client, to digest or compare it.
    pub fn from_presented(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Handle with care: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its SHA-256 digest, the only form idcore stores.
    pub fn digest(&self) -> Digest {
        Digest::of(self.0.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A SHA-256 digest, the stored form of a secret. Equality is constant-time.
#[derive(Clone, Copy, Eq, Serialize, Deserialize)]
pub struct Digest(pub(crate) [u8; 32]);

impl Digest {
    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let d = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Self(out)
    }

    /// Rebuilds a digest from its 32 raw bytes (as a store adapter reads it back).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw bytes (as a store adapter writes them).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, for keys and logs (a digest is not secret).
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

impl std::hash::Hash for Digest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({}…)", &self.to_hex()[..12])
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

pub(crate) use crate::encoding::hex;

pub(crate) fn base64url(bytes: &[u8]) -> String {
    crate::encoding::base64url_encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc4648_vectors_without_padding() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn generated_secrets_are_256_bits_and_distinct() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "Secret([redacted])");
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert_eq!(Digest::of(b"x"), Digest::of(b"x"));
        assert_ne!(Digest::of(b"x"), Digest::of(b"y"));
    }
}
