# --- botforge runtime: TA-Lib's indicator definitions in plain Python/numpy ----------------
# Each function follows TA-Lib 0.8 (default compatibility, unstable period 0) operation by
# operation, so values equal botforge's (and TA-Lib's) to the last bit or close to it. Like
# TA-Lib's Python wrapper, leading NaNs (an inner indicator's warm-up) shift the output.


def _first_valid(*xs):
    best = 0
    for x in xs:
        idx = np.flatnonzero(~np.isnan(x))
        best = max(best, int(idx[0]) if len(idx) else len(x))
    return best


def _nan(n):
    return np.full(n, np.nan)


def _is_zero(v):
    return -0.00000000000001 < v < 0.00000000000001


def _fmax(a, b):
    if a != a:
        return b
    if b != b:
        return a
    return a if a >= b else b


def _fmin(a, b):
    if a != a:
        return b
    if b != b:
        return a
    return a if a <= b else b


def sma(x, n):
    """Simple moving average (TA-Lib's running sum)."""
    x = np.asarray(x, dtype=float)
    out = _nan(len(x))
    b = _first_valid(x)
    if n == 0 or b + n > len(x):
        return out
    total = 0.0
    for v in x[b:b + n - 1]:
        total += v
    for i in range(b + n - 1, len(x)):
        total += x[i]
        out[i] = total / n
        total -= x[i + 1 - n]
    return out


def _ema_from(x, n, start, k, out):
    if n == 0 or start + n > len(x):
        return
    total = 0.0
    for v in x[start:start + n]:
        total += v
    prev = total / n
    out[start + n - 1] = prev
    keep = 1.0 - k
    for i in range(start + n, len(x)):
        prev = prev * keep + x[i] * k
        out[i] = prev


def ema(x, n):
    """Exponential moving average, alpha 2/(n+1), seeded with an SMA."""
    x = np.asarray(x, dtype=float)
    out = _nan(len(x))
    _ema_from(x, n, _first_valid(x), 2.0 / (n + 1.0), out)
    return out


def wma(x, n):
    """Linearly weighted moving average (weights 1..n)."""
    x = np.asarray(x, dtype=float)
    out = _nan(len(x))
    b = _first_valid(x)
    if n == 0 or b + n > len(x):
        return out
    divider = (n * (n + 1)) / 2.0
    s, sub, w = 0.0, 0.0, 1.0
    for v in x[b:b + n - 1]:
        sub += v
        s += v * w
        w += 1.0
    inv = 1.0 / divider
    k = float(n) - 1.0
    for i in range(b + n - 1, len(x)):
        v = x[i]
        out[i] = (s + v * float(n)) * inv
        s += v * k - sub
        sub -= x[i + 1 - n] - v
    return out


def rsi(x, n):
    """Wilder's RSI, seeded with the mean of the first n changes."""
    x = np.asarray(x, dtype=float)
    out = _nan(len(x))
    b = _first_valid(x)
    if n < 2 or b + n >= len(x):
        return out
    nf = float(n)
    gain, loss = 0.0, 0.0
    prev = x[b]
    for v in x[b + 1:b + n + 1]:
        d = v - prev
        prev = v
        if d < 0.0:
            loss -= d
        else:
            gain += d
    loss /= nf
    gain /= nf

    def put(g, lo):
        s = g + lo
        return 0.0 if _is_zero(s) else 100.0 * (g / s)

    out[b + n] = put(gain, loss)
    inv = 1.0 / nf
    keep = (nf - 1.0) * inv
    for i in range(b + n + 1, len(x)):
        d = x[i] - prev
        prev = x[i]
        down = d if d < 0.0 else 0.0
        loss = loss * keep - down * inv
        gain = gain * keep + (d - down) * inv
        out[i] = put(gain, loss)
    return out


def _rolling(x, n, pick):
    x = np.asarray(x, dtype=float)
    out = _nan(len(x))
    b = _first_valid(x)
    if n == 0 or b + n > len(x):
        return out
    for i in range(b + n - 1, len(x)):
        acc = x[i]
        for v in x[i + 1 - n:i + 1]:
            acc = pick(acc, v)
        out[i] = acc
    return out


def highest(x, n):
    """Rolling maximum over n bars."""
    return _rolling(x, n, _fmax)


def lowest(x, n):
    """Rolling minimum over n bars."""
    return _rolling(x, n, _fmin)


