//! Conformance checks: SSO sessions.

use super::*;
use crate::model::session::ValidationFactor;
use crate::store::{Opened, SessionRecord};

/// A session of `user` created at `at(created)`, idle until `at(idle)`, ending at `at(abs)`,
/// with a fresh id, token digest and nonce.
pub fn session_record(
    org: &OrgDomain,
    user: UserId,
    reuse_key: Digest,
    created: i64,
    idle: i64,
    abs: i64,
) -> SessionRecord {
    SessionRecord {
        id: fresh_uuid(),
        org: org.clone(),
        user_id: user,
        token_digest: fresh_digest(),
        token_nonce: random::<16>().to_vec(),
        reuse_key,
        factors: vec![ValidationFactor {
            name: "remote_address".into(),
            value: "203.0.113.7".into(),
        }],
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
        created_at: at(created),
        validated_at: at(created),
        idle_expires_at: at(idle),
        absolute_expires_at: at(abs),
    }
}

pub(super) fn fresh_session(created: i64, idle: i64, abs: i64) -> SessionRecord {
    session_record(
        &fresh_domain("sess"),
        UserId::from_uuid(fresh_uuid()),
        fresh_digest(),
        created,
        idle,
        abs,
    )
}

/// An opened session is found by its token digest and in its user's list, as stored.
pub async fn session_round_trips<S: Store>(store: &S) {
    let s = fresh_session(0, 600, 3600);
    assert_eq!(
        ok(store.open_session(ENV, &s, at(0)).await, "open"),
        Opened::Created
    );
    assert_eq!(
        ok(
            store.session_by_token(ENV, &s.token_digest, at(1)).await,
            "by token"
        ),
        Some(s.clone())
    );
    assert_eq!(
        ok(
            store.user_sessions(ENV, &s.org, s.user_id, at(1)).await,
            "user sessions"
        ),
        vec![s.clone()]
    );
    assert_eq!(
        ok(
            store.session_by_token(ENV, &fresh_digest(), at(1)).await,
            "unknown token"
        ),
        None
    );
}

/// Opening with the reuse key of a live session answers that session and stores nothing; once
/// it has expired, the same reuse key opens a new one.
pub async fn session_reuse_returns_the_live_session_only<S: Store>(store: &S) {
    let first = fresh_session(0, 10, 3600);
    let second = SessionRecord {
        id: fresh_uuid(),
        token_digest: fresh_digest(),
        idle_expires_at: at(600),
        ..first.clone()
    };
    ok(store.open_session(ENV, &first, at(0)).await, "open");
    assert_eq!(
        ok(store.open_session(ENV, &second, at(5)).await, "open again"),
        Opened::Reused(Box::new(first.clone()))
    );
    assert_eq!(
        ok(
            store
                .session_by_token(ENV, &second.token_digest, at(5))
                .await,
            "by token"
        ),
        None,
        "a reusing open stores nothing"
    );
    assert_eq!(
        ok(
            store.open_session(ENV, &second, at(10)).await,
            "open after expiry"
        ),
        Opened::Created,
        "an expired session is not reused"
    );
    assert_eq!(
        ok(
            store
                .session_by_token(ENV, &first.token_digest, at(10))
                .await,
            "by token"
        ),
        None
    );
    assert_eq!(
        ok(
            store
                .user_sessions(ENV, &first.org, first.user_id, at(10))
                .await,
            "list"
        ),
        vec![second]
    );
}

/// A taken id or token digest is refused with the contract's key names.
pub async fn session_id_and_token_are_unique<S: Store>(store: &S) {
    let s = fresh_session(0, 600, 3600);
    ok(store.open_session(ENV, &s, at(0)).await, "open");
    let same_id = SessionRecord {
        token_digest: fresh_digest(),
        reuse_key: fresh_digest(),
        ..s.clone()
    };
    assert!(matches!(
        store.open_session(ENV, &same_id, at(1)).await,
        Err(StoreError::AlreadyExists { key: "id" })
    ));
    let same_token = SessionRecord {
        id: fresh_uuid(),
        reuse_key: fresh_digest(),
        ..s.clone()
    };
    assert!(matches!(
        store.open_session(ENV, &same_token, at(1)).await,
        Err(StoreError::AlreadyExists { key: "token" })
    ));
}

