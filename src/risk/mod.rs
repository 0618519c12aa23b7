//! Risk decisions (seed 004, OneSpan adaptive authentication): the [`RiskEngine`] trait, what it
//! is told ([`RiskContext`]), what it answers ([`RiskDecision`] with the seed's numeric codes, and
//! [`RiskReason`]s), and [`DefaultRiskEngine`]'s rules.
//!
//! Sign-in consults the engine once the password is right: [`RiskDecision::Decline`] issues
//! nothing (the caller sees the one sign-in failure), a challenge adds a factor the user must
//! pass before any code is minted, and an engine error fails closed. Unregistering a user is
//! gated the same way; the seed's unregister wire is
//! [`protocol::unregister`](crate::protocol::unregister).
//!
//! The engine itself is a pure function of the context: idcore gathers what it knows about the
//! user (known devices and addresses, recent failures) and remembers devices after each
//! complete sign-in.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, FieldProblem};
use crate::model::ids::{OrgDomain, UserId};

/// The seed's risk response codes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum RiskDecision {
    /// 0: go ahead.
    Accept,
    /// 1: refuse.
    Decline,
    /// 2: ask for a second factor (any the user has).
    Challenge,
    /// 3: ask for a code sent by SMS (the host verifies it).
    ChallengeSms,
    /// 5: ask for the user's device second factor (an authenticator app: TOTP).
    ChallengeDevice2fa,
    /// 8: ask for a code sent by e-mail.
    ChallengeEmail,
    /// 11: ask for a Cronto code (the host verifies it).
    ChallengeCronto,
    /// 21: ask for a device confirmation without PIN (the host verifies it).
    ChallengeNoPin,
    /// 22: ask for a PIN (the host verifies it).
    ChallengePin,
    /// 23: ask for a fingerprint (the host verifies it).
    ChallengeFingerprint,
    /// 24: ask for a face scan (the host verifies it).
    ChallengeFace,
}

impl RiskDecision {
    /// Every decision, in code order.
    pub const ALL: [Self; 11] = [
        Self::Accept,
        Self::Decline,
        Self::Challenge,
        Self::ChallengeSms,
        Self::ChallengeDevice2fa,
        Self::ChallengeEmail,
        Self::ChallengeCronto,
        Self::ChallengeNoPin,
        Self::ChallengePin,
        Self::ChallengeFingerprint,
        Self::ChallengeFace,
    ];

    /// The seed's `riskResponseCode`.
    pub fn code(self) -> u8 {
        match self {
            Self::Accept => 0,
            Self::Decline => 1,
            Self::Challenge => 2,
            Self::ChallengeSms => 3,
            Self::ChallengeDevice2fa => 5,
            Self::ChallengeEmail => 8,
            Self::ChallengeCronto => 11,
            Self::ChallengeNoPin => 21,
            Self::ChallengePin => 22,
            Self::ChallengeFingerprint => 23,
            Self::ChallengeFace => 24,
        }
    }

    /// The decision with this code; `None` for a code the seed does not define.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.code() == code)
    }

    /// Whether this is one of the challenges.
    pub fn is_challenge(self) -> bool {
        !matches!(self, Self::Accept | Self::Decline)
    }

    /// The seed's name (`Accept`, `ChallengeSMS` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "Accept",
            Self::Decline => "Decline",
            Self::Challenge => "Challenge",
            Self::ChallengeSms => "ChallengeSMS",
            Self::ChallengeDevice2fa => "ChallengeDevice2FA",
            Self::ChallengeEmail => "ChallengeEmail",
            Self::ChallengeCronto => "ChallengeCronto",
            Self::ChallengeNoPin => "ChallengeNoPIN",
            Self::ChallengePin => "ChallengePIN",
            Self::ChallengeFingerprint => "ChallengeFingerprint",
            Self::ChallengeFace => "ChallengeFace",
        }
    }
}

impl fmt::Display for RiskDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RiskDecision {
    /// As the seed's integer code.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

impl<'de> Deserialize<'de> for RiskDecision {
    /// From the seed's integer code; an undefined code is an error.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = u8::deserialize(d)?;
        Self::from_code(code).ok_or_else(|| serde::de::Error::custom("unknown risk response code"))
    }
}

/// Why an engine decided as it did. Recorded in the audit log with the decision.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum RiskReason {
    /// The user has no sign-in history yet: trusted on first use.
    FirstUse,
    /// The device signed in as this user before.
    KnownDevice,
    /// The device never signed in as this user.
    UnknownDevice,
    /// No device data; the client address signed in as this user before.
    KnownIp,
    /// No device data, and the client address is new for this user (or missing).
    UnknownIp,
    /// Many recent failures for this user.
    UserFailureVelocity,
    /// Many recent failures from this client address.
    IpFailureVelocity,
    /// An engine's own reason.
    Other(String),
}

