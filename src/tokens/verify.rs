//! Verifying tokens: access and ID tokens, stateless and live (the revocation view), user info.

use std::borrow::Cow;

use time::OffsetDateTime;

use super::claims::{
    AccessClaims, CLAIMS_VERSION, IdClaims, JTT_ACCESS, JTT_OPENID, Metadata, ProfileClaims,
    TYP_ACCESS, TYP_ID,
};
use super::jws;
use crate::Error;
use crate::cache::keyring::OrgKeys;
use crate::cache::revocation::Subject;
use crate::error::TokenProblem;
use crate::model::ids::{ClientId, OrgDomain};
use crate::store::Store;

use super::service::*;

impl<'a, S: Store> Tokens<'a, S> {
    /// Verifies an access token without consulting revocations (stateless).
    ///
    /// Always checked: the compact form, the header (`alg` of the key, no `none`, no `crit`, no
    /// embedded keys, `typ` `at+jwt`), the signature with the organization's key named by
    /// `kid`, `iss` (exactly `{issuer}/t/{tnt}`), `aud` (exactly the configured audience),
    /// `dbs` (this environment), `jtt` (`access`), `nbf` and `exp` with the configured leeway.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] with the reason, [`Error::Store`] or [`Error::Keys`] when the
    /// organization's keys cannot be loaded.
    pub async fn verify(&self, token: &str) -> Result<Verified, Error> {
        self.check(token, Expiry::Refuse).await
    }

    /// [`Tokens::verify`], then revocations: the token's `jti`, its grant, its user's and its
    /// client's "not before" (global sign-out, password change, deletion, client revocation).
    /// Uses an in-process view of the store's revocation feed: revocations made through this
    /// [`Identity`](crate::Identity) apply at once; those made by other instances sharing the store are seen
    /// within [`TokenSettings::revocation_poll_interval`](crate::TokenSettings::revocation_poll_interval)
    /// (500 ms by default) plus one store round trip. If the view cannot catch up for
    /// `revocation_max_staleness` (5 s), this fails closed.
    ///
    /// # Errors
    /// As [`Tokens::verify`], plus [`Error::InvalidToken`]`(Revoked)`, and [`Error::Store`] when
    /// the revocation view is too stale and the store cannot be reached (fail closed).
    pub async fn verify_live(&self, token: &str) -> Result<Verified, Error> {
        let verified = self.verify(token).await?;
        let c = &verified.claims;
        let subject = Subject {
            tenant: &c.tnt,
            jti: c.jti,
            grant: c.gid,
            user_id: c.uid,
            client_id: c.cid,
            issued_at: OffsetDateTime::from_unix_timestamp(c.iat)
                .map_err(|_| Error::InvalidToken(TokenProblem::Claims))?,
        };
        self.check_revocations(&subject).await?;
        Ok(verified)
    }

    /// The seed's verify answer: like [`Tokens::verify`], except that an expired but otherwise
    /// valid token is `Ok` with `access_token_expired: true` (so the client knows to refresh).
    /// Never use this to authorize a request.
    ///
    /// # Errors
    /// As [`Tokens::verify`], except expiry.
    pub async fn verify_report(&self, token: &str) -> Result<Verified, Error> {
        self.check(token, Expiry::Report).await
    }