def macd(x, fast, slow, signal):
    """MACD line, signal and histogram with TA-Lib's alignment (both EMAs seeded together)."""
    x = np.asarray(x, dtype=float)
    size = len(x)
    out = (_nan(size), _nan(size), _nan(size))
    if slow < fast:
        fast, slow = slow, fast
    b = _first_valid(x)
    if fast < 2 or signal == 0 or b + slow + signal - 1 > size:
        return out
    seed = b + slow - 1
    f, s = _nan(size), _nan(size)
    _ema_from(x, fast, seed + 1 - fast, 2.0 / (fast + 1.0), f)
    _ema_from(x, slow, seed + 1 - slow, 2.0 / (slow + 1.0), s)
    line = _nan(size)
    line[seed:] = f[seed:] - s[seed:]
    sig = _nan(size)
    _ema_from(line, signal, seed, 2.0 / (signal + 1.0), sig)
    first = seed + signal - 1
    out[0][first:] = line[first:]
    out[1][first:] = sig[first:]
    out[2][first:] = line[first:] - sig[first:]
    return out


def bbands(x, n, k):
    """Bollinger bands: SMA(n) +- k population standard deviations (upper, middle, lower)."""
    x = np.asarray(x, dtype=float)
    size = len(x)
    middle = sma(x, n)
    upper, lower = _nan(size), _nan(size)
    b = _first_valid(x)
    if n < 2 or b + n > size:
        return upper, middle, lower
    nf = float(n)
    t1, t2 = 0.0, 0.0
    for v in x[b:b + n - 1]:
        t1 += v
        t2 += v * v
    for i in range(b + n - 1, size):
        v = x[i]
        t1 += v
        t2 += v * v
        m1 = t1 / nf
        m2 = t2 / nf
        t = x[i + 1 - n]
        t1 -= t
        t2 -= t * t
        var = m2 - m1 * m1
        sd = math.sqrt(var) if var > 0.0 and not _is_zero(var) else 0.0
        d = sd * k
        upper[i] = middle[i] + d
        lower[i] = middle[i] - d
    return upper, middle, lower


def _true_range(h, lo, yc):
    out = h - lo
    a = abs(h - yc)
    if a > out:
        out = a
    a = abs(lo - yc)
    if a > out:
        out = a
    return out


def atr(high, low, close, n):
    """Average true range (Wilder), seeded with the mean of the first n true ranges."""
    size = len(close)
    out = _nan(size)
    b = _first_valid(high, low, close)
    if n == 0 or b + n >= size:
        return out
    tr = _nan(size)
    for i in range(b + 1, size):
        tr[i] = _true_range(high[i], low[i], close[i - 1])
    if n == 1:
        return tr
    nf = float(n)
    total = 0.0
    for v in tr[b + 1:b + n + 1]:
        total += v
    prev = total / nf
    out[b + n] = prev
    inv = 1.0 / nf
    keep = (nf - 1.0) * inv
    keep2 = keep * keep
    i = b + n + 1
    while i + 1 < size:
        t1 = tr[i] * inv
        t2 = tr[i + 1] * inv
        out[i] = prev * keep + t1
        prev = prev * keep2 + (t1 * keep + t2)
        out[i + 1] = prev
        i += 2
    if i < size:
        out[i] = prev * keep + tr[i] * inv
    return out


def stoch(high, low, close, k, smooth_k, d):
    """Slow stochastic with SMA smoothing: (k, d), both from the first bar %D exists."""
    size = len(close)
    out = (_nan(size), _nan(size))
    b = _first_valid(high, low, close)
    if k == 0 or smooth_k == 0 or d == 0 or b + k + smooth_k + d - 2 > size:
        return out
    fast = _nan(size)
    for i in range(b + k - 1, size):
        lo_i = i + 1 - k
        hh = -math.inf
        for v in high[lo_i:i + 1]:
            hh = _fmax(hh, v)
        ll = math.inf
        for v in low[lo_i:i + 1]:
            ll = _fmin(ll, v)
        diff = (hh - ll) / 100.0
        fast[i] = 0.0 if diff == 0.0 else (close[i] - ll) / diff
    slow_k = sma(fast, smooth_k)
    slow_d = sma(slow_k, d)
    first = b + k + smooth_k + d - 3
    out[0][first:] = slow_k[first:]
    out[1][first:] = slow_d[first:]
    return out


