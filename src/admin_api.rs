//! The admin API's requests and answers, as one set of types: licd serves them
//! (`http::admin`) and licctl reads them (`cli::licenses`), so the two cannot drift apart.
//!
//! Answers carry no token unless the route is about one, and never a License 2.0 code except
//! where the ISV asked for that license's details.

use client_verifier::{Entitlements, Timestamp};
use serde::{Deserialize, Serialize};

use crate::job::{Job, Task};
use crate::license::{Kind, License, PERPETUAL, Status, Transfers};
use crate::service::{AuditTrail, Deactivated, LicenseDetail, OfflineSeat};
use crate::store::AuditEvent;

/// Licenses a list request returns when it names no limit.
pub const DEFAULT_LIMIT: usize = 100;
/// The most licenses one list request returns.
pub const MAX_LIMIT: usize = 1000;

/// A license as listed: everything but tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The license id.
    pub id: String,
    /// How it was sold.
    pub kind: Kind,
    /// Its status.
    pub status: Status,
    /// A dial-test (`testFlag=1`) purchase.
    pub test: bool,
    /// The customer id.
    pub customer: String,
    /// The customer's name, when the marketplace sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    /// The product.
    pub product: String,
    /// The SKU.
    pub sku: String,
    /// The catalog edition the license's entitlements come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edition: Option<String>,
    /// The order.
    pub order: String,
    /// Seats or devices bought.
    pub quantity: u32,
    /// Revisions signed so far.
    pub revision: u32,
    /// Valid from.
    pub nbf: Timestamp,
    /// Valid until; `null` for a one-off (perpetual) license.
    pub exp: Option<Timestamp>,
    /// Created.
    pub created: Timestamp,
    /// Last changed.
    pub updated: Timestamp,
    /// A license the ISV issued itself: `direct`, or `trial` for an evaluation; absent for a
    /// marketplace license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl From<&License> for Summary {
    fn from(l: &License) -> Self {
        Summary {
            id: l.id.clone(),
            kind: l.kind,
            status: l.status,
            test: l.test,
            customer: l.customer.clone(),
            customer_name: l.customer_name.clone(),
            product: l.product.clone(),
            sku: l.sku.clone(),
            edition: l.edition.clone(),
            order: l.order.clone(),
            quantity: l.quantity,
            revision: l.revision,
            nbf: l.nbf,
            exp: (l.exp < PERPETUAL).then_some(l.exp),
            created: l.created,
            updated: l.updated,
            origin: l.direct.as_ref().map(|d| d.origin().to_string()),
        }
    }
}

/// `GET /admin/v1/licenses`: one page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListResponse {
    /// The licenses found, in id order.
    pub licenses: Vec<Summary>,
    /// Pass as `after` for the next page; `null` when the scan reached the end.
    pub next: Option<String>,
}

/// `GET /admin/v1/licenses/{id}`, `POST /admin/v1/codes/lookup`: a license in full.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Detail {
    /// What a list shows.
    #[serde(flatten)]
    pub summary: Summary,
    /// License 2.0: the activation code (the ISV may see it; tokens and logs never do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// License 2.0: when licd activated the code with the marketplace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated: Option<Timestamp>,
    /// License 2.0: when the marketplace was last asked for the code's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked: Option<Timestamp>,
    /// Online activation: the order line.
    pub order_line: Option<String>,
    /// Charged by period.
    pub periodic: bool,
    /// When the order was last read from the marketplace.
    pub order_synced: Option<Timestamp>,
    /// The entitlements in its tokens.
    pub entitlements: Entitlements,
    /// License 1.0 seats taken through `/v1/activate` or an offline request.
    pub activations: Vec<SeatView>,
    /// Seats the customer gave back and took again, against the catalog's limit.
    pub transfers: Transfers,
    /// Online-activation device licenses.
    pub devices: Vec<DeviceView>,
    /// Site servers holding some of a floating license's seats, given back ones included.
    #[serde(default)]
    pub sites: Vec<crate::license::site::Site>,
}

impl From<LicenseDetail> for Detail {
    fn from(d: LicenseDetail) -> Self {
        let l = d.license;
        Detail {
            summary: Summary::from(&l),
            code: l.code,
            activated: l.activated,
            checked: l.checked,
            order_line: l.order_line,
            periodic: l.periodic,
            order_synced: l.order_synced,
            entitlements: l.entitlements,
            sites: l.sites,
            activations: d
                .seats
                .into_iter()
                .map(|a| SeatView {
                    seat: a.seat,
                    revision: a.revision,
                    created: a.created,
                    revoked: a.revoked,
                    offline: a.device_key.is_some(),
                    transfer: a.transfer,
                    deactivated: a.deactivated,
                })
                .collect(),
            transfers: d.transfers,
            devices: d
                .devices
                .into_iter()
                .map(|d| DeviceView {
                    event_id: d.event_id,
                    fingerprint: d.fingerprint,
                    nbf: d.nbf,
                    exp: (d.exp < PERPETUAL).then_some(d.exp),
                    created: d.created,
                    revoked: d.revoked,
                })
                .collect(),
        }
    }
}

