//! CreateTopics, DeleteTopics and CreatePartitions (Kafka's `ReplicationControlManager`
//! topic side): names checked, replicas placed or an explicit assignment checked, and the
//! TopicRecord / PartitionRecord / ConfigRecord / RemoveTopicRecord to propose.

use super::*;

impl ControllerMachine {
    /// CreateTopics: for each topic a TopicRecord (a new random id), its PartitionRecords
    /// (leader the first replica, ISR all replicas) and a ConfigRecord per override; with
    /// `validate_only` the same checks and answers, and no records.
    pub fn create_topics(
        &mut self,
        topics: &[CreatableTopic],
        validate_only: bool,
        rng: &mut dyn RandomSource,
    ) -> ControllerResult<Vec<CreateTopicResult>> {
        let mut names = BTreeMap::<&str, usize>::new();
        for t in topics {
            *names.entry(t.name.as_str()).or_default() += 1;
        }
        let mut records = Vec::new();
        let mut answers = Vec::with_capacity(topics.len());
        // names created earlier in this request (their records are not replayed yet)
        let mut created: BTreeSet<String> = BTreeSet::new();
        let mut ids: BTreeSet<Uuid> = BTreeSet::new();
        // records this request would write (validate_only counts them too)
        let mut used = 0usize;
        for t in topics {
            let result = if names.get(t.name.as_str()).copied().unwrap_or(0) > 1 {
                Err(ControllerError::InvalidRequest(format!(
                    "duplicate topic name '{}' in the request",
                    t.name
                )))
            } else {
                let budget = MAX_RECORDS_PER_USER_OP.saturating_sub(used);
                self.create_topic(t, &created, &mut ids, budget, rng)
                    .map(|(recs, topic)| {
                        used += recs.len();
                        created.insert(t.name.clone());
                        if !validate_only {
                            records.extend(recs);
                        }
                        topic
                    })
            };
            if let Err(e) = &result {
                debug!(topic = %t.name, cause = %e, "topic not created");
            }
            answers.push((t.name.clone(), result));
        }
        ControllerResult::new(records, answers)
    }

    fn create_topic(
        &self,
        t: &CreatableTopic,
        created: &BTreeSet<String>,
        ids: &mut BTreeSet<Uuid>,
        budget: usize,
        rng: &mut dyn RandomSource,
    ) -> Result<(Vec<MetadataRecord>, CreatedTopic), ControllerError> {
        crate::topic::validate_name(&t.name)
            .map_err(|e| ControllerError::InvalidTopic(e.to_string()))?;
        if self.image.topic(&t.name).is_some() || created.contains(&t.name) {
            return Err(ControllerError::TopicAlreadyExists(t.name.clone()));
        }
        // Kafka: '.' and '_' collide in metric names
        let norm = |s: &str| s.replace('.', "_");
        let mine = norm(&t.name);
        if let Some(other) = self
            .image
            .topics()
            .map(|x| x.name.as_str())
            .chain(created.iter().map(String::as_str))
            .find(|o| norm(o) == mine)
        {
            return Err(ControllerError::InvalidTopic(format!(
                "topic '{}' collides with existing topic '{other}'",
                t.name
            )));
        }
        for (key, value) in &t.configs {
            if value.is_none() {
                return Err(ControllerError::InvalidConfig(format!(
                    "null value not supported for topic config '{key}'"
                )));
            }
        }
        // Kafka refuses an operation of more than MAX_RECORDS_PER_USER_OP records before
        // building it; so no hostile partition count is ever allocated
        let partitions = if t.assignments.is_empty() {
            i64::from(match t.num_partitions {
                -1 => self.config.num_partitions,
                n => n,
            })
        } else {
            t.assignments.len() as i64
        };
        let needed = 1 + partitions.max(0) + t.configs.len() as i64;
        if needed > budget as i64 {
            return Err(too_large());
        }
        let assignment = if t.assignments.is_empty() {
            let partitions = match t.num_partitions {
                -1 => self.config.num_partitions,
                n => n,
            };
            if partitions <= 0 {
                return Err(ControllerError::InvalidPartitions(format!(
                    "number of partitions was set to an invalid non-positive value ({})",
                    t.num_partitions
                )));
            }
            let rf = match t.replication_factor {
                -1 => self.config.default_replication_factor,
                n => n,
            };
            if rf <= 0 {
                return Err(ControllerError::InvalidReplicationFactor(format!(
                    "replication factor must be larger than 0, or -1 to use the default value ({})",
                    t.replication_factor
                )));
            }
            self.place(0, partitions, rf, rng)?
        } else {
            if t.num_partitions != -1 || t.replication_factor != -1 {
                return Err(ControllerError::InvalidRequest(
                    "both numPartitions or replicationFactor and replicasAssignments were set; \
                     both cannot be used at the same time"
                        .into(),
                ));
            }
            let mut sorted = t.assignments.clone();
            sorted.sort_by_key(|(index, _)| *index);
            for (expected, (index, _)) in sorted.iter().enumerate() {
                if i64::from(*index) != expected as i64 {
                    return Err(ControllerError::InvalidReplicaAssignment(
                        "partitions should be a consecutive 0-based integer sequence".into(),
                    ));
                }
            }
            let lists: Vec<Vec<i32>> = sorted.into_iter().map(|(_, r)| r).collect();
            self.check_assignment(&lists, None)?;
            lists
        };
        let topic_id = self.new_topic_id(ids, rng);
        let rf = assignment.first().map_or(0, Vec::len);
        let mut records: Vec<MetadataRecord> = vec![TopicRecord {
            name: t.name.clone(),
            topic_id,
        }
        .into()];
        records.extend(
            assignment
                .iter()
                .enumerate()
                .map(|(i, replicas)| new_partition(topic_id, i, replicas)),
        );
        records.extend(t.configs.iter().map(|(key, value)| {
            MetadataRecord::from(ConfigRecord {
                resource_type: config_resource::TOPIC,
                resource_name: t.name.clone(),
                name: key.clone(),
                value: value.clone(),
            })
        }));
        info!(topic = %t.name, topic_id = %topic_id, partitions = assignment.len(), rf, "topic created");
        Ok((
            records,
            CreatedTopic {
                topic_id,
                num_partitions: i32::try_from(assignment.len()).unwrap_or(i32::MAX),
                replication_factor: i16::try_from(rf).unwrap_or(i16::MAX),
            },
        ))
    }

