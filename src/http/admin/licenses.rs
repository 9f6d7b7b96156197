//! `/admin/v1/licenses…`, `/admin/v1/revocations`, `/admin/v1/outbox…`: what licctl needs.
//!
//! Reads are the service's typed queries; every change goes through the service with the
//! actor from `X-Licd-Actor` and the operator's reason, so the audit event says who, what and
//! why. Requests and answers are `crate::admin_api`'s, which licctl reads too. Answers never
//! carry secrets; the only tokens returned are the ones asked for (`…/token`, `…/reissue`) and
//! the revocation list, which is public anyway.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use client_verifier::{DAY, Timestamp};
use serde::Deserialize;

use super::AdminState;
use crate::accounts::Principal;
use crate::admin_api::{
    AuditResponse, CodeRequest, CreateLicenseRequest, DEFAULT_LIMIT, Detail, ExtendRequest,
    ForceReleaseRequest, IssuedResponse, JobView, LeaseView, LeasesResponse, ListResponse,
    MAX_LIMIT, OutboxResponse, ReissueRequest, RepairRequest, RepairResponse, RevocationsResponse,
    RevokeRequest, Summary, TokenResponse,
};
use crate::http::error::ApiError;
use crate::license::{Kind, Status};
use crate::service::LicenseFilter;

/// Licenses read per request at most, matched or not: a filter that matches little still
/// answers quickly, with a cursor to go on from.
pub(super) const SCAN_BUDGET: usize = 10_000;

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/licenses", get(list).post(create))
        .route("/licenses/{id}/extend", post(extend))
        .route("/licenses/{id}", get(show))
        .route("/codes/lookup", post(show_code))
        .route("/codes/repair", post(repair_code))
        .route("/licenses/{id}/token", get(token))
        .route("/licenses/{id}/audit", get(audit))
        .route("/licenses/{id}/reissue", post(reissue))
        .route("/licenses/{id}/revoke", post(revoke))
        .route("/licenses/{id}/leases", get(leases))
        .route("/leases/release", post(force_release))
        .route("/revocations", get(revocations))
        .route("/keys/{kid}/revoke", post(revoke_key))
        .route("/outbox", get(outbox))
        .route("/outbox/{id}/retry", post(retry))
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
    let filter = LicenseFilter {
        status: q.status.as_deref().map(parse_status).transpose()?,
        kind: q.kind.as_deref().map(parse_kind).transpose()?,
        customer: q.customer.filter(|c| !c.is_empty()),
        product: q.product.filter(|p| !p.is_empty()),
        test: q.test,
        expiring_between: q
            .expiring_days
            .map(|d| (now, now.add_secs(i64::from(d) * DAY))),
        wide_bindings: q.wide_bindings.unwrap_or(false),
    };
    let page = st
        .service
        .search(q.after, &filter, limit, SCAN_BUDGET)
        .await?;
    Ok(Json(ListResponse {
        licenses: page.licenses.iter().map(Summary::from).collect(),
        next: page.next,
    }))
}

