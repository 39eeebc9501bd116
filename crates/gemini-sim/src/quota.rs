//! The simulator's own quota book: requests and input tokens over a rolling simulated minute and
//! requests per simulated Pacific day, per (project, model), on a clock that can run faster than
//! real time.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::America::Los_Angeles;
use tokio::time::Instant;

use crate::config::LimitConfig;
use crate::format::Limit;

/// Simulated time: starts at the real time, runs `scale` times faster.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    start_real: Instant,
    start_ms: i64,
    scale: f64,
}

impl SimClock {
    /// A clock starting at `start_ms` (Unix ms) now.
    pub fn new(start_ms: i64, scale: f64) -> Self {
        Self {
            start_real: Instant::now(),
            start_ms,
            scale,
        }
    }

    /// Simulated Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        let real = self.start_real.elapsed().as_secs_f64() * 1000.0;
        #[expect(
            clippy::cast_possible_truncation,
            reason = "simulated milliseconds stay far below i64::MAX"
        )]
        let elapsed = (real * self.scale) as i64;
        self.start_ms + elapsed
    }

    /// The scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

fn pacific_day_end(ms: i64) -> i64 {
    let utc = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    let day = utc.with_timezone(&Los_Angeles).date_naive();
    day.succ_opt()
        .and_then(|d| {
            Los_Angeles
                .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
                .earliest()
        })
        .map_or(ms + 86_400_000, |t| t.timestamp_millis())
}

#[derive(Debug, Default)]
struct Book {
    log: VecDeque<(i64, u64)>,
    tokens: u64,
    day_count: u64,
    day_end: i64,
}

/// A refusal: which limit, its value, and the simulated seconds until it frees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exceeded {
    /// The limit.
    pub limit: Limit,
    /// Its value.
    pub value: u64,
    /// Simulated seconds until a retry can pass.
    pub retry_secs: f64,
}

/// Every bucket.
#[derive(Debug, Default)]
pub struct Quotas {
    books: HashMap<(String, String), Book>,
}

impl Quotas {
    /// Counts a request of `tokens` input tokens if the limits allow it.
    ///
    /// # Errors
    /// [`Exceeded`] naming the binding limit.
    pub fn admit(
        &mut self,
        project: &str,
        model: &str,
        limits: Option<LimitConfig>,
        tokens: u64,
        now: i64,
    ) -> Result<(), Exceeded> {
        let book = self
            .books
            .entry((project.to_owned(), model.to_owned()))
            .or_default();
        while book.log.front().is_some_and(|(t, _)| *t <= now - 60_000) {
            if let Some((_, n)) = book.log.pop_front() {
                book.tokens -= n;
            }
        }
        if now >= book.day_end {
            book.day_count = 0;
            book.day_end = pacific_day_end(now);
        }
        if let Some(l) = limits {
            let secs = |t: i64| (t - now).max(1) as f64 / 1000.0;
            if let Some(rpd) = l.rpd
                && book.day_count >= rpd
            {
                return Err(Exceeded {
                    limit: Limit::Rpd,
                    value: rpd,
                    retry_secs: secs(book.day_end),
                });
            }
            if let Some(rpm) = l.rpm
                && book.log.len() as u64 >= rpm
            {
                let idx = usize::try_from(book.log.len() as u64 - rpm).unwrap_or(0);
                let at = book.log.get(idx).map_or(now, |e| e.0) + 60_000;
                return Err(Exceeded {
                    limit: Limit::Rpm,
                    value: rpm,
                    retry_secs: secs(at),
                });
            }
            if let Some(tpm) = l.tpm
                && book.tokens + tokens > tpm
            {
                let excess = book.tokens + tokens - tpm;
                let mut freed = 0;
                let mut at = now + 60_000;
                for (t, n) in &book.log {
                    freed += n;
                    if freed >= excess {
                        at = t + 60_000;
                        break;
                    }
                }
                return Err(Exceeded {
                    limit: Limit::Tpm,
                    value: tpm,
                    retry_secs: secs(at),
                });
            }
        }
        book.log.push_back((now, tokens));
        book.tokens += tokens;
        book.day_count += 1;
        Ok(())
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.books.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_then_tpm_then_rpd() {
        let mut q = Quotas::default();
        let l = Some(LimitConfig {
            rpm: Some(2),
            tpm: Some(100),
            rpd: Some(3),
        });
        let t0 = 1_768_478_400_000; // 2026-01-15T12:00:00Z
        q.admit("p", "m", l, 10, t0).unwrap();
        q.admit("p", "m", l, 10, t0 + 1000).unwrap();
        let e = q.admit("p", "m", l, 10, t0 + 2000).unwrap_err();
        assert_eq!((e.limit, e.value), (Limit::Rpm, 2));
        assert!((e.retry_secs - 58.0).abs() < 1e-9);
        let e = q.admit("p", "m", l, 95, t0 + 60_000).unwrap_err();
        assert_eq!(e.limit, Limit::Tpm);
        q.admit("p", "m", l, 10, t0 + 60_000).unwrap();
        let e = q.admit("p", "m", l, 10, t0 + 200_000).unwrap_err();
        assert_eq!(e.limit, Limit::Rpd);
        // other projects are unaffected
        q.admit("q", "m", l, 10, t0 + 2000).unwrap();
    }
}
