//! The cluster view's data on the real 3-server cluster: statuses written to
//! the `BULKHEAD_NODES` bucket are read back with their age; a malformed value
//! is counted and dropped (the node keeps its last good status); a value over
//! the bound is refused by the stream itself; a kill order published through
//! the view lands in `BULKHEAD_CTL` and decodes; the metrics name each node.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use bulkhead_cluster::ctl::{CTL_STREAM, KillOrder, KillScope};
use bulkhead_cluster::status::{self, MAX_STATUS_BYTES, NodeStatus, StrategyStatus};
use bulkhead_cluster::view::{self, ViewSnapshot};
use bulkhead_cluster::{connect, lease};

use crate::{cluster, config};

fn status_of(node: &str, events: u64) -> NodeStatus {
    NodeStatus {
        node: node.into(),
        role: "node".into(),
        phase: "running".into(),
        ready: true,
        not_ready: None,
        global_state: "active".into(),
        strategies: vec![StrategyStatus {
            name: "mm".into(),
            state: "active".into(),
            orders: 3,
            accepted: 2,
            fills: 1,
            rejects: 1,
        }],
        strategies_omitted: 0,
        journal_records: 10,
        mirror_offered: 10,
        mirror_acked: 7,
        events,
        event_time_ns: 1,
        status_dropped: 0,
        kills_applied: 0,
        ctl_malformed: 0,
        last_kill: None,
        updated_ms: lease::now_ms(),
    }
}

fn wait(v: &view::ClusterView, what: &str, ok: impl Fn(&ViewSnapshot) -> bool) -> ViewSnapshot {
    let t = Instant::now();
    loop {
        let s = v.snapshot();
        if ok(&s) {
            return s;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{what}: {s:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn statuses_are_read_back_malformed_ones_counted_and_kills_published() {
    let Some(c) = cluster() else { return };
    let cfg = config(&c, "view");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let js = jetstream::new(connect(&cfg).await.unwrap());
        status::ensure_nodes_bucket(&js, &cfg).await.unwrap();
    });
    let v = view::start_view(&cfg).unwrap();
    c.publish(&status::status_subject("n1"), &status_of("n1", 5).encode()).unwrap();
    c.publish(&status::status_subject("n2"), &status_of("n2", 6).encode()).unwrap();
    let s = wait(&v, "two nodes", |s| s.nodes.len() == 2);
    assert_eq!(s.nodes["n1"].status.events, 5);
    assert_eq!(s.nodes["n2"].status.mirror_lag(), 3);

    // Malformed under a real node's key: counted once, the last good status stays.
    c.publish(&status::status_subject("n1"), b"{\"node\":\"n1\",\"role\":\"node\",\"bogus\":1}").unwrap();
    let s = wait(&v, "malformed counted", |s| s.status_malformed == 1);
    assert_eq!(s.nodes["n1"].status.events, 5, "the last good status is kept");
    assert_eq!(s.nodes["n1"].malformed, 1);
    assert!(s.nodes["n1"].last_error.as_deref().unwrap().contains("bogus"), "{s:#?}");
    // Another node's name under n2's key: refused naming `node`.
    c.publish(&status::status_subject("n2"), &status_of("n3", 1).encode()).unwrap();
    let s = wait(&v, "wrong key counted", |s| s.status_malformed == 2);
    assert!(s.nodes["n2"].last_error.as_deref().unwrap().contains("field node"), "{s:#?}");
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(v.snapshot().status_malformed, 2, "each malformed value counted once");
    // Over the bound: the stream refuses it.
    let big = vec![b' '; MAX_STATUS_BYTES + 1];
    assert!(c.publish(&status::status_subject("n1"), &big).is_err());

    let text = view::render_metrics(&v.snapshot(), lease::now_ms());
    assert!(text.contains("bulkhead_cluster_node_up{node=\"n1\"} 1"), "{text}");
    assert!(text.contains("bulkhead_cluster_node_mirror_lag_records{node=\"n2\"} 3"), "{text}");
    assert!(text.contains("bulkhead_cluster_strategy_orders_total{node=\"n1\",strategy=\"mm\"} 3"), "{text}");
    assert!(text.contains("bulkhead_cluster_status_malformed_total 2"), "{text}");
    // Stale once old.
    let later = view::nodes_json(&v.snapshot(), lease::now_ms() + view::STALE_AFTER_MS + 1);
    assert!(later["nodes"].as_array().unwrap().iter().all(|n| n["stale"] == true), "{later:#}");

    // A kill order through the view: in the control stream, decodes as sent.
    let order = view::kill_order(&KillScope::Strategy("mm".into()), "ops", "drill").unwrap();
    let seq = v.kill(order.clone()).unwrap();
    let got = rt.block_on(async {
        let js = jetstream::new(connect(&cfg).await.unwrap());
        let stream = js.get_stream(CTL_STREAM).await.unwrap();
        stream.get_raw_message(seq).await.unwrap()
    });
    assert_eq!(KillOrder::decode(seq, &got.payload).unwrap(), (order, KillScope::Strategy("mm".into())));
    let s = wait(&v, "streams listed", |s| s.streams.iter().any(|r| r.name == CTL_STREAM));
    assert!(s.streams.iter().any(|r| r.kind == "status"), "{:?}", s.streams);
}
