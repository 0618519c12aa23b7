//! Federated sign-in through SSO connections, on the `MemoryStore`: provisioning by policy,
//! attribute sync, refusals (each audited with its reason), the code for the default
//! redirection and the tokens it gives, and seats.

mod support;

use idcore::audit::{EventCode, EventQuery};
use idcore::directory::{Email, ProfileChanges};
use idcore::sessions::{ValidationFactor, ValidationFactors};
use idcore::sso::{
    AttributeSync, NewSsoConnection, SsoConnectionUpdate, SsoSignIn, SsoSignInRequest,
    UserSecurityType, VerifiedIdentity,
};
use idcore::tokens::ClientAuth;
use idcore::tokens::pkce::CodeChallenge;
use idcore::{Error, NewUser, PageRequest, Resource};
use support::*;

fn from(address: &str) -> ValidationFactors {
    ValidationFactors::parse(vec![ValidationFactor {
        name: "remote_address".to_owned(),
        value: address.to_owned(),
    }])
    .unwrap()
}

fn person(email: &str) -> VerifiedIdentity {
    VerifiedIdentity {
        subject: format!("idp|{email}"),
        email: email.to_owned(),
        email_verified: true,
        name: Some("Grace Hopper".to_owned()),
        given_name: Some("Grace".to_owned()),
        family_name: Some("Hopper".to_owned()),
        nickname: Some("amazing".to_owned()),
        picture: Some("https://idp.example.com/grace.png".to_owned()),
    }
}

fn request(idp_id: &str, identity: VerifiedIdentity) -> SsoSignInRequest {
    SsoSignInRequest {
        idp_id: idp_id.to_owned(),
        identity,
        factors: from("192.0.2.10"),
        redirect_uri: None,
        code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        state: Some("af0ifjsldkj".to_owned()),
        scope: vec!["openid".to_owned(), "email".to_owned()],
        context: idcore::risk::RequestContext::new(),
    }
}

async fn connection(f: &Fx, policy: UserSecurityType) -> String {
    let sso = f.identity.sso(&f.org);
    let c = sso.create(NewSsoConnection::new(f.client)).await.unwrap();
    sso.set_user_policy(c.idp_id.as_str(), policy)
        .await
        .unwrap();
    c.idp_id.to_string()
}

async fn refusals(f: &Fx) -> Vec<String> {
    f.events(EventCode::SSO_SIGN_IN_REFUSED)
        .await
        .into_iter()
        .map(|e| e.details["reason"].clone())
        .collect()
}

#[tokio::test]
async fn an_unknown_person_is_provisioned_and_gets_tokens_for_the_default_redirection() {
    let f = fixture().await;
    let idp = connection(&f, UserSecurityType::None).await;
    let done: SsoSignIn = f
        .identity
        .complete_sso(request(&idp, person("grace@corp.example")))
        .await
        .unwrap();
    assert!(done.provisioned);
    assert_eq!(done.redirect_uri, REDIRECT);
    assert_eq!(done.state.as_deref(), Some("af0ifjsldkj"));
    let p = &done.user.profile;
    assert!(p.email_verified);
    assert_eq!(p.name.as_ref().map(|n| n.as_str()), Some("Grace Hopper"));
    assert_eq!(
        p.picture.as_ref().map(|u| u.as_str()),
        Some("https://idp.example.com/grace.png")
    );
    let set = f
        .identity
        .tokens()
        .exchange_code(
            &ClientAuth::public(f.client),
            done.code.expose(),
            REDIRECT,
            VERIFIER,
        )
        .await
        .unwrap();
    let id = f
        .identity
        .tokens()
        .verify_id_token(&set.id_token, f.client)
        .await
        .unwrap();
    assert_eq!(id.sub, done.user.id);
    // The session is a Crowd-style session of the organization, bound to the factors.
    let session = f
        .identity
        .sessions(&f.org)
        .get(done.session.token.expose(), &from("192.0.2.10"))
        .await
        .unwrap();
    assert_eq!(session.user.id, done.user.id);
    // The event names the connection as the SSO provider, so the provider filter finds it.
    let query = EventQuery::tenant(&f.org)
        .code(EventCode::SSO_SIGN_IN)
        .saml_identity_provider_id(idp.clone());
    let events = f
        .identity
        .events()
        .list(&query, PageRequest::new(1, 10).unwrap())
        .await
        .unwrap();
    assert_eq!(events.total, 1);
    assert_eq!(events.data[0].details["provisioned"], "true");
    // A second sign-in finds the user (and reuses the session of the same device).
    let again = f
        .identity
        .complete_sso(request(
            &idp,
            VerifiedIdentity {
                email: "GRACE@corp.example".to_owned(),
                ..person("grace@corp.example")
            },
        ))
        .await
        .unwrap();
    assert!(!again.provisioned);
    assert_eq!(again.user.id, done.user.id);
    assert_eq!(again.session.id, done.session.id);
}

