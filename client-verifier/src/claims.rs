//! The claims of a license token (v1) and of a revocation list, read through
//! [`crate::strict_json`].
//!
//! Every claim the verifier relies on is required; a token missing one is malformed. Unknown
//! claims are ignored so that a newer issuer can add some without breaking shipped software.
//! JSON with a duplicated key anywhere is refused: two parsers could read different values from
//! it, which is exactly the confusion a signature is meant to rule out.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::VerifyError;
use crate::fingerprint::Binding;
use crate::time::Timestamp;

/// Entitlements: feature flags and limits from the product configuration, as a JSON object.
pub type Entitlements = serde_json::Map<String, serde_json::Value>;

/// What the issuer says about a license when it signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenStatus {
    /// In force (subject to its validity times).
    Active,
    /// Frozen early by the marketplace: locked, data kept, a renewal unfreezes it.
    Frozen,
    /// A floating (concurrent-use) license: not permission to run by itself. The application
    /// leases a seat with it and runs on the lease ([`LeaseClaims`]). Verifiers built before
    /// floating licenses refuse the value, which is why it is a status and not a new claim.
    Floating,
    /// A lease, not a license: only [`crate::Verifier::verify_lease`] accepts it. Verifiers
    /// built before leases refuse the value.
    Lease,
    /// A site allotment ([`AllotmentClaims`]): seats of a floating license granted to a site
    /// server on a customer's network, not a license and not a lease. Verifiers built before
    /// site servers refuse the value.
    Site,
}

impl TokenStatus {
    fn as_str(&self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Frozen => "frozen",
            TokenStatus::Floating => "floating",
            TokenStatus::Lease => "lease",
            TokenStatus::Site => "site",
        }
    }
}

impl Serialize for TokenStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TokenStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Reads the status from the string in place (a `String` would accept the same input
        /// but allocate).
        struct V;
        impl Visitor<'_> for V {
            type Value = TokenStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TokenStatus, E> {
                match v {
                    "active" => Ok(TokenStatus::Active),
                    "frozen" => Ok(TokenStatus::Frozen),
                    "floating" => Ok(TokenStatus::Floating),
                    "lease" => Ok(TokenStatus::Lease),
                    "site" => Ok(TokenStatus::Site),
                    other => Err(E::unknown_variant(
                        other,
                        &["active", "frozen", "floating", "lease", "site"],
                    )),
                }
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<TokenStatus, E> {
                match core::str::from_utf8(v) {
                    Ok(s) => self.visit_str(s),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(v), &self)),
                }
            }
        }
        d.deserialize_string(V)
    }
}

