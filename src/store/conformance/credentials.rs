//! Conformance checks: credentials.

use super::*;

/// A valid argon2id PHC string (of no password anyone uses).
pub(super) const PASSWORD_HASH: &str =
    "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";

/// A fresh username, case-folded as idcore stores it: `prefix-` and 16 random hex digits.
///
/// # Panics
/// If `prefix` has capitals, spaces or `@`, or is longer than 47 characters.
pub fn fresh_username(prefix: &str) -> String {
    let name = unique(prefix);
    assert!(
        crate::model::username::Username::parse(&name).is_ok_and(|u| u.as_str() == name),
        "prefix is a short, lowercase username"
    );
    name
}

/// Valid credentials of `user_id` in `org` with every field set (a fresh username, a password
/// hash, an active TOTP secret and a pending one, recovery generation 3, two known devices and
/// one known IP), updated at `at`, version 1.
pub fn credential_record(org: &OrgDomain, user_id: UserId, at: OffsetDateTime) -> CredentialRecord {
    CredentialRecord {
        org: org.clone(),
        user_id,
        username: Some(fresh_username("name")),
        password_hash: Some(PASSWORD_HASH.to_owned()),
        status: AccountStatus::Active,
        role: AccountRole::OrganizationAdmin,
        totp: Some(SealedTotp {
            sealed_secret: random::<48>().to_vec(),
            at,
        }),
        pending_totp: Some(SealedTotp {
            sealed_secret: random::<48>().to_vec(),
            at: at + Duration::seconds(1),
        }),
        recovery_generation: 3,
        known_devices: vec![fresh_digest(), fresh_digest()],
        known_ips: vec![fresh_digest()],
        updated_at: at,
        version: 1,
    }
}

/// Credentials with nothing optional set: no username, no password, no TOTP, no recovery codes,
/// no known device or IP; unverified member, version 1.
pub(super) fn bare_credentials(
    org: &OrgDomain,
    user_id: UserId,
    at: OffsetDateTime,
) -> CredentialRecord {
    CredentialRecord {
        org: org.clone(),
        user_id,
        username: None,
        password_hash: None,
        status: AccountStatus::Unverified,
        role: AccountRole::Member,
        totp: None,
        pending_totp: None,
        recovery_generation: 0,
        known_devices: Vec::new(),
        known_ips: Vec::new(),
        updated_at: at,
        version: 1,
    }
}

/// A new user of `org` (not stored) and its credentials.
pub(super) fn account(env: Environment, org: &OrgDomain) -> (User, CredentialRecord) {
    let u = user(env, org, &fresh_email("account"), T0);
    let c = credential_record(org, u.id, T0);
    (u, c)
}

/// The event of an account write.
pub(super) fn account_event(code: &str, u: &User) -> NewEvent {
    event(code, &u.org, T0).user(u.id, &u.profile.email)
}

/// Inserts a fresh account of `org` (setup) and answers it.
pub(super) async fn fresh_account<S: Store>(
    store: &S,
    env: Environment,
    org: &OrgDomain,
) -> (User, CredentialRecord) {
    let (u, c) = account(env, org);
    ok(
        store
            .insert_account(env, &u, &c, &account_event("ACCOUNT_CREATED", &u))
            .await,
        "insert_account (setup)",
    );
    (u, c)
}

/// The stored credentials of `user_id`.
pub(super) async fn creds_of<S: Store>(
    store: &S,
    env: Environment,
    org: &OrgDomain,
    user_id: UserId,
) -> Option<CredentialRecord> {
    ok(store.credentials(env, org, user_id).await, "credentials")
}

/// The stored credentials with `username`.
pub(super) async fn creds_named<S: Store>(
    store: &S,
    env: Environment,
    org: &OrgDomain,
    username: &str,
) -> Option<CredentialRecord> {
    ok(
        store.credentials_by_username(env, org, username).await,
        "credentials_by_username",
    )
}

/// `c` as its next version: updated at `at`, version + 1.
pub(super) fn next_version(c: &CredentialRecord, at: OffsetDateTime) -> CredentialRecord {
    CredentialRecord {
        updated_at: at,
        version: c.version + 1,
        ..c.clone()
    }
}

