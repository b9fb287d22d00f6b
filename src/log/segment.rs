//! One segment of a partition log: `<base_offset:020>.log` with its `.index` and
//! `.timeindex` (Kafka's `LogSegment`).
//!
//! Invariant: `size` bytes of the `.log` file are whole, valid batches with increasing
//! offsets; readers are only ever given positions below `size`, so they never see a batch
//! that is still being written. Bytes below `verified_to` have had their CRC checked since
//! the file was opened.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::batch::{self, BatchHeader, HEADER_SIZE, NO_TIMESTAMP};
use super::index::{OffsetIndex, TimeIndex};
use super::{io_err, open_files, LogError};

/// Size of the chunks read when walking batch headers.
const SCAN_CHUNK: usize = 64 * 1024;

/// File name of a segment file: the base offset, 20 digits, zero padded.
pub fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}.{suffix}")
}

/// A segment's `.log` descriptor: opened on first use, closed by [`open_files`] when the
/// process has more open than its budget and nobody holds it.
#[derive(Debug)]
pub(crate) struct FileSlot {
    path: PathBuf,
    file: Mutex<Option<Arc<File>>>,
    /// Written since the last fsync: closing the file syncs it first.
    dirty: AtomicBool,
    /// An fsync before closing failed: every later [`SegmentFile::sync_data`] fails, as
    /// the data it should have made durable may be gone.
    sync_failed: AtomicBool,
}

impl FileSlot {
    fn new(path: PathBuf, file: Option<File>) -> Arc<Self> {
        let open = file.is_some();
        let slot = Arc::new(FileSlot {
            path,
            file: Mutex::new(file.map(Arc::new)),
            dirty: AtomicBool::new(false),
            sync_failed: AtomicBool::new(false),
        });
        if open {
            open_files::opened(Arc::downgrade(&slot));
        }
        slot
    }

    /// The open file, opening it if it was closed. Holding the `Arc` keeps it open.
    fn get(self: &Arc<Self>) -> Result<Arc<File>, LogError> {
        let mut slot = self.file.lock();
        if let Some(f) = slot.as_ref() {
            return Ok(Arc::clone(f));
        }
        let f = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)
            .map(Arc::new)
            .map_err(io_err(&self.path))?;
        *slot = Some(Arc::clone(&f));
        drop(slot);
        open_files::opened(Arc::downgrade(self));
        Ok(f)
    }

    /// Closes the file unless someone holds it (or the slot is busy); unsynced writes are
    /// synced first. True when it is closed.
    pub(crate) fn try_close(&self) -> bool {
        let Some(mut slot) = self.file.try_lock() else {
            return false;
        };
        let Some(f) = slot.as_ref() else {
            return true;
        };
        if Arc::strong_count(f) > 1 {
            return false; // a reader or writer holds it
        }
        if self.dirty.swap(false, Ordering::AcqRel) {
            if let Err(e) = f.sync_data() {
                tracing::error!(path = %self.path.display(), cause = %e,
                    "fsync before closing a segment file failed");
                self.sync_failed.store(true, Ordering::Release);
            }
        }
        *slot = None;
        open_files::closed();
        true
    }
}

impl Drop for FileSlot {
    fn drop(&mut self) {
        if self.file.get_mut().is_some() {
            open_files::closed();
        }
    }
}

/// The `.log` file of a segment, shared with readers (who keep it alive while they read,
/// even if retention deletes the segment meanwhile: see [`PinnedFile`]).
#[derive(Debug)]
pub struct SegmentFile {
    slot: Arc<FileSlot>,
    verified_to: AtomicU64,
}

/// A segment file held open: what a reader takes under the partition's lock before it
/// reads without it, so that neither retention nor the open-file budget can close the
/// file under it.
#[derive(Clone, Debug)]
pub struct PinnedFile {
    file: Arc<SegmentFile>,
    fd: Arc<File>,
}

impl std::ops::Deref for PinnedFile {
    type Target = SegmentFile;
    fn deref(&self) -> &SegmentFile {
        &self.file
    }
}

impl SegmentFile {
    pub fn path(&self) -> &Path {
        &self.slot.path
    }

    /// Holds the file open for a read without the partition's lock.
    pub fn pin(self: &Arc<Self>) -> Result<PinnedFile, LogError> {
        Ok(PinnedFile {
            file: Arc::clone(self),
            fd: self.slot.get()?,
        })
    }

