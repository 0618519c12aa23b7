//! Passwords: NIST SP 800-63B rules, argon2id hashes in PHC strings, PBKDF2-SHA256 imports, the
//! hashing offload and the breached-password check.
//!
//! # Rules (NIST SP 800-63B §3.1.1)
//! - At least [`PasswordPolicy::min_length`] (default 8) and at most
//!   [`PasswordPolicy::max_length`] (default 128, never below 64) Unicode code points; every
//!   character is allowed, spaces included; no composition rules ("a digit and a symbol").
//! - Never truncated: the whole UTF-8 string is hashed.
//! - Unicode-normalized before anything else (§5.1.1.2): NFKC, which also maps the non-ASCII
//!   spaces (no-break, ideographic, the typographic widths) to U+0020 and full-width letters to
//!   their ASCII forms, so a password typed on another keyboard or OS is the same password. The
//!   length rules, the e-mail comparison, the breached-password check and the hash all see the
//!   normalized form ([`Password::normalized`]).
//! - Refused when it appears in the host's breached-password list
//!   ([`BreachedPasswords`]), or equals the account's e-mail address, its local part or the
//!   username.
//!
//! # Hashes
//! New hashes are argon2id (RFC 9106) with [`Argon2Params`] (default m = 19 MiB, t = 2, p = 1,
//! OWASP's first choice), a 128-bit salt from the OS CSPRNG and a 256-bit output, written as a
//! PHC string: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
//!
//! Hashes imported from other systems are verified too: argon2id/argon2i/argon2d PHC strings
//! with any parameters (within sane bounds), PBKDF2-SHA256 as a PHC string
//! (`$pbkdf2-sha256$i=600000,l=32$<salt>$<hash>`) or in passlib's form
//! (`$pbkdf2-sha256$29000$<ab64 salt>$<ab64 hash>`). A successful sign-in replaces any hash that
//! is not argon2id with the current parameters ([`Verification::MatchNeedsRehash`]).
//!
//! Hashes written before normalization (or imported from a system that did not normalize)
//! keep verifying: when the normalized password does not match and normalizing changed it,
//! the password as typed is tried once more; a match there is `MatchNeedsRehash`, and the
//! rehash stores the normalized form. A password that normalizing leaves unchanged (every ASCII
//! password) costs one hash, as before; one it changes costs two, for a known and an unknown
//! account alike.
//!
//! # Not blocking the executor
//! One argon2id hash at the default parameters takes ~14 ms of CPU. Run on an async executor's
//! worker thread, that stalls every other task of the thread for as long. The [`Offload`] hook
//! decides where hashing runs: [`Inline`] (the default: on the calling task — fine for tests,
//! CLIs and low traffic), [`TokioOffload`] (feature `tokio`: `tokio::task::spawn_blocking`), or
//! the host's own pool. Set it with
//! [`IdentityBuilder::password_offload`](crate::IdentityBuilder::password_offload).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

use crate::error::{ConfigError, Error, FieldProblem};
use crate::secret::{constant_time_eq, random_array};

/// A password as the user typed it. `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password. Nothing is checked here: [`PasswordPolicy::check`] applies the rules
    /// when a password is set, and sign-in takes whatever was typed.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself. Handle with care: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its length in Unicode code points, as typed.
    pub fn chars(&self) -> usize {
        self.0.chars().count()
    }

    /// Whether the password is longer than `max` code points once normalized (what the length
    /// rules count). Input over four times as long is refused without normalizing it: no
    /// normalization shrinks text that much.
    pub fn longer_than(&self, max: usize) -> bool {
        let typed = self.chars();
        typed > max && (typed > max.saturating_mul(4) || self.normalized().chars().count() > max)
    }

    /// The password in Unicode Normalization Form KC: what is checked and hashed. Borrowed
    /// when the password is normalized already (every ASCII password).
    pub fn normalized(&self) -> Cow<'_, str> {
        if is_nfkc_quick(self.0.chars()) == IsNormalized::Yes {
            Cow::Borrowed(&self.0)
        } else {
            let normalized: String = self.0.nfkc().collect();
            if normalized == self.0 {
                Cow::Borrowed(&self.0)
            } else {
                Cow::Owned(normalized)
            }
        }
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// Length limits of new passwords (NIST SP 800-63B). Checked at build time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PasswordPolicy {
    /// Minimum length in code points. Defaults to 8; 8 to 64.
    pub min_length: usize,
    /// Maximum length in code points. Defaults to 128; 64 to 4096, and not below `min_length`.
    /// Sign-in refuses a longer password without hashing it (raise this before importing
    /// hashes of longer passwords).
    pub max_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 128,
        }
    }
}

