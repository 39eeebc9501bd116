//! A data file played as a feed.

use feeds::replay::ReplayFeed;
use feeds::{Event, Feed as _, Source};

use crate::minutes;

#[tokio::test]
async fn a_file_plays_every_bar_then_ends_and_resumes_after_a_bar() {
    let data = minutes(50, 3);
    let mut feed = ReplayFeed::new(data.clone(), 10, None, None);
    assert_eq!(feed.live_from(), Some(data.epoch_ms[10]));
    let mut got = Vec::new();
    loop {
        match feed.next().await.unwrap() {
            Event::Bar {
                kline,
                source,
                warmup,
            } => {
                assert_eq!(source, Source::File);
                got.push((kline.open_ms, kline.bar().unwrap().close, warmup));
            }
            Event::End => break,
            e => panic!("{e:?}"),
        }
    }
    assert_eq!(got.len(), 50);
    for (i, g) in got.iter().enumerate() {
        assert_eq!(*g, (data.epoch_ms[i], data.close[i], i < 10));
    }
    let mut resumed = ReplayFeed::new(data.clone(), 10, Some(1000.0), Some(data.epoch_ms[44]));
    let Event::Bar { kline, .. } = resumed.next().await.unwrap() else {
        panic!()
    };
    assert_eq!(kline.open_ms, data.epoch_ms[45]);
}
