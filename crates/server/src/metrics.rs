//! `/metrics` in Prometheus' text format: gateway requests by route and status, upstream
//! latency and the gateway's own overhead, tokens, and each key's state, cooldown and usage
//! (read from the pool at scrape time, so other processes sharing Redis show too).

use std::sync::atomic::AtomicU64;

use keypool::HealthSnapshot;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

// Per-request label sets without allocation (a `Vec` of `String`s per request showed in
// profiles under load).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: &'static str,
}
type FloatGauge = Gauge<f64, AtomicU64>;

/// The gateway's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    tokens: Family<Labels, Counter>,
    upstream: Family<Route, Histogram>,
    overhead: Family<Route, Histogram>,
    key_state: Family<Labels, Gauge>,
    key_cooldown: Family<Labels, FloatGauge>,
    key_calls: Family<Labels, Counter>,
    bucket_used: Family<Labels, Gauge>,
    bucket_limit: Family<Labels, Gauge>,
    degraded: Family<Labels, Gauge>,
    /// The dashboard's minute counts, where each answer is also added.
    activity: Option<std::sync::Arc<keypool::activity::ActivityLog>>,
}

// A named fn, as the family's constructor must be `Fn() -> Histogram`.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
}

fn overhead() -> Histogram {
    Histogram::new(exponential_buckets(0.000_005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("botforge");
        let requests = Family::<RouteStatus, Counter>::default();
        let tokens = Family::<Labels, Counter>::default();
        let upstream =
            Family::<Route, Histogram>::new_with_constructor(latency as fn() -> Histogram);
        let overhead_h =
            Family::<Route, Histogram>::new_with_constructor(overhead as fn() -> Histogram);
        let key_state = Family::<Labels, Gauge>::default();
        let key_cooldown = Family::<Labels, FloatGauge>::default();
        let key_calls = Family::<Labels, Counter>::default();
        let bucket_used = Family::<Labels, Gauge>::default();
        let bucket_limit = Family::<Labels, Gauge>::default();
        let degraded = Family::<Labels, Gauge>::default();
        registry.register(
            "gateway_requests",
            "Requests answered by the gateway, by route and HTTP status",
            requests.clone(),
        );
        registry.register(
            "tokens",
            "Tokens reported by upstream (usageMetadata), by model and kind (prompt, output)",
            tokens.clone(),
        );
        registry.register(
            "upstream_latency_seconds",
            "Time spent waiting for upstream (all attempts, to the first byte for streams)",
            upstream.clone(),
        );
        registry.register(
            "gateway_overhead_seconds",
            "Time the gateway adds: the whole request minus the upstream wait",
            overhead_h.clone(),
        );
        registry.register(
            "key_state",
            "1 for each key's current state (active, cooling_down, half_open, disabled)",
            key_state.clone(),
        );
        registry.register(
            "key_cooldown_remaining_seconds",
            "Seconds until a cooling key may be tried again",
            key_cooldown.clone(),
        );
        registry.register(
            "key_calls",
            "Upstream calls per key by result (success, error), as the pool counted them",
            key_calls.clone(),
        );
        registry.register(
            "bucket_used",
            "What a (project, model) bucket used: requests this minute (rpm), input tokens this minute (tpm), requests today (rpd)",
            bucket_used.clone(),
        );
        registry.register(
            "bucket_limit",
            "A (project, model) bucket's limit, with where it comes from (declared or learned); absent while unknown",
            bucket_limit.clone(),
        );
        registry.register(
            "state_degraded",
            "1 for each project whose limits run on this process's local shares because the shared state (Redis, or its cluster master) cannot be reached",
            degraded.clone(),
        );
        Self {
            registry,
            requests,
            tokens,
            upstream,
            overhead: overhead_h,
            key_state,
            key_cooldown,
            key_calls,
            bucket_used,
            bucket_limit,
            degraded,
            activity: None,
        }
    }

    /// Also counts each answer, and the time the gateway added, in `log` (the dashboard's
    /// charts).
    #[must_use]
    pub fn with_activity(mut self, log: std::sync::Arc<keypool::activity::ActivityLog>) -> Self {
        self.activity = Some(log);
        self
    }

    /// One answered request.
    pub fn request(&self, route: &'static str, status: u16, upstream_s: f64, total_s: f64) {
        self.requests
            .get_or_create(&RouteStatus { route, status })
            .inc();
        if upstream_s > 0.0 {
            self.upstream
                .get_or_create(&Route { route })
                .observe(upstream_s);
        }
        let added = (total_s - upstream_s).max(0.0);
        self.overhead.get_or_create(&Route { route }).observe(added);
        if let Some(log) = &self.activity {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "non-negative microseconds of one request"
            )]
            log.answered(status, (added * 1e6).round() as u64);
        }
    }

    /// Tokens from a response's usage.
    pub fn tokens(&self, model: &str, prompt: u64, output: u64) {
        for (kind, n) in [("prompt", prompt), ("output", output)] {
            if n > 0 {
                self.tokens
                    .get_or_create(&vec![
                        ("model", model.to_owned()),
                        ("kind", kind.to_owned()),
                    ])
                    .inc_by(n);
            }
        }
    }

    /// The exposition in the format a scraper's `Accept` asks for: OpenMetrics when it names
    /// `application/openmetrics-text`, else Prometheus' text format 0.0.4. Returns the text and
    /// its content type.
    pub fn exposition(
        &self,
        health: Option<&HealthSnapshot>,
        accept: Option<&str>,
    ) -> (String, &'static str) {
        exposition::format(self.render(health), accept)
    }

    /// The OpenMetrics text exposition, with each key's rows refreshed from `health`.
    pub fn render(&self, health: Option<&HealthSnapshot>) -> String {
        if let Some(h) = health {
            self.key_state.clear();
            self.key_cooldown.clear();
            self.key_calls.clear();
            self.bucket_used.clear();
            self.bucket_limit.clear();
            self.degraded.clear();
            for project in &h.degraded_projects {
                self.degraded
                    .get_or_create(&vec![("project", project.clone())])
                    .set(1);
            }
            for k in &h.keys {
                let key = || vec![("key_id", k.key_id.clone()), ("model", k.model.clone())];
                let mut labels = key();
                labels.push(("state", k.state.as_str().to_owned()));
                self.key_state.get_or_create(&labels).set(1);
                self.key_cooldown
                    .get_or_create(&key())
                    .set(if k.in_cooldown {
                        k.cooldown_remaining_s
                    } else {
                        0.0
                    });
                for (result, n) in [("success", k.success_count), ("error", k.error_count)] {
                    let mut l = key();
                    l.push(("result", result.to_owned()));
                    // Cleared above: the fresh counter holds exactly the pool's count.
                    self.key_calls.get_or_create(&l).inc_by(n);
                }
                // The key's (project, model) bucket: keys of one project share it.
                let bucket = |window: &str| {
                    vec![
                        ("project", k.project.clone()),
                        ("model", k.model.clone()),
                        ("window", window.to_owned()),
                    ]
                };
                for (window, used, limit, source) in [
                    ("rpm", k.rpm_used, k.rpm_limit, k.rpm_limit_source),
                    ("tpm", k.tpm_used, k.tpm_limit, k.tpm_limit_source),
                    ("rpd", k.rpd_used, k.rpd_limit, k.rpd_limit_source),
                ] {
                    self.bucket_used
                        .get_or_create(&bucket(window))
                        .set(i64::try_from(used).unwrap_or(i64::MAX));
                    // An unknown limit is absent, never a made-up number.
                    if let Some(limit) = limit {
                        let mut l = bucket(window);
                        l.push(("source", source.as_str().to_owned()));
                        self.bucket_limit
                            .get_or_create(&l)
                            .set(i64::try_from(limit).unwrap_or(i64::MAX));
                    }
                }
            }
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use keypool::HealthSnapshot;

    use super::Metrics;

    fn snapshot(degraded: &[&str]) -> HealthSnapshot {
        HealthSnapshot {
            at: "2026-12-04T00:00:00Z".to_owned(),
            rotation: true,
            backend: "redis cluster (partly degraded: local shares for the projects of an unavailable master)",
            degraded_projects: degraded.iter().map(|p| (*p).to_owned()).collect(),
            keys: Vec::new(),
        }
    }

    #[test]
    fn each_degraded_project_is_a_gauge_until_it_is_shared_again() {
        let m = Metrics::new();
        let out = m.render(Some(&snapshot(&["p", "q"])));
        assert!(
            out.contains(r#"botforge_state_degraded{project="p"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(r#"botforge_state_degraded{project="q"} 1"#),
            "{out}"
        );
        let out = m.render(Some(&snapshot(&["q"])));
        assert!(!out.contains(r#"project="p""#), "p is shared again: {out}");
        assert!(
            out.contains(r#"botforge_state_degraded{project="q"} 1"#),
            "{out}"
        );
    }
}
