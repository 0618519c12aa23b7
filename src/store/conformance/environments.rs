//! Conformance checks: environments.

use super::*;

/// Where the isolation checks write their sandbox records: after every other check's, so that
/// a store leaking them into production would list them first.
pub(super) const PROBE: OffsetDateTime = datetime!(9000-01-01 00:00 UTC);

/// An organization written in sandbox is invisible in production (lookup, list, update,
/// delete), its domain is free there, and production writes leave the sandbox one untouched.
pub async fn organizations_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let domain = fresh_domain("env-org");
    let org = organization(sandbox, &domain, PROBE);
    ok(
        store
            .insert_organization(
                sandbox,
                &org,
                &event("ORGANIZATION_CREATED", &domain, PROBE),
            )
            .await,
        "insert_organization",
    );
    assert_eq!(
        ok(
            store.organization(production, &domain).await,
            "organization"
        ),
        None,
        "a sandbox organization looked up in production"
    );
    let (listed, _) = ok(
        store.list_organizations(production, page(1, 100)).await,
        "list_organizations",
    );
    assert!(
        listed.iter().all(|o| o.domain != domain),
        "a sandbox organization must not be listed in production"
    );
    let next = Organization {
        version: 2,
        ..org.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_organization(
                    production,
                    &next,
                    1,
                    &event("ORGANIZATION_UPDATED", &domain, PROBE)
                )
                .await
        ),
        Outcome::NotFound,
        "updating a sandbox organization in production"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_organization(
                    production,
                    &domain,
                    PROBE,
                    &event("ORGANIZATION_DELETED", &domain, PROBE)
                )
                .await
        ),
        Outcome::NotFound,
        "deleting a sandbox organization in production"
    );
    let twin = organization(production, &domain, T0);
    ok(
        store
            .insert_organization(
                production,
                &twin,
                &event("ORGANIZATION_CREATED", &domain, T0),
            )
            .await,
        "insert_organization: a sandbox domain must be free in production",
    );
    ok(
        store
            .delete_organization(
                production,
                &domain,
                at(1),
                &event("ORGANIZATION_DELETED", &domain, at(1)),
            )
            .await,
        "delete_organization",
    );
    assert_eq!(
        ok(store.organization(sandbox, &domain).await, "organization"),
        Some(org),
        "production writes must leave the sandbox organization untouched"
    );
}

/// A user written in sandbox is invisible in production (by id, by e-mail, in lists, to
/// updates), its id and e-mail are free there, and production writes leave it untouched.
pub async fn users_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let domain = fresh_domain("env-user");
    for env in [sandbox, production] {
        let org = organization(env, &domain, T0);
        ok(
            store
                .insert_organization(env, &org, &event("ORGANIZATION_CREATED", &domain, T0))
                .await,
            "insert_organization",
        );
    }
    let u = user(sandbox, &domain, &fresh_email("env-user"), T0);
    ok(
        store
            .insert_user(sandbox, &u, &event("USER_CREATED", &domain, T0))
            .await,
        "insert_user",
    );
    assert_eq!(
        ok(store.user(production, &domain, u.id).await, "user"),
        None,
        "a sandbox user looked up by id in production"
    );
    assert_eq!(
        ok(
            store
                .user_by_email(production, &domain, &u.profile.email)
                .await,
            "user_by_email"
        ),
        None,
        "a sandbox user looked up by e-mail in production"
    );
    assert_eq!(
        ok(
            store.list_users(production, &domain, page(1, 10)).await,
            "list_users"
        ),
        (Vec::new(), 0),
        "a sandbox user must not be listed in production"
    );
    let next = User {
        version: 2,
        ..u.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_user(production, &next, 1, &event("USER_UPDATED", &domain, T0))
                .await
        ),
        Outcome::NotFound,
        "updating a sandbox user in production"
    );
    let twin = User {
        environment: production,
        ..u.clone()
    };
    ok(
        store
            .insert_user(production, &twin, &event("USER_CREATED", &domain, T0))
            .await,
        "insert_user: a sandbox user's id and e-mail must be free in production",
    );
    let renamed = User {
        profile: Profile {
            email: fresh_email("env-user"),
            ..twin.profile.clone()
        },
        version: 2,
        ..twin.clone()
    };
    ok(
        store
            .update_user(production, &renamed, 1, &event("USER_UPDATED", &domain, T0))
            .await,
        "update_user",
    );
    assert_eq!(
        ok(store.user(sandbox, &domain, u.id).await, "user"),
        Some(u.clone()),
        "production writes must leave the sandbox user untouched"
    );
    assert_eq!(
        ok(
            store
                .user_by_email(sandbox, &domain, &u.profile.email)
                .await,
            "user_by_email"
        ),
        Some(u),
        "a production e-mail change must not release the sandbox address"
    );
}

