//! What a broker in a KRaft cluster holds besides its logs: the metadata image it answers
//! from (kept in step with the quorum) and the channel admin requests are forwarded on to
//! the active controller. A single node has none of this.

use std::time::Duration;

use crate::controller::client::ControllerClient;
use crate::controller::image_state::SharedImage;
use crate::metadata::image::MetadataImage;

/// How long a broker waits for its own image to show what the controller committed for a
/// forwarded request (a topic created, deleted, grown) before answering anyway.
pub const METADATA_PROPAGATION_WAIT: Duration = Duration::from_secs(5);

/// A broker's link to its cluster.
#[derive(Debug)]
pub struct ClusterLink {
    /// The committed metadata as this node has applied it.
    pub image: SharedImage,
    /// Admin requests (CreateTopics, DeleteTopics, ...) forwarded to the active controller.
    pub forward: ControllerClient,
}

impl ClusterLink {
    /// Waits (at most [`METADATA_PROPAGATION_WAIT`]) until the local image satisfies
    /// `cond`: a forwarded change is answered once this broker serves it too.
    pub async fn wait_for(&self, cond: impl Fn(&MetadataImage) -> bool) -> bool {
        self.image.wait_for(cond, METADATA_PROPAGATION_WAIT).await
    }
}
