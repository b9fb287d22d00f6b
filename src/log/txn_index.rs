//! Kafka's transaction index (`TransactionIndex`): one `<base:020>.txnindex` per segment
//! that holds the marker of an aborted transaction, listing those transactions so a
//! `read_committed` fetch can tell the consumer which records to drop.
//!
//! Format (Kafka's `AbortedTxn`, version 0), 34 bytes per entry, big endian: version i16
//! (0), producer id i64, first offset i64, last offset (the ABORT marker's) i64, last
//! stable offset i64 (when the marker was written). Entries are in marker order.
//!
//! The file is created on the first abort written into its segment and opened, appended
//! and closed per use: aborts are rare, and the open-file budget does not count it. Each
//! append is fsynced, so a flushed segment's index is complete; an unflushed segment's is
//! rebuilt by recovery. A trailing partial entry (a torn write) is dropped on the next
//! read or append, as Kafka's sanity check would rebuild it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::segment;
use super::{io_err, LogError};

/// File suffix, as Kafka's `LogFileUtils.TXN_INDEX_FILE_SUFFIX`.
pub const SUFFIX: &str = "txnindex";
/// Bytes per entry.
pub const ENTRY_SIZE: usize = 34;
const VERSION: i16 = 0;

/// One aborted transaction (Kafka's `AbortedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    /// The 34 bytes of the entry.
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut out = [0u8; ENTRY_SIZE];
        let fields: [(&[u8], usize); 5] = [
            (&VERSION.to_be_bytes(), 0),
            (&self.producer_id.to_be_bytes(), 2),
            (&self.first_offset.to_be_bytes(), 10),
            (&self.last_offset.to_be_bytes(), 18),
            (&self.last_stable_offset.to_be_bytes(), 26),
        ];
        for (bytes, at) in fields {
            if let Some(dst) = out.get_mut(at..at + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        }
        out
    }

    /// Reads one entry; `Err` with the reason on an unknown version or short input.
    pub fn decode(b: &[u8]) -> Result<Self, String> {
        use super::batch::{be_i16, be_i64};
        let short = || format!("entry of {} bytes", b.len());
        let version = be_i16(b, 0).ok_or_else(short)?;
        if version != VERSION {
            return Err(format!("unknown entry version {version}"));
        }
        Ok(AbortedTxn {
            producer_id: be_i64(b, 2).ok_or_else(short)?,
            first_offset: be_i64(b, 10).ok_or_else(short)?,
            last_offset: be_i64(b, 18).ok_or_else(short)?,
            last_stable_offset: be_i64(b, 26).ok_or_else(short)?,
        })
    }
}

/// `<dir>/<base:020>.txnindex` (with `suffix` after it: `.cleaned`, `.swap`).
pub fn path(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(segment::file_name(base_offset, SUFFIX) + suffix)
}

/// Every entry of the file at `path` (none when it does not exist). A partial trailing
/// entry or one of an unknown version ends the list there and is cut off the file.
pub fn read_file(path: &Path) -> Result<Vec<AbortedTxn>, LogError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(path)(e)),
    };
    let mut out = Vec::with_capacity(bytes.len() / ENTRY_SIZE);
    let mut good = 0;
    for chunk in bytes.chunks(ENTRY_SIZE) {
        if chunk.len() < ENTRY_SIZE {
            break;
        }
        match AbortedTxn::decode(chunk) {
            Ok(t) => out.push(t),
            Err(reason) => {
                tracing::warn!(file = %path.display(), %reason, "damaged transaction index entry");
                break;
            }
        }
        good += ENTRY_SIZE;
    }
    if good != bytes.len() {
        tracing::warn!(file = %path.display(), bytes = bytes.len() - good,
            "cutting damaged bytes off a transaction index");
        set_len(path, good as u64)?;
    }
    Ok(out)
}

/// The entries of segment `base_offset`'s index.
pub fn read(dir: &Path, base_offset: i64) -> Result<Vec<AbortedTxn>, LogError> {
    read_file(&path(dir, base_offset, ""))
}