/// An account inserted with `insert_account` reads back field for field: the user through
/// `user` and `user_by_email`, the credentials through `credentials` and
/// `credentials_by_username`; credentials with nothing optional set round-trip too; unknown ids
/// and usernames answer `None`.
pub async fn account_round_trips<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "acct-rt").await;
    let (u, c) = fresh_account(store, ENV, &org).await;
    let name = c.username.clone().expect("the fixture sets a username");
    assert_eq!(
        ok(store.user(ENV, &org, u.id).await, "user"),
        Some(u.clone()),
        "insert_account must write the user as insert_user would"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &u.profile.email).await,
            "user_by_email"
        ),
        Some(u.clone()),
        "insert_account must index the user's e-mail"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(c.clone()),
        "credentials() must return the inserted record, every field intact"
    );
    assert_eq!(
        creds_named(store, ENV, &org, &name).await,
        Some(c.clone()),
        "credentials_by_username() must find the record by its username"
    );
    let bare_user = user(ENV, &org, &fresh_email("acct-rt"), at(1));
    let bare = bare_credentials(&org, bare_user.id, at(1));
    ok(
        store
            .insert_account(
                ENV,
                &bare_user,
                &bare,
                &account_event("ACCOUNT_CREATED", &bare_user),
            )
            .await,
        "insert_account with bare credentials",
    );
    assert_eq!(
        creds_of(store, ENV, &org, bare_user.id).await,
        Some(bare),
        "credentials with nothing optional set must read back as written"
    );
    assert_eq!(
        creds_of(store, ENV, &org, UserId::from_uuid(fresh_uuid())).await,
        None,
        "an unknown user id must answer None"
    );
    assert_eq!(
        creds_named(store, ENV, &org, &fresh_username("nobody")).await,
        None,
        "an unknown username must answer None"
    );
}

/// `insert_account` with an e-mail taken in the organization (in another letter case) answers
/// `AlreadyExists { key: "email" }` and writes nothing: no user, no credentials, no username.
pub async fn account_insert_refuses_a_taken_email_and_writes_nothing<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "acct-mail").await;
    let (first, first_creds) = fresh_account(store, ENV, &org).await;
    let twin = user(ENV, &org, &shouted(&first.profile.email), at(1));
    let twin_creds = credential_record(&org, twin.id, at(1));
    assert_eq!(
        Outcome::of(
            &store
                .insert_account(
                    ENV,
                    &twin,
                    &twin_creds,
                    &account_event("ACCOUNT_CREATED", &twin)
                )
                .await
        ),
        Outcome::AlreadyExists("email"),
        "insert_account with a taken e-mail in another letter case"
    );
    assert_eq!(
        ok(store.user(ENV, &org, twin.id).await, "user"),
        None,
        "a refused account must not write its user"
    );
    assert_eq!(
        creds_of(store, ENV, &org, twin.id).await,
        None,
        "a refused account must not write its credentials"
    );
    let twin_name = twin_creds.username.as_deref().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, twin_name).await,
        None,
        "a refused account must not reserve its username"
    );
    assert_eq!(
        creds_of(store, ENV, &org, first.id).await,
        Some(first_creds),
        "a refused account must leave the first one as it was"
    );
}

/// `insert_account` with a username taken in the organization answers
/// `AlreadyExists { key: "username" }` and writes nothing: no user (its e-mail stays free), no
/// credentials.
pub async fn account_insert_refuses_a_taken_username_and_writes_nothing<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "acct-name").await;
    let (first, first_creds) = fresh_account(store, ENV, &org).await;
    let (second, mut second_creds) = account(ENV, &org);
    second_creds.username = first_creds.username.clone();
    assert_eq!(
        Outcome::of(
            &store
                .insert_account(
                    ENV,
                    &second,
                    &second_creds,
                    &account_event("ACCOUNT_CREATED", &second)
                )
                .await
        ),
        Outcome::AlreadyExists("username"),
        "insert_account with a taken username"
    );
    assert_eq!(
        ok(store.user(ENV, &org, second.id).await, "user"),
        None,
        "a refused account must not write its user"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &second.profile.email).await,
            "user_by_email"
        ),
        None,
        "a refused account must not reserve its e-mail"
    );
    assert_eq!(
        creds_of(store, ENV, &org, second.id).await,
        None,
        "a refused account must not write its credentials"
    );
    let name = first_creds.username.clone().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, &name).await,
        Some(first_creds),
        "a refused account must leave the username to its owner"
    );
    assert_eq!(
        ok(store.user(ENV, &org, first.id).await, "user"),
        Some(first),
        "a refused account must leave the first user as it was"
    );
}

