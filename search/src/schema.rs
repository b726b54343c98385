//! The index's fields and how a concert becomes a document.
//!
//! One document per concert, replaced by id. Text fields use the analyzer of
//! `text`; the venue field holds the venue's name and address (weight 1), the
//! address field the address alone (the `location` filter). Prices and start
//! times are multi-valued, so a range filter matches a concert with any grade
//! or any schedule in the range. DRAFT concerts are indexed with `published`
//! false, and every query requires `published`. `stamp` fingerprints what an
//! edit or a publish can change, so start-up can tell a current index from
//! one a crash left behind the catalogue (`disk.rs`).

use boxoffice_actors::{Concert, Venue};
use boxoffice_engine::ids::ConcertId;
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST,
    INDEXED, STORED, STRING,
};
use tantivy::TantivyDocument;

use crate::text::ANALYZER;

/// Bump when the schema or the analyzer changes: an index of another
/// version is rebuilt at start-up. 3: the id's halves as u64 fast fields.
pub const FORMAT_VERSION: u32 = 3;

/// Query-time weights (API.md, "Search").
pub const TITLE_WEIGHT: f32 = 3.0;
pub const DESCRIPTION_WEIGHT: f32 = 2.0;
pub const VENUE_WEIGHT: f32 = 1.0;

/// The tokenizer of the category field: the whole value, lower-cased.
pub const CATEGORY_ANALYZER: &str = "boxoffice_category";

#[derive(Clone, Copy, Debug)]
pub struct Fields {
    pub concert_id: Field,
    pub title: Field,
    pub description: Field,
    /// The venue's name and address.
    pub venue: Field,
    pub address: Field,
    pub category: Field,
    /// Every grade's price.
    pub prices: Field,
    /// Every schedule's start, in milliseconds since the epoch.
    pub starts_ms: Field,
    pub published: Field,
    /// [`stamp`] of the concert as indexed.
    pub stamp: Field,
    /// The concert id's upper and lower 64 bits: what a hit is read back
    /// as. A u64 column answers a document's value at once, where the id's
    /// text column walks its term dictionary for every hit (the profile's
    /// hottest spot before format 3).
    pub id_high: Field,
    pub id_low: Field,
}

pub const CONCERT_ID: &str = "concert_id";
pub const STAMP: &str = "stamp";
pub const ID_HIGH: &str = "id_high";
pub const ID_LOW: &str = "id_low";

/// A concert id as the two halves the index keeps.
pub fn id_halves(id: ConcertId) -> (u64, u64) {
    let bits = id.0.as_u128();
    ((bits >> 64) as u64, bits as u64)
}

/// The concert id of [`id_halves`].
pub fn id_of_halves(high: u64, low: u64) -> ConcertId {
    ConcertId(uuid::Uuid::from_u128(
        (u128::from(high) << 64) | u128::from(low),
    ))
}

/// A fingerprint of what can change in an indexed concert (its text and
/// status; everything else is fixed at creation): FNV-1a over them, so it is
/// the same in every process and version.
pub fn stamp(concert: &Concert) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let status = [u8::from(concert.status.is_draft())];
    let parts: [&[u8]; 4] = [
        concert.title.as_bytes(),
        concert.description.as_bytes(),
        concert.category.as_bytes(),
        &status,
    ];
    for part in parts {
        // The length first, so that moving bytes between parts changes the stamp.
        for byte in (part.len() as u64).to_le_bytes().iter().chain(part) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

impl Fields {
    pub fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let text = |stored: bool| {
            let options = TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ANALYZER)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            );
            if stored {
                options.set_stored()
            } else {
                options
            }
        };
        let numbers = NumericOptions::default().set_indexed().set_fast();
        let fields = Fields {
            concert_id: builder.add_text_field(CONCERT_ID, STRING | STORED | FAST),
            title: builder.add_text_field("title", text(true)),
            description: builder.add_text_field("description", text(false)),
            venue: builder.add_text_field("venue", text(false)),
            address: builder.add_text_field("address", text(false)),
            category: builder.add_text_field(
                "category",
                TextOptions::default()
                    .set_indexing_options(
                        TextFieldIndexing::default()
                            .set_tokenizer(CATEGORY_ANALYZER)
                            .set_index_option(IndexRecordOption::Basic),
                    )
                    .set_stored(),
            ),
            prices: builder.add_i64_field("prices", numbers.clone()),
            starts_ms: builder.add_i64_field("starts_ms", numbers),
            published: builder.add_bool_field("published", INDEXED),
            stamp: builder.add_u64_field(STAMP, FAST),
            id_high: builder.add_u64_field(ID_HIGH, FAST),
            id_low: builder.add_u64_field(ID_LOW, FAST),
        };
        (builder.build(), fields)
    }

    /// `concert` as a document; `address` is its venue's.
    pub fn document(&self, concert: &Concert, address: &str) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.concert_id, concert.concert_id.to_string());
        doc.add_text(self.title, &concert.title);
        doc.add_text(self.description, &concert.description);
        doc.add_text(self.venue, format!("{} {address}", concert.venue_name));
        doc.add_text(self.address, address);
        doc.add_text(self.category, &concert.category);
        for grade in &concert.price_grades {
            doc.add_i64(self.prices, grade.price.0);
        }
        for schedule in &concert.schedules {
            doc.add_i64(self.starts_ms, schedule.starts_at.0);
        }
        doc.add_bool(self.published, !concert.status.is_draft());
        doc.add_u64(self.stamp, stamp(concert));
        let (high, low) = id_halves(concert.concert_id);
        doc.add_u64(self.id_high, high);
        doc.add_u64(self.id_low, low);
        doc
    }
}

/// The address a concert's document carries: its venue's, or none for a
/// venue the index was not told of (cannot happen: venues come first).
pub fn address_of<'a>(
    venues: &'a std::collections::HashMap<boxoffice_engine::ids::VenueId, Venue>,
    concert: &Concert,
) -> &'a str {
    venues
        .get(&concert.venue_id)
        .map(|v| v.address.as_str())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_survives_its_halves() {
        for n in [0u8, 1, 0x7f, 0xff] {
            let id = ConcertId::from_random_bytes([n; 16]);
            let (high, low) = id_halves(id);
            assert_eq!(id_of_halves(high, low), id);
        }
        let id = ConcertId::from_random_bytes(*b"0123456789abcdef");
        assert_ne!(id_halves(id).0, id_halves(id).1);
    }
}
