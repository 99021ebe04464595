//! NPZ archives (`numpy.savez`, `numpy.savez_compressed`) and the `.npy` arrays inside them.
//!
//! The `.npy` format (numpy's `NEP 1`): the magic `\x93NUMPY`, a version byte pair, the header
//! length (2 bytes little-endian in version 1, 4 in versions 2 and 3), then a Python dict
//! literal with `descr` (the dtype, e.g. `'<f4'`), `fortran_order` and `shape`, then the data.
//! The header parser is our own (a few dozen lines for this small, fixed grammar) so that the
//! claimed shape is checked against the bytes actually present before anything is allocated.

use std::io::{Cursor, Read};
use std::path::Path;

use crate::error::{ImportError, Result};

/// The element type of an array, as its numpy kind and width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// IEEE float (`f`), 4 or 8 bytes.
    Float,
    /// Signed integer (`i`), 1, 2, 4 or 8 bytes.
    Int,
    /// Unsigned integer (`u`), 1, 2, 4 or 8 bytes.
    Uint,
    /// Boolean (`b`), 1 byte.
    Bool,
}

/// One array read from an NPZ member, converted to `f64` (integers above 2^53 lose precision).
#[derive(Clone, Debug)]
pub(crate) struct Array {
    /// The dimensions, C order.
    pub(crate) shape: Vec<usize>,
    /// The values in C (row-major) order.
    pub(crate) data: Vec<f64>,
    /// The element kind.
    pub(crate) kind: Kind,
    /// The numpy dtype string, for messages (e.g. `<f4`).
    pub(crate) descr: String,
}

/// An NPZ archive held in memory.
pub(crate) struct Npz<'a> {
    path: &'a Path,
    zip: zip::ZipArchive<Cursor<&'a [u8]>>,
}

/// Largest header accepted (numpy writes at most a few hundred bytes).
const MAX_HEADER: usize = 1 << 16;

/// Largest deflate expansion ratio (the format's theoretical maximum is about 1032:1).
const MAX_RATIO: u64 = 1100;

