//! The Kafka request path from raw bytes: the input is what a client sends on one
//! connection, a stream of size-prefixed frames. Each goes through `codec::check_size`,
//! `codec::parse_request` and `route::serve` (the one route every request takes, the
//! connection's production path) on a real broker with its logs on disk, one after another
//! as a connection serves them; where a connection would close (bad size, bad header, EOF
//! mid-frame, a request that cannot be served) the input ends.
//!
//! Findings: any panic or sanitizer report; a response that cannot be encoded (a bug by
//! `RouteError::Encode`'s own definition); a response frame whose size prefix,
//! correlation id, header or body does not decode as the client would read it.

#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bytes::{Buf, Bytes};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;
use libfuzzer_sys::fuzz_target;
use rafka::broker::Broker;
use rafka::config::Config;
use rafka::kafka::answer::{Outcome, RouteError};
use rafka::kafka::codec::{self, Request};
use rafka::kafka::context::RequestContext;
use rafka::kafka::route;
use rafka::log::records::{encode_batch, NewRecord};
use rafka::partition::AppendOrigin;

#[global_allocator]
static A: rafka::alloc_guard::GuardedAlloc = rafka::alloc_guard::GuardedAlloc;

/// A topic every input finds, with records in partition 0 (fetch, list offsets, delete
/// records have something to work on). Seeds name it.
const TOPIC: &str = "t";
const TOPIC_PARTITIONS: usize = 2;
/// Past this many records in the baseline topic it is recreated, so the log stays small.
const MAX_RECORDS: i64 = 10_000;
/// Largest partition count an input may ask for: creating partitions makes files, and
/// 100 000 of them per input would only measure the file system.
const MAX_PARTITIONS: i32 = 4;
const MAX_NEW_TOPICS: usize = 8;

struct State {
    runtime: tokio::runtime::Runtime,
    broker: Arc<Broker>,
}

/// A fresh scratch directory for this process, under `$RAFKA_FUZZ_DIR` (.ci/fuzz.sh points
/// it at a tmpfs directory it removes afterwards) or else the temp dir.
fn scratch_dir(target: &str) -> PathBuf {
    let base = std::env::var_os("RAFKA_FUZZ_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = base.join(format!("rafka-fuzz-{target}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch dir");
    dir
}

fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(|| {
        let config = Config {
            data_dir: scratch_dir("request"),
            ..Config::default()
        };
        let broker = Arc::new(Broker::open(config).expect("broker opens"));
        // current_thread with a paused clock: timers (a Fetch's max_wait_ms) fire as soon
        // as nothing else can run, so long polls cost no wall time
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        State { runtime, broker }
    })
}

/// Brings the broker back to the baseline: only the baseline topic, with default configs,
/// its partition count, its log start at 0 (DeleteRecords moves it) and a bounded log.
/// Cheap when the last input changed nothing.
fn reset(broker: &Broker) {
    for t in broker.topics() {
        if t.name != TOPIC {
            broker.delete_topic(&t.name).expect("delete a topic");
        }
    }
    let fine = broker.topic(TOPIC).is_some_and(|t| {
        t.partitions.len() == TOPIC_PARTITIONS
            && t.overrides.is_empty()
            && t.partitions
                .iter()
                .all(|p| p.log_start_offset() == 0 && p.log_end_offset() < MAX_RECORDS)
    });
    if fine {
        return;
    }
    if broker.topic(TOPIC).is_some() {
        broker
            .delete_topic(TOPIC)
            .expect("delete the baseline topic");
    }
    let t = broker
        .create_topic(TOPIC, TOPIC_PARTITIONS as i32, 1, BTreeMap::new(), false)
        .expect("create the baseline topic");
    let now = rafka::log::now_ms();
    let records: Vec<NewRecord> = (0..3)
        .map(|i| NewRecord::new(Some(format!("k{i}")), format!("v{i}")).at(now + i))
        .collect();
    t.partitions[0]
        .append(&encode_batch(&records, -1), AppendOrigin::Client)
        .expect("append the baseline records");
}

/// Requests the harness skips (the input ends there) because they would spend the run on
/// file creation rather than on parsing: many partitions or many new topics at once.
fn too_expensive(req: &Request) -> bool {
    let mut body = req.body.clone();
    let version = req.api_version;
    match req.api_key {
        ApiKey::CreateTopics => CreateTopicsRequest::decode(&mut body, version).is_ok_and(|r| {
            r.topics.len() > MAX_NEW_TOPICS
                || r.topics.iter().any(|t| {
                    t.num_partitions > MAX_PARTITIONS
                        || t.assignments.len() > MAX_PARTITIONS as usize
                })
        }),
        ApiKey::CreatePartitions => CreatePartitionsRequest::decode(&mut body, version)
            .is_ok_and(|r| r.topics.iter().any(|t| t.count > MAX_PARTITIONS)),
        // with auto-creation on, each unknown name becomes a topic
        ApiKey::Metadata => MetadataRequest::decode(&mut body, version)
            .is_ok_and(|r| r.topics.is_some_and(|t| t.len() > MAX_NEW_TOPICS)),
        _ => false,
    }
}

