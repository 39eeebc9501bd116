//! A data file (any format `backtest` reads) played as a live feed: one closed bar every
//! `1 / speed` seconds, or as fast as taken with no speed.

use std::path::Path;
use std::time::Duration;

use backtest::{Bars, LoadOptions};
use tokio::time::Instant;

use crate::{Event, Feed, FeedError, Kline, Source};

/// A file's bars as a feed.
#[derive(Debug)]
pub struct ReplayFeed {
    bars: Bars,
    next: usize,
    warmup: usize,
    period: Option<Duration>,
    due: Option<Instant>,
}

impl ReplayFeed {
    /// Plays `bars`: the first `warmup` are warm-up bars; `speed` bars a second (`None`: no
    /// waiting). With `after`, the bars up to it (a resumed run's) are skipped.
    pub fn new(bars: Bars, warmup: usize, speed: Option<f64>, after: Option<i64>) -> ReplayFeed {
        let next = after.map_or(0, |a| bars.epoch_ms.partition_point(|&t| t <= a));
        ReplayFeed {
            period: speed
                .filter(|s| *s > 0.0 && s.is_finite())
                .map(|s| Duration::from_secs_f64(1.0 / s)),
            bars,
            next,
            warmup,
            due: None,
        }
    }

    /// Loads `file` and plays it (see [`ReplayFeed::new`]).
    ///
    /// # Errors
    /// [`FeedError::Data`] naming the file.
    pub fn open(
        file: &Path,
        load: &LoadOptions,
        warmup: usize,
        speed: Option<f64>,
        after: Option<i64>,
    ) -> Result<ReplayFeed, FeedError> {
        let (bars, _) = backtest::load(file, load)?;
        Ok(ReplayFeed::new(bars, warmup, speed, after))
    }

    /// The bars' own interval: the smallest step between two open times (none for one bar).
    fn step_ms(&self) -> Option<i64> {
        self.bars.epoch_ms.windows(2).map(|w| w[1] - w[0]).min()
    }

    /// The open time of the first bar after the warm-up (`live_from`).
    pub fn live_from(&self) -> Option<i64> {
        self.bars.epoch_ms.get(self.warmup).copied()
    }

    fn kline(&self, i: usize) -> Kline {
        let step = self.step_ms().unwrap_or(0);
        let num = |v: f64| format!("{v}");
        let open_ms = self.bars.epoch_ms[i];
        Kline {
            open_ms,
            close_ms: open_ms + step - 1,
            open: num(self.bars.open[i]),
            high: num(self.bars.high[i]),
            low: num(self.bars.low[i]),
            close: num(self.bars.close[i]),
            volume: num(self.bars.volume[i]),
        }
    }
}

impl Feed for ReplayFeed {
    async fn next(&mut self) -> Result<Event, FeedError> {
        if self.next >= self.bars.len() {
            return Ok(Event::End);
        }
        if let Some(p) = self.period {
            let due = *self.due.get_or_insert_with(Instant::now);
            tokio::time::sleep_until(due).await;
            self.due = Some(due + p);
        }
        let i = self.next;
        self.next += 1;
        Ok(Event::Bar {
            kline: self.kline(i),
            source: Source::File,
            warmup: i < self.warmup,
        })
    }
}
