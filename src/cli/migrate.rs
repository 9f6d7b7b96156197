//! `licd migrate`: applies the PostgreSQL schema, and copies an embedded database into it.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::config::DatabaseUrl;
use crate::store::{SledStore, pg};

/// Arguments of `licd migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The PostgreSQL database (postgres://USER:PASSWORD@HOST:PORT/DB). Its schema is brought to
    /// the version this licd needs; safe while other nodes migrate or serve.
    #[arg(long, env = "LICD_DATABASE_URL", value_name = "URL")]
    pub to: DatabaseUrl,
    /// Then copy the embedded database of this data directory (its `db`) into it: licenses,
    /// indexes, the audit log (its hash chain checked on the way), the outbox and the V2 nonces.
    /// Stop the licd that uses the directory first. The target must hold no licenses yet; the
    /// copy is one transaction, so it lands whole or not at all.
    #[arg(long, value_name = "DIR")]
    pub from_data_dir: Option<PathBuf>,
}

/// Runs `licd migrate`; `json` prints the summary as JSON.
pub async fn run(args: MigrateArgs, json: bool) -> Result<(), CliError> {
    args.to.check().map_err(CliError::usage)?;
    let url = args.to.expose();
    let failed = |e: crate::store::StoreError| CliError::negative(format!("{}: {e}", args.to));
    let applied = pg::migrate(url).await.map_err(failed)?;
    let source = match &args.from_data_dir {
        Some(dir) => {
            let db = dir.join("db");
            if !db.is_dir() {
                return Err(CliError::usage(format!(
                    "{} holds no embedded database (no {}): give the data directory licd serve used (--data-dir)",
                    dir.display(),
                    db.display()
                )));
            }
            Some(SledStore::open(&db, 64 << 20).map_err(|e| {
                if matches!(e, crate::store::StoreError::InUse { .. }) {
                    CliError::usage(format!(
                        "a licd is using {}: stop it first, so that nothing changes during the copy",
                        dir.display()
                    ))
                } else {
                    CliError::negative(format!("{}: {e}", db.display()))
                }
            })?)
        }
        None => None,
    };
    let copied = match &source {
        Some(s) => Some(pg::import_sled(s, url).await.map_err(failed)?),
        None => None,
    };
    if json {
        let out = serde_json::json!({
            "schema_version": pg::SCHEMA_VERSION,
            "applied": applied,
            "copied": copied,
        });
        println!("{out}");
        return Ok(());
    }
    if applied.is_empty() {
        println!(
            "schema is at version {} (nothing to apply)",
            pg::SCHEMA_VERSION
        );
    } else {
        println!(
            "applied schema version(s) {:?}; now at {}",
            applied,
            pg::SCHEMA_VERSION
        );
    }
    if let (Some(c), Some(dir)) = (&copied, &args.from_data_dir) {
        println!(
            "copied {}: {} licenses, {} purchase index entries, {} applied operations, {} device licenses, {} seats, {} audit records (chain verified), {} revocations, {} outbox jobs, {} nonces",
            dir.display(),
            c.licenses,
            c.orders,
            c.applied,
            c.devices,
            c.activations,
            c.audit_events,
            c.revoked,
            c.outbox,
            c.nonces
        );
        println!(
            "next: copy the key directory to every node, start them with --database-url, and keep {} until the nodes have served for a while",
            dir.display()
        );
    }
    Ok(())
}
