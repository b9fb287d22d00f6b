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

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{io_err, LogError};

pub const OFFSET_ENTRY_SIZE: usize = 8;
pub const TIME_ENTRY_SIZE: usize = 12;

fn open_append(path: &Path) -> Result<(File, Vec<u8>), LogError> {
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_err(path))?;
    Ok((file, bytes))
}

/// Maps offsets to file positions, sparsely.
#[derive(Debug)]
pub struct OffsetIndex {
    path: PathBuf,
    file: File,
    base_offset: i64,
    /// (relative offset, position); both strictly increasing.
    entries: Vec<(u32, u32)>,
    /// How many of `entries` are in the file.
    persisted: usize,
}

impl OffsetIndex {
    /// Opens (or creates) the index, keeping its whole entries.
    pub fn open(path: PathBuf, base_offset: i64) -> Result<Self, LogError> {
        let (file, bytes) = open_append(&path)?;
        let mut entries = Vec::with_capacity(bytes.len() / OFFSET_ENTRY_SIZE);
        for e in bytes.chunks_exact(OFFSET_ENTRY_SIZE) {
            let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let pos = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
            // Kafka preallocates its index files: zero entries after the first mark the end.
            if !entries.is_empty() && rel == 0 && pos == 0 {
                break;
            }
            entries.push((rel, pos));
        }
        let persisted = entries.len();
        let mut index = OffsetIndex {
            path,
            file,
            base_offset,
            entries,
            persisted,
        };
        if bytes.len() != index.entries.len() * OFFSET_ENTRY_SIZE {
            index.rewrite()?;
        }
        Ok(index)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an entry for the batch ending at `last_offset` that starts at `position`.
    pub fn append(&mut self, last_offset: i64, position: u64) -> Result<(), LogError> {
        let rel = u32::try_from(last_offset - self.base_offset).map_err(|_| {
            LogError::Internal(format!("relative offset of {last_offset} overflows"))
        })?;
        let pos = u32::try_from(position)
            .map_err(|_| LogError::Internal(format!("position {position} overflows")))?;
        if let Some(&(last_rel, last_pos)) = self.entries.last() {
            if rel <= last_rel || pos <= last_pos {
                return Ok(());
            }
        }
        self.entries.push((rel, pos));
        Ok(())
    }

    /// The largest entry whose offset is <= `offset`, as (offset, position); the segment
    /// start when there is none. Scanning forward from the position finds the batch.
    pub fn lookup(&self, offset: i64) -> (i64, u64) {
        let rel = offset - self.base_offset;
        let i = self.entries.partition_point(|&(r, _)| i64::from(r) <= rel);
        if i == 0 {
            (self.base_offset, 0)
        } else {
            let (r, p) = self.entries[i - 1];
            (self.base_offset + i64::from(r), u64::from(p))
        }
    }

    /// The last entry as (offset, position), if any.
    pub fn last_entry(&self) -> Option<(i64, u64)> {
        self.entries
            .last()
            .map(|&(r, p)| (self.base_offset + i64::from(r), u64::from(p)))
    }

    /// Drops every entry whose position is at or past `position` (the log is being cut there).
    pub fn truncate_to_position(&mut self, position: u64) -> Result<(), LogError> {
        let keep = self
            .entries
            .partition_point(|&(_, p)| u64::from(p) < position);
        if keep < self.entries.len() {
            self.entries.truncate(keep);
            self.rewrite()?;
        }
        Ok(())
    }

    /// Removes every entry (before a rebuild).
    pub fn reset(&mut self) -> Result<(), LogError> {
        self.entries.clear();
        self.rewrite()
    }

    fn encode(entries: &[(u32, u32)]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(entries.len() * OFFSET_ENTRY_SIZE);
        for &(r, p) in entries {
            bytes.extend_from_slice(&r.to_be_bytes());
            bytes.extend_from_slice(&p.to_be_bytes());
        }
        bytes
    }

    fn rewrite(&mut self) -> Result<(), LogError> {
        rewrite_file(&self.path, &mut self.file, &Self::encode(&self.entries))?;
        self.persisted = self.entries.len();
        Ok(())
    }

    /// Writes the entries not yet in the file, then syncs it.
    pub fn sync(&mut self) -> Result<(), LogError> {
        if self.persisted < self.entries.len() {
            let bytes = Self::encode(&self.entries[self.persisted..]);
            self.file.write_all(&bytes).map_err(io_err(&self.path))?;
            self.persisted = self.entries.len();
        }
        self.file.sync_data().map_err(io_err(&self.path))
    }
}

/// Maps timestamps to offsets, sparsely.
#[derive(Debug)]
pub struct TimeIndex {
    path: PathBuf,
    file: File,
    base_offset: i64,
    /// (timestamp, relative offset); timestamps strictly increasing.
    entries: Vec<(i64, u32)>,
    /// How many of `entries` are in the file.
    persisted: usize,
}

impl TimeIndex {
    pub fn open(path: PathBuf, base_offset: i64) -> Result<Self, LogError> {
        let (file, bytes) = open_append(&path)?;
        let mut entries: Vec<(i64, u32)> = Vec::with_capacity(bytes.len() / TIME_ENTRY_SIZE);
        for e in bytes.chunks_exact(TIME_ENTRY_SIZE) {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&e[..8]);
            let ts = i64::from_be_bytes(ts);
            let rel = u32::from_be_bytes([e[8], e[9], e[10], e[11]]);
            // Stop at preallocated zeros or anything not increasing.
            if entries.last().is_some_and(|&(t, _)| ts <= t) {
                break;
            }
            entries.push((ts, rel));
        }
        let persisted = entries.len();
        let mut index = TimeIndex {
            path,
            file,
            base_offset,
            entries,
            persisted,
        };
        if bytes.len() != index.entries.len() * TIME_ENTRY_SIZE {
            index.rewrite()?;
        }
        Ok(index)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends (timestamp, offset) if the timestamp is larger than the last one's.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) -> Result<(), LogError> {
        if self.entries.last().is_some_and(|&(t, _)| timestamp <= t) {
            return Ok(());
        }
        let rel = u32::try_from(offset - self.base_offset)
            .map_err(|_| LogError::Internal(format!("relative offset of {offset} overflows")))?;
        self.entries.push((timestamp, rel));
        Ok(())
    }

