//! The demo data a first start creates: an organization, a public application whose redirect
//! URL is the server's own callback page, and a verified user with a password. Later starts on
//! the same store find the organization and create nothing.

use idcore::directory::{ClientId, OrgDomain};
use idcore::mail::MemoryOutbox;
use idcore::page::PageRequest;
use idcore::risk::RequestContext;
use idcore::signin::SignUp;
use idcore::signin::password::Password;
use idcore::store::Store;
use idcore::{
    ApplicationScope, ApplicationType, Error, Identity, NewApplication, NewOrganization, NewUser,
};

/// The demo organization's name (its domain is the slug, `idcore-demo`).
pub const ORGANIZATION: &str = "idcore demo";
/// The demo user's address.
pub const EMAIL: &str = "demo@example.com";
/// The demo application's redirect URL, on the server itself.
pub const CALLBACK: &str = "/demo/callback";

/// What the demo consists of, to print.
pub struct Demo {
    pub org: OrgDomain,
    pub client_id: ClientId,
    /// The password, when this start created the user.
    pub password: Option<String>,
    /// The authenticator's `otpauth://` URI, when this start enrolled it.
    pub otpauth: Option<String>,
}

/// Finds or creates the demo data.
pub async fn ensure<S: Store>(
    identity: &Identity<S>,
    outbox: &MemoryOutbox,
) -> Result<Demo, Error> {
    let base = identity.config().issuer().as_str().to_owned();
    let orgs = identity
        .organizations()
        .list(PageRequest::new(1, 100)?)
        .await?;
    if let Some(org) = orgs.data.iter().find(|o| o.name.as_str() == ORGANIZATION) {
        let apps = identity
            .applications(ApplicationScope::Organization(org.domain.clone()))
            .list(PageRequest::new(1, 100)?)
            .await?;
        let app = apps
            .data
            .first()
            .ok_or(Error::ApiMisuse("the demo organization has no application"))?;
        return Ok(Demo {
            org: org.domain.clone(),
            client_id: app.client_id,
            password: None,
            otpauth: None,
        });
    }
    let org = identity
        .organizations()
        .create(NewOrganization::new(ORGANIZATION)?)
        .await?;
    let callback = format!("{base}{CALLBACK}");
    let app = identity
        .applications(ApplicationScope::Organization(org.domain.clone()))
        .create(
            NewApplication::new("Demo app", ApplicationType::React)?.with(|a| {
                a.allowed_redirect_urls(&[callback.as_str()])?
                    .allowed_logout_urls(&[base.as_str()])
            })?,
        )
        .await?;
    let password = random_password()?;
    let signin = identity.signin(&org.domain);
    signin
        .sign_up(SignUp::new(NewUser::new(EMAIL)?, Password::new(&password)))
        .await?;
    let mail = outbox
        .sent()
        .into_iter()
        .rev()
        .find(|m| m.to.as_str() == EMAIL)
        .ok_or(Error::ApiMisuse("the sign-up sent no mail"))?;
    let code: String = mail
        .body
        .split("code is ")
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let user = signin
        .confirm_email(EMAIL, &code, &RequestContext::new())
        .await?;
    // An authenticator, confirmed with its first code as an app would compute it.
    let enrolment = signin.begin_totp_enrolment(user.id).await?;
    let otpauth = enrolment.otpauth_uri().expose().to_owned();
    let app_side = totp_rs::Totp::from_url(&otpauth)
        .map_err(|_| Error::ApiMisuse("the otpauth uri does not parse"))?;
    let now = u64::try_from(identity.now().unix_timestamp()).unwrap_or_default();
    signin
        .confirm_totp_enrolment(
            user.id,
            &app_side.generate(now).to_string(),
            &RequestContext::new(),
        )
        .await?;
    Ok(Demo {
        org: org.domain,
        client_id: app.application.client_id,
        password: Some(password),
        otpauth: Some(otpauth),
    })
}

/// A password of 20 random base32 characters (100 bits), shown once.
fn random_password() -> Result<String, Error> {
    let secret = idcore::secret::Secret::generate()?;
    Ok(secret
        .expose()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect())
}

impl Demo {
    /// How to sign in, on standard output.
    pub fn print(&self, base: &str) {
        let iss = format!("{base}/t/{}", self.org);
        println!("\ndemo organization `{}`, issuer {iss}", self.org);
        println!("  discovery  {iss}/.well-known/openid-configuration");
        println!(
            "  sign in    {base}/demo?org={}&client_id={}",
            self.org, self.client_id
        );
        match &self.password {
            Some(p) => println!("  user       {EMAIL} / {p}  (shown once)"),
            None => println!("  user       {EMAIL} (password shown at first start)"),
        }
        match &self.otpauth {
            Some(uri) => println!("  TOTP       add to an authenticator app: {uri}"),
            None => println!("  TOTP       enrolled at first start (its URI was shown then)"),
        }
        println!("  mail       {base}/dev/outbox");
        println!(
            "\n  curl {iss}/.well-known/openid-configuration\n  curl -X POST {iss}/oauth/introspect -d client_id={} -d token=…",
            self.client_id
        );
    }
}
