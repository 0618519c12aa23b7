//! Properties over arbitrary input: no parser panics, parsed values are stable, and every
//! organization name that is accepted yields a valid domain.

mod common;

use idcore::audit::EventCode;
use idcore::directory::{
    Birthdate, ClientId, CountryCode, Email, Gender, HexColor, HttpUrl, Locale, Name, OrgDomain,
    OrganizationId, Origin, PhoneNumber, RedirectUri, Text, UserId, ZoneInfo,
};
use idcore::store::Key;
use idcore::{
    ApplicationType, ApplicationUpdate, Environment, NewApplication, NewOrganization, NewUser,
    OrganizationUpdate, PageRequest, ProfileChanges,
};
use proptest::prelude::*;

/// Strings shaped like the inputs the parsers see, plus their usual traps.
fn inputs() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(https?|HTTP|ftp|javascript|data)?(:|://)?[a-zA-Z0-9@:\\[\\]./#?%_~\\\\ é-]{0,40}",
        "[+0-9 ().a-z-]{0,24}",
        "[0-9-]{0,12}",
        "[a-zA-Z0-9._%+-]{0,12}@?[a-zA-Z0-9.é-]{0,16}",
        "[a-zA-Z_/+-]{0,20}",
        "#?[0-9a-fA-Fg]{0,8}",
        "[a-z0-9-]{0,70}",
        "[A-Z0-9_]{0,70}",
        "[0-9a-fA-F{}:urn-]{0,45}",
    ]
}

/// A parsed value printed and parsed again is the same value.
macro_rules! reparses {
    ($input:expr, $($t:ty),* $(,)?) => {
        $(
            if let Ok(v) = <$t>::parse($input) {
                prop_assert_eq!(<$t>::parse(v.as_str()), Ok(v.clone()), "{}", stringify!($t));
            }
        )*
    };
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_parser_panics_on_any_input(s in inputs()) {
        let _ = Name::parse(&s);
        let _ = Text::parse(&s);
        let _ = Gender::parse(&s);
        let _ = CountryCode::parse(&s);
        let _ = HttpUrl::parse(&s).map(|u| (u.host().len(), u.scheme().len()));
        let _ = RedirectUri::parse(&s);
        let _ = Origin::parse(&s);
        let _ = Email::parse(&s).map(|e| e.key());
        let _ = PhoneNumber::parse(&s);
        let _ = Birthdate::parse(&s).map(|b| b.to_string());
        let _ = Locale::parse(&s);
        let _ = ZoneInfo::parse(&s);
        let _ = HexColor::parse(&s);
        let _ = OrgDomain::parse(&s);
        let _ = UserId::parse(&s);
        let _ = ClientId::parse(&s);
        let _ = OrganizationId::parse(&s);
        let _ = Environment::parse(&s);
        let _ = ApplicationType::parse(&s);
        let _ = EventCode::parse(&s);
        let _ = Key::new(&s, &[&s, &s]);
    }

    #[test]
    fn no_input_builder_panics_on_any_input(s in inputs()) {
        let _ = NewOrganization::new(&s).and_then(|n| n.country_name(&s)).and_then(|n| n.privacy_policy_url(&s));
        let _ = OrganizationUpdate::new().name(&s).and_then(|u| u.terms_of_service_url(&s));
        let _ = NewUser::new(&s);
        let _ = ProfileChanges::new().phone_number(&s).and_then(|p| p.birthdate(&s)).and_then(|p| p.locale(&s));
        let _ = NewApplication::new(&s, ApplicationType::React);
        let _ = ApplicationUpdate::new()
            .allowed_redirect_urls(&[&s])
            .and_then(|a| a.allowed_origins_cors(&[&s, &s]))
            .and_then(|a| a.default_web_origin(&s));
    }

    #[test]
    fn parsed_values_reparse_to_themselves(s in inputs()) {
        reparses!(&s, Name, Text, Gender, HttpUrl, RedirectUri, Origin, Email, PhoneNumber, Locale,
            ZoneInfo, HexColor, OrgDomain, EventCode);
        if let Ok(c) = CountryCode::parse(&s) {
            prop_assert_eq!(CountryCode::parse(c.as_str()), Ok(c));
        }
        if let Ok(b) = Birthdate::parse(&s) {
            prop_assert_eq!(Birthdate::parse(&b.to_string()), Ok(b));
        }
    }

    #[test]
    fn accepted_phone_numbers_are_e164(s in inputs()) {
        if let Ok(p) = PhoneNumber::parse(&s) {
            let digits = p.as_str().strip_prefix('+').expect("a leading +");
            prop_assert!((7..=15).contains(&digits.len()), "{}", p);
            prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{}", p);
            prop_assert!(!digits.starts_with('0'), "{}", p);
        }
    }

    #[test]
    fn keys_are_at_most_512_bytes(s in any::<String>(), n in 0usize..600) {
        let long = s.repeat(n / s.len().max(1) + 1);
        let key = Key::new(&long, &[&s]);
        prop_assert!(key.as_str().len() <= 512);
        prop_assert!(long.starts_with(key.as_str()) || key.as_str().starts_with(&long));
    }

    #[test]
    fn page_requests_never_panic_and_stay_in_bounds(page in any::<u32>(), per_page in any::<u32>(), total in any::<u64>()) {
        match PageRequest::new(page, per_page) {
            Ok(request) => {
                prop_assert!((1..=100).contains(&request.per_page()));
                let p = request.pagination(total);
                prop_assert_eq!(p.current_page, page);
                prop_assert!(p.next_page == 0 || p.next_page == page + 1);
                prop_assert!(p.prev_page < page);
                prop_assert!(p.prev_page <= p.total_pages);
                let _ = request.offset();
            }
            Err(e) => prop_assert!(page == 0 || per_page == 0, "{}", e),
        }
    }
}

/// Names of any kind, with long and slug-boundary-prone ones over-represented.
fn names() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Zéßæ東京 .&-]{1,200}",
        "([a-z]{1,9} ){5,12}",
        "[a-z]{62}[ -][a-z]{1,5}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_accepted_name_yields_a_valid_domain_of_at_most_63_characters(
        names in proptest::collection::vec(names(), 1..4)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let f = common::fixture();
        for name in names.iter().chain(names.iter()) {
            let Ok(new) = NewOrganization::new(name) else { continue };
            let org = runtime
                .block_on(f.identity.organizations().create(new))
                .expect("an accepted name is always created");
            prop_assert!(org.domain.as_str().len() <= 63, "{}", org.domain);
            prop_assert_eq!(OrgDomain::parse(org.domain.as_str()), Ok(org.domain.clone()));
        }
    }
}
