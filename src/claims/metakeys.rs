//! The organization's schema: metakeys (create, list, remove) and role definitions.

use super::Claims;
use crate::error::{Error, Resource};
use crate::model::claims::{
    ClaimSchema, Label, MAX_METAKEYS, MAX_ROLES, MAX_ROLES_JSON, MetaKey, MetaKeyName, MetaKeyType,
    NameProblem, RoleDefinition, parse_labels,
};
use crate::model::event::{EventCode, NewEvent};
use crate::model::ids::MetaKeyId;
use crate::page::{List, ListKind, PageRequest};
use crate::store::{Store, newest_after};

impl<S: Store> Claims<'_, S> {
    /// Creates a metakey (the seed's "Create new key values in your JWT").
    ///
    /// # Errors
    /// [`Error::InvalidField`] (`name`) for a malformed name; [`Error::ReservedClaimName`] for
    /// a claim idcore or a standard reserves; [`Error::AlreadyExists`] (`name`, compared
    /// case-insensitively); [`Error::LimitReached`] past [`MAX_METAKEYS`]; [`Error::NotFound`]
    /// (organization); [`Error::Conflict`]; [`Error::Store`].
    pub async fn create_metakey(
        &self,
        name: &str,
        kind: MetaKeyType,
        required: bool,
    ) -> Result<MetaKey, Error> {
        let name = MetaKeyName::parse(name).map_err(|p| match p {
            NameProblem::Field(problem) => Error::field("name", problem),
            NameProblem::Reserved(name) => Error::ReservedClaimName(name),
        })?;
        let now = self.identity.now();
        // Whole microseconds, as list cursors carry them.
        let now = now
            .replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now);
        let key = MetaKey {
            id: MetaKeyId::generate(now),
            name,
            kind,
            required,
            inserted_at: now,
        };
        self.change_schema(|schema| {
            if schema.metakey(key.name.as_str()).is_some() {
                return Err(Error::AlreadyExists {
                    resource: Resource::MetaKey,
                    key: "name",
                });
            }
            if schema.metakeys.len() >= MAX_METAKEYS {
                return Err(Error::LimitReached {
                    what: "metakeys",
                    limit: MAX_METAKEYS,
                });
            }
            schema.metakeys.push(key.clone());
            schema.metakeys.sort_by(|a, b| a.name.cmp(&b.name));
            let event = NewEvent::new(EventCode::METAKEY_CREATED, now)
                .tenant(self.org)
                .detail("key_name", key.name.as_str())
                .detail("type", key.kind.as_str())
                .detail("required", if key.required { "true" } else { "false" });
            Ok((key.clone(), event))
        })
        .await
    }

    /// The metakey with this name (case-insensitively).
    ///
    /// # Errors
    /// [`Error::NotFound`] (metakey or organization); [`Error::Store`].
    pub async fn metakey(&self, name: &str) -> Result<MetaKey, Error> {
        self.schema()
            .await?
            .metakey(name)
            .cloned()
            .ok_or(Error::NotFound(Resource::MetaKey))
    }

    /// One page of the organization's metakeys, newest first, like every list.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for a cursor of another list; [`Error::NotFound`]
    /// (organization); [`Error::Store`].
    pub async fn metakeys(&self, page: PageRequest) -> Result<List<MetaKey>, Error> {
        page.check_cursor(ListKind::MetaKeys)?;
        let mut keys = self.schema().await?.metakeys;
        keys.sort_by_key(|k| std::cmp::Reverse((k.inserted_at, k.id.as_uuid())));
        let total = keys.len() as u64;
        let per_page = page.per_page() as usize;
        let items: Vec<MetaKey> = match newest_after(&page)? {
            Some(after) => keys
                .into_iter()
                .skip_while(|k| (k.inserted_at, k.id.as_uuid()) >= after)
                .take(per_page)
                .collect(),
            None => keys
                .into_iter()
                .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
                .take(per_page)
                .collect(),
        };
        Ok(List::new(items, page, total))
    }

    /// Removes a metakey (the seed's "Remove a MetaKey"). From this write on, no token carries
    /// its values; nothing is written per user.
    ///
    /// # Errors
    /// [`Error::NotFound`] (metakey or organization); [`Error::Conflict`]; [`Error::Store`].
    pub async fn remove_metakey(&self, name: &str) -> Result<MetaKey, Error> {
        let now = self.identity.now();
        self.change_schema(|schema| {
            let at = schema
                .metakeys
                .iter()
                .position(|k| k.name.as_str().eq_ignore_ascii_case(name.trim()))
                .ok_or(Error::NotFound(Resource::MetaKey))?;
            let key = schema.metakeys.remove(at);
            let event = NewEvent::new(EventCode::METAKEY_REMOVED, now)
                .tenant(self.org)
                .detail("key_name", key.name.as_str());
            Ok((key, event))
        })
        .await
    }

    /// Defines a role, or changes what it grants: from the next token on, every user with
    /// this role gets these actions (`<application>:<action>`, comma-separated items allowed).
    ///
    /// # Errors
    /// [`Error::InvalidField`] (`name`, `actions`); [`Error::ClaimsTooLarge`] (`roles`) when all
    /// role definitions together would exceed [`MAX_ROLES_JSON`]; [`Error::LimitReached`] past
    /// [`MAX_ROLES`]; [`Error::NotFound`] (organization); [`Error::Conflict`]; [`Error::Store`].
    pub async fn define_role(&self, name: &str, actions: &[&str]) -> Result<RoleDefinition, Error> {
        let role = RoleDefinition {
            name: Label::parse(name).map_err(|p| Error::field("name", p))?,
            actions: parse_labels(actions.iter().copied(), true)
                .map_err(|p| Error::field("actions", p))?,
        };
        let now = self.identity.now();
        self.change_schema(|schema| {
            let full = schema.roles.len() >= MAX_ROLES;
            match schema.roles.iter_mut().find(|r| r.name == role.name) {
                Some(existing) => existing.actions.clone_from(&role.actions),
                None if full => {
                    return Err(Error::LimitReached {
                        what: "roles",
                        limit: MAX_ROLES,
                    });
                }
                None => {
                    schema.roles.push(role.clone());
                    schema.roles.sort_by(|a, b| a.name.cmp(&b.name));
                }
            }
            check_roles_budget(schema)?;
            let event = NewEvent::new(EventCode::ROLE_DEFINED, now)
                .tenant(self.org)
                .detail("role", role.name.as_str())
                .detail("actions", role.actions.len().to_string());
            Ok((role.clone(), event))
        })
        .await
    }

    /// Removes a role definition: users keep the role name, and lose the actions it granted
    /// from their next token on.
    ///
    /// # Errors
    /// [`Error::NotFound`] (role or organization); [`Error::Conflict`]; [`Error::Store`].
    pub async fn remove_role(&self, name: &str) -> Result<RoleDefinition, Error> {
        let now = self.identity.now();
        self.change_schema(|schema| {
            let at = schema
                .roles
                .iter()
                .position(|r| r.name.as_str() == name.trim())
                .ok_or(Error::NotFound(Resource::Role))?;
            let role = schema.roles.remove(at);
            let event = NewEvent::new(EventCode::ROLE_REMOVED, now)
                .tenant(self.org)
                .detail("role", role.name.as_str());
            Ok((role, event))
        })
        .await
    }

    /// The organization's role definitions, by name.
    ///
    /// # Errors
    /// [`Error::NotFound`] (organization); [`Error::Store`].
    pub async fn roles(&self) -> Result<Vec<RoleDefinition>, Error> {
        Ok(self.schema().await?.roles)
    }
}

fn check_roles_budget(schema: &ClaimSchema) -> Result<(), Error> {
    if schema.roles_json_len() > MAX_ROLES_JSON {
        return Err(Error::ClaimsTooLarge {
            budget: "roles",
            limit: MAX_ROLES_JSON,
        });
    }
    Ok(())
}
