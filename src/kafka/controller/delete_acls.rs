//! DeleteAcls (v1-v3), which brokers forward once they have authorized it: each filter's
//! matches removed in one batch; one result per filter.

use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};

use super::{code, message};
use crate::controller::driver::Controller;
use crate::kafka::api::delete_acls::{filters, results_of};

pub async fn handle(ctl: &Controller, _version: i16, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let filters = filters(&req);
    let results = match ctl.run(move |m, _| Ok(m.delete_acls(&filters))).await {
        Ok(results) => results_of(results),
        Err(e) => req
            .filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(code(&e))
                    .with_error_message(message(&e))
            })
            .collect(),
    };
    DeleteAclsResponse::default().with_filter_results(results)
}
