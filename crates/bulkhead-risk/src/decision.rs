//! The outcome of a pre-trade check: an [`Approved`] order (only this crate
//! makes one) or a refusal ([`Decision`]); [`Outcome`] is the plain record
//! of either, as journalled and observed.

use bulkhead_abi::{OrderRequest, OrderType, Reason, Side, TimeInForce};
use bulkhead_model::{Decimal, HalfTicks, Instrument, Ticks, format_money};

/// `instrument` value of a decision that concerns no single instrument.
pub const NO_INSTRUMENT: u32 = u32::MAX;

/// Format a duration in ns as milliseconds, e.g. `1.5 ms`.
pub(crate) fn fmt_ms(ns: i64) -> String {
    let (ms, rem) = (ns / 1_000_000, (ns % 1_000_000).abs());
    if rem == 0 { format!("{ms} ms") } else { format!("{ms}.{} ms", format!("{rem:06}").trim_end_matches('0')) }
}

/// An order risk approved and reserved ([`crate::RiskEngine::check_and_open`]):
/// the only thing a venue accepts (`bulkhead_venue::SimVenue::submit`).
///
/// Only this crate can make one: the fields are private and there is no
/// public constructor, no `Default` and no `Clone`, so an approval is used
/// once and every order a venue sees passed every control with exactly the
/// instrument, side, type, time in force, price and quantity it was checked
/// with. It names the strategy (the venue's opaque account) and the
/// engine-assigned order id the reservation was made under.
///
/// Outside this crate an approval cannot be written down:
/// ```compile_fail,E0451
/// # use bulkhead_abi::OrderRequest;
/// fn forge(order: OrderRequest) -> bulkhead_risk::Approved {
///     bulkhead_risk::Approved { strategy: 0, order_id: 1, order }
/// }
/// ```
/// nor copied to be used twice:
/// ```compile_fail,E0599
/// fn twice(a: &bulkhead_risk::Approved) -> bulkhead_risk::Approved {
///     a.clone()
/// }
/// ```
/// and a refusal cannot be made into an accept:
/// ```compile_fail,E0616
/// fn accept(mut d: bulkhead_risk::Decision) {
///     d.reason = bulkhead_risk::Reason::Accepted;
/// }
/// ```
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an approval not sent to a venue leaves the order open in risk until it is closed"]
pub struct Approved {
    strategy: u32,
    order_id: u64,
    order: OrderRequest,
}

impl Approved {
    pub(crate) const fn new(strategy: u32, order_id: u64, order: OrderRequest) -> Approved {
        Approved { strategy, order_id, order }
    }

    /// The strategy the order was checked for (the venue account).
    pub fn strategy(&self) -> u32 {
        self.strategy
    }

    /// The order id the reservation was made under.
    pub fn order_id(&self) -> u64 {
        self.order_id
    }

    /// The order exactly as checked.
    pub fn order(&self) -> &OrderRequest {
        &self.order
    }

    /// The journal / observer record of an accept: `ACCEPTED`, zeros,
    /// [`NO_INSTRUMENT`].
    pub fn outcome(&self) -> Outcome {
        Outcome { reason: Reason::Accepted, limit: 0, requested: 0, current: 0, instrument: NO_INSTRUMENT }
    }
}

/// A refusal: why a check failed, with the numbers (see [`Outcome`] for the
/// units per reason). Plain `Copy` data so the check path never allocates;
/// [`Decision::message`] builds the human text on demand. Only this crate
/// makes one and its reason is never `ACCEPTED`; nothing turns it into an
/// approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    reason: Reason,
    limit: i64,
    requested: i64,
    current: i64,
    instrument: u32,
}

impl Decision {
    pub(crate) const fn reject(reason: Reason, instrument: u32, limit: i64, requested: i64, current: i64) -> Decision {
        assert!(!matches!(reason, Reason::Accepted), "a refusal needs a reason");
        Decision { reason, limit, requested, current, instrument }
    }

