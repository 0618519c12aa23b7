//! The sign-in service: sign-up, e-mail codes, passwords, TOTP, recovery codes, sign-in with
//! lockout and risk decisions, unregistering.
//!
//! The service is one type, [`SignIn`], whose methods are written in one file per flow
//! (`signup`, `credentials`, `factors`, `flow`, `unregister`, `guards`); this file holds the
//! type, the accessors every flow shares (store records, keys, audit) and small helpers.

use std::net::IpAddr;

use time::OffsetDateTime;

use super::{SigninKeys, SigninSettings};
use crate::Error;
use crate::error::FieldProblem;
use crate::identity::Identity;
use crate::model::event::{EventCode, NewEvent};
use crate::model::fields::Email;
use crate::model::ids::{ClientId, OrgDomain, UserId};
use crate::model::user::User;
use crate::risk::RiskDecision;
use crate::secret::random_array;
use crate::store::{AccountRole, AccountStatus, CredentialRecord, Key, Store};

use super::types::*;

/// The sign-in service of one organization; see [`Identity::signin`].
pub struct SignIn<'a, S> {
    pub(super) identity: &'a Identity<S>,
    pub(super) org: &'a OrgDomain,
}

impl<'a, S: Store> SignIn<'a, S> {
    pub(crate) fn new(identity: &'a Identity<S>, org: &'a OrgDomain) -> Self {
        Self { identity, org }
    }

    // ---------------------------------------------------------------- internals: keys, audit

    pub(super) fn settings(&self) -> &SigninSettings {
        self.identity.config().signin()
    }

    pub(super) fn keys(&self) -> Result<&SigninKeys, Error> {
        self.identity.signin_keys()
    }

    pub(super) fn user_key(&self, id: UserId) -> Key {
        Key::new("lockout:user", &[self.org.as_str(), &id.to_string()])
    }

    /// The lockout key of a login that names nobody, so unknown logins lock like known ones.
    pub(super) fn login_key(&self, login: &str) -> Result<Key, Error> {
        let digest =
            self.keys()?
                .signal(&[b"login", self.org.as_str().as_bytes(), login.as_bytes()]);
        Ok(Key::digest(
            &format!("lockout:login:{}", self.org.as_str()),
            &digest,
        ))
    }

    pub(super) fn ip_key(&self, ip: IpAddr) -> Key {
        Key::new("lockout:ip", &[self.org.as_str(), &ip_prefix(ip)])
    }

    /// The count of a user's failed guesses the risk engine reads.
    pub(super) fn user_failures_key(&self, id: UserId) -> Key {
        Key::new("failures:user", &[self.org.as_str(), &id.to_string()])
    }

    /// The count of a client address's failed guesses the risk engine reads.
    pub(super) fn ip_failures_key(&self, ip: IpAddr) -> Key {
        Key::new("failures:ip", &[self.org.as_str(), &ip_prefix(ip)])
    }

    /// A keyed tag of an address, so store keys never hold addresses in the clear.
    pub(super) fn address_tag(&self, address: &Email) -> Result<String, Error> {
        Ok(self
            .keys()?
            .signal(&[b"address", address.key().as_bytes()])
            .to_hex())
    }

    pub(super) fn totp_aad(&self, user_id: UserId) -> Vec<u8> {
        format!(
            "totp|{}|{}|{}",
            self.identity.environment(),
            self.org,
            user_id
        )
        .into_bytes()
    }

    pub(super) fn event(&self, code: EventCode, now: OffsetDateTime) -> NewEvent {
        NewEvent::new(code, now).tenant(self.org)
    }

