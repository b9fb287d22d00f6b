//! DescribeAcls (v1-v3): Rafka has no authorizer yet (issue #18 adds one), so it answers as
//! an Apache Kafka 4.x broker without `authorizer.class.name` does (`AclApis.
//! handleDescribeAcls`): SECURITY_DISABLED (54) at the top level, with the message "No
//! Authorizer is configured on the broker", and no resources. Advertising the API matters
//! even so: MirrorMaker 2 calls it on every ACL sync, and an admin client gets
//! UnsupportedVersionException (logged as an ERROR) from a broker that does not advertise it.
//! Kafka 4.0 dropped v0 (KIP-896), so neither does Rafka advertise it.

use std::sync::Arc;

use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

/// Kafka's message for DescribeAcls without an authorizer (CreateAcls and DeleteAcls say
/// "No Authorizer is configured." instead).
pub const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

pub async fn handle(
    _ctx: &RequestContext,
    _broker: &Arc<Broker>,
    _req: DescribeAclsRequest,
) -> Answer<DescribeAclsResponse> {
    DescribeAclsResponse::default()
        .with_error_code(ErrorCode::SecurityDisabled.code())
        .with_error_message(Some(str_bytes(NO_AUTHORIZER)))
        .into()
}
