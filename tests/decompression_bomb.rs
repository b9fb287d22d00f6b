//! Decompression bombs (issue #13, item 8): a few KiB of gzip, snappy, lz4 or zstd, with a
//! valid CRC, that would expand to gigabytes. Validating the append must refuse each one
//! (MESSAGE_TOO_LARGE: Rafka decompresses at most `MAX_DECOMPRESSED_BYTES` of a batch)
//! while holding only a few MiB, whatever the batch claims.
//!
//! Memory is measured by this test binary's own allocator, which counts the bytes live on
//! each thread: the peak during one `validate_append` call, on the calling thread, is what
//! the validation held.

// A counting allocator needs `unsafe impl GlobalAlloc`; it forwards every call to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

use rafka::log::batch::{self, HEADER_SIZE, LOG_OVERHEAD};
use rafka::log::records::{encode_batch, NewRecord, MAX_DECOMPRESSED_BYTES};
use rafka::log::validate::validate_append;

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    // try_with: nothing to count once the thread's locals are gone
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Runs `f` and returns its result and the most bytes it had allocated at once on this
/// thread beyond what was live before.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get) - base;
    (out, peak.max(0) as usize)
}

const MIB: usize = 1 << 20;
/// What validating a bomb may hold: the 16 KiB walk buffer, the decompressor's state and
/// buffers (an lz4 block is at most 4 MiB, twice over), a snappy chunk of 1 MiB.
const MEMORY_BOUND: usize = 16 * MIB;
/// max.message.bytes for these calls: larger than every bomb here (the snappy one is the
/// largest, 22x being snappy's best ratio), so only the decompressed bound can refuse them.
const MAX_MESSAGE_BYTES: usize = 8 * MIB;

/// The start of a record batch's records section for one record whose value is `len`
/// bytes long: what follows it (zeros, in these bombs) is that value.
fn record_prefix(len: u64) -> Vec<u8> {
    fn varlong(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }
    let mut len_bytes = Vec::new();
    varlong(&mut len_bytes, len as i64);
    // attributes, timestamp delta, offset delta, null key, value length, value, no headers
    let record_len = 4 + len_bytes.len() as u64 + len + 1;
    let mut out = Vec::new();
    varlong(&mut out, record_len as i64);
    out.extend_from_slice(&[0, 0, 0, 1]);
    out.extend_from_slice(&len_bytes);
    out
}

