//! Configuration: issuer, environment, lifetimes. Checked once, by
//! [`IdentityBuilder::build`](crate::IdentityBuilder::build).

use time::Duration;

use crate::model::fields::{HttpUrl, Name};

use crate::error::ConfigError;
use crate::model::ids::Environment;

mod session;
mod signin;
mod signing;

pub use session::{SessionLimit, SessionSettings};
pub use signin::{LockoutPolicy, SigninSettings};
pub use signing::{SigningSettings, SimpleSignatures};

/// How long things live. Every field is checked against its bounds at build time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Lifetimes {
    /// Access tokens. Defaults to 1 hour; 5 minutes to 1 day.
    pub access_token: Duration,
    /// ID tokens. Defaults to 1 hour; 5 minutes to 1 day.
    pub id_token: Duration,
    /// Refresh token families, absolute. Defaults to 30 days; 1 hour to 10 years, and not
    /// shorter than the access token.
    pub refresh_token: Duration,
    /// Authorization codes. Defaults to 60 seconds; 1 second to 10 minutes.
    pub authorization_code: Duration,
    /// E-mail verification codes. Defaults to 10 minutes; 1 to 10 minutes.
    pub email_code: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            access_token: Duration::hours(1),
            id_token: Duration::hours(1),
            refresh_token: Duration::days(30),
            authorization_code: Duration::seconds(60),
            email_code: Duration::minutes(10),
        }
    }
}

impl Lifetimes {
    /// Checks every bound.
    ///
    /// # Errors
    /// [`ConfigError::Lifetime`] naming the first lifetime out of bounds, or
    /// [`ConfigError::Inconsistent`].
    pub fn check(&self) -> Result<(), ConfigError> {
        bound(
            "access_token",
            self.access_token,
            Duration::minutes(5),
            Duration::days(1),
        )?;
        bound(
            "id_token",
            self.id_token,
            Duration::minutes(5),
            Duration::days(1),
        )?;
        bound(
            "refresh_token",
            self.refresh_token,
            Duration::hours(1),
            Duration::days(3653),
        )?;
        bound(
            "authorization_code",
            self.authorization_code,
            Duration::seconds(1),
            Duration::minutes(10),
        )?;
        bound(
            "email_code",
            self.email_code,
            Duration::minutes(1),
            Duration::minutes(10),
        )?;
        if self.refresh_token < self.access_token {
            return Err(ConfigError::Inconsistent(
                "the refresh token lifetime must not be shorter than the access token lifetime",
            ));
        }
        Ok(())
    }
}

/// `Ok` when `value` is within `min..=max`; otherwise the lifetime error naming `name`.
fn bound(
    name: &'static str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::Lifetime {
            name,
            min_seconds: min.whole_seconds(),
            max_seconds: max.whole_seconds(),
        });
    }
    Ok(())
}

/// Token settings. Every field is checked at build time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSettings {
    /// The `aud` of access tokens, checked exactly on verification. Defaults to the issuer base
    /// URL.
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Defaults to 30 seconds; at most 5 minutes.
    pub leeway: Duration,
    /// The refresh reuse interval: how long after a rotation the rotated refresh token may be
    /// presented again and get the same successor (an idempotent rotation, for several tabs
    /// refreshing at once) instead of counting as reuse; see
    /// [`Tokens::refresh`](crate::tokens::Tokens::refresh). Defaults to 0 (off: any second
    /// presentation revokes the family); at most 2 minutes. A few seconds covers concurrent
    /// tabs and retries.
    pub refresh_grace: Duration,
    /// The algorithm of generated signing keys: ES256 (default) or EdDSA. RS256/PS256 keys are
    /// imported instead.
    pub signing_algorithm: crate::crypto::keys::Algorithm,
    /// How long a rotated-out signing key keeps verifying. Defaults to 2 days; at least the
    /// longest access/ID token lifetime, so no token outlives its key.
    pub key_overlap: Duration,
    /// How often, at most, an organization's keys are reloaded because a token named an unknown
    /// `kid`. Defaults to 1 second: another instance verifies a key rotated in through this one
    /// within that time of its first token. A reload that finds no new key costs one store read
    /// (keys already parsed are reused), shared by every token that asked for it at once.
    pub key_reload_interval: Duration,
    /// How often live verification catches up with revocations made by other instances.
    /// Defaults to 500 ms, so another instance sees a revocation within 1 s including the store
    /// round trip.
    pub revocation_poll_interval: Duration,
    /// Live verification fails closed when it could not catch up for this long. Defaults to
    /// 5 seconds; at least the poll interval.
    pub revocation_max_staleness: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            audience: None,
            leeway: Duration::seconds(30),
            refresh_grace: Duration::ZERO,
            signing_algorithm: crate::crypto::keys::Algorithm::Es256,
            key_overlap: Duration::days(2),
            key_reload_interval: Duration::seconds(1),
            revocation_poll_interval: Duration::milliseconds(500),
            revocation_max_staleness: Duration::seconds(5),
        }
    }
}

