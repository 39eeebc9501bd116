//! Script replies read with checks: a short or odd reply (a Redis-compatible proxy, a script of
//! another version) is an error, never a panic.

use redis::Value;

use crate::error::StoreError;
use crate::limits::Limits;
use crate::window::{CooldownReason, LimitKind};

/// A limit as a script argument: -1 when unknown.
pub(super) fn limit_arg(v: Option<u64>) -> i64 {
    v.and_then(|v| i64::try_from(v).ok()).unwrap_or(-1)
}

/// Learned limits from three script values (-1: none).
pub(super) fn learned_of(values: &[Value]) -> Limits {
    let at = |i: usize| {
        values
            .get(i)
            .map(int)
            .and_then(|v| u64::try_from(v).ok())
            .filter(|&v| v >= 1)
    };
    Limits {
        rpm: at(0),
        tpm: at(1),
        rpd: at(2),
    }
}

pub(super) fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        Value::SimpleString(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

/// A script's reply, read item by item with a length check: a short or odd reply (a
/// Redis-compatible proxy, a script of another version) is an error, never a panic.
pub(super) struct Reply {
    pub(super) items: Vec<Value>,
    pub(super) op: &'static str,
}

impl Reply {
    pub(super) fn of(v: Value, op: &'static str) -> Result<Self, StoreError> {
        Ok(Reply {
            items: items(v, op)?,
            op,
        })
    }

    pub(super) fn get(&self, i: usize) -> Result<&Value, StoreError> {
        self.items.get(i).ok_or_else(|| StoreError::Redis {
            op: self.op,
            message: format!(
                "unexpected script reply: {} items where item {} was expected",
                self.items.len(),
                i + 1
            ),
        })
    }

    pub(super) fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.get(i).map(int)
    }

    pub(super) fn text(&self, i: usize) -> Result<String, StoreError> {
        self.get(i).map(text)
    }
}

pub(super) fn items(v: Value, op: &'static str) -> Result<Vec<Value>, StoreError> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(StoreError::Redis {
            op,
            message: format!("unexpected script reply {other:?}"),
        }),
    }
}

pub(super) fn kind_of(s: &str) -> LimitKind {
    match s {
        "rpm" => LimitKind::Rpm,
        "tpm" => LimitKind::Tpm,
        "rpd" => LimitKind::Rpd,
        _ => LimitKind::Cooldown,
    }
}

pub(super) fn reason_of(s: &str) -> Option<CooldownReason> {
    match s {
        "rate_limited" => Some(CooldownReason::RateLimited),
        "quota_exhausted" => Some(CooldownReason::QuotaExhausted),
        "errors" => Some(CooldownReason::Errors),
        _ => None,
    }
}

pub(super) fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
