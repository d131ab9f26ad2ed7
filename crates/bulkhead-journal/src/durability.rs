//! When appended records reach stable storage: the fsync policy's
//! bookkeeping ([`Durability`]) and, for group commit, the background
//! syncer thread that runs the fsyncs so the appending thread never waits
//! for the disk (issue 15).
//!
//! Under `every:N` and `every:N:Mms` the writer writes its buffer out to
//! the OS (one `write(2)`) when a group is due and hands "fsync this file,
//! then records below `seq` are durable" to the syncer. Groups coalesce: a
//! group that becomes due while an fsync runs waits (not even written out,
//! so the appender never writes into pages being written back) and is
//! committed with everything after it at the first append once that fsync
//! completes. The appender waits only
//! when the syncer is more than [`MAX_GROUPS_IN_FLIGHT`] groups (at least
//! [`MIN_RECORDS_IN_FLIGHT`] records) behind: the bound on what a crash can
//! lose. It also waits at an explicit
//! [`crate::JournalWriter::sync`] (the engine's gate before an operator
//! command takes effect or an order leaves for a venue outside the
//! process), at a segment roll and at the end. `always` stays synchronous:
//! every append is fsynced before it returns. `never` never fsyncs but at
//! the end.
//!
//! A failed fsync is latched by the syncer and returned by the writer's
//! next call as the write error it is (the writer is then poisoned); the
//! durable sequence number does not move past it, so nothing gated on it
//! is released.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::writer::{FsyncPolicy, FsyncStats};

/// How far (in groups of the policy's N records) appends may run ahead of
/// the last completed fsync before the appender waits for the syncer: a
/// crash loses at most this many groups (plus what is still in the write
/// buffer), a slow disk slows the run down instead of growing the loss.
pub const MAX_GROUPS_IN_FLIGHT: u64 = 16;

/// ... but never fewer than this many records: an fsync takes a few
/// milliseconds on a loaded disk, and a bound tighter than what the engine
/// appends meanwhile would put every fsync back on its path.
pub const MIN_RECORDS_IN_FLIGHT: u64 = 65_536;

/// The policy's bookkeeping, owned by the writer.
pub(crate) struct Durability {
    policy: FsyncPolicy,
    /// Appends since the last fsync was requested (EveryN, Group).
    unsynced: u32,
    /// When the oldest not-yet-requested append was made (Group).
    pending_since: Option<Instant>,
    /// Records below this were fsynced (synchronous policies; the syncer
    /// keeps its own).
    durable_seq: u64,
    fsyncs: FsyncStats,
    /// Opt-in fsync wall times, and how many may be kept.
    samples: Option<(Vec<u64>, usize)>,
    samples_dropped: u64,
    /// Group commit's syncer (EveryN and Group only).
    syncer: Option<Syncer>,
}

/// What the writer should do after an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    Nothing,
    /// Write the buffer out and fsync before returning (`always`).
    SyncNow,
    /// Write the buffer out and hand an fsync to the syncer.
    Group,
}

impl Durability {
    pub(crate) fn new(policy: FsyncPolicy, durable_seq: u64) -> io::Result<Self> {
        let syncer = match policy {
            FsyncPolicy::EveryN(_) | FsyncPolicy::Group { .. } => Some(Syncer::start(durable_seq)?),
            FsyncPolicy::Always | FsyncPolicy::Never => None,
        };
        Ok(Durability {
            policy,
            unsynced: 0,
            pending_since: None,
            durable_seq,
            fsyncs: FsyncStats::default(),
            samples: None,
            samples_dropped: 0,
            syncer,
        })
    }

    /// Count one append; what is due now.
    #[inline]
    pub(crate) fn appended(&mut self) -> Due {
        match self.policy {
            FsyncPolicy::Never => Due::Nothing,
            FsyncPolicy::Always => Due::SyncNow,
            FsyncPolicy::EveryN(n) => {
                self.unsynced += 1;
                if self.unsynced >= n { Due::Group } else { Due::Nothing }
            }
            FsyncPolicy::Group { records, millis } => {
                self.unsynced += 1;
                let since = *self.pending_since.get_or_insert_with(Instant::now);
                if self.unsynced >= records || since.elapsed().as_millis() >= u128::from(millis) {
                    Due::Group
                } else {
                    Due::Nothing
                }
            }
        }
    }

