//! AN codes: integers encoded as multiples of a constant `A` (Diamond 1955, Brown 1960), with
//! the fast decoder of the BRICS/AHEAD project (Kolditz, Habich, Lehner, Werner, de Bruijn,
//! SIGMOD 2018) and their use on crossbar arrays (Feinberg, Wang, Ipek, HPCA 2018).
//!
//! A data value `x` of `|D|` bits becomes the code word `x_c = A x` in an `n`-bit word
//! (`n >= |D| + |A|`). Every `n`-bit operation is modulo `2^n`.
//!
//! - **Classic** decoder and check: `x = x_c / A`, an error iff `x_c mod A != 0` (a division
//!   per value).
//! - **Improved** (odd `A`): `A` is invertible modulo `2^n`, so `x = x_c A^-1 mod 2^n` exactly
//!   for every valid code word, and because multiplication by `A^-1` is a bijection of the
//!   `n`-bit words, a word is a valid code word iff the product lies in the data domain (one
//!   multiplication and one comparison). `A^-1` comes from Newton's iteration
//!   `y <- y (2 - A y)`, which doubles the number of correct low bits per step ([`mod_inverse`]).
//! - Operations that stay inside the code (`reference/ecc-math.md` C.3): `x_c ± y_c`,
//!   `x_c k` for a plain `k`, `x_c y_c A^-1`, `floor(x_c / y_c) A`, comparisons, sums,
//!   re-encoding to another `A'` with one multiplication.
//! - [`super_a`]: exhaustive search of the `A` of each bit width that maximises the minimum
//!   Hamming distance of the code (then minimises the number of closest pairs).
//! - [`array`](mod@array): integer weights times `A` programmed into a crossbar, bit-serial inputs, an ADC
//!   that rounds column currents to integers, residue checks and a residue correction table.
//!
//! ```
//! use xbar_ecc::an::AnCode;
//! let code = AnCode::<u8>::new(233)?;
//! let xc = code.encode(200);            // a u16 code word
//! assert_eq!(code.decode(xc), Some(200));
//! assert_eq!(code.decode_classic(xc), 200);
//! assert!(code.decode(xc ^ 0b100).is_none()); // a flipped bit is detected
//! // Arithmetic stays in the code:
//! let s = code.add(code.encode(20), code.encode(30));
//! assert_eq!(code.decode(s), Some(50));
//! # Ok::<(), xbar_ecc::EccError>(())
//! ```

pub mod array;
mod super_a;

pub use super_a::{SuperA, code_distance, super_a};

use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;

use crate::error::{Result, invalid};

/// An unsigned machine word in which code words live (all arithmetic wraps modulo `2^BITS`).
pub trait AnWord: Copy + Eq + Ord + Debug + Default + Hash + Send + Sync + 'static {
    /// Width in bits.
    const BITS: u32;
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// Product modulo `2^BITS`.
    fn wmul(self, rhs: Self) -> Self;
    /// Sum modulo `2^BITS`.
    fn wadd(self, rhs: Self) -> Self;
    /// Difference modulo `2^BITS`.
    fn wsub(self, rhs: Self) -> Self;
    /// Number of set bits.
    fn ones(self) -> u32;
    /// The low `BITS` bits of `v`.
    fn from_u128(v: u128) -> Self;
    /// The value as `u128`.
    fn to_u128(self) -> u128;
    /// Unsigned remainder.
    fn urem(self, rhs: Self) -> Self;
    /// Unsigned quotient.
    fn udiv(self, rhs: Self) -> Self;
}