impl PasswordPolicy {
    /// Checks the bounds.
    ///
    /// # Errors
    /// [`ConfigError::Inconsistent`] when a bound is outside its range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(8..=64).contains(&self.min_length) {
            return Err(ConfigError::Inconsistent(
                "password min_length must be between 8 and 64",
            ));
        }
        if !(64..=4096).contains(&self.max_length) || self.max_length < self.min_length {
            return Err(ConfigError::Inconsistent(
                "password max_length must be between 64 and 4096",
            ));
        }
        Ok(())
    }

    /// Checks a new password's length (code points, nothing truncated).
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `password`: [`FieldProblem::Empty`],
    /// [`FieldProblem::TooShort`] or [`FieldProblem::TooLong`].
    pub fn check(&self, password: &Password) -> Result<(), Error> {
        let n = password.normalized().chars().count();
        if n == 0 {
            return Err(Error::field("password", FieldProblem::Empty));
        }
        if n < self.min_length {
            return Err(Error::field(
                "password",
                FieldProblem::TooShort {
                    min: self.min_length,
                },
            ));
        }
        if n > self.max_length {
            return Err(Error::field(
                "password",
                FieldProblem::TooLong {
                    max: self.max_length,
                },
            ));
        }
        Ok(())
    }
}

/// argon2id cost parameters of new hashes. Checked at build time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Argon2Params {
    /// Memory in KiB. Defaults to 19456 (19 MiB); 8 KiB to 1 GiB, and at least 8 × parallelism.
    pub memory_kib: u32,
    /// Passes over memory. Defaults to 2; 1 to 64.
    pub iterations: u32,
    /// Lanes. Defaults to 1; 1 to 16.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Bounds on stored parameters: a stored hash asking for more is refused as malformed, so an
/// imported record cannot make a verification take minutes or gigabytes.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const MAX_PARALLELISM: u32 = 16;
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

impl Argon2Params {
    /// Checks the bounds.
    ///
    /// # Errors
    /// [`ConfigError::Inconsistent`] when a parameter is outside its range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ok = (1..=MAX_ITERATIONS).contains(&self.iterations)
            && (1..=MAX_PARALLELISM).contains(&self.parallelism)
            && self.memory_kib <= MAX_MEMORY_KIB
            && self.memory_kib >= 8 * self.parallelism;
        if !ok {
            return Err(ConfigError::Inconsistent(
                "argon2 parameters out of bounds (memory 8 KiB × parallelism to 1 GiB, iterations 1 to 64, parallelism 1 to 16)",
            ));
        }
        Ok(())
    }
}

/// The outcome of [`verify_password`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verification {
    /// The password matches and the hash uses the current parameters.
    Match,
    /// The password matches; the hash is not argon2id with the current parameters and should be
    /// replaced by [`hash_password`] of the same password.
    MatchNeedsRehash,
    /// The password does not match.
    Mismatch,
}

/// Hashes a password with argon2id and a fresh random salt, as a PHC string.
///
/// # Errors
/// [`Error::Random`] when the OS generator fails; [`Error::ApiMisuse`] for parameters that
/// [`Argon2Params::validate`] would refuse.
pub fn hash_password(password: &Password, params: &Argon2Params) -> Result<String, Error> {
    let salt: [u8; SALT_LEN] = random_array()?;
    let mut out = [0u8; HASH_LEN];
    argon2_raw(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
        password.normalized().as_bytes(),
        &salt,
        &mut out,
    )?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        b64_encode(&salt, STANDARD),
        b64_encode(&out, STANDARD)
    ))
}