/// A License 1.0 seat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeatView {
    /// Its number.
    pub seat: u32,
    /// The revision of its token.
    pub revision: u32,
    /// Taken.
    pub created: Timestamp,
    /// Freed.
    pub revoked: Option<Timestamp>,
    /// Taken by an air-gapped machine's request.
    pub offline: bool,
    /// Taken after the customer gave a seat back.
    pub transfer: bool,
    /// Given back by the customer (a deactivation receipt), not freed by the seller.
    pub deactivated: bool,
}

/// An online-activation device license.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceView {
    /// The marketplace's request.
    pub event_id: String,
    /// The device's fingerprint as sent.
    pub fingerprint: String,
    /// Valid from.
    pub nbf: Timestamp,
    /// Valid until (`null`: perpetual).
    pub exp: Option<Timestamp>,
    /// Minted.
    pub created: Timestamp,
    /// Revoked.
    pub revoked: Option<Timestamp>,
}

/// `GET …/token`, `POST …/reissue`: a license's token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The license id.
    pub id: String,
    /// The revision the token carries.
    pub revision: u32,
    /// The token.
    pub token: String,
}

/// The body of the code routes: the code travels in the body, never in a URL, since URLs reach
/// access logs and error lines and the code is a bearer secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The activation code.
    pub code: String,
}

/// `POST /admin/v1/codes/repair`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepairRequest {
    /// The activation code.
    pub code: String,
    /// The product bought.
    pub product: String,
    /// Devices bought.
    pub quantity: u32,
    /// The order, when known.
    pub order: Option<String>,
}

/// What `POST /admin/v1/codes/repair` recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepairResponse {
    /// The license id.
    pub id: String,
    /// The product.
    pub product: String,
    /// Devices.
    pub quantity: u32,
    /// The order.
    pub order: String,
    /// Whether the code was activated already (then reminted), or the values wait for its
    /// activation.
    pub activated: bool,
}

/// `POST …/reissue`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReissueRequest {
    /// Bind the new token to this device fingerprint.
    pub fingerprint: Option<String>,
    /// Why, for the audit log ([`crate::service::Reason`]).
    pub reason: Option<String>,
}

/// `POST /admin/v1/licenses`: a license the ISV issues itself. Give `days` or `expires`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLicenseRequest {
    /// The product (its catalog entry's terms apply; it must be listed when a catalog is set).
    pub product: String,
    /// The SKU (the catalog's edition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// The customer's id in the ISV's books.
    pub customer: String,
    /// The customer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    /// Valid for this many days from now (1 to 36500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Valid until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
    /// Seats; the catalog entry's when absent, else 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<u32>,
    /// An evaluation (tokens say `origin: "trial"`).
    #[serde(default)]
    pub trial: bool,
    /// The ISV's own note (never in a token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `POST …/extend`: more time for a license the ISV issued. Give `days` (added to the later of
/// now and its current end) or `expires`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// Days to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// The new end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
    /// Keep a trial a trial (a longer evaluation); otherwise extending converts it to paid.
    #[serde(default)]
    pub trial: bool,
    /// Why, for the audit log (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /admin/v1/licenses`, `POST …/extend`: the license and its newest token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedResponse {
    /// The license.
    pub license: Summary,
    /// Its newest token, to deliver to the customer.
    pub token: String,
}

/// `POST …/revoke`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why, for the audit log (required: [`crate::service::Reason`]).
    pub reason: Option<String>,
}

/// One lease of a floating license, as `GET …/licenses/{id}/leases` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseView {
    /// The lease id (`licctl leases release` takes it).
    pub id: String,
    /// The seat.
    pub seat: u32,
    /// The running program, as it named itself.
    pub instance: String,
    /// When it was first granted.
    pub granted: Timestamp,
    /// When it ends unless renewed.
    pub expires: Timestamp,
    /// When the program gave it back.
    pub released: Option<Timestamp>,
    /// When an operator took it back (renewals refused from then on).
    pub force_released: Option<Timestamp>,
    /// Borrowed for offline use.
    pub borrowed: bool,
    /// Whether it holds its seat now.
    pub holds_seat: bool,
    /// When its seat is (or was) free.
    pub frees_at: Timestamp,
}

/// `GET …/licenses/{id}/leases`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeasesResponse {
    /// The license.
    pub license_id: String,
    /// Its seats.
    pub seats: u32,
    /// Leases holding a seat now.
    pub in_use: u32,
    /// Its leases, ended ones included for an hour, by lease id.
    pub leases: Vec<LeaseView>,
}

