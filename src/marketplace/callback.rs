//! Each marketplace activity as a typed value, read from verified parameters (License 1.0,
//! protocol §4) or a V2 JSON body (online activation, protocol §12.3).
//!
//! Only the form of a callback is checked here: mandatory fields, lengths from the marketplace documentation's
//! tables, enumerations, time formats. Whether an instance exists or an order was seen before
//! is the domain's business.

use std::collections::BTreeMap;

use client_verifier::Timestamp;

use super::code::{ProtocolError, quoted};
use super::json::{JsonField, parse_object};
use super::sign::Params;
use super::time::parse_time;

/// A callback from the marketplace, one variant per activity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Callback {
    /// License 1.0 `getLicense`: a new purchase.
    GetLicense(GetLicense),
    /// License 1.0 `refreshLicense`: renewal or trial → formal.
    RefreshLicense(RefreshLicense),
    /// License 1.0 `expireLicense`: the order expired; freeze.
    ExpireLicense(ExpireLicense),
    /// License 1.0 `releaseLicense`: delete the license.
    ReleaseLicense(ReleaseLicense),
    /// Online activation `newInstance`: a new purchase.
    NewInstance(NewInstance),
    /// Online activation `refreshInstance`: renewal, trial → formal, renewal refund.
    RefreshInstance(RefreshInstance),
    /// Online activation `updateInstanceStatus`: freeze or unfreeze.
    UpdateInstanceStatus(UpdateInstanceStatus),
    /// Online activation `releaseInstance`: delete the instance.
    ReleaseInstance(ReleaseInstance),
    /// Online activation `getLicenseAsync`: a device asks for a license.
    GetLicenseAsync(GetLicenseAsync),
    /// `queryInstance` (SaaS V2 shape): the state of up to 100 instances.
    QueryInstance(QueryInstance),
    /// `upgradeInstance` (SaaS V2 shape): a specification change by a new order.
    UpgradeInstance(UpgradeInstance),
    /// License 2.0 `refreshLicenseCode`: renewal or refund of a renewal period.
    RefreshLicenseCode(RefreshLicenseCode),
    /// License 2.0 `updateLicenseCodeStatus`: freeze or unfreeze.
    UpdateLicenseCodeStatus(UpdateLicenseCodeStatus),
    /// License 2.0 `releaseLicenseCode`: release.
    ReleaseLicenseCode(ReleaseLicenseCode),
}

/// A License 2.0 activation code (授权码): a bearer secret the customer was given. `Debug` and
/// `Display` show a fixed placeholder, so a callback can be logged with `{:?}` safely.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LicenseCode(String);

impl LicenseCode {
    /// The code as the marketplace sent it, for the marketplace API and the store only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for LicenseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LicenseCode(<redacted>)")
    }
}

impl From<String> for LicenseCode {
    fn from(code: String) -> Self {
        LicenseCode(code)
    }
}

/// `refreshLicenseCode` (protocol §5.1): applied once per (`license`, `orderId`,
/// `orderLineId`, `scene`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshLicenseCode {
    /// `scene`: `RENEWAL` or `UNSUBSCRIBE_RENEWAL_PERIOD`.
    pub scene: RefreshScene,
    /// `orderId`: the renewal or refund order (≤ 64).
    pub order_id: String,
    /// `orderLineId` (≤ 64).
    pub order_line_id: String,
    /// `license`: the code (≤ 64).
    pub code: LicenseCode,
    /// `productId`: the new product when the period type changed (≤ 64).
    pub product_id: Option<String>,
    /// `expireTime`: the new, absolute expiry (earlier for a refund).
    pub expire_time: Timestamp,
    /// `testFlag`.
    pub test_flag: bool,
}

/// `updateLicenseCodeStatus` (protocol §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateLicenseCodeStatus {
    /// `license`: the code (≤ 64).
    pub code: LicenseCode,
    /// `status`.
    pub status: InstanceStatus,
    /// `testFlag`.
    pub test_flag: bool,
}

/// `releaseLicenseCode` (protocol §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseLicenseCode {
    /// `license`: the code (≤ 64).
    pub code: LicenseCode,
    /// `orderId`: the unsubscribe order, when that caused the release (≤ 64).
    pub order_id: Option<String>,
    /// `orderLineId` (≤ 64).
    pub order_line_id: Option<String>,
    /// `testFlag`.
    pub test_flag: bool,
}

impl Callback {
    /// The instance the callback concerns, when it names one (the first, for `queryInstance`).
    pub fn instance_id(&self) -> Option<&str> {
        match self {
            Callback::GetLicense(_) | Callback::NewInstance(_) => None,
            Callback::RefreshLicense(c) => Some(&c.instance_id),
            Callback::ExpireLicense(c) => Some(&c.instance_id),
            Callback::ReleaseLicense(c) => Some(&c.instance_id),
            Callback::RefreshInstance(c) => Some(&c.instance_id),
            Callback::UpdateInstanceStatus(c) => Some(&c.instance_id),
            Callback::ReleaseInstance(c) => Some(&c.instance_id),
            Callback::GetLicenseAsync(c) => Some(&c.instance_id),
            Callback::QueryInstance(c) => c.instance_ids.first().map(String::as_str),
            Callback::UpgradeInstance(c) => Some(&c.instance_id),
            // A code is a secret and no instance id: the service knows the license by it.
            Callback::RefreshLicenseCode(_)
            | Callback::UpdateLicenseCodeStatus(_)
            | Callback::ReleaseLicenseCode(_) => None,
        }
    }

    /// The License 2.0 code the callback concerns.
    pub fn code(&self) -> Option<&LicenseCode> {
        match self {
            Callback::RefreshLicenseCode(c) => Some(&c.code),
            Callback::UpdateLicenseCodeStatus(c) => Some(&c.code),
            Callback::ReleaseLicenseCode(c) => Some(&c.code),
            _ => None,
        }
    }

    /// The wire name of the activity, e.g. `"getLicense"`.
    pub fn activity(&self) -> &'static str {
        match self {
            Callback::GetLicense(_) => "getLicense",
            Callback::RefreshLicense(_) => "refreshLicense",
            Callback::ExpireLicense(_) => "expireLicense",
            Callback::ReleaseLicense(_) => "releaseLicense",
            Callback::NewInstance(_) => "newInstance",
            Callback::RefreshInstance(_) => "refreshInstance",
            Callback::UpdateInstanceStatus(_) => "updateInstanceStatus",
            Callback::ReleaseInstance(_) => "releaseInstance",
            Callback::GetLicenseAsync(_) => "getLicenseAsync",
            Callback::QueryInstance(_) => "queryInstance",
            Callback::UpgradeInstance(_) => "upgradeInstance",
            Callback::RefreshLicenseCode(_) => "refreshLicenseCode",
            Callback::UpdateLicenseCodeStatus(_) => "updateLicenseCodeStatus",
            Callback::ReleaseLicenseCode(_) => "releaseLicenseCode",
        }
    }

    /// Whether this is a debug or dial-test call (`testFlag` = 1): it must succeed and be
    /// idempotent like a real one, but must not bill or count as a production license.
    pub fn test_flag(&self) -> bool {
        match self {
            Callback::GetLicense(c) => c.test_flag,
            Callback::RefreshLicense(c) => c.test_flag,
            Callback::ExpireLicense(c) => c.test_flag,
            Callback::ReleaseLicense(c) => c.test_flag,
            Callback::NewInstance(c) => c.test_flag,
            Callback::RefreshInstance(c) => c.test_flag,
            Callback::UpdateInstanceStatus(c) => c.test_flag,
            Callback::ReleaseInstance(c) => c.test_flag,
            Callback::GetLicenseAsync(c) => c.test_flag,
            Callback::QueryInstance(c) => c.test_flag,
            Callback::UpgradeInstance(c) => c.test_flag,
            Callback::RefreshLicenseCode(c) => c.test_flag,
            Callback::UpdateLicenseCodeStatus(c) => c.test_flag,
            Callback::ReleaseLicenseCode(c) => c.test_flag,
        }
    }
}

