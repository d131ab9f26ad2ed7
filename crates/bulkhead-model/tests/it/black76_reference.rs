//! Black-76 (and Black-Scholes through it) against independently computed
//! reference values, and the exact bits of a few results.
//!
//! Reference values: mpmath 1.3 at 50 significant digits
//! (`mp.dps = 50`, `ncdf`/`npdf`/`exp`/`log`/`sqrt`), evaluated on the exact
//! binary64 value of each input (`mpf(float)`), closed-form Black-Scholes /
//! Black-76 formulas (Hull, "Options, Futures, and Other Derivatives", ch. 15
//! and 19; Haug, "The Complete Guide to Option Pricing Formulas", 1.1 and
//! 1.2.2), printed to 25 digits by
//! `black76_reference.py` beside this file. Sanity anchors from the books: Hull's S = 42, K = 40,
//! r = 10 %, σ = 20 %, T = 0.5 gives c = 4.76, p = 0.81; his S = 49, K = 50,
//! r = 5 %, σ = 20 %, T = 20/52 gives c = 2.40, Δ = 0.522, Γ = 0.066,
//! vega = 12.1; Haug's Black-76 F = K = 19, T = 0.75, r = 10 %, σ = 28 %
//! gives 1.7011.
//!
//! The pinned bits (`to_bits`) were produced by this code with `libm` 0.2.16
//! on x86_64 Linux; they are what every platform must produce (see
//! `bulkhead_model::detmath`). If one changes, decisions (R9 limits, option
//! marks) may change: find out why before updating it.

use OptionType::{Call, Put};
use bulkhead_model::{OptionType, black76, detmath};

/// Relative tolerance against the 50-digit references.
const REL: f64 = 1e-12;

fn check(what: &str, got: f64, reference: &str) -> f64 {
    let want: f64 = reference.parse().unwrap();
    let rel = ((got - want) / want).abs();
    assert!(rel <= REL, "{what}: {got:e} vs reference {reference} (relative error {rel:e})");
    rel
}

