//! The gateway's protocol against hostile and failing nodes, on a real
//! cluster: malformed steps, an unknown node, a node speaking for another,
//! an order id of another strategy, a re-sent step, a node gone silent
//! (cancel-on-disconnect); the run goes on for the others.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bulkhead_abi::{OrderRequest, OrderType, Reason, Side, TimeInForce};
use bulkhead_cluster::gateway::wire::encode_step;
use bulkhead_cluster::gateway::{GatewayOptions, NodeLink, OnDisconnect, order_stream, order_subject, run_gateway};
use bulkhead_engine::records::Record;
use bulkhead_engine::remote::{RemoteAction, SplitRole, VenueLink};
use bulkhead_engine::{JournalMode, LoadedConfig, venue_order_id};
use bulkhead_venue::VenueEvent;

use bulkhead_cluster::local::LocalCluster;

use crate::{cluster, config};

const EVENTS: u64 = 300;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The demo, `EVENTS` events, absolute paths, journal under `dir`.
fn demo(dir: &Path) -> LoadedConfig {
    let text = std::fs::read_to_string(root().join("examples/demo.toml")).unwrap();
    let text = text
        .replace("\"../strategies/", &format!("\"{}/strategies/", root().display()))
        .replace("\"policies/", &format!("\"{}/examples/policies/", root().display()))
        .replace("events = 1_000_000", &format!("events = {EVENTS}"))
        .replace("module_cache = \"out/module-cache\"", "");
    let path = dir.join("cfg.toml");
    std::fs::write(&path, text).unwrap();
    LoadedConfig::load(&path).unwrap()
}

fn limit(side: Side, price: i64, qty: i64) -> OrderRequest {
    OrderRequest {
        instrument: 0,
        side,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        reduce_only: false,
        price,
        qty,
        tag: 7,
    }
}