def adx(high, low, close, n):
    """Average directional index (Wilder), as TA-Lib computes it."""
    size = len(close)
    out = _nan(size)
    b = _first_valid(high, low, close)
    if n < 2 or b + 2 * n > size:
        return out
    nf = float(n)
    st = {"pdm": 0.0, "mdm": 0.0, "tr": 0.0, "ph": high[b], "pl": low[b], "pc": close[b]}

    def step(today, smooth):
        h = high[today]
        dp = h - st["ph"]
        st["ph"] = h
        lo = low[today]
        dm = st["pl"] - lo
        st["pl"] = lo
        if smooth:
            st["mdm"] -= st["mdm"] / nf
            st["pdm"] -= st["pdm"] / nf
        if dm > 0.0 and dp < dm:
            st["mdm"] += dm
        elif dp > 0.0 and dp > dm:
            st["pdm"] += dp
        r = _true_range(st["ph"], st["pl"], st["pc"])
        if smooth:
            st["tr"] = st["tr"] - (st["tr"] / nf) + r
        else:
            st["tr"] += r
        st["pc"] = close[today]

    def dx():
        tr = st["tr"]
        if _is_zero(tr):
            return None
        minus = 100.0 * (st["mdm"] / tr)
        plus = 100.0 * (st["pdm"] / tr)
        s = minus + plus
        return None if _is_zero(s) else 100.0 * (abs(minus - plus) / s)

    today = b
    for _ in range(n - 1):
        today += 1
        step(today, False)
    total = 0.0
    for _ in range(n):
        today += 1
        step(today, True)
        v = dx()
        if v is not None:
            total += v
    prev = total / nf
    out[today] = prev
    while today + 1 < size:
        today += 1
        step(today, True)
        v = dx()
        if v is not None:
            prev = ((prev * (nf - 1.0)) + v) / nf
        out[today] = prev
    return out


def tsum(x, n):
    """TA-Lib SUM: the running total of the last n values."""
    x = np.asarray(x, dtype=float)
    out = _nan(len(x))
    b = _first_valid(x)
    if n == 0 or b + n > len(x):
        return out
    total = 0.0
    for v in x[b:b + n - 1]:
        total += v
    for i in range(b + n - 1, len(x)):
        total += x[i]
        out[i] = total
        total -= x[i + 1 - n]
    return out


def stddev(x, n):
    """TA-Lib STDDEV (population): shifted running sums, reseeded as TA-Lib 0.8 does."""
    x = np.asarray(x, dtype=float)
    size = len(x)
    out = _nan(size)
    b = _first_valid(x)
    if n == 0 or b + n > size:
        return out
    inv = 1.0 / float(n)
    trailing = b
    shift = x[trailing]
    t1 = t2 = 0.0
    for v in x[b:b + n - 1]:
        t = v - shift
        t1 += t
        t2 += t * t
    reseed = 32 * n
    for i in range(b + n - 1, size):
        t = x[i] - shift
        t1 += t
        t2 += t * t
        m1 = t1 * inv
        var = t2 * inv - m1 * m1
        t = x[trailing] - shift
        t1 -= t
        sq = t * t
        t2 -= sq
        trailing += 1
        reseed -= 1
        if var < 0.000001 * (t2 * inv) or sq > 1000000.0 * t2 or reseed == 0:
            reseed = 32 * n
            start = i + 1 - n
            acc = 0.0
            for v in x[start:i + 1]:
                acc += v
            shift = acc * inv
            t1 = t2 = 0.0
            for v in x[start:i + 1]:
                t = v - shift
                t1 += t
                t2 += t * t
            m1 = t1 * inv
            var = t2 * inv - m1 * m1
            t = x[start] - shift
            t1 -= t
            t2 -= t * t
        out[i] = 0.0 if var < 0.00000000000001 else math.sqrt(var)
    return out


def roc(x, n):
    """Rate of change in percent: (x / x[n] - 1) * 100, 0 where x[n] is 0."""
    x = np.asarray(x, dtype=float)
    out = _nan(len(x))
    b = _first_valid(x)
    for i in range(max(b + n, 1), len(x)):
        p = x[i - n]
        out[i] = 0.0 if p == 0.0 else ((x[i] / p) - 1.0) * 100.0
    return out


def mom(x, n):
    """Momentum: x - x[n]."""
    x = np.asarray(x, dtype=float)
    out = _nan(len(x))
    b = _first_valid(x)
    for i in range(max(b + n, 1), len(x)):
        out[i] = x[i] - x[i - n]
    return out


