//! A row's digest: the 60-bit hash each server computes over a row's server-side
//! canonical columns ([`super::canon`]), shipped as hex or summed on the server, and
//! the client-side hash of the columns `converge` canonicalises itself (JSON), bound to
//! its row (docs/architecture.md, "Verification").

use super::canon::{ClientKind, ColumnCanon};

/// The MySQL expression of a row's 60-bit digest over the server-side columns, as its
/// 15 hex digits (rows shipped to `converge` carry it so; the server converts nothing):
/// the first 60 bits of the SHA-256 of the row string.
///
/// SHA-256, not MD5: MariaDB's `MD5()` pays OpenSSL 3's per-call set-up on every row
/// and cost 3–4 × `SHA2(…, 256)` over the same 2 M rows (docs/architecture.md,
/// "Verification"); PostgreSQL's `md5()` and `sha256()` cost about the same.
///
/// Fields are joined by `|`; a NULL is `~`. A field whose text may hold anything is
/// `BYTES:TEXT` (its length in UTF-8 bytes, which both servers know without reading
/// the text), so no two rows give the same string; a [`ColumnCanon::fixed_alphabet`]
/// field is its text alone (it holds no `|` and is never `~`), its expression evaluated
/// once — the servers do not share the two evaluations a prefix costs.
pub fn mysql_row_hash_hex(cols: &[&ColumnCanon]) -> String {
    let parts: Vec<String> = cols
        .iter()
        .map(|c| match c.fixed_alphabet {
            true => format!("IFNULL({}, '~')", c.mysql),
            false => {
                let len = c.mysql_len.clone().unwrap_or_else(|| format!("LENGTH({})", c.mysql));
                format!("IFNULL(CONCAT({len}, ':', {}), '~')", c.mysql)
            }
        })
        .collect();
    // Every field is UTF-8 already (utf8mb4 text, converted text, or ASCII): the row
    // string is their bytes, with no conversion of the whole.
    let body = if parts.is_empty() { "''".to_string() } else { format!("CONCAT_WS('|', {})", parts.join(", ")) };
    format!("LEFT(SHA2({body}, 256), 15)")
}

/// [`mysql_row_hash_hex`] as a number, for sums on the server.
pub fn mysql_row_hash(cols: &[&ColumnCanon]) -> String {
    format!("CAST(CONV({}, 16, 10) AS UNSIGNED)", mysql_row_hash_hex(cols))
}

/// The PostgreSQL expression of a row's 60-bit digest over the server-side columns, as
/// its 15 hex digits. The fields as [`mysql_row_hash_hex`] writes them.
pub fn pg_row_hash_hex(cols: &[&ColumnCanon]) -> String {
    let parts: Vec<String> = cols
        .iter()
        .map(|c| match c.fixed_alphabet {
            true => format!("coalesce(({})::text, '~')", c.pg),
            false => {
                let len = c.pg_len.clone().unwrap_or_else(|| format!("octet_length({})", c.pg));
                format!("coalesce(({len})::text || ':' || ({}), '~')", c.pg)
            }
        })
        .collect();
    let body = if parts.is_empty() { "''".to_string() } else { format!("concat_ws('|', {})", parts.join(", ")) };
    // Only the first 8 bytes go to hex: `encode` of all 32 cost more than the hash.
    format!("left(encode(substr(sha256(convert_to({body}, 'UTF8')), 1, 8), 'hex'), 15)")
}

/// [`pg_row_hash_hex`] as a number, for sums on the server.
pub fn pg_row_hash(cols: &[&ColumnCanon]) -> String {
    format!("('x' || {})::bit(60)::bigint", pg_row_hash_hex(cols))
}

/// A row hash shipped as hex ([`mysql_row_hash_hex`], [`pg_row_hash_hex`]).
pub fn parse_row_hash(hex: &str) -> Option<u64> {
    (hex.len() == 15).then(|| u64::from_str_radix(hex, 16).ok()).flatten()
}

