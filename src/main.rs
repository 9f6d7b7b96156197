//! `licd`: parse the command line, set up logging, call the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use licd::cli::backup::{BackupArgs, RestoreArgs};
use licd::cli::doctor::DoctorArgs;
use licd::cli::keys::KeysArgs;
use licd::cli::migrate::MigrateArgs;
use licd::config::{Config, ServeArgs};

/// License server for Huawei Cloud Marketplace (KooGallery) License goods.
///
/// Answers the marketplace's production-address callbacks and mints ed25519-signed license
/// tokens (PASETO v4.public) that `client-verifier` checks offline.
#[derive(Debug, Parser)]
#[command(name = "licd", version)]
struct Licd {
    /// Print machine-readable JSON, for `keys list`, `keys export`, `migrate` and `doctor`:
    /// `licd --json keys list`, or after the subcommand: `licd keys list --json`.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: the marketplace's callbacks, the client API (activation, refresh, codes,
    /// revocation list, air-gapped activation and its /activate page), health and metrics on the
    /// public listener; the admin API and the web console (/console/) on the admin listener.
    ///
    /// Example: licd serve --listen 0.0.0.0:443 --tls-cert cert.pem --tls-key key.pem --access-key-file /etc/licd/access.key
    Serve(Box<ServeArgs>),
    /// Manage the signing keys: generate, rotate, add and activate (staged rotation), list,
    /// export.
    Keys(KeysArgs),
    /// Take a consistent snapshot of the running daemon's data into one file (0600).
    ///
    /// Writes are held off only for milliseconds, not while the snapshot streams. The file carries
    /// licenses, orders, audit log and outbox, not the signing keys, access key or admin token:
    /// back up the key directory separately.
    ///
    /// Example: licd backup --to /var/backups/licd/licd-$(date +%F).backup --admin-token-file /var/lib/licd/data/admin.token
    Backup(BackupArgs),
    /// Restore a backup into an absent or empty data directory, with the daemon stopped.
    ///
    /// Builds the database aside and puts it in place only if the checksum and the audit hash
    /// chain hold.
    ///
    /// Example: licd restore --from licd-2026-11-23.backup --data-dir /var/lib/licd/data
    Restore(RestoreArgs),
    /// Apply the PostgreSQL schema (safe on several nodes at once), and optionally copy an
    /// embedded database into it, to move from one licd to several.
    ///
    /// Example: licd migrate --to postgres://licd@db.internal/licd --from-data-dir /var/lib/licd/data
    Migrate(MigrateArgs),
    /// Check this server before the marketplace does: keys, access key, open-API keys and
    /// clock, catalog, database, disk, backups, outbox, listeners and TLS, the V2 signature.
    ///
    /// Takes the same flags, LICD_* variables and --config as `licd serve`. Beside a running
    /// licd it reads the database facts through the admin API; otherwise it opens the database
    /// itself and says what it could not check. Each line is ok, WARNING or FAILURE with the
    /// fix; exit status 0, 1 (warnings) or 2 (failures); --json for monitoring.
    ///
    /// Example: licd doctor --config /etc/licd/licd.toml --public-url https://licd.example.com/marketplace/callback
    Doctor(Box<DoctorArgs>),
    /// Site mode: the license server of an air-gapped plant. `init` makes the site key and a
    /// request for the ISV, `serve` serves the lease API with the ISV's allotment, `release`
    /// stops it and prints the receipt that gives the seats back. See docs/site.md.
    Site(licd::cli::site::SiteArgs),
}

fn main() -> ExitCode {
    licd::cli::quiet_broken_pipe();
    let cli = Licd::parse();
    init_tracing();
    match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Keys(args) => exit(licd::cli::keys::run(args, cli.json)),
        Command::Backup(args) => match current_thread() {
            Ok(rt) => exit(rt.block_on(licd::cli::backup::backup(args))),
            Err(code) => code,
        },
        Command::Restore(args) => exit(licd::cli::backup::restore(&args)),
        Command::Migrate(args) => match current_thread() {
            Ok(rt) => exit(rt.block_on(licd::cli::migrate::run(args, cli.json))),
            Err(code) => code,
        },
        Command::Site(args) => exit(licd::cli::site::run(args)),
        Command::Doctor(args) => match current_thread() {
            Ok(rt) => ExitCode::from(rt.block_on(licd::cli::doctor::run(*args, cli.json))),
            Err(code) => code,
        },
    }
}

fn exit(result: Result<(), licd::cli::CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("licd: {e}");
            ExitCode::from(e.code)
        }
    }
}

fn current_thread() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("licd: cannot start the runtime: {e}");
            ExitCode::FAILURE
        })
}

fn serve(args: &ServeArgs) -> ExitCode {
    let config = match Config::resolve(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("licd: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("licd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(licd::server::run(config, licd::cli::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the log and a terminal both show stderr.
            eprintln!("licd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RUST_LOG` filters (default `info`), `LICD_LOG_FORMAT=json` for log shippers.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if std::env::var("LICD_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
