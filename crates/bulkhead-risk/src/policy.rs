//! Policy files: one TOML file per strategy, validated and resolved to
//! integers (lots, money units, instrument ids) at load.

use std::collections::BTreeMap;

use bulkhead_model::{Decimal, DecimalError, Instrument, Lots, MONEY_DECIMALS, Money, OrderType, Side, TimeInForce};
use serde::Deserialize;

/// Which price a limit order is collared against and exposure is valued at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollarReference {
    /// (best bid + best ask) / 2 of the last valid quote.
    Mid,
    /// Price of the last market trade.
    Last,
    /// The venue's mark price (mid, index + basis, the data's mark, Black-76
    /// for options: see `bulkhead-venue`), handed in by the engine with
    /// `RiskEngine::set_mark`; while the venue has no mark, the mid. R13
    /// staleness and jumps are judged on the quotes.
    Mark,
}

impl CollarReference {
    pub const fn name(self) -> &'static str {
        match self {
            CollarReference::Mid => "mid",
            CollarReference::Last => "last",
            CollarReference::Mark => "mark",
        }
    }
}

/// Per-instrument limits of one policy, in integer units of that instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrumentLimits {
    /// Instrument id (as in [`Instrument::id`]).
    pub instrument: u32,
    /// R2: max quantity of one order, lots.
    pub max_order_qty: Lots,
    /// R2: max notional of one order, money units (1e-8 quote).
    pub max_order_notional: Money,
    /// R4: max absolute worst-case position, lots.
    pub max_position: Lots,
    /// R14: max summed fill quantity (both sides) within `mmp_window_ns`, lots.
    pub mmp_qty: Option<Lots>,
    /// R14: max |signed fill quantity| (delta) within `mmp_window_ns`, lots.
    pub mmp_delta: Option<Lots>,
    /// R14: max summed |vega| of fills within `mmp_window_ns`, money per vol
    /// point (options; linear instruments have vega 0).
    pub mmp_vega: Option<Money>,
}

/// R14 market-maker protection over a group of instruments (Deribit's MMP is
/// per index / currency pair): fills of any instrument of the group count
/// together. Quantities are in units of the underlying at 8 decimals
/// (`"0.5"` = 0.5 BTC = 50 000 000): a fill of `n` lots counts
/// `n × lot_size × multiplier` (rounded up to 1e-8), and its delta is that
/// times the option's Black-76 delta (linear instruments: delta 1), rounded
/// to 1e-8. Vega is money per vol point (1e-8 quote), `|n| ×` the per-lot
/// vega R9 uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MmpGroup {
    /// The name of its `[mmp_groups.NAME]` table.
    pub name: String,
    /// Instrument ids of the group, ascending (each in exactly one group).
    pub instruments: Vec<u32>,
    /// Window, ns.
    pub window_ns: u64,
    /// Max summed |quantity|, underlying units × 1e8.
    pub qty: Option<i64>,
    /// Max |summed signed delta|, underlying units × 1e8.
    pub delta: Option<i64>,
    /// Max summed |vega|, money per vol point.
    pub vega: Option<Money>,
    /// How long the strategy stays frozen after a trip, ns of event time;
    /// 0 = until an operator resumes it.
    pub frozen_ns: u64,
}