/// Verifies a password against a stored PHC string (argon2id/i/d, PBKDF2-SHA256), in constant
/// time with respect to the hash comparison. `current` decides whether a match needs a rehash.
///
/// # Errors
/// [`Error::InvalidField`] naming `password_hash` when the stored string is not a supported,
/// well-formed hash within the bounds.
pub fn verify_password(
    stored: &str,
    password: &Password,
    current: &Argon2Params,
) -> Result<Verification, Error> {
    let parsed = StoredHash::parse(stored)?;
    let normalized = password.normalized();
    let mut current_ok = matches!(
        &parsed,
        StoredHash::Argon2 { algorithm: argon2::Algorithm::Argon2id, version: argon2::Version::V0x13, params, .. }
            if params == current
    );
    if !parsed.matches(normalized.as_bytes())? {
        // A hash of the password as typed (written before normalization, or imported): tried
        // once, and replaced by the normalized form's hash when it matches.
        if normalized == password.expose() || !parsed.matches(password.expose().as_bytes())? {
            return Ok(Verification::Mismatch);
        }
        current_ok = false;
    }
    Ok(if current_ok {
        Verification::Match
    } else {
        Verification::MatchNeedsRehash
    })
}

/// Checks that a hash imported from another system is one [`verify_password`] understands.
///
/// # Errors
/// [`Error::InvalidField`] naming `password_hash`.
pub fn check_password_hash(stored: &str) -> Result<(), Error> {
    StoredHash::parse(stored).map(drop)
}

/// Spends the time of one verification against a hash with `params` without any stored hash:
/// what sign-in does for an unknown user, so that answering takes as long as for a wrong
/// password.
pub(crate) fn dummy_verification(password: &Password, params: &Argon2Params) {
    let normalized = password.normalized();
    // As many hashes as a wrong password of a known account costs (two when normalizing
    // changed it), so the time says nothing about the account.
    let rounds = if normalized == password.expose() {
        1
    } else {
        2
    };
    for _ in 0..rounds {
        let mut out = [0u8; HASH_LEN];
        let _ = argon2_raw(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
            normalized.as_bytes(),
            b"idcore-dummy-salt",
            &mut out,
        );
        std::hint::black_box(out);
    }
}

fn argon2_raw(
    algorithm: argon2::Algorithm,
    version: argon2::Version,
    params: &Argon2Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let p = argon2::Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(out.len()),
    )
    .map_err(|_| Error::ApiMisuse("argon2 parameters"))?;
    argon2::Argon2::new(algorithm, version, p)
        .hash_password_into(password, salt, out)
        .map_err(|_| Error::ApiMisuse("argon2 input"))
}

