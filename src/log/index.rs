//! The sparse per-segment indexes, in Kafka's file formats:
//!
//! - `.index` ([`OffsetIndex`]): 8-byte entries, offset relative to the segment's base
//!   (u32 BE) and the file position (u32 BE) of the batch whose *last* offset that is,
//!   as Kafka's `LogSegment.append` writes them and `DumpLogSegments` checks them.
//! - `.timeindex` ([`TimeIndex`]): 12-byte entries, a timestamp (i64 BE) and the relative
//!   offset (u32 BE) of the last offset of the batch holding the segment's max timestamp so
//!   far; timestamps strictly increase.
//!
//! Unlike Kafka, the files are not preallocated and memory-mapped: entries live in a `Vec`
//! and new ones reach the file in one `write` when the index is synced (segment sealed,
//! log closed), not one syscall per entry on the append path. That is safe because the
//! active segment's index is rebuilt by recovery after a crash, and a sealed segment's index
//! is complete on disk. A file is always a whole number of entries (a torn trailing entry
//! is dropped on open).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{io_err, LogError};

pub const OFFSET_ENTRY_SIZE: usize = 8;
pub const TIME_ENTRY_SIZE: usize = 12;

/// An index entry's fixed-size big-endian encoding.
trait Entry: Copy {
    const SIZE: usize;
    fn encode(&self, out: &mut Vec<u8>);
    /// `None` if `b` is shorter than an entry.
    fn decode(b: &[u8]) -> Option<Self>;
}

/// (relative offset, position)
impl Entry for (u32, u32) {
    const SIZE: usize = OFFSET_ENTRY_SIZE;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
        out.extend_from_slice(&self.1.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Option<Self> {
        Some((be_u32(b, 0)?, be_u32(b, 4)?))
    }
}

/// (timestamp, relative offset)
impl Entry for (i64, u32) {
    const SIZE: usize = TIME_ENTRY_SIZE;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
        out.extend_from_slice(&self.1.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Option<Self> {
        let ts = b.get(..8)?.try_into().ok().map(i64::from_be_bytes)?;
        Some((ts, be_u32(b, 8)?))
    }
}

/// The big-endian u32 at `at`, if `b` has it.
fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)?.try_into().ok().map(u32::from_be_bytes)
}

/// The entries of one index file, in memory, and how many of them are in the file. No
/// descriptor is kept: the file is opened only to write entries, so an index costs no
/// open file however many segments there are.
#[derive(Debug)]
struct IndexFile<E> {
    path: PathBuf,
    entries: Vec<E>,
    persisted: usize,
    /// The file was changed since its last fsync.
    dirty: bool,
}

impl<E: Entry> IndexFile<E> {
    /// Reads the file (creating it empty if missing) and keeps the leading entries `valid`
    /// accepts, given the entries before; the file is cut to them if anything was dropped.
    fn open(path: PathBuf, mut valid: impl FnMut(&[E], &E) -> bool) -> Result<Self, LogError> {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                Vec::new()
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let mut entries = Vec::with_capacity(bytes.len() / E::SIZE);
        for chunk in bytes.chunks_exact(E::SIZE) {
            let Some(e) = E::decode(chunk) else { break };
            if !valid(&entries, &e) {
                break;
            }
            entries.push(e);
        }
        let mut index = IndexFile {
            path,
            persisted: entries.len(),
            entries,
            dirty: false,
        };
        if bytes.len() != index.entries.len() * E::SIZE {
            index.rewrite()?;
        }
        Ok(index)
    }

    fn encode(entries: &[E]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(entries.len() * E::SIZE);
        for e in entries {
            e.encode(&mut bytes);
        }
        bytes
    }

    /// Keeps the first `len` entries, in memory and in the file.
    fn truncate(&mut self, len: usize) -> Result<(), LogError> {
        if len < self.entries.len() {
            self.entries.truncate(len);
            self.rewrite()?;
        }
        Ok(())
    }

    /// Replaces the file's content with every entry.
    fn rewrite(&mut self) -> Result<(), LogError> {
        std::fs::write(&self.path, Self::encode(&self.entries)).map_err(io_err(&self.path))?;
        self.persisted = self.entries.len();
        self.dirty = true;
        Ok(())
    }

