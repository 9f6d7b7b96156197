//! Command-line front ends: argument definitions and the commands that run without a daemon.
//! The binaries in `src/main.rs` and `src/bin/licctl.rs` only parse, call and map errors to an
//! exit status.

pub mod backup;
pub mod keys;
pub mod licctl;
pub mod marketplace;

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
        println!("{k:<width$}  {v}");
    }
}
