//! Errors of the cluster transport: each names the stream, the stream sequence and the
//! field (or the servers and operation) involved. Never a panic for bad input.

use std::time::Duration;

use crate::config::ConfigError;
use crate::frame::FrameError;

/// What went wrong talking to NATS or checking what it returned.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The gateway could not go on (a protocol or engine error).
    #[error("gateway: {0}")]
    Gateway(String),
    /// The `[cluster]` config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No server of the config answered within the connect timeout.
    #[error("cannot reach NATS at {servers} within {timeout:?}: {reason}")]
    Unreachable { servers: String, timeout: Duration, reason: String },
    /// A NATS or JetStream operation failed (stream create/info, publish, get).
    #[error("NATS {op} on stream {stream}: {reason}")]
    Nats { op: &'static str, stream: String, reason: String },
    /// A message of the stream is not a well-formed batch.
    #[error("stream {stream} message {stream_seq}: {source}")]
    Malformed {
        stream: String,
        stream_seq: u64,
        #[source]
        source: FrameError,
    },
    /// A batch does not start where the previous one ended.
    #[error("stream {stream} message {stream_seq}: field first_seq: gap, expected record {expected}, found {found}")]
    Gap { stream: String, stream_seq: u64, expected: u64, found: u64 },
    /// The rebuilt journal's link after a batch differs from the one the batch carries.
    #[error(
        "stream {stream} message {stream_seq}: field last_link: record {seq} rebuilt with link {rebuilt:016x}, the batch says {mirrored:016x}"
    )]
    LinkMismatch { stream: String, stream_seq: u64, seq: u64, rebuilt: u64, mirrored: u64 },
    /// The rebuilt journal's last seal differs from the one the last batch carries.
    #[error(
        "stream {stream} message {stream_seq}: field final_seal: rebuilt journal ends with {rebuilt}, the batch says {mirrored}"
    )]
    SealMismatch { stream: String, stream_seq: u64, rebuilt: String, mirrored: String },
    /// Batches of one stream disagree on the journal's parameters.
    #[error("stream {stream} message {stream_seq}: field params: differ from the first message's")]
    ParamsChanged { stream: String, stream_seq: u64 },
    /// The stream holds records the local journal does not have, or different ones.
    #[error("journal {dir} diverges from stream {stream}: {problem}")]
    Diverged { dir: String, stream: String, problem: String },
    /// A record does not fit in one message.
    #[error("record {seq} of {bytes} bytes does not fit in a NATS message (max_payload {max} bytes)")]
    RecordTooLarge { seq: u64, bytes: usize, max: usize },
    /// The stream has no messages.
    #[error("stream {0} is empty (or does not exist): nothing to fetch")]
    Empty(String),
    /// Reading or writing a local journal failed.
    #[error(transparent)]
    Journal(#[from] bulkhead_journal::JournalError),
    /// Local I/O outside the journal (the tokio runtime).
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}
