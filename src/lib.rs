//! licd: a license server for software sold as License goods on Huawei Cloud Marketplace
//! (KooGallery), and its admin CLI.
//!
//! The daemon answers the marketplace's callbacks and mints license tokens; the token format and
//! its offline verification live in the `client-verifier` crate, which the daemon uses to encode,
//! so issuer and verifier cannot drift apart.
//!
//! Modules:
//! - [`cli`]: the command lines of `licd` and `licctl`, and the commands that need no daemon
//!   (`licctl verify`, `licctl fingerprint`).
//! - [`license`]: the domain: license record, state machine (active, frozen, released), minting,
//!   and the service that applies callbacks idempotently. Knows nothing of axum or sled.
//! - [`store`]: the `Store` trait and its sled implementation; atomic batches, group-committed
//!   flushes, the hash-chained audit log, V2 nonces.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod license;
pub mod store;
