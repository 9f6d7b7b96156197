//! licd: a license server for software sold as License goods on Huawei Cloud Marketplace
//! (KooGallery), and its admin CLI.
//!
//! The daemon answers the marketplace's callbacks and mints license tokens; the token format and
//! its offline verification live in the `client-verifier` crate, which the daemon uses to encode,
//! so issuer and verifier cannot drift apart.
//!
//! Modules:
//! - [`admin_client`]: the client side of the admin API (`licctl`, `licd backup`): address, token,
//!   actor header, errors as one line.
//! - [`backup`]: the single-file snapshot format (streamed, checksummed, audit chain checked on
//!   the way back in), and restoring one into an empty data directory.
//! - [`cli`]: the command lines of `licd` and `licctl`, and the commands that need no daemon
//!   (`licctl verify`, `licctl fingerprint`).
//! - [`config`]: `licd serve` settings from flags, `LICD_*` variables, a TOML file and defaults.
//! - [`crypto`]: hex, HMAC-SHA256, constant-time comparison and OS randomness, written once.
//! - [`http`]: the axum routers (marketplace callback, client API, air-gapped activation and its
//!   `/activate` page, admin API, the web console, health, metrics) and the server loop with
//!   rustls and graceful shutdown. Handlers are thin: extract, call the service, map the result.
//! - [`i18n`]: English and 简体中文: the message catalogs (Project Fluent, `locales/`), the
//!   reader's language from the switch's cookie or `Accept-Language`, times labelled in UTC or
//!   China Standard Time.
//! - [`job`]: the outbox job record (an upload or an order query owed to the marketplace).
//! - [`keys`]: the signing key ring: one owner-only PASERK `k4.secret` file per ed25519 key in the
//!   key directory, a `current` file naming the one that signs; loading with ssh-style permission
//!   checks, first-start generation, crash-safe rotation that keeps old keys so tokens in the
//!   field keep verifying. Knows nothing of tokens or HTTP.
//! - [`license`]: the domain: license record, state machine (active, frozen, released), minting,
//!   idempotency keys. Knows nothing of axum, sled or the store.
//! - [`marketplace`]: the Huawei Cloud Marketplace wire protocol only: the access key, V1
//!   `authToken` and V2 `signature`/`nonce` checks on the raw request, each activity parsed into a
//!   typed `Callback`, result codes and signed (`Body-Sign`) answers, and the same signing for
//!   licctl's simulator and the tests. Keeps no state and takes `now` as an argument; knows
//!   nothing of storage or HTTP.
//! - [`market_api`]: licd's calls to the marketplace open API (query an order, upload a device
//!   license string), signed with the API gateway's `SDK-HMAC-SHA256` AK/SK scheme ([`market_api::sign`],
//!   pure), tried on `mkt.myhuaweicloud.com` then `.cn`, with errors that say whether a retry can
//!   help. Keeps no state; knows nothing of storage or of what the daemon does with an order.
//! - [`logsafe`]: strings from clients escaped and cut short before they reach a log line, and
//!   the rate limit on logged refusals of anonymous requests.
//! - [`net`]: CIDR ranges of trusted proxies and the client address behind them.
//! - [`outbox`]: the durable queue of calls licd owes the marketplace (device-license uploads,
//!   order queries), committed with the change that needs them and retried with backoff until
//!   they succeed or are parked as dead for an operator.
//! - [`private_file`]: owner-only secret files (atomic 0600 writes, mode checks) and the umask.
//! - [`ratelimit`]: limits per client address (an IPv6 /64) and in total on requests that cost a
//!   marketplace call.
//! - [`server`]: `licd serve` from start to stop: keys, access key, store, listener, shutdown.
//! - [`admin_api`]: the admin API's requests and answers, shared by licd and licctl.
//! - [`license_csv`]: the license list as CSV for spreadsheets, every cell guarded against
//!   formula injection (licctl and the console).
//! - [`service`]: the operations behind callbacks, the client API and the admin API, applied
//!   idempotently through one durability primitive (`transact`): look up, let the domain decide,
//!   commit one batch, flush.
//! - [`tls_check`]: a server certificate's validity as the marketplace's client sees it
//!   (rehearse, doctor).
//! - [`store`]: the `Store` trait, its sled implementation and its PostgreSQL one (several
//!   nodes, schema migrations, the copy from sled); atomic batches, group-committed flushes, the
//!   hash-chained audit log, V2 nonces.

//!
//! Citations of the form "protocol §N" point into `docs/marketplace-protocol.md`, the marketplace
//! protocol as licd implements it; the layout of the repository is in `docs/architecture.md`.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod accounts;
pub mod admin_api;
pub mod admin_client;
pub mod backup;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod events;
pub mod http;
pub mod i18n;
pub mod job;
pub mod keys;
pub mod license;
pub mod license_csv;
pub mod logsafe;
pub mod market_api;
pub mod marketplace;
pub mod net;
pub mod outbox;
pub mod pem;
pub mod private_file;
pub mod ratelimit;
pub mod server;
pub mod service;
pub mod store;
pub mod tls_check;
pub mod webhooks;
