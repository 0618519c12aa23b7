//! Compact JWS, strict: encode with a [`KeyPair`], decode untrusted input, verify with a
//! [`PublicKey`].
//!
//! [`decode`] never panics and rejects, before any signature is checked:
//! - input over [`MAX_TOKEN_LEN`] bytes (at once, without scanning it);
//! - anything but exactly three non-empty segments (an empty signature is
//!   [`JwsError::EmptySignature`]);
//! - base64url that is padded (`=`), uses the standard alphabet, or is not canonical (non-zero
//!   trailing bits, impossible lengths);
//! - a header that is not a JSON object, is not UTF-8, or repeats a member (after unescaping,
//!   at any depth);
//! - a missing `alg`, or any `alg` but `ES256`, `EdDSA`, `RS256`, `PS256` (so `none`, `None`,
//!   `NONE`, `HS256`, `ES384` … are all [`JwsError::UnsupportedAlgorithm`]);
//! - a `crit` member ([`JwsError::CriticalHeader`]): idcore understands no extension;
//! - `jwk`, `jku`, `x5c` or `x5u` members ([`JwsError::EmbeddedKey`]): keys named by a token are
//!   never used;
//! - a `kid` or `typ` that is not a string, or a `kid` over [`MAX_KID_LEN`] bytes.
//!
//! `kid` is opaque: any string (slashes, quotes, NUL …) is returned as is, and the caller looks
//! it up by exact match (see [`Jwks::find`](super::keys::Jwks::find)); nothing is ever fetched.
//!
//! [`verify`] then checks that the header's `alg` is the key's one algorithm (RS256 is never
//! verified with a PS256 key, nor the reverse) and the signature with ring.
//!
//! The claims are not interpreted here: [`Decoded::payload`] gives their bytes and
//! [`parse_object_strict`] parses them, rejecting duplicate members at any depth.
//!
//! Cost: decoding allocates once for the header, payload and signature bytes and once for
//! `kid` + `typ`; the header is parsed in place without building a JSON tree.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::keys::{Algorithm, KeyError, KeyPair, MAX_SIGNATURE_LEN, PublicKey};
use crate::encoding::{
    self, Base64Error, ascii_string, decode_into, decoded_len, encode_into, encoded_len,
};

/// The longest token [`decode`] accepts (and [`encode`] produces): 16 KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The longest `kid`, in bytes, accepted in a header.
pub const MAX_KID_LEN: usize = 256;

/// Why a token was rejected, or could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    /// The input is longer than [`MAX_TOKEN_LEN`].
    #[error("token is longer than {MAX_TOKEN_LEN} bytes")]
    TooLarge,
    /// Not exactly three segments, or an empty header or payload segment.
    #[error("token is not three dot-separated segments")]
    Malformed,
    /// A segment that is not canonical, unpadded base64url.
    #[error("token segment is not canonical base64url without padding")]
    Base64,
    /// The header is not a JSON object of UTF-8 text with string `alg`, `kid` and `typ`.
    #[error("token header is not a valid JSON object")]
    InvalidHeader,
    /// A JSON object repeats a member name.
    #[error("duplicate JSON member")]
    DuplicateMember,
    /// Bytes that are not exactly one JSON object of UTF-8 text.
    #[error("not a JSON object")]
    InvalidJson,
    /// The header has no `alg`.
    #[error("token header has no alg")]
    MissingAlgorithm,
    /// An `alg` other than ES256, EdDSA, RS256 or PS256 (`none` and HMAC included).
    #[error("token algorithm is not allowed")]
    UnsupportedAlgorithm,
    /// The header has a `crit` member: no extension is understood.
    #[error("token header has crit: no extension is supported")]
    CriticalHeader,
    /// The header names a key (`jwk`, `jku`, `x5c`, `x5u`); such keys are never used.
    #[error("token header names its own key (jwk, jku, x5c or x5u)")]
    EmbeddedKey,
    /// A `kid` longer than [`MAX_KID_LEN`] bytes.
    #[error("token kid is longer than {MAX_KID_LEN} bytes")]
    KidTooLong,
    /// The signature segment is empty.
    #[error("token signature is empty")]
    EmptySignature,
    /// The header's `alg` is not the one algorithm of the key.
    #[error("token algorithm differs from the key's algorithm")]
    AlgorithmMismatch,
    /// The signature does not verify with the key.
    #[error("token signature is invalid")]
    BadSignature,
    /// [`encode`] was given claims that are not a JSON object.
    #[error("claims must be a serialized JSON object")]
    ClaimsNotObject,
    /// Signing failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl From<Base64Error> for JwsError {
    fn from(_: Base64Error) -> Self {
        Self::Base64
    }
}

