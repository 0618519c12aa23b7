//! SSO connections: create, list, update, activate, disable, user policy, default redirection.

use uuid::Uuid;

use super::Sso;
use crate::audit::EventCode;
use crate::error::{Error, FieldProblem, Resource};
use crate::model::application::Application;
use crate::model::fields::{Email, RedirectUri};
use crate::model::ids::{ClientId, new_v7};
use crate::model::sso::{
    AttributeSync, DefaultRedirection, IdpId, OnboardingState, ProviderType, SpId,
    SsoAdminOnboarding, SsoConnection, UserSecurityType, base58_from, check_metadata,
};
use crate::page::{List, ListKind, PageRequest};
use crate::secret::random_array;
use crate::store::{Store, StoreError};

/// The most seats a connection may have.
pub const MAX_SEATS: u64 = 1_000_000;

/// How many fresh identifiers are tried when one is taken (2^-128 odds each).
const ID_ATTEMPTS: usize = 3;

/// What [`Sso::create`] needs: the application SSO users are sent to (seed: `application_id`),
/// and optionally the administrator's e-mail (an onboarding is created with it), a preset
/// provider type, a redirect URI of the application, and whether to mail the administrator a
/// magic link at once (`send_email`, which needs the e-mail).
#[derive(Clone, Debug)]
pub struct NewSsoConnection {
    /// The application of the default redirection.
    pub application_id: ClientId,
    /// The SSO administrator's e-mail address.
    pub sso_admin_email: Option<String>,
    /// The provider type, if already known.
    pub provider_type: Option<ProviderType>,
    /// One of the application's allowed redirect URLs (default: its default redirect after
    /// login, else its first allowed URL).
    pub redirect_uri: Option<String>,
    /// Mail the administrator a magic link at once.
    pub send_email: bool,
}

impl NewSsoConnection {
    /// A connection redirecting to `application_id`, without onboarding.
    pub fn new(application_id: ClientId) -> Self {
        Self {
            application_id,
            sso_admin_email: None,
            provider_type: None,
            redirect_uri: None,
            send_email: false,
        }
    }
}

/// A partial update of a connection (seed "Update a SSO Connection"): `None` leaves a field as
/// it is.
#[derive(Clone, Debug, Default)]
pub struct SsoConnectionUpdate {
    /// Accept sign-ins or not.
    pub active: Option<bool>,
    /// The identity provider's metadata (SAML XML or an OpenID Connect discovery URL).
    pub metadata: Option<String>,
    /// The provider type.
    pub provider_type: Option<ProviderType>,
    /// The most SSO sessions at once under the `seats_limited` policy (0 to [`MAX_SEATS`]).
    pub seats_limit: Option<u64>,
    /// Who may open a session.
    pub user_security_type: Option<UserSecurityType>,
    /// When profile root attributes come from the identity provider.
    pub attribute_sync: Option<AttributeSync>,
}