/// A validated, resolved policy. Every limit is an integer in raw units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// File name the policy was loaded from (for messages).
    pub source: String,
    /// R1 allowed instruments with their R2/R4 limits, sorted by instrument id.
    pub instruments: Vec<InstrumentLimits>,
    /// R1: allowed sides, indexed by `side as usize - 1`.
    pub sides: [bool; 2],
    /// R1: allowed order types, indexed by `order_type as usize - 1`.
    pub order_types: [bool; 2],
    /// R1: allowed time-in-force values, indexed by `tif as usize - 1`.
    pub time_in_force: [bool; 4],
    /// R3: max distance of a limit price from the reference, basis points.
    pub price_collar_bps: i64,
    /// R3/R4: reference price used for the collar and for valuing exposure.
    pub collar_reference: CollarReference,
    /// R4: max worst-case gross notional of the strategy, money units.
    pub max_gross_notional: Money,
    /// R4: max worst-case absolute net notional of the strategy, money units.
    pub max_net_notional: Money,
    /// R5: max number of open orders.
    pub max_open_orders: u32,
    /// R5: order submissions per second (token bucket, burst = one second).
    pub max_orders_per_sec: u32,
    /// R5: messages (submits + cancels) per second (token bucket, burst = one second).
    pub max_messages_per_sec: u32,
    /// R6: an order identical (instrument, side, type, price, qty) to one this
    /// strategy opened less than this many ns earlier is rejected. `None` = off.
    pub duplicate_window_ns: Option<u64>,
    /// R8: a loss (−(realised − fees + unrealised)) above this, money units,
    /// moves the strategy to REDUCING. `None` = off.
    pub loss_limit_reducing: Option<Money>,
    /// R8: a loss above this, money units, moves the strategy to HALTED. `None` = off.
    pub loss_limit_halt: Option<Money>,
    /// R10: capital allocated to the strategy, money units. `None` = R10 off.
    pub capital: Option<Money>,
    /// R10: initial margin rate per instrument kind, bps of worst-case
    /// notional, indexed by [`kind_index`]. A kind not listed uses the
    /// instrument's own `initial_margin_bps` if > 0, else 10000 (full notional).
    pub initial_margin_bps: [Option<i64>; KIND_COUNT],
    /// R14: window of market-maker protection, ns. `None` = R14 off.
    pub mmp_window_ns: Option<u64>,
    /// R14: state the strategy is frozen in when MMP trips.
    pub mmp_action: MmpAction,
    /// R14: frozen time of the per-instrument windows (instruments in no
    /// group), ns of event time; 0 (the default) = until an operator resumes.
    pub mmp_frozen_ns: u64,
    /// R14: instrument groups (`[mmp_groups.NAME]`), sorted by name.
    pub mmp_groups: Vec<MmpGroup>,
    /// R9: max worst-case absolute portfolio delta, as delta-notional money
    /// (Σ delta × forward × units; linear instruments have delta 1). `None` = off.
    pub max_delta: Option<Money>,
    /// R9: max worst-case absolute portfolio vega, money per vol point. `None` = off.
    pub max_vega: Option<Money>,
    /// R9: max worst-case underlying notional of the instruments sharing the
    /// order's expiry (options and futures), money units. `None` = off.
    pub max_expiry_notional: Option<Money>,
    /// R9: volatility used for greeks when no implied vol was set with
    /// [`crate::RiskEngine::set_implied_vol`], in bps of vol (5000 = 50 %).
    pub option_vol_bps: Option<i64>,
}

/// Number of instrument kinds [`kind_index`] distinguishes.
pub const KIND_COUNT: usize = 4;
/// Names of the kinds accepted in `initial_margin_bps`, by [`kind_index`].
pub const KIND_NAMES: [&str; KIND_COUNT] = ["spot", "perpetual", "future", "option"];

/// Index of an instrument kind into per-kind policy tables (see [`KIND_NAMES`]).
#[allow(unreachable_patterns)]
pub fn kind_index(kind: bulkhead_model::InstrumentKind) -> usize {
    use bulkhead_model::InstrumentKind as K;
    match kind {
        K::Spot => 0,
        K::Perpetual => 1,
        K::Future => 2,
        K::Option => 3,
        // A kind the model adds later is margined like an option (the most
        // conservative table slot) until the policy format learns its name.
        _ => 3,
    }
}

/// What R14 market-maker protection does to the strategy when it trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmpAction {
    Reducing,
    Halted,
}

