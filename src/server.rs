//! `licd serve`: [`App::build`] makes the application from a [`Config`] (keys, secrets, store,
//! service, routers), [`App::serve`] runs it on [`Listeners`] the caller bound until shutdown,
//! then flushes the store. [`run`] binds the configured addresses and does both; a test binds
//! `127.0.0.1:0` and serves the real app in-process (over a store of its own if it likes).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use client_verifier::Timestamp;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use zeroize::Zeroizing;

use crate::config::{AccessKeySource, Config, SecretSource};
use crate::http::admin::{AdminState, AdminToken};
use crate::http::metrics::Metrics;
use crate::http::{self, AppState};
use crate::keys::KeyRing;
use crate::market_api::{ApiConfig, MarketplaceApi};
use crate::marketplace::AccessKey;
use crate::outbox::{RetryPolicy, Worker};
use crate::service::{Service, Settings};
use crate::store::{PgStore, SledStore, Store, StoreError};

/// A startup or serving failure, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Keys could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyRingError),
    /// The store could not be opened.
    #[error("{path}: {source}")]
    Store {
        /// The database directory.
        path: String,
        /// Why.
        source: crate::store::StoreError,
    },
    /// Files or sockets.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// Bad settings.
    #[error("{0}")]
    Config(String),
    /// The product catalog cannot be used.
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let what = what.into();
    move |source| ServeError::Io { what, source }
}

/// The two sockets licd serves on, bound by the caller (a test binds `127.0.0.1:0`).
#[derive(Debug)]
pub struct Listeners {
    /// Callbacks, client API, health, metrics.
    pub public: TcpListener,
    /// The admin API.
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds the addresses `config` names.
    pub async fn bind(config: &Config) -> Result<Listeners, ServeError> {
        let public = TcpListener::bind(config.listen)
            .await
            .map_err(io(format!("cannot listen on {}", config.listen)))?;
        let admin = TcpListener::bind(config.admin_listen)
            .await
            .map_err(io(format!(
                "cannot listen on {} (admin API)",
                config.admin_listen
            )))?;
        Ok(Listeners { public, admin })
    }
}

/// Runs the daemon on the addresses of `config` until `shutdown` resolves. The sockets are bound
/// before anything is written: a port in use leaves no data or key directory behind.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let listeners = Listeners::bind(&config).await?;
    run_on(config, listeners, shutdown).await
}

/// Runs the daemon on listeners the caller bound until `shutdown` resolves.
pub async fn run_on(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    App::build(config, None)
        .await?
        .serve(listeners, shutdown)
        .await
}

