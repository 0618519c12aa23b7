//! The claim sets of the seeds: the access token (`jtt` = `access`) and the ID token
//! (`jtt` = `openid`).
//!
//! Times are NumericDate seconds. Deserialization is strict: every required claim must be present
//! with its JSON type — a string, float or missing `exp` is an error, never "absent" — and a
//! duplicate claim is an error.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};

use crate::model::user::User;

/// `jtt` of an access token.
pub const JTT_ACCESS: &str = "access";
/// `jtt` of an ID token.
pub const JTT_OPENID: &str = "openid";
/// `typ` header of an access token (RFC 9068).
pub const TYP_ACCESS: &str = "at+jwt";
/// `typ` header of an ID token.
pub const TYP_ID: &str = "JWT";
/// The claim set version (`ver`).
pub const CLAIMS_VERSION: u32 = 1;

/// The claims of an access token.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AccessClaims<'a> {
    /// `{issuer}/t/{organization domain}`.
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    /// The user id.
    pub sub: UserId,
    /// The resource audience (one value).
    #[serde(borrow)]
    pub aud: Cow<'a, str>,
    /// The client the token was issued to.
    pub cid: ClientId,
    /// The environment.
    pub dbs: Environment,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Unique token id.
    pub jti: Uuid,
    /// Always [`JTT_ACCESS`].
    #[serde(borrow)]
    pub jtt: Cow<'a, str>,
    /// Granted scopes.
    #[serde(borrow)]
    pub scp: Vec<Cow<'a, str>>,
    /// The organization domain.
    pub tnt: OrgDomain,
    /// Claim set version.
    pub ver: u32,
    /// The user id (as the seed repeats it).
    pub uid: UserId,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The grant (refresh token family) the token belongs to.
    pub gid: Uuid,
    /// `resource_owner_metadata`: the user's metakey values (omitted when it has none).
    #[serde(
        rename = "resource_owner_metadata",
        default,
        skip_serializing_if = "Metadata::is_empty"
    )]
    pub metadata: Metadata,
    /// The user's roles, sorted (omitted when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The actions granted, directly or through roles, sorted (omitted when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// The user's attributes, sorted (omitted when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// The user's groups, sorted (omitted when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl AccessClaims<'static> {
    /// Parses the claims JSON of an access token, strictly (see the module docs): every claim
    /// present once with its JSON type; unknown claims are ignored. `None` for anything else.
    ///
    /// The claims idcore writes (compact JSON, no escapes, hyphenated uuids) are read by a
    /// scanner made for this claim set, without building a JSON tree and with one allocation
    /// per string; anything else goes through serde, which gives the same answer.
    pub fn from_json(json: &[u8]) -> Option<Self> {
        let mut claims = match fast::access(json) {
            Some(claims) => claims,
            None => serde_json::from_slice::<AccessClaims<'_>>(json)
                .ok()
                .map(AccessClaims::into_owned)?,
        };
        claims.sort_lists();
        Some(claims)
    }
}

impl AccessClaims<'_> {
    /// The same claims, owning their strings.
    pub fn into_owned(self) -> AccessClaims<'static> {
        let owned = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        AccessClaims {
            iss: owned(self.iss),
            aud: owned(self.aud),
            jtt: if self.jtt == JTT_ACCESS {
                Cow::Borrowed(JTT_ACCESS)
            } else {
                owned(self.jtt)
            },
            scp: self.scp.into_iter().map(owned).collect(),
            ..self
        }
    }
}

