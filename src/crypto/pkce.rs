//! PKCE (RFC 7636), S256 only: the code challenge stored with a code, the verifier presented at
//! the exchange.

use crate::Error;
use crate::secret::{base64url, constant_time_eq};

/// A code challenge: `BASE64URL(SHA256(verifier))`, 43 characters. Only the `S256` method exists
/// here; `plain` is refused when the challenge is created, so there is nothing to downgrade to.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Parses a challenge sent with `code_challenge_method`.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when the method is not `S256` (including absent or `plain`), or
    /// the challenge is not 43 base64url characters.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, Error> {
        if method != Some("S256") {
            return Err(Error::InvalidRequest("code_challenge_method must be S256"));
        }
        let ok = challenge.len() == 43
            && challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(Error::InvalidRequest(
                "code_challenge must be 43 base64url characters",
            ));
        }
        Ok(Self(challenge.to_owned()))
    }

    /// The challenge of a verifier (what a client computes).
    ///
    /// # Errors
    /// As [`check_verifier_syntax`].
    pub fn s256(verifier: &str) -> Result<Self, Error> {
        check_verifier_syntax(verifier)?;
        Ok(Self(s256(verifier)))
    }

    /// The challenge string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` answers this challenge (syntax checked, then compared in constant time).
    pub fn verify(&self, verifier: &str) -> bool {
        check_verifier_syntax(verifier).is_ok()
            && constant_time_eq(s256(verifier).as_bytes(), self.0.as_bytes())
    }
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
///
/// # Errors
/// [`Error::InvalidRequest`] otherwise.
pub fn check_verifier_syntax(verifier: &str) -> Result<(), Error> {
    let ok = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest(
            "code_verifier must be 43 to 128 unreserved characters",
        ))
    }
}

fn s256(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64url(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector_reproduces() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = CodeChallenge::s256(verifier).unwrap();
        assert_eq!(
            challenge.as_str(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(challenge.verify(verifier));
    }

    #[test]
    fn verifiers_of_wrong_length_or_alphabet_are_refused() {
        let challenge = CodeChallenge::s256(&"a".repeat(43)).unwrap();
        assert!(!challenge.verify(&"a".repeat(42)));
        assert!(!challenge.verify(&"a".repeat(129)));
        assert!(!challenge.verify(&format!("{}+", "a".repeat(42))));
        assert!(!challenge.verify(&"b".repeat(43)));
        assert!(!challenge.verify(""));
    }

    #[test]
    fn plain_or_missing_method_is_refused() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(CodeChallenge::parse(c, Some("S256")).is_ok());
        for method in [None, Some("plain"), Some("s256"), Some("")] {
            let err = CodeChallenge::parse(c, method).unwrap_err();
            assert_eq!(err.code(), "invalid_request");
        }
    }
}