/// The protected header idcore writes: `alg`, and optionally `kid` and `typ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The signing algorithm; must be the key's.
    pub alg: Algorithm,
    /// The key id (idcore's keys: the RFC 7638 thumbprint).
    pub kid: Option<&'a str>,
    /// The media type (`JWT`, `at+jwt` …).
    pub typ: Option<&'a str>,
}

impl<'a> Header<'a> {
    /// `alg` and `kid` of `key`, no `typ`.
    pub fn for_key(key: &'a KeyPair) -> Self {
        Self {
            alg: key.algorithm(),
            kid: Some(key.kid()),
            typ: None,
        }
    }

    /// The same header with `typ`.
    pub fn with_typ(self, typ: &'a str) -> Self {
        Self {
            typ: Some(typ),
            ..self
        }
    }
}

/// Signs `claims_json` (a serialized JSON object) into a compact JWS:
/// `base64url(header) . base64url(claims) . base64url(signature)`.
///
/// The header is written as `{"alg":…,"kid":…,"typ":…}` (members present in `header` only).
///
/// # Errors
/// [`JwsError::AlgorithmMismatch`] if `header.alg` is not the key's algorithm;
/// [`JwsError::KidTooLong`]; [`JwsError::ClaimsNotObject`] unless `claims_json` is `{…}`;
/// [`JwsError::TooLarge`] if the token would exceed [`MAX_TOKEN_LEN`];
/// [`JwsError::Key`] if signing fails.
pub fn encode(header: &Header<'_>, claims_json: &[u8], key: &KeyPair) -> Result<String, JwsError> {
    if header.alg != key.algorithm() {
        return Err(JwsError::AlgorithmMismatch);
    }
    if header.kid.is_some_and(|kid| kid.len() > MAX_KID_LEN) {
        return Err(JwsError::KidTooLong);
    }
    let trimmed = claims_json.trim_ascii();
    if trimmed.first() != Some(&b'{') || trimmed.last() != Some(&b'}') {
        return Err(JwsError::ClaimsNotObject);
    }

    let mut json =
        String::with_capacity(32 + header.kid.map_or(0, str::len) + header.typ.map_or(0, str::len));
    json.push_str("{\"alg\":\"");
    json.push_str(header.alg.name());
    if let Some(kid) = header.kid {
        json.push_str("\",\"kid\":\"");
        push_json_str(&mut json, kid);
    }
    if let Some(typ) = header.typ {
        json.push_str("\",\"typ\":\"");
        push_json_str(&mut json, typ);
    }
    json.push_str("\"}");

    let sig_len = key.public_key().signature_len();
    let total =
        encoded_len(json.len()) + 1 + encoded_len(claims_json.len()) + 1 + encoded_len(sig_len);
    if total > MAX_TOKEN_LEN {
        return Err(JwsError::TooLarge);
    }
    let mut out = Vec::with_capacity(total);
    encode_into(json.as_bytes(), &mut out);
    out.push(b'.');
    encode_into(claims_json, &mut out);
    let mut buf = [0u8; MAX_SIGNATURE_LEN];
    let sig = key.sign_into(&out, &mut buf)?;
    out.push(b'.');
    encode_into(sig, &mut out);
    Ok(ascii_string(out))
}

