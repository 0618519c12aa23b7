//! STUB (lead's placeholder until the crypto core lands).
#![allow(missing_docs)]

use super::keys::{KeyPair, PublicKey};
use crate::secret::base64url;

#[derive(Debug)]
pub struct JwsError;

pub struct Header {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
}

impl Header {
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

pub struct Decoded<'a> {
    header: Header,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl Decoded<'_> {
    pub fn header(&self) -> &Header {
        &self.header
    }
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

pub fn encode_token(typ: &str, claims: &[u8], key: &KeyPair) -> Result<String, JwsError> {
    let header = serde_json::json!({"alg": key.algorithm().as_str(), "kid": key.kid(), "typ": typ});
    let mut out = base64url(header.to_string().as_bytes());
    out.push('.');
    out.push_str(&base64url(claims));
    let sig = key.sign(out.as_bytes()).map_err(|_| JwsError)?;
    out.push('.');
    out.push_str(&base64url(&sig));
    Ok(out)
}

fn b64(s: &str) -> Result<Vec<u8>, JwsError> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return Err(JwsError),
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Ok(out)
}

pub fn decode(token: &str) -> Result<Decoded<'_>, JwsError> {
    let mut parts = token.split('.');
    let (h, p, s) = (
        parts.next().ok_or(JwsError)?,
        parts.next().ok_or(JwsError)?,
        parts.next().ok_or(JwsError)?,
    );
    if parts.next().is_some() {
        return Err(JwsError);
    }
    let hv: serde_json::Value = serde_json::from_slice(&b64(h)?).map_err(|_| JwsError)?;
    let alg = hv
        .get("alg")
        .and_then(|v| v.as_str())
        .ok_or(JwsError)?
        .to_owned();
    let header = Header {
        alg,
        typ: hv.get("typ").and_then(|v| v.as_str()).map(str::to_owned),
        kid: hv.get("kid").and_then(|v| v.as_str()).map(str::to_owned),
    };
    Ok(Decoded {
        header,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload: b64(p)?,
        signature: b64(s)?,
    })
}

pub fn verify(decoded: &Decoded<'_>, key: &PublicKey) -> Result<(), JwsError> {
    if decoded.header.alg != key.algorithm().as_str() {
        return Err(JwsError);
    }
    if key.verify(decoded.signing_input.as_bytes(), &decoded.signature) {
        Ok(())
    } else {
        Err(JwsError)
    }
}
