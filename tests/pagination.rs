//! Pages: `page` and `per_page` edges, the cap, and the exact pagination object.

mod common;

use common::{assert_invalid, fixture, organization};
use idcore::page::{Cursor, DEFAULT_PER_PAGE, MAX_PER_PAGE, Pagination};
use idcore::{FieldProblem, Identity, MemoryStore, NewUser, PageRequest};
use serde_json::json;
use time::Duration;

/// An identity holding `n` organizations, created one second apart: `Org 1` … `Org n`.
async fn with_organizations(n: u32) -> Identity<MemoryStore> {
    let f = fixture();
    for i in 1..=n {
        organization(&f.identity, &format!("Org {i}")).await;
        f.clock.advance(Duration::seconds(1));
    }
    f.identity
}

fn pagination(
    current_page: u32,
    next_page: u32,
    per_page: u32,
    prev_page: u32,
    total_pages: u32,
) -> Pagination {
    Pagination {
        current_page,
        next_page,
        per_page,
        prev_page,
        total_pages,
    }
}

#[test]
fn per_page_zero_is_refused() {
    assert_invalid(
        PageRequest::new(1, 0),
        "per_page",
        FieldProblem::OutOfRange { min: 1, max: 100 },
    );
}

#[test]
fn page_zero_is_refused() {
    assert_invalid(
        PageRequest::new(0, 8),
        "page",
        FieldProblem::OutOfRange {
            min: 1,
            max: i64::from(u32::MAX),
        },
    );
}

#[test]
fn per_page_above_the_cap_is_capped_to_one_hundred() {
    let page = PageRequest::new(1, 10_000).expect("capped, not refused");
    assert_eq!(MAX_PER_PAGE, 100);
    assert_eq!(page.per_page(), MAX_PER_PAGE);
    assert_eq!(page.page(), 1);
}

#[test]
fn the_default_page_is_the_first_of_eight() {
    let page = PageRequest::default();
    assert_eq!((page.page(), page.per_page()), (1, DEFAULT_PER_PAGE));
    assert_eq!(DEFAULT_PER_PAGE, 8);
}

#[tokio::test]
async fn a_capped_page_holds_one_hundred_items() {
    let identity = with_organizations(101).await;
    let list = identity
        .organizations()
        .list(PageRequest::new(1, 10_000).expect("capped"))
        .await
        .expect("list");
    assert_eq!(list.data.len(), 100);
    assert_eq!(list.total, 101);
    assert_eq!(list.pagination, pagination(1, 2, 100, 0, 2));
    assert_eq!(list.data[0].name.as_str(), "Org 101");
    assert_eq!(list.data[99].name.as_str(), "Org 2");
}

#[tokio::test]
async fn seventeen_items_in_pages_of_eight() {
    let identity = with_organizations(17).await;
    let expected = [
        (1, pagination(1, 2, 8, 0, 3), 8, Some("Org 17")),
        (2, pagination(2, 3, 8, 1, 3), 8, Some("Org 9")),
        (3, pagination(3, 0, 8, 2, 3), 1, Some("Org 1")),
        (4, pagination(4, 0, 8, 3, 3), 0, None),
    ];
    for (page, want, len, first) in expected {
        let list = identity
            .organizations()
            .list(PageRequest::new(page, 8).expect("valid page"))
            .await
            .expect("list");
        assert_eq!(list.pagination, want, "page {page}");
        assert_eq!(list.data.len(), len, "page {page}");
        assert_eq!(list.total, 17, "page {page}");
        assert_eq!(
            list.data.first().map(|o| o.name.as_str()),
            first,
            "page {page}"
        );
    }
}

