//! Each rule fires on its pattern, with its evidence, and stays quiet on the
//! honest look-alike next to it. Times are event time (ns).
use bulkhead_model::Side;
use bulkhead_surveillance::{Alert, AlertAction, FillSeen, FirmSurveillance, OrderSeen, Rule, Rules, Surveillance};

const MS: u64 = 1_000_000;

fn surv(strategy_rules: &str, firm: &str, strategies: u32) -> Surveillance {
    let insts = crate::instruments();
    let firm = FirmSurveillance::from_toml(firm, "firm.toml", &insts).unwrap();
    let own = Rules::from_policy_toml(strategy_rules, "p.toml", &insts).unwrap();
    let mut s = Surveillance::new(insts, firm);
    for sid in 0..strategies {
        s.add_strategy(sid, &own);
    }
    s.on_quote(0, 650_000, 650_010);
    s
}

fn order(s: &mut Surveillance, ts: u64, sid: u32, id: u64, side: Side, price: i64, qty: i64) {
    s.on_order(ts, &OrderSeen { sid, id, instrument: 0, side, price, qty, accepted: true });
}

#[expect(clippy::too_many_arguments, reason = "one fill, field by field, reads best in the scripted tables")]
fn fill(s: &mut Surveillance, ts: u64, sid: u32, id: u64, side: Side, price: i64, qty: i64, maker: bool) {
    s.on_fill(ts, &FillSeen { sid, id, instrument: 0, side, price, qty, maker, fee: 0, remaining: 0 });
}

fn alerts(s: &mut Surveillance) -> Vec<Alert> {
    s.take_alerts().collect()
}

const SPOOF: &str =
    "[surveillance.spoofing]\nmin_qty = \"0.02\"\nmax_lifetime_ms = 200\nwindow_ms = 5000\nmin_cancels = 3\n";

/// The spoofer: three 50-lot bids cancelled 50 ms after placing, while it sells 1 lot.
fn spoof_pattern(s: &mut Surveillance, lifetime_ms: u64, qty: i64) {
    let mut t = 1_000 * MS;
    for k in 0..3u64 {
        order(s, t, 0, 10 + k, Side::Buy, 650_000, qty);
        if k == 1 {
            order(s, t, 0, 99, Side::Sell, 650_010, 1);
            fill(s, t + MS, 0, 99, Side::Sell, 650_010, 1, true);
        }
        s.on_order_closed(t + lifetime_ms * MS, 0, 10 + k, true);
        t += 300 * MS;
    }
}

#[test]
fn spoofing_fires_with_its_cancels_and_the_opposite_fill_as_evidence() {
    let mut s = surv(SPOOF, "", 1);
    spoof_pattern(&mut s, 50, 50);
    let a = alerts(&mut s);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!((a[0].rule, a[0].action, a[0].observed, a[0].threshold), (Rule::Spoofing, AlertAction::Halt, 3, 3));
    let ids: Vec<u64> = a[0].orders.iter().map(|o| o.id).collect();
    assert_eq!(ids, vec![10, 11, 12, 99]);
    assert!(a[0].text.contains("3 large buy orders cancelled unfilled"), "{}", a[0].text);
}

#[test]
fn spoofing_stays_quiet_on_slow_cancels_small_orders_or_no_opposite_trade() {
    for (lifetime, qty) in [(250, 50), (50, 19)] {
        let mut s = surv(SPOOF, "", 1);
        spoof_pattern(&mut s, lifetime, qty);
        assert!(alerts(&mut s).is_empty(), "lifetime {lifetime} qty {qty}");
    }
    // Quick large cancels but no trade on the other side: a market maker pulling quotes.
    let mut s = surv(SPOOF, "", 1);
    for k in 0..10 {
        order(&mut s, k * 100 * MS, 0, k, Side::Buy, 650_000, 50);
        s.on_order_closed(k * 100 * MS + MS, 0, k, true);
    }
    fill(&mut s, 2_000 * MS, 0, 50, Side::Buy, 650_000, 1, true);
    assert!(alerts(&mut s).is_empty());
}