    /// A due group may wait while an fsync is running: it will be
    /// committed (together with what follows) at the first append after
    /// that fsync completes, unless the durable prefix is already at the
    /// lag bound. Coalescing here, before the
    /// write-out, keeps the appender from writing into pages the running
    /// fsync is writing back.
    pub(crate) fn may_defer(&self, next_seq: u64) -> bool {
        let Some(s) = &self.syncer else { return false };
        s.shared.busy.load(Ordering::Acquire) && next_seq.saturating_sub(s.durable()) <= self.lag_bound()
    }

    /// How far the durable prefix may trail the appends.
    fn lag_bound(&self) -> u64 {
        let group = match self.policy {
            FsyncPolicy::EveryN(n) | FsyncPolicy::Group { records: n, .. } => u64::from(n),
            _ => 1,
        };
        group.saturating_mul(MAX_GROUPS_IN_FLIGHT).max(MIN_RECORDS_IN_FLIGHT)
    }

    /// Group commit's time bound without an append: is the oldest pending
    /// append `M` ms old? No clock read when nothing is pending.
    pub(crate) fn tick_due(&self) -> bool {
        match (self.policy, self.pending_since) {
            (FsyncPolicy::Group { millis, .. }, Some(since)) => since.elapsed().as_millis() >= u128::from(millis),
            _ => false,
        }
    }

    /// Records below `seq`, already written out to `file`, are to be made
    /// durable by the syncer (without waiting, unless it is more than
    /// [`MAX_GROUPS_IN_FLIGHT`] groups behind). Synchronous policies fsync
    /// here.
    pub(crate) fn request(&mut self, file: &Arc<File>, seq: u64) -> io::Result<()> {
        self.unsynced = 0;
        self.pending_since = None;
        let lag = self.lag_bound();
        match &self.syncer {
            Some(s) => {
                s.request(file, seq)?;
                if seq.saturating_sub(s.durable()) > lag {
                    s.wait(seq - lag)?;
                }
                Ok(())
            }
            None => self.sync_inline(file, seq),
        }
    }

    /// Make records below `seq` (written out to `file`) durable before
    /// returning.
    pub(crate) fn sync(&mut self, file: &Arc<File>, seq: u64) -> io::Result<()> {
        self.unsynced = 0;
        self.pending_since = None;
        match &self.syncer {
            Some(s) => {
                s.request(file, seq)?;
                s.wait(seq)
            }
            None => self.sync_inline(file, seq),
        }
    }

    fn sync_inline(&mut self, file: &File, seq: u64) -> io::Result<()> {
        let t = Instant::now();
        file.sync_data()?;
        let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
        note_fsync(&mut self.fsyncs, &mut self.samples, &mut self.samples_dropped, ns);
        self.durable_seq = self.durable_seq.max(seq);
        Ok(())
    }

    pub(crate) fn durable_seq(&self) -> u64 {
        match &self.syncer {
            Some(s) => s.durable(),
            None => self.durable_seq,
        }
    }

    pub(crate) fn stats(&self) -> FsyncStats {
        match &self.syncer {
            Some(s) => s.lock().stats,
            None => self.fsyncs,
        }
    }

    pub(crate) fn record_samples(&mut self, cap: usize) {
        let buf = Some((Vec::with_capacity(cap.min(4096)), cap));
        match &self.syncer {
            Some(s) => s.lock().samples = buf,
            None => self.samples = buf,
        }
    }

