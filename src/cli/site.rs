//! `licd site`: a licd in site mode, the license server of an air-gapped plant.
//!
//! - `licd site init --license TOKEN --dir DIR [--seats N] [--site-id ID]` makes the site key
//!   (owner-only, `DIR/device.key`) and prints a site request `lsr1.…` for the ISV.
//! - `licd site serve --dir DIR --allotment FILE [--listen ADDR]` serves `POST /v1/leases`,
//!   `/renew`, `/release` and `/status` as licd does, signing leases with the site key, each
//!   carrying the allotment. Its state is a sled database in `DIR/db`: no database server.
//! - `licd site release --dir DIR` stops the server and prints a receipt `lsd1.…` that gives
//!   the allotment's seats back once its last lease ends.
//!
//! What the directory holds: `device.key` (the site key), `activation` (the license and the
//! binding's salt, so a new request renews the same site), `db/` (leases), `clock` (the latest
//! time seen, against a clock set back), `returned` (allotments given back: never served
//! again), `release` (asks a running server to stop).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use client_verifier::offline::state::OfflineState;
use client_verifier::{
    AllotmentClaims, BindingRequirement, Fingerprint, MatchPolicy, PublicKey, SecretKey, Timestamp,
    Verifier,
};

use super::CliError;
use crate::http::{self, AppState, ServeOptions};
use crate::service::{Service, Settings};
use crate::store::{Batch, Store};

/// How far the clock may be behind the latest time the site saw before it refuses to serve.
const CLOCK_TOLERANCE_SECS: i64 = 300;
/// How often the running server checks its clock and whether it was asked to stop.
const TICK: Duration = Duration::from_secs(1);
/// What an opaque site id is prefixed with before it is bound, so it is never a machine's.
const SITE_ID_PREFIX: &str = "licd-site-id:";

/// `licd site`.
#[derive(Debug, Args)]
pub struct SiteArgs {
    #[command(subcommand)]
    command: SiteCommand,
}

#[derive(Debug, Subcommand)]
enum SiteCommand {
    /// Make the site key in DIR (owner-only) and print a site request (lsr1.…) for the ISV:
    /// the license's id, this machine's binding (salted hashes, no raw serial), the site
    /// public key, the seats wanted and proof of holding the license. Run it again before the
    /// allotment ends: the new request renews the same site.
    ///
    /// Example: licd site init --license "$(cat floating.lic)" --dir /var/lib/licd-site --seats 10
    Init(InitArgs),
    /// Serve the lease API (POST /v1/leases, /renew, /release, /status) to the plant's
    /// machines with the allotment's seats, signing leases with the site key.
    ///
    /// Example: licd site serve --dir /var/lib/licd-site --allotment /var/lib/licd-site/allotment.txt --listen 0.0.0.0:7480
    Serve(ServeArgs),
    /// Stop the site server (a running one within a second) and print a receipt (lsd1.…) that
    /// gives its seats back to the license; POST it to the ISV's /v1/site/return (or the
    /// /activate page, or licctl site return). The seats are free when the last lease this
    /// site signed ends.
    ///
    /// Example: licd site release --dir /var/lib/licd-site > receipt.txt
    Release(DirArgs),
}

/// `licd site init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The floating license's token (v4.public.…), or `-` to read it from stdin.
    #[arg(long, env = "LICD_SITE_LICENSE")]
    license: String,
    /// The site directory (created owner-only).
    #[arg(long, env = "LICD_SITE_DIR")]
    dir: PathBuf,
    /// Seats to ask for; 0 (the default) asks for all the license has left.
    #[arg(long, default_value_t = 0, env = "LICD_SITE_SEATS")]
    seats: u32,
    /// Bind the request to this fingerprint (MAC|disk|board|CPU) instead of this machine's:
    /// for a request prepared for another machine, where `licd site serve` will then run.
    #[arg(long, value_name = "RAW", conflicts_with = "site_id")]
    fingerprint: Option<String>,
    /// Bind the site to this stable id instead of the machine's fingerprint (a container
    /// whose hardware ids change when it moves). Weaker: a copy of the directory runs wherever
    /// it is given the same id. Give the same id to `licd site serve`.
    #[arg(long, env = "LICD_SITE_ID")]
    site_id: Option<String>,
}

