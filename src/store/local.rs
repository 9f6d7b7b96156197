//! One process's stores (sled, memory): synchronous inside, adapted to the async [`Store`] here.
//!
//! Their reads answer from memory or a local file without waiting on anyone, so each backend
//! keeps them as plain methods and [`local_store!`] forwards the async surface to them. A
//! [`Tx`] on such a store is a turn on the store's own lock ([`LocalTx`]): steps run one at a
//! time, so what a step read is still true when it commits, and a reader outside a step sees
//! whole commits. The turn covers only in-memory work; the disk flush comes after it.

use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{Batch, DeviceKey, OrderKey, StoreError, Transaction, Tx};
use crate::job::Job;
use crate::license::lease::Lease;
use crate::license::{Activation, DeviceLicense, License};

/// What a [`LocalTx`] needs of its store: the reads a step makes, and applying a batch.
pub(crate) trait LocalReads: Send + Sync + 'static {
    fn license(&self, id: &str) -> Result<Option<License>, StoreError>;
    fn order(&self, key: &OrderKey) -> Result<Option<String>, StoreError>;
    fn applied(&self, key: &str) -> Result<bool, StoreError>;
    fn device(&self, key: &DeviceKey) -> Result<Option<DeviceLicense>, StoreError>;
    fn devices_for(&self, license_id: &str) -> Result<Vec<DeviceLicense>, StoreError>;
    fn activations(&self, license_id: &str) -> Result<Vec<Activation>, StoreError>;
    fn leases(&self, license_id: &str) -> Result<Vec<Lease>, StoreError>;
    fn lease(&self, license_id: &str, id: &str) -> Result<Option<Lease>, StoreError>;
    fn job(&self, id: &str) -> Result<Option<Job>, StoreError>;
    fn is_revoked(&self, entry: &str) -> Result<bool, StoreError>;
    fn counts(&self) -> Result<super::StatusCounts, StoreError>;
    fn stats(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError>;
    /// Commits `batch` (the caller holds the store's turn).
    fn apply(&self, batch: Batch) -> Result<(), StoreError>;
}

/// A step on a local store: the store and its turn, held until the step ends.
pub(crate) struct LocalTx<S> {
    store: S,
    _turn: OwnedMutexGuard<()>,
}

impl<S: LocalReads> LocalTx<S> {
    /// Waits for the store's turn (`turn`: its lock) and begins a step on `store`.
    pub(crate) async fn begin(store: S, turn: &Arc<Mutex<()>>) -> Tx {
        let turn = turn.clone().lock_owned().await;
        Tx::new(LocalTx { store, _turn: turn })
    }
}

#[async_trait::async_trait]
impl<S: LocalReads> Transaction for LocalTx<S> {
    async fn license(&mut self, id: &str) -> Result<Option<License>, StoreError> {
        self.store.license(id)
    }
    async fn order(&mut self, key: &OrderKey) -> Result<Option<String>, StoreError> {
        self.store.order(key)
    }
    async fn applied(&mut self, key: &str) -> Result<bool, StoreError> {
        self.store.applied(key)
    }
    async fn device(&mut self, key: &DeviceKey) -> Result<Option<DeviceLicense>, StoreError> {
        self.store.device(key)
    }
    async fn devices_for(&mut self, license_id: &str) -> Result<Vec<DeviceLicense>, StoreError> {
        self.store.devices_for(license_id)
    }
    async fn activations(&mut self, license_id: &str) -> Result<Vec<Activation>, StoreError> {
        self.store.activations(license_id)
    }
    async fn leases(
        &mut self,
        license_id: &str,
    ) -> Result<(client_verifier::Timestamp, Vec<Lease>), StoreError> {
        Ok((
            client_verifier::Timestamp::now(),
            self.store.leases(license_id)?,
        ))
    }
    async fn lease(
        &mut self,
        license_id: &str,
        id: &str,
    ) -> Result<(client_verifier::Timestamp, Option<Lease>), StoreError> {
        Ok((
            client_verifier::Timestamp::now(),
            self.store.lease(license_id, id)?,
        ))
    }
    async fn job(&mut self, id: &str) -> Result<Option<Job>, StoreError> {
        self.store.job(id)
    }
    async fn is_revoked(&mut self, entry: &str) -> Result<bool, StoreError> {
        self.store.is_revoked(entry)
    }
    async fn counts(&mut self) -> Result<super::StatusCounts, StoreError> {
        self.store.counts()
    }
    async fn stats(&mut self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        self.store.stats(prefix)
    }
    async fn commit(self: Box<Self>, batch: Batch) -> Result<(), StoreError> {
        self.store.apply(batch)
    }
}

