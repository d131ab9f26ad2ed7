//! Issue 19: a live run's operator-facing behaviour, on the real binary:
//! graceful stop on SIGTERM, `--ack-lines` while paced, the plain-HTTP
//! warning, `journal show` on a crashed journal, a resume that refuses
//! damage, and an I/O error printed once.

use crate::common;

use common::{bulkhead, demo_variant};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

/// Wait (bounded, generous: a loaded 2-core machine) until the journal has records.
fn wait_for_records(journal: &Path) {
    let seg = journal.join("00000000.bhj");
    let t = Instant::now();
    while std::fs::metadata(&seg).map_or(0, |m| m.len()) < 300_000 {
        assert!(t.elapsed() < Duration::from_secs(120), "the run never started writing");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm(pid: u32) {
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
}

fn graceful_stop(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_variant(dir.path(), |t| t.replace("events = 3_000", "events = 100_000_000"));
    let journal = dir.path().join("out/demo.journal");
    let mut args = vec!["run", cfg.to_str().unwrap(), "--quiet"];
    args.extend_from_slice(extra);
    let child = bin().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for_records(&journal);
    sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("stopped by SIGTERM after"), "{stderr}");
    assert!(stdout.contains("market-maker") && stdout.contains("wall time"), "{stdout}");
    let (code, v, _) = bulkhead(&["journal", "verify", journal.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    assert!(v.starts_with("OK: "), "{v}");
    // A graceful stop ends the run as the end of its data would: RUN_END last.
    let (code, shown, err) = bulkhead(&["journal", "show", journal.to_str().unwrap(), "--kind", "run_end"]);
    assert_eq!((code, shown.lines().count()), (0, 1), "{shown}{err}");
}

#[test]
fn sigterm_stops_a_run_gracefully() {
    graceful_stop(&[]);
}

#[test]
fn sigterm_stops_a_paced_run_gracefully() {
    graceful_stop(&["--pace", "1000000"]);
}

#[test]
fn ack_lines_are_printed_in_a_paced_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_variant(dir.path(), |t| t.replace("fsync = \"never\"", "fsync = \"every:50\""));
    // Paced slowly enough (3 s of demo event time at 20x: ~150 ms) that the writer fsyncs
    // several times during the run however fast the machine is.
    let (code, out, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet", "--pace", "20", "--ack-lines"]);
    assert_eq!(code, 0, "{err}");
    let acks: Vec<u64> = out.lines().filter_map(|l| l.strip_prefix("acked ")).map(|n| n.parse().unwrap()).collect();
    assert!(acks.len() > 3, "{out}");
    assert!(acks.windows(2).all(|w| w[0] <= w[1]), "{acks:?}");
    let (_, v, _) = bulkhead(&["journal", "verify", dir.path().join("out/demo.journal").to_str().unwrap()]);
    let records: u64 = v.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(*acks.last().unwrap(), records, "{v}");
}

#[test]
fn a_bad_pace_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_variant(dir.path(), |t| t);
    for p in ["0", "-0.5", "NaN", "inf"] {
        let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap(), &format!("--pace={p}")]);
        common::assert_user_error(code, &err, &["--pace"]);
    }
}

#[test]
fn plain_http_on_a_non_loopback_address_is_warned_about_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    let (code, _, err) =
        bulkhead(&["token", "add", "--file", tokens.to_str().unwrap(), "--name", "ops", "--role", "admin"]);
    assert_eq!(code, 0, "{err}");
    let cfg = demo_variant(dir.path(), |t| t.replace("events = 3_000", "events = 100_000_000"));
    let mut child = bin()
        .args(["run", cfg.to_str().unwrap(), "--quiet", "--listen", "0.0.0.0:0", "--tokens", tokens.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let warned = loop {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("warning: ") => break l,
            Some(Ok(l)) => seen.push(l),
            _ => panic!("no warning before stderr closed: {seen:?}"),
        }
    };
    assert!(warned.contains("plain HTTP") && warned.contains("0.0.0.0:"), "{warned}");
    sigterm(child.id());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// A crashed run: the last record torn.
fn crashed_journal(dir: &Path) -> (std::path::PathBuf, u64) {
    let cfg = demo_variant(dir, |t| t);
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    let journal = dir.join("out/demo.journal");
    let (_, v, _) = bulkhead(&["journal", "verify", journal.to_str().unwrap()]);
    let records: u64 = v.split_whitespace().nth(1).unwrap().parse().unwrap();
    let seg = journal.join("00000000.bhj");
    let len = std::fs::metadata(&seg).unwrap().len();
    // A finished journal ends with its closing seal; a crash leaves none and tears the last record.
    let cut = len - 7 - bulkhead_journal::SEAL_FRAME_LEN as u64;
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(cut).unwrap();
    (journal, records)
}

#[test]
fn journal_show_reads_a_crashed_journal_and_names_the_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, records) = crashed_journal(dir.path());
    let before = snapshot(&journal);
    let (code, out, err) = bulkhead(&["journal", "show", journal.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count() as u64, records - 1);
    assert!(
        err.starts_with("torn tail: segment 00000000.bhj from byte ") && err.contains("nothing was changed"),
        "{err}"
    );
    let (code, out, err) = bulkhead(&["journal", "show", journal.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count() as u64, records - 1);
    let o: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(o["torn_tail"]["segment"], "00000000.bhj");
    assert_eq!(o["torn_tail"]["seq"], records - 1);
    assert_eq!(snapshot(&journal), before, "show changes nothing");
}

#[test]
fn journal_show_reports_damage_in_the_middle_after_the_records_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = crashed_journal(dir.path());
    let recs: Vec<_> = bulkhead_journal::JournalReader::open(&journal)
        .unwrap()
        .take_while(Result::is_ok)
        .map(Result::unwrap)
        .collect();
    let r = &recs[recs.len() / 2];
    let seg = journal.join("00000000.bhj");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[r.offset as usize + 24] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let (code, out, err) = bulkhead(&["journal", "show", journal.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(out.lines().count() as u64, r.seq);
    assert!(err.contains(&format!("record #{} at byte {}", r.seq, r.offset)), "{err}");

    // And a resume refuses it, naming the place, changing nothing.
    let before = snapshot(&journal);
    let cfg = dir.path().join("cfg.toml");
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet", "--resume"]);
    common::assert_user_error(code, &err, &["cannot resume", "00000000.bhj", &format!("record #{}", r.seq)]);
    assert_eq!(snapshot(&journal), before);
}

/// A write error (here: the file size limit, EFBIG; ENOSPC takes the same
/// path) is printed once, with the segment's path.
#[test]
fn a_journal_write_error_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_variant(dir.path(), |t| t.replace("fsync = \"never\"", "fsync = \"every:10\""));
    let out = Command::new("bash")
        .args([
            "-c",
            &format!(
                "ulimit -f 256; trap '' XFSZ; exec {} run {} --quiet",
                env!("CARGO_BIN_EXE_bulkhead"),
                cfg.display()
            ),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("File too large").count(), 1, "{err}");
    assert!(err.contains("00000000.bhj"), "{err}");
}