/// An application written in sandbox is invisible in production (lookup, lists, update,
/// delete), its `client_id` is free there, and production writes leave it untouched.
pub async fn applications_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let domain = fresh_domain("env-app");
    for env in [sandbox, production] {
        let org = organization(env, &domain, T0);
        ok(
            store
                .insert_organization(env, &org, &event("ORGANIZATION_CREATED", &domain, T0))
                .await,
            "insert_organization",
        );
    }
    let scope = ApplicationScope::Organization(domain.clone());
    let app = application(sandbox, scope.clone(), T0);
    let ev = |code: &str| event(code, &domain, T0).client(app.client_id);
    ok(
        store
            .insert_application(sandbox, &app, &ev("APPLICATION_CREATED"))
            .await,
        "insert_application",
    );
    assert_eq!(
        ok(
            store.application(production, app.client_id).await,
            "application"
        ),
        None,
        "a sandbox application looked up in production"
    );
    assert_eq!(
        ok(
            store
                .list_applications(production, &scope, page(1, 10))
                .await,
            "list_applications"
        ),
        (Vec::new(), 0),
        "a sandbox application must not be listed in production"
    );
    let next = Application {
        version: 2,
        ..app.clone()
    };
    assert_eq!(
        Outcome::of(
            &store
                .update_application(production, &next, 1, &ev("APPLICATION_UPDATED"))
                .await
        ),
        Outcome::NotFound,
        "updating a sandbox application in production"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_application(production, app.client_id, T0, &ev("APPLICATION_DELETED"))
                .await
        ),
        Outcome::NotFound,
        "deleting a sandbox application in production"
    );
    let twin = Application {
        environment: production,
        ..app.clone()
    };
    ok(
        store
            .insert_application(production, &twin, &ev("APPLICATION_CREATED"))
            .await,
        "insert_application: a sandbox client_id must be free in production",
    );
    ok(
        store
            .delete_application(production, app.client_id, at(1), &ev("APPLICATION_DELETED"))
            .await,
        "delete_application",
    );
    assert_eq!(
        ok(
            store.application(sandbox, app.client_id).await,
            "application"
        ),
        Some(app.clone()),
        "production writes must leave the sandbox application untouched"
    );
    assert_eq!(
        ok(
            store.list_applications(sandbox, &scope, page(1, 10)).await,
            "list_applications"
        ),
        (vec![app], 1),
        "a production delete must not unlist the sandbox application"
    );
}

/// Events recorded in one environment are never returned in the other, and carry their own
/// environment as `database`.
pub async fn events_are_isolated_by_environment<S: Store>(store: &S) {
    let tenant = fresh_domain("env-audit");
    let client = ClientId::from_uuid(fresh_uuid());
    let saml = unique("idp");
    let mut new = event("CONFORMANCE_TICK", &tenant, T0).client(client);
    new.saml_identity_provider_id = Some(saml.clone());
    let recorded = ok(
        store.record_event(Environment::Sandbox, &new).await,
        "record_event",
    );
    assert_eq!(
        recorded.database,
        Environment::Sandbox,
        "the event's database"
    );
    for query in [
        EventQuery::tenant(&tenant),
        EventQuery::default().client_id(client),
        EventQuery::default().saml_identity_provider_id(saml.clone()),
    ] {
        assert_eq!(
            ok(
                store
                    .events(Environment::Production, &query, page(1, 10))
                    .await,
                "events"
            ),
            (Vec::new(), 0),
            "production events matching a sandbox event ({query:?})"
        );
    }
    let in_production = ok(
        store.record_event(Environment::Production, &new).await,
        "record_event",
    );
    assert_eq!(
        in_production.database,
        Environment::Production,
        "the event's database"
    );
    assert_eq!(
        tenant_events(store, Environment::Sandbox, &tenant).await,
        (vec![recorded], 1),
        "sandbox events after a production event of the same tenant"
    );
    assert_eq!(
        tenant_events(store, Environment::Production, &tenant).await,
        (vec![in_production], 1),
        "production events after a sandbox event of the same tenant"
    );
}

/// A one-time entry put in sandbox is `Missing` in production, the key is free there, and
/// taking it in production does not take the sandbox entry.
pub async fn one_time_entries_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let key = fresh_key("env-take");
    ok(
        store
            .put_once(sandbox, &key, &one_time_entry(b"sandbox", T0), T0)
            .await,
        "put_once",
    );
    assert_eq!(
        ok(store.take(production, &key, at(1)).await, "take"),
        Take::Missing,
        "taking a sandbox entry in production"
    );
    ok(
        store
            .put_once(production, &key, &one_time_entry(b"production", T0), T0)
            .await,
        "put_once: a sandbox key must be free in production",
    );
    assert_eq!(
        ok(store.take(production, &key, at(2)).await, "take"),
        Take::Taken(b"production".to_vec()),
        "taking the production entry"
    );
    assert_eq!(
        ok(store.take(sandbox, &key, at(3)).await, "take"),
        Take::Taken(b"sandbox".to_vec()),
        "taking the production entry must not take the sandbox one"
    );
}

