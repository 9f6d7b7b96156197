//! Events: the audit log as the ISV's other systems read it.
//!
//! Every audit record is one event, numbered by its record's `seq` (so the feed has no gaps) and
//! named by a stable type from [`TYPES`] (`license.renewed`, `seat.activated`, …). An event
//! carries its record's hash and the previous record's, so a consumer that trusts one event can
//! check that every later one links to it. What a record says is passed on as `data`, less
//! anything that could act as a credential (see [`Event::of`]).
//!
//! The event list is versioned ([`VERSION`]): a type is never renamed or given another meaning
//! within a version; new types may be added. `docs/events.md` documents each.
//!
//! Pure: no storage, no HTTP. The feed (`GET /admin/v1/events`) and the webhook sender
//! ([`crate::webhooks`]) both build events here.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::store::AuditRecord;

/// The version of the event list and of the event's shape.
pub const VERSION: u32 = 1;

/// The type of the event `licctl webhooks test` sends: never in the log or the feed.
pub const TEST_TYPE: &str = "webhook.test";

/// Every event type, with what it means (the list `docs/events.md` documents; a test holds the
/// two together).
pub const TYPES: &[(&str, &str)] = &[
    (
        "license.issued",
        "a purchase created a license (License 1.0 getLicense, an online-activation instance), or the ISV issued one itself",
    ),
    (
        "license.renewed",
        "the marketplace extended a license's validity, or the ISV extended one it issued",
    ),
    (
        "license.frozen",
        "a license was frozen (expired and unpaid, or frozen by the marketplace)",
    ),
    ("license.unfrozen", "a frozen license was made active again"),
    (
        "license.released",
        "a license was released: the customer no longer holds it",
    ),
    (
        "license.upgraded",
        "an upgrade order changed a license's edition or quantity",
    ),
    (
        "license.reissued",
        "an operator reissued a license: earlier tokens stop refreshing",
    ),
    ("license.revoked", "an operator revoked a license"),
    (
        "license.conflict",
        "the marketplace repeated a purchase with different fields; licd kept the first",
    ),
    (
        "license.changed",
        "another change to a license (the event's `action` names it)",
    ),
    (
        "device.issued",
        "licd minted a device license for an online-activation device",
    ),
    (
        "code.activated",
        "a License 2.0 code was activated for the first time",
    ),
    (
        "code.answered",
        "the marketplace answered the verification of a License 2.0 code",
    ),
    (
        "code.repaired",
        "an operator repaired a License 2.0 code's record",
    ),
    (
        "code.checked",
        "the daily check of a License 2.0 code with the marketplace",
    ),
    ("seat.activated", "a device took a seat online"),
    (
        "seat.freed",
        "a seat was freed (by an operator or in the customer portal)",
    ),
    (
        "offline.activated",
        "a device took a seat with an offline request",
    ),
    (
        "offline.deactivated",
        "a device gave its seat back with an offline receipt",
    ),
    ("lease.granted", "a floating lease was granted"),
    ("lease.released", "a floating lease was given back"),
    (
        "lease.force_released",
        "an operator released a floating lease",
    ),
    (
        "site.allotted",
        "seats were allotted to an air-gapped site server",
    ),
    ("site.returned", "a site server gave its seats back"),
    (
        "key.resigned",
        "a license's tokens were signed again after their key was revoked",
    ),
    ("portal.signed_in", "a customer signed in to the portal"),
    ("portal.signed_out", "a customer signed out of the portal"),
    (
        "portal.downloaded",
        "a customer downloaded a license file from the portal",
    ),
    (
        "delivery.uploaded",
        "licd delivered a device license to the marketplace",
    ),
    ("order.queried", "licd read an order from the marketplace"),
    (
        "usage.reported",
        "licd reported a License 2.0 code's use to the marketplace",
    ),
    (
        "account.created",
        "an admin added an account to the ISV's team; `license` is `account:<name>`",
    ),
    (
        "account.changed",
        "an account was disabled or reset, given another role, chose its password, or turned on its second factor (`action` says which)",
    ),
    (
        "account.locked",
        "an account was locked for a while after too many wrong passwords or codes",
    ),
    ("account.signed_in", "an account signed in to the console"),
    (
        "api_token.created",
        "an admin created an API token for an account (`data.token_id`; never the token)",
    ),
    ("api_token.revoked", "an admin revoked an API token"),
    (
        TEST_TYPE,
        "a test delivery (`licctl webhooks test`), outside the log: `seq` is 0",
    ),
];