/// Touching slides the idle expiry, never past the absolute one, and sets `validated_at`; a
/// session past either expiry is not touched.
pub async fn session_touch_slides_idle_expiry_within_the_absolute_one<S: Store>(store: &S) {
    let s = fresh_session(0, 100, 200);
    ok(store.open_session(ENV, &s, at(0)).await, "open");
    assert!(ok(
        store.touch_session(ENV, s.id, at(150), at(50)).await,
        "touch"
    ));
    let found = ok(
        store.session_by_token(ENV, &s.token_digest, at(51)).await,
        "get",
    );
    let found = found.expect("live");
    assert_eq!(
        (
            found.validated_at,
            found.idle_expires_at,
            found.absolute_expires_at
        ),
        (at(50), at(150), at(200))
    );
    assert!(ok(
        store.touch_session(ENV, s.id, at(500), at(60)).await,
        "touch"
    ));
    let found = ok(
        store.session_by_token(ENV, &s.token_digest, at(61)).await,
        "get",
    );
    assert_eq!(found.expect("live").idle_expires_at, at(200), "capped");
    assert!(
        !ok(
            store.touch_session(ENV, s.id, at(900), at(200)).await,
            "touch"
        ),
        "at the absolute expiry"
    );
    let idle = fresh_session(0, 10, 200);
    ok(store.open_session(ENV, &idle, at(0)).await, "open");
    assert!(
        !ok(
            store.touch_session(ENV, idle.id, at(100), at(10)).await,
            "touch"
        ),
        "at the idle expiry"
    );
}

/// After `end_session` returned, the session is gone: not found, not touched, not ended again.
pub async fn an_ended_session_stays_ended<S: Store>(store: &S) {
    let s = fresh_session(0, 600, 3600);
    ok(store.open_session(ENV, &s, at(0)).await, "open");
    assert!(ok(store.end_session(ENV, s.id).await, "end"));
    assert!(!ok(store.end_session(ENV, s.id).await, "end again"));
    assert!(!ok(
        store.touch_session(ENV, s.id, at(700), at(1)).await,
        "touch"
    ));
    assert_eq!(
        ok(
            store.session_by_token(ENV, &s.token_digest, at(1)).await,
            "get"
        ),
        None
    );
}

/// Ending a user's sessions spares `except` and every other user's.
pub async fn ending_a_users_sessions_spares_except_and_others<S: Store>(store: &S) {
    let org = fresh_domain("sess-user");
    let (user, neighbour) = (
        UserId::from_uuid(fresh_uuid()),
        UserId::from_uuid(fresh_uuid()),
    );
    let mine: Vec<SessionRecord> = (0..3)
        .map(|i| session_record(&org, user, fresh_digest(), i, 600, 3600))
        .collect();
    let theirs = session_record(&org, neighbour, fresh_digest(), 0, 600, 3600);
    for s in mine.iter().chain([&theirs]) {
        ok(store.open_session(ENV, s, at(5)).await, "open");
    }
    assert_eq!(
        ok(store.user_sessions(ENV, &org, user, at(5)).await, "list"),
        vec![mine[2].clone(), mine[1].clone(), mine[0].clone()],
        "newest first"
    );
    assert_eq!(
        ok(
            store
                .end_user_sessions(ENV, &org, user, Some(mine[1].id))
                .await,
            "end all but one"
        ),
        2
    );
    assert_eq!(
        ok(store.user_sessions(ENV, &org, user, at(6)).await, "list"),
        vec![mine[1].clone()]
    );
    assert_eq!(
        ok(
            store.user_sessions(ENV, &org, neighbour, at(6)).await,
            "list"
        ),
        vec![theirs]
    );
    assert_eq!(
        ok(
            store.end_user_sessions(ENV, &org, user, None).await,
            "end all"
        ),
        1
    );
}

/// 100 concurrent opens with one reuse key: exactly one creates, the others reuse it.
pub async fn concurrent_opens_with_one_reuse_key_make_one_session<S: Store + Clone>(store: &S) {
    let template = fresh_session(0, 600, 3600);
    let results = race(100, |_| {
        let store = store.clone();
        let record = SessionRecord {
            id: fresh_uuid(),
            token_digest: fresh_digest(),
            ..template.clone()
        };
        async move {
            (
                retried(|| store.open_session(ENV, &record, at(1))).await,
                record,
            )
        }
    })
    .await;
    let mut created = Vec::new();
    let mut reused = Vec::new();
    for (result, record) in results {
        match ok(result, "open") {
            Opened::Created => created.push(record),
            Opened::Reused(existing) => reused.push(existing.id),
        }
    }
    assert_eq!(created.len(), 1, "opens that created");
    assert_eq!(reused.len(), 99, "opens that reused");
    assert!(
        reused.iter().all(|id| *id == created[0].id),
        "every reuse names the winner"
    );
    assert_eq!(
        ok(
            store
                .user_sessions(ENV, &template.org, template.user_id, at(2))
                .await,
            "list"
        )
        .len(),
        1
    );
}

