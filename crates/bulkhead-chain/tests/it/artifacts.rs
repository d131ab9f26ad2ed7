//! The committed contract artifacts are what the sources compile to.

use std::process::Command;

#[test]
fn committed_artifacts_match_a_fresh_compile() {
    let root = bulkhead_chain::devnet::repo_root();
    let node = Command::new("node").arg("--version").output().map(|_| ()).map_err(|e| format!("node: {e}"));
    let solc = root.join("tools/chain/node_modules/solc");
    let present = node.and_then(|()| if solc.is_dir() { Ok(()) } else { Err(format!("{} missing", solc.display())) });
    if !crate::tool_present("node + solc", present) {
        return;
    }
    let out = Command::new("node")
        .arg("tools/chain/build.mjs")
        .arg("--check")
        .current_dir(&root)
        .output()
        .expect("run build.mjs");
    assert!(out.status.success(), "artifacts differ from the sources:\n{}", String::from_utf8_lossy(&out.stderr));
}
