# --- candlestick patterns: TA-Lib's CDL functions with its default candle settings --------
# (range kind, average period, factor) per setting.
_BODY, _HL, _SHADOWS = 0, 1, 2
_SET = {
    "BodyLong": (_BODY, 10, 1.0), "BodyVeryLong": (_BODY, 10, 3.0), "BodyShort": (_BODY, 10, 1.0),
    "BodyDoji": (_HL, 10, 0.1), "ShadowLong": (_BODY, 0, 1.0), "ShadowVeryLong": (_BODY, 0, 2.0),
    "ShadowShort": (_SHADOWS, 10, 1.0), "ShadowVeryShort": (_HL, 10, 0.1),
    "Near": (_HL, 5, 0.2), "Far": (_HL, 5, 0.6), "Equal": (_HL, 5, 0.05),
}


class _Candles:
    def __init__(self, o, h, l, c):
        self.o, self.h, self.l, self.c = o, h, l, c

    def body(self, i):
        return abs(self.c[i] - self.o[i])

    def upper(self, i):
        return self.h[i] - (self.c[i] if self.c[i] >= self.o[i] else self.o[i])

    def lower(self, i):
        return (self.o[i] if self.c[i] >= self.o[i] else self.c[i]) - self.l[i]

    def color(self, i):
        return 1 if self.c[i] >= self.o[i] else -1

    def range(self, kind, i):
        if kind == _BODY:
            return self.body(i)
        if kind == _HL:
            return self.h[i] - self.l[i]
        return self.upper(i) + self.lower(i)


class _Avg:
    """A setting's running total over the `period` bars before bar i - offset."""
    def __init__(self, cd, name, offset, start):
        self.cd = cd
        self.kind, self.period, self.factor = _SET[name]
        self.offset = offset
        self.total = 0.0
        self.trailing = start - offset - self.period
        for j in range(self.trailing, start - offset):
            self.total += cd.range(self.kind, j)

    def at(self, i):
        j = i - self.offset
        base = self.total / self.period if self.period != 0 else self.cd.range(self.kind, j)
        return self.factor * base / (2.0 if self.kind == _SHADOWS else 1.0)

    def advance(self, i):
        self.total += self.cd.range(self.kind, i - self.offset) - self.cd.range(self.kind, self.trailing)
        self.trailing += 1


def _cdl_run(o, h, l, c, lookback, avgs, test):
    n = len(c)
    out = np.zeros(n)
    if lookback >= n:
        return out
    cd = _Candles(o, h, l, c)
    a = {k: _Avg(cd, name, off, lookback) for k, (name, off) in avgs.items()}
    for i in range(lookback, n):
        out[i] = test(cd, a, i)
        for x in a.values():
            x.advance(i)
    return out


def engulfing(o, h, l, c):
    def t(cd, a, i):
        col, pcol = cd.color(i), cd.color(i - 1)
        if ((col == 1 and pcol == -1 and ((c[i] >= o[i - 1] and o[i] < c[i - 1]) or (c[i] > o[i - 1] and o[i] <= c[i - 1])))
                or (col == -1 and pcol == 1 and ((o[i] >= c[i - 1] and c[i] < o[i - 1]) or (o[i] > c[i - 1] and c[i] <= o[i - 1])))):
            return col * (100 if (o[i] != c[i - 1] and c[i] != o[i - 1]) else 80)
        return 0
    return _cdl_run(o, h, l, c, 2, {}, t)


def doji(o, h, l, c):
    return _cdl_run(o, h, l, c, 10, {"d": ("BodyDoji", 0)},
                lambda cd, a, i: 100 if cd.body(i) <= a["d"].at(i) else 0)


def hammer(o, h, l, c):
    def t(cd, a, i):
        ok = (cd.body(i) < a["b"].at(i) and cd.lower(i) > a["s"].at(i) and cd.upper(i) < a["v"].at(i)
              and min(c[i], o[i]) <= l[i - 1] + a["n"].at(i))
        return 100 if ok else 0
    return _cdl_run(o, h, l, c, 11, {"b": ("BodyShort", 0), "s": ("ShadowLong", 0),
                                 "v": ("ShadowVeryShort", 0), "n": ("Near", 1)}, t)


