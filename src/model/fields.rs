//! Input types that are valid by construction: parse, don't validate.
//!
//! Each type's `parse` returns the value or the [`FieldProblem`] that describes what was wrong;
//! the directory services attach the field's wire name, so callers get
//! [`Error::InvalidField`](crate::Error::InvalidField) naming exactly which input failed.
//! Nothing here panics on any input.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::FieldProblem;

/// Implements `Display`, `AsRef<str>`, `FromStr`, `TryFrom<String>` and serde for a string newtype
/// whose `parse` is the only way in.
macro_rules! string_type {
    ($t:ident) => {
        impl $t {
            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl FromStr for $t {
            type Err = FieldProblem;
            fn from_str(s: &str) -> Result<Self, FieldProblem> {
                Self::parse(s)
            }
        }
        impl TryFrom<String> for $t {
            type Error = FieldProblem;
            fn try_from(s: String) -> Result<Self, FieldProblem> {
                Self::parse(&s)
            }
        }
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Maximum length of a [`Name`], in Unicode code points.
pub const NAME_MAX: usize = 255;
/// Maximum length of a [`Text`], in Unicode code points.
pub const TEXT_MAX: usize = 2048;
/// Maximum length of an [`HttpUrl`], [`RedirectUri`] or [`Origin`], in bytes.
pub const URL_MAX: usize = 2048;
/// Maximum length of an [`Email`], in bytes (RFC 5321 path limit).
pub const EMAIL_MAX: usize = 254;

/// A single-line name: trimmed, 1 to [`NAME_MAX`] code points, no control characters.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Name(String);
string_type!(Name);

impl Name {
    /// Parses a name.
    ///
    /// # Errors
    /// [`FieldProblem::Empty`], [`FieldProblem::TooLong`] or [`FieldProblem::ControlCharacters`].
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        bounded(s, NAME_MAX, Lines::Single).map(Self)
    }
}

/// Free text: trimmed, 1 to [`TEXT_MAX`] code points; line breaks and tabs allowed, other control
/// characters not.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Text(String);
string_type!(Text);

impl Text {
    /// Parses free text.
    ///
    /// # Errors
    /// [`FieldProblem::Empty`], [`FieldProblem::TooLong`] or [`FieldProblem::ControlCharacters`].
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        bounded(s, TEXT_MAX, Lines::Multi).map(Self)
    }
}

#[derive(PartialEq)]
enum Lines {
    Single,
    Multi,
}

fn bounded(s: &str, max: usize, lines: Lines) -> Result<String, FieldProblem> {
    let t = s.trim();
    if t.is_empty() {
        return Err(FieldProblem::Empty);
    }
    // Count at most max + 1 code points: a 10 MB input costs no more than a short one.
    if t.chars().take(max + 1).count() > max {
        return Err(FieldProblem::TooLong { max });
    }
    let allowed = |c: char| lines == Lines::Multi && matches!(c, '\n' | '\r' | '\t');
    if t.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(FieldProblem::ControlCharacters);
    }
    Ok(t.to_owned())
}

