//! Conformance checks: API keys.

use super::*;
use crate::model::api_key::{ApiKeyId, ApiKeyRole};
use crate::model::fields::Text;
use crate::store::{ApiKeyRecord, KeyRotation};

/// A live API key of `org` created at `at(created)`, generation 1, with a fresh id, random
/// sealed-secret bytes, every optional field set but the revocation and rotation ones.
pub fn api_key_record(org: &OrgDomain, created: i64) -> ApiKeyRecord {
    ApiKeyRecord {
        id: ApiKeyId::from_uuid(fresh_uuid()),
        org: org.clone(),
        role: ApiKeyRole::Owner,
        name: name("conformance key"),
        description: Some(Text::parse("a key of the conformance suite\nline two").expect("text")),
        sealed_secret: random::<60>().to_vec(),
        previous_sealed_secret: None,
        previous_expires_at: None,
        generation: 1,
        created_at: at(created),
        expires_at: Some(at(created + 86_400)),
        revoked_at: None,
        last_used_at: Some(at(created)),
        rotated_at: None,
    }
}

fn key_event(code: &str, org: &OrgDomain, seconds: i64) -> NewEvent {
    event(code, org, at(seconds))
}

fn rotation(previous_until: i64, rotated: i64) -> KeyRotation {
    KeyRotation {
        sealed_secret: random::<60>().to_vec(),
        previous_expires_at: at(previous_until),
        rotated_at: at(rotated),
    }
}

/// An inserted key reads back as stored, by id (whatever the organization) and in its
/// organization's list, with its event; an unknown id is `None`.
pub async fn api_key_round_trips<S: Store>(store: &S) {
    let org = fresh_domain("keys");
    let mut key = api_key_record(&org, 0);
    key.role = ApiKeyRole::Read;
    let bare = ApiKeyRecord {
        id: ApiKeyId::from_uuid(fresh_uuid()),
        description: None,
        expires_at: None,
        last_used_at: None,
        ..api_key_record(&org, 1)
    };
    for k in [&key, &bare] {
        ok(
            store
                .insert_api_key(ENV, k, &key_event("API_KEY_CREATED", &org, 0))
                .await,
            "insert_api_key",
        );
        assert_eq!(
            ok(store.api_key(ENV, k.id).await, "api_key"),
            Some(k.clone())
        );
    }
    assert_eq!(
        ok(
            store.list_api_keys(ENV, &org, page(1, 10)).await,
            "list_api_keys"
        ),
        (vec![bare.clone(), key.clone()], 2),
        "newest first, with the total"
    );
    assert_eq!(
        ok(
            store.api_key(ENV, ApiKeyId::from_uuid(fresh_uuid())).await,
            "api_key"
        ),
        None
    );
    let (events, _) = tenant_events(store, ENV, &org).await;
    assert_eq!(codes(&events), ["API_KEY_CREATED", "API_KEY_CREATED"]);
}

/// A taken key id answers `AlreadyExists { key: "key_id" }`, even in another organization, and
/// writes neither the record nor the event.
pub async fn api_key_id_is_unique_and_a_refused_insert_writes_nothing<S: Store>(store: &S) {
    let (org, other) = (fresh_domain("keys"), fresh_domain("keys"));
    let key = api_key_record(&org, 0);
    ok(
        store
            .insert_api_key(ENV, &key, &key_event("API_KEY_CREATED", &org, 0))
            .await,
        "insert_api_key",
    );
    let clash = ApiKeyRecord {
        org: other.clone(),
        ..api_key_record(&other, 5)
    };
    let clash = ApiKeyRecord {
        id: key.id,
        ..clash
    };
    assert_eq!(
        Outcome::of(
            &store
                .insert_api_key(ENV, &clash, &key_event("API_KEY_CREATED", &other, 5))
                .await
        ),
        Outcome::AlreadyExists("key_id")
    );
    assert_eq!(ok(store.api_key(ENV, key.id).await, "api_key"), Some(key));
    assert_eq!(
        ok(
            store.list_api_keys(ENV, &other, page(1, 10)).await,
            "list_api_keys"
        ),
        (vec![], 0)
    );
    assert_eq!(tenant_events(store, ENV, &other).await, (vec![], 0));
}