/// licd's application, built from a [`Config`]: the service over its store and keys, and the
/// public and admin routers. [`App::serve`] runs it on listeners the caller bound; a test builds
/// one over a store of its own (a fault-injecting one, say) and serves it in-process on port 0.
pub struct App {
    config: Config,
    store: Arc<dyn Store>,
    service: Arc<Service>,
    api: Option<MarketplaceApi>,
    public: axum::Router,
    admin: axum::Router,
    tls: Option<TlsAcceptor>,
    admin_tls: Option<TlsAcceptor>,
    kid: String,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Checks what can be checked without writing (TLS files, open-API settings), then opens the
    /// database (unless `store` is given), so a second licd on the same data directory stops
    /// before it generates or warns about anything; then keys, access key and admin token.
    pub async fn build(config: Config, store: Option<Arc<dyn Store>>) -> Result<App, ServeError> {
        // Everything created from here on (database files, generated secrets) is owner-only,
        // even under a data directory someone created 0755.
        crate::private_file::restrict_umask();
        let tls = match &config.tls {
            Some((cert, key)) => Some(tls_acceptor(cert, key)?),
            None => None,
        };
        let admin_tls = match &config.admin_tls {
            Some((cert, key)) => Some(tls_acceptor(cert, key)?),
            None => None,
        };
        let api = marketplace_api(&config)?;
        create_private_dir(&config.data_dir)?;
        let mut shared = None;
        let store: Arc<dyn Store> = match (store, &config.database_url) {
            (Some(s), _) => s,
            (None, Some(url)) => {
                let pg = Arc::new(
                    PgStore::open(url.expose(), config.database_migrate)
                        .await
                        .map_err(|source| ServeError::Store {
                            path: url.to_string(),
                            source,
                        })?,
                );
                shared = Some(pg.clone());
                pg
            }
            (None, None) => Arc::new(open_store(&config.data_dir.join("db"), config.cache_bytes)?),
        };
        let keys = KeyRing::open_or_generate(&config.keys_dir)?;
        if let (Some(pg), Some(url)) = (&shared, &config.database_url) {
            // Every node signs with the same ring, or a token one mints another refuses.
            let kids = keys.published_ids();
            pg.check_key_ring(keys.current().public_key().id().as_str(), &kids)
                .await
                .map_err(|source| ServeError::Store {
                    path: url.to_string(),
                    source,
                })?;
        }
        // The service gets its own copy, so a later rotation cannot change a key under a request.
        // (In rooted mode the ring refused to open unless that key's certificate is valid.)
        let signing = Arc::new(keys.current().clone());
        let access_key = Arc::new(load_access_key(&config)?);
        let token_path = config.data_dir.join("admin.token");
        let admin_token = Arc::new(
            AdminToken::load_or_generate(&token_path)
                .map_err(io(format!("admin token {}", token_path.display())))?,
        );
        let trusted = keys
            .public_keys()
            .into_iter()
            .filter_map(|k| client_verifier::PublicKey::from_paserk(&k.public_paserk).ok());
        let catalog = match &config.products {
            Some(path) => crate::catalog::Catalog::load(path)?,
            None => crate::catalog::Catalog::default(),
        };
        let webhooks = match &config.webhooks {
            Some(path) => crate::webhooks::WebhookConfig::load(path).map_err(ServeError::Config)?,
            None => crate::webhooks::WebhookConfig::default(),
        };
        let node = crate::webhooks::node_id(&config.data_dir)
            .map_err(io(format!("node id in {}", config.data_dir.display())))?;
        let service = Arc::new(
            Service::new(
                store.clone(),
                signing.clone(),
                Settings {
                    issuer: config.issuer.clone(),
                    freeze_days: config.freeze_days,
                    require_fingerprint: config.require_fingerprint,
                    min_fingerprint_components: config.min_fingerprint_components,
                },
            )
            .with_trusted(trusted)
            .with_certificate(rooted_certificate(&keys))
            .with_root_chain(keys.root_chain()?)
            .with_key_revocations(keys.key_revocations())
            .with_code_check_secs(config.code_check_secs)
            .with_catalog(catalog)
            .with_webhooks(webhooks, config.outbox_retry, node)
            .with_marketplace(api.clone()),
        );
        let metrics = Arc::new(Metrics::new());
        let state = AppState {
            service: service.clone(),
            access_key,
            metrics: metrics.clone(),
            v1_window_secs: config.v1_window_secs,
            trusted_proxies: config.trusted_proxies.clone().into(),
            refusals: Arc::new(crate::logsafe::RefusalLimiter::default()),
            v2_readings: config.v2_readings.clone().into(),
            portal: Arc::new(http::portal::Portal::new(
                service.portal_secret(),
                tls.is_some(),
            )),
        };
        let public = http::router(state, &config.callback_path, config.max_body_bytes);
        let admin = http::admin::router(AdminState {
            service: service.clone(),
            token: admin_token,
            failures: Arc::default(),
            console: Arc::new(
                http::admin::ConsoleSessions::new(admin_tls.is_some())
                    .with_policy(config.console_token_sign_in, config.console_require_totp),
            ),
            callback_hours: metrics.hours.clone(),
            daemon: Arc::new(http::admin::DaemonFacts {
                started: Timestamp::now(),
                readings_seen: metrics.readings_seen.clone(),
                v2_accepted: config.v2_readings.clone(),
                public_tls: tls.is_some(),
                admin_tls: admin_tls.is_some(),
                database: if config.database_url.is_some() {
                    "postgresql"
                } else {
                    "embedded"
                },
                marketplace_api: api.is_some(),
                callback_path: config.callback_path.clone(),
            }),
        });
        Ok(App {
            kid: signing.public_key().id().to_string(),
            config,
            store,
            service,
            api,
            public,
            admin,
            tls,
            admin_tls,
        })
    }