/// Implements [`LocalReads`] and the async [`Store`](super::Store) for a local store `$t` whose
/// inherent methods of the same names do the work: `license`, `order`, `applied`, `device`,
/// `devices_for`, `activations`, `leases`, `licenses_page`, `counts`, `stats`, `revoked`,
/// `is_revoked`, `apply`, `audit_for`, `verify_audit_chain`, `audit_after`, `audit_head`,
/// `cursor`, `swap_cursor`, `remember_nonce`,
/// `prune_nonces`, `claim`, `release_claim`, `jobs`, `due_jobs`, `job`, `disk_bytes`, `first_audit_at`, `dump`,
/// plus `flush_async`, `writable_now`, `snapshot_side` and a `turn` field (its lock).
macro_rules! local_store {
    ($t:ty) => {
        impl $crate::store::local::LocalReads for $t {
            fn license(
                &self,
                id: &str,
            ) -> Result<Option<$crate::license::License>, $crate::store::StoreError> {
                <$t>::license(self, id)
            }
            fn order(
                &self,
                key: &$crate::store::OrderKey,
            ) -> Result<Option<String>, $crate::store::StoreError> {
                <$t>::order(self, key)
            }
            fn applied(&self, key: &str) -> Result<bool, $crate::store::StoreError> {
                <$t>::applied(self, key)
            }
            fn device(
                &self,
                key: &$crate::store::DeviceKey,
            ) -> Result<Option<$crate::license::DeviceLicense>, $crate::store::StoreError> {
                <$t>::device(self, key)
            }
            fn devices_for(
                &self,
                license_id: &str,
            ) -> Result<Vec<$crate::license::DeviceLicense>, $crate::store::StoreError> {
                <$t>::devices_for(self, license_id)
            }
            fn activations(
                &self,
                license_id: &str,
            ) -> Result<Vec<$crate::license::Activation>, $crate::store::StoreError> {
                <$t>::activations(self, license_id)
            }
            fn leases(
                &self,
                license_id: &str,
            ) -> Result<Vec<$crate::license::lease::Lease>, $crate::store::StoreError> {
                <$t>::leases(self, license_id)
            }
            fn lease(
                &self,
                license_id: &str,
                id: &str,
            ) -> Result<Option<$crate::license::lease::Lease>, $crate::store::StoreError> {
                <$t>::lease(self, license_id, id)
            }
            fn job(&self, id: &str) -> Result<Option<$crate::job::Job>, $crate::store::StoreError> {
                <$t>::job(self, id)
            }
            fn is_revoked(&self, entry: &str) -> Result<bool, $crate::store::StoreError> {
                <$t>::is_revoked(self, entry)
            }
            fn counts(&self) -> Result<$crate::store::StatusCounts, $crate::store::StoreError> {
                <$t>::counts(self)
            }
            fn stats(&self, prefix: &str) -> Result<Vec<(String, i64)>, $crate::store::StoreError> {
                <$t>::stats(self, prefix)
            }
            fn apply(&self, batch: $crate::store::Batch) -> Result<(), $crate::store::StoreError> {
                <$t>::apply(self, batch)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Store for $t {
            async fn license(
                &self,
                id: &str,
            ) -> Result<Option<$crate::license::License>, $crate::store::StoreError> {
                <$t>::license(self, id)
            }
            async fn order(
                &self,
                key: &$crate::store::OrderKey,
            ) -> Result<Option<String>, $crate::store::StoreError> {
                <$t>::order(self, key)
            }
            async fn applied(&self, key: &str) -> Result<bool, $crate::store::StoreError> {
                <$t>::applied(self, key)
            }
            async fn device(
                &self,
                key: &$crate::store::DeviceKey,
            ) -> Result<Option<$crate::license::DeviceLicense>, $crate::store::StoreError> {
                <$t>::device(self, key)
            }
            async fn devices_for(
                &self,
                license_id: &str,
            ) -> Result<Vec<$crate::license::DeviceLicense>, $crate::store::StoreError> {
                <$t>::devices_for(self, license_id)
            }
            async fn activations(
                &self,
                license_id: &str,
            ) -> Result<Vec<$crate::license::Activation>, $crate::store::StoreError> {
                <$t>::activations(self, license_id)
            }
            async fn leases(
                &self,
                license_id: &str,
            ) -> Result<Vec<$crate::license::lease::Lease>, $crate::store::StoreError> {
                <$t>::leases(self, license_id)
            }
            async fn leases_in_use(
                &self,
                now: client_verifier::Timestamp,
            ) -> Result<std::collections::BTreeMap<String, u64>, $crate::store::StoreError> {
                <$t>::leases_in_use(self, now)
            }
            async fn licenses_page(
                &self,
                after: Option<&str>,
                limit: usize,
            ) -> Result<Vec<$crate::license::License>, $crate::store::StoreError> {
                <$t>::licenses_page(self, after, limit)
            }
            async fn counts(
                &self,
            ) -> Result<$crate::store::StatusCounts, $crate::store::StoreError> {
                <$t>::counts(self)
            }
            async fn stats(
                &self,
                prefix: &str,
            ) -> Result<Vec<(String, i64)>, $crate::store::StoreError> {
                <$t>::stats(self, prefix)
            }
            async fn revoked(&self) -> Result<(u64, Vec<String>), $crate::store::StoreError> {
                <$t>::revoked(self)
            }
            async fn is_revoked(&self, entry: &str) -> Result<bool, $crate::store::StoreError> {
                <$t>::is_revoked(self, entry)
            }
            async fn begin(&self) -> Result<$crate::store::Tx, $crate::store::StoreError> {
                Ok($crate::store::local::LocalTx::begin(self.clone(), &self.turn).await)
            }
            async fn flush(&self) -> Result<(), $crate::store::StoreError> {
                <$t>::flush_async(self).await
            }
            fn writable(&self) -> Result<(), $crate::store::StoreError> {
                <$t>::writable_now(self)
            }
            async fn audit_for(
                &self,
                license_id: &str,
            ) -> Result<Vec<$crate::store::AuditRecord>, $crate::store::StoreError> {
                <$t>::audit_for(self, license_id)
            }
            async fn verify_audit_chain(
                &self,
            ) -> Result<Result<u64, u64>, $crate::store::StoreError> {
                <$t>::verify_audit_chain(self)
            }
            async fn audit_after(
                &self,
                seq: u64,
                limit: usize,
            ) -> Result<Vec<$crate::store::AuditRecord>, $crate::store::StoreError> {
                <$t>::audit_after(self, seq, limit)
            }
            async fn audit_head(&self) -> Result<u64, $crate::store::StoreError> {
                <$t>::audit_head(self)
            }
            async fn cursor(
                &self,
                name: &str,
            ) -> Result<Option<Vec<u8>>, $crate::store::StoreError> {
                <$t>::cursor(self, name)
            }
            async fn swap_cursor(
                &self,
                name: &str,
                old: Option<&[u8]>,
                new: &[u8],
            ) -> Result<bool, $crate::store::StoreError> {
                <$t>::swap_cursor(self, name, old, new)
            }
            async fn remember_nonce(
                &self,
                nonce: &str,
                expires: client_verifier::Timestamp,
            ) -> Result<bool, $crate::store::StoreError> {
                <$t>::remember_nonce(self, nonce, expires)
            }
            async fn remembered(
                &self,
                nonce: &str,
                now: client_verifier::Timestamp,
            ) -> Result<bool, $crate::store::StoreError> {
                <$t>::remembered(self, nonce, now)
            }
            async fn prune_nonces(
                &self,
                now: client_verifier::Timestamp,
            ) -> Result<usize, $crate::store::StoreError> {
                <$t>::prune_nonces(self, now)
            }
            async fn claim(
                &self,
                key: &str,
                until: client_verifier::Timestamp,
                now: client_verifier::Timestamp,
            ) -> Result<bool, $crate::store::StoreError> {
                <$t>::claim(self, key, until, now)
            }
            async fn release_claim(
                &self,
                key: &str,
                until: client_verifier::Timestamp,
            ) -> Result<(), $crate::store::StoreError> {
                <$t>::release_claim(self, key, until)
            }
            async fn jobs(&self) -> Result<Vec<$crate::job::Job>, $crate::store::StoreError> {
                <$t>::jobs(self)
            }
            async fn job(
                &self,
                id: &str,
            ) -> Result<Option<$crate::job::Job>, $crate::store::StoreError> {
                <$t>::job(self, id)
            }
            async fn due_jobs(
                &self,
                now: client_verifier::Timestamp,
                limit: usize,
            ) -> Result<$crate::store::Due, $crate::store::StoreError> {
                <$t>::due_jobs(self, now, limit)
            }
            async fn disk_bytes(&self) -> Result<u64, $crate::store::StoreError> {
                <$t>::disk_bytes(self)
            }
            async fn first_audit_at(
                &self,
            ) -> Result<Option<client_verifier::Timestamp>, $crate::store::StoreError> {
                <$t>::first_audit_at(self)
            }
            fn snapshot(&self) -> Option<&dyn $crate::store::Snapshot> {
                <$t>::snapshot_side(self)
            }
            async fn dump(&self) -> Result<$crate::store::dump::Dump, $crate::store::StoreError> {
                <$t>::dump(self)
            }
        }
    };
}

pub(crate) use local_store;