/// `insert_account` with a taken user id answers `AlreadyExists { key: "id" }` and writes
/// nothing: its e-mail and username stay free, the first user and credentials unchanged.
pub async fn account_insert_refuses_a_taken_id_and_writes_nothing<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "acct-id").await;
    let (first, first_creds) = fresh_account(store, ENV, &org).await;
    let (other, _) = account(ENV, &org);
    let same_id = User {
        id: first.id,
        ..other
    };
    let same_id_creds = credential_record(&org, first.id, at(1));
    assert_eq!(
        Outcome::of(
            &store
                .insert_account(
                    ENV,
                    &same_id,
                    &same_id_creds,
                    &account_event("ACCOUNT_CREATED", &same_id)
                )
                .await
        ),
        Outcome::AlreadyExists("id"),
        "insert_account with a taken user id"
    );
    assert_eq!(
        ok(
            store.user_by_email(ENV, &org, &same_id.profile.email).await,
            "user_by_email"
        ),
        None,
        "a refused account must not reserve its e-mail"
    );
    let name = same_id_creds.username.as_deref().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, name).await,
        None,
        "a refused account must not reserve its username"
    );
    assert_eq!(
        ok(store.user(ENV, &org, first.id).await, "user"),
        Some(first.clone()),
        "a refused account must leave the first user as it was"
    );
    assert_eq!(
        creds_of(store, ENV, &org, first.id).await,
        Some(first_creds),
        "a refused account must leave the first credentials as they were"
    );
}

/// A username is unique per organization only: another organization may use the same one, and
/// each organization's lookup finds its own account.
pub async fn username_is_unique_per_organization<S: Store>(store: &S) {
    let a = fresh_org(store, ENV, "acct-uname").await;
    let b = fresh_org(store, ENV, "acct-uname").await;
    let (_, in_a) = fresh_account(store, ENV, &a).await;
    let name = in_a.username.clone().expect("a username");
    let (u, mut in_b) = account(ENV, &b);
    in_b.username = Some(name.clone());
    ok(
        store
            .insert_account(ENV, &u, &in_b, &account_event("ACCOUNT_CREATED", &u))
            .await,
        "insert_account: a username of another organization must be free",
    );
    assert_eq!(
        creds_named(store, ENV, &a, &name).await,
        Some(in_a),
        "each organization finds its own account by the shared username"
    );
    assert_eq!(
        creds_named(store, ENV, &b, &name).await,
        Some(in_b),
        "each organization finds its own account by the shared username"
    );
}

/// `insert_credentials` adds credentials to a user created through the directory, once: they
/// read back as written; a second insert answers `AlreadyExists { key: "user" }` and changes
/// nothing.
pub async fn credentials_attach_to_an_existing_user_once<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "cred-attach").await;
    let u = fresh_user(store, ENV, &org).await;
    let c = credential_record(&org, u.id, at(1));
    ok(
        store
            .insert_credentials(ENV, &c, &account_event("CREDENTIALS_ADDED", &u))
            .await,
        "insert_credentials for a directory user",
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(c.clone()),
        "credentials added to a directory user must read back as written"
    );
    let again = credential_record(&org, u.id, at(2));
    assert_eq!(
        Outcome::of(
            &store
                .insert_credentials(ENV, &again, &account_event("CREDENTIALS_ADDED", &u))
                .await
        ),
        Outcome::AlreadyExists("user"),
        "insert_credentials for a user that has credentials"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        Some(c),
        "a refused insert must leave the credentials as they were"
    );
    let again_name = again.username.as_deref().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, again_name).await,
        None,
        "a refused insert must not reserve its username"
    );
}