#[tokio::test]
async fn the_policies_and_the_connection_state_refuse_with_their_reasons() {
    let f = fixture().await;
    let idp = connection(&f, UserSecurityType::UserRegistered).await;
    let refused = |r: Result<SsoSignIn, Error>| match r {
        Err(Error::Forbidden(_)) => {}
        other => panic!("expected forbidden, got {other:?}"),
    };
    refused(
        f.identity
            .complete_sso(request(&idp, person("stranger@corp.example")))
            .await,
    );
    let users = f
        .identity
        .users(&f.org)
        .list(PageRequest::new(1, 10).unwrap())
        .await
        .unwrap();
    assert_eq!(users.total, 0, "user_registered provisions nobody");
    let known = f
        .identity
        .users(&f.org)
        .create(NewUser::new("known@corp.example").unwrap())
        .await
        .unwrap();
    let ok = f
        .identity
        .complete_sso(request(&idp, person("known@corp.example")))
        .await
        .unwrap();
    assert_eq!((ok.user.id, ok.provisioned), (known.id, false));
    f.identity.users(&f.org).disable(known.id).await.unwrap();
    refused(
        f.identity
            .complete_sso(request(&idp, person("known@corp.example")))
            .await,
    );
    let unverified = VerifiedIdentity {
        email_verified: false,
        ..person("known@corp.example")
    };
    refused(f.identity.complete_sso(request(&idp, unverified)).await);
    f.identity.sso(&f.org).disable(&idp).await.unwrap();
    refused(
        f.identity
            .complete_sso(request(&idp, person("known@corp.example")))
            .await,
    );
    assert_eq!(
        refusals(&f).await,
        [
            "user_not_registered",
            "user_disabled",
            "email_not_verified",
            "connection_disabled"
        ]
    );
    match f
        .identity
        .complete_sso(request(
            "misapret_1111111111111111111111",
            person("x@y.example"),
        ))
        .await
    {
        Err(Error::NotFound(Resource::SsoConnection)) => {}
        other => panic!("an unknown connection: {other:?}"),
    }
    let mut elsewhere = request(&idp, person("known@corp.example"));
    elsewhere.redirect_uri = Some("https://evil.example.com/cb".to_owned());
    f.identity.sso(&f.org).activate(&idp).await.unwrap();
    f.identity.users(&f.org).enable(known.id).await.unwrap();
    match f.identity.complete_sso(elsewhere).await {
        Err(Error::InvalidField {
            field: "redirect_uri",
            ..
        }) => {}
        other => panic!("a redirect outside the allowed URLs: {other:?}"),
    }
}

