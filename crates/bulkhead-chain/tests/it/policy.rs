//! The `[chain]` policy, behaviour level: a realistic policy and contract
//! book, one case per refusal reason, the hostile DeFi catalogue at policy
//! level, rate and allowance refill on event time, validation errors that
//! name the field, and a property test that no intent or simulation panics.

use bulkhead_abi::Reason;
use bulkhead_chain::policy::{APPROVE, POOL_SWAP, selector};
use bulkhead_chain::types::{Address, I256, U256};
use bulkhead_chain::{ChainPolicy, ContractBook, ContractInfo, ContractKind, Intent, SimOutcome, Spend};
use proptest::prelude::*;

const USDC: usize = 0;
const WETH: usize = 1;
const POOL: usize = 2;
const VAULT: usize = 3;
const SEC: u64 = 1_000_000_000;
const TS: u64 = 1_700_000_000;
const NOW: u64 = TS * SEC;

const POLICY: &str = r#"
[chain]
account = "arb"
max_value_wei = "0"
max_gas = 400000
max_deadline_s = 300
max_slippage_bps = 100
max_intents_per_s = 5
max_in_flight = 4
halt_on_deviation = true
[chain.allowances.usdc_daily]
token = "usdc"
amount = "5000000000"
period_s = 86400
[chain.approvals]
spenders = ["pool"]
max_amount = "10000000000"
[[chain.allow]]
contract = "pool"
function = "swap(address,uint256,uint256,address,uint256)"
params = [ { one_of = ["usdc", "weth"] }, { allowance = "usdc_daily" }, { ge = "1" }, { self = true }, { deadline = true } ]
[[chain.allow]]
contract = "usdc"
function = "approve(address,uint256)"
params = [ { eq = "pool" }, { le = "10000000000" } ]
[[chain.allow]]
contract = "usdc"
function = "transfer(address,uint256)"
params = [ { eq = "pool" }, { allowance = "usdc_daily" } ]
"#;

/// A swap-only policy without parameter rules: the pool's own checks
/// (recipient, deadline, slippage) still apply.
const BARE: &str = r#"
[chain]
account = "arb"
max_gas = 400000
max_deadline_s = 300
max_slippage_bps = 100
max_intents_per_s = 1000
max_in_flight = 1000
[chain.allowances.usdc_daily]
token = "usdc"
amount = "5000000000"
period_s = 86400
[[chain.allow]]
contract = "pool"
function = "swap(address,uint256,uint256,address,uint256)"
"#;

fn book() -> ContractBook {
    let c = |name: &str, b: u8, kind| ContractInfo { name: name.into(), address: Address::repeat_byte(b), kind };
    ContractBook {
        contracts: vec![
            c("usdc", 0x11, ContractKind::Token { decimals: 6 }),
            c("weth", 0x22, ContractKind::Token { decimals: 18 }),
            c("pool", 0x33, ContractKind::PoolV2 { token0: USDC, token1: WETH }),
            c("vault", 0x44, ContractKind::Other),
        ],
    }
}

fn account() -> Address {
    Address::repeat_byte(0xaa)
}

fn attacker() -> Address {
    Address::repeat_byte(0xee)
}

fn w(a: Address) -> U256 {
    U256::from_be_slice(a.as_slice())
}

fn addr(i: usize) -> U256 {
    w(book().contracts[i].address)
}

fn u(v: u64) -> U256 {
    U256::from(v)
}

fn policy(text: &str) -> ChainPolicy {
    let v: toml::Value = toml::from_str(text).expect("toml");
    ChainPolicy::from_toml(v.get("chain").expect("[chain]"), &book()).expect("valid policy")
}

fn call(contract: usize, sig: &str, args: Vec<U256>) -> Intent {
    Intent { id: 1, tag: 7, contract, selector: selector(sig), args, value: U256::ZERO, deadline_in: None }
}

/// swap(usdc, amount_in, min_out, to, deadline in 60 s).
fn swap(amount_in: u64, min_out: u64, to: Address) -> Intent {
    Intent {
        id: 1,
        tag: 7,
        contract: POOL,
        selector: POOL_SWAP,
        args: vec![addr(USDC), u(amount_in), u(min_out), w(to), u(60)],
        value: U256::ZERO,
        deadline_in: Some((4, 60)),
    }
}

