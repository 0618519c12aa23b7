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

mod credentials;
mod factors;
mod flow;
mod guards;
mod reauth;
mod service;
mod session;
mod signup;
mod types;
mod unregister;

pub use crate::crypto::{password, totp};

pub(crate) use crate::crypto::secrets::SigninKeys;
pub use reauth::Reauthentication;
pub use service::SignIn;
pub(crate) use session::{SessionBinding, SessionSignIn, SessionSignInStep};
pub use types::{
    Authorization, Authorized, Factor, FactorKind, PendingSignIn, RecoveryCodes, SignInRequest,
    SignInStep, SignUp, TotpEnrolment, UnregisterOutcome, UnregisterRequest,
};

pub use crate::config::{LockoutPolicy, SigninSettings};
pub use crate::model::username::{USERNAME_MAX, Username};

use crate::identity::Identity;
use crate::model::ids::OrgDomain;
use crate::store::Store;

impl<S: Store> Identity<S> {
    /// Sign-up and sign-in for one organization: passwords, e-mail codes, TOTP, recovery codes,
    /// lockout, risk decisions, unregistering.
    pub fn signin<'a>(&'a self, org: &'a OrgDomain) -> SignIn<'a, S> {
        SignIn::new(self, org)
    }
}
