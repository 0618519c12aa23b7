//! The claim sets of the seeds: the access token (`jtt` = `access`) and the ID token
//! (`jtt` = `openid`).
//!
//! Times are NumericDate seconds. Deserialization is strict: every required claim must be present
//! with its JSON type — a string, float or missing `exp` is an error, never "absent" — and a
//! duplicate claim is an error.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};

use crate::model::user::User;

/// `jtt` of an access token.
pub const JTT_ACCESS: &str = "access";
/// `jtt` of an ID token.
pub const JTT_OPENID: &str = "openid";
/// `typ` header of an access token (RFC 9068).
pub const TYP_ACCESS: &str = "at+jwt";
/// `typ` header of an ID token.
pub const TYP_ID: &str = "JWT";
/// The claim set version (`ver`).
pub const CLAIMS_VERSION: u32 = 1;

/// The claims of an access token.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AccessClaims<'a> {
    /// `{issuer}/t/{organization domain}`.
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    /// The user id.
    pub sub: UserId,
    /// The resource audience (one value).
    #[serde(borrow)]
    pub aud: Cow<'a, str>,
    /// The client the token was issued to.
    pub cid: ClientId,
    /// The environment.
    pub dbs: Environment,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Unique token id.
    pub jti: Uuid,
    /// Always [`JTT_ACCESS`].
    #[serde(borrow)]
    pub jtt: Cow<'a, str>,
    /// Granted scopes.
    #[serde(borrow)]
    pub scp: Vec<Cow<'a, str>>,
    /// The organization domain.
    pub tnt: OrgDomain,
    /// Claim set version.
    pub ver: u32,
    /// The user id (as the seed repeats it).
    pub uid: UserId,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The grant (refresh token family) the token belongs to.
    pub gid: Uuid,
}

impl AccessClaims<'static> {
    /// Parses the claims JSON of an access token, strictly (see the module docs): every claim
    /// present once with its JSON type; unknown claims are ignored. `None` for anything else.
    ///
    /// The claims idcore writes (compact JSON, no escapes, hyphenated uuids) are read by a
    /// scanner made for this claim set, without building a JSON tree and with one allocation
    /// per string; anything else goes through serde, which gives the same answer.
    pub fn from_json(json: &[u8]) -> Option<Self> {
        match fast::access(json) {
            Some(claims) => Some(claims),
            None => serde_json::from_slice::<AccessClaims<'_>>(json)
                .ok()
                .map(AccessClaims::into_owned),
        }
    }
}

impl AccessClaims<'_> {
    /// The same claims, owning their strings.
    pub fn into_owned(self) -> AccessClaims<'static> {
        let owned = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        AccessClaims {
            iss: owned(self.iss),
            aud: owned(self.aud),
            jtt: if self.jtt == JTT_ACCESS {
                Cow::Borrowed(JTT_ACCESS)
            } else {
                owned(self.jtt)
            },
            scp: self.scp.into_iter().map(owned).collect(),
            ..self
        }
    }
}

impl AccessClaims<'_> {
    /// The claims as compact JSON: exactly the bytes `serde_json::to_vec` writes, written
    /// directly (strings are copied whole unless they need escaping).
    pub fn to_json(&self) -> Vec<u8> {
        let mut w = write::Json::with_capacity(512);
        w.str("iss", &self.iss);
        w.uuid("sub", &self.sub.as_uuid());
        w.str("aud", &self.aud);
        w.uuid("cid", &self.cid.as_uuid());
        w.str("dbs", self.dbs.as_str());
        w.int("exp", self.exp);
        w.int("iat", self.iat);
        w.int("nbf", self.nbf);
        w.uuid("jti", &self.jti);
        w.str("jtt", &self.jtt);
        w.strs("scp", self.scp.iter().map(|s| s.as_ref()));
        w.str("tnt", self.tnt.as_str());
        w.int("ver", i64::from(self.ver));
        w.uuid("uid", &self.uid.as_uuid());
        w.int("auth_time", self.auth_time);
        w.uuid("gid", &self.gid);
        w.finish()
    }
}

