//! Crowd-style SSO sessions (seed 002): a user authenticates once, with the validation factors
//! of its device (`remote_address`, `X-Forwarded-For`, a user agent …), and gets a session
//! token that every application of the organization can validate — and trade for an
//! authorization code of its own without the password again.
//!
//! ```text
//! authenticate ─► (TOTP / challenge: complete) ─► Session { token }  ◄── reuse: same user + factors
//!      validate(token, factors) ─► slides the idle expiry, never the absolute one
//!      get(token, factors)       ─► the same, without keeping it alive
//!      authorize(token, factors, authorization request) ─► an authorization code (SSO)
//!      invalidate(token) · invalidate_user(login, exclude) · list / end (a user's devices)
//! ```
//!
//! # Opening a session
//! [`Sessions::authenticate`] takes the path of a sign-in: the lockout, the password (a dummy
//! hash for an unknown login), the risk engine, then the enrolled authenticator and whatever the
//! risk decision challenges, each completed with [`Sessions::complete`]. A session is never
//! weaker than a sign-in. A trusted application may open a session for a user it authenticated
//! itself (Crowd's `validate-password=false`) with [`Sessions::open_trusted`], holding a
//! [`TrustedApplication`]: only applications the host lists in
//! [`SessionSettings::trusted_applications`] get one, and every such session is audited with
//! `how = trusted`.
//!
//! The session lives `duration` (capped by [`SessionSettings::default_timeout`], which also
//! applies when no duration is asked for) after its last validation, and never longer than
//! [`SessionSettings::max_lifetime`] after its creation (SECURITY 35).
//!
//! # Validation factors
//! A session is bound to the factors it was created with. [`Sessions::validate`] and
//! [`Sessions::get`] compare the presented ones under the application's [`FactorPolicy`]
//! ([`SessionSettings::application_policies`], or the default: every bound factor, the
//! `remote_address` by IPv4 address or IPv6 /64); a mismatch answers
//! [`Error::InvalidSession`] — the same as an unknown token — and records
//! `SESSION_FACTORS_MISMATCH` with the real reason (SECURITY 34).
//!
//! # Reuse
//! Authenticating again while a session of the same user with the same factors (as the
//! application's policy compares them) is live answers *that* session and its token (seed;
//! SECURITY 36); concurrent authentications give one session ([`SessionStore::open_session`] is
//! atomic on the reuse key).
//!
//! # The token, and why it is never stored
//! A session token is `base64url(HMAC-SHA256(k, env ‖ session id ‖ nonce))`, 43 characters and
//! 256 bits, where the nonce is 128 bits from the OS generator and `k` is derived from the
//! host's key-encryption key for this one purpose (HKDF, `idcore session token`). The store keeps
//! the id, the nonce and the SHA-256 of the token — never the token — and finds a presented token
//! by that digest (an index lookup on a digest leaks nothing usable about the token). On reuse the
//! token is derived again from the stored id and nonce, and checked against the stored digest in
//! constant time. Someone who reads the whole store can neither use a digest as a token nor
//! derive one without the key-encryption key; rotating that key ends every session (a stored
//! session whose token cannot be derived again is replaced on the next authentication).
//! (SECURITY 37.)
//!
//! # Ending sessions
//! A session ends when its idle or absolute expiry passes, when it is invalidated, when every
//! session of its user is ([`Sessions::invalidate_user`]), when the limit evicts it, and with
//! every token of its user: global sign-out, disabling, deleting the user and changing its
//! password all end every session (SECURITY 30). A deleted organization's sessions are refused
//! at once (validation needs the organization live) and its users' sessions go with them.
//!
//! # Writes
//! A validation reads the session and the user, and writes the slid idle expiry only when the
//! last written validation is at least [`SessionSettings::touch_interval`] old (or a quarter of
//! the session's timeout, if shorter): one store write per session per interval however busy
//! the session is. A session then lives between `timeout − interval` and `timeout` after its
//! last validation.
//!
//! # The session limit
//! With [`SessionSettings::limit`], a user's sessions are a counted set
//! ([`LimitedSetStore`](crate::store::LimitedSetStore)); a new session past the limit is refused
//! ([`Error::SessionLimitReached`]) or the oldest session ends, exactly under any concurrency.

mod end;
mod open;
mod seats;
mod service;
mod types;
mod validate;

pub use crate::config::{SessionLimit, SessionSettings};
pub use crate::model::session::{
    FactorMatch, FactorMismatch, FactorPolicy, ValidationFactor, ValidationFactors,
};
pub use crate::store::WhenFull;
pub(crate) use seats::Seats;
pub use service::Sessions;
pub use types::{Authenticate, Session, SessionInfo, SessionStep, TrustedApplication};

use crate::identity::Identity;
use crate::model::ids::OrgDomain;
use crate::store::Store;

#[cfg(doc)]
use crate::{Error, store::SessionStore};

impl<S: Store> Identity<S> {
    /// Crowd-style SSO sessions of one organization.
    pub fn sessions<'a>(&'a self, org: &'a OrgDomain) -> Sessions<'a, S> {
        Sessions::new(self, org)
    }
}
