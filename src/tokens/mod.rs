//! Tokens: signing keys, compact JWS and the ring-backed jsonwebtoken provider.
//!
//! - [`keys`]: key pairs (ES256, EdDSA generated; RS256, PS256 imported), `kid` thumbprints,
//!   JWKS, encryption at rest, OpenID Connect half hashes.
//! - [`jws`]: strict compact JWS encode, decode and verify.
//! - [`provider`]: a ring-backed jsonwebtoken `CryptoProvider` for hosts that want one.
pub mod jws;
pub mod keys;
pub mod provider;
