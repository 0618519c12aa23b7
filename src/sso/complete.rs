//! The federated sign-in: an identity provider vouched for a person (the host verified its
//! SAML assertion or OpenID Connect ID token); idcore finds or provisions the user by the
//! connection's policy, syncs the profile attributes, takes a seat, opens a session and mints
//! an authorization code for the connection's default redirection.

use crate::audit::EventCode;
use crate::directory::UPDATE_ATTEMPTS;
use crate::error::{Error, FieldProblem, Resource};
use crate::identity::Identity;
use crate::model::event::NewEvent;
use crate::model::fields::Email;
use crate::model::session::ValidationFactors;
use crate::model::sso::{AttributeSync, Federation, IdpId, SsoConnection, UserSecurityType};
use crate::model::user::{NewUser, ProfileChanges, User};
use crate::risk::{Familiarity, RequestContext, RiskAction, RiskContext, RiskDecision};
use crate::secret::Secret;
use crate::sessions::{Seats, Session};
use crate::store::{Key, Store, StoreError};
use crate::tokens::CodeRequest;
use crate::tokens::pkce::CodeChallenge;

use super::connections::redirect_of;

/// What the identity provider vouched for, as the host verified it (signature, audience,
/// issuer, expiry, `nonce` / `InResponseTo`): never build one from unverified input.
#[derive(Clone, Debug, Default)]
pub struct VerifiedIdentity {
    /// The identity provider's subject (`sub`, or the SAML `NameID`).
    pub subject: String,
    /// The e-mail address.
    pub email: String,
    /// Whether the identity provider says the address is verified. A federated sign-in with
    /// an unverified address is refused: the address is what links the person to a user.
    pub email_verified: bool,
    /// `name`.
    pub name: Option<String>,
    /// `given_name`.
    pub given_name: Option<String>,
    /// `family_name`.
    pub family_name: Option<String>,
    /// `nickname`.
    pub nickname: Option<String>,
    /// `picture` (an http(s) URL).
    pub picture: Option<String>,
}

/// A federated sign-in through a connection: who, from where, and the authorization request
/// of the application that receives the code.
#[derive(Clone, Debug)]
pub struct SsoSignInRequest {
    /// The connection (`idp_id`).
    pub idp_id: String,
    /// What the identity provider vouched for.
    pub identity: VerifiedIdentity,
    /// The validation factors of the device (its address …), which bind the session.
    pub factors: ValidationFactors,
    /// One of the redirection application's allowed URLs (default: the connection's default
    /// redirection).
    pub redirect_uri: Option<String>,
    /// The PKCE challenge (S256) of the application's request.
    pub code_challenge: CodeChallenge,
    /// The OpenID Connect nonce of the application's request.
    pub nonce: Option<String>,
    /// The OAuth state of the application's request.
    pub state: Option<String>,
    /// The scopes asked for.
    pub scope: Vec<String>,
    /// The host's signals about the request (client address, device), for the risk engine.
    pub context: RequestContext,
}

/// The outcome of [`Identity::complete_sso`].
#[derive(Debug)]
pub struct SsoSignIn {
    /// The user, as now stored.
    pub user: User,
    /// Whether this sign-in created the user (just-in-time provisioning).
    pub provisioned: bool,
    /// The SSO session (reused when the user has one with the same factors).
    pub session: Session,
    /// The authorization code for the application (redeem with
    /// [`Tokens::exchange_code`](crate::tokens::Tokens::exchange_code)).
    pub code: Secret,
    /// Where to send the code.
    pub redirect_uri: String,
    /// The state to echo.
    pub state: Option<String>,
}

/// Why a federated sign-in was refused, for the audit log.
#[derive(Clone, Copy)]
enum Refusal {
    ConnectionDisabled,
    EmailNotVerified,
    UserNotRegistered,
    UserDisabled,
    SubjectMismatch,
    RiskDeclined,
    RiskChallenge,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Self::ConnectionDisabled => "connection_disabled",
            Self::EmailNotVerified => "email_not_verified",
            Self::UserNotRegistered => "user_not_registered",
            Self::UserDisabled => "user_disabled",
            Self::SubjectMismatch => "subject_mismatch",
            Self::RiskDeclined => "risk_declined",
            Self::RiskChallenge => "risk_challenge",
        }
    }

    fn error(self) -> Error {
        Error::Forbidden(match self {
            Self::ConnectionDisabled => "the SSO connection is disabled",
            Self::EmailNotVerified => "the identity provider did not verify the e-mail address",
            Self::UserNotRegistered => "the user is not registered in the organization",
            Self::UserDisabled => "the user is disabled",
            Self::SubjectMismatch => {
                "the user signs in as another subject of this identity provider"
            }
            Self::RiskDeclined => "the risk engine declined the sign-in",
            Self::RiskChallenge => {
                "the risk engine asks for a challenge; the identity provider must perform it"
            }
        })
    }
}

