mod common;

use bulkhead_risk::{CollarReference, Policy, PolicyError};
use common::*;

fn load(overrides: &[(&str, &str)]) -> Result<Policy, PolicyError> {
    Policy::from_toml(&policy_text(overrides), "policies/mm.toml", &instruments())
}

#[test]
fn base_policy_resolves_to_integers() {
    let p = load(&[]).unwrap();
    let btc = p.limits(BTC).unwrap();
    assert_eq!((btc.max_order_qty, btc.max_position), (500, 2000));
    assert_eq!(btc.max_order_notional, 40_000 * 100_000_000);
    let eth = p.limits(ETH).unwrap();
    assert_eq!((eth.max_order_qty, eth.max_position), (1000, 4000)); // override table, lot 0.01
    assert_eq!(eth.max_order_notional, 40_000 * 100_000_000); // default
    assert_eq!(p.max_gross_notional, 250_000 * 100_000_000);
    assert_eq!(p.max_net_notional, 200_000 * 100_000_000);
    assert_eq!((p.price_collar_bps, p.collar_reference), (200, CollarReference::Mid));
    assert_eq!((p.max_open_orders, p.max_orders_per_sec, p.max_messages_per_sec), (20, 50, 200));
    assert_eq!(p.source, "policies/mm.toml");
}

#[test]
fn example_policy_file_loads() {
    let text = include_str!("data/example_policy.toml");
    let p = Policy::from_toml(text, "tests/data/example_policy.toml", &instruments()).unwrap();
    assert_eq!(p.limits(BTC).unwrap().max_order_qty, 500);
    assert_eq!(p.limits(ETH).unwrap().max_order_qty, 1000);
}

/// (overrides, exact error text or a substring marked with a leading `~`).
#[test]
fn load_errors_name_file_and_field() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("max_order_qty", r#""0.0005""#)],
            "policies/mm.toml: field `max_order_qty`: `0.0005` is not a multiple of lot size 0.001 of BTC-USDT-PERP",
        ),
        (&[("max_order_qty", r#""0.5x""#)], "~policies/mm.toml: field `max_order_qty`: `0.5x` is not a decimal number"),
        (&[("max_position", r#""-1""#)], "policies/mm.toml: field `max_position`: `-1` must be > 0"),
        (&[("max_position", r#""0""#)], "policies/mm.toml: field `max_position`: `0` must be > 0"),
        (
            &[("max_gross_notional", r#""1.000000001""#)],
            "policies/mm.toml: field `max_gross_notional`: `1.000000001` is not a multiple of 0.00000001 (8 decimals at most)",
        ),
        (
            &[("max_net_notional", r#""lots""#)],
            "~policies/mm.toml: field `max_net_notional`: `lots` is not a decimal number",
        ),
        (&[("max_qty", r#""1""#)], "~policies/mm.toml: line 15: field `max_qty`: unknown field `max_qty`"),
        (
            &[("instruments", r#"["BTC-USDT-PERP", "DOGE"]"#)],
            "policies/mm.toml: field `instruments`: unknown instrument `DOGE`",
        ),
        (
            &[("sides", r#"["buy", "hold"]"#)],
            "policies/mm.toml: field `sides`: unknown value `hold` (expected one of buy, sell)",
        ),
        (&[("order_types", r#"["stop"]"#)], "~field `order_types`: unknown value `stop`"),
        (&[("time_in_force", r#"["day"]"#)], "~field `time_in_force`: unknown value `day`"),
        (&[("sides", "[]")], "policies/mm.toml: field `sides`: must not be empty"),
        (&[("collar_reference", r#""vwap""#)], "~field `collar_reference`: unknown value `vwap`"),
        (&[("price_collar_bps", "0")], "policies/mm.toml: field `price_collar_bps`: `0` must be between 1 and 10000"),
        (&[("max_open_orders", "-3")], "~field `max_open_orders`: `-3` must be between 1 and"),
        (&[("max_orders_per_sec", "")], "policies/mm.toml: field `max_orders_per_sec`: missing (required)"),
        (&[("max_order_qty", "0.5")], "~field `max_order_qty`: invalid type"),
        (&[("max_open_orders", r#""20""#)], "~field `max_open_orders`: invalid type"),
        (&[("instruments", r#"["BTC-USDT-PERP"]"#), ("max_order_qty", "")], "~field `max_order_qty`: missing"),
    ];
    for (overrides, want) in cases {
        let err = load(overrides).expect_err(want).to_string();
        match want.strip_prefix('~') {
            Some(sub) => assert!(err.contains(sub), "want substring `{sub}`\n got `{err}`"),
            None => assert_eq!(&err, want),
        }
    }
}

#[test]
fn override_table_errors_name_the_nested_field() {
    let base = policy_text(&[]);
    let cases = [
        (
            "\n[instrument_limits.\"ETH-USDT-PERP\"]\nmax_order_qty = \"0.001\"\n",
            "field `instrument_limits.\"ETH-USDT-PERP\".max_order_qty`: `0.001` is not a multiple of lot size 0.01 of ETH-USDT-PERP",
        ),
        ("\n[instrument_limits.\"SOL-USDT-PERP\"]\nmax_position = \"1\"\n", "is not listed in `instruments`"),
        ("\n[instrument_limits.\"ETH-USDT-PERP\"]\nmax_pos = \"1\"\n", "field `max_pos`: unknown field `max_pos`"),
    ];
    for (table, want) in cases {
        let text = base.replace(ETH_TABLE, table);
        let err = Policy::from_toml(&text, "p.toml", &instruments()).unwrap_err().to_string();
        assert!(err.starts_with("p.toml: "), "{err}");
        assert!(err.contains(want), "want `{want}`\n got `{err}`");
    }
}

#[test]
fn missing_default_is_fine_when_every_instrument_has_an_override() {
    let text = policy_text(&[("instruments", r#"["ETH-USDT-PERP"]"#), ("max_order_qty", ""), ("max_position", "")]);
    let p = Policy::from_toml(&text, "p.toml", &instruments()).unwrap();
    assert!(p.limits(BTC).is_none());
    assert_eq!(p.limits(ETH).unwrap().max_position, 4000);
}

#[test]
fn toml_syntax_error_names_file_and_line() {
    let err = Policy::from_toml("instruments = [\n", "bad.toml", &instruments()).unwrap_err().to_string();
    assert!(err.starts_with("bad.toml: line "), "{err}");
}
