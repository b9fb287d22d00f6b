//! Replica placement: which brokers hold the replicas of new partitions, spread as Kafka
//! spreads them when no rack is set (the rack-unaware striping of Kafka's
//! `AdminUtils.assignReplicasToBrokersRackUnaware`, which CreateTopics and
//! CreatePartitions use): the first replica of partition `p` is broker
//! `(start + p) % n` of the sorted list, and each follower is shifted from it by a shift
//! that grows by one every `n` partitions, so leaders and followers both spread evenly.
//!
//! Randomness comes in through [`RandomSource`] (the caller seeds it), so placement is
//! reproducible in tests. Kafka's controller also draws the topic id from it.
//!
//! Where Rafka differs: the follower shift of partition `p` is derived from `p` itself,
//! so partitions added later (CreatePartitions) carry on exactly where the first ones
//! left off; Kafka's loop only counts the wraps it sees from its start partition.
//! Kafka 4's controller uses `StripedReplicaPlacer` (rack lists shuffled per call); with
//! one rack both spread leaders and followers evenly, which is what users see.
//!
//! What this module does not do: racks (every broker is treated as one rack), and
//! checking that brokers are live (the caller passes the usable ones).

/// A source of random numbers. The controller takes one per event, so a test can fix the
/// seed and a driver can seed it from the OS.
pub trait RandomSource {
    fn next_u64(&mut self) -> u64;

    /// A number in `0..n` (0 when `n` is 0). The modulo bias is irrelevant for placement.
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }
}

/// SplitMix64: small, seedable, good enough to spread replicas and draw topic ids.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
}

impl RandomSource for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Why no placement exists.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// More replicas asked for than usable brokers (Kafka: INVALID_REPLICATION_FACTOR).
    #[error("the target replication factor of {replication_factor} cannot be reached because only {brokers} broker(s) are usable")]
    NotEnoughBrokers {
        replication_factor: usize,
        brokers: usize,
    },
    /// A replication factor of zero.
    #[error("the replication factor must be at least 1")]
    ZeroReplicationFactor,
}