    /// Fills `buf` from `position`; returns how many bytes were read (short at end of file).
    pub fn read_at(&self, mut position: u64, buf: &mut [u8]) -> Result<usize, LogError> {
        let mut done = 0;
        let file = self.slot.get()?;
        while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
            match file.read_at(rest, position) {
                Ok(0) => break,
                Ok(n) => {
                    done += n;
                    position += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(self.path())(e)),
            }
        }
        Ok(done)
    }

    /// [`Self::seek`] for a read that serves what it finds: also checks that the batches
    /// it walks follow one another in offset order, starting from what `start` says of the
    /// first one. Returns with the batch the offset its predecessor ended at (if known) and
    /// whether the batch itself is suspect (it follows a gap, or disagrees with the index
    /// entry it was found by): [`consistent_batches`] then serves it only if the batch
    /// after it agrees. A batch that goes back below an unsuspected predecessor is
    /// [`LogError::CorruptOnDisk`]; after a suspect one, the suspect is the one in the
    /// wrong (its base offset is not covered by the CRC) and the walk goes on.
    pub fn seek_checked(
        &self,
        from: u64,
        end: u64,
        start: ScanStart,
        mut want: impl FnMut(&BatchHeader) -> bool,
    ) -> Result<Option<Found>, LogError> {
        let mut expected = match start {
            ScanStart::Segment(base) => Some(base),
            ScanStart::Entry(_) | ScanStart::Unknown => None,
        };
        let mut first = true;
        let mut failed = false;
        let mut suspect = false;
        let found = self.seek(from, end, |h| {
            let overlaps = expected.is_some_and(|e| h.base_offset < e);
            if overlaps && !suspect {
                failed = true;
                return true;
            }
            if overlaps {
                expected = None; // the suspect before was wrong, not this batch
            }
            suspect = expected.is_some_and(|e| h.base_offset > e)
                || (first && matches!(start, ScanStart::Entry(last) if h.last_offset() != last));
            first = false;
            if want(h) {
                return true;
            }
            expected = Some(h.next_offset());
            false
        })?;
        match found {
            Some((pos, h)) if failed => Err(self.corrupt(
                pos,
                &format!(
                    "batch at offset {} contradicts the offsets before it",
                    h.base_offset
                ),
            )),
            Some((position, header)) => Ok(Some(Found {
                position,
                header,
                expected,
                suspect,
            })),
            None => Ok(None),
        }
    }

    /// Walks batch headers from `from` (a batch boundary) up to `end` and returns the first
    /// batch for which `want` holds, with its position. A malformed header is an error.
    pub fn seek(
        &self,
        from: u64,
        end: u64,
        mut want: impl FnMut(&BatchHeader) -> bool,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let mut chunk = ReadBuf::new(((end.saturating_sub(from)) as usize).min(SCAN_CHUNK));
        let mut pos = from;
        while pos < end {
            let len = ((end - pos) as usize).min(chunk.len());
            let n = self.read_at(pos, chunk.get_mut(..len).unwrap_or_default())?;
            let mut off = 0;
            while let Some(h) = chunk.get(off..n).and_then(BatchHeader::parse) {
                let size = h
                    .size()
                    .ok_or_else(|| self.corrupt(pos + off as u64, "bad length"))?;
                if want(&h) {
                    return Ok(Some((pos + off as u64, h)));
                }
                off += size;
                if off >= n {
                    break;
                }
            }
            if off == 0 {
                // not even one header fits before `end`: the data is cut short
                return Err(self.corrupt(pos, "truncated batch header"));
            }
            pos += off as u64;
        }
        Ok(None)
    }

    /// Checks the CRC of every batch in `data` (read from `position`) that lies beyond the
    /// verified mark; returns how many leading bytes are intact. Advances the mark when the
    /// checked range starts at or below it.
    pub fn verify(&self, position: u64, data: &[u8]) -> usize {
        let verified = self.verified_to.load(Ordering::Acquire);
        let end = position + data.len() as u64;
        if end <= verified {
            return data.len();
        }
        let mut good = 0;
        for (at, h) in batch::BatchIter::new(data) {
            let Some(size) = h.size() else { break };
            let batch_end = position + (at + size) as u64;
            let intact = |b: &[u8]| batch::check_integrity(b).is_ok();
            if batch_end > verified && !data.get(at..at + size).is_some_and(intact) {
                break;
            }
            good = at + size;
        }
        if position <= verified && good > 0 {
            self.verified_to
                .fetch_max(position + good as u64, Ordering::AcqRel);
        }
        good
    }

    /// Bytes below this position have had their CRC checked since the file was opened.
    pub fn verified_to(&self) -> u64 {
        self.verified_to.load(Ordering::Acquire)
    }

    /// The header of the batch at `position` (a batch boundary below the segment's size),
    /// read on its own: [`HEADER_SIZE`] bytes, not the batch.
    pub fn header_at(&self, position: u64) -> Result<BatchHeader, LogError> {
        let mut head = [0u8; HEADER_SIZE];
        if self.read_at(position, &mut head)? < HEADER_SIZE {
            return Err(self.corrupt(position, "truncated batch header"));
        }
        BatchHeader::parse(&head).ok_or_else(|| self.corrupt(position, "truncated batch header"))
    }

    pub fn corrupt(&self, position: u64, reason: &str) -> LogError {
        LogError::CorruptOnDisk {
            path: self.path().to_path_buf(),
            position,
            reason: reason.to_string(),
        }
    }

    /// fdatasync of the file (opening it if it was closed: its written pages are still the
    /// inode's, and an fsync through any descriptor writes them).
    pub fn sync_data(&self) -> Result<(), LogError> {
        let file = self.slot.get()?;
        self.slot.dirty.store(false, Ordering::Release);
        let started = std::time::Instant::now();
        let synced = file.sync_data().map_err(io_err(self.path()));
        super::stats::FSYNC.observe(started.elapsed());
        if synced.is_err() {
            self.slot.dirty.store(true, Ordering::Release);
        }
        if self.slot.sync_failed.load(Ordering::Acquire) {
            return Err(io_err(self.path())(std::io::Error::other(
                "an earlier fsync of this file failed",
            )));
        }
        synced
    }

    /// The open file for a write; marks it as holding unsynced data.
    fn for_write(&self) -> Result<Arc<File>, LogError> {
        let file = self.slot.get()?;
        self.slot.dirty.store(true, Ordering::Release);
        Ok(file)
    }

    /// Cuts the file to `len` bytes.
    fn set_len(&self, len: u64) -> Result<(), LogError> {
        self.for_write()?.set_len(len).map_err(io_err(self.path()))
    }
}