impl<S: Store> Identity<S> {
    /// Completes a federated sign-in through the connection `request.idp_id`:
    ///
    /// 1. the connection must be active, and the identity provider must have verified the
    ///    e-mail address;
    /// 2. the user is the organization's user with that address; without one, the
    ///    `user_registered` policy refuses, and `none` / `seats_limited` provision it
    ///    (e-mail verified, the profile attributes from the identity provider);
    /// 3. the user is linked to the identity provider's subject at its first sign-in through
    ///    the connection; a later sign-in through it with another subject for the same address
    ///    is refused (`subject_mismatch`: the provider gave the address to somebody else);
    /// 4. the profile root attributes (`name`, `nickname`, `given_name`, `family_name`,
    ///    `picture`) are updated from the identity provider at every sign-in, unless the
    ///    connection takes them only on creation; an attribute that is not valid (too long, a
    ///    picture that is not an http(s) URL) is left out and named in the audit event;
    /// 5. the risk engine decides (`accept` goes on; `decline` and every challenge refuse:
    ///    the identity provider, not idcore, performs second factors for its people);
    /// 6. under `seats_limited` the session takes one of `seats_limit` seats, exact under
    ///    concurrency ([`Error::SeatsLimitReached`] when all are held by live sessions);
    /// 7. a session bound to `request.factors` is opened (or the ongoing one reused), and an
    ///    authorization code minted for the default redirection's application.
    ///
    /// Every outcome is audited with the connection as `saml_identity_provider_id`
    /// (`SSO_SIGN_IN`, or `SSO_SIGN_IN_REFUSED` with its reason).
    ///
    /// # Errors
    /// [`Error::NotFound`] (connection; organization); [`Error::Forbidden`] (a disabled
    /// connection or user, an unverified address, an unregistered user under
    /// `user_registered`, another subject); [`Error::InvalidField`] naming `email`, `subject`
    /// (empty, over 255 bytes, control characters) or `redirect_uri` (not an
    /// allowed URL, or the connection has no default redirection); [`Error::SeatsLimitReached`];
    /// [`Error::Keys`], [`Error::Store`].
    pub async fn complete_sso(&self, request: SsoSignInRequest) -> Result<SsoSignIn, Error> {
        let env = self.environment();
        let idp_id =
            IdpId::parse(&request.idp_id).map_err(|_| Error::NotFound(Resource::SsoConnection))?;
        let connection = self
            .store()
            .sso_connection(env, &idp_id)
            .await?
            .ok_or(Error::NotFound(Resource::SsoConnection))?;
        let org = connection.org.clone();
        let sso = self.sso(&org);
        sso.require_org().await?;
        let refuse = |refusal: Refusal| {
            let event = connection_event(self, EventCode::SSO_SIGN_IN_REFUSED, &connection)
                .detail("reason", refusal.reason());
            async move {
                let _ = self.store().record_event(env, &event).await;
                refusal.error()
            }
        };
        if !connection.active {
            return Err(refuse(Refusal::ConnectionDisabled).await);
        }
        let email = Email::parse(&request.identity.email).map_err(|p| Error::field("email", p))?;
        if !request.identity.email_verified {
            return Err(refuse(Refusal::EmailNotVerified).await);
        }
        let redirection = connection
            .default_redirection
            .clone()
            .ok_or(Error::field("redirect_uri", FieldProblem::Empty))?;
        let app = sso.usable_application(redirection.app_id).await?;
        let redirect_uri = match request.redirect_uri.as_deref() {
            Some(uri) => redirect_of(&app, Some(uri))?.to_string(),
            None => redirection.uri.to_string(),
        };
        let (attributes, skipped) = attribute_changes(&request.identity);
        let (user, provisioned) = match self
            .find_or_provision(&connection, &email, &attributes)
            .await?
        {
            Some(found) => found,
            None => return Err(refuse(Refusal::UserNotRegistered).await),
        };
        if !user.active {
            return Err(refuse(Refusal::UserDisabled).await);
        }
        let link = Federation::new(connection.idp_id.clone(), request.identity.subject.trim())
            .map_err(|p| Error::field("subject", p))?;
        let sync = !provisioned && connection.attribute_sync == AttributeSync::EverySignIn;
        let user = match self
            .federate(user, &link, sync.then_some(&request.identity))
            .await?
        {
            Some(user) => user,
            None => return Err(refuse(Refusal::SubjectMismatch).await),
        };
        match self
            .assess_sso(&connection, &user, &request.context)
            .await?
        {
            RiskDecision::Accept => {}
            RiskDecision::Decline => return Err(refuse(Refusal::RiskDeclined).await),
            _ => return Err(refuse(Refusal::RiskChallenge).await),
        }
        let seats =
            (connection.user_security_type == UserSecurityType::SeatsLimited).then(|| Seats {
                set: seat_set(&connection),
                limit: connection.seats_limit,
                idp_id: connection.idp_id.to_string(),
            });
        let session = self
            .sessions(&org)
            .open_federated(user.clone(), request.factors.clone(), seats.as_ref())
            .await?;
        let finished = self
            .finish_sso(
                &connection,
                &user,
                provisioned,
                &session,
                &app,
                &redirect_uri,
                &skipped,
                request,
            )
            .await;
        match finished {
            Ok((code, state)) => Ok(SsoSignIn {
                user,
                provisioned,
                session,
                code,
                redirect_uri,
                state,
            }),
            Err(e) => {
                // Nothing usable is left: the session's token was never handed out, and
                // ending it frees its seat.
                if !session.reused {
                    let _ = self.sessions(&org).invalidate(session.token.expose()).await;
                }
                Err(e)
            }
        }
    }

