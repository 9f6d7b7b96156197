//! `licd serve` settings: flags, `LICD_*` environment variables, an optional TOML file, and
//! defaults that run with nothing configured. Precedence: flag > environment > file > default.
//!
//! clap resolves flag and environment; what both leave unset is taken from the file's `[serve]`
//! table, then from the defaults. Secrets (the access key) are read from files or the
//! environment, never accepted as a flag value, so they stay out of `ps` output.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

use crate::net::Cidr;

/// Flags of `licd serve`. Each also reads `LICD_<NAME>` from the environment.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML file with a `[serve]` table of the settings below (snake_case names).
    #[arg(long, env = "LICD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address for marketplace callbacks and the client API [default: 127.0.0.1:8080]
    #[arg(long, env = "LICD_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Address for the admin API; keep it on loopback [default: 127.0.0.1:8081]
    #[arg(long, env = "LICD_ADMIN_LISTEN", value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// Database directory [default: ./data]
    #[arg(long, env = "LICD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL shared by several licd (postgres://USER:PASSWORD@HOST:PORT/DB) instead of the
    /// embedded database in the data directory. Apply the schema first with `licd migrate --to URL`
    /// (or --database-migrate). For TLS, checked against your CA: add
    /// ?sslmode=verify-full&sslrootcert=CA.pem. See docs/operations.md, "Several nodes" [default:
    /// embedded]
    #[arg(long, env = "LICD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<DatabaseUrl>,
    /// With --database-url: apply the schema migrations this licd needs at start (safe on
    /// several nodes at once)
    #[arg(long, env = "LICD_DATABASE_MIGRATE")]
    pub database_migrate: bool,
    /// Signing-key directory; a key is generated on first start [default: ./keys]
    #[arg(long, env = "LICD_KEYS_DIR", value_name = "DIR")]
    pub keys_dir: Option<PathBuf>,
    /// File holding the marketplace access key (Seller Console > 应用工具 > 密钥管理).
    /// LICD_ACCESS_KEY may hold the key itself instead. With neither, a key is generated into
    /// the data directory (for trying licd out, never for production).
    #[arg(long, env = "LICD_ACCESS_KEY_FILE", value_name = "FILE")]
    pub access_key_file: Option<PathBuf>,
    /// The access key as shown by the EU Seller Console, which displays it Base64-encoded.
    #[arg(long, env = "LICD_ACCESS_KEY_BASE64")]
    pub access_key_base64: bool,
    /// Path of the production address the marketplace calls [default: /marketplace/callback]
    #[arg(long, env = "LICD_CALLBACK_PATH", value_name = "PATH")]
    pub callback_path: Option<String>,
    /// Issuer name in every token (`iss`) [default: licd]
    #[arg(long, env = "LICD_ISSUER", value_name = "NAME")]
    pub issuer: Option<String>,
    /// Days a license stays frozen (locked, data kept) after it expires [default: 15]
    #[arg(long, env = "LICD_FREEZE_DAYS", value_name = "N")]
    pub freeze_days: Option<u32>,
    /// PEM certificate chain: serve HTTPS directly (the marketplace requires HTTPS).
    #[arg(long, env = "LICD_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "LICD_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Accept License 1.0 callbacks only if their timeStamp is within this many seconds of now;
    /// 0 turns the check off [default: 86400]
    #[arg(long, env = "LICD_V1_WINDOW_SECS", value_name = "SECS")]
    pub v1_window_secs: Option<i64>,
    /// Refuse getLicenseAsync without a deviceFingerprint (000903) [default: true]
    #[arg(long, env = "LICD_REQUIRE_FINGERPRINT", value_name = "BOOL")]
    pub require_fingerprint: Option<bool>,
    /// Whether the shared admin token (data/admin.token) signs in to the web console; turn
    /// it off once every person has an account (licctl users add). The admin API keeps
    /// accepting it [default: true]
    #[arg(long, env = "LICD_CONSOLE_TOKEN_SIGN_IN", value_name = "BOOL")]
    pub console_token_sign_in: Option<bool>,
    /// Whether every console account must use a TOTP second factor: an account without one
    /// sees only its account page until it turns it on [default: false]
    #[arg(long, env = "LICD_CONSOLE_REQUIRE_TOTP", value_name = "BOOL")]
    pub console_require_totp: Option<bool>,
    /// Page cache of the embedded database, in MiB [default: 32]
    #[arg(long, env = "LICD_CACHE_MB", value_name = "MIB")]
    pub cache_mb: Option<u64>,
    /// Largest callback body accepted, in bytes; larger ones get 413 [default: 65536]
    #[arg(long, env = "LICD_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Marketplace open-API base URL(s), comma-separated, tried in order
    /// [default: host mkt.myhuaweicloud.com, then mkt.myhuaweicloud.cn, over https]
    #[arg(long, env = "LICD_MARKETPLACE_API", value_name = "URL")]
    pub marketplace_api: Option<String>,
    /// IAM access key id (AK) for the marketplace open API (query order, upload device
    /// licenses). Without it, device licenses wait in the outbox until it is configured.
    #[arg(long, env = "LICD_MARKETPLACE_AK", value_name = "AK")]
    pub marketplace_ak: Option<String>,
    /// File holding the IAM secret access key (SK) that goes with --marketplace-ak.
    /// LICD_MARKETPLACE_SK may hold the key itself instead.
    #[arg(long, env = "LICD_MARKETPLACE_SK_FILE", value_name = "FILE")]
    pub marketplace_sk_file: Option<PathBuf>,
    /// Seconds before the first retry of a failed marketplace call (upload, order query) or
    /// webhook delivery; doubles per attempt up to 15 minutes (marketplace calls: 30 attempts;
    /// webhooks: until delivered, moved or skipped) [default: 5]
    #[arg(long, env = "LICD_OUTBOX_RETRY_SECS", value_name = "SECS")]
    pub outbox_retry_secs: Option<u64>,
    /// Non-empty components (of MAC|disk|mainboard|CPU) a fingerprint needs before
    /// /v1/activate binds a license to it; one of them must be the disk or mainboard serial.
    /// 0 also admits opaque fingerprints [default: 3]
    #[arg(long, env = "LICD_MIN_FINGERPRINT_COMPONENTS", value_name = "N")]
    pub min_fingerprint_components: Option<u8>,
    /// The product catalog (TOML): entitlements, editions, seats, binding and check-in per
    /// product and SKU; see packaging/products.toml. Reloaded on SIGHUP [default: none]
    #[arg(long, env = "LICD_PRODUCTS", value_name = "FILE")]
    pub products: Option<PathBuf>,
    /// Webhook endpoints (TOML, `[[webhook]]` with name, url, secret_file, events): each event
    /// is POSTed to them, signed; see docs/events.md. Reloaded on SIGHUP [default: none]
    #[arg(long, env = "LICD_WEBHOOKS", value_name = "FILE")]
    pub webhooks: Option<PathBuf>,
    /// The webhook senders' scheduling priority: `low` (nice +19: when licd is saturated the
    /// callbacks and the client API get the processors, and deliveries catch up after) or
    /// `normal` (deliveries keep pace, callbacks slow down) [default: low]
    #[arg(long, env = "LICD_WEBHOOKS_PRIORITY", value_name = "low|normal")]
    pub webhooks_priority: Option<String>,
    /// Seconds between two checks of a License 2.0 code with the marketplace, made when a
    /// device refreshes (the marketplace asks for one a day; shorter only to test) [default: 86400]
    #[arg(long, env = "LICD_CODE_CHECK_SECS", value_name = "SECS")]
    pub code_check_secs: Option<i64>,
    /// A reverse proxy whose X-Forwarded-For is believed (address or CIDR range; repeat the flag,
    /// or comma-separate in LICD_TRUSTED_PROXY). Without one, the logged client is the peer.
    #[arg(
        long,
        env = "LICD_TRUSTED_PROXY",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub trusted_proxy: Vec<Cidr>,
    /// The reading of the V2 callback signature to accept: license2, saas, kit, or any. The
    /// marketplace's documents publish three (docs/marketplace-protocol.md §3.4); by default all
    /// are accepted and the one that matched is logged once and counted
    /// (licd_v2_signature_readings_total). Once the logs show which one the marketplace uses,
    /// pin it: the others are then refused [default: any]
    #[arg(long, env = "LICD_V2_SIGNATURE", value_name = "READING")]
    pub v2_signature: Option<String>,
    /// Open connections per listener; past it, the oldest connection that is not running a
    /// request is closed to make room [default: 512]
    #[arg(long, env = "LICD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Seconds a client may take to send a request's headers [default: 10]
    #[arg(long, env = "LICD_HEADER_TIMEOUT_SECS", value_name = "SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Seconds a client may take to send a request's body [default: 10]
    #[arg(long, env = "LICD_BODY_TIMEOUT_SECS", value_name = "SECS")]
    pub body_timeout_secs: Option<u64>,
    /// Seconds a kept-alive connection may sit without a request before it is closed
    /// [default: 30]
    #[arg(long, env = "LICD_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// PEM certificate chain for the admin listener: required when --admin-listen is not a
    /// loopback address (or --admin-insecure-plaintext).
    #[arg(
        long,
        env = "LICD_ADMIN_TLS_CERT",
        value_name = "FILE",
        requires = "admin_tls_key"
    )]
    pub admin_tls_cert: Option<PathBuf>,
    /// PEM private key for --admin-tls-cert (mode 0600).
    #[arg(
        long,
        env = "LICD_ADMIN_TLS_KEY",
        value_name = "FILE",
        requires = "admin_tls_cert"
    )]
    pub admin_tls_key: Option<PathBuf>,
    /// Serve the admin API off loopback over plain HTTP anyway: its bearer token then crosses
    /// the network readable. Only behind a firewall or a tunnel that encrypts.
    #[arg(long, env = "LICD_ADMIN_INSECURE_PLAINTEXT")]
    pub admin_insecure_plaintext: bool,
}

