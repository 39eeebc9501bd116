"""backtesting.py 0.6.6's trades and statistics for the engine's §5.2 scenarios (orders, stops,
sizing, position state), written by hand in plain backtesting.py with TA-Lib indicators —
independently of botforge's Python export.

Usage: python engine_reference.py FILE.csv [FILE.csv ...] > reference.json
Output: {"FILE.csv:scenario": {"stats": {...}, "trades": [...]}} for every file and scenario.
Cash 10 000, commission 0.002, trades open at the end left open.

Each strategy's next() does what DESIGN.md §5.2 defines, in this order on every bar's close:
trailing stops (as lib.TrailingStrategy), time exits (max_bars), cancelling an entry order that
waited valid_bars bars, exits, then entries (an entry in the held direction is ignored, an
opposite entry closes first, a new entry replaces a waiting entry order). An entry whose price
levels are missing, not positive, or on the wrong side of the price places nothing.
"""

import json
import math
import pathlib
import sys
import warnings

import pandas as pd
import talib
from backtesting import Backtest, Strategy
from backtesting.lib import FractionalBacktest, crossover, resample_apply
from reference_common import stats_of, trades_of

warnings.filterwarnings("ignore")
FULL = 1 - sys.float_info.epsilon


def ok(p):
    return p is not None and not math.isnan(p) and 0 < p < math.inf