impl<'a> Npz<'a> {
    /// Opens the archive in `bytes` (read from `path`).
    pub(crate) fn new(bytes: &'a [u8], path: &'a Path) -> Result<Npz<'a>> {
        let zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| ImportError::File {
            path: path.to_path_buf(),
            what: format!("not a readable NPZ (zip) archive: {e}"),
        })?;
        Ok(Npz { path, zip })
    }

    /// Names of the arrays (member names without `.npy`), in archive order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.zip
            .file_names()
            .filter_map(|n| n.ok())
            .filter_map(|n| n.strip_suffix(".npy").map(str::to_string))
            .collect()
    }

    /// True when the archive holds array `key`.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.zip.index_for_name(&format!("{key}.npy")).is_some()
    }

    /// Reads array `key`, at most `limit` bytes of data.
    pub(crate) fn array(&mut self, key: &str, limit: u64) -> Result<Array> {
        let path = self.path;
        let err = |what: String| ImportError::Array {
            path: path.to_path_buf(),
            key: key.to_string(),
            what,
        };
        let names = self.names();
        let mut member = self.zip.by_name(&format!("{key}.npy")).map_err(|e| {
            err(match e {
                zip::result::ZipError::FileNotFound => format!(
                    "not in the archive (it holds: {})",
                    if names.is_empty() {
                        "no arrays".into()
                    } else {
                        names.join(", ")
                    }
                ),
                e => format!("cannot be read: {e}"),
            })
        })?;
        let declared = member.size();
        let packed = member.compressed_size();
        if declared > limit {
            return Err(err(format!(
                "{declared} bytes uncompressed, above the limit of {limit}"
            )));
        }
        if declared > packed.saturating_mul(MAX_RATIO).saturating_add(4096) {
            return Err(err(format!(
                "claims {declared} bytes uncompressed from {packed} compressed bytes, more than \
                 deflate can produce (corrupt archive)"
            )));
        }
        let io = |e: std::io::Error| err(format!("cannot be read: {e} (truncated or corrupt?)"));
        let mut head = [0u8; 10];
        member.read_exact(&mut head).map_err(io)?;
        if &head[..6] != b"\x93NUMPY" {
            return Err(err("not a .npy array (magic \\x93NUMPY missing)".into()));
        }
        let (header_len, prefix) = match head[6] {
            1 => (usize::from(u16::from_le_bytes([head[8], head[9]])), 10usize),
            2 | 3 => {
                let mut rest = [0u8; 2];
                member.read_exact(&mut rest).map_err(io)?;
                let n = u32::from_le_bytes([head[8], head[9], rest[0], rest[1]]) as usize;
                (n, 12)
            }
            v => {
                return Err(err(format!(
                    ".npy format version {v} is not supported (1, 2 or 3)"
                )));
            }
        };
        if header_len > MAX_HEADER {
            return Err(err(format!(
                "header of {header_len} bytes is implausibly long"
            )));
        }
        let mut header = vec![0u8; header_len];
        member.read_exact(&mut header).map_err(io)?;
        let header = String::from_utf8_lossy(&header).into_owned();
        let h =
            parse_header(&header).map_err(|e| err(format!("bad .npy header ({e}): {header:?}")))?;
        let (kind, width, little) = dtype(&h.descr).map_err(err)?;
        let count = h
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| err(format!("shape {:?} overflows", h.shape)))?;
        let nbytes = count
            .checked_mul(width)
            .ok_or_else(|| err(format!("shape {:?} overflows", h.shape)))?;
        // The claimed shape must fit the member's bytes before anything is allocated for it.
        let available = declared.saturating_sub((prefix + header_len) as u64);
        if nbytes as u64 != available {
            return Err(err(format!(
                "shape {:?} of {} needs {nbytes} bytes but the array holds {available}",
                h.shape, h.descr
            )));
        }
        let mut raw = Vec::with_capacity(nbytes);
        (&mut member)
            .take(nbytes as u64)
            .read_to_end(&mut raw)
            .map_err(io)?;
        if raw.len() != nbytes {
            return Err(err(format!(
                "truncated: {} of {nbytes} data bytes present",
                raw.len()
            )));
        }
        let mut data: Vec<f64> = raw
            .chunks_exact(width)
            .map(|c| convert(c, kind, little))
            .collect();
        if h.fortran_order && h.shape.len() > 1 {
            data = fortran_to_c(&data, &h.shape);
        }
        Ok(Array {
            shape: h.shape,
            data,
            kind,
            descr: h.descr,
        })
    }
}

/// The parsed `.npy` header.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Parses the header dict: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
fn parse_header(s: &str) -> std::result::Result<Header, String> {
    let mut p = Parser {
        s: s.trim().as_bytes(),
        i: 0,
    };
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        match key.as_str() {
            "descr" => descr = Some(p.string()?),
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.tuple()?),
            other => return Err(format!("unknown key {other:?}")),
        }
        p.ws();
        if !p.eat(b',') {
            p.ws();
            p.expect(b'}')?;
            break;
        }
    }
    Ok(Header {
        descr: descr.ok_or("no 'descr' (a structured dtype?)")?,
        fortran_order: fortran.ok_or("no 'fortran_order'")?,
        shape: shape.ok_or("no 'shape'")?,
    })
}

