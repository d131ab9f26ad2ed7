//! Market data over JetStream (issue 18, the `feed` role): a publisher puts
//! a market source's events, in order, into stream `MD_<feed>`; any node
//! reads them back as a [`MarketSource`] ([`FeedSource`]) and sees exactly
//! the same events in the same order — the stream sequence is the one order
//! every node agrees on, which is what makes a run split across nodes
//! reproducible.
//!
//! **Owns:** the feed's stream and subject, the batch format (below), the
//! publisher's resume and end marker, the reader's checks and its wait for
//! messages not yet published. **Must never:** reorder, drop or invent an
//! event (a gap or a malformed batch is an error naming the stream
//! sequence and the field), or interpret an event beyond decoding it.
//!
//! ## Batch format (little-endian)
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `BHMD0001` |
//! | 8 | 8 | `first_index`: index of the batch's first event in the feed (0-based) |
//! | 16 | 4 | `count` (0 ..= [`MAX_FEED_EVENTS`]) |
//! | 20 | 4 | `flags`: bit 0 = END (no event follows this batch); other bits 0 |
//! | 24 | 64 × count | the events, each a 64-byte ABI [`Event`] |
//!
//! Message id `<feed>/<first_index>` (a re-published batch is stored once);
//! each publish expects the stream's last sequence (one publisher per feed).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use bulkhead_abi::{EVENT_SIZE, Event};
use bulkhead_data::{DataError, MarketSource};

use crate::config::{ClusterConfig, check_node_name};
use crate::error::ClusterError;
use crate::mirror::runtime;
use crate::retry::{retry, transient};

/// Most events in one batch (4 096 × 64 B = 256 KiB).
pub const MAX_FEED_EVENTS: usize = 4096;
const MAGIC: &[u8; 8] = b"BHMD0001";
const HEADER: usize = 24;
const FLAG_END: u32 = 1;

/// `bulkhead.md.<feed>`.
pub fn md_subject(feed: &str) -> String {
    format!("bulkhead.md.{feed}")
}

/// `MD_<feed>`.
pub fn md_stream(feed: &str) -> String {
    format!("MD_{feed}")
}

/// A batch that is not well formed: the field and what is wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("field {field}: {problem}")]
pub struct FeedFrameError {
    pub field: &'static str,
    pub problem: String,
}

/// One decoded batch.
#[derive(Debug, PartialEq)]
pub struct FeedBatch {
    pub first_index: u64,
    pub events: Vec<Event>,
    pub end: bool,
}

/// Encodes a batch (at most [`MAX_FEED_EVENTS`] events; more is a bug of the caller and
/// is cut to that many).
pub fn encode_batch(first_index: u64, events: &[Event], end: bool) -> Vec<u8> {
    let events = &events[..events.len().min(MAX_FEED_EVENTS)];
    let mut out = Vec::with_capacity(HEADER + events.len() * EVENT_SIZE);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&first_index.to_le_bytes());
    out.extend_from_slice(&(events.len() as u32).to_le_bytes());
    out.extend_from_slice(&(if end { FLAG_END } else { 0 }).to_le_bytes());
    for e in events {
        out.extend_from_slice(&e.encode());
    }
    out
}

/// Decodes a batch, checking every length and field.
pub fn decode_batch(buf: &[u8]) -> Result<FeedBatch, FeedFrameError> {
    let bad = |field, problem: String| FeedFrameError { field, problem };
    if buf.len() < HEADER {
        return Err(bad("header", format!("{} bytes, a batch has at least {HEADER}", buf.len())));
    }
    if &buf[..8] != MAGIC {
        return Err(bad("magic", "not BHMD0001".into()));
    }
    let u64_at = |o: usize| u64::from_le_bytes(buf[o..o + 8].try_into().unwrap_or_default());
    let u32_at = |o: usize| u32::from_le_bytes(buf[o..o + 4].try_into().unwrap_or_default());
    let (first_index, count, flags) = (u64_at(8), u32_at(16) as usize, u32_at(20));
    if count > MAX_FEED_EVENTS {
        return Err(bad("count", format!("{count}, at most {MAX_FEED_EVENTS}")));
    }
    if flags & !FLAG_END != 0 {
        return Err(bad("flags", format!("{flags:#x}: only bit 0 (END) is defined")));
    }
    if buf.len() != HEADER + count * EVENT_SIZE {
        return Err(bad(
            "length",
            format!("{} bytes for {count} events, expected {}", buf.len(), HEADER + count * EVENT_SIZE),
        ));
    }
    let mut events = Vec::with_capacity(count);
    for (i, chunk) in buf[HEADER..].chunks_exact(EVENT_SIZE).enumerate() {
        events.push(Event::decode(chunk).map_err(|e| bad("event", format!("event {i} of the batch: {e}")))?);
    }
    Ok(FeedBatch { first_index, events, end: flags & FLAG_END != 0 })
}