#[tokio::test]
async fn profile_attributes_follow_the_identity_provider_unless_taken_on_creation_only() {
    let f = fixture().await;
    let idp = connection(&f, UserSecurityType::None).await;
    let first = f
        .identity
        .complete_sso(request(&idp, person("ada@corp.example")))
        .await
        .unwrap();
    let renamed = VerifiedIdentity {
        name: Some("Grace B. Hopper".to_owned()),
        picture: Some("not a url".to_owned()),
        ..person("ada@corp.example")
    };
    let second = f
        .identity
        .complete_sso(request(&idp, renamed.clone()))
        .await
        .unwrap();
    let p = &second.user.profile;
    assert_eq!(p.name.as_ref().map(|n| n.as_str()), Some("Grace B. Hopper"));
    assert_eq!(
        p.picture, first.user.profile.picture,
        "an invalid attribute is left out"
    );
    let events = f.events(EventCode::SSO_SIGN_IN).await;
    assert_eq!(
        events.last().unwrap().details["skipped_attributes"],
        "picture"
    );
    // On creation only: later changes at the identity provider are not applied, and the
    // host's own edits stay.
    f.identity
        .sso(&f.org)
        .update(
            &idp,
            &SsoConnectionUpdate {
                attribute_sync: Some(AttributeSync::OnCreation),
                ..SsoConnectionUpdate::default()
            },
        )
        .await
        .unwrap();
    f.identity
        .users(&f.org)
        .update(
            second.user.id,
            ProfileChanges::new().nickname("edited").unwrap(),
        )
        .await
        .unwrap();
    let third = f
        .identity
        .complete_sso(request(
            &idp,
            VerifiedIdentity {
                name: Some("Someone Else".to_owned()),
                ..renamed
            },
        ))
        .await
        .unwrap();
    let p = &third.user.profile;
    assert_eq!(p.name.as_ref().map(|n| n.as_str()), Some("Grace B. Hopper"));
    assert_eq!(p.nickname.as_ref().map(|n| n.as_str()), Some("edited"));
    assert_eq!(
        f.identity
            .users(&f.org)
            .retrieve_by_email(&Email::parse("ada@corp.example").unwrap())
            .await
            .unwrap()
            .profile
            .nickname
            .map(|n| n.to_string())
            .as_deref(),
        Some("edited")
    );
}

#[tokio::test]
async fn seats_limit_the_sessions_and_an_ended_session_frees_its_seat() {
    let f = fixture().await;
    let idp = connection(&f, UserSecurityType::SeatsLimited).await;
    f.identity
        .sso(&f.org)
        .update(
            &idp,
            &SsoConnectionUpdate {
                seats_limit: Some(2),
                ..SsoConnectionUpdate::default()
            },
        )
        .await
        .unwrap();
    let a = f
        .identity
        .complete_sso(request(&idp, person("a@corp.example")))
        .await
        .unwrap();
    f.identity
        .complete_sso(request(&idp, person("b@corp.example")))
        .await
        .unwrap();
    match f
        .identity
        .complete_sso(request(&idp, person("c@corp.example")))
        .await
    {
        Err(e @ Error::SeatsLimitReached) => {
            assert_eq!((e.code(), e.http_status()), ("seats_limit_reached", 403));
        }
        other => panic!("expected seats_limit_reached, got {other:?}"),
    }
    // The same person again reuses its session: no new seat.
    f.identity
        .complete_sso(request(&idp, person("a@corp.example")))
        .await
        .unwrap();
    assert!(
        f.identity
            .sessions(&f.org)
            .invalidate(a.session.token.expose())
            .await
            .unwrap()
    );
    let c = f
        .identity
        .complete_sso(request(&idp, person("c@corp.example")))
        .await
        .unwrap();
    assert!(!c.provisioned, "created by the sign-in that found no seat");
    assert_eq!(refusals(&f).await, ["seats_limit_reached"]);
}

