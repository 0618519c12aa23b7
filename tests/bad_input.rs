//! Bad input: every field is parsed into a type valid by construction, or refused with
//! `invalid_request` / 400 naming the field and what was wrong.

mod common;

use common::{assert_invalid, format};
use idcore::audit::EventCode;
use idcore::directory::{
    Address, Birthdate, ClientId, CountryCode, Email, HexColor, HttpUrl, Locale, OrgDomain,
    OrganizationId, Origin, PhoneNumber, RedirectUri, UserId, ZoneInfo,
};
use idcore::{
    ApplicationType, ApplicationUpdate, FieldProblem, NewApplication, NewOrganization, NewUser,
    OrganizationUpdate, ProfileChanges,
};

const NOT_ABSOLUTE: &str = "must be an absolute http:// or https:// url";
const NO_SPACES: &str =
    "must be ASCII without spaces or backslashes (percent-encode other characters)";
const NO_USERINFO: &str = "must not contain user information (user@host)";
const BAD_PORT: &str = "has an invalid port";
const BAD_HOST: &str = "has an invalid host";
const NO_HOST: &str = "must have a host";
const COUNTRY: &str = "must be an ISO 3166-1 alpha-2 country code";
const ORIGIN: &str = "must be an origin (scheme://host[:port]) without path, query or fragment";
const E164: &str = "must be an E.164 number like +33123456789";
const DATE: &str = "must be a date in YYYY-MM-DD form";
const UUID: &str = "must be a uuid";
const SLUG: &str = "must be lowercase letters, digits and single dashes, like awesome-company";
const EMAIL_DOMAIN: &str = "must have a domain like example.com after the @";
const EMAIL_LOCAL: &str = "has an invalid part before the @";
const EMAIL_SHAPE: &str = "must be an address like name@example.com";

fn ten_kb() -> String {
    "a".repeat(10 * 1024)
}

/// URLs every http(s) URL field refuses, with the problem.
fn bad_urls() -> Vec<(String, FieldProblem)> {
    let mut cases: Vec<(String, FieldProblem)> = [
        ("javascript:alert(1)", format(NOT_ABSOLUTE)),
        ("/policy", format(NOT_ABSOLUTE)),
        ("policy.html", format(NOT_ABSOLUTE)),
        ("//misapret.com/policy", format(NOT_ABSOLUTE)),
        ("ftp://x.y", format(NOT_ABSOLUTE)),
        ("data://text/plain,hi", format(NOT_ABSOLUTE)),
        ("http://user@host.com", format(NO_USERINFO)),
        ("https://user:pass@host.com/policy", format(NO_USERINFO)),
        ("https://misapret.com/my policy", format(NO_SPACES)),
        ("https://misa pret.com", format(NO_SPACES)),
        ("https://misapret.com\\@evil.com", format(NO_SPACES)),
        ("https://misapreté.com", format(NO_SPACES)),
        ("http://", format(NO_HOST)),
        ("https:///policy", format(NO_HOST)),
        ("https://:443/policy", format(NO_HOST)),
        ("https://misapret.com:0/", format(BAD_PORT)),
        ("https://misapret.com:65536/", format(BAD_PORT)),
        ("https://misapret.com:99999999/", format(BAD_PORT)),
        ("https://misapret.com:http/", format(BAD_PORT)),
        ("https://misapret.com:/", format(BAD_PORT)),
        ("https://misapret..com", format(BAD_HOST)),
        ("https://.misapret.com", format(BAD_HOST)),
        ("https://misapret.com./", format(BAD_HOST)),
        ("https://mis<apret>.com", format(BAD_HOST)),
        ("https://[::1", format("has an unterminated IPv6 host")),
        ("https://[]/", format("has an invalid IPv6 host")),
        ("https://[::1]evil.com/", format("has an invalid IPv6 host")),
        (
            "https://misapret.com/%zz",
            format("has an invalid percent-encoding"),
        ),
        (
            "https://misapret.com/100%",
            format("has an invalid percent-encoding"),
        ),
        ("", FieldProblem::Empty),
        ("   ", FieldProblem::Empty),
        (
            "https://misapret.com/\u{7f}",
            FieldProblem::ControlCharacters,
        ),
    ]
    .into_iter()
    .map(|(u, p)| (u.to_owned(), p))
    .collect();
    cases.push((
        format!("https://misapret.com/{}", "p".repeat(2048)),
        FieldProblem::TooLong { max: 2048 },
    ));
    cases
}

