//! # bulkhead-provenance — who built this strategy module?
//!
//! Owns: Ed25519 keys for module signers, detached signatures over a module's
//! blake3 hash, signed journal checkpoints ([`JournalCheckpoint`]), the trusted-keys list, and verification with a distinct error
//! for each way a module can fail it (unsigned, tampered, unknown signer, bad
//! signature, malformed file).
//!
//! Must never: load or run a module, or decide policy. Whether unsigned
//! modules are allowed is the caller's switch; this crate only answers "is
//! this exact module signed by a key we trust, and whose?".
//!
//! ## File formats (text, one record per line, lowercase hex)
//! Secret key (`NAME.key`, written mode 0600) — one line:
//! ```text
//! bulkhead-secret-key-v1 <signer-name> <64 hex: ed25519 seed>
//! ```
//! Public key (`NAME.pub`) — one line; a *trusted keys* file is any number
//! of these lines, plus blank lines and `#` comments:
//! ```text
//! bulkhead-public-key-v1 <signer-name> <64 hex: ed25519 public key>
//! ```
//! Signature (`MODULE.wasm.sig`, beside the module) — exactly these lines:
//! ```text
//! bulkhead-signature-v1
//! module-blake3 <64 hex>
//! signer <signer-name>
//! public-key <64 hex>
//! signature <128 hex>
//! ```
//! The signature is Ed25519 (RFC 8032, verified with `verify_strict`) over
//! the message `"bulkhead-module-signature-v1\0" ‖ blake3(module) (32 bytes)
//! ‖ len(signer-name) as u32 LE ‖ signer-name`. Signer names are 1–64
//! characters of `[A-Za-z0-9._@-]`.
//!
//! The name a verified module is attributed to is the one in the **trusted
//! keys** file for that public key, not the (unauthenticated-until-verified)
//! name in the signature file; both are reported.

#![forbid(unsafe_code)]

mod checkpoint;
pub use checkpoint::{CHECKPOINT_TAG, JournalCheckpoint};

use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

pub const SECRET_KEY_TAG: &str = "bulkhead-secret-key-v1";
pub const PUBLIC_KEY_TAG: &str = "bulkhead-public-key-v1";
pub const SIGNATURE_TAG: &str = "bulkhead-signature-v1";
/// Domain separation prefix of the signed message.
const MESSAGE_DOMAIN: &[u8] = b"bulkhead-module-signature-v1\0";
/// Extension appended to a module path to find its signature.
pub const SIGNATURE_EXTENSION: &str = "sig";
const MAX_NAME: usize = 64;

/// Every way provenance can fail. Each message names the module (where one
/// is involved) and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    #[error("module `{module}` is unsigned: no signature at `{}`", signature_path.display())]
    Unsigned { module: String, signature_path: PathBuf },
    #[error(
        "module `{module}` was tampered with: its blake3 is {found} but the signature by `{signer}` covers {expected}"
    )]
    Tampered { module: String, signer: String, expected: String, found: String },
    #[error("module `{module}` is signed by `{signer}` with key {fingerprint}, which is not in the trusted keys")]
    UnknownSigner { module: String, signer: String, fingerprint: String },
    #[error("module `{module}`: the signature claimed by `{signer}` (key {fingerprint}) does not verify")]
    BadSignature { module: String, signer: String, fingerprint: String },
    #[error("{what} `{source_name}` line {line}: {problem}")]
    Malformed { what: &'static str, source_name: String, line: usize, problem: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("could not read OS randomness for a new key: {message}")]
    Random { message: String },
    #[error("invalid signer name `{name}`: use 1-{MAX_NAME} characters of A-Z a-z 0-9 . _ @ -")]
    BadName { name: String },
}

impl ProvenanceError {
    /// Stable snake_case kind (for journals and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            ProvenanceError::Unsigned { .. } => "unsigned",
            ProvenanceError::Tampered { .. } => "tampered",
            ProvenanceError::UnknownSigner { .. } => "unknown_signer",
            ProvenanceError::BadSignature { .. } => "bad_signature",
            ProvenanceError::Malformed { .. } => "malformed",
            ProvenanceError::Io { .. } => "io",
            ProvenanceError::Random { .. } => "random",
            ProvenanceError::BadName { .. } => "bad_name",
        }
    }
}