struct Parser<'s> {
    s: &'s [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", c as char, self.i))
        }
    }
    fn string(&mut self) -> std::result::Result<String, String> {
        let q = *self.s.get(self.i).ok_or("unexpected end")?;
        if q != b'\'' && q != b'"' {
            return Err(format!("expected a quoted string at byte {}", self.i));
        }
        let start = self.i + 1;
        let end = self.s[start..]
            .iter()
            .position(|&c| c == q)
            .ok_or("unterminated string")?;
        self.i = start + end + 1;
        Ok(String::from_utf8_lossy(&self.s[start..start + end]).into_owned())
    }
    fn boolean(&mut self) -> std::result::Result<bool, String> {
        for (word, v) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if self.s[self.i..].starts_with(word) {
                self.i += word.len();
                return Ok(v);
            }
        }
        Err(format!("expected True or False at byte {}", self.i))
    }
    fn tuple(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.i;
            while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                self.i += 1;
            }
            // numpy may write Python 2 longs as `3L`.
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            self.eat(b'L');
            dims.push(
                digits
                    .parse::<usize>()
                    .map_err(|_| format!("bad dimension at byte {start}"))?,
            );
            self.ws();
            if !self.eat(b',') {
                self.ws();
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

/// The kind, width and byte order (true = little-endian) of a numpy dtype string.
fn dtype(descr: &str) -> std::result::Result<(Kind, usize, bool), String> {
    let b = descr.as_bytes();
    let bad = || {
        format!("dtype {descr:?} is not supported (supported: float32/64, (u)int8/16/32/64, bool)")
    };
    if b.len() < 3 {
        return Err(bad());
    }
    let little = match b[0] {
        b'<' | b'|' => true,
        b'>' => false,
        b'=' => cfg!(target_endian = "little"),
        _ => return Err(bad()),
    };
    let width: usize = descr[2..].parse().map_err(|_| bad())?;
    let kind = match (b[1], width) {
        (b'f', 4 | 8) => Kind::Float,
        (b'i', 1 | 2 | 4 | 8) => Kind::Int,
        (b'u', 1 | 2 | 4 | 8) => Kind::Uint,
        (b'b', 1) => Kind::Bool,
        _ => return Err(bad()),
    };
    Ok((kind, width, little))
}

fn convert(c: &[u8], kind: Kind, little: bool) -> f64 {
    let mut b = [0u8; 8];
    let w = c.len();
    if little {
        b[..w].copy_from_slice(c);
    } else {
        for (i, &v) in c.iter().rev().enumerate() {
            b[i] = v;
        }
    }
    match (kind, w) {
        (Kind::Float, 4) => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        (Kind::Float, _) => f64::from_le_bytes(b),
        (Kind::Int, 1) => f64::from(b[0] as i8),
        (Kind::Int, 2) => f64::from(i16::from_le_bytes([b[0], b[1]])),
        (Kind::Int, 4) => f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        (Kind::Int, _) => i64::from_le_bytes(b) as f64,
        (Kind::Uint | Kind::Bool, _) => u64::from_le_bytes(b) as f64,
    }
}

/// Reorders Fortran-order (column-major) data into C order.
fn fortran_to_c(data: &[f64], shape: &[usize]) -> Vec<f64> {
    let rank = shape.len();
    // Fortran strides: the first index varies fastest.
    let mut fstride = vec![1usize; rank];
    for k in 1..rank {
        fstride[k] = fstride[k - 1] * shape[k - 1];
    }
    let mut out = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; rank];
    for _ in 0..data.len() {
        let off: usize = idx.iter().zip(&fstride).map(|(i, s)| i * s).sum();
        out.push(data[off]);
        // Advance the C-order multi-index (last index fastest).
        for k in (0..rank).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let h = parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }   \n")
            .unwrap();
        assert_eq!(
            (h.descr.as_str(), h.fortran_order, h.shape),
            ("<f4", false, vec![2, 3])
        );
        assert_eq!(
            parse_header("{'descr':'|u1','fortran_order':True,'shape':(5,)}")
                .unwrap()
                .shape,
            [5]
        );
        assert!(
            parse_header("{'descr':'|u1','fortran_order':True,'shape':()}")
                .unwrap()
                .shape
                .is_empty()
        );
        assert!(
            parse_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}")
                .is_err()
        );
        assert!(parse_header("{'descr':'<f4','shape':(-1,),'fortran_order':False}").is_err());
        assert!(dtype("<c16").is_err() && dtype("<U3").is_err());
        assert_eq!(dtype(">i2").unwrap(), (Kind::Int, 2, false));
    }

    #[test]
    fn conversions_and_order() {
        assert_eq!(convert(&(-3i16).to_be_bytes(), Kind::Int, false), -3.0);
        assert_eq!(convert(&1.5f32.to_le_bytes(), Kind::Float, true), 1.5);
        assert_eq!(convert(&[255], Kind::Uint, true), 255.0);
        // 2 x 3, Fortran order: columns stored first.
        let f = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        assert_eq!(fortran_to_c(&f, &[2, 3]), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }
}

