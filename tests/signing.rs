//! API keys and signed requests (seed 003), as specifications: exact outcomes for every change
//! to a signed request, the skew boundaries, replays, revoked, expired and rotated-out keys,
//! other organizations and environments, and 100 concurrent submissions of one signed request
//! on MemoryStore, SQLite and PostgreSQL (each on two `Identity` instances sharing the store).
//! Store failures at every step of create, rotate, revoke and verify: nothing half-written,
//! refused, and a retry works.
//!
//! The PostgreSQL test runs when built with `--features postgres` and `IDCORE_TEST_POSTGRES_URL`
//! names a database; otherwise it passes without doing anything.

use std::sync::Arc;

use idcore::audit::{EventCode, EventQuery};
use idcore::clock::ManualClock;
use idcore::directory::OrgDomain;
use idcore::page::PageRequest;
use idcore::protocol::delete_token::{Caller, caller_of};
use idcore::signing::{
    ApiKeyRole, CreatedApiKey, NewApiKey, Scheme, SignedRequest, SigningSettings, SimpleSignatures,
    signature,
};
use idcore::store::fault::{FaultPlan, FaultyStore};
use idcore::store::{ApiKeyStore, Store};
use idcore::tokens::keys::EncryptionKey;
use idcore::{Environment, Error, Identity, MemoryStore, NewOrganization, Resource};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

mod sqlite_file;

#[cfg(feature = "postgres")]
mod pg_schema;

const T0: OffsetDateTime = datetime!(2030-01-01 00:00 UTC);
const PATH: &str = "/apsdb/rest/DeleteToken";
const BODY: &[u8] = b"userList=john&userList=domingo%40dodge.com";

fn kek() -> EncryptionKey {
    EncryptionKey::from_bytes(&[7; 32]).expect("32 bytes")
}

fn identity_on<S: Store>(store: S, clock: &ManualClock, env: Environment) -> Identity<S> {
    Identity::builder()
        .issuer("https://auth.example.com")
        .environment(env)
        .clock(clock.clone())
        .key_encryption_key(kek())
        .signing_settings(SigningSettings {
            simple_signatures: SimpleSignatures::Accept,
            ..SigningSettings::default()
        })
        .store(store)
        .build()
        .expect("a valid configuration")
}

/// An identity on `store`, an organization and one owner key.
struct Fx<S> {
    identity: Identity<S>,
    clock: ManualClock,
    org: OrgDomain,
    key: CreatedApiKey,
}

async fn fixture_on<S: Store>(store: S) -> Fx<S> {
    let clock = ManualClock::new(T0);
    let identity = identity_on(store, &clock, Environment::Sandbox);
    let org = new_org(&identity, "Misapret").await;
    let key = identity
        .api_keys(&org)
        .create(NewApiKey::new("backend", ApiKeyRole::Owner).unwrap())
        .await
        .expect("a key");
    Fx {
        identity,
        clock,
        org,
        key,
    }
}

async fn fixture() -> Fx<MemoryStore> {
    fixture_on(MemoryStore::new()).await
}

async fn new_org<S: Store>(identity: &Identity<S>, name: &str) -> OrgDomain {
    identity
        .organizations()
        .create(NewOrganization::new(name).unwrap())
        .await
        .expect("an organization")
        .domain
}

fn form() -> Vec<(String, String)> {
    vec![
        ("userList".to_owned(), "john".to_owned()),
        ("userList".to_owned(), "domingo@dodge.com".to_owned()),
    ]
}

/// `params` plus the four signature parameters of a default signature.
fn sign(
    key: &CreatedApiKey,
    method: &str,
    path: &str,
    params: &[(String, String)],
    body: &[u8],
    unix: i64,
) -> Vec<(String, String)> {
    sign_with(
        &key.key.id.to_string(),
        key,
        method,
        path,
        params,
        body,
        unix,
    )
}

fn sign_with(
    key_id: &str,
    key: &CreatedApiKey,
    method: &str,
    path: &str,
    params: &[(String, String)],
    body: &[u8],
    unix: i64,
) -> Vec<(String, String)> {
    let time = unix.to_string();
    let sig = SignedRequest::new(method, path, params)
        .body(body)
        .sign(
            Scheme::Default,
            &time,
            key_id,
            key.secret.expose().as_bytes(),
        )
        .expect("a default signature");
    let mut all = params.to_vec();
    all.extend(signature::wire_params(Scheme::Default, key_id, &time, &sig));
    all
}