#[test]
fn valid_urls_are_accepted_as_written() {
    for url in [
        "https://misapret.com/policy",
        "http://localhost:3000/callback",
        "https://127.0.0.1:8443",
        "https://[::1]:8443/cb",
        "https://misapret.com/policy?lang=fr#top",
        "https://misapret.com/a%20b",
    ] {
        assert_eq!(
            HttpUrl::parse(url).map(|u| u.as_str().to_owned()),
            Ok(url.to_owned())
        );
    }
}

#[test]
fn organization_urls_are_refused_naming_the_field() {
    for (url, problem) in bad_urls() {
        assert_invalid(
            NewOrganization::new("Misapret").and_then(|n| n.privacy_policy_url(&url)),
            "privacy_policy_url",
            problem.clone(),
        );
        assert_invalid(
            OrganizationUpdate::new().terms_of_service_url(&url),
            "terms_of_service_url",
            problem,
        );
    }
}

#[test]
fn profile_urls_are_refused_naming_the_field() {
    for (url, problem) in bad_urls() {
        assert_invalid(
            ProfileChanges::new().picture(&url),
            "profile.picture",
            problem.clone(),
        );
        assert_invalid(
            ProfileChanges::new().website(&url),
            "profile.website",
            problem.clone(),
        );
        assert_invalid(
            ProfileChanges::new().profile(&url),
            "profile.profile",
            problem,
        );
    }
}

#[test]
fn application_urls_are_refused_naming_the_field() {
    for (url, problem) in bad_urls() {
        assert_invalid(
            ApplicationUpdate::new().allowed_logout_urls(&["https://ok.example.com", &url]),
            "allowed_logout_urls",
            problem.clone(),
        );
        assert_invalid(
            ApplicationUpdate::new().allowed_redirect_urls(&[&url]),
            "allowed_redirect_urls",
            problem.clone(),
        );
        assert_invalid(
            ApplicationUpdate::new().default_redirect_uri_after_logout(&url),
            "default_redirect_uri_after_logout",
            problem,
        );
    }
}

#[test]
fn origins_with_a_path_query_or_fragment_are_refused() {
    for origin in [
        "https://app.example.com/",
        "https://app.example.com/login",
        "https://app.example.com?x=1",
        "https://app.example.com#top",
        "http://localhost:3000/",
    ] {
        assert_invalid(
            ApplicationUpdate::new().allowed_origins_cors(&[origin]),
            "allowed_origins_cors",
            format(ORIGIN),
        );
        assert_invalid(
            ApplicationUpdate::new().allowed_web_origins(&[origin]),
            "allowed_web_origins",
            format(ORIGIN),
        );
        assert_invalid(
            ApplicationUpdate::new().default_origin_cors(origin),
            "default_origin_cors",
            format(ORIGIN),
        );
        assert_invalid(
            ApplicationUpdate::new().default_web_origin(origin),
            "default_web_origin",
            format(ORIGIN),
        );
    }
    assert_invalid(
        ApplicationUpdate::new().allowed_origins_cors(&["javascript:alert(1)"]),
        "allowed_origins_cors",
        format(NOT_ABSOLUTE),
    );
    assert!(Origin::parse("http://localhost:3000").is_ok());
}

#[test]
fn redirect_uris_with_a_fragment_are_refused() {
    let fragment = format("must not contain a fragment");
    assert_invalid(
        ApplicationUpdate::new().allowed_redirect_urls(&["https://app.example.com/cb#token"]),
        "allowed_redirect_urls",
        fragment.clone(),
    );
    assert_invalid(
        ApplicationUpdate::new().default_redirect_uri_after_login("https://app.example.com/cb#"),
        "default_redirect_uri_after_login",
        fragment.clone(),
    );
    assert_eq!(
        RedirectUri::parse("https://app.example.com/cb#x"),
        Err(fragment)
    );
    assert!(RedirectUri::parse("https://app.example.com/cb?state=1").is_ok());
}

