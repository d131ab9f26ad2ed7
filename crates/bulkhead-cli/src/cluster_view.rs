//! `bulkhead cluster serve`: the control plane over a whole cluster (issue
//! 18), and the node side of it in `bulkhead run --cluster`.
//!
//! Wiring only: `bulkhead_cluster::view` polls the nodes' statuses and the
//! streams and publishes kill orders; `bulkhead_server::start_cluster_view`
//! serves them with the run control plane's tokens, roles and connection
//! bounds. A node run links itself with `bulkhead_cluster::node_ctl` (status
//! every 500 ms, kill orders applied at event boundaries).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use bulkhead_cluster::ClusterConfig;
use bulkhead_cluster::ctl::KillScope;
use bulkhead_cluster::node_ctl::ControlLink;
use bulkhead_cluster::view::{self, ClusterView};
use bulkhead_server::{ClusterSource, KillRefusal, KillTarget, ServerOptions, TokenStore};

#[derive(clap::Subcommand)]
pub enum ClusterCmd {
    /// Serve one API and dashboard over every node of the cluster: nodes,
    /// their strategies and health (GET /api/v1/cluster/nodes), streams and
    /// consumer lag (GET /api/v1/cluster/streams), Prometheus /metrics with
    /// a `node` label, and the kill switch every node applies
    /// (POST /api/v1/cluster/kill, operator).
    Serve {
        /// The `[cluster]` config (servers, replicas, timeouts; its node name is only the client's name).
        #[arg(long)]
        cluster: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// Token file (see `bulkhead token add`): viewer reads, operator kills.
        #[arg(long)]
        tokens: PathBuf,
    },
}

pub fn dispatch(cmd: ClusterCmd) -> Result<ExitCode> {
    match cmd {
        ClusterCmd::Serve { cluster, listen, tokens } => serve(&cluster, listen, &tokens),
    }
}

struct Source(ClusterView);

impl ClusterSource for Source {
    fn nodes(&self) -> serde_json::Value {
        view::nodes_json(&self.0.snapshot(), bulkhead_cluster::lease::now_ms())
    }
    fn streams(&self) -> serde_json::Value {
        view::streams_json(&self.0.snapshot())
    }
    fn metrics(&self) -> String {
        view::render_metrics(&self.0.snapshot(), bulkhead_cluster::lease::now_ms())
    }
    fn kill(&self, target: KillTarget, actor: &str, reason: &str) -> Result<serde_json::Value, KillRefusal> {
        let scope = match target {
            KillTarget::All => KillScope::All,
            KillTarget::Strategy(name) => KillScope::Strategy(name),
        };
        let order = view::kill_order(&scope, actor, reason)
            .map_err(|e| KillRefusal::Invalid { field: e.field, problem: e.problem })?;
        let seq = self.0.kill(order).map_err(|e| KillRefusal::Unavailable(e.to_string()))?;
        Ok(serde_json::json!({ "seq": seq, "scope": scope.to_string(), "actor": actor }))
    }
}

fn serve(cluster: &Path, listen: SocketAddr, tokens: &Path) -> Result<ExitCode> {
    let ccfg = ClusterConfig::load(cluster)?;
    let store = TokenStore::load(tokens).with_context(|| format!("--tokens {}", tokens.display()))?;
    let view = view::start_view(&ccfg)?;
    let guard = bulkhead_server::start_cluster_view(listen, store, ServerOptions::default(), Arc::new(Source(view)))?;
    eprintln!("cluster view on http://{}/ (dashboard), API under /api/v1/cluster", guard.local_addr());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("installing a signal handler")?;
    }
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    drop(guard);
    Ok(ExitCode::SUCCESS)
}

/// `run --cluster`: the node's link to the cluster's control plane.
pub fn node_link(cluster: Option<&PathBuf>) -> Result<Option<ControlLink>> {
    let Some(path) = cluster else { return Ok(None) };
    let ccfg = ClusterConfig::load(path)?;
    Ok(Some(bulkhead_cluster::node_ctl::start_control_link(&ccfg)?))
}

/// After the run: the last status (phase `finished`).
pub fn finish_link(link: Option<ControlLink>, engine: &bulkhead_engine::Engine) {
    if let Some(l) = link {
        l.finish(engine);
    }
}