/// Whole batches in a segment file, to be sent from the file (`sendfile`) rather than
/// read into memory. Holding it keeps the file open, so the bytes stay readable even if
/// retention or DeleteRecords deletes the segment meanwhile (the inode lives as long as
/// an open descriptor). It only ever covers bytes below the segment's published size
/// whose CRC was checked (on append or on an earlier read), so no reader of it sees a
/// half-written or unchecked batch. Truncation (`truncate_to`, a follower's or a
/// coordinator's undo) is the one thing that can shorten the file under it: a read of
/// the range then comes up short and fails ([`FileRange::read`]); a sender must treat a
/// short send the same way.
#[derive(Clone)]
pub struct FileRange {
    file: PinnedFile,
    position: u64,
    len: usize,
}

impl FileRange {
    /// The file, for a `sendfile` from it.
    pub fn file(&self) -> &File {
        &self.file.fd
    }
    pub fn path(&self) -> &Path {
        self.file.path()
    }
    /// Where the range starts in the file.
    pub fn position(&self) -> u64 {
        self.position
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The range's bytes, read into a pooled buffer (the copy path: TLS connections, the
    /// text protocol, log dumps). A file cut short under the range is an error.
    pub fn read(&self) -> Result<Bytes, LogError> {
        let mut buf = ReadBuf::new(self.len);
        let mut done = 0;
        while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
            match self.file.fd.read_at(rest, self.position + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(self.path())(e)),
            }
        }
        if done < self.len {
            return Err(self
                .file
                .corrupt(self.position, "segment truncated under a read"));
        }
        Ok(buf.into_bytes(self.len))
    }
}

impl std::fmt::Debug for FileRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRange")
            .field("path", &self.file.path())
            .field("position", &self.position)
            .field("len", &self.len)
            .finish()
    }
}

impl PinnedFile {
    /// `len` bytes from `position`, as a [`FileRange`]. The caller vouches that they are
    /// whole, CRC-checked batches below the segment's size.
    pub fn range(&self, position: u64, len: usize) -> FileRange {
        FileRange {
            file: self.clone(),
            position,
            len,
        }
    }
}

/// Where recovery cut a segment, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// Where the file now ends.
    pub position: u64,
    /// The offset that was expected there (the next offset of what is kept).
    pub offset: i64,
    pub reason: String,
}

/// What [`LogSegment::recover`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    pub truncated_bytes: u64,
    pub cut: Option<Cut>,
    /// Offsets missing between batches kept, as `[from, to)`.
    pub gaps: Vec<(i64, i64)>,
    /// Batches whose base offset alone was changed, set back to what both neighbours say,
    /// as (position, offset found, offset restored).
    pub repaired: Vec<(u64, i64, i64)>,
    /// A batch already indexed must go: scan again up to here.
    redo_from: Option<u64>,
    /// A batch already indexed needs its base offset restored: (position, offset).
    repair: Option<(u64, i64, i64)>,
}

/// Most base offsets one recovery of a segment restores before it truncates instead.
const MAX_REPAIRS: usize = 16;

/// One segment and its indexes. Mutated only under the partition's write lock.
#[derive(Debug)]
pub struct LogSegment {
    base_offset: i64,
    log: Arc<SegmentFile>,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Bytes of whole batches in the `.log` file.
    size: u64,
    /// One past the last offset in this segment (`base_offset` when empty).
    next_offset: i64,
    max_timestamp: i64,
    /// Last offset of the batch that holds `max_timestamp`.
    offset_of_max_timestamp: i64,
    bytes_since_last_index_entry: u64,
    /// Max timestamp of the first batch: what `segment.ms` measures from, as in Kafka.
    rolling_timestamp: Option<i64>,
    /// Wall-clock time the segment was opened or created: `segment.ms` measures from it
    /// when the batches carry no timestamp.
    created_ms: i64,
}

impl LogSegment {
    /// Creates an empty segment (replacing any stale files of that name).
    pub fn create(dir: &Path, base_offset: i64) -> Result<Self, LogError> {
        Self::create_with_suffix(dir, base_offset, "")
    }

