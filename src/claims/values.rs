//! What a user carries against the schema: its metadata values (Cryptr's "Set User MetaData")
//! and its RBAC attributes (seed 000's "update user attribute"), and the seed's user view.

use serde_json::{Value, json};

use super::Claims;
use crate::directory::UPDATE_ATTEMPTS;
use crate::error::{Error, Resource};
use crate::model::claims::{
    ClaimSchema, MAX_METADATA_JSON, MAX_RBAC_JSON, MetaKey, MetaValue, MetadataEntry, Rbac,
    parse_labels,
};
use crate::model::event::{EventCode, NewEvent};
use crate::model::fields::Email;
use crate::model::ids::UserId;
use crate::model::user::{ProfileChanges, User};
use crate::store::{Store, StoreError};

/// A partial update of a user's RBAC attributes and profile (seed 000's "update user
/// attribute": the user and its pool are given by the call; everything here is optional). A
/// list left `None` is unchanged; `Some` replaces it (`Some(vec![])` clears it). Items may be
/// comma-separated (`"App01:Update, App01:Read"`).
#[derive(Clone, Debug, Default)]
pub struct AttributeUpdate {
    /// Roles.
    pub roles: Option<Vec<String>>,
    /// Actions, `<application>:<action>`.
    pub actions: Option<Vec<String>>,
    /// Attributes (departments …).
    pub attributes: Option<Vec<String>>,
    /// Groups.
    pub groups: Option<Vec<String>>,
    /// Profile fields (`name`, `given_name` …), as [`Users::update`](crate::directory::Users::update) takes them.
    pub profile: ProfileChanges,
}