impl fmt::Display for RiskReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FirstUse => "first_use",
            Self::KnownDevice => "known_device",
            Self::UnknownDevice => "unknown_device",
            Self::KnownIp => "known_ip",
            Self::UnknownIp => "unknown_ip",
            Self::UserFailureVelocity => "user_failure_velocity",
            Self::IpFailureVelocity => "ip_failure_velocity",
            Self::Other(s) => s,
        })
    }
}

/// What the engine answers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RiskAssessment {
    /// The decision.
    pub decision: RiskDecision,
    /// Why.
    pub reasons: Vec<RiskReason>,
}

impl RiskAssessment {
    /// A decision with one reason.
    pub fn new(decision: RiskDecision, reason: RiskReason) -> Self {
        Self {
            decision,
            reasons: vec![reason],
        }
    }
}

/// What is being attempted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum RiskAction {
    /// A sign-in (its password was right).
    SignIn,
    /// Unregistering (deleting) the account.
    Unregister,
    /// Refreshing tokens (for hosts that consult the engine themselves).
    Refresh,
}

impl RiskAction {
    /// `sign_in`, `unregister`, `refresh`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::Unregister => "unregister",
            Self::Refresh => "refresh",
        }
    }
}

/// An application session identifier (seed 004 `sessionID`): 2 to 100 hexadecimal digits.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SessionId(String);

impl SessionId {
    /// Parses a session id.
    ///
    /// # Errors
    /// [`FieldProblem`] when it is not 2 to 100 hexadecimal digits.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        if s.is_empty() {
            return Err(FieldProblem::Empty);
        }
        if s.len() > 100 {
            return Err(FieldProblem::TooLong { max: 100 });
        }
        if s.len() < 2 {
            return Err(FieldProblem::TooShort { min: 2 });
        }
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FieldProblem::Format("must be hexadecimal digits"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A relationship reference (seed 004 `relationshipRef`): 1 to 150 characters, no control
/// characters.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RelationshipRef(String);

impl RelationshipRef {
    /// Parses a relationship reference.
    ///
    /// # Errors
    /// [`FieldProblem`] when it is empty, longer than 150 characters or has control characters.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        if s.trim().is_empty() {
            return Err(FieldProblem::Empty);
        }
        if s.chars().count() > 150 {
            return Err(FieldProblem::TooLong { max: 150 });
        }
        if s.chars().any(char::is_control) {
            return Err(FieldProblem::ControlCharacters);
        }
        Ok(Self(s.to_owned()))
    }

    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where device data came from (seed 004 `cddc`: `browserCDDC` or `mobileCDDC`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeviceKind {
    /// A browser's client device data collector.
    Browser,
    /// A mobile SDK's client device data collector.
    Mobile,
}

/// Client device data: the raw fingerprint and its hash. The hash identifies the device.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DeviceData {
    kind: DeviceKind,
    fingerprint_raw: String,
    fingerprint_hash: String,
}

/// Longest raw fingerprint accepted, in bytes.
pub const FINGERPRINT_RAW_MAX: usize = 16 * 1024;

impl DeviceData {
    /// Device data from a collector. `fingerprint_hash` is 16 to 128 hexadecimal digits (the
    /// seed shows SHA-256 hex), compared case-insensitively.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `cddc.fingerprintRaw` or `cddc.fingerprintHash`.
    pub fn new(
        kind: DeviceKind,
        fingerprint_raw: &str,
        fingerprint_hash: &str,
    ) -> Result<Self, Error> {
        if fingerprint_raw.len() > FINGERPRINT_RAW_MAX {
            return Err(Error::field(
                "cddc.fingerprintRaw",
                FieldProblem::TooLong {
                    max: FINGERPRINT_RAW_MAX,
                },
            ));
        }
        let h = fingerprint_hash.trim();
        if h.is_empty() {
            return Err(Error::field("cddc.fingerprintHash", FieldProblem::Empty));
        }
        if !(16..=128).contains(&h.len()) || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::field(
                "cddc.fingerprintHash",
                FieldProblem::Format("must be 16 to 128 hexadecimal digits"),
            ));
        }
        Ok(Self {
            kind,
            fingerprint_raw: fingerprint_raw.to_owned(),
            fingerprint_hash: h.to_ascii_lowercase(),
        })
    }

    /// Parses the seed's `cddc` object: exactly one of `browserCDDC` and `mobileCDDC`, each with
    /// `fingerprintRaw` and `fingerprintHash`.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `cddc` or the failing member.
    pub fn from_cddc(cddc: &serde_json::Value) -> Result<Self, Error> {
        let obj = cddc.as_object().ok_or(Error::field(
            "cddc",
            FieldProblem::Format("must be an object"),
        ))?;
        let (kind, inner) = match (obj.get("browserCDDC"), obj.get("mobileCDDC")) {
            (Some(b), None) => (DeviceKind::Browser, b),
            (None, Some(m)) => (DeviceKind::Mobile, m),
            _ => {
                return Err(Error::field(
                    "cddc",
                    FieldProblem::Format("must have exactly one of browserCDDC and mobileCDDC"),
                ));
            }
        };
        let text = |name: &'static str, field: &'static str| -> Result<&str, Error> {
            inner
                .get(name)
                .ok_or(Error::field(field, FieldProblem::Empty))?
                .as_str()
                .ok_or(Error::field(
                    field,
                    FieldProblem::Format("must be a string"),
                ))
        };
        let raw = text("fingerprintRaw", "cddc.fingerprintRaw")?;
        let hash = text("fingerprintHash", "cddc.fingerprintHash")?;
        Self::new(kind, raw, hash)
    }

    /// Browser or mobile.
    pub fn kind(&self) -> DeviceKind {
        self.kind
    }

    /// The raw fingerprint.
    pub fn fingerprint_raw(&self) -> &str {
        &self.fingerprint_raw
    }

    /// The fingerprint hash, lowercase.
    pub fn fingerprint_hash(&self) -> &str {
        &self.fingerprint_hash
    }
}

