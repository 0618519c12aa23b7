//! Conformance checks: refresh tokens.

use super::*;

/// An inserted refresh token reads back field for field by digest; an unknown digest answers
/// `None`; a taken digest answers `AlreadyExists { key: "digest" }` and changes nothing.
pub async fn refresh_token_round_trips_and_its_digest_is_unique<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    insert_token(store, ENV, &token).await;
    assert_eq!(
        token_of(store, ENV, &token.digest).await,
        Some(token.clone()),
        "refresh_token() must return the inserted record, every field intact"
    );
    assert_eq!(
        token_of(store, ENV, &fresh_digest()).await,
        None,
        "an unknown digest must answer None"
    );
    let twin = RefreshTokenRecord {
        digest: token.digest,
        ..grant.token(at(1))
    };
    assert_eq!(
        Outcome::of(&store.insert_refresh_token(ENV, &twin).await),
        Outcome::AlreadyExists("digest"),
        "inserting a refresh token with a taken digest"
    );
    assert_eq!(
        token_of(store, ENV, &token.digest).await,
        Some(token),
        "a refused insert must leave the first token as it was"
    );
}

/// Rotating a current token answers `Rotated` with the record as it was; the old token becomes
/// `Rotated { at: now, successor }` (nothing else changes) and the successor is stored as given.
pub async fn rotation_returns_the_old_record_and_stores_the_successor<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    insert_token(store, ENV, &token).await;
    let next = successor(&token, at(60));
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &token.digest, &next, at(60))
                .await,
            "rotate_refresh_token"
        ),
        Rotation::Rotated(token.clone()),
        "rotating a current token must answer Rotated with the record before rotation"
    );
    assert_eq!(
        token_of(store, ENV, &token.digest).await,
        Some(RefreshTokenRecord {
            state: RefreshState::Rotated {
                at: at(60),
                successor: next.digest
            },
            ..token
        }),
        "the rotated token must be Rotated {{ at: now, successor }}, its other fields intact"
    );
    assert_eq!(
        token_of(store, ENV, &next.digest).await,
        Some(next.clone()),
        "the successor must be stored as given"
    );
    let third = successor(&next, at(120));
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &next.digest, &third, at(120))
                .await,
            "rotate_refresh_token"
        ),
        Rotation::Rotated(next),
        "the successor must be current, and rotate in turn"
    );
}

/// Rotating a token that is no longer current — rotated, or revoked — answers `NotCurrent` with
/// the stored record and writes nothing (the would-be successor is not stored).
pub async fn rotation_of_a_rotated_or_revoked_token_is_not_current<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    insert_token(store, ENV, &token).await;
    let next = rotate_ok(store, ENV, &token, at(60)).await;
    let rotated = token_of(store, ENV, &token.digest)
        .await
        .expect("the rotated token is stored");
    let replay = successor(&token, at(90));
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &token.digest, &replay, at(90))
                .await,
            "rotate_refresh_token"
        ),
        Rotation::NotCurrent(rotated.clone()),
        "rotating an already rotated token"
    );
    assert_eq!(
        token_of(store, ENV, &replay.digest).await,
        None,
        "a refused rotation must not store its successor"
    );
    assert_eq!(
        token_of(store, ENV, &token.digest).await,
        Some(rotated),
        "a refused rotation must leave the token as it was"
    );
    assert_eq!(
        ok(
            store.revoke_family(ENV, next.family, at(100)).await,
            "revoke_family"
        ),
        2,
        "tokens revoked in a family of one rotated and one active token"
    );
    let revoked_next = revoked(&next, at(100));
    let after_revoke = successor(&next, at(110));
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &next.digest, &after_revoke, at(110))
                .await,
            "rotate_refresh_token"
        ),
        Rotation::NotCurrent(revoked_next.clone()),
        "rotating a revoked token"
    );
    assert_eq!(
        token_of(store, ENV, &after_revoke.digest).await,
        None,
        "a refused rotation must not store its successor"
    );
    assert_eq!(
        token_of(store, ENV, &next.digest).await,
        Some(revoked_next),
        "a refused rotation must leave the token as it was"
    );
}

