//! What the admin API and the console read: typed queries over the store, so that the HTTP
//! layer never reads storage nor decides from it.

use crate::accounts::{Action, Principal};
use client_verifier::Timestamp;

use super::{Service, ServiceError};
use crate::job::Job;
use crate::license::{Activation, DeviceLicense, Kind, License, Status, Transfers};
use crate::store::{AuditRecord, Counter, OrderKey, StatusCounts, StoreError};

/// Licenses read per store round trip while searching.
const SCAN_CHUNK: usize = 500;

/// Which licenses a search keeps.
#[derive(Debug, Clone, Default)]
pub struct LicenseFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only this customer id.
    pub customer: Option<String>,
    /// Only this product.
    pub product: Option<String>,
    /// Only test (or only real) purchases.
    pub test: Option<bool>,
    /// Not released, with `exp` between the first time and the second.
    pub expiring_between: Option<(Timestamp, Timestamp)>,
    /// Only licenses with a live seat or device token bound to more than one disk or mainboard
    /// value (minted before the one-machine rule; worth reissuing).
    pub wide_bindings: bool,
}

impl LicenseFilter {
    fn matches(&self, l: &License) -> bool {
        self.status.is_none_or(|s| l.status == s)
            && self.kind.is_none_or(|k| l.kind == k)
            && self.customer.as_ref().is_none_or(|c| &l.customer == c)
            && self.product.as_ref().is_none_or(|p| &l.product == p)
            && self.test.is_none_or(|t| l.test == t)
            && self.expiring_between.is_none_or(|(from, until)| {
                l.status != Status::Released && l.exp >= from && l.exp <= until
            })
    }
}

/// One page of a search.
#[derive(Debug, Clone, Default)]
pub struct LicensePage {
    /// The licenses found, in id order.
    pub licenses: Vec<License>,
    /// Where the next page starts (`after`); `None` when the search reached the end.
    pub next: Option<String>,
}

/// A license with its seats and device licenses.
#[derive(Debug, Clone)]
pub struct LicenseDetail {
    /// The license.
    pub license: License,
    /// License 1.0 seats, by seat number.
    pub seats: Vec<Activation>,
    /// Seats given back and taken again, against the catalog's limit, as of now.
    pub transfers: Transfers,
    /// Online-activation device licenses.
    pub devices: Vec<DeviceLicense>,
    /// Floating-license leases, ended ones included until forgotten.
    pub leases: Vec<crate::license::lease::Lease>,
}

/// A license's audit history, and the state of the one chain it is part of.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    /// The license's records, oldest first.
    pub records: Vec<AuditRecord>,
    /// The whole chain: records checked, or the first broken seq.
    pub chain: Result<u64, u64>,
}

/// What the console's dashboard shows, from the store's counters (no scan).
#[derive(Debug, Clone, Default)]
pub struct Dashboard {
    /// Licenses per status.
    pub counts: StatusCounts,
    /// Outbox jobs pending and dead.
    pub pending: usize,
    /// Outbox jobs given up on.
    pub dead: usize,
    /// Licenses not released per (product, edition), largest first, ties by product.
    pub groups: Vec<(String, String, i64)>,
    /// Devices activated per day (`YYYY-MM-DD`), for the days asked.
    pub activations: Vec<(String, i64)>,
    /// Licenses expiring per day, from today to the horizon.
    pub expiring: Vec<(String, i64)>,
}

/// What the metrics report of the store.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Licenses per status.
    pub counts: StatusCounts,
    /// Outbox jobs pending.
    pub pending: usize,
    /// Outbox jobs given up on.
    pub dead: usize,
    /// Floating-license leases holding a seat, by product.
    pub leases_in_use: std::collections::BTreeMap<String, u64>,
}

impl Service {
    /// License `id`, or [`ServiceError::NotFound`].
    pub async fn license(&self, id: &str) -> Result<License, ServiceError> {
        self.store
            .license(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(id.to_string()))
    }

    /// The license a License 1.0 purchase (`orderId`) created, if any.
    pub async fn license_of_order(&self, order: &str) -> Result<Option<License>, ServiceError> {
        match self
            .store
            .order(&OrderKey::Classic(order.to_string()))
            .await?
        {
            Some(id) => Ok(self.store.license(&id).await?),
            None => Ok(None),
        }
    }

