//! The strategy file (DESIGN.md §5): strict TOML, validated into a [`Strategy`], printed back
//! deterministically.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use toml::Spanned;

use crate::check::{Binding, Scope, Type, check, is_position, is_price, names};
use crate::expr::{Expr, ExprKind, RESERVED, parse};
use crate::func::Timeframe;
use crate::interval::BarInterval;
use crate::orders::{Orders, RawOrders, parse_orders, print_orders};
use crate::parts::Ctx;
pub use crate::parts::{Rules, StrategyError};
use crate::portfolio::{Portfolio, RawPortfolio, parse_portfolio, print_portfolio};
use crate::sections::{RawRisk, Risk, float, parse_risk, print_risk};

/// A validated strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    /// Name (letters, digits, `_`, `-`): also the file's name.
    pub name: String,
    /// The idea in words.
    pub description: String,
    /// Numbers usable in expressions (and sweepable), in file order.
    pub params: Vec<(String, f64)>,
    /// Named expressions evaluated per bar, in file order.
    pub indicators: Vec<(String, Expr)>,
    /// The rules.
    pub rules: Rules,
    /// Sizing and exits.
    pub risk: Risk,
    /// Entry orders other than at market, and the fill mode.
    pub orders: Orders,
    /// How several symbols share one account (`None`: no `[portfolio]` section).
    pub portfolio: Option<Portfolio>,
    /// The bar timeframe it was written for (`timeframe = "5m"`); `backtest` warns when the
    /// data's bars are spaced otherwise.
    pub timeframe: Option<BarInterval>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    entry_long: Option<Spanned<String>>,
    exit_long: Option<Spanned<String>>,
    entry_short: Option<Spanned<String>>,
    exit_short: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStrategy {
    name: Spanned<String>,
    #[serde(default)]
    description: Option<Spanned<String>>,
    #[serde(default)]
    timeframe: Option<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<f64>>,
    #[serde(default)]
    indicators: BTreeMap<String, Spanned<String>>,
    rules: Spanned<RawRules>,
    #[serde(default)]
    risk: Option<RawRisk>,
    #[serde(default)]
    orders: Option<RawOrders>,
    #[serde(default)]
    portfolio: Option<RawPortfolio>,
}

/// Whether `name` may name a param or an indicator.
///
/// # Errors
/// A message saying what is wrong with the name.
pub fn valid_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !ok_start || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`{name}` is not a valid name: use letters, digits and `_`, starting with a letter"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!("`{name}` is a built-in name: choose another"));
    }
    Ok(())
}

/// Whether `name` may name a strategy (and so its file).
///
/// # Errors
/// A message saying what is wrong with the name.
pub fn valid_strategy_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters".to_owned());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "`{name}` may only hold letters, digits, `_` and `-` (it names the file)"
        ));
    }
    Ok(())
}

struct StrategyScope<'a> {
    params: &'a HashMap<String, f64>,
    indicators: &'a HashMap<String, Type>,
    /// Whether position state is known here (rules, risk and orders; not indicators).
    position: bool,
}

impl Scope for StrategyScope<'_> {
    fn lookup(&self, name: &str) -> Option<Binding> {
        if is_price(name) {
            return Some(Binding::Price);
        }
        if self.position && is_position(name) {
            return Some(Binding::Position);
        }
        if let Some(v) = self.params.get(name) {
            return Some(Binding::Param(*v));
        }
        self.indicators.get(name).map(|t| Binding::Indicator(*t))
    }

    fn names(&self) -> Vec<String> {
        self.params
            .keys()
            .chain(self.indicators.keys())
            .cloned()
            .collect()
    }
}

impl Strategy {
    /// Parses and validates a strategy file's text; `file` names it in errors.
    ///
    /// # Errors
    /// [`StrategyError`] naming the line, the field, and for expressions the position.
    pub fn from_toml(file: &str, text: &str) -> Result<Strategy, StrategyError> {
        let ctx = Ctx { file, text };
        let raw: RawStrategy = toml::from_str(text).map_err(|e| {
            let byte = e.span().map_or(0, |s| s.start);
            let (field, message) = crate::plain::explain(text, byte, e.message());
            ctx.error(byte, &field, message)
        })?;
        Self::from_raw(&ctx, raw)
    }

