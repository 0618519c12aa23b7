//! Pages of lists, newest first, in the seed's `pagination` shape.
//!
//! A list is read by page number ([`PageRequest::new`]) or, past the first page, by keyset
//! cursor ([`PageRequest::after`] with the [`List::next_cursor`] of the previous page). A page
//! number costs the store an `OFFSET`: it reads and drops every item before the page, so page
//! 10,000 of a large list is slow. A cursor starts the read right after the previous page's
//! last item, so every page costs the same however deep it is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Error;
use crate::error::FieldProblem;

/// Items per page when the caller does not say (the seed's examples use 8).
pub const DEFAULT_PER_PAGE: u32 = 8;
/// The most items one page can hold; a larger `per_page` is capped to this, not refused.
pub const MAX_PER_PAGE: u32 = 100;

/// Which page to read: `page` counts from 1, `per_page` is between 1 and [`MAX_PER_PAGE`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PageRequest {
    page: u32,
    per_page: u32,
    after: Option<Cursor>,
}

impl Default for PageRequest {
    /// The first page of [`DEFAULT_PER_PAGE`] items.
    fn default() -> Self {
        Self {
            page: 1,
            per_page: DEFAULT_PER_PAGE,
            after: None,
        }
    }
}

impl PageRequest {
    /// Page `page` (from 1) of `per_page` items; `per_page` above [`MAX_PER_PAGE`] is capped.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `page` when it is 0, or `per_page` when it is 0.
    pub fn new(page: u32, per_page: u32) -> Result<Self, Error> {
        if page == 0 {
            return Err(Error::field(
                "page",
                FieldProblem::OutOfRange {
                    min: 1,
                    max: i64::from(u32::MAX),
                },
            ));
        }
        if per_page == 0 {
            return Err(Error::field(
                "per_page",
                FieldProblem::OutOfRange {
                    min: 1,
                    max: i64::from(MAX_PER_PAGE),
                },
            ));
        }
        Ok(Self {
            page,
            per_page: per_page.min(MAX_PER_PAGE),
            after: None,
        })
    }

    /// The same request, read by keyset: the items strictly after `cursor` in list order, at
    /// most `per_page` of them, with no `OFFSET`. The page number is then only carried into the
    /// [`Pagination`] object; pass the `next_page` of the list the cursor came from so the
    /// pagination (and whether [`List::next_cursor`] is set) stays right.
    ///
    /// The list reading the request refuses a cursor of another kind of list
    /// ([`Error::InvalidField`] naming `cursor`).
    #[must_use]
    pub fn after(self, cursor: Cursor) -> Self {
        Self {
            after: Some(cursor),
            ..self
        }
    }

    /// The cursor the page starts after, if the request is a keyset read.
    pub fn cursor(&self) -> Option<&Cursor> {
        self.after.as_ref()
    }

    /// [`Error::InvalidField`] naming `cursor` if the request carries a cursor of another kind
    /// of list than `kind`.
    pub(crate) fn check_cursor(&self, kind: ListKind) -> Result<(), Error> {
        match self.after {
            Some(c) if c.kind != kind => Err(Cursor::invalid()),
            _ => Ok(()),
        }
    }

    /// The page number, from 1.
    pub fn page(&self) -> u32 {
        self.page
    }

    /// Items per page (already capped).
    pub fn per_page(&self) -> u32 {
        self.per_page
    }

    /// How many items precede this page.
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }

    /// The pagination object for this page of a list of `total` items.
    pub fn pagination(&self, total: u64) -> Pagination {
        let per_page = u64::from(self.per_page);
        let total_pages = u32::try_from(total.div_ceil(per_page)).unwrap_or(u32::MAX);
        Pagination {
            current_page: self.page,
            next_page: if self.page < total_pages {
                self.page + 1
            } else {
                0
            },
            per_page: self.per_page,
            prev_page: (self.page - 1).min(total_pages),
            total_pages,
        }
    }
}

/// The seed's pagination object. Page numbers count from 1; `0` means "no such page".
///
/// `next_page` is `current_page + 1` while pages remain, else 0. `prev_page` is
/// `current_page - 1`, except past the end, where it is the last page (`total_pages`), so a
/// client that overshoots can step back to data.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Pagination {
    /// The page returned.
    pub current_page: u32,
    /// The next page, or 0 when this is the last one (or past it).
    pub next_page: u32,
    /// Items per page.
    pub per_page: u32,
    /// The previous page, or 0 on the first page.
    pub prev_page: u32,
    /// How many pages hold data (0 for an empty list).
    pub total_pages: u32,
}

/// One page of a list: `{"__type__": "List", "data": [...], "pagination": {...}, "total": n}`,
/// plus `"next_cursor"` when a next page exists.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "__type__", rename = "List")]
pub struct List<T> {
    /// The items of this page, newest first.
    pub data: Vec<T>,
    /// Where this page sits.
    pub pagination: Pagination,
    /// How many items the whole list holds.
    pub total: u64,
    /// The cursor of this page's last item, set whenever a next page exists (this page is
    /// full and `pagination.next_page` is not 0): read the next page with
    /// `PageRequest::new(next_page, per_page)?.after(next_cursor)`. Omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<Cursor>,
}

