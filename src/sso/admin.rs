//! What an SSO administrator may do after redeeming the magic link: configure that one
//! connection — choose the provider, give the metadata, move through the tutorial, finish —
//! and nothing else.
//!
//! The grant is a bearer token of its own (`AdminLink::grant`), valid for
//! [`ADMIN_GRANT_LIFETIME`]: the connection's `idp_id`, the onboarding's id and the expiry,
//! with an HMAC-SHA256 under a key derived from the host's key-encryption key. It is
//! stateless: nothing is stored, and it dies with its onboarding (a new onboarding for another
//! administrator, or the connection gone) and at its expiry.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit::EventCode;
use crate::encoding::{base64url_decode, base64url_encode};
use crate::error::{Error, FieldProblem};
use crate::identity::Identity;
use crate::model::sso::{IdpId, OnboardingState, ProviderType, SsoConnection, check_metadata};
use crate::secret::{Secret, constant_time_eq};
use crate::store::Store;

/// How long an administrator's grant works after the link was redeemed.
pub const ADMIN_GRANT_LIFETIME: Duration = Duration::hours(12);

/// The furthest tutorial step accepted.
const MAX_TUTORIAL_STEP: u32 = 100;

/// The grant token for a connection's current onboarding, until `expires_at`.
pub(super) fn grant_for<S>(
    identity: &Identity<S>,
    connection: &SsoConnection,
    onboarding: Uuid,
    expires_at: OffsetDateTime,
) -> Result<Secret, Error> {
    let mac = grant_mac(identity, connection.idp_id.as_str(), onboarding, expires_at)?;
    let mut body = expires_at.unix_timestamp().to_be_bytes().to_vec();
    body.extend(onboarding.as_bytes());
    body.extend(mac);
    Ok(Secret::from_presented(format!(
        "{}.{}",
        base64url_encode(&body),
        connection.idp_id
    )))
}

fn grant_mac<S>(
    identity: &Identity<S>,
    idp_id: &str,
    onboarding: Uuid,
    expires_at: OffsetDateTime,
) -> Result<[u8; 32], Error> {
    let digest = identity.signin_keys()?.sso_admin_grant(&[
        identity.environment().as_str().as_bytes(),
        idp_id.as_bytes(),
        onboarding.as_bytes(),
        &expires_at.unix_timestamp().to_be_bytes(),
    ]);
    Ok(*digest.as_bytes())
}

/// An SSO administrator's handle on the one connection its grant names; see
/// [`Identity::sso_admin`].
pub struct SsoAdmin<'a, S> {
    identity: &'a Identity<S>,
    connection: SsoConnection,
    onboarding: Uuid,
}

impl<S: Store> Identity<S> {
    /// The handle of the SSO administrator holding `grant` (from
    /// [`Identity::redeem_sso_admin_link`]).
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] for a grant that is malformed, forged, expired, or whose
    /// connection or onboarding is gone (one answer for all); [`Error::Keys`];
    /// [`Error::Store`].
    pub async fn sso_admin(&self, grant: &str) -> Result<SsoAdmin<'_, S>, Error> {
        let (body, idp_id) = grant.trim().split_once('.').ok_or(Error::InvalidGrant)?;
        let idp_id = IdpId::parse(idp_id).map_err(|_| Error::InvalidGrant)?;
        let body = base64url_decode(body).map_err(|_| Error::InvalidGrant)?;
        let (expiry, rest) = body.split_first_chunk::<8>().ok_or(Error::InvalidGrant)?;
        let (onboarding, mac) = rest.split_first_chunk::<16>().ok_or(Error::InvalidGrant)?;
        let expires_at = OffsetDateTime::from_unix_timestamp(i64::from_be_bytes(*expiry))
            .map_err(|_| Error::InvalidGrant)?;
        let onboarding = Uuid::from_bytes(*onboarding);
        let expected = grant_mac(self, idp_id.as_str(), onboarding, expires_at)?;
        if !constant_time_eq(mac, &expected) || self.now() >= expires_at {
            return Err(Error::InvalidGrant);
        }
        let connection = self
            .store()
            .sso_connection(self.environment(), &idp_id)
            .await?
            .filter(|c| c.onboarding.as_ref().is_some_and(|o| o.id == onboarding))
            .ok_or(Error::InvalidGrant)?;
        Ok(SsoAdmin {
            identity: self,
            connection,
            onboarding,
        })
    }
}