impl<S: Store> Sso<'_, S> {
    /// Creates a connection with its default redirection (and its onboarding when an
    /// administrator e-mail is given; mailed at once with `send_email`). Answers it, its
    /// onboarding and default redirection expanded as the seed's answer is.
    ///
    /// # Errors
    /// [`Error::NotFound`] (application: unknown, deleted or not usable by this organization;
    /// organization); [`Error::InvalidField`] naming `sso_admin_email` (malformed, or missing
    /// with `send_email`) or `redirect_uri` (not one of the application's allowed URLs, or the
    /// application has none); [`Error::Mail`] when the invitation could not be sent (the
    /// connection is created: send it again with [`Sso::invite_admin`]); [`Error::Store`].
    pub async fn create(&self, new: NewSsoConnection) -> Result<SsoConnection, Error> {
        self.require_org().await?;
        let email = new
            .sso_admin_email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(|p| Error::field("sso_admin_email", p))?;
        if new.send_email && email.is_none() {
            return Err(Error::field("sso_admin_email", FieldProblem::Empty));
        }
        let app = self.usable_application(new.application_id).await?;
        let uri = redirect_of(&app, new.redirect_uri.as_deref())?;
        let now = self.identity.now();
        let now = now
            .replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now);
        let managed_by = self.identity.config().managed_by().clone();
        let env = self.identity.environment();
        for _ in 0..ID_ATTEMPTS {
            let connection = SsoConnection {
                idp_id: IdpId::new(self.org.as_str(), &random_id()?),
                key: new_v7(now),
                sp_id: SpId::new(managed_by.as_str(), &random_id()?),
                org: self.org.clone(),
                environment: env,
                managed_by: managed_by.clone(),
                provider_type: new.provider_type,
                active: true,
                metadata: None,
                onboarding: email.clone().map(|email| SsoAdminOnboarding {
                    id: new_v7(now),
                    sso_admin_email: Some(email),
                    provider_type: new.provider_type,
                    state: OnboardingState::NotInitialized,
                    tutorial_step: 0,
                    inserted_at: now,
                    updated_at: now,
                }),
                default_redirection: Some(DefaultRedirection {
                    id: new_v7(now),
                    app_id: app.client_id,
                    uri: uri.clone(),
                }),
                seats_limit: 0,
                user_security_type: UserSecurityType::None,
                attribute_sync: AttributeSync::EverySignIn,
                oidc: None,
                inserted_at: now,
                updated_at: now,
                version: 1,
            };
            let event = self
                .event(EventCode::SSO_CONNECTION_CREATED, &connection)
                .client(app.client_id)
                .detail(
                    "provider_type",
                    connection.provider_type.map_or("", ProviderType::as_str),
                );
            match self
                .identity
                .store()
                .insert_sso_connection(env, &connection, &event)
                .await
            {
                Ok(()) => {
                    if new.send_email {
                        self.invite_admin(connection.idp_id.as_str()).await?;
                    }
                    return Ok(connection);
                }
                Err(StoreError::AlreadyExists { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::SsoConnection))
    }

    /// One page of the organization's connections, newest first.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for another list's cursor; [`Error::NotFound`]
    /// (organization); [`Error::Store`].
    pub async fn connections(&self, page: PageRequest) -> Result<List<SsoConnection>, Error> {
        page.check_cursor(ListKind::SsoConnections)?;
        self.require_org().await?;
        let (items, total) = self
            .identity
            .store()
            .list_sso_connections(self.identity.environment(), self.org, page)
            .await?;
        Ok(List::new(items, page, total))
    }

    /// Changes what `update` names. Answers the connection as now stored.
    ///
    /// # Errors
    /// [`Error::NotFound`] (connection or organization); [`Error::InvalidField`] naming
    /// `metadata` or `seats_limit`; [`Error::Conflict`]; [`Error::Store`].
    pub async fn update(
        &self,
        idp_id: &str,
        update: &SsoConnectionUpdate,
    ) -> Result<SsoConnection, Error> {
        let metadata = update
            .metadata
            .as_deref()
            .map(check_metadata)
            .transpose()
            .map_err(|p| Error::field("metadata", p))?;
        if let Some(seats) = update.seats_limit
            && seats > MAX_SEATS
        {
            return Err(Error::field(
                "seats_limit",
                FieldProblem::OutOfRange {
                    min: 0,
                    max: MAX_SEATS as i64,
                },
            ));
        }
        self.change(idp_id, |c| {
            let mut fields = Vec::new();
            if let Some(active) = update.active {
                c.active = active;
                fields.push("active");
            }
            if let Some(m) = &metadata {
                c.metadata = Some(m.clone());
                fields.push("metadata");
            }
            if let Some(p) = update.provider_type {
                c.provider_type = Some(p);
                fields.push("provider_type");
            }
            if let Some(seats) = update.seats_limit {
                c.seats_limit = seats;
                fields.push("seats_limit");
            }
            if let Some(policy) = update.user_security_type {
                c.user_security_type = policy;
                fields.push("user_security_type");
            }
            if let Some(sync) = update.attribute_sync {
                c.attribute_sync = sync;
                fields.push("attribute_sync");
            }
            Ok(self
                .event(EventCode::SSO_CONNECTION_UPDATED, c)
                .detail("fields", fields.join(",")))
        })
        .await
    }

    /// Accepts sign-ins through the connection.
    ///
    /// # Errors
    /// As [`Sso::update`].
    pub async fn activate(&self, idp_id: &str) -> Result<SsoConnection, Error> {
        self.change(idp_id, |c| {
            c.active = true;
            Ok(self.event(EventCode::SSO_CONNECTION_ACTIVATED, c))
        })
        .await
    }

    /// Refuses sign-ins through the connection from now on.
    ///
    /// # Errors
    /// As [`Sso::update`].
    pub async fn disable(&self, idp_id: &str) -> Result<SsoConnection, Error> {
        self.change(idp_id, |c| {
            c.active = false;
            Ok(self.event(EventCode::SSO_CONNECTION_DISABLED, c))
        })
        .await
    }

    /// Sets who may open a session (seed "User Policy Configuration").
    ///
    /// # Errors
    /// As [`Sso::update`].
    pub async fn set_user_policy(
        &self,
        idp_id: &str,
        policy: UserSecurityType,
    ) -> Result<SsoConnection, Error> {
        self.update(
            idp_id,
            &SsoConnectionUpdate {
                user_security_type: Some(policy),
                ..SsoConnectionUpdate::default()
            },
        )
        .await
    }

    /// Sets the default redirection: `application_id`, and `uri` (one of its allowed redirect
    /// URLs; by default its default redirect after login, else its first allowed URL). Replaces
    /// the previous one. Answers the new redirection.
    ///
    /// # Errors
    /// [`Error::NotFound`] (connection, application, organization); [`Error::InvalidField`]
    /// naming `redirect_uri`; [`Error::Conflict`]; [`Error::Store`].
    pub async fn set_default_redirection(
        &self,
        idp_id: &str,
        application_id: ClientId,
        uri: Option<&str>,
    ) -> Result<DefaultRedirection, Error> {
        let app = self.usable_application(application_id).await?;
        let uri = redirect_of(&app, uri)?;
        let id: Uuid = new_v7(self.identity.now());
        let written = self
            .change(idp_id, |c| {
                c.default_redirection = Some(DefaultRedirection {
                    id,
                    app_id: app.client_id,
                    uri: uri.clone(),
                });
                Ok(self
                    .event(EventCode::SSO_DEFAULT_REDIRECTION_SET, c)
                    .client(app.client_id))
            })
            .await?;
        written
            .default_redirection
            .ok_or(Error::NotFound(Resource::SsoConnection))
    }

    /// The application, if it is live and this organization may use it.
    pub(super) async fn usable_application(&self, id: ClientId) -> Result<Application, Error> {
        self.identity
            .store()
            .application(self.identity.environment(), id)
            .await?
            .filter(|a| {
                a.deleted_at.is_none() && a.scope.organization().is_none_or(|o| o == self.org)
            })
            .ok_or(Error::NotFound(Resource::Application))
    }
}

/// `uri` if it is one of the application's allowed redirect URLs; by default its default
/// redirect after login, else its first allowed URL.
pub(super) fn redirect_of(app: &Application, uri: Option<&str>) -> Result<RedirectUri, Error> {
    let chosen = match uri {
        Some(uri) => app
            .allowed_redirect_urls
            .iter()
            .find(|allowed| allowed.as_str() == uri.trim()),
        None => app
            .default_redirect_uri_after_login
            .as_ref()
            .or(app.allowed_redirect_urls.first()),
    };
    chosen.cloned().ok_or(Error::field(
        "redirect_uri",
        FieldProblem::Format("must be one of the application's allowed redirect URLs"),
    ))
}

/// 22 random base58 characters (about 129 bits).
fn random_id() -> Result<String, Error> {
    // 64 bytes leave room for the rejected ones: fewer than 22 survive with odds below 2^-60.
    loop {
        if let Some(s) = base58_from(&random_array::<64>()?) {
            return Ok(s);
        }
    }
}
