//! What CreateAcls, DeleteAcls and DescribeAcls decide on the ACLs as they stand (Kafka's
//! `AclApis` checks and `AclControlManager`): a creation or deletion becomes the metadata
//! records that carry it out (`AccessControlEntryRecord`, `RemoveAccessControlEntryRecord`,
//! each ACL with a random id) and one result per creation or filter. A cluster's controller
//! proposes the records to the quorum; a single node applies them to its own store. Either
//! way a [`super::image::MetadataImage`] applies them, so both hold the same ACLs.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::records::{AccessControlEntryRecord, MetadataRecord, RemoveAccessControlEntryRecord};
use crate::error::ErrorCode;
use crate::security::acl::{
    Acl, AclFilter, AclOperation, AclPermission, PatternType, ResourceType, ANY, CLUSTER_NAME,
    MATCH,
};

/// ACLs by id.
pub type Acls = BTreeMap<Uuid, Acl>;

/// One creation as the request has it (wire codes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creation {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

/// A failure: the code and the message (`None`: Kafka sends none).
pub type Failure = (ErrorCode, Option<String>);

/// CreateAcls: the records and one result per creation, in order. As in Kafka, an ANY in
/// any creation fails them all (UNKNOWN_SERVER_ERROR, no message); an ACL that exists
/// already, or twice in the request, succeeds and is written once.
pub fn create(
    current: &Acls,
    creations: &[Creation],
    mut new_id: impl FnMut() -> Uuid,
) -> (Vec<MetadataRecord>, Vec<Result<(), Failure>>) {
    let any = |c: &Creation| {
        c.resource_type == ANY
            || c.pattern == ANY
            || c.pattern == MATCH
            || c.operation == ANY
            || c.permission == ANY
    };
    if creations.iter().any(any) {
        let failed = (ErrorCode::UnknownServerError, None);
        return (Vec::new(), vec![Err(failed); creations.len()]);
    }
    let existing: BTreeSet<&Acl> = current.values().collect();
    let mut added: BTreeSet<Acl> = BTreeSet::new();
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(creations.len());
    for c in creations {
        match checked(c) {
            Err(message) => results.push(Err((ErrorCode::InvalidRequest, Some(message)))),
            Ok(acl) => {
                if !existing.contains(&acl) && !added.contains(&acl) {
                    let mut id = new_id();
                    while current.contains_key(&id) {
                        id = new_id();
                    }
                    records.push(record_of(id, &acl).into());
                    added.insert(acl);
                }
                results.push(Ok(()));
            }
        }
    }
    (records, results)
}

