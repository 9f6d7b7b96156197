//! The commit plan: what a [`Batch`] makes of the store, computed once for every backend.
//!
//! A commit writes more than its batch names: the licenses per status, the dashboard's
//! counters ([`Shape`]), a revocation-list entry for every license it releases, and its audit
//! events chained to the log's head. [`plan`] derives all of it from the batch, the records it
//! replaces and the head, as a pure function: no clock (every time comes from the batch), no
//! storage. A backend reads what [`plan`] needs, under whatever makes its commit atomic, and
//! then only stores the [`Plan`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;

use client_verifier::Timestamp;

use super::codec::{GENESIS, encode, link};
use super::{AuditRecord, Batch, DeviceKey, OrderKey, Shape, StatusCounts};
use crate::job::Job;
use crate::license::lease::Lease;
use crate::license::{Activation, DeviceLicense, License, Status};

/// What a license the batch rewrites was before it: its status and its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prior {
    status: Status,
    shape: Shape,
}

impl Prior {
    /// What `l` counts for.
    pub fn of(l: &License) -> Self {
        Prior {
            status: l.status,
            shape: Shape::of(l),
        }
    }
}

/// The audit log's head: the last record's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The last record's `seq` (0: the log is empty).
    pub seq: u64,
    /// The last record's `hash` ([`GENESIS`] for an empty log).
    pub hash: String,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            seq: 0,
            hash: GENESIS.to_string(),
        }
    }
}

/// Everything a commit stores, derived once ([`plan`]). Records written twice in one batch
/// appear once, with their last value, in the order first written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Licenses to write (whole records).
    pub licenses: Vec<License>,
    /// Purchase index entries.
    pub orders: Vec<(OrderKey, String)>,
    /// Operation keys applied once.
    pub applied: Vec<String>,
    /// Device licenses.
    pub devices: Vec<(DeviceKey, DeviceLicense)>,
    /// Seats.
    pub activations: Vec<Activation>,
    /// Outbox jobs to write (none that the batch also finishes).
    pub jobs: Vec<Job>,
    /// Outbox jobs to remove.
    pub jobs_done: Vec<String>,
    /// Leases to write (none that the batch also forgets).
    pub leases: Vec<Lease>,
    /// Leases to remove: (license id, lease id).
    pub leases_done: Vec<(String, String)>,
    /// Revocation-list entries to add where absent, each with when it was revoked: the batch's
    /// own, then every license this commit releases (at its `updated`).
    pub revocations: Vec<(String, Timestamp)>,
    /// Audit records, chained from the head the plan was made on.
    pub audit: Vec<AuditRecord>,
    /// The audit head after the commit.
    pub head: Head,
    /// Licenses per status after the commit.
    pub counts: StatusCounts,
    /// What the commit adds to each counter (none zero).
    pub stats: BTreeMap<String, i64>,
}

/// The plan of committing `batch` on a store whose licenses were `prior` (by id; `None` for a
/// new one), whose audit head is `head` and whose status counts are `counts`.
pub fn plan(
    batch: Batch,
    prior: impl Fn(&str) -> Option<Prior>,
    head: Head,
    counts: StatusCounts,
) -> Plan {
    let Batch {
        licenses,
        orders,
        applied,
        devices,
        audit,
        activations,
        jobs,
        jobs_done,
        revocations,
        stats: stat_adds,
        leases,
        leases_done,
    } = batch;
    let licenses = last_per_key(licenses, |l| l.id.clone());
    let mut counts = counts;
    let mut stats: BTreeMap<String, i64> = BTreeMap::new();
    for (k, n) in stat_adds {
        *stats.entry(k).or_default() += n;
    }
    let mut revocations = revocations;
    for l in &licenses {
        let before = prior(&l.id);
        Shape::tally(before.as_ref().map(|p| &p.shape), &Shape::of(l), &mut stats);
        let was = before.map(|p| p.status);
        if let Some(was) = was {
            *counts.slot(was) = counts.slot(was).saturating_sub(1);
        }
        *counts.slot(l.status) += 1;
        if l.status == Status::Released && was != Some(Status::Released) {
            revocations.push((l.id.clone(), l.updated));
        }
    }
    stats.retain(|_, n| *n != 0);

    let mut head = head;
    let audit = audit
        .into_iter()
        .map(|event| {
            let seq = head.seq + 1;
            let hash = link(&head.hash, seq, &encode(&event));
            let prev = std::mem::replace(&mut head.hash, hash.clone());
            head.seq = seq;
            AuditRecord {
                seq,
                prev,
                hash,
                event,
            }
        })
        .collect();

    let done: HashSet<&String> = jobs_done.iter().collect();
    let jobs = last_per_key(jobs, |j| j.id.clone())
        .into_iter()
        .filter(|j| !done.contains(&j.id))
        .collect();
    let forgotten: HashSet<(&str, &str)> = leases_done
        .iter()
        .map(|(l, id)| (l.as_str(), id.as_str()))
        .collect();
    let leases = last_per_key(leases, |l| (l.license_id.clone(), l.id.clone()))
        .into_iter()
        .filter(|l| !forgotten.contains(&(l.license_id.as_str(), l.id.as_str())))
        .collect();
    Plan {
        licenses,
        orders: last_per_key(orders, |(k, _)| k.clone()),
        applied,
        devices: last_per_key(devices, |(k, _)| k.clone()),
        activations: last_per_key(activations, |a| (a.license_id.clone(), a.seat)),
        jobs,
        jobs_done,
        leases,
        leases_done,
        revocations,
        audit,
        head,
        counts,
        stats,
    }
}

