//! Configuration: issuer, environment, lifetimes. Checked once, by
//! [`IdentityBuilder::build`](crate::IdentityBuilder::build).

use time::Duration;

use crate::directory::{Environment, HttpUrl, Name};
use crate::error::ConfigError;

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

/// A checked configuration, as [`Identity::config`](crate::Identity::config) returns it.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) issuer: HttpUrl,
    pub(crate) environment: Environment,
    pub(crate) managed_by: Name,
    pub(crate) lifetimes: Lifetimes,
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
