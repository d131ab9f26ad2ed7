//! Crash recovery, durability gating and replay, in process, on the demo
//! config with the real wasm strategies. (The SIGKILL test drives the binary:
//! crates/bulkhead-cli/tests/it/journal_cli.rs.)

use bulkhead_engine::replay::replay;
use bulkhead_engine::{DataPlan, EngineError, JournalMode, LoadedConfig, PreparedRun, RunError, prepare_run_with};
use bulkhead_journal::{FsyncPolicy, JournalReader, segment_files};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The demo, shortened, journalling into `dir/journal`, with its config text
/// edited by `edit` (so the journalled `run_config` is what ran).
fn demo(dir: &Path, events: u64, edit: impl Fn(String) -> String) -> LoadedConfig {
    let examples = root().join("examples").canonicalize().unwrap();
    let text = std::fs::read_to_string(examples.join("demo.toml"))
        .unwrap()
        .replace("\"../strategies/", &format!("\"{}/strategies/", root().canonicalize().unwrap().display()))
        .replace("\"policies/", &format!("\"{}/policies/", examples.display()))
        .replace("events = 1_000_000", &format!("events = {events}"))
        .replace("journal = \"out/demo.journal\"", "journal = \"journal\"");
    let path = dir.join("run.toml");
    std::fs::write(&path, edit(text)).unwrap();
    let cfg = LoadedConfig::load(&path).unwrap_or_else(|e| panic!("{e} (did scripts/build-strategies.sh run?)"));
    assert!(matches!(cfg.data, DataPlan::Generator(_)));
    cfg
}

fn run(cfg: &LoadedConfig, mode: JournalMode) -> Result<bulkhead_engine::RunReport, RunError> {
    let PreparedRun { mut engine, mut source, .. } = prepare_run_with(cfg, mode)?;
    engine.run(source.as_mut(), &mut |_| {})?;
    Ok(engine.finish()?)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for (name, bytes) in segment_files(from).unwrap() {
        std::fs::write(to.join(name), bytes).unwrap();
    }
}

/// Byte offsets (segment file, offset) where each record starts.
fn record_starts(dir: &Path) -> Vec<(u32, u64)> {
    JournalReader::open(dir).unwrap().map(|r| r.unwrap()).map(|r| (r.segment, r.offset)).collect()
}

#[test]
fn resume_after_a_crash_anywhere_reproduces_the_uninterrupted_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo(tmp.path(), 3_000, |t| t);
    run(&cfg, JournalMode::Create).unwrap();
    let reference = segment_files(&cfg.journal_dir).unwrap();
    let starts = record_starts(&cfg.journal_dir);
    assert!(starts.len() > 1000, "{} records", starts.len());
    // Cut points: before the first record, at record boundaries and in the
    // middle of records (torn tails), early, middle and late.
    let mut cuts = Vec::new();
    for &i in &[0usize, 1, 7, starts.len() / 3, starts.len() / 2, starts.len() - 2, starts.len() - 1] {
        let (seg, off) = starts[i];
        cuts.push((seg, off));
        cuts.push((seg, off + 13));
    }
    for (n, (seg, off)) in cuts.into_iter().enumerate() {
        let case = tmp.path().join(format!("case{n}"));
        std::fs::create_dir_all(&case).unwrap();
        let mut c = demo(&case, 3_000, |t| t);
        copy_dir(&cfg.journal_dir, &c.journal_dir);
        let seg_file = c.journal_dir.join(bulkhead_journal::segment_file_name(seg));
        std::fs::OpenOptions::new().write(true).open(&seg_file).unwrap().set_len(off).unwrap();
        c.raw.run.overwrite_journal = true; // must not wipe a journal it resumes
        run(&c, JournalMode::Resume).unwrap_or_else(|e| panic!("cut at {seg}:{off}: {e}"));
        assert!(
            segment_files(&c.journal_dir).unwrap() == reference,
            "cut at segment {seg} offset {off}: journal differs"
        );
    }
}