impl AccessClaims<'_> {
    /// The claims as compact JSON: exactly the bytes `serde_json::to_vec` writes, written
    /// directly (strings are copied whole unless they need escaping).
    pub fn to_json(&self) -> Vec<u8> {
        let mut w = write::Json::with_capacity(512);
        w.str("iss", &self.iss);
        w.uuid("sub", &self.sub.as_uuid());
        w.str("aud", &self.aud);
        w.uuid("cid", &self.cid.as_uuid());
        w.str("dbs", self.dbs.as_str());
        w.int("exp", self.exp);
        w.int("iat", self.iat);
        w.int("nbf", self.nbf);
        w.uuid("jti", &self.jti);
        w.str("jtt", &self.jtt);
        w.strs("scp", self.scp.iter().map(|s| s.as_ref()));
        w.str("tnt", self.tnt.as_str());
        w.int("ver", i64::from(self.ver));
        w.uuid("uid", &self.uid.as_uuid());
        w.int("auth_time", self.auth_time);
        w.uuid("gid", &self.gid);
        w.custom(
            &self.metadata,
            &self.roles,
            &self.actions,
            &self.attributes,
            &self.groups,
        );
        w.finish()
    }
}

impl IdClaims<'_> {
    /// The claims as compact JSON: exactly the bytes `serde_json::to_vec` writes (absent
    /// optional claims omitted, profile claims flattened), written directly.
    pub fn to_json(&self) -> Vec<u8> {
        let mut w = write::Json::with_capacity(768);
        w.str("iss", &self.iss);
        w.uuid("sub", &self.sub.as_uuid());
        w.uuid("aud", &self.aud.as_uuid());
        w.uuid("azp", &self.azp.as_uuid());
        w.uuid("cid", &self.cid.as_uuid());
        w.str("dbs", self.dbs.as_str());
        w.int("exp", self.exp);
        w.int("iat", self.iat);
        w.int("nbf", self.nbf);
        w.uuid("jti", &self.jti);
        w.str("jtt", &self.jtt);
        w.str("tnt", self.tnt.as_str());
        w.int("ver", i64::from(self.ver));
        w.int("auth_time", self.auth_time);
        w.uuid("gid", &self.gid);
        w.opt_str("nonce", self.nonce.as_deref());
        w.opt_str("at_hash", self.at_hash.as_deref());
        w.opt_str("c_hash", self.c_hash.as_deref());
        w.opt_str("s_hash", self.s_hash.as_deref());
        if !self.amr.is_empty() {
            w.strs("amr", self.amr.iter().map(String::as_str));
        }
        let p = &self.profile;
        w.opt_str("email", p.email.as_deref());
        w.opt_bool("email_verified", p.email_verified);
        w.opt_str("name", p.name.as_deref());
        w.opt_str("given_name", p.given_name.as_deref());
        w.opt_str("family_name", p.family_name.as_deref());
        w.opt_str("middle_name", p.middle_name.as_deref());
        w.opt_str("nickname", p.nickname.as_deref());
        w.opt_str("preferred_username", p.preferred_username.as_deref());
        w.opt_str("profile", p.profile.as_deref());
        w.opt_str("picture", p.picture.as_deref());
        w.opt_str("website", p.website.as_deref());
        w.opt_str("gender", p.gender.as_deref());
        w.opt_str("birthdate", p.birthdate.as_deref());
        w.opt_str("zoneinfo", p.zoneinfo.as_deref());
        w.opt_str("locale", p.locale.as_deref());
        w.opt_str("phone_number", p.phone_number.as_deref());
        w.opt_bool("phone_number_verified", p.phone_number_verified);
        if let Some(at) = p.updated_at {
            w.int("updated_at", at);
        }
        w.custom(
            &self.metadata,
            &self.roles,
            &self.actions,
            &self.attributes,
            &self.groups,
        );
        w.finish()
    }
}

mod custom;
mod fast;
#[cfg(test)]
mod tests;
mod write;

pub use custom::Metadata;

/// The OpenID Connect profile claims carried by ID tokens and user info.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ProfileClaims {
    /// E-mail address.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    /// Whether the e-mail was verified.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email_verified: Option<bool>,
    /// Full name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// Given name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub family_name: Option<String>,
    /// Middle name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub middle_name: Option<String>,
    /// Nickname.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nickname: Option<String>,
    /// Preferred username.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub preferred_username: Option<String>,
    /// Profile page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub profile: Option<String>,
    /// Picture.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub picture: Option<String>,
    /// Web site.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub website: Option<String>,
    /// Gender.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gender: Option<String>,
    /// Birth date, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub birthdate: Option<String>,
    /// Time zone.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub zoneinfo: Option<String>,
    /// Locale.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub locale: Option<String>,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phone_number: Option<String>,
    /// Whether the phone number was verified.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phone_number_verified: Option<bool>,
    /// Last profile update (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub updated_at: Option<i64>,
}

