//! The in-memory store: the [`Store`](super::Store) contract without a disk, for fast unit
//! tests of the service (and as the smallest reference of what a backend must do). Everything
//! lives in ordered maps behind one lock, so a commit is atomic and reads see whole commits;
//! `flush` has nothing to make durable. Keys order as the sled store's do, so listings come out
//! the same.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use client_verifier::Timestamp;

use super::codec::{AuditChain, encode};
use super::plan::{Head, Prior, plan};
use super::{AuditRecord, Batch, DeviceKey, OrderKey, StatusCounts, StoreError};
use crate::job::Job;
use crate::license::lease::Lease;
use crate::license::{Activation, DeviceLicense, License};

/// A store in memory; lost when dropped. Clones share it.
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    inner: Arc<Mutex<Inner>>,
    /// Steps take turns on it ([`super::local::LocalTx`]).
    turn: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug, Default)]
struct Inner {
    licenses: BTreeMap<String, License>,
    orders: BTreeMap<Vec<u8>, String>,
    applied: BTreeSet<String>,
    devices: BTreeMap<Vec<u8>, DeviceLicense>,
    activations: BTreeMap<Vec<u8>, Activation>,
    leases: BTreeMap<Vec<u8>, Lease>,
    jobs: BTreeMap<String, Job>,
    revoked: BTreeMap<String, Timestamp>,
    revocation_seq: u64,
    audit: Vec<AuditRecord>,
    nonces: BTreeMap<String, Timestamp>,
    cursors: BTreeMap<String, Vec<u8>>,
    counts: StatusCounts,
    stats: BTreeMap<String, i64>,
}

super::local::local_store!(MemStore);

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        MemStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The key of a seat, as the sled store orders seats: license id, NUL, big-endian seat number.
fn seat_key(license_id: &str, seat: u32) -> Vec<u8> {
    [license_id.as_bytes(), b"\0", &seat.to_be_bytes()].concat()
}

fn prefix(license_id: &str) -> Vec<u8> {
    [license_id.as_bytes(), b"\0"].concat()
}

impl MemStore {
    pub(crate) fn license(&self, id: &str) -> Result<Option<License>, StoreError> {
        Ok(self.lock().licenses.get(id).cloned())
    }

    pub(crate) fn order(&self, key: &OrderKey) -> Result<Option<String>, StoreError> {
        Ok(self.lock().orders.get(&key.to_bytes()).cloned())
    }

