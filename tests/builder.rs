//! The builder refuses inconsistent configuration with a typed error.

use idcore::{ConfigError, Error, Identity, IdentityBuilder, Lifetimes, MemoryStore};
use time::Duration;

fn builder() -> IdentityBuilder<MemoryStore> {
    Identity::builder().store(MemoryStore::new())
}

#[track_caller]
fn assert_config_error(result: Result<Identity<MemoryStore>, Error>, expected: ConfigError) {
    let err = result.err().expect("configuration refused");
    assert!(
        matches!(&err, Error::Config(got) if *got == expected),
        "expected {expected:?}, got {err:?}"
    );
    assert_eq!(err.code(), "invalid_configuration");
    assert_eq!(err.http_status(), 500);
}

fn with_lifetimes(change: impl FnOnce(&mut Lifetimes)) -> Result<Identity<MemoryStore>, Error> {
    let mut lifetimes = Lifetimes::default();
    change(&mut lifetimes);
    builder()
        .issuer("https://auth.example.com")
        .lifetimes(lifetimes)
        .build()
}

#[test]
fn a_missing_issuer_is_refused() {
    assert_config_error(builder().build(), ConfigError::MissingIssuer);
}

#[test]
fn a_plain_http_issuer_is_refused_outside_loopback() {
    for issuer in [
        "http://auth.example.com",
        "http://10.0.0.1",
        "http://localhost.example.com",
    ] {
        assert_config_error(
            builder().issuer(issuer).build(),
            ConfigError::Issuer("must use https (plain http only for localhost)"),
        );
    }
}

#[test]
fn an_issuer_with_a_trailing_slash_is_refused() {
    for issuer in [
        "https://auth.example.com/",
        "https://auth.example.com/tenant/",
    ] {
        assert_config_error(
            builder().issuer(issuer).build(),
            ConfigError::Issuer("must not end with a slash"),
        );
    }
}

#[test]
fn an_issuer_with_a_query_or_fragment_is_refused() {
    for issuer in [
        "https://auth.example.com?x=1",
        "https://auth.example.com/a#b",
    ] {
        assert_config_error(
            builder().issuer(issuer).build(),
            ConfigError::Issuer("must not have a query or fragment"),
        );
    }
}

#[test]
fn an_issuer_that_is_not_an_absolute_url_is_refused() {
    for issuer in [
        "",
        "auth.example.com",
        "/auth",
        "ftp://auth.example.com",
        "https://user@auth.example.com",
        "https://auth example.com",
    ] {
        assert_config_error(
            builder().issuer(issuer).build(),
            ConfigError::Issuer("must be an absolute https url"),
        );
    }
}

#[test]
fn plain_http_is_allowed_on_loopback_hosts() {
    for issuer in [
        "http://localhost",
        "http://localhost:8080",
        "http://127.0.0.1:3000",
        "http://[::1]:4000",
    ] {
        let identity = builder().issuer(issuer).build().expect("loopback allowed");
        assert_eq!(identity.config().issuer().as_str(), issuer);
    }
}

#[test]
fn an_https_issuer_with_a_path_is_kept_as_given() {
    let identity = builder()
        .issuer("https://auth.example.com/idp")
        .build()
        .expect("valid");
    assert_eq!(
        identity.config().issuer().as_str(),
        "https://auth.example.com/idp"
    );
}

#[test]
fn managed_by_defaults_to_the_issuer_host() {
    let identity = builder()
        .issuer("https://auth.example.com:8443/idp")
        .build()
        .expect("valid");
    assert_eq!(identity.config().managed_by().as_str(), "auth.example.com");
}

#[test]
fn managed_by_can_be_set() {
    let identity = builder()
        .issuer("https://auth.example.com")
        .managed_by("your_domain")
        .build()
        .expect("valid");
    assert_eq!(identity.config().managed_by().as_str(), "your_domain");
}

#[test]
fn an_empty_managed_by_is_refused() {
    assert_config_error(
        builder()
            .issuer("https://auth.example.com")
            .managed_by(" ")
            .build(),
        ConfigError::Inconsistent("managed_by must be a non-empty single-line name"),
    );
}

#[test]
fn default_lifetimes_are_the_documented_ones() {
    let l = Lifetimes::default();
    assert_eq!(l.access_token, Duration::hours(1));
    assert_eq!(l.id_token, Duration::hours(1));
    assert_eq!(l.refresh_token, Duration::days(30));
    assert_eq!(l.authorization_code, Duration::seconds(60));
    assert_eq!(l.email_code, Duration::minutes(10));
    let identity = builder()
        .issuer("https://auth.example.com")
        .build()
        .expect("valid");
    assert_eq!(*identity.config().lifetimes(), l);
}

#[test]
fn an_access_token_lifetime_of_one_minute_is_refused() {
    assert_config_error(
        with_lifetimes(|l| l.access_token = Duration::minutes(1)),
        ConfigError::Lifetime {
            name: "access_token",
            min_seconds: 300,
            max_seconds: 86_400,
        },
    );
}

#[test]
fn an_id_token_lifetime_of_two_days_is_refused() {
    assert_config_error(
        with_lifetimes(|l| l.id_token = Duration::days(2)),
        ConfigError::Lifetime {
            name: "id_token",
            min_seconds: 300,
            max_seconds: 86_400,
        },
    );
}

#[test]
fn a_refresh_token_lifetime_of_twenty_years_is_refused() {
    assert_config_error(
        with_lifetimes(|l| l.refresh_token = Duration::days(20 * 365)),
        ConfigError::Lifetime {
            name: "refresh_token",
            min_seconds: 3_600,
            max_seconds: 3_653 * 86_400,
        },
    );
}

#[test]
fn an_authorization_code_lifetime_of_eleven_minutes_is_refused() {
    assert_config_error(
        with_lifetimes(|l| l.authorization_code = Duration::minutes(11)),
        ConfigError::Lifetime {
            name: "authorization_code",
            min_seconds: 1,
            max_seconds: 600,
        },
    );
}

#[test]
fn a_zero_or_negative_lifetime_is_refused() {
    assert_config_error(
        with_lifetimes(|l| l.authorization_code = Duration::ZERO),
        ConfigError::Lifetime {
            name: "authorization_code",
            min_seconds: 1,
            max_seconds: 600,
        },
    );
    assert_config_error(
        with_lifetimes(|l| l.email_code = Duration::minutes(-5)),
        ConfigError::Lifetime {
            name: "email_code",
            min_seconds: 60,
            max_seconds: 600,
        },
    );
}

#[test]
fn a_refresh_token_shorter_than_the_access_token_is_refused() {
    assert_config_error(
        with_lifetimes(|l| {
            l.access_token = Duration::hours(2);
            l.refresh_token = Duration::hours(1);
        }),
        ConfigError::Inconsistent(
            "the refresh token lifetime must not be shorter than the access token lifetime",
        ),
    );
}

#[test]
fn lifetimes_on_their_bounds_are_accepted() {
    with_lifetimes(|l| {
        l.access_token = Duration::minutes(5);
        l.id_token = Duration::days(1);
        l.refresh_token = Duration::days(3_653);
        l.authorization_code = Duration::minutes(10);
        l.email_code = Duration::minutes(1);
    })
    .expect("bounds are inclusive");
    with_lifetimes(|l| {
        l.access_token = Duration::days(1);
        l.refresh_token = Duration::days(1);
        l.authorization_code = Duration::seconds(1);
    })
    .expect("refresh equal to access is allowed");
}
