//! The accounts' key file: one secp256k1 key per account name.
//!
//! Owns: loading `[accounts] name = "0x<64 hex>"` from a file that only its
//! owner can read (mode & 0o077 == 0), and the signers made from it.
//! Must never: print, log, journal or return key material — `Debug` and
//! `Display` show names and addresses only, and parse errors give a line
//! number, never the text around it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256};

use crate::config::check_name;

/// Largest key file read.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;
/// Most accounts in one key file.
pub const MAX_ACCOUNTS: usize = 64;

/// Why a key file was refused. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: cannot read: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: mode {mode:04o} lets group or others read it; chmod 600 {path}")]
    Mode { path: PathBuf, mode: u32 },
    #[error("{path}: {field}: {message}")]
    Invalid { path: PathBuf, field: String, message: String },
}

/// The loaded accounts (name → signer).
pub struct KeyFile {
    path: PathBuf,
    accounts: BTreeMap<String, PrivateKeySigner>,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let accounts: BTreeMap<&str, Address> = self.accounts.iter().map(|(n, s)| (n.as_str(), s.address())).collect();
        f.debug_struct("KeyFile").field("path", &self.path).field("accounts", &accounts).finish()
    }
}

impl fmt::Display for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} accounts:", self.path.display(), self.accounts.len())?;
        for (n, s) in &self.accounts {
            write!(f, " {n}={}", s.address())?;
        }
        write!(f, ")")
    }
}

impl KeyFile {
    /// Loads and checks the key file.
    pub fn load(path: &Path) -> Result<KeyFile, KeyError> {
        use std::io::Read;
        use std::os::unix::fs::PermissionsExt;
        let io = |e: std::io::Error| KeyError::Io { path: path.to_path_buf(), message: e.to_string() };
        let file = std::fs::File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(KeyError::Io { path: path.to_path_buf(), message: "not a regular file".into() });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Mode { path: path.to_path_buf(), mode });
        }
        let mut text = String::new();
        file.take(MAX_KEY_FILE_BYTES + 1).read_to_string(&mut text).map_err(io)?;
        if text.len() as u64 > MAX_KEY_FILE_BYTES {
            return Err(invalid(path, "file", format!("larger than {MAX_KEY_FILE_BYTES} bytes")));
        }
        Self::parse(path, &text)
    }

    fn parse(path: &Path, text: &str) -> Result<KeyFile, KeyError> {
        let doc: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
            invalid(path, "file", format!("not valid TOML{at}"))
        })?;
        for k in doc.keys() {
            if k != "accounts" {
                return Err(invalid(path, k, "unknown key (only [accounts])".to_string()));
            }
        }
        let Some(table) = doc.get("accounts").and_then(|v| v.as_table()) else {
            return Err(invalid(path, "accounts", "missing table [accounts]".to_string()));
        };
        if table.is_empty() || table.len() > MAX_ACCOUNTS {
            return Err(invalid(path, "accounts", format!("{} accounts; must be 1..={MAX_ACCOUNTS}", table.len())));
        }
        let mut accounts = BTreeMap::new();
        for (name, v) in table {
            check_name(name).map_err(|m| invalid(path, "accounts", format!("an account name {m}")))?;
            let field = format!("accounts.{name}");
            let Some(s) = v.as_str() else { return Err(invalid(path, &field, "must be a string".into())) };
            let key = parse_key(s).map_err(|m| invalid(path, &field, m))?;
            accounts.insert(name.clone(), key);
        }
        Ok(KeyFile { path: path.to_path_buf(), accounts })
    }

    /// The signer of an account name.
    pub fn signer(&self, name: &str) -> Option<&PrivateKeySigner> {
        self.accounts.get(name)
    }

    /// The address of an account name.
    pub fn address(&self, name: &str) -> Option<Address> {
        self.accounts.get(name).map(|s| s.address())
    }

    /// The signer holding an address.
    pub fn signer_for(&self, address: &Address) -> Option<&PrivateKeySigner> {
        self.accounts.values().find(|s| &s.address() == address)
    }

    /// Account names and addresses, sorted by name.
    pub fn accounts(&self) -> impl Iterator<Item = (&str, Address)> + '_ {
        self.accounts.iter().map(|(n, s)| (n.as_str(), s.address()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn invalid(path: &Path, field: &str, message: String) -> KeyError {
    KeyError::Invalid { path: path.to_path_buf(), field: field.to_string(), message }
}

/// `0x` + 64 hex digits, a valid secp256k1 scalar. Errors never echo the text.
fn parse_key(s: &str) -> Result<PrivateKeySigner, String> {
    let Some(hex) = s.strip_prefix("0x") else { return Err("must be 0x + 64 hex digits".into()) };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("must be 0x + 64 hex digits".into());
    }
    let bytes: B256 = s.parse().map_err(|_| "must be 0x + 64 hex digits".to_string())?;
    PrivateKeySigner::from_bytes(&bytes).map_err(|_| "is not a valid secp256k1 private key".to_string())
}
