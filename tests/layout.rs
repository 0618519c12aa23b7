//! The crate's shape, checked: every file under `src/` is at most 1,200 lines, no module imports
//! from a layer above its own, and the top-level modules depend on each other without a cycle.
//! ARCHITECTURE.md explains the layers; this test is their definition.
//!
//! It reads the sources as text: every `crate::…` path outside comments (in `use` lines and in
//! code) is one dependency of the file it is written in, resolved to the longest module path
//! that exists under `src/`. `lib.rs` is the map of the crate and may name anything; paths that
//! go through its re-exports (`crate::Error`, `crate::page` …) are resolved to where the item
//! lives.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The longest a file may grow. Aim for ≲ 1,000 lines: a file is one room with one purpose.
const MAX_LINES: usize = 1_200;

/// The layers, lowest first. A module belongs to the layer of the longest prefix listed here;
/// it may import from its own layer and the layers below.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "primitives",
        &[
            "error", "encoding", "clock", "secret", "gate", "join", "crypto",
        ],
    ),
    ("model", &["model"]),
    (
        "store contract",
        &["store", "store/credentials", "store/tokens", "mail"],
    ),
    (
        "stores",
        &[
            "store/memory",
            "store/sqlite",
            "store/postgres",
            "store/fault",
            "store/conformance",
            "cache",
        ],
    ),
    ("runtime", &["risk", "config", "identity"]),
    (
        "services",
        &[
            "audit",
            "directory",
            "signin",
            "signing",
            "tokens",
            "sessions",
            "claims",
            "sso",
        ],
    ),
    ("protocol", &["protocol"]),
];

/// Crate-root re-exports (`pub use` in lib.rs) that code reaches through `crate::Name`.
const ROOT_ALIASES: &[(&str, &str)] = &[
    ("Error", "error"),
    ("ConfigError", "error"),
    ("FieldProblem", "error"),
    ("Resource", "error"),
    ("TokenProblem", "error"),
    ("page", "model/page"),
    ("List", "model/page"),
    ("PageRequest", "model/page"),
    ("Identity", "identity"),
    ("IdentityBuilder", "identity"),
    ("NoStore", "identity"),
    ("Lifetimes", "config"),
    ("TokenSettings", "config"),
    ("SigninSettings", "config"),
    ("MemoryStore", "store/memory"),
];

struct Source {
    /// `store/sqlite/rows`, `tokens` (for `tokens/mod.rs`), `` for `lib.rs`.
    module: String,
    path: String,
    text: String,
}

fn sources() -> Vec<Source> {
    let mut out = Vec::new();
    walk(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut out,
    );
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn walk(dir: &Path, out: &mut Vec<Source>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let full = path.to_string_lossy().replace('\\', "/");
            let rel = full.split("/src/").last().unwrap_or(&full).to_owned();
            let module = rel
                .trim_end_matches(".rs")
                .trim_end_matches("/mod")
                .trim_start_matches("lib")
                .to_owned();
            let text = fs::read_to_string(&path).expect("a source file is UTF-8");
            out.push(Source {
                module,
                path: format!("src/{rel}"),
                text,
            });
        }
    }
}

/// The code of a file without its comments (line comments, doc comments, block comments) and
/// without the contents of string literals, so that neither docs nor strings count as imports.
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'/', Some(b'/')) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            (b'r', Some(b'#')) if bytes.get(i + 2) == Some(&b'"') => {
                // A raw string r#"…"#.
                i += 3;
                while i + 1 < bytes.len() && !(bytes[i] == b'"' && bytes[i + 1] == b'#') {
                    i += 1;
                }
                i += 2;
                out.push_str("\"\"");
            }
            (b'\'', Some(b'\\')) => {
                // An escaped char literal such as '\'' or '\"'.
                i += 2;
                while i < bytes.len() && bytes[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            (b'"', _) => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("\"\"");
            }
            (b'\'', _) if bytes.get(i + 2) == Some(&b'\'') => {
                // A char literal such as '"' (lifetimes have no closing quote two bytes on).
                i += 3;
            }
            (b, _) => {
                out.push(char::from(b));
                i += 1;
            }
        }
    }
    out
}

/// Every `crate::a::b::{c, d::e}` path of the code, as lists of segments.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::` in macros, `idcore::crate_…` never occurs
        }
        let tree_end = use_tree_end(rest);
        expand(&rest[..tree_end], &[], &mut paths);
    }
    paths
}

