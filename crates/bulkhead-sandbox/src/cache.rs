//! Precompiled-module cache.
//!
//! A compiled module is stored as one file `<key>.cwasm` in the cache
//! directory, where `key = blake3("bulkhead-module-cache-v1" ‖ wasmtime
//! major version ‖ engine compatibility fingerprint ‖ blake3(module bytes))`.
//! The engine fingerprint is wasmtime's own
//! [`Engine::precompile_compatibility_hash`] (target, compiler flags, ISA
//! flags, tunables — memory reservation, guard size, … — wasm features and
//! wasmtime's module version string), so a runtime with a different
//! configuration never even looks at another's artifact.
//!
//! File layout: `b"BHCWASM1"` (8 bytes) ‖ blake3(artifact) (32 bytes) ‖
//! artifact (the bytes of [`Module::serialize`]). The checksum sits *beside*
//! the artifact in the same file so that the write is a single atomic
//! `rename` (a crash can never leave an artifact with a stale checksum).
//!
//! ## Why calling the `unsafe` [`Module::deserialize`] is sound here
//! `Module::deserialize` trusts its input to be the output of
//! `Module::serialize` of a compatible engine: the bytes contain machine code
//! that will be executed. We only ever pass it bytes that
//! 1. were read whole into memory (no mmap of a file someone could change
//!    under us between the check and the use),
//! 2. carry our magic header and whose blake3 matches the checksum stored
//!    with them (a torn, truncated or bit-flipped file is rejected and
//!    rebuilt, never loaded),
//! 3. live under a key that includes the engine fingerprint and the module's
//!    own hash (an artifact is never used for another module or engine;
//!    wasmtime additionally checks its own version/config header and we treat
//!    its refusal as a miss), and
//! 4. come from a directory this process created or that is not writable by
//!    group or others (checked at open; otherwise the cache is disabled):
//!    files in it were written by us. The checksum is not a MAC — whoever can
//!    write the cache directory can run native code in this process, exactly
//!    like whoever can replace the `bulkhead` binary. Keep the directory
//!    owned by the service user, mode 0700.
//!
//! A cache problem (unreadable directory, failed write, corrupt entry) is
//! logged and the module is compiled from source: the cache can make loading
//! faster, never make it fail or change what is loaded.

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::{Engine, Module};

const MAGIC: &[u8; 8] = b"BHCWASM1";
const HEADER: usize = 8 + 32;
/// Part of the cache key (wasmtime's own fingerprint also carries its version).
const WASMTIME_MAJOR: &str = "wasmtime-48";

/// Counters of cache outcomes since the runtime was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Modules deserialized from a verified cache entry.
    pub hits: u64,
    /// Modules compiled because no entry existed.
    pub misses: u64,
    /// Entries found but refused (bad magic, checksum mismatch, wasmtime
    /// refused the artifact) and rebuilt.
    pub rejected: u64,
    /// Artifacts written.
    pub writes: u64,
    /// Writes that failed (logged; the load itself still succeeded).
    pub write_errors: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
    writes: AtomicU64,
    write_errors: AtomicU64,
}

pub(crate) struct ModuleCache {
    dir: PathBuf,
    /// blake3 of the fixed part of the key (version + engine fingerprint).
    engine_key: [u8; 32],
    counters: Counters,
}

/// Feeds `std::hash::Hash` output into blake3.
struct Blake3Hasher<'a>(&'a mut blake3::Hasher);

impl Hasher for Blake3Hasher<'_> {
    fn finish(&self) -> u64 {
        // Never used: we read the blake3 digest instead.
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Outcome of a cache lookup.
pub(crate) enum Lookup {
    Hit(Module),
    Miss,
}

impl ModuleCache {
    /// Open (creating if needed) the cache directory. `None` (logged) if the
    /// directory cannot be used safely.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Option<ModuleCache> {
        if let Err(e) = std::fs::create_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "module cache disabled: cannot create directory");
            return None;
        }
        if !dir_is_private(dir) {
            return None;
        }
        let mut h = blake3::Hasher::new();
        h.update(b"bulkhead-module-cache-v1\0");
        h.update(WASMTIME_MAJOR.as_bytes());
        h.update(b"\0");
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut Blake3Hasher(&mut h));
        Some(ModuleCache {
            dir: dir.to_path_buf(),
            engine_key: *h.finalize().as_bytes(),
            counters: Counters::default(),
        })
    }

    pub(crate) fn path_for(&self, module_hash: &[u8; 32]) -> PathBuf {
        let mut h = blake3::Hasher::new();
        h.update(&self.engine_key);
        h.update(module_hash);
        self.dir.join(format!("{}.cwasm", h.finalize().to_hex()))
    }

    /// Look up a verified artifact for `module_hash`.
    pub(crate) fn get(&self, engine: &Engine, module_hash: &[u8; 32]) -> Lookup {
        let path = self.path_for(module_hash);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                return Lookup::Miss;
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "module cache entry unreadable; recompiling");
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                return Lookup::Miss;
            }
        };
        let reject = |why: &str| {
            tracing::warn!(path = %path.display(), why, "module cache entry refused; recompiling");
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
            Lookup::Miss
        };
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return reject("bad header");
        }
        let artifact = &bytes[HEADER..];
        if blake3::hash(artifact).as_bytes() != &bytes[8..HEADER] {
            return reject("checksum mismatch");
        }
        // SAFETY: see the module docs: `artifact` is an in-memory copy (no
        // mmap), checksummed, written by this cache for this engine
        // fingerprint and module hash, in a directory only we can write.
        match unsafe { Module::deserialize(engine, artifact) } {
            Ok(m) => {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(m)
            }
            Err(_) => reject("wasmtime refused the artifact"),
        }
    }

    /// Store `module`'s artifact (atomically: temp file + rename). Errors are
    /// logged and counted, never returned.
    pub(crate) fn put(&self, module_hash: &[u8; 32], module: &Module) {
        let path = self.path_for(module_hash);
        let r = (|| -> Result<(), String> {
            let artifact = module.serialize().map_err(|e| format!("{e:#}"))?;
            // Unique per write: two threads of one process storing the same
            // module must not share (and interleave into) one temp file.
            static WRITE_SEQ: AtomicU64 = AtomicU64::new(0);
            let seq = WRITE_SEQ.fetch_add(1, Ordering::Relaxed);
            let tmp = path.with_extension(format!("tmp{}-{seq}", std::process::id()));
            let mut f = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
            f.write_all(MAGIC)
                .and_then(|_| f.write_all(blake3::hash(&artifact).as_bytes()))
                .and_then(|_| f.write_all(&artifact))
                .and_then(|_| f.sync_all())
                .map_err(|e| e.to_string())?;
            drop(f);
            std::fs::rename(&tmp, &path).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                e.to_string()
            })
        })();
        match r {
            Ok(()) => {
                self.counters.writes.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "could not write module cache entry");
                self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let c = &self.counters;
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The cache directory must not be writable by group or others (we tighten a
/// directory we own to 0700; one we cannot tighten disables the cache).
#[cfg(unix)]
fn dir_is_private(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => m.permissions().mode(),
        Ok(_) => {
            tracing::warn!(dir = %dir.display(), "module cache disabled: not a directory");
            return false;
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "module cache disabled");
            return false;
        }
    };
    if mode & 0o077 == 0 {
        return true;
    }
    match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), error = %e,
                "module cache disabled: directory is accessible to group/others and cannot be made private");
            false
        }
    }
}

#[cfg(not(unix))]
fn dir_is_private(_dir: &Path) -> bool {
    true
}
