//! `--data` as several symbols (DESIGN.md §5.3): `NAME=path`, a plain path (named by its
//! file stem) or a glob (one symbol per file, in file-name order), checked before anything
//! is read.

use std::path::PathBuf;

use crate::exit::UsageError;

/// A named data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub path: PathBuf,
}

/// Whether `name` is a symbol name: letters, digits and `_ - . ^ /` (`BRK.B`, `^GSPC`,
/// `BTC/USDT`), starting with a letter, a digit or `^`.
fn is_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '^')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.^/".contains(c))
}

fn stem(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // `BTC.csv.gz` is BTC; `BRK.B.csv` is BRK.B.
    let mut s = name.as_str();
    for ext in [".gz", ".csv", ".txt", ".tsv", ".parquet"] {
        if let Some(rest) = s.strip_suffix(ext) {
            s = rest;
        }
    }
    s.to_owned()
}

/// The symbols `--data` names, in order.
///
/// # Errors
/// [`UsageError`] naming the `--data`: a glob that matches nothing or is not a pattern, a
/// name that is not one, two files with one name.
pub fn resolve(data: &[String]) -> Result<Vec<Spec>, UsageError> {
    let mut out: Vec<Spec> = Vec::new();
    for arg in data {
        let (name, target) = match arg.split_once('=') {
            Some((n, p)) if is_name(n) && !std::path::Path::new(arg).exists() => {
                (Some(n.to_owned()), p)
            }
            _ => (None, arg.as_str()),
        };
        if target.is_empty() {
            return Err(UsageError(format!(
                "--data {arg}: no file after the name; write NAME=path, e.g. SPY=spy.csv"
            )));
        }
        let glob = target.contains(['*', '?', '[']) && !std::path::Path::new(target).exists();
        let paths: Vec<PathBuf> = if glob {
            let found = glob::glob(target)
                .map_err(|e| UsageError(format!("--data {arg}: not a file pattern: {e}")))?;
            let mut paths: Vec<PathBuf> = found
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()).then_with(|| a.cmp(b)));
            if paths.is_empty() {
                return Err(UsageError(format!(
                    "--data {arg}: the pattern matches no file; check the folder and the pattern (quote it so the shell does not expand it)"
                )));
            }
            if name.is_some() && paths.len() > 1 {
                return Err(UsageError(format!(
                    "--data {arg}: a name names one file, and the pattern matches {}; drop the name (each file is named by its stem) or the pattern",
                    paths.len()
                )));
            }
            paths
        } else {
            vec![PathBuf::from(target)]
        };
        for path in paths {
            let name = name.clone().unwrap_or_else(|| stem(&path));
            if !is_name(&name) {
                return Err(UsageError(format!(
                    "--data {arg}: `{name}` is not a symbol name (letters, digits, _ - . ^ /); name it: --data NAME={}",
                    path.display()
                )));
            }
            if let Some(first) = out.iter().find(|s| s.name == name) {
                return Err(UsageError(format!(
                    "--data {arg}: two files are named {name} ({} and {}); name one: --data OTHER={}",
                    first.path.display(),
                    path.display(),
                    path.display()
                )));
            }
            out.push(Spec { name, path });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["MSFT.csv", "AAPL.csv", "BRK.B.csv.gz", "notes.md"] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let d = dir.path().display().to_string();
        let got = resolve(&[format!("{d}/*.csv*"), format!("SPY={d}/notes.md")]).unwrap();
        let names: Vec<&str> = got.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["AAPL", "BRK.B", "MSFT", "SPY"]);
        assert_eq!(got[3].path, dir.path().join("notes.md"));
        let one = resolve(&[format!("{d}/AAPL.csv")]).unwrap();
        assert_eq!(one[0].name, "AAPL");

        let e = resolve(&[format!("{d}/*.parquet")]).unwrap_err().0;
        assert!(
            e.contains("matches no file") && e.contains("*.parquet"),
            "{e}"
        );
        let e = resolve(&[format!("{d}/AAPL.csv"), format!("AAPL={d}/MSFT.csv")])
            .unwrap_err()
            .0;
        assert!(e.contains("two files are named AAPL"), "{e}");
        let e = resolve(&[format!("X={d}/*.csv")]).unwrap_err().0;
        assert!(e.contains("matches 2"), "{e}");
        let e = resolve(&["SPY=".to_owned()]).unwrap_err().0;
        assert!(e.contains("no file after the name"), "{e}");
    }
}
