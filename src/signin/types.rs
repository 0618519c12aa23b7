//! The requests and answers of the sign-in service, and the pending state its flows keep.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::Username;
use crate::Error;
use crate::crypto::password::Password;
use crate::crypto::pkce::CodeChallenge;
use crate::error::FieldProblem;
use crate::model::ids::{ClientId, OrgDomain, UserId};
use crate::model::session::ValidationFactor;
use crate::model::user::NewUser;
use crate::risk::{RequestContext, RiskDecision};
use crate::secret::Secret;
use crate::store::Key;

/// Key namespace of pending sign-ins in the one-time store.
pub(super) const PENDING_NAMESPACE: &str = "signin_pending";
/// Key namespace of e-mail codes in the one-time store.
pub(super) const EMAIL_CODE_NAMESPACE: &str = "email_code";
/// Key namespace of recovery codes in the one-time store.
pub(super) const RECOVERY_NAMESPACE: &str = "recovery_code";
/// Recovery codes do not expire on their own; this bounds how long the store keeps them.
pub(super) const RECOVERY_LIFETIME: Duration = Duration::days(3653);
/// Recovery codes issued at a time.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters of a recovery code (base32: 5 bits each, 50 bits in all).
pub(super) const RECOVERY_CODE_CHARS: usize = 10;
/// Read-modify-write attempts on credentials before [`Error::Conflict`].
pub(super) const UPDATE_ATTEMPTS: usize = 5;

/// The input of [`SignIn::sign_up`](super::SignIn::sign_up): the new user, its password, and optionally a username.
#[derive(Clone, Debug)]
pub struct SignUp {
    pub(super) user: NewUser,
    pub(super) password: Password,
    pub(super) username: Option<Username>,
}

impl SignUp {
    /// A sign-up of `user` with `password`.
    pub fn new(user: NewUser, password: Password) -> Self {
        Self {
            user,
            password,
            username: None,
        }
    }

    /// Also a username the user can sign in with.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `username`.
    pub fn username(mut self, username: &str) -> Result<Self, Error> {
        self.username = Some(Username::parse(username).map_err(|p| Error::field("username", p))?);
        Ok(self)
    }
}

/// The OAuth authorization request a sign-in answers: the code will be bound to all of it.
#[derive(Clone, Debug)]
pub struct Authorization {
    /// The client that asked.
    pub client_id: ClientId,
    /// The redirect URI: exactly one of the application's allowed URLs.
    pub redirect_uri: String,
    /// The PKCE challenge (S256).
    pub code_challenge: CodeChallenge,
    /// The OIDC nonce (at most 512 characters).
    pub nonce: Option<String>,
    /// The OAuth state (at most 1024 characters).
    pub state: Option<String>,
    /// Requested scopes (at most 32, each 1 to 128 visible ASCII characters).
    pub scope: Vec<String>,
}

/// The input of [`SignIn::sign_in`](super::SignIn::sign_in).
#[derive(Clone, Debug)]
pub struct SignInRequest {
    /// An e-mail address or a username.
    pub login: String,
    /// The password as typed.
    pub password: Password,
    /// The authorization request.
    pub authorization: Authorization,
    /// The host's signals (client address, device data …).
    pub context: RequestContext,
}

/// A factor a pending sign-in (or unregister) still needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum FactorKind {
    /// A TOTP code from the enrolled authenticator, or one of the recovery codes.
    Totp,
    /// The code just sent to the account's e-mail address.
    EmailCode,
    /// A factor the host verifies itself (SMS, Cronto, PIN, fingerprint, face …), named by the
    /// risk decision that asked for it.
    Host(RiskDecision),
}

/// A factor presented to [`SignIn::complete`](super::SignIn::complete).
#[derive(Clone, PartialEq, Eq)]
pub enum Factor {
    /// A TOTP code.
    Totp(String),
    /// A recovery code (single use).
    RecoveryCode(String),
    /// The e-mail code.
    EmailCode(String),
    /// The host verified the factor a [`FactorKind::Host`] asked for, by its own means. Only
    /// construct this after that verification succeeded: idcore takes the host's word.
    HostVerified,
}