    fn place(
        &self,
        first: usize,
        count: i32,
        rf: i16,
        rng: &mut dyn RandomSource,
    ) -> Result<Vec<Vec<i32>>, ControllerError> {
        let brokers = self.usable_brokers();
        place_replicas(
            &brokers,
            first,
            usize::try_from(count).unwrap_or(0),
            usize::try_from(rf).unwrap_or(0),
            rng,
        )
        .map_err(|e| match e {
            PlacementError::NotEnoughBrokers { .. } | PlacementError::ZeroReplicationFactor => {
                ControllerError::InvalidReplicationFactor(format!(
                    "unable to replicate the partition {rf} time(s): {e}"
                ))
            }
        })
    }

    /// An explicit assignment: every list non-empty, of one length (`rf` if given), with
    /// distinct, usable brokers.
    fn check_assignment(
        &self,
        lists: &[Vec<i32>],
        rf: Option<usize>,
    ) -> Result<(), ControllerError> {
        let bad = |m: String| Err(ControllerError::InvalidReplicaAssignment(m));
        let want = rf.or_else(|| lists.first().map(Vec::len));
        for (i, replicas) in lists.iter().enumerate() {
            if replicas.is_empty() {
                return bad(format!("the assignment of partition {i} is empty"));
            }
            if Some(replicas.len()) != want {
                return bad(format!(
                    "the assignment of partition {i} has {} replicas, not {}",
                    replicas.len(),
                    want.unwrap_or(0)
                ));
            }
            let distinct: BTreeSet<i32> = replicas.iter().copied().collect();
            if distinct.len() != replicas.len() {
                return bad(format!("the assignment of partition {i} repeats a broker"));
            }
            let usable = self.usable_brokers();
            if let Some(b) = replicas.iter().find(|b| !usable.contains(b)) {
                return bad(format!(
                    "the assignment of partition {i} names broker {b}, which is not registered and unfenced"
                ));
            }
        }
        Ok(())
    }

    fn new_topic_id(&self, ids: &mut BTreeSet<Uuid>, rng: &mut dyn RandomSource) -> Uuid {
        loop {
            let hi = u128::from(rng.next_u64());
            let lo = u128::from(rng.next_u64());
            // a version-4 UUID, as Kafka's Uuid.randomUuid; never the nil or metadata id
            let id = uuid::Builder::from_random_bytes(((hi << 64) | lo).to_be_bytes()).into_uuid();
            let reserved = id.is_nil() || id == Uuid::from_u128(1);
            if !reserved && self.image.topic_by_id(&id).is_none() && ids.insert(id) {
                return id;
            }
        }
    }

