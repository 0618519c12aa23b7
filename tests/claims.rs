//! Custom claims through the public API, on the `MemoryStore`: metakeys (names, types,
//! reserved claims, pages), user metadata in the tokens and user info, removal without stale
//! claims, `required`, size budgets, RBAC attributes and role definitions with the resource
//! server's checks, tenant isolation, JWT samples and the audit events.
//! `tests/claims_stores.rs` runs the concurrency scenarios on every store.

mod support;

use idcore::audit::EventCode;
use idcore::claims::{AttributeUpdate, MAX_METADATA_JSON, MetaKeyType, MetaValue};
use idcore::directory::Email;
use idcore::tokens::claims::{AccessClaims, IdClaims};
use idcore::tokens::{ClientAuth, TokenSet};
use idcore::{Error, NewOrganization, PageRequest, ProfileChanges, Resource, TokenProblem};
use support::*;

const EMAIL: &str = "ada@example.com";

impl Fx {
    async fn tokens(&self) -> TokenSet {
        self.try_tokens().await.expect("tokens")
    }

    async fn try_tokens(&self) -> Result<TokenSet, Error> {
        let authorized = expect_complete(self.sign_in(EMAIL, PASSWORD).await);
        self.identity
            .tokens()
            .exchange_code(
                &ClientAuth::public(self.client),
                authorized.code.expose(),
                REDIRECT,
                VERIFIER,
            )
            .await
    }

    async fn access(&self, set: &TokenSet) -> AccessClaims<'static> {
        self.identity
            .tokens()
            .verify(&set.access_token)
            .await
            .expect("a valid access token")
            .claims
    }

    async fn id(&self, set: &TokenSet) -> IdClaims<'static> {
        self.identity
            .tokens()
            .verify_id_token(&set.id_token, self.client)
            .await
            .expect("a valid ID token")
    }

    async fn refreshed(&self, set: &TokenSet) -> Result<TokenSet, Error> {
        self.identity
            .tokens()
            .refresh(
                &ClientAuth::public(self.client),
                set.refresh_token.expose(),
                None,
            )
            .await
    }
}

fn metadata(claims: &AccessClaims<'_>) -> Vec<(String, MetaValue)> {
    claims.metadata.0.clone()
}

fn text(s: &str) -> MetaValue {
    MetaValue::Text(s.to_owned())
}

fn lists(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| (*s).to_owned()).collect())
}

#[tokio::test]
async fn metakeys_are_created_listed_by_page_and_removed() {
    let f = fixture().await;
    let claims = f.identity.claims(&f.org);
    let kind = MetaKeyType::parse("STRING").expect("the seed's spelling");
    let department = claims
        .create_metakey("department", kind, true)
        .await
        .expect("created");
    let wire =
        serde_json::to_value(department.wire(&f.org, &f.identity.config().managed_by().clone()))
            .unwrap();
    assert_eq!(wire["__type__"], "MetaKey");
    assert_eq!(wire["__domain__"], "misapret");
    assert_eq!(wire["__access__"], "limited_to:misapret");
    assert_eq!(wire["name"], "department");
    assert_eq!(wire["type"], "string");
    assert_eq!(wire["required"], true);
    assert_eq!(wire["id"], department.id.to_string());
    match claims
        .create_metakey("DEPARTMENT", MetaKeyType::Integer, false)
        .await
    {
        Err(Error::AlreadyExists {
            resource: Resource::MetaKey,
            key: "name",
        }) => {}
        other => panic!("expected already_exists, got {other:?}"),
    }
    for reserved in [
        "iss",
        "UID",
        "auth_time",
        "nonce",
        "at_hash",
        "cid",
        "tnt",
        "email",
        "roles",
        "resource_owner_metadata",
        "__type__",
    ] {
        match claims
            .create_metakey(reserved, MetaKeyType::String, false)
            .await
        {
            Err(Error::ReservedClaimName(name)) => assert_eq!(name, reserved),
            other => panic!("{reserved}: expected reserved_claim_name, got {other:?}"),
        }
    }
    match claims
        .create_metakey("9lives", MetaKeyType::String, false)
        .await
    {
        Err(Error::InvalidField { field: "name", .. }) => {}
        other => panic!("expected invalid name, got {other:?}"),
    }
    for (i, name) in ["level", "admin"].iter().enumerate() {
        f.clock.advance(time::Duration::seconds(1 + i as i64));
        claims
            .create_metakey(name, MetaKeyType::Integer, false)
            .await
            .expect("created");
    }
    let first = claims
        .metakeys(PageRequest::new(1, 2).unwrap())
        .await
        .unwrap();
    assert_eq!(first.total, 3);
    let names: Vec<&str> = first.data.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["admin", "level"], "newest first");
    let cursor = first.next_cursor.expect("a next page");
    let second = claims
        .metakeys(PageRequest::new(2, 2).unwrap().after(cursor))
        .await
        .unwrap();
    let names: Vec<&str> = second.data.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["department"]);
    assert!(second.next_cursor.is_none());
    let removed = claims.remove_metakey("Department").await.expect("removed");
    assert_eq!(removed.id, department.id);
    assert!(matches!(
        claims.metakey("department").await,
        Err(Error::NotFound(Resource::MetaKey))
    ));
    assert!(matches!(
        claims.remove_metakey("department").await,
        Err(Error::NotFound(Resource::MetaKey))
    ));
    assert_eq!(f.events(EventCode::METAKEY_CREATED).await.len(), 3);
    let removed_events = f.events(EventCode::METAKEY_REMOVED).await;
    assert_eq!(removed_events.len(), 1);
    assert_eq!(removed_events[0].details["key_name"], "department");
}

