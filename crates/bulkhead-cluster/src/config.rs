//! The `[cluster]` section: where NATS is and who this node is. Owns its validation (every
//! error names the field); must never assume loopback or a single server.
//!
//! ```toml
//! [cluster]
//! servers = ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222", "nats://10.0.0.3:4222"]
//! node = "n1"              # [A-Za-z0-9_-], 1..=32 characters
//! replicas = 3             # 1 (one server, a laptop) or 3
//! connect_timeout_ms = 2000
//! request_timeout_ms = 5000
//! failover_ms = 20000      # how long a JetStream call is retried through a leader election
//! ack_timeout_ms = 2000    # a running node: longest wait for the mirror's ack before orders are refused
//! buffer_records = 262144  # a running node: records buffered for the mirror (outage, slow acks)
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// Largest accepted timeout (both timeouts): 60 s.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Largest accepted `failover_ms`: 120 s.
pub const MAX_FAILOVER_MS: u64 = 120_000;
/// Most servers a config may list.
pub const MAX_SERVERS: usize = 64;
/// Most records a running node may buffer for its mirror.
pub const MAX_BUFFER_RECORDS: usize = 4 << 20;

/// A `[cluster]` config that failed to load; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cluster config{path}: field {field}: {problem}")]
pub struct ConfigError {
    /// ` <file>` or empty.
    pub path: String,
    /// The field, e.g. `cluster.servers[1]`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    cluster: Raw,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    servers: Vec<String>,
    node: String,
    #[serde(default = "default_replicas")]
    replicas: u8,
    #[serde(default = "default_connect_ms")]
    connect_timeout_ms: u64,
    #[serde(default = "default_request_ms")]
    request_timeout_ms: u64,
    #[serde(default = "default_failover_ms")]
    failover_ms: u64,
    #[serde(default = "default_ack_ms")]
    ack_timeout_ms: u64,
    #[serde(default = "default_buffer_records")]
    buffer_records: usize,
}

fn default_ack_ms() -> u64 {
    2000
}
fn default_buffer_records() -> usize {
    1 << 18
}

fn default_replicas() -> u8 {
    3
}
fn default_connect_ms() -> u64 {
    2000
}
fn default_request_ms() -> u64 {
    5000
}
/// NATS elects a new Raft leader within about 4–9 s of losing one; 20 s covers it
/// on a loaded machine.
fn default_failover_ms() -> u64 {
    20_000
}

/// A validated `[cluster]` config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// NATS URLs (`nats://host:port`, `tls://host:port` or `host:port`), tried in order.
    pub servers: Vec<String>,
    /// This node's name: part of subject and stream names.
    pub node: String,
    /// Replicas of the streams this node creates: 1 or 3.
    pub replicas: u8,
    /// How long connecting (to any server) may take.
    pub connect_timeout: Duration,
    /// How long one request (a publish's ack, a stream call) may take.
    pub request_timeout: Duration,
    /// How long a JetStream call that fails transiently (timed out, no responders,
    /// temporarily unavailable: a leader election after a server died) is retried.
    pub failover: Duration,
    /// A running node (`bulkhead run --cluster`): how long the release gate waits for the
    /// mirror's acknowledgement before the event's orders are refused (`CLUSTER_UNAVAILABLE`).
    pub ack_timeout: Duration,
    /// A running node: records buffered between the engine and the mirror's publisher.
    pub buffer_records: usize,
}

fn err(field: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError { path: String::new(), field: field.to_string(), problem: problem.into() }
}

/// A node name usable in a stream name and as one subject token.
pub fn check_node_name(field: &str, node: &str) -> Result<(), ConfigError> {
    if node.is_empty() || node.len() > 32 {
        return Err(err(field, format!("`{node}` must be 1..=32 characters")));
    }
    if let Some(c) = node.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(err(field, format!("`{node}` has `{c}`: only A-Z a-z 0-9 _ - are allowed")));
    }
    Ok(())
}

fn check_server(field: &str, url: &str) -> Result<(), ConfigError> {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) => {
            if !matches!(scheme, "nats" | "tls") {
                return Err(err(field, format!("`{url}`: scheme must be nats:// or tls://")));
            }
            rest
        }
        None => url,
    };
    let (host, port) =
        rest.rsplit_once(':').ok_or_else(|| err(field, format!("`{url}` needs a port (nats://host:port)")))?;
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return Err(err(field, format!("`{url}`: bad host `{host}`")));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(err(field, format!("`{url}`: port `{port}` is not 1..=65535"))),
    }
    url.parse::<async_nats::ServerAddr>().map_err(|e| err(field, format!("`{url}`: {e}")))?;
    Ok(())
}

