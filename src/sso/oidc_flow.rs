//! Signing in through a connection's upstream OpenID Connect identity provider (feature
//! `oidc`), with the `openidconnect` crate: idcore is the relying party.
//!
//! 1. [`Identity::start_oidc_sign_in`] discovers the provider (`{issuer}/.well-known/
//!    openid-configuration`), and answers the authorization URL to send the browser to, with a
//!    fresh `state` (256 bits), `nonce` (256 bits) and PKCE S256 verifier. What the callback
//!    needs is kept in the one-time store under the state's digest, for
//!    [`OIDC_STATE_LIFETIME`]; nothing is kept in the browser.
//! 2. The provider redirects the browser to the host's callback with `code` and `state`;
//!    [`Identity::finish_oidc_sign_in`] takes the state once (an unknown, expired or replayed
//!    state is refused), exchanges the code with the PKCE verifier and the connection's
//!    client credentials (the secret opened only for the request), and verifies the ID token:
//!    its signature with the provider's JWKS (asymmetric algorithms only: RS256, PS256, ES256,
//!    EdDSA), `iss`, `aud` = the client id, `exp`, the `nonce`, and `at_hash` when present.
//!    The verified claims (`sub`, `email`, `email_verified`, `name` …) then go through
//!    [`Identity::complete_sso`], with the application's request that started the flow.
//!
//! HTTP is the host's: implement [`HttpClient`] with the client it already has (reqwest,
//! hyper …), with redirects **not** followed (the crate's advice against SSRF).

use std::future::Future;
use std::pin::Pin;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use time::Duration;

pub use openidconnect::http;
pub use openidconnect::{HttpRequest, HttpResponse};

use super::complete::{SsoSignIn, SsoSignInRequest, VerifiedIdentity};
use super::oidc::client_secret;
use crate::audit::EventCode;
use crate::error::{Error, Resource};
use crate::identity::Identity;
use crate::model::event::NewEvent;
use crate::model::session::{ValidationFactor, ValidationFactors};
use crate::model::sso::{IdpId, OidcClient, SsoConnection};
use crate::risk::RequestContext;
use crate::secret::Secret;
use crate::store::{Key, OneTimeEntry, Store, Take};
use crate::tokens::pkce::CodeChallenge;

/// How long a started sign-in waits for its callback.
pub const OIDC_STATE_LIFETIME: Duration = Duration::minutes(10);

/// The host's HTTP client, for discovery, the JWKS and the token request.
pub trait HttpClient: Send + Sync {
    /// Sends one request and answers the response (any status), without following redirects.
    fn execute(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, HttpError>> + Send;
}

/// The host's client as the `openidconnect` crate calls it: each call a boxed `Send` future
/// (a named type, so the flow's own futures stay `Send` for every lifetime).
struct Adapter<'h, H>(&'h H);

impl<'c, H: HttpClient> openidconnect::AsyncHttpClient<'c> for Adapter<'_, H> {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.0.execute(request))
    }
}

/// A failed HTTP exchange with the identity provider (connection refused, timeout …).
#[derive(Debug, thiserror::Error)]
#[error("HTTP request to the identity provider failed: {0}")]
pub struct HttpError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// The start of an OpenID Connect sign-in through a connection: the host's callback (the
/// redirect URI registered at the identity provider) and the request of the application that
/// will receive idcore's code.
#[derive(Clone, Debug)]
pub struct OidcStart {
    /// The connection (`idp_id`).
    pub idp_id: String,
    /// The host's callback URL, registered at the identity provider.
    pub callback_uri: String,
    /// The device's validation factors (bind the session opened at the end).
    pub factors: ValidationFactors,
    /// One of the application's allowed URLs (default: the connection's default redirection).
    pub redirect_uri: Option<String>,
    /// The application's PKCE challenge (S256).
    pub code_challenge: CodeChallenge,
    /// The application's nonce.
    pub nonce: Option<String>,
    /// The application's state.
    pub state: Option<String>,
    /// The scopes the application asks for.
    pub scope: Vec<String>,
}

/// Where to send the browser: the identity provider's authorization endpoint.
#[derive(Clone, Debug)]
pub struct OidcRedirect {
    /// The authorization URL.
    pub url: String,
}

/// What the callback needs, kept in the one-time store.
#[derive(Serialize, Deserialize)]
struct Pending {
    idp_id: IdpId,
    verifier: String,
    nonce: String,
    callback_uri: String,
    factors: Vec<ValidationFactor>,
    redirect_uri: Option<String>,
    code_challenge: String,
    app_nonce: Option<String>,
    app_state: Option<String>,
    scope: Vec<String>,
}