    fn resolve(&self, topic: &TopicRef) -> Result<(Uuid, String), ControllerError> {
        match topic {
            TopicRef::Name(n) => self
                .image
                .topic(n)
                .map(|t| (t.id, t.name.clone()))
                .ok_or_else(|| ControllerError::UnknownTopicOrPartition(n.clone())),
            TopicRef::Id(id) => self
                .image
                .topic_by_id(id)
                .map(|t| (t.id, t.name.clone()))
                .ok_or(ControllerError::UnknownTopicId(*id)),
        }
    }

    /// DeleteTopics: a RemoveTopicRecord per topic (its partitions and configs go with it).
    /// Answers each topic's id or why not.
    pub fn delete_topics(
        &mut self,
        topics: &[TopicRef],
    ) -> ControllerResult<Vec<(TopicRef, Result<Uuid, ControllerError>)>> {
        let mut records = Vec::new();
        let mut done = BTreeSet::new();
        let mut answers = Vec::with_capacity(topics.len());
        for t in topics {
            let result = self.resolve(t).map(|(id, name)| {
                if done.insert(id) {
                    info!(topic = %name, topic_id = %id, "topic deleted");
                    records.push(RemoveTopicRecord { topic_id: id }.into());
                }
                id
            });
            answers.push((t.clone(), result));
        }
        ControllerResult::new(records, answers)
    }

    /// CreatePartitions: grows a topic to `count` partitions, placed as CreateTopics
    /// places them (carrying on the striping) or as `assignments` (one list per new
    /// partition, as long as the topic's replication factor).
    pub fn create_partitions(
        &mut self,
        topic: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
        rng: &mut dyn RandomSource,
    ) -> Result<ControllerResult<()>, ControllerError> {
        let t = self
            .image
            .topic(topic)
            .ok_or_else(|| ControllerError::UnknownTopicOrPartition(topic.to_string()))?;
        let current = t.partitions.len();
        let current_i32 = i32::try_from(current).unwrap_or(i32::MAX);
        if count <= current_i32 {
            return Err(ControllerError::InvalidPartitions(format!(
                "topic currently has {current} partitions, which is higher than or equal to the requested {count}"
            )));
        }
        let rf = t.partitions.values().next().map_or(0, |p| p.replicas.len());
        let added = count - current_i32;
        if i64::from(added) > MAX_RECORDS_PER_USER_OP as i64 {
            return Err(too_large());
        }
        let lists = match assignments {
            Some(lists) => {
                if i32::try_from(lists.len()).ok() != Some(added) {
                    return Err(ControllerError::InvalidReplicaAssignment(format!(
                        "{} assignments for {added} new partitions",
                        lists.len()
                    )));
                }
                self.check_assignment(lists, Some(rf))?;
                lists.to_vec()
            }
            None => self.place(current, added, i16::try_from(rf).unwrap_or(i16::MAX), rng)?,
        };
        let id = t.id;
        let records = if validate_only {
            Vec::new()
        } else {
            info!(topic, from = current, to = count, "partitions created");
            lists
                .iter()
                .enumerate()
                .map(|(i, r)| new_partition(id, current + i, r))
                .collect()
        };
        Ok(ControllerResult::new(records, ()))
    }
}

fn new_partition(topic_id: Uuid, index: usize, replicas: &[i32]) -> MetadataRecord {
    PartitionRecord {
        partition_id: i32::try_from(index).unwrap_or(i32::MAX),
        topic_id,
        replicas: replicas.to_vec(),
        isr: replicas.to_vec(),
        removing_replicas: Vec::new(),
        adding_replicas: Vec::new(),
        leader: replicas.first().copied().unwrap_or(NO_LEADER),
        leader_recovery_state: 0,
        leader_epoch: 0,
        partition_epoch: 0,
        directories: Vec::new(),
        eligible_leader_replicas: None,
        last_known_elr: None,
    }
    .into()
}

/// Kafka's answer to an operation of more than [`MAX_RECORDS_PER_USER_OP`] records.
fn too_large() -> ControllerError {
    ControllerError::PolicyViolation(format!(
        "unable to perform excessively large batch operation (more than {MAX_RECORDS_PER_USER_OP} records)"
    ))
}
