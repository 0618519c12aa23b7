//! Conformance checks: restart (durable stores).

use super::claims::claim_schema_record;
use super::sessions::fresh_session;
use super::sso::sso_connection_record;
use super::*;
use crate::model::claims::ClaimSchema;
use crate::model::sso::SsoConnection;
use crate::store::{Joined, Opened, SessionRecord, WhenFull};

/// What [`restart_prepare`] wrote, for [`restart_verify`] to check after the store reopened.
#[derive(Clone, Debug)]
pub struct RestartState {
    used_code: Key,
    used_at: OffsetDateTime,
    unused_code: Key,
    rotated: RefreshTokenRecord,
    successor: RefreshTokenRecord,
    step: Key,
    nonce: Key,
    account: User,
    credentials: CredentialRecord,
    session: SessionRecord,
    ended_session: SessionRecord,
    set: Key,
    member: Key,
    schema: ClaimSchema,
    connection: SsoConnection,
}

/// The payload of the restart checks' one-time entries.
pub(super) const RESTART_PAYLOAD: &[u8] = b"restart";

/// Writes the state a durable store must keep across a restart: a used code and an unused one,
/// a rotated refresh token and its successor, a TOTP step, a nonce, an account whose
/// credentials were updated once, a live session, an ended one, a member of a counted set, and
/// the account's organization's claim schema, written twice, and an SSO connection, updated
/// once. Close and reopen the store, then call [`restart_verify`] with the answer.
///
/// For durable adapters only: a store that lives in memory forgets everything with the process.
pub async fn restart_prepare<S: Store>(store: &S) -> RestartState {
    let now = T0;
    let used_code = fresh_key("restart-code");
    let unused_code = fresh_key("restart-code");
    for key in [&used_code, &unused_code] {
        ok(
            store
                .put_once(ENV, key, &one_time_entry(RESTART_PAYLOAD, now), now)
                .await,
            "put_once",
        );
    }
    let used_at = now + Duration::seconds(1);
    assert_eq!(
        ok(store.take(ENV, &used_code, used_at).await, "take"),
        Take::Taken(RESTART_PAYLOAD.to_vec()),
        "the first take (setup)"
    );
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(now);
    insert_token(store, ENV, &token).await;
    let successor = rotate_ok(store, ENV, &token, now + Duration::seconds(2)).await;
    let rotated = token_of(store, ENV, &token.digest)
        .await
        .expect("the rotated token is stored");
    let step = fresh_key("restart-step");
    assert_eq!(
        ok(store.advance(ENV, &step, 42).await, "advance"),
        Advance::Advanced,
        "the first step (setup)"
    );
    let nonce = fresh_key("restart-nonce");
    assert_eq!(
        ok(
            store
                .mark_once(ENV, &nonce, now + Duration::minutes(5), now)
                .await,
            "mark_once"
        ),
        Mark::First,
        "the first mark of a nonce (setup)"
    );
    let org = fresh_org(store, ENV, "restart").await;
    let (account, first) = fresh_account(store, ENV, &org).await;
    let credentials = next_version(&first, now + Duration::seconds(3));
    ok(
        store.update_credentials(ENV, &credentials, 1, None).await,
        "update_credentials (setup)",
    );
    let session = fresh_session(0, 600, 3600);
    let ended_session = fresh_session(0, 600, 3600);
    for s in [&session, &ended_session] {
        assert_eq!(
            ok(store.open_session(ENV, s, now).await, "open_session"),
            Opened::Created,
            "a new session (setup)"
        );
    }
    assert!(
        ok(
            store.end_session(ENV, ended_session.id).await,
            "end_session"
        ),
        "the second session ends (setup)"
    );
    let (set, member) = (fresh_key("restart-set"), fresh_key("restart-member"));
    assert_eq!(
        ok(
            store
                .join(ENV, &set, &member, 1, WhenFull::Refuse, at(3600), now)
                .await,
            "join"
        ),
        Joined::Added { evicted: vec![] },
        "the first member (setup)"
    );
    ok(
        store
            .put_claim_schema(
                ENV,
                &org,
                &claim_schema_record(1),
                0,
                &event("METAKEY_CREATED", &org, now),
            )
            .await,
        "put_claim_schema (setup)",
    );
    let schema = claim_schema_record(2);
    ok(
        store
            .put_claim_schema(ENV, &org, &schema, 1, &event("METAKEY_CREATED", &org, now))
            .await,
        "put_claim_schema (setup)",
    );
    let first = sso_connection_record(&org, 0);
    ok(
        store
            .insert_sso_connection(ENV, &first, &event("SSO_CONNECTION_CREATED", &org, now))
            .await,
        "insert_sso_connection (setup)",
    );
    let connection = SsoConnection {
        seats_limit: 3,
        version: 2,
        ..first
    };
    ok(
        store
            .update_sso_connection(
                ENV,
                &connection,
                1,
                &event("SSO_CONNECTION_UPDATED", &org, now),
            )
            .await,
        "update_sso_connection (setup)",
    );
    RestartState {
        used_code,
        used_at,
        unused_code,
        rotated,
        successor,
        step,
        nonce,
        account,
        credentials,
        session,
        ended_session,
        set,
        member,
        schema,
        connection,
    }
}

