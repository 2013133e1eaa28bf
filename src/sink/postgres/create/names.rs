//! PostgreSQL's name rules for a created schema: 63 bytes at most (longer names are
//! truncated by PostgreSQL without a word, so `converge` never sends one), and one
//! namespace per schema for tables, indexes, sequences and types.

use std::collections::HashSet;

/// PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes.
pub const MAX_NAME_BYTES: usize = 63;

/// A name longer than PostgreSQL allows: what to do with it (`long_names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LongNames {
    /// Stop, naming it (default).
    #[default]
    Refuse,
    /// Shorten it by [`shorten`], and report it.
    Shorten,
}

/// Two index names that PostgreSQL would hold in one namespace (MySQL's are per
/// table): what to do (`index_names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexNames {
    /// Stop, naming them (default).
    #[default]
    Refuse,
    /// Prefix the later one with its table's name (`table_index`), and report it.
    Prefix,
}

/// The deterministic rule for a name over 63 bytes: its longest prefix of at most 54
/// bytes that ends on a character boundary, `_`, and the 8 hex digits of the FNV-1a
/// (32-bit) hash of the whole name. The same name always gives the same result, and
/// two long names that share their first 54 bytes still differ.
pub fn shorten(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_string();
    }
    let mut end = 54;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut hash: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        hash ^= b as u32;
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{}_{hash:08x}", &name[..end])
}

/// The relation and type names of one schema, taken as the DDL names them.
#[derive(Debug, Default)]
pub struct Namespace {
    taken: HashSet<String>,
}

impl Namespace {
    /// A namespace holding `existing` (the target schema's relations and types).
    pub fn new(existing: impl IntoIterator<Item = String>) -> Namespace {
        Namespace { taken: existing.into_iter().collect() }
    }

    /// Whether `name` is taken.
    pub fn has(&self, name: &str) -> bool {
        self.taken.contains(name)
    }

    /// Takes `name`; false when it was taken already.
    pub fn take(&mut self, name: &str) -> bool {
        self.taken.insert(name.to_string())
    }

    /// A name `converge` makes up (`t_pkey`, `t_col_seq`): shortened when too long and
    /// numbered when taken, as PostgreSQL itself would choose one, but never truncated
    /// in silence (the DDL names it).
    pub fn made_up(&mut self, base: &str) -> String {
        let mut name = shorten(base);
        let mut n = 1;
        while !self.take(&name) {
            name = shorten(&format!("{base}{n}"));
            n += 1;
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_deterministically_within_the_limit() {
        let long = "a".repeat(64);
        let s = shorten(&long);
        assert!(s.len() <= MAX_NAME_BYTES, "{s}");
        assert_eq!(s, shorten(&long));
        assert_ne!(shorten(&format!("{}b", "a".repeat(63))), s, "same 54-byte prefix, other names");
        assert_eq!(shorten("short"), "short");
        let multibyte = "é".repeat(40);
        assert!(shorten(&multibyte).len() <= MAX_NAME_BYTES);
    }

    #[test]
    fn made_up_names_do_not_clash() {
        let mut ns = Namespace::new(["t_pkey".to_string()]);
        assert_eq!(ns.made_up("t_pkey"), "t_pkey1");
        assert_eq!(ns.made_up("u_pkey"), "u_pkey");
    }
}
