//! Bollinger bands said in words: "(more than) 2 standard deviations above the 20-day mean".

use strategy::{BinOp, Expr, ExprKind, Func};

use super::parser::{Parser, R, Term, bin, call, incomplete, name, num};

impl Parser<'_> {
    /// "(more than) 2 standard deviations above the 20-day mean": the subject against an
    /// N-bar simple average plus or minus k of the same N bars' standard deviations (a
    /// Bollinger band said in words). `None` (position unchanged) when these words are not
    /// here; refused when the average is not a simple one of the close.
    pub(super) fn deviations_from(&mut self, subject: &Term, at_least: bool) -> R<Option<Expr>> {
        let save = self.at;
        let Some(k) = self.number() else {
            return Ok(None);
        };
        if !(self.eat_phrase("standard deviations")
            || self.eat_phrase("standard deviation")
            || self
                .eat_any(&["stdevs", "stdev", "sigmas", "sigma", "sd"])
                .is_some())
        {
            self.at = save;
            return Ok(None);
        }
        let up = if self.eat("above") || self.eat("over") {
            true
        } else if self.eat("below") || self.eat("under") {
            false
        } else {
            self.at = save;
            return Ok(None);
        };
        let Some(mean) = self.term()? else {
            return incomplete(format!(
                "{k} standard deviations {} what? e.g. \"the 20-day mean\"",
                if up { "above" } else { "below" }
            ));
        };
        let ExprKind::Call {
            func: Func::Sma,
            args,
            field: None,
        } = &mean.expr.kind
        else {
            return incomplete(
                "standard deviations are measured from a simple average of the close: say \"the 20-day mean\"",
            );
        };
        if args.len() != 2 || args[0] != name("close") {
            return incomplete(
                "standard deviations are measured from a simple average of the close: say \"the 20-day mean\"",
            );
        }
        self.mem.object = Some(mean.clone());
        let width = bin(
            BinOp::Mul,
            num(k),
            call(Func::Stddev, vec![name("close"), args[1].clone()], None),
        );
        let (level, op) = match (up, at_least) {
            (true, true) => (bin(BinOp::Add, mean.expr.clone(), width), BinOp::Ge),
            (true, false) => (bin(BinOp::Add, mean.expr.clone(), width), BinOp::Gt),
            (false, true) => (bin(BinOp::Sub, mean.expr.clone(), width), BinOp::Le),
            (false, false) => (bin(BinOp::Sub, mean.expr.clone(), width), BinOp::Lt),
        };
        Ok(Some(bin(op, subject.expr.clone(), level)))
    }
}
