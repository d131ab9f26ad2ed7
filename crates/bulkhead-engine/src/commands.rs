//! Re-applying journalled operator commands: one implementation for resume
//! ([`JournalMode::Resume`](crate::JournalMode)) and [`replay`](crate::replay).
//!
//! A `COMMAND` record holds the control plane's canonical line (e.g.
//! `halt scope=strategy:mm actor=ops role=operator`), journalled before the
//! command took effect, at an event boundary. Applying the line again at the
//! same boundary (journalling the same record first) reproduces everything
//! the command caused. A `deploy` names its module by `module_blake3=`; the
//! bytes come from the caller's lookup (the journal's blobs, see
//! [`Engine::journal_deploy`], or a modules directory).

use std::collections::BTreeMap;

use bulkhead_abi::Reason;
use bulkhead_risk::{Scope, TradingState};

use crate::Engine;

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

impl Engine {
    /// Apply one journalled operator command line: validate it, journal it
    /// (the same `COMMAND` record), then carry it out, as the control plane
    /// did. `module` finds a deployed module's bytes by blake3. `Err` names
    /// why it could not be applied; whether the `COMMAND` record was written
    /// by then tells a refusal (not journalled) from a failure after it.
    pub fn apply_command(&mut self, text: &str, module: &dyn Fn(&[u8; 32]) -> Option<Vec<u8>>) -> Result<(), String> {
        let mut words = text.split_whitespace();
        let kind = words.next().unwrap_or_default();
        let args: BTreeMap<&str, &str> = words.filter_map(|w| w.split_once('=')).collect();
        let scope = |engine: &Engine| -> Result<Scope, String> {
            match args.get("scope").copied() {
                Some("global") => Ok(Scope::Global),
                Some(s) => match s.split_once(':') {
                    Some(("strategy", n)) => {
                        engine.strategy_id(n).map(Scope::Strategy).ok_or(format!("unknown strategy `{n}`"))
                    }
                    Some(("instrument", n)) => {
                        engine.instrument_id(n).map(Scope::Instrument).ok_or(format!("unknown instrument `{n}`"))
                    }
                    _ => Err(format!("bad scope `{s}`")),
                },
                None => Err("no scope".into()),
            }
        };
        let strategy = |engine: &Engine| -> Result<u32, String> {
            let n = args.get("strategy").ok_or("no strategy")?;
            engine.strategy_id(n).ok_or(format!("unknown strategy `{n}`"))
        };
        let journal = |engine: &mut Engine| engine.journal_command(text).map_err(|e| e.to_string());
        match kind {
            "halt" | "reduce" | "resume" => {
                let state = match kind {
                    "halt" => TradingState::Halted,
                    "reduce" => TradingState::Reducing,
                    _ => TradingState::Active,
                };
                let s = scope(self)?;
                journal(self)?;
                self.operator_state(s, state, text);
            }
            "mass_cancel" => {
                let s = scope(self)?;
                journal(self)?;
                self.mass_cancel(s, Reason::CancelledByKillSwitch);
            }
            "restart" => {
                let sid = strategy(self)?;
                journal(self)?;
                self.redeploy(sid, None, text)?;
            }
            "deploy" => {
                let sid = strategy(self)?;
                let want = args.get("module_blake3").ok_or("no module_blake3")?;
                let hash = bulkhead_provenance::from_hex::<32>(want).map_err(|e| format!("module_blake3: {e}"))?;
                let bytes =
                    module(&hash).ok_or(format!("no module with blake3 {want} (not in the journal's blobs)"))?;
                let runtime = self.sandbox_runtime().ok_or("no sandbox runtime attached to this engine")?;
                let name = format!("{} (deployed)", args.get("strategy").copied().unwrap_or_default());
                let m = runtime.load(&name, &bytes).map_err(|e| format!("module {}: {e}", hex(&hash)))?;
                // The original run verified the signature before journalling
                // the command; the command names the key it was verified against.
                let signer = match args.get("signer_key") {
                    Some(k) => Some(bulkhead_provenance::from_hex::<32>(k).map_err(|e| format!("signer_key: {e}"))?),
                    None => None,
                };
                self.journal_deploy(text, &bytes).map_err(|e| e.to_string())?;
                self.redeploy(sid, Some((m, signer)), text)?;
            }
            "set_limit" => {
                let sid = strategy(self)?;
                let field = args.get("field").ok_or("no field")?;
                let value = args.get("value").ok_or("no value")?;
                let change = self.risk().check_limit(sid, field, value).map_err(|e| e.to_string())?;
                journal(self)?;
                self.apply_limit(change);
            }
            // API token changes touch no trading state: only the record recurs.
            "token_create" | "token_revoke" => journal(self)?,
            other => return Err(format!("`{other}` commands cannot be re-applied")),
        }
        Ok(())
    }
}