fn timeout(field: &str, ms: u64) -> Result<Duration, ConfigError> {
    if ms == 0 || ms > MAX_TIMEOUT_MS {
        return Err(err(field, format!("{ms} must be in 1..={MAX_TIMEOUT_MS} (milliseconds)")));
    }
    Ok(Duration::from_millis(ms))
}

impl ClusterConfig {
    /// Parse and validate the `[cluster]` section of a TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| {
            let field = e.span().map_or_else(|| "cluster".to_string(), |s| field_at(text, s.start));
            err(&field, e.message().to_string())
        })?;
        let raw = file.cluster;
        if raw.servers.is_empty() {
            return Err(err("cluster.servers", "empty: name at least one nats://host:port"));
        }
        if raw.servers.len() > MAX_SERVERS {
            return Err(err("cluster.servers", format!("{} servers, at most {MAX_SERVERS}", raw.servers.len())));
        }
        for (i, s) in raw.servers.iter().enumerate() {
            check_server(&format!("cluster.servers[{i}]"), s)?;
        }
        check_node_name("cluster.node", &raw.node)?;
        if !matches!(raw.replicas, 1 | 3) {
            return Err(err("cluster.replicas", format!("{} must be 1 or 3", raw.replicas)));
        }
        if raw.failover_ms > MAX_FAILOVER_MS {
            let problem = format!("{} must be in 0..={MAX_FAILOVER_MS} (milliseconds)", raw.failover_ms);
            return Err(err("cluster.failover_ms", problem));
        }
        Ok(ClusterConfig {
            servers: raw.servers,
            node: raw.node,
            replicas: raw.replicas,
            connect_timeout: timeout("cluster.connect_timeout_ms", raw.connect_timeout_ms)?,
            request_timeout: timeout("cluster.request_timeout_ms", raw.request_timeout_ms)?,
            failover: Duration::from_millis(raw.failover_ms),
            ack_timeout: timeout("cluster.ack_timeout_ms", raw.ack_timeout_ms)?,
            buffer_records: match raw.buffer_records {
                n @ 1..=MAX_BUFFER_RECORDS => n,
                n => {
                    let problem = format!("{n} must be in 1..={MAX_BUFFER_RECORDS} (records)");
                    return Err(err("cluster.buffer_records", problem));
                }
            },
        })
    }

    /// Read and validate a config file; errors name the file and the field.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let with_path = |mut e: ConfigError| {
            e.path = format!(" {}", path.display());
            e
        };
        let text = std::fs::read_to_string(path).map_err(|e| with_path(err("(file)", e.to_string())))?;
        Self::from_toml(&text).map_err(with_path)
    }
}

/// The dotted key on the line holding byte `at` (best effort, for messages).
fn field_at(text: &str, at: usize) -> String {
    let before = text.get(..at).unwrap_or(text);
    let line = text.get(before.rfind('\n').map_or(0, |i| i + 1)..).unwrap_or("");
    let key = line.split(['=', '\n']).next().unwrap_or("").trim();
    if key.is_empty() || key.starts_with('[') { "cluster".to_string() } else { format!("cluster.{key}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "[cluster]\nservers = [\"nats://10.1.2.3:4222\", \"tls://nats.example:4443\"]\nnode = \"n-1\"\n";

    #[test]
    fn defaults_and_remote_hosts() {
        let c = ClusterConfig::from_toml(OK).unwrap();
        assert_eq!(c.replicas, 3);
        assert_eq!(c.servers.len(), 2);
        assert_eq!(c.connect_timeout, Duration::from_millis(2000));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (OK.replace("n-1", "a.b"), "cluster.node"),
            (OK.replace("4443", "0"), "cluster.servers[1]"),
            (OK.replace("tls://", "http://"), "cluster.servers[1]"),
            (format!("{OK}replicas = 2\n"), "cluster.replicas"),
            (format!("{OK}connect_timeout_ms = 0\n"), "cluster.connect_timeout_ms"),
            (format!("{OK}request_timeout_ms = 60001\n"), "cluster.request_timeout_ms"),
            (format!("{OK}replicas = \"x\"\n"), "cluster.replicas"),
            (format!("{OK}bogus = 1\n"), "bogus"),
            (format!("{OK}failover_ms = 120001\n"), "cluster.failover_ms"),
            (format!("{OK}ack_timeout_ms = 0\n"), "cluster.ack_timeout_ms"),
            (format!("{OK}buffer_records = 0\n"), "cluster.buffer_records"),
            ("[cluster]\nservers = []\nnode = \"a\"\n".to_string(), "cluster.servers"),
        ];
        for (text, field) in cases {
            let e = ClusterConfig::from_toml(&text).unwrap_err();
            assert!(e.to_string().contains(field), "{text}: {e}");
        }
    }
}