/// A PostgreSQL URL. It may carry a password: `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL, password included, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl DatabaseUrl {
    /// Whether licd can use the URL (without reading any file or touching the network); the
    /// error names it with its password redacted.
    pub fn check(&self) -> Result<(), String> {
        crate::store::pg::check_url(&self.0).map_err(|e| e.to_string())
    }
}

/// Taking a URL never fails: it is checked afterwards ([`DatabaseUrl::check`]), because the
/// parsers that would report a failure quote the value they refused (clap's "invalid value
/// '…'", a TOML error's source line), password and all.
impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl(s.to_string()))
    }
}

impl From<String> for DatabaseUrl {
    fn from(s: String) -> Self {
        DatabaseUrl(s)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::store::pg::redacted_url(&self.0))
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::store::pg::redacted_url(&self.0))
    }
}

/// The `[serve]` table of the TOML file: the same settings, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServe {
    listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<DatabaseUrl>,
    database_migrate: Option<bool>,
    keys_dir: Option<PathBuf>,
    access_key_file: Option<PathBuf>,
    access_key_base64: Option<bool>,
    callback_path: Option<String>,
    issuer: Option<String>,
    freeze_days: Option<u32>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    v1_window_secs: Option<i64>,
    require_fingerprint: Option<bool>,
    console_token_sign_in: Option<bool>,
    console_require_totp: Option<bool>,
    cache_mb: Option<u64>,
    max_body_bytes: Option<usize>,
    marketplace_api: Option<String>,
    marketplace_ak: Option<String>,
    marketplace_sk_file: Option<PathBuf>,
    outbox_retry_secs: Option<u64>,
    min_fingerprint_components: Option<u8>,
    code_check_secs: Option<i64>,
    products: Option<PathBuf>,
    webhooks: Option<PathBuf>,
    webhooks_priority: Option<String>,
    trusted_proxy: Option<Vec<String>>,
    v2_signature: Option<String>,
    max_connections: Option<usize>,
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    admin_tls_cert: Option<PathBuf>,
    admin_tls_key: Option<PathBuf>,
    admin_insecure_plaintext: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    serve: FileServe,
}