    /// [`Self::create`] with `suffix` after each of Kafka's file names: the cleaner writes a
    /// segment as `.cleaned` files before it swaps them in.
    pub fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        suffix: &str,
    ) -> Result<Self, LogError> {
        for kind in ["log", "index", "timeindex", super::txn_index::SUFFIX] {
            let p = dir.join(file_name(base_offset, kind) + suffix);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&p)(e)),
            }
        }
        let path = dir.join(file_name(base_offset, "log") + suffix);
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        Self::with_file(dir, base_offset, path, Some(file), 0, suffix)
    }

    /// Opens a segment without reading the log (its `.log` is opened on first use): call
    /// [`Self::load_tail`] (clean shutdown) or [`Self::recover`] (crash) next.
    pub fn open_files(dir: &Path, base_offset: i64) -> Result<Self, LogError> {
        Self::open_files_with_suffix(dir, base_offset, "")
    }

    /// [`Self::open_files`] of files named with `suffix` (a cleaned segment's `.swap`).
    pub fn open_files_with_suffix(
        dir: &Path,
        base_offset: i64,
        suffix: &str,
    ) -> Result<Self, LogError> {
        let path = dir.join(file_name(base_offset, "log") + suffix);
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Self::create_with_suffix(dir, base_offset, suffix);
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        Self::with_file(dir, base_offset, path, None, size, suffix)
    }

    fn with_file(
        dir: &Path,
        base_offset: i64,
        path: PathBuf,
        file: Option<File>,
        size: u64,
        suffix: &str,
    ) -> Result<Self, LogError> {
        let offset_index = OffsetIndex::open(
            dir.join(file_name(base_offset, "index") + suffix),
            base_offset,
        )?;
        let time_index = TimeIndex::open(
            dir.join(file_name(base_offset, "timeindex") + suffix),
            base_offset,
        )?;
        Ok(LogSegment {
            base_offset,
            log: Arc::new(SegmentFile {
                slot: FileSlot::new(path, file),
                verified_to: AtomicU64::new(0),
            }),
            offset_index,
            time_index,
            size,
            next_offset: base_offset,
            max_timestamp: NO_TIMESTAMP,
            offset_of_max_timestamp: base_offset,
            bytes_since_last_index_entry: 0,
            rolling_timestamp: None,
            created_ms: super::now_ms(),
        })
    }

    /// After a clean shutdown: checks the indexes (as Kafka's `sanityCheck` does, and
    /// more: see [`Self::check_indexes`]) and reads only the tail after the last offset
    /// index entry to find the next offset and max timestamp. Touches no other bytes but
    /// the batches the time index's first and last entries point at. Fails with
    /// `CorruptOnDisk` (naming the file) if an index or the tail is damaged: recover then.
    pub fn load_tail(&mut self) -> Result<(), LogError> {
        let index_bad = |reason: &str| LogError::CorruptOnDisk {
            path: self.offset_index.path().to_path_buf(),
            position: 0,
            reason: reason.to_string(),
        };
        let mut last = None;
        for (rel_offset, pos) in self.offset_index.entries() {
            if pos >= self.size || last.is_some_and(|(o, p)| rel_offset <= o || pos <= p) {
                return Err(index_bad("entries out of order or past the end of the log"));
            }
            last = Some((rel_offset, pos));
        }
        let (mut pos, mut next, mut entry) = match self.offset_index.last_entry() {
            Some((offset, p)) => (p, self.base_offset, Some(offset)),
            None => (0, self.base_offset, None),
        };
        let mut since_entry = 0;
        let mut tail_max = (NO_TIMESTAMP, self.base_offset);
        while pos < self.size {
            let mut head = [0u8; HEADER_SIZE];
            if self.log.read_at(pos, &mut head)? < HEADER_SIZE {
                return Err(self.log.corrupt(pos, "truncated batch header"));
            }
            let h = BatchHeader::parse(&head).ok_or_else(|| self.log.corrupt(pos, "header"))?;
            if entry.take().is_some_and(|offset| h.last_offset() != offset) {
                return Err(index_bad(
                    "last entry does not match the batch it points at",
                ));
            }
            let size = h
                .size()
                .ok_or_else(|| self.log.corrupt(pos, "bad length"))? as u64;
            if pos + size > self.size || h.base_offset < next {
                return Err(self.log.corrupt(pos, "torn or out-of-order tail"));
            }
            if h.max_timestamp > tail_max.0 {
                tail_max = (h.max_timestamp, h.last_offset());
            }
            next = h.next_offset();
            pos += size;
            since_entry += size;
        }
        self.next_offset = next;
        self.check_time_index()?;
        self.max_timestamp = NO_TIMESTAMP;
        self.offset_of_max_timestamp = self.base_offset;
        if let Some((ts, off)) = self.time_index.last_entry() {
            self.max_timestamp = ts;
            self.offset_of_max_timestamp = off;
        }
        // the tail's batches may carry a later max timestamp than the index's last entry
        if tail_max.0 > self.max_timestamp {
            (self.max_timestamp, self.offset_of_max_timestamp) = tail_max;
        }
        self.bytes_since_last_index_entry = since_entry;
        self.rolling_timestamp = self.first_batch_timestamp()?;
        Ok(())
    }

    /// The time index's sanity check: timestamps not negative and increasing, offsets
    /// non-decreasing and inside the segment, and its first and last entries agreeing with
    /// the batches they name (the batch holding the entry's offset has its timestamp).
    fn check_time_index(&self) -> Result<(), LogError> {
        let bad = |reason: &str| LogError::CorruptOnDisk {
            path: self.time_index.path().to_path_buf(),
            position: 0,
            reason: reason.to_string(),
        };
        let entries = self.time_index.entries();
        let mut prev: Option<(i64, i64)> = None;
        for &(ts, offset) in &entries {
            let in_segment = offset >= self.base_offset && offset < self.next_offset;
            if ts < 0 || !in_segment || prev.is_some_and(|(t, o)| ts <= t || offset < o) {
                return Err(bad("entries out of order or outside the segment"));
            }
            prev = Some((ts, offset));
        }
        for &(ts, offset) in entries.first().into_iter().chain(entries.last()) {
            let found = self.batch_holding(offset)?;
            // the batch's last offset, or (Kafka 3.7) the record's: inside the batch
            let names = |h: &BatchHeader| h.base_offset <= offset && h.max_timestamp == ts;
            if !found.is_some_and(|h| names(&h)) {
                return Err(bad("an entry does not match the batch it names"));
            }
        }
        Ok(())
    }

    /// The header of the first batch whose last offset is at or past `offset`, found by
    /// reading headers alone (61 bytes each) from the offset index's position: at open,
    /// for every segment, so it must not read whole chunks of the log.
    fn batch_holding(&self, offset: i64) -> Result<Option<BatchHeader>, LogError> {
        let mut pos = self.offset_index.lookup(offset).1;
        // an index interval holds few batches; a walk this long means the index is wrong
        for _ in 0..100_000 {
            if pos >= self.size {
                return Ok(None);
            }
            let h = self.log.header_at(pos)?;
            if h.last_offset() >= offset {
                return Ok(Some(h));
            }
            pos += h
                .size()
                .ok_or_else(|| self.log.corrupt(pos, "bad length"))? as u64;
        }
        Ok(None)
    }

    fn first_batch_timestamp(&self) -> Result<Option<i64>, LogError> {
        let mut head = [0u8; HEADER_SIZE];
        if self.size < HEADER_SIZE as u64 || self.log.read_at(0, &mut head)? < HEADER_SIZE {
            return Ok(None);
        }
        Ok(BatchHeader::parse(&head).map(|h| h.max_timestamp))
    }

    /// After a crash: reads every batch, checks its CRC and offsets, rebuilds both indexes,
    /// and cuts the file at the first byte that is not part of a whole valid batch, or at
    /// the first batch whose offsets contradict the segment (below its base, or below the
    /// batch before it: then, if that batch followed a gap, the cut is at that batch,
    /// whose base offset, not covered by the CRC, is the one that changed). Gaps between
    /// batches are kept and reported.
    pub fn recover(&mut self, index_interval_bytes: u64) -> Result<Recovery, LogError> {
        let file_size = self.size;
        let mut report = self.recover_once(index_interval_bytes, true)?;
        let mut repaired = Vec::new();
        while let Some((position, found, restored)) = report.repair.take() {
            self.restore_base_offset(position, restored)?;
            repaired.push((position, found, restored));
            let allow = repaired.len() < MAX_REPAIRS;
            report = self.recover_once(index_interval_bytes, allow)?;
        }
        report.repaired = repaired;
        if let Some(redo) = report.redo_from.take() {
            // the culprit was a batch already indexed: cut there and scan again
            self.log.set_len(redo)?;
            self.size = redo;
            let again = self.recover_once(index_interval_bytes, false)?;
            report.gaps = again.gaps;
        }
        report.truncated_bytes = file_size - self.size;
        Ok(report)
    }

    /// Writes `offset` as the base offset of the batch at `position` (a field the CRC does
    /// not cover), durably. Through a descriptor of its own: the segment's is in append
    /// mode, where a positioned write lands at the end.
    fn restore_base_offset(&mut self, position: u64, offset: i64) -> Result<(), LogError> {
        let path = self.log.path().to_path_buf();
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.write_all_at(&offset.to_be_bytes(), position)
            .and_then(|()| file.sync_data())
            .map_err(io_err(&path))
    }

    fn recover_once(
        &mut self,
        index_interval_bytes: u64,
        may_repair: bool,
    ) -> Result<Recovery, LogError> {
        self.offset_index.reset()?;
        self.time_index.reset()?;
        self.max_timestamp = NO_TIMESTAMP;
        self.offset_of_max_timestamp = self.base_offset;
        self.bytes_since_last_index_entry = 0;
        self.rolling_timestamp = None;
        let mut report = Recovery::default();
        let file_size = self.size;
        let mut valid: u64 = 0;
        let mut next = self.base_offset;
        // the last batch, if it started after a gap: (position, the offset expected there)
        let mut after_gap: Option<(u64, i64, BatchHeader)> = None;
        let mut buf = Vec::new();
        let stop = |reason: &str, position: u64, offset: i64| Cut {
            position,
            offset,
            reason: reason.to_string(),
        };
        // `valid` advances batch by batch: everything below it is whole and intact.
        'scan: while valid < file_size {
            let want = ((file_size - valid) as usize).min(8 * 1024 * 1024);
            buf.resize(want, 0);
            let n = self.log.read_at(valid, &mut buf)?;
            buf.truncate(n);
            let chunk_start = valid;
            let mut off = 0usize;
            while let Some(h) = buf.get(off..).and_then(BatchHeader::parse) {
                let Some(size) = h.size() else {
                    report.cut = Some(stop("bad batch length", valid, next));
                    break 'scan;
                };
                if off + size > buf.len() {
                    if off == 0 && (valid + size as u64) <= file_size {
                        // one batch larger than the chunk: read it whole
                        buf.resize(size, 0);
                        if self.log.read_at(valid, &mut buf)? < size {
                            break 'scan;
                        }
                        continue;
                    }
                    break;
                }
                let Some(bytes) = buf.get(off..off + size) else {
                    break;
                };
                let outside = h.base_offset < self.base_offset
                    || h.last_offset_delta < 0
                    || h.last_offset() - self.base_offset > i64::from(i32::MAX);
                if batch::check_integrity(bytes).is_err() {
                    report.cut = Some(stop("batch failed its CRC check", valid, next));
                    break 'scan;
                }
                if outside {
                    report.cut = Some(stop("batch offsets outside the segment", valid, next));
                    break 'scan;
                }
                if h.base_offset < next {
                    match after_gap {
                        // both neighbours say where the batch after the gap starts
                        Some((pos, expected, culprit))
                            if may_repair
                                && h.base_offset
                                    == expected + i64::from(culprit.last_offset_delta) + 1 =>
                        {
                            report.repair = Some((pos, culprit.base_offset, expected));
                            return Ok(report);
                        }
                        Some((pos, expected, _)) => {
                            report.redo_from = Some(pos);
                            report.cut = Some(stop(
                                "base offset contradicts the batches around it",
                                pos,
                                expected,
                            ));
                        }
                        None => {
                            report.cut =
                                Some(stop("batch offsets overlap the batch before", valid, next))
                        }
                    }
                    break 'scan;
                }
                after_gap = None;
                if h.base_offset > next {
                    report.gaps.push((next, h.base_offset));
                    after_gap = Some((valid, next, h));
                }
                self.index_batch(&h, valid, size as u64, index_interval_bytes)?;
                next = h.next_offset();
                off += size;
                valid += size as u64;
            }
            if valid == chunk_start {
                break;
            }
        }
        if report.cut.is_none() && valid < file_size {
            report.cut = Some(stop("torn batch", valid, next));
        }
        if file_size > valid {
            self.log.set_len(valid)?;
        }
        self.size = valid;
        self.next_offset = next;
        self.log.verified_to.store(valid, Ordering::Release);
        if report.redo_from.is_some() {
            // the gap of the batch cut away is not a gap any more
            report.gaps.pop();
        }
        Ok(report)
    }

    /// Updates in-memory stats and the indexes for one batch written at `position`,
    /// as Kafka's `LogSegment.append` does per batch.
    fn index_batch(
        &mut self,
        h: &BatchHeader,
        position: u64,
        size: u64,
        index_interval_bytes: u64,
    ) -> Result<(), LogError> {
        if self.rolling_timestamp.is_none() {
            self.rolling_timestamp = Some(h.max_timestamp);
        }
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.last_offset();
        }
        if self.bytes_since_last_index_entry > index_interval_bytes {
            self.offset_index.append(h.last_offset(), position)?;
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp)?;
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += size;
        Ok(())
    }

    /// Appends already-assigned batches: `bytes` as validated, `batches` each batch's
    /// position in it and its header as it goes to the log. The file gets each rewritten
    /// header followed by that batch's body from `bytes`, in one vectored write.
    pub fn append(
        &mut self,
        bytes: &[u8],
        batches: &[(usize, [u8; HEADER_SIZE])],
        index_interval_bytes: u64,
    ) -> Result<(), LogError> {
        let start = self.size;
        // index positions are u32, as in Kafka; segment.bytes <= i32::MAX keeps us below
        if start + bytes.len() as u64 > u64::from(u32::MAX) {
            return Err(LogError::Internal(format!(
                "segment {} would pass 4 GiB",
                self.log.path().display()
            )));
        }
        let mut parts = Vec::with_capacity(2 * batches.len());
        let mut headers = Vec::with_capacity(batches.len());
        let mut end = 0;
        for (at, header) in batches {
            let h = BatchHeader::parse(header);
            let size = h.and_then(|h| h.size()).unwrap_or(0);
            let body = bytes.get(at + HEADER_SIZE..at + size);
            let (Some(h), Some(body), true) = (h, body, *at == end) else {
                return Err(LogError::Internal(
                    "appended batches do not tile the bytes".into(),
                ));
            };
            parts.push(IoSlice::new(header));
            parts.push(IoSlice::new(body));
            headers.push((*at, h));
            end = at + size;
        }
        if end != bytes.len() {
            return Err(LogError::Internal(
                "appended batches do not tile the bytes".into(),
            ));
        }
        let file = self.log.for_write()?;
        if let Err(e) = write_all_vectored(&file, &mut parts) {
            // whatever part of the write reached the file is cut off again, so the file keeps
            // ending at `size`; if even that fails the caller takes the log offline
            let cut = file.set_len(start);
            return Err(match cut {
                Ok(()) => io_err(self.log.path())(e),
                Err(_) => LogError::Offline(format!(
                    "{}: write failed and could not be undone: {e}",
                    self.log.path().display()
                )),
            });
        }
        drop(file);
        for (at, h) in &headers {
            let size = h.size().unwrap_or(0) as u64;
            self.index_batch(h, start + *at as u64, size, index_interval_bytes)?;
            self.next_offset = h.next_offset();
        }
        // Bytes we validated ourselves need no re-check on read, if contiguous with the mark.
        let _ = self.log.verified_to.compare_exchange(
            start,
            start + bytes.len() as u64,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Cuts the segment so that it ends before the first batch whose last offset is >=
    /// `offset`. Returns the new next offset.
    pub fn truncate_to(&mut self, offset: i64, index_interval_bytes: u64) -> Result<i64, LogError> {
        let (_, from) = self.offset_index.lookup(offset);
        let found = self
            .log
            .seek(from, self.size, |h| h.last_offset() >= offset)?;
        let Some((position, _)) = found else {
            return Ok(self.next_offset);
        };
        self.log.set_len(position)?;
        self.size = position;
        self.log.verified_to.fetch_min(position, Ordering::AcqRel);
        // Rebuild stats and indexes from what remains (rare: replication truncation).
        self.recover(index_interval_bytes)?;
        Ok(self.next_offset)
    }

    /// When the segment stops being the active one (roll, close): a final time index
    /// entry, as Kafka's `onBecomeInactiveSegment` writes, then everything to disk.
    pub fn seal(&mut self) -> Result<(), LogError> {
        if self.max_timestamp != NO_TIMESTAMP {
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp)?;
        }
        self.sync_all()
    }

    /// fdatasync of the log file and both indexes (writing their pending entries).
    pub fn sync_all(&mut self) -> Result<(), LogError> {
        self.log.sync_data()?;
        self.offset_index.sync()?;
        self.time_index.sync()
    }

    /// Deletes the segment's files (readers holding the file keep reading it).
    /// The segment's `.txnindex`, if it has one, goes too.
    pub fn delete_files(&self) -> Result<(), LogError> {
        let txn_index = self
            .log
            .path()
            .parent()
            .map(|dir| super::txn_index::path(dir, self.base_offset, ""));
        for p in [
            self.log.path(),
            self.offset_index.path(),
            self.time_index.path(),
        ]
        .into_iter()
        .chain(txn_index.as_deref())
        {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(p)(e)),
            }
        }
        Ok(())
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp
    }
    /// Max timestamp of the first batch, if there is one.
    pub fn first_timestamp(&self) -> Option<i64> {
        self.rolling_timestamp
    }
    /// How long this segment has been filling, as Kafka's `timeWaitedForRoll` measures it:
    /// from the first batch's timestamp to the incoming one's, or wall-clock time since the
    /// segment was created when there are no timestamps.
    pub fn time_waited_for_roll(&self, now: i64, incoming_max_timestamp: i64) -> i64 {
        match self.rolling_timestamp {
            Some(ts) if ts >= 0 => incoming_max_timestamp.saturating_sub(ts),
            _ => now.saturating_sub(self.created_ms),
        }
    }
    pub fn file(&self) -> &Arc<SegmentFile> {
        &self.log
    }
    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }
    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }
    /// The position to start scanning from for `offset`.
    pub fn lookup(&self, offset: i64) -> u64 {
        self.offset_index.lookup(offset).1
    }
    /// [`Self::lookup`], with what the index says of the batch there.
    pub fn lookup_start(&self, offset: i64) -> (u64, ScanStart) {
        match self.offset_index.lookup(offset) {
            (_, 0) => (0, ScanStart::Segment(self.base_offset)),
            (entry, pos) => (pos, ScanStart::Entry(entry)),
        }
    }
    /// The position to start scanning from for the first batch with max timestamp >= `ts`.
    pub fn lookup_timestamp(&self, ts: i64) -> u64 {
        match self.time_index.lookup(ts) {
            Some((_, offset)) => self.offset_index.lookup(offset).1,
            None => 0,
        }
    }
}