impl<S: Store> Fx<S> {
    fn unix(&self) -> i64 {
        self.identity.now().unix_timestamp()
    }

    /// The default-signed sample request at `unix`, with `key`.
    fn signed_by(&self, key: &CreatedApiKey, unix: i64) -> Vec<(String, String)> {
        sign(key, "POST", PATH, &form(), BODY, unix)
    }

    fn signed(&self) -> Vec<(String, String)> {
        self.signed_by(&self.key, self.unix())
    }

    async fn verify(
        &self,
        params: &[(String, String)],
    ) -> Result<idcore::signing::Verified, Error> {
        self.verify_as("POST", PATH, params, BODY).await
    }

    async fn verify_as(
        &self,
        method: &str,
        path: &str,
        params: &[(String, String)],
        body: &[u8],
    ) -> Result<idcore::signing::Verified, Error> {
        let request = SignedRequest::new(method, path, params)
            .body(body)
            .action("DeleteToken");
        self.identity.signatures().verify(&request).await
    }

    /// The `reason` details of every event with `code`, newest first.
    async fn reasons(&self, code: EventCode) -> Vec<String> {
        let (events, _) = self
            .identity
            .store()
            .events(
                self.identity.environment(),
                &EventQuery::default().code(code),
                PageRequest::new(1, 100).unwrap(),
            )
            .await
            .expect("events");
        events
            .into_iter()
            .map(|e| e.details.get("reason").cloned().unwrap_or_default())
            .collect()
    }

    async fn count(&self, code: EventCode) -> usize {
        self.reasons(code).await.len()
    }
}

fn rejected<T: std::fmt::Debug>(result: Result<T, Error>) {
    assert!(
        matches!(result, Err(Error::SignatureRejected)),
        "expected a rejection, got {result:?}"
    );
}

fn store_error<T: std::fmt::Debug>(result: Result<T, Error>) {
    assert!(
        matches!(result, Err(Error::Store(_))),
        "expected a store error, got {result:?}"
    );
}

#[tokio::test]
async fn a_signed_request_verifies_and_names_its_organization_key_and_role() {
    let fx = fixture().await;
    let verified = fx.verify(&fx.signed()).await.expect("verified");
    assert_eq!(verified.org, fx.org);
    assert_eq!(verified.key_id, fx.key.key.id);
    assert_eq!(verified.role, ApiKeyRole::Owner);
    assert_eq!(verified.scheme, Scheme::Default);
    assert_eq!(verified.timestamp, T0);
    assert_eq!(caller_of(&verified), Some(Caller::Owner));
    let via_org = fx
        .identity
        .api_keys(&fx.org)
        .verify(&SignedRequest::new("POST", PATH, &fx.signed_by(&fx.key, fx.unix() + 1)).body(BODY))
        .await
        .expect("verified for its organization");
    assert_eq!(via_org.key_id, fx.key.key.id);
    assert_eq!(Error::SignatureRejected.code(), "invalid_signature");
    assert_eq!(Error::SignatureRejected.http_status(), 401);
}

