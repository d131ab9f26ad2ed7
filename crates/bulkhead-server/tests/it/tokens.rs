//! Token management through the API, on the real engine: admin only,
//! journalled with the admin's name before it takes effect, effective for
//! the very next request, kept in the run's token file.

use crate::common;

use bulkhead_server::{Role, ServerOptions, TokenStore, hash_token, start};
use common::*;
use serde_json::json;

fn names(v: &serde_json::Value) -> Vec<String> {
    v["tokens"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn admins_manage_tokens_and_each_change_is_journalled_then_effective_at_once() {
    let mut l = start_live(LiveOptions::default());
    let (addr, t) = (l.addr, &l.tokens);
    let (viewer, operator, admin) = (t.viewer.clone(), t.operator.clone(), t.admin.clone());
    let create = |token: &str, body: &str| request(addr, "POST", "/api/v1/tokens", Some(token), Some(body.as_bytes()));
    let revoke =
        |token: &str, name: &str| request(addr, "DELETE", &format!("/api/v1/tokens/{name}"), Some(token), None);

    // Viewers and operators may not list, create or revoke.
    for token in [&viewer, &operator] {
        let role = if *token == viewer { "viewer" } else { "operator" };
        let msg = format!(
            "role `admin` required; token `{}` has role `{role}`",
            if role == "viewer" { "watcher" } else { "ops" }
        );
        assert_error(&request(addr, "GET", "/api/v1/tokens", Some(token), None), 403, None, &msg);
        assert_error(&create(token, r#"{"name":"mallory","role":"admin"}"#), 403, None, &msg);
        assert_error(&revoke(token, "root"), 403, None, &msg);
    }
    assert_eq!(request(addr, "GET", "/api/v1/tokens", None, None).status, 401);

    // The admin lists name, role and created: never a hash or a secret.
    let r = request(addr, "GET", "/api/v1/tokens", Some(&admin), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(names(&v), ["watcher", "ops", "root"]);
    assert_eq!(v["tokens"][2]["role"], json!("admin"));
    assert!(v["tokens"][0]["created"].as_str().is_some_and(|c| c.ends_with('Z')), "{v}");
    let file_before = TokenStore::load(&l.tokens_file).unwrap();
    for e in file_before.entries() {
        assert!(!r.text().contains(&e.hash), "the listing shows a hash: {}", r.text());
    }
    assert_eq!(v["tokens"][0].as_object().unwrap().len(), 3, "{v}");

    // Bad input: each refused, naming the field; nothing changes.
    assert_error(&create(&admin, r#"{"name":"root","role":"viewer"}"#), 409, Some("name"), "already exists");
    assert_error(&create(&admin, r#"{"name":"bad name!","role":"viewer"}"#), 422, Some("name"), "1-64 characters");
    assert_error(&create(&admin, r#"{"name":"carol","role":"root"}"#), 422, Some("role"), "got `root`");
    assert_error(&create(&admin, r#"{"name":"carol"}"#), 422, Some("role"), "missing field `role`");
    assert_error(&create(&admin, r#"{"name":7,"role":"viewer"}"#), 422, Some("name"), "must be a string");
    assert_error(
        &create(&admin, r#"{"name":"carol","role":"viewer","hash":"00"}"#),
        422,
        Some("hash"),
        "unknown field",
    );
    assert_error(&create(&admin, r#"{"name":"#), 400, Some("body"), "malformed JSON");
    assert_error(&revoke(&admin, "nobody"), 404, Some("name"), "unknown token `nobody`");
    assert_error(&revoke(&admin, "root"), 409, Some("name"), "last admin token");
    assert_eq!(std::fs::read_to_string(&l.tokens_file).unwrap(), file_before.to_toml(), "the file is untouched");

    // A created token works for the very next request.
    let r = create(&admin, r#"{"name":"carol","role":"operator"}"#);
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    let secret = v["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("bh_") && secret.len() == 67, "{v}");
    assert_eq!((v["token"]["name"].as_str(), v["token"]["role"].as_str()), (Some("carol"), Some("operator")));
    assert_eq!(v["actor"], json!("root"));
    let who = request(addr, "GET", "/api/v1/whoami", Some(&secret), None);
    assert_eq!(who.json(), json!({"name": "carol", "role": "operator"}), "{}", who.text());
    let r = request(addr, "POST", "/api/v1/halt", Some(&secret), Some(br#"{"scope":"strategy","name":"momentum"}"#));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["actor"], json!("carol"));
    // …and is in the file as a hash only, in the format `token add` writes.
    let text = std::fs::read_to_string(&l.tokens_file).unwrap();
    assert!(!text.contains(&secret), "the secret is on disk");
    let file = TokenStore::load(&l.tokens_file).unwrap();
    assert_eq!(file.verify(&secret), Some(("carol", Role::Operator)));
    assert_eq!(file.get("carol").unwrap().hash, hash_token(&secret));
    assert_eq!(TokenStore::from_toml_str(&file.to_toml(), "again").unwrap().to_toml(), text, "round-trips");
    let listed = request(addr, "GET", "/api/v1/tokens", Some(&admin), None).json();
    assert_eq!(names(&listed), file.entries().map(|e| e.name.clone()).collect::<Vec<_>>());
    assert!(!listed.to_string().contains(&secret));
    assert_eq!(std::fs::read_dir(l.dir.path()).unwrap().count(), 2, "no temporary file left: tokens + journal");

    // A revoked token gets 401 on its next request.
    assert_eq!(request(addr, "GET", "/api/v1/whoami", Some(&operator), None).status, 200);
    let r = revoke(&admin, "ops");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_error(
        &request(addr, "GET", "/api/v1/whoami", Some(&operator), None),
        401,
        Some("Authorization"),
        "invalid token",
    );
    let r = request(addr, "POST", "/api/v1/halt", Some(&operator), Some(br#"{"scope":"global"}"#));
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(TokenStore::load(&l.tokens_file).unwrap().get("ops").is_none());
    // With a second admin the first may go; then the last one may not.
    let r = create(&admin, r#"{"name":"root2","role":"admin"}"#);
    assert_eq!(r.status, 201, "{}", r.text());
    let admin2 = r.json()["secret"].as_str().unwrap().to_string();
    assert_eq!(revoke(&admin2, "root").status, 200);
    assert_eq!(request(addr, "GET", "/api/v1/tokens", Some(&admin), None).status, 401);
    assert_error(&revoke(&admin2, "root2"), 409, Some("name"), "last admin token");

    // The journal has every change, with the admin's name, in order, before
    // what followed it; never a secret or a hash.
    let commands = l.stop();
    assert_eq!(
        commands,
        [
            "token_create token=carol token_role=operator actor=root role=admin",
            "halt scope=strategy:momentum actor=carol role=operator",
            "token_revoke token=ops actor=root role=admin",
            "token_create token=root2 token_role=admin actor=root role=admin",
            "token_revoke token=root actor=root2 role=admin",
        ]
    );
    let all = l.journal().iter().map(|r| String::from_utf8_lossy(&r.payload).into_owned()).collect::<String>();
    assert!(!all.contains(&secret) && !all.contains(&hash_token(&secret)) && !all.contains(&admin2));
    // The journal replays with the token commands in it.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let report = bulkhead_engine::replay::replay(&l.dir.path().join("journal"), &root.join("strategies/wasm")).unwrap();
    assert!(report.identical(), "{report:?}");
    assert_eq!(report.commands, 5);
}

#[test]
fn without_a_token_file_token_changes_are_refused() {
    let mut store = TokenStore::new();
    let (admin, e) = TokenStore::generate("root", Role::Admin).unwrap();
    store.add(e).unwrap();
    let (_handle, guard) = start("127.0.0.1:0".parse().unwrap(), store, ServerOptions::default()).unwrap();
    let addr = guard.local_addr();
    let r = request(addr, "POST", "/api/v1/tokens", Some(&admin), Some(br#"{"name":"carol","role":"viewer"}"#));
    assert_error(&r, 409, None, "without a token file");
    assert_eq!(request(addr, "GET", "/api/v1/tokens", Some(&admin), None).status, 200);
}
