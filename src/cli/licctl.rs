//! `licctl`: the admin CLI. Commands that need the daemon talk to its admin API; `verify` and
//! `fingerprint` work on this machine alone.

use clap::{Args, Parser, Subcommand};
use client_verifier::danger;
use client_verifier::{
    BindingRequirement, Fingerprint, LicenseStatus, PublicKey, TimeGuard, Timestamp,
    VerifiedLicense, Verifier, VerifyError,
};
use serde_json::{Value, json};

use super::licenses::{
    self, AdminArgs, AdminCommand, CodesCommand, LicensesCommand, OutboxCommand, ProductsCommand,
    RevocationsCommand,
};
use super::{CliError, print_table};

/// licd's admin CLI: manage licenses, inspect tokens, print this machine's fingerprint.
///
/// Commands that manage licenses talk to the running daemon's admin API: --admin-url or
/// LICD_ADMIN_URL (default http://127.0.0.1:8081), with the token from --admin-token-file,
/// LICD_ADMIN_TOKEN or ./data/admin.token. Exit status: 0 done, 1 refused or failed, 2 bad input.
#[derive(Debug, Parser)]
#[command(name = "licctl", version)]
pub struct Licctl {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(subcommand)]
    pub command: Command,
}

impl Licctl {
    /// Subcommands that work on this machine alone, whose help leaves out the admin API flags.
    const LOCAL: [&'static str; 3] = ["verify", "fingerprint", "marketplace"];

    /// The command line as clap describes it: the admin flags are global (accepted before or
    /// after the subcommand), but left out of the help of the subcommands that never use them.
    pub fn command() -> clap::Command {
        let mut cmd = <Self as clap::CommandFactory>::command();
        // clap copies a global flag into every subcommand that has no flag of that id when the
        // command is built, so a hidden one of the same id takes its place there.
        for name in Self::LOCAL {
            cmd = cmd.mut_subcommand(name, |sub| {
                sub.arg(hidden_flag("admin_url", "admin-url"))
                    .arg(hidden_flag("admin_token_file", "admin-token-file"))
            });
        }
        cmd
    }

    /// Parses this process's arguments, exiting with clap's message on bad input.
    pub fn parse_args() -> Licctl {
        let matches = Self::command().get_matches();
        <Self as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// A flag `--long VALUE` accepted and ignored, absent from the help.
fn hidden_flag(id: &'static str, long: &'static str) -> clap::Arg {
    clap::Arg::new(id).long(long).num_args(1).hide(true)
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, show, reissue, revoke licenses; print their tokens and audit history.
    ///
    /// Example: licctl licenses list --status active
    #[command(subcommand)]
    Licenses(LicensesCommand),
    /// License 2.0 activation codes (授权码) licd has seen: list them, show one by its code.
    ///
    /// Example: licctl codes show LC7Q-9XKD-2M4P-TT8W
    #[command(subcommand)]
    Codes(CodesCommand),
    /// The product catalog as the daemon understands it: list, show one product, reload.
    ///
    /// Example: licctl products show OFFI454488918838374 --sku sku-pro
    #[command(subcommand)]
    Products(ProductsCommand),
    /// The signed revocation list.
    ///
    /// Example: licctl revocations export > revocations.paseto
    #[command(subcommand)]
    Revocations(RevocationsCommand),
    /// The running daemon's keys: after the root revoked one, sign its tokens again.
    ///
    /// Example: licctl keys revoke k4.pid.Xq3… --reason "server backup stolen"
    #[command(subcommand)]
    Keys(licenses::KeysCommand),
    /// Floating licenses: who holds which seat; take a hung program's lease back.
    ///
    /// Example: licctl leases list 3f2a9c01-…
    #[command(subcommand)]
    Leases(licenses::LeasesCommand),
    /// Calls licd owes the marketplace (device-license uploads, order queries).
    ///
    /// Example: licctl outbox list --dead
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// The event feed: every change to every license, in order, with its hash link.
    ///
    /// Example: licctl events tail --follow
    #[command(subcommand)]
    Events(super::events::EventsCommand),
    /// Webhook endpoints (licd serve --webhooks FILE): their state; test, replay, skip, reload.
    ///
    /// Example: licctl webhooks replay crm --after 1200
    #[command(subcommand)]
    Webhooks(super::events::WebhooksCommand),
    /// The ISV's team: accounts with roles (admin, developer, support, sales, viewer) for
    /// the console and the admin API; one-time secrets for a first sign-in or a reset.
    ///
    /// Example: licctl users add alice --role support
    #[command(subcommand)]
    Users(super::users::UsersCommand),
    /// API tokens for scripts, each acting for an account with a role; revocable.
    ///
    /// Example: licctl tokens create --user ci-bot --role viewer --label "nightly report"
    #[command(subcommand)]
    Tokens(super::users::TokensCommand),
    /// Verify any license token offline and print every claim and the verdict.
    ///
    /// Example: licctl verify v4.public.eyJ… --public-key k4.public.… --product OFFI123 --local
    Verify(VerifyArgs),
    /// Print this machine's fingerprint in the marketplace format (MAC|disk|board|CPU).
    ///
    /// Example: licctl fingerprint --json
    Fingerprint,
    /// Air-gapped machines: make a request or receipt on the machine, or (support) answer
    /// one through the daemon.
    ///
    /// Example: licctl offline activate lor1.AAECAw… > license.lic
    #[command(subcommand)]
    Offline(super::offline::OfflineCommand),
    /// Site servers of air-gapped plants: answer a site request with an allotment, or take
    /// a site's receipt to give its seats back (admin API).
    ///
    /// Example: licctl site allot lsr1.AAECAw… > allotment.txt
    #[command(subcommand)]
    Site(super::offline::SiteCommand),
    /// Act as the marketplace: send signed callbacks, or load-test the daemon.
    #[command(subcommand)]
    Marketplace(super::marketplace::MarketplaceCommand),
    /// The offline root of the key hierarchy: make it, certify issuing keys, rotate it. Runs
    /// without licd and without a network.
    ///
    /// Example: licctl root init --dir ./acme-root
    #[command(subcommand)]
    Root(super::root::RootCommand),
}

/// Arguments of `licctl verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The token, `v4.public.…` (`-` reads it from stdin).
    pub token: String,
    /// Trusted public key as PASERK `k4.public.…`; repeat for several (key rotation).
    #[arg(
        long = "public-key",
        required_unless_present = "root",
        value_name = "PASERK"
    )]
    pub public_keys: Vec<String>,
    /// Trust the root in this document (`root.json`): the token's certificate must chain to
    /// it. With --public-key too, those keys are also trusted directly.
    #[arg(long, value_name = "FILE")]
    pub root: Option<std::path::PathBuf>,
    /// Expected product (marketplace productId).
    #[arg(long)]
    pub product: Option<String>,
    /// Expected issuer.
    #[arg(long)]
    pub issuer: Option<String>,
    /// Check the device binding against this fingerprint string.
    #[arg(long, value_name = "RAW", conflicts_with = "local")]
    pub fingerprint: Option<String>,
    /// Check the device binding against this machine's fingerprint.
    #[arg(long)]
    pub local: bool,
    /// Verify as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// Check revocation against this signed list: a file (`licctl revocations export`) or the
    /// daemon's URL (`http://HOST/v1/revocations`). Without it, revocation is not checked.
    #[arg(long, value_name = "FILE|URL")]
    pub revocations: Option<String>,
}