/// Where the access key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessKeySource {
    /// `LICD_ACCESS_KEY` (the key itself; not shown in Debug).
    Env,
    /// A file.
    File(PathBuf),
    /// Nothing configured: generated into (or reused from) the data directory.
    Generated(PathBuf),
}

/// Where the marketplace open API's secret key (SK) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `LICD_MARKETPLACE_SK` (the key itself; not shown in Debug).
    Env,
    /// A file.
    File(PathBuf),
}

/// The marketplace open API: where and as whom licd calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketplaceApiConfig {
    /// Base URLs, tried in order.
    pub base_urls: Vec<String>,
    /// Access key id (AK).
    pub ak: String,
    /// Where the secret key (SK) is.
    pub sk: SecretSource,
}

/// Resolved settings of `licd serve`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Callback and client API address.
    pub listen: SocketAddr,
    /// Admin API address.
    pub admin_listen: SocketAddr,
    /// Database directory (the embedded database, generated secrets).
    pub data_dir: PathBuf,
    /// PostgreSQL instead of the embedded database.
    pub database_url: Option<DatabaseUrl>,
    /// Apply schema migrations at start.
    pub database_migrate: bool,
    /// Signing-key directory.
    pub keys_dir: PathBuf,
    /// Where the access key comes from.
    pub access_key: AccessKeySource,
    /// Whether the configured key is the EU console's Base64 form.
    pub access_key_base64: bool,
    /// Production address path.
    pub callback_path: String,
    /// `iss`.
    pub issuer: String,
    /// Freeze window in days.
    pub freeze_days: u32,
    /// Certificate and key for built-in TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// V1 timestamp window; none = unchecked.
    pub v1_window_secs: Option<i64>,
    /// Refuse device licenses without a fingerprint.
    pub require_fingerprint: bool,
    /// The shared admin token signs in to the console.
    pub console_token_sign_in: bool,
    /// Console accounts must have a second factor.
    pub console_require_totp: bool,
    /// Database page cache in bytes.
    pub cache_bytes: u64,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// The marketplace open API, when an AK and SK are configured.
    pub marketplace: Option<MarketplaceApiConfig>,
    /// Delay before the first retry of an outbox job.
    pub outbox_retry: std::time::Duration,
    /// Fingerprint components a public-API binding needs.
    pub min_fingerprint_components: u8,
    /// Seconds between two marketplace checks of a License 2.0 code.
    pub code_check_secs: i64,
    /// The product catalog file, if any.
    pub products: Option<PathBuf>,
    /// The webhooks file, if any.
    pub webhooks: Option<PathBuf>,
    /// Whether the webhook senders run below the callbacks' priority.
    pub webhooks_low_priority: bool,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// The V2 signature readings accepted (all unless one is pinned).
    pub v2_readings: Vec<crate::marketplace::V2Reading>,
    /// Connection cap and timeouts of both listeners.
    pub limits: ConnLimits,
    /// Certificate and key of the admin listener.
    pub admin_tls: Option<(PathBuf, PathBuf)>,
}

