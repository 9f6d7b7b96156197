//! Command-line front ends: argument definitions and the commands that run without a daemon.
//! The binaries in `src/main.rs` and `src/bin/licctl.rs` only parse, call and map errors to an
//! exit status.

pub mod backup;
pub mod doctor;
pub mod events;
pub mod keys;
pub mod lease_load;
pub mod licctl;
pub mod licenses;
pub mod marketplace;
pub mod migrate;
pub mod offline;
pub mod rehearse;
pub mod root;
pub mod site;
pub mod users;

use std::fmt;

/// A command failure: one line for stderr and the exit status that goes with it.
#[derive(Debug)]
pub struct CliError {
    /// What went wrong and, where there is one, what to do about it.
    pub message: String,
    /// The process exit status: 1 for a negative answer (a token that does not verify), 2 for
    /// bad input.
    pub code: u8,
}

impl CliError {
    /// Bad input: a malformed argument or file.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: 2,
        }
    }

    /// The command ran and the answer is no.
    pub fn negative(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<crate::admin_client::AdminError> for CliError {
    fn from(e: crate::admin_client::AdminError) -> Self {
        use crate::admin_client::AdminError;
        match e {
            AdminError::Usage(m) => CliError::usage(m),
            AdminError::Refused(m) => CliError::negative(m),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Prints `rows` as two aligned columns.
pub fn print_table(rows: &[(String, String)]) {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        emit(&format!("{k:<width$}  {v}"), true);
    }
}

/// Writes to stdout; when stdout was closed early (`licctl … | head`) the process ends quietly
/// with status 0, as command-line tools do, instead of panicking like `println!`.
pub fn emit(text: &str, newline: bool) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(text.as_bytes())
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// The same for output that does not go through [`emit`]: when stdout is a closed pipe,
/// `println!` panics with "failed printing to stdout: Broken pipe"; that one panic ends the
/// process quietly with status 0, like [`emit`], instead of a backtrace. Every other panic
/// keeps the default report.
pub fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if payload.starts_with("failed printing to stdout") && payload.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested: finishing requests in flight");
}
