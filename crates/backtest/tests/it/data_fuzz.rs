//! Issue 19: the data reader never panics. Random CSV-shaped text — headers in any order with
//! aliases and brackets, any of the three delimiters, times in every layout and broken ones,
//! numbers, decimal commas, junk, missing and extra fields — and random bytes either read or give
//! an error that names the file and a line; a read file always has bars in time order with high
//! at least low. A bounded, seeded run (proptest) in CI.

use backtest::{LoadOptions, parse_with};
use proptest::prelude::*;

fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        (0.0f64..1000.0).prop_map(|v| format!("{v}")),
        (0u32..100_000).prop_map(|v| v.to_string()),
        Just(String::new()),
        Just("1,5".to_owned()),
        Just("nan".to_owned()),
        Just("-inf".to_owned()),
        Just("\"quoted, text\"".to_owned()),
        "[a-zA-Z<>:./ -]{0,12}",
    ]
}

fn time() -> impl Strategy<Value = String> {
    prop_oneof![
        (2000u32..2030, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        (2000u32..2030, 1u32..13, 1u32..32, 0u32..25)
            .prop_map(|(y, m, d, h)| format!("{y}-{m:02}-{d:02} {h:02}:00:00")),
        (1u32..13, 1u32..32, 2000u32..2030).prop_map(|(m, d, y)| format!("{m:02}/{d:02}/{y}")),
        (1u32..32, 1u32..13, 2000u32..2030).prop_map(|(d, m, y)| format!("{d:02}.{m:02}.{y}")),
        (0i64..2_000_000_000_000).prop_map(|v| v.to_string()),
        (2000u32..2030, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y}{m:02}{d:02}")),
        Just("2024-01-01T00:00:00+14:00".to_owned()),
        Just("2024-13-45".to_owned()),
        "[0-9:./TZ+ -]{0,20}",
    ]
}

fn header() -> impl Strategy<Value = Vec<String>> {
    let names = prop::sample::select(vec![
        "Date",
        "time",
        "<DATE>",
        "<TIME>",
        "open_time",
        "Open",
        "o",
        "<OPEN>",
        "High",
        "h",
        "Low",
        "l",
        "Close",
        "c",
        "Adj Close",
        "Volume",
        "vol",
        "<TICKVOL>",
        "extra",
        "",
    ]);
    prop::collection::vec(names.prop_map(str::to_owned), 0..9)
}

fn csv_text() -> impl Strategy<Value = String> {
    (
        header(),
        prop::sample::select(vec![",", ";", "\t"]),
        prop::collection::vec((time(), prop::collection::vec(cell(), 0..8)), 0..12),
        any::<bool>(),
    )
        .prop_map(|(head, d, rows, canonical)| {
            let head = if canonical {
                vec!["Date", "Open", "High", "Low", "Close", "Volume"]
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            } else {
                head
            };
            let mut text = head.join(d);
            text.push('\n');
            for (t, cells) in rows {
                text.push_str(&t);
                for c in cells {
                    text.push_str(d);
                    text.push_str(&c);
                }
                text.push('\n');
            }
            text
        })
}

fn check(text: &str, opts: &LoadOptions) {
    match parse_with("f.csv", text, opts) {
        Ok((bars, _)) => {
            assert!(!bars.is_empty());
            for i in 0..bars.len() {
                assert!(bars.high[i] >= bars.low[i], "{text}");
                if i > 0 {
                    assert!(bars.epoch_ms[i] > bars.epoch_ms[i - 1], "{text}");
                }
            }
        }
        Err(e) => {
            let m = e.to_string();
            assert!(m.starts_with("f.csv:"), "{m}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..ProptestConfig::default()
    })]

    #[test]
    fn csv_shaped_text_reads_or_names_a_line(text in csv_text(), date_format in prop::option::of(prop::sample::select(vec!["%d/%m/%Y", "%Y-%m-%d %H:%M", "%s"])), adjusted in any::<bool>()) {
        let opts = LoadOptions { date_format: date_format.map(str::to_owned), adjusted };
        check(&text, &opts);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        check(&text, &LoadOptions::default());
    }
}
