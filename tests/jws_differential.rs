//! Differential testing of idcore's JWS layer and token verification against jsonwebtoken 11.
//!
//! A corpus of access tokens — one valid token per algorithm idcore signs or imports (ES256,
//! EdDSA, RS256, PS256), one signed by jsonwebtoken itself, and systematic mutations of them —
//! is verified three ways:
//!
//! - idcore's JWS layer: [`jws::decode`] then [`jws::verify`] with the right key (exact
//!   [`JwsError`]);
//! - idcore's token service: `Identity::tokens().verify` (exact [`TokenProblem`]), which adds
//!   `typ`, `kid` lookup and the claim checks;
//! - jsonwebtoken's own `decode`, with the same key and a [`Validation`] configured as idcore
//!   is (the one algorithm, `iss`, `aud`, `exp` and `nbf` required and checked, the same 30 s
//!   leeway). Its crypto is the provider its crate features pick (`rust_crypto`, enabled in
//!   Cargo.toml for the tests), never installed: nothing here touches the process-wide default.
//!   jsonwebtoken 11 has no `decode` taking a provider, so idcore's ring provider
//!   ([`RING_PROVIDER`], passed explicitly) is checked on every token of the corpus whose
//!   signature jsonwebtoken would verify: it must give the same signature verdict as the
//!   RustCrypto provider `decode` used, so `decode`'s verdict is the verdict it would give on
//!   ring.
//!
//! Every mutation names its exact expected verdicts. Where idcore and jsonwebtoken disagree, the
//! mutation must name a [`Stricter`] reason, and idcore must be the one rejecting; the reasons
//! are the table "Where idcore is stricter than jsonwebtoken" in the `idcore::tokens` module
//! docs, checked here to be the same list.

use idcore::tokens::jws::{self, Header, JwsError, base64url_decode, base64url_encode};
use idcore::tokens::keys::{Algorithm, EncryptionKey, KeyPair};
use idcore::tokens::provider::RING_PROVIDER;
use idcore::{Environment, Error, Identity, MemoryStore, NewOrganization, TokenProblem};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, EncodingKey, Validation};
use serde_json::{Value, json};

const RSA_2048_PKCS8: &[u8] = include_bytes!("data/rsa2048.pk8.der");
const RSA_2048_PKCS1: &[u8] = include_bytes!("data/rsa2048.pkcs1.der");

const ISSUER: &str = "https://auth.example.com";
/// idcore's default leeway on token times, in seconds.
const LEEWAY: u64 = 30;
const USER: &str = "01a21064-d1f4-726a-a889-e59ed7ea544f";

// ---------------------------------------------------------------------------------------------
// The documented disagreements

/// A case where idcore rejects on purpose what jsonwebtoken (configured as idcore is) accepts.
/// The same list, in the same order, is the table "Where idcore is stricter than jsonwebtoken"
/// in the docs of `src/tokens/mod.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Stricter {
    /// A header member outside jsonwebtoken's `Header` struct, repeated.
    DuplicateHeaderMember,
    /// A `crit` header.
    Crit,
    /// `jwk`, `jku`, `x5c` or `x5u` in the header.
    EmbeddedKey,
    /// `typ` missing or not `at+jwt`.
    Typ,
    /// No `kid`.
    KidMissing,
    /// A `kid` that names none of the organization's keys.
    KidUnknown,
    /// `iat` in the future.
    IatInFuture,
    /// `aud` as an array.
    AudArray,
    /// A NumericDate with a fraction.
    FractionalTime,
}

const STRICTER: [Stricter; 9] = [
    Stricter::DuplicateHeaderMember,
    Stricter::Crit,
    Stricter::EmbeddedKey,
    Stricter::Typ,
    Stricter::KidMissing,
    Stricter::KidUnknown,
    Stricter::IatInFuture,
    Stricter::AudArray,
    Stricter::FractionalTime,
];

