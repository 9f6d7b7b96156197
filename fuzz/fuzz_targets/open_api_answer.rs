//! The marketplace open API's answers: `parse_order` (order query), `parse_upload`, and the
//! License 2.0 `parse_activation` and `parse_code_query` on the input as a response body.
//!
//! The input is `<status byte><order id>\n<body>`: the first byte picks the HTTP status (200,
//! 400, 401, 429, 500, 503), the line after it is the order id asked for; without a newline the
//! rest is the body and the order id is `CS1`.
//!
//! Invariants:
//! - no panic on any body;
//! - an order read is the one asked for (`orderId` equal), answered with a 2xx;
//! - a code's state is read only from a 2xx, and its status is upper-case;
//! - every error is one line (no control characters), so a hostile body cannot forge log
//!   lines, and names the call;
//! - an error's retryability agrees with the status (5xx and 429 retry, other 4xx do not,
//!   unless the body's code says so).
#![no_main]

use libfuzzer_sys::fuzz_target;
use licd_fuzz::market_api::{CallError, code_activation, code_query, order, upload};

const STATUSES: [u16; 6] = [200, 400, 401, 429, 500, 503];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(first) % STATUSES.len()];
    let (order_id, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => match std::str::from_utf8(&rest[..at]) {
            Ok(id) => (id, &rest[at + 1..]),
            Err(_) => return,
        },
        None => ("CS1", rest),
    };
    match order(status, body, order_id) {
        Ok(info) => {
            assert_eq!(info.order_id, order_id);
            assert!((200..300).contains(&status), "{status}: {info:?}");
        }
        Err(e) => check(&e, status),
    }
    if let Err(e) = upload(status, body) {
        check(&e, status);
    }
    for read in [code_activation(status, body), code_query(status, body)] {
        match read {
            Ok(info) => {
                assert!((200..300).contains(&status), "{status}: {info:?}");
                assert_eq!(info.status, info.status.to_ascii_uppercase());
            }
            Err(e) => check(&e, status),
        }
    }
});

fn check(e: &CallError, status: u16) {
    let text = e.to_string();
    assert!(
        !text.chars().any(char::is_control),
        "an error message with a control character: {text:?}"
    );
    assert!(
        text.contains("CS1") || text.contains("query order"),
        "{text}"
    );
    if status >= 500 || status == 429 {
        assert!(e.retryable(), "{status} must be retryable: {text}");
    }
}
