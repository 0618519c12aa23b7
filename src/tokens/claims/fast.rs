//! The scanner behind [`AccessClaims::from_json`](super::AccessClaims::from_json): it accepts a strict subset of JSON on which
//! serde gives the same claims, and answers `None` ("ask serde") for everything else — escapes,
//! whitespace, unknown or repeated members, non-canonical numbers, other uuid forms.

use std::borrow::Cow;

use uuid::Uuid;

use super::{AccessClaims, JTT_ACCESS, Metadata};
use crate::model::claims::MetaValue;
use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};

/// The room made at once for a custom claim's items: the usual lists fit without growing.
const LIST_CAPACITY: usize = 16;

/// A cursor over the claims text. Every position it stops at is an ASCII byte, so every
/// slice it takes is on a character boundary.
struct Scan<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Scan<'a> {
    fn eat(&mut self, c: u8) -> Option<()> {
        (*self.text.as_bytes().get(self.i)? == c).then(|| self.i += 1)
    }

    /// A string (the whole text was checked to hold no escape and no control character).
    fn str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let rest = self.text.get(self.i..)?;
        let len = find_quote(rest.as_bytes())?;
        self.i += len + 1;
        rest.get(..len)
    }

    /// An integer in canonical JSON form (`0`, `-12`, no leading zeros, no fraction).
    fn int(&mut self) -> Option<i64> {
        let negative = self.eat(b'-').is_some();
        let rest = self.text.as_bytes().get(self.i..)?;
        // Up to 18 digits cannot overflow (10^18 < 2^63); longer ones go to serde.
        let mut value = 0i64;
        let mut len = 0;
        while let Some(&d) = rest.get(len) {
            if !d.is_ascii_digit() || len == 18 {
                break;
            }
            value = value * 10 + i64::from(d - b'0');
            len += 1;
        }
        if len == 0
            || (len > 1 && rest[0] == b'0')
            || matches!(rest.get(len), Some(b'0'..=b'9' | b'.' | b'e' | b'E'))
        {
            return None;
        }
        self.i += len;
        Some(if negative { -value } else { value })
    }

    /// An array of strings.
    fn strings(&mut self) -> Option<Vec<String>> {
        let mut out = Vec::with_capacity(LIST_CAPACITY);
        self.eat(b'[')?;
        if self.eat(b']').is_none() {
            loop {
                out.push(self.str()?.to_owned());
                if self.eat(b',').is_none() {
                    self.eat(b']')?;
                    break;
                }
            }
        }
        Some(out)
    }

    /// `resource_owner_metadata`: an object of strings, canonical integers and booleans, its
    /// names in strictly increasing order, as idcore writes them (so each name is there once;
    /// any other order goes to serde, which refuses a repeated name).
    fn metadata(&mut self) -> Option<Metadata> {
        let mut out: Vec<(String, MetaValue)> = Vec::with_capacity(LIST_CAPACITY);
        self.eat(b'{')?;
        if self.eat(b'}').is_none() {
            let mut last: Option<&str> = None;
            loop {
                let name = self.str()?;
                if last.is_some_and(|last| last >= name) {
                    return None;
                }
                last = Some(name);
                self.eat(b':')?;
                let rest = self.text.as_bytes().get(self.i..)?;
                let value = match rest.first()? {
                    b'"' => MetaValue::Text(self.str()?.to_owned()),
                    b't' if rest.starts_with(b"true") => {
                        self.i += 4;
                        MetaValue::Boolean(true)
                    }
                    b'f' if rest.starts_with(b"false") => {
                        self.i += 5;
                        MetaValue::Boolean(false)
                    }
                    b'-' | b'0'..=b'9' => MetaValue::Integer(self.int()?),
                    _ => return None,
                };
                out.push((name.to_owned(), value));
                if self.eat(b',').is_none() {
                    self.eat(b'}')?;
                    break;
                }
            }
        }
        Some(Metadata(out))
    }

    fn uuid(&mut self) -> Option<Uuid> {
        let s = self.str()?;
        if s.len() != 36 {
            return None;
        }
        Uuid::try_parse(s).ok()
    }
}

// Eight bytes at a time (SWAR): a byte below `n` (n ≤ 0x80) sets its high bit in
// `(x - n·ONES) & !x & HIGHS`, and the lowest flagged byte is exact (borrows only run
// upwards from a match).
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS
}

fn words(b: &[u8]) -> (impl Iterator<Item = u64> + '_, &[u8]) {
    let chunks = b.chunks_exact(8);
    let rest = chunks.remainder();
    let words = chunks.map(|c| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        u64::from_le_bytes(w)
    });
    (words, rest)
}

/// Whether `b` holds a backslash or a control character (JSON escapes and whitespace).
pub(super) fn has_escape_or_control(b: &[u8]) -> bool {
    let (words, rest) = words(b);
    let flags = words.fold(0, |acc, x| {
        acc | below(x, 0x20) | below(x ^ (ONES * 0x5c), 1)
    });
    flags != 0 || rest.iter().any(|&c| c < 0x20 || c == b'\\')
}

/// Whether `b` holds a byte JSON must escape in a string: `"`, `\\` or a control character.
pub(super) fn needs_escape(b: &[u8]) -> bool {
    let (words, rest) = words(b);
    let flags = words.fold(0, |acc, x| {
        acc | below(x, 0x20) | below(x ^ (ONES * 0x5c), 1) | below(x ^ (ONES * 0x22), 1)
    });
    flags != 0 || rest.iter().any(|&c| c < 0x20 || c == b'\\' || c == b'"')
}

