//! The seed wires of sessions and token deletion: Crowd's `/rest/usermanagement/1/session…`
//! (seed 002: the authentication body, the session JSON, the reason codes and statuses) and
//! apstrata `DeleteToken` carried out (seed 003: a user's own token, an owner's user list).

mod support;

use idcore::audit::EventCode;
use idcore::protocol::crowd::{self, AuthenticateQuery, Authenticated, CrowdResponse};
use idcore::protocol::delete_token::{Caller, DeleteToken, DeleteTokenError, Envelope, Transport};
use idcore::risk::RequestContext;
use idcore::sessions::{SessionSettings, ValidationFactor, ValidationFactors};
use idcore::tokens::ClientAuth;
use idcore::{Error, TokenProblem};
use serde_json::json;
use support::*;
use time::Duration;

const BASE: &str = "https://crowd.example.com/crowd/rest/usermanagement/1";

/// The seed's authentication request, for `login`.
fn seed_body(login: &str, password: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "userName": login,
        "password": password,
        "validation-factors": {
            "validation-factor": [ { "name": "remote_address", "value": "127.0.0.1" } ]
        }
    }))
    .unwrap()
}

const SEED_FACTORS: &[u8] =
    br#"{ "validation-factor": [ { "name": "remote_address", "value": "127.0.0.1" } ] }"#;

fn localhost() -> ValidationFactors {
    ValidationFactors::parse(vec![ValidationFactor {
        name: "remote_address".into(),
        value: "127.0.0.1".into(),
    }])
    .unwrap()
}

fn response(a: Authenticated) -> CrowdResponse {
    match a {
        Authenticated::Response(r) => r,
        Authenticated::FactorRequired(p) => panic!("unexpected factor step {p:?}"),
    }
}

/// The token of a session opened with the seed's authentication request for `login`.
async fn crowd_token<S: idcore::store::Store>(
    sessions: &idcore::sessions::Sessions<'_, S>,
    login: &str,
) -> String {
    let r = response(
        crowd::authenticate(
            sessions,
            AuthenticateQuery::default(),
            &seed_body(login, PASSWORD),
            RequestContext::new(),
            None,
            BASE,
        )
        .await,
    );
    r.body.unwrap()["token"].as_str().unwrap().to_owned()
}

