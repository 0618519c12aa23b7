//! The authorization request (`protocol::authorize`) and RP-initiated logout
//! (`protocol::end_session`): what is shown, what redirects, and the exact error of each case.

use idcore::clock::ManualClock;
use idcore::directory::{ClientId, OrgDomain};
use idcore::protocol::authorize::{AuthorizeError, Prompt, authorize_request};
use idcore::protocol::end_session::end_session_request;
use idcore::tokens::keys::EncryptionKey;
use idcore::tokens::pkce::CodeChallenge;
use idcore::tokens::{ClientAuth, CodeRequest};
use idcore::{
    ApplicationScope, ApplicationType, Identity, MemoryStore, NewApplication, NewOrganization,
    NewUser,
};
use time::macros::datetime;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "https://app.example.com/callback";
const LOGOUT: &str = "https://app.example.com/bye";
const ISS: &str = "https://auth.example.com/t/misapret";

struct Fixture {
    identity: Identity<MemoryStore>,
    clock: ManualClock,
    org: OrgDomain,
    other_org: OrgDomain,
    spa: ClientId,
    /// An application of the other organization.
    foreign: ClientId,
}

async fn fixture() -> Fixture {
    let clock = ManualClock::new(datetime!(2026-06-01 12:00 UTC));
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .clock(clock.clone())
        .key_encryption_key(EncryptionKey::from_bytes(&[9; 32]).unwrap())
        .store(MemoryStore::new())
        .build()
        .unwrap();
    let mut orgs = Vec::new();
    let mut apps = Vec::new();
    for name in ["Misapret", "Other"] {
        let org = identity
            .organizations()
            .create(NewOrganization::new(name).unwrap())
            .await
            .unwrap()
            .domain;
        let app = identity
            .applications(ApplicationScope::Organization(org.clone()))
            .create(
                NewApplication::new("SPA", ApplicationType::React)
                    .unwrap()
                    .with(|a| {
                        a.allowed_redirect_urls(&[REDIRECT])?
                            .allowed_logout_urls(&[LOGOUT])
                    })
                    .unwrap(),
            )
            .await
            .unwrap();
        orgs.push(org);
        apps.push(app.application.client_id);
    }
    Fixture {
        identity,
        clock,
        org: orgs[0].clone(),
        other_org: orgs[1].clone(),
        spa: apps[0],
        foreign: apps[1],
    }
}

fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Fixture {
    /// A valid request's parameters, then `extra`.
    fn valid(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let spa = self.spa.to_string();
        let mut q = query(&[
            ("response_type", "code"),
            ("client_id", &spa),
            ("redirect_uri", REDIRECT),
            ("scope", "openid email"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "st&1"),
            ("nonce", "n-1"),
        ]);
        q.extend(query(extra));
        q
    }

    async fn check(&self, q: &[(String, String)]) -> Result<Prompt, AuthorizeError> {
        authorize_request(&self.identity, &self.org, q)
            .await
            .map(|r| r.prompt)
    }

    async fn id_token(&self, org: &OrgDomain, client: ClientId) -> String {
        let user = self
            .identity
            .users(org)
            .create(NewUser::new("hint@example.com").unwrap())
            .await
            .unwrap();
        let code = self
            .identity
            .tokens()
            .mint_code(CodeRequest {
                org: org.clone(),
                user_id: user.id,
                client_id: client,
                redirect_uri: REDIRECT.to_owned(),
                code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
                nonce: None,
                state: None,
                scope: vec!["openid".to_owned()],
                auth_time: self.identity.now(),
                amr: vec![],
            })
            .await
            .unwrap();
        self.identity
            .tokens()
            .exchange_code(
                &ClientAuth::public(client),
                code.expose(),
                REDIRECT,
                VERIFIER,
            )
            .await
            .unwrap()
            .id_token
    }
}

fn shown(description: &'static str) -> AuthorizeError {
    AuthorizeError::Show {
        status: 400,
        error: if description == "the client is not known" {
            "invalid_client"
        } else {
            "invalid_request"
        },
        description,
    }
}

