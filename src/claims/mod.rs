//! Custom claims: Cryptr's metakeys and user metadata, seed 000's RBAC attributes (roles,
//! actions, attributes, groups) with optional role definitions, and JWT samples — one
//! [`Claims`] handle per organization (`identity.claims(&org)`).
//!
//! ```text
//! metakeys.rs   create, list, remove metakeys; define and remove roles (the schema)
//! values.rs     a user's metadata (set, remove, the seed's user view) and RBAC attributes
//! sample.rs     jwt_sample: the tokens a sign-in would issue now, never verifiable
//! ```
//!
//! # In the tokens
//! Both tokens and user info carry, each member omitted when empty:
//! - `resource_owner_metadata`: `{key name: value}` for the user's values of the metakeys the
//!   organization has *now* (strings, dates and datetimes as JSON strings, integers and booleans
//!   as JSON numbers and booleans), as the seed's JwtSample shows;
//! - `roles`, `attributes`, `groups`: the user's lists, sorted;
//! - `actions`: the user's own actions and those of its roles that the organization defines,
//!   sorted and without duplicates.
//!
//! A resource server checks them after [`Tokens::verify`](crate::tokens::Tokens::verify) with
//! [`AccessClaims::has_action`](crate::tokens::claims::AccessClaims::has_action),
//! `has_role`, `in_group` and `has_attribute`: binary searches, no allocation.
//!
//! # Semantics
//! - **Values name their key by id.** Removing a metakey is one write to the organization's
//!   schema; from then on no token carries its values (they are dropped when tokens are built,
//!   and pruned from a user the next time its metadata is written). A key created again with
//!   the same name is a new key and starts without values.
//! - **`required`.** A required metakey must have a value for a user to receive tokens: sign-in
//!   (when the code is minted), code exchange, refresh and user info answer
//!   [`Error::MetadataRequired`](crate::Error::MetadataRequired) naming the key, and the audit
//!   log records `TOKENS_DENIED_METADATA_REQUIRED`. Creating a required key while users exist
//!   is allowed (it is how an administrator makes a value mandatory); those users are refused,
//!   by name, until a value is set — never silently, and never with a token that lacks it.
//! - **Sizes.** Every token fits in [`MAX_TOKEN_LEN`](crate::tokens::jws::MAX_TOKEN_LEN): a
//!   user's metadata adds at most [`MAX_METADATA_JSON`] bytes, its own RBAC lists
//!   [`MAX_RBAC_JSON`], the organization's role definitions [`MAX_ROLES_JSON`]. A write that
//!   would exceed its budget is refused with [`Error::ClaimsTooLarge`](crate::Error::ClaimsTooLarge)
//!   when it is made, never at sign-in.
//! - **Atomicity.** The schema is one record written under its version
//!   ([`ClaimStore`](crate::store::ClaimStore)); a user's values are written under the user's
//!   version. Concurrent writers retry; the last one wins and no value is duplicated.

use crate::directory::Organizations;
use crate::directory::UPDATE_ATTEMPTS;
use crate::error::{Error, Resource};
use crate::identity::Identity;
use crate::model::event::NewEvent;
use crate::model::ids::OrgDomain;
use crate::model::organization::Organization;
use crate::store::{Store, StoreError};

mod metakeys;
mod sample;
mod values;

pub use crate::model::claims::{
    ClaimSchema, CustomClaims, Label, MAX_LIST, MAX_METADATA_JSON, MAX_METAKEYS, MAX_RBAC_JSON,
    MAX_ROLES, MAX_ROLES_JSON, MetaKey, MetaKeyName, MetaKeyType, MetaValue, MetadataEntry,
    RESERVED_CLAIMS, Rbac, RoleDefinition,
};
pub use sample::JwtSample;
pub use values::AttributeUpdate;

impl<S: Store> Identity<S> {
    /// The custom claims of one organization: its metakeys and roles, its users' metadata and
    /// RBAC attributes, JWT samples. Every call is confined to that organization.
    pub fn claims<'a>(&'a self, org: &'a OrgDomain) -> Claims<'a, S> {
        Claims {
            identity: self,
            org,
        }
    }
}

/// The custom claims of one organization; see [`Identity::claims`].
pub struct Claims<'a, S> {
    identity: &'a Identity<S>,
    org: &'a OrgDomain,
}

impl<S: Store> Claims<'_, S> {
    /// The organization, if it is live.
    async fn require_org(&self) -> Result<Organization, Error> {
        Organizations::new(self.identity)
            .require_live(self.org)
            .await
    }

    /// The organization's schema.
    ///
    /// # Errors
    /// [`Error::NotFound`] (organization) if it does not exist or was deleted; [`Error::Store`].
    pub async fn schema(&self) -> Result<ClaimSchema, Error> {
        self.require_org().await?;
        Ok(self
            .identity
            .store()
            .claim_schema(self.identity.environment(), self.org)
            .await?)
    }

    /// Changes the schema under its version: reads it, lets `change` edit a copy (and say
    /// what to answer and which event to record), writes it if nobody wrote in between, and
    /// retries otherwise.
    async fn change_schema<T, F>(&self, mut change: F) -> Result<T, Error>
    where
        F: FnMut(&mut ClaimSchema) -> Result<(T, NewEvent), Error>,
    {
        self.require_org().await?;
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = store.claim_schema(env, self.org).await?;
            let mut next = current.clone();
            let (answer, event) = change(&mut next)?;
            next.version = current.version + 1;
            match store
                .put_claim_schema(env, self.org, &next, current.version, &event)
                .await
            {
                Ok(()) => return Ok(answer),
                Err(StoreError::Precondition) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::Organization))
    }
}
