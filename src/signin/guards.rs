//! What guards every sign-in path: lockout reservations per user and per address, and the risk
//! engine's assessment of the attempt.

use time::OffsetDateTime;

use crate::Error;
use crate::model::event::EventCode;
use crate::model::ids::UserId;
use crate::model::user::User;
use crate::risk::{Familiarity, RequestContext, RiskAction, RiskAssessment, RiskContext};
use crate::store::{Counted, CredentialRecord, Store};

use super::service::*;
use super::types::*;

impl<'a, S: Store> SignIn<'a, S> {
    // ---------------------------------------------------------------- internals: lockout, risk

    /// Reserves one failed attempt on `subject` and on the client address, refusing at once
    /// when either is at its threshold. Only the lockout counts: the failure counts the risk
    /// engine reads change when the guess fails ([`Self::failed`] with the guard).
    pub(super) async fn reserve(
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
    pub(super) async fn count_failure(
        &self,
        guard: &Guard,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
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
    pub(super) async fn release(&self, guard: Guard, now: OffsetDateTime) -> Result<(), Error> {
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
    pub(super) async fn unless_failed<T>(
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

    pub(super) async fn assess(
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
    pub(super) async fn remember(
        &self,
        user_id: UserId,
        context: &RequestContext,
        now: OffsetDateTime,
    ) {
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

    pub(super) fn signal_digests(
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
}