#[test]
fn empty_and_oversized_names_are_refused() {
    let long = ten_kb();
    let cases = [
        ("", FieldProblem::Empty),
        ("  \t ", FieldProblem::Empty),
        (long.as_str(), FieldProblem::TooLong { max: 255 }),
        ("Misa\u{0}pret", FieldProblem::ControlCharacters),
        ("Misa\npret", FieldProblem::ControlCharacters),
    ];
    for (name, problem) in cases {
        assert_invalid(NewOrganization::new(name), "name", problem.clone());
        assert_invalid(
            OrganizationUpdate::new().name(name),
            "name",
            problem.clone(),
        );
        assert_invalid(
            NewApplication::new(name, ApplicationType::React),
            "name",
            problem.clone(),
        );
        assert_invalid(ApplicationUpdate::new().name(name), "name", problem.clone());
        assert_invalid(
            ProfileChanges::new().given_name(name),
            "profile.given_name",
            problem.clone(),
        );
        assert_invalid(
            ProfileChanges::new().family_name(name),
            "profile.family_name",
            problem.clone(),
        );
        assert_invalid(
            NewOrganization::new("Misapret").and_then(|n| n.locality(name)),
            "locality",
            problem.clone(),
        );
        assert_invalid(
            OrganizationUpdate::new().state(name),
            "state",
            problem.clone(),
        );
        assert_invalid(
            Address::new().locality(name),
            "profile.address.locality",
            problem,
        );
    }
}

#[test]
fn a_name_of_exactly_255_characters_is_accepted() {
    let name = "é".repeat(255);
    assert!(NewOrganization::new(&name).is_ok());
    assert_invalid(
        NewOrganization::new(&"é".repeat(256)),
        "name",
        FieldProblem::TooLong { max: 255 },
    );
}

#[test]
fn oversized_free_text_is_refused() {
    let long = ten_kb();
    assert_invalid(
        ApplicationUpdate::new().description(&long),
        "description",
        FieldProblem::TooLong { max: 2048 },
    );
    assert_invalid(
        Address::new().formatted(&long),
        "profile.address.formatted",
        FieldProblem::TooLong { max: 2048 },
    );
    assert_invalid(
        ProfileChanges::new().gender(&"x".repeat(65)),
        "profile.gender",
        FieldProblem::TooLong { max: 64 },
    );
    assert!(
        Address::new()
            .street_address("165 avenue\nde Bretagne")
            .is_ok()
    );
}

#[test]
fn unknown_country_codes_are_refused() {
    for code in ["XX", "FRA", "", "F", "ZZ", "EU", "F1", "ÉÉ"] {
        assert_invalid(
            NewOrganization::new("Misapret").and_then(|n| n.country_name(code)),
            "country_name",
            format(COUNTRY),
        );
        assert_invalid(
            OrganizationUpdate::new().country_name(code),
            "country_name",
            format(COUNTRY),
        );
        assert_eq!(CountryCode::parse(code), Err(format(COUNTRY)), "{code:?}");
    }
    assert_eq!(
        CountryCode::parse("fr").map(|c| c.to_string()),
        Ok("FR".to_owned())
    );
}

#[test]
fn emails_without_a_domain_are_refused() {
    let cases = [
        ("janis@", format(EMAIL_DOMAIN)),
        ("janis", format(EMAIL_SHAPE)),
        ("janis@localhost", format(EMAIL_DOMAIN)),
        ("@example.com", format(EMAIL_LOCAL)),
        ("janis@example.", format(EMAIL_DOMAIN)),
        ("janis@.example.com", format(EMAIL_DOMAIN)),
        ("janis@-example.com", format(EMAIL_DOMAIN)),
        ("janis@example.123", format(EMAIL_DOMAIN)),
        ("janis@exa_mple.com", format(EMAIL_DOMAIN)),
        ("jan..is@example.com", format(EMAIL_LOCAL)),
        (".janis@example.com", format(EMAIL_LOCAL)),
        ("janis@@example.com", format(EMAIL_LOCAL)),
        ("<janis>@example.com", format(EMAIL_LOCAL)),
        (
            "jan is@example.com",
            format("must not contain spaces or control characters"),
        ),
        ("", FieldProblem::Empty),
        ("   ", FieldProblem::Empty),
    ];
    for (email, problem) in cases {
        assert_invalid(NewUser::new(email), "profile.email", problem.clone());
        assert_eq!(Email::parse(email), Err(problem), "{email:?}");
    }
    let long = format!("{}@example.com", "a".repeat(300));
    assert_invalid(
        NewUser::new(&long),
        "profile.email",
        FieldProblem::TooLong { max: 254 },
    );
    let long_local = format!("{}@example.com", "a".repeat(65));
    assert_invalid(
        NewUser::new(&long_local),
        "profile.email",
        format(EMAIL_LOCAL),
    );
}

#[test]
fn phone_numbers_not_in_e164_are_refused() {
    for phone in [
        "0612345678",
        "+0612345678",
        "+1 555 CALL",
        "+1234567890123456",
        "+123456",
        "+",
        "",
        "++15554151337",
        "+1-555-415-1337 ext 2",
        "tel:+15554151337",
    ] {
        assert_invalid(
            ProfileChanges::new().phone_number(phone),
            "profile.phone_number",
            format(E164),
        );
        assert_eq!(PhoneNumber::parse(phone), Err(format(E164)), "{phone:?}");
    }
    assert_eq!(
        PhoneNumber::parse("+123456789012345").map(|p| p.as_str().to_owned()),
        Ok("+123456789012345".to_owned())
    );
}

