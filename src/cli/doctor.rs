//! `licd doctor`: a checklist of what stands between this server and a listing that passes its
//! dial tests, run with the configuration `licd serve` uses (flags, `LICD_*`, `--config`).
//!
//! sled lets one process open the database, so beside a running licd the database, outbox,
//! backup and V2 facts come from its admin API (`GET /admin/v1/doctor`); with no daemon
//! running doctor opens the store itself, and says what it could not check. Each line is ok,
//! warning or failure, with the command or setting that fixes it; exit status 0 / 1 / 2.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use client_verifier::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::emit;
use crate::admin_client::AdminClient;
use crate::config::{AccessKeySource, Config, ServeArgs};
use crate::service::StoreFacts;
use crate::tls_check::{MIN_DAYS_LEFT, Validity};

/// V2 callbacks are refused when their timestamp is further than this from licd's clock.
const V2_WINDOW_SECS: i64 = 60;
/// Skew worth a warning before it becomes refusals.
const SKEW_WARN_SECS: i64 = 10;
/// An outbox job pending longer than this needs a look.
const PENDING_WARN_SECS: i64 = 3600;
/// The least free space doctor accepts whatever the growth: room for logs and a compaction.
const MIN_FREE_BYTES: u64 = 256 << 20;

/// Arguments of `licd doctor`: those of `licd serve`, and where to find the running daemon.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The running daemon's admin API [default: from --admin-listen, https with
    /// --admin-tls-cert]
    #[arg(long, env = "LICD_ADMIN_URL", value_name = "URL")]
    pub admin_url: Option<String>,
    /// File holding the admin token [default: DATA_DIR/admin.token, or LICD_ADMIN_TOKEN]
    #[arg(long, env = "LICD_ADMIN_TOKEN_FILE", value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// The production address as the marketplace calls it, e.g.
    /// `https://licd.example.com/marketplace/callback`: checked from here for reachability and
    /// TLS, as `licctl marketplace rehearse` does.
    #[arg(long, env = "LICD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// PEM file of roots to trust besides the public ones, for --public-url.
    #[arg(long, env = "LICD_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

/// How a check came out. Skipped ones (not applicable, or not checkable now) do not change the
/// exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fine.
    Ok,
    /// Not applicable, or not checkable from here now.
    Skipped,
    /// Works today; will not for long, or not for every case.
    Warning,
    /// Broken, or will refuse the marketplace.
    Failure,
}

/// One line of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// What was checked.
    pub check: &'static str,
    /// How it came out.
    pub level: Level,
    /// What was found.
    pub detail: String,
    /// The command or setting that fixes it (empty when nothing needs fixing).
    pub fix: String,
}

fn line(
    check: &'static str,
    level: Level,
    detail: impl Into<String>,
    fix: impl Into<String>,
) -> Line {
    Line {
        check,
        level,
        detail: detail.into(),
        fix: fix.into(),
    }
}

/// Runs the checklist, prints it, and returns the exit status: 0 all ok, 1 warnings, 2 failures.
pub async fn run(args: DoctorArgs, json_out: bool) -> u8 {
    let lines = checklist(&args).await;
    let worst = lines.iter().map(|l| l.level).max().unwrap_or(Level::Ok);
    let status = match worst {
        Level::Failure => 2,
        Level::Warning => 1,
        Level::Ok | Level::Skipped => 0,
    };
    if json_out {
        emit(
            &json!({ "checks": lines, "status": status }).to_string(),
            true,
        );
    } else {
        let width = lines.iter().map(|l| l.check.len()).max().unwrap_or(0);
        for l in &lines {
            let tag = match l.level {
                Level::Ok => "ok      ",
                Level::Skipped => "skipped ",
                Level::Warning => "WARNING ",
                Level::Failure => "FAILURE ",
            };
            emit(&format!("{tag} {:<width$}  {}", l.check, l.detail), true);
            if !l.fix.is_empty() {
                emit(&format!("{:9} {:<width$}  fix: {}", "", "", l.fix), true);
            }
        }
        let count = |lv: Level| lines.iter().filter(|l| l.level == lv).count();
        emit(
            &format!(
                "\n{} ok, {} warnings, {} failures, {} skipped",
                count(Level::Ok),
                count(Level::Warning),
                count(Level::Failure),
                count(Level::Skipped)
            ),
            true,
        );
    }
    status
}

