//! Opening a session: authenticate (the sign-in path), complete its factors, or open one for a
//! trusted application; then the atomic open with reuse, and the per-user limit.

use time::{Duration, OffsetDateTime};

use crate::Error;
use crate::error::{FieldProblem, Resource};
use crate::model::event::EventCode;
use crate::model::ids::{ClientId, new_v7};
use crate::model::session::ValidationFactors;
use crate::model::user::User;
use crate::risk::RequestContext;
use crate::secret::{Secret, random_array};
use crate::signin::{Factor, SessionBinding, SessionSignIn, SessionSignInStep};
use crate::store::sessions::user_session_set;
use crate::store::{Joined, Key, Opened, SessionRecord, Store};

use super::seats::Seats;
use super::service::{Sessions, factor_names, member_session, session_member};
use super::types::{Authenticate, Session, SessionStep, TrustedApplication};

/// Bytes of a session token's nonce (128 bits).
const NONCE_BYTES: usize = 16;

impl<'a, S: Store> Sessions<'a, S> {
    /// Authenticates a user and opens a session bound to `request.factors` (the seed's
    /// `POST /session`), or answers the ongoing session of the same user with the same factors.
    ///
    /// The credentials take the path of a sign-in (see the [module docs](super)):
    /// [`SessionStep::FactorRequired`] asks for the enrolled authenticator or a risk challenge,
    /// to [`complete`](Self::complete).
    ///
    /// # Errors
    /// [`Error::SignInFailed`] for every credential failure (the audit log has the reason);
    /// [`Error::Forbidden`] for the right password of a disabled user;
    /// [`Error::EmailNotVerified`]; [`Error::InvalidField`] naming `duration` (not positive);
    /// [`Error::InvalidClient`] when the application is not one of the organization's;
    /// [`Error::SessionLimitReached`]; [`Error::NotFound`] (organization); [`Error::Keys`],
    /// [`Error::Unavailable`], [`Error::Store`].
    pub async fn authenticate(&self, request: Authenticate) -> Result<SessionStep, Error> {
        self.keys()?;
        let duration_secs = duration_seconds(request.duration)?;
        self.check_application().await?;
        let binding = SessionBinding {
            client_id: self.client,
            factors: request.factors.to_list(),
            duration_secs,
        };
        let step = self
            .identity
            .signin(self.org)
            .sign_in_for_session(&request.login, &request.password, binding, &request.context)
            .await?;
        self.step(step).await
    }

    /// Continues a session authentication with one factor (a TOTP or recovery code, an e-mail
    /// code, a host-verified factor), as [`SignIn::complete`](crate::signin::SignIn::complete).
    ///
    /// # Errors
    /// As [`authenticate`](Self::authenticate); a pending sign-in of another flow or another
    /// organization is [`Error::SignInFailed`].
    pub async fn complete(
        &self,
        pending: &str,
        factor: Factor,
        context: &RequestContext,
    ) -> Result<SessionStep, Error> {
        let step = self
            .identity
            .signin(self.org)
            .continue_session(pending, factor, context)
            .await?;
        self.step(step).await
    }

    /// The capability to open sessions without a password, for an application of this
    /// organization that [`SessionSettings::trusted_applications`](super::SessionSettings::trusted_applications)
    /// lists.
    ///
    /// # Errors
    /// [`Error::Forbidden`] for any other application (deleted, of another organization, or not
    /// listed); [`Error::Store`].
    pub async fn trusted(&self, client_id: ClientId) -> Result<TrustedApplication, Error> {
        const REFUSED: Error =
            Error::Forbidden("the application may not open sessions without a password");
        if !self.settings().trusted_applications.contains(&client_id) {
            return Err(REFUSED);
        }
        if !self.application_belongs(client_id).await? {
            return Err(REFUSED);
        }
        Ok(TrustedApplication { client_id })
    }