fn set_len(path: &Path, len: u64) -> Result<(), LogError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    f.set_len(len).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// Appends `txns` to the file at `path` (created if missing) and fsyncs it.
pub fn append_file(path: &Path, txns: &[AbortedTxn]) -> Result<(), LogError> {
    if txns.is_empty() {
        return Ok(());
    }
    let created = !path.exists();
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))?;
    let len = f.metadata().map_err(io_err(path))?.len();
    if len % ENTRY_SIZE as u64 != 0 {
        // a torn entry from a crash: new entries must start on an entry boundary
        f.set_len(len - len % ENTRY_SIZE as u64)
            .map_err(io_err(path))?;
    }
    let mut bytes = Vec::with_capacity(txns.len() * ENTRY_SIZE);
    for t in txns {
        bytes.extend_from_slice(&t.encode());
    }
    f.write_all(&bytes).map_err(io_err(path))?;
    f.sync_data().map_err(io_err(path))?;
    if created {
        if let Some(dir) = path.parent() {
            super::checkpoint::sync_dir(dir)?;
        }
    }
    Ok(())
}

/// Appends `txns` to segment `base_offset`'s index.
pub fn append(dir: &Path, base_offset: i64, txns: &[AbortedTxn]) -> Result<(), LogError> {
    append_file(&path(dir, base_offset, ""), txns)
}

/// Drops the entries whose last offset is at or past `offset` (a truncation of the log
/// to `offset`), deleting the file when none is left (Kafka's `truncateTo`).
pub fn truncate(dir: &Path, base_offset: i64, offset: i64) -> Result<(), LogError> {
    let p = path(dir, base_offset, "");
    let entries = read_file(&p)?;
    let keep = entries
        .iter()
        .position(|t| t.last_offset >= offset)
        .unwrap_or(entries.len());
    if keep == entries.len() {
        return Ok(());
    }
    if keep == 0 {
        return delete(dir, base_offset, "");
    }
    set_len(&p, (keep * ENTRY_SIZE) as u64)
}

/// Deletes segment `base_offset`'s index file (with `suffix`), if any.
pub fn delete(dir: &Path, base_offset: i64, suffix: &str) -> Result<(), LogError> {
    let p = path(dir, base_offset, suffix);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&p)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_kafkas_34_bytes() {
        let t = AbortedTxn {
            producer_id: 0x0102_0304_0506_0708,
            first_offset: 5,
            last_offset: 9,
            last_stable_offset: 10,
        };
        let b = t.encode();
        let mut want = vec![0u8, 0];
        want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 5]);
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9]);
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 10]);
        assert_eq!(b.to_vec(), want);
        assert_eq!(AbortedTxn::decode(&b), Ok(t));
        let mut v1 = b;
        v1[1] = 1;
        assert!(AbortedTxn::decode(&v1).is_err(), "only version 0 is known");
    }

    #[test]
    fn files_append_truncate_and_lose_a_torn_tail() {
        let dir = tempfile::tempdir().expect("tmp");
        let t = |first: i64, last: i64| AbortedTxn {
            producer_id: 7,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        };
        assert!(read(dir.path(), 0).expect("none").is_empty());
        append(dir.path(), 0, &[t(0, 3)]).expect("append");
        append(dir.path(), 0, &[t(4, 8)]).expect("append");
        let p = path(dir.path(), 0, "");
        assert_eq!(
            p.file_name().and_then(|n| n.to_str()),
            Some("00000000000000000000.txnindex")
        );
        assert_eq!(std::fs::metadata(&p).expect("file").len(), 68);
        assert_eq!(read(dir.path(), 0).expect("read"), vec![t(0, 3), t(4, 8)]);
        // a torn write: half an entry at the end is dropped, and the next append aligns
        let mut f = OpenOptions::new().append(true).open(&p).expect("open");
        f.write_all(&[0, 0, 1, 2, 3]).expect("write");
        drop(f);
        assert_eq!(read(dir.path(), 0).expect("read"), vec![t(0, 3), t(4, 8)]);
        assert_eq!(std::fs::metadata(&p).expect("file").len(), 68);
        truncate(dir.path(), 0, 8).expect("truncate");
        assert_eq!(read(dir.path(), 0).expect("read"), vec![t(0, 3)]);
        truncate(dir.path(), 0, 2).expect("truncate");
        assert!(!p.exists(), "an index left empty is deleted");
    }
}
