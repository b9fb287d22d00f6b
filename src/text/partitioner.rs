//! Kafka's default partitioner for keyed records, bit for bit: the Java client's
//! `Utils.murmur2` (seed `0x9747b28c`) of the key bytes, then `toPositive(hash) %
//! numPartitions` where `toPositive` is `hash & 0x7fffffff`. A record produced here with a
//! key lands in the partition a Java (or librdkafka `murmur2_random`) producer would pick
//! for the same key, so text and Kafka producers keep per-key order together.

/// `org.apache.kafka.common.utils.Utils.murmur2`: MurmurHash2, 32-bit, seed `0x9747b28c`,
/// reading the body as little-endian words and the tail in Java's fall-through order.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    // Java uses the int length: keys are < 2 GiB (a line is at most 1 MiB)
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let Ok(word) = <[u8; 4]>::try_from(chunk) else {
            break; // chunks_exact(4): never shorter
        };
        let mut k = u32::from_le_bytes(word);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if let Some(&b) = tail.get(2) {
        h ^= u32::from(b) << 16;
    }
    if let Some(&b) = tail.get(1) {
        h ^= u32::from(b) << 8;
    }
    if let Some(&b) = tail.first() {
        h ^= u32::from(b);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on `i32::MIN`).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Kafka's default partitioner picks for `key` among `partitions`
/// (`BuiltInPartitioner.partitionForKey`). `partitions` must be at least 1.
pub fn partition_for_key(key: &[u8], partitions: usize) -> usize {
    to_positive(murmur2(key)) as usize % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes from the Java client (kafka-clients 4.3.1, `Utils.murmur2` on the UTF-8
    /// bytes); the ones for "21", "foobar", "a-little-bit-long-string" and the long key are
    /// also Kafka's own `UtilsTest.testMurmur2` vectors.
    const JAVA: &[(&str, i32)] = &[
        ("", 275646681),
        ("a", -1563381124),
        ("ab", 316155434),
        ("abc", 479470107),
        ("abcd", -1323649548),
        ("key1", 28543940),
        ("hello", 2132663229),
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        (
            "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58897971,
        ),
        ("user-42", 1459644460),
        ("Payments", 1563066100),
        ("ü", 1419834458),
    ];

    #[test]
    fn murmur2_matches_the_java_client() {
        for &(key, hash) in JAVA {
            assert_eq!(murmur2(key.as_bytes()), hash, "{key:?}");
        }
        // bytes with the high bit set: Java's signed bytes must not sign-extend here
        assert_eq!(murmur2(&[0x80, 0xff, 0x00, 0x7f, 0xfe]), 1695070420);
    }

    #[test]
    fn partitions_match_the_java_default_partitioner() {
        // toPositive(murmur2(key)) % n, computed with the Java client
        for (key, n, want) in [
            ("key1", 3, 2),
            ("key1", 4, 0),
            ("key1", 7, 5),
            ("a", 3, 1),
            ("a", 7, 5),
            ("21", 3, 0),
            ("21", 7, 3),
            ("foobar", 4, 2),
            ("a-little-bit-longer-string", 4, 3),
            ("Payments", 3, 1),
            ("hello", 4, 1),
        ] {
            assert_eq!(partition_for_key(key.as_bytes(), n), want, "{key} % {n}");
        }
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(partition_for_key(b"anything", 1), 0);
    }
}
