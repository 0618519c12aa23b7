//! Conformance checks: SSO connections.

use super::*;
use crate::model::fields::RedirectUri;
use crate::model::sso::{
    AttributeSync, DefaultRedirection, IdpId, OidcClient, OnboardingState, ProviderType, SpId,
    SsoAdminOnboarding, SsoConnection, UserSecurityType, base58_from,
};

/// 22 random base58 characters.
fn random_part() -> String {
    loop {
        let bytes = random_array::<64>().expect("the OS generator works");
        if let Some(s) = base58_from(&bytes) {
            return s;
        }
    }
}

/// A connection of `org` at version 1, created at `at(seconds)`, with fresh identifiers, an
/// onboarding, a default redirection and metadata with characters that need escaping.
pub fn sso_connection_record(org: &OrgDomain, seconds: i64) -> SsoConnection {
    SsoConnection {
        idp_id: IdpId::new(org.as_str(), &random_part()),
        key: fresh_uuid(),
        sp_id: SpId::new("conformance", &random_part()),
        org: org.clone(),
        environment: ENV,
        managed_by: name("conformance"),
        provider_type: Some(ProviderType::AzureAd),
        active: true,
        metadata: Some("<md:EntityDescriptor entityID=\"https://idp\">\n  é \\ </md>".to_owned()),
        onboarding: Some(SsoAdminOnboarding {
            id: fresh_uuid(),
            sso_admin_email: Some(Email::parse("it_sso_person@sso.client.com").expect("email")),
            provider_type: None,
            state: OnboardingState::NotInitialized,
            tutorial_step: 0,
            inserted_at: at(seconds),
            updated_at: at(seconds),
        }),
        default_redirection: Some(DefaultRedirection {
            id: fresh_uuid(),
            app_id: ClientId::from_uuid(fresh_uuid()),
            uri: RedirectUri::parse("https://app.example.com/callback").expect("uri"),
        }),
        seats_limit: 10,
        user_security_type: UserSecurityType::SeatsLimited,
        attribute_sync: AttributeSync::OnCreation,
        oidc: Some(OidcClient {
            issuer: crate::model::fields::HttpUrl::parse(
                "https://customer.okta.com/oauth2/default",
            )
            .expect("constant is a valid url"),
            client_id: "0oa1b2c3d4".to_owned(),
            sealed_client_secret: Some("c2VhbGVk".to_owned()),
        }),
        inserted_at: at(seconds),
        updated_at: at(seconds),
        version: 1,
    }
}

fn sso_event(code: &str, org: &OrgDomain, seconds: i64) -> NewEvent {
    event(code, org, at(seconds))
}

async fn insert<S: Store>(store: &S, env: Environment, c: &SsoConnection) {
    ok(
        store
            .insert_sso_connection(env, c, &sso_event("SSO_CONNECTION_CREATED", &c.org, 0))
            .await,
        "insert_sso_connection",
    );
}

async fn events_of<S: Store>(store: &S, org: &OrgDomain, code: &str) -> u64 {
    let query = EventQuery::tenant(org).code(EventCode::parse(code).expect("an event code"));
    ok(store.events(ENV, &query, page(1, 100)).await, "events").1
}

/// A connection reads back exactly as inserted, by its `idp_id`; an unknown one is `None`.
pub async fn sso_connection_round_trips<S: Store>(store: &S) {
    let org = fresh_domain("sso");
    let c = sso_connection_record(&org, 0);
    insert(store, ENV, &c).await;
    assert_eq!(
        ok(store.sso_connection(ENV, &c.idp_id).await, "sso_connection"),
        Some(c.clone()),
        "the connection as inserted, nested objects included"
    );
    let bare = SsoConnection {
        provider_type: None,
        metadata: None,
        onboarding: None,
        default_redirection: None,
        oidc: None,
        ..sso_connection_record(&org, 1)
    };
    insert(store, ENV, &bare).await;
    assert_eq!(
        ok(
            store.sso_connection(ENV, &bare.idp_id).await,
            "sso_connection"
        ),
        Some(bare)
    );
    let unknown = IdpId::new(org.as_str(), &random_part());
    assert_eq!(
        ok(store.sso_connection(ENV, &unknown).await, "sso_connection"),
        None
    );
    assert_eq!(events_of(store, &org, "SSO_CONNECTION_CREATED").await, 2);
}

