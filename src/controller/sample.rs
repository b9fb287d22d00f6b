//! The sample cluster (`metadata::sample`) written through a one-voter quorum, so Kafka's
//! tools can read a metadata log that Raft wrote: a VotersRecord and a LeaderChange
//! control batch, the KRaft records as data batches (one per step of the sample), and a `.checkpoint` snapshot
//! (`rafka log write-quorum`, checked by the compat suite's `quorum-metadata-decoder`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use super::image_state::SharedImage;
use super::{Quorum, QuorumConfig, QuorumError};
use crate::metadata::image::MetadataImage;
use crate::metadata::records::MetadataRecord;
use crate::metadata::sample::{sample_cluster_batches, sample_cluster_records};

/// What [`write_sample_log`] wrote.
#[derive(Clone, Debug)]
pub struct SampleLog {
    /// `<data dir>/__cluster_metadata-0`.
    pub dir: PathBuf,
    /// Records proposed (and committed).
    pub records: usize,
    /// The quorum's image digest after the last one, and the sample's own.
    pub digest: u32,
    pub expected_digest: u32,
    /// The snapshots written.
    pub checkpoints: Vec<PathBuf>,
}

/// Starts a one-voter quorum (node 1, on an ephemeral loopback port) on `data_dir`, proposes
/// the sample one batch (one step of it) at a time, waits for a snapshot (one every 5 entries), and stops.
pub async fn write_sample_log(data_dir: &Path) -> Result<SampleLog, QuorumError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| QuorumError::Config(format!("cannot bind a loopback port: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| QuorumError::Config(format!("no local address: {e}")))?;
    let mut config = QuorumConfig::new(1, BTreeMap::from([(1, addr)]), data_dir.to_path_buf());
    config.election_timeout_min = Duration::from_millis(150);
    config.election_timeout_max = Duration::from_millis(300);
    config.heartbeat_interval = Duration::from_millis(50);
    config.snapshot_every = 5;
    let image = SharedImage::new();
    let quorum = Quorum::start(config, image.state_machine(), listener).await?;
    let result = propose_all(&quorum).await;
    let dir = quorum.log_dir().to_path_buf();
    quorum.shutdown().await;
    let records = result?;
    let sample = sample_cluster_records();
    Ok(SampleLog {
        checkpoints: checkpoints(&dir),
        dir,
        records,
        digest: image.digest(),
        expected_digest: MetadataImage::from_records(&sample).digest(),
    })
}

async fn propose_all(quorum: &Quorum) -> Result<usize, QuorumError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while quorum.leader() != Some(1) {
        if Instant::now() > deadline {
            return Err(QuorumError::Timeout);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut records = 0;
    for batch in sample_cluster_batches() {
        records += batch.len();
        quorum
            .propose(batch.iter().map(MetadataRecord::encode).collect())
            .await?;
    }
    // the snapshot is built in the background
    while checkpoints(quorum.log_dir()).is_empty() {
        if Instant::now() > deadline {
            return Err(QuorumError::Timeout);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(records)
}

fn checkpoints(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "checkpoint"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sample_goes_through_one_voter_into_the_image_and_a_snapshot() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let out = write_sample_log(tmp.path()).await.expect("write");
        assert_eq!(out.digest, out.expected_digest);
        assert_eq!(out.records, sample_cluster_records().len());
        assert!(!out.checkpoints.is_empty());
        assert!(out.dir.ends_with("__cluster_metadata-0"));
    }
}
