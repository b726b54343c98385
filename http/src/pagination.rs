//! Paged lists: `?page=1&pageSize=20` in, `{"items", "page", "pageSize", "total"}` out.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// Read as text and checked by [`PageQuery::validate`], so a bad value is
/// answered with the parameter's name and rule (`page=-1`), not the number
/// parser's "invalid digit found in string".
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    /// 1-based page number (default 1).
    #[param(value_type = Option<u32>, minimum = 1, example = 1)]
    pub page: Option<String>,
    /// Items per page (default 20, at most 100). The literals repeat
    /// `MAX_PAGE_SIZE` because utoipa's attributes take only literals; a test
    /// in `openapi.rs` holds them together.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, example = 20)]
    pub page_size: Option<String>,
}

/// A paging parameter: absent is `default`; else a whole number in `range`.
fn parameter(
    name: &str,
    text: Option<&str>,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, ApiError> {
    let Some(text) = text else {
        return Ok(default);
    };
    match text.trim().parse::<u32>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ if *range.end() == u32::MAX => Err(ApiError::validation(format!(
            "{name} must be a whole number, at least {} (got {text:?})",
            range.start()
        ))),
        _ => Err(ApiError::validation(format!(
            "{name} must be a whole number from {} to {} (got {text:?})",
            range.start(),
            range.end()
        ))),
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub page: u32,
    pub page_size: u32,
}

impl PageQuery {
    pub fn validate(&self) -> Result<Page, ApiError> {
        let page = parameter("page", self.page.as_deref(), 1, 1..=u32::MAX)?;
        let page_size = parameter(
            "pageSize",
            self.page_size.as_deref(),
            DEFAULT_PAGE_SIZE,
            1..=MAX_PAGE_SIZE,
        )?;
        Ok(Page { page, page_size })
    }
}

impl Page {
    pub fn offset(&self) -> usize {
        (self.page as usize - 1).saturating_mul(self.page_size as usize)
    }

    pub fn limit(&self) -> usize {
        self.page_size as usize
    }

    /// This page's `items`, out of `total` in the whole list.
    pub fn of<T>(&self, items: Vec<T>, total: usize) -> List<T> {
        List {
            items,
            page: self.page,
            page_size: self.page_size,
            total,
        }
    }

    /// Cuts one page out of a full list.
    pub fn slice<T>(&self, all: Vec<T>) -> List<T> {
        let total = all.len();
        let items = all
            .into_iter()
            .skip(self.offset())
            .take(self.limit())
            .collect();
        self.of(items, total)
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub page_size: u32,
    pub total: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(page: Option<&str>, page_size: Option<&str>) -> PageQuery {
        PageQuery {
            page: page.map(str::to_owned),
            page_size: page_size.map(str::to_owned),
        }
    }

    #[test]
    fn bad_paging_names_the_parameter_and_its_rule() {
        let page = query(None, None).validate().expect("defaults");
        assert_eq!((page.page, page.page_size), (1, DEFAULT_PAGE_SIZE));
        let page = query(Some("3"), Some("100")).validate().expect("valid");
        assert_eq!((page.page, page.page_size), (3, 100));
        for (page, size, expected) in [
            (
                Some("-1"),
                None,
                "page must be a whole number, at least 1 (got \"-1\")",
            ),
            (
                Some("0"),
                None,
                "page must be a whole number, at least 1 (got \"0\")",
            ),
            (
                Some("x"),
                None,
                "page must be a whole number, at least 1 (got \"x\")",
            ),
            (
                None,
                Some("0"),
                "pageSize must be a whole number from 1 to 100 (got \"0\")",
            ),
            (
                None,
                Some("101"),
                "pageSize must be a whole number from 1 to 100 (got \"101\")",
            ),
        ] {
            let err = query(page, size).validate().expect_err("refused");
            assert_eq!(err.code, "VALIDATION_ERROR");
            assert_eq!(err.message, expected);
        }
    }
}
