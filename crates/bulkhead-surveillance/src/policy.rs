//! The `[surveillance]` tables of a strategy policy and of the firm policy:
//! read from the same TOML file risk reads (risk ignores the table), every
//! field validated with its range, quantities resolved to each instrument's
//! lots and money to 1e-8 units at load.

use crate::AlertAction;
use bulkhead_model::{Decimal, DecimalError, Instrument, MONEY_DECIMALS};
use bulkhead_risk::{PolicyError, describe_toml_error};
use serde::Deserialize;

/// Longest window any rule may use: one day.
pub const MAX_WINDOW_MS: i64 = 86_400_000;
/// Most quick cancels / aggressive fills a rule may ask to see in a window
/// (the evidence deques hold this many).
pub const MAX_PATTERN_COUNT: i64 = 256;
/// Most fills `runaway.max_fills` and `repeated_execution.fills` may name
/// (their rings hold this many timestamps).
pub const MAX_FILL_COUNT: i64 = 100_000;
/// Most messages `quote_stuffing` may name.
pub const MAX_MESSAGES: i64 = 100_000_000;

/// What to do when a rule cannot be evaluated (a reference it needs is missing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnUnevaluable {
    /// Say so once and halt the strategy: an unwatched strategy does not trade.
    #[default]
    Refuse,
    /// Say so once and let it trade on.
    Alert,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spoofing {
    /// Large order threshold by instrument id (lots).
    pub min_qty: Vec<i64>,
    pub max_lifetime_ns: u64,
    pub window_ns: u64,
    pub min_cancels: u32,
    pub action: AlertAction,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layering {
    pub min_qty: Vec<i64>,
    pub max_lifetime_ns: u64,
    pub window_ns: u64,
    pub min_levels: u32,
    pub action: AlertAction,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteStuffing {
    pub window_ns: u64,
    pub max_messages: Option<u64>,
    /// Messages per fill.
    pub max_order_to_trade: Option<u64>,
    /// The ratio is judged only once this many messages were sent in the window.
    pub min_messages: u64,
    pub action: AlertAction,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MomentumIgnition {
    pub window_ns: u64,
    pub min_aggressive_fills: u32,
    /// Ticks the mid must move their way (0 = not against them).
    pub min_move_ticks: i64,
    pub follow_ns: u64,
    pub action: AlertAction,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Runaway {
    pub window_ns: u64,
    pub max_fills: Option<u32>,
    /// By instrument id (lots); empty = off.
    pub max_position_change: Vec<i64>,
    /// Money units.
    pub max_loss: Option<i64>,
    pub action: AlertAction,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepeatedExecution {
    pub fills: u32,
    pub window_ns: u64,
}

/// Cancel-on-disconnect for a strategy: one that has open orders and has
/// made no host call for `max_silence_ns` of event time has lost its
/// liveness; its orders are cancelled and `action` taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Liveness {
    pub max_silence_ns: u64,
    pub action: AlertAction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WashTrade {
    pub window_ns: u64,
    pub price_ticks: i64,
    pub action: AlertAction,
}

/// The per-strategy rules (a strategy's own, or the firm's defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub spoofing: Option<Spoofing>,
    pub layering: Option<Layering>,
    pub quote_stuffing: Option<QuoteStuffing>,
    pub momentum_ignition: Option<MomentumIgnition>,
    pub runaway: Option<Runaway>,
    pub repeated_execution: Option<RepeatedExecution>,
    pub cancel_on_disconnect: Option<Liveness>,
    pub on_unevaluable: Option<OnUnevaluable>,
}

/// A strategy policy's `[surveillance]` table.
pub type StrategySurveillance = Rules;

/// The firm policy's `[surveillance]` table: defaults for every strategy,
/// and the firm-wide wash-trade rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirmSurveillance {
    pub defaults: Rules,
    pub wash_trade: Option<WashTrade>,
}

impl Rules {
    /// No rule set.
    pub fn is_empty(&self) -> bool {
        *self == Rules::default()
    }

    /// Each rule from `self`, or from `firm` where `self` has none.
    pub fn or(&self, firm: &Rules) -> Rules {
        Rules {
            spoofing: self.spoofing.clone().or_else(|| firm.spoofing.clone()),
            layering: self.layering.clone().or_else(|| firm.layering.clone()),
            quote_stuffing: self.quote_stuffing.clone().or_else(|| firm.quote_stuffing.clone()),
            momentum_ignition: self.momentum_ignition.clone().or_else(|| firm.momentum_ignition.clone()),
            runaway: self.runaway.clone().or_else(|| firm.runaway.clone()),
            repeated_execution: self.repeated_execution.clone().or_else(|| firm.repeated_execution.clone()),
            cancel_on_disconnect: self.cancel_on_disconnect.clone().or_else(|| firm.cancel_on_disconnect.clone()),
            on_unevaluable: self.on_unevaluable.or(firm.on_unevaluable),
        }
    }

    /// The `[surveillance]` table of a strategy policy file (`source` names
    /// it in errors). No table = no rules of its own.
    pub fn from_policy_toml(text: &str, source: &str, instruments: &[Instrument]) -> Result<Rules, PolicyError> {
        let raw = parse(text, source)?;
        let cx = Cx { file: source, instruments };
        if raw.wash_trade.is_some() {
            return Err(cx.err("surveillance.wash_trade", "is firm-wide: set it in the firm policy"));
        }
        raw.resolve(&cx)
    }
}

impl FirmSurveillance {
    /// The `[surveillance]` table of the firm policy file.
    pub fn from_toml(text: &str, source: &str, instruments: &[Instrument]) -> Result<FirmSurveillance, PolicyError> {
        let raw = parse(text, source)?;
        let cx = Cx { file: source, instruments };
        let wash_trade = raw.wash_trade.as_ref().map(|w| w.resolve(&cx)).transpose()?;
        Ok(FirmSurveillance { defaults: raw.resolve(&cx)?, wash_trade })
    }
}

fn parse(text: &str, source: &str) -> Result<RawRules, PolicyError> {
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        surveillance: Option<RawRules>,
    }
    let f: File = toml::from_str(text)
        .map_err(|e| PolicyError::Parse { file: source.to_string(), message: describe_toml_error(text, &e) })?;
    Ok(f.surveillance.unwrap_or_default())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRules {
    spoofing: Option<RawSpoofing>,
    layering: Option<RawLayering>,
    quote_stuffing: Option<RawStuffing>,
    momentum_ignition: Option<RawIgnition>,
    runaway: Option<RawRunaway>,
    repeated_execution: Option<RawRepeated>,
    wash_trade: Option<RawWash>,
    cancel_on_disconnect: Option<RawLiveness>,
    on_unevaluable: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLiveness {
    max_silence_ms: i64,
    action: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpoofing {
    min_qty: String,
    max_lifetime_ms: i64,
    window_ms: i64,
    min_cancels: i64,
    action: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayering {
    min_qty: String,
    max_lifetime_ms: i64,
    window_ms: i64,
    min_levels: i64,
    action: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStuffing {
    window_ms: i64,
    max_messages: Option<i64>,
    max_order_to_trade: Option<i64>,
    min_messages: Option<i64>,
    action: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIgnition {
    window_ms: i64,
    min_aggressive_fills: i64,
    min_move_ticks: i64,
    follow_ms: i64,
    action: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRunaway {
    window_ms: i64,
    max_fills: Option<i64>,
    max_position_change: Option<String>,
    max_loss: Option<String>,
    action: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepeated {
    fills: i64,
    window_ms: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWash {
    window_ms: i64,
    price_ticks: Option<i64>,
    action: Option<String>,
}

struct Cx<'a> {
    file: &'a str,
    instruments: &'a [Instrument],
}

impl Cx<'_> {
    fn err(&self, field: &str, problem: impl Into<String>) -> PolicyError {
        PolicyError::Field { file: self.file.to_string(), field: field.to_string(), problem: problem.into() }
    }

    fn range(&self, field: &str, v: i64, lo: i64, hi: i64, unit: &str) -> Result<i64, PolicyError> {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(self.err(field, format!("`{v}` must be between {lo} and {hi}{unit}")))
        }
    }

    fn ms(&self, field: &str, v: i64) -> Result<u64, PolicyError> {
        let ms = self.range(field, v, 1, MAX_WINDOW_MS, " (milliseconds)")?;
        Ok(ms.unsigned_abs().saturating_mul(1_000_000))
    }

    fn count(&self, field: &str, v: i64, lo: i64, hi: i64) -> Result<u32, PolicyError> {
        let v = self.range(field, v, lo, hi, "")?;
        u32::try_from(v).map_err(|_| self.err(field, format!("`{v}` is out of range")))
    }

    fn action(&self, field: &str, v: Option<&str>, default: AlertAction) -> Result<AlertAction, PolicyError> {
        match v {
            None => Ok(default),
            Some(s) => AlertAction::ALL
                .into_iter()
                .find(|a| a.name() == s)
                .ok_or_else(|| self.err(field, format!("`{s}` is not one of alert, reduce, halt, disable"))),
        }
    }

    /// A quantity in each instrument's units → lots by instrument id, > 0.
    fn lots(&self, field: &str, raw: &str) -> Result<Vec<i64>, PolicyError> {
        self.instruments
            .iter()
            .map(|inst| {
                let lots = inst.qty_to_lots(raw).map_err(|e| {
                    let what = format!("lot size {} of {}", inst.lot_size, inst.symbol);
                    self.err(field, decimal_problem(raw, e, &what))
                })?;
                if lots <= 0 {
                    return Err(self.err(field, format!("`{raw}` must be > 0")));
                }
                Ok(lots)
            })
            .collect()
    }

    fn money(&self, field: &str, raw: &str) -> Result<i64, PolicyError> {
        let unit = Decimal { mantissa: 1, scale: MONEY_DECIMALS };
        let m = Decimal::parse(raw)
            .and_then(|d| d.to_units(unit))
            .map_err(|e| self.err(field, decimal_problem(raw, e, "0.00000001 (8 decimals at most)")))?;
        if m <= 0 {
            return Err(self.err(field, format!("`{raw}` must be > 0")));
        }
        Ok(m)
    }
}

fn decimal_problem(raw: &str, e: DecimalError, unit: &str) -> String {
    match e {
        DecimalError::Syntax(_) => format!("`{raw}` is not a decimal number (write it as a string, e.g. \"0.5\")"),
        DecimalError::Overflow(_) => format!("`{raw}` is out of range"),
        DecimalError::NotAMultiple { .. } => format!("`{raw}` is not a multiple of {unit}"),
    }
}

impl RawRules {
    fn resolve(&self, cx: &Cx) -> Result<Rules, PolicyError> {
        const S: &str = "surveillance.";
        let on_unevaluable = match self.on_unevaluable.as_deref() {
            None => None,
            Some("refuse") => Some(OnUnevaluable::Refuse),
            Some("alert") => Some(OnUnevaluable::Alert),
            Some(s) => return Err(cx.err("surveillance.on_unevaluable", format!("`{s}` is not one of refuse, alert"))),
        };
        Ok(Rules {
            spoofing: self.spoofing.as_ref().map(|r| r.resolve(cx, &format!("{S}spoofing."))).transpose()?,
            layering: self.layering.as_ref().map(|r| r.resolve(cx, &format!("{S}layering."))).transpose()?,
            quote_stuffing: self
                .quote_stuffing
                .as_ref()
                .map(|r| r.resolve(cx, &format!("{S}quote_stuffing.")))
                .transpose()?,
            momentum_ignition: self
                .momentum_ignition
                .as_ref()
                .map(|r| r.resolve(cx, &format!("{S}momentum_ignition.")))
                .transpose()?,
            runaway: self.runaway.as_ref().map(|r| r.resolve(cx, &format!("{S}runaway."))).transpose()?,
            repeated_execution: self
                .repeated_execution
                .as_ref()
                .map(|r| {
                    let p = "surveillance.repeated_execution.";
                    Ok::<_, PolicyError>(RepeatedExecution {
                        fills: cx.count(&format!("{p}fills"), r.fills, 2, MAX_FILL_COUNT)?,
                        window_ns: cx.ms(&format!("{p}window_ms"), r.window_ms)?,
                    })
                })
                .transpose()?,
            cancel_on_disconnect: self
                .cancel_on_disconnect
                .as_ref()
                .map(|r| {
                    let p = "surveillance.cancel_on_disconnect.";
                    Ok::<_, PolicyError>(Liveness {
                        max_silence_ns: cx.ms(&format!("{p}max_silence_ms"), r.max_silence_ms)?,
                        action: cx.action(&format!("{p}action"), r.action.as_deref(), AlertAction::Alert)?,
                    })
                })
                .transpose()?,
            on_unevaluable,
        })
    }
}

impl RawSpoofing {
    fn resolve(&self, cx: &Cx, p: &str) -> Result<Spoofing, PolicyError> {
        let window_ns = cx.ms(&format!("{p}window_ms"), self.window_ms)?;
        Ok(Spoofing {
            min_qty: cx.lots(&format!("{p}min_qty"), &self.min_qty)?,
            max_lifetime_ns: cx.ms(&format!("{p}max_lifetime_ms"), self.max_lifetime_ms)?,
            window_ns,
            min_cancels: cx.count(&format!("{p}min_cancels"), self.min_cancels, 1, MAX_PATTERN_COUNT)?,
            action: cx.action(&format!("{p}action"), self.action.as_deref(), AlertAction::Halt)?,
        })
    }
}

impl RawLayering {
    fn resolve(&self, cx: &Cx, p: &str) -> Result<Layering, PolicyError> {
        Ok(Layering {
            min_qty: cx.lots(&format!("{p}min_qty"), &self.min_qty)?,
            max_lifetime_ns: cx.ms(&format!("{p}max_lifetime_ms"), self.max_lifetime_ms)?,
            window_ns: cx.ms(&format!("{p}window_ms"), self.window_ms)?,
            min_levels: cx.count(&format!("{p}min_levels"), self.min_levels, 2, 64)?,
            action: cx.action(&format!("{p}action"), self.action.as_deref(), AlertAction::Halt)?,
        })
    }
}

impl RawStuffing {
    fn resolve(&self, cx: &Cx, p: &str) -> Result<QuoteStuffing, PolicyError> {
        let n = |f: &str, v: i64| cx.range(&format!("{p}{f}"), v, 1, MAX_MESSAGES, "").map(i64::unsigned_abs);
        let max_messages = self.max_messages.map(|v| n("max_messages", v)).transpose()?;
        let max_order_to_trade = self.max_order_to_trade.map(|v| n("max_order_to_trade", v)).transpose()?;
        if max_messages.is_none() && max_order_to_trade.is_none() {
            return Err(cx.err(&format!("{p}max_messages"), "set max_messages, max_order_to_trade or both"));
        }
        Ok(QuoteStuffing {
            window_ns: cx.ms(&format!("{p}window_ms"), self.window_ms)?,
            max_messages,
            max_order_to_trade,
            min_messages: self.min_messages.map_or(Ok(1), |v| n("min_messages", v))?,
            action: cx.action(&format!("{p}action"), self.action.as_deref(), AlertAction::Halt)?,
        })
    }
}

impl RawIgnition {
    fn resolve(&self, cx: &Cx, p: &str) -> Result<MomentumIgnition, PolicyError> {
        Ok(MomentumIgnition {
            window_ns: cx.ms(&format!("{p}window_ms"), self.window_ms)?,
            min_aggressive_fills: cx.count(
                &format!("{p}min_aggressive_fills"),
                self.min_aggressive_fills,
                1,
                MAX_PATTERN_COUNT,
            )?,
            min_move_ticks: cx.range(&format!("{p}min_move_ticks"), self.min_move_ticks, 0, 1_000_000, " (ticks)")?,
            follow_ns: cx.ms(&format!("{p}follow_ms"), self.follow_ms)?,
            action: cx.action(&format!("{p}action"), self.action.as_deref(), AlertAction::Halt)?,
        })
    }
}

impl RawRunaway {
    fn resolve(&self, cx: &Cx, p: &str) -> Result<Runaway, PolicyError> {
        let max_fills = self.max_fills.map(|v| cx.count(&format!("{p}max_fills"), v, 1, MAX_FILL_COUNT)).transpose()?;
        let max_position_change = match &self.max_position_change {
            Some(raw) => cx.lots(&format!("{p}max_position_change"), raw)?,
            None => Vec::new(),
        };
        let max_loss = self.max_loss.as_deref().map(|raw| cx.money(&format!("{p}max_loss"), raw)).transpose()?;
        if max_fills.is_none() && max_position_change.is_empty() && max_loss.is_none() {
            return Err(
                cx.err(&format!("{p}max_fills"), "set at least one of max_fills, max_position_change, max_loss")
            );
        }
        Ok(Runaway {
            window_ns: cx.ms(&format!("{p}window_ms"), self.window_ms)?,
            max_fills,
            max_position_change,
            max_loss,
            action: cx.action(&format!("{p}action"), self.action.as_deref(), AlertAction::Halt)?,
        })
    }
}

impl RawWash {
    fn resolve(&self, cx: &Cx) -> Result<WashTrade, PolicyError> {
        let p = "surveillance.wash_trade.";
        Ok(WashTrade {
            window_ns: cx.ms(&format!("{p}window_ms"), self.window_ms)?,
            price_ticks: cx.range(
                &format!("{p}price_ticks"),
                self.price_ticks.unwrap_or(0),
                0,
                1_000_000,
                " (ticks)",
            )?,
            action: cx.action(&format!("{p}action"), self.action.as_deref(), AlertAction::Halt)?,
        })
    }
}
