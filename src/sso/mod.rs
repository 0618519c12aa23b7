//! Enterprise SSO connections (Cryptr, seed 001): an organization — an enterprise customer —
//! signs its people in through its own identity provider.
//!
//! `identity.sso(&org)` manages the organization's connections:
//!
//! - **Connections** ([`Sso::create`], [`Sso::connection`], [`Sso::connections`],
//!   [`Sso::update`], [`Sso::activate`], [`Sso::disable`], [`Sso::set_user_policy`]). Each has an
//!   immutable `idp_id` made from the organization's domain (`misapret_EFBpWGQRVBCUSagNu2Tp9S`)
//!   and an `sp_id` made from the `managed_by` name. A new connection is active, with the
//!   `none` user policy, no seat limit, and profile attributes taken from the identity provider
//!   at every sign-in.
//! - **Default redirection** ([`Sso::set_default_redirection`]): an application the
//!   organization may use, and one of that application's allowed redirect URLs (its default
//!   redirect after login, or its first allowed URL, when none is given). Setting one replaces
//!   the previous one.
//! - **Admin onboarding** ([`Sso::create_onboarding`], [`Sso::update_onboarding`],
//!   [`Sso::reset_onboarding`], [`Sso::invite_admin`]): the SSO administrator's e-mail, the
//!   provider type, the state (`not_initialized` first) and the tutorial step. An invitation
//!   mails a **magic link**: a 256-bit random secret, stored only as its digest, valid for
//!   [`ADMIN_LINK_LIFETIME`], usable once ([`Sso::redeem_admin_link`] answers the one connection
//!   it configures, and nothing else). A new invitation does not revoke an earlier link; each
//!   expires by itself. A redeemed link answers a grant ([`Identity::sso_admin`]) with which
//!   the administrator configures that one connection — provider, metadata, tutorial step,
//!   completion — and nothing else, for [`ADMIN_GRANT_LIFETIME`].
//!
//! - **Federated sign-in** ([`Identity::complete_sso`]): the host verified the identity
//!   provider's answer (a SAML assertion, an OpenID Connect ID token) and hands idcore a
//!   [`VerifiedIdentity`]. idcore refuses a disabled connection or an unverified address,
//!   finds the organization's user by address or provisions one (`none`, `seats_limited`;
//!   `user_registered` provisions nobody), syncs the profile root attributes, opens a
//!   Crowd-style session bound to the device's validation factors and mints an authorization
//!   code for the connection's default redirection. Under `seats_limited` each new session
//!   takes one of `seats_limit` seats of a counted set, exact under any concurrency; a seat is
//!   held until its session's absolute expiry, and one whose session ended earlier is freed
//!   by the next sign-in that finds the connection full. A person whose sign-in found no seat
//!   is still provisioned (and signs in once a seat frees).
//!
//! For SAML, a maintained crate such as `samael` validates the `Response` (signature over the
//! assertion with the metadata's certificate, `Audience` = the connection's `sp_id`,
//! `InResponseTo`, `NotOnOrAfter`, the `Destination`) and the host maps its `NameID` and
//! attributes (`email`, `givenName`, `sn` …) to a [`VerifiedIdentity`]; idcore does no XML.
//!
//! Every write is one conditional store write under the connection's version (lost races are
//! retried), with its audit event; a refused write changes nothing. Organizations are apart:
//! another organization's connection is [`Error::NotFound`], exactly as an unknown one.

use time::Duration;

use crate::directory::{Organizations, UPDATE_ATTEMPTS};
use crate::error::{Error, Resource};
use crate::identity::Identity;
use crate::model::event::NewEvent;
use crate::model::ids::OrgDomain;
use crate::model::organization::Organization;
use crate::store::{Store, StoreError};

mod admin;
mod complete;
mod connections;
mod oidc;
#[cfg(feature = "oidc")]
pub mod oidc_flow;
mod onboarding;

pub use crate::model::sso::{
    AttributeSync, DefaultRedirection, Federation, IdpId, MAX_SSO_METADATA, OidcClient,
    OnboardingState, ProviderType, SpId, SsoAdminOnboarding, SsoConnection, UserSecurityType,
};
pub use admin::{ADMIN_GRANT_LIFETIME, SsoAdmin};
pub use complete::{SsoSignIn, SsoSignInRequest, VerifiedIdentity};
pub use connections::{MAX_SEATS, NewSsoConnection, SsoConnectionUpdate};
pub use onboarding::{AdminLink, OnboardingUpdate};

/// How long an SSO administrator's magic link works.
pub const ADMIN_LINK_LIFETIME: Duration = Duration::days(7);

impl<S: Store> Identity<S> {
    /// The SSO connections of one organization. Every call is confined to that organization.
    pub fn sso<'a>(&'a self, org: &'a OrgDomain) -> Sso<'a, S> {
        Sso {
            identity: self,
            org,
        }
    }
}

/// The SSO connections of one organization; see [`Identity::sso`].
pub struct Sso<'a, S> {
    identity: &'a Identity<S>,
    org: &'a OrgDomain,
}

impl<S: Store> Sso<'_, S> {
    /// The organization, if it is live.
    async fn require_org(&self) -> Result<Organization, Error> {
        Organizations::new(self.identity)
            .require_live(self.org)
            .await
    }

    /// The connection `idp_id` of this organization.
    ///
    /// # Errors
    /// [`Error::NotFound`] (connection: unknown, malformed or another organization's; or
    /// organization); [`Error::Store`].
    pub async fn connection(&self, idp_id: &str) -> Result<SsoConnection, Error> {
        self.require_org().await?;
        self.stored(idp_id).await
    }

    /// The stored connection, if it belongs to this organization.
    async fn stored(&self, idp_id: &str) -> Result<SsoConnection, Error> {
        let Ok(idp_id) = IdpId::parse(idp_id) else {
            return Err(Error::NotFound(Resource::SsoConnection));
        };
        self.identity
            .store()
            .sso_connection(self.identity.environment(), &idp_id)
            .await?
            .filter(|c| c.org == *self.org)
            .ok_or(Error::NotFound(Resource::SsoConnection))
    }

    /// Changes a connection under its version: reads it, lets `change` edit a copy (and say
    /// which event to record), writes it if nobody wrote in between, and retries otherwise.
    /// Answers the connection as written.
    async fn change<F>(&self, idp_id: &str, mut change: F) -> Result<SsoConnection, Error>
    where
        F: FnMut(&mut SsoConnection) -> Result<NewEvent, Error>,
    {
        self.require_org().await?;
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self.stored(idp_id).await?;
            let mut next = current.clone();
            let event = change(&mut next)?;
            next.version = current.version + 1;
            next.updated_at = self.identity.now();
            match store
                .update_sso_connection(env, &next, current.version, &event)
                .await
            {
                Ok(()) => return Ok(next),
                Err(StoreError::Precondition) => continue,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::SsoConnection)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::SsoConnection))
    }

    /// An event of this organization about `connection`.
    fn event(&self, code: crate::audit::EventCode, connection: &SsoConnection) -> NewEvent {
        NewEvent::new(code, self.identity.now())
            .tenant(self.org)
            .detail("idp_id", connection.idp_id.as_str())
    }
}