#[test]
fn impossible_or_misshapen_birthdates_are_refused() {
    let cases = [
        ("1943-02-30", format("must be a real calendar date")),
        ("1943-04-31", format("must be a real calendar date")),
        ("1943-00-10", format(DATE)),
        ("1943-13-01", format(DATE)),
        ("19-01-1943", format(DATE)),
        ("1943-1-9", format(DATE)),
        ("1943/01/19", format(DATE)),
        ("1943-01-19T00:00:00", format(DATE)),
        ("+943-01-19", format(DATE)),
        ("", format(DATE)),
    ];
    for (date, problem) in cases {
        assert_invalid(
            ProfileChanges::new().birthdate(date),
            "profile.birthdate",
            problem.clone(),
        );
        assert_eq!(Birthdate::parse(date), Err(problem), "{date:?}");
    }
    assert_eq!(
        Birthdate::parse("2000-02-29").map(|d| d.to_string()),
        Ok("2000-02-29".to_owned())
    );
}

#[test]
fn misshapen_locales_and_zones_are_refused() {
    for locale in ["", "f", "english", "fr-", "fr--FR", "fr_FRANCEXXX", "1r"] {
        assert_invalid(
            ProfileChanges::new().locale(locale),
            "profile.locale",
            format("must be a language tag like fr or en-US"),
        );
        assert!(Locale::parse(locale).is_err());
    }
    for zone in [
        "",
        "Europe/",
        "/Paris",
        "Europe/../Paris",
        "Europe Paris",
        "1Europe/Paris",
    ] {
        assert_invalid(
            ProfileChanges::new().zoneinfo(zone),
            "profile.zoneinfo",
            format("must be an IANA time zone like Europe/Paris"),
        );
        assert!(ZoneInfo::parse(zone).is_err());
    }
}

#[test]
fn malformed_uuids_are_refused() {
    for id in [
        "",
        "not-a-uuid",
        "8724da20-c140-4d01-82d2-bc87079a6f6",
        "8724da20-c140-4d01-82d2-bc87079a6f6z",
        "8724da20-c140-4d01-82d2-bc87079a6f6e0",
        "8724da20c1404d0182d2bc87079a6f6",
        "misapret.misapret.sandbox:d6fce3c1-5d21-4643-ac1e-8bc991c08c49",
    ] {
        assert_eq!(UserId::parse(id), Err(format(UUID)), "{id:?}");
        assert_eq!(ClientId::parse(id), Err(format(UUID)), "{id:?}");
        assert_eq!(OrganizationId::parse(id), Err(format(UUID)), "{id:?}");
    }
    assert!(UserId::parse("8724da20-c140-4d01-82d2-bc87079a6f6e").is_ok());
}

#[test]
fn domains_are_parsed_exactly_never_slugified() {
    let cases = [
        ("Misapret", format(SLUG)),
        ("misapret company", format(SLUG)),
        ("misa_pret", format(SLUG)),
        ("-misapret", format(SLUG)),
        ("misapret-", format(SLUG)),
        ("misa--pret", format(SLUG)),
        ("société", format(SLUG)),
        ("", FieldProblem::Empty),
    ];
    for (domain, problem) in cases {
        assert_eq!(OrgDomain::parse(domain), Err(problem), "{domain:?}");
    }
    assert_eq!(
        OrgDomain::parse(&"a".repeat(64)),
        Err(FieldProblem::TooLong { max: 63 })
    );
    assert!(OrgDomain::parse(&"a".repeat(63)).is_ok());
    assert!(OrgDomain::parse("misapret-2").is_ok());
}

#[test]
fn misshapen_event_codes_colors_and_types_are_refused() {
    for code in ["", "user_created", "1USER", "USER-CREATED", &"A".repeat(65)] {
        assert_eq!(
            EventCode::parse(code),
            Err(format("must be an UPPER_SNAKE_CASE event code")),
            "{code:?}"
        );
    }
    for color in ["", "#12345", "#1234567", "123456", "#12345g"] {
        assert_eq!(
            HexColor::parse(color),
            Err(format("must be a color like #1a2b3c"))
        );
    }
    assert_eq!(
        ApplicationType::parse("ember"),
        Err(format(
            "must be one of react, vue, angular, regular_web, service"
        ))
    );
}
