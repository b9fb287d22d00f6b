//! Single-node adoption: a Rafka started (without `process.roles`) on a stopped Kafka
//! node's log dir carries over what Kafka kept in its metadata log before the broker
//! opens its logs:
//!
//! - each local topic's configs into the topic override store (`.rafka/topics/`), for the
//!   keys Rafka supports; the others are logged (and `rafka migrate --check` lists them);
//! - Kafka's next producer id as the floor of Rafka's producer id blocks
//!   (`.rafka/producer-ids`), so no id Kafka handed out is handed out again;
//! - a check that the partition dirs' `partition.metadata` (which Rafka reads its topic
//!   ids from) name the topic ids of Kafka's metadata.
//!
//! Kafka's own files are only read: `__cluster_metadata-0` stays as it is (a single-node
//! Rafka does not open it). The marker `.rafka/kafka-adopted` records the metadata end
//! offset adopted, so the next start is a no-op, and a Kafka that ran on the dir in
//! between (its metadata log then ends further) is adopted again.

use std::path::Path;

use tracing::{info, warn};

use super::inventory::{self, Plan};
use super::{kafka_metadata, MigrateError};
use crate::broker::producer_ids::ProducerIds;
use crate::broker::topic_config;
use crate::log::checkpoint;

/// The marker file under `<data dir>/.rafka/`.
pub const MARKER_FILE: &str = "kafka-adopted";

/// What one adoption did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adopted {
    /// The end offset of Kafka's metadata log adopted.
    pub end_offset: i64,
    /// The snapshot it was read from, if any.
    pub snapshot_id: Option<String>,
    /// Topics whose override file was written.
    pub topics_configured: Vec<String>,
    /// The producer id floor set, if it was raised.
    pub producer_id_floor: Option<i64>,
    /// What could not be carried over (logged as warnings).
    pub not_carried: Vec<String>,
    /// Each local partition's leader epoch in Kafka's metadata. Kafka bumps it at a
    /// controlled shutdown without writing a batch in the new epoch, so the log's epoch
    /// cache ends below it; the broker leads in the next epoch (as Kafka's controller
    /// would elect it), or clients that saw Kafka's epoch take Rafka's as stale.
    pub leader_epochs: Vec<(crate::log::TopicPartition, i32)>,
}

/// Records that `adopted` is done, once the broker leads in the epochs it asked for: a
/// start cut short before that adopts again (carrying the configs and the producer id
/// floor again changes nothing).
pub fn mark_adopted(data_dir: &Path, adopted: &Adopted) -> Result<(), MigrateError> {
    let snapshot = adopted.snapshot_id.as_deref().unwrap_or("none");
    checkpoint::write_atomic(
        &data_dir.join(".rafka").join(MARKER_FILE),
        format!(
            "# Rafka adopted the Kafka metadata of this log dir (__cluster_metadata-0) up to\n\
             # this offset; Kafka's files were left as they were.\n\
             metadata.end.offset={}\nsnapshot={snapshot}\n",
            adopted.end_offset
        )
        .as_bytes(),
    )?;
    Ok(())
}

/// The metadata end offset recorded by the last adoption of `data_dir`, if any.
pub fn adopted_end_offset(data_dir: &Path) -> Result<Option<i64>, MigrateError> {
    let path = data_dir.join(".rafka").join(MARKER_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("metadata.end.offset="))
            .and_then(|v| v.trim().parse().ok())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(MigrateError::Io { path, source }),
    }
}

/// Adopts `data_dir`'s Kafka metadata if it has some not adopted yet. `None` when there
/// was nothing to do: no `__cluster_metadata-0`, adopted already at its end offset, or
/// the dir is another node's (the log manager then refuses it).
pub fn adopt_if_needed(
    data_dir: &Path,
    node_id: i32,
    defaults: &crate::log::LogConfig,
) -> Result<Option<Adopted>, MigrateError> {
    let dir = inventory::metadata_dir(data_dir);
    if !dir.is_dir() {
        return Ok(None);
    }
    // a Kafka still running on the dir holds its lock: nothing is written beside it
    crate::log::manager::ensure_not_in_use(data_dir)?;
    let meta = checkpoint::read_meta_properties(&data_dir.join(checkpoint::META_PROPERTIES_FILE))?;
    if meta.is_some_and(|m| m.node_id != node_id) {
        return Ok(None);
    }
    let metadata = kafka_metadata::read(&dir)?;
    if adopted_end_offset(data_dir)? == Some(metadata.end_offset) {
        return Ok(None);
    }
    let local = inventory::local_partitions(data_dir)?;
    let plan = inventory::plan(metadata, &local, defaults);
    let adopted = carry(data_dir, &plan, &local)?;
    info!(
        end_offset = adopted.end_offset,
        topics = adopted.topics_configured.len(),
        not_carried = adopted.not_carried.len(),
        "adopted a Kafka log dir's metadata"
    );
    Ok(Some(adopted))
}

fn carry(
    data_dir: &Path,
    plan: &Plan,
    local: &[inventory::LocalPartition],
) -> Result<Adopted, MigrateError> {
    let store = topic_config::Store::new(data_dir);
    let mut topics_configured = Vec::new();
    for t in plan.topics.iter().filter(|t| !t.local.is_empty()) {
        // the broker finds a topic's overrides by the id its partition dirs name
        let id = local
            .iter()
            .filter(|l| l.tp.topic == t.name)
            .find_map(|l| l.topic_id)
            .unwrap_or(t.id);
        let mut overrides = store.load(&t.name, id)?;
        let before = overrides.clone();
        overrides.extend(t.carried.iter().map(|(k, v)| (k.clone(), v.clone())));
        if overrides != before {
            store.save(&t.name, id, &overrides)?;
            topics_configured.push(t.name.clone());
        }
    }
    let producer_id_floor = match plan.producer_id_floor {
        Some(floor) if ProducerIds::raise_floor(data_dir, floor)? => Some(floor),
        _ => None,
    };
    let not_carried = plan.not_carried();
    for what in &not_carried {
        warn!(what = %what, "not carried over from Kafka");
    }
    let image = &plan.metadata.image;
    let leader_epochs = local
        .iter()
        .filter_map(|l| {
            let t = image.topic(&l.tp.topic)?;
            let p = t.partitions.get(&l.tp.partition)?;
            Some((l.tp.clone(), p.leader_epoch))
        })
        .collect();
    Ok(Adopted {
        end_offset: plan.metadata.end_offset,
        snapshot_id: plan.metadata.snapshot_id.clone(),
        topics_configured,
        producer_id_floor,
        not_carried,
        leader_epochs,
    })
}
