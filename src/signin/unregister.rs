//! Unregistering a user (seed 004): gated by the risk engine, completed by a passed challenge.

use crate::Error;
use crate::model::event::EventCode;
use crate::model::ids::{UserId, new_v7};
use crate::risk::{RequestContext, RiskAction, RiskDecision};
use crate::store::{AccountRole, Store};

use super::service::*;
use super::types::*;

impl<'a, S: Store> SignIn<'a, S> {
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
                Flow::SignIn { .. } | Flow::Session { .. } => Err(Error::InvalidCode),
            },
            Ok(Progress::More(p)) => Ok(UnregisterOutcome::Challenged(p)),
            Err(Error::SignInFailed) => Err(Error::InvalidCode),
            Err(e) => Err(e),
        }
    }
}
