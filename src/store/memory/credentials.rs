//! [`MemoryStore`](super::MemoryStore)'s credentials.
//!
//! Lock order: users, then credentials, then the audit log (through `append_event`) — the
//! account operations hold the first two together so a user and its credentials appear and
//! disappear at once.

use std::collections::HashMap;

use super::{MemoryStore, lock, newest};
use crate::model::event::NewEvent;
use crate::model::ids::{Environment, OrgDomain, UserId};
use crate::model::user::User;
use crate::store::StoreError;
use crate::store::credentials::{CredentialRecord, CredentialStore};

#[derive(Default)]
pub(super) struct Credentials {
    by_user: HashMap<(OrgDomain, UserId), CredentialRecord>,
    by_username: HashMap<(OrgDomain, String), UserId>,
}

impl Credentials {
    fn username_taken(&self, org: &OrgDomain, username: Option<&str>, owner: UserId) -> bool {
        username.is_some_and(|name| {
            self.by_username
                .get(&(org.clone(), name.to_owned()))
                .is_some_and(|id| *id != owner)
        })
    }

    fn index(&mut self, record: &CredentialRecord) {
        if let Some(name) = &record.username {
            self.by_username
                .insert((record.org.clone(), name.clone()), record.user_id);
        }
        self.by_user
            .insert((record.org.clone(), record.user_id), record.clone());
    }
}

impl CredentialStore for MemoryStore {
    async fn insert_account(
        &self,
        env: Environment,
        user: &User,
        credentials: &CredentialRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let e = self.env(env);
        let mut users = lock(&e.users);
        let mut creds = lock(&e.credentials);
        if users.ids.contains(&user.id) {
            return Err(StoreError::AlreadyExists { key: "id" });
        }
        let email_key = (user.org.clone(), user.profile.email.key());
        if users.by_email.contains_key(&email_key) {
            return Err(StoreError::AlreadyExists { key: "email" });
        }
        if creds.username_taken(&user.org, credentials.username.as_deref(), user.id) {
            return Err(StoreError::AlreadyExists { key: "username" });
        }
        users.ids.insert(user.id);
        users.by_email.insert(email_key, user.id);
        users
            .order
            .entry(user.org.clone())
            .or_default()
            .insert((newest(user.inserted_at, user.id.as_uuid()), user.id));
        users
            .by_id
            .insert((user.org.clone(), user.id), user.clone());
        creds.index(credentials);
        self.append_event(env, event);
        Ok(())
    }

    async fn insert_credentials(
        &self,
        env: Environment,
        credentials: &CredentialRecord,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let e = self.env(env);
        let users = lock(&e.users);
        let mut creds = lock(&e.credentials);
        let key = (credentials.org.clone(), credentials.user_id);
        if !users.by_id.contains_key(&key) {
            return Err(StoreError::NotFound);
        }
        if creds.by_user.contains_key(&key) {
            return Err(StoreError::AlreadyExists { key: "user" });
        }
        if creds.username_taken(
            &credentials.org,
            credentials.username.as_deref(),
            credentials.user_id,
        ) {
            return Err(StoreError::AlreadyExists { key: "username" });
        }
        creds.index(credentials);
        self.append_event(env, event);
        Ok(())
    }

    async fn credentials(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        Ok(lock(&self.env(env).credentials)
            .by_user
            .get(&(org.clone(), user_id))
            .cloned())
    }

    async fn credentials_by_username(
        &self,
        env: Environment,
        org: &OrgDomain,
        username: &str,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        let creds = lock(&self.env(env).credentials);
        Ok(creds
            .by_username
            .get(&(org.clone(), username.to_owned()))
            .and_then(|id| creds.by_user.get(&(org.clone(), *id)))
            .cloned())
    }

    async fn update_credentials(
        &self,
        env: Environment,
        credentials: &CredentialRecord,
        expected_version: u64,
        event: Option<&NewEvent>,
    ) -> Result<(), StoreError> {
        let mut guard = lock(&self.env(env).credentials);
        let creds = &mut *guard;
        let key = (credentials.org.clone(), credentials.user_id);
        let stored = creds.by_user.get(&key).ok_or(StoreError::NotFound)?;
        if stored.version != expected_version {
            return Err(StoreError::Precondition);
        }
        if stored.username != credentials.username {
            if creds.username_taken(
                &credentials.org,
                credentials.username.as_deref(),
                credentials.user_id,
            ) {
                return Err(StoreError::AlreadyExists { key: "username" });
            }
            if let Some(old) = &stored.username {
                creds
                    .by_username
                    .remove(&(credentials.org.clone(), old.clone()));
            }
        }
        creds.index(credentials);
        if let Some(event) = event {
            self.append_event(env, event);
        }
        Ok(())
    }

    async fn delete_account(
        &self,
        env: Environment,
        org: &OrgDomain,
        user_id: UserId,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let e = self.env(env);
        let mut guard = lock(&e.users);
        let users = &mut *guard;
        let mut creds = lock(&e.credentials);
        let key = (org.clone(), user_id);
        let user = users.by_id.remove(&key).ok_or(StoreError::NotFound)?;
        users
            .by_email
            .remove(&(org.clone(), user.profile.email.key()));
        if let Some(order) = users.order.get_mut(org) {
            order.remove(&(newest(user.inserted_at, user_id.as_uuid()), user_id));
        }
        // The id stays in `users.ids`: an erased user's id is never given to anyone else.
        if let Some(record) = creds.by_user.remove(&key)
            && let Some(name) = record.username
        {
            creds.by_username.remove(&(org.clone(), name));
        }
        self.append_event(env, event);
        Ok(())
    }
}