    /// The license of License 2.0 code `code` (as entered, trimmed).
    pub async fn license_of_code(&self, code: &str) -> Result<License, ServiceError> {
        let key = OrderKey::Code(code.trim().to_string());
        let id =
            self.store.order(&key).await?.ok_or_else(|| {
                ServiceError::NotFound("no license has this activation code".into())
            })?;
        self.license(&id).await
    }

    /// License `id` with its seats, transfers and device licenses, as `by` may see it: its
    /// License 2.0 code only with [`Action::SeeSecret`], its tokens (the license's, its
    /// seats', its devices') only when [`Principal::may_see_tokens`].
    pub async fn license_detail(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<LicenseDetail, ServiceError> {
        by.require(Action::Read)?;
        let mut license = self.license(id).await?;
        let mut seats = self.store.activations(id).await?;
        let transfers = self.transfers(&license, &seats, Timestamp::now());
        let mut devices = self.store.devices_for(id).await?;
        let leases = self.store.leases(id).await?;
        if !by.may(Action::SeeSecret) {
            license.code = None;
        }
        if !by.may_see_tokens(license.direct.is_some()) {
            license.issued_token = None;
            license.latest_token = None;
            seats.iter_mut().for_each(|s| s.token.clear());
            devices.iter_mut().for_each(|d| d.token.clear());
        }
        Ok(LicenseDetail {
            license,
            seats,
            transfers,
            devices,
            leases,
        })
    }

    /// Licenses in id order after `after` that `filter` keeps, until `limit` are found, the
    /// store ends, or `budget` records were read: the cursor is the last id looked at, so the
    /// next page starts right after it and a rare match costs bounded requests, not one long
    /// one.
    pub async fn search(
        &self,
        mut after: Option<String>,
        filter: &LicenseFilter,
        limit: usize,
        budget: usize,
    ) -> Result<LicensePage, ServiceError> {
        let mut licenses = Vec::new();
        let mut scanned = 0;
        while scanned < budget {
            let chunk = SCAN_CHUNK.min(budget - scanned);
            let page = self.store.licenses_page(after.as_deref(), chunk).await?;
            let end = page.len() < chunk;
            for l in page {
                scanned += 1;
                after = Some(l.id.clone());
                if filter.matches(&l)
                    && (!filter.wide_bindings || self.has_wide_binding(&l.id).await?)
                {
                    licenses.push(l);
                    if licenses.len() == limit {
                        // Whether anything follows is for the next request to find out.
                        return Ok(LicensePage {
                            licenses,
                            next: after,
                        });
                    }
                }
            }
            if end {
                return Ok(LicensePage {
                    licenses,
                    next: None,
                });
            }
        }
        Ok(LicensePage {
            licenses,
            next: after,
        })
    }

    /// Whether a live seat or device token of license `id` has a wide binding.
    async fn has_wide_binding(&self, id: &str) -> Result<bool, StoreError> {
        let seats = self.store.activations(id).await?;
        let devices = self.store.devices_for(id).await?;
        Ok(seats
            .iter()
            .any(|a| a.revoked.is_none() && a.wide_binding())
            || devices
                .iter()
                .any(|d| d.revoked.is_none() && d.wide_binding()))
    }

    /// License `id`'s audit history and the state of the whole chain.
    pub async fn audit_trail(&self, id: &str) -> Result<AuditTrail, ServiceError> {
        self.license(id).await?;
        Ok(AuditTrail {
            records: self.store.audit_for(id).await?,
            chain: self.store.verify_audit_chain().await?,
        })
    }

    /// License `id`'s audit records, oldest first (without checking the whole chain).
    pub async fn audit_records(&self, id: &str) -> Result<Vec<AuditRecord>, ServiceError> {
        Ok(self.store.audit_for(id).await?)
    }

    /// Every outbox job (pending and dead).
    pub async fn jobs(&self) -> Result<Vec<Job>, ServiceError> {
        Ok(self.store.jobs().await?)
    }

    /// The dashboard on `days` (the activation chart's days) and expiries from `today` to
    /// `horizon` (`YYYY-MM-DD`).
    pub async fn dashboard(
        &self,
        days: &[String],
        today: &str,
        horizon: &str,
    ) -> Result<Dashboard, ServiceError> {
        let gauges = self.gauges().await?;
        let mut groups = Vec::new();
        let mut per_day = std::collections::HashMap::new();
        let mut expiring = Vec::new();
        for (key, n) in self.store.stats("").await? {
            match Counter::parse(&key) {
                Some(Counter::Group { product, edition }) if n > 0 => {
                    groups.push((product, edition, n));
                }
                Some(Counter::Activated { day }) => {
                    per_day.insert(day, n);
                }
                Some(Counter::Expiring { day })
                    if n > 0 && day.as_str() >= today && day.as_str() <= horizon =>
                {
                    expiring.push((day, n));
                }
                _ => {}
            }
        }
        groups.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        groups.truncate(50);
        let activations = days
            .iter()
            .map(|d| (d.clone(), per_day.get(d).copied().unwrap_or(0)))
            .collect();
        Ok(Dashboard {
            counts: gauges.counts,
            pending: gauges.pending,
            dead: gauges.dead,
            groups,
            activations,
            expiring,
        })
    }

    /// Licenses per status and the outbox's size, for metrics.
    pub async fn gauges(&self) -> Result<Gauges, ServiceError> {
        let counts = self.store.counts().await?;
        let jobs = self.store.jobs().await?;
        let dead = jobs.iter().filter(|j| j.dead).count();
        let leases_in_use = self.store.leases_in_use(Timestamp::now()).await?;
        Ok(Gauges {
            counts,
            pending: jobs.len() - dead,
            dead,
            leases_in_use,
        })
    }

    /// Whether the store answers a read and still accepts writes (readiness).
    pub async fn ready(&self) -> Result<(), ServiceError> {
        self.store.counts().await?;
        Ok(self.store.writable()?)
    }

    /// Whether `licd backup` can stream this store (the embedded one can; PostgreSQL is backed
    /// up with its own tools).
    pub fn can_back_up(&self) -> bool {
        self.store.snapshot().is_some()
    }

    /// Streams a consistent backup taken at `created` into `out`, holding writes off only for
    /// the moments it needs one state. Blocking: call it from a blocking thread.
    pub fn write_backup<W: std::io::Write>(
        &self,
        out: W,
        created: i64,
    ) -> Result<crate::backup::Taken, crate::backup::BackupError> {
        match self.store.snapshot() {
            Some(s) => crate::backup::write_snapshot(s, out, created, || s.hold_writes_blocking()),
            None => Err(crate::backup::BackupError::Io {
                path: "backup stream".into(),
                source: std::io::Error::other(
                    "this store cannot be backed up with licd backup: on PostgreSQL, back up the database with pg_dump (docs/operations.md, \"Several nodes\")",
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::license::sample;
    use crate::store::{Batch, MemStore};

    fn service_with(n: usize) -> Service {
        let store = MemStore::new();
        let licenses = (0..n)
            .map(|i| {
                let mut l = sample(&format!("l-{i:04}"), Status::Active);
                l.customer = if i % 250 == 249 { "rare" } else { "common" }.into();
                l
            })
            .collect();
        store
            .apply(Batch {
                licenses,
                ..Batch::default()
            })
            .unwrap();
        Service::new(
            Arc::new(store),
            Arc::new(client_verifier::SecretKey::from_seed(&[4; 32])),
            super::super::Settings {
                issuer: "acme".into(),
                freeze_days: 15,
                require_fingerprint: false,
                min_fingerprint_components: 3,
            },
        )
    }

    fn customer(c: &str) -> LicenseFilter {
        LicenseFilter {
            customer: Some(c.into()),
            ..LicenseFilter::default()
        }
    }

    #[tokio::test]
    async fn search_stops_at_the_budget_with_a_cursor_and_resumes_without_gaps() {
        let s = service_with(1_000);
        // 1,000 licenses, 4 of them "rare", at most 300 read per request.
        let mut after = None;
        let mut found = Vec::new();
        let mut requests = 0;
        loop {
            let page = s.search(after, &customer("rare"), 10, 300).await.unwrap();
            requests += 1;
            found.extend(page.licenses.into_iter().map(|l| l.id));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(found, ["l-0249", "l-0499", "l-0749", "l-0999"]);
        assert_eq!(requests, 4, "300 + 300 + 300 + 100 records");
    }

    #[tokio::test]
    async fn search_returns_the_last_match_as_cursor_when_the_page_fills() {
        let s = service_with(30);
        let page = s
            .search(None, &customer("common"), 7, 10_000)
            .await
            .unwrap();
        assert_eq!(page.licenses.len(), 7);
        assert_eq!(page.next.as_deref(), Some("l-0006"));
        let rest = s
            .search(page.next, &customer("common"), 100, 10_000)
            .await
            .unwrap();
        assert_eq!(rest.licenses.len(), 23);
        assert_eq!(rest.licenses[0].id, "l-0007");
        assert_eq!(rest.next, None);
    }
}