impl IdClaims<'_> {
    /// The claims as compact JSON: exactly the bytes `serde_json::to_vec` writes (absent
    /// optional claims omitted, profile claims flattened), written directly.
    pub fn to_json(&self) -> Vec<u8> {
        let mut w = write::Json::with_capacity(768);
        w.str("iss", &self.iss);
        w.uuid("sub", &self.sub.as_uuid());
        w.uuid("aud", &self.aud.as_uuid());
        w.uuid("azp", &self.azp.as_uuid());
        w.uuid("cid", &self.cid.as_uuid());
        w.str("dbs", self.dbs.as_str());
        w.int("exp", self.exp);
        w.int("iat", self.iat);
        w.int("nbf", self.nbf);
        w.uuid("jti", &self.jti);
        w.str("jtt", &self.jtt);
        w.str("tnt", self.tnt.as_str());
        w.int("ver", i64::from(self.ver));
        w.int("auth_time", self.auth_time);
        w.uuid("gid", &self.gid);
        w.opt_str("nonce", self.nonce.as_deref());
        w.opt_str("at_hash", self.at_hash.as_deref());
        w.opt_str("c_hash", self.c_hash.as_deref());
        w.opt_str("s_hash", self.s_hash.as_deref());
        if !self.amr.is_empty() {
            w.strs("amr", self.amr.iter().map(String::as_str));
        }
        let p = &self.profile;
        w.opt_str("email", p.email.as_deref());
        w.opt_bool("email_verified", p.email_verified);
        w.opt_str("name", p.name.as_deref());
        w.opt_str("given_name", p.given_name.as_deref());
        w.opt_str("family_name", p.family_name.as_deref());
        w.opt_str("middle_name", p.middle_name.as_deref());
        w.opt_str("nickname", p.nickname.as_deref());
        w.opt_str("preferred_username", p.preferred_username.as_deref());
        w.opt_str("profile", p.profile.as_deref());
        w.opt_str("picture", p.picture.as_deref());
        w.opt_str("website", p.website.as_deref());
        w.opt_str("gender", p.gender.as_deref());
        w.opt_str("birthdate", p.birthdate.as_deref());
        w.opt_str("zoneinfo", p.zoneinfo.as_deref());
        w.opt_str("locale", p.locale.as_deref());
        w.opt_str("phone_number", p.phone_number.as_deref());
        w.opt_bool("phone_number_verified", p.phone_number_verified);
        if let Some(at) = p.updated_at {
            w.int("updated_at", at);
        }
        w.finish()
    }
}

/// A compact JSON object writer that produces serde_json's exact bytes for the claim types.
mod write {
    use uuid::Uuid;

    pub(super) struct Json {
        buf: Vec<u8>,
    }

    impl Json {
        pub(super) fn with_capacity(n: usize) -> Self {
            let mut buf = Vec::with_capacity(n);
            buf.push(b'{');
            Self { buf }
        }

        fn key(&mut self, key: &str) {
            if self.buf.len() > 1 {
                self.buf.push(b',');
            }
            self.buf.push(b'"');
            self.buf.extend_from_slice(key.as_bytes());
            self.buf.extend_from_slice(b"\":");
        }

        pub(super) fn str(&mut self, key: &str, value: &str) {
            self.key(key);
            escaped(&mut self.buf, value);
        }

        pub(super) fn opt_str(&mut self, key: &str, value: Option<&str>) {
            if let Some(v) = value {
                self.str(key, v);
            }
        }

        pub(super) fn opt_bool(&mut self, key: &str, value: Option<bool>) {
            if let Some(v) = value {
                self.key(key);
                self.buf
                    .extend_from_slice(if v { b"true" } else { b"false" });
            }
        }

        pub(super) fn uuid(&mut self, key: &str, value: &Uuid) {
            self.key(key);
            let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
            self.buf.push(b'"');
            self.buf
                .extend_from_slice(value.hyphenated().encode_lower(&mut text).as_bytes());
            self.buf.push(b'"');
        }