    /// R3's refusal: `price` is more than `bps` from `reference`. The
    /// record's `current` is the reference in half-ticks (clamped to `i64`).
    pub(crate) fn collar(instrument: u32, bps: i64, price: Ticks, reference: HalfTicks) -> Decision {
        Decision::reject(Reason::PriceCollar, instrument, bps, price.get(), reference.saturating_i64())
    }

    pub fn reason(&self) -> Reason {
        self.reason
    }
    pub fn limit(&self) -> i64 {
        self.limit
    }
    pub fn requested(&self) -> i64 {
        self.requested
    }
    pub fn current(&self) -> i64 {
        self.current
    }
    /// Instrument the refusal is about, or [`NO_INSTRUMENT`].
    pub fn instrument(&self) -> u32 {
        self.instrument
    }
    /// See [`Outcome::collar_reference`].
    pub fn collar_reference(&self) -> Option<HalfTicks> {
        self.outcome().collar_reference()
    }

    /// The journal / observer record of this refusal.
    pub fn outcome(&self) -> Outcome {
        Outcome {
            reason: self.reason,
            limit: self.limit,
            requested: self.requested,
            current: self.current,
            instrument: self.instrument,
        }
    }

    /// See [`Outcome::message`].
    pub fn message(&self, instruments: &[Instrument]) -> String {
        self.outcome().message(instruments)
    }
}

/// What a check decided, as the journal's `ORDER` / `CANCEL` records and the
/// observer feed carry it: `ACCEPTED` with zeros, or a refusal's numbers.
/// Plain data with public fields so a journal reader can rebuild it; it
/// authorises nothing (a venue takes only an [`Approved`]).
///
/// Units of `limit` / `requested` / `current` per reason:
/// | reason | limit | requested | current |
/// |---|---|---|---|
/// | `Accepted` | 0 | 0 | 0 |
/// | R1 instrument / side / type / tif | 0 | the refused value (instrument id, or the ABI enum code) | 0 |
/// | `MaxOrderQty` | lots | order lots | 0 |
/// | `MaxOrderNotional` | money | order notional, money | 0 |
/// | `PriceCollar` | bps | limit price, ticks | reference, **half-ticks** (2 × ticks: a mid can fall between ticks) |
/// | `NoReferencePrice` | 0 | 0 | 0 |
/// | `MaxPosition` | lots | worst-case abs position after the order, lots | before the order |
/// | `MaxGrossNotional` / `MaxNetNotional` | money | worst case after the order | before the order |
/// | `MaxOpenOrders` | count | open orders after the order | open orders now |
/// | `OrderRateThrottle` / `MessageRateThrottle` | per second | 1 | whole tokens left (0) |
/// | R11 halted | 0 | 0 | 0 |
/// | `ReducingOnly` | abs position, lots | order lots + same-side open lots | signed position, lots |
/// | `FirmOrderRateThrottle` / `FirmMessageRateThrottle` | firm per second | 1 | 0 |
/// | `DuplicateOrder` | window, ns | age of the earlier identical order, ns | 0 |
/// | `SelfTradePrevented` | number of resting orders crossed | order price, ticks (0 = market) | best crossed resting price, ticks |
/// | `InitialMargin` | capital, money | worst-case margin after, money | before |
/// | `FirmMaxPosition` | lots | firm worst-case abs position after | before |
/// | `FirmGrossNotional` / `FirmNetNotional` | money | firm worst case after | before |
/// | `StaleReference` | max age, ns | age of the reference, ns | 0 |
/// | `PriceJump` | max jump, bps | observed jump, bps | cooldown left, ns |
/// | `MaxPortfolioDelta` | delta-notional, money | worst case after | before |
/// | `MaxPortfolioVega` | money per vol point | worst case after | before |
/// | `MaxExpiryNotional` | money | worst-case underlying notional of the expiry after | before |
/// | `NoGreeks` | 0 | 0 | 0 (no vol for the option `instrument`) |
///
/// Money is in 1e-8 units of the quote currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub reason: Reason,
    pub limit: i64,
    pub requested: i64,
    pub current: i64,
    /// Instrument the decision is about, or [`NO_INSTRUMENT`].
    pub instrument: u32,
}

