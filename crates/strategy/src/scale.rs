//! Which series are on the price's scale (a moving average, a band, a stop level) and which have
//! their own (an oscillator, a volume, a ratio): the report draws the first over the price chart
//! and gives each of the others a panel of its own.

use crate::expr::{BinOp, Expr, ExprKind};
use crate::func::{Field, Func};

/// The scale of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// In price units: drawn over the price chart.
    Price,
    /// Its own units: drawn in a panel.
    Own,
    /// A plain number (no series): takes the scale of what it is combined with.
    Number,
}

/// The scale of `e`; `indicators` resolves names.
pub fn scale(e: &Expr, indicators: &[(String, Expr)]) -> Scale {
    scale_at(e, indicators, 0)
}

fn scale_at(e: &Expr, indicators: &[(String, Expr)], depth: usize) -> Scale {
    if depth > 32 {
        return Scale::Own;
    }
    let of = |x: &Expr| scale_at(x, indicators, depth + 1);
    match &e.kind {
        ExprKind::Num(_) => Scale::Number,
        ExprKind::Name(n) => match n.as_str() {
            "open" | "high" | "low" | "close" | "entry_price" => Scale::Price,
            other => indicators
                .iter()
                .find(|(name, _)| name == other)
                .map_or(Scale::Own, |(_, d)| of(d)),
        },
        ExprKind::Neg(x) | ExprKind::Back(x, _) | ExprKind::Tf(_, x) | ExprKind::AtEntry(x) => {
            of(x)
        }
        // Another symbol's values are not on this symbol's price scale.
        ExprKind::Not(_) | ExprKind::On(..) => Scale::Own,
        ExprKind::Binary(op, l, r) => match (op, of(l), of(r)) {
            (BinOp::Add | BinOp::Sub, Scale::Price, Scale::Price) => Scale::Own,
            (BinOp::Add | BinOp::Sub, Scale::Price, _) | (BinOp::Add, _, Scale::Price) => {
                Scale::Price
            }
            (BinOp::Mul, Scale::Number, Scale::Price)
            | (BinOp::Mul | BinOp::Div, Scale::Price, Scale::Number) => Scale::Price,
            (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div, Scale::Number, Scale::Number) => {
                Scale::Number
            }
            _ => Scale::Own,
        },
        ExprKind::Call { func, args, field } => match func {
            Func::Sma
            | Func::Ema
            | Func::Wma
            | Func::Highest
            | Func::Lowest
            | Func::Linearreg
            | Func::Bbands
            | Func::Abs => args.first().map_or(Scale::Own, of),
            Func::Min | Func::Max => match (args.first().map(of), args.get(1).map(of)) {
                (Some(Scale::Price), _) | (_, Some(Scale::Price)) => Scale::Price,
                _ => Scale::Own,
            },
            Func::If => match (args.get(1).map(of), args.get(2).map(of)) {
                (Some(Scale::Price), _) | (_, Some(Scale::Price)) => Scale::Price,
                _ => Scale::Own,
            },
            Func::ValueWhen => args.get(1).map_or(Scale::Own, of),
            Func::Sar | Func::Vwap => Scale::Price,
            Func::Supertrend if *field == Some(Field::Line) => Scale::Price,
            _ => Scale::Own,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse;

    #[test]
    fn price_series_and_oscillators_are_told_apart() {
        let indicators = vec![
            ("fast".to_owned(), parse("ema(close, 10)").unwrap()),
            ("osc".to_owned(), parse("rsi(close, 14)").unwrap()),
        ];
        let s = |t: &str| scale(&parse(t).unwrap(), &indicators);
        for price in [
            "sma(close, 20)",
            "fast",
            "bbands(close, 20, 2).upper",
            "close - 2 * atr(14)",
            "highest(high, 20)[1]",
            "tf('W', sma(close, 4))",
            "sar(0.02, 0.2)",
            "supertrend(10, 3).line",
            "vwap()",
            "close * 0.99",
            "max(fast, low)",
            "valuewhen(close > open, low)",
        ] {
            assert_eq!(s(price), Scale::Price, "{price}");
        }
        for own in [
            "osc",
            "rsi(close, 14)",
            "macd(close, 12, 26, 9).hist",
            "atr(14)",
            "volume",
            "sma(volume, 20)",
            "close - open",
            "close / sma(close, 20)",
            "supertrend(10, 3).direction",
            "cci(20)",
        ] {
            assert_eq!(s(own), Scale::Own, "{own}");
        }
    }
}