def cmo(x, n):
    """Chande momentum oscillator with Wilder-smoothed gains and losses."""
    x = np.asarray(x, dtype=float)
    size = len(x)
    out = _nan(size)
    b = _first_valid(x)
    if n < 2 or b + n >= size:
        return out
    nf = float(n)
    gain = loss = 0.0
    prev = x[b]
    for v in x[b + 1:b + n + 1]:
        d = v - prev
        prev = v
        if d < 0.0:
            loss -= d
        else:
            gain += d
    loss /= nf
    gain /= nf

    def put(g, lo):
        s = g + lo
        return 0.0 if _is_zero(s) else 100.0 * ((g - lo) / s)

    out[b + n] = put(gain, loss)
    for i in range(b + n + 1, size):
        d = x[i] - prev
        prev = x[i]
        loss *= nf - 1.0
        gain *= nf - 1.0
        if d < 0.0:
            loss -= d
        else:
            gain += d
        loss /= nf
        gain /= nf
        out[i] = put(gain, loss)
    return out


def linearreg(x, n):
    """The least-squares line over the last n values, at the last bar (TA-Lib 0.8's sliding sums)."""
    x = np.asarray(x, dtype=float)
    out = _nan(len(x))
    b = _first_valid(x)
    if n < 2 or b + n > len(x):
        return out
    nf = float(n)
    sx = nf * (nf - 1.0) * 0.5
    sxx = nf * (nf - 1.0) * (2.0 * nf - 1.0) / 6.0
    div = sx * sx - nf * sxx
    first = b + n - 1
    sxy = sy = 0.0
    for i in range(n - 1, -1, -1):
        v = x[first - i]
        sy += v
        sxy += float(i) * v

    def line(sxy, sy):
        m = (nf * sxy - sx * sy) / div
        return (sy - m * sx) / nf + m * (nf - 1.0)

    out[first] = line(sxy, sy)
    for today in range(first + 1, len(x)):
        departing = x[today - n]
        sxy = sxy + sy - nf * departing
        sy = sy - departing + x[today]
        out[today] = line(sxy, sy)
    return out


def cci(high, low, close, n):
    """Commodity channel index, summed in TA-Lib's ring-buffer order."""
    size = len(close)
    out = _nan(size)
    b = _first_valid(high, low, close)
    if n < 2 or b + n > size:
        return out
    tp = [(high[i] + low[i] + close[i]) / 3.0 for i in range(size)]
    nf = float(n)
    ring = [0.0] * n
    for k in range(n - 1):
        ring[k] = tp[b + k]
    slot = n - 1
    for i in range(b + n - 1, size):
        ring[slot] = tp[i]
        avg = 0.0
        for v in ring:
            avg += v
        avg /= nf
        dev = 0.0
        for v in ring:
            dev += abs(v - avg)
        t = tp[i] - avg
        out[i] = 0.0 if _is_zero(t) or _is_zero(dev) else t / (0.015 * (dev / nf))
        slot = (slot + 1) % n
    return out


def willr(high, low, close, n):
    """Williams %R: (highest high - close) / (highest high - lowest low) * -100."""
    size = len(close)
    out = _nan(size)
    b = _first_valid(high, low, close)
    if n < 2 or b + n > size:
        return out
    hh, ll = highest(high, n), lowest(low, n)
    for i in range(b + n - 1, size):
        r = hh[i] - ll[i]
        out[i] = 0.0 if r == 0.0 else (hh[i] - close[i]) / r * -100.0
    return out


def obv(close, volume):
    """On-balance volume."""
    size = len(close)
    out = _nan(size)
    b = _first_valid(close, volume)
    if b >= size:
        return out
    total, prev = volume[b], close[b]
    out[b] = total
    for i in range(b + 1, size):
        if close[i] > prev:
            total += volume[i]
        elif close[i] < prev:
            total -= volume[i]
        out[i] = total
        prev = close[i]
    return out


def _ad_step(h, lo, c, v, acc):
    r = h - lo
    if r > 0.0:
        acc += (((c - lo) - (h - c)) / r) * v
    return acc


def ad(high, low, close, volume):
    """Chaikin accumulation/distribution line."""
    size = len(close)
    out = _nan(size)
    acc = 0.0
    for i in range(_first_valid(high, low, close, volume), size):
        acc = _ad_step(high[i], low[i], close[i], volume[i], acc)
        out[i] = acc
    return out


