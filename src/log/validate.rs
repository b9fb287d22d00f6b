//! Validating a producer's batches before anything is written (Kafka's `LogValidator` and
//! `UnifiedLog.analyzeAndValidateRecords`), and the header rewrites an append makes (base
//! offset, partition leader epoch, LogAppendTime). Uses the header ([`super::batch`]) and
//! the records inside a batch ([`super::records`]); neither of those uses this.

use super::batch::*;
use super::{LogError, RecordError, TopicPartition};

/// What validation learned about one batch of an append.
#[derive(Clone, Copy, Debug)]
pub struct ValidatedBatch {
    pub position: usize,
    pub size: usize,
    pub header: BatchHeader,
    /// Max record timestamp, recomputed from the records (decompressed if need be).
    pub max_timestamp: i64,
}

/// Validates a producer's records (one or more v2 batches back to back) as Kafka's
/// `LogValidator` and `UnifiedLog.analyzeAndValidateRecords` do, before anything is written:
///
/// - every batch whole, `batch_length` consistent with the bytes (CORRUPT_MESSAGE);
/// - magic 2 (older: UNSUPPORTED_FOR_MESSAGE_FORMAT, unknown: CORRUPT_MESSAGE);
/// - CRC-32C over attributes..end (CORRUPT_MESSAGE);
/// - size <= `max_message_bytes` (MESSAGE_TOO_LARGE);
/// - base offset 0, as clients send it; `last_offset_delta + 1 == records_count > 0`;
///   a compressed v2 append carries exactly one batch (INVALID_RECORD);
/// - no control batches (only a transaction coordinator writes those), and a batch with a
///   producer id carries a sequence number (INVALID_RECORD): the stateless half of the
///   idempotent producer's checks, the rest being [`super::producer_state`]'s;
/// - for uncompressed batches every record is parsed: lengths in bounds, offset deltas
///   0, 1, 2… (INVALID_RECORD / CORRUPT_MESSAGE);
/// - on a compacted topic ([`Rules::compacted`]), every record has a key: a batch with
///   records whose key is null is INVALID_RECORD with one [`RecordError`] per such record
///   ([`LogError::RecordErrors`], Kafka's `LogValidator.validateKey`), found in the same
///   walk as the checks above;
/// - compressed batches are decompressed as a stream, to at most
///   [`MAX_DECOMPRESSED_BYTES`](super::records::MAX_DECOMPRESSED_BYTES) (MESSAGE_TOO_LARGE
///   past it), and every record walked the same way: a section that does not decompress is
///   CORRUPT_MESSAGE, records that are malformed, fewer or more than counted, or out of
///   order are INVALID_RECORD ([`super::records::validate_compressed`]).
///
/// Either way the batch is stored as it came; only its header is rewritten ([`assign`]).
pub fn validate_append(
    records: &[u8],
    max_message_bytes: usize,
) -> Result<Vec<ValidatedBatch>, LogError> {
    validate_append_with(
        records,
        &Rules {
            max_message_bytes,
            allow_control: false,
            allow_no_sequence: false,
            compacted: None,
        },
    )
}

/// What an append is checked against, besides the bytes themselves.
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    /// The topic's `max.message.bytes`.
    pub max_message_bytes: usize,
    /// Control batches allowed: for batches the broker writes itself (the metadata
    /// quorum's leader-change and voters records), never for a client's.
    pub allow_control: bool,
    /// A batch with a producer id may carry no sequence (-1): a coordinator's
    /// transactional offset commits (Kafka's `AppendOrigin.COORDINATOR`).
    pub allow_no_sequence: bool,
    /// The partition, when its topic is compacted (`cleanup.policy` includes `compact`)
    /// and the records must all have keys; it is named in the refusal's messages.
    pub compacted: Option<&'a TopicPartition>,
}

