//! The server example (`examples/server/`) behind real HTTP, driven by a certified-style relying
//! party: the `openidconnect` crate runs discovery → authorize (the hosted login form driven by
//! an HTTP client holding cookies: a wrong password, the password, the TOTP step) → code + PKCE
//! → token → ID token validation (signature, nonce, at_hash) → userinfo → refresh → revocation
//! → introspection says inactive; single sign-on with the session cookie, `prompt=login`,
//! `prompt=none`, and RP-initiated logout. On the memory store and SQLite.

mod server_support;

use idcore::MemoryStore;
use idcore::store::Store;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AuthorizationCode, ClientId, CsrfToken, IntrospectionUrl,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope,
    TokenIntrospectionResponse, TokenResponse,
};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use server_support::*;

const CALLBACK: &str = "http://127.0.0.1:7777/cb";

async fn the_whole_relying_party_flow<S: Store + 'static>(store: S) {
    let server = start(store, CALLBACK).await;
    let issuer = format!("{}/t/{}", server.base, server.org);
    let http = browser();

    // Discovery, and the endpoints openidconnect's core metadata does not carry.
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let doc: serde_json::Value = serde_json::from_str(
        &http
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new(server.client_id.clone()), None)
            .set_redirect_uri(RedirectUrl::new(server.callback.clone()).unwrap())
            .set_introspection_url(
                IntrospectionUrl::new(doc["introspection_endpoint"].as_str().unwrap().to_owned())
                    .unwrap(),
            );

    // Authorize: the hosted login page.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .add_scope(Scope::new("offline_access".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let page = http.get(url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let csrf_cookie = page.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"),
        "{csrf_cookie}"
    );
    assert!(
        !csrf_cookie.contains("Secure"),
        "no Secure on loopback http"
    );
    let login = page.text().await.unwrap();
    assert!(login.contains("<title>Sign in</title>"), "{login}");

    // A wrong password: the form again, with the error that never says whether the account exists.
    let wrong = submit(
        &http,
        &server.base,
        &format!("/t/{}/login", server.org),
        &login,
        &[("login", EMAIL), ("password", "wrong password here")],
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_page = wrong.text().await.unwrap();
    assert!(wrong_page.contains("The e-mail, username or password is not right."));
    let unknown = submit(
        &http,
        &server.base,
        &format!("/t/{}/login", server.org),
        &login,
        &[
            ("login", "nobody@example.com"),
            ("password", "wrong password here"),
        ],
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("The e-mail, username or password is not right.")
    );

    // A form without the CSRF token is refused.
    let forged = http
        .post(format!("{}/t/{}/login", server.base, server.org))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("login={}&password={}", enc(EMAIL), enc(PASSWORD)))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // The password, then the TOTP step.
    let step = submit(
        &http,
        &server.base,
        &format!("/t/{}/login", server.org),
        &wrong_page,
        &[("login", EMAIL), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(step.status(), StatusCode::OK);
    let factor_page = step.text().await.unwrap();
    assert!(factor_page.contains("<title>Two-step verification</title>"));
    let code = server.totp.generate_current().to_string();
    let done = submit(
        &http,
        &server.base,
        &format!("/t/{}/login/factor", server.org),
        &factor_page,
        &[("code", &code)],
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let session_cookie = done
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("idcore_session="))
        .expect("a session cookie");
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"));
    let location = done.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with(&server.callback), "{location}");
    let back = query_of(&location);
    assert_eq!(back["state"], *csrf.secret());
    assert_eq!(back["iss"], issuer);

    // The code, with PKCE, for tokens; the ID token verified as a relying party does.
    let response = client
        .exchange_code(AuthorizationCode::new(back["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token response");
    let id_token = response.id_token().expect("an ID token");
    let id_verifier = client
        .id_token_verifier()
        .set_allowed_algs([CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("a valid ID token");
    assert_eq!(claims.email().unwrap().as_str(), EMAIL);
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        response.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(actual, *expected);

    // User info.
    let info: openidconnect::core::CoreUserInfoClaims = client
        .user_info(response.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("user info");
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(info.email().unwrap().as_str(), EMAIL);

    // Refresh: a new pair; the old refresh token is spent.
    let refresh = response.refresh_token().expect("a refresh token").clone();
    let refreshed = client
        .exchange_refresh_token(&refresh)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    let current = refreshed.refresh_token().unwrap().clone();
    assert_ne!(current.secret(), refresh.secret());

    // Single sign-on: the session answers a second authorization without a page.
    let (challenge2, _verifier2) = PkceCodeChallenge::new_random_sha256();
    let (url2, csrf2, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge2.clone())
        .url();
    let sso = http.get(url2.as_str()).send().await.unwrap();
    assert_eq!(sso.status(), StatusCode::SEE_OTHER);
    let sso_back = query_of(sso.headers()[LOCATION].to_str().unwrap());
    assert_eq!(sso_back["state"], *csrf2.secret());
    assert!(sso_back.contains_key("code"));
    // prompt=login shows the form even so.
    let again = http
        .get(format!("{}&prompt=login", url2.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("<title>Sign in</title>")
    );

    // Revocation (RFC 7009; oauth2 sends it only over https, so the form is posted here), then
    // introspection says inactive.
    let revoked = http
        .post(doc["revocation_endpoint"].as_str().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "token={}&token_type_hint=refresh_token&client_id={}",
            enc(current.secret()),
            server.client_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let introspected = client
        .introspect(&AccessToken::new(current.secret().clone()))
        .request_async(&http)
        .await
        .expect("introspection");
    assert!(!introspected.active());
    let access = client
        .introspect(refreshed.access_token())
        .request_async(&http)
        .await
        .expect("introspection");
    assert!(
        !access.active(),
        "revoking the refresh token ends its access tokens"
    );

    // RP-initiated logout: back to the allowed URL with the state; the session is over.
    let logout = http
        .get(format!(
            "{issuer}/logout?id_token_hint={}&post_logout_redirect_uri={}&state=bye1",
            id_token,
            enc("http://127.0.0.1:7777/bye")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        logout.headers()[LOCATION].to_str().unwrap(),
        "http://127.0.0.1:7777/bye?state=bye1"
    );
    let after = http.get(url2.as_str()).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::OK, "signed out: the form again");
    // prompt=none without a session goes back with login_required.
    let none = http
        .get(format!("{}&prompt=none", url2.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        query_of(none.headers()[LOCATION].to_str().unwrap())["error"],
        "login_required"
    );
    // A logout redirect that is not allowed is refused, never followed.
    let open = http
        .get(format!(
            "{issuer}/logout?client_id={}&post_logout_redirect_uri={}",
            server.client_id,
            enc("https://evil.example.com/")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relying_party_signs_in_through_the_hosted_page_on_the_memory_store() {
    the_whole_relying_party_flow(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relying_party_signs_in_through_the_hosted_page_on_sqlite() {
    let store = idcore::store::sqlite::SqliteStore::open_in_memory()
        .await
        .unwrap();
    store.migrate().await.unwrap();
    the_whole_relying_party_flow(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_clients_and_unregistered_redirects_get_a_page_never_a_redirect() {
    let server = start(MemoryStore::new(), CALLBACK).await;
    let http = browser();
    let authorize = format!("{}/t/{}/authorize", server.base, server.org);
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    for (query, description) in [
        (
            format!(
                "client_id={}&response_type=code&code_challenge={challenge}&code_challenge_method=S256&redirect_uri={}",
                server.client_id,
                enc("https://evil.example.com/cb")
            ),
            "redirect_uri is not registered for this client",
        ),
        (
            format!(
                "client_id=01a2524a-3eae-7576-976f-fef461b11e78&response_type=code&redirect_uri={}",
                enc(&server.callback)
            ),
            "the client is not known",
        ),
        (
            format!("response_type=code&redirect_uri={}", enc(&server.callback)),
            "client_id is required",
        ),
    ] {
        let r = http
            .get(format!("{authorize}?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(r.headers().get(LOCATION).is_none());
        assert!(r.text().await.unwrap().contains(description), "{query}");
    }
    // With the client established, errors go back to it: plain PKCE is refused.
    let r = http
        .get(format!(
            "{authorize}?client_id={}&response_type=code&code_challenge={challenge}&code_challenge_method=plain&redirect_uri={}&state=s1",
            server.client_id,
            enc(&server.callback)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let back = query_of(r.headers()[LOCATION].to_str().unwrap());
    assert_eq!(back["error"], "invalid_request");
    assert_eq!(back["state"], "s1");
    assert_eq!(back["iss"], format!("{}/t/{}", server.base, server.org));
}