// ------------------------------------------------------------------ hex

/// Parse exactly `N` bytes of hex (either case).
pub fn from_hex<const N: usize>(s: &str) -> Result<[u8; N], String> {
    if s.len() != 2 * N {
        return Err(format!("expected {} hex digits, found {}", 2 * N, s.len()));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|e| match e {
        hex::FromHexError::InvalidHexCharacter { index, .. } => format!("not a hex digit near position {index}"),
        other => other.to_string(),
    })?;
    Ok(out)
}

fn check_name(name: &str) -> Result<(), ProvenanceError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if ok { Ok(()) } else { Err(ProvenanceError::BadName { name: name.to_string() }) }
}

/// Short, stable fingerprint of a public key: the first 16 hex digits of
/// blake3(public key).
pub fn fingerprint(public_key: &[u8; 32]) -> String {
    hex::encode(&blake3::hash(public_key).as_bytes()[..8])
}

fn message(module_hash: &[u8; 32], signer: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(MESSAGE_DOMAIN.len() + 32 + 4 + signer.len());
    m.extend_from_slice(MESSAGE_DOMAIN);
    m.extend_from_slice(module_hash);
    m.extend_from_slice(&(signer.len() as u32).to_le_bytes());
    m.extend_from_slice(signer.as_bytes());
    m
}

fn read(path: &Path) -> Result<Vec<u8>, ProvenanceError> {
    std::fs::read(path).map_err(|source| ProvenanceError::Io { path: path.to_path_buf(), source })
}

fn read_text(path: &Path) -> Result<String, ProvenanceError> {
    std::fs::read_to_string(path).map_err(|source| ProvenanceError::Io { path: path.to_path_buf(), source })
}

// ------------------------------------------------------------------ keys

/// A signer's secret key and name. `Debug` never prints the secret; the key
/// bytes are zeroized on drop.
pub struct SigningKeyFile {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for SigningKeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyFile")
            .field("name", &self.name)
            .field("fingerprint", &fingerprint(&self.key.verifying_key().to_bytes()))
            .finish_non_exhaustive()
    }
}

impl SigningKeyFile {
    /// A fresh key from OS randomness (`getrandom`).
    pub fn generate(signer_name: &str) -> Result<Self, ProvenanceError> {
        check_name(signer_name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| ProvenanceError::Random { message: e.to_string() })?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(SigningKeyFile { name: signer_name.to_string(), key })
    }

    /// Build from a known 32-byte seed (tests, HSM export).
    pub fn from_seed(signer_name: &str, seed: &[u8; 32]) -> Result<Self, ProvenanceError> {
        check_name(signer_name)?;
        Ok(SigningKeyFile { name: signer_name.to_string(), key: SigningKey::from_bytes(seed) })
    }

    pub fn signer_name(&self) -> &str {
        &self.name
    }

    /// The matching public key (same name).
    pub fn public_key(&self) -> PublicKey {
        PublicKey { name: self.name.clone(), key: self.key.verifying_key() }
    }

    /// `bulkhead-secret-key-v1 <name> <hex seed>\n`. Contains the secret.
    pub fn to_text(&self) -> String {
        format!("{SECRET_KEY_TAG} {} {}\n", self.name, hex::encode(self.key.to_bytes()))
    }

    /// Parse a secret key file's text. `source_name` is used in errors.
    pub fn parse(source_name: &str, text: &str) -> Result<Self, ProvenanceError> {
        let malformed = |line, problem: String| ProvenanceError::Malformed {
            what: "secret key file",
            source_name: source_name.to_string(),
            line,
            problem,
        };
        let mut found = None;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if found.is_some() {
                return Err(malformed(i + 1, "more than one key".into()));
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() != 3 || f[0] != SECRET_KEY_TAG {
                return Err(malformed(i + 1, format!("expected `{SECRET_KEY_TAG} <name> <64 hex>`")));
            }
            check_name(f[1])?;
            let seed = from_hex::<32>(f[2]).map_err(|p| malformed(i + 1, p))?;
            found = Some(SigningKeyFile::from_seed(f[1], &seed)?);
        }
        found.ok_or_else(|| malformed(0, "no key".into()))
    }