/// Where the database facts came from.
enum Facts {
    /// The running daemon's admin API.
    Daemon(Value),
    /// The store, opened by doctor.
    Offline(StoreFacts),
    /// Neither: why.
    Unknown(String),
    /// Neither, because a process that did not answer holds the database: why.
    Held(String),
}

async fn checklist(args: &DoctorArgs) -> Vec<Line> {
    let config = match Config::resolve(&args.serve) {
        Ok(c) => c,
        Err(e) => {
            return vec![line(
                "configuration",
                Level::Failure,
                e.to_string(),
                "correct the flag, LICD_* variable or --config file it names (licd serve --help)",
            )];
        }
    };
    let now = Timestamp::now();
    let mut lines = vec![line(
        "configuration",
        Level::Ok,
        "read as licd serve reads it",
        "",
    )];
    lines.push(keys(&config));
    lines.push(access_key(&config));
    lines.extend(open_api(&config, now).await);
    lines.push(catalog(&config));
    lines.push(webhooks(&config));

    let facts = facts(args, &config).await;
    lines.extend(database(&config, &facts, now));
    lines.extend(certificate_bound(&config, &facts));
    lines.extend(listeners(args, &config, &facts, now).await);
    lines
}

fn keys(config: &Config) -> Line {
    let dir = &config.keys_dir;
    if !dir.exists() {
        return line(
            "signing keys",
            Level::Warning,
            format!(
                "no key ring in {}: licd serve generates one at first start",
                dir.display()
            ),
            format!(
                "generate it deliberately and back it up: licd keys generate --keys-dir {}",
                dir.display()
            ),
        );
    }
    match crate::keys::KeyRing::open(dir) {
        Ok(ring) => {
            let keys = ring.public_keys();
            let current = keys.iter().find(|k| k.current);
            line(
                "signing keys",
                Level::Ok,
                format!(
                    "{} key(s) in {}, owner-only; signing with {}",
                    keys.len(),
                    dir.display(),
                    current.map_or_else(|| "the newest".to_string(), |k| k.kid.to_string())
                ),
                "",
            )
        }
        Err(e) => line(
            "signing keys",
            Level::Failure,
            e.to_string(),
            "licd keys list --keys-dir DIR shows the ring; chmod 700 the directory and 600 its files",
        ),
    }
}

fn access_key(config: &Config) -> Line {
    const FIX: &str = "the key from Seller Console > 应用工具 > 密钥管理, in a file (chmod 600) named by --access-key-file";
    match &config.access_key {
        AccessKeySource::Env => line("access key", Level::Ok, "from LICD_ACCESS_KEY", ""),
        AccessKeySource::Generated(path) => line(
            "access key",
            Level::Warning,
            format!(
                "none configured: licd uses one it generated ({}), which the marketplace does not know",
                path.display()
            ),
            FIX,
        ),
        AccessKeySource::File(path) => {
            if let Err(e) = crate::private_file::check_private(path, "the access key file") {
                return line("access key", Level::Failure, e, FIX);
            }
            match std::fs::read_to_string(path) {
                Ok(text) if text.trim().is_empty() => line(
                    "access key",
                    Level::Failure,
                    format!("{} is empty", path.display()),
                    FIX,
                ),
                Ok(_) => line(
                    "access key",
                    Level::Ok,
                    format!("{}, owner-only", path.display()),
                    "",
                ),
                Err(e) => line(
                    "access key",
                    Level::Failure,
                    format!("cannot read {}: {e}", path.display()),
                    FIX,
                ),
            }
        }
    }
}