#[tokio::test]
async fn a_linked_user_signs_in_only_as_its_subject_and_synced_attributes_are_not_editable() {
    let f = fixture().await;
    let idp = connection(&f, UserSecurityType::None).await;
    let first = f
        .identity
        .complete_sso(request(&idp, person("lin@corp.example")))
        .await
        .unwrap();
    let link = first
        .user
        .federation
        .clone()
        .expect("linked at provisioning");
    assert_eq!(
        (link.idp_id.as_str(), link.subject.as_str()),
        (idp.as_str(), "idp|lin@corp.example")
    );
    let impostor = VerifiedIdentity {
        subject: "idp|someone-else".to_owned(),
        ..person("lin@corp.example")
    };
    match f.identity.complete_sso(request(&idp, impostor)).await {
        Err(Error::Forbidden(_)) => {}
        other => panic!("another subject for the address: {other:?}"),
    }
    assert_eq!(refusals(&f).await, ["subject_mismatch"]);
    // Kept in sync by the identity provider: not editable here; other fields are.
    let users = f.identity.users(&f.org);
    match users
        .update(
            first.user.id,
            ProfileChanges::new().name("Renamed").unwrap(),
        )
        .await
    {
        Err(Error::InvalidField { field: "name", .. }) => {}
        other => panic!("a synced attribute: {other:?}"),
    }
    let changed = users
        .update(
            first.user.id,
            ProfileChanges::new().locale("fr-FR").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        changed.profile.locale.map(|l| l.to_string()).as_deref(),
        Some("fr-FR")
    );
    assert_eq!(
        changed.profile.name.as_ref().map(|n| n.as_str()),
        Some("Grace Hopper"),
        "unchanged"
    );
    // A user the directory created is linked at its first federated sign-in.
    let known = users
        .create(NewUser::new("known@corp.example").unwrap())
        .await
        .unwrap();
    assert_eq!(known.federation, None);
    let signed = f
        .identity
        .complete_sso(request(&idp, person("known@corp.example")))
        .await
        .unwrap();
    assert_eq!(signed.user.id, known.id);
    assert_eq!(
        signed.user.federation.map(|l| l.subject),
        Some("idp|known@corp.example".to_owned())
    );
    assert_eq!(
        signed.user.profile.name.as_ref().map(|n| n.as_str()),
        Some("Grace Hopper"),
        "synced at the sign-in"
    );
}

#[tokio::test]
async fn the_risk_engine_decides_and_only_accept_opens_a_session() {
    use idcore::risk::RiskDecision;
    for (decision, reason) in [
        (RiskDecision::Decline, "risk_declined"),
        (RiskDecision::Challenge, "risk_challenge"),
        (RiskDecision::ChallengeDevice2fa, "risk_challenge"),
    ] {
        let f = fixture_with(|b| b.risk_engine(Fixed::new(decision))).await;
        let idp = connection(&f, UserSecurityType::None).await;
        match f
            .identity
            .complete_sso(request(&idp, person("risky@corp.example")))
            .await
        {
            Err(Error::Forbidden(_)) => {}
            other => panic!("{decision:?}: {other:?}"),
        }
        assert_eq!(refusals(&f).await, [reason]);
        let decisions = f.events(EventCode::RISK_DECISION).await;
        assert_eq!(decisions.len(), 1);
        assert_eq!(decisions[0].details["decision"], decision.as_str());
        assert!(f.events(EventCode::SSO_SIGN_IN).await.is_empty());
    }
    let f = fixture_with(|b| b.risk_engine(Broken)).await;
    let idp = connection(&f, UserSecurityType::None).await;
    match f
        .identity
        .complete_sso(request(&idp, person("risky@corp.example")))
        .await
    {
        Err(Error::Unavailable(_)) => {}
        other => panic!("a failed engine fails closed: {other:?}"),
    }
    let f = fixture_with(|b| b.risk_engine(Fixed::new(RiskDecision::Accept))).await;
    let idp = connection(&f, UserSecurityType::None).await;
    f.identity
        .complete_sso(request(&idp, person("fine@corp.example")))
        .await
        .unwrap();
}