/// The claims of a license token, as DESIGN §5 lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// The ISV's issuer name.
    pub iss: String,
    /// The marketplace customer id.
    pub sub: String,
    /// The license id (the `instanceId` returned to the marketplace).
    pub jti: String,
    /// When this revision was issued.
    pub iat: Timestamp,
    /// Valid from.
    pub nbf: Timestamp,
    /// End of the paid period.
    pub exp: Timestamp,
    /// End of the freeze window: locked but data kept until then, a renewal unfreezes.
    pub freeze_until: Timestamp,
    /// `active` or `frozen`.
    pub status: TokenStatus,
    /// Marketplace `productId`.
    pub product: String,
    /// Marketplace `skuCode`.
    pub sku: String,
    /// The purchase `orderId`.
    pub order: String,
    /// 1 at issue, +1 on every renewal, reissue, freeze or unfreeze.
    pub revision: u32,
    /// Purchased amount (seats, activations).
    pub quantity: u32,
    /// The device binding, or `None` for a license not yet bound to a device.
    #[serde(deserialize_with = "required_option")]
    pub binding: Option<Binding>,
    /// Feature flags and limits.
    pub entitlements: Entitlements,
    /// The time by which a bound machine must have refreshed (checked in) with the issuer;
    /// absent when the product requires no check-in. Optional, so that tokens without it and
    /// verifiers that predate it keep working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_in_by: Option<Timestamp>,
    /// The edition (the ISV's name for what was bought, e.g. "CAD Pro"); optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edition: Option<String>,
    /// How the license was sold when the marketplace did not sell it: `direct` (issued by the
    /// ISV itself: a deal closed elsewhere, a replacement) or `trial` (an evaluation the ISV
    /// issued). Absent for marketplace licenses. Text rather than a closed set, so that a value
    /// added later still parses in verifiers shipped now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl Claims {
    /// Claims with every field given; `binding` none and `entitlements` empty.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        iss: impl Into<String>,
        sub: impl Into<String>,
        jti: impl Into<String>,
        product: impl Into<String>,
        sku: impl Into<String>,
        order: impl Into<String>,
        iat: Timestamp,
        exp: Timestamp,
        freeze_until: Timestamp,
    ) -> Self {
        Claims {
            iss: iss.into(),
            sub: sub.into(),
            jti: jti.into(),
            iat,
            nbf: iat,
            exp,
            freeze_until,
            status: TokenStatus::Active,
            product: product.into(),
            sku: sku.into(),
            order: order.into(),
            revision: 1,
            quantity: 1,
            binding: None,
            entitlements: Entitlements::new(),
            check_in_by: None,
            edition: None,
            origin: None,
        }
    }

    /// Checks the relations between times that every valid token satisfies.
    pub(crate) fn check_consistent(&self) -> Result<(), VerifyError> {
        if self.nbf > self.exp || self.exp > self.freeze_until {
            return Err(VerifyError::Malformed {
                reason: "times out of order (need nbf <= exp <= freeze_until)",
            });
        }
        if self.revision == 0 {
            return Err(VerifyError::Malformed {
                reason: "revision must start at 1",
            });
        }
        if self.status == TokenStatus::Lease {
            return Err(VerifyError::Malformed {
                reason: "a lease, not a license (Verifier::verify_lease checks leases)",
            });
        }
        if self.status == TokenStatus::Site {
            return Err(VerifyError::Malformed {
                reason: "a site allotment, not a license",
            });
        }
        Ok(())
    }
}

/// The claims of a lease: one seat of a floating license, held by one running program on one
/// machine until `exp`. Signed like a license by the issuer's key (certified for leases under a
/// key hierarchy), verified offline with [`crate::Verifier::verify_lease`]. Its `status` is
/// always [`TokenStatus::Lease`], which no license verifier, old or new, accepts as a license;
/// it has no freeze window, since a lease that ends is renewed, not bought again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LeaseClaims {
    /// The ISV's issuer name.
    pub iss: String,
    /// The lease id.
    pub jti: String,
    /// The license the seat is of (the license token's `jti`).
    pub lic: String,
    /// Always `lease`.
    pub status: TokenStatus,
    /// When this lease (or its renewal) was signed.
    pub iat: Timestamp,
    /// Valid from.
    pub nbf: Timestamp,
    /// When the lease ends unless renewed: the program's licensed features stop then.
    pub exp: Timestamp,
    /// Marketplace `productId`.
    pub product: String,
    /// Marketplace `skuCode`.
    pub sku: String,
    /// The seat, from 0 up to the license's quantity.
    pub seat: u32,
    /// The running program that holds it, as it named itself (host and pid, a container id).
    pub instance: String,
    /// The machine the lease is bound to: required, a lease never floats by itself.
    pub binding: Binding,
    /// A seat borrowed for offline use (until `exp`, days rather than minutes).
    pub borrowed: bool,
    /// The license's feature flags and limits.
    pub entitlements: Entitlements,
    /// The license's edition, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edition: Option<String>,
}

