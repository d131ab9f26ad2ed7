//! API tokens: roles, the hashed token store, constant-time verification.
//!
//! A token file is TOML:
//!
//! ```toml
//! [[tokens]]
//! name = "alice"          # appears in the journal as the actor of her commands
//! role = "operator"       # viewer | operator | admin
//! hash = "…64 hex…"       # blake3 of the token text; the token itself is never stored
//! created = "2026-12-02T04:55:00Z"   # when it was made (UTC; optional in older files)
//! ```
//!
//! The file is only ever replaced whole ([`TokenStore::save`]: a temporary
//! file in the same directory, fsynced, then renamed over it), so a reader
//! or a crash sees the old set or the new one, never half of either.
//!
//! Tokens are `bh_` followed by 64 hex digits (32 random bytes from the OS).
//! A request's bearer token is hashed with blake3 and compared with *every*
//! stored hash in constant time (`subtle`), so neither the match nor its
//! position leaks through timing.

use serde::{Deserialize, Serialize};
use std::path::Path;
use subtle::{Choice, ConstantTimeEq};

/// What a token may do (one home: the engine's command types).
pub use bulkhead_engine::command::Role;

/// One stored token: its name, role and the blake3 hash of its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub name: String,
    pub role: Role,
    /// blake3 of the token text, 64 lowercase hex digits.
    pub hash: String,
    /// When the token was made, RFC 3339 UTC (`2026-12-02T04:55:00Z`);
    /// `None` for entries written before this field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: tokens[{index}].{field}: {message}")]
    Field { path: String, index: usize, field: &'static str, message: String },
    #[error("token name `{0}` already exists")]
    Duplicate(String),
    #[error("token name must be 1-64 characters of [A-Za-z0-9_.@-]")]
    BadName,
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

/// A verified token holder's hash, decoded once at load.
#[derive(Clone, Debug)]
struct Stored {
    entry: TokenEntry,
    hash: [u8; 32],
}

/// The set of valid tokens (hashes only).
#[derive(Clone, Debug, Default)]
pub struct TokenStore {
    tokens: Vec<Stored>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

/// True if `name` can name a token: 1-64 characters of `[A-Za-z0-9_.@-]`.
pub fn valid_token_name(name: &str) -> bool {
    valid_name(name)
}

/// A new token file written beside the real one, not yet in place.
#[derive(Debug)]
pub struct PendingWrite {
    tmp: std::path::PathBuf,
    path: std::path::PathBuf,
    done: bool,
}

impl PendingWrite {
    /// Rename the temporary file over the real one and fsync the directory.
    pub fn commit(mut self) -> Result<(), TokenError> {
        let io = |source| TokenError::Io { path: self.path.display().to_string(), source };
        std::fs::rename(&self.tmp, &self.path).map_err(io)?;
        self.done = true;
        #[cfg(unix)]
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(())
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Now as RFC 3339 UTC with whole seconds (`2026-12-02T04:55:00Z`).
pub fn utc_now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

fn rfc3339(unix_secs: u64) -> String {
    let (days, rem) = ((unix_secs / 86_400) as i64, unix_secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let hi = (chunk[0] as char).to_digit(16)?;
        let lo = (chunk[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// blake3 hex of a token's text: what the store keeps.
pub fn hash_token(plaintext: &str) -> String {
    blake3::hash(plaintext.as_bytes()).to_hex().to_string()
}

impl TokenStore {
    pub fn new() -> TokenStore {
        TokenStore::default()
    }

    /// Load a token file. Every entry is checked; the first bad one is
    /// named by index and field.
    pub fn load(path: &Path) -> Result<TokenStore, TokenError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Io { path: p.clone(), source })?;
        TokenStore::from_toml_str(&text, &p)
    }

    /// Parse token-file text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<TokenStore, TokenError> {
        let file: TokenFile =
            toml::from_str(text).map_err(|e| TokenError::Parse { path: origin.to_string(), message: e.to_string() })?;
        let mut store = TokenStore::new();
        for (index, entry) in file.tokens.into_iter().enumerate() {
            let field = |field: &'static str, message: &str| TokenError::Field {
                path: origin.to_string(),
                index,
                field,
                message: message.to_string(),
            };
            if !valid_name(&entry.name) {
                return Err(field("name", "must be 1-64 characters of [A-Za-z0-9_.@-]"));
            }
            if store.tokens.iter().any(|t| t.entry.name == entry.name) {
                return Err(field("name", &format!("duplicate name `{}`", entry.name)));
            }
            let Some(hash) = decode_hex32(&entry.hash) else {
                return Err(field("hash", "must be 64 hex digits (blake3 of the token)"));
            };
            store.tokens.push(Stored { entry: TokenEntry { hash: entry.hash.to_ascii_lowercase(), ..entry }, hash });
        }
        Ok(store)
    }

    /// The file text for this store (what `bulkhead token add` writes back).
    pub fn to_toml(&self) -> String {
        let file = TokenFile { tokens: self.entries().cloned().collect() };
        toml::to_string(&file).unwrap_or_default()
    }

    /// Replace the file at `path` with this store, atomically: see
    /// [`TokenStore::write_pending`] and [`PendingWrite::commit`].
    pub fn save(&self, path: &Path) -> Result<(), TokenError> {
        self.write_pending(path)?.commit()
    }

    /// First half of [`TokenStore::save`]: write the new file text to a
    /// temporary file beside `path` (mode 0600) and fsync it. Nothing
    /// visible changes until [`PendingWrite::commit`]; dropping the pending
    /// write removes the temporary file.
    pub fn write_pending(&self, path: &Path) -> Result<PendingWrite, TokenError> {
        use std::io::Write;
        let io = |source| TokenError::Io { path: path.display().to_string(), source };
        let name = path.file_name().ok_or_else(|| io(std::io::Error::other("not a file name")))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp.{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let pending = PendingWrite { tmp: tmp.clone(), path: path.to_path_buf(), done: false };
        let mut f = opts.open(&tmp).map_err(io)?;
        f.write_all(self.to_toml().as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(pending)
    }

    /// Add an entry (e.g. one from [`TokenStore::generate`]).
    pub fn add(&mut self, entry: TokenEntry) -> Result<(), TokenError> {
        if !valid_name(&entry.name) {
            return Err(TokenError::BadName);
        }
        if self.tokens.iter().any(|t| t.entry.name == entry.name) {
            return Err(TokenError::Duplicate(entry.name));
        }
        let hash = decode_hex32(&entry.hash).ok_or_else(|| TokenError::Field {
            path: "<entry>".into(),
            index: self.tokens.len(),
            field: "hash",
            message: "must be 64 hex digits".into(),
        })?;
        self.tokens.push(Stored { entry, hash });
        Ok(())
    }

    /// Remove a token by name; true if it existed.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.tokens.len();
        self.tokens.retain(|t| t.entry.name != name);
        self.tokens.len() != before
    }

    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Option<&TokenEntry> {
        self.entries().find(|e| e.name == name)
    }

    pub fn entries(&self) -> impl Iterator<Item = &TokenEntry> {
        self.tokens.iter().map(|t| &t.entry)
    }
    pub fn len(&self) -> usize {
        self.tokens.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Make a new random token: returns the plaintext (show it once, never
    /// store it) and the entry to store.
    pub fn generate(name: &str, role: Role) -> Result<(String, TokenEntry), TokenError> {
        if !valid_name(name) {
            return Err(TokenError::BadName);
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
        let mut plaintext = String::with_capacity(67);
        plaintext.push_str("bh_");
        plaintext.push_str(&hex::encode(bytes));
        let entry =
            TokenEntry { name: name.to_string(), role, hash: hash_token(&plaintext), created: Some(utc_now_rfc3339()) };
        Ok((plaintext, entry))
    }

    /// The holder of a presented token, or None. Compares against every
    /// stored hash in constant time.
    pub fn verify(&self, presented: &str) -> Option<(&str, Role)> {
        let h = blake3::hash(presented.as_bytes());
        let h = h.as_bytes();
        let mut found: Option<usize> = None;
        for (i, t) in self.tokens.iter().enumerate() {
            let eq: Choice = t.hash.ct_eq(h);
            // Keep iterating regardless; names are unique so at most one
            // hash can match a given token (barring a blake3 collision).
            if bool::from(eq) && found.is_none() {
                found = Some(i);
            }
        }
        found.map(|i| (self.tokens[i].entry.name.as_str(), self.tokens[i].entry.role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_verify_roundtrip() {
        let (pt, entry) = TokenStore::generate("alice", Role::Operator).unwrap();
        assert!(pt.starts_with("bh_") && pt.len() == 67);
        let mut s = TokenStore::new();
        s.add(entry.clone()).unwrap();
        assert_eq!(s.verify(&pt), Some(("alice", Role::Operator)));
        assert_eq!(s.verify("bh_nope"), None);
        assert!(matches!(s.add(entry), Err(TokenError::Duplicate(_))));
        let text = s.to_toml();
        let back = TokenStore::from_toml_str(&text, "t").unwrap();
        assert_eq!(back.verify(&pt), Some(("alice", Role::Operator)));
        assert!(!text.contains(&pt));
    }

    #[test]
    fn file_errors_name_the_field() {
        let bad_role = "[[tokens]]\nname = \"a\"\nrole = \"root\"\nhash = \"00\"\n";
        let e = TokenStore::from_toml_str(bad_role, "t.toml").unwrap_err().to_string();
        assert!(e.contains("role"), "{e}");
        let bad_hash = "[[tokens]]\nname = \"a\"\nrole = \"admin\"\nhash = \"zz\"\n";
        let e = TokenStore::from_toml_str(bad_hash, "t.toml").unwrap_err().to_string();
        assert!(e.contains("tokens[0].hash"), "{e}");
        let dup = format!(
            "[[tokens]]\nname = \"a\"\nrole = \"admin\"\nhash = \"{h}\"\n[[tokens]]\nname = \"a\"\nrole = \"viewer\"\nhash = \"{h}\"\n",
            h = "ab".repeat(32)
        );
        let e = TokenStore::from_toml_str(&dup, "t.toml").unwrap_err().to_string();
        assert!(e.contains("tokens[1].name"), "{e}");
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_186_100), "2026-12-02T04:35:00Z");
    }

    #[test]
    fn save_replaces_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let (pt, entry) = TokenStore::generate("alice", Role::Admin).unwrap();
        let mut s = TokenStore::new();
        s.add(entry).unwrap();
        s.save(&path).unwrap();
        let back = TokenStore::load(&path).unwrap();
        assert_eq!(back.verify(&pt), Some(("alice", Role::Admin)));
        assert!(back.get("alice").unwrap().created.as_deref().is_some_and(|c| c.ends_with('Z')));
        // A pending write that is dropped leaves the old file and no litter.
        s.remove("alice");
        drop(s.write_pending(&path).unwrap());
        assert_eq!(TokenStore::load(&path).unwrap().len(), 1);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // An entry without `created` (older files) still loads.
        let old = format!("[[tokens]]\nname = \"a\"\nrole = \"viewer\"\nhash = \"{}\"\n", "ab".repeat(32));
        assert_eq!(TokenStore::from_toml_str(&old, "t").unwrap().get("a").unwrap().created, None);
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
    }
}