    fn from_raw(ctx: &Ctx<'_>, raw: RawStrategy) -> Result<Strategy, StrategyError> {
        if let Err(m) = valid_strategy_name(raw.name.get_ref()) {
            return Err(ctx.error(raw.name.span().start, "name", m));
        }
        let mut params = Vec::new();
        let mut param_map = HashMap::new();
        let mut sorted: Vec<(String, Spanned<f64>)> = raw.params.into_iter().collect();
        sorted.sort_by_key(|(_, v)| v.span().start);
        for (name, v) in sorted {
            let field = format!("params.{name}");
            valid_name(&name).map_err(|m| ctx.error(v.span().start, &field, m))?;
            if !v.get_ref().is_finite() {
                return Err(ctx.error(v.span().start, &field, "must be a finite number".into()));
            }
            param_map.insert(name.clone(), *v.get_ref());
            params.push((name, *v.get_ref()));
        }

        // Indicators: parse each, then type them in dependency order (any file order works).
        let mut parsed: Vec<(String, Expr, usize, String)> = Vec::new();
        let mut sorted: Vec<(String, Spanned<String>)> = raw.indicators.into_iter().collect();
        sorted.sort_by_key(|(_, v)| v.span().start);
        for (name, v) in sorted {
            let field = format!("indicators.{name}");
            let byte = v.span().start;
            valid_name(&name).map_err(|m| ctx.error(byte, &field, m))?;
            if param_map.contains_key(&name) {
                return Err(ctx.error(byte, &field, format!("`{name}` is also a [params] name")));
            }
            let text = v.into_inner();
            let e = parse(&text).map_err(|s| StrategyError {
                pos: Some(s.pos),
                expression: Some(text.clone()),
                ..ctx.error(byte, &field, s.message)
            })?;
            parsed.push((name, e, byte, text));
        }
        let types = type_indicators(ctx, &parsed, &param_map)?;
        let indicators: Vec<(String, Expr)> =
            parsed.into_iter().map(|(n, e, _, _)| (n, e)).collect();
        let scope = StrategyScope {
            params: &param_map,
            indicators: &types,
            position: true,
        };

        let raw_rules = raw.rules.into_inner();
        let rule = |name: &str,
                    r: Option<Spanned<String>>|
         -> Result<Option<Expr>, StrategyError> {
            let Some(r) = r else { return Ok(None) };
            let field = format!("rules.{name}");
            let byte = r.span().start;
            let text = r.into_inner();
            let with_expr = |pos: usize, message: String| StrategyError {
                pos: Some(pos),
                expression: Some(text.clone()),
                ..ctx.error(byte, &field, message)
            };
            let e = parse(&text).map_err(|s| with_expr(s.pos, s.message))?;
            match check(&e, &scope) {
                Ok(Type::Bool) => Ok(Some(e)),
                Ok(Type::Number) => Err(with_expr(
                    0,
                    format!(
                        "a rule must be a condition, but `{e}` is a number: compare it, e.g. `{e} > 0`"
                    ),
                )),
                Err(t) => Err(with_expr(t.span.start, t.message)),
            }
        };
        let rules = Rules {
            entry_long: rule("entry_long", raw_rules.entry_long)?,
            exit_long: rule("exit_long", raw_rules.exit_long)?,
            entry_short: rule("entry_short", raw_rules.entry_short)?,
            exit_short: rule("exit_short", raw_rules.exit_short)?,
        };
        if rules.entry_long.is_none() && rules.entry_short.is_none() {
            return Err(ctx.error(
                ctx.text.find("[rules]").unwrap_or(0),
                "rules",
                "needs entry_long or entry_short (or both)".into(),
            ));
        }

        let risk = parse_risk(ctx, &scope, &rules, &indicators, raw.risk)?;
        let orders = parse_orders(ctx, &scope, &rules, raw.orders)?;
        let portfolio = parse_portfolio(ctx, &scope, &rules, raw.portfolio)?;

        let timeframe = raw
            .timeframe
            .map(|t| parse_timeframe(ctx, &t))
            .transpose()?;

        Ok(Strategy {
            name: raw.name.into_inner(),
            description: raw.description.map(Spanned::into_inner).unwrap_or_default(),
            timeframe,
            params,
            indicators,
            rules,
            risk,
            orders,
            portfolio,
        })
    }

