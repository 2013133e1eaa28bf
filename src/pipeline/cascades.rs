//! `follow.cascades = "target"` (docs/architecture.md, "Change capture"): MySQL and
//! MariaDB apply a cascading foreign key's action without row events, so a followed table
//! with one is followed only when the target's own key runs the same action. The apply
//! then lets the target's foreign keys act for the parent's deletes and key changes
//! (`sink::postgres::apply`), so the check goes both ways:
//!
//! - each cascading key of a followed table is in the target with the same columns,
//!   referenced table and columns, and the same `ON DELETE` and `ON UPDATE` actions
//!   (`RESTRICT` and `NO ACTION` are one: InnoDB checks at once either way);
//! - each target key on a table the apply lets keys act on (a parent of a cascading
//!   target key, and every table such an action changes, on through their own cascading
//!   keys) is the source's: a key the source does not have would act, or check, where
//!   the source did not.

use super::plan::Plan;
use crate::pg::introspect::{self, PgTable};
use crate::source::mysql::binlog::preflight::{self, Finding};

/// A foreign key in the target's names.
struct Key {
    /// Constraint name.
    name: String,
    /// The source table it is on (for the finding; the target table for a target key).
    on: String,
    /// The target table it is on, and its columns.
    child: String,
    columns: Vec<String>,
    /// The referenced target table and columns.
    parent: String,
    ref_columns: Vec<String>,
    on_delete: String,
    on_update: String,
}

impl Key {
    fn same_place(&self, o: &Key) -> bool {
        self.child == o.child
            && self.columns == o.columns
            && self.parent == o.parent
            && self.ref_columns == o.ref_columns
    }

    fn same_actions(&self, o: &Key) -> bool {
        same_action(&self.on_delete, &o.on_delete) && same_action(&self.on_update, &o.on_update)
    }

    fn cascades(&self) -> bool {
        introspect::cascading(&self.on_delete) || introspect::cascading(&self.on_update)
    }

    /// `(a, b) → `p` (x, y)`.
    fn place(&self) -> String {
        format!("({}) → `{}` ({})", self.columns.join(", "), self.parent, self.ref_columns.join(", "))
    }

    fn actions(&self) -> String {
        format!("ON DELETE {} ON UPDATE {}", self.on_delete, self.on_update)
    }

    /// The cascading clauses alone: `ON DELETE CASCADE`, `ON DELETE SET NULL, ON UPDATE CASCADE`.
    fn cascading(&self) -> String {
        let clauses = [("ON DELETE", &self.on_delete), ("ON UPDATE", &self.on_update)];
        let acting = clauses.iter().filter(|(_, a)| introspect::cascading(a));
        acting.map(|(c, a)| format!("{c} {a}")).collect::<Vec<_>>().join(", ")
    }
}

/// `RESTRICT` and `NO ACTION` compare equal.
fn same_action(a: &str, b: &str) -> bool {
    let norm = |x: &str| if x == "RESTRICT" { "NO ACTION".to_string() } else { x.to_string() };
    norm(a) == norm(b)
}

fn refuse(setting: String, message: String) -> Finding {
    Finding { refuse: true, setting, message }
}

/// The findings of `follow.cascades = "target"` for the planned tables against the
/// target's tables (None: the pipeline has no postgres sink).
pub fn check(plan: &Plan, target: Option<&[PgTable]>) -> Vec<Finding> {
    let mut out = Vec::new();
    let source = source_keys(plan, &mut out);
    let Some(target) = target else {
        if source.iter().any(Key::cascades) {
            out.push(refuse(
                "follow.cascades".into(),
                "\"target\" lets the target's foreign keys run the source's cascades: the pipeline has no postgres \
                 sink to carry them"
                    .into(),
            ));
        }
        return out;
    };
    let keys = target_keys(target);
    for k in source.iter().filter(|k| k.cascades()) {
        if let Some(why) = not_in_target(k, &keys, target) {
            out.push(refuse(format!("table `{}`", k.on), why));
        }
    }
    let followed: Vec<&str> = plan.tables.iter().map(|t| t.target.as_str()).collect();
    let acting = acted_on(&keys, &followed);
    for t in keys.iter().filter(|t| acting.contains(&t.parent)) {
        let why = match source.iter().find(|s| s.same_place(t)) {
            Some(s) if s.same_actions(t) || s.cascades() => continue,
            Some(s) => format!("is {} where the source's `{}` is {}", t.actions(), s.name, s.actions()),
            None => "is not a foreign key of the source's followed tables".to_string(),
        };
        out.push(refuse(
            format!("target table `{}`", t.child),
            format!(
                "foreign key `{}` {} {why}: the apply lets the target's foreign keys on `{}` act (a cascading key \
                 references it, or its rows are changed by one), so this key would act or check where the source's \
                 did not: make it the source's, or drop it",
                t.name,
                t.place(),
                t.parent
            ),
        ));
    }
    out
}

