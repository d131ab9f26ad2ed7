//! Operator commands, typed: what an operator may ask of a running engine
//! ([`Command`]), what it applies to ([`Scope`]), who asked ([`Actor`]), and
//! how the engine answers ([`Outcome`] or [`CommandError`]).
//!
//! This is the one home of these types: the control plane builds them from
//! HTTP requests, resume and replay parse them back from `COMMAND` records,
//! and all three hand them to the one function that carries a command out,
//! [`Engine::execute`](crate::Engine::execute) (validate → journal → apply,
//! see `engine/commands.rs`).
//!
//! ## Text form (the `COMMAND` record's payload)
//! A [`Journalled`] command (command + actor) is one line of
//! space-separated `key=value` fields after the command's kind, e.g.
//!
//! ```text
//! halt scope=strategy:mm actor=alice role=operator
//! set_limit strategy=mm field=max_order_qty value=0.005 actor=root role=admin
//! deploy strategy=mm module_blake3=<64 hex> module_len=1234 actor=root role=admin signer=ci signer_key=<64 hex>
//! token_create token=bob token_role=viewer actor=root role=admin
//! ```
//!
//! The fields come in a fixed order per kind (a deploy's signer after the
//! actor, where it has always been) and the parser accepts exactly that
//! order, so `Display` and `FromStr` are inverses. In a value, whitespace,
//! control characters and `%` are written as `%XX` (each UTF-8 byte, upper
//! case hex); every other character is written as is. Lines written before
//! values were escaped are byte-identical unless a value held one of those
//! characters (a value with whitespace could not be read back before; see
//! ARCHITECTURE.md).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What an operator action applies to. Strategies and instruments are named
/// the way operators see them (strategy name, instrument symbol); the engine
/// maps them to its own ids (`bulkhead_risk::Scope`) when it executes.
///
/// Text form: `global`, `strategy:NAME`, `instrument:SYMBOL`. JSON form
/// (the control plane's request bodies and live stream):
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

impl FromStr for Scope {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Scope, ParseError> {
        match s.split_once(':') {
            _ if s == "global" => Ok(Scope::Global),
            Some(("strategy", name)) => Ok(Scope::Strategy(name.to_string())),
            Some(("instrument", symbol)) => Ok(Scope::Instrument(symbol.to_string())),
            _ => {
                Err(ParseError::bad("scope", format!("`{s}` is not `global`, `strategy:NAME` or `instrument:SYMBOL`")))
            }
        }
    }
}

/// What an API token may do. Ordered: each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything (strategies, positions, orders, decisions, faults,
    /// journal status, metrics, live stream).
    Viewer,
    /// Viewer + halt / reduce / resume / mass cancel / restart.
    Operator,
    /// Operator + change limits, deploy modules, manage tokens.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Role, ParseError> {
        Role::parse(s).ok_or_else(|| ParseError::bad("role", format!("`{s}` is not viewer, operator or admin")))
    }
}

/// Who sent a command: the API token's name and role (never the token).
/// Text form: `actor=NAME role=ROLE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub name: String,
    pub role: Role,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "actor={} role={}", Escaped(&self.name), self.role)
    }
}

impl FromStr for Actor {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Actor, ParseError> {
        let line = format!("actor {s}");
        let mut fields = Fields::new(&line)?;
        let actor = actor_from(&mut fields)?;
        fields.end("actor")?;
        Ok(actor)
    }
}

/// A change to the API token set ([`Command::Tokens`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenChange {
    Create { name: String, role: Role },
    Revoke { name: String },
}

/// A hot-deployed module as a command names it: its blake3 hash and length
/// (never its bytes; those are stored beside the journal's segments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleRef {
    pub blake3: [u8; 32],
    pub len: u64,
}

impl ModuleRef {
    /// The reference to `bytes`.
    pub fn of(bytes: &[u8]) -> ModuleRef {
        ModuleRef { blake3: *blake3::hash(bytes).as_bytes(), len: bytes.len() as u64 }
    }
}

/// The trusted key a deployed module's signature was verified against
/// (before the command was journalled).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerRef {
    /// The key's name in the run's trusted keys file.
    pub name: String,
    /// The ed25519 public key.
    pub key: [u8; 32],
}