/// What one client connection may hold: bounds that keep slow or idle clients from exhausting
/// file descriptors, memory or the marketplace's 5 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Open connections per listener.
    pub max_connections: usize,
    /// Time to send the request headers.
    pub header_timeout: std::time::Duration,
    /// Time to send the request body.
    pub body_timeout: std::time::Duration,
    /// Time a kept-alive connection may wait for its next request.
    pub idle_timeout: std::time::Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 512,
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// A configuration problem, named so the operator can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML file is not valid.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        message: String,
    },
    /// A value out of range.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Resolves flags and environment (already in `args`) over the file over the defaults.
    pub fn resolve(args: &ServeArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => File::default(),
        };
        let f = file.serve;
        let database_url = args.database_url.clone().or(f.database_url);
        if let Some(url) = &database_url {
            url.check().map_err(ConfigError::Invalid)?;
        }
        let data_dir = args
            .data_dir
            .clone()
            .or(f.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let access_key =
            if std::env::var_os("LICD_ACCESS_KEY").is_some() && args.access_key_file.is_none() {
                AccessKeySource::Env
            } else if let Some(p) = args.access_key_file.clone().or(f.access_key_file) {
                AccessKeySource::File(p)
            } else {
                AccessKeySource::Generated(data_dir.join("access.key"))
            };
        let callback_path = args
            .callback_path
            .clone()
            .or(f.callback_path)
            .unwrap_or_else(|| "/marketplace/callback".into());
        if !callback_path.starts_with('/') || callback_path.contains(['?', '#', ' ']) {
            return Err(ConfigError::Invalid(format!(
                "callback path {callback_path:?} must start with / and hold no '?', '#' or spaces"
            )));
        }
        let tls = match (
            args.tls_cert.clone().or(f.tls_cert),
            args.tls_key.clone().or(f.tls_key),
        ) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "tls_cert and tls_key go together: set both or neither".into(),
                ));
            }
        };
        let freeze_days = args.freeze_days.or(f.freeze_days).unwrap_or(15);
        if freeze_days > 3650 {
            return Err(ConfigError::Invalid(format!(
                "freeze_days {freeze_days} is more than ten years; the marketplace's window is 15 days"
            )));
        }
        let window = args.v1_window_secs.or(f.v1_window_secs).unwrap_or(86_400);
        let min_fingerprint_components = args
            .min_fingerprint_components
            .or(f.min_fingerprint_components)
            .unwrap_or(3);
        if min_fingerprint_components > 4 {
            return Err(ConfigError::Invalid(format!(
                "min_fingerprint_components {min_fingerprint_components}: a fingerprint has 4 components"
            )));
        }
        let v2_readings = match args.v2_signature.clone().or(f.v2_signature).as_deref() {
            None | Some("any") => crate::marketplace::V2Reading::ALL.to_vec(),
            Some(name) => vec![crate::marketplace::V2Reading::parse(name).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "v2_signature {name:?}: expected license2, saas, kit or any"
                ))
            })?],
        };
        let webhooks_low_priority = match args
            .webhooks_priority
            .clone()
            .or(f.webhooks_priority)
            .as_deref()
        {
            None | Some("low") => true,
            Some("normal") => false,
            Some(other) => {
                return Err(ConfigError::Invalid(format!(
                    "webhooks_priority {other:?}: expected low or normal"
                )));
            }
        };
        let trusted_proxies = if args.trusted_proxy.is_empty() {
            f.trusted_proxy
                .unwrap_or_default()
                .iter()
                .map(|c| {
                    c.parse::<Cidr>()
                        .map_err(|e| ConfigError::Invalid(format!("trusted_proxy {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            args.trusted_proxy.clone()
        };
        let secs =
            |flag: Option<u64>, file: Option<u64>, default: std::time::Duration, name: &str| {
                match flag.or(file) {
                    None => Ok(default),
                    Some(0) => Err(ConfigError::Invalid(format!(
                        "{name} must be at least 1 second"
                    ))),
                    Some(n) => Ok(std::time::Duration::from_secs(n)),
                }
            };
        let d = ConnLimits::default();
        let limits = ConnLimits {
            max_connections: args
                .max_connections
                .or(f.max_connections)
                .unwrap_or(d.max_connections)
                .max(1),
            header_timeout: secs(
                args.header_timeout_secs,
                f.header_timeout_secs,
                d.header_timeout,
                "header_timeout_secs",
            )?,
            body_timeout: secs(
                args.body_timeout_secs,
                f.body_timeout_secs,
                d.body_timeout,
                "body_timeout_secs",
            )?,
            idle_timeout: secs(
                args.idle_timeout_secs,
                f.idle_timeout_secs,
                d.idle_timeout,
                "idle_timeout_secs",
            )?,
        };
        let admin_tls = match (
            args.admin_tls_cert.clone().or(f.admin_tls_cert),
            args.admin_tls_key.clone().or(f.admin_tls_key),
        ) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "admin_tls_cert and admin_tls_key go together: set both or neither".into(),
                ));
            }
        };
        let admin_listen = args
            .admin_listen
            .or(f.admin_listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8081)));
        let insecure = args.admin_insecure_plaintext || f.admin_insecure_plaintext.unwrap_or(false);
        if !admin_listen.ip().is_loopback() && admin_tls.is_none() && !insecure {
            return Err(ConfigError::Invalid(format!(
                "the admin API would listen on {admin_listen}, off loopback, in plain HTTP: its bearer token would cross the network readable; give admin_tls_cert and admin_tls_key (--admin-tls-cert/--admin-tls-key), keep it on 127.0.0.1 and use an SSH tunnel, or accept the risk with --admin-insecure-plaintext"
            )));
        }
        let marketplace = resolve_marketplace(
            args.marketplace_api.clone().or(f.marketplace_api),
            args.marketplace_ak.clone().or(f.marketplace_ak),
            args.marketplace_sk_file.clone().or(f.marketplace_sk_file),
        )?;
        Ok(Config {
            listen: args
                .listen
                .or(f.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            admin_listen,
            keys_dir: args
                .keys_dir
                .clone()
                .or(f.keys_dir)
                .unwrap_or_else(|| PathBuf::from("./keys")),
            database_migrate: args.database_migrate || f.database_migrate.unwrap_or(false),
            database_url,
            data_dir,
            access_key,
            access_key_base64: args.access_key_base64 || f.access_key_base64.unwrap_or(false),
            callback_path,
            issuer: args
                .issuer
                .clone()
                .or(f.issuer)
                .unwrap_or_else(|| "licd".into()),
            freeze_days,
            tls,
            v1_window_secs: (window > 0).then_some(window),
            require_fingerprint: args
                .require_fingerprint
                .or(f.require_fingerprint)
                .unwrap_or(true),
            console_token_sign_in: args
                .console_token_sign_in
                .or(f.console_token_sign_in)
                .unwrap_or(true),
            console_require_totp: args
                .console_require_totp
                .or(f.console_require_totp)
                .unwrap_or(false),
            cache_bytes: args.cache_mb.or(f.cache_mb).unwrap_or(32).max(1) * 1024 * 1024,
            max_body_bytes: args
                .max_body_bytes
                .or(f.max_body_bytes)
                .unwrap_or(64 * 1024),
            marketplace,
            outbox_retry: std::time::Duration::from_secs(
                args.outbox_retry_secs
                    .or(f.outbox_retry_secs)
                    .unwrap_or(5)
                    .clamp(1, 900),
            ),
            min_fingerprint_components,
            products: args.products.clone().or(f.products),
            webhooks: args.webhooks.clone().or(f.webhooks),
            webhooks_low_priority,
            code_check_secs: args
                .code_check_secs
                .or(f.code_check_secs)
                .unwrap_or(client_verifier::DAY)
                .clamp(1, 7 * client_verifier::DAY),
            trusted_proxies,
            v2_readings,
            limits,
            admin_tls,
        })
    }
}

