//! [`Identity`], the entry point, and its builder.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::Error;
use crate::cache::keyring::KeyRing;
use crate::cache::revocation::RevocationView;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Lifetimes, TokenSettings, parse_issuer};
use crate::config::{SessionSettings, SigninSettings, SigningSettings};
use crate::crypto::api_keys::ApiKeySealer;
use crate::crypto::keys::EncryptionKey;
use crate::crypto::password::{BreachedPasswords, Inline, Offload};
use crate::crypto::secrets::SigninKeys;
use crate::error::ConfigError;
use crate::mail::{Mailer, NoopMailer};
use crate::model::fields::Name;
use crate::model::ids::Environment;
use crate::risk::{DefaultRiskEngine, RiskEngine};
use crate::store::Store;

/// The identity core of one environment, on one store. Cheap to clone (an `Arc` inside); share
/// one per process and environment.
///
/// ```
/// # async fn run() -> Result<(), idcore::Error> {
/// use idcore::{Environment, Identity, MemoryStore};
///
/// let identity = Identity::builder()
///     .issuer("https://auth.example.com")
///     .environment(Environment::Sandbox)
///     .store(MemoryStore::new())
///     .build()?;
/// let org = identity.organizations().create(idcore::NewOrganization::new("Misapret")?).await?;
/// assert_eq!(org.domain.as_str(), "misapret");
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
pub struct Identity<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    config: Config,
    clock: Arc<dyn Clock>,
    store: S,
    mailer: Arc<dyn Mailer>,
    key_ring: KeyRing,
    revocations: RevocationView,
    signin_keys: Option<SigninKeys>,
    api_key_sealer: Option<ApiKeySealer>,
    risk: Arc<dyn RiskEngine>,
    offload: Arc<dyn Offload>,
    breached: Option<Arc<dyn BreachedPasswords>>,
}

impl<S> Clone for Identity<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl Identity<()> {
    /// Starts a builder. A store is required; everything else has a default.
    pub fn builder() -> IdentityBuilder<NoStore> {
        IdentityBuilder {
            issuer: None,
            environment: Environment::Sandbox,
            managed_by: None,
            lifetimes: Lifetimes::default(),
            tokens: TokenSettings::default(),
            key_encryption_key: None,
            clock: Arc::new(SystemClock),
            mailer: Arc::new(NoopMailer),
            signin: SigninSettings::default(),
            sessions: SessionSettings::default(),
            signing: SigningSettings::default(),
            risk: Arc::new(DefaultRiskEngine::default()),
            offload: Arc::new(Inline),
            breached: None,
            store: NoStore,
        }
    }
}

impl<S> Identity<S> {
    /// The checked configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The environment this instance serves.
    pub fn environment(&self) -> Environment {
        self.inner.config.environment
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The mailer.
    pub fn mailer(&self) -> &dyn Mailer {
        &*self.inner.mailer
    }

    pub(crate) fn key_ring(&self) -> &KeyRing {
        &self.inner.key_ring
    }

    pub(crate) fn revocations(&self) -> &RevocationView {
        &self.inner.revocations
    }

    pub(crate) fn signin_keys(&self) -> Result<&SigninKeys, Error> {
        self.inner.signin_keys.as_ref().ok_or(Error::Keys(
            "sign-in needs a key-encryption key (IdentityBuilder::key_encryption_key)",
        ))
    }

    pub(crate) fn api_key_sealer(&self) -> Result<&ApiKeySealer, Error> {
        self.inner.api_key_sealer.as_ref().ok_or(Error::Keys(
            "API keys need a key-encryption key (IdentityBuilder::key_encryption_key)",
        ))
    }

    /// The risk engine.
    pub fn risk_engine(&self) -> &dyn RiskEngine {
        &*self.inner.risk
    }

    pub(crate) fn password_offload(&self) -> &dyn Offload {
        &*self.inner.offload
    }

    pub(crate) fn breached_passwords(&self) -> Option<&dyn BreachedPasswords> {
        self.inner.breached.as_deref()
    }

    /// The current time, from the injected clock, truncated to whole microseconds: the finest
    /// precision durable stores keep (PostgreSQL `timestamptz`), so what idcore writes reads
    /// back equal.
    pub fn now(&self) -> OffsetDateTime {
        let now = self.inner.clock.now();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }
}

/// The builder's placeholder until [`IdentityBuilder::store`] is called.
#[derive(Debug, Clone, Copy)]
pub struct NoStore;

/// Builds an [`Identity`]; see [`Identity::builder`].
#[must_use]
pub struct IdentityBuilder<S> {
    issuer: Option<String>,
    environment: Environment,
    managed_by: Option<String>,
    lifetimes: Lifetimes,
    tokens: TokenSettings,
    key_encryption_key: Option<EncryptionKey>,
    clock: Arc<dyn Clock>,
    mailer: Arc<dyn Mailer>,
    signin: SigninSettings,
    sessions: SessionSettings,
    signing: SigningSettings,
    risk: Arc<dyn RiskEngine>,
    offload: Arc<dyn Offload>,
    breached: Option<Arc<dyn BreachedPasswords>>,
    store: S,
}

impl<S> IdentityBuilder<S> {
    /// The issuer base URL (required): https, no query, fragment or trailing slash. Plain http is
    /// accepted only for `localhost`, `127.0.0.1` and `[::1]`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The environment. Defaults to [`Environment::Sandbox`]; production must be chosen explicitly.
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }

    /// The `__managed_by__` value written into records. Defaults to the issuer's host.
    pub fn managed_by(mut self, managed_by: impl Into<String>) -> Self {
        self.managed_by = Some(managed_by.into());
        self
    }

    /// Lifetimes. Defaults to [`Lifetimes::default`].
    pub fn lifetimes(mut self, lifetimes: Lifetimes) -> Self {
        self.lifetimes = lifetimes;
        self
    }

    /// Token settings. Defaults to [`TokenSettings::default`].
    pub fn token_settings(mut self, settings: TokenSettings) -> Self {
        self.tokens = settings;
        self
    }

    /// The key that encrypts signing keys at rest (AES-256-GCM). Required to issue or verify
    /// tokens; keep it outside the store (an environment variable, a KMS, a secrets manager).
    pub fn key_encryption_key(mut self, key: EncryptionKey) -> Self {
        self.key_encryption_key = Some(key);
        self
    }

    /// The clock. Defaults to [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The mailer. Defaults to [`NoopMailer`].
    pub fn mailer(mut self, mailer: impl Mailer) -> Self {
        self.mailer = Arc::new(mailer);
        self
    }

    /// Sign-in settings. Defaults to [`SigninSettings::default`].
    pub fn signin_settings(mut self, settings: SigninSettings) -> Self {
        self.signin = settings;
        self
    }

    /// Session settings. Defaults to [`SessionSettings::default`].
    pub fn session_settings(mut self, settings: SessionSettings) -> Self {
        self.sessions = settings;
        self
    }

    /// Signed-request settings (clock skew, simple signatures). Defaults to
    /// [`SigningSettings::default`].
    pub fn signing_settings(mut self, settings: SigningSettings) -> Self {
        self.signing = settings;
        self
    }

    /// The risk engine sign-in and unregistering consult. Defaults to
    /// [`DefaultRiskEngine`].
    pub fn risk_engine(mut self, engine: impl RiskEngine) -> Self {
        self.risk = Arc::new(engine);
        self
    }

    /// Where password hashing runs. Defaults to [`Inline`] (on the calling task); with the
    /// `tokio` feature, [`TokioOffload`](crate::crypto::password::TokioOffload) moves it to
    /// tokio's blocking pool. See [`signin::password`](crate::crypto::password).
    pub fn password_offload(mut self, offload: impl Offload) -> Self {
        self.offload = Arc::new(offload);
        self
    }

    /// A breached-password check applied to every new password. Defaults to none.
    pub fn breached_passwords(mut self, check: impl BreachedPasswords) -> Self {
        self.breached = Some(Arc::new(check));
        self
    }

    /// The store (required).
    pub fn store<T: Store>(self, store: T) -> IdentityBuilder<T> {
        IdentityBuilder {
            issuer: self.issuer,
            environment: self.environment,
            managed_by: self.managed_by,
            lifetimes: self.lifetimes,
            tokens: self.tokens,
            key_encryption_key: self.key_encryption_key,
            clock: self.clock,
            mailer: self.mailer,
            signin: self.signin,
            sessions: self.sessions,
            signing: self.signing,
            risk: self.risk,
            offload: self.offload,
            breached: self.breached,
            store,
        }
    }
}

impl<S: Store> IdentityBuilder<S> {
    /// Checks the configuration and builds.
    ///
    /// # Errors
    /// [`Error::Config`] when the issuer is missing or malformed, a lifetime is out of bounds,
    /// or settings contradict each other (sign-in and signing settings included); [`Error::Keys`] when the
    /// sign-in keys cannot be derived from the key-encryption key.
    pub fn build(self) -> Result<Identity<S>, Error> {
        let raw_issuer = self.issuer.ok_or(ConfigError::MissingIssuer)?;
        let issuer = parse_issuer(&raw_issuer)?;
        self.lifetimes.check()?;
        self.tokens.check(&self.lifetimes)?;
        self.signin.validate()?;
        self.sessions.validate()?;
        self.signing.validate()?;
        let signin_keys = self
            .key_encryption_key
            .as_ref()
            .map(SigninKeys::derive)
            .transpose()?;
        let api_key_sealer = self
            .key_encryption_key
            .as_ref()
            .map(ApiKeySealer::derive)
            .transpose()?;
        let audience = self
            .tokens
            .audience
            .clone()
            .unwrap_or_else(|| issuer.as_str().to_owned());
        let managed_by = match self.managed_by {
            Some(m) => Name::parse(&m).map_err(|_| {
                ConfigError::Inconsistent("managed_by must be a non-empty single-line name")
            })?,
            None => {
                Name::parse(issuer.host()).map_err(|_| ConfigError::Issuer("must have a host"))?
            }
        };
        Ok(Identity {
            inner: Arc::new(Inner {
                config: Config {
                    issuer,
                    environment: self.environment,
                    managed_by,
                    lifetimes: self.lifetimes,
                    tokens: self.tokens.clone(),
                    audience,
                    signin: self.signin,
                    sessions: self.sessions,
                    signing: self.signing,
                },
                clock: self.clock,
                store: self.store,
                mailer: self.mailer,
                key_ring: KeyRing::new(
                    self.key_encryption_key,
                    self.tokens.signing_algorithm,
                    self.tokens.key_overlap,
                    self.tokens.key_reload_interval,
                ),
                revocations: RevocationView::new(
                    self.tokens.revocation_poll_interval,
                    self.tokens.revocation_max_staleness,
                ),
                signin_keys,
                api_key_sealer,
                risk: self.risk,
                offload: self.offload,
                breached: self.breached,
            }),
        })
    }
}
