//! Verifying a signed request: the key, the timestamp, the HMAC, then the replay marker.

use time::{Duration, OffsetDateTime};

use crate::config::SimpleSignatures;
use crate::crypto::signature::{self, Scheme, SignatureParams, SignedRequest};
use crate::error::Error;
use crate::identity::Identity;
use crate::model::api_key::{ApiKeyId, ApiKeyRole};
use crate::model::event::{EventCode, NewEvent};
use crate::model::ids::OrgDomain;
use crate::secret::Digest;
use crate::store::{ApiKeyRecord, Key, Mark, Store};

/// How often, at most, a key's `last_used_at` is written.
pub const LAST_USED_INTERVAL: Duration = Duration::minutes(1);

/// The namespace of replay markers.
const REPLAY_NAMESPACE: &str = "signature";

/// Who signed an accepted request.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Verified {
    /// The key's organization: the request acts on it.
    pub org: OrgDomain,
    /// The key.
    pub key_id: ApiKeyId,
    /// What the key may do.
    pub role: ApiKeyRole,
    /// How the request was signed.
    pub scheme: Scheme,
    /// The request's timestamp.
    pub timestamp: OffsetDateTime,
}

/// Signed-request verification; see [`Identity::signatures`].
pub struct Signatures<'a, S> {
    identity: &'a Identity<S>,
}

/// A refusal: what the audit log says, never the caller.
struct Refusal {
    code: EventCode,
    reason: &'static str,
    org: Option<OrgDomain>,
}

impl Refusal {
    fn new(reason: &'static str) -> Self {
        Self {
            code: EventCode::SIGNATURE_REJECTED,
            reason,
            org: None,
        }
    }

    fn of(org: &OrgDomain, reason: &'static str) -> Self {
        Self {
            org: Some(org.clone()),
            ..Self::new(reason)
        }
    }
}

impl<'a, S: Store> Signatures<'a, S> {
    pub(crate) fn new(identity: &'a Identity<S>) -> Self {
        Self { identity }
    }

    /// Verifies a signed request, of any organization: the answer names the key's organization,
    /// which the request then acts on.
    ///
    /// In order: the signature parameters parse; the scheme is accepted
    /// ([`SigningSettings::simple_signatures`](crate::config::SigningSettings::simple_signatures));
    /// the timestamp is within [`SigningSettings::skew`](crate::config::SigningSettings::skew)
    /// of the clock (inclusive); the key exists in this environment, is not revoked or expired,
    /// and its organization is live; the HMAC verifies (constant time) with the key's current
    /// secret, or with its previous one while a rotation's overlap lasts; and the signature was
    /// never accepted before — an atomic set-once marker
    /// ([`ReplayStore::mark_once`](crate::store::ReplayStore::mark_once)) that lives as long as
    /// the timestamp is acceptable, so of any number of concurrent submissions of one signed
    /// request, on any number of instances sharing the store, exactly one is accepted.
    ///
    /// Every refusal is [`Error::SignatureRejected`] and records `SIGNATURE_REJECTED` (or
    /// `SIGNATURE_REPLAYED`) with the real reason. A key's `last_used_at` is written at most
    /// once per [`LAST_USED_INTERVAL`].
    ///
    /// # Errors
    /// [`Error::SignatureRejected`]; [`Error::Store`] when the store fails, at any step
    /// (nothing is accepted, and the signature is not used up unless its marker was written —
    /// a retry of the same request then verifies); [`Error::Keys`] when the key-encryption key
    /// is missing or cannot open the key's secret.
    pub async fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, Error> {
        self.check(None, request).await
    }

    /// [`Self::verify`], refusing a key of another organization than `expected`.
    pub(crate) async fn check(
        &self,
        expected: Option<&OrgDomain>,
        request: &SignedRequest<'_>,
    ) -> Result<Verified, Error> {
        let mut details = Vec::new();
        let outcome = self.evaluate(expected, request, &mut details).await?;
        match outcome {
            Ok(verified) => Ok(verified),
            Err(refusal) => {
                let mut event = NewEvent::new(refusal.code, self.identity.now())
                    .detail("reason", refusal.reason);
                if let Some(org) = refusal.org.as_ref().or(expected) {
                    event = event.tenant(org);
                }
                for (name, value) in details {
                    event = event.detail(name, value);
                }
                // A refusal that cannot be audited answers the store error: refused either way.
                self.identity
                    .store()
                    .record_event(self.identity.environment(), &event)
                    .await?;
                Err(Error::SignatureRejected)
            }
        }
    }

