//! `/admin/v1/licenses…`, `/admin/v1/revocations`, `/admin/v1/outbox…`: what licctl needs.
//!
//! Reads go to the store; every change goes through the service with the actor from
//! `X-Licd-Actor` and the operator's reason, so the audit event says who, what and why.
//! Answers never carry secrets; the only tokens returned are the ones asked for (`…/token`,
//! `…/reissue`) and the revocation list, which is public anyway.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use client_verifier::{DAY, Entitlements, Timestamp};
use serde::{Deserialize, Serialize};

use super::{AdminState, actor};
use crate::http::error::ApiError;
use crate::job::{Job, Task};
use crate::license::{Kind, License, PERPETUAL, Status};
use crate::store::{AuditEvent, Store};

/// Licenses read per request at most, matched or not: a filter that matches little still
/// answers quickly, with a cursor to go on from.
pub(super) const SCAN_BUDGET: usize = 10_000;
/// Licenses read from the store at a time while scanning.
const SCAN_CHUNK: usize = 500;
/// Page size when the request names none, and the largest allowed.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1_000;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/licenses", get(list))
        .route("/licenses/{id}", get(show))
        .route("/codes/lookup", post(show_code))
        .route("/codes/repair", post(repair_code))
        .route("/licenses/{id}/token", get(token))
        .route("/licenses/{id}/audit", get(audit))
        .route("/licenses/{id}/reissue", post(reissue))
        .route("/licenses/{id}/revoke", post(revoke))
        .route("/revocations", get(revocations))
        .route("/outbox", get(outbox))
        .route("/outbox/{id}/retry", post(retry))
}

/// The answer of `work`: gives an async block's errors their type.
pub(super) async fn within<T>(
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    work.await
}

pub(super) fn store_error(e: crate::store::StoreError) -> ApiError {
    ApiError::from(crate::service::ServiceError::Store(e))
}

pub(super) async fn must_get(store: &dyn Store, id: &str) -> Result<License, ApiError> {
    store
        .license(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("no license with id {id:?}")))
}

/// A license as listed: everything but tokens.
#[derive(Serialize)]
pub(super) struct Summary {
    pub(super) id: String,
    pub(super) kind: Kind,
    pub(super) status: &'static str,
    pub(super) test: bool,
    pub(super) customer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) customer_name: Option<String>,
    pub(super) product: String,
    pub(super) sku: String,
    /// The catalog edition the license's entitlements come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) edition: Option<String>,
    pub(super) order: String,
    pub(super) quantity: u32,
    pub(super) revision: u32,
    pub(super) nbf: Timestamp,
    /// `null` for a one-off (perpetual) license.
    pub(super) exp: Option<Timestamp>,
    pub(super) created: Timestamp,
    pub(super) updated: Timestamp,
}