/// A token that passed [`decode`]'s structural checks; its signature is not yet verified.
pub struct Decoded<'a> {
    signing_input: &'a str,
    alg: Algorithm,
    extra_members: bool,
    /// header JSON ‖ payload ‖ signature, then the unescaped `kid` and `typ` if the header
    /// escaped them (otherwise they are read where they stand in the header JSON).
    bytes: Vec<u8>,
    header_len: usize,
    payload_end: usize,
    signature_end: usize,
    /// Where in `bytes` the `kid` and the `typ` are (valid UTF-8, checked when decoded).
    kid: Option<Range<usize>>,
    typ: Option<Range<usize>>,
}

impl<'a> Decoded<'a> {
    /// The header's `alg` (one of the four supported algorithms).
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The header's `kid`, unescaped, exactly as sent: an opaque lookup key.
    pub fn kid(&self) -> Option<&str> {
        self.text(self.kid.as_ref()?)
    }

    /// The header's `typ`, unescaped.
    pub fn typ(&self) -> Option<&str> {
        self.text(self.typ.as_ref()?)
    }

    fn text(&self, at: &Range<usize>) -> Option<&str> {
        std::str::from_utf8(self.bytes.get(at.clone())?).ok()
    }

    /// `alg`, `kid` and `typ` as a [`Header`].
    pub fn header(&self) -> Header<'_> {
        Header {
            alg: self.alg,
            kid: self.kid(),
            typ: self.typ(),
        }
    }

    /// Whether the header had members besides `alg`, `kid` and `typ` (e.g. `cty`, `x5t`);
    /// the rejected ones (`crit`, `jwk`, `jku`, `x5c`, `x5u`) never get this far.
    pub fn has_extra_header_members(&self) -> bool {
        self.extra_members
    }

    /// The decoded header JSON.
    pub fn header_json(&self) -> &[u8] {
        &self.bytes[..self.header_len]
    }

    /// `base64url(header) . base64url(payload)`: the bytes the signature covers.
    pub fn signing_input(&self) -> &'a [u8] {
        self.signing_input.as_bytes()
    }

    /// The decoded payload (the claims JSON, not yet parsed: see [`parse_object_strict`]).
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.header_len..self.payload_end]
    }

    /// The decoded signature (never empty).
    pub fn signature(&self) -> &[u8] {
        &self.bytes[self.payload_end..self.signature_end]
    }
}

impl fmt::Debug for Decoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoded")
            .field("alg", &self.alg)
            .field("kid", &self.kid())
            .field("typ", &self.typ())
            .field("extra_header_members", &self.extra_members)
            .field("payload_len", &self.payload().len())
            .finish_non_exhaustive()
    }
}