    /// Opens a session for a user the trusted application authenticated itself (the seed's
    /// `validate-password=false`), or answers its ongoing one with the same factors. The session
    /// carries no `amr`; the event says `how = trusted` and names the application.
    ///
    /// # Errors
    /// [`Error::NotFound`] naming the user (unknown login) or the organization;
    /// [`Error::Forbidden`] for a disabled user; [`Error::InvalidField`] naming `duration`;
    /// [`Error::SessionLimitReached`]; [`Error::Keys`], [`Error::Store`].
    pub async fn open_trusted(
        &self,
        trusted: &TrustedApplication,
        login: &str,
        factors: ValidationFactors,
        duration: Option<Duration>,
    ) -> Result<Session, Error> {
        self.keys()?;
        let duration_secs = duration_seconds(duration)?;
        let this = Sessions {
            identity: self.identity,
            org: self.org,
            client: Some(trusted.client_id),
        };
        let signin = self.identity.signin(self.org);
        signin.require_live_org().await?;
        let user = signin
            .user_by_login(login)
            .await?
            .ok_or(Error::NotFound(Resource::User))?;
        if !user.active {
            return Err(Error::Forbidden("the user is disabled"));
        }
        let now = self.identity.now();
        this.open(
            user,
            factors,
            Vec::new(),
            duration_secs,
            "trusted",
            None,
            now,
        )
        .await
    }

    async fn step(&self, step: SessionSignInStep) -> Result<SessionStep, Error> {
        match step {
            SessionSignInStep::FactorRequired(p) => Ok(SessionStep::FactorRequired(p)),
            SessionSignInStep::Done(done) => {
                let SessionSignIn {
                    user,
                    amr,
                    client_id,
                    factors,
                    duration_secs,
                } = *done;
                let this = Sessions {
                    identity: self.identity,
                    org: self.org,
                    client: client_id,
                };
                let factors = ValidationFactors::from_stored(&factors);
                let now = self.identity.now();
                this.open(user, factors, amr, duration_secs, "password", None, now)
                    .await
                    .map(|s| SessionStep::Opened(Box::new(s)))
            }
        }
    }

    /// Whether the application (when one is named) is a live application of this
    /// organization; [`Error::InvalidClient`] otherwise.
    async fn check_application(&self) -> Result<(), Error> {
        match self.client {
            Some(c) if !self.application_belongs(c).await? => Err(Error::InvalidClient),
            _ => Ok(()),
        }
    }

    pub(super) async fn application_belongs(&self, client_id: ClientId) -> Result<bool, Error> {
        let app = self
            .identity
            .store()
            .application(self.identity.environment(), client_id)
            .await?;
        Ok(app.is_some_and(|app| {
            app.deleted_at.is_none() && app.scope.organization().is_none_or(|o| o == self.org)
        }))
    }

    /// Opens the session (or reuses the ongoing one), applies the limits and audits.
    #[allow(clippy::too_many_arguments)] // the user, the factors, how, the seats, the time
    pub(super) async fn open(
        &self,
        user: User,
        factors: ValidationFactors,
        amr: Vec<String>,
        duration_secs: Option<i64>,
        how: &str,
        seats: Option<&Seats>,
        now: OffsetDateTime,
    ) -> Result<Session, Error> {
        let settings = self.settings();
        let timeout = duration_secs
            .map(Duration::seconds)
            .map_or(settings.default_timeout, |d| {
                d.min(settings.default_timeout)
            });
        let absolute = now + settings.max_lifetime;
        let reuse_key = self.reuse_key(user.id, &factors);
        // Twice at most: a stored session whose token the current key no longer derives (the
        // key-encryption key was rotated) is ended and replaced.
        for _ in 0..2 {
            let id = new_v7(now);
            let nonce = random_array::<NONCE_BYTES>()?;
            let token = self.token_of(id, &nonce)?;
            let record = SessionRecord {
                id,
                org: self.org.clone(),
                user_id: user.id,
                token_digest: token.digest(),
                token_nonce: nonce.to_vec(),
                reuse_key,
                factors: factors.to_list(),
                amr: amr.clone(),
                created_at: now,
                validated_at: now,
                idle_expires_at: (now + timeout).min(absolute),
                absolute_expires_at: absolute,
            };
            let env = self.identity.environment();
            match self
                .identity
                .store()
                .open_session(env, &record, now)
                .await?
            {
                Opened::Created => {
                    return self.created(record, token, user, how, seats, now).await;
                }
                Opened::Reused(existing) => {
                    if let Some(token) = self.token_of_record(&existing)? {
                        self.audit_required(
                            self.user_event(EventCode::SESSION_REUSED, &user, now)
                                .detail("session_id", existing.id.to_string()),
                        )
                        .await?;
                        return Ok(self.session(*existing, token, user, true));
                    }
                    self.end_record(&existing).await?;
                }
            }
        }
        Err(Error::Keys("a session token cannot be derived"))
    }