    /// Writes the entries not yet in the file, then syncs it (if anything changed).
    fn sync(&mut self) -> Result<(), LogError> {
        if self.persisted == self.entries.len() && !self.dirty {
            return Ok(());
        }
        let mut file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io_err(&self.path))?;
        if self.persisted < self.entries.len() {
            let bytes = Self::encode(self.entries.get(self.persisted..).unwrap_or_default());
            file.write_all(&bytes).map_err(io_err(&self.path))?;
            self.persisted = self.entries.len();
        }
        file.sync_data().map_err(io_err(&self.path))?;
        self.dirty = false;
        Ok(())
    }
}

/// Maps offsets to file positions, sparsely.
#[derive(Debug)]
pub struct OffsetIndex {
    base_offset: i64,
    /// (relative offset, position); both strictly increasing.
    index: IndexFile<(u32, u32)>,
}

impl OffsetIndex {
    /// Opens (or creates) the index, keeping its whole entries.
    pub fn open(path: PathBuf, base_offset: i64) -> Result<Self, LogError> {
        // Kafka preallocates its index files: zero entries after the first mark the end.
        let index = IndexFile::open(path, |before, &(rel, pos)| {
            before.is_empty() || rel != 0 || pos != 0
        })?;
        Ok(OffsetIndex { base_offset, index })
    }

    pub fn path(&self) -> &Path {
        &self.index.path
    }

    pub fn len(&self) -> usize {
        self.index.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.entries.is_empty()
    }

    /// Adds an entry for the batch ending at `last_offset` that starts at `position`.
    pub fn append(&mut self, last_offset: i64, position: u64) -> Result<(), LogError> {
        let rel = u32::try_from(last_offset - self.base_offset).map_err(|_| {
            LogError::Internal(format!("relative offset of {last_offset} overflows"))
        })?;
        let pos = u32::try_from(position)
            .map_err(|_| LogError::Internal(format!("position {position} overflows")))?;
        if let Some(&(last_rel, last_pos)) = self.index.entries.last() {
            if rel <= last_rel || pos <= last_pos {
                return Ok(());
            }
        }
        self.index.entries.push((rel, pos));
        Ok(())
    }

    /// The largest entry whose offset is <= `offset`, as (offset, position); the segment
    /// start when there is none. Scanning forward from the position finds the batch.
    pub fn lookup(&self, offset: i64) -> (i64, u64) {
        let rel = offset - self.base_offset;
        let entries = &self.index.entries;
        let i = entries.partition_point(|&(r, _)| i64::from(r) <= rel);
        match i.checked_sub(1).and_then(|i| entries.get(i)) {
            None => (self.base_offset, 0),
            Some(&(r, p)) => (self.base_offset + i64::from(r), u64::from(p)),
        }
    }

    /// Every entry as (offset, position).
    pub fn entries(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.index
            .entries
            .iter()
            .map(|&(r, p)| (self.base_offset + i64::from(r), u64::from(p)))
    }

    /// The last entry as (offset, position), if any.
    pub fn last_entry(&self) -> Option<(i64, u64)> {
        self.index
            .entries
            .last()
            .map(|&(r, p)| (self.base_offset + i64::from(r), u64::from(p)))
    }

    /// Drops every entry whose position is at or past `position` (the log is being cut there).
    pub fn truncate_to_position(&mut self, position: u64) -> Result<(), LogError> {
        let keep = self
            .index
            .entries
            .partition_point(|&(_, p)| u64::from(p) < position);
        self.index.truncate(keep)
    }

    /// Removes every entry (before a rebuild).
    pub fn reset(&mut self) -> Result<(), LogError> {
        self.index.truncate(0)
    }

    /// Writes pending entries and syncs the file.
    pub fn sync(&mut self) -> Result<(), LogError> {
        self.index.sync()
    }
}

/// Maps timestamps to offsets, sparsely.
#[derive(Debug)]
pub struct TimeIndex {
    base_offset: i64,
    /// (timestamp, relative offset); timestamps strictly increasing.
    index: IndexFile<(i64, u32)>,
}

impl TimeIndex {
    pub fn open(path: PathBuf, base_offset: i64) -> Result<Self, LogError> {
        // Stop at preallocated zeros or anything not increasing.
        let index = IndexFile::open(path, |before: &[(i64, u32)], &(ts, _)| {
            before.last().is_none_or(|&(t, _)| ts > t)
        })?;
        Ok(TimeIndex { base_offset, index })
    }

    pub fn path(&self) -> &Path {
        &self.index.path
    }

    pub fn len(&self) -> usize {
        self.index.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.entries.is_empty()
    }

