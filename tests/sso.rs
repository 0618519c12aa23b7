//! SSO connections through the public API, on the `MemoryStore`: the seed's shapes, the
//! default redirection, partial updates, activation, user policy, organization isolation, the
//! admin onboarding (create, update, reset, invitation) and its single-use magic link.

mod support;

use std::sync::Arc;

use idcore::audit::EventCode;
use idcore::directory::Email;
use idcore::sso::{
    AttributeSync, NewSsoConnection, OnboardingState, OnboardingUpdate, ProviderType,
    SsoConnectionUpdate, UserSecurityType,
};
use idcore::{Error, FieldProblem, NewOrganization, PageRequest, Resource};
use support::*;

const ADMIN: &str = "it_sso_person@sso.client.com";

fn with_admin(f: &Fx) -> NewSsoConnection {
    NewSsoConnection {
        sso_admin_email: Some(ADMIN.to_owned()),
        provider_type: Some(ProviderType::AzureAd),
        ..NewSsoConnection::new(f.client)
    }
}

/// The token of the newest magic link mailed to the administrator.
fn link_token(f: &Fx) -> String {
    let mail = f
        .outbox
        .last_to(&Email::parse(ADMIN).unwrap())
        .expect("an invitation");
    let (_, rest) = mail.body.split_once("token=").expect("a link");
    rest.split_whitespace().next().expect("a token").to_owned()
}

#[tokio::test]
async fn a_connection_is_created_in_the_seeds_shape_with_its_nested_objects() {
    let f = fixture().await;
    let sso = f.identity.sso(&f.org);
    let c = sso.create(with_admin(&f)).await.unwrap();
    let prefix = "misapret_";
    assert!(c.idp_id.as_str().starts_with(prefix), "{}", c.idp_id);
    assert_eq!(c.idp_id.as_str().len(), prefix.len() + 22);
    let wire = c.wire(true);
    assert_eq!(wire["__type__"], "SsoConnection");
    assert_eq!(wire["__domain__"], "misapret");
    assert_eq!(wire["__access__"], "limited_to:misapret");
    assert_eq!(wire["id"], c.idp_id.as_str());
    assert_eq!(wire["active"], true);
    assert_eq!(wire["provider_type"], "azure_ad");
    assert_eq!(wire["seats_limit"], 0);
    assert_eq!(wire["user_security_type"], "none");
    assert_eq!(wire["metadata"], serde_json::json!([]));
    assert_eq!(
        wire["onboarding"]["__type__"],
        "EnterpriseConnectionOnboarding"
    );
    assert_eq!(wire["onboarding"]["state"], "not_initialized");
    assert_eq!(wire["onboarding"]["tutorial_step"], 0);
    assert_eq!(wire["onboarding"]["sso_admin_email"], ADMIN);
    assert_eq!(wire["default_redirection"]["__type__"], "Redirection");
    assert_eq!(wire["default_redirection"]["app_id"], f.client.to_string());
    assert_eq!(wire["default_redirection"]["uri"], REDIRECT);
    assert_eq!(wire["default_redirection"]["idp_id"], c.idp_id.as_str());
    assert_eq!(
        wire["inserted_at"].as_str().map(str::len),
        Some("2022-03-04T17:55:12".len())
    );
    // Not expanded: the nested objects are their ids.
    let flat = sso.connection(c.idp_id.as_str()).await.unwrap().wire(false);
    assert_eq!(
        flat["onboarding"],
        c.onboarding.as_ref().unwrap().id.to_string()
    );
    assert_eq!(
        flat["default_redirection"],
        c.default_redirection.as_ref().unwrap().id.to_string()
    );
    let created = f.events(EventCode::SSO_CONNECTION_CREATED).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].details["idp_id"], c.idp_id.as_str());
    // No mail unless asked for.
    assert!(
        f.outbox
            .sent()
            .iter()
            .all(|m| m.subject != "Configure single sign-on")
    );
}

