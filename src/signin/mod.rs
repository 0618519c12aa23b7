//! Sign-up and sign-in (seed 000): passwords, e-mail verification codes, TOTP with recovery
//! codes, lockout, risk decisions, unregistering — ending in an authorization code for the
//! tokens module.
//!
//! Reached through [`Identity::signin`](crate::Identity::signin), one organization at a time.
//!
//! ```text
//! sign_up ──► e-mail code ──► confirm_email ──► (begin/confirm_totp_enrolment ──► recovery codes)
//!
//! sign_in(login, password, authorization request, request context)
//!   ├─ Complete(code)                 no second factor, risk Accept
//!   └─ FactorRequired(pending) ──► complete(pending, TOTP | recovery code | e-mail code | host) ──► …
//!                                                                         └─► Complete(code) ──► tokens().exchange_code
//! ```
//!
//! # What an attacker learns
//! Nothing about whether an account exists or why a sign-in failed: an unknown login, a wrong
//! password, a wrong or replayed second factor, a locked account, a risk decline and an expired
//! pending sign-in are all [`Error::SignInFailed`](crate::Error::SignInFailed) (401), and an
//! unknown login costs the same password hash as a known one. The audit log keeps the real
//! reason (`SIGN_IN_FAILED` with a `reason` detail).
//!
//! # Lockout
//! Every guess — a password, a TOTP code, a recovery code, an e-mail code — first reserves one
//! failed attempt, atomically ([`CounterStore::increment`](crate::store::CounterStore::increment)),
//! on the user (or, for an unknown login, on the login) and on the client address; a success
//! gives its reservation back. A counter at its threshold refuses the guess before anything is
//! checked, so under any concurrency at most `threshold` guesses per window are ever evaluated.
//! The window starts at the first reservation that finds the counter at 0 (a success gives
//! its reservation back, so a window opened by a success closes with it) and lasts
//! [`LockoutPolicy::cool_down`].
//!
//! Exact counting has a price: a guess holds its reservation until it is checked, right or
//! wrong, so while [`LockoutPolicy::user_threshold`] attempts of one user are in flight at once
//! (tabs, devices, a service account signing in in parallel) another one is refused as
//! `account locked` — even with the right password, and although nothing failed; likewise past
//! [`LockoutPolicy::ip_threshold`] attempts in flight from one client address. Up to the
//! threshold (5 by default), less the window's failures, concurrent attempts all proceed. A host
//! expecting more raises it.
//!
//! # Failures the risk engine sees
//! The lockout counters hold the reservations of every guess in flight, so the risk engine is
//! not told them: [`recent_user_failures`](crate::risk::RiskContext::recent_user_failures) and
//! [`recent_ip_failures`](crate::risk::RiskContext::recent_ip_failures) are read from two
//! other counters, per user and per client address, that only a guess that was checked and
//! failed increments — a wrong password, an unknown login (on the address only), a wrong, used
//! or replayed TOTP, recovery or e-mail code, a wrong current password. Each counts from its
//! first failure for [`LockoutPolicy::cool_down`], up to the lockout threshold. Concurrent
//! sign-ins, finished or not, are never counted as failures of each other (with the default
//! rules, four concurrent right passwords of one user are not challenged); neither are guesses
//! refused unchecked (a locked account or address), risk declines and engine errors. A store
//! error counting a failure is answered as that error — the guess stays refused, its
//! reservations kept, its failure event written.
//!
//! # Secrets at rest
//! Password hashes are argon2id PHC strings; e-mail codes and recovery codes are stored only as
//! HMAC-SHA256 digests under keys derived from the host's key-encryption key; TOTP secrets are
//! sealed (AES-256-GCM) under another derived key. Sign-in therefore needs
//! [`IdentityBuilder::key_encryption_key`](crate::IdentityBuilder::key_encryption_key).

mod service;

pub use crate::crypto::{password, totp};

use std::fmt;

use time::Duration;

pub(crate) use crate::crypto::secrets::SigninKeys;
pub use service::{
    Authorization, Authorized, Factor, FactorKind, PendingSignIn, RecoveryCodes, SignIn,
    SignInRequest, SignInStep, SignUp, TotpEnrolment, UnregisterOutcome, UnregisterRequest,
};

use crate::error::{ConfigError, FieldProblem};
use password::{Argon2Params, PasswordPolicy};

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
        lifetime(
            "lockout_cool_down",
            l.cool_down,
            Duration::minutes(1),
            Duration::days(1),
        )?;
        lifetime(
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

fn lifetime(
    name: &'static str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::Lifetime {
            name,
            min_seconds: min.whole_seconds(),
            max_seconds: max.whole_seconds(),
        });
    }
    Ok(())
}

/// Maximum length of a username, in code points.
pub const USERNAME_MAX: usize = 64;

/// A username: 1 to [`USERNAME_MAX`] code points, no `@` (so a login tells e-mail addresses and
/// usernames apart), no spaces or control characters. Unique per organization case-insensitively:
/// it is kept case-folded.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Username(String);

impl Username {
    /// Parses a username and folds its case.
    ///
    /// # Errors
    /// [`FieldProblem`] when it is empty, too long, or has `@`, spaces or control characters.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        if s.is_empty() {
            return Err(FieldProblem::Empty);
        }
        if s.chars().count() > USERNAME_MAX {
            return Err(FieldProblem::TooLong { max: USERNAME_MAX });
        }
        if s.chars().any(char::is_control) {
            return Err(FieldProblem::ControlCharacters);
        }
        if s.chars().any(|c| c.is_whitespace() || c == '@') {
            return Err(FieldProblem::Format("must not contain spaces or @"));
        }
        Ok(Self(s.to_lowercase()))
    }

    /// The case-folded username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
