//! Webhooks: each event of the log POSTed, signed, to the ISV's endpoints.
//!
//! The operator lists endpoints in a TOML file (`--webhooks FILE`): a name, an HTTPS URL (plain
//! HTTP only to loopback), an owner-only secret file and the event patterns it wants. Each
//! endpoint has a durable cursor in the store: the last event it was given (or that it did not
//! want). One sender per endpoint reads the log after its cursor, POSTs each selected event in
//! `seq` order, and moves the cursor once the endpoint answered 2xx. So delivery is at least
//! once and in order; an event committed before a crash is sent after the restart; an
//! endpoint that fails holds only its own cursor, retrying with backoff (`--outbox-retry-secs`
//! doubling to 15 min), and is shown as failing after [`FAILING_AFTER`]. On a PostgreSQL
//! cluster one node at a time sends for an endpoint (its cursor names the node holding it, and
//! until when), and every node's operator can move a cursor (`licctl webhooks replay|skip`):
//! cursors change by compare and swap, so a sender never overwrites a replay unseen.
//!
//! Nothing here is on the callback path: the service commits its audit record and wakes the
//! senders, which run on a thread of their own below the callbacks' priority ([`spawn`]); a
//! slow or dead endpoint costs a task and a connection, never a callback's time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client_verifier::Timestamp;
use serde::{Deserialize, Serialize};

use crate::events::{Event, Pattern};
use crate::outbox::RetryPolicy;
use crate::service::Service;

/// A failing endpoint is reported as failing (console, `licctl webhooks list`, metrics) once
/// its oldest undelivered event has failed for this long. It keeps being retried.
pub const FAILING_AFTER: Duration = Duration::from_secs(3 * 24 * 3600);
/// Events read from the log per round of a sender; the cursor is saved after each round, so a
/// crash sends at most this many events again.
const PAGE: usize = 100;
/// Time to connect to an endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a whole delivery: connect, send, and the answer's status and body.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer's body read (for the last error shown to the operator).
const ANSWER_BYTES: usize = 512;
/// A node holds an endpoint for this long, and renews its hold before half of it is left. A
/// node that died holds it until then; the same node restarted takes it back at once (its id is
/// kept in the data directory).
const HOLD: Duration = Duration::from_secs(60);
/// How often a sender with nothing to do looks at the log when no commit of this node woke it
/// (a commit on another node of a cluster).
const POLL: Duration = Duration::from_millis(500);
/// The shortest secret accepted.
const MIN_SECRET: usize = 16;

/// One endpoint, as configured.
#[derive(Clone)]
pub struct Endpoint {
    /// Its name (`[a-zA-Z0-9_-]`, at most 64): the cursor's and the metrics' label.
    pub name: String,
    /// Where events are POSTed.
    pub url: reqwest::Url,
    /// Wiped from memory when the last sender using it is gone.
    secret: Arc<zeroize::Zeroizing<Vec<u8>>>,
    /// The event types it wants.
    pub events: Vec<Pattern>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Whether it wants events of type `kind`.
    pub fn wants(&self, kind: &str) -> bool {
        self.events.iter().any(|p| p.matches(kind))
    }

    /// The patterns as configured.
    pub fn patterns(&self) -> Vec<String> {
        self.events.iter().map(|p| p.as_str().to_string()).collect()
    }

    /// What identifies this configuration: a sender restarts when it changes.
    fn fingerprint(&self) -> String {
        let secret = crate::crypto::hex(&crate::crypto::hmac_sha256(
            b"licd-webhook",
            &[&self.secret],
        ));
        format!("{}|{}|{}", self.url, secret, self.patterns().join(","))
    }
}

