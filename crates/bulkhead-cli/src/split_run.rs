//! Split runs (issue 18): `bulkhead gateway` (the venue gateway of a run
//! whose strategies are spread over nodes) and the node side of
//! `bulkhead run --cluster C --gateway G` (see `bulkhead_engine::remote` and
//! `bulkhead_cluster::gateway`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bulkhead_cluster::gateway::{GatewayOptions, LinkStats, NodeLink, OnDisconnect, run_gateway};
use bulkhead_engine::remote::SplitRole;
use bulkhead_engine::{JournalMode, LoadedConfig, report};

/// `run --gateway`: how this node takes part.
pub(crate) struct NodeOpts {
    pub gateway: String,
    /// `--strategies`: the strategies this node hosts (default: all).
    pub strategies: Option<Vec<String>>,
    pub timeout: Duration,
}

/// Comma-separated names (`--nodes`, `--strategies`), none empty.
pub(crate) fn names(flag: &str, list: &str) -> Result<Vec<String>> {
    let v: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
    if v.iter().any(String::is_empty) {
        anyhow::bail!("{flag}: `{list}` has an empty name");
    }
    Ok(v)
}

/// The node role of a run config: its link to the gateway and the link's figures.
pub(crate) fn node_role(
    cfg: &LoadedConfig,
    cluster: &Path,
    opts: &NodeOpts,
) -> Result<(SplitRole, Arc<Mutex<LinkStats>>)> {
    let hosted: Vec<String> = match &opts.strategies {
        Some(list) => list.clone(),
        None => cfg.strategies.iter().map(|s| s.name.clone()).collect(),
    };
    let mut sids = Vec::new();
    for h in &hosted {
        let sid = cfg
            .strategies
            .iter()
            .position(|s| &s.name == h)
            .with_context(|| format!("--strategies: the config has no strategy `{h}`"))?;
        sids.push(sid as u32);
    }
    let ccfg = bulkhead_cluster::ClusterConfig::load(cluster)?;
    let link = NodeLink::open(&ccfg, &opts.gateway, sids, cfg.instruments.len(), opts.timeout)
        .with_context(|| format!("--gateway {}", opts.gateway))?;
    let stats = link.stats();
    Ok((SplitRole::Node { link: Box::new(link), hosted }, stats))
}

/// One line on the node's link after the run.
pub(crate) fn print_link(stats: &Mutex<LinkStats>) {
    let Ok(s) = stats.lock() else { return };
    let mut rtt = s.order_rtt_ns.clone();
    rtt.sort_unstable();
    let q = |p: f64| rtt.get(((rtt.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0);
    println!(
        "gateway link: {} steps with new orders, node -> gateway -> venue -> node p50 {} p99 {} p99.9 {}; {} malformed answers dropped",
        rtt.len(),
        report::format_ns(q(0.5)),
        report::format_ns(q(0.99)),
        report::format_ns(q(0.999)),
        s.dropped
    );
}

pub(crate) struct GatewayArgs {
    pub config: PathBuf,
    pub cluster: PathBuf,
    pub name: String,
    pub nodes: String,
    pub heartbeat_ms: u64,
    pub on_disconnect: String,
    pub journal_dir: Option<PathBuf>,
}

/// `bulkhead gateway`: own the venue and the firm-wide checks of a split run.
pub(crate) fn gateway(a: GatewayArgs) -> Result<ExitCode> {
    let on_disconnect = match a.on_disconnect.as_str() {
        "cancel" => OnDisconnect::Cancel,
        "wait" => OnDisconnect::Wait,
        other => anyhow::bail!("--on-disconnect: `{other}` is not cancel or wait"),
    };
    if !(10..=3_600_000).contains(&a.heartbeat_ms) {
        anyhow::bail!("--heartbeat-ms: {} must be in 10..=3600000", a.heartbeat_ms);
    }
    let mut cfg = LoadedConfig::load(&a.config)?;
    if let Some(d) = a.journal_dir {
        cfg.journal_dir = d;
    }
    let ccfg = bulkhead_cluster::ClusterConfig::load(&a.cluster)?;
    let opts = GatewayOptions {
        name: a.name,
        nodes: names("--nodes", &a.nodes)?,
        heartbeat: Duration::from_millis(a.heartbeat_ms),
        on_disconnect,
    };
    let started = Instant::now();
    let bulkhead_engine::PreparedRun { mut engine, mut source, .. } =
        bulkhead_engine::prepare_split_run(&cfg, JournalMode::Create, SplitRole::Gateway)?;
    let g = run_gateway(&ccfg, &opts, &mut engine, source.as_mut())?;
    let duplicates = engine.gateway_duplicates();
    let report = engine.finish()?;
    print!("{}", report::render(&report));
    println!(
        "gateway {}: {} steps, {} node actions, {} duplicate steps and {duplicates} duplicate orders dropped, \
         {} malformed messages dropped, {} answers already in the stream",
        opts.name, g.steps, g.actions, g.duplicate_steps, g.malformed, g.answers_skipped
    );
    for (node, step) in &g.disconnected {
        println!("gateway {}: node {node} gone at step {step}: its orders cancelled", opts.name);
    }
    println!(
        "wall time: {:.2} s, journal: {} ({} records)",
        started.elapsed().as_secs_f64(),
        cfg.journal_dir.display(),
        report.journal.records
    );
    Ok(ExitCode::SUCCESS)
}