/// Checks, on the reopened store, what [`restart_prepare`] wrote: the used code is still
/// `AlreadyTaken` and the unused one takeable; the rotated refresh token is still `NotCurrent`
/// and its successor stored; the step still refuses its value and the nonce is still a replay;
/// the account and its credentials read back, by id and by username, as last written; the
/// live session is found and reused, the ended one is not; the set's member still counts; the
/// claim schema reads back as last written, and its version still guards the next write; the
/// SSO connection reads back as updated.
pub async fn restart_verify<S: Store>(store: &S, state: RestartState) {
    let now = state.used_at + Duration::seconds(10);
    assert_eq!(
        ok(store.take(ENV, &state.used_code, now).await, "take"),
        Take::AlreadyTaken {
            payload: RESTART_PAYLOAD.to_vec(),
            taken_at: state.used_at
        },
        "a code used before the restart must stay used"
    );
    assert_eq!(
        ok(store.take(ENV, &state.unused_code, now).await, "take"),
        Take::Taken(RESTART_PAYLOAD.to_vec()),
        "a code put before the restart must survive it"
    );
    let replay = successor(&state.rotated, now);
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &state.rotated.digest, &replay, now)
                .await,
            "rotate_refresh_token"
        ),
        Rotation::NotCurrent(state.rotated.clone()),
        "a token rotated before the restart must stay not current (reuse detection)"
    );
    assert_eq!(
        token_of(store, ENV, &state.successor.digest).await,
        Some(state.successor),
        "a successor stored before the restart must survive it"
    );
    assert_eq!(
        ok(store.advance(ENV, &state.step, 42).await, "advance"),
        Advance::Stale(42),
        "a TOTP step accepted before the restart must stay used"
    );
    assert_eq!(
        ok(
            store
                .mark_once(ENV, &state.nonce, now + Duration::minutes(5), now)
                .await,
            "mark_once"
        ),
        Mark::Replay,
        "a nonce seen before the restart must stay seen"
    );
    let org = state.account.org.clone();
    assert_eq!(
        ok(store.user(ENV, &org, state.account.id).await, "user"),
        Some(state.account.clone()),
        "an account's user written before the restart must survive it"
    );
    assert_eq!(
        creds_of(store, ENV, &org, state.account.id).await,
        Some(state.credentials.clone()),
        "credentials updated before the restart must survive it, as updated"
    );
    let name = state.credentials.username.as_deref().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, name).await,
        Some(state.credentials.clone()),
        "a username written before the restart must still find its account"
    );
    assert_eq!(
        ok(
            store
                .session_by_token(ENV, &state.session.token_digest, now)
                .await,
            "session_by_token"
        ),
        Some(state.session.clone()),
        "a session opened before the restart must survive it"
    );
    let again = SessionRecord {
        id: fresh_uuid(),
        token_digest: fresh_digest(),
        ..state.session.clone()
    };
    assert_eq!(
        ok(store.open_session(ENV, &again, now).await, "open_session"),
        Opened::Reused(Box::new(state.session.clone())),
        "its reuse key must still answer it"
    );
    assert_eq!(
        ok(
            store
                .session_by_token(ENV, &state.ended_session.token_digest, now)
                .await,
            "session_by_token"
        ),
        None,
        "a session ended before the restart must stay ended"
    );
    let other = fresh_key("restart-member");
    assert_eq!(
        ok(
            store
                .join(ENV, &state.set, &other, 1, WhenFull::Refuse, at(3600), now)
                .await,
            "join"
        ),
        Joined::Full,
        "a set's members must survive a restart and keep counting against its limit"
    );
    let members: Vec<Key> = ok(store.members(ENV, &state.set, now).await, "members")
        .into_iter()
        .map(|m| m.member)
        .collect();
    assert_eq!(members, vec![state.member.clone()]);
    assert_eq!(
        ok(store.claim_schema(ENV, &org).await, "claim_schema"),
        state.schema,
        "a claim schema written before the restart must survive it, as last written"
    );
    let stale = claim_schema_record(2);
    let result = store
        .put_claim_schema(ENV, &org, &stale, 1, &event("METAKEY_CREATED", &org, now))
        .await;
    assert_eq!(
        Outcome::of(&result),
        Outcome::Precondition,
        "the schema's version must survive a restart and still refuse a stale write"
    );
    assert_eq!(
        ok(
            store.sso_connection(ENV, &state.connection.idp_id).await,
            "sso_connection"
        ),
        Some(state.connection.clone()),
        "an SSO connection written before the restart must survive it, as updated"
    );
}

/// A whole-second time a day after `newest`, and never before [`LIST_BASE`].
pub(super) fn newest_base(newest: Option<OffsetDateTime>) -> OffsetDateTime {
    newest
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t.unix_timestamp() + 86_400).ok())
        .map_or(LIST_BASE, |t| t.max(LIST_BASE))
}