#[tokio::test]
async fn creation_checks_the_application_the_redirect_and_the_admin_email() {
    let f = fixture().await;
    let sso = f.identity.sso(&f.org);
    let refused = |r: Result<_, Error>, field: &str| match r {
        Err(Error::InvalidField { field: got, .. }) => assert_eq!(got, field),
        other => panic!("expected invalid {field}, got {other:?}"),
    };
    refused(
        sso.create(NewSsoConnection {
            redirect_uri: Some("https://evil.example.com/cb".to_owned()),
            ..NewSsoConnection::new(f.client)
        })
        .await,
        "redirect_uri",
    );
    refused(
        sso.create(NewSsoConnection {
            sso_admin_email: Some("not an address".to_owned()),
            ..NewSsoConnection::new(f.client)
        })
        .await,
        "sso_admin_email",
    );
    refused(
        sso.create(NewSsoConnection {
            send_email: true,
            ..NewSsoConnection::new(f.client)
        })
        .await,
        "sso_admin_email",
    );
    let other = f
        .identity
        .organizations()
        .create(NewOrganization::new("Other Corp").unwrap())
        .await
        .unwrap()
        .domain;
    match f
        .identity
        .sso(&other)
        .create(NewSsoConnection::new(f.client))
        .await
    {
        Err(Error::NotFound(Resource::Application)) => {}
        other => panic!("another organization's application: {other:?}"),
    }
    let list = sso
        .connections(PageRequest::new(1, 10).unwrap())
        .await
        .unwrap();
    assert_eq!(list.total, 0, "nothing was created");
    assert!(f.events(EventCode::SSO_CONNECTION_CREATED).await.is_empty());
}

#[tokio::test]
async fn connections_are_listed_newest_first_by_page_and_isolated() {
    let f = fixture().await;
    let sso = f.identity.sso(&f.org);
    let mut ids = Vec::new();
    for _ in 0..3 {
        f.clock.advance(time::Duration::seconds(1));
        ids.push(
            sso.create(NewSsoConnection::new(f.client))
                .await
                .unwrap()
                .idp_id,
        );
    }
    let first = sso
        .connections(PageRequest::new(1, 2).unwrap())
        .await
        .unwrap();
    assert_eq!(first.total, 3);
    let got: Vec<_> = first.data.iter().map(|c| c.idp_id.clone()).collect();
    assert_eq!(got, [ids[2].clone(), ids[1].clone()]);
    let cursor = first.next_cursor.expect("a next page");
    let second = sso
        .connections(PageRequest::new(2, 2).unwrap().after(cursor))
        .await
        .unwrap();
    assert_eq!(second.data.len(), 1);
    assert_eq!(second.data[0].idp_id, ids[0]);
    let other = f
        .identity
        .organizations()
        .create(NewOrganization::new("Other Corp").unwrap())
        .await
        .unwrap()
        .domain;
    let theirs = f.identity.sso(&other);
    assert_eq!(
        theirs
            .connections(PageRequest::new(1, 10).unwrap())
            .await
            .unwrap()
            .total,
        0
    );
    for r in [
        theirs.connection(ids[0].as_str()).await.map(drop),
        theirs.disable(ids[0].as_str()).await.map(drop),
        theirs
            .update(ids[0].as_str(), &SsoConnectionUpdate::default())
            .await
            .map(drop),
        theirs.invite_admin(ids[0].as_str()).await.map(drop),
        sso.connection("misapret_notanidatall").await.map(drop),
    ] {
        match r {
            Err(Error::NotFound(Resource::SsoConnection)) => {}
            other => panic!("expected not found, got {other:?}"),
        }
    }
    assert!(sso.connection(ids[0].as_str()).await.unwrap().active);
}

