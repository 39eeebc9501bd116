//! Issue 32: the house stays in order. No circle of files importing each other in any crate
//! (an import is a `crate::…` or `super::…` path outside comments; a module's file is
//! `a/b.rs` or `a/b/mod.rs`), no source file over 1,000 lines, a README a newcomer reads in
//! five minutes, and every relative link of README and docs/ pointing at a file that exists.

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

/// The pages of `docs/` in name order (its Markdown files; the images beside them are link
/// targets).
fn doc_pages() -> Vec<PathBuf> {
    let mut pages: Vec<_> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    pages
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// README.md, then every page of docs/ (in name order), as text.
pub(crate) fn documents() -> Vec<String> {
    std::iter::once(repo().join("README.md"))
        .chain(doc_pages())
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[test]
fn the_readme_is_short_and_every_relative_link_resolves() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 250, "README.md has {lines} lines (at most 250)");
    let mut pages = vec![repo().join("README.md")];
    pages.extend(doc_pages());
    assert!(pages.len() >= 8, "{pages:?}");
    let mut checked_links = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let dir = page.parent().unwrap();
        for (i, _) in text.match_indices("](") {
            let target: String = text[i + 2..].chars().take_while(|c| *c != ')').collect();
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let file = target.split('#').next().unwrap_or_default();
            assert!(
                dir.join(file).exists(),
                "{}: the link to {target} leads nowhere",
                page.display()
            );
            checked_links += 1;
        }
    }
    assert!(
        checked_links >= 10,
        "only {checked_links} relative links were checked"
    );
}

/// Every line a document shows of a command's output (blank lines and `...` aside) is a line
/// of what it printed.
fn prints_what_is_shown(printed: &str, shown: &[String], what: &str) {
    let printed: Vec<&str> = printed.lines().map(str::trim_end).collect();
    for want in shown
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty() && *l != "...")
    {
        assert!(
            printed.contains(&want),
            "{what}: the document shows {want:?}; it printed:\n{}",
            printed.join("\n")
        );
    }
}

/// The words of a shell command line, quotes respected.
fn shell_words(line: &str) -> Vec<String> {
    shlex::split(line).unwrap_or_else(|| panic!("unbalanced quotes in {line:?}"))
}

/// The README's commands that run offline (the main command and the trader's tour) are run in
/// one folder, in order, and every line the README shows of their output is in what they print.
#[test]
fn the_readmes_offline_commands_print_what_it_shows() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut runs: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    let mut lines = readme.lines().peekable();
    while let Some(line) = lines.next() {
        // The main command: `cargo run … -- generate …`, its output in the next plain block.
        if let Some(cmd) = line.strip_prefix("cargo run -q -p botforge -- ") {
            let args = shell_words(cmd);
            // Past the end of this block, then to the start of the next.
            for l in lines.by_ref() {
                if l == "```" {
                    break;
                }
            }
            for l in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
            }
            let shown: Vec<String> = lines
                .by_ref()
                .take_while(|l| *l != "```")
                .map(str::to_owned)
                .collect();
            runs.push((args, shown));
            continue;
        }
        let Some(cmd) = line.strip_prefix("$ botforge ") else {
            continue;
        };
        let cmd = cmd.split(" | ").next().unwrap_or_default();
        let args = shell_words(cmd);
        if !matches!(args[0].as_str(), "generate" | "backtest" | "export" | "run") {
            continue;
        }
        let mut shown = Vec::new();
        while let Some(next) = lines.peek() {
            if next.starts_with("$ ") || next.starts_with("```") {
                break;
            }
            shown.push((*next).to_owned());
            lines.next();
        }
        runs.push((args, shown));
    }
    assert!(runs.len() >= 4, "{runs:?}");
    for (args, shown) in runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = crate::botforge(dir.path(), &args, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            crate::text(&out.stderr)
        );
        let printed = format!("{}\n{}", crate::text(&out.stderr), crate::text(&out.stdout));
        prints_what_is_shown(&printed, &shown, &format!("{args:?} (README)"));
    }
}