/// Touches racing an end: once the end returned, the session is never valid again.
pub async fn validation_racing_invalidation_never_revives_a_session<S: Store + Clone>(store: &S) {
    let s = fresh_session(0, 600, 3600);
    ok(store.open_session(ENV, &s, at(0)).await, "open");
    let results = race(50, |i| {
        let store = store.clone();
        let id = s.id;
        async move {
            if i == 25 {
                retried(|| store.end_session(ENV, id)).await.map(|_| ())
            } else {
                retried(|| store.touch_session(ENV, id, at(900), at(10)))
                    .await
                    .map(|_| ())
            }
        }
    })
    .await;
    for r in results {
        ok(r, "touch or end");
    }
    assert!(!ok(
        store.touch_session(ENV, s.id, at(900), at(11)).await,
        "touch"
    ));
    assert_eq!(
        ok(
            store.session_by_token(ENV, &s.token_digest, at(11)).await,
            "get"
        ),
        None
    );
}

/// Sessions of one environment are invisible from the other, and their reuse keys are apart.
pub async fn sessions_are_isolated_by_environment<S: Store>(store: &S) {
    let other = Environment::Sandbox;
    let s = fresh_session(0, 600, 3600);
    ok(store.open_session(ENV, &s, at(0)).await, "open");
    assert_eq!(
        ok(
            store.session_by_token(other, &s.token_digest, at(1)).await,
            "get"
        ),
        None
    );
    assert!(!ok(
        store.touch_session(other, s.id, at(900), at(1)).await,
        "touch"
    ));
    assert!(!ok(store.end_session(other, s.id).await, "end"));
    assert_eq!(
        ok(
            store
                .end_user_sessions(other, &s.org, s.user_id, None)
                .await,
            "end all"
        ),
        0
    );
    let twin = SessionRecord {
        id: fresh_uuid(),
        token_digest: fresh_digest(),
        ..s.clone()
    };
    assert_eq!(
        ok(store.open_session(other, &twin, at(1)).await, "open"),
        Opened::Created,
        "the other environment's reuse keys are its own"
    );
    assert_eq!(
        ok(
            store.session_by_token(ENV, &s.token_digest, at(2)).await,
            "get"
        ),
        Some(s)
    );
}

/// `live_session` answers a live session with its user, and nothing once the session ended,
/// for a user that does not exist, or once the organization was deleted.
pub async fn live_session_answers_the_session_with_its_live_user<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "live-session").await;
    let (user, _) = super::credentials::fresh_account(store, ENV, &org).await;
    let s = session_record(&org, user.id, fresh_digest(), 0, 600, 3600);
    let ended = session_record(&org, user.id, fresh_digest(), 0, 600, 3600);
    let orphan = session_record(
        &org,
        UserId::from_uuid(fresh_uuid()),
        fresh_digest(),
        0,
        600,
        3600,
    );
    for r in [&s, &ended, &orphan] {
        assert_eq!(
            ok(store.open_session(ENV, r, at(0)).await, "open"),
            Opened::Created
        );
    }
    assert!(ok(store.end_session(ENV, ended.id).await, "end"));
    assert_eq!(
        ok(
            store.live_session(ENV, &s.token_digest, at(1)).await,
            "live"
        ),
        Some((s.clone(), user.clone())),
        "the session and its user"
    );
    for (digest, why) in [
        (&ended.token_digest, "an ended session"),
        (&orphan.token_digest, "a session whose user does not exist"),
        (&fresh_digest(), "an unknown token"),
    ] {
        assert_eq!(
            ok(store.live_session(ENV, digest, at(1)).await, "live"),
            None,
            "{why}"
        );
    }
    assert_eq!(
        ok(
            store.live_session(ENV, &s.token_digest, at(600)).await,
            "live"
        ),
        None,
        "an expired session"
    );
    ok(
        store
            .delete_organization(
                ENV,
                &org,
                at(2),
                &event("ORGANIZATION_DELETED", &org, at(2)),
            )
            .await,
        "delete_organization",
    );
    assert_eq!(
        ok(
            store.live_session(ENV, &s.token_digest, at(3)).await,
            "live"
        ),
        None,
        "a session of a deleted organization"
    );
}