/// The batch [`SegmentFile::seek_checked`] found.
#[derive(Clone, Copy, Debug)]
pub struct Found {
    pub position: u64,
    pub header: BatchHeader,
    /// The next offset of the batch before it, if the walk saw one it trusts.
    pub expected: Option<i64>,
    /// It follows a gap or disagrees with its index entry: serve it only if the batch
    /// after it agrees.
    pub suspect: bool,
}

/// What is known of the batch at the position a read starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanStart {
    /// The segment's first batch: none of its offsets is below the segment's base offset.
    Segment(i64),
    /// An offset index entry: the batch there ends at this offset.
    Entry(i64),
    /// Nothing.
    Unknown,
}

/// How many of `batches` (each with its position; read in this order, `expected` the next offset of the batch
/// before them, if known; `first_suspect` if the first is to be confirmed as a batch after a
/// gap is) may be served: each must start at or after the previous one's
/// next offset. After a gap, the batch that overlaps the next one is the culprit (its base
/// offset, which no CRC covers, is what changed), so a batch after a gap is served only
/// once the next one agrees; `after` reads the header following the last batch, and is
/// called only when the last batch follows a gap.
pub fn consistent_batches<P>(
    mut expected: Option<i64>,
    first_suspect: bool,
    batches: &[(P, BatchHeader)],
    after: impl FnOnce() -> Option<BatchHeader>,
) -> usize {
    let mut gap_before = None;
    for (i, (_, h)) in batches.iter().enumerate() {
        if expected.is_some_and(|e| h.base_offset < e) {
            return match gap_before {
                Some(g) if g + 1 == i => g,
                _ => i,
            };
        }
        if expected.is_some_and(|e| h.base_offset > e) || (i == 0 && first_suspect) {
            gap_before = Some(i);
        }
        expected = Some(h.next_offset());
    }
    let last = batches.len().checked_sub(1);
    if gap_before.is_some() && gap_before == last {
        if let (Some(next), Some(e)) = (after(), expected) {
            if next.base_offset < e {
                return batches.len() - 1;
            }
        }
    }
    batches.len()
}

