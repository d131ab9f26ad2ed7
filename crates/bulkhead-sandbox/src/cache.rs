//! Precompiled-module cache: a trust boundary.
//!
//! A compiled module is stored as one file `<name>.cwasm` in the cache
//! directory, `name = blake3(engine key ‖ blake3(module bytes))`, where the
//! *engine key* is `blake3("bulkhead-module-cache-v2" ‖ wasmtime major
//! version ‖ Engine::precompile_compatibility_hash)`. Wasmtime's own
//! fingerprint covers the target, compiler and ISA flags, tunables (memory
//! reservation, guards, …), wasm features and wasmtime's exact version.
//!
//! File layout (all in one file, written to a temp file and renamed, so a
//! crash never leaves a half-written entry under its name):
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `BHCWASM2` |
//! | 32 | blake3 of the module bytes it was compiled from |
//! | 32 | engine key it was compiled with |
//! | 32 | MAC = blake3 keyed hash (cache key) of magic ‖ module hash ‖ engine key ‖ artifact |
//! | rest | the artifact ([`Module::serialize`]) |
//!
//! ## Threat model
//! The file name is only a lookup hint. An entry is used only if its header
//! names the exact module bytes (blake3) and engine key being loaded **and**
//! its MAC verifies under the cache key: a 32-byte key from the OS's
//! randomness, created at first use in a file *outside* the cache directory
//! (`<cache_dir>.key` by default), mode 0600, owned by the running user.
//! Strategies have no file system and the HTTP API serves no files, so
//! neither can read it; it is never logged or journalled.
//!
//! Someone who can write the cache directory but cannot read the key can:
//! delete entries or fill the disk (modules are recompiled: slower, same
//! result), and plant anything under any name. They cannot get a byte of
//! their choosing executed: a planted, bit-flipped, truncated or foreign
//! artifact, an artifact of module B under module A's name, an artifact of
//! another engine configuration or wasmtime version, or one MAC'd with
//! another key is refused, counted in [`CacheStats::rejected`] (the run's
//! report shows it) and the module is compiled from its bytes. Entries are
//! opened with `O_NOFOLLOW | O_NONBLOCK` and checked on the open descriptor
//! (fstat): a symlink, FIFO, device, directory, a file of another owner,
//! with several links or larger than [`MAX_ENTRY_BYTES`] is refused without
//! following, blocking, or reading more than `MAX_ENTRY_BYTES + 1` bytes. The
//! most they can do is replay an older entry for the *same* module and
//! engine — the same code.
//!
//! A cache directory that group or others can write, or that another user
//! owns, is not used at all (and not repaired: no chmod); neither is a key
//! file that is not a regular file owned by us with no group/other
//! permissions. The run goes on without the cache and says why
//! ([`crate::SandboxRuntime::cache_refused`]).
//!
//! Whoever can read the key (the service user, root) can forge entries and
//! so run native code inside this process — as can whoever can replace the
//! `bulkhead` binary or write the key. That is the same power as owning the
//! service account; the cache adds no new way in.
//!
//! ## Why calling the `unsafe` [`Module::deserialize`] is sound here
//! It trusts its input to be [`Module::serialize`] output of a compatible
//! engine. We only pass it bytes that were read whole into memory (no mmap
//! a writer could change under us), whose MAC under our key verifies, i.e.
//! that this cache wrote from `Module::serialize` of an engine with the same
//! engine key, for the same module bytes. Wasmtime additionally checks its
//! own header (version, configuration); its refusal is a refused entry.
//!
//! A cache problem never makes loading fail or changes what is loaded: it
//! is logged and counted, and the module is compiled from its bytes.

use std::fs::{File, OpenOptions};
use std::hash::Hasher;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::{Engine, Module};

const MAGIC: &[u8; 8] = b"BHCWASM2";
const HEADER: usize = 8 + 32 + 32 + 32;
/// Part of the engine key (wasmtime's own fingerprint also carries its version).
const WASMTIME_MAJOR: &str = "wasmtime-48";
/// Largest cache entry read or written, bytes (header included). An entry
/// over it is refused after reading at most one byte more; an artifact over
/// it is not stored.
pub const MAX_ENTRY_BYTES: u64 = 64 << 20;
const KEY_LEN: usize = 32;

/// Counters of cache outcomes since the runtime was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Modules deserialized from a verified cache entry.
    pub hits: u64,
    /// Modules compiled because no entry existed.
    pub misses: u64,
    /// Entries found but refused (not a regular file of ours, too large,
    /// wrong header, module or engine, MAC mismatch, wasmtime refused the
    /// artifact) and compiled from the module's bytes instead.
    pub rejected: u64,
    /// Artifacts written.
    pub writes: u64,
    /// Writes that failed or were skipped (logged; the load still succeeded).
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
    mac_key: [u8; KEY_LEN],
    counters: Counters,
    last_refusal: Mutex<Option<String>>,
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

