//! Reading the marketplace's answers: the result envelope, the order of `order/query`, and the
//! upload acknowledgement. Pure functions of (status, body), so every shape is unit-tested.

use client_verifier::Timestamp;
use serde_json::{Map, Value};

use super::error::CallError;
use crate::marketplace::parse_time;

/// Result codes that mean success: `000000` (order query, protocol §12.6.1) and `CBC.0000` (upload
/// and the common table, §12.6.3). Both are accepted on both APIs.
/// Success: the callbacks' and order query's `000000`, the gateway's `CBC.0000`, and the
/// License 2.0 APIs' `92020000` (protocol §6.4).
const SUCCESS_CODES: [&str; 3] = ["000000", "CBC.0000", "92020000"];

/// How much of an unexpected body goes into an error message.
const EXCERPT_CHARS: usize = 200;

/// An answer as received, with what is needed to word an error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer<'a> {
    pub(crate) call: &'a str,
    pub(crate) host: &'a str,
    pub(crate) status: u16,
    pub(crate) body: &'a [u8],
}

impl Answer<'_> {
    fn malformed(&self, detail: impl Into<String>) -> CallError {
        CallError::Malformed {
            call: self.call.to_string(),
            host: self.host.to_string(),
            detail: one_line(&detail.into()),
        }
    }
}

/// An order as the marketplace reports it (`orderInfo` of `order/query`).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderInfo {
    /// `orderId`.
    pub order_id: String,
    /// `orderType`: `NEW`, `TRIAL`, `TRIAL_TO_FORMAL`, `UNSUBSCRIBE`, `RENEW`, `CHANGE`.
    pub order_type: String,
    /// `createTime`: when the order was placed (not when it takes effect).
    pub create_time: Option<Timestamp>,
    /// `buyerInfo.customerId`.
    pub customer_id: Option<String>,
    /// `buyerInfo.customerName` (the account name).
    pub customer_name: Option<String>,
    /// `orderLine[]`.
    pub lines: Vec<OrderLine>,
}

impl OrderInfo {
    /// The line with this `orderLineId`.
    pub fn line(&self, order_line_id: &str) -> Option<&OrderLine> {
        self.lines.iter().find(|l| l.order_line_id == order_line_id)
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    /// `orderLineId`.
    pub order_line_id: String,
    /// `chargingMode`: `ON_DEMAND`, `ONE_TIME`, `PERIOD`, `ON_DEMAND_PKG`.
    pub charging_mode: String,
    /// `expireTime` (UTC).
    pub expire_time: Option<Timestamp>,
    /// `productId`, from the line or its first `productInfo` item.
    pub product_id: Option<String>,
    /// `skuCode`, from the line or its first `productInfo` item.
    pub sku_code: Option<String>,
    /// The purchased quantity: line `quantity`, else line `amount`, else the first
    /// `productInfo` item's `linearValue`.
    pub quantity: Option<u32>,
}

/// A License 2.0 activation code as the marketplace reports it: the `license_code_info` of an
/// activation (whose expiry is only an estimate) or the `data` of a query (heartbeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeInfo {
    /// `status`: `ALIVE`, `EXPIRED`, `RELEASED` (anything else kept as sent).
    pub status: String,
    /// The expiry, when given (`expire_time`, `expireTime` or `expire_date`).
    pub expire_time: Option<Timestamp>,
    /// `product_id`.
    pub product_id: Option<String>,
    /// `order_id`.
    pub order_id: Option<String>,
    /// `amount`: how many the customer bought.
    pub amount: Option<u32>,
    /// `license_code`: the code as the marketplace spells it (the query's answer carries it).
    pub license_code: Option<String>,
}

/// Reads the answer of `license/activate` (v1): `data.license_code_info`, a JSON *string*
/// (protocol §6.1), or the same fields as an object.
pub(crate) fn parse_activation(a: &Answer<'_>) -> Result<CodeInfo, CallError> {
    let v = success(a)?;
    let info = v.get("data").and_then(|d| d.get("license_code_info"));
    let parsed: Value = match info {
        Some(Value::String(s)) => serde_json::from_str(s)
            .map_err(|e| a.malformed(format!("license_code_info is not JSON: {e}")))?,
        Some(v @ Value::Object(_)) => v.clone(),
        // No details: the query that follows every activation supplies them.
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(other) => return Err(a.malformed(format!("license_code_info is {other}"))),
    };
    code_info(a, parsed.as_object().cloned().unwrap_or_default(), false)
}