macro_rules! an_word {
    ($($w:ty),*) => {$(
        impl AnWord for $w {
            const BITS: u32 = <$w>::BITS;
            const ZERO: Self = 0;
            const ONE: Self = 1;
            #[inline]
            fn wmul(self, rhs: Self) -> Self { self.wrapping_mul(rhs) }
            #[inline]
            fn wadd(self, rhs: Self) -> Self { self.wrapping_add(rhs) }
            #[inline]
            fn wsub(self, rhs: Self) -> Self { self.wrapping_sub(rhs) }
            #[inline]
            fn ones(self) -> u32 { self.count_ones() }
            #[inline]
            fn from_u128(v: u128) -> Self { v as $w }
            #[inline]
            fn to_u128(self) -> u128 { self as u128 }
            #[inline]
            fn urem(self, rhs: Self) -> Self { self % rhs }
            #[inline]
            fn udiv(self, rhs: Self) -> Self { self / rhs }
        }
    )*};
}
an_word!(u8, u16, u32, u64, u128);

/// The multiplicative inverse of an odd `a` modulo `2^BITS` by Newton (Hensel) iteration:
/// `y_0 = a` is correct to 3 bits (`a^2 = 1 mod 8` for odd `a`), and each step
/// `y <- y (2 - a y)` doubles the correct bits (4 steps for 32 bits, 5 for 64, 6 for 128).
/// `None` for even `a`.
///
/// ```
/// assert_eq!(xbar_ecc::an::mod_inverse(233u16), Some(0xd759));
/// assert_eq!(xbar_ecc::an::mod_inverse(233u32), Some(0x1fdc_d759));
/// assert_eq!(xbar_ecc::an::mod_inverse(10u32), None);
/// ```
pub fn mod_inverse<W: AnWord>(a: W) -> Option<W> {
    if a.to_u128() & 1 == 0 {
        return None;
    }
    let two = W::ONE.wadd(W::ONE);
    let mut y = a;
    let mut bits = 3;
    while bits < W::BITS {
        y = y.wmul(two.wsub(a.wmul(y)));
        bits *= 2;
    }
    debug_assert!(a.wmul(y) == W::ONE);
    Some(y)
}

/// A data type that can be AN-encoded, with its code-word type (twice as wide).
pub trait AnData: Copy + Debug + PartialEq + PartialOrd + Send + Sync + 'static {
    /// The code word (`u16` for 8-bit data, ..., `u128` for 64-bit data).
    type Word: AnWord;
    /// Data width `|D|` in bits.
    const BITS: u32;
    /// Two's complement data.
    const SIGNED: bool;
    /// The value as a code-word-wide two's complement word (sign-extended).
    fn to_word(self) -> Self::Word;
    /// The low bits of a word as data (no range check).
    fn from_word(w: Self::Word) -> Self;
    /// Whether the word, read as a signed or unsigned `n`-bit number, lies in the data domain.
    fn word_in_domain(w: Self::Word) -> bool;
    /// Quotient of two words read as signed or unsigned `n`-bit numbers (truncating).
    fn word_div(a: Self::Word, b: Self::Word) -> Self::Word;
    /// Remainder of two words read as signed or unsigned `n`-bit numbers (sign of `a`).
    fn word_rem(a: Self::Word, b: Self::Word) -> Self::Word;
    /// `a < b` with both words read as signed or unsigned `n`-bit numbers.
    fn word_lt(a: Self::Word, b: Self::Word) -> bool;
}

macro_rules! an_unsigned {
    ($($d:ty => $w:ty),*) => {$(
        impl AnData for $d {
            type Word = $w;
            const BITS: u32 = <$d>::BITS;
            const SIGNED: bool = false;
            #[inline]
            fn to_word(self) -> $w { self as $w }
            #[inline]
            fn from_word(w: $w) -> $d { w as $d }
            #[inline]
            fn word_in_domain(w: $w) -> bool { w <= <$d>::MAX as $w }
            #[inline]
            fn word_div(a: $w, b: $w) -> $w { a / b }
            #[inline]
            fn word_rem(a: $w, b: $w) -> $w { a % b }
            #[inline]
            fn word_lt(a: $w, b: $w) -> bool { a < b }
        }
    )*};
}
an_unsigned!(u8 => u16, u16 => u32, u32 => u64, u64 => u128);

