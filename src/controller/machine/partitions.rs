//! Changes to existing partitions on request (Kafka's `ReplicationControlManager`
//! partition side): ElectLeaders, AlterPartition from leaders, and KIP-455 reassignments,
//! each built by the one change builder in the parent module.

use super::*;

impl ControllerMachine {
    /// ElectLeaders for partitions of topics: preferred (the first replica, if live and
    /// in the ISR) or unclean (only a partition whose leader is not live: from the ISR,
    /// else any live replica). Answers each partition's outcome.
    pub fn elect_leaders(
        &mut self,
        election: ElectionType,
        partitions: &[(String, i32)],
    ) -> ControllerResult<Vec<PartitionResult>> {
        let none = BTreeSet::new();
        let live = Liveness {
            image: &self.image,
            leaving: &none,
            joining: None,
        };
        let mut records = Vec::new();
        let mut answers = Vec::with_capacity(partitions.len());
        for (topic, index) in partitions {
            let result = (|| {
                let t = self
                    .image
                    .topic(topic)
                    .ok_or_else(|| ControllerError::UnknownTopicOrPartition(topic.clone()))?;
                let p = t.partitions.get(index).ok_or_else(|| {
                    ControllerError::UnknownTopicOrPartition(format!("{topic}-{index}"))
                })?;
                let (mode, not_available) = match election {
                    ElectionType::Preferred => {
                        if p.replicas.first() == Some(&p.leader) {
                            return Err(ControllerError::ElectionNotNeeded);
                        }
                        (
                            Election::Preferred,
                            ControllerError::PreferredLeaderNotAvailable,
                        )
                    }
                    ElectionType::Unclean => {
                        if p.leader != NO_LEADER && live.active(p.leader) {
                            return Err(ControllerError::ElectionNotNeeded);
                        }
                        (
                            Election::Unclean,
                            ControllerError::EligibleLeadersNotAvailable,
                        )
                    }
                };
                let change = self.partition_change(t.id, *index, p, &live, mode);
                let wanted = match election {
                    ElectionType::Preferred => p.replicas.first().copied(),
                    ElectionType::Unclean => None,
                };
                match change {
                    Some(c)
                        if c.leader != NO_LEADER_CHANGE
                            && c.leader != NO_LEADER
                            && wanted.is_none_or(|w| w == c.leader) =>
                    {
                        records.push(c.into());
                        Ok(())
                    }
                    _ => Err(not_available),
                }
            })();
            answers.push(((topic.clone(), *index), result));
        }
        ControllerResult::new(records, answers)
    }

    /// AlterPartitionReassignments (KIP-455): for each partition a target replica list, or
    /// `None` to cancel. A new target is recorded in a PartitionChangeRecord: replicas =
    /// the target then the replicas being removed, with the adding and removing lists; it
    /// completes (replicas = target, the removed ones gone from the ISR) as soon as the
    /// ISR holds the whole target, at once for a reordering or a shrink. Moving the data
    /// (followers of the adding replicas joining the ISR) is the replication's part; each
    /// ISR change that reaches the controller completes it when it can. A cancel reverts
    /// to the replicas before the reassignment.
    pub fn alter_partition_reassignments(
        &mut self,
        reassignments: &[Reassignment],
    ) -> ControllerResult<Vec<PartitionResult>> {
        let none = BTreeSet::new();
        let live = Liveness {
            image: &self.image,
            leaving: &none,
            joining: None,
        };
        let mut records = Vec::new();
        let mut answers = Vec::with_capacity(reassignments.len());
        for ((topic, index), target) in reassignments {
            let result = (|| {
                let t = self
                    .image
                    .topic(topic)
                    .ok_or_else(|| ControllerError::UnknownTopicOrPartition(topic.clone()))?;
                let p = t.partitions.get(index).ok_or_else(|| {
                    ControllerError::UnknownTopicOrPartition(format!("{topic}-{index}"))
                })?;
                let in_progress = !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty();
                let goal = match target {
                    None => {
                        if !in_progress {
                            return Err(ControllerError::NoReassignmentInProgress);
                        }
                        // Kafka's PartitionReassignmentRevert
                        let replicas: Vec<i32> = p
                            .replicas
                            .iter()
                            .copied()
                            .filter(|r| !p.adding_replicas.contains(r))
                            .collect();
                        let isr: Vec<i32> = p
                            .isr
                            .iter()
                            .copied()
                            .filter(|r| replicas.contains(r))
                            .collect();
                        if isr.is_empty() {
                            return Err(ControllerError::InvalidReplicaAssignment(format!(
                                "unable to revert the assignment of {topic}-{index}: it would need an unclean leader election"
                            )));
                        }
                        info!(topic, partition = index, "reassignment cancelled");
                        Target {
                            replicas,
                            isr,
                            adding: Vec::new(),
                            removing: Vec::new(),
                        }
                    }
                    Some(wanted) => {
                        self.check_reassignment(wanted)?;
                        // from the current replicas, as Kafka does: a replica still being
                        // added that the new target drops is removed again
                        let removing: Vec<i32> = p
                            .replicas
                            .iter()
                            .copied()
                            .filter(|r| !wanted.contains(r))
                            .collect();
                        let adding: Vec<i32> = wanted
                            .iter()
                            .copied()
                            .filter(|r| !p.replicas.contains(r))
                            .collect();
                        let mut replicas = wanted.clone();
                        replicas.extend(removing.iter().copied());
                        info!(topic, partition = index, target = ?wanted, "reassignment");
                        Target {
                            replicas,
                            isr: p.isr.clone(),
                            adding,
                            removing,
                        }
                    }
                };
                if let Some(c) = self.build_change(t.id, *index, p, goal, &live, Election::Clean) {
                    records.push(c.into());
                }
                Ok(())
            })();
            answers.push(((topic.clone(), *index), result));
        }
        ControllerResult::new(records, answers)
    }

