//! The metadata image as the quorum's state machine: every committed record is decoded
//! as a KRaft [`MetadataRecord`] and applied to a [`MetadataImage`] that readers share; a
//! snapshot is the image's own records (Kafka's snapshots hold the same).
//!
//! This is what each controller runs. Readers (the broker's handlers, tests comparing
//! nodes) take the image through [`SharedImage`]; [`SharedImage::applied_offset`] says how
//! far into the metadata log it is.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::sync::watch;
use tracing::warn;

use super::MetadataStateMachine;
use crate::metadata::image::MetadataImage;
use crate::metadata::records::MetadataRecord;

/// A metadata image and how far into the log it is, shared between the quorum (which
/// applies to it) and its readers.
#[derive(Clone, Debug)]
pub struct SharedImage {
    image: Arc<RwLock<MetadataImage>>,
    applied: Arc<AtomicI64>,
    /// The applied offset, for those who wait for the image to change.
    changes: Arc<watch::Sender<i64>>,
}

impl Default for SharedImage {
    fn default() -> Self {
        SharedImage::new()
    }
}

impl SharedImage {
    /// An empty image, before the first record (applied offset -1).
    pub fn new() -> Self {
        SharedImage {
            image: Arc::default(),
            applied: Arc::new(AtomicI64::new(-1)),
            changes: Arc::new(watch::channel(-1).0),
        }
    }

    /// A watch of the applied offset: it changes after every applied batch or restore.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.changes.subscribe()
    }

    /// Waits until `cond` holds for the image, at most `timeout`; whether it held.
    pub async fn wait_for(
        &self,
        cond: impl Fn(&MetadataImage) -> bool,
        timeout: std::time::Duration,
    ) -> bool {
        let mut rx = self.subscribe();
        let wait = async {
            loop {
                if self.read(&cond) {
                    return;
                }
                if rx.changed().await.is_err() {
                    // no more changes can come: poll slowly
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// Runs `f` on the image as of now.
    pub fn read<T>(&self, f: impl FnOnce(&MetadataImage) -> T) -> T {
        f(&self.image.read())
    }

    /// The image's digest (equal images, equal digests).
    pub fn digest(&self) -> u32 {
        self.image.read().digest()
    }

    /// The offset of the last metadata log entry applied, -1 before the first.
    pub fn applied_offset(&self) -> i64 {
        self.applied.load(Ordering::Acquire)
    }

    /// The image and the offset it is as of, read together (a copy).
    pub fn image_at(&self) -> (i64, MetadataImage) {
        let image = self.image.read();
        (self.applied.load(Ordering::Acquire), image.clone())
    }

    /// The state machine the quorum drives, applying to this image.
    pub fn state_machine(&self) -> ImageStateMachine {
        ImageStateMachine {
            shared: self.clone(),
        }
    }
}

/// [`MetadataStateMachine`] over a [`SharedImage`].
#[derive(Debug)]
pub struct ImageStateMachine {
    shared: SharedImage,
}

impl MetadataStateMachine for ImageStateMachine {
    fn apply(&mut self, offset: i64, records: &[Bytes]) {
        {
            let mut image = self.shared.image.write();
            for bytes in records {
                match MetadataRecord::decode(bytes) {
                    Ok(record) => {
                        image.apply(&record);
                    }
                    // every voter skips the same record, so the images still agree; Kafka
                    // would stop the controller on a record it cannot read
                    Err(e) => warn!(offset, "metadata record skipped, undecodable: {e}"),
                }
            }
            // under the lock, so a reader sees the image and its offset together
            self.shared.applied.store(offset, Ordering::Release);
        }
        self.shared.changes.send_replace(offset);
    }

    fn snapshot(&self) -> Vec<Bytes> {
        self.shared
            .image
            .read()
            .snapshot_records()
            .iter()
            .map(MetadataRecord::encode)
            .collect()
    }

    fn restore(&mut self, end_offset: i64, records: Vec<Bytes>) {
        let decoded: Vec<MetadataRecord> = records
            .iter()
            .filter_map(|b| match MetadataRecord::decode(b) {
                Ok(r) => Some(r),
                Err(e) => {
                    warn!("snapshot record skipped, undecodable: {e}");
                    None
                }
            })
            .collect();
        let applied = end_offset - 1;
        {
            let mut image = self.shared.image.write();
            *image = MetadataImage::restore(&decoded);
            self.shared.applied.store(applied, Ordering::Release);
        }
        self.shared.changes.send_replace(applied);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::sample::sample_cluster_records;

    #[test]
    fn applies_records_and_restores_from_its_snapshot() {
        let records = sample_cluster_records();
        let bytes: Vec<Bytes> = records.iter().map(MetadataRecord::encode).collect();
        let shared = SharedImage::new();
        let mut sm = shared.state_machine();
        assert_eq!(shared.applied_offset(), -1);
        sm.apply(7, &bytes);
        assert_eq!(shared.applied_offset(), 7);
        assert_eq!(
            shared.digest(),
            MetadataImage::from_records(&records).digest()
        );

        let other = SharedImage::new();
        other.state_machine().restore(8, sm.snapshot());
        assert_eq!(other.applied_offset(), 7);
        assert_eq!(other.digest(), shared.digest());

        // garbage is skipped, not fatal, and leaves the image as it was
        sm.apply(8, &[Bytes::from_static(b"\xff\xff")]);
        assert_eq!(shared.digest(), other.digest());
        assert_eq!(shared.applied_offset(), 8);
    }
}
