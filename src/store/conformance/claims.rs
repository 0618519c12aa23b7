//! Conformance checks: claim schemas, and the claim values a user carries (metadata and RBAC
//! attributes, written with the user).

use super::*;
use crate::model::claims::{ClaimSchema, MetaKey, MetaKeyName, MetaKeyType, RoleDefinition};

/// A claim schema at `version` with one metakey of every type (`required` on two of them) and
/// two role definitions, fresh metakey ids, created at whole seconds from [`T0`]; sorted by
/// name, as idcore keeps them.
pub fn claim_schema_record(version: u64) -> ClaimSchema {
    let key = |name: &str, kind, required, seconds| MetaKey {
        id: MetaKeyId::from_uuid(fresh_uuid()),
        name: MetaKeyName::parse(name).expect("constant is a valid metakey name"),
        kind,
        required,
        inserted_at: at(seconds),
    };
    ClaimSchema {
        metakeys: vec![
            key("contract.end", MetaKeyType::Date, false, 4),
            key("last audit", MetaKeyType::DateTime, false, 5),
            key("plan", MetaKeyType::String, true, 1),
            key("seats", MetaKeyType::Integer, true, 2),
            key("trial-user", MetaKeyType::Boolean, false, 3),
        ],
        roles: vec![
            RoleDefinition {
                name: label("App01AdministrationRole"),
                actions: vec![label("App01:Delete"), label("App01:Update")],
            },
            RoleDefinition {
                name: label("Équipe lecture"),
                actions: vec![label("App01:Read")],
            },
        ],
        version,
    }
}

/// A schema with the one metakey `name` (a string key), at `version`.
fn one_key_schema(name: &str, version: u64) -> ClaimSchema {
    ClaimSchema {
        metakeys: vec![MetaKey {
            id: MetaKeyId::from_uuid(fresh_uuid()),
            name: MetaKeyName::parse(name).expect("a valid metakey name"),
            kind: MetaKeyType::String,
            required: false,
            inserted_at: T0,
        }],
        roles: Vec::new(),
        version,
    }
}

/// The event of a schema write of `org` at `at(seconds)`.
fn schema_event(org: &OrgDomain, seconds: i64) -> NewEvent {
    event("METAKEY_CREATED", org, at(seconds))
}

/// A metadata entry with a fresh id, for a fresh key id.
fn entry(value: MetaValue) -> MetadataEntry {
    MetadataEntry {
        id: fresh_uuid(),
        key_id: MetaKeyId::from_uuid(fresh_uuid()),
        value,
    }
}

/// Writes `schema` expecting `expected` (setup).
async fn put<S: Store>(store: &S, env: Environment, org: &OrgDomain, schema: &ClaimSchema) {
    let expected = schema.version - 1;
    ok(
        store
            .put_claim_schema(env, org, schema, expected, &schema_event(org, 0))
            .await,
        "put_claim_schema",
    );
}

/// An organization that never had a schema reads the empty one at version 0.
pub async fn claim_schema_is_empty_at_version_0_until_written<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "claims-none").await;
    assert_eq!(
        ok(store.claim_schema(ENV, &org).await, "claim_schema"),
        ClaimSchema::default(),
        "no schema written: the empty schema at version 0"
    );
    assert_eq!(
        ok(
            store.claim_schema(ENV, &fresh_domain("claims-none")).await,
            "claim_schema"
        ),
        ClaimSchema::default(),
        "an unknown organization reads the empty schema too"
    );
}

/// A written schema reads back exactly — every metakey type, `required`, creation times, role
/// definitions and their actions — with the version it was written at; so does the next write.
pub async fn claim_schema_round_trips_with_its_version<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "claims-rt").await;
    let first = claim_schema_record(1);
    ok(
        store
            .put_claim_schema(ENV, &org, &first, 0, &schema_event(&org, 1))
            .await,
        "put_claim_schema of the first schema",
    );
    assert_eq!(
        ok(store.claim_schema(ENV, &org).await, "claim_schema"),
        first,
        "the stored schema, every field intact, at version 1"
    );
    let mut second = first.clone();
    second.metakeys.remove(2);
    second.roles[0].actions.push(label("App01:Write"));
    second.roles.remove(1);
    second.version = 2;
    ok(
        store
            .put_claim_schema(ENV, &org, &second, 1, &schema_event(&org, 2))
            .await,
        "put_claim_schema of the next version",
    );
    assert_eq!(
        ok(store.claim_schema(ENV, &org).await, "claim_schema"),
        second,
        "the replaced schema, at version 2"
    );
    let emptied = ClaimSchema {
        version: 3,
        ..ClaimSchema::default()
    };
    ok(
        store
            .put_claim_schema(ENV, &org, &emptied, 2, &schema_event(&org, 3))
            .await,
        "put_claim_schema of an empty schema",
    );
    assert_eq!(
        ok(store.claim_schema(ENV, &org).await, "claim_schema"),
        emptied,
        "an emptied schema keeps its version"
    );
}