impl<S: Store> SsoAdmin<'_, S> {
    /// The connection, as read when the grant was checked.
    pub fn connection(&self) -> &SsoConnection {
        &self.connection
    }

    /// Chooses the provider type (of the onboarding and of the connection).
    ///
    /// # Errors
    /// As [`SsoAdmin::set_metadata`].
    pub async fn choose_provider(&mut self, provider: ProviderType) -> Result<(), Error> {
        self.configure("provider_type", |c| {
            c.provider_type = Some(provider);
            Some((Some(provider), OnboardingState::ProviderChosen, None))
        })
        .await
    }

    /// Gives the identity provider's metadata (SAML XML, or an OpenID Connect discovery URL).
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `metadata`; [`Error::InvalidGrant`] when the onboarding
    /// was replaced meanwhile; [`Error::Conflict`]; [`Error::Store`].
    pub async fn set_metadata(&mut self, metadata: &str) -> Result<(), Error> {
        let metadata = check_metadata(metadata).map_err(|p| Error::field("metadata", p))?;
        self.configure("metadata", move |c| {
            c.metadata = Some(metadata.clone());
            Some((None, OnboardingState::MetadataProvided, None))
        })
        .await
    }

    /// Records the tutorial step the administrator reached (0 to 100).
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `tutorial_step`; as [`SsoAdmin::set_metadata`].
    pub async fn set_tutorial_step(&mut self, step: u32) -> Result<(), Error> {
        if step > MAX_TUTORIAL_STEP {
            return Err(Error::field(
                "tutorial_step",
                FieldProblem::OutOfRange {
                    min: 0,
                    max: i64::from(MAX_TUTORIAL_STEP),
                },
            ));
        }
        self.configure("tutorial_step", |_| {
            Some((None, OnboardingState::Initialized, Some(step)))
        })
        .await
    }

    /// Finishes the onboarding (`completed`).
    ///
    /// # Errors
    /// As [`SsoAdmin::set_metadata`].
    pub async fn complete(&mut self) -> Result<(), Error> {
        self.configure("state", |_| Some((None, OnboardingState::Completed, None)))
            .await
    }

    /// One change of the connection and its onboarding, under the connection's version, only
    /// while the onboarding is still the grant's. `change` answers the onboarding's new
    /// provider, the state to move to (never backwards) and a tutorial step.
    async fn configure<F>(&mut self, field: &'static str, change: F) -> Result<(), Error>
    where
        F: Fn(&mut SsoConnection) -> Option<(Option<ProviderType>, OnboardingState, Option<u32>)>,
    {
        let onboarding = self.onboarding;
        let org = self.connection.org.clone();
        let sso = self.identity.sso(&org);
        let now = self.identity.now();
        let written = sso
            .change(self.connection.idp_id.as_str(), |c| {
                let event = sso
                    .event(EventCode::SSO_ONBOARDING_UPDATED, c)
                    .detail("fields", field)
                    .detail("by", "sso_admin");
                if c.onboarding.as_ref().is_none_or(|o| o.id != onboarding) {
                    return Err(Error::InvalidGrant);
                }
                let (provider, state, step) = change(c).ok_or(Error::InvalidGrant)?;
                let o = c.onboarding.as_mut().ok_or(Error::InvalidGrant)?;
                if let Some(p) = provider {
                    o.provider_type = Some(p);
                }
                if rank(state) > rank(o.state) {
                    o.state = state;
                }
                if let Some(step) = step {
                    o.tutorial_step = step;
                }
                o.updated_at = now;
                Ok(event)
            })
            .await
            .map_err(|e| match e {
                Error::NotFound(_) => Error::InvalidGrant,
                e => e,
            })?;
        self.connection = written;
        Ok(())
    }
}

/// The order of the states: an administrator's step never moves the onboarding back.
fn rank(state: OnboardingState) -> u8 {
    match state {
        OnboardingState::NotInitialized => 0,
        OnboardingState::Initialized => 1,
        OnboardingState::ProviderChosen => 2,
        OnboardingState::MetadataProvided => 3,
        OnboardingState::Completed => 4,
    }
}
