//! What AlterUserScramCredentials and DescribeUserScramCredentials decide, on the
//! credentials as they stand (Kafka's `ScramControlManager.alterCredentials` and
//! `ScramImage.describe`). Pure functions: an alteration becomes the metadata records that
//! carry it out (`UserScramCredentialRecord`, `RemoveUserScramCredentialRecord`) and one
//! result per user; a cluster's controller proposes the records to the quorum, a single
//! node applies them to its own store. Either way a [`crate::metadata::image::MetadataImage`]
//! applies them ([`apply_one`]), so both hold the same credentials for the same requests.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use super::records::{MetadataRecord, RemoveUserScramCredentialRecord, UserScramCredentialRecord};
use crate::error::ErrorCode;
use crate::security::{ScramCredential, ScramMechanism};

/// Credentials by user and mechanism.
pub type Credentials = BTreeMap<(String, ScramMechanism), ScramCredential>;

/// A credential to remove (the request's `deletions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deletion {
    pub name: String,
    pub mechanism: i8,
}

/// A credential to set (the request's `upsertions`): the client salts the password, the
/// server keeps only the keys derived from it.
#[derive(Clone, PartialEq, Eq)]
pub struct Upsertion {
    pub name: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Vec<u8>,
    pub salted_password: Vec<u8>,
}

impl std::fmt::Debug for Upsertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upsertion")
            .field("name", &self.name)
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// One user's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserResult {
    pub user: String,
    pub error: ErrorCode,
    pub message: Option<String>,
}

impl UserResult {
    fn ok(user: &str) -> Self {
        UserResult {
            user: user.to_string(),
            error: ErrorCode::None,
            message: None,
        }
    }

    fn failed(user: &str, error: ErrorCode, message: &str) -> Self {
        UserResult {
            user: user.to_string(),
            error,
            message: Some(message.to_string()),
        }
    }
}

const TWICE: &str = "A user credential cannot be altered twice in the same request";

/// An alteration: the records to commit (all or none) and one result per user named. As in
/// Kafka, a user named twice (in deletions, upsertions, or both) fails with
/// DUPLICATE_RESOURCE and none of its changes is made; the others' are.
pub fn alter(
    current: &Credentials,
    deletions: &[Deletion],
    upsertions: &[Upsertion],
) -> (Vec<MetadataRecord>, Vec<UserResult>) {
    let mut errors: IndexMap<&str, UserResult> = IndexMap::new();
    let mut to_delete: IndexMap<&str, (&Deletion, ScramMechanism)> = IndexMap::new();
    let mut to_upsert: IndexMap<&str, (&Upsertion, ScramMechanism)> = IndexMap::new();
    for d in deletions {
        let user = d.name.as_str();
        if errors.contains_key(user) {
            continue;
        }
        if to_delete.shift_remove(user).is_some() {
            errors.insert(
                user,
                UserResult::failed(user, ErrorCode::DuplicateResource, TWICE),
            );
            continue;
        }
        match checked(user, d.mechanism).and_then(|m| {
            if current.contains_key(&(d.name.clone(), m)) {
                Ok(m)
            } else {
                Err((
                    ErrorCode::ResourceNotFound,
                    "Attempt to delete a user credential that does not exist",
                ))
            }
        }) {
            Ok(m) => {
                to_delete.insert(user, (d, m));
            }
            Err((code, message)) => {
                errors.insert(user, UserResult::failed(user, code, message));
            }
        }
    }
    for u in upsertions {
        let user = u.name.as_str();
        if errors.contains_key(user) {
            continue;
        }
        if to_delete.shift_remove(user).is_some() || to_upsert.shift_remove(user).is_some() {
            errors.insert(
                user,
                UserResult::failed(user, ErrorCode::DuplicateResource, TWICE),
            );
            continue;
        }
        match checked(user, u.mechanism).and_then(|m| {
            if u.iterations < ScramMechanism::MIN_ITERATIONS {
                Err((ErrorCode::UnacceptableCredential, "Too few iterations"))
            } else if u.iterations > ScramMechanism::MAX_ITERATIONS {
                Err((ErrorCode::UnacceptableCredential, "Too many iterations"))
            } else {
                Ok(m)
            }
        }) {
            Ok(m) => {
                to_upsert.insert(user, (u, m));
            }
            Err((code, message)) => {
                errors.insert(user, UserResult::failed(user, code, message));
            }
        }
    }
    let mut records = Vec::new();
    let mut results = Vec::new();
    for (user, (d, m)) in to_delete {
        records.push(MetadataRecord::from(RemoveUserScramCredentialRecord {
            name: d.name.clone(),
            mechanism: m.type_code(),
        }));
        results.push(UserResult::ok(user));
    }
    for (user, (u, m)) in to_upsert {
        let c = ScramCredential::from_salted_password(
            m,
            u.salt.clone(),
            &u.salted_password,
            u.iterations,
        );
        records.push(record_of(&u.name, m, &c).into());
        results.push(UserResult::ok(user));
    }
    results.extend(errors.into_values());
    (records, results)
}