    /// The entry with the largest timestamp <= `timestamp`, as (timestamp, offset); `None`
    /// when every entry is later (search from the segment start).
    pub fn lookup(&self, timestamp: i64) -> Option<(i64, i64)> {
        let i = self.entries.partition_point(|&(t, _)| t <= timestamp);
        (i > 0).then(|| {
            let (t, r) = self.entries[i - 1];
            (t, self.base_offset + i64::from(r))
        })
    }

    /// The last entry as (timestamp, offset).
    pub fn last_entry(&self) -> Option<(i64, i64)> {
        self.entries
            .last()
            .map(|&(t, r)| (t, self.base_offset + i64::from(r)))
    }

    /// Drops entries pointing at offsets >= `offset`.
    pub fn truncate_to_offset(&mut self, offset: i64) -> Result<(), LogError> {
        let rel = offset - self.base_offset;
        let keep = self.entries.partition_point(|&(_, r)| i64::from(r) < rel);
        if keep < self.entries.len() {
            self.entries.truncate(keep);
            self.rewrite()?;
        }
        Ok(())
    }

    pub fn reset(&mut self) -> Result<(), LogError> {
        self.entries.clear();
        self.rewrite()
    }

    fn encode(entries: &[(i64, u32)]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(entries.len() * TIME_ENTRY_SIZE);
        for &(t, r) in entries {
            bytes.extend_from_slice(&t.to_be_bytes());
            bytes.extend_from_slice(&r.to_be_bytes());
        }
        bytes
    }

    fn rewrite(&mut self) -> Result<(), LogError> {
        rewrite_file(&self.path, &mut self.file, &Self::encode(&self.entries))?;
        self.persisted = self.entries.len();
        Ok(())
    }

    /// Writes the entries not yet in the file, then syncs it.
    pub fn sync(&mut self) -> Result<(), LogError> {
        if self.persisted < self.entries.len() {
            let bytes = Self::encode(&self.entries[self.persisted..]);
            self.file.write_all(&bytes).map_err(io_err(&self.path))?;
            self.persisted = self.entries.len();
        }
        self.file.sync_data().map_err(io_err(&self.path))
    }
}

/// Replaces an append-mode file's content in place (truncate, then write).
fn rewrite_file(path: &Path, file: &mut File, bytes: &[u8]) -> Result<(), LogError> {
    file.set_len(0).map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))
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