/// AK and SK go together; the base URLs default to the documented host and its fallback.
fn resolve_marketplace(
    api: Option<String>,
    ak: Option<String>,
    sk_file: Option<PathBuf>,
) -> Result<Option<MarketplaceApiConfig>, ConfigError> {
    let sk = match sk_file {
        Some(p) => Some(SecretSource::File(p)),
        None => std::env::var_os("LICD_MARKETPLACE_SK").map(|_| SecretSource::Env),
    };
    let ak = ak.map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
    let (ak, sk) = match (ak, sk) {
        (Some(ak), Some(sk)) => (ak, sk),
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(ConfigError::Invalid(
                "marketplace_ak is set but no secret key: set marketplace_sk_file or LICD_MARKETPLACE_SK".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::Invalid(
                "a marketplace secret key is set but no marketplace_ak (the IAM access key id that goes with it)".into(),
            ));
        }
    };
    let base_urls: Vec<String> = match api {
        Some(list) => list
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect(),
        None => crate::market_api::DEFAULT_BASE_URLS
            .iter()
            .map(|u| u.to_string())
            .collect(),
    };
    if let Some(bad) = base_urls
        .iter()
        .find(|u| !(u.starts_with("https://") || u.starts_with("http://")) || u.contains('?'))
    {
        return Err(ConfigError::Invalid(format!(
            "marketplace_api {bad:?}: expected an http(s) base URL without a query, e.g. https://mkt.myhuaweicloud.com"
        )));
    }
    if base_urls.is_empty() {
        return Err(ConfigError::Invalid(
            "marketplace_api is empty: give one or more base URLs, comma-separated".into(),
        ));
    }
    Ok(Some(MarketplaceApiConfig { base_urls, ak, sk }))
}