/// Splits and decodes a compact JWS and parses its header, strictly (see the module docs).
/// The signature is not checked: call [`verify`] with the key the caller picked by
/// [`Decoded::kid`].
///
/// # Errors
/// [`JwsError::TooLarge`], [`JwsError::Malformed`], [`JwsError::EmptySignature`],
/// [`JwsError::Base64`], [`JwsError::InvalidHeader`], [`JwsError::DuplicateMember`],
/// [`JwsError::MissingAlgorithm`], [`JwsError::UnsupportedAlgorithm`],
/// [`JwsError::CriticalHeader`], [`JwsError::EmbeddedKey`], [`JwsError::KidTooLong`].
pub fn decode(token: &str) -> Result<Decoded<'_>, JwsError> {
    let raw = token.as_bytes();
    if raw.len() > MAX_TOKEN_LEN {
        return Err(JwsError::TooLarge);
    }
    // `find`/`rfind` of an ASCII byte run memchr: the long payload is never scanned bytewise.
    let first = token.find('.').ok_or(JwsError::Malformed)?;
    let last = token.rfind('.').ok_or(JwsError::Malformed)?;
    if last == first {
        return Err(JwsError::Malformed);
    }
    let (h, p, s) = (&raw[..first], &raw[first + 1..last], &raw[last + 1..]);
    // A fourth segment would put a `.` inside `p`; `.` is not base64url, so decoding `p` fails
    // on it and the error is then told apart (not scanning `p` twice on the valid path).
    if h.is_empty() || p.is_empty() {
        return Err(JwsError::Malformed);
    }
    let malformed_or = |e: JwsError| {
        if p.contains(&b'.') {
            JwsError::Malformed
        } else {
            e
        }
    };
    if s.is_empty() {
        return Err(JwsError::EmptySignature);
    }

    let header_len = decoded_len(h.len())?;
    let payload_len = decoded_len(p.len()).map_err(|e| malformed_or(e.into()))?;
    let sig_len = decoded_len(s.len())?;
    let payload_end = header_len + payload_len;
    let signature_end = payload_end + sig_len;
    let mut bytes = vec![0u8; signature_end];
    decode_into(h, &mut bytes[..header_len])?;

    // `kid` and `typ` as written in the header JSON stay there (found by their place in it);
    // escaped ones are kept unescaped, to be appended after the signature.
    let (alg, extra_members, kid, typ) = {
        let header = &bytes[..header_len];
        let parsed = parse_header(header)?;
        if parsed.kid.as_ref().is_some_and(|k| k.len() > MAX_KID_LEN) {
            return Err(JwsError::KidTooLong);
        }
        let place = |value: Option<Cow<'_, str>>| {
            value.map(|text| match text {
                Cow::Borrowed(text) => {
                    let start = text.as_ptr().addr().wrapping_sub(header.as_ptr().addr());
                    HeaderText::InHeader(start..start + text.len())
                }
                Cow::Owned(text) => HeaderText::Unescaped(text),
            })
        };
        (
            parsed.alg,
            parsed.extra,
            place(parsed.kid),
            place(parsed.typ),
        )
    };

    decode_into(p, &mut bytes[header_len..payload_end]).map_err(|e| malformed_or(e.into()))?;
    decode_into(s, &mut bytes[payload_end..])?;
    let mut locate = |text: Option<HeaderText>| {
        text.map(|text| match text {
            HeaderText::InHeader(at) => at,
            HeaderText::Unescaped(text) => {
                let start = bytes.len();
                bytes.extend_from_slice(text.as_bytes());
                start..bytes.len()
            }
        })
    };
    let (kid, typ) = (locate(kid), locate(typ));
    Ok(Decoded {
        signing_input: &token[..last],
        alg,
        extra_members,
        bytes,
        header_len,
        payload_end,
        signature_end,
        kid,
        typ,
    })
}

/// Where [`decode`] finds a header's `kid` or `typ`.
enum HeaderText {
    /// Written without escapes: these bytes of the header JSON.
    InHeader(Range<usize>),
    /// Unescaped from the header JSON.
    Unescaped(String),
}

/// Checks that `decoded` was signed by `key`: the header's `alg` must be the key's one
/// algorithm, then ring verifies the signature over the signing input.
///
/// # Errors
/// [`JwsError::AlgorithmMismatch`]; [`JwsError::BadSignature`] (including ES256 signatures in
/// DER form or of all zeros).
pub fn verify(decoded: &Decoded<'_>, key: &PublicKey) -> Result<(), JwsError> {
    if decoded.alg != key.algorithm() {
        return Err(JwsError::AlgorithmMismatch);
    }
    if key.verify(decoded.signing_input(), decoded.signature()) {
        Ok(())
    } else {
        Err(JwsError::BadSignature)
    }
}