/// A current token is `Expired` at exactly its `expires_at` (nothing written, the token stays
/// active); one second earlier it rotates.
pub async fn rotation_at_expires_at_is_expired<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let late = grant.token(T0);
    let early = grant.token(T0);
    insert_token(store, ENV, &late).await;
    insert_token(store, ENV, &early).await;
    let next = successor(&late, late.expires_at);
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &late.digest, &next, late.expires_at)
                .await,
            "rotate_refresh_token"
        ),
        Rotation::Expired(late.clone()),
        "rotating a token at exactly its expires_at"
    );
    assert_eq!(
        token_of(store, ENV, &late.digest).await,
        Some(late.clone()),
        "an expired rotation must leave the token as it was"
    );
    assert_eq!(
        token_of(store, ENV, &next.digest).await,
        None,
        "an expired rotation must not store its successor"
    );
    let just_before = early.expires_at - Duration::seconds(1);
    let next = successor(&early, just_before);
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &early.digest, &next, just_before)
                .await,
            "rotate_refresh_token"
        ),
        Rotation::Rotated(early),
        "rotating a token one second before its expires_at"
    );
}

/// Rotating a digest that was never stored answers `Missing` and stores nothing.
pub async fn rotation_of_an_unknown_token_is_missing<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let ghost = grant.token(T0);
    let next = successor(&ghost, at(1));
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(ENV, &ghost.digest, &next, at(1))
                .await,
            "rotate_refresh_token"
        ),
        Rotation::Missing,
        "rotating a digest never stored"
    );
    assert_eq!(
        token_of(store, ENV, &next.digest).await,
        None,
        "a missing rotation must not store its successor"
    );
}

/// A rotation whose successor is of another family, not `Active`, or has a taken digest is
/// refused (not `Rotated`) and writes nothing.
pub async fn rotation_refuses_an_invalid_successor<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    let bystander = grant.token(T0);
    insert_token(store, ENV, &token).await;
    insert_token(store, ENV, &bystander).await;
    let invalid = [
        (
            "a successor of another family",
            RefreshTokenRecord {
                family: FamilyId(fresh_uuid()),
                ..successor(&token, at(1))
            },
        ),
        (
            "a successor that is not Active",
            RefreshTokenRecord {
                state: RefreshState::Revoked { at: at(1) },
                ..successor(&token, at(1))
            },
        ),
        (
            "a successor whose digest is taken",
            RefreshTokenRecord {
                digest: bystander.digest,
                ..successor(&token, at(1))
            },
        ),
    ];
    for (what, next) in invalid {
        let result = store
            .rotate_refresh_token(ENV, &token.digest, &next, at(1))
            .await;
        assert!(
            !matches!(result, Ok(Rotation::Rotated(_))),
            "a rotation into {what} must be refused, got {result:?}"
        );
        assert_eq!(
            token_of(store, ENV, &token.digest).await,
            Some(token.clone()),
            "a rotation into {what} must leave the token current"
        );
    }
    assert_eq!(
        token_of(store, ENV, &bystander.digest).await,
        Some(bystander),
        "a rotation into a taken digest must not overwrite its owner"
    );
}

/// `revoke_family` marks every `Active` or `Rotated` token of one family `Revoked { at: now }`,
/// returns exactly how many changed (0 when repeated), and touches no other family.
pub async fn revoke_family_revokes_exactly_that_family<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let first = grant.token(T0);
    let other = grant.token(T0);
    insert_token(store, ENV, &first).await;
    insert_token(store, ENV, &other).await;
    let second = rotate_ok(store, ENV, &first, at(10)).await;
    let third = rotate_ok(store, ENV, &second, at(20)).await;
    let family = [&first, &second, &third];
    let mut before = Vec::new();
    for t in family {
        before.push(token_of(store, ENV, &t.digest).await.expect("stored"));
    }
    assert_eq!(
        ok(
            store.revoke_family(ENV, first.family, at(30)).await,
            "revoke_family"
        ),
        3,
        "tokens revoked in a family of two rotated tokens and one active token"
    );
    for t in &before {
        assert_eq!(
            token_of(store, ENV, &t.digest).await,
            Some(revoked(t, at(30))),
            "every token of the family must be Revoked {{ at: now }}, its other fields intact"
        );
    }
    assert_eq!(
        token_of(store, ENV, &other.digest).await,
        Some(other),
        "another family of the same grant must stay untouched"
    );
    assert_eq!(
        ok(
            store.revoke_family(ENV, first.family, at(40)).await,
            "revoke_family"
        ),
        0,
        "revoking an already revoked family changes nothing"
    );
    assert_eq!(
        token_of(store, ENV, &third.digest).await,
        Some(revoked(&third, at(30))),
        "a repeated revocation must keep the first revocation time"
    );
    assert_eq!(
        ok(
            store
                .revoke_family(ENV, FamilyId(fresh_uuid()), at(40))
                .await,
            "revoke_family"
        ),
        0,
        "revoking an unknown family"
    );
}

