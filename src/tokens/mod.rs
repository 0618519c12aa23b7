//! Tokens: signing keys and JWKS, issuance, authorization code exchange, refresh rotation with
//! reuse detection, verification (stateless and live), user info, revocation and global sign-out.
//!
//! The layers stay apart: [`keys`] and [`jws`] are pure cryptography (ring), [`claims`] and
//! [`pkce`] pure data and rules, [`Tokens`] the service that adds the store, the clock and the
//! audit log.
//!
//! ```text
//! mint_code ──► code ──► exchange_code ──► { access (at+jwt), id (JWT), refresh (opaque) }
//!                                   refresh ──┘ rotates the refresh token, reuse revokes the grant
//! verify (stateless) · verify_live (+ revocation view) · userinfo · revoke · global_sign_out
//! ```
//!
//! # jsonwebtoken and its process-wide provider
//! idcore depends on jsonwebtoken with its backend features off and never calls its global
//! `encode`/`decode`, never reads or installs its process-wide `CryptoProvider`: signing and
//! verification go through idcore's own ring-backed keys, parsed once. A host that uses
//! jsonwebtoken itself, with any backend or none, is unaffected, and may install
//! [`provider::RING_PROVIDER`] if it wants jsonwebtoken to use ring.
//!
//! ## Where idcore is stricter than jsonwebtoken
//! `tests/jws_differential.rs` verifies a corpus of access tokens (every algorithm, systematic
//! mutations of header, encoding, claims and signature) with idcore ([`jws`] and
//! [`Tokens::verify`]) and with jsonwebtoken 11's `decode`, given the same key and a
//! `Validation` set as idcore is (the key's one `alg`, `iss`, `aud`, `exp`, `nbf`, 30 s
//! leeway). They agree on every token — padding, the standard alphabet, non-canonical
//! trailing bits, trailing data, `alg` `none` or HMAC, a swapped `alg`, a duplicated `alg`,
//! `kid` or `typ`, expiry, `nbf`, wrong `aud` or `iss`, every changed signature byte — except
//! these, where idcore rejects on purpose what jsonwebtoken accepts (idcore never accepts what
//! jsonwebtoken rejects):
//!
//! | Case | idcore | jsonwebtoken | Why |
//! |---|---|---|---|
//! | duplicate header member | [`jws::JwsError::DuplicateMember`] | accepted, last wins (members outside its `Header` struct) | two parsers must never read two headers |
//! | `crit` header | [`jws::JwsError::CriticalHeader`] | accepted, `crit` ignored | RFC 7515 §4.1.11: reject extensions not understood; idcore understands none |
//! | `jwk`, `jku`, `x5c`, `x5u` header | [`jws::JwsError::EmbeddedKey`] | accepted, ignored | a token never names its own key |
//! | `typ` missing or not `at+jwt` | [`TokenProblem::Type`](crate::TokenProblem::Type) | not checked | RFC 9068 explicit typing: no other JWT passes as an access token |
//! | no `kid` | [`TokenProblem::Header`](crate::TokenProblem::Header) | accepted (the caller passes the key) | the key is chosen by exact `kid` among the organization's keys |
//! | unknown `kid` | [`TokenProblem::UnknownKey`](crate::TokenProblem::UnknownKey) | accepted (the caller passes the key) | likewise: a `kid` names a key or nothing |
//! | `iat` in the future | [`TokenProblem::NotYetValid`](crate::TokenProblem::NotYetValid) | not checked | a token issued later than now (beyond the leeway) is not valid yet |
//! | `aud` as an array | [`TokenProblem::Claims`](crate::TokenProblem::Claims) | accepted if it holds the audience | idcore's access tokens have one audience, a string |
//! | fractional `exp`, `nbf`, `iat` | [`TokenProblem::Claims`](crate::TokenProblem::Claims) | accepted, rounded | NumericDates idcore writes are integers; types are strict |

pub mod claims;
mod grants;
mod revoke;
mod sample;
mod service;
mod verify;

pub use crate::crypto::{jws, keys, pkce, provider};

