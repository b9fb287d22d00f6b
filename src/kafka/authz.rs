//! Authorization of a request: may this request's principal, from its address, do an
//! operation to a resource? Asked by the handlers (each checks what Kafka's `KafkaApis`
//! checks, and answers a denial with Kafka's error code), decided by the broker's
//! [`Authorizer`] (Kafka's StandardAuthorizer, `authorizer.class.name`) over the ACLs of
//! its metadata (a cluster's image, or a single node's store). Without an authorizer
//! everything is allowed, as in Kafka.
//!
//! Every API's handler authorizes its request; only ApiVersions, the SASL exchange and
//! DescribeCluster need nothing (as in Kafka).

use super::context::RequestContext;
use crate::broker::Broker;
use crate::security::acl::{java_host, AclOperation, Authorizer, ResourceType, CLUSTER_NAME};

/// The caller's address as ACL hosts name it ("" for an in-process request, which only a
/// `*` host matches).
fn host(ctx: &RequestContext) -> String {
    ctx.peer.map(|p| java_host(p.ip())).unwrap_or_default()
}

/// Whether this broker's ACLs are loaded: always on a single node; in a cluster once the
/// controller has unfenced this broker's registration, which it does only once the broker
/// has caught up with the metadata log. Until then only super users are let through, as
/// Kafka opens no client listener before its authorizer's first load: an image still
/// replaying could lack a DENY, or hold an ALLOW removed since.
fn acls_loaded(broker: &Broker) -> bool {
    let Some(link) = broker.cluster() else {
        return true;
    };
    let epoch = link.broker_epoch.load(std::sync::atomic::Ordering::Acquire);
    epoch >= 0
        && link.image.read(|i| {
            i.brokers
                .get(&broker.node_id())
                .is_some_and(|b| b.epoch == epoch && !b.fenced)
        })
}

/// The authorizer, if one is configured and the request is not already decided: `Err`
/// holds the decision (a super user: yes; ACLs not loaded yet: no).
fn authorizer<'a>(ctx: &RequestContext, broker: &'a Broker) -> Result<&'a Authorizer, bool> {
    let Some(z) = broker.authorizer() else {
        return Err(true);
    };
    if z.is_super_user(&ctx.principal) {
        return Err(true);
    }
    if !acls_loaded(broker) {
        return Err(false);
    }
    Ok(z)
}

/// Whether the request may do `op` to the resource `(kind, name)`.
pub fn allowed(
    ctx: &RequestContext,
    broker: &Broker,
    op: AclOperation,
    kind: ResourceType,
    name: &str,
) -> bool {
    let z = match authorizer(ctx, broker) {
        Ok(z) => z,
        Err(decided) => return decided,
    };
    let host = host(ctx);
    broker
        .local_metadata()
        .read(|image| z.authorize(image.acls.values(), &ctx.principal, &host, op, kind, name))
}

/// The names (of `names`) the request may not do `op` to: empty without an authorizer.
pub fn denied_topics<'a>(
    ctx: &RequestContext,
    broker: &Broker,
    names: impl IntoIterator<Item = &'a str>,
    op: AclOperation,
) -> std::collections::HashSet<String> {
    if broker.authorizer().is_none() {
        return Default::default();
    }
    names
        .into_iter()
        .filter(|n| !allowed(ctx, broker, op, ResourceType::Topic, n))
        .map(str::to_string)
        .collect()
}

/// Whether the request may do `op` to the cluster.
pub fn allowed_on_cluster(ctx: &RequestContext, broker: &Broker, op: AclOperation) -> bool {
    allowed(ctx, broker, op, ResourceType::Cluster, CLUSTER_NAME)
}

/// Whether the request may do `op` to some resource of type `kind` (Kafka's
/// `authorizeByResourceType`: InitProducerId without a transactional id).
pub fn allowed_on_some(
    ctx: &RequestContext,
    broker: &Broker,
    op: AclOperation,
    kind: ResourceType,
) -> bool {
    let z = match authorizer(ctx, broker) {
        Ok(z) => z,
        Err(decided) => return decided,
    };
    let host = host(ctx);
    broker.local_metadata().read(|image| {
        let acls: Vec<_> = image.acls.values().collect();
        z.authorize_by_resource_type(&acls, &ctx.principal, &host, op, kind)
    })
}

/// Kafka's authorized-operations bit field for the resource `(kind, name)`: bit `code` set
/// for each operation of the type ([`ResourceType::operations`]) the request may do,
/// implied ones included (every operation without an authorizer).
pub fn authorized_operations(
    ctx: &RequestContext,
    broker: &Broker,
    kind: ResourceType,
    name: &str,
) -> i32 {
    kind.operations()
        .iter()
        .filter(|op| allowed(ctx, broker, **op, kind, name))
        .fold(0, |bits, op| bits | (1 << op.code()))
}

/// Kafka's "authorized operations not requested" value.
pub const OPS_NOT_REQUESTED: i32 = i32::MIN;

/// The messages Kafka's denials carry where a response has a message field (its errors'
/// default messages).
pub const CLUSTER_DENIED: &str = "Cluster authorization failed.";
pub const TOPIC_DENIED: &str = "Topic authorization failed.";
pub const GROUP_DENIED: &str = "Group authorization failed.";