#[tokio::test]
async fn metadata_values_are_typed_and_appear_in_both_tokens_and_user_info() {
    let f = fixture().await;
    let user = f.active_user(EMAIL).await;
    let claims = f.identity.claims(&f.org);
    for (name, kind) in [
        ("department", MetaKeyType::String),
        ("level", MetaKeyType::Integer),
        ("admin", MetaKeyType::Boolean),
        ("hired", MetaKeyType::Date),
    ] {
        claims.create_metakey(name, kind, false).await.unwrap();
    }
    claims
        .set_metadata(user.id, "department", "R&D \"lab\"")
        .await
        .unwrap();
    claims.set_metadata(user.id, "level", " 7 ").await.unwrap();
    claims
        .set_metadata_json(user.id, "admin", &serde_json::json!(true))
        .await
        .unwrap();
    claims
        .set_metadata(user.id, "hired", "2024-02-29")
        .await
        .unwrap();
    // Replacing a value keeps one entry per key.
    let updated = claims.set_metadata(user.id, "level", "8").await.unwrap();
    assert_eq!(updated.metadata.len(), 4);
    match claims.set_metadata(user.id, "level", "eight").await {
        Err(Error::InvalidField {
            field: "key_value", ..
        }) => {}
        other => panic!("expected invalid key_value, got {other:?}"),
    }
    match claims.set_metadata(user.id, "hired", "2023-02-29").await {
        Err(Error::InvalidField {
            field: "key_value", ..
        }) => {}
        other => panic!("expected invalid date, got {other:?}"),
    }
    assert!(matches!(
        claims.set_metadata(user.id, "nickname2", "x").await,
        Err(Error::NotFound(Resource::MetaKey))
    ));
    let expected = vec![
        ("admin".to_owned(), MetaValue::Boolean(true)),
        ("department".to_owned(), text("R&D \"lab\"")),
        ("hired".to_owned(), text("2024-02-29")),
        ("level".to_owned(), MetaValue::Integer(8)),
    ];
    let set = f.tokens().await;
    assert_eq!(metadata(&f.access(&set).await), expected);
    assert_eq!(f.id(&set).await.metadata.0, expected);
    let info = f
        .identity
        .tokens()
        .userinfo(&set.access_token)
        .await
        .unwrap();
    let info = serde_json::to_value(&info).unwrap();
    assert_eq!(
        info["resource_owner_metadata"],
        serde_json::json!({"admin": true, "department": "R&D \"lab\"", "hired": "2024-02-29", "level": 8})
    );
    // The seed's user shape: each MetaData with its key expanded.
    let view = claims
        .user_view(&f.identity.users(&f.org).retrieve(user.id).await.unwrap())
        .await
        .unwrap();
    let entries = view["metadata"].as_array().expect("an array");
    assert_eq!(entries.len(), 4);
    let level = entries
        .iter()
        .find(|e| e["key"]["name"] == "level")
        .expect("the level entry");
    assert_eq!(level["__type__"], "MetaData");
    assert_eq!(level["value"], 8);
    assert_eq!(level["key"]["__type__"], "MetaKey");
    assert_eq!(level["key"]["type"], "integer");
    assert_eq!(view["__type__"], "User");
    // Removing a value takes it out of the next tokens.
    claims.remove_metadata(user.id, "department").await.unwrap();
    assert!(matches!(
        claims.remove_metadata(user.id, "department").await,
        Err(Error::NotFound(Resource::Metadata))
    ));
    let next = f.refreshed(&set).await.unwrap();
    assert_eq!(metadata(&f.access(&next).await).len(), 3);
    assert_eq!(f.events(EventCode::METADATA_SET).await.len(), 5);
    assert_eq!(f.events(EventCode::METADATA_REMOVED).await.len(), 1);
}