macro_rules! an_signed {
    ($($d:ty => $w:ty, $s:ty),*) => {$(
        impl AnData for $d {
            type Word = $w;
            const BITS: u32 = <$d>::BITS;
            const SIGNED: bool = true;
            #[inline]
            fn to_word(self) -> $w { self as $s as $w }
            #[inline]
            fn from_word(w: $w) -> $d { w as $d }
            #[inline]
            fn word_in_domain(w: $w) -> bool {
                let v = w as $s;
                v >= <$d>::MIN as $s && v <= <$d>::MAX as $s
            }
            #[inline]
            fn word_div(a: $w, b: $w) -> $w { (a as $s).wrapping_div(b as $s) as $w }
            #[inline]
            fn word_rem(a: $w, b: $w) -> $w { (a as $s).wrapping_rem(b as $s) as $w }
            #[inline]
            fn word_lt(a: $w, b: $w) -> bool { (a as $s) < (b as $s) }
        }
    )*};
}
an_signed!(i8 => u16, i16, i16 => u32, i32, i32 => u64, i64, i64 => u128, i128);

/// An AN code with an odd constant `A` for data type `D` (code words of type `D::Word`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnCode<D: AnData> {
    a: D::Word,
    a_inv: D::Word,
    _data: PhantomData<D>,
}

impl<D: AnData> AnCode<D> {
    /// A code with constant `a`: odd, and small enough that `|A| + |D| <= n`, so every data
    /// value has a code word without wrap-around.
    pub fn new(a: u64) -> Result<AnCode<D>> {
        let a_bits = 64 - a.leading_zeros();
        if a.is_multiple_of(2) || a_bits + D::BITS > <D::Word as AnWord>::BITS {
            return Err(invalid(
                "A",
                a,
                format!(
                    "an odd constant of at most {} bits for {}-bit data in {}-bit code words",
                    <D::Word as AnWord>::BITS - D::BITS,
                    D::BITS,
                    <D::Word as AnWord>::BITS
                ),
            ));
        }
        let a = D::Word::from_u128(u128::from(a));
        let a_inv = mod_inverse(a).expect("odd");
        Ok(AnCode {
            a,
            a_inv,
            _data: PhantomData,
        })
    }

    /// The constant `A`.
    pub fn a(&self) -> D::Word {
        self.a
    }

    /// `A^-1 mod 2^n`.
    pub fn a_inv(&self) -> D::Word {
        self.a_inv
    }

    /// `x_c = A x` (two's complement for signed data).
    #[inline]
    pub fn encode(&self, x: D) -> D::Word {
        x.to_word().wmul(self.a)
    }

    /// Classic decoder: `x_c / A` (signed division for signed data). Meaningful only for
    /// valid code words; see [`AnCode::check_classic`].
    #[inline]
    pub fn decode_classic(&self, xc: D::Word) -> D {
        D::from_word(D::word_div(xc, self.a))
    }

    /// Classic check: `x_c mod A == 0`. (It accepts a few multiples of `A` whose quotient lies
    /// outside the data domain; the improved check does not.)
    #[inline]
    pub fn check_classic(&self, xc: D::Word) -> bool {
        D::word_rem(xc, self.a) == D::Word::ZERO
    }

    /// Improved decoder and check in one: `x = x_c A^-1 mod 2^n`, valid iff `x` lies in the
    /// data domain (`None` otherwise).
    #[inline]
    pub fn decode(&self, xc: D::Word) -> Option<D> {
        let x = xc.wmul(self.a_inv);
        D::word_in_domain(x).then(|| D::from_word(x))
    }

    /// Improved check: whether `x_c` is a valid code word.
    #[inline]
    pub fn is_valid(&self, xc: D::Word) -> bool {
        D::word_in_domain(xc.wmul(self.a_inv))
    }

    /// `x_c + y_c = A (x + y)`.
    #[inline]
    pub fn add(&self, xc: D::Word, yc: D::Word) -> D::Word {
        xc.wadd(yc)
    }

