//! Malformed messages on the subject and unreachable servers: typed errors, no panic.

use std::time::{Duration, Instant};

use crate::{cluster, config};
use async_nats::jetstream::{self, message::PublishMessage};
use bulkhead_cluster::frame::{self, Batch, WireParams, WireRecord};
use bulkhead_cluster::{ClusterConfig, ClusterError, connect, fetch_journal, journal_subject, push_journal};
use bulkhead_journal::{FsyncPolicy, JournalParams, JournalWriter};

fn wire() -> WireParams {
    WireParams { segment_bytes: 1 << 20, seal_bytes: 65536, fsync: FsyncPolicy::Never, group_readable: false }
}

/// A real journal of 3 records, as a batch, with its true link and seal.
fn good_batch(dir: &std::path::Path) -> Batch {
    let mut w =
        JournalWriter::create(dir, JournalParams { segment_bytes: 1 << 20, ..JournalParams::default() }).unwrap();
    for i in 0..3u64 {
        w.append(5, 100 + i, format!("record {i}").as_bytes()).unwrap();
    }
    let link = w.last_link();
    let s = w.finish().unwrap();
    Batch {
        first_seq: 0,
        last_link: link,
        final_seal: Some(s.last_hash),
        params: wire(),
        seals: vec![2],
        records: (0..3u64)
            .map(|i| WireRecord { kind: 5, ts_ns: 100 + i, payload: format!("record {i}").into_bytes() })
            .collect(),
    }
}

fn publish_raw(cfg: &ClusterConfig, node: &str, payloads: Vec<Vec<u8>>) {
    // The stream is made by a real push of a 1-record journal, then the test appends
    // its own messages on the subject.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = connect(cfg).await.unwrap();
        let js = jetstream::new(client);
        for (i, p) in payloads.into_iter().enumerate() {
            let m = PublishMessage::build().payload(p.into()).message_id(format!("test/{i}"));
            js.send_publish(journal_subject(node), m).await.unwrap().await.unwrap();
        }
    });
}

fn make_stream(cfg: &ClusterConfig, tmp: &std::path::Path) {
    // Creating the stream goes through push (the only code that creates streams).
    let dir = tmp.join(format!("seed-{}", cfg.node));
    let mut w = JournalWriter::create(&dir, JournalParams::default()).unwrap();
    w.append(1, 1, b"seed").unwrap();
    w.finish().unwrap();
    push_journal(cfg, &dir).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let js = jetstream::new(connect(cfg).await.unwrap());
        js.get_stream(bulkhead_cluster::journal_stream(&cfg.node)).await.unwrap().purge().await.unwrap();
    });
}

/// What the fetch error must be.
type Expect = Box<dyn Fn(&ClusterError) -> bool>;

#[test]
fn malformed_messages_give_typed_errors_naming_stream_seq_and_field() {
    let Some(c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let good = good_batch(&tmp.path().join("good"));
    let mut bad_link = good.clone();
    bad_link.last_link ^= 1;
    let mut bad_seal = good.clone();
    bad_seal.final_seal = Some([7; 32]);
    let mut gap = good.clone();
    gap.first_seq = 0;
    let mut cut = frame::encode(&good);
    cut.truncate(cut.len() - 2);
    let cases: Vec<(&str, Vec<Vec<u8>>, Expect)> = vec![
        (
            "garbage",
            vec![b"hello".to_vec()],
            Box::new(|e| matches!(e, ClusterError::Malformed { stream_seq: 2, source, .. } if source.field == "magic")),
        ),
        (
            "cut",
            vec![cut],
            Box::new(
                |e| matches!(e, ClusterError::Malformed { stream_seq: 2, source, .. } if source.field == "record[2].payload"),
            ),
        ),
        (
            "gap",
            vec![frame::encode(&good), frame::encode(&gap)],
            Box::new(|e| matches!(e, ClusterError::Gap { stream_seq: 3, expected: 3, found: 0, .. })),
        ),
        (
            "link",
            vec![frame::encode(&bad_link)],
            Box::new(|e| matches!(e, ClusterError::LinkMismatch { stream_seq: 2, seq: 2, .. })),
        ),
        (
            "seal",
            vec![frame::encode(&bad_seal)],
            Box::new(|e| matches!(e, ClusterError::SealMismatch { stream_seq: 2, .. })),
        ),
    ];
    for (node, payloads, expect) in cases {
        let cfg = config(&c, node);
        make_stream(&cfg, tmp.path());
        publish_raw(&cfg, node, payloads);
        let out = tmp.path().join(format!("out-{node}"));
        let e = fetch_journal(&cfg, node, &out).unwrap_err();
        assert!(expect(&e), "{node}: {e}");
        let text = e.to_string();
        assert!(text.contains("message") && text.contains("field"), "{node}: {text}");
    }
}

#[test]
fn an_unreachable_server_fails_clearly_within_the_timeout() {
    // A closed loopback port (refused at once) and a blackholed address (no answer).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    for server in [format!("nats://127.0.0.1:{port}"), "nats://10.255.255.1:4222".to_string()] {
        let text = format!("[cluster]\nservers = [\"{server}\"]\nnode = \"n1\"\nconnect_timeout_ms = 700\n");
        let cfg = ClusterConfig::from_toml(&text).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let e = fetch_journal(&cfg, "n1", &tmp.path().join("out")).unwrap_err();
        assert!(t.elapsed() < Duration::from_millis(700 + 1500), "{server}: {:?}", t.elapsed());
        assert!(matches!(e, ClusterError::Unreachable { .. }), "{server}: {e}");
        assert!(e.to_string().contains(&server), "{e}");
    }
}

/// A record bigger than the server's `max_payload` (1 MiB by default) cannot be one
/// message: the push names it and stops there (nothing from it on is published).
#[test]
fn a_record_over_max_payload_is_refused_naming_it() {
    let Some(c) = cluster() else { return };
    let cfg = config(&c, "big");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let mut w = JournalWriter::create(&dir, JournalParams::default()).unwrap();
    w.append(1, 1, b"small").unwrap();
    w.append(1, 2, &vec![0u8; 2 << 20]).unwrap();
    w.finish().unwrap();
    let e = push_journal(&cfg, &dir).unwrap_err();
    assert!(matches!(e, ClusterError::RecordTooLarge { seq: 1, .. }), "{e}");
}
