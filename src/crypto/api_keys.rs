//! The sealing of API key secrets: AES-256-GCM under a key derived from the host's
//! key-encryption key for this purpose only, each secret bound (as associated data) to its
//! environment, organization and key id, so a sealed secret copied onto another key's record
//! does not open.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::Error;
use crate::crypto::keys::EncryptionKey;
use crate::secret::random_array;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The derived sealing key.
pub(crate) struct ApiKeySealer {
    key: LessSafeKey,
}

impl ApiKeySealer {
    pub(crate) fn derive(kek: &EncryptionKey) -> Result<Self, Error> {
        let subkey = Zeroizing::new(kek.derive(b"idcore api key secret"));
        let unbound = UnboundKey::new(&aead::AES_256_GCM, subkey.as_ref())
            .map_err(|_| Error::Keys("cannot derive the API key sealing key"))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Seals `secret` for the key `key_id` of `org` in `env`: nonce ‖ ciphertext ‖ tag.
    pub(crate) fn seal(
        &self,
        secret: &[u8],
        env: &str,
        org: &str,
        key_id: &str,
    ) -> Result<Vec<u8>, Error> {
        let nonce: [u8; NONCE_LEN] = random_array()?;
        let mut data = secret.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(env, org, key_id)),
                &mut data,
            )
            .map_err(|_| Error::Keys("cannot seal the API key secret"))?;
        let mut out = nonce.to_vec();
        out.extend(data);
        Ok(out)
    }

    /// Opens a sealed secret of the key `key_id` of `org` in `env`.
    pub(crate) fn open(
        &self,
        sealed: &[u8],
        env: &str,
        org: &str,
        key_id: &str,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::Keys("the sealed API key secret is truncated"));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| Error::Keys("the sealed API key secret is malformed"))?;
        let mut data = Zeroizing::new(rest.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad(env, org, key_id)), &mut data)
            .map_err(|_| Error::Keys("cannot open the API key secret (wrong key or tampered)"))?;
        Ok(Zeroizing::new(plain.to_vec()))
    }
}

/// The associated data: a domain tag and the three bindings, each length-prefixed.
fn aad(env: &str, org: &str, key_id: &str) -> Vec<u8> {
    let mut out = b"idcore api key secret v1".to_vec();
    for part in [env, org, key_id] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> ApiKeySealer {
        ApiKeySealer::derive(&EncryptionKey::from_bytes(&[byte; 32]).expect("32 bytes")).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_bindings() {
        let s = sealer(1);
        let sealed = s.seal(b"the secret", "sandbox", "acme", "ak_1").unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"the secret"));
        assert_eq!(
            s.open(&sealed, "sandbox", "acme", "ak_1")
                .unwrap()
                .as_slice(),
            b"the secret"
        );
        for (env, org, key) in [
            ("production", "acme", "ak_1"),
            ("sandbox", "acme2", "ak_1"),
            ("sandbox", "acme", "ak_2"),
            ("sandboxacme", "", "ak_1"),
        ] {
            assert!(s.open(&sealed, env, org, key).is_err(), "{env} {org} {key}");
        }
        assert!(sealer(2).open(&sealed, "sandbox", "acme", "ak_1").is_err());
        let mut tampered = sealed.clone();
        tampered[14] ^= 1;
        assert!(s.open(&tampered, "sandbox", "acme", "ak_1").is_err());
        assert!(s.open(&sealed[..20], "sandbox", "acme", "ak_1").is_err());
    }
}
