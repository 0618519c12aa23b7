//! SECURITY.md, "Load" (line 56): 1,000 concurrent sign-ins and refreshes across families → no
//! error, no duplicate id, no cross-family revocation — on the `MemoryStore`, on SQLite and on
//! PostgreSQL.
//!
//! One scenario, [`sign_ins_and_refreshes_never_collide`], run on each store:
//!
//! 1. 1,000 concurrent password sign-ins (500 users, each from its own client address, twice at
//!    once; argon2id at its cheapest parameters), each exchanging its authorization code at
//!    once: every one succeeds, and every code, grant (refresh-token family), token `jti` and
//!    refresh token is distinct.
//! 2. 1,000 concurrent refresh chains, one per family, each rotating its family twice in
//!    sequence: every rotation succeeds and issues fresh ids of its own family and user.
//! 3. Afterwards nothing was revoked: every access and ID token ever issued passes live
//!    verification, each family's rotated refresh tokens are no longer current while its newest
//!    one is, and refreshing every newest token at once (1,000 more concurrent refreshes) works.
//! 4. The audit log counts exactly: 1,000 sign-ins succeeded and 1,000 token sets issued (one
//!    per grant), 3,000 refreshes; no sign-in or exchange failure, no reuse, no revocation.
//!
//! The tasks are spawned on a two-worker runtime and released together by a barrier, so they
//! run in parallel on both workers and interleave at every store round trip (the SQLite store
//! answers from tokio's blocking pool; the memory store never waits, so there the two workers
//! are the whole concurrency). The clock is stopped: every id is minted in the same
//! millisecond, the hardest case for unique ids.
//!
//! Two sign-ins per user at once: a sign-in reserves a lockout slot of its user before the
//! password is checked (so parallel wrong guesses never pass the threshold, line 42), so more
//! than the lockout threshold (5) of one user in flight at once are refused ("account locked").
//! The risk engine sees only guesses that failed, never the sign-ins in flight (`tests/risk.rs`
//! proves that on its own).
//!
//! [`live_verifications_after_an_idle_spell_all_succeed`] is the smallest form of the same
//! load: concurrent live verifications when the instance's revocation view has to catch up.
//!
//! The PostgreSQL variants (names ending in `_postgres`) run when built with `--features
//! postgres` and `IDCORE_TEST_POSTGRES_URL` names a database
//! (`postgres://postgres@127.0.0.1:5432/test`); without the variable they pass without doing
//! anything, and the binary says once that they were skipped. Each works in a fresh, migrated
//! schema (`idcore_test_<time>_<pid>_load<n>`), dropped at its end (a schema left by a failed
//! run is dropped by the next run of `tests/conformance_postgres.rs`), through one pool of 16
//! connections (`POOL_SIZE`): the tasks queue for a connection, as a host's requests would.

mod sqlite_file;
mod support;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use idcore::audit::{EventCode, EventQuery};
use idcore::clock::ManualClock;
use idcore::directory::{ClientId, Email, OrgDomain, UserId};
use idcore::mail::MemoryOutbox;
use idcore::risk::RequestContext;
use idcore::signin::password::{Argon2Params, Password};
use idcore::signin::{Authorization, SignInRequest, SignInStep, SignUp, SigninSettings};
use idcore::store::Store;
use idcore::tokens::pkce::CodeChallenge;
use idcore::tokens::{ClientAuth, CodeRequest, TokenSet};
use idcore::{Identity, MemoryStore, NewUser, PageRequest};
use sqlite_file::TempDb;
use support::{PASSWORD, REDIRECT, START, VERIFIER, code_in, fixture_on};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use uuid::Uuid;

/// Users signing in.
const USERS: usize = 500;
/// Concurrent sign-ins of each user (at most the lockout threshold: see the module docs).
const SIGN_INS_PER_USER: usize = 2;
/// Sign-ins, and so refresh-token families.
const FAMILIES: usize = USERS * SIGN_INS_PER_USER;
/// Rotations of each family, in sequence, in the concurrent refresh phase.
const ROTATIONS: usize = 2;

/// Concurrent live verifications after each idle spell.
const VERIFICATIONS: usize = 200;

