//! Push a journal, lose a server, push again (resume, no duplicates), fetch it back
//! byte-identical and verified.

use crate::{append_records, assert_same_segments, cluster, config, params};
use async_nats::jetstream::{self, message::PublishMessage};
use bulkhead_cluster::{connect, fetch_journal, journal_stream, journal_subject, push_journal};
use bulkhead_journal::{JournalWriter, verify};

fn stream_messages(cfg: &bulkhead_cluster::ClusterConfig) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = connect(cfg).await.unwrap();
        let js = jetstream::new(client);
        let mut s = js.get_stream(journal_stream(&cfg.node)).await.unwrap();
        s.info().await.unwrap().state.messages
    })
}

/// Waits until every replica of the node's stream is current (no lag): a
/// restarted server has caught up. R3 survives one server down at a time;
/// an operator (and this test) lets a restarted server catch up before
/// taking down another.
fn wait_replicas_current(cfg: &bulkhead_cluster::ClusterConfig) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = connect(cfg).await.unwrap();
        let js = jetstream::new(client);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Ok(mut s) = js.get_stream(journal_stream(&cfg.node)).await
                && let Ok(info) = s.info().await
                && let Some(cl) = &info.cluster
                && cl.leader.is_some()
                && cl.replicas.len() == 2
                && cl.replicas.iter().all(|p| p.current && !p.offline && p.lag.unwrap_or(0) == 0)
            {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "replicas did not catch up within 30 s");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
}

#[test]
fn push_kill_a_server_push_again_and_fetch_byte_identical() {
    let Some(mut c) = cluster() else { return };
    let cfg = config(&c, "n1");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src.journal");

    // A journal that is still open (unsealed tail) is pushed as far as it goes.
    let mut w = JournalWriter::create(&src, params()).unwrap();
    append_records(&mut w, 0, 3000);
    w.finish().unwrap();
    let first = push_journal(&cfg, &src).unwrap();
    assert_eq!((first.records, first.sent, first.skipped, first.duplicates), (3000, 3000, 0, 0));
    assert!(first.batches > 10, "{first:?}");
    assert_eq!(stream_messages(&cfg), first.batches);

    // One of three servers dies; the journal grows; the push resumes where the stream ends.
    c.kill(1);
    let (mut w, _) = JournalWriter::open_append(&src, params()).unwrap();
    append_records(&mut w, 3000, 2000);
    w.finish().unwrap();
    let second = push_journal(&cfg, &src).unwrap();
    assert_eq!((second.records, second.skipped, second.sent, second.duplicates), (5000, 3000, 2000, 0));
    // Again: nothing to send, nothing duplicated.
    let third = push_journal(&cfg, &src).unwrap();
    assert_eq!((third.sent, third.batches, third.skipped), (0, 0, 5000));
    assert_eq!(stream_messages(&cfg), first.batches + second.batches);

    let out = tmp.path().join("fetched.journal");
    let got = fetch_journal(&cfg, "n1", &out).unwrap();
    assert!(got.seal_checked);
    let want = verify(&src).unwrap();
    let have = verify(&out).unwrap();
    assert_eq!((have.records, have.last_hash, have.segments), (5000, want.last_hash, want.segments));
    assert!(want.segments > 5, "several segments: {want:?}");
    assert_same_segments(&out, &src);

    // The dead server comes back and catches up; then another one dies: the stream is
    // still whole on the two that remain.
    c.restart(1).unwrap();
    c.wait_ready(bulkhead_cluster::local::READY_TIMEOUT).unwrap();
    wait_replicas_current(&cfg);
    c.kill(0);
    let again = tmp.path().join("fetched-again.journal");
    fetch_journal(&cfg, "n1", &again).unwrap();
    assert_same_segments(&again, &src);
}

/// A batch re-published after a crash (same `Nats-Msg-Id`) is stored once.
#[test]
fn a_republished_batch_is_deduplicated_by_message_id() {
    let Some(c) = cluster() else { return };
    let cfg = config(&c, "n2");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src.journal");
    let mut w = JournalWriter::create(&src, params()).unwrap();
    append_records(&mut w, 0, 200);
    w.finish().unwrap();
    let pushed = push_journal(&cfg, &src).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dup = rt.block_on(async {
        let client = connect(&cfg).await.unwrap();
        let js = jetstream::new(client);
        let s = js.get_stream(journal_stream("n2")).await.unwrap();
        let first = s.get_raw_message(1).await.unwrap();
        let publish = PublishMessage::build().payload(first.payload.clone()).message_id("n2/0");
        js.send_publish(journal_subject("n2"), publish).await.unwrap().await.unwrap()
    });
    assert!(dup.duplicate, "{dup:?}");
    assert_eq!(dup.sequence, 1);
    assert_eq!(stream_messages(&cfg), pushed.batches);
    let out = tmp.path().join("fetched");
    assert_eq!(fetch_journal(&cfg, "n2", &out).unwrap().records, 200);
    assert_same_segments(&out, &src);
}

/// A journal still being written (no closing seal) is mirrored as far as it goes; the
/// fetched copy is sealed by the fetch. When the run later resumes and finishes, a second
/// push completes the stream and the fetch is byte-identical again.
#[test]
fn an_unsealed_journal_is_mirrored_then_completed_after_resume() {
    let Some(c) = cluster() else { return };
    let cfg = config(&c, "n3");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src.journal");
    let mut w = JournalWriter::create(&src, params()).unwrap();
    append_records(&mut w, 0, 700);
    w.flush().unwrap();
    let first = push_journal(&cfg, &src).unwrap();
    assert_eq!(first.sent, 700);
    let out = tmp.path().join("partial");
    let got = fetch_journal(&cfg, "n3", &out).unwrap();
    assert!(!got.seal_checked);
    assert_eq!(verify(&out).unwrap().records, 700);

    drop(w);
    let (mut w, _) = JournalWriter::open_append(&src, params()).unwrap();
    append_records(&mut w, 700, 300);
    w.finish().unwrap();
    let second = push_journal(&cfg, &src).unwrap();
    assert_eq!((second.skipped, second.sent), (700, 300));
    let out = tmp.path().join("complete");
    assert!(fetch_journal(&cfg, "n3", &out).unwrap().seal_checked);
    assert_same_segments(&out, &src);
}

/// A different journal pushed under a node whose stream holds another is refused, naming
/// the record whose link differs; nothing is published.
#[test]
fn a_different_journal_for_the_same_node_is_refused() {
    let Some(c) = cluster() else { return };
    let cfg = config(&c, "n4");
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let mut w = JournalWriter::create(&a, params()).unwrap();
    append_records(&mut w, 0, 100);
    w.finish().unwrap();
    push_journal(&cfg, &a).unwrap();
    let b = tmp.path().join("b");
    let mut w = JournalWriter::create(&b, params()).unwrap();
    append_records(&mut w, 1, 150);
    w.finish().unwrap();
    let e = push_journal(&cfg, &b).unwrap_err();
    assert!(matches!(e, bulkhead_cluster::ClusterError::Diverged { .. }), "{e}");
    assert!(e.to_string().contains("record 99: link"), "{e}");
    let short = tmp.path().join("short");
    let mut w = JournalWriter::create(&short, params()).unwrap();
    append_records(&mut w, 0, 50);
    w.finish().unwrap();
    let e = push_journal(&cfg, &short).unwrap_err();
    assert!(e.to_string().contains("the stream has record 99, the journal only 50 records"), "{e}");
    assert_eq!(stream_messages(&cfg), 1);
}
