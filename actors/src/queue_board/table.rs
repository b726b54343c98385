//! A table indexed by a number that only grows (a waiting room's join
//! numbers), written by one thread and read by any, without a lock.
//!
//! Entries live in chunks that double in size (`FIRST_CHUNK`, then twice that,
//! ...), each allocated once through a `OnceLock` and never moved or freed
//! while the table lives, so a reader holding `&T` can never see it move. A
//! waiting room of 100,000 places uses 5 chunks; unused capacity is at most
//! the size of the last chunk.

use std::sync::OnceLock;

/// Entries in the first chunk; chunk `k` holds `FIRST_CHUNK << k`.
const FIRST_CHUNK: u64 = 4_096;
/// Chunks per table: indexes `0..CAPACITY` fit. The chunk array itself is
/// `CHUNKS` pointers (a few hundred bytes per table), allocated up front.
const CHUNKS: usize = 20;
/// Indexes a table can hold: about 4.3 billion.
pub const CAPACITY: u64 = FIRST_CHUNK * ((1 << CHUNKS) - 1);

pub struct GrowingTable<T> {
    chunks: [OnceLock<Box<[T]>>; CHUNKS],
}

impl<T> Default for GrowingTable<T> {
    fn default() -> Self {
        GrowingTable {
            chunks: std::array::from_fn(|_| OnceLock::new()),
        }
    }
}

/// (chunk, offset in it) of `index`, or None past `CAPACITY`.
fn locate(index: u64) -> Option<(usize, usize)> {
    if index >= CAPACITY {
        return None;
    }
    // Chunk k starts at FIRST_CHUNK * (2^k - 1).
    let k = (index / FIRST_CHUNK + 1).ilog2();
    let start = FIRST_CHUNK * ((1u64 << k) - 1);
    let offset = usize::try_from(index - start).ok()?;
    Some((k as usize, offset))
}

impl<T: Default> GrowingTable<T> {
    /// The entry at `index`, if its chunk exists (readers never allocate).
    pub fn get(&self, index: u64) -> Option<&T> {
        let (chunk, offset) = locate(index)?;
        self.chunks[chunk].get()?.get(offset)
    }

    /// The entry at `index`, allocating its chunk first if needed; None only
    /// past `CAPACITY`. For the table's one writer.
    pub fn get_or_grow(&self, index: u64) -> Option<&T> {
        let (chunk, offset) = locate(index)?;
        let entries = self.chunks[chunk].get_or_init(|| {
            let len = FIRST_CHUNK << chunk;
            (0..len).map(|_| T::default()).collect()
        });
        entries.get(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn chunks_tile_the_index_space() {
        assert_eq!(locate(0), Some((0, 0)));
        assert_eq!(locate(FIRST_CHUNK - 1), Some((0, FIRST_CHUNK as usize - 1)));
        assert_eq!(locate(FIRST_CHUNK), Some((1, 0)));
        assert_eq!(
            locate(3 * FIRST_CHUNK - 1),
            Some((1, 2 * FIRST_CHUNK as usize - 1))
        );
        assert_eq!(locate(3 * FIRST_CHUNK), Some((2, 0)));
        assert_eq!(locate(CAPACITY), None);
        assert!(locate(CAPACITY - 1).is_some());
    }

    #[test]
    fn readers_see_only_what_was_grown() {
        let table: GrowingTable<AtomicU64> = GrowingTable::default();
        assert!(table.get(10).is_none());
        table
            .get_or_grow(100_000)
            .expect("fits")
            .store(7, Ordering::Relaxed);
        assert_eq!(
            table.get(100_000).map(|v| v.load(Ordering::Relaxed)),
            Some(7)
        );
        assert!(
            table.get(10).is_none(),
            "an earlier chunk is not allocated by a later one"
        );
        assert!(table.get_or_grow(CAPACITY).is_none());
    }
}