#[track_caller]
fn reason(r: &CrowdResponse) -> (u16, &str) {
    (
        r.status,
        r.body.as_ref().unwrap()["reason"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn the_seed_session_routes_answer_the_seed_json() {
    let f = fixture().await;
    let user = f.active_user("sampleuser@example.com").await;
    let sessions = f.identity.sessions(&f.org);
    let created = response(
        crowd::authenticate(
            &sessions,
            AuthenticateQuery::default(),
            &seed_body("sampleuser@example.com", PASSWORD),
            RequestContext::new(),
            None,
            BASE,
        )
        .await,
    );
    assert_eq!(created.status, 201);
    let body = created.body.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 43);
    let start_ms = START.unix_timestamp() * 1000;
    assert_eq!(
        body,
        json!({
            "token": token,
            "user": {
                "link": null,
                "name": "sampleuser@example.com",
                "firstName": null,
                "lastName": null,
                "displayName": null,
                "directoryId": null,
                "password": null,
                "encryptedPassword": null,
                "key": user.id.as_uuid().to_string(),
                "createdDate": start_ms,
                "updatedDate": body["user"]["updatedDate"],
                "directoryName": f.org.as_str(),
                "active": true,
                "attributes": null,
                "expanded": true,
                "email": "sampleuser@example.com"
            },
            "link": { "href": format!("{BASE}/session/{token}"), "rel": "self" },
            "createdDate": start_ms,
            "expiryDate": start_ms + 30 * 60 * 1000,
            "unaliasedUsername": null
        })
    );
    assert!(body["user"]["updatedDate"].as_i64().unwrap() >= start_ms);

    // Validate with the seed's body keeps it alive; GET answers it; DELETE ends it.
    f.clock.advance(Duration::minutes(2));
    let validated = crowd::validate(&sessions, &token, SEED_FACTORS, BASE).await;
    assert_eq!(validated.status, 200);
    assert_eq!(
        validated.body.as_ref().unwrap()["expiryDate"],
        json!(start_ms + 32 * 60 * 1000)
    );
    let got = crowd::get(&sessions, &token, &localhost(), BASE).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body.unwrap()["token"], json!(token));
    // The same credentials and factors again: the same session (the seed's 201 either way).
    let again = response(
        crowd::authenticate(
            &sessions,
            AuthenticateQuery::default(),
            &seed_body("sampleuser@example.com", PASSWORD),
            RequestContext::new(),
            None,
            BASE,
        )
        .await,
    );
    assert_eq!(
        (again.status, &again.body.unwrap()["token"]),
        (201, &json!(token))
    );
    let deleted = crowd::invalidate(&sessions, &token).await;
    assert_eq!((deleted.status, deleted.body), (204, None));
    let gone = crowd::get(&sessions, &token, &localhost(), BASE).await;
    assert_eq!(reason(&gone), (404, "INVALID_SSO_TOKEN"));
}

#[tokio::test]
async fn crowd_errors_carry_its_reason_codes() {
    let f = fixture().await;
    let user = f.active_user("sampleuser@example.com").await;
    let sessions = f.identity.sessions(&f.org);
    let auth = async |body: Vec<u8>, query: AuthenticateQuery| {
        response(
            crowd::authenticate(&sessions, query, &body, RequestContext::new(), None, BASE).await,
        )
    };
    let q = AuthenticateQuery::default();
    let wrong = auth(seed_body("sampleuser@example.com", "wrong password!!"), q).await;
    assert_eq!(reason(&wrong), (401, "INVALID_USER_AUTHENTICATION"));
    let unknown = auth(seed_body("nobody@example.com", PASSWORD), q).await;
    assert_eq!(reason(&unknown), (401, "INVALID_USER_AUTHENTICATION"));
    let malformed = auth(b"{\"user\": 1}".to_vec(), q).await;
    assert_eq!(reason(&malformed), (400, "ILLEGAL_ARGUMENT"));
    let long = "x".repeat(1025);
    let bad_factor = auth(
        serde_json::to_vec(&json!({
            "userName": "sampleuser@example.com", "password": PASSWORD,
            "validation-factors": { "validation-factor": [ { "name": "remote_address", "value": long } ] }
        }))
        .unwrap(),
        q,
    )
    .await;
    assert_eq!(reason(&bad_factor), (400, "ILLEGAL_ARGUMENT"));
    let zero = auth(
        seed_body("sampleuser@example.com", PASSWORD),
        AuthenticateQuery {
            duration: Some(0),
            ..q
        },
    )
    .await;
    assert_eq!(reason(&zero), (400, "ILLEGAL_ARGUMENT"));
    let untrusted = auth(
        seed_body("sampleuser@example.com", ""),
        AuthenticateQuery {
            validate_password: Some(false),
            ..q
        },
    )
    .await;
    assert_eq!(reason(&untrusted), (403, "APPLICATION_PERMISSION_DENIED"));

    let s = auth(seed_body("sampleuser@example.com", PASSWORD), q).await;
    let token = s.body.unwrap()["token"].as_str().unwrap().to_owned();
    let other_address =
        br#"{"validation-factor": [{"name": "remote_address", "value": "10.0.0.1"}]}"#;
    let refused = crowd::validate(&sessions, &token, other_address, BASE).await;
    assert_eq!(reason(&refused), (404, "INVALID_SSO_TOKEN"));
    let not_json = crowd::validate(&sessions, &token, b"<xml/>", BASE).await;
    assert_eq!(reason(&not_json), (400, "ILLEGAL_ARGUMENT"));
    let no_user = crowd::invalidate_user(&sessions, "nobody@example.com", None).await;
    assert_eq!(reason(&no_user), (404, "USER_NOT_FOUND"));
    let all = crowd::invalidate_user(&sessions, "sampleuser@example.com", None).await;
    assert_eq!((all.status, all.body), (204, None));

    f.identity.users(&f.org).disable(user.id).await.unwrap();
    let inactive = auth(seed_body("sampleuser@example.com", PASSWORD), q).await;
    assert_eq!(reason(&inactive), (403, "INACTIVE_ACCOUNT"));
    assert_eq!(
        crowd::reason_of(&Error::SessionLimitReached),
        (403, "OPERATION_FAILED")
    );
}

#[tokio::test]
async fn a_trusted_application_opens_a_crowd_session_without_the_password() {
    let f = fixture().await;
    f.active_user("sampleuser@example.com").await;
    let mut settings = SessionSettings::default();
    settings.trusted_applications.insert(f.client);
    let identity = idcore::Identity::builder()
        .issuer("https://auth.example.com")
        .clock(f.clock.clone())
        .key_encryption_key(idcore::tokens::keys::EncryptionKey::from_bytes(&[7; 32]).unwrap())
        .session_settings(settings)
        .store(f.store.clone())
        .build()
        .unwrap();
    let sessions = identity.sessions(&f.org).application(f.client);
    let trusted = sessions.trusted(f.client).await.unwrap();
    let body = br#"{"userName": "sampleuser@example.com", "validation-factors": {"validation-factor": []}}"#;
    let opened = response(
        crowd::authenticate(
            &sessions,
            AuthenticateQuery {
                validate_password: Some(false),
                duration: Some(120),
            },
            body,
            RequestContext::new(),
            Some(&trusted),
            BASE,
        )
        .await,
    );
    assert_eq!(opened.status, 201);
    assert_eq!(
        opened.body.unwrap()["expiryDate"],
        json!((START + Duration::seconds(120)).unix_timestamp() * 1000)
    );
}

/// An owner deletes every token of a user list: sessions, refresh tokens, access tokens.
#[tokio::test]
async fn an_owner_deletes_the_tokens_of_a_user_list() {
    let f = fixture().await;
    let john = f.active_user("john@example.com").await;
    let domingo = f.active_user("domingo@dodge.com").await;
    f.active_user("keep@example.com").await;
    let sessions = f.identity.sessions(&f.org);
    let open = async |login: &str| crowd_token(&sessions, login).await;
    let (john_s, domingo_s, keep_s) = (
        open("john@example.com").await,
        open("domingo@dodge.com").await,
        open("keep@example.com").await,
    );
    let done = expect_complete(f.sign_in("john@example.com", PASSWORD).await);
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

    let params: Vec<(String, String)> = [
        ("apsws.time", "1700000000"),
        ("apsws.authSig", "…"),
        ("userList", "john@example.com"),
        ("userList", "domingo@dodge.com"),
        ("userList", "hybiscus@flowers.com"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect();
    let request = DeleteToken::parse(Caller::Owner, Transport::Secure, &params).unwrap();
    request
        .execute(&f.identity, &f.org, "owner key ak_1")
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(Envelope::success("7f0c")).unwrap(),
        json!({"response": {"metadata": {"requestId": "7f0c", "status": "success"}}})
    );

    for token in [&john_s, &domingo_s] {
        assert!(matches!(
            sessions.get(token, &localhost()).await,
            Err(Error::InvalidSession)
        ));
    }
    assert!(
        sessions.get(&keep_s, &localhost()).await.is_ok(),
        "not listed"
    );
    assert!(matches!(
        f.identity
            .tokens()
            .refresh(
                &ClientAuth::public(f.client),
                set.refresh_token.expose(),
                None
            )
            .await,
        Err(Error::InvalidGrant)
    ));
    f.clock.advance(Duration::seconds(10));
    assert!(matches!(
        f.identity.tokens().verify_live(&set.access_token).await,
        Err(Error::InvalidToken(TokenProblem::Revoked))
    ));
    let events = f.events(EventCode::USER_TOKENS_DELETED).await;
    let who: Vec<_> = events.iter().map(|e| e.resource_owner_id).collect();
    assert_eq!(who, [Some(john.id), Some(domingo.id)]);
    assert!(
        events
            .iter()
            .all(|e| e.details["requested_by"] == "owner key ak_1")
    );
}

#[tokio::test]
async fn a_user_deletes_its_own_token_only() {
    let f = fixture().await;
    f.active_user("john@example.com").await;
    f.active_user("ada@example.com").await;
    let sessions = f.identity.sessions(&f.org);
    let open = async |login: &str| crowd_token(&sessions, login).await;
    let john = open("john@example.com").await;
    let ada = open("ada@example.com").await;
    let own = |user: &str, token: &str| {
        let params = vec![
            ("apsws.user".to_owned(), user.to_owned()),
            ("apsdb.authToken".to_owned(), token.to_owned()),
        ];
        DeleteToken::parse(Caller::User, Transport::Secure, &params).unwrap()
    };
    // Another user's token, an unknown token: INVALID_TOKEN, and nothing ends.
    let err = own("john@example.com", &ada)
        .execute(&f.identity, &f.org, "john")
        .await
        .unwrap_err();
    assert_eq!(err, DeleteTokenError::InvalidToken);
    assert_eq!((err.code(), err.http_status()), ("INVALID_TOKEN", 400));
    assert_eq!(
        serde_json::to_value(Envelope::failure("r1", &err)).unwrap(),
        json!({"response": {"metadata": {
            "requestId": "r1", "status": "failure",
            "errorCode": "INVALID_TOKEN", "errorDetail": "Could not find the token"
        }}})
    );
    assert!(sessions.get(&ada, &localhost()).await.is_ok());
    assert_eq!(
        own("john@example.com", "not-a-token")
            .execute(&f.identity, &f.org, "john")
            .await,
        Err(DeleteTokenError::InvalidToken)
    );
    own("john@example.com", &john)
        .execute(&f.identity, &f.org, "john")
        .await
        .unwrap();
    assert!(matches!(
        sessions.get(&john, &localhost()).await,
        Err(Error::InvalidSession)
    ));
    assert!(sessions.get(&ada, &localhost()).await.is_ok());
    // Deleting it again: it is gone.
    assert_eq!(
        own("john@example.com", &john)
            .execute(&f.identity, &f.org, "john")
            .await,
        Err(DeleteTokenError::InvalidToken)
    );
}
