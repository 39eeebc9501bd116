//! The series a strategy computes, for drawing: its `[indicators]` and the calls in its rules.

use crate::data::Bars;

use super::page::Plot;

/// Most indicators drawn, so a report stays readable.
const MAX_PLOTS: usize = 8;

/// The numeric series a strategy computes — its `[indicators]`, then the function calls written
/// straight into its rules — each marked for the price chart or a panel of its own by its
/// scale. At most eight.
///
/// # Errors
/// [`crate::EvalError`] if an expression cannot be evaluated.
pub fn plots(bars: &Bars, strategy: &strategy::Strategy) -> Result<Vec<Plot>, crate::EvalError> {
    use strategy::{Expr, ExprKind, Scale};
    fn calls<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
        match &e.kind {
            ExprKind::Call { func, args, .. } => {
                if func.is_boolean() {
                    for a in args {
                        calls(a, out);
                    }
                } else {
                    out.push(e);
                }
            }
            ExprKind::Tf(..) => out.push(e),
            ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Back(x, _) | ExprKind::AtEntry(x) => {
                calls(x, out);
            }
            ExprKind::Binary(_, l, r) => {
                calls(l, out);
                calls(r, out);
            }
            // Another symbol's series (`on`) is not drawn over this one's prices.
            ExprKind::Num(_) | ExprKind::Name(_) | ExprKind::On(..) => {}
        }
    }
    let mut ev = crate::Evaluator::for_strategy(bars, strategy);
    let mut candidates: Vec<(String, &Expr)> = strategy
        .indicators
        .iter()
        .map(|(n, e)| (n.clone(), e))
        .collect();
    let mut inline = Vec::new();
    for (_, rule) in strategy.rules.iter() {
        calls(rule, &mut inline);
    }
    for e in inline {
        let text = e.to_string();
        if !candidates.iter().any(|(_, c)| c.to_string() == text) {
            candidates.push((text, e));
        }
    }
    let mut out = Vec::new();
    for (name, e) in candidates {
        if out.len() == MAX_PLOTS || strategy::uses_position(e).is_some() {
            continue;
        }
        if let crate::Series::Num(v) = ev.eval(e)? {
            let overlay = strategy::scale(e, &strategy.indicators) == Scale::Price;
            out.push(Plot {
                name,
                values: v.to_vec(),
                overlay,
            });
        }
    }
    Ok(out)
}