/// The `[serve] keys_dir` of the TOML file at `path`, for `licd keys --config`.
pub fn keys_dir_in_file(path: &Path) -> Result<Option<PathBuf>, ConfigError> {
    Ok(read_file(path)?.serve.keys_dir)
}

fn read_file(path: &Path) -> Result<File, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_with_nothing_configured() {
        let c = Config::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.admin_listen.to_string(), "127.0.0.1:8081");
        assert_eq!(c.callback_path, "/marketplace/callback");
        assert_eq!(c.freeze_days, 15);
        assert_eq!(c.v1_window_secs, Some(86_400));
        assert!(c.tls.is_none());
    }

    #[test]
    fn flag_beats_file_and_file_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("licd.toml");
        std::fs::write(
            &path,
            "[serve]\nlisten = \"127.0.0.1:9000\"\nfreeze_days = 7\nissuer = \"from-file\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            issuer: Some("from-flag".into()),
            ..ServeArgs::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.issuer, "from-flag");
        assert_eq!(c.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(c.freeze_days, 7);
    }

    #[test]
    fn unknown_file_setting_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("licd.toml");
        std::fs::write(&path, "[serve]\nlisten_addr = \"x\"\n").unwrap();
        let err = Config::resolve(&ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("licd.toml") && err.contains("listen_addr"),
            "{err}"
        );
    }

    #[test]
    fn marketplace_api_needs_ak_and_sk_together() {
        let dir = tempfile::tempdir().unwrap();
        let sk = dir.path().join("sk");
        let only_ak = ServeArgs {
            marketplace_ak: Some("AK1".into()),
            ..ServeArgs::default()
        };
        let err = Config::resolve(&only_ak).unwrap_err().to_string();
        assert!(err.contains("marketplace_sk_file"), "{err}");
        let only_sk = ServeArgs {
            marketplace_sk_file: Some(sk.clone()),
            ..ServeArgs::default()
        };
        assert!(Config::resolve(&only_sk).is_err());
        let both = ServeArgs {
            marketplace_ak: Some("AK1".into()),
            marketplace_sk_file: Some(sk.clone()),
            marketplace_api: Some("http://127.0.0.1:9/, https://b.example".into()),
            ..ServeArgs::default()
        };
        let m = Config::resolve(&both).unwrap().marketplace.unwrap();
        assert_eq!(m.base_urls, ["http://127.0.0.1:9", "https://b.example"]);
        assert_eq!(m.sk, SecretSource::File(sk));
        let default_hosts = ServeArgs {
            marketplace_api: None,
            ..both
        };
        let m = Config::resolve(&default_hosts)
            .unwrap()
            .marketplace
            .unwrap();
        assert_eq!(m.base_urls[0], "https://mkt.myhuaweicloud.com");
        assert!(
            Config::resolve(&ServeArgs::default())
                .unwrap()
                .marketplace
                .is_none()
        );
    }

    #[test]
    fn admin_listener_off_loopback_needs_tls_or_the_insecure_flag() {
        let off = ServeArgs {
            admin_listen: Some("0.0.0.0:8081".parse().unwrap()),
            ..ServeArgs::default()
        };
        let err = Config::resolve(&off).unwrap_err().to_string();
        assert!(
            err.contains("--admin-tls-cert") && err.contains("--admin-insecure-plaintext"),
            "{err}"
        );
        let insecure = ServeArgs {
            admin_insecure_plaintext: true,
            ..off.clone()
        };
        assert!(Config::resolve(&insecure).is_ok());
        let tls = ServeArgs {
            admin_tls_cert: Some("c.pem".into()),
            admin_tls_key: Some("k.pem".into()),
            ..off
        };
        assert!(Config::resolve(&tls).unwrap().admin_tls.is_some());
    }

    #[test]
    fn hardening_settings_have_safe_defaults_and_read_the_file() {
        let c = Config::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(c.min_fingerprint_components, 3);
        assert_eq!(c.limits, ConnLimits::default());
        assert!(c.trusted_proxies.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("licd.toml");
        std::fs::write(
            &path,
            "[serve]\ntrusted_proxy = [\"10.0.0.0/8\"]\nmax_connections = 64\nheader_timeout_secs = 3\n",
        )
        .unwrap();
        let c = Config::resolve(&ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(c.trusted_proxies, ["10.0.0.0/8".parse::<Cidr>().unwrap()]);
        assert_eq!(c.limits.max_connections, 64);
        assert_eq!(c.limits.header_timeout.as_secs(), 3);
        std::fs::write(&path, "[serve]\ntrusted_proxy = [\"10.0.0.0/99\"]\n").unwrap();
        assert!(
            Config::resolve(&ServeArgs {
                config: Some(path),
                ..ServeArgs::default()
            })
            .is_err()
        );
        let five = ServeArgs {
            min_fingerprint_components: Some(5),
            ..ServeArgs::default()
        };
        assert!(Config::resolve(&five).is_err());
    }

    #[test]
    fn refuses_callback_path_without_slash() {
        let args = ServeArgs {
            callback_path: Some("callback".into()),
            ..ServeArgs::default()
        };
        assert!(Config::resolve(&args).is_err());
    }
}