impl TokenSettings {
    pub(crate) fn check(&self, lifetimes: &Lifetimes) -> Result<(), ConfigError> {
        use crate::crypto::keys::Algorithm;
        bound("leeway", self.leeway, Duration::ZERO, Duration::minutes(5))?;
        bound(
            "refresh_grace",
            self.refresh_grace,
            Duration::ZERO,
            Duration::minutes(2),
        )?;
        bound(
            "key_reload_interval",
            self.key_reload_interval,
            Duration::seconds(1),
            Duration::hours(1),
        )?;
        bound(
            "revocation_poll_interval",
            self.revocation_poll_interval,
            Duration::milliseconds(1),
            Duration::minutes(1),
        )?;
        if self.revocation_max_staleness < self.revocation_poll_interval {
            return Err(ConfigError::Inconsistent(
                "revocation_max_staleness must not be shorter than revocation_poll_interval",
            ));
        }
        if self.key_overlap
            < lifetimes
                .access_token
                .max(lifetimes.id_token)
                .max(Duration::days(1))
        {
            return Err(ConfigError::Inconsistent(
                "key_overlap must be at least 1 day: the longest access or ID token lifetime an application may set",
            ));
        }
        if !matches!(self.signing_algorithm, Algorithm::Es256 | Algorithm::EdDsa) {
            return Err(ConfigError::Inconsistent(
                "generated signing keys are ES256 or EdDSA; import RS256/PS256 keys instead",
            ));
        }
        if self
            .audience
            .as_deref()
            .is_some_and(|a| a.trim().is_empty() || a.len() > 2048)
        {
            return Err(ConfigError::Inconsistent(
                "the audience must be 1 to 2048 characters",
            ));
        }
        Ok(())
    }
}

/// A checked configuration, as [`Identity::config`](crate::Identity::config) returns it.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) issuer: HttpUrl,
    pub(crate) environment: Environment,
    pub(crate) managed_by: Name,
    pub(crate) lifetimes: Lifetimes,
    pub(crate) tokens: TokenSettings,
    pub(crate) audience: String,
    pub(crate) signin: SigninSettings,
    pub(crate) sessions: SessionSettings,
    pub(crate) signing: SigningSettings,
}

impl Config {
    /// The issuer base URL; an organization's issuer is `{issuer}/t/{domain}`.
    pub fn issuer(&self) -> &HttpUrl {
        &self.issuer
    }

    /// The environment this instance serves.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// The `__managed_by__` value written into records.
    pub fn managed_by(&self) -> &Name {
        &self.managed_by
    }

    /// The lifetimes.
    pub fn lifetimes(&self) -> &Lifetimes {
        &self.lifetimes
    }

    /// The token settings.
    pub fn tokens(&self) -> &TokenSettings {
        &self.tokens
    }

    /// The sign-in settings.
    pub fn signin(&self) -> &SigninSettings {
        &self.signin
    }

    /// The session settings.
    pub fn sessions(&self) -> &SessionSettings {
        &self.sessions
    }

    /// The signed-request settings.
    pub fn signing(&self) -> &SigningSettings {
        &self.signing
    }

    /// The `aud` of access tokens.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The clock skew tolerated on token times.
    pub fn leeway(&self) -> Duration {
        self.tokens.leeway
    }

    /// The refresh grace window.
    pub fn refresh_grace(&self) -> Duration {
        self.tokens.refresh_grace
    }

    /// The longest any access or ID token can live (plus leeway): how long revocations must
    /// last. Applications may set lifetimes up to 1 day, so it is never less than that.
    pub fn longest_token_lifetime(&self) -> Duration {
        self.lifetimes
            .access_token
            .max(self.lifetimes.id_token)
            .max(Duration::days(1))
            + self.tokens.leeway
    }
}

/// Parses an issuer base URL: https (http only for loopback hosts), no query, no fragment, no
/// trailing slash.
pub(crate) fn parse_issuer(raw: &str) -> Result<HttpUrl, ConfigError> {
    let url =
        HttpUrl::parse(raw).map_err(|_| ConfigError::Issuer("must be an absolute https url"))?;
    let s = url.as_str();
    if s.contains(['?', '#']) {
        return Err(ConfigError::Issuer("must not have a query or fragment"));
    }
    if s.ends_with('/') {
        return Err(ConfigError::Issuer("must not end with a slash"));
    }
    let loopback = matches!(url.host(), "localhost" | "127.0.0.1" | "[::1]");
    if url.scheme() != "https" && !loopback {
        return Err(ConfigError::Issuer(
            "must use https (plain http only for localhost)",
        ));
    }
    Ok(url)
}