fn nats(op: &'static str, stream: &str, reason: impl ToString) -> ClusterError {
    ClusterError::Nats { op, stream: stream.to_string(), reason: reason.to_string() }
}

/// What a publish did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedReport {
    /// Events in the feed after the publish.
    pub events: u64,
    /// Events already in the stream (skipped).
    pub skipped: u64,
    /// Batches sent now.
    pub batches: u64,
}

/// Publishes `source` as feed `feed`, then an END marker. Resumes where the
/// stream ends (the source's first events must be the ones already there,
/// which a deterministic source guarantees); a complete feed is left as it
/// is. Each batch is acknowledged before the next is sent.
pub async fn publish_feed_async(
    client: &async_nats::Client,
    cfg: &ClusterConfig,
    feed: &str,
    source: &mut dyn MarketSource,
) -> Result<FeedReport, ClusterError> {
    check_node_name("feed", feed)?;
    let name = md_stream(feed);
    let js = jetstream::new(client.clone());
    let config = stream::Config {
        name: name.clone(),
        subjects: vec![md_subject(feed)],
        storage: stream::StorageType::File,
        num_replicas: usize::from(cfg.replicas),
        ..Default::default()
    };
    let w = cfg.failover;
    retry(w, || js.get_or_create_stream(config.clone())).await.map_err(|e| nats("create stream", &name, e))?;
    // Fresh info from the stream leader (`get_stream` asks for it).
    let s = retry(w, || js.get_stream(&name)).await.map_err(|e| nats("stream info", &name, e))?;
    let mut last_seq = s.cached_info().state.last_sequence;
    let mut next_index = 0u64;
    if last_seq > 0 {
        let m = retry(w, || s.get_raw_message(last_seq)).await.map_err(|e| nats("get message", &name, e))?;
        let b = decode_batch(&m.payload).map_err(|e| nats("decode last batch", &name, e))?;
        next_index = b.first_index + b.events.len() as u64;
        if b.end {
            return Ok(FeedReport { events: next_index, skipped: next_index, batches: 0 });
        }
    }
    let mut report = FeedReport { skipped: next_index, ..FeedReport::default() };
    for i in 0..next_index {
        if source.next_event().map_err(|e| nats("read source", &name, e))?.is_none() {
            return Err(nats("resume", &name, format!("the stream holds {next_index} events, the source only {i}")));
        }
    }
    let mut buf = Vec::with_capacity(MAX_FEED_EVENTS);
    loop {
        buf.clear();
        while buf.len() < MAX_FEED_EVENTS {
            match source.next_event().map_err(|e| nats("read source", &name, e))? {
                Some(e) => buf.push(e),
                None => break,
            }
        }
        let end = buf.len() < MAX_FEED_EVENTS;
        let payload = bytes::Bytes::from(encode_batch(next_index, &buf, end));
        let id = format!("{feed}/{next_index}");
        let sent = retry(w, || async {
            let msg = jetstream::message::PublishMessage::build()
                .payload(payload.clone())
                .message_id(id.as_str())
                .expected_last_sequence(last_seq);
            js.send_publish(md_subject(feed), msg).await?.await
        });
        let ack = match sent.await {
            Ok(ack) => ack,
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                return Err(nats("publish", &name, format!("another publisher wrote to feed {feed}: {e}")));
            }
            Err(e) => return Err(nats("publish", &name, e)),
        };
        last_seq = ack.sequence;
        next_index += buf.len() as u64;
        report.batches += 1;
        if end {
            report.events = next_index;
            return Ok(report);
        }
    }
}

/// Blocking [`publish_feed_async`].
pub fn publish_feed(
    cfg: &ClusterConfig,
    feed: &str,
    source: &mut dyn MarketSource,
) -> Result<FeedReport, ClusterError> {
    runtime()?.block_on(async {
        let client = crate::connect(cfg).await?;
        publish_feed_async(&client, cfg, feed, source).await
    })
}