/// The open-API credentials, with one harmless signed call, and the clock against the
/// gateway's `Date`.
async fn open_api(config: &Config, now: Timestamp) -> Vec<Line> {
    const FIX: &str = "--marketplace-ak and --marketplace-sk-file (chmod 600): the IAM access key of the seller account";
    if config.marketplace.is_none() {
        return vec![
            line(
                "open API",
                Level::Skipped,
                "not configured: online-activation goods (order query, license upload) and License 2.0 codes need it",
                FIX,
            ),
            line(
                "clock",
                Level::Skipped,
                "not compared with the marketplace's (that needs the open API); keep NTP running",
                "",
            ),
        ];
    }
    let api = match crate::server::marketplace_api(config) {
        Ok(Some(api)) => api,
        Ok(None) => return Vec::new(),
        Err(e) => {
            return vec![line("open API", Level::Failure, e.to_string(), FIX)];
        }
    };
    let probe = api.probe().await;
    let mut lines = Vec::new();
    use crate::market_api::CallError;
    let refused = |code: &str| code == "CBC.0150" || code.starts_with("APIG.");
    lines.push(match &probe.answer {
        Ok(()) => line(
            "open API",
            Level::Ok,
            format!("AK/SK accepted by {}", probe.host),
            "",
        ),
        Err(CallError::Marketplace { code, .. }) if refused(code) => line(
            "open API",
            Level::Failure,
            format!(
                "the marketplace refused the AK/SK: {}",
                probe.answer.as_ref().err().map(ToString::to_string).unwrap_or_default()
            ),
            format!("{FIX}; and a correct clock"),
        ),
        Err(CallError::Marketplace { code, host, .. }) => line(
            "open API",
            Level::Ok,
            format!(
                "AK/SK accepted by {host} (a made-up order {} answered {code}, as a missing order does)",
                crate::market_api::PROBE_ORDER
            ),
            "",
        ),
        Err(e @ CallError::Transport { .. }) => line(
            "open API",
            Level::Failure,
            e.to_string(),
            "allow HTTPS from this server to the marketplace (--marketplace-api names the hosts)",
        ),
        Err(e) => line(
            "open API",
            Level::Warning,
            e.to_string(),
            "try again later; if it persists, check --marketplace-api",
        ),
    });
    lines.push(match probe.server_date {
        Some(theirs) => {
            let skew = now.unix() - theirs.unix();
            let words = match skew {
                0 => "in step with the marketplace's".to_string(),
                s if s > 0 => format!("{s} s ahead of the marketplace's"),
                s => format!("{} s behind the marketplace's", -s),
            };
            let fix = "keep the clock synchronized (timedatectl status; chronyc tracking)";
            if skew.abs() > V2_WINDOW_SECS {
                line(
                    "clock",
                    Level::Failure,
                    format!("this server's clock is {words}: V2 callbacks are refused beyond {V2_WINDOW_SECS} s"),
                    fix,
                )
            } else if skew.abs() > SKEW_WARN_SECS {
                line(
                    "clock",
                    Level::Warning,
                    format!("this server's clock is {words}; V2 callbacks are refused beyond {V2_WINDOW_SECS} s"),
                    fix,
                )
            } else {
                line("clock", Level::Ok, format!("this server's clock is {words} (±1 s)"), "")
            }
        }
        None => line(
            "clock",
            Level::Skipped,
            "the marketplace's answer carried no Date header to compare with",
            "",
        ),
    });
    lines
}

