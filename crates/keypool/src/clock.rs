//! Injected time.
//!
//! The pool never reads the wall clock directly: limits, cooldowns and the daily reset are computed
//! from a [`Clock`], so tests move time with [`ManualClock::advance`] instead of sleeping, and the
//! Redis backend can use the server's clock.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::America::Los_Angeles;

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// The future returned by [`Clock::sleep`] (boxed so that `dyn Clock` works).
pub type Sleep = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of time for the pool.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> Millis;

    /// Waits `duration`. A manual clock advances itself instead, so waiting tests stay instant.
    fn sleep(&self, duration: Duration) -> Sleep;

    /// Completes when `duration` has passed, without moving the clock: the overall deadline of a
    /// call in flight, a store's timeout, the period of a background job. A manual clock moves
    /// only when told, so on it a deadline passes when the clock is moved past it.
    fn deadline(&self, duration: Duration) -> Sleep {
        self.sleep(duration)
    }
}

/// The real clock: `SystemTime` for the date, `tokio::time::sleep` for waits.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "SystemClock is the one place that reads the wall clock"
    )]
    fn now_ms(&self) -> Millis {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that only moves when told to (tests, simulations). Clones share one time.
///
/// [`Clock::sleep`] moves it by the time slept (a waiting test stays instant);
/// [`Clock::deadline`] waits until something moves it past the deadline (a timeout, or a
/// background job's period, passes exactly when the test says so).
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<tokio::sync::watch::Sender<Millis>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(0)
    }
}

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn new(now_ms: Millis) -> Self {
        Self {
            now: Arc::new(tokio::sync::watch::Sender::new(now_ms)),
        }
    }

    /// A clock standing at an RFC 3339 instant, e.g. `"2026-03-08T12:00:00Z"`.
    ///
    /// # Errors
    /// When `rfc3339` is not a valid RFC 3339 date-time.
    pub fn at(rfc3339: &str) -> Result<Self, chrono::ParseError> {
        let t = DateTime::parse_from_rfc3339(rfc3339)?;
        Ok(Self::new(t.timestamp_millis()))
    }

    /// Moves time forward by `duration`; deadlines it passes complete.
    pub fn advance(&self, duration: Duration) {
        let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        self.now.send_modify(|now| *now = now.saturating_add(ms));
    }

    /// Sets the time; deadlines it passes complete.
    pub fn set(&self, now_ms: Millis) {
        self.now.send_replace(now_ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        *self.now.borrow()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        self.advance(duration);
        Box::pin(std::future::ready(()))
    }

    fn deadline(&self, duration: Duration) -> Sleep {
        let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        let at = self.now_ms().saturating_add(ms);
        // The future keeps the clock alive: it completes only by the clock passing `at`.
        let clock = Arc::clone(&self.now);
        let mut moved = clock.subscribe();
        Box::pin(async move {
            let _ = moved.wait_for(|now| *now >= at).await;
            drop(clock);
        })
    }
}

/// A clock that runs `scale` times faster than real time from the moment it is made: for
/// simulations against a time-scaled Gemini simulator, where a "minute" passes in a second.
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    start_ms: Millis,
    start: tokio::time::Instant,
    scale: f64,
}

impl ScaledClock {
    /// Starts at the wall-clock time, running `scale` times faster (`scale` > 0).
    pub fn new(scale: f64) -> Self {
        Self::since(SystemClock.now_ms(), scale)
    }

    /// The clock that started at wall-clock `anchor_ms` running `scale` times faster: clocks
    /// of several processes made from one anchor read the same time.
    pub fn since(anchor_ms: Millis, scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_precision_loss,
            reason = "scaled milliseconds stay far below 2^53"
        )]
        let start_ms =
            anchor_ms + ((SystemClock.now_ms() - anchor_ms) as f64 * scale).round() as i64;
        Self {
            start_ms,
            start: tokio::time::Instant::now(),
            scale,
        }
    }
}

impl Clock for ScaledClock {
    fn now_ms(&self) -> Millis {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "scaled milliseconds stay far below i64::MAX"
        )]
        let elapsed = (self.start.elapsed().as_secs_f64() * 1000.0 * self.scale) as i64;
        self.start_ms + elapsed
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration.div_f64(self.scale)))
    }
}