/// Why a policy file was refused. Always names the file; field errors name the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The TOML could not be parsed or did not match the layout (syntax error,
    /// unknown field, wrong type). `message` comes from the TOML parser and
    /// names the offending key.
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    /// A field has a value that is not acceptable.
    #[error("{file}: field `{field}`: {problem}")]
    Field { file: String, field: String, problem: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    /// Read by `bulkhead-surveillance` (its rules); risk ignores it.
    #[serde(default, rename = "surveillance")]
    _surveillance: Option<serde::de::IgnoredAny>,
    /// Read by `bulkhead-chain` (smart-contract scope); risk ignores it.
    #[serde(default, rename = "chain")]
    _chain: Option<serde::de::IgnoredAny>,
    instruments: Option<Vec<String>>,
    sides: Option<Vec<String>>,
    order_types: Option<Vec<String>>,
    time_in_force: Option<Vec<String>>,
    max_order_qty: Option<String>,
    max_order_notional: Option<String>,
    price_collar_bps: Option<i64>,
    collar_reference: Option<String>,
    max_position: Option<String>,
    max_gross_notional: Option<String>,
    max_net_notional: Option<String>,
    max_open_orders: Option<i64>,
    max_orders_per_sec: Option<i64>,
    max_messages_per_sec: Option<i64>,
    duplicate_window_ms: Option<i64>,
    loss_limit_reducing: Option<String>,
    loss_limit_halt: Option<String>,
    capital: Option<String>,
    initial_margin_bps: Option<BTreeMap<String, i64>>,
    mmp_window_ms: Option<i64>,
    mmp_qty: Option<String>,
    mmp_delta: Option<String>,
    mmp_action: Option<String>,
    mmp_vega: Option<String>,
    mmp_frozen_ms: Option<i64>,
    #[serde(default)]
    mmp_groups: BTreeMap<String, RawMmpGroup>,
    max_delta: Option<String>,
    max_vega: Option<String>,
    max_expiry_notional: Option<String>,
    option_vol: Option<String>,
    #[serde(default)]
    instrument_limits: BTreeMap<String, RawInstrumentLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstrumentLimits {
    max_order_qty: Option<String>,
    max_order_notional: Option<String>,
    max_position: Option<String>,
    mmp_qty: Option<String>,
    mmp_delta: Option<String>,
    mmp_vega: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMmpGroup {
    instruments: Option<Vec<String>>,
    underlying: Option<String>,
    window_ms: Option<i64>,
    qty: Option<String>,
    delta: Option<String>,
    vega: Option<String>,
    frozen_ms: Option<i64>,
}

/// Milliseconds per policy field → ns; `None` stays `None`.
const MAX_MS: i64 = 86_400_000;

pub(crate) const MAX_COUNT: i64 = 1_000_000;

/// A count already checked to be in `1..=MAX_COUNT`, as the `u32` the
/// policy holds.
pub(crate) fn count_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Deserialize TOML, turning parser errors into [`PolicyError::Parse`] with
/// the line number and, where the line is `key = value`, the field name.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, source: &str) -> Result<T, PolicyError> {
    toml::from_str(text)
        .map_err(|e| PolicyError::Parse { file: source.to_string(), message: describe_toml_error(text, &e) })
}

/// One line for a TOML error: the line number, the field on that line (where
/// the line is `key = value`) and the problem. Shared by every TOML file
/// Bulkhead reads (policies here, run configs in the engine).
pub fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else { return message };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    match line.split_once('=') {
        Some((key, _)) if !line.starts_with('[') && !line.starts_with('#') => {
            format!("line {line_no}: field `{}`: {message}", key.trim().trim_matches('"'))
        }
        _ => format!("line {line_no}: {message}"),
    }
}

pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a str,
}