/// Kafka's `validateScramUsernameAndMechanism`.
fn checked(user: &str, mechanism: i8) -> Result<ScramMechanism, (ErrorCode, &'static str)> {
    if user.is_empty() {
        return Err((
            ErrorCode::UnacceptableCredential,
            "Username must not be empty",
        ));
    }
    ScramMechanism::from_type(mechanism).ok_or((
        ErrorCode::UnsupportedSaslMechanism,
        "Unknown SCRAM mechanism",
    ))
}

/// The record that sets `user`'s credential for `mechanism`.
pub fn record_of(
    user: &str,
    mechanism: ScramMechanism,
    c: &ScramCredential,
) -> UserScramCredentialRecord {
    UserScramCredentialRecord {
        name: user.to_string(),
        mechanism: mechanism.type_code(),
        salt: c.salt.clone(),
        stored_key: c.stored_key.clone(),
        server_key: c.server_key.clone(),
        iterations: c.iterations,
    }
}

/// Applies one SCRAM record: `Err` if it does not fit (an unknown mechanism, the removal
/// of a credential that is not there); a record of another kind is not SCRAM's and leaves
/// the credentials as they are.
pub fn apply_one(credentials: &mut Credentials, record: &MetadataRecord) -> Result<(), String> {
    match record {
        MetadataRecord::UserScramCredentialRecord(r) => {
            let m = ScramMechanism::from_type(r.mechanism)
                .ok_or_else(|| format!("unknown SCRAM mechanism {}", r.mechanism))?;
            let c = ScramCredential {
                salt: r.salt.clone(),
                stored_key: r.stored_key.clone(),
                server_key: r.server_key.clone(),
                iterations: r.iterations,
            };
            credentials.insert((r.name.clone(), m), c);
            Ok(())
        }
        MetadataRecord::RemoveUserScramCredentialRecord(r) => {
            let key = ScramMechanism::from_type(r.mechanism).map(|m| (r.name.clone(), m));
            match key.and_then(|k| credentials.remove(&k)) {
                Some(_) => Ok(()),
                None => Err("no such SCRAM credential".into()),
            }
        }
        _ => Ok(()),
    }
}

/// One user described: its mechanisms and iteration counts, or why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    pub user: String,
    pub error: ErrorCode,
    pub message: Option<String>,
    /// (mechanism, iterations), by mechanism.
    pub credentials: Vec<(ScramMechanism, i32)>,
}