impl LeaseClaims {
    /// A lease of seat `seat` of license `lic` for `instance` on the machine `binding`, valid
    /// from `iat` to `exp`; not borrowed, no entitlements.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        iss: impl Into<String>,
        jti: impl Into<String>,
        lic: impl Into<String>,
        product: impl Into<String>,
        sku: impl Into<String>,
        seat: u32,
        instance: impl Into<String>,
        binding: Binding,
        iat: Timestamp,
        exp: Timestamp,
    ) -> Self {
        LeaseClaims {
            iss: iss.into(),
            jti: jti.into(),
            lic: lic.into(),
            status: TokenStatus::Lease,
            iat,
            nbf: iat,
            exp,
            product: product.into(),
            sku: sku.into(),
            seat,
            instance: instance.into(),
            binding,
            borrowed: false,
            entitlements: Entitlements::new(),
            edition: None,
        }
    }

    /// Checks what every valid lease satisfies.
    pub(crate) fn check_consistent(&self) -> Result<(), VerifyError> {
        if self.status != TokenStatus::Lease {
            return Err(VerifyError::Malformed {
                reason: "not a lease (its status is not \"lease\")",
            });
        }
        if self.nbf > self.exp {
            return Err(VerifyError::Malformed {
                reason: "times out of order (need nbf <= exp)",
            });
        }
        Ok(())
    }
}

/// The claims of a site allotment: `seats` seats of the floating license `lic`, granted by the
/// ISV's licd to one site server (a licd in site mode on a customer's network that never reaches
/// the internet) until `exp`. Signed by the ISV's key (certified for leases under a key
/// hierarchy). The site server signs leases with its own key, `site_key`, and puts the
/// allotment in each lease's footer: a verifier that trusts the ISV accepts such a lease when
/// the allotment verifies and the lease stays within it ([`AllotmentClaims::covers`]).
///
/// Not `#[non_exhaustive]`: licd builds it field by field; a later field is a new format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllotmentClaims {
    /// The ISV's issuer name.
    pub iss: String,
    /// The allotment id: a new one for every allotment, so a later one supersedes it.
    pub jti: String,
    /// The license whose seats these are.
    pub lic: String,
    /// Always `site`.
    pub status: TokenStatus,
    /// When it was signed.
    pub iat: Timestamp,
    /// Valid from.
    pub nbf: Timestamp,
    /// When it ends: no later than the license, nor than its check-in deadline. Every lease
    /// the site signs ends by then.
    pub exp: Timestamp,
    /// Marketplace `productId`.
    pub product: String,
    /// Marketplace `skuCode`.
    pub sku: String,
    /// How many leases the site may have out at once.
    pub seats: u32,
    /// The site server's public key (PASERK `k4.public.…`): the only key its leases verify with.
    pub site_key: String,
    /// The site server's machine (or the stable id its operator chose): the site server
    /// refuses to start elsewhere.
    pub binding: Binding,
    /// The license's feature flags and limits; every lease carries exactly these.
    pub entitlements: Entitlements,
    /// The license's edition, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edition: Option<String>,
    /// The product's lease length, seconds.
    pub lease_secs: u32,
    /// How long a released seat stays taken, seconds.
    pub linger_secs: u32,
    /// The longest borrow, days (0: none).
    pub borrow_max_days: u32,
    /// The ISV's public keys (PASERK) that sign this license's tokens: the site server checks
    /// a program's license token with them. Verifiers use their own trusted keys instead.
    pub keys: Vec<String>,
}

impl AllotmentClaims {
    /// Checks what every valid allotment satisfies.
    pub(crate) fn check_consistent(&self) -> Result<(), VerifyError> {
        if self.status != TokenStatus::Site {
            return Err(VerifyError::Malformed {
                reason: "not a site allotment (its status is not \"site\")",
            });
        }
        if self.nbf > self.exp || self.seats == 0 {
            return Err(VerifyError::Malformed {
                reason: "times out of order (need nbf <= exp) or no seats",
            });
        }
        Ok(())
    }

    /// Whether the site lease `lease` stays within this allotment: the same issuer, license,
    /// product, SKU, entitlements and edition, a seat it has, and an `exp` no later than its
    /// own. The reason when not.
    pub fn covers(&self, lease: &LeaseClaims) -> Result<(), &'static str> {
        if lease.iss != self.iss || lease.lic != self.lic {
            return Err("the site lease is not of its allotment's license");
        }
        if lease.product != self.product || lease.sku != self.sku {
            return Err("the site lease is not of its allotment's product");
        }
        if lease.seat >= self.seats {
            return Err("the site lease's seat is beyond its allotment's seats");
        }
        if lease.exp > self.exp {
            return Err("the site lease outlives its allotment");
        }
        if lease.entitlements != self.entitlements || lease.edition != self.edition {
            return Err("the site lease's entitlements are not its allotment's");
        }
        Ok(())
    }
}

