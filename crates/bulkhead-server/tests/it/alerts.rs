//! Surveillance alerts in the control plane, against a real server on a
//! loopback port with the real engine behind it: the demo's market-maker
//! under a tight `quote_stuffing` rule raises `ALERT` records, which
//! `/api/v1/alerts`, `/metrics` and the journal show.

use crate::common;

use common::*;
use serde_json::json;

const STUFFING: &str = "[surveillance.quote_stuffing]\nwindow_ms = 1000\nmax_messages = 5\naction = \"alert\"\n";

#[test]
fn alerts_are_listed_filtered_and_counted() {
    let mut h = start_live(LiveOptions { surveillance: Some(STUFFING), ..LiveOptions::default() });
    let v = h.wait_for("/api/v1/alerts", |v| v["alerts"].as_array().is_some_and(|a| !a.is_empty()));
    let a = &v["alerts"][0];
    assert_eq!(a["rule"], json!("quote_stuffing"), "{a}");
    assert_eq!(a["action"], json!("alert"), "{a}");
    assert_eq!(a["strategy"], json!("market-maker"), "{a}");
    assert_eq!(a["threshold"], json!(5), "{a}");
    assert!(a["observed"].as_i64().unwrap() > 5, "{a}");
    assert!(a["seen_unix_ms"].as_u64().unwrap() > 0, "{a}");
    assert!(!a["text"].as_str().unwrap().is_empty(), "{a}");
    // Filters: by rule and strategy, and bad values name their field.
    let v = h.wait_for("/api/v1/alerts?rule=quote_stuffing&strategy=market-maker&limit=1", |_| true);
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1, "{v}");
    let v = h.wait_for("/api/v1/alerts?rule=spoofing", |_| true);
    assert_eq!(v["alerts"], json!([]), "{v}");
    let r = request(h.addr, "GET", "/api/v1/alerts?rule=bogus", Some(&h.tokens.viewer), None);
    assert_error(&r, 422, Some("rule"), "unknown rule");
    let r = request(h.addr, "GET", "/api/v1/alerts?strategy=nobody", Some(&h.tokens.viewer), None);
    assert_eq!(r.status, 404);
    // /metrics counts every alert by strategy, rule and action.
    let m = request(h.addr, "GET", "/metrics", Some(&h.tokens.viewer), None).text();
    assert!(
        m.contains("bulkhead_alerts_total{strategy=\"market-maker\",rule=\"quote_stuffing\",action=\"alert\"}"),
        "{m}"
    );
    // Each listed alert is an ALERT record of the journal, at its seq.
    let seq = a["seq"].as_u64().unwrap();
    h.stop();
    let journal = h.journal();
    assert!(journal.iter().any(|r| r.seq == seq && r.kind == bulkhead_engine::records::ALERT), "no ALERT at {seq}");
}
