//! The system prompt (the language reference with worked examples) and the response schema.

use serde_json::{Value, json};

/// The language reference the model writes against.
pub const SYSTEM_PROMPT: &str = r#"You turn a trading idea into a strategy for botforge. Reply with one JSON object only, with these keys:
- "name": letters, digits, "_" or "-" (1 to 64 characters), e.g. "RsiReversion".
- "description": the idea in one sentence.
- "timeframe": the bar timeframe the idea names ("on 5-minute candles" = "5m", "daily chart" = "1d", "4h"), one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 1w. Optional: leave it out when the idea names none.
- "params": numbers used in expressions, e.g. {"period": 14}. Optional.
- "indicators": named expressions evaluated on every bar, e.g. {"rsi": "rsi(close, period)"}. Optional.
- "rules": conditions as expressions: "entry_long", "exit_long", "entry_short", "exit_short". At least one entry rule.
- "risk": sizing, stops and exits (all optional):
  - sizing, at most one of: "size" (fraction of equity per entry in (0, 1], default 1), "units" (a whole number of units), "risk_pct" (percent of equity lost if the stop is hit; needs a stop for each side that enters).
  - "stop_loss_pct" / "take_profit_pct": percent below/above the entry signal's close.
  - "stop_loss_long", "stop_loss_short", "take_profit_long", "take_profit_short": price expressions valued on the signal bar, e.g. "close - 2 * atr(14)" (instead of the _pct form). A long's stop is below close and its target above; a short's the other way.
  - "trailing_stop_pct": a stop trailing each close by this percent; or "trailing_stop_long" / "trailing_stop_short": price expressions valued at every close (the stop only moves in the trade's favour), e.g. "close - 3 * atr(14)".
  - "trailing_from": "high" makes "trailing_stop_pct" trail the highest high since entry (the lowest low for shorts) instead of each close; "trailing_offset_pct": the trailing stop starts moving only once the trade is this many percent in profit (freqtrade's trailing_stop_positive_offset).
  - "roi": freqtrade's minimal_roi as a stepping take-profit, a list of [age in bars, percent] pairs with ages increasing, e.g. [[0, 4.0], [30, 2.0], [60, 0.0]] (4 % at once, 2 % after 30 bars, break-even after 60); "roi_unit": "minutes" counts ages in minutes instead of bars. Not with "take_profit_pct".
  - "pyramiding": up to this many open trades in one direction (an entry while holding adds a trade; size each with "size" below 1); exits close them all, stops apply to each.
  - "stop_from": "fill" measures "stop_loss_pct" / "take_profit_pct" from the trade's fill price instead of the signal bar's close.
  - "max_size": with "risk_pct", cap an entry at this fraction of equity instead of placing nothing when the stop is very close.
  - "max_bars": close a trade after this many bars; "fractional_unit": trade in multiples of this fraction of a unit (e.g. 0.0001 for crypto).
- "unsupported": a list of short texts naming what the idea asks for that this language cannot say (e.g. "options", "news sentiment", "a second symbol"). Leave it empty when the whole idea fits. Never drop part of an idea silently: name it here.
- "approximations": a list of short texts naming what you changed to make the idea fit (e.g. "Keltner channel written as ema(close, 20) ± 2 * atr(10)"). Empty when nothing was changed.
- "portfolio": several symbols, one cash account (optional; the symbols are the data files' names): "rank" a number expression (entries filling at one time go highest first), "max_positions" (an entry beyond that many open positions is skipped), "trade" (the symbols that trade; the others are data only), "rebalance" ("W", "W-FRI", "ME", "QE", "YE") with "top": N (on the last bar of each period hold the N highest-ranked symbols whose entry_long holds; needs rank; long only).
- "orders": how entries fill (optional): "entry_long_stop" / "entry_long_limit" / "entry_short_stop" / "entry_short_limit" are price expressions valued on the signal bar (a buy stop above the price, a buy limit below it; both for a stop-limit); "valid_bars": bars an unfilled entry order waits (default 1); "fill": "next_open" (default) or "close" (fill market orders at the signal bar's close); "reverse": "on_fill" makes an opposite entry order close the open trade only when it fills, at its price (TradingView's strategy.entry reversal; default "next_open" closes at the next open first); "oca": true lets the long and the short entry orders wait together, the first to fill cancelling the other (needs a stop or limit price for both).

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
  abs(x) min(a, b) max(a, b) if(cond, a, b) sum(x, n) count(cond, n) bars_since(cond) valuewhen(cond, x)
  stddev(x, n) roc(x, n) mom(x, n) cmo(x, n) linearreg(x, n)
  cci(n) willr(n) mfi(n) obv() ad() adosc(fast, slow) natr(n) trange() plus_di(n) minus_di(n) sar(accel, max) aroon(n).up / .down supertrend(n, mult).line / .direction (-1 in an uptrend) vwap() (session VWAP, restarts each day)   (on the bar's own data)
  candlestick patterns, TA-Lib's values (+100 bullish, -100 bearish, 0 none; engulfing and harami give ±80 for a weaker form): engulfing() hammer() shooting_star() doji() harami() morning_star() evening_star() three_white_soldiers() three_black_crows(), e.g. "engulfing() > 0"
- bar time fields: hour minute weekday (Monday = 0) month day year, e.g. "hour >= 9 and hour < 16".
- tf("RULE", x): x computed on bars resampled to a higher timeframe ("1min", "5min", "15min", "30min", "h", "4h", "D", "W", "W-FRI", "ME"), each bar seeing the latest finished one, e.g. "close > tf('W-FRI', sma(close, 10))"; the rule must be longer than the data's bars (no tf('D', …) on daily data). Inside tf use prices, params and functions (not indicator names).
- on("SYM", x): x computed on another symbol's bars (a portfolio's file named SYM), each bar seeing SYM's latest bar at or before its time, e.g. "on('SPY', close > sma(close, 200))". Inside on use prices, params, functions and tf (not indicator names, not position state).
- position state, in rules, risk and orders only (not in indicators, not inside a look-back function or x[n]; inside if, min, max and abs it may stand): position (1 long, -1 short, 0 flat), entry_price, bars_in_trade, open_pnl_pct (the open trade's profit in percent), at_entry(x) (x on the bar that placed the open trade's entry, e.g. "entry_price - 2 * at_entry(atr(14))"); missing while flat. A stop or target reading position state is re-valued at every close of the trade.
- Comparisons do not chain: write "a < b and b < c". Rules must be conditions, not numbers.

Conventions (the offline compiler reads descriptions the same way):
- Periods left out: RSI 14, MACD 12/26/9, Bollinger 20/2, stochastic 14/3/3, ATR 14, ADX 14, CCI 20, Williams %R 14, MFI 14, ROC 10, SAR 0.02/0.2. "N-day", "N-bar", "N-period" all mean N bars. "moving average" / "MA" without a kind is an SMA.
- "the 200" after an average was named = that kind of average over 200 bars ("above the 200-day EMA … below the 50" = ema(close, 50)); with none named it cannot be written: put it in "unsupported". An indicator named again without settings after two different settings were given ("the 200-day SMA … the 5-day SMA … below the SMA") is ambiguous: put it in "unsupported". A stop with no unit ("stop loss 10") and a bare percent with no sizing word ("…, 10%") are not guessed either.
- "ADX is 25 or greater" = adx(14) >= 25 ("or less" <=); "the oversold level 30", "the lower threshold (30)" are the number; "%K < 20 (oversold)" restates the level; "sell entry" / "bear entry" = entry_short, "bull entry" = entry_long; "the previous RSI" = rsi(close, 14)[1]; "98% of the lower band" = 0.98 * the band; "a 55-day high breakout" = close > highest(high, 55)[1]; "MACD crosses bullish" = its line crossing above its signal; "the supertrend turns up" = crosses_below(supertrend(10, 3).direction, 0); "a 20-day breakout" = close > highest(high, 20)[1]; "stop at 2N, where N is the 20-day ATR" = stop_loss_long "close - 2 * atr(20)"; "on the previous candle CCI was below -100" = cci(20)[1] < -100; "sell once the price is up 2%" = take_profit_pct 2; "RSI(10) of hl2" = rsi((high + low) / 2, 10); "the basis line" = the Bollinger middle band; "FMA = simple moving average of length 400 … low <= FMA" names an indicator for later words; "when there is no position" = "position == 0", "when in a position" = "position != 0"; "else, if B" after "if A" = B and not A; "(filled at close)" = fill "close"; "Close > MA(10) > MA(20)" = close > sma(close, 10) and sma(close, 10) > sma(close, 20); "RSI was below 60 three days ago" = rsi(close, 14)[3] < 60; "RSI is down for the third day in a row" = count(rsi(close, 14) < rsi(close, 14)[1], 3) == 3.
- indicators botforge does not compute (stochastic RSI, TEMA, DEMA, Hull, KAMA, TRIX, PPO, RVOL, VWMA, ALMA, ZLEMA, Fisher transform, Heikin-Ashi, TTM, KST, TSI): name them in "unsupported", never read a stochastic or a symbol in their place.
- "golden cross" = crosses_above(sma(close, 50), sma(close, 200)); "death cross" the reverse.
- "breaks above the N-day high" / "new N-day high" = close > highest(high, N)[1]; lows mirror it with lowest(low, N)[1].
- "touches the lower band" = low <= band; "touches the upper band" = high >= band; "closes above X" / "price above X" = close > X.
- "oversold"/"overbought": RSI < 30 / > 70; stochastic %K < 20 / > 80; Williams %R < -80 / > -20; CCI < -100 / > 100; MFI < 20 / > 80.
- "crosses back above" is a cross; "turns positive/negative" is a cross of 0; "leaves oversold" is a cross of the oversold level. "drops below", "falls under", "rises above", "climbs over", "goes above", "breaks above" compare (<, >); they are not crosses.
- "X% below Y" = close < Y * (1 - X/100); "N down days in a row" = count(close < close[1], N) == N; "sell at the upper band" = high >= upper band; "a new N-day high" = close > highest(high, N)[1]; "K standard deviations above the N-day mean" = close > sma(close, N) + K * stddev(close, N); "twice X" = 2 * X.
- targets in R (multiples of the stop distance): "2% stop, target 3R" = stop_loss_pct 2, take_profit_pct 6; "2 ATR stop, 2:1 reward to risk" = stop_loss_long "close - 2 * atr(14)", take_profit_long "close + 2 * (2 * atr(14))"; a stop at a level L and "target 2R" = take_profit_long "close + 2 * (close - L)"; R without a stop cannot be written.
- entry orders in words: "buy stop at the 20-day high" = orders.entry_long_stop "highest(high, 20)[1]" with entry_long "close > 0" when no condition is said; "buy with a limit order at the lower Bollinger band" = entry_long_limit; "one cancels the other" = orders.oca true.
- a stepping target: "take 4% profit at once, 2% after 30 minutes, break even after an hour" = roi [[0, 4.0], [30, 2.0], [60, 0.0]] with roi_unit "minutes" (ages said in bars: roi_unit "bars").
- from the entry: "5% stop below the entry price" = stop_loss_pct 5 with stop_from "fill"; "stop 2 ATR from the fill" = stop_loss_long "entry_price - at_entry(2 * atr(14))"; "3% trailing stop from the highest high once 5% up" = trailing_stop_pct 3, trailing_from "high", trailing_offset_pct 5; "add up to 3 times" = pyramiding 4 (the first entry and 3 adds); "reverse when the opposite order fills" = orders.reverse "on_fill".
- levels reached: "exit at RSI 65" = "rsi(close, 14) >= 65" (a long's exit or a short's entry is reached from below), "buy at RSI 30" = "rsi(close, 14) <= 30" (a long's entry or a short's exit from above).
- bar patterns: inside bar = "high < high[1] and low > low[1]"; outside bar = "high > high[1] and low < low[1]"; gap up = "open > high[1]"; gap down = "open < low[1]"; higher high = "high > high[1]"; lower low = "low < low[1]".
- time filters: "between 9 and 16" = hour >= 9 and hour < 16; "between 9:30 and 16:00" = hour * 60 + minute >= 570 and hour < 16; "on Mondays" = weekday == 0.
- stops and targets in ATRs: "2 ATR stop" = stop_loss_long "close - 2 * atr(14)"; "3 ATR trailing stop" = trailing_stop_long "close - 3 * atr(14)"; "exit after N bars" = max_bars; "exit after N days" = max_bars N on daily bars (or with no timeframe said: note in "approximations" that it counts bars); with an intraday "timeframe" do not guess the bars in a day (24 per day of 1h bars around the clock, 6.5 in a stock session): put it in "unsupported" asking for the count in bars.
- "buy"/"go long" = entry_long; "sell"/"exit" while only longs are traded = exit_long; "short" = entry_short; "cover" = exit_short.
- "use/invest N% of the account" = size; "risk N% per trade" = risk_pct and needs a stop.
- several symbols sharing one account (only when the idea names several symbols, a market filter on another symbol or a rotation): "only when SPY is above its 200-day average" = "on('SPY', close > sma(close, 200))" in entry_long; "hold the top 3 by 3-month momentum, rebalance monthly" = "portfolio": {"rank": "roc(close, 63)", "rebalance": "ME", "top": 3} with entry_long as the filter (e.g. "close > sma(close, 200)", or "close > 0" for none); "at most 5 positions" = "max_positions": 5; "trade only AAPL and MSFT" = "trade": ["AAPL", "MSFT"]; "rank by" = "rank".
Idioms for indicators without a function of their own (write them exactly like this):
- Donchian channel (default 20): highest(high, n)[1] and lowest(low, n)[1] (the previous n bars); its middle (highest(high, n)[1] + lowest(low, n)[1]) / 2.
- Keltner channel (defaults 20, 2, 10): ema(close, n) + k * atr(m) and ema(close, n) - k * atr(m); its middle ema(close, n).
- z-score (default 20): (close - sma(close, n)) / stddev(close, n).
- Bollinger %b (20, 2): (close - bbands(close, 20, 2).lower) / (bbands(close, 20, 2).upper - bbands(close, 20, 2).lower); bandwidth: (bbands(close, 20, 2).upper - bbands(close, 20, 2).lower) / bbands(close, 20, 2).middle.
- awesome oscillator: sma((high + low) / 2, 5) - sma((high + low) / 2, 34).
- Chaikin money flow (20): sum(if(high > low, (close - low - (high - close)) / (high - low) * volume, 0), 20) / sum(volume, 20).
- Ichimoku: tenkan (conversion line) (highest(high, 9) + lowest(low, 9)) / 2; kijun (base line) the same over 26; senkou span A ((tenkan + kijun) / 2)[25]; senkou span B ((highest(high, 52) + lowest(low, 52)) / 2)[25] (TradingView's cloud at this bar).
- Heikin-Ashi candles cannot be written (their open depends on every earlier bar): list them in "unsupported".
- percent change over n bars: roc(close, n); momentum: mom(close, n).
- Do not invent functions or names; use only the ones above.

Example 1. Idea: "buy when RSI(14) < 30, sell when RSI > 70, 5% stop loss"
{"name": "Rsi14Reversion", "description": "Buy when RSI(14) < 30, sell when RSI > 70, 5% stop loss", "params": {"period": 14}, "indicators": {"rsi": "rsi(close, period)"}, "rules": {"entry_long": "rsi < 30", "exit_long": "rsi > 70"}, "risk": {"size": 1.0, "stop_loss_pct": 5.0}}

Example 2. Idea: "go long when the 20-day SMA crosses above the 50-day SMA and short on the opposite cross"
{"name": "SmaCross20x50", "description": "Long on SMA(20) crossing above SMA(50), short on the cross below", "params": {"fast": 20, "slow": 50}, "indicators": {"fast_ma": "sma(close, fast)", "slow_ma": "sma(close, slow)"}, "rules": {"entry_long": "crosses_above(fast_ma, slow_ma)", "entry_short": "crosses_below(fast_ma, slow_ma)"}, "risk": {"size": 1.0}}

Example 3. Idea: "buy a breakout above the 20-bar high when ADX(14) > 25, exit below the 10-bar low"
{"name": "AdxBreakout", "description": "Breakout above the prior 20-bar high with ADX(14) > 25; exit under the prior 10-bar low", "indicators": {"hh": "highest(high, 20)", "ll": "lowest(low, 10)", "trend": "adx(14)"}, "rules": {"entry_long": "close > hh[1] and trend > 25", "exit_long": "close < ll[1]"}, "risk": {"size": 1.0}}

Example 4. Idea: "buy stop at the 20-day high when price is above its 50-day average, risk 1% per trade with a 2 ATR stop, trail 3 ATR, give the order 5 days"
{"name": "AtrBreakout", "description": "Buy stop at the 20-day high above SMA(50); risk 1% with a 2 ATR stop, 3 ATR trailing stop", "indicators": {"hh": "highest(high, 20)", "atr": "atr(14)"}, "rules": {"entry_long": "close > sma(close, 50)"}, "risk": {"risk_pct": 1.0, "stop_loss_long": "close - 2 * atr", "trailing_stop_long": "close - 3 * atr"}, "orders": {"entry_long_stop": "hh", "valid_bars": 5}}

Example 5. Idea: "Connors RSI-2: buy when RSI(2) < 10 above the 200-day SMA, sell after 5 days or when up 3%"
{"name": "ConnorsRsi2", "description": "Buy RSI(2) < 10 above SMA(200); exit after 5 bars or at +3%", "indicators": {"rsi2": "rsi(close, 2)", "trend": "sma(close, 200)"}, "rules": {"entry_long": "rsi2 < 10 and close > trend", "exit_long": "open_pnl_pct > 3"}, "risk": {"max_bars": 5}}

Example 6. Idea: "hourly: when the daily 20-SMA is rising, buy 100 units with a limit 0.5% under the close, good for 3 bars; take profit at 2 ATR, exit at the close when RSI > 70"
{"name": "DailyTrendPullback", "description": "Limit buy 0.5% under the close while the daily SMA(20) rises; 100 units; target 2 ATR; exit RSI > 70", "indicators": {"daily": "tf('D', sma(close, 20))", "rsi": "rsi(close, 14)"}, "rules": {"entry_long": "daily > daily[24]", "exit_long": "rsi > 70"}, "risk": {"units": 100, "take_profit_long": "close + 2 * atr(14)"}, "orders": {"entry_long_limit": "close * 0.995", "valid_bars": 3, "fill": "close"}}

Example 7. Idea: "bitcoin, long and short on a 10/30 EMA cross with half the account, 8% trailing stop, shorts stopped 5% above entry, trade 0.0001 BTC lots"
{"name": "BtcEmaCross", "description": "EMA(10)/EMA(30) cross long and short, half the equity, 8% trailing stop, short stop 5% above", "indicators": {"fast": "ema(close, 10)", "slow": "ema(close, 30)"}, "rules": {"entry_long": "crosses_above(fast, slow)", "entry_short": "crosses_below(fast, slow)"}, "risk": {"size": 0.5, "trailing_stop_pct": 8.0, "stop_loss_short": "close * 1.05", "fractional_unit": 0.0001}}

Example 8. Idea: "each month end hold the 3 stocks with the best 6-month momentum that are above their 200-day average, 8% stop"
{"name": "MomentumRotation", "description": "Monthly: hold the top 3 by 6-month ROC above their SMA(200); 8% stop", "rules": {"entry_long": "close > sma(close, 200)"}, "risk": {"stop_loss_pct": 8.0}, "portfolio": {"rank": "roc(close, 126)", "rebalance": "ME", "top": 3}}"#;

/// The JSON Schema of the answer (Gemini `responseJsonSchema`).
pub fn response_schema() -> Value {
    let rule = json!({"type": "string"});
    let price = json!({"type": "string"});
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
            "description": {"type": "string"},
            "timeframe": {"type": "string", "enum": ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "1w"]},
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
                    "units": {"type": "integer", "minimum": 1},
                    "risk_pct": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                    "stop_loss_pct": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
                    "take_profit_pct": {"type": "number", "exclusiveMinimum": 0},
                    "stop_loss_long": price, "stop_loss_short": price,
                    "take_profit_long": price, "take_profit_short": price,
                    "trailing_stop_pct": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
                    "trailing_stop_long": price, "trailing_stop_short": price,
                    "trailing_from": {"type": "string", "enum": ["close", "high"]},
                    "trailing_offset_pct": {"type": "number", "minimum": 0},
                    "max_size": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    "roi": {"type": "array", "items": {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 2, "maxItems": 2}},
                    "roi_unit": {"type": "string", "enum": ["bars", "minutes"]},
                    "stop_from": {"type": "string", "enum": ["signal", "fill"]},
                    "pyramiding": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "max_bars": {"type": "integer", "minimum": 1},
                    "fractional_unit": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
                },
                "additionalProperties": false
            },
            "unsupported": {"type": "array", "items": {"type": "string"}},
            "approximations": {"type": "array", "items": {"type": "string"}},
            "orders": {
                "type": "object",
                "properties": {
                    "entry_long_stop": price, "entry_long_limit": price,
                    "entry_short_stop": price, "entry_short_limit": price,
                    "valid_bars": {"type": "integer", "minimum": 1},
                    "fill": {"type": "string", "enum": ["next_open", "close"]},
                    "reverse": {"type": "string", "enum": ["next_open", "on_fill"]},
                    "oca": {"type": "boolean"}
                },
                "additionalProperties": false
            },
            "portfolio": {
                "type": "object",
                "properties": {
                    "rank": price,
                    "max_positions": {"type": "integer", "minimum": 1},
                    "trade": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "rebalance": {"type": "string", "enum": ["W", "W-FRI", "ME", "QE", "YE"]},
                    "top": {"type": "integer", "minimum": 1}
                },
                "additionalProperties": false
            }
        },
        "required": ["name", "rules"],
        "additionalProperties": false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every worked example in the prompt is a valid strategy: the model is never taught
    /// something the validator refuses.
    #[test]
    fn every_example_in_the_prompt_is_valid() {
        let examples: Vec<&str> = SYSTEM_PROMPT
            .lines()
            .filter(|l| l.starts_with("{\"name\""))
            .collect();
        assert_eq!(examples.len(), 8);
        for e in examples {
            if let Err(m) = crate::strategy_from_json(e) {
                panic!("{e}\n{m}");
            }
        }
    }

    /// The reference names every function and bar field the language has.
    #[test]
    fn the_prompt_names_every_function_and_field() {
        for f in strategy::Func::ALL {
            assert!(
                SYSTEM_PROMPT.contains(&format!("{}(", f.name())),
                "the prompt does not explain {}",
                f.name()
            );
        }
        for name in strategy::TIME_FIELDS
            .iter()
            .chain(&strategy::POSITION_NAMES)
        {
            assert!(
                SYSTEM_PROMPT.contains(name),
                "the prompt does not explain {name}"
            );
        }
        assert!(SYSTEM_PROMPT.contains("tf(\"RULE\", x)"));
        assert!(SYSTEM_PROMPT.contains("on(\"SYM\", x)"));
        for f in ["rank", "max_positions", "trade", "rebalance", "top"] {
            assert!(SYSTEM_PROMPT.contains(&format!("\"{f}\"")), "portfolio.{f}");
            assert!(
                response_schema()["properties"]["portfolio"]["properties"][f].is_object(),
                "schema portfolio.{f}"
            );
        }
    }

    /// The schema offers every field of `[risk]` and `[orders]` that a strategy file takes.
    #[test]
    fn the_schema_names_every_risk_and_orders_field() {
        let s = response_schema();
        let fields = |section: &str| -> Vec<String> {
            s["properties"][section]["properties"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let risk = fields("risk");
        for f in [
            "size",
            "units",
            "risk_pct",
            "stop_loss_pct",
            "take_profit_pct",
            "stop_loss_long",
            "stop_loss_short",
            "take_profit_long",
            "take_profit_short",
            "trailing_stop_pct",
            "trailing_stop_long",
            "trailing_stop_short",
            "trailing_from",
            "trailing_offset_pct",
            "max_size",
            "roi",
            "roi_unit",
            "stop_from",
            "pyramiding",
            "max_bars",
            "fractional_unit",
        ] {
            assert!(risk.iter().any(|r| r == f), "risk.{f}");
            assert!(
                SYSTEM_PROMPT.contains(&format!("\"{f}\"")),
                "the prompt explains {f}"
            );
        }
        assert!(
            s["properties"]["timeframe"].is_object() && SYSTEM_PROMPT.contains("\"timeframe\""),
            "the schema and the prompt offer timeframe"
        );
        let orders = fields("orders");
        for f in [
            "entry_long_stop",
            "entry_long_limit",
            "entry_short_stop",
            "entry_short_limit",
            "valid_bars",
            "fill",
            "reverse",
            "oca",
        ] {
            assert!(orders.iter().any(|r| r == f), "orders.{f}");
            assert!(
                SYSTEM_PROMPT.contains(&format!("\"{f}\"")),
                "the prompt explains {f}"
            );
        }
    }
}
