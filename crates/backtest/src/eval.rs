//! Evaluating strategy expressions over bars, as backtesting.py's numpy arrays would: numbers
//! are `f64` series with NaN where a value is missing; conditions are `bool` series in which a
//! comparison with a missing value is false; `x[n]` shifts by `n` bars.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use strategy::{BinOp, Expr, ExprKind, Field, Func, Scope, Strategy, Timeframe, Type, constant};

use crate::data::Bars;
use crate::functions as fun;
use crate::indicators as ind;
use crate::resample::resample;

/// A computed series. Equality treats two missing values as equal.
#[derive(Debug, Clone)]
pub enum Series {
    /// Numbers (NaN: missing). Shared, so cached series are handed out without copying.
    Num(Arc<Vec<f64>>),
    /// Conditions.
    Bool(Arc<Vec<bool>>),
}

impl PartialEq for Series {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Series::Num(a), Series::Num(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b.iter())
                        .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
            }
            (Series::Bool(a), Series::Bool(b)) => a == b,
            _ => false,
        }
    }
}

impl Series {
    /// A numeric series.
    pub fn num(v: Vec<f64>) -> Self {
        Series::Num(Arc::new(v))
    }

    /// A condition series.
    pub fn bools(v: Vec<bool>) -> Self {
        Series::Bool(Arc::new(v))
    }

    /// The type.
    pub fn ty(&self) -> Type {
        match self {
            Series::Num(_) => Type::Number,
            Series::Bool(_) => Type::Bool,
        }
    }

    /// The first bar with a value (conditions always have one).
    pub fn first_valid(&self) -> usize {
        match self {
            Series::Num(v) => v.iter().position(|x| !x.is_nan()).unwrap_or(v.len()),
            Series::Bool(_) => 0,
        }
    }
}

/// A problem during evaluation (only for expressions that skipped the type checker).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

type Slot = Arc<OnceLock<Result<Arc<Series>, EvalError>>>;

/// Indicator series shared by evaluators of one data set (a sweep's combinations): keyed by the
/// call with every param and indicator name replaced by what it stands for, so `sma(close,
/// fast)` with `fast = 10` and `sma(close, 10)` are one entry, computed once even when threads
/// ask for it at the same time.
#[derive(Debug, Default)]
pub struct SharedCache {
    slots: Mutex<HashMap<String, Slot>>,
}

impl SharedCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Distinct series computed so far.
    pub fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing was computed yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slot(&self, key: String) -> Slot {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone()
    }
}

/// Evaluates expressions over one data set, computing each named indicator once.
#[derive(Debug)]
pub struct Evaluator<'a> {
    bars: &'a Bars,
    params: HashMap<String, f64>,
    indicators: HashMap<String, Expr>,
    cache: HashMap<String, Series>,
    shared: Option<&'a SharedCache>,
    /// A portfolio's symbols, for `on()`.
    others: Vec<(&'a str, &'a Bars)>,
}

impl<'a> Evaluator<'a> {
    /// An evaluator that knows only the bar's prices.
    pub fn new(bars: &'a Bars) -> Self {
        Self {
            bars,
            params: HashMap::new(),
            indicators: HashMap::new(),
            cache: HashMap::new(),
            shared: None,
            others: Vec::new(),
        }
    }

    /// An evaluator that also knows a strategy's params and indicators.
    pub fn for_strategy(bars: &'a Bars, strategy: &Strategy) -> Self {
        Self {
            bars,
            params: strategy.param_map(),
            indicators: strategy.indicators.iter().cloned().collect(),
            cache: HashMap::new(),
            shared: None,
            others: Vec::new(),
        }
    }

    /// Knows a portfolio's symbols (name and bars), so `on("SYM", x)` can read them.
    #[must_use]
    pub fn with_symbols(mut self, symbols: Vec<(&'a str, &'a Bars)>) -> Self {
        self.others = symbols;
        self
    }

    /// Shares indicator series with other evaluators of the same bars.
    #[must_use]
    pub fn with_shared(mut self, shared: &'a SharedCache) -> Self {
        self.shared = Some(shared);
        self
    }

