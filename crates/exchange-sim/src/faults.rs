//! The faults a simulated exchange injects, from `--faults drop_final=7,duplicate=5,…`.

use std::time::Duration;

/// What goes wrong, and how often.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Every Nth final kline is not sent on the stream (REST still has the bar).
    pub drop_final: Option<u64>,
    /// Every Nth final kline is sent twice, and with it the one before again.
    pub duplicate: Option<u64>,
    /// The stream is closed after every N messages it sent.
    pub disconnect: Option<u64>,
    /// After bar N closes the stream sends nothing for the duration (the clock runs on).
    pub stall: Option<(usize, Duration)>,
    /// Bars (by index in the file, inclusive ranges) that exist nowhere: a true gap.
    pub gaps: Vec<(usize, usize)>,
    /// Every Nth REST call answers 429 with `Retry-After: 1`.
    pub rate_limit: Option<u64>,
    /// Every Nth REST call answers 418 with `Retry-After: 1`.
    pub ban: Option<u64>,
    /// REST calls A to B (counted from 1) answer 503: an outage of the REST side alone.
    pub rest_down: Option<(u64, u64)>,
}

/// A `--faults` list that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--faults `{item}`: {why} (e.g. drop_final=7,duplicate=5,disconnect=40,stall=100:2s,gap=300-305,rate_limit=10,ban=50,rest_down=3-12)"
)]
pub struct FaultError {
    /// The item.
    pub item: String,
    /// What is wrong with it.
    pub why: String,
}

impl Faults {
    /// Reads `name=value` items separated by commas.
    ///
    /// # Errors
    /// [`FaultError`] naming the item.
    pub fn parse(s: &str) -> Result<Faults, FaultError> {
        let mut f = Faults::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = |why: &str| FaultError {
                item: item.to_owned(),
                why: why.to_owned(),
            };
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| bad("write name=value"))?;
            let every = || {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("a whole number above 0"))
            };
            match name {
                "drop_final" => f.drop_final = Some(every()?),
                "duplicate" => f.duplicate = Some(every()?),
                "disconnect" => f.disconnect = Some(every()?),
                "rate_limit" => f.rate_limit = Some(every()?),
                "ban" => f.ban = Some(every()?),
                "stall" => {
                    let (at, d) = value
                        .split_once(':')
                        .ok_or_else(|| bad("write stall=BAR:SECONDSs"))?;
                    let at = at.parse().map_err(|_| bad("the bar is a whole number"))?;
                    let secs: f64 = d
                        .trim_end_matches('s')
                        .parse()
                        .ok()
                        .filter(|s: &f64| *s >= 0.0 && *s <= 3600.0)
                        .ok_or_else(|| bad("seconds from 0 to 3600, e.g. 2s"))?;
                    f.stall = Some((at, Duration::from_secs_f64(secs)));
                }
                "rest_down" => {
                    let (a, b) = value
                        .split_once('-')
                        .ok_or_else(|| bad("REST call numbers, e.g. 3-12"))?;
                    let (a, b): (u64, u64) = (
                        a.parse().map_err(|_| bad("REST call numbers, e.g. 3-12"))?,
                        b.parse().map_err(|_| bad("REST call numbers, e.g. 3-12"))?,
                    );
                    if a > b {
                        return Err(bad("the range runs backwards"));
                    }
                    f.rest_down = Some((a, b));
                }
                "gap" => {
                    let (a, b) = value.split_once('-').unwrap_or((value, value));
                    let (a, b): (usize, usize) = (
                        a.parse().map_err(|_| bad("bar indices, e.g. 300-305"))?,
                        b.parse().map_err(|_| bad("bar indices, e.g. 300-305"))?,
                    );
                    if a > b {
                        return Err(bad("the range runs backwards"));
                    }
                    f.gaps.push((a, b));
                }
                _ => return Err(bad("unknown fault")),
            }
        }
        Ok(f)
    }

    /// Whether bar `i` is hidden everywhere.
    pub fn hidden(&self, i: usize) -> bool {
        self.gaps.iter().any(|&(a, b)| (a..=b).contains(&i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_and_mistakes_are_named() {
        let f = Faults::parse("drop_final=7, duplicate=5,stall=10:1.5s,gap=3-4,gap=9").ok();
        assert_eq!(
            f,
            Some(Faults {
                drop_final: Some(7),
                duplicate: Some(5),
                stall: Some((10, Duration::from_millis(1500))),
                gaps: vec![(3, 4), (9, 9)],
                ..Faults::default()
            })
        );
        for (bad, says) in [
            ("drop_final=0", "above 0"),
            ("nope=1", "unknown fault"),
            ("gap=5-3", "backwards"),
            ("stall=1", "stall=BAR"),
            ("duplicate", "name=value"),
        ] {
            let e = Faults::parse(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains(says) && e.contains(bad.split(',').next().unwrap_or("")),
                "{bad}: {e}"
            );
        }
    }
}
