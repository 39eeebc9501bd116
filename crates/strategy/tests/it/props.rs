//! Properties: the parser never panics; printing then parsing gives the same expression.

use proptest::prelude::*;
use strategy::{BinOp, Expr, ExprKind, Field, Func, Span, parse};

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (0u32..1000, 0u32..4).prop_map(|(n, d)| Expr {
            kind: ExprKind::Num(f64::from(n) / f64::from(10u32.pow(d))),
            span: Span::default(),
        }),
        prop::sample::select(vec!["close", "open", "rsi", "fast_ma", "x1", "period"]).prop_map(
            |n| Expr {
                kind: ExprKind::Name(n.to_owned()),
                span: Span::default(),
            }
        ),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 48, 4, |inner| {
        let ops = prop::sample::select(vec![
            BinOp::Add,
            BinOp::Sub,
            BinOp::Mul,
            BinOp::Div,
            BinOp::Lt,
            BinOp::Le,
            BinOp::Gt,
            BinOp::Ge,
            BinOp::Eq,
            BinOp::Ne,
            BinOp::And,
            BinOp::Or,
        ]);
        let mk = |kind| Expr {
            kind,
            span: Span::default(),
        };
        prop_oneof![
            (ops, inner.clone(), inner.clone()).prop_map(move |(op, l, r)| mk(ExprKind::Binary(
                op,
                Box::new(l),
                Box::new(r)
            ))),
            inner
                .clone()
                .prop_map(move |e| mk(ExprKind::Neg(Box::new(e)))),
            inner
                .clone()
                .prop_map(move |e| mk(ExprKind::Not(Box::new(e)))),
            (inner.clone(), 0u32..5).prop_map(move |(e, n)| mk(ExprKind::Back(Box::new(e), n))),
            (inner.clone(), 2u32..50).prop_map(move |(e, n)| mk(ExprKind::Call {
                func: Func::Sma,
                args: vec![e, mk(ExprKind::Num(f64::from(n)))],
                field: None,
            })),
            inner.prop_map(move |e| mk(ExprKind::Call {
                func: Func::Macd,
                args: vec![
                    e,
                    mk(ExprKind::Num(12.0)),
                    mk(ExprKind::Num(26.0)),
                    mk(ExprKind::Num(9.0))
                ],
                field: Some(Field::Hist),
            })),
        ]
    })
}

// Comparisons do not chain, so a comparison directly under a comparison must be parenthesised
// by the printer; the round trip covers that too.
proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn printing_then_parsing_gives_the_same_expression(e in expr()) {
        let printed = e.to_string();
        let back = parse(&printed).map_err(|err| TestCaseError::fail(format!("{printed}: {err}")))?;
        prop_assert_eq!(&back, &e, "{}", printed);
        prop_assert_eq!(back.to_string(), printed);
    }

    #[test]
    fn the_parser_never_panics(s in "\\PC{0,80}") {
        let _ = parse(&s);
    }

    #[test]
    fn the_parser_never_panics_on_near_misses(s in "[a-z_0-9().,<>=!+*/\\[\\] -]{0,60}") {
        if let Ok(e) = parse(&s) {
            // Whatever parses prints to something that parses to the same thing.
            prop_assert_eq!(parse(&e.to_string()).unwrap(), e);
        }
    }
}