impl Stricter {
    /// The first column of the case's row in the documented table.
    fn case(self) -> &'static str {
        match self {
            Self::DuplicateHeaderMember => "duplicate header member",
            Self::Crit => "`crit` header",
            Self::EmbeddedKey => "`jwk`, `jku`, `x5c`, `x5u` header",
            Self::Typ => "`typ` missing or not `at+jwt`",
            Self::KidMissing => "no `kid`",
            Self::KidUnknown => "unknown `kid`",
            Self::IatInFuture => "`iat` in the future",
            Self::AudArray => "`aud` as an array",
            Self::FractionalTime => "fractional `exp`, `nbf`, `iat`",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Verdicts

/// jsonwebtoken's verdict: its error kinds that the corpus can produce.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Jwt {
    InvalidToken,
    InvalidSignature,
    InvalidAlgorithm,
    Base64,
    Json,
    ExpiredSignature,
    ImmatureSignature,
    InvalidIssuer,
    InvalidAudience,
    MissingRequiredClaim(&'static str),
    Other(String),
}

impl Jwt {
    fn of(kind: &ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidToken => Self::InvalidToken,
            ErrorKind::InvalidSignature => Self::InvalidSignature,
            ErrorKind::InvalidAlgorithm => Self::InvalidAlgorithm,
            ErrorKind::Base64(_) => Self::Base64,
            ErrorKind::Json(_) => Self::Json,
            ErrorKind::ExpiredSignature => Self::ExpiredSignature,
            ErrorKind::ImmatureSignature => Self::ImmatureSignature,
            ErrorKind::InvalidIssuer => Self::InvalidIssuer,
            ErrorKind::InvalidAudience => Self::InvalidAudience,
            ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                "exp" => Self::MissingRequiredClaim("exp"),
                "nbf" => Self::MissingRequiredClaim("nbf"),
                "iss" => Self::MissingRequiredClaim("iss"),
                "aud" => Self::MissingRequiredClaim("aud"),
                "sub" => Self::MissingRequiredClaim("sub"),
                other => Self::Other(format!("MissingRequiredClaim({other})")),
            },
            other => Self::Other(format!("{other:?}")),
        }
    }
}

/// The three verdicts expected for one token.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdicts {
    /// `jws::decode` + `jws::verify` with the token's key.
    jws: Result<(), JwsError>,
    /// `Identity::tokens().verify`.
    service: Result<(), TokenProblem>,
    /// `jsonwebtoken::decode`.
    jwt: Result<(), Jwt>,
}

/// What a mutation expects: the verdicts, and why idcore rejects what jsonwebtoken accepts.
struct Expect {
    verdicts: Verdicts,
    stricter: Option<Stricter>,
}

fn accepted() -> Expect {
    Expect {
        verdicts: Verdicts {
            jws: Ok(()),
            service: Ok(()),
            jwt: Ok(()),
        },
        stricter: None,
    }
}

/// Both reject: idcore's JWS layer with `jws` (the service answers `Malformed` for every
/// decode error, `Signature` for every verify error), jsonwebtoken with `jwt`.
fn rejected_jws(jws: JwsError, jwt: Jwt) -> Expect {
    let service = match jws {
        JwsError::AlgorithmMismatch | JwsError::BadSignature => TokenProblem::Signature,
        _ => TokenProblem::Malformed,
    };
    Expect {
        verdicts: Verdicts {
            jws: Err(jws),
            service: Err(service),
            jwt: Err(jwt),
        },
        stricter: None,
    }
}

/// A sound JWS whose claims both reject: the service with `problem`, jsonwebtoken with `jwt`.
fn rejected_claims(problem: TokenProblem, jwt: Jwt) -> Expect {
    Expect {
        verdicts: Verdicts {
            jws: Ok(()),
            service: Err(problem),
            jwt: Err(jwt),
        },
        stricter: None,
    }
}

/// idcore's JWS layer rejects with `jws`; jsonwebtoken accepts.
fn stricter_jws(reason: Stricter, jws: JwsError) -> Expect {
    Expect {
        verdicts: Verdicts {
            jws: Err(jws),
            service: Err(TokenProblem::Malformed),
            jwt: Ok(()),
        },
        stricter: Some(reason),
    }
}

