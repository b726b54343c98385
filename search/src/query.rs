//! What a search, an autocomplete and a list's words ask the index.
//!
//! Every word of the query must match (in any of title, description, venue),
//! each field scored with its weight (title 3, description 2, venue 1). A word
//! of [`FUZZY_ONE_LETTERS`] letters or more also matches with one typo, of
//! [`FUZZY_TWO_LETTERS`] or more with two (a swap of two letters is one typo);
//! a fuzzy match scores [`FUZZY_WEIGHT`] of a field's weight, far below an
//! exact one, so the exact spelling ranks first. CJK bigrams match exactly.
//! Filters never add to the score.

use boxoffice_engine::ids::ConcertId;
use std::ops::Bound;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::columnar::Column;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, PhrasePrefixQuery, Query,
    RangeQuery, TermQuery,
};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, Searcher, TantivyDocument, Term};

use crate::schema::{
    id_of_halves, Fields, DESCRIPTION_WEIGHT, ID_HIGH, ID_LOW, TITLE_WEIGHT, VENUE_WEIGHT,
};
use crate::text::{terms, Piece};

/// Words shorter than this match exactly.
pub const FUZZY_ONE_LETTERS: usize = 4;
/// Words this long or longer match with up to two typos.
pub const FUZZY_TWO_LETTERS: usize = 8;
/// A fuzzy match's score, as a share of its field's weight.
pub const FUZZY_WEIGHT: f32 = 0.3;
/// Terms of a query used (words and CJK bigrams); the HTTP layer refuses
/// longer queries, this bounds what the engine could be asked anyway.
pub const MAX_QUERY_TERMS: usize = 32;
/// Titles an autocomplete ranks before keeping its `limit` best.
pub const AUTOCOMPLETE_CANDIDATES: usize = 200;

/// A search: the words, the filters and the page.
#[derive(Clone, Debug, Default)]
pub struct SearchRequest {
    pub q: String,
    /// Compared ignoring case.
    pub category: Option<String>,
    /// Only concerts with a grade priced within these bounds (inclusive).
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Only concerts with a schedule starting at or after `from_ms` and before `to_ms`.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Words that must all be in the venue's address.
    pub location: Option<String>,
    pub offset: usize,
    pub limit: usize,
}

/// One match, best first.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub concert_id: ConcertId,
    pub score: f32,
}

/// A page of matches and how many match in all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HitPage {
    pub hits: Vec<Hit>,
    pub total: usize,
}

/// A title that has a word starting with the query.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    pub text: String,
    pub concert_id: ConcertId,
    pub category: String,
}

/// How many typos a term may carry.
pub fn typo_distance(piece: &Piece) -> u8 {
    let letters = piece.text.chars().count();
    if piece.cjk || !piece.text.chars().any(char::is_alphabetic) {
        0
    } else if letters >= FUZZY_TWO_LETTERS {
        2
    } else if letters >= FUZZY_ONE_LETTERS {
        1
    } else {
        0
    }
}

fn field_term(field: tantivy::schema::Field, piece: &Piece) -> Box<dyn Query> {
    let term = Term::from_field_text(field, &piece.text);
    let exact: Box<dyn Query> =
        Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs));
    match typo_distance(piece) {
        0 => exact,
        distance => Box::new(BooleanQuery::new(vec![
            (Occur::Should, exact),
            (
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(FuzzyTermQuery::new(term, distance, true)),
                    FUZZY_WEIGHT,
                )),
            ),
        ])),
    }
}

/// Every term of `q` in title, description or venue, weighted; `None` when
/// `q` has no term (only punctuation, say).
fn text_query(fields: &Fields, q: &str) -> Option<Box<dyn Query>> {
    let pieces = terms(q);
    if pieces.is_empty() {
        return None;
    }
    let weighted = [
        (fields.title, TITLE_WEIGHT),
        (fields.description, DESCRIPTION_WEIGHT),
        (fields.venue, VENUE_WEIGHT),
    ];
    let words = pieces
        .iter()
        .take(MAX_QUERY_TERMS)
        .map(|piece| {
            let any_field: Vec<(Occur, Box<dyn Query>)> = weighted
                .iter()
                .map(|&(field, weight)| {
                    let query: Box<dyn Query> =
                        Box::new(BoostQuery::new(field_term(field, piece), weight));
                    (Occur::Should, query)
                })
                .collect();
            let query: Box<dyn Query> = Box::new(BooleanQuery::new(any_field));
            (Occur::Must, query)
        })
        .collect();
    Some(Box::new(BooleanQuery::new(words)))
}

/// A condition that selects without scoring.
fn filter(query: impl Query) -> (Occur, Box<dyn Query>) {
    (
        Occur::Must,
        Box::new(ConstScoreQuery::new(Box::new(query), 0.0)),
    )
}

fn published(fields: &Fields) -> (Occur, Box<dyn Query>) {
    filter(TermQuery::new(
        Term::from_field_bool(fields.published, true),
        IndexRecordOption::Basic,
    ))
}

fn range(
    field: tantivy::schema::Field,
    lower: Bound<i64>,
    upper: Bound<i64>,
) -> Option<RangeQuery> {
    let term = |value| Term::from_field_i64(field, value);
    match (lower, upper) {
        (Bound::Unbounded, Bound::Unbounded) => None,
        (lower, upper) => Some(RangeQuery::new(lower.map(term), upper.map(term))),
    }
}

fn bound(value: Option<i64>, inclusive: bool) -> Bound<i64> {
    match value {
        None => Bound::Unbounded,
        Some(v) if inclusive => Bound::Included(v),
        Some(v) => Bound::Excluded(v),
    }
}