def adosc(high, low, close, volume, fast, slow):
    """Chaikin A/D oscillator: fast EMA minus slow EMA of the A/D line (seeded with its first value)."""
    size = len(close)
    out = _nan(size)
    b = _first_valid(high, low, close, volume)
    slowest = max(fast, slow)
    if fast < 2 or slow < 2 or b + slowest > size:
        return out
    fk, sk = 2.0 / (fast + 1.0), 2.0 / (slow + 1.0)
    acc = _ad_step(high[b], low[b], close[b], volume[b], 0.0)
    fe = se = acc
    for i in range(b + 1, size):
        acc = _ad_step(high[i], low[i], close[i], volume[i], acc)
        fe = (fk * acc) + ((1.0 - fk) * fe)
        se = (sk * acc) + ((1.0 - sk) * se)
        if i >= b + slowest - 1:
            out[i] = fe - se
    return out


def mfi(high, low, close, volume, n):
    """Money flow index as TA-Lib 0.8 computes it."""
    size = len(close)
    out = _nan(size)
    b = _first_valid(high, low, close, volume)
    if n < 2 or b + n >= size:
        return out
    pos, neg = [0.0] * n, [0.0] * n
    slot = 0
    prev = (high[b] + low[b] + close[b]) / 3.0
    ps = ns = 0.0
    null_run = 0
    for today in range(b + 1, size):
        if today > b + n:
            ps -= pos[slot]
            ns -= neg[slot]
        tp = (high[today] + low[today] + close[today]) / 3.0
        d = tp - prev
        scale = abs(tp) + abs(prev)
        prev = tp
        flow = tp * volume[today]
        if abs(d) <= 0.00000000000001 * scale:
            flow = 0.0
        p, q = (0.0, flow) if d < 0.0 else (flow, 0.0)
        pos[slot], neg[slot] = p, q
        ps += p
        ns += q
        null_run = null_run + 1 if flow == 0.0 else 0
        if null_run >= n:
            null_run = n
            ps = ns = 0.0
        if today >= b + n:
            total = ps + ns
            clamped = 0.0 if ps < 0.0 else (total if ps > total else ps)
            out[today] = 0.0 if total <= 0.0 else 100.0 * (clamped / total)
        slot = (slot + 1) % n
    return out


def trange(high, low, close):
    """True range, from the second bar."""
    size = len(close)
    out = _nan(size)
    for i in range(_first_valid(high, low, close) + 1, size):
        out[i] = _true_range(high[i], low[i], close[i - 1])
    return out


def natr(high, low, close, n):
    """ATR in percent of the close."""
    out = atr(high, low, close, n)
    for i in range(len(out)):
        if out[i] == out[i]:
            out[i] = 0.0 if _is_zero(close[i]) else (out[i] / close[i]) * 100.0
    return out


def _di(high, low, close, n, plus):
    size = len(close)
    out = _nan(size)
    b = _first_valid(high, low, close)
    if n == 0 or b + n >= size:
        return out
    nf = float(n)

    def step(t):
        up = high[t] - high[t - 1]
        down = low[t - 1] - low[t]
        if plus:
            dm = up if (up > 0.0 and up > down) else 0.0
        else:
            dm = down if (down > 0.0 and down > up) else 0.0
        return dm, _true_range(high[t], low[t], close[t - 1])

    dm_sum = tr_sum = 0.0
    for t in range(b + 1, b + n):
        dm, r = step(t)
        dm_sum += dm
        tr_sum += r
    for t in range(b + n, size):
        dm, r = step(t)
        dm_sum = dm_sum - (dm_sum / nf) + dm
        tr_sum = tr_sum - (tr_sum / nf) + r
        out[t] = 0.0 if _is_zero(tr_sum) else 100.0 * (dm_sum / tr_sum)
    return out


def plus_di(high, low, close, n):
    """+DI."""
    return _di(high, low, close, n, True)


def minus_di(high, low, close, n):
    """-DI."""
    return _di(high, low, close, n, False)


