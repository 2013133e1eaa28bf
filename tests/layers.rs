//! The house rule of docs/architecture.md, checked: every module imports only from its
//! own layer or the layers below it, and no two modules import each other in a loop.
//!
//! The check reads the source, not the compiled crate: every `crate::…`, `super::…` and
//! `self::…` path (in `use` trees and inline), and every path that starts with one of a
//! module's own children, resolves to the deepest module file it names. A parent's
//! `mod child;` declaration is not an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, lowest first: a module is in the layer of the longest prefix listed here.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "model",
        &[
            "error", "feed", "change", "secret", "ident", "calendar", "types", "schema", "manifest", "ledger", "tls",
            "progress", "runlog",
        ],
    ),
    ("adapter", &["pg", "mysql"]),
    ("source", &["source"]),
    ("transform", &["transform"]),
    ("sink", &["sink"]),
    ("plan", &["pipeline"]),
    ("commands", &["run", "follow", "verify", "repair", "cutover", "bench", "query", "report", "ddl"]),
    ("cli", &["cli", "main", "lib"]),
];

/// Layers that sit side by side: neither may import from the other.
const PEERS: &[&str] = &["source", "transform", "sink"];

fn layer_of(module: &str) -> (usize, &'static str) {
    let mut best: Option<(usize, usize, &'static str)> = None;
    for (rank, (name, prefixes)) in LAYERS.iter().enumerate() {
        for p in *prefixes {
            let hit = module == *p || module.starts_with(&format!("{p}::"));
            if hit && best.is_none_or(|(len, _, _)| p.len() > len) {
                best = Some((p.len(), rank, name));
            }
        }
    }
    let (_, rank, name) = best.unwrap_or_else(|| panic!("module `{module}` is in no layer: add it to LAYERS"));
    (rank, name)
}

/// `src/a/b.rs` and `src/a/b/mod.rs` → `a::b`; `src/lib.rs` → `lib`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().map(String::as_str) == Some("mod") {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text without comments, string and char literals (so a doc line that mentions
/// `crate::x` is not an import).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            i = end;
        } else if b[i] == b'"' || (b[i] == b'r' && matches!(b.get(i + 1), Some(b'"' | b'#')) && !ident_byte(b, i)) {
            i = skip_string(b, i);
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') || b[i..].starts_with(b"'\\") {
            let end = text[i + 1..].find('\'').map_or(b.len(), |e| i + 1 + e + 1);
            i = end.max(i + 1);
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn ident_byte(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

fn skip_string(b: &[u8], mut i: usize) -> usize {
    if b[i] == b'r' {
        let mut hashes = 0;
        i += 1;
        while b.get(i) == Some(&b'#') {
            hashes += 1;
            i += 1;
        }
        i += 1; // the opening quote
        while i < b.len() {
            if b[i] == b'"' && b[i + 1..].iter().take(hashes).filter(|&&c| c == b'#').count() == hashes {
                return i + 1 + hashes;
            }
            i += 1;
        }
        return i;
    }
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Every path a file mentions, as segments: `use` trees expanded, inline paths as written.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = find_use(rest) {
        let after = &rest[at + 4..];
        let end = after.find(';').unwrap_or(after.len());
        expand(&after[..end], Vec::new(), &mut out);
        rest = &after[end..];
    }
    out.extend(inline_paths(code));
    out
}

fn find_use(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find("use ") {
        let at = from + i;
        if !ident_byte(b, at) {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// Expands one `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(brace) = tree.find('{') {
        let mut head = prefix.clone();
        head.extend(segments(&tree[..brace]));
        let inner = &tree[brace + 1..tree.rfind('}').unwrap_or(tree.len())];
        for item in split_top(inner) {
            expand(item, head.clone(), out);
        }
        return;
    }
    let tree = tree.split(" as ").next().unwrap_or(tree);
    let mut path = prefix;
    path.extend(segments(tree));
    if !path.is_empty() {
        out.push(path);
    }
}

fn segments(s: &str) -> Vec<String> {
    s.split("::").map(str::trim).filter(|p| !p.is_empty() && *p != "*").map(String::from).collect()
}

fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// `crate::a::b`, `super::c` and `self::d` written inline in code.
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    for root in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(root) {
            let at = from + i;
            from = at + root.len();
            if ident_byte(b, at) || (at > 0 && b[at - 1] == b':') {
                continue;
            }
            let tail: String =
                code[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            out.push(segments(&tail));
        }
    }
    out
}

/// The deepest module a path names, relative to `module`.
fn resolve(module: &str, path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    let mut base: Vec<String> = if module == "lib" || module == "main" || module == "cli" {
        Vec::new()
    } else {
        module.split("::").map(String::from).collect()
    };
    // `super` of `a::b` is `a`, whether `a::b` is `b.rs` or `b/mod.rs`.
    let mut segs = path.iter().peekable();
    match segs.peek().map(|s| s.as_str()) {
        Some("crate") => {
            base.clear();
            segs.next();
        }
        Some("super") => {
            while segs.peek().map(|s| s.as_str()) == Some("super") {
                base.pop();
                segs.next();
            }
        }
        Some("self") => {
            segs.next();
        }
        Some(first) => {
            // A path that starts with one of this module's children.
            let child = if base.is_empty() { first.to_string() } else { format!("{}::{first}", base.join("::")) };
            if !modules.contains(&child) || module == "main" || module == "cli" {
                return None;
            }
        }
        None => return None,
    }
    let mut best = None;
    for s in segs {
        base.push(s.clone());
        let name = base.join("::");
        if modules.contains(&name) {
            best = Some(name);
        } else {
            break;
        }
    }
    best
}

fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        let mut deps = BTreeSet::new();
        for path in paths(&code) {
            if let Some(dep) = resolve(&module, &path, &modules) {
                // A module's own children are below it; naming them is not a back edge.
                if dep != module && !dep.starts_with(&format!("{module}::")) && !module.starts_with(&format!("{dep}::"))
                {
                    deps.insert(dep);
                } else if module.starts_with(&format!("{dep}::")) {
                    // A child using its parent's items: an edge child → parent.
                    deps.insert(dep);
                }
            }
        }
        graph.insert(module, deps);
    }
    graph
}

