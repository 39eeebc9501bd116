//! botforge's strategy files (DESIGN.md §5): a strict TOML format, a small expression language
//! for indicators and rules (parser, type checker, canonical printer), and validation whose
//! errors name the line, the field and the position in the expression.
//!
//! ```
//! let text = r#"
//! name = "MyRSIBot"
//! description = "RSI strategy: buy RSI<30, sell RSI>70"
//! [params]
//! period = 14
//! [indicators]
//! rsi = "rsi(close, period)"
//! [rules]
//! entry_long = "rsi < 30"
//! exit_long = "rsi > 70"
//! [risk]
//! stop_loss_pct = 5.0
//! "#;
//! let s = strategy::Strategy::from_toml("MyRSIBot.toml", text)?;
//! assert_eq!(s.rules.entry_long.as_ref().map(ToString::to_string).as_deref(), Some("rsi < 30"));
//! // The printed file reads back to the same strategy.
//! assert_eq!(strategy::Strategy::from_toml("again", &s.to_toml())?, s);
//!
//! let err = strategy::Strategy::from_toml("bad.toml", &text.replace("rsi < 30", "rsi < 30 and close")).unwrap_err();
//! assert!(err.to_string().starts_with("bad.toml:9: rules.entry_long: each side of `and` must be a condition"));
//! # Ok::<(), strategy::StrategyError>(())
//! ```
#![deny(missing_docs)]

mod check;
mod expr;
mod file;
mod func;
mod interval;
mod orders;
mod parts;
mod plain;
mod portfolio;
mod print;
mod python;
mod scale;
mod sections;

pub use check::{
    Binding, POSITION_NAMES, Scope, TIME_FIELDS, Type, TypeError, check, constant, is_position,
    is_price, is_time_field, names, uses_position,
};
pub use expr::{BinOp, Expr, ExprKind, MAX_LEN, RESERVED, Span, SyntaxError, parse};
pub use file::{Rules, Strategy, StrategyError, valid_name, valid_strategy_name};
pub use func::{Arg, Field, Func, MAX_PERIOD, Timeframe};
pub use interval::BarInterval;
pub use orders::{Fill, Orders, Reverse};
pub use portfolio::{Portfolio, Rebalance};
pub use python::{python_class_name, to_python};
pub use scale::{Scale, scale};
pub use sections::{Risk, RoiUnit, Sizing, StopFrom, TrailFrom};
