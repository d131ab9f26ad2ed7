//! The per-strategy table printed at the end of a run.
//!
//! Resource columns (wasm strategies; `-` for native ones), over every
//! instance the strategy has had: `fuel` used, callback wall time `cb p50` /
//! `cb p99` / `cb max` (of the timed `bulkhead_on_events` calls — about one
//! in `bulkhead_sandbox::WALL_SAMPLE_EVERY`, always the first; the quantiles
//! are histogram bucket bounds, at most 12.5 % high and never above the max),
//! `host calls`, `log bytes` and `peak mem` (largest linear memory).

use crate::engine::{RunReport, Status};
use bulkhead_abi::Reason;
use bulkhead_model::format_money;
use std::fmt::Write;

fn reason_name(code: u16) -> String {
    Reason::from_code(code).map_or_else(|| format!("code_{code}"), |r| r.name().to_string())
}

/// A duration for the table: `850ns`, `12.3µs`, `4.1ms`, `1.25s`.
pub fn format_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{:.1}µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}ms", ns as f64 / 1e6),
        _ => format!("{:.2}s", ns as f64 / 1e9),
    }
}

/// Render the final report as a plain-text table.
#[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
pub fn render(r: &RunReport) -> String {
    let mut out = String::new();
    let headers = [
        "strategy",
        "state",
        "events",
        "submitted",
        "accepted",
        "rejected",
        "fills",
        "position",
        "realised",
        "unrealised",
        "fees",
        "fuel",
        "cb p50",
        "cb p99",
        "cb max",
        "host calls",
        "log bytes",
        "peak mem",
        "faults",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let dash = || "-".to_string();
    for s in &r.strategies {
        let sb = s.sandbox.as_ref();
        let rejected: u64 = s.stats.rejected.values().sum();
        let position = if s.positions.is_empty() {
            "0".to_string()
        } else {
            s.positions
                .iter()
                .map(|(id, q)| {
                    let inst = &r.instruments[*id as usize];
                    format!("{} {}", inst.format_qty(*q), inst.symbol)
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let state = match &s.status {
            Status::Running => "running".to_string(),
            Status::Backoff { .. } => "BACKOFF".to_string(),
            Status::Quarantined { .. } => "QUARANTINED".to_string(),
        };
        let faults = match &s.status {
            Status::Backoff { kind, .. } | Status::Quarantined { kind, .. } => format!("{} ({kind})", s.stats.faults),
            Status::Running if s.stats.faults > 0 => format!("{} (restarted {}×)", s.stats.faults, s.restarts),
            Status::Running => "0".to_string(),
        };
        rows.push(vec![
            s.name.clone(),
            state,
            s.stats.events.to_string(),
            s.stats.submitted.to_string(),
            s.stats.accepted.to_string(),
            rejected.to_string(),
            s.stats.fills.to_string(),
            position,
            format_money(s.realised),
            format_money(s.unrealised),
            format_money(s.fees),
            s.fuel_used.to_string(),
            sb.map_or_else(dash, |x| format_ns(x.wall_p50_ns())),
            sb.map_or_else(dash, |x| format_ns(x.wall_p99_ns())),
            sb.map_or_else(dash, |x| format_ns(x.wall_max_ns())),
            sb.map_or_else(dash, |x| x.host_calls.to_string()),
            sb.map_or_else(dash, |x| x.log_bytes.to_string()),
            format!("{:.1} MiB", s.peak_memory_bytes as f64 / (1024.0 * 1024.0)),
            faults,
        ]);
    }
    let widths: Vec<usize> = (0..headers.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).chain([headers[c].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (c, cell) in cells.iter().enumerate() {
            if c == 0 {
                let _ = write!(s, "{:<w$}", cell, w = widths[c]);
            } else {
                let _ = write!(s, "  {:>w$}", cell, w = widths[c]);
            }
        }
        s.trim_end().to_string()
    };
    out.push_str(&line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>()));
    out.push('\n');
    out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    for s in &r.strategies {
        if !s.stats.rejected.is_empty() {
            let reasons: Vec<String> =
                s.stats.rejected.iter().map(|(code, n)| format!("{}={}", reason_name(*code), n)).collect();
            let _ = writeln!(out, "rejected by reason, {}: {}", s.name, reasons.join(" "));
        }
        if s.history.len() > 1 {
            for c in &s.history[1..] {
                let _ = writeln!(out, "{}: {} at ts {}: {}", s.name, c.state, c.at_ns, c.reason);
            }
        }
    }
    let _ = writeln!(
        out,
        "events: {}  journal: {} records, {} bytes, last seal {}",
        r.events,
        r.journal.records,
        r.journal.bytes,
        hex::encode(&r.journal.last_hash[..8])
    );
    out
}
