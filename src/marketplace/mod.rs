//! The Huawei Cloud Marketplace (KooGallery) callback protocol, and nothing else.
//!
//! This module owns the wire format of the marketplace's calls to the ISV production address and
//! of licd's answers (protocol §3, §4, §8, §12):
//!
//! - the shared secret, [`AccessKey`], including the EU console's Base64 wrapping;
//! - the request signatures: License 1.0 `authToken`/`timeStamp` ([`verify_v1`]) and the V2
//!   `signature`/`timestamp`/`nonce` of online activation ([`verify_v2`]), checked on the raw
//!   query and body before anything is parsed, with constant-time comparisons;
//! - parsing each activity into a typed [`Callback`] ([`parse_v1`], [`parse_v2`]), with the
//!   documented mandatory fields, lengths and time formats;
//! - result codes ([`ResultCode`]), answers ([`Response`]) and their `Body-Sign` header;
//! - the marketplace's side of the same rules ([`sign_v1_query`], [`sign_v2_query`],
//!   [`verify_body_sign`]), so the simulator in licctl and the integration tests sign exactly as
//!   the daemon verifies: one implementation serves both ends.
//!
//! What it must not touch: storage, the HTTP framework, the clock and any state. `now` is an
//! argument; remembering V2 nonces for the replay window is the caller's job (it gets what to
//! remember from [`V2Verified`]). Whether an instance exists, idempotency and what a callback
//! does to a license belong to the domain (`license`), which receives a [`Callback`].
//!
//! A request goes: raw query (+ body) → `verify_*` → `parse_*` → [`Callback`] → domain →
//! [`Response`] (or [`Response::from_error`] for a [`ProtocolError`]) → body bytes and
//! [`Response::body_sign`].

#![deny(missing_docs)]

mod callback;
mod code;
mod json;
mod key;
mod response;
mod sign;
mod time;

pub use callback::{
    Callback, ExpireLicense, GetLicense, GetLicenseAsync, InstanceStatus, LicenseCode, NewInstance,
    PeriodType, QueryInstance, RefreshInstance, RefreshLicense, RefreshLicenseCode, RefreshScene,
    ReleaseInstance, ReleaseLicense, ReleaseLicenseCode, UpdateInstanceStatus,
    UpdateLicenseCodeStatus, UpgradeInstance, parse_v1, parse_v2,
};
pub use code::{ProtocolError, RefusalKind, ResultCode};
pub use key::AccessKey;
pub use response::{BODY_SIGN_HEADER, Response, body_sign_header, verify_body_sign};
pub use sign::{
    MAX_NONCE_LEN, Params, V2_WINDOW_SECS, V2Reading, V2Verified, random_nonce, sign_v1_query,
    sign_v2_query, sign_v2_query_as, v1_ambiguous, v1_auth_token, verify_v1, verify_v2,
    verify_v2_as,
};
pub use time::{format_time, parse_time};