/// Parses `bytes` as exactly one JSON object of UTF-8 text, rejecting a member name repeated
/// in any object at any depth (after unescaping). Nesting is limited to 128 levels.
///
/// # Errors
/// [`JwsError::DuplicateMember`]; [`JwsError::InvalidJson`] for anything else that is not one
/// JSON object (other JSON values, trailing data, invalid UTF-8, lone surrogates …).
pub fn parse_object_strict(bytes: &[u8]) -> Result<Map<String, Value>, JwsError> {
    let failure = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = de
        .deserialize_map(StrictVisitor { failure: &failure })
        .and_then(|value| de.end().map(|()| value));
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(JwsError::InvalidJson),
        Err(_) => Err(failure.take().unwrap_or(JwsError::InvalidJson)),
    }
}

/// Base64url without padding (RFC 7515 `BASE64URL`).
pub fn base64url_encode(bytes: &[u8]) -> String {
    encoding::base64url_encode(bytes)
}

/// Decodes base64url without padding, strictly: no `=`, no standard-alphabet characters, no
/// whitespace, zero trailing bits.
///
/// # Errors
/// [`JwsError::Base64`].
pub fn base64url_decode(text: &str) -> Result<Vec<u8>, JwsError> {
    Ok(encoding::base64url_decode(text)?)
}

// ---------------------------------------------------------------------------------------------
// Header parsing

#[derive(Debug, PartialEq)]
struct ParsedHeader<'h> {
    alg: Algorithm,
    kid: Option<Cow<'h, str>>,
    typ: Option<Cow<'h, str>>,
    extra: bool,
}

fn parse_header(json: &[u8]) -> Result<ParsedHeader<'_>, JwsError> {
    match parse_plain_header(json) {
        Some(header) => Ok(header),
        None => parse_any_header(json),
    }
}

/// The full parser: any JSON, every rejection with its reason.
fn parse_any_header(json: &[u8]) -> Result<ParsedHeader<'_>, JwsError> {
    let failure = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(json);
    let parsed = de
        .deserialize_map(HeaderVisitor { failure: &failure })
        .and_then(|header| de.end().map(|()| header));
    parsed.map_err(|_| failure.take().unwrap_or(JwsError::InvalidHeader))
}

/// The fast path for the headers idcore and common libraries write: `{"name":"value",…}` with
/// no whitespace, only `alg`, `kid` and `typ`, each once, string values without escapes or
/// control characters. Anything else — including every header that must be rejected — gives
/// `None` and goes through the full parser, so this accepts nothing the full parser would not,
/// with the same result.
fn parse_plain_header(json: &[u8]) -> Option<ParsedHeader<'_>> {
    let mut rest = json.strip_prefix(b"{")?;
    let (mut alg, mut kid, mut typ) = (None, None, None);
    loop {
        let (name, after) = plain_string(rest)?;
        let (value, after) = plain_string(after.strip_prefix(b":")?)?;
        let slot = match name {
            "alg" => &mut alg,
            "kid" => &mut kid,
            "typ" => &mut typ,
            _ => return None,
        };
        if slot.replace(value).is_some() {
            return None;
        }
        match after {
            [b',', more @ ..] => rest = more,
            [b'}'] => break,
            _ => return None,
        }
    }
    Some(ParsedHeader {
        alg: Algorithm::from_name(alg?)?,
        kid: kid.map(Cow::Borrowed),
        typ: typ.map(Cow::Borrowed),
        extra: false,
    })
}

/// A `"…"` JSON string at the start of `input` that needs no unescaping: no `\`, no control
/// characters, valid UTF-8. Returns it and what follows the closing quote.
fn plain_string(input: &[u8]) -> Option<(&str, &[u8])> {
    let body = input.strip_prefix(b"\"")?;
    let end = body
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    if body[end] != b'"' {
        return None;
    }
    let text = std::str::from_utf8(&body[..end]).ok()?;
    Some((text, &body[end + 1..]))
}

/// Records the precise reason in `failure` and returns an opaque serde error to unwind with.
fn fail<E: de::Error>(failure: &Cell<Option<JwsError>>, reason: JwsError) -> E {
    failure.set(Some(reason));
    E::custom("rejected")
}

struct HeaderVisitor<'c> {
    failure: &'c Cell<Option<JwsError>>,
}