/// The signed revocation list `source` names: a URL answering `{"seq","list"}` (licd's
/// `/v1/revocations`) or a file holding the list token (or that JSON).
fn read_revocations(source: &str) -> Result<(String, Option<String>), CliError> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::negative(format!("cannot start a runtime: {e}")))?;
        runtime.block_on(async {
            let resp = reqwest::get(source).await.map_err(|e| {
                CliError::negative(format!("--revocations {source}: cannot fetch: {e}"))
            })?;
            if !resp.status().is_success() {
                return Err(CliError::negative(format!(
                    "--revocations {source}: answered {}",
                    resp.status()
                )));
            }
            resp.text().await.map_err(|e| {
                CliError::negative(format!("--revocations {source}: unreadable answer: {e}"))
            })
        })?
    } else {
        std::fs::read_to_string(source)
            .map_err(|e| CliError::usage(format!("--revocations {source}: {e}")))?
    };
    let text = text.trim();
    match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            let list = v["list"].as_str().map(str::to_string).ok_or_else(|| {
                CliError::usage(format!(
                    "--revocations {source}: JSON without a \"list\" token"
                ))
            })?;
            Ok((list, v["keys"].as_str().map(str::to_string)))
        }
        Err(_) => Ok((text.to_string(), None)),
    }
}

