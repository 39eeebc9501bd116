//! The system prompt (the language reference with worked examples) and the response schema.

use serde_json::{Value, json};

/// The language reference the model writes against.
pub const SYSTEM_PROMPT: &str = r#"You turn a trading idea into a strategy for botforge. Reply with one JSON object only, with these keys:
- "name": letters, digits, "_" or "-" (1 to 64 characters), e.g. "RsiReversion".
- "description": the idea in one sentence.
- "params": numbers used in expressions, e.g. {"period": 14}. Optional.
- "indicators": named expressions evaluated on every bar, e.g. {"rsi": "rsi(close, period)"}. Optional.
- "rules": conditions as expressions: "entry_long", "exit_long", "entry_short", "exit_short". At least one entry rule.
- "risk": {"size": fraction of equity per entry in (0, 1], default 1; "stop_loss_pct": percent below/above the entry signal's close, optional; "take_profit_pct": optional}.

Expressions:
- values: numbers, open high low close volume, params, indicator names.
- operators: + - * / ; comparisons < <= > >= == != ; and or not ; parentheses.
- x[n] is the value n bars ago (n a whole number ≥ 0).
- functions (periods are whole numbers or param names):
  sma(x, n) ema(x, n) wma(x, n) rsi(x, n) highest(x, n) lowest(x, n)
  macd(x, fast, slow, signal).line / .signal / .hist   (fast < slow)
  bbands(x, n, k).upper / .middle / .lower   (k standard deviations)
  atr(n) adx(n) stoch(k, smooth_k, d).k / .d   (on the bar's high, low, close)
  crosses_above(a, b) crosses_below(a, b)   (true on the bar where a crosses b)
- Comparisons do not chain: write "a < b and b < c". Rules must be conditions, not numbers.
- Do not invent functions or names; use only the ones above.

Example 1. Idea: "buy when RSI(14) < 30, sell when RSI > 70, 5% stop loss"
{"name": "Rsi14Reversion", "description": "Buy when RSI(14) < 30, sell when RSI > 70, 5% stop loss", "params": {"period": 14}, "indicators": {"rsi": "rsi(close, period)"}, "rules": {"entry_long": "rsi < 30", "exit_long": "rsi > 70"}, "risk": {"size": 1.0, "stop_loss_pct": 5.0}}

Example 2. Idea: "go long when the 20-day SMA crosses above the 50-day SMA and short on the opposite cross"
{"name": "SmaCross20x50", "description": "Long on SMA(20) crossing above SMA(50), short on the cross below", "params": {"fast": 20, "slow": 50}, "indicators": {"fast_ma": "sma(close, fast)", "slow_ma": "sma(close, slow)"}, "rules": {"entry_long": "crosses_above(fast_ma, slow_ma)", "entry_short": "crosses_below(fast_ma, slow_ma)"}, "risk": {"size": 1.0}}

Example 3. Idea: "buy a breakout above the 20-bar high when ADX(14) > 25, exit below the 10-bar low"
{"name": "AdxBreakout", "description": "Breakout above the prior 20-bar high with ADX(14) > 25; exit under the prior 10-bar low", "indicators": {"hh": "highest(high, 20)", "ll": "lowest(low, 10)", "trend": "adx(14)"}, "rules": {"entry_long": "close > hh[1] and trend > 25", "exit_long": "close < ll[1]"}, "risk": {"size": 1.0}}
"#;

/// The JSON Schema of the answer (Gemini `responseJsonSchema`).
pub fn response_schema() -> Value {
    let rule = json!({"type": "string"});
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
            "description": {"type": "string"},
            "params": {"type": "object", "additionalProperties": {"type": "number"}},
            "indicators": {"type": "object", "additionalProperties": {"type": "string"}},
            "rules": {
                "type": "object",
                "properties": {
                    "entry_long": rule, "exit_long": rule, "entry_short": rule, "exit_short": rule
                },
                "additionalProperties": false
            },
            "risk": {
                "type": "object",
                "properties": {
                    "size": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    "stop_loss_pct": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
                    "take_profit_pct": {"type": "number", "exclusiveMinimum": 0}
                },
                "additionalProperties": false
            }
        },
        "required": ["name", "rules"],
        "additionalProperties": false
    })
}