#[tokio::test]
async fn updates_change_what_they_name_and_keep_the_identifiers() {
    let f = fixture().await;
    let sso = f.identity.sso(&f.org);
    let c = sso.create(NewSsoConnection::new(f.client)).await.unwrap();
    let id = c.idp_id.as_str();
    f.clock.advance(time::Duration::minutes(5));
    let updated = sso
        .update(
            id,
            &SsoConnectionUpdate {
                seats_limit: Some(99),
                metadata: Some("<EntityDescriptor/>".to_owned()),
                attribute_sync: Some(AttributeSync::OnCreation),
                ..SsoConnectionUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.seats_limit, 99);
    assert_eq!(updated.metadata.as_deref(), Some("<EntityDescriptor/>"));
    assert_eq!(updated.attribute_sync, AttributeSync::OnCreation);
    assert_eq!(updated.user_security_type, UserSecurityType::None);
    assert_eq!(
        (&updated.idp_id, &updated.sp_id, updated.inserted_at),
        (&c.idp_id, &c.sp_id, c.inserted_at)
    );
    assert_eq!(updated.version, 2);
    assert!(updated.updated_at > c.updated_at);
    let policy = sso
        .set_user_policy(id, UserSecurityType::parse("user_registered").unwrap())
        .await
        .unwrap();
    assert_eq!(policy.wire(false)["user_security_type"], "user_registered");
    assert!(!sso.disable(id).await.unwrap().active);
    assert!(sso.activate(id).await.unwrap().active);
    match sso
        .update(
            id,
            &SsoConnectionUpdate {
                seats_limit: Some(1_000_001),
                ..SsoConnectionUpdate::default()
            },
        )
        .await
    {
        Err(Error::InvalidField {
            field: "seats_limit",
            ..
        }) => {}
        other => panic!("expected invalid seats_limit, got {other:?}"),
    }
    match sso
        .update(
            id,
            &SsoConnectionUpdate {
                metadata: Some("  ".to_owned()),
                ..SsoConnectionUpdate::default()
            },
        )
        .await
    {
        Err(Error::InvalidField {
            field: "metadata",
            problem: FieldProblem::Empty,
        }) => {}
        other => panic!("expected empty metadata, got {other:?}"),
    }
    let stored = sso.connection(id).await.unwrap();
    assert_eq!(stored.version, 5, "refused updates wrote nothing");
    let events = f.events(EventCode::SSO_CONNECTION_UPDATED).await;
    let mut fields: Vec<&str> = events
        .iter()
        .map(|e| e.details["fields"].as_str())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["metadata,seats_limit,attribute_sync", "user_security_type"]
    );
    assert_eq!(f.events(EventCode::SSO_CONNECTION_DISABLED).await.len(), 1);
    assert_eq!(f.events(EventCode::SSO_CONNECTION_ACTIVATED).await.len(), 1);
}

#[tokio::test]
async fn the_default_redirection_must_be_an_allowed_url_of_a_usable_application() {
    let f = fixture().await;
    let sso = f.identity.sso(&f.org);
    let c = sso.create(NewSsoConnection::new(f.client)).await.unwrap();
    let id = c.idp_id.as_str();
    let before = c.default_redirection.clone().unwrap();
    match sso
        .set_default_redirection(id, f.client, Some("https://app.example.com/other"))
        .await
    {
        Err(Error::InvalidField {
            field: "redirect_uri",
            ..
        }) => {}
        other => panic!("expected invalid redirect_uri, got {other:?}"),
    }
    let set = sso
        .set_default_redirection(id, f.client, Some(REDIRECT))
        .await
        .unwrap();
    assert_ne!(set.id, before.id, "a new redirection replaces the old one");
    assert_eq!(set.uri.as_str(), REDIRECT);
    assert_eq!(
        sso.connection(id).await.unwrap().default_redirection,
        Some(set)
    );
    assert_eq!(
        f.events(EventCode::SSO_DEFAULT_REDIRECTION_SET).await.len(),
        1
    );
}