    /// The file's text: deterministic, human-editable, and parsed back to the same strategy.
    pub fn to_toml(&self) -> String {
        use std::fmt::Write;
        let s = |v: &str| toml::Value::String(v.to_owned()).to_string();
        // Writing into a String cannot fail.
        let mut out = String::new();
        let _ = writeln!(out, "name = {}", s(&self.name));
        let _ = writeln!(out, "description = {}", s(&self.description));
        if let Some(t) = self.timeframe {
            let _ = writeln!(out, "timeframe = {}", s(t.name()));
        }
        if !self.params.is_empty() {
            out.push_str("\n[params]\n");
            for (n, v) in &self.params {
                let _ = writeln!(out, "{n} = {}", number(*v));
            }
        }
        if !self.indicators.is_empty() {
            out.push_str("\n[indicators]\n");
            for (n, e) in &self.indicators {
                let _ = writeln!(out, "{n} = {}", s(&e.to_string()));
            }
        }
        out.push_str("\n[rules]\n");
        for (n, e) in self.rules.iter() {
            let _ = writeln!(out, "{n} = {}", s(&e.to_string()));
        }
        print_risk(&mut out, &self.risk);
        print_orders(&mut out, &self.orders);
        print_portfolio(&mut out, self.portfolio.as_ref());
        out
    }

    /// Whether this is a portfolio strategy (DESIGN.md §5.3): it has a `[portfolio]` section or
    /// reads another symbol with `on()`, so it runs on the portfolio path even over one file.
    pub fn is_portfolio(&self) -> bool {
        self.portfolio.is_some() || !self.symbols_used().is_empty()
    }

    /// Every expression of the file with its field (`indicators.fast`, `rules.entry_long`,
    /// `risk.stop_loss_long`, `orders.entry_long_stop`, `portfolio.rank`), in file order.
    pub fn expressions(&self) -> Vec<(String, &Expr)> {
        let mut out = Vec::new();
        for (n, e) in &self.indicators {
            out.push((format!("indicators.{n}"), e));
        }
        for (n, e) in self.rules.iter() {
            out.push((format!("rules.{n}"), e));
        }
        for (n, e) in self.risk.expressions() {
            out.push((format!("risk.{n}"), e));
        }
        for (n, e) in self.orders.expressions() {
            out.push((format!("orders.{n}"), e));
        }
        if let Some(r) = self.portfolio.as_ref().and_then(|p| p.rank.as_ref()) {
            out.push(("portfolio.rank".to_owned(), r));
        }
        out
    }

    /// The symbols `on()` names, each once, with the first field naming it
    /// (`rules.entry_long`, `indicators.spy_up`, …).
    pub fn symbols_used(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (field, e) in self.expressions() {
            visit(e, &mut |x| {
                if let ExprKind::On(s, _) = &x.kind
                    && !out.iter().any(|(n, _)| n == s)
                {
                    out.push((s.clone(), field.clone()));
                }
            });
        }
        out
    }

    /// The timeframes `tf()` names, each once, with the first field naming it.
    pub fn timeframes_used(&self) -> Vec<(Timeframe, String)> {
        let mut out: Vec<(Timeframe, String)> = Vec::new();
        for (field, e) in self.expressions() {
            visit(e, &mut |x| {
                if let ExprKind::Tf(rule, _) = &x.kind
                    && !out.iter().any(|(r, _)| r == rule)
                {
                    out.push((*rule, field.clone()));
                }
            });
        }
        out
    }

