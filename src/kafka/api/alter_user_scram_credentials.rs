//! AlterUserScramCredentials (v0): sets and removes users' SCRAM credentials, as
//! `kafka-configs --alter --entity-type users --add-config 'SCRAM-SHA-512=[password=...]'`
//! sends it (the client salts the password; only the keys derived from it are kept). The
//! checks and per-user results are Kafka's controller's
//! ([`crate::metadata::scram::alter`]): DUPLICATE_RESOURCE for a user named twice,
//! RESOURCE_NOT_FOUND for a deletion of nothing, UNACCEPTABLE_CREDENTIAL for an empty name
//! or an iteration count outside 4096..=16384, UNSUPPORTED_SASL_MECHANISM for an unknown
//! mechanism.
//!
//! A single node writes its own store ([`crate::broker::local_metadata`]) before answering. In a
//! cluster the request goes to the active controller, which commits the credentials to
//! the metadata log; the answer waits (up to the propagation wait) until this broker's
//! image has the users it changed, so a login right after the answer finds them here.

use std::sync::Arc;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};

use super::forward::forward;
use super::str_bytes;
use crate::broker::local_metadata::BrokerMetadata;
use crate::broker::Broker;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::metadata::scram::{self, Deletion, Upsertion, UserResult};
use crate::security::acl::AclOperation;
use crate::security::ScramMechanism;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: AlterUserScramCredentialsRequest,
) -> Answer<AlterUserScramCredentialsResponse> {
    let users = || {
        let mut users: Vec<String> = req.deletions.iter().map(|d| d.name.to_string()).collect();
        users.extend(req.upsertions.iter().map(|u| u.name.to_string()));
        users
    };
    // Kafka: ALTER on the cluster, else every user CLUSTER_AUTHORIZATION_FAILED
    let results = match (broker.cluster(), &**broker.local_metadata()) {
        _ if !authz::allowed_on_cluster(ctx, broker, AclOperation::Alter) => failed_all(
            users(),
            crate::error::ErrorCode::ClusterAuthorizationFailed,
            Some(authz::CLUSTER_DENIED.into()),
        ),
        (Some(cluster), _) => {
            let codes = |r: &AlterUserScramCredentialsResponse| {
                r.results.iter().map(|r| r.error_code).collect()
            };
            match forward(cluster, ctx, &req, codes).await {
                Ok(resp) => {
                    let changed = changes(&req, &resp);
                    cluster
                        .wait_for(|image| {
                            changed.iter().all(|(user, m, salt)| {
                                let c = image.scram.get(&(user.clone(), *m));
                                match salt {
                                    Some(salt) => c.is_some_and(|c| &c.salt == salt),
                                    None => c.is_none(),
                                }
                            })
                        })
                        .await;
                    return Answer::Now(resp);
                }
                Err(e) => failed_all(users(), e.code(), Some(e.to_string())),
            }
        }
        (None, BrokerMetadata::Local(local)) => {
            let (d, u) = (deletions(&req), upsertions(&req));
            let local = Arc::clone(local);
            let change = move || local.change(|i| scram::alter(&i.scram, &d, &u));
            match tokio::task::spawn_blocking(change).await {
                Ok(Ok(results)) => results,
                Ok(Err(e)) => failed_all(users(), e.code(), Some(e.to_string())),
                Err(e) => failed_all(
                    users(),
                    crate::error::ErrorCode::UnknownServerError,
                    Some(e.to_string()),
                ),
            }
        }
        (None, BrokerMetadata::Cluster(_)) => failed_all(
            users(),
            crate::error::ErrorCode::NotController,
            Some("no controller".into()),
        ),
    };
    Answer::Now(AlterUserScramCredentialsResponse::default().with_results(results_of(results)))
}

/// Each user's result on the wire.
pub fn results_of(results: Vec<UserResult>) -> Vec<AlterUserScramCredentialsResult> {
    results
        .into_iter()
        .map(|r| {
            AlterUserScramCredentialsResult::default()
                .with_user(str_bytes(r.user))
                .with_error_code(r.error.code())
                .with_error_message(r.message.map(str_bytes))
        })
        .collect()
}

/// The request's deletions, for [`crate::metadata::scram::alter`].
pub fn deletions(req: &AlterUserScramCredentialsRequest) -> Vec<Deletion> {
    req.deletions
        .iter()
        .map(|d| Deletion {
            name: d.name.to_string(),
            mechanism: d.mechanism,
        })
        .collect()
}

/// The request's upsertions, for [`crate::metadata::scram::alter`].
pub fn upsertions(req: &AlterUserScramCredentialsRequest) -> Vec<Upsertion> {
    req.upsertions
        .iter()
        .map(|u| Upsertion {
            name: u.name.to_string(),
            mechanism: u.mechanism,
            iterations: u.iterations,
            salt: u.salt.to_vec(),
            salted_password: u.salted_password.to_vec(),
        })
        .collect()
}

/// What the image must come to show for the users the controller changed: (user,
/// mechanism, the new salt, or `None` for a removal).
fn changes(
    req: &AlterUserScramCredentialsRequest,
    resp: &AlterUserScramCredentialsResponse,
) -> Vec<(String, ScramMechanism, Option<Vec<u8>>)> {
    let ok = |name: &str| {
        resp.results
            .iter()
            .any(|r| r.error_code == 0 && r.user.as_str() == name)
    };
    let removed = req
        .deletions
        .iter()
        .filter(|d| ok(&d.name))
        .filter_map(|d| {
            ScramMechanism::from_type(d.mechanism).map(|m| (d.name.to_string(), m, None))
        });
    let set = req
        .upsertions
        .iter()
        .filter(|u| ok(&u.name))
        .filter_map(|u| {
            ScramMechanism::from_type(u.mechanism)
                .map(|m| (u.name.to_string(), m, Some(u.salt.to_vec())))
        });
    removed.chain(set).collect()
}

/// Every user named gets the same failure.
pub fn failed_all(
    users: Vec<String>,
    code: crate::error::ErrorCode,
    message: Option<String>,
) -> Vec<UserResult> {
    let mut seen = indexmap::IndexSet::new();
    users
        .into_iter()
        .filter(|u| seen.insert(u.clone()))
        .map(|user| UserResult {
            user,
            error: code,
            message: message.clone(),
        })
        .collect()
}