/// What a console block of docs/ does that this test can do offline: write a file shown with
/// `$ cat FILE`, or run a `botforge` command that needs no key or server (through `bash`, so
/// its pipe to grep, sed or head runs too; `python` is the CI venv's, when there is one).
enum Step {
    Write(String, String),
    Run(String, Vec<String>),
}

fn offline_steps(page: &str) -> Vec<Step> {
    const OFFLINE: [&str; 7] = [
        "botforge run ",
        "botforge generate ",
        "botforge backtest ",
        "botforge eval ",
        "botforge export ",
        "botforge data check ",
        "python ",
    ];
    let mut steps = Vec::new();
    let mut in_console = false;
    let mut lines = page.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with("```") {
            in_console = line == "```console";
            continue;
        }
        let Some(cmd) = line.strip_prefix("$ ").filter(|_| in_console) else {
            continue;
        };
        let mut shown = Vec::new();
        while let Some(next) = lines.peek() {
            if next.starts_with("$ ") || next.starts_with("```") {
                break;
            }
            shown.push((*next).to_owned());
            lines.next();
        }
        if let Some(file) = cmd.strip_prefix("cat ") {
            steps.push(Step::Write(file.trim().to_owned(), shown.join("\n") + "\n"));
        } else if OFFLINE.iter().any(|p| cmd.starts_with(p))
            && !cmd.contains("| jq")
            && !cmd.contains("--endpoint")
            && !cmd.contains("--symbol")
        {
            steps.push(Step::Run(cmd.to_owned(), shown));
        }
    }
    steps
}

/// Every command of docs/ that runs offline runs, in its page's order, in a folder holding the
/// bundled sample data and the files the page writes out, and prints every line the page shows
/// of its output. (A command on a file the page does not give, say a `MetaTrader` export of the
/// reader's own, is left out: it cannot run here.)
#[test]
fn the_docs_offline_commands_print_what_they_show() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_botforge"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let python = std::env::var("BOTFORGE_PYTHON").ok();
    let mut ran = 0;
    for page in doc_pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for sample in ["GOOG.csv", "EURUSD.csv", "BTCUSD.csv"] {
            std::fs::copy(
                repo().join("crates/backtest/data").join(sample),
                dir.path().join(sample),
            )
            .unwrap();
        }
        for step in offline_steps(&text) {
            let (cmd, shown) = match step {
                Step::Write(file, body) => {
                    std::fs::write(dir.path().join(file), body).unwrap();
                    continue;
                }
                Step::Run(cmd, shown) => (cmd, shown),
            };
            let words = shell_words(cmd.split(" | ").next().unwrap_or_default());
            let inputs_here = words
                .iter()
                .filter(|w| {
                    [".csv", ".parquet", ".toml", ".py"]
                        .iter()
                        .any(|x| w.ends_with(x))
                })
                .filter(|w| !w.starts_with("--"))
                .all(|w| dir.path().join(w).exists());
            let cmd = match (cmd.strip_prefix("python "), &python) {
                (Some(rest), Some(py)) => format!("{py} {rest}"),
                (Some(_), None) => continue,
                (None, _) => cmd,
            };
            if !inputs_here {
                continue;
            }
            let out = std::process::Command::new("bash")
                .args(["-o", "pipefail", "-c", &cmd])
                .current_dir(dir.path())
                .env("PATH", &path)
                .env_remove("GEMINI_API_KEY")
                .env_remove("ENABLE_KEY_ROTATION")
                .output()
                .unwrap();
            // stderr may end mid-line (a progress bar), so stdout starts a line of its own.
            let printed = format!("{}\n{}", crate::text(&out.stderr), crate::text(&out.stdout));
            assert!(out.status.success(), "{}: {cmd}\n{printed}", page.display());
            prints_what_is_shown(&printed, &shown, &format!("{}: {cmd}", page.display()));
            ran += 1;
        }
    }
    assert!(ran >= 6, "only {ran} commands of docs/ ran");
}