        pub(super) fn int(&mut self, key: &str, value: i64) {
            self.key(key);
            if value < 0 {
                self.buf.push(b'-');
            }
            let mut digits = [0u8; 20];
            let mut n = value.unsigned_abs();
            let mut at = digits.len();
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            self.buf.extend_from_slice(&digits[at..]);
        }

        pub(super) fn strs<'a>(&mut self, key: &str, values: impl Iterator<Item = &'a str>) {
            self.key(key);
            self.buf.push(b'[');
            for (i, v) in values.enumerate() {
                if i > 0 {
                    self.buf.push(b',');
                }
                escaped(&mut self.buf, v);
            }
            self.buf.push(b']');
        }

        pub(super) fn finish(mut self) -> Vec<u8> {
            self.buf.push(b'}');
            self.buf
        }
    }

    /// A JSON string, escaped as serde_json escapes it: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`,
    /// `\t`, other control characters as `\u00XX`, everything else as is.
    fn escaped(buf: &mut Vec<u8>, s: &str) {
        buf.push(b'"');
        if super::fast::needs_escape(s.as_bytes()) {
            for &b in s.as_bytes() {
                match b {
                    b'"' => buf.extend_from_slice(b"\\\""),
                    b'\\' => buf.extend_from_slice(b"\\\\"),
                    0x08 => buf.extend_from_slice(b"\\b"),
                    0x0c => buf.extend_from_slice(b"\\f"),
                    b'\n' => buf.extend_from_slice(b"\\n"),
                    b'\r' => buf.extend_from_slice(b"\\r"),
                    b'\t' => buf.extend_from_slice(b"\\t"),
                    0..0x20 => {
                        const HEX: &[u8; 16] = b"0123456789abcdef";
                        buf.extend_from_slice(b"\\u00");
                        buf.push(HEX[usize::from(b >> 4)]);
                        buf.push(HEX[usize::from(b & 0xf)]);
                    }
                    _ => buf.push(b),
                }
            }
        } else {
            buf.extend_from_slice(s.as_bytes());
        }
        buf.push(b'"');
    }
}

/// The scanner behind [`AccessClaims::from_json`]: it accepts a strict subset of JSON on which
/// serde gives the same claims, and answers `None` ("ask serde") for everything else — escapes,
/// whitespace, unknown or repeated members, non-canonical numbers, other uuid forms.
mod fast {
    use std::borrow::Cow;

    use uuid::Uuid;

    use super::{AccessClaims, JTT_ACCESS};
    use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};

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
        })
    }
}

/// The OpenID Connect profile claims carried by ID tokens and user info.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ProfileClaims {
    /// E-mail address.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    /// Whether the e-mail was verified.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email_verified: Option<bool>,
    /// Full name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// Given name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub family_name: Option<String>,
    /// Middle name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub middle_name: Option<String>,
    /// Nickname.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nickname: Option<String>,
    /// Preferred username.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub preferred_username: Option<String>,
    /// Profile page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub profile: Option<String>,
    /// Picture.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub picture: Option<String>,
    /// Web site.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub website: Option<String>,
    /// Gender.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gender: Option<String>,
    /// Birth date, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub birthdate: Option<String>,
    /// Time zone.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub zoneinfo: Option<String>,
    /// Locale.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub locale: Option<String>,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phone_number: Option<String>,
    /// Whether the phone number was verified.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phone_number_verified: Option<bool>,
    /// Last profile update (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub updated_at: Option<i64>,
}

