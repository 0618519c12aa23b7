//! A connection's upstream OpenID Connect client: its issuer, client id and sealed client
//! secret. The sign-in flow through it is [`super::oidc_flow`] (feature `oidc`).

use super::Sso;
use crate::audit::EventCode;
use crate::encoding::{base64url_decode, base64url_encode};
use crate::error::{Error, FieldProblem};
use crate::identity::Identity;
use crate::model::fields::HttpUrl;
use crate::model::sso::{OidcClient, SsoConnection};
use crate::store::Store;

/// The longest client id accepted.
const CLIENT_ID_MAX: usize = 255;

/// The longest client secret accepted.
const CLIENT_SECRET_MAX: usize = 1024;

impl<S: Store> Sso<'_, S> {
    /// Sets the connection's upstream OpenID Connect client: the identity provider's `issuer`
    /// (https, or http on a loopback host for development), the `client_id` idcore was
    /// registered with there, and its `client_secret` (none for a public client), sealed at
    /// rest. Replaces an earlier one.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `issuer`, `client_id` or `client_secret`;
    /// [`Error::Keys`] without a key-encryption key; [`Error::NotFound`] (connection,
    /// organization); [`Error::Conflict`]; [`Error::Store`].
    pub async fn set_oidc_client(
        &self,
        idp_id: &str,
        issuer: &str,
        client_id: &str,
        client_secret: Option<&str>,
    ) -> Result<SsoConnection, Error> {
        let issuer = HttpUrl::parse(issuer).map_err(|p| Error::field("issuer", p))?;
        if issuer.scheme() != "https" && !is_loopback(issuer.host()) {
            return Err(Error::field(
                "issuer",
                FieldProblem::Format("must be https (http only on a loopback host)"),
            ));
        }
        let client_id =
            check_text(client_id, CLIENT_ID_MAX).map_err(|p| Error::field("client_id", p))?;
        let secret = client_secret
            .map(|s| check_text(s, CLIENT_SECRET_MAX))
            .transpose()
            .map_err(|p| Error::field("client_secret", p))?;
        let keys = self.identity.signin_keys()?;
        self.change(idp_id, |c| {
            let sealed = secret
                .as_deref()
                .map(|s| keys.seal_sso_secret(s.as_bytes(), &secret_aad(self.identity, c)))
                .transpose()?
                .map(|bytes| base64url_encode(&bytes));
            c.oidc = Some(OidcClient {
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                sealed_client_secret: sealed,
            });
            Ok(self
                .event(EventCode::SSO_CONNECTION_UPDATED, c)
                .detail("fields", "oidc"))
        })
        .await
    }
}

/// The client secret of the connection's upstream client, opened; `None` for a public client.
#[cfg_attr(not(feature = "oidc"), allow(dead_code))]
pub(super) fn client_secret<S: Store>(
    identity: &Identity<S>,
    connection: &SsoConnection,
    client: &OidcClient,
) -> Result<Option<String>, Error> {
    let Some(sealed) = &client.sealed_client_secret else {
        return Ok(None);
    };
    let bytes = base64url_decode(sealed)
        .map_err(|_| Error::Keys("the sealed SSO client secret is malformed"))?;
    let plain = identity
        .signin_keys()?
        .open_sso_secret(&bytes, &secret_aad(identity, connection))?;
    String::from_utf8(plain)
        .map(Some)
        .map_err(|_| Error::Keys("the sealed SSO client secret is malformed"))
}

/// What a sealed client secret is bound to: its environment, organization and connection.
fn secret_aad<S>(identity: &Identity<S>, c: &SsoConnection) -> Vec<u8> {
    let mut aad = Vec::new();
    for part in [
        identity.environment().as_str(),
        c.org.as_str(),
        c.idp_id.as_str(),
    ] {
        aad.extend((part.len() as u64).to_be_bytes());
        aad.extend(part.as_bytes());
    }
    aad
}

fn check_text(s: &str, max: usize) -> Result<String, FieldProblem> {
    let t = s.trim();
    if t.is_empty() {
        return Err(FieldProblem::Empty);
    }
    if t.len() > max {
        return Err(FieldProblem::TooLong { max });
    }
    if t.chars().any(char::is_control) {
        return Err(FieldProblem::ControlCharacters);
    }
    Ok(t.to_owned())
}

/// `localhost`, `127.0.0.0/8` or `[::1]`.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}
