//! Issue 8: the harness's agreement verdict (`bench/report.py`), in the
//! normal test suite on small hand-made run records: native and sandboxed
//! Bulkhead must agree exactly; NautilusTrader within the documented
//! tolerance (0.1 % of orders and fills, 1 lot of final position). A
//! disagreement makes the report exit 3, so `bench/run.sh` fails loudly.
//! Needs `python3` (skipped with a message without it, as on a machine
//! that cannot run the bench either).

use std::path::Path;
use std::process::Command;

fn run_line(label: &str, events: u64, orders: u64, fills: u64, position: i64) -> String {
    format!(
        "{{\"label\":\"{label}\",\"events\":{events},\"wall_s\":1.0,\"cpu_s\":1.0,\"events_per_s\":{events},\
         \"peak_rss_kib\":1024,\"orders\":{orders},\"fills\":{fills},\"position_lots\":{position}}}"
    )
}

/// Exit code and stdout of the report over these run records.
fn report(lines: &[String]) -> Option<(i32, String)> {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs.jsonl");
    std::fs::write(&runs, lines.join("\n")).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/report.py");
    let out = match Command::new("python3").arg(&script).arg("--runs").arg(&runs).arg("--out").arg(dir.path()).output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: python3 not runnable ({e})");
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dir.path().join("results.json").exists(),
        "no results.json: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.code().unwrap_or(-1), stdout))
}

#[test]
fn engines_that_agree_pass_and_engines_that_do_not_fail_the_report() {
    let agreeing = [
        run_line("native", 1_000_000, 151_383, 80_531, 3),
        run_line("sandboxed", 1_000_000, 151_383, 80_531, 3),
        // +4 orders, +8 fills: the published 1 M-event run, inside 0.1 %.
        run_line("nautilus", 1_000_000, 151_387, 80_539, 3),
    ];
    let Some((code, out)) = report(&agreeing) else { return };
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("agreement verdict: OK (6 checks)"), "{out}");

    // One fill apart between native and sandboxed is a failure.
    let mut native_off = agreeing.clone();
    native_off[1] = run_line("sandboxed", 1_000_000, 151_383, 80_532, 3);
    let (code, out) = report(&native_off).unwrap();
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("DISAGREE: native fills=80531 but sandboxed fills=80532"), "{out}");

    // Nautilus 0.2 % off on orders, or 2 lots off on position.
    let mut naut_off = agreeing.clone();
    naut_off[2] = run_line("nautilus", 1_000_000, 151_700, 80_539, 3);
    let (code, out) = report(&naut_off).unwrap();
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("DISAGREE: orders: Bulkhead 151383, Nautilus 151700"), "{out}");
    naut_off[2] = run_line("nautilus", 1_000_000, 151_387, 80_539, 5);
    let (code, out) = report(&naut_off).unwrap();
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("DISAGREE: final position"), "{out}");
}
