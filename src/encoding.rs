//! Byte-to-text encodings shared by every layer: base64url without padding (RFC 4648 §5, the
//! JOSE `BASE64URL`) and lowercase hex. A leaf module: it imports nothing from the crate.
//!
//! The base64url codec is strict (no `=`, no standard-alphabet characters, no whitespace, zero
//! trailing bits) and table-driven: it sits on the token verification hot path.

/// Text that is not canonical unpadded base64url.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Base64Error;

/// Base64url without padding.
pub(crate) fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(encoded_len(bytes.len()));
    encode_into(bytes, &mut out);
    ascii_string(out)
}

/// Decodes canonical unpadded base64url.
pub(crate) fn base64url_decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    let mut out = vec![0u8; decoded_len(text.len())?];
    decode_into(text.as_bytes(), &mut out)?;
    Ok(out)
}

/// Lowercase hex, appended to `out` (no allocation of its own: the signature check writes the
/// body digest straight into the canonical bytes).
pub(crate) fn hex_into(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
}

/// The 32 bytes that 64 lowercase hex digits spell; `None` for anything else.
pub(crate) fn unhex32(text: &str) -> Option<[u8; 32]> {
    let b = text.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// 12-bit value → its two base64url characters: encoding looks up two characters at a time.
const ENCODE2: [[u8; 2]; 4096] = {
    let mut table = [[0u8; 2]; 4096];
    let mut i = 0;
    while i < 4096 {
        table[i] = [ALPHABET[i >> 6], ALPHABET[i & 0x3f]];
        i += 1;
    }
    table
};

/// ASCII byte → its 6-bit value placed for position `i` of a group of four characters
/// (`v << (18 - 6i)`), or `INVALID` (high byte set) outside the alphabet: a group decodes with
/// four lookups and three ORs, and one check of the high byte at the end finds any invalid
/// character.
const DECODE4: [[u32; 256]; 4] = {
    let mut tables = [[INVALID; 256]; 4];
    let mut i = 0;
    while i < 64 {
        let c = ALPHABET[i] as usize;
        tables[0][c] = (i as u32) << 18;
        tables[1][c] = (i as u32) << 12;
        tables[2][c] = (i as u32) << 6;
        tables[3][c] = i as u32;
        i += 1;
    }
    tables
};
const INVALID: u32 = 0xff00_0000;

/// ASCII byte → 6-bit value, or 0xff for bytes outside the base64url alphabet.
const DECODE: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

pub(crate) const fn encoded_len(len: usize) -> usize {
    len / 3 * 4 + [0, 2, 3][len % 3]
}

/// The decoded length of `len` unpadded base64url characters; a length ≡ 1 (mod 4) is invalid.
pub(crate) fn decoded_len(len: usize) -> Result<usize, Base64Error> {
    match len % 4 {
        0 => Ok(len / 4 * 3),
        2 => Ok(len / 4 * 3 + 1),
        3 => Ok(len / 4 * 3 + 2),
        _ => Err(Base64Error),
    }
}

/// Appends the base64url encoding of `bytes` (ASCII only) to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + encoded_len(bytes.len()), 0);
    let sym = |n: u32, shift: u32| ALPHABET[((n >> shift) & 0x3f) as usize];
    // Six bytes → eight characters per step, then a last group of three, then the tail.
    let mut sixes = bytes.chunks_exact(6);
    let mut octets = out[start..].chunks_exact_mut(8);
    for (c, o) in (&mut sixes).zip(&mut octets) {
        let n = c.iter().fold(0u64, |n, &b| n << 8 | u64::from(b));
        for (i, pair) in o.chunks_exact_mut(2).enumerate() {
            pair.copy_from_slice(&ENCODE2[((n >> (36 - 12 * i)) & 0xfff) as usize]);
        }
    }
    let mut chunks = sixes.remainder().chunks_exact(3);
    let mut quads = octets.into_remainder().chunks_exact_mut(4);
    for (c, o) in (&mut chunks).zip(&mut quads) {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        o.copy_from_slice(&[sym(n, 18), sym(n, 12), sym(n, 6), sym(n, 0)]);
    }
    match (chunks.remainder(), quads.into_remainder()) {
        ([a], [o0, o1]) => {
            let n = u32::from(*a) << 16;
            (*o0, *o1) = (sym(n, 18), sym(n, 12));
        }
        ([a, b], [o0, o1, o2]) => {
            let n = u32::from(*a) << 16 | u32::from(*b) << 8;
            (*o0, *o1, *o2) = (sym(n, 18), sym(n, 12), sym(n, 6));
        }
        _ => {}
    }
}

