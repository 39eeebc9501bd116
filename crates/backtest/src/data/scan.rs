//! The plain layout's one-scan reading of a row: the time field and the price fields found
//! and parsed in a single pass over the line (no fields split out first), for the files most
//! are: no quotes anywhere, no spaces around fields, a decimal point. Any other line goes to the
//! general reader, which gives the same values and reports errors.

/// What each field of a line is, up to the last one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Skip,
    Time,
    /// A price: 0 open, 1 high, 2 low, 3 close, 4 volume.
    Price(usize),
}

/// How a line of the file is scanned: each field's target, by position.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    targets: Vec<Target>,
    delim: u8,
}

impl Plan {
    /// A plan for a file whose time is column `time` and whose prices (open, high, low, close,
    /// volume) are columns `prices`; `None` when the layout needs the general reader (`plain`
    /// false: a time-of-day column, a decimal comma, adjusted prices).
    pub(super) fn new(
        time: usize,
        prices: [Option<usize>; 5],
        delim: u8,
        plain: bool,
    ) -> Option<Plan> {
        if !plain || delim == b'"' {
            return None;
        }
        let last = prices.iter().flatten().copied().chain([time]).max()?;
        let mut targets = vec![Target::Skip; last + 1];
        targets[time] = Target::Time;
        for (k, i) in prices.iter().enumerate() {
            if let Some(i) = *i {
                if targets[i] != Target::Skip {
                    return None;
                }
                targets[i] = Target::Price(k);
            }
        }
        Some(Plan { targets, delim })
    }

