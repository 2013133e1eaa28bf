//! MySQL's spatial values into a PostGIS `geometry` column (docs/architecture.md, "Type
//! mapping"): MySQL stores a value as a 4-byte little-endian SRID followed by its WKB;
//! PostGIS's binary receive format is EWKB, the same WKB with the SRID flag set in the
//! outer type word and the SRID after it. The nested geometries of a collection are
//! plain WKB in both. A `geometry(<kind>, <SRID>)` column's type modifier ([`Spatial`])
//! is checked value by value here: PostGIS would give an SRID-0 value the column's SRID
//! without an error, and refuses a value of another SRID or kind with a message that
//! names no row.

use std::fmt;

use bytes::{BufMut, BytesMut};

/// EWKB's flag in the type word: an SRID follows it.
const EWKB_SRID: u32 = 0x2000_0000;
/// The largest SRID PostGIS keeps as it is (a larger one it remaps, with a notice).
const SRID_MAX: u32 = 999_999;
/// WKB's geometry types, 1 to 7, by PostGIS's names.
const KINDS: [&str; 7] =
    ["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon", "GeometryCollection"];

/// A `geometry(<kind>, <SRID>)` column's type modifier, as PostGIS encodes it in
/// `atttypmod`: SRID in bits 8–28 (signed), the kind in bits 2–7, Z and M in bits 1, 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spatial {
    /// The column's SRID (0: any).
    pub srid: i32,
    /// The column's kind, 1–7 (0: any).
    pub kind: u8,
    /// The column wants a Z coordinate.
    pub z: bool,
    /// The column wants an M coordinate.
    pub m: bool,
}

impl Spatial {
    /// The type modifier of a geometry column; `None` when it says nothing (`geometry`).
    pub fn from_typmod(typmod: i32) -> Option<Spatial> {
        if typmod < 0 {
            return None;
        }
        let srid = ((typmod & 0x0FFF_FF00) - (typmod & 0x1000_0000)) >> 8;
        let s = Spatial { srid, kind: ((typmod & 0xFC) >> 2) as u8, z: typmod & 2 != 0, m: typmod & 1 != 0 };
        (s != Spatial { srid: 0, kind: 0, z: false, m: false }).then_some(s)
    }

    /// Whether a value of kind `kind` fits: a GeometryCollection column takes the
    /// Multi* kinds too, as PostGIS allows.
    fn takes(&self, kind: u8) -> bool {
        self.kind == 0 || self.kind == kind || (self.kind == 7 && (4..=6).contains(&kind))
    }
}

impl fmt::Display for Spatial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = KINDS.get((self.kind as usize).wrapping_sub(1)).copied().unwrap_or("Geometry");
        let zm = match (self.z, self.m) {
            (true, true) => "ZM",
            (true, false) => "Z",
            (false, true) => "M",
            _ => "",
        };
        write!(f, "geometry({kind}{zm}, {})", self.srid)
    }
}

/// A MySQL value's SRID, byte order (true: little-endian) and WKB kind, or why it is not
/// MySQL's spatial form.
fn head(v: &[u8]) -> Result<(u32, bool, u32), String> {
    if v.len() < 9 {
        return Err(format!("is {} bytes, too short for MySQL's spatial form (SRID, then WKB)", v.len()));
    }
    let srid = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
    let little = match v[4] {
        0 => false,
        1 => true,
        b => return Err(format!("has WKB byte order {b}, neither 0 nor 1: not MySQL's spatial form")),
    };
    let t = [v[5], v[6], v[7], v[8]];
    let kind = if little { u32::from_le_bytes(t) } else { u32::from_be_bytes(t) };
    if !(1..=7).contains(&kind) {
        return Err(format!("has WKB type {kind}: MySQL's geometries are 2D types 1 to 7"));
    }
    Ok((srid, little, kind))
}

