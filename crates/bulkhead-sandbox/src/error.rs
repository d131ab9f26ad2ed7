//! Typed errors: load-time refusals ([`LoadError`]), run-time faults
//! ([`Fault`]) and runtime construction failures ([`SandboxError`]).

use bulkhead_abi::IMPORT_MODULE;

/// The runtime itself could not be set up (engine configuration, epoch thread).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SandboxError {
    #[error("could not create the wasm engine: {message}")]
    Engine { message: String },
    #[error("could not register host function `{IMPORT_MODULE}::{name}`: {message}")]
    Linker { name: &'static str, message: String },
    #[error("could not start the epoch ticker thread: {message}")]
    Ticker { message: String },
}

/// A module was refused at load time. Every variant names the module and the
/// offending item (import, export, section, count) and, for a limit, the
/// limit and its [`crate::ModuleLimits`] field.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoadError {
    #[error("module `{name}`: not a WebAssembly module ({message})")]
    NotWasm { name: String, message: String },
    #[error("module `{name}`: import `{module}::{field}` is not allowed ({})", forbidden_why(module, field))]
    ForbiddenImport { name: String, module: String, field: String },
    #[error("module `{name}`: import `{IMPORT_MODULE}::{field}` has signature {found}, expected {expected}")]
    WrongSignature { name: String, field: String, expected: String, found: String },
    #[error("module `{name}`: required export `{export}` is missing")]
    MissingExport { name: String, export: String },
    #[error("module `{name}`: export `{export}` is {found}, expected {expected}")]
    WrongExportType { name: String, export: String, expected: String, found: String },
    #[error("module `{name}`: failed to compile: {message}")]
    Compile { name: String, message: String },
    /// A count or size over one of the [`crate::ModuleLimits`], found by the
    /// validation pass before anything was compiled. `field` is the limit's
    /// configuration key.
    #[error("module `{name}`: {found} {item}, over the limit of {limit} ({field})")]
    OverLimit { name: String, item: String, found: u64, limit: u64, field: &'static str },
    /// The validation pass could not parse the module (before compiling).
    #[error("module `{name}`: malformed at byte offset {offset}: {message}")]
    Malformed { name: String, offset: u64, message: String },
    /// Compilation ran past its wall-clock budget; its result is discarded.
    #[error("module `{name}`: compilation took longer than its budget of {budget_ms} ms (compile_timeout_ms); refused")]
    CompileTimeout { name: String, budget_ms: u64 },
    /// Too many compilations (earlier ones that ran over their budget still
    /// finishing in the background) are running to start another.
    #[error(
        "module `{name}`: {running} compilations are still running (at most {limit}: earlier ones over their budget finish in the background); refused, retry later"
    )]
    CompileBusy { name: String, running: usize, limit: usize },
}

fn forbidden_why(module: &str, field: &str) -> &'static str {
    if module != IMPORT_MODULE {
        "only module `bulkhead` may be imported"
    } else if bulkhead_abi::IMPORTS.iter().any(|s| s.name == field) {
        "only functions may be imported"
    } else {
        "`bulkhead` has no host function of that name"
    }
}

