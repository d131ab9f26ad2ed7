//! Every field of the `[surveillance]` tables is validated: a bad one names
//! the file, the field and the range.
use bulkhead_surveillance::{AlertAction, FirmSurveillance, Rules};

fn err(text: &str) -> String {
    Rules::from_policy_toml(text, "p.toml", &crate::instruments()).unwrap_err().to_string()
}

#[test]
fn a_policy_without_the_table_has_no_rules_and_risk_fields_are_ignored() {
    let r = Rules::from_policy_toml("max_order_qty = \"1\"\n[instrument_limits]\n", "p.toml", &crate::instruments())
        .unwrap();
    assert!(r.is_empty());
}

#[test]
fn rules_resolve_to_each_instruments_lots() {
    let text = "[surveillance.spoofing]\nmin_qty = \"0.5\"\nmax_lifetime_ms = 500\nwindow_ms = 10000\nmin_cancels = 3\naction = \"reduce\"\n";
    let r = Rules::from_policy_toml(text, "p.toml", &crate::instruments()).unwrap();
    let s = r.spoofing.unwrap();
    assert_eq!(s.min_qty, vec![500, 50]);
    assert_eq!(
        (s.max_lifetime_ns, s.window_ns, s.min_cancels, s.action),
        (500_000_000, 10_000_000_000, 3, AlertAction::Reduce)
    );
}

#[test]
fn bad_fields_name_the_field_and_the_range() {
    let cases: &[(&str, &str)] = &[
        (
            "[surveillance.spoofing]\nmin_qty = \"0.5\"\nmax_lifetime_ms = 0\nwindow_ms = 10\nmin_cancels = 3\n",
            "field `surveillance.spoofing.max_lifetime_ms`: `0` must be between 1 and 86400000",
        ),
        (
            "[surveillance.spoofing]\nmin_qty = \"0.0005\"\nmax_lifetime_ms = 5\nwindow_ms = 10\nmin_cancels = 3\n",
            "field `surveillance.spoofing.min_qty`: `0.0005` is not a multiple of lot size",
        ),
        (
            "[surveillance.layering]\nmin_qty = \"1\"\nmax_lifetime_ms = 5\nwindow_ms = 10\nmin_levels = 1\n",
            "field `surveillance.layering.min_levels`: `1` must be between 2 and 64",
        ),
        ("[surveillance.quote_stuffing]\nwindow_ms = 1000\n", "surveillance.quote_stuffing.max_messages"),
        (
            "[surveillance.quote_stuffing]\nwindow_ms = 1000\nmax_messages = 10\naction = \"explode\"\n",
            "field `surveillance.quote_stuffing.action`: `explode` is not one of alert, reduce, halt, disable",
        ),
        (
            "[surveillance.runaway]\nwindow_ms = 1000\nmax_fills = 100001\n",
            "field `surveillance.runaway.max_fills`: `100001` must be between 1 and 100000",
        ),
        ("[surveillance.runaway]\nwindow_ms = 1000\n", "set at least one of max_fills"),
        (
            "[surveillance.runaway]\nwindow_ms = 1000\nmax_loss = \"-5\"\n",
            "field `surveillance.runaway.max_loss`: `-5` must be > 0",
        ),
        (
            "[surveillance.repeated_execution]\nfills = 1\nwindow_ms = 1000\n",
            "field `surveillance.repeated_execution.fills`: `1` must be between 2 and 100000",
        ),
        (
            "[surveillance.momentum_ignition]\nwindow_ms = 1000\nmin_aggressive_fills = 3\nmin_move_ticks = -1\nfollow_ms = 100\n",
            "field `surveillance.momentum_ignition.min_move_ticks`",
        ),
        ("[surveillance.wash_trade]\nwindow_ms = 1000\n", "field `surveillance.wash_trade`: is firm-wide"),
        ("[surveillance]\non_unevaluable = \"maybe\"\n", "field `surveillance.on_unevaluable`"),
        ("[surveillance.spoofing]\nmin_qty = \"1\"\n", "missing field"),
        ("[surveillance.bogus]\nx = 1\n", "unknown field `bogus`"),
        (
            "[surveillance.cancel_on_disconnect]\nmax_silence_ms = 90000000\n",
            "field `surveillance.cancel_on_disconnect.max_silence_ms`",
        ),
    ];
    for (text, want) in cases {
        let e = err(text);
        assert!(e.starts_with("p.toml: ") && e.contains(want), "{text}\n→ {e}\nwanted {want}");
    }
}

#[test]
fn the_firm_table_gives_defaults_a_strategy_overrides() {
    let firm = FirmSurveillance::from_toml(
        "max_position = \"1\"\n[surveillance.wash_trade]\nwindow_ms = 500\n[surveillance.runaway]\nwindow_ms = 1000\nmax_fills = 50\n[surveillance.quote_stuffing]\nwindow_ms = 1000\nmax_messages = 100\n",
        "firm.toml",
        &crate::instruments(),
    )
    .unwrap();
    assert_eq!(firm.wash_trade.as_ref().unwrap().window_ns, 500_000_000);
    let own = Rules::from_policy_toml(
        "[surveillance.runaway]\nwindow_ms = 1000\nmax_fills = 10\n",
        "p.toml",
        &crate::instruments(),
    )
    .unwrap();
    let r = own.or(&firm.defaults);
    assert_eq!(r.runaway.unwrap().max_fills, Some(10));
    assert_eq!(r.quote_stuffing.unwrap().max_messages, Some(100));
}
