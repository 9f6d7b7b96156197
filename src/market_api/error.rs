//! What can go wrong calling the marketplace, worded for a log line read at 3 a.m.

/// The marketplace codes for "internal error, try again later" (protocol §12.6.3, §6.4).
const RETRYABLE_CODES: [&str; 3] = ["CBC.0999", "91381036", "92020001"];

/// The marketplace's "authentication failed" code (protocol §12.6.3).
pub(crate) const AUTH_CODE: &str = "CBC.0150";

/// A failed call to the marketplace open API.
///
/// Every variant names the call (`query order CS1 line CS1-000001`, `upload license for event
/// EV1`) and, once a request went out, the host that answered or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The request did not complete: connection refused, DNS, TLS, timeout. Retryable.
    #[error("{call}: {host}: {}: {detail}", if *.timeout { "timed out" } else { "cannot reach the marketplace" })]
    Transport {
        /// The call, e.g. `query order CS1`.
        call: String,
        /// `scheme://host[:port]` of the base URL tried.
        host: String,
        /// The request timed out (the configured timeout).
        timeout: bool,
        /// The underlying error chain.
        detail: String,
    },
    /// A non-2xx answer without a marketplace error code (a proxy page, an empty body).
    #[error("{call}: {host} answered HTTP {status}: {body}")]
    Http {
        /// The call.
        call: String,
        /// The host that answered.
        host: String,
        /// HTTP status.
        status: u16,
        /// The start of the body, control characters replaced.
        body: String,
    },
    /// The marketplace answered with an error code.
    #[error(
        "{call}: {host} answered HTTP {status} with {code} {message:?}{}",
        hint(code)
    )]
    Marketplace {
        /// The call.
        call: String,
        /// The host that answered.
        host: String,
        /// HTTP status.
        status: u16,
        /// `error_code` / `resultCode`, e.g. `CBC.0150`.
        code: String,
        /// `error_msg` / `resultMsg`.
        message: String,
    },
    /// A 2xx answer that does not read as the documented JSON.
    #[error("{call}: malformed answer from {host}: {detail}")]
    Malformed {
        /// The call.
        call: String,
        /// The host that answered.
        host: String,
        /// What was wrong.
        detail: String,
    },
    /// An argument refused before sending (too long, empty).
    #[error("{call}: {detail}")]
    Invalid {
        /// The call.
        call: String,
        /// What was wrong.
        detail: String,
    },
    /// The [`ApiConfig`](super::ApiConfig) cannot work.
    #[error("marketplace API configuration: {0}")]
    Config(String),
}

fn hint(code: &str) -> &'static str {
    if code == AUTH_CODE || code.starts_with("APIG.") {
        " (authentication failed: check the marketplace AK/SK and the server clock)"
    } else {
        ""
    }
}

impl CallError {
    /// Whether the same call may succeed later unchanged: transport errors, HTTP 5xx and 429,
    /// the marketplace's internal-error codes (`CBC.0999`, `91381036`, `92020001`), and
    /// authentication failures (`CBC.0150`, gateway `APIG.*` on 401/403), which an operator
    /// fixes by correcting the AK/SK or the clock. Everything else is permanent.
    pub fn retryable(&self) -> bool {
        match self {
            CallError::Transport { .. } => true,
            CallError::Http { status, .. } => retryable_status(*status),
            CallError::Marketplace { status, code, .. } => {
                retryable_status(*status)
                    || RETRYABLE_CODES.contains(&code.as_str())
                    || code == AUTH_CODE
                    || (code.starts_with("APIG.") && matches!(status, 401 | 403))
            }
            CallError::Malformed { .. } | CallError::Invalid { .. } | CallError::Config(_) => false,
        }
    }

    /// The marketplace error code, when the marketplace gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            CallError::Marketplace { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, when an answer arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Http { status, .. } | CallError::Marketplace { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn retryable_status(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

#[cfg(test)]
mod tests {
    use super::*;

    fn market(status: u16, code: &str) -> CallError {
        CallError::Marketplace {
            call: "upload license for event EV1".into(),
            host: "https://mkt.myhuaweicloud.com".into(),
            status,
            code: code.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn error_codes_map_to_retryability() {
        for (status, code, retry) in [
            (500, "CBC.0999", true),
            (200, "91381036", true),
            (403, "CBC.0150", true),
            (401, "APIG.0301", true),
            (400, "CBC.0101", false),
            (200, "91381033", false),
            (200, "91381034", false),
            (200, "91381035", false),
            (200, "91381037", false),
            (200, "91381038", false),
            (200, "91380150", false),
            (503, "SOMETHING", true),
            (429, "APIG.0308", true),
        ] {
            assert_eq!(market(status, code).retryable(), retry, "{status} {code}");
            assert_eq!(market(status, code).code(), Some(code));
        }
    }

    #[test]
    fn messages_name_call_host_and_code() {
        let m = market(403, "CBC.0150").to_string();
        assert!(m.contains("upload license for event EV1"), "{m}");
        assert!(m.contains("mkt.myhuaweicloud.com"), "{m}");
        assert!(m.contains("CBC.0150"), "{m}");
        assert!(m.contains("AK/SK"), "{m}");
        assert!(!market(400, "CBC.0101").to_string().contains("AK/SK"));
        let t = CallError::Transport {
            call: "query order CS1".into(),
            host: "https://mkt.myhuaweicloud.cn".into(),
            timeout: true,
            detail: "operation timed out".into(),
        };
        assert!(t.retryable());
        assert_eq!(t.code(), None);
        assert_eq!(
            t.to_string(),
            "query order CS1: https://mkt.myhuaweicloud.cn: timed out: operation timed out"
        );
    }

    #[test]
    fn http_status_retryability() {
        let h = |status| CallError::Http {
            call: "c".into(),
            host: "h".into(),
            status,
            body: String::new(),
        };
        assert!(h(502).retryable());
        assert!(h(429).retryable());
        assert!(!h(404).retryable());
        assert!(!h(302).retryable());
    }
}
