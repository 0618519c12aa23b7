//! The sign-in service: sign-up, e-mail codes, passwords, TOTP, recovery codes, sign-in with
//! lockout and risk decisions, unregistering.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{SigninKeys, SigninSettings, Username};
use crate::Error;
use crate::crypto::password::{
    Exposure, Password, Verification, check_password_hash, dummy_verification, hash_password,
    offloaded, verify_password,
};
use crate::crypto::pkce::CodeChallenge;
use crate::crypto::totp::{DIGITS, SECRET_BYTES, TotpAlgorithm, TotpKey};
use crate::directory::{Organizations, new_user_record};
use crate::error::{FieldProblem, Resource};
use crate::identity::Identity;
use crate::mail::Mail;
use crate::model::event::{EventCode, NewEvent};
use crate::model::fields::Email;
use crate::model::ids::{ClientId, OrgDomain, UserId, new_v7};
use crate::model::user::{NewUser, ProfileChanges, User};
use crate::risk::{
    Familiarity, RequestContext, RiskAction, RiskAssessment, RiskContext, RiskDecision,
};
use crate::secret::{Secret, random_array};
use crate::store::{
    AccountRole, AccountStatus, Advance, Counted, CredentialRecord, Key, OneTimeEntry, SealedTotp,
    Store, StoreError, Take,
};
use crate::tokens::{CodeRequest, redirect_allowed};

/// Key namespace of pending sign-ins in the one-time store.
const PENDING_NAMESPACE: &str = "signin_pending";
/// Key namespace of e-mail codes in the one-time store.
const EMAIL_CODE_NAMESPACE: &str = "email_code";
/// Key namespace of recovery codes in the one-time store.
const RECOVERY_NAMESPACE: &str = "recovery_code";
/// Recovery codes do not expire on their own; this bounds how long the store keeps them.
const RECOVERY_LIFETIME: Duration = Duration::days(3653);
/// Recovery codes issued at a time.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters of a recovery code (base32: 5 bits each, 50 bits in all).
const RECOVERY_CODE_CHARS: usize = 10;
/// Read-modify-write attempts on credentials before [`Error::Conflict`].
const UPDATE_ATTEMPTS: usize = 5;

