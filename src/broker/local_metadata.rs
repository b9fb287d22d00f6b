//! The metadata a broker answers from besides its topics: users' SCRAM credentials (and,
//! next, ACLs). In a cluster it is the metadata image the quorum keeps; a single node has no
//! metadata log, and keeps the same records itself in `<log dir>/.rafka/metadata-records`
//! ([`LocalMetadata`]). Either way the handlers read a [`MetadataImage`] and change it with
//! KRaft records (`UserScramCredentialRecord`, ...), decided by the same functions
//! ([`crate::metadata::scram`]), so a single node and a cluster answer alike.
//!
//! The file is the image's snapshot records in Kafka's encoding, each after its 4-byte
//! length ([`MetadataImage::canonical_bytes`]), then a CRC-32C of all of that (4 bytes). It
//! is written whole and atomically before a change is answered. It holds no password, but
//! SCRAM keys are what a password could be guessed against offline; it stays with the log
//! dir, as Kafka's metadata log does. A file that does not read back (a bad CRC, a record
//! that does not decode) stops the start: starting without it would lock the SCRAM users
//! out, or let a new one be made in their place.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::controller::image_state::SharedImage;
use crate::log::{checkpoint, LogError};
use crate::metadata::image::MetadataImage;
use crate::metadata::records::MetadataRecord;
use crate::security::{ScramCredential, ScramCredentials, ScramMechanism};

const FILE: &str = "metadata-records";

/// Where a broker's metadata (beyond its topics) is.
#[derive(Debug)]
pub enum BrokerMetadata {
    /// A single node's own store.
    Local(Arc<LocalMetadata>),
    /// A cluster's metadata image.
    Cluster(SharedImage),
}

impl BrokerMetadata {
    /// Reads the image as it stands.
    pub fn read<T>(&self, f: impl FnOnce(&MetadataImage) -> T) -> T {
        match self {
            BrokerMetadata::Local(local) => f(&local.image.read()),
            BrokerMetadata::Cluster(image) => image.read(f),
        }
    }
}

impl ScramCredentials for BrokerMetadata {
    fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.read(|i| i.scram_credential(user, mechanism))
    }
}

/// A single node's metadata and its file.
#[derive(Debug)]
pub struct LocalMetadata {
    path: PathBuf,
    image: RwLock<MetadataImage>,
    /// One change at a time: each is decided on the image the last one left.
    changing: Mutex<()>,
}

impl LocalMetadata {
    /// Reads `<log dir>/.rafka/metadata-records` (none yet: an empty image).
    pub fn open(log_dir: &Path) -> Result<LocalMetadata, LogError> {
        let path = log_dir.join(".rafka").join(FILE);
        let image = match std::fs::read(&path) {
            Ok(bytes) => decode(&bytes).map_err(|reason| LogError::BadMetadata {
                path: path.clone(),
                reason,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => MetadataImage::new(),
            Err(source) => return Err(LogError::Io { path, source }),
        };
        Ok(LocalMetadata {
            path,
            image: RwLock::new(image),
            changing: Mutex::new(()),
        })
    }

    /// Decides a change on the image as it stands (`decide` returns the records to apply and
    /// the answer), writes the file, then serves the new image; on a failed write nothing
    /// changes.
    pub fn change<T>(
        &self,
        decide: impl FnOnce(&MetadataImage) -> (Vec<MetadataRecord>, T),
    ) -> Result<T, LogError> {
        let _one = self.changing.lock();
        let mut next = self.image.read().clone();
        let (records, answer) = decide(&next);
        if records.is_empty() {
            return Ok(answer);
        }
        for r in &records {
            next.apply(r);
        }
        if let Some(dir) = self.path.parent() {
            if !dir.is_dir() {
                std::fs::create_dir_all(dir).map_err(|source| LogError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
                if let Some(log_dir) = dir.parent() {
                    checkpoint::sync_dir(log_dir)?;
                }
            }
        }
        let mut bytes = next.canonical_bytes().to_vec();
        bytes.extend_from_slice(&crc32c::crc32c(&bytes).to_be_bytes());
        checkpoint::write_atomic(&self.path, &bytes)?;
        *self.image.write() = next;
        Ok(answer)
    }
}

fn decode(bytes: &[u8]) -> Result<MetadataImage, String> {
    let Some((body, crc)) = bytes.split_last_chunk::<4>() else {
        return Err("shorter than its checksum".into());
    };
    if crc32c::crc32c(body) != u32::from_be_bytes(*crc) {
        return Err("checksum does not match".into());
    }
    let mut records = Vec::new();
    let mut rest = body;
    while let Some((len, after)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        let (Some(record), Some(next)) = (after.get(..len), after.get(len..)) else {
            return Err(format!("record {} is cut short", records.len()));
        };
        records.push(
            MetadataRecord::decode(record).map_err(|e| format!("record {}: {e}", records.len()))?,
        );
        rest = next;
    }
    if !rest.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(MetadataImage::restore(&records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::scram::{self, Deletion, Upsertion};

    fn upsert(name: &str, password: &str) -> Upsertion {
        let m = ScramMechanism::Sha512;
        Upsertion {
            name: name.into(),
            mechanism: m.type_code(),
            iterations: 4096,
            salt: b"pepper".to_vec(),
            salted_password: m
                .salted_password(password.as_bytes(), b"pepper", 4096)
                .expect("iterations"),
        }
    }

    #[test]
    fn changes_survive_a_restart_and_a_damaged_file_stops_the_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = LocalMetadata::open(dir.path()).expect("opens");
        let results = local
            .change(|i| {
                scram::alter(
                    &i.scram,
                    &[],
                    &[upsert("alice", "a"), upsert("b o\nb", "b")],
                )
            })
            .expect("written");
        assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
        let want =
            ScramCredential::from_password(ScramMechanism::Sha512, "a", b"pepper".to_vec(), 4096);
        let reopened =
            BrokerMetadata::Local(Arc::new(LocalMetadata::open(dir.path()).expect("reopens")));
        assert_eq!(
            reopened.scram_credential("alice", ScramMechanism::Sha512),
            want
        );
        assert!(reopened
            .scram_credential("b o\nb", ScramMechanism::Sha512)
            .is_some());
        assert_eq!(reopened.read(|i| i.scram.len()), 2);
        let path = dir.path().join(".rafka").join(FILE);
        let mut bytes = std::fs::read(&path).expect("file");
        bytes[10] ^= 1;
        std::fs::write(&path, &bytes).expect("damaged");
        let err = LocalMetadata::open(dir.path())
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("metadata-records") && err.contains("checksum"),
            "{err}"
        );
        std::fs::write(&path, [1, 2]).expect("cut");
        assert!(LocalMetadata::open(dir.path()).is_err());
    }

    #[test]
    fn a_refused_change_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = LocalMetadata::open(dir.path()).expect("opens");
        let ghost = Deletion {
            name: "ghost".into(),
            mechanism: 2,
        };
        let results = local
            .change(|i| scram::alter(&i.scram, &[ghost], &[]))
            .expect("answered");
        assert_eq!(results[0].error, crate::error::ErrorCode::ResourceNotFound);
        assert!(!dir.path().join(".rafka").join(FILE).exists());
    }
}