/// Most bytes the pool of [`ReadBuf`]s keeps for reuse (what stays allocated after a burst
/// of fetches), the largest buffer it keeps (bigger reads are allocated as before), and how
/// many buffers (each `ReadBuf::new` looks through them under the pool's lock).
const READ_POOL_BYTES: usize = 16 << 20;
const READ_POOL_MAX_BUFFER: usize = 4 << 20;
const READ_POOL_BUFFERS: usize = 32;

/// Buffers kept for reuse, each with all of its `len()` bytes initialised.
static READ_POOL: parking_lot::Mutex<Vec<Vec<u8>>> = parking_lot::Mutex::new(Vec::new());

/// A buffer to read segment bytes into, taken from a small process-wide pool and given
/// back when dropped, also when it was turned into `Bytes` and the last of those is
/// dropped (after the fetch response is written). `pread` needs initialised memory; a
/// reused buffer already is, so fetches neither zero-fill nor allocate (and fault in)
/// fresh MiB-sized buffers: those were 32% of the fetch path's instructions and most of
/// its kernel time (page faults, munmap).
pub struct ReadBuf {
    buf: Vec<u8>,
    len: usize,
}

impl ReadBuf {
    /// `len` bytes (their contents are whatever a previous read left).
    pub fn new(len: usize) -> ReadBuf {
        if len == 0 {
            return ReadBuf {
                buf: Vec::new(),
                len: 0,
            };
        }
        let mut pool = READ_POOL.lock();
        // the smallest pooled buffer that fits, else the largest one (it grows)
        let lens = || pool.iter().map(Vec::len).enumerate();
        let best = lens()
            .filter(|&(_, l)| l >= len)
            .min_by_key(|&(_, l)| l)
            .or_else(|| lens().max_by_key(|&(_, l)| l))
            .map(|(i, _)| i);
        let buf = best.map(|i| pool.swap_remove(i)).unwrap_or_default();
        drop(pool);
        let mut b = ReadBuf { buf, len: 0 };
        b.resize(len);
        b
    }