/// The source's foreign keys of the planned tables, in the target's names; a cascading
/// key whose referenced table is not followed is refused.
fn source_keys(plan: &Plan, out: &mut Vec<Finding>) -> Vec<Key> {
    let mut keys = Vec::new();
    for t in &plan.tables {
        for fk in &t.spec.table.foreign_keys {
            let cascades = preflight::cascading(&fk.on_delete) || preflight::cascading(&fk.on_update);
            let Some(r) = plan.tables.iter().find(|x| x.name() == fk.ref_table) else {
                if cascades {
                    out.push(refuse(
                        format!("table `{}`", t.name()),
                        format!(
                            "foreign key `{}` references `{}`, which is not followed: its changes never reach the \
                             target, so the target's key cannot run the action: follow `{}` too, or exclude this \
                             table",
                            fk.name, fk.ref_table, fk.ref_table
                        ),
                    ));
                }
                continue;
            };
            keys.push(Key {
                name: fk.name.clone(),
                on: t.name().to_string(),
                child: t.target.clone(),
                columns: fk.columns.iter().map(|c| t.out_name(c)).collect(),
                parent: r.target.clone(),
                ref_columns: fk.ref_columns.iter().map(|c| r.out_name(c)).collect(),
                on_delete: fk.on_delete.clone(),
                on_update: fk.on_update.clone(),
            });
        }
    }
    keys
}

fn target_keys(target: &[PgTable]) -> Vec<Key> {
    let each = target.iter().flat_map(|t| t.foreign_keys.iter().map(move |fk| (t, fk)));
    each.map(|(t, fk)| Key {
        name: fk.name.clone(),
        on: t.name.clone(),
        child: t.name.clone(),
        columns: fk.columns.clone(),
        parent: fk.ref_table.clone(),
        ref_columns: fk.ref_columns.clone(),
        on_delete: fk.on_delete.clone(),
        on_update: fk.on_update.clone(),
    })
    .collect()
}

/// Why the target does not run source key `k`'s action (None: it does).
fn not_in_target(k: &Key, keys: &[Key], target: &[PgTable]) -> Option<String> {
    let what = format!("foreign key `{}` ({})", k.name, k.cascading());
    let fix = "give the target's key the same columns and actions, or exclude the table";
    if !target.iter().any(|t| t.name == k.child) {
        return Some(format!(
            "{what} is followed only when the target runs the same action: the target has no table `{}`",
            k.child
        ));
    }
    match keys.iter().find(|t| t.same_place(k)) {
        Some(t) if t.same_actions(k) => None,
        Some(t) => Some(format!(
            "{what} is followed only when the target runs the same action: the target's `{}` on `{}` {} is {}, the \
             source's is {}: {fix}",
            t.name,
            t.child,
            t.place(),
            t.actions(),
            k.actions()
        )),
        None => {
            let has: Vec<String> = keys
                .iter()
                .filter(|t| t.child == k.child)
                .map(|t| format!("`{}` {} {}", t.name, t.place(), t.actions()))
                .collect();
            let has = if has.is_empty() { "none".to_string() } else { has.join("; ") };
            Some(format!(
                "{what} is followed only when the target runs the same action: the target's `{}` has no foreign key \
                 {} (its foreign keys: {has}): {fix}",
                k.child,
                k.place()
            ))
        }
    }
}