/// Publish `body` on `subject` as anyone could (no message id), once the
/// gateway's stream exists and takes messages.
fn raw(c: &LocalCluster, subject: String, body: Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let js = async_nats::jetstream::new(bulkhead_cluster::connect(&config(c, "x")).await.unwrap());
        for _ in 0..100 {
            if js.get_stream(order_stream("gp")).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A stream just created takes messages once its replicas formed.
        for attempt in 0.. {
            match js.publish(subject.clone(), body.clone().into()).await.unwrap().await {
                Ok(_) => break,
                Err(e) if attempt < 100 => eprintln!("retrying: {e}"),
                Err(e) => panic!("{e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// The gateway journal's `LOG` notes and the number of strategy 2's
/// orders cancelled on disconnect.
fn notes_and_disconnect_cancels(dir: &Path) -> (String, usize) {
    let mut notes = Vec::new();
    let mut cancels = 0;
    for r in bulkhead_journal::JournalReader::open(dir).unwrap() {
        let r = r.unwrap();
        match Record::decode(r.kind, &r.payload).unwrap() {
            Record::Log { message, .. } => notes.push(String::from_utf8_lossy(message).into_owned()),
            Record::Venue { sid: 2, event } if event.a == i64::from(Reason::CancelledOnDisconnect.code()) => {
                cancels += 1
            }
            _ => {}
        }
    }
    (notes.join("\n"), cancels)
}

fn step(node: &str, n: u64, hosted: &[u32], actions: Vec<RemoteAction>) -> Vec<u8> {
    encode_step(n, false, node, hosted, &actions)
}

#[test]
fn the_gateway_drops_bad_steps_and_duplicates_and_cancels_a_silent_nodes_orders() {
    let Some(c) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo(tmp.path());
    let gw_cfg = config(&c, "gw");
    let opts = GatewayOptions {
        name: "gp".into(),
        nodes: vec!["a".into(), "b".into()],
        heartbeat: Duration::from_millis(1500),
        on_disconnect: OnDisconnect::Cancel,
    };
    let gateway = {
        let cfg = demo(tmp.path());
        std::thread::spawn(move || {
            let mut run = bulkhead_engine::prepare_split_run(&cfg, JournalMode::Create, SplitRole::Gateway).unwrap();
            let report = run_gateway(&gw_cfg, &opts, &mut run.engine, run.source.as_mut());
            let duplicates = run.engine.gateway_duplicates();
            run.engine.finish().unwrap();
            (report, duplicates)
        })
    };
    // Hostile messages first in the stream: each is dropped, none is a node's step.
    let raw = |subject: String, body: Vec<u8>| raw(&c, subject, body);
    let foreign_id = venue_order_id(1, 1);
    raw(order_subject("gp", "a"), b"not a step".to_vec());
    raw(order_subject("gp", "zz"), step("zz", 0, &[0], vec![]));
    raw(order_subject("gp", "a"), step("b", 0, &[1], vec![]));
    let stolen = RemoteAction::Submit { sid: 0, order_id: foreign_id, order: limit(Side::Buy, 600_000, 5) };
    raw(order_subject("gp", "a"), step("a", 0, &[0], vec![stolen]));
    let mut cut = step("a", 0, &[0], vec![]);
    cut.pop();
    raw(order_subject("gp", "a"), cut);
    // Node a trades to the end; node b rests an order and goes silent at step 20.
    let node_b = {
        let ccfg = config(&c, "b");
        std::thread::spawn(move || {
            let mut link = NodeLink::open(&ccfg, "gp", vec![1, 2], 1, Duration::from_secs(30)).unwrap();
            let mut seen = Vec::new();
            for n in 0..20 {
                let actions = if n == 5 {
                    vec![RemoteAction::Submit {
                        sid: 2,
                        order_id: venue_order_id(2, 1),
                        order: limit(Side::Buy, 600_000, 1),
                    }]
                } else {
                    vec![]
                };
                seen.extend(link.exchange(n, false, &actions).unwrap().actions);
            }
            seen
        })
    };
    let mut link = NodeLink::open(&config(&c, "a"), "gp", vec![0], 1, Duration::from_secs(30)).unwrap();
    let mut seen = Vec::new();
    for n in 0..=EVENTS {
        let actions = match n {
            5 => vec![RemoteAction::Submit {
                sid: 0,
                order_id: venue_order_id(0, 1),
                order: limit(Side::Buy, 600_000, 5),
            }],
            // The same order id again: dropped at the gateway.
            6 => vec![RemoteAction::Submit {
                sid: 0,
                order_id: venue_order_id(0, 1),
                order: limit(Side::Buy, 600_000, 5),
            }],
            _ => vec![],
        };
        if n == 10 {
            // Step 3 again, without a message id (JetStream cannot dedup it): dropped.
            raw(order_subject("gp", "a"), step("a", 3, &[0], vec![]));
        }
        let answer = link.exchange(n, n == EVENTS, &actions).unwrap();
        seen.extend(answer.actions);
    }
    let b_seen = node_b.join().unwrap();
    let (report, duplicates) = gateway.join().unwrap();
    let report = report.unwrap();
    assert_eq!(report.malformed, 5, "{report:?}");
    assert_eq!(report.duplicate_steps, 1, "{report:?}");
    assert_eq!(duplicates, 1);
    assert_eq!(report.disconnected, vec![("b".to_string(), 20)]);
    let accepted = |seen: &[bulkhead_engine::remote::RemoteEvent], id: u64| {
        seen.iter().any(|e| matches!(e.event, VenueEvent::Accepted { order_id, .. } if order_id == id))
    };
    assert!(accepted(&seen, venue_order_id(0, 1)), "{seen:?}");
    assert!(accepted(&b_seen, venue_order_id(2, 1)), "{b_seen:?}");
    // a's order rests to the end of the run; b's is cancelled when b is gone.
    assert!(seen.iter().any(|e| matches!(e.event,
        VenueEvent::Cancelled { order_id, reason: Reason::CancelledAtEnd, .. } if order_id == venue_order_id(0, 1))));
    let (all, disconnect_cancels) = notes_and_disconnect_cancels(&cfg.journal_dir);
    assert_eq!(disconnect_cancels, 1, "{all}");
    for expected in [
        "field header",
        "node `zz` is not in this run",
        "field node",
        "action.order_id",
        "field length",
        "node b sent no step 20",
    ] {
        assert!(all.contains(expected), "no note with `{expected}`:\n{all}");
    }
}