impl<'de> Visitor<'de> for HeaderVisitor<'_> {
    type Value = ParsedHeader<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut alg: Option<Cow<'de, str>> = None;
        let mut kid: Option<Cow<'de, str>> = None;
        let mut typ: Option<Cow<'de, str>> = None;
        let mut others: Vec<String> = Vec::new();
        while let Some(CowStr(name)) = map.next_key()? {
            let slot = match &*name {
                "alg" => &mut alg,
                "kid" => &mut kid,
                "typ" => &mut typ,
                "crit" => return Err(fail(self.failure, JwsError::CriticalHeader)),
                "jwk" | "jku" | "x5c" | "x5u" => {
                    return Err(fail(self.failure, JwsError::EmbeddedKey));
                }
                _ => {
                    if others.iter().any(|seen| *seen == *name) {
                        return Err(fail(self.failure, JwsError::DuplicateMember));
                    }
                    map.next_value_seed(StrictVisitor {
                        failure: self.failure,
                    })?;
                    others.push(name.into_owned());
                    continue;
                }
            };
            if slot.is_some() {
                return Err(fail(self.failure, JwsError::DuplicateMember));
            }
            let CowStr(value) = map.next_value()?;
            *slot = Some(value);
        }
        let alg = alg.ok_or_else(|| fail(self.failure, JwsError::MissingAlgorithm))?;
        let alg = Algorithm::from_name(&alg)
            .ok_or_else(|| fail(self.failure, JwsError::UnsupportedAlgorithm))?;
        Ok(ParsedHeader {
            alg,
            kid,
            typ,
            extra: !others.is_empty(),
        })
    }
}

/// A JSON string, borrowed from the input when it has no escapes.
struct CowStr<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Builds a [`Value`], rejecting duplicate member names at every depth.
#[derive(Clone, Copy)]
struct StrictVisitor<'c> {
    failure: &'c Cell<Option<JwsError>>,
}

impl<'de> DeserializeSeed<'de> for StrictVisitor<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if object.contains_key(&name) {
                return Err(fail(self.failure, JwsError::DuplicateMember));
            }
            let value = map.next_value_seed(self)?;
            object.insert(name, value);
        }
        Ok(Value::Object(object))
    }
}

