//! The binary's behaviour on bad input: one clear line naming the file and
//! the field, line or offset; exit status 2; no panic, no backtrace.

use crate::common;

use common::{assert_user_error, bulkhead, demo_variant, root};

#[test]
fn a_short_demo_runs_and_its_journal_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_variant(dir.path(), |t| t);
    let (code, out, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("market-maker") && out.contains("QUARANTINED"), "{out}");
    let (code, out, _) = bulkhead(&["journal", "verify", dir.path().join("out/demo.journal").to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.starts_with("OK: "), "{out}");
}

#[test]
fn malformed_config_names_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_variant(dir.path(), |t| t.replace("taker_fee_ppm = 500", "taker_fee_ppm = \"lots\""));
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap()]);
    assert_user_error(code, &err, &["cfg.toml", "taker_fee_ppm"]);

    let cfg = demo_variant(dir.path(), |t| t.replace("[venue]", "[venue]\nspeed = 3"));
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap()]);
    assert_user_error(code, &err, &["cfg.toml", "speed"]);

    let cfg = demo_variant(dir.path(), |t| t.replace("tick_size = \"0.1\"", "tick_size = \"0.1x\""));
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap()]);
    assert_user_error(code, &err, &["cfg.toml", "instruments[0]", "tick_size"]);
}

#[test]
fn malformed_policy_names_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("bad_policy.toml");
    let text = std::fs::read_to_string(root().join("examples/policies/momentum.toml")).unwrap();
    std::fs::write(&policy, text.replace("max_order_qty = \"0.1\"", "max_order_qty = \"0.0001\"")).unwrap();
    let cfg = demo_variant(dir.path(), |t| {
        t.replacen(
            &format!("{}/policies/momentum.toml", root().join("examples").display()),
            policy.to_str().unwrap(),
            1,
        )
    });
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap()]);
    assert_user_error(code, &err, &["bad_policy.toml", "max_order_qty"]);
}

#[test]
fn missing_or_non_wasm_module_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_variant(dir.path(), |t| t.replace("momentum.wasm", "nope.wasm"));
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap()]);
    assert_user_error(code, &err, &["nope.wasm"]);

    let fake = dir.path().join("fake.wasm");
    std::fs::write(&fake, b"this is not wasm").unwrap();
    let cfg = demo_variant(dir.path(), |t| {
        t.replace(&format!("{}/strategies/wasm/momentum.wasm", root().display()), fake.to_str().unwrap())
    });
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap()]);
    assert_user_error(code, &err, &["fake.wasm"]);
}

#[test]
fn wrong_abi_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "bulkhead_abi_version") (result i32) i32.const 99)
             (func (export "bulkhead_buffer") (param i32) (result i32) i32.const 1024)
             (func (export "bulkhead_init") (param i32) (result i32) i32.const 0)
             (func (export "bulkhead_on_events") (param i32) (result i32) i32.const 0))"#,
    )
    .unwrap();
    let path = dir.path().join("v99.wasm");
    std::fs::write(&path, wasm).unwrap();
    let cfg = demo_variant(dir.path(), |t| {
        t.replace(&format!("{}/strategies/wasm/momentum.wasm", root().display()), path.to_str().unwrap())
    });
    // The run goes on; the strategy is refused at start and quarantined with the reason.
    let (code, out, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("abi_version"), "{out}");
    assert!(out.contains("99"), "{out}");
}

#[test]
fn bad_data_line_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("md.csv");
    std::fs::write(
        &data,
        "ts_ns,type,symbol,f1,f2,f3,f4\n1,Q,BTC-USDT-PERP,64999.9,1,65000.0,1\n2,T,BTC-USDT-PERP,65000.05,0.001,buy\n",
    )
    .unwrap();
    let cfg = demo_variant(dir.path(), |t| {
        let start = t.find("[data.generator]").unwrap();
        let end = start + t[start..].find("\n\n").unwrap();
        format!("{}[data]\nfile = \"{}\"{}", &t[..start], data.display(), &t[end..])
    });
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_user_error(code, &err, &["md.csv:3", "price"]);
}

#[test]
fn journal_verify_reports_ok_or_the_first_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = bulkhead(&["journal", "verify", dir.path().join("missing").to_str().unwrap()]);
    assert_ne!(code, 0, "{err}");
}

#[test]
fn sample_data_file_runs() {
    let dir = tempfile::tempdir().unwrap();
    let sample = root().join("examples/data/btcusdt-perp-sample.csv");
    let cfg = demo_variant(dir.path(), |t| {
        let start = t.find("[data.generator]").unwrap();
        let end = start + t[start..].find("\n\n").unwrap();
        format!("{}[data]\nfile = \"{}\"{}", &t[..start], sample.display(), &t[end..])
    });
    let (code, out, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("events: 10000"), "{out}");
}

