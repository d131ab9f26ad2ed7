//! Operator commands: what the HTTP layer asks of the engine, who asked, and
//! how the engine answers.
//!
//! The types a command is made of (`Scope`, `Actor`, `TokenChange`,
//! `CommandError`) live in `bulkhead_engine::command` and are re-exported
//! here; [`Command`] is the request as HTTP carries it (a deploy with its
//! module's bytes and signature), turned into the engine's typed command
//! on the engine thread.
//!
//! The server never applies a command. It validates the request's shape,
//! checks the caller's role, puts `(Command, Actor, Reply)` on a bounded
//! queue and waits (with a timeout) for the engine's answer.

use std::fmt;
use tokio::sync::oneshot;

pub use bulkhead_engine::command::{Actor, CommandError, Scope, TokenChange};

/// The request header that carries a hot-deployed module's signature: the
/// `MODULE.wasm.sig` file's text on one line
/// ([`bulkhead_provenance::ModuleSignature::to_line`]).
pub const SIGNATURE_HEADER: &str = "X-Bulkhead-Signature";

/// An operator action, as the engine receives it.
#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    /// R11 kill switch: no new orders in the scope. The engine also cancels
    /// the scope's open orders (a kill is halt + mass cancel).
    Halt(Scope),
    /// R11 REDUCING: only orders that cannot grow exposure.
    Reduce(Scope),
    /// Back to ACTIVE. Resuming a quarantined strategy is the engine's call
    /// (it may refuse with [`CommandError::Conflict`]; use `Restart`).
    Resume(Scope),
    /// Cancel every open order in the scope; trading state unchanged.
    MassCancel(Scope),
    /// Change one limit of a strategy's policy. `value` is the decimal text
    /// the operator sent (a JSON number or string), unparsed: the engine
    /// parses it as the policy file would and refuses values outside the
    /// firm policy with [`CommandError::Invalid`] naming `value`.
    SetLimit { strategy: String, field: String, value: String },
    /// Replace a strategy's wasm module (bytes start with the wasm magic;
    /// everything else is the engine's / sandbox's to validate). `signature`
    /// is the module's detached signature (the `X-Bulkhead-Signature`
    /// header); a run with `run.trusted_keys` verifies it before anything is
    /// journalled and refuses the deploy without one.
    Deploy { strategy: String, module_bytes: Vec<u8>, signature: Option<bulkhead_provenance::ModuleSignature> },
    /// Re-instantiate a strategy from its current module (clears a quarantine).
    Restart { strategy: String },
    /// Add or revoke an API token (admin). The server owns the token file
    /// and applies the change after the engine has journalled it; the
    /// engine only journals it (no trading state changes). Never carries a
    /// token's text or hash.
    Tokens(TokenChange),
    /// The sender's dead-man switch (cancel-on-disconnect): arm it (or
    /// re-arm: a heartbeat), heartbeat, or disarm. Kept by the control
    /// plane on the engine thread; when it expires the engine executes
    /// `cancel_on_disconnect` (journalled, replayed) with the sender as actor.
    Deadman(DeadmanChange),
}

/// A change to the sender's dead-man switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeadmanChange {
    /// Cancel `scope`'s orders (and halt it if `halt`) unless a heartbeat
    /// comes within `timeout_ms` of wall clock.
    Arm {
        scope: Scope,
        halt: bool,
        timeout_ms: u64,
    },
    Heartbeat,
    Disarm,
}

impl Command {
    /// A short stable name: `halt`, `reduce`, `resume`, `mass_cancel`,
    /// `set_limit`, `deploy`, `restart`, `token_create`, `token_revoke`.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::Halt(_) => "halt",
            Command::Reduce(_) => "reduce",
            Command::Resume(_) => "resume",
            Command::MassCancel(_) => "mass_cancel",
            Command::SetLimit { .. } => "set_limit",
            Command::Deploy { .. } => "deploy",
            Command::Restart { .. } => "restart",
            Command::Tokens(TokenChange::Create { .. }) => "token_create",
            Command::Tokens(TokenChange::Revoke { .. }) => "token_revoke",
            Command::Deadman(DeadmanChange::Arm { .. }) => "deadman_arm",
            Command::Deadman(DeadmanChange::Heartbeat) => "deadman_heartbeat",
            Command::Deadman(DeadmanChange::Disarm) => "deadman_disarm",
        }
    }

    /// The engine's typed command for everything but a deploy (whose
    /// module the control plane verifies and compiles first, then hands
    /// to the engine as a [`bulkhead_engine::Command::Deploy`]).
    pub fn to_engine(&self) -> Option<bulkhead_engine::Command> {
        use bulkhead_engine::Command as E;
        Some(match self {
            Command::Halt(s) => E::Halt(s.clone()),
            Command::Reduce(s) => E::Reduce(s.clone()),
            Command::Resume(s) => E::Resume(s.clone()),
            Command::MassCancel(s) => E::MassCancel(s.clone()),
            Command::SetLimit { strategy, field, value } => {
                E::SetLimit { strategy: strategy.clone(), field: field.clone(), value: value.clone() }
            }
            Command::Restart { strategy } => E::Restart { strategy: strategy.clone() },
            Command::Tokens(change) => E::Tokens(change.clone()),
            Command::Deploy { .. } | Command::Deadman(_) => return None,
        })
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Deploy { strategy, module_bytes, signature } => f
                .debug_struct("Deploy")
                .field("strategy", strategy)
                .field("module_len", &module_bytes.len())
                .field("signer", &signature.as_ref().map(|s| &s.signer))
                .finish(),
            Command::Halt(s) => f.debug_tuple("Halt").field(s).finish(),
            Command::Reduce(s) => f.debug_tuple("Reduce").field(s).finish(),
            Command::Resume(s) => f.debug_tuple("Resume").field(s).finish(),
            Command::MassCancel(s) => f.debug_tuple("MassCancel").field(s).finish(),
            Command::SetLimit { strategy, field, value } => f
                .debug_struct("SetLimit")
                .field("strategy", strategy)
                .field("field", field)
                .field("value", value)
                .finish(),
            Command::Restart { strategy } => f.debug_struct("Restart").field("strategy", strategy).finish(),
            Command::Tokens(change) => f.debug_tuple("Tokens").field(change).finish(),
            Command::Deadman(change) => f.debug_tuple("Deadman").field(change).finish(),
        }
    }
}

/// The engine's answer to one command: `Ok(message)` or a refusal.
pub type CommandResult = Result<String, CommandError>;

/// The one-shot reply slot of a command. Dropping it unanswered makes the
/// HTTP request fail with 500 "engine dropped the command".
#[derive(Debug)]
pub struct Reply(oneshot::Sender<CommandResult>);

impl Reply {
    pub(crate) fn new(tx: oneshot::Sender<CommandResult>) -> Reply {
        Reply(tx)
    }
    /// Answer the command. Never blocks; if the requester has gone away
    /// (timed out, disconnected) the answer is discarded.
    pub fn send(self, result: CommandResult) {
        let _ = self.0.send(result);
    }
    /// True if the HTTP request has already given up waiting. The engine
    /// must still apply (or refuse) the command: a kill switch is never
    /// dropped because its caller timed out.
    pub fn requester_gone(&self) -> bool {
        self.0.is_closed()
    }
}

/// A queued command.
#[derive(Debug)]
pub struct Envelope {
    pub command: Command,
    pub actor: Actor,
    pub reply: Reply,
}
