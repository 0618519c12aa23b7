//! Second factors: TOTP enrolment and checks, recovery codes, e-mailed sign-in codes.

use time::OffsetDateTime;

use crate::Error;
use crate::crypto::totp::{DIGITS, SECRET_BYTES, TotpAlgorithm, TotpKey};
use crate::error::Resource;
use crate::mail::Mail;
use crate::model::event::EventCode;
use crate::model::fields::Email;
use crate::model::ids::UserId;
use crate::model::user::User;
use crate::risk::RequestContext;
use crate::secret::{Secret, random_array};
use crate::store::{
    AccountStatus, Advance, Counted, CredentialRecord, Key, OneTimeEntry, SealedTotp, Store,
    StoreError, Take,
};

use super::service::*;
use super::types::*;

impl<'a, S: Store> SignIn<'a, S> {
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

    // ---------------------------------------------------------------- internals: factors

    pub(super) async fn check_totp(
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
    pub(super) async fn check_totp_secret(
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

    pub(super) async fn use_recovery_code(
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

    pub(super) async fn put_recovery_codes(
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

    pub(super) fn recovery_key(
        &self,
        user_id: UserId,
        generation: u32,
        code: &str,
    ) -> Result<Key, Error> {
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
    pub(super) async fn count_send(
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

    pub(super) async fn send_code(
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
    pub(super) async fn deliver_code(
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
    pub(super) async fn check_email_code(
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

    pub(super) fn email_code_key(
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
}
