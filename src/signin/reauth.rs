//! Sensitive changes to an account's second factor — removing the authenticator, replacing the
//! recovery codes — each behind a fresh authentication: the password, or a current TOTP code.
//!
//! A session or a valid access token is not enough on its own: whoever holds a stolen session
//! must not be able to strip the second factor or mint themselves recovery codes. The proof is
//! a guess like any other: it reserves an attempt under the sign-in lockout, a wrong one counts
//! as a failure (and toward the lockout), and a locked account refuses it unchecked.

use time::OffsetDateTime;

use crate::Error;
use crate::error::Resource;
use crate::model::event::{EventCode, NewEvent};
use crate::model::ids::UserId;
use crate::model::user::User;
use crate::risk::RequestContext;
use crate::store::{CredentialRecord, Store, StoreError};

use super::password::{Password, Verification};
use super::service::*;
use super::types::*;

/// The fresh proof asked before a change to the second factor.
#[derive(Debug)]
#[non_exhaustive]
pub enum Reauthentication {
    /// The account's current password.
    Password(Password),
    /// A current code from the enrolled authenticator app (accepted once, as at sign-in).
    Totp(String),
}

impl<'a, S: Store> SignIn<'a, S> {
    /// Removes the user's enrolled authenticator (TOTP) after a fresh authentication. Its
    /// recovery codes stop working with it, and sign-in no longer asks for a second factor.
    /// A pending, unconfirmed enrolment is dropped too.
    ///
    /// # Errors
    /// [`Error::SignInFailed`] when the proof is wrong or the account is locked (the audit log
    /// says which: `REAUTHENTICATION_FAILED`); [`Error::InvalidRequest`] when no authenticator
    /// is enrolled; [`Error::Forbidden`] for a user without credentials; [`Error::NotFound`]
    /// (user); [`Error::Conflict`], [`Error::Store`], [`Error::Keys`].
    pub async fn remove_authenticator(
        &self,
        user_id: UserId,
        proof: &Reauthentication,
        context: &RequestContext,
    ) -> Result<(), Error> {
        self.keys()?;
        let now = self.identity.now();
        let user = self.user(user_id).await?;
        let creds = self.enrolled(user_id).await?;
        self.reauthenticate(&user, &creds, proof, context, now)
            .await?;
        let event = self
            .event(EventCode::AUTHENTICATOR_REMOVED, now)
            .user(user.id, &user.profile.email);
        self.update_enrolled(creds, &event, now, |next, current| {
            next.totp = None;
            next.pending_totp = None;
            // New codes are never written for this generation: every older one is unreachable.
            next.recovery_generation = current.recovery_generation + 1;
        })
        .await
    }

    /// Issues 10 new recovery codes (shown once) after a fresh authentication; every earlier
    /// code stops working.
    ///
    /// # Errors
    /// [`Error::SignInFailed`] when the proof is wrong or the account is locked
    /// (`REAUTHENTICATION_FAILED` in the audit log); [`Error::InvalidRequest`] when no
    /// authenticator is enrolled; [`Error::Forbidden`] for a user without credentials;
    /// [`Error::NotFound`] (user); [`Error::Conflict`], [`Error::Store`], [`Error::Keys`].
    pub async fn regenerate_recovery_codes(
        &self,
        user_id: UserId,
        proof: &Reauthentication,
        context: &RequestContext,
    ) -> Result<RecoveryCodes, Error> {
        self.keys()?;
        let now = self.identity.now();
        let user = self.user(user_id).await?;
        let creds = self.enrolled(user_id).await?;
        self.reauthenticate(&user, &creds, proof, context, now)
            .await?;
        let env = self.identity.environment();
        let store = self.identity.store();
        let mut current = creds;
        for _ in 0..UPDATE_ATTEMPTS {
            // Codes under the generation this write takes: a lost race issues them again.
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
                Err(StoreError::Precondition) => current = self.enrolled(user_id).await?,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    // ---------------------------------------------------------------- internals

    /// Writes `change` (given the next and the current record) over the enrolled credentials
    /// with `event`, re-reading and retrying when a concurrent write won.
    async fn update_enrolled(
        &self,
        creds: CredentialRecord,
        event: &NewEvent,
        now: OffsetDateTime,
        change: impl Fn(&mut CredentialRecord, &CredentialRecord),
    ) -> Result<(), Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        let mut current = creds;
        for _ in 0..UPDATE_ATTEMPTS {
            let mut next = current.clone();
            change(&mut next, &current);
            next.updated_at = now;
            next.version = current.version + 1;
            match store
                .update_credentials(env, &next, current.version, Some(event))
                .await
            {
                Ok(()) => return Ok(()),
                Err(StoreError::Precondition) => current = self.enrolled(current.user_id).await?,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    /// The user's credentials, with an authenticator enrolled.
    async fn enrolled(&self, user_id: UserId) -> Result<CredentialRecord, Error> {
        let creds = self
            .credentials(user_id)
            .await?
            .ok_or(Error::Forbidden("the account has no sign-in credentials"))?;
        if creds.totp.is_none() {
            return Err(Error::InvalidRequest("no authenticator is enrolled"));
        }
        Ok(creds)
    }

    /// Checks `proof` as a sign-in guess: one reserved attempt under the lockout, a wrong
    /// proof counted and audited, a right one giving its reservation back.
    async fn reauthenticate(
        &self,
        user: &User,
        creds: &CredentialRecord,
        proof: &Reauthentication,
        context: &RequestContext,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let code = EventCode::REAUTHENTICATION_FAILED;
        let guard = match self.reserve(Subject::User(user.id), context, now).await? {
            Reserved::Held(g) => g,
            Reserved::Locked(why) => {
                return Err(self.failed(code, why, Some(user), None, None, now).await);
            }
        };
        // A check that could not finish evaluated nothing: the reservation is given back.
        let (checked, guard) = match proof {
            Reauthentication::Password(password) => {
                if password.longer_than(self.settings().password.max_length) {
                    (Err("password longer than the maximum"), guard)
                } else {
                    match creds.password_hash.clone() {
                        Some(phc) => {
                            let (verified, guard) = self
                                .unless_failed(self.verify(phc, password).await, guard, now)
                                .await?;
                            let checked = match verified {
                                Ok(Verification::Match | Verification::MatchNeedsRehash) => Ok(()),
                                Ok(Verification::Mismatch) => Err("wrong password"),
                                Err(why) => Err(why),
                            };
                            (checked, guard)
                        }
                        None => {
                            let ((), guard) = self
                                .unless_failed(self.dummy(password).await, guard, now)
                                .await?;
                            (Err("no password set"), guard)
                        }
                    }
                }
            }
            Reauthentication::Totp(totp) => {
                self.unless_failed(self.check_totp(creds, totp, now).await, guard, now)
                    .await?
            }
        };
        match checked {
            Ok(()) => self.release(guard, now).await,
            Err(why) => Err(self
                .failed(code, why, Some(user), None, Some(&guard), now)
                .await),
        }
    }
}
