//! The log cleaner: compaction of `cleanup.policy=compact` logs (Kafka's `LogCleaner`).

/// The cleaner's broker-wide settings, with Kafka's names and defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CleanerConfig {
    /// `log.cleaner.enable`.
    pub enable: bool,
    /// `log.cleaner.dedupe.buffer.size`: memory for the key → offset map of one cleaning
    /// (128 MiB).
    pub dedupe_buffer_size: u64,
    /// `log.cleaner.io.max.bytes.per.second`: read and write rate of the cleaner
    /// (unlimited).
    pub io_max_bytes_per_second: f64,
    /// `log.cleaner.backoff.ms`: pause when no log needs cleaning (15 s).
    pub backoff_ms: u64,
    /// `log.cleaner.io.buffer.size`: bytes read at a time (512 KiB).
    pub io_buffer_size: usize,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            enable: true,
            dedupe_buffer_size: 128 * 1024 * 1024,
            io_max_bytes_per_second: f64::MAX,
            backoff_ms: 15_000,
            io_buffer_size: 512 * 1024,
        }
    }
}