/// The claims of a signed revocation list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RevocationClaims {
    /// The issuer name.
    pub iss: String,
    /// When the list was made.
    pub iat: Timestamp,
    /// Increases with every list; an older list never replaces a newer one.
    pub seq: u64,
    /// Revoked license ids (`jti`), and revoked device bindings of a license
    /// (`<jti>#<salt>`, see [`crate::Binding::revocation_id`]).
    pub revoked: Vec<String>,
}

impl RevocationClaims {
    /// A list with every field given.
    pub fn new(iss: impl Into<String>, iat: Timestamp, seq: u64, revoked: Vec<String>) -> Self {
        RevocationClaims {
            iss: iss.into(),
            iat,
            seq,
            revoked,
        }
    }
}

/// The footer every licd token carries: which key signed it, and under a key hierarchy that
/// key's certificate (base64url, [`crate::root::Certificate`]). Verifiers that predate the
/// certificate ignore it and find the key by its id.
#[derive(Serialize, Deserialize)]
pub(crate) struct Footer<'a> {
    #[serde(borrow)]
    pub(crate) kid: alloc::borrow::Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub(crate) cert: Option<alloc::borrow::Cow<'a, str>>,
    /// A site lease's allotment (an ISV-signed token): the key named by `kid` is the
    /// allotment's site key. Verifiers that predate site servers do not know that key and
    /// refuse the lease.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub(crate) site: Option<alloc::borrow::Cow<'a, str>>,
}

