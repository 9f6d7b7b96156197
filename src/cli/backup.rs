//! `licd backup` and `licd restore`: take a snapshot from the running daemon through its admin
//! API, and put one back into an empty data directory while the daemon is stopped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;

use super::CliError;
use crate::admin_client::AdminClient;
use crate::backup::{self, BackupError, Summary};

/// Arguments of `licd backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the backup. It appears only once complete and checked (written to
    /// FILE.partial first); an existing FILE is replaced.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// The daemon's admin API [env: LICD_ADMIN_URL] [default: http://127.0.0.1:8081].
    #[arg(long, value_name = "URL")]
    pub admin_url: Option<String>,
    /// File holding the admin token [env: LICD_ADMIN_TOKEN holds the token itself]
    /// [default: ./data/admin.token].
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
}

/// Arguments of `licd restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file, as written by `licd backup`.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The data directory to create; must be absent or empty. Point `licd serve --data-dir`
    /// at it afterwards.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
}

/// A transfer of a large database can take long; this bounds a hung one.
const TRANSFER_LIMIT: Duration = Duration::from_secs(6 * 3600);

/// Runs `licd backup`.
pub async fn backup(args: BackupArgs) -> Result<(), CliError> {
    let started = Instant::now();
    let client = AdminClient::resolve(args.admin_url.as_deref(), args.admin_token_file.as_deref())?
        .for_tool("licd-backup");
    let partial = partial_path(&args.to);
    let req = client
        .request(reqwest::Method::GET, "/admin/v1/backup")
        .timeout(TRANSFER_LIMIT);
    let mut resp = client.send(req).await?;
    let file_err = |e: std::io::Error| CliError::negative(format!("{}: {e}", partial.display()));
    let mut f = crate::private_file::create_private(&partial).map_err(file_err)?;
    let copied = async {
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            CliError::negative(format!(
                "the transfer from {} broke off: {e}; nothing was written to {}",
                client.base(),
                args.to.display()
            ))
        })? {
            f.write_all(&chunk).map_err(file_err)?;
        }
        f.sync_all().map_err(file_err)?;
        backup::check_file(&partial).map_err(|e| {
            CliError::negative(format!(
                "the backup received from {} does not check out ({e}); nothing was written to {}",
                client.base(),
                args.to.display()
            ))
        })
    }
    .await;
    let summary = match copied {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &args.to)
        .map_err(|e| CliError::negative(format!("{}: {e}", args.to.display())))?;
    // The rename is durable once the directory is; a failure here loses nothing written.
    let _ = crate::private_file::sync_dir(
        args.to
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    );
    println!(
        "backup written to {}: {} in {:.1} s",
        args.to.display(),
        describe(&summary),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs `licd restore`.
pub fn restore(args: &RestoreArgs) -> Result<(), CliError> {
    let started = Instant::now();
    let summary = backup::restore(&args.from, &args.data_dir).map_err(|e| match e {
        BackupError::NotEmpty(_) => CliError::usage(e.to_string()),
        BackupError::Io { .. } | BackupError::Store(_) => CliError::negative(format!(
            "restore failed, nothing was written to {}: {e}",
            args.data_dir.display()
        )),
        _ => CliError::negative(format!(
            "{}: {e}; nothing was written to {}",
            args.from.display(),
            args.data_dir.display()
        )),
    })?;
    println!(
        "restored {} into {} in {:.1} s (checksum and audit chain verified)",
        describe(&summary),
        args.data_dir.display(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "next: licd serve --data-dir {} with the same --keys-dir and access key as before; a new admin token is generated at first start",
        args.data_dir.display()
    );
    Ok(())
}

fn describe(s: &Summary) -> String {
    format!(
        "{} licenses, {} audit events, {} records, {}",
        s.licenses,
        s.audit_events,
        s.records,
        size(s.bytes)
    )
}

fn size(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{:.1} kB", bytes as f64 / 1e3)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

fn partial_path(to: &Path) -> PathBuf {
    let mut p = to.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}