#[tokio::test]
async fn changing_the_method_path_a_parameter_the_body_the_timestamp_or_the_key_is_rejected() {
    let fx = fixture().await;
    let other = fx
        .identity
        .api_keys(&fx.org)
        .create(NewApiKey::new("other", ApiKeyRole::Owner).unwrap())
        .await
        .unwrap();
    let signed = fx.signed();
    let with = |name: &str, value: &str| -> Vec<(String, String)> {
        signed
            .iter()
            .map(|(n, v)| {
                let v = if n == name {
                    value.to_owned()
                } else {
                    v.clone()
                };
                (n.clone(), v)
            })
            .collect()
    };
    rejected(fx.verify_as("PUT", PATH, &signed, BODY).await);
    rejected(
        fx.verify_as("POST", "/apsdb/rest/deletetoken", &signed, BODY)
            .await,
    );
    rejected(fx.verify_as("POST", PATH, &signed, b"userList=john").await);
    rejected(fx.verify(&with("userList", "mallory")).await);
    let mut added = signed.clone();
    added.push(("userList".to_owned(), "mallory".to_owned()));
    rejected(fx.verify(&added).await);
    let mut reordered = signed.clone();
    reordered.swap(0, 1);
    rejected(fx.verify(&reordered).await);
    rejected(
        fx.verify(&with("apsws.time", &(fx.unix() + 1).to_string()))
            .await,
    );
    rejected(
        fx.verify(&with("apsws.authKey", &other.key.id.to_string()))
            .await,
    );
    assert_eq!(
        fx.reasons(EventCode::SIGNATURE_REJECTED).await,
        vec!["bad signature"; 8]
    );
    // Unchanged, it verifies (none of the refusals used it up).
    fx.verify(&signed).await.expect("the original verifies");
    // The method compares case-insensitively; other parameters' order across names does not
    // matter (they are sorted), repeated names' order does (above).
    let lower = fx.signed_by(&fx.key, fx.unix() + 2);
    fx.verify_as("post", PATH, &lower, BODY)
        .await
        .expect("a lowercase method");
}

#[tokio::test]
async fn the_timestamp_may_be_five_minutes_off_either_way_and_no_more() {
    let fx = fixture().await;
    let now = fx.unix();
    for (offset, accepted) in [(-300, true), (300, true), (-301, false), (301, false)] {
        let result = fx.verify(&fx.signed_by(&fx.key, now + offset)).await;
        assert_eq!(result.is_ok(), accepted, "offset {offset}: {result:?}");
        if !accepted {
            rejected(result);
        }
    }
    assert_eq!(
        fx.reasons(EventCode::SIGNATURE_REJECTED).await,
        vec!["timestamp outside the allowed skew"; 2]
    );
}

#[tokio::test]
async fn a_replayed_request_is_rejected_and_audited_as_a_replay() {
    let fx = fixture().await;
    let signed = fx.signed();
    fx.verify(&signed).await.expect("first");
    rejected(fx.verify(&signed).await);
    fx.clock.advance(Duration::seconds(299));
    rejected(fx.verify(&signed).await);
    assert_eq!(
        fx.reasons(EventCode::SIGNATURE_REPLAYED).await,
        ["replay", "replay"]
    );
    // Past the skew the marker may be forgotten: the timestamp refuses it instead.
    fx.clock.advance(Duration::seconds(2));
    rejected(fx.verify(&signed).await);
    assert_eq!(
        fx.reasons(EventCode::SIGNATURE_REJECTED).await,
        ["timestamp outside the allowed skew"]
    );
}

#[tokio::test]
async fn revoked_and_expired_keys_are_rejected() {
    let fx = fixture().await;
    let keys = fx.identity.api_keys(&fx.org);
    let expiring = keys
        .create(
            NewApiKey::new("short", ApiKeyRole::Read)
                .unwrap()
                .expires_at(T0 + Duration::minutes(10)),
        )
        .await
        .unwrap();
    fx.verify(&fx.signed_by(&expiring, fx.unix()))
        .await
        .expect("before expiry");
    fx.clock.advance(Duration::minutes(10));
    rejected(fx.verify(&fx.signed_by(&expiring, fx.unix())).await);
    let revoked = keys.revoke(fx.key.key.id).await.expect("revoked");
    assert_eq!(revoked.revoked_at, Some(fx.identity.now()));
    rejected(fx.verify(&fx.signed()).await);
    // Revoking again answers the key as it is, and records nothing more.
    assert_eq!(keys.revoke(fx.key.key.id).await.unwrap(), revoked);
    assert_eq!(fx.count(EventCode::API_KEY_REVOKED).await, 1);
    assert_eq!(
        fx.reasons(EventCode::SIGNATURE_REJECTED).await,
        ["revoked key", "expired key"]
    );
    assert!(matches!(
        keys.rotate(fx.key.key.id, Duration::ZERO).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        keys.create(
            NewApiKey::new("past", ApiKeyRole::Read)
                .unwrap()
                .expires_at(fx.identity.now())
        )
        .await,
        Err(Error::InvalidField {
            field: "expires_at",
            ..
        })
    ));
}