/// The target tables the apply lets foreign keys act on: each followed table a
/// cascading target key references, and every table such a key changes, on through
/// their own cascading keys.
fn acted_on(keys: &[Key], followed: &[&str]) -> Vec<String> {
    let mut acting: Vec<String> = Vec::new();
    for k in keys.iter().filter(|k| k.cascades() && followed.contains(&k.parent.as_str())) {
        if !acting.contains(&k.parent) {
            acting.push(k.parent.clone());
        }
    }
    let mut i = 0;
    while i < acting.len() {
        let parent = acting[i].clone();
        for k in keys.iter().filter(|k| k.cascades() && k.parent == parent) {
            if !acting.contains(&k.child) {
                acting.push(k.child.clone());
            }
        }
        i += 1;
    }
    acting
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::pg::introspect::PgForeignKey;
    use crate::pipeline::spec::Pipeline;
    use crate::schema::{ForeignKey, Table};

    /// A plan of `tables` (`extra`: more pipeline keys, before the sink).
    async fn plan(tables: Vec<Table>, extra: &str) -> Plan {
        let text =
            format!("name = \"t\"\n[source]\nkind = \"mysql\"\nurl = \"x\"\n{extra}\n[[sink]]\nkind = \"null\"\n");
        let p = Pipeline::parse(&text, Path::new("p.toml"), |_| None).unwrap();
        crate::pipeline::plan::build(&p, tables).await.unwrap()
    }

    fn source(name: &str, keys: &[(&str, &str, &str, &str)]) -> Table {
        let foreign_keys = keys
            .iter()
            .map(|(fk, col, parent, on_delete)| {
                let mut k =
                    ForeignKey::new(fk.to_string(), vec![col.to_string()], parent.to_string(), vec!["id".into()]);
                k.on_delete = on_delete.to_string();
                k
            })
            .collect();
        Table { name: name.into(), primary_key: vec!["id".into()], foreign_keys, ..Default::default() }
    }

    fn target(name: &str, keys: &[(&str, &str, &str, &str)]) -> PgTable {
        let foreign_keys = keys
            .iter()
            .map(|(fk, col, parent, on_delete)| PgForeignKey {
                name: fk.to_string(),
                columns: vec![col.to_string()],
                ref_table: parent.to_string(),
                ref_columns: vec!["id".into()],
                definition: String::new(),
                on_delete: on_delete.to_string(),
                on_update: "NO ACTION".into(),
            })
            .collect();
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

    fn said(findings: &[Finding]) -> Vec<String> {
        findings.iter().map(|f| format!("{}: {}", f.setting, f.message)).collect()
    }

    #[tokio::test]
    async fn the_same_keys_under_the_targets_names_pass() {
        let src = vec![
            source("space", &[]),
            source("callout", &[("callout_space", "space_id", "space", "CASCADE")]),
            source("member", &[("member_space", "space_id", "space", "RESTRICT")]),
        ];
        let renamed = "[[table]]\nsource = \"space\"\ntarget = \"spaces\"\n";
        let pg = vec![
            target("spaces", &[]),
            target("callout", &[("callout_space", "space_id", "spaces", "CASCADE")]),
            target("member", &[("member_space", "space_id", "spaces", "NO ACTION")]),
        ];
        let p = plan(src, renamed).await;
        assert!(check(&p, Some(&pg)).is_empty(), "{:?}", said(&check(&p, Some(&pg))));
        let none = said(&check(&p, None));
        assert!(none.len() == 1 && none[0].starts_with("follow.cascades: "), "{none:?}");
    }

    #[tokio::test]
    async fn an_unfollowed_parent_and_a_key_the_source_lacks_on_a_cascaded_table_are_refused() {
        let src = vec![
            source("space", &[]),
            source("callout", &[("callout_space", "space_id", "space", "CASCADE")]),
            source("comment", &[]),
        ];
        // The target's comment → callout key: callout's rows are deleted by a cascade.
        let pg = vec![
            target("space", &[]),
            target("callout", &[("callout_space", "space_id", "space", "CASCADE")]),
            target("comment", &[("comment_callout", "callout_id", "callout", "NO ACTION")]),
        ];
        let found = said(&check(&plan(src.clone(), "").await, Some(&pg)));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("target table `comment`: foreign key `comment_callout` (callout_id) → `callout` (id)")
        );
        assert!(found[0].contains("is not a foreign key of the source's followed tables"), "{found:?}");

        let found = said(&check(&plan(src, "exclude = [\"space\"]").await, Some(&pg[1..])));
        assert!(
            found.iter().any(|f| f
                .starts_with("table `callout`: foreign key `callout_space` references `space`, which is not followed")),
            "{found:?}"
        );
    }
}