    /// Appends (timestamp, offset) if the timestamp is larger than the last one's.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) -> Result<(), LogError> {
        if self
            .index
            .entries
            .last()
            .is_some_and(|&(t, _)| timestamp <= t)
        {
            return Ok(());
        }
        let rel = u32::try_from(offset - self.base_offset)
            .map_err(|_| LogError::Internal(format!("relative offset of {offset} overflows")))?;
        self.index.entries.push((timestamp, rel));
        Ok(())
    }

    /// The entry with the largest timestamp <= `timestamp`, as (timestamp, offset); `None`
    /// when every entry is later (search from the segment start).
    pub fn lookup(&self, timestamp: i64) -> Option<(i64, i64)> {
        let entries = &self.index.entries;
        let i = entries.partition_point(|&(t, _)| t <= timestamp);
        let &(t, r) = entries.get(i.checked_sub(1)?)?;
        Some((t, self.base_offset + i64::from(r)))
    }

    /// Every entry as (timestamp, offset).
    pub fn entries(&self) -> Vec<(i64, i64)> {
        self.index
            .entries
            .iter()
            .map(|&(t, r)| (t, self.base_offset + i64::from(r)))
            .collect()
    }

    /// The last entry as (timestamp, offset).
    pub fn last_entry(&self) -> Option<(i64, i64)> {
        self.index
            .entries
            .last()
            .map(|&(t, r)| (t, self.base_offset + i64::from(r)))
    }

    /// Drops entries pointing at offsets >= `offset`.
    pub fn truncate_to_offset(&mut self, offset: i64) -> Result<(), LogError> {
        let rel = offset - self.base_offset;
        let keep = self
            .index
            .entries
            .partition_point(|&(_, r)| i64::from(r) < rel);
        self.index.truncate(keep)
    }

    pub fn reset(&mut self) -> Result<(), LogError> {
        self.index.truncate(0)
    }

    /// Writes pending entries and syncs the file.
    pub fn sync(&mut self) -> Result<(), LogError> {
        self.index.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("00000000000000000100.index");
        let mut idx = OffsetIndex::open(p.clone(), 100).expect("open");
        assert_eq!(idx.lookup(150), (100, 0));
        idx.append(109, 4200).expect("append");
        idx.append(130, 9000).expect("append");
        assert_eq!(
            std::fs::metadata(&p).expect("meta").len(),
            0,
            "written on sync"
        );
        idx.sync().expect("sync");
        assert_eq!(idx.lookup(108), (100, 0));
        assert_eq!(idx.lookup(109), (109, 4200));
        assert_eq!(idx.lookup(129), (109, 4200));
        assert_eq!(idx.lookup(1_000), (130, 9000));
        drop(idx);
        assert_eq!(std::fs::metadata(&p).expect("meta").len(), 16);
        let mut idx = OffsetIndex::open(p.clone(), 100).expect("reopen");
        assert_eq!(idx.len(), 2);
        idx.truncate_to_position(9000).expect("truncate");
        assert_eq!(idx.last_entry(), Some((109, 4200)));
        assert_eq!(std::fs::metadata(&p).expect("meta").len(), 8);
    }

    #[test]
    fn torn_and_preallocated_tails_are_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("0.index");
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&5u32.to_be_bytes());
        bytes.extend_from_slice(&4100u32.to_be_bytes());
        bytes.extend_from_slice(&[0u8; 16]); // preallocated zeros
        bytes.extend_from_slice(&[1, 2, 3]); // torn entry
        std::fs::write(&p, &bytes).expect("write");
        let idx = OffsetIndex::open(p.clone(), 0).expect("open");
        assert_eq!(idx.len(), 1);
        assert_eq!(std::fs::metadata(&p).expect("meta").len(), 8);
    }

    #[test]
    fn time_index_keeps_timestamps_increasing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("0.timeindex");
        let mut t = TimeIndex::open(p.clone(), 0).expect("open");
        t.maybe_append(1000, 9).expect("append");
        t.maybe_append(1000, 19).expect("same timestamp is skipped");
        t.maybe_append(2000, 29).expect("append");
        t.sync().expect("sync");
        assert_eq!(t.len(), 2);
        assert_eq!(t.lookup(999), None);
        assert_eq!(t.lookup(1500), Some((1000, 9)));
        assert_eq!(t.last_entry(), Some((2000, 29)));
        t.truncate_to_offset(20).expect("truncate");
        assert_eq!(t.len(), 1);
        drop(t);
        assert_eq!(TimeIndex::open(p, 0).expect("reopen").len(), 1);
    }
}
