//! Pure cryptography, on ring and no store: signing keys and the key encryption key
//! ([`keys`]), the strict JWS layer ([`jws`]), jsonwebtoken's `CryptoProvider` on ring
//! ([`provider`]), PKCE ([`pkce`]), password hashing ([`password`]), TOTP ([`totp`]) and the
//! sealing of sign-in secrets (`secrets`, crate-private), and the canonical form and HMAC of
//! signed requests ([`signature`]).
//!
//! Every function here is a function of its inputs (and the OS CSPRNG): no clock, no I/O, no
//! service. The services re-export these modules where their users look for them:
//! `idcore::tokens::{jws, keys, pkce, provider}` and `idcore::signin::{password, totp}`.

pub(crate) mod api_keys;
pub mod jws;
pub mod keys;
pub mod password;
pub mod pkce;
pub mod provider;
pub(crate) mod secrets;
pub mod signature;
pub mod totp;
