//! Strict JSON: UTF-8, one value with nothing after it, no object repeating a key at any depth.
//!
//! Shared by everything that reads JSON whose bytes are signed or authenticated: the verifier's
//! token claims, footers and revocation lists, and licd's reading of the marketplace's V2
//! callback bodies. A repeated key is refused rather than resolved, because two parsers could
//! pick different copies while the signature covers both.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// Reads one `T` from `text` strictly: nothing may follow the value, and no object at any depth
/// may repeat a key (compared after unescaping: "a" and "\u0061" are the same key). The error
/// names a repeated key.
///
/// One pass: `T` is deserialised through `Strict`, which checks every object's keys as they go
/// by and walks every value `T` ignores with the same check. A value `T` accepts this way is
/// exactly one that a duplicate-key pass over the whole document followed by `T::deserialize`
/// would accept: `T::deserialize` and `end` succeeding means the whole document was consumed,
/// every value in it reached a visitor wrapped by `Strict`, and the only way serde_json consumes
/// a value without visiting it (`ignored_any`) is turned into a visit.
pub fn from_str<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut keys = Keys::default();
    let value = T::deserialize(Strict {
        de: &mut de,
        keys: &mut keys,
    })?;
    de.end()?;
    Ok(value)
}

/// The keys of the objects being read, outermost object first. An object's keys follow those of
/// the objects it is nested in and are dropped when it ends, so one store serves a whole document
/// and a typical one allocates nothing.
struct Keys<'de> {
    /// The first keys borrowed from the input.
    inline: [&'de str; INLINE_KEYS],
    inline_len: usize,
    /// Further keys, and keys that had to be unescaped.
    more: Vec<Key<'de>>,
}

/// Enough for a license's claims and its nested objects.
const INLINE_KEYS: usize = 24;