/// A one-record batch header with `codec` bits around `section`, CRC valid.
fn batch_with(codec: i16, section: &[u8]) -> Vec<u8> {
    let plain = encode_batch(&[NewRecord::new(None::<Vec<u8>>, "v").at(1)], -1);
    let mut b = plain[..HEADER_SIZE].to_vec();
    b.extend_from_slice(section);
    let len = (b.len() - LOG_OVERHEAD) as i32;
    b[batch::BATCH_LENGTH..batch::BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
    b[batch::ATTRIBUTES..batch::ATTRIBUTES + 2].copy_from_slice(&codec.to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// How many MiB of zeros each bomb holds after its record prefix: past the bound.
fn bomb_mib() -> usize {
    (MAX_DECOMPRESSED_BYTES as usize / MIB) + 8
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// gzip members back to back (a gzip stream may have several, and Kafka's reader takes
/// them all): the record prefix, then one member of 1 MiB of zeros, repeated.
fn gzip_bomb() -> Vec<u8> {
    let mut out = gzip(&record_prefix(1 << 30));
    let zeros = gzip(&vec![0u8; MIB]);
    for _ in 0..bomb_mib() {
        out.extend_from_slice(&zeros);
    }
    out
}

/// One lz4 frame of independent 4 MiB blocks: the prefix's block, then the block of 4 MiB
/// of zeros, repeated, then the end mark.
fn lz4_bomb() -> Vec<u8> {
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    let info = || {
        FrameInfo::new()
            .block_size(BlockSize::Max4MB)
            .block_mode(BlockMode::Independent)
            .content_checksum(false)
            .block_checksums(false)
    };
    let frame = |data: &[u8]| {
        let mut e = FrameEncoder::with_frame_info(info(), Vec::new());
        e.write_all(data).expect("lz4");
        e.finish().expect("lz4")
    };
    const HEADER: usize = 7; // magic, FLG, BD, header checksum
    const END_MARK: usize = 4;
    let first = frame(&record_prefix(1 << 30));
    let zeros = frame(&vec![0u8; 4 * MIB]);
    assert_eq!(first[..HEADER], zeros[..HEADER], "same frame header");
    let mut out = first[..first.len() - END_MARK].to_vec();
    let block = &zeros[HEADER..zeros.len() - END_MARK];
    for _ in 0..bomb_mib() / 4 + 1 {
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&[0; END_MARK]);
    out
}

/// A zstd frame (128 KiB window) written by hand: a raw block with the prefix, then RLE
/// blocks (4 bytes each) of 128 KiB of zeros.
fn zstd_bomb() -> Vec<u8> {
    let block_header = |last: bool, kind: u32, size: u32| {
        let v = u32::from(last) | (kind << 1) | (size << 3);
        v.to_le_bytes()[..3].to_vec()
    };
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd]; // magic
    out.push(0x00); // no content size, not single-segment, no checksum, no dictionary
    out.push(7 << 3); // window 2^(10+7) = 128 KiB
    let prefix = record_prefix(1 << 30);
    out.extend(block_header(false, 0, prefix.len() as u32));
    out.extend_from_slice(&prefix);
    let blocks = bomb_mib() * 8;
    for i in 0..blocks {
        out.extend(block_header(i + 1 == blocks, 1, 128 * 1024));
        out.push(0);
    }
    out
}

/// The xerial framing the Java client writes: the prefix's chunk, then a chunk of 1 MiB of
/// zeros (snappy's best ratio is about 21x), repeated.
fn snappy_bomb() -> Vec<u8> {
    let mut out = b"\x82SNAPPY\x00".to_vec();
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut chunk = |data: &[u8]| {
        let c = snap::raw::Encoder::new()
            .compress_vec(data)
            .expect("snappy");
        out.extend_from_slice(&(c.len() as i32).to_be_bytes());
        out.extend_from_slice(&c);
    };
    chunk(&record_prefix(1 << 30));
    let zeros = vec![0u8; MIB];
    for _ in 0..bomb_mib() {
        chunk(&zeros);
    }
    out
}

/// Each codec's bomb is refused with MESSAGE_TOO_LARGE, holding less than 16 MiB while
/// validating it; the same bytes with a smaller value (under the bound) are accepted, so
/// the bound and nothing else refused them.
#[test]
fn bombs_of_every_codec_are_refused_with_memory_bounded() {
    let bombs: [(&str, i16, Vec<u8>); 4] = [
        ("gzip", 1, gzip_bomb()),
        ("snappy", 2, snappy_bomb()),
        ("lz4", 3, lz4_bomb()),
        ("zstd", 4, zstd_bomb()),
    ];
    for (name, codec, section) in bombs {
        let b = batch_with(codec, &section);
        assert!(b.len() <= MAX_MESSAGE_BYTES, "{name}: {} bytes", b.len());
        let start = std::time::Instant::now();
        let (result, peak) = peak_of(|| validate_append(&b, MAX_MESSAGE_BYTES));
        let err = result.expect_err("a bomb is refused");
        assert_eq!(err.code().code(), 10, "{name}: MESSAGE_TOO_LARGE, {err}");
        assert!(
            err.to_string().contains("decompresses to more than"),
            "{name}: {err}"
        );
        eprintln!(
            "{name}: {} byte batch refused in {:?}, peak {} KiB",
            b.len(),
            start.elapsed(),
            peak / 1024
        );
        assert!(
            peak < MEMORY_BOUND,
            "{name}: validation held {peak} bytes at once"
        );
    }
}

/// A zstd frame that asks for a 64 MiB window held 190 MiB while it decompressed (the
/// decoder keeps a window of output): a frame asking for more than 8 MiB is refused from its
/// header, MESSAGE_TOO_LARGE, before anything is decompressed; one asking for 8 MiB is
/// decompressed as any other. And bytes after the frame (which the decoder would not read)
/// are CORRUPT_MESSAGE.
#[test]
fn a_zstd_frame_asking_for_a_large_window_is_refused_from_its_header() {
    let with_window = |descriptor: u8| {
        let mut section = zstd_bomb();
        section[5] = descriptor;
        batch_with(4, &section)
    };
    let b = with_window(16 << 3); // 2^26 = 64 MiB
    let (result, peak) = peak_of(|| validate_append(&b, MAX_MESSAGE_BYTES));
    let err = result.expect_err("refused");
    assert_eq!(err.code().code(), 10, "{err}");
    assert!(err.to_string().contains("67108864-byte window"), "{err}");
    assert!(peak < MIB, "held {peak} bytes");

    let b = with_window(13 << 3); // 2^23 = 8 MiB: the bomb is refused by the output bound
    let (result, peak) = peak_of(|| validate_append(&b, MAX_MESSAGE_BYTES));
    let err = result.expect_err("refused");
    assert!(
        err.to_string().contains("decompresses to more than"),
        "{err}"
    );
    eprintln!("zstd, 8 MiB window: peak {} KiB", peak / 1024);
    assert!(peak < 4 * MEMORY_BOUND, "held {peak} bytes");

    // a valid frame, then more bytes
    let plain = encode_batch(&[NewRecord::new(None::<Vec<u8>>, "v").at(1)], -1);
    let mut section = ruzstd::encoding::compress_to_vec(
        &plain[HEADER_SIZE..],
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    validate_append(&batch_with(4, &section), MAX_MESSAGE_BYTES).expect("one frame is valid");
    section.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0]);
    let err = validate_append(&batch_with(4, &section), MAX_MESSAGE_BYTES).expect_err("refused");
    assert_eq!(err.code().code(), 2, "{err}");
}

/// A raw snappy block (as librdkafka writes) claiming 3 GiB: refused from its length alone,
/// before anything is allocated for it.
#[test]
fn a_snappy_block_claiming_gigabytes_is_refused_before_allocating() {
    let mut section = Vec::new();
    let mut n: u64 = 3 << 30;
    while n >= 0x80 {
        section.push((n as u8) | 0x80);
        n >>= 7;
    }
    section.push(n as u8);
    section.extend_from_slice(&[0; 32]);
    let b = batch_with(2, &section);
    let (result, peak) = peak_of(|| validate_append(&b, MAX_MESSAGE_BYTES));
    let err = result.expect_err("refused");
    assert_eq!(err.code().code(), 10, "{err}");
    assert!(peak < MIB, "held {peak} bytes");

    // and a block claiming more than snappy can expand its bytes to is corrupt
    let mut section = vec![0x80, 0x80, 0x10]; // 256 KiB from 32 bytes
    section.extend_from_slice(&[0; 32]);
    let b = batch_with(2, &section);
    let (result, peak) = peak_of(|| validate_append(&b, MAX_MESSAGE_BYTES));
    let err = result.expect_err("refused");
    assert_eq!(err.code().code(), 2, "CORRUPT_MESSAGE: {err}");
    assert!(peak < MIB, "held {peak} bytes");
}

/// The validation of a large valid compressed batch holds little more than its own
/// buffers too: a 32 MiB value in a gzip batch is accepted, with well under 32 MiB held.
#[test]
fn a_large_valid_batch_is_walked_not_materialized() {
    let value = 32 * MIB as u64;
    let mut section = record_prefix(value);
    section.resize(section.len() + value as usize, b'x');
    section.push(0); // no headers
    let b = batch_with(1, &gzip(&section));
    drop(section);
    let (result, peak) = peak_of(|| validate_append(&b, MAX_MESSAGE_BYTES));
    let v = result.expect("a valid batch is accepted");
    assert_eq!(v[0].header.records_count, 1);
    assert!(peak < MEMORY_BOUND, "held {peak} bytes");
}