#[tokio::test]
async fn a_removed_metakey_leaves_every_next_token_at_once_and_never_comes_back() {
    let f = fixture().await;
    let user = f.active_user(EMAIL).await;
    let claims = f.identity.claims(&f.org);
    claims
        .create_metakey("plan", MetaKeyType::String, false)
        .await
        .unwrap();
    claims.set_metadata(user.id, "plan", "gold").await.unwrap();
    let set = f.tokens().await;
    assert_eq!(
        metadata(&f.access(&set).await),
        vec![("plan".to_owned(), text("gold"))]
    );
    claims.remove_metakey("plan").await.unwrap();
    // No write per user: the stored value is still there, but no token carries it.
    let stored = f.identity.users(&f.org).retrieve(user.id).await.unwrap();
    assert_eq!(stored.metadata.len(), 1);
    let next = f.refreshed(&set).await.unwrap();
    assert!(f.access(&next).await.metadata.is_empty());
    assert!(f.id(&next).await.metadata.is_empty());
    // The same name again is a new key: the old value does not come back.
    claims
        .create_metakey("plan", MetaKeyType::String, false)
        .await
        .unwrap();
    let again = f.refreshed(&next).await.unwrap();
    assert!(f.access(&again).await.metadata.is_empty());
    // The next write to the user prunes the orphan.
    let pruned = claims
        .set_metadata(user.id, "plan", "silver")
        .await
        .unwrap();
    assert_eq!(pruned.metadata.len(), 1);
    let last = f.refreshed(&again).await.unwrap();
    assert_eq!(
        metadata(&f.access(&last).await),
        vec![("plan".to_owned(), text("silver"))]
    );
}

#[tokio::test]
async fn a_required_metakey_without_a_value_refuses_tokens_by_name() {
    let f = fixture().await;
    let user = f.active_user(EMAIL).await;
    let set = f.tokens().await;
    let claims = f.identity.claims(&f.org);
    claims
        .create_metakey("cost_center", MetaKeyType::Integer, true)
        .await
        .unwrap();
    // Sign-in says it at once, naming the key …
    let authorized = f.sign_in(EMAIL, PASSWORD).await;
    match authorized {
        Err(Error::MetadataRequired { key }) => assert_eq!(key, "cost_center"),
        other => panic!("expected metadata_required, got {other:?}"),
    }
    // … and so does a refresh of tokens issued before the key became required.
    match f.refreshed(&set).await {
        Err(e @ Error::MetadataRequired { .. }) => {
            assert_eq!(e.code(), "metadata_required");
            assert_eq!(e.http_status(), 403);
        }
        other => panic!("expected metadata_required, got {other:?}"),
    }
    let denied = f.events(EventCode::TOKENS_DENIED_METADATA_REQUIRED).await;
    assert_eq!(denied.len(), 2);
    assert!(
        denied
            .iter()
            .all(|e| e.details["key_name"] == "cost_center")
    );
    claims
        .set_metadata(user.id, "cost_center", "4100")
        .await
        .unwrap();
    let set = f.tokens().await;
    assert_eq!(
        metadata(&f.access(&set).await),
        vec![("cost_center".to_owned(), MetaValue::Integer(4100))]
    );
}

