//! The admin onboarding of a connection: create, update, reset, the invitation mail and its
//! single-use magic link.

use serde::{Deserialize, Serialize};

use super::{ADMIN_LINK_LIFETIME, Sso};
use crate::audit::EventCode;
use crate::error::{Error, FieldProblem, Resource};
use crate::identity::Identity;
use crate::mail::Mail;
use crate::model::event::NewEvent;
use crate::model::fields::Email;
use crate::model::ids::{OrgDomain, new_v7};
use crate::model::sso::{IdpId, OnboardingState, ProviderType, SsoAdminOnboarding, SsoConnection};
use crate::secret::Secret;
use crate::store::{Key, OneTimeEntry, Store, Take};

/// The namespace of magic-link keys in the one-time store.
const LINK_NAMESPACE: &str = "sso-admin-link";

/// A partial update of an onboarding: `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct OnboardingUpdate {
    /// A new administrator e-mail address.
    pub sso_admin_email: Option<String>,
    /// A new provider type.
    pub provider_type: Option<ProviderType>,
}

/// What a redeemed magic link grants: configuring this one connection of this organization.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AdminLink {
    /// The organization.
    pub org: OrgDomain,
    /// The connection, and nothing else.
    pub idp_id: IdpId,
    /// The onboarding as now stored (`initialized` once the link was used).
    pub onboarding: SsoAdminOnboarding,
    /// The administrator's grant for configuring the connection
    /// ([`Identity::sso_admin`]), valid for [`ADMIN_GRANT_LIFETIME`](super::ADMIN_GRANT_LIFETIME).
    pub grant: Secret,
}

/// What the one-time entry of a link holds.
#[derive(Serialize, Deserialize)]
struct LinkPayload {
    org: OrgDomain,
    idp_id: IdpId,
    onboarding: uuid::Uuid,
}

impl<S: Store> Sso<'_, S> {
    /// Creates the connection's onboarding for `sso_admin_email` (replacing an earlier one),
    /// `not_initialized` at tutorial step 0, and mails the magic link at once with
    /// `send_email`.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `sso_admin_email`; [`Error::NotFound`] (connection or
    /// organization); [`Error::Mail`] (the onboarding is stored); [`Error::Conflict`];
    /// [`Error::Store`].
    pub async fn create_onboarding(
        &self,
        idp_id: &str,
        sso_admin_email: &str,
        provider_type: Option<ProviderType>,
        send_email: bool,
    ) -> Result<SsoAdminOnboarding, Error> {
        let email =
            Email::parse(sso_admin_email).map_err(|p| Error::field("sso_admin_email", p))?;
        let now = self.identity.now();
        let written = self
            .change(idp_id, |c| {
                c.onboarding = Some(SsoAdminOnboarding {
                    id: new_v7(now),
                    sso_admin_email: Some(email.clone()),
                    provider_type,
                    state: OnboardingState::NotInitialized,
                    tutorial_step: 0,
                    inserted_at: now,
                    updated_at: now,
                });
                Ok(self
                    .event(EventCode::SSO_ONBOARDING_UPDATED, c)
                    .detail("fields", "created"))
            })
            .await?;
        if send_email {
            return self.invite_admin(idp_id).await;
        }
        onboarding_of(written)
    }

    /// Changes the onboarding's e-mail and provider type (what `update` names).
    ///
    /// # Errors
    /// [`Error::NotFound`] (onboarding when the connection has none, connection,
    /// organization); [`Error::InvalidField`] naming `sso_admin_email`; [`Error::Conflict`];
    /// [`Error::Store`].
    pub async fn update_onboarding(
        &self,
        idp_id: &str,
        update: &OnboardingUpdate,
    ) -> Result<SsoAdminOnboarding, Error> {
        let email = update
            .sso_admin_email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(|p| Error::field("sso_admin_email", p))?;
        let now = self.identity.now();
        let written = self
            .change(idp_id, |c| {
                let event = self.event(EventCode::SSO_ONBOARDING_UPDATED, c);
                let o = c
                    .onboarding
                    .as_mut()
                    .ok_or(Error::NotFound(Resource::Onboarding))?;
                let mut fields = Vec::new();
                if let Some(email) = &email {
                    o.sso_admin_email = Some(email.clone());
                    fields.push("sso_admin_email");
                }
                if let Some(p) = update.provider_type {
                    o.provider_type = Some(p);
                    fields.push("provider_type");
                }
                o.updated_at = now;
                Ok(event.detail("fields", fields.join(",")))
            })
            .await?;
        onboarding_of(written)
    }

    /// Starts the onboarding again: no provider type, tutorial step 0, `not_initialized`; the
    /// administrator's e-mail stays (seed "Reset the Admin Onboarding").
    ///
    /// # Errors
    /// As [`Sso::update_onboarding`].
    pub async fn reset_onboarding(&self, idp_id: &str) -> Result<SsoAdminOnboarding, Error> {
        let now = self.identity.now();
        let written = self
            .change(idp_id, |c| {
                let event = self.event(EventCode::SSO_ONBOARDING_RESET, c);
                let o = c
                    .onboarding
                    .as_mut()
                    .ok_or(Error::NotFound(Resource::Onboarding))?;
                o.provider_type = None;
                o.tutorial_step = 0;
                o.state = OnboardingState::NotInitialized;
                o.updated_at = now;
                Ok(event)
            })
            .await?;
        onboarding_of(written)
    }

    /// Mails the administrator a magic link to configure this connection (seed "Send
    /// invitation"). The link is `{issuer}/sso/admin-onboarding?token=…`; the host serves that
    /// page and calls [`Identity::redeem_sso_admin_link`] with the token.
    ///
    /// # Errors
    /// [`Error::NotFound`] naming the onboarding when the connection has none;
    /// [`Error::InvalidField`] naming `sso_admin_email` when the onboarding has no e-mail;
    /// [`Error::NotFound`] (connection, organization); [`Error::Mail`]; [`Error::Store`].
    pub async fn invite_admin(&self, idp_id: &str) -> Result<SsoAdminOnboarding, Error> {
        let connection = self.connection(idp_id).await?;
        let onboarding = connection
            .onboarding
            .clone()
            .ok_or(Error::NotFound(Resource::Onboarding))?;
        let email = onboarding
            .sso_admin_email
            .clone()
            .ok_or(Error::field("sso_admin_email", FieldProblem::Empty))?;
        let token = Secret::generate()?;
        let now = self.identity.now();
        let payload = serde_json::to_vec(&LinkPayload {
            org: self.org.clone(),
            idp_id: connection.idp_id.clone(),
            onboarding: onboarding.id,
        })
        .map_err(|_| Error::ApiMisuse("a link payload serializes"))?;
        let expires_at = now + ADMIN_LINK_LIFETIME;
        let env = self.identity.environment();
        self.identity
            .store()
            .put_once(
                env,
                &link_key(&token),
                &OneTimeEntry {
                    payload,
                    expires_at,
                    retain_until: expires_at + ADMIN_LINK_LIFETIME,
                },
                now,
            )
            .await?;
        let days = ADMIN_LINK_LIFETIME.whole_days();
        let mail = Mail::new(
            email,
            "Configure single sign-on",
            format!(
                "You are invited to configure single sign-on for {org}.\n\n\
                 Open this link to start: {issuer}/sso/admin-onboarding?token={token}\n\n\
                 It works once and expires in {days} days. If you did not expect it, ignore this message.",
                org = self.org,
                issuer = self.identity.config().issuer(),
                token = token.expose(),
            ),
        );
        self.identity.mailer().send(&mail).await?;
        self.identity
            .store()
            .record_event(env, &self.event(EventCode::SSO_ADMIN_INVITED, &connection))
            .await?;
        Ok(onboarding)
    }
}