/// Runs a parsed command line.
pub fn run(cli: Licctl) -> Result<(), CliError> {
    match cli.command {
        Command::Verify(args) => verify(&args, cli.json),
        Command::Root(c) => super::root::run(c, cli.json),
        Command::Fingerprint => fingerprint(cli.json),
        Command::Marketplace(cmd) => super::marketplace::run(cmd, cli.json),
        Command::Licenses(c) => licenses::run(&cli.admin, AdminCommand::Licenses(c), cli.json),
        Command::Codes(c) => licenses::run(&cli.admin, AdminCommand::Codes(c), cli.json),
        Command::Products(c) => licenses::run(&cli.admin, AdminCommand::Products(c), cli.json),
        Command::Revocations(c) => {
            licenses::run(&cli.admin, AdminCommand::Revocations(c), cli.json)
        }
        Command::Outbox(c) => licenses::run(&cli.admin, AdminCommand::Outbox(c), cli.json),
        Command::Keys(c) => licenses::run(&cli.admin, AdminCommand::Keys(c), cli.json),
        // The load generator talks to the public API: no admin token needed.
        Command::Leases(licenses::LeasesCommand::Load(a)) => {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| CliError::negative(format!("cannot start the runtime: {e}")))?
                .block_on(super::lease_load::run(a, cli.json))
        }
        Command::Leases(c) => licenses::run(&cli.admin, AdminCommand::Leases(c), cli.json),
        Command::Site(c) => licenses::run(&cli.admin, AdminCommand::Site(c), cli.json),
        Command::Events(c) => super::events::run_events(&cli.admin, c, cli.json),
        Command::Webhooks(c) => super::events::run_webhooks(&cli.admin, c, cli.json),
        Command::Users(c) => super::users::run_users(&cli.admin, c, cli.json),
        Command::Tokens(c) => super::users::run_tokens(&cli.admin, c, cli.json),
        Command::Offline(c) => match super::offline::run_local(&c, cli.json) {
            Some(done) => done,
            None => licenses::run(&cli.admin, AdminCommand::Offline(c), cli.json),
        },
    }
}

fn fingerprint(json: bool) -> Result<(), CliError> {
    let fp = Fingerprint::collect().map_err(|e| {
        CliError::negative(format!(
            "cannot read any device identifier on this machine: {e}"
        ))
    })?;
    let missing: Vec<(&str, &str)> = fp
        .parts()
        .map(|p| {
            COMPONENTS
                .iter()
                .zip(p.iter())
                .filter(|(_, values)| values.is_empty())
                .map(|((name, why), _)| (*name, *why))
                .collect()
        })
        .unwrap_or_default();
    if json {
        let parts = fp
            .parts()
            .map(|p| json!({ "mac": p[0], "disk": p[1], "board": p[2], "cpu": p[3] }));
        let missing: serde_json::Map<String, serde_json::Value> = missing
            .iter()
            .map(|(name, why)| ((*name).to_string(), json!(why)))
            .collect();
        println!(
            "{}",
            json!({ "fingerprint": fp.to_string(), "components": parts, "missing": missing })
        );
    } else {
        println!("{fp}");
        // Why a component is empty, on stderr: the fingerprint alone stays on stdout.
        for (name, why) in &missing {
            eprintln!("{name}: none read: {why}");
        }
    }
    Ok(())
}

