//! A local 3-server JetStream cluster of real `nats-server` processes (tests and demos).
//!
//! **Owns:** choosing free loopback ports (client and cluster-route port per server),
//! writing each server's config with its own `store_dir` under one directory, starting
//! them, waiting until JetStream has a meta leader and a 3-replica stream can be created,
//! killing and restarting single servers, and stopping all of them when dropped.
//! **Must never:** be used outside tests and demos (it is behind the `localcluster`
//! feature); leave a process running after it is dropped.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;

/// Servers in the local cluster.
pub const SERVERS: usize = 3;
/// How long [`LocalCluster::start`] waits for a meta leader and a 3-replica stream.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the local cluster did not come up.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("nats-server not found on PATH (scripts/nats-setup.sh installs it): {0}")]
    NoServer(std::io::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("JetStream cluster not ready within {0:?}: {1} (logs in {2})")]
    NotReady(Duration, String, String),
}

/// Is `nats-server` runnable?
pub fn nats_server_available() -> bool {
    Command::new("nats-server").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// A running 3-server cluster; dropped = every server killed and reaped.
pub struct LocalCluster {
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    client_ports: [u16; SERVERS],
    children: [Option<Child>; SERVERS],
}

fn free_port() -> Result<u16, LocalError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|source| LocalError::Io { what: "bind 127.0.0.1:0".into(), source })?;
    l.local_addr().map(|a| a.port()).map_err(|source| LocalError::Io { what: "local_addr".into(), source })
}

fn server_config(dir: &Path, i: usize, client: u16, routes: &[u16; SERVERS]) -> String {
    let sdir = dir.join(format!("s{i}"));
    let mut route_urls = String::new();
    for (j, p) in routes.iter().enumerate() {
        if j != i {
            let _ = write!(route_urls, "\"nats-route://127.0.0.1:{p}\", ");
        }
    }
    format!(
        "server_name: bh{i}\nlisten: \"127.0.0.1:{client}\"\nlog_file: \"{log}\"\n\
         jetstream {{\n  store_dir: \"{store}\"\n  max_memory_store: 64MB\n  max_file_store: 1GB\n}}\n\
         cluster {{\n  name: bulkhead\n  listen: \"127.0.0.1:{route}\"\n  routes: [{route_urls}]\n}}\n",
        log = sdir.join("server.log").display(),
        store = sdir.join("store").display(),
        route = routes[i],
    )
}

impl LocalCluster {
    /// Starts the cluster in a fresh temporary directory.
    /// Free ports are picked by binding port 0 and letting go, so a
    /// cluster started at the same moment (tests in parallel) can take one
    /// first and a server of this one never joins: a cluster not ready in
    /// time is torn down and started again on new ports, up to 3 times.
    pub fn start() -> Result<Self, LocalError> {
        let mut attempt = 0;
        loop {
            let tmp = tempfile::tempdir().map_err(|source| LocalError::Io { what: "temp dir".into(), source })?;
            let dir = tmp.path().to_path_buf();
            match Self::start_in(&dir, Some(tmp)) {
                Err(LocalError::NotReady(..)) if attempt < 2 => attempt += 1,
                other => return other,
            }
        }
    }

    fn start_in(dir: &Path, tmp: Option<tempfile::TempDir>) -> Result<Self, LocalError> {
        let mut client_ports = [0u16; SERVERS];
        let mut routes = [0u16; SERVERS];
        for i in 0..SERVERS {
            client_ports[i] = free_port()?;
            routes[i] = free_port()?;
        }
        for (i, &client) in client_ports.iter().enumerate() {
            let sdir = dir.join(format!("s{i}"));
            std::fs::create_dir_all(sdir.join("store"))
                .map_err(|source| LocalError::Io { what: format!("mkdir {}", sdir.display()), source })?;
            std::fs::write(sdir.join("nats.conf"), server_config(dir, i, client, &routes))
                .map_err(|source| LocalError::Io { what: "write nats.conf".into(), source })?;
        }
        let mut c = LocalCluster { dir: dir.to_path_buf(), _tmp: tmp, client_ports, children: [None, None, None] };
        for i in 0..SERVERS {
            c.restart(i)?;
        }
        c.wait_ready(READY_TIMEOUT)?;
        Ok(c)
    }

    /// The servers' client URLs (`nats://127.0.0.1:PORT`).
    pub fn urls(&self) -> Vec<String> {
        self.client_ports.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect()
    }

    /// A `[cluster]` config naming all three servers.
    pub fn cluster_toml(&self, node: &str) -> String {
        let servers: Vec<String> = self.urls().iter().map(|u| format!("\"{u}\"")).collect();
        format!("[cluster]\nservers = [{}]\nnode = \"{node}\"\nreplicas = 3\n", servers.join(", "))
    }

