//! UnregisterBroker (v0): a broker's registration goes (decommissioning).

use kafka_protocol::messages::{UnregisterBrokerRequest, UnregisterBrokerResponse};

use super::{code, message};
use crate::controller::driver::Controller;

pub async fn handle(
    ctl: &Controller,
    _version: i16,
    req: UnregisterBrokerRequest,
) -> UnregisterBrokerResponse {
    let id = req.broker_id.0;
    match ctl.run(move |m, _| m.unregister_broker(id)).await {
        Ok(()) => UnregisterBrokerResponse::default(),
        Err(e) => UnregisterBrokerResponse::default()
            .with_error_code(code(&e))
            .with_error_message(message(&e)),
    }
}
