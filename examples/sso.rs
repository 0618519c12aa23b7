//! Enterprise SSO on the embedded in-memory store: an organization (an enterprise customer)
//! gets an SSO connection with its administrator's onboarding and magic link, a user policy
//! with seats, and its people sign in through their identity provider.
//!
//! The identity provider's side is simulated: a real host verifies a SAML assertion or an
//! OpenID Connect ID token first, and hands idcore only what it verified.
//!
//! Run it with `cargo run --example sso`.

use idcore::mail::MemoryOutbox;
use idcore::sessions::{ValidationFactor, ValidationFactors};
use idcore::sso::{
    NewSsoConnection, ProviderType, SsoConnectionUpdate, SsoSignInRequest, UserSecurityType,
    VerifiedIdentity,
};
use idcore::tokens::ClientAuth;
use idcore::tokens::keys::EncryptionKey;
use idcore::tokens::pkce::CodeChallenge;
use idcore::{
    ApplicationScope, ApplicationType, Error, Identity, MemoryStore, NewApplication,
    NewOrganization,
};

const REDIRECT: &str = "https://app.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const ADMIN: &str = "it_sso_person@sso.client.com";

fn signed_in_at_the_idp(email: &str, idp_id: &str) -> Result<SsoSignInRequest, Error> {
    Ok(SsoSignInRequest {
        idp_id: idp_id.to_owned(),
        identity: VerifiedIdentity {
            subject: format!("00u{}", email.len()),
            email: email.to_owned(),
            email_verified: true,
            name: Some("Jane Doe".to_owned()),
            given_name: Some("Jane".to_owned()),
            family_name: Some("Doe".to_owned()),
            ..VerifiedIdentity::default()
        },
        factors: ValidationFactors::parse(vec![ValidationFactor {
            name: "remote_address".to_owned(),
            value: "203.0.113.9".to_owned(),
        }])?,
        redirect_uri: None,
        code_challenge: CodeChallenge::s256(VERIFIER)?,
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        state: Some("af0ifjsldkj".to_owned()),
        scope: vec!["openid".to_owned(), "email".to_owned()],
        context: idcore::risk::RequestContext::new(),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let outbox = MemoryOutbox::new();
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .key_encryption_key(
            EncryptionKey::from_bytes(&[42; 32]).map_err(|_| Error::ApiMisuse("a 32-byte key"))?,
        )
        .mailer(outbox.clone())
        .store(MemoryStore::new())
        .build()?;
    let org = identity
        .organizations()
        .create(NewOrganization::new("Misapret")?)
        .await?
        .domain;
    let app = identity
        .applications(ApplicationScope::Organization(org.clone()))
        .create(
            NewApplication::new("Bank", ApplicationType::React)?
                .with(|a| a.allowed_redirect_urls(&[REDIRECT]))?,
        )
        .await?;
    let client = app.application.client_id;

    // 1. A connection for the customer, redirecting to the application, with the customer's
    //    SSO administrator invited at once (a magic link by e-mail).
    let sso = identity.sso(&org);
    let connection = sso
        .create(NewSsoConnection {
            sso_admin_email: Some(ADMIN.to_owned()),
            provider_type: Some(ProviderType::Okta),
            send_email: true,
            ..NewSsoConnection::new(client)
        })
        .await?;
    let idp_id = connection.idp_id.to_string();
    println!(
        "created: {}",
        serde_json::to_string_pretty(&connection.wire(true)).unwrap_or_default()
    );
    let mail = outbox
        .sent()
        .pop()
        .ok_or(Error::ApiMisuse("an invitation"))?;
    println!("\nmailed to {}: {}", mail.to, mail.subject);
    let token = mail
        .body
        .split_once("token=")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .ok_or(Error::ApiMisuse("a magic link"))?
        .to_owned();

    // 2. The administrator opens the link: it works once, for this one connection.
    let link = identity.redeem_sso_admin_link(&token).await?;
    println!(
        "the link opens connection {} (onboarding {})",
        link.idp_id, link.onboarding.state
    );
    let again = identity.redeem_sso_admin_link(&token).await;
    println!("the same link again: {}", outcome(again));

    // 3. The administrator gives the identity provider's metadata; the customer buys 2 seats.
    sso.update(
        &idp_id,
        &SsoConnectionUpdate {
            metadata: Some("https://customer.okta.com/.well-known/openid-configuration".into()),
            user_security_type: Some(UserSecurityType::SeatsLimited),
            seats_limit: Some(2),
            ..SsoConnectionUpdate::default()
        },
    )
    .await?;

    // 4. People sign in through their identity provider: provisioned on first sign-in, a
    //    session each, and a code for the application.
    for email in ["jane@customer.example", "john@customer.example"] {
        let done = identity
            .complete_sso(signed_in_at_the_idp(email, &idp_id)?)
            .await?;
        let tokens = identity
            .tokens()
            .exchange_code(
                &ClientAuth::public(client),
                done.code.expose(),
                &done.redirect_uri,
                VERIFIER,
            )
            .await?;
        let id = identity
            .tokens()
            .verify_id_token(&tokens.id_token, client)
            .await?;
        println!(
            "{email}: provisioned={} session {} → ID token for sub {}",
            done.provisioned, done.session.id, id.sub
        );
    }
    let third = identity
        .complete_sso(signed_in_at_the_idp("jim@customer.example", &idp_id)?)
        .await;
    println!("a third person with 2 seats: {}", outcome(third));

    // 5. Disabling the connection stops every sign-in through it.
    sso.disable(&idp_id).await?;
    let disabled = identity
        .complete_sso(signed_in_at_the_idp("jane@customer.example", &idp_id)?)
        .await;
    println!("through a disabled connection: {}", outcome(disabled));
    Ok(())
}

fn outcome<T>(r: Result<T, Error>) -> String {
    match r {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("{} ({e})", e.code()),
    }
}