fn webhooks(config: &Config) -> Line {
    match &config.webhooks {
        None => line(
            "webhooks",
            Level::Ok,
            "none configured: events reach other systems through the feed (licctl events tail)",
            "",
        ),
        Some(path) => match crate::webhooks::WebhookConfig::load(path) {
            Ok(c) => line(
                "webhooks",
                Level::Ok,
                format!(
                    "{}: {}",
                    path.display(),
                    c.endpoints
                        .iter()
                        .map(|e| format!("{} ({})", e.name, e.url))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "",
            ),
            Err(e) => line(
                "webhooks",
                Level::Failure,
                e,
                "correct the file; licd refuses to start with it, and a running licd keeps its endpoints until SIGHUP",
            ),
        },
    }
}

fn catalog(config: &Config) -> Line {
    match &config.products {
        None => line(
            "catalog",
            Level::Ok,
            "none configured: every product gets the built-in defaults",
            "",
        ),
        Some(path) => match crate::catalog::Catalog::load(path) {
            Ok(c) => line(
                "catalog",
                Level::Ok,
                format!(
                    "{}: {} entries{}",
                    path.display(),
                    c.entries.len(),
                    if c.default.is_some() {
                        " and a [default]"
                    } else {
                        ""
                    }
                ),
                "",
            ),
            Err(e) => line(
                "catalog",
                Level::Failure,
                e.to_string(),
                "correct the file; a running licd keeps its last good catalog until SIGHUP",
            ),
        },
    }
}

/// The admin API's address as `config` sets it: loopback for an unspecified address.
fn admin_base(args: &DoctorArgs, config: &Config) -> String {
    if let Some(url) = &args.admin_url {
        return url.clone();
    }
    let addr = reachable(config.admin_listen);
    let scheme = if config.admin_tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{addr}")
}

/// The address to connect to for a listener bound to `addr`.
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

/// The database facts, from the daemon if one answers, else from the store.
async fn facts(args: &DoctorArgs, config: &Config) -> Facts {
    let base = admin_base(args, config);
    let token = match (&args.admin_token_file, std::env::var("LICD_ADMIN_TOKEN")) {
        (Some(path), _) => {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
        }
        (None, Ok(t)) if !t.trim().is_empty() => Ok(t),
        _ => {
            let path = config.data_dir.join("admin.token");
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
        }
    };
    let daemon_error = match token {
        Ok(token) => match AdminClient::new(&base, Zeroizing::new(token)) {
            Ok(client) => {
                let client = client.for_tool("licd-doctor");
                let req = client
                    .request(reqwest::Method::GET, "/admin/v1/doctor")
                    .timeout(Duration::from_secs(10));
                match client.json(req).await {
                    Ok(v) => return Facts::Daemon(v),
                    Err(e) => e.to_string(),
                }
            }
            Err(e) => e.to_string(),
        },
        Err(e) => format!("no admin token ({e})"),
    };
    let offline = match &config.database_url {
        Some(url) => {
            let facts = async {
                let s = crate::store::pg::PgStore::open(url.expose(), false).await?;
                crate::service::store_facts(&s).await
            };
            facts
                .await
                .map_err(|e| (format!("PostgreSQL {url}: {e}"), false))
        }
        None => {
            let db = config.data_dir.join("db");
            if db.exists() {
                match crate::store::SledStore::open(&db, config.cache_bytes) {
                    Ok(s) => crate::service::store_facts(&s)
                        .await
                        .map_err(|e| (e.to_string(), false)),
                    Err(crate::store::StoreError::InUse { .. }) => {
                        Err((crate::server::in_use_message(&db), true))
                    }
                    Err(e) => Err((format!("{}: {e}", db.display()), false)),
                }
            } else {
                Err((
                    format!(
                        "no database in {} yet: licd serve creates it at first start",
                        config.data_dir.display()
                    ),
                    false,
                ))
            }
        }
    };
    let daemon_error = format!("the admin API at {base} did not answer: {daemon_error}");
    match offline {
        Ok(f) => Facts::Offline(f),
        // Held by a daemon that did not answer: both halves of the story.
        Err((e, true)) => Facts::Held(format!("{e}; {daemon_error}")),
        Err((e, false)) => Facts::Unknown(e),
    }
}

fn database(config: &Config, facts: &Facts, now: Timestamp) -> Vec<Line> {
    let (store, source): (StoreFacts, &str) = match facts {
        Facts::Daemon(v) => match serde_json::from_value(v["store"].clone()) {
            Ok(s) => (s, "from the running licd"),
            Err(e) => {
                return vec![line(
                    "database",
                    Level::Failure,
                    format!("the daemon's facts are unreadable: {e}"),
                    "run the doctor of the same licd version as the daemon",
                )];
            }
        },
        Facts::Offline(s) => (s.clone(), "opened by doctor: no licd is running"),
        Facts::Unknown(why) | Facts::Held(why) => {
            let level = if config.database_url.is_some() || matches!(facts, Facts::Held(_)) {
                Level::Failure
            } else {
                Level::Warning
            };
            return vec![
                line(
                    "database",
                    level,
                    why.clone(),
                    if config.database_url.is_some() {
                        "check --database-url; apply the schema with licd migrate --to URL"
                    } else {
                        "give doctor the running licd's --admin-url and --admin-token-file"
                    },
                ),
                line("outbox", Level::Skipped, "needs the database", ""),
                line("backup", Level::Skipped, "needs the database", ""),
            ];
        }
    };
    let mut lines = Vec::new();
    let pg = config.database_url.is_some();
    lines.push(line(
        "database",
        Level::Ok,
        if pg {
            format!(
                "PostgreSQL, schema current, {} licenses ({source})",
                store.licenses
            )
        } else {
            format!(
                "embedded, {} licenses, {} on disk ({source})",
                store.licenses,
                bytes(store.disk_bytes)
            )
        },
        "",
    ));
    if pg {
        lines.push(line(
            "disk",
            Level::Skipped,
            "PostgreSQL: its server's disk is watched there",
            "",
        ));
    } else {
        lines.push(disk(config, &store, now));
    }
    lines.push(outbox(&store, config.marketplace.is_some(), now));
    lines.push(backup(pg, &store, now));
    lines
}

/// In rooted mode: whether the signing key's certificate covers every expiry the licenses will
/// mint (`max_exp`). A license sold until 2099 under a certificate bounded at 2030 cannot be
/// renewed or refreshed: each mint of it fails.
fn certificate_bound(config: &Config, facts: &Facts) -> Option<Line> {
    const CHECK: &str = "certificate bound";
    let ring = crate::keys::KeyRing::open(&config.keys_dir).ok()?;
    ring.root()?;
    let Some(cert) = ring.current_certificate() else {
        return Some(line(
            CHECK,
            Level::Failure,
            "rooted mode, and the signing key has no certificate from the trusted root",
            "licctl root certify, then licd keys certify KID FILE",
        ));
    };
    let max_exp = cert.grant().max_exp;
    let latest = match facts {
        Facts::Daemon(v) => serde_json::from_value::<StoreFacts>(v["store"].clone())
            .ok()
            .and_then(|f| f.latest_exp),
        Facts::Offline(f) => f.latest_exp.clone(),
        Facts::Unknown(_) | Facts::Held(_) => {
            return Some(line(CHECK, Level::Skipped, "needs the database", ""));
        }
    };
    // Not a warning (doctor would never pass for an ISV who sells only periodic goods), but said.
    let one_time = if max_exp < crate::license::PERPETUAL {
        " (a one-time purchase, which has no end date, cannot be minted under it: certify a key with --max-exp 9999-01-01 for such products)"
    } else {
        ""
    };
    let fix = format!(
        "certify the signing key again with a later --max-exp (licctl root certify --max-exp DATE, licd keys certify KID FILE), or a key per product line (--products) for those sold without an end; the certificate's bound is {}",
        max_exp.to_rfc3339()
    );
    Some(match latest {
        Some((exp, id)) if exp > max_exp.unix() => line(
            CHECK,
            Level::Failure,
            format!(
                "license {} runs until {}, past what the signing key's certificate lets it sign ({}): its renewals and refreshes fail to mint",
                crate::logsafe::quoted(&id),
                Timestamp::from_unix(exp).to_rfc3339(),
                max_exp.to_rfc3339()
            ),
            fix,
        ),
        Some((exp, _)) => line(
            CHECK,
            Level::Ok,
            format!(
                "the signing key's certificate signs expiries up to {}; the latest license runs until {}{one_time}",
                max_exp.to_rfc3339(),
                Timestamp::from_unix(exp).to_rfc3339()
            ),
            "",
        ),
        None => line(
            CHECK,
            Level::Ok,
            format!(
                "the signing key's certificate signs expiries up to {}; no license yet{one_time}",
                max_exp.to_rfc3339()
            ),
            "",
        ),
    })
}

fn bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if n >= 1 << 30 {
        format!("{:.1} GiB", n as f64 / (MIB * 1024.0))
    } else {
        format!("{:.1} MiB", n as f64 / MIB)
    }
}