    /// Serves until `shutdown` resolves (or the store stops accepting writes), then stops
    /// accepting, lets requests finish and flushes the store.
    pub async fn serve(
        self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let App {
            config,
            store,
            service,
            api,
            public: router,
            admin: admin_router,
            tls,
            admin_tls,
            kid,
        } = self;
        let Listeners {
            public: listener,
            admin: admin_listener,
        } = listeners;
        let db_path = config.data_dir.join("db");
        // Before "listening": from then on a SIGHUP reloads the catalog instead of ending licd
        // (the default action of an unhandled SIGHUP).
        let hangups = hangup_signal();
        let addr = http::local_addr(&listener);
        let admin_addr = http::local_addr(&admin_listener);
        tracing::info!(
            addr = %addr.map(|a| a.to_string()).unwrap_or_default(),
            admin_addr = %admin_addr.map(|a| a.to_string()).unwrap_or_default(),
            tls = tls.is_some(),
            admin_tls = admin_tls.is_some(),
            callback_path = %config.callback_path,
            kid = %kid,
            data_dir = %config.data_dir.display(),
            database = %config.database_url.as_ref().map_or_else(|| "embedded".to_string(), ToString::to_string),
            marketplace_api = %config.marketplace.as_ref().map(|m| m.base_urls.join(",")).unwrap_or_else(|| "off".into()),
            "listening"
        );
        if let Some(a) = admin_addr {
            let scheme = if admin_tls.is_some() { "https" } else { "http" };
            tracing::info!(
                console = %format!("{scheme}://{a}/console/"),
                token_file = %config.data_dir.join("admin.token").display(),
                "the web console: sign in with the admin token in token_file (licctl reads it too)"
            );
        }
        if tls.is_none() {
            tracing::warn!(
                "serving plain HTTP: the marketplace requires HTTPS; use --tls-cert/--tls-key or a TLS proxy in front"
            );
        }
        if !config.admin_listen.ip().is_loopback() && admin_tls.is_none() {
            // Only with --admin-insecure-plaintext: the configuration refuses it otherwise.
            tracing::warn!(
                admin_addr = %config.admin_listen,
                "the admin API listens beyond loopback over plain HTTP (--admin-insecure-plaintext): its token crosses the network readable; keep it behind a firewall or an encrypting tunnel"
            );
        }
        let pruner = tokio::spawn(prune_nonces(store.clone()));
        let reloader = tokio::spawn(reload_on_sighup(service.clone(), hangups));
        // Events committed before a crash are in the log, after their endpoint's cursor: sent now.
        let senders = crate::webhooks::spawn(service.clone(), config.webhooks_low_priority)
            .map_err(io("starting the webhook senders"))?;
        let worker = tokio::spawn(
            Worker::new(
                service.clone(),
                api,
                service.outbox_wake(),
                RetryPolicy {
                    base: config.outbox_retry,
                    ..RetryPolicy::default()
                },
            )
            .run(),
        );
        // One shutdown for both listeners: the public one gets the signal, the admin one follows.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let admin = tokio::spawn(http::serve(
            admin_listener,
            admin_router,
            http::ServeOptions {
                tls: admin_tls,
                limits: config.limits,
                max_body_bytes: config.max_body_bytes,
            },
            async move {
                let mut stopped = stopped;
                let _ = stopped.wait_for(|s| *s).await;
            },
        ));
        // sled refuses every write after an I/O error (a full disk) until it is reopened: stop, so
        // that the service manager starts licd again and it heals once there is room.
        let broken = Arc::new(tokio::sync::Notify::new());
        let watchdog = tokio::spawn(watch_writable(store.clone(), broken.clone()));
        let options = http::ServeOptions {
            tls,
            limits: config.limits,
            max_body_bytes: config.max_body_bytes,
        };
        let served = http::serve(listener, router, options, async {
            tokio::select! {
                () = shutdown => {}
                () = broken.notified() => {}
            }
            stop.send_replace(true);
        })
        .await;
        watchdog.abort();
        stop.send_replace(true);
        match admin.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "admin API stopped with an error"),
            Err(e) => tracing::error!(error = %e, "admin API task failed"),
        }
        // An upload cut off here is retried after the restart: the job stays in the outbox until
        // the marketplace has acknowledged it.
        worker.abort();
        drop(senders);
        pruner.abort();
        reloader.abort();
        // Every answer was already flushed; this makes the last background writes durable too.
        let flushed = store.flush().await;
        if let Err(e) = store.writable() {
            tracing::error!(error = %e, "stopped: the store refuses writes; restarting licd reopens it");
            return Err(ServeError::Store {
                path: db_path.display().to_string(),
                source: e,
            });
        }
        if let Err(e) = flushed {
            tracing::error!(error = %e, "final flush failed");
            return Err(ServeError::Store {
                path: db_path.display().to_string(),
                source: e,
            });
        }
        tracing::info!("stopped");
        served.map_err(io("serving"))
    }
}

