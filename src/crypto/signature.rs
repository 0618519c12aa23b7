//! Signed requests (seed 003's "default" and "simple" signatures): the canonical bytes a
//! request is signed over, HMAC-SHA256 on ring, and the wire parameters that carry a signature.
//!
//! Pure functions: no clock, no store, no key lookup. The service that checks a signed request
//! against its API key, its timestamp and replays is [`crate::signing`].
//!
//! # Wire parameters
//! | parameter | value |
//! |---|---|
//! | `apsws.authKey` | the key id (`ak_…`) |
//! | `apsws.time` | the timestamp: Unix seconds, decimal, no sign, no leading zero |
//! | `apsws.authSig` | the signature: the 32-byte HMAC-SHA256 tag, base64url without padding (43 characters) |
//! | `apsws.authMode` | the scheme: `idcore-hmac-sha256-v1` (the default when absent) or `idcore-simple-v1` |
//!
//! Each may appear once. The HMAC key is the API key's secret exactly as it was shown (its
//! ASCII text).
//!
//! # Canonical form
//! Every field is written as a *netstring*: its length in bytes in decimal, `:`, the bytes,
//! `\n` (`ns("GET")` is `3:GET\n`). A sequence of netstrings decodes in exactly one way, so two
//! requests that differ in any field — a byte moved from a name to a value, a parameter added,
//! split or reordered within one name — never share a canonical form.
//!
//! **Default signature** ([`DEFAULT_SCHEME`], over all of the request's content):
//!
//! ```text
//! ns("idcore-hmac-sha256-v1")
//! ns(METHOD)                        the HTTP method, ASCII uppercase
//! ns(path)                          the path exactly as received (still percent-encoded), no query
//! ns(n)                             how many parameters follow, decimal
//! ns(name₁) ns(value₁) … ns(nameₙ) ns(valueₙ)
//!                                   every query and form parameter, decoded, sorted by name
//!                                   (byte order); repeated names keep their request order;
//!                                   apsws.authKey, apsws.time, apsws.authSig, apsws.authMode
//!                                   excluded (other apsws.* parameters are signed)
//! ns(hex(SHA-256(body)))            the raw body's digest, lowercase hex (of "" for no body)
//! ns(timestamp)                     as sent
//! ns(key id)                        as sent
//! ```
//!
//! **Simple signature** ([`SIMPLE_SCHEME`], over a few parameters; for testing and for clients
//! that cannot hash the whole request — it does not protect the other parameters):
//!
//! ```text
//! ns("idcore-simple-v1") ns(timestamp) ns(key id) ns(action) ns("0")
//! ns("idcore-simple-v1") ns(timestamp) ns(key id) ns(action) ns("1") ns(user)   with apsws.user
//! ```
//!
//! where the action is the operation the host executes (`DeleteToken`), not a parameter.
//!
//! # Worked example
//! Key `ak_0190f5a0c3e87b3a9d41e2b7c6a5f4e1`, secret
//! `pD1mM3ovkKqRzY8T4uUe0Hl0vJ4aQx6cWn2bS9fGk7E`, timestamp `1767225600`
//! (2026-01-01T00:00:00Z), `POST /apsdb/rest/DeleteToken` with the form body
//! `userList=john&userList=hybiscus%40flowers.com` (its parameters `userList=john`,
//! `userList=hybiscus@flowers.com`). The default canonical form is
//!
//! ```text
//! 21:idcore-hmac-sha256-v1
//! 4:POST
//! 23:/apsdb/rest/DeleteToken
//! 1:2
//! 8:userList
//! 4:john
//! 8:userList
//! 20:hybiscus@flowers.com
//! 64:9828e0cb78a8c2916467cb2fc34cc76718613f0c9bbfcdd11395e3aa88dd514a
//! 10:1767225600
//! 35:ak_0190f5a0c3e87b3a9d41e2b7c6a5f4e1
//! ```
//!
//! (each line ends with `\n`, the last one included) and its signature, `apsws.authSig`, is
//! `feQWELS-vJvWKKsfDV_5PmxJoc8U_luw3g8pug-QLY8` (hex
//! `7de41610b4bebc9bd628ab1f0d5ff93e6c49a1cf14fe5bb0de0f29ba0f902d8f`). The simple signature of `DeleteToken` for the user `john` at
//! the same time with the same key signs
//!
//! ```text
//! 16:idcore-simple-v1
//! 10:1767225600
//! 35:ak_0190f5a0c3e87b3a9d41e2b7c6a5f4e1
//! 11:DeleteToken
//! 1:1
//! 4:john
//! ```
//!
//! and is `FsdTIghCwNK8oOndP677HD3pVcor6KvI6eVVGgCRueQ` (hex
//! `16c753220842c0d2bca0e9dd3faefb1c3de955ca2be8abc8e9e5551a0091b9e4`). Both are checked by this module's tests against an HMAC
//! computed directly with ring over bytes written out by hand.