/// `licd site serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The site directory `licd site init` made.
    #[arg(long, env = "LICD_SITE_DIR")]
    dir: PathBuf,
    /// The allotment file the ISV answered with.
    #[arg(long, env = "LICD_SITE_ALLOTMENT")]
    allotment: PathBuf,
    /// Where the plant's machines reach the lease API.
    #[arg(long, default_value = "0.0.0.0:7480", env = "LICD_SITE_LISTEN")]
    listen: SocketAddr,
    /// The stable id given to `licd site init --site-id`, if one was.
    #[arg(long, env = "LICD_SITE_ID")]
    site_id: Option<String>,
    /// TLS certificate chain (PEM); without it the lease API is plain HTTP on the LAN.
    #[arg(long, env = "LICD_SITE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM, owner-only).
    #[arg(long, env = "LICD_SITE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// A site directory argument.
#[derive(Debug, Args)]
pub struct DirArgs {
    /// The site directory.
    #[arg(long, env = "LICD_SITE_DIR")]
    dir: PathBuf,
}

/// Runs `licd site …`.
pub fn run(args: SiteArgs) -> Result<(), CliError> {
    match args.command {
        SiteCommand::Init(a) => {
            println!("{}", init(&a)?);
            Ok(())
        }
        SiteCommand::Serve(a) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| CliError::negative(format!("cannot start the runtime: {e}")))?;
            runtime.block_on(serve(a, super::shutdown_signal()))
        }
        SiteCommand::Release(a) => {
            println!("{}", release(&a.dir)?);
            Ok(())
        }
    }
}

/// `licd site init`: the site request.
fn init(a: &InitArgs) -> Result<String, CliError> {
    let token = super::offline::read_arg(&a.license, "--license")?;
    let state = OfflineState::open(&a.dir).map_err(|e| CliError::negative(e.to_string()))?;
    let fp = match &a.fingerprint {
        Some(raw) => {
            Fingerprint::parse(raw).map_err(|e| CliError::usage(format!("--fingerprint: {e}")))?
        }
        None => this_site(a.site_id.as_deref())?,
    };
    state
        .site_request(&token, &fp, a.seats)
        .map_err(|e| CliError::negative(format!("site request: {e}")))
}

/// What the site is bound to: the stable id its operator chose, or this machine.
fn this_site(site_id: Option<&str>) -> Result<Fingerprint, CliError> {
    match site_id.map(str::trim) {
        Some(id) if id.is_empty() || id.len() > 200 || id.contains('|') => Err(CliError::usage(
            "--site-id: 1 to 200 characters, no '|'",
        )),
        Some(id) => Fingerprint::parse(&format!("{SITE_ID_PREFIX}{id}"))
            .map_err(|e| CliError::usage(format!("--site-id: {e}"))),
        None => Fingerprint::collect().map_err(|e| {
            CliError::negative(format!(
                "this machine's fingerprint cannot be read ({e}); in a container, give a stable --site-id"
            ))
        }),
    }
}

/// Everything `serve` checked before it listens.
struct Checked {
    allotment: String,
    terms: AllotmentClaims,
    key: SecretKey,
}

/// Checks that the allotment is for this site directory, on this machine, not given back,
/// not expired and signed by one of the keys it names, and that the clock was not set back.
fn check(a: &ServeArgs, now: Timestamp) -> Result<Checked, CliError> {
    let state = OfflineState::open(&a.dir).map_err(|e| CliError::negative(e.to_string()))?;
    let seed = state
        .device_key()
        .map_err(|e| CliError::negative(e.to_string()))?
        .seed();
    let key = SecretKey::from_seed(&seed);
    let allotment = std::fs::read_to_string(&a.allotment)
        .map_err(|e| CliError::usage(format!("{}: {e}", a.allotment.display())))?;
    let allotment = allotment.trim().to_string();
    let terms = open_allotment(&allotment, now)?;
    if terms.site_key != key.public_key().to_paserk() {
        return Err(CliError::negative(format!(
            "the allotment is for another site (site key {}), not the one in {}",
            crate::logsafe::quoted_max(&terms.site_key, 80),
            a.dir.display()
        )));
    }
    let here = this_site(a.site_id.as_deref())?;
    if !terms.binding.check(&here, MatchPolicy::Tolerant).holds() {
        return Err(CliError::negative(if a.site_id.is_some() {
            "the allotment is bound to another site id (--site-id must be the one given to licd site init)".to_string()
        } else {
            "the allotment is bound to another machine: a site directory runs only where licd site init made its request; run licd site init here and ask the ISV for a new allotment".to_string()
        }));
    }
    // Given back, or issued before the site gave its seats back (the request answered again
    // by anyone who held it): licd no longer counts those seats for this site.
    if given_back(&terms, &returned(&a.dir)?, released_at(&a.dir)?) {
        return Err(CliError::negative(format!(
            "allotment {} was given back, or issued before this site gave its seats back (licd site release); run licd site init and install the new allotment",
            terms.jti
        )));
    }
    guard_clock(&a.dir, now)?;
    // What `licd site release` names in its receipt.
    let current = format!("{}\n{}\n", terms.lic, terms.jti);
    crate::private_file::write_private(&a.dir.join("allotment-id"), current.as_bytes())
        .map_err(|e| CliError::negative(format!("{}/allotment-id: {e}", a.dir.display())))?;
    Ok(Checked {
        allotment,
        terms,
        key,
    })
}

