//! Names and atomic writes of strategy files.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::GenerateError;

/// A file name from a description: its first words in CamelCase, letters and digits only.
pub fn name_from_description(description: &str) -> String {
    let mut name = String::new();
    for word in description
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(6)
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.extend(chars.flat_map(char::to_lowercase));
        }
        if name.len() >= 40 {
            break;
        }
    }
    name.truncate(40);
    if name.is_empty() {
        "Strategy".to_owned()
    } else {
        name
    }
}

/// Refuses names that could leave the strategy folder or make an odd file.
///
/// # Errors
/// [`GenerateError::BadName`].
pub fn check_name(name: &str) -> Result<(), GenerateError> {
    strategy::valid_strategy_name(name).map_err(|reason| GenerateError::BadName {
        name: name.to_owned(),
        reason,
    })
}

/// Writes `text` to `dir/NAME.toml` atomically: a temporary file in the same folder, then a
/// hard link (which fails if the file exists, so two writers never clobber each other) or, with
/// `force`, a rename over the old file. A reader sees the old file or the new one, never half.
///
/// # Errors
/// [`GenerateError::Exists`] without `force`; [`GenerateError::Io`] naming the path.
pub fn write_atomic(
    dir: &Path,
    name: &str,
    ext: &str,
    text: &str,
    force: bool,
) -> Result<PathBuf, GenerateError> {
    check_name(name)?;
    write_file_atomic(&dir.join(format!("{name}.{ext}")), text, force)
}

/// Makes temporary names unique per call: two threads of one process can read the same clock
/// value, and a shared name would let one writer's cleanup remove the other's file.
static TMP_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Writes `text` to `dest` atomically, as [`write_atomic`] does (a temporary file in the same
/// folder, then a hard link, or with `force` a rename).
///
/// # Errors
/// [`GenerateError::Exists`] without `force`; [`GenerateError::Io`] naming the path.
pub fn write_file_atomic(dest: &Path, text: &str, force: bool) -> Result<PathBuf, GenerateError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| GenerateError::Io { path, source }
    };
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let file = dest
        .file_name()
        .map_or_else(|| "out".into(), |f| f.to_string_lossy().into_owned());
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let dest = dest.to_owned();
    let tmp = dir.join(format!(
        ".{file}.tmp-{}-{:x}-{}",
        std::process::id(),
        std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos()),
        TMP_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(text.as_bytes()).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        if force {
            std::fs::rename(&tmp, &dest).map_err(io(&dest))
        } else {
            match std::fs::hard_link(&tmp, &dest) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    Err(GenerateError::Exists { path: dest.clone() })
                }
                Err(e) => Err(GenerateError::Io {
                    path: dest.clone(),
                    source: e,
                }),
            }
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result.map(|()| dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_first_words() {
        assert_eq!(
            name_from_description("buy when RSI(14) < 30, sell when RSI > 70"),
            "BuyWhenRsi1430Sell"
        );
        assert_eq!(name_from_description("  ... "), "Strategy");
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["../x", "a/b", "..", "a b", "", "x.toml", "naïve"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name("My_Bot-2").is_ok());
    }
}