#[tokio::test]
async fn a_value_past_the_budget_is_refused_when_set_and_the_fullest_user_still_gets_tokens() {
    let f = fixture().await;
    let user = f.active_user(EMAIL).await;
    let claims = f.identity.claims(&f.org);
    let long = "x".repeat(500);
    let mut refused = None;
    for i in 0..10 {
        let name = format!("key{i}");
        claims
            .create_metakey(&name, MetaKeyType::String, false)
            .await
            .unwrap();
        match claims.set_metadata(user.id, &name, &long).await {
            Ok(_) => {}
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    let (at, error) = refused.expect("the budget ends before ten long values");
    match error {
        Error::ClaimsTooLarge {
            budget: "metadata",
            limit,
        } => assert_eq!(limit, MAX_METADATA_JSON),
        other => panic!("expected claims_too_large, got {other:?}"),
    }
    // 3 KiB holds six members of 500 characters and their names (3,061 bytes), not seven.
    assert_eq!(at, 6);
    let stored = f.identity.users(&f.org).retrieve(user.id).await.unwrap();
    assert_eq!(
        stored.metadata.len(),
        6,
        "the refused write changed nothing"
    );
    // The fullest user: metadata, own lists and roles at their budgets, a long profile.
    let lots = |prefix: &str, action: bool| -> Vec<String> {
        (0..64)
            .map(|i| {
                if action {
                    format!("{prefix}{i:02}:Administer")
                } else {
                    format!("{prefix}{i:02}")
                }
            })
            .collect()
    };
    let mut update = AttributeUpdate {
        roles: Some(lots("RoleNumber", false)),
        actions: Some(lots("App", true)),
        attributes: Some(lots("Dept", false)),
        groups: Some(lots("Group", false)),
        profile: ProfileChanges::new().name(&"N".repeat(255)).unwrap(),
    };
    // Trim the lists until the attributes fit their budget.
    while let Err(Error::ClaimsTooLarge { .. }) =
        claims.update_attributes_of(user.id, &update).await
    {
        for list in [
            &mut update.roles,
            &mut update.actions,
            &mut update.attributes,
            &mut update.groups,
        ] {
            list.as_mut().unwrap().pop();
        }
    }
    for i in 0..64 {
        let actions: Vec<String> = (0..8).map(|j| format!("Svc{i:02}:Action{j}")).collect();
        let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
        if claims
            .define_role(&format!("RoleNumber{i:02}"), &actions)
            .await
            .is_err()
        {
            break;
        }
    }
    let set = f.tokens().await;
    assert!(set.access_token.len() <= idcore::tokens::jws::MAX_TOKEN_LEN);
    assert!(set.id_token.len() <= idcore::tokens::jws::MAX_TOKEN_LEN);
    let access = f.access(&set).await;
    assert_eq!(access.metadata.0.len(), 6);
    assert!(access.actions.len() > 64, "role actions are granted too");
    f.id(&set).await;
}

#[tokio::test]
async fn rbac_attributes_and_role_definitions_reach_the_tokens_and_the_checks() {
    let f = fixture().await;
    let user = f.active_user(EMAIL).await;
    let claims = f.identity.claims(&f.org);
    let email = Email::parse(EMAIL).unwrap();
    claims
        .update_attributes(
            &email,
            &AttributeUpdate {
                roles: lists(&["App01AdministrationRole"]),
                actions: lists(&["App01:Update, App01:Delete", "App01:Read"]),
                attributes: lists(&["ITAdminDept, FinanceAdminDept"]),
                groups: lists(&["admins"]),
                ..AttributeUpdate::default()
            },
        )
        .await
        .unwrap();
    // A partial update changes only what it names.
    let updated = claims
        .update_attributes(
            &email,
            &AttributeUpdate {
                groups: lists(&["auditors", "admins"]),
                ..AttributeUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.rbac.actions.len(), 3);
    let events = f.events(EventCode::USER_ATTRIBUTES_UPDATED).await;
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0].details["fields"],
        "roles,actions,attributes,groups"
    );
    assert_eq!(events[1].details["fields"], "groups");
    let set = f.tokens().await;
    let access = f.access(&set).await;
    assert_eq!(access.roles, ["App01AdministrationRole"]);
    assert_eq!(
        access.actions,
        ["App01:Delete", "App01:Read", "App01:Update"]
    );
    assert_eq!(access.attributes, ["FinanceAdminDept", "ITAdminDept"]);
    assert_eq!(access.groups, ["admins", "auditors"]);
    assert!(access.has_action("App01:Read"));
    assert!(!access.has_action("App01:read"));
    assert!(!access.has_action("App01:Administer"));
    assert!(access.has_role("App01AdministrationRole"));
    assert!(access.in_group("auditors"));
    assert!(!access.in_group("users"));
    assert!(access.has_attribute("ITAdminDept"));
    let id = f.id(&set).await;
    assert_eq!(id.roles, access.roles);
    assert_eq!(id.groups, access.groups);
    // A role definition grants its actions to every user with the role, at the next token.
    claims
        .define_role(
            "App01AdministrationRole",
            &["App01:Administer", "App01:Read"],
        )
        .await
        .unwrap();
    let next = f.refreshed(&set).await.unwrap();
    let access = f.access(&next).await;
    assert_eq!(
        access.actions,
        [
            "App01:Administer",
            "App01:Delete",
            "App01:Read",
            "App01:Update"
        ]
    );
    claims
        .define_role("App01AdministrationRole", &["App01:Create"])
        .await
        .unwrap();
    let next = f.refreshed(&next).await.unwrap();
    assert!(f.access(&next).await.has_action("App01:Create"));
    assert!(!f.access(&next).await.has_action("App01:Administer"));
    claims.remove_role("App01AdministrationRole").await.unwrap();
    let next = f.refreshed(&next).await.unwrap();
    assert!(!f.access(&next).await.has_action("App01:Create"));
    assert!(f.access(&next).await.has_role("App01AdministrationRole"));
    let info = serde_json::to_value(
        f.identity
            .tokens()
            .userinfo(&next.access_token)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(info["groups"], serde_json::json!(["admins", "auditors"]));
    assert_eq!(f.events(EventCode::ROLE_DEFINED).await.len(), 2);
    assert_eq!(f.events(EventCode::ROLE_REMOVED).await.len(), 1);
    // Bad input names its field and writes nothing.
    match claims
        .update_attributes_of(
            user.id,
            &AttributeUpdate {
                actions: lists(&["App01"]),
                ..AttributeUpdate::default()
            },
        )
        .await
    {
        Err(Error::InvalidField {
            field: "actions", ..
        }) => {}
        other => panic!("expected invalid actions, got {other:?}"),
    }
    assert!(matches!(
        claims
            .update_attributes(
                &Email::parse("nobody@example.com").unwrap(),
                &AttributeUpdate::default()
            )
            .await,
        Err(Error::NotFound(Resource::User))
    ));
    assert!(matches!(
        claims.define_role("Viewer", &["no-colon"]).await,
        Err(Error::InvalidField {
            field: "actions",
            ..
        })
    ));
}

#[tokio::test]
async fn another_organization_can_neither_read_nor_set_the_keys_or_values() {
    let f = fixture().await;
    let user = f.active_user(EMAIL).await;
    let other = f
        .identity
        .organizations()
        .create(NewOrganization::new("Other Org").unwrap())
        .await
        .unwrap()
        .domain;
    let mine = f.identity.claims(&f.org);
    let theirs = f.identity.claims(&other);
    mine.create_metakey("plan", MetaKeyType::String, false)
        .await
        .unwrap();
    assert!(matches!(
        theirs.metakey("plan").await,
        Err(Error::NotFound(Resource::MetaKey))
    ));
    assert_eq!(
        theirs.metakeys(PageRequest::default()).await.unwrap().total,
        0
    );
    assert!(matches!(
        theirs.set_metadata(user.id, "plan", "gold").await,
        Err(Error::NotFound(Resource::MetaKey))
    ));
    // Even with a key of the same name, the other organization cannot reach this user.
    theirs
        .create_metakey("plan", MetaKeyType::String, false)
        .await
        .unwrap();
    assert!(matches!(
        theirs.set_metadata(user.id, "plan", "gold").await,
        Err(Error::NotFound(Resource::User))
    ));
    assert!(matches!(
        theirs
            .update_attributes_of(
                user.id,
                &AttributeUpdate {
                    roles: lists(&["Admin"]),
                    ..AttributeUpdate::default()
                }
            )
            .await,
        Err(Error::NotFound(Resource::User))
    ));
    let stored = f.identity.users(&f.org).retrieve(user.id).await.unwrap();
    assert!(stored.metadata.is_empty() && stored.rbac.is_empty());
}

#[tokio::test]
async fn a_jwt_sample_shows_the_issued_claims_and_never_verifies() {
    let f = fixture().await;
    let user = f.active_user(EMAIL).await;
    let claims = f.identity.claims(&f.org);
    claims
        .create_metakey("displayname", MetaKeyType::String, false)
        .await
        .unwrap();
    claims
        .create_metakey("seniority", MetaKeyType::Integer, false)
        .await
        .unwrap();
    claims.define_role("Reader", &["App01:Read"]).await.unwrap();
    claims
        .set_metadata(user.id, "displayname", "awesome-astronaut")
        .await
        .unwrap();
    let synthetic = claims.jwt_sample(f.client, None).await.unwrap();
    let json = serde_json::to_value(&synthetic).unwrap();
    assert_eq!(json["__type__"], "__JwtSamples__");
    assert_eq!(json["__domain__"], "misapret");
    let keys = &json["access_token_keys"];
    assert!(keys.as_array().unwrap().contains(&serde_json::json!("cid")));
    assert!(keys.as_array().unwrap().contains(&serde_json::json!([
        "resource_owner_metadata",
        ["displayname", "seniority"]
    ])));
    assert!(
        keys.as_array()
            .unwrap()
            .contains(&serde_json::json!("actions"))
    );
    let id_keys = json["id_token_keys"].as_array().unwrap();
    assert!(id_keys.contains(&serde_json::json!("nonce")));
    assert!(id_keys.contains(&serde_json::json!("at_hash")));
    // Not signed with the organization's keys: no verifier accepts a sample.
    let tokens = f.identity.tokens();
    match tokens.verify(&synthetic.access_token_jwt).await {
        Err(Error::InvalidToken(TokenProblem::UnknownKey)) => {}
        other => panic!("a sample must not verify, got {other:?}"),
    }
    assert!(matches!(
        tokens
            .verify_id_token(&synthetic.id_token_jwt, f.client)
            .await,
        Err(Error::InvalidToken(TokenProblem::UnknownKey))
    ));
    let jwks = tokens.jwks(&f.org).await.unwrap();
    let header = synthetic.access_token_jwt.split('.').next().unwrap();
    let kid = serde_json::from_slice::<serde_json::Value>(&base64url(header)).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !jwks.to_string().contains(&kid),
        "the sample key is in no JWKS"
    );
    // For a real user, the user's own values.
    let real = claims.jwt_sample(f.client, Some(user.id)).await.unwrap();
    let payload = real.access_token_jwt.split('.').nth(1).unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&base64url(payload)).unwrap();
    assert_eq!(
        payload["resource_owner_metadata"],
        serde_json::json!({"displayname": "awesome-astronaut"})
    );
    assert_eq!(payload["sub"], user.id.to_string());
    assert_eq!(payload["cid"], f.client.to_string());
    assert!(matches!(
        claims
            .jwt_sample(idcore::directory::ClientId::from_uuid(uuid_of(7)), None)
            .await,
        Err(Error::NotFound(Resource::Application))
    ));
}

