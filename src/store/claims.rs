//! The claim schema of each organization (part of [`Store`](super::Store)): its metakeys and
//! role definitions, one versioned record per organization and environment.
//!
//! A user's values (metadata, RBAC attributes) are not here: they live on the user record and
//! are written with [`UserStore::update_user`](super::UserStore::update_user), under the user's
//! version. Values name their key by id, and idcore issues only the values of keys in the
//! schema read with the user, so removing a key is one write here and no write per user.

use std::future::Future;

use super::{OrganizationStore, StoreError, UserStore};
use crate::model::claims::ClaimSchema;
use crate::model::event::NewEvent;
use crate::model::ids::{Environment, OrgDomain, UserId};
use crate::model::user::User;

/// Claim schemas.
///
/// # Contract
/// - `claim_schema` answers the stored schema with its stored `version`, or the empty schema at
///   version 0 when none was ever written for this organization in this environment. Neither
///   another organization's nor the other environment's schema is ever read or written.
/// - `put_claim_schema` stores `schema` (whose `version` the caller already set to
///   `expected_version + 1`) only if the stored version is still `expected_version` — 0 meaning
///   "none stored yet" — else [`StoreError::Precondition`]; of N concurrent writers holding the
///   same version exactly one wins. The schema and its audit event are written together or not
///   at all. The store does not check the organization (idcore does, before it writes).
/// - `live_user_claims` is [`UserStore::live_user`] and `claim_schema` read together: `None`
///   when the user or its organization is not live. The default issues both reads at once; an
///   adapter may answer with one statement.
pub trait ClaimStore: Send + Sync {
    /// The organization's schema, or the empty one at version 0.
    fn claim_schema(
        &self,
        env: Environment,
        org: &OrgDomain,
    ) -> impl Future<Output = Result<ClaimSchema, StoreError>> + Send;

    /// Replaces the schema if its version is still `expected_version`, with its audit event.
    fn put_claim_schema(
        &self,
        env: Environment,
        org: &OrgDomain,
        schema: &ClaimSchema,
        expected_version: u64,
        event: &NewEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The live user and its organization's schema: what issuing a token reads.
    fn live_user_claims(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: UserId,
    ) -> impl Future<Output = Result<Option<(User, ClaimSchema)>, StoreError>> + Send
    where
        Self: UserStore + OrganizationStore,
    {
        async move {
            let (user, schema) =
                crate::join::join2(self.live_user(env, org, id), self.claim_schema(env, org)).await;
            match user? {
                Some(user) => Ok(Some((user, schema?))),
                None => Ok(None),
            }
        }
    }
}