impl fmt::Debug for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Totp(_) => "Totp([redacted])",
            Self::RecoveryCode(_) => "RecoveryCode([redacted])",
            Self::EmailCode(_) => "EmailCode([redacted])",
            Self::HostVerified => "HostVerified",
        })
    }
}

impl Factor {
    pub(super) fn kind(&self, remaining: &[FactorKind]) -> Option<FactorKind> {
        match self {
            Self::Totp(_) | Self::RecoveryCode(_) => Some(FactorKind::Totp),
            Self::EmailCode(_) => Some(FactorKind::EmailCode),
            Self::HostVerified => remaining
                .iter()
                .copied()
                .find(|k| matches!(k, FactorKind::Host(_))),
        }
        .filter(|k| remaining.contains(k))
    }
}

/// A sign-in that waits for more factors. Hand `token` to the user agent (it is a bearer secret
/// for [`SignIn::complete`](super::SignIn::complete)); `factors` says what to ask for.
#[derive(Debug)]
pub struct PendingSignIn {
    /// The pending sign-in's token (256 bits; idcore keeps only its digest).
    pub token: Secret,
    /// What is still needed, all of it, in any order.
    pub factors: Vec<FactorKind>,
    /// The risk decision of this sign-in.
    pub decision: RiskDecision,
    /// When the pending sign-in expires.
    pub expires_at: OffsetDateTime,
}

/// A completed sign-in: redirect the user agent to `redirect_uri` with `code` and `state`.
#[derive(Debug)]
pub struct Authorized {
    /// The authorization code (single use; redeem with
    /// [`Tokens::exchange_code`](crate::tokens::Tokens::exchange_code)).
    pub code: Secret,
    /// Where to redirect.
    pub redirect_uri: String,
    /// The state to echo.
    pub state: Option<String>,
    /// Who signed in.
    pub user_id: UserId,
}

/// The answer of [`SignIn::sign_in`](super::SignIn::sign_in) and [`SignIn::complete`](super::SignIn::complete).
#[derive(Debug)]
pub enum SignInStep {
    /// Signed in.
    Complete(Authorized),
    /// More factors are needed.
    FactorRequired(PendingSignIn),
}

/// An authenticator enrolment in progress: show the QR code (or the secret for manual entry),
/// then confirm with [`SignIn::confirm_totp_enrolment`](super::SignIn::confirm_totp_enrolment). `Debug` redacts the secret.
pub struct TotpEnrolment {
    pub(super) secret: Secret,
    pub(super) otpauth_uri: Secret,
    pub(super) qr_png: Vec<u8>,
}

impl TotpEnrolment {
    /// The secret in base32, for manual entry. Show once.
    pub fn secret_base32(&self) -> &Secret {
        &self.secret
    }

    /// The `otpauth://totp/…` URI (it contains the secret).
    pub fn otpauth_uri(&self) -> &Secret {
        &self.otpauth_uri
    }

    /// The URI as a QR code, PNG bytes.
    pub fn qr_png(&self) -> &[u8] {
        &self.qr_png
    }
}

impl fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TotpEnrolment {{ secret: [redacted], qr_png: {} bytes }}",
            self.qr_png.len()
        )
    }
}

/// Recovery codes, shown once: idcore keeps only keyed digests. Each works once, in place of a
/// TOTP code.
#[derive(Debug)]
pub struct RecoveryCodes(pub(super) Vec<Secret>);

impl RecoveryCodes {
    /// The codes (`xxxxx-xxxxx`).
    pub fn codes(&self) -> &[Secret] {
        &self.0
    }
}

/// The input of [`SignIn::unregister`](super::SignIn::unregister): the risk signals, and who asks and why (for the audit
/// log).
#[derive(Clone, Debug)]
pub struct UnregisterRequest {
    pub(super) context: RequestContext,
    pub(super) requested_by: String,
    pub(super) reason: String,
}

