//! The chain policy alone: `check_intent` + `check_simulation` of a pool
//! swap against a realistic `[chain]` policy (target < 5 µs together).
//!
//! Also prints p50 / p99 / p99.9 of single calls (each timed with
//! `Instant`, whose own cost, measured and printed, is included).
//!
//! `cargo bench -p bulkhead-chain --bench policy`

use bulkhead_chain::policy::POOL_SWAP;
use bulkhead_chain::types::{Address, I256, U256};
use bulkhead_chain::{ChainPolicy, ContractBook, ContractInfo, ContractKind, Intent, SimOutcome};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const POLICY: &str = r#"
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
"#;

fn word(a: Address) -> U256 {
    U256::from_be_slice(a.as_slice())
}

/// Per-call quantiles over `n` calls of `f` (ns), and the timer's own cost.
fn quantiles(n: usize, mut f: impl FnMut()) -> ([u64; 3], u64) {
    let mut v = Vec::with_capacity(n);
    let mut empty = Vec::with_capacity(n);
    for _ in 0..n {
        let t = std::time::Instant::now();
        f();
        v.push(t.elapsed().as_nanos() as u64);
        let t = std::time::Instant::now();
        empty.push(black_box(t).elapsed().as_nanos() as u64);
    }
    v.sort_unstable();
    empty.sort_unstable();
    let q = |p: f64| v[((p * n as f64) as usize).min(n - 1)];
    ([q(0.5), q(0.99), q(0.999)], empty[n / 2])
}

fn bench(c: &mut Criterion) {
    let info = |name: &str, b: u8, kind| ContractInfo { name: name.into(), address: Address::repeat_byte(b), kind };
    let book = ContractBook {
        contracts: vec![
            info("usdc", 0x11, ContractKind::Token { decimals: 6 }),
            info("weth", 0x22, ContractKind::Token { decimals: 18 }),
            info("pool", 0x33, ContractKind::PoolV2 { token0: 0, token1: 1 }),
        ],
    };
    let v: toml::Value = toml::from_str(POLICY).expect("toml");
    let mut p = ChainPolicy::from_toml(&v["chain"], &book).expect("policy");
    let account = Address::repeat_byte(0xaa);
    let intent = Intent {
        id: 1,
        tag: 0,
        contract: 2,
        selector: POOL_SWAP,
        args: vec![
            word(book.contracts[0].address),
            U256::from(1_000_000u64),
            U256::from(1980u64),
            word(account),
            U256::from(60u64),
        ],
        value: U256::ZERO,
        deadline_in: Some((4, 60)),
    };
    let ts = 1_700_000_000u64;
    let sim = SimOutcome {
        success: true,
        gas_used: 120_000,
        block_number: 1,
        block_timestamp: ts,
        token_deltas: vec![
            (0, I256::try_from(-1_000_000i64).expect("i256")),
            (1, I256::try_from(1995i64).expect("i256")),
        ],
        approvals: vec![(0, book.contracts[2].address, U256::from(9_999_000_000u64))],
        pool_quote: Some(U256::from(2000u64)),
        ..SimOutcome::default()
    };
    let mut now = ts * 1_000_000_000;
    let ([p50, p99, p999], timer) = quantiles(200_000, || {
        now += 1_000_000;
        p.check_intent(black_box(&intent), account, now).expect("intent");
        black_box(p.check_simulation(black_box(&intent), black_box(&sim), account, now).expect("simulation"));
        p.finished();
    });
    println!(
        "policy check (check_intent + check_simulation), single calls: p50 {p50} ns, p99 {p99} ns, \
         p99.9 {p999} ns (timer alone {timer} ns, included)"
    );
    c.bench_function("policy/check_intent+check_simulation swap", |b| {
        b.iter(|| {
            // 1 ms of event time per intent: the bucket (1000/s) never runs dry.
            now += 1_000_000;
            p.check_intent(black_box(&intent), account, now).expect("intent");
            let spend = p.check_simulation(black_box(&intent), black_box(&sim), account, now).expect("simulation");
            p.finished();
            black_box(spend)
        })
    });
    c.bench_function("policy/check_simulation swap", |b| {
        b.iter(|| black_box(p.check_simulation(black_box(&intent), black_box(&sim), account, now).expect("simulation")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
