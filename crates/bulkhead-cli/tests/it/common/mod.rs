//! Helpers shared by the CLI tests: run the real binary on real files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Run `bulkhead ARGS`: (exit code, stdout, stderr).
pub fn bulkhead(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bulkhead")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The demo config, 3 000 events, absolute module/policy paths, written to
/// `dir/cfg.toml` after `edit`; its journal lands in `dir/out/demo.journal`.
pub fn demo_variant(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(root().join("examples/demo.toml")).unwrap();
    let examples = root().join("examples");
    let text = text
        .replace("\"../strategies/", &format!("\"{}/strategies/", root().display()))
        .replace("\"policies/", &format!("\"{}/policies/", examples.display()))
        .replace("events = 1_000_000", "events = 3_000");
    let path = dir.join("cfg.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// One-line user error, exit 2, naming every needle.
pub fn assert_user_error(code: i32, stderr: &str, needles: &[&str]) {
    assert_eq!(code, 2, "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line expected: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "`{n}` not in: {stderr}");
    }
}
