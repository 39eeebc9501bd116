//! A retry budget, after tower's `TpsBudget`: retries may add at most `ratio` of recent
//! first attempts, plus a small floor, so a failure burst cannot multiply upstream traffic.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::time::Duration;

use crate::clock::Millis;

/// Shared by every request of one client or server.
#[derive(Debug)]
pub struct RetryBudget {
    ttl_ms: Millis,
    floor: f64,
    ratio: f64,
    // (second, first attempts, retries)
    slots: Mutex<VecDeque<(Millis, u64, u64)>>,
}

impl Default for RetryBudget {
    /// 10 s memory, 20 % extra traffic, at least 1 retry a second.
    fn default() -> Self {
        Self::new(Duration::from_secs(10), 1, 0.2)
    }
}

impl RetryBudget {
    /// `ttl`: how long deposits count; `min_per_sec`: retries always allowed per second;
    /// `ratio`: retries allowed per first attempt (0.2 = 20 %).
    pub fn new(ttl: Duration, min_per_sec: u32, ratio: f64) -> Self {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1000);
        Self {
            ttl_ms,
            floor: f64::from(min_per_sec) * (ttl_ms as f64 / 1000.0),
            ratio,
            slots: Mutex::new(VecDeque::new()),
        }
    }

    fn slot(slots: &mut VecDeque<(Millis, u64, u64)>, ttl: Millis, now: Millis) -> usize {
        let sec = now.div_euclid(1000);
        while slots.front().is_some_and(|s| s.0 <= sec - ttl / 1000) {
            slots.pop_front();
        }
        if slots.back().is_none_or(|s| s.0 != sec) {
            slots.push_back((sec, 0, 0));
        }
        slots.len() - 1
    }

    /// Records a first attempt.
    pub fn deposit(&self, now: Millis) {
        let mut slots = self.slots.lock();
        let i = Self::slot(&mut slots, self.ttl_ms, now);
        slots[i].1 += 1;
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn withdraw(&self, now: Millis) -> bool {
        let mut slots = self.slots.lock();
        let i = Self::slot(&mut slots, self.ttl_ms, now);
        let (deposits, retries) = slots
            .iter()
            .fold((0u64, 0u64), |(d, r), s| (d + s.1, r + s.2));
        if (retries as f64) < self.floor + self.ratio * deposits as f64 {
            slots[i].2 += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_capped_by_ratio_plus_floor() {
        let b = RetryBudget::new(Duration::from_secs(10), 1, 0.2);
        for _ in 0..100 {
            b.deposit(0);
        }
        // floor 10 + 20 % of 100 = 30 retries.
        let allowed = (0..100).filter(|_| b.withdraw(500)).count();
        assert_eq!(allowed, 30);
    }

    #[test]
    fn the_budget_refills_as_time_passes() {
        let b = RetryBudget::new(Duration::from_secs(10), 1, 0.0);
        let first = (0..50).filter(|_| b.withdraw(0)).count();
        assert_eq!(first, 10);
        assert!(!b.withdraw(9_999));
        assert!(b.withdraw(10_000));
    }
}