/// A taken `idp_id` answers `AlreadyExists { key: "idp_id" }`, a taken `sp_id`
/// `AlreadyExists { key: "sp_id" }`; a refused insert writes neither the row nor its event.
pub async fn sso_connection_identifiers_are_unique<S: Store>(store: &S) {
    let (org, other) = (fresh_domain("sso"), fresh_domain("sso"));
    let c = sso_connection_record(&org, 0);
    insert(store, ENV, &c).await;
    let same_idp = SsoConnection {
        org: other.clone(),
        ..sso_connection_record(&other, 1)
    };
    let same_idp = SsoConnection {
        idp_id: c.idp_id.clone(),
        ..same_idp
    };
    let same_sp = SsoConnection {
        sp_id: c.sp_id.clone(),
        ..sso_connection_record(&other, 1)
    };
    for (dup, key) in [(&same_idp, "idp_id"), (&same_sp, "sp_id")] {
        let r = store
            .insert_sso_connection(ENV, dup, &sso_event("SSO_CONNECTION_CREATED", &other, 1))
            .await;
        assert_eq!(Outcome::of(&r), Outcome::AlreadyExists(key), "{key} taken");
    }
    assert_eq!(
        ok(store.sso_connection(ENV, &c.idp_id).await, "sso_connection"),
        Some(c),
        "the first connection is untouched"
    );
    assert_eq!(
        ok(
            store.list_sso_connections(ENV, &other, page(1, 10)).await,
            "list"
        ),
        (vec![], 0),
        "nothing of the refused inserts"
    );
    assert_eq!(events_of(store, &other, "SSO_CONNECTION_CREATED").await, 0);
}

/// An organization's connections list newest first (`inserted_at`, then `key`, descending),
/// only its own, by page number and by cursor alike.
pub async fn sso_connections_list_newest_first_and_cursor_walk_matches_page_walk<S: Store>(
    store: &S,
) {
    let (org, other) = (fresh_domain("sso"), fresh_domain("sso"));
    let mut all = Vec::new();
    for seconds in [3, 1, 2, 2, 5, 4, 2] {
        let c = sso_connection_record(&org, seconds);
        insert(store, ENV, &c).await;
        all.push(c);
    }
    insert(store, ENV, &sso_connection_record(&other, 9)).await;
    sort_newest_first(&mut all, |c| (c.inserted_at, c.key));
    let mut by_number = Vec::new();
    let mut by_cursor = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for n in 1..=4 {
        let (items, total) = ok(
            store.list_sso_connections(ENV, &org, page(n, 2)).await,
            "list_sso_connections",
        );
        assert_eq!(total, 7, "page {n}: the organization's total");
        assert_eq!(items, chunk(&all, 2, n as usize), "page {n} by number");
        by_number.extend(items);
        let request = match cursor {
            Some(c) => page(n, 2).after(c),
            None => page(n, 2),
        };
        let (items, _) = ok(
            store.list_sso_connections(ENV, &org, request).await,
            "list_sso_connections after a cursor",
        );
        cursor = items.last().map(|c| {
            Cursor::newest(ListKind::SsoConnections, c.inserted_at, c.key).expect("a cursor")
        });
        by_cursor.extend(items);
    }
    assert_eq!(by_number, all);
    assert_eq!(by_cursor, all, "the cursor walk");
}