/// Reads the answer of `license/heartbeat` (the query): `data` with `status` and the expiry.
pub(crate) fn parse_code_query(a: &Answer<'_>) -> Result<CodeInfo, CallError> {
    let v = success(a)?;
    let data = v
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| a.malformed("success without data"))?;
    code_info(a, data, true)
}

fn code_info(
    a: &Answer<'_>,
    obj: Map<String, Value>,
    status_required: bool,
) -> Result<CodeInfo, CallError> {
    let status = match text(&obj, "status") {
        Some(s) => s.to_ascii_uppercase(),
        None if status_required => return Err(a.malformed("no status")),
        None => "ALIVE".to_string(),
    };
    let expire_time = ["expire_time", "expireTime", "expire_date"]
        .iter()
        .find(|k| obj.contains_key(**k))
        .map(|k| time(&obj, k))
        .transpose()
        .map_err(|e| a.malformed(e))?
        .flatten();
    Ok(CodeInfo {
        status,
        expire_time,
        product_id: text(&obj, "product_id"),
        order_id: text(&obj, "order_id"),
        amount: count(&obj, "amount").map_err(|e| a.malformed(e))?,
        license_code: text(&obj, "license_code"),
    })
}

/// The parsed JSON of a successful answer, or the error it carries.
fn success(a: &Answer<'_>) -> Result<Value, CallError> {
    let ok_status = (200..300).contains(&a.status);
    let json: Option<Value> = serde_json::from_slice(a.body).ok();
    let envelope = json.as_ref().and_then(result_code);
    match (ok_status, envelope) {
        (_, Some((code, message))) if !(ok_status && SUCCESS_CODES.contains(&code.as_str())) => {
            Err(CallError::Marketplace {
                call: a.call.to_string(),
                host: a.host.to_string(),
                status: a.status,
                code: one_line(&code),
                message: one_line(&message),
            })
        }
        (false, _) => Err(CallError::Http {
            call: a.call.to_string(),
            host: a.host.to_string(),
            status: a.status,
            body: excerpt(a.body),
        }),
        (true, Some(_)) => json.ok_or_else(|| a.malformed("not JSON")),
        (true, None) => match json {
            None => Err(a.malformed(format!("not JSON: {}", excerpt(a.body)))),
            Some(_) => {
                Err(a.malformed(format!("no resultCode or error_code: {}", excerpt(a.body))))
            }
        },
    }
}

/// (code, message) from `resultCode`/`resultMsg`, `error_code`/`error_msg` or
/// `errorCode`/`errorMsg`, codes given as strings or numbers.
fn result_code(v: &Value) -> Option<(String, String)> {
    let obj = v.as_object()?;
    [
        ("resultCode", "resultMsg"),
        ("error_code", "error_msg"),
        ("errorCode", "errorMsg"),
    ]
    .iter()
    .find_map(|(c, m)| {
        let code = text(obj, c)?;
        Some((code, text(obj, m).unwrap_or_default()))
    })
}

/// A field as text: strings as they are (`None` when empty), numbers in decimal.
fn text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first object of a field holding an array of objects or one object.
fn first_object<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Map<String, Value>> {
    match obj.get(key)? {
        Value::Array(items) => items.iter().find_map(Value::as_object),
        Value::Object(o) => Some(o),
        _ => None,
    }
}

/// `text` with control characters escaped (`\n` as `\\n`): what the marketplace sends ends up
/// in a log line, and must not be able to start a new one.
fn one_line(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The start of a body for an error message, on one line.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    if out.trim().is_empty() {
        out = "(empty body)".into();
    }
    out
}