/// The cheapest argon2id the settings accept (m = 8 KiB, t = 1, p = 1).
const CHEAPEST: Argon2Params = Argon2Params {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_sign_ins_and_refreshes_never_collide_memory() {
    sign_ins_and_refreshes_never_collide(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_sign_ins_and_refreshes_never_collide_sqlite() {
    let db = TempDb::fresh("load").await;
    sign_ins_and_refreshes_never_collide(db.open().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_live_verifications_after_an_idle_spell_all_succeed_memory() {
    live_verifications_after_an_idle_spell_all_succeed(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_live_verifications_after_an_idle_spell_all_succeed_sqlite() {
    let db = TempDb::fresh("idle").await;
    live_verifications_after_an_idle_spell_all_succeed(db.open().await).await;
}

#[cfg(feature = "postgres")]
mod pg_schema;

#[cfg(feature = "postgres")]
mod postgres {
    use super::pg_schema::PgSchema;
    use super::{
        live_verifications_after_an_idle_spell_all_succeed, sign_ins_and_refreshes_never_collide,
    };

    /// Connections of each test's pool, which the 1,000 tasks share (deadpool's default is two
    /// per core). More than the database's cores, so the tasks' round trips overlap; well
    /// under PostgreSQL's default limit of 100 connections, with the other test of this binary
    /// and other test binaries running at once. (On two cores, 32 was no faster.)
    const POOL_SIZE: usize = 16;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_concurrent_sign_ins_and_refreshes_never_collide_postgres() {
        let Some(schema) = PgSchema::fresh("load").await else {
            return;
        };
        sign_ins_and_refreshes_never_collide(schema.open_with_pool(POOL_SIZE)).await;
        schema.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_live_verifications_after_an_idle_spell_all_succeed_postgres() {
        let Some(schema) = PgSchema::fresh("idle").await else {
            return;
        };
        live_verifications_after_an_idle_spell_all_succeed(schema.open_with_pool(POOL_SIZE)).await;
        schema.drop_schema().await;
    }
}

/// The whole scenario (see the module docs) on `store`.
async fn sign_ins_and_refreshes_never_collide<S: Store + Clone>(store: S) {
    let t = Tenant::create(store).await;
    let users = t.users().await;

    // 1. 1,000 concurrent sign-ins, each exchanging its code.
    let barrier = Arc::new(Barrier::new(FAMILIES));
    let mut tasks = JoinSet::new();
    for i in 0..FAMILIES {
        let (t, barrier) = (t.clone(), Arc::clone(&barrier));
        let user = i % USERS;
        tasks.spawn(async move {
            barrier.wait().await;
            (user, t.sign_in_and_exchange(user).await)
        });
    }
    let mut signed_in = Vec::with_capacity(FAMILIES);
    let mut errors = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("no sign-in task panics") {
            (user, Ok(done)) => signed_in.push((user, done)),
            (user, Err(e)) => errors.push(format!("user {user}: {e}")),
        }
    }
    assert!(
        errors.is_empty(),
        "{} of {FAMILIES} concurrent sign-ins failed, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert_eq!(signed_in.len(), FAMILIES);

    let codes: HashSet<&str> = signed_in.iter().map(|(_, d)| d.code.as_str()).collect();
    assert_eq!(
        codes.len(),
        FAMILIES,
        "authorization codes are all distinct"
    );
    let mut ids = Ids::default();
    let mut families: Vec<Family> = Vec::with_capacity(FAMILIES);
    let mut per_user = vec![0; USERS];
    for (user, done) in signed_in {
        assert_eq!(
            done.user_id, users[user],
            "the code is the signing-in user's"
        );
        per_user[user] += 1;
        let grant = t
            .check_new_set(&done.set, users[user], None, &mut ids)
            .await;
        families.push(Family {
            user: users[user],
            grant,
            sets: vec![done.set],
        });
    }
    assert!(
        per_user.iter().all(|&n| n == SIGN_INS_PER_USER),
        "every user signed in {SIGN_INS_PER_USER} times"
    );
    let grants: HashSet<Uuid> = families.iter().map(|f| f.grant).collect();
    assert_eq!(
        grants.len(),
        FAMILIES,
        "every sign-in has a family of its own"
    );

    // 2. 1,000 concurrent refresh chains, one per family, each rotating it ROTATIONS times.
    let rotated = t.refresh_all(&families, ROTATIONS).await;
    for (family, sets) in families.iter_mut().zip(rotated) {
        for set in sets {
            t.check_new_set(&set, family.user, Some(family.grant), &mut ids)
                .await;
            family.sets.push(set);
        }
    }

    // 3. No family was revoked by another's activity.
    t.nothing_was_revoked(&families).await;
    let newest = t.refresh_all(&families, 1).await;
    for (family, sets) in families.iter().zip(newest) {
        for set in sets {
            t.check_new_set(&set, family.user, Some(family.grant), &mut ids)
                .await;
        }
    }
    assert_eq!(ids.access.len(), FAMILIES * (ROTATIONS + 2));
    assert_eq!(ids.id.len(), FAMILIES * (ROTATIONS + 2));
    assert_eq!(ids.refresh.len(), FAMILIES * (ROTATIONS + 2));

    // 4. The audit log: exactly one event per sign-in, grant and rotation; no failure.
    assert_eq!(t.count(EventCode::SIGN_IN_SUCCEEDED).await, FAMILIES);
    assert_eq!(
        t.count(EventCode::TOKENS_REFRESHED).await,
        FAMILIES * (ROTATIONS + 1)
    );
    for code in [
        EventCode::SIGN_IN_FAILED,
        EventCode::MFA_CHALLENGED,
        EventCode::ACCOUNT_LOCKED,
        EventCode::TOKEN_EXCHANGE_FAILED,
        EventCode::TOKEN_REUSE_DETECTED,
        EventCode::TOKEN_REVOKED,
        EventCode::GLOBAL_SIGN_OUT,
        EventCode::CLIENT_TOKENS_REVOKED,
    ] {
        assert_eq!(t.count(code.clone()).await, 0, "{code:?} events");
    }
    let issued = t.grants_issued().await;
    assert_eq!(issued.len(), FAMILIES, "TOKENS_ISSUED events");
    let issued: HashSet<Uuid> = issued.into_iter().collect();
    assert_eq!(issued, grants, "one TOKENS_ISSUED event per grant");
}

/// The smallest form of the load above, and the moment it is most likely to fail: an instance
/// idle for longer than `revocation_max_staleness` (5 s by default) has a view of the revocation
/// feed too old to answer from, and the first live check catches up with the store. Checks
/// arriving meanwhile must be answered too — after the catch-up, or from the view if it is
/// fresh enough — never refused: nothing failed, the store is up. Three idle spells, each ended
/// by [`VERIFICATIONS`] concurrent live verifications of one valid access token.
async fn live_verifications_after_an_idle_spell_all_succeed<S: Store + Clone>(store: S) {
    let t = Tenant::create(store).await;
    let set = t.one_token_set().await;
    for spell in 1..=3 {
        t.clock.advance(time::Duration::seconds(6));
        let barrier = Arc::new(Barrier::new(VERIFICATIONS));
        let mut tasks = JoinSet::new();
        for _ in 0..VERIFICATIONS {
            let (t, barrier) = (t.clone(), Arc::clone(&barrier));
            let token = set.access_token.clone();
            tasks.spawn(async move {
                barrier.wait().await;
                t.identity.tokens().verify_live(&token).await.map(|_| ())
            });
        }
        let mut errors = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined.expect("no verification task panics") {
                errors.push(e);
            }
        }
        assert!(
            errors.is_empty(),
            "after idle spell {spell}, {} of {VERIFICATIONS} concurrent live verifications of a \
             valid token failed, e.g. {:?}",
            errors.len(),
            errors.first()
        );
    }
}

/// One family: its user, its grant id, and every token set it was issued, oldest first.
struct Family {
    user: UserId,
    grant: Uuid,
    sets: Vec<TokenSet>,
}

/// A sign-in's code and the tokens it was exchanged for.
struct SignedIn {
    user_id: UserId,
    code: String,
    set: TokenSet,
}

/// Every id issued so far.
#[derive(Default)]
struct Ids {
    access: HashSet<Uuid>,
    id: HashSet<Uuid>,
    refresh: HashSet<String>,
}

/// An identity on the store under test, with one organization and one public client.
struct Tenant<S> {
    identity: Identity<S>,
    clock: ManualClock,
    outbox: MemoryOutbox,
    org: OrgDomain,
    client: ClientId,
}

// Not derived: that would ask for `S: Clone`, and the identity shares its store already.
impl<S> Clone for Tenant<S> {
    fn clone(&self) -> Self {
        Self {
            identity: self.identity.clone(),
            clock: self.clock.clone(),
            outbox: self.outbox.clone(),
            org: self.org.clone(),
            client: self.client,
        }
    }
}

impl<S: Store> Tenant<S> {
    async fn create(store: S) -> Self
    where
        S: Clone,
    {
        let fx = fixture_on(store, |b| {
            b.signin_settings(SigninSettings {
                argon2: CHEAPEST,
                ..SigninSettings::default()
            })
        })
        .await;
        Self {
            identity: fx.identity,
            clock: fx.clock,
            outbox: fx.outbox,
            org: fx.org,
            client: fx.client,
        }
    }

    fn auth(&self) -> ClientAuth {
        ClientAuth::public(self.client)
    }

    /// Signs up [`USERS`] users with verified addresses (set-up, concurrently); their ids by
    /// index.
    async fn users(&self) -> Vec<UserId> {
        let mut tasks = JoinSet::new();
        for user in 0..USERS {
            let t = self.clone();
            tasks.spawn(async move {
                let signin = t.identity.signin(&t.org);
                signin
                    .sign_up(SignUp::new(
                        NewUser::new(&email(user)).unwrap(),
                        Password::new(PASSWORD),
                    ))
                    .await
                    .expect("sign-up");
                let mail = t
                    .outbox
                    .last_to(&Email::parse(&email(user)).unwrap())
                    .expect("a mail to the new user");
                let verified = signin
                    .confirm_email(&email(user), &code_in(&mail.body), &RequestContext::new())
                    .await
                    .expect("e-mail confirmed");
                (user, verified.id)
            });
        }
        let mut ids = HashMap::new();
        while let Some(joined) = tasks.join_next().await {
            let (user, id) = joined.expect("no sign-up task panics");
            ids.insert(user, id);
        }
        (0..USERS).map(|u| ids[&u]).collect()
    }

    /// The tokens of one code minted for a new directory user and redeemed (the redemption is
    /// the instance's first live check: its view catches up with the store for the first time).
    async fn one_token_set(&self) -> TokenSet {
        let user = self
            .identity
            .users(&self.org)
            .create(NewUser::new("idle@example.com").unwrap())
            .await
            .unwrap();
        let code = self
            .identity
            .tokens()
            .mint_code(CodeRequest {
                org: self.org.clone(),
                user_id: user.id,
                client_id: self.client,
                redirect_uri: REDIRECT.to_owned(),
                code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
                nonce: None,
                state: None,
                scope: vec!["openid".to_owned()],
                auth_time: START,
                amr: vec!["pwd".to_owned()],
            })
            .await
            .unwrap();
        self.identity
            .tokens()
            .exchange_code(&self.auth(), code.expose(), REDIRECT, VERIFIER)
            .await
            .expect("the code redeems")
    }

    /// Signs `user` in with its password from its own address, then redeems the code.
    async fn sign_in_and_exchange(&self, user: usize) -> Result<SignedIn, String> {
        let request = SignInRequest {
            login: email(user),
            password: Password::new(PASSWORD),
            authorization: Authorization {
                client_id: self.client,
                redirect_uri: REDIRECT.to_owned(),
                code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
                nonce: Some(format!("nonce-{user}")),
                state: Some(format!("state-{user}")),
                scope: vec!["openid".to_owned(), "email".to_owned()],
            },
            context: RequestContext::new().client_ip(address(user)),
        };
        let done = match self.identity.signin(&self.org).sign_in(request).await {
            Ok(SignInStep::Complete(done)) => done,
            Ok(SignInStep::FactorRequired(p)) => {
                return Err(format!("sign-in challenged for {:?}", p.factors));
            }
            Err(e) => return Err(format!("sign-in: {e:?}")),
        };
        tokio::task::yield_now().await;
        let code = done.code.expose().to_owned();
        let set = self
            .identity
            .tokens()
            .exchange_code(&self.auth(), &code, REDIRECT, VERIFIER)
            .await
            .map_err(|e| format!("exchange: {e:?}"))?;
        Ok(SignedIn {
            user_id: done.user_id,
            code,
            set,
        })
    }

    /// Refreshes every family's newest refresh token `times` times in sequence, one task per
    /// family, all families at once; the new sets, per family in `families`' order.
    async fn refresh_all(&self, families: &[Family], times: usize) -> Vec<Vec<TokenSet>> {
        let barrier = Arc::new(Barrier::new(families.len()));
        let mut tasks = JoinSet::new();
        for (index, family) in families.iter().enumerate() {
            let (t, barrier) = (self.clone(), Arc::clone(&barrier));
            let mut token = newest(family).refresh_token.expose().to_owned();
            tasks.spawn(async move {
                barrier.wait().await;
                let mut sets = Vec::with_capacity(times);
                for rotation in 0..times {
                    let set = t
                        .identity
                        .tokens()
                        .refresh(&t.auth(), &token, None)
                        .await
                        .map_err(|e| format!("family {index}, rotation {rotation}: {e:?}"))?;
                    token = set.refresh_token.expose().to_owned();
                    sets.push(set);
                    tokio::task::yield_now().await;
                }
                Ok::<_, String>((index, sets))
            });
        }
        let mut rotated: Vec<Option<Vec<TokenSet>>> = families.iter().map(|_| None).collect();
        let mut errors = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined.expect("no refresh task panics") {
                Ok((index, sets)) => rotated[index] = Some(sets),
                Err(e) => errors.push(e),
            }
        }
        assert!(
            errors.is_empty(),
            "{} of {} concurrent refresh chains failed, e.g. {:?}",
            errors.len(),
            families.len(),
            &errors[..errors.len().min(5)]
        );
        rotated.into_iter().map(Option::unwrap).collect()
    }

    /// Checks a newly issued set (statelessly: signatures, claims) and records its ids, each of
    /// which must be new; answers its grant. The tokens are `user`'s and, for a refresh, of
    /// family `grant`.
    async fn check_new_set(
        &self,
        set: &TokenSet,
        user: UserId,
        grant: Option<Uuid>,
        ids: &mut Ids,
    ) -> Uuid {
        let tokens = self.identity.tokens();
        let access = tokens.verify(&set.access_token).await.unwrap().claims;
        let id = tokens
            .verify_id_token(&set.id_token, self.client)
            .await
            .unwrap();
        assert_eq!(
            (access.sub, id.sub),
            (user, user),
            "tokens of the right user"
        );
        assert_eq!(id.gid, access.gid, "ID and access token of one grant");
        if let Some(grant) = grant {
            assert_eq!(access.gid, grant, "a refresh stays in its family");
        }
        assert!(
            ids.access.insert(access.jti),
            "duplicate access jti {}",
            access.jti
        );
        assert!(ids.id.insert(id.jti), "duplicate ID token jti {}", id.jti);
        assert!(
            ids.refresh.insert(set.refresh_token.expose().to_owned()),
            "duplicate refresh token"
        );
        access.gid
    }

    /// Every token of every family is still good: each access and ID token passes live
    /// verification (rotation does not revoke access tokens, and nothing else happened to
    /// these families), each rotated refresh token is no longer current, each newest one is.
    async fn nothing_was_revoked(&self, families: &[Family]) {
        let tokens = self.identity.tokens();
        for family in families {
            for (generation, set) in family.sets.iter().enumerate() {
                let live = tokens.verify_live(&set.access_token).await;
                assert!(
                    live.is_ok(),
                    "access token {generation} of family {} fails live verification: {live:?}",
                    family.grant
                );
                let live = tokens
                    .verify_id_token_live(&set.id_token, self.client)
                    .await;
                assert!(
                    live.is_ok(),
                    "ID token {generation} of family {} fails live verification: {live:?}",
                    family.grant
                );
                let current = tokens
                    .refresh_token_info(set.refresh_token.expose())
                    .await
                    .unwrap();
                if generation + 1 < family.sets.len() {
                    assert_eq!(current, None, "a rotated refresh token is not current");
                } else {
                    let current = current.expect("the newest refresh token is current");
                    assert_eq!(current.family.0, family.grant);
                    assert_eq!(current.generation as usize, generation);
                    assert_eq!(current.user_id, family.user);
                }
            }
        }
    }

    /// How many events of `code` the organization's log holds.
    async fn count(&self, code: EventCode) -> usize {
        let list = self
            .identity
            .events()
            .list(
                &EventQuery::tenant(&self.org).code(code),
                PageRequest::new(1, 1).unwrap(),
            )
            .await
            .unwrap();
        usize::try_from(list.total).unwrap()
    }

    /// The `grant` detail of every `TOKENS_ISSUED` event.
    async fn grants_issued(&self) -> Vec<Uuid> {
        let query = EventQuery::tenant(&self.org).code(EventCode::TOKENS_ISSUED);
        let mut grants = Vec::new();
        for page in 1.. {
            let data = self
                .identity
                .events()
                .list(&query, PageRequest::new(page, 100).unwrap())
                .await
                .unwrap()
                .data;
            if data.is_empty() {
                break;
            }
            grants.extend(data.iter().map(|e| {
                Uuid::parse_str(&e.details["grant"]).expect("the grant of a TOKENS_ISSUED event")
            }));
        }
        grants
    }
}

fn newest(family: &Family) -> &TokenSet {
    family.sets.last().expect("a family has its first set")
}

fn email(user: usize) -> String {
    format!("user{user}@example.com")
}

/// Each user's own client address (10.0.0.0/8).
fn address(user: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + u32::try_from(user).unwrap()))
}