#[test]
fn resume_refuses_a_journal_from_a_different_config() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo(tmp.path(), 2_000, |t| t);
    run(&cfg, JournalMode::Create).unwrap();
    let records = record_starts(&cfg.journal_dir).len() as u64;
    // Same journal directory, different strategy parameter.
    let other = demo(tmp.path(), 2_000, |t| t.replace("fast = 20", "fast = 21"));
    let err = run(&other, JournalMode::Resume).unwrap_err();
    match err {
        RunError::Engine(EngineError::ResumeDiverged { seq, .. }) => assert!(seq < 10, "header record #{seq}"),
        e => panic!("expected ResumeDiverged, got {e}"),
    }
    // Nothing was appended to the journal it refused.
    assert_eq!(bulkhead_journal::verify(&cfg.journal_dir).unwrap().records, records);
}

#[test]
fn durable_gate_actions_wait_for_a_durable_journal_under_group_commit() {
    let tmp = tempfile::tempdir().unwrap();
    // A group that never fills on its own: every fsync is one the engine
    // forced before releasing actions to the venue.
    // Under `release_gate = "durable"` (the per-event gate).
    let cfg = demo(tmp.path(), 2_000, |t| {
        t.replace("fsync = \"never\"", "fsync = \"every:1000000:60000ms\"\nrelease_gate = \"durable\"")
    });
    assert_eq!(cfg.fsync(), FsyncPolicy::Group { records: 1_000_000, millis: 60_000 });
    let PreparedRun { mut engine, mut source, .. } = prepare_run_with(&cfg, JournalMode::Create).unwrap();
    engine.run(source.as_mut(), &mut |_| {}).unwrap();
    let fsyncs = engine.journal_fsync_stats().count;
    let durable = engine.journal_durable_seq();
    engine.finish().unwrap();
    // Callbacks that released orders or cancels = distinct event times of
    // passed ORDER/CANCEL records (each callback's actions share its time).
    let mut release_times: Vec<u64> = JournalReader::open(&cfg.journal_dir)
        .unwrap()
        .map(|r| r.unwrap())
        .filter(|r| {
            (r.kind == bulkhead_engine::records::ORDER || r.kind == bulkhead_engine::records::CANCEL)
                && u16::from_le_bytes([r.payload[12], r.payload[13]]) == 0
        })
        .map(|r| r.ts_ns)
        .collect();
    release_times.dedup();
    assert!(!release_times.is_empty());
    assert!(
        fsyncs >= release_times.len() as u64,
        "{fsyncs} fsyncs for {} event times with released actions",
        release_times.len()
    );
    assert!(durable > 0);
    // Durability changes when, not what: same decisions as with fsync never
    // under the same gate.
    let tmp2 = tempfile::tempdir().unwrap();
    let never =
        demo(tmp2.path(), 2_000, |t| t.replace("fsync = \"never\"", "fsync = \"never\"\nrelease_gate = \"durable\""));
    run(&never, JournalMode::Create).unwrap();
    let body = |d: &Path| -> Vec<_> {
        JournalReader::open(d)
            .unwrap()
            .map(|r| r.unwrap())
            .filter(|r| r.kind != bulkhead_engine::records::RUN_START && r.kind != bulkhead_engine::records::CONFIG)
            .map(|r| (r.kind, r.ts_ns, r.payload))
            .collect()
    };
    assert!(body(&cfg.journal_dir) == body(&never.journal_dir));
}

#[test]
fn replay_reproduces_every_decision_and_names_a_changed_module() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo(tmp.path(), 3_000, |t| t);
    run(&cfg, JournalMode::Create).unwrap();
    let modules = root().join("strategies/wasm");
    let r = replay(&cfg.journal_dir, &modules).unwrap();
    assert!(r.identical(), "{r:#?}");
    assert_eq!(r.market_events, 3_000);
    assert_eq!(r.strategies.len(), 3);
    assert!(r.strategies.iter().all(|s| s.journalled > 0 && s.journalled == s.replayed));

    // momentum.wasm rebuilt differently: bench_ema's bytes under its name.
    let changed = tmp.path().join("changed");
    std::fs::create_dir_all(&changed).unwrap();
    for m in ["market_maker", "misbehaving"] {
        std::fs::copy(modules.join(format!("{m}.wasm")), changed.join(format!("{m}.wasm"))).unwrap();
    }
    std::fs::copy(modules.join("bench_ema.wasm"), changed.join("momentum.wasm")).unwrap();
    let r = replay(&cfg.journal_dir, &changed).unwrap();
    assert!(!r.identical());
    let m = r.modules.iter().find(|m| m.strategy == "momentum").unwrap();
    assert!(m.changed && m.journal_hash != m.hash, "{m:?}");
    assert!(r.modules.iter().filter(|m| m.strategy != "momentum").all(|m| !m.changed));
    let s = r.strategies.iter().find(|s| s.strategy == "momentum").unwrap();
    let (_, journalled, _) = s.first_difference.as_ref().expect("momentum's decisions differ");
    assert!(journalled.as_deref().is_some_and(|t| t.contains("momentum")), "{s:?}");

    // A module missing altogether is an error naming the strategy and hash.
    std::fs::remove_file(changed.join("momentum.wasm")).unwrap();
    let e = replay(&cfg.journal_dir, &changed).unwrap_err().to_string();
    assert!(e.contains("momentum") && e.contains(&m.journal_hash), "{e}");
}