/// A JWS idcore's JWS layer accepts, whose token the service rejects with `problem`;
/// jsonwebtoken accepts.
fn stricter_service(reason: Stricter, problem: TokenProblem) -> Expect {
    Expect {
        verdicts: Verdicts {
            jws: Ok(()),
            service: Err(problem),
            jwt: Ok(()),
        },
        stricter: Some(reason),
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture: one identity per algorithm, its organization's key imported

struct Fixture {
    alg: Algorithm,
    identity: Identity<MemoryStore>,
    org: String,
    key: KeyPair,
    decoding: DecodingKey,
    validation: Validation,
    now: i64,
}

fn key_pair(alg: Algorithm) -> KeyPair {
    match alg {
        Algorithm::Es256 | Algorithm::EdDsa => KeyPair::generate(alg).unwrap(),
        Algorithm::Rs256 | Algorithm::Ps256 => KeyPair::from_pkcs8(alg, RSA_2048_PKCS8).unwrap(),
    }
}

async fn fixture(alg: Algorithm) -> Fixture {
    // The system clock on both sides: jsonwebtoken reads it, so idcore does too. Every time
    // mutation is an hour from the boundary, so a second ticking between the two never matters.
    let identity = Identity::builder()
        .issuer(ISSUER)
        .environment(Environment::Sandbox)
        .key_encryption_key(EncryptionKey::from_bytes(&[5; 32]).unwrap())
        .store(MemoryStore::new())
        .build()
        .unwrap();
    let org = identity
        .organizations()
        .create(NewOrganization::new("Misapret").unwrap())
        .await
        .unwrap()
        .domain;
    let key = key_pair(alg);
    identity.tokens().import_key(&org, &key).await.unwrap();
    let decoding = DecodingKey::from_jwk(&key.public_key().to_jwk()).unwrap();

    let mut validation = Validation::new(alg.to_jsonwebtoken());
    validation.set_issuer(&[format!("{ISSUER}/t/{}", org.as_str())]);
    validation.set_audience(&[identity.config().audience()]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY;
    assert_eq!(
        identity.config().leeway().whole_seconds(),
        i64::try_from(LEEWAY).unwrap()
    );

    Fixture {
        alg,
        org: org.as_str().to_owned(),
        identity,
        key,
        decoding,
        validation,
        now: time::OffsetDateTime::now_utc().unix_timestamp(),
    }
}

impl Fixture {
    fn claims(&self) -> Value {
        let now = self.now;
        json!({
            "iss": format!("{ISSUER}/t/{}", self.org),
            "sub": USER,
            "aud": self.identity.config().audience(),
            "cid": "01a21064-d1f4-726a-a889-e59c1fe2ca62",
            "dbs": "sandbox",
            "exp": now + 3600,
            "iat": now,
            "nbf": now,
            "jti": "01a21064-d1f4-726a-a889-e59ed7ea5450",
            "jtt": "access",
            "scp": ["openid"],
            "tnt": self.org,
            "ver": 1,
            "uid": USER,
            "auth_time": now,
            "gid": "01a21064-d1f4-726a-a889-e59ed7ea5451",
        })
    }

    fn claims_with(&self, claim: &str, value: Value) -> Value {
        let mut claims = self.claims();
        claims[claim] = value;
        claims
    }

    fn claims_without(&self, claim: &str) -> Value {
        let mut claims = self.claims();
        claims.as_object_mut().unwrap().remove(claim);
        claims
    }

    /// idcore's own token for `claims`.
    fn sign(&self, claims: &Value) -> String {
        jws::encode(
            &Header::for_key(&self.key).with_typ("at+jwt"),
            claims.to_string().as_bytes(),
            &self.key,
        )
        .unwrap()
    }

    /// A token with exactly these header and payload bytes, really signed by the key.
    fn sign_raw(&self, header: &[u8], payload: &[u8]) -> String {
        self.sign_text(&base64url_encode(header), &base64url_encode(payload))
    }

    /// A token with exactly these header and payload segments, really signed by the key.
    fn sign_text(&self, header: &str, payload: &str) -> String {
        let input = format!("{header}.{payload}");
        let sig = self.key.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", base64url_encode(&sig))
    }

    /// idcore's header with `members` added at the end.
    fn header_with(&self, members: &str) -> String {
        format!(
            r#"{{"alg":"{}","kid":"{}","typ":"at+jwt",{members}}}"#,
            self.alg.name(),
            self.key.kid()
        )
    }

    fn payload(&self) -> String {
        self.claims().to_string()
    }

    fn signature_len(&self) -> usize {
        self.key.sign(b"x").unwrap().len()
    }

    /// The original token with its signature bytes replaced by `edit` of them.
    fn with_signature(&self, edit: impl FnOnce(&mut Vec<u8>)) -> String {
        let token = self.sign(&self.claims());
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut sig = base64url_decode(sig).unwrap();
        edit(&mut sig);
        format!("{input}.{}", base64url_encode(&sig))
    }

    async fn verdicts(&self, token: &str) -> Verdicts {
        let jws = match jws::decode(token) {
            Ok(decoded) => jws::verify(&decoded, self.key.public_key()),
            Err(e) => Err(e),
        };
        let service = match self.identity.tokens().verify(token).await {
            Ok(_) => Ok(()),
            Err(Error::InvalidToken(problem)) => Err(problem),
            Err(other) => panic!("{}: not an invalid_token answer: {other:?}", self.alg),
        };
        let jwt = jsonwebtoken::decode::<Value>(token, &self.decoding, &self.validation)
            .map(|_| ())
            .map_err(|e| Jwt::of(e.kind()));
        Verdicts { jws, service, jwt }
    }

    /// Whether idcore's ring provider and the RustCrypto provider jsonwebtoken's `decode` used
    /// agree on the token's signature. `None` when `decode` would never reach the signature
    /// (a header it cannot read, another `alg`, a signature that is not base64url).
    fn backends_agree(&self, token: &str) -> Option<bool> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let alg = self.alg.to_jsonwebtoken();
        if header.alg != alg {
            return None;
        }
        let (message, sig) = token.rsplit_once('.')?;
        let sig = base64url_decode(sig).ok()?;
        let ring = (RING_PROVIDER.verifier_factory)(&alg, &self.decoding).unwrap();
        let rust_crypto = (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.verifier_factory)(
            &alg,
            &self.decoding,
        )
        .unwrap();
        Some(
            ring.verify(message.as_bytes(), &sig).is_ok()
                == rust_crypto.verify(message.as_bytes(), &sig).is_ok(),
        )
    }
}

/// The algorithm after `alg` in [`Algorithm::ALL`], cyclically.
fn next(alg: Algorithm) -> Algorithm {
    let at = Algorithm::ALL.iter().position(|a| *a == alg).unwrap();
    Algorithm::ALL[(at + 1) % Algorithm::ALL.len()]
}

/// `json` (an object) with spaces before its closing brace, so that its base64url form needs
/// padding.
fn needing_padding(json: &str) -> String {
    let body = json.strip_suffix('}').unwrap();
    (0..3)
        .map(|spaces| format!("{body}{}}}", " ".repeat(spaces)))
        .find(|padded| padded.len() % 3 != 0)
        .unwrap()
}

/// `text` with the base64 padding its length calls for (never empty: see [`needing_padding`]).
fn pad(text: &str) -> String {
    let pad = "=".repeat((4 - text.len() % 4) % 4);
    assert!(!pad.is_empty(), "{text} needs no padding");
    format!("{text}{pad}")
}

/// base64url text in the standard alphabet (`+`, `/`); it must contain `-` or `_`.
fn standard_alphabet(text: &str) -> String {
    assert!(
        text.contains(['-', '_']),
        "{text} is the same in both alphabets"
    );
    text.replace('-', "+").replace('_', "/")
}

/// Five `?` hold an aligned `???`, which is `Pz8_` in base64url, wherever they stand.
const URL_ONLY: &str = "?????";

// ---------------------------------------------------------------------------------------------
// The mutations

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Header,
    Payload,
    Signature,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    // Valid tokens.
    Original,
    SignedByJsonwebtoken,
    HeaderWhitespace,
    HeaderEscapedMemberName,
    UnknownHeaderMember,
    // alg.
    AlgRemoved,
    AlgNoneUnsigned,
    AlgNoneSigned,
    AlgHs256WithPublicKeyAsSecret,
    AlgSwapped,
    AlgLowercase,
    AlgNotString,
    AlgDuplicated,
    AlgDuplicatedNoneFirst,
    // kid.
    KidChanged,
    KidRemoved,
    KidDuplicated,
    KidNotString,
    // typ.
    TypRemoved,
    TypJwt,
    TypUnknown,
    TypDuplicated,
    // Other header members.
    OtherMemberDuplicated,
    Crit,
    EmbeddedJwk,
    EmbeddedJku,
    EmbeddedX5c,
    EmbeddedX5u,
    HeaderNotUtf8,
    // Encoding.
    Padded(Segment),
    StandardAlphabet(Segment),
    SignatureNonCanonicalTail,
    TrailingSegment,
    TrailingDot,
    TrailingNewline,
    LeadingSpace,
    // Claims.
    Expired,
    NotYetValid,
    IatInFuture,
    ExpMissing,
    ExpFractional,
    ExpDuplicated,
    UnknownClaimDuplicated,
    AudWrong,
    AudArray,
    AudMissing,
    IssWrong,
    IssMissing,
    // Signature.
    PayloadSwapped,
    SignatureEmpty,
    SignatureTruncated,
    SignatureExtended,
    SignatureByte(usize),
    Es256DerSignature,
}

/// Every mutation applied to tokens of `fx`'s algorithm.
fn mutations(fx: &Fixture) -> Vec<Mutation> {
    use Mutation::*;
    let mut all = vec![
        Original,
        SignedByJsonwebtoken,
        HeaderWhitespace,
        HeaderEscapedMemberName,
        UnknownHeaderMember,
        AlgRemoved,
        AlgNoneUnsigned,
        AlgNoneSigned,
        AlgHs256WithPublicKeyAsSecret,
        AlgSwapped,
        AlgLowercase,
        AlgNotString,
        AlgDuplicated,
        AlgDuplicatedNoneFirst,
        KidChanged,
        KidRemoved,
        KidDuplicated,
        KidNotString,
        TypRemoved,
        TypJwt,
        TypUnknown,
        TypDuplicated,
        OtherMemberDuplicated,
        Crit,
        EmbeddedJwk,
        EmbeddedJku,
        EmbeddedX5c,
        EmbeddedX5u,
        HeaderNotUtf8,
        Padded(Segment::Header),
        Padded(Segment::Payload),
        Padded(Segment::Signature),
        StandardAlphabet(Segment::Header),
        StandardAlphabet(Segment::Payload),
        StandardAlphabet(Segment::Signature),
        SignatureNonCanonicalTail,
        TrailingSegment,
        TrailingDot,
        TrailingNewline,
        LeadingSpace,
        Expired,
        NotYetValid,
        IatInFuture,
        ExpMissing,
        ExpFractional,
        ExpDuplicated,
        UnknownClaimDuplicated,
        AudWrong,
        AudArray,
        AudMissing,
        IssWrong,
        IssMissing,
        PayloadSwapped,
        SignatureEmpty,
        SignatureTruncated,
        SignatureExtended,
    ];
    all.extend((0..fx.signature_len()).map(SignatureByte));
    if fx.alg == Algorithm::Es256 {
        all.push(Es256DerSignature);
    }
    all
}

impl Mutation {
    fn token(self, fx: &Fixture) -> String {
        use Mutation::*;
        let alg = fx.alg.name();
        let kid = fx.key.kid();
        let payload = fx.payload();
        let raw = |header: &str| fx.sign_raw(header.as_bytes(), payload.as_bytes());
        match self {
            Original => fx.sign(&fx.claims()),
            SignedByJsonwebtoken => {
                let mut header = jsonwebtoken::Header::new(fx.alg.to_jsonwebtoken());
                header.typ = Some("at+jwt".to_owned());
                header.kid = Some(kid.to_owned());
                let encoding = match fx.alg {
                    Algorithm::Es256 => EncodingKey::from_ec_der(fx.key.pkcs8()),
                    Algorithm::EdDsa => EncodingKey::from_ed_der(fx.key.pkcs8()),
                    Algorithm::Rs256 | Algorithm::Ps256 => {
                        EncodingKey::from_rsa_der(RSA_2048_PKCS1)
                    }
                };
                jsonwebtoken::encode(&header, &fx.claims(), &encoding).unwrap()
            }
            HeaderWhitespace => raw(&format!(
                "{{ \"alg\" : \"{alg}\" ,\n \"kid\" : \"{kid}\" , \"typ\" : \"at+jwt\" }}"
            )),
            HeaderEscapedMemberName => raw(&format!(
                r#"{{"\u0061lg":"{alg}","kid":"{kid}","t\u0079p":"at\u002bjwt"}}"#
            )),
            UnknownHeaderMember => raw(&fx.header_with(r#""x-custom":{"a":[1,2]},"cty":"x""#)),
            AlgRemoved => raw(&format!(r#"{{"kid":"{kid}","typ":"at+jwt"}}"#)),
            AlgNoneUnsigned => format!(
                "{}.{}.",
                base64url_encode(br#"{"alg":"none","typ":"at+jwt"}"#),
                base64url_encode(payload.as_bytes())
            ),
            AlgNoneSigned => raw(&format!(r#"{{"alg":"none","kid":"{kid}","typ":"at+jwt"}}"#)),
            AlgHs256WithPublicKeyAsSecret => {
                let header = format!(r#"{{"alg":"HS256","kid":"{kid}","typ":"at+jwt"}}"#);
                let input = format!(
                    "{}.{}",
                    base64url_encode(header.as_bytes()),
                    base64url_encode(payload.as_bytes())
                );
                let secret =
                    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, fx.key.public_key().bytes());
                let mac = ring::hmac::sign(&secret, input.as_bytes());
                format!("{input}.{}", base64url_encode(mac.as_ref()))
            }
            AlgSwapped => raw(&format!(
                r#"{{"alg":"{}","kid":"{kid}","typ":"at+jwt"}}"#,
                next(fx.alg).name()
            )),
            AlgLowercase => raw(&format!(
                r#"{{"alg":"{}","kid":"{kid}","typ":"at+jwt"}}"#,
                alg.to_lowercase()
            )),
            AlgNotString => raw(&format!(r#"{{"alg":1,"kid":"{kid}","typ":"at+jwt"}}"#)),
            AlgDuplicated => raw(&fx.header_with(&format!(r#""alg":"{alg}""#))),
            AlgDuplicatedNoneFirst => raw(&format!(
                r#"{{"alg":"none","alg":"{alg}","kid":"{kid}","typ":"at+jwt"}}"#
            )),
            KidChanged => raw(&format!(
                r#"{{"alg":"{alg}","kid":"not-{kid}","typ":"at+jwt"}}"#
            )),
            KidRemoved => raw(&format!(r#"{{"alg":"{alg}","typ":"at+jwt"}}"#)),
            KidDuplicated => raw(&fx.header_with(&format!(r#""kid":"{kid}""#))),
            KidNotString => raw(&format!(r#"{{"alg":"{alg}","kid":7,"typ":"at+jwt"}}"#)),
            TypRemoved => raw(&format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#)),
            TypJwt => raw(&format!(r#"{{"alg":"{alg}","kid":"{kid}","typ":"JWT"}}"#)),
            TypUnknown => raw(&format!(
                r#"{{"alg":"{alg}","kid":"{kid}","typ":"application/x-unknown"}}"#
            )),
            TypDuplicated => raw(&fx.header_with(r#""typ":"at+jwt""#)),
            OtherMemberDuplicated => raw(&fx.header_with(r#""x":1,"x":2"#)),
            Crit => raw(&fx.header_with(r#""crit":["exp"],"exp":1"#)),
            EmbeddedJwk => {
                let attacker = KeyPair::generate(Algorithm::Es256).unwrap();
                let jwk = serde_json::to_string(&attacker.public_key().to_jwk()).unwrap();
                raw(&fx.header_with(&format!(r#""jwk":{jwk}"#)))
            }
            EmbeddedJku => raw(&fx.header_with(r#""jku":"https://attacker.example/jwks.json""#)),
            EmbeddedX5c => raw(&fx.header_with(r#""x5c":["MIIB"]"#)),
            EmbeddedX5u => raw(&fx.header_with(r#""x5u":"https://attacker.example/cert.pem""#)),
            HeaderNotUtf8 => {
                let mut header = fx.header_with(r##""x":"#""##).into_bytes();
                let at = header.iter().rposition(|&b| b == b'#').unwrap();
                header[at] = 0xff;
                fx.sign_raw(&header, payload.as_bytes())
            }
            Padded(Segment::Header) => {
                let header = needing_padding(&fx.header_with(r#""x":1"#));
                fx.sign_text(
                    &pad(&base64url_encode(header.as_bytes())),
                    &base64url_encode(payload.as_bytes()),
                )
            }
            Padded(Segment::Payload) => {
                let header = fx.header_with(r#""x":1"#);
                fx.sign_text(
                    &base64url_encode(header.as_bytes()),
                    &pad(&base64url_encode(needing_padding(&payload).as_bytes())),
                )
            }
            Padded(Segment::Signature) => {
                let token = fx.sign(&fx.claims());
                pad(&token)
            }
            StandardAlphabet(Segment::Header) => {
                let header = fx.header_with(&format!(r#""x":"{URL_ONLY}""#));
                fx.sign_text(
                    &standard_alphabet(&base64url_encode(header.as_bytes())),
                    &base64url_encode(payload.as_bytes()),
                )
            }
            StandardAlphabet(Segment::Payload) => {
                let claims = fx.claims_with("x", json!(URL_ONLY)).to_string();
                let header = fx.header_with(r#""x":1"#);
                fx.sign_text(
                    &base64url_encode(header.as_bytes()),
                    &standard_alphabet(&base64url_encode(claims.as_bytes())),
                )
            }
            StandardAlphabet(Segment::Signature) => {
                // Signatures are random-looking: take the first whose text has `-` or `_`.
                let token = (0..)
                    .map(|n| fx.sign(&fx.claims_with("n", json!(n))))
                    .find(|t| t.rsplit_once('.').unwrap().1.contains(['-', '_']))
                    .unwrap();
                let (input, sig) = token.rsplit_once('.').unwrap();
                format!("{input}.{}", standard_alphabet(sig))
            }
            SignatureNonCanonicalTail => {
                // 64- and 256-byte signatures end with a character carrying 4 unused bits.
                let token = fx.sign(&fx.claims());
                let (input, sig) = token.rsplit_once('.').unwrap();
                let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                let last = alphabet.find(sig.chars().last().unwrap()).unwrap();
                assert_eq!(last & 0x0f, 0, "canonical tail");
                let alias = alphabet.as_bytes()[last | 0x01] as char;
                format!("{input}.{}{alias}", &sig[..sig.len() - 1])
            }
            TrailingSegment => format!("{}.e30", fx.sign(&fx.claims())),
            TrailingDot => format!("{}.", fx.sign(&fx.claims())),
            TrailingNewline => format!("{}\n", fx.sign(&fx.claims())),
            LeadingSpace => format!(" {}", fx.sign(&fx.claims())),
            Expired => {
                let now = fx.now;
                let mut claims = fx.claims();
                claims["exp"] = json!(now - 3600);
                claims["iat"] = json!(now - 7200);
                claims["nbf"] = json!(now - 7200);
                claims["auth_time"] = json!(now - 7200);
                fx.sign(&claims)
            }
            NotYetValid => {
                let mut claims = fx.claims();
                claims["nbf"] = json!(fx.now + 3600);
                claims["exp"] = json!(fx.now + 7200);
                fx.sign(&claims)
            }
            IatInFuture => fx.sign(&fx.claims_with("iat", json!(fx.now + 3600))),
            ExpMissing => fx.sign(&fx.claims_without("exp")),
            ExpFractional => fx.sign(&fx.claims_with("exp", json!(fx.now as f64 + 3600.5))),
            ExpDuplicated => {
                let body = payload.strip_suffix('}').unwrap();
                let claims = format!(r#"{body},"exp":{}}}"#, fx.now - 3600);
                fx.sign_raw(fx.header_with(r#""x":1"#).as_bytes(), claims.as_bytes())
            }
            UnknownClaimDuplicated => {
                let body = payload.strip_suffix('}').unwrap();
                let claims = format!(r#"{body},"x":1,"x":2}}"#);
                fx.sign_raw(
                    format!(r#"{{"alg":"{alg}","kid":"{kid}","typ":"at+jwt"}}"#).as_bytes(),
                    claims.as_bytes(),
                )
            }
            AudWrong => fx.sign(&fx.claims_with("aud", json!("https://other.example.com"))),
            AudArray => fx.sign(&fx.claims_with("aud", json!([fx.identity.config().audience()]))),
            AudMissing => fx.sign(&fx.claims_without("aud")),
            IssWrong => fx.sign(&fx.claims_with(
                "iss",
                json!(format!("https://evil.example.com/t/{}", fx.org)),
            )),
            IssMissing => fx.sign(&fx.claims_without("iss")),
            PayloadSwapped => {
                let token = fx.sign(&fx.claims());
                let (header, rest) = token.split_once('.').unwrap();
                let (_, sig) = rest.split_once('.').unwrap();
                let other = fx
                    .claims_with("scp", json!(["openid", "admin"]))
                    .to_string();
                format!("{header}.{}.{sig}", base64url_encode(other.as_bytes()))
            }
            SignatureEmpty => {
                let token = fx.sign(&fx.claims());
                format!("{}.", token.rsplit_once('.').unwrap().0)
            }
            SignatureTruncated => fx.with_signature(|sig| {
                sig.pop();
            }),
            SignatureExtended => fx.with_signature(|sig| sig.push(0)),
            SignatureByte(at) => fx.with_signature(|sig| sig[at] ^= 0x01),
            Es256DerSignature => {
                let token = fx.sign(&fx.claims());
                let input = token.rsplit_once('.').unwrap().0;
                let rng = ring::rand::SystemRandom::new();
                let der = ring::signature::EcdsaKeyPair::from_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    fx.key.pkcs8(),
                    &rng,
                )
                .unwrap()
                .sign(&rng, input.as_bytes())
                .unwrap();
                format!("{input}.{}", base64url_encode(der.as_ref()))
            }
        }
    }

    fn expect(self) -> Expect {
        use JwsError as J;
        use Mutation::*;
        use TokenProblem as P;
        match self {
            Original
            | SignedByJsonwebtoken
            | HeaderWhitespace
            | HeaderEscapedMemberName
            | UnknownHeaderMember
            | UnknownClaimDuplicated => accepted(),

            AlgRemoved => rejected_jws(J::MissingAlgorithm, Jwt::Json),
            AlgNoneUnsigned => rejected_jws(J::EmptySignature, Jwt::Json),
            AlgNoneSigned | AlgLowercase => rejected_jws(J::UnsupportedAlgorithm, Jwt::Json),
            AlgHs256WithPublicKeyAsSecret => {
                rejected_jws(J::UnsupportedAlgorithm, Jwt::InvalidAlgorithm)
            }
            AlgSwapped => rejected_jws(J::AlgorithmMismatch, Jwt::InvalidAlgorithm),
            AlgNotString | KidNotString | HeaderNotUtf8 => {
                rejected_jws(J::InvalidHeader, Jwt::Json)
            }
            AlgDuplicated | AlgDuplicatedNoneFirst | KidDuplicated | TypDuplicated => {
                rejected_jws(J::DuplicateMember, Jwt::Json)
            }

            KidChanged => stricter_service(Stricter::KidUnknown, P::UnknownKey),
            KidRemoved => stricter_service(Stricter::KidMissing, P::Header),
            TypRemoved | TypJwt | TypUnknown => stricter_service(Stricter::Typ, P::Type),

            OtherMemberDuplicated => {
                stricter_jws(Stricter::DuplicateHeaderMember, J::DuplicateMember)
            }
            Crit => stricter_jws(Stricter::Crit, J::CriticalHeader),
            EmbeddedJwk | EmbeddedJku | EmbeddedX5c | EmbeddedX5u => {
                stricter_jws(Stricter::EmbeddedKey, J::EmbeddedKey)
            }

            Padded(_)
            | StandardAlphabet(_)
            | SignatureNonCanonicalTail
            | TrailingNewline
            | LeadingSpace => rejected_jws(J::Base64, Jwt::Base64),
            TrailingSegment => rejected_jws(J::Malformed, Jwt::Base64),
            TrailingDot => rejected_jws(J::EmptySignature, Jwt::Base64),

            Expired => rejected_claims(P::Expired, Jwt::ExpiredSignature),
            NotYetValid => rejected_claims(P::NotYetValid, Jwt::ImmatureSignature),
            IatInFuture => stricter_service(Stricter::IatInFuture, P::NotYetValid),
            ExpMissing => rejected_claims(P::Claims, Jwt::MissingRequiredClaim("exp")),
            ExpFractional => stricter_service(Stricter::FractionalTime, P::Claims),
            ExpDuplicated => rejected_claims(P::Claims, Jwt::Json),
            AudWrong => rejected_claims(P::Audience, Jwt::InvalidAudience),
            AudArray => stricter_service(Stricter::AudArray, P::Claims),
            AudMissing => rejected_claims(P::Claims, Jwt::MissingRequiredClaim("aud")),
            IssWrong => rejected_claims(P::Issuer, Jwt::InvalidIssuer),
            IssMissing => rejected_claims(P::Claims, Jwt::MissingRequiredClaim("iss")),

            PayloadSwapped | SignatureTruncated | SignatureExtended | SignatureByte(_)
            | Es256DerSignature => rejected_jws(J::BadSignature, Jwt::InvalidSignature),
            SignatureEmpty => rejected_jws(J::EmptySignature, Jwt::InvalidSignature),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tests

#[tokio::test]
async fn idcore_and_jsonwebtoken_agree_except_where_documented() {
    let mut failures = Vec::new();
    let mut tokens = 0;
    let mut kinds = std::collections::HashSet::new();
    let mut backend_checks = 0;
    let mut disagreements_seen = std::collections::HashSet::new();

    for alg in Algorithm::ALL {
        let fx = fixture(alg).await;
        for mutation in mutations(&fx) {
            let token = mutation.token(&fx);
            let name = format!("{alg} {mutation:?}");
            tokens += 1;
            kinds.insert(std::mem::discriminant(&mutation));
            let expect = mutation.expect();
            let actual = fx.verdicts(&token).await;

            if actual != expect.verdicts {
                failures.push(format!(
                    "{name}: expected {:?}, got {actual:?}",
                    expect.verdicts
                ));
            }
            let (idcore_ok, jwt_ok) = (actual.service.is_ok(), actual.jwt.is_ok());
            if idcore_ok && !jwt_ok {
                failures.push(format!(
                    "{name}: idcore accepts what jsonwebtoken rejects ({:?})",
                    actual.jwt
                ));
            }
            match (idcore_ok == jwt_ok, expect.stricter) {
                (true, None) => {}
                (true, Some(reason)) => failures.push(format!(
                    "{name}: documented as {reason:?} but idcore and jsonwebtoken agree"
                )),
                (false, None) => failures.push(format!(
                    "{name}: undocumented disagreement: idcore {:?}, jsonwebtoken {:?}",
                    actual.service, actual.jwt
                )),
                (false, Some(reason)) => {
                    disagreements_seen.insert(reason);
                }
            }
            match fx.backends_agree(&token) {
                Some(true) => backend_checks += 1,
                Some(false) => failures.push(format!(
                    "{name}: ring and RustCrypto disagree on the signature"
                )),
                // Every token jsonwebtoken accepts, or rejects for its signature, went through
                // the signature check, so the two backends were compared on it.
                None if matches!(actual.jwt, Ok(()) | Err(Jwt::InvalidSignature)) => {
                    failures.push(format!("{name}: the backends were not compared"));
                }
                None => {}
            }
        }
    }

    for reason in STRICTER {
        if !disagreements_seen.contains(&reason) {
            failures.push(format!("{reason:?} is documented but no mutation shows it"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Four algorithms; 56 mutations each, plus one per signature byte, plus ES256's DER form.
    assert_eq!(tokens, 4 * 56 + 64 + 64 + 256 + 256 + 1);
    assert_eq!(kinds.len(), 54);
    // Compared: the tokens whose header jsonwebtoken reads, with the key's alg and a base64url
    // signature (all but the header, alg and signature-encoding mutations).
    assert_eq!(backend_checks, 777);
}

/// The stricter cases of this test are exactly the table of the `idcore::tokens` docs.
#[test]
fn the_stricter_list_is_the_documented_table() {
    let docs = include_str!("../src/tokens/mod.rs");
    let section = docs
        .split("//! ## Where idcore is stricter than jsonwebtoken")
        .nth(1)
        .expect("the section is in src/tokens/mod.rs");
    let rows: Vec<&str> = section
        .lines()
        .skip(1) // the rest of the heading's line
        .map_while(|line| line.strip_prefix("//!"))
        .map(str::trim)
        .filter(|line| line.starts_with('|'))
        .skip(2) // the heading row and the separator
        .collect();
    let cases: Vec<&str> = rows
        .iter()
        .map(|row| {
            row.trim_start_matches('|')
                .split(" | ")
                .next()
                .unwrap()
                .trim()
        })
        .collect();
    let expected: Vec<&str> = STRICTER.iter().map(|s| s.case()).collect();
    assert_eq!(cases, expected);
}