use std::fmt;

use ring::hmac;

#[cfg(test)]
use crate::encoding::hex;
use crate::encoding::{base64url_decode, base64url_encode, hex_into};

/// The default scheme: HMAC-SHA256 over the whole request. Versioned: another algorithm gets
/// another name.
pub const DEFAULT_SCHEME: &str = "idcore-hmac-sha256-v1";
/// The simple scheme: HMAC-SHA256 over the timestamp, key, action and user only.
pub const SIMPLE_SCHEME: &str = "idcore-simple-v1";
/// The parameter naming the key.
pub const KEY_PARAM: &str = "apsws.authKey";
/// The parameter carrying the timestamp.
pub const TIME_PARAM: &str = "apsws.time";
/// The parameter carrying the signature.
pub const SIGNATURE_PARAM: &str = "apsws.authSig";
/// The parameter naming the scheme.
pub const SCHEME_PARAM: &str = "apsws.authMode";
/// The parameter naming the user (signed by the simple scheme).
pub const USER_PARAM: &str = "apsws.user";

/// The signature's own parameters, never part of what the default scheme signs.
const OWN_PARAMS: [&str; 4] = [KEY_PARAM, TIME_PARAM, SIGNATURE_PARAM, SCHEME_PARAM];

/// How a request is signed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Scheme {
    /// [`DEFAULT_SCHEME`]: everything in the request.
    Default,
    /// [`SIMPLE_SCHEME`]: timestamp, key, action and user.
    Simple,
}

impl Scheme {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => DEFAULT_SCHEME,
            Self::Simple => SIMPLE_SCHEME,
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            DEFAULT_SCHEME => Some(Self::Default),
            SIMPLE_SCHEME => Some(Self::Simple),
            _ => None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request as the host received it: what a signature covers.
#[derive(Clone, Copy, Debug)]
pub struct SignedRequest<'a> {
    /// The HTTP method (compared as ASCII uppercase).
    pub method: &'a str,
    /// The path exactly as received, without the query string.
    pub path: &'a str,
    /// Every query and form parameter, decoded, in request order (signature parameters
    /// included: they are picked out and excluded here).
    pub params: &'a [(String, String)],
    /// The raw body (empty when there is none).
    pub body: &'a [u8],
    /// The operation the host executes (`DeleteToken`): what a simple signature signs.
    pub action: Option<&'a str>,
}

impl<'a> SignedRequest<'a> {
    /// A request without a body or an action.
    pub fn new(method: &'a str, path: &'a str, params: &'a [(String, String)]) -> Self {
        Self {
            method,
            path,
            params,
            body: &[],
            action: None,
        }
    }

    /// Sets the raw body.
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// Sets the action (required for simple signatures).
    pub fn action(mut self, action: &'a str) -> Self {
        self.action = Some(action);
        self
    }

    /// The value of `apsws.user`, if the request has exactly one.
    pub fn user(&self) -> Option<&'a str> {
        let mut users = self.params.iter().filter(|(n, _)| n == USER_PARAM);
        match (users.next(), users.next()) {
            (Some((_, u)), None) => Some(u.as_str()),
            _ => None,
        }
    }

    /// The bytes `scheme` signs for this request with this timestamp and key id; `None` for a
    /// simple signature of a request without an action.
    pub fn canonical(&self, scheme: Scheme, timestamp: &str, key_id: &str) -> Option<Vec<u8>> {
        match scheme {
            Scheme::Default => Some(canonical_default(self, timestamp, key_id)),
            Scheme::Simple => self
                .action
                .map(|action| canonical_simple(timestamp, key_id, action, self.user())),
        }
    }

    /// Signs this request (the client's side): the `apsws.authSig` value, or `None` for a simple
    /// signature of a request without an action.
    pub fn sign(
        &self,
        scheme: Scheme,
        timestamp: &str,
        key_id: &str,
        secret: &[u8],
    ) -> Option<String> {
        let canonical = self.canonical(scheme, timestamp, key_id)?;
        Some(sign(secret, &canonical))
    }
}