impl From<&License> for Summary {
    fn from(l: &License) -> Self {
        Summary {
            id: l.id.clone(),
            kind: l.kind,
            status: l.status.as_str(),
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
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    kind: Option<String>,
    customer: Option<String>,
    product: Option<String>,
    test: Option<bool>,
    expiring_days: Option<u32>,
    wide_bindings: Option<bool>,
    after: Option<String>,
    limit: Option<usize>,
}

/// The filters of a list request, checked.
pub(super) struct Filter {
    pub(super) status: Option<Status>,
    pub(super) kind: Option<Kind>,
    pub(super) customer: Option<String>,
    pub(super) product: Option<String>,
    pub(super) test: Option<bool>,
    /// Not released, with `exp` between now and this.
    pub(super) expiring_before: Option<(Timestamp, Timestamp)>,
    /// Only licenses with a live seat or device token bound to more than one disk or mainboard
    /// value (minted before the one-machine rule; worth reissuing).
    pub(super) wide_bindings: bool,
}

impl Filter {
    pub(super) fn matches(&self, l: &License) -> bool {
        self.status.is_none_or(|s| l.status == s)
            && self.kind.is_none_or(|k| l.kind == k)
            && self.customer.as_ref().is_none_or(|c| &l.customer == c)
            && self.product.as_ref().is_none_or(|p| &l.product == p)
            && self.test.is_none_or(|t| l.test == t)
            && self.expiring_before.is_none_or(|(now, until)| {
                l.status != Status::Released && l.exp >= now && l.exp <= until
            })
    }
}

fn parse_kind(s: &str) -> Result<Kind, ApiError> {
    match s {
        "classic" => Ok(Kind::Classic),
        "online" => Ok(Kind::Online),
        "code" => Ok(Kind::Code),
        other => Err(ApiError::bad_request(format!(
            "kind {other:?}: expected classic, online or code"
        ))),
    }
}

pub(super) fn parse_status(s: &str) -> Result<Status, ApiError> {
    match s {
        "active" => Ok(Status::Active),
        "frozen" => Ok(Status::Frozen),
        "released" => Ok(Status::Released),
        other => Err(ApiError::bad_request(format!(
            "status {other:?}: expected active, frozen or released"
        ))),
    }
}

#[derive(Serialize)]
pub(super) struct ListResponse {
    pub(super) licenses: Vec<Summary>,
    /// Pass as `after` for the next page; `null` when the scan reached the end.
    pub(super) next: Option<String>,
}

async fn list(
    State(st): State<AdminState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ListResponse>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit {limit}: expected 1 to {MAX_LIMIT}"
        )));
    }
    let now = Timestamp::now();
    let filter = Filter {
        status: q.status.as_deref().map(parse_status).transpose()?,
        kind: q.kind.as_deref().map(parse_kind).transpose()?,
        customer: q.customer.filter(|c| !c.is_empty()),
        product: q.product.filter(|p| !p.is_empty()),
        test: q.test,
        expiring_before: q
            .expiring_days
            .map(|d| (now, now.add_secs(i64::from(d) * DAY))),
        wide_bindings: q.wide_bindings.unwrap_or(false),
    };
    let store = st.store.clone();
    let page = scan(store.as_ref(), q.after, &filter, limit, SCAN_BUDGET).await?;
    Ok(Json(page))
}

/// Reads licenses in id order after `after` until `limit` match, the store ends, or `budget`
/// records were read; the cursor is the last id looked at, so the next page starts right after.
pub(super) async fn scan(
    store: &dyn Store,
    mut after: Option<String>,
    filter: &Filter,
    limit: usize,
    budget: usize,
) -> Result<ListResponse, ApiError> {
    let mut licenses = Vec::new();
    let mut scanned = 0;
    while scanned < budget {
        let chunk = SCAN_CHUNK.min(budget - scanned);
        let page = store
            .licenses_page(after.as_deref(), chunk)
            .await
            .map_err(store_error)?;
        let end = page.len() < chunk;
        for l in &page {
            scanned += 1;
            after = Some(l.id.clone());
            if filter.matches(l)
                && (!filter.wide_bindings || has_wide_binding(store, &l.id).await?)
            {
                licenses.push(Summary::from(l));
                if licenses.len() == limit {
                    // Whether anything follows is for the next request to find out.
                    return Ok(ListResponse {
                        licenses,
                        next: after,
                    });
                }
            }
        }
        if end {
            return Ok(ListResponse {
                licenses,
                next: None,
            });
        }
    }
    Ok(ListResponse {
        licenses,
        next: after,
    })
}

/// Whether a live seat or device token of license `id` has a wide binding.
async fn has_wide_binding(store: &dyn Store, id: &str) -> Result<bool, ApiError> {
    let seats = store.activations(id).await.map_err(store_error)?;
    let devices = store.devices_for(id).await.map_err(store_error)?;
    Ok(seats
        .iter()
        .any(|a| a.revoked.is_none() && a.wide_binding())
        || devices
            .iter()
            .any(|d| d.revoked.is_none() && d.wide_binding()))
}

#[derive(Serialize)]
struct Detail {
    #[serde(flatten)]
    summary: Summary,
    /// License 2.0: the activation code (the ISV may see it; tokens and logs never do).
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    /// License 2.0: when licd activated the code with the marketplace.
    #[serde(skip_serializing_if = "Option::is_none")]
    activated: Option<Timestamp>,
    /// License 2.0: when the marketplace was last asked for the code's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    checked: Option<Timestamp>,
    order_line: Option<String>,
    periodic: bool,
    order_synced: Option<Timestamp>,
    entitlements: Entitlements,
    /// License 1.0 seats taken through `/v1/activate` or an offline request.
    activations: Vec<SeatView>,
    /// Seats the customer gave back and took again, against the catalog's limit.
    transfers: crate::license::Transfers,
    /// Online-activation device licenses.
    devices: Vec<DeviceView>,
}

