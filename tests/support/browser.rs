//! Pages in a real browser (the report, the dashboard): Debian's Chromium (installed by
//! `.ci/run`) driven by Playwright from the CI venv (`tests/python/browser.py`, which documents
//! the plan's steps). Shared by the integration tests of `botforge` and `server`.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// Chromium and the venv's Python; `None` outside CI when either is missing (in CI: a failure).
pub struct Browser {
    python: OsString,
    chromium: PathBuf,
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

pub fn browser() -> Option<Browser> {
    let chromium = on_path(&["chromium", "chromium-browser", "google-chrome"]);
    let python = std::env::var_os("BOTFORGE_PYTHON");
    if chromium.is_none() || python.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium or BOTFORGE_PYTHON missing: .ci/run installs Debian's chromium and the venv"
        );
        return None;
    }
    Some(Browser {
        python: python?,
        chromium: chromium?,
    })
}

/// Where tests leave their screenshots (`target/tmp`).
pub fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

impl Browser {
    /// Loads `url` at `viewport`, runs `steps`, and returns what the page did and gave.
    pub fn run(&self, url: &str, viewport: (u32, u32), steps: &Value) -> Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/python/browser.py");
        let plan = json!({
            "url": url,
            "chromium": self.chromium,
            "viewport": [viewport.0, viewport.1],
            "steps": steps,
        });
        let mut child = Command::new(&self.python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(plan.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "browser.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// The page loaded without an error or warning on the console, an exception or a dialog, and
/// asked for nothing outside `base` (the page's own file, or its own server).
pub fn assert_clean(seen: &Value, base: &str) {
    for key in ["console", "errors", "dialogs"] {
        assert_eq!(seen[key], json!([]), "{key}: {seen}");
    }
    let requests = seen["requests"].as_array().unwrap();
    assert!(!requests.is_empty());
    for r in requests {
        assert!(
            r.as_str().unwrap().starts_with(base),
            "a request beyond {base}: {r}"
        );
    }
}
