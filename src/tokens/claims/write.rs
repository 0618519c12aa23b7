//! A compact JSON object writer that produces serde_json's exact bytes for the claim types.

use uuid::Uuid;

use super::Metadata;
use crate::model::claims::MetaValue;

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
        self.number(value);
    }

    fn number(&mut self, value: i64) {
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

    /// The custom claims, each omitted when empty: `resource_owner_metadata`, `roles`,
    /// `actions`, `attributes`, `groups` (the order of the claim structs' fields).
    pub(super) fn custom(
        &mut self,
        metadata: &Metadata,
        roles: &[String],
        actions: &[String],
        attributes: &[String],
        groups: &[String],
    ) {
        if !metadata.is_empty() {
            self.key("resource_owner_metadata");
            self.buf.push(b'{');
            for (i, (name, value)) in metadata.iter().enumerate() {
                if i > 0 {
                    self.buf.push(b',');
                }
                escaped(&mut self.buf, name);
                self.buf.push(b':');
                match value {
                    MetaValue::Boolean(b) => {
                        self.buf
                            .extend_from_slice(if *b { b"true" } else { b"false" })
                    }
                    MetaValue::Integer(n) => self.number(*n),
                    MetaValue::Text(t) => escaped(&mut self.buf, t),
                }
            }
            self.buf.push(b'}');
        }
        for (key, list) in [
            ("roles", roles),
            ("actions", actions),
            ("attributes", attributes),
            ("groups", groups),
        ] {
            if !list.is_empty() {
                self.strs(key, list.iter().map(String::as_str));
            }
        }
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