/// Decodes a response body as its API's response type (`None`: an API this harness has no
/// decoder for yet; only the header is checked then).
macro_rules! decode_body {
    ($api:expr, $buf:expr, $version:expr; $($key:ident => $ty:ty),* $(,)?) => {
        match $api {
            $(ApiKey::$key => Some(<$ty>::decode($buf, $version).map(drop)),)*
            _ => None,
        }
    };
}

/// Reads a response frame as a client would, for a request of `api`/`version`.
fn check_response(api: ApiKey, version: i16, correlation_id: i32, frame: &Bytes) {
    assert!(
        frame.len() >= 8,
        "a response frame of {} bytes",
        frame.len()
    );
    let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    assert_eq!(
        usize::try_from(size).ok(),
        Some(frame.len() - 4),
        "size prefix"
    );
    // ApiVersions answers a version it does not support with a v0 body (KIP-511)
    let version = match route::route_of(api) {
        Some(r) if api == ApiKey::ApiVersions && !(r.advertised_min..=r.max).contains(&version) => {
            0
        }
        _ => version,
    };
    // Produce v0-2 and Fetch v0-3 are advertised but answered by the hand-written legacy
    // module (UNSUPPORTED_VERSION); the crate cannot decode those versions, so check the
    // frame and correlation id only
    let decoded_min = route::route_of(api).map_or(i16::MIN, |r| r.min);
    if version < decoded_min {
        assert_eq!(
            &frame[4..8],
            &correlation_id.to_be_bytes(),
            "correlation id"
        );
        return;
    }
    let mut rest = frame.slice(4..);
    let header = ResponseHeader::decode(&mut rest, api.response_header_version(version))
        .expect("the response header decodes");
    assert_eq!(header.correlation_id, correlation_id, "correlation id");
    let decoded = decode_body!(api, &mut rest, version;
        Produce => ProduceResponse,
        Fetch => FetchResponse,
        ListOffsets => ListOffsetsResponse,
        Metadata => MetadataResponse,
        ApiVersions => ApiVersionsResponse,
        CreateTopics => CreateTopicsResponse,
        DeleteTopics => DeleteTopicsResponse,
        DeleteRecords => DeleteRecordsResponse,
        DescribeConfigs => DescribeConfigsResponse,
        CreatePartitions => CreatePartitionsResponse,
        IncrementalAlterConfigs => IncrementalAlterConfigsResponse,
        DescribeCluster => DescribeClusterResponse,
        DescribeTopicPartitions => DescribeTopicPartitionsResponse,
        ElectLeaders => ElectLeadersResponse,
        AlterPartitionReassignments => AlterPartitionReassignmentsResponse,
        ListPartitionReassignments => ListPartitionReassignmentsResponse,
        DescribeQuorum => DescribeQuorumResponse,
    );
    match decoded {
        Some(Ok(())) => assert_eq!(
            rest.remaining(),
            0,
            "bytes after the {api:?} v{version} response"
        ),
        Some(Err(e)) => panic!("the {api:?} v{version} response does not decode: {e}"),
        None => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let s = state();
    reset(&s.broker);
    let max = s.broker.config().socket_request_max_bytes;
    let mut rest = data;
    while rest.len() >= 4 {
        let prefix = [rest[0], rest[1], rest[2], rest[3]];
        rest = &rest[4..];
        let Ok(size) = codec::check_size(prefix, max) else {
            return; // the connection closes
        };
        if rest.len() < size {
            return; // EOF mid-frame
        }
        let frame = Bytes::copy_from_slice(&rest[..size]);
        rest = &rest[size..];
        let Ok(req) = codec::parse_request(frame) else {
            return;
        };
        if too_expensive(&req) {
            return;
        }
        let (api, version, correlation_id) = (req.api_key, req.api_version, req.correlation_id);
        // as the connection does: start the request, then wait for its reply (a produce's
        // fsync wait is deferred to a task of its own)
        let mut ctx = RequestContext::local(api, version, correlation_id);
        ctx.client_id = req.client_id;
        let reply = s.runtime.block_on(async {
            match route::serve(Arc::clone(&s.broker), ctx, req.body).await {
                Outcome::Ready(r) => r,
                Outcome::Deferred(task) => match task.await {
                    Ok(r) => r,
                    Err(e) => panic!("the {api:?} task failed: {e}"),
                },
            }
        });
        match reply {
            Ok(Some(frame)) => {
                let bytes = frame
                    .into_bytes()
                    .expect("the frame's file ranges read back");
                check_response(api, version, correlation_id, &bytes)
            }
            Ok(None) => {} // acks=0
            Err(e @ RouteError::Encode { .. }) => panic!("{e}"),
            Err(_) => return, // not servable: the connection closes
        }
    }
});