/// An organization's keys list newest first (ties in `created_at` by id), scoped to it; walking
/// by cursors returns exactly what walking by page numbers does.
pub async fn api_keys_list_newest_first_and_cursor_walk_matches_page_walk<S: Store>(store: &S) {
    let (org, other) = (fresh_domain("keys"), fresh_domain("keys"));
    let mut all = Vec::new();
    for created in [3, 1, 2, 2, 5, 4, 2] {
        let key = api_key_record(&org, created);
        ok(
            store
                .insert_api_key(ENV, &key, &key_event("API_KEY_CREATED", &org, created))
                .await,
            "insert_api_key",
        );
        all.push(key);
    }
    ok(
        store
            .insert_api_key(
                ENV,
                &api_key_record(&other, 9),
                &key_event("API_KEY_CREATED", &other, 9),
            )
            .await,
        "insert_api_key",
    );
    sort_newest_first(&mut all, |k| (k.created_at, k.id.as_uuid()));
    let mut by_number = Vec::new();
    let mut by_cursor = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for n in 1..=4 {
        let (items, total) = ok(
            store.list_api_keys(ENV, &org, page(n, 2)).await,
            "list_api_keys",
        );
        assert_eq!(total, 7, "page {n}: the organization's total");
        assert_eq!(items, chunk(&all, 2, n as usize), "page {n} by number");
        by_number.extend(items);
        let request = match cursor {
            Some(c) => page(n, 2).after(c),
            None => page(n, 2),
        };
        let (items, total) = ok(
            store.list_api_keys(ENV, &org, request).await,
            "list_api_keys after a cursor",
        );
        assert_eq!(total, 7);
        cursor = items.last().map(|k| {
            Cursor::newest(ListKind::ApiKeys, k.created_at, k.id.as_uuid()).expect("a cursor")
        });
        by_cursor.extend(items);
    }
    assert_eq!(by_number, all);
    assert_eq!(by_cursor, all, "the cursor walk");
}

/// Revoking sets `revoked_at` and writes the event once; a second revocation, another
/// organization's and an unknown key answer `None` and write nothing.
pub async fn api_key_revocation_happens_once_in_its_organization<S: Store>(store: &S) {
    let (org, other) = (fresh_domain("keys"), fresh_domain("keys"));
    let key = api_key_record(&org, 0);
    ok(
        store
            .insert_api_key(ENV, &key, &key_event("API_KEY_CREATED", &org, 0))
            .await,
        "insert_api_key",
    );
    let revoke = |org: &OrgDomain, id: ApiKeyId, seconds: i64| {
        let event = key_event("API_KEY_REVOKED", org, seconds);
        let org = org.clone();
        async move {
            store
                .revoke_api_key(ENV, &org, id, at(seconds), &event)
                .await
        }
    };
    assert_eq!(ok(revoke(&other, key.id, 5).await, "revoke"), None);
    assert_eq!(
        ok(
            revoke(&org, ApiKeyId::from_uuid(fresh_uuid()), 5).await,
            "revoke"
        ),
        None
    );
    let revoked = ApiKeyRecord {
        revoked_at: Some(at(10)),
        ..key.clone()
    };
    assert_eq!(
        ok(revoke(&org, key.id, 10).await, "revoke"),
        Some(revoked.clone())
    );
    assert_eq!(ok(revoke(&org, key.id, 20).await, "revoke again"), None);
    assert_eq!(
        ok(store.api_key(ENV, key.id).await, "api_key"),
        Some(revoked)
    );
    let (events, _) = tenant_events(store, ENV, &org).await;
    assert_eq!(codes(&events), ["API_KEY_REVOKED", "API_KEY_CREATED"]);
    assert_eq!(tenant_events(store, ENV, &other).await.1, 0);
}