/// The whole query of a search; `None` when `q` has no term.
pub fn search_query(fields: &Fields, request: &SearchRequest) -> Option<BooleanQuery> {
    let mut parts = vec![
        (Occur::Must, text_query(fields, &request.q)?),
        published(fields),
    ];
    if let Some(category) = &request.category {
        parts.push(filter(TermQuery::new(
            Term::from_field_text(fields.category, &category.to_lowercase()),
            IndexRecordOption::Basic,
        )));
    }
    if let Some(prices) = range(
        fields.prices,
        bound(request.min_price, true),
        bound(request.max_price, true),
    ) {
        parts.push(filter(prices));
    }
    if let Some(starts) = range(
        fields.starts_ms,
        bound(request.from_ms, true),
        bound(request.to_ms, false),
    ) {
        parts.push(filter(starts));
    }
    for piece in terms(request.location.as_deref().unwrap_or("")) {
        parts.push(filter(TermQuery::new(
            Term::from_field_text(fields.address, &piece.text),
            IndexRecordOption::Basic,
        )));
    }
    Some(BooleanQuery::new(parts))
}

/// Reads hits back as concert ids, from the id's two u64 fast fields
/// (each segment's columns opened once per query).
struct IdReader<'a> {
    searcher: &'a Searcher,
    columns: Vec<Option<(Column<u64>, Column<u64>)>>,
}

impl<'a> IdReader<'a> {
    fn new(searcher: &'a Searcher) -> Self {
        IdReader {
            searcher,
            columns: vec![None; searcher.segment_readers().len()],
        }
    }

    fn concert_id(&mut self, address: DocAddress) -> tantivy::Result<Option<ConcertId>> {
        let segment = address.segment_ord as usize;
        let Some(slot) = self.columns.get_mut(segment) else {
            return Ok(None);
        };
        if slot.is_none() {
            let fast = self
                .searcher
                .segment_reader(address.segment_ord)
                .fast_fields();
            *slot = Some((fast.u64(ID_HIGH)?, fast.u64(ID_LOW)?));
        }
        Ok(slot.as_ref().and_then(|(high, low)| {
            Some(id_of_halves(
                high.first(address.doc_id)?,
                low.first(address.doc_id)?,
            ))
        }))
    }
}

pub fn search(
    searcher: &Searcher,
    fields: &Fields,
    request: &SearchRequest,
) -> tantivy::Result<HitPage> {
    let Some(query) = search_query(fields, request) else {
        return Ok(HitPage::default());
    };
    if request.limit == 0 {
        let total = searcher.search(&query, &Count)?;
        return Ok(HitPage {
            hits: Vec::new(),
            total,
        });
    }
    // The count and the page in one pass over the matches (two passes
    // before: the query's scorers, fuzzy automata included, built twice).
    let top = TopDocs::with_limit(request.limit)
        .and_offset(request.offset)
        .order_by_score();
    let (total, page) = searcher.search(&query, &(Count, top))?;
    let mut ids = IdReader::new(searcher);
    let mut hits = Vec::with_capacity(page.len());
    for (score, address) in page {
        if let Some(concert_id) = ids.concert_id(address)? {
            hits.push(Hit { concert_id, score });
        }
    }
    Ok(HitPage { hits, total })
}

/// Every concert whose title, description or venue matches every word of `q`.
pub fn matching(
    searcher: &Searcher,
    fields: &Fields,
    q: &str,
) -> tantivy::Result<std::collections::HashSet<ConcertId>> {
    let Some(text) = text_query(fields, q) else {
        return Ok(Default::default());
    };
    let query = BooleanQuery::new(vec![(Occur::Must, text), published(fields)]);
    let mut reader = IdReader::new(searcher);
    let mut ids = std::collections::HashSet::new();
    for address in searcher.search(&query, &DocSetCollector)? {
        ids.extend(reader.concert_id(address)?);
    }
    Ok(ids)
}

/// Titles with a word starting with `q` (several words: those words in a
/// row, the last one a prefix): titles starting with `q` first, then shorter
/// ones, then by title. The ranking looks at the first
/// [`AUTOCOMPLETE_CANDIDATES`] matches in index order.
pub fn autocomplete(
    searcher: &Searcher,
    fields: &Fields,
    q: &str,
    limit: usize,
) -> tantivy::Result<Vec<Suggestion>> {
    let mut pieces = terms(q);
    pieces.truncate(MAX_QUERY_TERMS);
    let mut title_terms: Vec<Term> = pieces
        .iter()
        .map(|piece| Term::from_field_text(fields.title, &piece.text))
        .collect();
    let words: Box<dyn Query> = match title_terms.len() {
        0 => return Ok(Vec::new()),
        1 => Box::new(FuzzyTermQuery::new_prefix(title_terms.remove(0), 0, false)),
        // The words in order, the last one a prefix ("live a" finds "Live at the Aurora").
        _ => Box::new(PhrasePrefixQuery::new(title_terms)),
    };
    let query = BooleanQuery::new(vec![(Occur::Must, words), published(fields)]);
    let top = TopDocs::with_limit(AUTOCOMPLETE_CANDIDATES).order_by_score();
    let mut ids = IdReader::new(searcher);
    let mut suggestions = Vec::new();
    for (_, address) in searcher.search(&query, &top)? {
        let doc: TantivyDocument = searcher.doc(address)?;
        let text_of = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        if let Some(concert_id) = ids.concert_id(address)? {
            suggestions.push(Suggestion {
                text: text_of(fields.title),
                concert_id,
                category: text_of(fields.category),
            });
        }
    }
    let folded_q = q.trim().to_lowercase();
    suggestions.sort_by_cached_key(|s| {
        (
            !s.text.to_lowercase().starts_with(&folded_q),
            s.text.chars().count(),
            s.text.clone(),
        )
    });
    suggestions.truncate(limit);
    Ok(suggestions)
}