/// Reads the answer of `GET …/order/query` for `order_id`.
///
/// Accepted shapes: `orderInfo` at the top level or inside `data`; `orderLine` (or
/// `orderLines`) as an array or a single object; `buyerInfo.customerId`/`customerName`, else
/// the same names on `orderInfo`. Product, SKU and quantity are read from the line itself
/// (`productId`, `skuCode`, `quantity`, else `amount`) and otherwise from its `productInfo`
/// (array or object; the first item's `productId`, `skuCode`, `linearValue`). Times are
/// `yyyyMMddHHmmss`, 17-digit with milliseconds, `yyyy-MM-dd HH:mm:ss z` or RFC 3339, UTC.
/// Unknown fields are ignored; a mandatory field missing, a time or quantity that does not
/// read, or an `orderId` other than the one asked for is [`CallError::Malformed`].
pub(crate) fn parse_order(a: &Answer<'_>, order_id: &str) -> Result<OrderInfo, CallError> {
    let v = success(a)?;
    let info = v
        .get("orderInfo")
        .or_else(|| v.get("data").and_then(|d| d.get("orderInfo")))
        .and_then(Value::as_object)
        .ok_or_else(|| a.malformed("success without orderInfo"))?;
    let need = |obj: &Map<String, Value>, key: &str, what: &str| {
        text(obj, key).ok_or_else(|| a.malformed(format!("{what} has no {key}")))
    };
    let got_id = need(info, "orderId", "orderInfo")?;
    if got_id != order_id {
        return Err(a.malformed(format!("asked for order {order_id}, got {got_id}")));
    }
    let create_time = time(info, "createTime").map_err(|e| a.malformed(e))?;
    let buyer = info.get("buyerInfo").and_then(Value::as_object);
    let buyer_field = |key| buyer.and_then(|b| text(b, key)).or_else(|| text(info, key));
    let lines_value = info
        .get("orderLine")
        .or_else(|| info.get("orderLines"))
        .ok_or_else(|| a.malformed("orderInfo has no orderLine"))?;
    let line_objects: Vec<&Map<String, Value>> = match lines_value {
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_object()
                    .ok_or_else(|| a.malformed("orderLine item is not an object"))
            })
            .collect::<Result<_, _>>()?,
        Value::Object(o) => vec![o],
        _ => return Err(a.malformed("orderLine is neither a list nor an object")),
    };
    let mut lines = Vec::with_capacity(line_objects.len());
    for l in line_objects {
        let order_line_id = need(l, "orderLineId", "orderLine")?;
        let in_line = |e: String| a.malformed(format!("order line {order_line_id}: {e}"));
        let product = first_object(l, "productInfo");
        let from_product = |key| product.and_then(|p| text(p, key));
        let quantity = match count(l, "quantity").map_err(in_line)? {
            Some(q) => Some(q),
            None => match count(l, "amount").map_err(in_line)? {
                Some(q) => Some(q),
                None => match product {
                    Some(p) => count(p, "linearValue").map_err(in_line)?,
                    None => None,
                },
            },
        };
        lines.push(OrderLine {
            charging_mode: need(l, "chargingMode", &format!("order line {order_line_id}"))?,
            expire_time: time(l, "expireTime").map_err(in_line)?,
            product_id: text(l, "productId").or_else(|| from_product("productId")),
            sku_code: text(l, "skuCode").or_else(|| from_product("skuCode")),
            quantity,
            order_line_id,
        });
    }
    Ok(OrderInfo {
        order_type: need(info, "orderType", "orderInfo")?,
        create_time,
        customer_id: buyer_field("customerId"),
        customer_name: buyer_field("customerName"),
        lines,
        order_id: got_id,
    })
}

/// Reads the answer of `POST …/market-event/{event_id}/file`: `{error_code, error_msg}`.
pub(crate) fn parse_upload(a: &Answer<'_>) -> Result<(), CallError> {
    success(a).map(|_| ())
}

/// An optional marketplace time field.
fn time(obj: &Map<String, Value>, key: &str) -> Result<Option<Timestamp>, String> {
    let Some(s) = text(obj, key) else {
        return Ok(None);
    };
    parse_time(key, &s)
        .ok()
        .or_else(|| Timestamp::parse_rfc3339(&s))
        .map(Some)
        .ok_or_else(|| format!("{key} {s:?} is not a time (expected yyyyMMddHHmmss, UTC)"))
}

