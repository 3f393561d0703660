//! Serde glue: a built-in's parameters type read and written as its variant of `PolicySpec`.
//!
//! A derived `Deserialize` of a struct asks its deserializer for a struct, a newtype struct's
//! for a newtype struct, a unit struct's for a unit struct. [`VariantDeserializer`] answers
//! each with the same request on the enum variant (`struct_variant`, `newtype_variant`,
//! `unit_variant`), which is what a derived enum with the fields written inline would make.
//! So `MaglevSpec` reads `Maglev(table_size: 5003)` with ron's own syntax, messages and
//! positions. [`VariantSerializer`] does the same in the other direction.

use serde::de::{self, DeserializeSeed, VariantAccess, Visitor};
use serde::ser::{self, Impossible, Serialize, SerializeStruct, SerializeStructVariant, Serializer};

const NOT_A_SPEC: &str = "policy parameters must be a struct, a newtype struct or a unit struct";

/// Reads a parameters type from the variant `A` of an enum.
pub(super) struct VariantDeserializer<A>(pub(super) A);

impl<'de, A: VariantAccess<'de>> de::Deserializer<'de> for VariantDeserializer<A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, A::Error> {
        Err(de::Error::custom(NOT_A_SPEC))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        self.0.unit_variant()?;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.newtype_variant_seed(Newtype(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option seq map enum identifier ignored_any
    }
}

/// A newtype struct's visitor, handed the deserializer of the variant's content.
struct Newtype<V>(V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for Newtype<V> {
    type Value = V::Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(deserializer)
    }
}

/// Writes a parameters type as the variant `variant` (number `index`) of the enum `name`.
pub(super) struct VariantSerializer<S> {
    pub(super) inner: S,
    pub(super) name: &'static str,
    pub(super) index: u32,
    pub(super) variant: &'static str,
}

macro_rules! not_a_spec {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<S::Ok, S::Error> {
            Err(ser::Error::custom(NOT_A_SPEC))
        })*
    };
}

impl<S: Serializer> Serializer for VariantSerializer<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = Impossible<S::Ok, S::Error>;
    type SerializeStruct = Fields<S::SerializeStructVariant>;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    not_a_spec! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_u8(u8), serialize_u16(u16), serialize_u32(u32),
        serialize_u64(u64), serialize_f32(f32), serialize_f64(f64), serialize_char(char),
        serialize_str(&str), serialize_bytes(&[u8]), serialize_none(),
        serialize_unit_variant(&'static str, u32, &'static str),
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(self.name, self.index, self.variant)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<S::Ok, S::Error> {
        self.serialize_unit()
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_newtype_variant(self.name, self.index, self.variant, value)
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Self::SerializeStruct, S::Error> {
        self.inner.serialize_struct_variant(self.name, self.index, self.variant, len).map(Fields)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _value: &T) -> Result<S::Ok, S::Error> {
        Err(ser::Error::custom(NOT_A_SPEC))
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(ser::Error::custom(NOT_A_SPEC))
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Err(ser::Error::custom(NOT_A_SPEC))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, S::Error> {
        Err(ser::Error::custom(NOT_A_SPEC))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        Err(ser::Error::custom(NOT_A_SPEC))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Err(ser::Error::custom(NOT_A_SPEC))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Err(ser::Error::custom(NOT_A_SPEC))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Err(ser::Error::custom(NOT_A_SPEC))
    }
}

/// A struct's fields, written as a struct variant's.
pub(super) struct Fields<V>(V);

impl<V: SerializeStructVariant> SerializeStruct for Fields<V> {
    type Ok = V::Ok;
    type Error = V::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), V::Error> {
        self.0.serialize_field(key, value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), V::Error> {
        self.0.skip_field(key)
    }

    fn end(self) -> Result<V::Ok, V::Error> {
        self.0.end()
    }
}