    /// Read a secret key file.
    pub fn read(path: &Path) -> Result<Self, ProvenanceError> {
        Self::parse(&path.display().to_string(), &read_text(path)?)
    }

    /// Write the secret key to a *new* file (never overwrites), mode 0600 on
    /// Unix.
    pub fn write(&self, path: &Path) -> Result<(), ProvenanceError> {
        use std::io::Write;
        let io = |source| ProvenanceError::Io { path: path.to_path_buf(), source };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(io)?;
        f.write_all(self.to_text().as_bytes()).and_then(|_| f.sync_all()).map_err(io)
    }
}

/// A signer's public key and the name it is trusted under.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub name: String,
    key: VerifyingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.name, self.fingerprint())
    }
}

impl PublicKey {
    pub fn from_bytes(name: &str, bytes: &[u8; 32]) -> Result<Self, ProvenanceError> {
        check_name(name)?;
        let key = VerifyingKey::from_bytes(bytes).map_err(|e| ProvenanceError::Malformed {
            what: "public key",
            source_name: name.to_string(),
            line: 0,
            problem: e.to_string(),
        })?;
        Ok(PublicKey { name: name.to_string(), key })
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.key.to_bytes())
    }

    /// `bulkhead-public-key-v1 <name> <hex>\n` — one line of a trusted keys
    /// file.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_KEY_TAG} {} {}\n", self.name, hex::encode(self.key.to_bytes()))
    }

    /// Write to a file (overwrites: public keys are not secret).
    pub fn write(&self, path: &Path) -> Result<(), ProvenanceError> {
        std::fs::write(path, self.to_text()).map_err(|source| ProvenanceError::Io { path: path.to_path_buf(), source })
    }
}

/// The public keys whose signatures are accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: Vec<PublicKey>,
}

impl TrustedKeys {
    pub fn new(keys: Vec<PublicKey>) -> Self {
        TrustedKeys { keys }
    }

    /// Parse a trusted keys file: `bulkhead-public-key-v1 <name> <hex>`
    /// lines, blank lines and `#` comments. An empty file trusts nobody.
    pub fn parse(source_name: &str, text: &str) -> Result<Self, ProvenanceError> {
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = |problem: String| ProvenanceError::Malformed {
                what: "trusted keys file",
                source_name: source_name.to_string(),
                line: i + 1,
                problem,
            };
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() != 3 || f[0] != PUBLIC_KEY_TAG {
                return Err(malformed(format!("expected `{PUBLIC_KEY_TAG} <name> <64 hex>`")));
            }
            let bytes = from_hex::<32>(f[2]).map_err(&malformed)?;
            let key = PublicKey::from_bytes(f[1], &bytes).map_err(|e| malformed(e.to_string()))?;
            keys.push(key);
        }
        Ok(TrustedKeys { keys })
    }

    /// Read a trusted keys file (a single `.pub` file is one).
    pub fn read(path: &Path) -> Result<Self, ProvenanceError> {
        Self::parse(&path.display().to_string(), &read_text(path)?)
    }

    pub fn add(&mut self, key: PublicKey) {
        self.keys.push(key);
    }

    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn find(&self, public_key: &[u8; 32]) -> Option<&PublicKey> {
        self.keys.iter().find(|k| &k.key.to_bytes() == public_key)
    }
}

/// A new signer: secret key file and matching public key.
pub fn keygen(signer_name: &str) -> Result<(SigningKeyFile, PublicKey), ProvenanceError> {
    let sk = SigningKeyFile::generate(signer_name)?;
    let pk = sk.public_key();
    Ok((sk, pk))
}

// ------------------------------------------------------------ signatures

/// A detached module signature (the `MODULE.wasm.sig` file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSignature {
    /// blake3 of the module bytes the signer signed.
    pub module_hash: [u8; 32],
    /// Name the signer claims (authenticated by the signature).
    pub signer: String,
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
}

impl ModuleSignature {
    pub fn to_text(&self) -> String {
        format!(
            "{SIGNATURE_TAG}\nmodule-blake3 {}\nsigner {}\npublic-key {}\nsignature {}\n",
            hex::encode(self.module_hash),
            self.signer,
            hex::encode(self.public_key),
            hex::encode(self.signature)
        )
    }