/// A write whose expected version is not the stored one answers `Precondition` and changes
/// nothing: expecting 0 once a schema is stored, expecting a version never stored, expecting
/// a version where none is stored.
pub async fn claim_schema_write_is_conditional_on_version<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "claims-cas").await;
    let stored = claim_schema_record(1);
    put(store, ENV, &org, &stored).await;
    for expected in [0, 2, 7] {
        let result = store
            .put_claim_schema(
                ENV,
                &org,
                &one_key_schema("stale", expected + 1),
                expected,
                &schema_event(&org, 5),
            )
            .await;
        assert_eq!(
            Outcome::of(&result),
            Outcome::Precondition,
            "put_claim_schema expecting version {expected} where version 1 is stored"
        );
    }
    assert_eq!(
        ok(store.claim_schema(ENV, &org).await, "claim_schema"),
        stored,
        "refused writes must change nothing"
    );
    let empty = fresh_org(store, ENV, "claims-cas").await;
    let result = store
        .put_claim_schema(
            ENV,
            &empty,
            &one_key_schema("early", 2),
            1,
            &schema_event(&empty, 5),
        )
        .await;
    assert_eq!(
        Outcome::of(&result),
        Outcome::Precondition,
        "put_claim_schema expecting version 1 where none is stored"
    );
    assert_eq!(
        ok(store.claim_schema(ENV, &empty).await, "claim_schema"),
        ClaimSchema::default(),
        "a refused first write must store nothing"
    );
}

/// A schema write and its event are written together: exactly one event per successful write,
/// none for a refused one.
pub async fn claim_schema_writes_record_their_event_atomically<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "claims-ev").await;
    let only =
        |code: &str| EventQuery::tenant(&org).code(EventCode::parse(code).expect("an event code"));
    let schema_events = || async {
        ok(
            store
                .events(ENV, &only("METAKEY_CREATED"), page(1, 100))
                .await,
            "events",
        )
        .1
    };
    put(store, ENV, &org, &claim_schema_record(1)).await;
    assert_eq!(schema_events().await, 1, "one event after one write");
    for expected in [0, 5] {
        let refused = store
            .put_claim_schema(
                ENV,
                &org,
                &one_key_schema("refused", expected + 1),
                expected,
                &schema_event(&org, 9),
            )
            .await;
        assert_eq!(Outcome::of(&refused), Outcome::Precondition);
    }
    assert_eq!(
        schema_events().await,
        1,
        "a refused write must not record its event"
    );
    put(store, ENV, &org, &one_key_schema("next", 2)).await;
    assert_eq!(schema_events().await, 2, "one event per write");
}

/// 16 concurrent first writes (expecting version 0), then 16 concurrent next writes (expecting
/// version 1): each time exactly one succeeds and 15 answer `Precondition`, the stored schema
/// is the winner's, and only the winners' events are recorded.
pub async fn claim_schema_write_has_exactly_one_winner_under_contention<S: Store + Clone>(
    store: &S,
) {
    let org = fresh_org(store, ENV, "claims-race").await;
    for expected in [0, 1] {
        let schemas: Vec<ClaimSchema> = (0..16)
            .map(|i| one_key_schema(&format!("key-{expected}-{i:02}"), expected + 1))
            .collect();
        let results = race(schemas.len(), |i| {
            let (store, org, schema) = (store.clone(), org.clone(), schemas[i].clone());
            async move {
                let event = schema_event(&org, 10);
                Outcome::of(
                    &retried(|| store.put_claim_schema(ENV, &org, &schema, expected, &event)).await,
                )
            }
        })
        .await;
        assert_eq!(
            (
                count(&results, |r| *r == Outcome::Ok),
                count(&results, |r| *r == Outcome::Precondition)
            ),
            (1, 15),
            "16 concurrent writes expecting version {expected}: (Ok, Precondition): {results:?}"
        );
        let winner = results
            .iter()
            .position(|r| *r == Outcome::Ok)
            .expect("one write succeeded (asserted above)");
        assert_eq!(
            ok(store.claim_schema(ENV, &org).await, "claim_schema"),
            schemas[winner],
            "the stored schema must be the winner's"
        );
    }
    let query = EventQuery::tenant(&org).code(EventCode::parse("METAKEY_CREATED").expect("code"));
    let (_, total) = ok(store.events(ENV, &query, page(1, 100)).await, "events");
    assert_eq!(
        total, 2,
        "events of 2 × 16 racing writes: only the 2 winners'"
    );
}

