//! What the strategy file's reading shares (below `file.rs` and `sections.rs`, which both use
//! it): the error that names the file, line and field, the text being read, and the rules.

use std::fmt;

use crate::expr::Expr;

/// A strategy file problem: the file, the line, the field, and for expressions the text and the
/// position in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct StrategyError {
    /// The file (or another origin, e.g. `generated`).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// The field, e.g. `rules.entry_long`.
    pub field: String,
    /// The expression, when the problem is inside one.
    pub expression: Option<String>,
    /// 0-based character offset in the expression.
    pub pos: Option<usize>,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for StrategyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)?;
        if let (Some(e), Some(pos)) = (&self.expression, self.pos) {
            write!(f, "\n    {e}\n    {}^", " ".repeat(pos))?;
        }
        Ok(())
    }
}

/// The four rules; each is a condition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rules {
    /// Open a long (closing a short first).
    pub entry_long: Option<Expr>,
    /// Close a long.
    pub exit_long: Option<Expr>,
    /// Open a short (closing a long first).
    pub entry_short: Option<Expr>,
    /// Close a short.
    pub exit_short: Option<Expr>,
}

impl Rules {
    /// `(field name, rule)` for each rule that is set, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Expr)> {
        [
            ("entry_long", &self.entry_long),
            ("exit_long", &self.exit_long),
            ("entry_short", &self.entry_short),
            ("exit_short", &self.exit_short),
        ]
        .into_iter()
        .filter_map(|(n, e)| e.as_ref().map(|e| (n, e)))
    }
}

/// The file being read: its name for errors and its text for line numbers.
pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, byte: usize) -> usize {
        self.text
            .get(..byte.min(self.text.len()))
            .map_or(0, |t| t.matches('\n').count() + 1)
    }

    pub(crate) fn error(&self, byte: usize, field: &str, message: String) -> StrategyError {
        StrategyError {
            file: self.file.to_owned(),
            line: self.line(byte),
            field: field.to_owned(),
            expression: None,
            pos: None,
            message,
        }
    }
}
