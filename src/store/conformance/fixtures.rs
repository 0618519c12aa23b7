//! Fixtures of the conformance suite: records with fresh unique keys, and the helpers the checks share.

use super::*;

/// `T0` plus `seconds`.
pub fn at(seconds: i64) -> OffsetDateTime {
    T0 + Duration::seconds(seconds)
}

/// `prefix-` and 16 random lowercase hex digits.
///
/// # Panics
/// If the operating system's random generator fails.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", hex(&random::<8>()))
}

/// A fresh random uuid (version 4 layout).
///
/// # Panics
/// If the operating system's random generator fails.
pub fn fresh_uuid() -> Uuid {
    uuid::Builder::from_random_bytes(random()).into_uuid()
}

/// A fresh organization domain, `prefix-` and 16 random hex digits.
///
/// # Panics
/// If `prefix` is not a slug of at most 46 characters (`org`, `my-check`).
pub fn fresh_domain(prefix: &str) -> OrgDomain {
    OrgDomain::parse(&unique(prefix)).expect("prefix is a short slug")
}

/// A fresh e-mail address, `prefix-<16 hex digits>@example.com`.
///
/// # Panics
/// If `prefix` is not a valid local part of at most 47 bytes.
pub fn fresh_email(prefix: &str) -> Email {
    Email::parse(&format!("{}@example.com", unique(prefix))).expect("prefix is a short local part")
}

/// A fresh primitive-store key in the `conformance` namespace.
pub fn fresh_key(what: &str) -> Key {
    Key::new("conformance", &[what, &hex(&random::<8>())])
}

/// A fresh digest (of 32 random bytes), as a refresh token's.
pub fn fresh_digest() -> Digest {
    Digest::of(&random::<32>())
}

/// A valid organization with every optional field set, inserted and updated at `at`,
/// version 1, with a fresh id.
pub fn organization(env: Environment, domain: &OrgDomain, at: OffsetDateTime) -> Organization {
    Organization {
        id: OrganizationId::from_uuid(fresh_uuid()),
        domain: domain.clone(),
        environment: env,
        managed_by: name("conformance"),
        name: name(&format!("Conformance {domain}")),
        locality: Some(name("Lille")),
        state: Some(name("Hauts-de-France")),
        country_name: Some(CountryCode::parse("FR").expect("FR is a country code")),
        privacy_policy_url: Some(http_url("https://example.com/privacy")),
        terms_of_service_url: Some(http_url("https://example.com/terms?v=2")),
        inserted_at: at,
        updated_at: at,
        deleted_at: None,
        version: 1,
    }
}