/// Where the use tree or path starting at `s` ends.
fn use_tree_end(s: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            c if depth == 0 && !(c.is_alphanumeric() || c == '_' || c == ':') => return i,
            _ => {}
        }
    }
    s.len()
}

fn expand(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let mut base = prefix.to_vec();
        base.extend(segments(&tree[..open]));
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0usize;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    expand(&inner[start..i], &base, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], &base, out);
    } else {
        let mut path = prefix.to_vec();
        let first = tree.split_whitespace().next().unwrap_or("");
        path.extend(segments(first));
        if !path.is_empty() {
            out.push(path);
        }
    }
}

fn segments(s: &str) -> Vec<String> {
    s.split("::")
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "self")
        .map(str::to_owned)
        .collect()
}

/// The module a path names or lives in: the longest existing module prefix.
fn resolve(path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    if let Some(first) = path.first()
        && let Some((_, target)) = ROOT_ALIASES.iter().find(|(alias, _)| alias == first)
    {
        return Some((*target).to_owned());
    }
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("/"))
        .find(|candidate| modules.contains(candidate))
}

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    let mut best: Option<(usize, usize, &'static str)> = None;
    for (rank, (name, prefixes)) in LAYERS.iter().enumerate() {
        for prefix in *prefixes {
            let matches = module == *prefix || module.starts_with(&format!("{prefix}/"));
            if matches && best.is_none_or(|(len, _, _)| prefix.len() > len) {
                best = Some((prefix.len(), rank, name));
            }
        }
    }
    best.map(|(_, rank, name)| (rank, name))
}

/// module → the modules it imports, for every file but lib.rs.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let modules: BTreeSet<String> = sources.iter().map(|s| s.module.clone()).collect();
    let mut deps = BTreeMap::new();
    for source in sources.iter().filter(|s| !s.module.is_empty()) {
        let code = code_only(&source.text);
        let targets: BTreeSet<String> = crate_paths(&code)
            .iter()
            .filter_map(|p| resolve(p, &modules))
            .filter(|t| *t != source.module)
            .collect();
        deps.insert(source.module.clone(), targets);
    }
    deps
}

#[test]
fn no_file_under_src_passes_the_line_limit() {
    let long: Vec<String> = sources()
        .iter()
        .filter(|s| s.text.lines().count() > MAX_LINES)
        .map(|s| format!("{} ({} lines)", s.path, s.text.lines().count()))
        .collect();
    assert!(
        long.is_empty(),
        "files past {MAX_LINES} lines — split them by purpose: {long:?}"
    );
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<String> = dependencies()
        .into_keys()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules in no layer (add them to LAYERS in tests/layout.rs and to ARCHITECTURE.md): {unplaced:?}"
    );
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let mut upward = Vec::new();
    for (module, targets) in dependencies() {
        let Some((rank, name)) = layer_of(&module) else {
            continue;
        };
        for target in targets {
            if let Some((target_rank, target_name)) = layer_of(&target)
                && target_rank > rank
            {
                upward.push(format!("{module} ({name}) → {target} ({target_name})"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports running up the layers:\n{}",
        upward.join("\n")
    );
}

#[test]
fn top_level_modules_form_no_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let top = |m: &str| m.split('/').next().unwrap_or(m).to_owned();
    for (module, targets) in dependencies() {
        let from = top(&module);
        let entry = graph.entry(from.clone()).or_default();
        entry.extend(targets.iter().map(|t| top(t)).filter(|t| *t != from));
    }
    let cycle = find_cycle(&graph);
    assert!(
        cycle.is_none(),
        "a dependency cycle: {}",
        cycle.unwrap_or_default().join(" → ")
    );
}

#[test]
fn the_files_within_a_folder_form_no_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = dependencies();
    let cycle = find_cycle(&graph);
    assert!(
        cycle.is_none(),
        "a dependency cycle: {}",
        cycle.unwrap_or_default().join(" → ")
    );
}

/// A cycle of the graph, if it has one (depth-first search with colours).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Open);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn the_checker_sees_imports_and_ignores_comments_and_strings() {
    let code = code_only(
        "use crate::a::{b, c::{d, e as f}};\n/// [x](crate::z)\nlet s = \"crate::y\"; crate::g::h();",
    );
    let paths = crate_paths(&code);
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(joined, ["a::b", "a::c::d", "a::c::e", "g::h"]);
    assert_eq!(layer_of("store/sqlite/rows"), Some((3, "stores")));
    assert_eq!(layer_of("store/tokens"), Some((2, "store contract")));
    assert_eq!(layer_of("tokens/claims"), Some((5, "services")));
}