#[tokio::test]
async fn pages_of_eight_cover_every_item_once_newest_first() {
    let identity = with_organizations(17).await;
    let mut seen = Vec::new();
    for page in 1..=3 {
        let list = identity
            .organizations()
            .list(PageRequest::new(page, 8).expect("valid page"))
            .await
            .expect("list");
        seen.extend(list.data.into_iter().map(|o| o.name.as_str().to_owned()));
    }
    let expected: Vec<String> = (1..=17).rev().map(|i| format!("Org {i}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_page_past_the_end_is_empty_and_points_back_to_the_last_page() {
    let identity = with_organizations(17).await;
    let list = identity
        .organizations()
        .list(PageRequest::new(9, 8).expect("valid page"))
        .await
        .expect("list");
    assert!(list.data.is_empty());
    assert_eq!(list.total, 17);
    assert_eq!(list.pagination, pagination(9, 0, 8, 3, 3));
}

#[tokio::test]
async fn the_last_possible_page_is_empty_and_does_not_overflow() {
    let identity = with_organizations(3).await;
    let list = identity
        .organizations()
        .list(PageRequest::new(u32::MAX, 100).expect("valid page"))
        .await
        .expect("list");
    assert!(list.data.is_empty());
    assert_eq!(list.pagination, pagination(u32::MAX, 0, 100, 1, 1));
}

#[tokio::test]
async fn an_exact_multiple_has_no_next_page_on_its_last_page() {
    let identity = with_organizations(16).await;
    let list = identity
        .organizations()
        .list(PageRequest::new(2, 8).expect("valid page"))
        .await
        .expect("list");
    assert_eq!(list.data.len(), 8);
    assert_eq!(list.pagination, pagination(2, 0, 8, 1, 2));
}

#[tokio::test]
async fn an_empty_list_has_no_pages() {
    let identity = with_organizations(0).await;
    let list = identity
        .organizations()
        .list(PageRequest::default())
        .await
        .expect("list");
    assert_eq!(
        serde_json::to_value(&list).expect("json"),
        json!({
            "__type__": "List",
            "data": [],
            "pagination": {
                "current_page": 1,
                "next_page": 0,
                "per_page": 8,
                "prev_page": 0,
                "total_pages": 0,
            },
            "total": 0,
        })
    );
}

#[tokio::test]
async fn a_page_past_the_end_of_an_empty_list_points_back_to_page_zero() {
    let identity = with_organizations(0).await;
    let list = identity
        .organizations()
        .list(PageRequest::new(3, 8).expect("valid page"))
        .await
        .expect("list");
    assert!(list.data.is_empty());
    assert_eq!(list.pagination, pagination(3, 0, 8, 0, 0));
}

#[tokio::test]
async fn users_page_like_organizations() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    for i in 1..=17 {
        f.identity
            .users(&org)
            .create(NewUser::new(&format!("user{i}@example.com")).expect("valid email"))
            .await
            .expect("created");
        f.clock.advance(Duration::seconds(1));
    }
    let users = f.identity.users(&org);
    let page2 = users
        .list(PageRequest::new(2, 8).expect("valid page"))
        .await
        .expect("list");
    assert_eq!(page2.pagination, pagination(2, 3, 8, 1, 3));
    assert_eq!(page2.total, 17);
    assert_eq!(page2.data[0].profile.email.as_str(), "user9@example.com");
    let past = users
        .list(PageRequest::new(5, 8).expect("valid page"))
        .await
        .expect("list");
    assert!(past.data.is_empty());
    assert_eq!(past.pagination, pagination(5, 0, 8, 3, 3));
}

#[tokio::test]
async fn following_next_cursor_reads_the_pages_that_page_numbers_read() {
    let identity = with_organizations(17).await;
    let orgs = identity.organizations();
    let mut request = PageRequest::new(1, 8).expect("valid page");
    for page in 1..=3 {
        let by_cursor = orgs.list(request).await.expect("list");
        let by_number = orgs
            .list(PageRequest::new(page, 8).expect("valid page"))
            .await
            .expect("list");
        assert_eq!(by_cursor.data, by_number.data, "page {page}");
        assert_eq!(by_cursor.pagination, by_number.pagination, "page {page}");
        assert_eq!(by_cursor.total, 17, "page {page}");
        assert_eq!(by_cursor.next_cursor, by_number.next_cursor, "page {page}");
        match by_cursor.next_cursor {
            Some(cursor) => {
                let next = by_cursor.pagination.next_page;
                request = PageRequest::new(next, 8).expect("valid page").after(cursor);
            }
            None => assert_eq!(page, 3, "only the last page has no next cursor"),
        }
    }
}

#[tokio::test]
async fn next_cursor_is_serialized_and_parses_back() {
    let identity = with_organizations(3).await;
    let list = identity
        .organizations()
        .list(PageRequest::new(1, 2).expect("valid page"))
        .await
        .expect("list");
    let json = serde_json::to_value(&list).expect("json");
    let text = json["next_cursor"].as_str().expect("a next cursor string");
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe: {text}"
    );
    let cursor: Cursor = text.parse().expect("a cursor");
    assert_eq!(Some(cursor), list.next_cursor);
    let back: idcore::List<serde_json::Value> = serde_json::from_value(json).expect("a list");
    assert_eq!(back.next_cursor, list.next_cursor);
}

#[tokio::test]
async fn a_cursor_of_another_list_or_a_malformed_one_is_an_invalid_cursor() {
    let f = fixture();
    let org = organization(&f.identity, "Misapret").await;
    let orgs = f
        .identity
        .organizations()
        .list(PageRequest::new(1, 1).expect("valid page"))
        .await
        .expect("list");
    assert!(orgs.next_cursor.is_none(), "one organization: one page");
    let events_cursor = Cursor::event(1);
    let request = PageRequest::new(2, 8)
        .expect("valid page")
        .after(events_cursor);
    let problem = FieldProblem::Format("not a cursor of this list");
    assert_invalid(
        f.identity.users(&org).list(request).await,
        "cursor",
        problem.clone(),
    );
    assert_invalid(
        f.identity.organizations().list(request).await,
        "cursor",
        problem.clone(),
    );
    assert_invalid("AQQ".parse::<Cursor>(), "cursor", problem);
}
