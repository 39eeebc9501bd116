//! The language reference's vocabulary table, made from the language's own function table
//! (`strategy::Func`) and the words the offline compiler reads for each function, so the
//! document cannot drift from either (a test compares it with `docs/language.md`).

use std::fmt::Write as _;

use strategy::Func;

use super::derived::DERIVED;
use super::vocab::{CANDLES, indicator};

/// The table: one row per function, in the language's order.
pub(crate) fn vocabulary() -> String {
    let mut out = String::from(
        "| function | what it computes | outputs | the offline compiler reads |\n|---|---|---|---|\n",
    );
    for f in Func::ALL {
        let fields: Vec<String> = f
            .fields()
            .iter()
            .map(|x| format!("`.{}`", x.name()))
            .collect();
        let mut words: Vec<String> = match indicator(f) {
            Some(i) => i.phrases.iter().map(|(p, _)| (*p).to_owned()).collect(),
            None => CANDLES
                .iter()
                .filter(|c| c.func == f)
                .flat_map(|c| c.phrases.iter().map(|p| (*p).to_owned()))
                .collect(),
        };
        words.dedup();
        let words = if words.is_empty() {
            "—".to_owned()
        } else {
            words
                .iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {words} |",
            f.signature(),
            f.summary(),
            if fields.is_empty() {
                "—".to_owned()
            } else {
                fields.join(" ")
            }
        );
    }
    out.push_str(
        "\nIndicators without a function of their own, written out (the offline compiler's \
         rewrites, with their usual settings; the Gemini prompt is given the same):\n\n\
         | the offline compiler reads | it writes |\n|---|---|\n",
    );
    for d in DERIVED {
        let words: Vec<String> = d.phrases.iter().map(|p| format!("\"{p}\"")).collect();
        let _ = writeln!(
            out,
            "| {} | `{}` |",
            words.join(", "),
            (d.build)(d.defaults)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = "<!-- vocabulary: made from the function table by a test; BOTFORGE_BLESS=1 cargo test -p generator rewrites it -->\n";
    const END: &str = "<!-- end of vocabulary -->\n";

    /// `docs/language.md` holds exactly the table the code makes.
    #[test]
    fn the_language_reference_holds_the_vocabulary_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/language.md");
        let page = std::fs::read_to_string(&path).unwrap();
        let (Some(a), Some(b)) = (page.find(START), page.find(END)) else {
            panic!("{}: no vocabulary markers", path.display())
        };
        let table = vocabulary();
        let written = &page[a + START.len()..b];
        if written != table && std::env::var_os("BOTFORGE_BLESS").is_some() {
            let new = format!("{}{START}{table}{}", &page[..a], &page[b..]);
            std::fs::write(&path, new).unwrap();
            return;
        }
        assert_eq!(
            written, table,
            "docs/language.md drifted: run BOTFORGE_BLESS=1 cargo test -p generator"
        );
        for f in Func::ALL {
            assert!(table.contains(&format!("`{}`", f.signature())), "{f}");
        }
    }
}
