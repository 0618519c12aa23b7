//! The sign-in settings: password policy and hashing cost, lockout, e-mail codes, pending
//! sign-ins, remembered devices. Re-exported as `idcore::signin::{SigninSettings, LockoutPolicy}`.

use time::Duration;

use super::bound;
use crate::crypto::password::{Argon2Params, PasswordPolicy};
use crate::error::ConfigError;

/// Failed-attempt limits. Checked at build time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LockoutPolicy {
    /// Failed guesses per user (or unknown login) per window. Defaults to 5; 1 to 100.
    pub user_threshold: u64,
    /// Failed guesses per client address (IPv6: per /64) per window, across users. Defaults to
    /// 100; 1 to 100 000.
    pub ip_threshold: u64,
    /// The window, from its first failure. Defaults to 15 minutes; 1 minute to 1 day.
    pub cool_down: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            user_threshold: 5,
            ip_threshold: 100,
            cool_down: Duration::minutes(15),
        }
    }
}

/// Sign-in settings. Every field is checked at build time.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SigninSettings {
    /// New passwords' length limits. Defaults to [`PasswordPolicy::default`].
    pub password: PasswordPolicy,
    /// argon2id cost of new hashes. Defaults to m = 19 MiB, t = 2, p = 1.
    pub argon2: Argon2Params,
    /// Lockout. Defaults to [`LockoutPolicy::default`].
    pub lockout: LockoutPolicy,
    /// Digits of e-mail codes. Defaults to 6; 6 to 10. (Their lifetime is
    /// [`Lifetimes::email_code`](crate::Lifetimes::email_code), at most 10 minutes.)
    pub email_code_digits: u8,
    /// Wrong e-mail codes accepted per address and purpose within a code lifetime before every
    /// code of it is refused. Defaults to 5; 1 to 10.
    pub email_code_attempts: u64,
    /// E-mail codes sent per address and purpose within a code lifetime. Defaults to 5; 1 to 20.
    pub email_code_sends: u64,
    /// How long a pending sign-in (waiting for a second factor) lives. Defaults to 5 minutes;
    /// 1 to 15 minutes.
    pub pending_lifetime: Duration,
    /// The issuer label authenticator apps show. Defaults to the `managed_by` name.
    pub totp_issuer: Option<String>,
    /// Devices and client addresses remembered per user for risk decisions. Defaults to 10;
    /// 1 to 100.
    pub remembered_devices: usize,
}

impl Default for SigninSettings {
    fn default() -> Self {
        Self {
            password: PasswordPolicy::default(),
            argon2: Argon2Params::default(),
            lockout: LockoutPolicy::default(),
            email_code_digits: 6,
            email_code_attempts: 5,
            email_code_sends: 5,
            pending_lifetime: Duration::minutes(5),
            totp_issuer: None,
            remembered_devices: 10,
        }
    }
}

impl SigninSettings {
    /// Checks every bound.
    ///
    /// # Errors
    /// [`ConfigError::Inconsistent`] or [`ConfigError::Lifetime`] naming the first setting out
    /// of bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.password.validate()?;
        self.argon2.validate()?;
        let l = &self.lockout;
        if !(1..=100).contains(&l.user_threshold) {
            return Err(ConfigError::Inconsistent(
                "lockout user_threshold must be between 1 and 100",
            ));
        }
        if !(1..=100_000).contains(&l.ip_threshold) {
            return Err(ConfigError::Inconsistent(
                "lockout ip_threshold must be between 1 and 100000",
            ));
        }
        bound(
            "lockout_cool_down",
            l.cool_down,
            Duration::minutes(1),
            Duration::days(1),
        )?;
        bound(
            "pending_sign_in",
            self.pending_lifetime,
            Duration::minutes(1),
            Duration::minutes(15),
        )?;
        if !(6..=10).contains(&self.email_code_digits) {
            return Err(ConfigError::Inconsistent(
                "email_code_digits must be between 6 and 10",
            ));
        }
        if !(1..=10).contains(&self.email_code_attempts) {
            return Err(ConfigError::Inconsistent(
                "email_code_attempts must be between 1 and 10",
            ));
        }
        if !(1..=20).contains(&self.email_code_sends) {
            return Err(ConfigError::Inconsistent(
                "email_code_sends must be between 1 and 20",
            ));
        }
        if !(1..=100).contains(&self.remembered_devices) {
            return Err(ConfigError::Inconsistent(
                "remembered_devices must be between 1 and 100",
            ));
        }
        if self
            .totp_issuer
            .as_deref()
            .is_some_and(|i| i.trim().is_empty() || i.chars().count() > 100)
        {
            return Err(ConfigError::Inconsistent(
                "totp_issuer must be 1 to 100 characters",
            ));
        }
        Ok(())
    }
}
