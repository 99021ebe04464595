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

const NOT_A_ROW: &str = "a CSV row must be a struct with named fields";

fn unsupported<T>(what: &str) -> Result<T, RowError> {
    Err(RowError(format!("a CSV cell cannot hold {what}")))
}

/// The field names and cells of `value`, which must serialise as a struct.
pub(crate) fn row<T: Serialize + ?Sized>(value: &T) -> Result<Row, RowError> {
    match value.serialize(Cell { depth: 0 })? {
        Out::Row(r) => Ok(r),
        Out::Text(_) => unreachable!("depth 0 yields rows or errors"),
    }
}

/// Header names and cells of one row.
#[derive(Debug, Default)]
pub(crate) struct Row {
    pub(crate) names: Vec<&'static str>,
    pub(crate) cells: Vec<String>,
}

/// What a value serialises to: the row (depth 0) or one cell's text.
pub(crate) enum Out {
    Row(Row),
    Text(String),
}

impl Out {
    fn text(self) -> String {
        match self {
            Out::Text(t) => t,
            Out::Row(_) => unreachable!("only depth 0 yields a row"),
        }
    }
}

/// The serializer at one depth: 0 = the row (a struct), 1 = a field's cell, 2 = an element of
/// a sequence cell (scalars only).
#[derive(Clone, Copy)]
struct Cell {
    depth: u8,
}

impl Cell {
    fn text(self, t: String) -> Result<Out, RowError> {
        if self.depth == 0 {
            return Err(RowError(NOT_A_ROW.into()));
        }
        Ok(Out::Text(t))
    }
}

impl SerializeStruct for Row {
    type Ok = Out;
    type Error = RowError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        self.names.push(key);
        self.cells.push(value.serialize(Cell { depth: 1 })?.text());
        Ok(())
    }
    fn end(self) -> Result<Out, RowError> {
        Ok(Out::Row(self))
    }
}

/// The elements of a sequence cell, joined as `[a, b]`.
struct SeqCell(Vec<String>);

impl SerializeSeq for SeqCell {
    type Ok = Out;
    type Error = RowError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
        self.0.push(value.serialize(Cell { depth: 2 })?.text());
        Ok(())
    }
    fn end(self) -> Result<Out, RowError> {
        Ok(Out::Text(format!("[{}]", self.0.join(", "))))
    }
}

macro_rules! display_cells {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, v: $ty) -> Result<Out, RowError> {
            self.text(v.to_string())
        })*
    };
}

impl Serializer for Cell {
    type Ok = Out;
    type Error = RowError;
    type SerializeSeq = SeqCell;
    type SerializeTuple = Impossible<Out, RowError>;
    type SerializeTupleStruct = Impossible<Out, RowError>;
    type SerializeTupleVariant = Impossible<Out, RowError>;
    type SerializeMap = Impossible<Out, RowError>;
    type SerializeStruct = Row;
    type SerializeStructVariant = Impossible<Out, RowError>;

    display_cells!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_char: char,
        serialize_str: &str
    );
    fn serialize_f32(self, v: f32) -> Result<Out, RowError> {
        self.text(ryu::Buffer::new().format(v).to_string())
    }
    fn serialize_f64(self, v: f64) -> Result<Out, RowError> {
        self.text(ryu::Buffer::new().format(v).to_string())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Out, RowError> {
        unsupported("bytes")
    }
    fn serialize_none(self) -> Result<Out, RowError> {
        self.text(String::new())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Out, RowError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Out, RowError> {
        self.text(String::new())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Out, RowError> {
        self.text(String::new())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Out, RowError> {
        self.text(variant.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Out, RowError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Out, RowError> {
        unsupported("an enum variant with data")
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqCell, RowError> {
        match self.depth {
            1 => Ok(SeqCell(Vec::with_capacity(len.unwrap_or(0)))),
            0 => Err(RowError(NOT_A_ROW.into())),
            _ => unsupported("a sequence of sequences"),
        }
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
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Row, RowError> {
        if self.depth > 0 {
            return unsupported(&format!("a nested struct ({name})"));
        }
        Ok(Row {
            names: Vec::with_capacity(len),
            cells: Vec::with_capacity(len),
        })
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