/// Opens the database, saying plainly when another licd holds it.
pub(crate) fn open_store(db_path: &Path, cache_bytes: u64) -> Result<SledStore, ServeError> {
    SledStore::open(db_path, cache_bytes).map_err(|source| match source {
        StoreError::InUse { .. } => ServeError::Config(in_use_message(db_path)),
        source => ServeError::Store {
            path: db_path.display().to_string(),
            source,
        },
    })
}

/// What to say when another process holds the database at `db_path`: who, and what to do.
pub(crate) fn in_use_message(db_path: &Path) -> String {
    let who = lock_holder(db_path).map_or_else(
        || "another licd".to_string(),
        |pid| format!("another licd (pid {pid})"),
    );
    format!(
        "{who} is using {}: one licd per data directory (stop it, or give this one its own --data-dir)",
        db_path.parent().unwrap_or(db_path).display()
    )
}

/// The process holding the database open, found through `/proc` (Linux, same user); `None`
/// where that cannot be read.
fn lock_holder(db_path: &Path) -> Option<u32> {
    let target = std::fs::canonicalize(db_path).ok()?;
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|link| link.starts_with(&target))
        {
            return Some(pid);
        }
    }
    None
}

/// The open-API client, when an AK and SK are configured.
pub(crate) fn marketplace_api(config: &Config) -> Result<Option<MarketplaceApi>, ServeError> {
    let Some(m) = &config.marketplace else {
        return Ok(None);
    };
    let sk = match &m.sk {
        SecretSource::Env => {
            Zeroizing::new(std::env::var("LICD_MARKETPLACE_SK").unwrap_or_default())
        }
        SecretSource::File(path) => {
            check_private(path, "the marketplace secret key file")?;
            Zeroizing::new(std::fs::read_to_string(path).map_err(io(format!(
                "cannot read the marketplace secret key file {}",
                path.display()
            )))?)
        }
    };
    let sk = Zeroizing::new(sk.trim().to_string());
    for url in m.base_urls.iter().filter(|u| u.starts_with("http://")) {
        tracing::warn!(
            url = %url,
            "the marketplace open API is configured over plain HTTP: device licenses would travel unencrypted; use https outside tests"
        );
    }
    let api = MarketplaceApi::new(ApiConfig {
        base_urls: m.base_urls.clone(),
        ..ApiConfig::new(m.ak.clone(), sk)
    })
    .map_err(|e| ServeError::Config(format!("marketplace open API: {e}")))?;
    Ok(Some(api))
}

