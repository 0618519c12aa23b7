//! The framework-agnostic endpoint functions: status, headers and exact JSON bodies.

use idcore::clock::{Clock, ManualClock};
use idcore::directory::{ClientId, OrgDomain, UserId};
use idcore::protocol::{self, Request, Response};
use idcore::tokens::CodeRequest;
use idcore::tokens::keys::EncryptionKey;
use idcore::tokens::pkce::CodeChallenge;
use idcore::{
    ApplicationScope, ApplicationType, Identity, MemoryStore, NewApplication, NewOrganization,
    NewUser,
};
use serde_json::json;
use time::macros::datetime;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "https://app.example.com/callback";

struct Fixture {
    identity: Identity<MemoryStore>,
    clock: ManualClock,
    org: OrgDomain,
    user: UserId,
    spa: ClientId,
    backend: ClientId,
    backend_secret: String,
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
    let org = identity
        .organizations()
        .create(NewOrganization::new("Misapret").unwrap())
        .await
        .unwrap()
        .domain;
    let apps = identity.applications(ApplicationScope::Organization(org.clone()));
    let new = |name: &str, t| {
        NewApplication::new(name, t)
            .unwrap()
            .with(|a| a.allowed_redirect_urls(&[REDIRECT]))
            .unwrap()
    };
    let spa = apps
        .create(new("SPA", ApplicationType::React))
        .await
        .unwrap();
    let backend = apps
        .create(new("Backend", ApplicationType::RegularWeb))
        .await
        .unwrap();
    let user = identity
        .users(&org)
        .create(NewUser::new("janis@example.com").unwrap())
        .await
        .unwrap();
    Fixture {
        identity,
        clock,
        org,
        user: user.id,
        spa: spa.application.client_id,
        backend: backend.application.client_id,
        backend_secret: backend.client_secret.unwrap().expose().to_owned(),
    }
}

impl Fixture {
    async fn code_for(&self, client: ClientId) -> String {
        let request = CodeRequest {
            org: self.org.clone(),
            user_id: self.user,
            client_id: client,
            redirect_uri: REDIRECT.to_owned(),
            code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
            nonce: None,
            state: None,
            scope: vec!["openid".to_owned()],
            auth_time: self.clock.now(),
            amr: vec![],
        };
        self.identity
            .tokens()
            .mint_code(request)
            .await
            .unwrap()
            .expose()
            .to_owned()
    }

    fn basic(&self) -> String {
        let raw = format!("{}:{}", self.backend, self.backend_secret);
        format!("Basic {}", b64_std(raw.as_bytes()))
    }
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn authorization_code_grant_for_a_public_client() {
    let f = fixture().await;
    let code = f.code_for(f.spa).await;
    let req = Request::form([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", &f.spa.to_string()),
    ]);
    let r = protocol::token(&f.identity, &req).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(header(&r, "Cache-Control"), Some("no-store"));
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3600);
    assert_eq!(r.body["scope"], "openid");
    assert!(
        r.body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() == 43)
    );
}

#[tokio::test]
async fn confidential_client_authenticates_with_basic_and_refreshes() {
    let f = fixture().await;
    let code = f.code_for(f.backend).await;
    let req = Request::form([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ])
    .authorization(f.basic());
    let r = protocol::token(&f.identity, &req).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
    let req = Request::form([
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ])
    .authorization(f.basic());
    let r = protocol::token(&f.identity, &req).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client_with_a_basic_challenge() {
    let f = fixture().await;
    let raw = format!("{}:wrong", f.backend);
    let req = Request::form([("grant_type", "refresh_token"), ("refresh_token", "x")])
        .authorization(format!("Basic {}", b64_std(raw.as_bytes())));
    let r = protocol::token(&f.identity, &req).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_client");
    assert_eq!(
        header(&r, "WWW-Authenticate"),
        Some("Basic realm=\"idcore\"")
    );
}

#[tokio::test]
async fn malformed_token_requests_get_rfc6749_errors() {
    let f = fixture().await;
    let spa = f.spa.to_string();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("client_id", spa.as_str())], "invalid_request"),
        (
            vec![("grant_type", "password"), ("client_id", spa.as_str())],
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("grant_type", "refresh_token"),
                ("client_id", spa.as_str()),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", spa.as_str()),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "nope"),
                ("client_id", spa.as_str()),
            ],
            "invalid_grant",
        ),
    ];
    for (form, error) in cases {
        let r = protocol::token(&f.identity, &Request::form(form.clone())).await;
        assert_eq!(r.body["error"], error, "{form:?}");
        assert_eq!(r.status, 400, "{form:?}");
        assert!(r.body["error_description"].is_string());
        assert_eq!(header(&r, "Cache-Control"), Some("no-store"));
    }
}

