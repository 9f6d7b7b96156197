//! Faults on purpose: a store that fails its writes on demand (served in-process by the real
//! app), and the real `licd` binary started under a lowered file-size limit so the disk
//! is "full" for it alone.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use client_verifier::{SecretKey, Timestamp};
use licd::config::{Config, ServeArgs};
use licd::license::{DeviceLicense, License};
use licd::marketplace::AccessKey;
use licd::outbox::Job;
use licd::server::{App, Listeners};
use licd::service::{Service, Settings};
use licd::store::{
    AuditRecord, Batch, DeviceKey, OrderKey, SledStore, StatusCounts, Store, StoreError,
    Transaction, Tx,
};

use crate::common::{ACCESS_KEY, Answer, CALLBACK, Daemon};

/// A [`SledStore`] whose `commit` or `flush` fails while the matching switch is on, as a full
/// disk would make them fail.
#[derive(Debug)]
pub struct FaultyStore {
    inner: SledStore,
    pub fail_commit: AtomicBool,
    pub fail_flush: AtomicBool,
}

impl FaultyStore {
    pub fn new(inner: SledStore) -> Self {
        FaultyStore {
            inner,
            fail_commit: AtomicBool::new(false),
            fail_flush: AtomicBool::new(false),
        }
    }
}

fn disk_full() -> StoreError {
    StoreError::Db("injected: No space left on device (os error 28)".into())
}

/// A step of the inner store whose commit fails.
struct FailingTx(Tx);

#[async_trait::async_trait]
impl Transaction for FailingTx {
    async fn license(&mut self, id: &str) -> Result<Option<License>, StoreError> {
        self.0.license(id).await
    }
    async fn order(&mut self, key: &OrderKey) -> Result<Option<String>, StoreError> {
        self.0.order(key).await
    }
    async fn purchase_and_license(
        &mut self,
        key: &OrderKey,
        id: &str,
    ) -> Result<(Option<String>, Option<License>), StoreError> {
        self.0.purchase_and_license(key, id).await
    }
    async fn applied(&mut self, key: &str) -> Result<bool, StoreError> {
        self.0.applied(key).await
    }
    async fn device(&mut self, key: &DeviceKey) -> Result<Option<DeviceLicense>, StoreError> {
        self.0.device(key).await
    }
    async fn devices_for(&mut self, license_id: &str) -> Result<Vec<DeviceLicense>, StoreError> {
        self.0.devices_for(license_id).await
    }
    async fn activations(
        &mut self,
        license_id: &str,
    ) -> Result<Vec<licd::license::Activation>, StoreError> {
        self.0.activations(license_id).await
    }
    async fn leases(
        &mut self,
        license_id: &str,
    ) -> Result<(Timestamp, Vec<licd::license::lease::Lease>), StoreError> {
        self.0.leases(license_id).await
    }
    async fn lease(
        &mut self,
        license_id: &str,
        id: &str,
    ) -> Result<(Timestamp, Option<licd::license::lease::Lease>), StoreError> {
        self.0.lease(license_id, id).await
    }
    async fn job(&mut self, id: &str) -> Result<Option<Job>, StoreError> {
        self.0.job(id).await
    }
    async fn is_revoked(&mut self, entry: &str) -> Result<bool, StoreError> {
        self.0.is_revoked(entry).await
    }
    async fn counts(&mut self) -> Result<StatusCounts, StoreError> {
        self.0.counts().await
    }
    async fn stats(&mut self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        self.0.stats(prefix).await
    }
    async fn commit(self: Box<Self>, _batch: Batch) -> Result<(), StoreError> {
        Err(disk_full())
    }
}

