//! Using a session: get it, validate it (keeping it alive), and trade it for an authorization
//! code of another application of the organization (SSO).

use time::OffsetDateTime;

use crate::Error;
use crate::model::event::EventCode;
use crate::model::session::{FactorMismatch, ValidationFactors};
use crate::model::user::User;
use crate::secret::{Digest, Secret};
use crate::signin::{Authorization, Authorized};
use crate::store::{SessionRecord, Store};
use crate::tokens::CodeRequest;

use super::service::Sessions;
use super::types::Session;

impl<'a, S: Store> Sessions<'a, S> {
    /// The session of a token, with its user expanded (the seed's `GET /session/{token}`),
    /// without keeping it alive. The presented factors must match the session's.
    ///
    /// # Errors
    /// [`Error::InvalidSession`] for an unknown, expired or ended token, another
    /// organization's, a disabled or deleted user, or factors that do not match (audited);
    /// [`Error::Keys`], [`Error::Store`].
    pub async fn get(&self, token: &str, factors: &ValidationFactors) -> Result<Session, Error> {
        let now = self.identity.now();
        let (record, user) = self.check(token, factors, now).await?;
        Ok(self.session(record, Secret::from_presented(token), user, false))
    }

    /// Validates a session token and keeps the session alive (the seed's
    /// `POST /session/{token}`): its idle expiry slides by its timeout, never past its absolute
    /// expiry. At most one store write per session per
    /// [`touch_interval`](super::SessionSettings::touch_interval) (see the
    /// [module docs](super)).
    ///
    /// # Errors
    /// As [`get`](Self::get); a session ended while it was being validated is
    /// [`Error::InvalidSession`].
    pub async fn validate(
        &self,
        token: &str,
        factors: &ValidationFactors,
    ) -> Result<Session, Error> {
        let now = self.identity.now();
        let (mut record, user) = self.check(token, factors, now).await?;
        if let Some(idle) = self.slid(&record, now) {
            let touched = self
                .identity
                .store()
                .touch_session(self.identity.environment(), record.id, idle, now)
                .await?;
            if !touched {
                return Err(Error::InvalidSession);
            }
            record.validated_at = now;
            record.idle_expires_at = idle.min(record.absolute_expires_at);
        }
        Ok(self.session(record, Secret::from_presented(token), user, false))
    }

    /// Trades a valid session for an authorization code of an application of the same
    /// organization, without the password again: single sign-on. The authorization request is
    /// checked as a sign-in checks it (client, exact redirect URI, PKCE S256, nonce, state,
    /// scope); the code's `auth_time` is the session's creation and its `amr` the session's.
    /// The session is kept alive as by [`validate`](Self::validate).
    ///
    /// # Errors
    /// [`Error::InvalidSession`] as [`validate`](Self::validate); [`Error::InvalidClient`] /
    /// [`Error::InvalidRequest`] for the client or redirect URI (another organization's
    /// application is [`Error::InvalidClient`]); [`Error::InvalidField`] naming `nonce`,
    /// `state` or `scope`; [`Error::Keys`], [`Error::Store`].
    pub async fn authorize(
        &self,
        token: &str,
        factors: &ValidationFactors,
        authorization: Authorization,
    ) -> Result<Authorized, Error> {
        self.identity
            .signin(self.org)
            .check_authorization_request(&authorization)
            .await?;
        let session = self.validate(token, factors).await?;
        let now = self.identity.now();
        let code = self
            .identity
            .tokens()
            .mint_code(CodeRequest {
                org: self.org.clone(),
                user_id: session.user.id,
                client_id: authorization.client_id,
                redirect_uri: authorization.redirect_uri.clone(),
                code_challenge: authorization.code_challenge,
                nonce: authorization.nonce,
                state: authorization.state.clone(),
                scope: authorization.scope,
                auth_time: session.created_at,
                amr: session.amr.clone(),
            })
            .await?;
        self.audit_required(
            self.user_event(EventCode::SIGN_IN_SUCCEEDED, &session.user, now)
                .client(authorization.client_id)
                .detail("amr", session.amr.join(" "))
                .detail("flow", "session")
                .detail("session_id", session.id.to_string()),
        )
        .await?;
        Ok(Authorized {
            code,
            redirect_uri: authorization.redirect_uri,
            state: authorization.state,
            user_id: session.user.id,
        })
    }

    /// The live session of a token in this organization, its factors matching, its user live
    /// and active.
    async fn check(
        &self,
        token: &str,
        factors: &ValidationFactors,
        now: OffsetDateTime,
    ) -> Result<(SessionRecord, User), Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        let digest = Digest::of(token.as_bytes());
        // A session whose user was disabled or deleted, or whose organization was deleted, is
        // refused as an unknown one.
        let Some((record, user)) = store.live_session(env, &digest, now).await? else {
            return Err(Error::InvalidSession);
        };
        if &record.org != self.org || !user.active {
            return Err(Error::InvalidSession);
        }
        if let Err(mismatch) = self.policy().check_stored(&record.factors, factors) {
            let (reason, factor) = match mismatch {
                FactorMismatch::Missing(name) => ("factor missing", name),
                FactorMismatch::Different(name) => ("factor different", name),
            };
            self.audit(
                self.event(EventCode::SESSION_FACTORS_MISMATCH, now)
                    .detail("session_id", record.id.to_string())
                    .detail("user_id", record.user_id.as_uuid().to_string())
                    .detail("reason", reason)
                    .detail("factor", factor),
            )
            .await;
            return Err(Error::InvalidSession);
        }
        Ok((record, user))
    }

    /// The idle expiry a validation at `now` writes, or `None` when the written one is recent
    /// enough (or already at the absolute expiry).
    fn slid(&self, record: &SessionRecord, now: OffsetDateTime) -> Option<OffsetDateTime> {
        if record.idle_expires_at >= record.absolute_expires_at {
            return None;
        }
        let timeout = record.idle_expires_at - record.validated_at;
        let interval = self.settings().touch_interval.min(timeout / 4);
        if now - record.validated_at < interval {
            return None;
        }
        Some((now + timeout).min(record.absolute_expires_at))
    }
}