/// Each component's name and what leaves it empty on this operating system.
const COMPONENTS: [(&str, &str); 4] = if cfg!(windows) {
    [
        (
            "mac",
            "no hardware Ethernet or Wi-Fi adapter with a connector and an address (GetIfTable2)",
        ),
        (
            "disk",
            "the disk holding the system volume gave no serial, or is removable or on USB (IOCTL_STORAGE_QUERY_PROPERTY); under Wine the call is not answered",
        ),
        (
            "board",
            "no SMBIOS baseboard serial or system UUID (GetSystemFirmwareTable) and no MachineGuid in the registry",
        ),
        ("cpu", "no cpuid (not an x86 processor)"),
    ]
} else if cfg!(target_os = "macos") {
    [
        (
            "mac",
            "no en* hardware interface with a globally administered address",
        ),
        (
            "disk",
            "disk serials are not read on macOS (they need IOKit)",
        ),
        ("board", "ioreg gave no IOPlatformSerialNumber"),
        ("cpu", "Apple silicon has no cpuid"),
    ]
} else {
    [
        (
            "mac",
            "no physical interface with a globally administered address in /sys/class/net (containers often have only virtual ones)",
        ),
        (
            "disk",
            "no fixed disk with a readable serial in /sys/block (virtual disks often have none)",
        ),
        (
            "board",
            "no /etc/machine-id, the DMI serials are unreadable (root only) or placeholders, and no device-tree serial-number",
        ),
        (
            "cpu",
            "no cpuid (not x86) and no Serial in /proc/cpuinfo or /sys/devices/soc0/serial_number",
        ),
    ]
};

fn verify(args: &VerifyArgs, json: bool) -> Result<(), CliError> {
    let token = read_token(&args.token)?;
    let mut builder = Verifier::builder().binding(BindingRequirement::Optional);
    for k in &args.public_keys {
        let key = PublicKey::from_paserk(k)
            .map_err(|e| CliError::usage(format!("--public-key {}: {e}", abbreviate(k))))?;
        builder = builder.trust(key);
    }
    if let Some(path) = &args.root {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("--root {}: {e}", path.display())))?;
        let root = client_verifier::Root::from_json(&text)
            .map_err(|e| CliError::usage(format!("--root {}: {e}", path.display())))?;
        builder = builder.trust_root(root);
    }
    if let Some(p) = &args.product {
        builder = builder.product(p);
    }
    if let Some(i) = &args.issuer {
        builder = builder.issuer(i);
    }
    let device = if args.local {
        Some(Fingerprint::collect().map_err(|e| {
            CliError::negative(format!(
                "--local: cannot read this machine's fingerprint: {e}"
            ))
        })?)
    } else if let Some(raw) = &args.fingerprint {
        Some(Fingerprint::parse(raw).map_err(|e| CliError::usage(format!("--fingerprint: {e}")))?)
    } else {
        // Without a device, everything but the binding is checked, and the output says so.
        builder = danger::skip_device_check(builder);
        None
    };
    let now = match &args.at {
        Some(at) => Timestamp::parse_rfc3339(at).ok_or_else(|| {
            CliError::usage(format!(
                "--at {at:?}: expected RFC 3339, e.g. 2026-11-23T10:00:00Z"
            ))
        })?,
        None => Timestamp::now(),
    };
    let mut verifier = builder.build();
    let revocation_note = match &args.revocations {
        Some(source) => {
            let (list, keys) = read_revocations(source)?;
            // The root's revoked keys first: a list signed by one of them is then refused.
            let keys_note = match (&keys, verifier.root().is_some()) {
                (Some(statement), true) => {
                    let mut guard = TimeGuard::default();
                    let n = verifier
                        .load_key_revocations_guarded(statement, &mut guard)
                        .map_err(|e| {
                            CliError::usage(format!("--revocations {source}: key revocations: {e}"))
                        })?;
                    format!(" and the root's key revocations {n}")
                }
                _ => String::new(),
            };
            let seq = verifier
                .load_revocations(&list)
                .map_err(|e| CliError::usage(format!("--revocations {source}: {e}")))?;
            format!("checked against revocation list {seq}{keys_note}")
        }
        None => "not checked (pass --revocations FILE or http://HOST/v1/revocations)".to_string(),
    };
    let outcome = verifier.verify(&token, device.as_ref(), now);
    // Show the claims even when verification fails: that is what support needs to see.
    let claims = danger::decode_unverified(&token).ok().and_then(|u| {
        serde_json::from_slice::<Value>(&u.message)
            .ok()
            .map(|c| (c, u.footer))
    });
    let device_note = match (&device, &outcome) {
        (None, _) => "not checked (pass --fingerprint RAW or --local)".to_string(),
        (Some(_), Ok(l)) => match l.device_match() {
            Some(m) => format!(
                "matches ({} of {} components, {} needed)",
                m.matched, m.bound, m.required
            ),
            None => "license is not bound to a device".to_string(),
        },
        (Some(_), Err(VerifyError::DeviceMismatch { result })) if !result.anchored => format!(
            "DOES NOT MATCH (no disk or mainboard serial matches; {} of {} components)",
            result.matched, result.bound
        ),
        (Some(_), Err(VerifyError::DeviceMismatch { result })) => format!(
            "DOES NOT MATCH ({} of {} components, {} needed)",
            result.matched, result.bound, result.required
        ),
        (Some(_), Err(_)) => "not reached".to_string(),
    };
    print_verdict(
        &outcome,
        claims.as_ref(),
        [
            ("device", device_note.as_str()),
            ("revocation", &revocation_note),
        ],
        now,
        json,
    );
    match outcome {
        Ok(_) => Ok(()),
        Err(e) => Err(CliError::negative(format!("token does not verify: {e}"))),
    }
}

