//! Behaviour of the surveillance rules on scripted inputs (event time), and
//! the validation of their policy tables. The engine-level tests (real wasm
//! manipulators on the demo data) live in `bulkhead-engine/tests/it/surveillance.rs`.
mod policy;
mod rules;

use bulkhead_model::{Instrument, InstrumentSpec};

/// BTC-USDT-PERP (tick 0.1, lot 0.001) and ETH-USDT-PERP (tick 0.01, lot 0.01).
pub fn instruments() -> Vec<Instrument> {
    let specs = [
        "symbol = \"BTC-USDT-PERP\"\nkind = \"perpetual\"\ntick_size = \"0.1\"\nlot_size = \"0.001\"\n",
        "symbol = \"ETH-USDT-PERP\"\nkind = \"perpetual\"\ntick_size = \"0.01\"\nlot_size = \"0.01\"\n",
    ];
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let spec: InstrumentSpec = toml::from_str(s).unwrap();
            Instrument::from_spec(i as u32, &spec).unwrap()
        })
        .collect()
}
