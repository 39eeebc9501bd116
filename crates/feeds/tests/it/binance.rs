//! The Binance feed: closed bars from the stream, warm-up and holes over REST, gaps,
//! duplicates, reconnects, rate limits, pings.

use std::time::Duration;

use exchange_sim::{Faults, Market};
use feeds::binance::{BinanceFeed, Config, Endpoint};
use feeds::{Event, Feed as _, FeedError, Interval, Source};

use crate::minutes;

async fn sim(n: usize, start: usize, speed: f64, faults: &str) -> exchange_sim::ExchangeHandle {
    let market = Market::new(
        minutes(n, 7),
        "BTCUSDT",
        "1m",
        60_000,
        start,
        speed,
        Faults::parse(faults).unwrap(),
    );
    exchange_sim::spawn(market, "127.0.0.1:0", Duration::from_millis(50))
        .await
        .unwrap()
}

fn config(url: &str) -> Config {
    let mut c = Config::new(
        Endpoint::parse(url).unwrap(),
        "BTCUSDT",
        Interval::parse("1m").unwrap(),
    );
    c.tick = Duration::from_millis(100);
    c.request_timeout = Duration::from_secs(5);
    c
}

/// Events until a live bar at or after `until_ms`, bounded.
async fn collect(feed: &mut BinanceFeed, until_ms: i64) -> Vec<Event> {
    let mut out = Vec::new();
    let bounded = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let e = feed.next().await.unwrap();
            let done =
                matches!(&e, Event::Bar { kline, warmup: false, .. } if kline.open_ms >= until_ms);
            out.push(e);
            if done {
                return;
            }
        }
    })
    .await;
    assert!(bounded.is_ok(), "no bar at {until_ms} within 60 s: {out:?}");
    out
}

/// `GET url`: the status and the JSON body.
async fn get_json(url: &str) -> (u16, serde_json::Value, Option<String>) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let weight = r
        .headers()
        .get("x-mbx-used-weight-1m")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, r.json().await.unwrap(), weight)
}

fn bars(events: &[Event]) -> Vec<(i64, String, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Bar { kline, warmup, .. } => Some((kline.open_ms, kline.close.clone(), *warmup)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_clean_stream_gives_the_warm_up_then_every_closed_bar_once() {
    let data = minutes(400, 7);
    let ex = sim(400, 100, 40.0, "").await;
    let mut cfg = config(&ex.url());
    cfg.warmup = 30;
    let mut feed = BinanceFeed::start(cfg).await.unwrap();
    let events = collect(&mut feed, data.epoch_ms[170]).await;
    let got = bars(&events);
    let warm: Vec<_> = got.iter().filter(|b| b.2).collect();
    assert_eq!(warm.len(), 30);
    let first_live = got.iter().position(|b| !b.2).unwrap();
    let i0 = data
        .epoch_ms
        .iter()
        .position(|&t| t == got[first_live].0)
        .unwrap();
    assert!(i0 >= 100, "the first live bar closed after the start: {i0}");
    for (k, b) in got.iter().enumerate() {
        let i = i0 + k - first_live;
        assert_eq!(b.0, data.epoch_ms[i], "bar {k}");
        assert_eq!(b.1.parse::<f64>().unwrap(), data.close[i], "bar {k}");
    }
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, Event::Gap { .. } | Event::Duplicate { .. }))
    );
    let stats = get_json(&format!("{}/sim/stats", ex.url())).await.1;
    assert!(
        stats["pongs"].as_u64().unwrap() > 0,
        "pings are answered: {stats}"
    );
    assert_eq!(stats["ping_timeouts"], 0, "{stats}");
}

#[tokio::test]
async fn faults_cost_nothing_every_bar_once_in_order_and_true_gaps_reported() {
    let data = minutes(400, 7);
    let ex = sim(
        400,
        100,
        25.0,
        "drop_final=5,duplicate=7,disconnect=23,gap=150-152,rate_limit=9,ban=31,stall=190:0.6s",
    )
    .await;
    let mut feed = BinanceFeed::start(config(&ex.url())).await.unwrap();
    let events = collect(&mut feed, data.epoch_ms[230]).await;
    let got = bars(&events);
    let i0 = data.epoch_ms.iter().position(|&t| t == got[0].0).unwrap();
    let want: Vec<i64> = (i0..=230)
        .filter(|i| !(150..=152).contains(i))
        .map(|i| data.epoch_ms[i])
        .collect();
    let times: Vec<i64> = got.iter().map(|b| b.0).collect();
    assert_eq!(
        times, want,
        "every bar once, in order, the hidden ones absent"
    );
    assert!(
        events.iter().any(|e| *e
            == Event::Gap {
                from_ms: data.epoch_ms[150],
                to_ms: data.epoch_ms[152]
            }),
        "the true gap is reported: {events:?}"
    );
    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    assert!(count(|e| matches!(e, Event::Duplicate { differs: false, .. })) > 0);
    assert!(count(|e| matches!(e, Event::Connected { reconnect: true })) > 0);
    assert!(
        count(|e| matches!(
            e,
            Event::Bar {
                source: Source::Rest,
                warmup: false,
                ..
            }
        )) > 0,
        "dropped finals were backfilled over REST"
    );
    // The stall after bar 190: the bars that closed meanwhile came over REST, polled on the
    // exchange's clock, before the stream said anything again.
    let stalled = |e: &&Event| {
        matches!(e, Event::Bar { kline, .. }
            if kline.open_ms > data.epoch_ms[190] && kline.open_ms <= data.epoch_ms[196])
    };
    let after_stall: Vec<&Event> = events.iter().filter(stalled).collect();
    assert!(
        after_stall.iter().any(|e| matches!(
            e,
            Event::Bar {
                source: Source::Rest,
                ..
            }
        )),
        "{after_stall:?}"
    );
    let stats = get_json(&format!("{}/sim/stats", ex.url())).await.1;
    assert!(
        stats["rest_calls"].as_u64().unwrap() >= 31,
        "a 418 was answered and waited out: {stats}"
    );
}