/// One organization's schema is never read or written through another's: each reads its
/// own, and a write to one leaves the other as it was.
pub async fn claim_schemas_are_scoped_by_organization<S: Store>(store: &S) {
    let a = fresh_org(store, ENV, "claims-a").await;
    let b = fresh_org(store, ENV, "claims-b").await;
    let of_a = claim_schema_record(1);
    put(store, ENV, &a, &of_a).await;
    assert_eq!(
        ok(store.claim_schema(ENV, &b).await, "claim_schema"),
        ClaimSchema::default(),
        "another organization's schema must not be read"
    );
    let refused = store
        .put_claim_schema(ENV, &b, &one_key_schema("b", 2), 1, &schema_event(&b, 1))
        .await;
    assert_eq!(
        Outcome::of(&refused),
        Outcome::Precondition,
        "the version of another organization's schema must not count"
    );
    let of_b = one_key_schema("b", 1);
    put(store, ENV, &b, &of_b).await;
    assert_eq!(
        ok(store.claim_schema(ENV, &a).await, "claim_schema"),
        of_a,
        "a write to another organization must leave this one's schema"
    );
    assert_eq!(ok(store.claim_schema(ENV, &b).await, "claim_schema"), of_b);
}

/// A schema of one environment is invisible from the other: the other reads the empty schema,
/// counts its own versions from 0, and its writes leave this one's schema as it was.
pub async fn claim_schemas_are_isolated_by_environment<S: Store>(store: &S) {
    let other_env = Environment::Sandbox;
    let org = fresh_org(store, ENV, "claims-env").await;
    let production = claim_schema_record(1);
    put(store, ENV, &org, &production).await;
    assert_eq!(
        ok(store.claim_schema(other_env, &org).await, "claim_schema"),
        ClaimSchema::default()
    );
    let refused = store
        .put_claim_schema(
            other_env,
            &org,
            &one_key_schema("sandbox", 2),
            1,
            &schema_event(&org, 1),
        )
        .await;
    assert_eq!(Outcome::of(&refused), Outcome::Precondition);
    let sandbox = one_key_schema("sandbox", 1);
    ok(
        store
            .put_claim_schema(other_env, &org, &sandbox, 0, &schema_event(&org, 1))
            .await,
        "put_claim_schema in the other environment",
    );
    assert_eq!(
        ok(store.claim_schema(ENV, &org).await, "claim_schema"),
        production
    );
    assert_eq!(
        ok(store.claim_schema(other_env, &org).await, "claim_schema"),
        sandbox
    );
}

/// `live_user_claims` answers a live user with its organization's schema (the empty one when
/// none was written), and `None` for an unknown user, another organization's user, and a user
/// of a deleted organization.
pub async fn live_user_claims_answers_the_live_user_with_its_schema<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "claims-live").await;
    let other = fresh_org(store, ENV, "claims-live").await;
    let u = fresh_user(store, ENV, &org).await;
    let v = fresh_user(store, ENV, &other).await;
    let schema = claim_schema_record(1);
    put(store, ENV, &org, &schema).await;
    assert_eq!(
        ok(
            store.live_user_claims(ENV, &org, u.id).await,
            "live_user_claims"
        ),
        Some((u.clone(), schema)),
        "the live user and its organization's schema"
    );
    assert_eq!(
        ok(
            store.live_user_claims(ENV, &other, v.id).await,
            "live_user_claims"
        ),
        Some((v, ClaimSchema::default())),
        "an organization without a schema: the empty one"
    );
    assert_eq!(
        ok(
            store
                .live_user_claims(ENV, &org, UserId::from_uuid(fresh_uuid()))
                .await,
            "live_user_claims"
        ),
        None,
        "an unknown user"
    );
    assert_eq!(
        ok(
            store.live_user_claims(ENV, &other, u.id).await,
            "live_user_claims"
        ),
        None,
        "another organization's user"
    );
    ok(
        store
            .delete_organization(
                ENV,
                &org,
                at(1),
                &event("ORGANIZATION_DELETED", &org, at(1)),
            )
            .await,
        "delete_organization",
    );
    assert_eq!(
        ok(
            store.live_user_claims(ENV, &org, u.id).await,
            "live_user_claims"
        ),
        None,
        "a user of a deleted organization"
    );
}