/// (S, K, T, σ, r, reference values as 25-digit decimal strings).
type BsCase = (f64, f64, f64, f64, f64, [&'static str; 6]);
/// (kind, F, K, T, σ, r, reference values).
type B76Case = (OptionType, f64, f64, f64, f64, f64, [&'static str; 5]);
/// (kind, F, K, T, σ, r, the exact f64 bits of price, delta, gamma, vega, theta).
type Pinned = (OptionType, f64, f64, f64, f64, f64, [u64; 5]);

/// Black-Scholes (S, K, T, σ, r) → [call, put, call delta, put delta, gamma, vega]
/// (vega per 1.00 of vol).
#[rustfmt::skip]
const BLACK_SCHOLES: [BsCase; 8] = [
    (42.0, 40.0, 0.5, 0.2, 0.1, ["4.759422392871533395065238", "0.8085993729000936531145701", "0.7791312909426689359026979", "-0.2208687090573310640973021", "0.04996267040591185346870229", "8.8134150596028514411219"]),
    (49.0, 50.0, 0.38461538461538464, 0.2, 0.05, ["2.400527323271714743926152", "2.448175441281849637842778", "0.5216046610663963979301842", "-0.4783953389336036020698158", "0.06554403934784439212031542", "12.10547988262880022712266"]),
    (100.0, 100.0, 1.0, 0.2, 0.05, ["10.45058357218556734600152", "5.573526022256967991124851", "0.6368306511756190733062623", "-0.3631693488243809266937377", "0.01876201734584689284075477", "37.5240346916937877645119"]),
    (100.0, 150.0, 0.25, 0.3, 0.01, ["0.02028352767478293060999716", "49.6457518872938015283552", "0.004508168767306605027890057", "-0.9954918312326933949721099", "0.0008789499130489221452237589", "0.6592124347866915845220584"]),
    (65000.0, 70000.0, 0.1, 0.5, 0.0, ["2210.958219560070243481647", "7210.958219560070243481647", "0.348400265057549980530018", "-0.651599734942450019469982", "0.00003597982476913872154709874", "7600.737982480555348750324"]),
    (100.0, 101.0, 0.00011415525114155251, 0.8, 0.0, ["0.05184729370560431204729562", "1.051847293705604312047296", "0.123054700046754151232823", "-0.876945299953245848767177", "0.2382065886864961482561842", "0.2175402636406357569974137"]),
    (50.0, 30.0, 5.0, 0.4, 0.03, ["28.23729802022449632163342", "4.058537312976230681841108", "0.882196571304026689671131", "-0.117803428695973310328869", "0.004415058739433458015034108", "22.07529369716729130059551"]),
    (100.0, 95.0, 0.5, 0.05, 0.02, ["6.003003748836553157248843", "0.05773795500751822719083661", "0.9600540669347740733352603", "-0.0399459330652259266647397", "0.02434684693149982867205648", "6.086711732874957505894495"]),
];

/// Black-Scholes through Black-76: F = S·e^{rT}; ∂/∂S = e^{rT}·∂/∂F,
/// Γ_S = e^{2rT}·Γ_F, vega the same.
#[test]
fn black_scholes_matches_50_digit_references() {
    let mut worst = 0.0f64;
    for (s, k, t, vol, r, refs) in BLACK_SCHOLES {
        let grow = detmath::exp(r * t);
        let f = s * grow;
        let name = format!("S={s} K={k} T={t} σ={vol} r={r}");
        let (gc, gp) = (black76::greeks(Call, f, k, t, vol, r), black76::greeks(Put, f, k, t, vol, r));
        for (what, got, reference) in [
            ("call", black76::price(Call, f, k, t, vol, r), refs[0]),
            ("put", black76::price(Put, f, k, t, vol, r), refs[1]),
            ("call delta", gc.delta * grow, refs[2]),
            ("put delta", gp.delta * grow, refs[3]),
            ("call gamma", gc.gamma * grow * grow, refs[4]),
            ("put gamma", gp.gamma * grow * grow, refs[4]),
            ("call vega", gc.vega, refs[5]),
            ("put vega", gp.vega, refs[5]),
        ] {
            worst = worst.max(check(&format!("{name} {what}"), got, reference));
        }
    }
    println!("worst relative error, Black-Scholes table: {worst:e}");
}

/// Black-76 (kind, F, K, T, σ, r) → [price, delta, gamma, vega, theta]
/// (vega per 1.00 of vol, theta per year).
#[rustfmt::skip]
const BLACK_76: [B76Case; 8] = [
    (Call, 19.0, 19.0, 0.75, 0.28, 0.1, ["1.701050725236267293132606", "0.5086362359336518992595544", "0.07974503467912113310912417", "6.045471079024173676301662", "-0.958382862227552454876127"]),
    (Put, 19.0, 19.0, 0.75, 0.28, 0.1, ["1.701050725236267293132606", "-0.4191072503949009890946804", "0.07974503467912113310912417", "6.045471079024173676301662", "-0.958382862227552454876127"]),
    (Call, 60000.0, 70000.0, 0.1, 0.8, 0.0, ["2711.918860304598380114463", "0.3146036233519779411398284", "0.00002339072603620354004503466", "6736.529098426620280874952", "-26946.11639370648112349981"]),
    (Put, 60000.0, 70000.0, 0.1, 0.8, 0.0, ["12711.91886030459838011446", "-0.6853963766480220588601716", "0.00002339072603620354004503466", "6736.529098426620280874952", "-26946.11639370648112349981"]),
    (Call, 100.0, 90.0, 0.5, 0.3, 0.05, ["13.64442308239492317689212", "0.7087179691507603111962769", "0.01529529170341890849965683", "22.942937555128361900426", "-6.200660112418762118694537"]),
    (Put, 100.0, 90.0, 0.5, 0.3, 0.05, ["3.891323962111596504157396", "-0.2665919428775723560771951", "0.01529529170341890849965683", "22.942937555128361900426", "-6.688315068432928479401561"]),
    (Call, 20.0, 25.0, 2.0, 0.15, 0.03, ["0.3356061627174365919552278", "0.1620912311993856909562958", "0.05661769634208562484044191", "6.794123561050274729419949", "-0.2447114486578621955384484"]),
    (Put, 20.0, 25.0, 2.0, 0.15, 0.03, ["5.044428830638680150096678", "-0.7796733023848630206719943", "0.05661769634208562484044191", "6.794123561050274729419949", "-0.1034467686202248940220482"]),
];

#[test]
fn black_76_matches_50_digit_references() {
    let mut worst = 0.0f64;
    for (kind, f, k, t, vol, r, refs) in BLACK_76 {
        let name = format!("{kind:?} F={f} K={k} T={t} σ={vol} r={r}");
        let g = black76::greeks(kind, f, k, t, vol, r);
        for (what, got, reference) in [
            ("price", black76::price(kind, f, k, t, vol, r), refs[0]),
            ("delta", g.delta, refs[1]),
            ("gamma", g.gamma, refs[2]),
            ("vega", g.vega, refs[3]),
            ("theta", g.theta, refs[4]),
        ] {
            worst = worst.max(check(&format!("{name} {what}"), got, reference));
        }
    }
    println!("worst relative error, Black-76 table: {worst:e}");
}

/// The exact bits of price, delta, gamma, vega and theta for a few cases.
#[test]
fn results_are_pinned_to_the_bit() {
    let pinned: [Pinned; 4] = PINNED;
    let mut bad = Vec::new();
    for (kind, f, k, t, vol, r, bits) in pinned {
        let g = black76::greeks(kind, f, k, t, vol, r);
        let got = [black76::price(kind, f, k, t, vol, r), g.delta, g.gamma, g.vega, g.theta].map(f64::to_bits);
        if got != bits {
            bad.push(format!("{kind:?} F={f} K={k} T={t} σ={vol} r={r}: {got:#018x?}, pinned {bits:#018x?}"));
        }
    }
    assert!(bad.is_empty(), "bits changed:\n{}", bad.join("\n"));
}

#[rustfmt::skip]
const PINNED: [Pinned; 4] = [
    (Call, 19.0, 19.0, 0.75, 0.28, 0.1, [0x3ffb3780f71ba138, 0x3fe046bf7fdca88e, 0x3fb46a2babf71814, 0x40182e8ff8754a66, 0xbfeeab12894a0e03]),
    (Put, 100.0, 90.0, 0.5, 0.3, 0.05, [0x400f216e751b4896, 0xbfd10fd7a702524c, 0x3f8f53234d311437, 0x4036f1645b09724e, 0xc01ac0d5aa510dbf]),
    // The R9 scenario's call (engine tests): F = 65 000.05, K = 70 000, 0.1 y, σ = 50 %.
    (Call, 65_000.05, 70_000.0, 0.1, 0.5, 0.0, [0x40a145f387093aa0, 0x3fd64c382bbcfa9a, 0x3f02dd22c212c5ce, 0x40bdb0c21bd741b8, 0xc0d28e7951668913]),
    // One hour to expiry, deep out of the money: exercises the CDF's far tail.
    (Put, 60_000.0, 50_000.0, 1.0 / (365.0 * 24.0), 0.6, 0.0, [0x1b4fc7d6b759a000, 0x9b12d7ec7aec222f, 0x1ad652b1554da9e3, 0x1bf4ff4c79e1fdc3, 0x9caaf199a2667e21]),
];
