//! The [`Sessions`] handle and what its flows share: the token derivation, the reuse key, the
//! factor policy, the audit events.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::Error;
use crate::config::SessionSettings;
use crate::crypto::secrets::SigninKeys;
use crate::encoding::base64url_encode;
use crate::identity::Identity;
use crate::model::event::{EventCode, NewEvent};
use crate::model::ids::{ClientId, OrgDomain, UserId};
use crate::model::session::{FactorPolicy, ValidationFactors};
use crate::model::user::User;
use crate::secret::{Digest, Secret, constant_time_eq};
use crate::store::{Key, SessionRecord, Store};

/// Crowd-style sessions of one organization, on behalf of one application (or none). See the
/// [module docs](super).
pub struct Sessions<'a, S> {
    pub(super) identity: &'a Identity<S>,
    pub(super) org: &'a OrgDomain,
    pub(super) client: Option<ClientId>,
}

impl<'a, S: Store> Sessions<'a, S> {
    pub(crate) fn new(identity: &'a Identity<S>, org: &'a OrgDomain) -> Self {
        Self {
            identity,
            org,
            client: None,
        }
    }

    /// The same sessions, on behalf of an application: its factor policy
    /// ([`SessionSettings::application_policies`]) applies, and the audit events name it.
    /// Opening a session checks that the application belongs to the organization.
    pub fn application(mut self, client_id: ClientId) -> Self {
        self.client = Some(client_id);
        self
    }

    pub(super) fn settings(&self) -> &SessionSettings {
        self.identity.config().sessions()
    }

    pub(super) fn policy(&self) -> &FactorPolicy {
        self.settings().policy_for(self.client)
    }

    pub(super) fn keys(&self) -> Result<&SigninKeys, Error> {
        self.identity.signin_keys()
    }

    /// The token of a session: a keyed function of the environment, the id and the nonce.
    pub(super) fn token_of(&self, id: Uuid, nonce: &[u8]) -> Result<Secret, Error> {
        let env = self.identity.environment().as_str();
        let mac = self
            .keys()?
            .session_token(&[env.as_bytes(), id.as_bytes(), nonce]);
        Ok(Secret::from_presented(base64url_encode(mac.as_bytes())))
    }

    /// The token of a stored session, if the current key still derives it.
    pub(super) fn token_of_record(&self, record: &SessionRecord) -> Result<Option<Secret>, Error> {
        let token = self.token_of(record.id, &record.token_nonce)?;
        let same = constant_time_eq(token.digest().as_bytes(), record.token_digest.as_bytes());
        Ok(same.then_some(token))
    }

    /// The reuse key: the organization, the user and the factors as the policy compares them.
    pub(super) fn reuse_key(&self, user_id: UserId, factors: &ValidationFactors) -> Digest {
        let fingerprint = self.policy().fingerprint(factors);
        let mut bytes = Vec::with_capacity(128);
        for part in [
            b"idcore session reuse v1".as_slice(),
            self.org.as_str().as_bytes(),
            user_id.as_uuid().as_bytes(),
            fingerprint.as_bytes(),
        ] {
            bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
            bytes.extend_from_slice(part);
        }
        Digest::of(&bytes)
    }

    pub(super) fn event(&self, code: EventCode, now: OffsetDateTime) -> NewEvent {
        let event = NewEvent::new(code, now).tenant(self.org);
        match self.client {
            Some(c) => event.client(c),
            None => event,
        }
    }

    pub(super) fn user_event(&self, code: EventCode, user: &User, now: OffsetDateTime) -> NewEvent {
        self.event(code, now).user(user.id, &user.profile.email)
    }

    /// Records a required event: failing to record it is an error.
    pub(super) async fn audit_required(&self, event: NewEvent) -> Result<(), Error> {
        self.identity
            .store()
            .record_event(self.identity.environment(), &event)
            .await?;
        Ok(())
    }

    /// Records an event whose loss must not change the answer (a refusal stays a refusal).
    pub(super) async fn audit(&self, event: NewEvent) {
        let _ = self
            .identity
            .store()
            .record_event(self.identity.environment(), &event)
            .await;
    }

    /// The session answer for a stored session and its user.
    pub(super) fn session(
        &self,
        record: SessionRecord,
        token: Secret,
        user: User,
        reused: bool,
    ) -> super::Session {
        super::Session {
            token,
            id: record.id,
            user,
            factors: ValidationFactors::from_stored_list(record.factors),
            amr: record.amr,
            created_at: record.created_at,
            validated_at: record.validated_at,
            expires_at: record.idle_expires_at,
            absolute_expires_at: record.absolute_expires_at,
            reused,
        }
    }
}

/// A session's member key in its user's counted set.
pub(super) fn session_member(id: Uuid) -> Key {
    Key::new("session", &[&id.to_string()])
}

/// The session a member key of a user's counted set names.
pub(super) fn member_session(member: &Key) -> Option<Uuid> {
    let id = member.as_str().strip_prefix("session:")?;
    Uuid::parse_str(id).ok()
}

/// The factors a stored session is bound to.
pub(super) fn bound_factors(record: &SessionRecord) -> ValidationFactors {
    ValidationFactors::from_stored(&record.factors)
}

/// The names of a factor set, for audit details.
pub(super) fn factor_names(factors: &ValidationFactors) -> String {
    factors.iter().map(|(n, _)| n).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_key_names_its_session_and_nothing_else_does() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(member_session(&session_member(id)), Some(id));
        for other in ["session:", "session:not-a-uuid", "seat:0123", "0123"] {
            assert_eq!(
                member_session(&Key::from_stored(other.to_owned())),
                None,
                "{other}"
            );
        }
    }
}