impl Ctx<'_> {
    pub(crate) fn err(&self, field: &str, problem: impl Into<String>) -> PolicyError {
        PolicyError::Field { file: self.file.to_string(), field: field.to_string(), problem: problem.into() }
    }

    fn required<T>(&self, field: &str, v: Option<T>) -> Result<T, PolicyError> {
        v.ok_or_else(|| self.err(field, "missing (required)"))
    }

    fn decimal_problem(raw: &str, e: DecimalError, unit_desc: &str) -> String {
        match e {
            DecimalError::Syntax(_) => format!("`{raw}` is not a decimal number (write it as a string, e.g. \"0.5\")"),
            DecimalError::Overflow(_) => format!("`{raw}` is out of range"),
            DecimalError::NotAMultiple { .. } => format!("`{raw}` is not a multiple of {unit_desc}"),
        }
    }

    /// Decimal string in instrument units → lots, > 0.
    pub(crate) fn lots(&self, field: &str, raw: &str, inst: &Instrument) -> Result<Lots, PolicyError> {
        let lots = inst.qty_to_lots(raw).map_err(|e| {
            self.err(field, Self::decimal_problem(raw, e, &format!("lot size {} of {}", inst.lot_size, inst.symbol)))
        })?;
        if lots <= 0 {
            return Err(self.err(field, format!("`{raw}` must be > 0")));
        }
        Ok(Lots::new(lots))
    }

    /// Decimal string in quote currency → money units (1e-8), exact, > 0.
    pub(crate) fn money(&self, field: &str, raw: &str) -> Result<Money, PolicyError> {
        let unit = Decimal { mantissa: 1, scale: MONEY_DECIMALS };
        let m = Decimal::parse(raw)
            .and_then(|d| d.to_units(unit))
            .map_err(|e| self.err(field, Self::decimal_problem(raw, e, "0.00000001 (8 decimals at most)")))?;
        if m <= 0 {
            return Err(self.err(field, format!("`{raw}` must be > 0")));
        }
        Ok(Money::new(m))
    }

    pub(crate) fn opt_ms(&self, field: &str, v: Option<i64>) -> Result<Option<u64>, PolicyError> {
        v.map(|ms| {
            if !(1..=MAX_MS).contains(&ms) {
                return Err(self.err(field, format!("`{ms}` must be between 1 and {MAX_MS} (milliseconds)")));
            }
            Ok(ms as u64 * 1_000_000)
        })
        .transpose()
    }

    pub(crate) fn opt_money(&self, field: &str, v: Option<&str>) -> Result<Option<Money>, PolicyError> {
        v.map(|s| self.money(field, s)).transpose()
    }

    /// [`Self::count`] for a `u32` field (`max` ≤ [`MAX_COUNT`], so it fits).
    pub(crate) fn count_u32(&self, field: &str, v: Option<i64>, max: i64) -> Result<u32, PolicyError> {
        self.count(field, v, max).map(count_u32)
    }

    pub(crate) fn count(&self, field: &str, v: Option<i64>, max: i64) -> Result<i64, PolicyError> {
        let v = self.required(field, v)?;
        if !(1..=max).contains(&v) {
            return Err(self.err(field, format!("`{v}` must be between 1 and {max}")));
        }
        Ok(v)
    }

    fn names<const N: usize, T: Copy>(
        &self,
        field: &str,
        v: Option<Vec<String>>,
        all: &[(&str, T)],
        index: impl Fn(T) -> usize,
    ) -> Result<[bool; N], PolicyError> {
        let v = self.required(field, v)?;
        if v.is_empty() {
            return Err(self.err(field, "must not be empty"));
        }
        let mut out = [false; N];
        for name in &v {
            let Some(&(_, t)) = all.iter().find(|(n, _)| n == name) else {
                let expected: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
                return Err(
                    self.err(field, format!("unknown value `{name}` (expected one of {})", expected.join(", ")))
                );
            };
            out[index(t)] = true;
        }
        Ok(out)
    }
}

