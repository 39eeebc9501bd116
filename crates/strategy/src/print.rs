//! The canonical printer: an expression back to text, with only the parentheses its
//! precedence needs, so that parsing the text gives the same expression.

use std::fmt;

use crate::expr::{Expr, ExprKind, PREC_NEG, PREC_NOT, PREC_POSTFIX, PREC_PRIMARY};

impl Expr {
    fn prec(&self) -> u8 {
        match &self.kind {
            ExprKind::Num(_)
            | ExprKind::Name(_)
            | ExprKind::Call { .. }
            | ExprKind::Tf(..)
            | ExprKind::On(..)
            | ExprKind::AtEntry(_) => PREC_PRIMARY,
            ExprKind::Back(..) => PREC_POSTFIX,
            ExprKind::Neg(_) => PREC_NEG,
            ExprKind::Not(_) => PREC_NOT,
            ExprKind::Binary(op, ..) => op.prec(),
        }
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        let paren = self.prec() < min;
        if paren {
            f.write_str("(")?;
        }
        match &self.kind {
            ExprKind::Num(v) => write!(f, "{v}")?,
            ExprKind::Name(n) => f.write_str(n)?,
            ExprKind::Neg(e) => {
                f.write_str("-")?;
                e.write(f, PREC_NEG)?;
            }
            ExprKind::Not(e) => {
                f.write_str("not ")?;
                e.write(f, PREC_NOT)?;
            }
            ExprKind::Binary(op, l, r) => {
                let p = op.prec();
                // Left-associative; comparisons do not chain at all.
                l.write(f, if op.is_comparison() { p + 1 } else { p })?;
                write!(f, " {} ", op.symbol())?;
                r.write(f, p + 1)?;
            }
            ExprKind::Call { func, args, field } => {
                write!(f, "{}(", func.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    a.write(f, 0)?;
                }
                f.write_str(")")?;
                if let Some(field) = field {
                    write!(f, ".{}", field.name())?;
                }
            }
            ExprKind::Back(e, n) => {
                e.write(f, PREC_POSTFIX)?;
                write!(f, "[{n}]")?;
            }
            ExprKind::Tf(rule, e) => {
                write!(f, "tf(\"{}\", ", rule.name())?;
                e.write(f, 0)?;
                f.write_str(")")?;
            }
            ExprKind::On(symbol, e) => {
                write!(f, "on(\"{symbol}\", ")?;
                e.write(f, 0)?;
                f.write_str(")")?;
            }
            ExprKind::AtEntry(e) => {
                f.write_str("at_entry(")?;
                e.write(f, 0)?;
                f.write_str(")")?;
            }
        }
        if paren {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Prints the expression in canonical form: parsing it gives the same expression back.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, 0)
    }
}