/// The Pacific calendar day (days since 1970-01-01 in `America/Los_Angeles`) that `now` falls in.
/// Gemini's requests-per-day quota resets when this changes.
pub fn pacific_day(now: Millis) -> i64 {
    let utc = DateTime::<Utc>::from_timestamp_millis(now).unwrap_or_default();
    let local = utc.with_timezone(&Los_Angeles).date_naive();
    local
        .signed_duration_since(chrono::NaiveDate::default())
        .num_days()
}

/// The next 00:00 `America/Los_Angeles` strictly after `now`, DST included.
pub fn next_pacific_midnight(now: Millis) -> Millis {
    let utc = DateTime::<Utc>::from_timestamp_millis(now).unwrap_or_default();
    let today = utc.with_timezone(&Los_Angeles).date_naive();
    let Some(tomorrow) = today.succ_opt() else {
        return Millis::MAX;
    };
    // Midnight exists on every Los Angeles date (DST switches at 02:00), so `earliest` is the
    // one instant; the fallback only guards a tz database that says otherwise.
    Los_Angeles
        .from_local_datetime(&tomorrow.and_time(NaiveTime::MIN))
        .earliest()
        .map_or(now + 86_400_000, |t| t.timestamp_millis())
}

/// Formats milliseconds since the epoch as RFC 3339 UTC, for health output.
pub fn to_rfc3339(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Millis {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn pacific_midnight_in_standard_time_is_08_utc() {
        assert_eq!(
            next_pacific_midnight(ms("2026-01-15T12:00:00Z")),
            ms("2026-01-16T08:00:00Z")
        );
    }

    #[test]
    fn pacific_midnight_in_daylight_time_is_07_utc() {
        assert_eq!(
            next_pacific_midnight(ms("2026-07-15T12:00:00Z")),
            ms("2026-07-16T07:00:00Z")
        );
    }

    #[test]
    fn pacific_midnight_across_spring_forward() {
        // 2026-03-08 02:00 PST jumps to 03:00 PDT: the day after is 23 h long.
        assert_eq!(
            next_pacific_midnight(ms("2026-03-08T09:00:00Z")),
            ms("2026-03-09T07:00:00Z")
        );
        assert_eq!(
            next_pacific_midnight(ms("2026-03-07T20:00:00Z")),
            ms("2026-03-08T08:00:00Z")
        );
    }

    #[test]
    fn pacific_midnight_across_fall_back() {
        // 2026-11-01 02:00 PDT falls back to 01:00 PST: a 25 h day.
        assert_eq!(
            next_pacific_midnight(ms("2026-11-01T07:30:00Z")),
            ms("2026-11-02T08:00:00Z")
        );
    }

    #[test]
    fn exactly_at_midnight_means_the_next_one() {
        let m = ms("2026-01-16T08:00:00Z");
        assert_eq!(next_pacific_midnight(m), ms("2026-01-17T08:00:00Z"));
        assert_eq!(pacific_day(m), pacific_day(m - 1) + 1);
    }

    #[tokio::test]
    async fn a_manual_deadline_passes_when_the_clock_is_moved_past_it() {
        let c = ManualClock::new(1_000);
        let mut deadline = c.deadline(Duration::from_millis(300));
        let mut waker = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(deadline.as_mut().poll(&mut waker).is_pending());
        c.advance(Duration::from_millis(299));
        assert!(
            deadline.as_mut().poll(&mut waker).is_pending(),
            "1 ms early"
        );
        c.advance(Duration::from_millis(1));
        assert!(deadline.as_mut().poll(&mut waker).is_ready(), "at 1_300");
        // Setting the time past a deadline passes it too; waiting does not move the clock.
        let later = c.deadline(Duration::from_secs(60));
        c.set(62_000);
        later.await;
        assert_eq!(c.now_ms(), 62_000);
    }

    #[test]
    fn scaled_clocks_from_one_anchor_agree() {
        let anchor = SystemClock.now_ms() - 1_000;
        let (a, b) = (
            ScaledClock::since(anchor, 60.0),
            ScaledClock::since(anchor, 60.0),
        );
        // A second of wall clock since the anchor is a minute on both.
        let (ta, tb) = (a.now_ms(), b.now_ms());
        assert!((ta - tb).abs() < 1_000, "{ta} vs {tb}");
        assert!(ta - anchor >= 60_000, "{}", ta - anchor);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance(Duration::from_millis(500));
        assert_eq!(c.clone().now_ms(), 1_500);
    }
}