#[test]
fn layering_counts_levels_resting_at_once() {
    let rule = "[surveillance.layering]\nmin_qty = \"0.02\"\nmax_lifetime_ms = 200\nwindow_ms = 5000\nmin_levels = 4\naction = \"alert\"\n";
    for (levels, fires) in [(4, true), (3, false)] {
        let mut s = surv(rule, "", 1);
        let t = 1_000 * MS;
        for k in 0..levels {
            order(&mut s, t, 0, 10 + k as u64, Side::Sell, 650_010 + k, 30);
        }
        fill(&mut s, t + MS, 0, 99, Side::Buy, 650_000, 1, false);
        for k in 0..levels {
            s.on_order_closed(t + 20 * MS, 0, 10 + k as u64, true);
        }
        let a = alerts(&mut s);
        assert_eq!(a.len(), usize::from(fires), "{levels} levels: {a:?}");
        if fires {
            assert_eq!((a[0].rule, a[0].observed, a[0].action), (Rule::Layering, 4, AlertAction::Alert));
            assert_eq!(a[0].orders.len(), 5);
        }
    }
}

#[test]
fn quote_stuffing_and_order_to_trade() {
    let rule = "[surveillance.quote_stuffing]\nwindow_ms = 1000\nmax_messages = 100\nmax_order_to_trade = 20\nmin_messages = 50\naction = \"reduce\"\n";
    // 90 messages a second with a fill every 4: honest.
    let mut s = surv(rule, "", 1);
    for k in 0..1000u64 {
        let t = k * 11 * MS;
        order(&mut s, t, 0, k, Side::Buy, 650_000, 1);
        if k % 4 == 0 {
            fill(&mut s, t, 0, k, Side::Buy, 650_000, 1, true);
        }
    }
    assert!(alerts(&mut s).is_empty());
    // A burst of 120 cancels in 100 ms.
    for k in 0..120u64 {
        s.on_cancel_request(20_000 * MS + k * MS, 0);
    }
    let a = alerts(&mut s);
    let rules: Vec<Rule> = a.iter().map(|a| a.rule).collect();
    assert!(rules.contains(&Rule::QuoteStuffing), "{a:?}");
    assert!(a.iter().all(|a| a.action == AlertAction::Reduce));
    // Muted for its window: one alert, not one per message.
    assert_eq!(rules.iter().filter(|r| **r == Rule::QuoteStuffing).count(), 1);
    // 60 orders in a second without a fill: order-to-trade.
    let mut s = surv(rule, "", 1);
    for k in 0..60u64 {
        order(&mut s, k * 10 * MS, 0, k, Side::Buy, 650_000, 1);
    }
    let a = alerts(&mut s);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!((a[0].rule, a[0].threshold), (Rule::OrderToTrade, 20));
}