/// The default scheme's canonical bytes (see the module docs).
pub fn canonical_default(request: &SignedRequest<'_>, timestamp: &str, key_id: &str) -> Vec<u8> {
    let mut signed: Vec<&(String, String)> = request
        .params
        .iter()
        .filter(|(name, _)| !OWN_PARAMS.contains(&name.as_str()))
        .collect();
    // A stable sort: repeated names keep their request order.
    signed.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let body = ring::digest::digest(&ring::digest::SHA256, request.body);
    // Each netstring adds at most 22 bytes (a 20-digit length, `:`, `\n`).
    let fields: usize = signed.iter().map(|(n, v)| n.len() + v.len() + 44).sum();
    let mut out = Vec::with_capacity(
        fields + request.method.len() + request.path.len() + key_id.len() + timestamp.len() + 200,
    );
    netstring(&mut out, DEFAULT_SCHEME.as_bytes());
    push_len(&mut out, request.method.len());
    out.extend(request.method.bytes().map(|b| b.to_ascii_uppercase()));
    out.push(b'\n');
    netstring(&mut out, request.path.as_bytes());
    let mut count = [0u8; 20];
    netstring(&mut out, decimal(signed.len(), &mut count));
    for (name, value) in signed {
        netstring(&mut out, name.as_bytes());
        netstring(&mut out, value.as_bytes());
    }
    out.extend_from_slice(b"64:");
    hex_into(body.as_ref(), &mut out);
    out.push(b'\n');
    netstring(&mut out, timestamp.as_bytes());
    netstring(&mut out, key_id.as_bytes());
    out
}

/// The simple scheme's canonical bytes (see the module docs).
pub fn canonical_simple(
    timestamp: &str,
    key_id: &str,
    action: &str,
    user: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + timestamp.len() + key_id.len() + action.len());
    netstring(&mut out, SIMPLE_SCHEME.as_bytes());
    netstring(&mut out, timestamp.as_bytes());
    netstring(&mut out, key_id.as_bytes());
    netstring(&mut out, action.as_bytes());
    match user {
        None => netstring(&mut out, b"0"),
        Some(user) => {
            netstring(&mut out, b"1");
            netstring(&mut out, user.as_bytes());
        }
    }
    out
}

/// The HMAC-SHA256 tag of `canonical` under `secret`, base64url without padding.
pub fn sign(secret: &[u8], canonical: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    base64url_encode(hmac::sign(&key, canonical).as_ref())
}

/// Whether `tag` is the HMAC-SHA256 of `canonical` under `secret`, compared in constant time
/// (`ring::hmac::verify`).
pub fn verify(secret: &[u8], canonical: &[u8], tag: &[u8; 32]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(&key, canonical, tag).is_ok()
}

fn netstring(out: &mut Vec<u8>, bytes: &[u8]) {
    push_len(out, bytes.len());
    out.extend_from_slice(bytes);
    out.push(b'\n');
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    let mut buf = [0u8; 20];
    out.extend_from_slice(decimal(len, &mut buf));
    out.push(b':');
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        // Invariant: `n % 10` is a single digit.
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[at..]
}

/// The signature parameters of a request, parsed strictly.
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureParams {
    /// `apsws.authKey`, as sent.
    pub key_id: String,
    /// `apsws.time`, as sent (validated: decimal Unix seconds, no leading zero).
    pub timestamp: String,
    /// `apsws.time` as a number.
    pub unix_seconds: i64,
    /// `apsws.authSig`, decoded.
    pub tag: [u8; 32],
    /// `apsws.authMode` ([`Scheme::Default`] when absent).
    pub scheme: Scheme,
}

impl fmt::Debug for SignatureParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureParams")
            .field("key_id", &self.key_id)
            .field("timestamp", &self.timestamp)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