/// Refuses a secret file its group or other users can read ([`crate::private_file`]).
fn check_private(path: &Path, what: &str) -> Result<(), ServeError> {
    crate::private_file::check_private(path, what).map_err(ServeError::Config)
}

/// Wakes `broken` once the store stops accepting writes.
async fn watch_writable(store: Arc<dyn Store>, broken: Arc<tokio::sync::Notify>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        if let Err(e) = store.writable() {
            tracing::error!(error = %e, "the store refuses writes after an I/O error: stopping so that the service manager restarts licd");
            broken.notify_one();
            return;
        }
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
/// No SIGHUP off Unix: the catalog reloads through `licctl products reload` only.
#[cfg(not(unix))]
type Hangups = Option<std::convert::Infallible>;

/// The SIGHUP stream, registered now.
fn hangup_signal() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let hup = signal(SignalKind::hangup()).ok();
        if hup.is_none() {
            tracing::warn!(
                "cannot listen for SIGHUP: reload the catalog with `licctl products reload`"
            );
        }
        hup
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Reloads the product catalog on SIGHUP; a catalog that does not load leaves the one in use.
async fn reload_on_sighup(service: Arc<Service>, hangups: Hangups) {
    #[cfg(unix)]
    if let Some(mut hup) = hangups {
        while hup.recv().await.is_some() {
            // The outcomes are logged by the service and the hub.
            let _ = service.reload_catalog();
            if service.webhooks().config().source.is_some() {
                let _ = service.webhooks().reload();
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (service, hangups);
}

/// Forgets V2 nonces once they are older than the replay window.
async fn prune_nonces(store: Arc<dyn Store>) {
    let started_wall = Timestamp::now();
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let now = prune_horizon(started_wall, started.elapsed(), Timestamp::now());
        match store.prune_nonces(now).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "pruned expired nonces"),
            Err(e) => tracing::warn!(error = %e, "pruning nonces failed"),
        }
    }
}

/// The time up to which nonces may be forgotten: the wall clock, but never later than the
/// start time plus the monotonic time since. A wall clock stepped forward (and later back)
/// must not make licd forget nonces whose requests are still inside their replay window once
/// the clock is right again; stepped back, the wall clock is the earlier one and prunes less.
fn prune_horizon(started_wall: Timestamp, since: Duration, wall_now: Timestamp) -> Timestamp {
    let monotonic = started_wall.add_secs(i64::try_from(since.as_secs()).unwrap_or(i64::MAX));
    wall_now.min(monotonic)
}

/// The data directory, created owner-only: it holds the database and generated secrets.
fn create_private_dir(dir: &Path) -> Result<(), ServeError> {
    if dir.exists() {
        let meta = std::fs::metadata(dir).map_err(io(format!("cannot read {}", dir.display())))?;
        if let Some(mode) = crate::private_file::open_mode(&meta, 0o077) {
            // Its secrets are 0600 files, so this is a warning, not a refusal.
            tracing::warn!(
                data_dir = %dir.display(),
                mode = %format!("{:03o}", mode & 0o777),
                "other users can list the data directory; run `chmod 700` on it"
            );
        }
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io(format!("cannot restrict {}", dir.display())))?;
    }
    Ok(())
}

