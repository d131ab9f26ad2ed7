//! The API against its own description: schemathesis (an independent
//! OpenAPI fuzzer, pinned in `scripts/schemathesis-venv.sh`) generates
//! requests from `/openapi.json` and checks every answer against it, on a
//! real server with the real engine behind it (a paced run, admin token).
//!
//! The fuzzer lives in a Python venv: `scripts/test.sh` creates it
//! (`target/schemathesis-venv`) and sets `BULKHEAD_REQUIRE_SCHEMATHESIS=1`,
//! so a missing venv then FAILS this test. Run alone without the venv, the
//! test says loudly on stderr that it did not run.

use crate::common;

use common::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn schemathesis() -> Option<PathBuf> {
    let path = std::env::var_os("BULKHEAD_SCHEMATHESIS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/schemathesis-venv/bin/schemathesis")
    });
    path.exists().then_some(path)
}

#[test]
fn the_api_matches_its_openapi_description() {
    let Some(st) = schemathesis() else {
        let required = std::env::var_os("BULKHEAD_REQUIRE_SCHEMATHESIS").is_some_and(|v| v == "1");
        assert!(
            !required,
            "schemathesis is missing but BULKHEAD_REQUIRE_SCHEMATHESIS=1: run scripts/schemathesis-venv.sh"
        );
        eprintln!(
            "\n*** NOT RUN: the_api_matches_its_openapi_description needs schemathesis \
             (scripts/schemathesis-venv.sh; scripts/test.sh does it) ***\n"
        );
        return;
    };
    let h = start_live(running());
    let report = h.dir.path().join("schemathesis");
    let out = Command::new(&st)
        .arg("--config-file")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml"))
        .args(["run", &format!("http://{}/openapi.json", h.addr)])
        // Not the stateful phase: it chains "create an admin token" into
        // "revoke the caller's token" and locks itself out.
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--header", &format!("Authorization: Bearer {}", h.tokens.admin)])
        // Endless by design: its event types are checked in engine_api.rs.
        .args(["--exclude-path", "/api/v1/stream"])
        // One worker: with threads, CPython 3.11.7 (this machine's) fails
        // at random in compile() ("AST constructor recursion depth mismatch").
        .args(["--max-examples", "30", "--seed", "19", "--workers", "1"])
        .args(["--request-timeout", "10", "--no-color"])
        .arg("--report-dir")
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("run schemathesis");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    assert!(out.status.success(), "schemathesis found mismatches between the API and /openapi.json:\n{text}");
}

/// A live run that stays `running` for the whole test: a throttled feed of
/// about 1 000 events/s. (Not `pace`: `EngineControl::before_event`'s
/// pacing can panic on a busy machine, issue 19 item 1, fixed elsewhere.)
fn running() -> LiveOptions {
    LiveOptions { events: 600_000, throttle: Some(Duration::from_millis(1)), ..LiveOptions::default() }
}
