//! The chain worker: a thread with its own async runtime that talks to the
//! node (simulate, sign, broadcast, await receipts) so the engine thread
//! never blocks on the network inside a guest call. The engine submits
//! [`Job`]s and drains [`Done`]s at event boundaries; every `Done` is
//! journalled by the engine before anything follows from it, and a signed
//! transaction is broadcast only after its hash is journalled.
//!
//! Must never: decide anything (the policy and the engine do), or write the
//! journal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use alloy_primitives::{Address, B256};

use crate::config::ChainConfig;
use crate::keys::KeyFile;
use crate::rpc::{ChainClient, ChainError, SignedTx};
use crate::types::{ContractBook, Intent, Mined, SimOutcome};

/// Work for the node.
#[derive(Debug)]
pub enum Job {
    Simulate {
        sid: u32,
        id: u64,
        from: Address,
        intent: Intent,
    },
    Sign {
        sid: u32,
        id: u64,
        from: Address,
        intent: Intent,
        block_timestamp: u64,
        gas_limit: u64,
    },
    /// Broadcast the transaction signed for `(sid, id)` (its hash is
    /// journalled by now) and await its receipt.
    Broadcast {
        sid: u32,
        id: u64,
        from: Address,
    },
    /// Forget a signed transaction that will not be sent.
    Discard {
        sid: u32,
        id: u64,
    },
}

/// Why a step failed: `unavailable` = the node is down, slow or refused
/// the connection (`CHAIN_UNAVAILABLE`); otherwise the node answered with
/// an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub unavailable: bool,
    pub message: String,
}

impl From<ChainError> for Failure {
    fn from(e: ChainError) -> Self {
        Failure { unavailable: matches!(e, ChainError::Unavailable(_)), message: e.to_string() }
    }
}

/// What the node reported for one step.
#[derive(Clone, Debug)]
pub enum Done {
    Simulated { sid: u32, id: u64, result: Result<SimOutcome, Failure> },
    Signed { sid: u32, id: u64, result: Result<(B256, u64), Failure> },
    Mined { sid: u32, id: u64, result: Result<Mined, Failure> },
}

/// Handle of the worker thread.
pub struct ChainWorker {
    jobs: Option<tokio::sync::mpsc::UnboundedSender<Job>>,
    done: mpsc::Receiver<Done>,
    in_flight: usize,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for ChainWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChainWorker {{ in_flight: {} }}", self.in_flight)
    }
}

type Signed = Arc<Mutex<HashMap<(u32, u64), SignedTx>>>;

impl ChainWorker {
    /// Start the worker and connect. `Err` = the node could not be reached
    /// (or is the wrong chain): the run goes on, refusing intents with
    /// `CHAIN_UNAVAILABLE`.
    pub fn spawn(cfg: &ChainConfig, keys: KeyFile, book: ContractBook) -> Result<ChainWorker, Failure> {
        let (job_tx, mut job_rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let (done_tx, done) = mpsc::channel::<Done>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), Failure>>();
        let wait = Duration::from_millis(cfg_connect_wait(cfg));
        let cfg = cfg.clone();
        let receipt_timeout = Duration::from_millis(cfg.receipt_timeout_ms);
        let thread = std::thread::Builder::new()
            .name("bulkhead-chain".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Failure { unavailable: true, message: format!("runtime: {e}") }));
                        return;
                    }
                };
                rt.block_on(async move {
                    let client = match ChainClient::connect(&cfg, keys).await {
                        Ok(c) => Arc::new(c),
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.into()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let book = Arc::new(book);
                    let signed: Signed = Arc::default();
                    while let Some(job) = job_rx.recv().await {
                        let (client, book, signed, done_tx) =
                            (client.clone(), book.clone(), signed.clone(), done_tx.clone());
                        tokio::spawn(async move {
                            if let Some(d) = run(&client, &book, &signed, job, receipt_timeout).await {
                                let _ = done_tx.send(d);
                            }
                        });
                    }
                });
            })
            .map_err(|e| Failure { unavailable: true, message: format!("thread: {e}") })?;
        match ready_rx.recv_timeout(wait) {
            Ok(Ok(())) => Ok(ChainWorker { jobs: Some(job_tx), done, in_flight: 0, thread: Some(thread) }),
            Ok(Err(f)) => Err(f),
            Err(_) => Err(Failure {
                unavailable: true,
                message: format!("no answer from the node within {} ms", wait.as_millis()),
            }),
        }
    }

    /// Queue a job (never blocks). Every job but `Discard` yields one [`Done`].
    pub fn submit(&mut self, job: Job) {
        if !matches!(job, Job::Discard { .. }) {
            self.in_flight += 1;
        }
        if let Some(j) = &self.jobs {
            let _ = j.send(job);
        }
    }

    /// Steps submitted whose [`Done`] has not been taken yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// A finished step, if one is ready.
    pub fn try_recv(&mut self) -> Option<Done> {
        let d = self.done.try_recv().ok()?;
        self.in_flight = self.in_flight.saturating_sub(1);
        Some(d)
    }

    /// Wait up to `timeout` for a finished step.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Done> {
        let d = self.done.recv_timeout(timeout).ok()?;
        self.in_flight = self.in_flight.saturating_sub(1);
        Some(d)
    }
}

impl Drop for ChainWorker {
    fn drop(&mut self) {
        // Closing the job channel ends the runtime's loop; tasks in flight
        // are dropped with it (nothing is broadcast that was not asked for).
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How long `spawn` waits for the first answer: the RPC timeout plus slack.
fn cfg_connect_wait(cfg: &ChainConfig) -> u64 {
    cfg.rpc_timeout_ms.saturating_add(1_000)
}

async fn run(
    client: &ChainClient,
    book: &ContractBook,
    signed: &Signed,
    job: Job,
    receipt_timeout: Duration,
) -> Option<Done> {
    Some(match job {
        Job::Simulate { sid, id, from, intent } => {
            Done::Simulated { sid, id, result: client.simulate(from, book, &intent).await.map_err(Failure::from) }
        }
        Job::Sign { sid, id, from, intent, block_timestamp, gas_limit } => {
            let result = match client.sign(from, &intent, block_timestamp, gas_limit).await {
                Ok(tx) => {
                    let out = (tx.hash, tx.nonce);
                    if let Ok(mut m) = signed.lock() {
                        m.insert((sid, id), tx);
                    }
                    Ok(out)
                }
                Err(e) => Err(Failure::from(e)),
            };
            Done::Signed { sid, id, result }
        }
        Job::Broadcast { sid, id, from } => {
            let tx = signed.lock().ok().and_then(|mut m| m.remove(&(sid, id)));
            let result = match tx {
                None => Err(Failure { unavailable: false, message: "no signed transaction for this intent".into() }),
                Some(tx) => match client.broadcast(&tx).await {
                    Ok(()) => client.receipt(&tx, from, book, receipt_timeout).await.map_err(Failure::from),
                    Err(e) => Err(Failure::from(e)),
                },
            };
            Done::Mined { sid, id, result }
        }
        Job::Discard { sid, id } => {
            if let Ok(mut m) = signed.lock() {
                m.remove(&(sid, id));
            }
            return None;
        }
    })
}