impl Policy {
    /// Parse and validate a policy. `source` is the file name used in every
    /// error; `instruments` is the universe symbols are resolved against.
    #[expect(clippy::too_many_lines, reason = "over the ceiling when it was set (issue 14): split when next changed")]
    pub fn from_toml(text: &str, source: &str, instruments: &[Instrument]) -> Result<Policy, PolicyError> {
        let mut raw: RawPolicy = parse_toml(text, source)?;
        let cx = Ctx { file: source };

        // R1
        let symbols = cx.required("instruments", raw.instruments.take())?;
        if symbols.is_empty() {
            return Err(cx.err("instruments", "must not be empty"));
        }
        let mut allowed: Vec<&Instrument> = Vec::with_capacity(symbols.len());
        for s in &symbols {
            let Some(inst) = instruments.iter().find(|i| &i.symbol == s) else {
                return Err(cx.err("instruments", format!("unknown instrument `{s}`")));
            };
            if !allowed.iter().any(|a| a.id == inst.id) {
                allowed.push(inst);
            }
        }
        let sides =
            cx.names::<2, Side>("sides", raw.sides.take(), &[("buy", Side::Buy), ("sell", Side::Sell)], |s| {
                s as usize - 1
            })?;
        let order_types = cx.names::<2, OrderType>(
            "order_types",
            raw.order_types.take(),
            &[("limit", OrderType::Limit), ("market", OrderType::Market)],
            |t| t as usize - 1,
        )?;
        let time_in_force = cx.names::<4, TimeInForce>(
            "time_in_force",
            raw.time_in_force.take(),
            &[
                ("gtc", TimeInForce::Gtc),
                ("ioc", TimeInForce::Ioc),
                ("fok", TimeInForce::Fok),
                ("post_only", TimeInForce::PostOnly),
            ],
            |t| t as usize - 1,
        )?;

        // Per-instrument override tables must name allowed instruments.
        for sym in raw.instrument_limits.keys() {
            if !symbols.iter().any(|s| s == sym) {
                return Err(
                    cx.err(&format!("instrument_limits.\"{sym}\""), format!("`{sym}` is not listed in `instruments`"))
                );
            }
        }

        // R2 / R4 per instrument: override if present, else the top-level default.
        let order_notional_default =
            raw.max_order_notional.as_deref().map(|s| cx.money("max_order_notional", s)).transpose()?;
        let mut limits = Vec::with_capacity(allowed.len());
        for inst in &allowed {
            let ov = raw.instrument_limits.get(&inst.symbol);
            let qty_field = |name: &str| format!("instrument_limits.\"{}\".{name}", inst.symbol);
            let max_order_qty = match ov.and_then(|o| o.max_order_qty.as_deref()) {
                Some(s) => cx.lots(&qty_field("max_order_qty"), s, inst)?,
                None => {
                    let s = cx.required("max_order_qty", raw.max_order_qty.as_deref())?;
                    cx.lots("max_order_qty", s, inst)?
                }
            };
            let max_position = match ov.and_then(|o| o.max_position.as_deref()) {
                Some(s) => cx.lots(&qty_field("max_position"), s, inst)?,
                None => {
                    let s = cx.required("max_position", raw.max_position.as_deref())?;
                    cx.lots("max_position", s, inst)?
                }
            };
            let max_order_notional = match ov.and_then(|o| o.max_order_notional.as_deref()) {
                Some(s) => cx.money(&qty_field("max_order_notional"), s)?,
                None => cx.required("max_order_notional", order_notional_default)?,
            };
            let mmp_qty = match ov.and_then(|o| o.mmp_qty.as_deref()) {
                Some(s) => Some(cx.lots(&qty_field("mmp_qty"), s, inst)?),
                None => raw.mmp_qty.as_deref().map(|s| cx.lots("mmp_qty", s, inst)).transpose()?,
            };
            let mmp_delta = match ov.and_then(|o| o.mmp_delta.as_deref()) {
                Some(s) => Some(cx.lots(&qty_field("mmp_delta"), s, inst)?),
                None => raw.mmp_delta.as_deref().map(|s| cx.lots("mmp_delta", s, inst)).transpose()?,
            };
            let mmp_vega = match ov.and_then(|o| o.mmp_vega.as_deref()) {
                Some(s) => Some(cx.money(&qty_field("mmp_vega"), s)?),
                None => cx.opt_money("mmp_vega", raw.mmp_vega.as_deref())?,
            };
            limits.push(InstrumentLimits {
                instrument: inst.id,
                max_order_qty,
                max_order_notional,
                max_position,
                mmp_qty,
                mmp_delta,
                mmp_vega,
            });
        }
        limits.sort_by_key(|l| l.instrument);

        // R3
        let price_collar_bps = cx.count("price_collar_bps", raw.price_collar_bps, 10_000)?;
        let collar_reference = match cx.required("collar_reference", raw.collar_reference.take())?.as_str() {
            "mid" => CollarReference::Mid,
            "last" => CollarReference::Last,
            "mark" => CollarReference::Mark,
            other => {
                return Err(
                    cx.err("collar_reference", format!("unknown value `{other}` (expected one of mid, last, mark)"))
                );
            }
        };

        // R4 strategy-wide
        let max_gross_notional =
            cx.money("max_gross_notional", cx.required("max_gross_notional", raw.max_gross_notional.as_deref())?)?;
        let max_net_notional =
            cx.money("max_net_notional", cx.required("max_net_notional", raw.max_net_notional.as_deref())?)?;

        // R5
        let max_open_orders = cx.count_u32("max_open_orders", raw.max_open_orders, MAX_COUNT)?;
        let max_orders_per_sec = cx.count_u32("max_orders_per_sec", raw.max_orders_per_sec, MAX_COUNT)?;
        let max_messages_per_sec = cx.count_u32("max_messages_per_sec", raw.max_messages_per_sec, MAX_COUNT)?;

        // R6
        let duplicate_window_ns = cx.opt_ms("duplicate_window_ms", raw.duplicate_window_ms)?;

        // R8
        let loss_limit_reducing = cx.opt_money("loss_limit_reducing", raw.loss_limit_reducing.as_deref())?;
        let loss_limit_halt = cx.opt_money("loss_limit_halt", raw.loss_limit_halt.as_deref())?;
        if let (Some(r), Some(h)) = (loss_limit_reducing, loss_limit_halt)
            && r >= h
        {
            return Err(cx.err("loss_limit_reducing", "must be smaller than `loss_limit_halt`"));
        }

        // R10
        let capital = cx.opt_money("capital", raw.capital.as_deref())?;
        let mut initial_margin_bps = [None; KIND_COUNT];
        if let Some(table) = raw.initial_margin_bps.take() {
            if capital.is_none() {
                return Err(cx.err("initial_margin_bps", "needs `capital` (the margin is checked against it)"));
            }
            for (kind, bps) in table {
                let field = format!("initial_margin_bps.{kind}");
                let Some(k) = KIND_NAMES.iter().position(|n| *n == kind) else {
                    return Err(cx.err(
                        &field,
                        format!("unknown instrument kind `{kind}` (expected one of {})", KIND_NAMES.join(", ")),
                    ));
                };
                if !(1..=10_000).contains(&bps) {
                    return Err(cx.err(&field, format!("`{bps}` must be between 1 and 10000")));
                }
                initial_margin_bps[k] = Some(bps);
            }
        }

        // R14
        let (mmp_window_ns, mmp_frozen_ns, mmp_groups) = mmp(&cx, &mut raw, instruments, &allowed, &mut limits)?;
        let mmp_action = match raw.mmp_action.as_deref() {
            None | Some("halted") => MmpAction::Halted,
            Some("reducing") => MmpAction::Reducing,
            Some(other) => {
                return Err(cx.err("mmp_action", format!("unknown value `{other}` (expected one of reducing, halted)")));
            }
        };

        // R9
        let max_delta = cx.opt_money("max_delta", raw.max_delta.as_deref())?;
        let max_vega = cx.opt_money("max_vega", raw.max_vega.as_deref())?;
        let max_expiry_notional = cx.opt_money("max_expiry_notional", raw.max_expiry_notional.as_deref())?;
        let option_vol_bps = raw
            .option_vol
            .as_deref()
            .map(|v| {
                let bps = Decimal::parse(v)
                    .and_then(|d| d.to_units(Decimal { mantissa: 1, scale: 4 }))
                    .map_err(|e| cx.err("option_vol", Ctx::decimal_problem(v, e, "0.0001 (4 decimals at most)")))?;
                if !(1..=100_000).contains(&bps) {
                    return Err(cx.err("option_vol", format!("`{v}` must be > 0 and at most 10 (1000 %)")));
                }
                Ok(bps)
            })
            .transpose()?;

        Ok(Policy {
            max_delta,
            max_vega,
            max_expiry_notional,
            option_vol_bps,
            duplicate_window_ns,
            loss_limit_reducing,
            loss_limit_halt,
            capital,
            initial_margin_bps,
            mmp_window_ns,
            mmp_action,
            mmp_frozen_ns,
            mmp_groups,
            source: source.to_string(),
            instruments: limits,
            sides,
            order_types,
            time_in_force,
            price_collar_bps,
            collar_reference,
            max_gross_notional,
            max_net_notional,
            max_open_orders,
            max_orders_per_sec,
            max_messages_per_sec,
        })
    }

