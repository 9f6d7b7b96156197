//! Prometheus metrics: callbacks by activity and result code, callback latency, licenses by
//! status (read from the store's counters at scrape time, so they survive restarts).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallbackLabels {
    activity: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActivityLabels {
    activity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProductLabels {
    product: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadingLabels {
    reading: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms .. ~4 s: a durable callback takes a few milliseconds; the marketplace gives up at 5 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

/// The daemon's metrics.
pub struct Metrics {
    registry: Registry,
    callbacks: Family<CallbackLabels, Counter>,
    latency: Family<ActivityLabels, Histogram, fn() -> Histogram>,
    licenses: Family<StatusLabels, Gauge>,
    client: Family<ClientLabels, Counter>,
    outbox: Family<OutboxLabels, Gauge>,
    unlisted: Family<ProductLabels, Gauge>,
    leases: Family<ProductLabels, Gauge>,
    lease_refusals: Family<ProductLabels, Counter>,
    readings: Family<ReadingLabels, Counter>,
    webhook_deliveries: Family<EndpointLabels, Counter>,
    webhook_failures: Family<EndpointLabels, Counter>,
    webhook_behind: Family<EndpointLabels, Gauge>,
    webhook_failing: Family<EndpointLabels, Gauge>,
    /// Callbacks per hour and result code, for the console.
    pub hours: Arc<CallbackHours>,
    /// V2 signature readings seen, for the console and `licd doctor`.
    pub readings_seen: Arc<ReadingsSeen>,
}

/// The V2 signature readings that verified since this process started: how many callbacks each,
/// first and last time. Shown on the console's marketplace page and by `licd doctor`, so the
/// ISV learns which reading the marketplace uses and can pin it (`--v2-signature`).
#[derive(Debug, Default)]
pub struct ReadingsSeen {
    seen: std::sync::Mutex<std::collections::BTreeMap<&'static str, ReadingSeen>>,
}

/// One reading's tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadingSeen {
    /// Callbacks verified under it.
    pub count: u64,
    /// The first of them.
    pub first: client_verifier::Timestamp,
    /// The last of them.
    pub last: client_verifier::Timestamp,
}

impl ReadingsSeen {
    /// Counts one callback verified under `reading` at `now`; true for the first.
    pub fn count(
        &self,
        reading: crate::marketplace::V2Reading,
        now: client_verifier::Timestamp,
    ) -> bool {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = seen.entry(reading.name()).or_insert(ReadingSeen {
            count: 0,
            first: now,
            last: now,
        });
        entry.count += 1;
        entry.last = now;
        entry.count == 1
    }

    /// Every reading seen, by name.
    pub fn snapshot(&self) -> Vec<(&'static str, ReadingSeen)> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    /// The snapshot as JSON: `{reading: {count, first, last}}`, times in RFC 3339.
    pub fn to_json(&self) -> serde_json::Value {
        self.snapshot()
            .into_iter()
            .map(|(name, s)| {
                (
                    name.to_string(),
                    serde_json::json!({
                        "count": s.count,
                        "first": s.first.to_rfc3339(),
                        "last": s.last.to_rfc3339(),
                    }),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// Callbacks answered per UTC hour and result code, the last [`CallbackHours::KEEP`] hours, in
/// this process's memory: the console's hourly chart. Not in the store on purpose: a write per
/// callback would cost the callback path, and refused callbacks (anyone can send those) would
/// become writes. A restart starts it afresh, and each node counts its own.
#[derive(Debug, Default)]
pub struct CallbackHours {
    hours: std::sync::Mutex<
        std::collections::VecDeque<(String, std::collections::BTreeMap<String, u64>)>,
    >,
}

impl CallbackHours {
    /// Hours kept.
    pub const KEEP: usize = 48;

    /// Counts one callback answered with `code` at `now`.
    pub fn count(&self, code: &str, now: client_verifier::Timestamp) {
        let hour = crate::store::hour_of(now);
        let mut hours = self
            .hours
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if hours.back().is_none_or(|(h, _)| *h != hour) {
            hours.push_back((hour, std::collections::BTreeMap::new()));
            while hours.len() > Self::KEEP {
                hours.pop_front();
            }
        }
        if let Some((_, codes)) = hours.back_mut() {
            // Result codes are the marketplace's few six-digit ones; anything else is lumped,
            // so a flood cannot grow the map.
            let code = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
                code
            } else {
                "other"
            };
            *codes.entry(code.to_string()).or_default() += 1;
        }
    }

    /// The hours kept, oldest first: hour (`YYYY-MM-DDTHH`) and count per result code.
    pub fn snapshot(&self) -> Vec<(String, std::collections::BTreeMap<String, u64>)> {
        self.hours
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Metrics reading license counts from `store`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("licd");
        let callbacks = Family::<CallbackLabels, Counter>::default();
        registry.register(
            "callbacks",
            "Marketplace callbacks answered, by activity and result code",
            callbacks.clone(),
        );
        let latency = Family::<ActivityLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "callback_duration_seconds",
            "Time from request to durable answer, by activity",
            latency.clone(),
        );
        let licenses = Family::<StatusLabels, Gauge>::default();
        registry.register("licenses", "Licenses by status", licenses.clone());
        let client = Family::<ClientLabels, Counter>::default();
        registry.register(
            "client_requests",
            "Client API requests (activate, refresh, keys, revocations), by route and HTTP status",
            client.clone(),
        );
        let outbox = Family::<OutboxLabels, Gauge>::default();
        registry.register(
            "outbox_jobs",
            "Calls owed to the marketplace (device-license uploads, order queries): pending ones are retried, dead ones need an operator",
            outbox.clone(),
        );
        let unlisted = Family::<ProductLabels, Gauge>::default();
        registry.register(
            "catalog_unlisted_purchases",
            "Purchases since start of products the catalog does not list (they get the [default] entry): add the product to the catalog",
            unlisted.clone(),
        );
        let leases = Family::<ProductLabels, Gauge>::default();
        registry.register(
            "leases_in_use",
            "Floating-license leases holding a seat now, by product (released ones until they expire)",
            leases.clone(),
        );
        let lease_refusals = Family::<ProductLabels, Counter>::default();
        registry.register(
            "lease_refusals",
            "Lease requests refused since start because every seat of the license was taken, by product: customers who may need more seats",
            lease_refusals.clone(),
        );
        let readings = Family::<ReadingLabels, Counter>::default();
        registry.register(
            "v2_signature_readings",
            "V2 callbacks whose signature checked out, by the reading that matched (license2, saas, kit): pin the one the marketplace uses with --v2-signature",
            readings.clone(),
        );
        let webhook_deliveries = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Events this node delivered to each webhook endpoint (answered 2xx) since start",
            webhook_deliveries.clone(),
        );
        let webhook_failures = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "webhook_failures",
            "Failed deliveries to each webhook endpoint by this node since start (each is retried)",
            webhook_failures.clone(),
        );
        let webhook_behind = Family::<EndpointLabels, Gauge>::default();
        registry.register(
            "webhook_behind_events",
            "Events in the log after each webhook endpoint's cursor: its backlog",
            webhook_behind.clone(),
        );
        let webhook_failing = Family::<EndpointLabels, Gauge>::default();
        registry.register(
            "webhook_failing",
            "1 when a webhook endpoint has failed for 3 days or more (licctl webhooks list)",
            webhook_failing.clone(),
        );
        Metrics {
            registry,
            webhook_deliveries,
            webhook_failures,
            webhook_behind,
            webhook_failing,
            callbacks,
            latency,
            licenses,
            client,
            outbox,
            unlisted,
            leases,
            lease_refusals,
            readings,
            hours: Arc::default(),
            readings_seen: Arc::default(),
        }
    }

    /// Counts one answered callback.
    pub fn callback(&self, activity: &str, code: &str, seconds: f64) {
        self.hours.count(code, client_verifier::Timestamp::now());
        self.callbacks
            .get_or_create(&CallbackLabels {
                activity: activity.to_string(),
                code: code.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&ActivityLabels {
                activity: activity.to_string(),
            })
            .observe(seconds);
    }

    /// Counts one V2 callback verified under `reading`; the first of each reading is logged, so
    /// the operator learns which one the marketplace uses.
    pub fn v2_reading(&self, reading: crate::marketplace::V2Reading) {
        self.readings
            .get_or_create(&ReadingLabels {
                reading: reading.name(),
            })
            .inc();
        if self
            .readings_seen
            .count(reading, client_verifier::Timestamp::now())
        {
            tracing::info!(
                reading = reading.name(),
                "the first V2 callback signed under this reading checked out; once it is the only one seen, pin it: --v2-signature {}",
                reading.name()
            );
        }
    }

    /// Counts one client API request.
    pub fn client(&self, route: &'static str, status: u16) {
        self.client
            .get_or_create(&ClientLabels { route, status })
            .inc();
    }

    /// Takes the webhook senders' counts of this node and the endpoints' state (none when the
    /// store did not answer: the last values stand).
    pub fn record_webhooks(
        &self,
        counts: &[(String, crate::webhooks::Counts)],
        states: Option<&[crate::webhooks::EndpointState]>,
    ) {
        for (name, c) in counts {
            let labels = EndpointLabels {
                endpoint: name.clone(),
            };
            let d = self.webhook_deliveries.get_or_create(&labels);
            d.inc_by(c.delivered.saturating_sub(d.get()));
            let f = self.webhook_failures.get_or_create(&labels);
            f.inc_by(c.failed.saturating_sub(f.get()));
        }
        if let Some(states) = states {
            // An endpoint removed from the file leaves the gauges.
            self.webhook_behind.clear();
            self.webhook_failing.clear();
            for e in states {
                let labels = EndpointLabels {
                    endpoint: e.name.clone(),
                };
                self.webhook_behind
                    .get_or_create(&labels)
                    .set(i64::try_from(e.behind).unwrap_or(i64::MAX));
                self.webhook_failing
                    .get_or_create(&labels)
                    .set(i64::from(e.state == "failing"));
            }
        }
    }

    /// The text exposition format; `unlisted` is the service's count of purchases of products
    /// the catalog does not list, `gauges` what it reads of the store (none when the store did
    /// not answer: the last values stand).
    pub fn render(
        &self,
        unlisted: &[(String, u64)],
        lease_refusals: &[(String, u64)],
        gauges: Option<crate::service::Gauges>,
    ) -> String {
        for (product, n) in lease_refusals {
            let c = self.lease_refusals.get_or_create(&ProductLabels {
                product: product.clone(),
            });
            c.inc_by(n.saturating_sub(c.get()));
        }
        for (product, n) in unlisted {
            self.unlisted
                .get_or_create(&ProductLabels {
                    product: product.clone(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        if let Some(g) = gauges {
            let c = g.counts;
            for (status, n) in [
                ("active", c.active),
                ("frozen", c.frozen),
                ("released", c.released),
            ] {
                self.licenses
                    .get_or_create(&StatusLabels { status })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            // A product whose leases all ended reads 0, not its last value.
            self.leases.clear();
            for (product, n) in &g.leases_in_use {
                self.leases
                    .get_or_create(&ProductLabels {
                        product: product.clone(),
                    })
                    .set(i64::try_from(*n).unwrap_or(i64::MAX));
            }
            for (state, n) in [("pending", g.pending), ("dead", g.dead)] {
                self.outbox
                    .get_or_create(&OutboxLabels { state })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