/// Imports that point up a layer, or sideways between peer layers. Unit-test modules
/// (`…::tests`) are not part of the layered library: a source's tests may build their
/// input with a sink's encoder.
fn wrong_imports(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (module, deps) in graph.iter().filter(|(m, _)| !m.ends_with("::tests")) {
        let (rank, layer) = layer_of(module);
        for dep in deps {
            let (dep_rank, dep_layer) = layer_of(dep);
            let peers = layer != dep_layer && PEERS.contains(&layer) && PEERS.contains(&dep_layer);
            if dep_rank > rank || peers {
                wrong.push(format!("{module} ({layer}) imports {dep} ({dep_layer})"));
            }
        }
    }
    wrong
}

/// Every loop of imports, each as `a → b → a`.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        cycles: &mut Vec<String>,
    ) {
        state.insert(m, 1);
        stack.push(m);
        for d in graph.get(m).into_iter().flatten() {
            match state.get(d.as_str()) {
                // An edge to a module on the stack closes a loop.
                Some(1) => {
                    let from = stack.iter().position(|s| *s == d).unwrap();
                    let mut cycle: Vec<&str> = stack[from..].to_vec();
                    cycle.push(d);
                    cycles.push(cycle.join(" → "));
                }
                Some(_) => {}
                None => visit(d, graph, state, stack, cycles),
            }
        }
        stack.pop();
        state.insert(m, 2);
    }
    let mut found = Vec::new();
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    for m in graph.keys() {
        if !state.contains_key(m.as_str()) {
            visit(m, graph, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

#[test]
fn every_import_points_down() {
    let wrong = wrong_imports(&import_graph());
    assert!(wrong.is_empty(), "imports that point up or sideways:\n  {}", wrong.join("\n  "));
}

#[test]
fn no_modules_import_each_other_in_a_loop() {
    let found = cycles(&import_graph());
    assert!(found.is_empty(), "modules that import each other in a loop:\n  {}", found.join("\n  "));
}

/// The checks themselves, on graphs that break the rules: an upward import, a sideways
/// one between peers, and a loop are each reported.
#[test]
fn the_checks_catch_what_they_forbid() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(wrong_imports(&graph(&[("types", "pipeline::plan")])), ["types (model) imports pipeline::plan (plan)"]);
    assert_eq!(
        wrong_imports(&graph(&[("sink::csv", "source::cell")])),
        ["sink::csv (sink) imports source::cell (source)"]
    );
    assert!(wrong_imports(&graph(&[("run", "pipeline::plan"), ("pipeline::plan", "types")])).is_empty());
    assert_eq!(cycles(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])), ["a → b → c → a"]);
    assert!(cycles(&graph(&[("a", "b"), ("a", "c"), ("b", "c")])).is_empty());
}

/// The checker itself: a path it cannot see would make both tests above pass vacuously.
#[test]
fn the_checker_sees_imports() {
    let modules: BTreeSet<String> = ["a", "a::b", "a::b::c", "d"].into_iter().map(String::from).collect();
    let code = code_only(
        "use crate::a::{b::{self, c::X}, Y};\n// use crate::d;\nfn f() { super::c::g(); let s = \"crate::d\"; }",
    );
    let found: BTreeSet<String> = paths(&code).iter().filter_map(|p| resolve("a::b::e", p, &modules)).collect();
    let want: BTreeSet<String> = ["a", "a::b", "a::b::c"].into_iter().map(String::from).collect();
    assert_eq!(found, want);
    let graph = import_graph();
    assert!(
        graph["verify"].iter().any(|d| d.starts_with("pg::")),
        "verify reads the target through the PostgreSQL adapter"
    );
}
