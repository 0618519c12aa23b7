//! Custom claims under concurrency, through the public API, on every store adapter:
//! `MemoryStore`, SQLite (a file of the test's own) and PostgreSQL (a fresh schema; with
//! `--features postgres` and `IDCORE_TEST_POSTGRES_URL`, otherwise skipped). Each scenario is a
//! generic function over the store; [`on_every_store!`] expands it into `memory::<name>`,
//! `sqlite::<name>` and `postgres::<name>`. The tasks are released together by a barrier on a
//! four-worker runtime, and outcomes are exact: one value per key, the last writer's; no
//! orphan after a removal; exactly the limit of metakeys.

#[cfg(feature = "postgres")]
mod pg_schema;
mod sqlite_file;
mod support;

use std::sync::Arc;

use idcore::audit::EventCode;
use idcore::claims::{AttributeUpdate, MAX_METAKEYS, MetaKeyType, MetaValue};
use idcore::directory::User;
use idcore::store::Store;
use idcore::tokens::{ClientAuth, TokenSet};
use idcore::{Error, PageRequest, Resource};
use support::*;

on_every_store!(
    "claims", "claims", 16;
    concurrent_sets_of_one_key_keep_one_value_the_last_writers,
    a_key_removed_while_its_values_are_set_leaves_no_orphan,
    concurrent_creations_admit_exactly_the_metakey_limit,
    concurrent_partial_attribute_updates_lose_no_field,
);

const EMAIL: &str = "ada@example.com";

/// Signs the user in and exchanges the code: what a client holds after a sign-in.
async fn tokens<S: Store>(f: &Fx<S>) -> TokenSet {
    let authorized = expect_complete(f.sign_in(EMAIL, PASSWORD).await);
    f.identity
        .tokens()
        .exchange_code(
            &ClientAuth::public(f.client),
            authorized.code.expose(),
            REDIRECT,
            VERIFIER,
        )
        .await
        .expect("tokens")
}

/// The metadata of the access token, the ID token and the user info of `set`, which must agree.
async fn issued_metadata<S: Store>(f: &Fx<S>, set: &TokenSet) -> Vec<(String, MetaValue)> {
    let tokens = f.identity.tokens();
    let access = tokens
        .verify(&set.access_token)
        .await
        .expect("access token");
    let id = tokens
        .verify_id_token(&set.id_token, f.client)
        .await
        .expect("ID token");
    assert_eq!(
        access.claims.metadata, id.metadata,
        "access and ID tokens agree"
    );
    let info = tokens.userinfo(&set.access_token).await.expect("user info");
    assert_eq!(
        access.claims.metadata, info.metadata,
        "tokens and user info agree"
    );
    access.claims.metadata.0
}

/// 24 concurrent sets of one key for one user, each a different value: every set either
/// succeeds or answers a retryable conflict after losing its retries; the user then carries
/// exactly one value for the key, the one of the successful set that wrote last (the highest
/// version), and so do its next tokens.
async fn concurrent_sets_of_one_key_keep_one_value_the_last_writers<S: Store + Clone + 'static>(
    store: S,
) {
    let f = Arc::new(fixture_on(store, |b| b).await);
    let user = f.active_user(EMAIL).await.id;
    f.identity
        .claims(&f.org)
        .create_metakey("seats", MetaKeyType::Integer, false)
        .await
        .unwrap();
    let results = together(&f, 24, |f, i| async move {
        f.identity
            .claims(&f.org)
            .set_metadata(user, "seats", &i.to_string())
            .await
    })
    .await;
    let mut winners: Vec<(u64, usize)> = Vec::new();
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(u) => winners.push((u.version, i)),
            Err(e) if e.is_retryable() => {}
            Err(e) => panic!("set {i}: unexpected {e:?}"),
        }
    }
    assert!(!winners.is_empty(), "at least one set succeeds");
    winners.sort_unstable();
    let versions: Vec<u64> = winners.iter().map(|(v, _)| *v).collect();
    let before = versions[0];
    assert_eq!(
        versions,
        (before..before + winners.len() as u64).collect::<Vec<_>>(),
        "each successful set wrote one version after the other"
    );
    let last = winners.last().expect("a winner").1;
    let stored = f.identity.users(&f.org).retrieve(user).await.unwrap();
    assert_eq!(stored.metadata.len(), 1, "one value, no duplicate");
    assert_eq!(stored.metadata[0].value, MetaValue::Integer(last as i64));
    assert_eq!(
        f.events(EventCode::METADATA_SET).await.len(),
        winners.len(),
        "one event per successful set"
    );
    let set = tokens(&f).await;
    assert_eq!(
        issued_metadata(&f, &set).await,
        vec![("seats".to_owned(), MetaValue::Integer(last as i64))]
    );
}

