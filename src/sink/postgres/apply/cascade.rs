//! The target's cascading foreign keys, run by PostgreSQL for the changes the binlog
//! carries (`follow.cascades = "target"`; docs/architecture.md, "Change capture"). MySQL
//! (≤ 8.4) and MariaDB log a parent's row change but not what its `ON DELETE` / `ON
//! UPDATE` `CASCADE`, `SET NULL` or `SET DEFAULT` keys did to the children; the plan
//! checked that the target carries the same keys (`pipeline::cascades`), and the apply
//! lets them act where the source's did:
//!
//! - a parent's deletes run with `session_replication_role = origin` for that statement
//!   only, so PostgreSQL's foreign-key triggers fire for them (and its `NO ACTION` keys
//!   check: in source order the children are gone by then, as on the source);
//! - a parent's key change (`Op::Move`) is one `UPDATE` under `origin`, so `ON UPDATE`
//!   actions see an update, not a delete; a parent's upserts run under `origin` too when an
//!   `ON UPDATE` action references columns outside the apply key (an upsert may change
//!   them);
//! - order: a set-based merge applies every table's deletes, then every table's upserts.
//!   That is what the source did only when no table such a statement can change or check
//!   has changes in the same batch (else a child staged before its parent's delete would
//!   be deleted first and inserted again after it, an orphan), and when no parent key is
//!   changed (a move needs its two rows together). Otherwise the batch is replayed in
//!   source order, one change at a time (`merge::in_order`). In the set-based merge a
//!   parent's delete removes every key deleted in the batch, not only those whose last
//!   change is a delete: a key deleted and inserted again has lost its children on the
//!   source;
//! - the follower cannot see what the actions changed: every table they may have
//!   changed (the keys' children, on through their own cascading keys) is recorded as
//!   changed whole (`pg::changed`), so a cut-over compares it whole.

use super::stage::Staged;
use crate::pg::introspect::{cascading, PgForeignKey, PgTable};

/// How the target's foreign keys act on one followed table's changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Acting {
    /// A cascading key references it: a key change is one `UPDATE` under `origin`.
    pub parent: bool,
    /// A key referencing it acts on delete: its deletes run under `origin`.
    pub on_delete: bool,
    /// A key referencing it acts on update of columns outside the apply key: its upserts
    /// run under `origin`.
    pub on_upsert: bool,
    /// The followed tables (by index) a statement on it under `origin` may change or check.
    reach: Vec<usize>,
    /// The followed target tables its deletes, key changes and upserts may change.
    deleted: Vec<String>,
    moved: Vec<String>,
    upserted: Vec<String>,
}

/// Per followed table (in the apply's order), how the target's keys act on it.
#[derive(Debug, Clone, Default)]
pub(super) struct Cascades {
    pub tables: Vec<Acting>,
}

impl Cascades {
    /// No key acts (`follow.cascades = "refuse"`): every change is applied under `replica`.
    pub fn none(n: usize) -> Cascades {
        Cascades { tables: vec![Acting::default(); n] }
    }

    /// From the target's catalog, for the followed (staged) tables.
    pub fn new(target: &[PgTable], staged: &[Staged]) -> Cascades {
        let keys: Vec<(&str, &PgForeignKey)> =
            target.iter().flat_map(|t| t.foreign_keys.iter().map(move |k| (t.name.as_str(), k))).collect();
        let followed: Vec<&str> = staged.iter().map(|s| s.table.target.as_str()).collect();
        let tables = staged
            .iter()
            .map(|s| {
                let name = s.table.target.as_str();
                let refs: Vec<&(&str, &PgForeignKey)> = keys.iter().filter(|(_, k)| k.ref_table == name).collect();
                let children = |keep: &dyn Fn(&PgForeignKey) -> bool| {
                    let start: Vec<&str> = refs.iter().filter(|(_, k)| keep(k)).map(|(c, _)| *c).collect();
                    changed_by(&keys, start, &followed)
                };
                let outside_key = |k: &PgForeignKey| !k.ref_columns.iter().all(|c| s.table.key.contains(c));
                Acting {
                    parent: refs.iter().any(|(_, k)| k.cascades()),
                    on_delete: refs.iter().any(|(_, k)| cascading(&k.on_delete)),
                    on_upsert: refs.iter().any(|(_, k)| cascading(&k.on_update) && outside_key(k)),
                    reach: reach(&keys, name, &followed),
                    deleted: children(&|k| cascading(&k.on_delete)),
                    moved: children(&|k| cascading(&k.on_update)),
                    upserted: children(&|k| cascading(&k.on_update) && outside_key(k)),
                }
            })
            .collect();
        Cascades { tables }
    }