    /// The time text and the prices of `line` (volume `NaN` when its field is empty), or
    /// `None` when the line is not in the plain layout: a field missing, a quote or a space at
    /// a field's edge, a number not written whole in its field or not finite.
    pub(super) fn scan<'l>(&self, line: &'l str, prices: &mut [f64; 5]) -> Option<&'l str> {
        let bytes = line.as_bytes();
        // No volume column: missing.
        prices[4] = f64::NAN;
        let mut time = None;
        let mut at = 0;
        let last = self.targets.len() - 1;
        for (i, target) in self.targets.iter().enumerate() {
            let rest = bytes.get(at..)?;
            // Where the field ends: at the delimiter, or the line's end for the last field read.
            let field_end = |n: usize| match rest.get(n) {
                Some(&b) if b == self.delim => Some(at + n),
                None if i == last => Some(at + n),
                _ => None,
            };
            let end = match *target {
                Target::Price(k) => {
                    if rest.first().is_none_or(|&b| b == self.delim) {
                        // An empty field: a missing volume, or a price the general reader
                        // refuses.
                        if k != 4 {
                            return None;
                        }
                        prices[4] = f64::NAN;
                        field_end(0)?
                    } else {
                        // The number's own length says where the field ends: no search.
                        let (v, n) = fast_float2::parse_partial::<f64, _>(rest).ok()?;
                        if !v.is_finite() {
                            return None;
                        }
                        prices[k] = v;
                        field_end(n)?
                    }
                }
                Target::Skip | Target::Time => {
                    // Fields are short: a plain search beats a vectorised one's set-up.
                    let n = rest
                        .iter()
                        .position(|&b| b == self.delim)
                        .or((i == last).then_some(rest.len()))?;
                    let field = rest.get(..n)?;
                    // A quote: the general reader splits the line (or says it is broken).
                    if field.contains(&b'"') {
                        return None;
                    }
                    if *target == Target::Time {
                        if field.is_empty()
                            || field[0].is_ascii_whitespace()
                            || field[n - 1].is_ascii_whitespace()
                        {
                            return None;
                        }
                        time = line.get(at..at + n);
                    }
                    at + n
                }
            };
            at = end + 1;
        }
        // The fields after the last one read: a quote there too sends the line to the general
        // reader (which may refuse it).
        if bytes.get(at..).is_some_and(|r| r.contains(&b'"')) {
            return None;
        }
        time
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fields::{parse_number, split_plain};

    /// The time in column 0, then open, high, low, close and (when `volume`) volume.
    fn columns(volume: bool) -> (usize, [Option<usize>; 5]) {
        (0, [Some(1), Some(2), Some(3), Some(4), volume.then_some(5)])
    }

    /// What the general reader gets from a line: the time field and the prices, volume `NaN`
    /// when empty or missing; `None` when a field it needs is not a finite number.
    fn general(
        line: &str,
        (time, prices): (usize, [Option<usize>; 5]),
    ) -> Option<(String, [f64; 5])> {
        let mut fields = Vec::new();
        if !split_plain(line, b',', &mut fields) {
            return None;
        }
        let num = |i: Option<usize>| {
            i.and_then(|i| fields.get(i))
                .and_then(|s| parse_number(s))
                .filter(|x| x.is_finite())
        };
        let volume = match prices[4] {
            Some(i) if fields.get(i).is_some_and(|s| !s.is_empty()) => num(Some(i))?,
            _ => f64::NAN,
        };
        Some((
            (*fields.get(time)?).to_owned(),
            [
                num(prices[0])?,
                num(prices[1])?,
                num(prices[2])?,
                num(prices[3])?,
                volume,
            ],
        ))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 3000,
            failure_persistence: None,
            rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Whatever the line, the one-scan reading either steps aside or gives exactly what
        /// the general reader gives (the same time text, the same bits of every price).
        #[test]
        fn a_scanned_row_is_the_general_readers_row(
            fields in proptest::collection::vec(
                proptest::prop_oneof![
                    "-?[0-9]{1,6}(\\.[0-9]{0,17})?",
                    "[0-9]{1,3}(\\.[0-9]{1,3})?[eE][-+]?[0-9]{1,3}",
                    "2024-0[1-9]-[12][0-9]( [01][0-9]:[0-5][0-9])?",
                    "( |\"|x|nan|inf|-|\\.|)[0-9 .\"e]{0,6}",
                ],
                0..8,
            ),
            volume in proptest::bool::ANY,
        ) {
            let line = fields.join(",");
            let c = columns(volume);
            let Some(plan) = Plan::new(c.0, c.1, b',', true) else {
                return Err(proptest::test_runner::TestCaseError::fail("no plan"));
            };
            let mut prices = [0.0; 5];
            if let Some(time) = plan.scan(&line, &mut prices) {
                let Some((t, want)) = general(&line, c) else {
                    return Err(proptest::test_runner::TestCaseError::fail(
                        format!("scanned {line:?}, which the general reader refuses"),
                    ));
                };
                proptest::prop_assert_eq!(time, t.as_str());
                for (a, b) in prices.iter().zip(&want) {
                    proptest::prop_assert!(a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan(), "{line:?}: {prices:?} vs {want:?}");
                }
            }
        }
    }

    #[test]
    #[expect(clippy::float_cmp, reason = "exact values parsed from exact text")]
    fn a_plain_row_is_scanned_and_anything_else_steps_aside() {
        let c = columns(true);
        let plan = Plan::new(c.0, c.1, b',', true).unwrap();
        let mut p = [0.0; 5];
        let t = plan.scan("2024-01-02 09:30:00,1.5,2.25,1.0,2.0,300,extra,x", &mut p);
        assert_eq!(t, Some("2024-01-02 09:30:00"));
        assert_eq!(p, [1.5, 2.25, 1.0, 2.0, 300.0]);
        // An empty volume is missing.
        assert_eq!(plan.scan("2024-01-02,1,2,1,2,", &mut p), Some("2024-01-02"));
        assert!(p[4].is_nan());
        for line in [
            "2024-01-02,1,2,1,2",       // the volume column missing
            " 2024-01-02,1,2,1,2,3",    // a space at the time's edge
            "2024-01-02, 1,2,1,2,3",    // a space before a number
            "2024-01-02,\"1\",2,1,2,3", // a quoted number
            "2024-01-02,1x,2,1,2,3",    // a number not whole in its field
            "2024-01-02,inf,2,1,2,3",   // not finite
            "\"x,2024\",1,2,1,2,3",     // a quote that may hide a delimiter
            "2024-01-02,1,2,1,2,3,\"",  // a quote the general reader refuses
            "",
        ] {
            assert_eq!(plan.scan(line, &mut p), None, "{line:?}");
        }
        // Layouts the general reader keeps.
        assert!(Plan::new(c.0, c.1, b';', false).is_none());
        assert!(Plan::new(c.0, c.1, b'"', true).is_none());
        // Columns in any order.
        let prices = [Some(4), Some(3), Some(2), Some(1), Some(0)];
        let plan = Plan::new(5, prices, b',', true).unwrap();
        assert_eq!(
            plan.scan("7,4,3,2,1,2024-01-02", &mut p),
            Some("2024-01-02")
        );
        assert_eq!(p, [1.0, 2.0, 3.0, 4.0, 7.0]);
    }
}
