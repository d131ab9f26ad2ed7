//! Operator commands: what the HTTP layer asks of the engine, who asked, and
//! how the engine answers.
//!
//! The server never applies a command. It validates the request's shape,
//! checks the caller's role, puts `(Command, Actor, Reply)` on a bounded
//! queue and waits (with a timeout) for the engine's answer.

use crate::auth::Role;
use serde::Serialize;
use std::fmt;
use tokio::sync::oneshot;

/// What an operator action applies to. Strategies and instruments are named
/// the way operators see them (strategy name, instrument symbol); the engine
/// maps them to its own ids (`bulkhead_risk::Scope`).
///
/// JSON form (request bodies and the live stream):
/// `{"scope":"global"}`, `{"scope":"strategy","name":"mm"}`,
/// `{"scope":"instrument","symbol":"BTC-USDT-PERP"}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// One strategy, by name.
    Strategy(String),
    /// One instrument across all strategies, by symbol.
    Instrument(String),
    /// Everything.
    Global,
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match self {
            Scope::Strategy(name) => {
                m.serialize_entry("scope", "strategy")?;
                m.serialize_entry("name", name)?;
            }
            Scope::Instrument(symbol) => {
                m.serialize_entry("scope", "instrument")?;
                m.serialize_entry("symbol", symbol)?;
            }
            Scope::Global => m.serialize_entry("scope", "global")?,
        }
        m.end()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Strategy(name) => write!(f, "strategy:{name}"),
            Scope::Instrument(symbol) => write!(f, "instrument:{symbol}"),
            Scope::Global => f.write_str("global"),
        }
    }
}

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
}

/// A change to the API token set (see [`Command::Tokens`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenChange {
    Create { name: String, role: Role },
    Revoke { name: String },
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
        }
    }

    /// One canonical line describing the command and who sent it, suitable
    /// as the payload of the engine's journal record (deterministic: no
    /// clock, no map iteration; a deployed module appears as its blake3
    /// hash and length, never its bytes).
    ///
    /// e.g. `halt scope=strategy:mm actor=alice role=operator`,
    /// `token_create token=bob token_role=viewer actor=root role=admin`
    pub fn journal_line(&self, actor: &Actor) -> String {
        let what = match self {
            Command::Halt(s) | Command::Reduce(s) | Command::Resume(s) | Command::MassCancel(s) => {
                format!("scope={s}")
            }
            Command::SetLimit { strategy, field, value } => format!("strategy={strategy} field={field} value={value}"),
            Command::Deploy { strategy, module_bytes, .. } => format!(
                "strategy={strategy} module_blake3={} module_len={}",
                blake3::hash(module_bytes).to_hex(),
                module_bytes.len()
            ),
            Command::Restart { strategy } => format!("strategy={strategy}"),
            Command::Tokens(TokenChange::Create { name, role }) => format!("token={name} token_role={}", role.as_str()),
            Command::Tokens(TokenChange::Revoke { name }) => format!("token={name}"),
        };
        format!("{} {what} actor={} role={}", self.kind(), actor.name, actor.role.as_str())
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
        }
    }
}

/// Who sent a command: the token's name and role (never the token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub name: String,
    pub role: Role,
}

/// Why the engine refused a command. Each maps to one HTTP status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// 404: the named strategy / instrument / limit does not exist.
    #[error("{what} `{name}` not found")]
    NotFound { what: String, name: String },
    /// 422: a value is refused (e.g. a limit outside the firm policy, a
    /// module that does not load). `field` names the request field.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// 409: not possible in the current state (e.g. resume a quarantined
    /// strategy).
    #[error("{0}")]
    Conflict(String),
    /// 500: the engine failed while applying (it must not half-apply).
    #[error("{0}")]
    Internal(String),
}

impl CommandError {
    pub fn not_found(what: &str, name: &str) -> CommandError {
        CommandError::NotFound { what: what.to_string(), name: name.to_string() }
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> CommandError {
        CommandError::Invalid { field: field.to_string(), message: message.into() }
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