    /// Grows or shrinks the visible length; only never-initialised growth is zero-filled.
    pub fn resize(&mut self, len: usize) {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        self.len = len;
    }

    /// The first `len` bytes as `Bytes`, without a copy; the buffer returns to the pool
    /// when the last clone or slice of them is dropped.
    pub fn into_bytes(mut self, len: usize) -> Bytes {
        self.len = self.len.min(len);
        if self.len == 0 {
            return Bytes::new();
        }
        Bytes::from_owner(self)
    }
}

impl std::ops::Deref for ReadBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // Invariant: len <= buf.len() (`resize` grows the buffer first)
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl std::ops::DerefMut for ReadBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.buf.get_mut(..self.len).unwrap_or_default()
    }
}

impl AsRef<[u8]> for ReadBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.is_empty() || buf.capacity() > READ_POOL_MAX_BUFFER {
            return;
        }
        let mut pool = READ_POOL.lock();
        let kept: usize = pool.iter().map(Vec::capacity).sum();
        if pool.len() < READ_POOL_BUFFERS && kept + buf.capacity() <= READ_POOL_BYTES {
            pool.push(buf);
            return;
        }
        // full: a larger buffer takes the place of the smallest one, if the total allows
        let smallest = pool.iter_mut().min_by_key(|b| b.capacity());
        if let Some(slot) = smallest {
            let small = slot.capacity();
            if small < buf.capacity() && kept - small + buf.capacity() <= READ_POOL_BYTES {
                *slot = buf;
            }
        }
    }
}