/// A valid user of `org` with every profile field set, inserted and updated at `at`,
/// version 1, with a fresh id.
pub fn user(env: Environment, org: &OrgDomain, email: &Email, at: OffsetDateTime) -> User {
    let text = |s: &str| Text::parse(s).expect("constant is a valid text");
    User {
        id: UserId::from_uuid(fresh_uuid()),
        org: org.clone(),
        environment: env,
        managed_by: name("conformance"),
        profile: Profile {
            email: email.clone(),
            email_verified: true,
            name: Some(name("Ada Lovelace")),
            given_name: Some(name("Ada")),
            family_name: Some(name("Lovelace")),
            middle_name: Some(name("Augusta")),
            nickname: Some(name("Ada")),
            preferred_username: Some(name("ada")),
            profile: Some(http_url("https://example.com/ada")),
            picture: Some(http_url("https://example.com/ada.png")),
            website: Some(http_url("https://ada.example.com")),
            gender: Some(Gender::parse("female").expect("constant is a valid gender")),
            birthdate: Some(Birthdate::parse("1815-12-10").expect("constant is a valid date")),
            zoneinfo: Some(ZoneInfo::parse("Europe/London").expect("constant is a valid zone")),
            locale: Some(Locale::parse("en-GB").expect("constant is a valid locale")),
            phone_number: Some(
                PhoneNumber::parse("+442079460000").expect("constant is a valid number"),
            ),
            phone_number_verified: false,
            address: Some(Address {
                formatted: Some(text("12 St James's Square\nLondon SW1Y 4JH")),
                street_address: Some(text("12 St James's Square")),
                locality: Some(name("London")),
                region: Some(name("Greater London")),
                postal_code: Some(name("SW1Y 4JH")),
                country: Some(name("United Kingdom")),
            }),
        },
        metadata: vec![MetadataEntry {
            id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
            key_id: MetaKeyId::from_uuid(Uuid::from_u128(
                0x0190_0000_0000_7000_8000_0000_0000_0002,
            )),
            value: MetaValue::Text("analytical-engine \u{0}\"quoted\"".to_owned()),
        }],
        rbac: Rbac {
            roles: vec![label("App01AdministrationRole")],
            actions: vec![label("App01:Read"), label("App01:Update")],
            attributes: vec![label("FinanceAdminDept"), label("ITAdminDept")],
            groups: vec![label("admins")],
        },
        federation: Some(crate::model::sso::Federation {
            idp_id: crate::model::sso::IdpId::parse("conformance_EFBpWGQRVBCUSagNu2Tp9S")
                .expect("constant is a valid idp_id"),
            subject: "00u1ab \"é\" 😀".to_owned(),
        }),
        active: true,
        avatar_hexa_color: HexColor::parse("#1a2b3c").expect("constant is a valid color"),
        inserted_at: at,
        updated_at: at,
        version: 1,
    }
}

/// A valid confidential application of `scope` with every field set, inserted and updated at
/// `at`, version 1, with a fresh `client_id`.
pub fn application(env: Environment, scope: ApplicationScope, at: OffsetDateTime) -> Application {
    let redirect = |s: &str| RedirectUri::parse(s).expect("constant is a valid redirect URI");
    let origin = |s: &str| Origin::parse(s).expect("constant is a valid origin");
    Application {
        client_id: ClientId::from_uuid(fresh_uuid()),
        scope,
        environment: env,
        managed_by: name("conformance"),
        name: name("Conformance app"),
        description: Some(Text::parse("Checks a store.").expect("constant is a valid text")),
        application_type: ApplicationType::RegularWeb,
        client_secret_digest: Some(fresh_digest()),
        allowed_redirect_urls: vec![
            redirect("https://app.example.com/callback"),
            redirect("http://127.0.0.1:8080/callback"),
        ],
        allowed_logout_urls: vec![http_url("https://app.example.com/bye")],
        allowed_origins_cors: vec![origin("https://app.example.com")],
        allowed_web_origins: vec![origin("https://www.example.com")],
        default_redirect_uri_after_login: Some(redirect("https://app.example.com/callback")),
        default_redirect_uri_after_logout: Some(http_url("https://app.example.com/bye")),
        default_origin_cors: Some(origin("https://app.example.com")),
        default_web_origin: Some(origin("https://www.example.com")),
        token_validity: TokenValidity {
            access_token: Some(Duration::minutes(15)),
            id_token: None,
            refresh_token: Some(Duration::days(7)),
        },
        inserted_at: at,
        updated_at: at,
        deleted_at: None,
        version: 1,
    }
}

/// The first, `Active` token of a new family, issued at `at`: a fresh digest and family,
/// generation 0, expiring one day after `at`, the family thirty days after.
pub fn refresh_token(
    org: &OrgDomain,
    user_id: UserId,
    client_id: ClientId,
    at: OffsetDateTime,
) -> RefreshTokenRecord {
    RefreshTokenRecord {
        digest: fresh_digest(),
        family: FamilyId(fresh_uuid()),
        generation: 0,
        org: org.clone(),
        user_id,
        client_id,
        scope: "openid email offline_access".to_owned(),
        auth_time: at,
        issued_at: at,
        expires_at: at + Duration::days(1),
        family_expires_at: at + Duration::days(30),
        state: RefreshState::Active,
    }
}

