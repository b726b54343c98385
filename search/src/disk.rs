//! The index on disk, `<data dir>/search/`: open it when it is whole and
//! current, else rebuild it from the catalogue.
//!
//! Reused only when all of these hold: the format marker names
//! [`FORMAT_VERSION`]; tantivy opens it with our schema; every file passes its
//! checksum (`Index::validate_checksum`); and it holds exactly the
//! catalogue's concert ids, each with the [`stamp`] of the concert as the
//! catalogue has it now. A concert's other fields never change and the index
//! is only told of durable changes, so the same ids and stamps mean the same
//! documents: a missing directory, an edit or publish the index had not
//! committed, a damaged file, a crash between a catalogue flush and
//! the index's commit, or a new format all end in a rebuild. A rebuild
//! deletes the directory, writes every concert, commits, and writes the
//! marker last, so a crash mid-rebuild leaves no marker and rebuilds again.
//!
//! The directory is created 0700 (the data dir is private too; the binary's
//! umask makes the files 0600).

use boxoffice_actors::catalog_actor::CatalogCopy;
use boxoffice_actors::Venue;
use boxoffice_engine::ids::VenueId;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};
use tantivy::directory::error::LockError;
use tantivy::tokenizer::{LowerCaser, RawTokenizer, TextAnalyzer};
use tantivy::{Index, IndexWriter, Searcher, TantivyError};

use crate::schema::{
    address_of, stamp, Fields, CATEGORY_ANALYZER, CONCERT_ID, FORMAT_VERSION, STAMP,
};
use crate::text::{analyzer, ANALYZER};

/// The marker file, written last by a rebuild.
pub const FORMAT_FILE: &str = "boxoffice-search-format";
/// The writer's indexing memory (tantivy's floor is 15 MB per thread).
pub const WRITER_MEMORY_BYTES: usize = 20_000_000;
/// How long start-up waits for a previous writer in this process (an
/// in-process restart) to let go of the directory's lock.
pub const WRITER_LOCK_WAIT: Duration = Duration::from_secs(10);

/// An open index, its writer and the venues its documents need.
pub struct Opened {
    pub index: Index,
    pub writer: IndexWriter,
    pub venues: HashMap<VenueId, Venue>,
    /// Whether the index was rebuilt (rather than reused).
    pub rebuilt: bool,
}

/// Opens the index in `dir` if it is whole and matches `copy`, else rebuilds it.
pub fn open_or_rebuild(dir: &Path, fields: &Fields, copy: &CatalogCopy) -> tantivy::Result<Opened> {
    let venues: HashMap<VenueId, Venue> = copy
        .venues
        .iter()
        .map(|v| (v.venue_id, v.clone()))
        .collect();
    match reusable(dir, copy) {
        Ok(Some(index)) => {
            let writer = writer_of(&index)?;
            return Ok(Opened {
                index,
                writer,
                venues,
                rebuilt: false,
            });
        }
        Ok(None) => {
            tracing::info!(dir = %dir.display(), "search index missing or stale: rebuilding")
        }
        Err(err) => tracing::warn!(%err, dir = %dir.display(), "search index damaged: rebuilding"),
    }
    rebuild(dir, fields, copy, venues)
}

/// The index in `dir` if it is whole and current; `Ok(None)` if it is
/// missing or stale, `Err` if it is damaged.
fn reusable(dir: &Path, copy: &CatalogCopy) -> tantivy::Result<Option<Index>> {
    let marker = std::fs::read_to_string(dir.join(FORMAT_FILE)).unwrap_or_default();
    if marker.trim() != FORMAT_VERSION.to_string() {
        return Ok(None);
    }
    let index = Index::open_in_dir(dir)?;
    let (schema, _) = Fields::schema();
    if index.schema() != schema {
        return Ok(None);
    }
    let damaged = index.validate_checksum()?;
    if !damaged.is_empty() {
        return Err(TantivyError::SystemError(format!(
            "files failing their checksum: {damaged:?}"
        )));
    }
    register_analyzers(&index);
    let searcher = index.reader()?.searcher();
    let indexed = indexed_ids(&searcher)?;
    let catalogue: HashSet<(String, u64)> = copy
        .concerts
        .iter()
        .map(|c| (c.concert_id.to_string(), stamp(c)))
        .collect();
    Ok((indexed == catalogue).then_some(index))
}

/// Every live document's concert id and stamp.
fn indexed_ids(searcher: &Searcher) -> tantivy::Result<HashSet<(String, u64)>> {
    let mut ids = HashSet::new();
    for segment in searcher.segment_readers() {
        let column = segment
            .fast_fields()
            .str(CONCERT_ID)?
            .ok_or_else(|| TantivyError::SchemaError(format!("no fast field {CONCERT_ID}")))?;
        let stamps = segment.fast_fields().u64(STAMP)?;
        let alive = segment.doc_ids_alive();
        let mut id = String::new();
        for doc in alive {
            let stamp = stamps.first(doc).unwrap_or_default();
            for ord in column.term_ords(doc) {
                id.clear();
                column.ord_to_str(ord, &mut id)?;
                ids.insert((id.clone(), stamp));
            }
        }
    }
    Ok(ids)
}

fn rebuild(
    dir: &Path,
    fields: &Fields,
    copy: &CatalogCopy,
    venues: HashMap<VenueId, Venue>,
) -> tantivy::Result<Opened> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err.into()),
    }
    create_private_dir(dir)?;
    let (schema, _) = Fields::schema();
    let index = Index::create_in_dir(dir, schema)?;
    register_analyzers(&index);
    let mut writer = writer_of(&index)?;
    for concert in &copy.concerts {
        writer.add_document(fields.document(concert, address_of(&venues, concert)))?;
    }
    writer.commit()?;
    write_marker(dir)?;
    Ok(Opened {
        index,
        writer,
        venues,
        rebuilt: true,
    })
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn write_marker(dir: &Path) -> std::io::Result<()> {
    let temporary = dir.join(format!("{FORMAT_FILE}.tmp"));
    std::fs::write(&temporary, format!("{FORMAT_VERSION}\n"))?;
    std::fs::File::open(&temporary)?.sync_all()?;
    std::fs::rename(&temporary, dir.join(FORMAT_FILE))
}

/// The analyzers the schema names; an opened index knows them only once registered.
pub fn register_analyzers(index: &Index) {
    index.tokenizers().register(ANALYZER, analyzer());
    index.tokenizers().register(
        CATEGORY_ANALYZER,
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(LowerCaser)
            .build(),
    );
}

/// The index's one writer, waiting up to [`WRITER_LOCK_WAIT`] for a
/// previous one in this process to let go.
fn writer_of(index: &Index) -> tantivy::Result<IndexWriter> {
    let deadline = Instant::now() + WRITER_LOCK_WAIT;
    loop {
        match index.writer_with_num_threads(1, WRITER_MEMORY_BYTES) {
            Err(TantivyError::LockFailure(LockError::LockBusy, _)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}
