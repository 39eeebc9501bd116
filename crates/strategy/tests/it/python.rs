//! The Python export's text: names Python accepts, literals that read back, determinism.
//! (Running the exports under backtesting.py is the backtest crate's `python_export` test.)

use strategy::{Strategy, python_class_name, to_python};

fn strategy(name: &str, extra: &str) -> Strategy {
    let text = format!(
        "name = \"{name}\"\ndescription = \"say \\\"hi\\\"\\nback\\\\slash\"\n{extra}[indicators]\nr = \"rsi(close, 14)\"\n[rules]\nentry_long = \"r < 30\"\n"
    );
    Strategy::from_toml("t.toml", &text).unwrap()
}

#[test]
fn class_names_are_python_identifiers_that_shadow_nothing() {
    for (name, class) in [
        ("MyBot", "MyBot"),
        ("my-bot", "my_bot"),
        ("2fast", "p_2fast"),
        ("None", "None_"),
        ("class", "class_"),
        ("np", "np_"),
        ("Strategy", "Strategy_"),
        ("__init__", "p___init__"),
    ] {
        let s = strategy(name, "");
        assert_eq!(python_class_name(&s), class, "{name}");
        assert!(to_python(&s).contains(&format!("\nclass {class}(Strategy):\n")));
    }
}

#[test]
fn params_become_class_attributes_renamed_only_when_they_must() {
    let s = strategy(
        "P",
        "[params]\nperiod = 14\nclass = 3\ndata = 2.5\nsize = 7\n",
    );
    let py = to_python(&s);
    for line in [
        "    period = 14.0\n",
        "    class_ = 3.0\n",
        "    data_ = 2.5\n",
        "    size = 7.0\n",
        // The risk size gives way to the param of that name.
        "    size_ = 1.0\n",
        "    stop_loss_pct = None\n",
    ] {
        assert!(py.contains(line), "missing {line:?} in\n{py}");
    }
}

#[test]
fn text_is_escaped_and_the_output_is_deterministic() {
    let s = strategy("Esc", "");
    let py = to_python(&s);
    assert!(
        py.contains(r#"DESCRIPTION = "say \"hi\"\nback\\slash""#),
        "{py}"
    );
    // Each description line is a comment, never code.
    assert!(py.contains("# say \"hi\"\n# back\\slash\n"));
    assert_eq!(py, to_python(&s.clone()));
    assert!(py.contains("r = rsi(close, 14)"));
    assert!(py.contains("self._entry_long = np.asarray((i_r < _full(30.0)), dtype=bool)"));
}

#[test]
fn periods_from_params_stay_tunable() {
    let s = strategy("Tune", "[params]\nn = 20\n");
    let text = s.to_toml().replace("rsi(close, 14)", "rsi(close, n)");
    let s = Strategy::from_toml("t.toml", &text).unwrap();
    let py = to_python(&s);
    assert!(py.contains("rsi(c, int(self.n))"), "{py}");
}
