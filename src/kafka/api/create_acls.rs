//! CreateAcls (v1-v3), as Kafka's `AclApis.handleCreateAcls` answers it:
//! - without an authorizer (`authorizer.class.name`) every creation fails with
//!   SECURITY_DISABLED (54), "No Authorizer is configured.", and nothing is stored;
//! - without ALTER on the cluster, every creation gets CLUSTER_AUTHORIZATION_FAILED;
//! - a code 0 (UNKNOWN) anywhere closes the connection unanswered, as Kafka's request
//!   parsing does; an ANY fails every creation (UNKNOWN_SERVER_ERROR);
//! - otherwise each creation is checked and stored as Kafka's controller does
//!   ([`crate::metadata::acls::create`]): one result per creation, in request order.
//!
//! A single node writes its store before answering; in a cluster the request goes to the
//! active controller, and the answer waits until this broker's image has the new ACLs.

use std::sync::Arc;

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};

use super::forward::forward;
use super::str_bytes;
use crate::broker::local_metadata::BrokerMetadata;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::{Answer, RouteError};
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::metadata::acls::{self, Creation};
use crate::security::acl::AclOperation;

/// Kafka's `SecurityDisabledException` message for CreateAcls and DeleteAcls.
pub const NO_AUTHORIZER: &str = "No Authorizer is configured.";

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: CreateAclsRequest,
) -> Answer<CreateAclsResponse> {
    let all = |code: ErrorCode, message: Option<&str>| {
        let results = req
            .creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(code.code())
                    .with_error_message(message.map(str_bytes))
            })
            .collect();
        Answer::Now(CreateAclsResponse::default().with_results(results))
    };
    if broker.authorizer().is_none() {
        return all(ErrorCode::SecurityDisabled, Some(NO_AUTHORIZER));
    }
    if !authz::allowed_on_cluster(ctx, broker, AclOperation::Alter) {
        return all(
            ErrorCode::ClusterAuthorizationFailed,
            Some(authz::CLUSTER_DENIED),
        );
    }
    let creations = creations(&req);
    if creations
        .iter()
        .any(|c| [c.resource_type, c.pattern, c.operation, c.permission].contains(&0))
    {
        return Answer::Fail(RouteError::Decode {
            api: ctx.api_key,
            version: ctx.api_version,
            reason: "an ACL creation with an UNKNOWN (0) code".into(),
        });
    }
    let results = match (broker.cluster(), &**broker.local_metadata()) {
        (Some(cluster), _) => {
            let codes = |r: &CreateAclsResponse| r.results.iter().map(|r| r.error_code).collect();
            return match forward(cluster, ctx, &req, codes).await {
                Ok(resp) => {
                    let made: Vec<_> = creations
                        .iter()
                        .zip(&resp.results)
                        .filter(|(_, r)| r.error_code == 0)
                        .filter_map(|(c, _)| acls::checked(c).ok())
                        .collect();
                    cluster
                        .wait_for(|image| made.iter().all(|a| image.acls.values().any(|b| a == b)))
                        .await;
                    Answer::Now(resp)
                }
                Err(e) => all(e.code(), Some(&e.to_string())),
            };
        }
        (None, BrokerMetadata::Local(local)) => {
            let local = Arc::clone(local);
            let change =
                move || local.change(|i| acls::create(&i.acls, &creations, uuid::Uuid::new_v4));
            match tokio::task::spawn_blocking(change).await {
                Ok(Ok(results)) => results,
                Ok(Err(e)) => return all(e.code(), Some(&e.to_string())),
                Err(e) => return all(ErrorCode::UnknownServerError, Some(&e.to_string())),
            }
        }
        (None, BrokerMetadata::Cluster(_)) => {
            return all(ErrorCode::NotController, None);
        }
    };
    Answer::Now(CreateAclsResponse::default().with_results(results_of(results)))
}

/// The request's creations, for [`crate::metadata::acls::create`].
pub fn creations(req: &CreateAclsRequest) -> Vec<Creation> {
    req.creations
        .iter()
        .map(|c| Creation {
            resource_type: c.resource_type,
            resource_name: c.resource_name.to_string(),
            pattern: c.resource_pattern_type,
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: c.operation,
            permission: c.permission_type,
        })
        .collect()
}

/// Each creation's result on the wire.
pub fn results_of(results: Vec<Result<(), acls::Failure>>) -> Vec<AclCreationResult> {
    results
        .into_iter()
        .map(|r| match r {
            Ok(()) => AclCreationResult::default(),
            Err((code, message)) => AclCreationResult::default()
                .with_error_code(code.code())
                .with_error_message(message.map(str_bytes)),
        })
        .collect()
}