/// The client-side 60-bit digest of rows' client columns, bound to each row by its
/// key or its server-side hash; the canonicaliser's buffers are kept from row to row.
#[derive(Debug, Default)]
pub struct ClientHasher {
    json: super::json::JsonCanon,
}

impl ClientHasher {
    /// The digest of one row: `bound` (key values or the server's hash) then each client
    /// column's canonical form.
    pub fn row<S: AsRef<str>>(&mut self, bound: &[Option<S>], values: &[Option<S>], kinds: &[ClientKind]) -> u64 {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut put = |v: Option<&[u8]>| match v {
            Some(v) => {
                h.update((v.len() as u64).to_le_bytes());
                h.update(v);
            }
            None => h.update(u64::MAX.to_le_bytes()),
        };
        for v in bound {
            put(v.as_ref().map(|v| v.as_ref().as_bytes()));
        }
        for (v, kind) in values.iter().zip(kinds) {
            match (v, kind) {
                (Some(v), ClientKind::Json) => put(Some(self.json.canonical(v.as_ref()))),
                (Some(v), ClientKind::JsonFirst) => put(Some(self.json.canonical_by(v.as_ref(), true))),
                (None, _) => put(None),
            }
        }
        let d = h.finalize();
        u64::from_le_bytes(d[..8].try_into().expect("8 bytes")) >> 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Logical, MySqlType};
    use crate::verify::canon::{column, column_of, Pair};

    /// A column whose text is drawn from a fixed alphabet on both sides is hashed from one
    /// evaluation of its expression; text, UUIDs and anything bound for a text target
    /// keep the length prefix that makes the row string unambiguous.
    #[test]
    fn fixed_alphabet_fields_are_evaluated_once() {
        let count = |sql: &str, e: &str| sql.matches(e).count();
        let when = column("when", Logical::DateTime, "timestamp", false, false, None);
        let amount = column("amount", Logical::Decimal(10, 2), "numeric", false, false, None);
        assert!(when.fixed_alphabet && amount.fixed_alphabet);
        for c in [&when, &amount] {
            assert_eq!(count(&mysql_row_hash(&[c]), &c.mysql), 1, "{}", c.mysql);
            assert_eq!(count(&pg_row_hash(&[c]), &c.pg), 1, "{}", c.pg);
        }
        let kept = [
            column("note", Logical::Text, "text", false, false, None),
            column("n", Logical::Int64, "text", false, false, None),
            column("j", Logical::Json, "jsonb", false, false, None),
        ];
        for c in &kept {
            assert!(!c.fixed_alphabet, "{}", c.name);
            assert_eq!(count(&mysql_row_hash(&[c]), &c.mysql), 2, "{}", c.mysql);
            assert_eq!(count(&pg_row_hash(&[c]), &c.pg), 2, "{}", c.pg);
        }
        // A UUID into a uuid target keeps its prefix, measured on the column itself
        // (MySQL) or known (PostgreSQL's uuid text is 36 bytes): one evaluation each.
        let id = column("id", Logical::Uuid, "uuid", false, false, None);
        assert!(!id.fixed_alphabet);
        let (my, pg) = (mysql_row_hash(&[&id]), pg_row_hash(&[&id]));
        assert_eq!((count(&my, &id.mysql), count(&pg, &id.pg)), (1, 1), "{my}\n{pg}");
        assert!(my.contains("CONCAT(LENGTH(`id`), ':', LOWER(") && pg.contains("(36)::text || ':'"), "{my}\n{pg}");
    }

    /// A shipped row hash is the summed one's hex digits: the same 60-bit number.
    #[test]
    fn shipped_row_hashes_are_the_summed_ones_in_hex() {
        let c = column("note", Logical::Text, "text", false, false, None);
        assert!(mysql_row_hash(&[&c]).contains(&mysql_row_hash_hex(&[&c])));
        assert!(mysql_row_hash_hex(&[&c]).starts_with("LEFT(SHA2("));
        assert!(pg_row_hash(&[&c]).contains(&pg_row_hash_hex(&[&c])));
        assert!(pg_row_hash_hex(&[&c]).starts_with("left(encode(substr(sha256(convert_to("));
        assert_eq!(parse_row_hash("fffffffffffffff"), Some((1 << 60) - 1));
        assert_eq!(parse_row_hash("00000000000000a"), Some(10));
        assert_eq!((parse_row_hash("ffff"), parse_row_hash("fffffffffffffffx")), (None, None));
    }