/// Operator commands are journalled where they took effect; replay applies
/// them at the same event boundary and reproduces everything after them.
#[test]
fn replay_reapplies_operator_commands_at_the_same_point() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo(tmp.path(), 3_000, |t| t);
    let PreparedRun { mut engine, mut source, .. } = prepare_run_with(&cfg, JournalMode::Create).unwrap();
    let mut n = 0u64;
    engine
        .run_controlled(source.as_mut(), &mut |_| {}, &mut |e, _| {
            n += 1;
            if n == 700 {
                exec(e, "set_limit strategy=market-maker field=max_order_qty value=0.005 actor=root role=admin");
            }
            if n == 1_500 {
                exec(e, "halt scope=strategy:market-maker actor=ops role=operator");
            }
        })
        .unwrap();
    engine.finish().unwrap();
    let r = replay(&cfg.journal_dir, &root().join("strategies/wasm")).unwrap();
    assert_eq!(r.commands, 2);
    assert!(r.commands_skipped.is_empty(), "{:?}", r.commands_skipped);
    assert!(r.identical(), "{r:#?}");
    // The commands mattered: without them the market maker decides differently.
    let plain = tempfile::tempdir().unwrap();
    let cfg2 = demo(plain.path(), 3_000, |t| t);
    run(&cfg2, JournalMode::Create).unwrap();
    let orders = |d: &Path| {
        JournalReader::open(d)
            .unwrap()
            .map(|r| r.unwrap())
            .filter(|r| r.kind == bulkhead_engine::records::ORDER)
            .count()
    };
    assert_ne!(orders(&cfg.journal_dir), orders(&cfg2.journal_dir));
}

/// Every file of a journal directory (segments, blobs, checkpoints), by
/// relative path.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (name, bytes) in tree(from) {
        let p = to.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

/// The market maker's module with a custom section appended: same code,
/// another blake3, so it is in no modules directory, only in the journal.
fn deployed_module() -> Vec<u8> {
    let mut wasm = std::fs::read(root().join("strategies/wasm/market_maker.wasm")).unwrap();
    let name = b"bulkhead-test";
    let body = b"hot deployed";
    wasm.push(0); // custom section
    wasm.push((1 + name.len() + body.len()) as u8);
    wasm.push(name.len() as u8);
    wasm.extend_from_slice(name);
    wasm.extend_from_slice(body);
    wasm
}

/// An operator, as the control plane applies commands (validate, journal,
/// apply), at fixed event counts. `done` holds the counts whose command is
/// already journalled (a resumed run must not send those again).
fn operator(e: &mut bulkhead_engine::Engine, done: &mut Vec<u64>) {
    let n = e.events();
    if done.contains(&n) {
        return;
    }
    match n {
        700 => {
            exec(e, "set_limit strategy=market-maker field=max_order_qty value=0.005 actor=root role=admin");
        }
        1_200 => {
            let wasm = deployed_module();
            let line = format!(
                "deploy strategy=misbehaving module_blake3={} module_len={} actor=root role=admin",
                blake3::hash(&wasm).to_hex(),
                wasm.len()
            );
            let module = e.sandbox_runtime().unwrap().load("misbehaving (deployed)", &wasm).unwrap();
            e.provide_module(wasm, Some(module));
            exec(e, &line);
        }
        1_500 => {
            exec(e, "halt scope=strategy:market-maker actor=ops role=operator");
        }
        1_800 => {
            exec(e, "mass_cancel scope=global actor=ops role=operator");
        }
        _ => return,
    }
    done.push(n);
}