/// A parsed stored hash.
enum StoredHash {
    Argon2 {
        algorithm: argon2::Algorithm,
        version: argon2::Version,
        params: Argon2Params,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Pbkdf2Sha256 {
        iterations: NonZeroU32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

fn malformed(what: &'static str) -> Error {
    Error::field("password_hash", FieldProblem::Format(what))
}

impl StoredHash {
    /// Whether `password` hashes to this hash (the comparison in constant time).
    fn matches(&self, password: &[u8]) -> Result<bool, Error> {
        Ok(match self {
            Self::Argon2 {
                algorithm,
                version,
                params,
                salt,
                hash,
            } => {
                let mut out = vec![0u8; hash.len()];
                argon2_raw(*algorithm, *version, params, password, salt, &mut out)?;
                constant_time_eq(&out, hash)
            }
            Self::Pbkdf2Sha256 {
                iterations,
                salt,
                hash,
            } => ring::pbkdf2::verify(
                ring::pbkdf2::PBKDF2_HMAC_SHA256,
                *iterations,
                salt,
                password,
                hash,
            )
            .is_ok(),
        })
    }

    fn parse(s: &str) -> Result<Self, Error> {
        let Some(rest) = s.strip_prefix('$') else {
            return Err(malformed("must be a PHC string starting with $"));
        };
        // `split` yields at least one part, so `parts[1..]` below is always in bounds.
        let parts: Vec<&str> = rest.split('$').collect();
        match parts.first().copied() {
            Some("argon2id") => Self::argon2(argon2::Algorithm::Argon2id, &parts[1..]),
            Some("argon2i") => Self::argon2(argon2::Algorithm::Argon2i, &parts[1..]),
            Some("argon2d") => Self::argon2(argon2::Algorithm::Argon2d, &parts[1..]),
            Some("pbkdf2-sha256") => Self::pbkdf2(&parts[1..]),
            _ => Err(malformed(
                "must be an argon2id, argon2i, argon2d or pbkdf2-sha256 hash",
            )),
        }
    }

    /// `[v=19$]m=…,t=…,p=…$salt$hash`
    fn argon2(algorithm: argon2::Algorithm, parts: &[&str]) -> Result<Self, Error> {
        // `parts[1..]` only where `parts.first()` matched: in bounds.
        let (version, parts) = match parts.first().and_then(|p| p.strip_prefix("v=")) {
            Some("19") => (argon2::Version::V0x13, &parts[1..]),
            Some("16") => (argon2::Version::V0x10, &parts[1..]),
            Some(_) => return Err(malformed("has an unsupported argon2 version")),
            None => (argon2::Version::V0x10, parts),
        };
        let [params, salt, hash] = parts else {
            return Err(malformed("must be $argon2id$v=19$m=…,t=…,p=…$salt$hash"));
        };
        let (mut m, mut t, mut p) = (None, None, None);
        for kv in params.split(',') {
            let (k, v) = kv
                .split_once('=')
                .ok_or(malformed("has malformed argon2 parameters"))?;
            let v = parse_decimal(v).ok_or(malformed("has malformed argon2 parameters"))?;
            let slot = match k {
                "m" => &mut m,
                "t" => &mut t,
                "p" => &mut p,
                _ => return Err(malformed("has an unknown argon2 parameter")),
            };
            if slot.replace(v).is_some() {
                return Err(malformed("repeats an argon2 parameter"));
            }
        }
        let (Some(m), Some(t), Some(p)) = (m, t, p) else {
            return Err(malformed("must give argon2 parameters m, t and p"));
        };
        let params = Argon2Params {
            memory_kib: m,
            iterations: t,
            parallelism: p,
        };
        params
            .validate()
            .map_err(|_| malformed("has argon2 parameters out of bounds"))?;
        let salt = b64_decode(salt, STANDARD).ok_or(malformed("has a malformed salt"))?;
        let hash = b64_decode(hash, STANDARD).ok_or(malformed("has a malformed hash"))?;
        check_lengths(&salt, &hash)?;
        Ok(Self::Argon2 {
            algorithm,
            version,
            params,
            salt,
            hash,
        })
    }

    /// PHC `i=…[,l=…]$salt$hash` (standard base64) or passlib `rounds$salt$hash` (ab64).
    fn pbkdf2(parts: &[&str]) -> Result<Self, Error> {
        let [params, salt, hash] = parts else {
            return Err(malformed("must be $pbkdf2-sha256$i=…$salt$hash"));
        };
        let (iterations, alphabet) = if let Some(n) = parse_decimal(params) {
            (n, AB64)
        } else {
            let mut iterations = None;
            let mut length = None;
            for kv in params.split(',') {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or(malformed("has malformed pbkdf2 parameters"))?;
                let v = parse_decimal(v).ok_or(malformed("has malformed pbkdf2 parameters"))?;
                let slot = match k {
                    "i" => &mut iterations,
                    "l" => &mut length,
                    _ => return Err(malformed("has an unknown pbkdf2 parameter")),
                };
                if slot.replace(v).is_some() {
                    return Err(malformed("repeats a pbkdf2 parameter"));
                }
            }
            let iterations = iterations.ok_or(malformed("must give the pbkdf2 iterations"))?;
            if let Some(l) = length {
                let decoded = b64_decode(hash, STANDARD).map_or(0, |h| h.len());
                if usize::try_from(l).ok() != Some(decoded) {
                    return Err(malformed("has a hash whose length is not l"));
                }
            }
            (iterations, STANDARD)
        };
        if iterations > MAX_PBKDF2_ITERATIONS {
            return Err(malformed("has pbkdf2 iterations out of bounds"));
        }
        let iterations =
            NonZeroU32::new(iterations).ok_or(malformed("has pbkdf2 iterations out of bounds"))?;
        let salt = b64_decode(salt, alphabet).ok_or(malformed("has a malformed salt"))?;
        let hash = b64_decode(hash, alphabet).ok_or(malformed("has a malformed hash"))?;
        check_lengths(&salt, &hash)?;
        Ok(Self::Pbkdf2Sha256 {
            iterations,
            salt,
            hash,
        })
    }
}

fn check_lengths(salt: &[u8], hash: &[u8]) -> Result<(), Error> {
    if !(8..=64).contains(&salt.len()) {
        return Err(malformed("has a salt of other than 8 to 64 bytes"));
    }
    if !(16..=64).contains(&hash.len()) {
        return Err(malformed("has a hash of other than 16 to 64 bytes"));
    }
    Ok(())
}

/// A plain decimal `u32`: digits only, no sign, no leading zeros (except `0` itself).
fn parse_decimal(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// The PHC base64 alphabet (standard, no padding).
const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// passlib's "adapted base64": `.` instead of `+`.
const AB64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./";

fn b64_encode(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 0x3f) as usize]));
        }
    }
    out
}