#[test]
fn wash_trades_across_the_firms_strategies() {
    let firm = "[surveillance.wash_trade]\nwindow_ms = 100\nprice_ticks = 0\n";
    let mut s = surv("", firm, 3);
    // Same strategy both sides: not a cross-strategy wash (venue STP's job).
    fill(&mut s, 10 * MS, 0, 1, Side::Buy, 650_005, 5, true);
    fill(&mut s, 10 * MS, 0, 2, Side::Sell, 650_005, 5, false);
    // Different strategies, different qty or price or too far apart in time.
    fill(&mut s, 300 * MS, 1, 1, Side::Sell, 650_005, 4, false);
    fill(&mut s, 600 * MS, 1, 2, Side::Sell, 650_006, 5, false);
    fill(&mut s, 600 * MS, 2, 1, Side::Buy, 650_005, 5, true);
    fill(&mut s, 800 * MS, 1, 3, Side::Sell, 650_005, 5, false);
    // Both resting at one price, both filled by the market: not with each other.
    fill(&mut s, 850 * MS, 1, 4, Side::Sell, 650_005, 6, true);
    fill(&mut s, 851 * MS, 2, 5, Side::Buy, 650_005, 6, true);
    assert!(alerts(&mut s).is_empty());
    // Strategy 1 sells exactly what strategy 2 buys, at its price, 1 ms later.
    fill(&mut s, 1_000 * MS, 2, 7, Side::Buy, 650_005, 5, true);
    fill(&mut s, 1_001 * MS, 1, 8, Side::Sell, 650_005, 5, false);
    let a = alerts(&mut s);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!((a[0].rule, a[0].sid, a[0].other), (Rule::WashTrade, 1, Some(2)));
    let ev: Vec<(u32, u64)> = a[0].orders.iter().map(|o| (o.sid, o.id)).collect();
    assert_eq!(ev, vec![(1, 8), (2, 7)]);
}

#[test]
fn momentum_ignition_needs_the_move_and_the_passive_exit() {
    let rule = "[surveillance.momentum_ignition]\nwindow_ms = 2000\nmin_aggressive_fills = 3\nmin_move_ticks = 20\nfollow_ms = 3000\n";
    let run = |passive_side: Side, move_ticks: i64| {
        let mut s = surv(rule, "", 1);
        for k in 0..3 {
            let t = (1_000 + k * 100) as u64 * MS;
            let bid = 650_000 + k * move_ticks;
            s.on_quote(0, bid, bid + 10);
            fill(&mut s, t, 0, k as u64 + 1, Side::Buy, bid + 10, 2, false);
        }
        fill(&mut s, 2_500 * MS, 0, 9, passive_side, 650_050, 2, true);
        alerts(&mut s)
    };
    let a = run(Side::Sell, 100);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].rule, Rule::MomentumIgnition);
    assert_eq!(a[0].orders.iter().map(|o| o.id).collect::<Vec<_>>(), vec![1, 2, 3, 9]);
    // No move, or a passive fill on the same side (a trend follower adding): quiet.
    assert!(run(Side::Sell, 0).is_empty());
    assert!(run(Side::Buy, 100).is_empty());
}

#[test]
fn momentum_ignition_without_a_quote_is_unevaluable_once_and_refuses() {
    let insts = crate::instruments();
    let own = Rules::from_policy_toml(
        "[surveillance.momentum_ignition]\nwindow_ms = 2000\nmin_aggressive_fills = 3\nmin_move_ticks = 20\nfollow_ms = 3000\n",
        "p.toml",
        &insts,
    )
    .unwrap();
    let mut s = Surveillance::new(insts, FirmSurveillance::default());
    s.add_strategy(0, &own);
    s.on_trade(1, 300_000);
    for k in 0..5 {
        s.on_fill(
            k * MS,
            &FillSeen {
                sid: 0,
                id: k,
                instrument: 1,
                side: Side::Buy,
                price: 300_000,
                qty: 1,
                maker: false,
                fee: 0,
                remaining: 0,
            },
        );
    }
    let a = alerts(&mut s);
    assert_eq!(a.len(), 1, "said once: {a:?}");
    assert_eq!((a[0].rule, a[0].action), (Rule::Unevaluable, AlertAction::Halt));
    assert!(a[0].text.contains("momentum_ignition cannot be evaluated"), "{}", a[0].text);
}