#[tokio::test]
async fn after_a_rotation_the_old_secret_verifies_until_the_overlap_ends_then_only_the_new_one() {
    let fx = fixture().await;
    let keys = fx.identity.api_keys(&fx.org);
    let rotated = keys
        .rotate(fx.key.key.id, Duration::minutes(10))
        .await
        .expect("rotated");
    assert_eq!(rotated.key.id, fx.key.key.id);
    assert_ne!(rotated.secret, fx.key.secret);
    assert_eq!(
        rotated.key.previous_secret_expires_at,
        Some(T0 + Duration::minutes(10))
    );
    fx.verify(&fx.signed_by(&fx.key, fx.unix()))
        .await
        .expect("the old secret during the overlap");
    fx.verify(&fx.signed_by(&rotated, fx.unix()))
        .await
        .expect("the new secret");
    fx.clock
        .advance(Duration::minutes(10) - Duration::seconds(1));
    fx.verify(&fx.signed_by(&fx.key, fx.unix()))
        .await
        .expect("the old secret a second before the overlap ends");
    fx.clock.advance(Duration::seconds(1));
    rejected(fx.verify(&fx.signed_by(&fx.key, fx.unix())).await);
    fx.verify(&fx.signed_by(&rotated, fx.unix()))
        .await
        .expect("the new secret after the overlap");
    assert_eq!(
        fx.reasons(EventCode::SIGNATURE_REJECTED).await,
        ["rotated-out secret"]
    );
    // A rotation without overlap ends the current secret at once, and drops the older one.
    let again = keys.rotate(fx.key.key.id, Duration::ZERO).await.unwrap();
    rejected(fx.verify(&fx.signed_by(&rotated, fx.unix())).await);
    fx.verify(&fx.signed_by(&again, fx.unix()))
        .await
        .expect("the newest secret");
    assert_eq!(fx.count(EventCode::API_KEY_ROTATED).await, 2);
    assert!(matches!(
        keys.rotate(fx.key.key.id, Duration::days(31)).await,
        Err(Error::InvalidField {
            field: "overlap",
            ..
        })
    ));
}

#[tokio::test]
async fn the_secret_never_shows_in_debug_output_nor_in_the_store() {
    let fx = fixture().await;
    let secret = fx.key.secret.expose().to_owned();
    assert_eq!(secret.len(), 43, "256 bits, base64url");
    assert!(!format!("{:?}", fx.key).contains(&secret));
    let stored = fx
        .identity
        .store()
        .api_key(Environment::Sandbox, fx.key.key.id)
        .await
        .unwrap()
        .expect("stored");
    let debug = format!("{stored:?}");
    assert!(
        !debug.contains(&secret) && debug.contains("[sealed]"),
        "{debug}"
    );
    assert!(
        !stored
            .sealed_secret
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()),
        "sealed, not in the clear"
    );
    let params = fx.signed();
    let request = SignedRequest::new("POST", PATH, &params);
    let parsed = signature::SignatureParams::parse(request.params).unwrap();
    assert!(!format!("{parsed:?}").contains(&params[5].1));
    let listed = fx
        .identity
        .api_keys(&fx.org)
        .list(PageRequest::default())
        .await
        .unwrap();
    assert!(!serde_json::to_string(&listed).unwrap().contains(&secret));
}

#[tokio::test]
async fn another_organizations_key_is_indistinguishable_from_no_key() {
    let fx = fixture().await;
    let other = new_org(&fx.identity, "Other").await;
    let theirs = fx.identity.api_keys(&other);
    let id = fx.key.key.id;
    assert!(matches!(
        theirs.retrieve(id).await,
        Err(Error::NotFound(Resource::ApiKey))
    ));
    assert!(matches!(
        theirs.revoke(id).await,
        Err(Error::NotFound(Resource::ApiKey))
    ));
    assert!(matches!(
        theirs.rotate(id, Duration::ZERO).await,
        Err(Error::NotFound(Resource::ApiKey))
    ));
    assert_eq!(theirs.list(PageRequest::default()).await.unwrap().total, 0);
    let params = fx.signed();
    rejected(
        theirs
            .verify(&SignedRequest::new("POST", PATH, &params).body(BODY))
            .await,
    );
    // Still live and unused in its own organization.
    fx.verify(&params)
        .await
        .expect("verifies for its own organization");
    assert_eq!(
        fx.reasons(EventCode::SIGNATURE_REJECTED).await,
        ["key of another organization"]
    );
}

