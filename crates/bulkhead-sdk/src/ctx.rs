//! [`Ctx`]: the safe, typed face of the host calls, plus the [`Order`] builder.

use bulkhead_abi::{
    HostApi, LOG_INFO, OpenOrderRecord, OrderRequest, OrderType, PositionRecord, Reason, ResultCode, Side, TimeInForce,
};

/// An order id assigned by the host (always > 0, scoped to this strategy).
pub type OrderId = u64;

/// A placeholder record for sizing the slice passed to [`Ctx::open_orders`].
pub const EMPTY_OPEN_ORDER: OpenOrderRecord =
    OpenOrderRecord { id: 0, tag: 0, instrument: 0, side: Side::Buy, price: 0, remaining_qty: 0 };

/// What a strategy can do while handling one callback.
pub struct Ctx<'a> {
    host: &'a mut dyn HostApi,
    now_ns: u64,
    status: i32,
}

fn code_to_result(r: i32) -> Result<(), ResultCode> {
    match r {
        0 => Ok(()),
        r => Err(ResultCode::from_i32(r.saturating_abs()).unwrap_or(ResultCode::InvalidRecord)),
    }
}

impl<'a> Ctx<'a> {
    /// Wrap a host for one callback at event time `now_ns`.
    pub fn new(host: &'a mut dyn HostApi, now_ns: u64) -> Ctx<'a> {
        Ctx { host, now_ns, status: 0 }
    }

    /// Time of the event being handled (ns of event time; there is no other clock).
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Make the current export return `code` (non-zero) to the host, e.g. from
    /// `init` on an unusable config. Hosts treat a non-zero result as a fault.
    pub fn fail(&mut self, code: i32) {
        self.status = code;
    }

    pub(crate) fn status(&self) -> i32 {
        self.status
    }

    pub(crate) fn set_now(&mut self, now_ns: u64) {
        self.now_ns = now_ns;
    }

    /// Submit an order. `Ok(id)` means the host took it (an accept, reject or
    /// fill event follows); `Err(reason)` means it was refused synchronously
    /// (pre-trade risk or validation).
    pub fn submit(&mut self, req: &OrderRequest) -> Result<OrderId, Reason> {
        let r = self.host.submit_order(req);
        if r > 0 {
            Ok(r as u64)
        } else {
            let code = u16::try_from(r.unsigned_abs()).unwrap_or(u16::MAX);
            Err(Reason::from_code(code).unwrap_or(Reason::InvalidOrder))
        }
    }

    /// Submit an [`Order`] built with the builder.
    pub fn place(&mut self, order: Order) -> Result<OrderId, Reason> {
        self.submit(&order.request())
    }

    /// Limit buy with the given time in force.
    pub fn buy_limit(&mut self, instrument: u32, price: i64, qty: i64, tif: TimeInForce) -> Result<OrderId, Reason> {
        self.place(Order::limit(Side::Buy, instrument, price, qty).tif(tif))
    }

    /// Limit sell with the given time in force.
    pub fn sell_limit(&mut self, instrument: u32, price: i64, qty: i64, tif: TimeInForce) -> Result<OrderId, Reason> {
        self.place(Order::limit(Side::Sell, instrument, price, qty).tif(tif))
    }

    /// Market buy (IOC).
    pub fn buy_market(&mut self, instrument: u32, qty: i64) -> Result<OrderId, Reason> {
        self.place(Order::market(Side::Buy, instrument, qty))
    }

    /// Market sell (IOC).
    pub fn sell_market(&mut self, instrument: u32, qty: i64) -> Result<OrderId, Reason> {
        self.place(Order::market(Side::Sell, instrument, qty))
    }

    /// Post-only limit buy (rests as maker or is rejected).
    pub fn post_only_buy(&mut self, instrument: u32, price: i64, qty: i64) -> Result<OrderId, Reason> {
        self.buy_limit(instrument, price, qty, TimeInForce::PostOnly)
    }

    /// Post-only limit sell (rests as maker or is rejected).
    pub fn post_only_sell(&mut self, instrument: u32, price: i64, qty: i64) -> Result<OrderId, Reason> {
        self.sell_limit(instrument, price, qty, TimeInForce::PostOnly)
    }

    /// Request a cancel. `Ok` means requested; an `on_cancelled` (or a fill) follows.
    pub fn cancel(&mut self, id: OrderId) -> Result<(), ResultCode> {
        code_to_result(self.host.cancel_order(id))
    }

    /// Cancel every open order (`None`) or those of one instrument. Returns the
    /// number of cancels requested.
    pub fn cancel_all(&mut self, instrument: Option<u32>) -> Result<u32, ResultCode> {
        let r = self.host.cancel_all(instrument);
        if r >= 0 { Ok(r as u32) } else { code_to_result(r).map(|_| 0) }
    }

    /// Our position in `instrument` (all zero if the host refuses, e.g. an
    /// unknown instrument; use [`Ctx::try_position`] to see why).
    pub fn position(&mut self, instrument: u32) -> PositionRecord {
        self.try_position(instrument).unwrap_or_default()
    }

    /// Our position in `instrument`, or the host's result code.
    pub fn try_position(&mut self, instrument: u32) -> Result<PositionRecord, ResultCode> {
        let mut p = PositionRecord::default();
        code_to_result(self.host.position(instrument, &mut p)).map(|_| p)
    }

    /// Fill `out` with our open orders; returns the total number open (the
    /// first `min(total, out.len())` entries of `out` are written; on wasm32 at
    /// most 256 per call).
    pub fn open_orders(&mut self, out: &mut [OpenOrderRecord]) -> usize {
        let r = self.host.open_orders(out);
        if r < 0 { 0 } else { r as usize }
    }

    /// Ask for [`crate::Strategy::on_timer`] with `token` at event time `at_ns`.
    pub fn set_timer(&mut self, at_ns: u64, token: u64) -> Result<(), ResultCode> {
        code_to_result(self.host.set_timer(at_ns, token))
    }

    /// Log a message at [`LOG_INFO`]. See also the [`crate::log!`] macro.
    pub fn log(&mut self, msg: &str) {
        self.log_bytes(LOG_INFO, msg.as_bytes());
    }

    /// Log raw bytes at a level (`LOG_ERROR` … `LOG_DEBUG`). Log volume is
    /// metered by the host; the result is ignored.
    pub fn log_bytes(&mut self, level: i32, msg: &[u8]) {
        let _ = self.host.log(level, msg);
    }
}

/// Order builder: `Order::limit(Side::Buy, 0, px, 5).post_only().reduce_only().tag(7)`.
/// Defaults: limit orders GTC, market orders IOC, not reduce-only, tag 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Order(OrderRequest);

impl Order {
    /// A GTC limit order.
    pub fn limit(side: Side, instrument: u32, price: i64, qty: i64) -> Order {
        Order(OrderRequest {
            instrument,
            side,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            reduce_only: false,
            price,
            qty,
            tag: 0,
        })
    }
    /// An IOC market order.
    pub fn market(side: Side, instrument: u32, qty: i64) -> Order {
        Order(OrderRequest {
            instrument,
            side,
            order_type: OrderType::Market,
            tif: TimeInForce::Ioc,
            reduce_only: false,
            price: 0,
            qty,
            tag: 0,
        })
    }
    /// Set the time in force.
    pub fn tif(mut self, tif: TimeInForce) -> Order {
        self.0.tif = tif;
        self
    }
    /// Post only (rest as maker or be rejected).
    pub fn post_only(self) -> Order {
        self.tif(TimeInForce::PostOnly)
    }
    /// Immediate or cancel.
    pub fn ioc(self) -> Order {
        self.tif(TimeInForce::Ioc)
    }
    /// Fill or kill.
    pub fn fok(self) -> Order {
        self.tif(TimeInForce::Fok)
    }
    /// Only ever reduce the position.
    pub fn reduce_only(mut self) -> Order {
        self.0.reduce_only = true;
        self
    }
    /// Opaque tag echoed in every event about this order.
    pub fn tag(mut self, tag: u64) -> Order {
        self.0.tag = tag;
        self
    }
    /// The wire request.
    pub fn request(self) -> OrderRequest {
        self.0
    }
}

impl From<Order> for OrderRequest {
    fn from(o: Order) -> OrderRequest {
        o.0
    }
}

/// Fixed 256-byte stack buffer implementing `core::fmt::Write`; silently
/// truncates (on a char boundary). Used by [`crate::log!`].
pub struct LogBuf {
    buf: [u8; LogBuf::CAP],
    len: usize,
}

impl LogBuf {
    /// Capacity in bytes.
    pub const CAP: usize = 256;
    /// An empty buffer.
    #[inline]
    pub const fn new() -> LogBuf {
        LogBuf { buf: [0; LogBuf::CAP], len: 0 }
    }
    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Default for LogBuf {
    fn default() -> Self {
        LogBuf::new()
    }
}

impl core::fmt::Write for LogBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = LogBuf::CAP - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Builder of a smart-contract intent ([`Ctx::chain_call`]): a configured
/// contract by name, a function selector, up to 8 static argument words.
/// Addresses are never needed: [`ChainCall::self_account`] and
/// [`ChainCall::contract`] let the host fill them in.
#[derive(Clone, Copy, Debug)]
pub struct ChainCall {
    intent: bulkhead_abi::ChainIntent,
}

/// `swap(address,uint256,uint256,address,uint256)` of a constant-product pool.
pub const SEL_SWAP: [u8; 4] = [0xac, 0xf0, 0xae, 0x03];
/// ERC-20 `approve(address,uint256)`.
pub const SEL_APPROVE: [u8; 4] = [0x09, 0x5e, 0xa7, 0xb3];
/// ERC-20 `transfer(address,uint256)`.
pub const SEL_TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];

fn word_u128(v: u128) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[16..].copy_from_slice(&v.to_be_bytes());
    w
}