/// `POST /admin/v1/leases/release`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForceReleaseRequest {
    /// The lease id.
    pub lease: String,
    /// Why, for the audit log (required).
    pub reason: Option<String>,
}

/// `GET …/audit`: a license's history and the state of the one chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditResponse {
    /// The license.
    pub license_id: String,
    /// Its events, oldest first.
    pub events: Vec<AuditView>,
    /// The whole chain (not only this license's events: they are links of the one chain).
    pub chain: ChainView,
}

impl AuditResponse {
    /// The answer for license `id`'s trail.
    pub fn of(id: String, trail: AuditTrail) -> Self {
        AuditResponse {
            license_id: id,
            events: trail
                .records
                .into_iter()
                .map(|r| AuditView {
                    seq: r.seq,
                    hash: r.hash,
                    event: r.event,
                })
                .collect(),
            chain: match trail.chain {
                Ok(n) => ChainView {
                    intact: true,
                    records: Some(n),
                    broken_at: None,
                },
                Err(seq) => ChainView {
                    intact: false,
                    records: None,
                    broken_at: Some(seq),
                },
            },
        }
    }
}

/// One audit record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditView {
    /// Its place in the log.
    pub seq: u64,
    /// Its link.
    pub hash: String,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// The state of the audit log's hash chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainView {
    /// Every link holds.
    pub intact: bool,
    /// Records checked when intact.
    pub records: Option<u64>,
    /// The first record whose link does not hold.
    pub broken_at: Option<u64>,
}

/// `GET /admin/v1/revocations`: the signed list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevocationsResponse {
    /// Its number.
    pub seq: u64,
    /// The list token.
    pub list: String,
}

/// An outbox job as shown: the upload's token is left out (it is a license).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobView {
    /// The job id.
    pub id: String,
    /// The license it is about.
    pub license_id: String,
    /// The call it makes.
    pub kind: String,
    /// The marketplace event (uploads) or order (queries) it is about.
    pub subject: String,
    /// Attempts made.
    pub attempts: u32,
    /// Queued.
    pub created: Timestamp,
    /// Next attempt.
    pub next_at: Timestamp,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Given up on.
    pub dead: bool,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        let subject = match &j.task {
            Task::Upload { event_id, .. } => format!("event {event_id}"),
            Task::QueryOrder { order, order_line } => format!("order {order}/{order_line}"),
            Task::Usage { client, day, .. } => format!("usage of device {client} on {day}"),
        };
        JobView {
            kind: j.task.action().to_string(),
            subject,
            id: j.id,
            license_id: j.license_id,
            attempts: j.attempts,
            created: j.created,
            next_at: j.next_at,
            last_error: j.last_error,
            dead: j.dead,
        }
    }
}

/// `GET /admin/v1/outbox`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxResponse {
    /// The jobs.
    pub jobs: Vec<JobView>,
}

/// An activation request in a JSON body, on the public and the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// The `lor1.…` request.
    pub request: String,
}

/// The answer to an activation request, on the public and the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActivateResponse {
    /// The device-bound token.
    pub token: String,
    /// The license.
    pub license: String,
    /// The seat.
    pub seat: u32,
    /// The revision of the token.
    pub revision: u32,
    /// True when this request took the seat; false when the machine already held it.
    pub activated: bool,
    /// True when taking the seat counted as a transfer.
    pub transfer: bool,
}

impl From<OfflineSeat> for ActivateResponse {
    fn from(s: OfflineSeat) -> Self {
        ActivateResponse {
            token: s.token,
            license: s.license,
            seat: s.seat,
            revision: s.revision,
            activated: s.new,
            transfer: s.transfer,
        }
    }
}

/// The answer to a site request (`/v1/site/allot`), on the public and the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AllotResponse {
    /// The allotment token: `licd site serve --allotment FILE`.
    pub allotment: String,
    /// Its id.
    pub allotment_id: String,
    /// The license.
    pub license: String,
    /// Seats allotted.
    pub seats: u32,
    /// When it ends; a new request from the site before then renews it.
    pub expires_at: client_verifier::Timestamp,
    /// False when the site already had an allotment (this one supersedes it).
    pub new: bool,
}

impl From<crate::service::Allotment> for AllotResponse {
    fn from(a: crate::service::Allotment) -> Self {
        AllotResponse {
            allotment: a.token,
            allotment_id: a.id,
            license: a.license,
            seats: a.seats,
            expires_at: a.expires_at,
            new: a.new,
        }
    }
}