#[tokio::test]
async fn a_key_of_another_environment_or_an_unknown_key_is_rejected() {
    let fx = fixture().await;
    let production = identity_on(
        fx.identity.store().clone(),
        &fx.clock,
        Environment::Production,
    );
    let params = fx.signed();
    let request = SignedRequest::new("POST", PATH, &params).body(BODY);
    rejected(production.signatures().verify(&request).await);
    let unknown = sign_with(
        "ak_0190f5a0c3e87b3a9d41e2b7c6a5f4e1",
        &fx.key,
        "POST",
        PATH,
        &form(),
        BODY,
        fx.unix(),
    );
    rejected(fx.verify(&unknown).await);
    let malformed = sign_with("key-1", &fx.key, "POST", PATH, &form(), BODY, fx.unix());
    rejected(fx.verify(&malformed).await);
    rejected(fx.verify(&form()).await);
    assert_eq!(
        fx.reasons(EventCode::SIGNATURE_REJECTED).await,
        [
            "malformed signature parameters",
            "malformed key id",
            "unknown key"
        ]
    );
    fx.verify(&params).await.expect("in its own environment");
}

#[tokio::test]
async fn simple_signatures_sign_the_action_and_user_and_are_refused_unless_accepted() {
    let fx = fixture().await;
    let key_id = fx.key.key.id.to_string();
    let time = fx.unix().to_string();
    let user = vec![("apsws.user".to_owned(), "john".to_owned())];
    let sig = SignedRequest::new("POST", PATH, &user)
        .action("DeleteToken")
        .sign(
            Scheme::Simple,
            &time,
            &key_id,
            fx.key.secret.expose().as_bytes(),
        )
        .unwrap();
    let mut params = user.clone();
    params.extend(signature::wire_params(Scheme::Simple, &key_id, &time, &sig));
    let for_action = |action: &'static str, params: Vec<(String, String)>| {
        let identity = fx.identity.clone();
        async move {
            let request = SignedRequest::new("GET", "/anything", &params).action(action);
            identity.signatures().verify(&request).await
        }
    };
    rejected(for_action("VerifyCredentials", params.clone()).await);
    let mut other_user = params.clone();
    other_user[0].1 = "jane".to_owned();
    rejected(for_action("DeleteToken", other_user).await);
    let verified = for_action("DeleteToken", params.clone())
        .await
        .expect("method, path and body are not signed");
    assert_eq!(verified.scheme, Scheme::Simple);

    // Without SimpleSignatures::Accept (the default), the same request is refused.
    let strict = Identity::builder()
        .issuer("https://auth.example.com")
        .clock(fx.clock.clone())
        .key_encryption_key(kek())
        .store(fx.identity.store().clone())
        .build()
        .unwrap();
    let request = SignedRequest::new("GET", "/", &params).action("DeleteToken");
    rejected(strict.signatures().verify(&request).await);
    assert_eq!(
        fx.reasons(EventCode::SIGNATURE_REJECTED).await[0],
        "simple signatures are not accepted"
    );
}

#[tokio::test]
async fn keys_list_newest_first_by_page_and_cursor_and_carry_no_secret() {
    let fx = fixture().await;
    let keys = fx.identity.api_keys(&fx.org);
    let mut ids = vec![fx.key.key.id];
    for name in ["b", "c"] {
        fx.clock.advance(Duration::seconds(1));
        ids.push(
            keys.create(
                NewApiKey::new(name, ApiKeyRole::Read)
                    .unwrap()
                    .description("d")
                    .unwrap(),
            )
            .await
            .unwrap()
            .key
            .id,
        );
    }
    ids.reverse();
    let first = keys.list(PageRequest::new(1, 2).unwrap()).await.unwrap();
    assert_eq!(first.total, 3);
    let cursor = first.next_cursor.expect("a next page");
    let second = keys
        .list(PageRequest::new(2, 2).unwrap().after(cursor))
        .await
        .unwrap();
    let walked: Vec<_> = first
        .data
        .iter()
        .chain(&second.data)
        .map(|k| k.id)
        .collect();
    assert_eq!(walked, ids);
    assert_eq!(keys.retrieve(ids[0]).await.unwrap().role, ApiKeyRole::Read);
    assert_eq!(fx.count(EventCode::API_KEY_CREATED).await, 3);
}