    /// Limits for an allowed instrument, `None` if the instrument is not allowed.
    pub fn limits(&self, instrument: u32) -> Option<&InstrumentLimits> {
        self.instruments.binary_search_by_key(&instrument, |l| l.instrument).ok().map(|i| &self.instruments[i])
    }

    pub fn side_allowed(&self, side: Side) -> bool {
        self.sides[side as usize - 1]
    }
    pub fn order_type_allowed(&self, t: OrderType) -> bool {
        self.order_types[t as usize - 1]
    }
    pub fn tif_allowed(&self, t: TimeInForce) -> bool {
        self.time_in_force[t as usize - 1]
    }
}

/// Does the instrument have an R14 limit of its own (outside any group)?
fn has_mmp(l: &InstrumentLimits) -> bool {
    l.mmp_qty.is_some() || l.mmp_delta.is_some() || l.mmp_vega.is_some()
}

/// Longest `[mmp_groups.NAME]` name (it is quoted in journal texts).
const MAX_GROUP_NAME: usize = 64;

/// R14: the per-instrument window and frozen time, and the instrument
/// groups. Instruments of a group lose the per-instrument limits the
/// top-level defaults gave them (the group's limits apply instead); an
/// `[instrument_limits."SYM"]` R14 override of a grouped instrument is an error.
fn mmp(
    cx: &Ctx<'_>,
    raw: &mut RawPolicy,
    universe: &[Instrument],
    allowed: &[&Instrument],
    limits: &mut [InstrumentLimits],
) -> Result<(Option<u64>, u64, Vec<MmpGroup>), PolicyError> {
    let window = cx.opt_ms("mmp_window_ms", raw.mmp_window_ms)?;
    let frozen = opt_frozen_ms(cx, "mmp_frozen_ms", raw.mmp_frozen_ms)?;
    let mut groups: Vec<MmpGroup> = Vec::new();
    let mut inherits_window = false;
    for (name, g) in std::mem::take(&mut raw.mmp_groups) {
        let f = |k: &str| format!("mmp_groups.{name}.{k}");
        if name.is_empty()
            || name.len() > MAX_GROUP_NAME
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(cx.err(
                &format!("mmp_groups.{name}"),
                format!("group name must be 1 to {MAX_GROUP_NAME} characters of A-Z a-z 0-9 _ -"),
            ));
        }
        let ids = group_members(cx, &name, &g, universe, allowed)?;
        for &id in &ids {
            if let Some(other) = groups.iter().find(|o| o.instruments.contains(&id)) {
                let sym = allowed.iter().find(|i| i.id == id).map_or("", |i| i.symbol.as_str());
                return Err(cx.err(
                    &f("instruments"),
                    format!("`{sym}` is already in group `{}` (an instrument may be in one group only)", other.name),
                ));
            }
            let sym = allowed.iter().find(|i| i.id == id).map_or("", |i| i.symbol.as_str());
            if let Some(ov) = raw.instrument_limits.get(sym)
                && (ov.mmp_qty.is_some() || ov.mmp_delta.is_some() || ov.mmp_vega.is_some())
            {
                return Err(cx.err(
                    &format!("instrument_limits.\"{sym}\""),
                    format!("`{sym}` is in mmp group `{name}`: set its R14 limits in `mmp_groups.{name}`"),
                ));
            }
        }
        let qty = g.qty.as_deref().map(|s| cx.money(&f("qty"), s).map(Money::get)).transpose()?;
        let delta = g.delta.as_deref().map(|s| cx.money(&f("delta"), s).map(Money::get)).transpose()?;
        let vega = cx.opt_money(&f("vega"), g.vega.as_deref())?;
        if qty.is_none() && delta.is_none() && vega.is_none() {
            return Err(cx.err(&format!("mmp_groups.{name}"), "sets none of `qty`, `delta`, `vega` (at least one)"));
        }
        let window_ns = match cx.opt_ms(&f("window_ms"), g.window_ms)? {
            Some(w) => w,
            None => {
                inherits_window = true;
                window.ok_or_else(|| cx.err(&f("window_ms"), "missing (required unless `mmp_window_ms` is set)"))?
            }
        };
        let frozen_ns = match g.frozen_ms {
            Some(_) => opt_frozen_ms(cx, &f("frozen_ms"), g.frozen_ms)?,
            None => frozen,
        };
        groups.push(MmpGroup { name, instruments: ids, window_ns, qty, delta, vega, frozen_ns });
    }
    let grouped = |id: u32| groups.iter().any(|g| g.instruments.contains(&id));
    for l in limits.iter_mut().filter(|l| grouped(l.instrument)) {
        (l.mmp_qty, l.mmp_delta, l.mmp_vega) = (None, None, None);
    }
    let any_mmp = limits.iter().any(has_mmp);
    let top_level = raw.mmp_qty.is_some() || raw.mmp_delta.is_some() || raw.mmp_vega.is_some();
    if top_level && !any_mmp {
        let field = if raw.mmp_qty.is_some() {
            "mmp_qty"
        } else if raw.mmp_delta.is_some() {
            "mmp_delta"
        } else {
            "mmp_vega"
        };
        return Err(cx.err(field, "applies to no instrument (every instrument is in an `mmp_groups` table)"));
    }
    if any_mmp && window.is_none() {
        return Err(cx.err("mmp_window_ms", "missing (required when `mmp_qty`, `mmp_delta` or `mmp_vega` is set)"));
    }
    if window.is_some() && !any_mmp && !inherits_window {
        return Err(cx.err("mmp_window_ms", "set, but none of `mmp_qty`, `mmp_delta`, `mmp_vega` is"));
    }
    if raw.mmp_frozen_ms.is_some() && window.is_none() {
        return Err(cx.err("mmp_frozen_ms", "set, but `mmp_window_ms` is not (R14 is off)"));
    }
    Ok((window, frozen, groups))
}

