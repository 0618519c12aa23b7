//! Shared setup for the integration tests: an `Identity` on a fresh `MemoryStore` with a manual
//! clock, and assertions on the one error type.
#![allow(dead_code)] // each test binary uses its own subset

use std::fmt::Debug;

use idcore::clock::ManualClock;
use idcore::{Environment, Error, FieldProblem, Identity, MemoryStore, NewOrganization, OrgDomain};
use time::OffsetDateTime;
use time::macros::datetime;

/// Where every manual clock starts.
pub const START: OffsetDateTime = datetime!(2026-03-01 09:00 UTC);

/// An identity and the clock it reads.
pub struct Fixture {
    pub identity: Identity<MemoryStore>,
    pub clock: ManualClock,
}

/// A sandbox identity on a fresh store, its clock stopped at [`START`].
pub fn fixture() -> Fixture {
    fixture_on(Environment::Sandbox, MemoryStore::new())
}

/// An identity of `environment` on `store`, its clock stopped at [`START`].
pub fn fixture_on(environment: Environment, store: MemoryStore) -> Fixture {
    let clock = ManualClock::new(START);
    let identity = Identity::builder()
        .issuer("https://auth.example.com")
        .environment(environment)
        .clock(clock.clone())
        .store(store)
        .build()
        .expect("a valid configuration");
    Fixture { identity, clock }
}

/// Creates an organization named `name` and answers its domain.
pub async fn organization(identity: &Identity<MemoryStore>, name: &str) -> OrgDomain {
    identity
        .organizations()
        .create(NewOrganization::new(name).expect("a valid name"))
        .await
        .expect("organization created")
        .domain
}

/// Asserts `result` is `Error::InvalidField` naming `field` with `problem`, answered as
/// `invalid_request` / 400.
#[track_caller]
pub fn assert_invalid<T: Debug>(result: Result<T, Error>, field: &str, problem: FieldProblem) {
    let err = result.expect_err(&format!("expected invalid {field} ({problem})"));
    let Error::InvalidField {
        field: got_field,
        problem: got_problem,
    } = &err
    else {
        panic!("expected invalid {field} ({problem}), got {err:?}");
    };
    assert_eq!(*got_field, field, "field of {err}");
    assert_eq!(*got_problem, problem, "problem of {err}");
    assert_eq!(err.code(), "invalid_request");
    assert_eq!(err.http_status(), 400);
}

/// Asserts `result` is `Error::NotFound(resource)`, answered as `not_found` / 404.
#[track_caller]
pub fn assert_not_found<T: Debug>(result: Result<T, Error>, resource: idcore::Resource) {
    let err = result.expect_err(&format!("expected {resource} not found"));
    assert!(
        matches!(err, Error::NotFound(r) if r == resource),
        "expected {resource} not found, got {err:?}"
    );
    assert_eq!(err.code(), "not_found");
    assert_eq!(err.http_status(), 404);
}

/// `FieldProblem::Format(message)`, shorter.
pub fn format(message: &'static str) -> FieldProblem {
    FieldProblem::Format(message)
}