/// Why a request's signature parameters could not be read (for the audit log; the caller only
/// sees [`Error::SignatureRejected`](crate::Error::SignatureRejected)).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ParamProblem {
    /// A required parameter is absent.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// A parameter appears more than once.
    #[error("{0} is repeated")]
    Repeated(&'static str),
    /// A parameter's value is malformed.
    #[error("{0} is malformed")]
    Malformed(&'static str),
}

impl SignatureParams {
    /// Picks the signature parameters out of a request's parameters.
    ///
    /// # Errors
    /// [`ParamProblem`] naming the first parameter missing, repeated or malformed.
    pub fn parse(params: &[(String, String)]) -> Result<Self, ParamProblem> {
        let key_id = single(params, KEY_PARAM)?.ok_or(ParamProblem::Missing(KEY_PARAM))?;
        let timestamp = single(params, TIME_PARAM)?.ok_or(ParamProblem::Missing(TIME_PARAM))?;
        let signature =
            single(params, SIGNATURE_PARAM)?.ok_or(ParamProblem::Missing(SIGNATURE_PARAM))?;
        let scheme = match single(params, SCHEME_PARAM)? {
            None => Scheme::Default,
            Some(s) => Scheme::parse(s).ok_or(ParamProblem::Malformed(SCHEME_PARAM))?,
        };
        let unix_seconds = unix_seconds(timestamp).ok_or(ParamProblem::Malformed(TIME_PARAM))?;
        if key_id.is_empty() || key_id.len() > 64 {
            return Err(ParamProblem::Malformed(KEY_PARAM));
        }
        let tag: [u8; 32] = (signature.len() == 43)
            .then(|| base64url_decode(signature).ok())
            .flatten()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(ParamProblem::Malformed(SIGNATURE_PARAM))?;
        Ok(Self {
            key_id: key_id.to_owned(),
            timestamp: timestamp.to_owned(),
            unix_seconds,
            tag,
            scheme,
        })
    }
}

/// The parameters a client appends to sign a request.
pub fn wire_params(
    scheme: Scheme,
    key_id: &str,
    timestamp: &str,
    signature: &str,
) -> [(String, String); 4] {
    [
        (KEY_PARAM.to_owned(), key_id.to_owned()),
        (TIME_PARAM.to_owned(), timestamp.to_owned()),
        (SCHEME_PARAM.to_owned(), scheme.as_str().to_owned()),
        (SIGNATURE_PARAM.to_owned(), signature.to_owned()),
    ]
}

/// The only value of `name`, if any.
fn single<'p>(
    params: &'p [(String, String)],
    name: &'static str,
) -> Result<Option<&'p str>, ParamProblem> {
    let mut values = params.iter().filter(|(n, _)| n == name);
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some((_, v)), None) => Ok(Some(v.as_str())),
        (Some(_), Some(_)) => Err(ParamProblem::Repeated(name)),
    }
}