/// A frozen time in ms (0 = until an operator resumes) → ns.
fn opt_frozen_ms(cx: &Ctx<'_>, field: &str, v: Option<i64>) -> Result<u64, PolicyError> {
    match v {
        None => Ok(0),
        Some(ms) if (0..=MAX_MS).contains(&ms) => Ok(ms.unsigned_abs() * 1_000_000),
        Some(ms) => Err(
            cx.err(field, format!("`{ms}` must be between 0 (until an operator resumes) and {MAX_MS} (milliseconds)"))
        ),
    }
}

/// Instrument ids of one `[mmp_groups.NAME]` table (ascending): its
/// `instruments`, or every allowed instrument whose underlying is
/// `underlying` (and that instrument itself if allowed).
fn group_members(
    cx: &Ctx<'_>,
    name: &str,
    g: &RawMmpGroup,
    universe: &[Instrument],
    allowed: &[&Instrument],
) -> Result<Vec<u32>, PolicyError> {
    let f = |k: &str| format!("mmp_groups.{name}.{k}");
    let mut ids = Vec::new();
    match (&g.instruments, &g.underlying) {
        (Some(syms), None) => {
            if syms.is_empty() {
                return Err(cx.err(&f("instruments"), "must not be empty"));
            }
            for s in syms {
                let Some(inst) = allowed.iter().find(|i| &i.symbol == s) else {
                    let why = if universe.iter().any(|i| &i.symbol == s) {
                        format!("`{s}` is not listed in `instruments`")
                    } else {
                        format!("unknown instrument `{s}`")
                    };
                    return Err(cx.err(&f("instruments"), why));
                };
                ids.push(inst.id);
            }
        }
        (None, Some(u)) => {
            let Some(und) = universe.iter().find(|i| &i.symbol == u) else {
                return Err(cx.err(&f("underlying"), format!("unknown instrument `{u}`")));
            };
            ids.extend(allowed.iter().filter(|i| i.id == und.id || i.underlying == Some(und.id)).map(|i| i.id));
            if ids.is_empty() {
                return Err(cx.err(&f("underlying"), format!("no instrument in `instruments` has underlying `{u}`")));
            }
        }
        (Some(_), Some(_)) => return Err(cx.err(&f("instruments"), "set `instruments` or `underlying`, not both")),
        (None, None) => return Err(cx.err(&f("instruments"), "missing (set `instruments` or `underlying`)")),
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