impl ProfileClaims {
    /// The claims of a user's current profile.
    pub fn of(user: &User) -> Self {
        let p = &user.profile;
        let s = |v: Option<&str>| v.map(str::to_owned);
        Self {
            email: Some(p.email.as_str().to_owned()),
            email_verified: Some(p.email_verified),
            name: s(p.name.as_ref().map(|v| v.as_str())),
            given_name: s(p.given_name.as_ref().map(|v| v.as_str())),
            family_name: s(p.family_name.as_ref().map(|v| v.as_str())),
            middle_name: s(p.middle_name.as_ref().map(|v| v.as_str())),
            nickname: s(p.nickname.as_ref().map(|v| v.as_str())),
            preferred_username: s(p.preferred_username.as_ref().map(|v| v.as_str())),
            profile: s(p.profile.as_ref().map(|v| v.as_str())),
            picture: s(p.picture.as_ref().map(|v| v.as_str())),
            website: s(p.website.as_ref().map(|v| v.as_str())),
            gender: s(p.gender.as_ref().map(|v| v.as_str())),
            birthdate: p.birthdate.map(|b| b.to_string()),
            zoneinfo: s(p.zoneinfo.as_ref().map(|v| v.as_str())),
            locale: s(p.locale.as_ref().map(|v| v.as_str())),
            phone_number: s(p.phone_number.as_ref().map(|v| v.as_str())),
            phone_number_verified: p.phone_number.as_ref().map(|_| p.phone_number_verified),
            updated_at: Some(user.updated_at.unix_timestamp()),
        }
    }
}

/// The claims of an ID token.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct IdClaims<'a> {
    /// `{issuer}/t/{organization domain}`.
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    /// The user id.
    pub sub: UserId,
    /// The client id (OIDC: the ID token's audience is the client).
    pub aud: ClientId,
    /// Authorized party: the client id.
    pub azp: ClientId,
    /// The client the token was issued to (seed name).
    pub cid: ClientId,
    /// The environment.
    pub dbs: Environment,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Unique token id.
    pub jti: Uuid,
    /// Always [`JTT_OPENID`].
    #[serde(borrow)]
    pub jtt: Cow<'a, str>,
    /// The organization domain.
    pub tnt: OrgDomain,
    /// Claim set version.
    pub ver: u32,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The grant the token belongs to.
    pub gid: Uuid,
    /// The nonce of the authorization request, echoed exactly.
    #[serde(skip_serializing_if = "Option::is_none", default, borrow)]
    pub nonce: Option<Cow<'a, str>>,
    /// Hash of the access token issued with it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub at_hash: Option<String>,
    /// Hash of the authorization code it was exchanged for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub c_hash: Option<String>,
    /// Hash of the `state` of the authorization request, when one was given.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub s_hash: Option<String>,
    /// Authentication methods (`pwd`, `otp` …).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub amr: Vec<String>,
    /// The user's profile claims.
    #[serde(flatten)]
    pub profile: ProfileClaims,
}