/// A field that must be present but may be `null`.
fn required_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// Parses a part of a token strictly (see [`crate::strict_json`]); `what` names the part in the
/// error.
pub(crate) fn from_json<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<T, VerifyError> {
    let malformed = VerifyError::Malformed { reason: what };
    // Validating the whole input once lets serde_json skip validating each string on its own;
    // invalid UTF-8 anywhere is refused either way.
    let text = core::str::from_utf8(bytes).map_err(|_| malformed.clone())?;
    crate::strict_json::from_str(text).map_err(|_| malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strict_json::summary;
    use serde::de::{MapAccess, SeqAccess};

    #[test]
    fn finds_duplicates_at_any_depth_and_after_unescaping() {
        assert!(from_json::<serde_json::Value>(br#"{"a":1,"b":{"c":[{"d":1}]}}"#, "t").is_ok());
        for bad in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"a":{"b":1,"b":1}}"#,
            br#"[{"x":1,"x":1}]"#,
            br#"{"a":1,"\u0061":2}"#,
            br#"{"a":1} {"b":2}"#,
            br#"{"a":1}x"#,
            b"{\"a\":\"\xff\"}",
        ] {
            assert!(
                from_json::<serde_json::Value>(bad, "t").is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// The check as it was before it became part of the one pass: a walk over the whole document
    /// refusing repeated keys, then `T::deserialize` on its own.
    fn two_passes<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
        struct Walk;
        impl<'de> Deserialize<'de> for Walk {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(Walk)
            }
        }
        impl<'de> Visitor<'de> for Walk {
            type Value = Walk;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_str<E>(self, _: &str) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_unit<E>(self) -> Result<Walk, E> {
                Ok(Walk)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Walk, A::Error> {
                while seq.next_element::<Walk>()?.is_some() {}
                Ok(Walk)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Walk, A::Error> {
                let mut seen: Vec<String> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if seen.contains(&key) {
                        return Err(de::Error::custom("duplicate key"));
                    }
                    seen.push(key);
                    map.next_value::<Walk>()?;
                }
                Ok(Walk)
            }
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        Walk::deserialize(&mut de).ok()?;
        de.end().ok()?;
        serde_json::from_slice(bytes).ok()
    }

    /// Whether the one pass and the two passes agree on `doc`, read as claims, a footer and a
    /// plain value; and which way they went for the claims.
    fn agree(doc: &[u8]) -> bool {
        let text = String::from_utf8_lossy(doc);
        let claims = from_json::<Claims>(doc, "t").ok();
        assert_eq!(claims, two_passes::<Claims>(doc), "claims {text}");
        assert_eq!(
            from_json::<Footer<'_>>(doc, "t").ok().map(|f| f.kid),
            two_passes::<Footer<'_>>(doc).map(|f| f.kid),
            "footer {text}"
        );
        assert_eq!(
            from_json::<serde_json::Value>(doc, "t").ok(),
            two_passes::<serde_json::Value>(doc),
            "value {text}"
        );
        assert_eq!(
            from_json::<RevocationClaims>(doc, "t").ok(),
            two_passes::<RevocationClaims>(doc),
            "revocations {text}"
        );
        claims.is_some()
    }

    fn claims_json() -> String {
        let t = |s| Timestamp::parse_rfc3339(s).unwrap();
        let mut c = Claims::new(
            "acme",
            "cust",
            "lic-1",
            "prod",
            "sku",
            "order",
            t("2026-01-01T00:00:00Z"),
            t("2027-01-01T00:00:00Z"),
            t("2027-01-16T00:00:00Z"),
        );
        c.entitlements
            .insert("edition".into(), serde_json::json!("pro"));
        c.entitlements.insert("max".into(), serde_json::json!(20));
        serde_json::to_string(&c).unwrap()
    }

    /// `claims` with `extra` added as the last member of the top-level object.
    fn with(claims: &str, extra: &str) -> Vec<u8> {
        alloc::format!("{},{extra}}}", &claims[..claims.len() - 1]).into_bytes()
    }

    #[test]
    fn one_pass_agrees_with_two_passes() {
        let claims = claims_json();
        assert!(agree(claims.as_bytes()));
        let nested = |n: usize, dup: bool| {
            let mut o: Vec<String> = (0..n).map(|i| alloc::format!("\"k{i}\":{i}")).collect();
            if dup {
                o.push("\"k1\":0".into());
            }
            alloc::format!("{{{}}}", o.join(","))
        };
        let accepted = [
            r#""x":1"#,
            r#""x":{"a":1,"b":[{"a":1},{"a":2}]}"#,
            r#""x":[{"iss":1},{"iss":1}]"#,
            r#""x":{"a":{"b":1},"b":{"a":{"b":1}}}"#,
            r#""x":{"a":{"iss":1},"sub":1},"y":{"iss":2}"#,
            r#""x":"\u0069ss""#,
            r#""x":null,"y":1e3,"z":-0.5,"w":true"#,
            r#""\u00e9":1,"é\u0301":2"#,
            r#""x":{"":1,"a":{"":2}}"#,
            r#""iss2":1,"is":2,"ss":3"#,
        ];
        for extra in accepted {
            assert!(agree(&with(&claims, extra)), "{extra}");
        }
        let refused = [
            r#""x":1,"x":2"#,
            r#""x":{"a":1,"a":2}"#,
            r#""x":[{"a":1,"a":2}]"#,
            r#""x":{"a":{"b":{"c":1,"c":2}}}"#,
            r#""iss":"acme""#,
            r#""\u0069ss":"acme""#,
            r#""x":1,"\u0078":2"#,
            r#""\u00e9":1,"é":2"#,
            r#""x":{"\u0061":1,"a":2}"#,
            r#""x":{"":1,"":2}"#,
            r#""x":1e999"#,
            r#""x":"\ud800""#,
            r#""x":1,"#,
        ];
        for extra in refused {
            assert!(!agree(&with(&claims, extra)), "{extra}");
        }
        // More keys than are kept inline, with and without a repeat, at two depths.
        for n in [3, 23, 24, 25, 40] {
            assert!(agree(&with(
                &claims,
                &alloc::format!("\"x\":{}", nested(n, false))
            )));
            assert!(!agree(&with(
                &claims,
                &alloc::format!("\"x\":{}", nested(n, true))
            )));
            let deep = alloc::format!(
                "\"x\":{{\"y\":{},\"z\":{}}}",
                nested(n, false),
                nested(n, false)
            );
            assert!(agree(&with(&claims, &deep)));
            let deep = alloc::format!(
                "\"x\":{{\"y\":{},\"z\":{}}}",
                nested(n, false),
                nested(n, true)
            );
            assert!(!agree(&with(&claims, &deep)));
        }
        // A nested object's keys are forgotten when it ends, even where the summary cannot tell
        // a later key of the outer object from one of the outer object's earlier keys.
        let twin = (b'a'..=b'z')
            .flat_map(|x| (b'a'..=b'z').map(move |y| String::from_utf8(vec![b'_', x, y]).unwrap()))
            .find(|k| summary(k) == summary("a"))
            .unwrap();
        for n in [0, 30] {
            // Last, so that with many keys it is one of those kept beyond the inline ones.
            let inner = nested(n, false).replace('}', &alloc::format!(",\"{twin}\":1}}"));
            let inner = inner.replace("{,", "{");
            let doc = alloc::format!(r#""x":{{"a":{inner},"{twin}":2}}"#);
            assert!(agree(&with(&claims, &doc)), "{doc}");
        }
        // The entitlements object is a value like any other.
        let dup = claims.replace(r#""max":20"#, r#""max":20,"max":21"#);
        assert_ne!(dup, claims);
        assert!(!agree(dup.as_bytes()));
        let deep = claims.replace(r#""max":20"#, r#""max":{"a":[{"b":1,"b":2}]}"#);
        assert!(!agree(deep.as_bytes()));
        // Claims as an array of their values, one value a map with a repeated key.
        let values: serde_json::Value = serde_json::from_str(&claims).unwrap();
        let mut array: Vec<serde_json::Value> =
            values.as_object().unwrap().values().cloned().collect();
        agree(serde_json::to_string(&array).unwrap().as_bytes());
        array[14] = serde_json::json!({"a": 1});
        let text = serde_json::to_string(&array)
            .unwrap()
            .replace(r#"{"a":1}"#, r#"{"a":1,"a":2}"#);
        assert!(!agree(text.as_bytes()));
        for doc in [
            &br#"{"kid":"k4.pid.x"}"#[..],
            br#"{"kid":"k4.pid.x","kid":"k4.pid.y"}"#,
            br#"{"kid":"k4.pid.x","x":{"a":1,"a":1}}"#,
            br#"{"kid":"k4\u002epid.x"}"#,
            br#"{"iss":"a","iat":"2026-01-01T00:00:00Z","seq":1,"revoked":["a","a"]}"#,
            br#"{"iss":"a","iat":"2026-01-01T00:00:00Z","seq":1,"revoked":[],"seq":2}"#,
            b"{\"kid\":\"\xff\"}",
            b"",
            b"  {\"kid\":\"k\"}  ",
        ] {
            agree(doc);
        }
    }

    /// Random edits of a claims document: both readers keep agreeing.
    #[test]
    fn one_pass_agrees_with_two_passes_on_mangled_documents() {
        let claims = with(
            &claims_json(),
            r#""x":{"a":[1,{"b":2,"c":"\u0064"}],"d":null}"#,
        );
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let mut accepted = 0;
        for _ in 0..3000 {
            let mut doc = claims.clone();
            for _ in 0..1 + next(3) {
                let at = next(doc.len());
                match next(4) {
                    0 => {
                        doc.remove(at);
                    }
                    1 => doc.insert(at, b"\"{}[],:\\ a1"[next(11)]),
                    _ => {
                        // Repeat a stretch, which often repeats a key.
                        let len = 1 + next(24.min(doc.len() - at));
                        let copy = doc[at..at + len].to_vec();
                        let to = next(doc.len());
                        doc.splice(to..to, copy);
                    }
                }
            }
            accepted += usize::from(agree(&doc));
        }
        assert!(accepted > 0);
    }
}
