//! TOTP (RFC 6238) with the `totp-rs` crate: pure functions of a secret and a time.
//!
//! Codes of idcore's enrolments are what authenticator apps expect: HMAC-SHA1, 6 digits, 30-second
//! steps, a 160-bit secret. A code is accepted in the current step and one step on either side
//! (±30 s of clock drift), and the service accepts each step at most once
//! ([`ReplayStore::advance`](crate::store::ReplayStore::advance)): the same code again, or a code
//! of an older step than the last accepted one, is refused.

use std::fmt;

use crate::error::{Error, FieldProblem};

/// The step length of idcore's enrolments, in seconds.
pub const STEP_SECONDS: u64 = 30;
/// The digits of idcore's enrolments.
pub const DIGITS: u8 = 6;
/// The secret length of idcore's enrolments, in bytes (160 bits).
pub const SECRET_BYTES: usize = 20;

/// The last second a code is checked at (9999-12-31T23:59:59Z, the last instant `time` represents).
/// Past it no code matches: `totp-rs` multiplies the step back into seconds and would overflow near
/// `u64::MAX` (found by the TOTP fuzz target).
const LAST_UNIX_SECOND: u64 = 253_402_300_799;

/// The HMAC of a TOTP key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TotpAlgorithm {
    /// HMAC-SHA1, what every authenticator app supports (the default of enrolments).
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl TotpAlgorithm {
    fn to_rs(self) -> totp_rs::Algorithm {
        match self {
            Self::Sha1 => totp_rs::Algorithm::SHA1,
            Self::Sha256 => totp_rs::Algorithm::SHA256,
            Self::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

/// A TOTP key: a secret, an algorithm, a number of digits, 30-second steps, ±1 step accepted.
/// `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct TotpKey {
    inner: totp_rs::Totp,
}

impl fmt::Debug for TotpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpKey([redacted])")
    }
}

impl TotpKey {
    /// A key from raw secret bytes.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `totp.secret` when it is shorter than 128 bits (RFC 4226
    /// §4), or `totp.digits` outside 6 to 8.
    pub fn new(secret: &[u8], algorithm: TotpAlgorithm, digits: u8) -> Result<Self, Error> {
        Self::labelled(secret, algorithm, digits, None)
    }

    /// A key with the labels an `otpauth://` URI shows (colons are replaced by spaces).
    pub(crate) fn labelled(
        secret: &[u8],
        algorithm: TotpAlgorithm,
        digits: u8,
        label: Option<(&str, &str)>,
    ) -> Result<Self, Error> {
        if secret.len() < 16 {
            return Err(Error::field(
                "totp.secret",
                FieldProblem::Format("must be at least 128 bits"),
            ));
        }
        if !(6..=8).contains(&digits) {
            return Err(Error::field(
                "totp.digits",
                FieldProblem::OutOfRange { min: 6, max: 8 },
            ));
        }
        let mut builder = totp_rs::Builder::new()
            .with_algorithm(algorithm.to_rs())
            .with_digits(digits)
            .with_skew(1)
            .with_step_duration(STEP_SECONDS)
            .with_secret(secret.to_vec());
        if let Some((issuer, account)) = label {
            builder = builder
                .with_issuer(Some(issuer.replace(':', " ")))
                .with_account_name(account.replace(':', " "));
        }
        let inner = builder
            .build()
            .map_err(|_| Error::field("totp.secret", FieldProblem::Format("is unusable")))?;
        Ok(Self { inner })
    }

    /// The code of the step that contains `unix_seconds`.
    pub fn generate(&self, unix_seconds: u64) -> String {
        self.inner.generate(unix_seconds).to_string()
    }

    /// The step (`unix_seconds / 30`) whose code `code` is, among the step of `unix_seconds` and
    /// the one before and after it; `None` when it matches none of them. Comparison is
    /// constant-time per step.
    pub fn matching_step(&self, code: &str, unix_seconds: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != usize::from(self.inner.digits()) || unix_seconds > LAST_UNIX_SECOND {
            return None;
        }
        self.inner.check(code, unix_seconds)
    }

    /// The `otpauth://totp/…` URI authenticator apps scan.
    pub(crate) fn otpauth_uri(&self) -> Result<String, Error> {
        self.inner
            .to_url()
            .map_err(|_| Error::ApiMisuse("otpauth uri"))
    }

    /// The URI as a QR code, PNG bytes.
    pub(crate) fn qr_png(&self) -> Result<Vec<u8>, Error> {
        self.inner
            .to_qr_png()
            .map_err(|_| Error::ApiMisuse("otpauth qr code"))
    }

    /// The secret in base32 (RFC 4648, no padding), for manual entry in an app.
    pub(crate) fn secret_base32(&self) -> String {
        self.inner.secret().to_base32()
    }
}

/// The step that contains `unix_seconds`.
pub fn step_of(unix_seconds: u64) -> u64 {
    unix_seconds / STEP_SECONDS
}
