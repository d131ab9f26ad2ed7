//! The journal as an auditor and an operator use it, through the binary:
//! crash (SIGKILL) and resume, `journal show`, signed checkpoints, replay.

use crate::common;

use bulkhead_journal::{JournalReader, segment_files};
use common::{assert_user_error, bulkhead, demo_variant, root};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Records readable before the first damage (a torn tail after a kill).
fn good_prefix(dir: &Path) -> u64 {
    match JournalReader::open(dir) {
        Ok(r) => r.take_while(Result::is_ok).count() as u64,
        Err(_) => 0,
    }
}

fn journal_of(cfg: &Path) -> PathBuf {
    cfg.parent().unwrap().join("out/demo.journal")
}

/// Run the demo (group commit) and SIGKILL it at pseudo-random points (a
/// seeded generator), again and again, each time restarting with
/// `--resume`; then let it finish. At least 20 kills land — during start-up,
/// while the journalled prefix is re-derived and while new records are being
/// appended. No record acknowledged (`acked N` on stdout) before a kill may
/// be missing after it, the chain verifies after every kill, and the final
/// journal must be byte-identical to a run that was never interrupted.
#[test]
fn sigkill_at_random_points_loses_nothing_acknowledged_and_resume_completes_the_run() {
    const KILLS: u32 = 24;
    let edit = |t: String| {
        t.replace("events = 3_000", "events = 20_000").replace("fsync = \"never\"", "fsync = \"every:256:2ms\"")
    };
    let tmp = tempfile::tempdir().unwrap();
    let ref_dir = tmp.path().join("reference");
    let crash_dir = tmp.path().join("crash");
    std::fs::create_dir_all(&ref_dir).unwrap();
    std::fs::create_dir_all(&crash_dir).unwrap();
    let ref_cfg = demo_variant(&ref_dir, edit);
    let crash_cfg = demo_variant(&crash_dir, edit);
    let test_started = std::time::Instant::now();
    let (code, _, err) = bulkhead(&["run", ref_cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    let run_ms = test_started.elapsed().as_millis() as u64;
    let reference = segment_files(&journal_of(&ref_cfg)).unwrap();
    let total = good_prefix(&journal_of(&ref_cfg));

    // Each round lives a random 0 .. 100 ms (start-up) + run/10: about 20
    // rounds add up to one uninterrupted run, so the kills spread over it.
    // Under load a round's start-up and re-derivation take longer than the
    // reference run suggests: the window adapts — a kill that found nothing
    // new appended widens it (up to two uninterrupted runs), a round that
    // finished before its kill narrows it — so kills keep reaching the
    // appending phase whatever the machine is doing.
    let mut window = 100 + run_ms / 10;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let (mut kills, mut appending_kills, mut finished_rounds) = (0u32, 0u32, 0u32);
    let mut kept_before = 0;
    for round in 0..8 * KILLS {
        if kills >= KILLS && appending_kills >= KILLS / 4 {
            break;
        }
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay_us = (seed >> 24) % (window * 1000);
        let mut child = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
            .args(["run", crash_cfg.to_str().unwrap(), "--quiet", "--resume", "--ack-lines"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(delay_us));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL
        let status = child.wait().unwrap();
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(!err.contains("panicked"), "round {round}: {err}");
        if finished {
            assert!(status.success(), "round {round}: {err}");
            finished_rounds += 1;
            window = (window * 2 / 3).max(20);
            // The run completed: start over from an empty journal so every
            // kill still lands in a run that has work left.
            assert!(
                segment_files(&journal_of(&crash_cfg)).unwrap() == reference,
                "round {round}: completed journal differs"
            );
            std::fs::remove_dir_all(journal_of(&crash_cfg)).unwrap();
            kept_before = 0;
            continue;
        }
        kills += 1;
        let acked = out.lines().filter_map(|l| l.strip_prefix("acked ")?.parse::<u64>().ok()).max().unwrap_or(0);
        let kept = good_prefix(&journal_of(&crash_cfg));
        assert!(
            kept >= acked,
            "round {round} (killed after {delay_us} us): {acked} records acknowledged, {kept} survive"
        );
        assert!(kept >= kept_before, "round {round}: {kept_before} records before, {kept} after");
        // The chain verifies up to a torn tail, and a tear is only ever at the end.
        // (Killed before the journal was created: nothing to check.)
        let segs =
            if journal_of(&crash_cfg).is_dir() { segment_files(&journal_of(&crash_cfg)).unwrap().len() } else { 0 };
        if segs > 0
            && let Err(e) = bulkhead_journal::verify(&journal_of(&crash_cfg))
        {
            assert_eq!(e.segment(), Some(segs as u32 - 1), "round {round}: damage before the tail: {e}");
        }
        appending_kills += u32::from(kept > kept_before);
        if kept <= kept_before {
            window = (window * 3 / 2).min(100 + 2 * run_ms);
        }
        kept_before = kept;
    }
    assert!(kills >= KILLS, "only {kills} kills landed (uninterrupted run: {run_ms} ms)");
    // Not only start-up and re-derivation: many kills hit a run that was appending.
    assert!(appending_kills >= KILLS / 4, "only {appending_kills} of {kills} kills landed while appending");
    let (code, _, err) = bulkhead(&["run", crash_cfg.to_str().unwrap(), "--quiet", "--resume"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = bulkhead(&["journal", "verify", journal_of(&crash_cfg).to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        segment_files(&journal_of(&crash_cfg)).unwrap() == reference,
        "resumed journal differs from the uninterrupted one"
    );
    eprintln!(
        "{kills} kills ({appending_kills} while appending, {finished_rounds} rounds ran to the end) over a run of \
         {total} records / {run_ms} ms; test took {} ms",
        test_started.elapsed().as_millis()
    );
}

#[test]
fn show_prints_filtered_records_as_text_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo_variant(tmp.path(), |t| t);
    assert_eq!(bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]).0, 0);
    let j = journal_of(&cfg);
    let j = j.to_str().unwrap();

    let (code, out, err) = bulkhead(&["journal", "show", j, "--strategy", "momentum", "--kind", "order", "--json"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!lines.is_empty());
    for v in &lines {
        assert_eq!(v["record"], "order", "{v}");
        assert_eq!(v["strategy"], "momentum", "{v}");
        assert!(v["reason_name"].is_string() && v["order"]["qty"].is_i64() && v["seq"].is_u64(), "{v}");
        // A refusal also carries risk's own words, in decimal units.
        if v["reason"] == 0 {
            assert!(v.get("message").is_none(), "{v}");
        } else {
            let m = v["message"].as_str().unwrap_or_else(|| panic!("no message: {v}"));
            assert!(m.starts_with(v["reason_name"].as_str().unwrap()) && m.contains("BTC-USDT-PERP"), "{v}");
        }
    }
    let rejected = lines.iter().filter(|v| v["reason"] != 0).count();
    assert!(rejected > 0, "the demo's momentum strategy has no refused order to read");
    // The same selection as text: one line each, with the decision spelled out.
    let (_, text, _) = bulkhead(&["journal", "show", j, "--strategy", "momentum", "--kind", "order"]);
    assert_eq!(text.lines().count(), lines.len());
    assert!(text.lines().all(|l| l.contains("momentum order #")), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("REJECTED") && l.contains(" — R")).count(), rejected, "{text}");

    // A time window and a limit.
    let ts: Vec<u64> = lines.iter().map(|v| v["ts_ns"].as_u64().unwrap()).collect();
    let (from, to) = (ts[0], ts[ts.len() / 2]);
    let (_, out, _) = bulkhead(&[
        "journal",
        "show",
        j,
        "--kind",
        "market",
        "--from-ns",
        &from.to_string(),
        "--to-ns",
        &to.to_string(),
        "--json",
    ]);
    assert!(out.lines().all(|l| {
        let t = serde_json::from_str::<serde_json::Value>(l).unwrap()["ts_ns"].as_u64().unwrap();
        (from..=to).contains(&t)
    }));
    let (_, out, _) = bulkhead(&["journal", "show", j, "--limit", "5"]);
    assert_eq!(out.lines().count(), 5);
    assert!(out.lines().next().unwrap().contains("run_start"), "{out}");

    let (code, _, err) = bulkhead(&["journal", "show", j, "--kind", "orders"]);
    assert_user_error(code, &err, &["--kind", "orders"]);
    let (code, _, err) = bulkhead(&["journal", "show", j, "--strategy", "nobody"]);
    assert_user_error(code, &err, &["--strategy", "nobody", "market-maker"]);
}

#[test]
fn signed_checkpoint_reveals_a_cut_or_rewritten_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    assert_eq!(bulkhead(&["keygen", "auditor", "--dir", keys.to_str().unwrap()]).0, 0);
    assert_eq!(bulkhead(&["keygen", "mallory", "--dir", keys.to_str().unwrap()]).0, 0);
    let trusted = keys.join("auditor.pub");
    let cfg = demo_variant(tmp.path(), |t| t);
    assert_eq!(bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]).0, 0);
    let j = journal_of(&cfg);
    let js = j.to_str().unwrap();
    let (code, out, err) =
        bulkhead(&["journal", "checkpoint", js, "--key", keys.join("auditor.key").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("signed by auditor"), "{out}");
    let (code, out, _) = bulkhead(&["journal", "verify", js, "--trusted-keys", trusted.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("checkpoints: 1 verified (trusted key)") && out.contains("by auditor"), "{out}");

    // Not signed by a trusted key.
    let (code, out, _) =
        bulkhead(&["journal", "verify", js, "--trusted-keys", keys.join("mallory.pub").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.starts_with("BAD: ") && out.contains("not in the trusted keys"), "{out}");

    // Cut off the last record cleanly: the chain alone still verifies...
    let last = JournalReader::open(&j).unwrap().map(Result::unwrap).last().unwrap();
    let cut = tmp.path().join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    for e in std::fs::read_dir(&j).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, cut.join(p.file_name().unwrap())).unwrap();
    }
    let seg = cut.join(bulkhead_journal::segment_file_name(last.segment));
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(last.offset).unwrap();
    assert!(bulkhead_journal::verify(&cut).is_ok());
    // ...but the checkpoint knows.
    let (code, out, _) =
        bulkhead(&["journal", "verify", cut.to_str().unwrap(), "--trusted-keys", trusted.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("BAD: ") && out.contains("cut off") && out.contains(&format!("#{}", last.seq)), "{out}");

    // A rewritten journal (another run, rehashed end to end) under the old checkpoint.
    let other_dir = tmp.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other =
        demo_variant(&other_dir, |t| t.replace("seed = 42", "seed = 43").replace("events = 3_000", "events = 3_500"));
    assert_eq!(bulkhead(&["run", other.to_str().unwrap(), "--quiet"]).0, 0);
    let oj = journal_of(&other);
    for e in std::fs::read_dir(&j).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "bhc") {
            std::fs::copy(&p, oj.join(p.file_name().unwrap())).unwrap();
        }
    }
    let (code, out, _) =
        bulkhead(&["journal", "verify", oj.to_str().unwrap(), "--trusted-keys", trusted.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("BAD: ") && out.contains("rewritten"), "{out}");
}

#[test]
fn replay_command_reports_identical_then_a_changed_module() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo_variant(tmp.path(), |t| t);
    assert_eq!(bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]).0, 0);
    let j = journal_of(&cfg);
    let modules = root().join("strategies/wasm");
    let (code, out, err) =
        bulkhead(&["journal", "replay", j.to_str().unwrap(), "--modules", modules.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("IDENTICAL") && out.contains("strategy `momentum`: all"), "{out}");

    let changed = tmp.path().join("changed");
    std::fs::create_dir_all(&changed).unwrap();
    for m in ["market_maker", "misbehaving"] {
        std::fs::copy(modules.join(format!("{m}.wasm")), changed.join(format!("{m}.wasm"))).unwrap();
    }
    std::fs::copy(modules.join("bench_ema.wasm"), changed.join("momentum.wasm")).unwrap();
    let (code, out, _) = bulkhead(&["journal", "replay", j.to_str().unwrap(), "--modules", changed.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("module CHANGED: strategy `momentum`"), "{out}");
    assert!(out.contains("strategy `momentum`: DIFFERS") && out.contains("DIFFERENT"), "{out}");
}

/// `journal verify` on a journal whose middle segment was cut cleanly at a
/// record boundary (every remaining record verifies on its own) names the
/// segment, the first missing record and the byte offset of the cut.
#[test]
fn verify_names_the_cut_in_a_middle_segment_truncated_at_a_record_boundary() {
    use bulkhead_journal::{FsyncPolicy, JournalParams, JournalWriter};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let mut w = JournalWriter::create(
        &dir,
        JournalParams { fsync: FsyncPolicy::Never, segment_bytes: 4096, ..JournalParams::default() },
    )
    .unwrap();
    for i in 0..500u64 {
        w.append(7, i, &[i as u8; 40]).unwrap();
    }
    w.finish().unwrap();
    let recs: Vec<_> = JournalReader::open(&dir).unwrap().map(Result::unwrap).collect();
    assert!(recs.last().unwrap().segment >= 3);
    let in_seg1: Vec<_> = recs.iter().filter(|r| r.segment == 1).collect();
    let cut = in_seg1[in_seg1.len() / 2];
    let seg = dir.join(bulkhead_journal::segment_file_name(1));
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(cut.offset).unwrap();
    let (code, out, _) = bulkhead(&["journal", "verify", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let want = format!("segment 00000001.bhj record #{} at byte {}: segment ends early", cut.seq, cut.offset);
    assert!(out.starts_with("BAD: ") && out.contains(&want), "{out}");
    assert!(out.contains(&format!("next segment starts at record #{}", in_seg1.last().unwrap().seq + 1)), "{out}");
}