/// A refresh token written in sandbox is invisible in production (lookup, rotation), no
/// production revocation touches it, and its digest is free there.
pub async fn refresh_tokens_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let grant = Grant::fresh(store, sandbox).await;
    let token = grant.token(T0);
    insert_token(store, sandbox, &token).await;
    assert_eq!(
        token_of(store, production, &token.digest).await,
        None,
        "a sandbox token looked up in production"
    );
    let next = successor(&token, at(1));
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(production, &token.digest, &next, at(1))
                .await,
            "rotate_refresh_token"
        ),
        Rotation::Missing,
        "rotating a sandbox token in production"
    );
    let revocations = [
        ok(
            store.revoke_family(production, token.family, at(2)).await,
            "revoke_family",
        ),
        ok(
            store
                .revoke_user_refresh_tokens(production, &grant.org, grant.user_id, at(2))
                .await,
            "revoke_user_refresh_tokens",
        ),
        ok(
            store
                .revoke_client_refresh_tokens(production, grant.client_id, at(2))
                .await,
            "revoke_client_refresh_tokens",
        ),
    ];
    assert_eq!(
        revocations,
        [0, 0, 0],
        "production revocations (family, user, client) of sandbox tokens"
    );
    assert_eq!(
        token_of(store, sandbox, &token.digest).await,
        Some(token.clone()),
        "production calls must leave the sandbox token current"
    );
    assert_eq!(
        token_of(store, production, &next.digest).await,
        None,
        "a missing rotation in production must not store a successor"
    );
    let production_grant = Grant::fresh(store, production).await;
    let twin = RefreshTokenRecord {
        digest: token.digest,
        ..production_grant.token(T0)
    };
    insert_token(store, production, &twin).await;
    assert_eq!(
        ok(
            store.revoke_family(production, twin.family, at(3)).await,
            "revoke_family"
        ),
        1,
        "revoking the production family"
    );
    assert_eq!(
        token_of(store, sandbox, &token.digest).await,
        Some(token),
        "a production revocation must leave the sandbox token with the same digest current"
    );
}

/// A counter incremented in sandbox counts 0 in production, and production increments,
/// decrements and resets leave it untouched.
pub async fn counters_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let key = fresh_key("env-counter");
    for i in 0..2 {
        ok(
            store.increment(sandbox, &key, 2, at(600), at(i)).await,
            "increment",
        );
    }
    assert_eq!(
        ok(store.count(production, &key, at(2)).await, "count"),
        0,
        "a sandbox counter read in production"
    );
    assert_eq!(
        ok(
            store.increment(production, &key, 2, at(600), at(3)).await,
            "increment"
        ),
        Counted::Incremented(1),
        "a production increment of a key at its limit in sandbox"
    );
    assert_eq!(
        ok(store.decrement(production, &key, at(4)).await, "decrement"),
        0,
        "a production decrement of a key incremented only in sandbox"
    );
    ok(store.reset(production, &key).await, "reset");
    assert_eq!(
        ok(store.count(sandbox, &key, at(5)).await, "count"),
        2,
        "production writes must leave the sandbox counter untouched"
    );
}

/// Replay markers and steps set in sandbox do not exist in production, and production calls
/// leave them untouched.
pub async fn replay_markers_are_isolated_by_environment<S: Store>(store: &S) {
    let (sandbox, production) = (Environment::Sandbox, Environment::Production);
    let nonce = fresh_key("env-mark");
    let step = fresh_key("env-step");
    assert_eq!(
        ok(
            store.mark_once(sandbox, &nonce, at(600), T0).await,
            "mark_once"
        ),
        Mark::First,
        "the first mark of a nonce in sandbox"
    );
    assert_eq!(
        ok(
            store.mark_once(production, &nonce, at(600), at(1)).await,
            "mark_once"
        ),
        Mark::First,
        "a nonce marked in sandbox, marked in production"
    );
    assert_eq!(
        ok(
            store.mark_once(sandbox, &nonce, at(600), at(2)).await,
            "mark_once"
        ),
        Mark::Replay,
        "the sandbox nonce stays marked"
    );
    assert_eq!(
        ok(store.advance(sandbox, &step, 10).await, "advance"),
        Advance::Advanced,
        "the first step in sandbox"
    );
    assert_eq!(
        ok(store.advance(production, &step, 5).await, "advance"),
        Advance::Advanced,
        "a step advanced to 10 in sandbox, advanced to 5 in production"
    );
    assert_eq!(
        ok(store.advance(sandbox, &step, 10).await, "advance"),
        Advance::Stale(10),
        "the sandbox step stays at 10"
    );
}
