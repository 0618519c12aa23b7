//! Sign-in's (and refresh rotation's) keys, each derived from the host's key-encryption key for one purpose: HMAC-SHA256
//! keys for e-mail codes, recovery codes and device/address digests, and AES-256-GCM keys that
//! seal TOTP secrets and SSO connections' client secrets.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;

use crate::Error;
use crate::crypto::keys::EncryptionKey;
use crate::secret::{Digest, random_array};

/// The derived keys.
pub(crate) struct SigninKeys {
    email_codes: hmac::Key,
    recovery_codes: hmac::Key,
    signals: hmac::Key,
    session_tokens: hmac::Key,
    sso_admin_grants: hmac::Key,
    refresh_successors: hmac::Key,
    totp: LessSafeKey,
    sso_secrets: LessSafeKey,
}

impl SigninKeys {
    pub(crate) fn derive(kek: &EncryptionKey) -> Result<Self, Error> {
        let totp = UnboundKey::new(&aead::AES_256_GCM, &kek.derive(b"idcore signin totp seal"))
            .map_err(|_| Error::Keys("cannot derive the TOTP sealing key"))?;
        let sso = UnboundKey::new(&aead::AES_256_GCM, &kek.derive(b"idcore sso client secret"))
            .map_err(|_| Error::Keys("cannot derive the SSO secret sealing key"))?;
        Ok(Self {
            email_codes: hmac::Key::new(
                hmac::HMAC_SHA256,
                &kek.derive(b"idcore signin email code"),
            ),
            recovery_codes: hmac::Key::new(
                hmac::HMAC_SHA256,
                &kek.derive(b"idcore signin recovery code"),
            ),
            signals: hmac::Key::new(hmac::HMAC_SHA256, &kek.derive(b"idcore signin signals")),
            session_tokens: hmac::Key::new(hmac::HMAC_SHA256, &kek.derive(b"idcore session token")),
            sso_admin_grants: hmac::Key::new(
                hmac::HMAC_SHA256,
                &kek.derive(b"idcore sso admin grant"),
            ),
            refresh_successors: hmac::Key::new(
                hmac::HMAC_SHA256,
                &kek.derive(b"idcore refresh successor"),
            ),
            totp: LessSafeKey::new(totp),
            sso_secrets: LessSafeKey::new(sso),
        })
    }

    /// The keyed digest of an e-mail code and everything it is bound to.
    pub(crate) fn email_code(&self, parts: &[&[u8]]) -> Digest {
        mac(&self.email_codes, parts)
    }

    /// The keyed digest of a recovery code and its owner.
    pub(crate) fn recovery_code(&self, parts: &[&[u8]]) -> Digest {
        mac(&self.recovery_codes, parts)
    }

    /// The keyed digest of a device fingerprint or a client address for one user.
    pub(crate) fn signal(&self, parts: &[&[u8]]) -> Digest {
        mac(&self.signals, parts)
    }

    /// The 256 bits a session token is made of: a keyed function of the session's environment,
    /// id and nonce, so the token can be given again on reuse without ever being stored.
    pub(crate) fn session_token(&self, parts: &[&[u8]]) -> Digest {
        mac(&self.session_tokens, parts)
    }

    /// The 256 bits of a rotated refresh token's successor: a keyed function of the presented
    /// token, so a repeated refresh within the reuse interval gets the same successor without
    /// it ever being stored.
    pub(crate) fn refresh_successor(&self, parts: &[&[u8]]) -> Digest {
        mac(&self.refresh_successors, parts)
    }

    /// The keyed digest of an SSO administrator's grant and what it is bound to.
    pub(crate) fn sso_admin_grant(&self, parts: &[&[u8]]) -> Digest {
        mac(&self.sso_admin_grants, parts)
    }

    /// Seals an SSO connection's client secret, bound to `aad` (environment, organization,
    /// connection).
    pub(crate) fn seal_sso_secret(&self, secret: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        seal(&self.sso_secrets, secret, aad)
    }

    /// Opens a sealed SSO client secret.
    pub(crate) fn open_sso_secret(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        open(&self.sso_secrets, sealed, aad)
    }

    /// Seals a TOTP secret, bound to `aad` (environment, organization, user).
    pub(crate) fn seal_totp(&self, secret: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        seal(&self.totp, secret, aad)
    }

    /// Opens a sealed TOTP secret.
    pub(crate) fn open_totp(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        open(&self.totp, sealed, aad)
    }
}

/// `nonce ‖ ciphertext ‖ tag` of `secret` under `key`, bound to `aad`.
fn seal(key: &LessSafeKey, secret: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
    let nonce: [u8; 12] = random_array()?;
    let mut data = secret.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut data,
    )
    .map_err(|_| Error::Keys("cannot seal the secret"))?;
    let mut out = nonce.to_vec();
    out.extend(data);
    Ok(out)
}

/// Opens what [`seal`] sealed with the same key and `aad`.
fn open(key: &LessSafeKey, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
    if sealed.len() < 12 + 16 {
        return Err(Error::Keys("the sealed secret is truncated"));
    }
    let (nonce, rest) = sealed.split_at(12);
    let nonce = Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| Error::Keys("the sealed secret is malformed"))?;
    let mut data = rest.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut data)
        .map_err(|_| Error::Keys("cannot open the sealed secret (wrong key or tampered)"))?;
    Ok(plain.to_vec())
}

/// HMAC of length-prefixed parts, so no two part lists collide.
fn mac(key: &hmac::Key, parts: &[&[u8]]) -> Digest {
    let mut ctx = hmac::Context::with_key(key);
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p);
    }
    let tag = ctx.sign();
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    Digest::from_bytes(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> SigninKeys {
        SigninKeys::derive(&EncryptionKey::from_bytes(&[byte; 32]).expect("a 32-byte key")).unwrap()
    }

    #[test]
    fn each_purpose_has_its_own_key_and_derivation_is_deterministic() {
        let a = keys(1);
        let parts: &[&[u8]] = &[b"org", b"user", b"123456"];
        assert_eq!(a.email_code(parts), keys(1).email_code(parts));
        assert_ne!(a.email_code(parts), a.recovery_code(parts));
        assert_ne!(a.email_code(parts), a.signal(parts));
        assert_ne!(a.email_code(parts), keys(2).email_code(parts));
        // Length-prefixed parts: moving a boundary changes the digest.
        assert_ne!(a.email_code(&[b"ab", b"c"]), a.email_code(&[b"a", b"bc"]));
    }

    #[test]
    fn a_sealed_totp_secret_opens_only_with_its_key_and_binding() {
        let k = keys(1);
        let sealed = k.seal_totp(b"12345678901234567890", b"user-a").unwrap();
        assert_eq!(
            k.open_totp(&sealed, b"user-a").unwrap(),
            b"12345678901234567890"
        );
        assert!(k.open_totp(&sealed, b"user-b").is_err());
        assert!(keys(2).open_totp(&sealed, b"user-a").is_err());
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(k.open_totp(&tampered, b"user-a").is_err());
        assert!(k.open_totp(&sealed[..20], b"user-a").is_err());
    }
}
