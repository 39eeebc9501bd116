//! A trade and why it closed: what the broker fills and the engine, the statistics and the
//! reports read (its own module, below both the broker and the engine).

/// Why a trade closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// An exit rule, or an opposite entry.
    Signal,
    /// The stop loss.
    Stop,
    /// The take profit.
    Target,
    /// A stop a trailing rule had moved.
    Trailing,
    /// `max_bars`.
    Time,
    /// The end of the data (`--finalize`).
    End,
    /// Equity reached 0.
    OutOfMoney,
}

impl ExitReason {
    /// The name in `--json` and reports.
    pub fn name(self) -> &'static str {
        match self {
            ExitReason::Signal => "signal",
            ExitReason::Stop => "stop",
            ExitReason::Target => "target",
            ExitReason::Trailing => "trailing",
            ExitReason::Time => "time",
            ExitReason::End => "end",
            ExitReason::OutOfMoney => "out_of_money",
        }
    }
}

/// A trade. `size` is negative for shorts; prices are raw fills, without commission.
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    /// Bar of the entry fill.
    pub entry_bar: usize,
    /// Bar of the exit fill (`None` while open).
    pub exit_bar: Option<usize>,
    /// Entry fill price.
    pub entry_price: f64,
    /// Exit fill price (`None` while open).
    pub exit_price: Option<f64>,
    /// Units of the asset; negative for a short. Whole numbers, except with
    /// `fractional_unit` (whole multiples of it).
    pub size: f64,
    /// Stop loss price in force (the last one, for a trailing stop), if any.
    pub sl: Option<f64>,
    /// Take profit price, if any.
    pub tp: Option<f64>,
    /// Commission paid so far (entry leg, plus the exit leg once closed).
    pub commission: f64,
    /// Why it closed (`None` while open).
    pub exit_reason: Option<ExitReason>,
    /// Each change of its stop or target, in order (a trailing stop's moves, a stepping
    /// target's steps), for the report.
    pub steps: Vec<LevelStep>,
}

/// A trade's stop or target set to a new level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelStep {
    /// The bar on which it was set: the fill bar for levels the entry carried, else the bar
    /// whose close set it (it is live from the next bar).
    pub bar: usize,
    /// The stop (`true`) or the target.
    pub stop: bool,
    /// The new level.
    pub price: f64,
}

impl Trade {
    /// Profit in cash after commission (at `price` while open).
    pub fn pnl_at(&self, price: f64) -> f64 {
        self.size * (price - self.entry_price) - self.commission
    }

    /// Closed trade's profit after commission.
    pub fn pnl(&self) -> f64 {
        self.pnl_at(self.exit_price.unwrap_or(self.entry_price))
    }

    /// Return as a fraction, as backtesting.py's `ReturnPct`:
    /// `sign(size)·(exit/entry − 1) − commission/(|size|·entry)`.
    pub fn return_frac(&self) -> f64 {
        let exit = self.exit_price.unwrap_or(self.entry_price);
        let sign = if self.size < 0.0 { -1.0 } else { 1.0 };
        sign * (exit / self.entry_price - 1.0)
            - self.commission / (self.size.abs() * self.entry_price)
    }
}