/// Decodes unpadded base64 in `alphabet`; `None` for any other character, a length of 1 mod 4,
/// or non-zero trailing bits (so each value has exactly one encoding).
fn b64_decode(s: &str, alphabet: &[u8; 64]) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for b in s.bytes() {
        let v = alphabet.iter().position(|&a| a == b)?;
        acc = (acc << 6) | u32::try_from(v).ok()?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    if acc & ((1 << bits) - 1) != 0 {
        return None;
    }
    Some(out)
}

/// A unit of blocking work handed to an [`Offload`].
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// The future an [`Offload`] returns: it resolves once the job has run.
pub type OffloadFuture = Pin<Box<dyn Future<Output = Result<(), OffloadError>> + Send + 'static>>;

/// Where CPU-heavy password hashing runs. See the [module docs](self).
///
/// ```
/// use idcore::signin::password::{Job, Offload, OffloadFuture};
///
/// /// Runs each job on a fresh OS thread (a real host would use a bounded pool).
/// struct Threads;
///
/// impl Offload for Threads {
///     fn run(&self, job: Job) -> OffloadFuture {
///         let handle = std::thread::spawn(job);
///         Box::pin(async move {
///             // A real implementation would await a channel instead of joining.
///             handle.join().map_err(|_| idcore::signin::password::OffloadError::new("panicked"))
///         })
///     }
/// }
/// ```
pub trait Offload: Send + Sync + 'static {
    /// Runs `job` away from the async executor's worker threads; the returned future resolves
    /// once it has run.
    fn run(&self, job: Job) -> OffloadFuture;
}

