//! Creation intents: what makes creating many partition dirs all or nothing across a
//! crash. Kafka gets this from its metadata log (a topic exists once its records are
//! committed, and the log dirs follow); Rafka's topics are their directories, so
//! [`LogManager::create_logs`](super::LogManager::create_logs) writes an intent first:
//!
//! 1. `<log dir>/.create-<unique id>.intent` names the partitions about to be made (and
//!    their topic id), written to a temporary file, fsynced, renamed, and the log dir
//!    fsynced: it is durable before the first partition dir exists;
//! 2. the partition dirs are made, each fsynced with its files, then the log dir once;
//! 3. the intent is removed (and the log dir fsynced). A creation that failed removes the
//!    dirs it made, then its intent; if it could not remove them all, the intent stays.
//!
//! At start, before any partition is loaded, [`resolve`] looks at every intent left: if
//! every partition it names has its dir, the creation had finished (only the removal of
//! the intent was lost) and the intent is dropped; otherwise the dirs it made are removed
//! (those whose `partition.metadata` names the intent's topic id, or has none yet), then
//! the intent. So a topic comes back whole or not at all, never as a prefix of itself.
//!
//! File format (text): `version: 0`, `topic_id: <base64url uuid or ->`, then one
//! `<topic> <first partition> <last partition>` line per run of consecutive partitions.

use std::path::{Path, PathBuf};

use tracing::{info, warn};
use uuid::Uuid;

use super::checkpoint::{self, PARTITION_METADATA_FILE};
use super::{io_err, LogError, TopicPartition};

const PREFIX: &str = ".create-";
const SUFFIX: &str = ".intent";

/// A written intent; [`Intent::done`] removes it.
#[derive(Debug)]
pub struct Intent {
    path: PathBuf,
}

/// Writes the intent to create `tps` with `topic_id`, durably (file and log dir fsynced).
pub fn begin(
    log_dir: &Path,
    tps: &[TopicPartition],
    topic_id: Option<Uuid>,
) -> Result<Intent, LogError> {
    let path = log_dir.join(format!("{PREFIX}{}{SUFFIX}", Uuid::new_v4().simple()));
    checkpoint::write_atomic(&path, encode(tps, topic_id).as_bytes())?;
    Ok(Intent { path })
}

impl Intent {
    /// The creation is over (made, or undone): removes the intent and fsyncs the log dir.
    pub fn done(self, log_dir: &Path) -> Result<(), LogError> {
        std::fs::remove_file(&self.path).map_err(io_err(&self.path))?;
        checkpoint::sync_dir(log_dir)
    }
}

fn encode(tps: &[TopicPartition], topic_id: Option<Uuid>) -> String {
    let id = topic_id.map_or_else(|| "-".to_string(), checkpoint::uuid_to_kafka);
    let mut out = format!("version: 0\ntopic_id: {id}\n");
    let mut run: Option<(&str, i32, i32)> = None;
    for tp in tps {
        run = match run {
            Some((topic, first, last))
                if topic == tp.topic && last.checked_add(1) == Some(tp.partition) =>
            {
                Some((topic, first, tp.partition))
            }
            Some((topic, first, last)) => {
                out.push_str(&format!("{topic} {first} {last}\n"));
                Some((tp.topic.as_str(), tp.partition, tp.partition))
            }
            None => Some((tp.topic.as_str(), tp.partition, tp.partition)),
        };
    }
    if let Some((topic, first, last)) = run {
        out.push_str(&format!("{topic} {first} {last}\n"));
    }
    out
}

/// The partitions and topic id of an intent's text; `None` if it does not parse.
fn decode(text: &str) -> Option<(Vec<TopicPartition>, Option<Uuid>)> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "version: 0" {
        return None;
    }
    let id = lines.next()?.strip_prefix("topic_id:")?.trim();
    let id = match id {
        "-" => None,
        s => Some(checkpoint::uuid_from_kafka(s)?),
    };
    let mut tps = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_whitespace();
        let (topic, first, last) = (f.next()?, f.next()?, f.next()?);
        let (first, last): (i32, i32) = (first.parse().ok()?, last.parse().ok()?);
        if f.next().is_some() || first < 0 || last < first {
            return None;
        }
        tps.extend((first..=last).map(|p| TopicPartition::new(topic, p)));
    }
    Some((tps, id))
}

/// Whether `dir` is one this intent made: its `partition.metadata` names `topic_id`, or
/// it has none (the crash came before it was written) or the intent has no id.
fn made_by(dir: &Path, topic_id: Option<Uuid>) -> bool {
    let Some(id) = topic_id else {
        return true;
    };
    match checkpoint::read_partition_metadata(&dir.join(PARTITION_METADATA_FILE)) {
        Ok(Some(found)) => found == id,
        Ok(None) => true,
        Err(_) => true, // torn while being written: also this creation's
    }
}

/// Finishes or undoes every creation a crash interrupted (see the module doc). Runs at
/// start, before the partition dirs are loaded; fails only if a dir that must go cannot
/// be removed (loading it would serve a partial topic).
pub fn resolve(log_dir: &Path) -> Result<(), LogError> {
    let mut intents = Vec::new();
    let mut changed = false;
    for entry in std::fs::read_dir(log_dir).map_err(io_err(log_dir))? {
        let entry = entry.map_err(io_err(log_dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(PREFIX) {
            continue;
        }
        if name.ends_with(".tmp") {
            // an intent whose write a crash interrupted: no dir was made after it
            let p = entry.path();
            std::fs::remove_file(&p).map_err(io_err(&p))?;
            changed = true;
        } else if name.ends_with(SUFFIX) {
            intents.push(entry.path());
        }
    }
    for path in intents {
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        match decode(&text) {
            None => {
                warn!(intent = %path.display(), "ignoring a creation intent that does not parse")
            }
            Some((tps, id)) => {
                let dirs: Vec<PathBuf> = tps.iter().map(|tp| log_dir.join(tp.dir_name())).collect();
                let topic = tps.first().map_or("", |tp| tp.topic.as_str());
                let present: Vec<&PathBuf> = dirs.iter().filter(|d| d.is_dir()).collect();
                if present.len() == dirs.len() {
                    info!(
                        topic,
                        partitions = dirs.len(),
                        "a creation interrupted at its end is complete"
                    );
                } else {
                    let mut removed = 0;
                    for d in present.into_iter().filter(|d| made_by(d, id)) {
                        std::fs::remove_dir_all(d).map_err(io_err(d))?;
                        removed += 1;
                    }
                    warn!(
                        topic,
                        partitions = dirs.len(),
                        removed,
                        "removed the partitions of a creation a crash interrupted"
                    );
                }
            }
        }
        std::fs::remove_file(&path).map_err(io_err(&path))?;
        changed = true;
    }
    if changed {
        checkpoint::sync_dir(log_dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_round_trip_as_runs() {
        let mut tps: Vec<TopicPartition> =
            (0..1000).map(|p| TopicPartition::new("big", p)).collect();
        tps.push(TopicPartition::new("other", 7));
        tps.push(TopicPartition::new("other", 9));
        let id = Uuid::new_v4();
        let text = encode(&tps, Some(id));
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text.contains("\nbig 0 999\nother 7 7\nother 9 9\n"));
        assert_eq!(decode(&text), Some((tps.clone(), Some(id))));
        assert_eq!(decode(&encode(&tps, None)), Some((tps, None)));
        for bad in [
            "",
            "version: 1\ntopic_id: -\n",
            "version: 0\ntopic_id: -\nt 3 1\n",
            "version: 0\ntopic_id: -\nt x 1\n",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