#[tokio::test]
async fn an_unknown_symbol_is_refused_and_a_dead_exchange_is_unreachable() {
    let ex = sim(50, 10, 10.0, "").await;
    let mut cfg = config(&ex.url());
    cfg.symbol = "NOPEUSDT".to_owned();
    let e = BinanceFeed::start(cfg).await.err().unwrap();
    assert!(matches!(e, FeedError::UnknownSymbol { .. }), "{e}");
    assert!(e.to_string().contains("NOPEUSDT"), "{e}");

    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let mut cfg = config(&url);
    cfg.start_retry = Duration::from_millis(600);
    let e = BinanceFeed::start(cfg).await.err().unwrap();
    assert!(e.is_unreachable(), "{e}");
    assert!(e.to_string().contains(&url), "{e}");
}

#[tokio::test]
async fn an_exchange_that_goes_away_mid_run_is_waited_out_and_the_hole_backfilled() {
    let data = minutes(400, 7);
    let ex = sim(400, 100, 25.0, "").await;
    let addr = ex.addr;
    let mut feed = BinanceFeed::start(config(&ex.url())).await.unwrap();
    let before = collect(&mut feed, data.epoch_ms[115]).await;
    // The exchange goes away (REST and stream), then comes back on the same address further
    // on in the data.
    drop(ex);
    let restarted = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let market = Market::new(
            minutes(400, 7),
            "BTCUSDT",
            "1m",
            60_000,
            140,
            25.0,
            Faults::default(),
        );
        exchange_sim::spawn(market, &addr.to_string(), Duration::from_millis(50))
            .await
            .unwrap()
    };
    let (after, _ex) = tokio::join!(collect(&mut feed, data.epoch_ms[160]), restarted);
    let times: Vec<i64> = bars(&before)
        .iter()
        .chain(bars(&after).iter())
        .map(|b| b.0)
        .collect();
    let i0 = data.epoch_ms.iter().position(|&t| t == times[0]).unwrap();
    let want: Vec<i64> = (i0..=160).map(|i| data.epoch_ms[i]).collect();
    assert_eq!(times, want, "every bar once, the outage's hole backfilled");
    assert!(
        after
            .iter()
            .any(|e| matches!(e, Event::Connected { reconnect: true })),
        "{after:?}"
    );
}

#[tokio::test]
async fn a_rest_outage_while_the_stream_runs_is_waited_out() {
    let data = minutes(400, 7);
    // Every third final is dropped, so the feed needs REST, which answers 503 for a while.
    let ex = sim(400, 100, 25.0, "drop_final=3,rest_down=3-6").await;
    let mut feed = BinanceFeed::start(config(&ex.url())).await.unwrap();
    let events = collect(&mut feed, data.epoch_ms[150]).await;
    let times: Vec<i64> = bars(&events).iter().map(|b| b.0).collect();
    let i0 = data.epoch_ms.iter().position(|&t| t == times[0]).unwrap();
    let want: Vec<i64> = (i0..=150).map(|i| data.epoch_ms[i]).collect();
    assert_eq!(times, want, "every bar once, in order");
    let stats = get_json(&format!("{}/sim/stats", ex.url())).await.1;
    assert!(
        stats["rest_calls"].as_u64().unwrap() > 6,
        "the outage was met: {stats}"
    );
}

#[tokio::test]
async fn the_simulated_rest_side_answers_and_refuses_as_binance_does() {
    let data = minutes(50, 7);
    let ex = sim(50, 20, 10.0, "").await;
    let base = format!("{}/api/v3", ex.url());
    let (status, body, weight) = get_json(&format!(
        "{base}/klines?symbol=BTCUSDT&interval=1m&startTime={}&limit=5",
        data.epoch_ms[3]
    ))
    .await;
    assert_eq!(status, 200);
    let rows = body.as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0][0], data.epoch_ms[3]);
    assert_eq!(rows[0][6], data.epoch_ms[3] + 59_999, "close time");
    assert!(rows[0][4].is_string(), "prices are decimal strings");
    assert!(weight.is_some(), "the weight header");
    for (query, code) in [
        ("symbol=BTCUSDT&interval=2h", -1120),
        ("symbol=ETHUSDT&interval=1m", -1121),
        ("symbol=BTCUSDT&interval=1m&startTime=soon", -1100),
    ] {
        let (status, body, _) = get_json(&format!("{base}/klines?{query}")).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (400, Some(code)),
            "{query}"
        );
    }
    let (status, body, _) = get_json(&format!("{base}/exchangeInfo?symbol=NOPE")).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(-1121)));
    // Without a start, the last rows up to the end; the bar still open is among them: it
    // closes after the server's time read before the request (read after, a minute boundary
    // between the two would close that bar).
    let (_, time, _) = get_json(&format!("{base}/time")).await;
    let (_, body, _) = get_json(&format!("{base}/klines?symbol=BTCUSDT&interval=1m&limit=2")).await;
    let last = body.as_array().unwrap().last().unwrap()[6]
        .as_i64()
        .unwrap();
    assert!(
        last >= time["serverTime"].as_i64().unwrap(),
        "the open bar is served"
    );
}