/// Replica lists for partitions `first_partition .. first_partition + count` over
/// `brokers` (any order; they are sorted here, as Kafka sorts them), `replication_factor`
/// replicas each, the first being the preferred leader. `first_partition` is the number
/// of partitions the topic has already (non-zero for CreatePartitions), so new ones carry
/// on the striping.
pub fn place_replicas(
    brokers: &[i32],
    first_partition: usize,
    count: usize,
    replication_factor: usize,
    rng: &mut dyn RandomSource,
) -> Result<Vec<Vec<i32>>, PlacementError> {
    if replication_factor == 0 {
        return Err(PlacementError::ZeroReplicationFactor);
    }
    let mut sorted = brokers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let n = sorted.len();
    if replication_factor > n {
        return Err(PlacementError::NotEnoughBrokers {
            replication_factor,
            brokers: n,
        });
    }
    let start = rng.below(n);
    let base_shift = rng.below(n);
    let mut out = Vec::with_capacity(count);
    for p in first_partition..first_partition.saturating_add(count) {
        // Kafka bumps the shift each time the partition id wraps the broker list; derived
        // from `p` here, so partitions added later carry on exactly as if created at once
        let shift = base_shift + p / n;
        let first = (p + start) % n;
        let mut replicas = Vec::with_capacity(replication_factor);
        replicas.extend(sorted.get(first).copied());
        for j in 0..replication_factor - 1 {
            // n >= 2 here: replication_factor > 1 and replication_factor <= n
            let index = (first + 1 + (shift + j) % (n - 1)) % n;
            replicas.extend(sorted.get(index).copied());
        }
        out.push(replicas);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that returns fixed numbers, to pin Kafka's worked examples.
    struct Fixed(Vec<u64>);
    impl RandomSource for Fixed {
        fn next_u64(&mut self) -> u64 {
            if self.0.is_empty() {
                0
            } else {
                self.0.remove(0)
            }
        }
    }

    #[test]
    fn striping_as_kafka_documents_it() {
        // AdminUtils' doc: 5 brokers, 10 partitions, RF 3, start index 0, shift 0:
        // p0 (0,1,2) p1 (1,2,3) p2 (2,3,4) p3 (3,4,0) p4 (4,0,1)
        // p5 (0,2,3) p6 (1,3,4) p7 (2,4,0) p8 (3,0,1) p9 (4,1,2)
        let got =
            place_replicas(&[4, 3, 2, 1, 0], 0, 10, 3, &mut Fixed(vec![0, 0])).expect("placed");
        let want: Vec<Vec<i32>> = vec![
            vec![0, 1, 2],
            vec![1, 2, 3],
            vec![2, 3, 4],
            vec![3, 4, 0],
            vec![4, 0, 1],
            vec![0, 2, 3],
            vec![1, 3, 4],
            vec![2, 4, 0],
            vec![3, 0, 1],
            vec![4, 1, 2],
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn continues_for_new_partitions_and_spreads_leaders() {
        let mut rng = SplitMix64::new(7);
        let all = place_replicas(&[1, 2, 3], 0, 6, 3, &mut rng).expect("placed");
        for r in &all {
            let mut s = r.clone();
            s.sort_unstable();
            assert_eq!(s, vec![1, 2, 3], "distinct replicas");
        }
        // each broker leads two of six partitions
        for b in 1..=3 {
            assert_eq!(all.iter().filter(|r| r[0] == b).count(), 2);
        }
        // with the same draws, partitions 4.. continue what 0.. began
        let tail = place_replicas(&[1, 2, 3], 4, 2, 3, &mut SplitMix64::new(7)).expect("placed");
        assert_eq!(tail, all[4..].to_vec());
    }

    proptest::proptest! {
        /// Any cluster size, replication factor and count: every list has `rf` distinct
        /// brokers of the cluster, and leadership is round-robin (no broker leads more
        /// than one partition more than another).
        #[test]
        fn placements_are_valid_and_leaders_balanced(
            n in 1usize..9,
            rf_seed in 0usize..9,
            first in 0usize..20,
            count in 0usize..40,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let rf = 1 + rf_seed % n;
            let brokers: Vec<i32> = (0..n as i32).map(|b| b * 3 + 1).collect();
            let lists = place_replicas(&brokers, first, count, rf, &mut SplitMix64::new(seed))
                .expect("placed");
            proptest::prop_assert_eq!(lists.len(), count);
            let mut leads = std::collections::BTreeMap::new();
            for l in &lists {
                let distinct: std::collections::BTreeSet<i32> = l.iter().copied().collect();
                proptest::prop_assert_eq!(distinct.len(), rf);
                proptest::prop_assert!(l.iter().all(|b| brokers.contains(b)));
                *leads.entry(l[0]).or_insert(0usize) += 1;
            }
            if count >= n {
                let max = leads.values().max().copied().unwrap_or(0);
                let min = leads.values().min().copied().unwrap_or(0);
                proptest::prop_assert!(max - min <= 1 && leads.len() == n, "{leads:?}");
            }
        }
    }

    #[test]
    fn too_few_brokers() {
        let mut rng = SplitMix64::new(1);
        assert_eq!(
            place_replicas(&[1, 2], 0, 1, 3, &mut rng),
            Err(PlacementError::NotEnoughBrokers {
                replication_factor: 3,
                brokers: 2
            })
        );
        assert_eq!(
            place_replicas(&[1, 2], 0, 1, 0, &mut rng),
            Err(PlacementError::ZeroReplicationFactor)
        );
        assert_eq!(
            place_replicas(&[], 0, 0, 1, &mut rng),
            Err(PlacementError::NotEnoughBrokers {
                replication_factor: 1,
                brokers: 0
            })
        );
    }
}