/// Free space for a week of the database's growth, estimated from its size and age.
fn disk(config: &Config, store: &StoreFacts, now: Timestamp) -> Line {
    match free_bytes(&config.data_dir) {
        Some(free) => disk_line(&config.data_dir, free, store, now),
        None => line(
            "disk",
            Level::Skipped,
            format!(
                "cannot read the free space of {}",
                config.data_dir.display()
            ),
            "",
        ),
    }
}

fn disk_line(dir: &Path, free: u64, store: &StoreFacts, now: Timestamp) -> Line {
    let age_days = store
        .first_record
        .map_or(1, |t| ((now.unix() - t) / 86_400).max(1)) as u64;
    let week = (store.disk_bytes / age_days * 7).max(MIN_FREE_BYTES);
    let detail = format!(
        "{} free in {}; a week's growth is about {} (the database is {} day(s) old)",
        bytes(free),
        dir.display(),
        bytes(week),
        age_days
    );
    let fix = "free space or grow the volume; an embedded database that cannot write stops licd";
    if free < week {
        line("disk", Level::Failure, detail, fix)
    } else if free < week * 4 {
        line("disk", Level::Warning, detail, fix)
    } else {
        line("disk", Level::Ok, detail, "")
    }
}

#[cfg(unix)]
fn free_bytes(dir: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}

fn outbox(store: &StoreFacts, api: bool, now: Timestamp) -> Line {
    if store.outbox_dead > 0 {
        return line(
            "outbox",
            Level::Failure,
            format!(
                "{} dead letter(s): calls licd owes the marketplace and gave up on",
                store.outbox_dead
            ),
            "licctl outbox list --dead; fix the cause it shows, then licctl outbox retry --all",
        );
    }
    if store.outbox_pending > 0 && !api {
        return line(
            "outbox",
            Level::Warning,
            format!(
                "{} call(s) wait for the open API, which is not configured",
                store.outbox_pending
            ),
            "configure --marketplace-ak and --marketplace-sk-file; they go out on the next start",
        );
    }
    match store.oldest_pending {
        Some(t) if now.unix() - t > PENDING_WARN_SECS => line(
            "outbox",
            Level::Warning,
            format!(
                "{} pending; the oldest was queued {} h ago",
                store.outbox_pending,
                (now.unix() - t) / 3600
            ),
            "licctl outbox list shows each job's last error (often the open API line above)",
        ),
        _ => line(
            "outbox",
            Level::Ok,
            format!("{} pending, none dead", store.outbox_pending),
            "",
        ),
    }
}

