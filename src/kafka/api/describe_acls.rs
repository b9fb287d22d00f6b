//! DescribeAcls (v1-v3), as Kafka's `AclApis.handleDescribeAcls` answers it:
//! - without an authorizer (`authorizer.class.name`): SECURITY_DISABLED (54) at the top
//!   level, "No Authorizer is configured on the broker", and no resources. Advertising the
//!   API matters even so: MirrorMaker 2 calls it on every ACL sync, and an admin client
//!   gets UnsupportedVersionException (logged as an ERROR) from a broker that does not
//!   advertise it;
//! - without DESCRIBE on the cluster: CLUSTER_AUTHORIZATION_FAILED at the top level;
//! - a code 0 (UNKNOWN) in the filter closes the connection unanswered, as Kafka's request
//!   parsing does;
//! - otherwise the ACLs the filter matches ([`crate::security::acl::AclFilter`]), grouped
//!   by resource pattern, from this broker's metadata (a single node's store, a cluster's
//!   image), as a Kafka broker answers from its authorizer's cache.
//!
//! Kafka 4.0 dropped v0 (KIP-896), so neither does Rafka advertise it.

use std::sync::Arc;

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::{Answer, RouteError};
use crate::kafka::authz;
use crate::kafka::context::RequestContext;
use crate::metadata::acls::describe;
use crate::security::acl::{AclFilter, AclOperation};

/// Kafka's message for DescribeAcls without an authorizer (CreateAcls and DeleteAcls say
/// "No Authorizer is configured." instead).
pub const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

pub async fn handle(
    ctx: &RequestContext,
    broker: &Arc<Broker>,
    req: DescribeAclsRequest,
) -> Answer<DescribeAclsResponse> {
    let failed = |code: ErrorCode, message: &str| {
        Answer::Now(
            DescribeAclsResponse::default()
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(message))),
        )
    };
    if broker.authorizer().is_none() {
        return failed(ErrorCode::SecurityDisabled, NO_AUTHORIZER);
    }
    if !authz::allowed_on_cluster(ctx, broker, AclOperation::Describe) {
        return failed(ErrorCode::ClusterAuthorizationFailed, authz::CLUSTER_DENIED);
    }
    let filter = AclFilter {
        resource_type: req.resource_type_filter,
        resource_name: req.resource_name_filter.as_ref().map(|s| s.to_string()),
        pattern: req.pattern_type_filter,
        principal: req.principal_filter.as_ref().map(|s| s.to_string()),
        host: req.host_filter.as_ref().map(|s| s.to_string()),
        operation: req.operation,
        permission: req.permission_type,
    };
    if [
        filter.resource_type,
        filter.pattern,
        filter.operation,
        filter.permission,
    ]
    .contains(&0)
    {
        return Answer::Fail(RouteError::Decode {
            api: ctx.api_key,
            version: ctx.api_version,
            reason: "an ACL filter with an UNKNOWN (0) code".into(),
        });
    }
    let acls = broker.local_metadata().read(|i| describe(&i.acls, &filter));
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for a in acls {
        let entry = AclDescription::default()
            .with_principal(str_bytes(a.principal.clone()))
            .with_host(str_bytes(a.host.clone()))
            .with_operation(a.operation.code())
            .with_permission_type(a.permission.code());
        let same = |r: &DescribeAclsResource| {
            r.resource_type == a.resource_type.code()
                && r.resource_name.as_str() == a.resource_name
                && r.pattern_type == a.pattern.code()
        };
        match resources.iter_mut().find(|r| same(r)) {
            Some(r) => r.acls.push(entry),
            None => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(a.resource_type.code())
                    .with_resource_name(str_bytes(a.resource_name.clone()))
                    .with_pattern_type(a.pattern.code())
                    .with_acls(vec![entry]),
            ),
        }
    }
    DescribeAclsResponse::default()
        .with_resources(resources)
        .into()
}