    /// The params as a map (for evaluation and sweeps).
    pub fn param_map(&self) -> HashMap<String, f64> {
        self.params.iter().cloned().collect()
    }
}

/// `timeframe = "5m"`: one of the bar intervals.
fn parse_timeframe(ctx: &Ctx<'_>, t: &Spanned<String>) -> Result<BarInterval, StrategyError> {
    BarInterval::parse(t.get_ref()).ok_or_else(|| {
        let names: Vec<&str> = BarInterval::ALL.iter().map(|b| b.name()).collect();
        ctx.error(
            t.span().start,
            "timeframe",
            format!(
                "\"{}\" is not a bar timeframe: use one of {}",
                t.get_ref(),
                names.join(", ")
            ),
        )
    })
}

/// Calls `f` on `e` and on every expression inside it, outside in.
fn visit(e: &Expr, f: &mut impl FnMut(&Expr)) {
    f(e);
    match &e.kind {
        ExprKind::Num(_) | ExprKind::Name(_) => {}
        ExprKind::Neg(x)
        | ExprKind::Not(x)
        | ExprKind::Back(x, _)
        | ExprKind::Tf(_, x)
        | ExprKind::On(_, x)
        | ExprKind::AtEntry(x) => visit(x, f),
        ExprKind::Binary(_, l, r) => {
            visit(l, f);
            visit(r, f);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| visit(a, f)),
    }
}

/// A param as TOML: an integer when whole, else the shortest exact decimal.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        float(v)
    }
}

struct Typer<'a, 'c> {
    ctx: &'a Ctx<'c>,
    parsed: &'a [(String, Expr, usize, String)],
    index: HashMap<&'a str, usize>,
    params: &'a HashMap<String, f64>,
    types: HashMap<String, Type>,
    /// 0 = not visited, 1 = on the current path, 2 = done.
    state: Vec<u8>,
    path: Vec<usize>,
}

impl Typer<'_, '_> {
    fn visit(&mut self, i: usize) -> Result<(), StrategyError> {
        let (name, e, byte, text) = &self.parsed[i];
        let field = format!("indicators.{name}");
        if self.state[i] == 2 {
            return Ok(());
        }
        if self.state[i] == 1 {
            let cycle: Vec<&str> = self
                .path
                .iter()
                .skip_while(|&&j| j != i)
                .map(|&j| self.parsed[j].0.as_str())
                .chain([name.as_str()])
                .collect();
            return Err(self.ctx.error(
                *byte,
                &field,
                format!(
                    "indicators refer to each other in a circle: {}",
                    cycle.join(" → ")
                ),
            ));
        }
        self.state[i] = 1;
        self.path.push(i);
        let mut used = Vec::new();
        names(e, &mut used);
        for u in used {
            if let Some(&j) = self.index.get(u.as_str()) {
                self.visit(j)?;
            }
        }
        self.path.pop();
        let scope = StrategyScope {
            params: self.params,
            indicators: &self.types,
            position: false,
        };
        let t = check(e, &scope).map_err(|t| StrategyError {
            pos: Some(t.span.start),
            expression: Some(text.clone()),
            ..self.ctx.error(*byte, &field, t.message)
        })?;
        self.types.insert(name.clone(), t);
        self.state[i] = 2;
        Ok(())
    }
}

fn type_indicators(
    ctx: &Ctx<'_>,
    parsed: &[(String, Expr, usize, String)],
    params: &HashMap<String, f64>,
) -> Result<HashMap<String, Type>, StrategyError> {
    let mut typer = Typer {
        ctx,
        parsed,
        index: parsed
            .iter()
            .enumerate()
            .map(|(i, (n, ..))| (n.as_str(), i))
            .collect(),
        params,
        types: HashMap::new(),
        state: vec![0; parsed.len()],
        path: Vec::new(),
    };
    for i in 0..parsed.len() {
        typer.visit(i)?;
    }
    Ok(typer.types)
}