impl<S: Store> Identity<S> {
    /// Redeems an SSO administrator's magic link: once, before it expires, while its
    /// connection and onboarding still exist. The onboarding moves to `initialized` (if it was
    /// `not_initialized`). Answers the one connection the administrator may now configure.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] for a link that is unknown, expired, already used, or whose
    /// connection or onboarding is gone (one answer for all, audited as
    /// `SSO_ADMIN_LINK_REFUSED`, with the organization when the link named one); [`Error::Conflict`]; [`Error::Store`].
    pub async fn redeem_sso_admin_link(&self, token: &str) -> Result<AdminLink, Error> {
        let env = self.environment();
        let now = self.now();
        let key = link_key(&Secret::from_presented(token.trim()));
        let payload = match self.store().take(env, &key, now).await? {
            Take::Taken(payload) => serde_json::from_slice::<LinkPayload>(&payload).ok(),
            _ => None,
        };
        // The organization is known when the link was taken and its onboarding is gone.
        let refused = |org: Option<OrgDomain>| async move {
            let mut event = NewEvent::new(EventCode::SSO_ADMIN_LINK_REFUSED, now);
            if let Some(org) = &org {
                event = event.tenant(org);
            }
            let _ = self.store().record_event(env, &event).await;
            Error::InvalidGrant
        };
        let Some(link) = payload else {
            return Err(refused(None).await);
        };
        let sso = self.sso(&link.org);
        let written = sso
            .change(link.idp_id.as_str(), |c| {
                let event = sso.event(EventCode::SSO_ADMIN_LINK_USED, c);
                let o = c
                    .onboarding
                    .as_mut()
                    .filter(|o| o.id == link.onboarding)
                    .ok_or(Error::InvalidGrant)?;
                if o.state == OnboardingState::NotInitialized {
                    o.state = OnboardingState::Initialized;
                    o.updated_at = now;
                }
                Ok(event)
            })
            .await;
        match written {
            Ok(c) => Ok(AdminLink {
                org: link.org,
                idp_id: c.idp_id.clone(),
                grant: super::admin::grant_for(
                    self,
                    &c,
                    link.onboarding,
                    now + super::ADMIN_GRANT_LIFETIME,
                )?,
                onboarding: onboarding_of(c)?,
            }),
            Err(Error::InvalidGrant | Error::NotFound(_)) => Err(refused(Some(link.org)).await),
            Err(e) => Err(e),
        }
    }
}

fn link_key(token: &Secret) -> Key {
    Key::digest(LINK_NAMESPACE, &token.digest())
}

fn onboarding_of(c: SsoConnection) -> Result<SsoAdminOnboarding, Error> {
    c.onboarding.ok_or(Error::NotFound(Resource::Onboarding))
}