/// The record of a check's result: `Ok` = accepted.
impl<T> From<&Result<T, Decision>> for Outcome {
    fn from(r: &Result<T, Decision>) -> Outcome {
        match r {
            Ok(_) => {
                Outcome { reason: Reason::Accepted, limit: 0, requested: 0, current: 0, instrument: NO_INSTRUMENT }
            }
            Err(d) => d.outcome(),
        }
    }
}

impl Outcome {
    #[inline]
    pub fn accepted(&self) -> bool {
        self.reason == Reason::Accepted
    }

    /// A `PriceCollar` refusal's reference price: its `current`, which is in
    /// half-ticks (a mid can fall between two ticks). `None` for any other
    /// reason.
    pub fn collar_reference(&self) -> Option<HalfTicks> {
        (self.reason == Reason::PriceCollar).then(|| HalfTicks::new(i128::from(self.current)))
    }

    /// Human-readable text with the numbers in decimal units, e.g.
    /// `R2_MAX_ORDER_QTY: order qty 0.6 exceeds limit 0.5 (BTC-USDT-PERP)`.
    /// `instruments` is the engine's universe (looked up by id).
    #[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
    pub fn message(&self, instruments: &[Instrument]) -> String {
        let inst = instruments.iter().find(|i| i.id == self.instrument);
        let sym = inst.map_or_else(|| format!("instrument #{}", self.instrument), |i| i.symbol.clone());
        let qty = |l: i64| inst.map_or_else(|| format!("{l} lots"), |i| i.format_qty(l));
        let px = |t: i64| inst.map_or_else(|| format!("{t} ticks"), |i| i.format_price(t));
        let half_px = |h: HalfTicks| {
            inst.map_or_else(
                || format!("{h} half-ticks"),
                |i| {
                    let half =
                        Decimal { mantissa: i.tick_size.mantissa.saturating_mul(5), scale: i.tick_size.scale + 1 };
                    Decimal::from_units(h.saturating_i64(), half).to_string()
                },
            )
        };
        let name = self.reason.name();
        let (l, r, c) = (self.limit, self.requested, self.current);
        match self.reason {
            Reason::Accepted => name.to_string(),
            Reason::InstrumentNotAllowed => {
                let s =
                    instruments.iter().find(|i| i.id as i64 == r).map_or_else(|| format!("#{r}"), |i| i.symbol.clone());
                format!("{name}: instrument {s} is not allowed by the policy")
            }
            Reason::SideNotAllowed => {
                let s = u8::try_from(r).ok().and_then(Side::from_u8).map_or("?", Side::name);
                format!("{name}: side {s} is not allowed ({sym})")
            }
            Reason::OrderTypeNotAllowed => {
                let s = u8::try_from(r).ok().and_then(OrderType::from_u8).map_or("?", OrderType::name);
                format!("{name}: order type {s} is not allowed ({sym})")
            }
            Reason::TimeInForceNotAllowed => {
                let s = u8::try_from(r).ok().and_then(TimeInForce::from_u8).map_or("?", TimeInForce::name);
                format!("{name}: time in force {s} is not allowed ({sym})")
            }
            Reason::MaxOrderQty => format!("{name}: order qty {} exceeds limit {} ({sym})", qty(r), qty(l)),
            Reason::MaxOrderNotional => {
                format!("{name}: order notional {} exceeds limit {} ({sym})", format_money(r), format_money(l))
            }
            Reason::PriceCollar => {
                let reference = self.collar_reference().unwrap_or_default();
                format!(
                    "{name}: limit price {} is more than {l} bps from reference {} ({sym})",
                    px(r),
                    half_px(reference)
                )
            }
            Reason::NoReferencePrice => format!("{name}: no reference price yet for {sym}"),
            Reason::MaxPosition => {
                format!("{name}: worst-case position {} would exceed limit {} (now {}) ({sym})", qty(r), qty(l), qty(c))
            }
            Reason::MaxGrossNotional => format!(
                "{name}: worst-case gross notional {} would exceed limit {} (now {})",
                format_money(r),
                format_money(l),
                format_money(c)
            ),
            Reason::MaxNetNotional => format!(
                "{name}: worst-case net notional {} would exceed limit {} (now {})",
                format_money(r),
                format_money(l),
                format_money(c)
            ),
            Reason::MaxOpenOrders => format!("{name}: {r} open orders would exceed limit {l}"),
            Reason::OrderRateThrottle => format!("{name}: more than {l} orders per second"),
            Reason::MessageRateThrottle => format!("{name}: more than {l} messages per second"),
            Reason::StrategyHalted => format!("{name}: strategy is halted"),
            Reason::InstrumentHalted => format!("{name}: {sym} is halted"),
            Reason::GlobalHalted => format!("{name}: all trading is halted"),
            Reason::ReducingOnly => format!(
                "{name}: only orders that reduce the position are accepted; position {}, order plus same-side open {} ({sym})",
                qty(c),
                qty(r)
            ),
            Reason::FirmOrderRateThrottle => format!("{name}: firm-wide, more than {l} orders per second"),
            Reason::FirmMessageRateThrottle => format!("{name}: firm-wide, more than {l} messages per second"),
            Reason::DuplicateOrder => format!(
                "{name}: same instrument, side, type, price and qty as an order {} ago (window {}) ({sym})",
                fmt_ms(r),
                fmt_ms(l)
            ),
            Reason::SelfTradePrevented => format!(
                "{name}: order at {} would trade with {l} resting order(s) of the firm, best at {} ({sym})",
                if r == 0 { "market".to_string() } else { px(r) },
                px(c)
            ),
            Reason::InitialMargin => format!(
                "{name}: worst-case initial margin {} would exceed capital {} (now {})",
                format_money(r),
                format_money(l),
                format_money(c)
            ),
            Reason::FirmMaxPosition => format!(
                "{name}: firm worst-case position {} would exceed limit {} (now {}) ({sym})",
                qty(r),
                qty(l),
                qty(c)
            ),
            Reason::FirmGrossNotional => format!(
                "{name}: firm worst-case gross notional {} would exceed limit {} (now {})",
                format_money(r),
                format_money(l),
                format_money(c)
            ),
            Reason::FirmNetNotional => format!(
                "{name}: firm worst-case net notional {} would exceed limit {} (now {})",
                format_money(r),
                format_money(l),
                format_money(c)
            ),
            Reason::StaleReference => {
                format!("{name}: reference price is {} old, limit {} ({sym})", fmt_ms(r), fmt_ms(l))
            }
            Reason::PriceJump => format!(
                "{name}: reference moved {r} bps in one update (limit {l} bps); new risk blocked for another {} ({sym})",
                fmt_ms(c)
            ),
            Reason::MaxPortfolioDelta => format!(
                "{name}: worst-case portfolio delta-notional {} would exceed limit {} (now {})",
                format_money(r),
                format_money(l),
                format_money(c)
            ),
            Reason::MaxPortfolioVega => format!(
                "{name}: worst-case portfolio vega {} would exceed limit {} (now {}) per vol point",
                format_money(r),
                format_money(l),
                format_money(c)
            ),
            Reason::MaxExpiryNotional => format!(
                "{name}: worst-case notional for this expiry {} would exceed limit {} (now {}) ({sym})",
                format_money(r),
                format_money(l),
                format_money(c)
            ),
            Reason::NoGreeks => format!("{name}: no volatility / greeks available for {sym}"),
            other => format!("{}: code {}", other.name(), other.code()),
        }
    }
}
