//! Reading a V2 callback body: one JSON object, read by the verifier's strict reader
//! ([`client_verifier::strict_json`]: UTF-8, nothing after the value, no key repeated at any
//! depth), so the marketplace's bodies and licd's tokens obey one rule.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::code::ProtocolError;

/// A top-level field's value, kept only as far as callbacks need: strings and integers are
/// read, anything else is remembered by kind so an error can say what arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum JsonField {
    Null,
    Str(String),
    Int(i64),
    /// A boolean, a non-integer or huge number, an array or an object: named for messages.
    Other(&'static str),
}

/// The top-level object of `body`, its fields by name.
pub(super) fn parse_object(body: &[u8]) -> Result<BTreeMap<String, JsonField>, ProtocolError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ProtocolError::invalid("body", format!("not UTF-8 ({e})")))?;
    if !text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return Err(ProtocolError::invalid("body", "not a JSON object"));
    }
    client_verifier::strict_json::from_str::<TopLevel>(text)
        .map(|top| top.0)
        .map_err(|e| ProtocolError::invalid("body", e))
}

struct TopLevel(BTreeMap<String, JsonField>);

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = TopLevel;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
        // The strict reader has refused a repeated key by the time one gets here.
        let mut fields = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<JsonField>()?;
            fields.insert(key, value);
        }
        Ok(TopLevel(fields))
    }
}

impl<'de> Deserialize<'de> for JsonField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = JsonField;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<JsonField, E> {
        Ok(JsonField::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<JsonField, E> {
        Ok(JsonField::Other("a boolean"))
    }
    fn visit_i64<E>(self, v: i64) -> Result<JsonField, E> {
        Ok(JsonField::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<JsonField, E> {
        Ok(i64::try_from(v).map_or(JsonField::Other("a number"), JsonField::Int))
    }
    fn visit_f64<E>(self, _: f64) -> Result<JsonField, E> {
        Ok(JsonField::Other("a number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<JsonField, E> {
        Ok(JsonField::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<JsonField, E> {
        Ok(JsonField::Str(v))
    }
    // Nested values are only walked; the strict reader checks their keys on the way.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonField, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonField::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonField, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JsonField::Other("an object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marketplace::ResultCode;

    #[test]
    fn reads_strings_integers_and_kinds() {
        let fields = parse_object(
            br#" {"s":"x\u0041","i":1,"n":null,"b":true,"f":1.5,"a":[1,{"k":2}],"o":{"k":[]},"big":18446744073709551615} "#,
        )
        .unwrap();
        assert_eq!(fields["s"], JsonField::Str("xA".into()));
        assert_eq!(fields["i"], JsonField::Int(1));
        assert_eq!(fields["n"], JsonField::Null);
        assert_eq!(fields["b"], JsonField::Other("a boolean"));
        assert_eq!(fields["f"], JsonField::Other("a number"));
        assert_eq!(fields["a"], JsonField::Other("an array"));
        assert_eq!(fields["o"], JsonField::Other("an object"));
        assert_eq!(fields["big"], JsonField::Other("a number"));
    }

    #[test]
    fn rejects_duplicate_json_keys_at_any_depth() {
        for body in [
            r#"{"orderId":"a","orderId":"b"}"#,
            r#"{"orderId":"a","\u006frderId":"b"}"#,
            r#"{"x":{"orderId":1,"orderId":2}}"#,
            r#"{"x":[{"orderId":1,"orderId":2}]}"#,
        ] {
            let err = parse_object(body.as_bytes()).unwrap_err();
            assert_eq!(err.code, ResultCode::InvalidParam, "{body}");
            assert!(
                err.message.starts_with(r#"body: duplicate key "orderId""#),
                "{body}: {err}"
            );
        }
    }

    #[test]
    fn rejects_what_is_not_one_json_object() {
        for (body, expected) in [
            (&b""[..], "body: not a JSON object"),
            (b"[]", "body: not a JSON object"),
            (b"\"s\"", "body: not a JSON object"),
            (b"null", "body: not a JSON object"),
            (b"\xef\xbb\xbf{}", "body: not a JSON object"),
            (b"{} {}", "body: trailing characters"),
            (b"{\"a\":1", "body: EOF"),
            (b"{\"a\":\"\xff\"}", "body: not UTF-8"),
            (br#"{"a":"\ud800"}"#, "body: unexpected end of hex escape"),
        ] {
            let err = parse_object(body).unwrap_err();
            assert_eq!(err.code, ResultCode::InvalidParam);
            assert!(
                err.message.starts_with(expected),
                "{:?}: {err}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let body = format!(r#"{{"a":{}1{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        let err = parse_object(body.as_bytes()).unwrap_err();
        assert!(err.message.contains("recursion limit"), "{err}");
    }
}