/// The checks of Kafka's `AclApis.handleCreateAcls` and `AclControlManager.validateNewAcl`,
/// in their order, with their messages.
pub fn checked(c: &Creation) -> Result<Acl, String> {
    if c.resource_type == ResourceType::Cluster.code() && c.resource_name != CLUSTER_NAME {
        return Err(format!(
            "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        ));
    }
    if c.resource_name.is_empty() {
        return Err("Invalid empty resource name".into());
    }
    let resource_type = ResourceType::from_code(c.resource_type)
        .ok_or_else(|| "Invalid resourceType UNKNOWN".to_string())?;
    let pattern = PatternType::from_code(c.pattern)
        .ok_or_else(|| "Invalid patternType UNKNOWN".to_string())?;
    let operation = AclOperation::from_code(c.operation)
        .ok_or_else(|| "Invalid operation UNKNOWN".to_string())?;
    let permission = AclPermission::from_code(c.permission)
        .ok_or_else(|| "Invalid permissionType UNKNOWN".to_string())?;
    if !c.principal.contains(':') {
        return Err(format!(
            "Could not parse principal from `{}` (no colon is present separating the \
             principal type from the principal name)",
            c.principal
        ));
    }
    Ok(Acl {
        resource_type,
        resource_name: c.resource_name.clone(),
        pattern,
        principal: c.principal.clone(),
        host: c.host.clone(),
        operation,
        permission,
    })
}

/// One DeleteAcls filter's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    pub error: ErrorCode,
    pub message: Option<String>,
    /// The ACLs it matched (and removed), by id order.
    pub matching: Vec<Acl>,
}

/// DeleteAcls: each filter removes the ACLs it matches (an ACL matched by two filters is
/// listed under both and removed once); an UNKNOWN filter fails alone. The records commit
/// together.
pub fn delete(current: &Acls, filters: &[AclFilter]) -> (Vec<MetadataRecord>, Vec<Deleted>) {
    let mut removed = BTreeSet::new();
    let mut results = Vec::with_capacity(filters.len());
    for f in filters {
        let failed = |m: &str| Deleted {
            error: ErrorCode::InvalidRequest,
            message: Some(m.to_string()),
            matching: Vec::new(),
        };
        if f.unknown_pattern() {
            results.push(failed("Unknown patternFilter."));
            continue;
        }
        if f.unknown_entry() {
            results.push(failed("Unknown entryFilter."));
            continue;
        }
        let mut matching = Vec::new();
        for (id, acl) in current.iter().filter(|(_, a)| f.matches(a)) {
            removed.insert(*id);
            matching.push(acl.clone());
        }
        results.push(Deleted {
            error: ErrorCode::None,
            message: None,
            matching,
        });
    }
    let records = removed
        .into_iter()
        .map(|id| RemoveAccessControlEntryRecord { id }.into())
        .collect();
    (records, results)
}

/// DescribeAcls: the ACLs the filter matches, in order.
pub fn describe(current: &Acls, filter: &AclFilter) -> Vec<Acl> {
    let mut out: Vec<Acl> = current
        .values()
        .filter(|a| filter.matches(a))
        .cloned()
        .collect();
    out.sort();
    out
}

/// The record of an ACL.
pub fn record_of(id: Uuid, acl: &Acl) -> AccessControlEntryRecord {
    AccessControlEntryRecord {
        id,
        resource_type: acl.resource_type.code(),
        resource_name: acl.resource_name.clone(),
        pattern_type: acl.pattern.code(),
        principal: acl.principal.clone(),
        host: acl.host.clone(),
        operation: acl.operation.code(),
        permission_type: acl.permission.code(),
    }
}

/// The ACL of a record (`None` if a code is not one Kafka writes).
pub fn acl_of(r: &AccessControlEntryRecord) -> Option<Acl> {
    Some(Acl {
        resource_type: ResourceType::from_code(r.resource_type)?,
        resource_name: r.resource_name.clone(),
        pattern: PatternType::from_code(r.pattern_type)?,
        principal: r.principal.clone(),
        host: r.host.clone(),
        operation: AclOperation::from_code(r.operation)?,
        permission: AclPermission::from_code(r.permission_type)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::image::MetadataImage;

    fn creation(kind: i8, name: &str, principal: &str, op: i8) -> Creation {
        Creation {
            resource_type: kind,
            resource_name: name.into(),
            pattern: PatternType::Literal.code(),
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission: AclPermission::Allow.code(),
        }
    }

    fn ids() -> impl FnMut() -> Uuid {
        let mut n = 0u128;
        move || {
            n += 1;
            Uuid::from_u128(n)
        }
    }

    #[test]
    fn creations_are_checked_as_kafka_checks_them() {
        let mut image = MetadataImage::new();
        let read = AclOperation::Read.code();
        let (records, results) = create(
            &image.acls,
            &[
                creation(2, "t", "User:alice", read),
                creation(2, "t", "User:alice", read),
                creation(4, "other", "User:alice", 7),
                creation(2, "", "User:alice", read),
                creation(99, "t", "User:alice", read),
                creation(2, "t", "User:alice", 99),
                creation(2, "t", "alice", read),
            ],
            ids(),
        );
        let errors: Vec<Option<String>> = results
            .iter()
            .map(|r| r.as_ref().err().and_then(|(_, m)| m.clone()))
            .collect();
        assert_eq!(errors[0], None);
        assert_eq!(errors[1], None, "a duplicate succeeds");
        assert_eq!(
            errors[2].as_deref(),
            Some("The only valid name for the CLUSTER resource is kafka-cluster")
        );
        assert_eq!(errors[3].as_deref(), Some("Invalid empty resource name"));
        assert_eq!(errors[4].as_deref(), Some("Invalid resourceType UNKNOWN"));
        assert_eq!(errors[5].as_deref(), Some("Invalid operation UNKNOWN"));
        assert!(errors[6].as_deref().is_some_and(|m| m.contains("no colon")));
        assert_eq!(records.len(), 1, "written once");
        for r in &records {
            image.apply(r);
        }
        // again: it exists, so nothing is written
        let (records, results) =
            create(&image.acls, &[creation(2, "t", "User:alice", read)], ids());
        assert!(records.is_empty() && results[0].is_ok());
        // an ANY anywhere fails every creation
        let (records, results) = create(
            &image.acls,
            &[
                creation(2, "u", "User:a", read),
                creation(2, "u", "User:a", ANY),
            ],
            ids(),
        );
        assert!(records.is_empty());
        assert_eq!(results, vec![Err((ErrorCode::UnknownServerError, None)); 2]);
    }

    #[test]
    fn deletions_remove_each_matched_acl_once() {
        let mut image = MetadataImage::new();
        let (records, _) = create(
            &image.acls,
            &[
                creation(2, "t", "User:alice", AclOperation::Read.code()),
                creation(2, "t", "User:bob", AclOperation::Write.code()),
                creation(3, "g", "User:alice", AclOperation::Read.code()),
            ],
            ids(),
        );
        for r in &records {
            image.apply(r);
        }
        assert_eq!(image.acls.len(), 3);
        let topics = AclFilter {
            resource_type: ResourceType::Topic.code(),
            ..AclFilter::any()
        };
        let alice = AclFilter {
            principal: Some("User:alice".into()),
            ..AclFilter::any()
        };
        let bad = AclFilter {
            operation: 99,
            ..AclFilter::any()
        };
        assert_eq!(describe(&image.acls, &alice).len(), 2);
        let (records, results) = delete(&image.acls, &[topics, alice, bad]);
        assert_eq!(records.len(), 3, "t/alice is matched twice, removed once");
        assert_eq!(results[0].matching.len(), 2);
        assert_eq!(results[1].matching.len(), 2);
        assert_eq!(results[2].message.as_deref(), Some("Unknown entryFilter."));
        for r in &records {
            image.apply(r);
        }
        assert!(image.acls.is_empty());
        // a snapshot carries ACLs
        let (records, _) = create(&image.acls, &[creation(2, "t", "User:*", 8)], ids());
        for r in &records {
            image.apply(r);
        }
        assert_eq!(MetadataImage::restore(&image.snapshot_records()), image);
    }
}
