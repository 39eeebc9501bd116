// botforge's backtest report: draws the run embedded in #report-data with TradingView's
// Lightweight Charts (embedded before this script). One chart, one time axis: each symbol's
// price pane (candles while at most 2,000 bars are in view, else the close), its oscillator
// panes, the equity and the drawdown; wheel, drag and crosshair act on every pane at once.
// Long axes are drawn downsampled (the first, last, lowest and highest point of each bucket),
// with every bar loaded around the view once it is narrow enough.
(function () {
  'use strict';
  var LC = window.LightweightCharts;
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var CANDLES_AT_MOST = 2000; // bars in view drawn as candles (DESIGN.md §6.2)
  var FULL = 40000; // axes up to this many bars are loaded whole
  var BUCKETS = 1500; // buckets of a longer axis when zoomed out
  var DETAIL = 20000; // a view of at most this many bars loads every bar around it
  var MARKERS_AT_MOST = 4000; // per symbol; beyond, markers of the loaded detail only
  var ROWS_AT_MOST = 1000; // trade rows rendered (sorting reaches every trade)
  var SHOW_ALL = 6; // symbols drawn at once; more: a selector for one
  var REASONS = {
    stop: '#d62728', target: '#2ca02c', trailing: '#ff7f0e', signal: '#1f77b4',
    time: '#9467bd', end: '#8c564b', out_of_money: '#111111'
  };

  function undelta(a) {
    var out = new Float64Array(a.length), acc = 0;
    for (var i = 0; i < a.length; i++) { acc += a[i]; out[i] = acc; }
    return out;
  }
  function decode(e) {
    if (!e) return null;
    var d = e.d, out = new Float64Array(d.length), s = Math.pow(10, e.p), acc = 0;
    for (var i = 0; i < d.length; i++) {
      if (d[i] === null) { out[i] = NaN; } else { acc += d[i]; out[i] = acc / s; }
    }
    return out;
  }
  function lowerBound(a, x) {
    var lo = 0, hi = a.length;
    while (lo < hi) { var m = (lo + hi) >> 1; if (a[m] < x) lo = m + 1; else hi = m; }
    return lo;
  }
  function fixed(v, p) { return isFinite(v) ? v.toFixed(p) : '–'; }
  function money(v) {
    return isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : '–';
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // The time axis.
  var ms = undelta(D.ms), N = ms.length, byIndex = D.by_index;
  var dateOnly = true, seconds = false;
  for (var q = 0; q < N; q++) {
    if (ms[q] % 86400000 !== 0) dateOnly = false;
    if (ms[q] % 60000 !== 0) seconds = true;
  }
  function T(i) { return byIndex ? i : Math.floor(ms[i] / 1000); }
  function barOf(t) { return byIndex ? t : lowerBound(ms, t * 1000); }
  function when(i) {
    if (i < 0 || i >= N) return '';
    var s = new Date(ms[i]).toISOString();
    return dateOnly ? s.slice(0, 10) : s.slice(0, seconds ? 19 : 16).replace('T', ' ');
  }

  // Symbols on the axis.
  var equity = decode(D.equity);
  var drawdown = new Float64Array(N), peak = -Infinity;
  for (var k = 0; k < N; k++) {
    var e = equity[k];
    if (isFinite(e)) { peak = Math.max(peak, e); drawdown[k] = peak > 0 ? (e / peak - 1) * 100 : 0; } else { drawdown[k] = NaN; }
  }
  var syms = D.symbols.map(function (s, n) {
    var at = s.at ? undelta(s.at) : null;
    function aligned(a) {
      if (!a || !at) return a;
      var out = new Float64Array(N).fill(NaN);
      for (var j = 0; j < at.length; j++) out[at[j]] = a[j];
      return out;
    }
    var sym = {
      n: n, name: s.name, precision: s.precision,
      o: aligned(decode(s.o)), h: aligned(decode(s.h)), l: aligned(decode(s.l)),
      c: aligned(decode(s.c)), v: aligned(decode(s.v)),
      overlays: s.overlays.map(function (x) { return { name: x.name, color: x.color, v: aligned(decode(x.values)) }; }),
      oscillators: s.oscillators.map(function (x) { return { name: x.name, color: x.color, v: aligned(decode(x.values)) }; }),
      trades: [], entries: new Map(), exits: new Map(), levels: null
    };
    return sym;
  });
  var trades = D.trades;
  trades.forEach(function (t, i) {
    t.n = i + 1;
    t.side = t.size > 0 ? 'long' : 'short';
    t.bars = (t.xb === null ? N - 1 : t.xb) - t.eb;
    t.sym = syms[t.s].name;
    var s = syms[t.s];
    s.trades.push(t);
    if (!s.entries.has(t.eb)) s.entries.set(t.eb, []);
    s.entries.get(t.eb).push(t);
    if (t.xb !== null) {
      if (!s.exits.has(t.xb)) s.exits.set(t.xb, []);
      s.exits.get(t.xb).push(t);
    }
  });
  // Each trade's stop and target at every bar of its life, as they stepped.
  function levels(s) {
    if (s.levels) return s.levels;
    var stop = new Float64Array(N).fill(NaN), target = new Float64Array(N).fill(NaN);
    s.trades.forEach(function (t) {
      var end = t.xb === null ? N - 1 : t.xb;
      [[t.st, stop], [t.tg, target]].forEach(function (pair) {
        var steps = pair[0], out = pair[1];
        for (var j = 0; j < steps.length; j++) {
          var from = Math.max(steps[j][0], t.eb), to = j + 1 < steps.length ? steps[j + 1][0] : end;
          for (var i = from; i <= Math.min(to, end); i++) out[i] = steps[j][1];
        }
      });
    });
    s.levels = { stop: stop, target: target };
    return s.levels;
  }

  // The chart.
  var box = document.getElementById('chart');
  var shown = syms.length <= SHOW_ALL ? syms.map(function (s) { return s.n; }) : [0];
  var single = syms.length === 1;
  var heights = [];
  var plan = []; // per pane: its title
  shown.forEach(function (n) {
    heights.push(single ? 340 : 220); plan.push(syms[n].name + (single ? '' : ': price and trades'));
    syms[n].oscillators.forEach(function (o) { heights.push(100); plan.push(o.name); });
  });
  heights.push(150); plan.push('Equity');
  heights.push(100); plan.push('Drawdown [%]');
  var total = heights.reduce(function (a, b) { return a + b; }, 0) + 30;
  box.style.height = total + 'px';
  var chart = LC.createChart(box, {
    autoSize: true,
    layout: {
      background: { type: 'solid', color: '#ffffff' }, textColor: '#333', fontSize: 11,
      attributionLogo: true, panes: { separatorColor: '#d5d8dc', enableResize: true }
    },
    grid: { vertLines: { color: '#f1f2f4' }, horzLines: { color: '#f1f2f4' } },
    crosshair: { mode: LC.CrosshairMode.Normal },
    rightPriceScale: { borderColor: '#d5d8dc', minimumWidth: 64 },
    timeScale: {
      borderColor: '#d5d8dc', timeVisible: !dateOnly, secondsVisible: seconds, rightOffset: 2, minBarSpacing: 0.01,
      lockVisibleTimeRangeOnResize: true
    },
    localization: { timeFormatter: function (t) { return when(barOf(t)); } }
  });
  if (byIndex) {
    chart.applyOptions({ timeScale: { tickMarkFormatter: function (t) { return when(t).slice(dateOnly ? 0 : 5); } } });
  }
  function line(pane, color, extra) {
    return chart.addSeries(LC.LineSeries, Object.assign({
      color: color, lineWidth: 1, priceLineVisible: false, lastValueVisible: false
    }, extra || {}), pane);
  }
  var pane = 0, slots = [], paneSlot = [];
  shown.forEach(function (n) {
    var s = syms[n];
    var fmt = { type: 'price', precision: s.precision, minMove: Math.pow(10, -s.precision) };
    var slot = { sym: n, pane: pane, oscPanes: [] };
    slot.volume = chart.addSeries(LC.HistogramSeries, {
      priceScaleId: 'volume', priceFormat: { type: 'volume' }, priceLineVisible: false, lastValueVisible: false
    }, pane);
    slot.volume.priceScale().applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
    slot.candle = chart.addSeries(LC.CandlestickSeries, {
      upColor: '#26a69a', downColor: '#ef5350', wickUpColor: '#26a69a', wickDownColor: '#ef5350',
      borderVisible: false, priceFormat: fmt, visible: false
    }, pane);
    slot.line = line(pane, '#333', { priceFormat: fmt, lastValueVisible: true, title: single ? '' : s.name });
    slot.overlays = s.overlays.map(function (o) { return line(pane, o.color, { lineWidth: 1.5, priceFormat: fmt, crosshairMarkerVisible: false }); });
    var dashed = { priceFormat: fmt, lineStyle: LC.LineStyle.Dashed, lineType: LC.LineType.WithSteps, crosshairMarkerVisible: false };
    slot.stop = line(pane, '#d62728', dashed);
    slot.target = line(pane, '#2ca02c', dashed);
    slot.markers = [LC.createSeriesMarkers(slot.line, []), LC.createSeriesMarkers(slot.candle, [])];
    paneSlot[pane] = slots.length;
    pane++;
    slot.oscs = s.oscillators.map(function (o) {
      paneSlot[pane] = slots.length;
      return line(pane++, o.color, { lineWidth: 1.5, lastValueVisible: true, title: o.name });
    });
    slots.push(slot);
  });
  var equityPane = pane++, ddPane = pane++;
  var equitySeries = line(equityPane, '#1f77b4', {
    lineWidth: 1.5, lastValueVisible: true, title: 'equity',
    priceFormat: { type: 'custom', minMove: 0.01, formatter: function (v) { return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2); } }
  });
  equitySeries.createPriceLine({ price: D.cash, color: '#999', lineStyle: LC.LineStyle.Dashed, lineWidth: 1, axisLabelVisible: false, title: 'cash' });
  var ddSeries = chart.addSeries(LC.AreaSeries, {
    lineColor: '#d62728', topColor: 'rgba(214,39,40,0.35)', bottomColor: 'rgba(214,39,40,0.35)',
    invertFilledArea: true, lineWidth: 1, priceLineVisible: false, lastValueVisible: false,
    priceFormat: { type: 'custom', minMove: 0.01, formatter: function (v) { return v.toFixed(1) + '%'; } }
  }, ddPane);
  chart.panes().forEach(function (p, i) { p.setStretchFactor(heights[i] || 100); });

  // Loading the axis: every bar, or buckets outside a window of full detail.
  var win = null, pts = null, all = null;
  function reps(s, e, out, keys) {
    var chosen = [s, e - 1];
    keys.forEach(function (a) {
      var lo = -1, hi = -1;
      for (var i = s; i < e; i++) {
        var v = a[i];
        if (v === v) {
          if (lo < 0 || v < a[lo]) lo = i;
          if (hi < 0 || v > a[hi]) hi = i;
        }
      }
      if (lo >= 0) chosen.push(lo, hi);
    });
    chosen.sort(function (x, y) { return x - y; });
    for (var j = 0; j < chosen.length; j++) if (j === 0 || chosen[j] !== chosen[j - 1]) out.push(chosen[j]);
  }
  function points() {
    if (N <= FULL) {
      if (!all) { all = new Int32Array(N); for (var i = 0; i < N; i++) all[i] = i; }
      return all;
    }
    var keys = slots.map(function (sl) { return syms[sl.sym].c; }).concat([equity]);
    var size = Math.ceil(N / BUCKETS), out = [], at = 0;
    while (at < N) {
      if (win && at >= win[0] && at < win[1]) {
        for (; at < win[1]; at++) out.push(at);
        continue;
      }
      var end = Math.min(N, (Math.floor(at / size) + 1) * size);
      if (win && at < win[0] && end > win[0]) end = win[0];
      reps(at, end, out, keys);
      at = end;
    }
    return Int32Array.from(out);
  }
  function detailed(i) { return N <= FULL || (win !== null && i >= win[0] && i < win[1]); }
  function values(a, gaps) {
    var out = [];
    for (var j = 0; j < pts.length; j++) {
      var i = pts[j], v = a[i];
      if (v === v) out.push({ time: T(i), value: v }); else if (gaps) out.push({ time: T(i) });
    }
    return out;
  }
  function fill(slot) {
    var s = syms[slot.sym], candles = [], vol = [], closes = [];
    for (var j = 0; j < pts.length; j++) {
      var i = pts[j], c = s.c[i];
      if (c !== c) continue;
      closes.push(i);
      if (!detailed(i)) continue;
      candles.push({ time: T(i), open: s.o[i], high: s.h[i], low: s.l[i], close: c });
      if (s.v && s.v[i] === s.v[i]) vol.push({ time: T(i), value: s.v[i], color: c >= s.o[i] ? 'rgba(38,166,154,0.4)' : 'rgba(239,83,80,0.4)' });
    }
    slot.closes = Int32Array.from(closes);
    slot.candle.setData(candles);
    slot.volume.setData(vol);
    slot.line.setData(values(s.c, false));
    slot.overlays.forEach(function (ser, k) { ser.setData(values(s.overlays[k].v, false)); });
    slot.oscs.forEach(function (ser, k) { ser.setData(values(s.oscillators[k].v, false)); });
    var lv = levels(s);
    slot.stop.setData(values(lv.stop, true));
    slot.target.setData(values(lv.target, true));
    markers(slot);
  }
  // A bar's place among the close line's points (the nearest one in a bucket).
  function snap(slot, i) {
    var a = slot.closes, j = lowerBound(a, i);
    if (j >= a.length) j = a.length - 1;
    if (j > 0 && i - a[j - 1] < a[j] - i) j--;
    return a[j];
  }
  var markerCount = 0;
  function markers(slot) {
    var s = syms[slot.sym], list = [];
    var every = s.trades.length <= MARKERS_AT_MOST;
    s.trades.forEach(function (t) {
      if (!slot.closes.length) return;
      var long = t.size > 0;
      if (every || detailed(t.eb)) {
        list.push({ time: T(snap(slot, t.eb)), position: long ? 'atPriceBottom' : 'atPriceTop', price: t.ep, shape: long ? 'arrowUp' : 'arrowDown', color: long ? '#2e7d32' : '#c62828', id: 'e' + t.n });
      }
      if (t.xb !== null && (every || detailed(t.xb))) {
        list.push({ time: T(snap(slot, t.xb)), position: 'atPriceMiddle', price: t.xp, shape: 'circle', color: REASONS[t.why] || '#555', id: 'x' + t.n, size: 0.8 });
      }
    });
    list.sort(function (a, b) { return a.time - b.time; });
    slot.markers.forEach(function (m) { m.setMarkers(list); });
    slot.markerCount = list.length;
    markerCount = slots.reduce(function (a, sl) { return a + (sl.markerCount || 0); }, 0);
  }
  function load(view) {
    pts = points();
    slots.forEach(fill);
    equitySeries.setData(values(equity, false));
    ddSeries.setData(values(drawdown, false));
    if (view) {
      chart.timeScale().setVisibleLogicalRange({ from: lowerBound(pts, view[0]), to: lowerBound(pts, view[1]) });
    }
    style();
  }

  // What is in view, and candles or the close line for it.
  var mode = 'auto', styleSelect = document.getElementById('style'), viewNote = document.getElementById('view');
  function inView() {
    var r = chart.timeScale().getVisibleLogicalRange();
    if (!r || !pts || !pts.length) return [0, N - 1];
    var a = Math.min(pts.length - 1, Math.max(0, Math.ceil(r.from)));
    var b = Math.min(pts.length - 1, Math.max(0, Math.floor(r.to)));
    return [pts[a], pts[Math.max(a, b)]];
  }
  var candlesShown = false;
  function style() {
    var v = inView(), bars = v[1] - v[0] + 1;
    var full = detailed(v[0]) && detailed(v[1]);
    candlesShown = full && (mode === 'candles' || (mode === 'auto' && bars <= CANDLES_AT_MOST));
    slots.forEach(function (slot) {
      slot.candle.applyOptions({ visible: candlesShown });
      slot.line.applyOptions({ visible: !candlesShown });
    });
    viewNote.textContent = bars.toLocaleString('en-US') + ' of ' + N.toLocaleString('en-US') + ' bars in view' +
      (full ? '' : ' (downsampled: zoom in for every bar' + (markerCount ? '' : ' and the trade markers') + ')');
  }
  styleSelect.addEventListener('change', function () { mode = styleSelect.value; style(); });
  var timer = 0;
  function refine() {
    var v = inView(), w = v[1] - v[0] + 1;
    if (w <= DETAIL) {
      if (win && v[0] >= win[0] && v[1] < win[1]) return;
      var m = Math.max(w, 500);
      win = [Math.max(0, v[0] - m), Math.min(N, v[1] + m + 1)];
    } else {
      if (!win) return;
      win = null;
    }
    load(v);
  }
  chart.timeScale().subscribeVisibleLogicalRangeChange(function () {
    style();
    if (N > FULL) { clearTimeout(timer); timer = setTimeout(refine, 120); }
  });
  function focus(a, b) {
    a = Math.max(0, a); b = Math.min(N - 1, b);
    if (N > FULL) {
      var m = Math.max(b - a + 1, 500);
      win = [Math.max(0, a - m), Math.min(N, b + m + 1)];
      load([a, b]);
    } else {
      chart.timeScale().setVisibleLogicalRange({ from: a, to: b });
    }
  }

  // The symbol selector when there are too many symbols to draw at once.
  var symbolSelect = document.getElementById('symbol');
  if (symbolSelect) {
    if (syms.length > SHOW_ALL) {
      syms.forEach(function (s) { var o = el('option', '', s.name); o.value = s.n; symbolSelect.appendChild(o); });
      symbolSelect.addEventListener('change', function () { show(+symbolSelect.value); });
    } else {
      symbolSelect.parentNode.hidden = true;
    }
  }
  function show(n) {
    if (slots.length !== 1 || slots[0].sym === n) return;
    slots[0].sym = n;
    slots[0].line.applyOptions({ title: syms[n].name });
    fill(slots[0]);
    titles();
  }

  // What the markers' shapes and colours mean: the exit causes this run has.
  (function markerKey() {
    var key = el('p', 'note'), seen = {};
    key.id = 'marker-key';
    key.appendChild(document.createTextNode('Markers: '));
    [['▲', '#2e7d32', 'long entry'], ['▼', '#c62828', 'short entry']].forEach(function (m) {
      var g = el('span', 'glyph', m[0]); g.style.color = m[1];
      key.appendChild(g); key.appendChild(document.createTextNode(' ' + m[2] + '  '));
    });
    trades.forEach(function (t) { if (t.why) seen[t.why] = true; });
    Object.keys(REASONS).filter(function (r) { return seen[r]; }).forEach(function (r) {
      var g = el('span', 'glyph', '●'); g.style.color = REASONS[r];
      key.appendChild(g); key.appendChild(document.createTextNode(' exit by ' + r.replace(/_/g, ' ') + '  '));
    });
    box.parentNode.insertBefore(key, box.nextSibling);
  })();

  // Pane titles, the legend, and the hover card.
  var legend = el('div'); legend.id = 'legend'; box.appendChild(legend);
  var titleEls = [];
  function titles() {
    titleEls.forEach(function (t) { t.remove(); });
    titleEls = [];
    var top0 = box.getBoundingClientRect().top;
    chart.panes().forEach(function (p, i) {
      if (i === 0) return;
      var name = plan[i];
      if (paneSlot[i] !== undefined && slots.length === 1 && syms.length > SHOW_ALL && i === slots[0].pane) name = syms[slots[0].sym].name;
      var t = el('div', 'pane-title', name);
      t.style.top = (p.getHTMLElement().getBoundingClientRect().top - top0 + 2) + 'px';
      box.appendChild(t); titleEls.push(t);
    });
  }
  function legendFor(i, slot) {
    legend.textContent = '';
    var s = syms[slot.sym];
    legend.appendChild(el('b', '', (syms.length > 1 ? s.name + ' ' : '') + (i >= 0 ? when(i) : '')));
    if (i >= 0 && s.c[i] === s.c[i]) {
      legend.appendChild(document.createTextNode(' O ' + fixed(s.o[i], s.precision) + ' H ' + fixed(s.h[i], s.precision) +
        ' L ' + fixed(s.l[i], s.precision) + ' C ' + fixed(s.c[i], s.precision) + (s.v ? ' V ' + fixed(s.v[i], 0) : '')));
    }
    s.overlays.forEach(function (o) {
      var sw = el('span', 'sw'); sw.style.background = o.color;
      legend.appendChild(sw);
      legend.appendChild(document.createTextNode(o.name + (i >= 0 ? ' ' + fixed(o.v[i], s.precision) : '')));
    });
    if (i >= 0) legend.appendChild(document.createTextNode('  equity ' + money(equity[i])));
  }
  var tip = document.getElementById('tip'), mainBox = box.parentNode;
  function card(t) {
    tip.textContent = '';
    var s = syms[t.s];
    tip.appendChild(el('b', '', '#' + t.n + ' ' + t.side + (syms.length > 1 ? ' ' + s.name : '')));
    tip.appendChild(el('div', '', 'entry ' + when(t.eb) + ' @ ' + fixed(t.ep, s.precision) + ', size ' + t.size));
    if (t.xb === null) {
      tip.appendChild(el('div', '', 'open at the end'));
    } else {
      tip.appendChild(el('div', '', 'exit ' + when(t.xb) + ' @ ' + fixed(t.xp, s.precision) + ' by ' + t.why));
      tip.appendChild(el('div', t.pnl >= 0 ? 'win' : 'loss', 'P&L ' + money(t.pnl) + ' (' + fixed(t.ret, 2) + '%)'));
    }
  }
  chart.subscribeCrosshairMove(function (p) {
    var slot = slots[paneSlot[p.paneIndex] !== undefined ? paneSlot[p.paneIndex] : 0];
    if (p.time === undefined || !p.point) { legendFor(-1, slots[0]); tip.hidden = true; return; }
    var i = barOf(p.time), s = syms[slot.sym];
    legendFor(i, slot);
    var id = p.hoveredObjectId || (p.hoveredInfo && p.hoveredInfo.objectId);
    var t = null;
    if (typeof id === 'string' && /^[ex]\d+$/.test(id)) t = trades[+id.slice(1) - 1];
    if (!t) t = (s.exits.get(i) || s.entries.get(i) || [null])[0];
    if (!t || !p.sourceEvent) { tip.hidden = true; return; }
    card(t);
    var r = mainBox.getBoundingClientRect();
    var x = p.sourceEvent.clientX - r.left + 14, y = p.sourceEvent.clientY - r.top + 14;
    tip.hidden = false;
    tip.style.left = Math.max(0, Math.min(x, r.width - tip.offsetWidth - 4)) + 'px';
    tip.style.top = y + 'px';
  });

  // The trade list: every trade, sortable by any column; a row shows its trade on the chart.
  var tbody = document.querySelector('#trades tbody'), heads = document.querySelectorAll('#trades th');
  var order = trades.slice(), sortKey = 'n', sortDir = 1, hasSymbol = !!document.querySelector('#trades th[data-k=sym]');
  function cell(tr, text, cls) { var td = el('td', cls, text); tr.appendChild(td); return td; }
  function rows() {
    tbody.textContent = '';
    var frag = document.createDocumentFragment();
    order.slice(0, ROWS_AT_MOST).forEach(function (t) {
      var s = syms[t.s], tr = el('tr');
      tr.dataset.n = t.n;
      cell(tr, String(t.n));
      if (hasSymbol) cell(tr, s.name);
      cell(tr, t.side);
      cell(tr, when(t.eb));
      cell(tr, t.xb === null ? 'open' : when(t.xb));
      cell(tr, String(t.bars));
      cell(tr, String(t.size));
      cell(tr, fixed(t.ep, s.precision));
      cell(tr, t.xp === null ? '–' : fixed(t.xp, s.precision));
      cell(tr, t.why === null ? 'open' : t.why, 'reason');
      cell(tr, t.pnl === null ? '–' : money(t.pnl), t.pnl === null ? '' : t.pnl >= 0 ? 'win' : 'loss');
      cell(tr, t.ret === null ? '–' : fixed(t.ret, 2));
      frag.appendChild(tr);
    });
    tbody.appendChild(frag);
    document.getElementById('trade-count').textContent = '(' + trades.length.toLocaleString('en-US') + ')';
    document.getElementById('trades-note').textContent = trades.length > ROWS_AT_MOST
      ? 'The first ' + ROWS_AT_MOST + ' rows of ' + trades.length.toLocaleString('en-US') + ' in this order; sort to see others, or write them all with --trades FILE.csv.'
      : '';
  }
  function sortBy(key, dir, numeric) {
    order.sort(function (a, b) {
      var x = a[key], y = b[key];
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      if (numeric) return (x - y) * dir || a.n - b.n;
      return String(x).localeCompare(String(y)) * dir || a.n - b.n;
    });
  }
  heads.forEach(function (th) {
    th.addEventListener('click', function () {
      var key = th.dataset.k;
      sortDir = key === sortKey ? -sortDir : 1;
      sortKey = key;
      sortBy(key, sortDir, th.dataset.type === 'num');
      heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', sortDir > 0 ? 'ascending' : 'descending');
      rows();
    });
  });
  tbody.addEventListener('click', function (ev) {
    var tr = ev.target.closest('tr');
    if (!tr) return;
    var t = trades[+tr.dataset.n - 1];
    if (syms.length > SHOW_ALL && symbolSelect) { symbolSelect.value = t.s; show(t.s); }
    var end = t.xb === null ? N - 1 : t.xb, pad = Math.max(10, end - t.eb);
    focus(t.eb - pad, end + pad);
    box.scrollIntoView({ block: 'nearest' });
  });

  // Other tables (the sweep's): sortable by any column on their cells' data-v.
  document.querySelectorAll('table.sortable').forEach(function (table) {
    var ths = table.querySelectorAll('th'), body = table.tBodies[0];
    ths.forEach(function (th, col) {
      var dir = 1;
      th.addEventListener('click', function () {
        var list = Array.prototype.slice.call(body.rows);
        list.sort(function (a, b) { return (parseFloat(a.cells[col].dataset.v) - parseFloat(b.cells[col].dataset.v)) * dir; });
        ths.forEach(function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
        dir = -dir;
        list.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  load(null);
  chart.timeScale().fitContent();
  rows();
  legendFor(-1, slots[0]);
  requestAnimationFrame(titles);
  // The first layout gives the chart its width: show every bar in it.
  var sized = false;
  new ResizeObserver(function () {
    if (!sized && box.clientWidth > 0) { sized = true; chart.timeScale().fitContent(); }
    requestAnimationFrame(titles);
  }).observe(box);
  // For tests and the curious: the chart and what it shows.
  function rect(e) { var r = e.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }
  function counted(ser) { return ser.data().filter(function (d) { return d.value !== undefined; }).length; }
  window.botforgeReport = {
    chart: chart,
    focus: focus,
    // A pane's box on the page, and where trade n's entry or exit marker is drawn.
    paneRect: function (k) { return rect(chart.panes()[k].getHTMLElement()); },
    markerPoint: function (n, exit) {
      var t = trades[n - 1], slot = slots.filter(function (sl) { return sl.sym === t.s; })[0];
      var r = rect(chart.panes()[slot.pane].getHTMLElement());
      var series = candlesShown ? slot.candle : slot.line;
      var x = chart.timeScale().timeToCoordinate(T(snap(slot, exit ? t.xb : t.eb)));
      var y = series.priceToCoordinate(exit ? t.xp : t.ep);
      return x === null || y === null ? null : [r[0] + x, r[1] + y];
    },
    state: function () {
      return {
        bars: N, points: pts.length, view: inView(), candles: candlesShown, markers: markerCount,
        panes: chart.panes().length, titles: plan, detail: win,
        symbols: slots.map(function (sl) { return syms[sl.sym].name; }),
        overlays: slots.map(function (sl) { return syms[sl.sym].overlays.map(function (o) { return o.name; }); }),
        levels: slots.map(function (sl) { return { stop: counted(sl.stop), target: counted(sl.target) }; }),
        tip: tip.hidden ? null : tip.textContent,
        key: document.getElementById('marker-key').textContent
      };
    }
  };
})();
