//! Hostile case (issue 17): **chain-drainer** — tries to move the account's
//! tokens somewhere its policy does not allow, one attack every `every`
//! [20] quotes from `at` [10] on, in this order (or only `attack = NAME`):
//! - `approve_max`: `approve(drainer, 2^256 − 1)` on usdc (unlimited approve to an attacker);
//! - `transfer_foreign`: `transfer(attacker, 1000 USDC)` to a raw foreign address;
//! - `not_allowed`: any call to the `drainer` contract (not in its scope);
//! - `forbidden_selector`: an unknown function on the allowed pool;
//! - `min_out_zero`: a pool swap with `amountOutMin = 0`;
//! - `to_attacker`: a pool swap whose proceeds go to the attacker;
//! - `fee_token`: a swap paying in a fee-on-transfer token (the simulation shows the shortfall);
//! - `reentrant`: a swap paying in a token whose transfer re-enters the pool;
//! - `flood`: `flood` [50] intents in one market event (past the rate limit);
//! - `lying_length`: a raw record that says 5 arguments but carries 3;
//! - `value`: native value sent with an approve.
//!
//! At `init` it approves the pools it may use, as an honest strategy would.
//! `attacker` = a 0x address (40 hex digits) it wants the money sent to.
//! Each refusal comes back as a `ChainRejected` event, which it counts and logs.
#![cfg_attr(target_arch = "wasm32", no_std)]

use bulkhead_sdk::{ChainCall, ChainStatus, ChainUpdate, Config, Ctx, Quote, SEL_APPROVE, SEL_SWAP, SEL_TRANSFER, Strategy, log};

pub const ATTACKS: [&str; 11] = [
    "approve_max",
    "transfer_foreign",
    "not_allowed",
    "forbidden_selector",
    "min_out_zero",
    "to_attacker",
    "fee_token",
    "reentrant",
    "flood",
    "lying_length",
    "value",
];

#[derive(Default)]
pub struct Drainer {
    every: u64,
    at: u64,
    only: Option<usize>,
    flood: u64,
    attacker: [u8; 32],
    quotes: u64,
    next: usize,
    pub refused: u64,
    pub mined: u64,
}

fn hex_nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn address_word(s: &str) -> Option<[u8; 32]> {
    let h = s.strip_prefix("0x")?.as_bytes();
    if h.len() != 40 {
        return None;
    }
    let mut w = [0u8; 32];
    for i in 0..20 {
        w[12 + i] = hex_nibble(h[2 * i])? << 4 | hex_nibble(h[2 * i + 1])?;
    }
    Some(w)
}

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "bulkhead")]
unsafe extern "C" {
    #[link_name = "chain_call"]
    fn raw_chain_call(ptr: i32, len: i32) -> i64;
}

/// A record whose `nargs` claims 5 words while only 3 follow.
fn lying_length(ctx: &mut Ctx) -> i64 {
    let c = ChainCall::new("pool", SEL_SWAP).contract("usdc").uint(1).uint(1).tag(0xbad);
    let mut b = [0u8; bulkhead_sdk::abi::CHAIN_INTENT_MAX_SIZE];
    let n = c.intent().encode_into(&mut b);
    b[36] = 5;
    #[cfg(target_arch = "wasm32")]
    {
        let _ = ctx;
        // SAFETY: the import reads `n` bytes at `ptr`, which we own.
        unsafe { raw_chain_call(b.as_ptr() as usize as i32, n as i32) }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (ctx, n);
        -1
    }
}