/// The input of [`SignIn::sign_up`]: the new user, its password, and optionally a username.
#[derive(Clone, Debug)]
pub struct SignUp {
    user: NewUser,
    password: Password,
    username: Option<Username>,
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

/// The input of [`SignIn::sign_in`].
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

/// A factor presented to [`SignIn::complete`].
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
    fn kind(&self, remaining: &[FactorKind]) -> Option<FactorKind> {
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
/// for [`SignIn::complete`]); `factors` says what to ask for.
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

/// The answer of [`SignIn::sign_in`] and [`SignIn::complete`].
#[derive(Debug)]
pub enum SignInStep {
    /// Signed in.
    Complete(Authorized),
    /// More factors are needed.
    FactorRequired(PendingSignIn),
}

/// An authenticator enrolment in progress: show the QR code (or the secret for manual entry),
/// then confirm with [`SignIn::confirm_totp_enrolment`]. `Debug` redacts the secret.
pub struct TotpEnrolment {
    secret: Secret,
    otpauth_uri: Secret,
    qr_png: Vec<u8>,
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
pub struct RecoveryCodes(Vec<Secret>);

impl RecoveryCodes {
    /// The codes (`xxxxx-xxxxx`).
    pub fn codes(&self) -> &[Secret] {
        &self.0
    }
}

/// The input of [`SignIn::unregister`]: the risk signals, and who asks and why (for the audit
/// log).
#[derive(Clone, Debug)]
pub struct UnregisterRequest {
    context: RequestContext,
    requested_by: String,
    reason: String,
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

fn audit_text(field: &'static str, s: &str, max: usize) -> Result<String, Error> {
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

/// What [`SignIn::unregister`] did (seed 004). Map it to the seed's answer with
/// [`unregister::answer`](crate::protocol::unregister::answer).
#[derive(Debug)]
pub enum UnregisterOutcome {
    /// The account was erased: credentials gone, every token revoked (`riskResponseCode` 0).
    Unregistered,
    /// The risk engine declined: nothing changed (`riskResponseCode` 1).
    Declined,
    /// The risk engine asked for a challenge: nothing changes until it is passed with
    /// [`SignIn::complete_unregister`].
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
enum FlowKind {
    SignIn,
    Unregister,
}

/// What a pending entry continues.
#[derive(Clone, Serialize, Deserialize)]
enum Flow {
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
}

/// A pending entry's stored payload.
#[derive(Clone, Serialize, Deserialize)]
struct PendingPayload {
    flow: Flow,
    flow_id: Uuid,
    org: OrgDomain,
    user_id: UserId,
    auth_time: i64,
    amr: Vec<String>,
    remaining: Vec<FactorKind>,
    decision: RiskDecision,
    expires_at: i64,
}

/// What an e-mail code is for; part of what the code is bound to.
#[derive(Clone, Copy)]
enum Purpose {
    VerifyEmail,
    ChangeEmail,
    Challenge,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ChangeEmail => "change_email",
            Self::Challenge => "challenge",
        }
    }

    fn subject(self) -> &'static str {
        match self {
            Self::VerifyEmail => "Verify your e-mail address",
            Self::ChangeEmail => "Confirm your new e-mail address",
            Self::Challenge => "Your sign-in code",
        }
    }
}

/// Whom a guess is counted against.
enum Subject {
    /// A known user.
    User(UserId),
    /// A login (or address) that names nobody: its lockout key.
    Unknown(Key),
}

/// Failed-attempt reservations held by one guess, and where it counts for the risk engine if
/// it fails.
struct Guard {
    user: Key,
    ip: Option<Key>,
    user_count: u64,
    /// The user's failure count (none for an unknown login: the engine never asks about one).
    failures: Option<Key>,
    /// The client address's failure count.
    ip_failures: Option<Key>,
}

enum Reserved {
    Held(Guard),
    Locked(&'static str),
}

/// Why a factor check failed (for the audit log), or `Ok`.
type Checked = Result<(), &'static str>;

/// The sign-in service of one organization; see [`Identity::signin`].
pub struct SignIn<'a, S> {
    identity: &'a Identity<S>,
    org: &'a OrgDomain,
}

impl<'a, S: Store> SignIn<'a, S> {
    pub(crate) fn new(identity: &'a Identity<S>, org: &'a OrgDomain) -> Self {
        Self { identity, org }
    }

    // ---------------------------------------------------------------- sign-up and e-mail codes

    /// Signs a user up (seed 000): checks the password (length, breached list, not the
    /// address or username), hashes it, creates the user and its credentials in one atomic
    /// step, and e-mails a verification code. The account signs in once
    /// [`confirm_email`](Self::confirm_email) verified the address.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `password`; [`Error::AlreadyExists`] with key `email` or
    /// `username`; [`Error::NotFound`] (organization); [`Error::Unavailable`] when the
    /// breached-password check or the hashing offload fails; [`Error::Keys`] without a
    /// key-encryption key; [`Error::Store`]; [`Error::Mail`] when the code could not be handed
    /// to the mailer — the account exists then, and
    /// [`resend_email_code`](Self::resend_email_code) sends another.
    pub async fn sign_up(&self, request: SignUp) -> Result<User, Error> {
        self.keys()?;
        self.require_org().await?;
        let email = request.user.email().clone();
        self.check_new_password(&request.password, &email, request.username.as_ref())
            .await?;
        let hash = self.hash(&request.password).await?;
        let env = self.identity.environment();
        let now = self.identity.now();
        let mut user = new_user_record(self.identity, self.org, request.user, now)?;
        let mut creds = new_credentials(&user, now);
        creds.username = request.username.map(|u| u.as_str().to_owned());
        creds.password_hash = Some(hash);
        for _ in 0..2 {
            let event = self
                .event(EventCode::USER_CREATED, now)
                .user(user.id, &user.profile.email)
                .detail("flow", "sign_up");
            match self
                .identity
                .store()
                .insert_account(env, &user, &creds, &event)
                .await
            {
                Ok(()) => {
                    // Not counted toward the send limit: an address signs up once, and a
                    // limit exhausted beforehand through `resend_email_code` must not keep
                    // its owner from getting the first code.
                    self.deliver_code(Purpose::VerifyEmail, &user, &email, "", now)
                        .await?;
                    return Ok(user);
                }
                Err(StoreError::AlreadyExists { key: "id" }) => {
                    user.id = UserId::generate(now);
                    creds.user_id = user.id;
                }
                Err(StoreError::AlreadyExists { key }) => {
                    return Err(Error::AlreadyExists {
                        resource: Resource::User,
                        key,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    /// Sends a new verification code to an address that signed up and is not verified yet.
    /// Answers `Ok` whatever the address (unknown, verified …), so the answer tells nothing; the
    /// send limit counts every address alike.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `email`; [`Error::RateLimited`] past the send limit;
    /// [`Error::Mail`], [`Error::Store`].
    pub async fn resend_email_code(&self, email: &str) -> Result<(), Error> {
        let email = Email::parse(email).map_err(|p| Error::field("email", p))?;
        let now = self.identity.now();
        self.count_send(Purpose::VerifyEmail, &email, now).await?;
        if let Some((user, creds)) = self.account_by_email(&email).await?
            && creds.status == AccountStatus::Unverified
        {
            self.deliver_code(Purpose::VerifyEmail, &user, &email, "", now)
                .await?;
        }
        Ok(())
    }

    /// Verifies a signed-up address with the e-mailed code: the account becomes active. The
    /// code is single use, bound to this address and purpose, expires with
    /// [`Lifetimes::email_code`](crate::Lifetimes::email_code); wrong codes count toward the
    /// code's attempt limit and the lockout.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `email`; [`Error::InvalidCode`] for a wrong, used,
    /// expired or exhausted code, an unknown address or a locked account (one variant: the
    /// reason is in the audit log); [`Error::Store`].
    pub async fn confirm_email(
        &self,
        email: &str,
        code: &str,
        context: &RequestContext,
    ) -> Result<User, Error> {
        let email = Email::parse(email).map_err(|p| Error::field("email", p))?;
        self.keys()?;
        let now = self.identity.now();
        let account = self.account_by_email(&email).await?;
        let subject = match &account {
            Some((user, _)) => Subject::User(user.id),
            None => Subject::Unknown(self.login_key(&email.key())?),
        };
        let user = account.as_ref().map(|(u, _)| u);
        let guard = match self.reserve(subject, context, now).await? {
            Reserved::Held(g) => g,
            Reserved::Locked(why) => {
                return Err(self.code_failed(why, user, None, now).await);
            }
        };
        let Some((user, creds)) = account else {
            return Err(self
                .code_failed("unknown address", None, Some(&guard), now)
                .await);
        };
        if creds.status == AccountStatus::Active {
            return Err(self
                .code_failed("address already verified", Some(&user), Some(&guard), now)
                .await);
        }
        let checked = self
            .check_email_code(Purpose::VerifyEmail, &user, &email, "", code, now)
            .await;
        let (checked, guard) = self.unless_failed(checked, guard, now).await?;
        if let Err(why) = checked {
            return Err(self.code_failed(why, Some(&user), Some(&guard), now).await);
        }
        self.release(guard, now).await?;
        let user = self
            .identity
            .users(self.org)
            .update(user.id, ProfileChanges::new().email_verified(true))
            .await?;
        let event = self
            .event(EventCode::EMAIL_VERIFIED, now)
            .user(user.id, &user.profile.email);
        self.update_credentials(user.id, Some(event), |c| {
            c.status = AccountStatus::Active;
            Ok(())
        })
        .await?;
        Ok(user)
    }

    /// Starts changing a user's address: e-mails a code to the new address. Nothing changes
    /// until [`confirm_email_change`](Self::confirm_email_change) presents that code. Call it
    /// for an authenticated user only.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `email`; [`Error::InvalidRequest`] when it is the current
    /// address; [`Error::AlreadyExists`] (key `email`) when another user has it;
    /// [`Error::NotFound`] (user); [`Error::RateLimited`]; [`Error::Mail`], [`Error::Store`].
    pub async fn request_email_change(
        &self,
        user_id: UserId,
        new_email: &str,
    ) -> Result<(), Error> {
        let email = Email::parse(new_email).map_err(|p| Error::field("email", p))?;
        self.keys()?;
        let user = self.user(user_id).await?;
        if user.profile.email.key() == email.key() {
            return Err(Error::InvalidRequest("the new address is the current one"));
        }
        if self.account_by_email(&email).await?.is_some()
            || self
                .identity
                .store()
                .user_by_email(self.identity.environment(), self.org, &email)
                .await?
                .is_some()
        {
            return Err(Error::AlreadyExists {
                resource: Resource::User,
                key: "email",
            });
        }
        let now = self.identity.now();
        self.send_code(Purpose::ChangeEmail, &user, &email, "", now)
            .await?;
        self.audit(
            self.event(EventCode::EMAIL_CHANGE_REQUESTED, now)
                .user(user.id, &user.profile.email)
                .detail("new_email", email.as_str()),
        )
        .await;
        Ok(())
    }

    /// Changes a user's address to `new_email`, which must come with the code e-mailed to it by
    /// [`request_email_change`](Self::request_email_change). The new address is verified by
    /// that; the old one is told.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `email`; [`Error::InvalidCode`]; [`Error::AlreadyExists`]
    /// when another user took the address meanwhile; [`Error::NotFound`] (user);
    /// [`Error::Conflict`], [`Error::Store`].
    pub async fn confirm_email_change(
        &self,
        user_id: UserId,
        new_email: &str,
        code: &str,
        context: &RequestContext,
    ) -> Result<User, Error> {
        let email = Email::parse(new_email).map_err(|p| Error::field("email", p))?;
        self.keys()?;
        let now = self.identity.now();
        let user = self.user(user_id).await?;
        let guard = match self.reserve(Subject::User(user.id), context, now).await? {
            Reserved::Held(g) => g,
            Reserved::Locked(why) => {
                return Err(self.code_failed(why, Some(&user), None, now).await);
            }
        };
        let checked = self
            .check_email_code(Purpose::ChangeEmail, &user, &email, "", code, now)
            .await;
        let (checked, guard) = self.unless_failed(checked, guard, now).await?;
        if let Err(why) = checked {
            return Err(self.code_failed(why, Some(&user), Some(&guard), now).await);
        }
        self.release(guard, now).await?;
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self.user(user_id).await?;
            let mut next = current.clone();
            next.profile.email = email.clone();
            next.profile.email_verified = true;
            next.updated_at = now;
            next.version = current.version + 1;
            let event = self
                .event(EventCode::EMAIL_CHANGED, now)
                .user(next.id, &next.profile.email)
                .detail("old_email", current.profile.email.as_str());
            match store.update_user(env, &next, current.version, &event).await {
                Ok(()) => {
                    let notice = Mail::new(
                        current.profile.email.clone(),
                        "Your e-mail address was changed",
                        format!(
                            "The e-mail address of your account was changed to {}. If you did not do this, contact support.",
                            next.profile.email
                        ),
                    );
                    // Best effort: the change is done and audited whether or not the old
                    // address can be told.
                    let _ = self.identity.mailer().send(&notice).await;
                    return Ok(next);
                }
                Err(StoreError::Precondition) => continue,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                Err(StoreError::AlreadyExists { key }) => {
                    return Err(Error::AlreadyExists {
                        resource: Resource::User,
                        key,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    // ---------------------------------------------------------------- passwords

    /// Sets a user's password without the current one (an administrator, a reset flow the host
    /// authenticated, a user created through the directory). Every token of the user is revoked.
    ///
    /// # Errors
    /// As [`sign_up`](Self::sign_up) for the password; [`Error::NotFound`] (user).
    pub async fn set_password(&self, user_id: UserId, password: &Password) -> Result<(), Error> {
        let user = self.user(user_id).await?;
        let username = self.credentials(user_id).await?.and_then(|c| c.username);
        let username = username.and_then(|u| Username::parse(&u).ok());
        self.check_new_password(password, &user.profile.email, username.as_ref())
            .await?;
        let hash = self.hash(password).await?;
        self.store_password_hash(&user, hash, "set").await
    }

    /// Imports a password hash from another system (argon2 or PBKDF2-SHA256 PHC strings, see
    /// [`password`](super::password)). It is replaced by an argon2id hash at the user's next
    /// successful sign-in.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `password_hash`; [`Error::NotFound`] (user).
    pub async fn import_password_hash(&self, user_id: UserId, phc: &str) -> Result<(), Error> {
        check_password_hash(phc)?;
        let user = self.user(user_id).await?;
        self.store_password_hash(&user, phc.to_owned(), "imported")
            .await
    }

    /// Changes a user's password given the current one. Wrong current passwords count toward
    /// the lockout. Every token of the user is revoked.
    ///
    /// # Errors
    /// [`Error::SignInFailed`] when the current password is wrong or the account is locked; as
    /// [`sign_up`](Self::sign_up) for the new password. After any error the current password
    /// still works (the user's tokens are revoked before the new password is stored, so some may
    /// already be revoked); a retry finishes the change.
    pub async fn change_password(
        &self,
        user_id: UserId,
        current: &Password,
        new: &Password,
        context: &RequestContext,
    ) -> Result<(), Error> {
        let now = self.identity.now();
        let user = self.user(user_id).await?;
        let creds = self.credentials(user_id).await?;
        let guard = match self.reserve(Subject::User(user_id), context, now).await? {
            Reserved::Held(g) => g,
            Reserved::Locked(why) => {
                return Err(self
                    .failed(
                        EventCode::PASSWORD_CHANGE_FAILED,
                        why,
                        Some(&user),
                        None,
                        None,
                        now,
                    )
                    .await);
            }
        };
        // A hashing offload that fails evaluated nothing: the reservation is given back.
        let (matched, guard) = match creds.as_ref().and_then(|c| c.password_hash.clone()) {
            Some(phc) => {
                self.unless_failed(self.verify(phc, current).await, guard, now)
                    .await?
            }
            None => {
                let ((), guard) = self
                    .unless_failed(self.dummy(current).await, guard, now)
                    .await?;
                (Ok(Verification::Mismatch), guard)
            }
        };
        if !matches!(
            matched,
            Ok(Verification::Match | Verification::MatchNeedsRehash)
        ) {
            return Err(self
                .failed(
                    EventCode::PASSWORD_CHANGE_FAILED,
                    "wrong current password",
                    Some(&user),
                    None,
                    Some(&guard),
                    now,
                )
                .await);
        }
        self.release(guard, now).await?;
        let username = creds
            .and_then(|c| c.username)
            .and_then(|u| Username::parse(&u).ok());
        self.check_new_password(new, &user.profile.email, username.as_ref())
            .await?;
        let hash = self.hash(new).await?;
        self.store_password_hash(&user, hash, "changed").await
    }

    // ---------------------------------------------------------------- TOTP and recovery codes

    /// Starts enrolling an authenticator app: a new 160-bit secret, its `otpauth://` URI and QR
    /// code. The secret is stored sealed and pending; it protects nothing until
    /// [`confirm_totp_enrolment`](Self::confirm_totp_enrolment) proves the app has it. Starting
    /// again replaces a pending enrolment. Call it for an authenticated user only.
    ///
    /// # Errors
    /// [`Error::NotFound`] (user); [`Error::Forbidden`] for a user without credentials;
    /// [`Error::EmailNotVerified`]; [`Error::AlreadyExists`] (key `totp`) when an authenticator
    /// is already enrolled; [`Error::Keys`], [`Error::Store`].
    pub async fn begin_totp_enrolment(&self, user_id: UserId) -> Result<TotpEnrolment, Error> {
        let keys = self.keys()?;
        let user = self.user(user_id).await?;
        let creds = self
            .credentials(user_id)
            .await?
            .ok_or(Error::Forbidden("the account has no sign-in credentials"))?;
        if creds.status == AccountStatus::Unverified {
            return Err(Error::EmailNotVerified);
        }
        if creds.totp.is_some() {
            return Err(Error::AlreadyExists {
                resource: Resource::User,
                key: "totp",
            });
        }
        let secret: [u8; SECRET_BYTES] = random_array()?;
        let settings = self.settings();
        let issuer = settings
            .totp_issuer
            .clone()
            .unwrap_or_else(|| self.identity.config().managed_by().to_string());
        let key = TotpKey::labelled(
            &secret,
            TotpAlgorithm::Sha1,
            DIGITS,
            Some((&issuer, user.profile.email.as_str())),
        )?;
        let now = self.identity.now();
        let sealed = keys.seal_totp(&secret, &self.totp_aad(user_id))?;
        let event = self
            .event(EventCode::TOTP_ENROLMENT_STARTED, now)
            .user(user.id, &user.profile.email);
        self.update_credentials(user_id, Some(event), |c| {
            c.pending_totp = Some(SealedTotp {
                sealed_secret: sealed.clone(),
                at: now,
            });
            Ok(())
        })
        .await?;
        Ok(TotpEnrolment {
            secret: Secret::from_presented(key.secret_base32()),
            otpauth_uri: Secret::from_presented(key.otpauth_uri()?),
            qr_png: key.qr_png()?,
        })
    }

    /// Confirms an enrolment with a first valid code from the app: the authenticator protects
    /// every later sign-in, and the 10 recovery codes are returned — shown once.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] without an enrolment in progress; [`Error::InvalidCode`] for a
    /// wrong or replayed code or a locked account; [`Error::NotFound`] (user); [`Error::Keys`],
    /// [`Error::Store`].
    pub async fn confirm_totp_enrolment(
        &self,
        user_id: UserId,
        code: &str,
        context: &RequestContext,
    ) -> Result<RecoveryCodes, Error> {
        let keys = self.keys()?;
        let now = self.identity.now();
        let user = self.user(user_id).await?;
        let creds = self.credentials(user_id).await?;
        let Some(pending) = creds.as_ref().and_then(|c| c.pending_totp.clone()) else {
            return Err(Error::InvalidRequest(
                "no authenticator enrolment in progress",
            ));
        };
        let guard = match self.reserve(Subject::User(user_id), context, now).await? {
            Reserved::Held(g) => g,
            Reserved::Locked(why) => {
                return Err(self.enrolment_failed(why, &user, None, now).await);
            }
        };
        let checked = match keys.open_totp(&pending.sealed_secret, &self.totp_aad(user_id)) {
            Ok(secret) => self.check_totp_secret(user_id, &secret, code, now).await,
            Err(e) => Err(e),
        };
        let (checked, guard) = self.unless_failed(checked, guard, now).await?;
        if let Err(why) = checked {
            return Err(self.enrolment_failed(why, &user, Some(&guard), now).await);
        }
        self.release(guard, now).await?;
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self
                .credentials(user_id)
                .await?
                .ok_or(Error::NotFound(Resource::User))?;
            if current.pending_totp.as_ref() != Some(&pending) {
                return Err(Error::Conflict(Resource::User));
            }
            let generation = current.recovery_generation + 1;
            let codes = self.put_recovery_codes(user_id, generation, now).await?;
            let mut next = current.clone();
            next.totp = Some(SealedTotp {
                sealed_secret: pending.sealed_secret.clone(),
                at: now,
            });
            next.pending_totp = None;
            next.recovery_generation = generation;
            next.updated_at = now;
            next.version = current.version + 1;
            let event = self
                .event(EventCode::TOTP_ENROLLED, now)
                .user(user.id, &user.profile.email)
                .detail("recovery_codes", RECOVERY_CODE_COUNT.to_string());
            match store
                .update_credentials(env, &next, current.version, Some(&event))
                .await
            {
                Ok(()) => return Ok(codes),
                Err(StoreError::Precondition) => continue,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    /// Issues 10 new recovery codes (shown once); every earlier code stops working. Call it for
    /// an authenticated user only.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when no authenticator is enrolled; [`Error::NotFound`] (user);
    /// [`Error::Conflict`], [`Error::Store`].
    pub async fn regenerate_recovery_codes(&self, user_id: UserId) -> Result<RecoveryCodes, Error> {
        self.keys()?;
        let now = self.identity.now();
        let user = self.user(user_id).await?;
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self
                .credentials(user_id)
                .await?
                .ok_or(Error::NotFound(Resource::User))?;
            if current.totp.is_none() {
                return Err(Error::InvalidRequest("no authenticator is enrolled"));
            }
            let generation = current.recovery_generation + 1;
            let codes = self.put_recovery_codes(user_id, generation, now).await?;
            let mut next = current.clone();
            next.recovery_generation = generation;
            next.updated_at = now;
            next.version = current.version + 1;
            let event = self
                .event(EventCode::RECOVERY_CODES_GENERATED, now)
                .user(user.id, &user.profile.email);
            match store
                .update_credentials(env, &next, current.version, Some(&event))
                .await
            {
                Ok(()) => return Ok(codes),
                Err(StoreError::Precondition) => continue,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    /// Sets a user's role (for example the organization's admin account, which cannot be
    /// unregistered).
    ///
    /// # Errors
    /// [`Error::NotFound`] (user), [`Error::Conflict`], [`Error::Store`].
    pub async fn set_role(&self, user_id: UserId, role: AccountRole) -> Result<(), Error> {
        let user = self.user(user_id).await?;
        let now = self.identity.now();
        let event = self
            .event(EventCode::ROLE_CHANGED, now)
            .user(user.id, &user.profile.email)
            .detail(
                "role",
                match role {
                    AccountRole::Member => "member",
                    AccountRole::OrganizationAdmin => "organization_admin",
                },
            );
        self.upsert_credentials(&user, event, |c| c.role = role)
            .await
    }

    // ---------------------------------------------------------------- sign-in

    /// Signs a user in with an e-mail address or username and a password, for an OAuth
    /// authorization request.
    ///
    /// Order: the client and redirect URI are checked first (nothing is counted for a bad
    /// request); then one failed attempt is reserved for the user (or unknown login) and the
    /// client address, refusing at once when either is locked; the password is verified (for an
    /// unknown login, a dummy hash of the same cost); a hash with old parameters is replaced;
    /// the risk engine decides, told the failures counted so far (not the reservations of
    /// sign-ins in flight, see the [module docs](super)). [`SignInStep::Complete`] carries the
    /// authorization code;
    /// [`SignInStep::FactorRequired`] a pending sign-in to [`complete`](Self::complete) with a
    /// TOTP or recovery code (when an authenticator is enrolled) or with what the risk decision
    /// asks for (an e-mail code is sent at once when it asks for one).
    ///
    /// # Errors
    /// [`Error::SignInFailed`] for every credential failure (see the
    /// [module docs](super)); [`Error::EmailNotVerified`] for the right password of an
    /// unverified account; [`Error::Forbidden`] for the right password of a disabled user;
    /// [`Error::InvalidClient`] / [`Error::InvalidRequest`] for the client
    /// or redirect URI; [`Error::InvalidField`] naming `nonce`, `state` or `scope`;
    /// [`Error::NotFound`] (organization); [`Error::Unavailable`] when the hashing offload
    /// fails; [`Error::Keys`], [`Error::Mail`], [`Error::Store`] (also when a required audit
    /// event cannot be written: nothing is granted then).
    pub async fn sign_in(&self, request: SignInRequest) -> Result<SignInStep, Error> {
        self.keys()?;
        check_authorization(&request.authorization)?;
        self.require_org().await?;
        self.check_client(&request.authorization).await?;
        let now = self.identity.now();
        let client = Some(request.authorization.client_id);
        let account = self.account_by_login(&request.login).await?;
        let subject = match &account {
            Some((user, _)) => Subject::User(user.id),
            None => Subject::Unknown(self.login_key(&request.login.trim().to_lowercase())?),
        };
        let user = account.as_ref().map(|(u, _)| u);
        let guard = match self.reserve(subject, &request.context, now).await? {
            Reserved::Held(g) => g,
            Reserved::Locked(why) => {
                return Err(self
                    .failed(EventCode::SIGN_IN_FAILED, why, user, client, None, now)
                    .await);
            }
        };
        if request.password.chars() > self.settings().password.max_length {
            // No password this long was ever accepted: refuse without hashing it (the answer
            // depends only on the input's length, never on the account).
            return Err(self
                .failed(
                    EventCode::SIGN_IN_FAILED,
                    "password longer than the maximum",
                    user,
                    client,
                    Some(&guard),
                    now,
                )
                .await);
        }
        // A hashing offload that fails evaluated nothing: the reservations are given back.
        let Some((user, creds)) = account else {
            let ((), guard) = self
                .unless_failed(self.dummy(&request.password).await, guard, now)
                .await?;
            return Err(self
                .failed(
                    EventCode::SIGN_IN_FAILED,
                    "unknown login",
                    None,
                    client,
                    Some(&guard),
                    now,
                )
                .await);
        };
        let (verification, guard) = match creds.password_hash.clone() {
            Some(phc) => {
                self.unless_failed(self.verify(phc, &request.password).await, guard, now)
                    .await?
            }
            None => {
                let ((), guard) = self
                    .unless_failed(self.dummy(&request.password).await, guard, now)
                    .await?;
                (Err("no password set"), guard)
            }
        };
        match verification {
            Ok(Verification::Match) => {}
            Ok(Verification::MatchNeedsRehash) => {
                self.rehash(&user, &request.password, now).await;
            }
            Ok(Verification::Mismatch) | Err(_) => {
                let why = verification.err().unwrap_or("wrong password");
                return Err(self
                    .failed(
                        EventCode::SIGN_IN_FAILED,
                        why,
                        Some(&user),
                        client,
                        Some(&guard),
                        now,
                    )
                    .await);
            }
        }
        if !user.active {
            // Told only to someone who knows the password; the lockout slot is given back as
            // for a correct password.
            self.release(guard, now).await?;
            self.audit_required(
                self.event(EventCode::SIGN_IN_FAILED, now)
                    .user(user.id, &user.profile.email)
                    .client(request.authorization.client_id)
                    .detail("reason", "user disabled"),
            )
            .await?;
            return Err(Error::Forbidden("the user is disabled"));
        }
        if creds.status == AccountStatus::Unverified {
            self.release(guard, now).await?;
            self.audit_required(
                self.event(EventCode::SIGN_IN_FAILED, now)
                    .user(user.id, &user.profile.email)
                    .client(request.authorization.client_id)
                    .detail("reason", "e-mail address not verified"),
            )
            .await?;
            return Err(Error::EmailNotVerified);
        }
        let assessment = self
            .assess(RiskAction::SignIn, &user, &creds, &request.context)
            .await;
        self.release(guard, now).await?;
        let assessment = match assessment {
            Ok(a) => a,
            // The failure counts could not be read: a storage failure, reported as one.
            Err(e @ Error::Store(_)) => return Err(e),
            Err(_) => {
                return Err(self
                    .failed(
                        EventCode::SIGN_IN_FAILED,
                        "risk engine error",
                        Some(&user),
                        client,
                        None,
                        now,
                    )
                    .await);
            }
        };
        if assessment.decision == RiskDecision::Decline {
            return Err(self
                .failed(
                    EventCode::SIGN_IN_FAILED,
                    "risk decision: decline",
                    Some(&user),
                    client,
                    None,
                    now,
                )
                .await);
        }
        let a = &request.authorization;
        let flow = Flow::SignIn {
            client_id: a.client_id,
            redirect_uri: a.redirect_uri.clone(),
            code_challenge: a.code_challenge.as_str().to_owned(),
            nonce: a.nonce.clone(),
            state: a.state.clone(),
            scope: a.scope.clone(),
        };
        let factors = required_factors(assessment.decision, creds.totp.is_some(), true);
        let payload = PendingPayload {
            flow,
            flow_id: new_v7(now),
            org: self.org.clone(),
            user_id: user.id,
            auth_time: now.unix_timestamp(),
            amr: vec!["pwd".to_owned()],
            remaining: factors,
            decision: assessment.decision,
            expires_at: (now + self.settings().pending_lifetime).unix_timestamp(),
        };
        if payload.remaining.is_empty() {
            return self
                .finish_sign_in(payload, &user, &request.context, now)
                .await;
        }
        self.pend(payload, &user, now)
            .await
            .map(SignInStep::FactorRequired)
    }

    /// Continues a pending sign-in with one factor. Wrong factors count toward the lockout;
    /// the pending sign-in survives them until it expires. Each TOTP step is accepted once.
    ///
    /// # Errors
    /// [`Error::SignInFailed`] for an unknown, expired or used pending sign-in, a factor it does
    /// not ask for, a wrong, replayed or used code, a locked account; [`Error::Keys`],
    /// [`Error::Mail`], [`Error::Store`].
    pub async fn complete(
        &self,
        pending: &str,
        factor: Factor,
        context: &RequestContext,
    ) -> Result<SignInStep, Error> {
        let now = self.identity.now();
        match self
            .advance_pending(pending, FlowKind::SignIn, &factor, context, now)
            .await?
        {
            Progress::Done(done) => {
                let (payload, user) = *done;
                if !matches!(payload.flow, Flow::SignIn { .. }) {
                    return Err(Error::SignInFailed);
                }
                self.finish_sign_in(payload, &user, context, now).await
            }
            Progress::More(p) => Ok(SignInStep::FactorRequired(p)),
        }
    }

    // ---------------------------------------------------------------- unregister

    /// Unregisters (deletes) a user (seeds 004 and 000), gated by the risk engine: Accept erases
    /// the account at once — credentials erased, every token revoked, the user record removed,
    /// a `USER_DELETED` event saying who, when and why; Decline changes nothing; a challenge
    /// waits for [`complete_unregister`](Self::complete_unregister).
    ///
    /// # Errors
    /// [`Error::NotFound`] (user); [`Error::Forbidden`] for the organization's admin account;
    /// [`Error::Unavailable`] when the risk engine fails (nothing is deleted);
    /// [`Error::Store`], [`Error::Mail`].
    pub async fn unregister(
        &self,
        user_id: UserId,
        request: UnregisterRequest,
    ) -> Result<UnregisterOutcome, Error> {
        self.keys()?;
        self.require_org().await?;
        let now = self.identity.now();
        let user = self.user(user_id).await?;
        let creds = self
            .credentials(user_id)
            .await?
            .unwrap_or_else(|| new_credentials(&user, now));
        if creds.role == AccountRole::OrganizationAdmin {
            self.audit(
                self.event(EventCode::USER_DELETION_REFUSED, now)
                    .user(user.id, &user.profile.email)
                    .detail("reason", "organization admin account")
                    .detail("requested_by", request.requested_by.clone()),
            )
            .await;
            return Err(Error::Forbidden(
                "the organization's admin account cannot be unregistered",
            ));
        }
        let assessment = self
            .assess(RiskAction::Unregister, &user, &creds, &request.context)
            .await
            .map_err(|_| Error::Unavailable("risk engine"))?;
        match assessment.decision {
            RiskDecision::Accept => {
                self.erase(&user, &request.requested_by, &request.reason, now)
                    .await?;
                Ok(UnregisterOutcome::Unregistered)
            }
            RiskDecision::Decline => {
                self.audit(
                    self.event(EventCode::USER_DELETION_REFUSED, now)
                        .user(user.id, &user.profile.email)
                        .detail("reason", "risk decision: decline")
                        .detail("requested_by", request.requested_by.clone()),
                )
                .await;
                Ok(UnregisterOutcome::Declined)
            }
            decision => {
                let payload = PendingPayload {
                    flow: Flow::Unregister {
                        requested_by: request.requested_by,
                        reason: request.reason,
                    },
                    flow_id: new_v7(now),
                    org: self.org.clone(),
                    user_id: user.id,
                    auth_time: now.unix_timestamp(),
                    amr: Vec::new(),
                    remaining: required_factors(decision, creds.totp.is_some(), false),
                    decision,
                    expires_at: (now + self.settings().pending_lifetime).unix_timestamp(),
                };
                self.pend(payload, &user, now)
                    .await
                    .map(UnregisterOutcome::Challenged)
            }
        }
    }

    /// Continues a challenged unregister with one factor; once every factor passed, the
    /// account is erased as by an accepted [`unregister`](Self::unregister).
    ///
    /// # Errors
    /// [`Error::InvalidCode`] for an unknown, expired or used pending unregister, a wrong factor
    /// or a locked account; [`Error::NotFound`] (user); [`Error::Store`].
    pub async fn complete_unregister(
        &self,
        pending: &str,
        factor: Factor,
        context: &RequestContext,
    ) -> Result<UnregisterOutcome, Error> {
        let now = self.identity.now();
        match self
            .advance_pending(pending, FlowKind::Unregister, &factor, context, now)
            .await
        {
            Ok(Progress::Done(done)) => match done.0.flow {
                Flow::Unregister {
                    requested_by,
                    reason,
                } => {
                    self.erase(&done.1, &requested_by, &reason, now).await?;
                    Ok(UnregisterOutcome::Unregistered)
                }
                Flow::SignIn { .. } => Err(Error::InvalidCode),
            },
            Ok(Progress::More(p)) => Ok(UnregisterOutcome::Challenged(p)),
            Err(Error::SignInFailed) => Err(Error::InvalidCode),
            Err(e) => Err(e),
        }
    }

    // ---------------------------------------------------------------- internals: flows

    /// Stores a pending entry (sending the e-mail code it asks for) and audits the challenge.
    async fn pend(
        &self,
        payload: PendingPayload,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<PendingSignIn, Error> {
        let expires_at = OffsetDateTime::from_unix_timestamp(payload.expires_at)
            .map_err(|_| Error::ApiMisuse("pending expiry"))?;
        if expires_at <= now {
            return Err(Error::SignInFailed);
        }
        let token = Secret::generate()?;
        let bytes =
            serde_json::to_vec(&payload).map_err(|_| Error::ApiMisuse("pending payload"))?;
        let entry = OneTimeEntry {
            payload: bytes,
            expires_at,
            retain_until: expires_at,
        };
        self.identity
            .store()
            .put_once(
                self.identity.environment(),
                &Key::digest(PENDING_NAMESPACE, &token.digest()),
                &entry,
                now,
            )
            .await?;
        if payload.remaining.contains(&FactorKind::EmailCode) {
            let binding = payload.flow_id.to_string();
            self.send_code(Purpose::Challenge, user, &user.profile.email, &binding, now)
                .await?;
        }
        let factors: Vec<String> = payload.remaining.iter().map(|f| format!("{f:?}")).collect();
        self.audit_required(
            self.event(EventCode::MFA_CHALLENGED, now)
                .user(user.id, &user.profile.email)
                .detail("factors", factors.join(","))
                .detail("risk_decision", payload.decision.as_str())
                .detail("flow", flow_name(&payload.flow)),
        )
        .await?;
        Ok(PendingSignIn {
            token,
            factors: payload.remaining,
            decision: payload.decision,
            expires_at,
        })
    }

    /// Checks one factor against a pending entry; takes the entry once the factor passed.
    async fn advance_pending(
        &self,
        token: &str,
        expected: FlowKind,
        factor: &Factor,
        context: &RequestContext,
        now: OffsetDateTime,
    ) -> Result<Progress, Error> {
        self.keys()?;
        let env = self.identity.environment();
        let store = self.identity.store();
        let key = Key::digest(PENDING_NAMESPACE, &Secret::from_presented(token).digest());
        let Some(bytes) = store.peek_once(env, &key, now).await? else {
            return Err(self
                .failed(
                    EventCode::MFA_FAILED,
                    "pending sign-in unknown, expired or used",
                    None,
                    None,
                    None,
                    now,
                )
                .await);
        };
        let mut payload: PendingPayload =
            serde_json::from_slice(&bytes).map_err(|_| Error::SignInFailed)?;
        if &payload.org != self.org {
            return Err(self
                .failed(
                    EventCode::MFA_FAILED,
                    "pending sign-in of another organization",
                    None,
                    None,
                    None,
                    now,
                )
                .await);
        }
        let (kind, client) = match &payload.flow {
            Flow::SignIn { client_id, .. } => (FlowKind::SignIn, Some(*client_id)),
            Flow::Unregister { .. } => (FlowKind::Unregister, None),
        };
        if kind != expected {
            // Checked before any factor: a pending entry of the other flow is never spent here.
            return Err(self
                .failed(
                    EventCode::MFA_FAILED,
                    "pending entry of another flow",
                    None,
                    client,
                    None,
                    now,
                )
                .await);
        }
        self.require_org().await?;
        let account = self.account(payload.user_id).await?;
        let Some((user, creds)) = account else {
            return Err(self
                .failed(EventCode::MFA_FAILED, "user gone", None, client, None, now)
                .await);
        };
        let Some(kind) = factor.kind(&payload.remaining) else {
            return Err(self
                .failed(
                    EventCode::MFA_FAILED,
                    "factor not asked for",
                    Some(&user),
                    client,
                    None,
                    now,
                )
                .await);
        };
        let guard = match self.reserve(Subject::User(user.id), context, now).await? {
            Reserved::Held(g) => g,
            Reserved::Locked(why) => {
                return Err(self
                    .failed(EventCode::MFA_FAILED, why, Some(&user), client, None, now)
                    .await);
            }
        };
        let checked = match factor {
            Factor::Totp(code) => self.check_totp(&creds, code, now).await,
            Factor::RecoveryCode(code) => self.use_recovery_code(&user, &creds, code, now).await,
            Factor::EmailCode(code) => {
                let binding = payload.flow_id.to_string();
                self.check_email_code(
                    Purpose::Challenge,
                    &user,
                    &user.profile.email,
                    &binding,
                    code,
                    now,
                )
                .await
            }
            Factor::HostVerified => Ok(Ok(())),
        };
        let (checked, guard) = self.unless_failed(checked, guard, now).await?;
        if let Err(why) = checked {
            return Err(self
                .failed(
                    EventCode::MFA_FAILED,
                    why,
                    Some(&user),
                    client,
                    Some(&guard),
                    now,
                )
                .await);
        }
        self.release(guard, now).await?;
        if !matches!(store.take(env, &key, now).await?, Take::Taken(_)) {
            return Err(self
                .failed(
                    EventCode::MFA_FAILED,
                    "pending sign-in completed concurrently",
                    Some(&user),
                    client,
                    None,
                    now,
                )
                .await);
        }
        let method = match factor {
            Factor::Totp(_) => "totp",
            Factor::RecoveryCode(_) => "recovery_code",
            Factor::EmailCode(_) => "email_code",
            Factor::HostVerified => "host",
        };
        let mut event = self
            .event(EventCode::MFA_SUCCEEDED, now)
            .user(user.id, &user.profile.email)
            .detail("factor", method)
            .detail("flow", flow_name(&payload.flow));
        if let Some(c) = client {
            event = event.client(c);
        }
        self.audit_required(event).await?;
        if let Some(at) = payload.remaining.iter().position(|k| *k == kind) {
            payload.remaining.remove(at);
        }
        let amr = amr_of(factor, kind);
        if !payload.amr.iter().any(|a| a == amr) {
            payload.amr.push(amr.to_owned());
        }
        if payload.remaining.is_empty() {
            return Ok(Progress::Done(Box::new((payload, user))));
        }
        self.pend(payload, &user, now).await.map(Progress::More)
    }

    /// Mints the authorization code of a sign-in whose every factor passed, remembers the
    /// device and address, and audits the success.
    async fn finish_sign_in(
        &self,
        mut payload: PendingPayload,
        user: &User,
        context: &RequestContext,
        now: OffsetDateTime,
    ) -> Result<SignInStep, Error> {
        let Flow::SignIn {
            client_id,
            redirect_uri,
            code_challenge,
            nonce,
            state,
            scope,
        } = payload.flow
        else {
            return Err(Error::ApiMisuse("finish_sign_in of another flow"));
        };
        if payload.amr.len() > 1 && !payload.amr.iter().any(|a| a == "mfa") {
            payload.amr.push("mfa".to_owned());
        }
        self.remember(user.id, context, now).await;
        let auth_time = OffsetDateTime::from_unix_timestamp(payload.auth_time)
            .map_err(|_| Error::ApiMisuse("auth_time"))?;
        let code = self
            .identity
            .tokens()
            .mint_code(CodeRequest {
                org: self.org.clone(),
                user_id: user.id,
                client_id,
                redirect_uri: redirect_uri.clone(),
                code_challenge: CodeChallenge::parse(&code_challenge, Some("S256"))?,
                nonce,
                state: state.clone(),
                scope,
                auth_time,
                amr: payload.amr.clone(),
            })
            .await?;
        self.audit_required(
            self.event(EventCode::SIGN_IN_SUCCEEDED, now)
                .user(user.id, &user.profile.email)
                .client(client_id)
                .detail("amr", payload.amr.join(" "))
                .detail("risk_decision", payload.decision.as_str()),
        )
        .await?;
        Ok(SignInStep::Complete(Authorized {
            code,
            redirect_uri,
            state,
            user_id: user.id,
        }))
    }

    /// Erases an account: tokens revoked first (a failure leaves everything in place and a
    /// retry works), then the user and its credentials removed with the `USER_DELETED` event.
    async fn erase(
        &self,
        user: &User,
        requested_by: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        self.identity
            .tokens()
            .revoke_user(self.org, user.id, now)
            .await?;
        let event = self
            .event(EventCode::USER_DELETED, now)
            .user(user.id, &user.profile.email)
            .detail("requested_by", requested_by)
            .detail("reason", reason);
        match self
            .identity
            .store()
            .delete_account(self.identity.environment(), self.org, user.id, &event)
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(Error::NotFound(Resource::User)),
            Err(e) => Err(e.into()),
        }
    }

    // ---------------------------------------------------------------- internals: factors

    async fn check_totp(
        &self,
        creds: &CredentialRecord,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<Checked, Error> {
        let Some(totp) = &creds.totp else {
            return Ok(Err("no authenticator enrolled"));
        };
        let secret = self
            .keys()?
            .open_totp(&totp.sealed_secret, &self.totp_aad(creds.user_id))?;
        self.check_totp_secret(creds.user_id, &secret, code, now)
            .await
    }

    /// Checks a code against a secret at `now` ±1 step, then accepts its step at most once.
    async fn check_totp_secret(
        &self,
        user_id: UserId,
        secret: &[u8],
        code: &str,
        now: OffsetDateTime,
    ) -> Result<Checked, Error> {
        let key = TotpKey::new(secret, TotpAlgorithm::Sha1, DIGITS)?;
        let Ok(unix) = u64::try_from(now.unix_timestamp()) else {
            return Ok(Err("clock before the unix epoch"));
        };
        let Some(step) = key.matching_step(code, unix) else {
            return Ok(Err("wrong TOTP code"));
        };
        let replay_key = Key::new("totp_step", &[self.org.as_str(), &user_id.to_string()]);
        Ok(
            match self
                .identity
                .store()
                .advance(self.identity.environment(), &replay_key, step)
                .await?
            {
                Advance::Advanced => Ok(()),
                Advance::Stale(_) => Err("TOTP code replayed or older than the last accepted one"),
            },
        )
    }

    async fn use_recovery_code(
        &self,
        user: &User,
        creds: &CredentialRecord,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<Checked, Error> {
        if creds.recovery_generation == 0 {
            return Ok(Err("no recovery codes issued"));
        }
        let normalized: String = code
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        if normalized.len() != RECOVERY_CODE_CHARS
            || !normalized.bytes().all(|b| BASE32.contains(&b))
        {
            return Ok(Err("malformed recovery code"));
        }
        let key = self.recovery_key(user.id, creds.recovery_generation, &normalized)?;
        let taken = self
            .identity
            .store()
            .take(self.identity.environment(), &key, now)
            .await?;
        Ok(match taken {
            Take::Taken(_) => {
                self.audit(
                    self.event(EventCode::RECOVERY_CODE_USED, now)
                        .user(user.id, &user.profile.email),
                )
                .await;
                Ok(())
            }
            Take::AlreadyTaken { .. } => Err("recovery code already used"),
            Take::Expired | Take::Missing => Err("wrong recovery code"),
        })
    }

    async fn put_recovery_codes(
        &self,
        user_id: UserId,
        generation: u32,
        now: OffsetDateTime,
    ) -> Result<RecoveryCodes, Error> {
        let mut codes = Vec::with_capacity(RECOVERY_CODE_COUNT);
        let expires_at = now + RECOVERY_LIFETIME;
        for _ in 0..RECOVERY_CODE_COUNT {
            let raw = random_base32(RECOVERY_CODE_CHARS)?;
            let entry = OneTimeEntry {
                payload: Vec::new(),
                expires_at,
                retain_until: expires_at,
            };
            self.identity
                .store()
                .put_once(
                    self.identity.environment(),
                    &self.recovery_key(user_id, generation, &raw)?,
                    &entry,
                    now,
                )
                .await?;
            let (a, b) = raw.split_at(RECOVERY_CODE_CHARS / 2);
            codes.push(Secret::from_presented(format!("{a}-{b}")));
        }
        Ok(RecoveryCodes(codes))
    }

    fn recovery_key(&self, user_id: UserId, generation: u32, code: &str) -> Result<Key, Error> {
        let env = self.identity.environment();
        let digest = self.keys()?.recovery_code(&[
            env.as_str().as_bytes(),
            self.org.as_str().as_bytes(),
            user_id.as_uuid().as_bytes(),
            &generation.to_be_bytes(),
            code.as_bytes(),
        ]);
        Ok(Key::digest(RECOVERY_NAMESPACE, &digest))
    }

    /// Counts a send toward the limit of `address` and `purpose`.
    async fn count_send(
        &self,
        purpose: Purpose,
        address: &Email,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let key = Key::new(
            "email_code_sends",
            &[
                self.org.as_str(),
                purpose.as_str(),
                &self.address_tag(address)?,
            ],
        );
        let lifetime = self.identity.config().lifetimes().email_code;
        match self
            .identity
            .store()
            .increment(
                self.identity.environment(),
                &key,
                self.settings().email_code_sends,
                now + lifetime,
                now,
            )
            .await?
        {
            Counted::Incremented(_) => Ok(()),
            Counted::AtLimit(_) => Err(Error::RateLimited),
        }
    }

    async fn send_code(
        &self,
        purpose: Purpose,
        user: &User,
        to: &Email,
        binding: &str,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        self.count_send(purpose, to, now).await?;
        self.deliver_code(purpose, user, to, binding, now).await
    }

    /// Draws a code, stores its keyed digest (bound to the environment, organization, user,
    /// purpose, address and `binding`) and mails it.
    async fn deliver_code(
        &self,
        purpose: Purpose,
        user: &User,
        to: &Email,
        binding: &str,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let digits = self.settings().email_code_digits;
        let code = random_digits(digits)?;
        let lifetime = self.identity.config().lifetimes().email_code;
        let expires_at = now + lifetime;
        // Kept one more lifetime after expiry, so a late or second use is told apart from a
        // wrong code in the audit log.
        let entry = OneTimeEntry {
            payload: Vec::new(),
            expires_at,
            retain_until: expires_at + lifetime,
        };
        let key = self.email_code_key(purpose, user.id, to, binding, &code)?;
        self.identity
            .store()
            .put_once(self.identity.environment(), &key, &entry, now)
            .await?;
        let minutes = lifetime.whole_minutes();
        let mail = Mail::new(
            to.clone(),
            purpose.subject(),
            format!(
                "Your code is {code}. It expires in {minutes} minutes and works once. If you did not ask for it, ignore this message."
            ),
        );
        self.identity.mailer().send(&mail).await?;
        self.audit(
            self.event(EventCode::EMAIL_CODE_SENT, now)
                .user(user.id, &user.profile.email)
                .detail("purpose", purpose.as_str()),
        )
        .await;
        Ok(())
    }

    /// Checks an e-mail code: one attempt of the address's limit, then the atomic take.
    async fn check_email_code(
        &self,
        purpose: Purpose,
        user: &User,
        address: &Email,
        binding: &str,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<Checked, Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        let attempts = Key::new(
            "email_code_attempts",
            &[
                self.org.as_str(),
                purpose.as_str(),
                &self.address_tag(address)?,
            ],
        );
        let lifetime = self.identity.config().lifetimes().email_code;
        let limit = self.settings().email_code_attempts;
        if let Counted::AtLimit(_) = store
            .increment(env, &attempts, limit, now + lifetime, now)
            .await?
        {
            return Ok(Err("e-mail code attempts exhausted"));
        }
        let code = code.trim();
        if code.len() != usize::from(self.settings().email_code_digits)
            || !code.bytes().all(|b| b.is_ascii_digit())
        {
            return Ok(Err("malformed e-mail code"));
        }
        let key = self.email_code_key(purpose, user.id, address, binding, code)?;
        Ok(match store.take(env, &key, now).await? {
            Take::Taken(_) => {
                store.reset(env, &attempts).await?;
                Ok(())
            }
            Take::AlreadyTaken { .. } => Err("e-mail code already used"),
            Take::Expired => Err("e-mail code expired"),
            Take::Missing => Err("wrong e-mail code"),
        })
    }

    fn email_code_key(
        &self,
        purpose: Purpose,
        user_id: UserId,
        address: &Email,
        binding: &str,
        code: &str,
    ) -> Result<Key, Error> {
        let digest = self.keys()?.email_code(&[
            self.identity.environment().as_str().as_bytes(),
            self.org.as_str().as_bytes(),
            user_id.as_uuid().as_bytes(),
            purpose.as_str().as_bytes(),
            address.key().as_bytes(),
            binding.as_bytes(),
            code.as_bytes(),
        ]);
        Ok(Key::digest(EMAIL_CODE_NAMESPACE, &digest))
    }

    // ---------------------------------------------------------------- internals: lockout, risk

    /// Reserves one failed attempt on `subject` and on the client address, refusing at once
    /// when either is at its threshold. Only the lockout counts: the failure counts the risk
    /// engine reads change when the guess fails ([`Self::failed`] with the guard).
    async fn reserve(
        &self,
        subject: Subject,
        context: &RequestContext,
        now: OffsetDateTime,
    ) -> Result<Reserved, Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        let policy = self.settings().lockout;
        let expires_at = now + policy.cool_down;
        let (subject, failures) = match subject {
            Subject::User(id) => (self.user_key(id), Some(self.user_failures_key(id))),
            Subject::Unknown(key) => (key, None),
        };
        let user_count = match store
            .increment(env, &subject, policy.user_threshold, expires_at, now)
            .await?
        {
            Counted::AtLimit(_) => return Ok(Reserved::Locked("account locked")),
            Counted::Incremented(n) => n,
        };
        let ip = context.client_ip.map(|ip| self.ip_key(ip));
        if let Some(ip_key) = &ip {
            let counted = store
                .increment(env, ip_key, policy.ip_threshold, expires_at, now)
                .await;
            match counted {
                Ok(Counted::Incremented(_)) => {}
                Ok(Counted::AtLimit(_)) => {
                    store.decrement(env, &subject, now).await?;
                    return Ok(Reserved::Locked("client address locked"));
                }
                Err(e) => {
                    let _ = store.decrement(env, &subject, now).await;
                    return Err(e.into());
                }
            }
        }
        Ok(Reserved::Held(Guard {
            user: subject,
            ip,
            user_count,
            failures,
            ip_failures: context.client_ip.map(|ip| self.ip_failures_key(ip)),
        }))
    }

    /// Counts a failed guess for the risk engine, on the user (when known) and on the client
    /// address, in a window of [`LockoutPolicy::cool_down`](super::LockoutPolicy::cool_down)
    /// from the first failure, up to the lockout thresholds (the most the lockout lets fail in
    /// a window). Both are tried: a failure to count one does not skip the other.
    async fn count_failure(&self, guard: &Guard, now: OffsetDateTime) -> Result<(), Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        let policy = self.settings().lockout;
        let expires_at = now + policy.cool_down;
        let user = match &guard.failures {
            Some(key) => store
                .increment(env, key, policy.user_threshold, expires_at, now)
                .await
                .map(drop),
            None => Ok(()),
        };
        if let Some(key) = &guard.ip_failures {
            store
                .increment(env, key, policy.ip_threshold, expires_at, now)
                .await?;
        }
        user?;
        Ok(())
    }

    /// Gives a successful guess's reservations back. Both are tried: a failure to give one back
    /// does not keep the other.
    async fn release(&self, guard: Guard, now: OffsetDateTime) -> Result<(), Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        let user = store.decrement(env, &guard.user, now).await;
        if let Some(ip) = &guard.ip {
            store.decrement(env, ip, now).await?;
        }
        user?;
        Ok(())
    }

    /// The answer of a check that could not finish (a store, key or hashing-offload error): the
    /// guess was not evaluated, or was right, so its reservations are given back (best effort)
    /// before the error is returned — a failing store or offload must not lock the account.
    async fn unless_failed<T>(
        &self,
        checked: Result<T, Error>,
        guard: Guard,
        now: OffsetDateTime,
    ) -> Result<(T, Guard), Error> {
        match checked {
            Ok(c) => Ok((c, guard)),
            Err(e) => {
                let _ = self.release(guard, now).await;
                Err(e)
            }
        }
    }

    async fn assess(
        &self,
        action: RiskAction,
        user: &User,
        creds: &CredentialRecord,
        request: &RequestContext,
    ) -> Result<RiskAssessment, Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        let now = self.identity.now();
        // The failure counts, not the lockout's: those also hold the reservations of guesses
        // still in flight (this one's and any concurrent sign-in's), which have not failed.
        let user_failures = store
            .count(env, &self.user_failures_key(user.id), now)
            .await?;
        let ip_failures = match request.client_ip {
            Some(ip) => store.count(env, &self.ip_failures_key(ip), now).await?,
            None => 0,
        };
        let (device, ip) = self.signal_digests(user.id, request)?;
        let familiarity = |digest: Option<crate::secret::Digest>,
                           known: &[crate::secret::Digest]| match digest {
            None => Familiarity::Absent,
            Some(d) if known.contains(&d) => Familiarity::Known,
            Some(_) => Familiarity::Unknown,
        };
        let context = RiskContext {
            action,
            org: self.org.clone(),
            user_id: user.id,
            request: request.clone(),
            device: familiarity(device, &creds.known_devices),
            ip: familiarity(ip, &creds.known_ips),
            has_history: !creds.known_devices.is_empty() || !creds.known_ips.is_empty(),
            recent_user_failures: user_failures,
            recent_ip_failures: ip_failures,
        };
        let assessed = self.identity.risk_engine().assess(&context).await;
        let mut event = self
            .event(EventCode::RISK_DECISION, now)
            .user(user.id, &user.profile.email)
            .detail("action", action.as_str());
        let result = match assessed {
            Ok(a) => {
                let reasons: Vec<String> = a.reasons.iter().map(ToString::to_string).collect();
                event = event
                    .detail("decision", a.decision.as_str())
                    .detail("risk_response_code", a.decision.code().to_string())
                    .detail("reasons", reasons.join(","));
                Ok(a)
            }
            Err(_) => {
                event = event.detail("error", "the risk engine failed");
                Err(Error::Unavailable("risk engine"))
            }
        };
        self.audit(event).await;
        result
    }

    /// Remembers the request's device and address for the user (best effort: a lost update
    /// only means the next sign-in from this device is challenged).
    async fn remember(&self, user_id: UserId, context: &RequestContext, now: OffsetDateTime) {
        let Ok((device, ip)) = self.signal_digests(user_id, context) else {
            return;
        };
        if device.is_none() && ip.is_none() {
            return;
        }
        let max = self.settings().remembered_devices;
        let _ = self
            .update_credentials(user_id, None, |c| {
                push_bounded(&mut c.known_devices, device, max);
                push_bounded(&mut c.known_ips, ip, max);
                c.updated_at = now;
                Ok(())
            })
            .await;
    }

    fn signal_digests(
        &self,
        user_id: UserId,
        request: &RequestContext,
    ) -> Result<(Option<crate::secret::Digest>, Option<crate::secret::Digest>), Error> {
        let keys = self.keys()?;
        let uid = user_id.as_uuid();
        let device = request.device.as_ref().map(|d| {
            keys.signal(&[
                b"device",
                self.org.as_str().as_bytes(),
                uid.as_bytes(),
                d.fingerprint_hash().as_bytes(),
            ])
        });
        let ip = request.client_ip.map(|ip| {
            keys.signal(&[
                b"ip",
                self.org.as_str().as_bytes(),
                uid.as_bytes(),
                ip_prefix(ip).as_bytes(),
            ])
        });
        Ok((device, ip))
    }

    // ---------------------------------------------------------------- internals: records

    async fn check_new_password(
        &self,
        password: &Password,
        email: &Email,
        username: Option<&Username>,
    ) -> Result<(), Error> {
        self.settings().password.check(password)?;
        let lowered = password.expose().to_lowercase();
        let email_key = email.key();
        let local = email_key.split('@').next().unwrap_or_default();
        if lowered == email_key
            || lowered == local
            || username.is_some_and(|u| u.as_str() == lowered)
        {
            return Err(Error::field(
                "password",
                FieldProblem::Format("must not be the e-mail address or the username"),
            ));
        }
        if let Some(checker) = self.identity.breached_passwords() {
            match checker.check(password).await {
                Ok(Exposure::NotFound) => {}
                Ok(Exposure::Breached) => {
                    return Err(Error::field(
                        "password",
                        FieldProblem::Format("appears in a list of breached passwords"),
                    ));
                }
                Err(_) => return Err(Error::Unavailable("breached-password check")),
            }
        }
        Ok(())
    }

    async fn hash(&self, password: &Password) -> Result<String, Error> {
        let password = password.clone();
        let params = self.settings().argon2;
        offloaded(self.identity.password_offload(), move || {
            hash_password(&password, &params)
        })
        .await?
    }

    /// Verifies off the executor; the inner `Err` is an unreadable stored hash.
    async fn verify(
        &self,
        phc: String,
        password: &Password,
    ) -> Result<Result<Verification, &'static str>, Error> {
        let password = password.clone();
        let params = self.settings().argon2;
        let verified = offloaded(self.identity.password_offload(), move || {
            verify_password(&phc, &password, &params)
        })
        .await?;
        Ok(verified.map_err(|_| "stored password hash unreadable"))
    }

    async fn dummy(&self, password: &Password) -> Result<(), Error> {
        let password = password.clone();
        let params = self.settings().argon2;
        offloaded(self.identity.password_offload(), move || {
            dummy_verification(&password, &params);
        })
        .await
    }

    /// Replaces an old-parameter hash after a successful sign-in (best effort: it is retried
    /// at the next sign-in).
    async fn rehash(&self, user: &User, password: &Password, now: OffsetDateTime) {
        let Ok(hash) = self.hash(password).await else {
            return;
        };
        let event = self
            .event(EventCode::PASSWORD_REHASHED, now)
            .user(user.id, &user.profile.email);
        let _ = self
            .update_credentials(user.id, Some(event), |c| {
                c.password_hash = Some(hash.clone());
                Ok(())
            })
            .await;
    }

    async fn store_password_hash(&self, user: &User, hash: String, how: &str) -> Result<(), Error> {
        let now = self.identity.now();
        let code = if how == "changed" {
            EventCode::PASSWORD_CHANGED
        } else {
            EventCode::PASSWORD_SET
        };
        let event = self
            .event(code, now)
            .user(user.id, &user.profile.email)
            .detail("how", how);
        // Tokens first: a failure anywhere leaves the old password in place (a retry does it
        // all), never the new password with the old tokens alive.
        self.identity
            .tokens()
            .revoke_user(self.org, user.id, now)
            .await?;
        self.upsert_credentials(user, event, |c| c.password_hash = Some(hash.clone()))
            .await
    }

    /// Applies `change` to the user's credentials, creating them first if the user has none.
    async fn upsert_credentials(
        &self,
        user: &User,
        event: NewEvent,
        change: impl Fn(&mut CredentialRecord),
    ) -> Result<(), Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let now = self.identity.now();
            match self.credentials(user.id).await? {
                Some(current) => {
                    let mut next = current.clone();
                    change(&mut next);
                    next.updated_at = now;
                    next.version = current.version + 1;
                    match store
                        .update_credentials(env, &next, current.version, Some(&event))
                        .await
                    {
                        Ok(()) => return Ok(()),
                        Err(StoreError::Precondition) => continue,
                        Err(StoreError::NotFound) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                None => {
                    let mut fresh = new_credentials(user, now);
                    change(&mut fresh);
                    match store.insert_credentials(env, &fresh, &event).await {
                        Ok(()) => return Ok(()),
                        Err(StoreError::AlreadyExists { key: "user" }) => continue,
                        Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    /// Read-modify-write of existing credentials, retried on lost races.
    async fn update_credentials(
        &self,
        user_id: UserId,
        event: Option<NewEvent>,
        change: impl Fn(&mut CredentialRecord) -> Result<(), Error>,
    ) -> Result<CredentialRecord, Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self
                .credentials(user_id)
                .await?
                .ok_or(Error::NotFound(Resource::User))?;
            let mut next = current.clone();
            change(&mut next)?;
            next.updated_at = self.identity.now();
            next.version = current.version + 1;
            match store
                .update_credentials(env, &next, current.version, event.as_ref())
                .await
            {
                Ok(()) => return Ok(next),
                Err(StoreError::Precondition) => continue,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    async fn user(&self, id: UserId) -> Result<User, Error> {
        self.identity
            .store()
            .user(self.identity.environment(), self.org, id)
            .await?
            .ok_or(Error::NotFound(Resource::User))
    }

    async fn credentials(&self, id: UserId) -> Result<Option<CredentialRecord>, Error> {
        Ok(self
            .identity
            .store()
            .credentials(self.identity.environment(), self.org, id)
            .await?)
    }

    /// A user and its credentials; `None` when either is missing.
    async fn account(&self, id: UserId) -> Result<Option<(User, CredentialRecord)>, Error> {
        let env = self.identity.environment();
        let Some(user) = self.identity.store().user(env, self.org, id).await? else {
            return Ok(None);
        };
        Ok(self.credentials(id).await?.map(|c| (user, c)))
    }

    async fn account_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<(User, CredentialRecord)>, Error> {
        let env = self.identity.environment();
        match self
            .identity
            .store()
            .user_by_email(env, self.org, email)
            .await?
        {
            Some(user) => Ok(self.credentials(user.id).await?.map(|c| (user, c))),
            None => Ok(None),
        }
    }

    /// The account a login names: an e-mail address (it has an `@`) or a username. A login that
    /// parses as neither names nobody.
    async fn account_by_login(
        &self,
        login: &str,
    ) -> Result<Option<(User, CredentialRecord)>, Error> {
        let login = login.trim();
        if login.contains('@') {
            return match Email::parse(login) {
                Ok(email) => self.account_by_email(&email).await,
                Err(_) => Ok(None),
            };
        }
        let Ok(username) = Username::parse(login) else {
            return Ok(None);
        };
        let env = self.identity.environment();
        let Some(creds) = self
            .identity
            .store()
            .credentials_by_username(env, self.org, username.as_str())
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .identity
            .store()
            .user(env, self.org, creds.user_id)
            .await?
            .map(|u| (u, creds)))
    }

    async fn check_client(&self, a: &Authorization) -> Result<(), Error> {
        let app = self
            .identity
            .store()
            .application(self.identity.environment(), a.client_id)
            .await?
            .filter(|app| app.deleted_at.is_none())
            .ok_or(Error::InvalidClient)?;
        if app.scope.organization().is_some_and(|o| o != self.org) {
            return Err(Error::InvalidClient);
        }
        if !redirect_allowed(&app.allowed_redirect_urls, &a.redirect_uri) {
            return Err(Error::InvalidRequest(
                "redirect_uri is not registered for this client",
            ));
        }
        Ok(())
    }

    async fn require_org(&self) -> Result<(), Error> {
        Organizations::new(self.identity)
            .require_live(self.org)
            .await
            .map(drop)
    }

    // ---------------------------------------------------------------- internals: keys, audit

    fn settings(&self) -> &SigninSettings {
        self.identity.config().signin()
    }

    fn keys(&self) -> Result<&SigninKeys, Error> {
        self.identity.signin_keys()
    }

    fn user_key(&self, id: UserId) -> Key {
        Key::new("lockout:user", &[self.org.as_str(), &id.to_string()])
    }

    /// The lockout key of a login that names nobody, so unknown logins lock like known ones.
    fn login_key(&self, login: &str) -> Result<Key, Error> {
        let digest =
            self.keys()?
                .signal(&[b"login", self.org.as_str().as_bytes(), login.as_bytes()]);
        Ok(Key::digest(
            &format!("lockout:login:{}", self.org.as_str()),
            &digest,
        ))
    }

    fn ip_key(&self, ip: IpAddr) -> Key {
        Key::new("lockout:ip", &[self.org.as_str(), &ip_prefix(ip)])
    }

    /// The count of a user's failed guesses the risk engine reads.
    fn user_failures_key(&self, id: UserId) -> Key {
        Key::new("failures:user", &[self.org.as_str(), &id.to_string()])
    }

    /// The count of a client address's failed guesses the risk engine reads.
    fn ip_failures_key(&self, ip: IpAddr) -> Key {
        Key::new("failures:ip", &[self.org.as_str(), &ip_prefix(ip)])
    }

    /// A keyed tag of an address, so store keys never hold addresses in the clear.
    fn address_tag(&self, address: &Email) -> Result<String, Error> {
        Ok(self
            .keys()?
            .signal(&[b"address", address.key().as_bytes()])
            .to_hex())
    }

    fn totp_aad(&self, user_id: UserId) -> Vec<u8> {
        format!(
            "totp|{}|{}|{}",
            self.identity.environment(),
            self.org,
            user_id
        )
        .into_bytes()
    }

    fn event(&self, code: EventCode, now: OffsetDateTime) -> NewEvent {
        NewEvent::new(code, now).tenant(self.org)
    }

    /// Records a failure and answers [`Error::SignInFailed`] — or the store error when the
    /// required event could not be written (still a refusal). Records `ACCOUNT_LOCKED` when this
    /// failure used the last attempt. With the guess's `guard` (a guess that was evaluated and
    /// failed: its reservations are kept), the failure is counted for the risk engine first; a
    /// store error counting it is answered too (still a refusal), but only after the events were
    /// written.
    async fn failed(
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
    async fn code_failed(
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
    async fn enrolment_failed(
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
    async fn audit(&self, event: NewEvent) {
        let _ = self
            .identity
            .store()
            .record_event(self.identity.environment(), &event)
            .await;
    }

    /// Records a required event: failing to record it is an error.
    async fn audit_required(&self, event: NewEvent) -> Result<(), Error> {
        self.identity
            .store()
            .record_event(self.identity.environment(), &event)
            .await?;
        Ok(())
    }
}

/// What checking one factor of a pending entry led to.
enum Progress {
    /// Every factor passed.
    Done(Box<(PendingPayload, User)>),
    /// More factors are needed: a new pending entry.
    More(PendingSignIn),
}

/// The factors a decision asks for. `implicit_totp`: an enrolled authenticator is always asked
/// for (sign-in), not only when the decision challenges (unregister).
fn required_factors(
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
fn amr_of(factor: &Factor, kind: FactorKind) -> &'static str {
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

fn flow_name(flow: &Flow) -> &'static str {
    match flow {
        Flow::SignIn { .. } => "sign_in",
        Flow::Unregister { .. } => "unregister",
    }
}

fn new_credentials(user: &User, now: OffsetDateTime) -> CredentialRecord {
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

fn check_authorization(a: &Authorization) -> Result<(), Error> {
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
fn ip_prefix(ip: IpAddr) -> String {
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

fn push_bounded(
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

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn random_base32(n: usize) -> Result<String, Error> {
    let bytes: [u8; 32] = random_array()?;
    Ok(bytes
        .iter()
        .take(n)
        .map(|b| char::from(BASE32[usize::from(b & 31)]))
        .collect())
}

/// A uniformly random string of `digits` decimal digits (rejection sampling, no modulo bias).
fn random_digits(digits: u8) -> Result<String, Error> {
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
