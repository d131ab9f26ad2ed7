use crate::common;

use bulkhead_risk::{CollarReference, Policy, PolicyError};
use common::*;

fn load(overrides: &[(&str, &str)]) -> Result<Policy, PolicyError> {
    Policy::from_toml(&policy_text(overrides), "policies/mm.toml", &instruments())
}

#[test]
fn base_policy_resolves_to_integers() {
    let p = load(&[]).unwrap();
    let btc = p.limits(BTC).unwrap();
    assert_eq!((btc.max_order_qty.get(), btc.max_position.get()), (500, 2000));
    assert_eq!(btc.max_order_notional.get(), 40_000 * 100_000_000);
    let eth = p.limits(ETH).unwrap();
    assert_eq!((eth.max_order_qty.get(), eth.max_position.get()), (1000, 4000)); // override table, lot 0.01
    assert_eq!(eth.max_order_notional.get(), 40_000 * 100_000_000); // default
    assert_eq!(p.max_gross_notional.get(), 250_000 * 100_000_000);
    assert_eq!(p.max_net_notional.get(), 200_000 * 100_000_000);
    assert_eq!((p.price_collar_bps, p.collar_reference), (200, CollarReference::Mid));
    assert_eq!((p.max_open_orders, p.max_orders_per_sec, p.max_messages_per_sec), (20, 50, 200));
    assert_eq!(p.source, "policies/mm.toml");
}

#[test]
fn example_policy_file_loads() {
    let text = include_str!("../data/example_policy.toml");
    let p = Policy::from_toml(text, "tests/data/example_policy.toml", &instruments()).unwrap();
    assert_eq!(p.limits(BTC).unwrap().max_order_qty.get(), 500);
    assert_eq!(p.limits(ETH).unwrap().max_order_qty.get(), 1000);
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
    assert_eq!(p.limits(ETH).unwrap().max_position.get(), 4000);
}

#[test]
fn toml_syntax_error_names_file_and_line() {
    let err = Policy::from_toml("instruments = [\n", "bad.toml", &instruments()).unwrap_err().to_string();
    assert!(err.starts_with("bad.toml: line "), "{err}");
}

