//! SCRAM credentials as a broker holds them, for SASL/SCRAM logins and the
//! Describe/AlterUserScramCredentials APIs. In a cluster they are the metadata image's:
//! the controller commits an alteration as `UserScramCredentialRecord`s, and every node
//! applies them. A single node has no metadata log; it keeps its own in
//! `<log dir>/.rafka/scram-credentials`, changed by the same records
//! ([`crate::metadata::scram::alter`]) and written atomically before the change is answered.
//!
//! The file holds one credential per line, every field but the first two in base64 (a user
//! name may hold any character):
//!
//! ```text
//! <mechanism> <iterations> <user> <salt> <stored key> <server key>
//! ```
//!
//! No password is in it, only what a SCRAM server needs; still, like Kafka's metadata log,
//! it is what a password could be guessed against offline, and is kept with the log dir.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use parking_lot::{Mutex, RwLock};

use crate::controller::image_state::SharedImage;
use crate::log::{checkpoint, LogError};
use crate::metadata::scram::{self, Credentials, Deletion, Upsertion, UserResult};
use crate::security::{ScramCredential, ScramCredentials, ScramMechanism};

const FILE: &str = "scram-credentials";

/// Where a broker's credentials are.
#[derive(Debug)]
pub enum BrokerCredentials {
    /// A single node's own store.
    Local(std::sync::Arc<LocalScramStore>),
    /// A cluster's metadata image.
    Cluster(SharedImage),
}

impl BrokerCredentials {
    /// Every credential as it stands (for DescribeUserScramCredentials).
    pub fn all(&self) -> Credentials {
        match self {
            BrokerCredentials::Local(store) => store.credentials.read().clone(),
            BrokerCredentials::Cluster(image) => image.read(|i| i.scram.clone()),
        }
    }
}

impl ScramCredentials for BrokerCredentials {
    fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        match self {
            BrokerCredentials::Local(store) => {
                store.credentials.read().scram_credential(user, mechanism)
            }
            BrokerCredentials::Cluster(image) => {
                image.read(|i| i.scram_credential(user, mechanism))
            }
        }
    }
}

/// A single node's credentials and their file.
#[derive(Debug)]
pub struct LocalScramStore {
    path: PathBuf,
    credentials: RwLock<Credentials>,
    /// One alteration at a time: each is decided on the credentials the last one left.
    altering: Mutex<()>,
}

impl LocalScramStore {
    /// Reads `<log dir>/.rafka/scram-credentials` (none yet: no credentials). A file that
    /// does not parse stops the broker: starting without the credentials would lock every
    /// SCRAM user out, or let a new one be made in their place.
    pub fn open(log_dir: &Path) -> Result<LocalScramStore, LogError> {
        let path = log_dir.join(".rafka").join(FILE);
        let credentials = match std::fs::read_to_string(&path) {
            Ok(text) => parse(&text).map_err(|reason| LogError::BadMetadata {
                path: path.clone(),
                reason,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Credentials::new(),
            Err(source) => return Err(LogError::Io { path, source }),
        };
        Ok(LocalScramStore {
            path,
            credentials: RwLock::new(credentials),
            altering: Mutex::new(()),
        })
    }

    /// Decides an alteration, writes the file, then serves the new credentials; on a
    /// failed write nothing changes.
    pub fn alter(
        &self,
        deletions: &[Deletion],
        upsertions: &[Upsertion],
    ) -> Result<Vec<UserResult>, LogError> {
        let _one = self.altering.lock();
        let mut next = self.credentials.read().clone();
        let (records, results) = scram::alter(&next, deletions, upsertions);
        if records.is_empty() {
            return Ok(results);
        }
        scram::apply(&mut next, &records);
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
        checkpoint::write_atomic(&self.path, render(&next).as_bytes())?;
        *self.credentials.write() = next;
        Ok(results)
    }
}

fn render(credentials: &Credentials) -> String {
    let mut out = String::new();
    for ((user, mechanism), c) in credentials {
        out.push_str(&format!(
            "{mechanism} {} {} {} {} {}\n",
            c.iterations,
            STANDARD.encode(user),
            STANDARD.encode(&c.salt),
            STANDARD.encode(&c.stored_key),
            STANDARD.encode(&c.server_key),
        ));
    }
    out
}

fn parse(text: &str) -> Result<Credentials, String> {
    let mut out = Credentials::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |what: &str| format!("line {}: {what}", n + 1);
        let fields: Vec<&str> = line.split(' ').collect();
        let [mechanism, iterations, user, salt, stored, server] = fields[..] else {
            return Err(bad("not six fields"));
        };
        let mechanism = ScramMechanism::from_name(mechanism).ok_or_else(|| bad("mechanism"))?;
        let b64 = |s: &str, what: &str| STANDARD.decode(s).map_err(|_| bad(what));
        let user = String::from_utf8(b64(user, "user")?).map_err(|_| bad("user"))?;
        let credential = ScramCredential {
            iterations: iterations.parse().map_err(|_| bad("iterations"))?,
            salt: b64(salt, "salt")?,
            stored_key: b64(stored, "stored key")?,
            server_key: b64(server, "server key")?,
        };
        if credential.stored_key.len() != mechanism.key_len()
            || credential.server_key.len() != mechanism.key_len()
        {
            return Err(bad("key length"));
        }
        out.insert((user, mechanism), credential);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(name: &str, password: &str) -> Upsertion {
        let m = ScramMechanism::Sha512;
        Upsertion {
            name: name.into(),
            mechanism: m.type_code(),
            iterations: 4096,
            salt: b"pepper".to_vec(),
            salted_password: m
                .salted_password(password.as_bytes(), b"pepper", 4096)
                .expect("test input"),
        }
    }

    #[test]
    fn credentials_survive_a_restart_and_a_damaged_file_stops_the_start() {
        let dir = tempfile::tempdir().expect("test input");
        let store = LocalScramStore::open(dir.path()).expect("test input");
        let results = store
            .alter(&[], &[upsert("alice", "a"), upsert("b o\nb", "b")])
            .expect("test input");
        assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
        let want =
            ScramCredential::from_password(ScramMechanism::Sha512, "a", b"pepper".to_vec(), 4096);
        let reopened = BrokerCredentials::Local(std::sync::Arc::new(
            LocalScramStore::open(dir.path()).expect("test input"),
        ));
        assert_eq!(
            reopened.scram_credential("alice", ScramMechanism::Sha512),
            want
        );
        assert!(reopened
            .scram_credential("b o\nb", ScramMechanism::Sha512)
            .is_some());
        assert_eq!(reopened.all().len(), 2);
        let path = dir.path().join(".rafka").join(FILE);
        let text = std::fs::read_to_string(&path).expect("test input");
        assert!(!text.contains("alice"), "user names are encoded");
        std::fs::write(&path, text.replace("SCRAM-SHA-512 4096", "SCRAM-SHA-512 x"))
            .expect("test input");
        let err = LocalScramStore::open(dir.path())
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("scram-credentials") && err.contains("iterations"),
            "{err}"
        );
    }

    #[test]
    fn a_refused_alteration_writes_nothing() {
        let dir = tempfile::tempdir().expect("test input");
        let store = LocalScramStore::open(dir.path()).expect("test input");
        let results = store
            .alter(
                &[Deletion {
                    name: "ghost".into(),
                    mechanism: 2,
                }],
                &[],
            )
            .expect("test input");
        assert_eq!(results[0].error, crate::error::ErrorCode::ResourceNotFound);
        assert!(!dir.path().join(".rafka").join(FILE).exists());
    }
}