/// Keeps the last of several writes to one key, in first-seen order.
pub(crate) fn last_per_key<T, K: Eq + Hash + Clone>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut seen = HashMap::new();
    let mut out: Vec<Option<T>> = Vec::with_capacity(items.len());
    for item in items {
        match seen.get(&key(&item)) {
            Some(&i) => out[i] = Some(item),
            None => {
                seen.insert(key(&item), out.len());
                out.push(Some(item));
            }
        }
    }
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuditEvent;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn license(id: &str, status: Status, updated: &str) -> License {
        let mut l = crate::license::sample(id, status);
        l.updated = t(updated);
        l
    }

    fn event(id: &str, action: &str) -> AuditEvent {
        AuditEvent::new(
            id,
            action,
            "marketplace",
            t("2026-01-01T00:00:00Z"),
            serde_json::json!({}),
        )
    }

    #[test]
    fn counts_counters_and_revocations_follow_the_records_replaced() {
        let a = license("a", Status::Active, "2026-01-01T00:00:00Z");
        let b = license("b", Status::Frozen, "2026-01-01T00:00:00Z");
        let priors: HashMap<String, Prior> =
            [(a.id.clone(), Prior::of(&a)), (b.id.clone(), Prior::of(&b))].into();
        let counts = StatusCounts {
            active: 1,
            frozen: 1,
            released: 0,
        };
        let released = license("a", Status::Released, "2026-03-01T10:00:00Z");
        let new = license("c", Status::Active, "2026-03-01T10:00:00Z");
        let p = plan(
            Batch {
                licenses: vec![released.clone(), new.clone()],
                revocations: vec![("b#c2FsdA".into(), t("2026-03-01T09:00:00Z"))],
                stats: vec![("act:2026-03-01".into(), 1), ("act:2026-03-01".into(), 1)],
                ..Batch::default()
            },
            |id| priors.get(id).cloned(),
            Head::default(),
            counts,
        );
        assert_eq!(
            p.counts,
            StatusCounts {
                active: 1,
                frozen: 1,
                released: 1
            }
        );
        assert_eq!(
            p.revocations,
            vec![
                ("b#c2FsdA".to_string(), t("2026-03-01T09:00:00Z")),
                ("a".to_string(), t("2026-03-01T10:00:00Z")),
            ],
            "a release is revoked at the time it was released, never the committer's clock"
        );
        // a's counters go (released), c's come; the two counted days add.
        let grp = format!("grp:{}\u{1f}", a.product);
        assert_eq!(p.stats.get("act:2026-03-01"), Some(&2));
        assert_eq!(
            p.stats.get(&grp),
            None,
            "one out, one in: no change, no entry"
        );
        // Releasing an already released license adds no second entry.
        let again = plan(
            Batch {
                licenses: vec![released.clone()],
                ..Batch::default()
            },
            |_| Some(Prior::of(&released)),
            Head::default(),
            p.counts,
        );
        assert!(again.revocations.is_empty());
        assert_eq!(again.counts, p.counts);
        assert!(again.stats.is_empty());
    }

    #[test]
    fn audit_records_chain_from_the_head_and_the_last_write_wins() {
        let head = Head {
            seq: 7,
            hash: "ab".repeat(32),
        };
        let first = license("a", Status::Active, "2026-01-01T00:00:00Z");
        let second = license("a", Status::Frozen, "2026-01-02T00:00:00Z");
        let job = Job::new(
            "j1".into(),
            "a",
            crate::job::Task::Upload {
                event_id: "e".into(),
                token: "t".into(),
            },
            t("2026-01-01T00:00:00Z"),
        );
        let p = plan(
            Batch {
                licenses: vec![first, second.clone()],
                audit: vec![event("a", "getLicense"), event("a", "expireLicense")],
                jobs: vec![job],
                jobs_done: vec!["j1".into()],
                ..Batch::default()
            },
            |_| None,
            head.clone(),
            StatusCounts::default(),
        );
        assert_eq!(p.licenses, vec![second]);
        assert_eq!(p.counts.frozen, 1);
        assert_eq!(p.counts.active, 0, "counted once, as what it ends as");
        assert_eq!(
            p.audit.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![8, 9]
        );
        assert_eq!(p.audit[0].prev, head.hash);
        assert_eq!(p.audit[1].prev, p.audit[0].hash);
        assert!(p.audit.iter().all(AuditRecord::links_correctly));
        assert_eq!(
            p.head,
            Head {
                seq: 9,
                hash: p.audit[1].hash.clone()
            }
        );
        assert!(
            p.jobs.is_empty(),
            "a job finished in the batch is not written"
        );
        assert_eq!(p.jobs_done, vec!["j1".to_string()]);
    }

    #[test]
    fn the_last_write_to_a_key_wins_in_first_seen_order() {
        let v = vec![("a", 1), ("b", 2), ("a", 3)];
        assert_eq!(last_per_key(v, |p| p.0), vec![("a", 3), ("b", 2)]);
    }
}