#[derive(Serialize)]
struct SeatView {
    seat: u32,
    revision: u32,
    created: Timestamp,
    revoked: Option<Timestamp>,
    /// Taken by an air-gapped machine's request.
    offline: bool,
    /// Taken after the customer gave a seat back.
    transfer: bool,
    /// Given back by the customer (a deactivation receipt), not freed by the seller.
    deactivated: bool,
}

#[derive(Serialize)]
struct DeviceView {
    event_id: String,
    fingerprint: String,
    nbf: Timestamp,
    exp: Option<Timestamp>,
    created: Timestamp,
    revoked: Option<Timestamp>,
}

async fn show(
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Detail>, ApiError> {
    let (service, store) = (st.service.clone(), st.store.clone());
    let detail = detail(&service, store.as_ref(), &id).await?;
    Ok(Json(detail))
}

/// The body of the code routes: the code travels in the body, never in a URL, since URLs reach
/// access logs and error lines and the code is a bearer secret.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    code: String,
}

/// `POST /admin/v1/codes/lookup {code}`: the license of a License 2.0 activation code.
async fn show_code(
    State(st): State<AdminState>,
    body: Result<Json<CodeRequest>, JsonRejection>,
) -> Result<Json<Detail>, ApiError> {
    let Json(CodeRequest { code }) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let code = code.trim().to_string();
    let (service, store) = (st.service.clone(), st.store.clone());
    let detail = within(async move {
        let id = store
            .order(&crate::store::OrderKey::Code(code))
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found("no license has this activation code"))?;
        detail(&service, store.as_ref(), &id).await
    })
    .await?;
    Ok(Json(detail))
}

async fn detail(
    service: &crate::service::Service,
    store: &dyn Store,
    id: &str,
) -> Result<Detail, ApiError> {
    let l = must_get(store, id).await?;
    let seats = store.activations(id).await.map_err(store_error)?;
    let transfers = service.transfers(&l, &seats, Timestamp::now());
    let activations = seats
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
        .collect();
    let devices = store
        .devices_for(id)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|d| DeviceView {
            event_id: d.event_id,
            fingerprint: d.fingerprint,
            nbf: d.nbf,
            exp: (d.exp < PERPETUAL).then_some(d.exp),
            created: d.created,
            revoked: d.revoked,
        })
        .collect();
    Ok(Detail {
        summary: Summary::from(&l),
        code: l.code,
        activated: l.activated,
        checked: l.checked,
        order_line: l.order_line,
        periodic: l.periodic,
        order_synced: l.order_synced,
        entitlements: l.entitlements,
        activations,
        transfers,
        devices,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepairRequest {
    code: String,
    product: String,
    quantity: u32,
    order: Option<String>,
}

/// `POST /admin/v1/codes/repair {code, product, quantity, order?}`: the purchase of a code
/// whose activation answer was lost, from the Seller Console's order (audited).
async fn repair_code(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<RepairRequest>, JsonRejection>,
) -> Result<Json<RepairResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let repair = crate::service::CodeRepair {
        product: req.product,
        order: req.order,
        quantity: req.quantity,
    };
    let id = st
        .service
        .repair_code(&req.code, repair, &actor(&headers), Timestamp::now())
        .await?;
    let store = st.store.clone();
    let l = must_get(store.as_ref(), &id).await?;
    let answer = l.code_answer.unwrap_or_else(|| unreachable_answer(&l.id));
    Ok(Json(RepairResponse {
        id: l.id,
        product: answer.product.unwrap_or_default(),
        quantity: answer.quantity.unwrap_or_default(),
        order: answer.order.unwrap_or_default(),
        activated: l.activated.is_some(),
    }))
}

/// A repaired record always holds its answer; should it not, say so rather than panic.
fn unreachable_answer(id: &str) -> crate::license::CodeAnswer {
    tracing::error!(license = %id, "a repaired code license holds no answer");
    crate::license::CodeAnswer {
        product: None,
        order: None,
        quantity: None,
        exp: None,
        at: Timestamp::now(),
        source: String::new(),
    }
}

#[derive(Serialize)]
struct RepairResponse {
    id: String,
    product: String,
    quantity: u32,
    order: String,
    /// Whether the code was activated already (then reminted), or the values wait for its
    /// activation.
    activated: bool,
}

#[derive(Serialize)]
struct TokenResponse {
    id: String,
    revision: u32,
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenQuery {
    /// For an online-activation instance: the `eventId` of the device license wanted.
    event: Option<String>,
}

async fn token(
    State(st): State<AdminState>,
    Path(id): Path<String>,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let store = st.store.clone();
    let (l, devices) = within(async move {
        let l = must_get(store.as_ref(), &id).await?;
        let devices = match q.event {
            Some(event) => Some((
                store
                    .devices_for(&l.id)
                    .await
                    .map_err(store_error)?
                    .into_iter()
                    .filter(|d| d.event_id == event && d.revoked.is_none())
                    .collect::<Vec<_>>(),
                event,
            )),
            None => None,
        };
        Ok((l, devices))
    })
    .await?;
    if let Some((mut found, event)) = devices {
        // One device license per event; two fingerprints under one event is a marketplace
        // oddity the support engineer should see rather than have picked for them.
        return match (found.pop(), found.is_empty()) {
            (Some(d), true) => Ok(Json(TokenResponse {
                token: d.token,
                revision: l.revision,
                id: l.id,
            })),
            (Some(_), false) => Err(ApiError::new(
                StatusCode::CONFLICT,
                "ambiguous",
                format!(
                    "instance {} has several device licenses for event {event}; `licctl licenses show {}` lists them",
                    l.id, l.id
                ),
            )),
            (None, _) => Err(ApiError::not_found(format!(
                "instance {} has no device license for event {event} (or it was revoked); `licctl licenses show {}` lists its devices",
                l.id, l.id
            ))),
        };
    }
    match l.current_token() {
        Some(t) => Ok(Json(TokenResponse {
            token: t.to_string(),
            revision: l.revision,
            id: l.id,
        })),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_token",
            format!(
                "license {} has no license-wide token: online-activation tokens are per device; give --event EVENT_ID (see `licctl licenses show {}`)",
                l.id, l.id
            ),
        )),
    }
}

