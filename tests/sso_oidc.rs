//! Upstream OpenID Connect over loopback HTTP (feature `oidc`): a second `Identity`, served by a
//! small HTTP/1.1 server on 127.0.0.1 (discovery, JWKS and the token endpoint, through
//! `idcore::protocol`), is the customer's identity provider. idcore's connection signs a person
//! in through it and gets tokens; a wrong `state`, a replayed state, a wrong `nonce`, an ID token
//! for another audience and a disabled connection are each refused.
//!
//! The browser is simulated: the test reads the authorization URL and mints the provider's code
//! as its `/authorize` would after the person signed in.
#![cfg(feature = "oidc")]

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use idcore::audit::EventCode;
use idcore::directory::OrgDomain;
use idcore::protocol;
use idcore::sessions::{ValidationFactor, ValidationFactors};
use idcore::sso::oidc_flow::{HttpClient, HttpError, HttpRequest, HttpResponse, OidcStart, http};
use idcore::sso::{NewSsoConnection, SsoSignIn};
use idcore::tokens::pkce::CodeChallenge;
use idcore::tokens::{ClientAuth, CodeRequest};
use idcore::{
    ApplicationScope, ApplicationType, Error, Identity, MemoryStore, NewApplication,
    NewOrganization, NewUser, ProfileChanges,
};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CALLBACK: &str = "http://127.0.0.1:9/sso/callback";

/// The customer's identity provider: an `Identity` of its own behind a loopback server.
struct Provider {
    identity: Identity<MemoryStore>,
    org: OrgDomain,
    client_id: idcore::directory::ClientId,
    client_secret: String,
    /// A second application: an ID token for it has another audience.
    other_client: idcore::directory::ClientId,
    issuer: String,
    person: idcore::directory::UserId,
    /// When set, the next token answer carries this ID token instead (a provider gone wrong).
    substitute: std::sync::Mutex<Option<String>>,
}

async fn provider() -> Arc<Provider> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let identity = Identity::builder()
        .issuer(base.clone())
        .key_encryption_key(idcore::tokens::keys::EncryptionKey::from_bytes(&[9; 32]).unwrap())
        .store(MemoryStore::new())
        .build()
        .unwrap();
    let org = identity
        .organizations()
        .create(NewOrganization::new("Customer IdP").unwrap())
        .await
        .unwrap()
        .domain;
    let apps = identity.applications(ApplicationScope::Organization(org.clone()));
    let app = apps
        .create(
            NewApplication::new("idcore SP", ApplicationType::RegularWeb)
                .unwrap()
                .with(|a| a.allowed_redirect_urls(&[CALLBACK]))
                .unwrap(),
        )
        .await
        .unwrap();
    let other = apps
        .create(
            NewApplication::new("Other SP", ApplicationType::React)
                .unwrap()
                .with(|a| a.allowed_redirect_urls(&[CALLBACK]))
                .unwrap(),
        )
        .await
        .unwrap();
    let person = identity
        .users(&org)
        .create(
            NewUser::new("grace@customer.example").unwrap().profile(
                ProfileChanges::new()
                    .email_verified(true)
                    .name("Grace Hopper")
                    .unwrap()
                    .given_name("Grace")
                    .unwrap(),
            ),
        )
        .await
        .unwrap();
    let issuer = format!("{base}/t/{org}");
    let p = Arc::new(Provider {
        identity,
        org,
        client_id: app.application.client_id,
        client_secret: app.client_secret.unwrap().expose().to_owned(),
        other_client: other.application.client_id,
        issuer,
        person: person.id,
        substitute: std::sync::Mutex::new(None),
    });
    let served = p.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let p = served.clone();
            tokio::spawn(async move { serve(&p, stream).await });
        }
    });
    p
}