#[async_trait::async_trait]
impl Store for FaultyStore {
    async fn license(&self, id: &str) -> Result<Option<License>, StoreError> {
        self.inner.license(id).await
    }
    async fn order(&self, key: &OrderKey) -> Result<Option<String>, StoreError> {
        self.inner.order(key).await
    }
    async fn applied(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.applied(key).await
    }
    async fn device(&self, key: &DeviceKey) -> Result<Option<DeviceLicense>, StoreError> {
        self.inner.device(key).await
    }
    async fn begin(&self) -> Result<Tx, StoreError> {
        let tx = self.inner.begin().await?;
        Ok(match self.fail_commit.load(Ordering::SeqCst) {
            true => Tx::new(FailingTx(tx)),
            false => tx,
        })
    }
    async fn remember_nonce(&self, nonce: &str, expires: Timestamp) -> Result<bool, StoreError> {
        self.inner.remember_nonce(nonce, expires).await
    }
    async fn remembered(&self, nonce: &str, now: Timestamp) -> Result<bool, StoreError> {
        self.inner.remembered(nonce, now).await
    }
    async fn prune_nonces(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.inner.prune_nonces(now).await
    }
    async fn claim(&self, key: &str, until: Timestamp, now: Timestamp) -> Result<bool, StoreError> {
        self.inner.claim(key, until, now).await
    }
    async fn release_claim(&self, key: &str, until: Timestamp) -> Result<(), StoreError> {
        self.inner.release_claim(key, until).await
    }
    async fn flush(&self) -> Result<(), StoreError> {
        if self.fail_flush.load(Ordering::SeqCst) {
            return Err(disk_full());
        }
        self.inner.flush().await
    }
    async fn counts(&self) -> Result<StatusCounts, StoreError> {
        self.inner.counts().await
    }
    async fn stats(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        self.inner.stats(prefix).await
    }
    async fn revoked(&self) -> Result<(u64, Vec<String>), StoreError> {
        self.inner.revoked().await
    }
    async fn is_revoked(&self, entry: &str) -> Result<bool, StoreError> {
        self.inner.is_revoked(entry).await
    }
    async fn devices_for(&self, license_id: &str) -> Result<Vec<DeviceLicense>, StoreError> {
        self.inner.devices_for(license_id).await
    }
    async fn activations(
        &self,
        license_id: &str,
    ) -> Result<Vec<licd::license::Activation>, StoreError> {
        self.inner.activations(license_id).await
    }
    async fn leases_in_use(
        &self,
        now: Timestamp,
    ) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        self.inner.leases_in_use(now).await
    }
    async fn leases(
        &self,
        license_id: &str,
    ) -> Result<Vec<licd::license::lease::Lease>, StoreError> {
        self.inner.leases(license_id).await
    }
    async fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.inner.jobs().await
    }
    async fn job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        self.inner.job(id).await
    }
    async fn due_jobs(&self, now: Timestamp, limit: usize) -> Result<licd::store::Due, StoreError> {
        self.inner.due_jobs(now, limit).await
    }
    async fn licenses_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<License>, StoreError> {
        self.inner.licenses_page(after, limit).await
    }
    async fn audit_for(&self, license_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.audit_for(license_id).await
    }
    async fn disk_bytes(&self) -> Result<u64, StoreError> {
        self.inner.disk_bytes().await
    }
    async fn verify_audit_chain(&self) -> Result<Result<u64, u64>, StoreError> {
        self.inner.verify_audit_chain().await
    }
    async fn audit_after(&self, seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.audit_after(seq, limit).await
    }
    async fn audit_head(&self) -> Result<u64, StoreError> {
        self.inner.audit_head().await
    }
    async fn cursor(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.cursor(name).await
    }
    async fn swap_cursor(
        &self,
        name: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        self.inner.swap_cursor(name, old, new).await
    }
    fn snapshot(&self) -> Option<&dyn licd::store::Snapshot> {
        self.inner.snapshot()
    }
    fn writable(&self) -> Result<(), StoreError> {
        self.inner.writable()
    }
    async fn dump(&self) -> Result<licd::store::dump::Dump, StoreError> {
        self.inner.dump().await
    }
}

pub const ISSUER: &str = "acme-isv";

/// The service as `licd serve` builds it, over `store`, signing with a fixed key.
pub fn service(store: Arc<dyn Store>) -> Arc<Service> {
    Arc::new(Service::new(
        store,
        Arc::new(SecretKey::from_seed(&[7; 32])),
        Settings {
            issuer: ISSUER.into(),
            freeze_days: 15,
            require_fingerprint: false,
            min_fingerprint_components: 3,
        },
    ))
}

