//! JWT samples (Cryptr's "Get a JWT Sample"): what a sign-in would issue now, for a user of the
//! organization or a synthetic one — never a token anyone can use.

use serde::Serialize;
use serde_json::Value;

use super::Claims;
use crate::encoding::base64url_decode;
use crate::error::{Error, Resource};
use crate::model::claims::{ClaimSchema, CustomClaims, MetaKeyType, MetaValue, MetadataEntry};
use crate::model::fields::{Email, HexColor, Name};
use crate::model::ids::{ClientId, OrgDomain, UserId};
use crate::model::user::{Profile, User};
use crate::store::Store;

/// The seed's `__JwtSamples__`: the two tokens a sign-in would get now and the "treeview" of
/// their claim names (a nested object is `[name, [its member names]]`).
///
/// The tokens are signed with a throwaway ES256 key that no JWKS holds and that is dropped
/// at once, so no verifier that trusts the organization's keys — idcore's included — accepts
/// them. They show the shape; they grant nothing.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JwtSample {
    /// The organization.
    #[serde(rename = "__domain__")]
    pub domain: OrgDomain,
    /// Always `__JwtSamples__`.
    #[serde(rename = "__type__")]
    pub kind: &'static str,
    /// The sample access token.
    pub access_token_jwt: String,
    /// The claim names of the access token.
    pub access_token_keys: Vec<Value>,
    /// The sample ID token.
    pub id_token_jwt: String,
    /// The claim names of the ID token.
    pub id_token_keys: Vec<Value>,
}

impl<S: Store> Claims<'_, S> {
    /// The tokens a sign-in of `user` (or, when `None`, of a synthetic user holding a sample
    /// value for every metakey and every defined role) at the application `client_id` would
    /// get now: the same claims, metadata and RBAC lists included.
    ///
    /// # Errors
    /// [`Error::NotFound`] (application when it is unknown, deleted or not usable by this
    /// organization; user; organization); [`Error::MetadataRequired`] when the user lacks a
    /// required value (as its sign-in would be refused); [`Error::Store`].
    pub async fn jwt_sample(
        &self,
        client_id: ClientId,
        user: Option<UserId>,
    ) -> Result<JwtSample, Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        let schema = self.schema().await?;
        let app = store
            .application(env, client_id)
            .await?
            .filter(|a| a.deleted_at.is_none())
            .filter(|a| a.scope.organization().is_none_or(|o| o == self.org))
            .ok_or(Error::NotFound(Resource::Application))?;
        let now = self.identity.now();
        let tokens = self.identity.tokens();
        let (user, custom) = match user {
            Some(id) => {
                let user = store
                    .user(env, self.org, id)
                    .await?
                    .ok_or(Error::NotFound(Resource::User))?;
                let custom = tokens.custom_claims(&user, &schema).await?;
                (user, custom)
            }
            None => {
                let user = self.synthetic_user(&schema)?;
                let custom = schema
                    .resolve(&user.metadata, &user.rbac)
                    .unwrap_or_else(|_| CustomClaims::default());
                (user, custom)
            }
        };
        let (access, id) = tokens.sample_pair(self.org, &app, &user, &custom, now)?;
        Ok(JwtSample {
            domain: self.org.clone(),
            kind: "__JwtSamples__",
            access_token_keys: tree(&access),
            access_token_jwt: access,
            id_token_keys: tree(&id),
            id_token_jwt: id,
        })
    }

    /// A user with a sample value for every metakey and every defined role.
    fn synthetic_user(&self, schema: &ClaimSchema) -> Result<User, Error> {
        let now = self.identity.now();
        let sample = |kind: MetaKeyType| match kind {
            MetaKeyType::String => MetaValue::Text("sample".to_owned()),
            MetaKeyType::Integer => MetaValue::Integer(0),
            MetaKeyType::Boolean => MetaValue::Boolean(false),
            MetaKeyType::Date => MetaValue::Text("1970-01-01".to_owned()),
            MetaKeyType::DateTime => MetaValue::Text("1970-01-01T00:00:00Z".to_owned()),
        };
        let email = Email::parse("sample.user@example.com")
            .map_err(|_| Error::ApiMisuse("the sample e-mail"))?;
        let mut profile = Profile::new(email);
        profile.name = Name::parse("Sample User").ok();
        Ok(User {
            id: UserId::generate(now),
            org: self.org.clone(),
            environment: self.identity.environment(),
            managed_by: self.identity.config().managed_by().clone(),
            profile,
            metadata: schema
                .metakeys
                .iter()
                .map(|k| MetadataEntry {
                    id: crate::model::ids::new_v7(now),
                    key_id: k.id,
                    value: sample(k.kind),
                })
                .collect(),
            rbac: crate::model::claims::Rbac {
                roles: schema.roles.iter().map(|r| r.name.clone()).collect(),
                ..Default::default()
            },
            federation: None,
            active: true,
            avatar_hexa_color: HexColor::parse("#000000")
                .map_err(|_| Error::ApiMisuse("the sample color"))?,
            inserted_at: now,
            updated_at: now,
            version: 1,
        })
    }
}

/// The claim names of a compact JWS's payload: a string per claim, `[name, [members]]` for an
/// object claim.
fn tree(token: &str) -> Vec<Value> {
    let claims: Option<serde_json::Map<String, Value>> = token
        .split('.')
        .nth(1)
        .and_then(|payload| base64url_decode(payload).ok())
        .and_then(|json| serde_json::from_slice(&json).ok());
    claims
        .into_iter()
        .flatten()
        .map(|(name, value)| match value {
            Value::Object(members) => Value::Array(vec![
                Value::String(name),
                Value::Array(members.into_iter().map(|(m, _)| Value::String(m)).collect()),
            ]),
            _ => Value::String(name),
        })
        .collect()
}