/// The answer to a site receipt (`/v1/site/return`), on the public and the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteReturnResponse {
    /// The license.
    pub license: String,
    /// Seats given back.
    pub seats: u32,
    /// When they are free: the end of the last lease the site signed.
    pub free_at: client_verifier::Timestamp,
    /// False when the allotment was given back before, or is from before the site's last
    /// return (nothing changed).
    pub returned: bool,
}

impl From<crate::service::SiteReturned> for SiteReturnResponse {
    fn from(r: crate::service::SiteReturned) -> Self {
        SiteReturnResponse {
            license: r.license,
            seats: r.seats,
            free_at: r.free_at,
            returned: r.new,
        }
    }
}

/// A deactivation receipt in a JSON body, on the public and the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeactivateRequest {
    /// The `ldr1.…` receipt.
    pub receipt: String,
}

/// The answer to a deactivation receipt, on the public and the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeactivateResponse {
    /// The license.
    pub license: String,
    /// The seat given back.
    pub seat: u32,
    /// Transfers made in the last 365 days.
    pub transfers_used: u32,
    /// Transfers allowed.
    pub transfers_limit: u32,
}

impl From<Deactivated> for DeactivateResponse {
    fn from(d: Deactivated) -> Self {
        DeactivateResponse {
            license: d.license,
            seat: d.seat,
            transfers_used: d.transfers.used,
            transfers_limit: d.transfers.limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What licd writes, licctl reads back as the same value.
    #[test]
    fn a_detail_survives_the_wire() {
        let l = crate::license::sample("lic-1", Status::Active);
        let detail = Detail::from(LicenseDetail {
            license: l.clone(),
            seats: Vec::new(),
            transfers: Transfers::count(&[], 2, l.created),
            devices: Vec::new(),
            leases: Vec::new(),
        });
        let wire = serde_json::to_value(&detail).unwrap();
        assert_eq!(wire["status"], "active");
        assert_eq!(wire["id"], "lic-1");
        let back: Detail = serde_json::from_value(wire).unwrap();
        assert_eq!(back.summary, Summary::from(&l));
        assert_eq!(back.transfers, detail.transfers);
    }
}

/// `GET /admin/v1/events?after=SEQ&limit=N&wait=SECS`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventsResponse {
    /// The events after `after`, oldest first.
    pub events: Vec<crate::events::Event>,
    /// What to pass as `after` next.
    pub next: u64,
    /// The newest event's seq when the page was read.
    pub head: u64,
}

/// `GET /admin/v1/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhooksResponse {
    /// The webhooks file, `null` when none is configured.
    pub source: Option<String>,
    /// Each endpoint and where it stands.
    pub endpoints: Vec<crate::webhooks::EndpointState>,
}

/// `POST /admin/v1/webhooks/{name}/replay`: send again every event after `after`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The seq after which events are sent again (0: the whole log).
    pub after: u64,
}

/// `POST /admin/v1/webhooks/{name}/test`: how the test delivery went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookTestResponse {
    /// Whether the endpoint answered 2xx.
    pub ok: bool,
    /// Its HTTP status, when it answered 2xx.
    pub status: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
    /// Milliseconds from sending to the answer.
    pub millis: u64,
}

/// The longest long poll of `GET /admin/v1/events` (`wait`), in seconds: under licctl's 60 s
/// request timeout and any proxy's usual one.
pub const MAX_WAIT_SECS: u64 = 30;

// ---- accounts and API tokens (admins only) ------------------------------------------------

/// `GET /admin/v1/users`: the team and its API tokens (never a hash or a secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsersResponse {
    /// Accounts by name.
    pub users: Vec<crate::service::UserView>,
    /// API tokens by id.
    pub tokens: Vec<crate::service::TokenView>,
}

/// `POST /admin/v1/users`: a new account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddUserRequest {
    /// Its name (a-z, 0-9, `.`, `_`, `-`).
    pub name: String,
    /// Its role.
    pub role: crate::accounts::Role,
}

/// `POST /admin/v1/users/{name}/role`: another role for an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// The new role.
    pub role: crate::accounts::Role,
}

/// `POST /admin/v1/users`, `POST …/users/{name}/reset`: the one-time secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretResponse {
    /// The account.
    pub name: String,
    /// The one-time secret the person uses on the console's welcome page to choose a
    /// password. It works once; licd keeps only its hash.
    pub secret: String,
}

/// `POST /admin/v1/tokens`: an API token for an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// The account it acts for.
    pub user: String,
    /// Its role: the account's (the default) or `viewer`.
    #[serde(default)]
    pub role: Option<crate::accounts::Role>,
    /// What it is for.
    #[serde(default)]
    pub label: String,
}

/// `POST /admin/v1/tokens`: the token, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenCreatedResponse {
    /// Its id, for `licctl tokens revoke`.
    pub id: String,
    /// The bearer token (`licd_<id>_<secret>`). licd keeps only a hash of the secret.
    pub token: String,
}