    /// Parse a signature file's text (strict: the five lines in order;
    /// trailing blank lines allowed).
    pub fn parse(source_name: &str, text: &str) -> Result<Self, ProvenanceError> {
        let malformed = |line: usize, problem: String| ProvenanceError::Malformed {
            what: "signature file",
            source_name: source_name.to_string(),
            line,
            problem,
        };
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        let content = lines.iter().rposition(|l| !l.is_empty()).map_or(0, |i| i + 1);
        if content != 5 {
            return Err(malformed(content.clamp(1, 5), format!("expected 5 lines, found {content}")));
        }
        if lines[0] != SIGNATURE_TAG {
            return Err(malformed(1, format!("expected `{SIGNATURE_TAG}`")));
        }
        let field = |n: usize, key: &str| -> Result<&str, ProvenanceError> {
            match lines[n].split_once(' ') {
                Some((k, v)) if k == key && !v.is_empty() && !v.contains(' ') => Ok(v),
                _ => Err(malformed(n + 1, format!("expected `{key} <value>`"))),
            }
        };
        let module_hash = from_hex::<32>(field(1, "module-blake3")?).map_err(|p| malformed(2, p))?;
        let signer = field(2, "signer")?.to_string();
        check_name(&signer).map_err(|e| malformed(3, e.to_string()))?;
        let public_key = from_hex::<32>(field(3, "public-key")?).map_err(|p| malformed(4, p))?;
        let signature = from_hex::<64>(field(4, "signature")?).map_err(|p| malformed(5, p))?;
        Ok(ModuleSignature { module_hash, signer, public_key, signature })
    }

    /// The signature on one line: the file's five lines joined by spaces
    /// (what an HTTP header can carry, e.g. a hot deploy's
    /// `X-Bulkhead-Signature`; `tr '\n' ' ' < MODULE.wasm.sig` gives the same).
    pub fn to_line(&self) -> String {
        self.to_text().trim_end().replace('\n', " ")
    }

    /// Parse [`to_line`](Self::to_line)'s form: the file's nine words
    /// separated by any whitespace. Errors name the line of the file form
    /// the bad word belongs to.
    pub fn parse_line(source_name: &str, text: &str) -> Result<Self, ProvenanceError> {
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.len() != 9 {
            return Err(ProvenanceError::Malformed {
                what: "signature",
                source_name: source_name.to_string(),
                line: 1,
                problem: format!(
                    "expected 9 words (`{SIGNATURE_TAG} module-blake3 <hex> signer <name> public-key <hex> \
                     signature <hex>`), found {}",
                    words.len()
                ),
            });
        }
        let text = format!(
            "{}\n{} {}\n{} {}\n{} {}\n{} {}\n",
            words[0], words[1], words[2], words[3], words[4], words[5], words[6], words[7], words[8]
        );
        Self::parse(source_name, &text)
    }

    pub fn read(path: &Path) -> Result<Self, ProvenanceError> {
        Self::parse(&path.display().to_string(), &read_text(path)?)
    }

    pub fn write(&self, path: &Path) -> Result<(), ProvenanceError> {
        std::fs::write(path, self.to_text()).map_err(|source| ProvenanceError::Io { path: path.to_path_buf(), source })
    }
}

/// Sign a module: Ed25519 by `key` over blake3(`module_bytes`) and the
/// key's signer name (see the crate docs for the exact message).
pub fn sign_module(module_bytes: &[u8], key: &SigningKeyFile) -> ModuleSignature {
    let module_hash = *blake3::hash(module_bytes).as_bytes();
    let sig: Signature = key.key.sign(&message(&module_hash, &key.name));
    ModuleSignature {
        module_hash,
        signer: key.name.clone(),
        public_key: key.key.verifying_key().to_bytes(),
        signature: sig.to_bytes(),
    }
}

