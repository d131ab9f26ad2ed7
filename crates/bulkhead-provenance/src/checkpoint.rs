//! Signed journal checkpoints: an auditor's proof that a journal has not been
//! rewritten (or cut short) since a point in time.
//!
//! A checkpoint is an Ed25519 signature over one journal seal (journal
//! format 2: a BLAKE3 seal closes each block of records), named by the last
//! record it covers. Because each seal covers every record and seal before
//! it, the signature pins the whole journal up to that record: rewriting any
//! of it changes the seal; cutting it off loses the seal. Format
//! (`checkpoint-<seq>.bhc`, text, lowercase hex, exactly these lines; the
//! `record-blake3` line carries the seal):
//! ```text
//! bulkhead-journal-checkpoint-v1
//! record <seq>
//! record-blake3 <64 hex>
//! signer <signer-name>
//! public-key <64 hex>
//! signature <128 hex>
//! ```
//! signed message: `"bulkhead-journal-checkpoint-v1\0" ‖ seq (u64 LE) ‖
//! record hash (32) ‖ len(signer-name) (u32 LE) ‖ signer-name`.

use std::path::Path;

use ed25519_dalek::{Signature, Signer as _};

use crate::{ProvenanceError, SigningKeyFile, TrustedKeys, check_name, fingerprint, from_hex, read_text};

pub const CHECKPOINT_TAG: &str = "bulkhead-journal-checkpoint-v1";
const DOMAIN: &[u8] = b"bulkhead-journal-checkpoint-v1\0";

/// A signed statement "the seal over records up to `seq` of this journal is `record_hash`".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalCheckpoint {
    pub seq: u64,
    /// The journal seal covering records up to `seq`.
    pub record_hash: [u8; 32],
    pub signer: String,
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
}

fn message(seq: u64, hash: &[u8; 32], signer: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 8 + 32 + 4 + signer.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend_from_slice(hash);
    m.extend_from_slice(&(signer.len() as u32).to_le_bytes());
    m.extend_from_slice(signer.as_bytes());
    m
}

impl JournalCheckpoint {
    /// Sign the seal `record_hash` that covers records up to `seq`.
    pub fn sign(seq: u64, record_hash: [u8; 32], key: &SigningKeyFile) -> Self {
        let sig: Signature = key.key.sign(&message(seq, &record_hash, &key.name));
        JournalCheckpoint {
            seq,
            record_hash,
            signer: key.name.clone(),
            public_key: key.key.verifying_key().to_bytes(),
            signature: sig.to_bytes(),
        }
    }

    /// File name under the journal directory.
    pub fn file_name(&self) -> String {
        format!("checkpoint-{:012}.bhc", self.seq)
    }

    pub fn to_text(&self) -> String {
        format!(
            "{CHECKPOINT_TAG}\nrecord {}\nrecord-blake3 {}\nsigner {}\npublic-key {}\nsignature {}\n",
            self.seq,
            hex::encode(self.record_hash),
            self.signer,
            hex::encode(self.public_key),
            hex::encode(self.signature)
        )
    }

    pub fn parse(source_name: &str, text: &str) -> Result<Self, ProvenanceError> {
        let malformed = |line: usize, problem: String| ProvenanceError::Malformed {
            what: "journal checkpoint",
            source_name: source_name.to_string(),
            line,
            problem,
        };
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        let content = lines.iter().rposition(|l| !l.is_empty()).map_or(0, |i| i + 1);
        if content != 6 {
            return Err(malformed(content.clamp(1, 6), format!("expected 6 lines, found {content}")));
        }
        if lines[0] != CHECKPOINT_TAG {
            return Err(malformed(1, format!("expected `{CHECKPOINT_TAG}`")));
        }
        let field = |n: usize, key: &str| -> Result<&str, ProvenanceError> {
            match lines[n].split_once(' ') {
                Some((k, v)) if k == key && !v.is_empty() && !v.contains(' ') => Ok(v),
                _ => Err(malformed(n + 1, format!("expected `{key} <value>`"))),
            }
        };
        let seq = field(1, "record")?.parse::<u64>().map_err(|e| malformed(2, format!("record: {e}")))?;
        let record_hash = from_hex::<32>(field(2, "record-blake3")?).map_err(|p| malformed(3, p))?;
        let signer = field(3, "signer")?.to_string();
        check_name(&signer).map_err(|e| malformed(4, e.to_string()))?;
        let public_key = from_hex::<32>(field(4, "public-key")?).map_err(|p| malformed(5, p))?;
        let signature = from_hex::<64>(field(5, "signature")?).map_err(|p| malformed(6, p))?;
        Ok(JournalCheckpoint { seq, record_hash, signer, public_key, signature })
    }

    pub fn read(path: &Path) -> Result<Self, ProvenanceError> {
        Self::parse(&path.display().to_string(), &read_text(path)?)
    }

    pub fn write(&self, path: &Path) -> Result<(), ProvenanceError> {
        std::fs::write(path, self.to_text()).map_err(|source| ProvenanceError::Io { path: path.to_path_buf(), source })
    }

    /// Check the signature. With `trusted`, the key must be in it and the
    /// name returned is the trusted one; without, the signature is checked
    /// against the key the checkpoint names (proves consistency only: anyone
    /// can sign with a key of their own).
    pub fn verify_signature(&self, trusted: Option<&TrustedKeys>) -> Result<String, ProvenanceError> {
        let what = format!("journal checkpoint of record #{}", self.seq);
        let fp = fingerprint(&self.public_key);
        let bad = || ProvenanceError::BadSignature {
            module: what.clone(),
            signer: self.signer.clone(),
            fingerprint: fp.clone(),
        };
        let (key, name) = match trusted {
            Some(t) => match t.find(&self.public_key) {
                Some(k) => (k.key, k.name.clone()),
                None => {
                    return Err(ProvenanceError::UnknownSigner {
                        module: what,
                        signer: self.signer.clone(),
                        fingerprint: fp,
                    });
                }
            },
            None => {
                (ed25519_dalek::VerifyingKey::from_bytes(&self.public_key).map_err(|_| bad())?, self.signer.clone())
            }
        };
        key.verify_strict(&message(self.seq, &self.record_hash, &self.signer), &Signature::from_bytes(&self.signature))
            .map_err(|_| bad())?;
        Ok(name)
    }
}