fn backup(pg: bool, store: &StoreFacts, now: Timestamp) -> Line {
    if pg {
        return line(
            "backup",
            Level::Skipped,
            "PostgreSQL: back it up with pg_dump; licd does not see those backups",
            "",
        );
    }
    let fix = "schedule licd backup --to FILE (docs/operations.md §2), and keep the key directory's backup beside it";
    match store.last_backup {
        None => line("backup", Level::Warning, "no licd backup recorded", fix),
        Some(t) => {
            let hours = (now.unix() - t) / 3600;
            let detail = format!("the last licd backup was {hours} h ago");
            if hours > 14 * 24 {
                line("backup", Level::Failure, detail, fix)
            } else if hours > 48 {
                line("backup", Level::Warning, detail, fix)
            } else {
                line("backup", Level::Ok, detail, "")
            }
        }
    }
}

async fn listeners(args: &DoctorArgs, config: &Config, facts: &Facts, now: Timestamp) -> Vec<Line> {
    let mut lines = Vec::new();
    let running = matches!(facts, Facts::Daemon(_));
    // The public listener, where this server itself reaches it.
    let addr = reachable(config.listen);
    let connected =
        tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr)).await;
    lines.push(match connected {
        Ok(Ok(_)) => line(
            "public listener",
            Level::Ok,
            format!("accepting connections on {addr}"),
            "",
        ),
        _ if !running => line(
            "public listener",
            Level::Skipped,
            format!("nothing listens on {addr}: licd is not running"),
            "",
        ),
        Ok(Err(e)) => line(
            "public listener",
            Level::Failure,
            format!("{addr}: {e}, yet the admin API answers"),
            "check --listen: the marketplace's calls cannot arrive",
        ),
        Err(_) => line(
            "public listener",
            Level::Failure,
            format!("{addr}: no answer in 3 s"),
            "check --listen and the firewall",
        ),
    });
    // TLS on the public side: licd's own certificate, or what --public-url shows.
    let through_url = match &args.public_url {
        Some(url) => Some(public_url(url, args.ca_file.as_deref(), now).await),
        None => None,
    };
    match (&config.tls, &through_url) {
        (Some((cert, _)), _) => lines.push(certificate("public TLS", cert, now, true)),
        (None, Some((Level::Ok, _))) => lines.push(line(
            "public TLS",
            Level::Ok,
            "licd serves plain HTTP behind a TLS front, which --public-url shows working",
            "",
        )),
        (None, _) => lines.push(line(
            "public TLS",
            Level::Warning,
            "licd serves plain HTTP: the marketplace calls only https:// production addresses",
            "--tls-cert/--tls-key, or a TLS proxy in front (then give doctor --public-url to check it)",
        )),
    }
    if let Some((level, detail)) = through_url {
        lines.push(line(
            "public address",
            level,
            detail,
            if level == Level::Ok {
                ""
            } else {
                "the marketplace calls this address: fix DNS, the proxy or the certificate it serves"
            },
        ));
    }
    // The admin listener: never beyond loopback in clear text.
    let admin = config.admin_listen;
    lines.push(match (&config.admin_tls, admin.ip().is_loopback()) {
        (Some((cert, _)), _) => certificate("admin listener", cert, now, false),
        (None, true) => line(
            "admin listener",
            Level::Ok,
            format!("{admin}, loopback only"),
            "",
        ),
        (None, false) => line(
            "admin listener",
            Level::Failure,
            format!("{admin} over plain HTTP beyond loopback: the admin token crosses the network readable"),
            "--admin-tls-cert/--admin-tls-key, or --admin-listen 127.0.0.1:8081 and an SSH tunnel",
        ),
    });
    lines.push(console_sign_in(config, facts));
    if let Facts::Daemon(v) = facts {
        lines.push(v2_reading(&v["v2_signature"]));
    } else {
        lines.push(line(
            "V2 signature",
            Level::Skipped,
            "which reading the marketplace signs with is known to the running licd only",
            "",
        ));
    }
    lines
}