#[test]
fn new_optional_fields_resolve() {
    let p = load(&[
        ("duplicate_window_ms", "250"),
        ("loss_limit_reducing", r#""1000""#),
        ("loss_limit_halt", r#""2000""#),
        ("capital", r#""50000""#),
        ("initial_margin_bps", "{ perpetual = 1000, spot = 10000 }"),
        ("mmp_window_ms", "100"),
        ("mmp_qty", r#""1""#),
        ("mmp_action", r#""reducing""#),
    ])
    .unwrap();
    assert_eq!(p.duplicate_window_ns, Some(250_000_000));
    assert_eq!(
        (p.loss_limit_reducing.map(Money::get), p.loss_limit_halt.map(Money::get)),
        (Some(1000 * 100_000_000), Some(2000 * 100_000_000))
    );
    assert_eq!(p.capital.map(Money::get), Some(50_000 * 100_000_000));
    assert_eq!(p.initial_margin_bps, [Some(10_000), Some(1000), None, None]);
    assert_eq!(p.mmp_window_ns, Some(100_000_000));
    assert_eq!(p.limits(BTC).unwrap().mmp_qty.map(Lots::get), Some(1000));
    assert_eq!(p.limits(ETH).unwrap().mmp_qty.map(Lots::get), Some(100));
    assert_eq!(p.limits(BTC).unwrap().mmp_delta, None);
    assert_eq!(p.mmp_action, bulkhead_risk::MmpAction::Reducing);
    // all absent = all off
    let p = load(&[]).unwrap();
    assert_eq!((p.duplicate_window_ns, p.loss_limit_halt, p.capital, p.mmp_window_ns), (None, None, None, None));
}

#[test]
fn new_field_errors_name_file_and_field() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("loss_limit_reducing", r#""2000""#), ("loss_limit_halt", r#""2000""#)],
            "policies/mm.toml: field `loss_limit_reducing`: must be smaller than `loss_limit_halt`",
        ),
        (&[("loss_limit_halt", r#""-1""#)], "policies/mm.toml: field `loss_limit_halt`: `-1` must be > 0"),
        (
            &[("duplicate_window_ms", "0")],
            "policies/mm.toml: field `duplicate_window_ms`: `0` must be between 1 and 86400000 (milliseconds)",
        ),
        (
            &[("mmp_qty", r#""1""#)],
            "policies/mm.toml: field `mmp_window_ms`: missing (required when `mmp_qty`, `mmp_delta` or `mmp_vega` is set)",
        ),
        (
            &[("mmp_window_ms", "10")],
            "policies/mm.toml: field `mmp_window_ms`: set, but none of `mmp_qty`, `mmp_delta`, `mmp_vega` is",
        ),
        (
            &[("mmp_window_ms", "10"), ("mmp_delta", r#""0.0001""#)],
            "policies/mm.toml: field `mmp_delta`: `0.0001` is not a multiple of lot size 0.001 of BTC-USDT-PERP",
        ),
        (
            &[("mmp_window_ms", "10"), ("mmp_qty", r#""1""#), ("mmp_action", r#""pause""#)],
            "policies/mm.toml: field `mmp_action`: unknown value `pause` (expected one of reducing, halted)",
        ),
        (
            &[("initial_margin_bps", "{ perpetual = 1000 }")],
            "policies/mm.toml: field `initial_margin_bps`: needs `capital` (the margin is checked against it)",
        ),
        (
            &[("capital", r#""1""#), ("initial_margin_bps", "{ swap = 1000 }")],
            "policies/mm.toml: field `initial_margin_bps.swap`: unknown instrument kind `swap` (expected one of spot, perpetual, future, option)",
        ),
        (
            &[("capital", r#""1""#), ("initial_margin_bps", "{ spot = 0 }")],
            "policies/mm.toml: field `initial_margin_bps.spot`: `0` must be between 1 and 10000",
        ),
    ];
    for (ov, want) in cases {
        let got = load(ov).unwrap_err().to_string();
        assert_eq!(&got, want, "{ov:?}");
    }
}

#[test]
fn firm_policy_loads_and_validates() {
    use bulkhead_risk::{FirmPolicy, StpMode};
    let text = include_str!("../data/example_firm_policy.toml");
    let f = FirmPolicy::from_toml(text, "tests/data/example_firm_policy.toml", &instruments()).unwrap();
    assert_eq!(f.stp_mode, Some(StpMode::CancelOldest));
    assert_eq!(f.max_position(BTC).map(Lots::get), Some(5_000));
    assert_eq!(f.max_position(ETH).map(Lots::get), Some(10_000));
    assert_eq!(f.max_gross_notional.map(Money::get), Some(1_000_000 * 100_000_000));
    assert_eq!((f.max_orders_per_sec, f.max_messages_per_sec), (Some(200), Some(1000)));
    assert_eq!(
        (f.max_reference_age_ns, f.max_jump_bps, f.jump_cooldown_ns),
        (Some(5_000_000_000), Some(300), 2_000_000_000)
    );
    assert_eq!(FirmPolicy::from_toml("", "f.toml", &instruments()).unwrap(), FirmPolicy::off("f.toml"));
    let err = |t: &str| FirmPolicy::from_toml(t, "firm.toml", &instruments()).unwrap_err().to_string();
    assert_eq!(
        err("stp_mode = \"cancel_all\""),
        "firm.toml: field `stp_mode`: unknown value `cancel_all` (expected one of cancel_newest, cancel_oldest, cancel_both)"
    );
    assert_eq!(err("max_jump_bps = 10"), "firm.toml: field `jump_cooldown_ms`: missing (required with `max_jump_bps`)");
    assert_eq!(
        err("max_position = \"0.0001\""),
        "firm.toml: field `max_position`: `0.0001` is not a multiple of lot size 0.001 of BTC-USDT-PERP"
    );
    assert_eq!(
        err("[instrument_limits.\"DOGE\"]\nmax_position = \"1\""),
        "firm.toml: field `instrument_limits.\"DOGE\"`: unknown instrument `DOGE`"
    );
    assert!(err("stp = 1").starts_with("firm.toml: line 1: field `stp`: unknown field `stp`"), "{}", err("stp = 1"));
}