/// A command's `key=value` fields, in text order.
type FieldList = Vec<(&'static str, String)>;

/// An operator action, as the engine executes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// R11 kill switch: no new orders in the scope, and the scope's open
    /// orders are cancelled (a kill is halt + mass cancel).
    Halt(Scope),
    /// R11 REDUCING: only orders that cannot grow exposure.
    Reduce(Scope),
    /// Back to ACTIVE. Refused for a quarantined strategy (use `Restart`).
    Resume(Scope),
    /// Cancel every open order in the scope; trading state unchanged.
    MassCancel(Scope),
    /// Change one limit of a strategy's policy. `value` is the decimal text
    /// the operator sent, unparsed: the engine parses it as the policy file
    /// would and refuses values outside the firm policy.
    SetLimit { strategy: String, field: String, value: String },
    /// Replace a strategy's wasm module with the one `module` names. The
    /// bytes are provided with [`Engine::provide_module`](crate::Engine::provide_module)
    /// (live: compiled off the engine thread) or found in the journal's blobs.
    Deploy { strategy: String, module: ModuleRef, signer: Option<SignerRef> },
    /// Re-instantiate a strategy from its current module (clears a quarantine).
    Restart { strategy: String },
    /// Add or revoke an API token: the engine only journals it (the control
    /// plane owns the token file). Never carries a token's text or hash.
    Tokens(TokenChange),
    /// Cancel-on-disconnect: the dead-man switch `session` (an operator's
    /// API session that declared itself one) lost its heartbeat. The scope's
    /// open orders are cancelled (`CANCEL_ON_DISCONNECT`), an `ALERT` is
    /// journalled, and with `halt` the scope is halted too.
    CancelOnDisconnect { scope: Scope, session: String, halt: bool },
}

impl Command {
    /// A short stable name (the first word of the text form): `halt`,
    /// `reduce`, `resume`, `mass_cancel`, `set_limit`, `deploy`, `restart`,
    /// `token_create`, `token_revoke`.
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
            Command::CancelOnDisconnect { .. } => "cancel_on_disconnect",
        }
    }

    /// The fields before the actor, then those after it (a deploy's
    /// signer), in text order.
    fn fields(&self) -> (FieldList, FieldList) {
        let mut tail = Vec::new();
        let head = match self {
            Command::Halt(s) | Command::Reduce(s) | Command::Resume(s) | Command::MassCancel(s) => {
                vec![("scope", s.to_string())]
            }
            Command::SetLimit { strategy, field, value } => {
                vec![("strategy", strategy.clone()), ("field", field.clone()), ("value", value.clone())]
            }
            Command::Deploy { strategy, module, signer } => {
                if let Some(s) = signer {
                    tail = vec![("signer", s.name.clone()), ("signer_key", hex::encode(s.key))];
                }
                vec![
                    ("strategy", strategy.clone()),
                    ("module_blake3", hex::encode(module.blake3)),
                    ("module_len", module.len.to_string()),
                ]
            }
            Command::Restart { strategy } => vec![("strategy", strategy.clone())],
            Command::Tokens(TokenChange::Create { name, role }) => {
                vec![("token", name.clone()), ("token_role", role.as_str().to_string())]
            }
            Command::Tokens(TokenChange::Revoke { name }) => vec![("token", name.clone())],
            Command::CancelOnDisconnect { scope, session, halt } => {
                vec![("scope", scope.to_string()), ("session", session.clone()), ("halt", halt.to_string())]
            }
        };
        (head, tail)
    }

    /// Parse the fields after the kind word; the actor (if any) has been
    /// taken out. Fields must come in text order, each exactly once.
    fn parse_fields(kind: &str, f: &mut Fields<'_>) -> Result<Command, ParseError> {
        let scope = |f: &mut Fields<'_>| f.take("scope")?.parse::<Scope>();
        let cmd = match kind {
            "halt" => Command::Halt(scope(f)?),
            "reduce" => Command::Reduce(scope(f)?),
            "resume" => Command::Resume(scope(f)?),
            "mass_cancel" => Command::MassCancel(scope(f)?),
            "set_limit" => {
                Command::SetLimit { strategy: f.take("strategy")?, field: f.take("field")?, value: f.take("value")? }
            }
            "deploy" => {
                let strategy = f.take("strategy")?;
                let blake3 = unhex::<32>("module_blake3", &f.take("module_blake3")?)?;
                let len = f.take("module_len")?;
                let len = len
                    .parse::<u64>()
                    .ok()
                    .filter(|n| n.to_string() == len)
                    .ok_or_else(|| ParseError::bad("module_len", format!("`{len}` is not a byte count")))?;
                let signer = match f.take_opt("signer") {
                    Some(name) => Some(SignerRef { name, key: unhex::<32>("signer_key", &f.take("signer_key")?)? }),
                    None => None,
                };
                Command::Deploy { strategy, module: ModuleRef { blake3, len }, signer }
            }
            "restart" => Command::Restart { strategy: f.take("strategy")? },
            "token_create" => {
                let name = f.take("token")?;
                let role = f.take("token_role")?;
                let role = Role::parse(&role).ok_or_else(|| {
                    ParseError::bad("token_role", format!("`{role}` is not viewer, operator or admin"))
                })?;
                Command::Tokens(TokenChange::Create { name, role })
            }
            "token_revoke" => Command::Tokens(TokenChange::Revoke { name: f.take("token")? }),
            "cancel_on_disconnect" => {
                let scope = scope(f)?;
                let session = f.take("session")?;
                let halt = match f.take("halt")?.as_str() {
                    "true" => true,
                    "false" => false,
                    other => return Err(ParseError::bad("halt", format!("`{other}` is not true or false"))),
                };
                Command::CancelOnDisconnect { scope, session, halt }
            }
            "" => return Err(ParseError::Empty),
            other => return Err(ParseError::UnknownKind(other.to_string())),
        };
        Ok(cmd)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (head, tail) = self.fields();
        f.write_str(self.kind())?;
        for (k, v) in head.iter().chain(&tail) {
            write!(f, " {k}={}", Escaped(v))?;
        }
        Ok(())
    }
}