/// How the console signs people in: the shared admin token beside accounts is a warning (who
/// used it is whatever name they typed); accounts only with no admin among them would leave no
/// one to manage the team.
fn console_sign_in(config: &Config, facts: &Facts) -> Line {
    let accounts = match facts {
        Facts::Daemon(v) => v.get("accounts").cloned(),
        _ => None,
    };
    let admins = accounts.as_ref().and_then(|a| a["admins"].as_u64());
    let enabled = accounts.as_ref().and_then(|a| a["enabled"].as_u64());
    let team = match (enabled, admins) {
        (Some(e), Some(a)) => format!("; {e} account(s), {a} of them admin"),
        _ => String::new(),
    };
    if config.console_token_sign_in {
        return line(
            "console sign-in",
            Level::Warning,
            format!(
                "the console still accepts the shared admin token: whoever holds data/admin.token signs in as an admin under any name{team}"
            ),
            "give each person an account (licctl users add NAME --role ROLE), then turn the token off for the console: console_token_sign_in = false in licd.toml (or --console-token-sign-in false) and restart",
        );
    }
    match admins {
        Some(0) => line(
            "console sign-in",
            Level::Warning,
            format!(
                "accounts only, and no enabled admin account{team}: no one can manage the team from the console"
            ),
            "licctl users add NAME --role admin (the admin API still takes the shared token)",
        ),
        _ => line(
            "console sign-in",
            Level::Ok,
            format!("accounts only{team}"),
            "",
        ),
    }
}

/// The certificate in `path`: expired or too close to expiry fails the marketplace's check on
/// the public side, and is a warning on the admin side.
fn certificate(check: &'static str, path: &Path, now: Timestamp, public: bool) -> Line {
    let fix = "renew the certificate, replace the file and restart licd";
    let validity = crate::pem::certificates(path).and_then(|certs| Validity::of(&certs[0]));
    match validity {
        Err(e) => line(check, Level::Failure, e, fix),
        Ok(v) => {
            let (fine, words) = v.verdict(now);
            let detail = format!("{}: {words}", path.display());
            let expired = now.unix() >= v.not_after || now.unix() < v.not_before;
            if fine && v.days_left(now) < 30 {
                line(check, Level::Warning, detail, fix)
            } else if fine {
                line(check, Level::Ok, detail, "")
            } else if expired || public {
                line(check, Level::Failure, detail, fix)
            } else {
                line(check, Level::Warning, detail, fix)
            }
        }
    }
}

/// Reachability and TLS of the production address, from here.
async fn public_url(url: &str, ca_file: Option<&Path>, now: Timestamp) -> (Level, String) {
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return (Level::Failure, format!("--public-url {url}: {e}")),
    };
    let Some(host) = parsed.host_str().map(str::to_string) else {
        return (Level::Failure, format!("--public-url {url}: no host"));
    };
    if parsed.scheme() != "https" {
        return (
            Level::Warning,
            format!("{url} is not https://: the marketplace calls only https:// addresses"),
        );
    }
    let roots = match ca_file {
        Some(p) => match crate::pem::certificates(p) {
            Ok(c) => c,
            Err(e) => return (Level::Failure, e),
        },
        None => Vec::new(),
    };
    let port = parsed.port_or_known_default().unwrap_or(443);
    let config = crate::tls_check::client_config(&roots);
    match crate::tls_check::probe(&host, port, config, Duration::from_secs(5)).await {
        Ok(v) => {
            let (fine, words) = v.verdict(now);
            if fine {
                (Level::Ok, format!("{url}: reachable, certificate {words}"))
            } else {
                (
                    Level::Failure,
                    format!(
                        "{url}: certificate {words} (the marketplace needs {MIN_DAYS_LEFT}+ days)"
                    ),
                )
            }
        }
        Err(e) => (Level::Failure, format!("{url}: {e}")),
    }
}