    /// Every check; the outer error is a failure (store, keys), the inner one a refusal.
    async fn evaluate(
        &self,
        expected: Option<&OrgDomain>,
        request: &SignedRequest<'_>,
        details: &mut Vec<(&'static str, String)>,
    ) -> Result<Result<Verified, Refusal>, Error> {
        let identity = self.identity;
        let settings = identity.config().signing();
        let env = identity.environment();
        let store = identity.store();
        let params = match SignatureParams::parse(request.params) {
            Ok(params) => params,
            Err(problem) => {
                details.push(("problem", problem.to_string()));
                return Ok(Err(Refusal::new("malformed signature parameters")));
            }
        };
        details.push(("key_id", params.key_id.clone()));
        details.push(("scheme", params.scheme.as_str().to_owned()));
        let Ok(key_id) = ApiKeyId::parse(&params.key_id) else {
            return Ok(Err(Refusal::new("malformed key id")));
        };
        if params.scheme == Scheme::Simple {
            if settings.simple_signatures == SimpleSignatures::Refuse {
                return Ok(Err(Refusal::new("simple signatures are not accepted")));
            }
            if request.action.is_none() {
                return Ok(Err(Refusal::new("a simple signature without an action")));
            }
        }
        let now = identity.now();
        let Ok(timestamp) = OffsetDateTime::from_unix_timestamp(params.unix_seconds) else {
            return Ok(Err(Refusal::new("timestamp outside the allowed skew")));
        };
        if timestamp < now - settings.skew || timestamp > now + settings.skew {
            return Ok(Err(Refusal::new("timestamp outside the allowed skew")));
        }
        let Some(record) = store.api_key(env, key_id).await? else {
            return Ok(Err(Refusal::new("unknown key")));
        };
        if let Some(expected) = expected.filter(|e| **e != record.org) {
            return Ok(Err(Refusal::of(expected, "key of another organization")));
        }
        if record.revoked_at.is_some_and(|r| r <= now) {
            return Ok(Err(Refusal::of(&record.org, "revoked key")));
        }
        if record.expires_at.is_some_and(|e| e <= now) {
            return Ok(Err(Refusal::of(&record.org, "expired key")));
        }
        let live_org = store
            .organization(env, &record.org)
            .await?
            .is_some_and(|o| o.deleted_at.is_none());
        if !live_org {
            return Ok(Err(Refusal::of(&record.org, "organization deleted")));
        }
        // Invariant: a simple signature without an action was refused above.
        let Some(canonical) = request.canonical(params.scheme, &params.timestamp, &params.key_id)
        else {
            return Ok(Err(Refusal::of(
                &record.org,
                "a simple signature without an action",
            )));
        };
        match self.matches(&record, &canonical, &params.tag, now)? {
            Secret::Current | Secret::Previous => {}
            Secret::RotatedOut => return Ok(Err(Refusal::of(&record.org, "rotated-out secret"))),
            Secret::None => return Ok(Err(Refusal::of(&record.org, "bad signature"))),
        }
        let used_before = now - LAST_USED_INTERVAL;
        if record.last_used_at.is_none_or(|t| t < used_before) {
            store.touch_api_key(env, key_id, now, used_before).await?;
        }
        let replay_key = Key::new(
            REPLAY_NAMESPACE,
            &[&params.key_id, &Digest::of(&params.tag).to_hex()],
        );
        // Remembered while the timestamp is acceptable: at `timestamp + skew` it still is.
        let forget_at = timestamp + settings.skew + Duration::seconds(1);
        if store.mark_once(env, &replay_key, forget_at, now).await? == Mark::Replay {
            return Ok(Err(Refusal {
                code: EventCode::SIGNATURE_REPLAYED,
                ..Refusal::of(&record.org, "replay")
            }));
        }
        Ok(Ok(Verified {
            org: record.org,
            key_id,
            role: record.role,
            scheme: params.scheme,
            timestamp,
        }))
    }

    /// Which of the key's secrets signed `canonical`.
    fn matches(
        &self,
        record: &ApiKeyRecord,
        canonical: &[u8],
        tag: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Secret, Error> {
        let sealer = self.identity.api_key_sealer()?;
        let (env, org, id) = (
            self.identity.environment().as_str(),
            record.org.as_str(),
            record.id.to_string(),
        );
        let current = sealer.open(&record.sealed_secret, env, org, &id)?;
        if signature::verify(&current, canonical, tag) {
            return Ok(Secret::Current);
        }
        let Some(previous) = record.previous_sealed_secret.as_deref() else {
            return Ok(Secret::None);
        };
        let previous = sealer.open(previous, env, org, &id)?;
        if !signature::verify(&previous, canonical, tag) {
            return Ok(Secret::None);
        }
        Ok(match record.previous_expires_at {
            Some(until) if now < until => Secret::Previous,
            _ => Secret::RotatedOut,
        })
    }
}

/// Which secret of a key verified a signature.
enum Secret {
    Current,
    Previous,
    RotatedOut,
    None,
}