class Base(Strategy):
    units = None          # whole units per entry instead of all equity
    risk_pct = None       # percent of equity lost at the stop
    fraction = None       # fraction of equity
    sl_pct = None
    tp_pct = None
    trail_pct = None
    max_bars = None
    valid_bars = 1
    max_size = None       # caps risk_pct sizing at a fraction of equity
    roi = None            # [(age, percent), ...]: freqtrade's minimal_roi as a stepping target
    roi_minutes = False   # roi ages in minutes of bar time instead of bars
    from_fill = False     # sl_pct / tp_pct measured from the fill, set at the entry bar's close
    pyramiding = 1        # open trades allowed in one direction
    trail_offset = None   # the trail moves once the trade's pl_pct reaches this (percent)
    state_levels = False  # stop and target read position state: exit_levels() at every close

    def init(self):
        self.trail_on = set()
        self.filled = set()
        self.waiting = None
        self.waiting_bar = 0
        self.setup()

    # Per scenario: setup() computes indicators; signals(i) gives the four rules; levels(long, i)
    # gives (sl, tp, stop, limit); trail(long, i) a trailing level or None.
    def levels(self, long, i):
        c = self.data.Close[-1]
        sl = tp = None
        if self.sl_pct:
            sl = c * (1 - self.sl_pct / 100) if long else c * (1 + self.sl_pct / 100)
        if self.tp_pct:
            tp = c * (1 + self.tp_pct / 100) if long else c * (1 - self.tp_pct / 100)
        return sl, tp, None, None

    def trail(self, long, i):
        if self.trail_pct:
            c = self.data.Close[-1]
            return c * (1 - self.trail_pct / 100) if long else c * (1 + self.trail_pct / 100)
        return None

    def trail_for(self, t, i):
        return self.trail(t.is_long, i)

    def placed(self):
        # The bar whose close placed the first open trade's entry (the order's tag).
        return self.trades[0].tag if self.trades else None

    def enter(self, long, i):
        if self.waiting is not None and self.waiting in self.orders:
            self.waiting.cancel()
        self.waiting = None
        sl, tp, stop, limit = self.levels(long, i)
        if any(p is not None and not ok(p) for p in (sl, tp, stop, limit)):
            return
        c = self.data.Close[-1]
        ref = limit if limit is not None else stop if stop is not None else c
        low, high = (sl, tp) if long else (tp, sl)
        if not ((low if low is not None else -math.inf) < ref < (high if high is not None else math.inf)):
            return
        if self.units is not None:
            size = self.units
        elif self.risk_pct is not None:
            dist = abs(c - sl)
            if dist <= 0:
                return
            size = int(self.equity * self.risk_pct / 100 // dist)
            if self.max_size is not None:
                size = min(size, int(self.max_size * self.equity // c))
            if size < 1:
                return
        elif self.fraction is not None and self.fraction < 1:
            size = self.fraction
        else:
            size = FULL
        place = self.buy if long else self.sell
        if self.from_fill:
            sl = None if self.sl_pct else sl
            tp = None if self.tp_pct else tp
        if self.state_levels:
            sl = tp = None
        self.waiting = place(size=size, sl=sl, tp=tp, stop=stop, limit=limit, tag=i)
        self.waiting_bar = i

    def state(self, i):
        if not self.trades:
            return 0.0, math.nan, math.nan, math.nan
        t = self.trades[-1]
        if len(self.trades) > 1:
            # The position: size-weighted entry, bars since the first trade, position.pl_pct.
            size = sum(x.size for x in self.trades)
            cost = sum(x.size * x.entry_price for x in self.trades)
            return (1.0 if t.is_long else -1.0), cost / size, i - self.trades[0].entry_bar, self.position.pl_pct
        return (1.0 if t.is_long else -1.0), t.entry_price, i - t.entry_bar, t.pl_pct * 100

    def next(self):
        i = len(self.data) - 1
        long, short = self.position.is_long, self.position.is_short
        closing = False
        if self.from_fill:
            for t in self.trades:
                if id(t) not in self.filled:
                    self.filled.add(id(t))
                    e = t.entry_price
                    if self.sl_pct:
                        t.sl = e * (1 - self.sl_pct / 100) if t.is_long else e * (1 + self.sl_pct / 100)
                    if self.tp_pct:
                        t.tp = e * (1 + self.tp_pct / 100) if t.is_long else e * (1 - self.tp_pct / 100)
        if self.state_levels:
            # Valued at every close of the trade with the position's state, live from the next bar.
            _, entry, bars, pnl = self.state(i)
            for t in self.trades:
                sl, tp = self.exit_levels(t.is_long, entry, bars, pnl, self.placed())
                if sl is not None and ok(sl):
                    t.sl = sl
                if tp is not None and ok(tp):
                    t.tp = tp
        for t in self.trades:
            if self.trail_offset is not None and id(t) not in self.trail_on:
                if not t.pl_pct * 100 >= self.trail_offset:
                    continue
                self.trail_on.add(id(t))
            level = self.trail_for(t, i)
            if level is not None and ok(level):
                t.sl = max(t.sl or -math.inf, level) if t.is_long else min(t.sl or math.inf, level)
        if self.roi:
            for t in self.trades:
                if self.roi_minutes:
                    age = (self.data.index[-1] - self.data.index[t.entry_bar]).total_seconds() / 60
                else:
                    age = i - t.entry_bar
                steps = [r for k, r in self.roi if k <= age]
                if steps:
                    r = steps[-1]
                    t.tp = t.entry_price * (1 + r / 100) if t.is_long else t.entry_price * (1 - r / 100)
        if self.max_bars is not None:
            for t in self.trades:
                if i - t.entry_bar >= self.max_bars:
                    t.close()
                    closing = True
        if self.waiting is not None and self.waiting in self.orders and i - self.waiting_bar >= self.valid_bars:
            self.waiting.cancel()
            self.waiting = None
        el, xl, es, xs = self.signals(i)
        if (long and xl) or (short and xs):
            if not closing:
                self.position.close()
            closing = True
        adds = len(self.trades) < self.pyramiding
        if el and (not long or (adds and not closing)):
            if short and not closing:
                self.position.close()
            self.enter(True, i)
        elif es and (not short or (adds and not closing)):
            if long and not closing:
                self.position.close()
            self.enter(False, i)


class SmaCross(Base):
    """Long on SMA(fast) crossing above SMA(slow), short on crossing below."""
    periods = (10, 30)

    def setup(self):
        self.fast = self.I(talib.SMA, self.data.Close, self.periods[0])
        self.slow = self.I(talib.SMA, self.data.Close, self.periods[1])

    def signals(self, i):
        return crossover(self.fast, self.slow), False, crossover(self.slow, self.fast), False


class UnitsSma(SmaCross):
    units = 3


class RiskAtr(Base):
    risk_pct = 2.0

    def setup(self):
        self.atr = self.I(talib.ATR, self.data.High, self.data.Low, self.data.Close, 14)
        self.rsi = self.I(talib.RSI, self.data.Close, 14)

    def signals(self, i):
        r = self.rsi[-1]
        return r < 30, r > 70, r > 75, r < 40

    def levels(self, long, i):
        c, a = self.data.Close[-1], self.atr[-1]
        if long:
            return c - 2 * a, c + 4 * a, None, None
        return c + 2 * a, c - 4 * a, None, None


class TrailPct(SmaCross):
    trail_pct = 4.0
    sl_pct = 8.0


class TrailAtr(Base):
    def setup(self):
        self.sma = self.I(talib.SMA, self.data.Close, 20)
        self.atr = self.I(talib.ATR, self.data.High, self.data.Low, self.data.Close, 14)

    def signals(self, i):
        c = self.data.Close
        return crossover(c, self.sma), False, crossover(self.sma, c), False

    def trail(self, long, i):
        c, a = self.data.Close[-1], self.atr[-1]
        return c - 3 * a if long else c + 3 * a


class MaxBars(Base):
    max_bars = 7

    def setup(self):
        self.rsi = self.I(talib.RSI, self.data.Close, 14)

    def signals(self, i):
        r = self.rsi[-1]
        return r < 35, r > 65, r > 70, False


class StopEntry(Base):
    valid_bars = 5
    sl_pct = 5.0

    def setup(self):
        self.hh = self.I(talib.MAX, self.data.High, 10)
        self.ll = self.I(talib.MIN, self.data.Low, 10)
        self.sma = self.I(talib.SMA, self.data.Close, 20)

    def signals(self, i):
        c = self.data.Close
        return crossover(c, self.sma), False, crossover(self.sma, c), False

    def levels(self, long, i):
        sl, tp, _, _ = super().levels(long, i)
        return sl, tp, (self.hh[-1] if long else self.ll[-1]), None


class LimitEntry(Base):
    valid_bars = 3
    tp_pct = 6.0

    def setup(self):
        self.rsi = self.I(talib.RSI, self.data.Close, 14)

    def signals(self, i):
        r = self.rsi[-1]
        return r < 40, r > 60, False, False

    def levels(self, long, i):
        sl, tp, _, _ = super().levels(long, i)
        return sl, tp, None, self.data.Close[-1] * 0.99


class StopLimit(Base):
    valid_bars = 2
    sl_pct = 4.0
    tp_pct = 8.0

    def setup(self):
        self.sma = self.I(talib.SMA, self.data.Close, 20)

    def signals(self, i):
        c = self.data.Close
        return crossover(c, self.sma), False, crossover(self.sma, c), False

    def levels(self, long, i):
        sl, tp, _, _ = super().levels(long, i)
        h, lo = self.data.High[-1], self.data.Low[-1]
        return (sl, tp, h, h * 1.01) if long else (sl, tp, lo, lo * 0.99)


class FillClose(SmaCross):
    sl_pct = 3.0
    max_bars = 20


class PositionState(Base):
    def setup(self):
        self.rsi = self.I(talib.RSI, self.data.Close, 14)

    def signals(self, i):
        position, entry, bars, pnl = self.state(i)
        r, c = self.rsi[-1], self.data.Close[-1]
        return (
            r < 40 and position == 0,
            bars >= 12 or pnl > 6 or c < entry * 0.96,
            r > 70,
            pnl < -3 or bars > 8,
        )


class StateStop(Base):
    """EMA(12/26) crosses risking 1.5 % (at most 90 % of equity) with an initial R from the ATR on the signal bar: the
    stop 2 ATR from the position's entry, the target 4 ATR (a long's falls to 1 % after 10
    bars; a short's is never below half the close)."""
    risk_pct = 1.5
    max_size = 0.9
    state_levels = True

    def setup(self):
        self.fast = self.I(talib.EMA, self.data.Close, 12)
        self.slow = self.I(talib.EMA, self.data.Close, 26)
        self.atr = self.I(talib.ATR, self.data.High, self.data.Low, self.data.Close, 14)

    def signals(self, i):
        return crossover(self.fast, self.slow), False, crossover(self.slow, self.fast), False

    def exit_levels(self, long, entry, bars, pnl, placed):
        a = self.atr[placed]
        c = self.data.Close[-1]
        if long:
            return entry - 2 * a, (entry * 1.01 if bars > 10 else entry + 4 * a)
        return entry + 2 * a, max(entry - 4 * a, c * 0.5)

    def levels(self, long, i):
        # Before the trade: as if it filled at this close.
        sl, tp = self.exit_levels(long, self.data.Close[-1], 0, 0, i)
        return sl, tp, None, None


class StateIf(Base):
    """RSI dips bought with half the equity; out 2 ATR (of the signal bar) below the SMA(20) of
    the signal bar, or 12 % away either way; a stop trailing 2 ATR under the close once 1 % up,
    else the lower of 4 ATR under the close and the signal bar's low."""
    fraction = 0.5

    def setup(self):
        self.rsi = self.I(talib.RSI, self.data.Close, 14)
        self.atr = self.I(talib.ATR, self.data.High, self.data.Low, self.data.Close, 14)
        self.sma = self.I(talib.SMA, self.data.Close, 20)

    def signals(self, i):
        _, _, _, pnl = self.state(i)
        p = self.placed()
        floor = self.sma[p] - 2 * self.atr[p] if p is not None else math.nan
        c = self.data.Close[-1]
        return self.rsi[-1] < 35, bool(c < floor or abs(pnl) > 12), False, False

    def trail_for(self, t, i):
        _, _, _, pnl = self.state(i)
        c, a = self.data.Close[-1], self.atr[-1]
        if pnl > 1:
            return c - 2 * a
        return min(c - 4 * a, self.data.Low[self.placed()])


class ReverseStopUnits(Base):
    """A 20-bar breakout with stop entries in the direction of the SMA(50), 10 units, always in
    the market: the opposite stop, when it fills, closes the trade and opens the new one. With
    units that is backtesting.py's one opposite order of abs(position) + 10 (DESIGN.md §5.4); the
    order is placed for one bar and nothing else closes a trade, so the position at the fill is
    the position at placement."""
    units = 10

    def setup(self):
        self.hh = self.I(talib.MAX, self.data.High, 20)
        self.ll = self.I(talib.MIN, self.data.Low, 20)
        self.sma = self.I(talib.SMA, self.data.Close, 50)

    def signals(self, i):
        c = self.data.Close[-1]
        return c > self.sma[-1], False, c < self.sma[-1], False

    def levels(self, long, i):
        return None, None, (self.hh[-1] if long else self.ll[-1]), None

    def next(self):
        i = len(self.data) - 1
        # An unfilled entry order lives one bar.
        for o in list(self.orders):
            if not o.is_contingent:
                o.cancel()
        el, _, es, _ = self.signals(i)
        pos = self.position.size
        for long, want in ((True, el), (False, es)):
            if not want or (pos != 0 and (pos > 0) == long):
                continue
            _, _, stop, _ = self.levels(long, i)
            if not ok(stop):
                break
            size = abs(pos) + self.units if pos != 0 else self.units
            (self.buy if long else self.sell)(size=size, stop=stop)
            break


class DonchianOca(Base):
    """Always in the market on 10-bar breakouts: flat, a buy stop at the 10-bar high and a sell
    stop at the 10-bar low wait together and the first to fill cancels the other (processed long
    first); in a trade, the opposite stop reverses it when it fills, with half the equity after
    the close at the fill price. Written with a look at the next bar (the test's oracle): which
    stop fills and at what price, so the sizes are set at placement."""
    full = None  # the whole frame, set before the run

    def setup(self):
        self.hh = self.I(talib.MAX, self.data.High, 10)
        self.ll = self.I(talib.MIN, self.data.Low, 10)

    def next(self):
        i = len(self.data) - 1
        if i + 1 >= len(self.full) or math.isnan(self.hh[-1]):
            return
        nxt = self.full.iloc[i + 1]
        o, h, l = nxt["Open"], nxt["High"], nxt["Low"]
        up, down = self.hh[-1], self.ll[-1]
        pos = self.position.size
        c = 0.002
        for long, stop in ((True, up), (False, down)):
            if pos != 0 and (pos > 0) == long:
                continue
            hit = h >= stop if long else l <= stop
            if not hit:
                # It would wait one bar and expire; placing nothing is the same.
                continue
            price = max(o, stop) if long else min(o, stop)
            cash = self._broker._cash
            for t in self.trades:
                cash += (t.size * (price - t.entry_price) - 0) - abs(t.size) * price * c
            n = int(max(0, cash) * 0.5 // (price + (0.5 * price * c) / 0.5))
            if n < 1:
                continue
            (self.buy if long else self.sell)(size=abs(pos) + n, stop=stop)
            # The first to fill cancels the other: it is never placed.
            break


class OcaBreakout(Base):
    """Flat, a buy stop 0.2 % over the close and a sell stop 0.2 % under it wait together for
    one bar, processed long first, and the first to fill cancels the other; a trade closes after
    3 bars; half the equity. Written with a look at the next bar (the test's oracle): only the
    stop that fills first is placed."""
    full = None

    def setup(self):
        pass

    def next(self):
        i = len(self.data) - 1
        for t in self.trades:
            if i - t.entry_bar >= 3:
                t.close()
        if self.trades or i + 1 >= len(self.full):
            return
        nxt = self.full.iloc[i + 1]
        c = self.data.Close[-1]
        up, down = c * 1.002, c * 0.998
        if nxt["High"] >= up:
            self.buy(size=0.5, stop=up)
        elif nxt["Low"] <= down:
            self.sell(size=0.5, stop=down)


class Fractional(SmaCross):
    periods = (5, 15)
    fraction = 0.5
    trail_pct = 10.0


class TfDaily(Base):
    """Close against the daily SMA(5) of the closes, resampled as resample_apply does."""
    def setup(self):
        self.daily = resample_apply("D", talib.SMA, self.data.Close, 5)
        self.rsi = self.I(talib.RSI, self.data.Close, 14)

    def signals(self, i):
        c = self.data.Close
        return crossover(c, self.daily), crossover(self.daily, c), False, False


class Tf4h(Base):
    sl_pct = 2.0

    def setup(self):
        self.h4 = resample_apply("4h", talib.SMA, self.data.Close, 10)
        self.rsi = self.I(talib.RSI, self.data.Close, 14)

    def signals(self, i):
        c, r = self.data.Close[-1], self.rsi[-1]
        return r < 45 and c > self.h4[-1], r > 65, r > 60 and c < self.h4[-1], r < 35


class TfWeekly(Base):
    """Weekly (Friday) SMA(4) of the closes; on daily data resample_apply has no look-ahead."""
    def setup(self):
        self.weekly = resample_apply("W-FRI", talib.SMA, self.data.Close, 4)
        self.highs = resample_apply("ME", talib.MAX, self.data.High, 2)

    def signals(self, i):
        c = self.data.Close
        return crossover(c, self.weekly), False, crossover(self.weekly, c) and c[-1] < self.highs[-1], False


class BoolIndicator(Base):
    """`up = sma(close, 50) > sma(close, 100)`: the two SMAs are what backtesting.py counts."""
    def setup(self):
        self.fast = self.I(talib.SMA, self.data.Close, 50)
        self.slow = self.I(talib.SMA, self.data.Close, 100)
        self.rsi = self.I(talib.RSI, self.data.Close, 14)

    def signals(self, i):
        up = self.fast[-1] > self.slow[-1]
        r = self.rsi[-1]
        return bool(up and r < 45), r > 65, False, False


class LookBack(Base):
    """`not (close[80] > close)`, true while close[80] is missing: the shifted close is a series
    backtesting.py counts, so nothing is decided before bar 80."""
    def setup(self):
        self.fast = self.I(talib.SMA, self.data.Close, 10)
        self.back = self.I(lambda c: pd.Series(c).shift(80).to_numpy(), self.data.Close)

    def signals(self, i):
        c = self.data.Close[-1]
        return bool(not (self.back[-1] > c) and c < self.fast[-1]), c > self.fast[-1] * 1.03, False, False


class MaxSize(Base):
    """risk_pct 5 with a stop half an ATR away would buy more than the account: capped at 50 %."""
    risk_pct = 5.0
    max_size = 0.5

    def setup(self):
        self.atr = self.I(talib.ATR, self.data.High, self.data.Low, self.data.Close, 14)
        self.rsi = self.I(talib.RSI, self.data.Close, 14)

    def signals(self, i):
        r = self.rsi[-1]
        return r < 40, r > 60, False, False

    def levels(self, long, i):
        c, a = self.data.Close[-1], self.atr[-1]
        return c - 0.5 * a, None, None, None


class TrailOffset(SmaCross):
    """A 3 % trailing stop that moves only once the trade is 2 % in profit."""
    trail_pct = 3.0
    trail_offset = 2.0
    sl_pct = 8.0


class TrailHigh(SmaCross):
    """A 4 % trailing stop from the highest high (lowest low) since entry, after 1 % profit."""
    trail_pct = 4.0
    trail_offset = 1.0

    def trail_for(self, t, i):
        if t.is_long:
            return self.data.High[t.entry_bar:].max() * (1 - self.trail_pct / 100)
        return self.data.Low[t.entry_bar:].min() * (1 + self.trail_pct / 100)


class Roi(Base):
    """Long and short on RSI; the target steps down: 6 % at once, 3 % after 5 bars, break-even
    after 12; a 5 % stop."""
    roi = [(0, 6.0), (5, 3.0), (12, 0.0)]
    sl_pct = 5.0

    def setup(self):
        self.rsi = self.I(talib.RSI, self.data.Close, 14)

    def signals(self, i):
        r = self.rsi[-1]
        return r < 35, False, r > 70, False


class RoiMinutes(SmaCross):
    """roi ages in minutes of bar time: 5 % until 3 days (4320 minutes), then 1 %."""
    roi = [(0, 5.0), (4320, 1.0)]
    roi_minutes = True


class StopFromFill(SmaCross):
    """A 4 % stop and a 6 % target measured from the fill, risk 2 % per trade."""
    risk_pct = 2.0
    sl_pct = 4.0
    tp_pct = 6.0
    from_fill = True


class Pyramid(Base):
    """RSI dips add up to 3 long trades of 30 % each; each has its own 6 % stop; the position
    leaves on RSI > 65 or once it is 4 % up as a whole (position.pl_pct)."""
    pyramiding = 3
    fraction = 0.3
    sl_pct = 6.0

    def setup(self):
        self.rsi = self.I(talib.RSI, self.data.Close, 14)

    def signals(self, i):
        r = self.rsi[-1]
        _, _, _, pnl = self.state(i)
        return r < 40, bool(r > 65 or pnl > 4), False, False


class Tf5min(Base):
    """Crosses of the 5-minute SMA(6) while the 15-minute RSI(5) is under 60; a 0.5 % stop."""
    sl_pct = 0.5

    def setup(self):
        self.m5 = resample_apply("5min", talib.SMA, self.data.Close, 6)
        self.m15 = resample_apply("15min", talib.RSI, self.data.Close, 5)

    def signals(self, i):
        c = self.data.Close
        return (bool(crossover(c, self.m5) and self.m15[-1] < 60), crossover(self.m5, c),
                False, False)


# name: (class, Backtest options)
SCENARIOS = {
    "units_sma": (UnitsSma, {}),
    "risk_atr": (RiskAtr, {}),
    "trail_pct": (TrailPct, {}),
    "trail_atr": (TrailAtr, {}),
    "max_bars": (MaxBars, {}),
    "stop_entry": (StopEntry, {}),
    "limit_entry": (LimitEntry, {}),
    "stop_limit": (StopLimit, {}),
    "fill_close": (FillClose, {"trade_on_close": True}),
    "position_state": (PositionState, {}),
    "fractional": (Fractional, {"fractional_unit": 0.0001}),
    "tf_daily": (TfDaily, {}),
    "tf_4h": (Tf4h, {}),
    "tf_weekly": (TfWeekly, {}),
    "bool_indicator": (BoolIndicator, {}),
    "lookback": (LookBack, {}),
    "max_size": (MaxSize, {}),
    "trail_offset": (TrailOffset, {}),
    "trail_high": (TrailHigh, {}),
    "roi": (Roi, {}),
    "roi_minutes": (RoiMinutes, {}),
    "stop_from_fill": (StopFromFill, {}),
    "pyramiding": (Pyramid, {}),
    "state_stop": (StateStop, {}),
    "reverse_stop_units": (ReverseStopUnits, {}),
    "donchian_oca": (DonchianOca, {}),
    "oca_breakout": (OcaBreakout, {}),
    "state_if": (StateIf, {}),
    "tf_5min": (Tf5min, {}),
}

def main():
    out = {}
    for path in sys.argv[1:]:
        df = pd.read_csv(path, index_col=0, parse_dates=True)
        for name, (cls, opts) in SCENARIOS.items():
            opts = dict(opts)
            unit = opts.pop("fractional_unit", None)
            kwargs = dict(cash=10_000, commission=0.002, **opts)
            DonchianOca.full = OcaBreakout.full = df
            bt = (FractionalBacktest(df, cls, fractional_unit=unit, **kwargs) if unit
                  else Backtest(df, cls, **kwargs))
            stats = bt.run()
            out[f"{pathlib.Path(path).name}:{name}"] = {
                "stats": stats_of(stats),
                "trades": trades_of(stats),
                "open": len(stats["_strategy"].trades),
            }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