/// The real app (`licd::server::App`, as `licd serve` builds it) over `store`, with its keys and
/// secrets under `dir/app`, served on 127.0.0.1:0 until the runtime ends.
pub async fn serve_in_process(dir: &Path, store: Arc<dyn Store>) -> SocketAddr {
    let root = dir.join("app");
    std::fs::create_dir_all(&root).unwrap();
    let key_file = root.join("access.key");
    crate::common::write_secret(&key_file, ACCESS_KEY.as_bytes());
    let args = ServeArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(root.join("data")),
        keys_dir: Some(root.join("keys")),
        access_key_file: Some(key_file),
        issuer: Some(ISSUER.into()),
        require_fingerprint: Some(false),
        ..ServeArgs::default()
    };
    let config = Config::resolve(&args).unwrap();
    let listeners = Listeners::bind(&config).await.unwrap();
    let addr = listeners.public.local_addr().unwrap();
    let app = App::build(config, Some(store)).await.unwrap();
    tokio::spawn(app.serve(listeners, std::future::pending()));
    addr
}

/// The real `licd` binary for fault tests: [`Daemon`] started under `prlimit` when the largest
/// file it may write is limited, so sled's writes fail with EFBIG past it.
pub struct Licd;

impl Licd {
    pub fn start(dir: &Path, max_file_bytes: Option<u64>) -> Daemon {
        // `trap '' XFSZ` in the shell: an ignored signal stays ignored across exec, so the
        // write fails with EFBIG instead of killing the process.
        let mut launcher: Vec<String> = ["sh", "-c", "trap '' XFSZ; exec \"$@\"", "sh"]
            .map(String::from)
            .to_vec();
        if let Some(limit) = max_file_bytes {
            launcher.extend(["prlimit".into(), format!("--fsize={limit}:"), "--".into()]);
        }
        Daemon::start_via(dir, &[], &launcher)
    }

    /// The daemon's database, opened directly (the daemon must be stopped).
    pub fn open_store(dir: &Path) -> SledStore {
        SledStore::open(&dir.join("data").join("db"), 1 << 20).unwrap()
    }
}

/// Sends a callback; `None` when the daemon did not answer (killed mid-request).
async fn try_send(req: reqwest::RequestBuilder) -> Option<Answer> {
    let resp = req.send().await.ok()?;
    let status = resp.status().as_u16();
    let body_sign = resp
        .headers()
        .get("Body-Sign")
        .map(|v| v.to_str().unwrap().to_string());
    let body = resp.bytes().await.ok()?.to_vec();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    Some(Answer {
        status,
        body,
        body_sign,
        json,
    })
}

/// A License 1.0 callback signed as protocol §3.2 (licd's signing side, as [`crate::common::v1`] uses),
/// timestamped `at`; `None` if the daemon did not answer.
pub async fn try_v1_at(
    c: &reqwest::Client,
    addr: SocketAddr,
    params: &[(&str, &str)],
    at: Timestamp,
) -> Option<Answer> {
    let query = licd::marketplace::sign_v1_query(&AccessKey::new(ACCESS_KEY), params, at);
    try_send(c.get(format!("http://{addr}{CALLBACK}?{query}"))).await
}

/// An online-activation callback signed as protocol §3.4 (licd's signing side, as [`crate::common::v2`]
/// uses), fresh nonce, now; `None` if the daemon did not answer.
pub async fn try_v2_at(
    c: &reqwest::Client,
    addr: SocketAddr,
    body: &serde_json::Value,
) -> Option<Answer> {
    let body = serde_json::to_vec(body).unwrap();
    let now_ms = Timestamp::now().unix() * 1000;
    let query = licd::marketplace::sign_v2_query(
        &AccessKey::new(ACCESS_KEY),
        &body,
        &licd::marketplace::random_nonce(),
        now_ms,
    );
    let req = c
        .post(format!("http://{addr}{CALLBACK}?{query}"))
        .header("Content-Type", "application/json;charset=utf8")
        .body(body);
    try_send(req).await
}
