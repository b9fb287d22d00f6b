//! AlterUserScramCredentials (v0), which brokers forward: the alteration decided on the
//! committed credentials and committed as one batch of records; one result per user.

use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};

use super::{code, message};
use crate::controller::driver::Controller;
use crate::error::ErrorCode;
use crate::kafka::api::alter_user_scram_credentials::{
    deletions, failed_all, results_of, upsertions,
};

pub async fn handle(
    ctl: &Controller,
    _version: i16,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let (deletions, upsertions) = (deletions(&req), upsertions(&req));
    let results = match ctl
        .run(move |m, _| Ok(m.alter_user_scram_credentials(&deletions, &upsertions)))
        .await
    {
        Ok(results) => results_of(results),
        // every user named gets the controller's failure (NOT_CONTROLLER: the broker's
        // channel tries the next one)
        Err(e) => {
            let users = req
                .deletions
                .iter()
                .map(|d| d.name.to_string())
                .chain(req.upsertions.iter().map(|u| u.name.to_string()))
                .collect();
            results_of(failed_all(
                users,
                ErrorCode::from_code(code(&e)),
                message(&e).map(|m| m.to_string()),
            ))
        }
    };
    AlterUserScramCredentialsResponse::default().with_results(results)
}
