//! BrokerRegistration (v0-v4): a broker registers and gets its epoch (the offset its
//! RegisterBrokerRecord is expected to get). The cluster id, `is_migrating_zk_broker` and
//! `previous_broker_epoch` are not checked (see the machine's notes).

use kafka_protocol::messages::{BrokerRegistrationRequest, BrokerRegistrationResponse};

use super::code;
use crate::controller::driver::Controller;
use crate::controller::machine::BrokerRegistrationRequest as Registration;
use crate::metadata::records::{BrokerEndpoint, BrokerFeature};

pub async fn handle(
    ctl: &Controller,
    _version: i16,
    req: BrokerRegistrationRequest,
) -> BrokerRegistrationResponse {
    let registration = Registration {
        broker_id: req.broker_id.0,
        incarnation_id: req.incarnation_id,
        listeners: req
            .listeners
            .into_iter()
            .map(|l| BrokerEndpoint {
                name: l.name.to_string(),
                host: l.host.to_string(),
                port: l.port,
                security_protocol: l.security_protocol,
            })
            .collect(),
        features: req
            .features
            .into_iter()
            .map(|f| BrokerFeature {
                name: f.name.to_string(),
                min_supported_version: f.min_supported_version,
                max_supported_version: f.max_supported_version,
            })
            .collect(),
        rack: req.rack.map(|r| r.to_string()),
        log_dirs: req.log_dirs,
    };
    let result = ctl
        .run(move |m, ctx| m.register_broker(registration, ctx.now_ms, ctx.next_offset))
        .await;
    match result {
        Ok(epoch) => BrokerRegistrationResponse::default().with_broker_epoch(epoch),
        Err(e) => BrokerRegistrationResponse::default()
            .with_error_code(code(&e))
            .with_broker_epoch(-1),
    }
}
