//! The seats of an SSO connection: at most `limit` simultaneous sessions opened through it,
//! exact under concurrency (a [`LimitedSetStore`](crate::store::LimitedSetStore) join per
//! session). A seat is held until its session's absolute expiry; a session that ended before
//! (idle expiry, invalidation, sign-out) frees its seat at the next sign-in that finds the
//! connection full, which checks each member's session and drops the dead ones.

use time::OffsetDateTime;

use super::service::Sessions;
use crate::Error;
use crate::encoding::{hex, unhex32};
use crate::model::event::EventCode;
use crate::model::user::User;
use crate::secret::Digest;
use crate::store::{Joined, Key, SessionRecord, Store, WhenFull};

/// The seats a session must take one of.
#[derive(Clone, Debug)]
pub(crate) struct Seats {
    /// The counted set of the connection.
    pub(crate) set: Key,
    /// How many at once.
    pub(crate) limit: u64,
    /// Audit details of a refusal (the connection).
    pub(crate) idp_id: String,
}

/// The member a session holds its seat as: its token digest, so a sweep can find it.
fn seat_member(record: &SessionRecord) -> Key {
    Key::new("seat", &[&hex(record.token_digest.as_bytes())])
}

/// The session digest a seat member names.
fn member_digest(member: &Key) -> Option<Digest> {
    let digest = member.as_str().strip_prefix("seat:")?;
    unhex32(digest).map(Digest::from_bytes)
}

impl<S: Store> Sessions<'_, S> {
    /// Takes a seat for a new session, or refuses it ([`Error::SeatsLimitReached`]) when
    /// every seat is held by a live session.
    pub(super) async fn take_seat(
        &self,
        seats: &Seats,
        record: &SessionRecord,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        let member = seat_member(record);
        for attempt in 0..2 {
            let joined = store
                .join(
                    env,
                    &seats.set,
                    &member,
                    seats.limit,
                    WhenFull::Refuse,
                    record.absolute_expires_at,
                    now,
                )
                .await?;
            match joined {
                Joined::Added { .. } | Joined::Refreshed => return Ok(()),
                Joined::Full if attempt == 0 => {
                    // Seats held by sessions that already ended are free: drop them, once.
                    for m in store.members(env, &seats.set, now).await? {
                        let live = match member_digest(&m.member) {
                            Some(digest) => store.session_by_token(env, &digest, now).await?,
                            None => None,
                        };
                        if live.is_none() {
                            store.leave(env, &seats.set, &m.member, now).await?;
                        }
                    }
                }
                Joined::Full => {}
            }
        }
        self.audit(
            self.user_event(EventCode::SSO_SIGN_IN_REFUSED, user, now)
                .detail("idp_id", seats.idp_id.as_str())
                .detail("reason", "seats_limit_reached")
                .detail("limit", seats.limit.to_string()),
        )
        .await;
        Err(Error::SeatsLimitReached)
    }

    /// Opens a session for a user an SSO connection vouched for (`how = sso`), holding one of
    /// `seats` when given, or answers its ongoing one with the same factors (which holds its
    /// seat already, or was not opened through a seat-limited connection).
    pub(crate) async fn open_federated(
        &self,
        user: User,
        factors: crate::model::session::ValidationFactors,
        seats: Option<&Seats>,
    ) -> Result<super::Session, Error> {
        let now = self.identity.now();
        self.open(user, factors, Vec::new(), None, "sso", seats, now)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seat_member_names_its_session_digest() {
        let digest = Digest::of(b"a session token");
        let key = Key::new("seat", &[&hex(digest.as_bytes())]);
        assert_eq!(member_digest(&key), Some(digest));
        assert_eq!(member_digest(&Key::new("seat", &["00"])), None);
        assert_eq!(member_digest(&Key::new("session", &[&hex(&[0; 32])])), None);
        assert_eq!(unhex32(&"A".repeat(64)), None, "lowercase only");
    }
}