impl<T> List<T> {
    pub(crate) fn new(data: Vec<T>, request: PageRequest, total: u64) -> Self
    where
        T: Keyed,
    {
        let pagination = request.pagination(total);
        let full = data.len() == request.per_page as usize;
        let next_cursor = match data.last() {
            Some(last) if full && pagination.next_page != 0 => Some(last.cursor()),
            _ => None,
        };
        Self {
            data,
            pagination,
            total,
            next_cursor,
        }
    }
}

/// An item of a list that a [`Cursor`] can point at.
pub(crate) trait Keyed {
    /// The cursor pointing right after this item.
    fn cursor(&self) -> Cursor;
}

/// Which list a [`Cursor`] belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum ListKind {
    /// An organization's users.
    Users,
    /// Organizations.
    Organizations,
    /// Applications.
    Applications,
    /// Audit events.
    Events,
    /// An organization's API keys.
    ApiKeys,
    /// An organization's metakeys.
    MetaKeys,
    /// An organization's SSO connections.
    SsoConnections,
}

impl ListKind {
    fn byte(self) -> u8 {
        match self {
            Self::Users => 1,
            Self::Organizations => 2,
            Self::Applications => 3,
            Self::Events => 4,
            Self::ApiKeys => 5,
            Self::MetaKeys => 6,
            Self::SsoConnections => 7,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Users,
            2 => Self::Organizations,
            3 => Self::Applications,
            4 => Self::Events,
            5 => Self::ApiKeys,
            6 => Self::MetaKeys,
            7 => Self::SsoConnections,
            _ => return None,
        })
    }
}

/// The sort key of the last item of a page: where a keyset read resumes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum CursorKey {
    /// Users, organizations and applications (newest first): the item's `inserted_at` (at
    /// microsecond precision, as idcore writes it) and its id (`client_id` for applications).
    /// The next page holds the items whose `(inserted_at, id)` is strictly smaller.
    Newest {
        /// When the item was inserted.
        inserted_at: OffsetDateTime,
        /// The item's id.
        id: Uuid,
    },
    /// Events (highest id first): the event's id. The next page holds smaller ids.
    Event {
        /// The event's id.
        id: i64,
    },
}

/// Where a keyset read of a list resumes: an opaque, URL-safe string (base64url, no padding).
///
/// Inside, a small versioned binary: a version byte, a [`ListKind`] byte and the [`CursorKey`]
/// (`inserted_at` as big-endian microseconds since the Unix epoch and the 16 uuid bytes, or the
/// event id as big-endian `i64`). Clients must not build or read them; they pass back the
/// [`List::next_cursor`] they were given.
///
/// ```
/// # fn main() -> Result<(), idcore::Error> {
/// use idcore::page::{Cursor, PageRequest};
///
/// let cursor: Cursor = "AQQAAAAAAAAAKg".parse()?;
/// assert_eq!(cursor.to_string(), "AQQAAAAAAAAAKg");
/// let page = PageRequest::new(2, 8)?.after(cursor);
/// assert_eq!(page.cursor(), Some(&cursor));
/// assert!("not a cursor".parse::<Cursor>().is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Cursor {
    kind: ListKind,
    key: CursorKey,
}

/// The first byte of every cursor this version writes.
const CURSOR_VERSION: u8 = 1;

impl Cursor {
    /// The cursor after a user, an organization or an application (by `kind`), from its
    /// `inserted_at` (truncated to whole microseconds) and id.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `cursor` when `kind` is [`ListKind::Events`] (event cursors
    /// come from [`Cursor::event`]) or `inserted_at` is outside the `i64` microsecond range.
    pub fn newest(kind: ListKind, inserted_at: OffsetDateTime, id: Uuid) -> Result<Self, Error> {
        if kind == ListKind::Events {
            return Err(Self::invalid());
        }
        let micros = micros(inserted_at).ok_or_else(Self::invalid)?;
        let inserted_at = from_micros(micros).ok_or_else(Self::invalid)?;
        Ok(Self {
            kind,
            key: CursorKey::Newest { inserted_at, id },
        })
    }

    /// The cursor after a stored item of a newest-first list. Stored instants always fit the
    /// microsecond range (the `time` crate's dates end at year 9999).
    pub(crate) fn after_item(kind: ListKind, inserted_at: OffsetDateTime, id: Uuid) -> Self {
        let inserted_at = micros(inserted_at)
            .and_then(from_micros)
            .unwrap_or(inserted_at);
        Self {
            kind,
            key: CursorKey::Newest { inserted_at, id },
        }
    }

    /// The cursor after the event with this id.
    pub fn event(id: i64) -> Self {
        Self {
            kind: ListKind::Events,
            key: CursorKey::Event { id },
        }
    }

    /// The list this cursor belongs to.
    pub fn kind(&self) -> ListKind {
        self.kind
    }

    /// The sort key the next page starts strictly after.
    pub fn key(&self) -> CursorKey {
        self.key
    }

