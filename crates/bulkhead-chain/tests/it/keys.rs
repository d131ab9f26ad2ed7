//! The key file: owner-only mode, strict format, key material never shown.

use std::os::unix::fs::PermissionsExt;

use bulkhead_chain::devnet::{DEV_KEYS, Devnet, write_private};
use bulkhead_chain::keys::{KeyError, KeyFile};

fn key_file(text: &str, mode: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keys.toml");
    write_private(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    (dir, p)
}

#[test]
fn mode_0644_is_refused_naming_path_and_mode() {
    let (_d, p) = key_file(&format!("[accounts]\nalpha = \"{}\"\n", DEV_KEYS[1]), 0o644);
    let e = KeyFile::load(&p).unwrap_err();
    assert!(matches!(e, KeyError::Mode { mode: 0o644, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&p.display().to_string()) && msg.contains("0644"), "{msg}");
    let (_d, p) = key_file(&format!("[accounts]\nalpha = \"{}\"\n", DEV_KEYS[1]), 0o640);
    assert!(matches!(KeyFile::load(&p), Err(KeyError::Mode { .. })));
}

#[test]
fn loads_accounts_and_never_prints_keys() {
    let (_d, p) = key_file(&format!("[accounts]\nalpha = \"{}\"\nbeta = \"{}\"\n", DEV_KEYS[1], DEV_KEYS[2]), 0o600);
    let k = KeyFile::load(&p).unwrap();
    assert_eq!(k.address("alpha"), Some(Devnet::dev(1)));
    assert_eq!(k.address("beta"), Some(Devnet::dev(2)));
    assert!(k.address("gamma").is_none());
    assert!(k.signer_for(&Devnet::dev(2)).is_some());
    let shown = format!("{k:?} {k}");
    for key in &DEV_KEYS[1..3] {
        assert!(!shown.contains(&key[2..]), "key material in {shown}");
        assert!(!shown.to_lowercase().contains(&key[2..10]), "key prefix in {shown}");
    }
    assert!(shown.contains("alpha"));
}

#[test]
fn bad_files_refused_without_echoing_text() {
    let secret = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b7869";
    for (text, field) in [
        (format!("[accounts]\nalpha = \"{secret}\"\n"), "accounts.alpha"),
        (format!("[accounts]\nalpha = {secret}\n"), "file"),
        ("[accounts]\n".to_string(), "accounts"),
        (format!("[other]\nalpha = \"{}\"\n", DEV_KEYS[1]), "other"),
        (
            "[accounts]\nalpha = \"0x0000000000000000000000000000000000000000000000000000000000000000\"\n".into(),
            "accounts.alpha",
        ),
    ] {
        let (_d, p) = key_file(&text, 0o600);
        let e = KeyFile::load(&p).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(&e, KeyError::Invalid { field: f, .. } if f == field), "{text:?}: {e:?}");
        assert!(!msg.contains(&secret[2..20]), "key text echoed: {msg}");
    }
    let e = KeyFile::load(std::path::Path::new("/nonexistent/keys.toml")).unwrap_err();
    assert!(matches!(e, KeyError::Io { .. }));
}