    pub(crate) fn applied(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.lock().applied.contains(key))
    }

    pub(crate) fn device(&self, key: &DeviceKey) -> Result<Option<DeviceLicense>, StoreError> {
        Ok(self.lock().devices.get(&key.to_bytes()).cloned())
    }

    /// Commits `batch` (steps hold the turn; tests call it directly).
    pub(crate) fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let mut s = self.lock();
        let s = &mut *s;
        let head = s.audit.last().map_or_else(Head::default, |r| Head {
            seq: r.seq,
            hash: r.hash.clone(),
        });
        let p = plan(
            batch,
            |id| s.licenses.get(id).map(Prior::of),
            head,
            s.counts,
        );
        for (entry, at) in p.revocations {
            if let std::collections::btree_map::Entry::Vacant(v) = s.revoked.entry(entry) {
                v.insert(at);
                s.revocation_seq += 1;
            }
        }
        for a in p.activations {
            s.activations.insert(seat_key(&a.license_id, a.seat), a);
        }
        for j in p.jobs {
            s.jobs.insert(j.id.clone(), j);
        }
        for l in p.leases {
            s.leases.insert(super::lease_key(&l.license_id, &l.id), l);
        }
        for (lic, id) in &p.leases_done {
            s.leases.remove(&super::lease_key(lic, id));
        }
        for id in &p.jobs_done {
            s.jobs.remove(id);
        }
        for l in p.licenses {
            s.licenses.insert(l.id.clone(), l);
        }
        for (k, d) in p.stats {
            let n = s.stats.entry(k.clone()).or_default();
            *n += d;
            if *n == 0 {
                s.stats.remove(&k);
            }
        }
        for (k, id) in p.orders {
            s.orders.insert(k.to_bytes(), id);
        }
        s.applied.extend(p.applied);
        for (k, d) in p.devices {
            s.devices.insert(k.to_bytes(), d);
        }
        s.audit.extend(p.audit);
        s.counts = p.counts;
        Ok(())
    }

    pub(crate) fn remember_nonce(
        &self,
        nonce: &str,
        expires: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if s.nonces.contains_key(nonce) {
            return Ok(false);
        }
        s.nonces.insert(nonce.to_string(), expires);
        Ok(true)
    }

    pub(crate) fn remembered(&self, nonce: &str, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.lock().nonces.get(nonce).is_some_and(|e| *e >= now))
    }

    pub(crate) fn claim(
        &self,
        key: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if s.nonces.get(key).is_some_and(|held| *held >= now) {
            return Ok(false);
        }
        s.nonces.insert(key.to_string(), until);
        Ok(true)
    }

    pub(crate) fn release_claim(&self, key: &str, until: Timestamp) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.nonces.get(key) == Some(&until) {
            s.nonces.remove(key);
        }
        Ok(())
    }

    pub(crate) fn prune_nonces(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut s = self.lock();
        let before = s.nonces.len();
        s.nonces.retain(|_, exp| *exp >= now);
        Ok(before - s.nonces.len())
    }

    async fn flush_async(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn writable_now(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn snapshot_side(&self) -> Option<&dyn super::Snapshot> {
        None
    }

    pub(crate) fn dump(&self) -> Result<super::dump::Dump, StoreError> {
        use super::dump::push;
        let s = self.lock();
        let mut r = Vec::new();
        for (id, l) in &s.licenses {
            push(&mut r, "licenses", id.as_bytes(), encode(l));
        }
        for (k, id) in &s.orders {
            push(&mut r, "orders", k.clone(), id.as_bytes().to_vec());
        }
        for k in &s.applied {
            push(&mut r, "applied", k.as_bytes(), Vec::new());
        }
        for (k, d) in &s.devices {
            push(&mut r, "devices", k.clone(), encode(d));
        }
        for (k, a) in &s.activations {
            push(&mut r, "activations", k.clone(), encode(a));
        }
        for (k, l) in &s.leases {
            push(&mut r, "leases", k.clone(), encode(l));
        }
        for (id, j) in &s.jobs {
            push(&mut r, "outbox", id.as_bytes(), encode(j));
        }
        for (e, at) in &s.revoked {
            push(&mut r, "revoked", e.as_bytes(), encode(at));
        }
        for a in &s.audit {
            push(&mut r, "audit", a.seq.to_be_bytes(), encode(a));
        }
        let head = s.audit.last().map_or_else(Head::default, |a| Head {
            seq: a.seq,
            hash: a.hash.clone(),
        });
        super::dump::push_summary(&mut r, &head, s.counts, s.revocation_seq, s.stats.clone());
        Ok(super::dump::Dump::new(r))
    }

    pub(crate) fn first_audit_at(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.lock().audit.first().map(|r| r.event.at))
    }

    pub(crate) fn counts(&self) -> Result<StatusCounts, StoreError> {
        Ok(self.lock().counts)
    }

    pub(crate) fn stats(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(self
            .lock()
            .stats
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, n)| (k.clone(), *n))
            .collect())
    }

    pub(crate) fn revoked(&self) -> Result<(u64, Vec<String>), StoreError> {
        let s = self.lock();
        Ok((s.revocation_seq, s.revoked.keys().cloned().collect()))
    }

    pub(crate) fn is_revoked(&self, entry: &str) -> Result<bool, StoreError> {
        Ok(self.lock().revoked.contains_key(entry))
    }

    pub(crate) fn devices_for(&self, license_id: &str) -> Result<Vec<DeviceLicense>, StoreError> {
        let p = prefix(license_id);
        let s = self.lock();
        Ok(s.devices
            .range(p.clone()..)
            .take_while(|(k, _)| k.starts_with(&p))
            .map(|(_, d)| d.clone())
            .collect())
    }

    pub(crate) fn activations(&self, license_id: &str) -> Result<Vec<Activation>, StoreError> {
        let p = prefix(license_id);
        let s = self.lock();
        Ok(s.activations
            .range(p.clone()..)
            .take_while(|(k, _)| k.starts_with(&p))
            .map(|(_, a)| a.clone())
            .collect())
    }

    pub(crate) fn leases(&self, license_id: &str) -> Result<Vec<Lease>, StoreError> {
        let p = prefix(license_id);
        let s = self.lock();
        Ok(s.leases
            .range(p.clone()..)
            .take_while(|(k, _)| k.starts_with(&p))
            .map(|(_, l)| l.clone())
            .collect())
    }

    pub(crate) fn leases_in_use(
        &self,
        now: Timestamp,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        Ok(crate::license::lease::in_use_by_product(
            self.lock().leases.values(),
            now,
        ))
    }

    pub(crate) fn lease(&self, license_id: &str, id: &str) -> Result<Option<Lease>, StoreError> {
        Ok(self
            .lock()
            .leases
            .get(&super::lease_key(license_id, id))
            .cloned())
    }

    pub(crate) fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        Ok(self.lock().jobs.values().cloned().collect())
    }

    pub(crate) fn due_jobs(&self, now: Timestamp, limit: usize) -> Result<super::Due, StoreError> {
        let mut pending: Vec<Job> = self
            .lock()
            .jobs
            .values()
            .filter(|j| !j.dead)
            .cloned()
            .collect();
        pending.sort_by(|a, b| (a.next_at.unix(), &a.id).cmp(&(b.next_at.unix(), &b.id)));
        Ok(super::Due::split(pending, now, limit))
    }

    pub(crate) fn job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        Ok(self.lock().jobs.get(id).cloned())
    }

    pub(crate) fn licenses_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<License>, StoreError> {
        use std::ops::Bound;
        let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
        Ok(self
            .lock()
            .licenses
            .range((start, Bound::Unbounded))
            .take(limit)
            .map(|(_, l)| l.clone())
            .collect())
    }

    pub(crate) fn audit_for(&self, license_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(self
            .lock()
            .audit
            .iter()
            .filter(|r| r.event.license_id == license_id)
            .cloned()
            .collect())
    }

    pub(crate) fn audit_after(
        &self,
        seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let s = self.lock();
        // Records are numbered from 1 with no gaps: record `seq + 1` sits at index `seq`.
        let start = usize::try_from(seq)
            .unwrap_or(usize::MAX)
            .min(s.audit.len());
        Ok(s.audit[start..].iter().take(limit).cloned().collect())
    }

    pub(crate) fn audit_head(&self) -> Result<u64, StoreError> {
        Ok(self.lock().audit.last().map_or(0, |r| r.seq))
    }

    pub(crate) fn cursor(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().cursors.get(name).cloned())
    }

    pub(crate) fn swap_cursor(
        &self,
        name: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if s.cursors.get(name).map(Vec::as_slice) != old {
            return Ok(false);
        }
        s.cursors.insert(name.to_string(), new.to_vec());
        Ok(true)
    }

    pub(crate) fn disk_bytes(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    pub(crate) fn verify_audit_chain(&self) -> Result<Result<u64, u64>, StoreError> {
        let mut chain = AuditChain::default();
        for r in &self.lock().audit {
            if let Err(broken) = chain.push(&r.seq.to_be_bytes(), &encode(r))? {
                return Ok(Err(broken));
            }
        }
        Ok(Ok(chain.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::license::Status;
    use crate::store::AuditEvent;

    #[test]
    fn commits_count_statuses_revoke_releases_and_chain_the_audit_log() {
        let s = MemStore::new();
        let mut l = crate::license::sample("a", Status::Active);
        let event =
            |action: &str| AuditEvent::new("a", action, "test", l_now(), serde_json::json!({}));
        s.apply(Batch {
            licenses: vec![l.clone()],
            orders: vec![(OrderKey::Classic("o".into()), "a".into())],
            audit: vec![event("getLicense")],
            ..Batch::default()
        })
        .unwrap();
        l.status = Status::Released;
        s.apply(Batch {
            licenses: vec![l.clone()],
            audit: vec![event("releaseLicense")],
            revocations: vec![("b#salt".into(), l_now())],
            ..Batch::default()
        })
        .unwrap();
        assert_eq!(s.counts().unwrap().released, 1);
        assert_eq!(s.counts().unwrap().active, 0);
        assert_eq!(
            s.revoked().unwrap(),
            (2, vec!["a".to_string(), "b#salt".to_string()])
        );
        assert_eq!(
            s.order(&OrderKey::Classic("o".into())).unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(s.verify_audit_chain().unwrap(), Ok(2));
        assert_eq!(s.audit_for("a").unwrap().len(), 2);
        assert!(s.remember_nonce("n", l_now()).unwrap());
        assert!(!s.remember_nonce("n", l_now()).unwrap());
    }

    fn l_now() -> Timestamp {
        Timestamp::from_unix(1_800_000_000)
    }
}
