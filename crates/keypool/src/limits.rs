//! Quota numbers: declared in `keys.json`, learned from Google's 429s, or unknown (DESIGN.md
//! §3.1). Google no longer publishes limits (they vary by tier, spend and model), so nothing is
//! built in: a limit nobody declared is not enforced until a 429 teaches it.

use serde::Serialize;

/// The three limits Gemini enforces per (project, model); `None` is unknown (not enforced).
/// A known limit is at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Limits {
    /// Requests in any rolling 60 s window.
    pub rpm: Option<u64>,
    /// Input (prompt) tokens in any rolling 60 s window.
    pub tpm: Option<u64>,
    /// Requests per Pacific calendar day (reset at 00:00 `America/Los_Angeles`).
    pub rpd: Option<u64>,
}

/// The smaller of two limits, where unknown is no limit.
fn tighter(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) | (None, x) => x,
    }
}

impl Limits {
    /// No limit known.
    pub const UNKNOWN: Limits = Limits {
        rpm: None,
        tpm: None,
        rpd: None,
    };

    /// All three known.
    pub const fn new(rpm: u64, tpm: u64, rpd: u64) -> Limits {
        Limits {
            rpm: Some(rpm),
            tpm: Some(tpm),
            rpd: Some(rpd),
        }
    }

    /// The element-wise tighter limit: keys of one project that declare different limits for
    /// one model share the smallest, and a learned limit lowers a declared one.
    #[must_use]
    pub fn min(self, other: Limits) -> Limits {
        Limits {
            rpm: tighter(self.rpm, other.rpm),
            tpm: tighter(self.tpm, other.tpm),
            rpd: tighter(self.rpd, other.rpd),
        }
    }

    /// `other`'s known values in place of ours (what a newer 429 says replaces what an older
    /// one said).
    #[must_use]
    pub fn updated_by(self, other: Limits) -> Limits {
        Limits {
            rpm: other.rpm.or(self.rpm),
            tpm: other.tpm.or(self.tpm),
            rpd: other.rpd.or(self.rpd),
        }
    }

    /// Whether no limit is known.
    pub fn is_unknown(&self) -> bool {
        *self == Limits::UNKNOWN
    }
}

/// Where a limit in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// `keys.json`.
    Declared,
    /// A 429's `quotaValue` (lower than any declared one).
    Learned,
    /// Nobody said: not enforced.
    Unknown,
}

impl LimitSource {
    /// The label in tables and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitSource::Declared => "declared",
            LimitSource::Learned => "learned",
            LimitSource::Unknown => "unknown",
        }
    }

    /// The source of one limit in force, from the declared and learned values.
    pub fn of(declared: Option<u64>, learned: Option<u64>) -> LimitSource {
        match (declared, learned) {
            (Some(d), Some(l)) if l < d => LimitSource::Learned,
            (Some(_), _) => LimitSource::Declared,
            (None, Some(_)) => LimitSource::Learned,
            (None, None) => LimitSource::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_is_elementwise_and_unknown_is_no_limit() {
        let a = Limits::new(10, 500, 9);
        let b = Limits::new(20, 100, 3);
        assert_eq!(a.min(b), Limits::new(10, 100, 3));
        let partial = Limits {
            rpm: Some(4),
            ..Limits::UNKNOWN
        };
        assert_eq!(partial.min(a), Limits::new(4, 500, 9));
        assert_eq!(Limits::UNKNOWN.min(Limits::UNKNOWN), Limits::UNKNOWN);
    }

    #[test]
    fn a_newer_answer_replaces_what_an_older_one_taught() {
        let old = Limits::new(10, 500, 9);
        let new = Limits {
            tpm: Some(900),
            ..Limits::UNKNOWN
        };
        assert_eq!(old.updated_by(new), Limits::new(10, 900, 9));
    }

    #[test]
    fn a_limit_says_where_it_comes_from() {
        assert_eq!(LimitSource::of(Some(10), None), LimitSource::Declared);
        assert_eq!(LimitSource::of(Some(10), Some(20)), LimitSource::Declared);
        assert_eq!(LimitSource::of(Some(10), Some(5)), LimitSource::Learned);
        assert_eq!(LimitSource::of(None, Some(5)), LimitSource::Learned);
        assert_eq!(LimitSource::of(None, None), LimitSource::Unknown);
    }
}