/// DescribeUserScramCredentials: `users` `None` or empty describes every user with a
/// credential (by name); a user named twice gets DUPLICATE_RESOURCE, one with no
/// credential RESOURCE_NOT_FOUND, each once, in the order first named.
pub fn describe(current: &Credentials, users: Option<&[String]>) -> Vec<Described> {
    let mut named: IndexMap<&str, bool> = IndexMap::new();
    match users {
        Some(users) if !users.is_empty() => {
            for u in users {
                let seen = named.contains_key(u.as_str());
                named.insert(u, seen);
            }
        }
        _ => {
            for (user, _) in current.keys() {
                named.insert(user, false);
            }
        }
    }
    named
        .into_iter()
        .map(|(user, twice)| {
            let credentials: Vec<_> = ScramMechanism::ALL
                .into_iter()
                .filter_map(|m| {
                    current
                        .get(&(user.to_string(), m))
                        .map(|c| (m, c.iterations))
                })
                .collect();
            let (error, message) = if twice {
                (
                    ErrorCode::DuplicateResource,
                    Some(format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single \
                         request: {user}"
                    )),
                )
            } else if credentials.is_empty() {
                (
                    ErrorCode::ResourceNotFound,
                    Some(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    )),
                )
            } else {
                (ErrorCode::None, None)
            };
            Described {
                user: user.to_string(),
                error,
                credentials: if error.is_none() {
                    credentials
                } else {
                    Vec::new()
                },
                message,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(name: &str, mechanism: i8, iterations: i32) -> Upsertion {
        Upsertion {
            name: name.into(),
            mechanism,
            iterations,
            salt: b"salt".to_vec(),
            salted_password: ScramMechanism::Sha512
                .salted_password(b"pw", b"salt", 4096)
                .expect("test input"),
        }
    }

    fn delete(name: &str, mechanism: i8) -> Deletion {
        Deletion {
            name: name.into(),
            mechanism,
        }
    }

    fn apply(creds: &mut Credentials, records: &[MetadataRecord]) {
        for r in records {
            apply_one(creds, r).expect("fits");
        }
    }

    #[test]
    fn alterations_are_checked_as_kafkas_controller_checks_them() {
        let mut creds = Credentials::new();
        let (records, results) = alter(
            &creds,
            &[delete("ghost", 2), delete("", 2)],
            &[
                upsert("alice", 2, 4096),
                upsert("bob", 1, 4095),
                upsert("carol", 1, 16385),
                upsert("dave", 3, 8192),
                upsert("erin", 1, 8192),
                upsert("erin", 2, 8192),
                upsert("frank", 1, 16384),
            ],
        );
        let got: Vec<_> = results
            .iter()
            .map(|r| (r.user.as_str(), r.error, r.message.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("alice", ErrorCode::None, None),
                ("frank", ErrorCode::None, None),
                (
                    "ghost",
                    ErrorCode::ResourceNotFound,
                    Some("Attempt to delete a user credential that does not exist")
                ),
                (
                    "",
                    ErrorCode::UnacceptableCredential,
                    Some("Username must not be empty")
                ),
                (
                    "bob",
                    ErrorCode::UnacceptableCredential,
                    Some("Too few iterations")
                ),
                (
                    "carol",
                    ErrorCode::UnacceptableCredential,
                    Some("Too many iterations")
                ),
                (
                    "dave",
                    ErrorCode::UnsupportedSaslMechanism,
                    Some("Unknown SCRAM mechanism")
                ),
                ("erin", ErrorCode::DuplicateResource, Some(TWICE)),
            ]
        );
        assert_eq!(records.len(), 2);
        apply(&mut creds, &records);
        // the stored keys are those of the salted password: a client with the password
        // can prove it
        let want =
            ScramCredential::from_password(ScramMechanism::Sha512, "pw", b"salt".to_vec(), 4096);
        assert_eq!(
            creds.get(&("alice".into(), ScramMechanism::Sha512)),
            want.as_ref()
        );
        assert_eq!(creds.len(), 2);

        // a delete then an upsert of one user is twice too; a delete of what exists works
        let (records, results) = alter(&creds, &[delete("alice", 2)], &[upsert("alice", 1, 4096)]);
        assert!(records.is_empty());
        assert_eq!(results[0].error, ErrorCode::DuplicateResource);
        let (records, results) = alter(&creds, &[delete("alice", 2)], &[]);
        assert_eq!(results, vec![UserResult::ok("alice")]);
        apply(&mut creds, &records);
        assert!(!creds.contains_key(&("alice".into(), ScramMechanism::Sha512)));
        // the other mechanism of a user has nothing to delete
        let (_, results) = alter(&creds, &[delete("frank", 2)], &[]);
        assert_eq!(results[0].error, ErrorCode::ResourceNotFound);
    }

    #[test]
    fn descriptions_are_kafkas() {
        let mut creds = Credentials::new();
        let (records, _) = alter(
            &creds,
            &[],
            &[upsert("alice", 2, 4096), upsert("bob", 1, 8192)],
        );
        apply(&mut creds, &records);
        let (records, _) = alter(&creds, &[], &[upsert("alice", 1, 5000)]);
        apply(&mut creds, &records);
        let all = describe(&creds, None);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].user, "alice");
        assert_eq!(
            all[0].credentials,
            vec![
                (ScramMechanism::Sha256, 5000),
                (ScramMechanism::Sha512, 4096)
            ]
        );
        assert_eq!(describe(&creds, Some(&[])), all);
        let named: Vec<String> = vec!["bob".into(), "nobody".into(), "bob".into()];
        let some = describe(&creds, Some(&named));
        assert_eq!(some.len(), 2);
        assert_eq!(some[0].error, ErrorCode::DuplicateResource);
        assert_eq!(
            some[0].message.as_deref(),
            Some("Cannot describe SCRAM credentials for the same user twice in a single request: bob")
        );
        assert_eq!(some[1].error, ErrorCode::ResourceNotFound);
        assert_eq!(
            some[1].message.as_deref(),
            Some("Attempt to describe a user credential that does not exist: nobody")
        );
    }
}