impl FromStr for Command {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Command, ParseError> {
        let mut fields = Fields::new(s)?;
        let cmd = Command::parse_fields(fields.kind, &mut fields)?;
        fields.end(cmd.kind())?;
        Ok(cmd)
    }
}

/// A command with the actor who sent it: the payload of a `COMMAND`
/// journal record (`halt scope=global actor=alice role=operator`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journalled {
    pub command: Command,
    pub actor: Actor,
}

/// Write the record text of `command` sent by `actor` (what
/// `Journalled { command, actor }.to_string()` gives, without cloning).
pub fn record_line(command: &Command, actor: &Actor) -> String {
    let (head, tail) = command.fields();
    let mut s = command.kind().to_string();
    for (k, v) in &head {
        s.push_str(&format!(" {k}={}", Escaped(v)));
    }
    s.push_str(&format!(" {actor}"));
    for (k, v) in &tail {
        s.push_str(&format!(" {k}={}", Escaped(v)));
    }
    s
}

impl fmt::Display for Journalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&record_line(&self.command, &self.actor))
    }
}

impl FromStr for Journalled {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Journalled, ParseError> {
        let mut fields = Fields::new(s)?;
        // The actor sits after the command's own fields (before a deploy's signer).
        let Some(at) = fields.rest.iter().position(|(k, _)| *k == "actor") else {
            // Say what is wrong with the command first, if anything.
            let command = Command::parse_fields(fields.kind, &mut fields)?;
            fields.end(command.kind())?;
            return Err(ParseError::Missing { kind: command.kind().to_string(), field: "actor" });
        };
        let mut actor_fields = Fields { kind: fields.kind, rest: fields.rest.split_off(at) };
        let actor = actor_from(&mut actor_fields)?;
        fields.rest.append(&mut actor_fields.rest);
        let command = Command::parse_fields(fields.kind, &mut fields)?;
        fields.end(command.kind())?;
        if command.fields().0.len() != at {
            // Only reachable for a deploy whose signer came before the actor.
            return Err(ParseError::Unexpected { kind: command.kind().to_string(), field: "actor".into() });
        }
        Ok(Journalled { command, actor })
    }
}

fn actor_from(f: &mut Fields<'_>) -> Result<Actor, ParseError> {
    let name = f.take("actor")?;
    let role = f.take("role")?.parse::<Role>()?;
    Ok(Actor { name, role })
}

/// Why a command's text could not be read. Each names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty command")]
    Empty,
    #[error("unknown command `{0}`")]
    UnknownKind(String),
    #[error("`{word}`: expected key=value")]
    NotAField { word: String },
    #[error("{kind}: missing field `{field}`")]
    Missing { kind: String, field: &'static str },
    #[error("{kind}: unexpected field `{field}`")]
    Unexpected { kind: String, field: String },
    #[error("{field}: {message}")]
    BadValue { field: String, message: String },
}