    /// `e` with params replaced by their values and indicators by their expressions.
    fn expand(&self, e: &Expr, depth: usize) -> Expr {
        let kind = match &e.kind {
            ExprKind::Name(n) => {
                if let Some(v) = self.params.get(n) {
                    ExprKind::Num(*v)
                } else if let Some(d) = self.indicators.get(n).filter(|_| depth < 64) {
                    return self.expand(d, depth + 1);
                } else {
                    e.kind.clone()
                }
            }
            ExprKind::Num(_) => e.kind.clone(),
            ExprKind::Neg(x) => ExprKind::Neg(Box::new(self.expand(x, depth))),
            ExprKind::Not(x) => ExprKind::Not(Box::new(self.expand(x, depth))),
            ExprKind::Back(x, n) => ExprKind::Back(Box::new(self.expand(x, depth)), *n),
            ExprKind::Tf(rule, x) => ExprKind::Tf(*rule, Box::new(self.expand(x, depth))),
            ExprKind::On(s, x) => ExprKind::On(s.clone(), Box::new(self.expand(x, depth))),
            ExprKind::AtEntry(x) => ExprKind::AtEntry(Box::new(self.expand(x, depth))),
            ExprKind::Binary(op, l, r) => ExprKind::Binary(
                *op,
                Box::new(self.expand(l, depth)),
                Box::new(self.expand(r, depth)),
            ),
            ExprKind::Call { func, args, field } => ExprKind::Call {
                func: *func,
                args: args.iter().map(|a| self.expand(a, depth)).collect(),
                field: *field,
            },
        };
        Expr { kind, span: e.span }
    }