fn load_access_key(config: &Config) -> Result<AccessKey, ServeError> {
    let text = match &config.access_key {
        AccessKeySource::Env => std::env::var("LICD_ACCESS_KEY").unwrap_or_default(),
        AccessKeySource::File(path) => {
            check_private(path, "the access key file")?;
            std::fs::read_to_string(path).map_err(io(format!(
                "cannot read the access key file {}",
                path.display()
            )))?
        }
        AccessKeySource::Generated(path) => {
            if !path.exists() {
                let bytes = crate::crypto::random_bytes::<18>()
                    .map_err(|e| ServeError::Config(format!("an access key: {e}")))?;
                let key = crate::crypto::hex(&bytes);
                crate::private_file::write_private(path, key.as_bytes())
                    .map_err(io(format!("cannot create {}", path.display())))?;
            }
            tracing::warn!(
                file = %path.display(),
                "no access key configured: using a generated one; production must use the key from the Seller Console (--access-key-file or LICD_ACCESS_KEY)"
            );
            std::fs::read_to_string(path).map_err(io(format!(
                "cannot read the access key file {}",
                path.display()
            )))?
        }
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(ServeError::Config(
            "the access key is empty: put the Seller Console's key in --access-key-file or LICD_ACCESS_KEY".into(),
        ));
    }
    if config.access_key_base64 {
        AccessKey::from_eu_console(text).map_err(|e| ServeError::Config(format!("access key: {e}")))
    } else {
        Ok(AccessKey::new(text))
    }
}

pub(crate) fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServeError> {
    // PEM through rustls' own types (rustls-pemfile, which did this before, is unmaintained).
    use tokio_rustls::rustls::pki_types::PrivateKeyDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let certs = crate::pem::certificates(cert)
        .map_err(|e| ServeError::Config(format!("TLS certificate: {e}")))?;
    check_private(key, "the TLS private key")?;
    let pem = std::fs::read(key).map_err(io(format!("cannot read TLS key {}", key.display())))?;
    let key_der = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        ServeError::Config(format!("{}: no private key in it ({e})", key.display()))
    })?;
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| ServeError::Config(format!("TLS certificate and key: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The signing key's certificate when the ring trusts a root (tokens then carry it), with a
/// line for the operator saying what it allows.
fn rooted_certificate(keys: &KeyRing) -> Option<Arc<client_verifier::Certificate>> {
    let root = keys.root()?;
    let cert = keys.current_certificate()?;
    let g = cert.grant();
    tracing::info!(
        root_version = root.version(),
        valid_until = %g.not_after,
        tokens_expire_by = %g.max_exp,
        purposes = %g.purposes,
        "rooted mode: tokens carry the signing key's certificate"
    );
    if !g
        .purposes
        .contains(client_verifier::Purpose::RevocationLists)
    {
        tracing::warn!(
            "the signing key's certificate does not grant revocation lists: applications that trust only the root will refuse this node's lists; certify it with --purposes including revocation-lists"
        );
    }
    if g.max_exp < crate::license::PERPETUAL {
        tracing::warn!(
            tokens_expire_by = %g.max_exp,
            "a purchase without an expireTime (one-time goods) has no end date and cannot be minted under this certificate: its getLicense would be refused (000002). If you sell such goods, certify a key for those products with --max-exp 9999-01-01 (licctl root certify --products …); licd doctor checks the licenses you hold"
        );
    }
    Some(cert)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_pruning_never_runs_ahead_of_the_monotonic_clock() {
        let start = Timestamp::parse_rfc3339("2026-11-23T12:00:00Z").unwrap();
        let ten_min = Duration::from_secs(600);
        // The clock as it should be: the wall clock.
        assert_eq!(
            prune_horizon(start, ten_min, start.add_secs(600)),
            start.add_secs(600)
        );
        // Stepped an hour forward: only the ten minutes that really passed count.
        assert_eq!(
            prune_horizon(start, ten_min, start.add_secs(4200)),
            start.add_secs(600)
        );
        // Stepped back: the wall clock is earlier, and prunes less.
        assert_eq!(
            prune_horizon(start, ten_min, start.add_secs(-3600)),
            start.add_secs(-3600)
        );
    }
}
