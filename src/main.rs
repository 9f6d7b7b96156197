//! `licd`: the license server. The daemon itself (`licd serve`, `licd keys`, backups) arrives
//! with the server issue; until then this binary only describes itself.

use clap::Parser;

/// License server for Huawei Cloud Marketplace (KooGallery) License goods.
///
/// Answers the marketplace's production-address callbacks and mints ed25519-signed license
/// tokens that `client-verifier` checks offline. Subcommands are added as they are built; see
/// DESIGN §3 for the full command line.
#[derive(Debug, Parser)]
#[command(name = "licd", version, about, long_about)]
struct Licd {}

fn main() {
    let _ = Licd::parse();
    eprintln!("licd: no subcommand is available yet; see `licd --help`");
    std::process::exit(2);
}
