//! The main job of idcore, on the embedded in-memory store:
//! an organization, an application and a user; lists; the audit log; sign-up with an e-mail
//! code and an authenticator app; sign-in with password + TOTP; custom claims (a typed metakey,
//! RBAC attributes, a JWT sample); the code → tokens path and the resource server's checks;
//! Crowd-style SSO sessions (reuse, validation factors, single sign-on, ending all but one);
//! an owner API key signing an apstrata `DeleteToken` for a user list, accepted once and
//! refused when replayed.
//!
//! Run it with `cargo run --example quickstart`.

use idcore::audit::{EventCode, EventQuery};
use idcore::claims::{AttributeUpdate, MetaKeyType};
use idcore::directory::Address;
use idcore::directory::OrgDomain;
use idcore::mail::MemoryOutbox;
use idcore::protocol::delete_token::{DeleteToken, Envelope, Transport, caller_of};
use idcore::risk::RequestContext;
use idcore::sessions::{Authenticate, SessionStep, ValidationFactor, ValidationFactors};
use idcore::signin::password::Password;
use idcore::signin::{Authorization, Factor, SignInRequest, SignInStep, SignUp};
use idcore::signing::{ApiKeyRole, NewApiKey, Scheme, SignedRequest, signature};
use idcore::tokens::ClientAuth;
use idcore::tokens::keys::EncryptionKey;
use idcore::tokens::pkce::CodeChallenge;
use idcore::{
    ApplicationScope, ApplicationType, Environment, Identity, MemoryStore, NewApplication,
    NewOrganization, NewUser, PageRequest, ProfileChanges,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), idcore::Error> {
    // One Identity per environment; the store is the host's choice (here: in memory).
    let outbox = MemoryOutbox::new();
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .environment(Environment::Sandbox)
        // Signing keys are stored encrypted under this key; a real host loads it from a secret.
        .key_encryption_key(
            EncryptionKey::from_bytes(&[42; 32])
                .map_err(|_| idcore::Error::ApiMisuse("a 32-byte key"))?,
        )
        .mailer(outbox.clone())
        .store(MemoryStore::new())
        .build()?;
    println!(
        "idcore quickstart — issuer {}, environment {}\n",
        identity.config().issuer(),
        identity.environment()
    );

    // 1. An organization: its immutable domain is the slug of its name.
    let org = identity
        .organizations()
        .create(
            NewOrganization::new("Misapret")?
                .locality("Lille")?
                .state("Nord")?
                .country_name("FR")?
                .privacy_policy_url("https://misapret.com/policy")?,
        )
        .await?;
    println!(
        "created organization {:?} with domain `{}` (id {})",
        org.name.as_str(),
        org.domain,
        org.id
    );

    // 2. An application scoped to that organization (a React SPA: a public client, no secret),
    //    and a confidential one whose secret is shown exactly once.
    let apps = identity.applications(ApplicationScope::Organization(org.domain.clone()));
    let spa = apps
        .create(
            NewApplication::new("App of Misapret", ApplicationType::React)?.with(|a| {
                a.description("Everything to deal with bank")?
                    .allowed_redirect_urls(&["http://localhost:3000/callback"])?
                    .allowed_origins_cors(&["http://localhost:3000"])?
                    .default_redirect_uri_after_login("http://localhost:3000/callback")
            })?,
        )
        .await?;
    println!(
        "created application `{}` client_id {} (public client: secret = {:?})",
        spa.application.name.as_str(),
        spa.application.client_id,
        spa.client_secret
    );
    let backend = apps
        .create(NewApplication::new(
            "Misapret backend",
            ApplicationType::Service,
        )?)
        .await?;
    let secret = backend
        .client_secret
        .as_ref()
        .map_or(0, |s| s.expose().len());
    println!(
        "created application `{}` client_id {} (confidential: a {secret}-character secret, shown once, stored as a digest)",
        backend.application.name.as_str(),
        backend.application.client_id
    );

    // 3. A user of the organization, with part of an OpenID Connect profile.
    let users = identity.users(&org.domain);
    let janis = users
        .create(
            NewUser::new("janis.joplin@example.com")?.profile(
                ProfileChanges::new()
                    .given_name("Janis")?
                    .family_name("Joplin")?
                    .phone_number("+1-555-415-1337")?
                    .birthdate("1943-01-19")?
                    .address(Address::new().locality("Lille")?.country("FR")?),
            ),
        )
        .await?;
    println!(
        "created user {} <{}> phone {} color {}",
        janis.id,
        janis.profile.email,
        janis
            .profile
            .phone_number
            .as_ref()
            .map_or("-", |p| p.as_str()),
        janis.avatar_hexa_color
    );

    // E-mail addresses are unique per organization, case-insensitively.
    let duplicate = users
        .create(NewUser::new("JANIS.JOPLIN@example.com")?)
        .await;
    if let Err(e) = duplicate {
        println!(
            "a second JANIS.JOPLIN@example.com is refused: {e} (code {}, HTTP {})",
            e.code(),
            e.http_status()
        );
    }

    // 4. Lists: newest first, paginated in the seed's shape.
    users
        .create(NewUser::new("thomas.dion@example.com")?)
        .await?;
    let page = users.list(PageRequest::new(1, 8)?).await?;
    println!("\nusers of {} ({} in all):", org.domain, page.total);
    for u in &page.data {
        println!("  - {} {}", u.id, u.profile.email);
    }
    let json = serde_json::to_string_pretty(&page.pagination).unwrap_or_default();
    println!("pagination: {json}");
    let app_page = apps.list(PageRequest::default()).await?;
    println!(
        "applications of {}: {}",
        org.domain,
        app_page
            .data
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    // 5. The audit log: every mutation above recorded one event.
    let events = identity
        .events()
        .list(&EventQuery::tenant(&org.domain), PageRequest::default())
        .await?;
    println!(
        "\naudit log of {} ({} events, newest first):",
        org.domain, events.total
    );
    for e in &events.data {
        println!(
            "  #{} {} client={} user={}",
            e.id,
            e.event_code,
            e.client_id.map_or("-".into(), |c| c.to_string()),
            e.email.as_ref().map_or("-", |m| m.as_str())
        );
    }
    let created = identity
        .events()
        .list(
            &EventQuery::tenant(&org.domain).code(EventCode::USER_CREATED),
            PageRequest::default(),
        )
        .await?;
    println!("filtered by code USER_CREATED: {} events", created.total);

    // 6. Sign-up (seed 000): a password, a verification code by e-mail, an authenticator app.
    //    The mailer here is an in-memory outbox, so we can read the code back.
    let signin = identity.signin(&org.domain);
    let password = Password::new("piece of my heart, 1968");
    let pearl = signin
        .sign_up(SignUp::new(
            NewUser::new("pearl@example.com")?,
            password.clone(),
        ))
        .await?;
    let mail = outbox
        .last_to(&pearl.profile.email)
        .ok_or(idcore::Error::ApiMisuse("no verification mail"))?;
    let email_code = digits_after("code is ", &mail.body);
    println!(
        "\nsigned up {} (verified: {}); mailed \"{}\" with a {}-digit code",
        pearl.profile.email,
        pearl.profile.email_verified,
        mail.subject,
        email_code.len()
    );
    let pearl = signin
        .confirm_email("pearl@example.com", &email_code, &RequestContext::new())
        .await?;
    println!(
        "confirmed the address: verified = {}",
        pearl.profile.email_verified
    );

    let enrolment = signin.begin_totp_enrolment(pearl.id).await?;
    // The authenticator app: totp-rs reading the otpauth:// URI, as scanning the QR code would.
    let app = totp_rs::Totp::from_url(enrolment.otpauth_uri().expose())
        .map_err(|_| idcore::Error::ApiMisuse("the otpauth uri does not parse"))?;
    let now = u64::try_from(identity.now().unix_timestamp()).unwrap_or_default();
    let first_code = app.generate(now).to_string();
    let recovery = signin
        .confirm_totp_enrolment(pearl.id, &first_code, &RequestContext::new())
        .await?;
    println!(
        "enrolled an authenticator (QR code: {} PNG bytes); {} recovery codes, shown once",
        enrolment.qr_png().len(),
        recovery.codes().len()
    );

    // 7. Sign-in: password, then the second factor, then an authorization code for the SPA,
    //    bound to its redirect URI, PKCE challenge, nonce and state.
    let authorization = Authorization {
        client_id: spa.application.client_id,
        redirect_uri: REDIRECT.to_owned(),
        code_challenge: CodeChallenge::s256(VERIFIER)?,
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        state: Some("af0ifjsldkj".to_owned()),
        scope: vec!["openid".to_owned(), "email".to_owned()],
    };
    let sign_in = |password: &Password| SignInRequest {
        login: "pearl@example.com".to_owned(),
        password: password.clone(),
        authorization: authorization.clone(),
        context: RequestContext::new(),
    };
    let wrong = signin
        .sign_in(sign_in(&Password::new("ball and chain")))
        .await;
    println!("a wrong password: {}", outcome(wrong));
    let SignInStep::FactorRequired(pending) = signin.sign_in(sign_in(&password)).await? else {
        return Err(idcore::Error::ApiMisuse(
            "an enrolled user needs a second factor",
        ));
    };
    println!("the password is right; still needed: {:?}", pending.factors);
    // Each 30-second step is accepted once: the enrolment's code is spent…
    let replayed = signin
        .complete(
            pending.token.expose(),
            Factor::Totp(first_code),
            &RequestContext::new(),
        )
        .await;
    println!("the enrolment's code again: {}", outcome(replayed));
    // …and the app's code for the next step is within the ±1 step window.
    let next_code = app.generate(now + 30).to_string();
    let SignInStep::Complete(authorized) = signin
        .complete(
            pending.token.expose(),
            Factor::Totp(next_code),
            &RequestContext::new(),
        )
        .await?
    else {
        return Err(idcore::Error::ApiMisuse(
            "the TOTP code should complete the sign-in",
        ));
    };
    println!(
        "signed in: redirect to {}?code=…&state={}",
        authorized.redirect_uri,
        authorized.state.as_deref().unwrap_or("")
    );

    // 8. Tokens: the client redeems the code (seed 000 "GetTokenFromCode").
    let tokens = identity.tokens();
    let client = ClientAuth::public(spa.application.client_id);
    let set = tokens
        .exchange_code(&client, authorized.code.expose(), REDIRECT, VERIFIER)
        .await?;
    println!(
        "exchanged the code: access token {}…, ID token {}…, refresh token (opaque, {} chars)",
        &set.access_token[..24],
        &set.id_token[..24],
        set.refresh_token.expose().len()
    );
    let again = tokens
        .exchange_code(&client, authorized.code.expose(), REDIRECT, VERIFIER)
        .await;
    println!("redeeming the same code again: {}", outcome(again));
    println!(
        "…which revoked the tokens of the first redemption: {}",
        outcome(tokens.verify_live(&set.access_token).await)
    );

    // Custom claims: a typed metakey and the user's value (seed 001), a role naming its
    // actions and the user's RBAC attributes (seed 000). The next tokens carry them.
    let claims = identity.claims(&org.domain);
    let plan = MetaKeyType::parse("STRING").map_err(|_| idcore::Error::ApiMisuse("a type"))?;
    claims.create_metakey("plan", plan, false).await?;
    claims.set_metadata(pearl.id, "plan", "gold").await?;
    claims
        .define_role("App01Editor", &["App01:Read", "App01:Update"])
        .await?;
    claims
        .update_attributes(
            &pearl.profile.email,
            &AttributeUpdate {
                roles: Some(vec!["App01Editor".to_owned()]),
                groups: Some(vec!["editors".to_owned()]),
                ..AttributeUpdate::default()
            },
        )
        .await?;
    let sample = claims
        .jwt_sample(spa.application.client_id, Some(pearl.id))
        .await?;
    println!(
        "JWT sample (signed with a throwaway key, never verifies): access token claims {}",
        serde_json::Value::Array(sample.access_token_keys)
    );
    println!(
        "…and verifying the sample says: {}",
        outcome(tokens.verify(&sample.access_token_jwt).await)
    );

    // A fresh sign-in for the rest of the flow, with a recovery code as the second factor.
    let SignInStep::FactorRequired(pending) = signin.sign_in(sign_in(&password)).await? else {
        return Err(idcore::Error::ApiMisuse(
            "an enrolled user needs a second factor",
        ));
    };
    let recovery_code = recovery.codes()[0].expose().to_owned();
    let SignInStep::Complete(authorized) = signin
        .complete(
            pending.token.expose(),
            Factor::RecoveryCode(recovery_code),
            &RequestContext::new(),
        )
        .await?
    else {
        return Err(idcore::Error::ApiMisuse(
            "a recovery code should complete the sign-in",
        ));
    };
    println!("signed in again with a recovery code (each works once)");
    let set = tokens
        .exchange_code(&client, authorized.code.expose(), REDIRECT, VERIFIER)
        .await?;
    let verified = tokens.verify_live(&set.access_token).await?;
    println!(
        "verify: signature_verified={} access_token_expired={} auth_time={} exp={} sub={} tnt={}",
        verified.signature_verified,
        verified.access_token_expired,
        verified.auth_time,
        verified.exp,
        verified.claims.sub,
        verified.claims.tnt
    );
    // What a resource server checks after `verify`: no store call, no allocation.
    println!(
        "custom claims: resource_owner_metadata={} has_role(App01Editor)={} has_action(App01:Update)={} has_action(App01:Delete)={} in_group(editors)={}",
        serde_json::to_string(&verified.claims.metadata).unwrap_or_default(),
        verified.claims.has_role("App01Editor"),
        verified.claims.has_action("App01:Update"),
        verified.claims.has_action("App01:Delete"),
        verified.claims.in_group("editors")
    );
    let info = tokens.userinfo(&set.access_token).await?;
    println!(
        "user info: sub={} username={} given_name={}",
        info.sub,
        info.username,
        info.profile.given_name.as_deref().unwrap_or("-")
    );
    let refreshed = tokens
        .refresh(&client, set.refresh_token.expose(), None)
        .await?;
    println!("refreshed: a new access token and a rotated refresh token");
    tokens.verify_live(&refreshed.access_token).await?;

    // Global sign-out: every earlier token of the user fails live verification.
    tokens.global_sign_out(&org.domain, pearl.id).await?;
    println!(
        "after global sign-out, live verify says: {}",
        outcome(tokens.verify_live(&refreshed.access_token).await)
    );
    println!(
        "and refreshing says: {}",
        outcome(
            tokens
                .refresh(&client, refreshed.refresh_token.expose(), None)
                .await
        )
    );
    let jwks = tokens.jwks(&org.domain).await?;
    println!(
        "JWKS of {}: {} key(s), kid {}",
        org.domain,
        jwks["keys"].as_array().map_or(0, Vec::len),
        jwks["keys"][0]["kid"]
    );

    sessions(&identity, &outbox, &org.domain, authorization).await
}

/// 9. Crowd-style SSO sessions (seed 002) and token deletion (seed 003).
async fn sessions(
    identity: &Identity<MemoryStore>,
    outbox: &MemoryOutbox,
    org: &OrgDomain,
    authorization: Authorization,
) -> Result<(), idcore::Error> {
    let signin = identity.signin(org);
    let password = Password::new("summertime, 1969 take");
    let sam = signin
        .sign_up(SignUp::new(
            NewUser::new("sam@example.com")?,
            password.clone(),
        ))
        .await?;
    let mail = outbox
        .last_to(&sam.profile.email)
        .ok_or(idcore::Error::ApiMisuse("no verification mail"))?;
    signin
        .confirm_email(
            "sam@example.com",
            &digits_after("code is ", &mail.body),
            &RequestContext::new(),
        )
        .await?;

    // A session is bound to the validation factors of the device that opened it.
    let laptop = factors(&[
        ("remote_address", "192.0.2.10"),
        ("User-Agent", "Firefox/133"),
    ])?;
    let phone = factors(&[
        ("remote_address", "2001:db8:7:1::5"),
        ("User-Agent", "Safari/18"),
    ])?;
    let sessions = identity.sessions(org);
    let open = |bound: &ValidationFactors| Authenticate {
        login: "sam@example.com".to_owned(),
        password: password.clone(),
        factors: bound.clone(),
        duration: Some(time::Duration::hours(8)), // capped by the default timeout (30 min)
        context: RequestContext::new(),
    };
    let SessionStep::Opened(session) = sessions.authenticate(open(&laptop)).await? else {
        return Err(idcore::Error::ApiMisuse("sam has no second factor"));
    };
    println!(
        "
opened a session for {} ({}-character token, stored only as a digest), expires in {} min",
        session.user.profile.email,
        session.token.expose().len(),
        (session.expires_at - session.created_at).whole_minutes()
    );
    let SessionStep::Opened(again) = sessions.authenticate(open(&laptop)).await? else {
        return Err(idcore::Error::ApiMisuse("sam has no second factor"));
    };
    println!(
        "authenticating again from the same device reuses it: reused={} same token={}",
        again.reused,
        again.token.expose() == session.token.expose()
    );
    let token = session.token.expose();
    let validated = sessions.validate(token, &laptop).await?;
    println!(
        "validated from the laptop: ok, expires at {}",
        validated.expires_at
    );
    let stolen = factors(&[
        ("remote_address", "198.51.100.66"),
        ("User-Agent", "Firefox/133"),
    ])?;
    println!(
        "the same token from another address: {}",
        outcome(sessions.validate(token, &stolen).await)
    );

    // Single sign-on: the session trades for an authorization code, no password asked.
    let client = ClientAuth::public(authorization.client_id);
    let sso = sessions.authorize(token, &laptop, authorization).await?;
    let set = identity
        .tokens()
        .exchange_code(&client, sso.code.expose(), REDIRECT, VERIFIER)
        .await?;
    let verified = identity.tokens().verify_live(&set.access_token).await?;
    println!(
        "SSO: the session traded for a code, redeemed for tokens of {} (auth_time = the session's start)",
        verified.claims.sub
    );

    // A second device; the user lists its sessions and ends every one but the laptop's.
    let SessionStep::Opened(on_phone) = sessions.authenticate(open(&phone)).await? else {
        return Err(idcore::Error::ApiMisuse("sam has no second factor"));
    };
    for s in sessions.list(sam.id).await? {
        println!(
            "  session {} from {} since {}",
            s.id,
            s.factors.get("remote_address").unwrap_or("-"),
            s.created_at
        );
    }
    let ended = sessions
        .invalidate_user("sam@example.com", Some(token))
        .await?;
    println!(
        "invalidated {ended} session(s) but the laptop's; the phone's now: {}",
        outcome(sessions.validate(on_phone.token.expose(), &phone).await)
    );

    // apstrata DeleteToken: the account owner deletes every token of a user list, with a
    // request signed by an owner API key (owner requests must be signed).
    let created = identity
        .api_keys(org)
        .create(NewApiKey::new("support console", ApiKeyRole::Owner)?)
        .await?;
    let key_id = created.key.id.to_string();
    println!(
        "\ncreated API key {key_id} (owner; a {}-character secret shown once, stored sealed)",
        created.secret.expose().len()
    );
    const PATH: &str = "/apsdb/rest/DeleteToken";
    let mut params: Vec<(String, String)> = ["sam@example.com", "pearl@example.com"]
        .iter()
        .map(|u| ("userList".to_owned(), (*u).to_owned()))
        .collect();
    let time = identity.now().unix_timestamp().to_string();
    let sig = SignedRequest::new("POST", PATH, &params)
        .sign(
            Scheme::Default,
            &time,
            &key_id,
            created.secret.expose().as_bytes(),
        )
        .ok_or(idcore::Error::ApiMisuse(
            "the default scheme signs any request",
        ))?;
    params.extend(signature::wire_params(
        Scheme::Default,
        &key_id,
        &time,
        &sig,
    ));

    // The host's side: verify the signature, then carry the request out.
    let request = SignedRequest::new("POST", PATH, &params);
    let verified = identity.signatures().verify(&request).await?;
    let caller = caller_of(&verified).ok_or(idcore::Error::Forbidden("not an owner key"))?;
    let delete = DeleteToken::parse(caller, Transport::Secure, &params)
        .map_err(|_| idcore::Error::ApiMisuse("a valid DeleteToken request"))?;
    let answer = match delete.execute(identity, org, &key_id).await {
        Ok(()) => Envelope::success("req-1"),
        Err(e) => Envelope::failure("req-1", &e),
    };
    println!(
        "signed DeleteToken for 2 users: {}; the laptop's session now: {}",
        serde_json::to_string(&answer).unwrap_or_default(),
        outcome(sessions.validate(token, &laptop).await)
    );
    println!(
        "the same signed request again: {}",
        outcome(identity.signatures().verify(&request).await)
    );
    Ok(())
}

/// Validation factors from name/value pairs.
fn factors(list: &[(&str, &str)]) -> Result<ValidationFactors, idcore::Error> {
    ValidationFactors::parse(
        list.iter()
            .map(|(name, value)| ValidationFactor {
                name: (*name).to_owned(),
                value: (*value).to_owned(),
            })
            .collect(),
    )
}

const REDIRECT: &str = "http://localhost:3000/callback";
/// The client's PKCE secret (RFC 7636 Appendix B); the code request carries its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// The first run of digits after `marker` in `text`.
fn digits_after(marker: &str, text: &str) -> String {
    text.split(marker)
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

/// "ok", or the error's code and text.
fn outcome<T>(result: Result<T, idcore::Error>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("{} ({e})", e.code()),
    }
}