/// The allotment's claims, checked against the ISV keys it names (the verifiers of the
/// plant's applications check it against the keys they trust; this catches a wrong or
/// damaged file at start).
fn open_allotment(token: &str, now: Timestamp) -> Result<AllotmentClaims, CliError> {
    let unverified = client_verifier::danger::decode_unverified(token)
        .map_err(|e| CliError::usage(format!("allotment: not a token: {e}")))?;
    let claims: AllotmentClaims = serde_json::from_slice(&unverified.message)
        .map_err(|_| CliError::usage("allotment: not a site allotment"))?;
    let mut builder = Verifier::builder()
        .issuer(claims.iss.clone())
        .binding(BindingRequirement::Optional);
    for k in &claims.keys {
        let k = PublicKey::from_paserk(k)
            .map_err(|e| CliError::usage(format!("allotment: a key it names: {e}")))?;
        builder = builder.trust(k);
    }
    builder
        .build()
        .verify_allotment(token, now)
        .map_err(|e| CliError::negative(format!("allotment: {e}")))
}

/// Refuses a clock more than [`CLOCK_TOLERANCE_SECS`] behind the latest time this site saw,
/// and records `now` when it is later.
fn guard_clock(dir: &Path, now: Timestamp) -> Result<(), CliError> {
    let path = dir.join("clock");
    let seen = match std::fs::read_to_string(&path) {
        Ok(t) => t.trim().parse::<i64>().map_err(|_| {
            CliError::negative(format!(
                "{}: not a time; restore it from a backup of the directory",
                path.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(CliError::negative(format!("{}: {e}", path.display()))),
    };
    if now.unix() + CLOCK_TOLERANCE_SECS < seen {
        return Err(CliError::negative(format!(
            "the clock says {now}, but this site saw {} already: the clock was set back; correct it",
            Timestamp::from_unix(seen)
        )));
    }
    // Written when it moved on by a while: the check above allows minutes anyway, and the
    // disk is spared a write a second.
    if now.unix() > seen + 10 {
        crate::private_file::write_private(&path, now.unix().to_string().as_bytes())
            .map_err(|e| CliError::negative(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// The allotments this directory gave back.
fn returned(dir: &Path) -> Result<Vec<String>, CliError> {
    match std::fs::read_to_string(dir.join("returned")) {
        Ok(t) => Ok(t.lines().map(str::to_string).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(CliError::negative(format!(
            "{}/returned: {e}",
            dir.display()
        ))),
    }
}

/// Whether allotment `a` was given back by this site: named in a receipt (`returned`), or
/// issued before the site last gave its seats back at `released` (Unix seconds, the site's
/// clock), beyond the clock tolerance between the ISV's licd and the site.
fn given_back(a: &AllotmentClaims, returned: &[String], released: Option<i64>) -> bool {
    returned.iter().any(|r| r == &a.jti)
        || released.is_some_and(|at| a.iat.unix() + CLOCK_TOLERANCE_SECS < at)
}

/// When this directory last gave its seats back (Unix seconds), if it did.
fn released_at(dir: &Path) -> Result<Option<i64>, CliError> {
    let path = dir.join("released-at");
    match std::fs::read_to_string(&path) {
        Ok(t) => t.trim().parse().map(Some).map_err(|_| {
            CliError::negative(format!(
                "{}: not a time; it holds when licd site release ran (remove it only if no release was ever made)",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::negative(format!("{}: {e}", path.display()))),
    }
}

/// `licd site serve`: serves until `shutdown`, `licd site release`, or a clock set back.
pub async fn serve(
    a: ServeArgs,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), CliError> {
    let Checked {
        allotment,
        terms,
        key,
    } = check(&a, Timestamp::now())?;
    // A release asked for before this start is done: remove its request.
    let _ = std::fs::remove_file(a.dir.join("release"));
    let store: Arc<dyn Store> = Arc::new(
        crate::server::open_store(&a.dir.join("db"), 16 << 20)
            .map_err(|e| CliError::negative(e.to_string()))?,
    );
    // The ISV's keys, for the programs' license tokens. Not the site key: its leases verify
    // through the allotment they carry, and it signs nothing else.
    let trusted: Vec<PublicKey> = terms
        .keys
        .iter()
        .filter_map(|k| PublicKey::from_paserk(k).ok())
        .collect();
    let service = Arc::new(
        Service::new(
            store.clone(),
            Arc::new(key),
            Settings {
                issuer: terms.iss.clone(),
                freeze_days: 0,
                require_fingerprint: false,
                // licd's default: a lease binds to three of the machine's four components.
                min_fingerprint_components: 3,
            },
        )
        .with_trusted(trusted)
        .with_site(allotment, terms.clone()),
    );
    // The license as the allotment states it, written at every start (a new allotment
    // changes its seats and end; the leases stay).
    let license = crate::license::License::of_allotment(&terms, Timestamp::now());
    service
        .transact(async |_, _| {
            let mut batch = Batch::default();
            batch.licenses.push(license);
            Ok((batch, ()))
        })
        .await
        .map_err(|e| CliError::negative(format!("site database: {e}")))?;
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => {
            Some(crate::server::tls_acceptor(c, k).map_err(|e| CliError::usage(e.to_string()))?)
        }
        _ => None,
    };
    let limits = crate::config::ConnLimits::default();
    let max_body = 64 * 1024;
    let state = AppState {
        service: service.clone(),
        // No marketplace route is served in site mode; the key is never used.
        access_key: Arc::new(crate::marketplace::AccessKey::new("site-mode")),
        metrics: Arc::new(http::metrics::Metrics::new()),
        v1_window_secs: None,
        trusted_proxies: Arc::new([]),
        refusals: Arc::new(crate::logsafe::RefusalLimiter::default()),
        v2_readings: Arc::new([]),
        // The portal is not served in site mode.
        portal: Arc::new(http::portal::Portal::new(service.portal_secret(), false)),
    };
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .map_err(|e| CliError::negative(format!("cannot listen on {}: {e}", a.listen)))?;
    tracing::info!(
        addr = %http::local_addr(&listener).map(|x| x.to_string()).unwrap_or_default(),
        license = %terms.lic,
        product = %terms.product,
        seats = terms.seats,
        allotment = %terms.jti,
        expires = %terms.exp,
        tls = tls.is_some(),
        "site server listening"
    );
    let stop = watch(a.dir.clone(), terms.exp);
    let stopped = std::sync::Mutex::new(None);
    let outcome = http::serve(
        listener,
        http::site_router(state, max_body),
        ServeOptions {
            tls,
            limits,
            max_body_bytes: max_body,
        },
        async {
            tokio::select! {
                () = shutdown => {}
                why = stop => {
                    tracing::warn!("site server stopping: {}", why.1);
                    *stopped.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
                }
            }
        },
    )
    .await;
    store
        .flush()
        .await
        .map_err(|e| CliError::negative(format!("site database: {e}")))?;
    outcome.map_err(|e| CliError::negative(format!("site server: {e}")))?;
    // A release is a clean stop; a clock set back or an allotment that ended is a failure a
    // supervisor should see (and `serve` refuses to start again until it is dealt with).
    match stopped
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        Some((false, why)) => Err(CliError::negative(why)),
        _ => Ok(()),
    }
}

/// Resolves when the site must stop, with whether that is a clean stop and why: `licd site
/// release` asked (clean), the clock was set back, or the allotment ended. Records the time
/// seen each tick.
async fn watch(dir: PathBuf, expires: Timestamp) -> (bool, String) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        if dir.join("release").exists() {
            return (true, "licd site release asked it to".into());
        }
        let now = Timestamp::now();
        if let Err(e) = guard_clock(&dir, now) {
            return (false, e.message);
        }
        if now >= expires {
            return (
                false,
                format!(
                    "the allotment ended at {expires}; run licd site init and install the ISV's new allotment"
                ),
            );
        }
    }
}

/// `licd site release`: stops a running server, then makes the receipt for the allotment it
/// served, stating when its last lease ends.
fn release(dir: &Path) -> Result<String, CliError> {
    let db = dir.join("db");
    if !db.exists() {
        return Err(CliError::usage(format!(
            "{} has no site database: licd site serve never ran there",
            dir.display()
        )));
    }
    crate::private_file::write_private(&dir.join("release"), b"")
        .map_err(|e| CliError::negative(format!("{}/release: {e}", dir.display())))?;
    // The running server stops within a tick and lets go of the database.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let store = loop {
        match crate::server::open_store(&db, 8 << 20) {
            Ok(s) => break s,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                return Err(CliError::negative(format!(
                    "the site server did not stop within 20 s ({e}); stop it and run licd site release again"
                )));
            }
        }
    };
    let (license, allotment) = current_allotment(dir)?;
    let leases = store
        .leases(&license)
        .map_err(|e| CliError::negative(format!("site database: {e}")))?;
    // A lease's token stays valid offline until its exp, released or not.
    let end = leases
        .iter()
        .map(|l| l.expires)
        .fold(Timestamp::now(), Timestamp::max);
    drop(store);
    let state = OfflineState::open(dir).map_err(|e| CliError::negative(e.to_string()))?;
    let receipt = state
        .site_receipt(&allotment, end)
        .map_err(|e| CliError::negative(format!("site receipt: {e}")))?;
    crate::private_file::write_private(
        &dir.join("released-at"),
        Timestamp::now().unix().to_string().as_bytes(),
    )
    .map_err(|e| CliError::negative(format!("{}/released-at: {e}", dir.display())))?;
    let mut list = returned(dir)?;
    list.push(allotment);
    crate::private_file::write_private(
        &dir.join("returned"),
        format!("{}\n", list.join("\n")).as_bytes(),
    )
    .map_err(|e| CliError::negative(format!("{}/returned: {e}", dir.display())))?;
    tracing::info!(license = %license, seats_free_at = %end, "site released: give the receipt to the ISV");
    Ok(receipt)
}

/// The license and allotment the site last served (kept by `serve` in `DIR/allotment-id`).
fn current_allotment(dir: &Path) -> Result<(String, String), CliError> {
    let path = dir.join("allotment-id");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::negative(format!("{}: {e}", path.display())))?;
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(l), Some(a)) if !l.is_empty() && !a.is_empty() => Ok((l.to_string(), a.to_string())),
        _ => Err(CliError::negative(format!(
            "{}: not what licd site serve wrote; start licd site serve once with the allotment in use, then release again",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allotment_issued_before_the_release_is_not_served() {
        let claims = |jti: &str, iat: i64| -> AllotmentClaims {
            let binding =
                client_verifier::Binding::new(&Fingerprint::parse("M|D|B|C").unwrap(), [1; 8]);
            let at = Timestamp::from_unix(iat);
            serde_json::from_value(serde_json::json!({
                "iss": "acme", "jti": jti, "lic": "l", "status": "site",
                "iat": at, "nbf": at, "exp": at.add_secs(86_400), "product": "P",
                "sku": "s", "seats": 1, "site_key": "k", "binding": binding.encode(),
                "entitlements": {}, "lease_secs": 60, "linger_secs": 0,
                "borrow_max_days": 0, "keys": []
            }))
            .unwrap()
        };
        let released = Some(1_800_000_000);
        let returned = vec!["a-1".to_string()];
        // The allotment given back, whenever it was issued.
        assert!(given_back(
            &claims("a-1", 1_900_000_000),
            &returned,
            released
        ));
        // Another one issued well before the release (a replayed request's answer).
        assert!(given_back(
            &claims("a-2", 1_800_000_000 - 3_600),
            &returned,
            released
        ));
        // One issued around the release (clocks differ) or after it: a new allotment.
        assert!(!given_back(
            &claims("a-3", 1_800_000_000 - 60),
            &returned,
            released
        ));
        assert!(!given_back(
            &claims("a-4", 1_800_000_100),
            &returned,
            released
        ));
        assert!(
            !given_back(&claims("a-2", 1_700_000_000), &[], None),
            "never released"
        );
    }
}