    /// AlterPartition (KIP-497): the leader's new ISR. Checked as Kafka checks it: the
    /// sender's broker epoch, that it leads the partition at that leader epoch, the
    /// partition epoch (a concurrent change wins), the ISR within the replicas and holding
    /// the leader, and every replica joining the ISR active (INELIGIBLE_REPLICA). A
    /// reassignment completes here once the ISR allows it.
    pub fn alter_partition(
        &mut self,
        req: &AlterPartitionRequest,
    ) -> Result<ControllerResult<AlterPartitionReply>, ControllerError> {
        let b = self
            .image
            .brokers
            .get(&req.broker_id)
            .ok_or(ControllerError::BrokerIdNotRegistered(req.broker_id))?;
        if b.epoch != req.broker_epoch {
            return Err(ControllerError::StaleBrokerEpoch {
                broker_id: req.broker_id,
                got: req.broker_epoch,
                current: b.epoch,
            });
        }
        let t = self
            .image
            .topic_by_id(&req.topic_id)
            .ok_or(ControllerError::UnknownTopicId(req.topic_id))?;
        let p = t.partitions.get(&req.partition).ok_or_else(|| {
            ControllerError::UnknownTopicOrPartition(format!("{}-{}", t.name, req.partition))
        })?;
        if p.leader != req.broker_id || req.leader_epoch > p.leader_epoch {
            return Err(ControllerError::NotLeader(req.broker_id));
        }
        if req.leader_epoch < p.leader_epoch {
            return Err(ControllerError::FencedLeaderEpoch {
                got: req.leader_epoch,
                current: p.leader_epoch,
            });
        }
        if req.partition_epoch != p.partition_epoch {
            return Err(ControllerError::InvalidUpdateVersion {
                got: req.partition_epoch,
                current: p.partition_epoch,
            });
        }
        let distinct: BTreeSet<i32> = req.new_isr.iter().copied().collect();
        if distinct.len() != req.new_isr.len()
            || !req.new_isr.iter().all(|r| p.replicas.contains(r))
            || !req.new_isr.contains(&p.leader)
        {
            return Err(ControllerError::InvalidRequest(format!(
                "ISR {:?} is not a set of the replicas {:?} holding the leader",
                req.new_isr, p.replicas
            )));
        }
        let none = BTreeSet::new();
        let live = Liveness {
            image: &self.image,
            leaving: &none,
            joining: None,
        };
        if let Some(&r) = req
            .new_isr
            .iter()
            .find(|&&r| !p.isr.contains(&r) && !live.active(r))
        {
            return Err(ControllerError::IneligibleReplica(r));
        }
        let mut target = Target::of(p);
        target.isr = req.new_isr.clone();
        let change = self.build_change(t.id, req.partition, p, target, &live, Election::Clean);
        let mut after = p.clone();
        let mut records = Vec::new();
        if let Some(c) = change {
            if c.leader != NO_LEADER_CHANGE {
                after.leader = c.leader;
                after.leader_epoch = after.leader_epoch.saturating_add(1);
            }
            if let Some(isr) = &c.isr {
                after.isr.clone_from(isr);
            }
            after.partition_epoch = after.partition_epoch.saturating_add(1);
            records.push(c.into());
        }
        Ok(ControllerResult::new(
            records,
            AlterPartitionReply {
                leader: after.leader,
                leader_epoch: after.leader_epoch,
                partition_epoch: after.partition_epoch,
                isr: after.isr,
            },
        ))
    }

    /// A reassignment target: non-empty, distinct, registered brokers (fenced ones too:
    /// the reassignment waits for them).
    fn check_reassignment(&self, replicas: &[i32]) -> Result<(), ControllerError> {
        let bad = |m: String| Err(ControllerError::InvalidReplicaAssignment(m));
        if replicas.is_empty() {
            return bad("the target replica list is empty".into());
        }
        let distinct: BTreeSet<i32> = replicas.iter().copied().collect();
        if distinct.len() != replicas.len() {
            return bad("the target replica list repeats a broker".into());
        }
        if let Some(b) = replicas
            .iter()
            .find(|b| !self.image.brokers.contains_key(b))
        {
            return bad(format!("broker {b} is not registered"));
        }
        Ok(())
    }

    /// ListPartitionReassignments: every partition with a reassignment in progress.
    pub fn list_partition_reassignments(&self) -> Vec<OngoingReassignment> {
        self.image
            .topics()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .filter(|(_, p)| {
                        !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty()
                    })
                    .map(|(&index, p)| OngoingReassignment {
                        topic: t.name.clone(),
                        partition: index,
                        replicas: p.replicas.clone(),
                        adding_replicas: p.adding_replicas.clone(),
                        removing_replicas: p.removing_replicas.clone(),
                    })
            })
            .collect()
    }
}
