//! One CSV row from any `Serialize` struct: a header name and a cell per field.
//!
//! The `csv` crate refuses a sequence inside a struct, yet a result row's coordinates include
//! one (the injected layers, a list in JSON). Here a sequence of scalars becomes one cell,
//! `[0, 3]`, so the column has the same type in every file (pandas reads it as text whether a
//! row holds one layer or several). Scalars are written as the `csv` crate writes them (floats
//! with `ryu`, `None` as an empty cell, unit variants by name), so rows without sequences are
//! byte-identical to its output.

use std::fmt::{self, Display};

use serde::ser::{self, Impossible, Serialize, SerializeSeq, SerializeStruct, Serializer};

/// Why a value cannot be one CSV row.
#[derive(Debug)]
pub(crate) struct RowError(String);

impl Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RowError {}

impl ser::Error for RowError {
    fn custom<T: Display>(msg: T) -> Self {
        RowError(msg.to_string())
    }
}

fn unsupported<T>(what: &str) -> Result<T, RowError> {
    Err(RowError(format!("a CSV cell cannot hold {what}")))
}

/// The field names and cells of `value`, which must serialise as a struct.
pub(crate) fn row<T: Serialize + ?Sized>(value: &T) -> Result<Row, RowError> {
    value.serialize(RowSer)
}

/// Header names and cells of one row.
#[derive(Debug, Default)]
pub(crate) struct Row {
    pub(crate) names: Vec<&'static str>,
    pub(crate) cells: Vec<String>,
}

struct RowSer;

impl SerializeStruct for Row {
    type Ok = Row;
    type Error = RowError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        self.names.push(key);
        self.cells.push(value.serialize(Cell { in_seq: false })?);
        Ok(())
    }
    fn end(self) -> Result<Row, RowError> {
        Ok(self)
    }
}

/// Serialises a value to the text of one cell. Inside a sequence only scalars are allowed.
#[derive(Clone, Copy)]
struct Cell {
    in_seq: bool,
}

/// The elements of a sequence cell, joined as `[a, b]`.
struct SeqCell(Vec<String>);

impl SerializeSeq for SeqCell {
    type Ok = String;
    type Error = RowError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
        self.0.push(value.serialize(Cell { in_seq: true })?);
        Ok(())
    }
    fn end(self) -> Result<String, RowError> {
        Ok(format!("[{}]", self.0.join(", ")))
    }
}

macro_rules! display_cells {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, v: $ty) -> Result<String, RowError> {
            Ok(v.to_string())
        })*
    };
}

impl Serializer for Cell {
    type Ok = String;
    type Error = RowError;
    type SerializeSeq = SeqCell;
    type SerializeTuple = Impossible<String, RowError>;
    type SerializeTupleStruct = Impossible<String, RowError>;
    type SerializeTupleVariant = Impossible<String, RowError>;
    type SerializeMap = Impossible<String, RowError>;
    type SerializeStruct = Impossible<String, RowError>;
    type SerializeStructVariant = Impossible<String, RowError>;

    display_cells!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_char: char,
        serialize_str: &str
    );
    fn serialize_f32(self, v: f32) -> Result<String, RowError> {
        Ok(ryu::Buffer::new().format(v).to_string())
    }
    fn serialize_f64(self, v: f64) -> Result<String, RowError> {
        Ok(ryu::Buffer::new().format(v).to_string())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, RowError> {
        unsupported("bytes")
    }
    fn serialize_none(self) -> Result<String, RowError> {
        Ok(String::new())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<String, RowError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, RowError> {
        Ok(String::new())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, RowError> {
        Ok(String::new())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, RowError> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<String, RowError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, RowError> {
        unsupported("an enum variant with data")
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqCell, RowError> {
        if self.in_seq {
            return unsupported("a sequence of sequences");
        }
        Ok(SeqCell(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, RowError> {
        unsupported("a tuple")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, RowError> {
        unsupported("a tuple struct")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, RowError> {
        unsupported("an enum variant with data")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RowError> {
        unsupported("a map")
    }
    fn serialize_struct(
        self,
        name: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, RowError> {
        unsupported(&format!("a nested struct ({name})"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, RowError> {
        unsupported("an enum variant with data")
    }
}

impl Serializer for RowSer {
    type Ok = Row;
    type Error = RowError;
    type SerializeSeq = Impossible<Row, RowError>;
    type SerializeTuple = Impossible<Row, RowError>;
    type SerializeTupleStruct = Impossible<Row, RowError>;
    type SerializeTupleVariant = Impossible<Row, RowError>;
    type SerializeMap = Impossible<Row, RowError>;
    type SerializeStruct = Row;
    type SerializeStructVariant = Impossible<Row, RowError>;

    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Row, RowError> {
        Ok(Row {
            names: Vec::with_capacity(len),
            cells: Vec::with_capacity(len),
        })
    }
    fn serialize_bool(self, _: bool) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_i8(self, _: i8) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_i16(self, _: i16) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_i32(self, _: i32) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_i64(self, _: i64) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_u8(self, _: u8) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_u16(self, _: u16) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_u32(self, _: u32) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_u64(self, _: u64) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_f32(self, _: f32) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_f64(self, _: f64) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_char(self, _: char) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_str(self, _: &str) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_none(self) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Row, RowError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Row, RowError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Row, RowError> {
        not_a_struct()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, RowError> {
        not_a_struct()
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, RowError> {
        not_a_struct()
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, RowError> {
        not_a_struct()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, RowError> {
        not_a_struct()
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RowError> {
        not_a_struct()
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, RowError> {
        not_a_struct()
    }
}

fn not_a_struct<T>() -> Result<T, RowError> {
    Err(RowError(
        "a CSV row must be a struct with named fields".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    #[serde(rename_all = "kebab-case")]
    enum Level {
        Pair,
    }

    #[derive(serde::Serialize)]
    struct Rec {
        layers: Vec<u32>,
        size: Option<f64>,
        level: Level,
        acc: f64,
        name: &'static str,
    }

    #[test]
    fn sequences_become_one_bracketed_cell_and_scalars_match_csv() {
        let r = row(&Rec {
            layers: vec![0, 3],
            size: None,
            level: Level::Pair,
            acc: f64::NAN,
            name: "a",
        })
        .unwrap();
        assert_eq!(r.names, ["layers", "size", "level", "acc", "name"]);
        assert_eq!(r.cells, ["[0, 3]", "", "pair", "NaN", "a"]);
        let one = row(&Rec {
            layers: vec![2],
            size: Some(0.1),
            level: Level::Pair,
            acc: 1.0,
            name: "",
        })
        .unwrap();
        assert_eq!(one.cells[..2], ["[2]", "0.1"]);
        assert_eq!(one.cells[3], "1.0");
    }

    #[test]
    fn what_a_cell_cannot_hold_is_named() {
        #[derive(serde::Serialize)]
        struct Nested {
            inner: Vec<Vec<u8>>,
        }
        let e = row(&Nested {
            inner: vec![vec![1]],
        })
        .unwrap_err();
        assert!(e.to_string().contains("sequence of sequences"), "{e}");
        assert!(row(&3u8).unwrap_err().to_string().contains("struct"));
    }
}