fn run_operated(cfg: &LoadedConfig, mode: JournalMode, done: &mut Vec<u64>) -> Result<(), RunError> {
    let PreparedRun { mut engine, mut source, .. } = prepare_run_with(cfg, mode)?;
    engine.run_controlled(source.as_mut(), &mut |_| {}, &mut |e, _| operator(e, done))?;
    engine.finish()?;
    Ok(())
}

/// The event counts whose command a (cut) journal already holds.
fn journalled_commands(dir: &Path) -> Vec<u64> {
    let mut markets = 0;
    let mut out = Vec::new();
    for r in JournalReader::open(dir).unwrap().map_while(Result::ok) {
        match r.kind {
            bulkhead_engine::records::MARKET => markets += 1,
            bulkhead_engine::records::COMMAND => out.push(markets),
            _ => {}
        }
    }
    out
}

/// Operator commands (set_limit, a hot deploy, halt, mass cancel) are inputs
/// the config and data do not hold: resume re-applies each journalled one at
/// its event boundary, and the deployed module comes from the journal
/// directory (stored by blake3 before the command was journalled). Cut
/// anywhere — before a command, right after its COMMAND record, inside its
/// effects — the resumed journal is byte-identical to the uninterrupted one.
#[test]
fn resume_reapplies_journalled_operator_commands_including_a_hot_deploy() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo(tmp.path(), 2_500, |t| t);
    run_operated(&cfg, JournalMode::Create, &mut Vec::new()).unwrap();
    let reference = tree(&cfg.journal_dir);
    assert_eq!(journalled_commands(&cfg.journal_dir), [700, 1_200, 1_500, 1_800]);
    assert!(reference.iter().any(|(n, _)| n.starts_with("blobs/")), "the deployed module is stored");
    let recs: Vec<_> = JournalReader::open(&cfg.journal_dir).unwrap().map(Result::unwrap).collect();
    let mut cuts = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        if r.kind == bulkhead_engine::records::COMMAND {
            for j in [i, i + 1, i + 2] {
                cuts.push((recs[j].segment, recs[j].offset));
            }
            cuts.push((recs[i + 1].segment, recs[i + 1].offset + 13));
        }
    }
    cuts.push((recs[recs.len() / 3].segment, recs[recs.len() / 3].offset));
    cuts.push((recs[recs.len() - 3].segment, recs[recs.len() - 3].offset + 5));
    for (n, (seg, off)) in cuts.into_iter().enumerate() {
        let case = tmp.path().join(format!("case{n}"));
        std::fs::create_dir_all(&case).unwrap();
        let c = demo(&case, 2_500, |t| t);
        copy_tree(&cfg.journal_dir, &c.journal_dir);
        let seg_file = c.journal_dir.join(bulkhead_journal::segment_file_name(seg));
        std::fs::OpenOptions::new().write(true).open(&seg_file).unwrap().set_len(off).unwrap();
        // The operator re-sends only what the journal does not hold.
        let mut done = journalled_commands(&c.journal_dir);
        run_operated(&c, JournalMode::Resume, &mut done).unwrap_or_else(|e| panic!("cut at {seg}:{off}: {e}"));
        assert!(tree(&c.journal_dir) == reference, "cut at segment {seg} offset {off}: journal differs");
    }

    // Replay finds the deployed module in the journal directory (it is in
    // no modules directory) and reproduces every decision.
    let r = replay(&cfg.journal_dir, &root().join("strategies/wasm")).unwrap();
    assert_eq!(r.commands, 4);
    assert!(r.commands_skipped.is_empty(), "{:?}", r.commands_skipped);
    assert!(r.identical(), "{r:#?}");

    // Without the module's bytes a resume refuses at the deploy command.
    let case = tmp.path().join("no-blob");
    std::fs::create_dir_all(&case).unwrap();
    let c = demo(&case, 2_500, |t| t);
    copy_tree(&cfg.journal_dir, &c.journal_dir);
    std::fs::remove_dir_all(c.journal_dir.join(bulkhead_journal::BLOB_DIR)).unwrap();
    match run_operated(&c, JournalMode::Resume, &mut vec![700, 1_200, 1_500, 1_800]).unwrap_err() {
        RunError::Engine(EngineError::ResumeDiverged { journalled, now, .. }) => {
            assert!(
                journalled.contains("deploy strategy=misbehaving") && now.contains("no module"),
                "{journalled} / {now}"
            )
        }
        e => panic!("expected ResumeDiverged, got {e}"),
    }
}

