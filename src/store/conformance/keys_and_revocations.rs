//! Conformance checks: peek, signing keys, revocation feed.

use super::*;

/// `peek_once` shows the payload of an entry `take` would take, and changes nothing.
pub async fn peek_once_shows_only_a_takeable_entry<S: Store>(store: &S) {
    let key = fresh_key("peek");
    assert_eq!(
        ok(store.peek_once(ENV, &key, T0).await, "peek_once"),
        None,
        "unknown key"
    );
    ok(
        store
            .put_once(ENV, &key, &one_time_entry(b"p", T0), T0)
            .await,
        "put_once",
    );
    for _ in 0..2 {
        assert_eq!(
            ok(store.peek_once(ENV, &key, at(1)).await, "peek_once"),
            Some(b"p".to_vec()),
            "an untaken, unexpired entry"
        );
    }
    assert_eq!(
        ok(store.take(ENV, &key, at(2)).await, "take"),
        Take::Taken(b"p".to_vec()),
        "peeking must not take"
    );
    assert_eq!(
        ok(store.peek_once(ENV, &key, at(3)).await, "peek_once"),
        None,
        "a taken entry"
    );
    let expiring = fresh_key("peek-expiry");
    ok(
        store
            .put_once(ENV, &expiring, &one_time_entry(b"e", T0), T0)
            .await,
        "put_once",
    );
    assert_eq!(
        ok(
            store
                .peek_once(ENV, &expiring, T0 + Duration::minutes(10))
                .await,
            "peek_once"
        ),
        None,
        "an entry at its expires_at"
    );
}

pub(super) fn signing_key(org: &OrgDomain, created_at: OffsetDateTime) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: unique("kid"),
        org: org.clone(),
        algorithm: Algorithm::Es256,
        sealed_private_key: random::<64>().to_vec(),
        created_at,
        retires_at: None,
    }
}

/// Keys round-trip, list newest first per organization, have unique kids, and retire exactly.
pub async fn signing_keys_round_trip_newest_first_and_retire<S: Store>(store: &S) {
    let org = fresh_domain("keys");
    let other = fresh_domain("keys-other");
    let old = signing_key(&org, T0);
    let new = signing_key(&org, at(10));
    let foreign = signing_key(&other, at(5));
    for k in [&old, &new, &foreign] {
        ok(store.insert_signing_key(ENV, k).await, "insert_signing_key");
    }
    assert_eq!(
        Outcome::of(
            &store
                .insert_signing_key(
                    ENV,
                    &SigningKeyRecord {
                        org: other.clone(),
                        ..new.clone()
                    }
                )
                .await
        ),
        Outcome::AlreadyExists("kid"),
        "a kid is unique in the environment"
    );
    assert_eq!(
        ok(store.signing_keys(ENV, &org, at(20)).await, "signing_keys"),
        vec![new.clone(), old.clone()],
        "the organization's keys, newest first"
    );
    assert_eq!(
        ok(
            store
                .retire_signing_keys(ENV, &org, &new.kid, at(100))
                .await,
            "retire_signing_keys"
        ),
        1,
        "every key but the kept one, of this organization only"
    );
    let retiring = SigningKeyRecord {
        retires_at: Some(at(100)),
        ..old.clone()
    };
    assert_eq!(
        ok(store.signing_keys(ENV, &org, at(99)).await, "signing_keys"),
        vec![new.clone(), retiring],
        "a retiring key verifies until retires_at"
    );
    assert_eq!(
        ok(store.signing_keys(ENV, &org, at(100)).await, "signing_keys"),
        vec![new.clone()],
        "a key at its retires_at is gone"
    );
    assert_eq!(
        ok(
            store
                .retire_signing_keys(ENV, &org, &new.kid, at(200))
                .await,
            "retire_signing_keys"
        ),
        0,
        "a key already retiring keeps its instant"
    );
    assert_eq!(
        ok(
            store.signing_keys(ENV, &other, at(20)).await,
            "signing_keys"
        ),
        vec![foreign],
        "another organization's keys are untouched"
    );
    assert_eq!(
        ok(
            store.signing_keys(Environment::Sandbox, &org, at(20)).await,
            "signing_keys"
        ),
        Vec::new(),
        "keys are isolated by environment"
    );
}

pub(super) fn ours(entries: Vec<(u64, Revocation)>, subjects: &[Uuid]) -> Vec<(u64, Revocation)> {
    entries
        .into_iter()
        .filter(|(_, r)| subjects.contains(&revocation_subject(r)))
        .collect()
}

pub(super) fn revocation_subject(r: &Revocation) -> Uuid {
    match r {
        Revocation::Token { jti, .. } => *jti,
        Revocation::Grant { family, .. } => family.0,
        Revocation::User { user_id, .. } => user_id.as_uuid(),
        Revocation::Organization { id, .. } => id.as_uuid(),
        Revocation::Client { client_id, .. } => client_id.as_uuid(),
    }
}