    /// Mints the code and records the sign-in.
    #[allow(clippy::too_many_arguments)] // what the sign-in found, each once
    async fn finish_sso(
        &self,
        connection: &SsoConnection,
        user: &User,
        provisioned: bool,
        session: &Session,
        app: &crate::model::application::Application,
        redirect_uri: &str,
        skipped: &[&str],
        request: SsoSignInRequest,
    ) -> Result<(Secret, Option<String>), Error> {
        let now = self.now();
        let code = self
            .tokens()
            .mint_code(CodeRequest {
                org: connection.org.clone(),
                user_id: user.id,
                client_id: app.client_id,
                redirect_uri: redirect_uri.to_owned(),
                code_challenge: request.code_challenge,
                nonce: request.nonce,
                state: request.state.clone(),
                scope: request.scope,
                auth_time: now,
                amr: Vec::new(),
            })
            .await?;
        let event = connection_event(self, EventCode::SSO_SIGN_IN, connection)
            .user(user.id, &user.profile.email)
            .client(app.client_id)
            .detail("provisioned", if provisioned { "true" } else { "false" })
            .detail("session_id", session.id.to_string())
            .detail("skipped_attributes", skipped.join(","));
        self.store()
            .record_event(self.environment(), &event)
            .await?;
        Ok((code, request.state))
    }

    /// The risk engine's decision on a federated sign-in (audited as `RISK_DECISION`). idcore
    /// keeps no device or address history for federated users (the identity provider
    /// authenticated them), so the engine sees both as unknown, without history; an engine
    /// failure fails closed ([`Error::Unavailable`]).
    async fn assess_sso(
        &self,
        connection: &SsoConnection,
        user: &User,
        request: &RequestContext,
    ) -> Result<RiskDecision, Error> {
        let absent_or_unknown = |present: bool| {
            if present {
                Familiarity::Unknown
            } else {
                Familiarity::Absent
            }
        };
        let context = RiskContext {
            action: RiskAction::SignIn,
            org: connection.org.clone(),
            user_id: user.id,
            request: request.clone(),
            device: absent_or_unknown(request.device.is_some()),
            ip: absent_or_unknown(request.client_ip.is_some()),
            has_history: false,
            recent_user_failures: 0,
            recent_ip_failures: 0,
        };
        let assessed = self.risk_engine().assess(&context).await;
        let mut event = connection_event(self, EventCode::RISK_DECISION, connection)
            .user(user.id, &user.profile.email)
            .detail("action", "sso_sign_in");
        let decision = match assessed {
            Ok(a) => {
                let reasons: Vec<String> = a.reasons.iter().map(ToString::to_string).collect();
                event = event
                    .detail("decision", a.decision.as_str())
                    .detail("risk_response_code", a.decision.code().to_string())
                    .detail("reasons", reasons.join(","));
                Ok(a.decision)
            }
            Err(_) => {
                event = event.detail("error", "the risk engine failed");
                Err(Error::Unavailable("risk engine"))
            }
        };
        let _ = self.store().record_event(self.environment(), &event).await;
        decision
    }