/// The configured endpoints, and the file they came from.
#[derive(Debug, Clone, Default)]
pub struct WebhookConfig {
    /// The file, if one is configured.
    pub source: Option<PathBuf>,
    /// The endpoints, in file order.
    pub endpoints: Vec<Endpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRepr {
    #[serde(default)]
    webhook: Vec<EndpointRepr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointRepr {
    name: String,
    url: String,
    secret_file: PathBuf,
    events: Vec<String>,
}

impl WebhookConfig {
    /// Reads and checks `path`; the error names the file, the endpoint and what is wrong.
    pub fn load(path: &Path) -> Result<WebhookConfig, String> {
        let fail = |m: String| format!("{}: {m}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let repr: FileRepr =
            toml::from_str(&text).map_err(|e| fail(e.to_string().trim_end().to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for e in repr.webhook {
            let name = e.name.clone();
            let within =
                |m: String| fail(format!("webhook {}: {m}", crate::logsafe::quoted(&name)));
            if name.is_empty()
                || name.len() > 64
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(within(
                    "a name is 1 to 64 letters, digits, '-' or '_'".into(),
                ));
            }
            if endpoints.iter().any(|x| x.name == name) {
                return Err(within("the name is used twice".into()));
            }
            let url = check_url(&e.url).map_err(within)?;
            let secret_path = dir.join(&e.secret_file);
            let secret = read_secret(&secret_path).map_err(within)?;
            if e.events.is_empty() {
                return Err(within(
                    "events lists no pattern: name the events it wants (\"*\" for all)".into(),
                ));
            }
            let events = e
                .events
                .iter()
                .map(|p| Pattern::parse(p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(within)?;
            endpoints.push(Endpoint {
                name,
                url,
                secret: Arc::new(secret),
                events,
            });
        }
        Ok(WebhookConfig {
            source: Some(path.to_path_buf()),
            endpoints,
        })
    }

    /// The endpoint named `name`.
    pub fn get(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }
}

/// An endpoint's URL: HTTPS, or HTTP to a loopback address; no user name or password in it (a
/// URL is shown and logged).
fn check_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("url: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url: put no user name or password in the URL (it is shown and logged); the signature authenticates licd".into());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!(
            "url {}: plain HTTP is accepted only to loopback (127.0.0.1, ::1, localhost); use https",
            crate::logsafe::quoted(text)
        )),
        _ => Err(format!(
            "url {}: not an https URL",
            crate::logsafe::quoted(text)
        )),
    }
}

/// A secret file: owner-only, at least [`MIN_SECRET`] bytes once trailing whitespace is cut.
fn read_secret(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    crate::private_file::check_private(path, "the webhook secret file")?;
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| format!("cannot read the secret file {}: {e}", path.display()))?,
    );
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    if end < MIN_SECRET {
        return Err(format!(
            "the secret in {} is shorter than {MIN_SECRET} bytes; make one with `openssl rand -hex 32 > {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(zeroize::Zeroizing::new(bytes[..end].to_vec()))
}

/// This node's id, kept in `data_dir/node.id` (made at first start): which node of a cluster
/// holds a webhook endpoint. The file outlives restarts, so a node that crashed takes its
/// endpoints back at once rather than waiting for its own hold to run out.
pub fn node_id(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("node.id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        Ok(_) | Err(_) => {
            let id = crate::crypto::hex(
                &crate::crypto::random_bytes::<12>().map_err(std::io::Error::other)?,
            );
            crate::private_file::write_private(&path, id.as_bytes())?;
            Ok(id)
        }
    }
}

/// An endpoint's durable place in the log, as the store keeps it (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The last event given to the endpoint or passed over (not wanted): the next is after it.
    pub seq: u64,
    /// That record's hash: a log restored from a backup (whose records differ) is noticed.
    pub hash: String,
    /// Events delivered since the cursor was made.
    #[serde(default)]
    pub delivered: u64,
    /// Failed attempts at the next event.
    #[serde(default)]
    pub attempts: u32,
    /// When the next event first failed.
    #[serde(default)]
    pub failing_since: Option<Timestamp>,
    /// When the next attempt is due, after a failure.
    #[serde(default)]
    pub retry_at: Option<Timestamp>,
    /// Why the last attempt failed.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When an event was last delivered.
    #[serde(default)]
    pub last_delivery: Option<Timestamp>,
    /// The node sending for the endpoint (on a cluster, one at a time).
    #[serde(default)]
    pub holder: Option<String>,
    /// Until when it holds the endpoint, unless it renews.
    #[serde(default)]
    pub held_until: Option<Timestamp>,
    /// Operators' moves so far (`replay`, `skip`). Each makes the cursor differ from every
    /// earlier state, so that a sender's save begun before the move cannot match it and undo
    /// it (a replay to where the cursor already stood would otherwise look unchanged).
    #[serde(default)]
    pub moves: u64,
}

impl Cursor {
    fn key(name: &str) -> String {
        format!("webhook:{name}")
    }

    /// Whether the endpoint has failed for longer than [`FAILING_AFTER`].
    pub fn failing(&self, now: Timestamp) -> bool {
        self.failing_since
            .is_some_and(|t| now.unix() - t.unix() >= FAILING_AFTER.as_secs() as i64)
    }
}

/// An endpoint's cursor as the store holds it: the bytes a swap compares.
struct Held {
    cursor: Cursor,
    bytes: Option<Vec<u8>>,
}

async fn load(service: &Service, name: &str) -> Result<Held, crate::store::StoreError> {
    let bytes = service.store().cursor(&Cursor::key(name)).await?;
    let cursor = match &bytes {
        Some(b) => crate::store::codec::decode(Cursor::key(name).as_bytes(), b)?,
        None => Cursor::default(),
    };
    Ok(Held { cursor, bytes })
}

/// Saves `new` over `held`; false when someone else changed the cursor since it was read.
async fn swap(
    service: &Service,
    name: &str,
    held: &Held,
    new: &Cursor,
) -> Result<bool, crate::store::StoreError> {
    let bytes = crate::store::codec::encode(new);
    service
        .store()
        .swap_cursor(&Cursor::key(name), held.bytes.as_deref(), &bytes)
        .await
}

/// Where an operator moves a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Send again every event after this seq (`replay --after SEQ`).
    After(u64),
    /// Skip every event up to now (`skip`).
    ToHead,
}

/// Moves endpoint `name`'s cursor and clears its failure; the moved cursor.
pub async fn move_cursor(
    service: &Service,
    name: &str,
    to: Move,
) -> Result<Cursor, crate::store::StoreError> {
    loop {
        let head = service.store().audit_head().await?;
        let seq = match to {
            Move::After(seq) => seq.min(head),
            Move::ToHead => head,
        };
        let hash = hash_at(service, seq).await?.unwrap_or_default();
        let held = load(service, name).await?;
        let moved = Cursor {
            seq,
            hash,
            delivered: held.cursor.delivered,
            last_delivery: held.cursor.last_delivery,
            holder: held.cursor.holder.clone(),
            held_until: held.cursor.held_until,
            moves: held.cursor.moves + 1,
            ..Cursor::default()
        };
        if swap(service, name, &held, &moved).await? {
            return Ok(moved);
        }
    }
}

/// The hash of record `seq` (`None` when there is no such record; seq 0 has the empty hash).
async fn hash_at(service: &Service, seq: u64) -> Result<Option<String>, crate::store::StoreError> {
    if seq == 0 {
        return Ok(Some(String::new()));
    }
    let r = service.store().audit_after(seq - 1, 1).await?;
    Ok(r.into_iter()
        .next()
        .filter(|r| r.seq == seq)
        .map(|r| r.hash))
}

/// An endpoint as `licctl webhooks list` and the console show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointState {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// The patterns it wants.
    pub events: Vec<String>,
    /// `ok`, `retrying` (an event failed, less than 3 days ago), `failing` or `new` (no cursor yet).
    pub state: String,
    /// The cursor: the last event delivered or passed over.
    pub cursor: u64,
    /// Events in the log after the cursor (not all of them may be wanted).
    pub behind: u64,
    /// Events delivered since the cursor was made.
    pub delivered: u64,
    /// Failed attempts at the next event.
    pub attempts: u32,
    /// When the next event first failed.
    pub failing_since: Option<String>,
    /// When the next attempt is due.
    pub retry_at: Option<String>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When an event was last delivered.
    pub last_delivery: Option<String>,
}