/// One HTTP/1.1 request on `stream` (`Connection: close`).
async fn serve(p: &Provider, mut stream: TcpStream) {
    let Some((head, body)) = read_message(&mut stream).await else {
        return;
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
    let prefix = format!("/t/{}", p.org);
    let response = match path.strip_prefix(&prefix) {
        Some("/.well-known/openid-configuration") => protocol::discovery(&p.identity, &p.org),
        Some("/.well-known/jwks.json") => protocol::jwks(&p.identity, &p.org).await,
        Some("/oauth/token") => {
            let mut request = protocol::Request::form(form_fields(&body));
            if let Some(auth) = headers.get("authorization") {
                request = request.authorization(auth.clone());
            }
            let mut response = protocol::token(&p.identity, &request).await;
            if let Some(token) = p.substitute.lock().unwrap().take() {
                response.body["id_token"] = serde_json::Value::String(token);
            }
            response
        }
        _ => protocol::Response {
            status: 404,
            headers: vec![],
            body: serde_json::json!({"error": "not_found"}),
        },
    };
    let body = response.body.to_string();
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        body.len()
    );
    out.push_str(&body);
    let _ = stream.write_all(out.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The head (up to the blank line) and the body (by `Content-Length`, else to the end).
async fn read_message(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok());
            let mut body = buf[end + 4..].to_vec();
            loop {
                if length.is_some_and(|n| body.len() >= n) {
                    break;
                }
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            return Some((head, body));
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The relying party's HTTP client: HTTP/1.1 over a fresh loopback connection per request.
struct LoopbackClient;

impl HttpClient for LoopbackClient {
    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let fail = |e: String| HttpError(e.into());
        let uri = request.uri().clone();
        let authority = uri
            .authority()
            .ok_or_else(|| fail("no host".into()))?
            .to_string();
        let mut stream = TcpStream::connect(&authority)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = format!(
            "{} {path} HTTP/1.1\r\nHost: {authority}\r\n",
            request.method()
        );
        for (name, value) in request.headers() {
            head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or("")));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            request.body().len()
        ));
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| fail(e.to_string()))?;
        stream
            .write_all(request.body())
            .await
            .map_err(|e| fail(e.to_string()))?;
        let (head, body) = read_message(&mut stream)
            .await
            .ok_or_else(|| fail("no response".into()))?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| fail("no status".into()))?;
        let mut response = http::Response::builder().status(status);
        for (k, v) in head.lines().skip(1).filter_map(|l| l.split_once(':')) {
            response = response.header(k.trim(), v.trim());
        }
        response.body(body).map_err(|e| fail(e.to_string()))
    }
}

fn query_of(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    form_fields(query.as_bytes()).into_iter().collect()
}

/// The relying party: idcore with an SSO connection whose upstream client is `p`'s.
async fn relying_party(p: &Provider) -> (Fx, String) {
    let f = fixture().await;
    let sso = f.identity.sso(&f.org);
    let c = sso.create(NewSsoConnection::new(f.client)).await.unwrap();
    sso.set_oidc_client(
        c.idp_id.as_str(),
        &p.issuer,
        &p.client_id.to_string(),
        Some(&p.client_secret),
    )
    .await
    .unwrap();
    (f, c.idp_id.to_string())
}

fn start(idp_id: &str) -> OidcStart {
    OidcStart {
        idp_id: idp_id.to_owned(),
        callback_uri: CALLBACK.to_owned(),
        factors: ValidationFactors::parse(vec![ValidationFactor {
            name: "remote_address".to_owned(),
            value: "198.51.100.4".to_owned(),
        }])
        .unwrap(),
        redirect_uri: None,
        code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
        nonce: Some("app-nonce".to_owned()),
        state: Some("app-state".to_owned()),
        scope: vec!["openid".to_owned()],
    }
}