/// Every kind of revocation round-trips through the feed, in sequence order; lapsed ones are
/// not returned; the feed is isolated by environment.
pub async fn revocations_round_trip_in_sequence_order<S: Store>(store: &S) {
    let org = fresh_domain("revoke");
    let entries = [
        Revocation::Token {
            jti: fresh_uuid(),
            expires_at: at(3600),
        },
        Revocation::Grant {
            family: FamilyId(fresh_uuid()),
            expires_at: at(3600),
        },
        Revocation::User {
            org: org.clone(),
            user_id: UserId::from_uuid(fresh_uuid()),
            not_before: at(1),
            expires_at: at(3600),
        },
        Revocation::Client {
            client_id: ClientId::from_uuid(fresh_uuid()),
            not_before: at(2),
            expires_at: at(3600),
        },
        Revocation::Organization {
            id: OrganizationId::from_uuid(fresh_uuid()),
            org: org.clone(),
            not_before: at(3),
            expires_at: at(3600),
        },
        Revocation::Token {
            jti: fresh_uuid(),
            expires_at: at(60),
        },
    ];
    let subjects: Vec<Uuid> = entries.iter().map(revocation_subject).collect();
    let mut seqs = Vec::new();
    for r in &entries {
        seqs.push(ok(
            store.record_revocation(ENV, r).await,
            "record_revocation",
        ));
    }
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequences increase: {seqs:?}"
    );
    let all = ours(
        ok(
            store.revocations_since(ENV, 0, T0).await,
            "revocations_since",
        ),
        &subjects,
    );
    let expected: Vec<(u64, Revocation)> =
        seqs.iter().copied().zip(entries.iter().cloned()).collect();
    assert_eq!(
        all, expected,
        "every entry, in sequence order, exactly as recorded"
    );
    let after_second = ours(
        ok(
            store.revocations_since(ENV, seqs[1], T0).await,
            "revocations_since",
        ),
        &subjects,
    );
    assert_eq!(
        after_second,
        expected[2..].to_vec(),
        "only entries after the given sequence"
    );
    let later = ours(
        ok(
            store.revocations_since(ENV, 0, at(60)).await,
            "revocations_since",
        ),
        &subjects,
    );
    assert_eq!(
        later,
        expected[..5].to_vec(),
        "an entry at its expires_at has lapsed"
    );
    let sandbox = ours(
        ok(
            store.revocations_since(Environment::Sandbox, 0, T0).await,
            "revocations_since",
        ),
        &subjects,
    );
    assert_eq!(sandbox, Vec::new(), "the feed is isolated by environment");
}

/// A reader polling "after the last sequence I saw" while 8 writers append 200 revocations
/// misses none of them.
pub async fn revocation_feed_misses_nothing_under_contention<S: Store + Clone>(store: &S) {
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let subjects: Arc<Vec<Uuid>> = Arc::new((0..WRITERS * EACH).map(|_| fresh_uuid()).collect());
    let barrier = Arc::new(Barrier::new(WRITERS + 1));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (store, subjects, barrier) =
            (store.clone(), Arc::clone(&subjects), Arc::clone(&barrier));
        writers.push(tokio::spawn(async move {
            barrier.wait().await;
            for i in 0..EACH {
                let r = Revocation::Token {
                    jti: subjects[w * EACH + i],
                    expires_at: at(3600),
                };
                loop {
                    match store.record_revocation(ENV, &r).await {
                        Err(StoreError::Retryable { .. }) => continue,
                        result => {
                            ok(result, "record_revocation");
                            break;
                        }
                    }
                }
            }
        }));
    }
    barrier.wait().await;
    let mut cursor = 0u64;
    let mut seen: Vec<Uuid> = Vec::new();
    let poll = async |cursor: &mut u64, seen: &mut Vec<Uuid>| {
        let batch = ok(
            store.revocations_since(ENV, *cursor, T0).await,
            "revocations_since",
        );
        for (seq, r) in batch {
            assert!(seq > *cursor, "entries come after the cursor, in order");
            *cursor = seq;
            let subject = revocation_subject(&r);
            if subjects.contains(&subject) {
                seen.push(subject);
            }
        }
    };
    while !writers.iter().all(|w| w.is_finished()) {
        poll(&mut cursor, &mut seen).await;
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.expect("writer task");
    }
    poll(&mut cursor, &mut seen).await;
    seen.sort();
    let mut all = subjects.to_vec();
    all.sort();
    assert_eq!(
        seen.len(),
        all.len(),
        "a polling reader must not miss an entry"
    );
    assert_eq!(seen, all);
}
