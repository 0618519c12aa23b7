//! Pages of lists, newest first, in the seed's `pagination` shape.

use serde::{Deserialize, Serialize};

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
}

impl Default for PageRequest {
    /// The first page of [`DEFAULT_PER_PAGE`] items.
    fn default() -> Self {
        Self {
            page: 1,
            per_page: DEFAULT_PER_PAGE,
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
        })
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

/// One page of a list: `{"__type__": "List", "data": [...], "pagination": {...}, "total": n}`.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "__type__", rename = "List")]
pub struct List<T> {
    /// The items of this page, newest first.
    pub data: Vec<T>,
    /// Where this page sits.
    pub pagination: Pagination,
    /// How many items the whole list holds.
    pub total: u64,
}

impl<T> List<T> {
    pub(crate) fn new(data: Vec<T>, request: PageRequest, total: u64) -> Self {
        Self {
            data,
            pagination: request.pagination(total),
            total,
        }
    }
}