#[tokio::test]
async fn introspection_of_anything_not_active_is_exactly_active_false() {
    let f = fixture().await;
    let code = f.code_for(f.spa).await;
    let tokens = f.identity.tokens();
    let set = tokens
        .exchange_code(
            &idcore::tokens::ClientAuth::public(f.spa),
            &code,
            REDIRECT,
            VERIFIER,
        )
        .await
        .unwrap();
    let active = introspect(&f, set.access_token.clone()).await;
    assert_eq!(active.body["active"], true);
    assert_eq!(active.body["sub"], f.user.to_string());
    let refresh_active = introspect(&f, set.refresh_token.expose().to_owned()).await;
    assert_eq!(refresh_active.body["active"], true);
    for junk in ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        let r = introspect(&f, junk.to_owned()).await;
        if junk.is_empty() {
            assert_eq!(r.body["error"], "invalid_request");
        } else {
            assert_eq!(r.body, json!({"active": false}), "{junk}");
        }
    }
    tokens.global_sign_out(&f.org, f.user).await.unwrap();
    assert_eq!(
        introspect(&f, set.access_token.clone()).await.body,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&f, set.refresh_token.expose().to_owned())
            .await
            .body,
        json!({"active": false})
    );
}

#[tokio::test]
async fn revocation_of_an_unknown_token_succeeds() {
    let f = fixture().await;
    let req = Request::form([("token", "unknown"), ("client_id", &f.spa.to_string())]);
    let r = protocol::revocation(&f.identity, &req).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn userinfo_requires_a_bearer_token() {
    let f = fixture().await;
    let r = protocol::userinfo(&f.identity, &Request::default()).await;
    assert_eq!(r.status, 401);
    assert_eq!(header(&r, "WWW-Authenticate"), Some("Bearer"));
    let r = protocol::userinfo(
        &f.identity,
        &Request::default().authorization("Bearer nope"),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_token");
}

#[tokio::test]
async fn discovery_and_jwks_describe_the_organization() {
    let f = fixture().await;
    let d = protocol::discovery(&f.identity, &f.org);
    assert_eq!(d.body["issuer"], "https://auth.example.com/t/misapret");
    assert_eq!(d.body["code_challenge_methods_supported"], json!(["S256"]));
    let j = protocol::jwks(&f.identity, &f.org).await;
    assert_eq!(j.status, 200);
    assert_eq!(j.body["keys"].as_array().unwrap().len(), 1);
    assert!(
        j.body["keys"][0].get("d").is_none(),
        "no private material in a JWKS"
    );
}

async fn introspect(f: &Fixture, token: String) -> Response {
    let req = Request::form([("token", token)]).authorization(f.basic());
    protocol::introspection(&f.identity, &req).await
}

fn b64_std(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn another_organizations_client_introspects_a_token_as_inactive() {
    let f = fixture().await;
    let code = f.code_for(f.spa).await;
    let set = f
        .identity
        .tokens()
        .exchange_code(
            &idcore::tokens::ClientAuth::public(f.spa),
            &code,
            REDIRECT,
            VERIFIER,
        )
        .await
        .unwrap();
    let other_org = f
        .identity
        .organizations()
        .create(NewOrganization::new("Other").unwrap())
        .await
        .unwrap()
        .domain;
    let other = f
        .identity
        .applications(ApplicationScope::Organization(other_org))
        .create(NewApplication::new("Other backend", ApplicationType::Service).unwrap())
        .await
        .unwrap();
    let raw = format!(
        "{}:{}",
        other.application.client_id,
        other.client_secret.unwrap().expose()
    );
    for token in [
        set.access_token.clone(),
        set.refresh_token.expose().to_owned(),
    ] {
        let req = Request::form([("token", token)])
            .authorization(format!("Basic {}", b64_std(raw.as_bytes())));
        let r = protocol::introspection(&f.identity, &req).await;
        assert_eq!(r.body, json!({"active": false}));
    }
    // SECURITY 55: each attempt is a cross-tenant denial in the token's organization's log.
    let denied = f
        .identity
        .events()
        .list(
            &idcore::audit::EventQuery::tenant(&f.org)
                .code(idcore::audit::EventCode::CROSS_TENANT_DENIED),
            idcore::PageRequest::default(),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(denied.len(), 2);
    for e in &denied {
        assert_eq!(e.details["action"], "introspect");
        assert_eq!(e.client_id, Some(other.application.client_id));
        assert_eq!(e.details["token_client_id"], f.spa.to_string());
    }
}