    /// Records a failure and answers [`Error::SignInFailed`] — or the store error when the
    /// required event could not be written (still a refusal). Records `ACCOUNT_LOCKED` when this
    /// failure used the last attempt. With the guess's `guard` (a guess that was evaluated and
    /// failed: its reservations are kept), the failure is counted for the risk engine first; a
    /// store error counting it is answered too (still a refusal), but only after the events were
    /// written.
    pub(super) async fn failed(
        &self,
        code: EventCode,
        reason: &'static str,
        user: Option<&User>,
        client: Option<ClientId>,
        guard: Option<&Guard>,
        now: OffsetDateTime,
    ) -> Error {
        let counted = match guard {
            Some(g) => self.count_failure(g, now).await,
            None => Ok(()),
        };
        let mut event = self.event(code, now).detail("reason", reason);
        if let Some(u) = user {
            event = event.user(u.id, &u.profile.email);
        }
        if let Some(c) = client {
            event = event.client(c);
        }
        if let Err(e) = self.audit_required(event.clone()).await {
            return e;
        }
        if let Some(g) = guard
            && g.user_count >= self.settings().lockout.user_threshold
        {
            let mut locked = self.event(EventCode::ACCOUNT_LOCKED, now);
            locked.resource_owner_id = event.resource_owner_id;
            locked.email = event.email.clone();
            let until = now + self.settings().lockout.cool_down;
            locked = locked.detail("cool_down_seconds", until.unix_timestamp().to_string());
            if let Err(e) = self.audit_required(locked).await {
                return e;
            }
        }
        match counted {
            Ok(()) => Error::SignInFailed,
            Err(e) => e,
        }
    }

    /// As [`Self::failed`] for e-mail code checks, answering [`Error::InvalidCode`].
    pub(super) async fn code_failed(
        &self,
        reason: &'static str,
        user: Option<&User>,
        guard: Option<&Guard>,
        now: OffsetDateTime,
    ) -> Error {
        match self
            .failed(EventCode::EMAIL_CODE_FAILED, reason, user, None, guard, now)
            .await
        {
            Error::SignInFailed => Error::InvalidCode,
            e => e,
        }
    }

    /// As [`Self::failed`] for enrolment confirmations, answering [`Error::InvalidCode`].
    pub(super) async fn enrolment_failed(
        &self,
        reason: &'static str,
        user: &User,
        guard: Option<&Guard>,
        now: OffsetDateTime,
    ) -> Error {
        match self
            .failed(EventCode::MFA_FAILED, reason, Some(user), None, guard, now)
            .await
        {
            Error::SignInFailed => Error::InvalidCode,
            e => e,
        }
    }

    /// Records an informative event: failing to record it does not fail the call.
    pub(super) async fn audit(&self, event: NewEvent) {
        let _ = self
            .identity
            .store()
            .record_event(self.identity.environment(), &event)
            .await;
    }

    /// Records a required event: failing to record it is an error.
    pub(super) async fn audit_required(&self, event: NewEvent) -> Result<(), Error> {
        self.identity
            .store()
            .record_event(self.identity.environment(), &event)
            .await?;
        Ok(())
    }
}

/// What checking one factor of a pending entry led to.
pub(super) enum Progress {
    /// Every factor passed.
    Done(Box<(PendingPayload, User)>),
    /// More factors are needed: a new pending entry.
    More(PendingSignIn),
}

/// The factors a decision asks for. `implicit_totp`: an enrolled authenticator is always asked
/// for (sign-in), not only when the decision challenges (unregister).
pub(super) fn required_factors(
    decision: RiskDecision,
    has_totp: bool,
    implicit_totp: bool,
) -> Vec<FactorKind> {
    let mut factors = Vec::new();
    if implicit_totp && has_totp {
        factors.push(FactorKind::Totp);
    }
    let extra = match decision {
        RiskDecision::Accept | RiskDecision::Decline => None,
        RiskDecision::Challenge | RiskDecision::ChallengeDevice2fa => Some(if has_totp {
            FactorKind::Totp
        } else {
            FactorKind::EmailCode
        }),
        RiskDecision::ChallengeEmail => Some(FactorKind::EmailCode),
        other => Some(FactorKind::Host(other)),
    };
    if let Some(f) = extra
        && !factors.contains(&f)
    {
        factors.push(f);
    }
    factors
}

/// The RFC 8176 `amr` value of a passed factor.
pub(super) fn amr_of(factor: &Factor, kind: FactorKind) -> &'static str {
    match (factor, kind) {
        (Factor::Totp(_) | Factor::RecoveryCode(_) | Factor::EmailCode(_), _) => "otp",
        (Factor::HostVerified, FactorKind::Host(d)) => match d {
            RiskDecision::ChallengeSms => "sms",
            RiskDecision::ChallengePin => "pin",
            RiskDecision::ChallengeFingerprint => "fpt",
            RiskDecision::ChallengeFace => "face",
            _ => "swk",
        },
        (Factor::HostVerified, _) => "swk",
    }
}