#[test]
fn runaway_fills_position_and_loss() {
    let rule = "[surveillance.runaway]\nwindow_ms = 60000\nmax_fills = 100\nmax_position_change = \"0.5\"\nmax_loss = \"200\"\naction = \"halt\"\n";
    // Knight: a fill every 100 ms, alternating sides, flat position, no loss.
    let mut s = surv(rule, "", 1);
    for k in 0..101u64 {
        let side = if k % 2 == 0 { Side::Buy } else { Side::Sell };
        fill(&mut s, k * 100 * MS, 0, k, side, 650_000, 1, false);
    }
    let a = alerts(&mut s);
    assert_eq!(a.iter().map(|a| a.rule).collect::<Vec<_>>(), vec![Rule::RunawayFills], "{a:?}");
    // Position creeping 0.01 a fill: 51 fills = 0.51 within the window.
    let mut s = surv(rule, "", 1);
    for k in 0..51u64 {
        fill(&mut s, k * 100 * MS, 0, k, Side::Buy, 650_000, 10, false);
    }
    let a = alerts(&mut s);
    assert_eq!(a.iter().map(|a| a.rule).collect::<Vec<_>>(), vec![Rule::RunawayPosition], "{a:?}");
    assert_eq!((a[0].observed, a[0].threshold), (510, 500));
    // Buy 0.4 BTC at 65 000, the mid falls 600 USDT: loss 240 > 200.
    let mut s = surv(rule, "", 1);
    fill(&mut s, MS, 0, 1, Side::Buy, 650_000, 400, false);
    s.on_quote(0, 644_000, 644_000);
    fill(&mut s, 2 * MS, 0, 2, Side::Buy, 644_000, 1, false);
    let a = alerts(&mut s);
    assert_eq!(a.iter().map(|a| a.rule).collect::<Vec<_>>(), vec![Rule::RunawayLoss], "{a:?}");
}

#[test]
fn repeated_executions_disable_until_an_operator_re_enables() {
    let rule = "[surveillance.repeated_execution]\nfills = 5\nwindow_ms = 1000\n";
    let mut s = surv(rule, "", 1);
    // 5 buys in 1.2 s, and sells in between: under the throttle.
    for k in 0..5u64 {
        fill(&mut s, k * 300 * MS, 0, k, Side::Buy, 650_000, 1, true);
        fill(&mut s, k * 300 * MS + MS, 0, 100 + k, Side::Sell, 650_000, 1, true);
    }
    assert!(alerts(&mut s).is_empty());
    for k in 0..5u64 {
        fill(&mut s, 10_000 * MS + k * 100 * MS, 0, 200 + k, Side::Sell, 650_000, 1, true);
    }
    let a = alerts(&mut s);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!((a[0].rule, a[0].action), (Rule::RepeatedExecution, AlertAction::Disable));
}

#[test]
fn cancel_on_disconnect_liveness() {
    let rule = "[surveillance.cancel_on_disconnect]\nmax_silence_ms = 2000\naction = \"halt\"\n";
    let mut s = surv(rule, "", 1);
    assert!(s.watches_liveness());
    assert!(!s.on_liveness(5_000 * MS, 0, 0, 0), "no open orders: nothing to protect");
    assert!(!s.on_liveness(1_999 * MS, 0, 0, 3));
    assert!(s.on_liveness(2_000 * MS, 0, 0, 3));
    let a = alerts(&mut s);
    assert_eq!((a[0].rule, a[0].action), (Rule::CancelOnDisconnect, AlertAction::Halt));
}

#[test]
fn memory_stays_bounded_under_a_flood() {
    // 1 M large orders never cancelled, 1 M fills: the rule state is capped.
    let rule = format!("{SPOOF}[surveillance.quote_stuffing]\nwindow_ms = 86400000\nmax_messages = 100000000\n");
    let mut s = surv(&rule, "[surveillance.wash_trade]\nwindow_ms = 86400000\n", 2);
    for k in 0..1_000_000u64 {
        order(&mut s, k, 0, k, Side::Buy, 650_000, 50);
        fill(&mut s, k, (k % 2) as u32, k, Side::Buy, 650_000, 1, true);
    }
    let dbg = format!("{s:?}");
    // Debug of the whole state stays small (a few MB would mean unbounded deques).
    assert!(dbg.len() < 2_000_000, "{} bytes of state", dbg.len());
}