fn state_key(state: &str) -> Key {
    Key::digest("sso-oidc-state", &Secret::from_presented(state).digest())
}

/// A discovery, JWKS or token failure that is the provider's (or the network's), not the
/// user's.
fn upstream(what: &'static str) -> impl FnOnce(String) -> Error {
    move |detail| Error::IdentityProvider(format!("{what}: {detail}"))
}

impl<S: Store> Identity<S> {
    /// Starts a sign-in through the connection's upstream OpenID Connect provider: answers the
    /// URL to redirect the browser to. See the [module docs](self).
    ///
    /// # Errors
    /// [`Error::NotFound`] (connection, or it has no OpenID Connect client; organization);
    /// [`Error::Forbidden`] for a disabled connection; [`Error::InvalidField`] naming
    /// `callback_uri`; [`Error::IdentityProvider`] when discovery fails; [`Error::Store`].
    pub async fn start_oidc_sign_in(
        &self,
        http: &impl HttpClient,
        start: OidcStart,
    ) -> Result<OidcRedirect, Error> {
        let (connection, oidc) = self.oidc_connection(&start.idp_id).await?;
        if !connection.active {
            return Err(Error::Forbidden("the SSO connection is disabled"));
        }
        let callback = RedirectUrl::new(start.callback_uri.clone()).map_err(|_| {
            Error::field("callback_uri", crate::FieldProblem::Format("must be a URL"))
        })?;
        let metadata = discover(http, &oidc).await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(oidc.client_id.clone()),
            None,
        )
        .set_redirect_uri(callback);
        let state = Secret::generate()?;
        let nonce = Secret::generate()?;
        let verifier = Secret::generate()?;
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            verifier.expose().to_owned(),
        ));
        let (state_value, nonce_value) = (state.expose().to_owned(), nonce.expose().to_owned());
        let (url, _, _) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state_value),
                move || Nonce::new(nonce_value),
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            idp_id: connection.idp_id.clone(),
            verifier: verifier.expose().to_owned(),
            nonce: nonce.expose().to_owned(),
            callback_uri: start.callback_uri,
            factors: start.factors.to_list(),
            redirect_uri: start.redirect_uri,
            code_challenge: start.code_challenge.as_str().to_owned(),
            app_nonce: start.nonce,
            app_state: start.state,
            scope: start.scope,
        };
        let now = self.now();
        let expires_at = now + OIDC_STATE_LIFETIME;
        let payload = serde_json::to_vec(&pending)
            .map_err(|_| Error::ApiMisuse("a pending sign-in serializes"))?;
        self.store()
            .put_once(
                self.environment(),
                &state_key(state.expose()),
                &OneTimeEntry {
                    payload,
                    expires_at,
                    retain_until: expires_at + OIDC_STATE_LIFETIME,
                },
                now,
            )
            .await?;
        Ok(OidcRedirect {
            url: url.to_string(),
        })
    }

    /// Finishes a sign-in at the host's callback, with the `state` and `code` the identity
    /// provider sent back, and the host's signals about that request (`context`, for the risk
    /// engine). See the [module docs](self).
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] for a state that is unknown, expired or already used, a code the
    /// provider refuses, or an ID token that does not verify (wrong signature, issuer,
    /// audience, nonce, expired) — each audited as `SSO_SIGN_IN_REFUSED` with its reason;
    /// [`Error::IdentityProvider`] when the provider cannot be reached or answers nonsense;
    /// then as [`Identity::complete_sso`].
    pub async fn finish_oidc_sign_in(
        &self,
        http: &impl HttpClient,
        state: &str,
        code: &str,
        context: &RequestContext,
    ) -> Result<SsoSignIn, Error> {
        let env = self.environment();
        let now = self.now();
        let pending = match self
            .store()
            .take(env, &state_key(state.trim()), now)
            .await?
        {
            Take::Taken(payload) => serde_json::from_slice::<Pending>(&payload).ok(),
            _ => None,
        };
        let Some(pending) = pending else {
            let _ = self
                .store()
                .record_event(
                    env,
                    &NewEvent::new(EventCode::SSO_SIGN_IN_REFUSED, now)
                        .detail("reason", "oidc_state"),
                )
                .await;
            return Err(Error::InvalidGrant);
        };
        let (connection, oidc) = self.oidc_connection(pending.idp_id.as_str()).await?;
        let refuse = |reason: &'static str| {
            let mut event = NewEvent::new(EventCode::SSO_SIGN_IN_REFUSED, now)
                .tenant(&connection.org)
                .detail("idp_id", connection.idp_id.as_str())
                .detail("reason", reason);
            event.saml_identity_provider_id = Some(connection.idp_id.to_string());
            async move {
                let _ = self.store().record_event(env, &event).await;
                Error::InvalidGrant
            }
        };
        let metadata = discover(http, &oidc).await?;
        let secret = client_secret(self, &connection, &oidc)?;
        let callback = RedirectUrl::new(pending.callback_uri.clone())
            .map_err(|_| Error::ApiMisuse("a stored callback is a URL"))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(oidc.client_id.clone()),
            secret.map(ClientSecret::new),
        )
        .set_redirect_uri(callback);
        let send = Adapter(http);
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.trim().to_owned()))
            .map_err(|e| Error::IdentityProvider(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&send)
            .await;
        let response = match exchange {
            Ok(response) => response,
            Err(openidconnect::RequestTokenError::ServerResponse(_)) => {
                return Err(refuse("oidc_code_refused").await);
            }
            Err(e) => return Err(upstream("token request")(e.to_string())),
        };
        let Some(id_token) = response.id_token() else {
            return Err(refuse("oidc_no_id_token").await);
        };
        let verifier = client.id_token_verifier().set_allowed_algs([
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPssSha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::EdDsa,
        ]);
        let Ok(claims) = id_token.claims(&verifier, &Nonce::new(pending.nonce.clone())) else {
            return Err(refuse("oidc_id_token_invalid").await);
        };
        if let Some(expected) = claims.access_token_hash() {
            let matches = match (id_token.signing_alg(), id_token.signing_key(&verifier)) {
                (Ok(alg), Ok(key)) => {
                    AccessTokenHash::from_token(response.access_token(), alg, key)
                        .is_ok_and(|actual| actual == *expected)
                }
                _ => false,
            };
            if !matches {
                return Err(refuse("oidc_at_hash").await);
            }
        }
        let localized = |c: Option<&openidconnect::LocalizedClaim<_>>| {
            c.and_then(|l| l.get(None))
                .map(|v: &openidconnect::EndUserName| v.as_str().to_owned())
        };
        let identity = VerifiedIdentity {
            subject: claims.subject().as_str().to_owned(),
            email: claims
                .email()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default(),
            email_verified: claims.email_verified().unwrap_or(false),
            name: localized(claims.name()),
            given_name: claims
                .given_name()
                .and_then(|l| l.get(None))
                .map(|v| v.as_str().to_owned()),
            family_name: claims
                .family_name()
                .and_then(|l| l.get(None))
                .map(|v| v.as_str().to_owned()),
            nickname: claims
                .nickname()
                .and_then(|l| l.get(None))
                .map(|v| v.as_str().to_owned()),
            picture: claims
                .picture()
                .and_then(|l| l.get(None))
                .map(|v| v.as_str().to_owned()),
        };
        let code_challenge = CodeChallenge::parse(&pending.code_challenge, Some("S256"))?;
        self.complete_sso(SsoSignInRequest {
            idp_id: connection.idp_id.to_string(),
            identity,
            factors: ValidationFactors::from_stored_list(pending.factors),
            redirect_uri: pending.redirect_uri,
            code_challenge,
            nonce: pending.app_nonce,
            state: pending.app_state,
            scope: pending.scope,
            context: context.clone(),
        })
        .await
    }

    /// The connection and its upstream client.
    async fn oidc_connection(&self, idp_id: &str) -> Result<(SsoConnection, OidcClient), Error> {
        let idp_id = IdpId::parse(idp_id).map_err(|_| Error::NotFound(Resource::SsoConnection))?;
        let connection = self
            .store()
            .sso_connection(self.environment(), &idp_id)
            .await?
            .ok_or(Error::NotFound(Resource::SsoConnection))?;
        let oidc = connection
            .oidc
            .clone()
            .ok_or(Error::NotFound(Resource::SsoConnection))?;
        Ok((connection, oidc))
    }
}

/// The provider's discovery document and JWKS.
async fn discover(
    http: &impl HttpClient,
    oidc: &OidcClient,
) -> Result<CoreProviderMetadata, Error> {
    let issuer = IssuerUrl::new(oidc.issuer.to_string())
        .map_err(|e| Error::IdentityProvider(format!("issuer: {e}")))?;
    CoreProviderMetadata::discover_async(issuer, &Adapter(http))
        .await
        .map_err(|e| Error::IdentityProvider(format!("discovery: {e}")))
}