/// `write_all` for a list of slices (std's is unstable): `writev` until all is written.
fn write_all_vectored(mut file: &File, mut parts: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    while !parts.is_empty() {
        match file.write_vectored(parts) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut parts, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Parses a segment file name back into its base offset.
pub fn parse_base_offset(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buffers_are_reused_and_shared_without_copies() {
        let mut b = ReadBuf::new(1000);
        assert_eq!(b.len(), 1000);
        b[..3].copy_from_slice(b"abc");
        let bytes = b.into_bytes(3);
        assert_eq!(&bytes[..], b"abc");
        let slice = bytes.slice(1..);
        drop(bytes);
        assert_eq!(&slice[..], b"bc", "a slice keeps the buffer alive");
        drop(slice); // back to the pool
        let mut again = ReadBuf::new(10);
        assert_eq!(again.len(), 10);
        again.resize(5000);
        assert_eq!(again.len(), 5000);
        assert!(ReadBuf::new(0).into_bytes(0).is_empty());
    }

    fn header(base_offset: i64, records: i32) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: records - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: records,
        }
    }

    #[test]
    fn batches_must_follow_one_another() {
        let h = |bases: &[i64]| {
            bases
                .iter()
                .map(|&b| ((), header(b, 10)))
                .collect::<Vec<_>>()
        };
        let none = || None;
        // contiguous: all
        assert_eq!(
            consistent_batches(Some(0), false, &h(&[0, 10, 20]), none),
            3
        );
        // a changed base offset (20 -> 25): the gap batch overlaps the next, it goes
        assert_eq!(
            consistent_batches(Some(0), false, &h(&[0, 10, 25, 30]), none),
            2
        );
        // an overlap with no gap before: the overlapping batch goes
        assert_eq!(
            consistent_batches(Some(0), false, &h(&[0, 10, 15]), none),
            2
        );
        // a gap the next batch agrees with (a compacted log): all
        assert_eq!(
            consistent_batches(Some(0), false, &h(&[0, 15, 25]), none),
            3
        );
        // the last batch after a gap waits for the one after it
        let after = || Some(header(30, 10));
        assert_eq!(consistent_batches(Some(0), false, &h(&[0, 25]), after), 1);
        let after = || Some(header(35, 10));
        assert_eq!(consistent_batches(Some(0), false, &h(&[0, 25]), after), 2);
        // a suspect first batch (it disagreed with its index entry)
        assert_eq!(consistent_batches(None, true, &h(&[25, 30]), none), 0);
        assert_eq!(consistent_batches(None, true, &h(&[20, 30]), none), 2);
        // below the batch before them
        assert_eq!(consistent_batches(Some(40), false, &h(&[30]), none), 0);
    }

    #[test]
    fn file_names_are_twenty_digits() {
        assert_eq!(file_name(0, "log"), "00000000000000000000.log");
        assert_eq!(
            file_name(1234, "timeindex"),
            "00000000000000001234.timeindex"
        );
        assert_eq!(
            parse_base_offset("00000000000000001234.log", "log"),
            Some(1234)
        );
        assert_eq!(parse_base_offset("1234.log", "log"), None);
        assert_eq!(parse_base_offset("00000000000000001234.index", "log"), None);
    }
}
