//! Strings that came from a client, made safe for a log line, and the rate limit on logged
//! refusals of anonymous requests.
//!
//! A client can put anything in a field name, a header, a token footer: newlines that forge the
//! next log line, terminal escape sequences, bidi controls that reorder what a reader sees, or
//! 60 KB of text per request. [`quoted`] escapes every such character and cuts the result to a
//! fixed number of bytes; [`RefusalLimiter`] bounds how many refusal lines a flood can write,
//! and says how many it left out, so real lines stay findable. [`error_chain`] puts an error's
//! causes on its line.

use std::sync::Mutex;
use std::time::Instant;

/// An error and its causes on one line, each cause once. Drivers and HTTP clients say only
/// the kind of failure ("error connecting to server"); the causes say which (refused, timed
/// out, a certificate for another name).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let words = s.to_string();
        if !out.contains(&words) {
            out.push_str(": ");
            out.push_str(&words);
        }
        source = s.source();
    }
    out
}

/// `text` with every occurrence of `secret` (compared without regard to ASCII case, as a
/// service may echo a code upper-cased) replaced by `<redacted>`. For error messages from a
/// peer that may quote the request they answer.
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() || secret.len() > text.len() {
        return text.to_string();
    }
    let lower_text = text.to_ascii_lowercase();
    let lower_secret = secret.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    // ASCII lower-casing keeps byte offsets, so matches in the copy are matches in `text`.
    for (at, _) in lower_text.match_indices(&lower_secret) {
        if at < rest {
            continue;
        }
        out.push_str(&text[rest..at]);
        out.push_str("<redacted>");
        rest = at + secret.len();
    }
    out.push_str(&text[rest..]);
    out
}

/// Bytes of escaped client text a log field or an error message quotes at most.
pub const QUOTE_BYTES: usize = 96;

/// `value` escaped (control, format and bidi characters as `\u{…}`, quotes and backslashes
/// escaped) and quoted, cut on a character boundary once the escaped text reaches `max_bytes`;
/// a cut is marked with `…`.
pub fn quoted_max(value: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(max_bytes.min(value.len()) + 8);
    out.push('"');
    for c in value.chars() {
        let start = out.len();
        if is_unsafe(c) && !matches!(c, '\n' | '\r' | '\t') {
            out.extend(c.escape_unicode());
        } else {
            out.extend(c.escape_debug());
        }
        if out.len() - 1 > max_bytes {
            out.truncate(start);
            out.push_str("\"…");
            return out;
        }
    }
    out.push('"');
    out
}

/// [`quoted_max`] with [`QUOTE_BYTES`].
pub fn quoted(value: &str) -> String {
    quoted_max(value, QUOTE_BYTES)
}

/// Characters that must never reach a log raw: controls (C0, DEL, C1, including ESC), and the
/// format characters that change how text around them is displayed (bidi embeddings, overrides
/// and isolates, zero-width joiners, the byte-order mark, line and paragraph separators).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{061C}'
            | '\u{180E}'
        )
}

/// A token bucket for refusal log lines: `burst` lines at once, then `per_sec` a second. What
/// it holds back is counted and reported with the next line it lets through.
#[derive(Debug)]
pub struct RefusalLimiter {
    per_sec: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
    suppressed: u64,
}

impl RefusalLimiter {
    /// A limiter allowing `burst` lines at once and `per_sec` a second after that.
    pub fn new(per_sec: u32, burst: u32) -> Self {
        RefusalLimiter {
            per_sec: f64::from(per_sec),
            burst: f64::from(burst.max(1)),
            state: Mutex::new(Bucket {
                tokens: f64::from(burst.max(1)),
                last: None,
                suppressed: 0,
            }),
        }
    }

    /// Whether a line may be written at `now`: `Some(n)` with the number of lines held back
    /// since the last one written, or `None` to hold this one back.
    pub fn admit(&self, now: Instant) -> Option<u64> {
        let mut b = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(last) = b.last {
            let refill = now.saturating_duration_since(last).as_secs_f64() * self.per_sec;
            b.tokens = (b.tokens + refill).min(self.burst);
        }
        b.last = Some(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Some(std::mem::take(&mut b.suppressed))
        } else {
            b.suppressed += 1;
            None
        }
    }
}

impl Default for RefusalLimiter {
    /// 20 lines at once, then 5 a second.
    fn default() -> Self {
        RefusalLimiter::new(5, 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_error_chain_names_every_cause_once() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error connecting to server")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let words = refused.to_string();
        assert_eq!(
            error_chain(&Outer(refused)),
            format!("error connecting to server: {words}")
        );
        // A cause the message already quotes is not repeated.
        let io = std::io::Error::other("connection refused");
        assert_eq!(error_chain(&io), "connection refused");
    }

    #[test]
    fn escapes_everything_that_could_forge_or_hide_a_line() {
        assert_eq!(quoted("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(quoted("\u{1b}[31mred"), r#""\u{1b}[31mred""#);
        assert_eq!(quoted("id\u{202E}gpj.exe"), r#""id\u{202e}gpj.exe""#);
        assert_eq!(quoted("x\u{2028}y\u{feff}"), r#""x\u{2028}y\u{feff}""#);
        assert_eq!(quoted("日本"), "\"日本\"");
        let forged = quoted("k4.pid.x\n2026-11-29T00:00:00Z INFO admin logged in");
        assert!(!forged.contains('\n'), "{forged}");
    }

    #[test]
    fn redact_takes_every_spelling_of_the_secret_out() {
        assert_eq!(
            redact("license LC7Q-9xkd is invalid (LC7Q-9XKD)", "lc7q-9xkd"),
            "license <redacted> is invalid (<redacted>)"
        );
        assert_eq!(redact("nothing here", "LC7Q"), "nothing here");
        assert_eq!(redact("é LC7Q é", "lc7q"), "é <redacted> é");
        assert_eq!(redact("x", ""), "x");
    }

    #[test]
    fn cuts_long_values_on_a_character_boundary() {
        let long = "é".repeat(10_000);
        let q = quoted(&long);
        assert!(q.len() <= QUOTE_BYTES + 8, "{}", q.len());
        assert!(q.ends_with('…'));
        // Escapes count at their escaped length.
        let ctl = "\u{7}".repeat(1000);
        assert!(quoted(&ctl).len() <= QUOTE_BYTES + 8);
        assert_eq!(quoted_max("abc", 3), "\"abc\"");
        assert_eq!(quoted_max("abcd", 3), "\"abc\"…");
    }

    #[test]
    fn limiter_lets_a_burst_through_then_counts_what_it_holds_back() {
        let l = RefusalLimiter::new(2, 3);
        let t0 = Instant::now();
        assert_eq!(l.admit(t0), Some(0));
        assert_eq!(l.admit(t0), Some(0));
        assert_eq!(l.admit(t0), Some(0));
        assert_eq!(l.admit(t0), None);
        assert_eq!(l.admit(t0), None);
        // Half a second later one token is back, and the line reports the two held back.
        assert_eq!(l.admit(t0 + Duration::from_millis(500)), Some(2));
        assert_eq!(l.admit(t0 + Duration::from_millis(500)), None);
    }
}
