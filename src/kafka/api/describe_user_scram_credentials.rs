//! DescribeUserScramCredentials (v0): which SCRAM mechanisms each user has, and their
//! iteration counts (never a salt or a key), as `kafka-configs --describe --entity-type
//! users` shows them. No users named (null or empty): every user with a credential. A user
//! named twice gets DUPLICATE_RESOURCE, one without credentials RESOURCE_NOT_FOUND, with
//! Kafka's messages ([`crate::metadata::scram::describe`]). Answered from this broker's
//! metadata: a single node's own store, or a cluster's image, as a Kafka broker answers
//! from its metadata cache.

use std::sync::Arc;

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::metadata::scram::describe;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: DescribeUserScramCredentialsRequest,
) -> Answer<DescribeUserScramCredentialsResponse> {
    // Kafka: DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED at the top level
    if !authz::allowed_on_cluster(ctx, broker, AclOperation::Describe) {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code())
            .with_error_message(Some(str_bytes(authz::CLUSTER_DENIED)))
            .into();
    }
    let users: Option<Vec<String>> = req
        .users
        .map(|users| users.iter().map(|u| u.name.to_string()).collect());
    let results = broker
        .local_metadata()
        .read(|i| describe(&i.scram, users.as_deref()))
        .into_iter()
        .map(|d| {
            DescribeUserScramCredentialsResult::default()
                .with_user(str_bytes(d.user))
                .with_error_code(d.error.code())
                .with_error_message(d.message.map(str_bytes))
                .with_credential_infos(
                    d.credentials
                        .into_iter()
                        .map(|(m, iterations)| {
                            CredentialInfo::default()
                                .with_mechanism(m.type_code())
                                .with_iterations(iterations)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeUserScramCredentialsResponse::default()
        .with_results(results)
        .into()
}