#[tokio::test]
async fn the_onboarding_is_created_updated_reset_and_mailed() {
    let f = fixture().await;
    let sso = f.identity.sso(&f.org);
    let c = sso.create(NewSsoConnection::new(f.client)).await.unwrap();
    let id = c.idp_id.as_str();
    match sso.invite_admin(id).await {
        Err(Error::NotFound(Resource::Onboarding)) => {}
        other => panic!("no onboarding: {other:?}"),
    }
    match sso.reset_onboarding(id).await {
        Err(Error::NotFound(Resource::Onboarding)) => {}
        other => panic!("no onboarding: {other:?}"),
    }
    let o = sso.create_onboarding(id, ADMIN, None, false).await.unwrap();
    assert_eq!(o.state, OnboardingState::NotInitialized);
    assert_eq!(o.provider_type, None);
    let updated = sso
        .update_onboarding(
            id,
            &OnboardingUpdate {
                provider_type: Some(ProviderType::Okta),
                ..OnboardingUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.provider_type, Some(ProviderType::Okta));
    assert_eq!(
        updated.sso_admin_email.as_ref().map(|e| e.as_str()),
        Some(ADMIN)
    );
    assert_eq!(
        updated.wire(&sso.connection(id).await.unwrap())["provider_type"],
        "okta"
    );
    let reset = sso.reset_onboarding(id).await.unwrap();
    assert_eq!(
        (reset.provider_type, reset.tutorial_step, reset.state),
        (None, 0, OnboardingState::NotInitialized)
    );
    assert_eq!(
        reset.sso_admin_email.as_ref().map(|e| e.as_str()),
        Some(ADMIN),
        "the e-mail stays"
    );
    assert!(
        f.outbox
            .sent()
            .iter()
            .all(|m| m.subject != "Configure single sign-on")
    );
    sso.invite_admin(id).await.unwrap();
    let token = link_token(&f);
    assert!(token.len() >= 43, "256 random bits");
    assert_eq!(f.events(EventCode::SSO_ADMIN_INVITED).await.len(), 1);
    assert_eq!(f.events(EventCode::SSO_ONBOARDING_RESET).await.len(), 1);
}

#[tokio::test]
async fn a_magic_link_works_once_for_its_one_connection_under_50_concurrent_redemptions() {
    let f = Arc::new(fixture().await);
    let sso = f.identity.sso(&f.org);
    let c = sso
        .create(NewSsoConnection {
            send_email: true,
            ..with_admin(&f)
        })
        .await
        .unwrap();
    let token = link_token(&f);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (f, token) = (f.clone(), token.clone());
            tokio::spawn(async move { f.identity.redeem_sso_admin_link(&token).await })
        })
        .collect();
    let mut granted = Vec::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(link) => granted.push(link),
            Err(Error::InvalidGrant) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((granted.len(), refused), (1, 49));
    let link = &granted[0];
    assert_eq!((&link.org, &link.idp_id), (&f.org, &c.idp_id));
    assert_eq!(link.onboarding.state, OnboardingState::Initialized);
    assert_eq!(f.events(EventCode::SSO_ADMIN_LINK_USED).await.len(), 1);
    assert_eq!(
        sso.connection(c.idp_id.as_str())
            .await
            .unwrap()
            .onboarding
            .unwrap()
            .state,
        OnboardingState::Initialized
    );
    for bad in ["", "garbage", &token] {
        assert!(matches!(
            f.identity.redeem_sso_admin_link(bad).await,
            Err(Error::InvalidGrant)
        ));
    }
}

