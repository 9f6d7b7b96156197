//! The claims of a license token (v1) and of a revocation list, and the strict JSON reading both
//! go through.
//!
//! Every claim the verifier relies on is required; a token missing one is malformed. Unknown
//! claims are ignored so that a newer issuer can add some without breaking shipped software.
//! JSON with a duplicated key anywhere is refused: two parsers could read different values from
//! it, which is exactly the confusion a signature is meant to rule out.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
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
}

impl Serialize for TokenStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            TokenStatus::Active => "active",
            TokenStatus::Frozen => "frozen",
        })
    }
}

impl<'de> Deserialize<'de> for TokenStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match <alloc::borrow::Cow<'de, str>>::deserialize(d)?.as_ref() {
            "active" => Ok(TokenStatus::Active),
            "frozen" => Ok(TokenStatus::Frozen),
            other => Err(de::Error::unknown_variant(other, &["active", "frozen"])),
        }
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
    /// Revoked license ids (`jti`).
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

/// The footer every licd token carries: which key signed it.
#[derive(Serialize, Deserialize)]
pub(crate) struct Footer<'a> {
    #[serde(borrow)]
    pub(crate) kid: alloc::borrow::Cow<'a, str>,
}

/// A field that must be present but may be `null`.
fn required_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// Parses JSON strictly: UTF-8, one value with nothing after it, no duplicate key at any depth.
/// `what` names the part of the token in the error.
pub(crate) fn from_json<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<T, VerifyError> {
    let malformed = |_| VerifyError::Malformed { reason: what };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    NoDuplicates::deserialize(&mut de).map_err(malformed)?;
    de.end().map_err(malformed)?;
    serde_json::from_slice(bytes).map_err(malformed)
}

/// A JSON value walked only to prove that no object repeats a key.
struct NoDuplicates;

impl<'de> Deserialize<'de> for NoDuplicates {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicatesVisitor)
    }
}

struct NoDuplicatesVisitor;

impl<'de> Visitor<'de> for NoDuplicatesVisitor {
    type Value = NoDuplicates;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without duplicate keys")
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_unit<E>(self) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicates, A::Error> {
        while seq.next_element::<NoDuplicates>()?.is_some() {}
        Ok(NoDuplicates)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicates, A::Error> {
        // Objects here have a handful of keys: a linear scan beats a tree and allocates only
        // for keys that contain escapes. Keys are compared after unescaping: "a" and "\u0061"
        // are the same key.
        let mut seen: Vec<Key<'de>> = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if seen.iter().any(|k| k.as_str() == key.as_str()) {
                return Err(de::Error::custom("duplicate key"));
            }
            seen.push(key);
            map.next_value::<NoDuplicates>()?;
        }
        Ok(NoDuplicates)
    }
}

/// An object key, borrowed from the input unless it had to be unescaped.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.into()))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