/// An ISO 3166-1 alpha-2 country code, stored uppercase (`FR`, `US`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses an officially assigned ISO 3166-1 alpha-2 code; lowercase input is accepted.
    ///
    /// # Errors
    /// [`FieldProblem::Format`] when the code is not an assigned alpha-2 code.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        let upper = s.trim().to_ascii_uppercase();
        if COUNTRY_CODES.binary_search(&upper.as_str()).is_err() {
            return Err(FieldProblem::Format(
                "must be an ISO 3166-1 alpha-2 country code",
            ));
        }
        let b = upper.as_bytes();
        Ok(Self([b[0], b[1]]))
    }

    /// The two uppercase letters.
    pub fn as_str(&self) -> &str {
        // Invariant: both bytes come from COUNTRY_CODES, which is uppercase ASCII.
        std::str::from_utf8(&self.0).unwrap_or("ZZ")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CountryCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The officially assigned ISO 3166-1 alpha-2 codes, sorted.
const COUNTRY_CODES: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// An absolute `http` or `https` URL with a host, and no user information (`user@host`).
///
/// The text is kept exactly as given (only surrounding whitespace is trimmed), so that later
/// comparisons are exact.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct HttpUrl(String);
string_type!(HttpUrl);

impl HttpUrl {
    /// Parses an absolute http(s) URL.
    ///
    /// # Errors
    /// [`FieldProblem`] naming the first problem found (relative URL, other scheme such as
    /// `javascript:`, missing host, user information, bad port, spaces or control characters …).
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        let s = s.trim();
        parse_url(s)?;
        Ok(Self(s.to_owned()))
    }

    /// The scheme, `http` or `https`.
    pub fn scheme(&self) -> &str {
        self.0.split_once("://").map_or("", |(scheme, _)| scheme)
    }

    /// The host, as written (IPv6 literals keep their brackets).
    pub fn host(&self) -> &str {
        // Invariant: parse_url accepted the value, so it has an authority.
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        split_port(authority).0
    }
}

/// A redirect URI an application registers: an [`HttpUrl`] without a fragment (RFC 6749 §3.1.2).
/// Compared byte for byte at sign-in.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct RedirectUri(String);
string_type!(RedirectUri);

impl RedirectUri {
    /// Parses a redirect URI.
    ///
    /// # Errors
    /// As [`HttpUrl::parse`], plus [`FieldProblem::Format`] when it has a fragment.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        let url = HttpUrl::parse(s)?;
        if url.0.contains('#') {
            return Err(FieldProblem::Format("must not contain a fragment"));
        }
        Ok(Self(url.0))
    }
}

/// A web origin: `scheme://host[:port]`, nothing after it.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Origin(String);
string_type!(Origin);

impl Origin {
    /// Parses an origin.
    ///
    /// # Errors
    /// As [`HttpUrl::parse`], plus [`FieldProblem::Format`] when a path, query or fragment follows
    /// the host.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        let url = HttpUrl::parse(s)?;
        let rest = url.0.split_once("://").map_or("", |(_, rest)| rest);
        if rest.contains(['/', '?', '#']) {
            return Err(FieldProblem::Format(
                "must be an origin (scheme://host[:port]) without path, query or fragment",
            ));
        }
        Ok(Self(url.0))
    }
}

fn parse_url(s: &str) -> Result<(), FieldProblem> {
    if s.is_empty() {
        return Err(FieldProblem::Empty);
    }
    if s.len() > URL_MAX {
        return Err(FieldProblem::TooLong { max: URL_MAX });
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(FieldProblem::ControlCharacters);
    }
    if s.chars()
        .any(|c| !c.is_ascii() || c.is_ascii_whitespace() || c == '\\')
    {
        return Err(FieldProblem::Format(
            "must be ASCII without spaces or backslashes (percent-encode other characters)",
        ));
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(FieldProblem::Format(
            "must be an absolute http:// or https:// url",
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(FieldProblem::Format(
            "must be an absolute http:// or https:// url",
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(FieldProblem::Format(
            "must not contain user information (user@host)",
        ));
    }
    let (host, port) = split_port(authority);
    if host.is_empty() {
        return Err(FieldProblem::Format("must have a host"));
    }
    if let Some(v6) = host.strip_prefix('[') {
        let Some(inner) = v6.strip_suffix(']') else {
            return Err(FieldProblem::Format("has an unterminated IPv6 host"));
        };
        // Only `:port` may follow the closing bracket (`[::1]evil.com` is not a host).
        let after = authority.get(host.len()..).unwrap_or("");
        if !after.is_empty() && !after.starts_with(':') {
            return Err(FieldProblem::Format("has an invalid IPv6 host"));
        }
        if inner.is_empty()
            || !inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(FieldProblem::Format("has an invalid IPv6 host"));
        }
    } else {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
        if !host.chars().all(valid_char) || host.split('.').any(|l| l.is_empty()) && host != "." {
            return Err(FieldProblem::Format("has an invalid host"));
        }
        if host.starts_with('.') || host.contains("..") {
            return Err(FieldProblem::Format("has an invalid host"));
        }
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        if !valid {
            return Err(FieldProblem::Format("has an invalid port"));
        }
    }
    // Every percent sign must start a %HH escape.
    let bytes = s.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(FieldProblem::Format("has an invalid percent-encoding"));
            }
        }
    }
    Ok(())
}