    /// `x_c - y_c = A (x - y)`.
    #[inline]
    pub fn sub(&self, xc: D::Word, yc: D::Word) -> D::Word {
        xc.wsub(yc)
    }

    /// `x_c k = A (x k)` for a plain (unencoded) constant `k`.
    #[inline]
    pub fn mul_plain(&self, xc: D::Word, k: D) -> D::Word {
        xc.wmul(k.to_word())
    }

    /// `x_c y_c A^-1 = A (x y)` for two code words.
    #[inline]
    pub fn mul_coded(&self, xc: D::Word, yc: D::Word) -> D::Word {
        xc.wmul(yc).wmul(self.a_inv)
    }

    /// `floor(x_c / y_c) A = A floor(x / y)` (truncating for signed data) for two valid code
    /// words, `y != 0`. (Dividing by a plain constant does not stay in the code: decode,
    /// divide, re-encode.)
    #[inline]
    pub fn div_coded(&self, xc: D::Word, yc: D::Word) -> D::Word {
        D::word_div(xc, yc).wmul(self.a)
    }

    /// `x < y` decided on the code words (`A > 0` keeps the order; signed data compare as
    /// signed words).
    #[inline]
    pub fn lt(&self, xc: D::Word, yc: D::Word) -> bool {
        D::word_lt(xc, yc)
    }

    /// Sum of code words `= A sum(x)` (modulo `2^n`; a sum that leaves the data domain is
    /// flagged by the improved check, so use a wider data type for long sums).
    pub fn sum(&self, xs: &[D::Word]) -> D::Word {
        xs.iter().fold(D::Word::ZERO, |acc, &x| acc.wadd(x))
    }

    /// Re-encodes a code word of this code into `other` with one multiplication by
    /// `A^-1 A'`.
    #[inline]
    pub fn reencode(&self, xc: D::Word, other: &AnCode<D>) -> D::Word {
        xc.wmul(self.a_inv.wmul(other.a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_inverses() {
        assert_eq!(mod_inverse(233u16), Some(0xd759));
        assert_eq!(mod_inverse(233u32), Some(0x1fdc_d759));
        assert_eq!(mod_inverse(29u16), Some(0xc235));
        assert_eq!(mod_inverse(63877u32), Some(0xd142_174d));
        assert_eq!(mod_inverse(65117u64), Some(0x3e36_d3bc_8d9b_c5f5));
    }

    #[test]
    fn rejects_even_or_wide_a() {
        assert!(AnCode::<u8>::new(4).is_err());
        assert!(AnCode::<u8>::new(257).is_err());
        assert!(AnCode::<u8>::new(255).is_ok());
        assert!(AnCode::<i64>::new(u64::MAX).is_ok());
    }

    #[test]
    fn signed_round_trip_and_ops() {
        let c = AnCode::<i16>::new(63877).unwrap();
        for x in [-32768i16, -1, 0, 1, 12345, 32767] {
            let xc = c.encode(x);
            assert_eq!(c.decode(xc), Some(x));
            assert_eq!(c.decode_classic(xc), x);
            assert!(c.check_classic(xc));
        }
        let (a, b) = (c.encode(-300), c.encode(7));
        assert_eq!(c.decode(c.add(a, b)), Some(-293));
        assert_eq!(c.decode(c.sub(a, b)), Some(-307));
        assert_eq!(c.decode(c.mul_plain(a, -3)), Some(900));
        assert_eq!(c.decode(c.mul_coded(a, b)), Some(-2100));
        assert_eq!(c.decode(c.div_coded(a, b)), Some(-42));
        assert!(c.lt(a, b) && !c.lt(b, a));
        assert_eq!(c.decode(c.sum(&[a, b, b])), Some(-286));
        let other = AnCode::<i16>::new(7785).unwrap();
        assert_eq!(other.decode(c.reencode(a, &other)), Some(-300));
        // Overflow out of the data domain is flagged.
        let big = c.encode(30000);
        assert_eq!(c.decode(c.add(big, big)), None);
    }
}