impl Default for Keys<'_> {
    fn default() -> Self {
        Keys {
            inline: [""; INLINE_KEYS],
            inline_len: 0,
            more: Vec::new(),
        }
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

/// A number below 64 that depends only on a key's length and its first and last bytes. The
/// fifteen claim names map to fifteen different numbers.
pub(crate) fn summary(k: &str) -> u32 {
    let b = k.as_bytes();
    let (first, last) = match b {
        [] => (0, 0),
        [f, .., l] => (*f, *l),
        [f] => (*f, *f),
    };
    let x = ((b.len() as u32) << 16) | (u32::from(first) << 8) | u32::from(last);
    x.wrapping_mul(0x9b81_0e77) >> 26
}

/// A deserializer that refuses an object repeating a key, at any depth, and never skips a value
/// unseen. Keys are compared after unescaping: "a" and "\u0061" are the same key.
///
/// Map keys must reach the key's visitor as a string (always so in JSON); a key that does not is
/// refused, since it could not be checked.
struct Strict<'s, 'de, D> {
    de: D,
    keys: &'s mut Keys<'de>,
}

/// Calls `$forward!` with every `Deserializer` method but `deserialize_ignored_any` (which each
/// wrapper handles on its own), each with its arguments before the visitor.
macro_rules! every_deserialize_method {
    ($forward:ident) => {
        $forward! {
            deserialize_any()
            deserialize_bool()
            deserialize_i8()
            deserialize_i16()
            deserialize_i32()
            deserialize_i64()
            deserialize_i128()
            deserialize_u8()
            deserialize_u16()
            deserialize_u32()
            deserialize_u64()
            deserialize_u128()
            deserialize_f32()
            deserialize_f64()
            deserialize_char()
            deserialize_str()
            deserialize_string()
            deserialize_bytes()
            deserialize_byte_buf()
            deserialize_option()
            deserialize_unit()
            deserialize_unit_struct(name: &'static str)
            deserialize_newtype_struct(name: &'static str)
            deserialize_seq()
            deserialize_tuple(len: usize)
            deserialize_tuple_struct(name: &'static str, len: usize)
            deserialize_map()
            deserialize_struct(name: &'static str, fields: &'static [&'static str])
            deserialize_enum(name: &'static str, variants: &'static [&'static str])
            deserialize_identifier()
        }
    };
}

/// Forwards `Deserializer` methods to the inner deserializer, wrapping the visitor.
macro_rules! forward_strict {
    ($($method:ident($($arg:ident: $ty:ty),*))*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.de.$method($($arg,)* Wrap { v: visitor, keys: self.keys })
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<'_, 'de, D> {
    type Error = D::Error;

    every_deserialize_method!(forward_strict);

    /// An ignored value is still walked, so a duplicate inside an unknown claim is found.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_any(Wrap {
            v: visitor,
            keys: self.keys,
        })
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// Forwards the `Visitor` methods that carry no nested deserializer or string to the visitor in
/// field `$inner`.
macro_rules! forward_scalars {
    ($inner:tt) => {
        forward_scalars! {
            @$inner;
            visit_bool(bool)
            visit_i8(i8)
            visit_i16(i16)
            visit_i32(i32)
            visit_i64(i64)
            visit_i128(i128)
            visit_u8(u8)
            visit_u16(u16)
            visit_u32(u32)
            visit_u64(u64)
            visit_u128(u128)
            visit_f32(f32)
            visit_f64(f64)
            visit_char(char)
            visit_bytes(&[u8])
            visit_borrowed_bytes(&'de [u8])
            visit_byte_buf(Vec<u8>)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            self.$inner.visit_none()
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            self.$inner.visit_unit()
        }
    };
    (@$inner:tt; $($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.$inner.$method(v)
        }
    )*};
}

/// A visitor whose nested maps, sequences and values go through [`Strict`] too.
struct Wrap<'s, 'de, V> {
    v: V,
    keys: &'s mut Keys<'de>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.v.expecting(f)
    }

    forward_scalars!(v);

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        self.v.visit_str(v)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        self.v.visit_borrowed_str(v)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        self.v.visit_string(v)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.v.visit_some(Strict {
            de: d,
            keys: self.keys,
        })
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.v.visit_newtype_struct(Strict {
            de: d,
            keys: self.keys,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.v.visit_seq(StrictSeq {
            seq,
            keys: self.keys,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.v.visit_map(StrictMap {
            map,
            inline_at: self.keys.inline_len,
            more_at: self.keys.more.len(),
            bits: 0,
            keys: self.keys,
        })
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.v.visit_enum(StrictEnum {
            data,
            keys: self.keys,
        })
    }
}

/// A seed whose value is deserialised through [`Strict`].
struct StrictSeed<'s, 'de, S> {
    seed: S,
    keys: &'s mut Keys<'de>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for StrictSeed<'_, 'de, S> {
    type Value = S::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Strict {
            de: d,
            keys: self.keys,
        })
    }
}

struct StrictSeq<'s, 'de, A> {
    seq: A,
    keys: &'s mut Keys<'de>,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for StrictSeq<'_, 'de, A> {
    type Error = A::Error;
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        self.seq.next_element_seed(StrictSeed {
            seed,
            keys: &mut *self.keys,
        })
    }
    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}

struct StrictEnum<'s, 'de, A> {
    data: A,
    keys: &'s mut Keys<'de>,
}

impl<'s, 'de, A: EnumAccess<'de>> EnumAccess<'de> for StrictEnum<'s, 'de, A> {
    type Error = A::Error;
    type Variant = StrictVariant<'s, 'de, A::Variant>;
    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let keys = self.keys;
        let (value, variant) = self.data.variant_seed(StrictSeed {
            seed,
            keys: &mut *keys,
        })?;
        Ok((value, StrictVariant { variant, keys }))
    }
}

struct StrictVariant<'s, 'de, A> {
    variant: A,
    keys: &'s mut Keys<'de>,
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for StrictVariant<'_, 'de, A> {
    type Error = A::Error;
    fn unit_variant(self) -> Result<(), A::Error> {
        self.variant.unit_variant()
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.variant.newtype_variant_seed(StrictSeed {
            seed,
            keys: self.keys,
        })
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.variant.tuple_variant(
            len,
            Wrap {
                v: visitor,
                keys: self.keys,
            },
        )
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.variant.struct_variant(
            fields,
            Wrap {
                v: visitor,
                keys: self.keys,
            },
        )
    }
}

/// An object being read. Its keys are `keys.inline[inline_at..]` and `keys.more[more_at..]`;
/// bit `summary(k)` of `bits` is set for each key `k` so far, so a clear bit proves a key new
/// without a scan.
struct StrictMap<'s, 'de, A> {
    map: A,
    keys: &'s mut Keys<'de>,
    inline_at: usize,
    more_at: usize,
    bits: u64,
}

impl<'de, A> StrictMap<'_, 'de, A> {
    /// Records `key` as one of this object's; gives it back if it already was.
    #[inline(always)]
    fn insert(&mut self, key: Key<'de>) -> Result<(), Key<'de>> {
        let k = key.as_str();
        let bit = 1u64 << summary(k);
        if self.bits & bit != 0
            && (self.keys.inline[self.inline_at..self.keys.inline_len].contains(&k)
                || self.keys.more[self.more_at..]
                    .iter()
                    .any(|m| m.as_str() == k))
        {
            return Err(key);
        }
        self.bits |= bit;
        let keys = &mut *self.keys;
        match key {
            Key::Borrowed(k) if keys.inline_len < INLINE_KEYS => {
                keys.inline[keys.inline_len] = k;
                keys.inline_len += 1;
            }
            key => keys.more.push(key),
        }
        Ok(())
    }
}

impl<A> Drop for StrictMap<'_, '_, A> {
    /// The object has ended: its keys make room for the next object's.
    fn drop(&mut self) {
        self.keys.inline_len = self.inline_at;
        self.keys.more.truncate(self.more_at);
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for StrictMap<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let mut key = None;
        let value = self.map.next_key_seed(KeySeed {
            seed,
            key: &mut key,
            keys: &mut *self.keys,
        })?;
        if value.is_some() {
            let key = key.ok_or_else(|| de::Error::custom("object key is not a string"))?;
            if let Err(key) = self.insert(key) {
                let key = key.as_str();
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
        }
        Ok(value)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(StrictSeed {
            seed,
            keys: &mut *self.keys,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// The seed of an object key: deserialises it as asked and notes the string it was read from.
struct KeySeed<'k, 's, 'de, S> {
    seed: S,
    key: &'k mut Option<Key<'de>>,
    keys: &'s mut Keys<'de>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, '_, 'de, S> {
    type Value = S::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(KeyDe {
            de: d,
            key: self.key,
            keys: self.keys,
        })
    }
}

struct KeyDe<'k, 's, 'de, D> {
    de: D,
    key: &'k mut Option<Key<'de>>,
    keys: &'s mut Keys<'de>,
}

/// Forwards `Deserializer` methods of a key, wrapping the visitor to note the key.
macro_rules! forward_key {
    ($($method:ident($($arg:ident: $ty:ty),*))*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.de.$method($($arg,)* Capture { visitor, key: self.key, keys: self.keys })
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyDe<'_, '_, 'de, D> {
    type Error = D::Error;

    every_deserialize_method!(forward_key);

    /// An ignored key is still read, so that it can be checked.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_any(Capture {
            visitor,
            key: self.key,
            keys: self.keys,
        })
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// The visitor of an object key: notes the key's text, then hands it on.
struct Capture<'k, 's, 'de, V> {
    visitor: V,
    key: &'k mut Option<Key<'de>>,
    keys: &'s mut Keys<'de>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Capture<'_, '_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    forward_scalars!(visitor);

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        *self.key = Some(Key::Owned(v.into()));
        self.visitor.visit_str(v)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        *self.key = Some(Key::Borrowed(v));
        self.visitor.visit_borrowed_str(v)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        *self.key = Some(Key::Owned(v.clone()));
        self.visitor.visit_string(v)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(KeyDe {
            de: d,
            key: self.key,
            keys: self.keys,
        })
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(KeyDe {
            de: d,
            key: self.key,
            keys: self.keys,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        Wrap {
            v: self.visitor,
            keys: self.keys,
        }
        .visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        Wrap {
            v: self.visitor,
            keys: self.keys,
        }
        .visit_map(map)
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        Wrap {
            v: self.visitor,
            keys: self.keys,
        }
        .visit_enum(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_the_repeated_key_after_unescaping() {
        let e =
            from_str::<serde_json::Value>(r#"{"a":{"orderId":1,"\u006frderId":2}}"#).unwrap_err();
        assert!(e.to_string().contains(r#"duplicate key "orderId""#), "{e}");
        let e = from_str::<IgnoredDoc>(r#"{"x":[{"k":1,"k":2}]}"#).unwrap_err();
        assert!(e.to_string().contains(r#"duplicate key "k""#), "{e}");
        assert!(from_str::<IgnoredDoc>(r#"{"x":[{"k":1},{"k":2}]}"#).is_ok());
    }

    /// A type that ignores every field: what it skips is still checked.
    #[derive(Debug, Deserialize)]
    struct IgnoredDoc {}
}
