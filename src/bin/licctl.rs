//! `licctl`: parse, run, report. Everything else is in `licd::cli::licctl`.

use std::process::ExitCode;

use licd::cli::licctl::{Licctl, run};

fn main() -> ExitCode {
    licd::cli::quiet_broken_pipe();
    match run(Licctl::parse_args()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("licctl: {e}");
            ExitCode::from(e.code)
        }
    }
}