/// A feed read back as market data, in stream order, waiting for batches
/// not yet published (a live feed) up to `idle` between two of them.
pub struct FeedSource {
    rt: tokio::runtime::Runtime,
    stream: stream::Stream,
    name: String,
    /// Next stream sequence to read.
    seq: u64,
    /// Index the next batch must start at.
    next_index: u64,
    events: VecDeque<Event>,
    ended: bool,
    idle: Duration,
    failover: Duration,
}

impl FeedSource {
    /// Connects and opens feed `feed` (its stream must exist).
    pub fn open(cfg: &ClusterConfig, feed: &str, idle: Duration) -> Result<FeedSource, ClusterError> {
        check_node_name("feed", feed)?;
        let rt = runtime()?;
        let name = md_stream(feed);
        let stream = rt.block_on(async {
            let js = jetstream::new(crate::connect(cfg).await?);
            retry(cfg.failover, || js.get_stream(&name)).await.map_err(|e| nats("get stream", &name, e))
        })?;
        Ok(FeedSource {
            rt,
            stream,
            name,
            seq: 1,
            next_index: 0,
            events: VecDeque::new(),
            ended: false,
            idle,
            failover: cfg.failover,
        })
    }

    fn err(&self, field: &'static str, problem: String) -> DataError {
        DataError::Row { path: PathBuf::from(format!("nats stream {}", self.name)), row: self.seq, field, problem }
    }

    /// The next batch: waits (backing off 2 ms → 100 ms) while it is not
    /// published yet, up to `idle`; retries a leader election up to the
    /// failover time.
    fn fetch(&mut self) -> Result<FeedBatch, DataError> {
        let (stream, seq, idle, failover) = (&self.stream, self.seq, self.idle, self.failover);
        let got = self.rt.block_on(async {
            let start = std::time::Instant::now();
            let mut pause = Duration::from_millis(2);
            loop {
                match stream.get_raw_message(seq).await {
                    Ok(m) => return Ok(m.payload),
                    Err(e) if matches!(e.kind(), stream::LastRawMessageErrorKind::NoMessageFound) => {
                        if start.elapsed() >= idle {
                            return Err((
                                "stream_seq",
                                format!("no batch within {} ms (feed stalled)", idle.as_millis()),
                            ));
                        }
                    }
                    Err(e) if transient(&e.to_string()) && start.elapsed() < failover => {}
                    Err(e) => return Err(("stream_seq", format!("NATS get message: {e}"))),
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
        });
        let payload = got.map_err(|(f, p)| self.err(f, p))?;
        let batch = decode_batch(&payload).map_err(|e| self.err(e.field, e.problem))?;
        if batch.first_index != self.next_index {
            return Err(self.err(
                "first_index",
                format!("gap: expected event {}, the batch starts at {}", self.next_index, batch.first_index),
            ));
        }
        Ok(batch)
    }
}

impl MarketSource for FeedSource {
    fn next_event(&mut self) -> Result<Option<Event>, DataError> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            if self.ended {
                return Ok(None);
            }
            let batch = self.fetch()?;
            self.seq += 1;
            self.next_index += batch.events.len() as u64;
            self.ended = batch.end;
            self.events.extend(batch.events);
        }
    }

    fn len_hint(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_abi::EventKind;

    fn ev(i: u64) -> Event {
        let mut e = Event::new(EventKind::Trade, 0, 1_000 + i);
        e.price = 100 + i as i64;
        e.qty = 1;
        e
    }

    #[test]
    fn batches_round_trip_and_every_malformed_field_is_named() {
        let events: Vec<Event> = (0..5).map(ev).collect();
        let buf = encode_batch(7, &events, true);
        assert_eq!(decode_batch(&buf).unwrap(), FeedBatch { first_index: 7, events: events.clone(), end: true });
        let field = |b: &[u8]| decode_batch(b).unwrap_err().field;
        assert_eq!(field(&buf[..10]), "header");
        let mut m = buf.clone();
        m[0] = b'X';
        assert_eq!(field(&m), "magic");
        assert_eq!(field(&buf[..buf.len() - 1]), "length");
        let mut m = buf.clone();
        m[20] = 2;
        assert_eq!(field(&m), "flags");
        let mut m = buf.clone();
        m[16..20].copy_from_slice(&(MAX_FEED_EVENTS as u32 + 1).to_le_bytes());
        assert_eq!(field(&m), "count");
        let empty_end = encode_batch(0, &[], true);
        assert_eq!(decode_batch(&empty_end).unwrap().events.len(), 0);
    }
}