    /// A new session was stored: count it under the limit, then audit. Whatever fails, the new
    /// session is ended (its token was never handed out).
    async fn created(
        &self,
        record: SessionRecord,
        token: Secret,
        user: User,
        how: &str,
        seats: Option<&Seats>,
        now: OffsetDateTime,
    ) -> Result<Session, Error> {
        let outcome = async {
            self.admit(&record, &user, now).await?;
            if let Some(seats) = seats {
                self.take_seat(seats, &record, &user, now).await?;
            }
            self.audit_required(
                self.user_event(EventCode::SESSION_CREATED, &user, now)
                    .detail("session_id", record.id.to_string())
                    .detail("how", how)
                    .detail(
                        "factors",
                        factor_names(&super::service::bound_factors(&record)),
                    ),
            )
            .await
        }
        .await;
        match outcome {
            Ok(()) => Ok(self.session(record, token, user, false)),
            Err(e) => {
                let _ = self.end_record(&record).await;
                Err(e)
            }
        }
    }

    /// Counts a new session under the user's limit: refuses it, or ends the oldest sessions.
    async fn admit(
        &self,
        record: &SessionRecord,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let Some(limit) = self.settings().limit else {
            return Ok(());
        };
        let env = self.identity.environment();
        let store = self.identity.store();
        let set = user_session_set(self.org, user.id);
        let member = session_member(record.id);
        for attempt in 0..2 {
            let joined = store
                .join(
                    env,
                    &set,
                    &member,
                    limit.max,
                    limit.when_full,
                    record.absolute_expires_at,
                    now,
                )
                .await?;
            match joined {
                Joined::Added { evicted } => {
                    for gone in evicted {
                        self.evict(&gone, user, now).await?;
                    }
                    return Ok(());
                }
                Joined::Refreshed => return Ok(()),
                Joined::Full if attempt == 0 => {
                    // Members whose session already ended (idle expiry, an end that could not
                    // leave the set) hold no seat: drop them, then try once more.
                    self.drop_dead_members(&set, record, user, now).await?;
                }
                Joined::Full => {}
            }
        }
        self.audit(
            self.user_event(EventCode::SESSION_LIMIT_REACHED, user, now)
                .detail("limit", limit.max.to_string()),
        )
        .await;
        Err(Error::SessionLimitReached)
    }

    async fn drop_dead_members(
        &self,
        set: &Key,
        record: &SessionRecord,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        let live: Vec<Key> = store
            .user_sessions(env, self.org, user.id, now)
            .await?
            .into_iter()
            .filter(|s| s.id != record.id)
            .map(|s| session_member(s.id))
            .collect();
        for m in store.members(env, set, now).await? {
            if !live.contains(&m.member) {
                store.leave(env, set, &m.member, now).await?;
            }
        }
        Ok(())
    }

    async fn evict(&self, member: &Key, user: &User, now: OffsetDateTime) -> Result<(), Error> {
        let Some(id) = member_session(member) else {
            return Err(Error::ApiMisuse(
                "a session set member that names no session",
            ));
        };
        self.identity
            .store()
            .end_session(self.identity.environment(), id)
            .await?;
        self.audit_required(
            self.user_event(EventCode::SESSION_EVICTED, user, now)
                .detail("session_id", id.to_string()),
        )
        .await
    }

    /// Ends a stored session and takes it out of its user's counted set.
    pub(super) async fn end_record(&self, record: &SessionRecord) -> Result<bool, Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        let ended = store.end_session(env, record.id).await?;
        if self.settings().limit.is_some() {
            let set = user_session_set(&record.org, record.user_id);
            let member = session_member(record.id);
            // Best effort: the session is gone either way, and a seat left behind is reclaimed
            // by the next join that finds the set full.
            let _ = store.leave(env, &set, &member, self.identity.now()).await;
        }
        Ok(ended)
    }
}

/// The requested duration in whole seconds, checked.
fn duration_seconds(duration: Option<Duration>) -> Result<Option<i64>, Error> {
    match duration {
        Some(d) if d <= Duration::ZERO => Err(Error::field(
            "duration",
            FieldProblem::OutOfRange {
                min: 1,
                max: i64::MAX,
            },
        )),
        Some(d) => Ok(Some(d.whole_seconds().max(1))),
        None => Ok(None),
    }
}