/// `revoke_user_refresh_tokens` revokes every token of every family of one user of one
/// organization, returns exactly how many changed, and touches no other user — not even
/// through another organization's domain.
pub async fn revoke_user_refresh_tokens_revokes_exactly_that_user<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let neighbour = fresh_user(store, ENV, &grant.org).await;
    let a = grant.token(T0);
    let b = grant.token(T0);
    let theirs = refresh_token(&grant.org, neighbour.id, grant.client_id, T0);
    for t in [&a, &b, &theirs] {
        insert_token(store, ENV, t).await;
    }
    let a2 = rotate_ok(store, ENV, &a, at(10)).await;
    let other_org = fresh_org(store, ENV, "revoke-user").await;
    assert_eq!(
        ok(
            store
                .revoke_user_refresh_tokens(ENV, &other_org, grant.user_id, at(20))
                .await,
            "revoke_user_refresh_tokens"
        ),
        0,
        "revoking the user's tokens through another organization's domain"
    );
    assert_eq!(
        token_of(store, ENV, &a2.digest).await,
        Some(a2.clone()),
        "a revocation through another organization must change nothing"
    );
    let rotated_a = token_of(store, ENV, &a.digest).await.expect("stored");
    assert_eq!(
        ok(
            store
                .revoke_user_refresh_tokens(ENV, &grant.org, grant.user_id, at(30))
                .await,
            "revoke_user_refresh_tokens"
        ),
        3,
        "tokens revoked for a user with two families (one rotated once)"
    );
    for t in [&rotated_a, &a2, &b] {
        assert_eq!(
            token_of(store, ENV, &t.digest).await,
            Some(revoked(t, at(30))),
            "every token of the user must be Revoked {{ at: now }}"
        );
    }
    assert_eq!(
        token_of(store, ENV, &theirs.digest).await,
        Some(theirs),
        "another user's token must stay untouched"
    );
    assert_eq!(
        ok(
            store
                .revoke_user_refresh_tokens(ENV, &grant.org, grant.user_id, at(40))
                .await,
            "revoke_user_refresh_tokens"
        ),
        0,
        "revoking an already revoked user's tokens changes nothing"
    );
}

/// `revoke_client_refresh_tokens` revokes every token issued to one client, whoever the user,
/// returns exactly how many changed, and touches no other client.
pub async fn revoke_client_refresh_tokens_revokes_exactly_that_client<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let other_user = fresh_user(store, ENV, &grant.org).await;
    let other_client = fresh_app(store, ENV, &grant.org).await;
    let a = grant.token(T0);
    let b = refresh_token(&grant.org, other_user.id, grant.client_id, T0);
    let theirs = refresh_token(&grant.org, grant.user_id, other_client, T0);
    for t in [&a, &b, &theirs] {
        insert_token(store, ENV, t).await;
    }
    let b2 = rotate_ok(store, ENV, &b, at(10)).await;
    let rotated_b = token_of(store, ENV, &b.digest).await.expect("stored");
    assert_eq!(
        ok(
            store
                .revoke_client_refresh_tokens(ENV, grant.client_id, at(20))
                .await,
            "revoke_client_refresh_tokens"
        ),
        3,
        "tokens revoked for a client with two users' families (one rotated once)"
    );
    for t in [&a, &rotated_b, &b2] {
        assert_eq!(
            token_of(store, ENV, &t.digest).await,
            Some(revoked(t, at(20))),
            "every token of the client must be Revoked {{ at: now }}"
        );
    }
    assert_eq!(
        token_of(store, ENV, &theirs.digest).await,
        Some(theirs),
        "another client's token must stay untouched"
    );
    assert_eq!(
        ok(
            store
                .revoke_client_refresh_tokens(ENV, grant.client_id, at(30))
                .await,
            "revoke_client_refresh_tokens"
        ),
        0,
        "revoking an already revoked client's tokens changes nothing"
    );
}