/// `release_gate = "durable"` covers every release to the venue: orders and
/// cancels a strategy asks for, and cancels the engine starts itself for a
/// fault (cancel-on-fault), a risk outcome (R8 loss limit), an operator
/// kill switch or mass cancel, and the end of the run. Under a group commit
/// that never fills on its own, the engine audits `durable_seq` at each
/// release: no action may reach the venue before its deciding record is
/// fsynced.
#[test]
fn every_venue_release_waits_for_its_deciding_record_to_be_durable() {
    use bulkhead_abi::{Event, EventKind, Reason};
    let tmp = tempfile::tempdir().unwrap();
    // No maker rebate: the market maker loses, for R8.
    let cfg = demo(tmp.path(), 2_500, |t| {
        t.replace("fsync = \"never\"", "fsync = \"every:1000000:60000ms\"\nrelease_gate = \"durable\"")
            .replace("maker_fee_ppm = -100", "maker_fee_ppm = 0")
    });
    let PreparedRun { mut engine, mut source, .. } = prepare_run_with(&cfg, JournalMode::Create).unwrap();
    engine
        .run_controlled(source.as_mut(), &mut |_| {}, &mut |e, _| {
            let line = |what: &str| format!("{what} actor=t role=admin");
            match e.events() {
                // Kill switch on the market maker's resting quotes, then back.
                800 => {
                    exec(e, &line("halt scope=strategy:market-maker"));
                }
                900 => {
                    exec(e, &line("resume scope=strategy:market-maker"));
                }
                // R8: a loss limit of one cent stops the traders at their next mark.
                1_200 => {
                    for name in ["market-maker", "momentum"] {
                        exec(e, &line(&format!("set_limit strategy={name} field=loss_limit_halt value=0.01")));
                    }
                }
                _ => {}
            }
        })
        .unwrap();
    let undurable = engine.undurable_releases();
    engine.finish().unwrap();
    assert_eq!(undurable, 0, "venue actions released before their deciding record was durable");
    // The run did exercise each engine-started cancel.
    let reasons: Vec<u16> = JournalReader::open(&cfg.journal_dir)
        .unwrap()
        .map(Result::unwrap)
        .filter(|r| r.kind == bulkhead_engine::records::VENUE)
        .filter_map(|r| Event::decode(&r.payload[4..]).ok())
        .filter(|e| e.kind == EventKind::OrderCancelled)
        .map(|e| e.a as u16)
        .collect();
    for reason in [Reason::CancelledOnFault, Reason::CancelledByKillSwitch, Reason::LossLimitHalted] {
        assert!(reasons.contains(&reason.code()), "no {} cancel in {reasons:?}", reason.name());
    }
}

/// Group commit's time bound holds while the run loop idles: the paced
/// loop calls `tick_durability` while it waits for the market.
#[test]
fn tick_durability_commits_an_idle_group_on_time() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = demo(tmp.path(), 300, |t| t.replace("fsync = \"never\"", "fsync = \"every:1000000:20ms\""));
    let PreparedRun { mut engine, mut source, .. } = prepare_run_with(&cfg, JournalMode::Create).unwrap();
    engine.run(source.as_mut(), &mut |_| {}).unwrap();
    let (next, _) = engine.journal_position();
    assert!(engine.tick_durability());
    // The last events released nothing: their records are pending.
    assert!(engine.journal_durable_seq() < next, "nothing pending to test with");
    std::thread::sleep(std::time::Duration::from_millis(30));
    assert!(engine.tick_durability());
    // Committed on the journal's syncer thread: durable soon after.
    let t = std::time::Instant::now();
    while engine.journal_durable_seq() < next && t.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(engine.journal_durable_seq(), next, "idle past the bound: everything fsynced");
    engine.finish().unwrap();
}

/// Execute one operator command from its journal text, as the control
/// plane, resume and replay do (`Engine::execute`).
fn exec(e: &mut bulkhead_engine::Engine, line: &str) {
    let j: bulkhead_engine::Journalled = line.parse().unwrap();
    e.execute(&j.command, &j.actor).unwrap();
}

/// The records of a run but the config text (which names the policy).
fn decided(dir: &Path) -> Vec<(u16, u64, Vec<u8>)> {
    use bulkhead_engine::records::{CONFIG, RUN_START};
    JournalReader::open(dir)
        .unwrap()
        .map(Result::unwrap)
        .filter(|r| r.kind != CONFIG && r.kind != RUN_START)
        .map(|r| (r.kind, r.ts_ns, r.payload))
        .collect()
}