fn v2_reading(v: &Value) -> Line {
    let pinned = v["pinned"].as_str();
    let seen: Vec<(String, u64)> = v["seen"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, s)| (k.clone(), s["count"].as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let list = seen
        .iter()
        .map(|(k, n)| format!("{k} ({n} callbacks)"))
        .collect::<Vec<_>>()
        .join(", ");
    match (pinned, seen.len()) {
        (Some(p), _) => line(
            "V2 signature",
            Level::Ok,
            format!(
                "pinned to {p} (--v2-signature); verified since start: {}",
                if list.is_empty() {
                    "none yet".into()
                } else {
                    list
                }
            ),
            "",
        ),
        (None, 0) => line(
            "V2 signature",
            Level::Ok,
            "every documented reading accepted; no V2 callback verified since licd started",
            "",
        ),
        (None, 1) => line(
            "V2 signature",
            Level::Ok,
            format!(
                "the marketplace signs under {list} since licd started; every reading is still accepted"
            ),
            format!("pin it: --v2-signature {}", seen[0].0),
        ),
        (None, _) => line(
            "V2 signature",
            Level::Warning,
            format!("several readings verified since licd started: {list}"),
            "find which sender uses which (the log names the first of each), then pin the marketplace's with --v2-signature",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn now() -> Timestamp {
        Timestamp::from_unix(NOW)
    }

    #[test]
    fn free_space_is_weighed_against_a_week_of_growth() {
        // 700 MiB written over 7 days: 100 MiB a day, 700 MiB a week.
        let store = StoreFacts {
            disk_bytes: 700 << 20,
            first_record: Some(NOW - 7 * DAY),
            ..StoreFacts::default()
        };
        let dir = Path::new("/var/lib/licd/data");
        assert_eq!(
            disk_line(dir, 600 << 20, &store, now()).level,
            Level::Failure
        );
        assert_eq!(disk_line(dir, 2 << 30, &store, now()).level, Level::Warning);
        let ok = disk_line(dir, 20 << 30, &store, now());
        assert_eq!(ok.level, Level::Ok, "{}", ok.detail);
        assert!(
            ok.detail.contains("a week's growth is about 700.0 MiB"),
            "{}",
            ok.detail
        );
        // A new database: the floor, not its first hour's rate.
        let young = StoreFacts {
            disk_bytes: 1 << 20,
            first_record: Some(NOW - 60),
            ..StoreFacts::default()
        };
        assert_eq!(
            disk_line(dir, 100 << 20, &young, now()).level,
            Level::Failure
        );
        assert_eq!(disk_line(dir, 10 << 30, &young, now()).level, Level::Ok);
    }

    #[test]
    fn dead_letters_fail_and_old_or_stranded_jobs_warn() {
        let dead = StoreFacts {
            outbox_dead: 2,
            ..StoreFacts::default()
        };
        let l = outbox(&dead, true, now());
        assert_eq!(l.level, Level::Failure);
        assert!(l.fix.contains("licctl outbox list --dead"));
        let old = StoreFacts {
            outbox_pending: 1,
            oldest_pending: Some(NOW - 2 * 3600),
            ..StoreFacts::default()
        };
        assert_eq!(outbox(&old, true, now()).level, Level::Warning);
        let fresh = StoreFacts {
            outbox_pending: 1,
            oldest_pending: Some(NOW - 60),
            ..StoreFacts::default()
        };
        assert_eq!(outbox(&fresh, true, now()).level, Level::Ok);
        let stranded = outbox(&fresh, false, now());
        assert_eq!(stranded.level, Level::Warning);
        assert!(stranded.detail.contains("not configured"));
    }

    #[test]
    fn a_backup_ages_from_ok_to_warning_to_failure() {
        let at = |hours: i64| StoreFacts {
            last_backup: Some(NOW - hours * 3600),
            ..StoreFacts::default()
        };
        assert_eq!(backup(false, &at(3), now()).level, Level::Ok);
        assert_eq!(backup(false, &at(72), now()).level, Level::Warning);
        assert_eq!(backup(false, &at(15 * 24), now()).level, Level::Failure);
        assert_eq!(
            backup(false, &StoreFacts::default(), now()).level,
            Level::Warning
        );
        assert_eq!(
            backup(true, &StoreFacts::default(), now()).level,
            Level::Skipped
        );
    }

    #[test]
    fn the_v2_line_names_the_reading_to_pin() {
        let seen = |names: &[&str], pinned: Option<&str>| {
            let seen: serde_json::Map<String, Value> = names
                .iter()
                .map(|n| ((*n).to_string(), json!({"count": 3})))
                .collect();
            json!({ "pinned": pinned, "seen": seen })
        };
        let one = v2_reading(&seen(&["kit"], None));
        assert_eq!(one.level, Level::Ok);
        assert_eq!(one.fix, "pin it: --v2-signature kit");
        assert_eq!(
            v2_reading(&seen(&["kit", "saas"], None)).level,
            Level::Warning
        );
        let pinned = v2_reading(&seen(&["kit"], Some("kit")));
        assert!(pinned.fix.is_empty() && pinned.detail.contains("pinned to kit"));
    }
}