    /// The staged batch must be replayed in source order: a statement some key acts on
    /// would change or check a table that has changes of its own in the batch, or a
    /// parent's key changed.
    pub fn in_order(&self, staged: &[Staged]) -> bool {
        staged.iter().zip(&self.tables).any(|(s, a)| {
            let moved = a.parent && s.ops.moved;
            let acts = moved || (a.on_delete && s.ops.delete) || (a.on_upsert && s.ops.upsert);
            acts && (moved || a.reach.iter().any(|&j| staged[j].staged > 0))
        })
    }

    /// The followed target tables the staged changes' actions may have changed.
    pub fn changed(&self, staged: &[Staged]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (s, a) in staged.iter().zip(&self.tables) {
            let lists =
                [(a.on_delete && s.ops.delete, &a.deleted), (s.ops.moved, &a.moved), (s.ops.upsert, &a.upserted)];
            for (_, list) in lists.iter().filter(|(acted, _)| *acted) {
                for t in list.iter() {
                    if !out.contains(t) {
                        out.push(t.clone());
                    }
                }
            }
        }
        out
    }
}

/// The tables whose rows the cascading keys change when rows of `start` (children of a
/// cascading key) change, on through their own cascading keys; only followed ones.
fn changed_by(keys: &[(&str, &PgForeignKey)], start: Vec<&str>, followed: &[&str]) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    let mut next = start;
    while let Some(t) = next.pop() {
        if seen.contains(&t) {
            continue;
        }
        seen.push(t);
        next.extend(keys.iter().filter(|(_, k)| k.cascades() && k.ref_table == t).map(|(c, _)| *c));
    }
    seen.into_iter().filter(|t| followed.contains(t)).map(str::to_string).collect()
}