impl ChainCall {
    /// Call `selector` on the contract the run config names `contract`
    /// (longer than 32 bytes is truncated, and will be refused by name).
    pub fn new(contract: &str, selector: [u8; 4]) -> ChainCall {
        let mut name = [0u8; bulkhead_abi::CHAIN_NAME_LEN];
        let n = contract.len().min(bulkhead_abi::CHAIN_NAME_LEN);
        name[..n].copy_from_slice(&contract.as_bytes()[..n]);
        ChainCall {
            intent: bulkhead_abi::ChainIntent {
                contract: name,
                selector,
                nargs: 0,
                arg_kinds: [bulkhead_abi::ArgKind::Word; bulkhead_abi::CHAIN_MAX_ARGS],
                value: 0,
                tag: 0,
                args: [[0u8; 32]; bulkhead_abi::CHAIN_MAX_ARGS],
            },
        }
    }

    fn push(mut self, kind: bulkhead_abi::ArgKind, w: [u8; 32]) -> ChainCall {
        let i = self.intent.nargs as usize;
        if i < bulkhead_abi::CHAIN_MAX_ARGS {
            self.intent.arg_kinds[i] = kind;
            self.intent.args[i] = w;
        }
        // A ninth argument makes the record invalid: the host refuses it by name.
        self.intent.nargs = self.intent.nargs.saturating_add(1);
        self
    }