/// 100 concurrent rotations of one token, each with its own successor: exactly one `Rotated`,
/// 99 `NotCurrent` carrying the token rotated into the winner's successor, and only that
/// successor is stored.
pub async fn rotation_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    insert_token(store, ENV, &token).await;
    let successors: Vec<RefreshTokenRecord> = (0..100).map(|_| successor(&token, at(60))).collect();
    let results = race(successors.len(), |i| {
        let store = store.clone();
        let old = token.digest;
        let next = successors[i].clone();
        async move { retried(|| store.rotate_refresh_token(ENV, &old, &next, at(60))).await }
    })
    .await;
    let results: Vec<Rotation> = results
        .into_iter()
        .map(|r| ok(r, "rotate_refresh_token"))
        .collect();
    assert_eq!(
        count(&results, |r| *r == Rotation::Rotated(token.clone())),
        1,
        "concurrent rotations of one token that got Rotated: {results:?}"
    );
    let winner = results
        .iter()
        .position(|r| matches!(r, Rotation::Rotated(_)))
        .expect("one rotation succeeded (asserted above)");
    let rotated = RefreshTokenRecord {
        state: RefreshState::Rotated {
            at: at(60),
            successor: successors[winner].digest,
        },
        ..token.clone()
    };
    assert_eq!(
        count(&results, |r| *r == Rotation::NotCurrent(rotated.clone())),
        99,
        "concurrent rotations of one token that got NotCurrent with the winner's rotation"
    );
    assert_eq!(
        token_of(store, ENV, &token.digest).await,
        Some(rotated),
        "the token must be rotated into the winner's successor"
    );
    for (i, next) in successors.iter().enumerate() {
        let stored = token_of(store, ENV, &next.digest).await;
        if i == winner {
            assert_eq!(
                stored,
                Some(next.clone()),
                "the winner's successor is stored"
            );
        } else {
            assert_eq!(
                stored, None,
                "a losing rotation's successor must not be stored"
            );
        }
    }
}

/// `rotate_refresh_token_audited` rotates exactly like `rotate_refresh_token` and appends its
/// event exactly when it answers `Rotated`: not for a rotated, unknown or expired token. The
/// event reads back with its fields and counts in the tenant's and the code's totals.
pub async fn audited_rotation_records_its_event_only_when_it_rotates<S: Store>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    insert_token(store, ENV, &token).await;
    let (_, before) = tenant_events(store, ENV, &grant.org).await;
    let refreshed = event("TOKENS_REFRESHED", &grant.org, at(60)).client(grant.client_id);
    let next = successor(&token, at(60));
    let rotation = ok(
        store
            .rotate_refresh_token_audited(ENV, &token.digest, &next, at(60), &refreshed)
            .await,
        "rotate_refresh_token_audited",
    );
    assert_eq!(
        rotation,
        Rotation::Rotated(token.clone()),
        "an audited rotation of the current token must answer Rotated with the old record"
    );
    assert_eq!(
        token_of(store, ENV, &next.digest).await,
        Some(next.clone()),
        "an audited rotation stores the successor"
    );
    let (events, total) = tenant_events(store, ENV, &grant.org).await;
    assert_eq!(total, before + 1, "a rotation appends exactly one event");
    let newest = &events[0];
    assert_eq!(
        (
            newest.event_code.as_str(),
            newest.client_id,
            newest.inserted_at,
            newest.details.get("suite").map(String::as_str),
        ),
        (
            "TOKENS_REFRESHED",
            Some(grant.client_id),
            at(60),
            Some("conformance")
        ),
        "the rotation's event must read back as given"
    );
    let by_code = EventQuery::tenant(&grant.org).code(refreshed.event_code.clone());
    let (_, coded) = ok(store.events(ENV, &by_code, page(1, 100)).await, "events");
    assert_eq!(coded, 1, "the rotation's event counts under its code");

    // Not current, unknown, expired: no event.
    let again = successor(&token, at(61));
    let stale = ok(
        store
            .rotate_refresh_token_audited(ENV, &token.digest, &again, at(61), &refreshed)
            .await,
        "rotate_refresh_token_audited",
    );
    assert!(
        matches!(stale, Rotation::NotCurrent(_)),
        "an audited rotation of a rotated token must answer NotCurrent, got {stale:?}"
    );
    let unknown = grant.token(at(61));
    let missing = ok(
        store
            .rotate_refresh_token_audited(
                ENV,
                &unknown.digest,
                &successor(&unknown, at(61)),
                at(61),
                &refreshed,
            )
            .await,
        "rotate_refresh_token_audited",
    );
    assert_eq!(missing, Rotation::Missing, "an unknown token is Missing");
    let late = next.expires_at;
    let expired = ok(
        store
            .rotate_refresh_token_audited(
                ENV,
                &next.digest,
                &successor(&next, late),
                late,
                &refreshed,
            )
            .await,
        "rotate_refresh_token_audited",
    );
    assert!(
        matches!(expired, Rotation::Expired(_)),
        "an audited rotation at expires_at must answer Expired, got {expired:?}"
    );
    let (_, after) = tenant_events(store, ENV, &grant.org).await;
    assert_eq!(
        after,
        before + 1,
        "rotations that did not happen must append no event"
    );
}