/// The state of every configured endpoint, read from the store (the same on every node).
pub async fn states(
    service: &Service,
    now: Timestamp,
) -> Result<Vec<EndpointState>, crate::store::StoreError> {
    let config = service.webhooks().config();
    if config.endpoints.is_empty() {
        return Ok(Vec::new());
    }
    let head = service.store().audit_head().await?;
    let mut out = Vec::new();
    for e in &config.endpoints {
        let held = load(service, &e.name).await?;
        let c = held.cursor;
        let state = if held.bytes.is_none() {
            "new"
        } else if c.failing(now) {
            "failing"
        } else if c.failing_since.is_some() {
            "retrying"
        } else {
            "ok"
        };
        out.push(EndpointState {
            name: e.name.clone(),
            url: e.url.to_string(),
            events: e.patterns(),
            state: state.to_string(),
            cursor: c.seq,
            behind: head.saturating_sub(c.seq),
            delivered: c.delivered,
            attempts: c.attempts,
            failing_since: c.failing_since.map(Timestamp::to_rfc3339),
            retry_at: c.retry_at.map(Timestamp::to_rfc3339),
            last_error: c.last_error,
            last_delivery: c.last_delivery.map(Timestamp::to_rfc3339),
        });
    }
    Ok(out)
}

/// What this node's senders did since start, per endpoint (for the metrics).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Deliveries answered 2xx.
    pub delivered: u64,
    /// Deliveries that failed.
    pub failed: u64,
}