    /// A raw 32-byte ABI word.
    pub fn word(self, w: [u8; 32]) -> ChainCall {
        self.push(bulkhead_abi::ArgKind::Word, w)
    }
    /// An unsigned integer argument.
    pub fn uint(self, v: u128) -> ChainCall {
        self.word(word_u128(v))
    }
    /// Our own account's address (the host fills it in).
    pub fn self_account(self) -> ChainCall {
        self.push(bulkhead_abi::ArgKind::SelfAccount, [0u8; 32])
    }
    /// The address of a configured contract, by name (the host resolves it).
    pub fn contract(self, name: &str) -> ChainCall {
        let mut w = [0u8; 32];
        let n = name.len().min(32);
        w[..n].copy_from_slice(&name.as_bytes()[..n]);
        self.push(bulkhead_abi::ArgKind::Contract, w)
    }
    /// A deadline `secs` after the chain's latest block (the host fills it in).
    pub fn deadline_in(self, secs: u64) -> ChainCall {
        self.push(bulkhead_abi::ArgKind::DeadlineIn, word_u128(secs as u128))
    }
    /// Native value to send (wei).
    pub fn value(mut self, wei: u128) -> ChainCall {
        self.intent.value = wei;
        self
    }
    /// Tag echoed in every chain event about this intent.
    pub fn tag(mut self, tag: u64) -> ChainCall {
        self.intent.tag = tag;
        self
    }
    /// The wire record.
    pub fn intent(&self) -> &bulkhead_abi::ChainIntent {
        &self.intent
    }
}

impl Ctx<'_> {
    /// State a smart-contract intent. `Ok(id)`: the host took it (a
    /// `ChainRejected`, or `ChainSimulated` then `ChainMined` / `ChainReverted`,
    /// follows in [`crate::Strategy::on_chain`]); `Err(reason)`: refused now.
    pub fn chain_call(&mut self, call: &ChainCall) -> Result<u64, Reason> {
        let r = self.host.chain_call(call.intent());
        if r > 0 {
            Ok(r as u64)
        } else {
            let code = u16::try_from(r.unsigned_abs()).unwrap_or(u16::MAX);
            Err(Reason::from_code(code).unwrap_or(Reason::ChainMalformed))
        }
    }

    /// Swap `amount_in` of the token named `token_in` on the pool named
    /// `pool`, for at least `min_out`, proceeds to our own account, with a
    /// deadline `deadline_s` after the chain's latest block.
    pub fn swap(
        &mut self,
        pool: &str,
        token_in: &str,
        amount_in: u128,
        min_out: u128,
        deadline_s: u64,
    ) -> Result<u64, Reason> {
        let c = ChainCall::new(pool, SEL_SWAP)
            .contract(token_in)
            .uint(amount_in)
            .uint(min_out)
            .self_account()
            .deadline_in(deadline_s);
        self.chain_call(&c)
    }

    /// Approve the configured contract `spender` to move `amount` of `token`.
    pub fn approve(&mut self, token: &str, spender: &str, amount: u128) -> Result<u64, Reason> {
        self.chain_call(&ChainCall::new(token, SEL_APPROVE).contract(spender).uint(amount))
    }
}