/// Rotation keeps the replaced secret until `previous_expires_at`, bumps the generation, and is
/// conditional: a stale generation or a revoked key answers `Precondition`, another
/// organization's or an unknown key `NotFound`, and then nothing is written. An overlap that
/// ends at the rotation keeps no previous secret (and drops an older one).
pub async fn api_key_rotation_is_conditional_on_the_generation<S: Store>(store: &S) {
    let (org, other) = (fresh_domain("keys"), fresh_domain("keys"));
    let key = api_key_record(&org, 0);
    ok(
        store
            .insert_api_key(ENV, &key, &key_event("API_KEY_CREATED", &org, 0))
            .await,
        "insert_api_key",
    );
    let first = rotation(3_600, 10);
    let rotated = ok(
        store
            .rotate_api_key(
                ENV,
                &org,
                key.id,
                1,
                &first,
                &key_event("API_KEY_ROTATED", &org, 10),
            )
            .await,
        "rotate",
    );
    let expected = ApiKeyRecord {
        sealed_secret: first.sealed_secret.clone(),
        previous_sealed_secret: Some(key.sealed_secret.clone()),
        previous_expires_at: Some(at(3_600)),
        generation: 2,
        rotated_at: Some(at(10)),
        ..key.clone()
    };
    assert_eq!(rotated, expected);
    for (org_of, id, generation, outcome) in [
        (&org, key.id, 1, Outcome::Precondition),
        (&other, key.id, 2, Outcome::NotFound),
        (
            &org,
            ApiKeyId::from_uuid(fresh_uuid()),
            1,
            Outcome::NotFound,
        ),
    ] {
        let result = store
            .rotate_api_key(
                ENV,
                org_of,
                id,
                generation,
                &rotation(9_000, 20),
                &key_event("API_KEY_ROTATED", org_of, 20),
            )
            .await;
        assert_eq!(Outcome::of(&result), outcome, "generation {generation}");
    }
    assert_eq!(
        ok(store.api_key(ENV, key.id).await, "api_key"),
        Some(expected.clone()),
        "refused rotations write nothing"
    );
    let second = rotation(30, 30);
    let without_overlap = ok(
        store
            .rotate_api_key(
                ENV,
                &org,
                key.id,
                2,
                &second,
                &key_event("API_KEY_ROTATED", &org, 30),
            )
            .await,
        "rotate without overlap",
    );
    assert_eq!(
        without_overlap,
        ApiKeyRecord {
            sealed_secret: second.sealed_secret.clone(),
            previous_sealed_secret: None,
            previous_expires_at: None,
            generation: 3,
            rotated_at: Some(at(30)),
            ..key.clone()
        }
    );
    ok(
        store
            .revoke_api_key(
                ENV,
                &org,
                key.id,
                at(40),
                &key_event("API_KEY_REVOKED", &org, 40),
            )
            .await,
        "revoke",
    );
    let revoked = store
        .rotate_api_key(
            ENV,
            &org,
            key.id,
            3,
            &rotation(9_000, 50),
            &key_event("API_KEY_ROTATED", &org, 50),
        )
        .await;
    assert_eq!(
        Outcome::of(&revoked),
        Outcome::Precondition,
        "a revoked key"
    );
    let (events, _) = tenant_events(store, ENV, &org).await;
    assert_eq!(
        codes(&events),
        [
            "API_KEY_REVOKED",
            "API_KEY_ROTATED",
            "API_KEY_ROTATED",
            "API_KEY_CREATED"
        ]
    );
    assert_eq!(tenant_events(store, ENV, &other).await.1, 0);
}

/// `touch_api_key` writes `last_used_at` only when it is unset or before `if_before`.
pub async fn api_key_touch_writes_at_most_once_per_interval<S: Store>(store: &S) {
    let org = fresh_domain("keys");
    let key = ApiKeyRecord {
        last_used_at: None,
        ..api_key_record(&org, 0)
    };
    ok(
        store
            .insert_api_key(ENV, &key, &key_event("API_KEY_CREATED", &org, 0))
            .await,
        "insert_api_key",
    );
    let mut got = Vec::new();
    for (used, if_before) in [(10, -50), (30, -30), (69, 10), (70, 11), (71, 12)] {
        got.push(ok(
            store
                .touch_api_key(ENV, key.id, at(used), at(if_before))
                .await,
            "touch",
        ));
    }
    assert_eq!(got, [true, false, false, true, false]);
    assert_eq!(
        ok(store.api_key(ENV, key.id).await, "api_key").map(|k| k.last_used_at),
        Some(Some(at(70)))
    );
    assert!(!ok(
        store
            .touch_api_key(ENV, ApiKeyId::from_uuid(fresh_uuid()), at(1), at(1))
            .await,
        "touch an unknown key"
    ));
}

