//! Changing one numeric limit of a strategy's policy at run time (the
//! control plane's `SetLimit`).
//!
//! A change is made in two steps so the caller can journal it in between:
//! [`crate::RiskEngine::check_limit`] parses and validates the new value
//! exactly as the policy file would (same units, same ranges, errors naming
//! the field), refuses a value above the firm policy where the firm policy
//! caps that quantity, and returns a [`LimitChange`] holding the complete new
//! policy; nothing is changed yet. [`crate::RiskEngine::apply_limit`] then
//! puts the whole policy into force at once (it cannot fail, so nothing is
//! ever half-applied); the very next check uses it.
//!
//! ## Fields (names as in the policy TOML)
//!
//! | field | unit | range | firm cap |
//! |---|---|---|---|
//! | `max_order_qty` | quantity (lots of each allowed instrument) | > 0, multiple of the lot | firm `max_position` of the instrument |
//! | `max_order_notional` | money | > 0 | firm `max_gross_notional` |
//! | `max_position` | quantity | > 0, multiple of the lot | firm `max_position` of the instrument |
//! | `instrument_limits."SYM".max_order_qty` / `.max_order_notional` / `.max_position` | as above, one instrument | as above | as above |
//! | `max_gross_notional` | money | > 0 | firm `max_gross_notional` |
//! | `max_net_notional` | money | > 0 | firm `max_net_notional` |
//! | `price_collar_bps` | integer | 1 … 10000 | — |
//! | `max_open_orders` | integer | 1 … 1000000 | — |
//! | `max_orders_per_sec` | integer | 1 … 1000000 | firm `max_orders_per_sec` |
//! | `max_messages_per_sec` | integer | 1 … 1000000 | firm `max_messages_per_sec` |
//! | `loss_limit_reducing` | money | > 0, below `loss_limit_halt` | — |
//! | `loss_limit_halt` | money | > 0, above `loss_limit_reducing` | — |
//! | `capital` | money | > 0 | — |
//! | `max_delta`, `max_vega`, `max_expiry_notional` | money | > 0 | — |
//!
//! The top-level per-instrument fields (`max_order_qty`, `max_order_notional`,
//! `max_position`) set the limit of **every** allowed instrument, including
//! those the file gave an `instrument_limits` override. An order-qty or
//! order-notional cap larger than the firm's position or gross-notional cap
//! is refused because no order that large could ever pass R12.

use bulkhead_model::{Instrument, Money, format_money};

use crate::firm::FirmPolicy;
use crate::policy::{Ctx, MAX_COUNT, Policy, PolicyError, count_u32};

/// Fields that apply to every allowed instrument, or to one with the
/// `instrument_limits."SYM".` prefix.
pub const INSTRUMENT_LIMIT_FIELDS: [&str; 3] = ["max_order_qty", "max_order_notional", "max_position"];

/// Strategy-wide fields that can be changed at run time.
pub const STRATEGY_LIMIT_FIELDS: [&str; 12] = [
    "max_gross_notional",
    "max_net_notional",
    "price_collar_bps",
    "max_open_orders",
    "max_orders_per_sec",
    "max_messages_per_sec",
    "loss_limit_reducing",
    "loss_limit_halt",
    "capital",
    "max_delta",
    "max_vega",
    "max_expiry_notional",
];

/// Why a limit change was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("unknown strategy id {0}")]
    UnknownStrategy(u32),
    /// The field is not one that can be changed at run time (or names an
    /// instrument the strategy may not trade).
    #[error("`{field}` is not a limit that can be changed at run time ({hint})")]
    UnknownField { field: String, hint: String },
    /// The value is refused: not a number of the right kind, out of range,
    /// inconsistent with another field, or above the firm policy.
    #[error("field `{field}`: {problem}")]
    Invalid { field: String, problem: String },
}

impl LimitError {
    /// The policy field the error is about.
    pub fn field(&self) -> Option<&str> {
        match self {
            LimitError::UnknownStrategy(_) => None,
            LimitError::UnknownField { field, .. } | LimitError::Invalid { field, .. } => Some(field),
        }
    }
}

impl From<PolicyError> for LimitError {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::Field { field, problem, .. } => LimitError::Invalid { field, problem },
            PolicyError::Parse { message, .. } => LimitError::Invalid { field: String::new(), problem: message },
        }
    }
}

