//! The outbox job record: one call licd owes the marketplace (a device-license upload, an order
//! query), as the store keeps it. A leaf: the store writes jobs, the outbox worker runs them, and
//! neither needs the other to know what a job is.

use client_verifier::Timestamp;
use serde::{Deserialize, Serialize};

/// A call owed to the marketplace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Stable id: the same owed call always has the same id.
    pub id: String,
    /// The license it concerns (for the audit log).
    pub license_id: String,
    /// What to do.
    pub task: Task,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was first queued.
    pub created: Timestamp,
    /// When the next attempt is due.
    pub next_at: Timestamp,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Given up: failed for good or too often. Only an operator's retry revives it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dead: bool,
}

/// What a job does. `Debug` leaves out the token and the code.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// Upload a license string for a `getLicenseAsync` event (`market-event/{eventId}/file`,
    /// `type=CHARACTERS`, or `type=FILE` when longer than the 1,024 characters that takes).
    Upload {
        /// The marketplace's `eventId`.
        event_id: String,
        /// The license string.
        token: String,
    },
    /// Read an order (`order/query`) and apply its customer, product, quota and validity to the
    /// instance.
    QueryOrder {
        /// `orderId`.
        order: String,
        /// `orderLineId`.
        order_line: String,
    },
    /// Report that one device used a License 2.0 code on a day (`software-usage-info`, one
    /// `{id}` item). The worker sends due reports together, up to 100 per call.
    Usage {
        /// The code (a secret: the store keeps it, logs never show it).
        code: String,
        /// The device's usage id ([`crate::license::Activation::client_id`]).
        client: String,
        /// The UTC day used, `yyyyMMdd`.
        day: String,
    },
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Task::Upload { event_id, token } => f
                .debug_struct("Upload")
                .field("event_id", event_id)
                .field("token_len", &token.len())
                .finish(),
            Task::QueryOrder { order, order_line } => f
                .debug_struct("QueryOrder")
                .field("order", order)
                .field("order_line", order_line)
                .finish(),
            Task::Usage { client, day, .. } => f
                .debug_struct("Usage")
                .field("client", client)
                .field("day", day)
                .finish_non_exhaustive(),
        }
    }
}

impl Task {
    /// The audit-log name of an attempt.
    pub fn action(&self) -> &'static str {
        match self {
            Task::Upload { .. } => "upload",
            Task::QueryOrder { .. } => "queryOrder",
            Task::Usage { .. } => "usage",
        }
    }
}

impl Task {
    /// The secret the task carries (the license string of an upload, the code of a usage
    /// report): what never leaves the store in an error text, a log line or a listing.
    fn secret(&self) -> Option<&str> {
        match self {
            Task::Upload { token, .. } => Some(token),
            Task::Usage { code, .. } => Some(code),
            Task::QueryOrder { .. } => None,
        }
    }
}

impl Job {
    /// Records why the last attempt failed. The marketplace's error message may quote the
    /// request (a code, a token): whatever secret the task carries is taken out first, since
    /// the text reaches the log, the audit log and `licctl outbox list`.
    pub fn note_failure(&mut self, error: &str) {
        let text = match self.task.secret() {
            Some(secret) => crate::logsafe::redact(error, secret),
            None => error.to_string(),
        };
        self.last_error = Some(text);
    }

    /// A new job, due now.
    pub fn new(id: String, license_id: &str, task: Task, now: Timestamp) -> Self {
        Job {
            id,
            license_id: license_id.to_string(),
            task,
            attempts: 0,
            created: now,
            next_at: now,
            last_error: None,
            dead: false,
        }
    }

    /// The id of the upload for one device request: a hash, so it is safe in a URL and does not
    /// repeat the fingerprint.
    pub fn upload_id(license_id: &str, event_id: &str, fingerprint: &str) -> String {
        format!("up-{}", short_hash(&[license_id, event_id, fingerprint]))
    }

    /// The id of the usage report of one device on one day.
    pub fn usage_id(license_id: &str, client: &str, day: &str) -> String {
        format!("us-{}", short_hash(&[license_id, client, day]))
    }

    /// The id of the order query for one order line of an instance.
    pub fn query_id(license_id: &str, order: &str, order_line: &str) -> String {
        format!("oq-{}", short_hash(&[license_id, order, order_line]))
    }
}

fn short_hash(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    crate::crypto::hex(&h.finalize()[..10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_message_quoting_the_request_loses_the_secret() {
        let now = Timestamp::from_unix(1_780_000_000);
        let usage = Task::Usage {
            code: "LC7Q-9XKD".into(),
            client: "c1".into(),
            day: "20260101".into(),
        };
        let mut j = Job::new("us-1".into(), "lc-1", usage, now);
        j.note_failure("92020020: invalid license code(s) [lc7q-9xkd] in the batch");
        assert_eq!(
            j.last_error.as_deref(),
            Some("92020020: invalid license code(s) [<redacted>] in the batch")
        );
        let upload = Task::Upload {
            event_id: "ev".into(),
            token: "v4.public.abc".into(),
        };
        let mut j = Job::new("up-1".into(), "i-1", upload, now);
        j.note_failure("HTTP 400: body {\"characters\":\"v4.public.abc\"}");
        assert!(!j.last_error.unwrap().contains("v4.public.abc"));
    }
}