/// [`validate_append`] under `rules`.
pub fn validate_append_with(
    records: &[u8],
    rules: &Rules<'_>,
) -> Result<Vec<ValidatedBatch>, LogError> {
    let (max_message_bytes, allow_control) = (rules.max_message_bytes, rules.allow_control);
    if records.is_empty() {
        return Err(LogError::Corrupt("empty record set".into()));
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(rest) = records.get(pos..).filter(|r| !r.is_empty()) {
        if rest.len() < LOG_OVERHEAD + 5 {
            return Err(LogError::Corrupt(format!(
                "truncated record batch: {} bytes left",
                rest.len()
            )));
        }
        let magic = rest.get(MAGIC).map_or(0, |&m| m as i8);
        if magic < CURRENT_MAGIC {
            return Err(LogError::UnsupportedForMessageFormat(magic));
        }
        if magic > CURRENT_MAGIC {
            return Err(LogError::Corrupt(format!("unknown magic {magic}")));
        }
        let header = BatchHeader::parse(rest)
            .ok_or_else(|| LogError::Corrupt("record batch shorter than its header".into()))?;
        let size = header
            .size()
            .ok_or_else(|| LogError::Corrupt(format!("batch length {}", header.batch_length)))?;
        if size > max_message_bytes {
            return Err(LogError::MessageTooLarge {
                size,
                max: max_message_bytes,
            });
        }
        if size > rest.len() {
            return Err(LogError::Corrupt(format!(
                "batch of {size} bytes but only {} bytes sent",
                rest.len()
            )));
        }
        let Some(batch) = rest.get(..size) else {
            return Err(LogError::Corrupt(format!(
                "batch of {size} bytes cut short"
            )));
        };
        check_integrity(batch)?;
        if header.base_offset != 0 {
            return Err(LogError::InvalidRecord(format!(
                "the base offset of a produced batch must be 0, not {}",
                header.base_offset
            )));
        }
        if header.last_offset_delta < 0 {
            return Err(LogError::InvalidRecord(
                "batch has an invalid offset range".into(),
            ));
        }
        if header.records_count <= 0 {
            return Err(LogError::InvalidRecord(format!(
                "invalid record count {}",
                header.records_count
            )));
        }
        if i64::from(header.last_offset_delta) + 1 != i64::from(header.records_count) {
            return Err(LogError::InvalidRecord(format!(
                "inconsistent batch offset range (last offset delta {}) and record count {}",
                header.last_offset_delta, header.records_count
            )));
        }
        if header.is_control() && !allow_control {
            return Err(LogError::InvalidRecord(
                "clients are not allowed to write control records".into(),
            ));
        }
        if header.producer_id >= 0
            && header.base_sequence < 0
            && !rules.allow_no_sequence
            && !header.is_control()
        {
            return Err(LogError::InvalidRecord(format!(
                "invalid sequence number {} in a record batch with producer id {}",
                header.base_sequence, header.producer_id
            )));
        }
        let compression = header.compression()?;
        let find_keyless = rules.compacted.is_some();
        let walk = if compression == Compression::None {
            super::records::validate_uncompressed(batch, &header, find_keyless)?
        } else {
            if pos != 0 || size != records.len() {
                return Err(LogError::InvalidRecord(
                    "compressed append carries more than one batch".into(),
                ));
            }
            super::records::validate_compressed(batch, &header, compression, find_keyless)?
        };
        if let (Some(tp), false) = (rules.compacted, walk.keyless.is_empty()) {
            // Kafka refuses the batch with every keyless record in it, indexed in the batch
            return Err(LogError::RecordErrors {
                errors: walk
                    .keyless
                    .iter()
                    .map(|&i| RecordError::keyless_in_compacted_topic(i, tp))
                    .collect(),
                total: walk.keyless_total,
            });
        }
        out.push(ValidatedBatch {
            position: pos,
            size,
            header,
            max_timestamp: walk.max_timestamp,
        });
        pos += size;
    }
    Ok(out)
}

/// Rewrites a validated batch's header for the log: its base offset, the partition leader
/// epoch, and, under LogAppendTime, the timestamp type and max timestamp (then the CRC,
/// which covers attributes and timestamps but not the offset or epoch). Under CreateTime a
/// batch whose header max timestamp disagrees with its records is corrected, as Kafka's
/// `LogValidator` does for compressed batches too.
/// `header` starts as a copy of the batch's first [`HEADER_SIZE`] bytes and is the only
/// thing written: `batch` (the whole batch as sent) is read for the CRC, never changed, so
/// the body can go to the log straight from the request. Returns the batch's max timestamp
/// as stored.
pub fn assign(
    header: &mut [u8; HEADER_SIZE],
    batch: &[u8],
    v: &ValidatedBatch,
    base_offset: i64,
    leader_epoch: i32,
    timestamp_type: TimestampType,
    now_ms: i64,
) -> i64 {
    put(header, BASE_OFFSET, &base_offset.to_be_bytes());
    put(header, PARTITION_LEADER_EPOCH, &leader_epoch.to_be_bytes());
    let (attributes, max_timestamp) = match timestamp_type {
        TimestampType::LogAppendTime => (v.header.attributes | TIMESTAMP_TYPE_MASK, now_ms),
        TimestampType::CreateTime => (v.header.attributes & !TIMESTAMP_TYPE_MASK, v.max_timestamp),
    };
    if attributes != v.header.attributes || max_timestamp != v.header.max_timestamp {
        put(header, ATTRIBUTES, &attributes.to_be_bytes());
        put(header, MAX_TIMESTAMP, &max_timestamp.to_be_bytes());
        // the CRC runs from the attributes (in the new header) to the end (in the batch)
        let crc = crc32c::crc32c_append(
            crc32c::crc32c(header.get(ATTRIBUTES..).unwrap_or_default()),
            batch.get(HEADER_SIZE..).unwrap_or_default(),
        );
        put(header, CRC, &crc.to_be_bytes());
    }
    max_timestamp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::records::{encode_batch, NewRecord};

    fn sample(n: usize) -> Vec<u8> {
        let recs: Vec<NewRecord> = (0..n)
            .map(|i| {
                NewRecord::new(Some(format!("k{i}")), format!("value {i}")).at(1_000 + i as i64)
            })
            .collect();
        encode_batch(&recs, 0)
    }

    #[test]
    fn validates_a_well_formed_batch() {
        let b = sample(3);
        let v = validate_append(&b, 1 << 20).expect("valid");
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].header.records_count, 3);
        assert_eq!(v[0].max_timestamp, 1_002);
    }

    #[test]
    fn rejects_bad_crc_as_corrupt_message() {
        let mut b = sample(2);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        let err = validate_append(&b, 1 << 20).expect_err("rejected");
        assert_eq!(err.code().code(), 2, "{err}");
    }

    #[test]
    fn rejects_oversized_batch_as_message_too_large() {
        let b = sample(50);
        let err = validate_append(&b, 100).expect_err("rejected");
        assert_eq!(err.code().code(), 10, "{err}");
    }

    #[test]
    fn rejects_old_magic_and_wrong_counts() {
        let mut b = sample(2);
        b[MAGIC] = 1;
        assert_eq!(
            validate_append(&b, 1 << 20)
                .expect_err("rejected")
                .code()
                .code(),
            43
        );

        let mut b = sample(2);
        b[RECORDS_COUNT..RECORDS_COUNT + 4].copy_from_slice(&3i32.to_be_bytes());
        let crc = compute_crc(&b);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            validate_append(&b, 1 << 20)
                .expect_err("rejected")
                .code()
                .code(),
            87
        );
    }

    #[test]
    fn rejects_control_batches_and_producer_ids_without_a_sequence() {
        // as Kafka's LogValidator does for a client's batch: INVALID_RECORD for both
        let mut b = sample(1);
        let attributes = be_i16(&b, ATTRIBUTES).unwrap_or(0) | CONTROL_MASK;
        b[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        let crc = compute_crc(&b);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        let err = validate_append(&b, 1 << 20).expect_err("control batch refused");
        assert_eq!(err.code().code(), 87, "{err}");

        let mut b = sample(2);
        set_producer(&mut b, 7, 0, -1);
        let err = validate_append(&b, 1 << 20).expect_err("no sequence refused");
        assert_eq!(err.code().code(), 87, "{err}");
        set_producer(&mut b, 7, 0, 0);
        validate_append(&b, 1 << 20).expect("sequence 0 accepted");
        set_producer(&mut b, -1, -1, -1);
        validate_append(&b, 1 << 20).expect("no producer, no sequence accepted");
    }

    #[test]
    fn rejects_truncated_and_negative_lengths() {
        let b = sample(2);
        for cut in [1, 10, 20, HEADER_SIZE, b.len() - 1] {
            let err = validate_append(&b[..cut], 1 << 20).expect_err("rejected");
            assert_eq!(err.code().code(), 2, "cut at {cut}: {err}");
        }
        let mut b = sample(1);
        b[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(
            validate_append(&b, 1 << 20)
                .expect_err("rejected")
                .code()
                .code(),
            2
        );
    }

    /// `records` as one batch compressed with `codec` (attribute bits 1-4), header and CRC
    /// as a producer writes them; `section` replaces the records section before
    /// compression when given.
    fn compressed(records: &[NewRecord], codec: i16, section: Option<&[u8]>) -> Vec<u8> {
        let plain = encode_batch(records, 0);
        let section = section.unwrap_or(&plain[HEADER_SIZE..]);
        with_section(&plain, codec, &compress(codec, section))
    }

    fn compress(codec: i16, data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        match codec {
            1 => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).expect("gzip");
                e.finish().expect("gzip")
            }
            2 => snap::raw::Encoder::new()
                .compress_vec(data)
                .expect("snappy"),
            3 => {
                let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
                e.write_all(data).expect("lz4");
                e.finish().expect("lz4")
            }
            _ => {
                ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
            }
        }
    }

    /// `plain`'s header with `codec` bits, then `section` as its records, length and CRC
    /// fixed: a batch whose checksum is valid whatever is inside.
    fn with_section(plain: &[u8], codec: i16, section: &[u8]) -> Vec<u8> {
        let mut b = plain[..HEADER_SIZE].to_vec();
        b.extend_from_slice(section);
        let len = (b.len() - LOG_OVERHEAD) as i32;
        b[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
        let attributes = (be_i16(&b, ATTRIBUTES).unwrap_or(0) & !0x07) | codec;
        b[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        let crc = compute_crc(&b);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    const CODECS: [(i16, &str); 4] = [(1, "gzip"), (2, "snappy"), (3, "lz4"), (4, "zstd")];

    fn records(n: usize) -> Vec<NewRecord> {
        (0..n)
            .map(|i| {
                NewRecord::new(Some(format!("k{i}")), format!("value {i} ").repeat(20))
                    .at(1_000 + i as i64)
            })
            .collect()
    }

    #[test]
    fn valid_compressed_batches_are_accepted_with_their_max_timestamp() {
        for (codec, name) in CODECS {
            let b = compressed(&records(30), codec, None);
            let v = validate_append(&b, 1 << 20).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].header.records_count, 30, "{name}");
            assert_eq!(v[0].max_timestamp, 1_029, "{name}: from the records");
        }
    }

    /// Kafka's LogValidator decompresses a client's compressed batch and iterates its
    /// records (DefaultRecordBatch's iterator): records that do not parse, fewer records
    /// than the header counts ("premature EOF"), or more ("records still remaining") are
    /// INVALID_RECORD. Rafka also refuses offset deltas out of order (Kafka would rebuild
    /// the batch).
    #[test]
    fn compressed_batches_with_bad_records_inside_are_invalid_record() {
        let three = encode_batch(&records(3), 0);
        let two = encode_batch(&records(2), 0);
        let mut swapped = records(2);
        swapped.swap(0, 1);
        let mut trailing = three[HEADER_SIZE..].to_vec();
        trailing.extend_from_slice(&[0, 0, 0]);
        let cases: [(&str, Vec<u8>); 5] = [
            (
                "garbage records",
                b"these are not records at all, just text".repeat(3),
            ),
            ("fewer records than counted", two[HEADER_SIZE..].to_vec()),
            ("trailing bytes", trailing),
            ("offset deltas out of order", {
                // two records whose offset deltas are 1 then 0
                let mut recs = Vec::new();
                for (i, r) in swapped.iter().enumerate() {
                    let one = encode_batch(std::slice::from_ref(r), 0);
                    let mut rec = one[HEADER_SIZE..].to_vec();
                    // [length][attributes][timestamp delta 0][offset delta 0] -> delta 1 - i
                    assert_eq!(rec[3], 0);
                    rec[3] = if i == 0 { 2 } else { 0 };
                    recs.extend_from_slice(&rec);
                }
                recs
            }),
            ("a record longer than its fields", {
                let mut r = two[HEADER_SIZE..].to_vec();
                r[0] += 2; // record length + 1 (zig-zag)
                r
            }),
        ];
        for (codec, name) in CODECS {
            for (what, section) in &cases {
                let count = if what.starts_with("offset") { 2 } else { 3 };
                let b = compressed(&records(count), codec, Some(section));
                let err = validate_append(&b, 1 << 20).expect_err("refused");
                assert_eq!(err.code().code(), 87, "{name}, {what}: {err}");
            }
        }
    }

    /// A compressed section that its codec cannot decompress: CORRUPT_MESSAGE (Kafka's
    /// "Failed to decompress record stream").
    #[test]
    fn compressed_batches_that_do_not_decompress_are_corrupt_message() {
        let plain = encode_batch(&records(3), 0);
        for (codec, name) in CODECS {
            let good = compress(codec, &plain[HEADER_SIZE..]);
            let mut flipped = good.clone();
            let mid = flipped.len() / 2;
            for x in &mut flipped[mid..mid + 8] {
                *x ^= 0x5a;
            }
            let cut = good[..good.len() / 2].to_vec();
            for (what, section) in [
                (
                    "noise",
                    b"\x00\xffdefinitely not compressed data\xff\x00".to_vec(),
                ),
                ("flipped bytes", flipped),
                ("cut in half", cut),
            ] {
                let b = with_section(&plain, codec, &section);
                let err = validate_append(&b, 1 << 20).expect_err("refused");
                let code = err.code().code();
                // a flipped byte may also decompress to records that do not parse
                assert!(
                    code == 2 || (code == 87 && what != "noise"),
                    "{name}, {what}: {err}"
                );
            }
        }
    }

    fn compacted(tp: &TopicPartition) -> Rules<'_> {
        Rules {
            max_message_bytes: 1 << 20,
            allow_control: false,
            allow_no_sequence: false,
            compacted: Some(tp),
        }
    }

    /// `keys[i]` is record i's key (`None`: null).
    fn keyed(keys: &[Option<&str>]) -> Vec<NewRecord> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| NewRecord::new(*k, format!("value {i}")).at(1_000 + i as i64))
            .collect()
    }

    /// Kafka's `LogValidator.validateKey`: on a compacted topic a record with a null key is
    /// refused, INVALID_RECORD with one record error per such record, indexed in its batch,
    /// whether the batch is compressed or not; an empty key is a key. A delete-policy topic
    /// takes the same batch.
    #[test]
    fn compacted_topics_refuse_records_without_a_key() {
        let tp = TopicPartition::new("kv", 3);
        let recs = keyed(&[Some("a"), None, Some(""), None, Some("b")]);
        let message = "Compacted topic cannot accept message without key in topic partition kv-3";
        let plain = encode_batch(&recs, 0);
        let mut batches = vec![("uncompressed", plain.clone())];
        for (codec, name) in CODECS {
            batches.push((name, compressed(&recs, codec, None)));
        }
        for (name, b) in &batches {
            let err = validate_append_with(b, &compacted(&tp)).expect_err("refused");
            assert_eq!(err.code().code(), 87, "{name}: {err}");
            let LogError::RecordErrors { errors, total } = &err else {
                panic!("{name}: {err:?}");
            };
            assert_eq!(*total, 2, "{name}");
            assert_eq!(
                errors,
                &[1, 3]
                    .map(|batch_index| RecordError {
                        batch_index,
                        message: message.into()
                    })
                    .to_vec(),
                "{name}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "One or more records have been rejected due to 2 record errors in total, \
                     and only showing the first three errors at most: \
                     [RecordError(batchIndex=1, message='{message}'), \
                     RecordError(batchIndex=3, message='{message}')]"
                ),
                "{name}"
            );
            validate_append(b, 1 << 20).unwrap_or_else(|e| panic!("{name}, delete policy: {e}"));
        }

        let all_keyed = keyed(&[Some("a"), Some(""), Some("c")]);
        validate_append_with(&encode_batch(&all_keyed, 0), &compacted(&tp)).expect("all keyed");
        validate_append_with(&compressed(&all_keyed, 4, None), &compacted(&tp))
            .expect("all keyed, zstd");
    }

    /// The record errors are of the first batch that has any, indexed within it; a later
    /// malformed record is the error instead (Kafka stops its walk there, before it
    /// reports record errors).
    #[test]
    fn record_errors_name_the_batch_and_yield_to_malformed_records() {
        let tp = TopicPartition::new("kv", 0);
        let mut two = encode_batch(&keyed(&[Some("a"), Some("b")]), 0);
        two.extend_from_slice(&encode_batch(&keyed(&[Some("c"), None]), 0));
        let err = validate_append_with(&two, &compacted(&tp)).expect_err("refused");
        let LogError::RecordErrors { errors, total } = &err else {
            panic!("{err:?}");
        };
        assert_eq!((errors.len(), errors[0].batch_index, *total), (1, 1, 1));

        // keyless record 0, then a record with a negative header count (its last byte)
        let recs = keyed(&[None, Some("k")]);
        let mut plain = encode_batch(&recs, 0);
        let last = plain.len() - 1;
        plain[last] = 0x7f;
        let crc = compute_crc(&plain);
        plain[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        let gzip = compressed(&recs, 1, Some(&plain[HEADER_SIZE..]));
        for (name, b) in [("uncompressed", &plain), ("gzip", &gzip)] {
            let err = validate_append_with(b, &compacted(&tp)).expect_err("refused");
            assert!(
                matches!(err, LogError::InvalidRecord(_)),
                "{name}: the malformed record is the error: {err:?}"
            );
        }
    }

    /// A batch of more keyless records than [`MAX_RECORD_ERRORS`] lists that many, and
    /// counts them all in the message.
    #[test]
    fn record_errors_are_capped_and_counted() {
        use crate::log::records::MAX_RECORD_ERRORS;
        let tp = TopicPartition::new("kv", 0);
        let n = MAX_RECORD_ERRORS + 5;
        let recs: Vec<NewRecord> = (0..n).map(|_| NewRecord::new(None::<&str>, "")).collect();
        let b = compressed(&recs, 4, None);
        let err = validate_append_with(&b, &compacted(&tp)).expect_err("refused");
        let LogError::RecordErrors { errors, total } = &err else {
            panic!("{err:?}");
        };
        assert_eq!((errors.len(), *total), (MAX_RECORD_ERRORS, n));
        assert_eq!(
            errors.last().map(|e| e.batch_index),
            Some(MAX_RECORD_ERRORS as i32 - 1)
        );
        assert!(err.to_string().starts_with(&format!(
            "One or more records have been rejected due to {n} record errors"
        )));
    }

    #[test]
    fn assign_sets_offset_epoch_and_log_append_time_with_a_valid_crc() {
        let mut b = sample(2);
        let sent = b.clone();
        let v = validate_append(&b, 1 << 20).expect("valid")[0];
        let mut header = [0u8; HEADER_SIZE];
        header.copy_from_slice(&b[..HEADER_SIZE]);
        let ts = assign(
            &mut header,
            &b,
            &v,
            42,
            7,
            TimestampType::LogAppendTime,
            99_999,
        );
        assert_eq!(ts, 99_999);
        assert_eq!(b, sent, "the batch itself is not changed");
        b[..HEADER_SIZE].copy_from_slice(&header);
        let h = check_integrity(&b).expect("crc still valid");
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.partition_leader_epoch, 7);
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(h.max_timestamp, 99_999);
        assert_eq!(h.last_offset(), 43);
    }
}