#[test]
fn signed_modules_run_and_unsigned_or_tampered_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, err) = bulkhead(&["keygen", "desk", "--dir", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for m in ["market_maker", "momentum", "misbehaving"] {
        std::fs::copy(root().join(format!("strategies/wasm/{m}.wasm")), d.join(format!("{m}.wasm"))).unwrap();
    }
    let cfg = demo_variant(d, |t| {
        t.replace(&format!("{}/strategies/wasm/", root().display()), &format!("{}/", d.display())).replace(
            "overwrite_journal = true",
            &format!("overwrite_journal = true\ntrusted_keys = \"{}/desk.pub\"", d.display()),
        )
    });
    // Nothing signed yet: refused, naming the module.
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_user_error(code, &err, &["market_maker.wasm"]);
    for m in ["market_maker", "momentum", "misbehaving"] {
        let (code, out, err) = bulkhead(&[
            "sign",
            d.join(format!("{m}.wasm")).to_str().unwrap(),
            "--key",
            d.join("desk.key").to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        // It also prints the signature as a hot deploy's header carries it.
        let sig = std::fs::read_to_string(d.join(format!("{m}.wasm.sig"))).unwrap();
        let header = format!("X-Bulkhead-Signature: {}", sig.trim_end().replace('\n', " "));
        assert!(out.lines().any(|l| l == format!("hot deploy header: {header}")), "{out}");
    }
    let (code, out, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("market-maker"), "{out}");
    // One flipped byte: refused as tampered.
    let path = d.join("momentum.wasm");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len() - 10;
    bytes[n] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let (code, _, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_user_error(code, &err, &["momentum.wasm"]);
}

#[test]
fn module_cache_compiles_once_then_loads_from_cache() {
    let dir = tempfile::tempdir().unwrap();
    // The demo config sets `module_cache = "out/module-cache"` (relative to the config).
    let cfg = demo_variant(dir.path(), |t| t);
    let (code, out, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("module cache: ") && out.contains(": 0 loaded from cache, 3 compiled, 3 written"), "{out}");
    assert!(dir.path().join("out/module-cache").is_dir());
    let (code, out, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": 3 loaded from cache, 0 compiled, 0 written"), "{out}");
}

/// Issue 13 §4 end to end: whoever can write the cache directory swaps the
/// entries round (each strategy's artifact under another's name) and links
/// one to a device. The next run refuses every entry, compiles from the
/// module bytes, says so, and journals exactly what the clean run did; the
/// journal replays IDENTICAL.
#[test]
fn a_poisoned_module_cache_changes_nothing_the_run_journals() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_variant(dir.path(), |t| t);
    let journal = dir.path().join("out/demo.journal/00000000.bhj");
    let (code, out, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": 0 loaded from cache, 3 compiled, 3 written"), "{out}");
    let clean = std::fs::read(&journal).unwrap();

    let cache = dir.path().join("out/module-cache");
    let mut entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 3, "{entries:?}");
    let bytes: Vec<Vec<u8>> = entries.iter().map(|p| std::fs::read(p).unwrap()).collect();
    // Rotate: entry i now holds entry i+1's (valid, MAC'd) artifact.
    for (i, p) in entries.iter().enumerate().skip(1) {
        std::fs::write(p, &bytes[(i + 1) % bytes.len()]).unwrap();
    }
    std::fs::remove_file(&entries[0]).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &entries[0]).unwrap();

    let (code, out, err) = bulkhead(&["run", cfg.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": 0 loaded from cache, 3 compiled") && out.contains(" 3 refused"), "{out}");
    assert!(err.contains("warning: module cache: 3 entries refused"), "{err}");
    assert!(std::fs::read(&journal).unwrap() == clean, "a poisoned cache changed the journal");

    let modules = root().join("strategies/wasm");
    let j = dir.path().join("out/demo.journal");
    let (code, out, err) =
        bulkhead(&["journal", "replay", j.to_str().unwrap(), "--modules", modules.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("IDENTICAL"), "{out}");
}

#[test]
fn tokens_are_added_listed_and_revoked_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.toml");
    let f = file.to_str().unwrap();
    for (name, role) in [("root", "admin"), ("ops", "operator")] {
        let (code, out, err) = bulkhead(&["token", "add", "--file", f, "--name", name, "--role", role]);
        assert_eq!(code, 0, "{err}");
        assert!(out.trim().starts_with("bh_") && !std::fs::read_to_string(&file).unwrap().contains(out.trim()));
    }
    let (code, out, err) = bulkhead(&["token", "list", "--file", f]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<&str>> = out.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!((rows[0][0], rows[0][1], rows[1][0], rows[1][1]), ("root", "admin", "ops", "operator"), "{out}");
    assert!(rows[0][2].ends_with('Z'), "created: {out}");
    let text = std::fs::read_to_string(&file).unwrap();
    for hash in text.lines().filter_map(|l| l.strip_prefix("hash = \"")) {
        assert!(!out.contains(hash.trim_end_matches('"')), "a hash is listed: {out}");
    }
    let (code, _, err) = bulkhead(&["token", "revoke", "--file", f, "--name", "root"]);
    assert_user_error(code, &err, &["--name", "last admin"]);
    let (code, _, err) = bulkhead(&["token", "revoke", "--file", f, "--name", "nobody"]);
    assert_user_error(code, &err, &["--name", "nobody"]);
    let (code, _, err) = bulkhead(&["token", "revoke", "--file", f, "--name", "ops"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = bulkhead(&["token", "list", "--file", f]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
}
