//! Crowd-style SSO sessions as stored: never the token, only its digest.

use std::future::Future;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Key, OrganizationStore, UserStore};
use crate::error::StoreError;
use crate::model::ids::{Environment, OrgDomain, UserId};
use crate::model::session::ValidationFactor;
use crate::model::user::User;
use crate::secret::Digest;

/// The counted set of a user's sessions (members: session ids), which the session limit uses.
pub fn user_session_set(org: &OrgDomain, user_id: UserId) -> Key {
    Key::new(
        "user_sessions",
        &[org.as_str(), &user_id.as_uuid().to_string()],
    )
}

/// A session, as stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SessionRecord {
    /// The session's id (not a secret: a user's session list shows it).
    pub id: Uuid,
    /// The organization of the user.
    pub org: OrgDomain,
    /// The user.
    pub user_id: UserId,
    /// The SHA-256 digest of the session token; unique.
    pub token_digest: Digest,
    /// What the token is derived from besides the id (random, 128 bits or more).
    pub token_nonce: Vec<u8>,
    /// The user and the factors as the application's policy compares them: a new
    /// authentication with the same reuse key while this session is live reuses it. Unique
    /// among live sessions.
    pub reuse_key: Digest,
    /// The validation factors the session is bound to, sorted by name.
    pub factors: Vec<ValidationFactor>,
    /// How the user authenticated (RFC 8176 `amr` values: `pwd`, `otp`, `mfa` …), for the ID
    /// tokens of codes obtained with the session; empty for a session a trusted application
    /// opened for a user it had authenticated itself.
    pub amr: Vec<String>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it was last validated (`created_at` until then).
    pub validated_at: OffsetDateTime,
    /// When it ends unless validated again; never after `absolute_expires_at`.
    pub idle_expires_at: OffsetDateTime,
    /// When it ends whatever happens.
    pub absolute_expires_at: OffsetDateTime,
}

impl SessionRecord {
    /// Whether the session is live at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.idle_expires_at && now < self.absolute_expires_at
    }
}

/// The outcome of [`SessionStore::open_session`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Opened {
    /// The new session was stored.
    Created,
    /// A live session with the same reuse key exists: it is returned and nothing was stored.
    Reused(Box<SessionRecord>),
}

/// Sessions of users.
///
/// # Contract
/// - A session is live while `now` is before both its `idle_expires_at` and its
///   `absolute_expires_at`; only live sessions are returned, reused or touched.
/// - `open_session` is atomic: if a live session of the environment has the record's
///   `reuse_key`, it answers [`Opened::Reused`] with that session and stores nothing; otherwise
///   it stores the record (replacing an expired session with that reuse key) and answers
///   [`Opened::Created`]. Of many concurrent opens with one reuse key exactly one creates, the
///   others reuse it. A taken `id` or `token_digest` answers [`StoreError::AlreadyExists`].
/// - `session_by_token` finds a live session by its token digest; `live_session` finds it
///   together with its user, only while the user and its organization are live.
/// - `touch_session` sets `validated_at` and `idle_expires_at` (capped at
///   `absolute_expires_at`, which never moves) of a live session and answers whether it was
///   live; after `end_session` (or another end) returned, it answers `false` and changes nothing.
/// - `end_session` deletes one session (answering whether it existed); `end_user_sessions`
///   deletes every session of a user except `except` and answers how many.
/// - `user_sessions` lists a user's live sessions, newest first.
pub trait SessionStore: Send + Sync {
    /// Stores a new session, or answers the live one with the same reuse key.
    fn open_session(
        &self,
        env: Environment,
        record: &SessionRecord,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Opened, StoreError>> + Send;

    /// The live session whose token has this digest.
    fn session_by_token(
        &self,
        env: Environment,
        token_digest: &Digest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send;

    /// The live session whose token has this digest, with its user — only if the user exists
    /// in the session's organization and that organization is live (`None` otherwise). What a
    /// validation reads; the default reads the session, then the user
    /// ([`UserStore::live_user`]); an adapter may answer with one statement (the PostgreSQL
    /// store joins them).
    fn live_session(
        &self,
        env: Environment,
        token_digest: &Digest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<(SessionRecord, User)>, StoreError>> + Send
    where
        Self: UserStore + OrganizationStore,
    {
        async move {
            let Some(session) = self.session_by_token(env, token_digest, now).await? else {
                return Ok(None);
            };
            let user = self.live_user(env, &session.org, session.user_id).await?;
            Ok(user.map(|u| (session, u)))
        }
    }

    /// Slides a live session's idle expiry; `false` if it is not live.
    fn touch_session(
        &self,
        env: Environment,
        id: Uuid,
        idle_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes one session.
    fn end_session(
        &self,
        env: Environment,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes every session of a user but `except`.
    fn end_user_sessions(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        except: Option<Uuid>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// A user's live sessions, newest first.
    fn user_sessions(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<SessionRecord>, StoreError>> + Send;
}
