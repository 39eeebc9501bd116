//! Vendored browser libraries embedded in the pages botforge writes (`--report`) and serves
//! (the gateway's dashboard), so every page works offline and requests nothing.
//!
//! Each library is an npm package at a pinned version, copied unchanged with its licence by
//! `vendor/update.sh` (which checks the registry's integrity hash); a test here checks that the
//! embedded file is still that one.

/// `TradingView` Lightweight Charts™ (Apache-2.0), the standalone build: defines the global
/// `LightweightCharts`.
pub const LIGHTWEIGHT_CHARTS_JS: &str =
    include_str!("../vendor/lightweight-charts/lightweight-charts.standalone.production.js");

/// Its npm version.
pub const LIGHTWEIGHT_CHARTS_VERSION: &str = "5.2.1";

/// Its attribution notice, which pages that embed it carry (with the library's own logo link).
pub const LIGHTWEIGHT_CHARTS_NOTICE: &str = "TradingView Lightweight Charts™ \
    Copyright (c) 2023 TradingView, Inc. https://www.tradingview.com/ (Apache License 2.0)";

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;

    #[test]
    fn the_embedded_library_is_the_pinned_npm_file() {
        let digest = Sha256::digest(LIGHTWEIGHT_CHARTS_JS.as_bytes());
        let hex = digest.iter().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        });
        assert_eq!(
            hex,
            "e21cc5caa0226ef30bd8549c50b9ef926615f2a4ee6b4e486353477a55f598cf"
        );
        assert!(LIGHTWEIGHT_CHARTS_JS.contains(&format!("v{LIGHTWEIGHT_CHARTS_VERSION}")));
    }

    #[test]
    fn the_library_cannot_close_the_script_element_that_holds_it() {
        for bad in ["</script", "<!--"] {
            assert!(!LIGHTWEIGHT_CHARTS_JS.to_ascii_lowercase().contains(bad));
        }
    }
}