/// A user's metadata (every kind of value) and RBAC attributes are stored with the user,
/// exactly: as inserted, as updated, and emptied.
pub async fn user_metadata_and_rbac_round_trip_through_updates<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "claims-user").await;
    let u = fresh_user(store, ENV, &org).await;
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        Some(u.clone()),
        "the inserted metadata and RBAC attributes"
    );
    let updated = User {
        metadata: vec![
            entry(MetaValue::Boolean(false)),
            entry(MetaValue::Integer(i64::MIN)),
            entry(MetaValue::Integer(i64::MAX)),
            entry(MetaValue::Text("2026-12-07".to_owned())),
            entry(MetaValue::Text("2026-12-07T08:15:16Z".to_owned())),
            entry(MetaValue::Text("true".to_owned())),
            entry(MetaValue::Text("42".to_owned())),
            entry(MetaValue::Text("ünïcødé \\ \"q\" 😀".to_owned())),
        ],
        rbac: Rbac {
            roles: vec![label("Équipe Paris"), label("Reader")],
            actions: Vec::new(),
            attributes: vec![label("ITAdminDept")],
            groups: Vec::new(),
        },
        updated_at: at(1),
        version: 2,
        ..u.clone()
    };
    ok(
        store
            .update_user(ENV, &updated, 1, &event("METADATA_SET", &org, at(1)))
            .await,
        "update_user",
    );
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        Some(updated.clone()),
        "the updated metadata and RBAC attributes, exactly"
    );
    let emptied = User {
        metadata: Vec::new(),
        rbac: Rbac::default(),
        updated_at: at(2),
        version: 3,
        ..updated
    };
    ok(
        store
            .update_user(ENV, &emptied, 2, &event("METADATA_REMOVED", &org, at(2)))
            .await,
        "update_user",
    );
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        Some(emptied),
        "no metadata and no RBAC attributes"
    );
}

/// 16 concurrent updates of one user at one version, each setting a different metadata value:
/// exactly one succeeds, 15 answer `Precondition`, and the stored user carries exactly the
/// winner's one entry.
pub async fn user_metadata_update_has_exactly_one_winner_under_contention<S: Store + Clone>(
    store: &S,
) {
    let org = fresh_org(store, ENV, "claims-user-race").await;
    let u = fresh_user(store, ENV, &org).await;
    let users: Vec<User> = (0..16)
        .map(|i| User {
            metadata: vec![entry(MetaValue::Integer(i))],
            updated_at: at(1),
            version: 2,
            ..u.clone()
        })
        .collect();
    let results = race(users.len(), |i| {
        let (store, org, next) = (store.clone(), org.clone(), users[i].clone());
        async move {
            let ev = event("METADATA_SET", &org, at(1));
            Outcome::of(&retried(|| store.update_user(ENV, &next, 1, &ev)).await)
        }
    })
    .await;
    assert_eq!(
        (
            count(&results, |r| *r == Outcome::Ok),
            count(&results, |r| *r == Outcome::Precondition)
        ),
        (1, 15),
        "16 concurrent updates of version 1: (Ok, Precondition): {results:?}"
    );
    let winner = results
        .iter()
        .position(|r| *r == Outcome::Ok)
        .expect("one update succeeded (asserted above)");
    let stored = ok(store.user(ENV, &org, u.id).await, "user").expect("the user");
    assert_eq!(
        stored.metadata, users[winner].metadata,
        "exactly the winner's one entry"
    );
    assert_eq!(stored, users[winner], "the winner's record");
}