    /// Verifies an ID token issued to `client_id` (for example an `id_token_hint`), without
    /// consulting revocations.
    ///
    /// Always checked: the compact form, the header (`alg` of the key, `typ` `JWT`), the
    /// signature with the organization's key named by `kid`, `iss`, `dbs`, `aud`, `azp` and
    /// `cid` (all exactly `client_id`), `jtt` (`openid`), `nbf` and `exp` with the leeway.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] with the reason (an access token is `Type`; another client's ID
    /// token is `Audience`), [`Error::Store`] or [`Error::Keys`] as [`Tokens::verify`].
    pub async fn verify_id_token(
        &self,
        token: &str,
        client_id: ClientId,
    ) -> Result<IdClaims<'static>, Error> {
        self.check_id_token(token, client_id, Expiry::Refuse).await
    }

    /// An `id_token_hint` (OpenID Connect RP-Initiated Logout §2): as
    /// [`Tokens::verify_id_token`], except that an expired token is accepted — a user signs out
    /// long after the ID token expired. It names who and which client; it never authorizes.
    ///
    /// # Errors
    /// As [`Tokens::verify_id_token`], except expiry.
    pub async fn verify_id_token_hint(
        &self,
        token: &str,
        client_id: ClientId,
    ) -> Result<IdClaims<'static>, Error> {
        self.check_id_token(token, client_id, Expiry::Report).await
    }

    async fn check_id_token(
        &self,
        token: &str,
        client_id: ClientId,
        expiry: Expiry,
    ) -> Result<IdClaims<'static>, Error> {
        let config = self.identity.config();
        let decoded =
            jws::decode(token).map_err(|_| Error::InvalidToken(TokenProblem::Malformed))?;
        if decoded.typ() != Some(TYP_ID) {
            return Err(Error::InvalidToken(TokenProblem::Type));
        }
        let claims: IdClaims<'_> = serde_json::from_slice(decoded.payload())
            .map_err(|_| Error::InvalidToken(TokenProblem::Claims))?;
        let now = self.identity.now();
        self.check_signature(&decoded, &claims.tnt, now).await?;
        if !issued_by(config.issuer().as_str(), &claims.iss, &claims.tnt)
            || claims.dbs != self.env()
        {
            return Err(Error::InvalidToken(TokenProblem::Issuer));
        }
        if claims.aud != client_id || claims.azp != client_id || claims.cid != client_id {
            return Err(Error::InvalidToken(TokenProblem::Audience));
        }
        if claims.jtt != JTT_OPENID || claims.ver != CLAIMS_VERSION {
            return Err(Error::InvalidToken(TokenProblem::Type));
        }
        let expired =
            self.check_times(claims.exp, claims.iat, claims.nbf, claims.auth_time, now)?;
        if expired && expiry == Expiry::Refuse {
            return Err(Error::InvalidToken(TokenProblem::Expired));
        }
        Ok(IdClaims {
            iss: Cow::Owned(claims.iss.into_owned()),
            jtt: Cow::Borrowed(JTT_OPENID),
            nonce: claims.nonce.map(|n| Cow::Owned(n.into_owned())),
            ..claims
        })
    }

    /// [`Tokens::verify_id_token`], then revocations, as [`Tokens::verify_live`] does for access
    /// tokens: after a global sign-out, a password change, a disable, a deletion, a revoked
    /// grant or a revoked client, the ID tokens issued before fail here too.
    ///
    /// # Errors
    /// As [`Tokens::verify_id_token`], plus [`Error::InvalidToken`]`(Revoked)`, and
    /// [`Error::Store`] when the revocation view is too stale (fail closed).
    pub async fn verify_id_token_live(
        &self,
        token: &str,
        client_id: ClientId,
    ) -> Result<IdClaims<'static>, Error> {
        let claims = self.verify_id_token(token, client_id).await?;
        let subject = Subject {
            tenant: &claims.tnt,
            jti: claims.jti,
            grant: claims.gid,
            user_id: claims.sub,
            client_id: claims.cid,
            issued_at: OffsetDateTime::from_unix_timestamp(claims.iat)
                .map_err(|_| Error::InvalidToken(TokenProblem::Claims))?,
        };
        self.check_revocations(&subject).await?;
        Ok(claims)
    }

    /// User info from an access token (live-verified): the current profile claims.
    ///
    /// # Errors
    /// As [`Tokens::verify_live`]; [`Error::InvalidToken`]`(Revoked)` when the user no longer
    /// exists or is disabled.
    pub async fn userinfo(&self, access_token: &str) -> Result<UserInfo, Error> {
        let verified = self.verify_live(access_token).await?;
        let c = &verified.claims;
        let (user, schema) = match self.user_and_schema(&c.tnt, c.uid).await {
            Ok((user, schema)) if user.active => (user, schema),
            Ok(_) | Err(Error::NotFound(_)) => {
                return Err(Error::InvalidToken(TokenProblem::Revoked));
            }
            Err(e) => return Err(e),
        };
        let profile = ProfileClaims::of(&user);
        let custom = self.custom_claims(&user, &schema).await?;
        Ok(UserInfo {
            sub: user.id,
            username: user
                .profile
                .preferred_username
                .as_ref()
                .map_or_else(|| user.profile.email.to_string(), |n| n.to_string()),
            auth_time: c.auth_time,
            exp: c.exp,
            profile,
            metadata: Metadata(custom.metadata),
            roles: custom.roles,
            actions: custom.actions,
            attributes: custom.attributes,
            groups: custom.groups,
        })
    }

    /// Parses and checks a token; `access_token_expired` tells expiry instead of failing.
    pub(super) async fn check_revocations(&self, subject: &Subject<'_>) -> Result<(), Error> {
        let revoked = self
            .identity
            .revocations()
            .is_revoked(
                self.identity.store(),
                self.env(),
                subject,
                self.identity.now(),
            )
            .await?;
        if revoked {
            return Err(Error::InvalidToken(TokenProblem::Revoked));
        }
        Ok(())
    }

    /// The signature of a decoded token, with the key its `kid` names among `tnt`'s keys.
    pub(super) async fn check_signature(
        &self,
        decoded: &jws::Decoded<'_>,
        tnt: &OrgDomain,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let kid = decoded
            .kid()
            .ok_or(Error::InvalidToken(TokenProblem::Header))?;
        let keys = self
            .identity
            .key_ring()
            .for_verifying(self.identity.store(), self.env(), tnt, kid, now)
            .await?
            .ok_or(Error::InvalidToken(TokenProblem::UnknownKey))?;
        let key = keys
            .verifying(kid, now)
            .ok_or(Error::InvalidToken(TokenProblem::UnknownKey))?;
        jws::verify(decoded, key).map_err(|_| Error::InvalidToken(TokenProblem::Signature))
    }

    /// Checks the NumericDate claims of a verified token; answers whether it has expired.
    pub(super) fn check_times(
        &self,
        exp: i64,
        iat: i64,
        nbf: i64,
        auth_time: i64,
        now: OffsetDateTime,
    ) -> Result<bool, Error> {
        if exp <= 0 || iat <= 0 || nbf <= 0 || auth_time <= 0 {
            return Err(Error::InvalidToken(TokenProblem::Claims));
        }
        let leeway = self.identity.config().leeway().whole_seconds();
        let now_s = now.unix_timestamp();
        if nbf > now_s + leeway || iat > now_s + leeway {
            return Err(Error::InvalidToken(TokenProblem::NotYetValid));
        }
        Ok(now_s >= exp.saturating_add(leeway))
    }

    /// Verifies an access token. The hot path awaits nothing: with its organization's keys in
    /// memory, [`Self::check_with`] answers at once; only a token whose keys must be loaded first
    /// takes the (boxed, so the hot future stays small) loading path.
    pub(super) async fn check(&self, token: &str, expiry: Expiry) -> Result<Verified, Error> {
        match self.check_with(token, expiry, None) {
            Checked::Done(result) => result,
            Checked::LoadKeys { tnt, kid } => {
                Box::pin(self.check_loading(token, expiry, tnt, kid)).await
            }
        }
    }

    /// Loads the keys of organization `tnt` (see [`KeyRing`](super::keyring)), then verifies
    /// with them.
    pub(super) async fn check_loading(
        &self,
        token: &str,
        expiry: Expiry,
        tnt: OrgDomain,
        kid: String,
    ) -> Result<Verified, Error> {
        let keys = self
            .identity
            .key_ring()
            .for_verifying(
                self.identity.store(),
                self.env(),
                &tnt,
                &kid,
                self.identity.now(),
            )
            .await?
            .ok_or(Error::InvalidToken(TokenProblem::UnknownKey))?;
        match self.check_with(token, expiry, Some(&keys)) {
            Checked::Done(result) => result,
            Checked::LoadKeys { .. } => Err(Error::InvalidToken(TokenProblem::UnknownKey)),
        }
    }

    /// Verifies an access token with `keys` (its organization's), or with the key ring's keys
    /// when they are in memory and fresh; [`Checked::LoadKeys`] when they must be loaded first.
    pub(super) fn check_with(
        &self,
        token: &str,
        expiry: Expiry,
        keys: Option<&OrgKeys>,
    ) -> Checked {
        let invalid = |problem| Checked::Done(Err(Error::InvalidToken(problem)));
        let config = self.identity.config();
        let Ok(decoded) = jws::decode(token) else {
            return invalid(TokenProblem::Malformed);
        };
        if decoded.typ() != Some(TYP_ACCESS) {
            return invalid(TokenProblem::Type);
        }
        let Some(claims) = AccessClaims::from_json(decoded.payload()) else {
            return invalid(TokenProblem::Claims);
        };
        let now = self.identity.now();
        let Some(kid) = decoded.kid() else {
            return invalid(TokenProblem::Header);
        };
        let cached;
        let keys = match keys {
            Some(keys) => keys,
            None => match self.identity.key_ring().fresh(&claims.tnt, kid, now) {
                Some(fresh) => {
                    cached = fresh;
                    &cached
                }
                None => {
                    return Checked::LoadKeys {
                        tnt: claims.tnt,
                        kid: kid.to_owned(),
                    };
                }
            },
        };
        let Some(key) = keys.verifying(kid, now) else {
            return invalid(TokenProblem::UnknownKey);
        };
        if jws::verify(&decoded, key).is_err() {
            return invalid(TokenProblem::Signature);
        }
        // Only claims of a verified token are looked at from here on.
        if !issued_by(config.issuer().as_str(), &claims.iss, &claims.tnt)
            || claims.dbs != self.env()
        {
            return invalid(TokenProblem::Issuer);
        }
        if claims.aud != config.audience() {
            return invalid(TokenProblem::Audience);
        }
        if claims.jtt != JTT_ACCESS || claims.ver != CLAIMS_VERSION || claims.sub != claims.uid {
            return invalid(TokenProblem::Type);
        }
        let expired =
            match self.check_times(claims.exp, claims.iat, claims.nbf, claims.auth_time, now) {
                Ok(expired) => expired,
                Err(e) => return Checked::Done(Err(e)),
            };
        if expired && expiry == Expiry::Refuse {
            return invalid(TokenProblem::Expired);
        }
        Checked::Done(Ok(Verified {
            signature_verified: true,
            access_token_expired: expired,
            auth_time: claims.auth_time,
            exp: claims.exp,
            claims,
        }))
    }
}