/// One event, as the feed lists it and a webhook delivers it (and licctl reads it back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The audit record's number: from 1, without gaps.
    pub seq: u64,
    /// A stable id for de-duplication (`evt_` and the start of the record's hash): the same
    /// event has the same id in the feed, every delivery and every retry.
    pub id: String,
    /// The event type, one of [`TYPES`].
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    /// The version of the event list ([`VERSION`]).
    pub version: u32,
    /// When it happened (RFC 3339, UTC).
    pub at: String,
    /// The license it concerns (an instance id).
    pub license: String,
    /// Who: `marketplace`, `marketplace-test`, `client`, `licd`, `portal:<license>` or an admin.
    pub actor: String,
    /// The audit record's action (the marketplace activity or admin action).
    pub action: String,
    /// A dial test of the marketplace (`testFlag=1`): not a real purchase or change.
    pub test: bool,
    /// A stale replay: the marketplace sent it after a newer statement, and nothing changed.
    pub stale: bool,
    /// What the record says: order ids, validity, seat numbers, reasons. Never a License 2.0
    /// code or a token.
    pub data: serde_json::Value,
    /// The audit record's hash.
    pub hash: String,
    /// The previous record's hash (all zeros before the first): the link a consumer checks.
    pub prev: String,
}

/// Object keys whose values are never passed on, whatever record carries them.
const SECRET_KEYS: &[&str] = &["code", "token", "license_code", "password", "secret"];

impl Event {
    /// The event of one audit record.
    ///
    /// `data` is the record's detail less the flags promoted to the top (`test`, `stale`),
    /// any value under a key named `code`, `token`, `license_code`, `password` or `secret`, and any string that is a token (`v4.`): the
    /// audit log holds none today, and this keeps it so if a future record does.
    pub fn of(r: &AuditRecord) -> Event {
        let detail = &r.event.detail;
        let flag = |k: &str| detail.get(k).and_then(serde_json::Value::as_bool) == Some(true);
        let mut data = scrub(detail.clone());
        if let Some(map) = data.as_object_mut() {
            map.remove("test");
            map.remove("stale");
        }
        Event {
            seq: r.seq,
            id: format!("evt_{}", r.hash.get(..32).unwrap_or(&r.hash)),
            kind: Cow::Borrowed(kind(&r.event.action, detail)),
            version: VERSION,
            at: r.event.at.to_rfc3339(),
            license: r.event.license_id.clone(),
            actor: r.event.actor.clone(),
            action: r.event.action.clone(),
            test: flag("test") || r.event.actor == "marketplace-test",
            stale: flag("stale"),
            data,
            hash: r.hash.clone(),
            prev: r.prev.clone(),
        }
    }
}

fn scrub(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !SECRET_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k, scrub(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(scrub).collect()),
        Value::String(s) if s.starts_with("v4.public.") || s.starts_with("v4.local.") => {
            Value::String("[redacted]".into())
        }
        other => other,
    }
}