/// `getLicense` (protocol §4.1). The idempotency key is `order_id`; `business_id` changes on every
/// resend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetLicense {
    /// `customerId`: the customer's account id (≤ 100).
    pub customer_id: String,
    /// `customerName`: the customer's account name (≤ 64).
    pub customer_name: Option<String>,
    /// `businessId`: differs on every request (≤ 64); the first one is the suggested instance id.
    pub business_id: String,
    /// `orderId`: the purchase order (≤ 64).
    pub order_id: String,
    /// `skuCode`: the specification, stable across period types (≤ 64).
    pub sku_code: Option<String>,
    /// `productId`: differs per period type (≤ 64).
    pub product_id: String,
    /// `expireTime`: approximate expiry, periodic goods only.
    pub expire_time: Option<Timestamp>,
    /// `periodType`: periodic goods only.
    pub period_type: Option<PeriodType>,
    /// `periodNumber`: how many periods (1–99).
    pub period_number: Option<u32>,
    /// `amount`: the purchased quantity, for quantity-priced goods (≥ 1).
    pub quantity: Option<u32>,
    /// `testFlag`.
    pub test_flag: bool,
}

/// `refreshLicense` (protocol §4.2). `order_id` is the renewal order; the license is `instance_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshLicense {
    /// `orderId`: the renewal (or trial conversion) order (≤ 64).
    pub order_id: String,
    /// `instanceId`: the license (≤ 64).
    pub instance_id: String,
    /// `productId`: the new product when the period type changed (≤ 64).
    pub product_id: Option<String>,
    /// `expireTime`: the new, absolute expiry.
    pub expire_time: Timestamp,
    /// `periodType`.
    pub period_type: Option<PeriodType>,
    /// `periodNumber` (1–99).
    pub period_number: Option<u32>,
    /// `trialToFormal` = 1: a trial converted to a paid license.
    pub trial_to_formal: bool,
    /// `testFlag`.
    pub test_flag: bool,
}

/// `expireLicense` (protocol §4.3, fields inferred): freeze `instance_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpireLicense {
    /// `instanceId` (≤ 64).
    pub instance_id: String,
    /// `orderId`: the purchase order (≤ 64).
    pub order_id: Option<String>,
    /// `testFlag`.
    pub test_flag: bool,
}

/// `releaseLicense` (protocol §4.4): delete `instance_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseLicense {
    /// `instanceId` (≤ 64).
    pub instance_id: String,
    /// `orderId`: the original purchase order (≤ 64).
    pub order_id: Option<String>,
    /// `testFlag`.
    pub test_flag: bool,
}

/// `newInstance` (protocol §12.3.1). Idempotency key: (`order_id`, `order_line_id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInstance {
    /// `orderId` (≤ 64).
    pub order_id: String,
    /// `orderLineId` (≤ 64).
    pub order_line_id: String,
    /// `businessId`: differs on every request (≤ 64).
    pub business_id: String,
    /// `testFlag`.
    pub test_flag: bool,
}

/// `refreshInstance` (protocol §12.3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshInstance {
    /// `scene`: why the expiry changes.
    pub scene: RefreshScene,
    /// `orderId`: the conversion, renewal or refunded renewal order (≤ 64).
    pub order_id: String,
    /// `orderLineId` (≤ 64).
    pub order_line_id: String,
    /// `instanceId` (≤ 64).
    pub instance_id: String,
    /// `productId`: the new product when the period type changed (≤ 64).
    pub product_id: Option<String>,
    /// `expireTime`: the new, absolute expiry (earlier for a refund).
    pub expire_time: Timestamp,
    /// `testFlag`.
    pub test_flag: bool,
}

/// `updateInstanceStatus` (protocol §12.3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateInstanceStatus {
    /// `instanceId` (≤ 64).
    pub instance_id: String,
    /// `status`.
    pub status: InstanceStatus,
    /// `testFlag`.
    pub test_flag: bool,
}

/// `releaseInstance` (protocol §12.3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseInstance {
    /// `instanceId` (≤ 64).
    pub instance_id: String,
    /// `orderId`: the unsubscribe order, when that caused the release (≤ 64).
    pub order_id: Option<String>,
    /// `orderLineId` (≤ 64).
    pub order_line_id: Option<String>,
    /// `testFlag`.
    pub test_flag: bool,
}

/// `getLicenseAsync` (protocol §12.3.5). A request is identified by (`instance_id`, `event_id`,
/// `device_fingerprint`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetLicenseAsync {
    /// `instanceId` (≤ 64).
    pub instance_id: String,
    /// `effectiveTime`: when the license starts.
    pub effective_time: Timestamp,
    /// `expireTime`: when it ends; required for periodic goods (`000902`, the domain's call);
    /// never before `effective_time`.
    pub expire_time: Option<Timestamp>,
    /// `eventId`: the marketplace's serial number for this request (≤ 64).
    pub event_id: String,
    /// `deviceFingerprint`: the device to bind to (≤ 1024).
    pub device_fingerprint: Option<String>,
    /// `testFlag`.
    pub test_flag: bool,
}

/// `queryInstance` (protocol §12.3.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryInstance {
    /// `instanceId`, split at commas: 1 to 100 non-empty ids (the field is ≤ 100 characters).
    pub instance_ids: Vec<String>,
    /// `testFlag`.
    pub test_flag: bool,
}

/// `upgradeInstance` (protocol §12.3.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeInstance {
    /// `instanceId`: unchanged by the upgrade (≤ 64).
    pub instance_id: String,
    /// `orderId`: the upgrade order (≤ 64).
    pub order_id: String,
    /// `orderLineId` (≤ 64).
    pub order_line_id: String,
    /// `testFlag`.
    pub test_flag: bool,
}

/// The longest time value read: the longest accepted format is 21 characters.
const MAX_TIME_CHARS: usize = 32;