    pub(crate) fn take_samples(&mut self, out: &mut Vec<u64>) -> u64 {
        let (samples, dropped) = match &self.syncer {
            Some(s) => {
                let mut st = s.lock();
                if let Some((buf, _)) = &mut st.samples {
                    out.append(buf);
                }
                return std::mem::take(&mut st.dropped);
            }
            None => (&mut self.samples, &mut self.samples_dropped),
        };
        if let Some((buf, _)) = samples {
            out.append(buf);
        }
        std::mem::take(dropped)
    }
}

fn note_fsync(stats: &mut FsyncStats, samples: &mut Option<(Vec<u64>, usize)>, dropped: &mut u64, ns: u64) {
    stats.count += 1;
    stats.total_ns = stats.total_ns.saturating_add(ns);
    stats.max_ns = stats.max_ns.max(ns);
    if let Some((buf, cap)) = samples {
        if buf.len() < *cap {
            buf.push(ns);
        } else {
            *dropped += 1;
        }
    }
}

/// The background fsync thread of one writer.
struct Syncer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// The syncer waits here for a request (or the stop).
    wake: Condvar,
    /// Waiters for durability wait here.
    done: Condvar,
    /// Records below this are durable.
    durable: AtomicU64,
    /// An fsync is running (or requested and not yet taken).
    busy: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct State {
    /// The newest request: fsync this file, then records below the seq are durable.
    request: Option<(Arc<File>, u64)>,
    /// The first fsync error, until the writer takes it.
    error: Option<io::Error>,
    /// Set once an error was taken: every later call fails too.
    failed: bool,
    stop: bool,
    stats: FsyncStats,
    samples: Option<(Vec<u64>, usize)>,
    dropped: u64,
}

impl Syncer {
    fn start(durable: u64) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
            durable: AtomicU64::new(durable),
            busy: std::sync::atomic::AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("bulkhead-fsync".into()).spawn(move || run(&s))?;
        Ok(Syncer { shared, thread: Some(thread) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn durable(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// The latched error, once (later calls get a generic one).
    fn failure(st: &mut State) -> Option<io::Error> {
        if let Some(e) = st.error.take() {
            st.failed = true;
            return Some(e);
        }
        st.failed.then(|| io::Error::other("an earlier fsync of the journal failed"))
    }

    fn request(&self, file: &Arc<File>, seq: u64) -> io::Result<()> {
        let mut st = self.lock();
        if let Some(e) = Self::failure(&mut st) {
            return Err(e);
        }
        if seq <= self.durable() {
            return Ok(());
        }
        // Coalesce: the newest request covers the older ones (same file:
        // the writer waits for the old segment before it rolls).
        let newest = st.request.as_ref().map_or(0, |r| r.1);
        st.request = Some((Arc::clone(file), seq.max(newest)));
        self.shared.busy.store(true, Ordering::Release);
        drop(st);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Wait until records below `seq` are durable (they must have been
    /// requested).
    fn wait(&self, seq: u64) -> io::Result<()> {
        let mut st = self.lock();
        loop {
            if self.durable() >= seq {
                return Ok(());
            }
            if let Some(e) = Self::failure(&mut st) {
                return Err(e);
            }
            st = self.shared.done.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            // The thread only returns; a panic in it was already reported.
            let _ = t.join();
        }
    }
}

/// The syncer thread: take the newest request, fsync, publish, repeat.
fn run(shared: &Shared) {
    let mut st = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if let Some((file, seq)) = st.request.take() {
            if st.error.is_some() || st.failed {
                continue;
            }
            drop(st);
            let t = Instant::now();
            let res = file.sync_data();
            let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
            st = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            match res {
                Ok(()) => {
                    let State { stats, samples, dropped, .. } = &mut *st;
                    note_fsync(stats, samples, dropped, ns);
                    shared.durable.fetch_max(seq, Ordering::AcqRel);
                }
                Err(e) => st.error = Some(e),
            }
            if st.request.is_none() {
                shared.busy.store(false, Ordering::Release);
            }
            shared.done.notify_all();
            continue;
        }
        if st.stop {
            return;
        }
        st = shared.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
    }
}
