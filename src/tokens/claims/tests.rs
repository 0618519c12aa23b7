//! The claim sets' writer and scanner against serde.

use proptest::prelude::*;

use super::*;
use crate::model::claims::MetaValue;

fn serde_parse(json: &[u8]) -> Option<AccessClaims<'static>> {
    serde_json::from_slice::<AccessClaims<'_>>(json)
        .ok()
        .map(AccessClaims::into_owned)
}

/// An access token's claims as idcore writes them.
fn written() -> Vec<u8> {
    let id = |s: &str| Uuid::parse_str(s).unwrap();
    let claims = AccessClaims {
        iss: Cow::Borrowed("https://auth.example.com/t/misapret"),
        sub: UserId::from_uuid(id("019a0000-0000-7000-8000-000000000001")),
        aud: Cow::Borrowed("https://auth.example.com"),
        cid: ClientId::from_uuid(id("019a0000-0000-7000-8000-000000000002")),
        dbs: Environment::Sandbox,
        exp: 1_780_000_000,
        iat: 1_779_996_400,
        nbf: 1_779_996_400,
        jti: id("019a0000-0000-7000-8000-000000000003"),
        jtt: Cow::Borrowed(JTT_ACCESS),
        scp: vec![Cow::Borrowed("openid"), Cow::Borrowed("email")],
        tnt: OrgDomain::parse("misapret").unwrap(),
        ver: 1,
        uid: UserId::from_uuid(id("019a0000-0000-7000-8000-000000000001")),
        auth_time: 1_779_996_000,
        gid: id("019a0000-0000-7000-8000-000000000004"),
        metadata: Metadata::default(),
        roles: Vec::new(),
        actions: Vec::new(),
        attributes: Vec::new(),
        groups: Vec::new(),
    };
    serde_json::to_vec(&claims).unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// An access token's claims with every custom claim, as idcore writes them.
fn written_custom() -> Vec<u8> {
    let mut claims = fast::access(&written()).unwrap();
    // Sorted by name, as `ClaimSchema::resolve` answers them.
    claims.metadata = Metadata(vec![
        ("admin".to_owned(), MetaValue::Boolean(true)),
        ("department".to_owned(), MetaValue::Text("R&D".to_owned())),
        ("level".to_owned(), MetaValue::Integer(-7)),
        ("off".to_owned(), MetaValue::Boolean(false)),
    ]);
    claims.roles = strings(&["App01AdministrationRole"]);
    claims.actions = strings(&["App01:Delete", "App01:Read"]);
    claims.attributes = strings(&["ITAdminDept"]);
    claims.groups = strings(&["admins", "auditors"]);
    claims.to_json()
}

#[test]
fn the_scanner_reads_the_custom_claims_as_serde_does() {
    let json = written_custom();
    assert_eq!(json, {
        let parsed = serde_parse(&json).unwrap();
        serde_json::to_vec(&parsed).unwrap()
    });
    let fast = fast::access(&json).expect("the scanner reads idcore's custom claims");
    assert_eq!(Some(fast.clone()), serde_parse(&json));
    assert_eq!(fast.metadata.get("level"), Some(&MetaValue::Integer(-7)));
    assert!(fast.has_action("App01:Read") && !fast.has_action("App01:Update"));
    // Names out of order are left to serde, which reads them as they come.
    let unsorted = replace(
        &json,
        "\"admin\":true,\"department\":\"R&D\"",
        "\"department\":\"R&D\",\"admin\":true",
    );
    assert_eq!(fast::access(&unsorted), None);
    let read = AccessClaims::from_json(&unsorted).expect("serde reads any order");
    assert_eq!(read.metadata.get("admin"), Some(&MetaValue::Boolean(true)));
    assert_eq!(read.metadata.0.len(), 4);
    let cases: Vec<(Vec<u8>, bool)> = vec![
        // (variant, serde accepts it)
        (
            replace(&json, "\"level\":-7", "\"level\":-7,\"level\":1"),
            false,
        ),
        (replace(&json, "\"level\":-7", "\"level\":7.5"), false),
        (replace(&json, "\"level\":-7", "\"level\":null"), false),
        (replace(&json, "\"level\":-7", "\"level\":[1]"), false),
        (replace(&json, "\"admin\":true", "\"admin\":truex"), false),
        (replace(&json, "\"roles\":[", "\"roles\":[1,"), false),
        (
            replace(
                &json,
                "\"groups\":[\"admins\"",
                "\"groups\":[\"zeta\",\"admins\"",
            ),
            true,
        ),
        // A repeated list is refused; an unknown member is ignored, as for every claim.
        (
            replace(&json, ",\"roles\"", ",\"roles\":[],\"roles\""),
            false,
        ),
        (replace(&json, ",\"roles\"", ",\"x\":[],\"roles\""), true),
        (
            replace(&json, "\"actions\":[\"App01:Delete\",", "\"actions\":["),
            true,
        ),
    ];
    for (variant, accepted) in cases {
        let text = String::from_utf8_lossy(&variant).into_owned();
        if let Some(c) = fast::access(&variant) {
            assert_eq!(Some(c), serde_parse(&variant), "{text}");
        }
        let parsed = AccessClaims::from_json(&variant);
        assert_eq!(parsed.is_some(), accepted, "{text}");
        if let Some(p) = parsed {
            assert!(
                p.groups.is_sorted(),
                "lists are sorted for the checks: {text}"
            );
        }
    }
}

fn replace(json: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = std::str::from_utf8(json).unwrap();
    assert!(text.contains(from), "{from} in {text}");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn the_scanner_reads_what_idcore_writes() {
    let json = written();
    let fast = fast::access(&json).expect("the scanner reads idcore's own claims");
    assert_eq!(Some(fast.clone()), serde_parse(&json));
    assert_eq!(fast.scp, vec!["openid", "email"]);
    assert_eq!(fast.exp, 1_780_000_000);
    assert!(matches!(fast.jtt, Cow::Borrowed(JTT_ACCESS)));
}

#[test]
fn the_scanner_leaves_everything_else_to_serde_which_agrees() {
    let json = written();
    let cases: Vec<(Vec<u8>, bool)> = vec![
        // (variant, serde accepts it)
        (replace(&json, "\"openid\"", "\"open\\u0069d\""), true),
        (replace(&json, "{\"iss\"", "{ \"iss\""), true),
        (
            replace(&json, "{\"iss\"", "{\"extra\":[1,{\"a\":null}],\"iss\""),
            true,
        ),
        (replace(&json, "\"ver\":1", "\"ver\":1,\"ver\":1"), false),
        (
            replace(&json, "\"exp\":1780000000", "\"exp\":1780000000.0"),
            false,
        ),
        (
            replace(&json, "\"exp\":1780000000", "\"exp\":01780000000"),
            false,
        ),
        (
            replace(&json, "\"exp\":1780000000", "\"exp\":\"1780000000\""),
            false,
        ),
        (
            replace(&json, "\"exp\":1780000000", "\"exp\":99999999999999999999"),
            false,
        ),
        (replace(&json, "\"ver\":1", "\"ver\":-1"), false),
        (replace(&json, "\"ver\":1", "\"ver\":4294967296"), false),
        (
            replace(
                &json,
                "019a0000-0000-7000-8000-000000000003",
                "019a0000000070008000000000000003",
            ),
            true,
        ),
        (
            replace(&json, "\"dbs\":\"sandbox\"", "\"dbs\":\"Sandbox\""),
            false,
        ),
        (
            replace(&json, "\"tnt\":\"misapret\"", "\"tnt\":\"Misapret\""),
            false,
        ),
        (replace(&json, ",\"gid\"", ",\"gId\""), false),
        (
            replace(&json, "\"scp\":[\"openid\",\"email\"]", "\"scp\":[]"),
            true,
        ),
        (
            replace(&json, "\"scp\":[\"openid\",\"email\"]", "\"scp\":[1]"),
            false,
        ),
        ([json.as_slice(), b" "].concat(), true),
        ([json.as_slice(), b"x"].concat(), false),
    ];
    for (variant, accepted) in cases {
        let text = String::from_utf8_lossy(&variant).into_owned();
        let scanned = fast::access(&variant);
        if let Some(c) = &scanned {
            assert_eq!(Some(c), serde_parse(&variant).as_ref(), "{text}");
        }
        assert_eq!(
            AccessClaims::from_json(&variant),
            serde_parse(&variant),
            "{text}"
        );
        assert_eq!(
            AccessClaims::from_json(&variant).is_some(),
            accepted,
            "{text}"
        );
    }
    // Only the scalar-free spellings above may take the fast path; escapes and whitespace
    // never do.
    assert!(fast::access(&replace(&json, "\"openid\"", "\"open\\u0069d\"")).is_none());
    assert!(fast::access(&replace(&json, "{\"iss\"", "{ \"iss\"")).is_none());
}

fn id_claims(nonce: &str, name: &str) -> IdClaims<'static> {
    let a = fast::access(&written()).unwrap();
    IdClaims {
        iss: a.iss.clone(),
        sub: a.sub,
        aud: a.cid,
        azp: a.cid,
        cid: a.cid,
        dbs: Environment::Production,
        exp: a.exp,
        iat: a.iat,
        nbf: a.nbf,
        jti: a.jti,
        jtt: Cow::Borrowed(JTT_OPENID),
        tnt: a.tnt.clone(),
        ver: 1,
        auth_time: -5,
        gid: a.gid,
        nonce: Some(Cow::Owned(nonce.to_owned())),
        at_hash: Some("aGFzaA".to_owned()),
        c_hash: None,
        s_hash: Some("c3RhdGU".to_owned()),
        amr: vec!["pwd".to_owned(), "otp".to_owned()],
        profile: ProfileClaims {
            email: Some("ada@example.com".to_owned()),
            email_verified: Some(true),
            name: Some(name.to_owned()),
            phone_number_verified: Some(false),
            updated_at: Some(0),
            ..ProfileClaims::default()
        },
        metadata: a.metadata.clone(),
        roles: a.roles.clone(),
        actions: a.actions.clone(),
        attributes: a.attributes.clone(),
        groups: a.groups.clone(),
    }
}

#[test]
fn claims_are_written_as_serde_writes_them() {
    let access = fast::access(&written()).unwrap();
    assert_eq!(access.to_json(), serde_json::to_vec(&access).unwrap());
    assert_eq!(access.to_json(), written());
    let id = id_claims("n-0S6_WzA2Mj", "Ada \"the\" Countess\n\u{1}\u{7f}é\\");
    assert_eq!(id.to_json(), serde_json::to_vec(&id).unwrap());
    let bare = IdClaims {
        nonce: None,
        at_hash: None,
        s_hash: None,
        amr: Vec::new(),
        profile: ProfileClaims::default(),
        ..id
    };
    assert_eq!(bare.to_json(), serde_json::to_vec(&bare).unwrap());
}

proptest! {
    /// Any strings, any numbers: the writer's bytes are serde_json's.
    #[test]
    fn the_writer_agrees_with_serde(
        iss in ".*",
        scopes in prop::collection::vec(".*", 0..4),
        exp in any::<i64>(),
        ver in any::<u32>(),
        nonce in ".*",
        name in ".*",
        meta in prop::collection::vec((".*", ".*", any::<i64>(), any::<bool>()), 0..3),
        roles in prop::collection::vec(".*", 0..3),
    ) {
        let mut access = fast::access(&written()).unwrap();
        access.metadata = Metadata(
            meta.iter()
                .enumerate()
                .flat_map(|(i, (k, v, n, b))| {
                    [
                        (format!("{i}s{k}"), MetaValue::Text(v.clone())),
                        (format!("{i}n{k}"), MetaValue::Integer(*n)),
                        (format!("{i}b{k}"), MetaValue::Boolean(*b)),
                    ]
                })
                .collect(),
        );
        access.roles = roles.clone();
        access.groups = roles;
        access.iss = Cow::Owned(iss);
        access.scp = scopes.into_iter().map(Cow::Owned).collect();
        access.exp = exp;
        access.ver = ver;
        prop_assert_eq!(access.to_json(), serde_json::to_vec(&access).unwrap());
        let id = id_claims(&nonce, &name);
        prop_assert_eq!(id.to_json(), serde_json::to_vec(&id).unwrap());
    }

    /// The word-at-a-time helpers answer as the plain byte loops do.
    #[test]
    fn the_swar_helpers_agree_with_byte_loops(
        bytes in prop::collection::vec(
            prop::sample::select(b"\"\\ \x00\x1f\x20\x21\x5b\x5c\x5d\x7f\x80\xa2\xdc\xff".to_vec()),
            0..40,
        ),
    ) {
        prop_assert_eq!(
            fast::has_escape_or_control(&bytes),
            bytes.iter().any(|&c| c < 0x20 || c == b'\\')
        );
        prop_assert_eq!(
            fast::needs_escape(&bytes),
            bytes.iter().any(|&c| c < 0x20 || c == b'\\' || c == b'"')
        );
        prop_assert_eq!(
            fast::find_quote(&bytes),
            bytes.iter().position(|&c| c == b'"')
        );
    }

    /// Whatever one edit does to the claims, the scanner never accepts what serde refuses
    /// nor reads a value differently.
    #[test]
    fn the_scanner_agrees_with_serde(
        at in 0usize..400,
        op in 0u8..3,
        byte in prop::sample::select(b"\"\\,:{}[]-.e0123456789abfnrtu \x00\xff".to_vec()),
    ) {
        let mut json = if at % 2 == 0 { written() } else { written_custom() };
        let at = at % json.len();
        match op {
            0 => json[at] = byte,
            1 => { json.remove(at); }
            _ => json.insert(at, byte),
        }
        let serde = serde_parse(&json);
        if let Some(fast) = fast::access(&json) {
            prop_assert_eq!(Some(fast), serde.clone());
        }
        prop_assert_eq!(AccessClaims::from_json(&json), serde);
    }
}
