//! `licctl offline`: air-gapped activation. `request` and `receipt` run on the offline machine
//! (or stand in for the application in a test); `activate` and `deactivate` are support's side,
//! through the admin API.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use client_verifier::Fingerprint;
use client_verifier::offline::state::OfflineState;

use super::CliError;

/// The subcommands of `licctl offline`.
#[derive(Debug, Subcommand)]
pub enum OfflineCommand {
    /// On the offline machine: print an activation request (lor1.…, at most 700 characters)
    /// for the unbound license, bound to this machine. Asking again gives the same seat.
    ///
    /// Example: licctl offline request --license "$(cat license.txt)" --state ./offline-state
    Request(RequestArgs),
    /// On the offline machine: print the receipt (ldr1.…) that gives this machine's seat back.
    /// Delete the license token first; the receipt can be made once.
    ///
    /// Example: licctl offline receipt --state ./offline-state
    Receipt(StateArgs),
    /// Support: answer a customer's request with the device-bound license (admin API). The
    /// token goes to stdout, what happened to stderr.
    ///
    /// Example: licctl offline activate lor1.AAECAw… > license-for-that-machine.lic
    Activate(TextArgs),
    /// Support: free the seat a customer's receipt gives back (admin API).
    ///
    /// Example: licctl offline deactivate ldr1.AAECAw…
    Deactivate(TextArgs),
}

/// `licctl site …`: the ISV's side of a site server's exchange.
#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Answer a site request (lsr1.…, from `licd site init`) with its allotment: the token
    /// goes to stdout (save it as the site's allotment file), what happened to stderr.
    ///
    /// Example: licctl site allot lsr1.AAECAw… > allotment.txt
    Allot(TextArgs),
    /// Give back the seats of a site's receipt (lsd1.…, from `licd site release`).
    ///
    /// Example: licctl site return lsd1.AAECAw…
    Return(TextArgs),
}

/// Arguments of `licctl offline request`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The unbound license token as the seller sent it (`-` reads it from stdin).
    #[arg(long, value_name = "TOKEN")]
    pub license: String,
    /// Bind to this fingerprint (MAC|disk|board|CPU) instead of this machine's.
    #[arg(long, value_name = "RAW")]
    pub fingerprint: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

/// Where the device key and the current activation are kept.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The machine's offline state directory (device key, owner-only).
    #[arg(long, value_name = "DIR", default_value = "./offline-state")]
    pub state: PathBuf,
}

/// A request or receipt given on the command line.
#[derive(Debug, Args)]
pub struct TextArgs {
    /// The text as the customer sent it (`-` reads it from stdin).
    pub text: String,
}

impl TextArgs {
    /// The text, read from stdin for `-`.
    pub fn read(&self) -> Result<String, CliError> {
        read_arg(&self.text, "the request or receipt")
    }
}

/// Runs `request` or `receipt`; `None` for the subcommands that need the daemon.
pub fn run_local(cmd: &OfflineCommand, json: bool) -> Option<Result<(), CliError>> {
    match cmd {
        OfflineCommand::Request(a) => Some(request(a, json)),
        OfflineCommand::Receipt(a) => Some(receipt(a, json)),
        OfflineCommand::Activate(_) | OfflineCommand::Deactivate(_) => None,
    }
}

fn request(a: &RequestArgs, json: bool) -> Result<(), CliError> {
    let license = read_arg(&a.license, "--license")?;
    let fp = match &a.fingerprint {
        Some(raw) => {
            Fingerprint::parse(raw).map_err(|e| CliError::usage(format!("--fingerprint: {e}")))?
        }
        None => Fingerprint::collect().map_err(|e| {
            CliError::negative(format!("cannot read this machine's fingerprint: {e}"))
        })?,
    };
    let text = OfflineState::open(&a.state.state)
        .and_then(|s| s.request(&license, &fp))
        .map_err(|e| CliError::negative(e.to_string()))?;
    print_text("request", &text, json);
    Ok(())
}

fn receipt(a: &StateArgs, json: bool) -> Result<(), CliError> {
    let text = OfflineState::open(&a.state)
        .and_then(|s| s.receipt())
        .map_err(|e| CliError::negative(e.to_string()))?;
    print_text("receipt", &text, json);
    Ok(())
}

fn print_text(name: &str, text: &str, json: bool) {
    if json {
        println!("{}", serde_json::json!({ name: text }));
    } else {
        println!("{text}");
    }
}

pub(crate) fn read_arg(arg: &str, what: &str) -> Result<String, CliError> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| CliError::usage(format!("reading {what} from stdin: {e}")))?;
        s
    } else {
        arg.to_string()
    };
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(CliError::usage(format!("{what} is empty")));
    }
    Ok(text)
}