    /// A scope for type checking against what this evaluator knows.
    pub fn scope(&self) -> impl Scope + '_ {
        EvalScope(self)
    }

    fn num(&mut self, e: &Expr) -> Result<Arc<Vec<f64>>, EvalError> {
        match self.eval(e)? {
            Series::Num(v) => Ok(v),
            Series::Bool(_) => Err(EvalError(format!("`{e}` is a condition, not a number"))),
        }
    }

    fn boolean(&mut self, e: &Expr) -> Result<Arc<Vec<bool>>, EvalError> {
        match self.eval(e)? {
            Series::Bool(v) => Ok(v),
            Series::Num(_) => Err(EvalError(format!("`{e}` is a number, not a condition"))),
        }
    }

    fn period(&self, e: &Expr) -> Result<usize, EvalError> {
        let v = constant(e, &EvalScope(self))
            .ok_or_else(|| EvalError(format!("`{e}` must be a whole number")))?;
        if v.fract() != 0.0 || v < 0.0 || v > f64::from(strategy::MAX_PERIOD) {
            return Err(EvalError(format!("`{e}` must be a whole number")));
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked above"
        )]
        Ok(v as usize)
    }

    /// The series of `e`.
    ///
    /// # Errors
    /// [`EvalError`] for an unknown name or a type mismatch (which the type checker rules out).
    #[expect(
        clippy::float_cmp,
        reason = "`==` and `!=` in the language are exact, as numpy's are in backtesting.py"
    )]
    pub fn eval(&mut self, e: &Expr) -> Result<Series, EvalError> {
        let len = self.bars.len();
        Ok(match &e.kind {
            ExprKind::Num(v) => Series::num(vec![*v; len]),
            ExprKind::Name(n) => self.name(n)?,
            ExprKind::Neg(x) => Series::num(self.num(x)?.iter().map(|v| -v).collect()),
            ExprKind::Not(x) => Series::bools(self.boolean(x)?.iter().map(|v| !v).collect()),
            ExprKind::Binary(op, l, r) => match op {
                BinOp::And | BinOp::Or => {
                    let (a, b) = (self.boolean(l)?, self.boolean(r)?);
                    let and = *op == BinOp::And;
                    Series::bools(
                        a.iter()
                            .zip(b.iter())
                            .map(|(x, y)| if and { *x && *y } else { *x || *y })
                            .collect(),
                    )
                }
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                    let (a, b) = (self.num(l)?, self.num(r)?);
                    let f: fn(f64, f64) -> f64 = match op {
                        BinOp::Add => |x, y| x + y,
                        BinOp::Sub => |x, y| x - y,
                        BinOp::Mul => |x, y| x * y,
                        _ => |x, y| x / y,
                    };
                    Series::num(a.iter().zip(b.iter()).map(|(x, y)| f(*x, *y)).collect())
                }
                cmp => {
                    let (a, b) = (self.num(l)?, self.num(r)?);
                    // NaN compares false, as numpy does.
                    let f: fn(f64, f64) -> bool = match cmp {
                        BinOp::Lt => |x, y| x < y,
                        BinOp::Le => |x, y| x <= y,
                        BinOp::Gt => |x, y| x > y,
                        BinOp::Ge => |x, y| x >= y,
                        BinOp::Eq => |x, y| x == y,
                        _ => |x, y| !x.is_nan() && !y.is_nan() && x != y,
                    };
                    Series::bools(a.iter().zip(b.iter()).map(|(x, y)| f(*x, *y)).collect())
                }
            },
            ExprKind::Back(x, n) => {
                let n = *n as usize;
                match self.eval(x)? {
                    Series::Num(v) => Series::num(
                        (0..len)
                            .map(|i| if i >= n { v[i - n] } else { f64::NAN })
                            .collect(),
                    ),
                    Series::Bool(v) => {
                        Series::bools((0..len).map(|i| i >= n && v[i - n]).collect())
                    }
                }
            }
            ExprKind::Tf(rule, x) => {
                let key = e.to_string();
                if let Some(s) = self.cache.get(&key) {
                    return Ok(s.clone());
                }
                let s = match self.shared {
                    Some(shared) => {
                        let slot = shared.slot(self.expand(e, 0).to_string());
                        let got = slot.get_or_init(|| self.timeframe(*rule, x).map(Arc::new));
                        got.as_ref()
                            .map_err(Clone::clone)
                            .map(|s| Series::clone(s))?
                    }
                    None => self.timeframe(*rule, x)?,
                };
                self.cache.insert(key, s.clone());
                s
            }
            ExprKind::AtEntry(_) => return Err(not_a_series(e)),
            ExprKind::On(symbol, x) => {
                let key = e.to_string();
                if let Some(s) = self.cache.get(&key) {
                    return Ok(s.clone());
                }
                let s = self.on(symbol, x)?;
                self.cache.insert(key, s.clone());
                s
            }
            ExprKind::Call { func, args, field } => {
                // Each call is computed once per evaluator (the warm-up and the rules ask for
                // the same ones); numeric ones once per sweep when a shared cache is given.
                let key = e.to_string();
                if let Some(s) = self.cache.get(&key) {
                    return Ok(s.clone());
                }
                let s = match self.shared {
                    Some(shared) if !func.is_boolean() => {
                        let slot = shared.slot(self.expand(e, 0).to_string());
                        let got = slot.get_or_init(|| self.call(*func, args, *field).map(Arc::new));
                        got.as_ref()
                            .map_err(Clone::clone)
                            .map(|s| Series::clone(s))?
                    }
                    _ => self.call(*func, args, *field)?,
                };
                self.cache.insert(key, s.clone());
                s
            }
        })
    }

    /// The language's series functions (`abs min max if count bars_since valuewhen`).
    fn language(&mut self, func: Func, args: &[Expr]) -> Result<Series, EvalError> {
        let arg = |i: usize| nth(args, i, func);
        Ok(match func {
            Func::Abs => Series::num(fun::abs(&self.num(arg(0)?)?)),
            Func::Min | Func::Max => {
                let (a, c) = (self.num(arg(0)?)?, self.num(arg(1)?)?);
                Series::num(fun::extreme(&a, &c, func == Func::Max))
            }
            Func::If => {
                let cond = self.boolean(arg(0)?)?;
                let (a, c) = (self.num(arg(1)?)?, self.num(arg(2)?)?);
                Series::num(fun::choose(&cond, &a, &c))
            }
            Func::Count => {
                let cond = self.boolean(arg(0)?)?;
                Series::num(fun::count(&cond, self.period(arg(1)?)?))
            }
            Func::BarsSince => Series::num(fun::bars_since(&self.boolean(arg(0)?)?)),
            Func::ValueWhen => {
                let cond = self.boolean(arg(0)?)?;
                Series::num(fun::valuewhen(&cond, &self.num(arg(1)?)?))
            }
            _ => return Err(EvalError(format!("{func} is not a language function"))),
        })
    }

    /// Issue 17's TA-Lib indicators.
    fn indicator(
        &mut self,
        func: Func,
        args: &[Expr],
        field: Option<Field>,
    ) -> Result<Series, EvalError> {
        let b = self.bars;
        let arg = |i: usize| nth(args, i, func);
        Ok(match func {
            Func::Sum | Func::Stddev | Func::Roc | Func::Mom | Func::Cmo | Func::Linearreg => {
                let x = self.num(arg(0)?)?;
                let n = self.period(arg(1)?)?;
                let f = match func {
                    Func::Sum => ind::sum,
                    Func::Stddev => ind::stddev,
                    Func::Roc => ind::roc,
                    Func::Mom => ind::mom,
                    Func::Cmo => ind::cmo,
                    _ => ind::linearreg,
                };
                Series::num(f(&x, n))
            }
            Func::Cci | Func::Willr | Func::Natr | Func::PlusDi | Func::MinusDi => {
                let n = self.period(arg(0)?)?;
                let f = match func {
                    Func::Cci => ind::cci,
                    Func::Willr => ind::willr,
                    Func::Natr => ind::natr,
                    Func::PlusDi => ind::plus_di,
                    _ => ind::minus_di,
                };
                Series::num(f(&b.high, &b.low, &b.close, n))
            }
            Func::Mfi => Series::num(ind::mfi(
                &b.high,
                &b.low,
                &b.close,
                &b.volume,
                self.period(arg(0)?)?,
            )),
            Func::Obv => Series::num(ind::obv(&b.close, &b.volume)),
            Func::Ad => Series::num(ind::ad(&b.high, &b.low, &b.close, &b.volume)),
            Func::Adosc => Series::num(ind::adosc(
                &b.high,
                &b.low,
                &b.close,
                &b.volume,
                self.period(arg(0)?)?,
                self.period(arg(1)?)?,
            )),
            Func::Trange => Series::num(ind::trange(&b.high, &b.low, &b.close)),
            Func::Sar => {
                let scope = EvalScope(self);
                let (Some(accel), Some(max)) =
                    (constant(arg(0)?, &scope), constant(arg(1)?, &scope))
                else {
                    return Err(EvalError("sar's accel and max must be numbers".into()));
                };
                Series::num(ind::sar(&b.high, &b.low, accel, max))
            }
            Func::Supertrend => {
                let n = self.period(arg(0)?)?;
                let mult = constant(arg(1)?, &EvalScope(self))
                    .ok_or_else(|| EvalError("supertrend's mult must be a number".into()))?;
                let [line, direction] = ind::supertrend(&b.high, &b.low, &b.close, n, mult);
                match field {
                    Some(Field::Direction) => Series::num(direction),
                    Some(Field::Line) => Series::num(line),
                    _ => return Err(EvalError("supertrend needs .line or .direction".into())),
                }
            }
            Func::Vwap => Series::num(fun::vwap(&b.time, &b.high, &b.low, &b.close, &b.volume)),
            f if f.is_candle() => {
                let bars = (&b.open[..], &b.high[..], &b.low[..], &b.close[..]);
                Series::num(match f {
                    Func::Engulfing => ind::engulfing(bars),
                    Func::Hammer => ind::hammer(bars),
                    Func::ShootingStar => ind::shooting_star(bars),
                    Func::Doji => ind::doji(bars),
                    Func::Harami => ind::harami(bars),
                    Func::MorningStar => ind::morning_star(bars),
                    Func::EveningStar => ind::evening_star(bars),
                    Func::ThreeWhiteSoldiers => ind::three_white_soldiers(bars),
                    _ => ind::three_black_crows(bars),
                })
            }
            Func::Aroon => {
                let [up, down] = ind::aroon(&b.high, &b.low, self.period(arg(0)?)?);
                match field {
                    Some(Field::Down) => Series::num(down),
                    Some(Field::Up) => Series::num(up),
                    _ => return Err(EvalError("aroon needs .up or .down".into())),
                }
            }
            _ => return Err(EvalError(format!("{func} is not an indicator"))),
        })
    }

    /// `tf(rule, x)`: `x` on the bars resampled to `rule`, mapped back onto these bars.
    /// `on(symbol, x)`: `x` on that symbol's bars, and at each of these bars its value at the
    /// symbol's latest bar at or before that time (missing, or false, before its first).
    fn on(&self, symbol: &str, x: &Expr) -> Result<Series, EvalError> {
        let Some(&(_, other)) = self.others.iter().find(|(n, _)| *n == symbol) else {
            let known: Vec<&str> = self.others.iter().map(|(n, _)| *n).collect();
            return Err(EvalError(format!(
                "on(\"{symbol}\", …): no --data file is named {symbol} (the symbols are {}); name a file so: --data {symbol}=FILE",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        };
        let mut sub = Evaluator {
            bars: other,
            params: self.params.clone(),
            indicators: HashMap::new(),
            cache: HashMap::new(),
            shared: None,
            others: Vec::new(),
        };
        let at: Vec<Option<usize>> = self
            .bars
            .epoch_ms
            .iter()
            .map(|t| other.epoch_ms.partition_point(|o| o <= t).checked_sub(1))
            .collect();
        Ok(match sub.eval(x)? {
            Series::Num(v) => {
                Series::num(at.iter().map(|j| j.map_or(f64::NAN, |j| v[j])).collect())
            }
            Series::Bool(v) => Series::bools(at.iter().map(|j| j.is_some_and(|j| v[j])).collect()),
        })
    }

    fn timeframe(&self, rule: Timeframe, x: &Expr) -> Result<Series, EvalError> {
        let res = resample(self.bars, rule);
        let mut sub = Evaluator {
            bars: &res.bars,
            params: self.params.clone(),
            indicators: HashMap::new(),
            cache: HashMap::new(),
            shared: None,
            others: Vec::new(),
        };
        let values = sub.num(x)?;
        Ok(Series::num(res.map_back(self.bars, &values)))
    }

    fn name(&mut self, n: &str) -> Result<Series, EvalError> {
        let b = self.bars;
        let price = match n {
            "open" => Some(&b.open),
            "high" => Some(&b.high),
            "low" => Some(&b.low),
            "close" => Some(&b.close),
            "volume" => Some(&b.volume),
            _ => None,
        };
        if let Some(s) = self.cache.get(n) {
            return Ok(s.clone());
        }
        if let Some(p) = price {
            // Shared with the bars, not copied.
            let s = Series::Num(Arc::clone(p));
            self.cache.insert(n.to_owned(), s.clone());
            return Ok(s);
        }
        if strategy::is_time_field(n) {
            let s = Series::num(fun::time_field(&b.time, n));
            self.cache.insert(n.to_owned(), s.clone());
            return Ok(s);
        }
        if let Some(v) = self.params.get(n) {
            return Ok(Series::num(vec![*v; b.len()]));
        }
        let Some(e) = self.indicators.get(n).cloned() else {
            return Err(EvalError(format!("unknown name `{n}`")));
        };
        let s = self.eval(&e)?;
        self.cache.insert(n.to_owned(), s.clone());
        Ok(s)
    }

    fn call(
        &mut self,
        func: Func,
        args: &[Expr],
        field: Option<Field>,
    ) -> Result<Series, EvalError> {
        let b = self.bars;
        let arg = |i: usize| nth(args, i, func);
        let pick = |outs: Vec<(Field, Vec<f64>)>| -> Result<Series, EvalError> {
            outs.into_iter()
                .find(|(f, _)| Some(*f) == field)
                .map(|(_, v)| Series::num(v))
                .ok_or_else(|| EvalError(format!("{func} needs an output field")))
        };
        Ok(match func {
            Func::Sma | Func::Ema | Func::Wma | Func::Rsi | Func::Highest | Func::Lowest => {
                let x = self.num(arg(0)?)?;
                let n = self.period(arg(1)?)?;
                let f = match func {
                    Func::Sma => ind::sma,
                    Func::Ema => ind::ema,
                    Func::Wma => ind::wma,
                    Func::Rsi => ind::rsi,
                    Func::Highest => ind::highest,
                    _ => ind::lowest,
                };
                Series::num(f(&x, n))
            }
            Func::Macd => {
                let x = self.num(arg(0)?)?;
                let (f, s, g) = (
                    self.period(arg(1)?)?,
                    self.period(arg(2)?)?,
                    self.period(arg(3)?)?,
                );
                let [line, signal, hist] = ind::macd(&x, f, s, g);
                pick(vec![
                    (Field::Line, line),
                    (Field::Signal, signal),
                    (Field::Hist, hist),
                ])?
            }
            Func::Bbands => {
                let x = self.num(arg(0)?)?;
                let n = self.period(arg(1)?)?;
                let k = constant(arg(2)?, &EvalScope(self))
                    .ok_or_else(|| EvalError("bbands' k must be a number".into()))?;
                let [u, m, l] = ind::bbands(&x, n, k);
                pick(vec![
                    (Field::Upper, u),
                    (Field::Middle, m),
                    (Field::Lower, l),
                ])?
            }
            Func::Atr => Series::num(ind::atr(&b.high, &b.low, &b.close, self.period(arg(0)?)?)),
            Func::Adx => Series::num(ind::adx(&b.high, &b.low, &b.close, self.period(arg(0)?)?)),
            Func::Stoch => {
                let (k, sk, d) = (
                    self.period(arg(0)?)?,
                    self.period(arg(1)?)?,
                    self.period(arg(2)?)?,
                );
                let [kk, dd] = ind::stoch(&b.high, &b.low, &b.close, k, sk, d);
                pick(vec![(Field::K, kk), (Field::D, dd)])?
            }
            Func::CrossesAbove | Func::CrossesBelow => {
                let (a, c) = (self.num(arg(0)?)?, self.num(arg(1)?)?);
                let n = a.len().min(c.len());
                let mut out = Vec::with_capacity(n);
                if n > 0 {
                    out.push(false);
                }
                // Non-short-circuit `&` over window pairs: no branch and no bounds check per bar.
                let pairs = a[..n].windows(2).zip(c[..n].windows(2));
                #[expect(
                    clippy::needless_bitwise_bool,
                    reason = "`&` keeps the loop branch-free; both sides are cheap"
                )]
                if func == Func::CrossesAbove {
                    out.extend(pairs.map(|(x, y)| (x[0] < y[0]) & (x[1] > y[1])));
                } else {
                    out.extend(pairs.map(|(x, y)| (x[0] > y[0]) & (x[1] < y[1])));
                }
                Series::bools(out)
            }
            Func::Abs
            | Func::Min
            | Func::Max
            | Func::If
            | Func::Count
            | Func::BarsSince
            | Func::ValueWhen => self.language(func, args)?,
            other => self.indicator(other, args, field)?,
        })
    }
}

