//! The inverse of [`crate::csv_row`]: rows of a result CSV back into the structs that wrote
//! them, for `xbar report` (re-drawing plots and summaries from a results folder).
//!
//! A cell is parsed as the type the struct's field asks for: numbers with Rust's parsers
//! (which read `ryu`'s output, `NaN` and `inf` back exactly), an empty cell as `None`, `[a, b]`
//! as a sequence, a unit variant by name. Nothing is guessed from the text alone, so a label
//! that looks like a number stays a string.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

/// Why a cell does not read as its field's type.
#[derive(Debug)]
pub(crate) struct CellError(String);

impl std::fmt::Display for CellError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CellError {}

impl de::Error for CellError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        CellError(msg.to_string())
    }
}

/// One cell's text.
#[derive(Clone, Copy)]
struct Cell<'a>(&'a str);

impl<'a> IntoDeserializer<'a, CellError> for Cell<'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl Cell<'_> {
    fn parse<T: std::str::FromStr>(self, what: &str) -> Result<T, CellError> {
        self.0
            .trim()
            .parse()
            .map_err(|_| CellError(format!("{:?} is not {what}", self.0)))
    }
}

macro_rules! number {
    ($($method:ident $visit:ident $t:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CellError> {
            v.$visit(self.parse::<$t>(stringify!($t))?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Cell<'de> {
    type Error = CellError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CellError> {
        v.visit_borrowed_str(self.0)
    }
    number!(
        deserialize_u8 visit_u8 u8, deserialize_u16 visit_u16 u16, deserialize_u32 visit_u32 u32,
        deserialize_u64 visit_u64 u64, deserialize_i8 visit_i8 i8, deserialize_i16 visit_i16 i16,
        deserialize_i32 visit_i32 i32, deserialize_i64 visit_i64 i64,
        deserialize_f32 visit_f32 f32, deserialize_f64 visit_f64 f64,
        deserialize_bool visit_bool bool
    );
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CellError> {
        if self.0.is_empty() {
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, CellError> {
        let inner = self
            .0
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .ok_or_else(|| CellError(format!("{:?} is not a list [a, b]", self.0)))?;
        let items: Vec<Cell<'de>> = if inner.trim().is_empty() {
            Vec::new()
        } else {
            inner.split(',').map(|s| Cell(s.trim())).collect()
        };
        v.visit_seq(SeqDeserializer::new(items.into_iter()))
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, CellError> {
        v.visit_enum(self.0.into_deserializer())
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, CellError> {
        v.visit_newtype_struct(self)
    }
    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct tuple tuple_struct map struct
        identifier ignored_any i128 u128
    }
}

/// Reads every row of `text` (a CSV with a header) as a `T`; `file` names it in errors.
pub(crate) fn read_rows<T: DeserializeOwned>(text: &str, file: &str) -> Result<Vec<T>, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| format!("{file}: {e}"))?.clone();
    let mut out = Vec::new();
    for (n, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| format!("{file}: {e}"))?;
        let pairs = headers.iter().zip(rec.iter()).map(|(h, c)| (h, Cell(c)));
        let row = T::deserialize(MapDeserializer::new(pairs))
            .map_err(|e: CellError| format!("{file}: row {} (line {}): {e}", n + 1, n + 2))?;
        out.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Memory,
        Datapath,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Row {
        label: String,
        size: Option<f64>,
        layers: Vec<u32>,
        kind: Kind,
        ok: bool,
        acc: f64,
    }

    #[test]
    fn rows_read_back_exactly_what_was_written() {
        let rows = vec![
            Row {
                label: "0.5".into(),
                size: None,
                layers: vec![0, 3],
                kind: Kind::Datapath,
                ok: true,
                acc: 1.0 / 3.0,
            },
            Row {
                label: "a, \"quoted\" label".into(),
                size: Some(0.1 + 0.2),
                layers: vec![],
                kind: Kind::Memory,
                ok: false,
                acc: f64::NAN,
            },
        ];
        let text = String::from_utf8(crate::io::csv_bytes(&rows).unwrap()).unwrap();
        let back: Vec<Row> = read_rows(&text, "t.csv").unwrap();
        assert_eq!(back[0], rows[0]);
        assert_eq!(back[1].label, rows[1].label);
        assert_eq!(back[1].size, rows[1].size);
        assert!(back[1].acc.is_nan());
        assert_eq!(
            String::from_utf8(crate::io::csv_bytes(&back).unwrap()).unwrap(),
            text
        );
    }

    #[test]
    fn a_bad_cell_names_the_file_row_and_value() {
        let err = read_rows::<Row>(
            "label,size,layers,kind,ok,acc\nx,,[0],memory,true,zero\n",
            "r.csv",
        )
        .unwrap_err();
        assert!(
            err.contains("r.csv: row 1") && err.contains("\"zero\""),
            "{err}"
        );
    }
}