/// 50 concurrent audited rotations of one token: exactly one rotates, and exactly one event
/// is appended.
pub async fn audited_rotation_has_exactly_one_event_under_contention<S: Store + Clone>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    let token = grant.token(T0);
    insert_token(store, ENV, &token).await;
    let (_, before) = tenant_events(store, ENV, &grant.org).await;
    let refreshed = event("TOKENS_REFRESHED", &grant.org, at(60));
    let successors: Vec<RefreshTokenRecord> = (0..50).map(|_| successor(&token, at(60))).collect();
    let results = race(successors.len(), |i| {
        let store = store.clone();
        let old = token.digest;
        let next = successors[i].clone();
        let refreshed = refreshed.clone();
        async move {
            retried(|| store.rotate_refresh_token_audited(ENV, &old, &next, at(60), &refreshed))
                .await
        }
    })
    .await;
    let results: Vec<Rotation> = results
        .into_iter()
        .map(|r| ok(r, "rotate_refresh_token_audited"))
        .collect();
    assert_eq!(
        count(&results, |r| matches!(r, Rotation::Rotated(_))),
        1,
        "concurrent audited rotations of one token that got Rotated: {results:?}"
    );
    let (_, after) = tenant_events(store, ENV, &grant.org).await;
    assert_eq!(
        after,
        before + 1,
        "concurrent audited rotations must append exactly one event"
    );
}

/// A rotation racing a revocation of its family (20 rounds) either happens before it — and its
/// successor is revoked too — or fails: no live successor ever survives.
pub async fn rotation_racing_revocation_never_leaves_a_live_successor<S: Store + Clone>(store: &S) {
    let grant = Grant::fresh(store, ENV).await;
    for round in 0..20 {
        let token = grant.token(T0);
        insert_token(store, ENV, &token).await;
        let next = successor(&token, at(60));
        let barrier = Arc::new(Barrier::new(2));
        let rotation = tokio::spawn({
            let (store, barrier, old, next) = (
                store.clone(),
                Arc::clone(&barrier),
                token.digest,
                next.clone(),
            );
            async move {
                barrier.wait().await;
                retried(|| store.rotate_refresh_token(ENV, &old, &next, at(60))).await
            }
        });
        let revocation = tokio::spawn({
            let (store, barrier, family) = (store.clone(), Arc::clone(&barrier), token.family);
            async move {
                barrier.wait().await;
                retried(|| store.revoke_family(ENV, family, at(60))).await
            }
        });
        let rotation = ok(rotation.await.expect("task"), "rotate_refresh_token");
        let revoked_count = ok(revocation.await.expect("task"), "revoke_family");
        match rotation {
            Rotation::Rotated(_) => {
                assert_eq!(
                    revoked_count, 2,
                    "round {round}: the rotation came first, so the revocation must revoke the \
                     rotated token and its successor"
                );
                assert_eq!(
                    token_of(store, ENV, &next.digest).await,
                    Some(revoked(&next, at(60))),
                    "round {round}: a successor rotated before the revocation must be revoked"
                );
            }
            Rotation::NotCurrent(_) => {
                assert_eq!(
                    revoked_count, 1,
                    "round {round}: the revocation came first and revoked the one token"
                );
                assert_eq!(
                    token_of(store, ENV, &next.digest).await,
                    None,
                    "round {round}: a rotation after the revocation must not store a successor"
                );
            }
            other => panic!("round {round}: a rotation racing a revocation answered {other:?}"),
        }
        let old = token_of(store, ENV, &token.digest).await;
        assert!(
            matches!(
                old,
                Some(RefreshTokenRecord {
                    state: RefreshState::Revoked { .. },
                    ..
                })
            ),
            "round {round}: the raced token must end revoked, got {old:?}"
        );
    }
}
