//! The requests and answers of the sessions service.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::crypto::password::Password;
use crate::model::ids::ClientId;
use crate::model::session::ValidationFactors;
use crate::model::user::User;
use crate::risk::RequestContext;
use crate::secret::Secret;
use crate::signin::PendingSignIn;
use crate::store::SessionRecord;

/// The input of [`Sessions::authenticate`](super::Sessions::authenticate) (the seed's
/// `POST /session`).
#[derive(Clone, Debug)]
pub struct Authenticate {
    /// The seed's `userName`: an e-mail address or a username.
    pub login: String,
    /// The password as typed.
    pub password: Password,
    /// The factors to bind the session to.
    pub factors: ValidationFactors,
    /// The seed's `duration`: how long the session lives without validation. Capped by the
    /// default session timeout, which also applies when it is `None`.
    pub duration: Option<Duration>,
    /// The host's signals, for the lockout and the risk engine.
    pub context: RequestContext,
}

/// A session, as the service answers it: the seed's session with its user expanded.
#[derive(Clone, Debug)]
pub struct Session {
    /// The session token (256 bits). Hand it to the user agent; idcore never stores it.
    pub token: Secret,
    /// The session's id (not a secret).
    pub id: Uuid,
    /// The user, expanded.
    pub user: User,
    /// The factors it is bound to.
    pub factors: ValidationFactors,
    /// How the user authenticated (RFC 8176 `amr`); empty for a trusted application's session.
    pub amr: Vec<String>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it was last validated, as last written.
    pub validated_at: OffsetDateTime,
    /// When it ends unless validated again (the seed's `expiryDate`).
    pub expires_at: OffsetDateTime,
    /// When it ends whatever happens.
    pub absolute_expires_at: OffsetDateTime,
    /// `true` when an authentication found this session ongoing and answered it.
    pub reused: bool,
}

/// One of a user's sessions, as the user sees its devices: never the token.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SessionInfo {
    /// The session's id, to end it with [`Sessions::end`](super::Sessions::end).
    pub id: Uuid,
    /// The factors it is bound to (the device: address, user agent …).
    pub factors: ValidationFactors,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it was last validated, as last written.
    pub validated_at: OffsetDateTime,
    /// When it ends unless validated again.
    pub expires_at: OffsetDateTime,
    /// When it ends whatever happens.
    pub absolute_expires_at: OffsetDateTime,
}

impl SessionInfo {
    pub(super) fn of(record: &SessionRecord) -> Self {
        Self {
            id: record.id,
            factors: super::service::bound_factors(record),
            created_at: record.created_at,
            validated_at: record.validated_at,
            expires_at: record.idle_expires_at,
            absolute_expires_at: record.absolute_expires_at,
        }
    }
}

/// The answer of [`Sessions::authenticate`](super::Sessions::authenticate) and
/// [`Sessions::complete`](super::Sessions::complete).
#[derive(Debug)]
pub enum SessionStep {
    /// The session is open (new, or the ongoing one reused).
    Opened(Box<Session>),
    /// More factors are needed first (the enrolled authenticator, a risk challenge).
    FactorRequired(PendingSignIn),
}

/// The capability to open sessions without a password (Crowd's `validate-password=false`):
/// [`Sessions::trusted`](super::Sessions::trusted) gives it only to an application of the
/// organization that the host lists in
/// [`SessionSettings::trusted_applications`](crate::sessions::SessionSettings::trusted_applications).
#[derive(Clone, Debug)]
pub struct TrustedApplication {
    pub(super) client_id: ClientId,
}

impl TrustedApplication {
    /// The trusted application.
    pub fn client_id(&self) -> ClientId {
        self.client_id
    }
}