/// Why an entry was not used.
enum Refusal {
    Missing,
    Refused(String),
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Open `path` for reading without following a symlink in its last
/// component and without blocking (a FIFO opens at once and is then refused
/// by the fstat check).
fn open_nofollow(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC).open(path)
}

/// fstat checks shared by entries and the key: a regular file, ours, one
/// link, at most `max` bytes, and none of the `forbidden` mode bits.
fn check_open_file(f: &File, max: u64, forbidden: u32) -> Result<std::fs::Metadata, String> {
    let m = f.metadata().map_err(|e| format!("fstat failed: {e}"))?;
    if !m.file_type().is_file() {
        return Err("not a regular file".to_string());
    }
    if m.uid() != euid() {
        return Err(format!("owned by uid {}, not by this process's uid {}", m.uid(), euid()));
    }
    if m.mode() & forbidden != 0 {
        return Err(format!("mode {:o} gives group/others access", m.mode() & 0o7777));
    }
    if m.nlink() != 1 {
        return Err(format!("has {} hard links", m.nlink()));
    }
    if m.len() > max {
        return Err(format!("{} bytes, over the limit of {max}", m.len()));
    }
    Ok(m)
}

/// Read at most `max + 1` bytes; more than `max` is refused.
fn read_bounded(f: &mut File, max: u64) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    f.take(max + 1).read_to_end(&mut buf).map_err(|e| format!("read failed: {e}"))?;
    if buf.len() as u64 > max {
        return Err(format!("longer than {max} bytes"));
    }
    Ok(buf)
}

/// The directory must exist (created 0700 if missing), be a directory owned
/// by this user, and not be writable by group or others. Never repaired.
fn check_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        return Err(format!("cannot create {}: {e}", dir.display()));
    }
    let m = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !m.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if m.uid() != euid() {
        return Err(format!(
            "directory {} is owned by uid {}, not by this process's uid {}; not used (fix its owner)",
            dir.display(),
            m.uid(),
            euid()
        ));
    }
    if m.mode() & 0o022 != 0 {
        return Err(format!(
            "directory {} is writable by group/others (mode {:o}); not used and not repaired (chmod 700 it)",
            dir.display(),
            m.mode() & 0o7777
        ));
    }
    Ok(())
}

/// `<dir>.key`: a sibling of the directory, never inside it.
fn default_key_path(dir: &Path) -> Result<PathBuf, String> {
    let name =
        dir.file_name().ok_or_else(|| format!("{} has no file name to derive a key file from", dir.display()))?;
    let mut key = name.to_os_string();
    key.push(".key");
    Ok(dir.with_file_name(key))
}

/// Read the key, creating it (atomically: temp file, fsync, hard link) if
/// it does not exist yet.
fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], String> {
    let named = |e: String| format!("key file {}: {e}", path.display());
    match open_nofollow(path) {
        Ok(f) => return read_key(f).map_err(named),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(named("is a symlink".to_string())),
        Err(e) => return Err(named(e.to_string())),
    }
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| named(format!("no OS randomness: {e}")))?;
    let tmp = path.with_extension(format!("key.tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(&key)?;
        f.sync_all()?;
        // Fails if another process created the key meanwhile: use theirs.
        std::fs::hard_link(&tmp, path)
    };
    let r = write();
    let _ = std::fs::remove_file(&tmp);
    match r {
        Ok(()) => {
            tracing::info!(key = %path.display(), "module cache key created");
            let f = open_nofollow(path).map_err(|e| named(e.to_string()))?;
            read_key(f).map_err(named)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let f = open_nofollow(path).map_err(|e| named(e.to_string()))?;
            read_key(f).map_err(named)
        }
        Err(e) => Err(named(format!("cannot create: {e}"))),
    }
}

fn read_key(mut f: File) -> Result<[u8; KEY_LEN], String> {
    check_open_file(&f, KEY_LEN as u64, 0o077)?;
    let bytes = read_bounded(&mut f, KEY_LEN as u64)?;
    bytes.try_into().map_err(|b: Vec<u8>| format!("{} bytes, expected {KEY_LEN}", b.len()))
}

