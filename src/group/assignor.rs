//! The server-side assignors of KIP-848 consumer groups (`group.consumer.assignors`):
//! `uniform` (Kafka's UniformAssignor: balanced first, then sticky) and `range` (Kafka's
//! RangeAssignor: contiguous ranges per topic, co-partitioned, not sticky). Pure
//! functions of the members' subscriptions and current targets; no I/O.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// The assignors Rafka serves, by the name `group.consumer.assignors` and a member's
/// `ServerAssignor` use.
pub const ASSIGNORS: &[&str] = &["uniform", "range"];

/// One member as an assignor sees it.
#[derive(Clone, Debug)]
pub struct AssignorMember<'a> {
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    /// The topics it subscribes to that exist.
    pub subscribed: &'a BTreeSet<Uuid>,
    /// Its current target (stickiness).
    pub current: Option<&'a Assignment>,
}

/// The new target of every member: `topics` gives each existing topic's partition count.
/// An unknown `name` is served by `uniform` (the handler refuses unknown names first).
pub fn assign(
    name: &str,
    members: &[AssignorMember<'_>],
    topics: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    match name {
        "range" => range(members, topics),
        _ => uniform(members, topics),
    }
}

/// Range: for each topic, its subscribers in order (static members by instance id, then
/// the others by member id) take contiguous ranges, the first `P % S` one more.
fn range(
    members: &[AssignorMember<'_>],
    topics: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut ordered: Vec<&AssignorMember<'_>> = members.iter().collect();
    ordered.sort_by(|a, b| match (a.instance_id, b.instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(b.member_id),
    });
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.member_id.to_string(), Assignment::new()))
        .collect();
    for (topic, count) in topics {
        let subscribers: Vec<&&AssignorMember<'_>> = ordered
            .iter()
            .filter(|m| m.subscribed.contains(topic))
            .collect();
        let Ok(n) = i32::try_from(subscribers.len()) else {
            continue;
        };
        if n == 0 {
            continue;
        }
        let (quota, mut extra) = (count / n, count % n);
        let mut next = 0;
        for m in subscribers {
            let take = quota + i32::from(extra > 0);
            extra -= i32::from(extra > 0);
            if take > 0 {
                if let Some(a) = out.get_mut(m.member_id) {
                    a.entry(*topic).or_default().extend(next..next + take);
                }
            }
            next += take;
        }
    }
    out
}