def shooting_star(o, h, l, c):
    def t(cd, a, i):
        gap = min(o[i], c[i]) > max(o[i - 1], c[i - 1])
        ok = gap and cd.body(i) < a["b"].at(i) and cd.upper(i) > a["s"].at(i) and cd.lower(i) < a["v"].at(i)
        return -100 if ok else 0
    return _cdl_run(o, h, l, c, 11, {"b": ("BodyShort", 0), "s": ("ShadowLong", 0),
                                 "v": ("ShadowVeryShort", 0)}, t)


def harami(o, h, l, c):
    def t(cd, a, i):
        if cd.body(i - 1) > a["long"].at(i) and cd.body(i) <= a["short"].at(i):
            hi, lo = max(c[i], o[i]), min(c[i], o[i])
            phi, plo = max(c[i - 1], o[i - 1]), min(c[i - 1], o[i - 1])
            if hi < phi and lo > plo:
                return -cd.color(i - 1) * 100
            if hi <= phi and lo >= plo:
                return -cd.color(i - 1) * 80
        return 0
    return _cdl_run(o, h, l, c, 11, {"long": ("BodyLong", 1), "short": ("BodyShort", 0)}, t)


def _star(o, h, l, c, morning, pen=0.3):
    def t(cd, a, i):
        first, third = (-1, 1) if morning else (1, -1)
        if morning:
            gap = max(o[i - 1], c[i - 1]) < min(o[i - 2], c[i - 2])
            within = c[i] > c[i - 2] + cd.body(i - 2) * pen
        else:
            gap = min(o[i - 1], c[i - 1]) > max(o[i - 2], c[i - 2])
            within = c[i] < c[i - 2] - cd.body(i - 2) * pen
        ok = (cd.color(i - 2) == first and cd.color(i) == third and gap and within
              and cd.body(i - 2) > a["long"].at(i) and cd.body(i - 1) <= a["short"].at(i)
              and cd.body(i) > a["short2"].at(i))
        return (100 if morning else -100) if ok else 0
    return _cdl_run(o, h, l, c, 12, {"long": ("BodyLong", 2), "short": ("BodyShort", 1),
                                 "short2": ("BodyShort", 0)}, t)


def morning_star(o, h, l, c):
    return _star(o, h, l, c, True)


def evening_star(o, h, l, c):
    return _star(o, h, l, c, False)


def three_white_soldiers(o, h, l, c):
    def t(cd, a, i):
        ok = (cd.color(i - 2) == 1 and cd.upper(i - 2) < a["v2"].at(i)
              and cd.color(i - 1) == 1 and cd.upper(i - 1) < a["v1"].at(i)
              and cd.color(i) == 1 and cd.upper(i) < a["v0"].at(i)
              and c[i] > c[i - 1] and c[i - 1] > c[i - 2]
              and o[i - 1] > o[i - 2] and o[i - 1] <= c[i - 2] + a["n2"].at(i)
              and o[i] > o[i - 1] and o[i] <= c[i - 1] + a["n1"].at(i)
              and cd.body(i - 1) > cd.body(i - 2) - a["f2"].at(i)
              and cd.body(i) > cd.body(i - 1) - a["f1"].at(i)
              and cd.body(i) > a["b"].at(i))
        return 100 if ok else 0
    return _cdl_run(o, h, l, c, 12, {"v2": ("ShadowVeryShort", 2), "v1": ("ShadowVeryShort", 1),
                                 "v0": ("ShadowVeryShort", 0), "n2": ("Near", 2), "n1": ("Near", 1),
                                 "f2": ("Far", 2), "f1": ("Far", 1), "b": ("BodyShort", 0)}, t)


def three_black_crows(o, h, l, c):
    def t(cd, a, i):
        ok = (cd.color(i - 3) == 1 and cd.color(i - 2) == -1 and cd.color(i - 1) == -1 and cd.color(i) == -1
              and o[i - 1] < o[i - 2] and o[i - 1] > c[i - 2] and o[i] < o[i - 1] and o[i] > c[i - 1]
              and h[i - 3] > c[i - 2] and c[i - 2] > c[i - 1] and c[i - 1] > c[i]
              and cd.lower(i - 2) < a["v2"].at(i) and cd.lower(i - 1) < a["v1"].at(i)
              and cd.lower(i) < a["v0"].at(i))
        return -100 if ok else 0
    return _cdl_run(o, h, l, c, 13, {"v2": ("ShadowVeryShort", 2), "v1": ("ShadowVeryShort", 1),
                                 "v0": ("ShadowVeryShort", 0)}, t)