/// What the host knows about the request: the signals a risk engine weighs. All optional; the
/// more there are, the better the decisions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The client's IP address (also the key of the per-address lockout).
    pub client_ip: Option<IpAddr>,
    /// Client device data.
    pub device: Option<DeviceData>,
    /// The application session id.
    pub session_id: Option<SessionId>,
    /// The relationship reference.
    pub relationship_ref: Option<RelationshipRef>,
}

impl RequestContext {
    /// No signals.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the client IP address.
    pub fn client_ip(mut self, ip: IpAddr) -> Self {
        self.client_ip = Some(ip);
        self
    }

    /// Sets the device data.
    pub fn device(mut self, device: DeviceData) -> Self {
        self.device = Some(device);
        self
    }

    /// Sets the session id.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `sessionID`.
    pub fn session_id(mut self, id: &str) -> Result<Self, Error> {
        self.session_id = Some(SessionId::parse(id).map_err(|p| Error::field("sessionID", p))?);
        Ok(self)
    }

    /// Sets the relationship reference.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `relationshipRef`.
    pub fn relationship_ref(mut self, r: &str) -> Result<Self, Error> {
        self.relationship_ref =
            Some(RelationshipRef::parse(r).map_err(|p| Error::field("relationshipRef", p))?);
        Ok(self)
    }
}

/// Whether a signal was seen for this user before.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Familiarity {
    /// Seen in an earlier complete sign-in of this user.
    Known,
    /// Never seen for this user.
    Unknown,
    /// The request did not carry this signal.
    Absent,
}

/// Everything an engine is told.
#[derive(Clone, Debug)]
pub struct RiskContext {
    /// What is attempted.
    pub action: RiskAction,
    /// The organization.
    pub org: OrgDomain,
    /// The user.
    pub user_id: UserId,
    /// The host's signals.
    pub request: RequestContext,
    /// Whether the device was seen for this user before.
    pub device: Familiarity,
    /// Whether the client address was seen for this user before.
    pub ip: Familiarity,
    /// Whether the user has any sign-in history (a known device or address) at all.
    pub has_history: bool,
    /// Guesses for this user that were checked and failed, counted for one lockout cool-down
    /// from the first of them (this attempt and attempts still in flight excluded).
    pub recent_user_failures: u64,
    /// Guesses from this client address that were checked and failed, counted for one lockout
    /// cool-down from the first of them (this attempt and attempts still in flight excluded).
    pub recent_ip_failures: u64,
}

/// The engine could not decide. idcore fails closed.
#[derive(Debug, thiserror::Error)]
#[error("the risk engine failed")]
pub struct RiskError {
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl RiskError {
    /// Wraps the engine's error.
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            source: Some(Box::new(source)),
        }
    }
}

/// The future a [`RiskEngine`] returns.
pub type RiskFuture<'a> =
    Pin<Box<dyn Future<Output = Result<RiskAssessment, RiskError>> + Send + 'a>>;

