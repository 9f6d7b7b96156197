//! What `licd doctor` needs to know about a database: its size and age, the outbox, the last
//! backup. Read from a running daemon through the admin API, or from the store itself when no
//! daemon holds it.

use client_verifier::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Service, ServiceError};
use crate::store::{Batch, Store, StoreError};

/// The counter that holds the time of the last backup (Unix seconds).
const LAST_BACKUP: &str = "backup:last";

/// A database's facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreFacts {
    /// Licenses of every status.
    pub licenses: u64,
    /// Bytes on disk (0 for PostgreSQL: its server's disk is its own).
    pub disk_bytes: u64,
    /// When the first audit event was written (Unix seconds): the database's age.
    pub first_record: Option<i64>,
    /// Outbox jobs waiting for their next attempt.
    pub outbox_pending: u64,
    /// Outbox jobs given up on, waiting for an operator.
    pub outbox_dead: u64,
    /// When the oldest pending job was queued (Unix seconds).
    pub oldest_pending: Option<i64>,
    /// When the last `licd backup` completed (Unix seconds).
    pub last_backup: Option<i64>,
    /// The latest expiry of a license not released (Unix seconds), and that license: what its
    /// renewals and refreshes will mint, which the signing key's certificate must cover
    /// (`max_exp`). Read by one pass over the licenses.
    #[serde(default)]
    pub latest_exp: Option<(i64, String)>,
}

/// Reads the facts of `store`.
pub async fn store_facts(store: &dyn Store) -> Result<StoreFacts, StoreError> {
    let counts = store.counts().await?;
    let jobs = store.jobs().await?;
    let pending = jobs.iter().filter(|j| !j.dead);
    Ok(StoreFacts {
        licenses: counts.active + counts.frozen + counts.released,
        disk_bytes: store.disk_bytes().await?,
        first_record: store.first_audit_at().await?.map(Timestamp::unix),
        outbox_pending: pending.clone().count() as u64,
        outbox_dead: jobs.iter().filter(|j| j.dead).count() as u64,
        oldest_pending: pending.map(|j| j.created.unix()).min(),
        last_backup: last_backup(store.stats(LAST_BACKUP).await?),
        latest_exp: latest_exp(store).await?,
    })
}

/// The license with the latest expiry among those not released.
async fn latest_exp(store: &dyn Store) -> Result<Option<(i64, String)>, StoreError> {
    const PAGE: usize = 1000;
    let mut latest: Option<(i64, String)> = None;
    let mut after: Option<String> = None;
    loop {
        let page = store.licenses_page(after.as_deref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for l in &page {
            // An expiry still the placeholder of an unread order never reaches a token.
            if l.status != crate::license::Status::Released
                && l.validity_known()
                && latest.as_ref().is_none_or(|(exp, _)| l.exp.unix() > *exp)
            {
                latest = Some((l.exp.unix(), l.id.clone()));
            }
        }
        if page.len() < PAGE {
            break;
        }
    }
    Ok(latest)
}

/// The time of the last backup, from the counters under [`LAST_BACKUP`].
fn last_backup(stats: Vec<(String, i64)>) -> Option<i64> {
    stats
        .into_iter()
        .find(|(k, _)| k == LAST_BACKUP)
        .map(|(_, v)| v)
        .filter(|v| *v > 0)
}

impl Service {
    /// The facts of this service's database.
    pub async fn facts(&self) -> Result<StoreFacts, ServiceError> {
        Ok(store_facts(self.store.as_ref()).await?)
    }

    /// Records that a backup completed at `now` (the time `licd doctor` reports the age of).
    pub async fn record_backup(&self, now: Timestamp) -> Result<(), ServiceError> {
        self.transact(async |_, tx| {
            // Counters add: add what moves the stored time to `now`.
            let before = last_backup(tx.stats(LAST_BACKUP).await?).unwrap_or(0);
            let batch = Batch {
                stats: vec![(LAST_BACKUP.to_string(), now.unix() - before)],
                ..Batch::default()
            };
            Ok((batch, ()))
        })
        .await
    }
}
