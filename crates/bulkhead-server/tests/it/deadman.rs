//! Cancel-on-disconnect (issue 16 item 4): an operator's API session arms
//! itself as the desk's dead-man switch on a real server with the real
//! engine behind it. While it heartbeats nothing happens; when it stops, the
//! engine executes `cancel_on_disconnect` (a journalled command naming the
//! operator), journals an `ALERT`, and cancels the scope's open orders with
//! `CANCEL_ON_DISCONNECT`.

use crate::common;

use bulkhead_engine::decode::{Decoded, decode};
use common::*;
use std::time::{Duration, Instant};

#[test]
fn a_silent_dead_man_switch_cancels_and_a_heartbeating_one_does_not() {
    let mut h = start_live(LiveOptions { events: 600_000, pace: Some(1.0), ..LiveOptions::default() });
    let op = h.tokens.operator.clone();
    // Bad input names the field.
    let bad = br#"{"scope":{"scope":"global"},"timeout_ms":5}"#;
    assert_error(
        &request(h.addr, "POST", "/api/v1/deadman", Some(&op), Some(bad)),
        422,
        Some("timeout_ms"),
        "timeout_ms",
    );
    let bad = br#"{"scope":"global","timeout_ms":500}"#;
    assert_error(&request(h.addr, "POST", "/api/v1/deadman", Some(&op), Some(bad)), 422, Some("scope"), "scope");
    let r = request(h.addr, "POST", "/api/v1/deadman/heartbeat", Some(&op), None);
    assert_eq!(r.status, 404, "no switch armed yet");
    let r = request(
        h.addr,
        "POST",
        "/api/v1/deadman",
        Some(&h.tokens.viewer),
        Some(br#"{"scope":{"scope":"global"},"timeout_ms":500}"#),
    );
    assert_eq!(r.status, 403, "viewers cannot arm one");
    // Armed, and kept alive for 1.5 s by heartbeats every 100 ms.
    let arm = br#"{"scope":{"scope":"global"},"timeout_ms":400}"#;
    let r = request(h.addr, "POST", "/api/v1/deadman", Some(&op), Some(arm));
    assert_eq!(r.status, 200, "{}", r.text());
    let alive_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < alive_until {
        let r = request(h.addr, "POST", "/api/v1/deadman/heartbeat", Some(&op), None);
        assert_eq!(r.status, 200, "{}", r.text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let v = h.wait_for("/api/v1/alerts?rule=cancel_on_disconnect", |_| true);
    assert_eq!(v["alerts"], serde_json::json!([]), "fired while heartbeating: {v}");
    // Silence: it fires within its timeout (plus a drain step).
    let v = h.wait_for("/api/v1/alerts?rule=cancel_on_disconnect", |v| {
        v["alerts"].as_array().is_some_and(|a| !a.is_empty())
    });
    assert!(v["alerts"][0]["text"].as_str().unwrap().contains("lost its heartbeat"), "{v}");
    // Fired once, then disarmed.
    let r = request(h.addr, "POST", "/api/v1/deadman/heartbeat", Some(&op), None);
    assert_eq!(r.status, 404);
    h.stop();
    let recs: Vec<Decoded> = h.journal().iter().map(|r| decode(r.kind, &r.payload).unwrap()).collect();
    let cmd = recs
        .iter()
        .position(|d| matches!(d, Decoded::Command { text } if text.starts_with("cancel_on_disconnect scope=global")))
        .expect("the command is journalled");
    assert!(
        matches!(&recs[cmd], Decoded::Command { text } if text.contains("halt=false") && text.contains("role=operator"))
    );
    let alert = recs.iter().position(|d| matches!(d, Decoded::Alert { rule: "cancel_on_disconnect", .. })).unwrap();
    assert!(alert > cmd, "journal first: command, then its alert");
    let cancelled = recs[alert..]
        .iter()
        .filter(|d| matches!(d, Decoded::Venue { event, .. } if event.event == "order_cancelled" && event.a == i64::from(bulkhead_abi::Reason::CancelledOnDisconnect.code())))
        .count();
    assert!(cancelled > 0, "the market maker's resting quotes were cancelled");
}