pub use service::{ClientAuth, CodeRequest, TokenSet, Tokens, UserInfo, Verified, sign_pair};

use crate::identity::Identity;
use crate::model::fields::RedirectUri;
use crate::store::Store;

impl<S: Store> Identity<S> {
    /// The token service: codes, tokens, verification, revocation, keys.
    pub fn tokens(&self) -> Tokens<'_, S> {
        Tokens::new(self)
    }
}

/// Whether `presented` may be redirected to: byte-for-byte equal to one registered URI, except
/// that a registered loopback IP redirect (`http://127.0.0.1:…`, `http://[::1]:…`) accepts any
/// port (RFC 8252 §7.3). Nothing else varies: not case, trailing slash, query, fragment,
/// percent-encoding or user information.
pub fn redirect_allowed(registered: &[RedirectUri], presented: &str) -> bool {
    registered.iter().any(|r| {
        r.as_str() == presented
            || loopback_without_port(r.as_str())
                .is_some_and(|base| loopback_without_port(presented) == Some(base))
    })
}

/// `http://127.0.0.1/path` for `http://127.0.0.1:8080/path` (IPv4 and IPv6 loopback only).
fn loopback_without_port(uri: &str) -> Option<String> {
    for host in ["http://127.0.0.1", "http://[::1]"] {
        if let Some(rest) = uri.strip_prefix(host) {
            let rest = match rest.strip_prefix(':') {
                Some(after) => {
                    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
                    // A port is 1 to 5 digits that fit in 16 bits (`:71234` is no port).
                    if digits == 0 || digits > 5 || after[..digits].parse::<u16>().is_err() {
                        return None;
                    }
                    &after[digits..]
                }
                None => rest,
            };
            if rest.is_empty() || rest.starts_with('/') {
                return Some(format!("{host}{rest}"));
            }
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(list: &[&str]) -> Vec<RedirectUri> {
        list.iter()
            .map(|u| RedirectUri::parse(u).unwrap())
            .collect()
    }

    #[test]
    fn redirect_matching_is_exact() {
        let reg = uris(&["https://app.example.com/callback"]);
        assert!(redirect_allowed(&reg, "https://app.example.com/callback"));
        for other in [
            "https://app.example.com/callback/",
            "https://APP.example.com/callback",
            "https://app.example.com/Callback",
            "https://app.example.com/callback?x=1",
            "https://app.example.com/callback#f",
            "https://app.example.com/%63allback",
            "https://app.example.com:443/callback",
            "https://evil@app.example.com/callback",
            "https://app.example.com.evil.com/callback",
            "http://app.example.com/callback",
        ] {
            assert!(!redirect_allowed(&reg, other), "{other} must be refused");
        }
    }

    #[test]
    fn only_loopback_redirects_may_vary_their_port() {
        let reg = uris(&[
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
        ]);
        assert!(redirect_allowed(&reg, "http://127.0.0.1:51234/cb"));
        assert!(redirect_allowed(&reg, "http://127.0.0.1/cb"));
        assert!(redirect_allowed(&reg, "http://[::1]:9000/cb"));
        assert!(!redirect_allowed(&reg, "http://127.0.0.1:51234/other"));
        assert!(!redirect_allowed(&reg, "http://localhost:3001/cb"));
        assert!(!redirect_allowed(&reg, "http://127.0.0.1:80x/cb"));
    }

    #[test]
    fn a_loopback_port_must_fit_in_sixteen_bits() {
        // Found by the redirect fuzz target: `:71234` was taken for a port.
        let reg = uris(&["http://127.0.0.1:8080/cb", "http://[::1]:8080/cb"]);
        assert!(redirect_allowed(&reg, "http://127.0.0.1:65535/cb"));
        assert!(redirect_allowed(&reg, "http://[::1]:1/cb"));
        for other in [
            "http://127.0.0.1:65536/cb",
            "http://127.0.0.1:71234/cb",
            "http://127.0.0.1:99999/cb",
            "http://[::1]:65536/cb",
            "http://127.0.0.1:/cb",
        ] {
            assert!(!redirect_allowed(&reg, other), "{other} must be refused");
        }
    }
}