/// A strategy breached a limit or trapped. Faults are values, never host
/// panics; the engine quarantines the strategy that raised one.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Fault {
    #[error("strategy exhausted its fuel budget of {limit} units in one callback")]
    FuelExhausted { limit: u64 },
    #[error("strategy ran past its wall-clock deadline of {limit_us} µs in one callback")]
    Deadline { limit_us: u64 },
    #[error("strategy asked for {requested} bytes of linear memory, over its limit of {limit} bytes")]
    MemoryLimit { requested: u64, limit: u64 },
    #[error("strategy asked for a table of {requested} elements, over its limit of {limit} elements")]
    TableLimit { requested: u64, limit: u64 },
    /// `limit_bytes`: the wasm stack in force (wasmtime's limit is
    /// engine-wide: the runtime's, at least what the strategy asked for).
    #[error("strategy overflowed its wasm stack of {limit_bytes} bytes (recursion too deep)")]
    StackOverflow { limit_bytes: usize },
    #[error("strategy trapped: {code}")]
    Trap { code: String },
    #[error("strategy made more than {limit} host calls in one callback")]
    HostCallBudget { limit: u32 },
    #[error("strategy logged faster than its limit of {limit_per_sec} bytes per second of event time")]
    LogRate { limit_per_sec: u64 },
    #[error(
        "strategy passed an out-of-bounds buffer to `{call}`: pointer {ptr} + length {len} is outside its {memory_size}-byte linear memory"
    )]
    BadPointer { call: &'static str, ptr: u64, len: u64, memory_size: u64 },
    #[error("strategy reports ABI version {found}, but the host speaks version {expected}")]
    AbiVersion { found: i32, expected: i32 },
    #[error("strategy's `bulkhead_buffer` returned a buffer that does not fit inside its linear memory")]
    MissingBuffer,
    #[error("strategy callback `{callback}` returned error code {code}")]
    GuestError { callback: &'static str, code: i32 },
    #[error("strategy could not be instantiated: {message}")]
    Instantiate { message: String },
    /// A budget that holds per market event (everything the strategy is
    /// handed because of one market event, however many guest calls) or per
    /// second of event time was spent. `kind` is one of [`BUDGET_KINDS`].
    #[error("strategy exceeded its budget of {limit} {unit} (asked for {used})")]
    Budget { kind: &'static str, unit: &'static str, used: u64, limit: u64 },
}

/// Fault kinds of [`Fault::Budget`]: the sandbox's own per-event budgets,
/// then the host-kept ones ([`bulkhead_abi::HostBudget`]).
pub const BUDGET_KINDS: [&str; 6] =
    ["event_fuel", "event_host_calls", "event_callbacks", "journal_bytes", "journal_rate", "inbox_overflow"];

/// Every fault kind a strategy can be quarantined with (stable names).
pub const FAULT_KINDS: [&str; 19] = [
    "fuel",
    "deadline",
    "memory",
    "table",
    "stack",
    "trap",
    "host_calls",
    "log_rate",
    "bad_pointer",
    "abi_version",
    "missing_buffer",
    "guest_error",
    "instantiate",
    "event_fuel",
    "event_host_calls",
    "event_callbacks",
    "journal_bytes",
    "journal_rate",
    "inbox_overflow",
];

impl From<bulkhead_abi::Breach> for Fault {
    fn from(b: bulkhead_abi::Breach) -> Self {
        Fault::Budget { kind: b.budget.kind(), unit: b.budget.unit(), used: b.used, limit: b.limit }
    }
}

impl Fault {
    /// Stable snake_case name of the fault kind (for journals and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::FuelExhausted { .. } => "fuel",
            Fault::Deadline { .. } => "deadline",
            Fault::MemoryLimit { .. } => "memory",
            Fault::TableLimit { .. } => "table",
            Fault::StackOverflow { .. } => "stack",
            Fault::Trap { .. } => "trap",
            Fault::HostCallBudget { .. } => "host_calls",
            Fault::LogRate { .. } => "log_rate",
            Fault::BadPointer { .. } => "bad_pointer",
            Fault::AbiVersion { .. } => "abi_version",
            Fault::MissingBuffer => "missing_buffer",
            Fault::GuestError { .. } => "guest_error",
            Fault::Instantiate { .. } => "instantiate",
            Fault::Budget { kind, .. } => kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_module_and_import() {
        let e = LoadError::ForbiddenImport {
            name: "evil.wasm".into(),
            module: "wasi_snapshot_preview1".into(),
            field: "fd_write".into(),
        };
        assert_eq!(
            e.to_string(),
            "module `evil.wasm`: import `wasi_snapshot_preview1::fd_write` is not allowed (only module `bulkhead` may be imported)"
        );
        let e = LoadError::ForbiddenImport { name: "m".into(), module: "bulkhead".into(), field: "foo".into() };
        assert!(e.to_string().contains("`bulkhead::foo`"), "{e}");
    }

    #[test]
    fn fault_display_has_numbers_and_kind_is_stable() {
        let f = Fault::BadPointer { call: "submit_order", ptr: 4294967290, len: 32, memory_size: 65536 };
        let s = f.to_string();
        assert!(s.contains("submit_order") && s.contains("4294967290") && s.contains("65536"), "{s}");
        assert_eq!(f.kind(), "bad_pointer");
        assert_eq!(Fault::FuelExhausted { limit: 5 }.kind(), "fuel");
        assert_eq!(Fault::HostCallBudget { limit: 5 }.kind(), "host_calls");
    }
}