/// The `Active` token that replaces `of` when it is rotated at `at`: a fresh digest, the same
/// family and grant, the next generation, expiring one day after `at` (never after the family).
pub fn successor(of: &RefreshTokenRecord, at: OffsetDateTime) -> RefreshTokenRecord {
    RefreshTokenRecord {
        digest: fresh_digest(),
        generation: of.generation + 1,
        issued_at: at,
        expires_at: (at + Duration::days(1)).min(of.family_expires_at),
        state: RefreshState::Active,
        ..of.clone()
    }
}

/// A one-time entry put at `at`: takeable for 10 minutes, remembered for one hour.
pub fn one_time_entry(payload: &[u8], at: OffsetDateTime) -> OneTimeEntry {
    OneTimeEntry {
        payload: payload.to_vec(),
        expires_at: at + Duration::minutes(10),
        retain_until: at + Duration::hours(1),
    }
}

/// An event of `tenant` with code `code` at `at`, carrying one detail.
///
/// # Panics
/// If `code` is not an UPPER_SNAKE_CASE event code.
pub fn event(code: &str, tenant: &OrgDomain, at: OffsetDateTime) -> NewEvent {
    NewEvent::new(EventCode::parse(code).expect("an event code"), at)
        .tenant(tenant)
        .detail("suite", "conformance")
}

pub(super) fn random<const N: usize>() -> [u8; N] {
    random_array().expect("the operating system's random generator works")
}

pub(super) fn name(s: &str) -> Name {
    Name::parse(s).expect("constant is a valid name")
}

pub(super) fn label(s: &str) -> Label {
    Label::parse(s).expect("constant is a valid label")
}

pub(super) fn http_url(s: &str) -> HttpUrl {
    HttpUrl::parse(s).expect("constant is a valid URL")
}

pub(super) fn page(page: u32, per_page: u32) -> PageRequest {
    PageRequest::new(page, per_page).expect("page and per_page are at least 1")
}

/// `email` with every letter upper-cased.
pub(super) fn shouted(email: &Email) -> Email {
    Email::parse(&email.as_str().to_uppercase()).expect("an upper-cased address stays valid")
}

/// `email` with every letter lower-cased.
pub(super) fn whispered(email: &Email) -> Email {
    Email::parse(&email.as_str().to_lowercase()).expect("a lower-cased address stays valid")
}

/// Sorts newest first: `at` descending, ties by `id` descending.
pub(super) fn sort_newest_first<T>(items: &mut [T], key: impl Fn(&T) -> (OffsetDateTime, Uuid)) {
    items.sort_by_key(|item| std::cmp::Reverse(key(item)));
}

/// Page `n` (from 1) of `per` items of `all`.
pub(super) fn chunk<T>(all: &[T], per: usize, n: usize) -> &[T] {
    all.chunks(per).nth(n - 1).unwrap_or(&[])
}

#[track_caller]
pub(super) fn ok<T>(result: Result<T, StoreError>, call: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{call}: expected success, the store answered {e:?}"),
    }
}

/// Calls `call` again while it answers [`StoreError::Retryable`].
pub(super) async fn retried<T, F, Fut>(mut call: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    for _ in 0..RETRIES {
        match call().await {
            Err(StoreError::Retryable { .. }) => tokio::task::yield_now().await,
            other => return other,
        }
    }
    call().await
}

/// Spawns `n` tasks built by `task`, releases them together, and returns their outputs in task
/// order.
pub(super) async fn race<T, Fut>(n: usize, mut task: impl FnMut(usize) -> Fut) -> Vec<T>
where
    T: Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let barrier = Arc::clone(&barrier);
        let fut = task(i);
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut out = Vec::with_capacity(n);
    for handle in handles {
        out.push(handle.await.expect("a conformance task panicked"));
    }
    out
}

/// How many of `items` satisfy `pred`.
pub(super) fn count<T>(items: &[T], pred: impl Fn(&T) -> bool) -> usize {
    items.iter().filter(|item| pred(item)).count()
}