    /// The directory holding `s<i>/nats.conf`, `s<i>/store`, `s<i>/server.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `kill -9` server `i` and reap it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut ch) = self.children.get_mut(i).and_then(Option::take) {
            let _ = ch.kill();
            let _ = ch.wait();
        }
    }

    /// Stops server `i` gracefully (SIGTERM: it flushes its stores) and
    /// waits for it. nats-server 2.9 acknowledges a write once a quorum of
    /// servers holds it, before it is on disk (per-write `sync_interval:
    /// always` came in 2.10): a SIGKILL of every server at once can lose
    /// acknowledged messages, a graceful stop does not.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut ch) = self.children.get_mut(i).and_then(Option::take) {
            let stopped = std::process::Command::new("kill")
                .args(["-TERM", &ch.id().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if !stopped {
                let _ = ch.kill();
            }
            let _ = ch.wait();
        }
    }

    /// Starts server `i` again (same ports, same store) if it is not running.
    pub fn restart(&mut self, i: usize) -> Result<(), LocalError> {
        let Some(slot) = self.children.get_mut(i) else { return Ok(()) };
        if slot.is_some() {
            return Ok(());
        }
        let conf = self.dir.join(format!("s{i}")).join("nats.conf");
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    LocalError::NoServer(e)
                } else {
                    LocalError::Io { what: "spawn nats-server".into(), source: e }
                }
            })?;
        *slot = Some(child);
        Ok(())
    }

    /// Waits until a client can create (and delete) a 3-replica stream.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), LocalError> {
        let urls = self.urls();
        let last = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            rt.block_on(probe_until(urls, timeout))
        })
        .join()
        .unwrap_or_else(|_| Err("probe thread panicked".to_string()));
        last.map_err(|why| LocalError::NotReady(timeout, why, self.dir.display().to_string()))
    }
}

impl LocalCluster {
    /// Runs `f` with a JetStream context on this cluster (a runtime of its
    /// own, on a thread of its own): test support for what no Bulkhead role
    /// does (a raw message on a subject, a consumer of a stream).
    fn with_js<T: Send + 'static>(
        &self,
        f: impl FnOnce(jetstream::Context) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, String>> + Send>>
        + Send
        + 'static,
    ) -> Result<T, String> {
        let urls = self.urls();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let addrs: Vec<async_nats::ServerAddr> = urls.iter().filter_map(|u| u.parse().ok()).collect();
                let client = async_nats::ConnectOptions::new()
                    .connection_timeout(Duration::from_secs(2))
                    .request_timeout(Some(Duration::from_secs(5)))
                    .connect(addrs)
                    .await
                    .map_err(|e| e.to_string())?;
                f(jetstream::new(client)).await
            })
        })
        .join()
        .unwrap_or_else(|_| Err("test-support thread panicked".to_string()))
    }

    /// Publishes `payload` on `subject` and waits for JetStream's ack (its stream sequence).
    pub fn publish(&self, subject: &str, payload: &[u8]) -> Result<u64, String> {
        let (subject, payload) = (subject.to_string(), bytes::Bytes::copy_from_slice(payload));
        self.with_js(move |js| {
            Box::pin(async move {
                let ack =
                    js.publish(subject, payload).await.map_err(|e| e.to_string())?.await.map_err(|e| e.to_string())?;
                Ok(ack.sequence)
            })
        })
    }

    /// Adds a durable pull consumer `name` to `stream` (it starts at the
    /// stream's first message and is never read: its lag is the stream).
    pub fn add_consumer(&self, stream: &str, name: &str) -> Result<(), String> {
        let (stream, name) = (stream.to_string(), name.to_string());
        self.with_js(move |js| {
            Box::pin(async move {
                let s = js.get_stream(&stream).await.map_err(|e| e.to_string())?;
                let cfg = jetstream::consumer::pull::Config { durable_name: Some(name), ..Default::default() };
                s.create_consumer(cfg).await.map_err(|e| e.to_string())?;
                Ok(())
            })
        })
    }
}

async fn probe_until(urls: Vec<String>, timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    let mut why = String::from("not tried");
    while start.elapsed() < timeout {
        match probe(&urls).await {
            Ok(()) => return Ok(()),
            Err(e) => why = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(why)
}

async fn probe(urls: &[String]) -> Result<(), String> {
    let addrs: Vec<async_nats::ServerAddr> = urls.iter().filter_map(|u| u.parse().ok()).collect();
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(1))
        .request_timeout(Some(Duration::from_secs(2)))
        .connect(addrs)
        .await
        .map_err(|e| e.to_string())?;
    let js = jetstream::new(client);
    let cfg = jetstream::stream::Config {
        name: "BULKHEAD_READY".into(),
        subjects: vec!["bulkhead.ready".into()],
        num_replicas: SERVERS,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    };
    js.get_or_create_stream(cfg).await.map_err(|e| e.to_string())?;
    js.delete_stream("BULKHEAD_READY").await.map_err(|e| e.to_string())?;
    Ok(())
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for i in 0..SERVERS {
            self.kill(i);
        }
    }
}
