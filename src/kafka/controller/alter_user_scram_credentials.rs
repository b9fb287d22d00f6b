//! AlterUserScramCredentials (v0), which brokers forward: the alteration decided on the
//! committed credentials and committed as one batch of records; one result per user.

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};

use super::{code, message};
use crate::controller::driver::Controller;
use crate::kafka::api::alter_user_scram_credentials::{deletions, results_of, upsertions};

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
            let users: indexmap::IndexSet<_> = req
                .deletions
                .iter()
                .map(|d| d.name.clone())
                .chain(req.upsertions.iter().map(|u| u.name.clone()))
                .collect();
            users
                .into_iter()
                .map(|user| {
                    AlterUserScramCredentialsResult::default()
                        .with_user(user)
                        .with_error_code(code(&e))
                        .with_error_message(message(&e))
                })
                .collect()
        }
    };
    AlterUserScramCredentialsResponse::default().with_results(results)
}
