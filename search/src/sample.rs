//! The benchmarks' catalogue and query mix (feature `sample`): one copy for
//! the criterion bench (`benches/search.rs`, which indexes it directly) and
//! the contention harness's `search` scenario (which creates it through the
//! engine and searches over HTTP).
//!
//! From a fixed seed: venues named and addressed in Latin, Korean or Chinese
//! words, and concerts whose titles (three words and a number) and
//! descriptions (twelve words) are each in one of the three scripts, a third
//! each. Times are days from the caller's "now", prices whole units of 1,000.
//! The queries cycle through misspelt Latin words (fuzzy), exact Latin
//! words, Korean and Chinese words, and two-word queries, with and without
//! filters; the prefixes are autocomplete's.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The bench's seed (issue 16).
pub const SEED: u64 = 16;
/// Concerts share this many venues, at most.
pub const VENUES: usize = 500;
pub const DAY_MS: i64 = 86_400_000;

const LATIN: &[&str] = &[
    "aurora",
    "midnight",
    "orchestra",
    "symphony",
    "festival",
    "borealis",
    "harbour",
    "velvet",
    "thunder",
    "serenade",
    "galaxy",
    "lantern",
    "rhapsody",
    "cascade",
    "meridian",
    "nocturne",
    "summer",
    "winter",
    "electric",
    "acoustic",
    "café",
    "fiesta",
    "paradiso",
    "crescendo",
];
const KOREAN: &[&str] = &[
    "아이유",
    "콘서트",
    "서울",
    "여름밤",
    "축제",
    "오케스트라",
    "발라드",
    "별빛",
    "라이브",
    "투어",
    "부산",
    "겨울",
    "하루",
    "사랑",
    "바다",
    "노래",
];
const CHINESE: &[&str] = &[
    "五月天",
    "演唱会",
    "巡回",
    "台北",
    "上海",
    "星光",
    "夏夜",
    "音乐节",
    "交响乐",
    "摇滚",
    "首尔站",
    "人生",
    "无限",
    "回忆",
    "青春",
    "旋律",
];
pub const CATEGORIES: &[&str] = &["K-POP", "C-POP", "ROCK", "CLASSICAL", "JAZZ"];

/// Autocomplete's queries.
pub const PREFIXES: &[&str] = &[
    "au", "mid", "sym", "아이", "서울", "五月", "演唱", "caf", "fest",
];

#[derive(Clone, Debug)]
pub struct SampleVenue {
    pub name: String,
    pub address: String,
}

#[derive(Clone, Debug)]
pub struct SampleConcert {
    pub title: String,
    pub description: String,
    pub category: &'static str,
    /// Index into the catalogue's venues.
    pub venue: usize,
    /// The one grade's price.
    pub price: i64,
    /// The one schedule starts this many days after "now".
    pub starts_in_days: i64,
}

#[derive(Clone, Debug)]
pub struct SampleCatalogue {
    pub venues: Vec<SampleVenue>,
    pub concerts: Vec<SampleConcert>,
}

/// A search of the mix; times in days from "now".
#[derive(Clone, Debug, Default)]
pub struct SampleQuery {
    pub q: String,
    pub category: Option<&'static str>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub from_days: Option<i64>,
    pub to_days: Option<i64>,
    /// Matches skipped before the page (a page of [`PAGE`]).
    pub offset: usize,
}

/// Matches a search returns.
pub const PAGE: usize = 20;

fn words(rng: &mut SmallRng, n: usize) -> String {
    let list = [LATIN, KOREAN, CHINESE][rng.gen_range(0..3)];
    let picked: Vec<&str> = (0..n).map(|_| list[rng.gen_range(0..list.len())]).collect();
    picked.join(" ")
}

/// `concerts` concerts on `min(concerts, VENUES)` venues, from [`SEED`].
pub fn catalogue(concerts: usize) -> SampleCatalogue {
    let mut rng = SmallRng::seed_from_u64(SEED);
    let venue_count = VENUES.min(concerts.max(1));
    let venues: Vec<SampleVenue> = (0..venue_count)
        .map(|n| SampleVenue {
            name: format!("{} Hall {n}", words(&mut rng, 1)),
            address: format!("{n} {} Road, {}", words(&mut rng, 1), words(&mut rng, 1)),
        })
        .collect();
    let concerts = (0..concerts)
        .map(|n| {
            let starts_in_days = rng.gen_range(1..365);
            SampleConcert {
                title: format!("{} {n}", words(&mut rng, 3)),
                description: words(&mut rng, 12),
                category: CATEGORIES[n % CATEGORIES.len()],
                venue: n % venue_count,
                price: rng.gen_range(10..200) * 1_000,
                starts_in_days,
            }
        })
        .collect();
    SampleCatalogue { venues, concerts }
}

/// The searches: typos, exact words, Korean, Chinese, two words, filters.
pub fn queries() -> Vec<SampleQuery> {
    let plain = |q: &str| SampleQuery {
        q: q.into(),
        ..SampleQuery::default()
    };
    vec![
        plain("Auroa"),
        plain("midnigth orchestra"),
        plain("symphony"),
        plain("borealsi"),
        plain("아이유"),
        plain("서울 콘서트"),
        plain("五月天"),
        plain("演唱会 台北"),
        plain("cafe"),
        SampleQuery {
            category: Some("rock"),
            min_price: Some(50_000),
            max_price: Some(150_000),
            ..plain("festival")
        },
        SampleQuery {
            from_days: Some(30),
            to_days: Some(120),
            offset: 40,
            ..plain("夏夜")
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_the_same_for_the_same_size_and_mixes_three_scripts() {
        let small = catalogue(50);
        let large = catalogue(10_000);
        assert_eq!(small.venues.len(), 50);
        assert_eq!(large.venues.len(), VENUES);
        assert_eq!(catalogue(50).concerts[7].title, small.concerts[7].title);
        let scripts = |c: &SampleCatalogue, list: &[&str]| {
            c.concerts
                .iter()
                .filter(|c| list.iter().any(|w| c.title.starts_with(w)))
                .count()
        };
        for list in [LATIN, KOREAN, CHINESE] {
            let share = scripts(&large, list) as f64 / large.concerts.len() as f64;
            assert!((0.25..0.42).contains(&share), "{share}");
        }
    }
}