impl UnregisterRequest {
    /// An unregister request. `requested_by` names who asks (the user itself, an admin's id, a
    /// back-office tool), 1 to 200 characters; `reason` says why, 1 to 1000 characters.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `requested_by` or `reason`.
    pub fn new(context: RequestContext, requested_by: &str, reason: &str) -> Result<Self, Error> {
        Ok(Self {
            context,
            requested_by: audit_text("requested_by", requested_by, 200)?,
            reason: audit_text("reason", reason, 1000)?,
        })
    }
}

pub(super) fn audit_text(field: &'static str, s: &str, max: usize) -> Result<String, Error> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Error::field(field, FieldProblem::Empty));
    }
    if s.chars().count() > max {
        return Err(Error::field(field, FieldProblem::TooLong { max }));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::field(field, FieldProblem::ControlCharacters));
    }
    Ok(s.to_owned())
}

/// What [`SignIn::unregister`](super::SignIn::unregister) did (seed 004). Map it to the seed's answer with
/// [`unregister::answer`](crate::protocol::unregister::answer).
#[derive(Debug)]
pub enum UnregisterOutcome {
    /// The account was erased: credentials gone, every token revoked (`riskResponseCode` 0).
    Unregistered,
    /// The risk engine declined: nothing changed (`riskResponseCode` 1).
    Declined,
    /// The risk engine asked for a challenge: nothing changes until it is passed with
    /// [`SignIn::complete_unregister`](super::SignIn::complete_unregister).
    Challenged(PendingSignIn),
}

impl UnregisterOutcome {
    /// The seed's `riskResponseCode`.
    pub fn risk_response_code(&self) -> u8 {
        match self {
            Self::Unregistered => RiskDecision::Accept.code(),
            Self::Declined => RiskDecision::Decline.code(),
            Self::Challenged(p) => p.decision.code(),
        }
    }
}

/// Which flow a pending entry belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FlowKind {
    SignIn,
    Unregister,
    Session,
}

/// What a pending entry continues.
#[derive(Clone, Serialize, Deserialize)]
pub(super) enum Flow {
    SignIn {
        client_id: ClientId,
        redirect_uri: String,
        code_challenge: String,
        nonce: Option<String>,
        state: Option<String>,
        scope: Vec<String>,
    },
    Unregister {
        requested_by: String,
        reason: String,
    },
    /// A Crowd-style session: what it will be bound to once every factor passed.
    Session {
        client_id: Option<ClientId>,
        factors: Vec<ValidationFactor>,
        duration_secs: Option<i64>,
    },
}

/// A pending entry's stored payload.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct PendingPayload {
    pub(super) flow: Flow,
    pub(super) flow_id: Uuid,
    pub(super) org: OrgDomain,
    pub(super) user_id: UserId,
    pub(super) auth_time: i64,
    pub(super) amr: Vec<String>,
    pub(super) remaining: Vec<FactorKind>,
    pub(super) decision: RiskDecision,
    pub(super) expires_at: i64,
}

/// What an e-mail code is for; part of what the code is bound to.
#[derive(Clone, Copy)]
pub(super) enum Purpose {
    VerifyEmail,
    ChangeEmail,
    Challenge,
}

impl Purpose {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ChangeEmail => "change_email",
            Self::Challenge => "challenge",
        }
    }

    pub(super) fn subject(self) -> &'static str {
        match self {
            Self::VerifyEmail => "Verify your e-mail address",
            Self::ChangeEmail => "Confirm your new e-mail address",
            Self::Challenge => "Your sign-in code",
        }
    }
}

/// Whom a guess is counted against.
pub(super) enum Subject {
    /// A known user.
    User(UserId),
    /// A login (or address) that names nobody: its lockout key.
    Unknown(Key),
}

/// Failed-attempt reservations held by one guess, and where it counts for the risk engine if
/// it fails.
pub(super) struct Guard {
    pub(super) user: Key,
    pub(super) ip: Option<Key>,
    pub(super) user_count: u64,
    /// The user's failure count (none for an unknown login: the engine never asks about one).
    pub(super) failures: Option<Key>,
    /// The client address's failure count.
    pub(super) ip_failures: Option<Key>,
}

pub(super) enum Reserved {
    Held(Guard),
    Locked(&'static str),
}

/// Why a factor check failed (for the audit log), or `Ok`.
pub(super) type Checked = Result<(), &'static str>;