/// The values of an array to write ([`npz_bytes`]).
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    /// `float64` (`<f8`).
    F64(Vec<f64>),
    /// `int64` (`<i8`).
    I64(Vec<i64>),
    /// `int8` (`|i1`).
    I8(Vec<i8>),
}

impl NpyData {
    fn len(&self) -> usize {
        match self {
            NpyData::F64(v) => v.len(),
            NpyData::I64(v) => v.len(),
            NpyData::I8(v) => v.len(),
        }
    }
}

/// One named array of an NPZ file, C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// The key (`numpy.load(f)[name]`); a `.npy` member `name.npy` in the archive.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values.
    pub data: NpyData,
}

/// `.npy` version 1.0 bytes of one array: magic, header dict padded to a multiple of 64 bytes,
/// then the little-endian values.
fn npy_bytes(a: &NpyArray) -> Vec<u8> {
    let descr = match a.data {
        NpyData::F64(_) => "<f8",
        NpyData::I64(_) => "<i8",
        NpyData::I8(_) => "|i1",
    };
    let shape = match a.shape.len() {
        1 => format!("({},)", a.shape[0]),
        _ => format!(
            "({})",
            a.shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 8 * a.data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match &a.data {
        NpyData::F64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::I64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::I8(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
    }
    out
}

/// An NPZ archive (as `numpy.savez_compressed` writes: deflated `.npy` members) holding
/// `arrays`, as bytes. Member times are fixed (1980-01-01), so equal arrays give equal bytes.
///
/// ```
/// use xbar_import::{NpyArray, NpyData, npz_bytes};
/// let a = NpyArray { name: "g".into(), shape: vec![2, 3], data: NpyData::F64(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) };
/// let bytes = npz_bytes(&[a])?;
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("x.npz");
/// std::fs::write(&p, &bytes).unwrap();
/// let back = xbar_import::read_npz_array(&p, "g")?;
/// assert_eq!((back.shape, back.data), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
/// # Ok::<(), xbar_import::ImportError>(())
/// ```
///
/// # Errors
/// An array whose shape does not match its number of values, a repeated name, or a failure of
/// the zip writer.
pub fn npz_bytes(arrays: &[NpyArray]) -> Result<Vec<u8>> {
    use std::io::Write as _;
    let bad = |what: String| ImportError::File {
        path: "(npz being written)".into(),
        what,
    };
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let mut seen = std::collections::BTreeSet::new();
    for a in arrays {
        let n: usize = a.shape.iter().product();
        if n != a.data.len() {
            return Err(bad(format!(
                "array {:?}: shape {:?} holds {n} values, not {}",
                a.name,
                a.shape,
                a.data.len()
            )));
        }
        if !seen.insert(&a.name) {
            return Err(bad(format!("array name {:?} used twice", a.name)));
        }
        zip.start_file(format!("{}.npy", a.name), opts)
            .map_err(|e| bad(e.to_string()))?;
        zip.write_all(&npy_bytes(a))
            .map_err(|e| bad(e.to_string()))?;
    }
    Ok(zip.finish().map_err(|e| bad(e.to_string()))?.into_inner())
}
