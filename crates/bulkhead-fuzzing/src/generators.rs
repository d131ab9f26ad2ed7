//! Test-case generators: a [`Script`] for the scripted attacker, from a seed
//! or from a fuzzer's bytes.

/// Opcodes the scripted attacker understands (`strategies/hostile/scripted`).
pub mod op {
    pub const SUBMIT_VALID: u8 = 0;
    pub const SUBMIT_REFUSED: u8 = 2;
    pub const SUBMIT_MALFORMED: u8 = 3;
    pub const SUBMIT_CORRUPT: u8 = 4;
    pub const CANCEL_OWN: u8 = 5;
    pub const CANCEL_GUESS: u8 = 6;
    pub const CANCEL_ALL: u8 = 7;
    pub const TIMER: u8 = 8;
    pub const LOG: u8 = 9;
    pub const POSITION: u8 = 10;
    pub const OPEN_ORDERS: u8 = 11;
    pub const FLOOD: u8 = 12;
    pub const SPIN: u8 = 13;
    pub const FATAL: u8 = 14;
    pub const STOP: u8 = 15;
    /// Every opcode that is not fatal.
    pub const NON_FATAL: [u8; 14] = [
        SUBMIT_VALID,
        SUBMIT_REFUSED,
        SUBMIT_MALFORMED,
        SUBMIT_CORRUPT,
        CANCEL_OWN,
        CANCEL_GUESS,
        CANCEL_ALL,
        TIMER,
        LOG,
        POSITION,
        OPEN_ORDERS,
        FLOOD,
        SPIN,
        STOP,
    ];
}

/// Most opcodes a script carries (the guest reads at most 16 KiB).
pub const MAX_SCRIPT: usize = 16 * 1024;

/// One test case for the scripted attacker: which host calls it makes (the
/// opcode script, read cyclically) and the seed of their arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// Opcodes (each `% 16` in the guest).
    pub ops: Vec<u8>,
    /// Seed of the guest's argument generator (non-zero).
    pub seed: u64,
    /// Operations per market event.
    pub ops_per_event: u32,
    /// Operations per order update, fill or timer delivered to it.
    pub reply_ops: u32,
    /// Whether opcode 14 (bad pointers, traps, a loop, a memory bomb) acts.
    pub fatal: bool,
}

/// SplitMix64: small, well mixed, and the same everywhere.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`; the tiny modulo bias does not matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

impl Script {
    /// A case from `seed`. Each seed draws its own *profile* — a weight per
    /// opcode, a third of them switched off — so that different seeds lean on
    /// different host calls (one floods timers, another malformed records,
    /// another cancels); a quarter of the seeds end their script with a fatal
    /// operation, which the attacker reaches once per pass over the script.
    pub fn generate(seed: u64) -> Script {
        let mut r = SplitMix::new(seed);
        let mut weights = [0u64; 16];
        for &o in &op::NON_FATAL {
            weights[o as usize] = if r.below(3) == 0 { 0 } else { 1 + r.below(8) };
        }
        // STOP ends a callback early: keep it rare so that callbacks do work.
        weights[op::STOP as usize] = weights[op::STOP as usize].min(1);
        if weights.iter().all(|&w| w == 0) {
            weights[op::FLOOD as usize] = 1;
        }
        let total: u64 = weights.iter().sum();
        let len = 32 + r.below(480) as usize;
        let mut ops = Vec::with_capacity(len + 1);
        for _ in 0..len {
            let mut x = r.below(total);
            let mut pick = 0u8;
            for (o, &w) in weights.iter().enumerate() {
                if x < w {
                    pick = o as u8;
                    break;
                }
                x -= w;
            }
            ops.push(pick);
        }
        let fatal = r.below(4) == 0;
        if fatal {
            ops.push(op::FATAL);
        }
        // Log-uniform: 1 to 32 operations per market event.
        let scale = 1 << r.below(6);
        Script {
            ops,
            seed: r.next_u64() | 1,
            ops_per_event: 1 + r.below(scale) as u32,
            reply_ops: r.below(5) as u32,
            fatal,
        }
    }

    /// A case from a fuzzer's bytes: 8 bytes of seed, one byte of operations
    /// per market event, one of replies per update (low 3 bits) and the fatal
    /// flag (bit 7), then the opcodes (at most [`MAX_SCRIPT`]). Short input
    /// is padded with zeros; every input is a valid case.
    pub fn from_fuzz(data: &[u8]) -> Script {
        let mut head = [0u8; 10];
        let n = data.len().min(head.len());
        head[..n].copy_from_slice(&data[..n]);
        let seed = u64::from_le_bytes(head[..8].try_into().unwrap_or([0; 8])) | 1;
        let rest = data.get(10..).unwrap_or(&[]);
        let ops = rest[..rest.len().min(MAX_SCRIPT)].to_vec();
        Script {
            ops,
            seed,
            ops_per_event: 1 + u32::from(head[8] % 64),
            reply_ops: u32::from(head[9] & 7),
            fatal: head[9] & 0x80 != 0,
        }
    }

    /// The `[strategies.config]` lines that hand this case to the guest.
    pub fn config_lines(&self) -> String {
        let hex = hex::encode(&self.ops);
        format!(
            "script = \"{hex}\"\nseed = {}\nops = {}\nreply_ops = {}\nfatal = {}\n",
            // The guest's config parser reads i64: keep the seed in range.
            self.seed >> 1,
            self.ops_per_event,
            self.reply_ops,
            self.fatal
        )
    }

    /// How many of each opcode the script holds (for reports).
    pub fn histogram(&self) -> [u32; 16] {
        let mut h = [0u32; 16];
        for b in &self.ops {
            h[(b % 16) as usize] += 1;
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_varied() {
        assert_eq!(Script::generate(7), Script::generate(7));
        assert_ne!(Script::generate(7), Script::generate(8));
        // Over many seeds every opcode shows up and profiles differ.
        let mut seen = [0u32; 16];
        let mut fatal = 0;
        for s in 0..64 {
            let c = Script::generate(s);
            assert!(c.ops.len() >= 32 && c.ops.len() <= MAX_SCRIPT);
            assert!(c.seed & 1 == 1 && (1..=32).contains(&c.ops_per_event));
            for (o, n) in c.histogram().iter().enumerate() {
                seen[o] += n;
            }
            fatal += u32::from(c.fatal);
            // Fatal only at the very end.
            assert!(c.ops[..c.ops.len() - 1].iter().all(|&o| o != op::FATAL));
        }
        for o in op::NON_FATAL.iter().chain([&op::FATAL]) {
            assert!(seen[*o as usize] > 0, "opcode {o} never generated: {seen:?}");
        }
        assert!((4..40).contains(&fatal), "{fatal}");
    }

    #[test]
    fn fuzz_bytes_always_make_a_case() {
        for data in [&[][..], &[1, 2, 3][..], &[0xFF; 40][..]] {
            let c = Script::from_fuzz(data);
            assert!(c.seed & 1 == 1);
            assert!(c.config_lines().contains("script = \""));
        }
        let c = Script::from_fuzz(&[0xFF; 12]);
        assert!(c.fatal && c.reply_ops == 7 && c.ops == vec![0xFF, 0xFF]);
    }
}