/// Appends `s` JSON-escaped (without the surrounding quotes).
fn push_json_str(out: &mut String, s: &str) {
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        return;
    }
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let n = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[n >> 4]));
                out.push(char::from(HEX[n & 0xf]));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc4648_vectors() {
        let vectors: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (&[0xfb, 0xff, 0xbf], "-_-_"),
        ];
        for (bytes, text) in vectors {
            assert_eq!(base64url_encode(bytes), text);
            assert_eq!(base64url_decode(text).unwrap(), bytes);
        }
    }

    #[test]
    fn base64url_round_trips_every_length_and_byte() {
        let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..data.len() {
            let text = base64url_encode(&data[..len]);
            assert_eq!(base64url_decode(&text).unwrap(), &data[..len], "len {len}");
        }
    }

    #[test]
    fn base64url_rejects_a_bad_character_at_every_position() {
        let data: Vec<u8> = (0..=255u8).collect();
        for len in 1..40 {
            let text = base64url_encode(&data[..len]);
            for at in 0..text.len() {
                for bad in ["!", "=", "+", "/", ".", "\u{80}"] {
                    let mut wrong = text.clone();
                    wrong.replace_range(at..at + 1, bad);
                    assert_eq!(
                        base64url_decode(&wrong),
                        Err(JwsError::Base64),
                        "len {len}, {bad:?} at {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn base64url_rejects_padding_other_alphabets_and_noncanonical_tails() {
        for bad in [
            "Zg==",
            "Zg=",
            "Zm8=",
            "Z",
            "Zm9vY",
            "Zh",
            "Zm9",
            "Zm+v",
            "Zm/v",
            "Zm9v\n",
            " Zm9v",
            "Zm.v",
            "Zm9\u{e9}",
        ] {
            assert_eq!(base64url_decode(bad), Err(JwsError::Base64), "{bad:?}");
        }
    }

    #[test]
    fn json_strings_are_escaped_in_headers() {
        let mut out = String::new();
        push_json_str(&mut out, "a\"b\\c\u{0}\n/é");
        assert_eq!(out, "a\\\"b\\\\c\\u0000\\u000a/é");
        let parsed: String = serde_json::from_str(&format!("\"{out}\"")).unwrap();
        assert_eq!(parsed, "a\"b\\c\u{0}\n/é");
    }

    #[test]
    fn the_plain_header_fast_path_agrees_with_the_full_parser() {
        let accepted = [
            &br#"{"alg":"ES256"}"#[..],
            br#"{"alg":"EdDSA","kid":"abc","typ":"at+jwt"}"#,
            br#"{"typ":"JWT","kid":"","alg":"RS256"}"#,
            "{\"alg\":\"PS256\",\"kid\":\"é/../\u{7f}\"}".as_bytes(),
        ];
        for json in accepted {
            let fast = parse_plain_header(json).expect("fast path");
            assert_eq!(Ok(fast), parse_any_header(json), "{json:?}");
        }
        let deferred = [
            &br#"{ "alg":"ES256"}"#[..],
            br#"{"alg":"ES256","alg":"ES256"}"#,
            br#"{"alg":"none"}"#,
            br#"{"alg":"ES256","kid":"a\"b"}"#,
            br#"{"alg":"ES256","kid":1}"#,
            br#"{"alg":"ES256","cty":"JWT"}"#,
            br#"{"alg":"ES256","jwk":"x"}"#,
            br#"{"alg":"ES256","crit":"x"}"#,
            br#"{"alg":"ES256"} "#,
            br#"{"alg":"ES256"}}"#,
            br#"{"alg":"ES256",}"#,
            br#"{"kid":"k"}"#,
            br#"{}"#,
            b"{\"alg\":\"ES256\",\"kid\":\"\xff\"}",
            b"{\"alg\":\"ES256\",\"kid\":\"\t\"}",
        ];
        for json in deferred {
            assert_eq!(parse_plain_header(json), None, "{json:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_fast_path_never_disagrees_with_the_full_parser(
            members in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["alg", "kid", "typ", "cty", "crit", "jwk", "a"]),
                    proptest::sample::select(vec![
                        "\"ES256\"", "\"EdDSA\"", "\"none\"", "\"\"", "\"k/../\\\"q\"",
                        "\"\\u0000\"", "1", "null", "[]", "{}", "\"é\"",
                    ]),
                    proptest::sample::select(vec!["", " ", "\n"]),
                ),
                0..5,
            ),
        ) {
            let body: Vec<String> = members
                .iter()
                .map(|(name, value, space)| format!("{space}\"{name}\":{space}{value}"))
                .collect();
            let json = format!("{{{}}}", body.join(","));
            if let Some(fast) = parse_plain_header(json.as_bytes()) {
                proptest::prop_assert_eq!(Ok(fast), parse_any_header(json.as_bytes()));
            }
        }
    }

    #[test]
    fn strict_objects_reject_duplicates_at_any_depth() {
        assert!(parse_object_strict(br#"{"a":1,"b":{"c":[{"d":1}]}}"#).is_ok());
        for dup in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"a":1,"\u0061":2}"#,
            br#"{"x":{"a":1,"a":1}}"#,
            br#"{"x":[{"a":1,"a":1}]}"#,
        ] {
            assert_eq!(parse_object_strict(dup), Err(JwsError::DuplicateMember));
        }
        for bad in [
            &b"[]"[..],
            b"1",
            b"",
            b"{} {}",
            b"{\"a\":\"\xff\"}",
            br#"{"a":"\ud800"}"#,
        ] {
            assert_eq!(parse_object_strict(bad), Err(JwsError::InvalidJson));
        }
    }
}
