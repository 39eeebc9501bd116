//! Issue 32: the house stays in order. No circle of files importing each other in any crate
//! (an import is a `crate::…` or `super::…` path outside comments; a module's file is
//! `a/b.rs` or `a/b/mod.rs`), and no source file over 1,000 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

/// `a::b` for `src/a/b.rs` and `src/a/b/mod.rs`; `""` for `lib.rs` / `main.rs`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// Every `crate::x::y` / `super::x` path in `text` (comments and the unit tests left out),
/// resolved against `module` to the longest known module.
fn imports(module: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let here: Vec<&str> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").collect()
    };
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let mut base: Vec<&str> = if segs.first() == Some(&"crate") {
                segs.remove(0);
                Vec::new()
            } else {
                here[..here.len().saturating_sub(1)].to_vec()
            };
            while segs.first() == Some(&"super") {
                segs.remove(0);
                if segs.first() == Some(&"super") {
                    base.pop();
                }
            }
            base.extend(segs);
            for k in (1..=base.len()).rev() {
                let candidate = base[..k].join("::");
                if known.contains(&candidate) {
                    if candidate != module {
                        out.insert(candidate);
                    }
                    break;
                }
            }
        }
    }
    out
}

/// A circle in `graph`, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == node) {
            return Some(stack[i..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_circle_of_files_importing_each_other_and_no_file_over_1000_lines() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let modules: BTreeMap<String, String> = files
            .iter()
            .map(|f| (module_of(&src, f), std::fs::read_to_string(f).unwrap()))
            .collect();
        let known: BTreeSet<String> = modules.keys().cloned().collect();
        let graph: BTreeMap<String, BTreeSet<String>> = modules
            .iter()
            .map(|(m, text)| (m.clone(), imports(m, text, &known)))
            .collect();
        assert_eq!(
            circle(&graph),
            None,
            "{}: files import each other",
            src.display()
        );
        for f in &files {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            assert!(
                lines <= 1000,
                "{}: {lines} lines (at most 1,000)",
                f.display()
            );
        }
        checked += files.len();
    }
    assert!(checked > 100, "only {checked} files were read");
}

/// The check itself finds a circle.
#[test]
fn a_circle_is_found() {
    let known: BTreeSet<String> = ["a", "b", "c"].map(str::to_owned).into();
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", "use crate::b::X;"),
        ("b", "fn f() { super::c::g() }"),
        ("c", "// crate::a is only a comment\nuse crate::a::Y;"),
    ]
    .iter()
    .map(|(m, t)| ((*m).to_owned(), imports(m, t, &known)))
    .collect();
    assert!(circle(&graph).is_some());
    let mut acyclic = graph.clone();
    acyclic.insert("c".to_owned(), imports("c", "// crate::a::Y", &known));
    assert_eq!(circle(&acyclic), None);
}