impl ProfileClaims {
    /// The claims of a user's current profile.
    pub fn of(user: &User) -> Self {
        let p = &user.profile;
        let s = |v: Option<&str>| v.map(str::to_owned);
        Self {
            email: Some(p.email.as_str().to_owned()),
            email_verified: Some(p.email_verified),
            name: s(p.name.as_ref().map(|v| v.as_str())),
            given_name: s(p.given_name.as_ref().map(|v| v.as_str())),
            family_name: s(p.family_name.as_ref().map(|v| v.as_str())),
            middle_name: s(p.middle_name.as_ref().map(|v| v.as_str())),
            nickname: s(p.nickname.as_ref().map(|v| v.as_str())),
            preferred_username: s(p.preferred_username.as_ref().map(|v| v.as_str())),
            profile: s(p.profile.as_ref().map(|v| v.as_str())),
            picture: s(p.picture.as_ref().map(|v| v.as_str())),
            website: s(p.website.as_ref().map(|v| v.as_str())),
            gender: s(p.gender.as_ref().map(|v| v.as_str())),
            birthdate: p.birthdate.map(|b| b.to_string()),
            zoneinfo: s(p.zoneinfo.as_ref().map(|v| v.as_str())),
            locale: s(p.locale.as_ref().map(|v| v.as_str())),
            phone_number: s(p.phone_number.as_ref().map(|v| v.as_str())),
            phone_number_verified: p.phone_number.as_ref().map(|_| p.phone_number_verified),
            updated_at: Some(user.updated_at.unix_timestamp()),
        }
    }
}

/// The claims of an ID token.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct IdClaims<'a> {
    /// `{issuer}/t/{organization domain}`.
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    /// The user id.
    pub sub: UserId,
    /// The client id (OIDC: the ID token's audience is the client).
    pub aud: ClientId,
    /// Authorized party: the client id.
    pub azp: ClientId,
    /// The client the token was issued to (seed name).
    pub cid: ClientId,
    /// The environment.
    pub dbs: Environment,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Unique token id.
    pub jti: Uuid,
    /// Always [`JTT_OPENID`].
    #[serde(borrow)]
    pub jtt: Cow<'a, str>,
    /// The organization domain.
    pub tnt: OrgDomain,
    /// Claim set version.
    pub ver: u32,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The grant the token belongs to.
    pub gid: Uuid,
    /// The nonce of the authorization request, echoed exactly.
    #[serde(skip_serializing_if = "Option::is_none", default, borrow)]
    pub nonce: Option<Cow<'a, str>>,
    /// Hash of the access token issued with it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub at_hash: Option<String>,
    /// Hash of the authorization code it was exchanged for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub c_hash: Option<String>,
    /// Hash of the `state` of the authorization request, when one was given.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub s_hash: Option<String>,
    /// Authentication methods (`pwd`, `otp` …).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub amr: Vec<String>,
    /// The user's profile claims.
    #[serde(flatten)]
    pub profile: ProfileClaims,
    /// `resource_owner_metadata`: the user's metakey values (omitted when it has none).
    #[serde(
        rename = "resource_owner_metadata",
        default,
        skip_serializing_if = "Metadata::is_empty"
    )]
    pub metadata: Metadata,
    /// The user's roles, sorted (omitted when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The actions granted, directly or through roles, sorted (omitted when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// The user's attributes, sorted (omitted when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// The user's groups, sorted (omitted when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// The organization issuer: `{issuer}/t/{domain}`.
pub fn issuer_of(base: &str, org: &OrgDomain) -> String {
    format!("{base}/t/{org}")
}