/// `insert_credentials` for a user that does not exist — an unknown id, or another
/// organization's user — answers `NotFound` and writes nothing.
pub async fn credentials_attach_only_to_an_existing_user<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "cred-ghost").await;
    let other = fresh_org(store, ENV, "cred-ghost").await;
    let ghost = credential_record(&org, UserId::from_uuid(fresh_uuid()), T0);
    assert_eq!(
        Outcome::of(
            &store
                .insert_credentials(ENV, &ghost, &event("CREDENTIALS_ADDED", &org, T0))
                .await
        ),
        Outcome::NotFound,
        "insert_credentials for an unknown user"
    );
    let foreign = fresh_user(store, ENV, &other).await;
    let misplaced = credential_record(&org, foreign.id, T0);
    assert_eq!(
        Outcome::of(
            &store
                .insert_credentials(ENV, &misplaced, &event("CREDENTIALS_ADDED", &org, T0))
                .await
        ),
        Outcome::NotFound,
        "insert_credentials naming another organization's user"
    );
    assert_eq!(
        creds_of(store, ENV, &org, ghost.user_id).await,
        None,
        "a refused insert must write nothing"
    );
    assert_eq!(
        creds_of(store, ENV, &org, foreign.id).await,
        None,
        "a refused insert must write nothing"
    );
    assert_eq!(
        creds_of(store, ENV, &other, foreign.id).await,
        None,
        "a refused insert must write nothing for the other organization's user either"
    );
    for name in [&ghost.username, &misplaced.username] {
        let name = name.as_deref().expect("a username");
        assert_eq!(
            creds_named(store, ENV, &org, name).await,
            None,
            "a refused insert must not reserve its username"
        );
    }
}

/// `insert_credentials` with a username another user of the organization has answers
/// `AlreadyExists { key: "username" }` and writes nothing.
pub async fn credentials_attach_only_with_a_free_username<S: Store>(store: &S) {
    let org = fresh_org(store, ENV, "cred-uname").await;
    let (_, owner) = fresh_account(store, ENV, &org).await;
    let u = fresh_user(store, ENV, &org).await;
    let c = CredentialRecord {
        username: owner.username.clone(),
        ..credential_record(&org, u.id, at(1))
    };
    assert_eq!(
        Outcome::of(
            &store
                .insert_credentials(ENV, &c, &account_event("CREDENTIALS_ADDED", &u))
                .await
        ),
        Outcome::AlreadyExists("username"),
        "insert_credentials with a taken username"
    );
    assert_eq!(
        creds_of(store, ENV, &org, u.id).await,
        None,
        "a refused insert must write nothing"
    );
    let name = owner.username.clone().expect("a username");
    assert_eq!(
        creds_named(store, ENV, &org, &name).await,
        Some(owner),
        "a refused insert must leave the username to its owner"
    );
}

/// No call reaches the credentials of another organization's user, even with the right id or
/// username: lookups answer `None`, an update and an erasure answer `NotFound` and change
/// nothing.
pub async fn credentials_are_scoped_by_organization<S: Store>(store: &S) {
    let a = fresh_org(store, ENV, "cred-scope").await;
    let b = fresh_org(store, ENV, "cred-scope").await;
    let (u, c) = fresh_account(store, ENV, &a).await;
    let name = c.username.clone().expect("a username");
    assert_eq!(
        creds_of(store, ENV, &b, u.id).await,
        None,
        "credentials() with another organization's user id"
    );
    assert_eq!(
        creds_named(store, ENV, &b, &name).await,
        None,
        "credentials_by_username() with another organization's username"
    );
    let moved = CredentialRecord {
        org: b.clone(),
        ..next_version(&c, at(1))
    };
    assert_eq!(
        Outcome::of(&store.update_credentials(ENV, &moved, 1, None).await),
        Outcome::NotFound,
        "update_credentials naming another organization"
    );
    assert_eq!(
        Outcome::of(
            &store
                .delete_account(ENV, &b, u.id, &event("ACCOUNT_DELETED", &b, T0))
                .await
        ),
        Outcome::NotFound,
        "delete_account naming another organization"
    );
    assert_eq!(
        ok(store.user(ENV, &a, u.id).await, "user"),
        Some(u.clone()),
        "calls naming another organization must leave the user untouched"
    );
    assert_eq!(
        creds_of(store, ENV, &a, u.id).await,
        Some(c),
        "calls naming another organization must leave the credentials untouched"
    );
}
