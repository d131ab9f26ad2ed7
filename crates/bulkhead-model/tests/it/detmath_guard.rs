//! Keeps platform libm calls out of host code: every `.rs` file under
//! `crates/*/{src,tests,benches,examples}` is scanned for f64 methods that go
//! to the host's libm or to compiler intrinsics (`.exp(`, `.ln(`, `.powf(`,
//! `.powi(`, `.mul_add(` …). Use `bulkhead_model::detmath` instead (see its
//! docs). `clippy.toml` bans the same methods by type; this test runs with
//! `cargo test`, so CI catches a new call even without clippy.

use std::path::{Path, PathBuf};

const BANNED: &[&str] = &[
    ".exp(",
    ".exp2(",
    ".exp_m1(",
    ".ln(",
    ".ln_1p(",
    ".log2(",
    ".log10(",
    ".powf(",
    ".powi(",
    ".mul_add(",
    ".tanh(",
    ".sinh(",
    ".cosh(",
    ".cbrt(",
    ".hypot(",
    ".atan2(",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// (file, line number, line) of every banned call outside comments.
fn offences(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for c in std::fs::read_dir(root).unwrap().flatten() {
        for sub in ["src", "tests", "benches", "examples"] {
            rust_files(&c.path().join(sub), &mut files);
        }
    }
    assert!(files.len() > 50, "found only {} files under {}", files.len(), root.display());
    let mut bad = Vec::new();
    for f in files {
        if f.ends_with("detmath_guard.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if BANNED.iter().any(|b| code.contains(b)) {
                bad.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    bad
}

#[test]
fn no_platform_libm_calls_in_host_crates() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let bad = offences(&crates);
    assert!(bad.is_empty(), "use bulkhead_model::detmath instead of:\n{}", bad.join("\n"));
}

#[test]
fn the_guard_sees_a_call() {
    let dir = tempfile_dir();
    let c = dir.join("some-crate/src");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("lib.rs"), "// x.exp() in a comment is fine\nfn f(x: f64) -> f64 { x.powi(2) }\n").unwrap();
    for i in 0..60 {
        std::fs::write(c.join(format!("m{i}.rs")), "fn g() {}\n").unwrap();
    }
    let bad = offences(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].ends_with("lib.rs:2: fn f(x: f64) -> f64 { x.powi(2) }"), "{bad:?}");
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("detmath-guard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
