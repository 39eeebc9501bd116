//! Atomic writes: no clobbering without --force, no half-written files, concurrent writers.

use generator::{GenerateError, offline::compile, save};

#[test]
fn a_strategy_is_written_once_and_replaced_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = "buy when rsi(14) < 30, sell when rsi > 70";
    let mut s = compile(d).unwrap();
    let path = save(&mut s, d, "RsiBot", dir.path(), false).unwrap();
    assert_eq!(path, dir.path().join("RsiBot.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(
        "name = \"RsiBot\"\ndescription = \"buy when rsi(14) < 30, sell when rsi > 70\"\n"
    ));
    let back = strategy::Strategy::from_toml("RsiBot.toml", &text).unwrap();
    assert_eq!(back, s);

    let err = save(&mut s, d, "RsiBot", dir.path(), false).unwrap_err();
    assert!(matches!(err, GenerateError::Exists { .. }), "{err}");
    assert!(err.to_string().contains("pass --force to replace it"));
    save(&mut s, d, "RsiBot", dir.path(), true).unwrap();
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["RsiBot.toml"]);
}

#[test]
fn names_that_could_escape_the_folder_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = "buy when rsi < 30";
    for bad in ["../evil", "a/b", "..", "x y", ""] {
        let mut s = compile(d).unwrap();
        let err = save(&mut s, d, bad, dir.path(), false).unwrap_err();
        assert!(matches!(err, GenerateError::BadName { .. }), "{bad}: {err}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn two_concurrent_writers_of_one_name_one_wins_and_the_file_is_whole() {
    for _ in 0..200 {
        let dir = tempfile::tempdir().unwrap();
        let texts = [
            "buy when rsi(14) < 30, sell when rsi > 70",
            "short when close breaks below the 55-bar low, cover when close breaks above the 20-bar high",
        ];
        let results: Vec<Result<std::path::PathBuf, GenerateError>> = std::thread::scope(|s| {
            let handles: Vec<_> = texts
                .iter()
                .map(|d| {
                    let dir = dir.path();
                    s.spawn(move || {
                        let mut st = compile(d).unwrap();
                        save(&mut st, d, "Same", dir, false)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(GenerateError::Exists { .. })))
        );
        let text = std::fs::read_to_string(dir.path().join("Same.toml")).unwrap();
        let s = strategy::Strategy::from_toml("Same.toml", &text).unwrap();
        assert!(
            texts.contains(&s.description.as_str()),
            "whole, and one of the two"
        );
    }
}
