//! `CONSUME <topic> <partition> <offset> [max]` → `<offset> <key> <value>` lines, then
//! `END <next-offset>`. Reads whole batches below the last stable offset with
//! [`Partition::read`](crate::partition::Partition::read), as a Kafka consumer with
//! `isolation.level=read_committed` would, and decodes them with [`decode_batch`] (which
//! decompresses batches from Kafka clients); records before `offset` in the first batch
//! are skipped. Committed data only: records of aborted transactions are left out, as are
//! transaction markers, and an open transaction's records (and everything after them)
//! wait until it is decided (`END` stops at its first offset). Without transactions the
//! last stable offset is the high watermark.
//!
//! A reply holds at most `max` records and stops early once it passes
//! [`MAX_REPLY_BYTES`] (after at least one record); `END`'s offset says where to go on.
//! A record with a null value prints as `<offset> <key>` (no third field).
//!
//! A stored batch that does not decode (one written before compressed appends were
//! validated, or damaged on disk with its CRC still valid) ends the reply instead of `END`:
//! the records before it, then an `ERR` line naming its offsets, so a reader can go on past
//! it.

use std::sync::Arc;

use tracing::warn;

use super::{blocking, partition, Context, TextError};
use crate::log::batch::BatchIter;
use crate::log::records::decode_batch;
use crate::partition::ReadBound;
use crate::text::escape;

/// A CONSUME reply stops taking records once it is this long.
pub const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// Bytes asked of the log per read.
const READ_BYTES: usize = 1024 * 1024;

pub async fn consume(
    ctx: &Arc<Context>,
    topic: String,
    index: i32,
    offset: i64,
    max: usize,
) -> Result<String, TextError> {
    let log = partition(&ctx.broker, &topic, index)?;
    blocking(move || {
        let mut out = String::new();
        let mut next = offset;
        let mut count = 0usize;
        // read() checks the offset against [log start, log end] first
        'reads: loop {
            let data = log.read(next, READ_BYTES, true, ReadBound::LastStable)?;
            if data.records.is_empty() {
                break;
            }
            let aborted = log.aborted_transactions(next, data.last_stable_offset)?;
            let before = next;
            for (at, header) in BatchIter::new(&data.records) {
                let Some(end) = header.size().map(|s| at + s) else {
                    break;
                };
                let Some(batch) = data.records.get(at..end) else {
                    break;
                };
                if count >= max || (count > 0 && out.len() >= MAX_REPLY_BYTES) {
                    // full: a batch that prints nothing is not decoded (nor its error shown)
                    break 'reads;
                }
                if header.is_transactional()
                    && aborted.iter().any(|a| {
                        a.producer_id == header.producer_id
                            && (a.first_offset..=a.last_offset).contains(&header.base_offset)
                    })
                {
                    // an aborted transaction's batch: never shown
                    next = next.max(header.next_offset());
                    continue;
                }
                let records = match decode_batch(batch) {
                    Ok(records) => records,
                    Err(cause) => {
                        warn!(
                            %topic, partition = index, base_offset = header.base_offset,
                            cause = %cause, "a stored batch does not decode"
                        );
                        let err = TextError::BadBatch {
                            base_offset: header.base_offset,
                            last_offset: header.last_offset(),
                            cause,
                        };
                        out.push_str(&err.to_line());
                        return Ok(out);
                    }
                };
                for r in records {
                    if r.offset < next {
                        continue;
                    }
                    if count >= max || (count > 0 && out.len() >= MAX_REPLY_BYTES) {
                        break 'reads;
                    }
                    push_record(&mut out, r.offset, r.key.as_deref(), r.value.as_deref());
                    next = r.offset + 1;
                    count += 1;
                }
                // past the batch's last offset even if compaction or a control batch left
                // no record there
                next = next.max(header.next_offset());
            }
            if next <= before || next >= data.last_stable_offset || count >= max {
                break;
            }
        }
        out.push_str(&format!("END {next}\n"));
        Ok(out)
    })
    .await
}

fn push_record(out: &mut String, offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
    out.push_str(&offset.to_string());
    out.push(' ');
    escape::push_key(out, key);
    if let Some(v) = value {
        out.push(' ');
        escape::push_value(out, v);
    }
    out.push('\n');
}