/// The index of the first `"` in `b`.
pub(super) fn find_quote(b: &[u8]) -> Option<usize> {
    let (words, rest) = words(b);
    let mut at = 0;
    for x in words {
        let flags = below(x ^ (ONES * 0x22), 1);
        if flags != 0 {
            return Some(at + flags.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    rest.iter().position(|&c| c == b'"').map(|i| at + i)
}

/// A scope, borrowed when it is one of OpenID Connect's own (no allocation for them).
fn scope(s: &str) -> Cow<'static, str> {
    match s {
        "openid" => Cow::Borrowed("openid"),
        "email" => Cow::Borrowed("email"),
        "profile" => Cow::Borrowed("profile"),
        "phone" => Cow::Borrowed("phone"),
        "address" => Cow::Borrowed("address"),
        "offline_access" => Cow::Borrowed("offline_access"),
        other => Cow::Owned(other.to_owned()),
    }
}

pub(super) fn access(json: &[u8]) -> Option<AccessClaims<'static>> {
    // No escapes, no control characters (so no whitespace either) anywhere: one branch-free
    // pass over the text, then strings end at their next quote.
    if has_escape_or_control(json) {
        return None;
    }
    // One UTF-8 check for the whole text (serde refuses invalid UTF-8 anywhere in it too).
    let mut s = Scan {
        text: std::str::from_utf8(json).ok()?,
        i: 0,
    };
    let (mut iss, mut sub, mut aud, mut cid, mut dbs) = (None, None, None, None, None);
    let (mut exp, mut iat, mut nbf, mut jti, mut jtt) = (None, None, None, None, None);
    let (mut scp, mut tnt, mut ver, mut uid, mut auth_time, mut gid) =
        (None, None, None, None, None, None);
    let (mut metadata, mut roles, mut actions, mut attributes, mut groups) =
        (None, None, None, None, None);
    s.eat(b'{')?;
    loop {
        let name = s.str()?;
        s.eat(b':')?;
        // `set` refuses a second value: serde answers a repeated member with an error.
        fn set<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
            if slot.is_some() {
                return None;
            }
            *slot = Some(value?);
            Some(())
        }
        // Slice patterns compile to a decision tree on the bytes, not a chain of compares.
        match name.as_bytes() {
            b"iss" => set(&mut iss, s.str().map(str::to_owned))?,
            b"sub" => set(&mut sub, s.uuid().map(UserId::from_uuid))?,
            b"aud" => set(&mut aud, s.str().map(str::to_owned))?,
            b"cid" => set(&mut cid, s.uuid().map(ClientId::from_uuid))?,
            b"dbs" => set(
                &mut dbs,
                match s.str()? {
                    "sandbox" => Some(Environment::Sandbox),
                    "production" => Some(Environment::Production),
                    _ => None,
                },
            )?,
            b"exp" => set(&mut exp, s.int())?,
            b"iat" => set(&mut iat, s.int())?,
            b"nbf" => set(&mut nbf, s.int())?,
            b"jti" => set(&mut jti, s.uuid())?,
            b"jtt" => set(
                &mut jtt,
                s.str().map(|v| match v {
                    JTT_ACCESS => Cow::Borrowed(JTT_ACCESS),
                    other => Cow::Owned(other.to_owned()),
                }),
            )?,
            b"scp" => {
                let mut scopes = Vec::with_capacity(4);
                s.eat(b'[')?;
                if s.eat(b']').is_none() {
                    loop {
                        scopes.push(scope(s.str()?));
                        if s.eat(b',').is_none() {
                            s.eat(b']')?;
                            break;
                        }
                    }
                }
                set(&mut scp, Some(scopes))?
            }
            b"tnt" => set(&mut tnt, s.str().and_then(|v| OrgDomain::parse(v).ok()))?,
            b"ver" => set(&mut ver, s.int().and_then(|v| u32::try_from(v).ok()))?,
            b"uid" => set(&mut uid, s.uuid().map(UserId::from_uuid))?,
            b"auth_time" => set(&mut auth_time, s.int())?,
            b"gid" => set(&mut gid, s.uuid())?,
            b"resource_owner_metadata" => set(&mut metadata, s.metadata())?,
            b"roles" => set(&mut roles, s.strings())?,
            b"actions" => set(&mut actions, s.strings())?,
            b"attributes" => set(&mut attributes, s.strings())?,
            b"groups" => set(&mut groups, s.strings())?,
            _ => return None,
        }
        if s.eat(b',').is_none() {
            s.eat(b'}')?;
            break;
        }
    }
    if s.i != json.len() {
        return None;
    }
    Some(AccessClaims {
        iss: Cow::Owned(iss?),
        sub: sub?,
        aud: Cow::Owned(aud?),
        cid: cid?,
        dbs: dbs?,
        exp: exp?,
        iat: iat?,
        nbf: nbf?,
        jti: jti?,
        jtt: jtt?,
        scp: scp?,
        tnt: tnt?,
        ver: ver?,
        uid: uid?,
        auth_time: auth_time?,
        gid: gid?,
        metadata: metadata.unwrap_or_default(),
        roles: roles.unwrap_or_default(),
        actions: actions.unwrap_or_default(),
        attributes: attributes.unwrap_or_default(),
        groups: groups.unwrap_or_default(),
    })
}