/// A validated change, ready for [`crate::RiskEngine::apply_limit`]. Only
/// [`crate::RiskEngine::check_limit`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitChange {
    pub(crate) strategy: u32,
    pub(crate) field: String,
    pub(crate) before: String,
    pub(crate) after: String,
    pub(crate) policy: Policy,
}

impl LimitChange {
    pub fn strategy(&self) -> u32 {
        self.strategy
    }
    /// Canonical field name (`instrument_limits."SYM".max_position` form for
    /// one instrument).
    pub fn field(&self) -> &str {
        &self.field
    }
    /// The value in force before, as text (`off` for an unset optional limit).
    pub fn before(&self) -> &str {
        &self.before
    }
    /// The new value, as text in the policy file's units.
    pub fn after(&self) -> &str {
        &self.after
    }
    /// The complete policy that will be in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

/// What a field name refers to.
enum Target {
    /// A per-instrument field for every allowed instrument (index into `Policy::instruments`: all).
    AllInstruments(&'static str),
    /// A per-instrument field for one instrument (index into `Policy::instruments`).
    OneInstrument(&'static str, usize),
    Strategy(&'static str),
}

fn instrument_field(name: &str) -> Option<&'static str> {
    INSTRUMENT_LIMIT_FIELDS.iter().copied().find(|f| *f == name)
}

fn hint() -> String {
    format!(
        "changeable: {}, {} and instrument_limits.\"SYMBOL\".<{}>",
        STRATEGY_LIMIT_FIELDS.join(", "),
        INSTRUMENT_LIMIT_FIELDS.join(", "),
        INSTRUMENT_LIMIT_FIELDS.join("|")
    )
}

fn canonical_one(sym: &str, field: &str) -> String {
    format!("instrument_limits.\"{sym}\".{field}")
}

/// Resolve a field name against a policy.
fn target(policy: &Policy, instruments: &[Instrument], field: &str) -> Result<Target, LimitError> {
    let unknown = || LimitError::UnknownField { field: field.to_string(), hint: hint() };
    if let Some(rest) = field.strip_prefix("instrument_limits.") {
        // `"SYM".field` or `SYM.field` (a symbol with dots needs the quotes).
        let (sym, name) = if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').ok_or_else(unknown)?;
            (&q[..end], q[end + 1..].strip_prefix('.').ok_or_else(unknown)?)
        } else {
            rest.rsplit_once('.').ok_or_else(unknown)?
        };
        let name = instrument_field(name).ok_or_else(unknown)?;
        let Some(inst) = instruments.iter().find(|i| i.symbol == sym) else {
            return Err(LimitError::UnknownField {
                field: field.to_string(),
                hint: format!("unknown instrument `{sym}`"),
            });
        };
        let Some(k) = policy.instruments.iter().position(|l| l.instrument == inst.id) else {
            return Err(LimitError::UnknownField {
                field: field.to_string(),
                hint: format!("`{sym}` is not listed in the strategy's `instruments`"),
            });
        };
        return Ok(Target::OneInstrument(name, k));
    }
    if let Some(name) = instrument_field(field) {
        return Ok(Target::AllInstruments(name));
    }
    STRATEGY_LIMIT_FIELDS.iter().copied().find(|f| *f == field).map(Target::Strategy).ok_or_else(unknown)
}

fn instrument_by_id(instruments: &[Instrument], id: u32) -> Option<&Instrument> {
    instruments.iter().find(|i| i.id == id)
}

fn money_text(v: Money) -> String {
    format_money(v.get())
}

fn opt_money_text(v: Option<Money>) -> String {
    v.map_or_else(|| "off".to_string(), money_text)
}

/// Value of one per-instrument field of one instrument, as text.
fn instrument_value(policy: &Policy, k: usize, inst: &Instrument, name: &str) -> String {
    let l = &policy.instruments[k];
    match name {
        "max_order_qty" => inst.format_qty(l.max_order_qty.get()),
        "max_position" => inst.format_qty(l.max_position.get()),
        _ => money_text(l.max_order_notional),
    }
}

fn strategy_value(policy: &Policy, name: &str) -> String {
    match name {
        "max_gross_notional" => money_text(policy.max_gross_notional),
        "max_net_notional" => money_text(policy.max_net_notional),
        "price_collar_bps" => policy.price_collar_bps.to_string(),
        "max_open_orders" => policy.max_open_orders.to_string(),
        "max_orders_per_sec" => policy.max_orders_per_sec.to_string(),
        "max_messages_per_sec" => policy.max_messages_per_sec.to_string(),
        "loss_limit_reducing" => opt_money_text(policy.loss_limit_reducing),
        "loss_limit_halt" => opt_money_text(policy.loss_limit_halt),
        "capital" => opt_money_text(policy.capital),
        "max_delta" => opt_money_text(policy.max_delta),
        "max_vega" => opt_money_text(policy.max_vega),
        _ => opt_money_text(policy.max_expiry_notional),
    }
}

/// Every changeable limit of `policy` with its value in force, as text in the
/// policy file's units, by field name. Per-instrument fields appear once per
/// allowed instrument (`instrument_limits."SYM".field`) and once at the top
/// level (the value if every instrument has the same, else `per instrument`).
pub(crate) fn values(policy: &Policy, instruments: &[Instrument]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in INSTRUMENT_LIMIT_FIELDS {
        let mut all: Option<String> = None;
        let mut uniform = true;
        for (k, l) in policy.instruments.iter().enumerate() {
            let Some(inst) = instrument_by_id(instruments, l.instrument) else { continue };
            let v = instrument_value(policy, k, inst, name);
            match &all {
                None => all = Some(v.clone()),
                Some(a) if *a != v => uniform = false,
                Some(_) => {}
            }
            out.push((canonical_one(&inst.symbol, name), v));
        }
        let top = match (all, uniform) {
            (Some(v), true) => v,
            _ => "per instrument".to_string(),
        };
        out.push((name.to_string(), top));
    }
    for name in STRATEGY_LIMIT_FIELDS {
        out.push((name.to_string(), strategy_value(policy, name)));
    }
    out.sort();
    out
}

fn integer(field: &str, raw: &str, max: i64, cx: &Ctx<'_>) -> Result<i64, LimitError> {
    let v: i64 = raw
        .trim()
        .parse()
        .map_err(|_| LimitError::Invalid { field: field.to_string(), problem: format!("`{raw}` is not an integer") })?;
    Ok(cx.count(field, Some(v), max)?)
}

fn above_firm(field: &str, raw: &str, firm: &FirmPolicy, firm_field: &str, cap: String) -> LimitError {
    LimitError::Invalid {
        field: field.to_string(),
        problem: format!("`{raw}` is above the firm policy's `{firm_field}` of {cap} ({})", firm.source),
    }
}

/// Build the policy that results from setting `field` to `raw` (validated as
/// the policy file would be, and against the firm policy). Returns the
/// canonical field name, the old and new values as text, and the new policy.
pub(crate) fn prepare(
    policy: &Policy,
    firm: Option<&FirmPolicy>,
    instruments: &[Instrument],
    field: &str,
    raw: &str,
) -> Result<(String, String, String, Policy), LimitError> {
    let raw = raw.trim();
    let cx = Ctx { file: &policy.source };
    let mut next = policy.clone();
    let base = Base { policy, firm, instruments, cx: &cx };
    match target(policy, instruments, field)? {
        Target::AllInstruments(name) => {
            let all: Vec<usize> = (0..policy.instruments.len()).collect();
            per_instrument(&base, name, name.to_string(), &all, raw, next)
        }
        Target::OneInstrument(name, k) => {
            let sym = instrument_by_id(instruments, policy.instruments[k].instrument)
                .map_or_else(String::new, |i| i.symbol.clone());
            per_instrument(&base, name, canonical_one(&sym, name), &[k], raw, next)
        }
        Target::Strategy(name) => {
            let firm_cap = |cap: Option<i64>, firm_field: &str, v: i64, text: &dyn Fn(i64) -> String| match firm {
                Some(f) if cap.is_some_and(|c| v > c) => {
                    Err(above_firm(name, raw, f, firm_field, text(cap.unwrap_or_default())))
                }
                _ => Ok(()),
            };
            match name {
                "max_gross_notional" => {
                    let m = cx.money(name, raw)?;
                    let cap = firm.and_then(|f| f.max_gross_notional).map(Money::get);
                    firm_cap(cap, name, m.get(), &format_money)?;
                    next.max_gross_notional = m;
                }
                "max_net_notional" => {
                    let m = cx.money(name, raw)?;
                    let cap = firm.and_then(|f| f.max_net_notional).map(Money::get);
                    firm_cap(cap, name, m.get(), &format_money)?;
                    next.max_net_notional = m;
                }
                "price_collar_bps" => next.price_collar_bps = integer(name, raw, 10_000, &cx)?,
                "max_open_orders" => next.max_open_orders = count_u32(integer(name, raw, MAX_COUNT, &cx)?),
                "max_orders_per_sec" => {
                    let v = integer(name, raw, MAX_COUNT, &cx)?;
                    let cap = firm.and_then(|f| f.max_orders_per_sec).map(i64::from);
                    firm_cap(cap, name, v, &|c| c.to_string())?;
                    next.max_orders_per_sec = count_u32(v);
                }
                "max_messages_per_sec" => {
                    let v = integer(name, raw, MAX_COUNT, &cx)?;
                    let cap = firm.and_then(|f| f.max_messages_per_sec).map(i64::from);
                    firm_cap(cap, name, v, &|c| c.to_string())?;
                    next.max_messages_per_sec = count_u32(v);
                }
                "loss_limit_reducing" => {
                    let m = cx.money(name, raw)?;
                    if let Some(h) = next.loss_limit_halt
                        && m >= h
                    {
                        return Err(cx
                            .err(name, format!("must be smaller than `loss_limit_halt` ({})", money_text(h)))
                            .into());
                    }
                    next.loss_limit_reducing = Some(m);
                }
                "loss_limit_halt" => {
                    let m = cx.money(name, raw)?;
                    if let Some(r) = next.loss_limit_reducing
                        && r >= m
                    {
                        return Err(cx
                            .err(name, format!("must be larger than `loss_limit_reducing` ({})", money_text(r)))
                            .into());
                    }
                    next.loss_limit_halt = Some(m);
                }
                "capital" => next.capital = Some(cx.money(name, raw)?),
                "max_delta" => next.max_delta = Some(cx.money(name, raw)?),
                "max_vega" => next.max_vega = Some(cx.money(name, raw)?),
                _ => next.max_expiry_notional = Some(cx.money(name, raw)?),
            }
            Ok((name.to_string(), strategy_value(policy, name), strategy_value(&next, name), next))
        }
    }
}

/// What a limit change is checked against: the policy in force, the firm
/// policy, the universe, and the policy file (for messages).
struct Base<'a> {
    policy: &'a Policy,
    firm: Option<&'a FirmPolicy>,
    instruments: &'a [Instrument],
    cx: &'a Ctx<'a>,
}

/// Set a per-instrument field `name` of the instruments at `indices` of
/// `policy.instruments` in `next`.
fn per_instrument(
    base: &Base<'_>,
    name: &str,
    canonical: String,
    indices: &[usize],
    raw: &str,
    mut next: Policy,
) -> Result<(String, String, String, Policy), LimitError> {
    let Base { policy, firm, instruments, cx } = *base;
    let mut before = None;
    let mut after = None;
    for &k in indices {
        let Some(inst) = instrument_by_id(instruments, policy.instruments[k].instrument) else { continue };
        let old = instrument_value(policy, k, inst, name);
        before = match before {
            None => Some(old),
            Some(b) if b != old => Some("per instrument".to_string()),
            b => b,
        };
        let l = &mut next.instruments[k];
        match name {
            "max_order_notional" => {
                let m = cx.money(&canonical, raw)?;
                if let Some(f) = firm
                    && let Some(cap) = f.max_gross_notional
                    && m > cap
                {
                    return Err(above_firm(&canonical, raw, f, "max_gross_notional", money_text(cap)));
                }
                l.max_order_notional = m;
                after = Some(money_text(m));
            }
            _ => {
                let lots = cx.lots(&canonical, raw, inst)?;
                if let Some(f) = firm
                    && let Some(cap) = f.max_position(inst.id)
                    && lots > cap
                {
                    let cap = format!("{} for {}", inst.format_qty(cap.get()), inst.symbol);
                    return Err(above_firm(&canonical, raw, f, "max_position", cap));
                }
                if name == "max_order_qty" {
                    l.max_order_qty = lots;
                } else {
                    l.max_position = lots;
                }
                after = Some(inst.format_qty(lots.get()));
            }
        }
    }
    let after = after.ok_or_else(|| LimitError::Invalid {
        field: canonical.clone(),
        problem: "the strategy has no instrument this engine knows".into(),
    })?;
    Ok((canonical, before.unwrap_or_default(), after, next))
}