/// `application/x-www-form-urlencoded`, written out independently of the library's.
fn form(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b' ' => "+".to_owned(),
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn back(error: &str, description: &str) -> AuthorizeError {
    AuthorizeError::Redirect {
        location: format!(
            "{REDIRECT}?error={error}&error_description={}&state=st%261&iss={}",
            form(description),
            form(ISS)
        ),
    }
}

#[tokio::test]
async fn a_valid_request_is_accepted_with_its_prompt() {
    let f = fixture().await;
    let request = authorize_request(
        &f.identity,
        &f.org,
        &f.valid(&[("login_hint", "janis@example.com")]),
    )
    .await
    .unwrap();
    assert_eq!(request.prompt, Prompt::Default);
    assert_eq!(request.authorization.client_id, f.spa);
    assert_eq!(request.authorization.scope, ["openid", "email"]);
    assert_eq!(request.authorization.state.as_deref(), Some("st&1"));
    assert_eq!(request.authorization.nonce.as_deref(), Some("n-1"));
    assert_eq!(request.login_hint.as_deref(), Some("janis@example.com"));
    assert_eq!(
        f.check(&f.valid(&[("prompt", "login")])).await,
        Ok(Prompt::Login)
    );
    assert_eq!(
        f.check(&f.valid(&[("prompt", "none")])).await,
        Ok(Prompt::None)
    );
    assert_eq!(
        f.check(&f.valid(&[("prompt", "consent")])).await,
        Ok(Prompt::Default)
    );
    // max_age: a session older than it is not reused; prompt=login reuses none.
    let aged = authorize_request(&f.identity, &f.org, &f.valid(&[("max_age", "60")]))
        .await
        .unwrap();
    assert!(aged.accepts_session(1_000, 1_060));
    assert!(!aged.accepts_session(1_000, 1_061));
    let login = authorize_request(&f.identity, &f.org, &f.valid(&[("prompt", "login")]))
        .await
        .unwrap();
    assert!(!login.accepts_session(1_000, 1_000));
}

#[tokio::test]
async fn until_the_client_and_redirect_uri_are_established_nothing_redirects() {
    let f = fixture().await;
    let spa = f.spa.to_string();
    let foreign = f.foreign.to_string();
    let cases = [
        (
            query(&[("redirect_uri", REDIRECT)]),
            shown("client_id is required"),
        ),
        (
            query(&[("client_id", "not-an-id"), ("redirect_uri", REDIRECT)]),
            shown("the client is not known"),
        ),
        // Another organization's application is not a client of this one.
        (
            query(&[("client_id", &foreign), ("redirect_uri", REDIRECT)]),
            shown("the client is not known"),
        ),
        (
            query(&[("client_id", &spa)]),
            shown("redirect_uri is required"),
        ),
        (
            query(&[
                ("client_id", &spa),
                ("redirect_uri", "https://evil.example.com/callback"),
            ]),
            shown("redirect_uri is not registered for this client"),
        ),
        (
            query(&[
                ("client_id", &spa),
                ("client_id", &spa),
                ("redirect_uri", REDIRECT),
            ]),
            shown("a parameter was sent more than once"),
        ),
    ];
    for (q, expected) in cases {
        assert_eq!(f.check(&q).await, Err(expected), "{q:?}");
    }
}

#[tokio::test]
async fn once_the_client_is_established_errors_go_back_to_it_with_state_and_iss() {
    let f = fixture().await;
    let without = |name: &str| -> Vec<(String, String)> {
        f.valid(&[])
            .into_iter()
            .filter(|(k, _)| k != name)
            .collect()
    };
    let mut plain = without("code_challenge_method");
    plain.push(("code_challenge_method".to_owned(), "plain".to_owned()));
    let cases = [
        (
            without("response_type"),
            back("invalid_request", "response_type is required"),
        ),
        (
            f.valid(&[("response_type", "token")])
                .into_iter()
                .filter(|(k, v)| !(k == "response_type" && v == "code"))
                .collect(),
            back("unsupported_response_type", "response_type must be code"),
        ),
        (
            without("code_challenge"),
            back("invalid_request", "code_challenge is required (PKCE S256)"),
        ),
        (
            plain,
            back("invalid_request", "code_challenge_method must be S256"),
        ),
        (
            without("code_challenge_method"),
            back("invalid_request", "code_challenge_method must be S256"),
        ),
        (
            f.valid(&[("request", "eyJ")]),
            back("request_not_supported", "request objects are not supported"),
        ),
        (
            f.valid(&[("request_uri", "https://x")]),
            back("request_uri_not_supported", "request_uri is not supported"),
        ),
        (
            f.valid(&[("prompt", "none login")]),
            back(
                "invalid_request",
                "prompt=none cannot be combined with other values",
            ),
        ),
        (
            f.valid(&[("prompt", "sometimes")]),
            back("invalid_request", "prompt is not understood"),
        ),
        (
            f.valid(&[("max_age", "-1")]),
            back("invalid_request", "max_age must be a number of seconds"),
        ),
        (
            f.valid(&[("response_mode", "fragment")]),
            back("invalid_request", "response_mode must be query"),
        ),
        (
            f.valid(&[("nonce", "n-2")]),
            back("invalid_request", "a parameter was sent more than once"),
        ),
        (
            f.valid(&[("scope", "a\u{7f}b")])
                .into_iter()
                .filter(|(k, v)| !(k == "scope" && v == "openid email"))
                .collect(),
            back("invalid_scope", "scope is malformed"),
        ),
    ];
    for (q, expected) in cases {
        assert_eq!(f.check(&q).await, Err(expected), "{q:?}");
    }
    let long_nonce = "n".repeat(513);
    let q: Vec<_> = f
        .valid(&[])
        .into_iter()
        .map(|(k, v)| {
            if k == "nonce" {
                (k, long_nonce.clone())
            } else {
                (k, v)
            }
        })
        .collect();
    assert_eq!(
        f.check(&q).await,
        Err(back("invalid_request", "nonce is too long"))
    );
}

#[tokio::test]
async fn logout_redirects_only_to_an_allowed_url_and_accepts_an_expired_hint() {
    let f = fixture().await;
    let spa = f.spa.to_string();
    let hint = f.id_token(&f.org, f.spa).await;
    // The ID token expired long ago: it still names who signs out.
    f.clock.advance(time::Duration::days(30));
    let request = end_session_request(
        &f.identity,
        &f.org,
        &query(&[
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", LOGOUT),
            ("state", "s 1"),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(request.client_id, Some(f.spa));
    assert!(request.user_id.is_some());
    assert_eq!(
        request.redirect.as_deref(),
        Some("https://app.example.com/bye?state=s+1")
    );
    // Without a redirect: a page, no redirect.
    let plain = end_session_request(&f.identity, &f.org, &query(&[]))
        .await
        .unwrap();
    assert_eq!((plain.client_id, plain.redirect), (None, None));

    let bad = |d| AuthorizeError::Show {
        status: 400,
        error: "invalid_request",
        description: d,
    };
    let foreign_hint = f.id_token(&f.other_org, f.foreign).await;
    let mut tampered = hint.clone();
    tampered.pop();
    let foreign = f.foreign.to_string();
    let cases = [
        (
            query(&[("post_logout_redirect_uri", LOGOUT)]),
            bad("post_logout_redirect_uri needs client_id or id_token_hint"),
        ),
        (
            query(&[
                ("client_id", &spa),
                ("post_logout_redirect_uri", "https://evil.example.com/"),
            ]),
            bad("post_logout_redirect_uri is not registered for this client"),
        ),
        (
            query(&[("id_token_hint", &foreign_hint)]),
            bad("id_token_hint is not an ID token of this organization"),
        ),
        (
            query(&[("id_token_hint", &tampered)]),
            bad("id_token_hint is not an ID token of this organization"),
        ),
        (
            query(&[("id_token_hint", "not a token")]),
            bad("id_token_hint is not an ID token of this organization"),
        ),
        (
            query(&[("id_token_hint", &hint), ("client_id", &foreign)]),
            bad("client_id is not the audience of id_token_hint"),
        ),
        (
            query(&[
                ("client_id", &foreign),
                ("post_logout_redirect_uri", LOGOUT),
            ]),
            AuthorizeError::Show {
                status: 400,
                error: "invalid_client",
                description: "the client is not known",
            },
        ),
        (
            query(&[
                ("client_id", &spa),
                ("post_logout_redirect_uri", LOGOUT),
                ("state", "a"),
                ("state", "b"),
            ]),
            bad("a parameter was sent more than once"),
        ),
    ];
    for (q, expected) in cases {
        assert_eq!(
            end_session_request(&f.identity, &f.org, &q).await,
            Err(expected),
            "{q:?}"
        );
    }
}