/// What a clean swap of `amount_in` usdc measures: that outflow, weth in,
/// the pool's allowance drawn down, and a quote of 2000.
fn sim(amount_in: u64) -> SimOutcome {
    SimOutcome {
        success: true,
        gas_used: 120_000,
        block_number: 100,
        block_timestamp: TS,
        token_deltas: vec![(USDC, -I256::try_from(amount_in).unwrap()), (WETH, I256::try_from(1995).unwrap())],
        approvals: vec![(USDC, Address::repeat_byte(0x33), u(10_000_000_000 - amount_in))],
        pool_quote: Some(u(2000)),
        ..SimOutcome::default()
    }
}

fn assert_refused(r: Result<(), bulkhead_chain::Refusal>, reason: Reason, field: &str, case: &str) {
    let e = r.expect_err(case);
    assert_eq!((e.reason, e.field.as_str()), (reason, field), "{case}: {e}");
    assert!(!e.message.is_empty());
}

#[test]
fn a_clean_swap_passes_both_checks_and_spends_its_allowance() {
    let mut p = policy(POLICY);
    let i = swap(1_000_000_000, 1980, account());
    p.check_intent(&i, account(), NOW).expect("intent");
    let spend = p.check_simulation(&i, &sim(1_000_000_000), account(), NOW).expect("simulation");
    assert_eq!(spend, Spend { outflows: vec![(USDC, u(1_000_000_000))] });
    p.commit(&spend, NOW);
    p.finished();
    assert_eq!(p.allowances(NOW), vec![("usdc_daily".to_string(), USDC, u(4_000_000_000))]);
    assert_eq!((p.account(), p.max_gas(), p.halt_on_deviation(), p.in_flight()), ("arb", 400_000, true, 0));
    // approve to the pool within the cap
    p.check_intent(&call(USDC, "approve(address,uint256)", vec![addr(POOL), u(5_000_000)]), account(), NOW)
        .expect("approve");
}

/// Refusals before simulation, one per reason (and the hostile catalogue).
#[test]
fn check_intent_refusals() {
    let approve = "approve(address,uint256)";
    let transfer = "transfer(address,uint256)";
    let mut dirty = w(attacker());
    dirty.set_bit(200, true);
    let mut valued = swap(1_000, 1980, account());
    valued.value = u(1);
    let mut far = swap(1_000, 1980, account());
    far.deadline_in = Some((4, 301));
    let mut into_amount = call(USDC, transfer, vec![addr(POOL), u(0)]);
    into_amount.deadline_in = Some((1, 60));
    let cases: Vec<(&str, Intent, Reason, &str)> = vec![
        (
            "contract not allowed",
            call(WETH, transfer, vec![addr(POOL), u(1)]),
            Reason::ChainContractNotAllowed,
            "contract",
        ),
        ("contract not in the book", call(9, transfer, vec![]), Reason::ChainMalformed, "contract"),
        (
            "other contract not allowed",
            call(VAULT, "deposit(uint256)", vec![u(1)]),
            Reason::ChainContractNotAllowed,
            "contract",
        ),
        (
            "forbidden selector",
            call(USDC, "transferFrom(address,address,uint256)", vec![w(account()), w(attacker()), u(1)]),
            Reason::ChainFunctionNotAllowed,
            "selector",
        ),
        ("argument count", call(USDC, approve, vec![addr(POOL), u(1), u(2)]), Reason::ChainMalformed, "nargs"),
        ("more than 8 words", call(USDC, approve, vec![u(0); 9]), Reason::ChainMalformed, "nargs"),
        ("dirty address word", call(USDC, approve, vec![dirty, u(1)]), Reason::ChainMalformed, "args[0]"),
        (
            "approve(max) to an attacker",
            call(USDC, approve, vec![w(attacker()), U256::MAX]),
            Reason::ChainApproval,
            "approvals.spenders",
        ),
        (
            "approve(max) to the pool",
            call(USDC, approve, vec![addr(POOL), U256::MAX]),
            Reason::ChainApproval,
            "approvals.max_amount",
        ),
        (
            "approve above the cap",
            call(USDC, approve, vec![addr(POOL), u(10_000_000_001)]),
            Reason::ChainApproval,
            "approvals.max_amount",
        ),
        (
            "transfer to a foreign address",
            call(USDC, transfer, vec![w(attacker()), u(1)]),
            Reason::ChainParamNotAllowed,
            "params[0].eq",
        ),
        (
            "transfer above the allowance",
            call(USDC, transfer, vec![addr(POOL), u(5_000_000_001)]),
            Reason::ChainParamNotAllowed,
            "params[1].allowance",
        ),
        ("swap of a token not listed", swap_token(attacker()), Reason::ChainParamNotAllowed, "params[0].one_of"),
        (
            "swap above the allowance",
            swap(5_000_000_001, 1980, account()),
            Reason::ChainParamNotAllowed,
            "params[1].allowance",
        ),
        ("swap with amountOutMin 0", swap(1_000, 0, account()), Reason::ChainParamNotAllowed, "params[2].ge"),
        ("swap with to = attacker", swap(1_000, 1980, attacker()), Reason::ChainParamNotAllowed, "params[3].self"),
        ("native value", valued, Reason::ChainValueCap, "value"),
        ("deadline too far out", far, Reason::ChainDeadline, "params[4].deadline"),
        ("deadline into an amount", into_amount, Reason::ChainParamNotAllowed, "params[1]"),
    ];
    for (case, intent, reason, field) in cases {
        let mut p = policy(POLICY);
        assert_refused(p.check_intent(&intent, account(), NOW), reason, field, case);
        assert_eq!(p.in_flight(), 0, "{case}: a refusal takes no slot");
    }
}

