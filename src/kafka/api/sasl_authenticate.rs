//! SaslAuthenticate (v0-v2) outside an authentication: on a PLAINTEXT or SSL listener, or
//! on a SASL one after the connection has authenticated without starting again with a
//! SaslHandshake (the authenticator, [`crate::kafka::sasl`], takes the ones that belong to
//! an authentication). Kafka's answer: ILLEGAL_SASL_STATE, with its message.

use std::sync::Arc;

use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

pub async fn handle(
    _ctx: &RequestContext,
    _broker: &Arc<Broker>,
    _req: SaslAuthenticateRequest,
) -> Answer<SaslAuthenticateResponse> {
    Answer::Now(
        SaslAuthenticateResponse::default()
            .with_error_code(ErrorCode::IllegalSaslState.code())
            .with_error_message(Some(str_bytes(
                "SaslAuthenticate request received after successful authentication",
            ))),
    )
}
