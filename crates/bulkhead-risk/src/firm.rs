//! The firm-wide policy (one TOML file for the whole process): R5 firm-wide
//! throttles, R7 self-trade prevention, R12 aggregate limits and R13
//! market-data reasonability. Every field is optional; absent = control off.

use std::collections::BTreeMap;

use bulkhead_model::{Instrument, Lots, Money};
use serde::Deserialize;

use crate::policy::{CollarReference, Ctx, PolicyError, parse_toml};

/// R7: what happens when a new order would trade against a resting order of
/// any strategy of the firm (the same strategy included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StpMode {
    /// Reject the new order (`R7_SELF_TRADE`); resting orders stay.
    CancelNewest,
    /// Accept the new order; the engine must first cancel the resting orders
    /// it would cross (returned by [`crate::RiskEngine::check_order_stp`]).
    CancelOldest,
    /// Reject the new order and cancel the resting orders it would cross.
    CancelBoth,
}

impl StpMode {
    pub const fn name(self) -> &'static str {
        match self {
            StpMode::CancelNewest => "cancel_newest",
            StpMode::CancelOldest => "cancel_oldest",
            StpMode::CancelBoth => "cancel_both",
        }
    }
}

/// A validated firm-wide policy, in raw integer units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmPolicy {
    pub source: String,
    /// R12: max absolute worst-case firm position per instrument (Σ over all
    /// strategies of position and open orders), lots; `(instrument id, lots)`
    /// sorted by id. Instruments not listed are unlimited.
    pub max_position: Vec<(u32, Lots)>,
    /// R12: max worst-case firm gross notional, money units.
    pub max_gross_notional: Option<Money>,
    /// R12: max worst-case absolute firm net notional, money units.
    pub max_net_notional: Option<Money>,
    /// Reference at which firm exposure is valued (default mark).
    pub reference: CollarReference,
    /// R5 firm-wide: order checks per second over all strategies.
    pub max_orders_per_sec: Option<u32>,
    /// R5 firm-wide: messages (order checks + cancels) per second over all strategies.
    pub max_messages_per_sec: Option<u32>,
    /// R7 self-trade prevention; `None` = off.
    pub stp_mode: Option<StpMode>,
    /// R13: a reference older than this (ns of event time) blocks new risk.
    pub max_reference_age_ns: Option<u64>,
    /// R13: a move of the reference between two consecutive updates larger
    /// than this (bps of the previous value) blocks new risk for `jump_cooldown_ns`.
    pub max_jump_bps: Option<i64>,
    pub jump_cooldown_ns: u64,
}

impl FirmPolicy {
    /// A policy with every control off.
    pub fn off(source: &str) -> FirmPolicy {
        FirmPolicy {
            source: source.to_string(),
            max_position: Vec::new(),
            max_gross_notional: None,
            max_net_notional: None,
            reference: CollarReference::Mark,
            max_orders_per_sec: None,
            max_messages_per_sec: None,
            stp_mode: None,
            max_reference_age_ns: None,
            max_jump_bps: None,
            jump_cooldown_ns: 0,
        }
    }

    /// Parse and validate a firm policy; errors name `source` and the field.
    pub fn from_toml(text: &str, source: &str, instruments: &[Instrument]) -> Result<FirmPolicy, PolicyError> {
        let raw: RawFirm = parse_toml(text, source)?;
        let cx = Ctx { file: source };
        let mut out = FirmPolicy::off(source);

        for sym in raw.instrument_limits.keys() {
            if !instruments.iter().any(|i| &i.symbol == sym) {
                return Err(cx.err(&format!("instrument_limits.\"{sym}\""), format!("unknown instrument `{sym}`")));
            }
        }
        for inst in instruments {
            let ov = raw.instrument_limits.get(&inst.symbol).and_then(|o| o.max_position.as_deref());
            let lots = match ov {
                Some(s) => Some(cx.lots(&format!("instrument_limits.\"{}\".max_position", inst.symbol), s, inst)?),
                None => raw.max_position.as_deref().map(|s| cx.lots("max_position", s, inst)).transpose()?,
            };
            if let Some(l) = lots {
                out.max_position.push((inst.id, l));
            }
        }
        out.max_position.sort_unstable();
        out.max_gross_notional = cx.opt_money("max_gross_notional", raw.max_gross_notional.as_deref())?;
        out.max_net_notional = cx.opt_money("max_net_notional", raw.max_net_notional.as_deref())?;
        out.reference = match raw.reference.as_deref() {
            None | Some("mark") => CollarReference::Mark,
            Some("mid") => CollarReference::Mid,
            Some("last") => CollarReference::Last,
            Some(other) => {
                return Err(cx.err("reference", format!("unknown value `{other}` (expected one of mid, last, mark)")));
            }
        };
        let rate = |field: &str, v: Option<i64>| -> Result<Option<u32>, PolicyError> {
            v.map(|_| cx.count_u32(field, v, 1_000_000)).transpose()
        };
        out.max_orders_per_sec = rate("max_orders_per_sec", raw.max_orders_per_sec)?;
        out.max_messages_per_sec = rate("max_messages_per_sec", raw.max_messages_per_sec)?;
        out.stp_mode = match raw.stp_mode.as_deref() {
            None => None,
            Some("cancel_newest") => Some(StpMode::CancelNewest),
            Some("cancel_oldest") => Some(StpMode::CancelOldest),
            Some("cancel_both") => Some(StpMode::CancelBoth),
            Some(other) => {
                return Err(cx.err(
                    "stp_mode",
                    format!("unknown value `{other}` (expected one of cancel_newest, cancel_oldest, cancel_both)"),
                ));
            }
        };
        out.max_reference_age_ns = cx.opt_ms("max_reference_age_ms", raw.max_reference_age_ms)?;
        out.max_jump_bps = raw.max_jump_bps.map(|_| cx.count("max_jump_bps", raw.max_jump_bps, 10_000)).transpose()?;
        match (out.max_jump_bps, cx.opt_ms("jump_cooldown_ms", raw.jump_cooldown_ms)?) {
            (Some(_), Some(c)) => out.jump_cooldown_ns = c,
            (None, None) => {}
            (Some(_), None) => return Err(cx.err("jump_cooldown_ms", "missing (required with `max_jump_bps`)")),
            (None, Some(_)) => return Err(cx.err("max_jump_bps", "missing (required with `jump_cooldown_ms`)")),
        }
        Ok(out)
    }

    /// Firm max position of an instrument, lots, if limited.
    pub fn max_position(&self, instrument: u32) -> Option<Lots> {
        self.max_position.binary_search_by_key(&instrument, |&(i, _)| i).ok().map(|k| self.max_position[k].1)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFirm {
    /// Read by `bulkhead-surveillance` (its rules); risk ignores it.
    #[serde(default, rename = "surveillance")]
    _surveillance: Option<serde::de::IgnoredAny>,
    max_position: Option<String>,
    max_gross_notional: Option<String>,
    max_net_notional: Option<String>,
    reference: Option<String>,
    max_orders_per_sec: Option<i64>,
    max_messages_per_sec: Option<i64>,
    stp_mode: Option<String>,
    max_reference_age_ms: Option<i64>,
    max_jump_bps: Option<i64>,
    jump_cooldown_ms: Option<i64>,
    #[serde(default)]
    instrument_limits: BTreeMap<String, RawFirmInstrument>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFirmInstrument {
    max_position: Option<String>,
}
