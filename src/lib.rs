//! # idcore
//!
//! The identity and session core a Rust service links and wires into its own HTTP server:
//! organizations, users and applications, sign-in, tokens and sessions — in-process, on the
//! host's own storage.
//!
//! idcore does not listen on sockets, render pages or send e-mail itself: the host parses
//! requests, calls idcore, and writes responses; a [`Mailer`](mail::Mailer) the host supplies
//! delivers mail; a [`Store`](store::Store) the host chooses keeps the data.
//!
//! ```text
//! host server (axum, actix, hyper …)
//!         │ typed calls
//!         ▼
//! Identity ── directory (organizations · users · applications · environments)
//!          ── signin (sign-up · passwords · e-mail codes · TOTP · lockout) ── risk
//!          ── tokens (codes · tokens · verification · revocation)
//!          ── signing (API keys · signed requests)
//!          ── audit (log events)
//!         │ async store traits (one per aggregate) · Mailer · Clock
//!         ▼
//! store::memory (embedded) · your adapter (checked by store::conformance)
//! ```
//!
//! Start at [`Identity::builder`]. `cargo run --example quickstart` shows the main flow.
//!
//! ## Map
//! The modules are layered; each imports only from its own layer and those below
//! (`ARCHITECTURE.md` in the repository, checked by `tests/layout.rs`).
//! - protocol — [`protocol`]: OAuth/OIDC endpoints and seed wires as plain functions.
//! - services — [`directory`]: organizations (immutable slug domain), users per organization with
//!   their OpenID Connect profile, applications (OAuth clients); [`signin`]: sign-up with e-mail
//!   verification, passwords, TOTP and recovery codes, lockout, sign-in ending in an
//!   authorization code, unregistering; [`tokens`]: codes, tokens, verification, revocation;
//!   [`signing`]: API keys per organization and HMAC-signed requests;
//!   [`audit`]: the audit log's queries.
//! - runtime — [`Identity`] and its builder, [`config`], [`risk`] (the risk engine trait, its
//!   decisions with the seed's codes, the default rules).
//! - stores — [`MemoryStore`], the SQLite and PostgreSQL adapters, and (feature `conformance`)
//!   the suite any adapter runs, all under [`store`]; in-process caches of keys and revocations.
//! - store contract — [`store`]: one async trait per aggregate, each with its *Contract*;
//!   [`mail`]: the [`Mailer`](mail::Mailer) port.
//! - model — [`model`]: records and values valid by construction, events, [`page`]s.
//! - primitives — [`Error`] (stable codes and HTTP statuses), [`crypto`] (ring: keys, JWS,
//!   PKCE, password hashing, TOTP), [`secret`], [`clock`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
mod cache;
pub mod claims;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod directory;
mod encoding;
mod error;
mod gate;
mod identity;
mod join;
pub mod mail;
pub mod model;
pub mod protocol;
pub mod risk;
pub mod secret;
pub mod sessions;
pub mod signin;
pub mod signing;
pub mod sso;
pub mod store;
pub mod tokens;

pub use model::page;

pub use config::{Lifetimes, TokenSettings};
pub use directory::{
    ApplicationScope, ApplicationType, ApplicationUpdate, Environment, NewApplication,
    NewOrganization, NewUser, OrgDomain, OrganizationUpdate, ProfileChanges,
};
pub use error::{ConfigError, Error, FieldProblem, Resource, TokenProblem};
pub use identity::{Identity, IdentityBuilder, NoStore};
pub use page::{List, PageRequest};
pub use signin::SigninSettings;
pub use store::MemoryStore;