/// Uniform: every member keeps what it had of the topics it still subscribes to, the
/// partitions nobody has go to the least-loaded subscriber, then partitions move from the
/// most to the least loaded member (among those subscribing to their topic) until no
/// move narrows the spread: with identical subscriptions loads differ by at most one,
/// and only the partitions that must move do.
fn uniform(
    members: &[AssignorMember<'_>],
    topics: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut slots: Vec<(&AssignorMember<'_>, Assignment)> =
        members.iter().map(|m| (m, Assignment::new())).collect();
    slots.sort_by(|a, b| a.0.member_id.cmp(b.0.member_id));
    let load = |a: &Assignment| a.values().map(BTreeSet::len).sum::<usize>();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    // keep (a partition claimed twice stays with the first member)
    for (m, out) in &mut slots {
        for (topic, parts) in m.current.into_iter().flatten() {
            let Some(count) = topics.get(topic) else {
                continue;
            };
            if !m.subscribed.contains(topic) {
                continue;
            }
            for p in parts.iter().filter(|p| **p < *count) {
                if taken.insert((*topic, *p)) {
                    out.entry(*topic).or_default().insert(*p);
                }
            }
        }
    }
    // topics with the fewest subscribers first: they have the least choice
    let mut order: Vec<(&Uuid, &i32)> = topics.iter().collect();
    let subscribers = |t: &Uuid| {
        slots
            .iter()
            .filter(|(m, _)| m.subscribed.contains(t))
            .count()
    };
    order.sort_by_key(|(t, c)| (subscribers(t), std::cmp::Reverse(**c)));
    for (topic, count) in order {
        for p in 0..*count {
            if taken.contains(&(*topic, p)) {
                continue;
            }
            let least = slots
                .iter_mut()
                .filter(|(m, _)| m.subscribed.contains(topic))
                .min_by_key(|(m, out)| (load(out), m.member_id));
            if let Some((_, out)) = least {
                taken.insert((*topic, p));
                out.entry(*topic).or_default().insert(p);
            }
        }
    }
    // balance: bounded by the partitions (each move narrows a gap of two or more)
    let total: usize = topics
        .values()
        .map(|c| usize::try_from(*c).unwrap_or(0))
        .sum();
    for _ in 0..total.saturating_mul(2) {
        match one_move(&slots) {
            Some((from, to, t, p)) => {
                if let Some((_, out)) = slots.get_mut(from) {
                    if let Some(ps) = out.get_mut(&t) {
                        ps.remove(&p);
                        if ps.is_empty() {
                            out.remove(&t);
                        }
                    }
                }
                if let Some((_, out)) = slots.get_mut(to) {
                    out.entry(t).or_default().insert(p);
                }
            }
            None => break,
        }
    }
    slots
        .into_iter()
        .map(|(m, a)| (m.member_id.to_string(), a))
        .collect()
}

/// A partition to move from a more loaded member to one with at least two fewer that
/// subscribes to its topic: (from, to, topic, partition), the most loaded member first.
fn one_move(slots: &[(&AssignorMember<'_>, Assignment)]) -> Option<(usize, usize, Uuid, i32)> {
    let load = |a: &Assignment| a.values().map(BTreeSet::len).sum::<usize>();
    let mut by_load: Vec<(usize, usize)> = slots
        .iter()
        .enumerate()
        .map(|(i, (_, out))| (load(out), i))
        .collect();
    by_load.sort_by_key(|(l, i)| (std::cmp::Reverse(*l), *i));
    for (from_load, from) in &by_load {
        let (_, from_out) = slots.get(*from)?;
        for (to_load, to) in by_load.iter().rev() {
            if to_load + 1 >= *from_load {
                break;
            }
            let (to_member, _) = slots.get(*to)?;
            let pick = from_out
                .iter()
                .filter(|(t, _)| to_member.subscribed.contains(*t))
                .find_map(|(t, ps)| ps.last().map(|p| (*t, *p)));
            if let Some((t, p)) = pick {
                return Some((*from, *to, t, p));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    #[test]
    fn range_gives_contiguous_co_partitioned_ranges() {
        let subs: BTreeSet<Uuid> = [id(1), id(2)].into();
        let members: Vec<AssignorMember<'_>> = ["b", "a"]
            .iter()
            .map(|m| AssignorMember {
                member_id: m,
                instance_id: None,
                subscribed: &subs,
                current: None,
            })
            .collect();
        let topics = BTreeMap::from([(id(1), 3), (id(2), 3)]);
        let out = range(&members, &topics);
        assert_eq!(out["a"][&id(1)], BTreeSet::from([0, 1]));
        assert_eq!(out["a"][&id(2)], BTreeSet::from([0, 1]));
        assert_eq!(out["b"][&id(1)], BTreeSet::from([2]));
        assert_eq!(out["b"][&id(2)], BTreeSet::from([2]));
    }

    #[test]
    fn uniform_balances_then_sticks() {
        let subs: BTreeSet<Uuid> = [id(1)].into();
        let topics = BTreeMap::from([(id(1), 10)]);
        let one = [AssignorMember {
            member_id: "a",
            instance_id: None,
            subscribed: &subs,
            current: None,
        }];
        let first = uniform(&one, &topics);
        assert_eq!(count(&first["a"]), 10);
        // a second and a third member join: a keeps 4 of its 10, nobody else moves
        let members = [
            AssignorMember {
                current: Some(&first["a"]),
                ..one[0].clone()
            },
            AssignorMember {
                member_id: "b",
                instance_id: None,
                subscribed: &subs,
                current: None,
            },
            AssignorMember {
                member_id: "c",
                instance_id: None,
                subscribed: &subs,
                current: None,
            },
        ];
        let second = uniform(&members, &topics);
        let loads: Vec<usize> = ["a", "b", "c"].iter().map(|m| count(&second[*m])).collect();
        assert_eq!(loads.iter().sum::<usize>(), 10);
        assert!(loads.iter().all(|l| (3..=4).contains(l)), "{loads:?}");
        assert!(second["a"][&id(1)].is_subset(&first["a"][&id(1)]));
        // every partition once
        let mut all: Vec<i32> = second.values().flat_map(|a| a[&id(1)].clone()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn uniform_respects_heterogeneous_subscriptions() {
        let only_one: BTreeSet<Uuid> = [id(1)].into();
        let both: BTreeSet<Uuid> = [id(1), id(2)].into();
        let topics = BTreeMap::from([(id(1), 4), (id(2), 4)]);
        let members = [
            AssignorMember {
                member_id: "a",
                instance_id: None,
                subscribed: &only_one,
                current: None,
            },
            AssignorMember {
                member_id: "b",
                instance_id: None,
                subscribed: &both,
                current: None,
            },
        ];
        let out = uniform(&members, &topics);
        assert!(!out["a"].contains_key(&id(2)));
        assert_eq!(out["b"].get(&id(2)).map(BTreeSet::len), Some(4));
        assert_eq!((count(&out["a"]), count(&out["b"])), (4, 4));
    }
}