/// Splits `host[:port]`, minding IPv6 literals.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => {
                let (host, after) = authority.split_at(end + 1);
                (host, after.strip_prefix(':'))
            }
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

/// An e-mail address: `local@domain.tld`, at most [`EMAIL_MAX`] bytes.
///
/// The address is kept as given; [`Email::key`] is its lowercase form, under which uniqueness
/// (one user per address per organization) is decided, case-insensitively.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Email(String);
string_type!(Email);

impl Email {
    /// Parses an address.
    ///
    /// # Errors
    /// [`FieldProblem`] when there is no `@`, the local part is empty or longer than 64 bytes, the
    /// domain has no dot or an invalid label, or the text has spaces or control characters.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        let s = s.trim();
        if s.is_empty() {
            return Err(FieldProblem::Empty);
        }
        if s.len() > EMAIL_MAX {
            return Err(FieldProblem::TooLong { max: EMAIL_MAX });
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(FieldProblem::Format(
                "must not contain spaces or control characters",
            ));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(FieldProblem::Format(
                "must be an address like name@example.com",
            ));
        };
        let special = |c: char| {
            matches!(
                c,
                '@' | '(' | ')' | '<' | '>' | ',' | ';' | ':' | '\\' | '"' | '[' | ']'
            )
        };
        if local.is_empty() || local.len() > 64 || local.chars().any(special) {
            return Err(FieldProblem::Format("has an invalid part before the @"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(FieldProblem::Format("has an invalid part before the @"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(FieldProblem::Format(
                "must have a domain like example.com after the @",
            ));
        }
        if labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(FieldProblem::Format(
                "must have a domain like example.com after the @",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The case-insensitive key: the whole address in lowercase.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A phone number in E.164 form: `+` and 7 to 15 digits, the first not zero.
///
/// Visual separators (spaces, `-`, `.`, parentheses) are accepted on input and removed, so
/// `+1-555-415-1337` is stored as `+15554151337`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PhoneNumber(String);
string_type!(PhoneNumber);

impl PhoneNumber {
    /// Parses a phone number.
    ///
    /// # Errors
    /// [`FieldProblem::Format`] when it is not in E.164 form.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        const E164: &str = "must be an E.164 number like +33123456789";
        let s = s.trim();
        if s.len() > 32 {
            return Err(FieldProblem::Format(E164));
        }
        let Some(rest) = s.strip_prefix('+') else {
            return Err(FieldProblem::Format(E164));
        };
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(FieldProblem::Format(E164)),
            }
        }
        if !(7..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(FieldProblem::Format(E164));
        }
        Ok(Self(format!("+{digits}")))
    }
}

/// A birth date, `YYYY-MM-DD`, a real calendar date.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Birthdate(time::Date);

impl Birthdate {
    /// Parses `YYYY-MM-DD`.
    ///
    /// # Errors
    /// [`FieldProblem::Format`] for any other shape or an impossible date (`2023-02-30`).
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        const FORMAT: &str = "must be a date in YYYY-MM-DD form";
        let b = s.trim().as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if b.len() != 10
            || b[4] != b'-'
            || b[7] != b'-'
            || !digits(0..4)
            || !digits(5..7)
            || !digits(8..10)
        {
            return Err(FieldProblem::Format(FORMAT));
        }
        let num = |r: std::ops::Range<usize>| {
            b[r].iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
        };
        let year = i32::try_from(num(0..4)).map_err(|_| FieldProblem::Format(FORMAT))?;
        let month = u8::try_from(num(5..7))
            .ok()
            .and_then(|m| time::Month::try_from(m).ok())
            .ok_or(FieldProblem::Format(FORMAT))?;
        let day = u8::try_from(num(8..10)).map_err(|_| FieldProblem::Format(FORMAT))?;
        time::Date::from_calendar_date(year, month, day)
            .map(Self)
            .map_err(|_| FieldProblem::Format("must be a real calendar date"))
    }

    /// The date.
    pub fn date(&self) -> time::Date {
        self.0
    }
}

impl fmt::Display for Birthdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}",
            d.year(),
            u8::from(d.month()),
            d.day()
        )
    }
}

