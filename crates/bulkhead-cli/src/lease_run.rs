//! `bulkhead run --cluster C --lease`: failover of a node's strategies.
//!
//! The cluster config's node name names the shard (its strategies, its
//! journal stream `BHJ_<node>`). Before the run starts, this process takes
//! the shard's lease (`bulkhead_cluster::lease::hold_shard`), waiting out a
//! dead holder's expiry; with `--resume` and no local journal it fetches the
//! journal from the stream (another host ran the shard) so the run resumes
//! by re-derivation. A lost lease stops the run at the next event boundary,
//! as SIGTERM does: a fenced node stops trading.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result};
use bulkhead_cluster::ClusterConfig;
use bulkhead_cluster::lease::{HeldShard, hold_shard};

/// This process as a lease holder: `<host>-<pid>`, cut to a valid name.
pub fn default_holder() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "host".into());
    let mut name: String = format!("{}-{}", host.trim(), std::process::id())
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    if name.len() > 32 {
        name = name.split_off(name.len() - 32);
    }
    name
}

/// Takes the shard's lease and, resuming without a local journal, fetches
/// the shard's journal from its stream. `stop_run` is raised if the lease
/// is lost later.
pub fn take(
    ccfg: &ClusterConfig,
    holder: &str,
    ttl: Duration,
    journal_dir: &Path,
    resume: bool,
    stop_run: Arc<AtomicBool>,
) -> Result<HeldShard> {
    let shard = ccfg.node.clone();
    let held = hold_shard(ccfg, holder, ttl, stop_run, &mut |h, until| {
        eprintln!("lease {shard}: held by {h} until {until} (unix ms); waiting for it to expire");
    })
    .with_context(|| format!("--lease: shard {shard}"))?;
    eprintln!("lease {shard}: taken by {holder} (fencing token {})", held.revision);
    if resume && !has_journal(journal_dir) {
        match bulkhead_cluster::fetch_journal_as_left(ccfg, &shard, journal_dir) {
            Ok(r) => eprintln!(
                "fetched the journal of {shard} from {} into {}: {} records",
                r.stream,
                journal_dir.display(),
                r.records
            ),
            Err(bulkhead_cluster::ClusterError::Empty(_)) => {}
            Err(e) => return Err(e).context("--lease --resume: fetching the shard's journal"),
        }
    }
    Ok(held)
}

fn has_journal(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .is_ok_and(|mut it| it.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".bhj"))))
}
