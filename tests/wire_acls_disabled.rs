//! DescribeAcls, CreateAcls and DeleteAcls without an authorizer, through real frames at
//! each API's lowest and highest version. Rafka answers as Apache Kafka 4.x without
//! `authorizer.class.name` (`kafka.server.AclApis`): SECURITY_DISABLED (54), top-level for
//! DescribeAcls ("No Authorizer is configured on the broker"), per creation for CreateAcls
//! and per filter for DeleteAcls ("No Authorizer is configured."). MirrorMaker 2 calls
//! DescribeAcls on every ACL sync (issue #16).

mod support;

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{start_broker, Client};

const SECURITY_DISABLED: i16 = 54;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn message(m: &Option<StrBytes>) -> Option<&str> {
    m.as_ref().map(|m| m.as_str())
}

/// Kafka 4.x advertises the three ACL APIs at v1-v3 (v0 was dropped by KIP-896).
#[tokio::test]
async fn acl_apis_are_advertised_at_kafka_4_versions() {
    let (broker, _dir) = start_broker().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    let versions = support::advertised(&mut c).await;
    let range = |api: ApiKey| versions.get(&(api as i16)).copied();
    assert_eq!(range(ApiKey::DescribeAcls), Some((1, 3)));
    assert_eq!(range(ApiKey::CreateAcls), Some((1, 3)));
    assert_eq!(range(ApiKey::DeleteAcls), Some((1, 3)));
    broker.shutdown().await.expect("shutdown");
}

/// MirrorMaker's call: every ACL of any topic. SECURITY_DISABLED at the top level.
#[tokio::test]
async fn describe_acls_is_security_disabled() {
    let (broker, _dir) = start_broker().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    for version in [1i16, 3] {
        let req = DescribeAclsRequest::default()
            .with_resource_type_filter(2) // TOPIC
            .with_pattern_type_filter(1) // ANY
            .with_operation(1) // ANY
            .with_permission_type(1); // ANY
        let r: DescribeAclsResponse = c.call(ApiKey::DescribeAcls, version, &req).await;
        assert_eq!(r.error_code, SECURITY_DISABLED, "v{version}");
        assert_eq!(
            message(&r.error_message),
            Some("No Authorizer is configured on the broker"),
            "v{version}"
        );
        assert!(r.resources.is_empty(), "v{version}");
    }
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn create_acls_fails_each_creation_with_security_disabled() {
    let (broker, _dir) = start_broker().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    let creation = |topic: &str| {
        AclCreation::default()
            .with_resource_type(2) // TOPIC
            .with_resource_name(s(topic))
            .with_resource_pattern_type(3) // LITERAL
            .with_principal(s("User:alice"))
            .with_host(s("*"))
            .with_operation(3) // READ
            .with_permission_type(3) // ALLOW
    };
    for version in [1i16, 3] {
        let req = CreateAclsRequest::default().with_creations(vec![creation("a"), creation("b")]);
        let r: CreateAclsResponse = c.call(ApiKey::CreateAcls, version, &req).await;
        assert_eq!(r.results.len(), 2, "one result per creation, v{version}");
        for result in &r.results {
            assert_eq!(result.error_code, SECURITY_DISABLED, "v{version}");
            assert_eq!(
                message(&result.error_message),
                Some("No Authorizer is configured."),
                "v{version}"
            );
        }
    }
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn delete_acls_fails_each_filter_with_security_disabled() {
    let (broker, _dir) = start_broker().await;
    let mut c = Client::connect(broker.kafka_addr()).await;
    let filter = DeleteAclsFilter::default()
        .with_resource_type_filter(1) // ANY
        .with_pattern_type_filter(1) // ANY
        .with_operation(1) // ANY
        .with_permission_type(1); // ANY
    for version in [1i16, 3] {
        let req = DeleteAclsRequest::default().with_filters(vec![filter.clone(), filter.clone()]);
        let r: DeleteAclsResponse = c.call(ApiKey::DeleteAcls, version, &req).await;
        assert_eq!(
            r.filter_results.len(),
            2,
            "one result per filter, v{version}"
        );
        for result in &r.filter_results {
            assert_eq!(result.error_code, SECURITY_DISABLED, "v{version}");
            assert_eq!(
                message(&result.error_message),
                Some("No Authorizer is configured."),
                "v{version}"
            );
            assert!(result.matching_acls.is_empty(), "v{version}");
        }
    }
    broker.shutdown().await.expect("shutdown");
}
