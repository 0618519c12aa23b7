//! JWT samples (Cryptr's "Get a JWT Sample"): the claim sets a sign-in would issue now, signed
//! with a throwaway key so a sample can never pass as a real token.

use time::OffsetDateTime;

use super::claims::issuer_of;
use super::service::{Grant, Tokens, sign_pair};
use crate::Error;
use crate::crypto::keys::{Algorithm, KeyPair};
use crate::model::application::Application;
use crate::model::claims::CustomClaims;
use crate::model::ids::OrgDomain;
use crate::model::user::User;
use crate::store::{FamilyId, Store};

/// The scopes and methods a sample shows.
const SAMPLE_SCOPE: [&str; 3] = ["openid", "email", "profile"];

impl<S: Store> Tokens<'_, S> {
    /// The access and ID tokens a sign-in of `user` at `app` would get at `now`, with their
    /// claims exactly as issued (fresh `jti`s and grant, the application's lifetimes, nonce
    /// `sample`), signed with a fresh ES256 key that no JWKS holds and that is dropped on
    /// return: no verifier that trusts the organization's keys accepts them.
    ///
    /// # Errors
    /// [`Error::Keys`] or [`Error::Random`] when the throwaway key cannot be made.
    pub(crate) fn sample_pair(
        &self,
        org: &OrgDomain,
        app: &Application,
        user: &User,
        custom: &CustomClaims,
        now: OffsetDateTime,
    ) -> Result<(String, String), Error> {
        let key = KeyPair::generate(Algorithm::Es256).map_err(|_| Error::Random)?;
        let scope: Vec<String> = SAMPLE_SCOPE.iter().map(|s| (*s).to_owned()).collect();
        let amr = ["pwd".to_owned()];
        let grant = Grant {
            org,
            user,
            custom,
            client_id: app.client_id,
            scope: &scope,
            auth_time: now.unix_timestamp(),
            amr: &amr,
            nonce: Some("sample"),
            state: None,
            code: None,
            family: FamilyId(crate::model::ids::new_v7(now)),
            validity: app.token_validity,
        };
        let issuer = issuer_of(self.identity.config().issuer().as_str(), org);
        let (access, mut id) = self.claim_sets(&issuer, &grant, now);
        sign_pair(&key, &access, &mut id, None, None)
    }
}
