//! The search's query strings and answers (API.md, "Search"): the checks of
//! `q`, the filters and `limit` (each 400 names its parameter), and the
//! result lines with their score.

use boxoffice_search::{SearchRequest, Suggestion};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};
use crate::pagination::Page;
use crate::views::concerts::{time_field, ConcertSummaryBody};

/// Longest `q` of a search or an autocomplete, in characters (a title has at
/// most 200). Longer is 400: a 10,000-character query is no search.
pub const MAX_QUERY_CHARS: usize = 200;
/// Longest `location`, in characters (an address has at most 500).
pub const MAX_LOCATION_CHARS: usize = 500;
/// Shortest autocomplete `q`, in characters.
pub const MIN_AUTOCOMPLETE_CHARS: usize = 2;
pub const DEFAULT_AUTOCOMPLETE_LIMIT: usize = 10;
pub const MAX_AUTOCOMPLETE_LIMIT: usize = 20;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct SearchQuery {
    /// The words to find (required, at most 200 characters): typos allowed, Korean and Chinese too.
    #[param(example = "aurora live")]
    pub q: Option<String>,
    /// Only this category (ignoring case).
    pub category: Option<String>,
    /// Only concerts with a price grade at or above this amount.
    pub min_price: Option<String>,
    /// Only concerts with a price grade at or below this amount.
    pub max_price: Option<String>,
    /// Only concerts with a schedule starting at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Only concerts with a schedule starting before this time (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Words that must all be in the venue's address.
    pub location: Option<String>,
}

/// `q` trimmed: 400 when missing, blank or too long.
fn query_text(q: Option<&str>) -> ApiResult<&str> {
    let q = q
        .ok_or_else(|| ApiError::validation("q is required"))?
        .trim();
    if q.is_empty() {
        return Err(ApiError::validation("q must not be empty"));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::validation(format!(
            "q must be at most {MAX_QUERY_CHARS} characters"
        )));
    }
    Ok(q)
}

fn amount(text: Option<&str>, name: &str) -> ApiResult<Option<i64>> {
    text.map(|t| {
        t.trim()
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| {
                ApiError::validation(format!("{name} must be a whole amount of at least 0"))
            })
    })
    .transpose()
}

fn non_blank(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

impl SearchQuery {
    /// The search asked for, on `page`; 400 for any bad parameter.
    pub fn request(self, page: Page) -> ApiResult<SearchRequest> {
        let q = query_text(self.q.as_deref())?.to_string();
        let min_price = amount(self.min_price.as_deref(), "minPrice")?;
        let max_price = amount(self.max_price.as_deref(), "maxPrice")?;
        if let (Some(min), Some(max)) = (min_price, max_price) {
            if min > max {
                return Err(ApiError::validation("minPrice must not be above maxPrice"));
            }
        }
        let from = self
            .from
            .as_deref()
            .map(|t| time_field(t, "from"))
            .transpose()?;
        let to = self
            .to
            .as_deref()
            .map(|t| time_field(t, "to"))
            .transpose()?;
        if let (Some(from), Some(to)) = (from, to) {
            if from > to {
                return Err(ApiError::validation("from must not be after to"));
            }
        }
        let location = non_blank(self.location);
        if location
            .as_ref()
            .is_some_and(|l| l.chars().count() > MAX_LOCATION_CHARS)
        {
            return Err(ApiError::validation(format!(
                "location must be at most {MAX_LOCATION_CHARS} characters"
            )));
        }
        Ok(SearchRequest {
            q,
            category: non_blank(self.category),
            min_price,
            max_price,
            from_ms: from.map(|t| t.0),
            to_ms: to.map(|t| t.0),
            location,
            offset: page.offset(),
            limit: page.limit(),
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct AutocompleteQuery {
    /// The start of a word of the title (at least 2 characters).
    #[param(example = "aur")]
    pub q: Option<String>,
    /// Suggestions at most (default 10, 1-20).
    pub limit: Option<String>,
}

impl AutocompleteQuery {
    /// `q` and the limit; 400 for a short, long or missing `q` or a bad limit.
    pub fn checked(&self) -> ApiResult<(&str, usize)> {
        let q = query_text(self.q.as_deref())?;
        if q.chars().count() < MIN_AUTOCOMPLETE_CHARS {
            return Err(ApiError::validation(format!(
                "q must have at least {MIN_AUTOCOMPLETE_CHARS} characters"
            )));
        }
        let limit = match self.limit.as_deref() {
            None => DEFAULT_AUTOCOMPLETE_LIMIT,
            Some(text) => text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_AUTOCOMPLETE_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(format!("limit must be 1-{MAX_AUTOCOMPLETE_LIMIT}"))
                })?,
        };
        Ok((q, limit))
    }
}

/// One search result: the concert list's line and its score.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchHitBody {
    #[serde(flatten)]
    pub concert: ConcertSummaryBody,
    /// Higher is better; results come best first.
    pub score: f32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchResultsBody {
    pub items: Vec<SearchHitBody>,
    pub page: u32,
    pub page_size: u32,
    pub total: usize,
    /// Time spent answering, in milliseconds.
    pub took_ms: f64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuggestionBody {
    /// The concert's title.
    pub text: String,
    pub concert_id: String,
    pub category: String,
}

impl From<&Suggestion> for SuggestionBody {
    fn from(s: &Suggestion) -> Self {
        SuggestionBody {
            text: s.text.clone(),
            concert_id: s.concert_id.to_string(),
            category: s.category.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuggestionsBody {
    pub suggestions: Vec<SuggestionBody>,
    /// Time spent answering, in milliseconds.
    pub took_ms: f64,
}
