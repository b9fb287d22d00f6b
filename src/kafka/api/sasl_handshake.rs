//! SaslHandshake (v0-v1) where no authentication can start: on a PLAINTEXT or SSL
//! listener. (On a SASL listener the connection's authenticator, [`crate::kafka::sasl`],
//! takes every SaslHandshake itself, a re-authentication's too.) Kafka answers
//! ILLEGAL_SASL_STATE, and so does Rafka.

use std::sync::Arc;

use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::kafka::answer::Answer;
use crate::kafka::context::RequestContext;

pub async fn handle(
    _ctx: &RequestContext,
    _broker: &Arc<Broker>,
    _req: SaslHandshakeRequest,
) -> Answer<SaslHandshakeResponse> {
    Answer::Now(
        SaslHandshakeResponse::default().with_error_code(ErrorCode::IllegalSaslState.code()),
    )
}
