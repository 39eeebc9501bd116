//! Bollinger bands said in words: "(more than) 2 standard deviations above the 20-day mean".

use strategy::{BinOp, Expr, ExprKind, Func};

use super::parser::{Parser, R, Term, bin, call, incomplete, name, num, side_op};

/// Why a deviation is refused when it is not measured from a simple average of the close.
const NOT_A_MEAN: &str =
    "standard deviations are measured from a simple average of the close: say \"the 20-day mean\"";

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
        let Some(up) = self.side() else {
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
            return incomplete(NOT_A_MEAN);
        };
        let [series, n] = args.as_slice() else {
            return incomplete(NOT_A_MEAN);
        };
        if *series != name("close") {
            return incomplete(NOT_A_MEAN);
        }
        self.mem.object = Some(mean.clone());
        let width = bin(
            BinOp::Mul,
            num(k),
            call(Func::Stddev, vec![name("close"), n.clone()], None),
        );
        let level = bin(if up { BinOp::Add } else { BinOp::Sub }, mean.expr, width);
        Ok(Some(bin(
            side_op(up, at_least),
            subject.expr.clone(),
            level,
        )))
    }
}