#[tokio::test]
async fn last_use_is_written_at_most_once_a_minute() {
    let fx = fixture().await;
    let keys = fx.identity.api_keys(&fx.org);
    assert_eq!(
        keys.retrieve(fx.key.key.id).await.unwrap().last_used_at,
        None
    );
    fx.verify(&fx.signed()).await.unwrap();
    let first = fx.identity.now();
    for _ in 0..3 {
        fx.clock.advance(Duration::seconds(20));
        fx.verify(&fx.signed()).await.unwrap();
    }
    assert_eq!(
        keys.retrieve(fx.key.key.id).await.unwrap().last_used_at,
        Some(first),
        "a minute on, still the first use"
    );
    fx.clock.advance(Duration::seconds(1));
    fx.verify(&fx.signed()).await.unwrap();
    assert_eq!(
        keys.retrieve(fx.key.key.id).await.unwrap().last_used_at,
        Some(first + Duration::seconds(61))
    );
}

/// 100 concurrent submissions of one signed request, spread over two `Identity` instances
/// sharing `store`: exactly one is accepted, 99 are refused as replays.
async fn one_of_100_concurrent_submissions_is_accepted<S: Store + Clone>(store: S, second: S) {
    let fx = fixture_on(store).await;
    let other = identity_on(second, &fx.clock, Environment::Sandbox);
    let params = Arc::new(fx.signed());
    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let mut tasks = Vec::new();
    for i in 0..100 {
        let identity = if i % 2 == 0 {
            fx.identity.clone()
        } else {
            other.clone()
        };
        let (params, barrier) = (Arc::clone(&params), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let request = SignedRequest::new("POST", PATH, &params).body(BODY);
            identity.signatures().verify(&request).await
        }));
    }
    let mut accepted = 0;
    let mut replays = 0;
    for task in tasks {
        match task.await.expect("a task") {
            Ok(_) => accepted += 1,
            Err(Error::SignatureRejected) => replays += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((accepted, replays), (1, 99));
    assert_eq!(fx.count(EventCode::SIGNATURE_REPLAYED).await, 99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_of_100_concurrent_submissions_is_accepted_on_memory() {
    let store = MemoryStore::new();
    one_of_100_concurrent_submissions_is_accepted(store.clone(), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_of_100_concurrent_submissions_is_accepted_on_sqlite() {
    let db = sqlite_file::TempDb::fresh("signing").await;
    one_of_100_concurrent_submissions_is_accepted(db.store().await, db.open().await).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_of_100_concurrent_submissions_is_accepted_on_postgres() {
    let Some(schema) = pg_schema::PgSchema::fresh("signing").await else {
        return;
    };
    one_of_100_concurrent_submissions_is_accepted(schema.open(), schema.open()).await;
    schema.drop_schema().await;
}

// ---- store failures ----

async fn faulty() -> (Fx<FaultyStore<MemoryStore>>, FaultyStore<MemoryStore>) {
    let store = FaultyStore::new(MemoryStore::new());
    let fx = fixture_on(store.clone()).await;
    (fx, store)
}

#[tokio::test]
async fn a_failing_store_call_of_create_writes_nothing_and_a_retry_works() {
    for method in ["organization", "insert_api_key"] {
        let (fx, store) = faulty().await;
        store.arm(FaultPlan::Method(method));
        let keys = fx.identity.api_keys(&fx.org);
        store_error(
            keys.create(NewApiKey::new("k", ApiKeyRole::Read).unwrap())
                .await,
        );
        store.disarm();
        assert_eq!(
            keys.list(PageRequest::default()).await.unwrap().total,
            1,
            "{method}"
        );
        assert_eq!(fx.count(EventCode::API_KEY_CREATED).await, 1, "{method}");
        let created = keys
            .create(NewApiKey::new("k", ApiKeyRole::Read).unwrap())
            .await
            .expect("the retry");
        fx.verify(&fx.signed_by(&created, fx.unix()))
            .await
            .expect("its key verifies");
    }
}

#[tokio::test]
async fn a_failing_store_call_of_rotate_keeps_the_old_secret_alone_and_a_retry_works() {
    for method in ["organization", "api_key", "rotate_api_key"] {
        let (fx, store) = faulty().await;
        let keys = fx.identity.api_keys(&fx.org);
        store.arm(FaultPlan::Method(method));
        store_error(keys.rotate(fx.key.key.id, Duration::minutes(5)).await);
        store.disarm();
        let key = keys.retrieve(fx.key.key.id).await.unwrap();
        assert_eq!(
            (key.rotated_at, key.previous_secret_expires_at),
            (None, None),
            "{method}"
        );
        assert_eq!(fx.count(EventCode::API_KEY_ROTATED).await, 0);
        let rotated = keys
            .rotate(fx.key.key.id, Duration::ZERO)
            .await
            .expect("the retry");
        fx.verify(&fx.signed_by(&rotated, fx.unix()))
            .await
            .expect("the new secret");
        rejected(fx.verify(&fx.signed_by(&fx.key, fx.unix())).await);
    }
}

#[tokio::test]
async fn a_failing_store_call_of_revoke_leaves_the_key_live_and_a_retry_works() {
    for method in ["organization", "revoke_api_key"] {
        let (fx, store) = faulty().await;
        let keys = fx.identity.api_keys(&fx.org);
        store.arm(FaultPlan::Method(method));
        store_error(keys.revoke(fx.key.key.id).await);
        store.disarm();
        fx.verify(&fx.signed_by(&fx.key, fx.unix()))
            .await
            .expect("still live");
        assert_eq!(fx.count(EventCode::API_KEY_REVOKED).await, 0, "{method}");
        keys.revoke(fx.key.key.id).await.expect("the retry");
        rejected(fx.verify(&fx.signed_by(&fx.key, fx.unix() + 1)).await);
    }
}

#[tokio::test]
async fn a_failing_store_call_of_verify_refuses_uses_nothing_up_and_a_retry_verifies() {
    for method in ["api_key", "organization", "touch_api_key", "mark_once"] {
        let (fx, store) = faulty().await;
        let params = fx.signed();
        store.arm(FaultPlan::Method(method));
        store_error(fx.verify(&params).await);
        store.disarm();
        fx.verify(&params).await.expect("the same request, retried");
        rejected(fx.verify(&params).await);
    }
    // A refusal that cannot be audited is refused too (as the store error).
    let (fx, store) = faulty().await;
    let mut bad = fx.signed();
    bad[0].1 = "mallory".to_owned();
    store.arm(FaultPlan::Method("record_event"));
    store_error(fx.verify(&bad).await);
    store.disarm();
    rejected(fx.verify(&bad).await);
}

#[tokio::test]
async fn every_store_call_of_a_verification_failing_in_turn_never_accepts() {
    let (fx, store) = faulty().await;
    // Count the calls of one verification, then fail each in turn on fresh requests (a minute
    // apart, so that each verification writes the key's last use).
    store.arm(FaultPlan::Off);
    fx.verify(&fx.signed()).await.unwrap();
    let calls = store.calls();
    assert_eq!(calls, 4, "api_key, organization, touch_api_key, mark_once");
    for n in 1..=calls {
        fx.clock.advance(Duration::seconds(61));
        let params = fx.signed();
        store.arm(FaultPlan::NthCall(n));
        store_error(fx.verify(&params).await);
        store.disarm();
        fx.verify(&params).await.expect("retried");
    }
}

#[tokio::test]
async fn a_read_key_verifies_as_read_and_is_not_the_owner() {
    let fx = fixture().await;
    let read = fx
        .identity
        .api_keys(&fx.org)
        .create(NewApiKey::new("reader", ApiKeyRole::Read).unwrap())
        .await
        .unwrap();
    let verified = fx.verify(&fx.signed_by(&read, fx.unix())).await.unwrap();
    assert_eq!(verified.role, ApiKeyRole::Read);
    assert_eq!(
        caller_of(&verified),
        None,
        "only owner keys act as the owner"
    );
    let stored = fx
        .identity
        .store()
        .api_key(Environment::Sandbox, read.key.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.role, ApiKeyRole::Read);
}
