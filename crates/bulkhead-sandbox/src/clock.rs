//! The clock that times guest calls (the wall-time stats), and which
//! callbacks it times.
//!
//! Two `Instant::now()` reads (vDSO `clock_gettime`) were about a third of an
//! empty guest call, and two `rdtsc` reads still cost 25–40 ns (a KVM
//! guest on AMD EPYC), a third or more of one, so not every `bulkhead_on_events`
//! call is timed: [`CallSampler`] picks about one in
//! [`WALL_SAMPLE_EVERY`] (a pseudo-random gap of 1 to 2 × that many calls,
//! so a strategy whose slow calls recur with a fixed period is still
//! seen), always the first. Instantiation's guest calls are always timed.
//!
//! On x86_64 with an invariant TSC (CPUID
//! `0x8000_0007`:EDX bit 8: constant rate, ticking through sleep states) a
//! call is timed with two `rdtsc` reads instead, converted to nanoseconds
//! with a ratio measured once per process against [`Instant`] (5 ms). Any
//! other CPU or architecture, or a calibration that comes out implausible,
//! uses [`Instant`] as before. Either way the figures are wall time in
//! nanoseconds; only the stats use them (deadlines are the epoch ticker's).

use std::sync::OnceLock;
use std::time::Instant;

/// On average one `bulkhead_on_events` call in this many is timed (see
/// the module docs); a power of two.
pub const WALL_SAMPLE_EVERY: u32 = 16;

/// Chooses the callbacks that are timed: a countdown to the next timed call,
/// reloaded from a xorshift generator (fixed seed: which calls are timed
/// does not depend on anything outside the sandbox).
#[derive(Clone, Debug)]
pub(crate) struct CallSampler {
    countdown: u32,
    state: u64,
}

impl Default for CallSampler {
    fn default() -> Self {
        // The first callback is timed.
        CallSampler { countdown: 1, state: 0x9E37_79B9_7F4A_7C15 }
    }
}

impl CallSampler {
    /// Whether this callback is to be timed.
    #[inline]
    pub(crate) fn take(&mut self) -> bool {
        self.countdown -= 1;
        if self.countdown > 0 {
            return false;
        }
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        // 1 ..= 2 × WALL_SAMPLE_EVERY: a mean gap of WALL_SAMPLE_EVERY + ½.
        self.countdown = 1 + (x >> 32) as u32 % (2 * WALL_SAMPLE_EVERY);
        true
    }
}

/// How long the one-time calibration waits between its two readings.
#[cfg(target_arch = "x86_64")]
const CALIBRATION: std::time::Duration = std::time::Duration::from_millis(5);

/// A source of timestamps for [`CallClock::start`] / [`CallClock::elapsed_ns`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallClock {
    kind: Kind,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// TSC ticks; nanoseconds = ticks × `ns_per_tick_q32` / 2^32.
    #[cfg(target_arch = "x86_64")]
    Tsc { ns_per_tick_q32: u64 },
    /// Nanoseconds since `origin` ([`Instant`]).
    Os { origin: Instant },
}

impl CallClock {
    /// The process-wide clock (calibrated on first use).
    pub(crate) fn get() -> CallClock {
        static CLOCK: OnceLock<CallClock> = OnceLock::new();
        *CLOCK.get_or_init(|| CallClock { kind: calibrate().unwrap_or(Kind::Os { origin: Instant::now() }) })
    }

    /// Whether calls are timed with the TSC (rather than [`Instant`]).
    #[cfg(test)]
    pub(crate) fn is_tsc(&self) -> bool {
        !matches!(self.kind, Kind::Os { .. })
    }

    /// A timestamp to pass to [`CallClock::elapsed_ns`].
    #[inline]
    pub(crate) fn start(&self) -> u64 {
        match self.kind {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `rdtsc` exists on every x86_64 CPU and has no memory
            // effects; `calibrate` chose this kind only with an invariant TSC.
            Kind::Tsc { .. } => unsafe { core::arch::x86_64::_rdtsc() },
            Kind::Os { origin } => saturating_ns(origin.elapsed()),
        }
    }