/// The type of a record with `action` and `detail`.
fn kind(action: &str, detail: &serde_json::Value) -> &'static str {
    let status = detail.get("status").and_then(serde_json::Value::as_str);
    let was = detail.get("was").and_then(serde_json::Value::as_str);
    let says = |k: &str| detail.get(k).and_then(serde_json::Value::as_bool) == Some(true);
    // A status the marketplace set: what the license is now.
    let by_status = |otherwise: &'static str| match status {
        Some("frozen") => "license.frozen",
        Some("active") => "license.unfrozen",
        Some("released") => "license.released",
        _ => otherwise,
    };
    match action {
        "getLicense" | "newInstance" | "createDirect" => "license.issued",
        "conflicting_repeat" => "license.conflict",
        "refreshLicense" | "refreshInstance" | "refreshLicenseCode" | "extend" => "license.renewed",
        "expireLicense" => "license.frozen",
        "updateInstanceStatus" | "updateLicenseCodeStatus" => by_status("license.changed"),
        "releaseLicense" | "releaseInstance" | "releaseLicenseCode" => "license.released",
        "upgradeInstance" | "upgrade" => "license.upgraded",
        "reissue" => "license.reissued",
        "revoke" => "license.revoked",
        "getLicenseAsync" => "device.issued",
        "activateCode" => "code.activated",
        "codeAnswer" => "code.answered",
        "repairCode" => "code.repaired",
        // A check that found a new status is that change; one that found none is a check.
        "checkCode" if status.is_some() && status != was => by_status("code.checked"),
        "checkCode" => "code.checked",
        "activate" if says("offline") => "offline.activated",
        "activate" => "seat.activated",
        "deactivate" if says("offline") => "offline.deactivated",
        "deactivate" | "free-seat" => "seat.freed",
        "leaseGranted" => "lease.granted",
        "leaseReleased" => "lease.released",
        "leaseForceReleased" => "lease.force_released",
        "siteAllotted" => "site.allotted",
        "siteReturned" => "site.returned",
        "resignRevokedKey" => "key.resigned",
        "portal-sign-in" => "portal.signed_in",
        "portal-sign-out" => "portal.signed_out",
        "portal-download" => "portal.downloaded",
        "upload" => "delivery.uploaded",
        "queryOrder" => "order.queried",
        "usage" => "usage.reported",
        "accountCreated" => "account.created",
        "accountDisabled" | "accountReset" | "accountPasswordSet" | "accountTotpOn"
        | "accountRoleChanged" => "account.changed",
        "accountLocked" => "account.locked",
        "accountSignedIn" => "account.signed_in",
        "apiTokenCreated" => "api_token.created",
        "apiTokenRevoked" => "api_token.revoked",
        _ => "license.changed",
    }
}

/// Which event types an endpoint wants: `*`, a family (`license.*`) or one type. A pattern
/// that names no type of [`TYPES`] is refused, so a typo cannot silently select nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// Parses one pattern.
    pub fn parse(s: &str) -> Result<Pattern, String> {
        let p = Pattern(s.to_string());
        if TYPES.iter().any(|(t, _)| p.matches(t)) {
            Ok(p)
        } else {
            Err(format!(
                "event pattern {} names no event type (see docs/events.md: \"*\", \"license.*\", \"seat.activated\", …)",
                crate::logsafe::quoted(s)
            ))
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether event type `kind` is one the pattern selects.
    pub fn matches(&self, kind: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some("") => true,
            Some(family) => family.ends_with('.') && kind.starts_with(family),
            None => self.0 == kind,
        }
    }
}

