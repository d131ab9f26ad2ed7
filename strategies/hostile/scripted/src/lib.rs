//! Hostile case: **scripted attacker** — the guest of the generative hostile
//! test (issue 13, item 6; `crates/bulkhead-fuzzing/tests/it/generative.rs` and
//! `fuzz/fuzz_targets/hostile_script.rs`).
//!
//! It does nothing of its own: it interprets a *script* of opcodes handed in
//! through its config; each opcode decides which host call to make next, and
//! a xorshift generator seeded by `seed` supplies the arguments. The
//! generator (`bulkhead-fuzzing`, driven by a seeded test or by the fuzzer)
//! writes script and seed; the host is the system under test and the oracle
//! checks the run. The script is read cyclically, so a short script drives a
//! long run.
//!
//! ## Config keys (defaults in brackets)
//! - `script` — hex string of opcodes, at most 16 KiB once decoded (longer is
//!   cut). Empty or absent: opcodes come from the generator too.
//! - `seed` [1] — seed of the argument generator.
//! - `instrument` [0] — the instrument its well-formed orders trade.
//! - `at` [1] — 1-based market event from which it acts on market events.
//! - `ops` [16] — operations per market event (at most 4 096).
//! - `reply_ops` [2] — operations per order update, fill or timer it is told
//!   about (the self-amplification path: rejects and acks come back as events).
//! - `fatal` [false] — allow the operations that end a strategy (bad
//!   pointers, traps, loops, memory bombs); otherwise they are no-ops.
//!
//! ## Operations (opcode = byte % 16)
//! 0–1 a well-formed post-only limit 7–9.9 % away from the mid (accepted until
//! risk's rate and position limits bite); 2 an order risk must refuse (market,
//! IOC, FOK, huge quantity, price outside the collar, zero price, unknown
//! instrument, reduce-only); 3 a malformed order record (random bytes, random
//! length); 4 a well-formed record with one byte overwritten; 5 cancel one of
//! its own ids; 6 cancel a guessed id; 7 cancel all (any, its instrument, an
//! unknown one); 8 a timer (past, now, soon, far, u64::MAX); 9 a log line of
//! up to 4 KiB at any level; 10 a position query (known and unknown
//! instruments); 11 an open-orders query; 12 a flood: one of ops 0–11 repeated
//! 1–2 048 times (log-uniform); 13 burn fuel; 14 a fatal operation (if `fatal`); 15 stop
//! for this callback.
#![cfg_attr(target_arch = "wasm32", no_std)]

use bulkhead_sdk::{
    Config, Ctx, Fill, OpenOrderRecord, Order, OrderRequest, OrderType, OrderUpdate, Quote, Reason, Side, Strategy,
    TimeInForce,
};

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "bulkhead")]
unsafe extern "C" {
    #[link_name = "submit_order"]
    fn raw_submit_order(ptr: i32, len: i32) -> i64;
    #[link_name = "log"]
    fn raw_log(level: i32, ptr: i32, len: i32) -> i32;
}

/// Submit `bytes` as an order record, whatever they hold.
fn submit_raw(bytes: &[u8]) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the host reads `len` bytes at `ptr` after checking them against
    // our memory; a bad record is the point of the call.
    unsafe {
        raw_submit_order(bytes.as_ptr() as usize as i32, bytes.len() as i32);
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = bytes;
}

const MAX_SCRIPT: usize = 16 * 1024;
const MAX_OPS: u64 = 4096;
const TAG: u64 = 0x5C21;

/// The scripted attacker.
pub struct Scripted {
    script: [u8; MAX_SCRIPT],
    script_len: usize,
    pos: usize,
    rng: u64,
    instrument: u32,
    at: u64,
    ops: u64,
    reply_ops: u64,
    fatal: bool,
    events: u64,
    quote: Option<Quote>,
    /// Ring of its own order ids (to cancel).
    ids: [u64; 64],
    n_ids: usize,
    scratch: [u8; 4096],
    open: [OpenOrderRecord; 256],
    /// Set by op 15: no more operations in this callback.
    stopped: bool,
}