/// The identity a verified module is attributed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// Name from the trusted keys file (what to journal and show).
    pub name: String,
    /// Name inside the signature file (equal to `name` unless the trusted
    /// keys file calls the key something else).
    pub claimed_name: String,
    pub public_key: [u8; 32],
    /// [`fingerprint`] of the public key.
    pub fingerprint: String,
    /// blake3 of the verified module bytes.
    pub module_hash: [u8; 32],
}

/// Verify `module_bytes` (called `module` in errors) against its signature.
///
/// Checks, in order: a signature exists (`None` → [`ProvenanceError::Unsigned`]
/// with `signature_path` as given), the module's blake3 equals the signed
/// hash (→ `Tampered`), the key is trusted (→ `UnknownSigner`), and the
/// Ed25519 signature verifies strictly (→ `BadSignature`).
pub fn verify_module(
    module: &str,
    module_bytes: &[u8],
    signature: Option<&ModuleSignature>,
    trusted: &TrustedKeys,
) -> Result<Signer, ProvenanceError> {
    let Some(sig) = signature else {
        return Err(ProvenanceError::Unsigned {
            module: module.to_string(),
            signature_path: signature_path(Path::new(module)),
        });
    };
    let found = *blake3::hash(module_bytes).as_bytes();
    if found != sig.module_hash {
        return Err(ProvenanceError::Tampered {
            module: module.to_string(),
            signer: sig.signer.clone(),
            expected: hex::encode(sig.module_hash),
            found: hex::encode(found),
        });
    }
    let fp = fingerprint(&sig.public_key);
    let Some(trusted_key) = trusted.find(&sig.public_key) else {
        return Err(ProvenanceError::UnknownSigner {
            module: module.to_string(),
            signer: sig.signer.clone(),
            fingerprint: fp,
        });
    };
    let bad = || ProvenanceError::BadSignature {
        module: module.to_string(),
        signer: sig.signer.clone(),
        fingerprint: fp.clone(),
    };
    let signature = Signature::from_bytes(&sig.signature);
    trusted_key.key.verify_strict(&message(&sig.module_hash, &sig.signer), &signature).map_err(|_| bad())?;
    Ok(Signer {
        name: trusted_key.name.clone(),
        claimed_name: sig.signer.clone(),
        public_key: sig.public_key,
        fingerprint: fp,
        module_hash: found,
    })
}

/// `MODULE.wasm` → `MODULE.wasm.sig`.
pub fn signature_path(module_path: &Path) -> PathBuf {
    let mut s = module_path.as_os_str().to_os_string();
    s.push(".");
    s.push(SIGNATURE_EXTENSION);
    PathBuf::from(s)
}

/// Read a module file and its `.sig` beside it and verify. Returns the
/// module bytes that were verified (load exactly these, not the file again)
/// and the signer. A missing `.sig` is [`ProvenanceError::Unsigned`].
pub fn verify_module_file(module_path: &Path, trusted: &TrustedKeys) -> Result<(Vec<u8>, Signer), ProvenanceError> {
    let bytes = read(module_path)?;
    let sig_path = signature_path(module_path);
    let name = module_path.display().to_string();
    let sig = match std::fs::read_to_string(&sig_path) {
        Ok(text) => ModuleSignature::parse(&sig_path.display().to_string(), &text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ProvenanceError::Unsigned { module: name, signature_path: sig_path });
        }
        Err(source) => return Err(ProvenanceError::Io { path: sig_path, source }),
    };
    let signer = verify_module(&name, &bytes, Some(&sig), trusted)?;
    Ok((bytes, signer))
}

/// Sign a module file and write `MODULE.wasm.sig` beside it. Returns the
/// signature path.
pub fn sign_module_file(module_path: &Path, key: &SigningKeyFile) -> Result<PathBuf, ProvenanceError> {
    let bytes = read(module_path)?;
    let sig = sign_module(&bytes, key);
    let path = signature_path(module_path);
    sig.write(&path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex::encode(b), "0001abff");
        assert_eq!(from_hex::<4>("0001ABff"), Ok(b));
        assert!(from_hex::<4>("0001abf").is_err());
        assert!(from_hex::<4>("0001abfg").is_err());
        assert!(from_hex::<2>("é1").is_err());
    }

    #[test]
    fn names_are_restricted() {
        assert!(check_name("desk-1@acme.example").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
    }
}