    /// With the source's declared type known, a column whose MySQL text is already
    /// canonical is digested bare, and the target side is shaped to that text.
    #[test]
    fn known_source_types_are_digested_bare_on_mysql() {
        let ty = |t: &str| MySqlType { charset: Some("utf8mb4".into()), ..MySqlType::parse(t) };
        fn pair<'a>(name: &'a str, logical: Logical, pg_type: &'a str, t: &'a MySqlType) -> Pair<'a> {
            let (pg_enum, is_bit, zone, pg_typmod) = (false, false, None, -1);
            Pair {
                name,
                pg_name: name,
                logical,
                pg_type,
                pg_enum,
                is_bit,
                zone,
                source: Some(t),
                pg_typmod,
                key: false,
                json_first: false,
                postgis: None,
            }
        }
        let of = |name: &str, logical, pg_type, t: &MySqlType| column_of(&pair(name, logical, pg_type, t));
        let body = of("body", Logical::Text, "text", &ty("text"));
        assert_eq!((body.mysql.as_str(), body.pg.as_str()), ("(`body` COLLATE utf8mb4_bin)", "\"body\"::text"));
        assert!(mysql_row_hash(&[&body]).contains("CONCAT(LENGTH((`body` COLLATE utf8mb4_bin)), ':', (`body` COLLATE"));
        let latin = of("body", Logical::Text, "text", &MySqlType { charset: Some("latin1".into()), ..ty("text") });
        assert_eq!(latin.mysql, "CONVERT(`body` USING utf8mb4)");
        let at = of("at", Logical::DateTime, "timestamp", &ty("datetime(6)"));
        assert!(at.fixed_alphabet && !at.mysql.contains("DATE_FORMAT"), "{}", at.mysql);
        assert_eq!(at.pg, "to_char(\"at\", 'YYYY-MM-DD HH24:MI:SS.US')");
        // A DATETIME(3): the target with three digits, or with six when it has finer ones.
        let ms = of("at", Logical::DateTime, "timestamp", &ty("datetime(3)"));
        assert!(ms.pg.contains("date_trunc('milliseconds', \"at\") = \"at\"") && ms.pg.contains("SS.MS"), "{}", ms.pg);
        // Precisions PostgreSQL cannot truncate to keep the formatted form.
        assert!(of("at", Logical::DateTime, "timestamp", &ty("datetime(2)")).mysql.contains("DATE_FORMAT"));
        let amount = of("amount", Logical::Decimal(10, 2), "numeric", &ty("decimal(10,2)"));
        assert_eq!(amount.mysql, "`amount`");
        assert!(amount.pg.contains("round(\"amount\", 2) = \"amount\""), "{}", amount.pg);
        // Into numeric(12,2) (typmod (12 << 16 | 2) + 4): every target value prints two digits.
        let dec = ty("decimal(10,2)");
        let same = Pair { pg_typmod: (12 << 16 | 2) + 4, ..pair("amount", Logical::Decimal(10, 2), "numeric", &dec) };
        let same = column_of(&same);
        assert_eq!(same.pg, "\"amount\"::text");
        // Bytes by their MD5, unless they are a key.
        let blob = ty("mediumblob");
        let data = of("data", Logical::Binary, "bytea", &blob);
        assert_eq!(
            (data.mysql.as_str(), data.pg.as_str(), data.fixed_alphabet),
            ("MD5(`data`)", "md5(\"data\")", true)
        );
        let key = column_of(&Pair { key: true, ..pair("data", Logical::Binary, "bytea", &blob) });
        assert_eq!(key.mysql, "LOWER(HEX(`data`))");
    }
}
