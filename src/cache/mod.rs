//! In-process read models in front of the store, shared by every service of one
//! [`Identity`](crate::Identity): the per-organization signing keys, parsed once
//! ([`keyring`]), and the revocation view live verification consults ([`revocation`]).
//!
//! Each is a cache over one store contract: it reads through the store, never writes its own
//! truth, and fails closed when the store cannot answer. Concurrent misses share one store read
//! ([`Gate`](crate::gate)).

pub(crate) mod keyring;
pub(crate) mod revocation;
