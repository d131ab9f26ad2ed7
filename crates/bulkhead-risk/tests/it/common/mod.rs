#![allow(dead_code)]

use bulkhead_abi::{OrderRequest, OrderType, Side, TimeInForce};
use bulkhead_model::{Instrument, InstrumentKind, InstrumentSpec};
pub use bulkhead_model::{Lots, Money, Ticks};
use bulkhead_risk::{Policy, RiskEngine};

pub const BTC: u32 = 0;
pub const ETH: u32 = 1;

pub fn instruments() -> Vec<Instrument> {
    let spec = |symbol: &str, tick: &str, lot: &str| InstrumentSpec {
        symbol: symbol.into(),
        kind: InstrumentKind::Perpetual,
        tick_size: tick.into(),
        lot_size: lot.into(),
        multiplier: "1".into(),
        ..Default::default()
    };
    vec![
        Instrument::from_spec(BTC, &spec("BTC-USDT-PERP", "0.1", "0.001")).unwrap(),
        Instrument::from_spec(ETH, &spec("ETH-USDT-PERP", "0.01", "0.01")).unwrap(),
    ]
}

/// Base policy as (key, TOML value) lines; overrides replace or add keys,
/// an empty value removes the key.
pub const BASE: &[(&str, &str)] = &[
    ("instruments", r#"["BTC-USDT-PERP", "ETH-USDT-PERP"]"#),
    ("sides", r#"["buy", "sell"]"#),
    ("order_types", r#"["limit", "market"]"#),
    ("time_in_force", r#"["gtc", "ioc", "fok", "post_only"]"#),
    ("max_order_qty", r#""0.5""#),
    ("max_order_notional", r#""40000""#),
    ("price_collar_bps", "200"),
    ("collar_reference", r#""mid""#),
    ("max_position", r#""2""#),
    ("max_gross_notional", r#""250000""#),
    ("max_net_notional", r#""200000""#),
    ("max_open_orders", "20"),
    ("max_orders_per_sec", "50"),
    ("max_messages_per_sec", "200"),
];

/// ETH override table appended to every generated policy.
pub const ETH_TABLE: &str = "\n[instrument_limits.\"ETH-USDT-PERP\"]\nmax_order_qty = \"10\"\nmax_position = \"40\"\n";

pub fn policy_text(overrides: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in BASE {
        let v = overrides.iter().find(|(ok, _)| ok == k).map_or(*v, |(_, ov)| *ov);
        if !v.is_empty() {
            out.push_str(&format!("{k} = {v}\n"));
        }
    }
    for (k, v) in overrides {
        if !BASE.iter().any(|(bk, _)| bk == k) {
            out.push_str(&format!("{k} = {v}\n"));
        }
    }
    if out.lines().any(|l| l.starts_with("instruments") && l.contains("ETH-USDT-PERP")) {
        out.push_str(ETH_TABLE);
    }
    out
}

pub fn policy(overrides: &[(&str, &str)]) -> Policy {
    Policy::from_toml(&policy_text(overrides), "test.toml", &instruments()).unwrap()
}

/// Engine with one strategy (id 0) and quotes: BTC mid 65000.0, ETH mid 3000.00.
pub fn engine(overrides: &[(&str, &str)]) -> RiskEngine {
    let mut e = RiskEngine::new(instruments());
    assert_eq!(e.add_strategy(policy(overrides)), 0);
    e.on_quote(BTC, Ticks::new(649_995), Ticks::new(650_005));
    e.on_quote(ETH, Ticks::new(299_999), Ticks::new(300_001));
    e
}

pub fn limit(instrument: u32, side: Side, price: i64, qty: i64) -> OrderRequest {
    OrderRequest {
        instrument,
        side,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        reduce_only: false,
        price,
        qty,
        tag: 0,
    }
}

pub fn buy(price: i64, qty: i64) -> OrderRequest {
    limit(BTC, Side::Buy, price, qty)
}

pub fn sell(price: i64, qty: i64) -> OrderRequest {
    limit(BTC, Side::Sell, price, qty)
}

pub fn market(instrument: u32, side: Side, qty: i64) -> OrderRequest {
    OrderRequest { order_type: OrderType::Market, tif: TimeInForce::Ioc, price: 0, ..limit(instrument, side, 1, qty) }
}

/// The record of a check's result (`ACCEPTED` for `Ok`), for assertions.
pub trait Seen {
    fn seen(&self) -> bulkhead_risk::Outcome;
}

impl<T> Seen for Result<T, bulkhead_risk::Decision> {
    fn seen(&self) -> bulkhead_risk::Outcome {
        bulkhead_risk::Outcome::from(self)
    }
}

/// Raw lots of a `(buy, sell)` pair, for comparing with literals.
pub fn raw2((a, b): (Lots, Lots)) -> (i64, i64) {
    (a.get(), b.get())
}

/// Raw lots of a `(position, buy, sell)` triple, for comparing with literals.
pub fn raw3((a, b, c): (Lots, Lots, Lots)) -> (i64, i64, i64) {
    (a.get(), b.get(), c.get())
}