/// What the provider's `/authorize` does once the person signed in: a code for the request in
/// `url`, for `client` (the requested one unless a test swaps it) and with `nonce` (the
/// requested one unless swapped).
async fn authorize(
    p: &Provider,
    url: &str,
    client: Option<idcore::directory::ClientId>,
    nonce: Option<&str>,
) -> (String, String) {
    let q = query_of(url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], CALLBACK);
    let code = p
        .identity
        .tokens()
        .mint_code(CodeRequest {
            org: p.org.clone(),
            user_id: p.person,
            client_id: client.unwrap_or(p.client_id),
            redirect_uri: CALLBACK.to_owned(),
            code_challenge: CodeChallenge::parse(&q["code_challenge"], Some("S256")).unwrap(),
            nonce: Some(nonce.unwrap_or(&q["nonce"]).to_owned()),
            state: Some(q["state"].clone()),
            scope: q["scope"].split(' ').map(str::to_owned).collect(),
            auth_time: time::OffsetDateTime::now_utc(),
            amr: vec!["pwd".to_owned()],
        })
        .await
        .unwrap();
    (q["state"].clone(), code.expose().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_through_an_upstream_openid_connect_provider_and_gets_tokens() {
    let p = provider().await;
    let (f, idp) = relying_party(&p).await;
    let redirect = f
        .identity
        .start_oidc_sign_in(&LoopbackClient, start(&idp))
        .await
        .unwrap();
    assert!(
        redirect
            .url
            .starts_with(&format!("{}/authorize?", p.issuer)),
        "{}",
        redirect.url
    );
    let q = query_of(&redirect.url);
    assert_eq!(q["client_id"], p.client_id.to_string());
    assert!(
        q["state"].len() >= 43 && q["nonce"].len() >= 43,
        "256-bit state and nonce"
    );
    let (state, code) = authorize(&p, &redirect.url, None, None).await;
    let done: SsoSignIn = f
        .identity
        .finish_oidc_sign_in(
            &LoopbackClient,
            &state,
            &code,
            &idcore::risk::RequestContext::new(),
        )
        .await
        .unwrap();
    assert!(done.provisioned);
    assert_eq!(done.user.profile.email.as_str(), "grace@customer.example");
    assert_eq!(
        done.user.profile.name.as_ref().map(|n| n.as_str()),
        Some("Grace Hopper")
    );
    assert_eq!(
        done.user.federation.as_ref().map(|l| l.subject.clone()),
        Some(p.person.to_string()),
        "linked to the provider's subject"
    );
    assert_eq!(done.state.as_deref(), Some("app-state"));
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
    assert_eq!(id.nonce.as_deref(), Some("app-nonce"));
    // The state is single-use.
    match f
        .identity
        .finish_oidc_sign_in(
            &LoopbackClient,
            &state,
            &code,
            &idcore::risk::RequestContext::new(),
        )
        .await
    {
        Err(Error::InvalidGrant) => {}
        other => panic!("a replayed state: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_state_nonce_or_audience_and_a_disabled_connection_are_refused() {
    let p = provider().await;
    let (f, idp) = relying_party(&p).await;
    let refused = |r: Result<SsoSignIn, Error>, what: &str| match r {
        Err(Error::InvalidGrant) => {}
        other => panic!("{what}: {other:?}"),
    };
    // An unknown state.
    let redirect = f
        .identity
        .start_oidc_sign_in(&LoopbackClient, start(&idp))
        .await
        .unwrap();
    let (_, code) = authorize(&p, &redirect.url, None, None).await;
    refused(
        f.identity
            .finish_oidc_sign_in(
                &LoopbackClient,
                "a-state-idcore-never-issued",
                &code,
                &idcore::risk::RequestContext::new(),
            )
            .await,
        "wrong state",
    );
    // An ID token with another nonce.
    let redirect = f
        .identity
        .start_oidc_sign_in(&LoopbackClient, start(&idp))
        .await
        .unwrap();
    let (state, code) = authorize(&p, &redirect.url, None, Some("another-nonce")).await;
    refused(
        f.identity
            .finish_oidc_sign_in(
                &LoopbackClient,
                &state,
                &code,
                &idcore::risk::RequestContext::new(),
            )
            .await,
        "wrong nonce",
    );
    // A provider that answers with an ID token for another audience (right issuer, signature
    // and nonce): refused.
    let redirect = f
        .identity
        .start_oidc_sign_in(&LoopbackClient, start(&idp))
        .await
        .unwrap();
    let (state, code) = authorize(&p, &redirect.url, None, None).await;
    let other_code = p
        .identity
        .tokens()
        .mint_code(CodeRequest {
            org: p.org.clone(),
            user_id: p.person,
            client_id: p.other_client,
            redirect_uri: CALLBACK.to_owned(),
            code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
            nonce: Some(query_of(&redirect.url)["nonce"].clone()),
            state: None,
            scope: vec!["openid".to_owned()],
            auth_time: time::OffsetDateTime::now_utc(),
            amr: vec!["pwd".to_owned()],
        })
        .await
        .unwrap();
    let foreign = p
        .identity
        .tokens()
        .exchange_code(
            &ClientAuth::public(p.other_client),
            other_code.expose(),
            CALLBACK,
            VERIFIER,
        )
        .await
        .unwrap();
    *p.substitute.lock().unwrap() = Some(foreign.id_token);
    refused(
        f.identity
            .finish_oidc_sign_in(
                &LoopbackClient,
                &state,
                &code,
                &idcore::risk::RequestContext::new(),
            )
            .await,
        "an ID token for another audience",
    );
    // A code issued to another client: the provider refuses to exchange it for ours.
    let redirect = f
        .identity
        .start_oidc_sign_in(&LoopbackClient, start(&idp))
        .await
        .unwrap();
    let (state, code) = authorize(&p, &redirect.url, Some(p.other_client), None).await;
    refused(
        f.identity
            .finish_oidc_sign_in(
                &LoopbackClient,
                &state,
                &code,
                &idcore::risk::RequestContext::new(),
            )
            .await,
        "a code of another client",
    );
    let reasons: Vec<String> = f
        .events(EventCode::SSO_SIGN_IN_REFUSED)
        .await
        .into_iter()
        .map(|e| e.details["reason"].clone())
        .collect();
    assert_eq!(
        reasons,
        [
            "oidc_id_token_invalid",
            "oidc_id_token_invalid",
            "oidc_code_refused"
        ]
    );
    // A disabled connection starts nothing.
    f.identity.sso(&f.org).disable(&idp).await.unwrap();
    match f
        .identity
        .start_oidc_sign_in(&LoopbackClient, start(&idp))
        .await
    {
        Err(Error::Forbidden(_)) => {}
        other => panic!("a disabled connection: {other:?}"),
    }
    let users = f
        .identity
        .users(&f.org)
        .list(idcore::PageRequest::new(1, 10).unwrap())
        .await
        .unwrap();
    assert_eq!(users.total, 0, "nobody was signed in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_secret_is_sealed_at_rest() {
    let p = provider().await;
    let (f, idp) = relying_party(&p).await;
    let stored = f.identity.sso(&f.org).connection(&idp).await.unwrap();
    let oidc = stored.oidc.expect("an upstream client");
    let sealed = oidc.sealed_client_secret.expect("a sealed secret");
    assert!(!sealed.contains(&p.client_secret));
    assert_ne!(sealed, p.client_secret);
    match f
        .identity
        .sso(&f.org)
        .set_oidc_client(&idp, "http://idp.example.com", "client", None)
        .await
    {
        Err(Error::InvalidField {
            field: "issuer", ..
        }) => {}
        other => panic!("plain http off loopback: {other:?}"),
    }
}

/// A host's HTTP framework runs handlers on a multi-threaded runtime: the flow's futures are
/// `Send`.
#[allow(dead_code)]
fn the_flow_futures_are_send(identity: &Identity<MemoryStore>) {
    fn send<T: Send>(_: T) {}
    send(identity.start_oidc_sign_in(&LoopbackClient, start("x")));
    send(identity.finish_oidc_sign_in(
        &LoopbackClient,
        "state",
        "code",
        &idcore::risk::RequestContext::new(),
    ));
    send(identity.complete_sso(idcore::sso::SsoSignInRequest {
        idp_id: String::new(),
        identity: idcore::sso::VerifiedIdentity::default(),
        factors: ValidationFactors::parse(vec![]).unwrap(),
        redirect_uri: None,
        code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
        nonce: None,
        state: None,
        scope: vec![],
        context: idcore::risk::RequestContext::new(),
    }));
}