/// A metakey removed while 16 sets of it race: each set succeeds or answers that the key is
/// not found (or a retryable conflict); whatever the order, the next tokens, the user info
/// and the user's view carry no value for it, and a key created again with the same name does
/// not bring one back.
async fn a_key_removed_while_its_values_are_set_leaves_no_orphan<S: Store + Clone + 'static>(
    store: S,
) {
    let f = Arc::new(fixture_on(store, |b| b).await);
    let user = f.active_user(EMAIL).await.id;
    let claims = f.identity.claims(&f.org);
    claims
        .create_metakey("plan", MetaKeyType::String, false)
        .await
        .unwrap();
    claims
        .create_metakey("team", MetaKeyType::String, false)
        .await
        .unwrap();
    claims.set_metadata(user, "team", "blue").await.unwrap();
    let results = together(&f, 17, |f, i| async move {
        let claims = f.identity.claims(&f.org);
        if i == 8 {
            claims.remove_metakey("plan").await.map(|_| None)
        } else {
            claims
                .set_metadata(user, "plan", &format!("plan-{i}"))
                .await
                .map(Some)
        }
    })
    .await;
    assert!(
        matches!(results[8], Ok(None)),
        "the removal succeeds: {:?}",
        results[8]
    );
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(_) | Err(Error::NotFound(Resource::MetaKey)) => {}
            Err(e) if e.is_retryable() => {}
            Err(e) => panic!("task {i}: unexpected {e:?}"),
        }
    }
    let team = vec![("team".to_owned(), MetaValue::Text("blue".to_owned()))];
    let set = tokens(&f).await;
    assert_eq!(
        issued_metadata(&f, &set).await,
        team,
        "no value of the removed key"
    );
    let stored: User = f.identity.users(&f.org).retrieve(user).await.unwrap();
    let view = claims.user_view(&stored).await.unwrap();
    let names: Vec<&str> = view["metadata"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e["key"]["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["team"], "the view shows no orphan");
    claims
        .create_metakey("plan", MetaKeyType::String, false)
        .await
        .unwrap();
    let set = tokens(&f).await;
    assert_eq!(
        issued_metadata(&f, &set).await,
        team,
        "a new key of the same name starts without values"
    );
}

/// `MAX_METAKEYS + 16` concurrent creations of distinct names, each retried while it answers a
/// retryable conflict: exactly `MAX_METAKEYS` keys are created and listed, and exactly 16
/// creations are refused with `limit_reached`.
async fn concurrent_creations_admit_exactly_the_metakey_limit<S: Store + Clone + 'static>(
    store: S,
) {
    let f = Arc::new(fixture_on(store, |b| b).await);
    let n = MAX_METAKEYS + 16;
    let results = together(&f, n, |f, i| async move {
        loop {
            match f
                .identity
                .claims(&f.org)
                .create_metakey(&format!("key{i:03}"), MetaKeyType::String, false)
                .await
            {
                Err(e) if e.is_retryable() => tokio::task::yield_now().await,
                other => return other,
            }
        }
    })
    .await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(Error::LimitReached {
                    what: "metakeys",
                    limit: MAX_METAKEYS
                })
            )
        })
        .count();
    assert_eq!((created, refused), (MAX_METAKEYS, 16), "{results:?}");
    let listed = f
        .identity
        .claims(&f.org)
        .metakeys(PageRequest::new(1, 100).unwrap())
        .await
        .unwrap();
    assert_eq!(listed.total, MAX_METAKEYS as u64);
    let mut names: Vec<String> = listed.data.iter().map(|k| k.name.to_string()).collect();
    let mut expected: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|k| k.name.to_string())
        .collect();
    names.sort();
    expected.sort();
    assert_eq!(names, expected, "exactly the keys whose creation succeeded");
    assert_eq!(
        f.events(EventCode::METAKEY_CREATED).await.len(),
        MAX_METAKEYS
    );
}

/// 16 concurrent partial attribute updates of one user, each naming one of the four lists
/// (roles, actions, attributes, groups) and retried while it answers a retryable conflict:
/// no update is lost, and each list holds the value of the last update that named it.
async fn concurrent_partial_attribute_updates_lose_no_field<S: Store + Clone + 'static>(store: S) {
    let f = Arc::new(fixture_on(store, |b| b).await);
    let user = f.active_user(EMAIL).await.id;
    let value = |i: usize| -> String {
        match i % 4 {
            1 => format!("App{i:02}:Read"),
            _ => format!("Value{i:02}"),
        }
    };
    let results = together(&f, 16, |f, i| async move {
        let list = Some(vec![value(i)]);
        let mut update = AttributeUpdate::default();
        match i % 4 {
            0 => update.roles = list,
            1 => update.actions = list,
            2 => update.attributes = list,
            _ => update.groups = list,
        }
        loop {
            match f
                .identity
                .claims(&f.org)
                .update_attributes_of(user, &update)
                .await
            {
                Err(e) if e.is_retryable() => tokio::task::yield_now().await,
                other => return other.map(|u| u.version),
            }
        }
    })
    .await;
    let versions: Vec<u64> = results
        .iter()
        .map(|r| *r.as_ref().expect("every update succeeds"))
        .collect();
    let mut sorted = versions.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 16, "16 distinct versions: no update lost");
    let last_of = |field: usize| -> Vec<String> {
        let i = (0..16)
            .filter(|i| i % 4 == field)
            .max_by_key(|i| versions[*i])
            .expect("four updates per list");
        vec![value(i)]
    };
    let stored = f.identity.users(&f.org).retrieve(user).await.unwrap();
    let strings = |labels: &[idcore::claims::Label]| -> Vec<String> {
        labels.iter().map(ToString::to_string).collect()
    };
    assert_eq!(strings(&stored.rbac.roles), last_of(0));
    assert_eq!(strings(&stored.rbac.actions), last_of(1));
    assert_eq!(strings(&stored.rbac.attributes), last_of(2));
    assert_eq!(strings(&stored.rbac.groups), last_of(3));
    let set = tokens(&f).await;
    let access = f.identity.tokens().verify(&set.access_token).await.unwrap();
    assert!(access.claims.has_action(&last_of(1)[0]));
    assert!(access.claims.in_group(&last_of(3)[0]));
}