/// Appends `[length][EWKB]` for a MySQL spatial value (SRID, then WKB). An SRID past
/// PostGIS's 999999 is refused: PostGIS would store another.
pub fn put_ewkb(out: &mut BytesMut, v: &[u8]) -> Result<(), String> {
    let (srid, little, kind) = head(v)?;
    if srid > SRID_MAX {
        return Err(format!("has SRID {srid}, past PostGIS's largest ({SRID_MAX}), which it would replace"));
    }
    // The same length: MySQL's leading SRID moves after the type word.
    let len = i32::try_from(v.len()).map_err(|_| "is larger than 1 GB, more than PostgreSQL can hold".to_string())?;
    out.put_i32(len);
    out.put_u8(v[4]);
    let (kind, srid) = if little {
        ((kind | EWKB_SRID).to_le_bytes(), srid.to_le_bytes())
    } else {
        ((kind | EWKB_SRID).to_be_bytes(), srid.to_be_bytes())
    };
    out.put_slice(&kind);
    out.put_slice(&srid);
    out.put_slice(&v[9..]);
    Ok(())
}

/// What a `geometry(<kind>, <SRID>)` column would make of a MySQL spatial value:
/// `Ok(None)` it arrives as it is, `Ok(Some(what))` PostGIS would change it (an SRID-0
/// value takes the column's SRID), `Err(why)` it cannot arrive.
pub fn check(v: &[u8], s: Spatial) -> Result<Option<String>, String> {
    let (srid, _, kind) = head(v)?;
    if s.z || s.m {
        return Err(format!("is 2D (MySQL has no Z or M), the target column is {s}"));
    }
    if !s.takes(kind as u8) {
        return Err(format!("is a {}, the target column is {s}", KINDS[kind as usize - 1]));
    }
    match (srid, s.srid) {
        (_, 0) => Ok(None),
        (0, to) => Ok(Some(format!("the same geometry with SRID {to} instead of 0 (unknown)"))),
        (a, b) if a as i64 == b as i64 => Ok(None),
        (a, _) => Err(format!("has SRID {a}, the target column is {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(srid: u32) -> Vec<u8> {
        let mut v = srid.to_le_bytes().to_vec();
        v.extend_from_slice(&[1, 1, 0, 0, 0]);
        v.extend_from_slice(&1.0f64.to_le_bytes());
        v.extend_from_slice(&2.0f64.to_le_bytes());
        v
    }

    #[test]
    fn mysql_form_becomes_ewkb_with_its_srid() {
        let mut out = BytesMut::new();
        put_ewkb(&mut out, &point(4326)).unwrap();
        assert_eq!(&out[..4], &25i32.to_be_bytes());
        assert_eq!(&out[4..13], &[1, 1, 0, 0, 0x20, 0xE6, 0x10, 0, 0]);
        assert_eq!(&out[13..], &point(4326)[9..]);
        assert!(put_ewkb(&mut BytesMut::new(), &point(1_000_000)).unwrap_err().contains("999999"));
        assert!(put_ewkb(&mut BytesMut::new(), &[0; 8]).is_err());
    }

    #[test]
    fn typmods_decode_as_postgis_writes_them() {
        // geometry(Point,4326), geometry(Point), geometry(MultiPolygonZ, 3857).
        assert_eq!(Spatial::from_typmod(1_107_460), Some(Spatial { srid: 4326, kind: 1, z: false, m: false }));
        assert_eq!(Spatial::from_typmod(4), Some(Spatial { srid: 0, kind: 1, z: false, m: false }));
        assert_eq!(Spatial::from_typmod(-1), None);
        let s = Spatial::from_typmod((3857 << 8) | (6 << 2) | 2).unwrap();
        assert_eq!(s.to_string(), "geometry(MultiPolygonZ, 3857)");
        assert!(check(&point(3857), s).is_err());
    }

    #[test]
    fn srid_and_kind_are_checked() {
        let col = Spatial { srid: 4326, kind: 1, z: false, m: false };
        assert_eq!(check(&point(4326), col), Ok(None));
        assert!(check(&point(0), col).unwrap().unwrap().contains("4326"));
        assert!(check(&point(3857), col).unwrap_err().contains("SRID 3857"));
        let lines = Spatial { srid: 0, kind: 2, z: false, m: false };
        assert!(check(&point(0), lines).unwrap_err().contains("Point"));
        let collection = Spatial { srid: 0, kind: 7, z: false, m: false };
        let mut multi = point(0);
        multi[5] = 4;
        assert_eq!(check(&multi, collection), Ok(None));
    }
}