/// Decides how risky an action is. Set one with
/// [`IdentityBuilder::risk_engine`](crate::IdentityBuilder::risk_engine); the default is
/// [`DefaultRiskEngine`].
///
/// ```
/// use idcore::risk::{RiskAssessment, RiskContext, RiskDecision, RiskEngine, RiskFuture, RiskReason};
///
/// /// Challenges every sign-in with an e-mail code.
/// struct AlwaysEmail;
///
/// impl RiskEngine for AlwaysEmail {
///     fn assess<'a>(&'a self, _context: &'a RiskContext) -> RiskFuture<'a> {
///         Box::pin(async {
///             Ok(RiskAssessment::new(
///                 RiskDecision::ChallengeEmail,
///                 RiskReason::Other("policy".into()),
///             ))
///         })
///     }
/// }
/// ```
pub trait RiskEngine: Send + Sync + 'static {
    /// Assesses one action.
    fn assess<'a>(&'a self, context: &'a RiskContext) -> RiskFuture<'a>;
}

/// The default rules, in order:
/// 1. at least [`decline_ip_failures`](Self::decline_ip_failures) recent failures from the
///    client address → [`RiskDecision::Decline`] (credential stuffing);
/// 2. at least [`challenge_user_failures`](Self::challenge_user_failures) recent failures for
///    the user → [`RiskDecision::Challenge`];
/// 3. no sign-in history at all → [`RiskDecision::Accept`] (trust on first use: the account's
///    address was just verified);
/// 4. device data given: a known device → Accept, an unknown one → Challenge;
/// 5. no device data: a known client address → Accept, anything else → Challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultRiskEngine {
    /// Defaults to 20.
    pub decline_ip_failures: u64,
    /// Defaults to 3.
    pub challenge_user_failures: u64,
}

impl Default for DefaultRiskEngine {
    fn default() -> Self {
        Self {
            decline_ip_failures: 20,
            challenge_user_failures: 3,
        }
    }
}

impl DefaultRiskEngine {
    /// The rules, as a pure function.
    pub fn decide(&self, c: &RiskContext) -> RiskAssessment {
        use RiskDecision::{Accept, Challenge, Decline};
        if c.recent_ip_failures >= self.decline_ip_failures {
            return RiskAssessment::new(Decline, RiskReason::IpFailureVelocity);
        }
        if c.recent_user_failures >= self.challenge_user_failures {
            return RiskAssessment::new(Challenge, RiskReason::UserFailureVelocity);
        }
        if !c.has_history {
            return RiskAssessment::new(Accept, RiskReason::FirstUse);
        }
        match (c.device, c.ip) {
            (Familiarity::Known, _) => RiskAssessment::new(Accept, RiskReason::KnownDevice),
            (Familiarity::Unknown, _) => RiskAssessment::new(Challenge, RiskReason::UnknownDevice),
            (Familiarity::Absent, Familiarity::Known) => {
                RiskAssessment::new(Accept, RiskReason::KnownIp)
            }
            (Familiarity::Absent, _) => RiskAssessment::new(Challenge, RiskReason::UnknownIp),
        }
    }
}

impl RiskEngine for DefaultRiskEngine {
    fn assess<'a>(&'a self, context: &'a RiskContext) -> RiskFuture<'a> {
        let assessment = self.decide(context);
        Box::pin(async move { Ok(assessment) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_codes_are_the_seeds() {
        let codes: Vec<u8> = RiskDecision::ALL.iter().map(|d| d.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 5, 8, 11, 21, 22, 23, 24]);
        for d in RiskDecision::ALL {
            assert_eq!(RiskDecision::from_code(d.code()), Some(d));
        }
        for missing in [4, 6, 7, 9, 10, 12, 20, 25, 255] {
            assert_eq!(RiskDecision::from_code(missing), None);
        }
        assert_eq!(
            serde_json::to_string(&RiskDecision::ChallengeFace).unwrap(),
            "24"
        );
    }

    #[test]
    fn session_ids_are_2_to_100_hex_digits() {
        assert!(SessionId::parse("4ED23EA44F23").is_ok());
        assert!(SessionId::parse("ab").is_ok());
        assert_eq!(
            SessionId::parse("a"),
            Err(FieldProblem::TooShort { min: 2 })
        );
        assert_eq!(SessionId::parse(""), Err(FieldProblem::Empty));
        assert!(SessionId::parse(&"a".repeat(100)).is_ok());
        assert_eq!(
            SessionId::parse(&"a".repeat(101)),
            Err(FieldProblem::TooLong { max: 100 })
        );
        assert!(SessionId::parse("4ED23EA44F2G").is_err());
    }

    #[test]
    fn relationship_refs_are_1_to_150_characters() {
        assert!(RelationshipRef::parse("userid33").is_ok());
        assert!(RelationshipRef::parse(&"é".repeat(150)).is_ok());
        assert_eq!(
            RelationshipRef::parse(&"é".repeat(151)),
            Err(FieldProblem::TooLong { max: 150 })
        );
        assert_eq!(RelationshipRef::parse(""), Err(FieldProblem::Empty));
    }
}