    /// Nanoseconds since `start` (0 if the clock appears to go backwards).
    #[inline]
    pub(crate) fn elapsed_ns(&self, start: u64) -> u64 {
        let now = self.start();
        let d = now.saturating_sub(start);
        match self.kind {
            #[cfg(target_arch = "x86_64")]
            Kind::Tsc { ns_per_tick_q32 } => {
                u64::try_from((u128::from(d) * u128::from(ns_per_tick_q32)) >> 32).unwrap_or(u64::MAX)
            }
            Kind::Os { .. } => d,
        }
    }
}

fn saturating_ns(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The TSC's rate against [`Instant`], or `None` (no invariant TSC, not
/// x86_64, or a ratio outside 0.05–20 ns per tick).
fn calibrate() -> Option<Kind> {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::__cpuid;
        if __cpuid(0x8000_0000).eax < 0x8000_0007 || __cpuid(0x8000_0007).edx & (1 << 8) == 0 {
            return None;
        }
        let (t0, c0) = paired_reading();
        std::thread::sleep(CALIBRATION);
        let (t1, c1) = paired_reading();
        let ns = saturating_ns(t1.saturating_duration_since(t0));
        let ticks = c1.checked_sub(c0).filter(|&t| t > 0)?;
        let q32 = u64::try_from((u128::from(ns) << 32) / u128::from(ticks)).ok()?;
        // 0.05 to 20 ns per tick: a 50 MHz to 20 GHz counter.
        let plausible = (1u64 << 32) / 20..=(1u64 << 32) * 20;
        if !plausible.contains(&q32) {
            tracing::debug!(ns, ticks, "TSC calibration implausible; guest calls timed with Instant");
            return None;
        }
        tracing::debug!(ns_per_tick = q32 as f64 / (1u64 << 32) as f64, "guest calls timed with the TSC");
        Some(Kind::Tsc { ns_per_tick_q32: q32 })
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// An [`Instant`] and the TSC read as close together as we can: of a few
/// tries, the one whose two TSC reads around the `Instant` are nearest
/// (a preemption between the reads would skew the calibration).
#[cfg(target_arch = "x86_64")]
fn paired_reading() -> (Instant, u64) {
    // SAFETY: see `CallClock::start`; only called once an invariant TSC is known.
    let tsc = || unsafe { core::arch::x86_64::_rdtsc() };
    let mut best: Option<(u64, Instant, u64)> = None;
    for _ in 0..8 {
        let a = tsc();
        let t = Instant::now();
        let b = tsc();
        let width = b.saturating_sub(a);
        if best.is_none_or(|(w, _, _)| width < w) {
            best = Some((width, t, a + width / 2));
        }
    }
    best.map_or_else(|| (Instant::now(), tsc()), |(_, t, c)| (t, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_times_the_first_call_and_about_one_in_n() {
        let mut s = CallSampler::default();
        assert!(s.take(), "the first call is timed");
        let n = 160_000u32;
        let timed = (0..n).filter(|_| s.take()).count() as u32;
        let expected = n / WALL_SAMPLE_EVERY;
        assert!(timed.abs_diff(expected) < expected / 10, "{timed} of {n} timed");
        // No gap is longer than 2 × WALL_SAMPLE_EVERY.
        let mut gap = 0;
        for _ in 0..n {
            gap += 1;
            if s.take() {
                assert!(gap <= 2 * WALL_SAMPLE_EVERY);
                gap = 0;
            }
        }
    }

    #[test]
    fn call_clock_tracks_instant() {
        let clock = CallClock::get();
        let s = clock.start();
        let t = Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let ours = clock.elapsed_ns(s);
        let theirs = saturating_ns(t.elapsed());
        // Within 5 % (plus the reads' own spacing).
        let diff = ours.abs_diff(theirs);
        assert!(diff <= theirs / 20 + 200_000, "call clock {ours} ns, Instant {theirs} ns (tsc: {})", clock.is_tsc());
        assert_eq!(clock.elapsed_ns(u64::MAX), 0, "a clock going backwards reads 0");
    }
}
