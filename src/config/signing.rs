//! The signed-request settings: the clock skew a timestamp may have, and whether the seed's
//! simple signature is accepted. Re-exported as `idcore::signing::SigningSettings`.

use time::Duration;

use super::bound;
use crate::error::ConfigError;

/// Whether requests signed with the simple scheme (`idcore-simple-v1`: timestamp, key, action
/// and user only) are accepted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SimpleSignatures {
    /// Refused (audited as `SIGNATURE_REJECTED`). The default: a simple signature does not
    /// protect the request's other parameters or its body.
    Refuse,
    /// Accepted, as the seed does (for testing, and for clients that cannot hash every
    /// parameter).
    Accept,
}

/// Signed-request settings. Every field is checked at build time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SigningSettings {
    /// How far a request's timestamp may be from the clock, either way (inclusive). Defaults to
    /// 5 minutes; 1 second to 15 minutes. A signature is remembered (to refuse its replay) for
    /// as long as its timestamp is acceptable.
    pub skew: Duration,
    /// Defaults to [`SimpleSignatures::Refuse`].
    pub simple_signatures: SimpleSignatures,
}

impl Default for SigningSettings {
    fn default() -> Self {
        Self {
            skew: Duration::minutes(5),
            simple_signatures: SimpleSignatures::Refuse,
        }
    }
}

impl SigningSettings {
    /// Checks every bound.
    ///
    /// # Errors
    /// [`ConfigError::Lifetime`] naming `signature_skew` when the skew is out of bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        bound(
            "signature_skew",
            self.skew,
            Duration::seconds(1),
            Duration::minutes(15),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_skew_is_bounded() {
        assert_eq!(SigningSettings::default().validate(), Ok(()));
        for (skew, ok) in [
            (Duration::seconds(1), true),
            (Duration::minutes(15), true),
            (Duration::milliseconds(999), false),
            (Duration::minutes(15) + Duration::seconds(1), false),
            (-Duration::minutes(5), false),
        ] {
            let settings = SigningSettings {
                skew,
                ..SigningSettings::default()
            };
            assert_eq!(settings.validate().is_ok(), ok, "{skew}");
        }
    }
}