/// `bytes` as a `String`: callers only ever write base64url characters, `.`, and JSON text
/// they took from `&str`s, so this never fails.
pub(crate) fn ascii_string(bytes: Vec<u8>) -> String {
    // Invariant: every writer into `bytes` writes valid UTF-8 (see above).
    String::from_utf8(bytes).expect("base64url output is ASCII")
}

/// Decodes `text` into `out`, which must be exactly `decoded_len(text.len())` bytes long.
pub(crate) fn decode_into(text: &[u8], out: &mut [u8]) -> Result<(), Base64Error> {
    let full = text.len() / 4;
    let (body, tail) = text.split_at(full * 4);
    let (out_body, out_tail) = out.split_at_mut_checked(full * 3).ok_or(Base64Error)?;
    // Invalid characters map to 0xff: OR-ing every looked-up value and checking the top bits
    // once at the end keeps the loops branch-free.
    let mut invalid = 0u8;
    let mut sextet = |c: u8| {
        let v = DECODE[usize::from(c)];
        invalid |= v;
        u64::from(v)
    };
    // Four characters → three bytes per step, then the tail.
    let [t0, t1, t2, t3] = &DECODE4;
    let mut invalid4 = 0u32;
    let group = |c: &[u8; 4]| {
        t0[usize::from(c[0])]
            | t1[usize::from(c[1])]
            | t2[usize::from(c[2])]
            | t3[usize::from(c[3])]
    };
    // Eight characters → six bytes per step (one wide store), then at most one group of four.
    let pairs = body.chunks_exact(8);
    let (odd, out_odd) = (pairs.remainder(), out_body.len() - out_body.len() % 6);
    for (c, o) in pairs.zip(out_body.chunks_exact_mut(6)) {
        if let Some((c0, c1)) = c.split_first_chunk::<4>()
            && let Some(c1) = c1.first_chunk::<4>()
            && let Some(o) = o.first_chunk_mut::<6>()
        {
            let (n0, n1) = (group(c0), group(c1));
            invalid4 |= n0 | n1;
            let v = u64::from(n0) << 40 | u64::from(n1 & 0x00ff_ffff) << 16;
            if let Some(bytes) = v.to_be_bytes().first_chunk::<6>() {
                *o = *bytes;
            }
        } else {
            return Err(Base64Error);
        }
    }
    // Every output byte is written, or the input is refused.
    match (odd.first_chunk::<4>(), out_body.get_mut(out_odd..)) {
        (Some(c), Some([o0, o1, o2])) => {
            let n = group(c);
            invalid4 |= n;
            (*o0, *o1, *o2) = ((n >> 16) as u8, (n >> 8) as u8, n as u8);
        }
        (None, Some([])) => {}
        _ => return Err(Base64Error),
    }
    if invalid4 & INVALID != 0 {
        return Err(Base64Error);
    }
    match (tail, out_tail) {
        ([], []) => {}
        ([a, b], [o0]) => {
            let n = sextet(*a) << 6 | sextet(*b);
            // Canonical: the 4 bits past the last byte are zero.
            if n & 0x0f != 0 {
                return Err(Base64Error);
            }
            *o0 = (n >> 4) as u8;
        }
        ([a, b, c], [o0, o1]) => {
            let n = sextet(*a) << 12 | sextet(*b) << 6 | sextet(*c);
            // Canonical: the 2 bits past the last byte are zero.
            if n & 0x03 != 0 {
                return Err(Base64Error);
            }
            (*o0, *o1) = ((n >> 10) as u8, (n >> 2) as u8);
        }
        _ => return Err(Base64Error),
    }
    if invalid & 0xc0 != 0 {
        return Err(Base64Error);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_and_refuses_padding() {
        assert_eq!(base64url_encode(b"fooba"), "Zm9vYmE");
        assert_eq!(base64url_decode("Zm9vYmE"), Ok(b"fooba".to_vec()));
        assert_eq!(base64url_decode("Zg=="), Err(Base64Error));
        assert_eq!(base64url_decode("Zh"), Err(Base64Error));
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
