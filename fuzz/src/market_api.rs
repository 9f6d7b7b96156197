//! The daemon's open-API answer readers, compiled from `src/market_api/` (see the crate doc), with
//! plain entry points for the fuzz targets.

#[path = "../../src/market_api/error.rs"]
pub mod error;
#[path = "../../src/market_api/response.rs"]
pub mod response;

pub use error::CallError;
pub use response::{CodeInfo, OrderInfo};

/// `parse_order` on an answer with this status and body, for order `order_id`.
pub fn order(status: u16, body: &[u8], order_id: &str) -> Result<OrderInfo, CallError> {
    response::parse_order(&answer(status, body), order_id)
}

/// `parse_upload` on an answer with this status and body.
pub fn upload(status: u16, body: &[u8]) -> Result<(), CallError> {
    response::parse_upload(&answer(status, body))
}

/// `parse_activation` (License 2.0 activate) on an answer with this status and body.
pub fn code_activation(status: u16, body: &[u8]) -> Result<CodeInfo, CallError> {
    response::parse_activation(&answer(status, body))
}

/// `parse_code_query` (License 2.0 heartbeat) on an answer with this status and body.
pub fn code_query(status: u16, body: &[u8]) -> Result<CodeInfo, CallError> {
    response::parse_code_query(&answer(status, body))
}

fn answer(status: u16, body: &[u8]) -> response::Answer<'_> {
    response::Answer {
        call: "query order CS1",
        host: "https://mkt.example",
        status,
        body,
    }
}
