//! Journal record kinds and payload layouts written by the engine.
//!
//! The journal stores opaque `(kind, ts_ns, payload)`; this module is the one
//! place that gives them meaning. All integers little-endian; `sid` is the
//! strategy's index in the run config; order ids in records are the
//! strategy-scoped ids the strategy itself sees.

use bulkhead_abi::{EVENT_SIZE, Event, ORDER_REQUEST_SIZE, OrderRequest};

/// `RUN_START`: UTF-8 text: format version, config and policy hashes.
pub const RUN_START: u16 = 1;
/// `MODULE`: sid u32, blake3 hash of the module [32], ed25519 public key of
/// its verified signer [32] (all zero = unsigned: the run does not require
/// signatures, a native strategy, or a hot-deployed module), then the
/// strategy name (UTF-8). Written when a strategy is added and again on every
/// restart or redeploy by an operator. The first [`MODULE_HEAD`] bytes are fixed.
pub const MODULE: u16 = 2;
/// Length of the fixed part of a `MODULE` payload (sid, hash, signer key).
pub const MODULE_HEAD: usize = 4 + 32 + 32;
/// `MARKET`: one 64-byte ABI [`Event`] (trade or quote) as it entered the engine.
pub const MARKET: u16 = 3;
/// `ORDER`: sid u32, order id u64, reason u16, pad u16, limit i64,
/// requested i64, current i64, then the 32-byte ABI [`OrderRequest`].
/// Written before the order can reach the venue (reason 0 = accepted).
pub const ORDER: u16 = 4;
/// `CANCEL`: sid u32, order id u64 (0 = all), reason u16 (0 = passed), instrument i32 (-1 = all).
pub const CANCEL: u16 = 5;
/// `VENUE`: sid u32, then the 64-byte ABI [`Event`] the strategy receives
/// (accepted, rejected, cancelled, fill).
pub const VENUE: u16 = 6;
/// `FAULT`: sid u32, kind length u16, kind (UTF-8), message (UTF-8).
pub const FAULT: u16 = 7;
/// `STATE`: scope u8 (0 strategy, 1 instrument, 2 global), target u32,
/// state u8 (0 active, 1 reducing, 2 halted), cause (UTF-8).
pub const STATE: u16 = 8;
/// `LOG`: sid u32, level i32, bytes the strategy logged.
pub const LOG: u16 = 9;
/// `TIMER`: sid u32, at_ns u64, token u64, result i32.
pub const TIMER: u16 = 10;
/// `INVALID`: sid u32, then the decode error text (UTF-8).
pub const INVALID: u16 = 11;
/// `RUN_END`: UTF-8 text summary (events, orders, fills).
pub const RUN_END: u16 = 12;
/// `NOTICE`: an account event from the venue that is not an order event:
/// sid u32 (u32::MAX = none), notice u8 (1 funding, 2 liquidation,
/// 3 settlement, 4 instrument settled), instrument u32, qty i64, price i64,
/// amount i64 (funding amount, or realised PnL of the close), fee i64.
pub const NOTICE: u16 = 13;
/// `COMMAND`: an operator action, UTF-8 (`halt scope=global actor=ops role=operator`),
/// written before the action takes effect.
pub const COMMAND: u16 = 14;
/// `CONFIG`: a file the run was configured from, verbatim, journalled at
/// the start so the journal alone says what ran: name length u16, name
/// (UTF-8: `run_config`, `firm_policy`, `policy:<strategy>`), the file's bytes.
/// `bulkhead journal replay` rebuilds the run from these.
pub const CONFIG: u16 = 15;

pub fn kind_name(kind: u16) -> &'static str {
    match kind {
        RUN_START => "run_start",
        MODULE => "module",
        MARKET => "market",
        ORDER => "order",
        CANCEL => "cancel",
        VENUE => "venue",
        FAULT => "fault",
        STATE => "state",
        LOG => "log",
        TIMER => "timer",
        INVALID => "invalid",
        RUN_END => "run_end",
        NOTICE => "notice",
        COMMAND => "command",
        CONFIG => "config",
        _ => "unknown",
    }
}

/// Fixed-capacity payload builder (no allocation for the fixed records).
pub struct Payload<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Payload<N> {
    pub fn new() -> Self {
        Payload { buf: [0; N], len: 0 }
    }
    pub fn put(&mut self, bytes: &[u8]) -> &mut Self {
        let n = bytes.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        self
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.put(&[v])
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.put(&v.to_le_bytes())
    }
    pub fn event(&mut self, e: &Event) -> &mut Self {
        self.put(&e.encode())
    }
    pub fn order(&mut self, r: &OrderRequest) -> &mut Self {
        self.put(&r.encode())
    }
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Default for Payload<N> {
    fn default() -> Self {
        Self::new()
    }
}

pub const ORDER_PAYLOAD: usize = 4 + 8 + 2 + 2 + 24 + ORDER_REQUEST_SIZE;
pub const VENUE_PAYLOAD: usize = 4 + EVENT_SIZE;
pub const NOTICE_PAYLOAD: usize = 4 + 1 + 4 + 8 * 4;
