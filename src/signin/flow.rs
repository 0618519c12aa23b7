//! The sign-in flow: password, then the factors a risk decision or an enrolment asks for, each
//! step a pending entry taken once, ending in an authorization code.

use time::OffsetDateTime;

use crate::Error;
use crate::crypto::password::{Password, Verification};
use crate::crypto::pkce::CodeChallenge;
use crate::error::Resource;
use crate::model::event::{EventCode, NewEvent};
use crate::model::ids::ClientId;
use crate::model::ids::new_v7;
use crate::model::user::User;
use crate::risk::{RequestContext, RiskAction, RiskDecision};
use crate::secret::Secret;
use crate::store::{AccountStatus, CredentialRecord, Key, OneTimeEntry, Store, StoreError, Take};
use crate::tokens::CodeRequest;

use super::service::*;
use super::types::*;

impl<'a, S: Store> SignIn<'a, S> {
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
        let (user, creds, decision) = self
            .check_password(
                &request.login,
                &request.password,
                client,
                &request.context,
                now,
            )
            .await?;
        let a = &request.authorization;
        let flow = Flow::SignIn {
            client_id: a.client_id,
            redirect_uri: a.redirect_uri.clone(),
            code_challenge: a.code_challenge.as_str().to_owned(),
            nonce: a.nonce.clone(),
            state: a.state.clone(),
            scope: a.scope.clone(),
        };
        let factors = required_factors(decision, creds.totp.is_some(), true);
        let payload = PendingPayload {
            flow,
            flow_id: new_v7(now),
            org: self.org.clone(),
            user_id: user.id,
            auth_time: now.unix_timestamp(),
            amr: vec!["pwd".to_owned()],
            remaining: factors,
            decision,
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

    /// The credential part of every sign-in path (a sign-in for a code, a session): the user
    /// (or unknown login) and client address reserve one failed attempt, refused at once when
    /// locked; the password is verified (a dummy hash for an unknown login); a hash with old
    /// parameters is replaced; a disabled or unverified account is refused; the risk engine
    /// decides, and a decline is refused. Answers the user, its credentials and the decision.
    pub(super) async fn check_password(
        &self,
        login: &str,
        password: &Password,
        client: Option<ClientId>,
        context: &RequestContext,
        now: OffsetDateTime,
    ) -> Result<(User, CredentialRecord, RiskDecision), Error> {
        let account = self.account_by_login(login).await?;
        let subject = match &account {
            Some((user, _)) => Subject::User(user.id),
            None => Subject::Unknown(self.login_key(&login.trim().to_lowercase())?),
        };
        let user = account.as_ref().map(|(u, _)| u);
        let guard = match self.reserve(subject, context, now).await? {
            Reserved::Held(g) => g,
            Reserved::Locked(why) => {
                return Err(self
                    .failed(EventCode::SIGN_IN_FAILED, why, user, client, None, now)
                    .await);
            }
        };
        if password.longer_than(self.settings().password.max_length) {
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
                .unless_failed(self.dummy(password).await, guard, now)
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
                self.unless_failed(self.verify(phc, password).await, guard, now)
                    .await?
            }
            None => {
                let ((), guard) = self
                    .unless_failed(self.dummy(password).await, guard, now)
                    .await?;
                (Err("no password set"), guard)
            }
        };
        match verification {
            Ok(Verification::Match) => {}
            Ok(Verification::MatchNeedsRehash) => {
                self.rehash(&user, password, now).await;
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
                with_client(self.event(EventCode::SIGN_IN_FAILED, now), client)
                    .user(user.id, &user.profile.email)
                    .detail("reason", "user disabled"),
            )
            .await?;
            return Err(Error::Forbidden("the user is disabled"));
        }
        if creds.status == AccountStatus::Unverified {
            self.release(guard, now).await?;
            self.audit_required(
                with_client(self.event(EventCode::SIGN_IN_FAILED, now), client)
                    .user(user.id, &user.profile.email)
                    .detail("reason", "e-mail address not verified"),
            )
            .await?;
            return Err(Error::EmailNotVerified);
        }
        let assessment = self
            .assess(RiskAction::SignIn, &user, &creds, context)
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
        Ok((user, creds, assessment.decision))
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

    // ---------------------------------------------------------------- internals: flows

    /// Stores a pending entry (sending the e-mail code it asks for) and audits the challenge.
    pub(super) async fn pend(
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
    pub(super) async fn advance_pending(
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
            Flow::Session { client_id, .. } => (FlowKind::Session, *client_id),
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
    pub(super) async fn finish_sign_in(
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
    pub(super) async fn erase(
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
}

/// The event with its client, when there is one.
pub(super) fn with_client(event: NewEvent, client: Option<ClientId>) -> NewEvent {
    match client {
        Some(c) => event.client(c),
        None => event,
    }
}
