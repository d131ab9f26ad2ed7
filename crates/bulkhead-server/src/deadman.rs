//! Operator dead-man switches (cancel-on-disconnect, issue 16 item 4). An
//! API client with the operator role declares itself the desk's dead-man
//! switch (`POST /api/v1/deadman`); it must heartbeat within its timeout of
//! wall clock (a live run is about wall clock, not event time). When it
//! does not, the engine executes `cancel_on_disconnect` for its scope with
//! the operator as actor: journalled like every command (so resume and
//! replay re-apply it), an `ALERT` record, the scope's orders cancelled with
//! `CANCEL_ON_DISCONNECT`, and the scope halted if the switch said so.
//!
//! Bounds: one switch per operator (token name), at most [`MAX_SWITCHES`];
//! timeouts from [`MIN_TIMEOUT_MS`] to [`MAX_TIMEOUT_MS`].

use std::time::{Duration, Instant};

use crate::Scope;
use crate::command::{CommandError, CommandResult, DeadmanChange};
use crate::engine_control::EngineControl;
use bulkhead_engine::{Actor, Command as EngineCommand, Engine};

/// Most switches armed at once.
pub const MAX_SWITCHES: usize = 64;
pub const MIN_TIMEOUT_MS: u64 = 100;
pub const MAX_TIMEOUT_MS: u64 = 600_000;

/// One armed switch.
#[derive(Clone, Debug)]
pub struct Deadman {
    pub scope: Scope,
    pub halt: bool,
    pub timeout: Duration,
    pub last_heartbeat: Instant,
}

impl EngineControl {
    /// Arm, heartbeat or disarm the sender's switch.
    pub(crate) fn deadman_change(&mut self, change: DeadmanChange, actor: &Actor) -> CommandResult {
        let switches = self.deadman_switches();
        match change {
            DeadmanChange::Arm { scope, halt, timeout_ms } => {
                if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
                    return Err(CommandError::invalid(
                        "timeout_ms",
                        format!("{timeout_ms} must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS} (milliseconds)"),
                    ));
                }
                if !switches.contains_key(&actor.name) && switches.len() >= MAX_SWITCHES {
                    return Err(CommandError::Conflict(format!("{MAX_SWITCHES} dead-man switches are armed already")));
                }
                let timeout = Duration::from_millis(timeout_ms);
                let msg =
                    format!("dead-man switch `{}` armed: {scope}, halt {halt}, timeout {timeout_ms} ms", actor.name);
                switches.insert(actor.name.clone(), Deadman { scope, halt, timeout, last_heartbeat: Instant::now() });
                Ok(msg)
            }
            DeadmanChange::Heartbeat => match switches.get_mut(&actor.name) {
                Some(d) => {
                    d.last_heartbeat = Instant::now();
                    Ok(format!("dead-man switch `{}`: heartbeat", actor.name))
                }
                None => Err(CommandError::not_found("dead-man switch", &actor.name)),
            },
            DeadmanChange::Disarm => match switches.remove(&actor.name) {
                Some(_) => Ok(format!("dead-man switch `{}` disarmed", actor.name)),
                None => Err(CommandError::not_found("dead-man switch", &actor.name)),
            },
        }
    }

    /// Fire every switch whose heartbeat is overdue (each fires once and is
    /// disarmed).
    pub(crate) fn check_deadman(&mut self, engine: &mut Engine) {
        let switches = self.deadman_switches();
        if switches.is_empty() {
            return;
        }
        let due: Vec<String> =
            switches.iter().filter(|(_, d)| d.last_heartbeat.elapsed() >= d.timeout).map(|(k, _)| k.clone()).collect();
        for name in due {
            let Some(d) = self.deadman_switches().remove(&name) else { continue };
            let command = EngineCommand::CancelOnDisconnect { scope: d.scope, session: name.clone(), halt: d.halt };
            let actor = Actor { name: name.clone(), role: bulkhead_engine::Role::Operator };
            match engine.execute(&command, &actor) {
                Ok(_) => tracing::warn!(session = %name, "dead-man switch fired: cancel on disconnect"),
                Err(e) => tracing::error!(session = %name, error = %e, "dead-man switch could not fire"),
            }
        }
    }
}