/// The `Licd-Signature` header of a delivery of `body` at unix time `t`:
/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    let t_text = t.to_string();
    let mac = crate::crypto::hmac_sha256(secret, &[t_text.as_bytes(), b".", body]);
    format!("t={t},v1={}", crate::crypto::hex(&mac))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditEvent, AuditRecord};
    use client_verifier::Timestamp;
    use serde_json::json;

    fn record(action: &str, actor: &str, detail: serde_json::Value) -> AuditRecord {
        let event = AuditEvent::new(
            "inst-1",
            action,
            actor,
            Timestamp::parse_rfc3339("2026-12-05T10:00:00Z").unwrap(),
            detail,
        );
        let prev = crate::store::codec::GENESIS.to_string();
        let hash = crate::store::codec::link(&prev, 1, &crate::store::codec::encode(&event));
        AuditRecord {
            seq: 1,
            prev,
            hash,
            event,
        }
    }

    #[test]
    fn each_action_has_its_type() {
        let cases = [
            ("getLicense", json!({}), "license.issued"),
            ("refreshLicense", json!({}), "license.renewed"),
            ("expireLicense", json!({}), "license.frozen"),
            (
                "updateInstanceStatus",
                json!({"status": "frozen"}),
                "license.frozen",
            ),
            (
                "updateInstanceStatus",
                json!({"status": "active"}),
                "license.unfrozen",
            ),
            (
                "updateLicenseCodeStatus",
                json!({"status": "active"}),
                "license.unfrozen",
            ),
            (
                "checkCode",
                json!({"status": "released", "was": "active"}),
                "license.released",
            ),
            (
                "checkCode",
                json!({"status": "active", "was": "active"}),
                "code.checked",
            ),
            ("activate", json!({"offline": true}), "offline.activated"),
            ("activate", json!({"seat": 0}), "seat.activated"),
            (
                "deactivate",
                json!({"offline": true}),
                "offline.deactivated",
            ),
            ("deactivate", json!({"portal": true}), "seat.freed"),
            ("something-new", json!({}), "license.changed"),
        ];
        for (action, detail, want) in cases {
            assert_eq!(kind(action, &detail), want, "{action} {detail}");
        }
    }

    #[test]
    fn every_type_is_listed_and_documented() {
        let docs = include_str!("../docs/events.md");
        for (t, _) in TYPES {
            assert!(docs.contains(&format!("`{t}`")), "docs/events.md lacks {t}");
        }
        // Every type `kind` can answer is in the list.
        let src = include_str!("events.rs");
        let body = &src[src.find("fn kind(").unwrap()..src.find("/// Which event types").unwrap()];
        for piece in body.split('"').skip(1).step_by(2) {
            if piece.contains('.') {
                assert!(
                    TYPES.iter().any(|(t, _)| *t == piece),
                    "{piece} is not in TYPES"
                );
            }
        }
    }

    #[test]
    fn an_event_keeps_the_link_and_drops_credentials() {
        let r = record(
            "activateCode",
            "client",
            json!({"order": "o-1", "code": "LIC-SECRET", "nested": {"token": "x", "t": "v4.public.abc"}, "test": true}),
        );
        let e = Event::of(&r);
        assert_eq!(
            (e.seq, e.kind.as_ref(), e.test, e.stale),
            (1, "code.activated", true, false)
        );
        assert_eq!(e.prev, crate::store::codec::GENESIS);
        assert_eq!(e.hash, r.hash);
        assert!(e.id.starts_with("evt_") && r.hash.starts_with(&e.id[4..]));
        let text = serde_json::to_string(&e).unwrap();
        assert!(
            !text.contains("LIC-SECRET") && !text.contains("v4.public"),
            "{text}"
        );
        assert_eq!(
            e.data,
            json!({"order": "o-1", "nested": {"t": "[redacted]"}})
        );
        assert!(Event::of(&record("getLicense", "marketplace-test", json!({}))).test);
        let stale = Event::of(&record(
            "expireLicense",
            "marketplace",
            json!({"stale": true}),
        ));
        assert!(stale.stale && !stale.test && stale.data == json!({}));
    }

    #[test]
    fn patterns_select_types_and_refuse_typos() {
        let p = |s: &str| Pattern::parse(s).unwrap();
        assert!(p("*").matches("seat.freed"));
        assert!(p("license.*").matches("license.renewed"));
        assert!(!p("license.*").matches("lease.granted"));
        assert!(p("seat.activated").matches("seat.activated"));
        assert!(!p("seat.activated").matches("seat.freed"));
        for bad in ["licence.*", "license*", "license.", "", "seat.activate"] {
            assert!(Pattern::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn the_signature_is_hmac_over_time_dot_body() {
        // Computed independently: printf '1733400000.{"a":1}' | openssl dgst -sha256 -hmac whsec
        let s = signature(b"whsec", 1_733_400_000, br#"{"a":1}"#);
        assert_eq!(
            s,
            "t=1733400000,v1=e059579f4deda1ca4e98f6db460318ff9217f910d783b7c5640587f2f631d839"
        );
    }
}
