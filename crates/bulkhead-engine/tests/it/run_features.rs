//! `bulkhead run` features of issue 3, end to end with the real wasm
//! strategies of `strategies/wasm/` and real files: resource columns in the
//! final report, the precompiled-module cache (`[run] module_cache`), and the
//! signer's key in each `MODULE` journal record.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulkhead_engine::{LoadedConfig, PreparedRun, RunReport, prepare_run, records, report};
use bulkhead_journal::JournalReader;
use bulkhead_sandbox::SandboxRuntime;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The demo config (market maker, momentum, misbehaving) written to
/// `dir/run.toml`, shortened to `events`, modules from `modules` (default
/// `strategies/wasm`), without the demo's module cache, with `extra_run`
/// lines added to its `[run]` section.
fn demo_in(dir: &Path, events: u64, modules: Option<&Path>, extra_run: &str) -> PathBuf {
    let examples = repo().join("examples");
    let wasm = modules.map_or_else(|| repo().join("strategies/wasm"), Path::to_path_buf);
    let text = std::fs::read_to_string(examples.join("demo.toml")).unwrap();
    let cache_line = text.lines().find(|l| l.starts_with("module_cache")).unwrap_or("").to_string();
    let text = text
        .replace(&cache_line, "")
        .replace("\"../strategies/wasm/", &format!("\"{}/", wasm.display()))
        .replace("\"policies/", &format!("\"{}/policies/", examples.display()))
        .replace("events = 1_000_000", &format!("events = {events}"))
        .replace("overwrite_journal = true", &format!("overwrite_journal = true\n{extra_run}"));
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn load(path: &Path) -> LoadedConfig {
    LoadedConfig::load(path).unwrap_or_else(|e| panic!("{e} (did scripts/build-strategies.sh run?)"))
}

/// Run to the end through `prepare_run` (what `bulkhead run` does); also
/// hand back the runtime, for its cache counters.
fn run(cfg: &LoadedConfig) -> (RunReport, Arc<SandboxRuntime>) {
    let PreparedRun { mut engine, runtime, mut source, .. } = prepare_run(cfg).unwrap();
    engine.run(source.as_mut(), &mut |_| {}).unwrap();
    (engine.finish().unwrap(), runtime)
}

fn journal_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.into_iter().map(|p| (p.file_name().unwrap().into(), std::fs::read(&p).unwrap())).collect()
}

/// `850ns` / `12.3µs` / `4.1ms` / `1.25s` → ns.
fn parse_duration(s: &str) -> f64 {
    for (unit, scale) in [("ns", 1.0), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)] {
        if let Some(v) = s.strip_suffix(unit) {
            return v.parse::<f64>().unwrap_or_else(|_| panic!("`{s}`")) * scale;
        }
    }
    panic!("not a duration: `{s}`")
}

/// Cells of `row` under each header of the rendered table. Columns after the
/// first are right-aligned, so a cell ends where its header ends.
fn cells(table: &str, row: &str) -> Vec<(String, String)> {
    let mut lines = table.lines();
    let header: Vec<char> = lines.next().unwrap().chars().collect();
    let line: Vec<char> =
        lines.find(|l| l.starts_with(row)).unwrap_or_else(|| panic!("no row `{row}`")).chars().collect();
    // Header names are separated by at least two spaces.
    let text: String = header.iter().collect();
    let mut out = Vec::new();
    let mut start = 0;
    for name in text.split("  ").map(str::trim).filter(|s| !s.is_empty()) {
        let at = start + text[start..].find(name).unwrap();
        let end_char = text[..at + name.len()].chars().count();
        start = at + name.len();
        let upto: String = line[..end_char.min(line.len())].iter().collect();
        out.push((name.to_string(), upto));
    }
    // Each cell is what lies between the previous column's end and this one's.
    let mut prev = 0usize;
    out.into_iter()
        .map(|(name, upto)| {
            let n = upto.chars().count();
            let cell: String = upto.chars().skip(prev).collect();
            prev = n;
            (name, cell.trim().to_string())
        })
        .collect()
}

/// Issue 3 §5: fuel, callback wall time p50 / p99 / max, peak memory, host
/// calls and log bytes per strategy, in the final report table.
#[test]
fn report_has_resource_columns_with_plausible_values() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = load(&demo_in(tmp.path(), 20_000, None, ""));
    let (r, _) = run(&cfg);
    let table = report::render(&r);
    println!("{table}");
    let header = table.lines().next().unwrap();
    for col in ["fuel", "cb p50", "cb p99", "cb max", "host calls", "log bytes", "peak mem"] {
        assert!(header.contains(col), "column `{col}` missing: {header}");
    }
    for s in &r.strategies {
        let c = cells(&table, &s.name);
        let get = |k: &str| c.iter().find(|(n, _)| n == k).unwrap().1.clone();
        let sb = s.sandbox.as_ref().expect("wasm strategies have sandbox stats");
        let (p50, p99, max) =
            (parse_duration(&get("cb p50")), parse_duration(&get("cb p99")), parse_duration(&get("cb max")));
        assert!(p50 > 0.0 && p50 <= p99 && p99 <= max, "{}: p50 {p50} p99 {p99} max {max}", s.name);
        // The cells are the sandbox's own figures.
        assert_eq!(get("cb p50"), report::format_ns(sb.wall_p50_ns()), "{}", s.name);
        assert_eq!(get("cb p99"), report::format_ns(sb.wall_p99_ns()), "{}", s.name);
        assert_eq!(get("cb max"), report::format_ns(sb.wall_max_ns()), "{}", s.name);
        assert!(sb.wall.count() > 0, "{}: callbacks were timed", s.name);
        let fuel: u64 = get("fuel").parse().unwrap();
        let host_calls: u64 = get("host calls").parse().unwrap();
        let log_bytes: u64 = get("log bytes").parse().unwrap();
        assert_eq!((fuel, host_calls, log_bytes), (s.fuel_used, sb.host_calls, sb.log_bytes), "{}", s.name);
        assert!(fuel > 0 && host_calls > 0, "{}: {c:?}", s.name);
        // Every strategy here logs its parameters at init.
        assert!(log_bytes > 0, "{}", s.name);
        let mem = get("peak mem");
        let mib: f64 = mem.strip_suffix(" MiB").unwrap().parse().unwrap();
        assert!(mib > 0.0 && mib <= 64.0, "{}: {mem}", s.name);
    }
}