/// `periodType` of periodic goods. Informational: licd takes the expiry from `expireTime`, so a
/// period type it does not know never refuses a purchase (the customer has paid).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PeriodType {
    /// `year`.
    Year,
    /// `month`.
    Month,
    /// `day` (seen on the marketplace though not in the License 1.0 tables).
    Day,
    /// Anything else, as sent.
    Other(String),
}

impl PeriodType {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            PeriodType::Year => "year",
            PeriodType::Month => "month",
            PeriodType::Day => "day",
            PeriodType::Other(s) => s,
        }
    }
}

/// `scene` of `refreshInstance`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefreshScene {
    /// `TRIAL_TO_FORMAL`: a trial converted to a paid instance.
    TrialToFormal,
    /// `RENEWAL`.
    Renewal,
    /// `UNSUBSCRIBE_RENEWAL_PERIOD`: a renewal period refunded; the expiry moves earlier.
    UnsubscribeRenewalPeriod,
    /// `RENEWAL_CHANGE`: a renewal with a change (SaaS V2 page; treat as a renewal).
    RenewalChange,
}

impl RefreshScene {
    /// The marketplace's name for the scene, as sent (`RENEWAL`, …). Stable: it is part of
    /// stored idempotency keys.
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshScene::TrialToFormal => "TRIAL_TO_FORMAL",
            RefreshScene::Renewal => "RENEWAL",
            RefreshScene::UnsubscribeRenewalPeriod => "UNSUBSCRIBE_RENEWAL_PERIOD",
            RefreshScene::RenewalChange => "RENEWAL_CHANGE",
        }
    }
}

/// `status` of `updateInstanceStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InstanceStatus {
    /// `FREEZE` (also read from `FROZEN`).
    Freeze,
    /// `UNFREEZE` (also read from `UNFROZEN`).
    Unfreeze,
}

/// Most ids in the marketplace documentation's tables are at most 64 characters.
const ID: usize = 64;
const MAX_QUERY_IDS: usize = 100;

/// Reads a License 1.0 callback from parameters [`verify_v1`](super::verify_v1) accepted.
///
/// Errors are `000002` naming the field: an unknown `activity` (online-activation activities
/// included: they travel as V2 JSON), a missing mandatory field, an over-long value, a bad time
/// or enumeration. An empty value counts as absent; unknown parameters are ignored.
pub fn parse_v1(params: &Params) -> Result<Callback, ProtocolError> {
    let f = Fields::Query(params);
    let activity = f.required("activity", 32)?;
    Ok(match activity.as_str() {
        "getLicense" => Callback::GetLicense(GetLicense {
            customer_id: f.required("customerId", 100)?,
            customer_name: f.optional("customerName", 64)?,
            business_id: f.required("businessId", ID)?,
            order_id: f.required("orderId", ID)?,
            sku_code: f.optional("skuCode", ID)?,
            product_id: f.required("productId", ID)?,
            expire_time: f.time("expireTime", 20)?,
            period_type: f.period_type()?,
            period_number: f.period_number()?,
            quantity: f.positive("amount", u32::MAX)?,
            test_flag: f.test_flag()?,
        }),
        "refreshLicense" => Callback::RefreshLicense(RefreshLicense {
            order_id: f.required("orderId", ID)?,
            instance_id: f.required("instanceId", ID)?,
            product_id: f.optional("productId", ID)?,
            expire_time: f.required_time("expireTime", 20)?,
            period_type: f.period_type()?,
            period_number: f.period_number()?,
            trial_to_formal: f.flag("trialToFormal")?,
            test_flag: f.test_flag()?,
        }),
        "expireLicense" => Callback::ExpireLicense(ExpireLicense {
            instance_id: f.required("instanceId", ID)?,
            order_id: f.optional("orderId", ID)?,
            test_flag: f.test_flag()?,
        }),
        "releaseLicense" => Callback::ReleaseLicense(ReleaseLicense {
            instance_id: f.required("instanceId", ID)?,
            order_id: f.optional("orderId", ID)?,
            test_flag: f.test_flag()?,
        }),
        other => {
            return Err(ProtocolError::invalid(
                "activity",
                format!("unknown License 1.0 activity {}", quoted(other)),
            ));
        }
    })
}

/// Reads an online-activation callback from its JSON body (after
/// [`verify_v2`](super::verify_v2) accepted it).
///
/// The body must be strict UTF-8 and one JSON object with no key repeated at any depth.
/// String fields must be JSON strings; `testFlag` may be `"0"`/`"1"`/`0`/`1`; `null` and `""`
/// count as absent; unknown fields are ignored. Errors are `000002` naming the field (`body` for
/// the JSON itself).
pub fn parse_v2(body: &[u8]) -> Result<Callback, ProtocolError> {
    let object = parse_object(body)?;
    let f = Fields::Json(&object);
    let activity = f.required("activity", 32)?;
    Ok(match activity.as_str() {
        "newInstance" => Callback::NewInstance(NewInstance {
            order_id: f.required("orderId", ID)?,
            order_line_id: f.required("orderLineId", ID)?,
            business_id: f.required("businessId", ID)?,
            test_flag: f.test_flag()?,
        }),
        "refreshInstance" => Callback::RefreshInstance(RefreshInstance {
            scene: f.scene()?,
            order_id: f.required("orderId", ID)?,
            order_line_id: f.required("orderLineId", ID)?,
            instance_id: f.required("instanceId", ID)?,
            product_id: f.optional("productId", ID)?,
            expire_time: f.required_time("expireTime", 20)?,
            test_flag: f.test_flag()?,
        }),
        "updateInstanceStatus" => Callback::UpdateInstanceStatus(UpdateInstanceStatus {
            instance_id: f.required("instanceId", ID)?,
            status: f.status()?,
            test_flag: f.test_flag()?,
        }),
        "releaseInstance" => Callback::ReleaseInstance(ReleaseInstance {
            instance_id: f.required("instanceId", ID)?,
            order_id: f.optional("orderId", ID)?,
            order_line_id: f.optional("orderLineId", ID)?,
            test_flag: f.test_flag()?,
        }),
        "getLicenseAsync" => {
            let effective_time = f.required_time("effectiveTime", 32)?;
            let expire_time = f.time("expireTime", 32)?;
            if expire_time.is_some_and(|end| end < effective_time) {
                return Err(ProtocolError::invalid(
                    "expireTime",
                    "earlier than effectiveTime",
                ));
            }
            Callback::GetLicenseAsync(GetLicenseAsync {
                instance_id: f.required("instanceId", ID)?,
                effective_time,
                expire_time,
                event_id: f.required("eventId", ID)?,
                device_fingerprint: f.optional("deviceFingerprint", 1024)?,
                test_flag: f.test_flag()?,
            })
        }
        "queryInstance" => Callback::QueryInstance(QueryInstance {
            instance_ids: f.instance_ids()?,
            test_flag: f.test_flag()?,
        }),
        "upgradeInstance" => Callback::UpgradeInstance(UpgradeInstance {
            instance_id: f.required("instanceId", ID)?,
            order_id: f.required("orderId", ID)?,
            order_line_id: f.required("orderLineId", ID)?,
            test_flag: f.test_flag()?,
        }),
        "refreshLicenseCode" => Callback::RefreshLicenseCode(RefreshLicenseCode {
            scene: f.scene()?,
            order_id: f.required("orderId", ID)?,
            order_line_id: f.required("orderLineId", ID)?,
            code: f.required("license", ID)?.into(),
            product_id: f.optional("productId", ID)?,
            expire_time: f.required_time("expireTime", 20)?,
            test_flag: f.test_flag()?,
        }),
        "updateLicenseCodeStatus" => Callback::UpdateLicenseCodeStatus(UpdateLicenseCodeStatus {
            code: f.required("license", ID)?.into(),
            status: f.status()?,
            test_flag: f.test_flag()?,
        }),
        "releaseLicenseCode" => Callback::ReleaseLicenseCode(ReleaseLicenseCode {
            code: f.required("license", ID)?.into(),
            order_id: f.optional("orderId", ID)?,
            order_line_id: f.optional("orderLineId", ID)?,
            test_flag: f.test_flag()?,
        }),
        other => {
            return Err(ProtocolError::invalid(
                "activity",
                format!(
                    "unknown activity {} for a POST callback (online activation or License 2.0)",
                    quoted(other)
                ),
            ));
        }
    })
}