def sar(high, low, accel, maximum):
    """Parabolic SAR (Wilder), as TA-Lib starts it."""
    size = len(high)
    out = _nan(size)
    b = _first_valid(high, low)
    if b + 1 >= size:
        return out
    if accel > maximum:
        accel = maximum
    af = accel
    up = high[b + 1] - high[b]
    down = low[b] - low[b + 1]
    minus_dm = down if (down > 0.0 and down > up) else 0.0
    long = minus_dm <= 0.0
    if long:
        ep, s = high[b + 1], low[b]
    else:
        ep, s = low[b + 1], high[b]
    new_low, new_high = low[b + 1], high[b + 1]
    for t in range(b + 1, size):
        prev_low, prev_high = new_low, new_high
        new_low, new_high = low[t], high[t]
        if long:
            if new_low <= s:
                long = False
                s = max(ep, prev_high, new_high)
                out[t] = s
                af = accel
                ep = new_low
                s += af * (ep - s)
                s = max(s, prev_high, new_high)
            else:
                out[t] = s
                if new_high > ep:
                    ep = new_high
                    af = min(af + accel, maximum)
                s += af * (ep - s)
                s = min(s, prev_low, new_low)
        elif new_high >= s:
            long = True
            s = min(ep, prev_low, new_low)
            out[t] = s
            af = accel
            ep = new_high
            s += af * (ep - s)
            s = min(s, prev_low, new_low)
        else:
            out[t] = s
            if new_low < ep:
                ep = new_low
                af = min(af + accel, maximum)
            s += af * (ep - s)
            s = max(s, prev_high, new_high)
    return out


def aroon(high, low, n):
    """Aroon (up, down): how recent the n+1-bar highest high and lowest low are, in percent."""
    size = len(high)
    up, down = _nan(size), _nan(size)
    b = _first_valid(high, low)
    if n < 2 or b + n >= size:
        return up, down
    factor = 100.0 / n
    for today in range(b + n, size):
        hi = lo = today - n
        for i in range(today - n, today + 1):
            if high[i] >= high[hi]:
                hi = i
            if low[i] <= low[lo]:
                lo = i
        up[today] = factor * (n - (today - hi))
        down[today] = factor * (n - (today - lo))
    return up, down


def _count(cond, n):
    """Bars of the last n where cond holds (missing before n bars)."""
    cond = np.asarray(cond, dtype=bool)
    out = _nan(len(cond))
    run = 0
    for i in range(len(cond)):
        run += 1 if cond[i] else 0
        if i >= n:
            run -= 1 if cond[i - n] else 0
        if i >= n - 1:
            out[i] = float(run)
    return out


def _bars_since(cond):
    """0 on a bar where cond holds, else bars since it last did (missing before the first)."""
    out = _nan(len(cond))
    last = -1
    for i in range(len(cond)):
        if cond[i]:
            last = i
        if last >= 0:
            out[i] = float(i - last)
    return out


def _valuewhen(cond, x):
    """x on the latest bar where cond held."""
    x = np.asarray(x, dtype=float)
    out = _nan(len(x))
    last = -1
    for i in range(len(x)):
        if cond[i]:
            last = i
        if last >= 0:
            out[i] = x[last]
    return out


def supertrend(high, low, close, n, mult):
    """TradingView's ta.supertrend: (line, direction), direction -1 in an uptrend."""
    size = len(close)
    line, direction = _nan(size), _nan(size)
    if n == 0 or n > size:
        return line, direction
    tr = [high[0] - low[0]] + [_true_range(high[i], low[i], close[i - 1]) for i in range(1, size)]
    nf = float(n)
    alpha = 1.0 / nf
    atr_ = 0.0
    for v in tr[:n]:
        atr_ += v
    atr_ /= nf
    prev_lower = prev_upper = 0.0
    prev_line = math.nan
    for i in range(n - 1, size):
        if i >= n:
            atr_ = alpha * tr[i] + (1.0 - alpha) * atr_
        src = (high[i] + low[i]) / 2.0
        upper, lower = src + mult * atr_, src - mult * atr_
        prev_close = close[i - 1] if i > 0 else math.nan
        if not (lower > prev_lower or prev_close < prev_lower):
            lower = prev_lower
        if not (upper < prev_upper or prev_close > prev_upper):
            upper = prev_upper
        if i == n - 1:
            d = 1.0
        elif prev_line == prev_upper:
            d = -1.0 if close[i] > upper else 1.0
        else:
            d = 1.0 if close[i] < lower else -1.0
        st = lower if d < 0.0 else upper
        line[i], direction[i] = st, d
        prev_lower, prev_upper, prev_line = lower, upper, st
    return line, direction


def _vwap(index, high, low, close, volume):
    """Session VWAP: sums of hlc3 * volume and of volume restarting at each calendar day."""
    out = _nan(len(close))
    days = index.normalize() if hasattr(index, "normalize") else index
    pv = vol = 0.0
    day = None
    with np.errstate(all="ignore"):
        for i in range(len(close)):
            if days[i] != day:
                day = days[i]
                pv = vol = 0.0
            pv += ((high[i] + low[i] + close[i]) / 3.0) * volume[i]
            vol += volume[i]
            out[i] = np.float64(pv) / np.float64(vol)
    return out


