//! The search (API.md, "Search"): `GET /search/concerts` and
//! `GET /search/autocomplete`, public, answered from the search index
//! (`boxoffice_search`). While the index is built at start-up both answer
//! 503 UNAVAILABLE with `Retry-After` (never a 500); `GET /concerts?q=`
//! meanwhile falls back to its substring scan. The queries run on the
//! index's query threads, not on the HTTP worker (`boxoffice_search::pool`).

use actix_web::{web, HttpResponse};
use std::time::Instant;

use super::resource;
use crate::error::{ApiError, ApiResult};
use crate::pagination::PageQuery;
use crate::rate_limit::{CatalogueGets, LimitedCaller};
use crate::state::AppState;
use crate::views::concerts::ConcertSummaryBody;
use crate::views::search::{
    AutocompleteQuery, SearchHitBody, SearchQuery, SearchResultsBody, SuggestionBody,
    SuggestionsBody,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/search/concerts").route(web::get().to(search_concerts)))
        .service(resource("/search/autocomplete").route(web::get().to(autocomplete)));
}

route_api!(
    /// The search's operations.
    SearchApi: [search_concerts, autocomplete]
);

fn took_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

#[utoipa::path(get, path = "/api/v1/search/concerts", summary = "Search concerts by words (typos, Korean and Chinese too)", tag = "search", params(SearchQuery, PageQuery),
    responses(
        (status = 200, description = "one page of matching concerts, best match first", body = SearchResultsBody),
        (status = 400, description = "VALIDATION_ERROR: a missing, empty or too long q, a bad price or time, minPrice above maxPrice, from after to, a bad page or pageSize"),
        (status = 503, description = "UNAVAILABLE: the search index is being built (start-up), or 4,096 searches are already queued; retry after Retry-After"),
    ))]
pub async fn search_concerts(
    state: web::Data<AppState>,
    _limit: LimitedCaller<CatalogueGets>,
    query: web::Query<SearchQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let started = Instant::now();
    let page = page.validate()?;
    let request = query.into_inner().request(page)?;
    let found = state
        .engine(state.search.find_concerts(&state.registry, &request))
        .await?;
    let items = found
        .items
        .iter()
        .map(|(summary, score)| SearchHitBody {
            concert: ConcertSummaryBody::from(summary),
            score: *score,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SearchResultsBody {
        items,
        page: page.page,
        page_size: page.page_size,
        total: found.total,
        took_ms: took_ms(started),
    }))
}

#[utoipa::path(get, path = "/api/v1/search/autocomplete", summary = "Suggest concert titles for the start of a word", tag = "search", params(AutocompleteQuery),
    responses(
        (status = 200, description = "titles that have a word starting with q", body = SuggestionsBody),
        (status = 400, description = "VALIDATION_ERROR: a missing, too short (under 2 characters) or too long q, or a limit outside 1-20"),
        (status = 503, description = "UNAVAILABLE: the search index is being built (start-up), or 4,096 searches are already queued; retry after Retry-After"),
    ))]
pub async fn autocomplete(
    state: web::Data<AppState>,
    _limit: LimitedCaller<CatalogueGets>,
    query: web::Query<AutocompleteQuery>,
) -> ApiResult<HttpResponse> {
    let started = Instant::now();
    let (q, limit) = query.checked()?;
    let suggestions = state
        .search
        .queue_autocomplete(q.to_owned(), limit)
        .answer()
        .await
        .map_err(|err| ApiError::unavailable(err.to_string()))?;
    Ok(HttpResponse::Ok().json(SuggestionsBody {
        suggestions: suggestions.iter().map(SuggestionBody::from).collect(),
        took_ms: took_ms(started),
    }))
}