/// The webhooks of one node: the configuration in use, the HTTP client, the retry policy and
/// the senders' counts.
#[derive(Debug)]
pub struct Hub {
    config: std::sync::RwLock<Arc<WebhookConfig>>,
    /// Bumped on every change of the configuration: the runner restarts what changed.
    changed: tokio::sync::watch::Sender<u64>,
    counts: Mutex<BTreeMap<String, Counts>>,
    client: reqwest::Client,
    retry: RetryPolicy,
    /// This node's id: which node holds an endpoint.
    node: String,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(
            WebhookConfig::default(),
            RetryPolicy::default().base,
            "local".into(),
        )
    }
}

impl Hub {
    /// A hub with `config` in use, retrying a failed delivery after `first_retry`, doubling
    /// up to 15 minutes, on the node named `node` ([`node_id`]).
    pub fn new(config: WebhookConfig, first_retry: Duration, node: String) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(DELIVERY_TIMEOUT)
            .user_agent(concat!("licd/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
            .build()
            .unwrap_or_default();
        Hub {
            config: std::sync::RwLock::new(Arc::new(config)),
            changed: tokio::sync::watch::channel(0).0,
            counts: Mutex::default(),
            client,
            retry: RetryPolicy {
                base: first_retry,
                ..RetryPolicy::default()
            },
            node,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> Arc<WebhookConfig> {
        self.config
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Reads the file again and puts it in use; an invalid file leaves the one in use, and the
    /// error says why.
    pub fn reload(&self) -> Result<Arc<WebhookConfig>, String> {
        let Some(path) = self.config().source.clone() else {
            return Err(
                "no webhooks file is configured (--webhooks, LICD_WEBHOOKS); restart licd with one"
                    .into(),
            );
        };
        match WebhookConfig::load(&path) {
            Ok(c) => {
                tracing::info!(file = %path.display(), endpoints = c.endpoints.len(), "webhooks reloaded");
                *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(c);
                self.changed.send_modify(|n| *n += 1);
                Ok(self.config())
            }
            Err(e) => {
                tracing::error!(error = %crate::logsafe::quoted(&e), "the new webhooks file is not valid: the endpoints loaded before stay in use");
                Err(e)
            }
        }
    }

    /// This node's deliveries and failures per endpoint since start.
    pub fn counts(&self) -> Vec<(String, Counts)> {
        self.counts
            .lock()
            .map(|c| c.iter().map(|(n, c)| (n.clone(), *c)).collect())
            .unwrap_or_default()
    }

    fn count(&self, name: &str, ok: bool) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let c = counts.entry(name.to_string()).or_default();
        if ok {
            c.delivered += 1;
        } else {
            c.failed += 1;
        }
    }

    /// POSTs `event` to `endpoint`, signed at `now`; the status, or why it failed.
    pub async fn deliver(
        &self,
        endpoint: &Endpoint,
        event: &Event,
        now: Timestamp,
    ) -> Result<u16, String> {
        let body = crate::store::codec::encode(event);
        let signature = crate::events::signature(&endpoint.secret, now.unix(), &body);
        let sent = self
            .client
            .post(endpoint.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Licd-Event-Id", &event.id)
            .header("Licd-Event-Type", event.kind.as_ref())
            .header("Licd-Signature", signature)
            .body(body)
            .send()
            .await;
        let result = match sent {
            Err(e) if e.is_timeout() => {
                Err(format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs()))
            }
            Err(e) if e.is_connect() => Err(format!(
                "cannot connect: {}",
                crate::logsafe::error_chain(&e)
            )),
            Err(e) => Err(crate::logsafe::error_chain(&e)),
            Ok(mut answer) => {
                let status = answer.status();
                if status.is_success() {
                    Ok(status.as_u16())
                } else {
                    // A few hundred bytes of the answer tell the operator why; the rest is
                    // never read (an endpoint cannot make licd hold a huge body).
                    let mut text = Vec::new();
                    while text.len() < ANSWER_BYTES {
                        match answer.chunk().await {
                            Ok(Some(c)) => text.extend_from_slice(&c),
                            _ => break,
                        }
                    }
                    text.truncate(ANSWER_BYTES);
                    let said = crate::logsafe::quoted_max(&String::from_utf8_lossy(&text), 200);
                    let hint = if status.is_redirection() {
                        " (redirects are not followed: configure the final URL)"
                    } else {
                        ""
                    };
                    Err(format!("HTTP {}{hint}: {said}", status.as_u16()))
                }
            }
        };
        self.count(&endpoint.name, result.is_ok());
        result
    }
}

/// A test event for endpoint `name` (`licctl webhooks test`): signed like any other, with
/// `seq` 0 and type `webhook.test`, sent now and outside the log and the cursor.
pub async fn test(service: &Service, name: &str) -> Option<Result<u16, String>> {
    let config = service.webhooks().config();
    let endpoint = config.get(name)?;
    let now = Timestamp::now();
    let event = Event {
        seq: 0,
        id: format!(
            "evt_test_{}",
            crate::crypto::hex(&crate::crypto::random_bytes::<8>().unwrap_or_default())
        ),
        kind: crate::events::TEST_TYPE.into(),
        version: crate::events::VERSION,
        at: now.to_rfc3339(),
        license: String::new(),
        actor: "licctl".into(),
        action: "test".into(),
        test: true,
        stale: false,
        data: serde_json::json!({ "endpoint": name }),
        hash: String::new(),
        prev: String::new(),
    };
    Some(service.webhooks().deliver(endpoint, &event, now).await)
}

/// The thread the senders run on; dropping it stops them.
#[derive(Debug)]
pub struct SenderThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for SenderThread {
    fn drop(&mut self) {
        // The thread's runtime ends, and with it every sender; a delivery cut off is sent again
        // after the restart (its cursor had not moved).
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the senders: one per configured endpoint, restarted when a reload changes it.
///
/// They run on a thread of their own at the lowest scheduling priority of the normal policy
/// (nice +19 on Linux, "lowest" on Windows). Their store reads and writes run on the caller's runtime, where the
/// store's connections live; the deliveries (JSON, HMAC, HTTP) run on the low-priority thread.
/// So when licd is busy, callbacks and the client API get the processors first and deliveries
/// catch up after, from their cursors, in order: a burst of purchases is answered at full
/// speed (measured in BENCHMARKS.md).
///
/// `low_priority` false keeps them at normal priority (`--webhooks-priority normal`).
pub fn spawn(service: Arc<Service>, low_priority: bool) -> std::io::Result<SenderThread> {
    let main = tokio::runtime::Handle::current();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("licd-webhooks".into())
        .spawn(move || {
            // The lowest priority of the normal policy: nice +19 on Linux, "lowest" on
            // Windows. Under sustained full load a sender still gets a sliver of a processor;
            // otherwise it runs at full speed.
            if low_priority
                && let Err(e) = thread_priority::set_current_thread_priority(
                    thread_priority::ThreadPriority::Min,
                )
            {
                tracing::warn!(error = ?e, "cannot lower the webhook senders' priority: they run at normal priority");
            }
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the webhook senders: no webhook is delivered until licd restarts");
                    return;
                }
            };
            runtime.block_on(async move {
                tokio::select! {
                    () = run(service, main) => {}
                    _ = stopped => {}
                }
            });
        })?;
    Ok(SenderThread { stop: Some(stop) })
}

/// Runs a sender per configured endpoint, restarting those whose configuration changed on a
/// reload; `main` runs their store work.
async fn run(service: Arc<Service>, main: tokio::runtime::Handle) {
    let mut changed = service.webhooks().changed.subscribe();
    let mut running = Senders::default();
    loop {
        let config = service.webhooks().config();
        running.0.retain(|name, (fp, task)| {
            let keep = config.get(name).is_some_and(|e| e.fingerprint() == *fp);
            if !keep {
                task.abort();
            }
            keep
        });
        for e in &config.endpoints {
            if !running.0.contains_key(&e.name) {
                let task = tokio::spawn(send(service.clone(), main.clone(), e.clone()));
                running.0.insert(e.name.clone(), (e.fingerprint(), task));
            }
        }
        if changed.changed().await.is_err() {
            break;
        }
    }
}

/// The running senders by endpoint, with their configuration's fingerprint; dropped (the
/// runner stopped), it stops them.
#[derive(Default)]
struct Senders(BTreeMap<String, (String, tokio::task::JoinHandle<()>)>);

impl Drop for Senders {
    fn drop(&mut self) {
        for (_, task) in self.0.values() {
            task.abort();
        }
    }
}

/// What a sender does after a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Another round at once: there may be more to send.
    Now,
    /// Wait for a commit of this node, or this long at most (another node's commits).
    Idle(Duration),
    /// Wait this long whatever is committed meanwhile: a retry that is not due, an endpoint
    /// another node holds, or events gathering for the next round.
    Sleep(Duration),
}

/// After a round that sent what there was, the next waits this long: events committed
/// meanwhile go in one round (one read of the log, one write of the cursor) instead of a
/// round per commit while callbacks arrive by the thousand.
const GATHER: Duration = Duration::from_millis(100);

/// One endpoint's sender: forever, or until aborted.
async fn send(service: Arc<Service>, main: tokio::runtime::Handle, endpoint: Endpoint) {
    let policy = service.webhooks().retry;
    // Whether the cursor's record was found in the log since this sender started.
    let mut checked = false;
    loop {
        // Registered before looking, so a commit between the look and the wait wakes it.
        let wake = service.events_wake();
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let then = match round(&service, &main, &endpoint, &policy, &mut checked).await {
            Ok(then) => then,
            Err(e) => {
                tracing::warn!(endpoint = %endpoint.name, error = %e, "webhook sender: the store did not answer; trying again");
                Then::Sleep(Duration::from_secs(5))
            }
        };
        match then {
            Then::Now => {}
            Then::Sleep(d) => tokio::time::sleep(d).await,
            Then::Idle(d) => {
                tokio::select! {
                    () = &mut notified => {}
                    () = tokio::time::sleep(d) => {}
                }
            }
        }
    }
}

/// Runs `work` (store reads and writes) on the runtime `main`, where the store's connections
/// live, and waits for it here.
async fn on_main<T, F>(
    main: &tokio::runtime::Handle,
    work: F,
) -> Result<T, crate::store::StoreError>
where
    F: std::future::Future<Output = Result<T, crate::store::StoreError>> + Send + 'static,
    T: Send + 'static,
{
    main.spawn(work)
        .await
        .map_err(|e| crate::store::StoreError::Db(format!("webhook store task: {e}")))?
}

/// What a round found to do.
enum Due {
    /// Nothing to send now.
    Wait(Then),
    /// These records, after the cursor `held`.
    Page(Held, Vec<crate::store::AuditRecord>),
}

/// One round: read what is due (on `main`), deliver it (here), move the cursor (on `main`).
async fn round(
    service: &Arc<Service>,
    main: &tokio::runtime::Handle,
    endpoint: &Endpoint,
    policy: &RetryPolicy,
    checked: &mut bool,
) -> Result<Then, crate::store::StoreError> {
    let due = {
        let (s, name, first) = (service.clone(), endpoint.name.clone(), !*checked);
        on_main(main, async move { due(&s, &name, first).await }).await?
    };
    *checked = true;
    let (held, page) = match due {
        Due::Wait(then) => return Ok(then),
        Due::Page(held, page) => (held, page),
    };
    let full = page.len() == PAGE;
    let mut next = held.cursor.clone();
    let mut failed = false;
    for record in &page {
        let event = Event::of(record);
        if endpoint.wants(&event.kind) {
            match service
                .webhooks()
                .deliver(endpoint, &event, Timestamp::now())
                .await
            {
                Ok(_) => {
                    next.delivered += 1;
                    next.last_delivery = Some(Timestamp::now());
                    next.attempts = 0;
                    next.failing_since = None;
                    next.retry_at = None;
                    next.last_error = None;
                }
                Err(e) => {
                    let at = Timestamp::now();
                    next.attempts = next.attempts.saturating_add(1);
                    let since = *next.failing_since.get_or_insert(at);
                    let delay = policy.delay(next.attempts, crate::outbox::jitter());
                    next.retry_at = Some(Timestamp::from_unix(
                        at.unix() + delay.as_secs().max(1) as i64,
                    ));
                    if next.attempts == 1 || next.failing(at) {
                        tracing::warn!(endpoint = %endpoint.name, seq = event.seq, attempts = next.attempts, failing_since = %since.to_rfc3339(), error = %e, "webhook delivery failed; retrying later");
                    }
                    next.last_error = Some(e);
                    failed = true;
                    break;
                }
            }
        }
        next.seq = record.seq;
        next.hash = record.hash.clone();
    }
    if next != held.cursor {
        let (s, name) = (service.clone(), endpoint.name.clone());
        let moved = on_main(main, async move {
            if swap(&s, &name, &held, &next).await? {
                return Ok(None);
            }
            Ok(Some(load(&s, &name).await?.cursor.seq))
        })
        .await?;
        if let Some(cursor) = moved {
            // An operator moved the cursor while this round ran: theirs stands.
            tracing::info!(endpoint = %endpoint.name, cursor, "webhook cursor moved by an operator");
        }
    }
    // After a failure the next round waits for `retry_at`; after a full page there may be more.
    Ok(if failed {
        Then::Sleep(Duration::from_secs(1))
    } else if full {
        Then::Now
    } else {
        Then::Sleep(GATHER)
    })
}

/// What is due for endpoint `name`, holding it for this node; `first`: the sender's first
/// look, which checks that the log still holds the cursor's record.
async fn due(service: &Service, name: &str, first: bool) -> Result<Due, crate::store::StoreError> {
    let store = service.store();
    let now = Timestamp::now();
    let node = service.webhooks().node.as_str();
    let mut held = load(service, name).await?;
    let until = Timestamp::from_unix(now.unix() + HOLD.as_secs() as i64);
    if held.bytes.is_none() {
        // A new endpoint starts at the log's head: it gets what happens from now on
        // (`licctl webhooks replay NAME --after 0` sends the history).
        let head = store.audit_head().await?;
        let start = Cursor {
            seq: head,
            hash: hash_at(service, head).await?.unwrap_or_default(),
            holder: Some(node.to_string()),
            held_until: Some(until),
            ..Cursor::default()
        };
        if swap(service, name, &held, &start).await? {
            tracing::info!(endpoint = %name, after = head, "webhook endpoint starts after the newest event");
        }
        return Ok(Due::Wait(Then::Now));
    }
    // One node sends for an endpoint at a time: take it when its holder's time ran out, renew
    // it while more than half is left.
    let mine = held.cursor.holder.as_deref() == Some(node);
    let left = held.cursor.held_until.map_or(0, |t| t.unix() - now.unix());
    if !mine && left > 0 {
        return Ok(Due::Wait(Then::Sleep(Duration::from_secs(5))));
    }
    if !mine || left < (HOLD.as_secs() / 2) as i64 {
        let mut taken = held.cursor.clone();
        taken.holder = Some(node.to_string());
        taken.held_until = Some(until);
        if !swap(service, name, &held, &taken).await? {
            return Ok(Due::Wait(Then::Now));
        }
        if !mine {
            tracing::info!(endpoint = %name, cursor = taken.seq, "this node sends to the webhook endpoint now");
        }
        held = Held {
            bytes: Some(crate::store::codec::encode(&taken)),
            cursor: taken,
        };
    }
    if let Some(at) = held.cursor.retry_at
        && at.unix() > now.unix()
    {
        let wait = Duration::from_secs(u64::try_from(at.unix() - now.unix()).unwrap_or(0));
        // Capped, so that an operator's replay or skip (which clears it) is seen soon.
        return Ok(Due::Wait(Then::Sleep(wait.min(Duration::from_secs(5)))));
    }
    // A log that no longer holds the cursor's record was restored or replaced: start again at
    // its head rather than skip or repeat what the endpoint cannot tell apart. Checked when the
    // sender starts (a restore happens while licd is stopped).
    if first
        && hash_at(service, held.cursor.seq).await?.as_deref() != Some(held.cursor.hash.as_str())
    {
        let head = store.audit_head().await?;
        tracing::warn!(endpoint = %name, cursor = held.cursor.seq, head, "the event log does not hold the webhook cursor's event (restored from a backup?): the endpoint starts again after the newest event");
        let start = Cursor {
            seq: head,
            hash: hash_at(service, head).await?.unwrap_or_default(),
            delivered: held.cursor.delivered,
            holder: held.cursor.holder.clone(),
            held_until: held.cursor.held_until,
            moves: held.cursor.moves + 1,
            ..Cursor::default()
        };
        swap(service, name, &held, &start).await?;
        return Ok(Due::Wait(Then::Now));
    }
    let page = store.audit_after(held.cursor.seq, PAGE).await?;
    if page.is_empty() {
        return Ok(Due::Wait(Then::Idle(POLL)));
    }
    Ok(Due::Page(held, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_secret(path: &Path, text: &str) {
        crate::private_file::write_private(path, text.as_bytes()).unwrap();
    }

    #[test]
    fn the_packaged_example_loads_once_uncommented() {
        let dir = tempfile::tempdir().unwrap();
        let example = include_str!("../packaging/webhooks.toml");
        let uncommented: String = example[example.find("# [[webhook]]").unwrap()..]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.starts_with("[[") || l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let path = dir.path().join("webhooks.toml");
        std::fs::write(&path, uncommented).unwrap();
        write_secret(
            &dir.path().join("crm.secret"),
            "0123456789abcdef0123456789abcdef\n",
        );
        write_secret(
            &dir.path().join("billing.secret"),
            "fedcba9876543210fedcba9876543210",
        );
        let c = WebhookConfig::load(&path).unwrap();
        let names: Vec<&str> = c.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["crm", "billing"]);
        // Trailing whitespace is not part of the secret.
        assert_eq!(c.endpoints[0].secret.len(), 32);
        assert!(c.endpoints[0].wants("license.renewed") && !c.endpoints[0].wants("lease.granted"));
        assert!(c.endpoints[1].wants("license.released") && !c.endpoints[1].wants("seat.freed"));
        // The commented file itself configures nothing, and loads.
        std::fs::write(&path, example).unwrap();
        assert!(WebhookConfig::load(&path).unwrap().endpoints.is_empty());
    }

    #[tokio::test]
    async fn an_operator_s_replay_survives_a_sender_s_save_begun_before_it() {
        let store = Arc::new(crate::store::MemStore::new());
        let service = Service::new(
            store,
            Arc::new(client_verifier::SecretKey::from_seed(&[8; 32])),
            crate::service::Settings {
                issuer: "acme".into(),
                freeze_days: 15,
                require_fingerprint: true,
                min_fingerprint_components: 3,
            },
        );
        // A cursor at 0; a sender reads it, delivers, and is about to save seq 4.
        move_cursor(&service, "crm", Move::ToHead).await.unwrap();
        let read = load(&service, "crm").await.unwrap();
        let delivered = Cursor {
            seq: 4,
            ..read.cursor.clone()
        };
        // Meanwhile the operator replays from 0: the cursor stands where the sender read it,
        // but the replay must not be lost to the sender's save.
        move_cursor(&service, "crm", Move::After(0)).await.unwrap();
        assert!(!swap(&service, "crm", &read, &delivered).await.unwrap());
        assert_eq!(load(&service, "crm").await.unwrap().cursor.seq, 0);
    }

    #[test]
    fn an_endpoint_reads_failing_after_three_days_of_failures() {
        let at = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        let c = Cursor {
            failing_since: Some(at("2026-12-01T00:00:00Z")),
            ..Cursor::default()
        };
        assert!(!c.failing(at("2026-12-03T23:59:59Z")));
        assert!(c.failing(at("2026-12-04T00:00:00Z")));
        assert!(!Cursor::default().failing(at("2030-01-01T00:00:00Z")));
    }

    #[test]
    fn urls_secrets_and_names_are_checked() {
        for ok in [
            "https://a.example/h",
            "http://127.0.0.1:8080/h",
            "http://[::1]/h",
            "http://localhost/h",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/h",
            "ftp://a.example/",
            "https://u:p@a.example/",
            "not a url",
            "http://127.0.0.1.example.com/",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        write_secret(&short, "tooshort\n\n");
        assert!(read_secret(&short).unwrap_err().contains("shorter than 16"));
        let path = dir.path().join("w.toml");
        write_secret(&dir.path().join("s"), "0123456789abcdef0123");
        for (text, says) in [
            (
                "[[webhook]]\nname = \"a b\"\nurl = \"https://x.example\"\nsecret_file = \"s\"\nevents = [\"*\"]\n",
                "1 to 64",
            ),
            (
                "[[webhook]]\nname = \"a\"\nurl = \"https://x.example\"\nsecret_file = \"s\"\nevents = []\n",
                "no pattern",
            ),
            (
                "[[webhook]]\nname = \"a\"\nurl = \"https://x.example\"\nsecret_file = \"s\"\nevents = [\"*\"]\n[[webhook]]\nname = \"a\"\nurl = \"https://y.example\"\nsecret_file = \"s\"\nevents = [\"*\"]\n",
                "used twice",
            ),
            (
                "[[webhook]]\nname = \"a\"\nurl = \"https://x.example\"\nsecret_file = \"s\"\nevents = [\"*\"]\nsecret = \"inline\"\n",
                "unknown field",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = WebhookConfig::load(&path).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }
}
