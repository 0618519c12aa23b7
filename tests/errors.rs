//! Each error variant's stable code, HTTP status and retry hint, mapped in one place.

use idcore::mail::MailError;
use idcore::store::StoreError;
use idcore::{ConfigError, Error, FieldProblem, Resource};

fn io_error() -> std::io::Error {
    std::io::Error::other("disk on fire")
}

#[test]
fn each_variant_has_its_code_and_status() {
    let cases: Vec<(Error, &str, u16, bool)> = vec![
        (
            Error::InvalidField {
                field: "country_name",
                problem: FieldProblem::Empty,
            },
            "invalid_request",
            400,
            false,
        ),
        (Error::NotFound(Resource::User), "not_found", 404, false),
        (
            Error::AlreadyExists {
                resource: Resource::User,
                key: "email",
            },
            "already_exists",
            409,
            false,
        ),
        (
            Error::Conflict(Resource::Organization),
            "conflict",
            409,
            true,
        ),
        (
            Error::Config(ConfigError::MissingIssuer),
            "invalid_configuration",
            500,
            false,
        ),
        (
            Error::Store(StoreError::Retryable {
                source: Box::new(io_error()),
            }),
            "conflict",
            409,
            true,
        ),
        // A store's unique-key conflict or missing record that no service translated is the
        // caller's (409 / 404), never a 503 that tells operators the database is down.
        (
            Error::Store(StoreError::AlreadyExists { key: "kid" }),
            "already_exists",
            409,
            false,
        ),
        (Error::Store(StoreError::NotFound), "not_found", 404, false),
        (
            Error::Store(StoreError::backend(io_error())),
            "storage_unavailable",
            503,
            false,
        ),
        (
            Error::Mail(MailError::new(io_error())),
            "mail_unavailable",
            503,
            false,
        ),
        (Error::Random, "server_error", 500, false),
        (
            Error::ApiMisuse("broken adapter"),
            "server_error",
            500,
            false,
        ),
    ];
    for (err, code, status, retryable) in cases {
        assert_eq!(err.code(), code, "{err:?}");
        assert_eq!(err.http_status(), status, "{err:?}");
        assert_eq!(err.is_retryable(), retryable, "{err:?}");
    }
}

#[test]
fn messages_are_lowercase_and_name_what_failed() {
    let cases = [
        (
            Error::InvalidField {
                field: "country_name",
                problem: FieldProblem::Format("must be an ISO 3166-1 alpha-2 country code"),
            },
            "invalid country_name: must be an ISO 3166-1 alpha-2 country code",
        ),
        (
            Error::InvalidField {
                field: "name",
                problem: FieldProblem::TooLong { max: 255 },
            },
            "invalid name: must be at most 255 characters",
        ),
        (
            Error::NotFound(Resource::Organization),
            "organization not found",
        ),
        (
            Error::AlreadyExists {
                resource: Resource::User,
                key: "email",
            },
            "user already exists: email is taken",
        ),
        (
            Error::Conflict(Resource::Application),
            "application was changed concurrently, retry",
        ),
        (
            Error::Config(ConfigError::Lifetime {
                name: "access_token",
                min_seconds: 300,
                max_seconds: 86_400,
            }),
            "invalid configuration: access_token lifetime must be between 300s and 86400s",
        ),
        (
            Error::Store(StoreError::backend(io_error())),
            "storage failed",
        ),
    ];
    for (err, message) in cases {
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn a_store_error_keeps_its_source() {
    let err = Error::from(StoreError::backend(io_error()));
    let source = std::error::Error::source(&err).expect("the store error");
    let backend = source.source().expect("the backend error");
    assert_eq!(backend.to_string(), "disk on fire");
}

#[test]
fn a_config_error_converts_into_error() {
    let err: Error = ConfigError::MissingIssuer.into();
    assert!(matches!(err, Error::Config(ConfigError::MissingIssuer)));
}
