//! DeleteAcls (v1-v3), as Kafka's `AclApis.handleDeleteAcls` answers it:
//! - without an authorizer every filter fails with SECURITY_DISABLED (54), "No Authorizer
//!   is configured.", and no matching ACLs;
//! - without ALTER on the cluster, every filter gets CLUSTER_AUTHORIZATION_FAILED;
//! - a code 0 (UNKNOWN) in a filter closes the connection unanswered, as Kafka's request
//!   parsing does;
//! - otherwise each filter removes the ACLs it matches ([`crate::metadata::acls::delete`]):
//!   one result per filter with the ACLs it matched, in request order; an unknown filter
//!   fails alone.
//!
//! A single node writes its store before answering; in a cluster the request goes to the
//! active controller, and the answer waits until this broker's image has lost the ACLs.

use std::sync::Arc;

use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};

use super::create_acls::NO_AUTHORIZER;
use super::forward::forward;
use super::str_bytes;
use crate::broker::local_metadata::BrokerMetadata;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::{Answer, RouteError};
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::metadata::acls::{self, Deleted};
use crate::security::acl::{Acl, AclFilter, AclOperation};

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: DeleteAclsRequest,
) -> Answer<DeleteAclsResponse> {
    let all = |code: ErrorCode, message: Option<&str>| {
        let results = req
            .filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(code.code())
                    .with_error_message(message.map(str_bytes))
            })
            .collect();
        Answer::Now(DeleteAclsResponse::default().with_filter_results(results))
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
    let filters = filters(&req);
    if filters
        .iter()
        .any(|f| [f.resource_type, f.pattern, f.operation, f.permission].contains(&0))
    {
        return Answer::Fail(RouteError::Decode {
            api: ctx.api_key,
            version: ctx.api_version,
            reason: "an ACL filter with an UNKNOWN (0) code".into(),
        });
    }
    let results = match (broker.cluster(), &**broker.local_metadata()) {
        (Some(cluster), _) => {
            let codes =
                |r: &DeleteAclsResponse| r.filter_results.iter().map(|r| r.error_code).collect();
            return match forward(cluster, ctx, &req, codes).await {
                Ok(resp) => {
                    cluster
                        .wait_for(|image| {
                            !image.acls.values().any(|a| {
                                filters
                                    .iter()
                                    .zip(&resp.filter_results)
                                    .any(|(f, r)| r.error_code == 0 && f.matches(a))
                            })
                        })
                        .await;
                    Answer::Now(resp)
                }
                Err(e) => all(e.code(), Some(&e.to_string())),
            };
        }
        (None, BrokerMetadata::Local(local)) => {
            let local = Arc::clone(local);
            let change = move || local.change(|i| acls::delete(&i.acls, &filters));
            match tokio::task::spawn_blocking(change).await {
                Ok(Ok(results)) => results,
                Ok(Err(e)) => return all(e.code(), Some(&e.to_string())),
                Err(e) => return all(ErrorCode::UnknownServerError, Some(&e.to_string())),
            }
        }
        (None, BrokerMetadata::Cluster(_)) => return all(ErrorCode::NotController, None),
    };
    Answer::Now(DeleteAclsResponse::default().with_filter_results(results_of(results)))
}

/// The request's filters.
pub fn filters(req: &DeleteAclsRequest) -> Vec<AclFilter> {
    req.filters
        .iter()
        .map(|f| AclFilter {
            resource_type: f.resource_type_filter,
            resource_name: f.resource_name_filter.as_ref().map(|s| s.to_string()),
            pattern: f.pattern_type_filter,
            principal: f.principal_filter.as_ref().map(|s| s.to_string()),
            host: f.host_filter.as_ref().map(|s| s.to_string()),
            operation: f.operation,
            permission: f.permission_type,
        })
        .collect()
}

/// Each filter's result on the wire.
pub fn results_of(results: Vec<Deleted>) -> Vec<DeleteAclsFilterResult> {
    results
        .into_iter()
        .map(|d| {
            DeleteAclsFilterResult::default()
                .with_error_code(d.error.code())
                .with_error_message(d.message.map(str_bytes))
                .with_matching_acls(d.matching.iter().map(matching).collect())
        })
        .collect()
}

fn matching(a: &Acl) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(a.resource_type.code())
        .with_resource_name(str_bytes(a.resource_name.clone()))
        .with_pattern_type(a.pattern.code())
        .with_principal(str_bytes(a.principal.clone()))
        .with_host(str_bytes(a.host.clone()))
        .with_operation(a.operation.code())
        .with_permission_type(a.permission.code())
}