    fn invalid() -> Error {
        Error::field("cursor", FieldProblem::Format("not a cursor of this list"))
    }

    fn to_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(26);
        out.push(CURSOR_VERSION);
        out.push(self.kind.byte());
        match self.key {
            CursorKey::Newest { inserted_at, id } => {
                // Constructors checked that the instant fits (see `newest`).
                let us = micros(inserted_at).unwrap_or_default();
                out.extend_from_slice(&us.to_be_bytes());
                out.extend_from_slice(id.as_bytes());
            }
            CursorKey::Event { id } => out.extend_from_slice(&id.to_be_bytes()),
        }
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (&[CURSOR_VERSION, kind], rest) = bytes.split_first_chunk::<2>()? else {
            return None;
        };
        let kind = ListKind::from_byte(kind)?;
        let key = match (kind, rest.len()) {
            (ListKind::Events, 8) => CursorKey::Event {
                id: i64::from_be_bytes(rest.try_into().ok()?),
            },
            (
                ListKind::Users
                | ListKind::Organizations
                | ListKind::Applications
                | ListKind::ApiKeys
                | ListKind::MetaKeys
                | ListKind::SsoConnections,
                24,
            ) => {
                let (us, id) = rest.split_first_chunk::<8>()?;
                CursorKey::Newest {
                    inserted_at: from_micros(i64::from_be_bytes(*us))?,
                    id: Uuid::from_slice(id).ok()?,
                }
            }
            _ => return None,
        };
        Some(Self { kind, key })
    }
}

fn micros(at: OffsetDateTime) -> Option<i64> {
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1000)).ok()
}

fn from_micros(us: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).ok()
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::encoding::base64url_encode(&self.to_bytes()))
    }
}

impl FromStr for Cursor {
    type Err = Error;

    /// # Errors
    /// [`Error::InvalidField`] naming `cursor` unless `s` is a cursor this version wrote.
    fn from_str(s: &str) -> Result<Self, Error> {
        // A cursor is at most 26 bytes (35 characters): refuse long input before decoding it.
        if s.len() > 64 {
            return Err(Self::invalid());
        }
        crate::encoding::base64url_decode(s)
            .ok()
            .and_then(|bytes| Self::from_bytes(&bytes))
            .ok_or_else(Self::invalid)
    }
}

impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_through_their_text() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        for kind in [
            ListKind::Users,
            ListKind::Organizations,
            ListKind::Applications,
        ] {
            let c = Cursor::newest(kind, at, id).unwrap();
            assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
            assert_eq!(c.kind(), kind);
        }
        let e = Cursor::event(42);
        assert_eq!(e.to_string().parse::<Cursor>().unwrap(), e);
    }

    #[test]
    fn newest_cursors_keep_whole_microseconds() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        let c = Cursor::newest(ListKind::Users, at, Uuid::nil()).unwrap();
        let CursorKey::Newest { inserted_at, .. } = c.key() else {
            panic!("a users cursor holds a newest-first key");
        };
        assert_eq!(
            inserted_at.unix_timestamp_nanos(),
            1_700_000_000_123_456_000
        );
    }

    #[test]
    fn malformed_cursors_are_invalid_field_cursor() {
        let good = Cursor::event(7).to_string();
        let mut bad = vec![
            String::new(),
            "!!".into(),
            "A".repeat(100),
            format!("{good}A"),
            crate::encoding::base64url_encode(&[2, 4, 0, 0, 0, 0, 0, 0, 0, 7]),
            crate::encoding::base64url_encode(&[1, 9, 0, 0, 0, 0, 0, 0, 0, 7]),
            crate::encoding::base64url_encode(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 7]),
        ];
        bad.push(good.replace('A', "+"));
        for text in bad {
            match text.parse::<Cursor>() {
                Err(Error::InvalidField {
                    field: "cursor", ..
                }) => {}
                other => panic!("{text:?} parsed as {other:?}"),
            }
        }
    }

    #[test]
    fn a_cursor_of_another_list_is_refused() {
        let page = PageRequest::default().after(Cursor::event(1));
        assert!(page.check_cursor(ListKind::Events).is_ok());
        assert!(matches!(
            page.check_cursor(ListKind::Users),
            Err(Error::InvalidField {
                field: "cursor",
                ..
            })
        ));
        assert!(Cursor::newest(ListKind::Events, OffsetDateTime::UNIX_EPOCH, Uuid::nil()).is_err());
    }

    #[test]
    fn next_cursor_is_set_only_while_a_next_page_exists() {
        struct Item(i64);
        impl Keyed for Item {
            fn cursor(&self) -> Cursor {
                Cursor::event(self.0)
            }
        }
        let page = PageRequest::new(1, 2).unwrap();
        let list = List::new(vec![Item(9), Item(8)], page, 3);
        assert_eq!(list.next_cursor, Some(Cursor::event(8)));
        let last = PageRequest::new(2, 2).unwrap().after(Cursor::event(8));
        assert_eq!(List::new(vec![Item(7)], last, 3).next_cursor, None);
        assert_eq!(List::new(vec![Item(9), Item(8)], page, 2).next_cursor, None);
    }
}