pub(super) fn flow_name(flow: &Flow) -> &'static str {
    match flow {
        Flow::SignIn { .. } => "sign_in",
        Flow::Unregister { .. } => "unregister",
        Flow::Session { .. } => "session",
    }
}

pub(super) fn new_credentials(user: &User, now: OffsetDateTime) -> CredentialRecord {
    CredentialRecord {
        org: user.org.clone(),
        user_id: user.id,
        username: None,
        password_hash: None,
        status: if user.profile.email_verified {
            AccountStatus::Active
        } else {
            AccountStatus::Unverified
        },
        role: AccountRole::Member,
        totp: None,
        pending_totp: None,
        recovery_generation: 0,
        known_devices: Vec::new(),
        known_ips: Vec::new(),
        updated_at: now,
        version: 1,
    }
}

pub(super) fn check_authorization(a: &Authorization) -> Result<(), Error> {
    if a.nonce.as_deref().is_some_and(|n| n.chars().count() > 512) {
        return Err(Error::field("nonce", FieldProblem::TooLong { max: 512 }));
    }
    if a.state.as_deref().is_some_and(|s| s.chars().count() > 1024) {
        return Err(Error::field("state", FieldProblem::TooLong { max: 1024 }));
    }
    let scope_ok = a.scope.len() <= 32
        && a.scope.iter().all(|s| {
            (1..=128).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        });
    if !scope_ok {
        return Err(Error::field(
            "scope",
            FieldProblem::Format("must be at most 32 scopes of 1 to 128 visible characters"),
        ));
    }
    Ok(())
}

/// The address a lockout or a remembered address is kept under: an IPv4 address, or the /64 of
/// an IPv6 one (IPv4-mapped IPv6 counts as IPv4).
pub(super) fn ip_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

pub(super) fn push_bounded(
    list: &mut Vec<crate::secret::Digest>,
    item: Option<crate::secret::Digest>,
    max: usize,
) {
    let Some(item) = item else { return };
    list.retain(|d| *d != item);
    list.push(item);
    let excess = list.len().saturating_sub(max);
    list.drain(..excess);
}

pub(super) const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

pub(super) fn random_base32(n: usize) -> Result<String, Error> {
    let bytes: [u8; 32] = random_array()?;
    Ok(bytes
        .iter()
        .take(n)
        .map(|b| char::from(BASE32[usize::from(b & 31)]))
        .collect())
}

/// A uniformly random string of `digits` decimal digits (rejection sampling, no modulo bias).
pub(super) fn random_digits(digits: u8) -> Result<String, Error> {
    let bound = 10u64.pow(u32::from(digits));
    let limit = u64::MAX - (u64::MAX % bound);
    loop {
        let x = u64::from_be_bytes(random_array::<8>()?);
        if x < limit {
            return Ok(format!(
                "{:0width$}",
                x % bound,
                width = usize::from(digits)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_uniform_width() {
        for d in 6..=10 {
            let code = random_digits(d).unwrap();
            assert_eq!(code.len(), usize::from(d));
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_prefix(a), ip_prefix(b));
        assert_ne!(ip_prefix(a), ip_prefix(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(ip_prefix(mapped), "192.0.2.7");
    }

    #[test]
    fn decisions_map_to_factors() {
        use FactorKind::{EmailCode, Host, Totp};
        assert_eq!(required_factors(RiskDecision::Accept, false, true), []);
        assert_eq!(required_factors(RiskDecision::Accept, true, true), [Totp]);
        assert_eq!(required_factors(RiskDecision::Accept, true, false), []);
        assert_eq!(
            required_factors(RiskDecision::Challenge, false, true),
            [EmailCode]
        );
        assert_eq!(
            required_factors(RiskDecision::Challenge, true, true),
            [Totp]
        );
        assert_eq!(
            required_factors(RiskDecision::ChallengeEmail, true, true),
            [Totp, EmailCode]
        );
        assert_eq!(
            required_factors(RiskDecision::ChallengeFace, false, true),
            [Host(RiskDecision::ChallengeFace)]
        );
    }
}
