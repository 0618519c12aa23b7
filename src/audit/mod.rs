//! Audit log events (seed 001 "Log Events"): recorded by every mutation, queried newest first.
//!
//! The event types live in the model layer ([`crate::model::event`]) and are re-exported here;
//! this module is the query service on top of the store.

pub use crate::model::event::{Event, EventCode, EventQuery, NewEvent};

use crate::page::{List, PageRequest};
use crate::store::Store;
use crate::{Error, Identity};

/// The audit log of one [`Identity`]'s environment.
pub struct Events<'a, S> {
    identity: &'a Identity<S>,
}

impl<'a, S: Store> Events<'a, S> {
    pub(crate) fn new(identity: &'a Identity<S>) -> Self {
        Self { identity }
    }

    /// Records an event of the host's own (idcore records its events itself).
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    pub async fn record(&self, event: NewEvent) -> Result<Event, Error> {
        Ok(self
            .identity
            .store()
            .record_event(self.identity.environment(), &event)
            .await?)
    }

    /// One page of events matching `query`, newest first.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    /// [`Error::InvalidField`] naming `cursor` when the request carries a cursor of another
    /// list.
    pub async fn list(&self, query: &EventQuery, page: PageRequest) -> Result<List<Event>, Error> {
        page.check_cursor(crate::page::ListKind::Events)?;
        let (data, total) = self
            .identity
            .store()
            .events(self.identity.environment(), query, page)
            .await?;
        Ok(List::new(data, page, total))
    }
}

impl<S: Store> Identity<S> {
    /// The audit log.
    pub fn events(&self) -> Events<'_, S> {
        Events::new(self)
    }
}