/// An optional non-negative count: a JSON integer, an integral float or a decimal string.
fn count(obj: &Map<String, Value>, key: &str) -> Result<Option<u32>, String> {
    let bad = |v: &Value| format!("{key} {v} is not a count");
    let Some(v) = obj.get(key) else {
        return Ok(None);
    };
    let n = match v {
        Value::Null => return Ok(None),
        Value::String(s) if s.trim().is_empty() => return Ok(None),
        Value::String(s) => s.trim().parse::<u32>().map_err(|_| bad(v))?,
        Value::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => u32::try_from(u).map_err(|_| bad(v))?,
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f <= f64::from(u32::MAX) => {
                // Exact: integral and in range, checked above.
                f as u32
            }
            _ => return Err(bad(v)),
        },
        _ => return Err(bad(v)),
    };
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_from_a_hostile_body_stay_on_one_line() {
        let a = Answer {
            call: "query order CS1",
            host: "https://h",
            status: 500,
            body: br#"{"error_code":"CBC.0999\nFAKE","error_msg":"x\n2026 INFO forged line\r"}"#,
        };
        let e = parse_order(&a, "CS1").unwrap_err().to_string();
        assert!(!e.chars().any(char::is_control), "{e:?}");
        assert!(
            e.contains("CBC.0999\\nFAKE") && e.contains("forged line"),
            "{e}"
        );
        let ok = Answer {
            status: 200,
            body: br#"{"resultCode":"000000","orderInfo":{"orderId":"CS1\u0000X","orderLine":[]}}"#,
            ..a
        };
        let e = parse_order(&ok, "CS1").unwrap_err().to_string();
        assert!(!e.chars().any(char::is_control), "{e:?}");
    }
    use serde_json::json;

    fn answer(status: u16, body: &[u8]) -> Answer<'_> {
        Answer {
            call: "query order CS1",
            host: "https://mkt.myhuaweicloud.com",
            status,
            body,
        }
    }

    fn order(body: Value) -> Result<OrderInfo, CallError> {
        let bytes = serde_json::to_vec(&body).unwrap();
        parse_order(&answer(200, &bytes), "CS1")
    }

    fn t(s: &str) -> Option<Timestamp> {
        Some(Timestamp::parse_rfc3339(s).unwrap())
    }

    #[test]
    fn order_with_product_info_items() {
        let o = order(json!({
            "resultCode": "000000", "resultMsg": "success", "extra": [1, 2],
            "orderInfo": {
                "orderId": "CS1", "orderType": "NEW", "createTime": "20240317144237",
                "buyerInfo": {"customerId": "cust-1", "customerName": "acme", "customerType": 1},
                "extendParams": [{"name": "k", "value": "v"}],
                "orderLine": [{
                    "orderLineId": "CS1-000001", "chargingMode": "PERIOD",
                    "expireTime": "20250317144237", "periodType": "year",
                    "productInfo": [{"productId": "P1", "skuCode": "S1", "linearValue": 5,
                                     "productName": "x"}]
                }]
            }
        }))
        .unwrap();
        assert_eq!(
            o,
            OrderInfo {
                order_id: "CS1".into(),
                order_type: "NEW".into(),
                create_time: t("2024-03-17T14:42:37Z"),
                customer_id: Some("cust-1".into()),
                customer_name: Some("acme".into()),
                lines: vec![OrderLine {
                    order_line_id: "CS1-000001".into(),
                    charging_mode: "PERIOD".into(),
                    expire_time: t("2025-03-17T14:42:37Z"),
                    product_id: Some("P1".into()),
                    sku_code: Some("S1".into()),
                    quantity: Some(5),
                }],
            }
        );
        assert!(o.line("CS1-000001").is_some());
        assert!(o.line("CS1-000002").is_none());
    }

    #[test]
    fn order_with_line_level_fields_and_cbc_success() {
        let o = order(json!({
            "resultCode": "CBC.0000",
            "data": {"orderInfo": {
                "orderId": "CS1", "orderType": "TRIAL",
                "orderLine": {
                    "orderLineId": "L1", "chargingMode": "ONE_TIME",
                    "expireTime": "20250317144237123",
                    "productId": "P2", "skuCode": "S2", "amount": "3",
                    "productInfo": {"productId": "ignored", "linearValue": 9}
                }
            }}
        }))
        .unwrap();
        assert_eq!(o.create_time, None);
        assert_eq!(o.customer_id, None);
        let l = &o.lines[0];
        assert_eq!(l.expire_time, t("2025-03-17T14:42:37Z"));
        assert_eq!(l.product_id.as_deref(), Some("P2"));
        assert_eq!(l.sku_code.as_deref(), Some("S2"));
        assert_eq!(l.quantity, Some(3));
    }

    #[test]
    fn quantity_prefers_line_quantity() {
        let o = order(json!({"resultCode": "000000", "orderInfo": {
            "orderId": "CS1", "orderType": "NEW",
            "orderLine": [{"orderLineId": "L1", "chargingMode": "PERIOD", "quantity": 2.0,
                           "amount": 7, "productInfo": [{"linearValue": 9}]}]}}))
        .unwrap();
        assert_eq!(o.lines[0].quantity, Some(2));
    }

    #[test]
    fn refuses_what_cannot_be_trusted() {
        let base = |line: Value| {
            json!({"resultCode": "000000", "orderInfo": {
                "orderId": "CS1", "orderType": "NEW", "orderLine": [line]}})
        };
        for (body, needle) in [
            (
                base(json!({"orderLineId": "L1", "chargingMode": "PERIOD", "expireTime": "2025"})),
                "expireTime",
            ),
            (
                base(json!({"orderLineId": "L1", "chargingMode": "PERIOD", "quantity": -1})),
                "quantity",
            ),
            (
                base(json!({"orderLineId": "L1", "chargingMode": "PERIOD", "quantity": "x"})),
                "quantity",
            ),
            (base(json!({"orderLineId": "L1"})), "chargingMode"),
            (base(json!({"chargingMode": "PERIOD"})), "orderLineId"),
            (json!({"resultCode": "000000"}), "orderInfo"),
            (
                json!({"resultCode": "000000", "orderInfo": {"orderId": "CS2", "orderType": "NEW", "orderLine": []}}),
                "CS2",
            ),
            (json!({"orderInfo": {}}), "no resultCode"),
        ] {
            match order(body) {
                Err(e @ CallError::Malformed { .. }) => {
                    assert!(e.to_string().contains(needle), "{e} lacks {needle}");
                    assert!(!e.retryable());
                }
                other => panic!("expected malformed for {needle}: {other:?}"),
            }
        }
    }

    #[test]
    fn error_envelopes() {
        let e = parse_order(
            &answer(
                400,
                br#"{"error_code":"CBC.0101","error_msg":"Invalid parameter"}"#,
            ),
            "CS1",
        )
        .unwrap_err();
        assert_eq!(e.code(), Some("CBC.0101"));
        assert!(!e.retryable());
        let e = parse_order(
            &answer(
                200,
                br#"{"resultCode":"91381036","resultMsg":"inner error"}"#,
            ),
            "CS1",
        )
        .unwrap_err();
        assert_eq!(e.code(), Some("91381036"));
        assert!(e.retryable());
        // A success code on an error status is still an error.
        let e = parse_upload(&answer(500, br#"{"error_code":"CBC.0000"}"#)).unwrap_err();
        assert!(e.retryable());
        let e = parse_upload(&answer(502, b"<html>Bad Gateway</html>")).unwrap_err();
        assert!(matches!(e, CallError::Http { status: 502, .. }));
        assert!(e.to_string().contains("Bad Gateway"), "{e}");
        assert!(e.retryable());
    }

    #[test]
    fn upload_answers() {
        parse_upload(&answer(
            200,
            br#"{"error_code":"CBC.0000","error_msg":"Success"}"#,
        ))
        .unwrap();
        let e = parse_upload(&answer(
            200,
            br#"{"error_code":91381037,"error_msg":"bad"}"#,
        ))
        .unwrap_err();
        assert_eq!(e.code(), Some("91381037"));
        assert!(!e.retryable());
        let e = parse_upload(&answer(200, b"")).unwrap_err();
        assert!(matches!(e, CallError::Malformed { .. }), "{e:?}");
    }

    #[test]
    fn excerpt_is_short_and_one_line() {
        let long = "a\nb".repeat(500);
        let e = excerpt(long.as_bytes());
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(!e.contains('\n'));
        assert_eq!(excerpt(b""), "(empty body)");
    }
}