impl ParseError {
    fn bad(field: &str, message: impl Into<String>) -> ParseError {
        ParseError::BadValue { field: field.to_string(), message: message.into() }
    }
}

/// The kind word and the `key=value` fields of one line, unescaped, in order.
struct Fields<'a> {
    kind: &'a str,
    rest: Vec<(&'a str, String)>,
}

impl<'a> Fields<'a> {
    fn new(s: &'a str) -> Result<Fields<'a>, ParseError> {
        let mut words = s.split(' ');
        let kind = words.next().unwrap_or_default();
        let mut rest = Vec::new();
        for word in words {
            let (k, v) = word.split_once('=').ok_or_else(|| ParseError::NotAField { word: word.to_string() })?;
            rest.push((k, unescape(k, v)?));
        }
        Ok(Fields { kind, rest })
    }

    /// The next field, which must be `key`.
    fn take(&mut self, key: &'static str) -> Result<String, ParseError> {
        self.take_opt(key).ok_or_else(|| ParseError::Missing { kind: self.kind.to_string(), field: key })
    }

    /// The next field if it is `key`.
    fn take_opt(&mut self, key: &str) -> Option<String> {
        if self.rest.first().is_some_and(|(k, _)| *k == key) { Some(self.rest.remove(0).1) } else { None }
    }

    /// No field may be left.
    fn end(&self, kind: &str) -> Result<(), ParseError> {
        match self.rest.first() {
            Some((k, _)) => Err(ParseError::Unexpected { kind: kind.to_string(), field: k.to_string() }),
            None => Ok(()),
        }
    }
}

fn must_escape(c: char) -> bool {
    c.is_whitespace() || c.is_control() || c == '%'
}

/// A value as written in a line (see the module header).
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if must_escape(c) {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    write!(f, "%{b:02X}")?;
                }
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

fn unescape(field: &str, v: &str) -> Result<String, ParseError> {
    if !v.contains('%') {
        return Ok(v.to_string());
    }
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let byte = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    ParseError::bad(field, format!("bad escape at byte {i} (`%` must be followed by two hex digits)"))
                })?;
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).map_err(|e| ParseError::bad(field, format!("escapes do not form UTF-8: {e}")))?;
    // One text per value: an escape of a character that needs none (or
    // lower-case hex) would not round-trip.
    let canonical = Escaped(&s).to_string();
    if canonical != v {
        return Err(ParseError::bad(field, format!("`{v}` is not written canonically (`{canonical}`)")));
    }
    Ok(s)
}

fn unhex<const N: usize>(field: &str, s: &str) -> Result<[u8; N], ParseError> {
    let h = bulkhead_provenance::from_hex::<N>(s).map_err(|e| ParseError::bad(field, e.to_string()))?;
    if hex::encode(h) != s {
        return Err(ParseError::bad(field, format!("`{s}` is not lower-case hex")));
    }
    Ok(h)
}

/// What an executed command did (the control plane words its answer from it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Halt / reduce / resume: the state set, and how many open orders a
    /// halt cancelled.
    State { state: bulkhead_risk::TradingState, cancelled: usize },
    /// Mass cancel: how many open orders were cancelled.
    Cancelled(usize),
    /// Restart or deploy: the module the strategy now runs and how its
    /// fresh instance started (it may have faulted while starting: the
    /// command still took effect).
    Started { module_blake3: [u8; 32], status: crate::Status },
    /// Set limit: the policy field and its value before and after.
    Limit { field: String, before: String, after: String },
    /// Token changes: journalled only.
    Journalled,
}

