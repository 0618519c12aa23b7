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
//!          ── audit (log events)
//!         │ async store traits (one per aggregate) · Mailer · Clock
//!         ▼
//! store::memory (embedded) · your adapter (checked by store::conformance)
//! ```
//!
//! Start at [`Identity::builder`]. `cargo run --example quickstart` shows the main flow.
//!
//! ## Map
//! - [`directory`]: organizations (immutable slug domain), users per organization with their
//!   OpenID Connect profile, applications (OAuth clients), sandbox/production environments.
//! - [`signin`]: sign-up with e-mail verification, passwords (argon2id), TOTP and recovery
//!   codes, lockout, sign-in ending in an authorization code, unregistering.
//! - [`risk`]: the risk engine trait, its decisions (the seed's codes) and default rules.
//! - [`tokens`], [`protocol`]: authorization codes, tokens, verification, OAuth endpoints.
//! - [`audit`]: log events recorded by every mutation, queried with filters and pages.
//! - [`store`]: the storage contract, [`MemoryStore`], and (feature `conformance`) the suite any
//!   adapter runs.
//! - [`mail`], [`clock`], [`secret`], [`page`], [`config`]: the small pieces around them.
//! - [`Error`]: the one error type, with stable codes and HTTP statuses.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
mod cache;
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
pub mod signin;
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