/// Argument `i` of a call to `func` (the type checker makes sure it is there).
fn nth(args: &[Expr], i: usize, func: Func) -> Result<&Expr, EvalError> {
    args.get(i)
        .ok_or_else(|| EvalError(format!("{func} is missing an argument")))
}

struct EvalScope<'e, 'a>(&'e Evaluator<'a>);

impl Scope for EvalScope<'_, '_> {
    fn lookup(&self, name: &str) -> Option<strategy::Binding> {
        if strategy::is_price(name) {
            return Some(strategy::Binding::Price);
        }
        if let Some(v) = self.0.params.get(name) {
            return Some(strategy::Binding::Param(*v));
        }
        // Indicator types come from checking the strategy file; here any indicator is a value.
        self.0
            .indicators
            .get(name)
            .map(|_| strategy::Binding::Indicator(Type::Number))
    }

    fn names(&self) -> Vec<String> {
        self.0
            .params
            .keys()
            .chain(self.0.indicators.keys())
            .cloned()
            .collect()
    }
}

/// One cell of `botforge eval` CSV: the shortest round-trip number, empty when missing,
/// `true`/`false` for conditions.
pub fn cell(s: &Series, i: usize) -> String {
    match s {
        Series::Num(v) if v[i].is_nan() => String::new(),
        Series::Num(v) => format!("{}", v[i]),
        Series::Bool(v) => v[i].to_string(),
    }
}

/// Position state (`at_entry(…)`) where a whole series is wanted.
fn not_a_series(e: &Expr) -> EvalError {
    EvalError(format!(
        "`{e}` is position state, known per trade while the backtest runs, not a series"
    ))
}