/// An update is conditional on the version (`Precondition` otherwise, nothing written), on
/// the connection existing in its organization (`NotFound` otherwise: unknown, or another
/// organization's), writes its event with it, and keeps `key`, `sp_id` and `inserted_at` as
/// stored whatever the caller sends.
pub async fn sso_connection_update_is_conditional_and_keeps_the_identifiers<S: Store>(store: &S) {
    let (org, other) = (fresh_domain("sso"), fresh_domain("sso"));
    let c = sso_connection_record(&org, 0);
    insert(store, ENV, &c).await;
    let next = SsoConnection {
        active: false,
        seats_limit: 99,
        onboarding: None,
        updated_at: at(5),
        version: 2,
        ..c.clone()
    };
    let update = |conn: SsoConnection, expected: u64| async move {
        store
            .update_sso_connection(
                ENV,
                &conn,
                expected,
                &sso_event("SSO_CONNECTION_UPDATED", &conn.org, 5),
            )
            .await
    };
    for expected in [0, 2, 7] {
        assert_eq!(
            Outcome::of(&update(next.clone(), expected).await),
            Outcome::Precondition,
            "expecting version {expected} where 1 is stored"
        );
    }
    let elsewhere = SsoConnection {
        org: other.clone(),
        ..next.clone()
    };
    assert_eq!(
        Outcome::of(&update(elsewhere, 1).await),
        Outcome::NotFound,
        "another organization's connection"
    );
    let unknown = SsoConnection {
        idp_id: IdpId::new(org.as_str(), &random_part()),
        ..next.clone()
    };
    assert_eq!(Outcome::of(&update(unknown, 1).await), Outcome::NotFound);
    assert_eq!(
        ok(store.sso_connection(ENV, &c.idp_id).await, "sso_connection"),
        Some(c.clone()),
        "refused updates change nothing"
    );
    assert_eq!(events_of(store, &org, "SSO_CONNECTION_UPDATED").await, 0);
    assert_eq!(events_of(store, &other, "SSO_CONNECTION_UPDATED").await, 0);
    let tampered = SsoConnection {
        key: fresh_uuid(),
        sp_id: SpId::new("other", &random_part()),
        inserted_at: at(100),
        ..next.clone()
    };
    ok(update(tampered, 1).await, "update_sso_connection");
    assert_eq!(
        ok(store.sso_connection(ENV, &c.idp_id).await, "sso_connection"),
        Some(next),
        "the update, with the stored key, sp_id and inserted_at"
    );
    assert_eq!(events_of(store, &org, "SSO_CONNECTION_UPDATED").await, 1);
}

/// 16 concurrent updates of one version: exactly one succeeds, 15 answer `Precondition`, the
/// stored connection is the winner's and only its event is recorded.
pub async fn sso_connection_update_has_exactly_one_winner_under_contention<S: Store + Clone>(
    store: &S,
) {
    let org = fresh_domain("sso");
    let c = sso_connection_record(&org, 0);
    insert(store, ENV, &c).await;
    let versions: Vec<SsoConnection> = (0..16)
        .map(|i| SsoConnection {
            seats_limit: i,
            version: 2,
            ..c.clone()
        })
        .collect();
    let results = race(versions.len(), |i| {
        let (store, next) = (store.clone(), versions[i].clone());
        async move {
            let event = sso_event("SSO_CONNECTION_UPDATED", &next.org, 1);
            Outcome::of(&retried(|| store.update_sso_connection(ENV, &next, 1, &event)).await)
        }
    })
    .await;
    assert_eq!(
        (
            count(&results, |r| *r == Outcome::Ok),
            count(&results, |r| *r == Outcome::Precondition)
        ),
        (1, 15),
        "16 concurrent updates of version 1: {results:?}"
    );
    let winner = results
        .iter()
        .position(|r| *r == Outcome::Ok)
        .expect("one winner (asserted above)");
    assert_eq!(
        ok(store.sso_connection(ENV, &c.idp_id).await, "sso_connection"),
        Some(versions[winner].clone())
    );
    assert_eq!(events_of(store, &org, "SSO_CONNECTION_UPDATED").await, 1);
}

/// A connection of one environment is not found, listed or updated through the other; the
/// same identifiers may be used in both.
pub async fn sso_connections_are_isolated_by_environment<S: Store>(store: &S) {
    let other_env = Environment::Sandbox;
    let org = fresh_domain("sso");
    let c = sso_connection_record(&org, 0);
    insert(store, ENV, &c).await;
    assert_eq!(
        ok(
            store.sso_connection(other_env, &c.idp_id).await,
            "sso_connection"
        ),
        None
    );
    assert_eq!(
        ok(
            store
                .list_sso_connections(other_env, &org, page(1, 10))
                .await,
            "list"
        ),
        (vec![], 0)
    );
    let next = SsoConnection {
        version: 2,
        ..c.clone()
    };
    let r = store
        .update_sso_connection(
            other_env,
            &next,
            1,
            &sso_event("SSO_CONNECTION_UPDATED", &org, 1),
        )
        .await;
    assert_eq!(Outcome::of(&r), Outcome::NotFound);
    let twin = SsoConnection {
        environment: other_env,
        ..c.clone()
    };
    insert(store, other_env, &twin).await;
    assert_eq!(
        ok(
            store.sso_connection(other_env, &c.idp_id).await,
            "sso_connection"
        ),
        Some(twin)
    );
    assert_eq!(
        ok(store.sso_connection(ENV, &c.idp_id).await, "sso_connection"),
        Some(c)
    );
}