/// 50 concurrent rotations of one generation: exactly one succeeds, 49 answer `Precondition`;
/// one event; the stored secret is the winner's.
pub async fn api_key_rotation_has_exactly_one_winner_under_contention<S: Store + Clone>(store: &S) {
    let org = fresh_domain("keys");
    let key = api_key_record(&org, 0);
    ok(
        store
            .insert_api_key(ENV, &key, &key_event("API_KEY_CREATED", &org, 0))
            .await,
        "insert_api_key",
    );
    let results = race(50, |_| {
        let (store, org) = (store.clone(), org.clone());
        async move {
            let r = rotation(600, 10);
            let event = key_event("API_KEY_ROTATED", &org, 10);
            let result = retried(|| store.rotate_api_key(ENV, &org, key.id, 1, &r, &event)).await;
            (result, r.sealed_secret)
        }
    })
    .await;
    let outcomes: Vec<Outcome> = results.iter().map(|(r, _)| Outcome::of(r)).collect();
    assert_eq!(
        (
            count(&outcomes, |o| *o == Outcome::Ok),
            count(&outcomes, |o| *o == Outcome::Precondition)
        ),
        (1, 49),
        "concurrent rotations of generation 1: (Ok, Precondition)"
    );
    let winner = results
        .iter()
        .find(|(r, _)| r.is_ok())
        .map(|(_, sealed)| sealed.clone());
    let stored = ok(store.api_key(ENV, key.id).await, "api_key").expect("the key");
    assert_eq!((Some(stored.sealed_secret), stored.generation), (winner, 2));
    let (events, _) = tenant_events(store, ENV, &org).await;
    assert_eq!(codes(&events), ["API_KEY_ROTATED", "API_KEY_CREATED"]);
}

/// 50 concurrent revocations of one key: exactly one answers `Some`, one event.
pub async fn api_key_revocation_has_exactly_one_winner_under_contention<S: Store + Clone>(
    store: &S,
) {
    let org = fresh_domain("keys");
    let key = api_key_record(&org, 0);
    ok(
        store
            .insert_api_key(ENV, &key, &key_event("API_KEY_CREATED", &org, 0))
            .await,
        "insert_api_key",
    );
    let results = race(50, |i| {
        let (store, org) = (store.clone(), org.clone());
        async move {
            let event = key_event("API_KEY_REVOKED", &org, 10);
            retried(|| store.revoke_api_key(ENV, &org, key.id, at(10 + i as i64), &event)).await
        }
    })
    .await;
    let revoked: Vec<Option<ApiKeyRecord>> = results.into_iter().map(|r| ok(r, "revoke")).collect();
    assert_eq!(count(&revoked, Option::is_some), 1, "one revocation wins");
    let (events, _) = tenant_events(store, ENV, &org).await;
    assert_eq!(codes(&events), ["API_KEY_REVOKED", "API_KEY_CREATED"]);
}

/// A key of one environment is invisible from the other: not found, not listed, not revoked,
/// rotated or touched.
pub async fn api_keys_are_isolated_by_environment<S: Store>(store: &S) {
    let other_env = Environment::Sandbox;
    let org = fresh_domain("keys");
    let key = api_key_record(&org, 0);
    ok(
        store
            .insert_api_key(ENV, &key, &key_event("API_KEY_CREATED", &org, 0))
            .await,
        "insert_api_key",
    );
    assert_eq!(ok(store.api_key(other_env, key.id).await, "api_key"), None);
    assert_eq!(
        ok(
            store.list_api_keys(other_env, &org, page(1, 10)).await,
            "list"
        ),
        (vec![], 0)
    );
    assert_eq!(
        ok(
            store
                .revoke_api_key(
                    other_env,
                    &org,
                    key.id,
                    at(1),
                    &key_event("API_KEY_REVOKED", &org, 1)
                )
                .await,
            "revoke"
        ),
        None
    );
    let rotated = store
        .rotate_api_key(
            other_env,
            &org,
            key.id,
            1,
            &rotation(600, 1),
            &key_event("API_KEY_ROTATED", &org, 1),
        )
        .await;
    assert_eq!(Outcome::of(&rotated), Outcome::NotFound);
    assert!(!ok(
        store
            .touch_api_key(other_env, key.id, at(500), at(400))
            .await,
        "touch"
    ));
    assert_eq!(ok(store.api_key(ENV, key.id).await, "api_key"), Some(key));
}