fn uuid_of(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}

/// Decodes unpadded base64url (test-side, independent of idcore's decoder).
fn base64url(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c}"),
        }
    };
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &c)| acc | value(c) << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

#[tokio::test]
async fn concurrent_creations_of_one_name_give_one_key_and_concurrent_sets_keep_one_value() {
    let f = std::sync::Arc::new(fixture().await);
    let user = f.active_user(EMAIL).await.id;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move {
                f.identity
                    .claims(&f.org)
                    .create_metakey("plan", MetaKeyType::String, false)
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(Error::AlreadyExists { .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(created, 1);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move {
                f.identity
                    .claims(&f.org)
                    .set_metadata(user, "plan", &format!("plan-{i}"))
                    .await
            })
        })
        .collect();
    let mut last: Option<idcore::directory::User> = None;
    for task in tasks {
        match task.await.unwrap() {
            Ok(u) => {
                if last.as_ref().is_none_or(|l| u.version > l.version) {
                    last = Some(u);
                }
            }
            Err(e) if e.is_retryable() => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    let last = last.expect("at least one writer wins");
    let stored = f.identity.users(&f.org).retrieve(user).await.unwrap();
    assert_eq!(stored.metadata.len(), 1, "no duplicate value");
    assert_eq!(stored.metadata, last.metadata, "the last writer wins");
}