/// Inserts a fresh organization of `env` and answers its domain.
pub(super) async fn fresh_org<S: Store>(store: &S, env: Environment, prefix: &str) -> OrgDomain {
    let domain = fresh_domain(prefix);
    let org = organization(env, &domain, T0);
    ok(
        store
            .insert_organization(env, &org, &event("ORGANIZATION_CREATED", &domain, T0))
            .await,
        "insert_organization (setup)",
    );
    domain
}

/// Inserts a fresh user of `org` and answers it.
pub(super) async fn fresh_user<S: Store>(store: &S, env: Environment, org: &OrgDomain) -> User {
    let u = user(env, org, &fresh_email("user"), T0);
    let ev = event("USER_CREATED", org, T0).user(u.id, &u.profile.email);
    ok(store.insert_user(env, &u, &ev).await, "insert_user (setup)");
    u
}

/// Inserts a fresh application scoped to `org` and answers its client id.
pub(super) async fn fresh_app<S: Store>(store: &S, env: Environment, org: &OrgDomain) -> ClientId {
    let app = application(env, ApplicationScope::Organization(org.clone()), T0);
    let ev = event("APPLICATION_CREATED", org, T0).client(app.client_id);
    ok(
        store.insert_application(env, &app, &ev).await,
        "insert_application (setup)",
    );
    app.client_id
}

/// Who a refresh token is issued to.
pub(super) struct Grant {
    pub(super) org: OrgDomain,
    pub(super) user_id: UserId,
    pub(super) client_id: ClientId,
}

impl Grant {
    /// Inserts an organization, one of its users and one of its applications.
    pub(super) async fn fresh<S: Store>(store: &S, env: Environment) -> Self {
        let org = fresh_org(store, env, "grant").await;
        let user_id = fresh_user(store, env, &org).await.id;
        let client_id = fresh_app(store, env, &org).await;
        Self {
            org,
            user_id,
            client_id,
        }
    }

    pub(super) fn token(&self, at: OffsetDateTime) -> RefreshTokenRecord {
        refresh_token(&self.org, self.user_id, self.client_id, at)
    }
}

/// Inserts `record` (setup).
pub(super) async fn insert_token<S: Store>(
    store: &S,
    env: Environment,
    record: &RefreshTokenRecord,
) {
    ok(
        store.insert_refresh_token(env, record).await,
        "insert_refresh_token",
    );
}

/// The stored token with this digest.
pub(super) async fn token_of<S: Store>(
    store: &S,
    env: Environment,
    digest: &Digest,
) -> Option<RefreshTokenRecord> {
    ok(store.refresh_token(env, digest).await, "refresh_token")
}

/// Rotates `old` into a fresh successor at `now`; answers the successor (setup).
pub(super) async fn rotate_ok<S: Store>(
    store: &S,
    env: Environment,
    old: &RefreshTokenRecord,
    now: OffsetDateTime,
) -> RefreshTokenRecord {
    let next = successor(old, now);
    let rotation = ok(
        store
            .rotate_refresh_token(env, &old.digest, &next, now)
            .await,
        "rotate_refresh_token",
    );
    assert!(
        matches!(rotation, Rotation::Rotated(_)),
        "rotating an active, unexpired token must answer Rotated, got {rotation:?}"
    );
    next
}

/// `record` as it must read after being revoked at `at`.
pub(super) fn revoked(record: &RefreshTokenRecord, at: OffsetDateTime) -> RefreshTokenRecord {
    RefreshTokenRecord {
        state: RefreshState::Revoked { at },
        ..record.clone()
    }
}

/// The events of one tenant, newest first, all of them.
pub(super) async fn tenant_events<S: Store>(
    store: &S,
    env: Environment,
    tenant: &OrgDomain,
) -> (Vec<Event>, u64) {
    ok(
        store
            .events(env, &EventQuery::tenant(tenant), page(1, 100))
            .await,
        "events",
    )
}

/// The codes of `events`, in order.
pub(super) fn codes(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.event_code.as_str()).collect()
}