impl Serialize for Birthdate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Birthdate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A BCP 47 language tag such as `fr`, `en-US` or `zh-Hant-TW` (shape checked, at most 35 characters).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Locale(String);
string_type!(Locale);

impl Locale {
    /// Parses a language tag; `_` separators are accepted as written.
    ///
    /// # Errors
    /// [`FieldProblem::Format`] for anything that is not a language tag.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        const FORMAT: &str = "must be a language tag like fr or en-US";
        let s = s.trim();
        if s.is_empty() || s.len() > 35 {
            return Err(FieldProblem::Format(FORMAT));
        }
        let mut parts = s.split(['-', '_']);
        let lang = parts.next().unwrap_or("");
        let lang_ok =
            (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_alphabetic());
        let rest_ok = parts
            .all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !lang_ok || !rest_ok {
            return Err(FieldProblem::Format(FORMAT));
        }
        Ok(Self(s.to_owned()))
    }
}

/// An IANA time zone name such as `Europe/Paris` or `UTC` (shape checked, not looked up).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ZoneInfo(String);
string_type!(ZoneInfo);

impl ZoneInfo {
    /// Parses a time zone name.
    ///
    /// # Errors
    /// [`FieldProblem::Format`] for anything not shaped like `Area/Location`, `UTC` or `GMT`.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        const FORMAT: &str = "must be an IANA time zone like Europe/Paris";
        let s = s.trim();
        if s.is_empty() || s.len() > 64 {
            return Err(FieldProblem::Format(FORMAT));
        }
        let segment_ok = |p: &str| {
            p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        };
        if !s.split('/').all(segment_ok) {
            return Err(FieldProblem::Format(FORMAT));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A person's gender, as OpenID Connect defines it: `female`, `male`, or another single-line value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Gender(String);
string_type!(Gender);

impl Gender {
    /// Parses a gender value (1 to 64 code points, single line).
    ///
    /// # Errors
    /// As [`Name::parse`], with a 64 code point limit.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        bounded(s, 64, Lines::Single).map(Self)
    }
}

/// A color in `#rrggbb` form, as `avatar_hexa_color`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct HexColor(String);
string_type!(HexColor);

impl HexColor {
    /// Parses `#rrggbb` (lowercase or uppercase hex digits; stored lowercase).
    ///
    /// # Errors
    /// [`FieldProblem::Format`] for any other shape.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        let s = s.trim();
        match s.strip_prefix('#') {
            Some(hex) if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                Ok(Self(s.to_ascii_lowercase()))
            }
            _ => Err(FieldProblem::Format("must be a color like #1a2b3c")),
        }
    }

    /// A random color from the OS CSPRNG.
    ///
    /// # Errors
    /// [`crate::Error::Random`] if the OS generator fails.
    pub fn random() -> Result<Self, crate::Error> {
        let rgb = crate::secret::random_array::<3>()?;
        Ok(Self(format!("#{}", crate::secret::hex(&rgb))))
    }
}
