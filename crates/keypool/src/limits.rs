//! Quota numbers and the defaults of each model family.

use serde::Serialize;

/// The three limits Gemini enforces per (project, model). All are at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Requests in any rolling 60 s window.
    pub rpm: u64,
    /// Input (prompt) tokens in any rolling 60 s window.
    pub tpm: u64,
    /// Requests per Pacific calendar day (reset at 00:00 `America/Los_Angeles`).
    pub rpd: u64,
}

impl Limits {
    /// The element-wise minimum: keys of one project that declare different limits for one model
    /// share the smallest.
    #[must_use]
    pub fn min(self, other: Limits) -> Limits {
        Limits {
            rpm: self.rpm.min(other.rpm),
            tpm: self.tpm.min(other.tpm),
            rpd: self.rpd.min(other.rpd),
        }
    }
}

/// A model family, recognised from a key id or a model name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `gemini-2.5-pro` and other `pro` models.
    Pro,
    /// `gemini-2.5-flash-lite` and other `lite` models.
    FlashLite,
    /// `gemini-2.5-flash`, the default.
    Flash,
}

impl Family {
    /// Recognises the family from a key id (`flash_01`, `pro-2`, `lite_a`) or a model name.
    /// Anything else is `Flash`, the most widely available family.
    pub fn detect(text: &str) -> Family {
        let lower = text.to_ascii_lowercase();
        if lower.contains("lite") {
            Family::FlashLite
        } else if lower.contains("pro") {
            Family::Pro
        } else {
            Family::Flash
        }
    }

    /// The model a key of this family serves when `keys.json` does not say.
    pub fn default_model(self) -> &'static str {
        match self {
            Family::Pro => "gemini-2.5-pro",
            Family::FlashLite => "gemini-2.5-flash-lite",
            Family::Flash => "gemini-2.5-flash",
        }
    }

    /// Conservative defaults: the free tier's published limits (mid-2025), so an unconfigured key
    /// never draws 429s. Paid tiers set their real numbers in `keys.json`.
    pub fn default_limits(self) -> Limits {
        match self {
            Family::Pro => Limits {
                rpm: 5,
                tpm: 250_000,
                rpd: 100,
            },
            Family::FlashLite => Limits {
                rpm: 15,
                tpm: 250_000,
                rpd: 1_000,
            },
            Family::Flash => Limits {
                rpm: 10,
                tpm: 250_000,
                rpd: 250,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_comes_from_the_id() {
        assert_eq!(Family::detect("flash_01"), Family::Flash);
        assert_eq!(Family::detect("PRO_main"), Family::Pro);
        assert_eq!(Family::detect("flash_lite_1"), Family::FlashLite);
        assert_eq!(Family::detect("k1"), Family::Flash);
        assert_eq!(Family::detect("pro_7").default_model(), "gemini-2.5-pro");
    }

    #[test]
    fn min_is_elementwise() {
        let a = Limits {
            rpm: 10,
            tpm: 500,
            rpd: 9,
        };
        let b = Limits {
            rpm: 20,
            tpm: 100,
            rpd: 3,
        };
        assert_eq!(
            a.min(b),
            Limits {
                rpm: 10,
                tpm: 100,
                rpd: 3
            }
        );
    }
}
