//! DeleteTopics (v1-v6; v6 by name or id): a RemoveTopicRecord per topic.

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::{code, message, str_bytes};
use crate::controller::driver::Controller;
use crate::controller::machine::TopicRef;

pub async fn handle(
    ctl: &Controller,
    version: i16,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let refs: Vec<TopicRef> = if version >= 6 {
        req.topics
            .iter()
            .map(|t| match &t.name {
                Some(n) => TopicRef::Name(n.0.to_string()),
                None => TopicRef::Id(t.topic_id),
            })
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| TopicRef::Name(n.0.to_string()))
            .collect()
    };
    let asked = refs.clone();
    let answers = ctl
        .run(move |m, _| {
            // the names of topics asked by id, before they go
            let names: Vec<Option<String>> = refs
                .iter()
                .map(|r| match r {
                    TopicRef::Name(n) => Some(n.clone()),
                    TopicRef::Id(id) => m.image().topic_by_id(id).map(|t| t.name.clone()),
                })
                .collect();
            let result = m.delete_topics(&refs);
            Ok(crate::controller::machine::ControllerResult {
                records: result.records,
                response: names.into_iter().zip(result.response).collect::<Vec<_>>(),
            })
        })
        .await;
    let with_message = |r: DeletableTopicResult, m: Option<String>| {
        if version >= 5 {
            r.with_error_message(m.map(str_bytes))
        } else {
            r
        }
    };
    let result_for = |r: &TopicRef, name: Option<String>| {
        let (name, id) = match r {
            TopicRef::Name(n) => (Some(n.clone()), Uuid::nil()),
            TopicRef::Id(id) => (name, *id),
        };
        let r = DeletableTopicResult::default().with_name(name.map(|n| TopicName(str_bytes(n))));
        if version >= 6 {
            r.with_topic_id(id)
        } else {
            r
        }
    };
    let responses = match answers {
        Ok(answers) => answers
            .into_iter()
            .map(|(name, (r, result))| match result {
                Ok(id) => {
                    let out = result_for(&r, name);
                    if version >= 6 {
                        out.with_topic_id(id)
                    } else {
                        out
                    }
                }
                Err(e) => with_message(
                    result_for(&r, name).with_error_code(e.code().code()),
                    Some(e.to_string()),
                ),
            })
            .collect(),
        Err(e) => asked
            .iter()
            .map(|r| {
                with_message(
                    result_for(r, None).with_error_code(code(&e)),
                    message(&e).map(|m| m.to_string()),
                )
            })
            .collect(),
    };
    DeleteTopicsResponse::default().with_responses(responses)
}