/// The offload could not run a job (its pool is gone, the job panicked).
#[derive(Debug, thiserror::Error)]
#[error("the hashing offload failed: {0}")]
pub struct OffloadError(&'static str);

impl OffloadError {
    /// An error saying what went wrong.
    pub fn new(what: &'static str) -> Self {
        Self(what)
    }
}

/// Runs jobs on the calling task, blocking it for the duration of the hash. The default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inline;

impl Offload for Inline {
    fn run(&self, job: Job) -> OffloadFuture {
        job();
        Box::pin(async { Ok(()) })
    }
}

/// Runs jobs with `tokio::task::spawn_blocking` (feature `tokio`). Must be used from inside a
/// tokio runtime.
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioOffload;

#[cfg(feature = "tokio")]
impl Offload for TokioOffload {
    fn run(&self, job: Job) -> OffloadFuture {
        let handle = tokio::task::spawn_blocking(job);
        Box::pin(async move {
            handle
                .await
                .map_err(|_| OffloadError::new("the blocking task failed"))
        })
    }
}

/// Runs `f` through `offload` and returns its result.
pub(crate) async fn offloaded<T, F>(offload: &dyn Offload, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let slot = Arc::new(Mutex::new(None));
    let writer = Arc::clone(&slot);
    offload
        .run(Box::new(move || {
            let value = f();
            *writer.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
        }))
        .await
        .map_err(|_| Error::Unavailable("password hashing offload"))?;
    let value = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    value.ok_or(Error::Unavailable("password hashing offload"))
}

/// Whether a password appears in a breach corpus.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Exposure {
    /// The password is known to attackers: refuse it.
    Breached,
    /// Not found in the corpus.
    NotFound,
}

/// The future a [`BreachedPasswords`] check returns.
pub type BreachFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Exposure, BreachCheckError>> + Send + 'a>>;

/// The breached-password check could not answer.
#[derive(Debug, thiserror::Error)]
#[error("the breached-password check failed")]
pub struct BreachCheckError {
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BreachCheckError {
    /// Wraps the backend's error.
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            source: Some(Box::new(source)),
        }
    }
}

/// A breached-password check (NIST SP 800-63B: "passwords obtained from previous breach
/// corpuses"): a local list, or a k-anonymity range query to a breach service. Consulted when a
/// password is set (sign-up, change), never at sign-in. When it fails, the password is refused
/// ([`Error::Unavailable`]): idcore fails closed.
pub trait BreachedPasswords: Send + Sync + 'static {
    /// Looks the password up.
    fn check<'a>(&'a self, password: &'a Password) -> BreachFuture<'a>;
}

/// A fixed list of breached passwords, compared exactly.
#[derive(Clone, Debug, Default)]
pub struct BreachedList(HashSet<String>);

impl BreachedList {
    /// A list of these passwords.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(passwords: I) -> Self {
        Self(passwords.into_iter().map(Into::into).collect())
    }
}

impl BreachedPasswords for BreachedList {
    fn check<'a>(&'a self, password: &'a Password) -> BreachFuture<'a> {
        let found = self.0.contains(password.expose());
        Box::pin(async move {
            Ok(if found {
                Exposure::Breached
            } else {
                Exposure::NotFound
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Argon2Params = Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn b64_round_trips_and_refuses_non_canonical_input() {
        for n in 0..20 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let s = b64_encode(&bytes, STANDARD);
            assert_eq!(b64_decode(&s, STANDARD).unwrap(), bytes);
        }
        assert_eq!(b64_encode(b"somesalt", STANDARD), "c29tZXNhbHQ");
        assert!(
            b64_decode("c29tZXNhbHR", STANDARD).is_none(),
            "trailing bits"
        );
        assert!(b64_decode("c29tZXNhbHQ=", STANDARD).is_none(), "padding");
        assert!(b64_decode("a", STANDARD).is_none());
    }

    #[test]
    fn hashes_verify_and_carry_their_parameters() {
        let pw = Password::new("correct horse battery staple");
        let phc = hash_password(&pw, &SMALL).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            verify_password(&phc, &pw, &SMALL).unwrap(),
            Verification::Match
        );
        assert_eq!(
            verify_password(&phc, &Password::new("wrong"), &SMALL).unwrap(),
            Verification::Mismatch
        );
        let stronger = Argon2Params {
            memory_kib: 128,
            ..SMALL
        };
        assert_eq!(
            verify_password(&phc, &pw, &stronger).unwrap(),
            Verification::MatchNeedsRehash
        );
    }

    #[test]
    fn decimal_parameters_are_strict() {
        assert_eq!(parse_decimal("19456"), Some(19456));
        assert_eq!(parse_decimal("0"), Some(0));
        for bad in ["", "+1", "-1", "01", "1 ", "4294967296"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