#[tokio::test]
async fn a_magic_link_expires_and_dies_with_its_onboarding() {
    let f = fixture().await;
    let sso = f.identity.sso(&f.org);
    let c = sso.create(with_admin(&f)).await.unwrap();
    let id = c.idp_id.as_str();
    sso.invite_admin(id).await.unwrap();
    let old = link_token(&f);
    f.clock.advance(idcore::sso::ADMIN_LINK_LIFETIME);
    assert!(matches!(
        f.identity.redeem_sso_admin_link(&old).await,
        Err(Error::InvalidGrant)
    ));
    sso.invite_admin(id).await.unwrap();
    let replaced = link_token(&f);
    assert_ne!(replaced, old);
    // A new onboarding (another administrator): the earlier onboarding's link is dead.
    sso.create_onboarding(id, "new_it_guy@sample.co", None, false)
        .await
        .unwrap();
    assert!(matches!(
        f.identity.redeem_sso_admin_link(&replaced).await,
        Err(Error::InvalidGrant)
    ));
    // The expired link names nobody; the dead onboarding's link names its organization.
    assert_eq!(f.events(EventCode::SSO_ADMIN_LINK_REFUSED).await.len(), 1);
}

#[tokio::test]
async fn the_grant_of_a_redeemed_link_configures_its_one_connection_and_nothing_else() {
    let f = fixture().await;
    let sso = f.identity.sso(&f.org);
    let c = sso
        .create(NewSsoConnection {
            send_email: true,
            ..with_admin(&f)
        })
        .await
        .unwrap();
    let other = sso.create(with_admin(&f)).await.unwrap();
    let link = f
        .identity
        .redeem_sso_admin_link(&link_token(&f))
        .await
        .unwrap();
    let grant = link.grant.expose().to_owned();
    let mut admin = f.identity.sso_admin(&grant).await.unwrap();
    assert_eq!(admin.connection().idp_id, c.idp_id);
    admin.choose_provider(ProviderType::Okta).await.unwrap();
    admin.set_tutorial_step(3).await.unwrap();
    admin
        .set_metadata("https://customer.okta.com/.well-known/openid-configuration")
        .await
        .unwrap();
    match admin.set_tutorial_step(101).await {
        Err(Error::InvalidField {
            field: "tutorial_step",
            ..
        }) => {}
        other => panic!("a step past the tutorial: {other:?}"),
    }
    admin.complete().await.unwrap();
    let stored = sso.connection(c.idp_id.as_str()).await.unwrap();
    let o = stored.onboarding.as_ref().unwrap();
    assert_eq!(
        (o.provider_type, o.state, o.tutorial_step),
        (Some(ProviderType::Okta), OnboardingState::Completed, 3)
    );
    assert_eq!(stored.provider_type, Some(ProviderType::Okta));
    assert!(stored.metadata.is_some());
    // Nothing of the other connection changed.
    assert_eq!(sso.connection(other.idp_id.as_str()).await.unwrap(), other);
    // A forged grant (another connection's id, a changed byte) and an expired one are refused.
    let (body, _) = grant.split_once('.').unwrap();
    let forged = format!("{body}.{}", other.idp_id);
    let mut flipped = grant.clone().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    for bad in [
        forged,
        String::from_utf8(flipped).unwrap(),
        "x.y".to_owned(),
        String::new(),
    ] {
        assert!(
            matches!(f.identity.sso_admin(&bad).await, Err(Error::InvalidGrant)),
            "{bad}"
        );
    }
    // A new onboarding (another administrator) ends the grant.
    sso.create_onboarding(c.idp_id.as_str(), "new_it_guy@sample.co", None, false)
        .await
        .unwrap();
    assert!(matches!(
        f.identity.sso_admin(&grant).await,
        Err(Error::InvalidGrant)
    ));
    assert!(matches!(admin.complete().await, Err(Error::InvalidGrant)));
    let link_two = {
        sso.invite_admin(c.idp_id.as_str()).await.unwrap();
        let mail = f
            .outbox
            .last_to(&Email::parse("new_it_guy@sample.co").unwrap())
            .unwrap();
        let token = mail.body.split_once("token=").unwrap().1;
        let token = token.split_whitespace().next().unwrap().to_owned();
        f.identity.redeem_sso_admin_link(&token).await.unwrap()
    };
    f.clock.advance(idcore::sso::ADMIN_GRANT_LIFETIME);
    assert!(matches!(
        f.identity.sso_admin(link_two.grant.expose()).await,
        Err(Error::InvalidGrant)
    ));
}
