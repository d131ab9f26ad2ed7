//! The feed role on the real 3-server cluster: a market source published to
//! its stream reads back identical, event for event, also while it is still
//! being published (live) and with a server down; re-publishing a complete
//! feed sends nothing; a malformed or out-of-order batch is a data error
//! naming the stream sequence and the field.

use std::time::Duration;

use async_nats::jetstream;
use bulkhead_abi::Event;
use bulkhead_cluster::feed::{FeedSource, encode_batch, md_subject, publish_feed};
use bulkhead_cluster::{ClusterConfig, connect};
use bulkhead_data::{DataError, Generator, GeneratorSpec, MarketSource};

use crate::{cluster, config};

fn spec(events: u64) -> GeneratorSpec {
    GeneratorSpec { seed: 11, events, ..GeneratorSpec::default() }
}

fn all(src: &mut dyn MarketSource) -> Vec<Event> {
    let mut v = Vec::new();
    while let Some(e) = src.next_event().unwrap() {
        v.push(e);
    }
    v
}

/// A generator that pauses every `every` events (a live feed arriving over time).
struct Slow(Generator, u64, u64);
impl MarketSource for Slow {
    fn next_event(&mut self) -> Result<Option<Event>, DataError> {
        self.1 += 1;
        if self.1.is_multiple_of(self.2) {
            std::thread::sleep(Duration::from_millis(30));
        }
        self.0.next_event()
    }
    fn len_hint(&self) -> Option<u64> {
        None
    }
}

fn open_when_ready(cfg: &ClusterConfig, feed: &str) -> FeedSource {
    let t = std::time::Instant::now();
    loop {
        match FeedSource::open(cfg, feed, Duration::from_secs(20)) {
            Ok(s) => return s,
            Err(e) => {
                assert!(t.elapsed() < Duration::from_secs(20), "{e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[test]
fn a_published_feed_reads_back_identical_live_and_with_a_server_down() {
    let Some(mut c) = cluster() else { return };
    let cfg = config(&c, "feeder");
    // Published whole, then read: the same events in the same order.
    let want = all(&mut Generator::new(spec(20_000)));
    let r = publish_feed(&cfg, "btc", &mut Generator::new(spec(20_000))).unwrap();
    assert_eq!((r.events, r.skipped, r.batches), (20_000, 0, 5));
    assert_eq!(all(&mut FeedSource::open(&cfg, "btc", Duration::from_secs(5)).unwrap()), want);
    // Again: complete, nothing sent.
    let again = publish_feed(&cfg, "btc", &mut Generator::new(spec(20_000))).unwrap();
    assert_eq!((again.events, again.batches), (20_000, 0));

    // Live: the reader starts while the publisher is still at work.
    let live_want = all(&mut Generator::new(spec(30_000)));
    let got = std::thread::scope(|s| {
        let cfg2 = cfg.clone();
        s.spawn(move || publish_feed(&cfg2, "eth", &mut Slow(Generator::new(spec(30_000)), 0, 2_000)).unwrap());
        all(&mut open_when_ready(&cfg, "eth"))
    });
    assert_eq!(got, live_want);

    // One server down: still readable, and a new feed can be published.
    c.kill(2);
    assert_eq!(all(&mut FeedSource::open(&cfg, "btc", Duration::from_secs(5)).unwrap()), want);
    publish_feed(&cfg, "sol", &mut Generator::new(spec(5_000))).unwrap();
    assert_eq!(all(&mut FeedSource::open(&cfg, "sol", Duration::from_secs(5)).unwrap()).len(), 5_000);
}

#[test]
fn malformed_and_out_of_order_batches_are_errors_naming_the_field() {
    let Some(c) = cluster() else { return };
    let cfg = config(&c, "feeder");
    publish_feed(&cfg, "bad", &mut Generator::new(spec(10))).unwrap();
    // After the feed's END nothing is read; a new feed with garbage first:
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let publish = |feed: &str, payload: Vec<u8>| {
        rt.block_on(async {
            let js = jetstream::new(connect(&cfg).await.unwrap());
            js.get_or_create_stream(jetstream::stream::Config {
                name: bulkhead_cluster::feed::md_stream(feed),
                subjects: vec![md_subject(feed)],
                ..Default::default()
            })
            .await
            .unwrap();
            js.publish(md_subject(feed), payload.into()).await.unwrap().await.unwrap();
        })
    };
    let expect = |feed: &str, field: &str| {
        let mut s = FeedSource::open(&cfg, feed, Duration::from_millis(500)).unwrap();
        let err = loop {
            match s.next_event() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("{feed}: ended without an error"),
                Err(e) => break e,
            }
        };
        match &err {
            DataError::Row { field: f, .. } => assert_eq!(*f, field, "{feed}: {err}"),
            other => panic!("{feed}: {other}"),
        }
        err.to_string()
    };
    publish("garbage", b"this is not a batch of market events at all".to_vec());
    let msg = expect("garbage", "magic");
    assert!(msg.contains("MD_garbage") && msg.contains("row 1"), "{msg}");
    // Batch 0 then a batch claiming to start at event 100: a gap.
    let evs = all(&mut Generator::new(spec(3)));
    publish("gappy", encode_batch(0, &evs, false));
    publish("gappy", encode_batch(100, &evs, true));
    assert!(expect("gappy", "first_index").contains("row 2"));
    // A feed that stops without END: the reader waits `idle`, then says so.
    publish("stalled", encode_batch(0, &evs, false));
    assert!(expect("stalled", "stream_seq").contains("feed stalled"));
}