/// Why the engine refused (or failed) a command. Each maps to one HTTP status.
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn actor() -> Actor {
        Actor { name: "root".into(), role: Role::Admin }
    }

    /// The lines the control plane journalled before this module existed
    /// (its `journal_line`, plus a deploy's signer): byte for byte.
    #[test]
    fn record_lines_are_the_ones_journalled_before() {
        let m = ModuleRef { blake3: [0xab; 32], len: 1234 };
        let k = [0x01; 32];
        let cases = [
            (Command::Halt(Scope::Strategy("mm".into())), "halt scope=strategy:mm actor=root role=admin"),
            (
                Command::Reduce(Scope::Instrument("BTC-USDT".into())),
                "reduce scope=instrument:BTC-USDT actor=root role=admin",
            ),
            (Command::Resume(Scope::Global), "resume scope=global actor=root role=admin"),
            (Command::MassCancel(Scope::Global), "mass_cancel scope=global actor=root role=admin"),
            (
                Command::SetLimit {
                    strategy: "market-maker".into(),
                    field: "max_order_qty".into(),
                    value: "0.005".into(),
                },
                "set_limit strategy=market-maker field=max_order_qty value=0.005 actor=root role=admin",
            ),
            (Command::Restart { strategy: "mm".into() }, "restart strategy=mm actor=root role=admin"),
            (
                Command::Tokens(TokenChange::Create { name: "bob".into(), role: Role::Viewer }),
                "token_create token=bob token_role=viewer actor=root role=admin",
            ),
            (
                Command::Tokens(TokenChange::Revoke { name: "bob".into() }),
                "token_revoke token=bob actor=root role=admin",
            ),
        ];
        for (cmd, line) in cases {
            assert_eq!(record_line(&cmd, &actor()), line);
            assert_eq!(line.parse::<Journalled>(), Ok(Journalled { command: cmd, actor: actor() }));
        }
        let unsigned = Command::Deploy { strategy: "mm".into(), module: m, signer: None };
        let want =
            format!("deploy strategy=mm module_blake3={} module_len=1234 actor=root role=admin", "ab".repeat(32));
        assert_eq!(record_line(&unsigned, &actor()), want);
        let signed =
            Command::Deploy { strategy: "mm".into(), module: m, signer: Some(SignerRef { name: "ci".into(), key: k }) };
        let want = format!("{want} signer=ci signer_key={}", "01".repeat(32));
        assert_eq!(record_line(&signed, &actor()), want);
        assert_eq!(want.parse::<Journalled>().map(|j| j.command), Ok(signed));
    }

    #[test]
    fn parse_errors_name_the_field() {
        let cases = [
            ("", "empty command"),
            ("hlt scope=global actor=a role=admin", "unknown command `hlt`"),
            ("halt actor=a role=admin", "halt: missing field `scope`"),
            ("halt scope=global", "halt: missing field `actor`"),
            ("halt scope=global actor=a", "halt: missing field `role`"),
            ("halt scope=global actor=a role=boss", "role: `boss` is not viewer, operator or admin"),
            (
                "halt scope=planet:x actor=a role=admin",
                "scope: `planet:x` is not `global`, `strategy:NAME` or `instrument:SYMBOL`",
            ),
            ("halt scope=global extra=1 actor=a role=admin", "halt: unexpected field `extra`"),
            ("halt scope=global actor=a role=admin extra=1", "halt: unexpected field `extra`"),
            ("halt  scope=global actor=a role=admin", "``: expected key=value"),
            (
                "halt scope=strategy:a%2 actor=a role=admin",
                "scope: bad escape at byte 10 (`%` must be followed by two hex digits)",
            ),
            ("halt scope=strategy:%FF actor=a role=admin", "scope: escapes do not form UTF-8"),
            (
                "halt scope=strategy:%41 actor=a role=admin",
                "scope: `strategy:%41` is not written canonically (`strategy:A`)",
            ),
            ("set_limit strategy=mm value=1 field=x actor=a role=admin", "set_limit: missing field `field`"),
            ("deploy strategy=mm module_blake3=zz module_len=1 actor=a role=admin", "module_blake3: "),
            (
                "token_create token=x token_role=god actor=a role=admin",
                "token_role: `god` is not viewer, operator or admin",
            ),
        ];
        for (line, want) in cases {
            let err = line.parse::<Journalled>().expect_err(line).to_string();
            assert!(err.starts_with(want), "{line}: got `{err}`, want `{want}…`");
        }
        let h = "ab".repeat(32);
        let line = format!("deploy strategy=mm module_blake3={h} module_len=-1 actor=a role=admin");
        assert_eq!(line.parse::<Journalled>().unwrap_err().to_string(), "module_len: `-1` is not a byte count");
        // A signer before the actor is not where the text form puts it.
        let line =
            format!("deploy strategy=mm module_blake3={h} module_len=1 signer=ci signer_key={h} actor=a role=admin");
        assert_eq!(line.parse::<Journalled>().unwrap_err().to_string(), "deploy: unexpected field `actor`");
    }

    #[test]
    fn values_with_spaces_and_percent_are_escaped() {
        let cmd = Command::Halt(Scope::Strategy("my strat 100%".into()));
        let line = record_line(&cmd, &Actor { name: "a\tb".into(), role: Role::Operator });
        assert_eq!(line, "halt scope=strategy:my%20strat%20100%25 actor=a%09b role=operator");
        assert_eq!(line.parse::<Journalled>().unwrap().command, cmd);
    }

    const KINDS: &[&str] = &[
        "cancel_on_disconnect",
        "halt",
        "reduce",
        "resume",
        "mass_cancel",
        "set_limit",
        "deploy",
        "restart",
        "token_create",
        "token_revoke",
        "x",
    ];
    const KEYS: &[&str] = &[
        "session",
        "halt",
        "scope",
        "strategy",
        "field",
        "value",
        "module_blake3",
        "module_len",
        "signer",
        "signer_key",
        "token",
        "token_role",
        "actor",
        "role",
        "x",
    ];

    fn value() -> impl Strategy<Value = String> {
        let hex = "ab".repeat(32);
        prop_oneof![
            "[a-z0-9:%A-F+]{0,6}",
            prop::sample::select(vec![
                "global".to_string(),
                "strategy:mm".into(),
                "admin".into(),
                "viewer".into(),
                hex
            ]),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        // Anything, weighted towards the characters the text form treats specially.
        prop_oneof![any::<String>(), "[a-z%= :\t\n%0-9A-F-]{0,12}"]
    }

    fn scope() -> impl Strategy<Value = Scope> {
        prop_oneof![Just(Scope::Global), text().prop_map(Scope::Strategy), text().prop_map(Scope::Instrument)]
    }

    fn role() -> impl Strategy<Value = Role> {
        prop_oneof![Just(Role::Viewer), Just(Role::Operator), Just(Role::Admin)]
    }

    fn command() -> impl Strategy<Value = Command> {
        prop_oneof![
            scope().prop_map(Command::Halt),
            scope().prop_map(Command::Reduce),
            scope().prop_map(Command::Resume),
            scope().prop_map(Command::MassCancel),
            (text(), text(), text()).prop_map(|(strategy, field, value)| Command::SetLimit { strategy, field, value }),
            (text(), any::<[u8; 32]>(), any::<u64>(), proptest::option::of((text(), any::<[u8; 32]>()))).prop_map(
                |(strategy, blake3, len, signer)| Command::Deploy {
                    strategy,
                    module: ModuleRef { blake3, len },
                    signer: signer.map(|(name, key)| SignerRef { name, key }),
                }
            ),
            text().prop_map(|strategy| Command::Restart { strategy }),
            (text(), role()).prop_map(|(name, role)| Command::Tokens(TokenChange::Create { name, role })),
            text().prop_map(|name| Command::Tokens(TokenChange::Revoke { name })),
            (scope(), text(), any::<bool>()).prop_map(|(scope, session, halt)| Command::CancelOnDisconnect {
                scope,
                session,
                halt
            }),
        ]
    }

    proptest! {
        #[test]
        fn display_and_from_str_round_trip(command in command(), name in text(), role in role()) {
            let actor = Actor { name, role };
            let j = Journalled { command: command.clone(), actor: actor.clone() };
            let line = j.to_string();
            prop_assert!(!line.contains(['\n', '\t', '\r']));
            prop_assert_eq!(line.parse::<Journalled>(), Ok(j));
            prop_assert_eq!(command.to_string().parse::<Command>(), Ok(command.clone()));
            prop_assert_eq!(actor.to_string().parse::<Actor>(), Ok(actor));
            if let Command::Halt(s) = &command {
                prop_assert_eq!(&s.to_string().parse::<Scope>(), &Ok(s.clone()));
            }
        }

        /// Whatever a line says, parsing answers (no panic), and a line that
        /// parses is the one its command writes.
        #[test]
        fn any_line_that_parses_is_canonical(
            kind in prop::sample::select(KINDS),
            fields in prop::collection::vec((prop::sample::select(KEYS), value()), 0..8),
        ) {
            let line: String = std::iter::once(kind.to_string()).chain(fields.iter().map(|(k, v)| format!(" {k}={v}"))).collect();
            if let Ok(j) = line.parse::<Journalled>() {
                prop_assert_eq!(j.to_string(), line);
            }
        }
    }
}
