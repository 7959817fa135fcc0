//! The crate's layers, checked from its source as written.
//!
//! Each top-level folder of `src/` is a layer, bottom up: `model` (rules,
//! no database), `store` (storage), `posting` (the engine), `ops`
//! (operations), `seal`, `verify`; `lib.rs` is the crate's public face
//! above them all. A file may name a file of its own layer or a lower one,
//! never a higher one, and no files may name each other in a circle.
//!
//! What counts as naming a file: every path in a `use` declaration
//! (braces expanded) and every `crate::`/`super::`/`self::` path in code,
//! resolved to the deepest module it names — `crate::store::ledger::Ledger`
//! names `store/ledger.rs`, whatever that file re-exports, and a path that
//! stops at a folder (`crate::store::Ledger`) names its `mod.rs`. `mod x;`
//! declares a file, it does not use it. Test code (`#[cfg(test)]` to the end
//! of a file, and `tests.rs` files) may use anything and is not read.

// Test code: a failed assumption is the test failing.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: [&str; 6] = ["model", "store", "posting", "operations", "seal", "verify"];

/// A module path (`["store", "ledger"]`) and the file that holds it.
type Modules = BTreeMap<Vec<String>, PathBuf>;

fn modules(src: &Path) -> Modules {
    let mut out = Modules::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let mut segs: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            let file = segs.pop().unwrap();
            match file.as_str() {
                "lib.rs" | "mod.rs" => {}
                "tests.rs" => continue,
                f if f.ends_with(".rs") => segs.push(f.trim_end_matches(".rs").to_owned()),
                _ => continue,
            }
            out.insert(segs, path);
        }
    }
    out
}

/// The code of a file without its test part.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect();
    let Some(open) = tree.find('{') else { return vec![tree] };
    let (prefix, rest) = (&tree[..open], &tree[open + 1..tree.len() - 1]);
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&rest[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&rest[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// Every path the file writes: `use` trees and `crate::`/`super::`/`self::` in code.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(end) = rest.find(';') {
            out.extend(
                expand(&rest[..end])
                    .into_iter()
                    .map(|p| p.split(" as ").next().unwrap_or("").to_owned()),
            );
        }
    }
    for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
        // `crate::{…}` continues in braces: the `use` reading above has it.
        if ["crate::", "super::", "self::"].iter().any(|p| word.starts_with(p)) && !word.ends_with("::") {
            out.push(word.to_owned());
        }
    }
    out
}

/// The file a path written in module `here` names, if it is one of ours.
fn target(modules: &Modules, here: &[String], path: &str) -> Option<PathBuf> {
    let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let (mut module, rest): (Vec<String>, &[&str]) = match segs.first()? {
        &"crate" => (vec![], &segs[1..]),
        &"self" => (here.to_vec(), &segs[1..]),
        &"super" => {
            let mut m = here.to_vec();
            let mut rest = &segs[..];
            // `super` of module a::b (`a/b.rs`, or `a/b/mod.rs`) is `a`.
            while rest.first() == Some(&"super") {
                m.pop();
                rest = &rest[1..];
            }
            (m, rest)
        }
        first => {
            let mut child = here.to_vec();
            child.push((*first).to_owned());
            modules.contains_key(&child).then_some(())?;
            (here.to_vec(), &segs[..])
        }
    };
    for seg in rest {
        module.push((*seg).to_owned());
        if !modules.contains_key(&module) {
            module.pop();
            break;
        }
    }
    modules.get(&module).cloned()
}

fn layer(src: &Path, file: &Path) -> usize {
    let top = file.strip_prefix(src).unwrap().iter().next().unwrap().to_string_lossy();
    LAYERS.iter().position(|l| *l == top).unwrap_or(LAYERS.len())
}

#[test]
fn no_file_names_a_higher_layer_and_no_files_name_each_other_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    let mut written: BTreeMap<(PathBuf, PathBuf), String> = BTreeMap::new();
    let mut upward = Vec::new();
    for (module, file) in &modules {
        for path in paths(&code(file)) {
            let Some(to) = target(&modules, module, &path) else {
                continue;
            };
            if to == *file {
                continue;
            }
            if layer(&src, &to) > layer(&src, file) {
                upward.push(format!("{} -> {} ({path})", file.display(), to.display()));
            }
            written.entry((file.clone(), to.clone())).or_insert(path);
            edges.entry(file.clone()).or_default().insert(to);
        }
    }
    assert!(upward.is_empty(), "imports up a layer:\n{}", upward.join("\n"));
    let circles: Vec<String> = circles(&edges)
        .iter()
        .map(|group| {
            let inside = |(from, to): &&(PathBuf, PathBuf)| group.contains(from) && group.contains(to);
            let names = |p: &Path| p.strip_prefix(&src).unwrap_or(p).display().to_string();
            written
                .iter()
                .filter(|(k, _)| inside(k))
                .map(|((from, to), path)| format!("  {} -> {} ({path})", names(from), names(to)))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    assert!(
        circles.is_empty(),
        "files naming each other in a circle:\n{}",
        circles.join("\n\n")
    );
    // The check must see the crate: every layer has files and edges.
    assert!(edges.len() > 30, "only {} files with imports were read", edges.len());
}

/// Strongly connected groups of more than one file (Tarjan, iterative).
fn circles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    let nodes: Vec<&PathBuf> = edges
        .keys()
        .chain(edges.values().flatten())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index_of: BTreeMap<&PathBuf, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let succ: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            edges
                .get(*n)
                .map(|s| s.iter().map(|t| index_of[t]).collect())
                .unwrap_or_default()
        })
        .collect();
    let (mut index, mut low, mut on) = (
        vec![usize::MAX; nodes.len()],
        vec![0; nodes.len()],
        vec![false; nodes.len()],
    );
    let (mut stack, mut next, mut out) = (Vec::new(), 0, Vec::new());
    for root in 0..nodes.len() {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        while let Some((v, i)) = work.pop() {
            if i == 0 {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on[v] = true;
            }
            if let Some(&w) = succ[v].get(i) {
                work.push((v, i + 1));
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut group = Vec::new();
                while let Some(w) = stack.pop() {
                    on[w] = false;
                    group.push(nodes[w].clone());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    out.push(group);
                }
            }
        }
    }
    out
}