impl<S: Store> Claims<'_, S> {
    /// Sets the user's value for a metakey, given as text (the seed's `key_value`), replacing
    /// any value it had. Returns the updated user.
    ///
    /// # Errors
    /// [`Error::NotFound`] (metakey, user or organization); [`Error::InvalidField`]
    /// (`key_value`) when the value does not have the key's type; [`Error::ClaimsTooLarge`]
    /// (`metadata`) past [`MAX_METADATA_JSON`]; [`Error::Conflict`]; [`Error::Store`].
    pub async fn set_metadata(
        &self,
        user: UserId,
        key_name: &str,
        key_value: &str,
    ) -> Result<User, Error> {
        self.set_metadata_with(user, key_name, |key| MetaValue::parse(key.kind, key_value))
            .await
    }

    /// [`Claims::set_metadata`] with the value as JSON: a string as text, a number for an
    /// `integer` key, a boolean for a `boolean` key.
    ///
    /// # Errors
    /// As [`Claims::set_metadata`].
    pub async fn set_metadata_json(
        &self,
        user: UserId,
        key_name: &str,
        key_value: &Value,
    ) -> Result<User, Error> {
        self.set_metadata_with(user, key_name, |key| {
            MetaValue::from_json(key.kind, key_value)
        })
        .await
    }

    async fn set_metadata_with(
        &self,
        user: UserId,
        key_name: &str,
        value: impl Fn(&MetaKey) -> Result<MetaValue, crate::FieldProblem>,
    ) -> Result<User, Error> {
        let schema = self.schema().await?;
        let key = schema
            .metakey(key_name)
            .ok_or(Error::NotFound(Resource::MetaKey))?;
        let value = value(key).map_err(|p| Error::field("key_value", p))?;
        self.write_user(user, EventCode::METADATA_SET, key, |next| {
            prune(&schema, next);
            match next.metadata.iter_mut().find(|e| e.key_id == key.id) {
                Some(entry) => entry.value = value.clone(),
                None => next.metadata.push(MetadataEntry {
                    id: crate::model::ids::new_v7(self.identity.now()),
                    key_id: key.id,
                    value: value.clone(),
                }),
            }
            if schema.metadata_json_len(&next.metadata) > MAX_METADATA_JSON {
                return Err(Error::ClaimsTooLarge {
                    budget: "metadata",
                    limit: MAX_METADATA_JSON,
                });
            }
            Ok(())
        })
        .await
    }

    /// Removes the user's value for a metakey. Returns the updated user.
    ///
    /// # Errors
    /// [`Error::NotFound`] (metadata when the user has no value for it, metakey, user or
    /// organization); [`Error::Conflict`]; [`Error::Store`].
    pub async fn remove_metadata(&self, user: UserId, key_name: &str) -> Result<User, Error> {
        let schema = self.schema().await?;
        let key = schema
            .metakey(key_name)
            .ok_or(Error::NotFound(Resource::MetaKey))?;
        self.write_user(user, EventCode::METADATA_REMOVED, key, |next| {
            let before = next.metadata.len();
            next.metadata.retain(|e| e.key_id != key.id);
            if next.metadata.len() == before {
                return Err(Error::NotFound(Resource::Metadata));
            }
            prune(&schema, next);
            Ok(())
        })
        .await
    }

    async fn write_user(
        &self,
        id: UserId,
        code: EventCode,
        key: &MetaKey,
        change: impl Fn(&mut User) -> Result<(), Error>,
    ) -> Result<User, Error> {
        let event = |user: &User| {
            NewEvent::new(code.clone(), self.identity.now())
                .tenant(self.org)
                .user(user.id, &user.profile.email)
                .detail("key_name", key.name.as_str())
        };
        self.update_user(id, change, event).await
    }

    /// Updates a user's RBAC attributes (and profile fields) partially, the user named by its
    /// e-mail as the seed's call names it. They appear in the next tokens and in user info.
    ///
    /// # Errors
    /// [`Error::NotFound`] (user or organization); [`Error::InvalidField`] (`roles`,
    /// `actions`, `attributes`, `groups`); [`Error::ClaimsTooLarge`] (`attributes`) past
    /// [`MAX_RBAC_JSON`]; [`Error::Conflict`]; [`Error::Store`].
    pub async fn update_attributes(
        &self,
        email: &Email,
        update: &AttributeUpdate,
    ) -> Result<User, Error> {
        self.require_org().await?;
        let user = self
            .identity
            .store()
            .user_by_email(self.identity.environment(), self.org, email)
            .await?
            .ok_or(Error::NotFound(Resource::User))?;
        self.update_attributes_of(user.id, update).await
    }

    /// [`Claims::update_attributes`] for the user with this id.
    ///
    /// # Errors
    /// As [`Claims::update_attributes`].
    pub async fn update_attributes_of(
        &self,
        user: UserId,
        update: &AttributeUpdate,
    ) -> Result<User, Error> {
        let parse = |field: &'static str, list: &Option<Vec<String>>, action: bool| {
            list.as_ref()
                .map(|items| parse_labels(items.iter().map(String::as_str), action))
                .transpose()
                .map_err(|p| Error::field(field, p))
        };
        let roles = parse("roles", &update.roles, false)?;
        let actions = parse("actions", &update.actions, true)?;
        let attributes = parse("attributes", &update.attributes, false)?;
        let groups = parse("groups", &update.groups, false)?;
        let mut fields: Vec<&str> = [
            ("roles", roles.is_some()),
            ("actions", actions.is_some()),
            ("attributes", attributes.is_some()),
            ("groups", groups.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect();
        let profile_fields = update.profile.changed_fields();
        if !profile_fields.is_empty() {
            fields.push(&profile_fields);
        }
        let fields = fields.join(",");
        self.require_org().await?;
        self.update_user(
            user,
            |next| {
                let rbac = Rbac {
                    roles: roles.clone().unwrap_or_else(|| next.rbac.roles.clone()),
                    actions: actions.clone().unwrap_or_else(|| next.rbac.actions.clone()),
                    attributes: attributes
                        .clone()
                        .unwrap_or_else(|| next.rbac.attributes.clone()),
                    groups: groups.clone().unwrap_or_else(|| next.rbac.groups.clone()),
                };
                if rbac.json_len() > MAX_RBAC_JSON {
                    return Err(Error::ClaimsTooLarge {
                        budget: "attributes",
                        limit: MAX_RBAC_JSON,
                    });
                }
                next.rbac = rbac;
                update.profile.apply(&mut next.profile);
                Ok(())
            },
            |user| {
                NewEvent::new(EventCode::USER_ATTRIBUTES_UPDATED, self.identity.now())
                    .tenant(self.org)
                    .user(user.id, &user.profile.email)
                    .detail("fields", fields.as_str())
            },
        )
        .await
    }

    /// Reads the user, applies `change` to a copy and writes it under the user's version,
    /// retrying lost races.
    async fn update_user(
        &self,
        id: UserId,
        change: impl Fn(&mut User) -> Result<(), Error>,
        event: impl Fn(&User) -> NewEvent,
    ) -> Result<User, Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = store
                .user(env, self.org, id)
                .await?
                .ok_or(Error::NotFound(Resource::User))?;
            let mut next = current.clone();
            change(&mut next)?;
            next.updated_at = self.identity.now();
            next.version = current.version + 1;
            match store
                .update_user(env, &next, current.version, &event(&next))
                .await
            {
                Ok(()) => return Ok(next),
                Err(StoreError::Precondition) => continue,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    /// The user in the seed's shape, its `metadata` array expanded: each `MetaData` with its
    /// id, its value and its `key` (the whole `MetaKey`), for the keys the organization has now.
    ///
    /// # Errors
    /// [`Error::NotFound`] (organization); [`Error::Store`].
    pub async fn user_view(&self, user: &User) -> Result<Value, Error> {
        let schema = self.schema().await?;
        Ok(view(&schema, user))
    }
}

/// Drops the values of keys the schema no longer has (a removed key's values go away from a
/// user the next time its metadata is written).
fn prune(schema: &ClaimSchema, user: &mut User) {
    user.metadata
        .retain(|e| schema.metakey_by_id(e.key_id).is_some());
}

fn view(schema: &ClaimSchema, user: &User) -> Value {
    let org = &user.org;
    let access = format!("limited_to:{org}");
    let metadata: Vec<Value> = user
        .metadata
        .iter()
        .filter_map(|e| {
            let key = schema.metakey_by_id(e.key_id)?;
            Some(json!({
                "__access__": access,
                "__domain__": org,
                "__managed_by__": user.managed_by,
                "__type__": "MetaData",
                "id": e.id,
                "key": key.wire(org, &user.managed_by),
                "value": e.value,
            }))
        })
        .collect();
    let mut wire = serde_json::to_value(user).unwrap_or(Value::Null);
    if let Some(object) = wire.as_object_mut() {
        object.insert("__access__".to_owned(), Value::String(access));
        object.insert("metadata".to_owned(), Value::Array(metadata));
    }
    wire
}