impl Default for Scripted {
    fn default() -> Self {
        Scripted {
            script: [0; MAX_SCRIPT],
            script_len: 0,
            pos: 0,
            rng: 1,
            instrument: 0,
            at: 1,
            ops: 16,
            reply_ops: 2,
            fatal: false,
            events: 0,
            quote: None,
            ids: [0; 64],
            n_ids: 0,
            scratch: [0; 4096],
            open: [bulkhead_sdk::EMPTY_OPEN_ORDER; 256],
            stopped: false,
        }
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Scripted {
    /// An argument byte: always from the seeded generator, so the script
    /// fixes *which* calls are made and the seed their arguments.
    fn byte(&mut self) -> u8 {
        // xorshift64
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 24) as u8
    }

    /// The next opcode: the script's next byte (cyclically), or the generator's.
    fn next_op(&mut self) -> u8 {
        if self.script_len > 0 {
            let b = self.script[self.pos];
            self.pos = (self.pos + 1) % self.script_len;
            b
        } else {
            self.byte()
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }

    fn mid(&self) -> Option<i64> {
        self.quote.and_then(|q| q.mid())
    }

    fn remember(&mut self, id: u64) {
        self.ids[self.n_ids % self.ids.len()] = id;
        self.n_ids += 1;
    }

    fn side(&mut self) -> Side {
        if self.byte() & 1 == 0 { Side::Buy } else { Side::Sell }
    }

    /// A well-formed request (valid field values) near the market.
    fn request(&mut self) -> OrderRequest {
        let mid = self.mid().unwrap_or(650_000);
        let side = self.side();
        let bps = 700 + (self.u16() % 291) as i64; // 7.00 .. 9.90 %
        let off = (mid * bps / 10_000).max(1);
        let price = match side {
            Side::Buy => (mid - off).max(1),
            Side::Sell => mid + off,
        };
        let qty = 1 + (self.byte() % 3) as i64;
        Order::limit(side, self.instrument, price, qty).post_only().tag(TAG).request()
    }

    fn op(&mut self, ctx: &mut Ctx, code: u8) {
        match code % 16 {
            0 | 1 => {
                if self.mid().is_none() {
                    return;
                }
                let req = self.request();
                if let Ok(id) = ctx.submit(&req) {
                    self.remember(id);
                }
            }
            2 => {
                let mut req = self.request();
                match self.byte() % 8 {
                    0 => {
                        req.order_type = OrderType::Market;
                        req.tif = TimeInForce::Ioc;
                    }
                    1 => req.tif = TimeInForce::Ioc,
                    2 => req.tif = TimeInForce::Fok,
                    3 => req.qty = 1 + (self.u64() >> 1) as i64 % 1_000_000_000,
                    4 => req.price = req.price.saturating_mul(3),
                    5 => req.price = 0,
                    6 => req.instrument = 1 + self.byte() as u32,
                    _ => req.reduce_only = true,
                }
                if let Ok(id) = ctx.submit(&req) {
                    self.remember(id);
                }
            }
            3 => {
                let len = (self.byte() % 64) as usize;
                for i in 0..len {
                    self.scratch[i] = self.byte();
                }
                let rec = self.scratch;
                submit_raw(&rec[..len]);
            }
            4 => {
                let mut rec = self.request().encode();
                let at = (self.byte() as usize) % rec.len();
                rec[at] = self.byte();
                submit_raw(&rec);
            }
            5 => {
                if self.n_ids > 0 {
                    let i = self.u16() as usize % self.n_ids.min(self.ids.len());
                    let _ = ctx.cancel(self.ids[i]);
                }
            }
            6 => {
                let id = match self.byte() % 3 {
                    0 => self.byte() as u64,
                    1 => self.u16() as u64,
                    _ => self.u64(),
                };
                let _ = ctx.cancel(id);
            }
            7 => {
                let which = match self.byte() % 3 {
                    0 => None,
                    1 => Some(self.instrument),
                    _ => Some(self.u16() as u32 + 1),
                };
                let _ = ctx.cancel_all(which);
            }
            8 => {
                let now = ctx.now_ns();
                let d = self.u16() as u64 * 1_000_000;
                let at = match self.byte() % 5 {
                    0 => now.saturating_sub(d + 1),
                    1 => now,
                    2 => now.saturating_add(d),
                    3 => now.saturating_add(self.u64() >> 8),
                    _ => u64::MAX,
                };
                let token = self.u64();
                let _ = ctx.set_timer(at, token);
            }
            9 => {
                let shift = self.byte() % 8;
                let len = ((self.u16() as usize) % self.scratch.len()) >> shift;
                for i in 0..len {
                    self.scratch[i] = self.byte();
                }
                let level = self.byte() as i8 as i32;
                #[cfg(target_arch = "wasm32")]
                // SAFETY: a valid pointer and length into our own buffer.
                unsafe {
                    raw_log(level, self.scratch.as_ptr() as usize as i32, len as i32);
                }
                #[cfg(not(target_arch = "wasm32"))]
                ctx.log_bytes(level, &self.scratch[..len]);
            }
            10 => {
                let inst = match self.byte() % 3 {
                    0 => self.instrument,
                    1 => u32::MAX,
                    _ => self.byte() as u32,
                };
                let _ = ctx.try_position(inst);
            }
            11 => {
                let max = (self.u16() as usize) % (self.open.len() + 1);
                let mut open = self.open;
                let n = ctx.open_orders(&mut open[..max]);
                // Remember what it really has open: cancels aimed at live ids.
                for o in open.iter().take(n.min(4)) {
                    self.remember(o.id);
                }
            }
            12 => {
                // Log-uniform sizes: most floods are short, some reach 2 048.
                let shift = self.byte() % 12;
                let count = 1 + ((self.u16() % 2048) >> shift) as u64;
                let sub = self.byte() % 12;
                for _ in 0..count {
                    self.op(ctx, sub);
                }
            }
            13 => {
                let iters = self.byte() as u64 * 1_000;
                let mut n = 0u64;
                for i in 0..iters {
                    n = core::hint::black_box(n.wrapping_add(i));
                }
                core::hint::black_box(n);
            }
            14 => {
                let how = self.byte();
                if self.fatal {
                    fatal(ctx, how);
                }
            }
            _ => self.stopped = true,
        }
    }

    fn run(&mut self, ctx: &mut Ctx, n: u64) {
        self.stopped = false;
        for _ in 0..n {
            if self.stopped {
                break;
            }
            let code = self.next_op();
            self.op(ctx, code);
        }
    }

    fn on_market(&mut self, ctx: &mut Ctx) {
        self.events += 1;
        if self.events >= self.at {
            self.run(ctx, self.ops);
        }
    }
}

/// The operations that end a strategy: bad pointers, traps, a loop, a memory bomb.
fn fatal(ctx: &mut Ctx, how: u8) {
    match how % 5 {
        0 => {
            #[cfg(target_arch = "wasm32")]
            // SAFETY: not safe at all for the host to honour: the host must
            // refuse the pointer (it is past the end of memory).
            unsafe {
                raw_submit_order(-16, 32);
            }
        }
        1 => {
            #[cfg(target_arch = "wasm32")]
            // SAFETY: as above, a length past the end of memory.
            unsafe {
                raw_log(0, 0, i32::MAX);
            }
        }
        2 => unreachable_trap(),
        3 => loop {
            core::hint::black_box(ctx.now_ns());
        },
        _ => {
            #[cfg(target_arch = "wasm32")]
            {
                let _ = core::arch::wasm32::memory_grow(0, 4096);
            }
        }
    }
}

#[cold]
fn unreachable_trap() {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
}

impl Strategy for Scripted {
    fn init(&mut self, _ctx: &mut Ctx, config: &[u8]) {
        let c = Config::parse(config);
        self.instrument = c.get_u64("instrument").and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
        self.at = c.u64_or("at", 1).max(1);
        self.ops = c.u64_or("ops", 16).min(MAX_OPS);
        self.reply_ops = c.u64_or("reply_ops", 2).min(MAX_OPS);
        self.fatal = c.get_bool("fatal").unwrap_or(false);
        self.rng = c.u64_or("seed", 1).max(1);
        if let Some(s) = c.get_str("script") {
            let s = s.as_bytes();
            let mut n = 0;
            for pair in s.chunks_exact(2) {
                if n == MAX_SCRIPT {
                    break;
                }
                if let (Some(h), Some(l)) = (hex(pair[0]), hex(pair[1])) {
                    self.script[n] = h << 4 | l;
                    n += 1;
                }
            }
            self.script_len = n;
        }
    }
    fn on_quote(&mut self, ctx: &mut Ctx, q: &Quote) {
        if q.instrument == self.instrument && q.is_two_sided() {
            self.quote = Some(*q);
        }
        self.on_market(ctx);
    }
    fn on_trade(&mut self, ctx: &mut Ctx, _t: &bulkhead_sdk::Trade) {
        self.on_market(ctx);
    }
    fn on_accepted(&mut self, ctx: &mut Ctx, _o: &OrderUpdate) {
        self.run(ctx, self.reply_ops);
    }
    fn on_rejected(&mut self, ctx: &mut Ctx, _o: &OrderUpdate, _reason: Option<Reason>) {
        self.run(ctx, self.reply_ops);
    }
    fn on_cancelled(&mut self, ctx: &mut Ctx, _o: &OrderUpdate) {
        self.run(ctx, self.reply_ops);
    }
    fn on_fill(&mut self, ctx: &mut Ctx, _f: &Fill) {
        self.run(ctx, self.reply_ops);
    }
    fn on_timer(&mut self, ctx: &mut Ctx, _token: u64) {
        self.run(ctx, self.reply_ops);
    }
}

bulkhead_sdk::export_strategy!(Scripted);