/// The organization issuer: `{issuer}/t/{domain}`.
pub fn issuer_of(base: &str, org: &OrgDomain) -> String {
    format!("{base}/t/{org}")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn serde_parse(json: &[u8]) -> Option<AccessClaims<'static>> {
        serde_json::from_slice::<AccessClaims<'_>>(json)
            .ok()
            .map(AccessClaims::into_owned)
    }

    /// An access token's claims as idcore writes them.
    fn written() -> Vec<u8> {
        let id = |s: &str| Uuid::parse_str(s).unwrap();
        let claims = AccessClaims {
            iss: Cow::Borrowed("https://auth.example.com/t/misapret"),
            sub: UserId::from_uuid(id("019a0000-0000-7000-8000-000000000001")),
            aud: Cow::Borrowed("https://auth.example.com"),
            cid: ClientId::from_uuid(id("019a0000-0000-7000-8000-000000000002")),
            dbs: Environment::Sandbox,
            exp: 1_780_000_000,
            iat: 1_779_996_400,
            nbf: 1_779_996_400,
            jti: id("019a0000-0000-7000-8000-000000000003"),
            jtt: Cow::Borrowed(JTT_ACCESS),
            scp: vec![Cow::Borrowed("openid"), Cow::Borrowed("email")],
            tnt: OrgDomain::parse("misapret").unwrap(),
            ver: 1,
            uid: UserId::from_uuid(id("019a0000-0000-7000-8000-000000000001")),
            auth_time: 1_779_996_000,
            gid: id("019a0000-0000-7000-8000-000000000004"),
        };
        serde_json::to_vec(&claims).unwrap()
    }

    fn replace(json: &[u8], from: &str, to: &str) -> Vec<u8> {
        let text = std::str::from_utf8(json).unwrap();
        assert!(text.contains(from), "{from} in {text}");
        text.replacen(from, to, 1).into_bytes()
    }

    #[test]
    fn the_scanner_reads_what_idcore_writes() {
        let json = written();
        let fast = fast::access(&json).expect("the scanner reads idcore's own claims");
        assert_eq!(Some(fast.clone()), serde_parse(&json));
        assert_eq!(fast.scp, vec!["openid", "email"]);
        assert_eq!(fast.exp, 1_780_000_000);
        assert!(matches!(fast.jtt, Cow::Borrowed(JTT_ACCESS)));
    }

    #[test]
    fn the_scanner_leaves_everything_else_to_serde_which_agrees() {
        let json = written();
        let cases: Vec<(Vec<u8>, bool)> = vec![
            // (variant, serde accepts it)
            (replace(&json, "\"openid\"", "\"open\\u0069d\""), true),
            (replace(&json, "{\"iss\"", "{ \"iss\""), true),
            (
                replace(&json, "{\"iss\"", "{\"extra\":[1,{\"a\":null}],\"iss\""),
                true,
            ),
            (replace(&json, "\"ver\":1", "\"ver\":1,\"ver\":1"), false),
            (
                replace(&json, "\"exp\":1780000000", "\"exp\":1780000000.0"),
                false,
            ),
            (
                replace(&json, "\"exp\":1780000000", "\"exp\":01780000000"),
                false,
            ),
            (
                replace(&json, "\"exp\":1780000000", "\"exp\":\"1780000000\""),
                false,
            ),
            (
                replace(&json, "\"exp\":1780000000", "\"exp\":99999999999999999999"),
                false,
            ),
            (replace(&json, "\"ver\":1", "\"ver\":-1"), false),
            (replace(&json, "\"ver\":1", "\"ver\":4294967296"), false),
            (
                replace(
                    &json,
                    "019a0000-0000-7000-8000-000000000003",
                    "019a0000000070008000000000000003",
                ),
                true,
            ),
            (
                replace(&json, "\"dbs\":\"sandbox\"", "\"dbs\":\"Sandbox\""),
                false,
            ),
            (
                replace(&json, "\"tnt\":\"misapret\"", "\"tnt\":\"Misapret\""),
                false,
            ),
            (replace(&json, ",\"gid\"", ",\"gId\""), false),
            (
                replace(&json, "\"scp\":[\"openid\",\"email\"]", "\"scp\":[]"),
                true,
            ),
            (
                replace(&json, "\"scp\":[\"openid\",\"email\"]", "\"scp\":[1]"),
                false,
            ),
            ([json.as_slice(), b" "].concat(), true),
            ([json.as_slice(), b"x"].concat(), false),
        ];
        for (variant, accepted) in cases {
            let text = String::from_utf8_lossy(&variant).into_owned();
            let scanned = fast::access(&variant);
            if let Some(c) = &scanned {
                assert_eq!(Some(c), serde_parse(&variant).as_ref(), "{text}");
            }
            assert_eq!(
                AccessClaims::from_json(&variant),
                serde_parse(&variant),
                "{text}"
            );
            assert_eq!(
                AccessClaims::from_json(&variant).is_some(),
                accepted,
                "{text}"
            );
        }
        // Only the scalar-free spellings above may take the fast path; escapes and whitespace
        // never do.
        assert!(fast::access(&replace(&json, "\"openid\"", "\"open\\u0069d\"")).is_none());
        assert!(fast::access(&replace(&json, "{\"iss\"", "{ \"iss\"")).is_none());
    }

    fn id_claims(nonce: &str, name: &str) -> IdClaims<'static> {
        let a = fast::access(&written()).unwrap();
        IdClaims {
            iss: a.iss.clone(),
            sub: a.sub,
            aud: a.cid,
            azp: a.cid,
            cid: a.cid,
            dbs: Environment::Production,
            exp: a.exp,
            iat: a.iat,
            nbf: a.nbf,
            jti: a.jti,
            jtt: Cow::Borrowed(JTT_OPENID),
            tnt: a.tnt.clone(),
            ver: 1,
            auth_time: -5,
            gid: a.gid,
            nonce: Some(Cow::Owned(nonce.to_owned())),
            at_hash: Some("aGFzaA".to_owned()),
            c_hash: None,
            s_hash: Some("c3RhdGU".to_owned()),
            amr: vec!["pwd".to_owned(), "otp".to_owned()],
            profile: ProfileClaims {
                email: Some("ada@example.com".to_owned()),
                email_verified: Some(true),
                name: Some(name.to_owned()),
                phone_number_verified: Some(false),
                updated_at: Some(0),
                ..ProfileClaims::default()
            },
        }
    }

    #[test]
    fn claims_are_written_as_serde_writes_them() {
        let access = fast::access(&written()).unwrap();
        assert_eq!(access.to_json(), serde_json::to_vec(&access).unwrap());
        assert_eq!(access.to_json(), written());
        let id = id_claims("n-0S6_WzA2Mj", "Ada \"the\" Countess\n\u{1}\u{7f}é\\");
        assert_eq!(id.to_json(), serde_json::to_vec(&id).unwrap());
        let bare = IdClaims {
            nonce: None,
            at_hash: None,
            s_hash: None,
            amr: Vec::new(),
            profile: ProfileClaims::default(),
            ..id
        };
        assert_eq!(bare.to_json(), serde_json::to_vec(&bare).unwrap());
    }

    proptest! {
        /// Any strings, any numbers: the writer's bytes are serde_json's.
        #[test]
        fn the_writer_agrees_with_serde(
            iss in ".*",
            scopes in prop::collection::vec(".*", 0..4),
            exp in any::<i64>(),
            ver in any::<u32>(),
            nonce in ".*",
            name in ".*",
        ) {
            let mut access = fast::access(&written()).unwrap();
            access.iss = Cow::Owned(iss);
            access.scp = scopes.into_iter().map(Cow::Owned).collect();
            access.exp = exp;
            access.ver = ver;
            prop_assert_eq!(access.to_json(), serde_json::to_vec(&access).unwrap());
            let id = id_claims(&nonce, &name);
            prop_assert_eq!(id.to_json(), serde_json::to_vec(&id).unwrap());
        }

        /// The word-at-a-time helpers answer as the plain byte loops do.
        #[test]
        fn the_swar_helpers_agree_with_byte_loops(
            bytes in prop::collection::vec(
                prop::sample::select(b"\"\\ \x00\x1f\x20\x21\x5b\x5c\x5d\x7f\x80\xa2\xdc\xff".to_vec()),
                0..40,
            ),
        ) {
            prop_assert_eq!(
                fast::has_escape_or_control(&bytes),
                bytes.iter().any(|&c| c < 0x20 || c == b'\\')
            );
            prop_assert_eq!(
                fast::needs_escape(&bytes),
                bytes.iter().any(|&c| c < 0x20 || c == b'\\' || c == b'"')
            );
            prop_assert_eq!(
                fast::find_quote(&bytes),
                bytes.iter().position(|&c| c == b'"')
            );
        }

        /// Whatever one edit does to the claims, the scanner never accepts what serde refuses
        /// nor reads a value differently.
        #[test]
        fn the_scanner_agrees_with_serde(
            at in 0usize..400,
            op in 0u8..3,
            byte in prop::sample::select(b"\"\\,:{}[]-.e0123456789abfnrtu \x00\xff".to_vec()),
        ) {
            let mut json = written();
            let at = at % json.len();
            match op {
                0 => json[at] = byte,
                1 => { json.remove(at); }
                _ => json.insert(at, byte),
            }
            let serde = serde_parse(&json);
            if let Some(fast) = fast::access(&json) {
                prop_assert_eq!(Some(fast), serde.clone());
            }
            prop_assert_eq!(AccessClaims::from_json(&json), serde);
        }
    }
}