fn swap_token(token: Address) -> Intent {
    let mut i = swap(1_000, 1980, account());
    i.args[0] = w(token);
    i
}

#[test]
fn the_slippage_message_names_the_bound() {
    let p = policy(BARE);
    let i = swap(1_000, 0, account());
    let mut s = sim(1_000);
    s.pool_quote = Some(u(1993));
    let e = p.check_simulation(&i, &s, account(), NOW).unwrap_err();
    assert_eq!(e.reason, Reason::ChainSlippage);
    assert_eq!(e.message, "amountOutMin 0 is looser than 1% below the pool's quote 1993 (at least 1973)");
    assert_eq!((e.limit.as_str(), e.requested.as_str(), e.current.as_str()), ("1973", "0", "1993"));
}

type SimCase = (&'static str, &'static str, Intent, SimOutcome, Reason, &'static str);

/// A swap of 1000 usdc with a fixed deadline word (no `deadline_in`).
fn fixed(deadline: u64) -> Intent {
    let mut i = swap(1_000_000_000, 1980, account());
    i.deadline_in = None;
    i.args[4] = u(deadline);
    i
}

/// The clean simulation of a 1000 usdc swap, changed by `f`.
fn with(f: &dyn Fn(&mut SimOutcome)) -> SimOutcome {
    let mut s = sim(1_000_000_000);
    f(&mut s);
    s
}

/// Revert, gas, deadline, slippage and recipient.
fn sim_cases_call() -> Vec<SimCase> {
    let good = swap(1_000_000_000, 1980, account());
    vec![
        ("reverted", POLICY, good.clone(), with(&|s| s.success = false), Reason::ChainSimulationReverted, "simulation"),
        ("gas above the cap", POLICY, good.clone(), with(&|s| s.gas_used = 400_001), Reason::ChainGasCap, "max_gas"),
        ("deadline already past", POLICY, fixed(TS), sim(1_000_000_000), Reason::ChainDeadline, "params[4].deadline"),
        ("deadline too far", POLICY, fixed(TS + 301), sim(1_000_000_000), Reason::ChainDeadline, "params[4].deadline"),
        (
            "pool deadline without a rule",
            BARE,
            fixed(TS + 301),
            sim(1_000_000_000),
            Reason::ChainDeadline,
            "params[4].deadline",
        ),
        (
            "swap amountOutMin 0",
            BARE,
            swap(1_000_000_000, 0, account()),
            sim(1_000_000_000),
            Reason::ChainSlippage,
            "max_slippage_bps",
        ),
        (
            "amountOutMin loose by 1",
            POLICY,
            swap(1_000_000_000, 1979, account()),
            sim(1_000_000_000),
            Reason::ChainSlippage,
            "max_slippage_bps",
        ),
        (
            "no pool quote",
            POLICY,
            good.clone(),
            with(&|s| s.pool_quote = None),
            Reason::ChainSlippage,
            "max_slippage_bps",
        ),
        (
            "swap to = attacker",
            BARE,
            swap(1_000_000_000, 1980, attacker()),
            sim(1_000_000_000),
            Reason::ChainParamNotAllowed,
            "params[3].self",
        ),
    ]
}

/// Outflows, allowances granted, native value, scope.
fn sim_cases_state() -> Vec<SimCase> {
    let good = swap(1_000_000_000, 1980, account());
    vec![
        (
            "fee on transfer: outflow above amountIn",
            POLICY,
            good.clone(),
            with(&|s| s.token_deltas[0].1 = -I256::try_from(1_010_000_000u64).unwrap()),
            Reason::ChainAllowance,
            "params[1].allowance",
        ),
        (
            "fee on transfer: outflow above the allowance",
            POLICY,
            swap(4_990_000_000, 1980, account()),
            with(&|s| s.token_deltas[0].1 = -I256::try_from(5_010_000_000u64).unwrap()),
            Reason::ChainAllowance,
            "allowances.usdc_daily",
        ),
        (
            "outflow with no allowance",
            POLICY,
            good.clone(),
            with(&|s| s.token_deltas[1].1 = I256::MINUS_ONE),
            Reason::ChainPostCondition,
            "sim.token_deltas",
        ),
        (
            "allowance left to an attacker",
            POLICY,
            good.clone(),
            with(&|s| s.approvals.push((USDC, attacker(), U256::MAX))),
            Reason::ChainPostCondition,
            "sim.approvals[1]",
        ),
        (
            "unlimited allowance to the pool",
            POLICY,
            good.clone(),
            with(&|s| s.approvals[0].2 = U256::MAX),
            Reason::ChainApproval,
            "approvals.max_amount",
        ),
        (
            "native value out",
            POLICY,
            good.clone(),
            with(&|s| s.native_out = u(1)),
            Reason::ChainPostCondition,
            "max_value_wei",
        ),
        (
            "a function out of scope",
            POLICY,
            call(VAULT, "deposit(uint256)", vec![u(1)]),
            sim(0),
            Reason::ChainContractNotAllowed,
            "contract",
        ),
    ]
}

/// Refusals on the simulated state change, one per reason.
#[test]
fn check_simulation_refusals() {
    for (case, text, intent, s, reason, field) in sim_cases_call().into_iter().chain(sim_cases_state()) {
        let p = policy(text);
        assert_refused(p.check_simulation(&intent, &s, account(), NOW).map(|_| ()), reason, field, case);
    }
    // The bounds themselves pass: deadline = ts + 300, amountOutMin = the bound, revoke to anyone.
    let p = policy(POLICY);
    let mut s = sim(1_000_000_000);
    s.approvals.push((USDC, attacker(), U256::ZERO));
    p.check_simulation(&fixed(TS + 300), &s, account(), NOW).expect("at the bounds");
}

#[test]
fn the_revert_reason_is_decoded_and_sanitised() {
    let p = policy(POLICY);
    let mut s = sim(1_000);
    s.success = false;
    s.revert = [0x08, 0xc3, 0x79, 0xa0].to_vec();
    s.revert.extend_from_slice(&u(32).to_be_bytes::<32>());
    s.revert.extend_from_slice(&u(13).to_be_bytes::<32>());
    s.revert.extend_from_slice(b"EXPIRED\n\x1b[31m\0\0\0");
    let e = p.check_simulation(&swap(1_000, 1980, account()), &s, account(), NOW).unwrap_err();
    assert_eq!(e.message, "the simulation reverted: \"EXPIRED??[31m\"");
}

#[test]
fn an_intent_flood_is_refused_past_the_rate_then_refills_on_event_time() {
    let mut p = policy(POLICY);
    let i = swap(1_000, 1980, account());
    for _ in 0..5 {
        p.check_intent(&i, account(), NOW).expect("within the burst");
        p.finished();
    }
    assert_refused(p.check_intent(&i, account(), NOW), Reason::ChainRate, "max_intents_per_s", "flood");
    assert_refused(
        p.check_intent(&i, account(), NOW + SEC / 5 - 1),
        Reason::ChainRate,
        "max_intents_per_s",
        "0.999 token",
    );
    p.check_intent(&i, account(), NOW + SEC / 5).expect("one token after 200 ms");
    p.finished();
    assert_refused(p.check_intent(&i, account(), NOW + SEC / 5), Reason::ChainRate, "max_intents_per_s", "again");
    for _ in 0..5 {
        p.check_intent(&i, account(), NOW + 10 * SEC).expect("refilled to the burst");
        p.finished();
    }
    // event time going back refills nothing
    assert_refused(p.check_intent(&i, account(), NOW), Reason::ChainRate, "max_intents_per_s", "back in time");
}

#[test]
fn in_flight_intents_are_capped_until_they_finish() {
    let mut p = policy(POLICY);
    let i = swap(1_000, 1980, account());
    for k in 0..4 {
        p.check_intent(&i, account(), NOW + k * SEC).expect("slot");
    }
    let e = p.check_intent(&i, account(), NOW + 5 * SEC).unwrap_err();
    assert_eq!(
        (e.reason, e.field.as_str(), e.limit.as_str(), e.current.as_str()),
        (Reason::ChainRate, "max_in_flight", "4", "4")
    );
    p.finished();
    p.check_intent(&i, account(), NOW + 5 * SEC).expect("a slot was freed");
    for _ in 0..10 {
        p.finished();
    }
    assert_eq!(p.in_flight(), 0);
}

#[test]
fn allowances_are_spent_and_reset_at_the_period_boundary() {
    let mut p = policy(POLICY);
    let day = 86_400 * SEC;
    let start = (NOW / day) * day;
    p.commit(&Spend { outflows: vec![(USDC, u(4_000_000_000)), (WETH, u(5))] }, start + 10 * SEC);
    assert_eq!(p.allowances(start + day - 1)[0].2, u(1_000_000_000));
    let big = swap(1_500_000_000, 1980, account());
    let e = p.check_intent(&big, account(), start + day - 1).unwrap_err();
    assert_eq!((e.reason, e.field.as_str()), (Reason::ChainParamNotAllowed, "params[1].allowance"));
    assert_eq!(
        (e.limit.as_str(), e.requested.as_str(), e.current.as_str()),
        ("5000000000", "1500000000", "4000000000")
    );
    let e = p.check_simulation(&swap(900_000_000, 1980, account()), &sim(1_500_000_000), account(), start + day - 1);
    assert_eq!(e.unwrap_err().field, "allowances.usdc_daily");
    // a new period: the full amount again
    assert_eq!(p.allowances(start + day)[0].2, u(5_000_000_000));
    p.check_intent(&big, account(), start + day).expect("refilled");
    p.commit(&Spend { outflows: vec![(USDC, U256::MAX)] }, start + day);
    assert_eq!(p.allowances(start + day)[0].2, U256::ZERO);
}

/// Validation: each broken policy names its field.
#[test]
fn invalid_policies_name_the_field() {
    let swap_params = r#"params = [ { one_of = ["usdc", "weth"] }"#;
    let cases: Vec<(&str, String, &str)> = vec![
        ("missing account", POLICY.replace("account = \"arb\"\n", ""), "chain.account"),
        ("unknown key", POLICY.replace("max_gas =", "max_gaz ="), "chain.max_gaz"),
        ("gas out of range", POLICY.replace("max_gas = 400000", "max_gas = 0"), "chain.max_gas"),
        ("gas as a string", POLICY.replace("max_gas = 400000", "max_gas = \"400000\""), "chain.max_gas"),
        (
            "unknown one_of name",
            POLICY.replace(swap_params, r#"params = [ { one_of = ["usdc", "weth", "dai"] }"#),
            "chain.allow[0].params[0].one_of[2]",
        ),
        (
            "dynamic type",
            POLICY.replace("approve(address,uint256)", "approve(address,string)"),
            "chain.allow[1].function",
        ),
        ("uint alias", POLICY.replace("approve(address,uint256)", "approve(address,uint)"), "chain.allow[1].function"),
        ("param count", POLICY.replace(r#"{ eq = "pool" }, { le"#, r#"{ le"#), "chain.allow[1].params"),
        (
            "unknown allowance",
            POLICY.replace(r#"{ allowance = "usdc_daily" }, { ge"#, r#"{ allowance = "weekly" }, { ge"#),
            "chain.allow[0].params[1].allowance",
        ),
        (
            "unknown condition",
            POLICY.replace(r#"{ eq = "pool" }, { le"#, r#"{ eqq = "pool" }, { le"#),
            "chain.allow[1].params[0].eqq",
        ),
        (
            "le on an address",
            POLICY.replace(r#"{ eq = "pool" }, { le"#, r#"{ le = "5" }, { le"#),
            "chain.allow[1].params[0].le",
        ),
        ("self on an amount", POLICY.replace(r#"{ ge = "1" }"#, "{ self = true }"), "chain.allow[0].params[2].self"),
        ("value too wide", POLICY.replace(r#"{ ge = "1" }"#, r#"{ ge = "-1" }"#), "chain.allow[0].params[2].ge"),
        ("empty condition", POLICY.replace(r#"{ ge = "1" }"#, "{}"), "chain.allow[0].params[2]"),
        ("any = false", POLICY.replace(r#"{ ge = "1" }"#, "{ any = false }"), "chain.allow[0].params[2].any"),
        (
            "max uint approval cap",
            POLICY.replace("max_amount = \"10000000000\"", &format!("max_amount = \"{}\"", U256::MAX)),
            "chain.approvals.max_amount",
        ),
        (
            "above max uint",
            POLICY.replace("max_amount = \"10000000000\"", &format!("max_amount = \"{}0\"", U256::MAX)),
            "chain.approvals.max_amount",
        ),
        (
            "spender not in the book",
            POLICY.replace("spenders = [\"pool\"]", "spenders = [\"pool\", \"router\"]"),
            "chain.approvals.spenders[1]",
        ),
        (
            "allowance of a pool",
            POLICY.replace("token = \"usdc\"", "token = \"pool\""),
            "chain.allowances.usdc_daily.token",
        ),
        ("period zero", POLICY.replace("period_s = 86400", "period_s = 0"), "chain.allowances.usdc_daily.period_s"),
        ("slippage needed", POLICY.replace("max_slippage_bps = 100\n", ""), "chain.max_slippage_bps"),
        ("deadline needed", POLICY.replace("max_deadline_s = 300\n", ""), "chain.max_deadline_s"),
        (
            "approvals needed",
            POLICY.replace("[chain.approvals]\nspenders = [\"pool\"]\nmax_amount = \"10000000000\"\n", ""),
            "chain.approvals",
        ),
        (
            "duplicate rule",
            format!("{POLICY}[[chain.allow]]\ncontract = \"usdc\"\nfunction = \"approve(address,uint256)\"\n"),
            "chain.allow[3].function",
        ),
        ("unknown contract", POLICY.replace("contract = \"usdc\"", "contract = \"usdt\""), "chain.allow[1].contract"),
        ("no rules", BARE.split("[[chain.allow]]").next().unwrap().to_string(), "chain.allow"),
        (
            "slippage out of range",
            POLICY.replace("max_slippage_bps = 100", "max_slippage_bps = 10000"),
            "chain.max_slippage_bps",
        ),
    ];
    for (case, text, field) in cases {
        let v: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{case}: {e}"));
        let e = ChainPolicy::from_toml(&v["chain"], &book()).expect_err(case);
        assert_eq!(e.field, field, "{case}: {e}");
    }
    let e = ChainPolicy::from_toml(&toml::Value::Integer(1), &book()).unwrap_err();
    assert_eq!(e.field, "chain");
    assert_eq!(e.to_string(), "field `chain`: expected a table, found integer");
    assert!(APPROVE == selector("approve(address,uint256)"));
}

fn word() -> impl Strategy<Value = U256> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(U256::from_be_bytes),
        any::<u64>().prop_map(U256::from),
        Just(U256::MAX),
        (0..4usize).prop_map(addr),
        Just(w(account())),
    ]
}

fn arb_intent() -> impl Strategy<Value = Intent> {
    let sel =
        prop_oneof![Just(POOL_SWAP), Just(APPROVE), Just(selector("transfer(address,uint256)")), any::<[u8; 4]>()];
    (0..6usize, sel, prop::collection::vec(word(), 0..10), word(), prop::option::of((0..10usize, any::<u64>())))
        .prop_map(|(contract, selector, args, value, deadline_in)| Intent {
            id: 1,
            tag: 0,
            contract,
            selector,
            args,
            value,
            deadline_in,
        })
}

fn arb_sim() -> impl Strategy<Value = SimOutcome> {
    let delta = (0..6usize, word()).prop_map(|(t, v)| (t, I256::from_raw(v)));
    let approval = (
        0..6usize,
        (0..5usize).prop_map(|i| if i < 4 { Address::repeat_byte(0x11 * (i as u8 + 1)) } else { attacker() }),
        word(),
    );
    (
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..100),
        prop_oneof![any::<u64>(), 0..500_000u64],
        prop_oneof![any::<u64>(), Just(TS)],
        prop::collection::vec(delta, 0..6),
        word(),
        prop::collection::vec(approval, 0..3),
        prop::option::of(word()),
    )
        .prop_map(
            |(success, revert, gas_used, block_timestamp, token_deltas, native_out, approvals, pool_quote)| {
                SimOutcome {
                    success,
                    revert,
                    gas_used,
                    block_number: 1,
                    block_timestamp,
                    token_deltas,
                    native_out,
                    approvals,
                    pool_quote,
                }
            },
        )
}

proptest! {
    #[test]
    fn checks_never_panic(intent in arb_intent(), sim in arb_sim(), now in any::<u64>(), bare in any::<bool>()) {
        let mut p = policy(if bare { BARE } else { POLICY });
        let _ = p.check_intent(&intent, account(), now);
        prop_assert!(p.in_flight() <= 4 || bare);
        if let Ok(spend) = p.check_simulation(&intent, &sim, account(), now) {
            p.commit(&spend, now);
        }
        p.finished();
        let _ = p.allowances(now);
    }
}

proptest! {
    /// A well-formed swap with arbitrary amounts against arbitrary
    /// simulations: the arithmetic (slippage bound, deadlines, outflows)
    /// neither panics nor accepts an outflow beyond the allowance.
    #[test]
    fn swap_arithmetic_never_panics(amount in word(), min_out in word(), secs in any::<u64>(), sim in arb_sim(), now in any::<u64>()) {
        let mut p = policy(BARE);
        let mut i = swap(0, 0, account());
        i.args[1] = amount;
        i.args[2] = min_out;
        i.deadline_in = Some((4, secs));
        let _ = p.check_intent(&i, account(), now);
        if let Ok(spend) = p.check_simulation(&i, &sim, account(), now) {
            for (t, out) in &spend.outflows {
                prop_assert_eq!(*t, USDC);
                prop_assert!(*out <= u(5_000_000_000));
            }
            p.commit(&spend, now);
        }
    }
}

/// Values of every static type: left-aligned `bytesN` hex, negative
/// `intN`, booleans, addresses by name or hex, `one_of` of mixed forms.
#[test]
fn parameter_values_of_every_static_type() {
    let text = r#"
[chain]
account = "arb"
max_gas = 100000
max_intents_per_s = 100
max_in_flight = 100
[[chain.allow]]
contract = "vault"
function = "set(bytes4,int256,bool,address,uint8)"
params = [ { eq = "0xdeadbeef" }, { eq = -5 }, { eq = true }, { one_of = ["pool", "0x4444444444444444444444444444444444444444"] }, { ge = 3, le = "0x10" } ]
"#;
    let mut p = policy(text);
    let sig = "set(bytes4,int256,bool,address,uint8)";
    let good =
        vec![U256::from(0xdeadbeefu32) << 224usize, I256::try_from(-5).unwrap().into_raw(), u(1), addr(VAULT), u(16)];
    p.check_intent(&call(VAULT, sig, good.clone()), account(), NOW).expect("all conditions hold");
    let broken: Vec<(usize, U256, &str)> = vec![
        (0, U256::from(0xdeadbeefu32), "args[0]"),
        (1, u(5), "params[1].eq"),
        (2, u(0), "params[2].eq"),
        (3, w(attacker()), "params[3].one_of"),
        (4, u(2), "params[4].ge"),
        (4, u(17), "params[4].le"),
        (4, u(256), "args[4]"),
    ];
    for (i, v, field) in broken {
        let mut args = good.clone();
        args[i] = v;
        let e = p.check_intent(&call(VAULT, sig, args), account(), NOW).unwrap_err();
        assert_eq!(e.field, field, "{e}");
    }
    let mut args = good.clone();
    args[3] = w(attacker());
    let e = p.check_intent(&call(VAULT, sig, args), account(), NOW).unwrap_err();
    assert_eq!(
        e.message,
        format!(
            "params[3] of `{sig}` on `vault` is {} but must be one of {} (`pool`), {} (`vault`)",
            attacker(),
            Address::repeat_byte(0x33),
            Address::repeat_byte(0x44)
        )
    );
    assert!(e.to_string().starts_with("CHAIN_PARAM_NOT_ALLOWED (params[3].one_of): "), "{e}");
    // bytes4 given as a word of the wrong width is refused at load
    let bad = text.replace("0xdeadbeef", "0xdeadbe");
    let v: toml::Value = toml::from_str(&bad).unwrap();
    assert_eq!(ChainPolicy::from_toml(&v["chain"], &book()).unwrap_err().field, "chain.allow[0].params[0].eq");
}
