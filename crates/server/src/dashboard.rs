//! What an operator sees (DESIGN.md §7): the dashboard page at `/` (the charting library
//! inlined: it requests nothing but its own gateway's data), and `GET /v1/keys/activity`, the
//! last hour minute by minute per key and for the gateway — every gateway's sums when the pool
//! shares its state in Redis, this process's own otherwise.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use keypool::activity::{FIELDS, GATEWAY, Hour};

use crate::state::Gateway;

/// How long reading the shared sums may take before the page gets this process's own.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// The page: `dashboard.html` with the charting library in place of its marker.
fn html() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| {
        include_str!("dashboard.html").replace(
            "<!-- lightweight-charts -->",
            &format!("<script>{}</script>", webassets::LIGHTWEIGHT_CHARTS_JS),
        )
    })
}

/// `GET /`: the dashboard page (static: it fetches its data with the token from the fragment).
pub(crate) async fn page() -> Response {
    let mut r = html().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; form-action 'self'",
        ),
    );
    r
}

/// One row's counts as `{field: [per minute]}`.
fn series(counts: &[keypool::activity::Counts]) -> Value {
    let mut m = Map::new();
    for (i, field) in FIELDS.iter().enumerate() {
        m.insert(
            (*field).to_owned(),
            counts.iter().map(|c| c.field(i)).collect::<Vec<_>>().into(),
        );
    }
    Value::Object(m)
}

/// The JSON of an hour: each key with its project and model, then the gateway's row.
fn document(g: &Gateway, hour: &Hour, shared: bool, note: Option<&str>) -> Value {
    let pool = g.client.pool();
    let health = pool.health().ok();
    let about = |key_id: &str| {
        health
            .as_ref()
            .and_then(|h| h.keys.iter().find(|k| k.key_id == key_id))
            .map_or((Value::Null, Value::Null), |k| {
                (json!(k.project), json!(k.model))
            })
    };
    let mut keys = Vec::new();
    let mut gateway = Value::Null;
    for (name, counts) in &hour.rows {
        if name == GATEWAY {
            gateway = series(counts);
            continue;
        }
        let (project, model) = about(name);
        keys.push(json!({
            "key_id": name,
            "project": project,
            "model": model,
            "counts": series(counts),
        }));
    }
    json!({
        "shared": shared,
        "note": note,
        "minutes": hour.minutes,
        "fields": FIELDS,
        "keys": keys,
        "gateway": gateway,
    })
}

/// `GET /v1/keys/activity` (client token).
pub(crate) async fn activity(State(g): State<Arc<Gateway>>) -> Response {
    let pool = g.client.pool();
    let log = pool.activity();
    let now = pool.clock().now_ms();
    let store = pool.store();
    if !store.shares_activity() {
        return axum::Json(document(&g, &log.local(), false, None)).into_response();
    }
    // Counts not yet flushed go first, so this process's newest requests show too.
    let _ = store.flush_activity(log).await;
    let read = tokio::time::timeout(READ_TIMEOUT, store.read_activity(log, now)).await;
    let doc = match read {
        Ok(Ok(hour)) => document(&g, &hour, true, None),
        Ok(Err(e)) => document(
            &g,
            &log.local(),
            false,
            Some(&format!("this gateway's own counts: {e}")),
        ),
        Err(_) => document(
            &g,
            &log.local(),
            false,
            Some("this gateway's own counts: Redis did not answer within 2 s"),
        ),
    };
    axum::Json(doc).into_response()
}

/// Adds this process's counts to the shared sums every `every` (when the pool shares its state).
pub async fn flush_activity_periodically(g: Arc<Gateway>, every: Duration) {
    let store = g.client.pool().store();
    if !store.shares_activity() {
        return;
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = store.flush_activity(g.client.pool().activity()).await {
            tracing::warn!(error = %e, "could not add this gateway's activity to the shared sums; kept for the next flush");
        }
    }
}