    /// The organization's user with this address, or a new one when the policy provisions
    /// (two concurrent first sign-ins: one creates, the other finds it). `None`: not
    /// registered, and the policy does not provision.
    async fn find_or_provision(
        &self,
        connection: &SsoConnection,
        email: &Email,
        attributes: &ProfileChanges,
    ) -> Result<Option<(User, bool)>, Error> {
        let env = self.environment();
        let org = &connection.org;
        for _ in 0..2 {
            if let Some(user) = self.store().user_by_email(env, org, email).await? {
                return Ok(Some((user, false)));
            }
            if connection.user_security_type == UserSecurityType::UserRegistered {
                return Ok(None);
            }
            let new =
                NewUser::new(email.as_str())?.profile(attributes.clone().email_verified(true));
            match self.users(org).create(new).await {
                Ok(user) => return Ok(Some((user, true))),
                Err(Error::AlreadyExists { key: "email", .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    /// Links the user to `link` (the connection and subject it signs in as) and, with
    /// `sync`, updates the profile root attributes that differ from the identity provider's —
    /// one write, under the user's version, only when something changes. `None` when the user
    /// is linked to another subject of this connection (checked on the stored user, so of two
    /// concurrent first sign-ins with different subjects one links and the other is refused).
    async fn federate(
        &self,
        user: User,
        link: &Federation,
        sync: Option<&VerifiedIdentity>,
    ) -> Result<Option<User>, Error> {
        let env = self.environment();
        let store = self.store();
        let changes = sync.map(|idp| attribute_changes(idp).0);
        let mut current = user;
        for _ in 0..UPDATE_ATTEMPTS {
            if let Some(f) = &current.federation
                && f.idp_id == link.idp_id
                && f.subject != link.subject
            {
                return Ok(None);
            }
            let mut next = current.clone();
            next.federation = Some(link.clone());
            if let Some(changes) = &changes {
                changes.apply(&mut next.profile);
            }
            if next == current {
                return Ok(Some(current));
            }
            let now = self.now();
            next.updated_at = now;
            next.version = current.version + 1;
            let mut fields: Vec<String> = Vec::new();
            if next.federation != current.federation {
                fields.push("federation".to_owned());
            }
            if next.profile != current.profile
                && let Some(changes) = &changes
            {
                fields.push(changes.changed_fields());
            }
            let event = NewEvent::new(EventCode::USER_UPDATED, now)
                .tenant(&current.org)
                .user(current.id, &current.profile.email)
                .detail("fields", fields.join(","))
                .detail("idp_id", link.idp_id.as_str());
            match store.update_user(env, &next, current.version, &event).await {
                Ok(()) => return Ok(Some(next)),
                Err(StoreError::Precondition) => {
                    current = store
                        .user(env, &current.org, current.id)
                        .await?
                        .ok_or(Error::NotFound(Resource::User))?;
                }
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }
}

/// Sets one profile attribute, or says why it is not valid.
type SetAttribute = fn(ProfileChanges, &str) -> Result<ProfileChanges, Error>;

/// The profile changes of the identity provider's valid attributes, and the names of the
/// invalid ones (left out).
fn attribute_changes(idp: &VerifiedIdentity) -> (ProfileChanges, Vec<&'static str>) {
    let mut changes = ProfileChanges::new();
    let mut skipped = Vec::new();
    let fields: [(&'static str, &Option<String>, SetAttribute); 5] = [
        ("name", &idp.name, |c, v| c.name(v)),
        ("given_name", &idp.given_name, |c, v| c.given_name(v)),
        ("family_name", &idp.family_name, |c, v| c.family_name(v)),
        ("nickname", &idp.nickname, |c, v| c.nickname(v)),
        ("picture", &idp.picture, |c, v| c.picture(v)),
    ];
    for (name, value, set) in fields {
        if let Some(v) = value.as_deref() {
            match set(changes.clone(), v) {
                Ok(next) => changes = next,
                Err(_) => skipped.push(name),
            }
        }
    }
    (changes, skipped)
}

/// The counted set of a connection's seats.
fn seat_set(connection: &SsoConnection) -> Key {
    Key::new("sso-seats", &[connection.idp_id.as_str()])
}

/// An event of the connection's organization, naming the connection.
fn connection_event<S: Store>(
    identity: &Identity<S>,
    code: EventCode,
    connection: &SsoConnection,
) -> NewEvent {
    let mut event = NewEvent::new(code, identity.now())
        .tenant(&connection.org)
        .detail("idp_id", connection.idp_id.as_str());
    event.saml_identity_provider_id = Some(connection.idp_id.to_string());
    event
}
