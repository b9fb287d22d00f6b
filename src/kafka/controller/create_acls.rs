//! CreateAcls (v1-v3), which brokers forward once they have authorized it: the creations
//! decided on the committed ACLs and committed as one batch; one result per creation.

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};

use super::{code, message};
use crate::controller::driver::Controller;
use crate::kafka::api::create_acls::{creations, results_of};

pub async fn handle(ctl: &Controller, _version: i16, req: CreateAclsRequest) -> CreateAclsResponse {
    let creations = creations(&req);
    let results = match ctl
        .run(move |m, ctx| Ok(m.create_acls(&creations, ctx.rng)))
        .await
    {
        Ok(results) => results_of(results),
        Err(e) => req
            .creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(code(&e))
                    .with_error_message(message(&e))
            })
            .collect(),
    };
    CreateAclsResponse::default().with_results(results)
}
