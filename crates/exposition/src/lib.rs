//! Metrics exposition shared by the gateway and paper runs: a `prometheus-client` registry as
//! OpenMetrics text when the scraper's `Accept` names `application/openmetrics-text`, else as
//! Prometheus' text format 0.0.4.

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

/// OpenMetrics' content type.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Prometheus' text format's content type.
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `registry` in the format `accept` asks for; the text and its content type.
pub fn negotiate(registry: &Registry, accept: Option<&str>) -> (String, &'static str) {
    let mut open = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut open, registry);
    format(open, accept)
}

/// OpenMetrics text `open` in the format `accept` asks for; the text and its content type.
pub fn format(open: String, accept: Option<&str>) -> (String, &'static str) {
    if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
        (open, OPENMETRICS)
    } else {
        (prometheus_text(&open), PROMETHEUS)
    }
}

/// OpenMetrics text as Prometheus' text format 0.0.4: a counter's `# TYPE` and `# HELP` name
/// its samples' `_total` name, and the `# UNIT` and `# EOF` lines go.
pub fn prometheus_text(open: &str) -> String {
    let counters: Vec<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len());
    for line in open.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# TYPE ", "# HELP "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    #[test]
    fn counters_are_named_by_their_samples_and_openmetrics_is_kept_when_asked() {
        let mut r = Registry::default();
        let c: Counter = Counter::default();
        c.inc_by(3);
        r.register("botforge_x", "Things", c);
        let (text, ty) = negotiate(&r, None);
        assert_eq!(ty, PROMETHEUS);
        assert!(text.contains("# TYPE botforge_x_total counter"), "{text}");
        assert!(text.contains("botforge_x_total 3"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
        let (open, ty) = negotiate(&r, Some("application/openmetrics-text;version=1.0.0"));
        assert_eq!(ty, OPENMETRICS);
        assert!(
            open.contains("# TYPE botforge_x counter") && open.ends_with("# EOF\n"),
            "{open}"
        );
    }
}