/// Issue 3 §7 wired into `bulkhead run`: `[run] module_cache` (relative to
/// the config file). The first run compiles and stores each module, the
/// second loads them from the cache, and both journals are byte-identical.
#[test]
fn module_cache_is_used_by_the_second_run_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = load(&demo_in(tmp.path(), 5_000, None, "module_cache = \"cache\""));
    let cache = tmp.path().join("cache");
    assert_eq!(cfg.module_cache.as_deref(), Some(cache.as_path()), "relative to the config file");
    let modules = 3; // market_maker, momentum, misbehaving

    let (first, rt1) = run(&cfg);
    let c1 = rt1.cache_stats().expect("cache enabled");
    assert_eq!((c1.hits, c1.misses, c1.writes, c1.rejected), (0, modules, modules, 0), "{c1:?}");
    let entries: Vec<PathBuf> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len() as u64, modules, "{entries:?}");
    assert!(entries.iter().all(|p| p.extension().is_some_and(|e| e == "cwasm")), "{entries:?}");
    let j1 = journal_bytes(&cfg.journal_dir);
    drop(rt1);

    let (second, rt2) = run(&cfg);
    let c2 = rt2.cache_stats().expect("cache enabled");
    assert_eq!((c2.hits, c2.misses, c2.writes, c2.rejected), (modules, 0, 0, 0), "{c2:?}");
    let j2 = journal_bytes(&cfg.journal_dir);
    assert!(!j1.is_empty());
    assert!(j1 == j2, "journals of the compiled and the cached run differ");
    assert_eq!(first.journal.last_hash, second.journal.last_hash);
}

/// Issue 3 §6: "the journal records each loaded module's hash and signer".
/// The `MODULE` record carries sid, module blake3, the signer's ed25519
/// public key (zero when unsigned) and the strategy name.
#[test]
fn module_records_carry_hash_and_signer_key() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let names = ["market_maker", "momentum", "misbehaving"];
    for m in names {
        std::fs::copy(repo().join(format!("strategies/wasm/{m}.wasm")), d.join(format!("{m}.wasm"))).unwrap();
    }
    let key = bulkhead_provenance::SigningKeyFile::from_seed("desk", &[7; 32]).unwrap();
    key.public_key().write(&d.join("desk.pub")).unwrap();
    for m in names {
        bulkhead_provenance::sign_module_file(&d.join(format!("{m}.wasm")), &key).unwrap();
    }
    let module_records = |cfg: &LoadedConfig| -> Vec<(u32, [u8; 32], [u8; 32], String)> {
        JournalReader::open(&cfg.journal_dir)
            .unwrap()
            .map(|r| r.unwrap())
            .filter(|r| r.kind == records::MODULE)
            .map(|r| {
                let p = &r.payload;
                assert!(p.len() > records::MODULE_HEAD, "MODULE payload too short: {}", p.len());
                (
                    u32::from_le_bytes(p[0..4].try_into().unwrap()),
                    p[4..36].try_into().unwrap(),
                    p[36..68].try_into().unwrap(),
                    String::from_utf8(p[records::MODULE_HEAD..].to_vec()).unwrap(),
                )
            })
            .collect()
    };

    // Signatures required: each module's record names its signer's key.
    let signed_dir = d.join("signed");
    std::fs::create_dir(&signed_dir).unwrap();
    let trusted = format!("trusted_keys = \"{}\"", d.join("desk.pub").display());
    let cfg = load(&demo_in(&signed_dir, 2_000, Some(d), &trusted));
    run(&cfg);
    let recs = module_records(&cfg);
    assert_eq!(recs.len(), 3, "{recs:?}");
    for (i, (sid, hash, signer, name)) in recs.iter().enumerate() {
        assert_eq!(*sid, i as u32);
        assert_eq!(name, &cfg.strategies[i].name);
        let bytes = std::fs::read(d.join(format!("{}.wasm", names[i]))).unwrap();
        assert_eq!(hash, blake3::hash(&bytes).as_bytes(), "{name}: module hash");
        assert_eq!(*signer, key.public_key().to_bytes(), "{name}: signer key");
    }

    // No signatures required: the same modules are journalled as unsigned.
    let plain_dir = d.join("plain");
    std::fs::create_dir(&plain_dir).unwrap();
    let cfg = load(&demo_in(&plain_dir, 2_000, Some(d), ""));
    run(&cfg);
    let recs = module_records(&cfg);
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|r| r.2 == [0; 32]), "unsigned = zero key");
}