#[derive(Serialize)]
struct AuditResponse {
    license_id: String,
    events: Vec<AuditView>,
    chain: ChainView,
}

#[derive(Serialize)]
struct AuditView {
    seq: u64,
    hash: String,
    #[serde(flatten)]
    event: AuditEvent,
}

/// The state of the whole audit log's hash chain (not only this license's events: they are
/// links of the one chain).
#[derive(Serialize)]
struct ChainView {
    intact: bool,
    /// Records checked when intact.
    records: Option<u64>,
    /// The first record whose link does not hold.
    broken_at: Option<u64>,
}

async fn audit(
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<AuditResponse>, ApiError> {
    let store = st.store.clone();
    let answer = within(async move {
        must_get(store.as_ref(), &id).await?;
        let events = store
            .audit_for(&id)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|r| AuditView {
                seq: r.seq,
                hash: r.hash,
                event: r.event,
            })
            .collect();
        let chain = match store.verify_audit_chain().await.map_err(store_error)? {
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
        };
        Ok(AuditResponse {
            license_id: id,
            events,
            chain,
        })
    })
    .await?;
    Ok(Json(answer))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReissueRequest {
    fingerprint: Option<String>,
    reason: Option<String>,
}

async fn reissue(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<ReissueRequest>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let reason = req.reason.as_deref().map(str::trim).unwrap_or("");
    let token = st
        .service
        .reissue(
            &id,
            req.fingerprint.as_deref(),
            &actor(&headers),
            reason,
            Timestamp::now(),
        )
        .await?;
    let store = st.store.clone();
    let l = must_get(store.as_ref(), &id).await?;
    Ok(Json(TokenResponse {
        id: l.id,
        revision: l.revision,
        token,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    reason: Option<String>,
}

async fn revoke(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<RevokeRequest>, JsonRejection>,
) -> Result<Json<Summary>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let reason = req.reason.as_deref().map(str::trim).unwrap_or("");
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "reason: required; say why the license is revoked (refund, fraud, leaked token)",
        ));
    }
    let l = st
        .service
        .revoke(&id, &actor(&headers), reason, Timestamp::now())
        .await?;
    Ok(Json(Summary::from(&l)))
}

