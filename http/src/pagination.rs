//! Paged lists: `?page=1&pageSize=20` in, `{"items", "page", "pageSize", "total"}` out.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    /// 1-based page number (default 1).
    #[param(minimum = 1, example = 1)]
    pub page: Option<u32>,
    /// Items per page (default 20, at most 100). The literals repeat
    /// `MAX_PAGE_SIZE` because utoipa's attributes take only literals; a test
    /// in `openapi.rs` holds them together.
    #[param(minimum = 1, maximum = 100, example = 20)]
    pub page_size: Option<u32>,
}

#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub page: u32,
    pub page_size: u32,
}

impl PageQuery {
    pub fn validate(&self) -> Result<Page, ApiError> {
        let page = self.page.unwrap_or(1);
        let page_size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if page == 0 {
            return Err(ApiError::validation("page starts at 1"));
        }
        if page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(ApiError::validation(format!(
                "pageSize must be 1-{MAX_PAGE_SIZE}"
            )));
        }
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