/// The followed tables (by index) a statement on `table` under `origin` may change or
/// check: the tables of every key referencing it, and on through the cascading ones.
fn reach(keys: &[(&str, &PgForeignKey)], table: &str, followed: &[&str]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut seen = vec![table];
    let mut next = vec![table];
    while let Some(t) = next.pop() {
        for (child, k) in keys.iter().filter(|(_, k)| k.ref_table == t) {
            if let Some(i) = followed.iter().position(|f| f == child) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
            if k.cascades() && !seen.contains(child) {
                seen.push(child);
                next.push(child);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::postgres::apply::ApplyTable;

    fn fk(name: &str, column: &str, parent: &str, on_delete: &str, on_update: &str) -> PgForeignKey {
        PgForeignKey {
            name: name.into(),
            columns: vec![column.into()],
            ref_table: parent.into(),
            ref_columns: vec!["id".into()],
            definition: String::new(),
            on_delete: on_delete.into(),
            on_update: on_update.into(),
        }
    }

    fn table(name: &str, foreign_keys: Vec<PgForeignKey>) -> PgTable {
        PgTable {
            name: name.into(),
            columns: Vec::new(),
            primary_key: vec!["id".into()],
            uniques: Vec::new(),
            foreign_keys,
            checks: Vec::new(),
            triggers: Vec::new(),
        }
    }

    fn staged(names: &[&str]) -> Vec<Staged> {
        let each = names.iter().enumerate();
        each.map(|(i, n)| {
            let t = ApplyTable {
                source: n.to_string(),
                target: n.to_string(),
                columns: Vec::new(),
                key: vec!["id".into()],
                sequences: Vec::new(),
            };
            Staged::new(t, i)
        })
        .collect()
    }

    /// space ← (CASCADE) callout ← (SET NULL) post; space ← (NO ACTION) member; audit
    /// (not followed) ← (CASCADE) post.
    fn world() -> (Vec<PgTable>, Vec<Staged>) {
        let target = vec![
            table("space", vec![]),
            table("callout", vec![fk("callout_space", "space_id", "space", "CASCADE", "NO ACTION")]),
            table("post", vec![fk("post_callout", "callout_id", "callout", "SET NULL", "NO ACTION")]),
            table("member", vec![fk("member_space", "space_id", "space", "RESTRICT", "NO ACTION")]),
            table("audit", vec![fk("audit_post", "post_id", "post", "CASCADE", "CASCADE")]),
        ];
        (target, staged(&["space", "callout", "post", "member"]))
    }

    #[test]
    fn a_parents_delete_acts_and_marks_what_its_keys_change_on_through_theirs() {
        let (target, mut s) = world();
        let c = Cascades::new(&target, &s);
        let (space, callout, post, member) = (&c.tables[0], &c.tables[1], &c.tables[2], &c.tables[3]);
        assert!(space.parent && space.on_delete && !space.on_upsert);
        assert!(callout.parent && callout.on_delete, "SET NULL acts");
        assert!(post.parent && !member.parent, "post is referenced by audit's cascading key; member by none");
        // space's deletes may change callout and post, and check member.
        let mut reach = space.reach.clone();
        reach.sort_unstable();
        assert_eq!(reach, [1, 2, 3]);
        // Only space's deletes staged: set-based, and callout and post are marked whole
        // (audit is not followed).
        s[0].staged = 2;
        s[0].ops.delete = true;
        assert!(!c.in_order(&s));
        assert_eq!(c.changed(&s), ["callout", "post"]);
        // A member change in the same batch: its order against space's delete counts.
        s[3].staged = 1;
        s[3].ops.upsert = true;
        assert!(c.in_order(&s));
        // A key change of a parent is always replayed in order; a plain upsert of a parent
        // whose keys act on delete only is not an action.
        let (target, mut s) = world();
        s[0].staged = 1;
        s[0].ops.upsert = true;
        s[1].staged = 1;
        s[1].ops.upsert = true;
        assert!(!c.in_order(&s) && c.changed(&s).is_empty());
        s[0].ops.moved = true;
        assert!(Cascades::new(&target, &s).in_order(&s));
        assert!(Cascades::none(4).changed(&s).is_empty() && !Cascades::none(4).in_order(&s));
    }

    #[test]
    fn an_on_update_action_on_columns_outside_the_key_makes_upserts_act() {
        let mut code = fk("child_code", "code", "parent", "NO ACTION", "CASCADE");
        code.ref_columns = vec!["code".into()];
        let target = vec![table("parent", vec![]), table("child", vec![code])];
        let mut s = staged(&["parent", "child"]);
        let c = Cascades::new(&target, &s);
        assert!(c.tables[0].on_upsert && !c.tables[0].on_delete);
        s[0].staged = 1;
        s[0].ops.upsert = true;
        assert_eq!(c.changed(&s), ["child"]);
        // On the key itself, an upsert cannot change it (a key change is a move).
        let target =
            vec![table("parent", vec![]), table("child", vec![fk("c", "pid", "parent", "NO ACTION", "CASCADE")])];
        let c = Cascades::new(&target, &s);
        assert!(c.tables[0].parent && !c.tables[0].on_upsert);
        assert!(c.changed(&s).is_empty());
    }
}