/// `notes` say what was checked besides the token itself: the device, revocation.
fn print_verdict(
    outcome: &Result<VerifiedLicense, VerifyError>,
    claims: Option<&(Value, Vec<u8>)>,
    notes: [(&str, &str); 2],
    now: Timestamp,
    json: bool,
) {
    let verdict = match outcome {
        Ok(l) => status_json(l.status()),
        Err(e) => json!({ "valid": false, "error": e.name(), "message": e.to_string() }),
    };
    let footer = claims.map(|(_, f)| String::from_utf8_lossy(f).into_owned());
    if json {
        let mut doc = json!({
            "verdict": verdict,
            "checked_at": now.to_rfc3339(),
            "claims": claims.map(|(c, _)| c),
            "footer": footer,
        });
        for (name, note) in notes {
            doc[name] = json!(note);
        }
        println!("{doc}");
        return;
    }
    let mut rows = vec![
        ("verdict".to_string(), verdict_text(outcome)),
        ("checked at".to_string(), now.to_rfc3339()),
    ];
    for (name, note) in notes {
        rows.push((name.to_string(), note.to_string()));
    }
    match claims {
        Some((Value::Object(map), _)) => {
            let unverified = if outcome.is_ok() { "" } else { " (UNVERIFIED)" };
            for (k, v) in map {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                rows.push((format!("{k}{unverified}"), v));
            }
        }
        _ => rows.push(("claims".to_string(), "cannot be decoded".to_string())),
    }
    if let Some(f) = footer {
        rows.push(("footer".to_string(), f));
    }
    print_table(&rows);
}

fn status_json(status: LicenseStatus) -> Value {
    match status {
        LicenseStatus::Active { expires_at } => {
            json!({ "valid": true, "status": "active", "expires_at": expires_at.to_rfc3339() })
        }
        LicenseStatus::Frozen { until } => {
            json!({ "valid": true, "status": "frozen", "until": until.to_rfc3339() })
        }
        LicenseStatus::Expired { since } => {
            json!({ "valid": true, "status": "expired", "since": since.to_rfc3339() })
        }
        LicenseStatus::CheckInRequired { since } => {
            json!({ "valid": true, "status": "check_in_required", "since": since.to_rfc3339() })
        }
        LicenseStatus::LeaseRequired { expires_at } => {
            json!({ "valid": true, "status": "lease_required", "expires_at": expires_at.to_rfc3339() })
        }
        _ => json!({ "valid": true, "status": "unknown" }),
    }
}

fn verdict_text(outcome: &Result<VerifiedLicense, VerifyError>) -> String {
    match outcome {
        Ok(l) => l.status().to_string(),
        Err(e) => format!("INVALID: {e}"),
    }
}

fn read_token(arg: &str) -> Result<String, CliError> {
    let token = if arg == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| CliError::usage(format!("reading the token from stdin: {e}")))?;
        s.trim().to_string()
    } else {
        arg.trim().to_string()
    };
    // Nothing to check is bad input (exit 2), not a license that failed to verify (exit 1).
    if token.is_empty() {
        return Err(CliError::usage(
            "TOKEN is empty: give the license token, or - to read it from stdin",
        ));
    }
    Ok(token)
}

/// The first characters of a key, so an error names it without printing a whole secret pasted
/// by mistake.
fn abbreviate(s: &str) -> String {
    let head: String = s.chars().take(12).collect();
    if head.len() < s.len() {
        format!("{head}…")
    } else {
        head
    }
}