/// Decimal Unix seconds: 1 to 12 ASCII digits, no leading zero (but `0` itself).
fn unix_seconds(s: &str) -> Option<i64> {
    let digits = !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "pD1mM3ovkKqRzY8T4uUe0Hl0vJ4aQx6cWn2bS9fGk7E";
    const KEY: &str = "ak_0190f5a0c3e87b3a9d41e2b7c6a5f4e1";
    const TIME: &str = "1767225600";
    const BODY: &[u8] = b"userList=john&userList=hybiscus%40flowers.com";

    fn params(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The bytes of the module docs' example, written out by hand, signed with ring directly.
    #[test]
    fn the_worked_example_of_the_docs_holds() {
        let form = params(&[
            ("userList", "john"),
            ("apsws.time", TIME),
            ("apsws.authKey", KEY),
            ("userList", "hybiscus@flowers.com"),
        ]);
        let request = SignedRequest::new("post", "/apsdb/rest/DeleteToken", &form).body(BODY);
        let body_hex = hex(ring::digest::digest(&ring::digest::SHA256, BODY).as_ref());
        let by_hand = format!(
            "21:idcore-hmac-sha256-v1\n4:POST\n23:/apsdb/rest/DeleteToken\n1:2\n\
             8:userList\n4:john\n8:userList\n20:hybiscus@flowers.com\n\
             64:{body_hex}\n10:1767225600\n35:ak_0190f5a0c3e87b3a9d41e2b7c6a5f4e1\n"
        );
        assert_eq!(
            String::from_utf8(canonical_default(&request, TIME, KEY)).unwrap(),
            by_hand
        );
        assert_eq!(body_hex, EXAMPLE_BODY_SHA256);
        let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
        let direct = base64url_encode(hmac::sign(&key, by_hand.as_bytes()).as_ref());
        assert_eq!(direct, EXAMPLE_DEFAULT_SIGNATURE);
        assert_eq!(
            request.sign(Scheme::Default, TIME, KEY, SECRET.as_bytes()),
            Some(direct)
        );

        let simple_by_hand = "16:idcore-simple-v1\n10:1767225600\n\
                              35:ak_0190f5a0c3e87b3a9d41e2b7c6a5f4e1\n11:DeleteToken\n1:1\n4:john\n";
        let with_user = params(&[("apsws.user", "john")]);
        let simple = SignedRequest::new("POST", "/x", &with_user).action("DeleteToken");
        assert_eq!(
            simple.canonical(Scheme::Simple, TIME, KEY),
            Some(simple_by_hand.as_bytes().to_vec())
        );
        let direct = base64url_encode(hmac::sign(&key, simple_by_hand.as_bytes()).as_ref());
        assert_eq!(direct, EXAMPLE_SIMPLE_SIGNATURE);
        assert_eq!(
            simple.sign(Scheme::Simple, TIME, KEY, SECRET.as_bytes()),
            Some(direct)
        );
    }

    const EXAMPLE_BODY_SHA256: &str =
        "9828e0cb78a8c2916467cb2fc34cc76718613f0c9bbfcdd11395e3aa88dd514a";
    const EXAMPLE_DEFAULT_SIGNATURE: &str = "feQWELS-vJvWKKsfDV_5PmxJoc8U_luw3g8pug-QLY8";
    const EXAMPLE_SIMPLE_SIGNATURE: &str = "FsdTIghCwNK8oOndP677HD3pVcor6KvI6eVVGgCRueQ";

    #[test]
    fn a_simple_signature_needs_an_action_and_tells_a_missing_user_from_an_empty_one() {
        let none = params(&[]);
        let empty = params(&[("apsws.user", "")]);
        let request = SignedRequest::new("GET", "/", &none);
        assert_eq!(request.canonical(Scheme::Simple, TIME, KEY), None);
        let a = request
            .action("DeleteToken")
            .canonical(Scheme::Simple, TIME, KEY);
        let b = SignedRequest::new("GET", "/", &empty)
            .action("DeleteToken")
            .canonical(Scheme::Simple, TIME, KEY);
        assert_ne!(a, b);
    }

    #[test]
    fn the_signature_parameters_are_excluded_and_others_signed() {
        let base = params(&[("a", "1")]);
        let with_own = params(&[
            ("a", "1"),
            ("apsws.authSig", "x"),
            ("apsws.authMode", "y"),
            ("apsws.time", "z"),
            ("apsws.authKey", "w"),
        ]);
        let with_user = params(&[("a", "1"), ("apsws.user", "john")]);
        let c = |p: &[(String, String)]| {
            canonical_default(&SignedRequest::new("GET", "/", p), TIME, KEY)
        };
        assert_eq!(c(&base), c(&with_own));
        assert_ne!(c(&base), c(&with_user));
    }

    #[test]
    fn parameters_parse_strictly() {
        let sig = "A".repeat(43);
        let ok = params(&[
            (KEY_PARAM, KEY),
            (TIME_PARAM, TIME),
            (SIGNATURE_PARAM, &sig),
        ]);
        let parsed = SignatureParams::parse(&ok).unwrap();
        assert_eq!(parsed.scheme, Scheme::Default);
        assert_eq!(parsed.unix_seconds, 1_767_225_600);
        assert_eq!(parsed.tag, [0; 32]);
        let with = |name: &str, value: &str| {
            let mut p: Vec<(String, String)> =
                ok.iter().filter(|(n, _)| n != name).cloned().collect();
            p.push((name.to_owned(), value.to_owned()));
            SignatureParams::parse(&p)
        };
        for (name, value, problem) in [
            (
                TIME_PARAM,
                "01767225600",
                ParamProblem::Malformed(TIME_PARAM),
            ),
            (TIME_PARAM, "-1", ParamProblem::Malformed(TIME_PARAM)),
            (TIME_PARAM, "1.5", ParamProblem::Malformed(TIME_PARAM)),
            (TIME_PARAM, "", ParamProblem::Malformed(TIME_PARAM)),
            (
                TIME_PARAM,
                "1234567890123",
                ParamProblem::Malformed(TIME_PARAM),
            ),
            (
                SIGNATURE_PARAM,
                &"A".repeat(42),
                ParamProblem::Malformed(SIGNATURE_PARAM),
            ),
            (
                SIGNATURE_PARAM,
                &format!("{}=", "A".repeat(42)),
                ParamProblem::Malformed(SIGNATURE_PARAM),
            ),
            (SCHEME_PARAM, "hmac", ParamProblem::Malformed(SCHEME_PARAM)),
            (KEY_PARAM, "", ParamProblem::Malformed(KEY_PARAM)),
        ] {
            assert_eq!(with(name, value), Err(problem), "{name}={value}");
        }
        assert_eq!(
            with(SCHEME_PARAM, SIMPLE_SCHEME).map(|p| p.scheme),
            Ok(Scheme::Simple)
        );
        let mut twice = ok.clone();
        twice.push((TIME_PARAM.to_owned(), TIME.to_owned()));
        assert_eq!(
            SignatureParams::parse(&twice),
            Err(ParamProblem::Repeated(TIME_PARAM))
        );
        assert_eq!(
            SignatureParams::parse(&ok[1..]),
            Err(ParamProblem::Missing(KEY_PARAM))
        );
        assert_eq!(
            format!("{parsed:?}"),
            format!(
                "SignatureParams {{ key_id: {KEY:?}, timestamp: {TIME:?}, scheme: Default, .. }}"
            )
        );
    }

    #[test]
    fn verify_accepts_exactly_the_tag() {
        let canonical = b"abc";
        let tag: [u8; 32] = base64url_decode(&sign(b"k", canonical))
            .unwrap()
            .try_into()
            .unwrap();
        assert!(verify(b"k", canonical, &tag));
        assert!(!verify(b"j", canonical, &tag));
        assert!(!verify(b"k", b"abd", &tag));
        let mut bad = tag;
        bad[31] ^= 1;
        assert!(!verify(b"k", canonical, &bad));
    }

    mod distinct {
        use super::*;
        use proptest::prelude::*;

        /// Method, path, parameters, body, timestamp, key id.
        type Request = (
            String,
            String,
            Vec<(String, String)>,
            Vec<u8>,
            String,
            String,
        );

        /// What the default canonical form is a function of, normalized: the method uppercase,
        /// the signed parameters in canonical order, the body's digest.
        fn normalized(
            method: &str,
            path: &str,
            params: &[(String, String)],
            body: &[u8],
            time: &str,
            key: &str,
        ) -> Request {
            let mut signed: Vec<(String, String)> = params
                .iter()
                .filter(|(n, _)| !OWN_PARAMS.contains(&n.as_str()))
                .cloned()
                .collect();
            signed.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            let digest = ring::digest::digest(&ring::digest::SHA256, body)
                .as_ref()
                .to_vec();
            (
                method.to_ascii_uppercase(),
                path.to_owned(),
                signed,
                digest,
                time.to_owned(),
                key.to_owned(),
            )
        }

        fn text() -> impl Strategy<Value = String> {
            // Small alphabets make collisions of the raw fields likely, so boundaries are tested.
            proptest::string::string_regex("[a:\\n1=0&]{0,4}").unwrap()
        }

        fn request() -> impl Strategy<Value = Request> {
            (
                proptest::string::string_regex("[A-Ca-c]{0,3}").unwrap(),
                text(),
                proptest::collection::vec((text(), text()), 0..4),
                proptest::collection::vec(0u8..3, 0..3),
                text(),
                text(),
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn distinct_requests_have_distinct_canonical_forms(a in request(), b in request()) {
                let canon = |r: &Request| {
                    let req = SignedRequest::new(&r.0, &r.1, &r.2).body(&r.3);
                    canonical_default(&req, &r.4, &r.5)
                };
                let (na, nb) = (
                    normalized(&a.0, &a.1, &a.2, &a.3, &a.4, &a.5),
                    normalized(&b.0, &b.1, &b.2, &b.3, &b.4, &b.5),
                );
                prop_assert_eq!(na == nb, canon(&a) == canon(&b));
            }

            #[test]
            fn distinct_simple_inputs_have_distinct_canonical_forms(
                a in (text(), text(), text(), proptest::option::of(text())),
                b in (text(), text(), text(), proptest::option::of(text())),
            ) {
                let canon = |x: &(String, String, String, Option<String>)| {
                    canonical_simple(&x.0, &x.1, &x.2, x.3.as_deref())
                };
                prop_assert_eq!(a == b, canon(&a) == canon(&b));
            }
        }
    }
}