fn same_records(a: &Path, b: &Path, what: &str) {
    let (ja, jb) = (decided(a), decided(b));
    if let Some(i) = ja.iter().zip(&jb).position(|(x, y)| x != y) {
        panic!("{what}: record #{i} differs: {:?} vs {:?}", ja[i], jb[i]);
    }
    assert_eq!(ja.len(), jb.len(), "{what}");
}

/// `release_gate = "ordered"` (the default, the in-process venue): group
/// commit decides nothing, so the journal is the one `never` writes, and the
/// fsyncs are the policy's groups (run on the syncer thread), not one per
/// order-producing callback.
#[test]
fn ordered_gate_group_commit_journals_what_never_does_with_an_fsync_per_group() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let never = demo(a.path(), 3_000, |t| t);
    let group = demo(b.path(), 3_000, |t| t.replace("fsync = \"never\"", "fsync = \"every:64:60000ms\""));
    run(&never, JournalMode::Create).unwrap();
    let PreparedRun { mut engine, mut source, .. } = prepare_run_with(&group, JournalMode::Create).unwrap();
    engine.run(source.as_mut(), &mut |_| {}).unwrap();
    let (records, fsyncs) = (engine.journal_position().0, engine.journal_fsync_stats().count);
    let orders =
        (0..engine.strategy_count() as u32).map(|i| engine.strategy_report(i).unwrap().stats.submitted).sum::<u64>();
    engine.finish().unwrap();
    same_records(&never.journal_dir, &group.journal_dir, "never vs every:64");
    assert!(orders > 100, "the run placed {orders} orders");
    // One per group of 64 (fewer when they coalesce), the creation and the end.
    assert!(fsyncs <= records / 64 + 3, "{fsyncs} fsyncs for {records} records");
}

/// `release_gate = "durable"`: the actions every strategy decides in one
/// market event wait for one fsync at the event's end and are released
/// together; the journal does not depend on the fsync policy; no action
/// reaches the venue undurable; the waits are measured.
#[test]
fn durable_gate_waits_once_per_event_for_all_strategies_and_journals_the_same_under_every_policy() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let gate = |fsync: &'static str| {
        move |t: String| t.replace("fsync = \"never\"", &format!("fsync = \"{fsync}\"\nrelease_gate = \"durable\""))
    };
    let always = demo(a.path(), 3_000, gate("always"));
    let group = demo(b.path(), 3_000, gate("every:1000000:60000ms"));
    run(&always, JournalMode::Create).unwrap();
    let PreparedRun { mut engine, mut source, .. } = prepare_run_with(&group, JournalMode::Create).unwrap();
    engine.run(source.as_mut(), &mut |_| {}).unwrap();
    let fsyncs = engine.journal_fsync_stats().count;
    let waits = engine.release_waits_ns().len() as u64;
    let orders =
        (0..engine.strategy_count() as u32).map(|i| engine.strategy_report(i).unwrap().stats.submitted).sum::<u64>();
    assert_eq!(engine.undurable_releases(), 0);
    engine.finish().unwrap();
    same_records(&always.journal_dir, &group.journal_dir, "durable gate, always vs group");
    assert!(waits >= orders && orders > 100, "{waits} releases waited for {orders} orders");
    // At most one fsync per market event (the gate), plus creation and end.
    assert!(fsyncs <= 3_000 + 3, "{fsyncs} fsyncs for 3 000 events");
    // The gate changes when orders meet the market, so the journal differs
    // from an ordered run's; and an unknown gate is refused, naming the field.
    let c = tempfile::tempdir().unwrap();
    let ordered = demo(c.path(), 3_000, |t| t.replace("fsync = \"never\"", "fsync = \"always\""));
    run(&ordered, JournalMode::Create).unwrap();
    assert_ne!(decided(&ordered.journal_dir), decided(&always.journal_dir));
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("bad.toml"), "[run]\njournal = \"j\"\nrelease_gate = \"eventually\"\n").unwrap();
    let Err(err) = LoadedConfig::load(&d.path().join("bad.toml")) else { panic!("release_gate = eventually accepted") };
    let err = err.to_string();
    assert!(err.contains("release_gate") && err.contains("durable"), "{err}");
}