async fn show(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Detail>, ApiError> {
    Ok(Json(st.service.license_detail(&by, &id).await?.into()))
}

/// `POST /admin/v1/codes/lookup {code}`: the license of a License 2.0 activation code.
async fn show_code(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<CodeRequest>, JsonRejection>,
) -> Result<Json<Detail>, ApiError> {
    let Json(CodeRequest { code }) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let l = st.service.license_of_code(&code).await?;
    Ok(Json(st.service.license_detail(&by, &l.id).await?.into()))
}

/// `POST /admin/v1/codes/repair {code, product, quantity, order?}`: the purchase of a code
/// whose activation answer was lost, from the Seller Console's order (audited).
async fn repair_code(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<RepairRequest>, JsonRejection>,
) -> Result<Json<RepairResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let repair = crate::service::CodeRepair {
        product: req.product,
        order: req.order,
        quantity: req.quantity,
    };
    let l = st
        .service
        .repair_code(&req.code, repair, &by, Timestamp::now())
        .await?;
    // A repaired record holds its answer: what was just entered.
    let answer = l.code_answer.as_ref();
    Ok(Json(RepairResponse {
        product: answer.and_then(|a| a.product.clone()).unwrap_or_default(),
        quantity: answer.and_then(|a| a.quantity).unwrap_or_default(),
        order: answer.and_then(|a| a.order.clone()).unwrap_or_default(),
        activated: l.activated.is_some(),
        id: l.id,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenQuery {
    /// For an online-activation instance: the `eventId` of the device license wanted.
    event: Option<String>,
}

async fn token(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let detail = st.service.license_detail(&by, &id).await?;
    by.require_tokens(detail.license.direct.is_some())
        .map_err(crate::service::ServiceError::from)?;
    let l = detail.license;
    if let Some(event) = q.event {
        let mut found: Vec<_> = detail
            .devices
            .into_iter()
            .filter(|d| d.event_id == event && d.revoked.is_none())
            .collect();
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

async fn audit(
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<AuditResponse>, ApiError> {
    let trail = st.service.audit_trail(&id).await?;
    Ok(Json(AuditResponse::of(id, trail)))
}

async fn reissue(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
    body: Result<Json<ReissueRequest>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let done = st
        .service
        .reissue(
            &id,
            req.fingerprint.as_deref(),
            &by,
            req.reason.as_deref().unwrap_or(""),
            Timestamp::now(),
        )
        .await?;
    Ok(Json(TokenResponse {
        id: done.license.id,
        revision: done.license.revision,
        token: done.token,
    }))
}

/// The end a request asks for: `days` from `from`, or `expires`; exactly one.
fn requested_end(
    days: Option<u32>,
    expires: Option<Timestamp>,
    from: Timestamp,
) -> Result<Timestamp, ApiError> {
    match (days, expires) {
        (Some(d), None) if (1..=36_500).contains(&d) => Ok(from.add_secs(i64::from(d) * DAY)),
        (Some(_), None) => Err(ApiError::bad_request("days: 1 to 36500")),
        (None, Some(t)) => Ok(t),
        _ => Err(ApiError::bad_request(
            "give either days or expires (the end of the licensed period)",
        )),
    }
}

async fn create(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<CreateLicenseRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<IssuedResponse>), ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let now = Timestamp::now();
    let exp = requested_end(req.days, req.expires, now)?;
    let l = st
        .service
        .create_direct(
            crate::license::NewDirect {
                customer: req.customer,
                customer_name: req.customer_name,
                product: req.product,
                sku: req.sku.unwrap_or_default(),
                exp,
                seats: req.seats,
                trial: req.trial,
                note: req.note,
            },
            &by,
            now,
        )
        .await?;
    let token = l.current_token().unwrap_or_default().to_string();
    Ok((
        StatusCode::CREATED,
        Json(IssuedResponse {
            license: Summary::from(&l),
            token,
        }),
    ))
}

async fn extend(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
    body: Result<Json<ExtendRequest>, JsonRejection>,
) -> Result<Json<IssuedResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let now = Timestamp::now();
    let exp = match (req.days, req.expires) {
        (Some(d), None) if (1..=36_500).contains(&d) => {
            st.service.license(&id).await?.end_after_days(d, now)
        }
        _ => requested_end(req.days, req.expires, now)?,
    };
    let l = st
        .service
        .extend_direct(
            &id,
            exp,
            req.trial,
            &by,
            req.reason.as_deref().unwrap_or(""),
            now,
        )
        .await?;
    let token = l.current_token().unwrap_or_default().to_string();
    Ok(Json(IssuedResponse {
        license: Summary::from(&l),
        token,
    }))
}

async fn revoke(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
    body: Result<Json<RevokeRequest>, JsonRejection>,
) -> Result<Json<Summary>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let l = st
        .service
        .revoke(
            &id,
            &by,
            req.reason.as_deref().unwrap_or(""),
            Timestamp::now(),
        )
        .await?;
    Ok(Json(Summary::from(&l)))
}

/// `GET /admin/v1/licenses/{id}/leases`: a floating license's leases.
async fn leases(
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<LeasesResponse>, ApiError> {
    let l = st
        .service
        .store()
        .license(&id)
        .await
        .map_err(crate::service::ServiceError::from)?
        .ok_or_else(|| ApiError::not_found(format!("license {id} not found")))?;
    let linger = l.floating.map_or(0, |f| i64::from(f.linger_secs));
    let now = Timestamp::now();
    let leases = st.service.leases_of(&id).await?;
    let (in_use, _) = crate::license::lease::occupancy(&leases, now, linger);
    Ok(Json(LeasesResponse {
        license_id: id,
        seats: l.quantity,
        in_use,
        leases: leases.iter().map(|x| lease_view(x, now, linger)).collect(),
    }))
}

/// A lease as the admin API shows it.
pub(super) fn lease_view(
    x: &crate::license::lease::Lease,
    now: Timestamp,
    linger: i64,
) -> LeaseView {
    LeaseView {
        id: x.id.clone(),
        seat: x.seat,
        instance: x.instance.clone(),
        granted: x.granted,
        expires: x.expires,
        released: x.released,
        force_released: x.force_released,
        borrowed: x.borrowed,
        holds_seat: x.holds_seat(now, linger),
        frees_at: x.frees_at(linger),
    }
}

/// `POST /admin/v1/leases/release`: takes a lease back (its renewals are refused).
async fn force_release(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<ForceReleaseRequest>, JsonRejection>,
) -> Result<Json<LeaseView>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let lease = st
        .service
        .force_release_lease(req.lease.trim(), req.reason.as_deref().unwrap_or(""), &by)
        .await?;
    Ok(Json(lease_view(&lease, Timestamp::now(), 0)))
}

/// `POST /admin/v1/keys/{kid}/revoke`: signs again what a key the root revoked signed.
async fn revoke_key(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(kid): Path<String>,
    body: Result<Json<RevokeRequest>, JsonRejection>,
) -> Result<Json<crate::service::Resigned>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let done = st
        .service
        .resign_revoked_key(
            &kid,
            &by,
            req.reason.as_deref().unwrap_or(""),
            Timestamp::now(),
        )
        .await?;
    Ok(Json(done))
}

async fn revocations(State(st): State<AdminState>) -> Result<Json<RevocationsResponse>, ApiError> {
    let (seq, list) = st.service.revocation_list(Timestamp::now()).await?;
    Ok(Json(RevocationsResponse { seq, list }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxQuery {
    dead: Option<bool>,
}

async fn outbox(
    State(st): State<AdminState>,
    query: Result<Query<OutboxQuery>, QueryRejection>,
) -> Result<Json<OutboxResponse>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let jobs = st
        .service
        .jobs()
        .await?
        .into_iter()
        .filter(|j| q.dead.is_none_or(|d| j.dead == d))
        .map(JobView::from)
        .collect();
    Ok(Json(OutboxResponse { jobs }))
}

async fn retry(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let job = st.service.retry_job(&id, &by, Timestamp::now()).await?;
    Ok(Json(JobView::from(job)))
}