#[derive(Serialize)]
struct RevocationsResponse {
    seq: u64,
    list: String,
}

async fn revocations(State(st): State<AdminState>) -> Result<Json<RevocationsResponse>, ApiError> {
    let service = st.service.clone();
    let (seq, list) = service.revocation_list(Timestamp::now()).await?;
    Ok(Json(RevocationsResponse { seq, list }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxQuery {
    dead: Option<bool>,
}

/// An outbox job as shown: the upload's token is left out (it is a license).
#[derive(Serialize)]
struct JobView {
    id: String,
    license_id: String,
    kind: &'static str,
    /// The marketplace event (uploads) or order (queries) it is about.
    subject: String,
    attempts: u32,
    created: Timestamp,
    next_at: Timestamp,
    last_error: Option<String>,
    dead: bool,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        let subject = match &j.task {
            Task::Upload { event_id, .. } => format!("event {event_id}"),
            Task::QueryOrder { order, order_line } => format!("order {order}/{order_line}"),
            Task::Usage { client, day, .. } => format!("usage of device {client} on {day}"),
        };
        JobView {
            kind: j.task.action(),
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

#[derive(Serialize)]
struct OutboxResponse {
    jobs: Vec<JobView>,
}

async fn outbox(
    State(st): State<AdminState>,
    query: Result<Query<OutboxQuery>, QueryRejection>,
) -> Result<Json<OutboxResponse>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let store = st.store.clone();
    let jobs = within(async move { store.jobs().await.map_err(store_error) }).await?;
    let jobs = jobs
        .into_iter()
        .filter(|j| q.dead.is_none_or(|d| j.dead == d))
        .map(JobView::from)
        .collect();
    Ok(Json(OutboxResponse { jobs }))
}

async fn retry(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let store = st.store.clone();
    let lookup = id.clone();
    if within(async move { store.job(&lookup).await.map_err(store_error) })
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!("no outbox job with id {id:?}")));
    }
    let job = st
        .service
        .retry_job(&id, &actor(&headers), Timestamp::now())
        .await?;
    Ok(Json(JobView::from(job)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::license::sample;
    use crate::store::{Batch, SledStore};

    fn store_with(n: usize) -> (tempfile::TempDir, SledStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 1 << 22).unwrap();
        let licenses = (0..n)
            .map(|i| {
                let mut l = sample(&format!("l-{i:04}"), Status::Active);
                l.customer = if i % 250 == 249 { "rare" } else { "common" }.into();
                l
            })
            .collect();
        store
            .apply(Batch {
                licenses,
                ..Batch::default()
            })
            .unwrap();
        (dir, store)
    }

    fn customer(c: &str) -> Filter {
        Filter {
            status: None,
            kind: None,
            customer: Some(c.into()),
            product: None,
            test: None,
            expiring_before: None,
            wide_bindings: false,
        }
    }

    #[tokio::test]
    async fn scan_stops_at_the_budget_with_a_cursor_and_resumes_without_gaps() {
        let (_dir, store) = store_with(1_000);
        // 1,000 licenses, 4 of them "rare", at most 300 read per request.
        let mut after = None;
        let mut found = Vec::new();
        let mut requests = 0;
        loop {
            let page = scan(&store, after, &customer("rare"), 10, 300)
                .await
                .unwrap();
            requests += 1;
            found.extend(page.licenses.into_iter().map(|l| l.id));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(found, ["l-0249", "l-0499", "l-0749", "l-0999"]);
        assert_eq!(requests, 4, "300 + 300 + 300 + 100 records");
    }

    #[tokio::test]
    async fn scan_returns_the_last_match_as_cursor_when_the_page_fills() {
        let (_dir, store) = store_with(30);
        let page = scan(&store, None, &customer("common"), 7, SCAN_BUDGET)
            .await
            .unwrap();
        assert_eq!(page.licenses.len(), 7);
        assert_eq!(page.next.as_deref(), Some("l-0006"));
        let rest = scan(&store, page.next, &customer("common"), 100, SCAN_BUDGET)
            .await
            .unwrap();
        assert_eq!(rest.licenses.len(), 23);
        assert_eq!(rest.licenses[0].id, "l-0007");
        assert_eq!(rest.next, None);
    }
}