impl Drainer {
    fn attack(&mut self, ctx: &mut Ctx, which: usize) {
        let name = ATTACKS[which];
        let max = [0xffu8; 32];
        let r = match name {
            "approve_max" => ctx.chain_call(&ChainCall::new("usdc", SEL_APPROVE).contract("drainer").word(max).tag(1)),
            "transfer_foreign" => ctx.chain_call(
                &ChainCall::new("usdc", SEL_TRANSFER).word(self.attacker).uint(1_000_000_000).tag(2),
            ),
            "not_allowed" => ctx.chain_call(&ChainCall::new("drainer", [0x12, 0x34, 0x56, 0x78]).self_account().tag(3)),
            "forbidden_selector" => ctx.chain_call(&ChainCall::new("pool", [0xde, 0xad, 0xbe, 0xef]).tag(4)),
            "min_out_zero" => ctx.swap("pool", "usdc", 1_000_000_000, 0, 60),
            "to_attacker" => ctx.chain_call(
                &ChainCall::new("pool", SEL_SWAP)
                    .contract("usdc")
                    .uint(1_000_000_000)
                    .uint(1)
                    .word(self.attacker)
                    .deadline_in(60)
                    .tag(6),
            ),
            "fee_token" => ctx.swap("fee_pool", "fee", 1_000_000_000_000_000_000, 1, 60),
            "reentrant" => ctx.swap("rent_pool", "rent", 1_000_000_000_000_000_000, 1, 60),
            "flood" => {
                let mut last = Ok(0);
                for _ in 0..self.flood {
                    last = ctx.approve("usdc", "pool", 1);
                }
                last
            }
            "lying_length" => {
                let r = lying_length(ctx);
                if r > 0 { Ok(r as u64) } else { Err(bulkhead_sdk::Reason::ChainMalformed) }
            }
            _ => ctx.chain_call(&ChainCall::new("usdc", SEL_APPROVE).contract("pool").uint(1).value(1_000_000_000_000_000_000).tag(11)),
        };
        match r {
            Ok(id) => log!(ctx, "chain-drainer: {} taken as intent {}", name, id),
            Err(reason) => {
                self.refused += 1;
                log!(ctx, "chain-drainer: {} refused at once: {}", name, reason.name());
            }
        }
    }
}

impl Strategy for Drainer {
    fn init(&mut self, ctx: &mut Ctx, config: &[u8]) {
        let c = Config::parse(config);
        self.every = c.get_u64("every").unwrap_or(20).max(1);
        self.at = c.get_u64("at").unwrap_or(10);
        self.flood = c.get_u64("flood").unwrap_or(50).min(1_000);
        self.only = c.get_str("attack").and_then(|a| ATTACKS.iter().position(|x| *x == a));
        // Looks honest at first: approves the pools it is allowed to use.
        for (token, pool, amount) in [("usdc", "pool", 2_000_000_000u128), ("fee", "fee_pool", 2_000_000_000_000_000_000), ("rent", "rent_pool", 2_000_000_000_000_000_000)] {
            if let Err(r) = ctx.approve(token, pool, amount) {
                log!(ctx, "chain-drainer: approve {} refused: {}", token, r.name());
            }
        }
        match c.get_str("attacker").and_then(address_word) {
            Some(w) => self.attacker = w,
            None => {
                log!(ctx, "chain-drainer: `attacker` must be a 0x address");
                ctx.fail(1);
            }
        }
    }

    fn on_quote(&mut self, ctx: &mut Ctx, _q: &Quote) {
        self.quotes += 1;
        if self.quotes < self.at || (self.quotes - self.at) % self.every != 0 {
            return;
        }
        match self.only {
            Some(i) => {
                if self.next == 0 {
                    self.next = 1;
                    self.attack(ctx, i);
                }
            }
            None if self.next < ATTACKS.len() => {
                let i = self.next;
                self.next += 1;
                self.attack(ctx, i);
            }
            None => {}
        }
    }

    fn on_chain(&mut self, ctx: &mut Ctx, u: &ChainUpdate) {
        match u.status {
            ChainStatus::Rejected | ChainStatus::Reverted => {
                self.refused += 1;
                log!(ctx, "chain-drainer: intent {} {:?} reason {}", u.intent, u.status, u.reason_code);
            }
            ChainStatus::Mined => {
                self.mined += 1;
                log!(ctx, "chain-drainer: intent {} MINED", u.intent);
            }
            ChainStatus::Simulated => {}
        }
    }
}

bulkhead_sdk::export_strategy!(Drainer);