/// Where a callback's fields come from; both generations share the checks below.
enum Fields<'a> {
    Query(&'a Params),
    Json(&'a BTreeMap<String, JsonField>),
}

/// A present, non-empty value.
enum Raw<'a> {
    Str(&'a str),
    Int(i64),
}

impl Fields<'_> {
    fn raw(&self, name: &str) -> Result<Option<Raw<'_>>, ProtocolError> {
        let raw = match self {
            Fields::Query(params) => params.get(name).map(Raw::Str),
            Fields::Json(object) => match object.get(name) {
                None | Some(JsonField::Null) => None,
                Some(JsonField::Str(s)) => Some(Raw::Str(s)),
                Some(JsonField::Int(i)) => Some(Raw::Int(*i)),
                Some(JsonField::Other(kind)) => {
                    return Err(ProtocolError::invalid(
                        name,
                        format!("expected a string, got {kind}"),
                    ));
                }
            },
        };
        Ok(raw.filter(|r| !matches!(r, Raw::Str(""))))
    }

    /// A string field of at most `max` characters, absent if missing or empty.
    fn optional(&self, name: &str, max: usize) -> Result<Option<String>, ProtocolError> {
        match self.raw(name)? {
            None => Ok(None),
            Some(Raw::Int(_)) => Err(ProtocolError::invalid(
                name,
                "expected a string, got a number",
            )),
            Some(Raw::Str(s)) => {
                if s.chars().count() > max {
                    return Err(ProtocolError::invalid(
                        name,
                        format!("longer than {max} characters"),
                    ));
                }
                if s.chars().any(crate::logsafe::is_unsafe) {
                    // Ids end up in keys, logs and tokens; no marketplace id contains one. Bidi
                    // and other format characters count too: they make one id display as another.
                    return Err(ProtocolError::invalid(name, "contains a control character"));
                }
                Ok(Some(s.to_owned()))
            }
        }
    }

    fn required(&self, name: &str, max: usize) -> Result<String, ProtocolError> {
        self.optional(name, max)?
            .ok_or_else(|| ProtocolError::invalid(name, "missing"))
    }

    /// A time field in any of the accepted formats, whatever length its table states: the
    /// documentation gives `String(20)` to fields whose own examples carry the 21-character
    /// `yyyy-MM-dd HH:mm:ss z`, so the declared length is not held against a time.
    fn time(&self, name: &str, _declared: usize) -> Result<Option<Timestamp>, ProtocolError> {
        self.optional(name, MAX_TIME_CHARS)?
            .map(|value| parse_time(name, &value))
            .transpose()
    }

    fn required_time(&self, name: &str, max: usize) -> Result<Timestamp, ProtocolError> {
        self.time(name, max)?
            .ok_or_else(|| ProtocolError::invalid(name, "missing"))
    }

    /// A `"0"`/`"1"` (or, in JSON, `0`/`1`) flag; absent means 0.
    fn flag(&self, name: &str) -> Result<bool, ProtocolError> {
        match self.raw(name)? {
            None | Some(Raw::Str("0") | Raw::Int(0)) => Ok(false),
            Some(Raw::Str("1") | Raw::Int(1)) => Ok(true),
            Some(Raw::Str(other)) => Err(ProtocolError::invalid(
                name,
                format!("expected \"0\" or \"1\", got {}", quoted(other)),
            )),
            Some(Raw::Int(other)) => Err(ProtocolError::invalid(
                name,
                format!("expected \"0\" or \"1\", got {other}"),
            )),
        }
    }

    fn test_flag(&self) -> Result<bool, ProtocolError> {
        self.flag("testFlag")
    }

    /// A whole number from 1 to `max` (digits in a string, or an integer in JSON).
    fn positive(&self, name: &str, max: u32) -> Result<Option<u32>, ProtocolError> {
        let bad =
            || ProtocolError::invalid(name, format!("expected a whole number from 1 to {max}"));
        let n = match self.raw(name)? {
            None => return Ok(None),
            Some(Raw::Int(i)) => u32::try_from(i).map_err(|_| bad())?,
            // u32's parser takes a leading '+'; the marketplace sends plain digits.
            Some(Raw::Str(s)) if s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse::<u32>().map_err(|_| bad())?
            }
            Some(Raw::Str(_)) => return Err(bad()),
        };
        if !(1..=max).contains(&n) {
            return Err(bad());
        }
        Ok(Some(n))
    }

    fn period_number(&self) -> Result<Option<u32>, ProtocolError> {
        self.positive("periodNumber", 99)
    }

    fn period_type(&self) -> Result<Option<PeriodType>, ProtocolError> {
        let Some(value) = self.optional("periodType", 10)? else {
            return Ok(None);
        };
        Ok(Some(match value.as_str() {
            "year" => PeriodType::Year,
            "month" => PeriodType::Month,
            "day" => PeriodType::Day,
            _ => PeriodType::Other(value),
        }))
    }

    fn scene(&self) -> Result<RefreshScene, ProtocolError> {
        let value = self.required("scene", 64)?;
        match value.as_str() {
            "TRIAL_TO_FORMAL" => Ok(RefreshScene::TrialToFormal),
            "RENEWAL" => Ok(RefreshScene::Renewal),
            "UNSUBSCRIBE_RENEWAL_PERIOD" => Ok(RefreshScene::UnsubscribeRenewalPeriod),
            "RENEWAL_CHANGE" => Ok(RefreshScene::RenewalChange),
            other => Err(ProtocolError::invalid(
                "scene",
                format!(
                    "expected TRIAL_TO_FORMAL, RENEWAL, UNSUBSCRIBE_RENEWAL_PERIOD or \
                     RENEWAL_CHANGE, got {}",
                    quoted(other)
                ),
            )),
        }
    }

    fn status(&self) -> Result<InstanceStatus, ProtocolError> {
        let value = self.required("status", 32)?;
        match value.as_str() {
            // FROZEN/UNFROZEN: seen in a public ISV (protocol §12.13); costs nothing to accept.
            "FREEZE" | "FROZEN" => Ok(InstanceStatus::Freeze),
            "UNFREEZE" | "UNFROZEN" => Ok(InstanceStatus::Unfreeze),
            other => Err(ProtocolError::invalid(
                "status",
                format!("expected FREEZE or UNFREEZE, got {}", quoted(other)),
            )),
        }
    }

    fn instance_ids(&self) -> Result<Vec<String>, ProtocolError> {
        let list = self.required("instanceId", 100)?;
        let ids: Vec<String> = list.split(',').map(|id| id.trim().to_owned()).collect();
        if ids.iter().any(String::is_empty) {
            return Err(ProtocolError::invalid("instanceId", "empty id in the list"));
        }
        if ids.iter().any(|id| id.chars().count() > ID) {
            return Err(ProtocolError::invalid(
                "instanceId",
                format!("an id is longer than {ID} characters"),
            ));
        }
        // The 100-character cap already bounds the count to 50; this holds the marketplace documentation's own limit
        // should the cap ever be raised.
        if ids.len() > MAX_QUERY_IDS {
            return Err(ProtocolError::invalid(
                "instanceId",
                format!("more than {MAX_QUERY_IDS} ids"),
            ));
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marketplace::{AccessKey, ResultCode, sign_v1_query, verify_v1};

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp::parse_rfc3339(rfc3339).unwrap()
    }

    /// A License 1.0 callback as the daemon sees it: signed, verified, parsed.
    fn v1(params: &[(&str, &str)]) -> Result<Callback, ProtocolError> {
        let key = AccessKey::new("ebf72724-bacc-414b-a86b-fda5bcc8153c");
        let now = at("2023-08-15T08:30:11Z");
        let query = sign_v1_query(&key, params, now);
        parse_v1(&verify_v1(&key, &query, now, Some(60)).unwrap())
    }

    fn v2(body: &str) -> Result<Callback, ProtocolError> {
        parse_v2(body.as_bytes())
    }

    fn invalid(result: Result<Callback, ProtocolError>) -> String {
        let err = result.unwrap_err();
        assert_eq!(err.code, ResultCode::InvalidParam, "{err}");
        err.message
    }

    const GET_LICENSE: [(&str, &str); 11] = [
        ("activity", "getLicense"),
        ("customerId", "68cbc86a"),
        ("customerName", "acme"),
        ("businessId", "61e834ba"),
        ("orderId", "CS1906666666ABCDE"),
        ("skuCode", "sku-1"),
        ("productId", "00301-666666-0--0"),
        ("expireTime", "20240727153156"),
        ("periodType", "year"),
        ("periodNumber", "1"),
        ("testFlag", "1"),
    ];

    fn without(
        params: &[(&'static str, &'static str)],
        name: &str,
    ) -> Vec<(&'static str, &'static str)> {
        params.iter().copied().filter(|(k, _)| *k != name).collect()
    }

    fn with(
        params: &[(&'static str, &'static str)],
        name: &'static str,
        value: &'static str,
    ) -> Vec<(&'static str, &'static str)> {
        let mut out = without(params, name);
        out.push((name, value));
        out
    }

    #[test]
    fn any_period_type_is_accepted_and_kept() {
        for (value, expected) in [
            ("day", PeriodType::Day),
            ("week", PeriodType::Other("week".into())),
            ("year", PeriodType::Year),
        ] {
            let Callback::GetLicense(g) = v1(&with(&GET_LICENSE, "periodType", value)).unwrap()
            else {
                panic!("not getLicense")
            };
            assert_eq!(g.period_type.as_ref(), Some(&expected));
            assert_eq!(expected.as_str(), value);
        }
    }

    #[test]
    fn parses_get_license_with_all_fields() {
        let mut params = GET_LICENSE.to_vec();
        params.push(("amount", "5"));
        params.push(("orderAmount", "99.5"));
        let callback = v1(&params).unwrap();
        assert_eq!(callback.activity(), "getLicense");
        assert!(callback.test_flag());
        assert_eq!(
            callback,
            Callback::GetLicense(GetLicense {
                customer_id: "68cbc86a".into(),
                customer_name: Some("acme".into()),
                business_id: "61e834ba".into(),
                order_id: "CS1906666666ABCDE".into(),
                sku_code: Some("sku-1".into()),
                product_id: "00301-666666-0--0".into(),
                expire_time: Some(at("2024-07-27T15:31:56Z")),
                period_type: Some(PeriodType::Year),
                period_number: Some(1),
                quantity: Some(5),
                test_flag: true,
            })
        );
    }

    #[test]
    fn parses_minimal_one_off_get_license() {
        let params = [
            ("activity", "getLicense"),
            ("customerId", "c"),
            ("businessId", "b"),
            ("orderId", "o"),
            ("productId", "p"),
            ("skuCode", ""),
        ];
        let Callback::GetLicense(c) = v1(&params).unwrap() else {
            panic!("not getLicense");
        };
        assert_eq!(
            (
                c.customer_name,
                c.sku_code,
                c.expire_time,
                c.period_type,
                c.quantity,
                c.test_flag
            ),
            (None, None, None, None, None, false)
        );
    }

    #[test]
    fn missing_field_message_names_it() {
        for name in [
            "customerId",
            "businessId",
            "orderId",
            "productId",
            "activity",
        ] {
            assert_eq!(
                invalid(v1(&without(&GET_LICENSE, name))),
                format!("{name}: missing")
            );
        }
        assert_eq!(
            invalid(v1(&with(&GET_LICENSE, "orderId", ""))),
            "orderId: missing"
        );
        assert_eq!(
            invalid(v2(
                r#"{"activity":"newInstance","orderId":"o","businessId":"b"}"#
            )),
            "orderLineId: missing"
        );
        assert_eq!(
            invalid(v2(
                r#"{"activity":"newInstance","orderId":null,"orderLineId":"l","businessId":"b"}"#
            )),
            "orderId: missing"
        );
        assert_eq!(invalid(v2(r#"{"orderId":"o"}"#)), "activity: missing");
    }

    #[test]
    fn rejects_over_long_fields_naming_them() {
        let long64 = "x".repeat(64);
        let long65 = "x".repeat(65);
        let ok = v1(&[
            ("activity", "releaseLicense"),
            ("instanceId", long64.as_str()),
        ]);
        assert!(ok.is_ok(), "{ok:?}");
        assert_eq!(
            invalid(v1(&[
                ("activity", "releaseLicense"),
                ("instanceId", long65.as_str())
            ])),
            "instanceId: longer than 64 characters"
        );
        // customerId allows 100; multi-byte characters count once.
        let c100 = "é".repeat(100);
        let c101 = "é".repeat(101);
        let mut params = with(&GET_LICENSE, "activity", "getLicense");
        params.retain(|(k, _)| *k != "customerId");
        let mut ok = params.clone();
        ok.push(("customerId", c100.as_str()));
        assert!(v1(&ok).is_ok());
        params.push(("customerId", c101.as_str()));
        assert_eq!(
            invalid(v1(&params)),
            "customerId: longer than 100 characters"
        );

        let fp = "F".repeat(1025);
        let body = format!(
            r#"{{"activity":"getLicenseAsync","instanceId":"i","eventId":"e","effectiveTime":"2023-10-27 10:30:15 z","deviceFingerprint":"{fp}"}}"#
        );
        assert_eq!(
            invalid(v2(&body)),
            "deviceFingerprint: longer than 1024 characters"
        );
        assert!(v2(&body.replace(&fp, &fp[1..])).is_ok());
    }

    #[test]
    fn rejects_bad_expire_time_naming_field() {
        assert_eq!(
            invalid(v1(&with(&GET_LICENSE, "expireTime", "2023-13-01"))),
            "expireTime: expected yyyyMMddHHmmss, yyyyMMddHHmmssSSS or yyyy-MM-dd HH:mm:ss z, \
             got \"2023-13-01\""
        );
        assert_eq!(
            invalid(v1(&with(&GET_LICENSE, "expireTime", "20230230000000"))),
            "expireTime: \"20230230000000\" is not a valid UTC date and time"
        );
        let refresh = [
            ("activity", "refreshLicense"),
            ("orderId", "o2"),
            ("instanceId", "i"),
        ];
        assert_eq!(invalid(v1(&refresh)), "expireTime: missing");
        // A time is judged by its format, not the table's String(20): 21 digits are no time.
        assert_eq!(
            invalid(v1(&with(&refresh, "expireTime", "123456789012345678901"))),
            "expireTime: expected yyyyMMddHHmmss, yyyyMMddHHmmssSSS or yyyy-MM-dd HH:mm:ss z, got \"123456789012345678901\""
        );
        let long = "111111111111111111111111111111111";
        assert_eq!(long.len(), 33);
        assert_eq!(
            invalid(v1(&with(&refresh, "expireTime", long))),
            "expireTime: longer than 32 characters"
        );
        // Every accepted format in every time field: the 21-character dashed form included.
        let Callback::RefreshLicense(r) =
            v1(&with(&refresh, "expireTime", "2025-01-31 08:00:00 z")).unwrap()
        else {
            panic!("not refreshLicense")
        };
        assert_eq!(
            r.expire_time,
            Timestamp::parse_rfc3339("2025-01-31T08:00:00Z").unwrap()
        );
    }

    #[test]
    fn unknown_activity_is_invalid_param_naming_it() {
        assert_eq!(
            invalid(v1(&[("activity", "getLicense2")])),
            "activity: unknown License 1.0 activity \"getLicense2\""
        );
        // Each generation has its own activities: a V2 name in a V1 query is unknown, and back.
        assert_eq!(
            invalid(v1(&[("activity", "newInstance")])),
            "activity: unknown License 1.0 activity \"newInstance\""
        );
        assert_eq!(
            invalid(v2(r#"{"activity":"getLicense"}"#)),
            "activity: unknown activity \"getLicense\" for a POST callback (online activation or License 2.0)"
        );
        assert_eq!(
            invalid(v1(&[("activity", "refreshLicenseCode")])),
            "activity: unknown License 1.0 activity \"refreshLicenseCode\""
        );
    }

    #[test]
    fn parses_the_license_2_callbacks_and_never_shows_the_code() {
        let Ok(Callback::RefreshLicenseCode(r)) = v2(
            r#"{"activity":"refreshLicenseCode","expireTime":"20230523201932","license":"SECRET-CODE","orderId":"CS1","orderLineId":"CS1-000001","productId":"P2","scene":"UNSUBSCRIBE_RENEWAL_PERIOD","testFlag":"1"}"#,
        ) else {
            panic!("not refreshLicenseCode")
        };
        assert_eq!(r.code.expose(), "SECRET-CODE");
        assert_eq!(r.scene, RefreshScene::UnsubscribeRenewalPeriod);
        assert_eq!(r.product_id.as_deref(), Some("P2"));
        assert!(r.test_flag);
        assert!(!format!("{r:?}").contains("SECRET"), "{r:?}");
        let Ok(Callback::UpdateLicenseCodeStatus(u)) =
            v2(r#"{"activity":"updateLicenseCodeStatus","license":"C1","status":"FREEZE"}"#)
        else {
            panic!("not updateLicenseCodeStatus")
        };
        assert_eq!((u.code.expose(), u.status), ("C1", InstanceStatus::Freeze));
        let Ok(Callback::ReleaseLicenseCode(rel)) =
            v2(r#"{"activity":"releaseLicenseCode","license":"C1","orderId":"U1"}"#)
        else {
            panic!("not releaseLicenseCode")
        };
        assert_eq!(rel.order_id.as_deref(), Some("U1"));
        assert_eq!(
            invalid(v2(r#"{"activity":"releaseLicenseCode"}"#)),
            "license: missing"
        );
    }

    #[test]
    fn parses_refresh_expire_and_release_license() {
        let refresh = v1(&[
            ("activity", "refreshLicense"),
            ("orderId", "CS-RENEW"),
            ("instanceId", "i-1"),
            ("productId", "p-year"),
            ("expireTime", "20250101000000"),
            ("periodType", "month"),
            ("periodNumber", "12"),
            ("trialToFormal", "1"),
            ("orderAmount", "12.345"),
        ])
        .unwrap();
        assert_eq!(
            refresh,
            Callback::RefreshLicense(RefreshLicense {
                order_id: "CS-RENEW".into(),
                instance_id: "i-1".into(),
                product_id: Some("p-year".into()),
                expire_time: at("2025-01-01T00:00:00Z"),
                period_type: Some(PeriodType::Month),
                period_number: Some(12),
                trial_to_formal: true,
                test_flag: false,
            })
        );
        assert_eq!(
            v1(&[
                ("activity", "expireLicense"),
                ("instanceId", "i-1"),
                ("orderId", "o")
            ])
            .unwrap(),
            Callback::ExpireLicense(ExpireLicense {
                instance_id: "i-1".into(),
                order_id: Some("o".into()),
                test_flag: false,
            })
        );
        let release = v1(&[
            ("activity", "releaseLicense"),
            ("instanceId", "i-1"),
            ("testFlag", "1"),
        ])
        .unwrap();
        assert_eq!(release.activity(), "releaseLicense");
        assert!(release.test_flag());
        assert_eq!(
            release,
            Callback::ReleaseLicense(ReleaseLicense {
                instance_id: "i-1".into(),
                order_id: None,
                test_flag: true,
            })
        );
    }

    #[test]
    fn rejects_bad_numbers_and_enumerations_naming_them() {
        for (name, value, message) in [
            (
                "periodNumber",
                "0",
                "periodNumber: expected a whole number from 1 to 99",
            ),
            (
                "periodNumber",
                "100",
                "periodNumber: expected a whole number from 1 to 99",
            ),
            (
                "periodNumber",
                "+1",
                "periodNumber: expected a whole number from 1 to 99",
            ),
            (
                "periodNumber",
                "one",
                "periodNumber: expected a whole number from 1 to 99",
            ),
            (
                "amount",
                "0",
                "amount: expected a whole number from 1 to 4294967295",
            ),
            (
                "amount",
                "99999999999",
                "amount: expected a whole number from 1 to 4294967295",
            ),
            (
                "testFlag",
                "2",
                "testFlag: expected \"0\" or \"1\", got \"2\"",
            ),
        ] {
            assert_eq!(invalid(v1(&with(&GET_LICENSE, name, value))), message);
        }
        assert_eq!(
            invalid(v1(&[
                ("activity", "refreshLicense"),
                ("orderId", "o"),
                ("instanceId", "i"),
                ("expireTime", "20250101000000"),
                ("trialToFormal", "yes"),
            ])),
            "trialToFormal: expected \"0\" or \"1\", got \"yes\""
        );
    }

    #[test]
    fn test_flag_accepts_strings_numbers_null_and_absence() {
        let base = r#"{"activity":"updateInstanceStatus","instanceId":"i","status":"FREEZE""#;
        for (flag, expected) in [
            (r#","testFlag":"1""#, true),
            (r#","testFlag":1"#, true),
            (r#","testFlag":"0""#, false),
            (r#","testFlag":0"#, false),
            (r#","testFlag":"""#, false),
            (r#","testFlag":null"#, false),
            ("", false),
        ] {
            let callback = v2(&format!("{base}{flag}}}")).unwrap();
            assert_eq!(callback.test_flag(), expected, "{flag}");
        }
        for (flag, message) in [
            (
                r#","testFlag":true"#,
                "testFlag: expected a string, got a boolean",
            ),
            (
                r#","testFlag":2"#,
                "testFlag: expected \"0\" or \"1\", got 2",
            ),
            (
                r#","testFlag":"true""#,
                "testFlag: expected \"0\" or \"1\", got \"true\"",
            ),
            (
                r#","testFlag":1.0"#,
                "testFlag: expected a string, got a number",
            ),
        ] {
            assert_eq!(invalid(v2(&format!("{base}{flag}}}"))), message, "{flag}");
        }
    }

    #[test]
    fn parses_spec_new_instance_example() {
        let callback = v2(r#"{"activity":"newInstance","businessId":"87b947**********-69420d60e3c8","orderId":"CS221118******","orderLineId":"CS22111********-000001","testFlag":"0"}"#).unwrap();
        assert_eq!(
            callback,
            Callback::NewInstance(NewInstance {
                order_id: "CS221118******".into(),
                order_line_id: "CS22111********-000001".into(),
                business_id: "87b947**********-69420d60e3c8".into(),
                test_flag: false,
            })
        );
        assert_eq!(callback.activity(), "newInstance");
    }

    #[test]
    fn parses_spec_refresh_instance_example_with_17_digit_expiry() {
        let callback = v2(r#"{"activity":"refreshInstance","expireTime":"20221124023618256","instanceId":"10e758d0-31ad********03469a10e","orderId":"CS2211*******VS","orderLineId":"CS221******000001","productId":"OFFI461******240","scene":"RENEWAL","testFlag":"0"}"#).unwrap();
        assert_eq!(
            callback,
            Callback::RefreshInstance(RefreshInstance {
                scene: RefreshScene::Renewal,
                order_id: "CS2211*******VS".into(),
                order_line_id: "CS221******000001".into(),
                instance_id: "10e758d0-31ad********03469a10e".into(),
                product_id: Some("OFFI461******240".into()),
                expire_time: at("2022-11-24T02:36:18Z"),
                test_flag: false,
            })
        );
    }

    #[test]
    fn reads_every_refresh_scene_and_rejects_others() {
        let body = |scene: &str| {
            format!(
                r#"{{"activity":"refreshInstance","scene":"{scene}","orderId":"o","orderLineId":"l","instanceId":"i","expireTime":"20250101000000"}}"#
            )
        };
        for (text, scene) in [
            ("TRIAL_TO_FORMAL", RefreshScene::TrialToFormal),
            ("RENEWAL", RefreshScene::Renewal),
            (
                "UNSUBSCRIBE_RENEWAL_PERIOD",
                RefreshScene::UnsubscribeRenewalPeriod,
            ),
            ("RENEWAL_CHANGE", RefreshScene::RenewalChange),
        ] {
            let Callback::RefreshInstance(c) = v2(&body(text)).unwrap() else {
                panic!("not refreshInstance");
            };
            assert_eq!(c.scene, scene);
        }
        assert!(invalid(v2(&body("renewal"))).starts_with("scene: expected TRIAL_TO_FORMAL"));
    }

    #[test]
    fn reads_freeze_and_unfreeze_in_both_spellings() {
        for (text, status) in [
            ("FREEZE", InstanceStatus::Freeze),
            ("FROZEN", InstanceStatus::Freeze),
            ("UNFREEZE", InstanceStatus::Unfreeze),
            ("UNFROZEN", InstanceStatus::Unfreeze),
        ] {
            let body = format!(
                r#"{{"activity":"updateInstanceStatus","instanceId":"10e75*********1b-81d03469a10e","status":"{text}","testFlag":"1"}}"#
            );
            assert_eq!(
                v2(&body).unwrap(),
                Callback::UpdateInstanceStatus(UpdateInstanceStatus {
                    instance_id: "10e75*********1b-81d03469a10e".into(),
                    status,
                    test_flag: true,
                })
            );
        }
        assert_eq!(
            invalid(v2(
                r#"{"activity":"updateInstanceStatus","instanceId":"i","status":"freeze"}"#
            )),
            "status: expected FREEZE or UNFREEZE, got \"freeze\""
        );
    }

    #[test]
    fn parses_spec_release_instance_example() {
        assert_eq!(
            v2(r#"{"activity":"releaseInstance","instanceId":"10e758d0**********-81d03469a10e","orderId":"CS22111********VS","orderLineId":"CS221118*******S-000001","testFlag":"0"}"#).unwrap(),
            Callback::ReleaseInstance(ReleaseInstance {
                instance_id: "10e758d0**********-81d03469a10e".into(),
                order_id: Some("CS22111********VS".into()),
                order_line_id: Some("CS221118*******S-000001".into()),
                test_flag: false,
            })
        );
        let Callback::ReleaseInstance(bare) =
            v2(r#"{"activity":"releaseInstance","instanceId":"i"}"#).unwrap()
        else {
            panic!("not releaseInstance");
        };
        assert_eq!((bare.order_id, bare.order_line_id), (None, None));
    }

    #[test]
    fn parses_spec_get_license_async_example() {
        let callback = v2(r#"{"activity":"getLicenseAsync","eventId":"8****e5694*****c8","instanceId":"RA2****4LVS",
 "effectiveTime":"2023-10-27 10:30:15 z","expireTime":"2024-10-27 10:30:15 z","deviceFingerprint":"8******6034e2*****60e1"}"#).unwrap();
        assert_eq!(
            callback,
            Callback::GetLicenseAsync(GetLicenseAsync {
                instance_id: "RA2****4LVS".into(),
                effective_time: at("2023-10-27T10:30:15Z"),
                expire_time: Some(at("2024-10-27T10:30:15Z")),
                event_id: "8****e5694*****c8".into(),
                device_fingerprint: Some("8******6034e2*****60e1".into()),
                test_flag: false,
            })
        );
    }

    #[test]
    fn rejects_get_license_async_ending_before_it_starts() {
        assert_eq!(
            invalid(v2(
                r#"{"activity":"getLicenseAsync","instanceId":"i","eventId":"e","effectiveTime":"20231027103015","expireTime":"20231027103014"}"#
            )),
            "expireTime: earlier than effectiveTime"
        );
        assert_eq!(
            invalid(v2(
                r#"{"activity":"getLicenseAsync","instanceId":"i","eventId":"e"}"#
            )),
            "effectiveTime: missing"
        );
    }

    #[test]
    fn parses_query_instance_id_lists() {
        let Callback::QueryInstance(q) =
            v2(r#"{"activity":"queryInstance","instanceId":"a, b,c","testFlag":"1"}"#).unwrap()
        else {
            panic!("not queryInstance");
        };
        assert_eq!(q.instance_ids, ["a", "b", "c"]);
        assert!(q.test_flag);
        for (list, message) in [
            ("a,,b", "instanceId: empty id in the list"),
            ("a,", "instanceId: empty id in the list"),
            (&"x".repeat(101), "instanceId: longer than 100 characters"),
            (
                &"x".repeat(65),
                "instanceId: an id is longer than 64 characters",
            ),
        ] {
            let body = format!(r#"{{"activity":"queryInstance","instanceId":"{list}"}}"#);
            assert_eq!(invalid(v2(&body)), message, "{list}");
        }
        let fifty = vec!["x"; 50].join(",");
        let body = format!(r#"{{"activity":"queryInstance","instanceId":"{fifty}"}}"#);
        let Callback::QueryInstance(q) = v2(&body).unwrap() else {
            panic!("not queryInstance");
        };
        assert_eq!(q.instance_ids.len(), 50);
    }

    #[test]
    fn parses_upgrade_instance() {
        assert_eq!(
            v2(r#"{"activity":"upgradeInstance","instanceId":"i","orderId":"CS-UP","orderLineId":"CS-UP-1"}"#).unwrap(),
            Callback::UpgradeInstance(UpgradeInstance {
                instance_id: "i".into(),
                order_id: "CS-UP".into(),
                order_line_id: "CS-UP-1".into(),
                test_flag: false,
            })
        );
        assert_eq!(
            invalid(v2(
                r#"{"activity":"upgradeInstance","instanceId":"i","orderId":"CS-UP"}"#
            )),
            "orderLineId: missing"
        );
    }

    #[test]
    fn rejects_string_fields_of_other_json_types() {
        for (value, kind) in [
            ("123", "a number"),
            ("[\"o\"]", "an array"),
            ("{}", "an object"),
        ] {
            let body = format!(
                r#"{{"activity":"newInstance","orderId":{value},"orderLineId":"l","businessId":"b"}}"#
            );
            let message = invalid(v2(&body));
            assert_eq!(message, format!("orderId: expected a string, got {kind}"));
        }
    }

    #[test]
    fn rejects_control_characters_in_ids() {
        assert_eq!(
            invalid(v2(r#"{"activity":"releaseInstance","instanceId":"i\n1"}"#)),
            "instanceId: contains a control character"
        );
        assert_eq!(
            invalid(v1(&[
                ("activity", "expireLicense"),
                ("instanceId", "i\u{0}")
            ])),
            "instanceId: contains a control character"
        );
        // A right-to-left override makes `inst-1\u{202e}2-tsni` display as another id.
        assert_eq!(
            invalid(v1(&[
                ("activity", "expireLicense"),
                ("instanceId", "inst-1\u{202e}2-tsni")
            ])),
            "instanceId: contains a control character"
        );
    }

    #[test]
    fn tolerates_unknown_fields_of_any_type() {
        let callback = v2(
            r#"{"activity":"releaseInstance","instanceId":"i","extra":{"nested":[1,2]},"contentType":"application/json","n":1.5}"#,
        );
        assert!(
            matches!(callback, Ok(Callback::ReleaseInstance(_))),
            "{callback:?}"
        );
    }

    #[test]
    fn rejects_duplicate_json_keys() {
        let message = invalid(v2(
            r#"{"activity":"releaseInstance","instanceId":"a","instanceId":"b"}"#,
        ));
        assert!(
            message.starts_with(r#"body: duplicate key "instanceId""#),
            "{message}"
        );
        let message = invalid(v2(
            r#"{"activity":"releaseInstance","activity":"newInstance","instanceId":"a"}"#,
        ));
        assert!(
            message.starts_with(r#"body: duplicate key "activity""#),
            "{message}"
        );
    }

    #[test]
    fn rejects_bodies_that_are_not_a_json_object() {
        for body in [
            &b"[]"[..],
            b"\"newInstance\"",
            b"",
            b"{\"activity\":\"newInstance\"",
            b"\xff",
        ] {
            let err = parse_v2(body).unwrap_err();
            assert_eq!(err.code, ResultCode::InvalidParam);
            assert!(err.message.starts_with("body: "), "{err}");
        }
    }

    #[test]
    fn parsers_do_not_panic_on_garbage() {
        // A deterministic stand-in for the fuzzer: random bytes and single-byte mutations of a
        // valid body come back as values or errors, never panics; errors are always 000002.
        let valid = br#"{"activity":"getLicenseAsync","instanceId":"i","eventId":"e","effectiveTime":"2023-10-27 10:30:15 z","expireTime":"2024-10-27 10:30:15 z","testFlag":1}"#;
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"{}[]\":,\\u0 1-9ez\xff\xc3\xa9activitynull";
        let mut parsed = 0;
        for _ in 0..5000 {
            let len = (next() % 64) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if let Err(e) = parse_v2(&bytes) {
                assert_eq!(e.code, ResultCode::InvalidParam);
            }
            let mut mutated = valid.to_vec();
            let at = (next() % mutated.len() as u64) as usize;
            mutated[at] = alphabet[(next() % alphabet.len() as u64) as usize];
            match parse_v2(&mutated) {
                Ok(_) => parsed += 1,
                Err(e) => assert_eq!(e.code, ResultCode::InvalidParam),
            }
        }
        assert!(
            parsed > 0,
            "no mutation parsed: the generator is not exercising the parser"
        );
    }
}
