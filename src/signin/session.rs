//! Signing in for a Crowd-style session: the same credential path as a sign-in for a code
//! (lockout, password, risk engine, the enrolled authenticator and any challenge), ending in an
//! authenticated user that the `sessions` service opens a session for. A session is never
//! weaker than a sign-in.

use time::OffsetDateTime;

use crate::Error;
use crate::crypto::password::Password;
use crate::model::event::EventCode;
use crate::model::fields::Email;
use crate::model::ids::{ClientId, new_v7};
use crate::model::session::ValidationFactor;
use crate::model::user::User;
use crate::risk::RequestContext;
use crate::store::Store;

use super::flow::with_client;
use super::service::*;
use super::types::*;

/// A user who passed every factor of a session sign-in, and what the session is to be bound to.
#[derive(Debug)]
pub(crate) struct SessionSignIn {
    /// Who signed in.
    pub(crate) user: User,
    /// How (RFC 8176).
    pub(crate) amr: Vec<String>,
    /// The application that asked, if the host named one.
    pub(crate) client_id: Option<ClientId>,
    /// The factors to bind the session to.
    pub(crate) factors: Vec<ValidationFactor>,
    /// The requested duration, seconds.
    pub(crate) duration_secs: Option<i64>,
}

/// Where a session sign-in stands.
#[derive(Debug)]
pub(crate) enum SessionSignInStep {
    /// Every factor passed.
    Done(Box<SessionSignIn>),
    /// More factors are needed.
    FactorRequired(PendingSignIn),
}

/// What a session sign-in binds the session to.
pub(crate) struct SessionBinding {
    pub(crate) client_id: Option<ClientId>,
    pub(crate) factors: Vec<ValidationFactor>,
    pub(crate) duration_secs: Option<i64>,
}

impl<'a, S: Store> SignIn<'a, S> {
    /// Checks a login and password for a session, then asks for the factors a sign-in would.
    pub(crate) async fn sign_in_for_session(
        &self,
        login: &str,
        password: &Password,
        binding: SessionBinding,
        context: &RequestContext,
    ) -> Result<SessionSignInStep, Error> {
        self.keys()?;
        self.require_org().await?;
        let now = self.identity.now();
        let (user, creds, decision) = self
            .check_password(login, password, binding.client_id, context, now)
            .await?;
        let payload = PendingPayload {
            flow: Flow::Session {
                client_id: binding.client_id,
                factors: binding.factors,
                duration_secs: binding.duration_secs,
            },
            flow_id: new_v7(now),
            org: self.org.clone(),
            user_id: user.id,
            auth_time: now.unix_timestamp(),
            amr: vec!["pwd".to_owned()],
            remaining: required_factors(decision, creds.totp.is_some(), true),
            decision,
            expires_at: (now + self.settings().pending_lifetime).unix_timestamp(),
        };
        if payload.remaining.is_empty() {
            return self.finish_session(payload, user, context, now).await;
        }
        self.pend(payload, &user, now)
            .await
            .map(SessionSignInStep::FactorRequired)
    }

    /// Continues a pending session sign-in with one factor.
    pub(crate) async fn continue_session(
        &self,
        pending: &str,
        factor: Factor,
        context: &RequestContext,
    ) -> Result<SessionSignInStep, Error> {
        let now = self.identity.now();
        match self
            .advance_pending(pending, FlowKind::Session, &factor, context, now)
            .await?
        {
            Progress::Done(done) => {
                let (payload, user) = *done;
                self.finish_session(payload, user, context, now).await
            }
            Progress::More(p) => Ok(SessionSignInStep::FactorRequired(p)),
        }
    }

    async fn finish_session(
        &self,
        mut payload: PendingPayload,
        user: User,
        context: &RequestContext,
        now: OffsetDateTime,
    ) -> Result<SessionSignInStep, Error> {
        let Flow::Session {
            client_id,
            factors,
            duration_secs,
        } = payload.flow
        else {
            return Err(Error::SignInFailed);
        };
        if payload.amr.len() > 1 && !payload.amr.iter().any(|a| a == "mfa") {
            payload.amr.push("mfa".to_owned());
        }
        self.remember(user.id, context, now).await;
        self.audit_required(
            with_client(self.event(EventCode::SIGN_IN_SUCCEEDED, now), client_id)
                .user(user.id, &user.profile.email)
                .detail("amr", payload.amr.join(" "))
                .detail("risk_decision", payload.decision.as_str())
                .detail("flow", "session"),
        )
        .await?;
        Ok(SessionSignInStep::Done(Box::new(SessionSignIn {
            user,
            amr: payload.amr,
            client_id,
            factors,
            duration_secs,
        })))
    }
}

impl<'a, S: Store> SignIn<'a, S> {
    /// The checks a sign-in makes of an authorization request (its fields, the client, the
    /// redirect URI), for flows that reach a code another way (a session's SSO).
    pub(crate) async fn check_authorization_request(
        &self,
        authorization: &Authorization,
    ) -> Result<(), Error> {
        check_authorization(authorization)?;
        self.check_client(authorization).await
    }

    /// The checks of an authorization request's own fields (`nonce`, `state`, `scope`), without
    /// the client's.
    pub(crate) fn check_authorization_fields(
        &self,
        authorization: &Authorization,
    ) -> Result<(), Error> {
        check_authorization(authorization)
    }

    /// The user an e-mail address or username names in this organization (with or without
    /// credentials: a user the directory created has none until it sets a password).
    pub(crate) async fn user_by_login(&self, login: &str) -> Result<Option<User>, Error> {
        let login = login.trim();
        if login.contains('@') {
            let Ok(email) = Email::parse(login) else {
                return Ok(None);
            };
            return Ok(self
                .identity
                .store()
                .user_by_email(self.identity.environment(), self.org, &email)
                .await?);
        }
        Ok(self.account_by_login(login).await?.map(|(user, _)| user))
    }

    /// Fails with [`Error::NotFound`] unless the organization is live.
    pub(crate) async fn require_live_org(&self) -> Result<(), Error> {
        self.require_org().await
    }
}
