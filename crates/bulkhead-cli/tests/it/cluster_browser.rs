//! The cluster dashboard (`bulkhead cluster serve`'s page) in headless
//! Chromium over WebDriver (the pattern of bulkhead-server's browser test),
//! against two real node runs on a real 3-server JetStream cluster: an
//! operator signs in, sees both nodes ready with their strategies, presses
//! KILL ALL, accepts the confirm dialog, and both nodes show halted; their
//! journals carry the halt with the operator's name.
//! Needs chromium + chromium-driver (BULKHEAD_SKIP_BROWSER=1 skips) and
//! nats-server (skipped unless BULKHEAD_REQUIRE_NATS is set).

use crate::cluster_view::{after_halt, cluster, node, stop, token, view};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn wd(addr: &str, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
    let mut c = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    // Up to the head's end, then Content-Length bytes (chromedriver keeps the connection open).
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (head, len) = loop {
        let n = c.read(&mut buf).map_err(|e| format!("{method} {path}: {e}"))?;
        if n == 0 {
            return Err(format!("{method} {path}: connection closed"));
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            raw.drain(..at + 4);
            break (head, len);
        }
    };
    while raw.len() < len {
        let n = c.read(&mut buf).map_err(|e| format!("{method} {path}: {e}"))?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let status: u16 = head.split(' ').nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
    let v: Value = serde_json::from_slice(&raw).map_err(|e| format!("{method} {path}: {e}: {head}"))?;
    if status != 200 {
        return Err(format!("{method} {path}: HTTP {status}: {}", v["value"]));
    }
    Ok(v["value"].clone())
}

struct Driver {
    child: Child,
    addr: String,
    session: String,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = wd(&self.addr, "DELETE", &format!("/session/{}", self.session), None);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Driver {
    fn s(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        wd(&self.addr, method, &format!("/session/{}{path}", self.session), body)
    }
    fn find(&self, css: &str) -> Result<String, String> {
        let v = self.s("POST", "/element", Some(json!({"using": "css selector", "value": css})))?;
        v.as_object().and_then(|o| o.values().next()?.as_str().map(str::to_string)).ok_or_else(|| css.to_string())
    }
    /// The text of every element matching `css`, read in one script run.
    fn texts(&self, css: &str) -> Vec<String> {
        let script = format!("return [...document.querySelectorAll({css:?})].map(e => e.textContent);");
        let v = self.s("POST", "/execute/sync", Some(json!({"script": script, "args": []}))).unwrap_or(Value::Null);
        v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
    }
    fn wait<T>(&self, what: &str, secs: u64, mut f: impl FnMut(&Driver) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {:?}", self.texts("body"));
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn launch() -> Option<Driver> {
    let chromium = std::env::var("BULKHEAD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let driver = std::env::var("BULKHEAD_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    if !(std::path::Path::new(&chromium).exists() && std::path::Path::new(&driver).exists()) {
        assert!(
            std::env::var("BULKHEAD_SKIP_BROWSER").is_ok_and(|v| v == "1"),
            "the cluster dashboard test needs {chromium} and {driver} (apt-get install -y chromium chromium-driver), \
             or BULKHEAD_SKIP_BROWSER=1"
        );
        eprintln!("SKIPPED: browser test (BULKHEAD_SKIP_BROWSER=1)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(&driver)
        .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let profile = std::env::temp_dir().join(format!("bulkhead-cluster-browser-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&profile).unwrap();
    let t = Instant::now();
    while !wd(&addr, "GET", "/status", None).is_ok_and(|v| v["ready"] == json!(true)) {
        assert!(t.elapsed() < Duration::from_secs(20), "chromedriver not ready on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "unhandledPromptBehavior": "ignore",
        "goog:chromeOptions": {"binary": chromium, "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,1000",
            format!("--user-data-dir={}", profile.display()),
        ]}
    }}});
    let v = wd(&addr, "POST", "/session", Some(caps)).unwrap();
    let session = v["sessionId"].as_str().unwrap().to_string();
    Some(Driver { child, addr, session, profile })
}

#[test]
fn the_cluster_dashboard_shows_both_nodes_and_kill_all_halts_them() {
    let Some(c) = cluster() else { return };
    let Some(d) = launch() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("tokens.toml");
    let ops = token(&tokens, "ops", "operator");
    let (view_proc, addr) = view(tmp.path(), &c, &tokens);
    let (a, ja) = node(&tmp.path().join("a"), &c, "node-a");
    let (b, jb) = node(&tmp.path().join("b"), &c, "node-b");

    d.s("POST", "/url", Some(json!({"url": format!("http://{addr}/")}))).unwrap();
    let input = d.wait("the token input", 15, |d| d.find("[data-testid=token-input]").ok());
    d.s("POST", &format!("/element/{input}/value"), Some(json!({"text": ops}))).unwrap();
    let button = d.find("[data-testid=login-button]").unwrap();
    d.s("POST", &format!("/element/{button}/click"), Some(json!({}))).unwrap();

    // Both nodes ready, six strategy rows (three each), all active.
    let row = |d: &Driver, node: &str| d.texts(&format!("[data-testid=node-{node}] td")).join("|");
    d.wait("both nodes ready", 30, |d| {
        ["node-a", "node-b"].iter().all(|n| row(d, n).starts_with(&format!("{n}|ready|active"))).then_some(())
    });
    d.wait("six strategy rows", 10, |d| (d.texts("#strategies tr").len() == 6).then_some(()));

    // KILL ALL, behind a confirm dialog.
    let reason = d.find("[data-testid=kill-reason]").unwrap();
    d.s("POST", &format!("/element/{reason}/value"), Some(json!({"text": "browser drill"}))).unwrap();
    let kill = d.find("[data-testid=kill-all]").unwrap();
    d.s("POST", &format!("/element/{kill}/click"), Some(json!({}))).unwrap();
    let prompt = d.wait("the confirm dialog", 10, |d| d.s("GET", "/alert/text", None).ok());
    assert!(prompt.as_str().unwrap().contains("every node"), "{prompt}");
    d.s("POST", "/alert/accept", Some(json!({}))).unwrap();
    d.wait("both nodes halted", 20, |d| {
        ["node-a", "node-b"].iter().all(|n| row(d, n).contains("|halted|")).then_some(())
    });
    let last = row(&d, "node-a");
    assert!(last.ends_with("all by ops: browser drill"), "{last}");
    d.wait("every strategy shown halted", 10, |d| {
        let states = d.texts("#strategies tr td:nth-child(3)");
        (states.len() == 6 && states.iter().all(|s| s == "halted")).then_some(())
    });
    drop(d);
    let _ = (stop(a), stop(b), stop(view_proc));
    for journal in [&ja, &jb] {
        let (commands, accepted_after) = after_halt(journal);
        assert_eq!(commands, ["halt scope=global actor=cluster.ops role=operator"]);
        assert_eq!(accepted_after, 0);
    }
}