impl ModuleCache {
    /// Open (creating if needed) the cache directory and its key. `Err`
    /// names what was refused; the caller runs without the cache.
    pub(crate) fn open(dir: &Path, key_file: Option<&Path>, engine: &Engine) -> Result<ModuleCache, String> {
        check_dir(dir).map_err(|e| format!("module cache disabled: {e}"))?;
        let key_path = match key_file {
            Some(p) => p.to_path_buf(),
            None => default_key_path(dir).map_err(|e| format!("module cache disabled: {e}"))?,
        };
        let mac_key = load_or_create_key(&key_path).map_err(|e| format!("module cache disabled: {e}"))?;
        let mut h = blake3::Hasher::new();
        h.update(b"bulkhead-module-cache-v2\0");
        h.update(WASMTIME_MAJOR.as_bytes());
        h.update(b"\0");
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut Blake3Hasher(&mut h));
        Ok(ModuleCache {
            dir: dir.to_path_buf(),
            engine_key: *h.finalize().as_bytes(),
            mac_key,
            counters: Counters::default(),
            last_refusal: Mutex::new(None),
        })
    }

    pub(crate) fn path_for(&self, module_hash: &[u8; 32]) -> PathBuf {
        let mut h = blake3::Hasher::new();
        h.update(&self.engine_key);
        h.update(module_hash);
        self.dir.join(format!("{}.cwasm", h.finalize().to_hex()))
    }

    fn mac(&self, module_hash: &[u8; 32], artifact: &[u8]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.mac_key);
        h.update(MAGIC);
        h.update(module_hash);
        h.update(&self.engine_key);
        h.update(artifact);
        h.finalize()
    }

    /// Read and authenticate the entry for `module_hash`; `Ok` holds the
    /// artifact bytes.
    fn read_entry(&self, path: &Path, module_hash: &[u8; 32]) -> Result<Vec<u8>, Refusal> {
        let mut f = match open_nofollow(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Refusal::Missing),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(Refusal::Refused("a symlink".to_string()));
            }
            Err(e) => return Err(Refusal::Refused(format!("cannot open: {e}"))),
        };
        check_open_file(&f, MAX_ENTRY_BYTES, 0o022).map_err(Refusal::Refused)?;
        let mut bytes = read_bounded(&mut f, MAX_ENTRY_BYTES).map_err(Refusal::Refused)?;
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(Refusal::Refused("bad header".to_string()));
        }
        if &bytes[8..40] != module_hash {
            return Err(Refusal::Refused("built from other module bytes".to_string()));
        }
        if bytes[40..72] != self.engine_key {
            return Err(Refusal::Refused("built for another engine configuration".to_string()));
        }
        let stored: [u8; 32] = bytes[72..HEADER].try_into().unwrap_or([0; 32]);
        // blake3::Hash equality is constant-time.
        if self.mac(module_hash, &bytes[HEADER..]) != blake3::Hash::from(stored) {
            return Err(Refusal::Refused("MAC does not verify under this cache's key".to_string()));
        }
        bytes.drain(..HEADER);
        Ok(bytes)
    }

    fn refuse(&self, path: &Path, why: &str) {
        tracing::warn!(path = %path.display(), why, "module cache entry refused; compiling the module");
        self.counters.rejected.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut l) = self.last_refusal.lock() {
            *l = Some(format!("{}: {why}", path.display()));
        }
    }

    /// Look up a verified artifact for `module_hash`.
    pub(crate) fn get(&self, engine: &Engine, module_hash: &[u8; 32]) -> Lookup {
        let path = self.path_for(module_hash);
        let artifact = match self.read_entry(&path, module_hash) {
            Ok(a) => a,
            Err(Refusal::Missing) => {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                return Lookup::Miss;
            }
            Err(Refusal::Refused(why)) => {
                self.refuse(&path, &why);
                return Lookup::Miss;
            }
        };
        // SAFETY: see the module docs: `artifact` is an in-memory copy (no
        // mmap) whose MAC under our key verifies: this cache wrote it from
        // `Module::serialize` for this module and this engine key.
        match unsafe { Module::deserialize(engine, &artifact) } {
            Ok(m) => {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(m)
            }
            Err(e) => {
                self.refuse(&path, &format!("wasmtime refused the artifact: {e:#}"));
                Lookup::Miss
            }
        }
    }

    /// Store `module`'s artifact (atomically: temp file + rename). Errors are
    /// logged and counted, never returned.
    pub(crate) fn put(&self, module_hash: &[u8; 32], module: &Module) {
        let path = self.path_for(module_hash);
        let r = (|| -> Result<(), String> {
            let artifact = module.serialize().map_err(|e| format!("{e:#}"))?;
            if (HEADER + artifact.len()) as u64 > MAX_ENTRY_BYTES {
                return Err(format!(
                    "artifact of {} bytes is over the entry limit of {MAX_ENTRY_BYTES}",
                    artifact.len()
                ));
            }
            // Unique per write: two threads of one process storing the same
            // module must not share (and interleave into) one temp file.
            static WRITE_SEQ: AtomicU64 = AtomicU64::new(0);
            let seq = WRITE_SEQ.fetch_add(1, Ordering::Relaxed);
            let tmp = path.with_extension(format!("tmp{}-{seq}", std::process::id()));
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp)
                .map_err(|e| e.to_string())?;
            let mac = self.mac(module_hash, &artifact);
            let written = f
                .write_all(MAGIC)
                .and_then(|_| f.write_all(module_hash))
                .and_then(|_| f.write_all(&self.engine_key))
                .and_then(|_| f.write_all(mac.as_bytes()))
                .and_then(|_| f.write_all(&artifact))
                .and_then(|_| f.sync_all());
            drop(f);
            written.and_then(|_| std::fs::rename(&tmp, &path)).map_err(|e| {
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

    pub(crate) fn last_refusal(&self) -> Option<String> {
        self.last_refusal.lock().ok().and_then(|l| l.clone())
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}
