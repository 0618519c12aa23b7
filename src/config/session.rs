//! The session settings: Crowd's default session timeout, the absolute maximum, how often a
//! validation is written, the per-user limit, which factors each application checks, and which
//! applications may open sessions without a password. Re-exported as
//! `idcore::sessions::SessionSettings`.

use std::collections::{BTreeMap, BTreeSet};

use time::Duration;

use super::bound;
use crate::error::ConfigError;
use crate::model::ids::ClientId;
use crate::model::session::FactorPolicy;
use crate::store::WhenFull;

/// A limit of concurrent sessions per user (as Keycloak's user session limit).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SessionLimit {
    /// The most live sessions one user may hold; 1 to 1000.
    pub max: u64,
    /// What a new session past the limit does: [`WhenFull::Refuse`] refuses it,
    /// [`WhenFull::EvictOldest`] ends the user's oldest session to make room.
    pub when_full: WhenFull,
}

/// Session settings. Every field is checked at build time.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SessionSettings {
    /// The server default session timeout (Crowd): how long a session lives without being
    /// validated. A requested `duration` longer than this, or none, gets this. Defaults to 30
    /// minutes; 1 minute to 30 days.
    pub default_timeout: Duration,
    /// How long a session lives at most, however often it is validated. Defaults to 10 hours
    /// (Keycloak's SSO session maximum); at least `default_timeout`, at most 90 days.
    pub max_lifetime: Duration,
    /// A validation writes the slid idle expiry only when the last written validation is at
    /// least this old (or a quarter of the session's timeout, if that is shorter), so a busy
    /// session costs one store write per interval, not one per validation. A session then
    /// lives between `timeout - interval` and `timeout` after its last validation. Defaults to
    /// 60 seconds; 0 (write every validation) to 10 minutes, and at most a quarter of
    /// `default_timeout`.
    pub touch_interval: Duration,
    /// The limit of concurrent sessions per user. Defaults to none.
    pub limit: Option<SessionLimit>,
    /// Which factors must match, for applications without their own policy (and sessions no
    /// application is named for). Defaults to [`FactorPolicy::default`]: every bound factor,
    /// `remote_address` by IPv4 address or IPv6 /64.
    pub factor_policy: FactorPolicy,
    /// Per-application factor policies.
    pub application_policies: BTreeMap<ClientId, FactorPolicy>,
    /// The applications trusted to open sessions for users they authenticated themselves
    /// (Crowd's `validate-password=false`). Defaults to none.
    pub trusted_applications: BTreeSet<ClientId>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            default_timeout: Duration::minutes(30),
            max_lifetime: Duration::hours(10),
            touch_interval: Duration::seconds(60),
            limit: None,
            factor_policy: FactorPolicy::default(),
            application_policies: BTreeMap::new(),
            trusted_applications: BTreeSet::new(),
        }
    }
}

impl SessionSettings {
    /// The factor policy of an application (or the default one).
    pub fn policy_for(&self, client: Option<ClientId>) -> &FactorPolicy {
        client
            .and_then(|c| self.application_policies.get(&c))
            .unwrap_or(&self.factor_policy)
    }

    /// Checks every bound.
    ///
    /// # Errors
    /// [`ConfigError::Lifetime`] or [`ConfigError::Inconsistent`] naming the first setting out
    /// of bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        bound(
            "session_default_timeout",
            self.default_timeout,
            Duration::minutes(1),
            Duration::days(30),
        )?;
        bound(
            "session_max_lifetime",
            self.max_lifetime,
            self.default_timeout,
            Duration::days(90),
        )?;
        bound(
            "session_touch_interval",
            self.touch_interval,
            Duration::ZERO,
            Duration::minutes(10).min(self.default_timeout / 4),
        )?;
        if let Some(limit) = self.limit
            && !(1..=1000).contains(&limit.max)
        {
            return Err(ConfigError::Inconsistent(
                "the session limit must be between 1 and 1000",
            ));
        }
        for policy in std::iter::once(&self.factor_policy).chain(self.application_policies.values())
        {
            policy.validate()?;
        }
        Ok(())
    }
}
