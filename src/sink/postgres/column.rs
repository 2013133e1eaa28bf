//! A batch column downcast once per batch ([`Src`]), and its values rendered as text
//! for error messages (dates as PostgreSQL prints them, durations as `[-]H:MM:SS`).

use std::fmt::Write as _;

use arrow::array::{
    Array, AsArray, BinaryArray, BinaryViewArray, BooleanArray, FixedSizeBinaryArray, LargeBinaryArray,
    LargeStringArray, StringArray, StringViewArray,
};
use arrow::datatypes::{
    i256, DataType, Date32Type, Decimal128Type, Decimal256Type, DurationMicrosecondType, Float32Type, Float64Type,
    Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit, TimestampMicrosecondType,
};
use bytes::BytesMut;

use super::numeric;
use crate::calendar::civil_from_days;
use crate::error::shorten;

const USECS_PER_DAY: i64 = 86_400_000_000;

/// Integer values of any width.
#[derive(Clone, Copy)]
pub enum Ints<'a> {
    /// Int8.
    I8(&'a [i8]),
    /// Int16.
    I16(&'a [i16]),
    /// Int32.
    I32(&'a [i32]),
    /// Int64.
    I64(&'a [i64]),
}

impl Ints<'_> {
    pub(super) fn get(&self, i: usize) -> i64 {
        match self {
            Ints::I8(v) => v[i] as i64,
            Ints::I16(v) => v[i] as i64,
            Ints::I32(v) => v[i] as i64,
            Ints::I64(v) => v[i],
        }
    }
}

/// String arrays of any layout.
#[derive(Clone, Copy)]
pub enum Strs<'a> {
    /// Utf8.
    Utf8(&'a StringArray),
    /// LargeUtf8.
    Large(&'a LargeStringArray),
    /// Utf8View.
    View(&'a StringViewArray),
}

impl Strs<'_> {
    pub(super) fn get(&self, i: usize) -> &str {
        match self {
            Strs::Utf8(a) => a.value(i),
            Strs::Large(a) => a.value(i),
            Strs::View(a) => a.value(i),
        }
    }
}

/// Binary arrays of any layout.
#[derive(Clone, Copy)]
pub enum Bins<'a> {
    /// Binary.
    Bin(&'a BinaryArray),
    /// LargeBinary.
    Large(&'a LargeBinaryArray),
    /// BinaryView.
    View(&'a BinaryViewArray),
    /// FixedSizeBinary(n).
    Fixed(&'a FixedSizeBinaryArray),
}

impl Bins<'_> {
    pub(super) fn get(&self, i: usize) -> &[u8] {
        match self {
            Bins::Bin(a) => a.value(i),
            Bins::Large(a) => a.value(i),
            Bins::View(a) => a.value(i),
            Bins::Fixed(a) => a.value(i),
        }
    }
}

/// A column of a batch, downcast once.
#[derive(Clone, Copy)]
pub enum Src<'a> {
    /// Arrow Null: every value is NULL.
    Null,
    /// Boolean.
    Bool(&'a BooleanArray),
    /// Int8…Int64.
    Int(Ints<'a>),
    /// Decimal128 values and scale.
    Dec128(&'a [i128], i8),
    /// Decimal256 values and scale.
    Dec256(&'a [i256], i8),
    /// Float32.
    F32(&'a [f32]),
    /// Float64.
    F64(&'a [f64]),
    /// Date32: days since 1970-01-01.
    Date(&'a [i32]),
    /// Timestamp(µs): µs since 1970-01-01 00:00:00 UTC.
    Micros(&'a [i64]),
    /// Duration(µs).
    Dur(&'a [i64]),
    /// Utf8 family.
    Str(Strs<'a>),
    /// Binary family.
    Bin(Bins<'a>),
}

impl<'a> Src<'a> {
    /// Downcasts an array of a type [`super::pgtype::can_encode`] accepts.
    pub fn bind(a: &'a dyn Array) -> Option<Src<'a>> {
        Some(match a.data_type() {
            DataType::Null => Src::Null,
            DataType::Boolean => Src::Bool(a.as_boolean()),
            DataType::Int8 => Src::Int(Ints::I8(a.as_primitive::<Int8Type>().values())),
            DataType::Int16 => Src::Int(Ints::I16(a.as_primitive::<Int16Type>().values())),
            DataType::Int32 => Src::Int(Ints::I32(a.as_primitive::<Int32Type>().values())),
            DataType::Int64 => Src::Int(Ints::I64(a.as_primitive::<Int64Type>().values())),
            DataType::Decimal128(_, s) => Src::Dec128(a.as_primitive::<Decimal128Type>().values(), *s),
            DataType::Decimal256(_, s) => Src::Dec256(a.as_primitive::<Decimal256Type>().values(), *s),
            DataType::Float32 => Src::F32(a.as_primitive::<Float32Type>().values()),
            DataType::Float64 => Src::F64(a.as_primitive::<Float64Type>().values()),
            DataType::Date32 => Src::Date(a.as_primitive::<Date32Type>().values()),
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                Src::Micros(a.as_primitive::<TimestampMicrosecondType>().values())
            }
            DataType::Duration(TimeUnit::Microsecond) => Src::Dur(a.as_primitive::<DurationMicrosecondType>().values()),
            DataType::Utf8 => Src::Str(Strs::Utf8(a.as_string())),
            DataType::LargeUtf8 => Src::Str(Strs::Large(a.as_string())),
            DataType::Utf8View => Src::Str(Strs::View(a.as_string_view())),
            DataType::Binary => Src::Bin(Bins::Bin(a.as_binary())),
            DataType::LargeBinary => Src::Bin(Bins::Large(a.as_binary())),
            DataType::BinaryView => Src::Bin(Bins::View(a.as_binary_view())),
            DataType::FixedSizeBinary(_) => Src::Bin(Bins::Fixed(a.as_fixed_size_binary())),
            _ => return None,
        })
    }
}

/// `YYYY-MM-DD` as PostgreSQL prints a date (`… BC` before year 1).
pub(super) fn put_date_text(out: &mut impl std::fmt::Write, days: i64) {
    let (y, m, d) = civil_from_days(days);
    let _ = if y >= 1 { write!(out, "{y:04}-{m:02}-{d:02}") } else { write!(out, "{:04}-{m:02}-{d:02} BC", 1 - y) };
}

fn hms(out: &mut String, micros: i64) {
    let (s, us) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    let _ = write!(out, "{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    if us != 0 {
        let _ = write!(out, ".{us:06}");
    }
}

/// µs since 1970-01-01 as `YYYY-MM-DD H:MM:SS[.ffffff]`.
pub fn micros_text(v: i64) -> String {
    let mut s = String::new();
    put_date_text(&mut s, v.div_euclid(USECS_PER_DAY));
    s.push(' ');
    hms(&mut s, v.rem_euclid(USECS_PER_DAY));
    s
}

/// A duration in µs as `[-]H:MM:SS[.ffffff]`.
pub fn duration_text(v: i64) -> String {
    let mut s = String::new();
    if v < 0 {
        s.push('-');
    }
    hms(&mut s, v.unsigned_abs().min(i64::MAX as u64) as i64);
    s
}

/// Row `i` of `src` as text for an error message, shortened to about 60 characters.
pub fn render(src: &Src, i: usize) -> String {
    let mut s = String::new();
    match *src {
        Src::Null => s.push_str("NULL"),
        Src::Bool(a) => s.push_str(if a.value(i) { "true" } else { "false" }),
        Src::Int(v) => s = v.get(i).to_string(),
        Src::Dec128(v, sc) => {
            let mut b = BytesMut::new();
            numeric::decimal_text_i128(&mut b, v[i], sc);
            s = String::from_utf8_lossy(&b).into_owned();
        }
        Src::Dec256(v, sc) => {
            let mut b = BytesMut::new();
            numeric::decimal_text_i256(&mut b, v[i], sc);
            s = String::from_utf8_lossy(&b).into_owned();
        }
        Src::F32(v) => s = v[i].to_string(),
        Src::F64(v) => s = v[i].to_string(),
        Src::Date(v) => put_date_text(&mut s, v[i] as i64),
        Src::Micros(v) => s = micros_text(v[i]),
        Src::Dur(v) => s = duration_text(v[i]),
        Src::Str(a) => s = format!("'{}'", a.get(i)),
        Src::Bin(a) => {
            s.push_str("\\x");
            for b in a.get(i).iter().take(31) {
                let _ = write!(s, "{b:02x}");
            }
        }
    }
    shorten(&s, 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_before_year_one_print_as_bc() {
        let mut s = String::new();
        put_date_text(&mut s, -719_163);
        assert_eq!(s, "0001-12-31 BC");
    }
}
